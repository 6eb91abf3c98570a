//! `moreml attack`: one attack of `moreml-cryptanalysis` on a ciphertext file, without the key.
//!
//! Thin glue: read the files, pool the tensors, hand the planning to `moreml_cryptanalysis`
//! ([`CipherPool`], [`PoolScorer`], [`EigenPriors`], [`KnownPairs`], [`run_attack`]), write the
//! recovered plaintexts.

use anyhow::{bail, Context, Result};
use clap::Args;
use moreml_cipher::format::{self, CipherFile, Kind, PlainFile};
use moreml_cipher::{Float, PlainTensor, WireCiphertext};
use moreml_cryptanalysis::{
    run_attack, Attack, AttackInputs, CipherPool, DataModel, EigenPriors, Grid, KnownPairs, PoolScorer, RGuess,
};
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

/// The attacker's data model, shared by the attack methods (scorers and eigen priors).
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
    pub grid: Grid,
}

impl ModelOpts {
    /// The library's data model for these flags.
    fn data_model(&self) -> DataModel {
        DataModel {
            image: if self.no_image { None } else { Some(self.image.unwrap_or((28, 28))) },
            data_range: self.data_range,
            r_guess: self.r_dist,
            r_jitter: self.r_jitter,
            r_range: self.r_range,
            grid: self.grid,
        }
    }
}

/// `moreml attack`.
#[derive(Args, Debug)]
#[command(after_long_help = KNOWN_HELP)]
pub struct AttackArgs {
    /// Which attack (see --help for the threat model of each).
    #[arg(long, value_enum)]
    pub method: Attack,
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

/// Pools the tensors of a ciphertext file (one key) for the attacks; image tensors by `model`.
pub(crate) fn pool_of<'a, T: Float>(
    tensors: impl IntoIterator<Item = (&'a str, &'a WireCiphertext<T>)>,
    model: &DataModel,
) -> Result<CipherPool> {
    let mut pool = CipherPool::new();
    for (name, t) in tensors {
        pool.push(name, t.shape(), t.raw().iter().map(|x| x.f64()), model.image_of(t.shape()))?;
    }
    Ok(pool)
}

/// Named tensors as (name, logical shape, values in f64).
type Tensors = Vec<(String, Vec<usize>, Vec<f64>)>;

/// Reads every tensor of a plaintext file as f64; `flag` and `what` say in errors what it is for.
fn read_plain_f64(path: &Path, flag: &str, what: &str) -> Result<Tensors> {
    let info = format::read_info(path)?;
    if info.kind != Kind::Plaintext {
        bail!(
            "{} is a ciphertext file; {flag} takes {what} as a plaintext file (see `moreml attack --help`)",
            path.display()
        );
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

/// Reads a ciphertext file as f64: (key id, tensors).
fn read_cipher_f64(path: &Path) -> Result<(String, Tensors)> {
    let info = format::read_info(path)?;
    if info.kind != Kind::Ciphertext {
        bail!("{} is a plaintext file, not a ciphertext file", path.display());
    }
    fn conv<T: Float>(f: CipherFile<T>) -> (String, Tensors) {
        let tensors =
            f.tensors.into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.raw().iter().map(|x| x.f64()).collect()));
        (f.key.key_id.clone(), tensors.collect())
    }
    Ok(match info.dtype {
        "f64" => conv(format::read_cipher::<f64>(path)?),
        _ => conv(format::read_cipher::<f32>(path)?),
    })
}

