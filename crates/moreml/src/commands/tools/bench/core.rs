//! `moreml bench core`: encryption throughput and encrypted/plaintext GEMM ratios, measured
//! side by side in one run.

use super::median;
use super::BenchArgs;
use anyhow::Result;
use moreml_cipher::{format, prelude::*};
use moreml_more::{KeyParams, RDistribution, SecretKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::time::Instant;

/// Median wall time of `reps` runs of `f`, in seconds (after one warm-up run).
pub fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..reps.max(1))
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn random<T: Float>(rng: &mut ChaCha8Rng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::of(rng.random_range(-1.0..1.0))).collect()
}

fn throughput<T: Float>(key: &SecretKey, a: &BenchArgs, rng: &mut ChaCha8Rng) -> Result<serde_json::Value> {
    // Shaped like a data set (records x 1024 features), as real inputs are.
    let rows = a.values.div_ceil(1024);
    let x = PlainTensor::<T>::from_vec(&[rows, 1024], random(rng, rows * 1024))?;
    let mut wire = None;
    let enc = median_secs(a.reps, || wire = Some(key.encrypt(&x).expect("finite input")));
    let wire = wire.expect("ran");
    let dec = median_secs(a.reps, || {
        key.decrypt(&wire).expect("own ciphertexts");
    });
    let (e, d) = (x.numel() as f64 / enc, x.numel() as f64 / dec);
    let r = match key.params().r {
        RDistribution::Empirical { .. } => "empirical",
        RDistribution::Record { .. } => "record",
        RDistribution::Uniform { .. } => "uniform",
    };
    println!("{:<5} r {r:<9} encrypt {:>7.1} M values/s   decrypt {:>7.1} M values/s", T::NAME, e / 1e6, d / 1e6);
    Ok(json!({"dtype": T::NAME, "r": r, "encrypt_values_per_s": e, "decrypt_values_per_s": d}))
}

fn gemm_ratio<T: Float>(key: &SecretKey, n: usize, reps: usize, rng: &mut ChaCha8Rng) -> Result<serde_json::Value> {
    let pa = PlainTensor::<T>::from_vec(&[n, n], random(rng, n * n))?;
    let pb = PlainTensor::<T>::from_vec(&[n, n], random(rng, n * n))?;
    let basis = key.tag().basis;
    let ca = CipherTensor::from_wire(&key.encrypt(&pa)?, &basis, "a")?;
    let cb = CipherTensor::from_wire(&key.encrypt(&pb)?, &basis, "b")?;
    // Interleaved: each repetition times both, so drift of a shared machine hits both alike;
    // the ratio reported is the median of the per-repetition ratios.
    let (mut tp, mut tc, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..=reps.max(1) {
        let p = median_secs(0, || {
            std::hint::black_box(pa.matmul(false, &pb, false));
        });
        let c = median_secs(0, || {
            std::hint::black_box(ca.matmul(false, &cb, false));
        });
        if rep > 0 {
            tp.push(p);
            tc.push(c);
            ratios.push(c / p);
        }
    }
    let (plain, cipher, ratio) = (median(tp), median(tc), median(ratios));
    let flops = 2.0 * (n as f64).powi(3);
    println!(
        "{:<5} gemm {n:>5}: plain {:>8.3} ms ({:>6.1} GFLOP/s)   encrypted {:>8.3} ms   ratio {:>5.2}x",
        T::NAME,
        plain * 1e3,
        flops / plain / 1e9,
        cipher * 1e3,
        ratio
    );
    Ok(json!({"dtype": T::NAME, "n": n, "plain_s": plain, "encrypted_s": cipher, "ratio": ratio}))
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    let key = SecretKey::generate(KeyParams::default())?;
    let uniform =
        SecretKey::generate(KeyParams { r: RDistribution::Uniform { low: 0.5, high: 1.5 }, ..KeyParams::default() })?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    println!(
        "moreml bench core: {} threads, flush-to-zero {}",
        rayon::current_num_threads(),
        moreml_cipher::runtime::flush_to_zero_enabled()
    );
    let mut thr = Vec::new();
    for k in [&key, &uniform] {
        thr.push(throughput::<f32>(k, a, &mut rng)?);
        thr.push(throughput::<f64>(k, a, &mut rng)?);
    }
    let mut gemm = Vec::new();
    for &n in &a.sizes {
        gemm.push(gemm_ratio::<f32>(&key, n, a.reps, &mut rng)?);
    }
    for &n in &a.sizes {
        gemm.push(gemm_ratio::<f64>(&key, n, a.reps, &mut rng)?);
    }
    if let Some(path) = &a.json {
        let v = json!({"threads": rayon::current_num_threads(), "throughput": thr, "gemm": gemm});
        format::write_atomic(path, serde_json::to_string_pretty(&v)?.as_bytes(), None)?;
    }
    Ok(())
}
