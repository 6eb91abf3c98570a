//! The report's pictures: what the server sees, and what attacks D and E recover without the key.

use super::data::DataSet;
use super::rows::{NoisePics, Picture};
use super::SecurityReportArgs;
use anyhow::Result;

/// Draws `recovered_*.png` (one per row) and `noise.png`; returns the file names written.
pub(super) fn draw(
    a: &SecurityReportArgs,
    data: &DataSet,
    pictures: &[Picture],
    noise: &NoisePics,
) -> Result<Vec<String>> {
    use moreml_report::{image_grid, GrayImage, ImageRow};
    let (h, w) = (data.h, data.w);
    let px = h * w;
    let mut written = Vec::new();
    for (k, (label, server, e, d)) in pictures.iter().enumerate() {
        let img =
            |v: &[f64], i: usize, cap: &str| GrayImage::new(w, h, v[i * px..(i + 1) * px].to_vec()).with_caption(cap);
        let rows: Vec<ImageRow> = (0..data.n.min(6))
            .map(|i| {
                let cap = if data.synthetic {
                    format!("synthetic #{i}")
                } else {
                    format!("test #{i} (label {})", data.labels[i])
                };
                ImageRow::new(
                    cap,
                    vec![
                        img(&data.images, i, "original").with_range(0.0, 1.0),
                        img(server, i, "server view C[0][0]"),
                        img(e, i, "E shared-eigen").with_range(0.0, 1.0),
                        img(d, i, "D eigen").with_range(0.0, 1.0),
                    ],
                )
            })
            .collect();
        let name = format!("recovered_{}.png", if k == 0 { "empirical_r" } else { "uniform_r" });
        image_grid(
            a.out.join(&name),
            &format!("No key: {label}{}", if data.synthetic { " (synthetic data)" } else { "" }),
            &rows,
        )?;
        written.push(name);
    }
    if !noise.is_empty() {
        let rows: Vec<ImageRow> = noise
            .iter()
            .map(|(sigma, view, honest, e, d)| {
                let g = |v: &[f64], cap: &str| GrayImage::new(w, h, v.to_vec()).with_caption(cap);
                ImageRow::new(
                    format!("relative noise sigma = {sigma:e}"),
                    vec![
                        g(&data.images[..px], "original").with_range(0.0, 1.0),
                        g(view, "server view C[0][0]"),
                        g(honest, "honest decryption").with_range(0.0, 1.0),
                        g(e, "E shared-eigen").with_range(0.0, 1.0),
                        g(d, "D eigen").with_range(0.0, 1.0),
                    ],
                )
            })
            .collect();
        image_grid(
            a.out.join("noise.png"),
            "Noise does not help: attacks vs honest decryption (empirical-r key)",
            &rows,
        )?;
        written.push("noise.png".into());
    }
    Ok(written)
}
