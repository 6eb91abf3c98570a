//! Elementwise activations, built from the homomorphic operation set (see [`crate::funcs`]).

use super::{no_forward, Module};
use crate::{funcs, Error, Result};
use moreml_cipher::Domain;
use serde::{Deserialize, Serialize};

/// An activation function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
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
    /// `1 / (1 + exp(-x))` with [`funcs::exp`] and one inverse.
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

    /// Checks the parameters (finite coefficients, positive range).
    fn validate(&self) -> Result<()> {
        match self {
            Activation::ReluPoly { range } if !(range.is_finite() && *range > 0.0) => {
                Err(Error::Config(format!("relu_poly range must be positive and finite, got {range}")))
            }
            Activation::Polynomial { coeffs } if coeffs.is_empty() || coeffs.iter().any(|c| !c.is_finite()) => {
                Err(Error::Config(format!("polynomial needs finite coefficients, got {coeffs:?}")))
            }
            _ => Ok(()),
        }
    }

    /// `(f(x), f'(x))`, the derivative only when `slope` is asked for.
    fn apply<D: Domain>(&self, x: &D, slope: bool) -> (D, Option<D>) {
        match self {
            Activation::Square | Activation::ReluPoly { .. } | Activation::Polynomial { .. } => {
                // Value and derivative in one fused pass over `x`.
                let k = self.coefficients().unwrap_or_default();
                let dk = funcs::derivative(&k);
                x.polynomial(&k, slope.then_some(&dk[..]))
            }
            Activation::Sigmoid => {
                let y = funcs::sigmoid(x);
                let d = slope.then(|| y.sub(&y.square()));
                (y, d)
            }
            Activation::ReluNewton => {
                let (y, d) = funcs::relu_newton(x);
                (y, slope.then_some(d))
            }
        }
    }
}

/// An activation layer; keeps `f'(x)` for the backward pass.
#[derive(Clone, Debug)]
pub struct Act<D: Domain> {
    f: Activation,
    slope: Option<D>,
}

impl<D: Domain> Act<D> {
    /// An activation layer for `f` (checks its parameters).
    pub fn new(f: Activation) -> Result<Self> {
        f.validate()?;
        Ok(Self { f, slope: None })
    }
}

impl<D: Domain> Module<D> for Act<D> {
    /// # Shapes
    /// Any shape, unchanged.
    fn forward(&mut self, x: D, train: bool) -> Result<D> {
        let (y, d) = self.f.apply(&x, train);
        self.slope = d;
        Ok(y)
    }

    fn backward(&mut self, g: D) -> Result<Option<D>> {
        Ok(Some(g.mul(&self.slope.take().ok_or_else(no_forward)?)))
    }

    fn clone_box(&self) -> Box<dyn Module<D>> {
        Box::new(self.clone())
    }
}
