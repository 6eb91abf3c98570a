//! Synthetic X-ray coronary angiograms with known labels (view or artery).
//!
//! Clinical angiograms are not public, so moreml renders its own: a 3D coronary tree (left or
//! right coronary artery) on an ellipsoidal heart in patient coordinates, projected by a C-arm at
//! one of six standard diagnostic angles, with contrast attenuation (Beer-Lambert), thorax
//! background (soft tissue, lungs, diaphragm, spine, ribs), a guiding catheter, quantum noise and
//! detector blur. See `docs/angiography.md` for the specification.
//!
//! Every image is a pure function of `(seed, index)`, so generation is parallel and
//! deterministic whatever the thread count.
//!
//! ```
//! use moreml_angio::{generate, Task};
//!
//! let data = generate(2, 32, 7, Task::View)?;
//! assert_eq!(data.labels.len(), 12); // 2 per class, 6 views
//! assert_eq!(data.images.len(), 12 * 32 * 32);
//! assert!(data.images.iter().all(|v| (0.0..=1.0).contains(v)));
//! assert_eq!(data.class_names[4], "rca_lao");
//! # Ok::<(), moreml_angio::AngioError>(())
//! ```
#![deny(missing_docs)]

pub mod anatomy;
pub mod geometry;
mod png;
mod render;
mod scene;
pub mod views;

pub use png::{contact_sheet, encode_png};
pub use scene::{render_sample, render_sample_with, RenderOptions, SampleMeta};
pub use views::{Artery, CArm, Task, View, ANGLE_JITTER_DEG};

use rayon::prelude::*;

/// Smallest and largest accepted image side (pixels).
pub const SIZE_RANGE: (usize, usize) = (16, 2048);

/// Everything that can go wrong when generating or encoding images.
#[derive(Debug, thiserror::Error)]
pub enum AngioError {
    /// The image side is outside [`SIZE_RANGE`].
    #[error("image size {size} is not supported: choose a side between 16 and 2048 pixels (64 is the default)")]
    BadSize {
        /// The requested side.
        size: usize,
    },
    /// Zero images per class were requested.
    #[error("zero images per class requested: ask for at least 1")]
    NoImages,
    /// The request does not fit in memory addressing.
    #[error("{n_per_class} images per class at {size}x{size} is too many values to hold: lower --n or --size")]
    TooLarge {
        /// Images per class.
        n_per_class: usize,
        /// Image side.
        size: usize,
    },
    /// PNG encoding failed.
    #[error("cannot encode a PNG image: {0}")]
    Png(#[from] image::ImageError),
}

/// A generation request: `n_per_class` images of every class of `task`, `size` x `size` pixels.
#[derive(Clone, Copy, Debug)]
pub struct Generator {
    /// Images per class (classes are exactly balanced).
    pub n_per_class: usize,
    /// Image side in pixels.
    pub size: usize,
    /// Master seed; image `k` uses a seed derived from `(seed, k)`.
    pub seed: u64,
    /// Which labels.
    pub task: Task,
}

/// One rendered image with its label.
#[derive(Clone, Debug)]
pub struct Sample {
    /// `size * size` values in [0, 1], row-major, top row towards the head.
    pub pixels: Vec<f32>,
    /// Class index in the task's [`Task::class_names`].
    pub label: usize,
    /// What was rendered (view, angles, distances, contrast).
    pub meta: SampleMeta,
}

/// A generated data set held in memory.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `[n, size * size]` row-major pixel values in [0, 1].
    pub images: Vec<f32>,
    /// Class index per image.
    pub labels: Vec<usize>,
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// Image side.
    pub size: usize,
    /// Per-image description.
    pub meta: Vec<SampleMeta>,
}

/// SplitMix64 finaliser: decorrelates consecutive seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Generator {
    /// A checked request.
    pub fn new(n_per_class: usize, size: usize, seed: u64, task: Task) -> Result<Generator, AngioError> {
        if !(SIZE_RANGE.0..=SIZE_RANGE.1).contains(&size) {
            return Err(AngioError::BadSize { size });
        }
        if n_per_class == 0 {
            return Err(AngioError::NoImages);
        }
        let classes = task.class_names().len();
        let total = n_per_class.checked_mul(classes).and_then(|n| n.checked_mul(size * size));
        if !matches!(total, Some(t) if t <= isize::MAX as usize / 4) {
            return Err(AngioError::TooLarge { n_per_class, size });
        }
        Ok(Generator { n_per_class, size, seed, task })
    }

    /// Total number of images (classes interleaved: image `k` has class `k % classes`).
    pub fn len(&self) -> usize {
        self.n_per_class * self.task.class_names().len()
    }

    /// Always false for a checked request (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Class of image `k`.
    pub fn label(&self, k: usize) -> usize {
        k % self.task.class_names().len()
    }

    /// Renders image `k` (a pure function of `(seed, k)`).
    pub fn render(&self, k: usize) -> Sample {
        let classes = self.task.class_names().len();
        let (label, i) = (k % classes, k / classes);
        let view = self.task.view_for(label, i);
        let (pixels, meta) = render_sample(view, self.size, mix(self.seed ^ mix(k as u64)));
        Sample { pixels, label, meta }
    }

    /// Renders every image in parallel (rayon) into one flat buffer.
    pub fn generate(&self) -> Dataset {
        let per = self.size * self.size;
        let mut images = vec![0.0f32; self.len() * per];
        let meta: Vec<SampleMeta> = images
            .par_chunks_mut(per)
            .enumerate()
            .map(|(k, dst)| {
                let s = self.render(k);
                dst.copy_from_slice(&s.pixels);
                s.meta
            })
            .collect();
        Dataset {
            images,
            labels: (0..self.len()).map(|k| self.label(k)).collect(),
            class_names: self.task.class_names(),
            size: self.size,
            meta,
        }
    }
}

/// `n_per_class` images of every class of `task` at `size` x `size`, rendered in parallel.
pub fn generate(n_per_class: usize, size: usize, seed: u64, task: Task) -> Result<Dataset, AngioError> {
    Ok(Generator::new(n_per_class, size, seed, task)?.generate())
}
