//! Fast kernels (GEMM, layout and reduction kernels) against naive references, over edge
//! sizes, for every domain: `PlainTensor<f32|f64>` and `CipherTensor<f32|f64>` (whose
//! coordinate planes must be transformed independently, and multiplied as `(a, b)(c, d) =
//! (ac + bd, ad + bc)`).
//!
//! Inputs are small integers, so every sum is exact in f32 and f64 and results are compared
//! exactly; one GEMM test uses random reals with a rounding tolerance instead.

use moreml_cipher::prelude::*;
use moreml_cipher::{MatmulLhs, Window2d};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Test access to the coordinate planes of a domain, through public API only.
trait TestDomain: Domain {
    fn from_planes(shape: &[usize], planes: &[Vec<f64>]) -> Self;
    fn to_planes(&self) -> Vec<Vec<f64>>;
}

impl<T: Float> TestDomain for PlainTensor<T> {
    fn from_planes(shape: &[usize], planes: &[Vec<f64>]) -> Self {
        assert_eq!(planes.len(), 1);
        PlainTensor::from_vec(shape, planes[0].iter().map(|&v| T::of(v)).collect()).unwrap()
    }
    fn to_planes(&self) -> Vec<Vec<f64>> {
        vec![self.values().iter().map(|v| v.f64()).collect()]
    }
}

/// `R' = [[0, 1], [1, 0]]`: coordinates (a, b) are the 2x2 matrix `[[a, b], [b, a]]`, exact.
fn basis() -> PublicBasis {
    PublicBasis::new([0.0, 1.0, 1.0, 0.0]).unwrap()
}

impl<T: Float> TestDomain for CipherTensor<T> {
    fn from_planes(shape: &[usize], planes: &[Vec<f64>]) -> Self {
        assert_eq!(planes.len(), 2);
        let b = basis();
        let wire: Vec<T> =
            planes[0].iter().zip(&planes[1]).flat_map(|(&x, &y)| b.from_coords(x, y).map(T::of)).collect();
        CipherTensor::from_wire(&WireCiphertext::from_vec(shape, wire).unwrap(), &b, "test").unwrap()
    }
    fn to_planes(&self) -> Vec<Vec<f64>> {
        let b = basis();
        let w = self.to_wire(&b);
        let (mut pa, mut pb) = (Vec::new(), Vec::new());
        for c in w.raw().chunks_exact(4) {
            let (x, y, res) = b.to_coords([c[0].f64(), c[1].f64(), c[2].f64(), c[3].f64()]);
            assert_eq!(res, 0.0);
            pa.push(x);
            pb.push(y);
        }
        vec![pa, pb]
    }
}

/// Generates `_plain_f32`, `_plain_f64`, `_cipher_f32`, `_cipher_f64` tests for a generic
/// test function `fn name<D: TestDomain>()`.
macro_rules! test_domains {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[test]
                fn plain_f32() { super::$name::<PlainTensor<f32>>() }
                #[test]
                fn plain_f64() { super::$name::<PlainTensor<f64>>() }
                #[test]
                fn cipher_f32() { super::$name::<CipherTensor<f32>>() }
                #[test]
                fn cipher_f64() { super::$name::<CipherTensor<f64>>() }
            }
        )*
    };
}

test_domains!(
    gemm_exact,
    gemm_random_reals,
    gemm_same_bits_on_any_thread_count,
    kept_operand_same_bits_as_matmul,
    transpose2,
    gather_rows,
    im2col_reference_and_adjoint,
    direct_conv_matches_im2col_products,
    direct_conv_same_bits_on_any_thread_count,
    window_slot_reference_and_adjoint,
    reductions_and_broadcast,
    elementwise_large,
);

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `planes` planes of `n` small integers in -8..=8.
fn ints(g: &mut ChaCha8Rng, planes: usize, n: usize) -> Vec<Vec<f64>> {
    (0..planes).map(|_| (0..n).map(|_| g.random_range(-8i32..=8) as f64).collect()).collect()
}

/// Reals in -1..1 (exactly representable in the domain's scalar), for tests that compare bits
/// rather than values.
fn real_valued<D: TestDomain>(g: &mut ChaCha8Rng, shape: &[usize]) -> D {
    let len = shape.iter().product();
    let planes: Vec<Vec<f64>> =
        (0..D::PLANES).map(|_| (0..len).map(|_| D::Scalar::of(g.random_range(-1.0..1.0)).f64()).collect()).collect();
    D::from_planes(shape, &planes)
}

