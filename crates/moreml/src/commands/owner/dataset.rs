//! `moreml dataset` (owner): exports a data set as a plaintext tensor file with tensor roles,
//! ready for `encrypt`; and `moreml fetch`.

use crate::commands::common::{with_dtype, Dtype, ROLES_KEY, TASK_KEY};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use moreml_cipher::format::{self, PlainFile};
use moreml_cipher::prelude::*;
use moreml_datasets::{resolve_mnist_dir, Mnist};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `moreml dataset`.
#[derive(Args, Debug)]
pub struct DatasetArgs {
    #[command(subcommand)]
    pub which: DatasetKind,
}

/// Data sets that can be exported.
#[derive(Subcommand, Debug)]
pub enum DatasetKind {
    /// MNIST as `train.safetensors` and `test.safetensors` (input `images` [n, 784] in [0, 1],
    /// target one-hot `labels` [n, 10]).
    Mnist {
        /// Directory with the IDX files (default: $MOREML_MNIST_DIR).
        #[arg(long, conflicts_with = "synthetic")]
        data_dir: Option<PathBuf>,
        /// The built-in synthetic seven-segment digits instead of MNIST (no download).
        #[arg(long)]
        synthetic: bool,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// First N training images (0 = all; synthetic default 6000).
        #[arg(long, default_value_t = 0)]
        train_size: usize,
        /// First N test images (0 = all; synthetic default 1000).
        #[arg(long, default_value_t = 0)]
        test_size: usize,
        /// Scalar type.
        #[arg(long, value_enum, default_value_t = Dtype::F64)]
        dtype: Dtype,
        /// Seed of the synthetic digits.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Any CSV table with a header: the named target columns become `targets`, the others
    /// `inputs` (regression; both standardised by default, statistics in the header).
    Csv(CsvArgs),
    /// A folder of PNG/JPEG frames and a label CSV: `images` [n, size*size] in [0, 1] and
    /// one-hot `labels` (classification).
    Images(super::dataset_images::DatasetImagesArgs),
}

/// `moreml dataset csv`.
#[derive(Args, Debug)]
pub struct CsvArgs {
    /// The CSV file (header row, numeric cells).
    #[arg(long)]
    pub input: PathBuf,
    /// Target column names, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub targets: Vec<String>,
    /// Output tensor file.
    #[arg(long)]
    pub out: PathBuf,
    /// Keep raw values (default: each column standardised to mean 0, std 1; `evaluate`
    /// reports metrics in the original units from the statistics in the header).
    #[arg(long)]
    pub no_standardize: bool,
    /// Scalar type.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
}

/// Header entries declaring `inputs`/`targets` roles and the task.
pub fn role_header(input: &str, target: &str, task: &str) -> BTreeMap<String, String> {
    let roles: BTreeMap<&str, &str> = [(input, "input"), (target, "target")].into();
    BTreeMap::from([
        (ROLES_KEY.to_string(), serde_json::to_string(&roles).expect("roles serialise")),
        (TASK_KEY.to_string(), task.to_string()),
    ])
}

pub fn dataset(a: &DatasetArgs) -> Result<()> {
    let (data_dir, synthetic, out, train_size, test_size, dtype, seed) = match &a.which {
        DatasetKind::Mnist { data_dir, synthetic, out, train_size, test_size, dtype, seed } => {
            (data_dir, synthetic, out, train_size, test_size, dtype, seed)
        }
        DatasetKind::Csv(c) => return csv(c),
        DatasetKind::Images(i) => return super::dataset_images::dataset_images(i),
    };
    let data = if *synthetic {
        let n = |size: usize, default: usize| if size == 0 { default } else { size };
        Mnist::synthetic(n(*train_size, 6000), n(*test_size, 1000), *seed)
    } else {
        let dir = resolve_mnist_dir(data_dir.as_deref())?;
        Mnist::load(&dir).with_context(|| format!("cannot load MNIST from {}", dir.display()))?
    };
    let pick = |size: usize, all: usize| if size == 0 { all } else { size.min(all) };
    let data = data.subset(pick(*train_size, data.n_train()), pick(*test_size, data.n_test()));
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    with_dtype!(*dtype, export_mnist(&data, out))
}

fn export_mnist<T: Float>(data: &Mnist, out: &Path) -> Result<()> {
    for (split, images, labels, n) in [
        ("train", data.train_images_normalized::<T>(), data.train_one_hot::<T>(), data.n_train()),
        ("test", data.test_images_normalized::<T>(), data.test_one_hot::<T>(), data.n_test()),
    ] {
        let mut extra = role_header("images", "labels", "classification");
        extra.insert("moreml.content".to_string(), format!("mnist-{split}"));
        let file = PlainFile {
            tensors: vec![
                ("images".to_string(), PlainTensor::from_vec(&[n, 784], images)?),
                ("labels".to_string(), PlainTensor::from_vec(&[n, 10], labels)?),
            ],
            extra,
        };
        let path = out.join(format!("{split}.safetensors"));
        format::write_plain(&path, &file)?;
        eprintln!("wrote {n} {split} records to {}", path.display());
    }
    Ok(())
}

/// Header entry with a tensor's standardisation statistics (`{"mean": [..], "std": [..]}`).
pub fn scaling_key(tensor: &str) -> String {
    format!("moreml.scaling.{tensor}")
}

fn csv(a: &CsvArgs) -> Result<()> {
    crate::commands::common::ensure_output(&a.out, &[&a.input])?;
    let table = moreml_datasets::table::read_csv_table(&a.input, &a.targets)?;
    let mut extra = role_header("inputs", "targets", "regression");
    let raw = a.no_standardize;
    let inputs = table_columns(&mut extra, "inputs", &table.input_names, table.inputs.clone(), raw)?;
    let targets = table_columns(&mut extra, "targets", &table.target_names, table.targets.clone(), raw)?;
    with_dtype!(a.dtype, write_table(&a.out, inputs, table.input_shape(), targets, table.target_shape(), extra))?;
    eprintln!(
        "wrote {} records ({} inputs, {} targets) to {}",
        table.rows,
        table.input_names.len(),
        table.target_names.len(),
        a.out.display()
    );
    Ok(())
}

/// Records the column names of `tensor` in `extra` and, unless `raw`, standardises each column
/// with its own mean and standard deviation, recorded under [`scaling_key`] so that `evaluate`
/// reports metrics in the original units. Columns of very different scales (pressures in mmHg
/// next to compliances in mL/mmHg) otherwise make SGD diverge or crawl.
pub fn table_columns(
    extra: &mut BTreeMap<String, String>,
    tensor: &str,
    names: &[String],
    values: Vec<f64>,
    raw: bool,
) -> Result<Vec<f64>> {
    extra.insert(format!("moreml.columns.{tensor}"), serde_json::to_string(names)?);
    if raw {
        return Ok(values);
    }
    let s = moreml_experiments::Standardizer::fit(&values, names.len())?;
    extra.insert(scaling_key(tensor), serde_json::to_string(&s)?);
    Ok(s.apply(&values))
}

/// Writes `inputs` and `targets` tensors with header entries `extra`.
pub fn write_table<T: Float>(
    out: &Path,
    inputs: Vec<f64>,
    input_shape: [usize; 2],
    targets: Vec<f64>,
    target_shape: [usize; 2],
    extra: BTreeMap<String, String>,
) -> Result<()> {
    let cast = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
    let file = PlainFile {
        tensors: vec![
            ("inputs".to_string(), PlainTensor::from_vec(&input_shape, cast(inputs))?),
            ("targets".to_string(), PlainTensor::from_vec(&target_shape, cast(targets))?),
        ],
        extra,
    };
    format::write_plain(out, &file)?;
    Ok(())
}

/// `moreml fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    #[command(subcommand)]
    pub which: FetchKind,
}

/// Data sets that can be downloaded.
#[derive(Subcommand, Debug)]
pub enum FetchKind {
    /// The four canonical MNIST IDX files, MD5-verified (the only command that uses the network).
    Mnist {
        /// Directory to download into (created if missing; verified files are kept).
        #[arg(long)]
        dir: PathBuf,
    },
}

pub fn fetch(a: &FetchArgs) -> Result<()> {
    let FetchKind::Mnist { dir } = &a.which;
    moreml_datasets::fetch_mnist(dir, true)?;
    eprintln!("MNIST is in {}; use --data-dir {} or set MOREML_MNIST_DIR", dir.display(), dir.display());
    Ok(())
}
