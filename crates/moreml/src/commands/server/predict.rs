//! `moreml predict` (server): runs a trained model on a plaintext or encrypted input file.

use crate::commands::common::{data_names, ensure_output, with_dtype, Dtype};
use crate::commands::server::train::verify;
use anyhow::{bail, Context, Result};
use clap::Args;
use moreml_cipher::format::{self, CipherFile, PlainFile};
use moreml_cipher::mapped::MappedFile;
use moreml_cipher::prelude::*;
use moreml_nn::{persist, records};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Tensor name of model outputs.
pub const PREDICTIONS: &str = "predictions";

/// `moreml predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model written by `moreml train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs: the input tensor [n, features] (ciphertexts under the model's key, or plaintext
    /// for a plaintext model).
    #[arg(long)]
    pub input: PathBuf,
    /// Output file with tensor `predictions` [n, outputs] (same kind as the model).
    #[arg(long)]
    pub output: PathBuf,
    /// Records per forward pass.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

pub fn predict(a: &PredictArgs) -> Result<()> {
    ensure_output(&a.output, &[&a.model, &a.input])?;
    // Mapped, not read: one batch of inputs is in memory at a time.
    let map = MappedFile::open(&a.input)?;
    with_dtype!(Dtype::of_name(map.dtype())?, predict_file(a, &map))
}

fn predict_file<T: Float>(a: &PredictArgs, map: &MappedFile) -> Result<()> {
    let (name, _) = data_names(&a.input, map.extra(), &map.names(), false)?;
    let what = || format!("cannot load model {}", a.model.display());
    let model_info = format::read_info(&a.model).with_context(what)?;
    if model_info.dtype != T::NAME {
        bail!(
            "the model is {} but {} holds {} values; use inputs of the model's dtype",
            model_info.dtype,
            a.input.display(),
            T::NAME
        );
    }
    let n = match map.kind() {
        format::Kind::Ciphertext => {
            if model_info.kind != format::Kind::Ciphertext {
                bail!("{} is a plaintext model but {} holds ciphertexts", a.model.display(), a.input.display());
            }
            let (mut model, key) = persist::load_cipher::<T>(&a.model).with_context(what)?;
            let x = map.cipher::<T>(&name)?;
            key.ensure_same(x.key(), &format!("{} vs model {}", a.input.display(), a.model.display()))?;
            verify(&x)?;
            let y = records::predict(&mut model, &x, a.batch)?;
            let out = CipherFile {
                key: key.clone(),
                tensors: vec![(PREDICTIONS.into(), y.to_wire(&key.basis))],
                extra: BTreeMap::new(),
            };
            format::write_cipher(&a.output, &out)?;
            x.len()
        }
        format::Kind::Plaintext => {
            if model_info.kind != format::Kind::Plaintext {
                bail!(
                    "{} is an encrypted model but {} holds plaintext; encrypt it with the model's key first",
                    a.model.display(),
                    a.input.display()
                );
            }
            let mut model = persist::load_plain::<T>(&a.model).with_context(what)?;
            let x = map.plain::<T>(&name)?;
            let y = records::predict(&mut model, &x, a.batch)?;
            format::write_plain(
                &a.output,
                &PlainFile { tensors: vec![(PREDICTIONS.into(), y)], extra: BTreeMap::new() },
            )?;
            x.len()
        }
    };
    eprintln!("wrote {n} predictions to {}", a.output.display());
    Ok(())
}
