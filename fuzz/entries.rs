//! The fuzzed entry points, shared by the fuzz targets (`fuzz_targets/*.rs`) and the corpus
//! replay test (`crates/moreml/tests/fuzz_replay.rs`), so CI exercises exactly what was fuzzed.
//! Each function must return normally on any input: errors are fine, panics and absurd
//! allocations are bugs.
#![allow(dead_code)] // each includer uses a subset

use moreml_cipher::format;
use moreml_cipher::{CipherTensor, Domain, PlainTensor};
use std::path::Path;

/// Name used in error messages.
const NAME: &str = "<fuzz>";

/// Plaintext files: header/table of contents, then full reads in both dtypes.
pub fn plain_file(data: &[u8]) {
    let p = Path::new(NAME);
    if let Ok(info) = format::read_info_bytes(data, p) {
        let _ = format::Roles::from_extra(&info.extra);
    }
    if let Ok(f) = format::read_plain_bytes::<f32>(data, p) {
        for (_, t) in &f.tensors {
            let _ = t.check_finite("fuzz");
        }
    }
    let _ = format::read_plain_bytes::<f64>(data, p);
}

/// Ciphertext files: full reads, then conversion to algebra coordinates under the file's key.
pub fn cipher_file(data: &[u8]) {
    let p = Path::new(NAME);
    let _ = format::read_info_bytes(data, p);
    if let Ok(f) = format::read_cipher_bytes::<f64>(data, p) {
        for (n, w) in &f.tensors {
            if let Ok(c) = CipherTensor::from_wire_tagged(w, &f.key, n) {
                let _ = c.to_wire(&f.key.basis);
            }
        }
    }
    if let Ok(f) = format::read_cipher_bytes::<f32>(data, p) {
        for (n, w) in &f.tensors {
            let _ = CipherTensor::from_wire_tagged(w, &f.key, n);
        }
    }
}

/// Largest number of parameters a fuzzed model may ask for before it is built. `moreml-nn`
/// itself refuses weight tensors above `layers::MAX_PARAM_VALUES` (2^28) with an error; this
/// smaller bound only keeps the fuzzer's memory (`-rss_limit_mb`) small.
pub const MAX_FUZZ_PARAMS: u128 = 1 << 24;

/// Model files' architecture JSON, then building the model it describes.
pub fn model_config(data: &[u8]) {
    let Ok(cfg) = serde_json::from_slice::<moreml_nn::ModelConfig>(data) else { return };
    if std::env::var_os("MOREML_FUZZ_NO_GUARD").is_none() && config_numbers_too_large(data) {
        return;
    }
    if let Ok(m) = moreml_nn::Model::<PlainTensor<f64>>::new(cfg) {
        let _ = m.named_params().iter().map(|(_, t)| t.numel()).sum::<usize>();
    }
}

/// Whether a config JSON holds a number whose product with the others could ask for more
/// than [`MAX_FUZZ_PARAMS`] values (the guard described in the fuzzing report).
fn config_numbers_too_large(data: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return true };
    fn walk(v: &serde_json::Value, prod: &mut u128) {
        match v {
            serde_json::Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    *prod = prod.saturating_mul(u.max(1) as u128);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, prod)),
            serde_json::Value::Object(o) => {
                o.iter().filter(|(k, _)| k.as_str() != "seed").for_each(|(_, x)| walk(x, prod))
            }
            _ => {}
        }
    }
    let mut prod = 1u128;
    walk(&v, &mut prod);
    prod > MAX_FUZZ_PARAMS
}

/// Key files (JSON), without the permission check of `SecretKey::load`.
pub fn key_json(data: &[u8]) {
    if let Ok(k) = moreml_more::SecretKey::from_json_bytes(data, Path::new(NAME)) {
        let _ = k.tag();
    }
}
