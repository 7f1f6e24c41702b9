//! The crop exactly as OSTrack/pytracking cut it (`sample_target` in
//! `lib/train/data/processing_utils.py`): a square of side `ceil(sqrt(w·h)·factor)` centred on
//! the box, origin rounded half-to-even, zero padding with the right/bottom off-by-one, then
//! OpenCV's `resize` with `INTER_LINEAR`, reproduced in fixed point so the pixels match.

use anyhow::{Result, bail};

use crate::base::image::{Image, resize_linear};

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

/// Where a crop was cut, so the head can map its box back to the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropGeometry {
    /// The box the crop was centred on, `[x, y, w, h]` in image pixels.
    pub prev_box: [f64; 4],
    /// Side of the square cut from the image, in image pixels.
    pub crop_size: f64,
    /// Output size / crop size.
    pub resize_factor: f64,
    /// Image width.
    pub image_width: u32,
    /// Image height.
    pub image_height: u32,
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
