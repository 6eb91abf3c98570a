//! `moreml angio experiment`: the view (or artery) classifier trained on plaintext and on MORE
//! ciphertexts side by side, on the shared experiment pipeline.
//!
//! Train and test frames are rendered in memory from different seeds, so no test frame is a
//! training frame. The network is the shipped `configs/angio_cnn.json` (its input shape and
//! class count are set from `--size` and `--task`) unless `--model-config` names another.

use super::TaskArg;
use crate::commands::common::{ensure_writable_dir, with_dtype, Dtype, ExperimentJob, HyperArgs};
use crate::distributed::{from_rank0, paired_experiment};
use anyhow::{bail, Context, Result};
use clap::Args;
use moreml_angio::{generate, Task};
use moreml_cipher::prelude::*;
use moreml_experiments::paired::{EpochEval, Metrics};
use moreml_experiments::{report::write_report, Dataset, ExperimentConfig, Outcome, Split, Standardizer};
use moreml_more::KeyParams;
use moreml_nn::collective::Collective;
use moreml_nn::{LayerConfig, ModelConfig};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The shipped network: conv 5x5x8 - ReLU-poly - avgpool 4 - dense 32 - ReLU-poly - dense classes.
const SHIPPED_CONFIG: &str = include_str!("../../../../configs/angio_cnn.json");

/// `moreml angio experiment`.
#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// Labels: six standard views, or LCA versus RCA.
    #[arg(long, value_enum, default_value_t = TaskArg::View)]
    pub task: TaskArg,
    /// Report directory (report.json and PNG figures).
    #[arg(long, default_value = "reports/angio")]
    pub out: PathBuf,
    /// Training images per class.
    #[arg(long, default_value_t = 300)]
    pub n_train: usize,
    /// Held-out test images per class.
    #[arg(long, default_value_t = 200)]
    pub n_test: usize,
    /// Image side in pixels (the shipped network takes sides of 4k + 4, e.g. 32 or 64).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Model config file (JSON or TOML) instead of the shipped configs/angio_cnn.json.
    #[arg(long)]
    pub model_config: Option<PathBuf>,
    /// Scalar type of both runs.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    /// Epochs, batch, learning rate, momentum; --seed also picks the frames (train 2s, test 2s+1).
    #[command(flatten)]
    pub hyper: HyperArgs,
    #[command(flatten)]
    pub job: ExperimentJob,
}

/// Runs `moreml angio experiment` (one rank of it with `--distributed`).
pub fn experiment(a: &ExperimentArgs) -> Result<()> {
    crate::distributed::run(a.job.distributed, |c| {
        let dtype = from_rank0(&**c, a.dtype)?;
        with_dtype!(dtype, run(a, c))
    })
}

/// The network: the user's file as written, or the shipped one fitted to `size` and `classes`.
fn model_config(a: &ExperimentArgs, classes: usize) -> Result<ModelConfig> {
    let features = a.size * a.size;
    if let Some(path) = &a.model_config {
        let cfg = ModelConfig::from_file(path)?;
        let n: usize = cfg.input.iter().product();
        if n != features {
            let (file, side) = (path.display(), a.size);
            bail!("{file}: the model takes {n} values per record, {side}x{side} frames have {features}");
        }
        return Ok(cfg);
    }
    let mut cfg: ModelConfig = serde_json::from_str(SHIPPED_CONFIG).context("the shipped angio_cnn.json is invalid")?;
    cfg.input = vec![a.size, a.size, 1];
    cfg.seed = a.hyper.seed;
    match cfg.layers.last_mut() {
        Some(LayerConfig::Dense(d)) => d.out = classes,
        _ => bail!("the shipped angio_cnn.json must end with a dense layer"),
    }
    Ok(cfg)
}

/// Frames rendered by the owner: pixel values `[n, size^2]` in [0, 1], one-hot targets `[n, k]`.
struct Frames {
    pixels: Vec<f64>,
    targets: Vec<f64>,
    class_names: Vec<String>,
}

/// Renders `n` frames per class with `seed`.
fn render(n: usize, size: usize, seed: u64, task: Task) -> Result<Frames> {
    let d = generate(n, size, seed, task)?;
    let k = d.class_names.len();
    let mut targets = vec![0.0; d.labels.len() * k];
    for (row, &c) in targets.chunks_exact_mut(k).zip(&d.labels) {
        row[c] = 1.0;
    }
    Ok(Frames { pixels: d.images.iter().map(|&v| v as f64).collect(), targets, class_names: d.class_names })
}

