//! The training loop, kept apart from the model: batch order, progress, timing.

use crate::config::TrainConfig;
use crate::model::Model;
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use moreml_cipher::Domain;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
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

/// Trains `model` for one epoch on `(inputs, targets)`; returns the wall time in seconds.
///
/// # Shapes
/// `inputs`: `[n, input_len]`, `targets`: `[n, output_len]`.
pub fn train_epoch<D: Domain>(
    model: &mut Model<D>,
    inputs: &D,
    targets: &D,
    cfg: &TrainConfig,
    epoch: usize,
    bar: Option<&ProgressBar>,
) -> Result<f64> {
    let n = inputs.shape()[0];
    if targets.shape()[0] != n {
        return Err(Error::Data(format!("{n} inputs but {} targets", targets.shape()[0])));
    }
    if cfg.batch_size == 0 || !(cfg.lr > 0.0) || !(0.0..1.0).contains(&cfg.momentum) {
        return Err(Error::Config(format!("bad hyper-parameters {cfg:?}")));
    }
    let order = batch_order(cfg.seed, epoch, n);
    let t0 = Instant::now();
    for idx in order.chunks(cfg.batch_size) {
        let x = inputs.gather_rows(idx);
        let t = targets.gather_rows(idx);
        model.train_step(x, &t, cfg.lr, cfg.momentum)?;
        if let Some(bar) = bar {
            bar.inc(idx.len() as u64);
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}
