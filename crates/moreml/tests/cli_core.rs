//! Black-box tests of the owner commands for issue "MORE cryptosystem core": keygen, encrypt,
//! inspect, decrypt, end to end on multi-tensor f32 and f64 files, and every kind of bad input
//! (each must exit 1 with exactly one `moreml: error: ...` line on stderr, never a panic).
mod common;
use common::*;
use moreml_cipher::format::{self, PlainFile};
use moreml_cipher::{Domain, Float, PlainTensor};

/// A value that must never appear in `inspect` output.
const DISTINCTIVE: f64 = 1234.5678;

/// A multi-tensor plaintext file of scalar `T`: names with dots, 1-D to 3-D shapes.
fn plain_file<T: Float>() -> PlainFile<T> {
    let t = |shape: &[usize], f: &dyn Fn(usize) -> f64| {
        let n: usize = shape.iter().product();
        PlainTensor::from_vec(shape, (0..n).map(|i| T::of(f(i))).collect()).unwrap()
    };
    PlainFile {
        tensors: vec![
            ("images".into(), t(&[4, 3, 5], &|i| ((i * 37) % 11) as f64 / 10.0)),
            ("labels".into(), t(&[4], &|i| i as f64)),
            ("layer.0.weight".into(), t(&[3, 2], &|i| if i == 4 { DISTINCTIVE } else { (i as f64 - 2.5) * 0.3 })),
            ("scalar".into(), t(&[1], &|_| -7.25)),
        ],
        extra: [("moreml.content".to_string(), "test data".to_string())].into(),
    }
}

fn write_plain<T: Float>(dir: &Dir, name: &str) -> String {
    format::write_plain(&dir.path(name), &plain_file::<T>()).unwrap();
    dir.arg(name)
}

fn keygen(dir: &Dir, name: &str) -> String {
    moreml(&["keygen", "--out", &dir.arg(name)]).ok();
    dir.arg(name)
}

