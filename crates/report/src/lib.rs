//! PNG figures for moreml experiments.
//!
//! People would rather look at a picture than read JSON, so every experiment
//! (`moreml mnist`, the security report, ...) can render its results with the
//! functions here:
//!
//! * [`training_curves`] / [`panels`]: line plots (loss and accuracy per epoch
//!   for a plaintext and an encrypted run, side by side);
//! * [`confusion_matrix`]: heat map with the counts printed in the cells;
//! * [`image_grid`]: rows of grayscale images (digits next to "what the server
//!   sees", recovered-vs-original images in the attack report);
//! * [`scatter`]: x vs y with a `y = x` diagonal (decrypted vs plaintext
//!   outputs, surrogate predictions).
//!
//! All functions write the PNG atomically (a temporary file in the target
//! directory, then a rename), return the `(width, height)` of the image they
//! wrote, and report bad input (empty data, mismatched lengths, non-square
//! matrices, ...) as a [`ReportError`] naming the output path instead of
//! panicking. Non-finite points in curves and scatter plots are skipped and
//! counted in the legend.
//!
//! Text is rasterised with `ab_glyph` from the DejaVu Sans font embedded in
//! the binary (bundled by the `dejavu` crate), so no system fonts, fontconfig
//! or freetype are needed.
//!
//! # Example
//!
//! ```
//! use moreml_report::{panels, CurveSpec, Panel, Series};
//!
//! let dir = tempfile::tempdir()?;
//! let epochs = vec![1.0, 2.0, 3.0];
//! let loss = Panel::new(
//!     CurveSpec::new("Loss", "epoch", "cross-entropy"),
//!     vec![
//!         Series::new("plaintext", epochs.clone(), vec![0.9, 0.4, 0.3]),
//!         Series::new("encrypted", epochs.clone(), vec![0.95, 0.45, 0.31]),
//!     ],
//! );
//! let acc = Panel::new(
//!     CurveSpec::new("Accuracy", "epoch", "test accuracy").with_y_range(0.0, 1.0),
//!     vec![
//!         Series::new("plaintext", epochs.clone(), vec![0.80, 0.90, 0.93]),
//!         Series::new("encrypted", epochs, vec![0.79, 0.90, 0.92]),
//!     ],
//! );
//! let path = dir.path().join("curves.png");
//! let (width, height) = panels(&path, "MNIST: plaintext vs MORE-encrypted", &[loss, acc])?;
//! assert!(path.exists() && width > height);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod backend;
mod canvas;
mod confusion;
mod curves;
mod images;
mod scatter;

use std::path::{Path, PathBuf};

pub use confusion::confusion_matrix;
pub use curves::{panels, training_curves, PANEL_SIZE, PANEL_TITLE_HEIGHT};
pub use images::{image_grid, GrayImage, ImageRow};
pub use scatter::{scatter, SCATTER_SIZE};

/// Largest width or height (in pixels) of a figure; bigger requests are
/// rejected with [`ReportError::InvalidInput`] instead of allocating gigabytes.
pub const MAX_DIMENSION: u32 = 16_384;

