//! The README's owner/server workflow and the MNIST experiment, run literally through the
//! binary. Data: MNIST from `MOREML_MNIST_DIR` when set (a wrong path fails the test), else
//! the built-in synthetic digits, so these tests always run.

mod common;

use common::{moreml, Dir};
use moreml_cipher::format;
use moreml_experiments::metrics::{argmax_rows, rel_diff};
use std::path::{Path, PathBuf};

/// `--data-dir DIR` for MNIST, or `--synthetic`.
fn data_args() -> Vec<String> {
    match std::env::var_os("MOREML_MNIST_DIR") {
        None => vec!["--synthetic".into()],
        Some(dir) => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
            let dir = PathBuf::from(dir);
            let found = [dir.clone(), root.join(&dir)]
                .into_iter()
                .find(|d| d.join("t10k-labels-idx1-ubyte.gz").exists() || d.join("t10k-labels-idx1-ubyte").exists());
            let found = found.unwrap_or_else(|| {
                panic!("MOREML_MNIST_DIR={} holds no MNIST IDX files; fix or unset it", dir.display())
            });
            vec!["--data-dir".into(), found.display().to_string()]
        }
    }
}

fn args(fixed: &[&str], more: &[String]) -> Vec<String> {
    fixed.iter().map(|s| s.to_string()).chain(more.iter().cloned()).collect()
}

fn read_f64(path: &Path, name: &str) -> Vec<f64> {
    let f = format::read_plain::<f64>(path).unwrap();
    f.get(name, path).unwrap().values().to_vec()
}

/// keygen -> dataset -> encrypt -> train (default epochs) -> predict -> evaluate -> decrypt,
/// next to plaintext training on the same data: the owner sees the same model.
#[test]
fn readme_workflow_encrypted_equals_plaintext_training() {
    let d = Dir::new();
    let p = |n: &str| d.arg(n);
    moreml(&["keygen", "--out", &p("key.json")]).ok();
    let sizes = ["--train-size", "2000", "--test-size", "500"];
    let mut ds = args(&["dataset", "mnist", "--out", &p("data")], &data_args());
    ds.extend(sizes.iter().map(|s| s.to_string()));
    moreml(&ds).ok();
    for split in ["train", "test"] {
        let input = p(&format!("data/{split}.safetensors"));
        moreml(&[
            "encrypt",
            "--key",
            &p("key.json"),
            "--input",
            &input,
            "--output",
            &p(&format!("{split}.enc.safetensors")),
        ])
        .ok();
    }
    // Server: encrypted training with the default epochs; plaintext training alongside.
    let run = moreml(&["train", "--data", &p("train.enc.safetensors"), "--out", &p("model.safetensors")]).ok();
    assert!(run.stderr.contains("epoch 10/10"), "per-epoch lines expected\n{}", run.context());
    moreml(&["train", "--data", &p("data/train.safetensors"), "--out", &p("plain_model.safetensors")]).ok();
    moreml(&[
        "predict",
        "--model",
        &p("model.safetensors"),
        "--input",
        &p("test.enc.safetensors"),
        "--output",
        &p("pred.enc"),
    ])
    .ok();
    let pred_plain = p("pred.plain.safetensors");
    moreml(&[
        "predict",
        "--model",
        &p("plain_model.safetensors"),
        "--input",
        &p("data/test.safetensors"),
        "--output",
        &pred_plain,
    ])
    .ok();
    // Owner: evaluate, decrypt predictions and the model.
    let eval = moreml(&[
        "evaluate",
        "--key",
        &p("key.json"),
        "--predictions",
        &p("pred.enc"),
        "--labels",
        &p("data/test.safetensors"),
        "--out",
        &p("eval.json"),
    ])
    .ok();
    let acc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p("eval.json")).unwrap()).unwrap();
    let acc = acc["accuracy"].as_f64().expect("accuracy is a number");
    assert!(acc > 0.85, "encrypted model accuracy {acc}\n{}", eval.context());
    moreml(&["decrypt", "--key", &p("key.json"), "--input", &p("pred.enc"), "--output", &p("pred.dec.safetensors")])
        .ok();
    let (enc, plain) = (
        read_f64(Path::new(&p("pred.dec.safetensors")), "predictions"),
        read_f64(Path::new(&pred_plain), "predictions"),
    );
    let rel = rel_diff(&plain, &enc);
    assert!(rel <= 1e-9, "decrypted encrypted predictions differ from plaintext by {rel:e}");
    assert_eq!(argmax_rows(&plain, 10), argmax_rows(&enc, 10), "predicted labels differ");
    // The decrypted model is an ordinary plaintext model with the plaintext model's weights.
    moreml(&[
        "decrypt",
        "--key",
        &p("key.json"),
        "--input",
        &p("model.safetensors"),
        "--output",
        &p("model.dec.safetensors"),
    ])
    .ok();
    for name in ["layer0.weight", "layer0.bias", "layer2.weight", "layer2.bias"] {
        let a = read_f64(Path::new(&p("plain_model.safetensors")), name);
        let b = read_f64(Path::new(&p("model.dec.safetensors")), name);
        let rel = rel_diff(&a, &b);
        assert!(rel <= 1e-9, "{name}: decrypted weights differ from plaintext by {rel:e}");
    }
    // The hidden side of the weights (readable with the key) stays bounded.
    let key = moreml_more::SecretKey::load(Path::new(&p("key.json"))).unwrap();
    let model = format::read_cipher::<f64>(Path::new(&p("model.safetensors"))).unwrap();
    for (name, w) in &model.tensors {
        let r = moreml_experiments::metrics::max_abs(key.hidden_values(w).values().iter().copied());
        assert!(r < 2.0, "{name}: hidden side grew to {r}");
    }
}

