//! The 8-bit image every stage passes around, and OpenCV's linear resize of it, exact to the
//! pixel (the crop, the contact sheets and the live view all resize through it).
//!
//! Sizes that come from input (a decoder's header, a camera's parameters) are checked against
//! [`MAX_IMAGE_SIDE`] and [`MAX_IMAGE_PIXELS`] before anything is allocated for them
//! ([`check_image_size`]), and the crop resizes through a [`Window`] onto the image rather than
//! a copy of its padded square, so no input can make either allocate more than its output.

use anyhow::{Result, bail};

/// The largest frame side accepted from a decoder or a camera, in pixels (2^15 = 32768): no
/// tracking benchmark or camera comes close, and it keeps every product of sides far from
/// overflow.
pub const MAX_IMAGE_SIDE: usize = 1 << 15;

/// The most pixels a frame may have (2^27 ≈ 134 M, 16384×8192): 0.4 GB as RGB, 0.8 GB as
/// RGB+X. A header that claims more is refused before its pixels are allocated.
pub(crate) const MAX_IMAGE_PIXELS: usize = 1 << 27;

/// Checks a frame size from input against [`MAX_IMAGE_SIDE`] and [`MAX_IMAGE_PIXELS`], and that
/// it has pixels at all. The error names the size and the cap; callers add the file or URL.
pub fn check_image_size(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        bail!("the image is {width}×{height}: it has no pixels");
    }
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        bail!("the image is {width}×{height}, larger than the cap of {MAX_IMAGE_SIDE} px a side");
    }
    // Both sides are at most 2^15 here, so the product cannot overflow.
    if width * height > MAX_IMAGE_PIXELS {
        bail!("the image is {width}×{height} = {} pixels, more than the cap of {MAX_IMAGE_PIXELS}", width * height);
    }
    Ok(())
}

/// An 8-bit image, row-major H×W×C.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Channels (3 RGB, 6 RGB+X).
    pub channels: usize,
    /// H·W·C bytes.
    pub data: Vec<u8>,
}

impl Image {
    /// A black image. Panics, naming the size, when W·H·C overflows `usize`; sizes that come
    /// from input go through [`check_image_size`] (or [`Image::try_zeros`]) first.
    pub fn zeros(width: usize, height: usize, channels: usize) -> Self {
        let n = width
            .checked_mul(height)
            .and_then(|n| n.checked_mul(channels))
            .unwrap_or_else(|| panic!("a {width}×{height}×{channels} image does not fit in memory"));
        Self { width, height, channels, data: vec![0; n] }
    }

    /// A black image of a size that came from input: refused (naming it and the cap) beyond
    /// [`check_image_size`]'s caps or with more than 6 channels, instead of an allocation that
    /// aborts the process.
    pub fn try_zeros(width: usize, height: usize, channels: usize) -> Result<Self> {
        check_image_size(width, height)?;
        if channels == 0 || channels > 6 {
            bail!("an image with {channels} channels: expected 1 to 6");
        }
        Ok(Self::zeros(width, height, channels))
    }
}

/// Splits an H×W×6 image into its RGB and auxiliary halves (for display).
pub(crate) fn split_rgbx(im: &Image) -> (Image, Image) {
    let mut a = Vec::with_capacity(im.width * im.height * 3);
    let mut b = Vec::with_capacity(im.width * im.height * 3);
    for px in im.data.chunks_exact(im.channels) {
        a.extend_from_slice(&px[..3]);
        b.extend_from_slice(&px[3..6]);
    }
    (Image { width: im.width, height: im.height, channels: 3, data: a }, Image { width: im.width, height: im.height, channels: 3, data: b })
}

/// A `width`×`height` picture seen through a window onto an image, zero wherever it does not
/// show the image: window pixel (u, v) is image pixel (u + `x0`, v + `y0`) when that pixel lies
/// in the shown columns and rows, and 0 otherwise.
///
/// It is the crop's zero-padded square without the square: [`resize_window`] reads the pixels
/// it needs through the window, so a crop costs its output size whatever the size of the square
/// (a huge box used to allocate the square first: 10.8 GB for a 30000-px init box).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// Image column of the window's left edge (negative: the window starts left of the image).
    pub(crate) x0: i64,
    /// Image row of the window's top edge (negative: the window starts above the image).
    pub(crate) y0: i64,
    /// Window width.
    pub width: usize,
    /// Window height.
    pub height: usize,
    /// Image columns `[begin, end)` the window shows; the rest is padding. Clipped to the image.
    pub(crate) cols: (i64, i64),
    /// Image rows `[begin, end)` the window shows; the rest is padding. Clipped to the image.
    pub rows: (i64, i64),
}

impl Window {
    /// The whole of `im`, as it is.
    pub(crate) fn whole(im: &Image) -> Self {
        let (w, h) = (im.width as i64, im.height as i64);
        Self { x0: 0, y0: 0, width: im.width, height: im.height, cols: (0, w), rows: (0, h) }
    }

