//! Owner commands: keygen, encrypt, decrypt.

use crate::cli::{CryptArgs, KeygenArgs, RDist};
use crate::commands::common::{progress, with_dtype};
use anyhow::{bail, Context, Result};
use clap::Args;
use moreml_cipher::format::{self, Kind, Role, Roles};
use moreml_cipher::mapped::MappedFile;
use moreml_cipher::Float;
use moreml_more::{KeyParams, RDistribution, SecretKey, PRECISION_THRESHOLD};
use std::path::Path;
use std::time::Instant;

/// Tensor names treated as training targets when a file declares no roles.
const TARGET_NAMES: [&str; 2] = ["labels", "targets"];

/// `moreml encrypt`.
#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// Key, input and output (the output is never the input or a key file).
    #[command(flatten)]
    pub io: crate::cli::CryptArgs,
    /// Tensors that are training targets (labels, regression values), comma-separated: they
    /// get record-level r. Added to the file's `moreml.roles` entry (overriding it for these
    /// names). Without roles, tensors named `labels` or `targets` are targets.
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<String>,
}

pub fn keygen(a: &KeygenArgs) -> Result<()> {
    let r = match a.r_dist {
        RDist::Empirical => RDistribution::Empirical { jitter: a.r_jitter },
        RDist::Uniform => RDistribution::Uniform { low: a.r_low, high: a.r_high },
    };
    let params = KeyParams { max_condition: a.max_condition, r, ..KeyParams::default() };
    params.validate().map_err(moreml_more::Error::BadParams)?;
    if a.out.is_dir() {
        return Err(moreml_cipher::Error::IsDirectory { path: a.out.clone() }.into());
    }
    if a.out.exists() && !a.force {
        bail!(
            "{} already exists; refusing to overwrite it (data encrypted under a key there would become unreadable); pass --force to replace it",
            a.out.display()
        );
    }
    let key = SecretKey::generate(params)?;
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
    SecretKey::load(path).context("cannot load the --key file")
}

pub fn encrypt(a: &EncryptArgs) -> Result<()> {
    let key = load_key(&a.io.key)?;
    format::ensure_distinct_output(&a.io.output, &[&a.io.input, &a.io.key])?;
    let info = format::read_info(&a.io.input)?;
    if info.kind == Kind::Ciphertext {
        bail!(
            "{} is already a ciphertext file (key {}); pass a plaintext file",
            a.io.input.display(),
            info.key.map(|k| k.key_id).unwrap_or_default()
        );
    }
    with_dtype!(crate::commands::common::Dtype::of_name(info.dtype)?, encrypt_as(&key, a))
}

/// The roles of `names`: the file's entry, then `--targets`, then the `labels`/`targets`
/// convention for files that declare nothing (then the flag is true: the caller says so).
fn roles_for(
    a: &EncryptArgs,
    extra: &std::collections::BTreeMap<String, String>,
    names: &[&str],
) -> Result<(Roles, bool)> {
    let declared =
        Roles::from_extra(extra).with_context(|| format!("cannot read the roles of {}", a.io.input.display()))?;
    for t in &a.targets {
        if !names.contains(&t.as_str()) {
            bail!(
                "--targets names '{t}' but {} has no such tensor (it has: {})",
                a.io.input.display(),
                names.join(", ")
            );
        }
    }
    let guess = declared.is_none() && a.targets.is_empty();
    let mut roles = declared.unwrap_or_default();
    for name in names {
        let role = if a.targets.iter().any(|t| t == name) || (guess && TARGET_NAMES.contains(name)) {
            Role::Target
        } else {
            roles.role(name).unwrap_or(Role::Input)
        };
        roles.set(name, role);
    }
    Ok((roles, guess))
}

/// Records per encrypted chunk: bounds memory (a few MB per chunk for MNIST-sized records)
/// whatever the file size, while keeping chunks large enough for both cores.
const CHUNK_RECORDS: usize = 4096;

fn encrypt_as<T: Float>(key: &SecretKey, a: &EncryptArgs) -> Result<()> {
    let t0 = Instant::now();
    // Mapped and streamed: a data set larger than memory encrypts in bounded memory.
    let input = MappedFile::open(&a.io.input)?;
    let mut extra = input.extra().clone();
    let info = input.info();
    let names: Vec<&str> = info.entries.iter().map(|e| e.name.as_str()).collect();
    let (roles, guessed) = roles_for(a, &extra, &names)?;
    roles.insert_into(&mut extra);
    let n: usize = info.entries.iter().map(|e| e.shape.iter().product::<usize>()).sum();
    let bar = progress(n as u64, "encrypting values");
    key.encrypt_mapped::<T>(&input, &extra, &a.io.output, CHUNK_RECORDS, |done| bar.set_position(done as u64))
        .with_context(|| format!("cannot encrypt {}", a.io.input.display()))?;
    bar.finish_and_clear();
    let targets: Vec<&str> = roles.targets().collect();
    if guessed {
        for t in &targets {
            eprintln!(
                "note: {} declares no roles; treated tensor '{t}' as a training target (pass --targets to choose)",
                a.io.input.display()
            );
        }
    }
    eprintln!(
        "encrypted {} tensor(s), {n} {} values under key {} -> {} ({:.2} s; targets: {})",
        info.entries.len(),
        T::NAME,
        key.key_id(),
        a.io.output.display(),
        t0.elapsed().as_secs_f64(),
        if targets.is_empty() { "none".to_string() } else { targets.join(", ") }
    );
    Ok(())
}

pub fn decrypt(a: &CryptArgs) -> Result<()> {
    let key = load_key(&a.key)?;
    format::ensure_distinct_output(&a.output, &[&a.input, &a.key])?;
    let info = format::read_info(&a.input)?;
    match (&info.kind, &info.key) {
        (Kind::Ciphertext, Some(tag)) => {
            key.check_tag(tag).with_context(|| format!("cannot decrypt {}", a.input.display()))?
        }
        _ => bail!("{} is a plaintext file; nothing to decrypt", a.input.display()),
    }
    with_dtype!(crate::commands::common::Dtype::of_name(info.dtype)?, decrypt_as(&key, a))
}

fn decrypt_as<T: Float>(key: &SecretKey, a: &CryptArgs) -> Result<()> {
    let cipher = format::read_cipher::<T>(&a.input)?;
    let d = key.decrypt_file_report(&cipher).with_context(|| format!("cannot decrypt {}", a.input.display()))?;
    format::write_plain(&a.output, &d.plain)?;
    eprintln!(
        "decrypted {} tensor(s) -> {} (largest integrity residual {:.2e}, accepted up to {:.1e})",
        d.plain.tensors.len(),
        a.output.display(),
        d.max_residual,
        key.tolerance::<T>()
    );
    let p = d.precision;
    if p.imprecise == 0 {
        eprintln!("precision: all {} values within a relative error bound of {PRECISION_THRESHOLD:.0e}", p.values);
    } else {
        let worst: Vec<String> = d
            .per_tensor
            .iter()
            .filter(|(_, t)| t.imprecise > 0)
            .map(|(n, t)| format!("{n}: {}", t.imprecise))
            .collect();
        let advice = if T::NAME == "f32" {
            "their hidden r is much larger than the value; encrypt the data as f64 for exact results"
        } else {
            "their hidden r is much larger than the value; rescale the data or use a key with smaller r"
        };
        eprintln!(
            "precision: {} of {} values ({}) have a relative error bound above {PRECISION_THRESHOLD:.0e} (worst {:.1e}); {advice}",
            p.imprecise,
            p.values,
            worst.join(", "),
            p.worst_bound
        );
    }
    Ok(())
}
