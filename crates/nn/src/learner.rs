//! The training loop, kept apart from the model: optimiser, batch order, progress, timing,
//! per-epoch history and the divergence guard.

use crate::checkpoint::{self, Checkpoint, DataIdentity, RunIdentity};
use crate::collective::{self, Collective, Local};
use crate::config::TrainConfig;
use crate::model::Model;
use crate::optim::Sgd;
use crate::records::{Records, Rows};
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use moreml_cipher::Domain;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The record order of one epoch: a permutation drawn from `(seed, epoch)`, identical for
/// plaintext and encrypted runs.
pub fn batch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:<28} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.into());
    bar
}

/// What one epoch did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Wall time of the training steps (no evaluation).
    pub seconds: f64,
    /// SGD steps taken.
    pub steps: usize,
    /// Records seen.
    pub records: usize,
    /// Wall time of the gradient all-reduces of a distributed job (0 with one process).
    pub allreduce_seconds: f64,
}

/// Trains one model: owns the optimiser and its state, the epoch loop and the history.
///
/// Every step is guarded: a non-finite activation, loss gradient or parameter stops training
/// with [`Error::Diverged`] naming the epoch, the step and the layer. The check needs no key
/// (a ciphertext is finite exactly when its coordinates are), so a server can run it.
///
/// ```
/// use moreml_cipher::prelude::*;
/// use moreml_nn::{Learner, Model, ModelConfig, Pair, TrainConfig};
/// let x = PlainTensor::<f64>::from_vec(&[4, 2], vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
/// let t = PlainTensor::<f64>::from_vec(&[4, 2], vec![1., 0., 0., 1., 0., 1., 1., 0.]).unwrap();
/// let model = Model::new(ModelConfig::mlp(2, 4, 2)).unwrap();
/// let cfg = TrainConfig { epochs: 2, batch_size: 2, lr: 0.1, momentum: 0.9, seed: 1 };
/// let mut learner = Learner::new(model, cfg).unwrap();
/// learner.fit(&Pair::new(&x, &t).unwrap(), |_, stats| { assert!(stats.steps == 2); Ok(()) }).unwrap();
/// assert_eq!(learner.history().len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Learner<D: Domain> {
    model: Model<D>,
    optim: Sgd<D>,
    config: TrainConfig,
    history: Vec<EpochStats>,
    show_progress: bool,
    collective: Arc<dyn Collective>,
}

impl<D: Domain> Learner<D> {
    /// A learner for `model` (checks the hyper-parameters).
    pub fn new(model: Model<D>, config: TrainConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        let optim = Sgd::new(config.lr, config.momentum)?;
        Ok(Self { model, optim, config, history: Vec::new(), show_progress: false, collective: Arc::new(Local) })
    }

    /// Trains data-parallel as one rank of `collective`: copies rank 0's weights to every
    /// rank, then each step computes this rank's share of every global batch
    /// ([`collective::share`]) and sums the gradients over all ranks before the update. Every
    /// rank must call the same methods with the same configuration and data.
    ///
    /// Rank 0's whole training state travels, not only its weights: the epochs done and the
    /// optimiser velocity too, so a job in which rank 0 alone resumed from a checkpoint
    /// ([`Learner::resume`]) continues on every rank from that state.
    pub fn distributed(mut self, collective: Arc<dyn Collective>) -> Result<Self> {
        let c = collective.as_ref();
        if c.size() > 1 {
            let mut history = serde_json::to_vec(&self.history).expect("epoch stats serialise");
            collective::broadcast_bytes(c, &mut history, 0)?;
            self.history = serde_json::from_slice(&history)
                .map_err(|e| Error::Collective(format!("bad epoch history from rank 0: {e}")))?;
            // which parameters have a velocity yet (all or none in practice), then their values
            let n = self.model.params_mut().len();
            self.optim.velocity_mut().resize(n, None);
            let mut has: Vec<u8> = self.optim.velocity().iter().map(|v| v.is_some() as u8).collect();
            c.broadcast(collective::Buffer::U8(&mut has), 0)?;
            let params = self.model.params_mut();
            for ((slot, p), &h) in self.optim.velocity_mut().iter_mut().zip(&params).zip(&has) {
                *slot = (h == 1).then(|| slot.take().unwrap_or_else(|| D::zeros(p.value.shape())));
            }
            let mut tensors: Vec<&mut D> = params.into_iter().map(|p| &mut p.value).collect();
            tensors.extend(self.optim.velocity_mut().iter_mut().flatten());
            collective::broadcast_tensors(c, &mut tensors, 0)?;
        }
        self.collective = collective;
        Ok(self)
    }