    /// The window with its shown columns and rows clipped to `im`, so that every index it
    /// yields is inside the image whatever the caller put in it.
    fn clipped_to(&self, im: &Image) -> Self {
        let clip = |(a, b): (i64, i64), n: usize| (a.max(0), b.min(n as i64));
        Self { cols: clip(self.cols, im.width), rows: clip(self.rows, im.height), ..*self }
    }

    /// The image column under window column `u`, or `None` where the window shows padding.
    fn col(&self, u: usize) -> Option<usize> {
        let x = (u as i64).saturating_add(self.x0);
        (x >= self.cols.0 && x < self.cols.1).then_some(x as usize)
    }

    /// The image row under window row `v`, or `None` where the window shows padding.
    fn row(&self, v: usize) -> Option<usize> {
        let y = (v as i64).saturating_add(self.y0);
        (y >= self.rows.0 && y < self.rows.1).then_some(y as usize)
    }
}

const COEF_BITS: i32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// Per-output-coordinate source index and fixed-point weights, as OpenCV computes them.
///
/// OpenCV clamps the source coordinate only horizontally (`clamp`); vertically it keeps the
/// unclamped index and weights and clips the row indices instead, so the first and last output
/// rows blend a row with itself.
fn linear_taps(src: usize, dst: usize, clamp: bool) -> Vec<(i64, i16, i16)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let mut f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            f -= s as f32;
            if clamp && s < 0 {
                f = 0.0;
                s = 0;
            }
            if clamp && s >= src as i64 - 1 {
                f = 0.0;
                s = src as i64 - 1;
            }
            let a0 = ((1.0 - f) * COEF_SCALE).round_ties_even() as i16;
            let a1 = (f * COEF_SCALE).round_ties_even() as i16;
            (s, a0, a1)
        })
        .collect()
}

/// OpenCV `cv::resize(src, (w, h), INTER_LINEAR)` for 8-bit images, bit for bit: fixed-point
/// horizontal pass into 32-bit rows, then the vertical pass with the rounding of OpenCV's SIMD
/// kernel (`VResizeLinearVec_32s8u`), which opencv-python 4.11 applies to every pixel; an
/// exact 2× downscale goes through OpenCV's area path, as OpenCV itself does. Checked pixel for
/// pixel against `cv2.resize` by the golden tests.
pub fn resize_linear(src: &Image, out_w: usize, out_h: usize) -> Image {
    resize_window(src, &Window::whole(src), out_w, out_h)
}

/// [`resize_linear`] of the picture `win` shows of `src` (zero where it shows no image), read
/// through the window: the same pixels as resizing that picture once materialised, for the
/// memory of the output alone. The work is proportional to the output too: one horizontal
/// pass per output row's two source rows, whatever the window's size.
///
/// An empty window or output gives a black (or empty) image rather than indexing out of range.
pub(crate) fn resize_window(src: &Image, win: &Window, out_w: usize, out_h: usize) -> Image {
    let c = src.channels;
    // Far beyond any crop (sample_target caps its side at 2^22): the f64 and i64 arithmetic of
    // the taps stays exact below this.
    assert!(win.width <= 1 << 40 && win.height <= 1 << 40, "a {}×{} resize window", win.width, win.height);
    let win = win.clipped_to(src);
    if win.width == 0 || win.height == 0 || out_w == 0 || out_h == 0 {
        return Image::zeros(out_w, out_h, c);
    }
    if win.width == out_w && win.height == out_h {
        return materialize(src, &win);
    }
    if win.width == 2 * out_w && win.height == 2 * out_h {
        return resize_area_2x(src, &win, out_w, out_h);
    }
    // Per output column: the image byte offsets of its two source pixels and their weights,
    // worked out once per resize rather than once per row. A tap on padding (or the second tap
    // past the window's right edge, where OpenCV uses the first alone) reads pixel 0 with
    // weight 0: the same zero, without a branch in the loop over pixels.
    let tap = |u: Option<usize>, a: i16| u.map_or((0, 0), |x| (x * c, a as i32));
    let taps: Vec<(usize, i32, usize, i32)> = linear_taps(win.width, out_w, true)
        .into_iter()
        .map(|(sx, a0, a1)| {
            let sx = sx as usize;
            let (i0, a0) = tap(win.col(sx), a0);
            let (i1, a1) = tap(if sx + 1 < win.width { win.col(sx + 1) } else { None }, a1);
            (i0, a0, i1, a1)
        })
        .collect();
    let yt = linear_taps(win.height, out_h, false);
    let row_w = out_w * c;
    let src_row_len = src.width * c;
    // Whether the window shows any column of the image (if not, every row is padding).
    let shows_cols = win.cols.0 < win.cols.1;
    // Horizontal pass for one window row; a row of padding is zeros.
    let hrow = |v: usize, out: &mut Vec<i32>| {
        out.clear();
        let Some(y) = win.row(v).filter(|_| shows_cols) else {
            out.resize(row_w, 0);
            return;
        };
        let row = &src.data[y * src_row_len..(y + 1) * src_row_len];
        for &(i0, a0, i1, a1) in &taps {
            for k in 0..c {
                out.push(row[i0 + k] as i32 * a0 + row[i1 + k] as i32 * a1);
            }
        }
    };
    let mut dst = Image::zeros(out_w, out_h, c);
    // Output rows use source rows (sy, sy + 1) with sy non-decreasing: keep the last two.
    let (mut a, mut b) = ((usize::MAX, Vec::with_capacity(row_w)), (usize::MAX, Vec::with_capacity(row_w)));
    let clip = |y: i64| y.clamp(0, win.height as i64 - 1) as usize;
    for (dy, &(sy, b0, b1)) in yt.iter().enumerate() {
        let (sy, sy1) = (clip(sy), clip(sy + 1));
        if a.0 != sy {
            if b.0 == sy {
                std::mem::swap(&mut a, &mut b);
            } else {
                hrow(sy, &mut a.1);
                a.0 = sy;
            }
        }
        if b.0 != sy1 {
            hrow(sy1, &mut b.1);
            b.0 = sy1;
        }
        vresize_row(&a.1, &b.1, b0, b1, &mut dst.data[dy * row_w..(dy + 1) * row_w]);
    }
    dst
}

