//! A micro-batcher: concurrent small requests for one model are joined into one forward pass.
//!
//! One task per model takes the first waiting job, then everything already queued (and, with
//! a non-zero window, what arrives within it) up to `max_rows` records, and runs the batch on
//! the blocking pool. At most `workers` batches run at once; while they run, new requests
//! queue up and form the next batch, so batches grow with load and a lone request waits at
//! most `window`.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// How requests are grouped.
#[derive(Clone, Copy, Debug)]
pub struct BatchConfig {
    /// Stop adding requests once a batch holds this many records (0 = never join requests).
    pub max_rows: usize,
    /// How long the first request of a batch waits for company (zero: only what is queued).
    pub window: Duration,
    /// Batches computed at the same time (each uses its own copy of the model).
    pub workers: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_rows: 256, window: Duration::ZERO, workers: 2 }
    }
}

struct Job<I, O> {
    input: I,
    rows: usize,
    reply: oneshot::Sender<O>,
}

/// Handle to one model's batching task; cheap to clone.
pub struct Batcher<I, O> {
    tx: mpsc::Sender<Job<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Batcher { tx: self.tx.clone() }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the batching task on the current tokio runtime. `run` gets the inputs of one
    /// batch in arrival order and must return one output per input, in the same order.
    pub fn spawn(cfg: BatchConfig, run: impl Fn(Vec<I>) -> Vec<O> + Send + Sync + 'static) -> Self {
        let (tx, rx) = mpsc::channel::<Job<I, O>>(4096);
        tokio::spawn(batch_loop(cfg, rx, Arc::new(run)));
        Batcher { tx }
    }

    /// Queues `input` (`rows` records) and waits for its output; `None` if the worker died
    /// (a panic in `run`).
    pub async fn submit(&self, input: I, rows: usize) -> Option<O> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { input, rows, reply }).await.ok()?;
        rx.await.ok()
    }
}

async fn batch_loop<I: Send + 'static, O: Send + 'static>(
    cfg: BatchConfig,
    mut rx: mpsc::Receiver<Job<I, O>>,
    run: Arc<dyn Fn(Vec<I>) -> Vec<O> + Send + Sync>,
) {
    let slots = Arc::new(Semaphore::new(cfg.workers.max(1)));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let Some(first) = rx.recv().await else { return };
        let mut rows = first.rows;
        let mut jobs = vec![first];
        let deadline = tokio::time::Instant::now() + cfg.window;
        while rows < cfg.max_rows {
            let next = match rx.try_recv() {
                Ok(job) => Some(job),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) if cfg.window.is_zero() => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten()
                }
            };
            let Some(job) = next else { break };
            rows += job.rows;
            jobs.push(job);
        }
        metrics::histogram!(crate::metrics::BATCH_ROWS).record(rows as f64);
        metrics::histogram!(crate::metrics::BATCH_REQUESTS).record(jobs.len() as f64);
        let run = run.clone();
        tokio::task::spawn_blocking(move || {
            let (inputs, replies): (Vec<I>, Vec<oneshot::Sender<O>>) =
                jobs.into_iter().map(|j| (j.input, j.reply)).unzip();
            let outputs = run(inputs);
            for (out, reply) in outputs.into_iter().zip(replies) {
                let _ = reply.send(out); // the client may have gone (timeout); nothing to do
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn joins_queued_requests_and_keeps_order() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let cfg = BatchConfig { max_rows: 1000, window: Duration::from_millis(200), workers: 1 };
        let b = Batcher::spawn(cfg, move |xs: Vec<u32>| {
            c.fetch_add(1, Ordering::SeqCst);
            xs.into_iter().map(|x| x * 10).collect()
        });
        let handles: Vec<_> = (0..20u32)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { b.submit(i, 1).await })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), Some(i as u32 * 10));
        }
        let n = calls.load(Ordering::SeqCst);
        assert!(n < 20, "20 concurrent requests within a 200 ms window ran as {n} batches");
    }

    #[tokio::test]
    async fn max_rows_zero_runs_each_request_alone() {
        let cfg = BatchConfig { max_rows: 0, window: Duration::from_millis(50), workers: 1 };
        let b = Batcher::spawn(cfg, |xs: Vec<u32>| {
            assert_eq!(xs.len(), 1);
            xs
        });
        let (x, y) = tokio::join!(b.submit(1, 1), b.submit(2, 1));
        assert_eq!((x, y), (Some(1), Some(2)));
    }
}
