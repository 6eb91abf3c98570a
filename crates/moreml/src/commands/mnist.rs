//! `moreml mnist`: the paper's first experiment, plaintext and encrypted side by side.
//!
//! One process plays both roles so the two runs share an engine and can be timed side by
//! side: the owner encrypts images and one-hot labels; the server trains on ciphertexts only
//! (it sees the `CipherTensor`s and nothing else); the owner decrypts outputs to evaluate.

use super::with_dtype;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use moreml_cipher::prelude::*;
use moreml_datasets::{resolve_mnist_dir, Mnist};
use moreml_more::{KeyParams, SecretKey};
use moreml_nn::{learner, loss, Model, ModelConfig, TrainConfig};
use moreml_report as report;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `moreml mnist`.
#[derive(Args, Debug)]
pub struct MnistArgs {
    /// Directory with the four MNIST IDX files (default: $MOREML_MNIST_DIR).
    #[arg(long, conflicts_with = "synthetic")]
    pub data_dir: Option<PathBuf>,
    /// Use the built-in synthetic seven-segment digits instead of MNIST (no download; a demo,
    /// not the paper's experiment). Default sizes: 6000 train / 1000 test.
    #[arg(long)]
    pub synthetic: bool,
    /// Report directory (report.json and PNG figures).
    #[arg(long, default_value = "reports/mnist")]
    pub out: PathBuf,
    /// Architecture.
    #[arg(long, value_enum, default_value_t = Arch::Mlp)]
    pub model: Arch,
    /// Hidden units of the dense hidden layer.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Training images to use (first N; 0 = all 60000).
    #[arg(long, default_value_t = 0)]
    pub train_size: usize,
    /// Test images to use (first N; 0 = all 10000).
    #[arg(long, default_value_t = 0)]
    pub test_size: usize,
    /// Scalar type of both runs.
    #[arg(long, default_value = "f64", value_parser = ["f32", "f64"])]
    pub dtype: String,
    #[command(flatten)]
    pub hyper: super::workflow::HyperArgs,
    /// How the hidden value r of input pixels is drawn: `empirical` (per-pixel histogram) or
    /// `record` (another whole image + centred jitter; the shadow network then sees real
    /// images and is as stable as the plaintext run).
    #[arg(long, default_value = "empirical", value_parser = ["empirical", "record"])]
    pub r_inputs: String,
}

/// Built-in architectures.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Arch {
    /// 784-hidden-10, x^2 activation.
    Mlp,
    /// conv5x5x8 - relu-poly - avgpool2 - dense hidden - relu-poly - dense 10.
    Cnn,
}

impl MnistArgs {
    fn model_config(&self) -> ModelConfig {
        let mut cfg = match self.model {
            Arch::Mlp => ModelConfig::mlp(784, self.hidden, 10),
            Arch::Cnn => ModelConfig::cnn(28, 8, self.hidden, 10),
        };
        cfg.seed = self.hyper.seed;
        cfg
    }
    fn train_config(&self) -> TrainConfig {
        self.hyper.train_config(match self.model {
            Arch::Mlp => "mlp",
            Arch::Cnn => "cnn",
        })
    }
}

pub fn mnist(a: &MnistArgs) -> Result<()> {
    let data = if a.synthetic {
        let n = |size: usize, default: usize| if size == 0 { default } else { size };
        eprintln!("using the built-in synthetic seven-segment digits (not MNIST)");
        Mnist::synthetic(n(a.train_size, 6000), n(a.test_size, 1000), a.hyper.seed)
    } else {
        let dir = resolve_mnist_dir(a.data_dir.as_deref())?;
        Mnist::load(&dir).with_context(|| format!("cannot load MNIST from {}", dir.display()))?
    };
    let n_train = if a.train_size == 0 { data.n_train() } else { a.train_size };
    let n_test = if a.test_size == 0 { data.n_test() } else { a.test_size };
    let data = data.subset(n_train, n_test);
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create report directory {}", a.out.display()))?;
    with_dtype!(a.dtype.as_str(), run(a, &data))
}

