//! `moreml security-report`: every attack of `moreml-cryptanalysis` against the project's own
//! encrypted artefacts (data encrypted under fresh keys, optionally an encrypted model).
//!
//! The attacks never see a key. The report generates its own keys to encrypt what it attacks and
//! uses them only to measure (ground truth, honest decryption for comparison).

mod data;
mod draw;
mod measure;
mod model;
mod rows;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use moreml_cipher::format::{self, Kind};
use moreml_cipher::Float;
use moreml_more::{KeyParams, RDistribution};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

/// `moreml security-report`.
#[derive(Args, Debug)]
pub struct SecurityReportArgs {
    /// Output directory (report.json and PNGs).
    #[arg(long)]
    pub out: PathBuf,
    /// MNIST directory (default: $MOREML_MNIST_DIR; without either, a labelled synthetic set is used).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// An encrypted model (ciphertext file from `moreml train`) to attack as well.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The model's key, for ground truth only (without it the report gives agreement between attacks).
    #[arg(long, requires = "model")]
    pub model_key: Option<PathBuf>,
    /// Test images to encrypt and attack.
    #[arg(long, default_value_t = 1000)]
    pub images: usize,
    /// Relative tolerance of "recovered" (see report.json's definitions).
    #[arg(long, default_value_t = 1e-6)]
    pub rel_tol: f64,
    /// Scalar type of the ciphertexts.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Seed of keys, encryption and noise (default: random, recorded in the report).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Ciphertext scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    /// 32-bit floats.
    F32,
    /// 64-bit floats.
    F64,
}

/// `moreml security-report`, with the chosen scalar type.
pub fn security_report(a: &SecurityReportArgs) -> Result<()> {
    match a.dtype {
        DtypeArg::F32 => security_report_as::<f32>(a),
        DtypeArg::F64 => security_report_as::<f64>(a),
    }
}

/// The report's definitions of its numbers (report.json `definitions`).
fn definitions(rel_tol: f64) -> Value {
    json!({
        "fraction_recovered": format!("fraction of values v with |recovered - v| / max(|v|, 1e-3 * max|truth|) <= rel_tol = {rel_tol:e} (moreml_cryptanalysis::fraction_recovered)"),
        "fraction_exact_on_grid": "fraction of values that round to the same point of the 1/255 pixel grid as the truth",
        "honest_decryption": "the key holder's decryption of the same ciphertexts, for comparison (f32 ciphertexts limit both)",
        "predicted_rate": "eigen only: Monte Carlo probability (200000 draws from the attacker's priors) that the prior picks m; compare with measured_rate",
        "measured_rate": "eigen only: fraction of ciphertexts where the eigenvalue chosen is m, i.e. |chosen - m| <= the eigenvalue tolerance (the noise level measured without the key, eigen_tolerance); f32 rounding keeps fraction_recovered below it",
        "known_pairs_used": "known (plaintext, ciphertext) pairs the attack used; the free public pair (1, I) is not counted",
        "seconds": "wall time of the attack alone (2 cores shared), excluding encryption and I/O",
    })
}

fn security_report_as<T: Float>(a: &SecurityReportArgs) -> Result<()> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create --out {}", a.out.display()))?;
    let model_dtype = match &a.model {
        Some(p) => {
            let info = format::read_info(p).with_context(|| format!("cannot read --model {}", p.display()))?;
            if info.kind != Kind::Ciphertext {
                bail!("--model {} is a plaintext file; pass the encrypted model (ciphertext file)", p.display());
            }
            Some(info.dtype)
        }
        None => None,
    };
    let seed = a.seed.unwrap_or_else(|| rand::rng().random());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let steps = 4 + a.model.is_some() as u64;
    let bar = indicatif::ProgressBar::new(steps).with_style(
        indicatif::ProgressStyle::with_template("{spinner} security report [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("loading data");
    let data = data::load_data(a, &mut rng)?;
    bar.inc(1);
    let rows_spec = [
        (
            "empirical r (library default)",
            KeyParams { r: RDistribution::Empirical { jitter: 0.01 }, ..KeyParams::default() },
            true,
        ),
        (
            "uniform r U(0.5, 1.5)",
            KeyParams { r: RDistribution::Uniform { low: 0.5, high: 1.5 }, ..KeyParams::default() },
            false,
        ),
    ];
    let mut rows = Vec::new();
    let mut noise = Vec::new();
    let mut pictures = Vec::new();
    let mut noise_pics = Vec::new();
    for (label, params, with_noise) in rows_spec {
        bar.set_message(format!("attacking: {label}"));
        let row = rows::attack_row::<T>(&data, params, label, a, &mut rng, with_noise)?;
        noise_pics.extend(row.noise_pictures);
        rows.push(row.json);
        noise.extend(row.noise_rows);
        pictures.push(row.picture);
        bar.inc(1);
    }
    let model = match (&a.model, model_dtype) {
        (Some(p), Some(dt)) => {
            bar.set_message("attacking the model");
            let v = if dt == "f64" {
                model::model_section::<f64>(p, a, &data, &mut rng)?
            } else {
                model::model_section::<f32>(p, a, &data, &mut rng)?
            };
            bar.inc(1);
            v
        }
        _ => Value::Null,
    };
    bar.set_message("drawing");
    let pngs = draw::draw(a, &data, &pictures, &noise_pics)?;
    bar.inc(1);
    bar.finish_and_clear();
    let report = json!({
        "format": "moreml-security-report",
        "version": 1,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "seed": seed,
        "summary": "MORE has no security level. Every attack below recovers the plaintexts from ciphertexts under a key it never sees; the ciphertext-only ones (linear ciphertext-only, eigen, shared-eigen) need nothing but a rough prior on the data.",
        "definitions": definitions(a.rel_tol),
        "data": {"name": data.name, "synthetic": data.synthetic, "images": data.n, "height": data.h, "width": data.w, "public_samples_for_priors": data.public.len()},
        "rows": rows,
        "noise": {"description": "the empirical-r ciphertexts plus Gaussian noise of relative size sigma (E||noise||_F = sigma ||C||_F): attacks vs honest decryption (Bauer-Fike)", "rows": noise},
        "model": model,
        "pngs": pngs,
        "total_seconds": t0.elapsed().as_secs_f64(),
    });
    let path = a.out.join("report.json");
    format::write_atomic(&path, serde_json::to_string_pretty(&report)?.as_bytes(), None)?;
    eprintln!("security report: {} ({}), {:.1} s", path.display(), data.name, t0.elapsed().as_secs_f64());
    for row in report["rows"].as_array().into_iter().flatten() {
        let parts: Vec<String> = row["attacks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                format!(
                    "{} {:.4}",
                    x["attack"].as_str().unwrap_or("?"),
                    x["fraction_recovered"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect();
        eprintln!(
            "  {}: honest {:.4} | {}",
            row["row"].as_str().unwrap_or(""),
            row["honest_decryption"]["fraction_recovered"].as_f64().unwrap_or(f64::NAN),
            parts.join(", ")
        );
    }
    Ok(())
}
