//! Saving and loading models as safetensors (parameters) with the architecture in the header.
//!
//! A plaintext model is a plaintext tensor file; an encrypted model is a ciphertext file
//! (standard 2x2 form, key id in the header), so the owner can decrypt its weights with
//! `moreml decrypt` into an ordinary plaintext model.

use crate::config::{ModelConfig, TrainConfig};
use crate::model::Model;
use crate::{Error, Result};
use moreml_cipher::format::{self, CipherFile, PlainFile};
use moreml_cipher::{CipherTensor, Float, KeyTag, PlainTensor};
use std::collections::BTreeMap;
use std::path::Path;

/// Header entry holding the architecture (JSON).
pub const MODEL_KEY: &str = "moreml.model";
/// Header entry holding the training hyper-parameters (JSON), when known.
pub const TRAIN_KEY: &str = "moreml.train";

fn header(config: &ModelConfig, train: Option<&TrainConfig>) -> BTreeMap<String, String> {
    let mut extra = BTreeMap::new();
    extra.insert(MODEL_KEY.into(), serde_json::to_string(config).expect("config serialises"));
    if let Some(t) = train {
        extra.insert(TRAIN_KEY.into(), serde_json::to_string(t).expect("config serialises"));
    }
    extra
}

fn config_of(extra: &BTreeMap<String, String>, path: &Path) -> Result<ModelConfig> {
    let json = extra
        .get(MODEL_KEY)
        .ok_or_else(|| Error::Config(format!("{}: not a model file (no {MODEL_KEY} header entry)", path.display())))?;
    serde_json::from_str(json).map_err(|e| Error::Config(format!("{}: bad architecture: {e}", path.display())))
}

/// Writes `<path>` (parameters) and `<path>.json` (architecture, for people to read).
fn write_sidecar(path: &Path, config: &ModelConfig, train: Option<&TrainConfig>) -> Result<()> {
    let v = serde_json::json!({ "model": config, "train": train });
    let side = path.with_extension("json");
    format::write_atomic(&side, serde_json::to_string_pretty(&v).expect("json").as_bytes(), None)?;
    Ok(())
}

/// Saves a plaintext model.
pub fn save_plain<T: Float>(path: &Path, model: &Model<PlainTensor<T>>, train: Option<&TrainConfig>) -> Result<()> {
    let file = PlainFile {
        tensors: model.named_params().into_iter().map(|(n, t)| (n, t.clone())).collect(),
        extra: header(model.config(), train),
    };
    format::write_plain(path, &file)?;
    write_sidecar(path, model.config(), train)
}

/// Saves an encrypted model (weights as standard 2x2 ciphertexts under `tag`).
pub fn save_cipher<T: Float>(
    path: &Path,
    model: &Model<CipherTensor<T>>,
    tag: &KeyTag,
    train: Option<&TrainConfig>,
) -> Result<()> {
    let file = CipherFile {
        key: tag.clone(),
        tensors: model.named_params().into_iter().map(|(n, t)| (n, t.to_wire(&tag.basis))).collect(),
        extra: header(model.config(), train),
    };
    format::write_cipher(path, &file)?;
    write_sidecar(path, model.config(), train)
}

/// Loads a plaintext model (e.g. weights the owner decrypted).
pub fn load_plain<T: Float>(path: &Path) -> Result<Model<PlainTensor<T>>> {
    let file = format::read_plain::<T>(path)?;
    let config = config_of(&file.extra, path)?;
    Model::from_params(config, file.tensors)
}

/// Loads an encrypted model and the key it is under.
pub fn load_cipher<T: Float>(path: &Path) -> Result<(Model<CipherTensor<T>>, KeyTag)> {
    let file = format::read_cipher::<T>(path)?;
    let config = config_of(&file.extra, path)?;
    let params = file
        .tensors
        .iter()
        .map(|(n, w)| Ok((n.clone(), CipherTensor::from_wire_tagged(w, &file.key, n)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((Model::from_params(config, params)?, file.key))
}