    /// Writes the training state after the epochs done so far (weights, optimiser velocity,
    /// history) and the identity of the run to `path`, atomically (see [`crate::checkpoint`]).
    /// `data` describes the training set, so that a resume with other data is refused.
    pub fn save_checkpoint(&self, path: &Path, data: &DataIdentity) -> Result<()> {
        let run = RunIdentity { model: self.model.config().clone(), train: self.config.clone(), data: data.clone() };
        let params = self.model.named_params();
        let velocity: Vec<(String, &D)> = params
            .iter()
            .zip(self.optim.velocity())
            .filter_map(|((n, _), v)| v.as_ref().map(|v| (n.clone(), v)))
            .collect();
        checkpoint::save(path, &run, &self.history, &params, &velocity)
    }

    /// A learner in the state a checkpoint saved, to train the remaining epochs of `this` run:
    /// the next epoch, its batch order, the weights and the momentum velocity are those of the
    /// run that wrote the checkpoint, so the result is bit for bit that of an uninterrupted run.
    ///
    /// Refuses ([`Error::ResumeMismatch`], every difference named) a checkpoint of another
    /// run: other data (domain, dtype, record count, shapes, key), architecture, or
    /// hyper-parameters. Only the number of epochs may differ, and it must exceed the epochs
    /// done.
    pub fn resume(path: &Path, this: &RunIdentity) -> Result<Self> {
        let ck = Checkpoint::<D>::load(path)?;
        let differences = ck.run.differences(this);
        if !differences.is_empty() {
            return Err(Error::ResumeMismatch { path: path.to_path_buf(), differences });
        }
        let done = ck.history.len();
        if done >= this.train.epochs {
            return Err(Error::Data(format!(
                "{}: the checkpoint already holds {done} epochs and this run asks for {}; ask for more epochs (--epochs) to continue training",
                path.display(),
                this.train.epochs
            )));
        }
        let mut learner = Self::new(Model::from_params(ck.run.model, ck.params)?, this.train.clone())?;
        let names: Vec<String> = learner.model.named_params().into_iter().map(|(n, _)| n).collect();
        let mut velocity = ck.velocity;
        let slots = names
            .iter()
            .zip(learner.model.params_mut())
            .map(|(name, p)| match velocity.iter().position(|(n, _)| n == name) {
                Some(i) if velocity[i].1.shape() == p.value.shape() => Ok(Some(velocity.swap_remove(i).1)),
                Some(_) => Err(Error::Config(format!("{}: the velocity of {name} has another shape", path.display()))),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some((name, _)) = velocity.first() {
            return Err(Error::Config(format!("{}: velocity of an unknown parameter {name}", path.display())));
        }
        *learner.optim.velocity_mut() = slots;
        learner.history = ck.history;
        Ok(learner)
    }

    /// The processes this learner trains with ([`Local`] unless [`Learner::distributed`]).
    pub fn collective(&self) -> &dyn Collective {
        self.collective.as_ref()
    }

    /// Checks that every rank of the job holds rank 0's weights bit for bit
    /// ([`collective::check_replicas`]); always `Ok` in one process.
    pub fn check_replicas(&self) -> Result<()> {
        let params: Vec<&D> = self.model.named_params().into_iter().map(|(_, p)| p).collect();
        collective::check_replicas(self.collective.as_ref(), &params)
    }

    /// Shows a progress bar per epoch on stderr.
    pub fn with_progress(mut self, show: bool) -> Self {
        self.show_progress = show;
        self
    }

    /// The model being trained.
    pub fn model(&self) -> &Model<D> {
        &self.model
    }

    /// Mutable access to the model (e.g. to predict between epochs).
    pub fn model_mut(&mut self) -> &mut Model<D> {
        &mut self.model
    }

    /// The trained model.
    pub fn into_model(self) -> Model<D> {
        self.model
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Epochs done so far.
    pub fn history(&self) -> &[EpochStats] {
        &self.history
    }

    /// Trains one more epoch on `data`, one mini-batch gathered from it per step (tensors in
    /// memory or a mapped file, see [`crate::records`]).
    ///
    /// # Shapes
    /// Gathered inputs: `[batch, input_len]`, targets: `[batch, output_len]`.
    pub fn train_epoch<R: Records<D> + Sync + ?Sized>(&mut self, data: &R) -> Result<EpochStats> {
        let n = data.len();
        let epoch = self.history.len() + 1;
        let bar = self
            .show_progress
            .then(|| progress(n as u64, format!("epoch {epoch}/{} ({})", self.config.epochs.max(epoch), D::NAME)));
        let order = batch_order(self.config.seed, epoch - 1, n);
        let t0 = Instant::now();
        let (mut steps, mut allreduce_seconds) = (0, 0.0);
        let (rank, size) = (self.collective.rank(), self.collective.size());
        let batches: Vec<&[usize]> = order.chunks(self.config.batch_size).collect();
        // This rank's records of a batch, gathered (`None`: a short last batch left it nothing).
        let gather = |global: &[usize]| {
            let idx = collective::share(global, rank, size);
            (!idx.is_empty()).then(|| data.gather(idx))
        };
        let mut next = batches.first().and_then(|b| gather(b));
        for (s, &global) in batches.iter().enumerate() {
            steps += 1;
            let diverged = |place: String| Error::Diverged { epoch, step: steps, place };
            let idx = collective::share(global, rank, size);
            // The next mini-batch is gathered while this one trains: its records are cache
            // misses all over the data set (latency, not arithmetic), so they overlap the step.
            let current = next.take();
            let model = &mut self.model;
            let (local, fetched) = rayon::join(
                move || match current {
                    // A short last batch leaves this rank nothing: it adds zero gradients.
                    None => Ok(()),
                    Some(batch) => batch.and_then(|(x, t)| match model.forward_backward(x, &t) {
                        Err(Error::NonFinite(place)) => Err(diverged(place)),
                        other => other.map(drop),
                    }),
                },
                || batches.get(s + 1).and_then(|b| gather(b)),
            );
            next = fetched;
            if size > 1 {
                collective::agree(self.collective.as_ref(), local)?;
                let ta = Instant::now();
                let weight = idx.len() as f64 / global.len() as f64;
                collective::all_reduce_grads(self.collective.as_ref(), &mut self.model.params_mut(), weight)?;
                allreduce_seconds += ta.elapsed().as_secs_f64();
            } else {
                local?;
            }
            if let Some(i) = self.optim.step(self.model.params_mut()) {
                let name = self.model.named_params().swap_remove(i).0;
                return Err(diverged(format!("parameter {name}")));
            }
            if let Some(bar) = &bar {
                bar.inc(global.len() as u64);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let stats = EpochStats { epoch, seconds: t0.elapsed().as_secs_f64(), steps, records: n, allreduce_seconds };
        self.history.push(stats.clone());
        Ok(stats)
    }

    /// Trains the remaining epochs of the configuration, calling `after_epoch` after each
    /// (evaluation, logging, checkpoints); an error from it stops training.
    pub fn fit<R: Records<D> + Sync + ?Sized>(
        &mut self,
        data: &R,
        mut after_epoch: impl FnMut(&mut Self, &EpochStats) -> Result<()>,
    ) -> Result<()> {
        while self.history.len() < self.config.epochs {
            let stats = self.train_epoch(data)?;
            after_epoch(self, &stats)?;
        }
        Ok(())
    }

    /// Outputs of the current model, `batch` records at a time (inputs in memory or mapped).
    pub fn predict<R: Rows<D> + ?Sized>(&mut self, inputs: &R, batch: usize) -> Result<D> {
        crate::records::predict(&mut self.model, inputs, batch)
    }
}
