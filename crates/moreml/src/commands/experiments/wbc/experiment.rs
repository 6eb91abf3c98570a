//! `moreml wbc experiment`: a surrogate of the circulation simulator (9 sampled parameters ->
//! 11 clinical outputs) trained plaintext and encrypted side by side on the shared pipeline.
//!
//! The owner samples patients, simulates them, standardises inputs and targets with the
//! TRAINING split's statistics, and encrypts; the learner sees ciphertexts only. The report
//! scores both runs in the outputs' own units (mmHg, mL, L/min, fraction).

use super::{sample_and_simulate, SamplerArg};
use crate::commands::common::{ensure_writable_dir, with_dtype, Dtype, ExperimentJob};
use crate::distributed::{from_rank0, paired_experiment};
use anyhow::{bail, Context, Result};
use clap::Args;
use moreml_cipher::prelude::*;
use moreml_experiments::paired::EpochEval;
use moreml_experiments::{report::write_report, Dataset, ExperimentConfig, Outcome, Split, Standardizer, Task};
use moreml_more::KeyParams;
use moreml_nn::collective::Collective;
use moreml_nn::{ModelConfig, TrainConfig};
use moreml_wbc::{Batch, ParamSpace, Settings};
use serde_json::{json, Map};
use std::path::PathBuf;
use std::sync::Arc;

/// The shipped surrogate architecture (9-64-64-11, degree-2 ReLU fits, MSE); `--model-config`
/// replaces it.
const DEFAULT_MODEL: &str = include_str!("../../../../configs/wbc_mlp.json");

/// `moreml wbc experiment`.
#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// Report directory (report.json and PNG figures).
    #[arg(long)]
    pub out: PathBuf,
    /// Training patients to sample (non-settling ones are dropped and counted).
    #[arg(long, default_value_t = 10000)]
    pub train: usize,
    /// Held-out test patients to sample.
    #[arg(long, default_value_t = 2000)]
    pub test: usize,
    /// Seed of the patient sample, the initial weights and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How to sample the parameter ranges.
    #[arg(long, value_enum, default_value_t = SamplerArg::Lhs)]
    pub sampler: SamplerArg,
    /// Passes over the training data.
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Scalar type of both runs.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    /// A model config file (JSON or TOML) replacing the shipped crates/moreml/configs/wbc_mlp.json.
    #[arg(long)]
    pub model_config: Option<PathBuf>,
    #[command(flatten)]
    pub job: ExperimentJob,
}

/// Runs `moreml wbc experiment` (one rank of it with `--distributed`).
pub fn experiment(a: &ExperimentArgs) -> Result<()> {
    crate::distributed::run(a.job.distributed, |c| {
        let dtype = from_rank0(&**c, a.dtype)?;
        with_dtype!(dtype, run(a, c))
    })
}

/// Owner (rank 0): samples and simulates the patients; the data set, the run's configuration,
/// the input scaling and the simulation record for the report.
fn prepare<T: Float>(a: &ExperimentArgs) -> Result<(Dataset<T>, ExperimentConfig, (Standardizer, Simulation))> {
    if a.train < 2 || a.test < 1 {
        bail!("--train must be at least 2 and --test at least 1 (got {} and {})", a.train, a.test);
    }
    if a.epochs == 0 || a.batch == 0 || !(a.lr.is_finite() && a.lr > 0.0) {
        bail!("--epochs and --batch must be at least 1 and --lr a positive number");
    }
    let model = model_config(a)?;
    ensure_writable_dir(&a.out)?;
    let n = a.train + a.test;
    let (space, batch, secs) = sample_and_simulate(n, a.seed, a.sampler.sampler(), &Settings::default())?;
    eprintln!(
        "simulated {n} patients in {secs:.1} s ({:.0} simulations/s); {} did not settle and were dropped",
        n as f64 / secs,
        batch.failures.len()
    );
    if let Some((i, e)) = batch.failures.first() {
        eprintln!("first failure: sample {i}: {e}");
    }
    let sim = Simulation { space, batch, secs, sampled: n };
    let (ds, x_scale) = dataset::<T>(a, &sim.batch)?;
    let cfg = ExperimentConfig {
        model,
        train: TrainConfig { epochs: a.epochs, batch_size: a.batch, lr: a.lr, momentum: a.momentum, seed: a.seed },
        key: KeyParams::default(),
        eval_batch: 500,
        progress: true,
    };
    Ok((ds, cfg, (x_scale, sim)))
}

