//! Tensor files read through a memory map, record by record: data sets larger than memory.
//!
//! [`MappedFile::open`] maps a moreml tensor file and validates its header with the same
//! parser and the same errors as [`crate::format::read_plain`] / [`crate::format::read_cipher`]
//! (a truncated or damaged file fails here, before any value is read). Tensors are then read as
//! records (rows along the first axis) with [`MappedPlain::gather`] / [`MappedCipher::gather`]:
//! only the requested rows are copied out of the map.
//!
//! Pages touched through the map count towards the process's resident memory until the kernel
//! drops them, so the map gives its pages back (`MADV_DONTNEED`, the file stays in the page
//! cache) every [`RELEASE_BYTES`] bytes read: resident memory stays bounded whatever the file's
//! size.
//!
//! Safety of the map: a file truncated by another process while it is mapped makes reads of
//! the lost pages fault (SIGBUS). moreml itself never changes a file in place (writes go to a
//! temporary file renamed over the target, see [`crate::format::write_atomic`]), so only an
//! outside writer can do that.
//!
//! ```
//! use moreml_cipher::format::{self, PlainFile};
//! use moreml_cipher::mapped::MappedFile;
//! use moreml_cipher::PlainTensor;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("d.safetensors");
//! let x = PlainTensor::<f32>::from_vec(&[3, 2], vec![0., 1., 2., 3., 4., 5.]).unwrap();
//! let file = PlainFile { tensors: vec![("inputs".to_string(), x)], extra: Default::default() };
//! format::write_plain(&path, &file).unwrap();
//! let map = MappedFile::open(&path).unwrap();
//! let rows = map.plain::<f32>("inputs").unwrap();
//! assert_eq!(rows.len(), 3);
//! assert_eq!(rows.gather(&[2, 0]).unwrap().values(), &[4., 5., 0., 1.]);
//! ```

use crate::format::{self, FileInfo, Kind, Parsed, RawEntry};
use crate::{CipherTensor, Error, Float, KeyTag, PlainTensor, Result, WireCiphertext};
use memmap2::{Mmap, UncheckedAdvice};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Resident bytes a map may gain between two releases of its pages (64 MiB).
pub const RELEASE_BYTES: usize = 64 << 20;

/// Resident bytes one read of a record may map: the kernel maps whole page-cache folios on a
/// fault, up to 2 MiB each (measured on Linux 6.18: random 25 KiB records grew the map's
/// resident size to 2.4 GiB between releases counted in bytes read).
const FOLIO_BYTES: usize = 2 << 20;

/// Maps `path` read-only, reporting a directory as [`Error::IsDirectory`].
pub(crate) fn map_file(path: &Path) -> Result<Mmap> {
    if std::fs::metadata(path).map_err(format::io_err(path))?.is_dir() {
        return Err(Error::IsDirectory { path: path.to_path_buf() });
    }
    let file = std::fs::File::open(path).map_err(format::io_err(path))?;
    // SAFETY: the map is read-only and only ever read through `&[u8]`; see the module docs
    // for the one hazard (another process truncating the file while it is mapped).
    unsafe { Mmap::map(&file) }.map_err(format::io_err(path))
}

/// A map shared by a file and the tensors read from it, with its release counter.
struct Shared {
    map: Mmap,
    read_since_release: AtomicUsize,
}

impl Shared {
    /// Counts `bytes` read in `pieces` separate places (each may map up to [`FOLIO_BYTES`]) and
    /// gives the resident pages back once [`RELEASE_BYTES`] may be resident.
    fn note_read(&self, bytes: usize, pieces: usize) {
        let cost = bytes.max(pieces.saturating_mul(FOLIO_BYTES));
        if self.read_since_release.fetch_add(cost, Ordering::Relaxed).saturating_add(cost) >= RELEASE_BYTES {
            self.read_since_release.store(0, Ordering::Relaxed);
            self.release();
        }
    }

    /// Drops the map's resident pages (they are read again from the file when touched).
    fn release(&self) {
        // SAFETY: the map is a read-only shared file mapping, so MADV_DONTNEED loses nothing:
        // later reads see the file's bytes again. A failure only means pages stay resident.
        let _ = unsafe { self.map.unchecked_advise(UncheckedAdvice::DontNeed) };
    }
}

/// A tensor file opened through a memory map, header validated, values not yet read.
pub struct MappedFile {
    path: PathBuf,
    shared: Arc<Shared>,
    parsed: Parsed,
    /// Offset of the data section in the file.
    data_start: usize,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedFile({}, {} {})", self.path.display(), self.parsed.kind.as_str(), self.parsed.dtype)
    }
}

