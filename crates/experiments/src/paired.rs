//! Plaintext and encrypted training in lockstep: same initial weights, same batch order,
//! same steps; after every epoch the owner decrypts the encrypted model's test outputs and
//! both runs are scored side by side.

use crate::data::{Dataset, Task};
use crate::metrics::{self, Classification, Regression};
use crate::owner::{self, Role};
use crate::{Error, Result};
use moreml_cipher::{CipherTensor, Float, PlainTensor};
use moreml_more::{KeyParams, SecretKey};
use moreml_nn::{Learner, Model, ModelConfig, Pair, TrainConfig};
use serde::Serialize;
use std::time::Instant;

/// Everything a paired run needs besides the data.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentConfig {
    /// The architecture (its seed fixes the public initial weights of both runs).
    pub model: ModelConfig,
    /// Hyper-parameters (its seed fixes the batch order of both runs).
    pub train: TrainConfig,
    /// The owner's key parameters.
    pub key: KeyParams,
    /// Records per forward pass at evaluation.
    pub eval_batch: usize,
    /// Progress bars on stderr.
    #[serde(skip)]
    pub progress: bool,
}

/// Task figures of one evaluation.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Metrics {
    /// Classification figures.
    Classification(Classification),
    /// Regression figures.
    Regression(Regression),
}

impl Metrics {
    /// The headline figure: accuracy or mean R^2.
    pub fn headline(&self) -> Option<f64> {
        match self {
            Metrics::Classification(c) => c.accuracy,
            Metrics::Regression(r) => r.mean_r2,
        }
    }

    /// The loss-like figure: cross-entropy or mean relative error.
    pub fn error(&self) -> Option<f64> {
        match self {
            Metrics::Classification(c) => c.loss,
            Metrics::Regression(r) => r.mean_rel_error,
        }
    }
}

/// One epoch of one run.
#[derive(Clone, Debug, Serialize)]
pub struct EpochEval {
    /// 1-based epoch.
    pub epoch: usize,
    /// Training time of the epoch.
    pub seconds: f64,
    /// Test-set figures after the epoch.
    pub metrics: Metrics,
}

/// Where a run stopped on a non-finite value.
#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    /// `plain` or `encrypted`.
    pub run: &'static str,
    /// The learner's message (epoch, step, layer).
    pub message: String,
}

/// The result of a paired run.
#[derive(Debug)]
pub struct Outcome {
    /// Plaintext run, per epoch.
    pub plain: Vec<EpochEval>,
    /// Encrypted run (decrypted by the owner), per epoch.
    pub encrypted: Vec<EpochEval>,
    /// Max relative difference of decrypted vs plaintext test outputs, per epoch.
    pub max_rel_diff: Vec<Option<f64>>,
    /// Fraction of identical predicted labels per epoch (classification only).
    pub agreement: Vec<Option<f64>>,
    /// Largest hidden `|r|` of the encrypted weights, per epoch.
    pub hidden_weights_max_abs: Vec<Option<f64>>,
    /// Last plaintext test outputs (model units: logits or standardised values).
    pub plain_outputs: Vec<f64>,
    /// Last decrypted encrypted test outputs.
    pub decrypted_outputs: Vec<f64>,
    /// Set when either run stopped on a non-finite value.
    pub divergence: Option<Divergence>,
    /// Owner: seconds to encrypt training and test inputs and targets.
    pub encrypt_seconds: f64,
    /// Server: seconds for the last encrypted test-set inference.
    pub encrypted_inference_seconds: f64,
    /// Server: seconds for the last plaintext test-set inference.
    pub plain_inference_seconds: f64,
    /// The key used (the owner keeps it; experiments use it for figures of what the server holds).
    pub key: SecretKey,
}

