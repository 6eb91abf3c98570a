//! Black-box tests of `moreml attack` and `moreml security-report`: the real binary recovers
//! plaintexts from files the real CLI encrypted, without ever being given the key. Every run
//! checks its exact exit code (0, 1 for a run-time error, 2 for a usage error).

mod common;
use common::{moreml, Dir, Run};
use moreml_cipher::format::{self, CipherFile, PlainFile};
use moreml_cipher::PlainTensor;
use moreml_more::{KeyParams, SecretKey};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Runs and asserts exit 0; returns stderr.
fn ok(args: &[&str]) -> String {
    moreml(args).ok().stderr
}

/// Runs and asserts a clean run-time error (exit 1, one `moreml: error:` line holding every phrase).
fn fails(args: &[&str], phrases: &[&str]) -> String {
    moreml(args).fails_with(phrases)
}

/// Runs and asserts a usage error from the argument parser: exit 2, no panic, `error:` first,
/// and every phrase in stderr.
fn usage_error(args: &[&str], phrases: &[&str]) {
    let r: Run = moreml(args).run();
    assert_eq!(r.output.status.code(), Some(2), "{}: exit status\n{}", r.cmdline, r.context());
    assert!(r.stderr.starts_with("error: ") && !r.stderr.contains("panicked"), "{}\n{}", r.cmdline, r.context());
    for p in phrases {
        assert!(r.stderr.contains(p), "{}: expected {p:?}\n{}", r.cmdline, r.context());
    }
}

/// Small digit-like images [n, 28, 28] on the 1/255 grid (mostly exact zeros).
fn images(n: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; n * 784];
    for (i, img) in v.chunks_exact_mut(784).enumerate() {
        let (cx, cy) = (14.0 + 4.0 * ((i as f32) * 0.7).sin(), 14.0 + 3.0 * ((i as f32) * 1.3).cos());
        for y in 0..28 {
            for x in 0..28 {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                let ring = (-(d - 7.0).powi(2) / 4.0).exp();
                let p = if ring < 0.05 { 0 } else { (ring * 255.0).round() as u8 };
                img[y * 28 + x] = p as f32 / 255.0;
            }
        }
    }
    v
}

fn write_plain(path: &Path, name: &str, shape: &[usize], values: Vec<f32>) {
    let file = PlainFile {
        tensors: vec![(name.to_string(), PlainTensor::from_vec(shape, values).unwrap())],
        extra: Default::default(),
    };
    format::write_plain(path, &file).unwrap();
}

/// A data owner's files: `plain.safetensors` (tensor `x` [n, 28, 28]), a key, its encryption.
struct Setup {
    dir: Dir,
    plain: PathBuf,
    key: PathBuf,
    ct: PathBuf,
    x: Vec<f32>,
}

fn setup(n: usize, r_dist: &str) -> Setup {
    let dir = Dir::new();
    let x = images(n);
    let plain = dir.path("plain.safetensors");
    write_plain(&plain, "x", &[n, 28, 28], x.clone());
    let key = dir.path("key.json");
    ok(&["keygen", "--out", s(&key), "--r-dist", r_dist]);
    let ct = dir.path("ct.safetensors");
    ok(&["encrypt", "--key", s(&key), "--input", s(&plain), "--output", s(&ct)]);
    Setup { dir, plain, key, ct, x }
}

/// Tensor `x` of the recovered file, after checking kind, dtype, shape and provenance.
fn recovered(path: &Path, shape: &[usize], method: &str) -> Vec<f32> {
    let info = format::read_info(path).unwrap();
    assert_eq!((info.kind, info.dtype), (format::Kind::Plaintext, "f32"));
    let f = format::read_plain::<f32>(path).unwrap();
    assert_eq!(f.tensors.len(), 1);
    assert_eq!(
        f.extra.get("moreml.recovered_by").map(String::as_str),
        Some(format!("moreml attack --method {method} (no key)").as_str())
    );
    let t = f.get("x", path).unwrap();
    assert_eq!(moreml_cipher::Domain::shape(t), shape);
    t.values().to_vec()
}

/// Fraction of values back on their 1/255 grid point and within f32 decryption error (1e-5).
/// A NaN never counts.
fn fraction_exact(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let hit =
        got.iter().zip(want).filter(|(g, w)| (*g * 255.0).round() == (*w * 255.0).round() && (*g - *w).abs() < 1e-5);
    hit.count() as f64 / want.len() as f64
}

