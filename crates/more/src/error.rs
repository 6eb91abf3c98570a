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
