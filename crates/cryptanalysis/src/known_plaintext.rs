//! Attack C: generic known-plaintext (Gjosteen & Strand, ePrint 2016/105).
//!
//! Decryption is a linear functional of the 4 ciphertext entries, `m = w . vec(C)` (indeed
//! `w = vec(P^T)`, `P = S e0 e0^T S^-1`). All ciphertexts under one key lie in the 2-dimensional
//! algebra span{I, P}, so only the restriction of `w` to that plane matters, and it is fixed by
//! its values on any 2 linearly independent ciphertexts. Minimum data: **1 known pair plus the
//! free pair (1, I)**, provided that pair's ciphertext is not a multiple of I (m != r); or 2
//! independent known pairs without the identity. Extra pairs are averaged by least squares.

use crate::error::{AttackError, Result};
use crate::mat2::{check_finite, parse, CtScalar};
use crate::outcome::{Attack, AttackOutcome};

const OP: &str = "known-plaintext";
/// Dimension of the ciphertext algebra of 2x2 MORE.
pub const ALGEBRA_DIM: usize = 2;
const RANK_TOL: f64 = 1e-6;

/// A decryption functional `m = w . vec(C)` fitted by least squares, truncated to the algebra.
///
/// ```
/// use moreml_cryptanalysis::LinearDecryptor;
/// // one known pair (0.25, Enc(0.25)) + the free identity is enough
/// let d = LinearDecryptor::fit(&[0.25], &[-0.25, 1.0, -0.5, 1.25], true).unwrap();
/// assert_eq!(d.rank, 2);
/// assert!((d.decrypt(&[0.9, -0.8, 0.4, -0.3]).unwrap()[0] - 0.5).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearDecryptor {
    /// The functional on row-major `[c00, c01, c10, c11]` (minimum-norm within the fitted plane).
    pub w: [f64; 4],
    /// Singular values of the design matrix (rows = known ciphertexts), largest first.
    pub singular_values: [f64; 4],
    /// Numerical rank of the design (singular values above 1e-6 of the largest).
    pub rank: usize,
    /// sigma_1 / sigma_2: conditioning of the fit within the algebra.
    pub condition: f64,
    /// Known pairs used (without the identity).
    pub pairs: usize,
    /// Whether the free pair (1, I) was added.
    pub used_identity: bool,
}

/// Jacobi eigen-decomposition of a symmetric 4x4 matrix: (eigenvalues, eigenvectors as columns).
#[allow(clippy::needless_range_loop)]
pub(crate) fn jacobi4(mut a: [[f64; 4]; 4]) -> ([f64; 4], [[f64; 4]; 4]) {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..60 {
        let off: f64 = (0..4)
            .flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let diag: f64 = (0..4).map(|i| a[i][i] * a[i][i]).sum();
        if off <= 1e-32 * diag || off == 0.0 {
            break;
        }
        for p in 0..4 {
            for q in p + 1..4 {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..4 {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..4 {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2], a[3][3]], v)
}

impl LinearDecryptor {
    /// Fit from known plaintexts `known_m` and their ciphertexts `known_cts` (4 values each),
    /// optionally adding the free public pair (1, I).
    ///
    /// # Errors
    /// `PairCountMismatch`, non-finite values, bad length, and `NotEnoughPairs` when the known
    /// ciphertexts (with I) span fewer than 2 dimensions.
    pub fn fit<U: CtScalar>(known_m: &[f64], known_cts: &[U], use_identity: bool) -> Result<Self> {
        check_finite(OP, "known plaintext", known_m)?;
        let mut rows = if known_cts.is_empty() { Vec::new() } else { parse(OP, known_cts)? };
        if rows.len() != known_m.len() || known_cts.len() % 4 != 0 {
            return Err(AttackError::PairCountMismatch {
                op: OP,
                plaintexts: known_m.len(),
                ciphertexts: known_cts.len() / 4,
            });
        }
        let pairs = rows.len();
        let mut y = known_m.to_vec();
        if use_identity {
            rows.push([1.0, 0.0, 0.0, 1.0]);
            y.push(1.0);
        }
        let not_enough =
            |rank| AttackError::NotEnoughPairs { op: OP, needed: ALGEBRA_DIM, rank, pairs, identity: use_identity };
        if rows.is_empty() {
            return Err(not_enough(0));
        }
        let mut g = [[0.0; 4]; 4];
        let mut xty = [0.0; 4];
        for (r, yi) in rows.iter().zip(&y) {
            for i in 0..4 {
                xty[i] += r[i] * yi;
                for j in 0..4 {
                    g[i][j] += r[i] * r[j];
                }
            }
        }
        let (ev, vecs) = jacobi4(g);
        let mut order = [0usize, 1, 2, 3];
        order.sort_by(|&a, &b| ev[b].total_cmp(&ev[a]));
        let sv = order.map(|k| ev[k].max(0.0).sqrt());
        let rank = sv.iter().filter(|s| **s > RANK_TOL * sv[0]).count();
        if rank < ALGEBRA_DIM || !(sv[0] > 0.0) {
            return Err(not_enough(rank));
        }
        let mut w = [0.0; 4];
        for &k in order.iter().take(ALGEBRA_DIM) {
            let col = [vecs[0][k], vecs[1][k], vecs[2][k], vecs[3][k]];
            let coef = (0..4).map(|i| col[i] * xty[i]).sum::<f64>() / ev[k];
            for i in 0..4 {
                w[i] += coef * col[i];
            }
        }
        Ok(LinearDecryptor {
            w,
            singular_values: sv,
            rank,
            condition: sv[0] / sv[1],
            pairs,
            used_identity: use_identity,
        })
    }

    /// Decrypt a flat slice of ciphertexts: `w . vec(C)` for each.
    pub fn decrypt<T: CtScalar>(&self, cts: &[T]) -> Result<Vec<f64>> {
        Ok(parse(OP, cts)?.iter().map(|c| (0..4).map(|i| self.w[i] * c[i]).sum()).collect())
    }
}

/// Attack C: fit [`LinearDecryptor`] from k known pairs (plus (1, I) if `use_identity`) and decrypt `cts`.
///
/// ```
/// use moreml_cryptanalysis::known_plaintext;
/// let known = [-0.25, 1.0, -0.5, 1.25, 0.9, -0.8, 0.4, -0.3]; // Enc(0.25), Enc(0.5)
/// let out = known_plaintext(&[0.25, 0.5], &known, &known[4..], false).unwrap();
/// assert!((out.recovered[0] - 0.5).abs() < 1e-12);
/// assert!(known_plaintext(&[0.25], &known[..4], &known, false).is_err()); // one pair alone: rank 1
/// ```
pub fn known_plaintext<U: CtScalar, T: CtScalar>(
    known_m: &[f64],
    known_cts: &[U],
    cts: &[T],
    use_identity: bool,
) -> Result<AttackOutcome> {
    let d = LinearDecryptor::fit(known_m, known_cts, use_identity)?;
    let mut out = AttackOutcome::new(Attack::KnownPlaintext, d.decrypt(cts)?, d.pairs);
    out.used_free_identity = use_identity;
    out.notes.push(format!(
        "rank {}, singular values {:?}, condition {:.3e}, w = {:?}",
        d.rank, d.singular_values, d.condition, d.w
    ));
    Ok(out)
}
