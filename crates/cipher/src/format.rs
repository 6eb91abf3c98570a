//! moreml tensor files: safetensors with a small JSON header, and atomic writes.
//!
//! Every file is a standard safetensors file. Its `__metadata__` holds:
//!
//! | key | value |
//! |---|---|
//! | `format` | `"moreml"` |
//! | `format_version` | `"1"` |
//! | `kind` | `"plaintext"` or `"ciphertext"` |
//! | `dtype` | `"f32"` or `"f64"` (all tensors of a file share it) |
//! | `scheme` | `"MORE-2x2-real"` (ciphertext files) |
//! | `key_id` | fingerprint of the key (ciphertext files) |
//! | `basis` | JSON array of the 4 entries of the public basis `R'` (ciphertext files) |
//!
//! plus free-form entries (e.g. `moreml.content`). Ciphertext tensors have shape
//! `[..., 2, 2]`: entry `[..., i, j]` is row `i`, column `j` of the ciphertext matrix.
//! Plaintext files written by other tools (no metadata) are accepted as plaintext.

use crate::{Error, Float, KeyTag, PlainTensor, PublicBasis, Result, WireCiphertext};
use safetensors::{tensor::TensorView, Dtype, SafeTensorError, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Value of the `format` header entry.
pub const FORMAT: &str = "moreml";
/// Value of the `format_version` header entry this build writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// Value of the `scheme` header entry of ciphertext files.
pub const SCHEME: &str = "MORE-2x2-real";

/// Whether a file holds plaintexts or ciphertexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Real values.
    Plaintext,
    /// Standard 2x2 MORE ciphertexts.
    Ciphertext,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Plaintext => "plaintext",
            Kind::Ciphertext => "ciphertext",
        }
    }
}

/// A named tensor entry of a file's table of contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Tensor name.
    pub name: String,
    /// Shape as stored (ciphertexts include the trailing `2, 2`).
    pub shape: Vec<usize>,
}

/// What a file declares about itself, read without touching tensor values.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// Plaintext or ciphertext.
    pub kind: Kind,
    /// `"f32"` or `"f64"`.
    pub dtype: &'static str,
    /// The key, for ciphertext files.
    pub key: Option<KeyTag>,
    /// Tensors in file order.
    pub entries: Vec<Entry>,
    /// Free-form header entries.
    pub extra: BTreeMap<String, String>,
    /// File size in bytes.
    pub bytes: u64,
}

/// A plaintext file's tensors, in name order.
#[derive(Clone, Debug, Default)]
pub struct PlainFile<T: Float> {
    /// Named tensors.
    pub tensors: Vec<(String, PlainTensor<T>)>,
    /// Free-form header entries.
    pub extra: BTreeMap<String, String>,
}

/// A ciphertext file's tensors (standard 2x2 form), in name order, and its key.
#[derive(Clone, Debug)]
pub struct CipherFile<T: Float> {
    /// The key all ciphertexts are under.
    pub key: KeyTag,
    /// Named tensors.
    pub tensors: Vec<(String, WireCiphertext<T>)>,
    /// Free-form header entries.
    pub extra: BTreeMap<String, String>,
}

impl<T: Float> PlainFile<T> {
    /// The tensor called `name`.
    pub fn get(&self, name: &str, path: &Path) -> Result<&PlainTensor<T>> {
        find(&self.tensors, name, path)
    }
}

impl<T: Float> CipherFile<T> {
    /// The tensor called `name`.
    pub fn get(&self, name: &str, path: &Path) -> Result<&WireCiphertext<T>> {
        find(&self.tensors, name, path)
    }
}

