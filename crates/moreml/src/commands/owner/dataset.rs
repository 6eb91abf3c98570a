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
    let DatasetKind::Mnist { data_dir, synthetic, out, train_size, test_size, dtype, seed } = &a.which;
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
