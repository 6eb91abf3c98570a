//! `moreml train --checkpoint/--resume` through the real binary: a run stopped after epoch 1
//! and resumed equals the uninterrupted run bit for bit (plaintext and ciphertext, f64 and
//! f32), and bad checkpoints or wrong resumes are refused before training with one clear line.

mod common;

use common::{moreml, Dir};
use moreml_cipher::format::{self, Kind};
use std::path::Path;

/// A small, fast run of the built-in MLP (the last batch of 120 records is short).
const TRAIN: [&str; 10] = ["--batch", "32", "--hidden", "8", "--seed", "3", "--lr", "0.02", "--momentum", "0.9"];

/// Owner side: synthetic digits in `dtype` (120 train / 20 test), a key, encrypted copies.
fn data(d: &Dir, dtype: &str) {
    let sizes = ["--train-size", "120", "--test-size", "20", "--dtype", dtype];
    moreml(&[&["dataset", "mnist", "--synthetic", "--out", &d.arg("data")][..], &sizes[..]].concat()).ok();
    moreml(&["keygen", "--out", &d.arg("key.json")]).ok();
    for split in ["train", "test"] {
        let (input, output) = (d.arg(&format!("data/{split}.safetensors")), d.arg(&format!("{split}.enc.safetensors")));
        moreml(&["encrypt", "--key", &d.arg("key.json"), "--input", &input, "--output", &output]).ok();
    }
}

/// `moreml train --data DATA --out OUT --epochs N` plus `extra` and the fixed flags.
fn train(data: &str, out: &str, epochs: &str, extra: &[&str]) -> common::TestCommand {
    train_with(data, out, epochs, extra, &TRAIN)
}

/// [`train`] with other hyper-parameter flags than [`TRAIN`].
fn train_with(data: &str, out: &str, epochs: &str, extra: &[&str], hyper: &[&str]) -> common::TestCommand {
    moreml(&[&["train", "--data", data, "--out", out, "--epochs", epochs][..], extra, hyper].concat())
}

/// The tensors of a model file as stored (ciphertexts in their 2x2 form), as bit patterns.
fn bits(path: &Path) -> Vec<(String, Vec<u64>)> {
    let info = format::read_info(path).unwrap();
    macro_rules! read {
        ($t:ty) => {
            match info.kind {
                Kind::Plaintext => format::read_plain::<$t>(path)
                    .unwrap()
                    .tensors
                    .into_iter()
                    .map(|(n, t)| (n, t.values().iter().map(|&v| (v as f64).to_bits()).collect()))
                    .collect(),
                Kind::Ciphertext => format::read_cipher::<$t>(path)
                    .unwrap()
                    .tensors
                    .into_iter()
                    .map(|(n, t)| (n, t.raw().iter().map(|&v| (v as f64).to_bits()).collect()))
                    .collect(),
            }
        };
    }
    if info.dtype == "f64" {
        read!(f64)
    } else {
        read!(f32)
    }
}

/// 3 epochs straight vs 1 epoch, checkpoint, resume for 2 more (checkpointing again).
fn resume_equals_straight(d: &Dir, data: &str) {
    let data = d.arg(data);
    let (straight, first, resumed, ck) =
        (d.arg("straight.safetensors"), d.arg("first.safetensors"), d.arg("resumed.safetensors"), d.arg("run.ckpt"));
    train(&data, &straight, "3", &[]).ok();
    let run = train(&data, &first, "1", &["--checkpoint", &ck]).ok();
    assert!(run.stderr.contains(&format!("wrote checkpoint after epoch 1 to {ck}")), "{}", run.context());
    let run = train(&data, &resumed, "3", &["--resume", &ck, "--checkpoint", &ck]).ok();
    assert!(run.stderr.contains(&format!("resuming from {ck} after epoch 1")), "{}", run.context());
    assert!(run.stderr.contains("epoch 2/3") && !run.stderr.contains("epoch 1/3"), "{}", run.context());
    let (a, b) = (bits(Path::new(&straight)), bits(Path::new(&resumed)));
    assert_eq!(a.len(), 4, "two dense layers");
    assert_eq!(a, b, "{data}: resumed weights differ from the uninterrupted run");
    assert_ne!(bits(Path::new(&first)), a, "the first run stopped early: its model must differ");
}

#[test]
fn f64_resume_is_bit_identical() {
    let d = Dir::new();
    data(&d, "f64");
    resume_equals_straight(&d, "data/train.safetensors");
    resume_equals_straight(&d, "train.enc.safetensors");
}

#[test]
fn f32_resume_is_bit_identical() {
    let d = Dir::new();
    data(&d, "f32");
    resume_equals_straight(&d, "data/train.safetensors");
    resume_equals_straight(&d, "train.enc.safetensors");
}