/// `moreml attack --method <method>` on `input` with extra flags; returns (stderr, recovered x).
fn attack(t: &Setup, method: &str, extra: &[&str]) -> (String, Vec<f32>) {
    let out = t.dir.path(&format!("{method}.safetensors"));
    let mut args = vec!["attack", "--method", method, "--input", s(&t.ct), "--output", s(&out)];
    args.extend_from_slice(extra);
    let err = ok(&args);
    let n = t.x.len() / 784;
    (err, recovered(&out, &[n, 28, 28], method))
}

// ---------------------------------------------------------------------------------------------
// Recovery

// Attack D chooses per ciphertext: when the hidden r falls on the 1/255 grid within the f32
// eigenvalue error (~1e-7) both eigenvalues are plausible pixels and the choice is a coin flip.
// Measured 100% on these inputs (and 98.8-100% over repeated runs with fresh keys): D must stay
// above 98%; everything else must be exact.

#[test]
fn shared_eigen_recovers_every_pixel_without_key_or_pair() {
    let t = setup(4, "empirical");
    let (err, got) = attack(&t, "shared-eigen", &[]);
    assert!(err.contains("threat model: ciphertexts only") && err.contains("and 0 known pair(s)."), "{err}");
    assert!(err.contains("Data scorer: image smoothness + range (1 image tensor(s))"), "{err}");
    assert_eq!(fraction_exact(&got, &t.x), 1.0);
}

#[test]
fn linear_ciphertext_only_recovers_every_pixel() {
    let t = setup(4, "empirical");
    let (err, got) = attack(&t, "linear", &[]);
    assert!(err.contains("and 0 known pair(s).") && err.contains("Data scorer:"), "{err}");
    assert_eq!(fraction_exact(&got, &t.x), 1.0);
}

#[test]
fn eigen_recovers_nearly_every_pixel() {
    let t = setup(4, "empirical");
    let (err, got) = attack(&t, "eigen", &[]);
    assert!(err.contains("and 0 known pair(s).") && err.contains("on the grid 0.003922"), "{err}");
    let f = fraction_exact(&got, &t.x);
    assert!(f >= 0.98, "eigen: {f} exact");
}

#[test]
fn eigen_with_public_samples_and_no_grid() {
    let t = setup(3, "empirical");
    let public = t.dir.path("public.safetensors");
    write_plain(&public, "p", &[5, 784], images(8)[3 * 784..].to_vec());
    let (err, got) = attack(&t, "eigen", &["--public-samples", s(&public)]);
    assert!(err.contains("histogram of 3920 public samples"), "{err}");
    let f = fraction_exact(&got, &t.x);
    assert!(f >= 0.98, "eigen with public samples: {f} exact\n{err}");
    // without the grid (and without public samples) only the atom at 0 separates m from r: a
    // nonzero pixel whose r also lies in [0, 1] is a tie, decided by the larger eigenvalue.
    // Measured 0.869 here; the grid is what makes D exact.
    let (err, got) = attack(&t, "eigen", &["--grid", "none"]);
    assert!(!err.contains("on the grid") && err.contains("ties broken by p_m alone"), "{err}");
    let f = fraction_exact(&got, &t.x);
    assert!(f >= 0.75, "eigen without grid: {f} exact\n{err}");
}

#[test]
fn uniform_r_key_is_no_safer() {
    let t = setup(3, "uniform");
    let (_, got) = attack(&t, "shared-eigen", &[]);
    assert_eq!(fraction_exact(&got, &t.x), 1.0, "shared-eigen, uniform r");
    // U(0.5, 1.5) overlaps the upper half of the pixel range: a few percent of choices can be
    // coin flips (measured 97.6-100%)
    let (err, got) = attack(&t, "eigen", &["--r-dist", "uniform"]);
    assert!(err.contains("p_r: uniform on [0.5, 1.5]"), "{err}");
    let f = fraction_exact(&got, &t.x);
    assert!(f >= 0.95, "eigen, uniform r: {f}");
}

/// The attacker knows the first image: a prefix [1, 28, 28] of tensor `x`.
fn known_first_image(t: &Setup) -> PathBuf {
    let known = t.dir.path("known.safetensors");
    write_plain(&known, "x", &[1, 28, 28], t.x[..784].to_vec());
    known
}