/// Trains `cfg.model` on `data` in plaintext and on ciphertexts, epoch by epoch.
///
/// Errors only for what prevents running at all (bad config, encryption failure). A run
/// that diverges ends the loop and is recorded in [`Outcome::divergence`]; metrics computed
/// over its non-finite outputs are `None`.
pub fn run_paired<T: Float>(data: &Dataset<T>, cfg: &ExperimentConfig) -> Result<Outcome> {
    if cfg.progress {
        eprintln!(
            "{}: {} train / {} test records, {} layers, {} epochs, batch {}, lr {}, momentum {}, {}",
            data.name,
            data.train.len(),
            data.test.len(),
            cfg.model.layers.len(),
            cfg.train.epochs,
            cfg.train.batch_size,
            cfg.train.lr,
            cfg.train.momentum,
            T::NAME
        );
    }
    let key = SecretKey::generate(cfg.key)?;
    let t0 = Instant::now();
    let enc = |x: &PlainTensor<T>, what: &str, role| owner::encrypt_records(&key, x, what, role, cfg.progress);
    let cx_train = enc(&data.train.inputs, "training inputs", Role::Input)?;
    let ct_train = enc(&data.train.targets, "training targets", Role::Target)?;
    let cx_test = enc(&data.test.inputs, "test inputs", Role::Input)?;
    let encrypt_seconds = t0.elapsed().as_secs_f64();

    let mut plain =
        Learner::new(Model::<PlainTensor<T>>::new(cfg.model.clone())?, cfg.train.clone())?.with_progress(cfg.progress);
    let mut cipher =
        Learner::new(Model::<CipherTensor<T>>::new(cfg.model.clone())?, cfg.train.clone())?.with_progress(cfg.progress);
    let mut out = Outcome {
        plain: Vec::new(),
        encrypted: Vec::new(),
        max_rel_diff: Vec::new(),
        agreement: Vec::new(),
        hidden_weights_max_abs: Vec::new(),
        plain_outputs: Vec::new(),
        decrypted_outputs: Vec::new(),
        divergence: None,
        encrypt_seconds,
        encrypted_inference_seconds: 0.0,
        plain_inference_seconds: 0.0,
        key,
    };
    let score = |y: &[f64]| score(data, y);
    let plain_train = Pair::new(&data.train.inputs, &data.train.targets)?;
    let cipher_train = Pair::new(&cx_train, &ct_train)?;
    for _ in 0..cfg.train.epochs {
        let sp = match plain.train_epoch(&plain_train) {
            Ok(s) => s,
            Err(e @ moreml_nn::Error::Diverged { .. }) => {
                out.divergence = Some(Divergence { run: "plain", message: e.to_string() });
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let sc = match cipher.train_epoch(&cipher_train) {
            Ok(s) => s,
            Err(e @ moreml_nn::Error::Diverged { .. }) => {
                out.divergence = Some(Divergence { run: "encrypted", message: e.to_string() });
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let ti = Instant::now();
        let py = plain.predict(&data.test.inputs, cfg.eval_batch)?;
        out.plain_inference_seconds = ti.elapsed().as_secs_f64();
        let ti = Instant::now();
        let cy = cipher.predict(&cx_test, cfg.eval_batch)?;
        out.encrypted_inference_seconds = ti.elapsed().as_secs_f64();
        // ---- owner: decrypt and score ----
        let py: Vec<f64> = py.values().iter().map(|v| v.f64()).collect();
        let cy = owner::decrypt_outputs(&out.key, &cy)?;
        let rel = metrics::finite(metrics::rel_diff(&py, &cy));
        out.max_rel_diff.push(rel);
        out.agreement.push(match data.task {
            Task::Classification { .. } => {
                let k = data.outputs();
                let same = metrics::label_agreement(&metrics::argmax_rows(&py, k), &metrics::argmax_rows(&cy, k));
                Some(same)
            }
            Task::Regression { .. } => None,
        });
        out.hidden_weights_max_abs
            .push(metrics::finite(owner::hidden_weights_max_abs(&out.key, &cipher.model().named_params())));
        out.plain.push(EpochEval { epoch: sp.epoch, seconds: sp.seconds, metrics: score(&py) });
        out.encrypted.push(EpochEval { epoch: sc.epoch, seconds: sc.seconds, metrics: score(&cy) });
        if cfg.progress {
            log_epoch(&out, cfg.train.epochs);
        }
        out.plain_outputs = py;
        out.decrypted_outputs = cy;
    }
    if out.plain.is_empty() && out.divergence.is_none() {
        return Err(Error::Config("at least one epoch is needed".into()));
    }
    Ok(out)
}

/// Task figures of `[n_test, outputs]` outputs in model units.
pub fn score<T: Float>(data: &Dataset<T>, outputs: &[f64]) -> Metrics {
    match &data.task {
        Task::Classification { .. } => {
            Metrics::Classification(metrics::classification(outputs, &data.test_classes(), data.outputs()))
        }
        Task::Regression { outputs: names, scaling } => {
            let truth: Vec<f64> = data.test.targets.values().iter().map(|v| v.f64()).collect();
            Metrics::Regression(metrics::regression(&scaling.invert(outputs), &scaling.invert(&truth), names))
        }
    }
}

fn log_epoch(out: &Outcome, epochs: usize) {
    let (p, c) = (out.plain.last().expect("one epoch"), out.encrypted.last().expect("one epoch"));
    let f = |x: Option<f64>| x.map_or("null".to_string(), |v| format!("{v:.4}"));
    let e = |x: Option<f64>| x.map_or("null".to_string(), |v| format!("{v:.2e}"));
    eprintln!(
        "epoch {}/{epochs}: plain {:.2} s {} | encrypted {:.2} s {} | ratio {:.2}x | max rel diff {} | hidden |r| {}",
        p.epoch,
        p.seconds,
        f(p.metrics.headline()),
        c.seconds,
        f(c.metrics.headline()),
        c.seconds / p.seconds,
        e(*out.max_rel_diff.last().expect("one epoch")),
        f(*out.hidden_weights_max_abs.last().expect("one epoch")),
    );
}
