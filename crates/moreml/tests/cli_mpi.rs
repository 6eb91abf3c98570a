//! `mpirun -np N moreml train --distributed` against single-process `moreml train`, through the
//! real binary and the system's `mpirun` (OpenMPI). Compiled only with `--features mpi`
//! (`.ci/run` installs OpenMPI and runs `cargo test --release -p moreml --features mpi --test cli_mpi`).
//!
//! Claims checked: same seed and global batch => the same model as one process up to
//! summation order (f64: weights within 1e-12 relative, identical predicted labels; f32: see
//! [`F32_TOLERANCE`]), on plaintext and on ciphertexts, with 2 ranks and 4 oversubscribed
//! ranks; a failing rank ends the job with a clear error on rank 0 and no model.
#![cfg(feature = "mpi")]

mod common;

use common::{moreml, Dir};
use moreml_cipher::format;
use moreml_experiments::metrics::{argmax_rows, rel_diff};
use std::path::Path;
use std::process::Command;

/// f64: the bar. Distributed and single-process training differ only in the order of
/// the gradient sums (each rank sums its share, then the all-reduce adds the shares), i.e. by a
/// few ulps per step; measured at most 5.3e-16 after 2 epochs (14 steps), 2 and 4 ranks.
const F64_TOLERANCE: f64 = 1e-12;

/// f32: the same reordering costs a few f32 ulps (unit roundoff 6e-8) per step instead of f64
/// ulps; measured at most 2.6e-7 (about 4 ulps) with this configuration. 1e-5 leaves a 40x margin
/// and still catches every real error (a missing share, a wrong weighting of a rank or of a
/// short last batch, drifting replicas), which all show at 1e-2 and above.
const F32_TOLERANCE: f64 = 1e-5;

/// Hidden units (small and fast; the architecture is the built-in MLP).
const TRAIN: [&str; 10] = ["--epochs", "2", "--batch", "30", "--hidden", "16", "--seed", "7", "--lr", "0.02"];

/// `mpirun` with the flags this machine needs (root in CI/containers, 2 cores).
fn mpirun(np: usize, moreml_args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("mpirun");
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1").env_remove("MOREML_MNIST_DIR");
    cmd.args(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", &np.to_string()]);
    cmd.arg(env!("CARGO_BIN_EXE_moreml")).args(["--threads", "1"]).args(moreml_args);
    cmd.output().expect("run mpirun (install openmpi-bin)")
}

/// `mpirun` MPMD: one rank per argument list (ranks may get different data files).
fn mpirun_mpmd(ranks: &[Vec<String>]) -> std::process::Output {
    let mut cmd = Command::new("mpirun");
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    cmd.args(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]);
    for (i, args) in ranks.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.args(["-np", "1", env!("CARGO_BIN_EXE_moreml"), "--threads", "1"]).args(args);
    }
    cmd.output().expect("run mpirun (install openmpi-bin)")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Owner side: synthetic digits (train/test) in `dtype`, a key, encrypted copies.
fn data(d: &Dir, dtype: &str) {
    let out = d.arg("data");
    let sizes = ["--train-size", "210", "--test-size", "40"];
    moreml(&[&["dataset", "mnist", "--synthetic", "--out", &out, "--dtype", dtype][..], &sizes[..]].concat()).ok();
    moreml(&["keygen", "--out", &d.arg("key.json")]).ok();
    for split in ["train", "test"] {
        let (input, output) = (d.arg(&format!("data/{split}.safetensors")), d.arg(&format!("{split}.enc.safetensors")));
        moreml(&["encrypt", "--key", &d.arg("key.json"), "--input", &input, "--output", &output]).ok();
    }
}

/// The weights of a (plaintext, or decrypted) model file, tensor by tensor, in f64.
fn weights(path: &Path) -> Vec<(String, Vec<f64>)> {
    let info = format::read_info(path).unwrap();
    if info.dtype == "f64" {
        let f = format::read_plain::<f64>(path).unwrap();
        f.tensors.into_iter().map(|(n, t)| (n, t.values().to_vec())).collect()
    } else {
        let f = format::read_plain::<f32>(path).unwrap();
        f.tensors.into_iter().map(|(n, t)| (n, t.values().iter().map(|&v| v as f64).collect())).collect()
    }
}

