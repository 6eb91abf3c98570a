//! Key parameters: the condition-number bound and the distribution of the hidden value r.

use serde::{Deserialize, Serialize};

/// How the hidden random value `r` of each ciphertext `S diag(m, r) S^-1` is drawn.
///
/// `r` is not a security parameter in any cryptographic sense (MORE has none), but it decides
/// whether encrypted training is numerically stable: every operation the server performs on
/// `m` is also performed on `r` (the "shadow" computation), so `r` should look like the data.
///
/// ```
/// use moreml_more::RDistribution;
/// let r: RDistribution = serde_json::from_str(r#"{"kind":"uniform","low":0.5,"high":1.5}"#).unwrap();
/// assert_eq!(r, RDistribution::Uniform { low: 0.5, high: 1.5 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RDistribution {
    /// The empirical distribution of the same feature (default). For a tensor of shape
    /// `[N, ...]` with `N >= 2`, feature `f` (all axes but the first) gets a 64-bin histogram
    /// of its `N` values; `r` is drawn from it (an alias table picks a bin with probability
    /// proportional to its count, then a uniform position inside the bin) plus
    /// `U(-jitter, jitter)`. For a single record or a 1-D tensor, the whole tensor
    /// is one feature. The shadow network then sees inputs with the same per-feature statistics
    /// as the real one and stays as stable as plaintext training. The jitter keeps `r != m`
    /// (a ciphertext with `r == m` is the public matrix `m I`).
    Empirical {
        /// Half-width of the uniform noise added to each drawn value.
        jitter: f64,
    },
    /// Whole records: `r[i, :] = x[j, :] + e` with a uniform record index `j` per record and
    /// noise `e ~ U(-jitter, jitter)` centred so it sums to 0 over the record (records of one
    /// value, e.g. regression targets `[N]` or `[N, 1]`, keep the noise uncentred so `r != m`). For targets
    /// (one-hot labels, probabilities): the hidden side then also sums to 1 per record, so the
    /// shadow cross-entropy has a minimum. Per-feature draws break that, and the shadow logits
    /// drift until `exp` overflows (measured: NaN within one MNIST epoch at lr 0.01,
    /// momentum 0.9, where plaintext reaches 88%).
    Record {
        /// Half-width of the uniform noise before centring.
        jitter: f64,
    },
    /// `r ~ U(low, high)`, independent of the data.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound (exclusive).
        high: f64,
    },
}

impl Default for RDistribution {
    fn default() -> Self {
        RDistribution::Empirical { jitter: 0.01 }
    }
}

/// Largest accepted magnitude of r parameters (jitter, uniform bounds). Ciphertext entries
/// grow with |r|; beyond this, f32 ciphertexts lose the message entirely and f64 ones most of it.
pub const MAX_R: f64 = 1e6;
/// Accepted range of [`KeyParams::max_condition`]: random 2x2 keys need some slack above 1,
/// and rounding errors grow with cond(S)^2 (see the README's precision section).
pub const CONDITION_RANGE: (f64, f64) = (1.5, 1e6);

impl RDistribution {
    /// Checks the parameters are finite, ordered and at most [`MAX_R`] in magnitude; the
    /// message names the bad parameter and the accepted range.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            RDistribution::Empirical { jitter } | RDistribution::Record { jitter } => {
                if (0.0..=MAX_R).contains(&jitter) {
                    Ok(())
                } else {
                    Err(format!("r jitter {} is outside [0, {MAX_R:e}]", num(jitter)))
                }
            }
            RDistribution::Uniform { low, high } => {
                let ok = |v: f64| (-MAX_R..=MAX_R).contains(&v);
                if !ok(low) || !ok(high) {
                    Err(format!(
                        "uniform r bounds {}..{} must be finite numbers in [-{MAX_R:e}, {MAX_R:e}]",
                        num(low),
                        num(high)
                    ))
                } else if low >= high {
                    Err(format!("uniform r low {} must be below high {}", num(low), num(high)))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Parameters fixed at key generation.
///
/// ```
/// let p = moreml_more::KeyParams::default();
/// assert_eq!(p.max_condition, 10.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyParams {
    /// Upper bound on cond(S) (2-norm); keys are redrawn until they satisfy it. Rounding
    /// errors of encryption, decryption and every homomorphic result grow with cond(S).
    pub max_condition: f64,
    /// Distribution of the hidden random value of inputs (features).
    pub r: RDistribution,
    /// Distribution of the hidden random value of training targets (labels).
    #[serde(default = "default_targets")]
    pub r_targets: RDistribution,
}

impl KeyParams {
    /// Checks every parameter against the ranges key generation accepts (also applied when
    /// loading a key file, so an edited file cannot smuggle in nonsense).
    pub fn validate(&self) -> Result<(), String> {
        let (lo, hi) = CONDITION_RANGE;
        if !(lo..=hi).contains(&self.max_condition) {
            return Err(format!("max_condition {} is outside [{lo}, {hi:e}]", num(self.max_condition)));
        }
        self.r.validate()?;
        self.r_targets.validate().map_err(|e| format!("targets: {e}"))
    }
}

/// A number for messages: plain when moderate, scientific when huge or tiny.
fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() || (1e-4..1e6).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

fn default_targets() -> RDistribution {
    RDistribution::Record { jitter: 0.01 }
}

impl Default for KeyParams {
    fn default() -> Self {
        Self { max_condition: 10.0, r: RDistribution::default(), r_targets: default_targets() }
    }
}
