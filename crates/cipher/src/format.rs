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
use safetensors::{tensor::TensorView, SafeTensorError};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Value of the `format` header entry.
pub const FORMAT: &str = "moreml";
/// Value of the `format_version` header entry this build writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// Value of the `scheme` header entry of ciphertext files.
pub const SCHEME: &str = "MORE-2x2-real";

/// `format` entry of secret key files (JSON). Defined here so that any writer can refuse to
/// overwrite a key ([`ensure_distinct_output`]); the key itself lives in `moreml-more`.
pub const SECRET_KEY_FORMAT: &str = "moreml-secret-key";
/// Header entry naming the role of each tensor (see [`Roles`]).
pub const ROLES_KEY: &str = "moreml.roles";

/// Whether a file holds plaintexts or ciphertexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Real values.
    Plaintext,
    /// Standard 2x2 MORE ciphertexts.
    Ciphertext,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
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

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
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

/// Largest header accepted (the safetensors limit).
const MAX_HEADER: u64 = 100_000_000;

/// Reads a whole file, reporting a directory as [`Error::IsDirectory`] rather than as an
/// unreadable or short file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    if std::fs::metadata(path).map_err(io_err(path))?.is_dir() {
        return Err(Error::IsDirectory { path: path.to_path_buf() });
    }
    std::fs::read(path).map_err(io_err(path))
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
        Some(other) => return Err(bad(format!("header kind '{other}' is neither 'plaintext' nor 'ciphertext'"))),
        None => return Err(bad("the header has no 'kind' entry".into())),
    };
    let key = if kind == Kind::Ciphertext {
        match meta.get("scheme").map(String::as_str) {
            Some(SCHEME) => {}
            Some(other) => return Err(bad(format!("scheme '{other}' is not '{SCHEME}'"))),
            None => return Err(bad("ciphertext file without a 'scheme' entry".into())),
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
    let extra =
        meta.iter().filter(|(k, _)| !RESERVED.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok((kind, key, extra))
}

/// Header entries written and interpreted by this module (never free-form).
const RESERVED: [&str; 7] = ["format", "format_version", "kind", "dtype", "scheme", "key_id", "basis"];

/// One tensor of a header, as declared.
pub(crate) struct RawEntry {
    pub(crate) name: String,
    pub(crate) dtype: &'static str,
    pub(crate) shape: Vec<usize>,
    /// Byte range inside the data section.
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A header's tensor description (`data_offsets` relative to the data section).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorJson {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// The safetensors header JSON, keeping every key in order so duplicates can be refused
/// (a JSON map would silently keep the last of two tensors with one name).
struct HeaderJson {
    meta: Option<Vec<(String, String)>>,
    tensors: Vec<(String, TensorJson)>,
}

impl<'de> serde::Deserialize<'de> for HeaderJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of string entries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry::<String, String>()? {
                    out.push(kv);
                }
                Ok(out)
            }
        }
        struct Meta(Vec<(String, String)>);
        impl<'de> serde::Deserialize<'de> for Meta {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                d.deserialize_map(Pairs).map(Meta)
            }
        }
        struct Top;
        impl<'de> serde::de::Visitor<'de> for Top {
            type Value = HeaderJson;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a safetensors header object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out = HeaderJson { meta: None, tensors: Vec::new() };
                while let Some(k) = m.next_key::<String>()? {
                    if k == "__metadata__" {
                        if out.meta.is_some() {
                            return Err(serde::de::Error::custom("two __metadata__ entries"));
                        }
                        out.meta = Some(m.next_value::<Meta>()?.0);
                    } else {
                        let t = m
                            .next_value::<TensorJson>()
                            .map_err(|e| serde::de::Error::custom(format!("tensor '{k}': {e}")))?;
                        out.tensors.push((k, t));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Top)
    }
}

/// Returns the first name that occurs twice in `names`.
fn first_duplicate<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut sorted: Vec<&str> = names.collect();
    sorted.sort_unstable();
    sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// A fully validated header: the moreml metadata and every tensor's place in the data section.