/// What the simulation step produced, for the data set and the report.
struct Simulation {
    space: ParamSpace,
    batch: Batch,
    secs: f64,
    sampled: usize,
}

/// The shipped or user model config, checked against 9 inputs.
fn model_config(a: &ExperimentArgs) -> Result<ModelConfig> {
    let (mut cfg, from_file) = match &a.model_config {
        Some(path) => (ModelConfig::from_file(path)?, true),
        None => {
            let cfg: ModelConfig = serde_json::from_str(DEFAULT_MODEL).context("the shipped wbc_mlp.json")?;
            cfg.validate()?;
            (cfg, false)
        }
    };
    let features = ParamSpace::default().ranges.len();
    let n: usize = cfg.input.iter().product();
    if n != features {
        bail!("the model takes {n} values per record, the simulator samples {features} parameters");
    }
    if !from_file {
        cfg.seed = a.seed;
    }
    Ok(cfg)
}

/// Splits the settled rows (train first, the last `test` rows held out) and standardises
/// with training statistics.
fn dataset<T: Float>(a: &ExperimentArgs, b: &Batch) -> Result<(Dataset<T>, Standardizer)> {
    let (rows, p, q) = (b.rows(), b.input_names.len(), b.target_names.len());
    let test = a.test.min(rows / 2);
    let train = rows - test;
    if train < 2 || test < 1 {
        bail!("only {rows} of the sampled patients settled; sample more with --train/--test");
    }
    let x_scale = Standardizer::fit(&b.inputs[..train * p], p)?;
    let y_scale = Standardizer::fit(&b.targets[..train * q], q)?;
    let x = x_scale.apply(&b.inputs);
    let y = y_scale.apply(&b.targets);
    let ds = Dataset {
        name: "wbc".into(),
        source: "moreml-wbc whole-body circulation simulator (sampled patients)".into(),
        train: Split::new(x[..train * p].to_vec(), p, y[..train * q].to_vec(), q)?,
        test: Split::new(x[train * p..].to_vec(), p, y[train * q..].to_vec(), q)?,
        task: Task::Regression { outputs: b.target_names.clone(), scaling: y_scale },
    };
    Ok((ds, x_scale))
}

/// The experiment as one rank of `c` (see [`crate::distributed::paired_experiment`]).
fn run<T: Float>(a: &ExperimentArgs, c: &Arc<dyn Collective>) -> Result<()> {
    paired_experiment(c, || prepare::<T>(a), |ds, cfg, (x_scale, sim), out| report(a, ds, cfg, x_scale, sim, out))
}

/// Owner: report.json with the simulation record, figures and the summary line.
fn report<T: Float>(
    a: &ExperimentArgs,
    ds: &Dataset<T>,
    cfg: &ExperimentConfig,
    x_scale: &Standardizer,
    sim: &Simulation,
    out: &Outcome,
) -> Result<()> {
    let mut extra = Map::new();
    extra.insert(
        "simulation".into(),
        json!({
            "sampled": sim.sampled,
            "settled": sim.batch.rows(),
            "failures": sim.batch.failures.len(),
            "failure_examples": sim.batch.failures.iter().take(5)
                .map(|(i, e)| json!({"sample": i, "error": e.to_string()})).collect::<Vec<_>>(),
            "seconds": sim.secs,
            "sims_per_second": sim.sampled as f64 / sim.secs,
            "beats": sim.batch.beats,
            "threads": rayon::current_num_threads(),
            "sampler": a.sampler.sampler().name(),
            "seed": a.seed,
            "ranges": sim.space.ranges.iter().map(|(name, lo, hi)| json!({"name": name, "low": lo, "high": hi}))
                .collect::<Vec<_>>(),
        }),
    );
    extra.insert("input_scaling".into(), json!({"columns": sim.batch.input_names, "scaling": x_scale}));
    let path = write_report(&a.out, ds, cfg, out, extra)?;
    let last = |log: &[EpochEval]| log.last().map(|e| (e.metrics.headline(), e.metrics.error()));
    eprintln!(
        "plain (mean R^2, mean rel error) {:?}, encrypted {:?}, max rel diff {:?} -> {}",
        last(&out.plain),
        last(&out.encrypted),
        out.max_rel_diff.last().copied().flatten(),
        path.display()
    );
    Ok(())
}
