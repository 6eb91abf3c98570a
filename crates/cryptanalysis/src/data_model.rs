//! The attacker's model of the data (range, images, pixel grid) and of the key's r distribution,
//! and the priors of attack D built from it, from the ciphertexts and from public samples.

use crate::error::{AttackError, Result};
use crate::mat2::{eigenvalues, frob};
use crate::pool::image_shape;
use crate::prior::{AtomPrior, Histogram, Prior, QuantizedPrior, UniformPrior};
use crate::score::PriorScorer;
use crate::shared_eigen::{shared_eigen_detailed, EigenReference};
use std::fmt;
use std::str::FromStr;

/// The grid step of u8 pixels scaled to [0, 1] (MNIST): 1/255.
pub const PIXEL_GRID: f64 = 1.0 / 255.0;

/// The attacker's guess of how the key drew r (Kerckhoffs: the scheme and its parameters are
/// public, the key is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RGuess {
    /// Empirical distribution of the data plus uniform jitter (the library default).
    #[default]
    Empirical,
    /// Uniform in the guessed r range (`--r-range`).
    Uniform,
}

/// Whether attack D's data prior puts the plaintexts on a grid `k * step`.
///
/// ```
/// use moreml_cryptanalysis::Grid;
/// assert_eq!("auto".parse::<Grid>().unwrap(), Grid::Auto);
/// assert_eq!("none".parse::<Grid>().unwrap(), Grid::Off);
/// assert_eq!("0.5".parse::<Grid>().unwrap(), Grid::Step(0.5));
/// assert!("-1".parse::<Grid>().is_err());
/// assert_eq!(Grid::Step(0.5).to_string(), "0.5");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Grid {
    /// [`PIXEL_GRID`] when the ciphertexts' eigenvalues show it (90% of the ciphertexts have an
    /// eigenvalue on it and the noise is below 1/20 of the step), else no grid.
    #[default]
    Auto,
    /// No grid.
    Off,
    /// This step (must be > 0).
    Step(f64),
}

impl FromStr for Grid {
    type Err = AttackError;

    /// `auto`, `none`, or a positive step.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "auto" => Ok(Grid::Auto),
            "none" => Ok(Grid::Off),
            t => match t.parse::<f64>() {
                Ok(x) if x > 0.0 && x.is_finite() => Ok(Grid::Step(x)),
                _ => Err(AttackError::InvalidParameter {
                    op: "grid",
                    reason: format!("expected auto, none or a positive step, got '{s}'"),
                }),
            },
        }
    }
}

impl fmt::Display for Grid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grid::Auto => f.write_str("auto"),
            Grid::Off => f.write_str("none"),
            Grid::Step(x) => write!(f, "{x}"),
        }
    }
}

/// What the attacker assumes about the plaintexts and the key's r: the inputs of the scorers
/// ([`crate::PoolScorer`]) and of attack D's priors ([`EigenPriors`]).
///
/// ```
/// use moreml_cryptanalysis::DataModel;
/// let m = DataModel::default();
/// assert_eq!((m.image, m.data_range), (Some((28, 28)), (0.0, 1.0)));
/// assert_eq!(m.image_of(&[10, 784]), Some((28, 28)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DataModel {
    /// Image shape `(h, w)` for the smoothness scorer; tensors whose last dims are `[h, w]` (or
    /// whose last dim is `h * w`) are images. `None`: no tensor is an image.
    pub image: Option<(usize, usize)>,
    /// Range (low, high) of the plaintext values.
    pub data_range: (f64, f64),
    /// How the key drew r.
    pub r_guess: RGuess,
    /// Jitter of an empirical r guess (>= 0).
    pub r_jitter: f64,
    /// Range (low, high) of a uniform r guess.
    pub r_range: (f64, f64),
    /// Plaintext grid of attack D's data prior.
    pub grid: Grid,
}