/// Predicted labels of `model` on the test split (decrypted when encrypted).
fn labels(d: &Dir, model: &str, encrypted: bool) -> Vec<Option<usize>> {
    let input = if encrypted { d.arg("test.enc.safetensors") } else { d.arg("data/test.safetensors") };
    let pred = d.arg(&format!("{model}.pred"));
    moreml(&["predict", "--model", &d.arg(model), "--input", &input, "--output", &pred]).ok();
    let plain = if encrypted {
        let dec = d.arg(&format!("{model}.pred.dec"));
        moreml(&["decrypt", "--key", &d.arg("key.json"), "--input", &pred, "--output", &dec]).ok();
        dec
    } else {
        pred
    };
    let w = weights(Path::new(&plain));
    argmax_rows(&w.iter().find(|(n, _)| n == "predictions").expect("predictions tensor").1, 10)
}

/// A model as plaintext weights (decrypted with the owner's key when encrypted).
fn plain_model(d: &Dir, model: &str, encrypted: bool) -> Vec<(String, Vec<f64>)> {
    if !encrypted {
        return weights(&d.path(model));
    }
    let dec = d.arg(&format!("{model}.dec"));
    moreml(&["decrypt", "--key", &d.arg("key.json"), "--input", &d.arg(model), "--output", &dec]).ok();
    weights(Path::new(&dec))
}

/// 1 process vs 2 ranks vs 4 oversubscribed ranks, for one data file.
fn same_model(d: &Dir, data: &str, encrypted: bool, tolerance: f64) {
    let data = d.arg(data);
    let mut args = vec!["train", "--data", &data, "--out"];
    let single = d.arg("single.safetensors");
    moreml(&[&args[..], &[&single], &TRAIN[..]].concat()).ok();
    let reference = plain_model(d, "single.safetensors", encrypted);
    let reference_labels = labels(d, "single.safetensors", encrypted);
    args.insert(1, "--distributed");
    for np in [2, 4] {
        let name = format!("np{np}.safetensors");
        let out = d.arg(&name);
        let run = mpirun(np, &[&args[..], &[&out], &TRAIN[..]].concat());
        let log = text(&run);
        assert!(run.status.success(), "mpirun -np {np} failed\n{log}");
        assert!(log.contains(&format!("distributed: {np} ranks")), "rank 0 prints the summary once\n{log}");
        assert_eq!(log.matches("wrote model to").count(), 1, "only rank 0 writes\n{log}");
        let model = plain_model(d, &name, encrypted);
        assert_eq!(model.len(), reference.len());
        for ((n, a), (m, b)) in reference.iter().zip(&model) {
            assert_eq!(n, m);
            let rel = rel_diff(a, b);
            eprintln!("{data} np {np} {n}: relative difference {rel:e}");
            assert!(rel <= tolerance, "{data}, {np} ranks, {n}: weights differ by {rel:e} > {tolerance:e}");
        }
        assert_eq!(labels(d, &name, encrypted), reference_labels, "{np} ranks: predicted labels differ");
    }
}

#[test]
fn f64_distributed_equals_single_process() {
    let d = Dir::new();
    data(&d, "f64");
    same_model(&d, "data/train.safetensors", false, F64_TOLERANCE);
    same_model(&d, "train.enc.safetensors", true, F64_TOLERANCE);
}

#[test]
fn f32_distributed_equals_single_process() {
    let d = Dir::new();
    data(&d, "f32");
    same_model(&d, "data/train.safetensors", false, F32_TOLERANCE);
    same_model(&d, "train.enc.safetensors", true, F32_TOLERANCE);
}