fn find<'a, V>(tensors: &'a [(String, V)], name: &str, path: &Path) -> Result<&'a V> {
    tensors.iter().find(|(n, _)| n == name).map(|(_, v)| v).ok_or_else(|| Error::MissingTensor {
        path: path.to_path_buf(),
        name: name.to_string(),
        available: tensors.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
    })
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn st_err(path: &Path, e: SafeTensorError) -> Error {
    let path = path.to_path_buf();
    match e {
        SafeTensorError::HeaderTooSmall
        | SafeTensorError::InvalidHeaderLength
        | SafeTensorError::MetadataIncompleteBuffer
        | SafeTensorError::InvalidOffset(_)
        | SafeTensorError::TensorInvalidInfo => Error::Truncated { path, detail: e.to_string() },
        e => Error::NotAMoremlFile { path, detail: e.to_string() },
    }
}

fn dtype_name(d: Dtype) -> Option<&'static str> {
    match d {
        Dtype::F32 => Some("f32"),
        Dtype::F64 => Some("f64"),
        _ => None,
    }
}

/// Parses the moreml header entries; `None` metadata means a foreign plaintext file.
fn parse_header(
    path: &Path,
    meta: Option<&HashMap<String, String>>,
) -> Result<(Kind, Option<KeyTag>, BTreeMap<String, String>)> {
    let Some(meta) = meta.filter(|m| m.contains_key("format")) else {
        let extra = meta.map(|m| m.clone().into_iter().collect()).unwrap_or_default();
        return Ok((Kind::Plaintext, None, extra));
    };
    let bad = |detail: String| Error::NotAMoremlFile { path: path.to_path_buf(), detail };
    if meta["format"] != FORMAT {
        return Err(bad(format!("header format is '{}', not '{FORMAT}'", meta["format"])));
    }
    let version = meta.get("format_version").map(String::as_str).unwrap_or("?");
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version.to_string(),
            supported: FORMAT_VERSION,
        });
    }
    let kind = match meta.get("kind").map(String::as_str) {
        Some("plaintext") => Kind::Plaintext,
        Some("ciphertext") => Kind::Ciphertext,
        other => return Err(bad(format!("unknown kind {other:?}"))),
    };
    let key = if kind == Kind::Ciphertext {
        if meta.get("scheme").map(String::as_str) != Some(SCHEME) {
            return Err(bad(format!("scheme {:?} is not {SCHEME}", meta.get("scheme"))));
        }
        let key_id = meta.get("key_id").cloned().ok_or_else(|| bad("ciphertext file without key_id".into()))?;
        let basis: [f64; 4] = meta
            .get("basis")
            .and_then(|b| serde_json::from_str(b).ok())
            .ok_or_else(|| bad("ciphertext file without a valid basis entry".into()))?;
        Some(KeyTag { key_id, basis: PublicBasis::new(basis).map_err(|e| bad(e.to_string()))? })
    } else {
        None
    };
    let reserved = ["format", "format_version", "kind", "dtype", "scheme", "key_id", "basis"];
    let extra =
        meta.iter().filter(|(k, _)| !reserved.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok((kind, key, extra))
}

