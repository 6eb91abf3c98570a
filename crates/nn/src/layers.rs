//! Layers: small structs with forward and backward passes, generic over the domain.

use crate::config::{Activation, LayerConfig};
use crate::funcs;
use crate::{Error, Result};
use moreml_cipher::{Domain, Float, Window2d};
use rand::Rng;

/// A trainable tensor with its gradient and momentum buffer.
#[derive(Clone, Debug)]
pub struct Param<D: Domain> {
    /// Current value (public constant at initialisation, a ciphertext after the first update
    /// in an encrypted run).
    pub value: D,
    grad: Option<D>,
    velocity: Option<D>,
}

impl<D: Domain> Param<D> {
    fn new(value: D) -> Self {
        Self { value, grad: None, velocity: None }
    }

    /// SGD with momentum: `v = momentum * v + g; w = w - lr * v` (public constants only).
    fn step(&mut self, lr: f64, momentum: f64) {
        let Some(g) = self.grad.take() else { return };
        let v = match self.velocity.take() {
            Some(mut v) => {
                v.axpby(D::Scalar::of(1.0), &g, D::Scalar::of(momentum));
                v
            }
            None => g,
        };
        self.value.axpby(D::Scalar::of(-lr), &v, D::Scalar::of(1.0));
        self.velocity = Some(v);
    }
}

/// One layer and what its backward pass needs from the forward pass.
///
/// Fields are the parameters and the caches the variant names; they are public through the
/// enum only so that layers can be matched on.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum Layer<D: Domain> {
    /// `y = x w + b`; `w: [in, out]`, `b: [out]`.
    Dense {
        w: Param<D>,
        b: Param<D>,
        /// Whether the input gradient is needed (false for a first layer).
        input_grad: bool,
        input: Option<D>,
    },
    /// NHWC convolution by im2col + GEMM; `w: [k*k*c_in, c_out]`, `b: [c_out]`.
    Conv2d {
        w: Param<D>,
        b: Param<D>,
        kernel: usize,
        stride: usize,
        /// Whether the input gradient is needed (false for a first layer).
        input_grad: bool,
        cols: Option<(D, Window2d)>,
    },
    /// Mean over `size x size` windows.
    AvgPool { size: usize, geom: Option<Window2d> },
    /// Smooth max over `size x size` windows; keeps `d max / d running-max` per slot.
    MaxPool { size: usize, geom: Option<Window2d>, slopes: Vec<D> },
    /// `[n, ...] -> [n, prod(...)]`.
    Flatten { shape: Option<Vec<usize>> },
    /// Elementwise activation; keeps `f'(x)` for the backward pass.
    Act { f: Activation, slope: Option<D> },
}

fn glorot<D: Domain>(shape: &[usize], fan_in: usize, fan_out: usize, rng: &mut impl Rng) -> Result<D> {
    let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
    let n: usize = shape.iter().product();
    let v = (0..n).map(|_| D::Scalar::of(rng.random_range(-a..a))).collect();
    Ok(D::constant(shape, v)?)
}

