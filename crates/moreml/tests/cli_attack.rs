//! Black-box tests of `moreml attack` and `moreml security-report` (issue 4): the real binary
//! recovers plaintexts from files the real CLI encrypted, without ever being given the key.

use moreml_cipher::format::{self, PlainFile};
use moreml_cipher::PlainTensor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

fn moreml(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_moreml"))
        .args(args)
        .env_remove("MOREML_MNIST_DIR")
        .output()
        .expect("run moreml");
    out
}

fn ok(args: &[&str]) -> String {
    let out = moreml(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "moreml {args:?} failed:\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    eprintln!("moreml {}: {stderr}", args[0]);
    stderr
}

fn fail(args: &[&str]) -> String {
    let out = moreml(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "moreml {args:?} should fail; stderr: {stderr}");
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Small digit-like images [n, 28, 28] on the 1/255 grid (mostly exact zeros), and a 1-D tensor.
fn images(n: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; n * 784];
    for (i, img) in v.chunks_exact_mut(784).enumerate() {
        for y in 0..28 {
            for x in 0..28 {
                let (cx, cy) = (14.0 + 4.0 * ((i as f32) * 0.7).sin(), 14.0 + 3.0 * ((i as f32) * 1.3).cos());
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                let ring = (-(d - 7.0).powi(2) / 4.0).exp();
                let p = if ring < 0.05 { 0 } else { (ring * 255.0).round() as u8 };
                img[y * 28 + x] = p as f32 / 255.0;
            }
        }
    }
    v
}

/// Writes `plain.safetensors` (tensor `x` [n, 28, 28]), a key and its encryption.
fn setup(dir: &Dir, n: usize, r_dist: &str) -> (PathBuf, PathBuf, Vec<f32>) {
    let x = images(n);
    let file = PlainFile {
        tensors: vec![("x".to_string(), PlainTensor::from_vec(&[n, 28, 28], x.clone()).unwrap())],
        extra: Default::default(),
    };
    let plain = dir.path("plain.safetensors");
    format::write_plain(&plain, &file).unwrap();
    let key = dir.path("key.json");
    ok(&["keygen", "--out", s(&key), "--r-dist", r_dist]);
    let ct = dir.path("ct.safetensors");
    ok(&["encrypt", "--key", s(&key), "--input", s(&plain), "--output", s(&ct)]);
    (ct, key, x)
}

fn recovered(path: &Path, name: &str, shape: &[usize]) -> Vec<f32> {
    let f = format::read_plain::<f32>(path).unwrap();
    let t = f.get(name, path).unwrap();
    assert_eq!(moreml_cipher::Domain::shape(t), shape);
    t.values().to_vec()
}

/// Exact on the 1/255 grid and within f32 honest-decryption error.
fn assert_recovered(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    let mut worst = 0.0f32;
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g * 255.0).round(), (w * 255.0).round(), "{what}: {g} vs {w}");
        worst = worst.max((g - w).abs());
    }
    assert!(worst < 1e-5, "{what}: max abs error {worst}");
}

/// Attack D chooses per ciphertext: when the hidden r happens to fall on the 1/255 grid within
/// the f32 rounding (probability ~1e-4 per value) both eigenvalues are plausible pixels and the
/// choice is a coin flip; the f32 eigenvalue error (~1e-7) also blurs the grid test. Measured
/// 98.8-100% over repeated runs with fresh keys; everything else must be exact.
fn assert_mostly_recovered(got: &[f32], want: &[f32], what: &str, rate: f64) {
    assert_eq!(got.len(), want.len());
    let ok = got
        .iter()
        .zip(want)
        .filter(|(g, w)| (*g * 255.0).round() == (*w * 255.0).round() && (*g - *w).abs() < 1e-5)
        .count();
    assert!(ok as f64 >= rate * want.len() as f64, "{what}: {ok} of {} recovered", want.len());
}

