//! Models: loading a directory, checking requests, running forward passes.
//!
//! This is the only module that names `moreml_nn` and the model-related `moreml_cipher` APIs
//! (loading, `Model::forward`, wire conversion), so an API change in those crates is a
//! change here only.
//!
//! # Concurrency
//! `Model::forward` takes `&mut self` (layers cache activations for backward). Each model
//! keeps a small pool of clones, one per compute worker ([`BatchConfig::workers`]): a worker
//! takes a clone, runs one (micro-)batch, and puts it back. A lock around a single model
//! would serialise all requests; cloning per request would copy the weights every time.

use crate::batcher::{BatchConfig, Batcher};
use crate::codec::{self, Peek};
use crate::error::{Result, ServeError};
use axum::body::Bytes;
use moreml_cipher::format::{self, CipherFile, Kind, PlainFile};
use moreml_cipher::{CipherTensor, Domain, Float, KeyTag, PlainTensor};
use moreml_nn::{persist, Model};
use serde::Serialize;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Accepted names of the input tensor of a request (MNIST files use `images`).
pub const INPUT_NAMES: [&str; 2] = ["images", "inputs"];
/// Name of the output tensor of a response.
pub const OUTPUT_NAME: &str = "predictions";

/// What `GET /v1/models` says about one model.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// URL name (the file stem).
    pub name: String,
    /// `"ciphertext"` or `"plaintext"`: what requests must hold.
    pub kind: &'static str,
    /// `"f32"` or `"f64"`.
    pub dtype: &'static str,
    /// Key the model's weights are under; requests must use the same key.
    pub key_id: Option<String>,
    /// Shape of one input record as the architecture sees it (e.g. `[1, 28, 28]`).
    pub record_shape: Vec<usize>,
    /// Values per input record: request tensors are `[n, input_len]` (+ `[2, 2]` if encrypted).
    pub input_len: usize,
    /// Values per output record.
    pub output_len: usize,
    /// The architecture (layers), as saved by `moreml train`.
    pub architecture: serde_json::Value,
}

/// A boxed, sendable future (object-safe async).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One served model, whatever its domain and scalar type.
pub trait Predictor: Send + Sync {
    /// Description for listings.
    fn info(&self) -> &ModelInfo;
    /// Answers one request body with a response body (a `predictions` tensor file).
    fn predict(self: Arc<Self>, body: Bytes) -> BoxFuture<Result<Vec<u8>>>;
}

/// Loads every model file (`*.safetensors` with an architecture header) in `dir`.
pub fn load_dir(dir: &Path, batching: BatchConfig, max_batch: usize) -> Result<Vec<Arc<dyn Predictor>>> {
    let err = |detail: String| ServeError::Models { path: dir.display().to_string(), detail };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| err(format!("cannot list it ({e})")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let info = format::read_info(&path).map_err(|e| err(e.to_string()))?;
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if !info.extra.contains_key(persist::MODEL_KEY) {
            tracing::info!(file = %path.display(), "skipping: not a model file");
            continue;
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            tracing::warn!(file = %path.display(), "skipping: name must be ASCII letters, digits, '.', '_' or '-'");
            continue;
        }
        let load = |e: moreml_nn::Error| err(format!("{}: {e}", path.display()));
        let p: Arc<dyn Predictor> = match (info.kind, info.dtype) {
            (Kind::Ciphertext, "f64") => {
                let (m, k) = persist::load_cipher::<f64>(&path).map_err(load)?;
                Served::start(name, m, Some(k), batching, max_batch)
            }
            (Kind::Ciphertext, _) => {
                let (m, k) = persist::load_cipher::<f32>(&path).map_err(load)?;
                Served::start(name, m, Some(k), batching, max_batch)
            }
            (Kind::Plaintext, "f64") => {
                Served::start(name, persist::load_plain::<f64>(&path).map_err(load)?, None, batching, max_batch)
            }
            (Kind::Plaintext, _) => {
                Served::start(name, persist::load_plain::<f32>(&path).map_err(load)?, None, batching, max_batch)
            }
        };
        tracing::info!(model = p.info().name, kind = p.info().kind, key_id = ?p.info().key_id, "loaded");
        out.push(p);
    }
    if out.is_empty() {
        return Err(err("holds no model file (*.safetensors written by `moreml train`)".into()));
    }
    Ok(out)
}