/// Reads only the header and table of contents of a tensor file (cheap; no values).
pub fn read_info(path: &Path) -> Result<FileInfo> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let bytes = f.metadata().map_err(io_err(path))?.len();
    let mut len = [0u8; 8];
    std::io::Read::read_exact(&mut f, &mut len).map_err(|_| Error::Truncated {
        path: path.to_path_buf(),
        detail: format!("{bytes} bytes is shorter than a safetensors header"),
    })?;
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 || 8 + n > bytes {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            detail: format!("header declares {n} bytes but the file has {bytes}"),
        });
    }
    let mut buf = vec![0u8; 8 + n as usize];
    buf[..8].copy_from_slice(&len);
    std::io::Read::read_exact(&mut f, &mut buf[8..]).map_err(io_err(path))?;
    // Parse the header alone: read_metadata validates offsets against the buffer, so feed it
    // the declared data length through a header-only check.
    let header: serde_json::Value = serde_json::from_slice(&buf[8..])
        .map_err(|e| Error::NotAMoremlFile { path: path.to_path_buf(), detail: format!("header is not JSON: {e}") })?;
    let obj = header.as_object().ok_or_else(|| Error::NotAMoremlFile {
        path: path.to_path_buf(),
        detail: "header is not a JSON object".into(),
    })?;
    let meta: Option<HashMap<String, String>> =
        obj.get("__metadata__").and_then(|m| serde_json::from_value(m.clone()).ok());
    let (kind, key, extra) = parse_header(path, meta.as_ref())?;
    let mut entries = Vec::new();
    let mut dtype = None;
    for (name, info) in obj.iter().filter(|(k, _)| *k != "__metadata__") {
        let d: Dtype = serde_json::from_value(info["dtype"].clone())
            .map_err(|e| Error::NotAMoremlFile { path: path.to_path_buf(), detail: format!("tensor '{name}': {e}") })?;
        let shape: Vec<usize> = serde_json::from_value(info["shape"].clone()).unwrap_or_default();
        let dn = check_dtype(path, name, d, dtype)?;
        dtype = Some(dn);
        entries.push(Entry { name: name.clone(), shape });
    }
    Ok(FileInfo { kind, dtype: dtype.unwrap_or("f32"), key, entries, extra, bytes })
}

fn check_dtype(path: &Path, name: &str, d: Dtype, common: Option<&'static str>) -> Result<&'static str> {
    let found = dtype_name(d).ok_or_else(|| Error::WrongDtype {
        path: path.to_path_buf(),
        name: name.to_string(),
        found: format!("{d:?}"),
        expected: "f32 or f64",
    })?;
    match common {
        Some(c) if c != found => Err(Error::WrongDtype {
            path: path.to_path_buf(),
            name: name.to_string(),
            found: found.to_string(),
            expected: c,
        }),
        _ => Ok(found),
    }
}

/// Parses a whole file; returns its kind, key and tensors as (name, shape, values).
#[allow(clippy::type_complexity)]
fn read_all<T: Float>(
    path: &Path,
) -> Result<(Kind, Option<KeyTag>, BTreeMap<String, String>, Vec<(String, Vec<usize>, Vec<T>)>)> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| st_err(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| st_err(path, e))?;
    let (kind, key, extra) = parse_header(path, meta.metadata().as_ref())?;
    let mut out = Vec::new();
    let mut names: Vec<_> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let view = st.tensor(&name).map_err(|e| st_err(path, e))?;
        let found = check_dtype(path, &name, view.dtype(), None)?;
        if found != T::NAME {
            return Err(Error::WrongDtype {
                path: path.to_path_buf(),
                name,
                found: found.to_string(),
                expected: T::NAME,
            });
        }
        let values: Vec<T> = bytemuck::pod_collect_to_vec(view.data());
        out.push((name, view.shape().to_vec(), values));
    }
    Ok((kind, key, extra, out))
}

fn wrong_kind(path: &Path, expected: Kind, found: Kind) -> Error {
    Error::WrongKind {
        path: path.to_path_buf(),
        expected: expected.as_str(),
        found: found.as_str().to_string(),
        hint: match expected {
            Kind::Plaintext => "decrypt it first (moreml decrypt) or pass a plaintext file",
            Kind::Ciphertext => "encrypt it first (moreml encrypt) or pass a ciphertext file",
        },
    }
}

/// Reads a plaintext tensor file of scalar `T`.
pub fn read_plain<T: Float>(path: &Path) -> Result<PlainFile<T>> {
    let (kind, _, extra, raw) = read_all::<T>(path)?;
    if kind != Kind::Plaintext {
        return Err(wrong_kind(path, Kind::Plaintext, kind));
    }
    let tensors = raw.into_iter().map(|(n, s, v)| Ok((n, PlainTensor::from_vec(&s, v)?))).collect::<Result<_>>()?;
    Ok(PlainFile { tensors, extra })
}