#[test]
fn ciphertext_only_attacks_recover_without_a_key() {
    let dir = Dir::new();
    let (ct, _key, x) = setup(&dir, 4, "empirical");
    for method in ["shared-eigen", "linear", "eigen"] {
        let out = dir.path(&format!("{method}.safetensors"));
        let err = ok(&["attack", "--method", method, "--input", s(&ct), "--output", s(&out)]);
        assert!(err.contains("threat model") && err.contains("0 known pair"), "{err}");
        let info = format::read_info(&out).unwrap();
        assert_eq!(info.kind, format::Kind::Plaintext);
        assert_eq!(info.dtype, "f32");
        let got = recovered(&out, "x", &[4, 28, 28]);
        if method == "eigen" {
            assert_mostly_recovered(&got, &x, method, 0.98)
        } else {
            assert_recovered(&got, &x, method)
        }
    }
}

#[test]
fn uniform_r_key_is_no_safer() {
    let dir = Dir::new();
    let (ct, _key, x) = setup(&dir, 3, "uniform");
    let out = dir.path("e.safetensors");
    ok(&["attack", "--method", "shared-eigen", "--input", s(&ct), "--output", s(&out)]);
    assert_recovered(&recovered(&out, "x", &[3, 28, 28]), &x, "shared-eigen, uniform r");
    ok(&["attack", "--method", "eigen", "--r-dist", "uniform", "--input", s(&ct), "--output", s(&out)]);
    // U(0.5, 1.5) overlaps the upper half of the pixel range, and f32 eigenvalues are only
    // within ~1e-7 of the grid: a few percent of choices are coin flips (measured 97.6-100%).
    assert_mostly_recovered(&recovered(&out, "x", &[3, 28, 28]), &x, "eigen, uniform r", 0.95);
}

#[test]
fn known_pair_attacks_recover_exactly() {
    let dir = Dir::new();
    let (ct, key, x) = setup(&dir, 3, "empirical");
    // The attacker knows the first image: a prefix [1, 28, 28] of tensor `x`.
    let known = dir.path("known.safetensors");
    let file = PlainFile {
        tensors: vec![("x".to_string(), PlainTensor::from_vec(&[1, 28, 28], x[..784].to_vec()).unwrap())],
        extra: Default::default(),
    };
    format::write_plain(&known, &file).unwrap();
    for method in ["known-pair", "known-plaintext", "linear"] {
        let out = dir.path(&format!("{method}.safetensors"));
        let err = ok(&["attack", "--method", method, "--input", s(&ct), "--output", s(&out), "--known", s(&known)]);
        assert!(!err.contains(" 0 known pair"), "{err}");
        assert_recovered(&recovered(&out, "x", &[3, 28, 28]), &x, method);
    }
    // Separate ciphertexts of the known values: one known pixel value, NaN elsewhere.
    let one = dir.path("one.safetensors");
    let mut v = vec![f32::NAN; 4];
    v[1] = 0.5;
    let f = PlainFile {
        tensors: vec![("k".to_string(), PlainTensor::from_vec(&[4], v).unwrap())],
        extra: Default::default(),
    };
    format::write_plain(&one, &f).unwrap();
    let plain1 = dir.path("p1.safetensors");
    let f = PlainFile {
        tensors: vec![("k".to_string(), PlainTensor::from_vec(&[4], vec![0.1f32, 0.5, 0.2, 0.3]).unwrap())],
        extra: Default::default(),
    };
    format::write_plain(&plain1, &f).unwrap();
    let ct1 = dir.path("ct1.safetensors");
    ok(&["encrypt", "--key", s(&key), "--input", s(&plain1), "--output", s(&ct1)]);
    let out = dir.path("kp.safetensors");
    let err = ok(&[
        "attack",
        "--method",
        "known-pair",
        "--input",
        s(&ct),
        "--output",
        s(&out),
        "--known",
        s(&one),
        "--known-ciphertexts",
        s(&ct1),
    ]);
    assert!(err.contains("1 known pair"), "{err}");
    assert_recovered(&recovered(&out, "x", &[3, 28, 28]), &x, "known-pair via --known-ciphertexts");
}