impl MappedFile {
    /// Maps `path` and validates its header exactly as the in-memory readers do.
    pub fn open(path: &Path) -> Result<Self> {
        let map = map_file(path)?;
        let (json, data_len) = format::split_header(path, &map, map.len() as u64)?;
        let parsed = format::parse_header_bytes(path, json, data_len)?;
        let data_start = 8 + json.len();
        let shared = Arc::new(Shared { map, read_since_release: AtomicUsize::new(0) });
        Ok(Self { path: path.to_path_buf(), shared, parsed, data_start })
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the header declares (as [`format::read_info`] returns it).
    pub fn info(&self) -> FileInfo {
        format::info_of(&self.parsed, self.shared.map.len() as u64)
    }

    /// Plaintext or ciphertext.
    pub fn kind(&self) -> Kind {
        self.parsed.kind
    }

    /// `"f32"` or `"f64"`.
    pub fn dtype(&self) -> &'static str {
        self.parsed.dtype
    }

    /// The key, for ciphertext files.
    pub fn key(&self) -> Option<&KeyTag> {
        self.parsed.key.as_ref()
    }

    /// Free-form header entries.
    pub fn extra(&self) -> &BTreeMap<String, String> {
        &self.parsed.extra
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.parsed.entries.iter().map(|e| e.name.as_str()).collect()
    }

    fn entry(&self, name: &str) -> Result<&RawEntry> {
        self.parsed.entries.iter().find(|e| e.name == name).ok_or_else(|| Error::MissingTensor {
            path: self.path.clone(),
            name: name.to_string(),
            available: self.names().join(", "),
        })
    }

    /// The entry of plaintext tensor `name` (an error for a ciphertext file).
    fn plain_entry(&self, name: &str) -> Result<&RawEntry> {
        if self.parsed.kind != Kind::Plaintext {
            return Err(format::wrong_kind(&self.path, Kind::Plaintext, self.parsed.kind));
        }
        self.entry(name)
    }

    fn rows<T: Float>(&self, e: &RawEntry, record_shape: &[usize], per_record: usize) -> Result<Rows<T>> {
        format::check_dtype::<T>(&self.path, e)?;
        let Some((_, row)) = record_shape.split_first() else {
            return Err(Error::NotRecords { path: self.path.clone(), name: e.name.clone(), shape: e.shape.clone() });
        };
        // The header parser checked that the shape's size fits the file, so no overflow here.
        let row_values = row.iter().product::<usize>() * per_record;
        Ok(Rows {
            shared: Arc::clone(&self.shared),
            what: format!("{} tensor '{}'", self.path.display(), e.name),
            record_shape: record_shape.to_vec(),
            start: self.data_start + e.start,
            row_values,
            per_record,
            _t: PhantomData,
        })
    }

    /// The plaintext tensor `name`, read record by record.
    pub fn plain<T: Float>(&self, name: &str) -> Result<MappedPlain<T>> {
        let e = self.plain_entry(name)?;
        Ok(MappedPlain(self.rows(e, &e.shape, 1)?))
    }

    /// The plaintext tensor `name` whole, whatever its rank (a 0-d tensor has no records to
    /// read one by one).
    pub fn plain_whole<T: Float>(&self, name: &str) -> Result<PlainTensor<T>> {
        let e = self.plain_entry(name)?;
        format::check_dtype::<T>(&self.path, e)?;
        let bytes = &self.shared.map[self.data_start + e.start..self.data_start + e.end];
        PlainTensor::from_vec(&e.shape, bytemuck::pod_collect_to_vec(bytes))
    }

    /// The ciphertext tensor `name`, read record by record (shape `[n, ..., 2, 2]` on disk).
    pub fn cipher<T: Float>(&self, name: &str) -> Result<MappedCipher<T>> {
        if self.parsed.kind != Kind::Ciphertext {
            return Err(format::wrong_kind(&self.path, Kind::Ciphertext, self.parsed.kind));
        }
        let key = format::cipher_key(&self.path, self.parsed.key.clone())?;
        let e = self.entry(name)?;
        let logical = format::cipher_shape(&self.path, &e.name, &e.shape)?;
        Ok(MappedCipher { rows: self.rows(e, logical, 4)?, key, name: name.to_string() })
    }
}

