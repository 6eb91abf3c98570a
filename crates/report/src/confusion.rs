//! Confusion matrix heat map.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{bold, fit_text, font, no_data, render, text_size, DrawErr, INK};
use crate::ReportError;

/// Sequential white-to-blue colour map ("Blues") for `t` in `0..=1`.
fn blues(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] =
        [(247.0, 251.0, 255.0), (198.0, 219.0, 239.0), (107.0, 174.0, 214.0), (33.0, 113.0, 181.0), (8.0, 48.0, 107.0)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let pos = t * (STOPS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let lerp = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// Draws a confusion matrix as a heat map: row = true class, column =
/// predicted class, the count printed in each cell (zeros in light grey).
/// Cell colour is the count as a fraction of its row (so the diagonal shows
/// per-class recall even when classes are imbalanced); a colour bar explains
/// the scale and the subtitle gives the overall accuracy.
///
/// `counts[i][j]` is the number of samples of true class `i` predicted as `j`.
/// `class_names` labels the classes; pass an empty slice to use `0..n`.
/// The image size depends on the number of classes (cells are 18 to 64 px);
/// the returned `(width, height)` is the size written.
///
/// # Errors
/// [`ReportError::NoData`] if `counts` is empty, [`ReportError::NotSquare`]
/// if a row does not have `counts.len()` entries, [`ReportError::ClassNames`]
/// if `class_names` is neither empty nor of length `n`,
/// [`ReportError::InvalidInput`] if the figure would be too large,
/// [`ReportError::Io`] if the file cannot be written.
pub fn confusion_matrix(
    path: impl AsRef<Path>,
    title: &str,
    counts: &[Vec<u64>],
    class_names: &[String],
) -> Result<(u32, u32), ReportError> {
    let path = path.as_ref();
    let n = counts.len();
    if n == 0 {
        return Err(no_data(path, "confusion matrix has no rows"));
    }
    for (row, r) in counts.iter().enumerate() {
        if r.len() != n {
            return Err(ReportError::NotSquare { path: path.to_path_buf(), row, len: r.len(), n });
        }
    }
    if !class_names.is_empty() && class_names.len() != n {
        return Err(ReportError::ClassNames { path: path.to_path_buf(), n, names: class_names.len() });
    }
    if n > 1000 {
        return Err(crate::canvas::invalid(path, format!("{n} classes are too many to draw")));
    }
    let names: Vec<String> =
        if class_names.is_empty() { (0..n).map(|i| i.to_string()).collect() } else { class_names.to_vec() };

    let row_sums: Vec<u128> = counts.iter().map(|r| r.iter().map(|&c| c as u128).sum()).collect();
    let total: u128 = row_sums.iter().sum();
    let correct: u128 = (0..n).map(|i| counts[i][i] as u128).sum();
    let subtitle = if total == 0 {
        "no samples".to_string()
    } else {
        format!(
            "accuracy {:.2}% ({correct} / {total})  ·  colour = share of the true class",
            100.0 * correct as f64 / total as f64
        )
    };

    // Layout (all in pixels).
    let cell: u32 = (560 / n as u32).clamp(18, 64);
    let grid = cell * n as u32;
    let label_font = font(if cell >= 28 { 14.0 } else { 12.0 });
    let names: Vec<String> = names.iter().map(|s| fit_text(s, &label_font, 160)).collect();
    let max_label_w = names.iter().map(|s| text_size(s, &label_font).0).max().unwrap_or(0);
    let vertical_cols = max_label_w + 6 > cell;
    let margin = 20;
    let axis_title_w = 30;
    let left = margin + axis_title_w + max_label_w + 10;
    let title_h = if title.trim().is_empty() { 34 } else { 64 };
    let top = margin + title_h;
    let col_labels_h = if vertical_cols { max_label_w + 12 } else { 26 };
    let bottom = col_labels_h + 34 + margin;
    let bar_w = 16;
    let right = 26 + bar_w + 50 + margin;
    let title_w = text_size(title, &bold(20.0)).0.max(text_size(&subtitle, &font(14.0)).0);
    let width = (left + grid + right).max(title_w + 2 * margin);
    let height = top + grid + bottom;
    crate::canvas::check_dims(path, width, height)?;

    render(
        path,
        width,
        height,
        |root| {
            fn center(s: TextStyle<'_>) -> TextStyle<'_> {
                s.pos(Pos::new(HPos::Center, VPos::Center))
            }
            let mut y = margin as i32;
            if !title.trim().is_empty() {
                root.draw(&Text::new(title.to_string(), ((width / 2) as i32, y + 12), center(bold(20.0).color(&INK))))?;
                y += 30;
            }
            root.draw(&Text::new(
                subtitle.clone(),
                ((width / 2) as i32, y + 10),
                center(font(14.0).color(&RGBColor(90, 90, 90))),
            ))?;

            let (gx, gy) = (left as i32, top as i32);
            let c = cell as i32;
            for (i, row) in counts.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    let frac = if row_sums[i] == 0 { 0.0 } else { v as f64 / row_sums[i] as f64 };
                    let x0 = gx + j as i32 * c;
                    let y0 = gy + i as i32 * c;
                    root.draw(&Rectangle::new([(x0, y0), (x0 + c, y0 + c)], blues(frac).filled()))?;
                    let text = v.to_string();
                    let digits = text.chars().count() as f64;
                    let size = (cell as f64 * 0.36).min(cell as f64 * 0.9 / (digits * 0.64));
                    if size >= 7.0 {
                        let color = if v == 0 {
                            RGBColor(185, 185, 185)
                        } else if frac > 0.5 {
                            WHITE
                        } else {
                            INK
                        };
                        root.draw(&Text::new(text, (x0 + c / 2, y0 + c / 2), center(font(size).color(&color))))?;
                    }
                }
            }
            // Thin white separators and a grey frame.
            for k in 1..n as i32 {
                root.draw(&PathElement::new(
                    vec![(gx + k * c, gy), (gx + k * c, gy + grid as i32)],
                    WHITE.stroke_width(1),
                ))?;
                root.draw(&PathElement::new(
                    vec![(gx, gy + k * c), (gx + grid as i32, gy + k * c)],
                    WHITE.stroke_width(1),
                ))?;
            }
            root.draw(&Rectangle::new(
                [(gx, gy), (gx + grid as i32, gy + grid as i32)],
                RGBColor(150, 150, 150).stroke_width(1),
            ))?;

            // Class labels.
            let label_style = label_font.color(&INK);
            for (k, name) in names.iter().enumerate() {
                let mid = k as i32 * c + c / 2;
                root.draw(&Text::new(
                    name.clone(),
                    (gx - 8, gy + mid),
                    label_style.pos(Pos::new(HPos::Right, VPos::Center)),
                ))?;
                if vertical_cols {
                    root.draw(&Text::new(
                        name.clone(),
                        (gx + mid, gy + grid as i32 + 8),
                        label_style.transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center)),
                    ))?;
                } else {
                    root.draw(&Text::new(
                        name.clone(),
                        (gx + mid, gy + grid as i32 + 14),
                        center(label_style.clone()),
                    ))?;
                }
            }
            // Axis titles.
            let axis = bold(15.0).color(&INK);
            root.draw(&Text::new(
                "Predicted class",
                (gx + grid as i32 / 2, gy + grid as i32 + col_labels_h as i32 + 16),
                center(axis.clone()),
            ))?;
            root.draw(&Text::new(
                "True class",
                ((margin + 8) as i32, gy + grid as i32 / 2),
                center(axis.transform(FontTransform::Rotate270)),
            ))?;

            // Colour bar: share of the row, 0% (bottom) to 100% (top).
            let bx = gx + grid as i32 + 26;
            let bh = grid as i32;
            for k in 0..bh {
                let t = 1.0 - k as f64 / (bh - 1).max(1) as f64;
                root.draw(&Rectangle::new([(bx, gy + k), (bx + bar_w as i32, gy + k + 1)], blues(t).filled()))?;
            }
            root.draw(&Rectangle::new(
                [(bx, gy), (bx + bar_w as i32, gy + bh)],
                RGBColor(150, 150, 150).stroke_width(1),
            ))?;
            let tick = font(12.0).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
            for (t, label) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
                let ty = gy + ((1.0 - t) * (bh - 1) as f64) as i32;
                root.draw(&PathElement::new(
                    vec![(bx + bar_w as i32, ty), (bx + bar_w as i32 + 4, ty)],
                    INK.stroke_width(1),
                ))?;
                root.draw(&Text::new(label, (bx + bar_w as i32 + 7, ty), tick.clone()))?;
            }
            Ok::<(), DrawErr>(())
        },
        |_| {},
    )
}