pub(crate) struct Parsed {
    pub(crate) kind: Kind,
    pub(crate) key: Option<KeyTag>,
    pub(crate) extra: BTreeMap<String, String>,
    /// Sorted by name.
    pub(crate) entries: Vec<RawEntry>,
    pub(crate) dtype: &'static str,
}

/// Parses and validates a header (`json`) against a data section of `data_len` bytes: every
/// tensor's byte range lies inside the data, matches its shape and dtype (overflow-checked),
/// ranges tile the data section, names are unique, and the `dtype` entry matches the tensors.
pub(crate) fn parse_header_bytes(path: &Path, json: &[u8], data_len: u64) -> Result<Parsed> {
    let damaged = |detail: String| Error::Damaged { path: path.to_path_buf(), detail };
    let h: HeaderJson = serde_json::from_slice(json).map_err(|e| Error::NotAMoremlFile {
        path: path.to_path_buf(),
        detail: format!("the header is not a valid safetensors header: {e}"),
    })?;
    if let Some(meta) = &h.meta {
        if let Some(d) = first_duplicate(meta.iter().map(|(k, _)| k.as_str())) {
            return Err(damaged(format!("the header metadata has two '{d}' entries")));
        }
    }
    if let Some(d) = first_duplicate(h.tensors.iter().map(|(k, _)| k.as_str())) {
        return Err(damaged(format!("two tensors are named '{d}'")));
    }
    let meta: Option<HashMap<String, String>> = h.meta.map(|m| m.into_iter().collect());
    let (kind, key, extra) = parse_header(path, meta.as_ref())?;
    let mut entries = Vec::with_capacity(h.tensors.len());
    let mut common: Option<&'static str> = None;
    for (name, t) in h.tensors {
        let d = match t.dtype.as_str() {
            "F32" => "f32",
            "F64" => "f64",
            other => {
                return Err(Error::WrongDtype {
                    path: path.to_path_buf(),
                    name,
                    found: other.to_string(),
                    expected: "f32 or f64",
                })
            }
        };
        if let Some(c) = common.filter(|c| *c != d) {
            return Err(Error::WrongDtype { path: path.to_path_buf(), name, found: d.to_string(), expected: c });
        }
        common = Some(d);
        let size = if d == "f32" { 4u64 } else { 8 };
        let bytes = t.shape.iter().try_fold(size, |acc, &n| acc.checked_mul(n)).filter(|&b| b <= data_len).ok_or_else(
            || Error::Truncated {
                path: path.to_path_buf(),
                detail: format!("tensor '{name}' has shape {:?}, larger than the file", t.shape),
            },
        )?;
        let [start, end] = t.data_offsets;
        if start <= end && end > data_len {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                detail: format!("tensor '{name}' claims bytes {start}..{end} of a {data_len}-byte data section"),
            });
        }
        if start > end || end - start != bytes {
            return Err(damaged(format!(
                "tensor '{name}' claims bytes {start}..{end} of a {data_len}-byte data section but its shape {:?} needs {bytes}",
                t.shape
            )));
        }
        // Every value fits in memory (the file holds it), so these conversions are exact.
        let shape = t.shape.iter().map(|&n| n as usize).collect();
        entries.push(RawEntry { name, dtype: d, shape, start: start as usize, end: end as usize });
    }
    // The byte ranges must tile the data section exactly (what safetensors writes).
    let mut ranges: Vec<(usize, usize, &str)> = entries.iter().map(|e| (e.start, e.end, e.name.as_str())).collect();
    ranges.sort_unstable();
    let mut at = 0usize;
    for (start, end, name) in ranges {
        if start != at {
            return Err(damaged(format!("tensor '{name}' starts at byte {start} of the data section, expected {at}")));
        }
        at = end;
    }
    if at as u64 != data_len {
        return Err(damaged(format!("the tensors cover {at} bytes but the data section has {data_len}")));
    }
    if let (Some(declared), Some(found)) = (meta.as_ref().and_then(|m| m.get("dtype")), common) {
        if meta.as_ref().is_some_and(|m| m.contains_key("format")) && declared != found {
            return Err(damaged(format!("the header says dtype {declared} but the tensors are {found}")));
        }
    }
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(Parsed { kind, key, extra, entries, dtype: common.unwrap_or("f32") })
}

