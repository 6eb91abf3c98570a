//! Bad input on the owner side: wrong keys, damaged files, edited key files, non-finite data.
//! Every case must give a specific error (never a panic, never silently wrong values).
mod common;
use common::*;
use moreml_cipher::format::{self, CipherFile, PlainFile};
use moreml_cipher::prelude::*;
use moreml_cipher::Error as CErr;
use moreml_more::{Error, RDistribution, SecretKey};
use std::path::Path;

fn sample_plain() -> PlainFile<f64> {
    let a = PlainTensor::from_vec(&[3, 4], (0..12).map(|i| i as f64 * 0.25 - 1.0).collect()).unwrap();
    let b = PlainTensor::from_vec(&[5], vec![1.5, -2.0, 3.25, 0.0, 7.0]).unwrap();
    PlainFile { tensors: vec![("a".into(), a), ("b".into(), b)], extra: Default::default() }
}

fn write_sample_cipher(dir: &Path, sk: &SecretKey) -> (std::path::PathBuf, CipherFile<f64>) {
    let c = sk.encrypt_file(&sample_plain()).unwrap();
    let path = dir.join("c.safetensors");
    format::write_cipher(&path, &c).unwrap();
    (path, c)
}

fn header_len(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

#[test]
fn wrong_key_is_refused_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key(1, 10.0, RDistribution::default()), key(2, 10.0, RDistribution::default()));
    let (path, _) = write_sample_cipher(dir.path(), &a);
    let file = format::read_cipher::<f64>(&path).unwrap();
    let e = b.decrypt_file(&file).unwrap_err();
    assert!(matches!(&e, Error::WrongKey { expected, found } if expected == b.key_id() && found == a.key_id()), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("wrong key") && msg.contains(a.key_id()), "{msg}");
}

#[test]
fn wrong_key_behind_a_forged_id_fails_integrity() {
    // Ciphertexts of key B relabelled as key A: the id check passes, the integrity check must not.
    let (a, b) = (key(3, 10.0, RDistribution::default()), key(4, 10.0, RDistribution::default()));
    let mut file = b.encrypt_file(&sample_plain()).unwrap();
    file.key = a.tag().clone();
    let e = a.decrypt_file(&file).unwrap_err();
    assert!(e.to_string().contains("integrity check failed"), "{e}");
}

#[test]
fn truncated_files_are_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let sk = key(5, 10.0, RDistribution::default());
    let (path, _) = write_sample_cipher(dir.path(), &sk);
    let full = std::fs::read(&path).unwrap();
    let h = header_len(&full);
    let cuts = [0, 1, 7, 8, 9, h / 2, h - 1, h, h + 1, h + 8, (h + full.len()) / 2, full.len() - 1];
    for cut in cuts {
        let p = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&p, &full[..cut]).unwrap();
        // A cut header is truncated; a whole header over a short data section is damaged.
        let e = format::read_cipher::<f64>(&p).unwrap_err();
        let (ok, word) = if cut < h {
            (matches!(e, CErr::Truncated { .. }), "truncated")
        } else {
            (matches!(e, CErr::Damaged { .. } | CErr::Truncated { .. }), "damaged")
        };
        assert!(ok, "cut at {cut}: {e}");
        assert!(e.to_string().contains(word) && e.to_string().contains(&*p.to_string_lossy()), "{e}");
        // The header-only reader agrees whenever the header itself is cut.
        if cut < h {
            let e = format::read_info(&p).unwrap_err();
            assert!(matches!(e, CErr::Truncated { .. }), "read_info, cut at {cut}: {e}");
        }
    }
    // The same for plaintext files.
    let pp = dir.path().join("p.safetensors");
    format::write_plain(&pp, &sample_plain()).unwrap();
    let full = std::fs::read(&pp).unwrap();
    for cut in [3, header_len(&full) - 2, full.len() - 3] {
        std::fs::write(&pp, &full[..cut]).unwrap();
        let e = format::read_plain::<f64>(&pp).unwrap_err();
        assert!(matches!(e, CErr::Truncated { .. } | CErr::Damaged { .. }), "plain cut at {cut}: {e}");
    }
}

