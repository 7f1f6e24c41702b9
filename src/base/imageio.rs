//! Frame decoding that gives the pixels OpenCV's `cv2.imread` gives, so that trackflow, run on
//! the same JPEG frames with the same weights, tracks exactly as the official Python trackers do.
//!
//! Every benchmark ships JPEG frames, and JPEG decoders legitimately differ: the standard leaves
//! the inverse DCT's rounding and the chroma upsampling to the decoder. The `image` crate's
//! decoder differs from libjpeg-turbo on about 7% of the values of OTB's frames (up to 4 levels),
//! and those differences move a ViT tracker's boxes by pixels within a few frames. OpenCV decodes
//! with libjpeg-turbo at its defaults: the accurate integer IDCT (`JDCT_ISLOW`) and "fancy"
//! (triangular) chroma upsampling. So does TurboJPEG's default, which is what JPEGs go through
//! here (libjpeg-turbo 3.1, built from source by `turbojpeg-sys`). PNG, BMP and other lossless
//! formats decode to the same pixels in any correct decoder and stay with the `image` crate.

use anyhow::{Context, Result};

use crate::base::image::Image;

/// Whether `bytes` start with a JPEG's start-of-image marker.
pub(crate) fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Decodes an image file's bytes to 8-bit RGB: JPEG through libjpeg-turbo with `cv2.imread`'s
/// settings (grayscale JPEGs come out with the gray value in all three channels, as OpenCV's
/// `IMREAD_COLOR` gives them), anything else through the `image` crate.
///
/// A JPEG that libjpeg-turbo only warns about (a truncated file, corrupt entropy data) is an
/// error here, where OpenCV would return it with its missing part filled in gray: a frame half
/// made up would be tracked and scored as if it were real.
pub fn decode_rgb(bytes: &[u8]) -> Result<Image> {
    if is_jpeg(bytes) {
        let img = turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGB).context("libjpeg-turbo cannot decode it")?;
        let data = if img.pitch == img.width * 3 {
            img.pixels
        } else {
            img.pixels.chunks(img.pitch).flat_map(|row| row[..img.width * 3].iter().copied()).collect()
        };
        return Ok(Image { width: img.width, height: img.height, channels: 3, data });
    }
    let img = image::load_from_memory(bytes)?.into_rgb8();
    let (w, h) = img.dimensions();
    Ok(Image { width: w as usize, height: h as usize, channels: 3, data: img.into_raw() })
}

/// Reads and decodes a frame file to RGB (see [`decode_rgb`]); errors name the file.
pub fn load_rgb(path: &std::path::Path) -> Result<Image> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot open frame {}", path.display()))?;
    decode_rgb(&bytes).with_context(|| format!("cannot decode frame {} (corrupt or truncated image?)", path.display()))
}
