//! Priors (log-densities) on plaintexts and on the key's hidden r values, for attacks D and A/E scoring.

use crate::error::{AttackError, Result};
use rand::{Rng, RngCore};

/// A one-dimensional distribution known (or guessed) by the attacker.
///
/// ```
/// use moreml_cryptanalysis::{Prior, UniformPrior};
/// let p = UniformPrior::new(0.0, 2.0).unwrap();
/// assert!((p.ln_pdf(1.0) - 0.5f64.ln()).abs() < 1e-12);
/// assert_eq!(p.ln_pdf(3.0), f64::NEG_INFINITY);
/// ```
pub trait Prior {
    /// Natural log of the density at `x` (may be `-inf` outside the support).
    fn ln_pdf(&self, x: f64) -> f64;
    /// One draw (used for Monte Carlo predictions).
    fn sample(&self, rng: &mut dyn RngCore) -> f64;
}

impl<P: Prior + ?Sized> Prior for &P {
    fn ln_pdf(&self, x: f64) -> f64 {
        (**self).ln_pdf(x)
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        (**self).sample(rng)
    }
}

/// Relative width of the band around a support edge that still counts as inside (absorbs rounding).
pub const EDGE_TOL: f64 = 1e-9;

/// Uniform on `[low, high]` (edges widened by `EDGE_TOL * (high - low)` to absorb rounding).
///
/// ```
/// use moreml_cryptanalysis::{Prior, UniformPrior};
/// assert!(UniformPrior::new(0.0, 1.0).unwrap().ln_pdf(-1e-17).is_finite());
/// assert!(UniformPrior::new(1.0, 0.0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UniformPrior {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl UniformPrior {
    /// Errors unless `low < high`, both finite.
    pub fn new(low: f64, high: f64) -> Result<Self> {
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(AttackError::InvalidParameter {
                op: "uniform-prior",
                reason: format!("need finite low < high, got [{low}, {high}]"),
            });
        }
        Ok(UniformPrior { low, high })
    }
}

impl Prior for UniformPrior {
    fn ln_pdf(&self, x: f64) -> f64 {
        let w = self.high - self.low;
        let tol = EDGE_TOL * w;
        if x >= self.low - tol && x <= self.high + tol {
            -w.ln()
        } else {
            f64::NEG_INFINITY
        }
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        self.low + (self.high - self.low) * rng.random::<f64>()
    }
}

/// A histogram density on `[low, high]` with equal bins, built from public sample values (e.g.
/// public MNIST-like pixel statistics). Each bin gets a pseudo-count of `1e-6 * n / bins` so the
/// density is positive on the whole range; outside it (beyond `EDGE_TOL`) it is `-inf`.
///
/// ```
/// use moreml_cryptanalysis::{Histogram, Prior};
/// let h = Histogram::from_samples(&[0.0, 0.0, 0.0, 1.0], 4).unwrap();
/// assert!(h.ln_pdf(0.0) > h.ln_pdf(0.5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Lower end of the range.
    pub low: f64,
    /// Upper end of the range.
    pub high: f64,
    /// Probability mass of each bin (sums to 1).
    pub mass: Vec<f64>,
}

impl Histogram {
    /// Histogram of `samples` over their [min, max] range with `bins` bins.
    ///
    /// # Errors
    /// Empty or non-finite samples, `bins == 0`.
    pub fn from_samples(samples: &[f64], bins: usize) -> Result<Self> {
        let lo = samples.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = samples.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
        Self::from_samples_in(samples, bins, lo, hi)
    }

    /// Histogram of `samples` over `[low, high]` with `bins` bins (samples outside are clamped to the edge bins).
    pub fn from_samples_in(samples: &[f64], bins: usize, low: f64, high: f64) -> Result<Self> {
        let op = "histogram";
        if samples.is_empty() || bins == 0 || !(low < high) || !low.is_finite() || !high.is_finite() {
            return Err(AttackError::InvalidParameter {
                op,
                reason: format!(
                    "need samples, bins > 0 and finite low < high (got {} samples, {bins} bins, [{low}, {high}])",
                    samples.len()
                ),
            });
        }
        crate::mat2::check_finite(op, "sample", samples)?;
        let pseudo = 1e-6 * samples.len() as f64 / bins as f64;
        let mut counts = vec![pseudo; bins];
        let w = (high - low) / bins as f64;
        for x in samples {
            let b = (((x - low) / w).floor().max(0.0) as usize).min(bins - 1);
            counts[b] += 1.0;
        }
        let total: f64 = counts.iter().sum();
        Ok(Histogram { low, high, mass: counts.into_iter().map(|c| c / total).collect() })
    }

