//! IDX files (the format of MNIST and its kin), raw or gzip-compressed.
//!
//! Only the unsigned-byte element type (`0x08`) is supported, which is what
//! MNIST, Fashion-MNIST, KMNIST and EMNIST use.

use std::io::Read;
use std::path::Path;

use crate::DatasetError;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// IDX type code of unsigned bytes.
const IDX_U8: u8 = 0x08;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes of each dimension, outermost first (e.g. `[n, 28, 28]`).
    pub dims: Vec<usize>,
    /// The elements, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Whether `bytes` start with the gzip magic (so names need not be trusted).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Reads a whole file into memory, naming the path on error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DatasetError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DatasetError::NotFound { path: path.to_path_buf(), hint: crate::error::GET_DATA_HINT.to_string() }
        } else {
            DatasetError::io(path, e)
        }
    })
}

/// Returns the content of a file's bytes: decompressed if they are gzip, as is otherwise.
///
/// Detection is by the gzip magic bytes, not by the file name.
pub fn decompress_if_gzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DatasetError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    // The gzip trailer holds the uncompressed size mod 2^32: use it as a capacity hint,
    // capped at deflate's maximal ratio so a lying trailer cannot force a huge allocation.
    let hint = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .map(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize)
        .unwrap_or(0)
        .min(bytes.len().saturating_mul(1032));
    let mut out = Vec::with_capacity(hint);
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|source| DatasetError::Decompress { path: path.to_path_buf(), source })?;
    Ok(out)
}

/// Parses IDX content (already decompressed) of unsigned bytes with any dimensions.
///
/// Checks the magic number, that the data is exactly as long as the dimensions declare
/// (shorter: [`DatasetError::Truncated`], longer: [`DatasetError::TrailingData`]).
/// `path` is only used in errors.
pub fn parse_idx(bytes: Vec<u8>, path: &Path) -> Result<IdxArray, DatasetError> {
    let bad_magic = |found: u32| DatasetError::BadMagic {
        path: path.to_path_buf(),
        found,
        expected: "0x000008NN (IDX of unsigned bytes, NN dimensions)".to_string(),
    };
    let Some(head) = bytes.get(..4) else {
        let mut b = [0u8; 4];
        b[..bytes.len()].copy_from_slice(&bytes);
        return Err(if bytes.is_empty() {
            DatasetError::Truncated { path: path.to_path_buf(), expected: 4, actual: 0 }
        } else {
            bad_magic(u32::from_be_bytes(b))
        });
    };
    let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if head[0] != 0 || head[1] != 0 || head[2] != IDX_U8 || head[3] == 0 {
        return Err(bad_magic(magic));
    }
    let ndims = head[3] as usize;
    let header_len = 4 + 4 * ndims;
    let Some(dim_bytes) = bytes.get(4..header_len) else {
        return Err(DatasetError::Truncated {
            path: path.to_path_buf(),
            expected: header_len as u64,
            actual: bytes.len() as u64,
        });
    };
    let dims: Vec<usize> =
        dim_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    // u64 arithmetic: 255 dims of u32::MAX overflow anything, so saturate and report.
    let data_len = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).unwrap_or(u64::MAX);
    let expected = data_len.saturating_add(header_len as u64);
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(DatasetError::Truncated { path: path.to_path_buf(), expected, actual });
    }
    if actual > expected {
        return Err(DatasetError::TrailingData { path: path.to_path_buf(), expected, actual });
    }
    let mut data = bytes;
    data.drain(..header_len);
    Ok(IdxArray { dims, data })
}

/// Reads an IDX file of unsigned bytes, gzip-compressed or raw (detected by content).
pub fn read_idx(path: &Path) -> Result<IdxArray, DatasetError> {
    let bytes = decompress_if_gzip(read_file(path)?, path)?;
    parse_idx(bytes, path)
}

/// Builds IDX bytes of unsigned bytes: useful to write test fixtures or custom data sets.
///
/// Returns `None` if a dimension exceeds `u32::MAX`, there are more than 255 dimensions,
/// or `data.len()` is not the product of `dims`.
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Option<Vec<u8>> {
    let ndims = u8::try_from(dims.len()).ok().filter(|&n| n > 0)?;
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
    if n != data.len() {
        return None;
    }
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, IDX_U8, ndims]);
    for &d in dims {
        out.extend_from_slice(&u32::try_from(d).ok()?.to_be_bytes());
    }
    out.extend_from_slice(data);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn p() -> &'static Path {
        Path::new("x.idx")
    }

    #[test]
    fn round_trip_any_dims() {
        let data: Vec<u8> = (0..60).collect();
        let bytes = encode_idx(&[3, 4, 5], &data).unwrap();
        let a = parse_idx(bytes, p()).unwrap();
        assert_eq!(a.dims, vec![3, 4, 5]);
        assert_eq!(a.data, data);
    }

    #[test]
    fn gzip_detected_by_content_not_name() {
        let raw = encode_idx(&[2], &[7, 9]).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&raw).unwrap();
        let gz = enc.finish().unwrap();
        assert!(is_gzip(&gz) && !is_gzip(&raw));
        assert_eq!(decompress_if_gzip(gz, p()).unwrap(), raw);
        assert_eq!(decompress_if_gzip(raw.clone(), p()).unwrap(), raw);
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut bad = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        bad.extend_from_slice(&[0xff; 20]);
        assert!(matches!(decompress_if_gzip(bad, p()), Err(DatasetError::Decompress { .. })));
    }

    #[test]
    fn bad_headers() {
        for bytes in [vec![], vec![0, 0], vec![1, 2, 3, 4], vec![0, 0, 0x0d, 1, 0, 0, 0, 0], vec![0, 0, 8, 0]] {
            let e = parse_idx(bytes.clone(), p()).unwrap_err();
            assert!(matches!(e, DatasetError::BadMagic { .. } | DatasetError::Truncated { .. }), "{bytes:?}: {e}");
        }
        // Header cut inside the dimensions.
        let e = parse_idx(vec![0, 0, 8, 3, 0, 0, 0, 1], p()).unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { expected: 16, actual: 8, .. }), "{e}");
    }

    #[test]
    fn huge_declared_dims_do_not_panic() {
        let mut b = vec![0, 0, 8, 3];
        for _ in 0..3 {
            b.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        assert!(matches!(parse_idx(b, p()), Err(DatasetError::Truncated { .. })));
    }

    #[test]
    fn truncated_and_trailing() {
        let mut bytes = encode_idx(&[10], &[1; 10]).unwrap();
        bytes.push(0);
        let e = parse_idx(bytes.clone(), p()).unwrap_err();
        assert!(matches!(e, DatasetError::TrailingData { expected: 18, actual: 19, .. }), "{e}");
        bytes.truncate(15);
        let e = parse_idx(bytes, p()).unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { expected: 18, actual: 15, .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("x.idx") && msg.contains("18") && msg.contains("15"), "{msg}");
    }
}
