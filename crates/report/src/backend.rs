//! A `BitMapBackend` wrapper that rasterises text itself with `ab_glyph`
//! from the embedded DejaVu fonts.
//!
//! plotters 0.3.7's own `ab_glyph` text path ignores each glyph's left side
//! bearing and truncates positions to whole pixels per glyph, which makes
//! letter spacing visibly uneven ("MORE-en crypted"). Everything but text is
//! delegated to the bitmap backend.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use plotters::prelude::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind, FontStyle,
};

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
    oblique: FontRef<'static>,
}

/// The embedded fonts, or `None` if they failed to parse (then plotters'
/// own text rendering is used as a fallback).
fn fonts() -> Option<&'static Fonts> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Some(Fonts {
                regular: FontRef::try_from_slice(dejavu::sans::regular()).ok()?,
                bold: FontRef::try_from_slice(dejavu::sans::bold()).ok()?,
                oblique: FontRef::try_from_slice(dejavu::sans::oblique()).ok()?,
            })
        })
        .as_ref()
}

fn pick(fonts: &Fonts, style: FontStyle) -> &FontRef<'static> {
    match style {
        FontStyle::Bold => &fonts.bold,
        FontStyle::Italic | FontStyle::Oblique => &fonts.oblique,
        FontStyle::Normal => &fonts.regular,
    }
}

/// Advance width of `text` (with kerning) and the layout box height, using
/// the same box height convention as plotters (`size / 1.24`).
fn measure(font: &FontRef<'static>, size: f64, text: &str) -> (f32, f32) {
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let mut width = 0.0;
    let mut prev: Option<GlyphId> = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        prev = Some(id);
    }
    (width, (size / 1.24) as f32)
}

/// Text size `(width, height)` in pixels as drawn by [`Canvas`].
pub(crate) fn text_extent(text: &str, size: f64, style: FontStyle) -> Option<(u32, u32)> {
    let fonts = fonts()?;
    let (w, h) = measure(pick(fonts, style), size, text);
    Some((w.ceil() as u32, h.ceil() as u32))
}

/// Bitmap backend with correct text rendering.
pub(crate) struct Canvas<'a>(pub BitMapBackend<'a>);

type Err<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for Canvas<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), Err<'a>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), Err<'a>> {
        self.0.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Err<'a>> {
        self.0.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Result<(), Err<'a>> {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Err<'a>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Err<'a>> {
        self.0.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Err<'a>> {
        self.0.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Err<'a>> {
        self.0.fill_polygon(vert, style)
    }
    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Result<(), Err<'a>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(&self, text: &str, style: &TStyle) -> Result<(u32, u32), Err<'a>> {
        match text_extent(text, style.size(), style.style()) {
            Some(size) => Ok(size),
            None => self.0.estimate_text_size(text, style),
        }
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), Err<'a>> {
        let Some(fonts) = fonts() else {
            return self.0.draw_text(text, style, pos);
        };
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let font = pick(fonts, style.style());
        let size = style.size();
        let scale = PxScale::from(size as f32);
        let scaled = font.as_scaled(scale);
        let (width, box_h) = measure(font, size, text);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Right => -width,
            HPos::Center => -width / 2.0,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -box_h / 2.0,
            VPos::Bottom => -box_h,
        };
        // Put the baseline so that capital letters are centred in the box.
        let cap = scaled.outline_glyph(scaled.scaled_glyph('H')).map_or(0.7 * box_h, |o| -o.px_bounds().min.y);
        let baseline = (box_h + cap) / 2.0;
        let trans = style.transform();
        let (w, h) = self.0.get_size();
        let mut result = Ok(());
        let mut caret = 0.0f32;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                caret += scaled.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(caret + dx, baseline + dy));
            if let Some(outline) = scaled.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|x, y, coverage| {
                    if result.is_err() || coverage <= 0.0 {
                        return;
                    }
                    let (lx, ly) = (b.min.x as i32 + x as i32, b.min.y as i32 + y as i32);
                    let (tx, ty) = trans.transform(lx, ly);
                    let (px, py) = (pos.0 + tx, pos.1 + ty);
                    if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                        let c = BackendColor { alpha: color.alpha * f64::from(coverage.min(1.0)), rgb: color.rgb };
                        result = self.0.draw_pixel((px, py), c);
                    }
                });
            }
            caret += scaled.h_advance(id);
            prev = Some(id);
        }
        result
    }
}
