//! End-to-end tests of `moreml wbc ...` through the real binary.

mod common;

use common::{moreml, Dir};

const KEYS: [&str; 11] = [
    "aortic_systolic_mmhg",
    "aortic_diastolic_mmhg",
    "aortic_mean_mmhg",
    "stroke_volume_ml",
    "cardiac_output_l_min",
    "ejection_fraction",
    "lv_edv_ml",
    "lv_esv_ml",
    "pa_mean_mmhg",
    "la_mean_mmhg",
    "ra_mean_mmhg",
];

fn outputs(args: &[&str]) -> serde_json::Value {
    let run = moreml(args).ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", run.context()))
}

#[test]
fn simulate_json_has_every_key_in_physiological_ranges() {
    let v = outputs(&["wbc", "simulate", "--json"]);
    let obj = v.as_object().expect("an object");
    assert_eq!(obj.len(), KEYS.len(), "{v}");
    for k in KEYS {
        assert!(obj[k].as_f64().is_some_and(f64::is_finite), "{k} missing or not finite in {v}");
    }
    let sys = v["aortic_systolic_mmhg"].as_f64().unwrap();
    let dia = v["aortic_diastolic_mmhg"].as_f64().unwrap();
    assert!((110.0..=130.0).contains(&sys) && (70.0..=85.0).contains(&dia), "{sys}/{dia}");
}

#[test]
fn simulate_table_lists_every_output() {
    let run = moreml(&["wbc", "simulate"]).ok();
    for k in KEYS {
        assert!(run.stdout.contains(k), "{k} missing\n{}", run.context());
    }
}