/// Encrypts `[n, k]` records chunk by chunk (bounded memory) into server coordinates;
/// `targets` selects the key's r distribution for labels.
pub fn encrypt_records<T: Float>(
    key: &SecretKey,
    x: &PlainTensor<T>,
    what: &str,
    targets: bool,
) -> Result<CipherTensor<T>> {
    let n = x.shape()[0];
    let chunk = 4096;
    let bar = learner::progress(n as u64, format!("encrypting {what}"));
    let mut parts = Vec::new();
    for start in (0..n).step_by(chunk) {
        let idx: Vec<usize> = (start..(start + chunk).min(n)).collect();
        let rows = x.gather_rows(&idx);
        let wire = if targets { key.encrypt_targets(&rows)? } else { key.encrypt(&rows)? };
        parts.push(CipherTensor::from_wire_tagged(&wire, key.tag(), what)?);
        bar.inc(idx.len() as u64);
    }
    bar.finish_and_clear();
    Ok(CipherTensor::concat_rows(&parts.iter().collect::<Vec<_>>()))
}

/// Decrypted outputs of an encrypted model (owner side). Non-finite outputs (a diverged run)
/// are reported, not fatal: the report should show what happened.
fn decrypt_outputs<T: Float>(key: &SecretKey, y: &CipherTensor<T>) -> Result<PlainTensor<T>> {
    let wire = y.to_wire(&key.tag().basis);
    if wire.raw().iter().any(|v| !v.is_finite()) {
        eprintln!("warning: the encrypted run produced non-finite outputs (diverged)");
        return Ok(key.decrypt_unchecked(&wire).values);
    }
    Ok(key.decrypt(&wire)?.values)
}

fn accuracy(pred: &[usize], labels: &[u8]) -> f64 {
    pred.iter().zip(labels).filter(|(p, l)| **p == **l as usize).count() as f64 / labels.len().max(1) as f64
}

fn max_abs<T: Float>(v: &[T]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.f64().abs()))
}

/// max |a - b| / max |a|: normwise relative difference of two output tensors.
fn rel_diff<T: Float>(a: &[T], b: &[T]) -> f64 {
    let d = a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x.f64() - y.f64()).abs()));
    d / max_abs(a).max(f64::MIN_POSITIVE)
}

/// Peak resident memory of this process (Linux), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct EpochLog {
    seconds: Vec<f64>,
    test_loss: Vec<f64>,
    test_accuracy: Vec<f64>,
}

impl EpochLog {
    fn mean_seconds(&self) -> f64 {
        self.seconds.iter().sum::<f64>() / self.seconds.len().max(1) as f64
    }

    /// The per-run part of `report.json`.
    fn summary(&self) -> serde_json::Value {
        json!({
            "accuracy": self.test_accuracy.last(),
            "epoch_seconds": self.mean_seconds(),
            "epoch_seconds_each": self.seconds,
            "test_accuracy_each": self.test_accuracy,
            "test_loss_each": self.test_loss,
        })
    }
}

