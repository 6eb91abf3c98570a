//! Drawing the hidden values r, fast and from the configured distribution.

use crate::RDistribution;
use moreml_cipher::mapped::MappedPlain;
use moreml_cipher::{Domain, Float, PlainTensor};
use rand::{Rng, RngCore};
use rayon::prelude::*;
use std::borrow::Cow;

/// Histogram bins per feature for empirical draws. 64 keeps the alias tables of ~1000
/// features (256 KB) inside a core's L2 cache; 256 bins measured 35% slower.
const BINS: usize = 64;

/// Plaintext records to encrypt: a tensor in memory, or one read piece by piece from a
/// memory-mapped file (a data set larger than memory). Records are the slices along the first
/// axis; a 0-d tensor is one record of one value.
pub trait PlainRecords<T: Float>: Sync {
    /// The tensor's shape.
    fn shape(&self) -> &[usize];
    /// The values of records `first..first + count`, row-major.
    fn records(&self, first: usize, count: usize) -> moreml_cipher::Result<Cow<'_, [T]>>;
    /// The values of records `idx`, in that order.
    fn gather(&self, idx: &[usize]) -> moreml_cipher::Result<Cow<'_, [T]>>;
}

/// `(records, values per record)` of a shape (see [`PlainRecords`]).
pub(crate) fn layout(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n, row @ ..] => (*n, row.iter().product()),
    }
}

impl<T: Float> PlainRecords<T> for PlainTensor<T> {
    fn shape(&self) -> &[usize] {
        Domain::shape(self)
    }

    fn records(&self, first: usize, count: usize) -> moreml_cipher::Result<Cow<'_, [T]>> {
        let row = layout(Domain::shape(self)).1;
        Ok(Cow::Borrowed(&self.values()[first * row..(first + count) * row]))
    }

    fn gather(&self, idx: &[usize]) -> moreml_cipher::Result<Cow<'_, [T]>> {
        let row = layout(Domain::shape(self)).1;
        let v = self.values();
        Ok(Cow::Owned(idx.iter().flat_map(|&i| &v[i * row..(i + 1) * row]).copied().collect()))
    }
}

impl<T: Float> PlainRecords<T> for MappedPlain<T> {
    fn shape(&self) -> &[usize] {
        MappedPlain::shape(self)
    }

    fn records(&self, first: usize, count: usize) -> moreml_cipher::Result<Cow<'_, [T]>> {
        Ok(Cow::Owned(self.range(first, count)?.into_values()))
    }

    fn gather(&self, idx: &[usize]) -> moreml_cipher::Result<Cow<'_, [T]>> {
        Ok(Cow::Owned(MappedPlain::gather(self, idx)?.into_values()))
    }
}

/// Calls `visit` on the values of consecutive chunks of `chunk_records` records.
fn for_each_chunk<T: Float>(
    src: &impl PlainRecords<T>,
    chunk_records: usize,
    mut visit: impl FnMut(&[T]),
) -> moreml_cipher::Result<()> {
    let records = layout(src.shape()).0;
    for first in (0..records).step_by(chunk_records.max(1)) {
        visit(&src.records(first, chunk_records.min(records - first))?);
    }
    Ok(())
}

/// A prepared r distribution for one tensor.
pub(crate) enum RSampler {
    /// Whole records (see [`RDistribution::Record`]): drawn per chunk by [`RSampler::chunk`].
    Record {
        jitter: f64,
        seed: [u8; 32],
    },
    Uniform {
        low: f64,
        high: f64,
    },
    /// Per-feature histograms of the tensor's own values (features = all axes but the first).
    Empirical {
        features: usize,
        jitter: f64,
        /// Per feature: lowest value and bin width.
        lo: Vec<f64>,
        width: Vec<f64>,
        /// Per feature, `BINS` alias-table entries (Walker/Vose): the low 16 bits are the
        /// probability (scaled to 65536) of keeping the slot, the next bits the alias bin.
        table: Vec<u32>,
    },
}

/// The draws for one chunk of records (record-level draws precomputed, others on the fly).
pub(crate) struct ChunkSampler<'a> {
    sampler: &'a RSampler,
    /// Flat index (in the whole tensor) of the chunk's first value.
    start: usize,
    fixed: Vec<f64>,
}

