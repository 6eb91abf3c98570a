//! The owner/server workflow as separate commands:
//! owner `dataset` + `encrypt` -> server `train` -> server `predict` -> owner `evaluate`.

use super::with_dtype;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use moreml_cipher::format::{self, CipherFile, Kind, PlainFile};
use moreml_cipher::prelude::*;
use moreml_datasets::{resolve_mnist_dir, Mnist};
use moreml_nn::{learner, loss, persist, Model, ModelConfig, TrainConfig};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Tensor names of a data set file.
pub const IMAGES: &str = "images";
/// One-hot labels.
pub const LABELS: &str = "labels";
/// Model outputs.
pub const PREDICTIONS: &str = "predictions";

/// `moreml dataset`.
#[derive(Args, Debug)]
pub struct DatasetArgs {
    #[command(subcommand)]
    pub which: DatasetKind,
}

/// Data sets that can be exported.
#[derive(Subcommand, Debug)]
pub enum DatasetKind {
    /// MNIST as `train.safetensors` and `test.safetensors` (tensors `images` [n, 784] in [0, 1]
    /// and one-hot `labels` [n, 10]).
    Mnist {
        /// Directory with the IDX files (default: $MOREML_MNIST_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// First N training images (0 = all).
        #[arg(long, default_value_t = 0)]
        train_size: usize,
        /// First N test images (0 = all).
        #[arg(long, default_value_t = 0)]
        test_size: usize,
        /// Scalar type.
        #[arg(long, default_value = "f64", value_parser = ["f32", "f64"])]
        dtype: String,
    },
}

/// `moreml fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    #[command(subcommand)]
    pub which: FetchKind,
}

/// Data sets that can be downloaded.
#[derive(Subcommand, Debug)]
pub enum FetchKind {
    /// The four canonical MNIST IDX files, MD5-verified (the only command that uses the network).
    Mnist {
        /// Directory to download into (created if missing; verified files are kept).
        #[arg(long)]
        dir: PathBuf,
    },
}

pub fn fetch(a: &FetchArgs) -> Result<()> {
    let FetchKind::Mnist { dir } = &a.which;
    moreml_datasets::fetch_mnist(dir, true)?;
    eprintln!("MNIST is in {}; use --data-dir {} or set MOREML_MNIST_DIR", dir.display(), dir.display());
    Ok(())
}

/// `moreml train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: tensors `images` [n, features] and `labels` [n, classes], both plaintext
    /// or both ciphertexts under one key.
    #[arg(long)]
    pub data: PathBuf,
    /// Architecture: `mlp`, `cnn`, or a JSON file with a model config.
    #[arg(long, default_value = "mlp")]
    pub arch: String,
    /// Hidden units for the built-in architectures.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Where to write the model (safetensors; the architecture also goes to MODEL.json).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub hyper: HyperArgs,
}

/// Training hyper-parameters shared by `train` and the experiments.
#[derive(Args, Debug)]
pub struct HyperArgs {
    /// Passes over the training data.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Learning rate [default: 0.01 for mlp (x^2 is unstable above), 0.05 for cnn].
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
    /// As a training configuration for a built-in architecture (`"mlp"`, `"cnn"`, other).
    pub fn train_config(&self, arch: &str) -> TrainConfig {
        let lr = self.lr.unwrap_or(if arch == "cnn" { 0.05 } else { 0.01 });
        TrainConfig { epochs: self.epochs, batch_size: self.batch, lr, momentum: self.momentum, seed: self.seed }
    }
}

/// `moreml predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model written by `moreml train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs: tensor `images` [n, features] (ciphertexts under the model's key, or plaintext
    /// for a plaintext model).
    #[arg(long)]
    pub input: PathBuf,
    /// Output file with tensor `predictions` [n, classes] (same kind as the model).
    #[arg(long)]
    pub output: PathBuf,
    /// Records per forward pass.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

/// `moreml evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The secret key (needed when the predictions are encrypted).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Predictions from `moreml predict`.
    #[arg(long)]
    pub predictions: PathBuf,
    /// Plaintext file with the true one-hot `labels`.
    #[arg(long)]
    pub labels: PathBuf,
    /// Also write the metrics as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn dataset(a: &DatasetArgs) -> Result<()> {
    let DatasetKind::Mnist { data_dir, out, train_size, test_size, dtype } = &a.which;
    let dir = resolve_mnist_dir(data_dir.as_deref())?;
    let data = Mnist::load(&dir).with_context(|| format!("cannot load MNIST from {}", dir.display()))?;
    let (n, m) = (
        if *train_size == 0 { data.n_train() } else { *train_size },
        if *test_size == 0 { data.n_test() } else { *test_size },
    );
    let data = data.subset(n, m);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    with_dtype!(dtype.as_str(), export_mnist(&data, out))
}

