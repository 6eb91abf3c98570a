//! Line plots: [`training_curves`] and multi-panel [`panels`].

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{
    bold, draw_legend, finite_min_max, font, legend_height, no_data, padded_range, render, series_color, tick_label,
    Area, DrawErr, LegendMark, FAINT, INK,
};
use crate::{CurveSpec, Panel, ReportError, Series};

/// Size in pixels `(width, height)` of one line-plot panel; [`training_curves`]
/// writes exactly this size.
pub const PANEL_SIZE: (u32, u32) = (720, 480);

/// Extra height in pixels added on top of the panels by [`panels`] when its
/// overall title is not empty.
pub const PANEL_TITLE_HEIGHT: u32 = 44;

/// Series with non-finite points removed, split into drawable segments.
pub(crate) struct Prepared {
    pub name: String,
    /// Runs of consecutive finite points (a line is broken at skipped points).
    pub segments: Vec<Vec<(f64, f64)>>,
    /// Number of points skipped because x or y was NaN or infinite.
    pub skipped: usize,
    /// Number of finite points.
    pub finite: usize,
}

impl Prepared {
    /// Legend label: the name plus a note about skipped or missing points.
    pub fn label(&self) -> String {
        if self.finite == 0 {
            format!("{} (no finite data)", self.name)
        } else if self.skipped > 0 {
            format!("{} ({} non-finite skipped)", self.name, self.skipped)
        } else {
            self.name.clone()
        }
    }

    pub fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.segments.iter().flatten().copied()
    }
}

/// Validates `series` and drops non-finite points. Fails on no series,
/// mismatched lengths, or no finite point at all.
pub(crate) fn prepare(path: &Path, series: &[Series]) -> Result<Vec<Prepared>, ReportError> {
    if series.is_empty() {
        return Err(no_data(path, "no series given"));
    }
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        if s.x.len() != s.y.len() {
            return Err(ReportError::LengthMismatch {
                path: path.to_path_buf(),
                series: s.name.clone(),
                x_len: s.x.len(),
                y_len: s.y.len(),
            });
        }
        let mut segments = vec![Vec::new()];
        let mut skipped = 0;
        let mut finite = 0;
        for (&x, &y) in s.x.iter().zip(&s.y) {
            if x.is_finite() && y.is_finite() {
                segments.last_mut().expect("never empty").push((x, y));
                finite += 1;
            } else {
                skipped += 1;
                if !segments.last().expect("never empty").is_empty() {
                    segments.push(Vec::new());
                }
            }
        }
        segments.retain(|s| !s.is_empty());
        out.push(Prepared { name: s.name.clone(), segments, skipped, finite });
    }
    if out.iter().all(|p| p.finite == 0) {
        let what = if series.iter().all(|s| s.x.is_empty()) {
            "all series are empty"
        } else {
            "no series has a finite (x, y) point"
        };
        return Err(no_data(path, what));
    }
    Ok(out)
}

/// Draws `series` as a line plot with a legend below it, writing a
/// [`PANEL_SIZE`] PNG to `path`.
///
/// Points with a NaN or infinite coordinate are skipped (breaking the line)
/// and counted in the legend. Series with at most 40 points also get markers.
///
/// # Errors
/// [`ReportError::NoData`] if `series` is empty or has no finite point,
/// [`ReportError::LengthMismatch`] if a series has `x.len() != y.len()`,
/// [`ReportError::Io`] if the file cannot be written.
pub fn training_curves(path: impl AsRef<Path>, spec: &CurveSpec, series: &[Series]) -> Result<(u32, u32), ReportError> {
    let path = path.as_ref();
    let prepared = prepare(path, series)?;
    let ranges = ranges(path, spec, &prepared)?;
    render(path, PANEL_SIZE.0, PANEL_SIZE.1, |root| draw_panel(root, spec, &prepared, ranges), |_| {})
}