/// Splits a safetensors buffer into its header JSON and data section, checking the length
/// prefix; `total` is the size of the whole file (which may be more than `buf` holds when only
/// the header was read).
pub(crate) fn split_header<'a>(path: &Path, buf: &'a [u8], total: u64) -> Result<(&'a [u8], u64)> {
    let truncated = |detail: String| Error::Truncated { path: path.to_path_buf(), detail };
    if buf.len() < 8 {
        return Err(truncated(format!("{total} bytes is shorter than a safetensors header")));
    }
    let n = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER || 8 + n > total || 8 + n > buf.len() as u64 {
        return Err(truncated(format!("the header declares {n} bytes but the file has {total}")));
    }
    Ok((&buf[8..8 + n as usize], total - 8 - n))
}

pub(crate) fn info_of(parsed: &Parsed, bytes: u64) -> FileInfo {
    FileInfo {
        kind: parsed.kind,
        dtype: parsed.dtype,
        key: parsed.key.clone(),
        entries: parsed.entries.iter().map(|e| Entry { name: e.name.clone(), shape: e.shape.clone() }).collect(),
        extra: parsed.extra.clone(),
        bytes,
    }
}

/// Reads only the header and table of contents of a tensor file (cheap; no values), and
/// checks the header against the file's size: a truncated file, offsets past the end,
/// impossible shapes or duplicate names are [`Error::Damaged`] / [`Error::Truncated`].
pub fn read_info(path: &Path) -> Result<FileInfo> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let md = f.metadata().map_err(io_err(path))?;
    if md.is_dir() {
        return Err(Error::IsDirectory { path: path.to_path_buf() });
    }
    let bytes = md.len();
    let mut len = [0u8; 8];
    std::io::Read::read_exact(&mut f, &mut len).map_err(|_| Error::Truncated {
        path: path.to_path_buf(),
        detail: format!("{bytes} bytes is shorter than a safetensors header"),
    })?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER || 8 + n > bytes {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            detail: format!("the header declares {n} bytes but the file has {bytes}"),
        });
    }
    let mut buf = vec![0u8; 8 + n as usize];
    buf[..8].copy_from_slice(&len);
    std::io::Read::read_exact(&mut f, &mut buf[8..]).map_err(io_err(path))?;
    let (json, data_len) = split_header(path, &buf, bytes)?;
    Ok(info_of(&parse_header_bytes(path, json, data_len)?, bytes))
}

/// [`read_info`] on bytes in memory (`name` appears in messages).
pub fn read_info_bytes(bytes: &[u8], name: &Path) -> Result<FileInfo> {
    let (json, data_len) = split_header(name, bytes, bytes.len() as u64)?;
    Ok(info_of(&parse_header_bytes(name, json, data_len)?, bytes.len() as u64))
}

/// Parses a whole file; returns its kind, key and tensors as (name, shape, values).
#[allow(clippy::type_complexity)]
fn read_all<T: Float>(
    path: &Path,
    bytes: &[u8],
) -> Result<(Kind, Option<KeyTag>, BTreeMap<String, String>, Vec<(String, Vec<usize>, Vec<T>)>)> {
    let (json, data_len) = split_header(path, bytes, bytes.len() as u64)?;
    let parsed = parse_header_bytes(path, json, data_len)?;
    let data = &bytes[8 + json.len()..];
    let mut out = Vec::with_capacity(parsed.entries.len());
    for e in parsed.entries {
        check_dtype::<T>(path, &e)?;
        let values: Vec<T> = bytemuck::pod_collect_to_vec(&data[e.start..e.end]);
        out.push((e.name, e.shape, values));
    }
    Ok((parsed.kind, parsed.key, parsed.extra, out))
}