#[test]
fn known_pair_and_linear_use_one_pair() {
    let t = setup(3, "empirical");
    let known = known_first_image(&t);
    for method in ["known-pair", "linear"] {
        let (err, got) = attack(&t, method, &["--known", s(&known)]);
        assert!(err.contains("and 1 known pair(s).") && !err.contains("Data scorer"), "{method}: {err}");
        assert_eq!(fraction_exact(&got, &t.x), 1.0, "{method}");
    }
}

#[test]
fn known_plaintext_uses_all_pairs_and_the_identity() {
    let t = setup(3, "empirical");
    let known = known_first_image(&t);
    let (err, got) = attack(&t, "known-plaintext", &["--known", s(&known)]);
    assert!(err.contains("and 784 known pair(s) plus the free pair (1, I)."), "{err}");
    assert_eq!(fraction_exact(&got, &t.x), 1.0);
}

#[test]
fn ciphertext_only_methods_ignore_known() {
    let t = setup(2, "empirical");
    let known = known_first_image(&t);
    let (err, got) = attack(&t, "shared-eigen", &["--known", s(&known)]);
    assert!(err.contains("--method shared-eigen is ciphertext-only; --known is ignored"), "{err}");
    assert!(err.contains("and 0 known pair(s)."), "{err}");
    assert_eq!(fraction_exact(&got, &t.x), 1.0);
}

/// One known value (NaN elsewhere) whose ciphertext is in a separate file under the same key.
fn separate_known(t: &Setup) -> (PathBuf, PathBuf) {
    let one = t.dir.path("one.safetensors");
    write_plain(&one, "k", &[4], vec![f32::NAN, 0.5, f32::NAN, f32::NAN]);
    let plain1 = t.dir.path("p1.safetensors");
    write_plain(&plain1, "k", &[4], vec![0.1, 0.5, 0.2, 0.3]);
    let ct1 = t.dir.path("ct1.safetensors");
    ok(&["encrypt", "--key", s(&t.key), "--input", s(&plain1), "--output", s(&ct1)]);
    (one, ct1)
}

#[test]
fn known_pair_via_known_ciphertexts() {
    let t = setup(3, "empirical");
    let (one, ct1) = separate_known(&t);
    let (err, got) = attack(&t, "known-pair", &["--known", s(&one), "--known-ciphertexts", s(&ct1)]);
    assert!(err.contains("and 1 known pair(s)."), "{err}");
    assert_eq!(fraction_exact(&got, &t.x), 1.0);
}

// ---------------------------------------------------------------------------------------------
// Bad input: one test per case, exact exit code, and no output file left behind

/// `moreml attack` with `args` after `--input CT --output OUT` must fail with exit 1.
fn attack_fails(t: &Setup, args: &[&str], phrases: &[&str]) {
    let out = t.dir.path("out.safetensors");
    let mut all = vec!["attack", "--input", s(&t.ct), "--output", s(&out)];
    all.extend_from_slice(args);
    fails(&all, phrases);
    assert!(!out.exists(), "a failed attack wrote {}", out.display());
}

#[test]
fn known_pair_without_known_is_an_error() {
    let t = setup(1, "empirical");
    attack_fails(&t, &["--method", "known-pair"], &["--method known-pair needs known plaintexts: pass --known"]);
}

#[test]
fn known_plaintext_without_known_is_an_error() {
    let t = setup(1, "empirical");
    attack_fails(
        &t,
        &["--method", "known-plaintext"],
        &["--method known-plaintext needs known plaintexts: pass --known"],
    );
}

#[test]
fn attack_takes_no_key() {
    let t = setup(1, "empirical");
    let out = t.dir.path("out.safetensors");
    let args = ["attack", "--method", "shared-eigen", "--input", s(&t.ct), "--output", s(&out), "--key", s(&t.key)];
    usage_error(&args, &["unexpected argument '--key'"]);
}

#[test]
fn plaintext_input_is_an_error() {
    let t = setup(1, "empirical");
    let out = t.dir.path("out.safetensors");
    fails(&["attack", "--method", "eigen", "--input", s(&t.plain), "--output", s(&out)], &["is a plaintext file"]);
    assert!(!out.exists());
}

#[test]
fn missing_input_is_an_error() {
    let t = setup(1, "empirical");
    let out = t.dir.path("out.safetensors");
    let missing = t.dir.path("missing.safetensors");
    fails(&["attack", "--method", "eigen", "--input", s(&missing), "--output", s(&out)], &["cannot read --input"]);
}

