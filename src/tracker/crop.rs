//! The crop exactly as OSTrack/pytracking cut it (`sample_target` in
//! `lib/train/data/processing_utils.py`): a square of side `ceil(sqrt(w·h)·factor)` centred on
//! the box, origin rounded half-to-even, zero padding with the right/bottom off-by-one, then
//! OpenCV's `resize` with `INTER_LINEAR`, reproduced in fixed point so the pixels match.

use anyhow::{Result, bail};

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

/// Result of [`sample_target`].
#[derive(Debug, Clone, PartialEq)]
pub struct CropResult {
    /// The resized crop, `output_size`².
    pub patch: Image,
    /// `output_size / crop_size`.
    pub resize_factor: f64,
    /// Side of the square cut from the image (before resizing).
    pub crop_size: f64,
}

/// Python's `round`: half to even.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 { 2.0 * (x / 2.0).round() } else { r }
}

/// Cuts a square around `bbox` = [x, y, w, h] of side `ceil(sqrt(w·h)·factor)`, pads with zeros
/// where it leaves the image and resizes it to `output_size`.
pub fn sample_target(im: &Image, bbox: [f64; 4], factor: f64, output_size: usize) -> Result<CropResult> {
    let [x, y, w, h] = bbox;
    if !(w.is_finite() && h.is_finite() && x.is_finite() && y.is_finite()) {
        bail!("box {bbox:?} is not finite");
    }
    let crop_sz = ((w * h).sqrt() * factor).ceil();
    // Negated so that a NaN size fails too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(crop_sz >= 1.0) {
        bail!("box {bbox:?} is too small to crop (width and height must be positive)");
    }
    let x1 = round_half_even(x + 0.5 * w - crop_sz * 0.5);
    let x2 = x1 + crop_sz;
    let y1 = round_half_even(y + 0.5 * h - crop_sz * 0.5);
    let y2 = y1 + crop_sz;
    let (iw, ih) = (im.width as f64, im.height as f64);
    let x1_pad = (-x1).max(0.0);
    let y1_pad = (-y1).max(0.0);
    // The +1 is pytracking's off-by-one: a crop reaching the right/bottom edge loses the last
    // real column/row to padding. Kept for bit-exactness with the reference.
    let x2_pad = (x2 - iw + 1.0).max(0.0);
    let y2_pad = (y2 - ih + 1.0).max(0.0);
    let side = crop_sz as usize;
    let c = im.channels;
    let mut padded = Image::zeros(side, side, c);
    // Source rows/cols [y1+y1_pad, y2-y2_pad) land at [y1_pad, ...) of the padded square.
    let (sx0, sx1) = ((x1 + x1_pad) as i64, (x2 - x2_pad) as i64);
    let (sy0, sy1) = ((y1 + y1_pad) as i64, (y2 - y2_pad) as i64);
    if sx1 > sx0 && sy1 > sy0 {
        let row_len = (sx1 - sx0) as usize * c;
        for sy in sy0..sy1 {
            let dy = (sy - y1 as i64) as usize;
            let dx = (sx0 - x1 as i64) as usize;
            let src = (sy as usize * im.width + sx0 as usize) * c;
            let dst = (dy * side + dx) * c;
            padded.data[dst..dst + row_len].copy_from_slice(&im.data[src..src + row_len]);
        }
    }
    let patch = resize_linear(&padded, output_size, output_size);
    Ok(CropResult { patch, resize_factor: output_size as f64 / crop_sz, crop_size: crop_sz })
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

/// ImageNet mean and standard deviation, RGB.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// See [`MEAN`].
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// HWC uint8 → CHW float `(v/255 − mean)/std`, per 3-channel group (RGB, then the auxiliary
/// modality for 6-channel input).
pub fn normalize(im: &Image) -> Vec<f32> {
    planes(im, |v, m, s| (v as f32 / 255.0 - m) / s)
}

/// [`normalize`] in float64: `(v / 255 − mean) / std`, as upstream's Preprocessor computes it
/// when its `.float()` is made `.double()` (the golden float64 run). Its mean and std tensors are
/// float32 constants widened to float64, so these are too.
pub fn normalize_f64(im: &Image) -> Vec<f64> {
    planes(im, |v, m, s| (v as f64 / 255.0 - m as f64) / s as f64)
}

/// Interleaved H×W×C pixels to C planes of H×W values, `value(pixel, mean, std)` each with
/// its channel's ImageNet mean and std (channels 3..6, ViPT's auxiliary image, reuse RGB's).
fn planes<T: Copy + Default>(im: &Image, value: impl Fn(u8, f32, f32) -> T) -> Vec<T> {
    let (n, c) = (im.width * im.height, im.channels);
    let mut out = vec![T::default(); n * c];
    for k in 0..c {
        let (m, s) = (MEAN[k % 3], STD[k % 3]);
        let plane = &mut out[k * n..(k + 1) * n];
        for (i, v) in plane.iter_mut().enumerate() {
            *v = value(im.data[i * c + k], m, s);
        }
    }
    out
}
