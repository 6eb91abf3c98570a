//! Argument types and helpers shared by several commands.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use moreml_nn::{ModelConfig, TrainConfig};
use std::path::{Path, PathBuf};

/// Scalar type of tensors and computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum Dtype {
    /// 32-bit floats (half the memory; the loss runs in f64 for stability).
    F32,
    /// 64-bit floats.
    F64,
}

impl Dtype {
    /// From a file header's dtype name.
    pub fn of_name(name: &str) -> Result<Self> {
        match name {
            "f32" => Ok(Dtype::F32),
            "f64" => Ok(Dtype::F64),
            other => bail!("unsupported dtype {other:?} (moreml files hold f32 or f64)"),
        }
    }
}

/// Calls a generic function with the scalar type named by a [`Dtype`].
macro_rules! with_dtype {
    ($dtype:expr, $f:ident ( $($arg:expr),* )) => {
        match $dtype {
            $crate::commands::common::Dtype::F64 => $f::<f64>($($arg),*),
            $crate::commands::common::Dtype::F32 => $f::<f32>($($arg),*),
        }
    };
}
pub(crate) use with_dtype;

/// Built-in architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// features-hidden-outputs, x^2 activation.
    Mlp,
    /// conv5x5x8 - relu-poly - avgpool2 - dense hidden - relu-poly - dense outputs (square images).
    Cnn,
}

/// Which network to train: a built-in architecture or a config file.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Built-in architecture (ignored with --model-config).
    #[arg(long, value_enum, default_value_t = Arch::Mlp)]
    pub arch: Arch,
    /// Hidden units of the built-in architectures' dense hidden layer.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// A model config file (JSON or TOML: input shape, layers, loss); see README "Model configs".
    #[arg(long)]
    pub model_config: Option<PathBuf>,
}

impl ModelArgs {
    /// The model config for records of `features` values and `outputs` targets.
    pub fn config(&self, features: usize, outputs: usize, seed: u64) -> Result<ModelConfig> {
        let mut cfg = match (&self.model_config, self.arch) {
            (Some(path), _) => {
                let cfg = ModelConfig::from_file(path)?;
                let n: usize = cfg.input.iter().product();
                if n != features {
                    bail!("{}: the model takes {n} values per record, the data have {features}", path.display());
                }
                cfg
            }
            (None, Arch::Mlp) => ModelConfig::mlp(features, self.hidden, outputs),
            (None, Arch::Cnn) => {
                let side = (features as f64).sqrt().round() as usize;
                if side * side != features {
                    bail!("--arch cnn needs square one-channel images, but records have {features} values");
                }
                ModelConfig::cnn(side, 8, self.hidden, outputs)
            }
        };
        if self.model_config.is_none() {
            cfg.seed = seed;
        }
        Ok(cfg)
    }

    /// Default learning rate: 0.01 for the x^2 MLP (unstable above), 0.05 otherwise.
    pub fn default_lr(&self) -> f64 {
        if self.model_config.is_none() && self.arch == Arch::Mlp {
            0.01
        } else {
            0.05
        }
    }
}

/// Training hyper-parameters shared by `train` and the experiments.
#[derive(Args, Debug, Clone)]
pub struct HyperArgs {
    /// Passes over the training data.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Learning rate [default: 0.01 for the mlp (x^2 is unstable above), 0.05 otherwise].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Seed of the initial weights and the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl HyperArgs {
    /// As a training configuration, with `default_lr` when --lr is not given.
    pub fn train_config(&self, default_lr: f64) -> Result<TrainConfig> {
        if self.epochs == 0 {
            bail!("--epochs must be at least 1");
        }
        Ok(TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch,
            lr: self.lr.unwrap_or(default_lr),
            momentum: self.momentum,
            seed: self.seed,
        })
    }
}

/// `--distributed` of the experiments (`mnist`, `wbc experiment`, `angio experiment`).
#[derive(Args, Debug, Clone)]
pub struct ExperimentJob {
    /// Train data-parallel as one rank of an MPI job: `mpirun -np N moreml ... --distributed`.
    /// Rank 0 generates or loads the data, encrypts, evaluates and writes the report (its
    /// flags configure the job); every rank trains its share of each batch of both runs.
    /// Needs a build with `--features mpi`.
    #[arg(long)]
    pub distributed: bool,
}

