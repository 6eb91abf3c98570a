//! Shared plumbing: embedded font, off-screen rendering, atomic PNG writes,
//! colours and small layout helpers.

use std::fs;
use std::io::{BufWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle, RGBColor};

use crate::backend::{text_extent, Canvas};
use crate::{ReportError, MAX_DIMENSION};

/// Font family name used for all text (registered to DejaVu Sans).
pub(crate) const FONT: &str = "sans-serif";

/// The drawing area type all figures draw on.
pub(crate) type Area<'a> = DrawingArea<Canvas<'a>, Shift>;

/// Error raised while drawing; converted to [`ReportError::Draw`].
#[derive(Debug)]
pub(crate) struct DrawErr(pub String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawErr {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawErr(e.to_string())
    }
}

/// Registers the embedded DejaVu fonts with plotters (once per process).
pub(crate) fn ensure_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let regular = dejavu::sans::regular();
        let bold = dejavu::sans::bold();
        let oblique = dejavu::sans::oblique();
        for family in ["sans-serif", "serif", "monospace"] {
            // Registration only fails for an unparsable font, which the
            // bundled ones are not; text then renders as nothing rather than
            // the whole figure failing.
            let _ = register_font(family, FontStyle::Normal, regular);
            let _ = register_font(family, FontStyle::Bold, bold);
            let _ = register_font(family, FontStyle::Italic, oblique);
            let _ = register_font(family, FontStyle::Oblique, oblique);
        }
    });
}

/// A text style in the embedded font.
pub(crate) fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from(FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Normal))
}

/// A bold text style in the embedded font.
pub(crate) fn bold(size: f64) -> TextStyle<'static> {
    TextStyle::from(FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Bold))
}

/// Width and height in pixels of `text` in `style` (0 if it cannot be measured).
pub(crate) fn text_size(text: &str, style: &TextStyle<'_>) -> (u32, u32) {
    ensure_fonts();
    if text.is_empty() {
        return (0, style.font.get_size() as u32);
    }
    text_extent(text, style.font.get_size(), style.font.get_style())
        .or_else(|| style.font.box_size(text).ok())
        .unwrap_or((0, 0))
}

/// Cuts `text` (adding an ellipsis) so that it is at most `max_w` pixels wide.
pub(crate) fn fit_text(text: &str, style: &TextStyle<'_>, max_w: u32) -> String {
    if text_size(text, style).0 <= max_w {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut n = chars.len();
    while n > 0 {
        n -= 1;
        let s: String = chars[..n].iter().collect::<String>() + "…";
        if text_size(&s, style).0 <= max_w {
            return s;
        }
    }
    String::new()
}

/// Greedy word wrap of `text` into lines at most `max_w` pixels wide (words
/// longer than a line are cut with an ellipsis).
pub(crate) fn wrap_text(text: &str, style: &TextStyle<'_>, max_w: u32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
            if text_size(&candidate, style).0 <= max_w || line.is_empty() {
                line = candidate;
            } else {
                lines.push(std::mem::take(&mut line));
                line = word.to_string();
            }
        }
        lines.push(fit_text(&line, style, max_w));
    }
    lines
}

/// Colour-blind friendly qualitative palette (Okabe-Ito, then Tableau).
const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(120, 94, 240),  // violet
    RGBColor(140, 86, 75),   // brown
    RGBColor(127, 127, 127), // grey
    RGBColor(188, 189, 34),  // olive
];

/// The `i`-th series colour.
pub(crate) fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Dark grey used for text and axes.
pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);
/// Light grey used for grid lines and frames.
pub(crate) const FAINT: RGBColor = RGBColor(225, 225, 225);

/// Renders a `width x height` RGB figure with `draw` and writes it to `path`
/// atomically. `post` may then modify the raw RGB buffer (e.g. to blit images).
pub(crate) fn render<F, P>(path: &Path, width: u32, height: u32, draw: F, post: P) -> Result<(u32, u32), ReportError>
where
    F: FnOnce(&Area<'_>) -> Result<(), DrawErr>,
    P: FnOnce(&mut [u8]),
{
    check_dims(path, width, height)?;
    ensure_fonts();
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), DrawErr> {
        {
            let backend = Canvas(BitMapBackend::with_buffer(&mut buf, (width, height)));
            let root = backend.into_drawing_area();
            root.fill(&WHITE)?;
            draw(&root)?;
            root.present()?;
        }
        post(&mut buf);
        Ok(())
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(DrawErr(message))) => return Err(ReportError::Draw { path: path.to_path_buf(), message }),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "plotting library panicked".to_string());
            return Err(ReportError::Draw { path: path.to_path_buf(), message });
        }
    }
    write_png_atomic(path, width, height, &buf)?;
    Ok((width, height))
}

/// Rejects zero-sized or absurdly large figures.
pub(crate) fn check_dims(path: &Path, width: u32, height: u32) -> Result<(), ReportError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(invalid(path, format!("figure would be {width}x{height} pixels (limit {MAX_DIMENSION} per side)")));
    }
    Ok(())
}

/// Shorthand for [`ReportError::InvalidInput`].
pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> ReportError {
    ReportError::InvalidInput { path: path.to_path_buf(), reason: reason.into() }
}

/// Shorthand for [`ReportError::NoData`].
pub(crate) fn no_data(path: &Path, reason: impl Into<String>) -> ReportError {
    ReportError::NoData { path: path.to_path_buf(), reason: reason.into() }
}

