//! `report.json` and the standard figures of a paired experiment.

use crate::data::{Dataset, Task};
use crate::paired::{EpochEval, ExperimentConfig, Metrics, Outcome};
use crate::{Error, Result};
use moreml_cipher::Float;
use moreml_report as fig;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Peak resident memory of this process (Linux), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The per-run part of `report.json`.
fn run_summary(log: &[EpochEval], records: usize, inference_seconds: f64) -> Value {
    let each = |f: fn(&Metrics) -> Option<f64>| log.iter().map(|e| f(&e.metrics)).collect::<Vec<_>>();
    let mut v = json!({
        "epochs_completed": log.len(),
        "epoch_seconds": mean(log.iter().map(|e| e.seconds)),
        "epoch_seconds_each": log.iter().map(|e| e.seconds).collect::<Vec<_>>(),
        "metrics": log.last().map(|e| &e.metrics),
        "inference_records_per_second": crate::metrics::finite(records as f64 / inference_seconds),
    });
    match log.last().map(|e| &e.metrics) {
        Some(Metrics::Classification(c)) => {
            v["accuracy"] = json!(c.accuracy);
            v["test_accuracy_each"] = json!(each(Metrics::headline));
            v["test_loss_each"] = json!(each(Metrics::error));
        }
        Some(Metrics::Regression(r)) => {
            v["mean_r2"] = json!(r.mean_r2);
            v["mean_rel_error"] = json!(r.mean_rel_error);
            v["test_mean_r2_each"] = json!(each(Metrics::headline));
            v["test_mean_rel_error_each"] = json!(each(Metrics::error));
        }
        None => {}
    }
    v
}

