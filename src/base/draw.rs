//! Drawing on RGB images for people to look at: boxes, text (DejaVu Sans through ab_glyph),
//! thumbnails and contact sheets.

use crate::base::image::Image;
use crate::base::image::resize_linear;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Box colour for tracked boxes.
pub(crate) const GREEN: Rgb = [40, 230, 60];
/// Colour for ground truth.
pub(crate) const YELLOW: Rgb = [250, 220, 40];
/// Text colour.
pub(crate) const WHITE: Rgb = [255, 255, 255];

fn put(im: &mut Image, x: i64, y: i64, c: Rgb) {
    if x >= 0 && y >= 0 && (x as usize) < im.width && (y as usize) < im.height {
        let i = (y as usize * im.width + x as usize) * im.channels;
        im.data[i..i + 3].copy_from_slice(&c);
    }
}

/// Fills a rectangle (clipped to the image).
pub(crate) fn fill_rect(im: &mut Image, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
    for y in y0.max(0)..y1.min(im.height as i64) {
        for x in x0.max(0)..x1.min(im.width as i64) {
            put(im, x, y, c);
        }
    }
}

/// Draws the outline of `[x, y, w, h]` with the given line thickness.
pub(crate) fn draw_box(im: &mut Image, b: [f64; 4], c: Rgb, thickness: i64) {
    if b.iter().any(|v| !v.is_finite()) {
        return;
    }
    let (x0, y0) = (b[0].round() as i64, b[1].round() as i64);
    let (x1, y1) = ((b[0] + b[2]).round() as i64, (b[1] + b[3]).round() as i64);
    fill_rect(im, x0, y0, x1, y0 + thickness, c);
    fill_rect(im, x0, y1 - thickness, x1, y1, c);
    fill_rect(im, x0, y0, x0 + thickness, y1, c);
    fill_rect(im, x1 - thickness, y0, x1, y1, c);
}

/// DejaVu Sans (Bitstream Vera licence, `src/base/fonts/LICENSE`), bundled so every machine
/// draws the same text.
pub(crate) const FONT_BYTES: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// The bundled font.
pub(crate) fn font() -> &'static ab_glyph::FontRef<'static> {
    static FONT: std::sync::OnceLock<ab_glyph::FontRef<'static>> = std::sync::OnceLock::new();
    FONT.get_or_init(|| ab_glyph::FontRef::try_from_slice(FONT_BYTES).expect("the bundled font parses"))
}

/// The width in pixels of `text` at `size` pixels.
pub(crate) fn text_width(text: &str, size: f32) -> f32 {
    use ab_glyph::{Font, ScaleFont};
    let f = font().as_scaled(size);
    text.chars().map(|c| f.h_advance(f.glyph_id(c))).sum()
}

/// Draws text (anti-aliased) with its top-left at (x, y), `size` pixels high, on a dark band so
/// it reads over any picture.
pub(crate) fn draw_text(im: &mut Image, x: i64, y: i64, text: &str, c: Rgb, size: f32) {
    let pad = (size / 6.0).ceil() as i64;
    fill_rect(im, x - pad, y - pad, x + text_width(text, size).ceil() as i64 + pad, y + size.ceil() as i64 + pad, [0, 0, 0]);
    draw_glyphs(im, x, y, text, c, size);
}

/// Draws text with no background, blending its coverage into the image.
pub(crate) fn draw_glyphs(im: &mut Image, x: i64, y: i64, text: &str, c: Rgb, size: f32) {
    use ab_glyph::{Font, ScaleFont, point};
    let f = font().as_scaled(size);
    let mut caret = x as f32;
    let baseline = y as f32 + f.ascent();
    for ch in text.chars() {
        let mut g = f.scaled_glyph(ch);
        g.position = point(caret, baseline);
        caret += f.h_advance(g.id);
        let Some(outline) = font().outline_glyph(g) else { continue };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i64 + gx as i64, bounds.min.y as i64 + gy as i64);
            if px >= 0 && py >= 0 && (px as usize) < im.width && (py as usize) < im.height {
                let i = (py as usize * im.width + px as usize) * im.channels;
                for (dst, &src) in im.data[i..i + 3].iter_mut().zip(&c) {
                    let v = *dst as f32 * (1.0 - coverage) + src as f32 * coverage;
                    *dst = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        });
    }
}

