//! Flattening of per-record images into feature vectors.

use super::{no_forward, Module};
use crate::Result;
use moreml_cipher::Domain;

/// `[n, ...] -> [n, prod(...)]`.
#[derive(Clone, Debug, Default)]
pub struct Flatten {
    shape: Option<Vec<usize>>,
}

impl<D: Domain> Module<D> for Flatten {
    fn forward(&mut self, x: D, _train: bool) -> Result<D> {
        let s = x.shape().to_vec();
        let flat = [s[0], s[1..].iter().product()];
        self.shape = Some(s);
        Ok(x.reshape(&flat)?)
    }

    fn backward(&mut self, g: D) -> Result<Option<D>> {
        Ok(Some(g.reshape(self.shape.as_ref().ok_or_else(no_forward)?)?))
    }

    fn clone_box(&self) -> Box<dyn Module<D>> {
        Box::new(self.clone())
    }
}