fn run<T: Float>(a: &MnistArgs, data: &Mnist) -> Result<()> {
    let (n_train, n_test) = (data.n_train(), data.n_test());
    let cfg = a.model_config();
    let train_cfg = a.train_config();
    eprintln!(
        "MNIST {n_train} train / {n_test} test images, model {:?} (hidden {}), {} epochs, batch {}, lr {}, momentum {}, {}",
        a.model, a.hidden, train_cfg.epochs, train_cfg.batch_size, train_cfg.lr, train_cfg.momentum, T::NAME
    );
    // ---- owner: normalise and encrypt --------------------------------------------------
    let x_train = PlainTensor::<T>::from_vec(&[n_train, 784], data.train_images_normalized::<T>())?;
    let t_train = PlainTensor::<T>::from_vec(&[n_train, 10], data.train_one_hot::<T>())?;
    let x_test = PlainTensor::<T>::from_vec(&[n_test, 784], data.test_images_normalized::<T>())?;
    let t_test: Vec<T> = data.test_one_hot::<T>();
    let r = match a.r_inputs.as_str() {
        "record" => moreml_more::RDistribution::Record { jitter: 0.01 },
        _ => moreml_more::RDistribution::default(),
    };
    let key = SecretKey::generate(KeyParams { r, ..KeyParams::default() })?;
    let t0 = Instant::now();
    let cx_train = encrypt_records(&key, &x_train, "training images", false)?;
    let ct_train = encrypt_records(&key, &t_train, "training labels", true)?;
    let cx_test = encrypt_records(&key, &x_test, "test images", false)?;
    let encrypt_seconds = t0.elapsed().as_secs_f64();
    let encrypted_set_bytes = (n_train * (784 + 10) * 4 * std::mem::size_of::<T>()) as u64;

    // ---- server: the same model, trained on plaintext and on ciphertexts ----------------
    let mut plain = Model::<PlainTensor<T>>::new(cfg.clone())?;
    let mut cipher = Model::<CipherTensor<T>>::new(cfg.clone())?;
    let mut logs = [
        EpochLog { seconds: vec![], test_loss: vec![], test_accuracy: vec![] },
        EpochLog { seconds: vec![], test_loss: vec![], test_accuracy: vec![] },
    ];
    let mut r_side = Vec::new();
    let mut rel_epoch1 = None;
    let (mut plain_out, mut cipher_out) = (None, None);
    let mut infer_seconds = 0.0;
    for epoch in 0..train_cfg.epochs {
        let bar = learner::progress(2 * n_train as u64, format!("epoch {}/{} plain+enc", epoch + 1, train_cfg.epochs));
        let sp = learner::train_epoch(&mut plain, &x_train, &t_train, &train_cfg, epoch, Some(&bar))?;
        let sc = learner::train_epoch(&mut cipher, &cx_train, &ct_train, &train_cfg, epoch, Some(&bar))?;
        bar.finish_and_clear();
        // Evaluation: plaintext directly; encrypted outputs decrypted by the owner.
        let py = plain.predict(&x_test, 500)?;
        let ti = Instant::now();
        let cy_enc = cipher.predict(&cx_test, 500)?;
        infer_seconds = ti.elapsed().as_secs_f64();
        let cy = decrypt_outputs(&key, &cy_enc)?;
        for (log, (y, s)) in logs.iter_mut().zip([(&py, sp), (&cy, sc)]) {
            let pred = loss::argmax_rows(y.values(), 10);
            log.seconds.push(s);
            log.test_loss.push(loss::value(cfg.loss, y.values(), &t_test, 10));
            log.test_accuracy.push(accuracy(&pred, &data.test_labels));
        }
        let rel = rel_diff(py.values(), cy.values());
        rel_epoch1.get_or_insert(rel);
        // The key holder reads the hidden side of the weights: the shadow network must stay bounded.
        let r_max = cipher
            .named_params()
            .iter()
            .map(|(_, w)| max_abs(key.hidden_values(&w.to_wire(&key.tag().basis)).values()))
            .fold(0.0, f64::max);
        r_side.push(r_max);
        eprintln!(
            "epoch {}: plain {:.2} s acc {:.4} | encrypted {:.2} s acc {:.4} | ratio {:.2}x | max rel diff {rel:.2e} | hidden weights max |r| {r_max:.3}",
            epoch + 1,
            sp,
            logs[0].test_accuracy[epoch],
            sc,
            logs[1].test_accuracy[epoch],
            sc / sp
        );
        plain_out = Some(py);
        cipher_out = Some(cy);
    }
    let (Some(py), Some(cy)) = (plain_out, cipher_out) else {
        anyhow::bail!("--epochs must be at least 1");
    };
    let plain_pred = loss::argmax_rows(py.values(), 10);
    let enc_pred = loss::argmax_rows(cy.values(), 10);
    let agreement = plain_pred.iter().zip(&enc_pred).filter(|(a, b)| a == b).count() as f64 / n_test as f64;
    let (pe, ce) = (logs[0].mean_seconds(), logs[1].mean_seconds());
    let max_rel_diff = rel_diff(py.values(), cy.values());
    let mut encrypted = logs[1].summary();
    encrypted["inference_images_per_second"] = json!(n_test as f64 / infer_seconds);
    encrypted["encrypt_seconds"] = json!(encrypt_seconds);
    encrypted["hidden_weights_max_abs_each"] = json!(r_side);
    let report = json!({
        "experiment": "mnist",
        "data": if a.synthetic { "synthetic seven-segment digits (built-in demo)" } else { "MNIST" },
        "model": cfg,
        "train": train_cfg,
        "dtype": T::NAME,
        "train_images": n_train,
        "test_images": n_test,
        "key": {"key_id": key.key_id(), "condition": key.condition(), "r": key.params().r},
        "plain": logs[0].summary(),
        "encrypted": encrypted,
        "epoch_time_ratio": ce / pe,
        "agreement": agreement,
        "max_rel_diff": max_rel_diff,
        "max_rel_diff_epoch1": rel_epoch1,
        "encrypted_train_set_bytes": encrypted_set_bytes,
        "peak_rss_bytes": peak_rss_bytes(),
        "threads": rayon::current_num_threads(),
        "flush_to_zero": moreml_cipher::runtime::flush_to_zero_enabled(),
    });
    let path = a.out.join("report.json");
    moreml_cipher::format::write_atomic(&path, serde_json::to_string_pretty(&report)?.as_bytes(), None)?;
    figures(&a.out, &logs, &data.test_labels, &enc_pred, &x_test, &key, &py, &cy)?;
    eprintln!(
        "plain accuracy {:.4}, encrypted accuracy {:.4}, agreement {:.4}, max rel diff {:.2e}, epoch ratio {:.2}x -> {}",
        logs[0].test_accuracy.last().unwrap_or(&0.0),
        logs[1].test_accuracy.last().unwrap_or(&0.0),
        agreement,
        max_rel_diff,
        ce / pe,
        path.display()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn figures<T: Float>(
    out: &Path,
    logs: &[EpochLog; 2],
    labels: &[u8],
    enc_pred: &[usize],
    x_test: &PlainTensor<T>,
    key: &SecretKey,
    py: &PlainTensor<T>,
    cy: &PlainTensor<T>,
) -> Result<()> {
    let epochs: Vec<f64> = (1..=logs[0].seconds.len()).map(|e| e as f64).collect();
    let series = |f: fn(&EpochLog) -> &Vec<f64>| {
        vec![
            report::Series::new("plaintext", epochs.clone(), f(&logs[0]).clone()),
            report::Series::new("encrypted (decrypted by owner)", epochs.clone(), f(&logs[1]).clone()),
        ]
    };
    report::panels(
        out.join("training_curves.png"),
        "MNIST: plaintext vs encrypted training",
        &[
            report::Panel::new(report::CurveSpec::new("Test loss", "epoch", "cross-entropy"), series(|l| &l.test_loss)),
            report::Panel::new(
                report::CurveSpec::new("Test accuracy", "epoch", "accuracy").with_y_range(0.9, 1.0),
                series(|l| &l.test_accuracy),
            ),
        ],
    )?;
    let mut counts = vec![vec![0u64; 10]; 10];
    for (&l, &p) in labels.iter().zip(enc_pred) {
        counts[l as usize][p] += 1;
    }
    report::confusion_matrix(
        out.join("confusion_matrix.png"),
        "Encrypted model (decrypted predictions)",
        &counts,
        &[],
    )?;
    // A few digits next to what the server holds for them.
    let k = 8.min(labels.len());
    let idx: Vec<usize> = (0..k).collect();
    let digits = x_test.gather_rows(&idx);
    let wire = key.encrypt(&digits)?;
    let img = |v: Vec<f64>, cap: String| report::GrayImage::new(28, 28, v).with_caption(cap);
    let originals = (0..k)
        .map(|i| {
            img(
                digits.values()[i * 784..(i + 1) * 784].iter().map(|v| v.f64()).collect(),
                format!("label {}", labels[i]),
            )
        })
        .collect();
    let planes = |entry: usize| {
        (0..k)
            .map(|i| {
                img(
                    (0..784).map(|p| wire.raw()[4 * (i * 784 + p) + entry].f64()).collect(),
                    format!("C[{}][{}]", entry / 2, entry % 2),
                )
            })
            .collect()
    };
    report::image_grid(
        out.join("server_view.png"),
        "What the owner sees vs what the server holds",
        &[
            report::ImageRow::new("owner: plaintext digit", originals),
            report::ImageRow::new("server: ciphertext entry [0][0]", planes(0)),
            report::ImageRow::new("server: ciphertext entry [0][1]", planes(1)),
        ],
    )?;
    let n = py.values().len().min(5000);
    let xs: Vec<f64> = py.values()[..n].iter().map(|v| v.f64()).collect();
    let ys: Vec<f64> = cy.values()[..n].iter().map(|v| v.f64()).collect();
    report::scatter(
        out.join("outputs_scatter.png"),
        &report::CurveSpec::new("Test logits: decrypted encrypted vs plaintext", "plaintext logit", "decrypted logit"),
        &[report::Series::new("test outputs", xs, ys)],
    )?;
    Ok(())
}
