//! `moreml evaluate` (owner): decrypts predictions and scores them against the true targets.

use crate::commands::common::{data_names, is_regression, with_file, Tensors};
use crate::commands::owner::crypt::load_key;
use crate::commands::owner::dataset::scaling_key;
use crate::commands::server::predict::PREDICTIONS;
use anyhow::{bail, Context, Result};
use clap::Args;
use moreml_cipher::prelude::*;
use moreml_experiments::{metrics, Standardizer};
use std::path::{Path, PathBuf};

/// `moreml evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The secret key (needed when the predictions are encrypted).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Predictions from `moreml predict`.
    #[arg(long)]
    pub predictions: PathBuf,
    /// Plaintext data file with the true targets (one-hot labels or regression targets).
    #[arg(long)]
    pub labels: PathBuf,
    /// Also write the metrics as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn evaluate(a: &EvaluateArgs) -> Result<()> {
    let outputs = with_file!(&a.predictions, |file| predictions(a, file)?);
    let (truth, k, regression, names) = with_file!(&a.labels, |file| targets(&a.labels, file)?);
    if k == 0 || truth.len() != outputs.len() {
        bail!(
            "{} has {} target values but the predictions have {}; they must be the same records",
            a.labels.display(),
            truth.len(),
            outputs.len()
        );
    }
    let report = if let Some(scaling) = regression {
        let (outputs, truth) = match scaling {
            Some(s) => (s.invert(&outputs), s.invert(&truth)),
            None => (outputs, truth),
        };
        let r = metrics::regression(&outputs, &truth, &names);
        for o in &r.outputs {
            println!("{:<24} MAE {:?}  mean rel error {:?}  R^2 {:?}", o.name, o.mae, o.mean_rel_error, o.r2);
        }
        serde_json::to_value(&r)?
    } else {
        let classes = metrics::argmax_rows(&truth, k).into_iter().map(|c| c.unwrap_or(0)).collect::<Vec<_>>();
        let c = metrics::classification(&outputs, &classes, k);
        match c.accuracy {
            Some(acc) => println!("accuracy {acc:.4} ({} records)", classes.len()),
            None => bail!("the predictions contain non-finite values (a diverged model); no accuracy"),
        }
        serde_json::to_value(&c)?
    };
    if let Some(out) = &a.out {
        moreml_cipher::format::write_atomic(out, serde_json::to_string_pretty(&report)?.as_bytes(), None)?;
    }
    Ok(())
}

/// The predictions as f64, decrypted with the key when encrypted.
fn predictions<T: Float>(a: &EvaluateArgs, file: Tensors<T>) -> Result<Vec<f64>> {
    let values = match file {
        Tensors::Cipher(f) => {
            let Some(key_path) = &a.key else {
                bail!("{} holds encrypted predictions; pass --key to decrypt them", a.predictions.display());
            };
            let key = load_key(key_path)?;
            key.check_tag(&f.key)?;
            key.decrypt(f.get(PREDICTIONS, &a.predictions)?)?.values
        }
        Tensors::Plain(f) => f.get(PREDICTIONS, &a.predictions)?.clone(),
    };
    Ok(values.values().iter().map(|v| v.f64()).collect())
}

/// What the owner knows about the true targets.
type Targets = (Vec<f64>, usize, Option<Option<Standardizer>>, Vec<String>);

/// True targets as f64, outputs per record, for regression the standardisation the targets
/// carry (metrics are reported in the original units), and output names.
fn targets<T: Float>(path: &Path, file: Tensors<T>) -> Result<Targets> {
    let Tensors::Plain(f) = file else {
        bail!("{} holds ciphertexts; evaluate against the plaintext data file", path.display());
    };
    let names: Vec<&str> = f.tensors.iter().map(|(n, _)| n.as_str()).collect();
    let (_, tn) = data_names(path, &f.extra, &names, true)?;
    let tn = tn.unwrap_or_default();
    let t = f.get(&tn, path)?;
    let k = t.shape().get(1).copied().unwrap_or(0);
    let columns = f
        .extra
        .get(&format!("moreml.columns.{tn}"))
        .and_then(|j| serde_json::from_str::<Vec<String>>(j).ok())
        .unwrap_or_else(|| (0..k).map(|i| format!("output{i}")).collect());
    let regression = if is_regression(&f.extra) {
        let scaling = match f.extra.get(&scaling_key(&tn)) {
            Some(j) => Some(
                serde_json::from_str::<Standardizer>(j)
                    .with_context(|| format!("{}: bad {} header entry", path.display(), scaling_key(&tn)))?,
            ),
            None => None,
        };
        Some(scaling)
    } else {
        None
    };
    Ok((t.values().iter().map(|v| v.f64()).collect(), k, regression, columns))
}
