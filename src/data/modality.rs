//! Multi-modal input for ViPT: an RGB frame plus an auxiliary modality (depth, thermal or
//! event), merged into one H×W×6 image (RGB, then the auxiliary image as 3 channels), as
//! ViPT's `get_x_frame` does.
//!
//! | benchmark | RGB | auxiliary | ground truth |
//! |---|---|---|---|
//! | DepthTrack, VOT-RGBD, CDTB | `color/%08d.jpg` | `depth/%08d.png` (16-bit) | `groundtruth.txt` |
//! | LasHeR, RGBT234 | `visible/*.jpg` | `infrared/*.jpg` | `visible.txt` (or `init.txt`) |
//! | VisEvent | `vis_imgs/*.bmp` | `event_imgs/*.bmp` | `groundtruth.txt` |
//!
//! LasHeR's file names are inconsistent from sequence to sequence (`v000000.jpg`,
//! `i000000.jpg`, `000001.jpg`, …). Frames are paired by the number in their names, never by
//! renaming the user's files, and a pair count that differs is an error naming both folders.
//!
//! Depth becomes ViPT's `rgbcolormap`: optionally clipped at min(3 × median, 10000), min-max
//! scaled to 0..255 per frame, then OpenCV's JET colormap, kept in OpenCV's BGR channel order
//! (the reference never converts it, and its weights were trained that way).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::base::image::Image;

/// The auxiliary modality of a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Modality {
    /// RGB-D: a 16-bit depth PNG per frame, turned into a JET colormap.
    Depth,
    /// RGB-T: an infrared image per frame.
    Thermal,
    /// RGB-E: an event image per frame.
    Event,
}

impl Modality {
    /// `rgbd`, `rgbt` or `rgbe` (also `depth`, `thermal`, `event`).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "rgbd" | "depth" => Self::Depth,
            "rgbt" | "thermal" => Self::Thermal,
            "rgbe" | "event" => Self::Event,
            other => bail!("unknown modality `{other}`: rgbd, rgbt or rgbe"),
        })
    }

    /// (RGB folder, auxiliary folder) of the layout this modality comes in.
    pub(crate) fn folders(self) -> (&'static str, &'static str) {
        match self {
            Self::Depth => ("color", "depth"),
            Self::Thermal => ("visible", "infrared"),
            Self::Event => ("vis_imgs", "event_imgs"),
        }
    }
}

/// The auxiliary frames of a sequence, one per RGB frame.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxFrames {
    /// Which modality.
    pub modality: Modality,
    /// The files, aligned with the RGB frames.
    pub frames: Vec<PathBuf>,
    /// RGB-D only: clip far depth at min(3 × median, 10000) before scaling (ViPT's
    /// `depth_clip`, on for DepthTrack and VOT-RGBD).
    pub depth_clip: bool,
}

/// Which modality a sequence folder holds, from its two frame folders alone (nothing listed).
pub(crate) fn modality_of(dir: &Path) -> Option<Modality> {
    [Modality::Depth, Modality::Thermal, Modality::Event].into_iter().find(|m| {
        let (rgb, aux) = m.folders();
        dir.join(rgb).is_dir() && dir.join(aux).is_dir()
    })
}

/// Detects a multi-modal sequence folder: which modality, and its RGB and auxiliary frame
/// lists, paired by the frame numbers in their names.
pub(crate) fn detect(dir: &Path) -> Result<Option<(Vec<PathBuf>, AuxFrames)>> {
    if let Some(modality) = modality_of(dir) {
        let (rgb, aux) = modality.folders();
        let (rgb_dir, aux_dir) = (dir.join(rgb), dir.join(aux));
        let rgb_frames = numbered_images(&rgb_dir)?;
        let aux_frames = numbered_images(&aux_dir)?;
        if rgb_frames.len() != aux_frames.len() {
            bail!(
                "{} has {} frames but {} has {}: the modalities must pair frame for frame",
                rgb_dir.display(),
                rgb_frames.len(),
                aux_dir.display(),
                aux_frames.len()
            );
        }
        if rgb_frames.is_empty() {
            bail!("{} holds no frames", rgb_dir.display());
        }
        let depth_clip = modality == Modality::Depth;
        return Ok(Some((rgb_frames, AuxFrames { modality, frames: aux_frames, depth_clip })));
    }
    Ok(None)
}

/// The images of a folder ordered by the last number in their names (`v000012.jpg`,
/// `000012.png`, `frame12.bmp`), then by name; files without a number come last, by name.
pub(crate) fn numbered_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<(Option<u64>, String, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        let ext = p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png" | "bmp")) {
            continue;
        }
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        v.push((last_number(&stem), stem, p));
    }
    v.sort_by(|a, b| (a.0.is_none(), a.0, &a.1).cmp(&(b.0.is_none(), b.0, &b.1)));
    Ok(v.into_iter().map(|t| t.2).collect())
}