fn export_mnist<T: Float>(data: &Mnist, out: &Path) -> Result<()> {
    for (split, images, labels, n) in [
        ("train", data.train_images_normalized::<T>(), data.train_one_hot::<T>(), data.n_train()),
        ("test", data.test_images_normalized::<T>(), data.test_one_hot::<T>(), data.n_test()),
    ] {
        let mut extra = BTreeMap::new();
        extra.insert("moreml.content".to_string(), format!("mnist-{split}"));
        let file = PlainFile {
            tensors: vec![
                (IMAGES.to_string(), PlainTensor::from_vec(&[n, 784], images)?),
                (LABELS.to_string(), PlainTensor::from_vec(&[n, 10], labels)?),
            ],
            extra,
        };
        let path = out.join(format!("{split}.safetensors"));
        format::write_plain(&path, &file)?;
        eprintln!("wrote {n} {split} records to {}", path.display());
    }
    Ok(())
}

fn model_config(a: &TrainArgs, features: usize, classes: usize) -> Result<ModelConfig> {
    let mut cfg = match a.arch.as_str() {
        "mlp" => ModelConfig::mlp(features, a.hidden, classes),
        "cnn" => {
            let side = (features as f64).sqrt() as usize;
            if side * side != features {
                bail!("--arch cnn needs square images, but records have {features} values");
            }
            ModelConfig::cnn(side, 8, a.hidden, classes)
        }
        path => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--arch {path}: not mlp/cnn and not a readable JSON file"))?;
            serde_json::from_str(&text).with_context(|| format!("--arch {path}: not a model config"))?
        }
    };
    cfg.seed = a.hyper.seed;
    Ok(cfg)
}

/// Checks `images` [n, f] and `labels` [n, k] agree; returns (n, f, k).
fn check_pair(path: &Path, images: &[usize], labels: &[usize]) -> Result<(usize, usize, usize)> {
    match (images, labels) {
        ([n, f], [n2, k]) if n == n2 => Ok((*n, *f, *k)),
        ([n, _], [n2, _]) => bail!("{}: {n} images but {n2} labels; they must match one to one", path.display()),
        _ => bail!(
            "{}: expected images [n, features] and labels [n, classes], got {images:?} and {labels:?}",
            path.display()
        ),
    }
}

pub fn train(a: &TrainArgs) -> Result<()> {
    let info = format::read_info(&a.data)?;
    with_dtype!(info.dtype, train_as(a, info.kind))
}

fn train_as<T: Float>(a: &TrainArgs, kind: Kind) -> Result<()> {
    let tc = a.hyper.train_config(&a.arch);
    match kind {
        Kind::Plaintext => {
            let file = format::read_plain::<T>(&a.data)?;
            let (x, t) = (file.get(IMAGES, &a.data)?, file.get(LABELS, &a.data)?);
            let (n, f, k) = check_pair(&a.data, x.shape(), t.shape())?;
            let mut model = Model::<PlainTensor<T>>::new(model_config(a, f, k)?)?;
            fit(&mut model, x, t, &tc, n)?;
            persist::save_plain(&a.out, &model, Some(&tc))?;
        }
        Kind::Ciphertext => {
            let file = format::read_cipher::<T>(&a.data)?;
            let (wx, wt) = (file.get(IMAGES, &a.data)?, file.get(LABELS, &a.data)?);
            let (n, f, k) = check_pair(&a.data, wx.shape(), wt.shape())?;
            let x = CipherTensor::from_wire_tagged(wx, &file.key, IMAGES)?;
            let t = CipherTensor::from_wire_tagged(wt, &file.key, LABELS)?;
            let key = file.key.clone();
            drop(file); // the 2x2 form is no longer needed: halve the memory
            let mut model = Model::<CipherTensor<T>>::new(model_config(a, f, k)?)?;
            fit(&mut model, &x, &t, &tc, n)?;
            persist::save_cipher(&a.out, &model, &key, Some(&tc))?;
        }
    }
    eprintln!("wrote model to {} (architecture in {})", a.out.display(), a.out.with_extension("json").display());
    Ok(())
}