/// A frame with its box, frame index and score drawn on it. An RGB+X frame (6 channels) is
/// shown as its two modalities side by side, the box drawn on both.
pub(crate) fn annotate(im: &Image, index: u32, bbox: [f64; 4], score: f64, gt: Option<[f64; 4]>) -> Image {
    if im.channels == 6 {
        let (rgb, aux) = crate::base::image::split_rgbx(im);
        return hstack(&annotate(&rgb, index, bbox, score, gt), &annotate(&aux, index, bbox, score, gt));
    }
    let mut out = Image { width: im.width, height: im.height, channels: 3, data: Vec::with_capacity(im.width * im.height * 3) };
    for px in im.data.chunks(im.channels) {
        out.data.extend_from_slice(&px[..3]);
    }
    let t = ((im.width.min(im.height) / 160).max(1)) as i64;
    if let Some(g) = gt {
        draw_box(&mut out, g, YELLOW, t);
    }
    draw_box(&mut out, bbox, GREEN, t + 1);
    // Frames are numbered from 1 for people, as in every message and result line.
    draw_text(&mut out, 4 * t, 4 * t, &format!("#{} {score:.2}", index + 1), WHITE, 10.0 * (t + 1) as f32);
    out
}

/// Two 3-channel images of the same height, left and right.
pub(crate) fn hstack(a: &Image, b: &Image) -> Image {
    let mut data = Vec::with_capacity(a.data.len() + b.data.len());
    for y in 0..a.height.min(b.height) {
        data.extend_from_slice(&a.data[y * a.width * 3..(y + 1) * a.width * 3]);
        data.extend_from_slice(&b.data[y * b.width * 3..(y + 1) * b.width * 3]);
    }
    Image { width: a.width + b.width, height: a.height.min(b.height), channels: 3, data }
}

/// Shrinks an image to `width` pixels wide, keeping its aspect.
pub(crate) fn thumbnail(im: &Image, width: usize) -> Image {
    let h = ((im.height * width) as f64 / im.width as f64).round().max(1.0) as usize;
    resize_linear(im, width, h)
}

/// Lays thumbnails out in a grid, `cols` wide, on a dark background.
pub(crate) fn contact_sheet(thumbs: &[Image], cols: usize) -> Image {
    let cols = cols.max(1);
    let (tw, th) = (thumbs.iter().map(|t| t.width).max().unwrap_or(1), thumbs.iter().map(|t| t.height).max().unwrap_or(1));
    let rows = thumbs.len().div_ceil(cols).max(1);
    let gap = 4;
    let mut sheet = Image { width: cols * (tw + gap) + gap, height: rows * (th + gap) + gap, channels: 3, data: vec![] };
    sheet.data = vec![24; sheet.width * sheet.height * 3];
    for (i, t) in thumbs.iter().enumerate() {
        let (ox, oy) = (gap + (i % cols) * (tw + gap), gap + (i / cols) * (th + gap));
        for y in 0..t.height {
            let src = &t.data[y * t.width * 3..(y + 1) * t.width * 3];
            let d = ((oy + y) * sheet.width + ox) * 3;
            sheet.data[d..d + src.len()].copy_from_slice(src);
        }
    }
    sheet
}

/// Writes an RGB image as PNG, atomically.
pub fn save_png(im: &Image, path: &std::path::Path) -> anyhow::Result<()> {
    let buf = image::RgbImage::from_raw(im.width as u32, im.height as u32, im.data.clone())
        .ok_or_else(|| anyhow::anyhow!("image buffer has the wrong size"))?;
    let mut bytes = Vec::new();
    buf.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    crate::base::fs::write_atomic(path, &bytes)
}