#[test]
fn corrupted_ciphertext_fails_integrity() {
    let dir = tempfile::tempdir().unwrap();
    let sk = key(6, 10.0, RDistribution::default());
    let (path, _) = write_sample_cipher(dir.path(), &sk);
    let clean = std::fs::read(&path).unwrap();
    let h = header_len(&clean);
    // Tensor "a" comes first in the data section (names are sorted); ciphertext 5 of it, entry
    // c01: flip its sign bit, then (second case) a high mantissa byte.
    for (entry, byte, mask) in [(1usize, 7usize, 0x80u8), (2, 6, 0x0f), (0, 7, 0x80)] {
        let mut bytes = clean.clone();
        let info = format::read_info(&path).unwrap();
        assert_eq!(info.entries[0].name, "a");
        let off = h + (5 * 4 + entry) * 8 + byte;
        bytes[off] ^= mask;
        std::fs::write(&path, &bytes).unwrap();
        let file = format::read_cipher::<f64>(&path).unwrap();
        let e = sk.decrypt_file(&file).unwrap_err();
        assert!(e.to_string().contains("tensor 'a'") && e.to_string().contains("integrity check failed"), "{e}");
        // A server refuses it too, before computing anything.
        let e = CipherTensor::from_wire_tagged(file.get("a", &path).unwrap(), &file.key, "a").unwrap_err();
        assert!(matches!(&e, CErr::OutOfAlgebra { index: 5, key_id, .. } if key_id == sk.key_id()), "{e}");
    }
}

#[test]
fn non_finite_values_are_refused() {
    let sk = key(7, 10.0, RDistribution::default());
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let x = PlainTensor::<f64>::from_vec(&[4], vec![1.0, 2.0, bad, 4.0]).unwrap();
        let e = sk.encrypt(&x).unwrap_err();
        assert!(matches!(e, Error::Cipher(CErr::NonFinite { index: 2, .. })), "{e}");
        assert!(e.to_string().contains("non-finite"), "{e}");
        let mut w = sk.encrypt(&PlainTensor::<f64>::from_vec(&[2], vec![1.0, 2.0]).unwrap()).unwrap();
        w.raw_mut()[5] = bad;
        let e = sk.decrypt(&w).unwrap_err();
        assert!(matches!(e, Error::Cipher(CErr::NonFinite { index: 1, .. })), "{e}");
        let e = CipherTensor::from_wire(&w, &sk.tag().basis, "w").unwrap_err();
        assert!(matches!(e, CErr::NonFinite { index: 1, .. }), "{e}");
    }
    let x = PlainTensor::<f32>::from_vec(&[2], vec![f32::NAN, 0.0]).unwrap();
    assert!(sk.encrypt(&x).is_err());
}

#[test]
fn missing_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.safetensors");
    let e = format::read_plain::<f32>(&missing).unwrap_err();
    assert!(matches!(e, CErr::Io { .. }) && e.to_string().contains("nope.safetensors"), "{e}");
    assert!(format::read_info(&missing).is_err());
    let e = SecretKey::load(&dir.path().join("nokey.json")).unwrap_err();
    assert!(e.to_string().contains("nokey.json"), "{e}");
    let out = dir.path().join("no/such/dir/out.safetensors");
    let e = format::write_plain(&out, &sample_plain()).unwrap_err();
    assert!(matches!(e, CErr::Io { .. }) && e.to_string().contains("out.safetensors"), "{e}");
    let e = key(8, 10.0, RDistribution::default()).save(&dir.path().join("no/key.json")).unwrap_err();
    assert!(e.to_string().contains("key.json"), "{e}");
}