    fn width(&self) -> f64 {
        (self.high - self.low) / self.mass.len() as f64
    }

    fn cdf(&self, x: f64) -> f64 {
        let w = self.width();
        let t = ((x - self.low) / w).clamp(0.0, self.mass.len() as f64);
        let full = t.floor() as usize;
        let mut c: f64 = self.mass[..full.min(self.mass.len())].iter().sum();
        if full < self.mass.len() {
            c += self.mass[full] * (t - full as f64);
        }
        c
    }

    /// The density of `X + U(-jitter, jitter)` for X with this histogram, as a histogram with the
    /// same bin width on `[low - jitter, high + jitter]`: the r prior of an `Empirical{jitter}` key.
    ///
    /// ```
    /// use moreml_cryptanalysis::{Histogram, Prior};
    /// let h = Histogram::from_samples_in(&[0.0, 0.0, 1.0], 100, 0.0, 1.0).unwrap().jittered(0.01).unwrap();
    /// assert!(h.low < 0.0 && h.ln_pdf(-0.005).is_finite());
    /// ```
    pub fn jittered(&self, jitter: f64) -> Result<Histogram> {
        if !(jitter > 0.0 && jitter.is_finite()) {
            return Err(AttackError::InvalidParameter {
                op: "histogram-jitter",
                reason: format!("jitter must be > 0, got {jitter}"),
            });
        }
        let w = self.width();
        let (low, high) = (self.low - jitter, self.high + jitter);
        let bins = ((high - low) / w).round().max(1.0) as usize;
        let bw = (high - low) / bins as f64;
        // mass of bin [a, a + bw] = (1/2j) ∫_a^{a+bw} (F(x + j) - F(x - j)) dx, by Simpson's rule.
        let g = |x: f64| self.cdf(x + jitter) - self.cdf(x - jitter);
        let mut mass: Vec<f64> = (0..bins)
            .map(|i| {
                let a = low + i as f64 * bw;
                (g(a) + 4.0 * g(a + 0.5 * bw) + g(a + bw)) / 6.0 * bw / (2.0 * jitter)
            })
            .map(|m| m.max(1e-12 / bins as f64))
            .collect();
        let total: f64 = mass.iter().sum();
        mass.iter_mut().for_each(|m| *m /= total);
        Ok(Histogram { low, high, mass })
    }
}

impl Prior for Histogram {
    fn ln_pdf(&self, x: f64) -> f64 {
        let w = self.width();
        let tol = EDGE_TOL * (self.high - self.low);
        if !(x >= self.low - tol && x <= self.high + tol) {
            return f64::NEG_INFINITY;
        }
        let b = (((x - self.low) / w).floor().max(0.0) as usize).min(self.mass.len() - 1);
        (self.mass[b] / w).ln()
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let last = self.mass.len() - 1;
        let b = self.mass.iter().position(|m| {
            acc += m;
            acc > u
        });
        let b = b.unwrap_or(last);
        self.low + (b as f64 + rng.random::<f64>()) * self.width()
    }
}

/// Data quantised to the grid `k * step` (e.g. u8 pixels, `step = 1/255`): density `inner`
/// concentrated within `tol` of the grid points, and `inner * 1e-12` elsewhere. Against an r
/// with a continuous distribution this makes attack D pick the on-grid eigenvalue almost surely.
///
/// ```
/// use moreml_cryptanalysis::{Prior, QuantizedPrior, UniformPrior};
/// let q = QuantizedPrior::new(1.0 / 255.0, 1e-7, UniformPrior::new(0.0, 1.0).unwrap()).unwrap();
/// assert!(q.ln_pdf(3.0 / 255.0) > q.ln_pdf(3.5 / 255.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedPrior<P> {
    /// Grid step.
    pub step: f64,
    /// Distance to a grid point still counted as on the grid.
    pub tol: f64,
    /// Density of the unquantised values.
    pub inner: P,
}

impl<P: Prior> QuantizedPrior<P> {
    /// Errors unless `0 < tol < step / 2`.
    pub fn new(step: f64, tol: f64, inner: P) -> Result<Self> {
        if !(step > 0.0 && tol > 0.0 && tol < 0.5 * step && step.is_finite()) {
            return Err(AttackError::InvalidParameter {
                op: "quantized-prior",
                reason: format!("need 0 < tol < step/2, got step {step}, tol {tol}"),
            });
        }
        Ok(QuantizedPrior { step, tol, inner })
    }
}

