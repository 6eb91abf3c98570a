//! The report's model section: the attacks on an encrypted model's weights.

use super::data::DataSet;
use super::measure::{run_all, runs_json, Run};
use super::SecurityReportArgs;
use crate::commands::owner::crypt::load_key;
use crate::commands::tools::attack::pool_of;
use anyhow::{bail, Context, Result};
use moreml_cipher::format;
use moreml_cipher::{Float, PlainTensor};
use moreml_cryptanalysis::{fraction_recovered, DataModel, EigenPriors, Grid, KnownPairs, PoolScorer, RGuess};
use serde_json::{json, Value};
use std::path::Path;

/// Weights have no public prior: no images, a wide range, no grid.
fn weights_model() -> DataModel {
    DataModel {
        image: None,
        data_range: (-1e3, 1e3),
        r_guess: RGuess::Empirical,
        r_jitter: 0.01,
        r_range: (0.5, 1.5),
        grid: Grid::Off,
    }
}

/// Attacks the encrypted model at `path`; with `--model-key`, measures against its decryption.
pub(super) fn model_section<T: Float>(
    path: &Path,
    a: &SecurityReportArgs,
    data: &DataSet,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Result<Value> {
    let file = format::read_cipher::<T>(path).with_context(|| format!("cannot read --model {}", path.display()))?;
    let model = weights_model();
    let key = match &a.model_key {
        Some(k) => {
            let key = load_key(k)?;
            key.check_tag(&file.key)
                .with_context(|| format!("--model-key does not match --model {}", path.display()))?;
            Some(key)
        }
        None => None,
    };
    let mut pool = pool_of(file.tensors.iter().map(|(n, t)| (n.as_str(), t)), &model)?;
    let n_model = pool.len();
    if n_model == 0 {
        bail!("--model {} holds no ciphertexts", path.display());
    }
    let truth: Option<Vec<f64>> = key.as_ref().map(|k| {
        file.tensors
            .iter()
            .flat_map(|(_, t)| k.decrypt_unchecked(t).values.values().iter().map(|x| x.f64()).collect::<Vec<_>>())
            .collect()
    });
    // With the key, simulate what the training server also holds: the training images encrypted
    // under the same key. They give the image scorer (E, A) and a known pair (B, C, A).
    let mut pairs = None;
    let mut same_key_images = 0;
    if let Some(k) = &key {
        let m = data.n.min(100);
        let px = data.h * data.w;
        let shape = [m, data.h, data.w];
        let imgs = PlainTensor::<T>::from_vec(&shape, data.images[..m * px].iter().map(|x| T::of(*x)).collect())?;
        let w = k.encrypt_with_rng(&imgs, rng)?;
        let img_cts: Vec<f64> = w.raw().iter().map(|x| x.f64()).collect();
        let mut known = KnownPairs::new();
        let first: Vec<f64> = imgs.values()[..px].iter().map(|x| x.f64()).collect();
        known.add_known(&first, &img_cts[..4 * px])?;
        pairs = known.best_only();
        pool.push("same-key images", &shape, img_cts, Some((data.h, data.w)))?;
        same_key_images = m;
    }
    let scorer = PoolScorer::new(&pool, (0.0, 1.0));
    let priors = EigenPriors::build(pool.cts(), &model, None)?;
    let mut runs = run_all(pool.cts(), pairs.as_ref(), &scorer, &priors);
    for r in runs.iter_mut().flatten() {
        r.outcome.recovered.truncate(n_model);
        r.outcome.ciphertexts_used = pool.len();
    }
    let ok: Vec<&Run> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut agreement = serde_json::Map::new();
    for x in &ok {
        for y in &ok {
            if x.label < y.label {
                agreement.insert(
                    format!("{} vs {}", x.label, y.label),
                    json!(fraction_recovered(&x.outcome.recovered, &y.outcome.recovered, a.rel_tol)),
                );
            }
        }
    }
    Ok(json!({
        "path": path.display().to_string(),
        "key_id": file.key.key_id,
        "tensors": file.tensors.iter().map(|(n, t)| json!({"name": n, "shape": t.shape()})).collect::<Vec<_>>(),
        "ciphertexts": n_model,
        "ground_truth": if key.is_some() { "decrypted with --model-key" } else { "unknown (no --model-key): fraction_recovered is null; see agreement" },
        "same_key_images_added": same_key_images,
        "note": "Weights have no public prior. With the key, the report also encrypts test images under the model's key, as the training server holds its encrypted training set: that pool gives the image scorer (A, E) and one known pixel pair (A, B, C), which then decrypt the weights. Without it, A and E pick a stream by value range only and B, C have no pair.",
        "eigen_prior": priors.description,
        "attacks": runs_json(&runs, truth.as_deref(), a.rel_tol, None),
        "agreement_between_attacks": agreement,
    }))
}
