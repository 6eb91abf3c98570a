//! Grids of grayscale images.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{
    bold, finite_min_max, fit_text, font, invalid, no_data, render, text_size, wrap_text, DrawErr, INK,
};
use crate::ReportError;

/// A grayscale image of `width * height` real values in row-major order
/// (row 0 at the top).
///
/// For display, each image is mapped linearly to black..white using its own
/// finite min/max, or the fixed [`range`](GrayImage::range) if set (values
/// outside are clamped). A constant image is drawn mid-grey; NaN or infinite
/// pixels are drawn magenta so they stand out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` values, row-major.
    pub pixels: Vec<f64>,
    /// Fixed display range `(black, white)`; `None` = this image's min/max.
    pub range: Option<(f64, f64)>,
    /// Small caption drawn under the image (may be empty).
    pub caption: String,
}

impl GrayImage {
    /// An image displayed with its own min/max and no caption.
    pub fn new(width: usize, height: usize, pixels: Vec<f64>) -> Self {
        GrayImage { width, height, pixels, range: None, caption: String::new() }
    }

    /// Display with the fixed range `lo` (black) to `hi` (white), e.g.
    /// `(0.0, 1.0)` for MNIST digits, so several images are comparable.
    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }

    /// Sets the small caption drawn under the image.
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = caption.into();
        self
    }
}

/// One row of an [`image_grid`]: a caption on the left, then the images.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageRow {
    /// Caption drawn to the left of the row (wrapped to at most 200 px).
    pub caption: String,
    /// Images, drawn left to right.
    pub images: Vec<GrayImage>,
}

impl ImageRow {
    /// A row from a caption and its images.
    pub fn new(caption: impl Into<String>, images: Vec<GrayImage>) -> Self {
        ImageRow { caption: caption.into(), images }
    }
}

/// Target displayed size of an image's longer side, in pixels.
const TARGET: usize = 112;
const MARGIN: u32 = 20;
const GAP: u32 = 14;
const ROW_GAP: u32 = 18;
const CAPTION_MAX_W: u32 = 200;
const IMG_CAPTION_H: u32 = 20;

/// Integer zoom so that the longer side is about 112 px (1x to 8x; MNIST's
/// 28x28 digits are drawn 4x).
fn scale_for(img: &GrayImage) -> u32 {
    (TARGET / img.width.max(img.height).max(1)).clamp(1, 8) as u32
}

struct Placed {
    row: usize,
    index: usize,
    x: u32,
    y: u32,
    scale: u32,
}

