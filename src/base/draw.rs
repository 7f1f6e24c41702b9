//! Drawing on RGB images for people to look at: boxes, a small bitmap font, thumbnails and
//! contact sheets.

use crate::base::image::Image;
use crate::base::image::resize_linear;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Box colour for tracked boxes.
pub const GREEN: Rgb = [40, 230, 60];
/// Colour for ground truth.
pub const YELLOW: Rgb = [250, 220, 40];
/// Text colour.
pub const WHITE: Rgb = [255, 255, 255];
/// Warning colour ("lost").
pub const RED: Rgb = [240, 40, 40];

fn put(im: &mut Image, x: i64, y: i64, c: Rgb) {
    if x >= 0 && y >= 0 && (x as usize) < im.width && (y as usize) < im.height {
        let i = (y as usize * im.width + x as usize) * im.channels;
        im.data[i..i + 3].copy_from_slice(&c);
    }
}

/// Fills a rectangle (clipped to the image).
pub fn fill_rect(im: &mut Image, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
    for y in y0.max(0)..y1.min(im.height as i64) {
        for x in x0.max(0)..x1.min(im.width as i64) {
            put(im, x, y, c);
        }
    }
}

/// Draws the outline of `[x, y, w, h]` with the given line thickness.
pub fn draw_box(im: &mut Image, b: [f64; 4], c: Rgb, thickness: i64) {
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

/// 5×7 glyphs, one row per byte (low 5 bits, leftmost pixel = bit 4).
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [31, 2, 4, 2, 1, 17, 14],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        'A' => [14, 17, 17, 31, 17, 17, 17],
        'B' => [30, 17, 17, 30, 17, 17, 30],
        'C' => [14, 17, 16, 16, 16, 17, 14],
        'D' => [28, 18, 17, 17, 17, 18, 28],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'G' => [14, 17, 16, 23, 17, 17, 15],
        'H' => [17, 17, 17, 31, 17, 17, 17],
        'I' => [14, 4, 4, 4, 4, 4, 14],
        'J' => [7, 2, 2, 2, 2, 18, 12],
        'K' => [17, 18, 20, 24, 20, 18, 17],
        'L' => [16, 16, 16, 16, 16, 16, 31],
        'M' => [17, 27, 21, 21, 17, 17, 17],
        'N' => [17, 17, 25, 21, 19, 17, 17],
        'O' => [14, 17, 17, 17, 17, 17, 14],
        'P' => [30, 17, 17, 30, 16, 16, 16],
        'Q' => [14, 17, 17, 17, 21, 18, 13],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'S' => [15, 16, 16, 14, 1, 1, 30],
        'T' => [31, 4, 4, 4, 4, 4, 4],
        'U' => [17, 17, 17, 17, 17, 17, 14],
        'V' => [17, 17, 17, 17, 17, 10, 4],
        'W' => [17, 17, 17, 21, 21, 21, 10],
        'X' => [17, 17, 10, 4, 10, 17, 17],
        'Y' => [17, 17, 17, 10, 4, 4, 4],
        'Z' => [31, 1, 2, 4, 8, 16, 31],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 31],
        '/' => [1, 1, 2, 4, 8, 16, 16],
        '#' => [10, 10, 31, 10, 31, 10, 10],
        '%' => [24, 25, 2, 4, 8, 19, 3],
        '=' => [0, 0, 31, 0, 31, 0, 0],
        '[' => [14, 8, 8, 8, 8, 8, 14],
        ']' => [14, 2, 2, 2, 2, 2, 14],
        '(' => [2, 4, 8, 8, 8, 4, 2],
        ')' => [8, 4, 2, 2, 2, 4, 8],
        ',' => [0, 0, 0, 0, 12, 4, 8],
        '+' => [0, 4, 4, 31, 4, 4, 0],
        _ => [0; 7],
    }
}

/// Draws text with its top-left at (x, y), each font pixel `scale`×`scale`, on a dark band so
/// it reads over any picture.
pub fn draw_text(im: &mut Image, x: i64, y: i64, text: &str, c: Rgb, scale: i64) {
    let n = text.chars().count() as i64;
    fill_rect(im, x - scale, y - scale, x + n * 6 * scale, y + 8 * scale, [0, 0, 0]);
    draw_glyphs(im, x, y, text, c, scale);
}

/// Draws text with no background (for plots on white).
pub fn draw_glyphs(im: &mut Image, x: i64, y: i64, text: &str, c: Rgb, scale: i64) {
    for (i, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (1 << (4 - col)) != 0 {
                    let (px, py) = (x + (i as i64 * 6 + col) * scale, y + row as i64 * scale);
                    fill_rect(im, px, py, px + scale, py + scale, c);
                }
            }
        }
    }
}

/// A frame with its box, frame index and score drawn on it. An RGB+X frame (6 channels) is
/// shown as its two modalities side by side, the box drawn on both.
pub fn annotate(im: &Image, index: u32, bbox: [f64; 4], score: f64, gt: Option<[f64; 4]>) -> Image {
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
    draw_text(&mut out, 4 * t, 4 * t, &format!("#{index} {score:.2}"), WHITE, t + 1);
    out
}

/// Two 3-channel images of the same height, left and right.
pub fn hstack(a: &Image, b: &Image) -> Image {
    let mut data = Vec::with_capacity(a.data.len() + b.data.len());
    for y in 0..a.height.min(b.height) {
        data.extend_from_slice(&a.data[y * a.width * 3..(y + 1) * a.width * 3]);
        data.extend_from_slice(&b.data[y * b.width * 3..(y + 1) * b.width * 3]);
    }
    Image { width: a.width + b.width, height: a.height.min(b.height), channels: 3, data }
}

/// Shrinks an image to `width` pixels wide, keeping its aspect.
pub fn thumbnail(im: &Image, width: usize) -> Image {
    let h = ((im.height * width) as f64 / im.width as f64).round().max(1.0) as usize;
    resize_linear(im, width, h)
}

/// Lays thumbnails out in a grid, `cols` wide, on a dark background.
pub fn contact_sheet(thumbs: &[Image], cols: usize) -> Image {
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
