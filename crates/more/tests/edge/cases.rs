// Edge-value properties (issue 14), included by `edge_values.rs` (library default: no
// flush-to-zero) and `edge_values_ftz.rs` (flush-to-zero and denormals-are-zero on every
// compute thread, as the CLI runs). `FTZ` is defined by the including file.
//
// The bound checked everywhere is the one `SecretKey::precision` reports:
// |dec - m| <= 4 eps cond(S)^2 (|m| + |r|), with m, r the exact hidden pair. Whenever the
// relative error of a value exceeds 1e-3, the precision report must flag it (never a silent
// wrong value).


use common::*;
use moreml_cipher::prelude::*;
use moreml_more::{KeyParams, RDistribution, SecretKey, PRECISION_THRESHOLD};
use proptest::prelude::*;

fn setup() {
    moreml_cipher::runtime::init(0, FTZ);
    assert_eq!(moreml_cipher::runtime::flush_to_zero_enabled(), FTZ && cfg!(target_arch = "x86_64"));
}

/// Values of every awkward kind: zero, tiny, subnormal, large, ordinary.
fn edge_value() -> impl Strategy<Value = f64> {
    let mag = prop_oneof![
        Just(0.0),
        // subnormal, from bit patterns: float arithmetic on subnormals is flushed under FTZ
        (1u64..1 << 52).prop_map(f64::from_bits),
        (-300.0f64..-30.0).prop_map(|e| 10f64.powf(e)), // tiny
        (-3.0f64..3.0).prop_map(|e| 10f64.powf(e)),     // ordinary
        (3.0f64..12.0).prop_map(|e| 10f64.powf(e)),     // > 1e3
    ];
    (any::<bool>(), mag).prop_map(|(neg, v)| if neg { -v } else { v })
}

/// Bound of the precision report for one value with hidden pair (m, r).
fn bound<T: Float>(sk: &SecretKey, m: f64, r: f64) -> f64 {
    4.0 * T::epsilon().f64() * sk.condition().powi(2) * (m.abs() + r.abs())
}

