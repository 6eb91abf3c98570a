//! 2-D convolution: direct kernels for few output channels, else im2col and one GEMM per
//! batch (not per sample), the im2col buffer recycled from step to step like every tensor's
//! storage.

use super::{glorot, no_forward, weight_bias, Built, Module, Param};
use crate::{Error, Result};
use moreml_cipher::{direct_conv, Domain, MatmulLhs, Window2d};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Configuration of a [`Conv2d`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2dConfig {
    /// Output channels.
    pub out_channels: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Step between windows.
    #[serde(default = "one")]
    pub stride: usize,
}

fn one() -> usize {
    1
}

impl Conv2dConfig {
    pub(super) fn build<D: Domain>(&self, input: &[usize], first: bool, rng: &mut impl Rng) -> Result<Built<D>> {
        let [h, w, c] = input else {
            return Err(Error::Config(format!("conv2d needs image inputs [h, w, c], got {input:?}")));
        };
        let Self { out_channels, kernel, stride } = *self;
        if kernel == 0 || stride == 0 || out_channels == 0 || kernel > *h || kernel > *w {
            return Err(Error::Config(format!(
                "conv2d kernel {kernel}, stride {stride}, {out_channels} channels does not fit input {input:?}"
            )));
        }
        let k = kernel * kernel * c;
        let wt = glorot::<D>(&[k, out_channels], k, kernel * kernel * out_channels, rng)?;
        let out = vec![(h - kernel) / stride + 1, (w - kernel) / stride + 1, out_channels];
        let layer = Conv2d {
            w: Param::new(wt),
            b: Param::new(D::zeros(&[out_channels])),
            kernel,
            stride,
            input_grad: !first,
            saved: None,
        };
        Ok((Box::new(layer), out))
    }
}

/// NHWC convolution; `w: [k*k*c_in, c_out]`, `b: [c_out]`.
#[derive(Clone, Debug)]
pub struct Conv2d<D: Domain> {
    w: Param<D>,
    b: Param<D>,
    kernel: usize,
    stride: usize,
    input_grad: bool,
    /// What the last training forward pass keeps for the weight gradient.
    saved: Option<(Saved<D>, Window2d)>,
}

/// A convolution's forward input, kept for its weight gradient.
#[derive(Clone, Debug)]
enum Saved<D: Domain> {
    /// The input itself, where the direct kernels of [`Domain::conv2d`] /
    /// [`Domain::conv2d_weight_grad`] read the windows from it ([`direct_conv`]).
    Input(D),
    /// The im2col matrix (as a [`MatmulLhs`]: a ciphertext operand sum, if the products need
    /// one, is formed once for both): many output channels or no direct kernels, where the
    /// weight gradient is a GEMM on it too.
    Cols(MatmulLhs<D>),
}

impl<D: Domain> Module<D> for Conv2d<D> {
    /// # Shapes
    /// `[n, h, w, c_in] -> [n, oh, ow, c_out]`.
    fn forward(&mut self, x: D, train: bool) -> Result<D> {
        let s = x.shape();
        let g = Window2d { n: s[0], h: s[1], w: s[2], c: s[3], kh: self.kernel, kw: self.kernel, stride: self.stride };
        let oc = self.w.value.shape()[1];
        let (mut y, saved) = if direct_conv(oc) {
            (x.conv2d(&g, &self.w.value).reshape(&[g.n * g.oh() * g.ow(), oc])?, Saved::Input(x))
        } else {
            let xc = MatmulLhs::new(x.im2col(&g));
            (xc.matmul(false, &self.w.value, false), Saved::Cols(xc))
        };
        y.add_row(&self.b.value);
        if train {
            self.saved = Some((saved, g));
        }
        Ok(y.reshape(&[g.n, g.oh(), g.ow(), oc])?)
    }

    fn backward(&mut self, g: D) -> Result<Option<D>> {
        let (saved, geom) = self.saved.take().ok_or_else(no_forward)?;
        let oc = self.w.value.shape()[1];
        let g2 = g.reshape(&[geom.n * geom.oh() * geom.ow(), oc])?;
        self.w.grad = Some(match saved {
            Saved::Input(x) => x.conv2d_weight_grad(&geom, &g2),
            Saved::Cols(xc) => xc.matmul(true, &g2, false),
        });
        self.b.grad = Some(g2.sum_rows());
        Ok(self.input_grad.then(|| g2.matmul(false, &self.w.value, true).col2im(&geom)))
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