/// A rank that cannot read its data, or whose gradients overflow, ends the whole job: rank 0
/// names the failing rank and its error, every rank exits non-zero, no model is written.
#[test]
fn a_failing_rank_ends_the_job_without_a_model() {
    let d = Dir::new();
    data(&d, "f64");
    let out = d.arg("model.safetensors");
    let rank = |data: &str| -> Vec<String> {
        let args = ["train", "--distributed", "--data", data, "--out", &out];
        args.iter().chain(&TRAIN).map(|s| s.to_string()).collect()
    };
    // rank 1's data file is missing
    let good = d.arg("data/train.safetensors");
    let run = mpirun_mpmd(&[rank(&good), rank(&d.arg("missing.safetensors"))]);
    let log = text(&run);
    assert!(!run.status.success(), "the job must fail\n{log}");
    assert!(log.contains("moreml: error: rank 1 of the distributed job failed: "), "rank 0's error\n{log}");
    assert!(log.contains("missing.safetensors"), "the cause is named\n{log}");
    assert!(!Path::new(&out).exists(), "no model may be written\n{log}");
    // rank 1 holds another data set (the 40 test records): stopped before training, no hang
    let run = mpirun_mpmd(&[rank(&good), rank(&d.arg("data/test.safetensors"))]);
    let log = text(&run);
    assert!(!run.status.success(), "the job must fail\n{log}");
    assert!(
        log.contains("rank 1 of the distributed job failed: its data set has shapes [[40, 784], [40, 10]]"),
        "{log}"
    );
    assert!(!Path::new(&out).exists(), "no model may be written\n{log}");
    // rank 1's records overflow (inputs scaled by 1e200: their squares are infinite) at step 1
    let mut f = format::read_plain::<f64>(&d.path("data/train.safetensors")).unwrap();
    for (name, t) in f.tensors.iter_mut() {
        if name == "images" {
            t.values_mut().iter_mut().for_each(|v| *v = *v * 1e200 + 1e200);
        }
    }
    let huge = d.arg("huge.safetensors");
    format::write_plain(Path::new(&huge), &f).unwrap();
    let run = mpirun_mpmd(&[rank(&good), rank(&huge)]);
    let log = text(&run);
    assert!(!run.status.success(), "the job must fail\n{log}");
    assert!(
        log.contains("moreml: error: rank 1 of the distributed job failed: training diverged: non-finite values in"),
        "rank 0 names the diverged rank\n{log}"
    );
    assert!(log.contains("at epoch 1, step 1"), "{log}");
    assert!(!Path::new(&out).exists(), "no model may be written\n{log}");
}

/// Rank 0 reads the configuration: other ranks' flags do not matter.
#[test]
fn rank_0_configures_the_job() {
    let d = Dir::new();
    data(&d, "f64");
    let data = d.arg("data/train.safetensors");
    let single = d.arg("single.safetensors");
    moreml(&[&["train", "--data", &data, "--out", &single][..], &TRAIN[..]].concat()).ok();
    let out = d.arg("model.safetensors");
    let base: Vec<String> = ["train", "--distributed", "--data", &data, "--out", &out]
        .iter()
        .chain(&TRAIN)
        .map(|s| s.to_string())
        .collect();
    // rank 1 asks for other epochs and another architecture: rank 0's configuration wins
    let other: Vec<String> = base
        .iter()
        .map(|a| {
            if a == "2" {
                "5".into()
            } else if a == "16" {
                "64".into()
            } else {
                a.clone()
            }
        })
        .collect();
    let run = mpirun_mpmd(&[base, other]);
    assert!(run.status.success(), "{}", text(&run));
    for ((n, a), (_, b)) in weights(Path::new(&single)).iter().zip(weights(Path::new(&out)).iter()) {
        let rel = rel_diff(a, b);
        assert!(rel <= F64_TOLERANCE, "{n}: {rel:e}");
    }
}

/// The tensors of a model file as stored (ciphertexts in their 2x2 form), as bit patterns.
fn stored_bits(path: &Path) -> Vec<(String, Vec<u64>)> {
    let f = format::read_cipher::<f64>(path).unwrap();
    f.tensors.into_iter().map(|(n, t)| (n, t.raw().iter().map(|v| v.to_bits()).collect())).collect()
}

