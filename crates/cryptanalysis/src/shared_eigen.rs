//! Attack E: shared eigenvectors, ciphertext-only.
//!
//! All ciphertexts under one key commute and share the eigenvectors of S (its columns). So
//! diagonalising one reference `C_ref = V L V^-1` makes `V^-1 C_j V` diagonal for every j, with
//! (m, r) in the same slot order for all j. Both streams come out; a [`StreamScorer`] says which
//! is data. `V` is the key S up to column scaling (which decryption does not see).

use crate::error::{AttackError, Result};
use crate::known_plaintext::jacobi4;
use crate::mat2::{eigenvalues, frob, half_gap, parse, Ct, CtScalar};
use crate::outcome::{Attack, AttackOutcome};
use crate::score::{choose, StreamScorer};

const OP: &str = "shared-eigen";

/// How to get the common eigenvectors.
///
/// ```
/// use moreml_cryptanalysis::EigenReference;
/// assert_eq!(EigenReference::default(), EigenReference::BestSingle);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EigenReference {
    /// The ciphertext with the largest eigenvalue gap relative to its Frobenius norm (the spec's method).
    #[default]
    BestSingle,
    /// A given ciphertext index.
    Index(usize),
    /// Least-squares over all ciphertexts: the traceless parts of all C_j are multiples of one
    /// matrix (P - Q); its top principal direction averages out noise on any single reference.
    Pooled,
}

/// Full result of attack E.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedEigen {
    /// Reference used (`None` for [`EigenReference::Pooled`]).
    pub reference_index: Option<usize>,
    /// Recovered eigenvector matrix V (row-major), columns ordered (chosen data slot, other slot):
    /// the key S up to column scaling. Columns have unit length.
    pub key_columns: [f64; 4],
    /// The two slot streams, in the order of V's columns *before* the choice (see `chosen`).
    pub streams: [Vec<f64>; 2],
    /// Index of the stream judged to be data.
    pub chosen: usize,
    /// Scorer values of the two streams.
    pub scores: [f64; 2],
    /// Per ciphertext: (|D01| + |D10|) / (|D00| + |D11|) for D = V^-1 C_j V; ~1e-16 on honest
    /// ciphertexts, larger under noise or for a ciphertext not under the same key.
    pub residual: Vec<f64>,
}

impl SharedEigen {
    /// The recovered plaintexts (the chosen stream).
    pub fn plaintexts(&self) -> &[f64] {
        &self.streams[self.chosen]
    }

    /// Largest residual (a confidence figure: small means all ciphertexts share the key); NaN if
    /// any residual is NaN, 0 without ciphertexts.
    pub fn max_residual(&self) -> f64 {
        self.residual.iter().fold(0.0, |m: f64, r| if m.is_nan() || r.is_nan() { f64::NAN } else { m.max(*r) })
    }

    /// Convert into the common report.
    pub fn into_outcome(self) -> AttackOutcome {
        let notes =
            vec![format!(
            "reference {:?}, key columns {:?}, stream scores {:?}, chose stream {}, max off-diagonal residual {:.3e}",
            self.reference_index, self.key_columns, self.scores, self.chosen, self.max_residual()
        )];
        let [s0, s1] = self.streams;
        let mut out = AttackOutcome::new(Attack::SharedEigen, if self.chosen == 0 { s0 } else { s1 }, 0);
        out.notes = notes;
        out
    }
}

fn eigvec(c: &Ct, l: f64) -> [f64; 2] {
    let a = [c[1], l - c[0]];
    let b = [l - c[3], c[2]];
    let v = if a[0].hypot(a[1]) >= b[0].hypot(b[1]) { a } else { b };
    let n = v[0].hypot(v[1]);
    [v[0] / n, v[1] / n]
}

fn pooled_reference(cts: &[Ct]) -> Ct {
    // y = (sqrt2 * (a-d)/2, b, c): Euclidean norm of y = Frobenius norm of the traceless part.
    let s2 = std::f64::consts::SQRT_2;
    let mut g = [[0.0; 4]; 4];
    for c in cts {
        let n = frob(c).max(f64::MIN_POSITIVE);
        let y = [s2 * 0.5 * (c[0] - c[3]) / n, c[1] / n, c[2] / n, 0.0];
        for i in 0..3 {
            for j in 0..3 {
                g[i][j] += y[i] * y[j];
            }
        }
    }
    let (ev, v) = jacobi4(g);
    let k = (0..4).max_by(|&a, &b| ev[a].total_cmp(&ev[b])).unwrap_or(0);
    let h = v[0][k] / s2;
    [h, v[1][k], v[2][k], -h]
}

