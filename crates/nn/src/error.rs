//! Errors of model building, training and persistence.

/// Errors from the `nn` crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor, shape or file error from the tensor layer.
    #[error(transparent)]
    Tensor(#[from] moreml_cipher::Error),
    /// An architecture that cannot be built, or parameters that do not fit it.
    #[error("invalid model: {0}")]
    Config(String),
    /// Input data that does not fit the model.
    #[error("{0}")]
    Data(String),
    /// Methods called in the wrong order (a bug in the caller).
    #[error("internal: {0}")]
    State(&'static str),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
