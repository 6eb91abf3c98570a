//! Serde configurations: architectures and training hyper-parameters.

use crate::layers::{Activation, Conv2dConfig, DenseConfig, LayerConfig, PoolConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The loss a model is trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Mean squared error `sum (y - t)^2 / 2`, averaged over the batch.
    Mse,
    /// Softmax cross-entropy; its gradient `softmax(z) - t` needs no logarithm.
    SoftmaxCrossEntropy,
}

/// A network architecture.
///
/// ```
/// for cfg in [moreml_nn::ModelConfig::mlp(784, 128, 10), moreml_nn::ModelConfig::cnn(28, 8, 128, 10)] {
///     let json = serde_json::to_string(&cfg).unwrap();
///     assert_eq!(serde_json::from_str::<moreml_nn::ModelConfig>(&json).unwrap(), cfg);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Shape of one input record: `[features]` or `[h, w, c]`.
    pub input: Vec<usize>,
    /// Layers in order.
    pub layers: Vec<LayerConfig>,
    /// Training loss.
    pub loss: LossKind,
    /// Seed of the public initial weights.
    #[serde(default = "one")]
    pub seed: u64,
    /// Label smoothing `e` for cross-entropy: targets become `(1 - e) t + e / k`.
    ///
    /// Besides regularising, it bounds the optimal logit gap (`ln((1-e)(k-1)/e)`, 4.4 for
    /// `e = 0.1, k = 10`), which keeps `exp` of logit differences small; in MORE arithmetic
    /// the rounding error of the smaller hidden side grows with that range (see
    /// [`crate::funcs::softmax`]).
    #[serde(default)]
    pub label_smoothing: f64,
}

fn one() -> u64 {
    1
}

impl ModelConfig {
    /// Reads a model config from a JSON or TOML file (by extension; `.toml` is TOML).
    ///
    /// Errors name the file and, for unknown layer kinds or fields, the offending entry.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read model config {}: {e}", path.display())))?;
        let cfg: Self = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))?
        } else {
            serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
        };
        cfg.validate().map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Ok(cfg)
    }

    /// Checks what can be checked without building layers (shapes are checked by
    /// [`crate::Model::new`], which names the layer).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::Config(format!("label_smoothing {} must be in [0, 1)", self.label_smoothing)));
        }
        if self.input.is_empty() || self.input.contains(&0) || self.input.len() > 3 {
            return Err(Error::Config(format!(
                "input shape {:?} must be [features] or [h, w, c], all > 0",
                self.input
            )));
        }
        if self.input.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).is_none_or(|n| n > 1 << 28) {
            return Err(Error::Config(format!("input shape {:?} is too large", self.input)));
        }
        if self.layers.is_empty() || self.layers.len() > 256 {
            return Err(Error::Config(format!("a model needs 1 to 256 layers, got {}", self.layers.len())));
        }
        Ok(())
    }

    /// `inputs - hidden - outputs` with square activation and softmax cross-entropy.
    pub fn mlp(inputs: usize, hidden: usize, outputs: usize) -> Self {
        Self {
            input: vec![inputs],
            layers: vec![
                LayerConfig::Dense(DenseConfig { out: hidden }),
                LayerConfig::Act { f: Activation::Square },
                LayerConfig::Dense(DenseConfig { out: outputs }),
            ],
            loss: LossKind::SoftmaxCrossEntropy,
            seed: 1,
            label_smoothing: 0.1,
        }
    }

    /// conv 5x5x`channels` - act - avgpool 2 - dense `hidden` - act - dense `outputs` on
    /// `[side, side, 1]` images, with act the degree-2 ReLU fit on [-4, 4]
    /// (`0.375 + 0.5 x + 0.117 x^2`).
    ///
    /// Plain `x^2` trains too in plaintext, but its transient logit spikes (measured: max logit
    /// 12 -> 47 within two steps early in epoch 1) put `exp` of logit differences near e^90,
    /// where the rounding error of the larger side (~1e-16 e^90) swamps the hidden side of the
    /// ciphertexts and the encrypted run turns to NaN. The linear term damps those spikes.
    pub fn cnn(side: usize, channels: usize, hidden: usize, outputs: usize) -> Self {
        let act = || LayerConfig::Act { f: Activation::ReluPoly { range: 4.0 } };
        Self {
            input: vec![side, side, 1],
            layers: vec![
                LayerConfig::Conv2d(Conv2dConfig { out_channels: channels, kernel: 5, stride: 1 }),
                act(),
                LayerConfig::AvgPool(PoolConfig { size: 2 }),
                LayerConfig::Flatten,
                LayerConfig::Dense(DenseConfig { out: hidden }),
                act(),
                LayerConfig::Dense(DenseConfig { out: outputs }),
            ],
            loss: LossKind::SoftmaxCrossEntropy,
            seed: 1,
            label_smoothing: 0.1,
        }
    }
}

/// Hyper-parameters of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Records per SGD step.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f64,
    /// Momentum coefficient (0 = plain SGD).
    pub momentum: f64,
    /// Seed of the batch order (identical for plaintext and encrypted runs).
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 5, batch_size: 64, lr: 0.05, momentum: 0.9, seed: 42 }
    }
}
