//! Distributed jobs: the MPI collective behind the `mpi` feature (rsmpi over the system MPI),
//! and the job-wide error agreement the commands use.
//!
//! Without the feature, `--distributed` is a clear error naming the build command; the
//! default build needs no MPI.

use anyhow::Result;
use moreml_cipher::Float;
use moreml_experiments::paired::run_paired_on;
use moreml_experiments::{Dataset, ExperimentConfig, Outcome};
use moreml_nn::collective::{self, Collective, Local};
use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;

/// One process's view of a distributed job: its collective, and (with MPI) the environment,
/// finalised when the job is dropped (after everything that used the collective).
pub struct Job {
    collective: Arc<dyn Collective>,
    #[cfg(feature = "mpi")]
    _universe: mpi::environment::Universe,
}

impl Job {
    /// Joins the MPI job this process was started in (`mpirun -np N moreml ...`); a process
    /// started without mpirun is a job of one.
    #[cfg(feature = "mpi")]
    pub fn start() -> Result<Self> {
        let (universe, _threading) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or_else(|| anyhow::anyhow!("MPI was already initialised in this process"))?;
        let collective = Arc::new(imp::Mpi::new());
        Ok(Job { collective, _universe: universe })
    }

    /// Without the `mpi` feature there is no distributed job.
    #[cfg(not(feature = "mpi"))]
    pub fn start() -> Result<Self> {
        anyhow::bail!(
            "--distributed needs a moreml built with MPI: install OpenMPI (apt-get install libopenmpi-dev \
             openmpi-bin libclang-dev) and build with `cargo build --release -p moreml --features mpi`"
        )
    }

    /// The collective of this job (shared with the learner).
    pub fn collective(&self) -> Arc<dyn Collective> {
        self.collective.clone()
    }

    /// Ends the job with `result`, which every rank agreed on. On failure in a job of several
    /// ranks, rank 0 prints the error before any rank exits (mpirun tears the job down at the
    /// first non-zero exit, which would otherwise often kill rank 0 before it said why the job
    /// failed), then every rank exits with status 1.
    pub fn finish(self, result: Result<()>) -> Result<()> {
        let Err(err) = &result else { return result };
        if self.collective.size() <= 1 {
            return result;
        }
        if self.collective.rank() == 0 {
            eprintln!("moreml: error: {err:#}");
        }
        let _ = self.collective.barrier(); // the other ranks wait until rank 0 has spoken
        drop(self); // MPI_Finalize
                    // The other ranks end quietly: every rank agreed on the failure, and rank 0's line
                    // names the failing rank and its message, so theirs would only repeat it.
        std::process::exit(1);
    }
}

/// Runs a command body as one rank of an MPI job (`distributed`), or as the single-process
/// "job" ([`Local`]) otherwise; with MPI, failures end the job as [`Job::finish`] describes.
pub fn run(distributed: bool, body: impl FnOnce(&Arc<dyn Collective>) -> Result<()>) -> Result<()> {
    if !distributed {
        return body(&(Arc::new(Local) as Arc<dyn Collective>));
    }
    let job = Job::start()?;
    let result = body(&job.collective());
    job.finish(result)
}

/// Rank 0's `value` on every rank: what rank 0 read from its command line configures the
/// job, whatever the other ranks were started with.
pub fn from_rank0<V: Serialize + DeserializeOwned>(c: &dyn Collective, value: V) -> Result<V> {
    let mut json = if c.rank() == 0 { serde_json::to_vec(&value)? } else { Vec::new() };
    collective::broadcast_bytes(c, &mut json, 0)?;
    Ok(serde_json::from_slice(&json)?)
}

/// [`collective::agree`] for command-level results: if any rank failed, every rank fails
/// (a failing rank with its own error, the others with the lowest failing rank's message), so
/// rank 0 always ends with a clear error and no rank waits forever in a collective.
pub fn agree<T>(c: &dyn Collective, local: Result<T>) -> Result<T> {
    collective::agree_any(c, local)
}

