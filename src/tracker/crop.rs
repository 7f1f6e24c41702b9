//! The crop exactly as OSTrack/pytracking cut it (`sample_target` in
//! `lib/train/data/processing_utils.py`): a square of side `ceil(sqrt(w·h)·factor)` centred on
//! the box, origin rounded half-to-even, zero padding with the right/bottom off-by-one, then
//! OpenCV's `resize` with `INTER_LINEAR`, reproduced in fixed point so the pixels match. The
//! padded square is read through a window rather than allocated, so a huge box cannot make a
//! huge allocation.

use anyhow::{Result, bail};

use crate::base::image::{Image, Window, resize_window};

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

/// The largest crop side [`sample_target`] cuts, in pixels (2^22). The crop costs its output
/// size whatever its side (it reads the image through a [`Window`]), so this is no memory
/// bound: it keeps the window's integer arithmetic and the resize's float coordinates exact.
/// The tracker's own boxes stay far below it: an init box is at most 16× the frame's larger
/// side (at most 2^15), and later boxes are clipped to the frame.
pub const MAX_CROP_SIDE: usize = 1 << 22;

/// How far (in pixels) a crop's corner may lie from the image origin (2^31): further, the crop
/// shows nothing of the image and its coordinates would no longer fit the window's integers.
pub const MAX_CROP_OFFSET: f64 = 2147483648.0;

/// The largest output side [`sample_target`] resizes to (the model's 128 or 256, or a
/// training crop's size); anything larger is a mistaken argument, not a crop.
pub const MAX_OUTPUT_SIZE: usize = 4096;

/// Cuts a square around `bbox` = [x, y, w, h] of side `ceil(sqrt(w·h)·factor)`, pads with zeros
/// where it leaves the image and resizes it to `output_size`.
///
/// The square is never allocated: the resize reads the image through a [`Window`] that shows
/// exactly the pixels pytracking copies into its padded square (right/bottom off-by-one
/// included), so the patch is the same, pixel for pixel, for the memory of the output alone.
/// A non-finite box, a side under 1 px or over [`MAX_CROP_SIDE`], or a crop further than
/// [`MAX_CROP_OFFSET`] from the image is an error naming the box and the limit.
pub fn sample_target(im: &Image, bbox: [f64; 4], factor: f64, output_size: usize) -> Result<CropResult> {
    let [x, y, w, h] = bbox;
    if !(w.is_finite() && h.is_finite() && x.is_finite() && y.is_finite()) {
        bail!("box {bbox:?} is not finite");
    }
    if output_size == 0 || output_size > MAX_OUTPUT_SIZE {
        bail!("crop output size {output_size}: expected 1 to {MAX_OUTPUT_SIZE} px");
    }
    let crop_sz = ((w * h).sqrt() * factor).ceil();
    // Negated so that a NaN size (a negative area, a NaN factor) fails too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(crop_sz >= 1.0) {
        bail!("box {bbox:?} is too small to crop (width and height must be positive)");
    }
    if crop_sz > MAX_CROP_SIDE as f64 {
        bail!("box {bbox:?} at factor {factor} needs a crop of {} px a side, more than the cap of {MAX_CROP_SIDE} px", px(crop_sz));
    }
    let x1 = round_half_even(x + 0.5 * w - crop_sz * 0.5);
    let x2 = x1 + crop_sz;
    let y1 = round_half_even(y + 0.5 * h - crop_sz * 0.5);
    let y2 = y1 + crop_sz;
    if x1.abs() > MAX_CROP_OFFSET || y1.abs() > MAX_CROP_OFFSET {
        bail!("box {bbox:?} puts its crop at ({}, {}), more than {MAX_CROP_OFFSET} px from the image", px(x1), px(y1));
    }
    let (iw, ih) = (im.width as f64, im.height as f64);
    let x1_pad = (-x1).max(0.0);
    let y1_pad = (-y1).max(0.0);
    // The +1 is pytracking's off-by-one: a crop reaching the right/bottom edge loses the last
    // real column/row to padding. Kept for bit-exactness with the reference.
    let x2_pad = (x2 - iw + 1.0).max(0.0);
    let y2_pad = (y2 - ih + 1.0).max(0.0);
    // pytracking copies image rows/cols [y1+y1_pad, y2-y2_pad) × [x1+x1_pad, x2-x2_pad) to
    // [y1_pad, ...) × [x1_pad, ...) of a zero square of side crop_sz: square pixel (u, v) is
    // image pixel (u + x1, v + y1) there and zero elsewhere, which is the window below. All
    // values are integers well inside i64 (checked above).
    let side = crop_sz as usize;
    let window = Window {
        x0: x1 as i64,
        y0: y1 as i64,
        width: side,
        height: side,
        cols: ((x1 + x1_pad) as i64, (x2 - x2_pad) as i64),
        rows: ((y1 + y1_pad) as i64, (y2 - y2_pad) as i64),
    };
    let patch = resize_window(im, &window, output_size, output_size);
    Ok(CropResult { patch, resize_factor: output_size as f64 / crop_sz, crop_size: crop_sz })
}

