//! The public basis `{I, R'}` of the MORE algebra and conversion between the standard 2x2
//! ciphertext form and algebra coordinates.
//!
//! All ciphertexts under one key lie in the commutative algebra `{x P + y Q}` (P, Q the key's
//! projectors). Any ciphertext `R` of that algebra with `R != c I` gives, without the key,
//! the traceless element `R' = R - tr(R)/2 I`; scaled so that `R'^2 = I`, every ciphertext is
//! `C = a I + b R'` with real coordinates `(a, b)`, and products follow
//! `(a, b)(c, d) = (ac + bd, ad + bc)`. Computing in these coordinates keeps every value
//! exactly inside the algebra (no drift), halves memory, and turns an encrypted matrix
//! product into three real GEMMs.
//!
//! # Security
//! `R'` can be computed by anyone from any single ciphertext (normalise its traceless part),
//! so publishing it gives nothing that ciphertexts alone do not. In these coordinates the
//! hidden pair is `{a + b, a - b} = {m, r}`, with one key-wide bit saying which is which:
//! exactly what attacks D (eigenvalues) and E (shared eigenvectors) already recover from
//! ciphertexts. MORE has no security level; see the project README.

use crate::{Error, Float, Result};
use serde::{Deserialize, Serialize};

/// The public normalised traceless element `R'` of one key's algebra (`R'^2 = I`).
///
/// ```
/// use moreml_cipher::PublicBasis;
/// // diag(1, -1) conjugated by anything is a valid basis element; here S = I.
/// let basis = PublicBasis::new([1.0, 0.0, 0.0, -1.0]).unwrap();
/// let (a, b, residual) = basis.to_coords([3.0, 0.0, 0.0, 5.0]); // Enc(3) with r = 5
/// assert_eq!((a, b), (4.0, -1.0));
/// assert_eq!(residual, 0.0);
/// assert_eq!(basis.from_coords(a, b), [3.0, 0.0, 0.0, 5.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicBasis {
    r: [f64; 4],
}

impl PublicBasis {
    /// Validates and wraps `R'` given row-major.
    pub fn new(r: [f64; 4]) -> Result<Self> {
        let norm2: f64 = r.iter().map(|v| v * v).sum();
        let trace = r[0] + r[3];
        // R'^2 for a traceless 2x2 matrix is (r00^2 + r01 r10) I.
        let sq = r[0] * r[0] + r[1] * r[2];
        let off = (r[0] * r[1] + r[1] * r[3]).abs() + (r[2] * r[0] + r[3] * r[2]).abs();
        let tol = 1e-9 * norm2.max(1.0);
        if !norm2.is_finite() || trace.abs() > tol || (sq - 1.0).abs() > tol || off > tol {
            return Err(Error::BadBasis(r));
        }
        Ok(Self { r })
    }

    /// `R'` row-major.
    pub fn matrix(&self) -> [f64; 4] {
        self.r
    }

    /// Coordinates `(a, b)` of a 2x2 matrix `c` (row-major) in `{I, R'}`, and the relative
    /// Frobenius norm of the part outside the algebra (0 for exact ciphertexts).
    pub fn to_coords(&self, c: [f64; 4]) -> (f64, f64, f64) {
        let r = &self.r;
        let a = 0.5 * (c[0] + c[3]);
        let rr: f64 = r.iter().map(|v| v * v).sum();
        let b = ((c[0] - a) * r[0] + c[1] * r[1] + c[2] * r[2] + (c[3] - a) * r[3]) / rr;
        let e = [c[0] - a - b * r[0], c[1] - b * r[1], c[2] - b * r[2], c[3] - a - b * r[3]];
        let err = e.iter().map(|v| v * v).sum::<f64>().sqrt();
        let scale = c.iter().map(|v| v * v).sum::<f64>().sqrt();
        // NaN/inf entries must give a NaN/inf residual (never 0), so callers reject them.
        let residual = if scale == 0.0 { 0.0 } else { err / scale };
        (a, b, residual)
    }

    /// The 2x2 matrix `a I + b R'`, row-major.
    pub fn from_coords(&self, a: f64, b: f64) -> [f64; 4] {
        let r = &self.r;
        [a + b * r[0], b * r[1], b * r[2], a + b * r[3]]
    }

    /// Largest out-of-algebra residual accepted when loading ciphertexts of scalar `T`.
    pub fn tolerance<T: Float>() -> f64 {
        1e4 * T::epsilon().f64()
    }
}

/// What a server knows about the key its ciphertexts are under: an identifier and the public
/// basis. Carried by every ciphertext file; contains nothing secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyTag {
    /// Fingerprint of the secret key (hex), used to refuse mixing keys.
    pub key_id: String,
    /// The public basis element of the key's algebra.
    pub basis: PublicBasis,
}

impl KeyTag {
    /// Errors with [`Error::KeyMismatch`] unless both tags name the same key.
    pub fn ensure_same(&self, other: &KeyTag, what: &str) -> Result<()> {
        if self.key_id != other.key_id {
            return Err(Error::KeyMismatch {
                what: what.to_string(),
                expected: self.key_id.clone(),
                found: other.key_id.clone(),
            });
        }
        Ok(())
    }
}