fn random<D: TestDomain>(g: &mut ChaCha8Rng, shape: &[usize]) -> (D, Vec<Vec<f64>>) {
    let p = ints(g, D::PLANES, shape.iter().product());
    (D::from_planes(shape, &p), p)
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len());
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Naive `op(a) op(b)` on row-major stored matrices; returns `[m, n]` row-major.
fn naive_mm(a: &[f64], a_shape: [usize; 2], ta: bool, b: &[f64], b_shape: [usize; 2], tb: bool) -> Vec<f64> {
    let (m, k) = if ta { (a_shape[1], a_shape[0]) } else { (a_shape[0], a_shape[1]) };
    let n = if tb { b_shape[0] } else { b_shape[1] };
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let x = if ta { a[p * m + i] } else { a[i * k + p] };
                let y = if tb { b[j * k + p] } else { b[p * n + j] };
                c[i * n + j] += x * y;
            }
        }
    }
    c
}

/// Domain product of plane sets: plain `AB`; cipher `(A1 B1 + A2 B2, A1 B2 + A2 B1)`.
fn naive_domain_mm(
    a: &[Vec<f64>],
    sa: [usize; 2],
    ta: bool,
    b: &[Vec<f64>],
    sb: [usize; 2],
    tb: bool,
) -> Vec<Vec<f64>> {
    let mm = |x: &[f64], y: &[f64]| naive_mm(x, sa, ta, y, sb, tb);
    let add = |x: Vec<f64>, y: Vec<f64>| x.iter().zip(&y).map(|(p, q)| p + q).collect::<Vec<_>>();
    match a.len() {
        1 => vec![mm(&a[0], &b[0])],
        2 => vec![add(mm(&a[0], &b[0]), mm(&a[1], &b[1])), add(mm(&a[0], &b[1]), mm(&a[1], &b[0]))],
        _ => unreachable!(),
    }
}

const GEMM_SIZES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 5, 2),
    (2, 1, 3),
    (17, 33, 1),
    (1, 33, 17),
    (17, 33, 17),
    (8, 16, 4),
    (31, 7, 65),
    (65, 64, 33),
    // Ciphertexts: four products (a short side) above, Karatsuba here (every side long).
    (40, 96, 48),
    // A weight-gradient shape: the inner length is cut in halves and quarters (split-k; for
    // ciphertexts, blocks of the inner length with partial results).
    (16, 36_870, 8),
    // A convolution-like shape: ciphertext products in blocks of rows.
    (10_000, 9, 5),
    (0, 3, 4),
    (3, 0, 4),
    (3, 4, 0),
];

fn gemm_exact<D: TestDomain>() {
    let mut g = rng(1);
    for &(m, k, n) in GEMM_SIZES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sa = if ta { [k, m] } else { [m, k] };
            let sb = if tb { [n, k] } else { [k, n] };
            let (a, pa) = random::<D>(&mut g, &sa);
            let (b, pb) = random::<D>(&mut g, &sb);
            let c = a.matmul(ta, &b, tb);
            assert_eq!(c.shape(), &[m, n]);
            assert_eq!(c.to_planes(), naive_domain_mm(&pa, sa, ta, &pb, sb, tb), "{m}x{k}x{n} ta={ta} tb={tb}");
        }
    }
}

/// Products just below, at and above 2^21 multiply-adds (where the kernel starts cutting a
/// product into halves run as parallel tasks) and 2^24 (where it hands the whole product to the
/// `gemm` crate's own parallelism), with odd sizes and every transpose combination. Small
/// integers keep every sum exact (|entry| <= 64 k < 2^24 even in f32), so results compare exactly.
const SWITCH_SIZES: &[(usize, usize, usize)] = &[
    (127, 129, 127),  // 2_080_641 < 2^21: one task
    (128, 128, 128),  // exactly 2^21: halves
    (129, 127, 1000), // more columns than rows: column halves
    (255, 257, 255),  // 16_711_425 < 2^24: halves
    (256, 256, 256),  // exactly 2^24: gemm's parallelism
    (257, 255, 257),  // 16_842_495 > 2^24
    (64, 262_143, 1), // long dot products, 16_777_152 < 2^24, too narrow to cut
    (65, 262_143, 1), // 17_039_295 > 2^24
    (4097, 4095, 1),  // matrix-vector just below: row halves
    (4097, 4097, 1),  // just above
];

