//! The fused kernels compute exactly (bit for bit) what the unfused homomorphic operations
//! they replace computed: the polynomial activation (Horner with `mul` and `add_scalar`) and
//! the SGD momentum step (two `axpby` passes). Random reals, both domains, f32 and f64, sizes
//! below and above the parallel threshold.

use moreml_cipher::prelude::*;
use moreml_nn::funcs;
use moreml_nn::layers::Param;
use moreml_nn::optim::Sgd;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random tensor built through public operations only (ciphertexts: `constant` then a
/// product, so both coordinates are non-trivial).
fn random<D: Domain>(rng: &mut ChaCha8Rng, n: usize) -> D {
    let mut v = || D::constant(&[n], (0..n).map(|_| D::Scalar::of(rng.random_range(-3.0..3.0))).collect()).unwrap();
    let (a, b) = (v(), v());
    a.add(&b.mul(&a)).add_scalar(D::Scalar::of(0.25))
}

/// Exact equality of every coordinate (the tensors' `PartialEq`: NaN never equals anything).
fn assert_same<D: Domain + PartialEq>(x: &D, y: &D, what: &str) {
    assert_eq!(x.shape(), y.shape());
    assert!(x == y, "{what}: fused and unfused results differ");
}

/// The unfused Horner form the layers used before the fused kernel.
fn horner<D: Domain>(x: &D, coeffs: &[f64]) -> D {
    let Some((&top, rest)) = coeffs.split_last() else { return D::zeros(x.shape()) };
    let mut acc = D::zeros(x.shape()).add_scalar(D::Scalar::of(top));
    for &k in rest.iter().rev() {
        acc = acc.mul(x).add_scalar(D::Scalar::of(k));
    }
    acc
}

fn polynomial_case<D: Domain + PartialEq>() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for n in [1, 7, 40_000] {
        let x: D = random(&mut rng, n);
        for coeffs in [vec![], vec![0.3], vec![0.375, 0.5, 0.1171875], vec![1.0, -0.7, 0.2, 0.013, -0.004]] {
            let d = funcs::derivative(&coeffs);
            let (y, dy) = x.polynomial(&coeffs, Some(&d));
            assert_same(&y, &horner(&x, &coeffs), "polynomial");
            assert_same(&dy.expect("asked for"), &horner(&x, &d), "derivative");
            assert_same(&funcs::polynomial(&x, &coeffs), &horner(&x, &coeffs), "funcs::polynomial");
        }
    }
}

fn sgd_case<D: Domain + PartialEq>() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let n = 40_000;
    let (lr, momentum) = (0.05, 0.9);
    let mut p = Param::new(random::<D>(&mut rng, n));
    let mut reference = (p.value.clone(), None::<D>);
    let mut sgd = Sgd::new(lr, momentum).unwrap();
    for _ in 0..3 {
        let g: D = random(&mut rng, n);
        p.grad = Some(g.clone());
        assert_eq!(sgd.step(vec![&mut p]), None, "finite values are reported finite");
        // The two-pass update: v = 1 * g + momentum * v; w = -lr * v + 1 * w.
        let v = match reference.1.take() {
            Some(mut v) => {
                v.axpby(D::Scalar::of(1.0), &g, D::Scalar::of(momentum));
                v
            }
            None => g,
        };
        reference.0.axpby(D::Scalar::of(-lr), &v, D::Scalar::of(1.0));
        reference.1 = Some(v);
        assert_same(&p.value, &reference.0, "sgd step");
    }
}

#[test]
fn fused_polynomial_is_bit_identical() {
    polynomial_case::<PlainTensor<f32>>();
    polynomial_case::<PlainTensor<f64>>();
    polynomial_case::<CipherTensor<f32>>();
    polynomial_case::<CipherTensor<f64>>();
}

/// The step reports the first parameter that became non-finite, on the first step (no
/// velocity yet) and on later ones (the fused momentum pass), below and above the parallel
/// threshold, wherever the bad value sits.
fn sgd_reports_non_finite_case<D: Domain>() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (n, at) in [(10, 3), (40_000, 0), (40_000, 39_999), (40_000, 17_000)] {
        let mut params: Vec<Param<D>> = (0..3).map(|_| Param::new(random::<D>(&mut rng, n))).collect();
        let mut sgd = Sgd::new(0.05, 0.9).unwrap();
        for step in 0..3 {
            for (i, p) in params.iter_mut().enumerate() {
                let mut g: D = random(&mut rng, n);
                if (step == 0 && i == 2) || (step > 0 && i >= 1) {
                    // An overflowing gradient in parameter 2 on the first step, in parameters 1
                    // and 2 from the second step on.
                    let mut bad = vec![D::Scalar::of(0.0); n];
                    bad[at] = D::Scalar::of(f64::INFINITY);
                    g = g.add(&D::constant(&[n], bad).unwrap());
                }
                p.grad = Some(g);
            }
            let want = Some(if step == 0 { 2 } else { 1 });
            assert_eq!(sgd.step(params.iter_mut().collect()), want, "n {n}, bad value at {at}, step {step}");
        }
    }
}

#[test]
fn sgd_step_reports_the_first_non_finite_parameter() {
    sgd_reports_non_finite_case::<PlainTensor<f32>>();
    sgd_reports_non_finite_case::<PlainTensor<f64>>();
    sgd_reports_non_finite_case::<CipherTensor<f32>>();
    sgd_reports_non_finite_case::<CipherTensor<f64>>();
}

#[test]
fn fused_sgd_step_is_bit_identical() {
    sgd_case::<PlainTensor<f32>>();
    sgd_case::<PlainTensor<f64>>();
    sgd_case::<CipherTensor<f32>>();
    sgd_case::<CipherTensor<f64>>();
}