impl<D: Domain> Layer<D> {
    /// Builds a layer for inputs of per-record shape `input`; returns it and its output shape.
    pub fn build(cfg: &LayerConfig, input: &[usize], first: bool, rng: &mut impl Rng) -> Result<(Self, Vec<usize>)> {
        let bad = |msg: String| Error::Config(msg);
        Ok(match (cfg, input) {
            (LayerConfig::Dense { out }, [inp]) => {
                let w = glorot::<D>(&[*inp, *out], *inp, *out, rng)?;
                let b = D::zeros(&[*out]);
                (Layer::Dense { w: Param::new(w), b: Param::new(b), input_grad: !first, input: None }, vec![*out])
            }
            (LayerConfig::Conv2d { out_channels, kernel, stride }, [h, w, c]) => {
                if kernel > h || kernel > w || *stride == 0 || *kernel == 0 {
                    return Err(bad(format!("conv2d kernel {kernel} / stride {stride} does not fit input {input:?}")));
                }
                let k = kernel * kernel * c;
                let wt = glorot::<D>(&[k, *out_channels], k, kernel * kernel * out_channels, rng)?;
                let (oh, ow) = ((h - kernel) / stride + 1, (w - kernel) / stride + 1);
                (
                    Layer::Conv2d {
                        w: Param::new(wt),
                        b: Param::new(D::zeros(&[*out_channels])),
                        kernel: *kernel,
                        stride: *stride,
                        input_grad: !first,
                        cols: None,
                    },
                    vec![oh, ow, *out_channels],
                )
            }
            (LayerConfig::AvgPool { size } | LayerConfig::MaxPool { size }, [h, w, c]) => {
                if *size == 0 || size > h || size > w {
                    return Err(bad(format!("pool size {size} does not fit input {input:?}")));
                }
                let out = vec![h / size, w / size, *c];
                let layer = match cfg {
                    LayerConfig::AvgPool { .. } => Layer::AvgPool { size: *size, geom: None },
                    _ => Layer::MaxPool { size: *size, geom: None, slopes: Vec::new() },
                };
                (layer, out)
            }
            (LayerConfig::Flatten, _) => (Layer::Flatten { shape: None }, vec![input.iter().product()]),
            (LayerConfig::Act { f }, _) => (Layer::Act { f: f.clone(), slope: None }, input.to_vec()),
            (cfg, _) => return Err(bad(format!("layer {cfg:?} cannot take inputs of shape {input:?}"))),
        })
    }

    fn pool_geom(x: &D, size: usize) -> Window2d {
        let s = x.shape();
        Window2d { n: s[0], h: s[1] - s[1] % size, w: s[2] - s[2] % size, c: s[3], kh: size, kw: size, stride: size }
    }

    /// Forward pass on a batch; caches what [`Layer::backward`] needs when `train`.
    ///
    /// # Shapes
    /// `x` is `[n, ..per-record shape]`; the output is `[n, ..output shape]` as returned by
    /// [`Layer::build`].
    pub fn forward(&mut self, x: D, train: bool) -> Result<D> {
        Ok(match self {
            Layer::Dense { w, b, input, .. } => {
                let mut y = x.matmul(false, &w.value, false);
                y.add_row(&b.value);
                if train {
                    *input = Some(x);
                }
                y
            }
            Layer::Conv2d { w, b, kernel, stride, cols, .. } => {
                let s = x.shape().to_vec();
                let g = Window2d { n: s[0], h: s[1], w: s[2], c: s[3], kh: *kernel, kw: *kernel, stride: *stride };
                let xc = x.im2col(&g);
                let mut y = xc.matmul(false, &w.value, false);
                y.add_row(&b.value);
                let oc = w.value.shape()[1];
                if train {
                    *cols = Some((xc, g));
                }
                y.reshape(&[g.n, g.oh(), g.ow(), oc])?
            }
            Layer::AvgPool { size, geom } => {
                let g = Self::pool_geom(&x, *size);
                let mut acc = x.window_slot(&g, 0, 0);
                for dy in 0..*size {
                    for dx in 0..*size {
                        if dy + dx > 0 {
                            acc = acc.add(&x.window_slot(&g, dy, dx));
                        }
                    }
                }
                *geom = Some(g);
                acc.scale(D::Scalar::of(1.0 / (*size * *size) as f64))
            }
            Layer::MaxPool { size, geom, slopes } => {
                let g = Self::pool_geom(&x, *size);
                slopes.clear();
                let mut m = x.window_slot(&g, 0, 0);
                for dy in 0..*size {
                    for dx in 0..*size {
                        if dy + dx > 0 {
                            let (next, slope) = funcs::smooth_max(&m, &x.window_slot(&g, dy, dx));
                            m = next;
                            if train {
                                slopes.push(slope);
                            }
                        }
                    }
                }
                *geom = Some(g);
                m
            }
            Layer::Flatten { shape } => {
                let s = x.shape().to_vec();
                let flat = [s[0], s[1..].iter().product()];
                *shape = Some(s);
                x.reshape(&flat)?
            }
            Layer::Act { f, slope } => {
                let (y, d) = match f.coefficients() {
                    Some(k) => {
                        let d = train.then(|| funcs::polynomial(&x, &funcs::derivative(&k)));
                        (funcs::polynomial(&x, &k), d)
                    }
                    None if *f == Activation::Sigmoid => {
                        let y = funcs::sigmoid(&x);
                        let d = train.then(|| y.sub(&y.square()));
                        (y, d)
                    }
                    None => {
                        let (y, d) = funcs::relu_newton(&x);
                        (y, train.then_some(d))
                    }
                };
                *slope = d;
                y
            }
        })
    }

