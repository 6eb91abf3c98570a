//! Errors of owner-side operations.

use std::path::PathBuf;

/// Errors from key handling, encryption and decryption.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor or file error from the shared layer.
    #[error(transparent)]
    Cipher(#[from] moreml_cipher::Error),
    /// The ciphertexts were made under another key.
    #[error("wrong key: the data was encrypted under key {found}, but this key is {expected}; use the key file with id {found}")]
    WrongKey {
        /// Id of the key in hand.
        expected: String,
        /// Id named by the ciphertexts.
        found: String,
    },
    /// Decryption residual too large: damaged ciphertexts or ciphertexts of another key.
    #[error("integrity check failed: relative residual {residual:.3e} exceeds {tolerance:.1e}; the ciphertexts are damaged or not encrypted under this key")]
    Integrity {
        /// Largest relative off-diagonal residual found.
        residual: f64,
        /// Accepted maximum.
        tolerance: f64,
    },
    /// The file names this key but carries another public basis.
    #[error("the file's public basis does not match key {key_id} although its key id does; the file header was edited or damaged")]
    BasisMismatch {
        /// The key's id.
        key_id: String,
    },
    /// A decrypted value does not fit in the file's scalar type.
    #[error("the value at flat index {index} decrypts to a number too large for {dtype}; the ciphertexts are damaged")]
    Overflow {
        /// Flat index of the first such value.
        index: usize,
        /// Scalar type of the file.
        dtype: &'static str,
    },
    /// The key file can be read by other users.
    #[error("{path}: key file is readable by other users (mode {mode:04o}); restrict it with `chmod 600 {path}`")]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Invalid key parameters.
    #[error("invalid key parameters: {0}")]
    BadParams(String),
    /// A key file that cannot be used.
    #[error("{path}: not a usable moreml key file ({detail})")]
    BadKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An error about one named tensor.
    #[error("tensor '{name}': {source}")]
    InTensor {
        /// Tensor name.
        name: String,
        /// The underlying error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps the error with the tensor it happened in.
    pub fn context(self, name: &str) -> Self {
        Error::InTensor { name: name.to_string(), source: Box::new(self) }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