#[test]
fn known_must_be_a_plaintext_file() {
    let t = setup(1, "empirical");
    attack_fails(&t, &["--method", "known-pair", "--known", s(&t.ct)], &["--known takes the known PLAINTEXTS"]);
}

#[test]
fn known_tensor_must_exist_in_input() {
    let t = setup(1, "empirical");
    let other = t.dir.path("other.safetensors");
    write_plain(&other, "y", &[1], vec![0.5]);
    let phrase = "--known has tensor 'y' but --input has none of that name (it has: x)";
    attack_fails(&t, &["--method", "known-pair", "--known", s(&other)], &[phrase]);
}

#[test]
fn known_prefix_longer_than_input_is_an_error() {
    let t = setup(1, "empirical");
    let long = t.dir.path("long.safetensors");
    write_plain(&long, "x", &[2, 784], images(2));
    let phrase = "known tensor 'x' has 1568 values but --input's 'x' only 784";
    attack_fails(&t, &["--method", "known-pair", "--known", s(&long)], &[phrase]);
}

#[test]
fn all_nan_known_is_an_error() {
    let t = setup(1, "empirical");
    let nan = t.dir.path("nan.safetensors");
    write_plain(&nan, "x", &[3], vec![f32::NAN; 3]);
    attack_fails(&t, &["--method", "known-plaintext", "--known", s(&nan)], &["holds no known value"]);
}

#[test]
fn known_ciphertexts_under_another_key_are_an_error() {
    let t = setup(1, "empirical");
    let other = setup(1, "empirical");
    let (one, ct1) = separate_known(&other);
    let args = ["--method", "known-pair", "--known", s(&one), "--known-ciphertexts", s(&ct1)];
    attack_fails(&t, &args, &["is under key", "known pairs must be under the attacked key"]);
}

#[test]
fn known_ciphertexts_need_known() {
    let t = setup(1, "empirical");
    let out = t.dir.path("out.safetensors");
    let args = ["attack", "--method", "known-pair", "--input", s(&t.ct), "--output", s(&out)];
    usage_error(&[&args[..], &["--known-ciphertexts", s(&t.ct)]].concat(), &["--known <PLAIN.safetensors>"]);
}

#[test]
fn public_samples_must_be_plaintext() {
    let t = setup(1, "empirical");
    let phrase = "--public-samples takes public sample PLAINTEXTS";
    attack_fails(&t, &["--method", "eigen", "--public-samples", s(&t.ct)], &[phrase]);
}

#[test]
fn grid_finer_than_the_noise_is_an_error() {
    let t = setup(1, "empirical");
    let phrases = ["cannot build the eigen priors", "is larger than half the grid step 0.000000000001"];
    attack_fails(&t, &["--method", "eigen", "--grid", "1e-12"], &phrases);
}

#[test]
fn negative_r_jitter_is_an_error() {
    let t = setup(1, "empirical");
    attack_fails(&t, &["--method", "eigen", "--r-jitter=-0.5"], &["r jitter must be finite and >= 0, got -0.5"]);
}

#[test]
fn bad_grid_is_a_usage_error() {
    let t = setup(1, "empirical");
    let out = t.dir.path("out.safetensors");
    let args = ["attack", "--method", "eigen", "--input", s(&t.ct), "--output", s(&out), "--grid", "fine"];
    usage_error(&args, &["--grid", "expected auto, none or a positive step, got 'fine'"]);
}

#[test]
fn bad_image_and_range_are_usage_errors() {
    let t = setup(1, "empirical");
    let out = t.dir.path("out.safetensors");
    let base = ["attack", "--method", "shared-eigen", "--input", s(&t.ct), "--output", s(&out)];
    usage_error(&[&base[..], &["--image", "0x5"]].concat(), &["image sides must be > 0"]);
    usage_error(&[&base[..], &["--data-range", "1,0"]].concat(), &["need finite LO < HI, got 1,0"]);
    usage_error(&[&base[..], &["--image", "28x28", "--no-image"]].concat(), &["cannot be used with"]);
}

#[test]
fn unknown_method_lists_the_attacks() {
    let dir = Dir::new();
    let (i, o) = (dir.arg("a"), dir.arg("b"));
    usage_error(
        &["attack", "--method", "rsa", "--input", &i, "--output", &o],
        &["linear, known-pair, known-plaintext, eigen, shared-eigen"],
    );
}

