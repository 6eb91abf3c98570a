//! Attack planning: the known pairs an attacker holds, and one entry point that runs any attack
//! with what it needs (pairs, scorer, priors).

use crate::data_model::EigenPriors;
use crate::eigen::eigen_attack;
use crate::error::{AttackError, Result};
use crate::known_pair::known_pair;
use crate::known_plaintext::known_plaintext;
use crate::linear::{linear_ciphertext_only, linear_known_pair};
use crate::mat2::{check_finite, eigenvalues, frob, Ct};
use crate::outcome::{Attack, AttackOutcome};
use crate::score::StreamScorer;
use crate::shared_eigen::{shared_eigen_detailed, EigenReference};

/// Known (plaintext, ciphertext) pairs under the attacked key, as the known-pair attacks (A with
/// a pair, B, C) take them.
///
/// ```
/// use moreml_cryptanalysis::KnownPairs;
/// let mut k = KnownPairs::new();
/// // S = [[2,1],[1,1]]: Enc(0.25; r=0.75), Enc(0.5; r=0.1); NaN marks an unknown plaintext
/// let added = k.add_known(&[0.25, f64::NAN], &[-0.25, 1.0, -0.5, 1.25, 0.9, -0.8, 0.4, -0.3]).unwrap();
/// assert_eq!((added, k.len()), (1, 1));
/// assert_eq!(k.best(), Some((0.25, [-0.25, 1.0, -0.5, 1.25])));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KnownPairs {
    m: Vec<f64>,
    cts: Vec<f64>,
}

impl KnownPairs {
    /// No pairs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one pair: plaintext `m` and its ciphertext `ct` (4 values, row-major).
    ///
    /// # Errors
    /// `BadLength` unless `ct` has 4 values; `NonFinite` for a NaN or infinite value.
    pub fn push(&mut self, m: f64, ct: &[f64]) -> Result<()> {
        const OP: &str = "known-pairs";
        if ct.len() != 4 {
            return Err(AttackError::BadLength { op: OP, len: ct.len() });
        }
        check_finite(OP, "known plaintext", &[m])?;
        check_finite(OP, "ciphertext", ct)?;
        self.m.push(m);
        self.cts.extend_from_slice(ct);
        Ok(())
    }

    /// Adds the pairs of a partly known tensor: `values[i]` is the plaintext of ciphertext `i` of
    /// `cts` (4 values each); a non-finite value (NaN) marks a plaintext that is not known and is
    /// skipped. Returns the number of pairs added.
    ///
    /// # Errors
    /// `PairCountMismatch` unless `cts` has 4 values per value; `NonFinite` for a non-finite
    /// ciphertext of a known value (nothing is added then).
    pub fn add_known(&mut self, values: &[f64], cts: &[f64]) -> Result<usize> {
        if cts.len() != 4 * values.len() {
            return Err(AttackError::PairCountMismatch {
                op: "known-pairs",
                plaintexts: values.len(),
                ciphertexts: cts.len() / 4,
            });
        }
        let mut add = KnownPairs::new();
        for (m, c) in values.iter().zip(cts.chunks_exact(4)) {
            if m.is_finite() {
                add.push(*m, c)?;
            }
        }
        self.m.extend(add.m);
        self.cts.extend(add.cts);
        Ok(values.iter().filter(|m| m.is_finite()).count())
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.m.len()
    }

    /// Whether there is no pair.
    pub fn is_empty(&self) -> bool {
        self.m.is_empty()
    }

    /// The known plaintexts.
    pub fn plaintexts(&self) -> &[f64] {
        &self.m
    }

    /// Their ciphertexts, 4 values each.
    pub fn ciphertexts(&self) -> &[f64] {
        &self.cts
    }

    /// The pair whose ciphertext is farthest from a multiple of I (largest eigenvalue gap
    /// `|m - r| / ||C||_F`): the best-conditioned single pair for attacks A and B. `None` if empty.
    pub fn best(&self) -> Option<(f64, Ct)> {
        if self.is_empty() {
            return None;
        }
        // the gap is >= 0, so the first pair beats the initial -1
        let mut best = (0usize, -1.0);
        for (i, c) in self.cts.chunks_exact(4).enumerate() {
            let c = [c[0], c[1], c[2], c[3]];
            let l = eigenvalues(&c).lambda;
            let q = (l[0] - l[1]) / frob(&c).max(f64::MIN_POSITIVE);
            if q > best.1 {
                best = (i, q);
            }
        }
        let i = best.0;
        Some((self.m[i], [self.cts[4 * i], self.cts[4 * i + 1], self.cts[4 * i + 2], self.cts[4 * i + 3]]))
    }

    /// Only the [`best`](Self::best) pair (what an attacker with one known value holds).
    pub fn best_only(&self) -> Option<KnownPairs> {
        self.best().map(|(m, c)| KnownPairs { m: vec![m], cts: c.to_vec() })
    }
}

