//! Attack A: the ciphertext-only linear relation (Tsaban & Lifshitz, J. Math. Cryptology 2015).

use crate::error::{AttackError, Result};
use crate::mat2::{eigenvalues, frob, parse, Ct, CtScalar};
use crate::outcome::{Attack, AttackOutcome};
use crate::score::{choose, StreamScorer};

const OP: &str = "linear";

/// Every ciphertext as an affine function of one reference: `C_j = alpha_j I + beta_j C_ref`,
/// hence `m_j = alpha_j + beta_j * m_ref` (and `r_j = alpha_j + beta_j * r_ref`).
///
/// With `beta_j = C_j[k] / C_ref[k]` for the reference's larger off-diagonal entry `k` and
/// `alpha_j = C_j[0][0] - beta_j C_ref[0][0]`. Ciphertext-only: the one unknown left is `m_ref`.
///
/// ```
/// use moreml_cryptanalysis::linear_relation;
/// // S = [[2,1],[1,1]]: Enc(0.25; r=0.75), Enc(0.5; r=0.1)
/// let cts = [-0.25, 1.0, -0.5, 1.25, 0.9, -0.8, 0.4, -0.3];
/// let rel = linear_relation(&cts).unwrap();
/// let truth = [0.25, 0.5];
/// // knowing the reference's plaintext decrypts everything
/// let m = rel.decrypt_with(truth[rel.reference_index.unwrap()]);
/// assert!((m[0] - 0.25).abs() < 1e-12 && (m[1] - 0.5).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LinearRelation {
    /// Index of the reference among the targets, or `None` for an external reference (a known pair).
    pub reference_index: Option<usize>,
    /// The reference ciphertext (f64, row-major).
    pub reference: Ct,
    /// Offsets alpha_j.
    pub alpha: Vec<f64>,
    /// Slopes beta_j.
    pub beta: Vec<f64>,
}

impl LinearRelation {
    /// All plaintexts, given the reference's plaintext `m_ref`.
    pub fn decrypt_with(&self, m_ref: f64) -> Vec<f64> {
        self.alpha.iter().zip(&self.beta).map(|(a, b)| b.mul_add(m_ref, *a)).collect()
    }

    /// The reference's two eigenvalues {m_ref, r_ref} (attack D on one ciphertext), larger first.
    pub fn reference_eigenvalues(&self) -> [f64; 2] {
        eigenvalues(&self.reference).lambda
    }

    /// The two candidate plaintext streams: `decrypt_with(lambda)` for each reference eigenvalue.
    /// One is the plaintexts, the other the hidden r values.
    pub fn candidate_streams(&self) -> [Vec<f64>; 2] {
        let l = self.reference_eigenvalues();
        [self.decrypt_with(l[0]), self.decrypt_with(l[1])]
    }
}

fn off_diag_key(c: &Ct) -> usize {
    if c[1].abs() >= c[2].abs() {
        1
    } else {
        2
    }
}

fn relation(reference: Ct, reference_index: Option<usize>, cts: &[Ct]) -> Result<LinearRelation> {
    let k = off_diag_key(&reference);
    let norm = frob(&reference);
    if !(reference[k].abs() > 1e-12 * norm) || norm == 0.0 {
        return Err(AttackError::DegenerateReference {
            op: OP,
            index: reference_index.unwrap_or(usize::MAX),
            reason:
                "both off-diagonal entries are ~0: the reference is (close to) a multiple of I, its m and r coincide"
                    .into(),
        });
    }
    let (mut alpha, mut beta) = (Vec::with_capacity(cts.len()), Vec::with_capacity(cts.len()));
    for c in cts {
        let b = c[k] / reference[k];
        alpha.push((-b).mul_add(reference[0], c[0]));
        beta.push(b);
    }
    Ok(LinearRelation { reference_index, reference, alpha, beta })
}