    /// Backward pass: stores parameter gradients and returns the input gradient (`None` when
    /// the layer knows it is first and nobody needs it).
    pub fn backward(&mut self, g: D) -> Result<Option<D>> {
        let missing = || Error::State("backward called without a training forward pass");
        Ok(match self {
            Layer::Dense { w, b, input, input_grad } => {
                let x = input.take().ok_or_else(missing)?;
                w.grad = Some(x.matmul(true, &g, false));
                b.grad = Some(g.sum_rows());
                input_grad.then(|| g.matmul(false, &w.value, true))
            }
            Layer::Conv2d { w, b, cols, input_grad, .. } => {
                let (xc, geom) = cols.take().ok_or_else(missing)?;
                let oc = w.value.shape()[1];
                let g2 = g.reshape(&[geom.n * geom.oh() * geom.ow(), oc])?;
                w.grad = Some(xc.matmul(true, &g2, false));
                b.grad = Some(g2.sum_rows());
                if *input_grad {
                    Some(g2.matmul(false, &w.value, true).col2im(&geom))
                } else {
                    None
                }
            }
            Layer::AvgPool { size, geom } => {
                let geom = geom.ok_or_else(missing)?;
                let g = g.scale(D::Scalar::of(1.0 / (*size * *size) as f64));
                let mut dx = D::zeros(&geom.input_shape());
                for dy in 0..*size {
                    for dxx in 0..*size {
                        g.add_to_window_slot(&mut dx, &geom, dy, dxx);
                    }
                }
                Some(dx)
            }
            Layer::MaxPool { size, geom, slopes } => {
                let geom = geom.ok_or_else(missing)?;
                let mut dx = D::zeros(&geom.input_shape());
                let mut g = g;
                // Undo the running max from the last slot back to slot (0, 0).
                let mut k = slopes.len();
                for idx in (1..*size * *size).rev() {
                    k -= 1;
                    let s = &slopes[k];
                    // max(m, x_idx): d/dm = s, d/dx_idx = 1 - s.
                    let to_slot = g.mul(&s.scale(D::Scalar::of(-1.0)).add_scalar(D::Scalar::of(1.0)));
                    to_slot.add_to_window_slot(&mut dx, &geom, idx / *size, idx % *size);
                    g = g.mul(s);
                }
                g.add_to_window_slot(&mut dx, &geom, 0, 0);
                slopes.clear();
                Some(dx)
            }
            Layer::Flatten { shape } => Some(g.reshape(shape.as_ref().ok_or_else(missing)?)?),
            Layer::Act { slope, .. } => Some(g.mul(&slope.take().ok_or_else(missing)?)),
        })
    }

    /// Applies one SGD-with-momentum step to the layer's parameters.
    pub fn step(&mut self, lr: f64, momentum: f64) {
        if let Layer::Dense { w, b, .. } | Layer::Conv2d { w, b, .. } = self {
            w.step(lr, momentum);
            b.step(lr, momentum);
        }
    }

    /// The layer's parameters (weight, bias), if any.
    pub fn params(&self) -> Option<[&D; 2]> {
        match self {
            Layer::Dense { w, b, .. } | Layer::Conv2d { w, b, .. } => Some([&w.value, &b.value]),
            _ => None,
        }
    }

    /// Replaces the parameters (when loading a saved model); shapes must match.
    pub fn set_params(&mut self, new_w: D, new_b: D) -> Result<()> {
        match self {
            Layer::Dense { w, b, .. } | Layer::Conv2d { w, b, .. } => {
                if new_w.shape() != w.value.shape() || new_b.shape() != b.value.shape() {
                    return Err(Error::Config(format!(
                        "saved parameters have shapes {:?}/{:?}, the architecture needs {:?}/{:?}",
                        new_w.shape(),
                        new_b.shape(),
                        w.value.shape(),
                        b.value.shape()
                    )));
                }
                *w = Param::new(new_w);
                *b = Param::new(new_b);
                Ok(())
            }
            _ => Err(Error::Config("this layer has no parameters".into())),
        }
    }
}
