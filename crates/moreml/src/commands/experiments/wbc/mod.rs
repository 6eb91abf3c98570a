//! `moreml wbc ...`: the whole-body circulation simulator (simulate, params, dataset, windkessel, bench)
//! and the paired plaintext/encrypted surrogate experiment on it (`experiment`).

mod experiment;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::commands::owner::dataset::{role_header, table_columns, write_table};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use moreml_cipher::format;
use moreml_report::{panels, CurveSpec, Panel, Series};
use moreml_wbc::windkessel::{simulate_rcr, Inflow, Rcr};
use moreml_wbc::{simulate, simulate_batch, Activation, Batch, ParamSpace, Params, Sampler, Settings, OUTPUT_NAMES};
use serde_json::json;

/// `moreml wbc`.
#[derive(Args, Debug)]
pub struct WbcArgs {
    #[command(subcommand)]
    pub command: WbcCommand,
}

/// The `wbc` subcommands.
#[derive(Subcommand, Debug)]
pub enum WbcCommand {
    /// Simulate one patient to periodic steady state and print the clinical outputs.
    Simulate(SimulateArgs),
    /// Print the default parameter file (JSON) with units and ranges.
    Params,
    /// Sample patients, simulate them in parallel, write FILE.csv and FILE.safetensors.
    Dataset(DatasetArgs),
    /// Drive an RCR windkessel with a periodic inflow and write the last cycle as CSV.
    Windkessel(WindkesselArgs),
    /// Measure simulations per second on sampled patients.
    Bench(BenchArgs),
    /// Train a surrogate (parameters -> clinical outputs) plaintext and encrypted side by side.
    Experiment(experiment::ExperimentArgs),
}

/// `moreml wbc simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Parameter file (JSON; `moreml wbc params` prints one). Missing values take the defaults.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write PV loops and pressure waveforms (PNG), waveforms.csv and simulation.json here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Sampler choice on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SamplerArg {
    /// Latin hypercube.
    Lhs,
    /// Independent uniform draws.
    Uniform,
}

impl SamplerArg {
    /// The library's sampler.
    fn sampler(self) -> Sampler {
        match self {
            SamplerArg::Lhs => Sampler::Lhs,
            SamplerArg::Uniform => Sampler::Uniform,
        }
    }
}

/// `moreml wbc dataset`.
#[derive(Args, Debug)]
pub struct DatasetArgs {
    /// Number of patients to sample.
    #[arg(long)]
    pub n: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How to sample the parameter ranges.
    #[arg(long, value_enum, default_value_t = SamplerArg::Lhs)]
    pub sampler: SamplerArg,
    /// Output stem: writes STEM.csv and STEM.safetensors (a .csv/.safetensors suffix is dropped).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep raw values in STEM.safetensors (default: each column standardised to mean 0, std 1,
    /// statistics in the header, as `moreml dataset csv` does; STEM.csv always has raw values).
    #[arg(long)]
    pub no_standardize: bool,
}

/// `moreml wbc windkessel`.
#[derive(Args, Debug)]
pub struct WindkesselArgs {
    /// Inflow CSV with a header and columns t (s), q (mL/s); default: a half-sine ejection.
    #[arg(long)]
    pub inflow: Option<PathBuf>,
    /// Proximal resistance (mmHg.s/mL).
    #[arg(long, default_value_t = 0.04)]
    pub rp: f64,
    /// Compliance (mL/mmHg).
    #[arg(long, default_value_t = 1.8)]
    pub c: f64,
    /// Distal resistance (mmHg.s/mL).
    #[arg(long, default_value_t = 1.0)]
    pub rd: f64,
    /// Distal pressure (mmHg).
    #[arg(long, default_value_t = 0.0)]
    pub pd: f64,
    /// RK4 steps per cycle.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Cycles to run (the last is written).
    #[arg(long, default_value_t = 30)]
    pub cycles: usize,
    /// Output CSV (t, q, p).
    #[arg(long)]
    pub out: PathBuf,
}

/// `moreml wbc bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Patients to simulate (Latin hypercube over the dataset ranges).
    #[arg(long, default_value_t = 4000)]
    pub n: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Plain beat-after-beat iteration (no Anderson acceleration), for comparison.
    #[arg(long)]
    pub no_accelerate: bool,
}

/// Runs a `wbc` subcommand.
pub fn wbc(a: &WbcArgs) -> Result<()> {
    match &a.command {
        WbcCommand::Simulate(s) => simulate_cmd(s),
        WbcCommand::Params => {
            println!("{}", serde_json::to_string_pretty(&Params::default().to_documented_json())?);
            Ok(())
        }
        WbcCommand::Dataset(d) => dataset(d),
        WbcCommand::Windkessel(w) => windkessel(w),
        WbcCommand::Bench(b) => bench(b),
        WbcCommand::Experiment(e) => experiment::experiment(e),
    }
}