/// Records of one tensor inside a map: `row_values` scalars of `T` per record from `start`.
struct Rows<T: Float> {
    shared: Arc<Shared>,
    what: String,
    /// Logical shape (ciphertexts without the trailing `2, 2`); `record_shape[0]` records.
    record_shape: Vec<usize>,
    start: usize,
    row_values: usize,
    /// Scalars per logical value (4 for 2x2 ciphertexts).
    per_record: usize,
    _t: PhantomData<T>,
}

impl<T: Float> std::fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} ({})", self.what, self.record_shape, T::NAME)
    }
}

impl<T: Float> Rows<T> {
    fn len(&self) -> usize {
        self.record_shape[0]
    }

    /// Logical shape of `k` records.
    fn shape_of(&self, k: usize) -> Vec<usize> {
        let mut s = self.record_shape.clone();
        s[0] = k;
        s
    }

    /// The scalars of records `idx`, in that order (indices checked).
    fn gather(&self, idx: &[usize]) -> Result<Vec<T>> {
        let rows = self.len();
        if let Some(&index) = idx.iter().find(|&&i| i >= rows) {
            return Err(Error::RecordOutOfRange { what: self.what.clone(), index, rows });
        }
        let mut out = vec![T::zero(); idx.len() * self.row_values];
        let row_bytes = self.row_values * std::mem::size_of::<T>();
        let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut out);
        let mut pieces = 0;
        for (k, (d, &i)) in dst.chunks_exact_mut(row_bytes.max(1)).zip(idx).enumerate() {
            let at = self.start + i * row_bytes;
            d.copy_from_slice(&self.shared.map[at..at + row_bytes]);
            pieces += usize::from(k == 0 || idx[k - 1] + 1 != i);
        }
        self.shared.note_read(dst.len(), pieces);
        Ok(out)
    }

    /// The scalars of the contiguous records `first..first + k`.
    fn range(&self, first: usize, k: usize) -> Result<Vec<T>> {
        let idx: Vec<usize> = (first..first + k).collect();
        self.gather(&idx)
    }
}

/// A plaintext tensor of a [`MappedFile`], read record by record.
#[derive(Debug)]
pub struct MappedPlain<T: Float>(Rows<T>);

impl<T: Float> MappedPlain<T> {
    /// Number of records (the first axis).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the tensor has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &[usize] {
        &self.0.record_shape
    }

    /// Records `idx` (in that order) as one tensor of shape `[idx.len(), ...]`.
    pub fn gather(&self, idx: &[usize]) -> Result<PlainTensor<T>> {
        PlainTensor::from_vec(&self.0.shape_of(idx.len()), self.0.gather(idx)?)
    }

    /// The contiguous records `first..first + count` as one tensor.
    pub fn range(&self, first: usize, count: usize) -> Result<PlainTensor<T>> {
        PlainTensor::from_vec(&self.0.shape_of(count), self.0.range(first, count)?)
    }

    /// The whole tensor in memory (what [`format::read_plain`] returns for it).
    pub fn to_tensor(&self) -> Result<PlainTensor<T>> {
        self.range(0, self.len())
    }
}

/// A ciphertext tensor of a [`MappedFile`], read record by record and converted to algebra
/// coordinates (with the same integrity check as [`CipherTensor::from_wire_tagged`]).
#[derive(Debug)]
pub struct MappedCipher<T: Float> {
    rows: Rows<T>,
    key: KeyTag,
    name: String,
}

impl<T: Float> MappedCipher<T> {
    /// Number of records (the first axis).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the tensor has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The logical shape (without the trailing `2, 2`).
    pub fn shape(&self) -> &[usize] {
        &self.rows.record_shape
    }

    /// The key the ciphertexts are under.
    pub fn key(&self) -> &KeyTag {
        &self.key
    }

    /// Records `idx` (in that order) as standard 2x2 ciphertexts.
    pub fn gather_wire(&self, idx: &[usize]) -> Result<WireCiphertext<T>> {
        WireCiphertext::from_vec(&self.rows.shape_of(idx.len()), self.rows.gather(idx)?)
    }

    /// Records `idx` (in that order) in algebra coordinates; a value outside the key's algebra
    /// or a non-finite one is an error naming its flat index in the gathered records.
    pub fn gather(&self, idx: &[usize]) -> Result<CipherTensor<T>> {
        CipherTensor::from_wire_tagged(&self.gather_wire(idx)?, &self.key, &self.name)
    }

