//! The one error type of the server-side crate.

use std::path::PathBuf;

/// Errors from tensors, ciphertext conversion and file formats.
///
/// File errors carry the path and say what to do next.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // field names say it all
pub enum Error {
    // ---- shapes and values -------------------------------------------------------------
    /// Two operands (or an operand and a file) disagree on shape.
    #[error("{op}: shape mismatch: {lhs:?} vs {rhs:?}")]
    ShapeMismatch { op: &'static str, lhs: Vec<usize>, rhs: Vec<usize> },
    /// A tensor was built from a buffer of the wrong length.
    #[error("{op}: shape {shape:?} needs {expected} values, got {got}")]
    BadLength { op: &'static str, shape: Vec<usize>, expected: usize, got: usize },
    /// A NaN or infinite value where only finite values make sense; `hint` says what to do
    /// in the caller's situation (input data, decrypted results, training).
    #[error("{what}: non-finite value ({value}) at flat index {index}; {hint}")]
    NonFinite { what: String, index: usize, value: f64, hint: &'static str },
    /// A 2x2 value is not in the MORE algebra spanned by I and the public basis element.
    #[error("{what}: ciphertext at flat index {index} is not in the algebra of this key (relative residual {residual:.3e} > {tolerance:.1e}); the file is corrupted or was not made with key {key_id}")]
    OutOfAlgebra { what: String, key_id: String, index: usize, residual: f64, tolerance: f64 },
    /// The public basis in a header is not a normalised traceless 2x2 matrix.
    #[error("invalid public basis {0:?}: it must be traceless with R^2 = I")]
    BadBasis([f64; 4]),

    // ---- files ---------------------------------------------------------------------------
    /// Reading or writing a file failed at the OS level.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A directory was given where a file was expected.
    #[error("{path} is a directory, not a file; pass the path of a file")]
    IsDirectory { path: PathBuf },
    /// The output path names the same file as an input: writing would destroy the input.
    #[error("output {output} is the same file as the input {input}; choose another output path")]
    SameFile { output: PathBuf, input: PathBuf },
    /// The output path holds a secret key: writing would destroy the key.
    #[error("output {path} is a secret key file; refusing to overwrite it, choose another output path")]
    OutputIsKey { path: PathBuf },
    /// The file's header and data section disagree (offsets past the end, sizes that do not
    /// match shapes, absurd shapes, duplicate names, or metadata contradicting the tensors).
    #[error("{path}: damaged tensor file ({detail}); re-create or re-copy it")]
    Damaged { path: PathBuf, detail: String },
    /// A free-form header entry moreml interprets (e.g. `moreml.roles`) is malformed.
    #[error("header entry '{entry}' is not valid ({detail}); it must be {expected}")]
    BadMetadata { entry: &'static str, detail: String, expected: &'static str },
    /// The file ends early (or declares more data than it holds).
    #[error("{path}: truncated or damaged safetensors file ({detail}); re-create or re-copy it")]
    Truncated { path: PathBuf, detail: String },
    /// The bytes are not a safetensors file, or not one moreml understands.
    #[error("{path}: not a moreml tensor file ({detail})")]
    NotAMoremlFile { path: PathBuf, detail: String },
    /// A plaintext file was given where ciphertexts were expected, or the reverse.
    #[error("{path}: expected a {expected} file but it holds {found}; {hint}")]
    WrongKind { path: PathBuf, expected: &'static str, found: String, hint: &'static str },
    /// The file format version is newer than this build understands.
    #[error("{path}: format version {found} is not supported (this build reads version {supported}); upgrade moreml")]
    UnsupportedVersion { path: PathBuf, found: String, supported: &'static str },
    /// Ciphertexts made under different keys were combined.
    #[error("{what}: ciphertexts are under key {found} but key {expected} was expected; data and models only work together under one key")]
    KeyMismatch { what: String, expected: String, found: String },
    /// Tensor dtype differs from what the caller asked for.
    #[error("{path}: tensor '{name}' has dtype {found}, expected {expected}")]
    WrongDtype { path: PathBuf, name: String, found: String, expected: &'static str },
    /// A tensor read record by record has no record axis.
    #[error("{path}: tensor '{name}' has shape {shape:?}; records need a first axis [n, ...]")]
    NotRecords { path: PathBuf, name: String, shape: Vec<usize> },
    /// A record index past the end of a tensor.
    #[error("{what}: record {index} does not exist (the tensor has {rows} records)")]
    RecordOutOfRange { what: String, index: usize, rows: usize },
    /// A named tensor is missing from a file.
    #[error("{path}: no tensor named '{name}' (the file has: {available})")]
    MissingTensor { path: PathBuf, name: String, available: String },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
