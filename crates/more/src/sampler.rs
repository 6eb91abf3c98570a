//! Drawing the hidden values r, fast and from the configured distribution.

use crate::RDistribution;
use moreml_cipher::{Domain, Float, PlainTensor};
use rand::{Rng, RngCore};
use rayon::prelude::*;

/// Histogram bins per feature for empirical draws. 64 keeps the alias tables of ~1000
/// features (256 KB) inside a core's L2 cache; 256 bins measured 35% slower.
const BINS: usize = 64;

/// A prepared r distribution for one tensor.
pub(crate) enum RSampler {
    /// Precomputed per value (record-level draws need whole rows at once).
    Fixed(Vec<f64>),
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

impl RSampler {
    /// Prepares draws for `x`: for the empirical kind, one histogram per feature over the
    /// records along axis 0 (a single record, or a 1-D tensor, is one feature).
    ///
    /// Sampling a histogram (alias table -> bin -> uniform inside the bin) instead of copying a
    /// value from a random record keeps every lookup in cache: a random record index into a
    /// 200 MB data set costs a cache miss per value and made encryption 5x slower; a binary
    /// search over cumulative counts cost branch misses (the alias method is O(1)).
    pub fn new<T: Float>(dist: RDistribution, x: &PlainTensor<T>, seed: [u8; 32]) -> Self {
        match dist {
            RDistribution::Record { jitter } => RSampler::Fixed(record_draws(x, jitter, seed)),
            RDistribution::Uniform { low, high } => RSampler::Uniform { low, high },
            RDistribution::Empirical { jitter } => {
                let values = x.values();
                let shape = x.shape();
                let records = match shape {
                    [rows, _, ..] if *rows >= 2 => *rows,
                    _ => values.len(),
                };
                let features = (values.len() / records.max(1)).max(1);
                // Rows of `features` values, processed in parallel groups of rows.
                let group = features * (1usize << 14).div_ceil(features);
                let (lo, hi) = values
                    .par_chunks(group)
                    .fold(
                        || (vec![f64::INFINITY; features], vec![f64::NEG_INFINITY; features]),
                        |(mut lo, mut hi), chunk| {
                            // `group` is a multiple of `features`: every chunk starts at f = 0.
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
                    .reduce_with(|(l1, h1), (l2, h2)| {
                        (
                            l1.iter().zip(&l2).map(|(a, b)| a.min(*b)).collect(),
                            h1.iter().zip(&h2).map(|(a, b)| a.max(*b)).collect(),
                        )
                    })
                    .unwrap_or_else(|| (vec![0.0; features], vec![0.0; features]));
                let width: Vec<f64> =
                    lo.iter().zip(&hi).map(|(l, h)| if h > l { (h - l) / BINS as f64 } else { 0.0 }).collect();
                let inv: Vec<f64> = width.iter().map(|w| if *w > 0.0 { 1.0 / w } else { 0.0 }).collect();
                let counts = values
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
                    .reduce_with(|mut a, b| {
                        a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                        a
                    })
                    .unwrap_or_else(|| vec![0u32; features * BINS]);
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
        }
    }

    /// Fills `out` with r for the values at flat indices `start..start + out.len()`.
    ///
    /// One tight loop per kind (no per-value dispatch, no per-value division).
    pub fn fill(&self, start: usize, out: &mut [f64], rng: &mut impl RngCore) {
        match self {
            RSampler::Fixed(r) => out.copy_from_slice(&r[start..start + out.len()]),
            RSampler::Uniform { low, high } => out.iter_mut().for_each(|o| *o = rng.random_range(*low..*high)),
            RSampler::Empirical { features, jitter, lo, width, table } => {
                let mut f = start % features;
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

/// `r[i, :] = x[j, :] + centred noise` for every record `i` (see [`RDistribution::Record`]).
fn record_draws<T: Float>(x: &PlainTensor<T>, jitter: f64, seed: [u8; 32]) -> Vec<f64> {
    use rand::SeedableRng;
    let values = x.values();
    let (records, row) = match x.shape() {
        [rows, ..] if *rows >= 1 => (*rows, values.len() / *rows),
        _ => (1, values.len()),
    };
    let mut r = vec![0.0; values.len()];
    if row == 0 {
        return r;
    }
    let group = 256;
    r.par_chunks_mut(group * row).enumerate().for_each(|(g, dst)| {
        let mut rng = rand_chacha::ChaCha12Rng::from_seed(seed);
        rng.set_stream((1u64 << 48) + g as u64);
        for out in dst.chunks_exact_mut(row) {
            let j = rng.random_range(0..records);
            let mut sum = 0.0;
            for (o, v) in out.iter_mut().zip(&values[j * row..(j + 1) * row]) {
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
        }
    });
    r
}
