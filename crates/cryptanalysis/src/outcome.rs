//! Attack reports and recovery metrics.

/// Which attack produced an [`AttackOutcome`], or which one to run ([`crate::run_attack`]).
///
/// With the `clap` feature it is a `clap::ValueEnum` whose values are [`Attack::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Attack {
    /// A: ciphertext-only linear relation (Tsaban & Lifshitz 2015).
    Linear,
    /// B: one known (plaintext, ciphertext) pair gives the decryption projector.
    KnownPair,
    /// C: generic known-plaintext, decryption as a learned linear functional (Gjosteen & Strand 2016).
    KnownPlaintext,
    /// D: eigenvalues of each ciphertext, choosing with a prior.
    Eigen,
    /// E: shared eigenvectors, ciphertext-only.
    SharedEigen,
}

impl Attack {
    /// Short name, as used by a CLI `--method` flag.
    ///
    /// ```
    /// assert_eq!(moreml_cryptanalysis::Attack::SharedEigen.name(), "shared-eigen");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Attack::Linear => "linear",
            Attack::KnownPair => "known-pair",
            Attack::KnownPlaintext => "known-plaintext",
            Attack::Eigen => "eigen",
            Attack::SharedEigen => "shared-eigen",
        }
    }

    /// One-line threat model: what the attacker holds.
    ///
    /// ```
    /// assert!(moreml_cryptanalysis::Attack::Eigen.threat_model().contains("ciphertexts only"));
    /// ```
    pub fn threat_model(self) -> &'static str {
        match self {
            Attack::Linear => "ciphertexts only (plus one known plaintext, or a data prior, to fix the single unknown)",
            Attack::KnownPair => "ciphertexts plus one known (plaintext, ciphertext) pair",
            Attack::KnownPlaintext => "ciphertexts plus k known pairs (the identity is a free encryption of 1)",
            Attack::Eigen => "ciphertexts only, plus public priors on the data and on the key's r distribution",
            Attack::SharedEigen => "ciphertexts only, plus a scorer saying which of two streams looks like data",
        }
    }
}

/// The report of one attack run. Timing is left to the caller.
///
/// ```
/// use moreml_cryptanalysis::{known_pair, fraction_recovered};
/// // S = [[2,1],[1,1]]: Enc(0.25; r=0.75) and Enc(0.5; r=0.1)
/// let c1 = [-0.25, 1.0, -0.5, 1.25];
/// let c2 = [0.9, -0.8, 0.4, -0.3];
/// let out = known_pair(0.25, &c1, &c2).unwrap();
/// assert_eq!(out.known_pairs_used, 1);
/// assert_eq!(fraction_recovered(&out.recovered, &[0.5], 1e-12), 1.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AttackOutcome {
    /// Which attack.
    pub attack: Attack,
    /// What the attacker was assumed to hold.
    pub threat_model: &'static str,
    /// Number of target ciphertexts decrypted.
    pub ciphertexts_used: usize,
    /// Number of known (plaintext, ciphertext) pairs used (the free identity not counted).
    pub known_pairs_used: usize,
    /// Whether the free public pair (1, I) was used.
    pub used_free_identity: bool,
    /// Recovered plaintexts, one per target ciphertext, in input order.
    pub recovered: Vec<f64>,
    /// Free-form notes: reference chosen, stream scores, clamped discriminants, ...
    pub notes: Vec<String>,
}

impl AttackOutcome {
    pub(crate) fn new(attack: Attack, recovered: Vec<f64>, known_pairs_used: usize) -> Self {
        AttackOutcome {
            attack,
            threat_model: attack.threat_model(),
            ciphertexts_used: recovered.len(),
            known_pairs_used,
            used_free_identity: false,
            recovered,
            notes: Vec::new(),
        }
    }
}

/// Fraction of the truth scale below which errors are measured absolutely (see [`fraction_recovered`]).
pub const RELATIVE_FLOOR: f64 = 1e-3;

fn scale_floor(truth: &[f64]) -> f64 {
    let max = truth.iter().fold(0.0f64, |a, t| a.max(t.abs()));
    (RELATIVE_FLOOR * max).max(f64::MIN_POSITIVE)
}

/// Relative error of each recovered value:
/// `|recovered_i - truth_i| / max(|truth_i|, RELATIVE_FLOOR * max_j |truth_j|)`.
///
/// The floor keeps zeros (e.g. black pixels) from demanding an exact zero: a value whose truth
/// is 0 counts as recovered when its absolute error is below `rel_tol * 1e-3 * max|truth|`.
/// Lengths must match; a NaN error is reported as infinity.
///
/// ```
/// let e = moreml_cryptanalysis::relative_errors(&[1.0, 0.0], &[1.0 + 1e-9, 1e-12]);
/// assert!(e[0] < 2e-9 && e[1] < 2e-9);
/// ```
pub fn relative_errors(truth: &[f64], recovered: &[f64]) -> Vec<f64> {
    let floor = scale_floor(truth);
    truth
        .iter()
        .zip(recovered)
        .map(|(t, r)| {
            let e = (r - t).abs() / t.abs().max(floor);
            if e.is_nan() {
                f64::INFINITY
            } else {
                e
            }
        })
        .collect()
}

/// Fraction of values recovered within `rel_tol`, error measured as in [`relative_errors`].
///
/// Returns 0 when the lengths differ or `truth` is empty.
///
/// ```
/// use moreml_cryptanalysis::fraction_recovered;
/// assert_eq!(fraction_recovered(&[0.5, 0.0, 0.9], &[0.5, 0.0, 0.1], 1e-6), 2.0 / 3.0);
/// ```
pub fn fraction_recovered(recovered: &[f64], truth: &[f64], rel_tol: f64) -> f64 {
    if recovered.len() != truth.len() || truth.is_empty() {
        return 0.0;
    }
    let ok = relative_errors(truth, recovered).iter().filter(|&&e| e <= rel_tol).count();
    ok as f64 / truth.len() as f64
}

/// Fraction of values that round to the same point of the grid `k * step` as the truth
/// (e.g. `step = 1.0 / 255.0` for u8 pixels). Returns 0 on length mismatch or empty input.
///
/// ```
/// use moreml_cryptanalysis::fraction_exact_on_grid;
/// assert_eq!(fraction_exact_on_grid(&[0.1001, 0.5], &[0.1, 0.3], 0.1), 0.5);
/// ```
pub fn fraction_exact_on_grid(recovered: &[f64], truth: &[f64], step: f64) -> f64 {
    if recovered.len() != truth.len() || truth.is_empty() || !(step > 0.0) {
        return 0.0;
    }
    let ok = recovered.iter().zip(truth).filter(|(r, t)| (*r / step).round() == (*t / step).round()).count();
    ok as f64 / truth.len() as f64
}
