//! `moreml attack` and `moreml security-report`: the attacks of `moreml-cryptanalysis` run on
//! moreml files, without the key.
//!
//! Everything here is on the attacker's side except the security report's ground truth (the
//! report generates its own keys to encrypt its artefacts, and uses them only to measure).

use super::crypt::load_key;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use moreml_cipher::format::{self, CipherFile, Kind, PlainFile};
use moreml_cipher::{Float, PlainTensor, WireCiphertext};
use moreml_cryptanalysis::{
    add_relative_noise, eigen_attack, eigenvalues, fraction_exact_on_grid, fraction_recovered, known_pair,
    known_plaintext, linear_ciphertext_only, linear_known_pair, predicted_eigen_success, shared_eigen_detailed,
    AtomPrior, Attack, AttackOutcome, EigenReference, Histogram, ImageScorer, Prior, QuantizedPrior, StreamScorer,
    UniformPrior,
};
use moreml_more::{KeyParams, RDistribution, SecretKey};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

const KNOWN_HELP: &str = "\
Threat model: the attacker holds the ciphertext file (never the key). Every tensor of the file is
under the same key (one file = one key id), so all tensors are attacked as one pool.

Methods (see docs/more-scheme.md, 'Security: what is known'):
  linear           A. Tsaban-Lifshitz linear relation. With --known: one known pair decrypts all.
                   Without: ciphertext-only; the one unknown is fixed by the data scorer.
  known-pair       B. One known pair gives the decryption projector (needs --known).
  known-plaintext  C. Gjosteen-Strand: decryption is linear; fits it from the known pairs plus
                   the free pair (1, I) (needs --known; one pair with m != r suffices).
  eigen            D. Eigenvalues of each ciphertext are {m, r}; priors pick m.
  shared-eigen     E. Shared eigenvectors, ciphertext-only; the data scorer picks the stream.

Known-pairs format (--known): an ordinary moreml PLAINTEXT file (e.g. written by any tool that
writes safetensors, or by `moreml decrypt`). For each tensor NAME in it, the known plaintexts are
its values in row-major order, and NaN marks a value that is not known. Their ciphertexts are:
  * without --known-ciphertexts: the first values (row-major) of tensor NAME of --input, i.e. the
    known file's tensor NAME holds a prefix of the input tensor (shape [k, ...] for the first k
    records, or the full shape with NaN where unknown);
  * with --known-ciphertexts CT.safetensors: tensor NAME of that ciphertext file, which must have
    the same key id as --input and as many values as the known tensor.
known-pair and linear use the single best-conditioned pair; known-plaintext uses all of them.

Data model for the scorers and priors: values in --data-range (default 0,1). Tensors whose last
dims are [H, W] (or whose last dim is H*W) are images for the smoothness scorer: --image HxW,
default 28x28 (inferred when the last dims are [28, 28] or the last dim is 784). --no-image
turns that off. For eigen: an atom at exactly 0 (most image pixels), the 1/255 grid when the
ciphertexts show it (--grid auto), optionally a histogram of public samples (--public-samples),
and a guess of the key's r distribution (--r-dist; the library default is empirical, jitter 0.01).";

/// Attack methods (A-E).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// A: linear relation (Tsaban-Lifshitz).
    Linear,
    /// B: one known pair.
    KnownPair,
    /// C: known plaintext (Gjosteen-Strand).
    KnownPlaintext,
    /// D: eigenvalues with priors.
    Eigen,
    /// E: shared eigenvectors.
    SharedEigen,
}

/// Attacker's guess of how the key drew r.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RGuess {
    /// Empirical distribution of the data plus uniform jitter (the library default).
    Empirical,
    /// Uniform in --r-range.
    Uniform,
}

/// Priors and scorers shared by `attack` and `security-report`.
#[derive(Args, Debug, Clone)]
pub struct ModelOpts {
    /// Image shape HxW for the smoothness scorer (default: 28x28 when inferred from the shapes).
    #[arg(long, value_parser = parse_hw, value_name = "HxW")]
    pub image: Option<(usize, usize)>,
    /// Never treat tensors as images (score every value by the data range only).
    #[arg(long, conflicts_with = "image")]
    pub no_image: bool,
    /// Range LO,HI of the plaintext values: the uniform data prior and the scorers' range.
    #[arg(long, value_parser = parse_range, default_value = "0,1", value_name = "LO,HI", allow_hyphen_values = true)]
    pub data_range: (f64, f64),
    /// eigen: the attacker's guess of the key's r distribution.
    #[arg(long, value_enum, default_value_t = RGuess::Empirical)]
    pub r_dist: RGuess,
    /// eigen: jitter of the empirical r guess.
    #[arg(long, default_value_t = 0.01)]
    pub r_jitter: f64,
    /// eigen: range of the uniform r guess.
    #[arg(long, value_parser = parse_range, default_value = "0.5,1.5", value_name = "LO,HI", allow_hyphen_values = true)]
    pub r_range: (f64, f64),
    /// eigen: plaintext grid step: `auto` (1/255 if the eigenvalues show it), `none`, or a step.
    #[arg(long, default_value = "auto")]
    pub grid: String,
}

/// `moreml attack`.
#[derive(Args, Debug)]
#[command(after_long_help = KNOWN_HELP)]
pub struct AttackArgs {
    /// Which attack (see --help for the threat model of each).
    #[arg(long, value_enum)]
    pub method: Method,
    /// Ciphertext file to attack.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the recovered plaintexts (same format as `moreml decrypt` writes).
    #[arg(long)]
    pub output: PathBuf,
    /// Known plaintexts: a plaintext file (format in --help); needed by known-pair and known-plaintext.
    #[arg(long, value_name = "PLAIN.safetensors")]
    pub known: Option<PathBuf>,
    /// Ciphertexts of the known plaintexts, if not the leading values of --input's tensors.
    #[arg(long, requires = "known", value_name = "CIPHER.safetensors")]
    pub known_ciphertexts: Option<PathBuf>,
    /// eigen: public sample values (a plaintext file, all tensors pooled) for a histogram data prior.
    #[arg(long, value_name = "PLAIN.safetensors")]
    pub public_samples: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelOpts,
}

