//! The one error type of this crate.

/// Everything that can go wrong when an attack is run on user-supplied data.
///
/// No function of this crate panics on user data; each returns one of these variants.
///
/// ```
/// use moreml_cryptanalysis::{linear_relation, AttackError};
/// let err = linear_relation(&[1.0f64, 2.0, 3.0]).unwrap_err();
/// assert!(matches!(err, AttackError::BadLength { len: 3, .. }));
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum AttackError {
    // --- shape problems ---
    /// A ciphertext slice whose length is not a multiple of 4.
    #[error(
        "{op}: ciphertext slice has {len} values, not a multiple of 4 (each 2x2 ciphertext is 4 reals, row-major)"
    )]
    BadLength {
        /// Attack or helper that rejected the input.
        op: &'static str,
        /// Length of the slice given.
        len: usize,
    },
    /// No ciphertexts were given.
    #[error("{op}: no ciphertexts given")]
    Empty {
        /// Attack or helper that rejected the input.
        op: &'static str,
    },
    /// An image shape that does not tile the stream.
    #[error("{op}: image shape {height}x{width} does not divide the {len} values of the stream")]
    ShapeMismatch {
        /// Attack or helper that rejected the input.
        op: &'static str,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
        /// Number of values.
        len: usize,
    },
    /// Known plaintexts and known ciphertexts of different counts.
    #[error(
        "{op}: {plaintexts} known plaintexts but {ciphertexts} known ciphertexts; give one plaintext per ciphertext"
    )]
    PairCountMismatch {
        /// Attack that rejected the input.
        op: &'static str,
        /// Number of plaintexts.
        plaintexts: usize,
        /// Number of ciphertexts.
        ciphertexts: usize,
    },
    // --- bad values ---
    /// A NaN or infinite value in an input.
    #[error("{op}: non-finite value in {what} {index}; remove or repair it first")]
    NonFinite {
        /// Attack or helper that rejected the input.
        op: &'static str,
        /// Which input ("ciphertext", "known plaintext", "parameter").
        what: &'static str,
        /// Index of the offending item.
        index: usize,
    },
    /// A parameter out of its domain (negative noise, empty histogram, ...).
    #[error("{op}: invalid parameter: {reason}")]
    InvalidParameter {
        /// Attack or helper that rejected the input.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    // --- attack-specific ---
    /// Too few (or linearly dependent) known pairs for the known-plaintext attack.
    #[error("{op}: need known pairs spanning {needed} dimensions of the ciphertext algebra, got rank {rank} from {pairs} pairs (identity used: {identity}); add a pair whose ciphertext is not a multiple of the identity")]
    NotEnoughPairs {
        /// Attack that rejected the input.
        op: &'static str,
        /// Rank needed (2 for 2x2 MORE).
        needed: usize,
        /// Numerical rank of the pairs given.
        rank: usize,
        /// Number of pairs given (without the free identity).
        pairs: usize,
        /// Whether the free pair (1, I) was included.
        identity: bool,
    },
    /// The reference ciphertext cannot serve (its two hidden values coincide, so it is a multiple of I).
    #[error("{op}: degenerate reference ciphertext {index}: {reason}")]
    DegenerateReference {
        /// Attack that rejected the input.
        op: &'static str,
        /// Index of the reference (usize::MAX for an external reference).
        index: usize,
        /// Why it is degenerate.
        reason: String,
    },
    /// An attack was run without an input it cannot do without.
    #[error("{op}: needs {what}, but none were given; supply them or choose a ciphertext-only attack")]
    MissingInput {
        /// Attack that rejected the call.
        op: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// A plaintext grid finer than the ciphertexts' noise: the grid test would pick at random.
    #[error(
        "eigen-priors: the ciphertexts' noise ({noise:.2e}) is larger than half the grid step {step}; use no grid"
    )]
    NoiseAboveGrid {
        /// Grid step asked for.
        step: f64,
        /// Noise level measured on the ciphertexts.
        noise: f64,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, AttackError>;
