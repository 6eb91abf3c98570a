//! 8-bit grayscale PNG encoding and contact sheets.

use crate::AngioError;
use image::{codecs::png::PngEncoder, ExtendedColorType, ImageEncoder};

/// Encodes `width` x `height` values in [0, 1] (row-major) as an 8-bit grayscale PNG.
/// The output is a pure function of the input bytes (fixed compression settings).
pub fn encode_png(pixels: &[f32], width: usize, height: usize) -> Result<Vec<u8>, AngioError> {
    let bytes: Vec<u8> = pixels.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(&bytes, width as u32, height as u32, ExtendedColorType::L8)?;
    Ok(out)
}

/// Tiles square `size` x `size` images into a grid `cols` wide with `gap` white pixels between
/// them. Returns `(pixels, width, height)`.
pub fn contact_sheet(images: &[&[f32]], size: usize, cols: usize, gap: usize) -> (Vec<f32>, usize, usize) {
    let cols = cols.clamp(1, images.len().max(1));
    let rows = images.len().div_ceil(cols).max(1);
    let (w, h) = (cols * size + (cols + 1) * gap, rows * size + (rows + 1) * gap);
    let mut sheet = vec![1.0f32; w * h];
    for (i, img) in images.iter().enumerate() {
        let (x0, y0) = (gap + (i % cols) * (size + gap), gap + (i / cols) * (size + gap));
        for y in 0..size {
            sheet[(y0 + y) * w + x0..(y0 + y) * w + x0 + size].copy_from_slice(&img[y * size..(y + 1) * size]);
        }
    }
    (sheet, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trips_quantised_values() {
        let px: Vec<f32> = (0..16).map(|i| i as f32 / 15.0).collect();
        let png = encode_png(&px, 4, 4).unwrap();
        let back = image::load_from_memory(&png).unwrap().to_luma8();
        assert_eq!(back.dimensions(), (4, 4));
        assert_eq!(back.as_raw()[15], 255);
        assert_eq!(back.as_raw()[0], 0);
    }

    #[test]
    fn contact_sheet_places_images_in_a_grid() {
        let (a, b, c) = (vec![0.0f32; 4], vec![0.5f32; 4], vec![0.25f32; 4]);
        let (sheet, w, h) = contact_sheet(&[&a, &b, &c], 2, 2, 1);
        assert_eq!((w, h), (7, 7));
        assert_eq!(sheet[w + 1], 0.0); // first image
        assert_eq!(sheet[w + 4], 0.5); // second image, same row
        assert_eq!(sheet[4 * w + 1], 0.25); // third image, second row
        assert_eq!(sheet[4 * w + 4], 1.0); // empty slot stays white
    }
}