/// A split scaled with one mean and one standard deviation over all training pixels (fitted by
/// the owner before encryption). Raw frames are mostly bright background: without the shift the
/// first convolution sees a large common offset and the LCA/RCA task barely trains.
fn split<T: Float>(frames: Frames, scale: &Standardizer, k: usize, size: usize) -> Result<Split<T>> {
    Ok(Split::new(scale.apply(&frames.pixels), size * size, frames.targets, k)?)
}
/// Unordered class pairs by how often either is taken for the other, most confused first.
fn confused_pairs(log: &[EpochEval], classes: &[String]) -> Value {
    let Some(Metrics::Classification(c)) = log.last().map(|e| &e.metrics) else {
        return Value::Null;
    };
    let mut pairs = Vec::new();
    for i in 0..classes.len() {
        for j in i + 1..classes.len() {
            let (ij, ji) = (c.confusion[i][j], c.confusion[j][i]);
            if ij + ji > 0 {
                pairs.push((
                    ij + ji,
                    json!({"pair": [classes[i], classes[j]], "count": ij + ji,
                    "first_as_second": ij, "second_as_first": ji}),
                ));
            }
        }
    }
    pairs.sort_by_key(|p| std::cmp::Reverse(p.0));
    Value::Array(pairs.into_iter().map(|(_, v)| v).collect())
}

/// What the owner keeps for the report besides the data set: the class names, the pixel
/// scaling, and the frame seeds and rendering time.
struct Rendered {
    classes: Vec<String>,
    scale: Standardizer,
    seeds: (u64, u64),
    generation_seconds: f64,
}

/// Owner (rank 0): renders the frames; the data set, the run's configuration and what the
/// report needs about the frames.
fn prepare<T: Float>(a: &ExperimentArgs) -> Result<(Dataset<T>, ExperimentConfig, Rendered)> {
    ensure_writable_dir(&a.out)?;
    let task = match a.task {
        TaskArg::View => Task::View,
        TaskArg::Artery => Task::Artery,
    };
    let (train_seed, test_seed) = (a.hyper.seed.wrapping_mul(2), a.hyper.seed.wrapping_mul(2).wrapping_add(1));
    let start = Instant::now();
    let train = render(a.n_train, a.size, train_seed, task)?;
    let test = render(a.n_test, a.size, test_seed, task)?;
    let generation_seconds = start.elapsed().as_secs_f64();
    let classes = train.class_names.clone();
    let scale = Standardizer::fit(&train.pixels, 1)?;
    let k = classes.len();
    let (train, test) = (split::<T>(train, &scale, k, a.size)?, split::<T>(test, &scale, k, a.size)?);
    let name = match a.task {
        TaskArg::View => "angio-view",
        TaskArg::Artery => "angio-artery",
    };
    let ds = Dataset {
        name: name.into(),
        source: format!(
            "synthetic coronary angiograms (moreml-angio), {0}x{0}, train seed {train_seed}, test seed {test_seed}",
            a.size
        ),
        train,
        test,
        task: moreml_experiments::Task::Classification { classes: classes.clone() },
    };
    let cfg = ExperimentConfig {
        model: model_config(a, classes.len())?,
        train: a.hyper.train_config(0.05)?,
        key: KeyParams::default(),
        eval_batch: 200,
        progress: true,
    };
    let side = a.size;
    eprintln!(
        "{name}: {} train / {} test frames of {side}x{side} rendered in {generation_seconds:.2} s; \
         {} epochs, batch {}, lr {}, {}",
        ds.train.len(),
        ds.test.len(),
        cfg.train.epochs,
        cfg.train.batch_size,
        cfg.train.lr,
        T::NAME
    );
    let frames = Rendered { classes, scale, seeds: (train_seed, test_seed), generation_seconds };
    Ok((ds, cfg, frames))
}

/// The experiment as one rank of `c` (see [`crate::distributed::paired_experiment`]).
fn run<T: Float>(a: &ExperimentArgs, c: &Arc<dyn Collective>) -> Result<()> {
    paired_experiment(c, || prepare::<T>(a), |ds, cfg, frames, out| report(a, ds, cfg, frames, out))
}

/// Owner: report.json with the frame details and confusions, figures and the summary line.
fn report<T: Float>(
    a: &ExperimentArgs,
    ds: &Dataset<T>,
    cfg: &ExperimentConfig,
    frames: &Rendered,
    out: &Outcome,
) -> Result<()> {
    let Rendered { classes, scale, seeds: (train_seed, test_seed), generation_seconds } = frames;
    let mut extra = Map::new();
    extra.insert("size".into(), json!(a.size));
    extra.insert("train_per_class".into(), json!(a.n_train));
    extra.insert("test_per_class".into(), json!(a.n_test));
    extra.insert("train_seed".into(), json!(train_seed));
    extra.insert("test_seed".into(), json!(test_seed));
    extra.insert("generation_seconds".into(), json!(generation_seconds));
    extra.insert("pixel_scaling".into(), json!({"mean": scale.mean[0], "std": scale.std[0]}));
    extra.insert(
        "confused_pairs".into(),
        json!({"plain": confused_pairs(&out.plain, classes), "encrypted": confused_pairs(&out.encrypted, classes)}),
    );
    let path = write_report(&a.out, ds, cfg, out, extra)?;
    let last = |log: &[EpochEval]| log.last().and_then(|e| e.metrics.headline());
    eprintln!(
        "plain accuracy {:?}, encrypted accuracy {:?}, agreement {:?}, max rel diff {:?} -> {}",
        last(&out.plain),
        last(&out.encrypted),
        out.agreement.last().copied().flatten(),
        out.max_rel_diff.last().copied().flatten(),
        path.display()
    );
    Ok(())
}