/// Writes a key file by hand, readable by its owner only (as `keygen` does).
fn write_private(path: &str, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

fn key_id_of(path: &str) -> String {
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    j["key_id"].as_str().unwrap().to_string()
}

fn round_trip<T: Float>(tol: f64) {
    let dir = Dir::new();
    let key = keygen(&dir, "key.json");
    let input = write_plain::<T>(&dir, "data.safetensors");
    let enc = dir.arg("data.enc.safetensors");
    let dec = dir.arg("data.dec.safetensors");
    let r = moreml(&["encrypt", "--key", &key, "--input", &input, "--output", &enc]).ok();
    assert!(r.stderr.contains("encrypted 4 tensor(s)"), "{}", r.context());

    // inspect: kind, dtype, key id, names and stored shapes; never values.
    let id = key_id_of(&key);
    let r = moreml(&["inspect", "--input", &enc]).ok();
    let all = format!("{}{}", r.stdout, r.stderr);
    for want in [
        "ciphertext",
        T::NAME,
        id.as_str(),
        "images",
        "[4, 3, 5, 2, 2]",
        "layer.0.weight",
        "[3, 2, 2, 2]",
        "moreml.content",
    ] {
        assert!(r.stdout.contains(want), "inspect lacks {want:?}\n{}", r.context());
    }
    assert!(!all.contains("1234.5") && !all.contains("-7.25"), "inspect printed values\n{}", r.context());
    let j: serde_json::Value =
        serde_json::from_str(&moreml(&["inspect", "--json", "--input", &enc]).ok().stdout).unwrap();
    assert_eq!(j["key_id"], id.as_str());
    assert_eq!(j["dtype"], T::NAME);
    assert_eq!(j["tensors"].as_array().unwrap().len(), 4);
    let r = moreml(&["inspect", "--input", &input]).ok();
    assert!(r.stdout.contains("plaintext") && !r.stdout.contains("key id"), "{}", r.context());
    assert!(!r.stdout.contains("1234.5"), "inspect printed a plaintext value\n{}", r.context());

    moreml(&["decrypt", "--key", &key, "--input", &enc, "--output", &dec]).ok();
    let orig = plain_file::<T>();
    let back = format::read_plain::<T>(&dir.path("data.dec.safetensors")).unwrap();
    assert_eq!(back.extra.get("moreml.content").map(String::as_str), Some("test data"));
    assert_eq!(back.tensors.len(), orig.tensors.len());
    for ((n1, t1), (n2, t2)) in orig.tensors.iter().zip(&back.tensors) {
        assert_eq!(n1, n2);
        assert_eq!(t1.shape(), t2.shape(), "{n1}");
        let scale = t1.values().iter().fold(1.0f64, |m, v| m.max(v.f64().abs()));
        for (a, b) in t1.values().iter().zip(t2.values()) {
            assert!((a.f64() - b.f64()).abs() <= tol * scale, "{n1}: {a} vs {b}");
        }
    }
}

#[test]
fn end_to_end_f32() {
    round_trip::<f32>(2e-5);
}

#[test]
fn end_to_end_f64() {
    round_trip::<f64>(1e-12);
}

#[test]
fn keygen_refuses_overwrite_and_writes_0600() {
    let dir = Dir::new();
    let key = keygen(&dir, "key.json");
    let id = key_id_of(&key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    moreml(&["keygen", "--out", &key]).fails_with(&["already exists", "--force"]);
    assert_eq!(key_id_of(&key), id, "the key must be untouched");
    moreml(&["keygen", "--out", &key, "--force"]).ok();
    assert_ne!(key_id_of(&key), id);
    moreml(&["keygen", "--out", &dir.arg("no/such/dir/key.json")]).fails_with(&["key.json"]);
    moreml(&["keygen", "--out", &dir.arg("k2.json"), "--max-condition", "1.0"]).fails_with(&["max_condition"]);
    moreml(&["keygen", "--out", &dir.arg("k3.json"), "--r-dist", "uniform", "--r-low", "2", "--r-high", "1"])
        .fails_with(&["uniform r low 2 must be below high 1"]);
}

/// A key, a plaintext file and its encryption, in one directory.
fn encrypted(dir: &Dir) -> (String, String, String) {
    let key = keygen(dir, "key.json");
    let input = write_plain::<f64>(dir, "p.safetensors");
    let enc = dir.arg("c.safetensors");
    moreml(&["encrypt", "--key", &key, "--input", &input, "--output", &enc]).ok();
    (key, input, enc)
}

#[test]
fn wrong_key_is_refused() {
    let dir = Dir::new();
    let (key, _, enc) = encrypted(&dir);
    let other = keygen(&dir, "other.json");
    let line = moreml(&["decrypt", "--key", &other, "--input", &enc, "--output", &dir.arg("out.safetensors")])
        .fails_with(&["wrong key", &key_id_of(&key), &key_id_of(&other), "c.safetensors"]);
    assert!(!dir.path("out.safetensors").exists(), "{line}");
}

#[test]
fn truncated_ciphertext_files() {
    let dir = Dir::new();
    let (key, _, enc) = encrypted(&dir);
    let full = std::fs::read(&enc).unwrap();
    let h = 8 + u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    for cut in [0, 5, 8, h / 2, h - 1, h, h + 3, (h + full.len()) / 2, full.len() - 1] {
        let p = dir.arg(&format!("cut{cut}.safetensors"));
        std::fs::write(&p, &full[..cut]).unwrap();
        let name = format!("cut{cut}.safetensors");
        // A cut header is "truncated"; an intact header over a short data section "damaged",
        // for every command, inspect included (it checks the data section against the header).
        let phrase = if cut < h { "truncated" } else { "damaged" };
        moreml(&["decrypt", "--key", &key, "--input", &p, "--output", &dir.arg("o.safetensors")])
            .fails_with(&[phrase, &name]);
        moreml(&["encrypt", "--key", &key, "--input", &p, "--output", &dir.arg("o.safetensors")])
            .fails_with(&[phrase, &name]);
        moreml(&["inspect", "--input", &p]).fails_with(&[phrase, &name]);
    }
}

#[test]
fn corrupted_ciphertext_fails_integrity() {
    let dir = Dir::new();
    let (key, _, enc) = encrypted(&dir);
    let mut bytes = std::fs::read(&enc).unwrap();
    let h = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // First tensor ("images"), ciphertext 2, entry c01: flip the sign bit.
    bytes[h + (2 * 4 + 1) * 8 + 7] ^= 0x80;
    std::fs::write(&enc, &bytes).unwrap();
    moreml(&["decrypt", "--key", &key, "--input", &enc, "--output", &dir.arg("o.safetensors")]).fails_with(&[
        "integrity check failed",
        "tensor 'images'",
        "damaged",
    ]);
}

#[test]
fn non_finite_plaintext_is_refused() {
    let dir = Dir::new();
    let key = keygen(&dir, "key.json");
    for (i, bad) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY].into_iter().enumerate() {
        let name = format!("bad{i}.safetensors");
        let t = PlainTensor::from_vec(&[3], vec![1.0, bad, 2.0]).unwrap();
        format::write_plain(&dir.path(&name), &PlainFile { tensors: vec![("x".into(), t)], extra: Default::default() })
            .unwrap();
        moreml(&["encrypt", "--key", &key, "--input", &dir.arg(&name), "--output", &dir.arg("o.safetensors")])
            .fails_with(&["non-finite", "tensor 'x'"]);
    }
}

#[test]
fn missing_files_and_wrong_kinds() {
    let dir = Dir::new();
    let (key, input, enc) = encrypted(&dir);
    let out = dir.arg("o.safetensors");
    moreml(&["encrypt", "--key", &key, "--input", &dir.arg("nope.safetensors"), "--output", &out])
        .fails_with(&["nope.safetensors"]);
    moreml(&["decrypt", "--key", &key, "--input", &dir.arg("nope.safetensors"), "--output", &out])
        .fails_with(&["nope.safetensors"]);
    moreml(&["inspect", "--input", &dir.arg("nope.safetensors")]).fails_with(&["nope.safetensors"]);
    moreml(&["encrypt", "--key", &dir.arg("nokey.json"), "--input", &input, "--output", &out])
        .fails_with(&["cannot load the --key file", "nokey.json"]);
    moreml(&["encrypt", "--key", &key, "--input", &input, "--output", &dir.arg("no/dir/o.safetensors")])
        .fails_with(&["o.safetensors"]);
    moreml(&["decrypt", "--key", &key, "--input", &enc, "--output", &dir.arg("no/dir/o.safetensors")])
        .fails_with(&["o.safetensors"]);
    moreml(&["decrypt", "--key", &key, "--input", &input, "--output", &out])
        .fails_with(&["is a plaintext file; nothing to decrypt", "p.safetensors"]);
    moreml(&["encrypt", "--key", &key, "--input", &enc, "--output", &out])
        .fails_with(&["already a ciphertext file", "c.safetensors"]);
    // A key file given as data, and garbage data.
    moreml(&["encrypt", "--key", &key, "--input", &key, "--output", &out]).fails_with(&["key.json"]);
    assert!(!dir.path("o.safetensors").exists());
}

#[test]
fn edited_key_files_are_refused() {
    let dir = Dir::new();
    let (key, input, _) = encrypted(&dir);
    let text = std::fs::read_to_string(&key).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut j = json.clone();
        f(&mut j);
        j.to_string()
    };
    let cases = [
        (edit(&|j| j["key_id"] = "00000000deadbeef".into()), "does not match the key matrix"),
        (edit(&|j| j["s"][1] = (j["s"][1].as_f64().unwrap() * 1.5).into()), "does not match the key matrix"),
        (edit(&|j| j["format"] = "pem".into()), "is not moreml-secret-key"),
        (text[..text.len() - 5].to_string(), "EOF"),
        ("not json".to_string(), "expected"),
    ];
    for (i, (content, phrase)) in cases.iter().enumerate() {
        let k = dir.arg(&format!("edited{i}.json"));
        write_private(&k, content.as_bytes());
        moreml(&["encrypt", "--key", &k, "--input", &input, "--output", &dir.arg("o.safetensors")]).fails_with(&[
            "cannot load the --key file",
            "not a usable moreml key file",
            phrase,
        ]);
    }
}