/// Creates `dir` and checks that files can be written there, before any long work.
pub fn ensure_writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let probe = dir.join(format!(".moreml-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("cannot write into {}", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// Checks, before any long work, that `output` can be written and is none of `inputs`.
pub fn ensure_output(output: &Path, inputs: &[&Path]) -> Result<()> {
    moreml_cipher::format::ensure_distinct_output(output, inputs)?;
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    ensure_writable_dir(parent)
}

/// A tensor file's contents, plaintext or ciphertext, in its own scalar type.
pub enum Tensors<T: moreml_cipher::Float> {
    /// Real values.
    Plain(moreml_cipher::format::PlainFile<T>),
    /// Standard 2x2 ciphertexts and the key tag.
    Cipher(moreml_cipher::format::CipherFile<T>),
}

/// A tensor file read in one step: kind and dtype from its header.
pub enum AnyFile {
    /// An f32 file.
    F32(Tensors<f32>),
    /// An f64 file.
    F64(Tensors<f64>),
}

impl<T: moreml_cipher::Float> Tensors<T> {
    fn read(path: &Path, kind: moreml_cipher::format::Kind) -> Result<Self> {
        use moreml_cipher::format;
        Ok(match kind {
            format::Kind::Plaintext => Tensors::Plain(format::read_plain(path)?),
            format::Kind::Ciphertext => Tensors::Cipher(format::read_cipher(path)?),
        })
    }
}

/// Reads any moreml tensor file (plaintext or ciphertext, f32 or f64).
pub fn read_any(path: &Path) -> Result<AnyFile> {
    let info = moreml_cipher::format::read_info(path)?;
    Ok(match Dtype::of_name(info.dtype)? {
        Dtype::F32 => AnyFile::F32(Tensors::read(path, info.kind)?),
        Dtype::F64 => AnyFile::F64(Tensors::read(path, info.kind)?),
    })
}

/// Runs `$body` with `$t` bound to the file's [`Tensors`] in its scalar type.
macro_rules! with_file {
    ($path:expr, |$t:ident| $body:expr) => {
        match $crate::commands::common::read_any($path)? {
            $crate::commands::common::AnyFile::F32($t) => $body,
            $crate::commands::common::AnyFile::F64($t) => $body,
        }
    };
}
pub(crate) use with_file;

pub use moreml_cipher::format::ROLES_KEY;
/// Header entry with the task (`classification` or `regression`).
pub const TASK_KEY: &str = "moreml.task";

/// The input and target tensor names of a data file: from its `moreml.roles` entry, else the
/// conventional names (`images`/`labels`, `inputs`/`targets`). `need_targets` = false for
/// prediction inputs.
pub fn data_names(
    path: &Path,
    extra: &std::collections::BTreeMap<String, String>,
    names: &[&str],
    need_targets: bool,
) -> Result<(String, Option<String>)> {
    let pick = |role: &str| -> Result<Option<String>> {
        if let Some(json) = extra.get(ROLES_KEY) {
            let roles: std::collections::BTreeMap<String, String> = serde_json::from_str(json).with_context(|| {
                format!("{}: the {ROLES_KEY} header entry is not a JSON object of roles", path.display())
            })?;
            return Ok(roles.into_iter().find(|(n, r)| r == role && names.contains(&n.as_str())).map(|(n, _)| n));
        }
        let conventional: &[&str] = if role == "input" { &["images", "inputs"] } else { &["labels", "targets"] };
        Ok(conventional.iter().find(|c| names.contains(c)).map(|c| c.to_string()))
    };
    let input = pick("input")?.with_context(|| {
        format!(
            "{}: no input tensor (tensors: {}); mark one with `moreml encrypt --targets` roles or name it `inputs`",
            path.display(),
            names.join(", ")
        )
    })?;
    let target = pick("target")?;
    if need_targets && target.is_none() {
        bail!(
            "{}: no target tensor (tensors: {}); name it `targets`/`labels` or record roles with `moreml dataset`",
            path.display(),
            names.join(", ")
        );
    }
    Ok((input, target))
}

/// Whether a data file declares a regression task.
pub fn is_regression(extra: &std::collections::BTreeMap<String, String>) -> bool {
    extra.get(TASK_KEY).is_some_and(|t| t == "regression")
}

/// A progress bar for `len` units of work described by `what` (hidden when stderr is not a
/// terminal, as indicatif does by default).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}
