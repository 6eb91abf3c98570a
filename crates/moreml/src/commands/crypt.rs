//! Owner commands: keygen, encrypt, decrypt.

use super::with_dtype;
use crate::cli::{CryptArgs, KeygenArgs, RDist};
use anyhow::{bail, Context, Result};
use moreml_cipher::format::{self, Kind};
use moreml_cipher::Float;
use moreml_more::{KeyParams, RDistribution, SecretKey};
use std::path::Path;
use std::time::Instant;

pub fn keygen(a: &KeygenArgs) -> Result<()> {
    if a.out.exists() && !a.force {
        bail!(
            "{} already exists; refusing to overwrite a key (data encrypted under it would become unreadable); pass --force to replace it",
            a.out.display()
        );
    }
    let r = match a.r_dist {
        RDist::Empirical => RDistribution::Empirical { jitter: a.r_jitter },
        RDist::Uniform => RDistribution::Uniform { low: a.r_low, high: a.r_high },
    };
    let key = SecretKey::generate(KeyParams { max_condition: a.max_condition, r, ..KeyParams::default() })?;
    key.save(&a.out)?;
    eprintln!(
        "wrote key {} to {} (cond(S) = {:.2}, r: {:?}); keep this file private",
        key.key_id(),
        a.out.display(),
        key.condition(),
        key.params().r
    );
    Ok(())
}

/// Loads a key, naming the flag in the error.
pub fn load_key(path: &Path) -> Result<SecretKey> {
    SecretKey::load(path).with_context(|| format!("cannot load key --key {}", path.display()))
}

pub fn encrypt(a: &CryptArgs) -> Result<()> {
    let key = load_key(&a.key)?;
    let info = format::read_info(&a.input)?;
    if info.kind == Kind::Ciphertext {
        bail!(
            "{} is already a ciphertext file (key {})",
            a.input.display(),
            info.key.map(|k| k.key_id).unwrap_or_default()
        );
    }
    with_dtype!(info.dtype, encrypt_as(&key, a))
}

fn encrypt_as<T: Float>(key: &SecretKey, a: &CryptArgs) -> Result<()> {
    let t0 = Instant::now();
    let plain = format::read_plain::<T>(&a.input)?;
    let cipher = key.encrypt_file(&plain).with_context(|| format!("cannot encrypt {}", a.input.display()))?;
    format::write_cipher(&a.output, &cipher)?;
    let n: usize = cipher.tensors.iter().map(|(_, t)| t.numel()).sum();
    eprintln!(
        "encrypted {} tensor(s), {n} {} values under key {} -> {} ({:.2} s)",
        cipher.tensors.len(),
        T::NAME,
        key.key_id(),
        a.output.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn decrypt(a: &CryptArgs) -> Result<()> {
    let key = load_key(&a.key)?;
    let info = format::read_info(&a.input)?;
    match (&info.kind, &info.key) {
        (Kind::Ciphertext, Some(tag)) => {
            key.check_tag(tag).with_context(|| format!("cannot decrypt {}", a.input.display()))?
        }
        _ => bail!("{} is not a ciphertext file; nothing to decrypt", a.input.display()),
    }
    with_dtype!(info.dtype, decrypt_as(&key, a))
}

fn decrypt_as<T: Float>(key: &SecretKey, a: &CryptArgs) -> Result<()> {
    let cipher = format::read_cipher::<T>(&a.input)?;
    let (plain, residual) =
        key.decrypt_file(&cipher).with_context(|| format!("cannot decrypt {}", a.input.display()))?;
    format::write_plain(&a.output, &plain)?;
    eprintln!(
        "decrypted {} tensor(s) -> {} (largest integrity residual {residual:.2e}, accepted up to {:.1e})",
        plain.tensors.len(),
        a.output.display(),
        key.tolerance::<T>()
    );
    Ok(())
}