/// Attack A, ciphertext-only: relation of every ciphertext to an automatically chosen reference
/// (the one with the largest off-diagonal entry relative to its norm, i.e. the best-conditioned divisor).
///
/// # Errors
/// Bad length, empty or non-finite input; `DegenerateReference` if every ciphertext is ~ a multiple of I.
///
/// ```
/// let rel = moreml_cryptanalysis::linear_relation(&[-0.25f32, 1.0, -0.5, 1.25]).unwrap();
/// assert_eq!(rel.reference_index, Some(0));
/// ```
pub fn linear_relation<T: CtScalar>(cts: &[T]) -> Result<LinearRelation> {
    let cts = parse(OP, cts)?;
    let idx = cts
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c[1].abs().max(c[2].abs()) / frob(c).max(f64::MIN_POSITIVE)))
        .fold((0, -1.0), |best, x| if x.1 > best.1 { x } else { best })
        .0;
    relation(cts[idx], Some(idx), &cts)
}

/// Attack A relative to an external reference ciphertext (4 values), e.g. the ciphertext of a known pair.
///
/// ```
/// use moreml_cryptanalysis::linear_relation_to;
/// let rel = linear_relation_to(&[-0.25, 1.0, -0.5, 1.25], &[0.9, -0.8, 0.4, -0.3]).unwrap();
/// assert!((rel.decrypt_with(0.25)[0] - 0.5).abs() < 1e-12);
/// ```
pub fn linear_relation_to<U: CtScalar, T: CtScalar>(reference: &[U], cts: &[T]) -> Result<LinearRelation> {
    let r = parse(OP, reference)?;
    if r.len() != 1 {
        return Err(AttackError::BadLength { op: OP, len: reference.len() });
    }
    let cts = parse(OP, cts)?;
    relation(r[0], None, &cts)
}

/// Attack A with one known pair `(m_ref, reference)`: decrypts every ciphertext.
///
/// ```
/// use moreml_cryptanalysis::linear_known_pair;
/// let out = linear_known_pair(0.25, &[-0.25, 1.0, -0.5, 1.25], &[0.9, -0.8, 0.4, -0.3]).unwrap();
/// assert!((out.recovered[0] - 0.5).abs() < 1e-12);
/// ```
pub fn linear_known_pair<U: CtScalar, T: CtScalar>(m_ref: f64, reference: &[U], cts: &[T]) -> Result<AttackOutcome> {
    crate::mat2::check_finite(OP, "known plaintext", &[m_ref])?;
    let rel = linear_relation_to(reference, cts)?;
    let mut out = AttackOutcome::new(Attack::Linear, rel.decrypt_with(m_ref), 1);
    out.notes.push("reference = the known pair's ciphertext".into());
    Ok(out)
}

/// Attack A with no known plaintext at all: the relation leaves one unknown `m_ref`; its two
/// possible values are the reference's eigenvalues (attack D on that single ciphertext), and the
/// resulting two streams are told apart by `scorer` (a data prior). This is what a CLI
/// `--method linear` does without a known-pairs file.
///
/// ```
/// use moreml_cryptanalysis::{linear_ciphertext_only, PriorScorer, UniformPrior};
/// // S = [[2,1],[1,1]]: Enc(0.25; r=3.0), Enc(0.5; r=-2.0): data in [0,1], r outside
/// let cts = [-2.5, 5.5, -2.75, 5.75, 3.0, -5.0, 2.5, -4.5];
/// let out = linear_ciphertext_only(&cts, &PriorScorer(UniformPrior::new(0.0, 1.0).unwrap())).unwrap();
/// assert!((out.recovered[0] - 0.25).abs() < 1e-12 && (out.recovered[1] - 0.5).abs() < 1e-12);
/// ```
pub fn linear_ciphertext_only<T: CtScalar>(cts: &[T], scorer: &dyn StreamScorer) -> Result<AttackOutcome> {
    let rel = linear_relation(cts)?;
    let [s0, s1] = rel.candidate_streams();
    let (pick, scores) = choose(scorer, [&s0, &s1]);
    let l = rel.reference_eigenvalues();
    let mut out = AttackOutcome::new(Attack::Linear, if pick == 0 { s0 } else { s1 }, 0);
    out.notes.push(format!(
        "reference {:?}, eigenvalues {:?}, stream scores {:?}, chose m_ref = {}",
        rel.reference_index, l, scores, l[pick]
    ));
    Ok(out)
}