/// Checks every decrypted value against its bound, and that any value with relative error
/// above the threshold is counted by the precision report.
fn check_against_bound<T: Float>(sk: &SecretKey, w: &WireCiphertext<T>, want: &[f64]) -> Result<(), TestCaseError> {
    let d = sk.decrypt(w).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let got = vals(&d.values);
    let r = hidden(sk, w);
    let p = sk.precision(w, &d.values);
    let rms = (got.iter().map(|v| v * v).sum::<f64>() / got.len().max(1) as f64).sqrt();
    for i in 0..want.len() {
        let b = bound::<T>(sk, want[i], r[i]) + 4.0 * T::min_positive_value().f64();
        prop_assert!(within(got[i], want[i], b), "[{}] got {:e} want {:e} r {:e} bound {:e}", i, got[i], want[i], r[i], b);
        let rel = (got[i] - want[i]).abs() / want[i].abs().max(PRECISION_THRESHOLD * rms).max(f64::MIN_POSITIVE);
        if rel.is_nan() || rel > PRECISION_THRESHOLD {
            prop_assert!(p.imprecise > 0, "[{}] relative error {:e} not reported ({:?})", i, rel, p);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn edge_values_round_trip(seed in any::<u64>(), xs in prop::collection::vec(edge_value(), 1..40), r_exp in -3.0f64..6.0, f32_too in any::<bool>()) {
        setup();
        let sk = key(seed, 10.0, r_away_from_zero(10f64.powf(r_exp), seed % 2 == 0));
        // DAZ reads subnormal inputs as zero: the expected value is what the hardware sees.
        let want64: Vec<f64> = xs.iter().map(|&v| if FTZ && v != 0.0 && v.abs() < f64::MIN_POSITIVE { 0.0 } else { v }).collect();
        check_against_bound::<f64>(&sk, &encrypt::<f64>(&sk, &[xs.len()], &xs, seed), &want64)?;
        if f32_too {
            let x32: Vec<f64> = xs.iter().map(|&v| v.clamp(-1e30, 1e30) as f32 as f64).collect();
            let want32: Vec<f64> = x32.iter().map(|&v| if FTZ && v != 0.0 && v.abs() < f32::MIN_POSITIVE as f64 { 0.0 } else { v }).collect();
            check_against_bound::<f32>(&sk, &encrypt::<f32>(&sk, &[x32.len()], &x32, seed ^ 7), &want32)?;
        }
    }

    /// |m| / |r| above 1e6 and below 1e-6: errors stay within the bound; small-m cases are
    /// flagged by the precision report.
    #[test]
    fn extreme_ratios(seed in any::<u64>(), r_exp in -4.0f64..6.0, ratio_exp in 6.0f64..10.0, m_small in any::<bool>()) {
        setup();
        let r_scale = 10f64.powf(r_exp); // within the accepted r range
        let m = if m_small { r_scale / 10f64.powf(ratio_exp) } else { r_scale * 10f64.powf(ratio_exp) };
        let sk = key(seed, 10.0, r_away_from_zero(r_scale, false));
        let xs = vec![m; 8];
        let w = encrypt::<f64>(&sk, &[8], &xs, seed);
        check_against_bound::<f64>(&sk, &w, &xs)?;
        let w32 = encrypt::<f32>(&sk, &[8], &xs, seed);
        let x32: Vec<f64> = xs.iter().map(|&v| v as f32 as f64).collect();
        check_against_bound::<f32>(&sk, &w32, &x32)?;
        if m_small {
            let d = sk.decrypt(&w32).unwrap();
            prop_assert_eq!(sk.precision(&w32, &d.values).imprecise, 8, "f32 m/r < 1e-6 must be flagged");
        }
    }

    /// `recip` with r near zero: 1/r is huge, the ciphertext entries with it, and 1/m loses
    /// precision; the result must be an error, or within the documented bound (and flagged
    /// when imprecise), never a silent wrong value.
    #[test]
    fn recip_with_r_near_zero(seed in any::<u64>(), m in 0.5f64..10.0, r_exp in -12.0f64..-1.0) {
        setup();
        let sk = key(seed, 10.0, r_away_from_zero(10f64.powf(r_exp), seed % 2 == 1));
        for f32_mode in [false, true] {
            let xs = vec![m, -m, 2.0 * m];
            if f32_mode {
                let w = encrypt::<f32>(&sk, &[3], &xs, seed);
                let inv = to_server(&sk, &w).recip().to_wire(&sk.tag().basis);
                let want: Vec<f64> = xs.iter().map(|&v| 1.0 / (v as f32 as f64)).collect();
                if sk.decrypt(&inv).is_ok() {
                    check_against_bound::<f32>(&sk, &inv, &want)?;
                }
            } else {
                let w = encrypt::<f64>(&sk, &[3], &xs, seed);
                let inv = to_server(&sk, &w).recip().to_wire(&sk.tag().basis);
                let want: Vec<f64> = xs.iter().map(|&v| 1.0 / v).collect();
                if sk.decrypt(&inv).is_ok() {
                    check_against_bound::<f64>(&sk, &inv, &want)?;
                }
            }
        }
    }

    /// f32 arithmetic on ciphertexts (products, sums) within the bound of the exact result.
    #[test]
    fn f32_products(seed in any::<u64>(), xs in magnitudes(1..32), r_exp in -2.0f64..2.0) {
        setup();
        let sk = key(seed, 10.0, r_away_from_zero(10f64.powf(r_exp), false));
        let x32: Vec<f64> = xs.iter().map(|&v| v as f32 as f64).collect();
        let w = encrypt::<f32>(&sk, &[x32.len()], &x32, seed);
        let r = hidden(&sk, &w);
        let c = to_server(&sk, &w);
        let sq = sk.decrypt(&c.square().add(&c).to_wire(&sk.tag().basis)).unwrap();
        for (i, got) in vals(&sq.values).iter().enumerate() {
            let (m, rr) = (x32[i], r[i]);
            // Result pair (m^2 + m, r^2 + r); each input rounding is amplified by 2|x| + 1.
            let scale = (m.abs() + rr.abs()) * (2.0 * (m.abs() + rr.abs()) + 1.0);
            let b = 4.0 * f32::EPSILON as f64 * sk.condition().powi(2) * scale;
            prop_assert!(within(*got, m * m + m, b), "[{}] {:e} vs {:e} (bound {:e})", i, got, m * m + m, b);
        }
    }

    /// Record-level r: rows of targets get another record's row (so one-hot rows keep
    /// summing to 1 on the hidden side), single-value records keep r != m, and continuous
    /// regression values decrypt exactly.
    #[test]
    fn record_distribution(seed in any::<u64>(), rows in 2usize..40, k in 1usize..6, continuous in any::<bool>()) {
        setup();
        let sk = SecretKey::generate_with_rng(KeyParams::default(), &mut <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(seed)).unwrap();
        let x: Vec<f64> = (0..rows * k)
            .map(|i| if continuous { ((i as f64) * 0.731 + seed as f64 % 7.0).sin() * 50.0 } else if i % k == (i / k) % k { 1.0 } else { 0.0 })
            .collect();
        let t = PlainTensor::<f64>::from_vec(&[rows, k], x.clone()).unwrap();
        let w = sk.encrypt_targets(&t).unwrap();
        let d = sk.decrypt(&w).unwrap();
        for (a, b) in vals(&d.values).iter().zip(&x) {
            prop_assert!(within(*a, *b, 1e-12 * (1.0 + b.abs()) * sk.condition().powi(2)), "{} vs {}", a, b);
        }
        let r = hidden(&sk, &w);
        for i in 0..rows {
            let row_r: f64 = r[i * k..(i + 1) * k].iter().sum();
            if !continuous && k > 1 {
                prop_assert!(within(row_r, 1.0, 1e-9), "hidden row {} sums to {}", i, row_r);
            }
            for j in 0..k {
                prop_assert!(r[i * k + j] != x[i * k + j], "r == m at [{}, {}]: the ciphertext would be public", i, j);
            }
        }
    }
}

#[test]
fn default_params_are_valid_and_edges_rejected() {
    assert!(KeyParams::default().validate().is_ok());
    for bad in [
        RDistribution::Empirical { jitter: 1e300 },
        RDistribution::Record { jitter: -1.0 },
        RDistribution::Empirical { jitter: f64::NAN },
        RDistribution::Uniform { low: 1.0, high: 1.0 },
        RDistribution::Uniform { low: f64::NEG_INFINITY, high: 1.0 },
        RDistribution::Uniform { low: 0.0, high: 1e7 },
    ] {
        assert!(bad.validate().is_err(), "{bad:?} accepted");
    }
    for c in [1.0, 0.5, f64::NAN, f64::INFINITY, 1e7] {
        let p = KeyParams { max_condition: c, ..KeyParams::default() };
        assert!(p.validate().is_err(), "max_condition {c} accepted");
    }
}
