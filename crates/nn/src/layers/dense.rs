//! Fully connected layer.

use super::{glorot, no_forward, weight_bias, Built, Module, Param};
use crate::{Error, Result};
use moreml_cipher::{Domain, MatmulLhs};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Configuration of a [`Dense`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseConfig {
    /// Output features.
    pub out: usize,
}

impl DenseConfig {
    pub(super) fn build<D: Domain>(&self, input: &[usize], first: bool, rng: &mut impl Rng) -> Result<Built<D>> {
        let [inp] = input else {
            return Err(Error::Config(format!(
                "dense needs flat inputs [features], got {input:?}; add a flatten layer"
            )));
        };
        if self.out == 0 {
            return Err(Error::Config("dense: `out` must be at least 1".into()));
        }
        let w = glorot::<D>(&[*inp, self.out], *inp, self.out, rng)?;
        let layer = Dense { w: Param::new(w), b: Param::new(D::zeros(&[self.out])), input_grad: !first, input: None };
        Ok((Box::new(layer), vec![self.out]))
    }
}

/// `y = x w + b` with `w: [in, out]`, `b: [out]`.
#[derive(Clone, Debug)]
pub struct Dense<D: Domain> {
    w: Param<D>,
    b: Param<D>,
    input_grad: bool,
    /// The input of the last training forward pass, kept for the weight gradient (as a
    /// [`MatmulLhs`]: a ciphertext operand sum is formed once for both products).
    input: Option<MatmulLhs<D>>,
}

impl<D: Domain> Module<D> for Dense<D> {
    /// # Shapes
    /// `[n, in] -> [n, out]`.
    fn forward(&mut self, x: D, train: bool) -> Result<D> {
        let x = MatmulLhs::new(x);
        let mut y = x.matmul(false, &self.w.value, false);
        y.add_row(&self.b.value);
        if train {
            self.input = Some(x);
        }
        Ok(y)
    }

    fn backward(&mut self, g: D) -> Result<Option<D>> {
        let x = self.input.take().ok_or_else(no_forward)?;
        self.w.grad = Some(x.matmul(true, &g, false));
        self.b.grad = Some(g.sum_rows());
        Ok(self.input_grad.then(|| g.matmul(false, &self.w.value, true)))
    }

    fn params(&self) -> Vec<(&'static str, &Param<D>)> {
        weight_bias(&self.w, &self.b)
    }

    fn params_mut(&mut self) -> Vec<&mut Param<D>> {
        vec![&mut self.w, &mut self.b]
    }

    fn clone_box(&self) -> Box<dyn Module<D>> {
        Box::new(self.clone())
    }
}
