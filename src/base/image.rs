//! The 8-bit image every stage passes around, and OpenCV's linear resize of it, exact to the
//! pixel (the crop, the contact sheets and the live view all resize through it).

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
    /// A black image.
    pub fn zeros(width: usize, height: usize, channels: usize) -> Self {
        Self { width, height, channels, data: vec![0; width * height * channels] }
    }
}

/// Splits an H×W×6 image into its RGB and auxiliary halves (for display).
pub fn split_rgbx(im: &Image) -> (Image, Image) {
    let mut a = Vec::with_capacity(im.width * im.height * 3);
    let mut b = Vec::with_capacity(im.width * im.height * 3);
    for px in im.data.chunks_exact(im.channels) {
        a.extend_from_slice(&px[..3]);
        b.extend_from_slice(&px[3..6]);
    }
    (Image { width: im.width, height: im.height, channels: 3, data: a }, Image { width: im.width, height: im.height, channels: 3, data: b })
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
    if src.width == out_w && src.height == out_h {
        return src.clone();
    }
    if src.width == 2 * out_w && src.height == 2 * out_h {
        return resize_area_2x(src);
    }
    let c = src.channels;
    let xt = linear_taps(src.width, out_w, true);
    let yt = linear_taps(src.height, out_h, false);
    let row_w = out_w * c;
    // Horizontal pass for one source row.
    let hrow = |sy: usize, out: &mut Vec<i32>| {
        out.clear();
        let row = &src.data[sy * src.width * c..(sy + 1) * src.width * c];
        for &(sx, a0, a1) in &xt {
            let sx = sx as usize;
            for k in 0..c {
                let p0 = row[sx * c + k] as i32;
                // At the right edge OpenCV uses only the first tap (a1 is 0 there anyway).
                let p1 = if sx + 1 < src.width { row[(sx + 1) * c + k] as i32 } else { 0 };
                out.push(p0 * a0 as i32 + p1 * a1 as i32);
            }
        }
    };
    let mut dst = Image::zeros(out_w, out_h, c);
    // Output rows use source rows (sy, sy + 1) with sy non-decreasing: keep the last two.
    let (mut a, mut b) = ((usize::MAX, Vec::with_capacity(row_w)), (usize::MAX, Vec::with_capacity(row_w)));
    let clip = |y: i64| y.clamp(0, src.height as i64 - 1) as usize;
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

/// OpenCV's `resizeAreaFast` for an exact 2× downscale: the rounded mean of each 2×2 block.
fn resize_area_2x(src: &Image) -> Image {
    let c = src.channels;
    let (w, h) = (src.width / 2, src.height / 2);
    let mut dst = Image::zeros(w, h, c);
    let at = |x: usize, y: usize, k: usize| src.data[(y * src.width + x) * c + k] as u32;
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
