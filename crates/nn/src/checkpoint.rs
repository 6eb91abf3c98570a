//! Checkpoints: the whole state of a [`crate::Learner`] between two epochs, so that a run
//! stopped after epoch k and resumed trains bit for bit like a run that never stopped.
//!
//! A checkpoint holds the weights, the SGD momentum velocity, the epochs done (with their
//! statistics), and the identity of the run: architecture, hyper-parameters and the data set
//! (domain, scalar type, record count, shapes, key id). Nothing else is needed: the batch
//! order of epoch `e` is drawn from `(seed, e)` alone ([`crate::learner::batch_order`]).
//! [`crate::Learner::resume`] refuses a checkpoint of another run and names every difference.
//!
//! # File format
//! A safetensors file (written atomically: temporary file, then rename) whose `__metadata__`
//! holds `format = "moreml-checkpoint"`, `format_version`, `domain` (`plain`/`cipher`),
//! `dtype` and `moreml.checkpoint` (JSON: the run identity and the epoch history). Tensors are
//! `param/<name>` and `velocity/<name>` of shape `[planes, ...shape]`: the algebra coordinates
//! ([`moreml_cipher::Domain::coords`]; one plane for plaintext, two for ciphertexts).
//!
//! Ciphertexts are stored as these coordinates, not in the standard 2x2 form of model files:
//! the conversion 2x2 -> coordinates rounds (`to_coords(from_coords(a, b))` is not `(a, b)`
//! in floating point), which would make a resumed run drift from the uninterrupted one. The
//! coordinates are what the server already holds, in the key's public basis: a checkpoint
//! reveals nothing a model file does not. Its own `format` name makes every other moreml
//! command refuse it as a data or model file.
//!
//! ```
//! use moreml_cipher::prelude::*;
//! use moreml_nn::checkpoint::{DataIdentity, RunIdentity};
//! use moreml_nn::{Learner, Model, ModelConfig, Pair, TrainConfig};
//! let x = PlainTensor::<f64>::from_vec(&[4, 2], vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
//! let t = PlainTensor::<f64>::from_vec(&[4, 2], vec![1., 0., 0., 1., 0., 1., 1., 0.]).unwrap();
//! let data = Pair::new(&x, &t).unwrap();
//! let run = RunIdentity {
//!     model: ModelConfig::mlp(2, 4, 2),
//!     train: TrainConfig { epochs: 3, batch_size: 2, lr: 0.1, momentum: 0.9, seed: 1 },
//!     data: DataIdentity::of::<PlainTensor<f64>>(&[&[4, 2], &[4, 2]], None),
//! };
//! let new = || Learner::new(Model::new(run.model.clone()).unwrap(), run.train.clone()).unwrap();
//! let mut straight = new();
//! straight.fit(&data, |_, _| Ok(())).unwrap();
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("run.ckpt");
//! let mut first = new();
//! first.train_epoch(&data).unwrap();
//! first.save_checkpoint(&path, &run.data).unwrap();
//! let mut resumed = Learner::<PlainTensor<f64>>::resume(&path, &run).unwrap();
//! assert_eq!(resumed.history().len(), 1);
//! resumed.fit(&data, |_, _| Ok(())).unwrap();
//! for ((_, a), (_, b)) in straight.model().named_params().iter().zip(resumed.model().named_params()) {
//!     assert_eq!(a.values(), b.values()); // bit for bit
//! }
//! ```

use crate::config::{ModelConfig, TrainConfig};
use crate::learner::EpochStats;
use crate::{Error, Result};
use moreml_cipher::{format, Domain, Float};
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Value of the `format` header entry of checkpoints.
pub const FORMAT: &str = "moreml-checkpoint";
/// Value of the `format_version` header entry this build writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// Header entry holding the run identity and the epoch history (JSON).
pub const STATE_KEY: &str = "moreml.checkpoint";