impl Default for DataModel {
    /// 28x28 images in [0, 1], the library's default key (empirical r, jitter 0.01), grid auto.
    fn default() -> Self {
        DataModel {
            image: Some((28, 28)),
            data_range: (0.0, 1.0),
            r_guess: RGuess::Empirical,
            r_jitter: 0.01,
            r_range: (0.5, 1.5),
            grid: Grid::Auto,
        }
    }
}

impl DataModel {
    /// The image shape of a tensor of `shape` under this model (see [`image_shape`]).
    pub fn image_of(&self, shape: &[usize]) -> Option<(usize, usize)> {
        image_shape(shape, self.image)
    }
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Noise level of the eigenvalues of `cts` (4 values each), measured without the key: the
/// off-diagonal part of `V^-1 C V` (common eigenvectors from the pooled reference, attack E) has
/// the size of the in-algebra error. Never below `8 eps` times the median ciphertext norm;
/// ciphertexts with a non-finite residual are skipped.
///
/// ```
/// use moreml_cryptanalysis::estimate_eigen_noise;
/// let exact = [-0.25, 1.0, -0.5, 1.25, 0.9, -0.8, 0.4, -0.3];
/// assert!(estimate_eigen_noise(&exact) < 1e-14);
/// let noisy = [-0.25, 1.0, -0.5, 1.25, 0.9, -0.8, 0.4 + 1e-6, -0.3];
/// assert!(estimate_eigen_noise(&noisy) > 1e-7);
/// ```
pub fn estimate_eigen_noise(cts: &[f64]) -> f64 {
    let norms = cts.chunks_exact(4).map(|c| frob(&[c[0], c[1], c[2], c[3]])).collect();
    let floor = 8.0 * f64::EPSILON * quantile(norms, 0.5).max(f64::MIN_POSITIVE);
    let any = PriorScorer(UniformPrior { low: -1.0, high: 1.0 });
    match shared_eigen_detailed(cts, EigenReference::Pooled, &any) {
        Ok(e) => {
            let abs: Vec<f64> = e
                .residual
                .iter()
                .zip(e.streams[0].iter().zip(&e.streams[1]))
                .map(|(r, (a, b))| r * (a.abs() + b.abs()))
                .filter(|x| x.is_finite())
                .collect();
            let max = abs.iter().copied().reduce(f64::max).unwrap_or(0.0);
            // measured on f32 files: max eigenvalue error ~ half the max off-diagonal size
            (4.0 * quantile(abs, 0.99)).max(1.5 * max).max(floor)
        }
        Err(_) => floor,
    }
}

/// A prior chosen at run time.
pub type DynPrior = Box<dyn Prior + Send + Sync>;

/// The priors of attack D, built by the attacker from the ciphertexts, public samples and the
/// [`DataModel`]'s guesses.
pub struct EigenPriors {
    /// Prior on the plaintexts.
    pub p_m: DynPrior,
    /// Prior on the key's hidden r values.
    pub p_r: DynPrior,
    /// Eigenvalue tolerance: the noise level measured without the key ([`estimate_eigen_noise`]).
    pub tol: f64,
    /// The grid step used (detected or given), if any.
    pub grid: Option<f64>,
    /// One-line description of both priors, for reports.
    pub description: String,
}

impl fmt::Debug for EigenPriors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EigenPriors")
            .field("tol", &self.tol)
            .field("grid", &self.grid)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl EigenPriors {
    /// Builds the priors for the ciphertexts `cts` (4 values each). `public`: public sample
    /// values of the data (e.g. other images of the same kind); they give a histogram data prior
    /// (with an atom at 0) and, for an empirical r guess, the r histogram. Without them the data
    /// prior is uniform on the data range (with an atom at 0 when the range holds 0).
    ///
    /// # Errors
    /// `InvalidParameter` for a bad range, jitter or sample set; `NoiseAboveGrid` when a given
    /// grid step is finer than twice the ciphertexts' noise.
    ///
    /// ```
    /// use moreml_cryptanalysis::{DataModel, EigenPriors, Grid, Prior};
    /// // S = [[2,1],[1,1]]: Enc(0.25; r=0.75), Enc(0.5; r=0.1)
    /// let cts = [-0.25, 1.0, -0.5, 1.25, 0.9, -0.8, 0.4, -0.3];
    /// let model = DataModel { grid: Grid::Off, ..DataModel::default() };
    /// let p = EigenPriors::build(&cts, &model, None).unwrap();
    /// assert!(p.grid.is_none() && p.tol < 1e-14);
    /// assert!(p.p_m.ln_pdf(0.0) > p.p_m.ln_pdf(0.5));
    /// ```
    pub fn build(cts: &[f64], model: &DataModel, public: Option<&[f64]>) -> Result<Self> {
        let invalid = |reason: String| AttackError::InvalidParameter { op: "eigen-priors", reason };
        if !(model.r_jitter >= 0.0 && model.r_jitter.is_finite()) {
            return Err(invalid(format!("r jitter must be finite and >= 0, got {}", model.r_jitter)));
        }
        let tol = estimate_eigen_noise(cts);
        let (lo, hi) = model.data_range;
        let grid = match model.grid {
            Grid::Off => None,
            Grid::Auto => {
                let step = PIXEL_GRID;
                let on = cts
                    .chunks_exact(4)
                    .filter(|c| {
                        let l = eigenvalues(&[c[0], c[1], c[2], c[3]]).lambda;
                        l.iter().any(|x| (x - (x / step).round() * step).abs() <= tol)
                    })
                    .count();
                (tol < step / 20.0 && on as f64 >= 0.9 * (cts.len() / 4) as f64).then_some(step)
            }
            Grid::Step(step) => Some(step),
        };
        if let Some(step) = grid {
            if !(step > 0.0) {
                return Err(invalid(format!("grid step must be > 0, got {step}")));
            }
            if tol >= 0.5 * step {
                return Err(AttackError::NoiseAboveGrid { step, noise: tol });
            }
        }
        let (base, base_desc): (DynPrior, String) = match public {
            Some(s) => (
                Box::new(AtomPrior::zero_atom_histogram(s, 256, lo - tol, hi + tol, tol)?),
                format!("histogram of {} public samples with an atom at 0", s.len()),
            ),
            None if lo <= 0.0 && hi >= 0.0 => (
                Box::new(AtomPrior::new(vec![(0.0, 0.5)], tol, UniformPrior::new(lo - tol, hi + tol)?)?),
                format!("uniform on [{lo}, {hi}] with an atom at 0"),
            ),
            None => (Box::new(UniformPrior::new(lo - tol, hi + tol)?), format!("uniform on [{lo}, {hi}]")),
        };
        let (p_m, m_desc): (DynPrior, String) = match grid {
            Some(step) => {
                (Box::new(QuantizedPrior::new(step, tol, base)?), format!("{base_desc}, on the grid {step:.6}"))
            }
            None => (base, base_desc),
        };
        let jitter = model.r_jitter;
        let (p_r, r_desc): (DynPrior, String) = match (model.r_guess, public) {
            (RGuess::Empirical, Some(s)) => (
                Box::new(Histogram::from_samples_in(s, 64, lo, hi)?.jittered(jitter + tol)?),
                format!("empirical: 64-bin histogram of the public samples, jitter {jitter}"),
            ),
            (RGuess::Empirical, None) => (
                Box::new(UniformPrior::new(lo - jitter - tol, hi + jitter + tol)?),
                format!("empirical guessed as uniform on the data range +- {jitter}"),
            ),
            (RGuess::Uniform, _) => {
                let (a, b) = model.r_range;
                (Box::new(UniformPrior::new(a - tol, b + tol)?), format!("uniform on [{a}, {b}]"))
            }
        };
        Ok(EigenPriors {
            p_m,
            p_r,
            tol,
            grid,
            description: format!("p_m: {m_desc}; p_r: {r_desc}; eigenvalue tolerance {tol:.2e}"),
        })
    }
}