#[test]
#[ignore = "minutes on 2 shared cores: 16M multiply-add GEMMs against a naive reference; run with --ignored"]
fn gemm_path_switch_sweep_all_domains() {
    gemm_path_switch_sweep::<PlainTensor<f32>>();
    gemm_path_switch_sweep::<PlainTensor<f64>>();
    gemm_path_switch_sweep::<CipherTensor<f32>>();
    gemm_path_switch_sweep::<CipherTensor<f64>>();
}

fn gemm_path_switch_sweep<D: TestDomain>() {
    let mut g = rng(11);
    for &(m, k, n) in SWITCH_SIZES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sa = if ta { [k, m] } else { [m, k] };
            let sb = if tb { [n, k] } else { [k, n] };
            let (a, pa) = random::<D>(&mut g, &sa);
            let (b, pb) = random::<D>(&mut g, &sb);
            let c = a.matmul(ta, &b, tb);
            assert_eq!(c.shape(), &[m, n]);
            let want = naive_domain_mm(&pa, sa, ta, &pb, sb, tb);
            for (p, (got, want)) in c.to_planes().iter().zip(&want).enumerate() {
                if let Some(i) = got.iter().zip(want).position(|(x, y)| x != y) {
                    panic!("{m}x{k}x{n} ta={ta} tb={tb} plane {p}: entry {i} is {} instead of {}", got[i], want[i]);
                }
            }
        }
    }
}

fn gemm_random_reals<D: TestDomain>() {
    let mut g = rng(2);
    let eps = <D::Scalar as num_traits::Float>::epsilon().f64();
    for &(m, k, n) in &[(17, 33, 17), (64, 130, 9), (5, 257, 3)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sa = if ta { [k, m] } else { [m, k] };
            let sb = if tb { [n, k] } else { [k, n] };
            // Reals representable in the domain's scalar, so the reference sees the same inputs.
            let mut real = |len: usize| -> Vec<Vec<f64>> {
                (0..D::PLANES)
                    .map(|_| (0..len).map(|_| D::Scalar::of(g.random_range(-1.0..1.0)).f64()).collect())
                    .collect()
            };
            let (pa, pb) = (real(m * k), real(k * n));
            let c = D::from_planes(&sa, &pa).matmul(ta, &D::from_planes(&sb, &pb), tb);
            let want = naive_domain_mm(&pa, sa, ta, &pb, sb, tb);
            // |error| <= c * k * eps * sum |a||b|, and |a|, |b| < 1 (Karatsuba adds a few terms).
            let tol = 8.0 * (k as f64) * (k as f64) * eps * D::PLANES as f64;
            for (got, want) in c.to_planes().iter().zip(&want) {
                for (x, y) in got.iter().zip(want) {
                    assert!((x - y).abs() <= tol, "{m}x{k}x{n} ta={ta} tb={tb}: {x} vs {y}");
                }
            }
        }
    }
}

/// How a product is cut into tasks depends on its shape only, so a result has the same bits
/// on 1 and on 3 threads (a cut along the inner length changes the order of the sum).
fn gemm_same_bits_on_any_thread_count<D: TestDomain>() {
    let mut g = rng(3);
    for &(m, k, n) in &[(16, 36_870, 8), (8, 40_000, 25), (130, 140, 150), (36_870, 25, 8)] {
        for ta in [false, true] {
            let sa = if ta { [k, m] } else { [m, k] };
            let (a, b) = (real_valued::<D>(&mut g, &sa), real_valued::<D>(&mut g, &[k, n]));
            let on = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
                pool.install(|| a.matmul(ta, &b, false)).to_planes()
            };
            let one = on(1);
            assert!(one == on(3), "{m}x{k}x{n} ta={ta}: 1 and 3 threads differ");
            assert!(one.iter().flatten().all(|v| v.is_finite()));
        }
    }
}

/// A kept left operand gives the bits of a plain product, whatever the products before it:
/// the first product below forms (and keeps) the ciphertext operand sum, the second one has a
/// short side, where a plain product takes four GEMMs instead of Karatsuba.
fn kept_operand_same_bits_as_matmul<D: TestDomain>() {
    let mut g = rng(5);
    let mut real = |shape: &[usize]| real_valued::<D>(&mut g, shape);
    let (a, square, narrow) = (real(&[200, 200]), real(&[200, 200]), real(&[200, 4]));
    let kept = MatmulLhs::new(a.clone());
    assert!(kept.matmul(false, &square, false).to_planes() == a.matmul(false, &square, false).to_planes());
    assert!(kept.matmul(true, &narrow, false).to_planes() == a.matmul(true, &narrow, false).to_planes());
}

