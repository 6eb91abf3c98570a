//! The convolution and average-pooling layers (batched im2col + one GEMM, fused pooling
//! kernels, buffers reused between steps) against naive reference loops, forward and every
//! gradient, over random shapes (proptest), in the plaintext and the ciphertext domain.
//!
//! Values are small integers, so every sum is exact in f64 whatever the summation order and
//! results are compared exactly. Ciphertexts use the basis `R' = [[0, 1], [1, 0]]`, whose
//! coordinates `(a, b)` are exact, and are multiplied as `(a, b)(c, d) = (ac + bd, ad + bc)`.

use moreml_cipher::prelude::*;
use moreml_nn::layers::{Conv2dConfig, PoolConfig};
use moreml_nn::LayerConfig;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Test access to coordinate planes through public API only.
trait TestDomain: Domain<Scalar = f64> {
    fn from_planes(shape: &[usize], planes: &[Vec<f64>]) -> Self;
    fn to_planes(&self) -> Vec<Vec<f64>>;
}

impl TestDomain for PlainTensor<f64> {
    fn from_planes(shape: &[usize], planes: &[Vec<f64>]) -> Self {
        PlainTensor::from_vec(shape, planes[0].clone()).unwrap()
    }
    fn to_planes(&self) -> Vec<Vec<f64>> {
        vec![self.values().to_vec()]
    }
}

fn basis() -> PublicBasis {
    PublicBasis::new([0.0, 1.0, 1.0, 0.0]).unwrap()
}

impl TestDomain for CipherTensor<f64> {
    fn from_planes(shape: &[usize], planes: &[Vec<f64>]) -> Self {
        let b = basis();
        let wire: Vec<f64> = planes[0].iter().zip(&planes[1]).flat_map(|(&x, &y)| b.from_coords(x, y)).collect();
        CipherTensor::from_wire(&WireCiphertext::from_vec(shape, wire).unwrap(), &b, "test").unwrap()
    }
    fn to_planes(&self) -> Vec<Vec<f64>> {
        let b = basis();
        let (mut pa, mut pb) = (Vec::new(), Vec::new());
        for c in self.to_wire(&b).raw().chunks_exact(4) {
            let (x, y, res) = b.to_coords([c[0], c[1], c[2], c[3]]);
            assert_eq!(res, 0.0);
            pa.push(x);
            pb.push(y);
        }
        vec![pa, pb]
    }
}

/// One element of a domain as its coordinates (`b = 0` for plaintext).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct El(f64, f64);

