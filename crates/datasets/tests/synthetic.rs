//! Loading small synthesized MNIST-layout sets: round trips and every error path.

mod common;

use common::*;
use moreml_datasets::idx::encode_idx;
use moreml_datasets::*;

const NO_MD5: LoadOptions = LoadOptions { verify_md5: false };

#[test]
fn round_trip_gz_and_raw() {
    for gz in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let (tri, trl, tei, tel) = write_set(dir.path(), 5, 3, gz);
        let m = Mnist::load_with(dir.path(), &NO_MD5).unwrap();
        assert_eq!((m.rows, m.cols, m.n_train(), m.n_test(), m.image_len()), (28, 28, 5, 3, 784));
        assert_eq!((m.train_images, m.train_labels, m.test_images, m.test_labels), (tri, trl, tei, tel));
    }
}

#[test]
fn gzip_detected_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let (tri, ..) = write_set(dir.path(), 4, 2, true);
    // Raw content under the .gz name, and gzip content under the raw name.
    std::fs::write(dir.path().join(TRAIN_IMAGES.gz_name()), encode_idx(&[4, 28, 28], &tri).unwrap()).unwrap();
    let labels_gz = dir.path().join(TEST_LABELS.gz_name());
    std::fs::rename(&labels_gz, dir.path().join(TEST_LABELS.name)).unwrap();
    let m = Mnist::load_with(dir.path(), &NO_MD5).unwrap();
    assert_eq!(m.train_images, tri);
    assert_eq!(m.test_labels, [2, 3]);
}

#[test]
fn truncated_file_names_path_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2, true);
    let mut bytes = encode_idx(&[4, 28, 28], &[0; 4 * 784]).unwrap();
    bytes.truncate(bytes.len() - 100);
    let path = write(dir.path(), &TRAIN_IMAGES, &bytes, true);
    let e = Mnist::load_with(dir.path(), &NO_MD5).unwrap_err();
    assert!(matches!(e, DatasetError::Truncated { expected: 3152, actual: 3052, .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("3152") && msg.contains("3052"), "{msg}");
}

#[test]
fn truncated_gzip_stream_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2, true);
    let gz = gzip(&encode_idx(&[4, 28, 28], &[9; 4 * 784]).unwrap());
    std::fs::write(dir.path().join(TRAIN_IMAGES.gz_name()), &gz[..gz.len() / 2]).unwrap();
    let e = Mnist::load_with(dir.path(), &NO_MD5).unwrap_err();
    assert!(matches!(e, DatasetError::Decompress { .. } | DatasetError::Truncated { .. }), "{e}");
}

#[test]
fn trailing_garbage() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2, false);
    let mut bytes = encode_idx(&[2], &[1, 2]).unwrap();
    bytes.extend_from_slice(b"junk");
    write(dir.path(), &TEST_LABELS, &bytes, false);
    let e = Mnist::load_with(dir.path(), &NO_MD5).unwrap_err();
    assert!(matches!(e, DatasetError::TrailingData { expected: 10, actual: 14, .. }), "{e}");
}

#[test]
fn wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2, true);
    // Not IDX at all.
    write(dir.path(), &TRAIN_LABELS, b"PK\x03\x04 this is a zip", true);
    let e = Mnist::load_with(dir.path(), &NO_MD5).unwrap_err();
    assert!(matches!(e, DatasetError::BadMagic { found: 0x504b0304, .. }), "{e}");
    // IDX, but images where labels belong (idx3 instead of idx1).
    write(dir.path(), &TRAIN_LABELS, &encode_idx(&[4, 28, 28], &[0; 4 * 784]).unwrap(), true);
    let e = Mnist::load_with(dir.path(), &NO_MD5).unwrap_err();
    assert!(matches!(e, DatasetError::BadMagic { found: 0x0803, .. }), "{e}");
    assert!(e.to_string().contains("train-labels-idx1-ubyte.gz"), "{e}");
}

#[test]
fn count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2, true);
    write(dir.path(), &TEST_LABELS, &encode_idx(&[3], &[1, 2, 3]).unwrap(), true);
    let e = Mnist::load_with(dir.path(), &NO_MD5).unwrap_err();
    assert!(matches!(e, DatasetError::CountMismatch { images: 2, labels: 3, .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("t10k-images") && msg.contains("t10k-labels"), "{msg}");
}

#[test]
fn wrong_image_size() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2, true);
    write(dir.path(), &TRAIN_IMAGES, &encode_idx(&[4, 14, 14], &[0; 4 * 196]).unwrap(), true);
    let e = Mnist::load_with(dir.path(), &NO_MD5).unwrap_err();
    assert!(matches!(e, DatasetError::BadImageSize { rows: 14, cols: 14, .. }), "{e}");
    // The general IDX reader accepts any dims.
    let a = read_idx(&dir.path().join(TRAIN_IMAGES.gz_name())).unwrap();
    assert_eq!(a.dims, [4, 14, 14]);
}