/// The known pairs of --known (and --known-ciphertexts), format in [`KNOWN_HELP`].
fn load_known(a: &AttackArgs, key_id: &str, pool: &CipherPool) -> Result<Option<KnownPairs>> {
    let Some(path) = &a.known else { return Ok(None) };
    let plain = read_plain_f64(path, "--known", "the known PLAINTEXTS")
        .with_context(|| format!("cannot read --known {}", path.display()))?;
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
    let mut pairs = KnownPairs::new();
    for (name, _, values) in &plain {
        let cts: &[f64] = match &external {
            Some(t) => {
                let Some((_, _, c)) = t.iter().find(|(n, _, _)| n == name) else {
                    let names: Vec<&str> = t.iter().map(|x| x.0.as_str()).collect();
                    bail!(
                        "--known has tensor '{name}' but --known-ciphertexts has none of that name (it has: {})",
                        names.join(", ")
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
                let Some(seg) = pool.segment(name) else {
                    bail!("--known has tensor '{name}' but --input has none of that name (it has: {}); name the tensors as in --input, or pass --known-ciphertexts", pool.names());
                };
                if values.len() > seg.range.len() {
                    bail!("known tensor '{name}' has {} values but --input's '{name}' only {}; the known values are a prefix of the input tensor", values.len(), seg.range.len());
                }
                pool.ciphertexts(seg.range.start..seg.range.start + values.len())
                    .context("internal: segment outside the pool")?
            }
        };
        pairs.add_known(values, cts).with_context(|| format!("known tensor '{name}'"))?;
    }
    if pairs.is_empty() {
        bail!("--known {} holds no known value (all NaN, or no tensors)", path.display());
    }
    Ok(Some(pairs))
}

/// `moreml attack`: checks the input kind, then attacks with the file's scalar type.
pub fn attack(a: &AttackArgs) -> Result<()> {
    let info = format::read_info(&a.input).with_context(|| format!("cannot read --input {}", a.input.display()))?;
    if info.kind != Kind::Ciphertext {
        bail!(
            "--input {} is a plaintext file; `moreml attack` recovers plaintexts from a ciphertext file",
            a.input.display()
        );
    }
    if a.method.needs_known_pairs() && a.known.is_none() {
        bail!(
            "--method {} needs known plaintexts: pass --known PLAIN.safetensors (format in `moreml attack --help`)",
            a.method.name()
        );
    }
    crate::commands::common::with_dtype!(crate::commands::common::Dtype::of_name(info.dtype)?, attack_as(a))
}

fn attack_as<T: Float>(a: &AttackArgs) -> Result<()> {
    let t0 = Instant::now();
    let method = a.method;
    let model = a.model.data_model();
    let file = format::read_cipher::<T>(&a.input)?;
    let pool = pool_of(file.tensors.iter().map(|(n, t)| (n.as_str(), t)), &model)?;
    if pool.is_empty() {
        bail!("--input {} holds no ciphertexts", a.input.display());
    }
    let pairs = load_known(a, &file.key.key_id, &pool)?;
    if pairs.is_some() && method.ignores_known_pairs() {
        eprintln!("moreml: note: --method {} is ciphertext-only; --known is ignored", method.name());
    }
    let scorer = PoolScorer::new(&pool, model.data_range);
    let priors = if method == Attack::Eigen {
        let public = match &a.public_samples {
            Some(p) => Some(
                read_plain_f64(p, "--public-samples", "public sample PLAINTEXTS")
                    .with_context(|| format!("cannot read --public-samples {}", p.display()))?
                    .into_iter()
                    .flat_map(|t| t.2)
                    .collect::<Vec<_>>(),
            ),
            None => None,
        };
        Some(
            EigenPriors::build(pool.cts(), &model, public.as_deref())
                .context("cannot build the eigen priors (--grid, --r-jitter, --data-range, --public-samples)")?,
        )
    } else {
        None
    };
    let used_pairs = if method.ignores_known_pairs() { None } else { pairs.as_ref() };
    let inputs = AttackInputs { pairs: used_pairs, scorer: &scorer, priors: priors.as_ref() };
    let t1 = Instant::now();
    let out = run_attack(method, pool.cts(), &inputs)
        .with_context(|| format!("attack {} on {} failed", method.name(), a.input.display()))?;
    let attack_secs = t1.elapsed().as_secs_f64();
    let mut tensors = Vec::with_capacity(pool.segments().len());
    for s in pool.segments() {
        let v: Vec<T> = out.recovered[s.range.clone()].iter().map(|x| T::of(*x)).collect();
        tensors.push((s.name.clone(), PlainTensor::from_vec(&s.shape, v)?));
    }
    let mut extra = file.extra.clone();
    extra.insert("moreml.recovered_by".into(), format!("moreml attack --method {} (no key)", method.name()));
    format::write_plain(&a.output, &PlainFile { tensors, extra })?;
    let scorer_desc = if method.uses_scorer(out.known_pairs_used > 0) {
        format!(" Data scorer: {}.", scorer.describe())
    } else {
        String::new()
    };
    eprintln!(
        "attack {} (no key) on {}: threat model: {}. Used {} ciphertext(s) from {} tensor(s) under key {} and {} known pair(s){}.{} \
         Wrote the recovered plaintexts to {} in {:.2} s (attack {:.3} s). Notes: {}",
        method.name(),
        a.input.display(),
        out.threat_model,
        out.ciphertexts_used,
        pool.segments().len(),
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