/// Writes `dir/report.json` and the standard figures; returns the report path.
///
/// `extra` adds experiment-specific entries. When a run diverged the report (with
/// `"diverged": true` and `null` figures) is still written, then
/// [`Error::Diverged`] is returned so the command exits non-zero.
pub fn write_report<T: Float>(
    dir: &Path,
    data: &Dataset<T>,
    cfg: &ExperimentConfig,
    out: &Outcome,
    extra: Map<String, Value>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
    let (n_train, n_test) = (data.train.len(), data.test.len());
    let mut encrypted = run_summary(&out.encrypted, n_test, out.encrypted_inference_seconds);
    encrypted["encrypt_seconds"] = json!(out.encrypt_seconds);
    encrypted["hidden_weights_max_abs_each"] = json!(out.hidden_weights_max_abs);
    let ratio = match (
        mean(out.encrypted.iter().map(|e| e.seconds)),
        mean(out.plain.iter().take(out.encrypted.len()).map(|e| e.seconds)),
    ) {
        (Some(c), Some(p)) => Some(c / p),
        _ => None,
    };
    let key = &out.key;
    let mut report = json!({
        "experiment": data.name,
        "data": data.source,
        "task": data.task,
        "model": cfg.model,
        "train": cfg.train,
        "dtype": T::NAME,
        "train_records": n_train,
        "test_records": n_test,
        "key": {"key_id": key.key_id(), "condition": key.condition(), "r": key.params().r, "r_targets": key.params().r_targets},
        "plain": run_summary(&out.plain, n_test, out.plain_inference_seconds),
        "encrypted": encrypted,
        "epoch_time_ratio": ratio,
        "agreement": out.agreement.last().copied().flatten(),
        "agreement_each": out.agreement,
        "max_rel_diff": out.max_rel_diff.last().copied().flatten(),
        "max_rel_diff_epoch1": out.max_rel_diff.first().copied().flatten(),
        "max_rel_diff_each": out.max_rel_diff,
        "diverged": out.divergence.is_some(),
        "divergence": out.divergence,
        "encrypted_train_set_bytes": (n_train * (data.features() + data.outputs()) * 4 * std::mem::size_of::<T>()) as u64,
        "peak_rss_bytes": peak_rss_bytes(),
        "threads": rayon::current_num_threads(),
        "flush_to_zero": moreml_cipher::runtime::flush_to_zero_enabled(),
    });
    if let Value::Object(map) = &mut report {
        map.extend(extra);
    }
    let path = dir.join("report.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Io(e.to_string()))?;
    moreml_cipher::format::write_atomic(&path, text.as_bytes(), None)?;
    figures(dir, data, out)?;
    if let Some(d) = &out.divergence {
        return Err(Error::Diverged { run: d.run, message: d.message.clone(), report: path });
    }
    Ok(path)
}

fn series(name: &str, log: &[EpochEval], f: fn(&Metrics) -> Option<f64>) -> fig::Series {
    let (x, y) = log.iter().filter_map(|e| f(&e.metrics).map(|v| (e.epoch as f64, v))).unzip();
    fig::Series::new(name, x, y)
}

/// Learning curves, confusion matrices or per-output scatter plots, and decrypted-vs-plaintext
/// outputs. Figures whose data a diverged run never produced are skipped.
fn figures<T: Float>(dir: &Path, data: &Dataset<T>, out: &Outcome) -> Result<()> {
    if out.plain.is_empty() {
        return Ok(());
    }
    let (plain, enc) = ("plaintext", "encrypted (decrypted by owner)");
    let (err_label, head_label) = match data.task {
        Task::Classification { .. } => ("test cross-entropy", "test accuracy"),
        Task::Regression { .. } => ("test mean relative error", "test mean R^2"),
    };
    let panel = |label: &str, f: fn(&Metrics) -> Option<f64>| {
        fig::Panel::new(
            fig::CurveSpec::new(label, "epoch", label),
            vec![series(plain, &out.plain, f), series(enc, &out.encrypted, f)],
        )
    };
    fig::panels(
        dir.join("training_curves.png"),
        &format!("{}: plaintext vs encrypted training", data.name),
        &[panel(err_label, Metrics::error), panel(head_label, Metrics::headline)],
    )?;
    match &data.task {
        Task::Classification { classes } => {
            for (file, title, log) in [
                ("confusion_matrix.png", "Encrypted model (decrypted predictions)", &out.encrypted),
                ("confusion_matrix_plain.png", "Plaintext model", &out.plain),
            ] {
                if let Some(Metrics::Classification(c)) = log.last().map(|e| &e.metrics) {
                    fig::confusion_matrix(dir.join(file), title, &c.confusion, classes)?;
                }
            }
        }
        Task::Regression { outputs, scaling } => {
            let truth: Vec<f64> =
                scaling.invert(&data.test.targets.values().iter().map(|v| v.f64()).collect::<Vec<_>>());
            let (pp, pc) = (scaling.invert(&out.plain_outputs), scaling.invert(&out.decrypted_outputs));
            let k = outputs.len();
            let col = |v: &[f64], j: usize| v.iter().skip(j).step_by(k).copied().collect::<Vec<_>>();
            for (j, name) in outputs.iter().enumerate() {
                fig::scatter(
                    dir.join(format!("scatter_{name}.png")),
                    &fig::CurveSpec::new(format!("{name}: predicted vs true"), "true", "predicted"),
                    &[
                        fig::Series::new(plain, col(&truth, j), col(&pp, j)),
                        fig::Series::new(enc, col(&truth, j), col(&pc, j)),
                    ],
                )?;
            }
        }
    }
    let n = out.plain_outputs.len().min(5000);
    if n > 0 && out.decrypted_outputs.len() >= n {
        fig::scatter(
            dir.join("outputs_scatter.png"),
            &fig::CurveSpec::new("Test outputs: decrypted encrypted vs plaintext", "plaintext", "decrypted"),
            &[fig::Series::new("test outputs", out.plain_outputs[..n].to_vec(), out.decrypted_outputs[..n].to_vec())],
        )?;
    }
    Ok(())
}
