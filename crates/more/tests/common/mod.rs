//! Helpers shared by the owner-side integration tests: seeded keys, seeded encryption, value
//! strategies and deterministic proptest configs.
#![allow(dead_code)] // each test binary uses a subset

use moreml_cipher::prelude::*;
use moreml_more::{KeyParams, RDistribution, SecretKey};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A proptest config with `cases` cases: a fresh random seed per run, and failing cases
/// persisted under `proptest-regressions/` (committed, replayed first on every run).
pub fn config(cases: u32) -> Config {
    Config { cases, ..Config::default() }
}

/// `|got - want| <= bound`, false when either side is NaN (a NaN difference never passes).
pub fn within(got: f64, want: f64, bound: f64) -> bool {
    (got - want).abs() <= bound
}

/// Largest value, NaN if any is NaN (unlike `fold(0.0, f64::max)`, which drops NaN).
pub fn nan_max(xs: impl IntoIterator<Item = f64>) -> f64 {
    xs.into_iter().fold(0.0, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) })
}

/// A key drawn from a seeded ChaCha20 stream.
pub fn key(seed: u64, max_condition: f64, r: RDistribution) -> SecretKey {
    SecretKey::generate_with_rng(
        KeyParams { max_condition, r, ..KeyParams::default() },
        &mut ChaCha20Rng::seed_from_u64(seed),
    )
    .expect("key generation")
}

/// Uniform r with magnitudes up to `scale`, bounded away from 0 (so inverses exist):
/// `r ~ U(scale/2, scale)` or `U(-scale, -scale/2)`.
pub fn r_away_from_zero(scale: f64, negative: bool) -> RDistribution {
    if negative {
        RDistribution::Uniform { low: -scale, high: -0.5 * scale }
    } else {
        RDistribution::Uniform { low: 0.5 * scale, high: scale }
    }
}

/// Random sign, magnitude log-uniform in `[1e-3, 1e3]`.
pub fn magnitude() -> impl Strategy<Value = f64> {
    (any::<bool>(), -3.0f64..3.0).prop_map(|(neg, e)| if neg { -(10f64.powf(e)) } else { 10f64.powf(e) })
}

/// A vector of `n` such values.
pub fn magnitudes(n: impl Into<prop::collection::SizeRange>) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(magnitude(), n)
}

/// Encrypts `values` (shape `shape`) with a seeded stream.
pub fn encrypt<T: Float>(sk: &SecretKey, shape: &[usize], values: &[f64], seed: u64) -> WireCiphertext<T> {
    let x = PlainTensor::<T>::from_vec(shape, values.iter().map(|&v| T::of(v)).collect()).unwrap();
    sk.encrypt_with_rng(&x, &mut ChaCha20Rng::seed_from_u64(seed)).expect("encrypt")
}

/// Wire -> server coordinates under the key's public basis.
pub fn to_server<T: Float>(sk: &SecretKey, w: &WireCiphertext<T>) -> CipherTensor<T> {
    CipherTensor::from_wire_tagged(w, sk.tag(), "test").expect("honest ciphertexts are in the algebra")
}

/// Server coordinates -> decrypted values (f64), checking integrity.
pub fn decrypt<T: Float>(sk: &SecretKey, c: &CipherTensor<T>) -> Vec<f64> {
    let d = sk.decrypt(&c.to_wire(&sk.tag().basis)).expect("decrypt");
    d.values.values().iter().map(|v| v.f64()).collect()
}

/// Hidden values r of wire ciphertexts, as f64.
pub fn hidden<T: Float>(sk: &SecretKey, w: &WireCiphertext<T>) -> Vec<f64> {
    sk.hidden_values(w).values().iter().map(|v| v.f64()).collect()
}

/// Plain values as f64.
pub fn vals<T: Float>(t: &PlainTensor<T>) -> Vec<f64> {
    t.values().iter().map(|v| v.f64()).collect()
}

/// Writes a hand-made key file readable by its owner only (`SecretKey::load` refuses others).
pub fn write_private(path: &std::path::Path, text: impl AsRef<[u8]>) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}
