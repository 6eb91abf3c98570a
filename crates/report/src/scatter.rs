//! Scatter plot with a `y = x` diagonal.

use std::path::Path;

use plotters::prelude::*;

use crate::canvas::{
    bold, draw_legend, finite_min_max, font, legend_height, padded_range, render, series_color, short_num, tick_label,
    DrawErr, LegendMark, FAINT, INK,
};
use crate::curves::prepare;
use crate::{CurveSpec, ReportError, Series};

/// Size in pixels `(width, height)` of a [`scatter`] plot.
pub const SCATTER_SIZE: (u32, u32) = (680, 720);

/// Draws each series as a point cloud of `(x, y)` with a dashed `y = x`
/// diagonal, on equal x and y ranges so that agreement shows as points on the
/// diagonal (e.g. x = plaintext output, y = decrypted output of the encrypted
/// model). Each legend entry reports the number of points and the largest
/// `|y - x|`. Writes a [`SCATTER_SIZE`] PNG.
///
/// Points with a NaN or infinite coordinate are skipped and counted in the legend.
///
/// # Errors
/// As [`training_curves`](crate::training_curves).
pub fn scatter(path: impl AsRef<Path>, spec: &CurveSpec, series: &[Series]) -> Result<(u32, u32), ReportError> {
    let path = path.as_ref();
    let prepared = prepare(path, series)?;
    let all = finite_min_max(prepared.iter().flat_map(|p| p.points().flat_map(|(x, y)| [x, y])))
        .ok_or_else(|| crate::canvas::no_data(path, "no finite points"))?;
    let (lo, hi) = padded_range(path, all, spec.y_range, true)?;

    let mut entries = vec![("y = x".to_string(), RGBColor(110, 110, 110), LegendMark::Dashed)];
    for (i, p) in prepared.iter().enumerate() {
        let max_dev = p.points().map(|(x, y)| (y - x).abs()).fold(0.0f64, f64::max);
        let mut label = format!("{} (n = {}", p.name, p.finite);
        if p.finite > 0 {
            label += &format!(", max |y−x| = {}", short_num(max_dev));
        }
        if p.skipped > 0 {
            label += &format!(", {} non-finite skipped", p.skipped);
        }
        label.push(')');
        entries.push((label, series_color(i), LegendMark::Dot));
    }

    let (w, h) = SCATTER_SIZE;
    render(
        path,
        w,
        h,
        |root| {
            let lh = legend_height(&entries, w - 24);
            let (chart_area, legend_area) = root.split_vertically(h - lh - 6);
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
            let mut chart = builder.build_cartesian_2d(lo..hi, lo..hi)?;
            chart
                .configure_mesh()
                .x_desc(spec.x_label.as_str())
                .y_desc(spec.y_label.as_str())
                .axis_desc_style(font(16.0).color(&INK))
                .label_style(font(13.0).color(&INK))
                .x_labels(8)
                .y_labels(8)
                .x_label_formatter(&|v| tick_label(*v))
                .y_label_formatter(&|v| tick_label(*v))
                .bold_line_style(FAINT)
                .light_line_style(RGBColor(245, 245, 245))
                .axis_style(RGBColor(120, 120, 120))
                .draw()?;
            chart.draw_series(DashedLineSeries::new(
                [(lo, lo), (hi, hi)],
                8,
                5,
                RGBColor(110, 110, 110).stroke_width(2),
            ))?;
            for (i, p) in prepared.iter().enumerate() {
                let color = series_color(i).mix(0.6).filled();
                chart.draw_series(p.points().map(|pt| Circle::new(pt, 3, color)))?;
            }
            draw_legend(&legend_area.margin(0, 0, 12, 12), &entries)?;
            Ok::<(), DrawErr>(())
        },
        |_| {},
    )
}