/// How a tensor type travels in request and response bodies.
trait Io: Domain {
    const KIND: Kind;
    fn decode(body: &[u8], key: Option<&KeyTag>, name: &str) -> Result<Self>;
    fn encode(&self, key: Option<&KeyTag>) -> Result<Vec<u8>>;
}

const BODY: &str = "request body";

impl<T: Float> Io for CipherTensor<T> {
    const KIND: Kind = Kind::Ciphertext;
    fn decode(body: &[u8], key: Option<&KeyTag>, name: &str) -> Result<Self> {
        let key = key.ok_or_else(|| ServeError::Internal("encrypted model without key".into()))?;
        let file = codec::decode_cipher::<T>(body).map_err(request_error)?;
        key.ensure_same(&file.key, BODY).map_err(request_error)?;
        let wire = file.get(name, Path::new(BODY)).map_err(request_error)?;
        CipherTensor::from_wire_tagged(wire, key, BODY).map_err(request_error)
    }
    fn encode(&self, key: Option<&KeyTag>) -> Result<Vec<u8>> {
        let key = key.ok_or_else(|| ServeError::Internal("encrypted model without key".into()))?;
        let file = CipherFile {
            key: key.clone(),
            tensors: vec![(OUTPUT_NAME.into(), self.to_wire(&key.basis))],
            extra: Default::default(),
        };
        codec::encode_cipher(&file).map_err(|e| ServeError::Internal(e.to_string()))
    }
}

impl<T: Float> Io for PlainTensor<T> {
    const KIND: Kind = Kind::Plaintext;
    fn decode(body: &[u8], _: Option<&KeyTag>, name: &str) -> Result<Self> {
        let file = codec::decode_plain::<T>(body).map_err(request_error)?;
        let x = file.get(name, Path::new(BODY)).map_err(request_error)?;
        x.check_finite(BODY).map_err(request_error)?;
        Ok(x.clone())
    }
    fn encode(&self, _: Option<&KeyTag>) -> Result<Vec<u8>> {
        let file = PlainFile { tensors: vec![(OUTPUT_NAME.into(), self.clone())], extra: Default::default() };
        codec::encode_plain(&file).map_err(|e| ServeError::Internal(e.to_string()))
    }
}

/// Sorts a tensor-layer error on user data into the request error kinds.
fn request_error(e: moreml_cipher::Error) -> ServeError {
    use moreml_cipher::Error as E;
    match e {
        E::NonFinite { .. } => ServeError::NonFinite(e.to_string()),
        E::KeyMismatch { .. } | E::OutOfAlgebra { .. } => ServeError::WrongKey(e.to_string()),
        E::Io { .. } => ServeError::Internal(e.to_string()),
        e => ServeError::BadBody(e.to_string()),
    }
}

/// A model of domain `D` with its key, limits and micro-batcher.
struct Served<D: Io> {
    info: ModelInfo,
    key: Option<KeyTag>,
    max_batch: usize,
    batcher: Batcher<D, Result<D>>,
}

impl<D: Io> Served<D> {
    fn start(name: String, model: Model<D>, key: Option<KeyTag>, cfg: BatchConfig, max_batch: usize) -> Arc<Self> {
        let info = ModelInfo {
            name,
            kind: if D::KIND == Kind::Ciphertext { "ciphertext" } else { "plaintext" },
            dtype: <D::Scalar as Float>::NAME,
            key_id: key.as_ref().map(|k| k.key_id.clone()),
            record_shape: model.config().input.clone(),
            input_len: model.input_len(),
            output_len: model.output_len(),
            architecture: serde_json::to_value(model.config()).unwrap_or_default(),
        };
        let pool = Arc::new(Mutex::new(vec![model.clone(); cfg.workers.max(1)]));
        let batcher = Batcher::spawn(cfg, move |xs| run_batch(&pool, &model, xs));
        Arc::new(Served { info, key, max_batch, batcher })
    }

