//! # moreml-experiments: the pipeline every paper experiment shares
//!
//! source -> owner normalises and encrypts (inputs with per-feature `r`, targets with
//! record-level `r`) -> server trains plaintext and encrypted models in lockstep
//! ([`paired::run_paired`], two [`moreml_nn::Learner`]s, same seed and batch order) -> owner
//! decrypts test outputs -> task metrics ([`metrics`]) -> `report.json` and figures
//! ([`report::write_report`]).
//!
//! An experiment supplies a [`data::Dataset`] (plaintext splits and a [`data::Task`]) and an
//! [`paired::ExperimentConfig`] (model config, hyper-parameters, key parameters). MNIST, the
//! whole-body-circulation surrogate and the angiography view classifier are its users.
//!
//! One process plays both roles so that the two runs share an engine and can be timed side
//! by side; the encrypted learner only ever holds ciphertexts.

#![warn(missing_docs)]

pub mod data;
pub mod metrics;
pub mod owner;
pub mod paired;
pub mod report;

pub use data::{Dataset, Split, Standardizer, Task};
pub use paired::{run_paired, run_paired_on, ExperimentConfig, Outcome};

use std::path::PathBuf;

/// Errors of an experiment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the tensor layer.
    #[error(transparent)]
    Tensor(#[from] moreml_cipher::Error),
    /// From the key (encryption, decryption).
    #[error(transparent)]
    Key(#[from] moreml_more::Error),
    /// From model building or training.
    #[error(transparent)]
    Nn(#[from] moreml_nn::Error),
    /// From a figure.
    #[error(transparent)]
    Figure(#[from] moreml_report::ReportError),
    /// Data that cannot be used.
    #[error("{0}")]
    Data(String),
    /// A configuration that cannot run.
    #[error("{0}")]
    Config(String),
    /// A file or directory that cannot be written.
    #[error("{0}")]
    Io(String),
    /// A run stopped on a non-finite value; the report says so.
    #[error("the {run} run diverged ({message}); report written to {}", report.display())]
    Diverged {
        /// `plain` or `encrypted`.
        run: &'static str,
        /// The learner's message.
        message: String,
        /// Where the report is.
        report: PathBuf,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