impl RSampler {
    /// Prepares draws for `src`, reading it in chunks of `chunk_records` records: for the
    /// empirical kind, one histogram per feature over the records along axis 0 (a single
    /// record, or a 1-D tensor, is one feature), built in two passes (range, then counts).
    ///
    /// Sampling a histogram (alias table -> bin -> uniform inside the bin) instead of copying a
    /// value from a random record keeps every lookup in cache: a random record index into a
    /// 200 MB data set costs a cache miss per value and made encryption 5x slower; a binary
    /// search over cumulative counts cost branch misses (the alias method is O(1)).
    pub fn fit<T: Float>(
        dist: RDistribution,
        src: &impl PlainRecords<T>,
        chunk_records: usize,
        seed: [u8; 32],
    ) -> moreml_cipher::Result<Self> {
        Ok(match dist {
            RDistribution::Record { jitter } => RSampler::Record { jitter, seed },
            RDistribution::Uniform { low, high } => RSampler::Uniform { low, high },
            RDistribution::Empirical { jitter } => {
                let shape = src.shape();
                let numel: usize = shape.iter().product();
                let records = match shape {
                    [rows, _, ..] if *rows >= 2 => *rows,
                    _ => numel,
                };
                let features = (numel / records.max(1)).max(1);
                // Rows of `features` values, processed in parallel groups of rows; chunks hold
                // whole records, so every group starts at feature 0.
                let group = features * (1usize << 14).div_ceil(features);
                let (mut lo, mut hi) = (vec![f64::INFINITY; features], vec![f64::NEG_INFINITY; features]);
                for_each_chunk(src, chunk_records, |values| {
                    let (l, h) = values
                        .par_chunks(group)
                        .fold(
                            || (vec![f64::INFINITY; features], vec![f64::NEG_INFINITY; features]),
                            |(mut lo, mut hi), chunk| {
                                for row in chunk.chunks_exact(features) {
                                    for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                                        let v = v.f64();
                                        *l = if v < *l { v } else { *l };
                                        *h = if v > *h { v } else { *h };
                                    }
                                }
                                (lo, hi)
                            },
                        )
                        .reduce(
                            || (vec![f64::INFINITY; features], vec![f64::NEG_INFINITY; features]),
                            |(l1, h1), (l2, h2)| (min_each(&l1, &l2), max_each(&h1, &h2)),
                        );
                    lo = min_each(&lo, &l);
                    hi = max_each(&hi, &h);
                })?;
                let width: Vec<f64> =
                    lo.iter().zip(&hi).map(|(l, h)| if h > l { (h - l) / BINS as f64 } else { 0.0 }).collect();
                let inv: Vec<f64> = width.iter().map(|w| if *w > 0.0 { 1.0 / w } else { 0.0 }).collect();
                let mut counts = vec![0u32; features * BINS];
                for_each_chunk(src, chunk_records, |values| {
                    let c = values
                        .par_chunks(group)
                        .fold(
                            || vec![0u32; features * BINS],
                            |mut counts, chunk| {
                                for row in chunk.chunks_exact(features) {
                                    for (f, &v) in row.iter().enumerate() {
                                        let b = (((v.f64() - lo[f]) * inv[f]) as usize).min(BINS - 1);
                                        counts[f * BINS + b] += 1;
                                    }
                                }
                                counts
                            },
                        )
                        .reduce(|| vec![0u32; features * BINS], add_each);
                    counts = add_each(std::mem::take(&mut counts), c);
                })?;
                let mut table = vec![0u32; features * BINS];
                for (c, t) in counts.chunks_exact(BINS).zip(table.chunks_exact_mut(BINS)) {
                    build_alias(c, t);
                }
                RSampler::Empirical {
                    features,
                    jitter,
                    lo: lo.into_iter().map(|v| if v.is_finite() { v } else { 0.0 }).collect(),
                    width,
                    table,
                }
            }
        })
    }

    /// The draws for records `first..first + count` of `src` (record-level draws read the
    /// randomly picked records from `src`).
    pub fn chunk<T: Float>(
        &self,
        src: &impl PlainRecords<T>,
        first: usize,
        count: usize,
    ) -> moreml_cipher::Result<ChunkSampler<'_>> {
        let (records, row) = layout(src.shape());
        let fixed = match *self {
            RSampler::Record { jitter, seed } => record_draws(src, records, row, first, count, jitter, seed)?,
            _ => Vec::new(),
        };
        Ok(ChunkSampler { sampler: self, start: first * row, fixed })
    }
}

