//! Physiological validation of the WBC model (the checks of docs/wbc-model.md).

use moreml_wbc::{simulate, ParamSpace, Params, Sampler, Settings, WbcError, OUTPUT_NAMES};

fn run(p: &Params) -> moreml_wbc::Simulation {
    simulate(p, &Settings::default(), false).unwrap_or_else(|e| panic!("simulation failed: {e}"))
}

fn with(f: impl FnOnce(&mut Params)) -> Params {
    let mut p = Params::default();
    f(&mut p);
    p
}

fn in_range(name: &str, v: f64, lo: f64, hi: f64) {
    assert!(v >= lo && v <= hi, "{name} = {v} outside the physiological range [{lo}, {hi}]");
}

#[test]
fn default_patient_is_a_healthy_adult_at_rest() {
    let o = run(&Params::default()).outputs;
    in_range("aortic systolic (mmHg)", o.aortic_systolic_mmhg, 110.0, 130.0);
    in_range("aortic diastolic (mmHg)", o.aortic_diastolic_mmhg, 70.0, 85.0);
    in_range("cardiac output (L/min)", o.cardiac_output_l_min, 4.5, 6.0);
    in_range("LV ejection fraction", o.ejection_fraction, 0.55, 0.70);
    in_range("LVEDV (mL)", o.lv_edv_ml, 100.0, 150.0);
    in_range("mean PA pressure (mmHg)", o.pa_mean_mmhg, 10.0, 20.0);
    in_range("mean RA pressure (mmHg)", o.ra_mean_mmhg, 2.0, 8.0);
    in_range("mean LA pressure (mmHg)", o.la_mean_mmhg, 5.0, 12.0);
    // Internal consistency of the derived outputs.
    assert!((o.stroke_volume_ml - (o.lv_edv_ml - o.lv_esv_ml)).abs() < 1e-12);
    assert!((o.cardiac_output_l_min - o.stroke_volume_ml * 75.0 / 1000.0).abs() < 1e-12);
    assert!(o.aortic_diastolic_mmhg < o.aortic_mean_mmhg && o.aortic_mean_mmhg < o.aortic_systolic_mmhg);
}

/// Golden values of the default patient (regression guard; update deliberately if the model changes).
#[test]
fn default_patient_golden_values() {
    let o = run(&Params::default()).outputs;
    let golden = [120.159, 78.115, 96.257, 67.968, 5.0976, 0.58277, 116.630, 48.662, 16.378, 7.0325, 4.5006];
    for ((name, got), want) in OUTPUT_NAMES.iter().zip(o.to_array()).zip(golden) {
        assert!((got - want).abs() <= 1e-3 * want.abs(), "{name}: got {got}, golden {want}");
    }
}

#[test]
fn raising_peripheral_resistance_raises_mean_aortic_pressure() {
    let mut last = f64::NEG_INFINITY;
    for r in [0.6, 0.9, 1.2, 1.5, 1.8] {
        let map = run(&with(|p| p.r_sys = r)).outputs.aortic_mean_mmhg;
        assert!(map > last, "r_sys {r}: MAP {map} not above {last}");
        last = map;
    }
}

#[test]
fn raising_lv_emax_raises_ejection_fraction() {
    let mut last = f64::NEG_INFINITY;
    for e in [1.0, 1.75, 2.5, 3.25, 4.0] {
        let ef = run(&with(|p| p.lv_emax = e)).outputs.ejection_fraction;
        assert!(ef > last, "lv_emax {e}: EF {ef} not above {last}");
        last = ef;
    }
}

#[test]
fn raising_heart_rate_raises_cardiac_output_in_range() {
    let mut last = f64::NEG_INFINITY;
    for hr in [50.0, 65.0, 80.0, 95.0, 110.0, 120.0] {
        let co = run(&with(|p| p.heart_rate = hr)).outputs.cardiac_output_l_min;
        assert!(co > last, "heart rate {hr}: CO {co} not above {last}");
        last = co;
    }
}

#[test]
fn aortic_stenosis_creates_a_systolic_gradient_growing_with_resistance() {
    let mut last = f64::NEG_INFINITY;
    for r in [0.003, 0.01, 0.03, 0.1] {
        let g = run(&with(|p| p.r_aortic = r)).peak_lv_aortic_gradient_mmhg;
        assert!(g > last, "r_aortic {r}: gradient {g} not above {last}");
        last = g;
    }
}