#[test]
fn clear_errors() {
    let dir = Dir::new();
    let (ct, key, _) = setup(&dir, 2, "empirical");
    let out = dir.path("out.safetensors");
    for method in ["known-pair", "known-plaintext"] {
        let err = fail(&["attack", "--method", method, "--input", s(&ct), "--output", s(&out)]);
        assert!(err.contains(&format!("--method {method} needs known plaintexts: pass --known")), "{err}");
    }
    assert!(!out.exists());
    // no key flag at all
    let err = fail(&["attack", "--method", "shared-eigen", "--input", s(&ct), "--output", s(&out), "--key", s(&key)]);
    assert!(err.contains("unexpected argument '--key'"), "{err}");
    // a plaintext input
    let plain = dir.path("plain.safetensors");
    let err = fail(&["attack", "--method", "eigen", "--input", s(&plain), "--output", s(&out)]);
    assert!(err.contains("is a plaintext file"), "{err}");
    // known file of the wrong kind, or naming no input tensor
    let err = fail(&["attack", "--method", "known-pair", "--input", s(&ct), "--output", s(&out), "--known", s(&ct)]);
    assert!(err.contains("--known takes the known PLAINTEXTS"), "{err}");
    let other = dir.path("other.safetensors");
    let f = PlainFile {
        tensors: vec![("y".to_string(), PlainTensor::from_vec(&[1], vec![0.5f32]).unwrap())],
        extra: Default::default(),
    };
    format::write_plain(&other, &f).unwrap();
    let err = fail(&["attack", "--method", "known-pair", "--input", s(&ct), "--output", s(&out), "--known", s(&other)]);
    assert!(err.contains("--input has none of that name (it has: x)"), "{err}");
    // one known pair is not enough for known-plaintext without... it is, with the identity; a
    // pair whose ciphertext is a multiple of I (m == r) is not
    let help = ok_stdout(&["attack", "--help"]);
    assert!(help.contains("Known-pairs format") && !help.contains("--key"), "{help}");
}

fn ok_stdout(args: &[&str]) -> String {
    let out = moreml(args);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn security_report_on_synthetic_data() {
    let dir = Dir::new();
    let out = dir.path("sec");
    // a small encrypted "model" with its key, to exercise --model / --model-key
    let key = dir.path("mkey.json");
    ok(&["keygen", "--out", s(&key)]);
    let w: Vec<f32> = (0..60).map(|i| ((i * 37 % 23) as f32 - 11.0) / 40.0).collect();
    let f = PlainFile {
        tensors: vec![("fc.w".to_string(), PlainTensor::from_vec(&[6, 10], w).unwrap())],
        extra: Default::default(),
    };
    let wp = dir.path("w.safetensors");
    format::write_plain(&wp, &f).unwrap();
    let model = dir.path("model.safetensors");
    ok(&["encrypt", "--key", s(&key), "--input", s(&wp), "--output", s(&model)]);
    let err = ok(&[
        "security-report",
        "--out",
        s(&out),
        "--images",
        "20",
        "--seed",
        "3",
        "--model",
        s(&model),
        "--model-key",
        s(&key),
    ]);
    assert!(err.contains("SYNTHETIC"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["data"]["synthetic"], true);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let attacks = row["attacks"].as_array().unwrap();
        let methods: Vec<&str> = attacks.iter().map(|a| a["method"].as_str().unwrap()).collect();
        for m in ["linear", "known-pair", "known-plaintext", "eigen", "shared-eigen"] {
            assert!(methods.contains(&m), "{m} missing in {methods:?}");
        }
        for a in attacks {
            assert!(a["seconds"].as_f64().is_some() && a["threat_model"].is_string(), "{a}");
            // every attack recovers the (quantised) pixels as well as honest decryption
            assert!(a["fraction_exact_on_grid"].as_f64().unwrap() > 0.99, "{a}");
        }
        let d = attacks.iter().find(|a| a["method"] == "eigen").unwrap();
        assert!(d["predicted_rate"].as_f64().is_some() && d["measured_rate"].as_f64().is_some());
    }
    assert_eq!(report["noise"]["rows"].as_array().unwrap().len(), 2);
    let model = &report["model"];
    assert_eq!(model["ciphertexts"], 60);
    let e = model["attacks"].as_array().unwrap().iter().find(|a| a["method"] == "shared-eigen").unwrap();
    assert!(e["fraction_recovered"].as_f64().unwrap() > 0.9, "{e}");
    for png in report["pngs"].as_array().unwrap() {
        let p = out.join(png.as_str().unwrap());
        assert!(std::fs::read(&p).unwrap().starts_with(b"\x89PNG"), "{}", p.display());
    }
}