/// `moreml security-report`.
#[derive(Args, Debug)]
pub struct SecurityReportArgs {
    /// Output directory (report.json and PNGs).
    #[arg(long)]
    pub out: PathBuf,
    /// MNIST directory (default: $MOREML_MNIST_DIR; without either, a labelled synthetic set is used).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// An encrypted model (ciphertext file from `moreml train`) to attack as well.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The model's key, for ground truth only (without it the report gives agreement between attacks).
    #[arg(long, requires = "model")]
    pub model_key: Option<PathBuf>,
    /// Test images to encrypt and attack.
    #[arg(long, default_value_t = 1000)]
    pub images: usize,
    /// Relative tolerance of "recovered" (see report.json's definitions).
    #[arg(long, default_value_t = 1e-6)]
    pub rel_tol: f64,
    /// Scalar type of the ciphertexts.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Seed of keys, encryption and noise (default: random, recorded in the report).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Ciphertext scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    /// 32-bit floats.
    F32,
    /// 64-bit floats.
    F64,
}

fn parse_hw(s: &str) -> std::result::Result<(usize, usize), String> {
    let (h, w) = s.split_once(['x', 'X']).ok_or_else(|| format!("expected HxW (e.g. 28x28), got '{s}'"))?;
    let h: usize = h.trim().parse().map_err(|e| format!("bad height '{h}': {e}"))?;
    let w: usize = w.trim().parse().map_err(|e| format!("bad width '{w}': {e}"))?;
    if h == 0 || w == 0 {
        return Err("image sides must be > 0".into());
    }
    Ok((h, w))
}

fn parse_range(s: &str) -> std::result::Result<(f64, f64), String> {
    let (a, b) = s.split_once(',').ok_or_else(|| format!("expected LO,HI (e.g. 0,1), got '{s}'"))?;
    let a: f64 = a.trim().parse().map_err(|e| format!("bad LO '{a}': {e}"))?;
    let b: f64 = b.trim().parse().map_err(|e| format!("bad HI '{b}': {e}"))?;
    if !(a.is_finite() && b.is_finite() && a < b) {
        return Err(format!("need finite LO < HI, got {a},{b}"));
    }
    Ok((a, b))
}

// ---------------------------------------------------------------------------------------------
// The pool of ciphertexts and the data model

/// One tensor's place in the pooled stream.
#[derive(Clone, Debug)]
struct Segment {
    name: String,
    shape: Vec<usize>,
    range: Range<usize>,
    image: Option<(usize, usize)>,
}

/// All ciphertexts of a file, as f64, and where each tensor sits.
struct Pool {
    cts: Vec<f64>,
    segments: Vec<Segment>,
}

fn image_shape(shape: &[usize], opts: &ModelOpts) -> Option<(usize, usize)> {
    if opts.no_image {
        return None;
    }
    let (h, w) = opts.image.unwrap_or((28, 28));
    let n = shape.len();
    let trailing = n >= 2 && shape[n - 2] == h && shape[n - 1] == w;
    let flat = n >= 1 && shape[n - 1] == h * w;
    (trailing || flat).then_some((h, w))
}

fn pool_of<T: Float>(tensors: &[(String, WireCiphertext<T>)], opts: &ModelOpts) -> Pool {
    let mut cts = Vec::new();
    let mut segments = Vec::new();
    for (name, t) in tensors {
        let start = cts.len() / 4;
        cts.extend(t.raw().iter().map(|x| x.f64()));
        segments.push(Segment {
            name: name.clone(),
            shape: t.shape().to_vec(),
            range: start..start + t.numel(),
            image: image_shape(t.shape(), opts),
        });
    }
    Pool { cts, segments }
}

/// Scores a pooled stream tensor by tensor: image tensors by the smoothness scorer, the others by
/// the fraction of values in the data range; weighted by tensor size.
struct PoolScorer {
    parts: Vec<(Range<usize>, ImageScorer, bool)>,
}

impl PoolScorer {
    fn new(segments: &[Segment], (lo, hi): (f64, f64)) -> Self {
        let parts = segments
            .iter()
            .filter(|s| !s.range.is_empty())
            .map(|s| match s.image {
                Some((h, w)) => (s.range.clone(), ImageScorer::new(h, w).with_range(lo, hi), true),
                None => (s.range.clone(), ImageScorer::new(1, 1).with_range(lo, hi), false),
            })
            .collect();
        PoolScorer { parts }
    }
    fn describe(&self) -> String {
        let images = self.parts.iter().filter(|p| p.2).count();
        match (images, self.parts.len() - images) {
            (0, _) => "values in the data range".into(),
            (i, 0) => format!("image smoothness + range ({i} image tensor(s))"),
            (i, o) => format!("image smoothness + range ({i} image tensor(s)), range only ({o} other)"),
        }
    }
}

impl StreamScorer for PoolScorer {
    fn score(&self, stream: &[f64]) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for (r, s, image) in &self.parts {
            let seg = &stream[r.clone()];
            let v = if *image { s.score(seg) } else { s.in_range(seg) };
            sum += v * seg.len() as f64;
            n += seg.len();
        }
        if n == 0 {
            0.0
        } else {
            sum / n as f64
        }
    }
}

type DynPrior = Box<dyn Prior + Send + Sync>;

