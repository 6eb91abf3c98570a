//! The benchmark commands run and report finite, consistent figures (small sizes; the
//! README's numbers come from full runs).

mod common;

use common::{moreml, Dir};

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn bench_train_reports_both_domains() {
    let d = Dir::new();
    let out = d.arg("bench.json");
    let run = moreml(&["bench", "train", "--train-size", "512", "--epochs", "1", "--arch", "mlp", "--json", &out]).ok();
    assert!(run.stdout.contains("mlp  f32") && run.stdout.contains("mlp  f64"), "{}", run.context());
    let v = json(&d.path("bench.json"));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        let (p, c) = (r["plain_epoch_s"].as_f64().unwrap(), r["encrypted_epoch_s"].as_f64().unwrap());
        assert!(p > 0.0 && c > 0.0 && (r["ratio"].as_f64().unwrap() - c / p).abs() < 1e-9 * c / p + 1e-12);
        assert!(r["encrypted_inference_images_per_s"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bench_core_reports_ratios() {
    let d = Dir::new();
    let out = d.arg("core.json");
    moreml(&["bench", "core", "--values", "65536", "--sizes", "64", "--reps", "1", "--json", &out]).ok();
    let v = json(&d.path("core.json"));
    assert_eq!(v["throughput"].as_array().unwrap().len(), 4);
    for g in v["gemm"].as_array().unwrap() {
        let ratio = g["ratio"].as_f64().unwrap();
        assert!(ratio.is_finite() && ratio > 0.5, "{g}");
    }
}