/// A coordinate for a message: plain when it reads well, in exponent form when huge or tiny
/// (Display writes 1e308 with all its 309 digits).
pub(crate) fn px(v: f64) -> String {
    if v == 0.0 || (1e-4..1e12).contains(&v.abs()) || !v.is_finite() { format!("{v}") } else { format!("{v:e}") }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::image::test_image::ramp;

    #[test]
    fn round_is_half_to_even_like_python() {
        assert_eq!([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(round_half_even), [0.0, 2.0, 2.0, -0.0, -2.0, 2.0, 3.0]);
    }

    #[test]
    fn crop_geometry_and_zero_padding() {
        let im = ramp(100, 80);
        // sqrt(20·20)·2 = 40; x1 = round(50 + 10 − 20) = 40.
        let r = sample_target(&im, [50.0, 30.0, 20.0, 20.0], 2.0, 40).unwrap();
        assert_eq!((r.crop_size, r.resize_factor), (40.0, 1.0));
        assert_eq!(r.patch.data[0..3], im.data[(20 * 100 + 40) * 3..(20 * 100 + 40) * 3 + 3], "top-left of the crop is image (40, 20)");
        // A crop past the left edge is zero-padded there.
        let r = sample_target(&im, [0.0, 30.0, 10.0, 10.0], 4.0, 40).unwrap();
        assert_eq!(r.patch.data[(20 * 40) * 3], 0, "left padding is black");
    }

    #[test]
    fn crop_right_edge_off_by_one_is_kept() {
        // A crop ending exactly at the right border loses the last real column to padding, as
        // pytracking's x2_pad = x2 − W + 1 does.
        let im = ramp(50, 50);
        let r = sample_target(&im, [30.0, 15.0, 20.0, 20.0], 1.0, 20).unwrap();
        let last_col: Vec<u8> = (0..20).map(|y| r.patch.data[(y * 20 + 19) * 3]).collect();
        assert!(last_col.iter().all(|&v| v == 0), "the last column is padding: {last_col:?}");
        let prev_col: Vec<u8> = (0..20).map(|y| r.patch.data[(y * 20 + 18) * 3]).collect();
        assert!(prev_col.iter().any(|&v| v != 0));
    }

    #[test]
    fn a_crop_of_a_box_without_area_is_an_error() {
        let im = ramp(50, 50);
        assert!(sample_target(&im, [10.0, 10.0, 0.0, 5.0], 2.0, 32).is_err());
    }

    /// A crop around a huge box costs its output, not the padded square: a 400000-px square is read
    /// through a window onto the 50×50 image, and what is over the caps is an error, not a panic.
    #[test]
    fn a_huge_crop_allocates_only_its_output() {
        let im = ramp(50, 50);
        let started = std::time::Instant::now();
        let r = sample_target(&im, [0.0, 0.0, 1e5, 1e5], 4.0, 32).unwrap();
        assert_eq!((r.crop_size, r.patch.data.len()), (4e5, 32 * 32 * 3));
        assert!(started.elapsed().as_secs_f64() < 1.0, "the crop's work follows its output size");
        let e = format!("{:#}", sample_target(&im, [0.0, 0.0, 1e308, 1e308], 2.0, 32).unwrap_err());
        assert!(e.contains(&MAX_CROP_SIDE.to_string()), "{e}");
        assert!(sample_target(&im, [1e300, 0.0, 10.0, 10.0], 2.0, 32).is_err());
        assert!(sample_target(&im, [0.0, 0.0, 10.0, 10.0], f64::NAN, 32).is_err());
        assert!(sample_target(&im, [0.0, 0.0, 10.0, 10.0], 2.0, 0).is_err());
        // A crop wholly off the image is padding, as before.
        let r = sample_target(&im, [5000.0, 5000.0, 10.0, 10.0], 2.0, 16).unwrap();
        assert!(r.patch.data.iter().all(|&v| v == 0));
    }
}
