//! Scorers that say which of two candidate plaintext streams "looks like data".

use crate::error::{AttackError, Result};
use crate::prior::Prior;

/// Scores a candidate plaintext stream; higher means more data-like.
///
/// Used by attacks A (ciphertext-only mode) and E to choose between the two hidden slots.
///
/// ```
/// use moreml_cryptanalysis::{ImageScorer, StreamScorer};
/// let s = ImageScorer::new(1, 4);
/// assert!(s.score(&[0.0, 0.1, 0.2, 0.3]) > s.score(&[0.0, 0.9, -0.2, 0.7]));
/// ```
pub trait StreamScorer {
    /// Score of `stream` (any finite value; only comparisons matter).
    fn score(&self, stream: &[f64]) -> f64;
}

/// Scorer for a batch of images of shape `[N, height, width]` flattened row-major.
///
/// `score = in_range - roughness`, where `in_range` is the fraction of values inside
/// `[low - slack, high + slack]` and `roughness` is the mean squared difference of horizontally
/// and vertically neighbouring pixels divided by twice the stream's variance (≈ 1 for white
/// noise, ≪ 1 for smooth images; 0 for a constant stream).
///
/// ```
/// use moreml_cryptanalysis::ImageScorer;
/// let s = ImageScorer::new(2, 2).with_range(0.0, 255.0);
/// assert_eq!(s.roughness(&[1.0; 4]), 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageScorer {
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Lower end of the pixel range (default 0).
    pub low: f64,
    /// Upper end of the pixel range (default 1).
    pub high: f64,
    /// Tolerance outside the range still counted as inside (default 1e-6 * (high - low)).
    pub slack: f64,
}

impl ImageScorer {
    /// Pixel range [0, 1], slack 1e-6.
    pub fn new(height: usize, width: usize) -> Self {
        ImageScorer { height, width, low: 0.0, high: 1.0, slack: 1e-6 }
    }

    /// Set the pixel range (slack becomes 1e-6 of its width).
    pub fn with_range(mut self, low: f64, high: f64) -> Self {
        self.low = low;
        self.high = high;
        self.slack = 1e-6 * (high - low).abs();
        self
    }

    /// Check that the shape tiles a stream of `len` values.
    ///
    /// ```
    /// use moreml_cryptanalysis::ImageScorer;
    /// assert!(ImageScorer::new(28, 28).check_len(784 * 3).is_ok());
    /// assert!(ImageScorer::new(28, 28).check_len(100).is_err());
    /// ```
    pub fn check_len(&self, len: usize) -> Result<()> {
        let px = self.height * self.width;
        if px == 0 || len % px != 0 {
            return Err(AttackError::ShapeMismatch { op: "image-scorer", height: self.height, width: self.width, len });
        }
        Ok(())
    }

    /// Fraction of values within the pixel range (with slack).
    pub fn in_range(&self, stream: &[f64]) -> f64 {
        if stream.is_empty() {
            return 0.0;
        }
        let (lo, hi) = (self.low - self.slack, self.high + self.slack);
        stream.iter().filter(|x| **x >= lo && **x <= hi).count() as f64 / stream.len() as f64
    }

    /// Normalised roughness (see the type docs); 1.0 if the shape does not tile the stream.
    pub fn roughness(&self, stream: &[f64]) -> f64 {
        let (h, w) = (self.height, self.width);
        if self.check_len(stream.len()).is_err() {
            return 1.0;
        }
        let n = stream.len() as f64;
        let mean = stream.iter().sum::<f64>() / n;
        let var = stream.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        if !(var > 0.0) {
            return 0.0;
        }
        let (mut sum, mut cnt) = (0.0, 0usize);
        for img in stream.chunks_exact(h * w) {
            for y in 0..h {
                for x in 0..w {
                    let p = img[y * w + x];
                    if x + 1 < w {
                        let d = img[y * w + x + 1] - p;
                        sum += d * d;
                        cnt += 1;
                    }
                    if y + 1 < h {
                        let d = img[(y + 1) * w + x] - p;
                        sum += d * d;
                        cnt += 1;
                    }
                }
            }
        }
        if cnt == 0 {
            return 1.0;
        }
        (sum / cnt as f64) / (2.0 * var)
    }
}

impl StreamScorer for ImageScorer {
    fn score(&self, stream: &[f64]) -> f64 {
        self.in_range(stream) - self.roughness(stream)
    }
}

/// Scores a stream by its mean log-density under a data prior (log-densities clamped at -1e3).
///
/// ```
/// use moreml_cryptanalysis::{PriorScorer, StreamScorer, UniformPrior};
/// let s = PriorScorer(UniformPrior::new(0.0, 1.0).unwrap());
/// assert!(s.score(&[0.2, 0.4]) > s.score(&[0.2, 7.0]));
/// ```
#[derive(Debug, Clone)]
pub struct PriorScorer<P>(pub P);

impl<P: Prior> StreamScorer for PriorScorer<P> {
    fn score(&self, stream: &[f64]) -> f64 {
        if stream.is_empty() {
            return f64::NEG_INFINITY;
        }
        stream.iter().map(|x| self.0.ln_pdf(*x).max(-1e3)).sum::<f64>() / stream.len() as f64
    }
}

/// Pick the better of two streams; returns (index, [score0, score1]). Ties and NaN go to 0.
pub(crate) fn choose(scorer: &dyn StreamScorer, streams: [&[f64]; 2]) -> (usize, [f64; 2]) {
    let s = [scorer.score(streams[0]), scorer.score(streams[1])];
    let pick = if s[1] > s[0] { 1 } else { 0 };
    (pick, s)
}