/// The priors of attack D, built by the attacker from the ciphertexts, public samples and guesses.
struct EigenPriors {
    p_m: DynPrior,
    p_r: DynPrior,
    tol: f64,
    grid: Option<f64>,
    description: String,
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Noise level of the eigenvalues, measured without the key: the off-diagonal part of
/// `V^-1 C V` (common eigenvectors from the pooled reference) has the size of the in-algebra error.
fn eigen_noise(pool: &Pool) -> f64 {
    let scale = quantile(pool.cts.chunks_exact(4).map(|c| c.iter().map(|x| x * x).sum::<f64>().sqrt()).collect(), 0.5);
    let floor = 8.0 * f64::EPSILON * scale.max(f64::MIN_POSITIVE);
    let any = moreml_cryptanalysis::PriorScorer(UniformPrior { low: -1.0, high: 1.0 });
    match shared_eigen_detailed(&pool.cts, EigenReference::Pooled, &any) {
        Ok(e) => {
            let abs: Vec<f64> = e
                .residual
                .iter()
                .zip(e.streams[0].iter().zip(&e.streams[1]))
                .map(|(r, (a, b))| r * (a.abs() + b.abs()))
                .collect();
            let max = abs.iter().cloned().fold(0.0, f64::max);
            // measured on f32 files: max eigenvalue error ~ half the max off-diagonal size
            (4.0 * quantile(abs, 0.99)).max(1.5 * max).max(floor)
        }
        Err(_) => floor,
    }
}

fn eigen_priors(pool: &Pool, opts: &ModelOpts, public: Option<&[f64]>) -> Result<EigenPriors> {
    let tol = eigen_noise(pool);
    let (lo, hi) = opts.data_range;
    let grid = match opts.grid.as_str() {
        "none" => None,
        "auto" => {
            let step = 1.0 / 255.0;
            let on = pool
                .cts
                .chunks_exact(4)
                .filter(|c| {
                    let l = eigenvalues(&[c[0], c[1], c[2], c[3]]).lambda;
                    l.iter().any(|x| (x - (x / step).round() * step).abs() <= tol)
                })
                .count();
            (tol < step / 20.0 && on as f64 >= 0.9 * (pool.cts.len() / 4) as f64).then_some(step)
        }
        s => Some(
            s.parse::<f64>()
                .ok()
                .filter(|x| *x > 0.0)
                .with_context(|| format!("--grid must be auto, none or a positive step, got '{s}'"))?,
        ),
    };
    if let Some(step) = grid {
        if tol >= 0.5 * step {
            bail!(
                "--grid {step}: the ciphertexts' noise ({tol:.2e}) is larger than half the grid step; use --grid none"
            );
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
        Some(step) => (Box::new(QuantizedPrior::new(step, tol, base)?), format!("{base_desc}, on the grid {step:.6}")),
        None => (base, base_desc),
    };
    let (p_r, r_desc): (DynPrior, String) = match (opts.r_dist, public) {
        (RGuess::Empirical, Some(s)) => (
            Box::new(Histogram::from_samples_in(s, 64, lo, hi)?.jittered(opts.r_jitter + tol)?),
            format!("empirical: 64-bin histogram of the public samples, jitter {}", opts.r_jitter),
        ),
        (RGuess::Empirical, None) => (
            Box::new(UniformPrior::new(lo - opts.r_jitter - tol, hi + opts.r_jitter + tol)?),
            format!("empirical guessed as uniform on the data range +- {}", opts.r_jitter),
        ),
        (RGuess::Uniform, _) => (
            Box::new(UniformPrior::new(opts.r_range.0 - tol, opts.r_range.1 + tol)?),
            format!("uniform on [{}, {}]", opts.r_range.0, opts.r_range.1),
        ),
    };
    Ok(EigenPriors {
        p_m,
        p_r,
        tol,
        grid,
        description: format!("p_m: {m_desc}; p_r: {r_desc}; eigenvalue tolerance {tol:.2e}"),
    })
}

// ---------------------------------------------------------------------------------------------
// Known pairs

/// Named tensors as (name, logical shape, values in f64).
type Tensors = Vec<(String, Vec<usize>, Vec<f64>)>;

/// A row's images: (label, server view, E recovery, D recovery).
type Picture<'a> = (&'a str, Vec<f64>, Vec<f64>, Vec<f64>);

struct KnownPairs {
    m: Vec<f64>,
    cts: Vec<f64>,
}

impl KnownPairs {
    fn len(&self) -> usize {
        self.m.len()
    }
    /// The pair whose ciphertext is farthest from a multiple of I (largest |m - r| / ||C||).
    fn best(&self) -> (f64, [f64; 4]) {
        let mut best = (0usize, -1.0);
        for (i, c) in self.cts.chunks_exact(4).enumerate() {
            let c = [c[0], c[1], c[2], c[3]];
            let l = eigenvalues(&c).lambda;
            let n = c.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
            let q = (l[0] - l[1]) / n;
            if q > best.1 {
                best = (i, q);
            }
        }
        let i = best.0;
        (self.m[i], [self.cts[4 * i], self.cts[4 * i + 1], self.cts[4 * i + 2], self.cts[4 * i + 3]])
    }
}

fn read_plain_f64(path: &Path) -> Result<Tensors> {
    let info = format::read_info(path)?;
    if info.kind != Kind::Plaintext {
        bail!("{} is a ciphertext file; --known takes the known PLAINTEXTS as a plaintext file (see `moreml attack --help`)", path.display());
    }
    fn conv<T: Float>(f: PlainFile<T>) -> Tensors {
        f.tensors
            .into_iter()
            .map(|(n, t)| (n, moreml_cipher::Domain::shape(&t).to_vec(), t.values().iter().map(|x| x.f64()).collect()))
            .collect()
    }
    Ok(match info.dtype {
        "f64" => conv(format::read_plain::<f64>(path)?),
        _ => conv(format::read_plain::<f32>(path)?),
    })
}

fn read_cipher_f64(path: &Path) -> Result<(String, Tensors)> {
    let info = format::read_info(path)?;
    if info.kind != Kind::Ciphertext {
        bail!("{} is a plaintext file, not a ciphertext file", path.display());
    }
    fn conv<T: Float>(f: CipherFile<T>) -> (String, Tensors) {
        (
            f.key.key_id.clone(),
            f.tensors
                .into_iter()
                .map(|(n, t)| (n, t.shape().to_vec(), t.raw().iter().map(|x| x.f64()).collect()))
                .collect(),
        )
    }
    Ok(match info.dtype {
        "f64" => conv(format::read_cipher::<f64>(path)?),
        _ => conv(format::read_cipher::<f32>(path)?),
    })
}

fn load_known(a: &AttackArgs, key_id: &str, pool: &Pool) -> Result<Option<KnownPairs>> {
    let Some(path) = &a.known else { return Ok(None) };
    let plain = read_plain_f64(path).with_context(|| format!("cannot read --known {}", path.display()))?;
    let external = match &a.known_ciphertexts {
        Some(p) => {
            let (kid, t) =
                read_cipher_f64(p).with_context(|| format!("cannot read --known-ciphertexts {}", p.display()))?;
            if kid != key_id {
                bail!("--known-ciphertexts {} is under key {kid} but --input is under key {key_id}; known pairs must be under the attacked key", p.display());
            }
            Some(t)
        }
        None => None,
    };
    let mut pairs = KnownPairs { m: Vec::new(), cts: Vec::new() };
    for (name, _, values) in &plain {
        let cts: &[f64] = match &external {
            Some(t) => {
                let Some((_, _, c)) = t.iter().find(|(n, _, _)| n == name) else {
                    bail!(
                        "--known has tensor '{name}' but --known-ciphertexts has none of that name (it has: {})",
                        t.iter().map(|x| x.0.as_str()).collect::<Vec<_>>().join(", ")
                    );
                };
                if c.len() != 4 * values.len() {
                    bail!(
                        "known tensor '{name}' has {} values but its ciphertext tensor has {}",
                        values.len(),
                        c.len() / 4
                    );
                }
                c
            }
            None => {
                let Some(seg) = pool.segments.iter().find(|s| s.name == *name) else {
                    bail!("--known has tensor '{name}' but --input has none of that name (it has: {}); name the tensors as in --input, or pass --known-ciphertexts", pool.segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "));
                };
                if values.len() > seg.range.len() {
                    bail!("known tensor '{name}' has {} values but --input's '{name}' only {}; the known values are a prefix of the input tensor", values.len(), seg.range.len());
                }
                &pool.cts[4 * seg.range.start..4 * (seg.range.start + values.len())]
            }
        };
        for (i, m) in values.iter().enumerate() {
            if m.is_finite() {
                pairs.m.push(*m);
                pairs.cts.extend_from_slice(&cts[4 * i..4 * i + 4]);
            }
        }
    }
    if pairs.len() == 0 {
        bail!("--known {} holds no known value (all NaN, or no tensors)", path.display());
    }
    Ok(Some(pairs))
}

// ---------------------------------------------------------------------------------------------
// Running one attack

/// What one run needs besides the ciphertexts.
struct Inputs<'a> {
    pairs: Option<&'a KnownPairs>,
    scorer: &'a PoolScorer,
    priors: Option<&'a EigenPriors>,
}

fn run_method(method: Method, cts: &[f64], inp: &Inputs) -> Result<AttackOutcome> {
    let need = |what: &str| -> Result<&KnownPairs> {
        inp.pairs.with_context(|| format!("--method {what} needs known plaintexts: pass --known PLAIN.safetensors (format in `moreml attack --help`)"))
    };
    Ok(match method {
        Method::Linear => match inp.pairs {
            Some(p) => {
                let (m, c) = p.best();
                linear_known_pair(m, &c, cts)?
            }
            None => linear_ciphertext_only(cts, inp.scorer)?,
        },
        Method::KnownPair => {
            let (m, c) = need("known-pair")?.best();
            known_pair(m, &c, cts)?
        }
        Method::KnownPlaintext => {
            let p = need("known-plaintext")?;
            known_plaintext(&p.m, &p.cts, cts, true)?
        }
        Method::Eigen => {
            let pr = inp.priors.context("internal: eigen without priors")?;
            let mut out = eigen_attack(cts, &pr.p_m, &pr.p_r)?;
            out.notes.push(pr.description.clone());
            out
        }
        Method::SharedEigen => shared_eigen_detailed(cts, EigenReference::BestSingle, inp.scorer)?.into_outcome(),
    })
}

fn attack_of(m: Method) -> Attack {
    match m {
        Method::Linear => Attack::Linear,
        Method::KnownPair => Attack::KnownPair,
        Method::KnownPlaintext => Attack::KnownPlaintext,
        Method::Eigen => Attack::Eigen,
        Method::SharedEigen => Attack::SharedEigen,
    }
}

pub fn attack(a: &AttackArgs) -> Result<()> {
    let info = format::read_info(&a.input).with_context(|| format!("cannot read --input {}", a.input.display()))?;
    if info.kind != Kind::Ciphertext {
        bail!(
            "--input {} is a plaintext file; `moreml attack` recovers plaintexts from a ciphertext file",
            a.input.display()
        );
    }
    super::with_dtype!(info.dtype, attack_as(a))
}

fn attack_as<T: Float>(a: &AttackArgs) -> Result<()> {
    let t0 = Instant::now();
    let file = format::read_cipher::<T>(&a.input)?;
    let pool = pool_of(&file.tensors, &a.model);
    if pool.cts.is_empty() {
        bail!("--input {} holds no ciphertexts", a.input.display());
    }
    let pairs = load_known(a, &file.key.key_id, &pool)?;
    if pairs.is_some() && matches!(a.method, Method::Eigen | Method::SharedEigen) {
        eprintln!("moreml: note: --method {} is ciphertext-only; --known is ignored", attack_of(a.method).name());
    }
    let scorer = PoolScorer::new(&pool.segments, a.model.data_range);
    let public = match &a.public_samples {
        Some(p) => Some(
            read_plain_f64(p)
                .with_context(|| format!("cannot read --public-samples {}", p.display()))?
                .into_iter()
                .flat_map(|t| t.2)
                .collect::<Vec<_>>(),
        ),
        None => None,
    };
    let priors = if a.method == Method::Eigen { Some(eigen_priors(&pool, &a.model, public.as_deref())?) } else { None };
    let pairs_used = if matches!(a.method, Method::Eigen | Method::SharedEigen) { None } else { pairs.as_ref() };
    let inp = Inputs { pairs: pairs_used, scorer: &scorer, priors: priors.as_ref() };
    let t1 = Instant::now();
    let out = run_method(a.method, &pool.cts, &inp)
        .with_context(|| format!("attack {} on {} failed", attack_of(a.method).name(), a.input.display()))?;
    let attack_secs = t1.elapsed().as_secs_f64();
    let mut tensors = Vec::with_capacity(pool.segments.len());
    for s in &pool.segments {
        let v: Vec<T> = out.recovered[s.range.clone()].iter().map(|x| T::of(*x)).collect();
        tensors.push((s.name.clone(), PlainTensor::from_vec(&s.shape, v)?));
    }
    let mut extra = file.extra.clone();
    extra.insert(
        "moreml.recovered_by".into(),
        format!("moreml attack --method {} (no key)", attack_of(a.method).name()),
    );
    format::write_plain(&a.output, &PlainFile { tensors, extra })?;
    let scorer_desc = match a.method {
        Method::SharedEigen => format!(" Data scorer: {}.", scorer.describe()),
        Method::Linear if out.known_pairs_used == 0 => format!(" Data scorer: {}.", scorer.describe()),
        _ => String::new(),
    };
    eprintln!(
        "attack {} (no key) on {}: threat model: {}. Used {} ciphertext(s) from {} tensor(s) under key {} and {} known pair(s){}.{} \
         Wrote the recovered plaintexts to {} in {:.2} s (attack {:.3} s). Notes: {}",
        attack_of(a.method).name(),
        a.input.display(),
        out.threat_model,
        out.ciphertexts_used,
        pool.segments.len(),
        file.key.key_id,
        out.known_pairs_used,
        if out.used_free_identity { " plus the free pair (1, I)" } else { "" },
        scorer_desc,
        a.output.display(),
        t0.elapsed().as_secs_f64(),
        attack_secs,
        out.notes.join("; ")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// security-report

const PIXEL_STEP: f64 = 1.0 / 255.0;
const NOISE_SIGMAS: [f64; 2] = [1e-6, 1e-3];

/// The attacked data: images in [0, 1], shape [n, h, w], and public samples for priors.
struct DataSet {
    name: String,
    synthetic: bool,
    images: Vec<f64>,
    labels: Vec<u8>,
    n: usize,
    h: usize,
    w: usize,
    public: Vec<f64>,
}

fn load_data(a: &SecurityReportArgs, rng: &mut impl Rng) -> Result<DataSet> {
    let n = a.images.max(2);
    match moreml_datasets::resolve_mnist_dir(a.data_dir.as_deref()) {
        Ok(dir) => {
            let m = moreml_datasets::Mnist::load(&dir)
                .with_context(|| format!("cannot load MNIST from {}", dir.display()))?;
            let m = m.subset(10_000, n);
            let images: Vec<f64> = m.test_images_normalized::<f64>();
            Ok(DataSet {
                name: format!("MNIST test images (first {}), from {}", m.n_test(), dir.display()),
                synthetic: false,
                n: m.n_test(),
                h: m.rows,
                w: m.cols,
                labels: m.test_labels.clone(),
                images,
                public: m.train_images_normalized::<f64>(),
            })
        }
        Err(_) => {
            // The project's built-in synthetic digits: 500 "public" samples for the priors,
            // `n` to attack.
            let m = moreml_datasets::Mnist::synthetic(500, n, rng.random());
            Ok(DataSet {
                name: format!("SYNTHETIC seven-segment digits ({n} of 28x28 on the 1/255 grid): MNIST not found (pass --data-dir or set MOREML_MNIST_DIR)"),
                synthetic: true,
                images: m.test_images_normalized::<f64>(),
                labels: m.test_labels.clone(),
                n,
                h: m.rows,
                w: m.cols,
                public: m.train_images_normalized::<f64>(),
            })
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Errs {
    frac: f64,
    grid: f64,
    max_abs: f64,
    rms: f64,
}

fn errs(rec: &[f64], truth: &[f64], rel_tol: f64) -> Errs {
    let d: Vec<f64> = rec.iter().zip(truth).map(|(a, b)| (a - b).abs()).collect();
    Errs {
        frac: fraction_recovered(rec, truth, rel_tol),
        grid: fraction_exact_on_grid(rec, truth, PIXEL_STEP),
        max_abs: d.iter().cloned().fold(0.0, |a, b| if b.is_nan() { f64::INFINITY } else { a.max(b) }),
        rms: (d.iter().map(|x| x * x).sum::<f64>() / d.len().max(1) as f64).sqrt(),
    }
}

fn errs_json(e: Option<Errs>) -> Value {
    match e {
        Some(e) => {
            json!({"fraction_recovered": e.frac, "fraction_exact_on_grid": e.grid, "max_abs_error": e.max_abs, "rms_error": e.rms})
        }
        None => {
            json!({"fraction_recovered": null, "fraction_exact_on_grid": null, "max_abs_error": null, "rms_error": null})
        }
    }
}

/// The attack runs of one report row.
struct Run {
    label: &'static str,
    method: Method,
    outcome: AttackOutcome,
    secs: f64,
}

/// Runs all attacks (A twice: ciphertext-only and with one known pair).
fn run_all(cts: &[f64], pairs: Option<&KnownPairs>, scorer: &PoolScorer, priors: &EigenPriors) -> Vec<Result<Run>> {
    let plan: [(&'static str, Method, bool); 6] = [
        ("linear (ciphertext-only)", Method::Linear, false),
        ("linear (1 known pair)", Method::Linear, true),
        ("known-pair", Method::KnownPair, true),
        ("known-plaintext", Method::KnownPlaintext, true),
        ("eigen", Method::Eigen, false),
        ("shared-eigen", Method::SharedEigen, false),
    ];
    plan.iter()
        .map(|&(label, method, with_pairs)| {
            let p = if with_pairs { pairs } else { None };
            if with_pairs && p.is_none() {
                bail!("{label}: no known pair under this key");
            }
            let inp = Inputs { pairs: p, scorer, priors: Some(priors) };
            let t = Instant::now();
            let outcome = run_method(method, cts, &inp)?;
            Ok(Run { label, method, outcome, secs: t.elapsed().as_secs_f64() })
        })
        .collect()
}

fn runs_json(runs: &[Result<Run>], truth: Option<&[f64]>, rel_tol: f64, predicted_d: Option<(f64, f64)>) -> Vec<Value> {
    runs.iter()
        .map(|r| match r {
            Ok(r) => {
                let e = truth.map(|t| errs(&r.outcome.recovered, t, rel_tol));
                let mut v = json!({
                    "attack": r.label,
                    "method": attack_of(r.method).name(),
                    "threat_model": r.outcome.threat_model,
                    "ciphertexts_used": r.outcome.ciphertexts_used,
                    "known_pairs_used": r.outcome.known_pairs_used,
                    "used_free_identity": r.outcome.used_free_identity,
                    "seconds": r.secs,
                    "notes": r.outcome.notes,
                });
                merge(&mut v, errs_json(e));
                if let (Method::Eigen, Some((pred, tol)), Some(t)) = (r.method, predicted_d, truth) {
                    let hit = r.outcome.recovered.iter().zip(t).filter(|(x, m)| (*x - *m).abs() <= tol).count();
                    v["predicted_rate"] = json!(pred);
                    v["measured_rate"] = json!(hit as f64 / t.len().max(1) as f64);
                }
                v
            }
            Err(e) => json!({"attack": "?", "error": format!("{e:#}")}),
        })
        .collect()
}

fn merge(dst: &mut Value, src: Value) {
    if let (Some(d), Value::Object(s)) = (dst.as_object_mut(), src) {
        d.extend(s);
    }
}

fn key_json(key: &SecretKey) -> Value {
    json!({"key_id": key.key_id(), "condition": key.condition(), "r": format!("{:?}", key.params().r)})
}

fn to_wire<T: Float>(cts: &[f64], n: usize) -> Result<WireCiphertext<T>> {
    Ok(WireCiphertext::from_vec(&[n], cts.iter().map(|x| T::of(*x)).collect())?)
}

/// Encrypts the data set under a fresh key and attacks it; returns the row's JSON and the
/// images to draw (E and D recoveries).
/// Image 0 under noise: (sigma, server view, honest decryption, E, D).
type NoisePics = Vec<(f64, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>)>;

#[allow(clippy::type_complexity)]
fn attack_row<T: Float>(
    data: &DataSet,
    params: KeyParams,
    label: &str,
    a: &SecurityReportArgs,
    rng: &mut rand_chacha::ChaCha20Rng,
    with_noise: bool,
) -> Result<(Value, Vec<f64>, Vec<f64>, Vec<f64>, Vec<Value>, NoisePics)> {
    let key = SecretKey::generate_with_rng(params, rng)?;
    let shape = [data.n, data.h, data.w];
    let plain = PlainTensor::<T>::from_vec(&shape, data.images.iter().map(|x| T::of(*x)).collect())?;
    let truth: Vec<f64> = plain.values().iter().map(|x| x.f64()).collect();
    let te = Instant::now();
    let wire = key.encrypt_with_rng(&plain, rng)?;
    let enc_secs = te.elapsed().as_secs_f64();
    let honest: Vec<f64> = key.decrypt(&wire)?.values.values().iter().map(|x| x.f64()).collect();
    // Kerckhoffs: the attacker knows the scheme and its r parameters (not the key).
    let (r_dist, r_jitter, r_range) = match params.r {
        RDistribution::Uniform { low, high } => (RGuess::Uniform, 0.01, (low, high)),
        RDistribution::Empirical { jitter } | RDistribution::Record { jitter } => {
            (RGuess::Empirical, jitter, (0.5, 1.5))
        }
    };
    let opts = ModelOpts {
        image: Some((data.h, data.w)),
        no_image: false,
        data_range: (0.0, 1.0),
        r_dist,
        r_jitter,
        r_range,
        grid: "auto".into(),
    };
    let pool = pool_of(&[("images".to_string(), wire.clone())], &opts);
    let scorer = PoolScorer::new(&pool.segments, opts.data_range);
    // The attacker knows the first image (e.g. a public example that was in the data set).
    let px = data.h * data.w;
    let pairs = KnownPairs { m: truth[..px].to_vec(), cts: pool.cts[..4 * px].to_vec() };
    let (bm, bc) = pairs.best();
    let one = KnownPairs { m: vec![bm], cts: bc.to_vec() };
    let priors = eigen_priors(&pool, &opts, Some(&data.public))?;
    let predicted = predicted_eigen_success(&priors.p_m, &priors.p_r, 200_000, 11)?;
    let runs = run_all(&pool.cts, Some(&one), &scorer, &priors);
    let find = |m: Method| {
        runs.iter()
            .filter_map(|r| r.as_ref().ok())
            .find(|r| r.method == m)
            .map(|r| r.outcome.recovered.clone())
            .unwrap_or_else(|| vec![f64::NAN; truth.len()])
    };
    let (e_rec, d_rec) = (find(Method::SharedEigen), find(Method::Eigen));
    let mut noise_rows = Vec::new();
    let mut noise_pics = Vec::new();
    if with_noise {
        for (i, sigma) in NOISE_SIGMAS.into_iter().enumerate() {
            let noisy: Vec<f64> = add_relative_noise(&pool.cts, sigma, 1000 + i as u64)?;
            let noisy_t = to_wire::<T>(&noisy, truth.len())?;
            let noisy_pool = pool_of(&[("images".to_string(), noisy_t.clone())], &opts);
            let honest_n: Vec<f64> = key.decrypt_unchecked(&noisy_t).values.values().iter().map(|x| x.f64()).collect();
            let known_idx = pairs.m.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).map(|x| x.0).unwrap_or(0);
            let one_n = KnownPairs {
                m: vec![pairs.m[known_idx]],
                cts: noisy_pool.cts[4 * known_idx..4 * known_idx + 4].to_vec(),
            };
            let pr = eigen_priors(&noisy_pool, &opts, Some(&data.public))?;
            let runs_n = run_all(&noisy_pool.cts, Some(&one_n), &scorer, &pr);
            let pick = |m: Method| {
                runs_n
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .find(|r| r.method == m)
                    .map(|r| r.outcome.recovered[..px].to_vec())
                    .unwrap_or_else(|| vec![f64::NAN; px])
            };
            let view: Vec<f64> = noisy_pool.cts[..4 * px].chunks_exact(4).map(|c| c[0]).collect();
            noise_pics.push((sigma, view, honest_n[..px].to_vec(), pick(Method::SharedEigen), pick(Method::Eigen)));
            noise_rows.push(json!({
                "sigma": sigma,
                "honest_decryption": errs_json(Some(errs(&honest_n, &truth, a.rel_tol))),
                "eigen_prior": pr.description,
                "attacks": runs_json(&runs_n, Some(&truth), a.rel_tol, None),
            }));
        }
    }
    let row = json!({
        "row": label,
        "key": key_json(&key),
        "dtype": T::NAME,
        "ciphertexts": truth.len(),
        "encrypt_seconds": enc_secs,
        "honest_decryption": errs_json(Some(errs(&honest, &truth, a.rel_tol))),
        "known_pairs_available": format!("the {} pixels of image 0; 1 best-conditioned pair used", px),
        "eigen_prior": priors.description,
        "eigen_grid_detected": priors.grid,
        "eigen_tolerance": priors.tol,
        "attacks": runs_json(&runs, Some(&truth), a.rel_tol, Some((predicted, priors.tol))),
    });
    let server: Vec<f64> = pool.cts.chunks_exact(4).map(|c| c[0]).collect();
    Ok((row, server, e_rec, d_rec, noise_rows, noise_pics))
}

fn model_section<T: Float>(
    path: &Path,
    a: &SecurityReportArgs,
    data: &DataSet,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Result<Value> {
    let file = format::read_cipher::<T>(path).with_context(|| format!("cannot read --model {}", path.display()))?;
    let opts = ModelOpts {
        image: None,
        no_image: true,
        data_range: (-1e3, 1e3),
        r_dist: RGuess::Empirical,
        r_jitter: 0.01,
        r_range: (0.5, 1.5),
        grid: "none".into(),
    };
    let key = match &a.model_key {
        Some(k) => {
            let key = load_key(k)?;
            key.check_tag(&file.key)
                .with_context(|| format!("--model-key does not match --model {}", path.display()))?;
            Some(key)
        }
        None => None,
    };
    let mut pool = pool_of(&file.tensors, &opts);
    let n_model = pool.cts.len() / 4;
    if n_model == 0 {
        bail!("--model {} holds no ciphertexts", path.display());
    }
    let truth: Option<Vec<f64>> = key.as_ref().map(|k| {
        file.tensors
            .iter()
            .flat_map(|(_, t)| k.decrypt_unchecked(t).values.values().iter().map(|x| x.f64()).collect::<Vec<_>>())
            .collect()
    });
    // With the key, simulate what the training server also holds: the training images encrypted
    // under the same key. They give the image scorer (E, A) and a known pair (B, C, A).
    let mut pairs = None;
    let mut same_key_images = 0;
    if let Some(k) = &key {
        let m = data.n.min(100);
        let px = data.h * data.w;
        let imgs = PlainTensor::<T>::from_vec(
            &[m, data.h, data.w],
            data.images[..m * px].iter().map(|x| T::of(*x)).collect(),
        )?;
        let w = k.encrypt_with_rng(&imgs, rng)?;
        let img_cts: Vec<f64> = w.raw().iter().map(|x| x.f64()).collect();
        let kp =
            KnownPairs { m: imgs.values()[..px].iter().map(|x| x.f64()).collect(), cts: img_cts[..4 * px].to_vec() };
        let (bm, bc) = kp.best();
        pairs = Some(KnownPairs { m: vec![bm], cts: bc.to_vec() });
        pool.segments.push(Segment {
            name: "same-key images".into(),
            shape: vec![m, data.h, data.w],
            range: n_model..n_model + m * px,
            image: Some((data.h, data.w)),
        });
        pool.cts.extend(img_cts);
        same_key_images = m;
    }
    let scorer = PoolScorer::new(&pool.segments, (0.0, 1.0));
    let wide = ModelOpts { data_range: (-1e3, 1e3), ..opts.clone() };
    let priors = eigen_priors(&pool, &wide, None)?;
    let mut runs = run_all(&pool.cts, pairs.as_ref(), &scorer, &priors);
    for r in runs.iter_mut().flatten() {
        r.outcome.recovered.truncate(n_model);
        r.outcome.ciphertexts_used = pool.cts.len() / 4;
    }
    let ok: Vec<&Run> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut agreement = serde_json::Map::new();
    for x in &ok {
        for y in &ok {
            if x.label < y.label {
                agreement.insert(
                    format!("{} vs {}", x.label, y.label),
                    json!(fraction_recovered(&x.outcome.recovered, &y.outcome.recovered, a.rel_tol)),
                );
            }
        }
    }
    Ok(json!({
        "path": path.display().to_string(),
        "key_id": file.key.key_id,
        "tensors": file.tensors.iter().map(|(n, t)| json!({"name": n, "shape": t.shape()})).collect::<Vec<_>>(),
        "ciphertexts": n_model,
        "ground_truth": if key.is_some() { "decrypted with --model-key" } else { "unknown (no --model-key): fraction_recovered is null; see agreement" },
        "same_key_images_added": same_key_images,
        "note": "Weights have no public prior. With the key, the report also encrypts test images under the model's key, as the training server holds its encrypted training set: that pool gives the image scorer (A, E) and one known pixel pair (A, B, C), which then decrypt the weights. Without it, A and E pick a stream by value range only and B, C have no pair.",
        "eigen_prior": priors.description,
        "attacks": runs_json(&runs, truth.as_deref(), a.rel_tol, None),
        "agreement_between_attacks": agreement,
    }))
}

pub fn security_report(a: &SecurityReportArgs) -> Result<()> {
    match a.dtype {
        DtypeArg::F32 => security_report_as::<f32>(a),
        DtypeArg::F64 => security_report_as::<f64>(a),
    }
}

fn security_report_as<T: Float>(a: &SecurityReportArgs) -> Result<()> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create --out {}", a.out.display()))?;
    let model_dtype = match &a.model {
        Some(p) => {
            let info = format::read_info(p).with_context(|| format!("cannot read --model {}", p.display()))?;
            if info.kind != Kind::Ciphertext {
                bail!("--model {} is a plaintext file; pass the encrypted model (ciphertext file)", p.display());
            }
            Some(info.dtype)
        }
        None => None,
    };
    let seed = a.seed.unwrap_or_else(|| rand::rng().random());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let steps = 4 + a.model.is_some() as u64;
    let bar = indicatif::ProgressBar::new(steps).with_style(
        indicatif::ProgressStyle::with_template("{spinner} security report [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("loading data");
    let data = load_data(a, &mut rng)?;
    bar.inc(1);
    let rows_spec = [
        (
            "empirical r (library default)",
            KeyParams { r: RDistribution::Empirical { jitter: 0.01 }, ..KeyParams::default() },
            true,
        ),
        (
            "uniform r U(0.5, 1.5)",
            KeyParams { r: RDistribution::Uniform { low: 0.5, high: 1.5 }, ..KeyParams::default() },
            false,
        ),
    ];
    let mut rows = Vec::new();
    let mut noise = Vec::new();
    let mut pictures = Vec::new();
    let mut noise_pics = Vec::new();
    for (label, params, with_noise) in rows_spec {
        bar.set_message(format!("attacking: {label}"));
        let (row, server, e, d, nz, np) = attack_row::<T>(&data, params, label, a, &mut rng, with_noise)?;
        noise_pics.extend(np);
        rows.push(row);
        noise.extend(nz);
        pictures.push((label, server, e, d));
        bar.inc(1);
    }
    let model = match (&a.model, model_dtype) {
        (Some(p), Some(dt)) => {
            bar.set_message("attacking the model");
            let v = if dt == "f64" {
                model_section::<f64>(p, a, &data, &mut rng)?
            } else {
                model_section::<f32>(p, a, &data, &mut rng)?
            };
            bar.inc(1);
            v
        }
        _ => Value::Null,
    };
    bar.set_message("drawing");
    let pngs = draw(a, &data, &pictures, &noise_pics)?;
    bar.inc(1);
    bar.finish_and_clear();
    let report = json!({
        "format": "moreml-security-report",
        "version": 1,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "seed": seed,
        "summary": "MORE has no security level. Every attack below recovers the plaintexts from ciphertexts under a key it never sees; the ciphertext-only ones (linear ciphertext-only, eigen, shared-eigen) need nothing but a rough prior on the data.",
        "definitions": {
            "fraction_recovered": format!("fraction of values v with |recovered - v| / max(|v|, 1e-3 * max|truth|) <= rel_tol = {:e} (moreml_cryptanalysis::fraction_recovered)", a.rel_tol),
            "fraction_exact_on_grid": "fraction of values that round to the same point of the 1/255 pixel grid as the truth",
            "honest_decryption": "the key holder's decryption of the same ciphertexts, for comparison (f32 ciphertexts limit both)",
            "predicted_rate": "eigen only: Monte Carlo probability (200000 draws from the attacker's priors) that the prior picks m; compare with measured_rate",
            "measured_rate": "eigen only: fraction of ciphertexts where the eigenvalue chosen is m, i.e. |chosen - m| <= the eigenvalue tolerance (the noise level measured without the key, eigen_tolerance); f32 rounding keeps fraction_recovered below it",
            "known_pairs_used": "known (plaintext, ciphertext) pairs the attack used; the free public pair (1, I) is not counted",
            "seconds": "wall time of the attack alone (2 cores shared), excluding encryption and I/O",
        },
        "data": {"name": data.name, "synthetic": data.synthetic, "images": data.n, "height": data.h, "width": data.w, "public_samples_for_priors": data.public.len()},
        "rows": rows,
        "noise": {"description": "the empirical-r ciphertexts plus Gaussian noise of relative size sigma (E||noise||_F = sigma ||C||_F): attacks vs honest decryption (Bauer-Fike)", "rows": noise},
        "model": model,
        "pngs": pngs,
        "total_seconds": t0.elapsed().as_secs_f64(),
    });
    let path = a.out.join("report.json");
    format::write_atomic(&path, serde_json::to_string_pretty(&report)?.as_bytes(), None)?;
    eprintln!("security report: {} ({}), {:.1} s", path.display(), data.name, t0.elapsed().as_secs_f64());
    for row in report["rows"].as_array().into_iter().flatten() {
        let parts: Vec<String> = row["attacks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                format!(
                    "{} {:.4}",
                    x["attack"].as_str().unwrap_or("?"),
                    x["fraction_recovered"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect();
        eprintln!(
            "  {}: honest {:.4} | {}",
            row["row"].as_str().unwrap_or(""),
            row["honest_decryption"]["fraction_recovered"].as_f64().unwrap_or(f64::NAN),
            parts.join(", ")
        );
    }
    Ok(())
}

fn draw(a: &SecurityReportArgs, data: &DataSet, pictures: &[Picture], noise: &NoisePics) -> Result<Vec<String>> {
    use moreml_report::{image_grid, GrayImage, ImageRow};
    let (h, w) = (data.h, data.w);
    let px = h * w;
    let mut written = Vec::new();
    for (k, (label, server, e, d)) in pictures.iter().enumerate() {
        let img =
            |v: &[f64], i: usize, cap: &str| GrayImage::new(w, h, v[i * px..(i + 1) * px].to_vec()).with_caption(cap);
        let rows: Vec<ImageRow> = (0..data.n.min(6))
            .map(|i| {
                let cap = if data.synthetic {
                    format!("synthetic #{i}")
                } else {
                    format!("test #{i} (label {})", data.labels[i])
                };
                ImageRow::new(
                    cap,
                    vec![
                        img(&data.images, i, "original").with_range(0.0, 1.0),
                        img(server, i, "server view C[0][0]"),
                        img(e, i, "E shared-eigen").with_range(0.0, 1.0),
                        img(d, i, "D eigen").with_range(0.0, 1.0),
                    ],
                )
            })
            .collect();
        let name = format!("recovered_{}.png", if k == 0 { "empirical_r" } else { "uniform_r" });
        image_grid(
            a.out.join(&name),
            &format!("No key: {label}{}", if data.synthetic { " (synthetic data)" } else { "" }),
            &rows,
        )?;
        written.push(name);
    }
    if !noise.is_empty() {
        let rows: Vec<ImageRow> = noise
            .iter()
            .map(|(sigma, view, honest, e, d)| {
                let g = |v: &[f64], cap: &str| GrayImage::new(w, h, v.to_vec()).with_caption(cap);
                ImageRow::new(
                    format!("relative noise sigma = {sigma:e}"),
                    vec![
                        g(&data.images[..px], "original").with_range(0.0, 1.0),
                        g(view, "server view C[0][0]"),
                        g(honest, "honest decryption").with_range(0.0, 1.0),
                        g(e, "E shared-eigen").with_range(0.0, 1.0),
                        g(d, "D eigen").with_range(0.0, 1.0),
                    ],
                )
            })
            .collect();
        image_grid(
            a.out.join("noise.png"),
            "Noise does not help: attacks vs honest decryption (empirical-r key)",
            &rows,
        )?;
        written.push("noise.png".into());
    }
    Ok(written)
}
