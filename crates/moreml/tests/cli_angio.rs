//! `moreml angio`: synthetic angiograms through the real binary (determinism, balance, files).

mod common;

use common::{moreml, Dir};
use std::collections::BTreeMap;
use std::path::Path;

/// Runs `moreml angio generate` into `dir/name` and returns that directory.
fn generate(dir: &Dir, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let mut args = vec!["angio", "generate", "--out"];
    let out = dir.arg(name);
    args.push(&out);
    args.extend_from_slice(extra);
    moreml(&args).ok();
    dir.path(name)
}

/// File name -> bytes of every PNG in `images/`.
fn pngs(out: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(out.join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// `(width, height)` from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

fn rows(out: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    text.lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn same_seed_gives_byte_identical_pngs_and_labels() {
    let dir = Dir::new();
    let a = generate(&dir, "a", &["--n", "3", "--size", "32", "--seed", "5"]);
    let b = generate(&dir, "b", &["--n", "3", "--size", "32", "--seed", "5", "--threads", "1"]);
    let c = generate(&dir, "c", &["--n", "3", "--size", "32", "--seed", "6"]);
    let (pa, pb, pc) = (pngs(&a), pngs(&b), pngs(&c));
    assert_eq!(pa.len(), 18);
    assert_eq!(pa, pb, "same seed, different thread count: PNGs must be byte-identical");
    assert_eq!(std::fs::read(a.join("labels.csv")).unwrap(), std::fs::read(b.join("labels.csv")).unwrap());
    let differing = pa.iter().filter(|(k, v)| pc[*k] != **v).count();
    assert_eq!(differing, 18, "another seed must change every image");
    for (name, bytes) in &pa {
        assert_eq!(png_size(bytes), (32, 32), "{name}");
    }
}

#[test]
fn view_task_is_balanced_labelled_and_has_a_sheet_per_class() {
    let dir = Dir::new();
    let out = generate(&dir, "v", &["--n", "4", "--size", "24", "--sheet", "4"]);
    let rows = rows(&out);
    assert_eq!(
        rows[0],
        [
            "file",
            "label",
            "view",
            "artery",
            "primary_deg",
            "secondary_deg",
            "sid_mm",
            "sod_mm",
            "fill",
            "contrast",
            "vessels"
        ]
    );
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows[1..] {
        *count.entry(r[1].as_str()).or_default() += 1;
        assert_eq!(r[1], r[2], "view task: label is the view");
        assert_eq!(r[3], if r[2].starts_with("rca") { "rca" } else { "lca" });
        assert!(out.join("images").join(&r[0]).is_file(), "{} missing", r[0]);
        let primary: f64 = r[4].parse().unwrap();
        assert_eq!(primary > 0.0, r[2].contains("lao"), "{r:?}: LAO views have positive primary angles");
    }
    assert_eq!(count.len(), 6);
    assert!(count.values().all(|&c| c == 4), "{count:?}");
    for class in count.keys() {
        let sheet = std::fs::read(out.join(format!("contact_{class}.png"))).unwrap();
        // 2x2 grid of 24-pixel images with 2-pixel gaps.
        assert_eq!(png_size(&sheet), (54, 54), "{class}");
    }
}

#[test]
fn artery_task_has_two_balanced_classes() {
    let dir = Dir::new();
    let out = generate(&dir, "a", &["--n", "5", "--size", "16", "--task", "artery"]);
    let rows = rows(&out);
    assert_eq!(rows.len(), 11);
    for r in &rows[1..] {
        assert_eq!(r[1], r[3], "artery task: label is the artery");
    }
    assert_eq!(rows[1..].iter().filter(|r| r[1] == "lca").count(), 5);
    assert!(out.join("contact_lca.png").is_file() && out.join("contact_rca.png").is_file());
}

#[test]
fn bench_reports_a_rate() {
    let r = moreml(&["angio", "bench", "--n", "5", "--size", "32"]).ok();
    assert!(r.stdout.contains("generated 30 images of 32x32") && r.stdout.contains("images/s"), "{}", r.stdout);
}

#[test]
fn too_small_a_size_is_a_clean_error() {
    let dir = Dir::new();
    moreml(&["angio", "generate", "--n", "2", "--size", "8", "--out", &dir.arg("x")])
        .fails_with(&["image size 8", "between 16 and 2048"]);
}

#[test]
fn zero_images_is_a_clean_error() {
    let dir = Dir::new();
    moreml(&["angio", "generate", "--n", "0", "--out", &dir.arg("x")]).fails_with(&["zero images per class"]);
}

#[test]
fn unwritable_output_is_a_clean_error() {
    let dir = Dir::new();
    std::fs::write(dir.path("file"), b"x").unwrap();
    moreml(&["angio", "generate", "--n", "1", "--out", &dir.arg("file")]).fails_with(&["cannot create"]);
}

/// Runs a small `moreml angio experiment` and returns the parsed report.
fn experiment(dir: &Dir, name: &str, extra: &[&str]) -> (std::path::PathBuf, serde_json::Value) {
    let out = dir.arg(name);
    let mut args = vec!["angio", "experiment", "--out", &out, "--size", "32", "--n-train", "20", "--n-test", "10"];
    args.extend_from_slice(extra);
    moreml(&args).ok();
    let report = std::fs::read_to_string(dir.path(name).join("report.json")).unwrap();
    (dir.path(name), serde_json::from_str(&report).unwrap())
}

#[test]
fn small_view_experiment_reports_both_runs_and_confused_pairs() {
    let dir = Dir::new();
    let (out, r) = experiment(&dir, "v", &["--epochs", "2", "--batch", "16"]);
    assert_eq!(r["experiment"], "angio-view");
    assert_eq!(r["diverged"], false, "{}", r["divergence"]);
    assert_eq!((r["train_records"].as_u64(), r["test_records"].as_u64()), (Some(120), Some(60)));
    assert_eq!(r["task"]["classes"].as_array().unwrap().len(), 6);
    assert_ne!(r["train_seed"], r["test_seed"], "test frames must come from another seed");
    assert_eq!(r["plain"]["epochs_completed"], 2);
    assert_eq!(r["encrypted"]["epochs_completed"], 2);
    let (plain, enc) = (r["plain"]["accuracy"].as_f64().unwrap(), r["encrypted"]["accuracy"].as_f64().unwrap());
    assert!((plain - enc).abs() <= 1.0 / 60.0 + 1e-12, "plain {plain} vs encrypted {enc}");
    assert!(r["agreement"].as_f64().unwrap() >= 59.0 / 60.0, "agreement {}", r["agreement"]);
    assert!(r["max_rel_diff"].as_f64().unwrap() < 1e-6, "max_rel_diff {}", r["max_rel_diff"]);
    for run in ["plain", "encrypted"] {
        let m = &r[run]["metrics"];
        assert_eq!(m["precision"].as_array().unwrap().len(), 6, "{run}");
        assert_eq!(m["recall"].as_array().unwrap().len(), 6, "{run}");
        // Pairs counted from the confusion matrix: their counts add up to its off-diagonal total.
        let confusion: Vec<Vec<u64>> = serde_json::from_value(m["confusion"].clone()).unwrap();
        let off: u64 = (0..6)
            .flat_map(|i| (0..6).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| confusion[i][j])
            .sum();
        let pairs = r["confused_pairs"][run].as_array().unwrap();
        assert_eq!(pairs.iter().map(|p| p["count"].as_u64().unwrap()).sum::<u64>(), off, "{run}");
        assert!(pairs.windows(2).all(|w| w[0]["count"].as_u64() >= w[1]["count"].as_u64()), "{run}: not sorted");
    }
    for fig in ["training_curves.png", "confusion_matrix.png", "confusion_matrix_plain.png", "outputs_scatter.png"] {
        assert!(png_size(&std::fs::read(out.join(fig)).unwrap()).0 > 0, "{fig}");
    }
}

#[test]
fn artery_experiment_has_two_classes() {
    let dir = Dir::new();
    let (_, r) = experiment(&dir, "a", &["--task", "artery", "--epochs", "1"]);
    assert_eq!(r["experiment"], "angio-artery");
    assert_eq!(r["task"]["classes"], serde_json::json!(["lca", "rca"]));
    assert_eq!(r["model"]["layers"].as_array().unwrap().last().unwrap()["out"], 2);
    assert_eq!(r["diverged"], false);
    // The owner's pixel scaling is fitted on the training frames: mostly bright, some contrast.
    let (mean, std) = (r["pixel_scaling"]["mean"].as_f64().unwrap(), r["pixel_scaling"]["std"].as_f64().unwrap());
    assert!(mean > 0.2 && mean < 0.9 && std > 0.01 && std < 0.5, "pixel scaling mean {mean}, std {std}");
}

#[test]
fn experiment_model_config_of_the_wrong_size_is_a_clean_error() {
    let dir = Dir::new();
    let cfg = dir.path("m.json");
    let shipped = include_str!("../configs/angio_cnn.json");
    std::fs::write(&cfg, shipped).unwrap();
    moreml(&[
        "angio",
        "experiment",
        "--size",
        "32",
        "--n-train",
        "2",
        "--n-test",
        "1",
        "--model-config",
        cfg.to_str().unwrap(),
        "--out",
        &dir.arg("y"),
    ])
    .fails_with(&["takes 4096 values per record", "32x32 frames have 1024"]);
}