/// Another data set or other flags: refused, every difference named, nothing written.
#[test]
fn resume_of_another_run_is_refused() {
    let d = Dir::new();
    data(&d, "f64");
    let (plain, ck, out) = (d.arg("data/train.safetensors"), d.arg("run.ckpt"), d.arg("model.safetensors"));
    train(&plain, &d.arg("first.safetensors"), "1", &["--checkpoint", &ck]).ok();
    let resume = ["--resume", ck.as_str()];
    train(&d.arg("data/test.safetensors"), &out, "3", &resume).fails_with(&[
        &format!("cannot resume from {ck}: it was written by a different run ("),
        "records: checkpoint 120, this run 20",
        "data shapes: checkpoint [[120, 784], [120, 10]], this run [[20, 784], [20, 10]]",
        "resume with the data and flags of that run",
    ]);
    train(&d.arg("train.enc.safetensors"), &out, "3", &resume)
        .fails_with(&["cannot resume from", "data: checkpoint plain f64, this run cipher f64"]);
    let wider = TRAIN.map(|f| if f == "8" { "9" } else { f });
    let line = train_with(&plain, &out, "3", &resume, &wider).fails_with(&["architecture: checkpoint"]);
    assert!(!line.contains("model seed"), "{line}");
    let hyper = TRAIN.map(|f| match f {
        "0.02" => "0.03",
        "3" => "4",
        f => f,
    });
    assert_eq!(&hyper[4..8], ["--seed", "4", "--lr", "0.03"]);
    train_with(&plain, &out, "3", &resume, &hyper)
        .fails_with(&["lr: checkpoint 0.02, this run 0.03", "seed: checkpoint 3, this run 4"]);
    train(&plain, &out, "1", &resume).fails_with(&["the checkpoint already holds 1 epochs and this run asks for 1"]);
    assert!(!Path::new(&out).exists(), "a refused resume writes no model");
}

/// A truncated checkpoint, a checkpoint with a NaN, a model file and a missing file.
#[test]
fn damaged_checkpoints_are_refused() {
    let d = Dir::new();
    data(&d, "f64");
    let (plain, ck, out) = (d.arg("data/train.safetensors"), d.arg("run.ckpt"), d.arg("model.safetensors"));
    train(&plain, &d.arg("first.safetensors"), "1", &["--checkpoint", &ck]).ok();
    let bytes = std::fs::read(&ck).unwrap();

    let cut = d.arg("cut.ckpt");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    train(&plain, &out, "3", &["--resume", &cut]).fails_with(&[
        &format!("checkpoint {cut}: truncated or damaged"),
        "resume from an intact checkpoint or start again without --resume",
    ]);
    std::fs::write(&cut, &bytes[..20]).unwrap();
    train(&plain, &out, "3", &["--resume", &cut]).fails_with(&[&format!("checkpoint {cut}: truncated or damaged")]);

    // the last 8 bytes are the last f64 value of the last tensor
    let mut nan = bytes.clone();
    let n = nan.len();
    nan[n - 8..].copy_from_slice(&f64::NAN.to_le_bytes());
    let nan_path = d.arg("nan.ckpt");
    std::fs::write(&nan_path, &nan).unwrap();
    train(&plain, &out, "3", &["--resume", &nan_path]).fails_with(&["holds non-finite values"]);

    train(&plain, &out, "3", &["--resume", &d.arg("first.safetensors")])
        .fails_with(&["not a moreml checkpoint (header format is 'moreml', not 'moreml-checkpoint')"]);
    train(&plain, &out, "3", &["--resume", &d.arg("missing.ckpt")])
        .fails_with(&["--resume", "missing.ckpt: no such checkpoint file"]);
    assert!(!Path::new(&out).exists(), "a refused resume writes no model");
}

/// A checkpoint path that would destroy an input or the model is refused before training.
#[test]
fn checkpoint_paths_are_checked_before_training() {
    let d = Dir::new();
    data(&d, "f64");
    let plain = d.arg("data/train.safetensors");
    let before = std::fs::read(&plain).unwrap();
    let out = d.arg("model.safetensors");
    train(&plain, &out, "1", &["--checkpoint", &plain]).fails_with(&["train.safetensors"]);
    assert_eq!(std::fs::read(&plain).unwrap(), before, "the data file is untouched");
    train(&plain, &out, "1", &["--checkpoint", &out]).fails_with(&["is also where the model goes"]);
    let ck = d.arg("run.ckpt");
    train(&plain, &d.arg("first.safetensors"), "1", &["--checkpoint", &ck]).ok();
    train(&plain, &ck, "2", &["--resume", &ck]).fails_with(&["run.ckpt"]);
    train(&plain, &out, "1", &["--checkpoint", &ck, "--checkpoint-every", "0"])
        .fails_with(&["--checkpoint-every must be at least 1"]);
    let run = moreml(&["train", "--data", &plain, "--out", &out, "--checkpoint-every", "2"]).run();
    assert!(!run.output.status.success() && run.stderr.contains("--checkpoint"), "{}", run.context());
    assert!(!Path::new(&out).exists(), "nothing was trained");
}