impl<P: Prior> Prior for QuantizedPrior<P> {
    fn ln_pdf(&self, x: f64) -> f64 {
        let d = (x - (x / self.step).round() * self.step).abs();
        let base = self.inner.ln_pdf(x);
        if d <= self.tol {
            base + (self.step / (2.0 * self.tol)).ln()
        } else {
            base + (1e-12f64).ln()
        }
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        (self.inner.sample(rng) / self.step).round() * self.step
    }
}

/// Point masses ("atoms") on top of a continuous density: `mass_k` of the probability sits at
/// `value_k` (a value within `tol` of it counts as the atom), the remaining `1 - sum(mass)`
/// follows `inner`. Image data needs this: most MNIST pixels are exactly 0, and a histogram bin
/// of width 1/256 cannot tell 0 from a hidden r of 0.003, while an atom can.
///
/// ```
/// use moreml_cryptanalysis::{AtomPrior, Prior, UniformPrior};
/// let p = AtomPrior::new(vec![(0.0, 0.8)], 1e-9, UniformPrior::new(0.0, 1.0).unwrap()).unwrap();
/// assert!(p.ln_pdf(0.0) > p.ln_pdf(0.003) + 10.0);
/// assert!((p.ln_pdf(0.5) - 0.2f64.ln()).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AtomPrior<P> {
    /// `(value, mass)` of each atom; masses sum to less than 1.
    pub atoms: Vec<(f64, f64)>,
    /// Distance to an atom still counted as the atom (absorbs rounding and noise).
    pub tol: f64,
    /// Density of the rest.
    pub inner: P,
}

impl<P: Prior> AtomPrior<P> {
    /// Errors unless `tol > 0`, every mass is in `(0, 1)`, the masses sum to less than 1 and
    /// the values are finite.
    pub fn new(atoms: Vec<(f64, f64)>, tol: f64, inner: P) -> Result<Self> {
        let total: f64 = atoms.iter().map(|a| a.1).sum();
        let ok = tol > 0.0
            && tol.is_finite()
            && atoms.iter().all(|(v, m)| v.is_finite() && *m > 0.0 && *m < 1.0)
            && total < 1.0;
        if !ok {
            return Err(AttackError::InvalidParameter {
                op: "atom-prior",
                reason: format!(
                    "need tol > 0 and atom masses in (0,1) summing below 1, got tol {tol}, atoms {atoms:?}"
                ),
            });
        }
        Ok(AtomPrior { atoms, tol, inner })
    }
}

impl AtomPrior<Histogram> {
    /// The improved histogram prior: exact zeros of `samples` become an atom at 0 (mass = their
    /// fraction), the other samples a `bins`-bin histogram on `[low, high]`. Without zeros (or
    /// with only zeros) the atom is dropped or the histogram is flat.
    ///
    /// ```
    /// use moreml_cryptanalysis::{AtomPrior, Prior};
    /// let p = AtomPrior::zero_atom_histogram(&[0.0, 0.0, 0.0, 0.5], 256, 0.0, 1.0, 1e-9).unwrap();
    /// assert!(p.ln_pdf(0.0) > p.ln_pdf(0.002) + 10.0);
    /// ```
    pub fn zero_atom_histogram(samples: &[f64], bins: usize, low: f64, high: f64, tol: f64) -> Result<Self> {
        crate::mat2::check_finite("atom-prior", "sample", samples)?;
        let nonzero: Vec<f64> = samples.iter().cloned().filter(|x| *x != 0.0).collect();
        let zeros = samples.len() - nonzero.len();
        let flat = [low, high, 0.5 * (low + high)];
        let hist = Histogram::from_samples_in(if nonzero.is_empty() { &flat } else { &nonzero }, bins, low, high)?;
        let mass = (zeros as f64 / samples.len().max(1) as f64).min(1.0 - 1e-6);
        let atoms = if mass > 0.0 { vec![(0.0, mass)] } else { Vec::new() };
        Self::new(atoms, tol, hist)
    }
}

impl<P: Prior> Prior for AtomPrior<P> {
    fn ln_pdf(&self, x: f64) -> f64 {
        for (v, m) in &self.atoms {
            if (x - v).abs() <= self.tol {
                return (m / (2.0 * self.tol)).ln();
            }
        }
        let rest = 1.0 - self.atoms.iter().map(|a| a.1).sum::<f64>();
        rest.ln() + self.inner.ln_pdf(x)
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        let mut u: f64 = rng.random();
        for (v, m) in &self.atoms {
            if u < *m {
                return *v;
            }
            u -= m;
        }
        self.inner.sample(rng)
    }
}

/// Boxed priors are priors (lets a caller choose the prior at run time).
impl Prior for Box<dyn Prior + Send + Sync> {
    fn ln_pdf(&self, x: f64) -> f64 {
        (**self).ln_pdf(x)
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        (**self).sample(rng)
    }
}
