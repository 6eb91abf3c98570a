//! Running the report's attack plan and measuring each run against the truth.

use anyhow::{bail, Result};
use moreml_cryptanalysis::{
    fraction_exact_on_grid, fraction_recovered, run_attack, Attack, AttackInputs, AttackOutcome, EigenPriors,
    KnownPairs, PoolScorer, PIXEL_GRID,
};
use serde_json::{json, Value};
use std::time::Instant;

/// Errors of recovered values against the truth.
#[derive(Default, Clone, Copy)]
pub(super) struct Errs {
    frac: f64,
    grid: f64,
    max_abs: f64,
    rms: f64,
}

/// Measures `rec` against `truth`. A NaN difference makes `max_abs` infinite (and `rms` NaN).
pub(super) fn errs(rec: &[f64], truth: &[f64], rel_tol: f64) -> Errs {
    let d: Vec<f64> = rec.iter().zip(truth).map(|(a, b)| (a - b).abs()).collect();
    Errs {
        frac: fraction_recovered(rec, truth, rel_tol),
        grid: fraction_exact_on_grid(rec, truth, PIXEL_GRID),
        max_abs: d.iter().fold(0.0, |a: f64, b| if b.is_nan() { f64::INFINITY } else { a.max(*b) }),
        rms: (d.iter().map(|x| x * x).sum::<f64>() / d.len().max(1) as f64).sqrt(),
    }
}

/// The report.json fields of [`Errs`] (nulls without ground truth).
pub(super) fn errs_json(e: Option<Errs>) -> Value {
    match e {
        Some(e) => {
            json!({"fraction_recovered": e.frac, "fraction_exact_on_grid": e.grid, "max_abs_error": e.max_abs, "rms_error": e.rms})
        }
        None => {
            json!({"fraction_recovered": null, "fraction_exact_on_grid": null, "max_abs_error": null, "rms_error": null})
        }
    }
}

/// One attack run of a report row.
pub(super) struct Run {
    pub label: &'static str,
    pub method: Attack,
    pub outcome: AttackOutcome,
    pub secs: f64,
}

/// The report's plan: every attack, A twice (ciphertext-only and with one known pair).
const PLAN: [(&str, Attack, bool); 6] = [
    ("linear (ciphertext-only)", Attack::Linear, false),
    ("linear (1 known pair)", Attack::Linear, true),
    ("known-pair", Attack::KnownPair, true),
    ("known-plaintext", Attack::KnownPlaintext, true),
    ("eigen", Attack::Eigen, false),
    ("shared-eigen", Attack::SharedEigen, false),
];

/// Runs the plan on `cts`; a run that needs pairs fails when `pairs` is `None`.
pub(super) fn run_all(
    cts: &[f64],
    pairs: Option<&KnownPairs>,
    scorer: &PoolScorer,
    priors: &EigenPriors,
) -> Vec<Result<Run>> {
    PLAN.iter()
        .map(|&(label, method, with_pairs)| {
            let p = if with_pairs { pairs } else { None };
            if with_pairs && p.is_none() {
                bail!("{label}: no known pair under this key");
            }
            let inputs = AttackInputs { pairs: p, scorer, priors: Some(priors) };
            let t = Instant::now();
            let outcome = run_attack(method, cts, &inputs)?;
            Ok(Run { label, method, outcome, secs: t.elapsed().as_secs_f64() })
        })
        .collect()
}

/// The recovered values of the first successful run of `method`, or NaN (for pictures).
pub(super) fn recovered_by(runs: &[Result<Run>], method: Attack, len: usize) -> Vec<f64> {
    runs.iter()
        .filter_map(|r| r.as_ref().ok())
        .find(|r| r.method == method)
        .map(|r| r.outcome.recovered[..len.min(r.outcome.recovered.len())].to_vec())
        .unwrap_or_else(|| vec![f64::NAN; len])
}

/// report.json `attacks`: each run with its errors against `truth` (if known); for eigen with
/// `predicted_d = (predicted rate, eigenvalue tolerance)` also predicted and measured rates.
pub(super) fn runs_json(
    runs: &[Result<Run>],
    truth: Option<&[f64]>,
    rel_tol: f64,
    predicted_d: Option<(f64, f64)>,
) -> Vec<Value> {
    runs.iter()
        .map(|r| match r {
            Ok(r) => {
                let e = truth.map(|t| errs(&r.outcome.recovered, t, rel_tol));
                let mut v = json!({
                    "attack": r.label,
                    "method": r.method.name(),
                    "threat_model": r.outcome.threat_model,
                    "ciphertexts_used": r.outcome.ciphertexts_used,
                    "known_pairs_used": r.outcome.known_pairs_used,
                    "used_free_identity": r.outcome.used_free_identity,
                    "seconds": r.secs,
                    "notes": r.outcome.notes,
                });
                merge(&mut v, errs_json(e));
                if let (Attack::Eigen, Some((pred, tol)), Some(t)) = (r.method, predicted_d, truth) {
                    let hit = r.outcome.recovered.iter().zip(t).filter(|(x, m)| (*x - *m).abs() <= tol).count();
                    v["predicted_rate"] = json!(pred);
                    v["measured_rate"] = json!(hit as f64 / t.len().max(1) as f64);
                }
                v
            }
            Err(e) => json!({"attack": "?", "error": format!("{e:#}")}),
        })
        .collect()
}

/// Adds the fields of `src` to the object `dst`.
pub(super) fn merge(dst: &mut Value, src: Value) {
    if let (Some(d), Value::Object(s)) = (dst.as_object_mut(), src) {
        d.extend(s);
    }
}
