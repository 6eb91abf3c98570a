//! `moreml bench train`: plaintext and encrypted training epochs and inference for the MNIST
//! MLP and CNN, f32 and f64, interleaved in one process so that both see the same machine.

use super::median;
use crate::commands::common::{with_dtype, Arch, Dtype};
use anyhow::{Context, Result};
use clap::Args;
use moreml_cipher::prelude::*;
use moreml_datasets::{resolve_mnist_dir, Mnist};
use moreml_experiments::owner::{encrypt_records, Role};
use moreml_more::{KeyParams, SecretKey};
use moreml_nn::{Learner, Model, ModelConfig, Pair, TrainConfig};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

/// `moreml bench train`.
#[derive(Args, Debug)]
pub struct TrainBenchArgs {
    /// MNIST directory (default: $MOREML_MNIST_DIR; without either, the built-in synthetic digits).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Training images (first N; 0 = all).
    #[arg(long, default_value_t = 0)]
    pub train_size: usize,
    /// Epochs per (model, dtype, domain); the median epoch time is reported.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Architectures to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Arch::Mlp, Arch::Cnn])]
    pub arch: Vec<Arch>,
    /// Scalar types to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Dtype::F32, Dtype::F64])]
    pub dtype: Vec<Dtype>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn bench(a: &TrainBenchArgs) -> Result<()> {
    let data = match resolve_mnist_dir(a.data_dir.as_deref()) {
        Ok(dir) => Mnist::load(&dir).with_context(|| format!("cannot load MNIST from {}", dir.display()))?,
        Err(_) if a.data_dir.is_none() => {
            eprintln!("no MNIST directory given: using the built-in synthetic digits (6000 images)");
            Mnist::synthetic(6000, 1000, 1)
        }
        Err(e) => return Err(e.into()),
    };
    let n = if a.train_size == 0 { data.n_train() } else { a.train_size.min(data.n_train()) };
    let data = data.subset(n, data.n_test());
    println!(
        "moreml bench train: {n} training images, batch 64, {} epochs each, {} threads, flush-to-zero {}",
        a.epochs,
        rayon::current_num_threads(),
        moreml_cipher::runtime::flush_to_zero_enabled()
    );
    println!(
        "{:<4} {:<4} {:>10} {:>10} {:>6} {:>12} {:>12} {:>12} {:>12}",
        "arch", "type", "plain s/ep", "enc s/ep", "ratio", "plain img/s", "enc img/s", "plain inf/s", "enc inf/s"
    );
    let mut rows = Vec::new();
    for &arch in &a.arch {
        for &dtype in &a.dtype {
            rows.push(with_dtype!(dtype, measure(&data, arch, a.epochs)).context("benchmark run failed")?);
        }
    }
    if let Some(path) = &a.json {
        let v = json!({"threads": rayon::current_num_threads(), "train_images": n, "runs": rows});
        moreml_cipher::format::write_atomic(path, serde_json::to_string_pretty(&v)?.as_bytes(), None)?;
    }
    Ok(())
}

fn measure<T: Float>(data: &Mnist, arch: Arch, epochs: usize) -> Result<Value> {
    let (n, m) = (data.n_train(), data.n_test());
    let x = PlainTensor::<T>::from_vec(&[n, 784], data.train_images_normalized())?;
    let t = PlainTensor::<T>::from_vec(&[n, 10], data.train_one_hot())?;
    let xt = PlainTensor::<T>::from_vec(&[m, 784], data.test_images_normalized())?;
    let key = SecretKey::generate(KeyParams::default())?;
    let cx = encrypt_records(&key, &x, "training images", Role::Input, false)?;
    let ct = encrypt_records(&key, &t, "training labels", Role::Target, false)?;
    let cxt = encrypt_records(&key, &xt, "test images", Role::Input, false)?;
    let (cfg, lr) = match arch {
        Arch::Mlp => (ModelConfig::mlp(784, 128, 10), 0.01),
        Arch::Cnn => (ModelConfig::cnn(28, 8, 128, 10), 0.05),
    };
    let tc = TrainConfig { epochs, batch_size: 64, lr, momentum: 0.9, seed: 1 };
    let mut plain = Learner::new(Model::<PlainTensor<T>>::new(cfg.clone())?, tc.clone())?;
    let mut enc = Learner::new(Model::<CipherTensor<T>>::new(cfg)?, tc)?;
    let (mut tp, mut tc_, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..epochs {
        let p = plain.train_epoch(&Pair::new(&x, &t)?)?.seconds;
        let c = enc.train_epoch(&Pair::new(&cx, &ct)?)?.seconds;
        tp.push(p);
        tc_.push(c);
        ratios.push(c / p);
    }
    let t0 = Instant::now();
    plain.predict(&xt, 500)?;
    let pi = m as f64 / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    enc.predict(&cxt, 500)?;
    let ci = m as f64 / t0.elapsed().as_secs_f64();
    let (p, c, r) = (median(tp), median(tc_), median(ratios));
    let name = format!("{arch:?}").to_lowercase();
    println!(
        "{name:<4} {:<4} {p:>10.3} {c:>10.3} {r:>5.2}x {:>12.0} {:>12.0} {pi:>12.0} {ci:>12.0}",
        T::NAME,
        n as f64 / p,
        n as f64 / c,
    );
    Ok(json!({
        "arch": name, "dtype": T::NAME, "plain_epoch_s": p, "encrypted_epoch_s": c, "ratio": r,
        "plain_train_images_per_s": n as f64 / p, "encrypted_train_images_per_s": n as f64 / c,
        "plain_inference_images_per_s": pi, "encrypted_inference_images_per_s": ci,
    }))
}
