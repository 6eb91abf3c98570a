//! Test-only MORE encryption (the real key crate is wired in later by the lead).
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Secret key S (row-major) and its inverse.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub s: [f64; 4],
    pub si: [f64; 4],
}

fn cond(s: &[f64; 4]) -> f64 {
    // singular values of a 2x2 from eigenvalues of S^T S
    let (a, b, c, d) = (s[0], s[1], s[2], s[3]);
    let p = a * a + c * c;
    let q = b * b + d * d;
    let r = a * b + c * d;
    let mid = 0.5 * (p + q);
    let h = (0.25 * (p - q) * (p - q) + r * r).sqrt();
    ((mid + h) / (mid - h).max(1e-300)).sqrt()
}

pub fn keygen(rng: &mut impl Rng, max_cond: f64) -> Key {
    loop {
        let s: [f64; 4] = [0; 4].map(|_| rng.random_range(-1.0..1.0));
        let det = s[0] * s[3] - s[1] * s[2];
        if det.abs() < 1e-3 || cond(&s) > max_cond {
            continue;
        }
        let si = [s[3] / det, -s[1] / det, -s[2] / det, s[0] / det];
        return Key { s, si };
    }
}

pub fn mul(a: &[f64; 4], b: &[f64; 4]) -> [f64; 4] {
    [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]]
}

impl Key {
    pub fn cond(&self) -> f64 {
        cond(&self.s)
    }
    pub fn encrypt1(&self, m: f64, r: f64) -> [f64; 4] {
        mul(&mul(&self.s, &[m, 0.0, 0.0, r]), &self.si)
    }
    pub fn encrypt(&self, ms: &[f64], rs: &[f64]) -> Vec<f64> {
        ms.iter().zip(rs).flat_map(|(m, r)| self.encrypt1(*m, *r)).collect()
    }
    pub fn decrypt(&self, cts: &[f64]) -> Vec<f64> {
        cts.chunks_exact(4).map(|c| mul(&mul(&self.si, &[c[0], c[1], c[2], c[3]]), &self.s)[0]).collect()
    }
}

pub fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|v| *v as f32).collect()
}

/// r ~ U(low, high).
pub fn uniform_r(rng: &mut impl Rng, n: usize, low: f64, high: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(low..high)).collect()
}

/// Empirical r for a [N, F] tensor: feature f of a random record j, plus U(-jitter, jitter).
pub fn empirical_r(rng: &mut impl Rng, data: &[f64], features: usize, jitter: f64) -> Vec<f64> {
    let n = data.len() / features;
    (0..data.len())
        .map(|i| {
            let j = rng.random_range(0..n);
            data[j * features + i % features] + rng.random_range(-jitter..jitter)
        })
        .collect()
}

/// Synthetic digit-like images [n, h, w] in [0, 1]: 2-4 thick strokes, many exact zeros.
/// `quantize`: round to the 1/255 grid (u8 pixels).
pub fn digits(rng: &mut impl Rng, n: usize, h: usize, w: usize, quantize: bool) -> Vec<f64> {
    let mut out = vec![0.0; n * h * w];
    for img in out.chunks_exact_mut(h * w) {
        let strokes = rng.random_range(2..=4);
        let segs: Vec<[f64; 5]> = (0..strokes)
            .map(|_| {
                let m = 0.2;
                [
                    rng.random_range(m..1.0 - m) * w as f64,
                    rng.random_range(m..1.0 - m) * h as f64,
                    rng.random_range(m..1.0 - m) * w as f64,
                    rng.random_range(m..1.0 - m) * h as f64,
                    rng.random_range(1.0..2.0), // thickness
                ]
            })
            .collect();
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let mut v: f64 = 0.0;
                for s in &segs {
                    let (dx, dy) = (s[2] - s[0], s[3] - s[1]);
                    let t = (((px - s[0]) * dx + (py - s[1]) * dy) / (dx * dx + dy * dy).max(1e-9)).clamp(0.0, 1.0);
                    let (ex, ey) = (px - s[0] - t * dx, py - s[1] - t * dy);
                    let d2 = (ex * ex + ey * ey) / (s[4] * s[4]);
                    v = v.max(1.3 * (-d2).exp());
                }
                let v = if v < 0.05 { 0.0 } else { v.min(1.0) };
                img[y * w + x] = if quantize { (v * 255.0).round() / 255.0 } else { v };
            }
        }
    }
    out
}

/// Root-mean-square difference; NaN if any difference is NaN. Panics on a length mismatch (a
/// silently truncated comparison would pass on missing values).
pub fn rms(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "rms: compared slices differ in length");
    (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64).sqrt()
}

/// Maximum that propagates NaN (`f64::max` drops it): folding with it, one NaN makes the result
/// NaN, and every `assert!(x <= tol)` on it fails.
pub fn nan_max(m: f64, x: f64) -> f64 {
    if m.is_nan() || x.is_nan() {
        f64::NAN
    } else {
        m.max(x)
    }
}

/// Largest absolute difference; NaN if any difference is NaN. Panics on a length mismatch.
pub fn max_abs(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "max_abs: compared slices differ in length");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, nan_max)
}