#[test]
fn stenosis_x10_gives_tens_of_mmhg_gradient() {
    let base = run(&Params::default());
    let sten = run(&with(|p| p.r_aortic *= 10.0));
    let (g0, g1) = (base.peak_lv_aortic_gradient_mmhg, sten.peak_lv_aortic_gradient_mmhg);
    assert!(g0 < 10.0, "healthy valve gradient {g0} mmHg should be small");
    assert!((20.0..100.0).contains(&g1), "stenotic gradient {g1} mmHg should be tens of mmHg");
    // The LV must work harder: its peak pressure exceeds the aortic systolic pressure by the gradient.
    assert!(sten.outputs.aortic_systolic_mmhg < base.outputs.aortic_systolic_mmhg + g1);
}

/// Halving the RK4 step changes every output by < 0.1% (relative, with a small absolute floor),
/// comparing both runs on the coarse run's time grid (every other sample of the fine run).
#[test]
fn halving_the_step_changes_outputs_by_less_than_a_tenth_of_a_percent() {
    let space = ParamSpace::default();
    let mut patients = vec![Params::default()];
    patients.extend(space.sample(12, 11, Sampler::Lhs).unwrap());
    for p in &patients {
        let period = 60.0 / p.heart_rate;
        let n = (period / 0.002).ceil();
        let step = |k: f64| period / (k * n) * (1.0 + 1e-12); // exactly k*n steps per beat
        let settings = |k| Settings { max_step_s: step(k), tol_ml: 1e-6, ..Settings::default() };
        let coarse = simulate(p, &settings(1.0), true).unwrap();
        let fine = simulate(p, &settings(2.0), true).unwrap();
        let (cw, fw) = (coarse.waveforms.unwrap(), fine.waveforms.unwrap());
        assert_eq!(fw.time_s.len(), 2 * cw.time_s.len() - 1);
        let a_all = cw.outputs(1, p.heart_rate).to_array();
        assert_eq!(a_all, coarse.outputs.to_array(), "waveform outputs must equal the online outputs");
        let b_all = fw.outputs(2, p.heart_rate).to_array();
        for ((name, a), b) in OUTPUT_NAMES.iter().zip(a_all).zip(b_all) {
            let rel = (a - b).abs() / (b.abs() + 1e-3);
            assert!(rel < 1e-3, "{name}: 2 ms {a} vs 1 ms {b} (relative {rel:e}) for {p:?}");
        }
    }
}

#[test]
fn total_volume_is_conserved() {
    let space = ParamSpace::default();
    for p in space.sample(8, 3, Sampler::Uniform).unwrap() {
        let s = run(&p);
        assert!(s.volume_drift < 1e-9, "relative drift {} for {p:?}", s.volume_drift);
    }
}

#[test]
fn steady_state_is_periodic_and_independent_of_the_start() {
    let p = with(|p| p.heart_rate = 100.0);
    let warm = run(&p);
    let settings = Settings { accelerate: false, ..Settings::default() };
    let cold =
        moreml_wbc::simulate_from(&p, &settings, &[10.0, 20.0, 300.0, 800.0, 30.0, 20.0, 100.0, 300.0], false).unwrap();
    assert!(cold.beats > warm.beats, "a cold start should need more beats ({} vs {})", cold.beats, warm.beats);
    for ((name, a), b) in OUTPUT_NAMES.iter().zip(warm.outputs.to_array()).zip(cold.outputs.to_array()) {
        assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{name}: {a} vs {b}");
    }
}

#[test]
fn every_spec_range_corner_settles() {
    // The spec's ranges, at their extremes (all 2^9 corners would be slow; use the 18 one-at-a-time extremes).
    for (name, lo, hi) in moreml_wbc::DEFAULT_RANGES {
        for v in [lo, hi] {
            let mut p = Params::default();
            p.set(name, v).unwrap();
            let s = simulate(&p, &Settings::default(), false).unwrap_or_else(|e| panic!("{name} = {v}: {e}"));
            assert!(s.outputs.to_array().iter().all(|x| x.is_finite()), "{name} = {v}: {:?}", s.outputs);
        }
    }
}

