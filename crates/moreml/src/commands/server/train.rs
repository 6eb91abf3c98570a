//! `moreml train` (server): trains a network on a plaintext or encrypted data file, no key.

use crate::commands::common::{data_names, ensure_output, is_regression, with_dtype, Dtype, HyperArgs, ModelArgs};
use crate::distributed::agree;
use anyhow::{bail, Result};
use clap::Args;
use moreml_cipher::format;
use moreml_cipher::mapped::{MappedCipher, MappedFile};
use moreml_cipher::prelude::*;
use moreml_nn::checkpoint::{DataIdentity, RunIdentity};
use moreml_nn::collective::{self, Collective};
use moreml_nn::learner::progress;
use moreml_nn::{persist, Learner, LossKind, Model, ModelConfig, Pair, Records, Rows, TrainConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `moreml train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: an input tensor [n, features] and a target tensor [n, outputs] (roles
    /// from `moreml dataset`), both plaintext or both ciphertexts under one key.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where to write the model (safetensors; the architecture also goes to MODEL.json).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub hyper: HyperArgs,
    /// Write a checkpoint (weights, optimiser state, epochs done, run identity) to FILE
    /// during training (atomically, replacing the previous one), to continue with --resume.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Epochs between checkpoints (the last epoch is always checkpointed).
    #[arg(long, value_name = "EPOCHS", default_value_t = 1, requires = "checkpoint")]
    pub checkpoint_every: usize,
    /// Continue the run that wrote this checkpoint: same data and flags (--epochs may be
    /// larger), bit for bit the result of an uninterrupted run. May be the --checkpoint file.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Train data-parallel as one rank of an MPI job: `mpirun -np N moreml train --distributed
    /// ...`. Rank 0 reads the configuration and writes the model; every rank computes its share
    /// of each global batch (--batch records in all). Needs a build with `--features mpi`.
    #[arg(long)]
    pub distributed: bool,
}

pub fn train(a: &TrainArgs) -> Result<()> {
    crate::distributed::run(a.distributed, |c| train_job(a, c))
}

/// Training as one rank of `c` (the single-process "job" when not distributed).
fn train_job(a: &TrainArgs, c: &Arc<dyn Collective>) -> Result<()> {
    let outputs_ok = || -> Result<()> {
        let resume: Vec<&Path> = a.resume.iter().map(PathBuf::as_path).collect();
        ensure_output(&a.out, &[&[a.data.as_path()], &resume[..]].concat())?;
        ensure_output(&a.out.with_extension("json"), &[&a.data])?;
        if let Some(ck) = &a.checkpoint {
            if a.checkpoint_every == 0 {
                bail!("--checkpoint-every must be at least 1");
            }
            ensure_output(ck, &[&a.data])?;
            for other in [a.out.clone(), a.out.with_extension("json")] {
                if same_target(ck, &other) {
                    bail!(
                        "--checkpoint {} is also where the model goes; give the checkpoint its own file",
                        ck.display()
                    );
                }
            }
        }
        if let Some(r) = &a.resume {
            if !r.is_file() {
                bail!("--resume {}: no such checkpoint file", r.display());
            }
        }
        Ok(())
    };
    agree(&**c, if c.rank() == 0 { outputs_ok() } else { Ok(()) })?;
    // Mapped, not read: batches are copied out of the map, so memory does not grow with the
    // data, and a rank touches only the records of its shares.
    let map = agree(&**c, MappedFile::open(&a.data).map_err(anyhow::Error::from))?;
    let dtype = agree(&**c, Dtype::of_name(map.dtype()))?;
    with_dtype!(dtype, train_file(a, c, &map))
}