#[test]
fn params_file_round_trips_and_overrides_change_outputs() {
    let dir = Dir::new();
    let printed = moreml(&["wbc", "params"]).ok().stdout;
    let doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(doc["units"]["r_sys"], "mmHg.s/mL");
    assert_eq!(doc["ranges"]["heart_rate"]["physiological"], serde_json::json!([50.0, 120.0]));
    std::fs::write(dir.path("default.json"), &printed).unwrap();
    std::fs::write(dir.path("hypertensive.json"), r#"{"r_sys": 1.6}"#).unwrap();
    let base = outputs(&["wbc", "simulate", "--json"]);
    let same = outputs(&["wbc", "simulate", "--json", "--params", &dir.arg("default.json")]);
    assert_eq!(base, same);
    let high = outputs(&["wbc", "simulate", "--json", "--params", &dir.arg("hypertensive.json")]);
    assert!(high["aortic_mean_mmhg"].as_f64().unwrap() > base["aortic_mean_mmhg"].as_f64().unwrap() + 10.0);
}

#[test]
fn bad_parameter_files_fail_cleanly_naming_the_problem() {
    let dir = Dir::new();
    std::fs::write(dir.path("neg.json"), r#"{"c_sys_art": -1}"#).unwrap();
    std::fs::write(dir.path("typo.json"), r#"{"heart_rat": 70}"#).unwrap();
    std::fs::write(dir.path("broken.json"), "{").unwrap();
    let run = |f: &str| moreml(&["wbc", "simulate", "--params", &dir.arg(f)]);
    run("neg.json").fails_with(&["neg.json", "`c_sys_art`", "-1"]);
    run("typo.json").fails_with(&["heart_rat", "moreml wbc params"]);
    run("broken.json").fails_with(&["broken.json", "bad parameter file"]);
    run("missing.json").fails_with(&["cannot read --params", "missing.json"]);
}

#[test]
fn simulate_out_writes_figures_waveforms_and_record() {
    let dir = Dir::new();
    moreml(&["wbc", "simulate", "--out", &dir.arg("fig")]).ok();
    for f in ["pv_loops.png", "pressures.png"] {
        let bytes = std::fs::read(dir.path("fig").join(f)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{f} is not a PNG");
    }
    let csv = std::fs::read_to_string(dir.path("fig").join("waveforms.csv")).unwrap();
    assert!(csv.starts_with("t,lv_pressure,lv_volume,"));
    assert!(csv.lines().count() > 300, "one beat at <= 2 ms steps has > 300 samples");
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("fig").join("simulation.json")).unwrap()).unwrap();
    assert!(rec["volume_drift"].as_f64().unwrap() < 1e-9);
}

#[test]
fn dataset_writes_csv_and_a_tagged_plaintext_tensor_file() {
    let dir = Dir::new();
    let run = moreml(&["wbc", "dataset", "--n", "64", "--seed", "3", "--out", &dir.arg("wbc")]).ok();
    assert!(run.stdout.contains("64 patients written"), "{}", run.context());
    let csv = std::fs::read_to_string(dir.path("wbc.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), 9 + 11);
    assert_eq!(header[0], "heart_rate");
    assert_eq!(&header[9..], &KEYS);
    assert_eq!(lines.count(), 64);
    let file = moreml_cipher::format::read_plain::<f64>(&dir.path("wbc.safetensors")).unwrap();
    let names: Vec<&str> = file.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["inputs", "targets"]);
    use moreml_cipher::prelude::*;
    assert_eq!(file.tensors[0].1.shape(), &[64, 9]);
    assert_eq!(file.tensors[1].1.shape(), &[64, 11]);
    let roles: serde_json::Value = serde_json::from_str(&file.extra["moreml.roles"]).unwrap();
    assert_eq!(roles, serde_json::json!({"inputs": "input", "targets": "target"}));
    assert_eq!(file.extra["moreml.task"], "regression");
    assert_eq!(file.extra["moreml.wbc.seed"], "3");
    assert_eq!(file.extra["moreml.wbc.sampler"], "lhs");
    let cols: Vec<String> = serde_json::from_str(&file.extra["moreml.columns.targets"]).unwrap();
    assert_eq!(cols, KEYS);
    // Standardised per column (mean 0, std 1); the header's statistics give back the CSV's raw values.
    let first_row: Vec<f64> = csv.lines().nth(1).unwrap().split(',').map(|v| v.parse().unwrap()).collect();
    for (t, (tensor, width)) in [("inputs", 9), ("targets", 11)].into_iter().enumerate() {
        let scale: serde_json::Value = serde_json::from_str(&file.extra[&format!("moreml.scaling.{tensor}")]).unwrap();
        let values = file.tensors[t].1.values();
        for c in 0..width {
            let column: Vec<f64> = values.iter().skip(c).step_by(width).copied().collect();
            let mean = column.iter().sum::<f64>() / 64.0;
            let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 63.0;
            assert!(mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9, "{tensor} column {c}: mean {mean}, var {var}");
            let raw = values[c] * scale["std"][c].as_f64().unwrap() + scale["mean"][c].as_f64().unwrap();
            let expected = first_row[t * 9 + c];
            assert!(
                (raw - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "{tensor} column {c}: {raw} vs {expected}"
            );
        }
    }
    // Same seed, same file contents.
    moreml(&["wbc", "dataset", "--n", "64", "--seed", "3", "--out", &dir.arg("again.csv")]).ok();
    assert_eq!(csv, std::fs::read_to_string(dir.path("again.csv")).unwrap());
}

#[test]
fn dataset_rejects_zero_patients() {
    let dir = Dir::new();
    moreml(&["wbc", "dataset", "--n", "0", "--out", &dir.arg("x")]).fails_with(&["--n must be at least 1"]);
}

#[test]
fn windkessel_with_constant_inflow_obeys_ohms_law() {
    let dir = Dir::new();
    std::fs::write(dir.path("q.csv"), "t,q\n0,100\n1,100\n").unwrap();
    let args = ["wbc", "windkessel", "--inflow", &dir.arg("q.csv"), "--rp", "0.05", "--rd", "0.95", "--pd", "5"];
    moreml(&[&args[..], &["--out", &dir.arg("p.csv")]].concat()).ok();
    let out = std::fs::read_to_string(dir.path("p.csv")).unwrap();
    for line in out.lines().skip(1) {
        let p: f64 = line.split(',').nth(2).unwrap().parse().unwrap();
        assert!((p - 105.0).abs() < 1e-9, "{line}");
    }
    std::fs::write(dir.path("bad.csv"), "t,q\n0,1\n0.5,x\n").unwrap();
    moreml(&["wbc", "windkessel", "--inflow", &dir.arg("bad.csv"), "--out", &dir.arg("o.csv")])
        .fails_with(&["bad.csv", "line 3"]);
}

#[test]
fn experiment_small_run_writes_a_paired_regression_report() {
    let dir = Dir::new();
    let out = dir.arg("exp");
    let args = ["wbc", "experiment", "--out", &out, "--train", "400", "--test", "100", "--epochs", "3", "--seed", "2"];
    let run = moreml(&args).ok();
    let text =
        std::fs::read_to_string(dir.path("exp/report.json")).unwrap_or_else(|e| panic!("{e}\n{}", run.context()));
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["experiment"], "wbc");
    assert_eq!(r["diverged"], false, "{text}");
    assert_eq!(r["task"]["kind"], "regression");
    assert_eq!(r["task"]["outputs"], serde_json::json!(KEYS));
    assert_eq!(r["model"]["loss"], "mse");
    let sim = &r["simulation"];
    assert_eq!(sim["sampled"], 500);
    let (settled, failures) = (sim["settled"].as_u64().unwrap(), sim["failures"].as_u64().unwrap());
    assert_eq!(settled + failures, 500, "{sim}");
    assert_eq!(r["test_records"], 100);
    assert_eq!(r["train_records"].as_u64().unwrap(), settled - 100);
    assert_eq!(sim["sampler"], "lhs");
    assert_eq!(sim["ranges"].as_array().unwrap().len(), 9);
    assert!(sim["sims_per_second"].as_f64().is_some_and(|v| v > 0.0), "{sim}");
    assert_eq!(r["input_scaling"]["scaling"]["mean"].as_array().unwrap().len(), 9);
    // Decrypted encrypted predictions are the plaintext ones up to rounding (NaN fails).
    let diff = r["max_rel_diff"].as_f64().expect("a finite max_rel_diff");
    assert!(diff < 1e-9, "max_rel_diff {diff}");
    for run in ["plain", "encrypted"] {
        let m = &r[run]["metrics"]["outputs"];
        assert_eq!(m.as_array().unwrap().len(), 11, "{run}: {m}");
        assert_eq!(r[run]["epochs_completed"], 3);
        // Three epochs on 400 patients already explain most of the variance.
        let r2 = r[run]["mean_r2"].as_f64().expect("finite mean R^2");
        assert!(r2 > 0.5, "{run} mean R^2 {r2}");
    }
    for fig in [
        "training_curves.png",
        "outputs_scatter.png",
        "scatter_aortic_systolic_mmhg.png",
        "scatter_ejection_fraction.png",
    ] {
        let len = std::fs::metadata(dir.path(&format!("exp/{fig}"))).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "{fig} missing or empty");
    }
}

#[test]
fn experiment_rejects_a_model_of_the_wrong_width_before_simulating() {
    let dir = Dir::new();
    let cfg = dir.path("m.json");
    std::fs::write(&cfg, r#"{"input":[4],"layers":[{"kind":"dense","out":11}],"loss":"mse"}"#).unwrap();
    moreml(&["wbc", "experiment", "--out", &dir.arg("x"), "--model-config", cfg.to_str().unwrap()])
        .fails_with(&["takes 4 values", "9 parameters"]);
    moreml(&["wbc", "experiment", "--out", &dir.arg("x"), "--epochs", "0"]).fails_with(&["--epochs"]);
}
