//! The attacked data set: MNIST test images, or the built-in synthetic digits without MNIST.

use super::SecurityReportArgs;
use anyhow::{Context, Result};
use rand::Rng;

/// The attacked data: images in [0, 1], shape [n, h, w], and public samples for priors.
pub(super) struct DataSet {
    pub name: String,
    pub synthetic: bool,
    pub images: Vec<f64>,
    pub labels: Vec<u8>,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    /// Pixels of other images of the same kind (MNIST training set): the attacker's public prior.
    pub public: Vec<f64>,
}

/// The first `--images` MNIST test images (training images as public samples), or synthetic
/// digits when no MNIST directory is found.
pub(super) fn load_data(a: &SecurityReportArgs, rng: &mut impl Rng) -> Result<DataSet> {
    let n = a.images.max(2);
    match moreml_datasets::resolve_mnist_dir(a.data_dir.as_deref()) {
        Ok(dir) => {
            let m = moreml_datasets::Mnist::load(&dir)
                .with_context(|| format!("cannot load MNIST from {}", dir.display()))?;
            let m = m.subset(10_000, n);
            Ok(DataSet {
                name: format!("MNIST test images (first {}), from {}", m.n_test(), dir.display()),
                synthetic: false,
                n: m.n_test(),
                h: m.rows,
                w: m.cols,
                labels: m.test_labels.clone(),
                images: m.test_images_normalized::<f64>(),
                public: m.train_images_normalized::<f64>(),
            })
        }
        Err(_) => {
            // The project's built-in synthetic digits: 500 "public" samples for the priors,
            // `n` to attack.
            let m = moreml_datasets::Mnist::synthetic(500, n, rng.random());
            Ok(DataSet {
                name: format!("SYNTHETIC seven-segment digits ({n} of 28x28 on the 1/255 grid): MNIST not found (pass --data-dir or set MOREML_MNIST_DIR)"),
                synthetic: true,
                images: m.test_images_normalized::<f64>(),
                labels: m.test_labels.clone(),
                n,
                h: m.rows,
                w: m.cols,
                public: m.train_images_normalized::<f64>(),
            })
        }
    }
}