impl ChunkSampler<'_> {
    /// Fills `out` with r for the chunk's values at `offset..offset + out.len()`.
    ///
    /// One tight loop per kind (no per-value dispatch, no per-value division).
    pub fn fill(&self, offset: usize, out: &mut [f64], rng: &mut impl RngCore) {
        match self.sampler {
            RSampler::Record { .. } => out.copy_from_slice(&self.fixed[offset..offset + out.len()]),
            RSampler::Uniform { low, high } => out.iter_mut().for_each(|o| *o = rng.random_range(*low..*high)),
            RSampler::Empirical { features, jitter, lo, width, table } => {
                let mut f = (self.start + offset) % features;
                for o in out.iter_mut() {
                    // One 64-bit draw: 6 bits bin slot, 16 bits alias coin, 20 bits position
                    // inside the bin, 20 bits jitter.
                    let bits = rng.next_u64();
                    let slot = (bits as usize) % BINS;
                    let coin = ((bits >> 8) & 0xFFFF) as u32;
                    let entry = table[f * BINS + slot];
                    let bin = if coin < (entry & 0x1_FFFF) { slot } else { (entry >> 17) as usize };
                    let u = (((bits >> 24) & 0xF_FFFF) as f64 + 0.5) * (1.0 / 1_048_576.0);
                    let v = ((bits >> 44) as f64 + 0.5) * (1.0 / 1_048_576.0);
                    *o = lo[f] + (bin as f64 + u) * width[f] + jitter * (2.0 * v - 1.0);
                    f += 1;
                    if f == *features {
                        f = 0;
                    }
                }
            }
        }
    }
}

fn min_each(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x.min(*y)).collect()
}

fn max_each(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x.max(*y)).collect()
}

fn add_each(mut a: Vec<u32>, b: Vec<u32>) -> Vec<u32> {
    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
    a
}

/// Vose's alias table for sampling bin `b` with probability `counts[b] / sum`, packed as
/// `keep | alias << 17` with `keep` in `0..=65536`.
fn build_alias(counts: &[u32], table: &mut [u32]) {
    let n = counts.len();
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    let pack = |keep: f64, alias: usize| ((keep * 65_536.0).round() as u32).min(65_536) | (alias as u32) << 17;
    if total == 0.0 {
        table.iter_mut().enumerate().for_each(|(b, t)| *t = pack(1.0, b));
        return;
    }
    let mut p: Vec<f64> = counts.iter().map(|&c| c as f64 * n as f64 / total).collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&b| p[b] < 1.0);
    while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
        table[s] = pack(p[s], l);
        p[l] -= 1.0 - p[s];
        if p[l] < 1.0 {
            large.pop();
            small.push(l);
        }
    }
    for b in small.into_iter().chain(large) {
        table[b] = pack(1.0, b);
    }
}

/// `r[i, :] = x[j, :] + centred noise` for records `i` in `first..first + count`
/// (see [`RDistribution::Record`]): every record has its own two random streams (its pick `j`,
/// then its noise), so the draws do not depend on how the records are chunked; the picked
/// records are read in one gather.
fn record_draws<T: Float>(
    src: &impl PlainRecords<T>,
    records: usize,
    row: usize,
    first: usize,
    count: usize,
    jitter: f64,
    seed: [u8; 32],
) -> moreml_cipher::Result<Vec<f64>> {
    use rand::SeedableRng;
    // Ids from 2^48 on: the masking streams use the flat value index below that.
    let stream = |kind: u64, record: usize| {
        let mut rng = rand_chacha::ChaCha12Rng::from_seed(seed);
        rng.set_stream((1u64 << 48) + 2 * record as u64 + kind);
        rng
    };
    let picks: Vec<usize> = (first..first + count).map(|i| stream(0, i).random_range(0..records)).collect();
    let rows = src.gather(&picks)?;
    let mut r = vec![0.0; count * row];
    if row == 0 {
        return Ok(r);
    }
    r.par_chunks_mut(row).zip(rows.par_chunks(row)).enumerate().for_each(|(k, (out, x))| {
        let mut rng = stream(1, first + k);
        let mut sum = 0.0;
        for (o, v) in out.iter_mut().zip(x) {
            let e = jitter * (2.0 * rng.random::<f64>() - 1.0);
            sum += e;
            *o = v.f64() + e;
        }
        // Centring a single value would cancel its noise and give r == m whenever j == i
        // (the ciphertext would then be the public matrix m I).
        if row > 1 {
            let mean = sum / row as f64;
            out.iter_mut().for_each(|o| *o -= mean);
        }
    });
    Ok(r)
}
