//! The attacker's pool: every ciphertext of a file (one key) as one f64 stream, with the place of
//! each named tensor in it, and the data scorer that judges a candidate stream tensor by tensor.

use crate::error::{AttackError, Result};
use crate::score::{ImageScorer, StreamScorer};
use std::ops::Range;

const OP: &str = "pool";

/// One named tensor's place in a [`CipherPool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Tensor name, as in the ciphertext file.
    pub name: String,
    /// Logical shape (one ciphertext per element).
    pub shape: Vec<usize>,
    /// Indices of its ciphertexts in the pool (ciphertext indices, not value indices).
    pub range: Range<usize>,
    /// Image shape `(height, width)` if the scorer treats it as a batch of images.
    pub image: Option<(usize, usize)>,
}

/// All ciphertexts under one key, pooled: attacks A and E gain from every extra ciphertext, so a
/// file's tensors are attacked together and split again afterwards by their [`Segment`]s.
///
/// ```
/// use moreml_cryptanalysis::CipherPool;
/// let mut pool = CipherPool::new();
/// pool.push("x", &[2], [-0.25, 1.0, -0.5, 1.25, 0.9, -0.8, 0.4, -0.3], None).unwrap();
/// assert_eq!((pool.len(), pool.cts().len()), (2, 8));
/// assert_eq!(pool.segment("x").unwrap().range, 0..2);
/// assert!(pool.push("y", &[3], [0.0; 4], None).is_err()); // 3 elements need 12 values
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CipherPool {
    cts: Vec<f64>,
    segments: Vec<Segment>,
}

impl CipherPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends tensor `name` of logical `shape`; `values` are its 2x2 ciphertexts, 4 reals each,
    /// row-major, converted to f64.
    ///
    /// # Errors
    /// `InvalidParameter` when the number of values is not 4 per element of `shape`, or the name
    /// is already in the pool.
    pub fn push(
        &mut self,
        name: &str,
        shape: &[usize],
        values: impl IntoIterator<Item = f64>,
        image: Option<(usize, usize)>,
    ) -> Result<()> {
        if self.segment(name).is_some() {
            return Err(AttackError::InvalidParameter {
                op: OP,
                reason: format!("tensor '{name}' is already in the pool; give each tensor a distinct name"),
            });
        }
        let before = self.cts.len();
        self.cts.extend(values);
        let got = self.cts.len() - before;
        let numel: usize = shape.iter().product();
        if got != 4 * numel {
            self.cts.truncate(before);
            return Err(AttackError::InvalidParameter {
                op: OP,
                reason: format!(
                    "tensor '{name}' of shape {shape:?} needs {} ciphertext values (4 per element), got {got}",
                    4 * numel
                ),
            });
        }
        let start = before / 4;
        self.segments.push(Segment { name: name.into(), shape: shape.to_vec(), range: start..start + numel, image });
        Ok(())
    }

    /// The pooled ciphertexts, 4 f64 each, row-major.
    pub fn cts(&self) -> &[f64] {
        &self.cts
    }

    /// The tensors, in the order they were pushed.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The tensor named `name`.
    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// The names of all tensors, comma-separated (for error messages).
    pub fn names(&self) -> String {
        self.segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Number of ciphertexts.
    pub fn len(&self) -> usize {
        self.cts.len() / 4
    }

    /// Whether the pool holds no ciphertext.
    pub fn is_empty(&self) -> bool {
        self.cts.is_empty()
    }

    /// The ciphertext values (4 each) of the ciphertexts with indices `range`, or `None` when the
    /// range is outside the pool.
    pub fn ciphertexts(&self, range: Range<usize>) -> Option<&[f64]> {
        self.cts.get(4 * range.start..4 * range.end)
    }
}

/// `Some((h, w))` when a tensor of `shape` is a batch of `h x w` images: its last two dims are
/// `[h, w]` or its last dim is `h * w`. `None` when `image` is `None` (no image tensors).
///
/// ```
/// use moreml_cryptanalysis::image_shape;
/// assert_eq!(image_shape(&[5, 28, 28], Some((28, 28))), Some((28, 28)));
/// assert_eq!(image_shape(&[5, 784], Some((28, 28))), Some((28, 28)));
/// assert_eq!(image_shape(&[5, 10], Some((28, 28))), None);
/// assert_eq!(image_shape(&[5, 28, 28], None), None);
/// ```
pub fn image_shape(shape: &[usize], image: Option<(usize, usize)>) -> Option<(usize, usize)> {
    let (h, w) = image?;
    let n = shape.len();
    let trailing = n >= 2 && shape[n - 2] == h && shape[n - 1] == w;
    let flat = n >= 1 && shape[n - 1] == h * w;
    (trailing || flat).then_some((h, w))
}

/// Scores a candidate stream for a whole [`CipherPool`], tensor by tensor: image tensors by the
/// smoothness scorer ([`ImageScorer`]), the others by the fraction of values in the data range;
/// the mean is weighted by tensor size. A stream shorter than the pool scores only the tensors it
/// covers.
///
/// ```
/// use moreml_cryptanalysis::{CipherPool, PoolScorer, StreamScorer};
/// let mut pool = CipherPool::new();
/// pool.push("w", &[2], [0.0; 8], None).unwrap();
/// let s = PoolScorer::new(&pool, (0.0, 1.0));
/// assert_eq!(s.score(&[0.5, 0.7]), 1.0);
/// assert_eq!(s.score(&[0.5, 7.0]), 0.5);
/// assert_eq!(s.describe(), "values in the data range");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PoolScorer {
    parts: Vec<(Range<usize>, ImageScorer, bool)>,
}

impl PoolScorer {
    /// The scorer of `pool`'s tensors with plaintext values in `range` (low, high).
    pub fn new(pool: &CipherPool, (low, high): (f64, f64)) -> Self {
        let parts = pool
            .segments
            .iter()
            .filter(|s| !s.range.is_empty())
            .map(|s| match s.image {
                Some((h, w)) => (s.range.clone(), ImageScorer::new(h, w).with_range(low, high), true),
                None => (s.range.clone(), ImageScorer::new(1, 1).with_range(low, high), false),
            })
            .collect();
        PoolScorer { parts }
    }

    /// What the scorer looks at, for the attacker's report.
    pub fn describe(&self) -> String {
        let images = self.parts.iter().filter(|p| p.2).count();
        match (images, self.parts.len() - images) {
            (0, _) => "values in the data range".into(),
            (i, 0) => format!("image smoothness + range ({i} image tensor(s))"),
            (i, o) => format!("image smoothness + range ({i} image tensor(s)), range only ({o} other)"),
        }
    }
}

impl StreamScorer for PoolScorer {
    fn score(&self, stream: &[f64]) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for (r, s, image) in &self.parts {
            let Some(seg) = stream.get(r.clone()) else { continue };
            let v = if *image { s.score(seg) } else { s.in_range(seg) };
            sum += v * seg.len() as f64;
            n += seg.len();
        }
        if n == 0 {
            0.0
        } else {
            sum / n as f64
        }
    }
}
