//! MNIST for moreml: IDX parsing, MD5-verified loading, and fetching from the mirrors.
//!
//! The CLI (`moreml mnist --data-dir DIR`, `moreml fetch mnist --dir DIR`) is a thin
//! layer over [`resolve_mnist_dir`], [`Mnist::load`] and [`fetch_mnist`]. Files may be
//! gzip-compressed (`NAME.gz`, as the mirrors serve them) or raw (`NAME`); the content
//! decides, not the name. Every error ([`DatasetError`]) names the file and what to do.
//!
//! ```no_run
//! use moreml_datasets::{resolve_mnist_dir, Mnist};
//!
//! // `--data-dir` flag if given, else $MOREML_MNIST_DIR.
//! let dir = resolve_mnist_dir(None)?;
//! let mnist = Mnist::load(&dir)?; // verifies the canonical MD5s
//! assert_eq!((mnist.n_train(), mnist.n_test()), (60_000, 10_000));
//! let small = mnist.subset(1000, 100);
//! let x: Vec<f32> = small.train_images_normalized(); // 1000 * 784 values in [0, 1]
//! let y: Vec<f32> = small.train_one_hot(); // 1000 * 10
//! # let _ = (x, y);
//! # Ok::<(), moreml_datasets::DatasetError>(())
//! ```
//!
//! Custom data in the MNIST layout loads without checksum checks:
//!
//! ```
//! use moreml_datasets::{idx, LoadOptions, Mnist, MNIST_FILES};
//!
//! let dir = tempfile::tempdir()?;
//! for (i, f) in MNIST_FILES.iter().enumerate() {
//!     let bytes = if i % 2 == 0 {
//!         idx::encode_idx(&[2, 28, 28], &[128; 2 * 784]) // images
//!     } else {
//!         idx::encode_idx(&[2], &[3, 7]) // labels
//!     };
//!     std::fs::write(dir.path().join(f.name), bytes.unwrap())?;
//! }
//! let m = Mnist::load_with(dir.path(), &LoadOptions { verify_md5: false })?;
//! assert_eq!(m.train_labels, [3, 7]);
//! assert_eq!(m.test_one_hot::<f64>()[3], 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod error;
#[cfg(feature = "fetch")]
mod fetch;
pub mod idx;
pub mod images;
mod mnist;
pub mod table;

pub use error::DatasetError;
#[cfg(feature = "fetch")]
pub use fetch::{fetch_mnist, fetch_mnist_from, MNIST_MIRRORS};
pub use idx::{read_idx, IdxArray};
pub use mnist::{
    locate_mnist_file, md5_hex, normalize_pixels, one_hot, resolve_mnist_dir, verify_mnist_file, LoadOptions, Mnist,
    MnistFile, MNIST_CLASSES, MNIST_COLS, MNIST_DIR_ENV, MNIST_FILES, MNIST_ROWS, TEST_IMAGES, TEST_LABELS,
    TRAIN_IMAGES, TRAIN_LABELS,
};
pub use table::{parse_csv_table, read_csv_table, Table, TableError};
