//! Loss gradients, computed in the operation set (no logarithm needed).

use crate::config::LossKind;
use crate::funcs;
use moreml_cipher::{Domain, Float};

/// Gradient of the batch-mean loss w.r.t. the network outputs.
///
/// Cross-entropy is computed in `f64` whatever the model's scalar ([`Domain::widen`]): in
/// the pairwise softmax the real side's sums reach 1e8-1e9 in the first epoch while the
/// hidden side's stay near 25, and each side carries an absolute error of about unit
/// roundoff times the larger side. In `f32` (eps 6e-8) the hidden sums then round to 0 and
/// the inverse divides by zero (measured: NaN at step 24-40 on MNIST); `f64` has headroom up
/// to logit gaps of ~37. The `[batch, classes]` tensors are tiny, so the cost is negligible.
/// MSE stays in the model's scalar.
///
/// # Shapes
/// `outputs`, `targets`: `[n, k]` -> `[n, k]`.
pub fn gradient<D: Domain>(kind: LossKind, outputs: &D, targets: &D, smoothing: f64) -> D {
    let n = outputs.shape()[0].max(1) as f64;
    match kind {
        LossKind::Mse => outputs.sub(targets).scale(D::Scalar::of(1.0 / n)),
        LossKind::SoftmaxCrossEntropy => {
            let (y, t) = (outputs.widen(), targets.widen());
            let k = outputs.shape()[1] as f64;
            let t = if smoothing > 0.0 { t.scale(1.0 - smoothing).add_scalar(smoothing / k) } else { t };
            D::narrow(&funcs::softmax(&y).sub(&t).scale(1.0 / n))
        }
    }
}

/// The loss value from plaintext outputs (the owner computes it after decryption).
///
/// Cross-entropy uses a numerically stable log-softmax.
pub fn value<T: Float>(kind: LossKind, outputs: &[T], targets: &[T], k: usize) -> f64 {
    let n = (outputs.len() / k.max(1)).max(1) as f64;
    let mut total = 0.0;
    for (o, t) in outputs.chunks_exact(k).zip(targets.chunks_exact(k)) {
        total += match kind {
            LossKind::Mse => o.iter().zip(t).map(|(a, b)| 0.5 * (a.f64() - b.f64()).powi(2)).sum::<f64>(),
            LossKind::SoftmaxCrossEntropy => {
                let m = o.iter().map(|v| v.f64()).fold(f64::NEG_INFINITY, f64::max);
                let lse = m + o.iter().map(|v| (v.f64() - m).exp()).sum::<f64>().ln();
                o.iter().zip(t).map(|(a, b)| b.f64() * (lse - a.f64())).sum::<f64>()
            }
        };
    }
    total / n
}

/// Index of the largest value of each row of `[n, k]` outputs.
pub fn argmax_rows<T: Float>(outputs: &[T], k: usize) -> Vec<usize> {
    outputs
        .chunks_exact(k)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (i, v)| if v.f64() > best.1 { (i, v.f64()) } else { best })
                .0
        })
        .collect()
}