impl Attack {
    /// All five attacks, A to E.
    pub const ALL: [Attack; 5] =
        [Attack::Linear, Attack::KnownPair, Attack::KnownPlaintext, Attack::Eigen, Attack::SharedEigen];

    /// Whether the attack cannot run without known pairs (B and C).
    ///
    /// ```
    /// use moreml_cryptanalysis::Attack;
    /// assert!(Attack::KnownPair.needs_known_pairs() && !Attack::Linear.needs_known_pairs());
    /// ```
    pub fn needs_known_pairs(self) -> bool {
        matches!(self, Attack::KnownPair | Attack::KnownPlaintext)
    }

    /// Whether the attack ignores known pairs (D and E are ciphertext-only).
    pub fn ignores_known_pairs(self) -> bool {
        matches!(self, Attack::Eigen | Attack::SharedEigen)
    }

    /// Whether the attack uses a data scorer ([`AttackInputs::scorer`]): E always, A when it has
    /// no known pair.
    pub fn uses_scorer(self, with_pairs: bool) -> bool {
        match self {
            Attack::SharedEigen => true,
            Attack::Linear => !with_pairs,
            _ => false,
        }
    }
}

/// What one attack run needs besides the target ciphertexts.
pub struct AttackInputs<'a> {
    /// Known pairs under the attacked key (A uses the best one if given; B the best one; C all).
    pub pairs: Option<&'a KnownPairs>,
    /// Data scorer of A without pairs and of E (e.g. [`crate::PoolScorer`]).
    pub scorer: &'a dyn StreamScorer,
    /// Priors of D.
    pub priors: Option<&'a EigenPriors>,
}

/// Runs `attack` on the ciphertexts `cts` (4 values each) with `inputs`: A with the best known
/// pair if there is one (ciphertext-only with the scorer otherwise), B with the best pair, C with
/// all pairs plus the free pair (1, I), D with the priors (their description added to the
/// notes), E with the best single reference and the scorer. D and E ignore known pairs.
///
/// # Errors
/// `MissingInput` when B or C has no pair, A is given an empty pair set or D has no priors; the
/// attack's own errors otherwise.
///
/// ```
/// use moreml_cryptanalysis::{run_attack, Attack, AttackInputs, KnownPairs, PriorScorer, UniformPrior};
/// // S = [[2,1],[1,1]]: Enc(0.25; r=3.0), Enc(0.5; r=-2.0)
/// let cts = [-2.5, 5.5, -2.75, 5.75, 3.0, -5.0, 2.5, -4.5];
/// let scorer = PriorScorer(UniformPrior::new(0.0, 1.0).unwrap());
/// let mut pairs = KnownPairs::new();
/// pairs.push(0.25, &cts[..4]).unwrap();
/// let with = AttackInputs { pairs: Some(&pairs), scorer: &scorer, priors: None };
/// let out = run_attack(Attack::KnownPair, &cts, &with).unwrap();
/// assert!((out.recovered[1] - 0.5).abs() < 1e-12);
/// let without = AttackInputs { pairs: None, ..with };
/// assert!(run_attack(Attack::KnownPair, &cts, &without).is_err());
/// assert!((run_attack(Attack::SharedEigen, &cts, &without).unwrap().recovered[1] - 0.5).abs() < 1e-12);
/// ```
pub fn run_attack(attack: Attack, cts: &[f64], inputs: &AttackInputs) -> Result<AttackOutcome> {
    let op = attack.name();
    let missing = |what: &'static str| AttackError::MissingInput { op, what };
    let best = |pairs: &KnownPairs| pairs.best().ok_or(missing("at least one known (plaintext, ciphertext) pair"));
    let need_pairs = || inputs.pairs.ok_or(missing("known (plaintext, ciphertext) pairs"));
    Ok(match attack {
        Attack::Linear => match inputs.pairs {
            Some(p) => {
                let (m, c) = best(p)?;
                linear_known_pair(m, &c, cts)?
            }
            None => linear_ciphertext_only(cts, inputs.scorer)?,
        },
        Attack::KnownPair => {
            let (m, c) = best(need_pairs()?)?;
            known_pair(m, &c, cts)?
        }
        Attack::KnownPlaintext => {
            let p = need_pairs()?;
            known_plaintext(&p.m, &p.cts, cts, true)?
        }
        Attack::Eigen => {
            let pr = inputs.priors.ok_or(missing("priors on the data and on r"))?;
            let mut out = eigen_attack(cts, &pr.p_m, &pr.p_r)?;
            out.notes.push(pr.description.clone());
            out
        }
        Attack::SharedEigen => shared_eigen_detailed(cts, EigenReference::BestSingle, inputs.scorer)?.into_outcome(),
    })
}