fn simulate_cmd(a: &SimulateArgs) -> Result<()> {
    let params = match &a.params {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read --params {}", p.display()))?;
            Params::from_json(&text).with_context(|| format!("--params {}", p.display()))?
        }
        None => Params::default(),
    };
    let sim = simulate(&params, &Settings::default(), a.out.is_some())?;
    let outputs = serde_json::to_value(sim.outputs)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&outputs)?);
    } else {
        for (name, v) in OUTPUT_NAMES.iter().zip(sim.outputs.to_array()) {
            println!("{name:<24} {v:>10.3}");
        }
        println!("{:<24} {:>10.3}", "peak_lv_aortic_gradient", sim.peak_lv_aortic_gradient_mmhg);
        println!("({} beats to steady state, relative volume drift {:.1e})", sim.beats, sim.volume_drift);
    }
    if let (Some(dir), Some(w)) = (&a.out, &sim.waveforms) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --out {}", dir.display()))?;
        let loops = [
            Panel::new(
                CurveSpec::new("Left ventricle", "volume (mL)", "pressure (mmHg)"),
                vec![Series::new("LV", w.lv_volume.clone(), w.lv_pressure.clone())],
            ),
            Panel::new(
                CurveSpec::new("Right ventricle", "volume (mL)", "pressure (mmHg)"),
                vec![Series::new("RV", w.rv_volume.clone(), w.rv_pressure.clone())],
            ),
        ];
        panels(dir.join("pv_loops.png"), "Pressure-volume loops (steady-state beat)", &loops)?;
        let t = &w.time_s;
        let s = |name: &str, y: &Vec<f64>| Series::new(name, t.clone(), y.clone());
        let pressures = [
            Panel::new(
                CurveSpec::new("Left heart", "time (s)", "pressure (mmHg)"),
                vec![s("aorta", &w.aortic_pressure), s("LV", &w.lv_pressure), s("LA", &w.la_pressure)],
            ),
            Panel::new(
                CurveSpec::new("Right heart", "time (s)", "pressure (mmHg)"),
                vec![s("pulmonary artery", &w.pa_pressure), s("RV", &w.rv_pressure), s("RA", &w.ra_pressure)],
            ),
        ];
        panels(dir.join("pressures.png"), "Pressure waveforms (steady-state beat)", &pressures)?;
        let header = "t,lv_pressure,lv_volume,rv_pressure,rv_volume,aortic_pressure,pa_pressure,la_pressure,ra_pressure,aortic_flow";
        let cols = [
            &w.time_s,
            &w.lv_pressure,
            &w.lv_volume,
            &w.rv_pressure,
            &w.rv_volume,
            &w.aortic_pressure,
            &w.pa_pressure,
            &w.la_pressure,
            &w.ra_pressure,
            &w.aortic_flow,
        ];
        write_csv(&dir.join("waveforms.csv"), header, t.len(), |i| cols.iter().map(|c| c[i]).collect())?;
        let act = Activation::new(&params, 60.0 / params.heart_rate);
        let record = json!({
            "parameters": params,
            "outputs": outputs,
            "peak_lv_aortic_gradient_mmhg": sim.peak_lv_aortic_gradient_mmhg,
            "beats": sim.beats,
            "volume_drift": sim.volume_drift,
            "start_of_beat_volumes_ml": moreml_wbc::COMPARTMENTS.iter().zip(sim.end_state).map(|(c, v)| (c.to_string(), v)).collect::<BTreeMap<_, _>>(),
            "activation_s": {"period": act.period, "v_contract": act.v_contract, "v_relax": act.v_relax,
                             "a_contract": act.a_contract, "a_relax": act.a_relax, "a_onset": act.a_onset},
        });
        format::write_atomic(&dir.join("simulation.json"), serde_json::to_string_pretty(&record)?.as_bytes(), None)?;
        eprintln!("wrote pv_loops.png, pressures.png, waveforms.csv, simulation.json in {}", dir.display());
    }
    Ok(())
}

/// Writes `rows` comma-separated rows of numbers under `header`, atomically.
fn write_csv(path: &Path, header: &str, rows: usize, row: impl Fn(usize) -> Vec<f64>) -> Result<()> {
    let mut text = String::with_capacity(rows * 16 * header.split(',').count() + header.len() + 1);
    text.push_str(header);
    text.push('\n');
    for i in 0..rows {
        let r: Vec<String> = row(i).iter().map(|v| format!("{v}")).collect();
        text.push_str(&r.join(","));
        text.push('\n');
    }
    format::write_atomic(path, text.as_bytes(), None).with_context(|| format!("cannot write {}", path.display()))
}

