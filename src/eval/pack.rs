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
use crate::data::results::{BoxRows, Delimiter, LineProblem, format_boxes, read_box_rows, read_value_rows};
use crate::eval::measures::box_problem;

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
}

/// `file:a-b: what (k rows)` for runs of consecutive lines with the same problem, so that a
/// file of NaN rows is one line of the list, not thousands.
fn line_problems(file: &Path, mut v: Vec<LineProblem>) -> Vec<String> {
    v.sort_by_key(|p| p.line);
    let mut out: Vec<(usize, usize, String)> = Vec::new();
    for p in v {
        match out.last_mut() {
            Some((_, last, what)) if *what == p.what && p.line == *last + 1 => *last = p.line,
            _ => out.push((p.line, p.line, p.what)),
        }
    }
    out.into_iter()
        .map(|(a, b, what)| {
            if a == b {
                format!("{}:{a}: {what}", file.display())
            } else {
                format!("{}:{a}-{b}: {what} ({} rows)", file.display(), b - a + 1)
            }
        })
        .collect()
}

/// Every problem of one sequence's box file: lines that are not boxes, rows that the servers
/// reject, and a row count other than the frame count (when known).
fn box_file_problems(file: &Path, rows: &BoxRows, frames: Option<usize>) -> Vec<String> {
    let mut lines: Vec<LineProblem> = rows.problems.clone();
    let unparsable: std::collections::HashSet<usize> = rows.problems.iter().map(|p| p.line).collect();
    for (b, &line) in rows.boxes.iter().zip(&rows.lines) {
        if unparsable.contains(&line) {
            continue;
        }
        match box_problem(b) {
            Some(w) if w.starts_with("negative") => lines.push(LineProblem {
                line,
                what: "negative width or height; the toolkits clip it to an empty box (IoU 0), so this is a tracker bug to fix before submitting"
                    .into(),
            }),
            Some(w) => lines.push(LineProblem { line, what: format!("{w}; the server would reject the archive") }),
            None => {}
        }
    }
    let mut out = line_problems(file, lines);
    if let Some(n) = frames
        && rows.boxes.len() != n
    {
        out.push(format!("{}: {} rows for {n} frames; the server needs one per frame", file.display(), rows.boxes.len()));
    }
    out
}

/// Every problem of a per-frame value file (GOT-10k's times, VOT's confidences): missing, lines
/// that are not numbers, a count other than the boxes'. GOT-10k's time files may hold one
/// column per repetition (`columns`), so there each line may have several numbers.
fn value_file_problems(path: &Path, what: &str, boxes: usize, columns: bool) -> (Vec<String>, Vec<f64>) {
    if !path.is_file() {
        return (vec![format!("{}: missing ({what})", path.display())], Vec::new());
    }
    let v = if columns {
        std::fs::read(path)
            .map(|b| {
                let text = String::from_utf8_lossy(&b).into_owned();
                // One value row per line; a line is good when every field is a number.
                let firsts: String = text
                    .lines()
                    .map(|l| {
                        let fields: Vec<&str> = l.split([',', ' ', '\t']).filter(|f| !f.is_empty()).collect();
                        if !fields.is_empty() && fields.iter().all(|f| f.parse::<f64>().is_ok()) {
                            fields[0].to_string()
                        } else {
                            l.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                crate::data::results::parse_value_rows(&firsts)
            })
            .with_context(|| format!("cannot read {}", path.display()))
    } else {
        read_value_rows(path)
    };
    match v {
        Err(e) => (vec![format!("{e:#}")], Vec::new()),
        Ok(v) => {
            let mut out = line_problems(path, v.problems);
            if v.values.len() != boxes {
                out.push(format!("{}: {} values for {boxes} boxes ({what})", path.display(), v.values.len()));
            }
            (out, v.values)
        }
    }
}

/// Packs `<results>/<seq>.txt` (and `_time.txt` for GOT-10k, confidences for VOT). With
/// `expected` (sequence name, frame count), the archive holds exactly those sequences, each
/// with one row per frame.
///
/// Never writes an incomplete archive: every file is checked first, every problem of every
/// sequence (a missing sequence, a result for a sequence the dataset does not have, a line that
/// is not a box, a NaN or negative size, a wrong row count, a missing or short time or
/// confidence file) is named in the one error, and then nothing is written. The archive itself
/// is written atomically.
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
    let frames = |seq: &str| expected.and_then(|e| e.iter().find(|(s, _)| s == seq)).map(|(_, n)| *n);
    // Every file is checked before anything is written, and every problem is reported at once.
    let mut problems = Vec::new();
    if let Some(exp) = expected {
        for (seq, _) in exp.iter().filter(|(s, _)| !names.contains(s)) {
            problems
                .push(format!("{}: missing (sequence {seq} of the dataset has no results)", results.join(format!("{seq}.txt")).display()));
        }
        for seq in names.iter().filter(|n| frames(n).is_none()) {
            problems.push(format!(
                "{}: not a sequence of the dataset (wrong results folder or dataset?)",
                results.join(format!("{seq}.txt")).display()
            ));
        }
    }
    let mut checked = Vec::new();
    for seq in &names {
        let file = results.join(format!("{seq}.txt"));
        let rows = match read_box_rows(&file) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        problems.extend(box_file_problems(&file, &rows, frames(seq)));
        let n = rows.boxes.len();
        let extra = match server {
            Server::Got10k => {
                let time = results.join(format!("{seq}_time.txt"));
                let (p, _) = value_file_problems(&time, "GOT-10k submissions include per-frame times", n, true);
                problems.extend(p);
                Vec::new()
            }
            Server::VotRgbd => {
                let conf = crate::data::results::confidence_path(results, seq);
                let (p, values) = value_file_problems(&conf, "long-term results need a confidence per frame", n, false);
                problems.extend(p);
                values
            }
            Server::TrackingNet | Server::Rgbt234 => Vec::new(),
        };
        checked.push((seq, rows.boxes, extra));
    }
    if !problems.is_empty() {
        bail!("{} problem(s) in {}; nothing was written:\n  {}", problems.len(), results.display(), problems.join("\n  "));
    }
    let mut zip = ZipBuilder::default();
    for (seq, boxes, extra) in &checked {
        let rows = format_boxes(boxes, Delimiter::Comma);
        match server {
            Server::Got10k => {
                zip.add(&format!("{seq}/{seq}_001.txt"), rows.as_bytes())?;
                let time = results.join(format!("{seq}_time.txt"));
                let t = std::fs::read(&time).with_context(|| format!("cannot read {}", time.display()))?;
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
                let mut region = String::from("1\n");
                let mut values = String::from("\n");
                for (b, c) in boxes.iter().zip(extra).skip(1) {
                    region.push_str(&format!("{:.4},{:.4},{:.4},{:.4}\n", b[0], b[1], b[2], b[3]));
                    values.push_str(&format!("{c}\n"));
                }
                zip.add(&format!("longterm/{seq}/{seq}_001.txt"), region.as_bytes())?;
                zip.add(&format!("longterm/{seq}/{seq}_001_confidence.value"), values.as_bytes())?;
            }
        }
    }
    zip.write(out)?;
    Ok(Packed { path: out.to_path_buf(), sequences: checked.len() })
}
