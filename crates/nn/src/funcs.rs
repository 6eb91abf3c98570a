//! Non-linear functions built only from the homomorphic operation set.
//!
//! Each is written once over [`Domain`], so the plaintext baseline evaluates exactly the same
//! formula as the encrypted run. Every function is also applied, silently, to the hidden
//! random value of each ciphertext (the "shadow" computation); the notes say what that needs.

use moreml_cipher::{Domain, Float};

fn c<D: Domain>(x: f64) -> D::Scalar {
    D::Scalar::of(x)
}

/// Polynomial `coeffs[0] + coeffs[1] x + ...` by Horner's rule.
///
/// ```
/// use moreml_cipher::prelude::*;
/// let x = PlainTensor::<f64>::from_vec(&[2], vec![1.0, 2.0]).unwrap();
/// let y = moreml_nn::funcs::polynomial(&x, &[1.0, 0.0, 3.0]);
/// assert_eq!(y.values(), &[4.0, 13.0]);
/// ```
pub fn polynomial<D: Domain>(x: &D, coeffs: &[f64]) -> D {
    // Fused kernel: `zeros + top`, then `mul` and `add_scalar` per coefficient, in one pass.
    x.polynomial(coeffs, None).0
}

/// Derivative coefficients of a polynomial.
pub fn derivative(coeffs: &[f64]) -> Vec<f64> {
    coeffs.iter().enumerate().skip(1).map(|(i, k)| i as f64 * k).collect()
}

/// Squarings used by [`exp`]: `exp(x) = T(x / 2^s)^(2^s)`.
pub const EXP_SQUARINGS: u32 = 6;
/// Taylor degree used by [`exp`].
pub const EXP_DEGREE: usize = 10;

/// `exp(x)` by scaling and squaring around a Taylor polynomial (degree 10, 2^6 scaling):
/// relative error below 1e-9 for |x| <= 40 (f64); valid (positive, monotone) for
/// |x| up to a few hundred.
///
/// ```
/// use moreml_cipher::prelude::*;
/// let x = PlainTensor::<f64>::from_vec(&[3], vec![-3.0, 0.0, 5.0]).unwrap();
/// let y = moreml_nn::funcs::exp(&x);
/// for (v, e) in y.values().iter().zip([(-3.0f64).exp(), 1.0, 5.0f64.exp()]) {
///     assert!((v / e - 1.0).abs() < 1e-9);
/// }
/// ```
pub fn exp<D: Domain>(x: &D) -> D {
    let scaled = x.scale(c::<D>(1.0 / f64::powi(2.0, EXP_SQUARINGS as i32)));
    let mut coeffs = vec![1.0; EXP_DEGREE + 1];
    for k in 1..=EXP_DEGREE {
        coeffs[k] = coeffs[k - 1] / k as f64;
    }
    let mut y = polynomial(&scaled, &coeffs);
    for _ in 0..EXP_SQUARINGS {
        y = y.square();
    }
    y
}

/// Logistic sigmoid `1 / (1 + exp(-x))` (one inverse).
pub fn sigmoid<D: Domain>(x: &D) -> D {
    exp(&x.scale(c::<D>(-1.0))).add_scalar(c::<D>(1.0)).recip()
}

/// Row-wise softmax of `[n, k]` logits, as `p_i = 1 / sum_j exp(z_j - z_i)`.
///
/// The textbook `exp(z) / sum(exp(z))` multiplies a huge number by a tiny one; in the MORE
/// algebra that loses precision whenever the hidden side of the logits is on another scale
/// than the real side (the error of a product is relative to the larger side of each factor).
/// Measured on MNIST: decrypted outputs drifted from the plaintext run by 1e-4 after 150 SGD
/// steps. In the pairwise form every sum is at least 1 (the `j = i` term is `exp(0) = 1` on
/// both sides), so the single inverse is always safe and every probability is computed with
/// an absolute error near machine epsilon. It costs `k^2` instead of `k` exponentials, which is
/// small next to the matrix products. No maximum is subtracted (ciphertexts cannot be compared).
pub fn softmax<D: Domain>(z: &D) -> D {
    let (n, k) = (z.shape()[0], z.shape()[1]);
    // Row (r, i) of both [n*k, k] tensors: z[r, :] and z[r, i] repeated.
    let rows: Vec<usize> = (0..n * k).map(|ri| ri / k).collect();
    let zj = z.gather_rows(&rows);
    let zi = z.clone().reshape(&[n * k]).expect("same size").broadcast_last(k);
    let sums = exp(&zj.sub(&zi)).sum_last();
    sums.recip().reshape(&[n, k]).expect("same size")
}

/// Newton (Heron) iterations used by [`smooth_abs`].
pub const SQRT_ITERATIONS: usize = 16;
/// The `eps` of [`smooth_abs`]: `|x| ~ sqrt(x^2 + eps)`.
pub const ABS_EPS: f64 = 1e-6;

/// `sqrt(s)` for `s > 0` by Heron's iteration `y <- (y + s / y) / 2` from `y = 1`:
/// after the first step `y >= sqrt(s)` and it decreases monotonically, so every inverse is
/// of a value away from 0 (on the hidden side too, as long as `s > 0` there).
pub fn sqrt_newton<D: Domain>(s: &D, iterations: usize) -> D {
    let mut y = D::zeros(s.shape()).add_scalar(c::<D>(1.0));
    for _ in 0..iterations {
        y = y.add(&s.mul(&y.recip())).scale(c::<D>(0.5));
    }
    y
}

/// Smooth `|x| ~ sqrt(x^2 + eps)` and its derivative `x / sqrt(x^2 + eps)`.
///
/// The classical Newton sign iteration `X <- (X + X^-1)/2` divides by `x` and breaks on the
/// exact zeros that images are full of (and on their hidden values); adding `eps` inside the
/// root keeps every inverse safe on both sides of the ciphertext. Accurate to ~`sqrt(eps)`
/// near 0 and converged for `|x|` in about `[1e-3, 1e3]`.
pub fn smooth_abs<D: Domain>(x: &D) -> (D, D) {
    let s = x.square().add_scalar(c::<D>(ABS_EPS));
    let root = sqrt_newton(&s, SQRT_ITERATIONS);
    let slope = x.mul(&root.recip());
    (root, slope)
}

/// Smooth `max(a, b) = (a + b + |a - b|) / 2`; returns the max and `d max / d a`
/// (`d max / d b = 1 - d max / d a`).
pub fn smooth_max<D: Domain>(a: &D, b: &D) -> (D, D) {
    let (abs, slope) = smooth_abs(&a.sub(b));
    let half = c::<D>(0.5);
    (a.add(b).add(&abs).scale(half), slope.add_scalar(c::<D>(1.0)).scale(half))
}

/// ReLU built by iteration: `relu(x) = (x + |x|) / 2` with [`smooth_abs`]; returns the value
/// and its derivative.
pub fn relu_newton<D: Domain>(x: &D) -> (D, D) {
    let (abs, slope) = smooth_abs(x);
    let half = c::<D>(0.5);
    (x.add(&abs).scale(half), slope.add_scalar(c::<D>(1.0)).scale(half))
}