fn last_number(s: &str) -> Option<u64> {
    let end = s.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = s[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    s[start..end].parse().ok()
}

/// Frame `i` of a sequence: RGB from `frames[i]`, merged with its auxiliary image when the
/// sequence has one (H×W×6), else RGB alone (H×W×3).
pub(crate) fn load_frame_at(frames: &[PathBuf], aux: Option<&AuxFrames>, i: usize) -> Result<Image> {
    match aux {
        None => crate::base::imageio::load_rgb(&frames[i]),
        Some(a) => load_pair(&frames[i], &a.frames[i], a.modality, a.depth_clip),
    }
}

/// Reads one RGB frame and its auxiliary image and merges them into an H×W×6 image.
pub fn load_pair(rgb: &Path, aux: &Path, modality: Modality, depth_clip: bool) -> Result<Image> {
    let color = crate::base::imageio::load_rgb(rgb)?;
    let x = match modality {
        Modality::Depth => {
            let (w, h, depth) = load_depth(aux)?;
            if (w, h) != (color.width, color.height) {
                bail!("{} is {w}×{h} but its colour frame {} is {}×{}", aux.display(), rgb.display(), color.width, color.height);
            }
            Image { width: w, height: h, channels: 3, data: depth_colormap(&depth, depth_clip) }
        }
        Modality::Thermal | Modality::Event => crate::base::imageio::load_rgb(aux)?,
    };
    merge(&color, &x).with_context(|| format!("pairing {} with {}", rgb.display(), aux.display()))
}

/// Puts an auxiliary image after the RGB channels: H×W×3 + H×W×3 → H×W×6.
pub(crate) fn merge(rgb: &Image, aux: &Image) -> Result<Image> {
    if (rgb.width, rgb.height) != (aux.width, aux.height) || rgb.channels != 3 || aux.channels != 3 {
        bail!(
            "the RGB frame is {}×{}×{} but the auxiliary image is {}×{}×{}",
            rgb.width,
            rgb.height,
            rgb.channels,
            aux.width,
            aux.height,
            aux.channels
        );
    }
    let mut data = Vec::with_capacity(rgb.data.len() * 2);
    for (a, b) in rgb.data.chunks_exact(3).zip(aux.data.chunks_exact(3)) {
        data.extend_from_slice(a);
        data.extend_from_slice(b);
    }
    Ok(Image { width: rgb.width, height: rgb.height, channels: 6, data })
}

/// Reads a depth PNG (16-bit, or 8-bit widened) as (width, height, values).
pub(crate) fn load_depth(path: &Path) -> Result<(usize, usize, Vec<u16>)> {
    let img = image::ImageReader::open(path)
        .with_context(|| format!("cannot open depth image {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read depth image {}", path.display()))?
        .decode()
        .with_context(|| format!("cannot decode depth image {} (corrupt or truncated?)", path.display()))?;
    if img.color().channel_count() != 1 {
        bail!("{} is not a single-channel depth image ({:?})", path.display(), img.color());
    }
    let g = img.into_luma16();
    let (w, h) = g.dimensions();
    Ok((w as usize, h as usize, g.into_raw()))
}

/// ViPT's depth colormap, as H×W×3 bytes in OpenCV's BGR order: optional clip at
/// min(3 × median, 10000) (numpy's median; the clip value truncated to an integer, as numpy's
/// assignment into uint16 does), min-max scaling to 0..255 with OpenCV's rounding, then JET.
pub(crate) fn depth_colormap(depth: &[u16], clip: bool) -> Vec<u8> {
    let mut d: Vec<u16> = depth.to_vec();
    if clip && !d.is_empty() {
        let max_depth = (median(depth) * 3.0).min(10000.0);
        let clamp_to = max_depth as u16; // truncation, as `dp[dp > m] = m` into uint16
        for v in &mut d {
            if f64::from(*v) > max_depth {
                *v = clamp_to;
            }
        }
    }
    let (lo, hi) = d.iter().fold((u16::MAX, 0u16), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    // cv2.normalize(NORM_MINMAX, 0, 255): scale and shift computed in double, then applied as
    // float32 (OpenCV's 16-bit convertTo), rounded half to even (cvRound) into the source type
    // (uint16), then numpy's uint8 cast. Float32 matters: 1000 · (255/30000) is 8.5 exactly in
    // double but 8.5000005 in float32, which OpenCV rounds to 9.
    let scale = if hi > lo { 255.0 / f64::from(hi - lo) } else { 0.0 };
    let shift = -f64::from(lo) * scale;
    let (scale, shift) = (scale as f32, shift as f32);
    let lut = jet_bgr();
    let mut out = Vec::with_capacity(d.len() * 3);
    for &v in &d {
        let level = (f32::from(v) * scale + shift).round_ties_even().clamp(0.0, 255.0) as usize;
        out.extend_from_slice(&lut[level]);
    }
    out
}

/// The median numpy computes (the mean of the two middle values for an even count).
fn median(v: &[u16]) -> f64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    let n = s.len();
    if n % 2 == 1 { f64::from(s[n / 2]) } else { (f64::from(s[n / 2 - 1]) + f64::from(s[n / 2])) / 2.0 }
}

/// OpenCV's `COLORMAP_JET` as a BGR look-up table. Jet is piecewise linear: each channel is
/// `clamp(1.5 − |4x − c|, 0, 1)` at x = i/255 with c = 1 (blue), 2 (green), 3 (red). Exactly,
/// 255 times that is `clamp(382.5 − |4i − 255c|, 0, 255)`, a multiple of 0.5, which OpenCV
/// rounds half to even, except at i = 159 in blue, where OpenCV's float interpolation lands
/// just under 1.5 and gives 1.
pub fn jet_bgr() -> [[u8; 3]; 256] {
    let mut lut = [[0u8; 3]; 256];
    for (i, entry) in lut.iter_mut().enumerate() {
        for (ch, c) in [1i64, 2, 3].into_iter().enumerate() {
            let twice = (765 - 2 * (4 * i as i64 - 255 * c).abs()).clamp(0, 510);
            let (q, r) = (twice / 2, twice % 2);
            entry[ch] = if r == 0 || q % 2 == 0 { q as u8 } else { (q + 1) as u8 };
        }
    }
    lut[159][0] = 1;
    lut
}
