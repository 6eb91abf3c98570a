//! Issue "MORE cryptosystem core": Dec(Enc(a) op Enc(b)) = a op b, within a stated error bound.
//!
//! Error model (what the bounds below encode). A ciphertext of (m, r) has entries of size
//! about cond(S) * (|m| + |r|); every rounding step (encryption, the server's coordinate
//! arithmetic, conversion back to 2x2 form, `S^-1 C S`) adds a relative error of a few ulps of
//! that size, and decryption multiplies it by up to cond(S)^2. So, with
//! `scale = |m| + |r|` of the exact result's hidden pair:
//!
//! * f64, cond(S) <= 10: |dec - expected| <= 1e-12 * scale (asserted below, values and r of
//!   magnitude 1e-3..1e3 with random signs, magnitudes log-uniform). For a product the scale is
//!   (|m_a| + |r_a|)(|m_b| + |r_b|); for a GEMM entry the sum over k of such products. For an
//!   inverse the input error is amplified by the derivative of 1/x: the bound is
//!   1e-12 * ((|m| + |r|) / m^2 + |1/m| + |1/r|).
//! * f32, cond(S) <= 10 (measured by `f32_error_figure`, run with `--nocapture`): worst
//!   |dec - m| / (|m| + |r|) over 65536 round trips and squares is 6.8e-7 (about 6 f32 ulps);
//!   asserted <= 2e-5.
//! * cond(S) dependence (measured by `error_vs_condition`, keys bucketed by their actual cond):
//!
//!   | cond(S)       | worst f64 ratio | worst f32 ratio |
//!   |---------------|-----------------|-----------------|
//!   | (1, 2]        | 6.7e-16         | 1.6e-7          |
//!   | (2, 10]       | 2.9e-15         | 4.9e-7          |
//!   | (10, 100]     | 5.9e-14         | 1.5e-5          |
//!   | (100, 1000]   | 1.5e-12         | 3.7e-4          |
//!   | (1000, 10000] | 3.8e-11         | 1.2e-2          |
//!
//!   i.e. about 25x per decade of cond(S) (~cond^1.4), always below 3e-16 * cond(S)^2
//!   (asserted <= 10 eps * cond^2): the 1e-12 bound above needs cond(S) <= ~100 in f64, and
//!   f32 is only usable for cond(S) <= 10 or so. That is why keys are redrawn above
//!   `max_condition` (default 10).
mod common;
use common::*;
use moreml_cipher::prelude::*;
use moreml_more::{KeyParams, RDistribution, SecretKey};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Asserts `|got - want| <= rel * scale` elementwise, with a helpful message.
fn check(what: &str, got: &[f64], want: &[f64], scale: &[f64], rel: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    for i in 0..got.len() {
        let err = (got[i] - want[i]).abs();
        prop_assert!(
            err <= rel * scale[i],
            "{}[{}]: got {:e}, want {:e}, err {:.3e} > {:.0e} * scale {:.3e} (ratio {:.3e})",
            what,
            i,
            got[i],
            want[i],
            err,
            rel,
            scale[i],
            err / scale[i]
        );
    }
    Ok(())
}

fn pair_scale(m: &[f64], r: &[f64]) -> Vec<f64> {
    m.iter().zip(r).map(|(m, r)| m.abs() + r.abs()).collect()
}

/// Key with cond(S) <= 10 and r ~ U(s/2, s) or U(-s, -s/2) for s = 10^r_exp.
fn test_key(seed: u64, r_exp: f64, r_neg: bool) -> SecretKey {
    let sk = key(seed, 10.0, r_away_from_zero(10f64.powf(r_exp), r_neg));
    assert!(sk.condition() <= 10.0);
    sk
}

