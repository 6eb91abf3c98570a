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