/// A paired experiment as one rank of `c`: rank 0, the data owner, `prepare`s the data set,
/// every rank trains (see [`run_paired_on`]), rank 0 writes the `report`; a failure on any
/// rank ends every rank at the same point. `P` is what the report needs besides the data set.
pub fn paired_experiment<T: Float, P>(
    c: &Arc<dyn Collective>,
    prepare: impl FnOnce() -> Result<(Dataset<T>, ExperimentConfig, P)>,
    report: impl FnOnce(&Dataset<T>, &ExperimentConfig, &P, &Outcome) -> Result<()>,
) -> Result<()> {
    let owner = agree(&**c, if c.rank() == 0 { prepare().map(Some) } else { Ok(None) })?;
    let out = run_paired_on(c, owner.as_ref().map(|(ds, cfg, _)| (ds, cfg)))?;
    let written = match (&owner, &out) {
        (Some((ds, cfg, extra)), Some(out)) => report(ds, cfg, extra, out),
        _ => Ok(()),
    };
    agree(&**c, written)
}

#[cfg(feature = "mpi")]
mod imp {
    use moreml_nn::collective::{Buffer, Collective};
    use moreml_nn::{Error, Result};
    use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
    use mpi::datatype::Equivalence;
    use mpi::topology::{Communicator, SimpleCommunicator};
    use std::sync::Mutex;

    /// `MPI_COMM_WORLD` of the job. MPI runs with `MPI_THREAD_SERIALIZED`: calls may come from
    /// any thread but never at once, which the lock guarantees.
    #[derive(Debug)]
    pub struct Mpi {
        rank: usize,
        size: usize,
        lock: Mutex<()>,
    }

    impl Mpi {
        pub fn new() -> Self {
            let world = SimpleCommunicator::world();
            Mpi { rank: world.rank() as usize, size: world.size() as usize, lock: Mutex::new(()) }
        }

        /// Runs `f` on the world communicator, one call at a time.
        fn with<R>(&self, f: impl FnOnce(&SimpleCommunicator) -> R) -> Result<R> {
            let _guard = self.lock.lock().map_err(|_| Error::Collective("an earlier MPI call panicked".into()))?;
            Ok(f(&SimpleCommunicator::world()))
        }
    }

    /// MPI counts are C ints: refuse buffers past 2^31 - 1 elements instead of truncating.
    fn check_len(len: usize) -> Result<()> {
        if len > i32::MAX as usize {
            return Err(Error::Collective(format!(
                "a buffer of {len} values is more than one MPI message can carry ({})",
                i32::MAX
            )));
        }
        Ok(())
    }

    fn all_reduce<T: Equivalence + Copy>(w: &SimpleCommunicator, buf: &mut [T]) {
        let send = buf.to_vec();
        w.all_reduce_into(&send[..], buf, SystemOperation::sum());
    }

    impl Collective for Mpi {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn all_reduce_sum(&self, buf: Buffer<'_>) -> Result<()> {
            check_len(buf.len())?;
            self.with(|w| match buf {
                Buffer::F32(b) => all_reduce(w, b),
                Buffer::F64(b) => all_reduce(w, b),
                Buffer::U8(b) => all_reduce(w, b),
            })
        }
        fn broadcast(&self, buf: Buffer<'_>, root: usize) -> Result<()> {
            check_len(buf.len())?;
            if root >= self.size {
                return Err(Error::Collective(format!("broadcast from rank {root} in a job of {}", self.size)));
            }
            self.with(|w| {
                let p = w.process_at_rank(root as i32);
                match buf {
                    Buffer::F32(b) => p.broadcast_into(b),
                    Buffer::F64(b) => p.broadcast_into(b),
                    Buffer::U8(b) => p.broadcast_into(b),
                }
            })
        }
        fn barrier(&self) -> Result<()> {
            self.with(|w| w.barrier())
        }
    }
}