#[test]
fn inspect_never_prints_values_of_ciphertexts_or_plaintexts() {
    let dir = Dir::new();
    let (key, input, enc) = encrypted(&dir);
    let id = key_id_of(&key);
    let wire = format::read_cipher::<f64>(&dir.path("c.safetensors")).unwrap();
    // Some ciphertext entries, formatted as a printer would.
    let samples: Vec<String> = wire.tensors[0].1.raw()[..8].iter().map(|v| format!("{:.4}", v)).collect();
    for (path, json) in [(&enc, false), (&enc, true), (&input, false), (&input, true)] {
        let args: Vec<&str> =
            if json { vec!["inspect", "--json", "--input", path] } else { vec!["inspect", "--input", path] };
        let r = moreml(&args).ok();
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(!all.contains("1234.5"), "value printed\n{}", r.context());
        for s in &samples {
            assert!(!all.contains(s.as_str()), "ciphertext entry {s} printed\n{}", r.context());
        }
        assert_eq!(all.contains(&id), path == &enc, "key id only for ciphertexts\n{}", r.context());
    }
}

/// The key file format as documented: key_id = first 8 bytes (hex) of
/// SHA-256("moreml-key-v1" || S entries f64 LE || basis_sign f64 LE).
fn documented_key_id(s: [f64; 4], sign: f64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"moreml-key-v1");
    for v in s.iter().chain([&sign]) {
        h.update(v.to_le_bytes());
    }
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn hand_written_key_and_reference_decryption() {
    let dir = Dir::new();
    let s = [0.5, -1.25, 0.75, 1.0];
    let key = serde_json::json!({
        "format": "moreml-secret-key", "version": 1, "scheme": "MORE-2x2-real",
        "key_id": documented_key_id(s, 1.0), "s": s, "basis_sign": 1.0,
        "params": {"max_condition": 10.0, "r": {"kind": "uniform", "low": -2.0, "high": 2.0}},
    });
    write_private(&dir.arg("key.json"), key.to_string().as_bytes());
    let input = write_plain::<f64>(&dir, "p.safetensors");
    let enc = dir.arg("c.safetensors");
    moreml(&["encrypt", "--key", &dir.arg("key.json"), "--input", &input, "--output", &enc]).ok();
    let r = moreml(&["inspect", "--input", &enc]).ok();
    assert!(r.stdout.contains(&documented_key_id(s, 1.0)), "{}", r.context());
    // Decrypt with the textbook formula m = (S^-1 C S)[0][0], nothing from moreml-more.
    let det = s[0] * s[3] - s[1] * s[2];
    let si = [s[3] / det, -s[1] / det, -s[2] / det, s[0] / det];
    let mm = |a: [f64; 4], b: [f64; 4]| {
        [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]]
    };
    let wire = format::read_cipher::<f64>(&dir.path("c.safetensors")).unwrap();
    let plain = plain_file::<f64>();
    for ((name, c), (_, p)) in wire.tensors.iter().zip(&plain.tensors) {
        for (e, m) in c.raw().chunks_exact(4).zip(p.values()) {
            let d = mm(mm(si, [e[0], e[1], e[2], e[3]]), s);
            assert!((d[0] - m).abs() <= 1e-12 * (m.abs() + 2.0), "{name}: {} vs {m}", d[0]);
            // Inputs get the key's uniform r; `labels` (a target by name) record-level r:
            // another record's label plus jitter 0.01.
            let r_range = if name == "labels" { -0.02..3.02 } else { -2.0 - 1e-12..2.0 + 1e-12 };
            assert!(r_range.contains(&d[3]), "{name}: r = {}", d[3]);
            assert!(d[1].abs().max(d[2].abs()) <= 1e-12 * (m.abs() + 2.0), "{name}: off-diagonal {d:?}");
        }
    }
}

