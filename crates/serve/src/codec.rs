//! Request and response bodies: moreml tensor files (safetensors) held in memory.
//!
//! [`peek`] reads only the header (kind, dtype, key id, tensor shapes) so limits and the key
//! are checked before any value is decoded. Decoding uses `format::read_*_bytes` (the same
//! checks as files, reported against "request body"); encoding reuses `format::write_*`
//! through a temporary file, since `format` writes paths only (atomic writes); that costs a
//! write and a read of the answer (tens of microseconds for an MNIST batch, on `/tmp`).

use moreml_cipher::format::{self, CipherFile, Kind, PlainFile};
use moreml_cipher::{Error, Float};
use std::path::Path;

/// What a request body declares about itself, read without touching tensor values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peek {
    /// Plaintext or ciphertext.
    pub kind: Kind,
    /// Value of the `key_id` header entry (ciphertext bodies).
    pub key_id: Option<String>,
    /// Tensor names and stored shapes (ciphertexts include the trailing `2, 2`).
    pub tensors: Vec<(String, Vec<usize>)>,
}

/// Reads the safetensors header of `bytes`: checks the declared sizes against the body
/// (a truncated body fails here) and returns what the header says.
///
/// ```
/// let e = moreml_serve::codec::peek(b"\x10\0\0\0\0\0\0\0{}").unwrap_err();
/// assert!(e.contains("truncated") || e.contains("header"), "{e}");
/// ```
pub fn peek(bytes: &[u8]) -> Result<Peek, String> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a complete safetensors file (truncated or malformed: {e})"))?;
    let header = meta.metadata().as_ref();
    let get = |k: &str| header.and_then(|h| h.get(k)).cloned();
    let kind = match get("kind").as_deref() {
        Some("ciphertext") => Kind::Ciphertext,
        _ => Kind::Plaintext,
    };
    let mut tensors: Vec<(String, Vec<usize>)> =
        meta.tensors().into_iter().map(|(name, info)| (name, info.shape.clone())).collect();
    tensors.sort();
    Ok(Peek { kind, key_id: get("key_id"), tensors })
}

/// Runs `f` on a temporary file; error messages name "request body" instead of its path.
fn with_temp<R>(f: impl FnOnce(&Path) -> Result<R, Error>) -> Result<R, Error> {
    let tmp = tempfile::Builder::new()
        .prefix(".moreml-serve-")
        .tempfile()
        .map_err(|source| Error::Io { path: std::env::temp_dir(), source })?;
    f(tmp.path())
}

fn to_bytes(write: impl FnOnce(&Path) -> Result<(), Error>) -> Result<Vec<u8>, Error> {
    with_temp(|path| {
        write(path)?;
        std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })
    })
}

/// Parses a ciphertext tensor file held in memory (same checks as `format::read_cipher`).
pub fn decode_cipher<T: Float>(bytes: &[u8]) -> Result<CipherFile<T>, Error> {
    format::read_cipher_bytes::<T>(bytes, Path::new("request body"))
}

/// Parses a plaintext tensor file held in memory (same checks as `format::read_plain`).
pub fn decode_plain<T: Float>(bytes: &[u8]) -> Result<PlainFile<T>, Error> {
    format::read_plain_bytes::<T>(bytes, Path::new("request body"))
}

/// Serialises a ciphertext tensor file to memory (same bytes as `format::write_cipher`).
pub fn encode_cipher<T: Float>(file: &CipherFile<T>) -> Result<Vec<u8>, Error> {
    to_bytes(|p| format::write_cipher(p, file))
}

/// Serialises a plaintext tensor file to memory (same bytes as `format::write_plain`).
pub fn encode_plain<T: Float>(file: &PlainFile<T>) -> Result<Vec<u8>, Error> {
    to_bytes(|p| format::write_plain(p, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moreml_cipher::PlainTensor;

    #[test]
    fn plain_round_trip_and_peek() {
        let t = PlainTensor::<f32>::from_vec(&[2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        let file = PlainFile { tensors: vec![("inputs".into(), t.clone())], extra: Default::default() };
        let bytes = encode_plain(&file).unwrap();
        let p = peek(&bytes).unwrap();
        assert_eq!(p.kind, Kind::Plaintext);
        assert_eq!(p.tensors, vec![("inputs".to_string(), vec![2, 3])]);
        let back = decode_plain::<f32>(&bytes).unwrap();
        assert_eq!(back.tensors[0].1, t);
        // every truncation fails cleanly in peek, and decoding names the body, not a temp path
        for cut in [0, 7, 8, 20, bytes.len() - 1] {
            assert!(peek(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let e = decode_plain::<f32>(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
        assert!(e.starts_with("request body:"), "{e}");
        let e = decode_plain::<f64>(&bytes).unwrap_err().to_string();
        assert!(e.contains("dtype f32, expected f64"), "{e}");
    }
}