    /// Checks a body's header against the model and the limits; returns the input tensor's
    /// name and record count. Nothing is decoded yet.
    fn check(&self, p: &Peek) -> Result<(&'static str, usize)> {
        let m = &self.info;
        let Some((name, shape)) = INPUT_NAMES.iter().find_map(|n| p.tensors.iter().find(|(t, _)| t == n)) else {
            let have: Vec<&str> = p.tensors.iter().map(|(n, _)| n.as_str()).collect();
            return Err(ServeError::BadBody(format!(
                "no tensor named 'images' or 'inputs' (the body has: {})",
                have.join(", ")
            )));
        };
        let name = INPUT_NAMES.into_iter().find(|n| n == name).unwrap_or(INPUT_NAMES[0]);
        match (D::KIND, p.kind, &self.key, &p.key_id) {
            (Kind::Ciphertext, Kind::Plaintext, Some(k), _) => {
                return Err(ServeError::WrongKey(format!(
                    "model '{}' takes ciphertexts under key {}, but the body is plaintext; encrypt it with that key",
                    m.name, k.key_id
                )))
            }
            (Kind::Plaintext, Kind::Ciphertext, ..) => {
                return Err(ServeError::WrongKey(format!(
                    "model '{}' is a plaintext model, but the body holds ciphertexts; send plaintext inputs",
                    m.name
                )))
            }
            (Kind::Ciphertext, _, Some(k), Some(found)) if *found != k.key_id => {
                return Err(ServeError::WrongKey(format!(
                    "the body's ciphertexts are under key {found}, but model '{}' only accepts key {}; encrypt with the model's key",
                    m.name, k.key_id
                )))
            }
            _ => {}
        }
        let record = if D::KIND == Kind::Ciphertext { &[m.input_len, 2, 2][..] } else { &[m.input_len][..] };
        let rows = match shape.split_first() {
            Some((&n, rest)) if rest == record => n,
            _ => {
                let want = if D::KIND == Kind::Ciphertext { "[n, features, 2, 2]" } else { "[n, features]" };
                return Err(ServeError::BadBody(format!(
                    "tensor '{name}' has shape {shape:?}; model '{}' needs {want} with features = {}",
                    m.name, m.input_len
                )));
            }
        };
        if rows == 0 {
            return Err(ServeError::BadBody(format!("tensor '{name}' holds no records")));
        }
        if rows > self.max_batch {
            return Err(ServeError::TooLarge(format!(
                "batch of {rows} records exceeds the limit of {} per request; split it",
                self.max_batch
            )));
        }
        Ok((name, rows))
    }
}

/// Runs one request off the async runtime threads.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ServeError::Internal(format!("worker failed: {e}")))?
}

impl<D: Io> Predictor for Served<D> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn predict(self: Arc<Self>, body: Bytes) -> BoxFuture<Result<Vec<u8>>> {
        Box::pin(async move {
            let peek = codec::peek(&body).map_err(ServeError::BadBody)?;
            let (name, rows) = self.check(&peek)?;
            metrics::histogram!(crate::metrics::REQUEST_ROWS).record(rows as f64);
            let key = self.key.clone();
            let x = blocking(move || D::decode(&body, key.as_ref(), name)).await?;
            let y = self
                .batcher
                .submit(x, rows)
                .await
                .ok_or_else(|| ServeError::Internal("compute worker stopped".into()))??;
            let key = self.key.clone();
            blocking(move || y.encode(key.as_ref())).await
        })
    }
}

/// One forward pass over the concatenated inputs of a micro-batch, split back per request.
fn run_batch<D: Io>(pool: &Mutex<Vec<Model<D>>>, template: &Model<D>, xs: Vec<D>) -> Vec<Result<D>> {
    let rows: Vec<usize> = xs.iter().map(|x| x.shape()[0]).collect();
    let x = if xs.len() == 1 {
        xs.into_iter().next().expect("one input")
    } else {
        D::concat_rows(&xs.iter().collect::<Vec<_>>())
    };
    let mut model = pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_else(|| template.clone());
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.forward(x, false)));
    let y = match out {
        Ok(y) => {
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(model);
            y.map_err(|e| ServeError::Internal(format!("forward pass failed: {e}")))
        }
        Err(_) => Err(ServeError::Internal("forward pass panicked".into())), // drop that clone
    };
    match y {
        Err(e) => vec![Err(e); rows.len()],
        Ok(y) if rows.len() == 1 => vec![Ok(y)],
        Ok(y) => {
            let mut start = 0;
            rows.iter()
                .map(|&n| {
                    let idx: Vec<usize> = (start..start + n).collect();
                    start += n;
                    Ok(y.gather_rows(&idx))
                })
                .collect()
        }
    }
}