/// Two same-length vectors of magnitudes 1e-3..1e3.
fn two_vecs(max: usize) -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (1..max).prop_flat_map(|n| (magnitudes(n), magnitudes(n)))
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn round_trip_f64_uniform(seed in any::<u64>(), xs in magnitudes(1..64), r_exp in -3.0f64..3.0, r_neg in any::<bool>()) {
        let sk = test_key(seed, r_exp, r_neg);
        let w = encrypt::<f64>(&sk, &[xs.len()], &xs, seed ^ 1);
        let scale = pair_scale(&xs, &hidden(&sk, &w));
        let d = sk.decrypt(&w).unwrap();
        check("round trip", &vals(&d.values), &xs, &scale, 1e-12)?;
        // The server-side representation round-trips too.
        check("via coords", &decrypt(&sk, &to_server(&sk, &w)), &xs, &scale, 1e-12)?;
    }

    #[test]
    fn round_trip_f32_uniform(seed in any::<u64>(), xs in magnitudes(1..64), r_exp in -3.0f64..3.0, r_neg in any::<bool>()) {
        let sk = test_key(seed, r_exp, r_neg);
        let xs: Vec<f64> = xs.iter().map(|&v| v as f32 as f64).collect();
        let w = encrypt::<f32>(&sk, &[xs.len()], &xs, seed ^ 1);
        let scale = pair_scale(&xs, &hidden(&sk, &w));
        check("round trip f32", &vals(&sk.decrypt(&w).unwrap().values), &xs, &scale, 2e-5)?;
        check("via coords f32", &decrypt(&sk, &to_server(&sk, &w)), &xs, &scale, 2e-5)?;
    }

    /// The default (empirical) r distribution: round trip, and r follows each feature's range.
    #[test]
    fn round_trip_empirical(seed in any::<u64>(), rows in 1usize..20, feats in 1usize..6, data in magnitudes(120)) {
        let sk = key(seed, 10.0, RDistribution::default());
        let RDistribution::Empirical { jitter } = sk.params().r else { unreachable!() };
        let xs = &data[..rows * feats];
        let w64 = encrypt::<f64>(&sk, &[rows, feats], xs, seed);
        let r = hidden(&sk, &w64);
        check("empirical f64", &vals(&sk.decrypt(&w64).unwrap().values), xs, &pair_scale(xs, &r), 1e-12)?;
        // Features are the columns when there are >= 2 records, else the whole tensor.
        let cols = if rows >= 2 { feats } else { 1 };
        for f in 0..cols {
            let col: Vec<f64> = xs.iter().skip(f).step_by(cols).copied().collect();
            let (lo, hi) = col.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            let slack = jitter + 1e-9 * (lo.abs() + hi.abs());
            for (i, rv) in r.iter().enumerate().skip(f).step_by(cols) {
                prop_assert!(*rv >= lo - slack && *rv <= hi + slack, "r[{}] = {} outside feature {} range [{}, {}]", i, rv, f, lo, hi);
            }
        }
        let w32 = encrypt::<f32>(&sk, &[rows, feats], xs, seed);
        let xs32: Vec<f64> = xs.iter().map(|&v| v as f32 as f64).collect();
        check("empirical f32", &vals(&sk.decrypt(&w32).unwrap().values), &xs32, &pair_scale(&xs32, &hidden(&sk, &w32)), 2e-5)?;
    }

    #[test]
    fn add_sub_mul(seed in any::<u64>(), (xs, ys) in two_vecs(48), r_exp in -3.0f64..3.0, r_neg in any::<bool>()) {
        let sk = test_key(seed, r_exp, r_neg);
        let n = xs.len();
        let (wa, wb) = (encrypt::<f64>(&sk, &[n], &xs, seed ^ 1), encrypt::<f64>(&sk, &[n], &ys, seed ^ 2));
        let (sa, sb) = (pair_scale(&xs, &hidden(&sk, &wa)), pair_scale(&ys, &hidden(&sk, &wb)));
        let (a, b) = (to_server(&sk, &wa), to_server(&sk, &wb));
        let sum_scale: Vec<f64> = sa.iter().zip(&sb).map(|(x, y)| x + y).collect();
        let prod_scale: Vec<f64> = sa.iter().zip(&sb).map(|(x, y)| x * y).collect();
        let zip = |f: fn(f64, f64) -> f64| xs.iter().zip(&ys).map(|(x, y)| f(*x, *y)).collect::<Vec<_>>();
        check("add", &decrypt(&sk, &a.add(&b)), &zip(|x, y| x + y), &sum_scale, 1e-12)?;
        check("sub", &decrypt(&sk, &a.sub(&b)), &zip(|x, y| x - y), &sum_scale, 1e-12)?;
        check("mul", &decrypt(&sk, &a.mul(&b)), &zip(|x, y| x * y), &prod_scale, 1e-12)?;
        check("mul commutes", &decrypt(&sk, &b.mul(&a)), &zip(|x, y| x * y), &prod_scale, 1e-12)?;
        let sq_scale: Vec<f64> = sa.iter().map(|s| s * s).collect();
        check("square", &decrypt(&sk, &a.square()), &zip(|x, _| x * x), &sq_scale, 1e-12)?;
    }

    #[test]
    fn scalar_ops_and_inverse(seed in any::<u64>(), xs in magnitudes(1..48), c in magnitude(), r_exp in -3.0f64..3.0, r_neg in any::<bool>()) {
        let sk = test_key(seed, r_exp, r_neg);
        let w = encrypt::<f64>(&sk, &[xs.len()], &xs, seed ^ 3);
        let r = hidden(&sk, &w);
        let s = pair_scale(&xs, &r);
        let a = to_server(&sk, &w);
        let map = |f: &dyn Fn(f64) -> f64| xs.iter().map(|x| f(*x)).collect::<Vec<_>>();
        let scaled: Vec<f64> = s.iter().map(|v| v * c.abs()).collect();
        check("scale", &decrypt(&sk, &a.scale(c)), &map(&|x| c * x), &scaled, 1e-12)?;
        let shifted: Vec<f64> = s.iter().map(|v| v + c.abs()).collect();
        check("add_scalar", &decrypt(&sk, &a.add_scalar(c)), &map(&|x| x + c), &shifted, 1e-12)?;
        // Inverse: the input error is amplified by |d(1/x)/dx| = 1/x^2.
        let inv_scale: Vec<f64> = xs.iter().zip(&r).zip(&s)
            .map(|((m, r), s)| s / (m * m) + 1.0 / m.abs() + 1.0 / r.abs())
            .collect();
        let inv = a.recip();
        check("recip", &decrypt(&sk, &inv), &map(&|x| 1.0 / x), &inv_scale, 1e-12)?;
        // and the hidden slot follows along: the shadow computation is 1/r.
        let hid = hidden(&sk, &inv.to_wire(&sk.tag().basis));
        let want_r: Vec<f64> = r.iter().map(|v| 1.0 / v).collect();
        let r_scale: Vec<f64> = xs.iter().zip(&r).zip(&s).map(|((m, r), s)| s / (r * r) + 1.0 / m.abs() + 1.0 / r.abs()).collect();
        check("recip (hidden r)", &hid, &want_r, &r_scale, 1e-12)?;
    }

    #[test]
    fn gemm_all_transposes(seed in any::<u64>(), m in 1usize..18, k in 1usize..34, n in 1usize..18, ta in any::<bool>(), tb in any::<bool>(),
                           data in magnitudes(17 * 33 + 33 * 17), r_exp in -3.0f64..3.0, r_neg in any::<bool>()) {
        let sk = test_key(seed, r_exp, r_neg);
        check_gemm(&sk, seed, m, k, n, ta, tb, &data)?;
    }
}