/// Refuses a tensor whose dtype is not `T`'s.
pub(crate) fn check_dtype<T: Float>(path: &Path, e: &RawEntry) -> Result<()> {
    if e.dtype != T::NAME {
        return Err(Error::WrongDtype {
            path: path.to_path_buf(),
            name: e.name.clone(),
            found: e.dtype.to_string(),
            expected: T::NAME,
        });
    }
    Ok(())
}

/// The logical shape of a ciphertext tensor stored as `[..., 2, 2]`.
pub(crate) fn cipher_shape<'a>(path: &Path, name: &str, shape: &'a [usize]) -> Result<&'a [usize]> {
    if shape.len() < 2 || shape[shape.len() - 2..] != [2, 2] {
        return Err(Error::NotAMoremlFile {
            path: path.to_path_buf(),
            detail: format!("ciphertext tensor '{name}' has shape {shape:?}, expected [..., 2, 2]"),
        });
    }
    Ok(&shape[..shape.len() - 2])
}

/// The key of a ciphertext file's header.
pub(crate) fn cipher_key(path: &Path, key: Option<KeyTag>) -> Result<KeyTag> {
    key.ok_or_else(|| Error::NotAMoremlFile { path: path.to_path_buf(), detail: "no key in the header".into() })
}

pub(crate) fn wrong_kind(path: &Path, expected: Kind, found: Kind) -> Error {
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
///
/// The file is memory-mapped (see [`crate::mapped`]), so reading needs no second copy of it.
pub fn read_plain<T: Float>(path: &Path) -> Result<PlainFile<T>> {
    read_plain_bytes(&crate::mapped::map_file(path)?, path)
}

/// [`read_plain`] on the bytes of a file (`path` appears in messages).
pub fn read_plain_bytes<T: Float>(bytes: &[u8], path: &Path) -> Result<PlainFile<T>> {
    let (kind, _, extra, raw) = read_all::<T>(path, bytes)?;
    if kind != Kind::Plaintext {
        return Err(wrong_kind(path, Kind::Plaintext, kind));
    }
    let tensors = raw.into_iter().map(|(n, s, v)| Ok((n, PlainTensor::from_vec(&s, v)?))).collect::<Result<_>>()?;
    Ok(PlainFile { tensors, extra })
}

/// Reads a ciphertext tensor file of scalar `T` (shapes must end in `2, 2`).
///
/// The file is memory-mapped (see [`crate::mapped`]), so reading needs no second copy of it.
pub fn read_cipher<T: Float>(path: &Path) -> Result<CipherFile<T>> {
    read_cipher_bytes(&crate::mapped::map_file(path)?, path)
}

/// [`read_cipher`] on the bytes of a file (`path` appears in messages).
pub fn read_cipher_bytes<T: Float>(bytes: &[u8], path: &Path) -> Result<CipherFile<T>> {
    let (kind, key, extra, raw) = read_all::<T>(path, bytes)?;
    if kind != Kind::Ciphertext {
        return Err(wrong_kind(path, Kind::Ciphertext, kind));
    }
    let key = cipher_key(path, key)?;
    let mut tensors = Vec::with_capacity(raw.len());
    for (name, shape, values) in raw {
        let logical = cipher_shape(path, &name, &shape)?;
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

/// Writes a plaintext tensor file whose values arrive in pieces (a data set larger than
/// memory), atomically. `tensors` lists every tensor's name and shape in file order; `fill`
/// must then push exactly the values of each tensor, in that order, into the [`TensorSink`].
///
/// The producer's error type `E` (anything a [`crate::Error`] converts into) passes through.
pub fn write_plain_streamed<T: Float, E: From<Error>>(
    path: &Path,
    extra: &BTreeMap<String, String>,
    tensors: &[(String, Vec<usize>)],
    fill: impl FnOnce(&mut TensorSink<'_, T>) -> Result<(), E>,
) -> Result<(), E> {
    write_streamed(path, header(Kind::Plaintext, T::NAME, None, extra), tensors.to_vec(), fill)
}

/// [`write_plain_streamed`] for ciphertexts: `tensors` holds logical shapes; the pushed values
/// are the wire layout (4 scalars per value, as [`WireCiphertext::raw`]).
pub fn write_cipher_streamed<T: Float, E: From<Error>>(
    path: &Path,
    key: &KeyTag,
    extra: &BTreeMap<String, String>,
    tensors: &[(String, Vec<usize>)],
    fill: impl FnOnce(&mut TensorSink<'_, T>) -> Result<(), E>,
) -> Result<(), E> {
    let on_disk = tensors.iter().map(|(n, s)| (n.clone(), [s.as_slice(), &[2, 2]].concat())).collect();
    write_streamed(path, header(Kind::Ciphertext, T::NAME, Some(key), extra), on_disk, fill)
}

/// The receiving end of a streamed write: values go to the current tensor, then the next.
pub struct TensorSink<'a, T: Float> {
    path: &'a Path,
    out: std::io::BufWriter<std::fs::File>,
    /// Scalars still expected, per tensor in file order.
    remaining: Vec<(String, usize)>,
    current: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Float> TensorSink<'_, T> {
    /// Appends `values` to the file (to the current tensor and, past its end, the next ones).
    pub fn push(&mut self, mut values: &[T]) -> Result<()> {
        while !values.is_empty() {
            let Some((_, left)) = self.remaining.get_mut(self.current) else {
                return Err(self.mismatch(format!("{} value(s) past the last tensor", values.len())));
            };
            let take = values.len().min(*left);
            if take == 0 {
                self.current += 1;
                continue;
            }
            self.out.write_all(bytemuck::cast_slice(&values[..take])).map_err(io_err(self.path))?;
            *left -= take;
            values = &values[take..];
        }
        Ok(())
    }

    fn mismatch(&self, detail: String) -> Error {
        let source = std::io::Error::other(format!("streamed write does not match its table of contents: {detail}"));
        Error::Io { path: self.path.to_path_buf(), source }
    }
}

fn write_streamed<T: Float, E: From<Error>>(
    path: &Path,
    meta: HashMap<String, String>,
    tensors: Vec<(String, Vec<usize>)>,
    fill: impl FnOnce(&mut TensorSink<'_, T>) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(name) = first_duplicate(tensors.iter().map(|(n, _)| n.as_str())) {
        let source = std::io::Error::other(format!("tensor name '{name}' appears twice"));
        return Err(Error::Io { path: path.to_path_buf(), source }.into());
    }
    let width = std::mem::size_of::<T>();
    let dtype = serde_json::to_value(T::DTYPE).expect("dtypes serialise");
    let mut toc = serde_json::Map::new();
    toc.insert("__metadata__".into(), serde_json::to_value(&meta).expect("string maps serialise"));
    let mut offset = 0usize;
    for (name, shape) in &tensors {
        let bytes = shape.iter().product::<usize>() * width;
        let entry = serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes] });
        toc.insert(name.clone(), entry);
        offset += bytes;
    }
    let mut json = serde_json::to_vec(&toc).expect("tables of contents serialise");
    // Same layout as the safetensors writer: the header padded with spaces to 8 bytes, so
    // every tensor starts aligned.
    json.resize(json.len().next_multiple_of(8), b' ');
    write_atomic_with(path, None, |tmp| {
        let file = std::fs::File::create(tmp).map_err(io_err(path))?;
        let mut sink = TensorSink {
            path,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            remaining: tensors.iter().map(|(n, s)| (n.clone(), s.iter().product::<usize>())).collect(),
            current: 0,
            _t: std::marker::PhantomData,
        };
        sink.out.write_all(&(json.len() as u64).to_le_bytes()).map_err(io_err(path))?;
        sink.out.write_all(&json).map_err(io_err(path))?;
        fill(&mut sink)?;
        if let Some((name, left)) = sink.remaining.iter().find(|(_, left)| *left > 0) {
            return Err(sink.mismatch(format!("tensor '{name}' is {left} value(s) short")).into());
        }
        let file = sink.out.into_inner().map_err(|e| Error::Io { path: path.to_path_buf(), source: e.into_error() })?;
        Ok(file.sync_all().map_err(io_err(path))?)
    })
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

fn write_atomic_with<E: From<Error>>(
    path: &Path,
    mode: Option<u32>,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "its directory does not exist");
        return Err(Error::Io { path: path.to_path_buf(), source }.into());
    }
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

/// Refuses an `output` path that would destroy something: a directory, the same file as one
/// of `inputs` (compared by device and inode, so links and `./a` vs `a` are caught), or a
/// secret key file. Call it before any work that ends in writing `output`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let a = dir.path().join("a.safetensors");
/// std::fs::write(&a, b"x").unwrap();
/// let same = dir.path().join(".").join("a.safetensors");
/// assert!(moreml_cipher::format::ensure_distinct_output(&same, &[&a]).is_err());
/// assert!(moreml_cipher::format::ensure_distinct_output(&dir.path().join("b"), &[&a]).is_ok());
/// ```
pub fn ensure_distinct_output(output: &Path, inputs: &[&Path]) -> Result<()> {
    let Ok(out_md) = std::fs::metadata(output) else {
        return Ok(()); // nothing there yet (or unreachable: the write will report it)
    };
    if out_md.is_dir() {
        return Err(Error::IsDirectory { path: output.to_path_buf() });
    }
    for input in inputs {
        if let Ok(in_md) = std::fs::metadata(input) {
            if same_file(output, &out_md, input, &in_md) {
                return Err(Error::SameFile { output: output.to_path_buf(), input: input.to_path_buf() });
            }
        }
    }
    if is_secret_key_file(output) {
        return Err(Error::OutputIsKey { path: output.to_path_buf() });
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(_: &Path, a: &std::fs::Metadata, _: &Path, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &Path, _: &std::fs::Metadata, b: &Path, _: &std::fs::Metadata) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Whether `path` is a moreml secret key file (JSON with `"format": "moreml-secret-key"`).
pub fn is_secret_key_file(path: &Path) -> bool {
    let small = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() < 1 << 20);
    small
        && std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(SECRET_KEY_FORMAT))
}

/// What a tensor of a data file is for: model input (features) or training target (labels,
/// regression values). The owner encrypts targets with record-level r so the hidden side of
/// each record stays a valid target too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Features fed to the model.
    Input,
    /// Values the model is trained to produce.
    Target,
}