/// Reads a ciphertext tensor file of scalar `T` (shapes must end in `2, 2`).
pub fn read_cipher<T: Float>(path: &Path) -> Result<CipherFile<T>> {
    let (kind, key, extra, raw) = read_all::<T>(path)?;
    if kind != Kind::Ciphertext {
        return Err(wrong_kind(path, Kind::Ciphertext, kind));
    }
    let key = key.expect("ciphertext header has a key");
    let mut tensors = Vec::with_capacity(raw.len());
    for (name, shape, values) in raw {
        if shape.len() < 2 || shape[shape.len() - 2..] != [2, 2] {
            return Err(Error::NotAMoremlFile {
                path: path.to_path_buf(),
                detail: format!("ciphertext tensor '{name}' has shape {shape:?}, expected [..., 2, 2]"),
            });
        }
        let logical = &shape[..shape.len() - 2];
        tensors.push((name, WireCiphertext::from_vec(logical, values)?));
    }
    Ok(CipherFile { key, tensors, extra })
}

fn header(kind: Kind, dtype: &str, key: Option<&KeyTag>, extra: &BTreeMap<String, String>) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = extra.clone().into_iter().collect();
    m.insert("format".into(), FORMAT.into());
    m.insert("format_version".into(), FORMAT_VERSION.into());
    m.insert("kind".into(), kind.as_str().into());
    m.insert("dtype".into(), dtype.into());
    if let Some(k) = key {
        m.insert("scheme".into(), SCHEME.into());
        m.insert("key_id".into(), k.key_id.clone());
        m.insert("basis".into(), serde_json::to_string(&k.basis.matrix()).expect("floats serialise"));
    }
    m
}

fn write_tensors<T: Float>(
    path: &Path,
    meta: HashMap<String, String>,
    tensors: Vec<(&str, Vec<usize>, &[T])>,
) -> Result<()> {
    let views = tensors
        .into_iter()
        .map(|(n, shape, v)| {
            let view = TensorView::new(T::DTYPE, shape, bytemuck::cast_slice(v)).map_err(|e| st_err(path, e))?;
            Ok((n.to_string(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    write_atomic_with(path, None, |tmp| {
        safetensors::serialize_to_file(views, Some(meta), tmp).map_err(|e| match e {
            SafeTensorError::IoError(source) => Error::Io { path: path.to_path_buf(), source },
            e => st_err(path, e),
        })
    })
}

/// Writes a plaintext tensor file atomically.
pub fn write_plain<T: Float>(path: &Path, file: &PlainFile<T>) -> Result<()> {
    let meta = header(Kind::Plaintext, T::NAME, None, &file.extra);
    let tensors =
        file.tensors.iter().map(|(n, t)| (n.as_str(), crate::Domain::shape(t).to_vec(), t.values())).collect();
    write_tensors(path, meta, tensors)
}

/// Writes a ciphertext tensor file atomically (tensors stored as `[..., 2, 2]`).
pub fn write_cipher<T: Float>(path: &Path, file: &CipherFile<T>) -> Result<()> {
    let meta = header(Kind::Ciphertext, T::NAME, Some(&file.key), &file.extra);
    let tensors = file.tensors.iter().map(|(n, t)| (n.as_str(), t.file_shape(), t.raw())).collect();
    write_tensors(path, meta, tensors)
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename),
/// optionally with Unix permission bits `mode` (e.g. `0o600` for keys) set before the rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    write_atomic_with(path, mode, |tmp| {
        let mut f = std::fs::File::create(tmp).map_err(io_err(path))?;
        f.write_all(bytes).map_err(io_err(path))?;
        f.sync_all().map_err(io_err(path))
    })
}

fn write_atomic_with(path: &Path, mode: Option<u32>, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new().prefix(".moreml-").suffix(".tmp").tempfile_in(&dir).map_err(io_err(path))?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode)).map_err(io_err(path))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    write(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}