#[test]
fn help_documents_the_known_pairs_format_and_takes_no_key() {
    let r = moreml(&["attack", "--help"]).ok();
    assert!(r.stdout.contains("Known-pairs format") && r.stdout.contains("Threat model"), "{}", r.stdout);
    assert!(!r.stdout.contains("--key"), "{}", r.stdout);
    for m in ["linear", "known-pair", "known-plaintext", "eigen", "shared-eigen"] {
        assert!(r.stdout.contains(&format!("  {m}")), "{m} missing in\n{}", r.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// security-report

/// Top-level keys of report.json (the README documents them).
const REPORT_KEYS: [&str; 12] = [
    "command",
    "data",
    "definitions",
    "format",
    "model",
    "noise",
    "pngs",
    "rows",
    "seed",
    "summary",
    "total_seconds",
    "version",
];

fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn unit(v: &serde_json::Value, what: &str) -> f64 {
    let x = v.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!((0.0..=1.0).contains(&x), "{what} = {x} outside [0, 1]");
    x
}

fn read_report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// The attacks of a report row: every method once (A twice), each recovering the pixel grid.
fn check_attacks(attacks: &[serde_json::Value], min_grid: f64, what: &str) {
    let labels: Vec<&str> = attacks.iter().map(|a| a["attack"].as_str().unwrap()).collect();
    let expected =
        ["linear (ciphertext-only)", "linear (1 known pair)", "known-pair", "known-plaintext", "eigen", "shared-eigen"];
    assert_eq!(labels, expected, "{what}");
    for a in attacks {
        let label = a["attack"].as_str().unwrap();
        assert!(a["threat_model"].is_string() && a["method"].is_string(), "{what} {label}: {a}");
        let secs = a["seconds"].as_f64().unwrap();
        assert!(secs.is_finite() && secs >= 0.0, "{what} {label}: seconds {secs}");
        unit(&a["fraction_recovered"], label);
        let grid = unit(&a["fraction_exact_on_grid"], label);
        assert!(grid >= min_grid, "{what} {label}: {grid} exact on the grid");
        let pairs = a["known_pairs_used"].as_u64().unwrap();
        let expected = (label.contains("pair") || label == "known-plaintext") as u64;
        assert_eq!(pairs, expected, "{what} {label}: known pairs used");
    }
}

#[test]
fn security_report_on_synthetic_data() {
    let dir = Dir::new();
    let out = dir.path("sec");
    // A small encrypted "model" with its key, to exercise --model / --model-key. Key and
    // encryption are seeded (through the library; the CLI always draws fresh ones): over 30
    // fresh keys the linear attacks recovered 0.93-1.0 of the weights, but one CI run drew a
    // key where linear (ciphertext-only) got 0.78, below the bar asserted here.
    let key = dir.path("mkey.json");
    let owner = SecretKey::generate_with_rng(KeyParams::default(), &mut ChaCha20Rng::seed_from_u64(41)).unwrap();
    owner.save(&key).unwrap();
    let w: Vec<f32> = (0..60).map(|i| ((i * 37 % 23) as f32 - 11.0) / 40.0).collect();
    let w = owner.encrypt_with_rng(&PlainTensor::from_vec(&[6, 10], w).unwrap(), &mut ChaCha20Rng::seed_from_u64(42));
    let file =
        CipherFile { key: owner.tag().clone(), tensors: vec![("fc.w".into(), w.unwrap())], extra: Default::default() };
    let model = dir.path("model.safetensors");
    format::write_cipher(&model, &file).unwrap();
    let args =
        ["security-report", "--out", s(&out), "--images", "20", "--seed", "3", "--model", s(&model), "--model-key"];
    let err = ok(&[&args[..], &[s(&key)]].concat());
    assert!(err.contains("SYNTHETIC") && err.contains("report.json"), "{err}");
    let report = read_report(&out);
    assert_eq!(keys(&report), REPORT_KEYS);
    assert_eq!((report["format"].as_str(), report["version"].as_u64()), (Some("moreml-security-report"), Some(1)));
    assert_eq!(report["seed"], 3);
    assert_eq!((report["data"]["synthetic"].as_bool(), report["data"]["images"].as_u64()), (Some(true), Some(20)));
    assert_eq!(keys(&report["definitions"]).len(), 7);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let what = row["row"].as_str().unwrap();
        assert_eq!(row["ciphertexts"], 20 * 784, "{what}");
        assert_eq!(row["eigen_grid_detected"].as_f64(), Some(1.0 / 255.0), "{what}");
        let honest = unit(&row["honest_decryption"]["fraction_exact_on_grid"], "honest");
        assert_eq!(honest, 1.0, "{what}");
        // measured: every attack 1.0 exact on the grid except eigen (>= 0.9999 on 15,680 values)
        let attacks = row["attacks"].as_array().unwrap();
        check_attacks(attacks, 0.999, what);
        for a in attacks.iter().filter(|a| a["attack"] != "eigen") {
            assert_eq!(a["fraction_exact_on_grid"].as_f64(), Some(1.0), "{what}: {a}");
        }
        // B and E recover exactly what honest decryption recovers within rel_tol (measured equal)
        let honest_frac = unit(&row["honest_decryption"]["fraction_recovered"], "honest");
        for label in ["known-pair", "shared-eigen"] {
            let a = attacks.iter().find(|a| a["attack"] == label).unwrap();
            let f = unit(&a["fraction_recovered"], label);
            assert!((f - honest_frac).abs() <= 1e-3, "{what} {label}: {f} vs honest {honest_frac}");
        }
        let d = attacks.iter().find(|a| a["attack"] == "eigen").unwrap();
        let (pred, meas) = (unit(&d["predicted_rate"], "predicted"), unit(&d["measured_rate"], "measured"));
        assert!(pred >= 0.99 && meas >= 0.999, "{what}: predicted {pred}, measured {meas}");
    }
    let noise = report["noise"]["rows"].as_array().unwrap();
    let sigmas: Vec<f64> = noise.iter().map(|r| r["sigma"].as_f64().unwrap()).collect();
    assert_eq!(sigmas, [1e-6, 1e-3]);
    // sigma 1e-6: noise far below the grid, every attack still exact (measured 1.0; eigen >= 0.99)
    check_attacks(noise[0]["attacks"].as_array().unwrap(), 0.99, "noise 1e-6");
    let m = &report["model"];
    assert_eq!((m["ciphertexts"].as_u64(), m["same_key_images_added"].as_u64()), (Some(60), Some(20)));
    let model_keys = [
        "agreement_between_attacks",
        "attacks",
        "ciphertexts",
        "eigen_prior",
        "ground_truth",
        "key_id",
        "note",
        "path",
        "same_key_images_added",
        "tensors",
    ];
    assert_eq!(keys(m), model_keys);
    assert_eq!(m["agreement_between_attacks"].as_object().unwrap().len(), 15, "6 runs, every pair once");
    // The weights within 1e-6 relative: over 30 fresh keys B and E recovered 1.0, A and C
    // 0.93-1.0 (once 0.78 in CI, hence the seeded key above); D has no prior on weights
    // (about 0.5, a coin flip).
    for a in m["attacks"].as_array().unwrap() {
        let label = a["attack"].as_str().unwrap();
        let f = unit(&a["fraction_recovered"], label);
        let need = match label {
            "known-pair" | "shared-eigen" => 0.95,
            "eigen" => 0.0,
            _ => 0.85,
        };
        assert!(f >= need, "model {label}: {f} recovered (need {need})");
        assert_eq!(a["ciphertexts_used"], 60 + 20 * 784, "model {label}: the model plus the same-key images");
    }
    let pngs: Vec<&str> = report["pngs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(pngs, ["recovered_empirical_r.png", "recovered_uniform_r.png", "noise.png"]);
    for png in pngs {
        assert!(std::fs::read(out.join(png)).unwrap().starts_with(b"\x89PNG"), "{png}");
    }
}

#[test]
fn security_report_rejects_a_plaintext_model() {
    let t = setup(1, "empirical");
    let out = t.dir.path("sec");
    let phrase = "is a plaintext file; pass the encrypted model";
    fails(&["security-report", "--out", s(&out), "--images", "2", "--model", s(&t.plain)], &[phrase]);
    assert!(!out.join("report.json").exists());
}

#[test]
fn security_report_model_key_needs_model() {
    let dir = Dir::new();
    let (o, k) = (dir.arg("sec"), dir.arg("k.json"));
    usage_error(&["security-report", "--out", &o, "--model-key", &k], &["--model <MODEL>"]);
}