fn fit<D: Domain>(model: &mut Model<D>, x: &D, t: &D, tc: &TrainConfig, n: usize) -> Result<()> {
    for epoch in 0..tc.epochs {
        let bar = learner::progress(n as u64, format!("epoch {}/{} ({})", epoch + 1, tc.epochs, D::NAME));
        let s = learner::train_epoch(model, x, t, tc, epoch, Some(&bar))?;
        bar.finish_and_clear();
        eprintln!("epoch {}: {s:.2} s", epoch + 1);
    }
    Ok(())
}

pub fn predict(a: &PredictArgs) -> Result<()> {
    let info = format::read_info(&a.model)?;
    with_dtype!(info.dtype, predict_as(a, info.kind))
}

fn predict_as<T: Float>(a: &PredictArgs, kind: Kind) -> Result<()> {
    let what = || format!("cannot load model {}", a.model.display());
    match kind {
        Kind::Ciphertext => {
            let (mut model, key) = persist::load_cipher::<T>(&a.model).with_context(what)?;
            let file = format::read_cipher::<T>(&a.input)?;
            key.ensure_same(&file.key, &format!("{} vs model {}", a.input.display(), a.model.display()))?;
            let x = CipherTensor::from_wire_tagged(file.get(IMAGES, &a.input)?, &file.key, IMAGES)?;
            let y = model.predict(&x, a.batch)?;
            let out = CipherFile {
                key: key.clone(),
                tensors: vec![(PREDICTIONS.into(), y.to_wire(&key.basis))],
                extra: BTreeMap::new(),
            };
            format::write_cipher(&a.output, &out)?;
            eprintln!("wrote {} encrypted predictions to {}", x.shape()[0], a.output.display());
        }
        Kind::Plaintext => {
            let mut model = persist::load_plain::<T>(&a.model).with_context(what)?;
            let file = format::read_plain::<T>(&a.input)?;
            let x = file.get(IMAGES, &a.input)?;
            let y = model.predict(x, a.batch)?;
            format::write_plain(
                &a.output,
                &PlainFile { tensors: vec![(PREDICTIONS.into(), y)], extra: BTreeMap::new() },
            )?;
            eprintln!("wrote {} predictions to {}", x.shape()[0], a.output.display());
        }
    }
    Ok(())
}

pub fn evaluate(a: &EvaluateArgs) -> Result<()> {
    let info = format::read_info(&a.predictions)?;
    with_dtype!(info.dtype, evaluate_as(a, info.kind))
}

fn evaluate_as<T: Float>(a: &EvaluateArgs, kind: Kind) -> Result<()> {
    let outputs: PlainTensor<T> = match kind {
        Kind::Ciphertext => {
            let Some(key_path) = &a.key else {
                bail!("{} holds encrypted predictions; pass --key to decrypt them", a.predictions.display());
            };
            let key = super::crypt::load_key(key_path)?;
            let file = format::read_cipher::<T>(&a.predictions)?;
            key.check_tag(&file.key)?;
            key.decrypt(file.get(PREDICTIONS, &a.predictions)?)?.values
        }
        Kind::Plaintext => format::read_plain::<T>(&a.predictions)?.get(PREDICTIONS, &a.predictions)?.clone(),
    };
    let info = format::read_info(&a.labels)?;
    let labels: Vec<f64> = with_dtype!(info.dtype, read_labels(&a.labels))?;
    let k = outputs.shape().get(1).copied().unwrap_or(0);
    if k == 0 || labels.len() != outputs.numel() {
        bail!(
            "{} has {} label values but the predictions are {:?}; they must be the same records",
            a.labels.display(),
            labels.len(),
            outputs.shape()
        );
    }
    outputs.check_finite("decrypted predictions")?;
    let pred = loss::argmax_rows(outputs.values(), k);
    let truth = loss::argmax_rows(&labels, k);
    let correct = pred.iter().zip(&truth).filter(|(p, t)| p == t).count();
    let accuracy = correct as f64 / pred.len() as f64;
    let mut confusion = vec![vec![0u64; k]; k];
    for (&t, &p) in truth.iter().zip(&pred) {
        confusion[t][p] += 1;
    }
    println!("accuracy {accuracy:.4} ({correct}/{} records)", pred.len());
    if let Some(out) = &a.out {
        let v = json!({"accuracy": accuracy, "records": pred.len(), "confusion": confusion});
        format::write_atomic(out, serde_json::to_string_pretty(&v)?.as_bytes(), None)?;
    }
    Ok(())
}

fn read_labels<T: Float>(path: &Path) -> Result<Vec<f64>> {
    let file = format::read_plain::<T>(path)?;
    Ok(file.get(LABELS, path)?.values().iter().map(|v| v.f64()).collect())
}
