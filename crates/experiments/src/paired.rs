//! Plaintext and encrypted training in lockstep: same initial weights, same batch order,
//! same steps; after every epoch the owner decrypts the encrypted model's test outputs and
//! both runs are scored side by side.

use crate::data::{Dataset, Task};
use crate::metrics::{self, Classification, Regression};
use crate::owner::{self, Role};
use crate::{Error, Result};
use moreml_cipher::{CipherTensor, Domain, Float, PlainTensor};
use moreml_more::{KeyParams, SecretKey};
use moreml_nn::collective::{self, Collective, Local};
use moreml_nn::{EpochStats, Learner, Model, ModelConfig, Pair, TrainConfig};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::Arc;
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
    run_paired_on(&(Arc::new(Local) as Arc<dyn Collective>), Some((data, cfg)))?
        .ok_or_else(|| Error::Config("a single-process run is rank 0 and returns the outcome".into()))
}

/// [`run_paired`] as one rank of a data-parallel job: both learners train through `c`
/// ([`Learner::distributed`]), every rank computing its share of each batch.
///
/// Rank 0 is the owner and passes `Some((data, cfg))`: it generates the key, encrypts, and
/// alone evaluates, decrypts and scores after every epoch; it returns the [`Outcome`]. The
/// other ranks pass `None` and return `None`: they receive the configuration and the training
/// sets (plaintext values and ciphertext coordinates) from rank 0 and never hold the key or the
/// test set. Sending the encrypted training set once is simpler than regenerating it on every
/// rank, which would need the key (or a shared key seed) on every rank and would repeat the
/// data generation (the circulation simulator's is the slowest step of its experiment).
pub fn run_paired_on<T: Float>(
    c: &Arc<dyn Collective>,
    owner: Option<(&Dataset<T>, &ExperimentConfig)>,
) -> Result<Option<Outcome>> {
    let cc = c.as_ref();
    let prepared = collective::agree_any(cc, owner.map(|(data, cfg)| encrypt(data, cfg, cc.size())).transpose())?;
    let mut json =
        owner.map(|(_, cfg)| serde_json::to_vec(&(&cfg.model, &cfg.train)).expect("json")).unwrap_or_default();
    collective::broadcast_bytes(cc, &mut json, 0)?;
    let (model, train): (ModelConfig, TrainConfig) =
        serde_json::from_slice(&json).map_err(|e| Error::Config(format!("bad configuration from rank 0: {e}")))?;
    if train.epochs == 0 {
        return Err(Error::Config("at least one epoch is needed".into())); // on every rank alike
    }
    let progress = owner.is_some_and(|(_, cfg)| cfg.progress);
    let (mut side, cx_train, ct_train) = match prepared {
        Some((side, cx, ct)) => (Some(side), Some(cx), Some(ct)),
        None => (None, None, None),
    };
    let plain_x = shared(cc, owner.map(|(d, _)| &d.train.inputs))?;
    let plain_t = shared(cc, owner.map(|(d, _)| &d.train.targets))?;
    let cipher_x = shared(cc, cx_train.as_ref())?;
    let cipher_t = shared(cc, ct_train.as_ref())?;
    let plain_train = Pair::new(&*plain_x, &*plain_t)?;
    let cipher_train = Pair::new(&*cipher_x, &*cipher_t)?;

    let mut plain = learner::<PlainTensor<T>>(c, &model, &train, progress)?;
    let mut cipher = learner::<CipherTensor<T>>(c, &model, &train, progress)?;
    let mut diverged = false;
    for _ in 0..train.epochs {
        let epoch = match epoch_or_divergence(plain.train_epoch(&plain_train), "plain")? {
            Ok(sp) => epoch_or_divergence(cipher.train_epoch(&cipher_train), "encrypted")?.map(|sc| (sp, sc)),
            Err(d) => Err(d),
        };
        let (sp, sc) = match epoch {
            Ok(stats) => stats,
            Err(divergence) => {
                if let Some(side) = &mut side {
                    side.out.divergence = Some(divergence);
                }
                diverged = true;
                break;
            }
        };
        collective::agree_any(
            cc,
            side.as_mut().map_or(Ok(()), |side| side.evaluate(&mut plain, &mut cipher, &sp, &sc)),
        )?;
    }
    if !diverged {
        plain.check_replicas()?;
        cipher.check_replicas()?;
    }
    Ok(side.map(|side| side.out))
}

/// A learner of `D` for the paired run, training through `c`.
fn learner<D: Domain>(
    c: &Arc<dyn Collective>,
    model: &ModelConfig,
    train: &TrainConfig,
    progress: bool,
) -> Result<Learner<D>> {
    Ok(Learner::new(Model::<D>::new(model.clone())?, train.clone())?.with_progress(progress).distributed(c.clone())?)
}

