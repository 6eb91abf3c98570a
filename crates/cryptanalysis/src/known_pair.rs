//! Attack B: one known (plaintext, ciphertext) pair gives the decryption projector.

use crate::error::{AttackError, Result};
use crate::mat2::{bilinear, check_finite, frob, left_null, parse, right_null, Ct, CtScalar};
use crate::outcome::{Attack, AttackOutcome};

const OP: &str = "known-pair";

/// The decryption map recovered from one known pair: `m(C) = (u^T C v) / (u^T v)`, with
/// `v` spanning ker(C1 - m1 I) (the key's first column, up to scale) and `u` spanning
/// ker((C1 - m1 I)^T) (the first row of S^-1, up to scale).
///
/// ```
/// use moreml_cryptanalysis::ProjectorDecryptor;
/// let d = ProjectorDecryptor::from_pair(0.25, &[-0.25, 1.0, -0.5, 1.25]).unwrap();
/// assert!((d.decrypt(&[0.9, -0.8, 0.4, -0.3]).unwrap()[0] - 0.5).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProjectorDecryptor {
    /// Left vector u (scaled so that u^T v = 1).
    pub u: [f64; 2],
    /// Right vector v (unit length).
    pub v: [f64; 2],
}

impl ProjectorDecryptor {
    /// Build from one known pair `(m1, c1)` (c1: 4 values, row-major).
    ///
    /// # Errors
    /// Non-finite input, bad length, or `DegenerateReference` if c1 ≈ m1 I (its r equals m).
    pub fn from_pair<U: CtScalar>(m1: f64, c1: &[U]) -> Result<Self> {
        check_finite(OP, "known plaintext", &[m1])?;
        let c = parse(OP, c1)?;
        if c.len() != 1 {
            return Err(AttackError::BadLength { op: OP, len: c1.len() });
        }
        let c = c[0];
        let k: Ct = [c[0] - m1, c[1], c[2], c[3] - m1];
        let scale = frob(&c).max(m1.abs());
        let degenerate =
            |reason: &str| AttackError::DegenerateReference { op: OP, index: usize::MAX, reason: reason.into() };
        if !(frob(&k) > 1e-12 * scale) {
            return Err(degenerate(
                "C1 - m1 I is ~0: the pair's hidden r equals m1 (or m1 is wrong), so it fixes no projector",
            ));
        }
        let mut v = right_null(&k);
        let nv = v[0].hypot(v[1]);
        v = [v[0] / nv, v[1] / nv];
        let u = left_null(&k);
        let uv = u[0] * v[0] + u[1] * v[1];
        if !(uv.abs() > 1e-12 * u[0].hypot(u[1])) {
            return Err(degenerate(
                "u^T v ~ 0: C1 - m1 I is nilpotent, so m1 is not an eigenvalue of C1 (wrong pair?)",
            ));
        }
        Ok(ProjectorDecryptor { u: [u[0] / uv, u[1] / uv], v })
    }

    /// Decrypt a flat slice of ciphertexts.
    pub fn decrypt<T: CtScalar>(&self, cts: &[T]) -> Result<Vec<f64>> {
        Ok(parse(OP, cts)?.iter().map(|c| bilinear(&self.u, c, &self.v)).collect())
    }
}

/// Attack B: decrypt every ciphertext from one known pair `(m1, c1)`.
///
/// ```
/// let out = moreml_cryptanalysis::known_pair(0.25, &[-0.25f32, 1.0, -0.5, 1.25], &[0.9f32, -0.8, 0.4, -0.3]).unwrap();
/// assert!((out.recovered[0] - 0.5).abs() < 1e-6);
/// ```
pub fn known_pair<U: CtScalar, T: CtScalar>(m1: f64, c1: &[U], cts: &[T]) -> Result<AttackOutcome> {
    let d = ProjectorDecryptor::from_pair(m1, c1)?;
    let mut out = AttackOutcome::new(Attack::KnownPair, d.decrypt(cts)?, 1);
    out.notes.push(format!("u = {:?}, v = {:?} (key column / inverse row up to scale)", d.u, d.v));
    Ok(out)
}
