//! Task metrics computed by the owner on plaintext (or decrypted) outputs.
//!
//! Every figure is an `Option<f64>`: `None` (JSON `null`) when it would be computed over a
//! non-finite value. A NaN never becomes a good-looking 0.

use serde::Serialize;

/// `Some(x)` for finite `x`, `None` otherwise.
pub fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Largest `|v|`, propagating NaN (a NaN anywhere gives NaN).
pub fn max_abs(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().fold(0.0, |m: f64, x| if x.is_nan() || m.is_nan() { f64::NAN } else { m.max(x.abs()) })
}

/// Normwise relative difference `max |a - b| / max |a|`, NaN if either side has a NaN.
///
/// ```
/// use moreml_experiments::metrics::rel_diff;
/// assert_eq!(rel_diff(&[2.0, 4.0], &[2.0, 5.0]), 0.25);
/// assert!(rel_diff(&[1.0], &[f64::NAN]).is_nan());
/// ```
pub fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "rel_diff: lengths differ");
    max_abs(a.iter().zip(b).map(|(x, y)| x - y)) / max_abs(a.iter().copied()).max(f64::MIN_POSITIVE)
}

/// Index of the largest value of each row of `[n, k]` outputs; `None` for a row with a
/// non-finite value.
pub fn argmax_rows(outputs: &[f64], k: usize) -> Vec<Option<usize>> {
    outputs
        .chunks_exact(k)
        .map(|row| {
            if row.iter().any(|v| !v.is_finite()) {
                return None;
            }
            row.iter()
                .enumerate()
                .fold(None, |best: Option<(usize, f64)>, (i, &v)| match best {
                    Some((_, b)) if b >= v => best,
                    _ => Some((i, v)),
                })
                .map(|(i, _)| i)
        })
        .collect()
}

/// Fraction of rows whose predicted class is the same (a row with no prediction never agrees).
pub fn label_agreement(a: &[Option<usize>], b: &[Option<usize>]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| x.is_some() && x == y).count();
    same as f64 / a.len().max(1) as f64
}

/// Classification figures for one run.
#[derive(Clone, Debug, Serialize)]
pub struct Classification {
    /// Fraction of records whose arg-max is the true class (`None` if any output is NaN).
    pub accuracy: Option<f64>,
    /// Mean softmax cross-entropy against the true one-hot labels.
    pub loss: Option<f64>,
    /// `confusion[true][predicted]` counts (records with a non-finite output are left out).
    pub confusion: Vec<Vec<u64>>,
    /// Per-class precision (`None` when nothing was predicted as that class).
    pub precision: Vec<Option<f64>>,
    /// Per-class recall (`None` when the class has no records).
    pub recall: Vec<Option<f64>>,
}

/// Scores `[n, k]` outputs against true class indices.
pub fn classification(outputs: &[f64], truth: &[usize], k: usize) -> Classification {
    let pred = argmax_rows(outputs, k);
    let mut confusion = vec![vec![0u64; k]; k];
    for (&t, p) in truth.iter().zip(&pred) {
        if let Some(p) = p {
            confusion[t][*p] += 1;
        }
    }
    let correct = truth.iter().zip(&pred).filter(|(t, p)| p.as_ref() == Some(*t)).count();
    let all_finite = pred.iter().all(Option::is_some);
    let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
    let precision = (0..k).map(|c| ratio(confusion[c][c], (0..k).map(|t| confusion[t][c]).sum())).collect();
    let recall = (0..k).map(|c| ratio(confusion[c][c], confusion[c].iter().sum())).collect();
    let mut loss = 0.0;
    for (row, &t) in outputs.chunks_exact(k).zip(truth) {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        loss += lse - row[t];
    }
    Classification {
        accuracy: all_finite.then(|| correct as f64 / truth.len().max(1) as f64),
        loss: finite(loss / truth.len().max(1) as f64),
        confusion,
        precision,
        recall,
    }
}

