//! `moreml mnist`: the paper's first experiment, plaintext and encrypted side by side, on the
//! shared experiment pipeline.

use crate::commands::common::{with_dtype, Dtype, ExperimentJob, HyperArgs, ModelArgs};
use crate::distributed::{from_rank0, paired_experiment};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use moreml_cipher::prelude::*;
use moreml_datasets::{resolve_mnist_dir, Mnist};
use moreml_experiments::{report::write_report, Dataset, ExperimentConfig, Outcome, Split, Task};
use moreml_more::{KeyParams, RDistribution, SecretKey};
use moreml_nn::collective::Collective;
use moreml_report as fig;
use serde_json::Map;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `moreml mnist`.
#[derive(Args, Debug)]
pub struct MnistArgs {
    /// Directory with the four MNIST IDX files (default: $MOREML_MNIST_DIR).
    #[arg(long, conflicts_with = "synthetic")]
    pub data_dir: Option<PathBuf>,
    /// Use the built-in synthetic seven-segment digits instead of MNIST (no download; a demo,
    /// not the paper's experiment). Default sizes: 6000 train / 1000 test.
    #[arg(long)]
    pub synthetic: bool,
    /// Report directory (report.json and PNG figures).
    #[arg(long, default_value = "reports/mnist")]
    pub out: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Training images to use (first N; 0 = all).
    #[arg(long, default_value_t = 0)]
    pub train_size: usize,
    /// Test images to use (first N; 0 = all).
    #[arg(long, default_value_t = 0)]
    pub test_size: usize,
    /// Scalar type of both runs.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    #[command(flatten)]
    pub hyper: HyperArgs,
    /// How the hidden value r of input pixels is drawn.
    #[arg(long, value_enum, default_value_t = RInputs::Empirical)]
    pub r_inputs: RInputs,
    #[command(flatten)]
    pub job: ExperimentJob,
}

/// Distribution of the hidden value of input ciphertexts.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RInputs {
    /// Per-pixel empirical histogram + jitter.
    Empirical,
    /// Another whole image + centred jitter (the shadow network then sees real images).
    Record,
}

pub fn mnist(a: &MnistArgs) -> Result<()> {
    crate::distributed::run(a.job.distributed, |c| {
        let dtype = from_rank0(&**c, a.dtype)?;
        with_dtype!(dtype, run(a, c))
    })
}

/// Owner (rank 0): loads or generates the digits; the data set, the run's configuration and
/// the test labels (for the figure).
fn prepare<T: Float>(a: &MnistArgs) -> Result<(Dataset<T>, ExperimentConfig, Vec<u8>)> {
    crate::commands::common::ensure_writable_dir(&a.out)?;
    let data = if a.synthetic {
        let n = |size: usize, default: usize| if size == 0 { default } else { size };
        eprintln!("using the built-in synthetic seven-segment digits (not MNIST)");
        Mnist::synthetic(n(a.train_size, 6000), n(a.test_size, 1000), a.hyper.seed)
    } else {
        let dir = resolve_mnist_dir(a.data_dir.as_deref())?;
        Mnist::load(&dir).with_context(|| format!("cannot load MNIST from {}", dir.display()))?
    };
    let n_train = if a.train_size == 0 { data.n_train() } else { a.train_size.min(data.n_train()) };
    let n_test = if a.test_size == 0 { data.n_test() } else { a.test_size.min(data.n_test()) };
    let data = data.subset(n_train, n_test);
    let r = match a.r_inputs {
        RInputs::Record => RDistribution::Record { jitter: 0.01 },
        RInputs::Empirical => RDistribution::default(),
    };
    let cfg = ExperimentConfig {
        model: a.model.config(784, 10, a.hyper.seed)?,
        train: a.hyper.train_config(a.model.default_lr())?,
        key: KeyParams { r, ..KeyParams::default() },
        eval_batch: 500,
        progress: true,
    };
    Ok((dataset::<T>(a, &data)?, cfg, data.test_labels))
}

/// MNIST as the pipeline's data set: pixels in [0, 1], one-hot labels.
fn dataset<T: Float>(a: &MnistArgs, data: &Mnist) -> Result<Dataset<T>> {
    Ok(Dataset {
        name: "mnist".into(),
        source: if a.synthetic { "synthetic seven-segment digits (built-in demo)" } else { "MNIST" }.into(),
        train: Split::new(data.train_images_normalized::<f64>(), 784, data.train_one_hot::<f64>(), 10)?,
        test: Split::new(data.test_images_normalized::<f64>(), 784, data.test_one_hot::<f64>(), 10)?,
        task: Task::Classification { classes: (0..10).map(|d| d.to_string()).collect() },
    })
}

/// The experiment as one rank of `c` (see [`crate::distributed::paired_experiment`]).
fn run<T: Float>(a: &MnistArgs, c: &Arc<dyn Collective>) -> Result<()> {
    paired_experiment(c, || prepare::<T>(a), |ds, cfg, labels, out| report(a, ds, cfg, labels, out))
}

/// Owner: figures, report.json and the summary line.
fn report<T: Float>(
    a: &MnistArgs,
    ds: &Dataset<T>,
    cfg: &ExperimentConfig,
    labels: &[u8],
    out: &Outcome,
) -> Result<()> {
    if !out.plain.is_empty() {
        server_view(&a.out, ds, labels, &out.key)?;
    }
    let path = write_report(&a.out, ds, cfg, out, Map::new())?;
    let last = |log: &[moreml_experiments::paired::EpochEval]| log.last().and_then(|e| e.metrics.headline());
    let show = |x: Option<f64>, digits: usize| x.map_or("null".to_string(), |v| format!("{v:.digits$}"));
    eprintln!(
        "plain accuracy {}, encrypted accuracy {}, agreement {}, max rel diff {} -> {}",
        show(last(&out.plain), 4),
        show(last(&out.encrypted), 4),
        show(out.agreement.last().copied().flatten(), 4),
        out.max_rel_diff.last().copied().flatten().map_or("null".to_string(), |v| format!("{v:.2e}")),
        path.display()
    );
    Ok(())
}

/// A few test digits next to the ciphertext planes the server holds for them.
fn server_view<T: Float>(dir: &Path, ds: &Dataset<T>, labels: &[u8], key: &SecretKey) -> Result<()> {
    let k = 8.min(ds.test.len());
    let digits = ds.test.inputs.gather_rows(&(0..k).collect::<Vec<_>>());
    let wire = key.encrypt(&digits)?;
    let img = |v: Vec<f64>, cap: String| fig::GrayImage::new(28, 28, v).with_caption(cap);
    let originals = (0..k)
        .map(|i| {
            img(
                digits.values()[i * 784..(i + 1) * 784].iter().map(|v| v.f64()).collect(),
                format!("label {}", labels[i]),
            )
        })
        .collect();
    let planes = |entry: usize| {
        (0..k)
            .map(|i| {
                let v = (0..784).map(|p| wire.raw()[4 * (i * 784 + p) + entry].f64()).collect();
                img(v, format!("C[{}][{}]", entry / 2, entry % 2))
            })
            .collect()
    };
    fig::image_grid(
        dir.join("server_view.png"),
        "What the owner sees vs what the server holds",
        &[
            fig::ImageRow::new("owner: plaintext digit", originals),
            fig::ImageRow::new("server: ciphertext entry [0][0]", planes(0)),
            fig::ImageRow::new("server: ciphertext entry [0][1]", planes(1)),
        ],
    )?;
    Ok(())
}