/// The `moreml.roles` header entry: tensor name -> [`Role`], as a JSON object
/// (`{"inputs":"input","targets":"target"}`).
///
/// ```
/// use moreml_cipher::format::{Role, Roles};
/// use std::collections::BTreeMap;
/// let mut extra = BTreeMap::new();
/// let mut roles = Roles::default();
/// roles.set("inputs", Role::Input);
/// roles.set("targets", Role::Target);
/// roles.insert_into(&mut extra);
/// assert_eq!(extra["moreml.roles"], r#"{"inputs":"input","targets":"target"}"#);
/// assert_eq!(Roles::from_extra(&extra).unwrap(), Some(roles));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles(pub BTreeMap<String, Role>);

impl Roles {
    /// Reads the roles entry of a header; `Ok(None)` when there is none.
    pub fn from_extra(extra: &BTreeMap<String, String>) -> Result<Option<Self>> {
        let Some(json) = extra.get(ROLES_KEY) else { return Ok(None) };
        serde_json::from_str(json).map(|m| Some(Roles(m))).map_err(|e| Error::BadMetadata {
            entry: ROLES_KEY,
            detail: e.to_string(),
            expected: r#"a JSON object mapping tensor names to "input" or "target""#,
        })
    }
    /// Writes (or replaces) the roles entry of a header.
    pub fn insert_into(&self, extra: &mut BTreeMap<String, String>) {
        extra.insert(ROLES_KEY.into(), serde_json::to_string(&self.0).expect("roles serialise"));
    }
    /// The role of tensor `name`, if declared.
    pub fn role(&self, name: &str) -> Option<Role> {
        self.0.get(name).copied()
    }
    /// Declares the role of tensor `name`.
    pub fn set(&mut self, name: &str, role: Role) {
        self.0.insert(name.to_string(), role);
    }
    /// Names of the tensors declared as targets.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter(|(_, r)| **r == Role::Target).map(|(n, _)| n.as_str())
    }
}
