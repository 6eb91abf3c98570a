//! Serde configurations: architectures and training hyper-parameters.

use serde::{Deserialize, Serialize};

/// An activation function, built from the operation set (see [`crate::funcs`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activation {
    /// `x^2` (CryptoNets). Cheapest; unbounded, so learning rates must stay moderate.
    Square,
    /// Degree-2 least-squares fit of ReLU on `[-range, range]`:
    /// `3r/32 + x/2 + 15/(32 r) x^2`.
    ReluPoly {
        /// Half-width of the fitting interval.
        range: f64,
    },
    /// Any polynomial, coefficients from degree 0 up.
    Polynomial {
        /// Coefficients, constant term first.
        coeffs: Vec<f64>,
    },
    /// `1 / (1 + exp(-x))` with [`crate::funcs::exp`] and one inverse.
    Sigmoid,
    /// `(x + sqrt(x^2 + eps)) / 2` with the square root by Newton iteration.
    ReluNewton,
}

impl Activation {
    /// Polynomial coefficients for the polynomial kinds.
    pub fn coefficients(&self) -> Option<Vec<f64>> {
        match self {
            Activation::Square => Some(vec![0.0, 0.0, 1.0]),
            Activation::ReluPoly { range } => Some(vec![3.0 * range / 32.0, 0.5, 15.0 / (32.0 * range)]),
            Activation::Polynomial { coeffs } => Some(coeffs.clone()),
            Activation::Sigmoid | Activation::ReluNewton => None,
        }
    }
}

/// One layer of an architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerConfig {
    /// Fully connected layer with bias.
    Dense {
        /// Output features.
        out: usize,
    },
    /// 2-D convolution (NHWC, no padding) with bias.
    Conv2d {
        /// Output channels.
        out_channels: usize,
        /// Square kernel size.
        kernel: usize,
        /// Step between windows.
        #[serde(default = "one")]
        stride: usize,
    },
    /// Average pooling over `size x size` windows (stride = size).
    AvgPool {
        /// Window size.
        size: usize,
    },
    /// Max pooling over `size x size` windows (stride = size), built from smooth max.
    MaxPool {
        /// Window size.
        size: usize,
    },
    /// `[n, h, w, c] -> [n, h*w*c]`.
    Flatten,
    /// Elementwise activation.
    Act {
        /// The function.
        f: Activation,
    },
}

fn one() -> usize {
    1
}

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
pub struct ModelConfig {
    /// Shape of one input record: `[features]` or `[h, w, c]`.
    pub input: Vec<usize>,
    /// Layers in order.
    pub layers: Vec<LayerConfig>,
    /// Training loss.
    pub loss: LossKind,
    /// Seed of the public initial weights.
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

impl ModelConfig {
    /// `inputs - hidden - outputs` with square activation and softmax cross-entropy.
    pub fn mlp(inputs: usize, hidden: usize, outputs: usize) -> Self {
        Self {
            input: vec![inputs],
            layers: vec![
                LayerConfig::Dense { out: hidden },
                LayerConfig::Act { f: Activation::Square },
                LayerConfig::Dense { out: outputs },
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
                LayerConfig::Conv2d { out_channels: channels, kernel: 5, stride: 1 },
                act(),
                LayerConfig::AvgPool { size: 2 },
                LayerConfig::Flatten,
                LayerConfig::Dense { out: hidden },
                act(),
                LayerConfig::Dense { out: outputs },
            ],
            loss: LossKind::SoftmaxCrossEntropy,
            seed: 1,
            label_smoothing: 0.1,
        }
    }
}

/// Hyper-parameters of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
