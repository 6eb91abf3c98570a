//! Optimisers: the state of training that is not the model.

use crate::layers::Param;
use crate::{Error, Result};
use moreml_cipher::{Domain, Float};

/// SGD with momentum: `v = momentum * v + g; w = w - lr * v`.
///
/// Uses public constants only (`lr`, `momentum`), so an encrypted run updates ciphertext
/// weights without the key. The velocity buffers are ciphertexts too.
#[derive(Clone, Debug)]
pub struct Sgd<D: Domain> {
    lr: f64,
    momentum: f64,
    velocity: Vec<Option<D>>,
}

impl<D: Domain> Sgd<D> {
    /// Checks the hyper-parameters: `lr > 0` finite, `0 <= momentum < 1`.
    pub fn new(lr: f64, momentum: f64) -> Result<Self> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::Config(format!("learning rate must be positive and finite, got {lr}")));
        }
        if !(0.0..1.0).contains(&momentum) {
            return Err(Error::Config(format!("momentum must be in [0, 1), got {momentum}")));
        }
        Ok(Self { lr, momentum, velocity: Vec::new() })
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// The momentum velocity of each parameter, in the model's parameter order (`None` before
    /// its first gradient): the optimiser's whole state, saved in checkpoints.
    pub fn velocity(&self) -> &[Option<D>] {
        &self.velocity
    }

    /// Mutable velocity buffers (a resumed learner restores them; a distributed job copies
    /// rank 0's to every rank).
    pub fn velocity_mut(&mut self) -> &mut Vec<Option<D>> {
        &mut self.velocity
    }

    /// Applies one update to every parameter that has a gradient, consuming the gradients.
    /// `params` must come in the same order at every call (the model's parameter order).
    ///
    /// Returns the position of the first parameter (in that order) with a non-finite value
    /// after the update: a diverged run, which the server sees without the key.
    pub fn step(&mut self, params: Vec<&mut Param<D>>) -> Option<usize> {
        if self.velocity.len() < params.len() {
            self.velocity.resize(params.len(), None);
        }
        let (lr, momentum) = (D::Scalar::of(self.lr), D::Scalar::of(self.momentum));
        let mut first_non_finite = None;
        for (i, (p, slot)) in params.into_iter().zip(&mut self.velocity).enumerate() {
            let finite = match (p.grad.take(), slot) {
                (None, _) => p.value.all_finite(),
                // Velocity and weight updated in one pass (same roundings as two passes).
                (Some(g), Some(v)) => p.value.momentum_step(v, &g, lr, momentum),
                (Some(g), slot @ None) => {
                    p.value.axpby(-lr, &g, D::Scalar::of(1.0));
                    *slot = Some(g);
                    p.value.all_finite()
                }
            };
            if !finite && first_non_finite.is_none() {
                first_non_finite = Some(i);
            }
        }
        first_non_finite
    }
}
