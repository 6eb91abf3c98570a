//! A model: an architecture and its layers, for one domain.

use crate::config::ModelConfig;
use crate::layers::{Module, Param};
use crate::loss;
use crate::{Error, Result};
use moreml_cipher::Domain;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A feed-forward network over domain `D` (plaintext or ciphertext tensors).
///
/// Built from a [`ModelConfig`] with public initial weights drawn from its seed, so a
/// plaintext model and an encrypted model built from one config start identical. The model
/// computes outputs and gradients; the [`crate::Learner`] owns the optimiser and the loop.
///
/// ```
/// use moreml_cipher::prelude::*;
/// use moreml_nn::{Model, ModelConfig};
/// let mut model = Model::<PlainTensor<f64>>::new(ModelConfig::mlp(4, 3, 2)).unwrap();
/// let x = PlainTensor::from_vec(&[1, 4], vec![0.1, 0.2, 0.3, 0.4]).unwrap();
/// let y = model.forward(x, false).unwrap();
/// assert_eq!(y.shape(), &[1, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct Model<D: Domain> {
    config: ModelConfig,
    layers: Vec<Box<dyn Module<D>>>,
    output: usize,
}

impl<D: Domain> Model<D> {
    /// Builds the layers and draws the public initial weights; errors name the layer.
    pub fn new(config: ModelConfig) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut shape = config.input.clone();
        let mut layers = Vec::with_capacity(config.layers.len());
        for (i, cfg) in config.layers.iter().enumerate() {
            let (layer, out) = cfg.build::<D>(&shape, i == 0, &mut rng).map_err(|e| match e {
                Error::Config(msg) => Error::Config(format!("layer {i} ({}): {msg}", cfg.kind())),
                other => other,
            })?;
            layers.push(layer);
            shape = out;
        }
        let [output] = shape[..] else {
            return Err(Error::Config(format!(
                "the last layer outputs {shape:?} per record; add flatten/dense layers"
            )));
        };
        Ok(Self { config, layers, output })
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Values per input record.
    pub fn input_len(&self) -> usize {
        self.config.input.iter().product()
    }

    /// Values per output record.
    pub fn output_len(&self) -> usize {
        self.output
    }

    /// Forward pass of a batch. A training pass checks every layer's output for non-finite
    /// values ([`Error::NonFinite`] names the layer).
    ///
    /// # Shapes
    /// `x`: `[n, input_len]` -> `[n, output_len]`.
    pub fn forward(&mut self, x: D, train: bool) -> Result<D> {
        let s = x.shape();
        if s.len() != 2 || s[1] != self.input_len() {
            return Err(Error::Data(format!("model expects inputs of shape [n, {}], got {s:?}", self.input_len())));
        }
        let mut shape = vec![s[0]];
        shape.extend(&self.config.input);
        let mut h = x.reshape(&shape)?;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            h = layer.forward(h, train)?;
            if train && !h.all_finite() {
                return Err(Error::NonFinite(format!("layer {i} ({}) output", self.config.layers[i].kind())));
            }
        }
        Ok(h)
    }

    /// Forward and backward pass on a batch: leaves the gradients in the parameters and
    /// returns the outputs. The optimiser applies them ([`crate::optim::Sgd::step`]).
    ///
    /// # Shapes
    /// `x`: `[n, input_len]`, `targets`: `[n, output_len]` -> `[n, output_len]`.
    pub fn forward_backward(&mut self, x: D, targets: &D) -> Result<D> {
        let y = self.forward(x, true)?;
        if y.shape() != targets.shape() {
            return Err(Error::Data(format!("targets have shape {:?}, outputs {:?}", targets.shape(), y.shape())));
        }
        let mut g = Some(loss::gradient(self.config.loss, &y, targets, self.config.label_smoothing));
        if g.as_ref().is_some_and(|g| !g.all_finite()) {
            return Err(Error::NonFinite("loss gradient".into()));
        }
        for layer in self.layers.iter_mut().rev() {
            let Some(grad) = g.take() else { break };
            g = layer.backward(grad)?;
        }
        Ok(y)
    }

    /// Outputs for many records, `batch` at a time.
    pub fn predict(&mut self, x: &D, batch: usize) -> Result<D> {
        let n = x.shape().first().copied().unwrap_or(0);
        crate::records::predict_with(self, n, batch, |idx| Ok(x.gather_rows(idx)))
    }

    /// Parameters by name (`layer{i}.weight`, `layer{i}.bias`), in layer order.
    pub fn named_params(&self) -> Vec<(String, &D)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for (name, p) in layer.params() {
                out.push((format!("layer{i}.{name}"), &p.value));
            }
        }
        out
    }

    /// Every parameter, in the order of [`Model::named_params`] (for optimisers).
    pub fn params_mut(&mut self) -> Vec<&mut Param<D>> {
        self.layers.iter_mut().flat_map(|l| l.params_mut()).collect()
    }

    /// Rebuilds a model from its architecture and saved parameters.
    pub fn from_params(config: ModelConfig, mut params: Vec<(String, D)>) -> Result<Self> {
        let mut model = Self::new(config)?;
        let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
        for (name, p) in names.iter().zip(model.params_mut()) {
            let pos = params
                .iter()
                .position(|(n, _)| n == name)
                .ok_or_else(|| Error::Config(format!("parameter {name} is missing")))?;
            let value = params.swap_remove(pos).1;
            if value.shape() != p.value.shape() {
                return Err(Error::Config(format!(
                    "saved parameter {name} has shape {:?}, the architecture needs {:?}",
                    value.shape(),
                    p.value.shape()
                )));
            }
            *p = Param::new(value);
        }
        if let Some((name, _)) = params.first() {
            return Err(Error::Config(format!("unexpected parameter {name}")));
        }
        Ok(model)
    }
}