/// Encrypted GEMM `op(A) op(B)` ([m,k] x [k,n]) against a naive reference and `PlainTensor::matmul`.
#[allow(clippy::too_many_arguments)]
fn check_gemm(
    sk: &SecretKey,
    seed: u64,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    data: &[f64],
) -> Result<(), TestCaseError> {
    let (av, bv) = (&data[..m * k], &data[m * k..m * k + k * n]);
    // Stored shapes: A^T is stored as [k, m].
    let a_shape = if ta { [k, m] } else { [m, k] };
    let b_shape = if tb { [n, k] } else { [k, n] };
    let (wa, wb) = (encrypt::<f64>(sk, &a_shape, av, seed ^ 5), encrypt::<f64>(sk, &b_shape, bv, seed ^ 6));
    let (sa, sb) = (pair_scale(av, &hidden(sk, &wa)), pair_scale(bv, &hidden(sk, &wb)));
    let at = |i: usize, p: usize| if ta { p * m + i } else { i * k + p };
    let bt = |p: usize, j: usize| if tb { j * k + p } else { p * n + j };
    let mut want = vec![0.0; m * n];
    let mut scale = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                want[i * n + j] += av[at(i, p)] * bv[bt(p, j)];
                scale[i * n + j] += sa[at(i, p)] * sb[bt(p, j)];
            }
        }
    }
    let (a, b) = (to_server(sk, &wa), to_server(sk, &wb));
    let c = a.matmul(ta, &b, tb);
    prop_assert_eq!(c.shape(), &[m, n][..]);
    let what = format!("gemm {m}x{k}x{n} ta={ta} tb={tb}");
    check(&what, &decrypt(sk, &c), &want, &scale, 1e-12)?;
    let pa = PlainTensor::<f64>::from_vec(&a_shape, av.to_vec()).unwrap();
    let pb = PlainTensor::<f64>::from_vec(&b_shape, bv.to_vec()).unwrap();
    check(&format!("plain {what}"), &vals(&pa.matmul(ta, &pb, tb)), &want, &scale, 1e-12)?;
    Ok(())
}

