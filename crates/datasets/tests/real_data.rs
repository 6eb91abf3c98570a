//! The real MNIST files, when `$MOREML_MNIST_DIR` points at them (CI does).

mod common;

use moreml_datasets::*;

#[test]
fn real_mnist_loads_and_verifies() {
    let Some(dir) = common::real_mnist_dir() else {
        eprintln!("skipping real_mnist_loads_and_verifies: {MNIST_DIR_ENV} not set");
        return;
    };
    for f in &MNIST_FILES {
        let p = locate_mnist_file(&dir, f).unwrap();
        verify_mnist_file(f, &p).unwrap_or_else(|e| panic!("{e}"));
    }
    let t = std::time::Instant::now();
    let m = Mnist::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("loaded MNIST with MD5 checks in {:?}", t.elapsed());
    assert_eq!((m.n_train(), m.n_test(), m.rows, m.cols), (60_000, 10_000, 28, 28));
    assert_eq!((m.train_images.len(), m.test_images.len()), (60_000 * 784, 10_000 * 784));

    let hist = |labels: &[u8]| {
        let mut h = [0usize; 10];
        labels.iter().for_each(|&l| h[l as usize] += 1);
        h
    };
    let (tr, te) = (hist(&m.train_labels), hist(&m.test_labels));
    assert_eq!(tr.iter().sum::<usize>(), 60_000);
    assert_eq!(te.iter().sum::<usize>(), 10_000);
    assert_eq!(tr, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(te, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    assert_eq!(&m.train_labels[..5], [5, 0, 4, 1, 9]);
    assert_eq!(&m.test_labels[..5], [7, 2, 1, 0, 4]);
    assert_eq!(*m.train_images.iter().max().unwrap(), 255);
}