/// The data set a run trains on, as far as resuming must match it. The values themselves are
/// not hashed (a mapped data set may be larger than memory); the key id tells two encryptions
/// of the same data apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataIdentity {
    /// `plain` or `cipher` ([`Domain::NAME`]).
    pub domain: String,
    /// `f32` or `f64`.
    pub dtype: String,
    /// Number of training records.
    pub records: usize,
    /// Shapes of the input and target tensors.
    pub shapes: Vec<Vec<usize>>,
    /// The key the ciphertexts are under (none for plaintext).
    pub key_id: Option<String>,
}

impl DataIdentity {
    /// The identity of a data set of domain `D` with tensors of `shapes` (records along the
    /// first axis), under the key `key_id` for ciphertexts.
    pub fn of<D: Domain>(shapes: &[&[usize]], key_id: Option<&str>) -> Self {
        Self {
            domain: D::NAME.into(),
            dtype: D::Scalar::NAME.into(),
            records: shapes.first().and_then(|s| s.first()).copied().unwrap_or(0),
            shapes: shapes.iter().map(|s| s.to_vec()).collect(),
            key_id: key_id.map(str::to_string),
        }
    }
}

/// Everything that fixes a run's result: architecture (with the seed of the initial weights),
/// hyper-parameters (with the seed of the batch order) and data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunIdentity {
    /// The architecture.
    pub model: ModelConfig,
    /// The hyper-parameters.
    pub train: TrainConfig,
    /// The training data.
    pub data: DataIdentity,
}

impl RunIdentity {
    /// What differs between the run of a checkpoint (`self`) and the run that would resume it,
    /// one line per difference (`what: checkpoint X, this run Y`); empty when it may resume.
    ///
    /// The number of epochs may differ: the batch order of an epoch does not depend on it, so
    /// a finished run can be continued for more epochs.
    pub fn differences(&self, this: &RunIdentity) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |what: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{what}: checkpoint {a}, this run {b}"));
            }
        };
        let (d, e) = (&self.data, &this.data);
        check("data", format!("{} {}", d.domain, d.dtype), format!("{} {}", e.domain, e.dtype));
        check("records", d.records.to_string(), e.records.to_string());
        check("data shapes", format!("{:?}", d.shapes), format!("{:?}", e.shapes));
        let key = |k: &Option<String>| k.clone().unwrap_or_else(|| "none".into());
        check("key id", key(&d.key_id), key(&e.key_id));
        let arch = |m: &ModelConfig| serde_json::to_string(&ModelConfig { seed: 0, ..m.clone() }).expect("json");
        check("architecture", arch(&self.model), arch(&this.model));
        check("model seed", self.model.seed.to_string(), this.model.seed.to_string());
        let (s, t) = (&self.train, &this.train);
        check("batch", s.batch_size.to_string(), t.batch_size.to_string());
        check("lr", s.lr.to_string(), t.lr.to_string());
        check("momentum", s.momentum.to_string(), t.momentum.to_string());
        check("seed", s.seed.to_string(), t.seed.to_string());
        out
    }
}

/// A checkpoint read back: the run it belongs to and the learner state at the end of an epoch.
#[derive(Clone, Debug)]
pub struct Checkpoint<D: Domain> {
    /// The run that wrote it.
    pub run: RunIdentity,
    /// The epochs done.
    pub history: Vec<EpochStats>,
    /// The weights by name.
    pub params: Vec<(String, D)>,
    /// The SGD velocity by parameter name (parameters that had no gradient yet have none).
    pub velocity: Vec<(String, D)>,
}

/// The JSON of the [`STATE_KEY`] header entry.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    run: RunIdentity,
    history: Vec<EpochStats>,
}

const PARAM: &str = "param/";
const VELOCITY: &str = "velocity/";

