//! Result files in OSTrack's format: `<seq>.txt` with one `x y w h` row per frame (truncated
//! integers, tab-separated) and `<seq>_time.txt` with per-frame seconds. Files are written
//! atomically; a sequence that did not finish is kept as `<seq>.partial.txt`, a name no
//! evaluation tool mistakes for complete results.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::base::fs::write_atomic;

/// Column separator of the box file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// OSTrack's raw results.
    Tab,
    /// GOT-10k and TrackingNet submissions.
    Comma,
}

impl Delimiter {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tab => "\t",
            Self::Comma => ",",
        }
    }
}

/// Boxes and times of one sequence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SequenceResult {
    /// Boxes, frame 0 first.
    pub boxes: Vec<[f64; 4]>,
    /// Seconds per frame.
    pub times: Vec<f64>,
    /// The tracker's confidence per frame (the Hann-windowed response at the chosen cell; the
    /// init frame's is 1), written as `<seq>_confidence.value` for long-term measures
    /// (DepthTrack's F-score). May be empty.
    pub scores: Vec<f64>,
}

/// Formats boxes as OSTrack does (`np.array(boxes).astype(int)`: truncation toward zero).
pub fn format_boxes(boxes: &[[f64; 4]], delim: Delimiter) -> String {
    let mut s = String::with_capacity(boxes.len() * 20);
    for b in boxes {
        let v: Vec<String> = b.iter().map(|x| format!("{}", x.trunc() as i64)).collect();
        s.push_str(&v.join(delim.as_str()));
        s.push('\n');
    }
    s
}

/// Formats times as `%f`.
pub fn format_times(times: &[f64]) -> String {
    times.iter().map(|t| format!("{t:.6}\n")).collect()
}

/// Paths of a sequence's result files.
pub fn result_paths(dir: &Path, seq: &str, complete: bool) -> (PathBuf, PathBuf) {
    if complete {
        (dir.join(format!("{seq}.txt")), dir.join(format!("{seq}_time.txt")))
    } else {
        (dir.join(format!("{seq}.partial.txt")), dir.join(format!("{seq}_time.partial.txt")))
    }
}

/// Writes a sequence's results. Complete results replace any partial ones.
pub fn write_sequence(dir: &Path, seq: &str, r: &SequenceResult, complete: bool, delim: Delimiter) -> Result<PathBuf> {
    let (boxes, times) = result_paths(dir, seq, complete);
    write_atomic(&times, format_times(&r.times).as_bytes())?;
    write_atomic(&boxes, format_boxes(&r.boxes, delim).as_bytes())?;
    if complete && !r.scores.is_empty() {
        let text: String = r.scores.iter().map(|c| format!("{c:.6}\n")).collect();
        write_atomic(&confidence_path(dir, seq), text.as_bytes())?;
    }
    if complete {
        let (pb, pt) = result_paths(dir, seq, false);
        let _ = std::fs::remove_file(pb);
        let _ = std::fs::remove_file(pt);
    }
    Ok(boxes)
}

/// Where a sequence's confidences are written.
pub fn confidence_path(dir: &Path, seq: &str) -> PathBuf {
    dir.join(format!("{seq}_confidence.value"))
}

/// Reads a sequence's confidences, one number per non-empty line. `needed_for` says, when the
/// file is missing, what needs it.
pub fn read_confidences(dir: &Path, seq: &str, needed_for: &str) -> Result<Vec<f64>> {
    let path = confidence_path(dir, seq);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {} ({needed_for})", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| l.trim().parse::<f64>().with_context(|| format!("{}:{}: `{l}` is not a number", path.display(), i + 1)))
        .collect()
}
