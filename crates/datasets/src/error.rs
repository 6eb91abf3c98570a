//! The one error type of this crate.

use std::path::PathBuf;

/// What to tell a user who lacks the MNIST files.
pub(crate) const GET_DATA_HINT: &str = "run `moreml fetch mnist --dir DIR` to download it, \
     or set MOREML_MNIST_DIR (or pass --data-dir) to a directory holding the four MNIST files";

/// Everything that can go wrong while reading, verifying or fetching a data set.
///
/// Every variant names the file (or URL) involved, and its message says what to do,
/// so the CLI can print it as is.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A directory or file that was looked for does not exist.
    #[error("{}: not found; {hint}", path.display())]
    NotFound {
        /// The path that was looked for (for a file: its `.gz` name).
        path: PathBuf,
        /// How to get it.
        hint: String,
    },

    /// No data directory was given by flag or environment.
    #[error("no MNIST data directory given; {hint}")]
    NoDataDir {
        /// How to give one.
        hint: String,
    },

    /// An I/O error while reading or writing `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The file starts with the gzip magic but does not decompress.
    #[error("{}: corrupt gzip data ({source}); re-download it with `moreml fetch mnist --dir DIR`", path.display())]
    Decompress {
        /// The file being decompressed.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },

    /// The IDX header's magic number is not what was expected.
    #[error("{}: bad IDX magic number 0x{found:08x}, expected {expected}; is this the right file?", path.display())]
    BadMagic {
        /// The file being parsed.
        path: PathBuf,
        /// The first four bytes, big-endian (0 if the file is shorter).
        found: u32,
        /// A description of what was expected.
        expected: String,
    },

    /// The file holds fewer bytes than its header declares.
    #[error("{}: truncated: expected {expected} bytes (header + data), found {actual}; re-download it with `moreml fetch mnist --dir DIR`", path.display())]
    Truncated {
        /// The file being parsed (decompressed content, if gzip).
        path: PathBuf,
        /// Bytes implied by the header.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },

    /// The file holds more bytes than its header declares.
    #[error("{}: {} bytes of trailing data after the declared {expected} bytes; the file is damaged or not IDX", path.display(), actual - expected)]
    TrailingData {
        /// The file being parsed.
        path: PathBuf,
        /// Bytes implied by the header.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },

    /// Images are not of the size the data set requires (28x28 for MNIST).
    #[error("{}: images are {rows}x{cols}, expected {expected_rows}x{expected_cols}", path.display())]
    BadImageSize {
        /// The images file.
        path: PathBuf,
        /// Rows found.
        rows: usize,
        /// Columns found.
        cols: usize,
        /// Rows required.
        expected_rows: usize,
        /// Columns required.
        expected_cols: usize,
    },

    /// A label is out of range (MNIST labels are 0..=9).
    #[error("{}: label {value} at index {index} is out of range 0..{classes}", path.display())]
    BadLabel {
        /// The labels file.
        path: PathBuf,
        /// Position of the first bad label.
        index: usize,
        /// Its value.
        value: u8,
        /// Number of classes.
        classes: usize,
    },

    /// An images file and its labels file disagree on the number of items.
    #[error("{} holds {images} images but {} holds {labels} labels; the files do not belong together", images_path.display(), labels_path.display())]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// The labels file.
        labels_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// The file's MD5 is not the canonical one.
    #[error("{}: MD5 mismatch: expected {expected}, got {actual}; re-download it with `moreml fetch mnist --dir DIR` (or skip verification for custom IDX data)", path.display())]
    ChecksumMismatch {
        /// The file checked.
        path: PathBuf,
        /// The canonical MD5 (hex).
        expected: String,
        /// The MD5 found (hex).
        actual: String,
    },

    /// No mirror could deliver a file.
    #[error("could not reach any MNIST mirror for {file}: {}; copy the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into {} by hand", attempts.join("; "), dir.display())]
    Download {
        /// The file name that was wanted.
        file: String,
        /// The target directory.
        dir: PathBuf,
        /// One `url: error` entry per mirror tried.
        attempts: Vec<String>,
    },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetError::Io { path: path.into(), source }
    }
}