/// The picture a window shows, as an image of the window's size (the identity resize).
fn materialize(src: &Image, win: &Window) -> Image {
    let c = src.channels;
    let mut dst = Image::zeros(win.width, win.height, c);
    // The shown columns form one run of the window's columns: copy it row by row.
    let (u0, u1) = (win.cols.0.saturating_sub(win.x0).max(0), win.cols.1.saturating_sub(win.x0).min(win.width as i64));
    if u1 <= u0 {
        return dst;
    }
    let (u0, u1) = (u0 as usize, u1 as usize);
    let x = win.col(u0).expect("shown column");
    for v in 0..win.height {
        if let Some(y) = win.row(v) {
            let src_at = (y * src.width + x) * c;
            let dst_at = (v * win.width + u0) * c;
            let n = (u1 - u0) * c;
            dst.data[dst_at..dst_at + n].copy_from_slice(&src.data[src_at..src_at + n]);
        }
    }
    dst
}

/// OpenCV's vertical linear pass (`VResizeLinearVec_32s8u`): `v_pack(S >> 4)` saturates to
/// i16, `v_mul_hi` keeps the high 16 bits of each product, the two are added with i16
/// saturation, and `v_rshr_pack_u<2>` rounds, shifts and saturates to u8.
fn vresize_row(s0: &[i32], s1: &[i32], b0: i16, b1: i16, out: &mut [u8]) {
    let sat16 = |v: i32| v.clamp(i16::MIN as i32, i16::MAX as i32);
    for (x, o) in out.iter_mut().enumerate() {
        let t0 = (sat16(s0[x] >> 4) * b0 as i32) >> 16;
        let t1 = (sat16(s1[x] >> 4) * b1 as i32) >> 16;
        *o = ((sat16(t0 + t1) + 2) >> 2).clamp(0, 255) as u8;
    }
}

/// OpenCV's `resizeAreaFast` for an exact 2× downscale (the window is 2·`w` × 2·`h`): the
/// rounded mean of each 2×2 block.
fn resize_area_2x(src: &Image, win: &Window, w: usize, h: usize) -> Image {
    let c = src.channels;
    let mut dst = Image::zeros(w, h, c);
    let at = |u: usize, v: usize, k: usize| match (win.col(u), win.row(v)) {
        (Some(x), Some(y)) => src.data[(y * src.width + x) * c + k] as u32,
        _ => 0,
    };
    for y in 0..h {
        for x in 0..w {
            for k in 0..c {
                let s = at(2 * x, 2 * y, k) + at(2 * x + 1, 2 * y, k) + at(2 * x, 2 * y + 1, k) + at(2 * x + 1, 2 * y + 1, k);
                dst.data[(y * w + x) * c + k] = ((s + 2) >> 2) as u8;
            }
        }
    }
    dst
}

/// Test images shared by the unit tests of the modules that crop and resize.
#[cfg(test)]
pub(crate) mod test_image {
    use super::Image;

    /// A `w`×`h` RGB image whose every pixel differs from its neighbours.
    pub(crate) fn ramp(w: usize, h: usize) -> Image {
        let mut im = Image::zeros(w, h, 3);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    im.data[(y * w + x) * 3 + c] = ((x * 7 + y * 13 + c * 50) % 256) as u8;
                }
            }
        }
        im
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_image::ramp;

    #[test]
    fn resize_identity_and_exact_halving() {
        let im = ramp(16, 16);
        assert_eq!(resize_linear(&im, 16, 16), im);
        let half = resize_linear(&im, 8, 8);
        let p = |x: usize, y: usize| im.data[(y * 16 + x) * 3] as u32;
        assert_eq!(half.data[0] as u32, (p(0, 0) + p(1, 0) + p(0, 1) + p(1, 1) + 2) >> 2);
    }
}