/// A 2-rank job stopped after epoch 1 and resumed (every rank from rank 0's checkpoint) equals
/// the uninterrupted 2-rank job bit for bit; the checkpoint also resumes in one process (equal
/// up to the order of the gradient sums).
#[test]
fn distributed_resume_equals_uninterrupted() {
    let d = Dir::new();
    data(&d, "f64");
    let data = d.arg("train.enc.safetensors");
    let one_epoch = TRAIN.map(|f| if f == "2" { "1" } else { f });
    assert_eq!(&one_epoch[..2], ["--epochs", "1"]);
    let (straight, first, resumed, ck) =
        (d.arg("straight.safetensors"), d.arg("first.safetensors"), d.arg("resumed.safetensors"), d.arg("run.ckpt"));
    let job = |out: &str, extra: &[&str], hyper: &[&str]| {
        let run = mpirun(2, &[&["train", "--distributed", "--data", &data, "--out", out][..], extra, hyper].concat());
        let log = text(&run);
        assert!(run.status.success(), "mpirun -np 2 failed\n{log}");
        log
    };
    job(&straight, &[], &TRAIN);
    let log = job(&first, &["--checkpoint", &ck], &one_epoch);
    assert_eq!(log.matches("wrote checkpoint after epoch 1").count(), 1, "only rank 0 writes\n{log}");
    let log = job(&resumed, &["--resume", &ck], &TRAIN);
    assert!(log.contains("after epoch 1") && log.contains("epoch 2/2") && !log.contains("epoch 1/2"), "{log}");
    assert_eq!(stored_bits(Path::new(&straight)), stored_bits(Path::new(&resumed)), "resumed 2-rank job differs");

    let single = d.arg("single.safetensors");
    let args = ["train", "--data", &data, "--out", &single, "--resume", &ck];
    moreml(&[&args[..], &TRAIN[..]].concat()).ok();
    let (a, b) = (plain_model(&d, "straight.safetensors", true), plain_model(&d, "single.safetensors", true));
    for ((n, a), (_, b)) in a.iter().zip(&b) {
        let rel = rel_diff(a, b);
        assert!(rel <= F64_TOLERANCE, "{n}: resumed in one process, {rel:e}");
    }
}

/// `moreml mnist --distributed` on 2 ranks reports what one process reports: the same test
/// accuracy per epoch and the same confusion matrices (predicted labels), plaintext and
/// encrypted; only rank 0 writes the report.
#[test]
fn mnist_experiment_distributed_equals_single_process() {
    let d = Dir::new();
    let args = |out: &str| -> Vec<String> {
        let flags = ["mnist", "--synthetic", "--train-size", "150", "--test-size", "40", "--out", out];
        flags.iter().chain(&TRAIN).map(|s| s.to_string()).collect()
    };
    moreml(&args(&d.arg("single"))).ok();
    let mut distributed = args(&d.arg("np2"));
    distributed.push("--distributed".into());
    let run = mpirun(2, &distributed.iter().map(String::as_str).collect::<Vec<_>>());
    let log = text(&run);
    assert!(run.status.success(), "mpirun -np 2 moreml mnist failed\n{log}");
    assert!(log.contains("2 ranks sharing each batch"), "{log}");
    assert_eq!(log.matches("plain accuracy").count(), 1, "only rank 0 reports\n{log}");
    let report = |dir: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.path(dir).join("report.json")).unwrap()).unwrap()
    };
    let (single, np2) = (report("single"), report("np2"));
    for run in ["plain", "encrypted"] {
        for field in ["accuracy", "test_accuracy_each"] {
            assert_eq!(single[run][field], np2[run][field], "{run} {field}");
        }
        let confusion = |r: &serde_json::Value| r[run]["metrics"]["confusion"].clone();
        assert!(confusion(&single).is_array(), "{single}");
        assert_eq!(confusion(&single), confusion(&np2), "{run}: predicted labels differ");
    }
    assert_eq!(single["train_records"], 150);
    assert_eq!(single["diverged"], false);
}
