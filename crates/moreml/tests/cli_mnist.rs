//! The MNIST experiment and the owner/server workflow, end to end on small subsets of the real
//! data. Skipped (with a message) when `MOREML_MNIST_DIR` is not set.

mod common;

use common::{moreml, Dir};
use std::path::PathBuf;

fn mnist_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("MOREML_MNIST_DIR")?);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    [dir.clone(), root.join(&dir)]
        .into_iter()
        .find(|d| d.join("t10k-labels-idx1-ubyte.gz").exists() || d.join("t10k-labels-idx1-ubyte").exists())
}

macro_rules! need_mnist {
    () => {
        match mnist_dir() {
            Some(d) => d.display().to_string(),
            None => {
                eprintln!("skipped: set MOREML_MNIST_DIR to the MNIST IDX files");
                return;
            }
        }
    };
}

#[test]
fn mnist_experiment_encrypted_equals_plaintext() {
    let data = need_mnist!();
    let dir = Dir::new();
    let out = dir.arg("report");
    moreml(&[
        "mnist",
        "--data-dir",
        &data,
        "--out",
        &out,
        "--train-size",
        "2000",
        "--test-size",
        "500",
        "--epochs",
        "2",
    ])
    .ok();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("report/report.json")).unwrap()).unwrap();
    let f = |p: &str| report.pointer(p).and_then(|v| v.as_f64()).unwrap_or_else(|| panic!("{p} missing in {report}"));
    assert!(f("/plain/accuracy") > 0.8, "{report}");
    assert_eq!(f("/plain/accuracy"), f("/encrypted/accuracy"));
    assert_eq!(f("/agreement"), 1.0);
    assert!(f("/max_rel_diff_epoch1") < 1e-10, "{report}");
    assert!(f("/max_rel_diff") < 1e-10, "{report}");
    assert!(f("/plain/epoch_seconds") > 0.0 && f("/encrypted/epoch_seconds") > 0.0);
    assert!(f("/encrypted/inference_images_per_second") > 0.0);
    // The hidden side of the weights (read with the key) stays bounded over the run.
    for r in report.pointer("/encrypted/hidden_weights_max_abs_each").unwrap().as_array().unwrap() {
        assert!(r.as_f64().unwrap() < 1.0, "hidden weights grew: {report}");
    }
    for png in ["training_curves.png", "confusion_matrix.png", "server_view.png", "outputs_scatter.png"] {
        assert!(dir.path("report").join(png).exists(), "{png} missing");
    }
}

#[test]
fn owner_server_workflow_and_bad_inputs() {
    let data = need_mnist!();
    let dir = Dir::new();
    let (key, other) = (dir.arg("key.json"), dir.arg("other.json"));
    moreml(&["keygen", "--out", &key]).ok();
    moreml(&["keygen", "--out", &other]).ok();
    moreml(&[
        "dataset",
        "mnist",
        "--data-dir",
        &data,
        "--out",
        &dir.arg("plain"),
        "--train-size",
        "600",
        "--test-size",
        "200",
    ])
    .ok();
    let (train, test) = (dir.arg("plain/train.safetensors"), dir.arg("plain/test.safetensors"));
    let (etrain, etest, etest_other) = (dir.arg("train.enc"), dir.arg("test.enc"), dir.arg("test.other.enc"));
    moreml(&["encrypt", "--key", &key, "--input", &train, "--output", &etrain]).ok();
    moreml(&["encrypt", "--key", &key, "--input", &test, "--output", &etest]).ok();
    moreml(&["encrypt", "--key", &other, "--input", &test, "--output", &etest_other]).ok();
    // Server: no key anywhere.
    let model = dir.arg("model.safetensors");
    moreml(&["train", "--data", &etrain, "--out", &model, "--epochs", "2"]).ok();
    let info = moreml(&["inspect", "--input", &model]).ok();
    assert!(info.stdout.contains("ciphertext"), "{}", info.stdout);
    assert!(dir.path("model.json").exists());
    let pred = dir.arg("pred.safetensors");
    moreml(&["predict", "--model", &model, "--input", &etest, "--output", &pred]).ok();
    // Owner: decrypt and score.
    let run = moreml(&["evaluate", "--key", &key, "--predictions", &pred, "--labels", &test]).ok();
    let acc: f64 = run.stdout.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(acc > 0.6, "{}", run.stdout);
    // The owner can decrypt the weights into an ordinary plaintext model that predicts the same.
    let plain_model = dir.arg("model.plain.safetensors");
    moreml(&["decrypt", "--key", &key, "--input", &model, "--output", &plain_model]).ok();
    let plain_pred = dir.arg("pred.plain.safetensors");
    moreml(&["predict", "--model", &plain_model, "--input", &test, "--output", &plain_pred]).ok();
    let run2 = moreml(&["evaluate", "--predictions", &plain_pred, "--labels", &test]).ok();
    assert_eq!(run.stdout, run2.stdout);

    // Bad inputs.
    moreml(&["predict", "--model", &model, "--input", &etest_other, "--output", &dir.arg("x")]).fails_with(&["key"]);
    moreml(&["evaluate", "--key", &other, "--predictions", &pred, "--labels", &test]).fails_with(&["wrong key"]);
    moreml(&["evaluate", "--predictions", &pred, "--labels", &test]).fails_with(&["--key"]);
    // A truncated model file.
    let bytes = std::fs::read(&model).unwrap();
    let cut = dir.arg("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    moreml(&["predict", "--model", &cut, "--input", &etest, "--output", &dir.arg("x")]).fails_with(&["truncated"]);
    // A corrupted model: one ciphertext pushed out of the algebra.
    let mut bad = bytes.clone();
    let n = bad.len();
    for b in &mut bad[n - 40..n - 36] {
        *b ^= 0x55;
    }
    let corrupt = dir.arg("corrupt.safetensors");
    std::fs::write(&corrupt, &bad).unwrap();
    moreml(&["predict", "--model", &corrupt, "--input", &etest, "--output", &dir.arg("x")]).fails_with(&["algebra"]);
    // Wrong image size: a model for 784 inputs fed 10-value records.
    let small = dir.arg("small.safetensors");
    write_plain(&small, &[("images", vec![3, 10]), ("labels", vec![3, 10])]);
    let esmall = dir.arg("small.enc");
    moreml(&["encrypt", "--key", &key, "--input", &small, "--output", &esmall]).ok();
    moreml(&["predict", "--model", &model, "--input", &esmall, "--output", &dir.arg("x")]).fails_with(&["784"]);
    // Images and labels of different counts.
    let mismatch = dir.arg("mismatch.safetensors");
    write_plain(&mismatch, &[("images", vec![5, 784]), ("labels", vec![4, 10])]);
    moreml(&["train", "--data", &mismatch, "--out", &dir.arg("m.safetensors")]).fails_with(&["5 images but 4 labels"]);
}

fn write_plain(path: &str, tensors: &[(&str, Vec<usize>)]) {
    use moreml_cipher::format::{write_plain, PlainFile};
    use moreml_cipher::PlainTensor;
    let file = PlainFile::<f64> {
        tensors: tensors
            .iter()
            .map(|(n, s)| (n.to_string(), PlainTensor::from_vec(s, vec![0.5; s.iter().product()]).unwrap()))
            .collect(),
        extra: Default::default(),
    };
    write_plain(std::path::Path::new(path), &file).unwrap();
}