impl El {
    fn mul(self, o: El) -> El {
        El(self.0 * o.0 + self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    fn add(self, o: El) -> El {
        El(self.0 + o.0, self.1 + o.1)
    }
}

fn to_els(planes: &[Vec<f64>]) -> Vec<El> {
    (0..planes[0].len()).map(|i| El(planes[0][i], planes.get(1).map_or(0.0, |p| p[i]))).collect()
}

fn from_els(v: &[El], planes: usize) -> Vec<Vec<f64>> {
    let mut out = vec![v.iter().map(|e| e.0).collect::<Vec<_>>()];
    if planes == 2 {
        out.push(v.iter().map(|e| e.1).collect());
    }
    out
}

/// Random small-integer tensor of `shape` in domain `D`, with its elements.
fn ints<D: TestDomain>(rng: &mut ChaCha8Rng, shape: &[usize]) -> (D, Vec<El>) {
    let n: usize = shape.iter().product();
    let planes: Vec<Vec<f64>> =
        (0..D::PLANES).map(|_| (0..n).map(|_| rng.random_range(-4i32..=4) as f64).collect()).collect();
    (D::from_planes(shape, &planes), to_els(&planes))
}

/// Shape of one test case: batch, height, width, channels in/out, kernel, stride.
#[derive(Clone, Copy, Debug)]
struct ConvCase {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    oc: usize,
    k: usize,
    s: usize,
}

impl ConvCase {
    fn oh(&self) -> usize {
        (self.h - self.k) / self.s + 1
    }
    fn ow(&self) -> usize {
        (self.w - self.k) / self.s + 1
    }
    fn xi(&self, n: usize, y: usize, x: usize, c: usize) -> usize {
        ((n * self.h + y) * self.w + x) * self.c + c
    }
    fn wi(&self, ky: usize, kx: usize, c: usize, o: usize) -> usize {
        ((ky * self.k + kx) * self.c + c) * self.oc + o
    }
    fn yi(&self, n: usize, oy: usize, ox: usize, o: usize) -> usize {
        ((n * self.oh() + oy) * self.ow() + ox) * self.oc + o
    }
    /// Every (n, oy, ox, o, ky, kx, c) term of the convolution sum.
    fn terms(&self) -> impl Iterator<Item = [usize; 7]> + '_ {
        let (oh, ow) = (self.oh(), self.ow());
        (0..self.n).flat_map(move |n| {
            (0..oh).flat_map(move |oy| {
                (0..ow).flat_map(move |ox| {
                    (0..self.oc).flat_map(move |o| {
                        (0..self.k).flat_map(move |ky| {
                            (0..self.k).flat_map(move |kx| (0..self.c).map(move |c| [n, oy, ox, o, ky, kx, c]))
                        })
                    })
                })
            })
        })
    }
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (1usize..4, 1usize..9, 1usize..9, 1usize..4, 1usize..5, 1usize..5, 1usize..4)
        .prop_filter_map("kernel must fit", |(n, h, w, c, oc, k, s)| {
            (k <= h && k <= w).then_some(ConvCase { n, h, w, c, oc, k, s })
        })
}

/// Forward and backward through the real layer (twice: the second step runs on the buffers
/// reused from the first) against the reference loops; exact comparison.
fn check_conv<D: TestDomain>(case: ConvCase, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cfg = LayerConfig::Conv2d(Conv2dConfig { out_channels: case.oc, kernel: case.k, stride: case.s });
    let (mut layer, out_shape) = cfg.build::<D>(&[case.h, case.w, case.c], false, &mut rng).unwrap();
    assert_eq!(out_shape, vec![case.oh(), case.ow(), case.oc]);
    for _step in 0..2 {
        let (w, we) = ints::<D>(&mut rng, &[case.k * case.k * case.c, case.oc]);
        let (b, be) = ints::<D>(&mut rng, &[case.oc]);
        {
            let mut params = layer.params_mut();
            params[0].value = w;
            params[1].value = b;
        }
        let (x, xe) = ints::<D>(&mut rng, &[case.n, case.h, case.w, case.c]);
        let (g, ge) = ints::<D>(&mut rng, &[case.n, case.oh(), case.ow(), case.oc]);

        let mut y_ref: Vec<El> = (0..case.n * case.oh() * case.ow() * case.oc).map(|i| be[i % case.oc]).collect();
        let mut dw_ref = vec![El::default(); we.len()];
        let mut db_ref = vec![El::default(); case.oc];
        let mut dx_ref = vec![El::default(); xe.len()];
        for [n, oy, ox, o, ky, kx, c] in case.terms() {
            let (xi, wi, yi) =
                (case.xi(n, oy * case.s + ky, ox * case.s + kx, c), case.wi(ky, kx, c, o), case.yi(n, oy, ox, o));
            y_ref[yi] = y_ref[yi].add(xe[xi].mul(we[wi]));
            dw_ref[wi] = dw_ref[wi].add(xe[xi].mul(ge[yi]));
            dx_ref[xi] = dx_ref[xi].add(ge[yi].mul(we[wi]));
        }
        for (i, &v) in ge.iter().enumerate() {
            db_ref[i % case.oc] = db_ref[i % case.oc].add(v);
        }

        let y = layer.forward(x, true).unwrap();
        assert_eq!(y.shape(), &[case.n, case.oh(), case.ow(), case.oc]);
        assert_eq!(y.to_planes(), from_els(&y_ref, D::PLANES), "forward {case:?}");
        let dx = layer.backward(g).unwrap().expect("not a first layer");
        assert_eq!(dx.to_planes(), from_els(&dx_ref, D::PLANES), "input gradient {case:?}");
        let params = layer.params();
        let grad = |i: usize| params[i].1.grad.as_ref().expect("gradient set").to_planes();
        assert_eq!(grad(0), from_els(&dw_ref, D::PLANES), "weight gradient {case:?}");
        assert_eq!(grad(1), from_els(&db_ref, D::PLANES), "bias gradient {case:?}");
    }
    // Inference after training reuses the training buffer too.
    let (x, _) = ints::<D>(&mut rng, &[case.n, case.h, case.w, case.c]);
    assert_eq!(layer.forward(x, false).unwrap().shape(), &[case.n, case.oh(), case.ow(), case.oc]);
}

/// Average pooling (fused window mean and its adjoint) against the reference loops.
fn check_avg_pool<D: TestDomain>(case: ConvCase, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let size = case.k;
    let cfg = LayerConfig::AvgPool(PoolConfig { size });
    let (mut layer, out_shape) = cfg.build::<D>(&[case.h, case.w, case.c], false, &mut rng).unwrap();
    let (oh, ow) = (case.h / size, case.w / size);
    assert_eq!(out_shape, vec![oh, ow, case.c]);
    let (x, xe) = ints::<D>(&mut rng, &[case.n, case.h, case.w, case.c]);
    let (g, ge) = ints::<D>(&mut rng, &[case.n, oh, ow, case.c]);
    let scale = 1.0 / (size * size) as f64;
    let mut y_ref = vec![El::default(); case.n * oh * ow * case.c];
    let mut dx_ref = vec![El::default(); xe.len()];
    for n in 0..case.n {
        for (oy, ox, c) in (0..oh).flat_map(|a| (0..ow).flat_map(move |b| (0..case.c).map(move |c| (a, b, c)))) {
            let yi = ((n * oh + oy) * ow + ox) * case.c + c;
            for (dy, dx) in (0..size).flat_map(|a| (0..size).map(move |b| (a, b))) {
                let xi = case.xi(n, oy * size + dy, ox * size + dx, c);
                y_ref[yi] = y_ref[yi].add(xe[xi]);
                dx_ref[xi] = El(ge[yi].0 * scale, ge[yi].1 * scale);
            }
            y_ref[yi] = El(y_ref[yi].0 * scale, y_ref[yi].1 * scale);
        }
    }
    let y = layer.forward(x, true).unwrap();
    assert_eq!(y.to_planes(), from_els(&y_ref, D::PLANES), "pool forward {case:?}");
    let dx = layer.backward(g).unwrap().expect("pooling passes gradients on");
    assert_eq!(dx.to_planes(), from_els(&dx_ref, D::PLANES), "pool gradient {case:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn conv_matches_reference_plain(case in conv_case(), seed in any::<u64>()) {
        check_conv::<PlainTensor<f64>>(case, seed);
    }

    #[test]
    fn conv_matches_reference_cipher(case in conv_case(), seed in any::<u64>()) {
        check_conv::<CipherTensor<f64>>(case, seed);
    }

    #[test]
    fn avg_pool_matches_reference_plain(case in conv_case(), seed in any::<u64>()) {
        check_avg_pool::<PlainTensor<f64>>(case, seed);
    }

    #[test]
    fn avg_pool_matches_reference_cipher(case in conv_case(), seed in any::<u64>()) {
        check_avg_pool::<CipherTensor<f64>>(case, seed);
    }
}

/// The shape of the benchmark CNN's convolution (large enough for the parallel paths).
#[test]
fn conv_matches_reference_at_mnist_scale() {
    let case = ConvCase { n: 16, h: 28, w: 28, c: 1, oc: 8, k: 5, s: 1 };
    check_conv::<PlainTensor<f64>>(case, 1);
    check_conv::<CipherTensor<f64>>(case, 2);
    check_avg_pool::<CipherTensor<f64>>(ConvCase { n: 64, h: 24, w: 24, c: 8, oc: 1, k: 2, s: 2 }, 3);
}