fn report(dir: &Dir) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.path("report/report.json")).unwrap()).unwrap()
}

/// The experiment command with its defaults (10 epochs, MLP, f64).
#[test]
fn mnist_experiment_defaults_encrypted_equals_plaintext() {
    let dir = Dir::new();
    let mut a =
        args(&["mnist", "--out", &dir.arg("report"), "--train-size", "3000", "--test-size", "500"], &data_args());
    a.push("--threads=2".into());
    moreml(&a).ok();
    let r = report(&dir);
    assert_eq!(r["diverged"], false);
    assert_eq!(r["agreement"].as_f64(), Some(1.0), "{r:#}");
    let rel = r["max_rel_diff"].as_f64().expect("max_rel_diff is a number");
    assert!(rel < 1e-12, "max rel diff {rel:e}");
    assert!(r["encrypted"]["accuracy"].as_f64().unwrap() > 0.9);
    assert_eq!(r["plain"]["accuracy"], r["encrypted"]["accuracy"]);
    for fig in ["training_curves.png", "confusion_matrix.png", "server_view.png", "outputs_scatter.png"] {
        assert!(dir.path("report").join(fig).metadata().unwrap().len() > 1000, "{fig}");
    }
}

/// f32 encrypted training works (the loss runs in f64): same labels, outputs to f32 precision.
#[test]
fn mnist_experiment_f32_mlp_and_cnn() {
    for (arch, epochs, tol) in [("mlp", "5", 1e-4), ("cnn", "2", 1e-4)] {
        let dir = Dir::new();
        let fixed =
            ["mnist", "--out", &dir.arg("report"), "--train-size", "1500", "--test-size", "300", "--dtype", "f32"];
        let mut a = args(&fixed, &data_args());
        a.extend(["--arch", arch, "--epochs", epochs].map(String::from));
        moreml(&a).ok();
        let r = report(&dir);
        assert_eq!(r["diverged"], false, "{arch}");
        assert!(r["agreement"].as_f64().unwrap() >= 0.99, "{arch}: {r:#}");
        let rel = r["max_rel_diff"].as_f64().expect("a number, not null");
        assert!(rel < tol, "{arch}: max rel diff {rel:e}");
    }
}

/// A diverging run exits non-zero, says so, and its report has null figures and diverged: true.
#[test]
fn diverged_experiment_exits_nonzero_with_honest_report() {
    let dir = Dir::new();
    let a = args(
        &[
            "mnist",
            "--out",
            &dir.arg("report"),
            "--train-size",
            "500",
            "--test-size",
            "100",
            "--lr",
            "1000",
            "--epochs",
            "2",
        ],
        &data_args(),
    );
    let run = moreml(&a).run();
    assert_eq!(run.output.status.code(), Some(1), "{}", run.context());
    assert!(run.stderr.contains("diverged"), "{}", run.context());
    let r = report(&dir);
    assert_eq!(r["diverged"], true);
    assert!(r["max_rel_diff"].is_null() && r["agreement"].is_null(), "{r:#}");
}

/// `train` stops at the first non-finite value, names where, and writes no model.
#[test]
fn diverged_train_writes_no_model() {
    let d = Dir::new();
    let mut ds =
        args(&["dataset", "mnist", "--out", &d.arg("data"), "--train-size", "300", "--test-size", "50"], &data_args());
    ds.push("--dtype=f64".into());
    moreml(&ds).ok();
    let line =
        moreml(&["train", "--data", &d.arg("data/train.safetensors"), "--lr", "1e6", "--out", &d.arg("m.safetensors")])
            .run();
    assert_eq!(line.output.status.code(), Some(1));
    assert!(line.stderr.contains("training diverged: non-finite values in"), "{}", line.context());
    assert!(line.stderr.contains(" at epoch ") && line.stderr.contains(", step "), "{}", line.context());
    assert!(!d.path("m.safetensors").exists(), "a diverged model was written");
}

/// Outputs that are inputs are refused before any work.
#[test]
fn train_and_predict_refuse_to_overwrite_inputs() {
    let d = Dir::new();
    let mut ds =
        args(&["dataset", "mnist", "--out", &d.arg("data"), "--train-size", "200", "--test-size", "50"], &data_args());
    ds.push("--dtype=f32".into());
    moreml(&ds).ok();
    let train = d.arg("data/train.safetensors");
    let before = std::fs::read(&train).unwrap();
    moreml(&["train", "--data", &train, "--out", &train]).fails_with(&["is the same file as the input"]);
    moreml(&["train", "--data", &train, "--epochs", "1", "--out", &d.arg("m.safetensors")]).ok();
    moreml(&["predict", "--model", &d.arg("m.safetensors"), "--input", &train, "--output", &d.arg("m.safetensors")])
        .fails_with(&["is the same file as the input"]);
    assert_eq!(std::fs::read(&train).unwrap(), before);
}