#[test]
fn gemm_named_sizes() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::new(config(1));
    let data = magnitudes(2 * 17 * 33 + 64).new_tree(&mut runner).unwrap().current();
    for (i, &(m, k, n)) in [(1, 1, 1), (3, 5, 2), (17, 33, 1), (1, 33, 17), (17, 33, 17), (2, 1, 3)].iter().enumerate()
    {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sk = test_key(i as u64, 0.0, i % 2 == 0);
            check_gemm(&sk, 7, m, k, n, ta, tb, &data).unwrap();
        }
    }
}

#[test]
fn gemm_f32_matches_plain_f32() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::new(config(1));
    let sk = key(11, 10.0, RDistribution::Uniform { low: -1.0, high: 1.0 });
    let (m, k, n) = (17, 33, 9);
    let vs = prop::collection::vec(-1.0f64..1.0, m * k + k * n).new_tree(&mut runner).unwrap().current();
    let (av, bv) = (&vs[..m * k], &vs[m * k..]);
    let (wa, wb) = (encrypt::<f32>(&sk, &[k, m], av, 1), encrypt::<f32>(&sk, &[n, k], bv, 2));
    let got = decrypt(&sk, &to_server(&sk, &wa).matmul(true, &to_server(&sk, &wb), true));
    let pa = PlainTensor::<f32>::from_vec(&[k, m], av.iter().map(|&v| v as f32).collect()).unwrap();
    let pb = PlainTensor::<f32>::from_vec(&[n, k], bv.iter().map(|&v| v as f32).collect()).unwrap();
    let want = vals(&pa.matmul(true, &pb, true));
    for (g, w) in got.iter().zip(&want) {
        // k = 33 products of values and r in [-1, 1]: scale <= 33 * 4.
        assert!((g - w).abs() <= 2e-5 * 132.0, "{g} vs {w}");
    }
}

/// Worst |dec - m| / (|m| + |r|) over round trips and products of `n` values, for one key.
fn worst_ratio<T: Float>(sk: &SecretKey, n: usize, seed: u64) -> f64 {
    use rand::{Rng, SeedableRng};
    let mut g = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let xs: Vec<f64> = (0..n)
        .map(|_| {
            let v = 10f64.powf(g.random_range(-3.0..3.0));
            let v = if g.random::<bool>() { -v } else { v };
            T::of(v).f64()
        })
        .collect();
    let w = encrypt::<T>(sk, &[n], &xs, seed);
    let r = hidden(sk, &w);
    let s = pair_scale(&xs, &r);
    let d = decrypt(sk, &to_server(sk, &w));
    let mut worst = nan_max(xs.iter().zip(&d).zip(&s).map(|((x, d), s)| (x - d).abs() / s));
    // A product with itself, computed by the server in coordinates.
    let sq = decrypt(sk, &to_server(sk, &w).square());
    for i in 0..n {
        // Reference in f64 from the f64 view of the (rounded) plaintext.
        worst = nan_max([worst, (sq[i] - xs[i] * xs[i]).abs() / (s[i] * s[i])]);
    }
    worst
}

fn uniform_keys(max_condition: f64, count: u64) -> Vec<SecretKey> {
    (0..count).map(|seed| key(1000 + seed, max_condition, RDistribution::Uniform { low: -1e3, high: 1e3 })).collect()
}

#[test]
fn f32_error_figure() {
    let mut worst = 0.0f64;
    for (i, sk) in uniform_keys(10.0, 16).iter().enumerate() {
        worst = nan_max([worst, worst_ratio::<f32>(sk, 4096, i as u64)]);
    }
    println!("f32, cond(S) <= 10: worst |dec - m| / (|m| + |r|) = {worst:.3e} (f32 eps = {:.3e})", f32::EPSILON);
    assert!(worst <= 2e-5, "f32 error {worst:e}");
}