/// Regression figures for one output column, in the output's own units.
#[derive(Clone, Debug, Serialize)]
pub struct OutputFit {
    /// Output name.
    pub name: String,
    /// Mean absolute error.
    pub mae: Option<f64>,
    /// Mean of `|prediction - truth| / |truth|`.
    pub mean_rel_error: Option<f64>,
    /// Coefficient of determination `1 - SS_res / SS_tot`.
    pub r2: Option<f64>,
}

/// Regression figures for one run.
#[derive(Clone, Debug, Serialize)]
pub struct Regression {
    /// Per output column.
    pub outputs: Vec<OutputFit>,
    /// Mean of the per-output `r2`.
    pub mean_r2: Option<f64>,
    /// Mean of the per-output `mean_rel_error`.
    pub mean_rel_error: Option<f64>,
}

/// Scores `[n, k]` predictions against `[n, k]` truths (both in physical units).
pub fn regression(pred: &[f64], truth: &[f64], names: &[String]) -> Regression {
    let k = names.len();
    let n = (truth.len() / k.max(1)).max(1) as f64;
    let outputs: Vec<OutputFit> = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let col = |v: &[f64]| v.iter().skip(j).step_by(k).copied().collect::<Vec<_>>();
            let (p, t) = (col(pred), col(truth));
            let mean = t.iter().sum::<f64>() / n;
            let ss_tot: f64 = t.iter().map(|y| (y - mean).powi(2)).sum();
            let ss_res: f64 = p.iter().zip(&t).map(|(a, b)| (a - b).powi(2)).sum();
            let mae = p.iter().zip(&t).map(|(a, b)| (a - b).abs()).sum::<f64>() / n;
            let mre = p.iter().zip(&t).map(|(a, b)| (a - b).abs() / b.abs().max(1e-12)).sum::<f64>() / n;
            OutputFit {
                name: name.clone(),
                mae: finite(mae),
                mean_rel_error: finite(mre),
                r2: finite(1.0 - ss_res / ss_tot),
            }
        })
        .collect();
    let mean = |f: fn(&OutputFit) -> Option<f64>| -> Option<f64> {
        let v: Option<Vec<f64>> = outputs.iter().map(f).collect();
        v.map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64)
    };
    Regression { mean_r2: mean(|o| o.r2), mean_rel_error: mean(|o| o.mean_rel_error), outputs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_outputs_give_null_figures_not_zero() {
        let c = classification(&[1.0, 0.0, f64::NAN, 0.0], &[0, 1], 2);
        assert_eq!(c.accuracy, None);
        assert_eq!(c.loss, None);
        let r = regression(&[1.0, f64::NAN], &[1.0, 2.0], &["a".into()]);
        assert_eq!(r.outputs[0].r2, None);
        assert_eq!(r.mean_r2, None);
        assert!(max_abs([1.0, f64::NAN, 3.0]).is_nan());
        assert!(max_abs([f64::NAN, 1.0]).is_nan());
    }

    #[test]
    fn golden_classification() {
        // Rows predict 0, 1, 1; truth 0, 1, 0.
        let c = classification(&[2.0, 1.0, 0.0, 3.0, 0.5, 0.6], &[0, 1, 0], 2);
        assert_eq!(c.accuracy, Some(2.0 / 3.0));
        assert_eq!(c.confusion, vec![vec![1, 1], vec![0, 1]]);
        assert_eq!(c.precision, vec![Some(1.0), Some(0.5)]);
        assert_eq!(c.recall, vec![Some(0.5), Some(1.0)]);
    }

    #[test]
    fn golden_regression() {
        let r = regression(&[1.0, 2.0, 4.0], &[1.0, 2.0, 3.0], &["y".into()]);
        let o = &r.outputs[0];
        assert!((o.mae.unwrap() - 1.0 / 3.0).abs() < 1e-15);
        assert!((o.mean_rel_error.unwrap() - 1.0 / 9.0).abs() < 1e-15);
        assert!((o.r2.unwrap() - 0.5).abs() < 1e-15);
    }
}