    /// Checks every ciphertext of the tensor (finite, inside the key's algebra) in chunks of
    /// about [`RELEASE_BYTES`], so a file larger than memory is checked without being read
    /// into it; an error names the flat index in the whole tensor, as
    /// [`CipherTensor::from_wire_tagged`] on the whole tensor would. `progress` is called
    /// with the number of records checked after each chunk.
    pub fn verify(&self, progress: impl FnMut(usize)) -> Result<()> {
        let row_bytes = (self.rows.row_values * std::mem::size_of::<T>()).max(1);
        self.verify_in_chunks((RELEASE_BYTES / row_bytes).max(1), progress)
    }

    fn verify_in_chunks(&self, chunk: usize, mut progress: impl FnMut(usize)) -> Result<()> {
        let values_per_row = self.rows.row_values / self.rows.per_record;
        let mut first = 0;
        while first < self.len() {
            let k = chunk.min(self.len() - first);
            let wire = WireCiphertext::from_vec(&self.rows.shape_of(k), self.rows.range(first, k)?)?;
            let offset = first * values_per_row;
            CipherTensor::from_wire_tagged(&wire, &self.key, &self.name).map_err(|e| match e {
                Error::OutOfAlgebra { what, key_id, index, residual, tolerance } => {
                    Error::OutOfAlgebra { what, key_id, index: index + offset, residual, tolerance }
                }
                Error::NonFinite { what, index, value, hint } => {
                    Error::NonFinite { what, index: index + offset, value, hint }
                }
                e => e,
            })?;
            first += k;
            progress(k);
        }
        Ok(())
    }

    /// The whole tensor in memory, standard 2x2 form (what [`format::read_cipher`] returns).
    pub fn to_wire(&self) -> Result<WireCiphertext<T>> {
        self.gather_wire(&(0..self.len()).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{write_cipher, CipherFile};
    use crate::PublicBasis;

    #[test]
    fn chunked_check_reports_the_whole_tensor_index_and_counts_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let basis = PublicBasis::new([0.0, 1.0, 1.0, 0.0]).unwrap();
        let key = KeyTag { key_id: "k".into(), basis };
        let mut raw: Vec<f64> = (0..10 * 3).flat_map(|i| basis.from_coords(i as f64, 1.0)).collect();
        let mut wire = WireCiphertext::from_vec(&[10, 3], raw.clone()).unwrap();
        let file =
            CipherFile { key: key.clone(), tensors: vec![("x".into(), wire.clone())], extra: Default::default() };
        write_cipher(&path, &file).unwrap();
        let m = MappedFile::open(&path).unwrap().cipher::<f64>("x").unwrap();
        for chunk in [1, 3, 4, 10, 11] {
            let mut seen = Vec::new();
            m.verify_in_chunks(chunk, |k| seen.push(k)).unwrap();
            assert_eq!(seen.iter().sum::<usize>(), 10, "chunk {chunk}");
            assert!(seen.iter().all(|&k| k <= chunk));
        }
        raw[4 * 25 + 1] = 7.0; // value 25 = record 8, column 1
        wire.raw_mut().copy_from_slice(&raw);
        let file = CipherFile { key, tensors: vec![("x".into(), wire)], extra: Default::default() };
        write_cipher(&path, &file).unwrap();
        let m = MappedFile::open(&path).unwrap().cipher::<f64>("x").unwrap();
        for chunk in [1, 3, 4, 10] {
            let e = m.verify_in_chunks(chunk, |_| {}).unwrap_err();
            assert!(matches!(e, Error::OutOfAlgebra { index: 25, .. }), "chunk {chunk}: {e}");
        }
    }

    #[test]
    fn reads_past_the_budget_release_the_pages_and_restart_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.safetensors");
        let x = PlainTensor::<f32>::from_vec(&[4, 2], vec![1.0; 8]).unwrap();
        let file = format::PlainFile { tensors: vec![("x".into(), x)], extra: Default::default() };
        format::write_plain(&path, &file).unwrap();
        let m = MappedFile::open(&path).unwrap();
        let rows = m.plain::<f32>("x").unwrap();
        let count = || rows.0.shared.read_since_release.load(Ordering::Relaxed);
        rows.0.shared.read_since_release.store(RELEASE_BYTES - FOLIO_BYTES, Ordering::Relaxed);
        rows.gather(&[0]).unwrap(); // one place: may map a folio, reaches the budget
        assert_eq!(count(), 0);
        rows.gather(&[1, 2]).unwrap(); // contiguous: one place
        assert_eq!(count(), FOLIO_BYTES);
        rows.gather(&[3, 0, 1]).unwrap(); // two places (3, then 0..=1)
        assert_eq!(count(), 3 * FOLIO_BYTES);
        assert_eq!(rows.gather(&[3]).unwrap().values(), &[1.0, 1.0]);
    }
}