fn transpose2<D: TestDomain>() {
    let mut g = rng(3);
    for &(r, c) in &[(1, 1), (1, 7), (7, 1), (31, 33), (32, 32), (64, 65), (0, 5), (5, 0), (100, 3)] {
        let (x, p) = random::<D>(&mut g, &[r, c]);
        let t = x.transpose2();
        assert_eq!(t.shape(), &[c, r]);
        let want: Vec<Vec<f64>> =
            p.iter().map(|pl| (0..c * r).map(|idx| pl[(idx % r) * c + idx / r]).collect()).collect();
        assert_eq!(t.to_planes(), want, "{r}x{c}");
        assert_eq!(t.transpose2().to_planes(), p);
    }
}

fn gather_rows<D: TestDomain>() {
    let mut g = rng(4);
    for shape in [vec![5], vec![5, 3], vec![4, 2, 3], vec![1, 1], vec![3, 0]] {
        let rows = shape[0];
        let row_len: usize = shape[1..].iter().product();
        let (x, p) = random::<D>(&mut g, &shape);
        for idx in [vec![], vec![0], vec![rows - 1, 0, rows - 1], (0..rows).rev().collect::<Vec<_>>(), vec![0; 7]] {
            let y = x.gather_rows(&idx);
            let mut want_shape = shape.clone();
            want_shape[0] = idx.len();
            assert_eq!(y.shape(), &want_shape[..]);
            let want: Vec<Vec<f64>> = p
                .iter()
                .map(|pl| idx.iter().flat_map(|&i| pl[i * row_len..(i + 1) * row_len].to_vec()).collect())
                .collect();
            assert_eq!(y.to_planes(), want, "{shape:?} {idx:?}");
        }
    }
}

#[test]
#[should_panic(expected = "out of range")]
fn gather_rows_out_of_range_panics() {
    let x = PlainTensor::<f64>::from_vec(&[2, 2], vec![1.0; 4]).unwrap();
    x.gather_rows(&[2]);
}

fn geometries() -> Vec<Window2d> {
    let w = |n, h, w, c, kh, kw, stride| Window2d { n, h, w, c, kh, kw, stride };
    vec![
        w(1, 1, 1, 1, 1, 1, 1),
        w(2, 5, 4, 3, 2, 2, 1),
        w(1, 6, 6, 1, 2, 2, 2), // pooling
        w(1, 7, 8, 2, 2, 3, 3), // stride > kernel in one direction: gaps
        w(3, 7, 7, 2, 3, 3, 2), // stride does not divide evenly: border unused
        w(2, 5, 5, 4, 5, 5, 1), // kernel = image
        w(1, 9, 3, 1, 1, 3, 1),
        w(1, 12, 12, 1, 5, 5, 1), // MNIST-like conv, small
    ]
}

/// Naive im2col on one plane.
fn naive_im2col(x: &[f64], g: &Window2d) -> Vec<f64> {
    let mut out = Vec::new();
    for n in 0..g.n {
        for oy in 0..g.oh() {
            for ox in 0..g.ow() {
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        for c in 0..g.c {
                            let (y, xx) = (oy * g.stride + ky, ox * g.stride + kx);
                            out.push(x[((n * g.h + y) * g.w + xx) * g.c + c]);
                        }
                    }
                }
            }
        }
    }
    out
}

fn im2col_reference_and_adjoint<D: TestDomain>() {
    let mut rg = rng(5);
    for g in geometries() {
        g.validate().unwrap();
        let (x, px) = random::<D>(&mut rg, &g.input_shape());
        let cols = x.im2col(&g);
        assert_eq!(cols.shape(), &g.cols_shape());
        let pc = cols.to_planes();
        for (got, pl) in pc.iter().zip(&px) {
            assert_eq!(got, &naive_im2col(pl, &g), "{g:?}");
        }
        // Adjointness, plane by plane: <im2col(x), y> == <x, col2im(y)>.
        let (y, py) = random::<D>(&mut rg, &g.cols_shape());
        let back = y.col2im(&g);
        assert_eq!(back.shape(), &g.input_shape());
        for (p, pb) in back.to_planes().iter().enumerate() {
            assert_eq!(dot(&pc[p], &py[p]), dot(&px[p], pb), "{g:?} plane {p}");
        }
    }
}