#[test]
fn error_vs_condition() {
    // Draw keys with a loose bound and bucket them by their actual cond(S) (a tight bound only
    // caps it: most random 2x2 matrices have cond(S) < 30).
    let buckets = [(1.0, 2.0), (2.0, 10.0), (10.0, 100.0), (100.0, 1000.0), (1000.0, 10000.0)];
    let mut keys: Vec<Vec<SecretKey>> = vec![Vec::new(); buckets.len()];
    for seed in 0..3000u64 {
        let sk = key(50_000 + seed, 1e4, RDistribution::Uniform { low: -1e3, high: 1e3 });
        let c = sk.condition();
        if let Some(b) = buckets.iter().position(|(lo, hi)| c > *lo && c <= *hi) {
            if keys[b].len() < 6 {
                keys[b].push(sk);
            }
        }
    }
    println!("cond(S) bucket     keys   worst f64 ratio   worst f32 ratio   max f64 ratio / cond^2");
    for ((lo, hi), ks) in buckets.iter().zip(&keys) {
        assert!(!ks.is_empty(), "no key with cond in ({lo}, {hi}]");
        let (mut w64, mut w32, mut norm) = (0.0f64, 0.0f64, 0.0f64);
        for (i, sk) in ks.iter().enumerate() {
            let c = sk.condition();
            let e = worst_ratio::<f64>(sk, 2048, i as u64);
            w64 = nan_max([w64, e]);
            w32 = nan_max([w32, worst_ratio::<f32>(sk, 2048, i as u64)]);
            norm = nan_max([norm, e / (c * c)]);
        }
        println!("({lo:>6}, {hi:>6}]  {:>4}   {w64:>15.3e}   {w32:>15.3e}   {norm:>15.3e}", ks.len());
        // The f64 error stays within a small multiple of eps * cond(S)^2.
        assert!(norm <= 10.0 * f64::EPSILON, "f64 error {w64:e} for cond up to {hi}");
    }
}

#[test]
fn keys_respect_condition_bound_and_are_deterministic() {
    for max_c in [1.5, 2.0, 10.0, 100.0] {
        let a = key(5, max_c, RDistribution::default());
        assert!(a.condition() <= max_c && a.condition() >= 1.0);
        let b = key(5, max_c, RDistribution::default());
        assert_eq!(a.key_id(), b.key_id());
    }
    assert_ne!(key(1, 10.0, RDistribution::default()).key_id(), key(2, 10.0, RDistribution::default()).key_id());
    assert!(SecretKey::generate_with_rng(
        KeyParams { max_condition: 1.0, ..Default::default() },
        &mut <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(1)
    )
    .is_err());
}

#[test]
fn edge_shapes_round_trip_through_files() {
    use moreml_cipher::format::{self, PlainFile};
    let dir = tempfile::tempdir().unwrap();
    for dist in [RDistribution::default(), RDistribution::Uniform { low: -1.0, high: 1.0 }] {
        let sk = key(77, 10.0, dist);
        for shape in [vec![], vec![0], vec![0, 3], vec![2, 0], vec![1, 1], vec![1, 5], vec![2, 1, 1]] {
            let n: usize = shape.iter().product();
            let xs: Vec<f64> = (0..n).map(|i| i as f64 - 0.5).collect();
            let plain = PlainFile {
                tensors: vec![("t".to_string(), PlainTensor::<f64>::from_vec(&shape, xs.clone()).unwrap())],
                extra: Default::default(),
            };
            let path = dir.path().join("e.safetensors");
            format::write_cipher(&path, &sk.encrypt_file(&plain).unwrap()).unwrap();
            let back = format::read_cipher::<f64>(&path).unwrap();
            assert_eq!(back.tensors[0].1.shape(), &shape[..]);
            let (dec, _) = sk.decrypt_file(&back).unwrap();
            assert_eq!(dec.tensors[0].1.shape(), &shape[..]);
            for (a, b) in dec.tensors[0].1.values().iter().zip(&xs) {
                assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()) * 10.0, "{shape:?}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn comparison_helpers_propagate_nan() {
    assert!(check("nan", &[f64::NAN], &[1.0], &[1.0], 1e-3).is_err());
    assert!(check("nan", &[1.0], &[f64::NAN], &[1.0], 1e-3).is_err());
    assert!(check("inf", &[f64::INFINITY], &[1.0], &[1.0], 1e-3).is_err());
    assert!(nan_max([0.5, f64::NAN, 2.0]).is_nan());
    assert!(!within(f64::NAN, 0.0, f64::INFINITY));
    assert!(check("ok", &[1.0], &[1.0 + 1e-9], &[1.0], 1e-3).is_ok());
}