/// Samples and simulates with a progress bar; returns the batch and the elapsed seconds.
fn sample_and_simulate(n: usize, seed: u64, sampler: Sampler, settings: &Settings) -> Result<(ParamSpace, Batch, f64)> {
    if n == 0 {
        bail!("--n must be at least 1");
    }
    let space = ParamSpace::default();
    let patients = space.sample(n, seed, sampler)?;
    let bar = indicatif::ProgressBar::new(n as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} simulating [{bar:30}] {pos}/{len} patients ({elapsed}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let batch = simulate_batch(&patients, &space.names(), settings, &|k| bar.inc(k))?;
    let secs = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok((space, batch, secs))
}

fn dataset(a: &DatasetArgs) -> Result<()> {
    let sampler = a.sampler.sampler();
    let stem = match a.out.extension().and_then(|e| e.to_str()) {
        Some("csv" | "safetensors") => a.out.with_extension(""),
        _ => a.out.clone(),
    };
    let (space, batch, secs) = sample_and_simulate(a.n, a.seed, sampler, &Settings::default())?;
    let rows = batch.rows();
    if rows == 0 {
        bail!("none of the {} sampled patients reached a steady state; nothing written", a.n);
    }
    let (p, q) = (batch.input_names.len(), batch.target_names.len());
    let mut header = batch.input_names.clone();
    header.extend(batch.target_names.iter().cloned());
    let csv_path = stem.with_extension("csv");
    write_csv(&csv_path, &header.join(","), rows, |i| {
        batch.inputs[i * p..(i + 1) * p].iter().chain(&batch.targets[i * q..(i + 1) * q]).copied().collect()
    })?;
    let mut extra = role_header("inputs", "targets", "regression");
    let raw = a.no_standardize;
    let inputs = table_columns(&mut extra, "inputs", &batch.input_names, batch.inputs.clone(), raw)?;
    let targets = table_columns(&mut extra, "targets", &batch.target_names, batch.targets.clone(), raw)?;
    extra.insert("moreml.wbc.ranges".into(), serde_json::to_string(&space.ranges)?);
    extra.insert("moreml.wbc.sampler".into(), sampler.name().into());
    extra.insert("moreml.wbc.seed".into(), a.seed.to_string());
    extra.insert("moreml.wbc.sampled".into(), a.n.to_string());
    extra.insert("moreml.wbc.failed".into(), batch.failures.len().to_string());
    let st_path = stem.with_extension("safetensors");
    write_table::<f64>(&st_path, inputs, [rows, p], targets, [rows, q], extra)?;
    println!(
        "{rows} patients written to {} and {} ({} did not settle and were dropped; {:.0} simulations/s)",
        csv_path.display(),
        st_path.display(),
        batch.failures.len(),
        a.n as f64 / secs
    );
    if let Some((i, e)) = batch.failures.first() {
        eprintln!("first failure: sample {i}: {e}");
    }
    Ok(())
}

fn windkessel(a: &WindkesselArgs) -> Result<()> {
    let inflow = match &a.inflow {
        Some(path) => read_inflow(path)?,
        None => Inflow::half_sine(0.8, 0.3, 400.0, 801),
    };
    let rcr = Rcr { rp: a.rp, c: a.c, rd: a.rd, pd: a.pd };
    let w = simulate_rcr(&rcr, &inflow, a.steps, a.cycles)?;
    write_csv(&a.out, "t,q,p", w.time_s.len(), |i| vec![w.time_s[i], w.flow[i], w.pressure[i]])
}

/// Reads a two-column `t,q` CSV with a header line.
fn read_inflow(path: &Path) -> Result<Inflow> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read --inflow {}", path.display()))?;
    let (mut t, mut q) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let num = |s: &str| s.parse::<f64>().ok();
        match (cells.len(), cells.first().and_then(|s| num(s)), cells.get(1).and_then(|s| num(s))) {
            (2, Some(a), Some(b)) => {
                t.push(a);
                q.push(b);
            }
            _ => bail!("--inflow {} line {}: expected two numbers `t,q`, got `{line}`", path.display(), i + 1),
        }
    }
    Inflow::new(t, q).with_context(|| format!("--inflow {}", path.display()))
}

fn bench(a: &BenchArgs) -> Result<()> {
    let settings = Settings { accelerate: !a.no_accelerate, ..Settings::default() };
    let (_, batch, secs) = sample_and_simulate(a.n, a.seed, Sampler::Lhs, &settings)?;
    println!(
        "{} patients in {secs:.2} s on {} threads: {:.0} simulations/s, {:.1} beats per patient on average, {} failed",
        a.n,
        rayon::current_num_threads(),
        a.n as f64 / secs,
        batch.beats as f64 / batch.rows().max(1) as f64,
        batch.failures.len()
    );
    Ok(())
}
