//! Average and max pooling over non-overlapping square windows.

use super::{no_forward, Built, Module};
use crate::{funcs, Error, Result};
use moreml_cipher::{Domain, Float, Window2d};
use serde::{Deserialize, Serialize};

/// Configuration of a pooling layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Window size (also the stride).
    pub size: usize,
}

impl PoolConfig {
    fn output(&self, input: &[usize]) -> Result<Vec<usize>> {
        match input {
            [h, w, c] if self.size > 0 && self.size <= *h && self.size <= *w => {
                Ok(vec![h / self.size, w / self.size, *c])
            }
            _ => Err(Error::Config(format!("pool size {} does not fit input {input:?} ([h, w, c])", self.size))),
        }
    }

    pub(super) fn build_avg<D: Domain>(&self, input: &[usize]) -> Result<Built<D>> {
        Ok((Box::new(AvgPool { size: self.size, geom: None }), self.output(input)?))
    }

    pub(super) fn build_max<D: Domain>(&self, input: &[usize]) -> Result<Built<D>> {
        Ok((Box::new(MaxPool::<D> { size: self.size, geom: None, slopes: Vec::new() }), self.output(input)?))
    }
}

/// Window geometry of a pooling layer for a batch (trailing rows/columns that do not fill a
/// window are dropped: `(h - size) / size + 1 = h / size` windows, and the gradient of the
/// dropped inputs is 0). The geometry keeps the real input size: trimming it here made the
/// window kernels reject the input of any image side not divisible by the pool size.
fn geometry<D: Domain>(x: &D, size: usize) -> Window2d {
    let s = x.shape();
    Window2d { n: s[0], h: s[1], w: s[2], c: s[3], kh: size, kw: size, stride: size }
}

/// Mean over `size x size` windows.
#[derive(Clone, Debug)]
pub struct AvgPool {
    size: usize,
    geom: Option<Window2d>,
}

impl AvgPool {
    /// `1 / size^2`, the public weight of each window slot.
    fn scale<D: Domain>(&self) -> D::Scalar {
        D::Scalar::of(1.0 / (self.size * self.size) as f64)
    }
}

impl<D: Domain> Module<D> for AvgPool {
    /// # Shapes
    /// `[n, h, w, c] -> [n, h / size, w / size, c]`.
    fn forward(&mut self, x: D, _train: bool) -> Result<D> {
        let g = geometry(&x, self.size);
        self.geom = Some(g);
        // One fused pass: slots summed in row-major order, then scaled.
        Ok(x.window_mean(&g, self.scale::<D>()))
    }

    fn backward(&mut self, g: D) -> Result<Option<D>> {
        let geom = self.geom.ok_or_else(no_forward)?;
        Ok(Some(g.window_mean_adjoint(&geom, self.scale::<D>())))
    }

    fn clone_box(&self) -> Box<dyn Module<D>> {
        Box::new(self.clone())
    }
}

/// Smooth max over `size x size` windows ([`funcs::smooth_max`], a running max over the
/// slots); keeps `d max / d running-max` per slot for the backward pass.
#[derive(Clone, Debug)]
pub struct MaxPool<D: Domain> {
    size: usize,
    geom: Option<Window2d>,
    slopes: Vec<D>,
}

impl<D: Domain> Module<D> for MaxPool<D> {
    /// # Shapes
    /// `[n, h, w, c] -> [n, h / size, w / size, c]`.
    fn forward(&mut self, x: D, train: bool) -> Result<D> {
        let g = geometry(&x, self.size);
        self.slopes.clear();
        let mut m = x.window_slot(&g, 0, 0);
        for slot in 1..self.size * self.size {
            let (next, slope) = funcs::smooth_max(&m, &x.window_slot(&g, slot / self.size, slot % self.size));
            m = next;
            if train {
                self.slopes.push(slope);
            }
        }
        self.geom = Some(g);
        Ok(m)
    }

    fn backward(&mut self, g: D) -> Result<Option<D>> {
        let geom = self.geom.ok_or_else(no_forward)?;
        if self.slopes.len() + 1 != self.size * self.size {
            return Err(no_forward());
        }
        let mut dx = D::zeros(&geom.input_shape());
        let mut g = g;
        // Undo the running max from the last slot back to slot 0: max(m, x_slot) has
        // d/dm = s and d/dx_slot = 1 - s.
        for (slot, s) in self.slopes.iter().enumerate().rev().map(|(k, s)| (k + 1, s)) {
            let to_slot = g.mul(&s.scale(D::Scalar::of(-1.0)).add_scalar(D::Scalar::of(1.0)));
            to_slot.add_to_window_slot(&mut dx, &geom, slot / self.size, slot % self.size);
            g = g.mul(s);
        }
        g.add_to_window_slot(&mut dx, &geom, 0, 0);
        self.slopes.clear();
        Ok(Some(dx))
    }

    fn clone_box(&self) -> Box<dyn Module<D>> {
        Box::new(self.clone())
    }
}