#[test]
fn label_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2, true);
    write(dir.path(), &TRAIN_LABELS, &encode_idx(&[4], &[1, 2, 10, 3]).unwrap(), true);
    let e = Mnist::load_with(dir.path(), &NO_MD5).unwrap_err();
    assert!(matches!(e, DatasetError::BadLabel { index: 2, value: 10, .. }), "{e}");
}

#[test]
fn missing_dir_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let e = Mnist::load(&missing).unwrap_err();
    assert!(matches!(&e, DatasetError::NotFound { path, .. } if *path == missing), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("moreml fetch mnist --dir") && msg.contains(MNIST_DIR_ENV), "{msg}");

    write_set(dir.path(), 4, 2, true);
    std::fs::remove_file(dir.path().join(TEST_IMAGES.gz_name())).unwrap();
    let e = Mnist::load(dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DatasetError::NotFound { .. }), "{e}");
    assert!(msg.contains("t10k-images-idx3-ubyte.gz") && msg.contains("moreml fetch mnist"), "{msg}");
}

#[test]
fn checksum_mismatch_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2, true);
    let e = Mnist::load(dir.path()).unwrap_err();
    assert!(
        matches!(&e, DatasetError::ChecksumMismatch { expected, .. } if expected.contains(TRAIN_IMAGES.raw_md5) || expected.contains(TEST_IMAGES.raw_md5)),
        "{e}"
    );
    assert!(e.to_string().contains("moreml fetch mnist --dir"), "{e}");
    let p = dir.path().join(TRAIN_LABELS.gz_name());
    assert!(matches!(verify_mnist_file(&TRAIN_LABELS, &p), Err(DatasetError::ChecksumMismatch { .. })));
    assert!(Mnist::load_with(dir.path(), &NO_MD5).is_ok());
}

#[test]
fn helpers_subset_normalize_one_hot() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 5, 3, true);
    let m = Mnist::load_with(dir.path(), &NO_MD5).unwrap();
    let s = m.subset(2, 100); // clamped to 3 test items
    assert_eq!((s.n_train(), s.n_test()), (2, 3));
    assert_eq!(s.train_images, m.train_images[..2 * 784]);
    assert_eq!(s.train_labels, m.train_labels[..2]);

    let x32: Vec<f32> = s.train_images_normalized();
    let x64: Vec<f64> = s.test_images_normalized();
    assert_eq!((x32.len(), x64.len()), (2 * 784, 3 * 784));
    assert!(x32.iter().chain([0.0f32, 1.0].iter()).all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(normalize_pixels::<f64>(&[0, 51, 255]), [0.0, 0.2, 1.0]);
    assert_eq!(x64[5], f64::from(s.test_images[5]) / 255.0);

    let y: Vec<f32> = s.train_one_hot();
    assert_eq!(y.len(), 20);
    for (row, &l) in y.chunks(10).zip(&s.train_labels) {
        assert_eq!(row.iter().sum::<f32>(), 1.0);
        assert_eq!(row[l as usize], 1.0);
    }
    assert_eq!(s.test_one_hot::<f64>().len(), 30);
    assert_eq!(one_hot::<f32>(&[1, 7], 3), [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn resolve_dir_flag_then_env() {
    // The only test in this binary that touches the environment.
    let flag = std::path::Path::new("/some/dir");
    assert_eq!(resolve_mnist_dir(Some(flag)).unwrap(), flag);
    std::env::set_var(MNIST_DIR_ENV, "/from/env");
    assert_eq!(resolve_mnist_dir(None).unwrap(), std::path::Path::new("/from/env"));
    assert_eq!(resolve_mnist_dir(Some(flag)).unwrap(), flag);
    std::env::remove_var(MNIST_DIR_ENV);
    let e = resolve_mnist_dir(None).unwrap_err();
    assert!(matches!(e, DatasetError::NoDataDir { .. }));
    assert!(e.to_string().contains("--data-dir") && e.to_string().contains(MNIST_DIR_ENV), "{e}");
}
