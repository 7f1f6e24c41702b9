//! Image sequences on disk in the layouts users have: OTB (`img/` + `groundtruth_rect.txt`,
//! frame range from `cfg.json`), GOT-10k (`00000001.jpg` + `groundtruth.txt`), LaSOT (`img/` +
//! `groundtruth.txt`), and a plain folder of frames with a `groundtruth.txt`. A folder holding
//! several such sequences is read as a dataset.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::tracker::Image;

/// One sequence: its frames in order and its ground truth (possibly only the first row).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Name, used for result files.
    pub name: String,
    /// Frame files in order.
    pub frames: Vec<PathBuf>,
    /// Ground-truth boxes `[x, y, w, h]`, one per annotated frame (GOT-10k test: frame 0 only).
    pub ground_truth: Vec<[f64; 4]>,
    /// The file the ground truth came from.
    pub gt_path: PathBuf,
}

impl Sequence {
    /// The box to start tracking from: the first ground-truth row.
    pub fn init_box(&self) -> Result<[f64; 4]> {
        let b = *self.ground_truth.first().with_context(|| format!("{}: the ground truth is empty", self.gt_path.display()))?;
        if b.iter().any(|v| !v.is_finite()) {
            bail!("{}:1: the init box {b:?} contains NaN", self.gt_path.display());
        }
        Ok(b)
    }
}

/// Layouts [`discover`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Detect from the files present.
    Auto,
    /// OTB.
    Otb,
    /// GOT-10k.
    Got10k,
    /// LaSOT.
    Lasot,
    /// A plain folder of frames with `groundtruth.txt`.
    Folder,
}

impl Layout {
    /// Parses a layout name (`auto`, `otb`, `got10k`, `lasot`, `folder`; `uav`, `nfs` and
    /// `trackingnet` are read as folders until their readers land).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => Self::Auto,
            "otb" => Self::Otb,
            "got10k" => Self::Got10k,
            "lasot" => Self::Lasot,
            "folder" | "uav" | "nfs" | "trackingnet" => Self::Folder,
            other => bail!("unknown sequence layout `{other}`"),
        })
    }
}

const GT_NAMES: [&str; 2] = ["groundtruth_rect.txt", "groundtruth.txt"];

/// Reads one sequence folder, or every sequence folder inside a dataset folder (sorted by name).
pub fn discover(path: &Path, layout: Layout) -> Result<Vec<Sequence>> {
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    if !path.is_dir() {
        bail!("{} is not a folder (video files are read by the video source)", path.display());
    }
    if is_sequence_dir(path) {
        return Ok(vec![read_sequence(path, layout)?]);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && is_sequence_dir(p))
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!("{} holds no sequence: expected frames with a groundtruth.txt (or groundtruth_rect.txt), or folders of them", path.display());
    }
    dirs.iter().map(|d| read_sequence(d, layout)).collect()
}

fn is_sequence_dir(p: &Path) -> bool {
    GT_NAMES.iter().any(|g| p.join(g).is_file())
}

/// Reads one sequence folder.
pub fn read_sequence(dir: &Path, layout: Layout) -> Result<Sequence> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sequence".into());
    let gt_path = GT_NAMES.iter().map(|g| dir.join(g)).find(|p| p.is_file()).with_context(|| format!("{}: no groundtruth.txt", dir.display()))?;
    let ground_truth = read_boxes(&gt_path)?;
    let img_dir = if dir.join("img").is_dir() { dir.join("img") } else { dir.to_path_buf() };
    let cfg = dir.join("cfg.json");
    let frames = if (layout == Layout::Otb || layout == Layout::Auto) && cfg.is_file() {
        otb_frames(&cfg, &img_dir)?
    } else {
        list_images(&img_dir)?
    };
    if frames.is_empty() {
        bail!("{}: no .jpg or .png frames", img_dir.display());
    }
    Ok(Sequence { name, frames, ground_truth, gt_path })
}

/// OTB's `cfg.json`: frames `startFrame..=endFrame` named with `nz` digits and `ext`.
fn otb_frames(cfg: &Path, img_dir: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(cfg).with_context(|| format!("cannot read {}", cfg.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", cfg.display()))?;
    let get = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).with_context(|| format!("{}: missing integer `{k}`", cfg.display()));
    let (start, end, nz) = (get("startFrame")?, get("endFrame")?, get("nz")? as usize);
    let ext = v.get("ext").and_then(|e| e.as_str()).unwrap_or("jpg");
    Ok((start..=end).map(|i| img_dir.join(format!("{i:0nz$}.{ext}"))).collect())
}

fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(), Some("jpg" | "jpeg" | "png")))
        .collect();
    v.sort();
    Ok(v)
}

/// Reads a box file: one `x,y,w,h` row per line, separated by commas, tabs or spaces.
/// A malformed row is an error naming the file and line.
pub fn read_boxes(path: &Path) -> Result<Vec<[f64; 4]>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let vals: Vec<&str> = line.split([',', '\t', ' ']).filter(|s| !s.is_empty()).collect();
        if vals.len() != 4 {
            bail!("{}:{}: expected 4 numbers (x, y, w, h), found {}: `{line}`", path.display(), i + 1, vals.len());
        }
        let mut b = [0.0; 4];
        for (k, s) in vals.iter().enumerate() {
            b[k] = s.parse::<f64>().with_context(|| format!("{}:{}: `{s}` is not a number", path.display(), i + 1))?;
        }
        out.push(b);
    }
    Ok(out)
}

/// Decodes a JPEG or PNG frame to RGB.
pub fn load_frame(path: &Path) -> Result<Image> {
    let img = image::ImageReader::open(path)
        .with_context(|| format!("cannot open frame {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read frame {}", path.display()))?
        .decode()
        .with_context(|| format!("cannot decode frame {} (corrupt or truncated image?)", path.display()))?
        .into_rgb8();
    let (w, h) = img.dimensions();
    Ok(Image { width: w as usize, height: h as usize, channels: 3, data: img.into_raw() })
}
