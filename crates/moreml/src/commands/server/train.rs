//! `moreml train` (server): trains a network on a plaintext or encrypted data file, no key.

use crate::commands::common::{data_names, ensure_output, is_regression, with_dtype, Dtype, HyperArgs, ModelArgs};
use anyhow::{bail, Result};
use clap::Args;
use moreml_cipher::format;
use moreml_cipher::mapped::{MappedCipher, MappedFile};
use moreml_cipher::prelude::*;
use moreml_nn::learner::progress;
use moreml_nn::{persist, Learner, LossKind, Model, ModelConfig, Pair, Records, Rows, TrainConfig};
use std::path::{Path, PathBuf};

/// `moreml train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: an input tensor [n, features] and a target tensor [n, outputs] (roles
    /// from `moreml dataset`), both plaintext or both ciphertexts under one key.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where to write the model (safetensors; the architecture also goes to MODEL.json).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub hyper: HyperArgs,
}

pub fn train(a: &TrainArgs) -> Result<()> {
    ensure_output(&a.out, &[&a.data])?;
    ensure_output(&a.out.with_extension("json"), &[&a.data])?;
    // Mapped, not read: batches are copied out of the map, so memory does not grow with the data.
    let map = MappedFile::open(&a.data)?;
    with_dtype!(Dtype::of_name(map.dtype())?, train_file(a, &map))
}

fn train_file<T: Float>(a: &TrainArgs, map: &MappedFile) -> Result<()> {
    let (xn, tn) = data_names(&a.data, map.extra(), &map.names(), true)?;
    let tn = tn.unwrap_or_default();
    let regression = is_regression(map.extra());
    match map.kind() {
        format::Kind::Plaintext => {
            let (x, t) = (map.plain::<T>(&xn)?, map.plain::<T>(&tn)?);
            let cfg = model_config(a, x.shape(), t.shape(), regression)?;
            let model = fit(a, cfg, &x, &t)?;
            persist::save_plain(&a.out, &model, Some(&train_config(a)?))?;
        }
        format::Kind::Ciphertext => {
            let (x, t) = (map.cipher::<T>(&xn)?, map.cipher::<T>(&tn)?);
            let cfg = model_config(a, x.shape(), t.shape(), regression)?;
            verify(&x)?;
            verify(&t)?;
            let model = fit(a, cfg, &x, &t)?;
            persist::save_cipher(&a.out, &model, x.key(), Some(&train_config(a)?))?;
        }
    }
    eprintln!("wrote model to {} (architecture in {})", a.out.display(), a.out.with_extension("json").display());
    Ok(())
}

/// Checks every ciphertext of a mapped tensor before any training, chunk by chunk.
pub fn verify<T: Float>(x: &MappedCipher<T>) -> Result<()> {
    let bar = progress(x.len() as u64, "checking ciphertexts");
    x.verify(|k| bar.inc(k as u64))?;
    bar.finish_and_clear();
    Ok(())
}

fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    a.hyper.train_config(a.model.default_lr())
}

fn model_config(a: &TrainArgs, x: &[usize], t: &[usize], regression: bool) -> Result<ModelConfig> {
    let ([n, f], [n2, k]) = (x, t) else {
        bail!("{}: expected inputs [n, features] and targets [n, outputs], got {x:?} and {t:?}", a.data.display());
    };
    if n != n2 {
        bail!("{}: {n} input records but {n2} target records; they must match one to one", a.data.display());
    }
    let mut cfg = a.model.config(*f, *k, a.hyper.seed)?;
    if regression && a.model.model_config.is_none() {
        cfg.loss = LossKind::Mse;
        cfg.label_smoothing = 0.0;
    }
    Ok(cfg)
}

/// Trains with per-epoch progress lines; a diverged run is an error and writes nothing.
fn fit<D: Domain, R: Rows<D>>(a: &TrainArgs, cfg: ModelConfig, x: &R, t: &R) -> Result<Model<D>> {
    let data = Pair::new(x, t)?;
    let tc = train_config(a)?;
    eprintln!(
        "training {} on {} records ({}): {} epochs, batch {}, lr {}, momentum {}",
        if D::NAME == "cipher" { "on ciphertexts" } else { "on plaintext" },
        data.len(),
        path_name(&a.data),
        tc.epochs,
        tc.batch_size,
        tc.lr,
        tc.momentum
    );
    let mut learner = Learner::new(Model::<D>::new(cfg)?, tc)?.with_progress(true);
    let epochs = learner.config().epochs;
    learner.fit(&data, |_, s| {
        eprintln!("epoch {}/{epochs}: {:.2} s, {} steps, all values finite", s.epoch, s.seconds, s.steps);
        Ok(())
    })?;
    Ok(learner.into_model())
}

fn path_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}
