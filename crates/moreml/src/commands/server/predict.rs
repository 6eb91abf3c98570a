//! `moreml predict` (server): runs a trained model on a plaintext or encrypted input file.

use crate::commands::common::{data_names, ensure_output, with_file, Tensors};
use anyhow::{bail, Context, Result};
use clap::Args;
use moreml_cipher::format::{self, CipherFile, PlainFile};
use moreml_cipher::prelude::*;
use moreml_nn::persist;
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
    with_file!(&a.input, |file| predict_file(a, file))
}

fn predict_file<T: Float>(a: &PredictArgs, file: Tensors<T>) -> Result<()> {
    let (name, _) = data_names(&a.input, file.extra(), &file.names(), false)?;
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
    let n = match file {
        Tensors::Cipher(f) => {
            if model_info.kind != format::Kind::Ciphertext {
                bail!("{} is a plaintext model but {} holds ciphertexts", a.model.display(), a.input.display());
            }
            let (mut model, key) = persist::load_cipher::<T>(&a.model).with_context(what)?;
            key.ensure_same(&f.key, &format!("{} vs model {}", a.input.display(), a.model.display()))?;
            let x = CipherTensor::from_wire_tagged(f.get(&name, &a.input)?, &f.key, &name)?;
            let y = model.predict(&x, a.batch)?;
            let out = CipherFile {
                key: key.clone(),
                tensors: vec![(PREDICTIONS.into(), y.to_wire(&key.basis))],
                extra: BTreeMap::new(),
            };
            format::write_cipher(&a.output, &out)?;
            x.shape()[0]
        }
        Tensors::Plain(f) => {
            if model_info.kind != format::Kind::Plaintext {
                bail!(
                    "{} is an encrypted model but {} holds plaintext; encrypt it with the model's key first",
                    a.model.display(),
                    a.input.display()
                );
            }
            let mut model = persist::load_plain::<T>(&a.model).with_context(what)?;
            let x = f.get(&name, &a.input)?;
            let y = model.predict(x, a.batch)?;
            format::write_plain(
                &a.output,
                &PlainFile { tensors: vec![(PREDICTIONS.into(), y)], extra: BTreeMap::new() },
            )?;
            x.shape()[0]
        }
    };
    eprintln!("wrote {n} predictions to {}", a.output.display());
    Ok(())
}