/// Attack E with full details; see the module docs.
///
/// # Errors
/// Bad length, empty or non-finite input; `DegenerateReference` if the reference has (near-)equal
/// eigenvalues or an out-of-range index.
///
/// ```
/// use moreml_cryptanalysis::{shared_eigen_detailed, EigenReference, PriorScorer, UniformPrior};
/// // S = [[2,1],[1,1]]: Enc(0.25; 3.0), Enc(0.5; -2.0)
/// let cts = [-2.5, 5.5, -2.75, 5.75, 3.0, -5.0, 2.5, -4.5];
/// let e = shared_eigen_detailed(&cts, EigenReference::Pooled, &PriorScorer(UniformPrior::new(0.0, 1.0).unwrap())).unwrap();
/// assert!((e.plaintexts()[1] - 0.5).abs() < 1e-12 && e.max_residual() < 1e-12);
/// // first key column is parallel to S's first column (2, 1)
/// assert!((e.key_columns[0] / e.key_columns[2] - 2.0).abs() < 1e-12);
/// ```
pub fn shared_eigen_detailed<T: CtScalar>(
    cts: &[T],
    reference: EigenReference,
    scorer: &dyn StreamScorer,
) -> Result<SharedEigen> {
    let cts = parse(OP, cts)?;
    let (reference_index, r) = match reference {
        EigenReference::Pooled => (None, pooled_reference(&cts)),
        EigenReference::Index(i) => match cts.get(i) {
            Some(c) => (Some(i), *c),
            None => {
                return Err(AttackError::DegenerateReference {
                    op: OP,
                    index: i,
                    reason: format!("index out of range ({} ciphertexts)", cts.len()),
                })
            }
        },
        EigenReference::BestSingle => {
            let i = cts
                .iter()
                .enumerate()
                .map(|(i, c)| (i, half_gap(c) / frob(c).max(f64::MIN_POSITIVE)))
                .fold((0, -1.0), |b, x| if x.1 > b.1 { x } else { b })
                .0;
            (Some(i), cts[i])
        }
    };
    let gap = half_gap(&r);
    if !(gap > 1e-9 * frob(&r)) {
        return Err(AttackError::DegenerateReference {
            op: OP,
            index: reference_index.unwrap_or(usize::MAX),
            reason: "eigenvalues (near-)equal or complex: no well-defined eigenvectors".into(),
        });
    }
    let l = eigenvalues(&r).lambda;
    let (v0, v1) = (eigvec(&r, l[0]), eigvec(&r, l[1]));
    let det = v0[0] * v1[1] - v1[0] * v0[1];
    if !(det.abs() > 1e-12) {
        return Err(AttackError::DegenerateReference {
            op: OP,
            index: reference_index.unwrap_or(usize::MAX),
            reason: "eigenvectors (near-)parallel".into(),
        });
    }
    // V = [v0 v1] (columns); V^-1 = [[v1y, -v1x], [-v0y, v0x]] / det
    let vi = [v1[1] / det, -v1[0] / det, -v0[1] / det, v0[0] / det];
    let (mut s0, mut s1, mut residual) =
        (Vec::with_capacity(cts.len()), Vec::with_capacity(cts.len()), Vec::with_capacity(cts.len()));
    for c in &cts {
        // D = V^-1 C V, with C V columns cv0 = C v0, cv1 = C v1
        let cv0 = [c[0] * v0[0] + c[1] * v0[1], c[2] * v0[0] + c[3] * v0[1]];
        let cv1 = [c[0] * v1[0] + c[1] * v1[1], c[2] * v1[0] + c[3] * v1[1]];
        let d00 = vi[0] * cv0[0] + vi[1] * cv0[1];
        let d10 = vi[2] * cv0[0] + vi[3] * cv0[1];
        let d01 = vi[0] * cv1[0] + vi[1] * cv1[1];
        let d11 = vi[2] * cv1[0] + vi[3] * cv1[1];
        s0.push(d00);
        s1.push(d11);
        let den = d00.abs() + d11.abs();
        let num = d01.abs() + d10.abs();
        residual.push(if num == 0.0 { 0.0 } else { num / den });
    }
    let (chosen, scores) = choose(scorer, [&s0, &s1]);
    let (a, b) = if chosen == 0 { (v0, v1) } else { (v1, v0) };
    Ok(SharedEigen {
        reference_index,
        key_columns: [a[0], b[0], a[1], b[1]],
        streams: [s0, s1],
        chosen,
        scores,
        residual,
    })
}

/// Attack E with the default reference choice ([`EigenReference::BestSingle`]), as a report.
///
/// ```
/// use moreml_cryptanalysis::{shared_eigen, ImageScorer};
/// let cts = [-2.5, 5.5, -2.75, 5.75, 3.0, -5.0, 2.5, -4.5]; // Enc(0.25), Enc(0.5), r outside [0,1]
/// let out = shared_eigen(&cts, &ImageScorer::new(1, 2)).unwrap();
/// assert!((out.recovered[0] - 0.25).abs() < 1e-12);
/// ```
pub fn shared_eigen<T: CtScalar>(cts: &[T], scorer: &dyn StreamScorer) -> Result<AttackOutcome> {
    Ok(shared_eigen_detailed(cts, EigenReference::BestSingle, scorer)?.into_outcome())
}