/// The direct convolution kernels (few output channels) against the products of the naive
/// im2col matrix, exactly (small integers), for every geometry and channel counts around the
/// register width (1, 7, 8, 9, 16; 17 takes the GEMM path). The MNIST shape has more output
/// pixels than one partial sum of the weight gradient; the small geometries leave pixel
/// groups and window-value groups with tails.
fn direct_conv_matches_im2col_products<D: TestDomain>() {
    let mut rg = rng(11);
    let mut cases: Vec<(Window2d, usize)> = geometries().into_iter().map(|g| (g, 1)).collect();
    let mnist = Window2d { n: 5, h: 28, w: 28, c: 1, kh: 5, kw: 5, stride: 1 };
    cases.extend([1, 7, 8, 9, 16, 17].map(|oc| (mnist, oc)));
    cases.extend([(3, 8), (1, 9)].map(|(n, oc)| (Window2d { n, h: 7, w: 7, c: 2, kh: 3, kw: 3, stride: 2 }, oc)));
    cases.push((Window2d { n: 0, ..mnist }, 8)); // an empty batch
    for (g, oc) in cases {
        let k = g.kh * g.kw * g.c;
        let pixels = g.n * g.oh() * g.ow();
        let (x, px) = random::<D>(&mut rg, &g.input_shape());
        let (w, pw) = random::<D>(&mut rg, &[k, oc]);
        let (dy, pdy) = random::<D>(&mut rg, &[pixels, oc]);
        let cols: Vec<Vec<f64>> = px.iter().map(|p| naive_im2col(p, &g)).collect();
        let y = x.conv2d(&g, &w);
        assert_eq!(y.shape(), &[g.n, g.oh(), g.ow(), oc]);
        let want = naive_domain_mm(&cols, [pixels, k], false, &pw, [k, oc], false);
        assert_eq!(y.to_planes(), want, "forward {g:?} oc={oc}");
        let dw = x.conv2d_weight_grad(&g, &dy);
        assert_eq!(dw.shape(), &[k, oc]);
        let want = naive_domain_mm(&cols, [pixels, k], true, &pdy, [pixels, oc], false);
        assert_eq!(dw.to_planes(), want, "weight gradient {g:?} oc={oc}");
    }
}

/// The direct convolution's sums run in an order fixed by the shapes: real-valued results
/// have the same bits on 1 and 3 threads.
fn direct_conv_same_bits_on_any_thread_count<D: TestDomain>() {
    let mut g = rng(13);
    let geom = Window2d { n: 9, h: 28, w: 28, c: 1, kh: 5, kw: 5, stride: 1 };
    let mut real = |shape: &[usize]| real_valued::<D>(&mut g, shape);
    let (x, w, dy) = (real(&geom.input_shape()), real(&[25, 8]), real(&[9 * 24 * 24, 8]));
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
        pool.install(|| (x.conv2d(&geom, &w).to_planes(), x.conv2d_weight_grad(&geom, &dy).to_planes()))
    };
    let one = on(1);
    assert!(one == on(3), "1 and 3 threads differ");
    assert!(one.0.iter().chain(&one.1).flatten().all(|v| v.is_finite()));
}

/// Naive window slot on one plane.
fn naive_slot(x: &[f64], g: &Window2d, dy: usize, dx: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for n in 0..g.n {
        for oy in 0..g.oh() {
            for ox in 0..g.ow() {
                for c in 0..g.c {
                    out.push(x[((n * g.h + oy * g.stride + dy) * g.w + ox * g.stride + dx) * g.c + c]);
                }
            }
        }
    }
    out
}