#[test]
fn bad_parameters_are_errors_naming_the_parameter() {
    let cases: [(&str, f64); 6] = [
        ("c_sys_art", -1.0),
        ("heart_rate", 0.0),
        ("lv_emax", f64::NAN),
        ("r_sys", f64::INFINITY),
        ("stressed_volume", 0.0),
        ("lv_emin", 3.5), // above lv_emax
    ];
    for (name, v) in cases {
        let mut p = Params::default();
        p.set(name, v).unwrap();
        match simulate(&p, &Settings::default(), false) {
            Err(e @ WbcError::InvalidParameter { .. }) => {
                assert!(e.to_string().contains(&format!("`{name}`")), "message does not name {name}: {e}")
            }
            other => panic!("{name} = {v}: expected InvalidParameter, got {other:?}"),
        }
    }
    assert!(matches!(Params::default().set("nonsense", 1.0), Err(WbcError::UnknownParameter { .. })));
    assert!(matches!(Params::from_json("{\"heart_rat\": 70}"), Err(WbcError::ParamFile { .. })));
    assert!(matches!(Params::from_json("{\"heart_rate\": -70}"), Err(WbcError::InvalidParameter { .. })));
    assert!(matches!(Params::from_json("[1, 2"), Err(WbcError::ParamFile { .. })));
}

#[test]
fn not_settling_is_a_clear_error() {
    let settings = Settings { max_beats: 3, accelerate: false, ..Settings::default() };
    let start = [10.0, 20.0, 300.0, 800.0, 30.0, 20.0, 100.0, 300.0];
    match moreml_wbc::simulate_from(&Params::default(), &settings, &start, false) {
        Err(WbcError::NotSettled { beats: 3, .. }) => {}
        other => panic!("expected NotSettled after 3 beats, got {other:?}"),
    }
}

#[test]
fn documented_parameter_file_round_trips() {
    let doc = Params::default().to_documented_json().to_string();
    assert_eq!(Params::from_json(&doc).unwrap(), Params::default());
    assert_eq!(Params::from_json("{\"heart_rate\": 90}").unwrap().heart_rate, 90.0);
}

#[test]
fn samplers_are_deterministic_and_in_range() {
    let space = ParamSpace::default();
    for sampler in [Sampler::Uniform, Sampler::Lhs] {
        let a = space.sample(50, 42, sampler).unwrap();
        assert_eq!(a, space.sample(50, 42, sampler).unwrap(), "{sampler:?} not deterministic");
        assert_ne!(a, space.sample(50, 43, sampler).unwrap(), "{sampler:?} ignores the seed");
        for p in &a {
            for (name, lo, hi) in &space.ranges {
                let v = p.get(name).unwrap();
                assert!(v >= *lo && v <= *hi, "{name} = {v} outside [{lo}, {hi}]");
            }
            // Unsampled parameters keep the base values.
            assert_eq!(p.lv_v0, space.base.lv_v0);
        }
    }
}

#[test]
fn latin_hypercube_uses_every_stratum_once() {
    let space = ParamSpace::default();
    let n = 40;
    let pts = space.sample(n, 5, Sampler::Lhs).unwrap();
    for (name, lo, hi) in &space.ranges {
        let mut seen = vec![false; n];
        for p in &pts {
            let s = (((p.get(name).unwrap() - lo) / (hi - lo)) * n as f64).floor() as usize;
            assert!(!seen[s.min(n - 1)], "{name}: stratum {s} used twice");
            seen[s.min(n - 1)] = true;
        }
    }
}

#[test]
fn batch_simulation_keeps_settled_rows_and_counts_failures() {
    let space = ParamSpace::default();
    let mut pts = space.sample(20, 9, Sampler::Lhs).unwrap();
    pts[4].c_sys_art = -1.0; // an invalid patient is a counted failure, not an abort
    let b = moreml_wbc::simulate_batch(&pts, &space.names(), &Settings::default(), &|_| {}).unwrap();
    assert_eq!(b.rows(), 19);
    assert_eq!(b.failures.len(), 1);
    assert_eq!(b.failures[0].0, 4);
    assert_eq!(b.inputs.len(), 19 * 9);
    assert_eq!(b.targets.len(), 19 * 11);
    // Row 4 of the batch is sample 5; its outputs equal a lone simulation's (warm starts do not matter).
    let lone = run(&pts[5]).outputs.to_array();
    for (a, b) in lone.iter().zip(&b.targets[4 * 11..5 * 11]) {
        assert!((a - b).abs() <= 1e-3 * a.abs().max(1.0), "{a} vs {b}");
    }
    assert_eq!(b.inputs[4 * 9], pts[5].heart_rate);
}