/// An epoch's statistics, or the divergence that ended the run (on every rank of a job: a
/// divergence on one rank is one on all, see [`moreml_nn::Error::is_divergence`]).
fn epoch_or_divergence(
    stats: moreml_nn::Result<EpochStats>,
    run: &'static str,
) -> Result<std::result::Result<EpochStats, Divergence>> {
    match stats {
        Ok(s) => Ok(Ok(s)),
        Err(e) if e.is_divergence() => Ok(Err(Divergence { run, message: e.to_string() })),
        Err(e) => Err(e.into()),
    }
}

/// Rank 0's tensor on every rank: rank 0's own (borrowed), received by the others.
fn shared<'a, D: Domain>(c: &dyn Collective, mine: Option<&'a D>) -> Result<Cow<'a, D>> {
    match (collective::broadcast_tensor(c, mine, 0)?, mine) {
        (Some(received), _) => Ok(Cow::Owned(received)),
        (None, Some(mine)) => Ok(Cow::Borrowed(mine)),
        (None, None) => Err(Error::Config("rank 0 must hold the data set".into())),
    }
}

/// What only rank 0, the owner, holds: the data set, the key and the test ciphertexts, and the
/// outcome it fills in after every epoch.
struct OwnerSide<'a, T: Float> {
    data: &'a Dataset<T>,
    cfg: &'a ExperimentConfig,
    cx_test: CipherTensor<T>,
    out: Outcome,
}

/// Owner: announces the run, generates the key and encrypts the training and test sets.
/// Returns the owner's side and the encrypted training inputs and targets.
fn encrypt<'a, T: Float>(
    data: &'a Dataset<T>,
    cfg: &'a ExperimentConfig,
    ranks: usize,
) -> Result<(OwnerSide<'a, T>, CipherTensor<T>, CipherTensor<T>)> {
    if cfg.progress {
        eprintln!(
            "{}: {} train / {} test records, {} layers, {} epochs, batch {}, lr {}, momentum {}, {}{}",
            data.name,
            data.train.len(),
            data.test.len(),
            cfg.model.layers.len(),
            cfg.train.epochs,
            cfg.train.batch_size,
            cfg.train.lr,
            cfg.train.momentum,
            T::NAME,
            if ranks > 1 { format!(", {ranks} ranks sharing each batch") } else { String::new() }
        );
    }
    let key = SecretKey::generate(cfg.key)?;
    let t0 = Instant::now();
    let enc = |x: &PlainTensor<T>, what: &str, role| owner::encrypt_records(&key, x, what, role, cfg.progress);
    let cx_train = enc(&data.train.inputs, "training inputs", Role::Input)?;
    let ct_train = enc(&data.train.targets, "training targets", Role::Target)?;
    let cx_test = enc(&data.test.inputs, "test inputs", Role::Input)?;
    let out = Outcome {
        plain: Vec::new(),
        encrypted: Vec::new(),
        max_rel_diff: Vec::new(),
        agreement: Vec::new(),
        hidden_weights_max_abs: Vec::new(),
        plain_outputs: Vec::new(),
        decrypted_outputs: Vec::new(),
        divergence: None,
        encrypt_seconds: t0.elapsed().as_secs_f64(),
        encrypted_inference_seconds: 0.0,
        plain_inference_seconds: 0.0,
        key,
    };
    Ok((OwnerSide { data, cfg, cx_test, out }, cx_train, ct_train))
}

impl<T: Float> OwnerSide<'_, T> {
    /// After an epoch: both models predict the test set, the owner decrypts the encrypted
    /// predictions and scores both runs side by side.
    fn evaluate(
        &mut self,
        plain: &mut Learner<PlainTensor<T>>,
        cipher: &mut Learner<CipherTensor<T>>,
        sp: &EpochStats,
        sc: &EpochStats,
    ) -> Result<()> {
        let (data, cfg, out) = (self.data, self.cfg, &mut self.out);
        let ti = Instant::now();
        let py = plain.predict(&data.test.inputs, cfg.eval_batch)?;
        out.plain_inference_seconds = ti.elapsed().as_secs_f64();
        let ti = Instant::now();
        let cy = cipher.predict(&self.cx_test, cfg.eval_batch)?;
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
        out.plain.push(EpochEval { epoch: sp.epoch, seconds: sp.seconds, metrics: score(data, &py) });
        out.encrypted.push(EpochEval { epoch: sc.epoch, seconds: sc.seconds, metrics: score(data, &cy) });
        if cfg.progress {
            log_epoch(out, cfg.train.epochs);
        }
        out.plain_outputs = py;
        out.decrypted_outputs = cy;
        Ok(())
    }
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
