//! One report row: the data set encrypted under a fresh key, every attack on it, and (for the
//! empirical-r key) the same under added noise.

use super::data::DataSet;
use super::measure::{errs, errs_json, recovered_by, run_all, runs_json};
use super::SecurityReportArgs;
use crate::commands::tools::attack::pool_of;
use anyhow::Result;
use moreml_cipher::{Float, PlainTensor, WireCiphertext};
use moreml_cryptanalysis::{
    add_relative_noise, predicted_eigen_success, Attack, DataModel, EigenPriors, Grid, KnownPairs, PoolScorer, RGuess,
};
use moreml_more::{KeyParams, RDistribution, SecretKey};
use serde_json::{json, Value};
use std::time::Instant;

/// Relative noise levels of the noise section.
const NOISE_SIGMAS: [f64; 2] = [1e-6, 1e-3];

/// A row's images: (label, server view C[0][0], E recovery, D recovery).
pub(super) type Picture<'a> = (&'a str, Vec<f64>, Vec<f64>, Vec<f64>);

/// Image 0 under noise: (sigma, server view, honest decryption, E, D).
pub(super) type NoisePics = Vec<(f64, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>)>;

/// What one row gives the report.
pub(super) struct Row<'a> {
    pub json: Value,
    pub picture: Picture<'a>,
    pub noise_rows: Vec<Value>,
    pub noise_pictures: NoisePics,
}

fn key_json(key: &SecretKey) -> Value {
    json!({"key_id": key.key_id(), "condition": key.condition(), "r": format!("{:?}", key.params().r)})
}

fn to_wire<T: Float>(cts: &[f64], n: usize) -> Result<WireCiphertext<T>> {
    Ok(WireCiphertext::from_vec(&[n], cts.iter().map(|x| T::of(*x)).collect())?)
}

/// Kerckhoffs: the attacker knows the scheme and the key's r parameters (not the key).
fn attacker_model(data: &DataSet, r: RDistribution) -> DataModel {
    let (r_guess, r_jitter, r_range) = match r {
        RDistribution::Uniform { low, high } => (RGuess::Uniform, 0.01, (low, high)),
        RDistribution::Empirical { jitter } | RDistribution::Record { jitter } => {
            (RGuess::Empirical, jitter, (0.5, 1.5))
        }
    };
    DataModel { image: Some((data.h, data.w)), data_range: (0.0, 1.0), r_guess, r_jitter, r_range, grid: Grid::Auto }
}

/// Encrypts the data set under a fresh key with `params` and attacks it.
pub(super) fn attack_row<'a, T: Float>(
    data: &DataSet,
    params: KeyParams,
    label: &'a str,
    a: &SecurityReportArgs,
    rng: &mut rand_chacha::ChaCha20Rng,
    with_noise: bool,
) -> Result<Row<'a>> {
    let key = SecretKey::generate_with_rng(params, rng)?;
    let shape = [data.n, data.h, data.w];
    let plain = PlainTensor::<T>::from_vec(&shape, data.images.iter().map(|x| T::of(*x)).collect())?;
    let truth: Vec<f64> = plain.values().iter().map(|x| x.f64()).collect();
    let te = Instant::now();
    let wire = key.encrypt_with_rng(&plain, rng)?;
    let enc_secs = te.elapsed().as_secs_f64();
    let honest: Vec<f64> = key.decrypt(&wire)?.values.values().iter().map(|x| x.f64()).collect();
    let model = attacker_model(data, params.r);
    let pool = pool_of([("images", &wire)], &model)?;
    let scorer = PoolScorer::new(&pool, model.data_range);
    // The attacker knows the first image (e.g. a public example that was in the data set) and
    // uses its best-conditioned pixel.
    let px = data.h * data.w;
    let mut pairs = KnownPairs::new();
    pairs.add_known(&truth[..px], &pool.cts()[..4 * px])?;
    let one = pairs.best_only();
    let priors = EigenPriors::build(pool.cts(), &model, Some(&data.public))?;
    let predicted = predicted_eigen_success(&priors.p_m, &priors.p_r, 200_000, 11)?;
    let runs = run_all(pool.cts(), one.as_ref(), &scorer, &priors);
    let e_rec = recovered_by(&runs, Attack::SharedEigen, truth.len());
    let d_rec = recovered_by(&runs, Attack::Eigen, truth.len());
    let mut noise_rows = Vec::new();
    let mut noise_pictures = Vec::new();
    if with_noise {
        // under noise the attacker uses the brightest known pixel (its ciphertext is noisy too)
        let known_idx = truth[..px].iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).map(|x| x.0).unwrap_or(0);
        for (i, sigma) in NOISE_SIGMAS.into_iter().enumerate() {
            let noisy: Vec<f64> = add_relative_noise(pool.cts(), sigma, 1000 + i as u64)?;
            let noisy_t = to_wire::<T>(&noisy, truth.len())?;
            let noisy_pool = pool_of([("images", &noisy_t)], &model)?;
            let honest_n: Vec<f64> = key.decrypt_unchecked(&noisy_t).values.values().iter().map(|x| x.f64()).collect();
            let mut one_n = KnownPairs::new();
            one_n.push(truth[known_idx], &noisy_pool.cts()[4 * known_idx..4 * known_idx + 4])?;
            let pr = EigenPriors::build(noisy_pool.cts(), &model, Some(&data.public))?;
            let runs_n = run_all(noisy_pool.cts(), Some(&one_n), &scorer, &pr);
            let view: Vec<f64> = noisy_pool.cts()[..4 * px].chunks_exact(4).map(|c| c[0]).collect();
            noise_pictures.push((
                sigma,
                view,
                honest_n[..px].to_vec(),
                recovered_by(&runs_n, Attack::SharedEigen, px),
                recovered_by(&runs_n, Attack::Eigen, px),
            ));
            noise_rows.push(json!({
                "sigma": sigma,
                "honest_decryption": errs_json(Some(errs(&honest_n, &truth, a.rel_tol))),
                "eigen_prior": pr.description,
                "attacks": runs_json(&runs_n, Some(&truth), a.rel_tol, None),
            }));
        }
    }
    let json = json!({
        "row": label,
        "key": key_json(&key),
        "dtype": T::NAME,
        "ciphertexts": truth.len(),
        "encrypt_seconds": enc_secs,
        "honest_decryption": errs_json(Some(errs(&honest, &truth, a.rel_tol))),
        "known_pairs_available": format!("the {} pixels of image 0; 1 best-conditioned pair used", px),
        "eigen_prior": priors.description,
        "eigen_grid_detected": priors.grid,
        "eigen_tolerance": priors.tol,
        "attacks": runs_json(&runs, Some(&truth), a.rel_tol, Some((predicted, priors.tol))),
    });
    let server: Vec<f64> = pool.cts().chunks_exact(4).map(|c| c[0]).collect();
    Ok(Row { json, picture: (label, server, e_rec, d_rec), noise_rows, noise_pictures })
}