/// Writes a checkpoint atomically (see the module docs for the layout).
pub(crate) fn save<D: Domain>(
    path: &Path,
    run: &RunIdentity,
    history: &[EpochStats],
    params: &[(String, &D)],
    velocity: &[(String, &D)],
) -> Result<()> {
    let state = State { run: run.clone(), history: history.to_vec() };
    let meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("domain".to_string(), D::NAME.to_string()),
        ("dtype".to_string(), D::Scalar::NAME.to_string()),
        (STATE_KEY.to_string(), serde_json::to_string(&state).expect("the state serialises")),
    ]);
    let named = params.iter().map(|(n, t)| (format!("{PARAM}{n}"), *t));
    let named = named.chain(velocity.iter().map(|(n, t)| (format!("{VELOCITY}{n}"), *t)));
    let bad = |e: safetensors::SafeTensorError| Error::Checkpoint { path: path.to_path_buf(), detail: e.to_string() };
    let views = named
        .map(|(name, t)| {
            let shape = std::iter::once(D::PLANES).chain(t.shape().iter().copied()).collect();
            Ok((name, TensorView::new(D::Scalar::DTYPE, shape, bytemuck::cast_slice(t.coords())).map_err(bad)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(meta)).map_err(bad)?;
    format::write_atomic(path, &bytes, None)?;
    Ok(())
}

impl<D: Domain> Checkpoint<D> {
    /// Reads a checkpoint of domain `D` and checks it: safetensors structure (a truncated file
    /// is refused before any value is used), format and version, domain and scalar type, tensor
    /// shapes, and that every value is finite.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |detail: String| Error::Checkpoint { path: path.to_path_buf(), detail };
        let bytes = format::read_file(path)?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("truncated or damaged: not a complete safetensors file ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let entry = |k: &str| meta.get(k).map(String::as_str).unwrap_or("none");
        if entry("format") != FORMAT {
            return Err(bad(format!(
                "not a moreml checkpoint (header format is '{}', not '{FORMAT}')",
                entry("format")
            )));
        }
        if entry("format_version") != FORMAT_VERSION {
            return Err(bad(format!(
                "checkpoint format version {} is not the version {FORMAT_VERSION} this build reads",
                entry("format_version")
            )));
        }
        let (domain, dtype) = (entry("domain"), entry("dtype"));
        if (domain, dtype) != (D::NAME, D::Scalar::NAME) {
            return Err(Error::ResumeMismatch {
                path: path.to_path_buf(),
                differences: vec![format!(
                    "data: checkpoint {domain} {dtype}, this run {} {}",
                    D::NAME,
                    D::Scalar::NAME
                )],
            });
        }
        let state: State = serde_json::from_str(entry(STATE_KEY))
            .map_err(|e| bad(format!("the {STATE_KEY} header entry is not a valid run description ({e})")))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("truncated or damaged ({e})")))?;
        let (mut params, mut velocity) = (Vec::new(), Vec::new());
        for (name, view) in st.tensors() {
            let (list, short) = if let Some(n) = name.strip_prefix(PARAM) {
                (&mut params, n)
            } else if let Some(n) = name.strip_prefix(VELOCITY) {
                (&mut velocity, n)
            } else {
                return Err(bad(format!("unexpected tensor '{name}'")));
            };
            if view.dtype() != D::Scalar::DTYPE {
                return Err(bad(format!("tensor '{name}' is {:?}, the header says {dtype}", view.dtype())));
            }
            let Some((&planes, shape)) = view.shape().split_first().filter(|(&p, _)| p == D::PLANES) else {
                return Err(bad(format!(
                    "tensor '{name}' has shape {:?}, expected [{}, ...]",
                    view.shape(),
                    D::PLANES
                )));
            };
            let values: Vec<D::Scalar> = bytemuck::pod_collect_to_vec(view.data());
            let mut t = D::zeros(shape);
            if values.len() != planes * t.numel() {
                return Err(bad(format!("tensor '{name}' holds {} values for shape {:?}", values.len(), view.shape())));
            }
            t.coords_mut().copy_from_slice(&values);
            if !t.all_finite() {
                return Err(bad(format!("tensor '{name}' holds non-finite values")));
            }
            list.push((short.to_string(), t));
        }
        Ok(Self { run: state.run, history: state.history, params, velocity })
    }
}