fn train_file<T: Float>(a: &TrainArgs, c: &Arc<dyn Collective>, map: &MappedFile) -> Result<()> {
    let regression = is_regression(map.extra());
    let names = agree(&**c, data_names(&a.data, map.extra(), &map.names(), true))?;
    let (xn, tn) = (names.0, names.1.unwrap_or_default());
    match map.kind() {
        format::Kind::Plaintext => {
            let (x, t) = agree(&**c, (|| Ok((map.plain::<T>(&xn)?, map.plain::<T>(&tn)?)))())?;
            let data = DataIdentity::of::<PlainTensor<T>>(&[x.shape(), t.shape()], None);
            run(a, c, (&x, &t), data, regression, |m, tc| Ok(persist::save_plain(&a.out, m, Some(tc))?))
        }
        format::Kind::Ciphertext => {
            let tensors = || -> Result<_> {
                let (x, t) = (map.cipher::<T>(&xn)?, map.cipher::<T>(&tn)?);
                if c.rank() == 0 {
                    verify(&x)?;
                    verify(&t)?;
                }
                Ok((x, t))
            };
            let (x, t) = agree(&**c, tensors())?;
            let data = DataIdentity::of::<CipherTensor<T>>(&[x.shape(), t.shape()], Some(&x.key().key_id));
            run(a, c, (&x, &t), data, regression, |m, tc| Ok(persist::save_cipher(&a.out, m, x.key(), Some(tc))?))
        }
    }
}

/// Checks every ciphertext of a mapped tensor before any training, chunk by chunk.
pub fn verify<T: Float>(x: &MappedCipher<T>) -> Result<()> {
    let bar = progress(x.len() as u64, "checking ciphertexts");
    x.verify(|k| bar.inc(k as u64))?;
    bar.finish_and_clear();
    Ok(())
}

/// Whether two paths name the same file, existing or not (same directory, same name).
fn same_target(a: &Path, b: &Path) -> bool {
    let full = |p: &Path| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        dir.canonicalize().ok().map(|d| d.join(p.file_name().unwrap_or_default()))
    };
    a == b || matches!((full(a), full(b)), (Some(x), Some(y)) if x == y)
}

/// Configures, trains and (rank 0) saves; every step that can fail on one rank is agreed, so
/// all ranks stop together and no partial model is written. `data` describes the training set
/// (for checkpoints; its shapes are `x`'s and `t`'s).
fn run<D: Domain, R: Rows<D> + Sync>(
    a: &TrainArgs,
    c: &Arc<dyn Collective>,
    (x, t): (&R, &R),
    data: DataIdentity,
    regression: bool,
    save: impl FnOnce(&Model<D>, &TrainConfig) -> Result<()>,
) -> Result<()> {
    let shapes: Vec<&[usize]> = data.shapes.iter().map(Vec::as_slice).collect();
    same_shapes(&**c, &shapes)?;
    let (cfg, tc) = configs(a, &**c, shapes[0], shapes[1], regression)?;
    let run = RunIdentity { model: cfg, train: tc.clone(), data };
    let model = fit(a, c, &run, x, t)?;
    agree(&**c, if c.rank() == 0 { save(&model, &tc) } else { Ok(()) })?;
    if c.rank() == 0 {
        eprintln!("wrote model to {} (architecture in {})", a.out.display(), a.out.with_extension("json").display());
    }
    Ok(())
}

/// Every rank must hold the same data set (same record count, so the same batch order and
/// the same number of steps): a rank whose data differ from rank 0's stops the job here instead
/// of waiting forever in a collective later.
fn same_shapes(c: &dyn Collective, shapes: &[&[usize]]) -> Result<()> {
    let mine: Vec<f64> =
        shapes.iter().flat_map(|s| std::iter::once(s.len()).chain(s.iter().copied())).map(|v| v as f64).collect();
    let mut root = mine.clone();
    let mut len = [mine.len() as f64];
    c.broadcast(collective::Buffer::F64(&mut len), 0)?;
    root.resize(len[0] as usize, 0.0);
    c.broadcast(collective::Buffer::F64(&mut root), 0)?;
    let local = if root == mine {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "its data set has shapes {shapes:?}, rank 0's differs; every rank needs the same data file"
        ))
    };
    agree(c, local)
}

/// The model and training configuration: read by rank 0 (flags, --model-config file),
/// broadcast to the other ranks as JSON.
fn configs(
    a: &TrainArgs,
    c: &dyn Collective,
    x: &[usize],
    t: &[usize],
    regression: bool,
) -> Result<(ModelConfig, TrainConfig)> {
    let read = || -> Result<Vec<u8>> {
        let cfg = model_config(a, x, t, regression)?;
        Ok(serde_json::to_vec(&(cfg, train_config(a)?))?)
    };
    let mut json = agree(c, if c.rank() == 0 { read() } else { Ok(Vec::new()) })?;
    collective::broadcast_bytes(c, &mut json, 0)?;
    Ok(serde_json::from_slice(&json)?)
}

fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    a.hyper.train_config(a.model.default_lr())
}

fn model_config(a: &TrainArgs, x: &[usize], t: &[usize], regression: bool) -> Result<ModelConfig> {
    let ([n, f], [n2, k]) = (x, t) else {
        bail!("{}: expected inputs [n, features] and targets [n, outputs], got {x:?} and {t:?}", a.data.display());
    };
    if n != n2 {
        bail!("{}: {n} input records but {n2} target records; they must match one to one", a.data.display());
    }
    let mut cfg = a.model.config(*f, *k, a.hyper.seed)?;
    if regression && a.model.model_config.is_none() {
        cfg.loss = LossKind::Mse;
        cfg.label_smoothing = 0.0;
    }
    Ok(cfg)
}

/// Trains with per-epoch progress lines (rank 0), from scratch or from the --resume
/// checkpoint (rank 0 reads it; [`Learner::distributed`] gives every rank its state), writing
/// --checkpoint files on the way; a diverged run is an error and writes nothing.
fn fit<D: Domain, R: Rows<D> + Sync>(
    a: &TrainArgs,
    c: &Arc<dyn Collective>,
    run: &RunIdentity,
    x: &R,
    t: &R,
) -> Result<Model<D>> {
    let data = Pair::new(x, t)?;
    let (rank0, size) = (c.rank() == 0, c.size());
    let start = || -> Result<Learner<D>> {
        Ok(match &a.resume {
            Some(path) if rank0 => Learner::resume(path, run)?,
            _ => Learner::new(Model::<D>::new(run.model.clone())?, run.train.clone())?,
        })
    };
    let learner = agree(&**c, start())?;
    let mut learner = learner.with_progress(rank0).distributed(c.clone())?;
    let (tc, done) = (&run.train, learner.history().len());
    if rank0 {
        eprintln!(
            "training {} on {} records ({}): {} epochs, batch {}, lr {}, momentum {}{}{}",
            if D::NAME == "cipher" { "on ciphertexts" } else { "on plaintext" },
            data.len(),
            path_name(&a.data),
            tc.epochs,
            tc.batch_size,
            tc.lr,
            tc.momentum,
            if size > 1 { format!(", {size} ranks sharing each batch") } else { String::new() },
            match &a.resume {
                Some(p) => format!("; resuming from {} after epoch {done}", p.display()),
                None => String::new(),
            }
        );
    }
    let epochs = tc.epochs;
    learner.fit(&data, |l, s| {
        if rank0 {
            eprintln!("epoch {}/{epochs}: {:.2} s, {} steps, all values finite", s.epoch, s.seconds, s.steps);
        }
        match &a.checkpoint {
            Some(path) if s.epoch % a.checkpoint_every == 0 || s.epoch == epochs => {
                let saved = if rank0 { l.save_checkpoint(path, &run.data) } else { Ok(()) };
                collective::agree(l.collective(), saved)?;
                if rank0 {
                    eprintln!("wrote checkpoint after epoch {} to {}", s.epoch, path.display());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    })?;
    learner.check_replicas()?;
    if rank0 && a.distributed {
        summary::<D>(&learner.history()[done..], size, learner.model());
    }
    Ok(learner.into_model())
}

/// Rank 0's timing summary of a distributed run: throughput, all-reduce time per step and
/// message size (the inputs of the scaling model in docs/distributed.md).
fn summary<D: Domain>(history: &[moreml_nn::EpochStats], size: usize, model: &Model<D>) {
    let sum = |f: fn(&moreml_nn::EpochStats) -> f64| history.iter().map(f).sum::<f64>();
    let (seconds, allreduce) = (sum(|s| s.seconds), sum(|s| s.allreduce_seconds));
    let (steps, records) = (sum(|s| s.steps as f64), sum(|s| s.records as f64));
    let values: usize = model.named_params().iter().map(|(_, p)| p.numel() * D::PLANES).sum();
    let bytes = values * std::mem::size_of::<D::Scalar>();
    eprintln!(
        "distributed: {size} ranks, {:.1} records/s, {:.2} ms/step, all-reduce {:.3} ms/step of {bytes} bytes ({:.1}% of step time)",
        records / seconds,
        1e3 * seconds / steps,
        1e3 * allreduce / steps,
        100.0 * allreduce / seconds
    );
}

fn path_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}