/// Draws several line plots side by side (e.g. loss and accuracy) under an
/// overall `title` (omitted if empty). The PNG is `PANEL_SIZE.0 * panels.len()`
/// wide and `PANEL_SIZE.1` (+ [`PANEL_TITLE_HEIGHT`] with a title) high.
///
/// # Errors
/// As [`training_curves`] for each panel; [`ReportError::NoData`] if `panels`
/// is empty.
pub fn panels(path: impl AsRef<Path>, title: &str, panels: &[Panel]) -> Result<(u32, u32), ReportError> {
    let path = path.as_ref();
    if panels.is_empty() {
        return Err(no_data(path, "no panels given"));
    }
    let mut prepared = Vec::with_capacity(panels.len());
    for p in panels {
        let pr = prepare(path, &p.series).map_err(|e| match e {
            ReportError::NoData { path, reason } => {
                ReportError::NoData { path, reason: format!("panel `{}`: {reason}", p.spec.title) }
            }
            other => other,
        })?;
        let r = ranges(path, &p.spec, &pr)?;
        prepared.push((pr, r));
    }
    let title_h = if title.trim().is_empty() { 0 } else { PANEL_TITLE_HEIGHT };
    let width = (PANEL_SIZE.0 as usize).saturating_mul(panels.len()).min(u32::MAX as usize) as u32;
    let height = PANEL_SIZE.1 + title_h;
    render(
        path,
        width,
        height,
        |root| {
            let body = if title_h > 0 {
                let (top, body) = root.split_vertically(title_h);
                top.draw(&Text::new(
                    title.to_string(),
                    ((width / 2) as i32, (title_h / 2 + 4) as i32),
                    bold(24.0).color(&INK).pos(Pos::new(HPos::Center, VPos::Center)),
                ))?;
                body
            } else {
                root.clone()
            };
            let cells = body.split_evenly((1, panels.len()));
            for ((cell, p), (pr, r)) in cells.iter().zip(panels).zip(&prepared) {
                draw_panel(cell, &p.spec, pr, *r)?;
            }
            Ok(())
        },
        |_| {},
    )
}

type Ranges = ((f64, f64), (f64, f64));

fn ranges(path: &Path, spec: &CurveSpec, prepared: &[Prepared]) -> Result<Ranges, ReportError> {
    let xs = finite_min_max(prepared.iter().flat_map(|p| p.points().map(|(x, _)| x)));
    let ys = finite_min_max(prepared.iter().flat_map(|p| p.points().map(|(_, y)| y)));
    let (Some(xs), Some(ys)) = (xs, ys) else {
        return Err(no_data(path, "no finite points"));
    };
    let xr = padded_range(path, xs, None, false)?;
    let yr = padded_range(path, ys, spec.y_range, true)?;
    Ok((xr, yr))
}

fn draw_panel(
    area: &Area<'_>,
    spec: &CurveSpec,
    prepared: &[Prepared],
    ((x0, x1), (y0, y1)): Ranges,
) -> Result<(), DrawErr> {
    let (w, h) = area.dim_in_pixel();
    let entries: Vec<_> =
        prepared.iter().enumerate().map(|(i, p)| (p.label(), series_color(i), LegendMark::Line)).collect();
    let lh = legend_height(&entries, w.saturating_sub(24));
    let (chart_area, legend_area) = area.split_vertically(h.saturating_sub(lh + 6));

    let mut builder = ChartBuilder::on(&chart_area);
    builder
        .margin_top(10)
        .margin_left(10)
        .margin_right(28)
        .margin_bottom(4)
        .x_label_area_size(52)
        .y_label_area_size(76);
    if !spec.title.trim().is_empty() {
        builder.caption(&spec.title, bold(20.0).color(&INK));
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;

    // Integer x values (epochs) get integer ticks when there are few of them.
    let integer_x = prepared.iter().flat_map(|p| p.points()).all(|(x, _)| x.fract() == 0.0);
    let x_ticks = if integer_x && x1 - x0 <= 10.0 { (x1 - x0) as usize + 1 } else { 8 };
    chart
        .configure_mesh()
        .x_desc(spec.x_label.as_str())
        .y_desc(spec.y_label.as_str())
        .axis_desc_style(font(16.0).color(&INK))
        .label_style(font(13.0).color(&INK))
        .x_labels(x_ticks.max(2))
        .y_labels(8)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .bold_line_style(FAINT)
        .light_line_style(RGBColor(245, 245, 245))
        .axis_style(RGBColor(120, 120, 120))
        .draw()?;

    for (i, p) in prepared.iter().enumerate() {
        let color = series_color(i);
        for seg in &p.segments {
            if seg.len() > 1 {
                chart.draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))?;
            }
            if seg.len() == 1 || p.finite <= 40 {
                chart.draw_series(seg.iter().map(|&pt| Circle::new(pt, 3, color.filled())))?;
            }
        }
    }
    let legend_area = legend_area.margin(0, 0, 12, 12);
    draw_legend(&legend_area, &entries)?;
    Ok(())
}