/// Everything that can go wrong when writing a figure. Every variant carries
/// the path of the PNG that was being written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// There is nothing to draw (no series, no finite points, no images, ...).
    #[error("{path}: nothing to plot: {reason}", path = .path.display())]
    NoData {
        /// Output path.
        path: PathBuf,
        /// What was missing.
        reason: String,
    },
    /// A series has a different number of x and y values.
    #[error("{path}: series `{series}` has {x_len} x values but {y_len} y values", path = .path.display())]
    LengthMismatch {
        /// Output path.
        path: PathBuf,
        /// Name of the offending series.
        series: String,
        /// Number of x values.
        x_len: usize,
        /// Number of y values.
        y_len: usize,
    },
    /// A confusion matrix row does not have `n` entries (the matrix must be `n x n`).
    #[error("{path}: confusion matrix is not square: row {row} has {len} entries, expected {n}", path = .path.display())]
    NotSquare {
        /// Output path.
        path: PathBuf,
        /// Index of the offending row.
        row: usize,
        /// Its length.
        len: usize,
        /// Number of rows (classes).
        n: usize,
    },
    /// The number of class names does not match the confusion matrix size.
    #[error("{path}: confusion matrix has {n} classes but {names} class names were given", path = .path.display())]
    ClassNames {
        /// Output path.
        path: PathBuf,
        /// Number of classes (rows).
        n: usize,
        /// Number of names given.
        names: usize,
    },
    /// An image's pixel buffer does not hold `width * height` values.
    #[error("{path}: image {index} of row `{row}` is {width}x{height} (= {expected} pixels) but has {actual} pixel values", path = .path.display())]
    PixelCount {
        /// Output path.
        path: PathBuf,
        /// Caption of the row holding the image.
        row: String,
        /// Index of the image within its row.
        index: usize,
        /// Declared width.
        width: usize,
        /// Declared height.
        height: usize,
        /// `width * height`.
        expected: usize,
        /// Length of the pixel buffer.
        actual: usize,
    },
    /// Some other invalid argument (zero-sized image, bad display range,
    /// data range too large to plot, figure too large, ...).
    #[error("{path}: invalid input: {reason}", path = .path.display())]
    InvalidInput {
        /// Output path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The plotting library failed while drawing.
    #[error("{path}: drawing failed: {message}", path = .path.display())]
    Draw {
        /// Output path.
        path: PathBuf,
        /// The library's message.
        message: String,
    },
    /// PNG encoding failed.
    #[error("{path}: PNG encoding failed: {message}", path = .path.display())]
    Encode {
        /// Output path.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
    /// Creating, writing or renaming the file failed (e.g. the directory does
    /// not exist or is not writable).
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// Output path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ReportError {
    /// The path of the PNG that could not be written.
    pub fn path(&self) -> &Path {
        match self {
            ReportError::NoData { path, .. }
            | ReportError::LengthMismatch { path, .. }
            | ReportError::NotSquare { path, .. }
            | ReportError::ClassNames { path, .. }
            | ReportError::PixelCount { path, .. }
            | ReportError::InvalidInput { path, .. }
            | ReportError::Draw { path, .. }
            | ReportError::Encode { path, .. }
            | ReportError::Io { path, .. } => path,
        }
    }
}

/// One named line (or point cloud, for [`scatter`]) of `(x, y)` values.
///
/// Points where `x` or `y` is NaN or infinite are skipped (a line is broken
/// there) and counted in the legend entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// X coordinates.
    pub x: Vec<f64>,
    /// Y coordinates; must have the same length as `x`.
    pub y: Vec<f64>,
}

impl Series {
    /// A series from explicit x and y values.
    pub fn new(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series { name: name.into(), x, y }
    }

    /// A series whose x values are `1, 2, ..., y.len()` (e.g. epochs).
    pub fn from_y(name: impl Into<String>, y: Vec<f64>) -> Self {
        let x = (1..=y.len()).map(|i| i as f64).collect();
        Series { name: name.into(), x, y }
    }
}

/// Title, axis labels and optional y range of one plot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CurveSpec {
    /// Plot title (drawn above the plot; may be empty).
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Range that is always shown on the y axis (e.g. `(0.0, 1.0)` for an
    /// accuracy); it is widened if data falls outside. For [`scatter`] it
    /// applies to both axes. Ignored if not finite or empty.
    pub y_range: Option<(f64, f64)>,
}

impl CurveSpec {
    /// A spec with a title and axis labels and an automatic y range.
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        CurveSpec { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), y_range: None }
    }

    /// Always show at least `lo..=hi` on the y axis.
    pub fn with_y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }
}

/// One panel of a multi-panel figure drawn by [`panels`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    /// Title, labels and y range.
    pub spec: CurveSpec,
    /// The lines to draw.
    pub series: Vec<Series>,
}

impl Panel {
    /// A panel from a spec and its series.
    pub fn new(spec: CurveSpec, series: Vec<Series>) -> Self {
        Panel { spec, series }
    }
}
