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
    /// A non-finite value appeared in training (seen without the key: a ciphertext is
    /// finite exactly when its coordinates are).
    #[error(
        "training diverged: non-finite values in {place} at epoch {epoch}, step {step}; no model was written. Lower the learning rate (--lr)"
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// Where: `layer 2 (act) output`, `layer0.weight`, `loss gradient`.
        place: String,
    },
    /// A non-finite activation found by a training forward pass (the learner turns it into
    /// [`Error::Diverged`] with the epoch and step).
    #[error("non-finite values in {0}")]
    NonFinite(String),
    /// Another rank of a distributed job failed (its message); every rank stops.
    #[error("rank {rank} of the distributed job failed: {message}")]
    Rank {
        /// The rank that failed first (lowest number).
        rank: usize,
        /// Its error, as text.
        message: String,
        /// Whether its error was [`Error::Diverged`]: every rank of the job then treats the
        /// step as diverged ([`Error::is_divergence`]), as a single process would.
        diverged: bool,
    },
    /// A checkpoint that cannot be read: missing, truncated, damaged, of another format, or
    /// holding non-finite values.
    #[error("checkpoint {}: {detail}; resume from an intact checkpoint or start again without --resume", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A checkpoint written by another run (other data, architecture or hyper-parameters):
    /// resuming from it would not continue that run.
    #[error(
        "cannot resume from {}: it was written by a different run ({}); resume with the data and flags of that run, or start again without --resume",
        path.display(), differences.join("; ")
    )]
    ResumeMismatch {
        /// The checkpoint file.
        path: std::path::PathBuf,
        /// Each difference, `what: checkpoint X, this run Y`.
        differences: Vec<String>,
    },
    /// A collective operation failed or was misused (e.g. an unsupported scalar type).
    #[error("collective operation failed: {0}")]
    Collective(String),
    /// Methods called in the wrong order (a bug in the caller).
    #[error("internal: {0}")]
    State(&'static str),
}

impl Error {
    /// Whether training stopped on a non-finite value, on this rank or on another rank of the
    /// job: the run diverged (as opposed to failing for another reason).
    pub fn is_divergence(&self) -> bool {
        matches!(self, Error::Diverged { .. } | Error::Rank { diverged: true, .. })
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
