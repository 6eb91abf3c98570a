//! A model: an architecture and its layers, for one domain.

use crate::config::ModelConfig;
use crate::layers::Layer;
use crate::loss;
use crate::{Error, Result};
use moreml_cipher::Domain;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A feed-forward network over domain `D` (plaintext or ciphertext tensors).
///
/// Built from a [`ModelConfig`] with public initial weights drawn from its seed, so a
/// plaintext model and an encrypted model built from one config start identical.
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
    layers: Vec<Layer<D>>,
    output: Vec<usize>,
}

impl<D: Domain> Model<D> {
    /// Builds the layers and draws the public initial weights.
    pub fn new(config: ModelConfig) -> Result<Self> {
        if !(0.0..1.0).contains(&config.label_smoothing) {
            return Err(Error::Config(format!("label_smoothing {} must be in [0, 1)", config.label_smoothing)));
        }
        if config.input.is_empty() || config.input.contains(&0) {
            return Err(Error::Config(format!("input shape {:?} is empty", config.input)));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut shape = config.input.clone();
        let mut layers = Vec::with_capacity(config.layers.len());
        for (i, cfg) in config.layers.iter().enumerate() {
            let (layer, out) =
                Layer::build(cfg, &shape, i == 0, &mut rng).map_err(|e| Error::Config(format!("layer {i}: {e}")))?;
            layers.push(layer);
            shape = out;
        }
        if shape.len() != 1 {
            return Err(Error::Config(format!("the last layer outputs {shape:?}; add flatten/dense layers")));
        }
        Ok(Self { config, layers, output: shape })
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
        self.output[0]
    }

    /// Forward pass of a batch.
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
        for layer in &mut self.layers {
            h = layer.forward(h, train)?;
        }
        Ok(h)
    }

    /// One SGD step on a batch; returns the outputs of the forward pass.
    pub fn train_step(&mut self, x: D, targets: &D, lr: f64, momentum: f64) -> Result<D> {
        let y = self.forward(x, true)?;
        if y.shape() != targets.shape() {
            return Err(Error::Data(format!("targets have shape {:?}, outputs {:?}", targets.shape(), y.shape())));
        }
        let mut g = Some(loss::gradient(self.config.loss, &y, targets, self.config.label_smoothing));
        for layer in self.layers.iter_mut().rev() {
            let Some(grad) = g.take() else { break };
            g = layer.backward(grad)?;
        }
        for layer in &mut self.layers {
            layer.step(lr, momentum);
        }
        Ok(y)
    }

    /// Outputs for many records, `batch` at a time.
    pub fn predict(&mut self, x: &D, batch: usize) -> Result<D> {
        let n = x.shape().first().copied().unwrap_or(0);
        let mut parts = Vec::new();
        for start in (0..n).step_by(batch.max(1)) {
            let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
            parts.push(self.forward(x.gather_rows(&idx), false)?);
        }
        if parts.is_empty() {
            return Err(Error::Data("no records to predict".into()));
        }
        Ok(D::concat_rows(&parts.iter().collect::<Vec<_>>()))
    }

    /// Parameters by name (`layer{i}.weight`, `layer{i}.bias`), in layer order.
    pub fn named_params(&self) -> Vec<(String, &D)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            if let Some([w, b]) = l.params() {
                out.push((format!("layer{i}.weight"), w));
                out.push((format!("layer{i}.bias"), b));
            }
        }
        out
    }

    /// Rebuilds a model from its architecture and saved parameters.
    pub fn from_params(config: ModelConfig, mut params: Vec<(String, D)>) -> Result<Self> {
        let mut model = Self::new(config)?;
        for (i, layer) in model.layers.iter_mut().enumerate() {
            if layer.params().is_none() {
                continue;
            }
            let mut take = |name: String| {
                let pos = params.iter().position(|(n, _)| *n == name);
                pos.map(|p| params.swap_remove(p).1)
                    .ok_or_else(|| Error::Config(format!("parameter {name} is missing")))
            };
            let w = take(format!("layer{i}.weight"))?;
            let b = take(format!("layer{i}.bias"))?;
            layer.set_params(w, b).map_err(|e| Error::Config(format!("layer {i}: {e}")))?;
        }
        if let Some((name, _)) = params.first() {
            return Err(Error::Config(format!("unexpected parameter {name}")));
        }
        Ok(model)
    }
}
