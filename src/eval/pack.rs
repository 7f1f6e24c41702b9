//! `trackflow pack`: submission archives in exactly the layouts the servers accept, without
//! touching the raw results.
//!
//! | benchmark | archive | rows |
//! |---|---|---|
//! | GOT-10k | `<seq>/<seq>_001.txt` and `<seq>/<seq>_time.txt` | `x,y,w,h` integers, one per frame, frame 0 included |
//! | TrackingNet | `<seq>.txt`, flat | `x,y,w,h` integers, one per frame |
//! | RGBT234 (MPR/MSR toolkit) | `<seq>.txt`, flat | the box's four corners, 8 values, clockwise from top-left |
//! | DepthTrack / VOT-RGBD (VOT toolkit, long-term) | `longterm/<seq>/<seq>_001.txt` and `<seq>_001_confidence.value` | `1` (initialisation) then `x,y,w,h`; the confidences with an empty first line |
//!
//! This is what OSTrack's `transform_got10k.py` / `transform_trackingnet.py` produce, minus
//! their deleting the raw results.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::base::zipfile::ZipBuilder;
use crate::data::results::{Delimiter, format_boxes};
use crate::data::sequence::read_boxes;

/// The benchmark servers `pack` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// GOT-10k test server.
    Got10k,
    /// TrackingNet (eval.ai).
    TrackingNet,
    /// The RGBT234 toolkit (corner format).
    Rgbt234,
    /// The VOT toolkit's long-term layout (DepthTrack, VOT-RGBD).
    VotRgbd,
}

/// What `pack` wrote.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The archive.
    pub path: PathBuf,
    /// Sequences in it.
    pub sequences: usize,
    /// Sequences the dataset has but the results lack.
    pub missing: Vec<String>,
}

/// Packs `<results>/<seq>.txt` (and `_time.txt` for GOT-10k). With `expected` (sequence name,
/// frame count), every sequence must be present with one row per frame.
pub fn pack(server: Server, results: &Path, out: &Path, expected: Option<&[(String, usize)]>) -> Result<Packed> {
    let mut names: Vec<String> = std::fs::read_dir(results)
        .with_context(|| format!("cannot list {}", results.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let n = p.file_name()?.to_str()?.to_string();
            let stem = n.strip_suffix(".txt")?;
            (!stem.ends_with("_time") && !stem.ends_with(".partial") && !stem.ends_with("_stamps")).then(|| stem.to_string())
        })
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("{} holds no <seq>.txt results", results.display());
    }
    let mut missing = Vec::new();
    if let Some(exp) = expected {
        for (seq, _) in exp {
            if !names.contains(seq) {
                missing.push(seq.clone());
            }
        }
    }
    let mut zip = ZipBuilder::default();
    // Every file is checked before anything is written, and every problem is reported at once.
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for seq in &names {
        let file = results.join(format!("{seq}.txt"));
        let boxes = match read_boxes(&file) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        if let Some((_, n)) = expected.and_then(|e| e.iter().find(|(s, _)| s == seq))
            && boxes.len() != *n
        {
            problems.push(format!("{}: {} rows for {n} frames; the server needs one per frame", file.display(), boxes.len()));
        }
        if let Some(i) = boxes.iter().position(|b| b.iter().any(|v| !v.is_finite())) {
            problems.push(format!("{}:{}: NaN in a result row; the server would reject the archive", file.display(), i + 1));
        }
        if let Some(i) = boxes.iter().position(|b| b[2] < 0.0 || b[3] < 0.0) {
            problems.push(format!(
                "{}:{}: negative width or height; the toolkits clip it to an empty box (IoU 0), so this is a tracker bug to fix before submitting",
                file.display(),
                i + 1
            ));
        }
        checked.push((seq, file, boxes));
    }
    if !problems.is_empty() {
        bail!("{} problem(s) in {}; nothing was written:\n  {}", problems.len(), results.display(), problems.join("\n  "));
    }
    for (seq, _file, boxes) in checked {
        let rows = format_boxes(&boxes, Delimiter::Comma);
        match server {
            Server::Got10k => {
                zip.add(&format!("{seq}/{seq}_001.txt"), rows.as_bytes())?;
                let time = results.join(format!("{seq}_time.txt"));
                let t = std::fs::read(&time)
                    .with_context(|| format!("{} is missing (GOT-10k submissions include per-frame times)", time.display()))?;
                zip.add(&format!("{seq}/{seq}_time.txt"), &t)?;
            }
            Server::TrackingNet => zip.add(&format!("{seq}.txt"), rows.as_bytes())?,
            Server::Rgbt234 => {
                let corners: String = boxes
                    .iter()
                    .map(|[x, y, w, h]| format!("{x:.4} {y:.4} {:.4} {y:.4} {:.4} {:.4} {x:.4} {:.4}\n", x + w, x + w, y + h, y + h))
                    .collect();
                zip.add(&format!("{seq}.txt"), corners.as_bytes())?;
            }
            Server::VotRgbd => {
                let conf = crate::data::results::read_confidences(results, seq, "long-term results need a confidence per frame")?;
                if conf.len() != boxes.len() {
                    bail!(
                        "{} has {} values for {} boxes",
                        crate::data::results::confidence_path(results, seq).display(),
                        conf.len(),
                        boxes.len()
                    );
                }
                let mut region = String::from("1\n");
                let mut values = String::from("\n");
                for (b, c) in boxes.iter().zip(&conf).skip(1) {
                    region.push_str(&format!("{:.4},{:.4},{:.4},{:.4}\n", b[0], b[1], b[2], b[3]));
                    values.push_str(&format!("{c}\n"));
                }
                zip.add(&format!("longterm/{seq}/{seq}_001.txt"), region.as_bytes())?;
                zip.add(&format!("longterm/{seq}/{seq}_001_confidence.value"), values.as_bytes())?;
            }
        }
    }
    zip.write(out)?;
    Ok(Packed { path: out.to_path_buf(), sequences: names.len(), missing })
}