/// `moreml fetch` is the only command that uses the network. Here (no network) it must fail
/// with one clear line; where a mirror is reachable it must succeed with verified files.
#[test]
fn fetch_fails_cleanly_offline() {
    let dir = Dir::new();
    let run = moreml(&["fetch", "mnist", "--dir", &dir.arg("mnist")]).run();
    if run.output.status.success() {
        assert!(dir.path("mnist/t10k-labels-idx1-ubyte.gz").exists(), "{}", run.context());
    } else {
        let last = run.stderr.lines().last().unwrap_or_default().to_string();
        assert!(last.starts_with("moreml: error:") && last.contains("mirror"), "{}", run.context());
        assert!(!run.stderr.contains("panicked"), "{}", run.context());
    }
}

/// Roles: a file without roles metadata gets `labels` as target (said on stderr); `--targets`
/// extends the roles; the roles entry travels into the ciphertext file and back through
/// decrypt; targets get record-level r (the hidden side of a record is another record).
#[test]
fn roles_are_read_extended_and_carried() {
    let dir = Dir::new();
    let (key, input, enc) = encrypted(&dir);
    let roles_of = |p: &str| {
        let info = format::read_info(std::path::Path::new(p)).unwrap();
        format::Roles::from_extra(&info.extra).unwrap().expect("roles entry")
    };
    let r = roles_of(&enc);
    assert_eq!(r.targets().collect::<Vec<_>>(), ["labels"]);
    assert_eq!(r.role("images"), Some(format::Role::Input));
    let dec = dir.arg("d.safetensors");
    moreml(&["decrypt", "--key", &key, "--input", &enc, "--output", &dec]).ok();
    assert_eq!(roles_of(&dec), r, "roles survive decrypt");

    let enc2 = dir.arg("c2.safetensors");
    let run = moreml(&["encrypt", "--key", &key, "--input", &input, "--output", &enc2, "--targets", "scalar"]).ok();
    assert!(!run.stderr.contains("declares no roles"), "explicit --targets: no guess\n{}", run.context());
    assert!(run.stderr.contains("targets: scalar"), "{}", run.context());
    assert_eq!(roles_of(&enc2).targets().collect::<Vec<_>>(), ["scalar"]);

    let run = moreml(&["encrypt", "--key", &key, "--input", &input, "--output", &dir.arg("c3.safetensors")]).ok();
    assert!(run.stderr.contains("treated tensor 'labels' as a training target"), "{}", run.context());
    // Re-encrypting the decrypted file keeps its declared roles, with no guessing.
    let run = moreml(&["encrypt", "--key", &key, "--input", &dec, "--output", &dir.arg("c4.safetensors")]).ok();
    assert!(!run.stderr.contains("declares no roles"), "{}", run.context());
}