#[test]
fn wrong_kind_and_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let sk = key(9, 10.0, RDistribution::default());
    let (cpath, _) = write_sample_cipher(dir.path(), &sk);
    let ppath = dir.path().join("p.safetensors");
    format::write_plain(&ppath, &sample_plain()).unwrap();
    let e = format::read_plain::<f64>(&cpath).unwrap_err();
    assert!(
        matches!(e, CErr::WrongKind { expected: "plaintext", .. }) && e.to_string().contains("decrypt it first"),
        "{e}"
    );
    let e = format::read_cipher::<f64>(&ppath).unwrap_err();
    assert!(
        matches!(e, CErr::WrongKind { expected: "ciphertext", .. }) && e.to_string().contains("encrypt it first"),
        "{e}"
    );
    let e = format::read_cipher::<f32>(&cpath).unwrap_err();
    assert!(matches!(e, CErr::WrongDtype { expected: "f32", .. }), "{e}");
    // Not a safetensors file at all.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\x10\0\0\0\0\0\0\0{not json at all}").unwrap();
    let e = format::read_plain::<f32>(&junk).unwrap_err();
    assert!(matches!(e, CErr::NotAMoremlFile { .. }), "{e}");
    assert!(matches!(format::read_info(&junk).unwrap_err(), CErr::NotAMoremlFile { .. }));
}

#[test]
fn edited_key_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sk = key(10, 10.0, RDistribution::default());
    let path = dir.path().join("key.json");
    sk.save(&path).unwrap();
    let loaded = SecretKey::load(&path).unwrap();
    assert_eq!(loaded.key_id(), sk.key_id());
    assert_eq!(loaded.tag(), sk.tag());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut j = json.clone();
        f(&mut j);
        serde_json::to_string(&j).unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("key_id", edit(&|j| j["key_id"] = "0123456789abcdef".into()), "does not match"),
        ("matrix", edit(&|j| j["s"][0] = (j["s"][0].as_f64().unwrap() + 0.125).into()), "does not match"),
        ("sign", edit(&|j| j["basis_sign"] = (-j["basis_sign"].as_f64().unwrap()).into()), "does not match"),
        ("format", edit(&|j| j["format"] = "something-else".into()), "is not moreml-secret-key"),
        ("version", edit(&|j| j["version"] = 2.into()), "is not moreml-secret-key v1"),
        ("scheme", edit(&|j| j["scheme"] = "MORE-3x3".into()), "is not moreml-secret-key"),
        ("singular", edit(&|j| j["s"] = serde_json::json!([1.0, 2.0, 2.0, 4.0])), "well conditioned"),
        ("bad sign", edit(&|j| j["basis_sign"] = 0.5.into()), "well conditioned"),
        (
            "bad r",
            edit(&|j| j["params"]["r"] = serde_json::json!({"kind": "uniform", "low": 2.0, "high": 1.0})),
            "uniform r low 2 must be below high 1",
        ),
        ("bad json", text[..text.len() / 2].to_string(), "EOF"),
        ("empty", String::new(), "EOF"),
        (
            "missing field",
            edit(&|j| {
                j.as_object_mut().unwrap().remove("s");
            }),
            "missing field",
        ),
    ];
    for (what, content, phrase) in cases {
        std::fs::write(&path, content).unwrap();
        let e = SecretKey::load(&path).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::BadKeyFile { .. }), "{what}: {msg}");
        assert!(msg.contains("not a usable moreml key file") && msg.contains(phrase), "{what}: {msg}");
    }
}

#[test]
fn key_debug_is_redacted() {
    let sk = key(11, 10.0, RDistribution::default());
    let d = format!("{sk:?}");
    assert!(d.contains("redacted") && d.contains(sk.key_id()), "{d}");
    assert!(!d.contains('.'), "no numbers in Debug output: {d}");
}

/// Regression: key files must round-trip every f64 bit of S (the key id hashes them). Without
/// serde_json's `float_roundtrip` parsing, freshly saved keys failed to load (seed 0 already).
#[test]
fn save_load_round_trips_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    for seed in 0..100 {
        let sk = key(100 + seed, 10.0, RDistribution::default());
        sk.save(&path).unwrap();
        let back = SecretKey::load(&path).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(back.tag(), sk.tag());
        assert_eq!(back.condition(), sk.condition());
    }
}
