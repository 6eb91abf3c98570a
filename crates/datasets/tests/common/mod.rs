//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use moreml_datasets::{
    idx::encode_idx, MnistFile, MNIST_DIR_ENV, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
};

/// The real MNIST directory from `$MOREML_MNIST_DIR`, if set. A relative value is taken
/// relative to the current directory, else to the workspace root (CI sets it relative to
/// the repo, while `cargo test` runs in the crate's directory).
pub fn real_mnist_dir() -> Option<PathBuf> {
    let v = std::env::var_os(MNIST_DIR_ENV).filter(|v| !v.is_empty())?;
    let p = PathBuf::from(v);
    if p.is_absolute() || p.is_dir() {
        return Some(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Some(root.join(p))
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Deterministic pixels and labels of `n` items of `rows x cols`.
pub fn synth(n: usize, rows: usize, cols: usize, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let px = (0..n * rows * cols).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    let labels = (0..n).map(|i| ((i + seed as usize) % 10) as u8).collect();
    (px, labels)
}

/// Writes `bytes` as `file` in `dir`, gzip-compressed under `NAME.gz` or raw under `NAME`.
pub fn write(dir: &Path, file: &MnistFile, bytes: &[u8], gz: bool) -> PathBuf {
    let (path, data) = if gz { (dir.join(file.gz_name()), gzip(bytes)) } else { (dir.join(file.name), bytes.to_vec()) };
    std::fs::write(&path, data).unwrap();
    path
}

/// Writes a small, valid MNIST-layout set (28x28) and returns the expected arrays
/// `(train_images, train_labels, test_images, test_labels)`.
pub fn write_set(dir: &Path, n_train: usize, n_test: usize, gz: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (tri, trl) = synth(n_train, 28, 28, 1);
    let (tei, tel) = synth(n_test, 28, 28, 2);
    write(dir, &TRAIN_IMAGES, &encode_idx(&[n_train, 28, 28], &tri).unwrap(), gz);
    write(dir, &TRAIN_LABELS, &encode_idx(&[n_train], &trl).unwrap(), gz);
    write(dir, &TEST_IMAGES, &encode_idx(&[n_test, 28, 28], &tei).unwrap(), gz);
    write(dir, &TEST_LABELS, &encode_idx(&[n_test], &tel).unwrap(), gz);
    (tri, trl, tei, tel)
}