fn window_slot_reference_and_adjoint<D: TestDomain>() {
    let mut rg = rng(6);
    for g in geometries() {
        let (x, px) = random::<D>(&mut rg, &g.input_shape());
        for dy in 0..g.kh {
            for dx in 0..g.kw {
                let s = x.window_slot(&g, dy, dx);
                assert_eq!(s.shape(), &g.slot_shape());
                let ps = s.to_planes();
                for (got, pl) in ps.iter().zip(&px) {
                    assert_eq!(got, &naive_slot(pl, &g, dy, dx), "{g:?} ({dy}, {dx})");
                }
                // <slot(x), y> == <x, add_to_window_slot(y, 0)>, and it accumulates into acc.
                let (y, py) = random::<D>(&mut rg, &g.slot_shape());
                let (mut acc, pacc) = random::<D>(&mut rg, &g.input_shape());
                y.add_to_window_slot(&mut acc, &g, dy, dx);
                let pout = acc.to_planes();
                for p in 0..D::PLANES {
                    let added: Vec<f64> = pout[p].iter().zip(&pacc[p]).map(|(a, b)| a - b).collect();
                    assert_eq!(dot(&ps[p], &py[p]), dot(&px[p], &added), "{g:?} ({dy}, {dx}) plane {p}");
                }
            }
        }
        // Summing every slot's adjoint is col2im of the window-major layout: each input pixel
        // receives once per window covering it.
        let mut acc = D::zeros(&g.input_shape());
        let ones = D::from_planes(&g.slot_shape(), &vec![vec![1.0; g.slot_shape().iter().product()]; D::PLANES]);
        for dy in 0..g.kh {
            for dx in 0..g.kw {
                ones.add_to_window_slot(&mut acc, &g, dy, dx);
            }
        }
        let cover =
            D::from_planes(&g.cols_shape(), &vec![vec![1.0; g.cols_shape().iter().product()]; D::PLANES]).col2im(&g);
        assert_eq!(acc.to_planes(), cover.to_planes(), "{g:?}");
    }
}

fn reductions_and_broadcast<D: TestDomain>() {
    let mut g = rng(7);
    for shape in [vec![1, 1], vec![4, 3], vec![1, 9], vec![9, 1], vec![2, 3, 5], vec![0, 3], vec![3, 0], vec![300, 70]]
    {
        let k = *shape.last().unwrap();
        let lead: usize = shape[..shape.len() - 1].iter().product();
        let (x, p) = random::<D>(&mut g, &shape);
        // sum_rows: [.., k] -> [k]
        let sr = x.sum_rows();
        assert_eq!(sr.shape(), &[k]);
        let want: Vec<Vec<f64>> =
            p.iter().map(|pl| (0..k).map(|j| (0..lead).map(|i| pl[i * k + j]).sum()).collect()).collect();
        assert_eq!(sr.to_planes(), want, "sum_rows {shape:?}");
        // sum_last: [.., k] -> [..]
        let sl = x.sum_last();
        assert_eq!(sl.shape(), &shape[..shape.len() - 1]);
        let want: Vec<Vec<f64>> =
            p.iter().map(|pl| (0..lead).map(|i| pl[i * k..(i + 1) * k].iter().sum()).collect()).collect();
        assert_eq!(sl.to_planes(), want, "sum_last {shape:?}");
        // broadcast_last is the adjoint of sum_last.
        let (y, py) = random::<D>(&mut g, &shape[..shape.len() - 1]);
        let b = y.broadcast_last(k);
        assert_eq!(b.shape(), &shape[..]);
        let pb = b.to_planes();
        let want: Vec<Vec<f64>> = py.iter().map(|pl| (0..lead * k).map(|i| pl[i / k]).collect()).collect();
        assert_eq!(pb, want, "broadcast_last {shape:?}");
        for q in 0..D::PLANES {
            assert_eq!(dot(&sl.to_planes()[q], &py[q]), dot(&p[q], &pb[q]));
        }
        // add_row: bias add, the adjoint of sum_rows.
        let (row, prow) = random::<D>(&mut g, &[k]);
        let mut z = x.clone();
        z.add_row(&row);
        let want: Vec<Vec<f64>> = p
            .iter()
            .zip(&prow)
            .map(|(pl, r)| pl.iter().enumerate().map(|(i, v)| v + r[i % k.max(1)]).collect())
            .collect();
        assert_eq!(z.to_planes(), want, "add_row {shape:?}");
    }
}

