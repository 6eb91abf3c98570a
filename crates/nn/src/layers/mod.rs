//! Layers: each file holds a serde config and the module it builds, generic over the domain.
//!
//! A layer is a [`Module`]: a forward pass that caches what its backward pass needs, a
//! backward pass that stores parameter gradients in its [`Param`]s and returns the input
//! gradient. Adding a layer is one file here plus one variant of [`LayerConfig`].

mod activation;
mod conv2d;
mod dense;
mod flatten;
mod pool;

pub use activation::{Act, Activation};
pub use conv2d::{Conv2d, Conv2dConfig};
pub use dense::{Dense, DenseConfig};
pub use flatten::Flatten;
pub use pool::{AvgPool, MaxPool, PoolConfig};

use crate::{Error, Result};
use moreml_cipher::{Domain, Float};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A trainable tensor and its gradient from the last backward pass.
///
/// Optimiser state (momentum) lives in the optimiser, not here (see [`crate::optim`]).
#[derive(Clone, Debug)]
pub struct Param<D: Domain> {
    /// Current value: a public constant at initialisation, a ciphertext after the first
    /// update of an encrypted run.
    pub value: D,
    /// Gradient of the batch loss, set by the layer's backward pass.
    pub grad: Option<D>,
}

impl<D: Domain> Param<D> {
    /// A parameter with no gradient yet.
    pub fn new(value: D) -> Self {
        Self { value, grad: None }
    }
}

/// A layer built for one domain.
pub trait Module<D: Domain>: Send + Sync + std::fmt::Debug {
    /// Forward pass on a batch; caches what [`Module::backward`] needs when `train`.
    ///
    /// # Shapes
    /// `x` is `[n, ..per-record input shape]`; the output is `[n, ..per-record output shape]`
    /// as returned by [`LayerConfig::build`].
    fn forward(&mut self, x: D, train: bool) -> Result<D>;
    /// Backward pass: stores parameter gradients and returns the input gradient (`None` for a
    /// first layer, whose input gradient nobody needs).
    fn backward(&mut self, grad: D) -> Result<Option<D>>;
    /// Trainable parameters with their names within the layer (`weight`, `bias`).
    fn params(&self) -> Vec<(&'static str, &Param<D>)> {
        Vec::new()
    }
    /// Mutable access to the same parameters, in the same order.
    fn params_mut(&mut self) -> Vec<&mut Param<D>> {
        Vec::new()
    }
    /// A boxed copy (models are cloneable).
    fn clone_box(&self) -> Box<dyn Module<D>>;
}

impl<D: Domain> Clone for Box<dyn Module<D>> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// One layer of an architecture (the `kind` field of a model config's layer list).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerConfig {
    /// Fully connected layer with bias.
    Dense(DenseConfig),
    /// 2-D convolution (NHWC, no padding) with bias.
    Conv2d(Conv2dConfig),
    /// Average pooling over `size x size` windows (stride = size).
    AvgPool(PoolConfig),
    /// Max pooling over `size x size` windows (stride = size), built from smooth max.
    MaxPool(PoolConfig),
    /// `[n, h, w, c] -> [n, h*w*c]`.
    Flatten,
    /// Elementwise activation.
    Act {
        /// The function.
        f: Activation,
    },
}

/// What [`LayerConfig::build`] returns: the module and its per-record output shape.
pub type Built<D> = (Box<dyn Module<D>>, Vec<usize>);

impl LayerConfig {
    /// Builds the layer for per-record inputs of shape `input`, drawing public initial
    /// weights from `rng`. `first` layers skip their input gradient.
    pub fn build<D: Domain>(&self, input: &[usize], first: bool, rng: &mut impl Rng) -> Result<Built<D>> {
        match self {
            LayerConfig::Dense(c) => c.build(input, first, rng),
            LayerConfig::Conv2d(c) => c.build(input, first, rng),
            LayerConfig::AvgPool(c) => c.build_avg(input),
            LayerConfig::MaxPool(c) => c.build_max(input),
            LayerConfig::Flatten => Ok((Box::new(Flatten::default()), vec![input.iter().product()])),
            LayerConfig::Act { f } => Ok((Box::new(Act::new(f.clone())?), input.to_vec())),
        }
    }

    /// The layer kind as written in config files.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerConfig::Dense(_) => "dense",
            LayerConfig::Conv2d(_) => "conv2d",
            LayerConfig::AvgPool(_) => "avg_pool",
            LayerConfig::MaxPool(_) => "max_pool",
            LayerConfig::Flatten => "flatten",
            LayerConfig::Act { .. } => "act",
        }
    }
}

/// Largest parameter tensor a layer may ask for (2^28 values, 2 GiB in f64): a config
/// file is user input, and a typo must not become an absurd allocation.
pub const MAX_PARAM_VALUES: usize = 1 << 28;

/// Glorot-uniform public initial weights.
fn glorot<D: Domain>(shape: &[usize], fan_in: usize, fan_out: usize, rng: &mut impl Rng) -> Result<D> {
    if shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).is_none_or(|n| n > MAX_PARAM_VALUES) {
        return Err(Error::Config(format!("a weight tensor of shape {shape:?} is too large")));
    }
    let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
    let n: usize = shape.iter().product();
    let v = (0..n).map(|_| D::Scalar::of(rng.random_range(-a..a))).collect();
    Ok(D::constant(shape, v)?)
}

/// The error of a backward pass without a training forward pass before it.
fn no_forward() -> Error {
    Error::State("backward called without a training forward pass")
}

/// Weight-and-bias parameter list shared by dense and convolution layers.
fn weight_bias<'a, D: Domain>(w: &'a Param<D>, b: &'a Param<D>) -> Vec<(&'static str, &'a Param<D>)> {
    vec![("weight", w), ("bias", b)]
}
