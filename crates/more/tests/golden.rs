//! Golden values: a key file written by hand (known S, basis_sign), and ciphertext files read
//! back with nothing but the safetensors layout and a few lines of 2x2 arithmetic, exactly as
//! a numpy user following the README would:
//!
//! ```text
//! key = json.load(open("key.json")); S = np.array(key["s"]).reshape(2, 2)
//! C = safetensors.numpy.load_file("x.enc.safetensors")["x"]   # shape [..., 2, 2]
//! m = (np.linalg.inv(S) @ C @ S)[..., 0, 0]
//! ```
//!
//! key_id = hex of the first 8 bytes of SHA-256("moreml-key-v1" || S row-major as f64 LE ||
//! basis_sign as f64 LE).

mod common;
use common::write_private;
use moreml_cipher::format::{self, PlainFile};
use moreml_cipher::prelude::*;
use moreml_more::SecretKey;
use sha2::{Digest, Sha256};

const S: [f64; 4] = [2.0, 1.0, 1.0, 1.0]; // det 1, S^-1 = [[1, -1], [-1, 2]]

fn key_id(s: [f64; 4], sign: f64) -> String {
    let mut h = Sha256::new();
    h.update(b"moreml-key-v1");
    for v in s.iter().chain([&sign]) {
        h.update(v.to_le_bytes());
    }
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn key_json(s: [f64; 4], sign: f64) -> String {
    serde_json::json!({
        "format": "moreml-secret-key",
        "version": 1,
        "scheme": "MORE-2x2-real",
        "key_id": key_id(s, sign),
        "s": s,
        "basis_sign": sign,
        "params": {"max_condition": 10.0, "r": {"kind": "uniform", "low": 0.5, "high": 1.5}},
    })
    .to_string()
}

/// The reference decryption: `S^-1 C S` for one row-major 2x2 `c`, by hand.
fn reference_unmask(s: [f64; 4], c: [f64; 4]) -> [f64; 4] {
    let det = s[0] * s[3] - s[1] * s[2];
    let si = [s[3] / det, -s[1] / det, -s[2] / det, s[0] / det];
    let mul = |a: [f64; 4], b: [f64; 4]| {
        [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]]
    };
    mul(mul(si, c), s)
}

/// Reads tensor `name` of a safetensors file with no library: 8-byte LE header length, JSON
/// header with `dtype`, `shape`, `data_offsets` relative to the end of the header.
fn read_tensor_by_hand(bytes: &[u8], name: &str) -> (serde_json::Value, Vec<usize>, Vec<f64>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let t = &header[name];
    let shape: Vec<usize> = serde_json::from_value(t["shape"].clone()).unwrap();
    let (a, b) = (t["data_offsets"][0].as_u64().unwrap() as usize, t["data_offsets"][1].as_u64().unwrap() as usize);
    let data = &bytes[8 + n + a..8 + n + b];
    let values = match t["dtype"].as_str().unwrap() {
        "F64" => data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
        "F32" => data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        d => panic!("dtype {d}"),
    };
    (header["__metadata__"].clone(), shape, values)
}

#[test]
fn hand_written_key_loads_with_the_documented_key_id() {
    let dir = tempfile::tempdir().unwrap();
    for sign in [1.0, -1.0] {
        let path = dir.path().join("key.json");
        write_private(&path, key_json(S, sign));
        let sk = SecretKey::load(&path).unwrap();
        assert_eq!(sk.key_id(), key_id(S, sign));
        // Known values: P = S e0 e0^T S^-1 = [[2, -2], [1, -1]], basis R' = sign * (2P - I).
        assert_eq!(sk.tag().basis.matrix(), [3.0 * sign, -4.0 * sign, 2.0 * sign, -3.0 * sign]);
        assert!((sk.condition() - (3.0 + 5f64.sqrt()) / 2.0 * (3.0 + 5f64.sqrt()) / 2.0).abs() < 1e-9);
        // Golden ciphertext: m = 3, r = 1 is 3P + (I - P) = I + 2P = [[5, -4], [2, -1]].
        let w = WireCiphertext::<f64>::from_vec(&[1], vec![5.0, -4.0, 2.0, -1.0]).unwrap();
        let d = sk.decrypt(&w).unwrap();
        assert_eq!(d.values.values(), &[3.0]);
        assert_eq!(d.max_residual, 0.0);
        assert_eq!(sk.hidden_values(&w).values(), &[1.0]);
        // And its algebra coordinates: a = (m + r) / 2, b = sign * (m - r) / 2.
        let c = CipherTensor::from_wire_tagged(&w, sk.tag(), "golden").unwrap();
        let sq = c.square().to_wire(&sk.tag().basis); // Enc(9) with r = 1: I + 8P
        assert_eq!(sq.raw(), &[17.0, -16.0, 8.0, -7.0]);
    }
}