/// Encodes `rgb` as PNG into a temporary file next to `path`, then renames it
/// over `path`, so readers never see a half-written figure.
fn write_png_atomic(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), ReportError> {
    let io = |source: std::io::Error| ReportError::Io { path: path.to_path_buf(), source };
    let file_name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "output path has no file name")))?;
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(file_name);
    let tmp = tempfile::Builder::new().prefix(&prefix).suffix(".tmp").tempfile_in(&dir).map_err(io)?;
    {
        let mut writer = BufWriter::new(tmp.as_file());
        let mut encoder = png::Encoder::new(&mut writer, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let encode = |e: png::EncodingError| ReportError::Encode { path: path.to_path_buf(), message: e.to_string() };
        let mut png_writer = encoder.write_header().map_err(encode)?;
        png_writer.write_image_data(rgb).map_err(encode)?;
        png_writer.finish().map_err(encode)?;
        writer.flush().map_err(io)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600 files; a figure should be readable like any other output.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)).map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Min and max of the finite values in `values`, or `None` if there are none.
pub(crate) fn finite_min_max(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Pads a data range for display: 5% on each side, a unit-ish window around a
/// constant, widened to include `always` if given and valid. Fails if the
/// range is too wide to be represented.
pub(crate) fn padded_range(
    path: &Path,
    (lo, hi): (f64, f64),
    always: Option<(f64, f64)>,
    pad: bool,
) -> Result<(f64, f64), ReportError> {
    let (mut lo, mut hi) = (lo, hi);
    if pad {
        let span = hi - lo;
        if span > 0.0 {
            lo -= 0.05 * span;
            hi += 0.05 * span;
        }
    }
    if let Some((a, b)) = always {
        if a.is_finite() && b.is_finite() && a < b {
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    if hi - lo <= 0.0 {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= d;
        hi += d;
    }
    if !(hi - lo).is_finite() || hi - lo <= 0.0 {
        return Err(invalid(path, format!("data range [{lo}, {hi}] is too wide to plot")));
    }
    Ok((lo, hi))
}

/// Formats an axis tick value compactly (`0.25`, `1e-3`, `12000`).
pub(crate) fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Formats a statistic with about 3-4 significant digits.
pub(crate) fn short_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Draws a legend (coloured line swatch + name per entry) into `area`,
/// wrapping entries into centred rows. Returns nothing; entries that do not
/// fit are dropped silently (the caller reserves enough space via
/// [`legend_height`]).
pub(crate) fn draw_legend(area: &Area<'_>, entries: &[(String, RGBColor, LegendMark)]) -> Result<(), DrawErr> {
    let style = font(LEGEND_FONT).color(&INK);
    let (w, _) = area.dim_in_pixel();
    let entries = &fitted(entries, w);
    let rows = legend_rows(entries, w);
    for (r, row) in rows.iter().enumerate() {
        let row_w: u32 = row.iter().map(|&i| entry_width(&entries[i].0)).sum();
        let mut x = (w.saturating_sub(row_w) / 2) as i32;
        let y = (r as u32 * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        for &i in row {
            let (name, color, mark) = &entries[i];
            match mark {
                LegendMark::Line => {
                    area.draw(&PathElement::new(vec![(x, y), (x + SWATCH, y)], color.stroke_width(3)))?;
                }
                LegendMark::Dashed => {
                    let mut sx = x;
                    while sx < x + SWATCH {
                        area.draw(&PathElement::new(
                            vec![(sx, y), ((sx + 5).min(x + SWATCH), y)],
                            color.stroke_width(2),
                        ))?;
                        sx += 8;
                    }
                }
                LegendMark::Dot => {
                    area.draw(&Circle::new((x + SWATCH / 2, y), 4, color.filled()))?;
                }
            }
            area.draw(&Text::new(name.clone(), (x + SWATCH + 6, y), style.pos(Pos::new(HPos::Left, VPos::Center))))?;
            x += entry_width(name) as i32;
        }
    }
    Ok(())
}

/// How a legend entry is marked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LegendMark {
    /// A solid line.
    Line,
    /// A dashed line.
    Dashed,
    /// A filled dot.
    Dot,
}

const LEGEND_FONT: f64 = 15.0;
const LEGEND_ROW: u32 = 24;
const SWATCH: i32 = 26;

fn entry_width(name: &str) -> u32 {
    SWATCH as u32 + 6 + text_size(name, &font(LEGEND_FONT)).0 + 22
}

/// Entries with names shortened to fit on one legend row.
fn fitted(entries: &[(String, RGBColor, LegendMark)], width: u32) -> Vec<(String, RGBColor, LegendMark)> {
    let max_w = width.saturating_sub(SWATCH as u32 + 6 + 22);
    entries.iter().map(|(n, c, m)| (fit_text(n, &font(LEGEND_FONT), max_w), *c, *m)).collect()
}

fn legend_rows(entries: &[(String, RGBColor, LegendMark)], width: u32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = 0;
    for (i, (name, _, _)) in entries.iter().enumerate() {
        let ew = entry_width(name);
        match rows.last_mut() {
            Some(row) if used + ew <= width => {
                row.push(i);
                used += ew;
            }
            _ => {
                rows.push(vec![i]);
                used = ew;
            }
        }
    }
    rows
}

/// Height in pixels needed by [`draw_legend`] for `entries` in a `width`-wide area.
pub(crate) fn legend_height(entries: &[(String, RGBColor, LegendMark)], width: u32) -> u32 {
    legend_rows(&fitted(entries, width), width).len() as u32 * LEGEND_ROW + 6
}