/// Regression targets (continuous values) with record-level r decrypt exactly, and f32 values
/// far smaller than their r are reported as imprecise with the advice to use f64.
#[test]
fn regression_targets_and_precision_report() {
    let dir = Dir::new();
    let key = keygen(&dir, "key.json");
    let y: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin() * 12.5 + 3.0).collect();
    let extra = [("moreml.roles".to_string(), r#"{"y":"target"}"#.to_string())].into();
    let t = PlainTensor::from_vec(&[50, 1], y.clone()).unwrap();
    format::write_plain(&dir.path("y.safetensors"), &PlainFile::<f64> { tensors: vec![("y".into(), t)], extra })
        .unwrap();
    moreml(&["encrypt", "--key", &key, "--input", &dir.arg("y.safetensors"), "--output", &dir.arg("y.enc")]).ok();
    let run = moreml(&["decrypt", "--key", &key, "--input", &dir.arg("y.enc"), "--output", &dir.arg("y.dec")]).ok();
    assert!(run.stderr.contains("precision: all 50 values within"), "{}", run.context());
    let back = format::read_plain::<f64>(&dir.path("y.dec")).unwrap();
    for (a, b) in back.tensors[0].1.values().iter().zip(&y) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }

    // f32 values 1e-6 under a key whose r is ~1e3.
    let k2 = dir.arg("k2.json");
    moreml(&["keygen", "--out", &k2, "--r-dist", "uniform", "--r-low", "500", "--r-high", "1000"]).ok();
    let small = PlainTensor::from_vec(&[8], vec![1e-6f32; 8]).unwrap();
    let file = PlainFile { tensors: vec![("x".into(), small)], extra: Default::default() };
    format::write_plain(&dir.path("s.safetensors"), &file).unwrap();
    moreml(&["encrypt", "--key", &k2, "--input", &dir.arg("s.safetensors"), "--output", &dir.arg("s.enc")]).ok();
    let run = moreml(&["decrypt", "--key", &k2, "--input", &dir.arg("s.enc"), "--output", &dir.arg("s.dec")]).ok();
    assert!(
        run.stderr.contains("precision: 8 of 8 values (x: 8) have a relative error bound above 1e-3")
            && run.stderr.contains("encrypt the data as f64"),
        "{}",
        run.context()
    );
}