/// Elementwise ops on a tensor longer than the parallel threshold (chunk offsets matter).
fn elementwise_large<D: TestDomain>() {
    let mut g = rng(8);
    for n in [1usize, 7, (1 << 15) + 13, 3 * (1 << 13) + 1 + (1 << 15)] {
        let (x, px) = random::<D>(&mut g, &[n]);
        let (y, py) = random::<D>(&mut g, &[n]);
        let zip = |f: &dyn Fn(f64, f64) -> f64, a: &[f64], b: &[f64]| {
            a.iter().zip(b).map(|(p, q)| f(*p, *q)).collect::<Vec<_>>()
        };
        let planes_zip =
            |f: &dyn Fn(f64, f64) -> f64| px.iter().zip(&py).map(|(a, b)| zip(f, a, b)).collect::<Vec<_>>();
        assert_eq!(x.add(&y).to_planes(), planes_zip(&|a, b| a + b));
        assert_eq!(x.sub(&y).to_planes(), planes_zip(&|a, b| a - b));
        assert_eq!(
            x.scale(D::Scalar::of(3.0)).to_planes(),
            px.iter().map(|a| a.iter().map(|v| 3.0 * v).collect::<Vec<_>>()).collect::<Vec<_>>()
        );
        let mut z = y.clone();
        z.axpby(D::Scalar::of(2.0), &x, D::Scalar::of(-0.5));
        assert_eq!(z.to_planes(), planes_zip(&|a, b| 2.0 * a - 0.5 * b));
        let mut shifted = px.clone();
        shifted[0].iter_mut().for_each(|v| *v += 5.0);
        assert_eq!(x.add_scalar(D::Scalar::of(5.0)).to_planes(), shifted);
        // Product: plain a*b; cipher (ac + bd, ad + bc).
        let want = if D::PLANES == 1 {
            vec![zip(&|a, b| a * b, &px[0], &py[0])]
        } else {
            let ac = zip(&|a, b| a * b, &px[0], &py[0]);
            let bd = zip(&|a, b| a * b, &px[1], &py[1]);
            let ad = zip(&|a, b| a * b, &px[0], &py[1]);
            let bc = zip(&|a, b| a * b, &px[1], &py[0]);
            vec![zip(&|a, b| a + b, &ac, &bd), zip(&|a, b| a + b, &ad, &bc)]
        };
        assert_eq!(x.mul(&y).to_planes(), want, "mul n={n}");
        assert_eq!(x.mul(&x).to_planes(), x.square().to_planes(), "square n={n}");
    }
}

#[test]
fn cipher_recip_is_inverse_in_the_algebra() {
    // (a, b) with a^2 - b^2 = m r a power of two -> exact: (3, 1): m r = 8.
    let x = CipherTensor::<f64>::from_planes(&[2], &[vec![3.0, 5.0], vec![1.0, -3.0]]);
    let one = x.mul(&x.recip()).to_planes();
    assert_eq!(one, vec![vec![1.0, 1.0], vec![0.0, 0.0]]);
}

#[test]
fn wire_rejects_out_of_algebra_and_non_finite() {
    let b = basis();
    let good = WireCiphertext::<f64>::from_vec(&[2], vec![2.0, 1.0, 1.0, 2.0, 5.0, -3.0, -3.0, 5.0]).unwrap();
    assert!(CipherTensor::from_wire(&good, &b, "x").is_ok());
    let mut bad = good.clone();
    bad.raw_mut()[5] = -2.0; // second ciphertext: [[5, -2], [-3, 5]] is not a I + b R'
    let e = CipherTensor::from_wire(&bad, &b, "x").unwrap_err();
    assert!(matches!(e, moreml_cipher::Error::OutOfAlgebra { index: 1, .. }), "{e}");
    let mut nan = good.clone();
    nan.raw_mut()[0] = f64::NAN;
    let e = CipherTensor::from_wire(&nan, &b, "x").unwrap_err();
    assert!(matches!(e, moreml_cipher::Error::NonFinite { index: 0, .. }), "{e}");
    let mut inf = good;
    inf.raw_mut()[6] = f64::INFINITY;
    let e = CipherTensor::from_wire(&inf, &b, "x").unwrap_err();
    assert!(matches!(e, moreml_cipher::Error::NonFinite { index: 1, .. }), "{e}");
}

#[test]
fn public_basis_validation() {
    assert!(PublicBasis::new([1.0, 0.0, 0.0, -1.0]).is_ok());
    assert!(PublicBasis::new([0.6, 0.8, 0.8, -0.6]).is_ok());
    assert!(PublicBasis::new([1.0, 0.0, 0.0, 1.0]).is_err()); // I: not traceless
    assert!(PublicBasis::new([2.0, 0.0, 0.0, -2.0]).is_err()); // R'^2 = 4 I
    assert!(PublicBasis::new([0.0, 1.0, 0.0, 0.0]).is_err()); // nilpotent
    assert!(PublicBasis::new([f64::NAN, 0.0, 0.0, 0.0]).is_err());
}
