//! Collectives: what data-parallel training needs from the processes of one job.
//!
//! Every process (rank) holds a full copy of the model and computes gradients on its share of
//! each global mini-batch; an all-reduce sums the shares, so every rank applies the same
//! update. Encrypted gradients add homomorphically (a sum is in the allowed operation set), so
//! the all-reduce runs on ciphertext coordinates as they are: no key anywhere.
//!
//! [`Collective`] is the interface (rank, size, all-reduce-sum, broadcast, barrier); [`Local`]
//! is the single-process implementation the [`crate::Learner`] uses by default (every
//! operation is a no-op, and the learner skips the collective code entirely when the size is 1).
//! The MPI implementation lives in the `moreml` binary behind its `mpi` feature.
//!
//! ```
//! use moreml_nn::collective::{self, Collective, Local};
//! let c = Local;
//! assert_eq!((c.rank(), c.size()), (0, 1));
//! // Rank r of a job of `size` ranks takes a contiguous share of each global batch.
//! assert_eq!(collective::share(&[7, 3, 5, 1, 9], 0, 2), &[7, 3]);
//! assert_eq!(collective::share(&[7, 3, 5, 1, 9], 1, 2), &[5, 1, 9]);
//! ```

use crate::layers::Param;
use crate::{Error, Result};
use moreml_cipher::{Domain, Float};
use std::any::Any;