#[test]
fn ciphertext_files_decrypt_with_the_reference_formula() {
    let dir = tempfile::tempdir().unwrap();
    let kpath = dir.path().join("key.json");
    write_private(&kpath, key_json(S, -1.0));
    let sk = SecretKey::load(&kpath).unwrap();
    let xs: Vec<f64> = vec![0.0, 1.0, -2.5, 3.75, 1e-3, -1e3, 0.1, 42.0];
    let plain = PlainFile {
        tensors: vec![
            ("x".to_string(), PlainTensor::from_vec(&[2, 4], xs.clone()).unwrap()),
            ("y".to_string(), PlainTensor::from_vec(&[3], vec![7.0, -8.0, 9.0]).unwrap()),
        ],
        extra: Default::default(),
    };
    let cpath = dir.path().join("x.enc.safetensors");
    format::write_cipher(&cpath, &sk.encrypt_file(&plain).unwrap()).unwrap();

    let bytes = std::fs::read(&cpath).unwrap();
    let (meta, shape, c) = read_tensor_by_hand(&bytes, "x");
    assert_eq!(shape, vec![2, 4, 2, 2]);
    assert_eq!(meta["format"], "moreml");
    assert_eq!(meta["format_version"], "1");
    assert_eq!(meta["kind"], "ciphertext");
    assert_eq!(meta["dtype"], "f64");
    assert_eq!(meta["scheme"], "MORE-2x2-real");
    assert_eq!(meta["key_id"], key_id(S, -1.0));
    let basis: Vec<f64> = serde_json::from_str(meta["basis"].as_str().unwrap()).unwrap();
    assert_eq!(basis, vec![-3.0, 4.0, -2.0, 3.0]);
    for (i, m) in xs.iter().enumerate() {
        let e: [f64; 4] = c[4 * i..4 * i + 4].try_into().unwrap();
        let d = reference_unmask(S, e);
        let r = d[3];
        assert!((0.5 - 1e-12..1.5 + 1e-12).contains(&r), "r = {r}");
        let scale = m.abs() + r.abs();
        assert!((d[0] - m).abs() <= 1e-13 * scale, "[{i}] {} vs {m}", d[0]);
        assert!(d[1].abs() <= 1e-13 * scale && d[2].abs() <= 1e-13 * scale, "off-diagonal {d:?}");
        // The file holds C = S diag(m, r) S^-1 entry by entry: [c00, c01, c10, c11].
        let want = [2.0 * m - r, -2.0 * m + 2.0 * r, m - r, -m + 2.0 * r];
        for k in 0..4 {
            assert!((e[k] - want[k]).abs() <= 1e-13 * scale * 4.0, "[{i}] entry {k}: {} vs {}", e[k], want[k]);
        }
    }
    // A plaintext file is plain safetensors with the header entries.
    let ppath = dir.path().join("x.safetensors");
    format::write_plain(&ppath, &plain).unwrap();
    let (meta, shape, v) = read_tensor_by_hand(&std::fs::read(&ppath).unwrap(), "x");
    assert_eq!((meta["kind"].as_str(), shape, v), (Some("plaintext"), vec![2, 4], xs));
}

#[test]
fn foreign_safetensors_files_read_as_plaintext() {
    // A file without moreml metadata (as written by numpy/torch) is accepted as plaintext.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.safetensors");
    let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&1.5f32.to_le_bytes());
    bytes.extend_from_slice(&(-2.0f32).to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let f = format::read_plain::<f32>(&path).unwrap();
    assert_eq!(f.tensors[0].0, "w");
    assert_eq!(f.tensors[0].1.values(), &[1.5, -2.0]);
    assert_eq!(format::read_info(&path).unwrap().kind, format::Kind::Plaintext);
}