/// Draws rows of grayscale images scaled up with nearest-neighbour zoom (4x
/// for 28x28), each row with a caption on the left and each image with its
/// optional caption below, under `title` (omitted if empty). Typical use:
/// a few digits next to "what the server sees" (a ciphertext plane as an
/// image), or recovered vs original images in the attack report. Rows may
/// hold images of different sizes. The returned `(width, height)` is the
/// size written.
///
/// # Errors
/// [`ReportError::NoData`] if there are no images at all,
/// [`ReportError::PixelCount`] if an image's `pixels.len() != width * height`,
/// [`ReportError::InvalidInput`] for a zero-sized image, an invalid fixed
/// range (not finite or `lo >= hi`) or a figure too large,
/// [`ReportError::Io`] if the file cannot be written.
pub fn image_grid(path: impl AsRef<Path>, title: &str, rows: &[ImageRow]) -> Result<(u32, u32), ReportError> {
    let path = path.as_ref();
    if rows.iter().all(|r| r.images.is_empty()) {
        return Err(no_data(path, "no images given"));
    }
    for row in rows {
        for (index, img) in row.images.iter().enumerate() {
            if img.width == 0 || img.height == 0 {
                return Err(invalid(
                    path,
                    format!(
                        "image {index} of row `{}` is {}x{} (must be at least 1x1)",
                        row.caption, img.width, img.height
                    ),
                ));
            }
            let expected = img.width.checked_mul(img.height);
            if expected != Some(img.pixels.len()) {
                return Err(ReportError::PixelCount {
                    path: path.to_path_buf(),
                    row: row.caption.clone(),
                    index,
                    width: img.width,
                    height: img.height,
                    expected: expected.unwrap_or(usize::MAX),
                    actual: img.pixels.len(),
                });
            }
            if img.width > crate::MAX_DIMENSION as usize || img.height > crate::MAX_DIMENSION as usize {
                return Err(invalid(path, format!("image {}x{} is too large", img.width, img.height)));
            }
            if let Some((lo, hi)) = img.range {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(invalid(
                        path,
                        format!(
                            "image {index} of row `{}` has display range ({lo}, {hi}); need finite lo < hi",
                            row.caption
                        ),
                    ));
                }
            }
        }
    }

    // Layout.
    let cap_font = font(14.0);
    let small = font(12.0);
    let captions: Vec<Vec<String>> = rows
        .iter()
        .map(|r| if r.caption.trim().is_empty() { Vec::new() } else { wrap_text(&r.caption, &cap_font, CAPTION_MAX_W) })
        .collect();
    let caption_w = captions.iter().flatten().map(|l| text_size(l, &cap_font).0).max().map_or(0, |w| w + 18);
    let title_h = if title.trim().is_empty() { 0 } else { 40 };
    let mut placed = Vec::new();
    let mut img_captions = Vec::new();
    let mut row_tops = Vec::new();
    let mut y = MARGIN + title_h;
    let mut width = 0u64;
    for (r, row) in rows.iter().enumerate() {
        let has_captions = row.images.iter().any(|i| !i.caption.is_empty());
        let mut x = MARGIN + caption_w;
        let mut row_h = captions[r].len() as u32 * 18;
        for (index, img) in row.images.iter().enumerate() {
            let scale = scale_for(img);
            let (dw, dh) = (img.width as u32 * scale, img.height as u32 * scale);
            let cap = fit_text(&img.caption, &small, dw.max(80));
            let cell_w = dw.max(text_size(&cap, &small).0);
            placed.push(Placed { row: r, index, x: x + (cell_w - dw) / 2, y, scale });
            img_captions.push((cap, x + cell_w / 2, y + dh + 4));
            row_h = row_h.max(dh + if has_captions { IMG_CAPTION_H } else { 0 });
            x = x.saturating_add(cell_w + GAP);
        }
        width = width.max(x as u64 - GAP as u64 + MARGIN as u64);
        row_tops.push((y, row_h));
        y = y.saturating_add(row_h + ROW_GAP);
    }
    let title_w = text_size(title, &bold(20.0)).0 + 2 * MARGIN;
    let width = width.max(title_w as u64).min(u32::MAX as u64) as u32;
    let height = y - ROW_GAP + MARGIN;
    crate::canvas::check_dims(path, width, height)?;

    render(
        path,
        width,
        height,
        |root| {
            if title_h > 0 {
                root.draw(&Text::new(
                    title.to_string(),
                    ((width / 2) as i32, (MARGIN + 12) as i32),
                    bold(20.0).color(&INK).pos(Pos::new(HPos::Center, VPos::Center)),
                ))?;
            }
            for (r, lines) in captions.iter().enumerate() {
                let (top, h) = row_tops[r];
                let y0 = top as i32 + (h as i32 - lines.len() as i32 * 18) / 2;
                for (k, line) in lines.iter().enumerate() {
                    root.draw(&Text::new(
                        line.clone(),
                        (MARGIN as i32, y0 + k as i32 * 18 + 9),
                        cap_font.color(&INK).pos(Pos::new(HPos::Left, VPos::Center)),
                    ))?;
                }
            }
            for p in &placed {
                let img = &rows[p.row].images[p.index];
                let (x0, y0) = (p.x as i32 - 1, p.y as i32 - 1);
                let (x1, y1) = ((p.x + img.width as u32 * p.scale) as i32, (p.y + img.height as u32 * p.scale) as i32);
                root.draw(&Rectangle::new([(x0, y0), (x1, y1)], RGBColor(170, 170, 170).stroke_width(1)))?;
            }
            for (cap, cx, cy) in &img_captions {
                if !cap.is_empty() {
                    root.draw(&Text::new(
                        cap.clone(),
                        (*cx as i32, *cy as i32 + 8),
                        small.color(&RGBColor(70, 70, 70)).pos(Pos::new(HPos::Center, VPos::Center)),
                    ))?;
                }
            }
            Ok::<(), DrawErr>(())
        },
        |buf| {
            for p in &placed {
                blit(buf, width, &rows[p.row].images[p.index], p.x, p.y, p.scale);
            }
        },
    )
}

/// Writes `img` zoomed by `scale` into the RGB buffer at `(x0, y0)`.
fn blit(buf: &mut [u8], canvas_w: u32, img: &GrayImage, x0: u32, y0: u32, scale: u32) {
    let (lo, hi) = match img.range {
        Some(r) => r,
        None => finite_min_max(img.pixels.iter().copied()).unwrap_or((0.0, 0.0)),
    };
    // Halves keep the span finite even for ranges near f64::MAX.
    let span = hi * 0.5 - lo * 0.5;
    let stride = canvas_w as usize * 3;
    for (k, &v) in img.pixels.iter().enumerate() {
        let rgb = if !v.is_finite() {
            [220, 0, 220]
        } else if span.is_nan() || span <= 0.0 {
            [128, 128, 128]
        } else {
            let g = (((v * 0.5 - lo * 0.5) / span).clamp(0.0, 1.0) * 255.0).round() as u8;
            [g, g, g]
        };
        let (px, py) = ((k % img.width) as u32, (k / img.width) as u32);
        for dy in 0..scale {
            let row = (y0 + py * scale + dy) as usize;
            let start = row * stride + (x0 + px * scale) as usize * 3;
            let end = start + scale as usize * 3;
            if let Some(dst) = buf.get_mut(start..end) {
                for chunk in dst.chunks_exact_mut(3) {
                    chunk.copy_from_slice(&rgb);
                }
            }
        }
    }
}