/// A contiguous buffer of one element type: the unit a [`Collective`] moves.
///
/// Tensors travel as their algebra coordinates ([`Domain::coords`]) in the model's scalar
/// type; bytes carry messages (configuration, error text).
#[derive(Debug)]
pub enum Buffer<'a> {
    /// `f32` values.
    F32(&'a mut [f32]),
    /// `f64` values.
    F64(&'a mut [f64]),
    /// Bytes.
    U8(&'a mut [u8]),
}

impl<'a> Buffer<'a> {
    /// The buffer of a vector of the model's scalar type (`f32` or `f64`).
    // A `Vec` and not a slice: `Any` identifies only sized types, and the vector's type is what
    // tells f32 from f64 without unsafe code.
    #[allow(clippy::ptr_arg)]
    pub fn of<T: Float>(values: &'a mut Vec<T>) -> Result<Self> {
        let any = values as &mut dyn Any;
        if any.is::<Vec<f64>>() {
            return Ok(Buffer::F64(any.downcast_mut::<Vec<f64>>().expect("checked type")));
        }
        match any.downcast_mut::<Vec<f32>>() {
            Some(v) => Ok(Buffer::F32(v)),
            None => Err(Error::Collective(format!("collectives move f32 or f64 values, not {}", T::NAME))),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Buffer::F32(b) => b.len(),
            Buffer::F64(b) => b.len(),
            Buffer::U8(b) => b.len(),
        }
    }

    /// Whether the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The processes of one training job and the collective operations between them.
///
/// Every rank must call the same operations in the same order with buffers of the same length
/// (as MPI requires); the helpers of this module ([`agree`], [`all_reduce_grads`],
/// [`broadcast_params`]) are written so that all ranks do, even when one of them failed.
pub trait Collective: std::fmt::Debug + Send + Sync {
    /// This process's rank, `0..size`; rank 0 reads the configuration and writes results.
    fn rank(&self) -> usize;
    /// Number of processes in the job.
    fn size(&self) -> usize;
    /// Replaces `buf` on every rank by the elementwise sum over all ranks.
    fn all_reduce_sum(&self, buf: Buffer<'_>) -> Result<()>;
    /// Copies `buf` of rank `root` into `buf` of every other rank.
    fn broadcast(&self, buf: Buffer<'_>, root: usize) -> Result<()>;
    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<()>;
}

/// The single-process "job": rank 0 of 1, every operation a no-op. The default of
/// [`crate::Learner`], at zero cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _buf: Buffer<'_>) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _buf: Buffer<'_>, _root: usize) -> Result<()> {
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
}

/// The share of one global batch that rank `rank` of `size` computes: a contiguous slice,
/// sizes differing by at most one (ranks past the end of a short last batch get none).
///
/// Contiguous shares keep the records of a rank in the global batch order, so one rank's job
/// sees the same records in the same order as single-process training.
pub fn share(batch: &[usize], rank: usize, size: usize) -> &[usize] {
    let size = size.max(1);
    let n = batch.len();
    &batch[n * rank.min(size) / size..n * (rank + 1).min(size) / size]
}

/// Ends a phase on every rank together: each rank passes its own outcome, and if any rank
/// failed, every rank returns an error (its own, or [`Error::Rank`] with the message of the
/// lowest failing rank). With one rank it returns `local` unchanged.
///
/// This is how a failure on one rank (a bad shard, a non-finite gradient) stops the whole job
/// with a clear error on rank 0 instead of leaving the others waiting in a collective.
pub fn agree<T>(c: &dyn Collective, local: Result<T>) -> Result<T> {
    if c.size() <= 1 {
        return local;
    }
    // 1 = failed, 2 = diverged (so that every rank can tell a divergence from other failures)
    let mut failed = vec![0.0f64; c.size()];
    if let Err(e) = &local {
        failed[c.rank()] = if e.is_divergence() { 2.0 } else { 1.0 };
    }
    c.all_reduce_sum(Buffer::F64(&mut failed))?;
    let Some(root) = failed.iter().position(|&f| f != 0.0) else {
        return local;
    };
    let diverged = failed[root] == 2.0;
    let mut message = match &local {
        Err(e) if c.rank() == root => e.to_string().into_bytes(),
        _ => Vec::new(),
    };
    broadcast_bytes(c, &mut message, root)?;
    match local {
        Err(e) => Err(e),
        Ok(_) => Err(Error::Rank { rank: root, message: String::from_utf8_lossy(&message).into_owned(), diverged }),
    }
}

/// Broadcasts a byte string of any length from `root` (e.g. the configuration rank 0 read).
pub fn broadcast_bytes(c: &dyn Collective, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
    if c.size() <= 1 {
        return Ok(());
    }
    let mut len = [bytes.len() as f64];
    c.broadcast(Buffer::F64(&mut len), root)?;
    bytes.resize(len[0] as usize, 0);
    c.broadcast(Buffer::U8(bytes), root)
}

/// Number of scalars the parameters of a model take on the wire (all planes).
pub fn coords_len<D: Domain>(params: &[&mut Param<D>]) -> usize {
    params.iter().map(|p| p.value.numel() * D::PLANES).sum()
}

/// Sums the parameter gradients over all ranks, in place: one all-reduce of all gradients
/// packed into one buffer (one message per step, not one per tensor).
///
/// Each rank's gradients are first multiplied by `weight` (its share of the global batch,
/// `local records / global records`): the loss gradient is a batch mean, so the weighted sum
/// is the gradient of the whole global batch. A missing gradient (a rank with no records in a
/// short last batch) counts as zero.
pub fn all_reduce_grads<D: Domain>(c: &dyn Collective, params: &mut [&mut Param<D>], weight: f64) -> Result<()> {
    let mut buf: Vec<D::Scalar> = Vec::with_capacity(coords_len(params));
    let w = D::Scalar::of(weight);
    for p in params.iter() {
        match &p.grad {
            Some(g) if weight == 1.0 => buf.extend_from_slice(g.coords()),
            Some(g) => buf.extend(g.coords().iter().map(|&v| v * w)),
            None => buf.resize(buf.len() + p.value.numel() * D::PLANES, D::Scalar::of(0.0)),
        }
    }
    c.all_reduce_sum(Buffer::of(&mut buf)?)?;
    let mut rest = &buf[..];
    for p in params.iter_mut() {
        let grad = p.grad.get_or_insert_with(|| D::zeros(p.value.shape()));
        let (mine, tail) = rest.split_at(grad.coords().len());
        grad.coords_mut().copy_from_slice(mine);
        rest = tail;
    }
    Ok(())
}

/// [`agree`] for results of any error type (a command's, an experiment's): if any rank
/// failed, every rank fails, a failing rank with its own error, the others with the lowest
/// failing rank's message (its `{:#}` text, so an error chain survives).
pub fn agree_any<T, E: std::fmt::Display + From<Error>>(
    c: &dyn Collective,
    local: std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let status = local.as_ref().map(drop).map_err(|e| Error::Data(format!("{e:#}")));
    match agree(c, status) {
        Ok(()) => local,
        Err(peer) => Err(local.err().unwrap_or_else(|| peer.into())),
    }
}

/// Copies the parameter values of rank `root` to every rank (weights at the start of training,
/// so all ranks start from the same model whatever they loaded).
pub fn broadcast_params<D: Domain>(c: &dyn Collective, params: &mut [&mut Param<D>], root: usize) -> Result<()> {
    broadcast_tensors(c, &mut params.iter_mut().map(|p| &mut p.value).collect::<Vec<_>>(), root)
}

/// Copies the values of rank `root`'s tensors into every rank's tensors of the same shapes, in
/// one message (weights, optimiser state).
pub fn broadcast_tensors<D: Domain>(c: &dyn Collective, tensors: &mut [&mut D], root: usize) -> Result<()> {
    if c.size() <= 1 {
        return Ok(());
    }
    let mut buf: Vec<D::Scalar> = Vec::with_capacity(tensors.iter().map(|t| t.coords().len()).sum());
    for t in tensors.iter() {
        buf.extend_from_slice(t.coords());
    }
    c.broadcast(Buffer::of(&mut buf)?, root)?;
    let mut rest = &buf[..];
    for t in tensors.iter_mut() {
        let (mine, tail) = rest.split_at(t.coords().len());
        t.coords_mut().copy_from_slice(mine);
        rest = tail;
    }
    Ok(())
}

/// Sends a tensor that only rank `root` holds to every other rank (a training set that one
/// rank loaded or encrypted): its shape, then its coordinates. Rank `root` passes `Some` and
/// gets `None` back (it keeps its own); the others pass `None` and receive `Some`. With one
/// rank it does nothing and returns `None`.
pub fn broadcast_tensor<D: Domain>(c: &dyn Collective, tensor: Option<&D>, root: usize) -> Result<Option<D>> {
    if c.size() <= 1 {
        return Ok(None);
    }
    let mut shape = tensor.map(|t| serde_json::to_vec(t.shape()).expect("a shape serialises")).unwrap_or_default();
    broadcast_bytes(c, &mut shape, root)?;
    let mut buf: Vec<D::Scalar> = tensor.map(|t| t.coords().to_vec()).unwrap_or_default();
    if c.rank() == root {
        c.broadcast(Buffer::of(&mut buf)?, root)?;
        return Ok(None);
    }
    let shape: Vec<usize> = serde_json::from_slice(&shape)
        .map_err(|e| Error::Collective(format!("bad tensor shape from rank {root}: {e}")))?;
    let mut t = D::zeros(&shape);
    buf.resize(t.coords().len(), D::Scalar::of(0.0));
    c.broadcast(Buffer::of(&mut buf)?, root)?;
    t.coords_mut().copy_from_slice(&buf);
    Ok(Some(t))
}

/// Checks that every rank holds exactly the parameters of rank 0 (bit for bit): the replicas
/// of data-parallel training must never drift apart. An error names the first rank that
/// differs; with one rank it is always `Ok`.
pub fn check_replicas<D: Domain>(c: &dyn Collective, params: &[&D]) -> Result<()> {
    if c.size() <= 1 {
        return Ok(());
    }
    let mut buf: Vec<D::Scalar> = params.iter().flat_map(|p| p.coords().iter().copied()).collect();
    let mine = buf.clone();
    c.broadcast(Buffer::of(&mut buf)?, 0)?;
    // bit for bit (f32 widens to f64 exactly); a NaN equals the same NaN
    let same = buf.iter().zip(&mine).all(|(a, b)| a.f64().to_bits() == b.f64().to_bits());
    let local = if same {
        Ok(())
    } else {
        Err(Error::Rank {
            rank: c.rank(),
            message: "its model differs from rank 0's after training (replicas drifted apart)".into(),
            diverged: false,
        })
    };
    agree(c, local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use moreml_cipher::PlainTensor;
    use std::sync::{Arc, Barrier, Mutex};

    /// `size` in-process ranks on threads, with collectives through shared memory: enough to
    /// test the helpers' logic (the MPI implementation is tested under mpirun).
    #[derive(Debug)]
    struct Threads {
        rank: usize,
        shared: Arc<Shared>,
    }

    #[derive(Debug)]
    struct Shared {
        size: usize,
        barrier: Barrier,
        slot: Mutex<Vec<f64>>,
    }

    impl Threads {
        fn job(size: usize) -> Vec<Threads> {
            let shared = Arc::new(Shared { size, barrier: Barrier::new(size), slot: Mutex::new(Vec::new()) });
            (0..size).map(|rank| Threads { rank, shared: shared.clone() }).collect()
        }
    }

    impl Collective for Threads {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.shared.size
        }
        fn all_reduce_sum(&self, buf: Buffer<'_>) -> Result<()> {
            let values = to_f64(&buf);
            if self.rank == 0 {
                *self.shared.slot.lock().unwrap() = vec![0.0; values.len()];
            }
            self.shared.barrier.wait();
            for r in 0..self.size() {
                // ranks add in rank order, so the sum is deterministic
                if r == self.rank {
                    let mut s = self.shared.slot.lock().unwrap();
                    s.iter_mut().zip(&values).for_each(|(a, b)| *a += b);
                }
                self.shared.barrier.wait();
            }
            let sum = self.shared.slot.lock().unwrap().clone();
            self.shared.barrier.wait();
            from_f64(buf, &sum);
            Ok(())
        }
        fn broadcast(&self, buf: Buffer<'_>, root: usize) -> Result<()> {
            if self.rank == root {
                *self.shared.slot.lock().unwrap() = to_f64(&buf);
            }
            self.shared.barrier.wait();
            let values = self.shared.slot.lock().unwrap().clone();
            self.shared.barrier.wait();
            from_f64(buf, &values);
            Ok(())
        }
        fn barrier(&self) -> Result<()> {
            self.shared.barrier.wait();
            Ok(())
        }
    }

    fn to_f64(buf: &Buffer<'_>) -> Vec<f64> {
        match buf {
            Buffer::F32(b) => b.iter().map(|&v| v as f64).collect(),
            Buffer::F64(b) => b.to_vec(),
            Buffer::U8(b) => b.iter().map(|&v| v as f64).collect(),
        }
    }

    fn from_f64(buf: Buffer<'_>, values: &[f64]) {
        match buf {
            Buffer::F32(b) => b.iter_mut().zip(values).for_each(|(a, s)| *a = *s as f32),
            Buffer::F64(b) => b.copy_from_slice(values),
            Buffer::U8(b) => b.iter_mut().zip(values).for_each(|(a, s)| *a = *s as u8),
        }
    }

    /// Runs `f` on every rank of a thread job and collects the results in rank order.
    fn run<R: Send>(size: usize, f: impl Fn(&Threads) -> R + Sync) -> Vec<R> {
        let ranks = Threads::job(size);
        std::thread::scope(|s| {
            let handles: Vec<_> = ranks.iter().map(|c| s.spawn(|| f(c))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    fn param(values: Vec<f64>) -> Param<PlainTensor<f64>> {
        Param::new(PlainTensor::from_vec(&[values.len()], values).unwrap())
    }

    #[test]
    fn shares_partition_the_batch_in_order() {
        for n in 0..20 {
            let batch: Vec<usize> = (100..100 + n).collect();
            for size in 1..7 {
                let parts: Vec<&[usize]> = (0..size).map(|r| share(&batch, r, size)).collect();
                assert_eq!(parts.concat(), batch, "n {n} size {size}");
                let (min, max) = (parts.iter().map(|p| p.len()).min(), parts.iter().map(|p| p.len()).max());
                assert!(max.unwrap() - min.unwrap() <= 1, "balanced: n {n} size {size}");
            }
        }
    }

    #[test]
    fn local_is_identity() {
        let mut g = param(vec![1.0, 2.0]);
        g.grad = Some(PlainTensor::from_vec(&[2], vec![0.5, -1.0]).unwrap());
        all_reduce_grads(&Local, &mut [&mut g], 1.0).unwrap();
        assert_eq!(g.grad.unwrap().values(), &[0.5, -1.0]);
        assert_eq!(agree(&Local, Ok(3)).unwrap(), 3);
        assert!(matches!(agree::<()>(&Local, Err(Error::Data("x".into()))), Err(Error::Data(_))));
    }

    #[test]
    fn weighted_grads_sum_to_the_global_mean() {
        // global batch of 5 records split 2 + 3: the gradient means 1.0 and 2.0 weighted by
        // 2/5 and 3/5 give the global mean 1.6
        let out = run(2, |c| {
            let mut p = param(vec![0.0, 0.0]);
            let (mean, n) = if c.rank() == 0 { (1.0, 2.0) } else { (2.0, 3.0) };
            p.grad = Some(PlainTensor::from_vec(&[2], vec![mean, -mean]).unwrap());
            all_reduce_grads(c, &mut [&mut p], n / 5.0).unwrap();
            p.grad.unwrap().values().to_vec()
        });
        for g in out {
            assert!((g[0] - 1.6).abs() < 1e-15 && (g[1] + 1.6).abs() < 1e-15, "{g:?}");
        }
    }

    #[test]
    fn a_missing_gradient_counts_as_zero() {
        let out = run(3, |c| {
            let mut p = param(vec![0.0]);
            if c.rank() != 2 {
                p.grad = Some(PlainTensor::from_vec(&[1], vec![1.0 + c.rank() as f64]).unwrap());
            }
            all_reduce_grads(c, &mut [&mut p], 1.0).unwrap();
            p.grad.unwrap().values()[0]
        });
        assert_eq!(out, vec![3.0; 3]);
    }

    #[test]
    fn f32_buffers_travel() {
        let out = run(2, |c| {
            let mut p = Param::new(PlainTensor::<f32>::from_vec(&[1], vec![c.rank() as f32]).unwrap());
            broadcast_params(c, &mut [&mut p], 1).unwrap();
            p.value.values()[0]
        });
        assert_eq!(out, vec![1.0, 1.0]);
    }

    #[test]
    fn broadcast_gives_every_rank_the_root_weights() {
        let out = run(3, |c| {
            let mut a = param(vec![c.rank() as f64; 3]);
            let mut b = param(vec![10.0 + c.rank() as f64]);
            broadcast_params(c, &mut [&mut a, &mut b], 0).unwrap();
            check_replicas(c, &[&a.value, &b.value]).unwrap();
            (a.value.values().to_vec(), b.value.values().to_vec())
        });
        assert!(out.iter().all(|(a, b)| a == &[0.0; 3] && b == &[10.0]), "{out:?}");
    }

    #[test]
    fn drifted_replicas_are_an_error_on_every_rank() {
        let out = run(2, |c| {
            let p = PlainTensor::<f64>::from_vec(&[1], vec![1.0 + c.rank() as f64 * 1e-16]).unwrap();
            let q = PlainTensor::<f64>::from_vec(&[1], vec![f64::NAN]).unwrap();
            (check_replicas(c, &[&p]).map_err(|e| e.to_string()), check_replicas(c, &[&q]).is_ok())
        });
        // 1 + 1e-16 rounds to 1: equal; NaN equals the same NaN bit pattern
        assert!(out.iter().all(|(r, nan_ok)| r.is_ok() && *nan_ok), "{out:?}");
        let out = run(2, |c| {
            let p = PlainTensor::<f64>::from_vec(&[1], vec![1.0 + c.rank() as f64 * 1e-15]).unwrap();
            check_replicas(c, &[&p]).map_err(|e| e.to_string())
        });
        for r in out {
            let msg = r.unwrap_err();
            assert!(msg.contains("rank 1") && msg.contains("differs from rank 0"), "{msg}");
        }
    }

    #[test]
    fn one_failing_rank_fails_every_rank_with_its_message() {
        let out = run(3, |c| {
            let local =
                if c.rank() == 0 { Ok(()) } else { Err(Error::Data(format!("bad shard on rank {}", c.rank()))) };
            agree(c, local).map_err(|e| e.to_string())
        });
        // rank 0 reports the lowest failing rank's message; failing ranks keep their own
        assert_eq!(out[0].as_ref().unwrap_err(), "rank 1 of the distributed job failed: bad shard on rank 1");
        assert_eq!(out[1].as_ref().unwrap_err(), "bad shard on rank 1");
        assert_eq!(out[2].as_ref().unwrap_err(), "bad shard on rank 2");
        let ok = run(3, |c| agree(c, Ok(c.rank())).unwrap());
        assert_eq!(ok, vec![0, 1, 2]);
    }

    #[test]
    fn a_divergence_on_one_rank_is_a_divergence_on_every_rank() {
        let out = run(2, |c| {
            let place = "layer 0 (dense) output".to_string();
            let local = if c.rank() == 0 { Ok(()) } else { Err(Error::Diverged { epoch: 1, step: 2, place }) };
            agree(c, local).unwrap_err()
        });
        assert!(out.iter().all(Error::is_divergence), "{out:?}");
        assert!(matches!(&out[0], Error::Rank { rank: 1, diverged: true, .. }), "{:?}", out[0]);
        let other = run(2, |c| agree(c, if c.rank() == 0 { Ok(()) } else { Err(Error::Data("bad".into())) }));
        assert!(!other[0].as_ref().unwrap_err().is_divergence());
    }

    #[test]
    fn a_tensor_only_the_root_holds_reaches_every_rank() {
        let out = run(3, |c| {
            let mine = PlainTensor::<f32>::from_vec(&[2, 2], vec![1.5, -2.0, 3.0, 4.25]).unwrap();
            let received = broadcast_tensor(c, (c.rank() == 1).then_some(&mine), 1).unwrap();
            received.map(|t| (t.shape().to_vec(), t.values().to_vec()))
        });
        assert_eq!(out[1], None, "the root keeps its own");
        for r in [0, 2] {
            assert_eq!(out[r], Some((vec![2, 2], vec![1.5, -2.0, 3.0, 4.25])));
        }
    }

    /// A job whose rank 0 alone resumed from a checkpoint continues on every rank from rank 0's
    /// state (weights, velocity, epochs done) and ends bit for bit where the uninterrupted job
    /// of the same size ends.
    #[test]
    fn rank_0_resumes_and_every_rank_continues_from_its_state() {
        use crate::checkpoint::{DataIdentity, RunIdentity};
        use crate::{Learner, Model, ModelConfig, Pair, TrainConfig};
        let (x, t) = data();
        let pair = Pair::new(&x, &t).unwrap();
        let run_id = |epochs| RunIdentity {
            model: ModelConfig::mlp(6, 5, 3),
            train: TrainConfig { epochs, batch_size: 16, lr: 0.05, momentum: 0.9, seed: 3 },
            data: DataIdentity::of::<PlainTensor<f64>>(&[&[50, 6], &[50, 3]], None),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.ckpt");
        let fresh =
            |run: &RunIdentity| Learner::new(Model::new(run.model.clone()).unwrap(), run.train.clone()).unwrap();
        let job = |resume: bool, epochs: usize| {
            let ranks = Threads::job(2);
            let ranks: Vec<Arc<dyn Collective>> =
                ranks.into_iter().map(|r| Arc::new(r) as Arc<dyn Collective>).collect();
            std::thread::scope(|s| {
                let handles: Vec<_> = ranks
                    .iter()
                    .map(|c| {
                        s.spawn(|| {
                            let run = run_id(epochs);
                            let learner = match resume && c.rank() == 0 {
                                true => Learner::<PlainTensor<f64>>::resume(&path, &run).unwrap(),
                                false => fresh(&run),
                            };
                            let mut l = learner.distributed(c.clone()).unwrap();
                            l.fit(&pair, |_, _| Ok(())).unwrap();
                            l.check_replicas().unwrap();
                            if c.rank() == 0 {
                                l.save_checkpoint(&path, &run.data).unwrap();
                            }
                            let history = l.history().iter().map(|s| s.epoch).collect::<Vec<_>>();
                            let params =
                                l.model().named_params().iter().flat_map(|(_, p)| p.values().to_vec()).collect();
                            (history, params)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<(Vec<usize>, Vec<f64>)>>()
            })
        };
        let straight = job(false, 3);
        job(false, 1);
        let resumed = job(true, 3);
        for (s, r) in straight.iter().zip(&resumed) {
            assert_eq!(r.0, vec![1, 2, 3], "every rank knows the epochs done");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&s.1), bits(&r.1), "resumed job differs from the uninterrupted one");
        }
    }

    #[test]
    fn bytes_of_any_length_broadcast() {
        let out = run(2, |c| {
            let mut b = if c.rank() == 1 { b"{\"epochs\": 3}".to_vec() } else { vec![9; 100] };
            broadcast_bytes(c, &mut b, 1).unwrap();
            b
        });
        assert!(out.iter().all(|b| b == b"{\"epochs\": 3}"));
    }

    /// Trains `epochs` of an MLP as every rank of a `size`-rank thread job; returns each rank's
    /// parameter coordinates (size 1 = the plain single-process [`Learner`] with [`Local`]).
    fn train<D: Domain + crate::Rows<D>>(size: usize, x: &D, t: &D) -> Vec<Vec<f64>> {
        use crate::{Learner, Model, ModelConfig, Pair, TrainConfig};
        let data = Pair::new(x, t).unwrap();
        // 50 records in batches of 16: the last global batch has 2 records, so with 3 ranks
        // one rank has none (it adds zero gradients)
        let cfg = TrainConfig { epochs: 3, batch_size: 16, lr: 0.05, momentum: 0.9, seed: 3 };
        let fit = |c: Option<Arc<dyn Collective>>| {
            let mut l = Learner::new(Model::<D>::new(ModelConfig::mlp(6, 5, 3)).unwrap(), cfg.clone()).unwrap();
            if let Some(c) = c {
                l = l.distributed(c).unwrap();
            }
            l.fit(&data, |_, _| Ok(())).unwrap();
            let params: Vec<&D> = l.model().named_params().into_iter().map(|(_, p)| p).collect();
            check_replicas(l.collective(), &params).unwrap();
            params.iter().flat_map(|p| p.coords().iter().map(|v| v.f64())).collect::<Vec<f64>>()
        };
        if size == 1 {
            return vec![fit(None)];
        }
        let ranks = Threads::job(size);
        let ranks: Vec<Arc<dyn Collective>> = ranks.into_iter().map(|r| Arc::new(r) as Arc<dyn Collective>).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = ranks.iter().map(|c| s.spawn(|| fit(Some(c.clone())))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    fn data() -> (PlainTensor<f64>, PlainTensor<f64>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let x: Vec<f64> = (0..50 * 6).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut t = vec![0.0; 50 * 3];
        for (i, row) in t.chunks_mut(3).enumerate() {
            row[(x[6 * i] + x[6 * i + 1] > 0.0) as usize + (x[6 * i + 2] > 0.5) as usize] = 1.0;
        }
        (PlainTensor::from_vec(&[50, 6], x).unwrap(), PlainTensor::from_vec(&[50, 3], t).unwrap())
    }

    /// Normwise relative difference, NaN-propagating (a NaN fails the comparison).
    fn rel(a: &[f64], b: &[f64]) -> f64 {
        let (mut d, mut m) = (0.0f64, 0.0f64);
        for (x, y) in a.iter().zip(b) {
            d = if (x - y).is_nan() { f64::NAN } else { d.max((x - y).abs()) };
            m = m.max(x.abs());
        }
        d / m
    }

    fn assert_same_model(reference: &[f64], ranks: &[Vec<f64>], tolerance: f64) {
        assert!(reference.iter().any(|v| v.abs() > 0.0) && reference.len() == ranks[0].len());
        for (r, w) in ranks.iter().enumerate() {
            let d = rel(reference, w);
            assert!(d <= tolerance, "rank {r}: weights differ from single-process by {d:e}");
        }
    }

    #[test]
    fn data_parallel_learner_equals_single_process_plaintext() {
        let (x, t) = data();
        let reference = train(1, &x, &t).remove(0);
        for size in [2, 3] {
            assert_same_model(&reference, &train(size, &x, &t), 1e-12);
        }
        assert_eq!(train(1, &x, &t)[0], reference, "single-process training is deterministic");
        // the comparison can fail: one record's target moved changes the model far beyond 1e-12
        let mut t2 = t.clone();
        t2.values_mut()[..3].rotate_left(1);
        assert!(rel(&reference, &train(1, &x, &t2)[0]) > 1e-6);
    }

    #[test]
    fn data_parallel_learner_equals_single_process_ciphertext() {
        use moreml_cipher::CipherTensor;
        use moreml_more::{KeyParams, SecretKey};
        let (x, t) = data();
        let key = SecretKey::generate(KeyParams::default()).unwrap();
        let cx = CipherTensor::from_wire_tagged(&key.encrypt(&x).unwrap(), key.tag(), "x").unwrap();
        let ct = CipherTensor::from_wire_tagged(&key.encrypt_targets(&t).unwrap(), key.tag(), "t").unwrap();
        let reference = train(1, &cx, &ct).remove(0);
        assert_same_model(&reference, &train(2, &cx, &ct), 1e-12);
        // f32 ciphertexts: a few f32 ulps per step from the reordered sums
        let (x32, t32) = (x.cast::<f32>(), t.cast::<f32>());
        let cx = CipherTensor::from_wire_tagged(&key.encrypt(&x32).unwrap(), key.tag(), "x").unwrap();
        let ct = CipherTensor::from_wire_tagged(&key.encrypt_targets(&t32).unwrap(), key.tag(), "t").unwrap();
        let reference = train(1, &cx, &ct).remove(0);
        assert_same_model(&reference, &train(3, &cx, &ct), 1e-4);
    }
}
