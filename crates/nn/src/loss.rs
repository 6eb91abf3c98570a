//! Loss gradients, computed in the operation set (no logarithm needed).

use crate::config::LossKind;
use crate::funcs;
use moreml_cipher::{Domain, Float};

/// Gradient of the batch-mean loss w.r.t. the network outputs.
///
/// # Shapes
/// `outputs`, `targets`: `[n, k]` -> `[n, k]`.
pub fn gradient<D: Domain>(kind: LossKind, outputs: &D, targets: &D, smoothing: f64) -> D {
    let n = outputs.shape()[0].max(1) as f64;
    let diff = match kind {
        LossKind::Mse => outputs.sub(targets),
        LossKind::SoftmaxCrossEntropy if smoothing > 0.0 => {
            let k = outputs.shape()[1] as f64;
            let t = targets.scale(D::Scalar::of(1.0 - smoothing)).add_scalar(D::Scalar::of(smoothing / k));
            funcs::softmax(outputs).sub(&t)
        }
        LossKind::SoftmaxCrossEntropy => funcs::softmax(outputs).sub(targets),
    };
    diff.scale(D::Scalar::of(1.0 / n))
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
