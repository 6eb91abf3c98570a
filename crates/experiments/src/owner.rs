//! The data owner's side of an experiment: encryption of records and decryption of outputs.

use crate::Result;
use moreml_cipher::{CipherTensor, Domain, Float, PlainTensor};
use moreml_more::SecretKey;
use moreml_nn::learner::progress;

/// What a tensor is to the network: it decides the hidden value `r` of its ciphertexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Network inputs: `r` from the same feature's empirical distribution.
    Input,
    /// Training targets: `r` from a whole other record (so shadow targets are valid targets).
    Target,
}

/// Encrypts `[n, k]` records chunk by chunk (bounded memory) into server coordinates.
pub fn encrypt_records<T: Float>(
    key: &SecretKey,
    x: &PlainTensor<T>,
    what: &str,
    role: Role,
    show_progress: bool,
) -> Result<CipherTensor<T>> {
    let n = x.shape()[0];
    let chunk = 4096;
    let bar = progress(n as u64, format!("encrypting {what}"));
    if !show_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut parts = Vec::new();
    for start in (0..n).step_by(chunk) {
        let idx: Vec<usize> = (start..(start + chunk).min(n)).collect();
        let rows = x.gather_rows(&idx);
        let wire = match role {
            Role::Input => key.encrypt(&rows)?,
            Role::Target => key.encrypt_targets(&rows)?,
        };
        parts.push(CipherTensor::from_wire_tagged(&wire, key.tag(), what)?);
        bar.inc(idx.len() as u64);
    }
    bar.finish_and_clear();
    Ok(CipherTensor::concat_rows(&parts.iter().collect::<Vec<_>>()))
}

/// Decrypted outputs as `f64`. A diverged run's non-finite outputs are decrypted without the
/// integrity check so the report can say what happened (the metrics turn them into `null`).
pub fn decrypt_outputs<T: Float>(key: &SecretKey, y: &CipherTensor<T>) -> Result<Vec<f64>> {
    let wire = y.to_wire(&key.tag().basis);
    let values = if wire.raw().iter().all(|v| v.is_finite()) {
        key.decrypt(&wire)?.values
    } else {
        key.decrypt_unchecked(&wire).values
    };
    Ok(values.values().iter().map(|v| v.f64()).collect())
}

/// Largest hidden value `|r|` over a model's weights: only the key holder can read it, and
/// the shadow network must stay bounded for encrypted training to stay finite.
pub fn hidden_weights_max_abs<T: Float>(key: &SecretKey, params: &[(String, &CipherTensor<T>)]) -> f64 {
    crate::metrics::max_abs(params.iter().flat_map(|(_, w)| {
        key.hidden_values(&w.to_wire(&key.tag().basis)).values().iter().map(|v| v.f64()).collect::<Vec<_>>()
    }))
}
