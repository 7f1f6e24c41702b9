//! Result files in OSTrack's format: `<seq>.txt` with one `x y w h` row per frame (truncated
//! integers, tab-separated) and `<seq>_time.txt` with per-frame seconds. Files are written
//! atomically; a sequence that did not finish is kept as `<seq>.partial.txt`, a name no
//! evaluation tool mistakes for complete results.
//!
//! Reading is for the evaluator (`trackflow analyze`, `trackflow pack`), which must name every
//! problem of every file in one run: [`parse_box_rows`] and [`parse_value_rows`] never stop at
//! the first bad line, never panic, and keep one entry per non-empty line (a line that is not a
//! box becomes a NaN box), so that row `i` is still frame `i` after a bad line.

use std::path::{Path, PathBuf};

use anyhow::Result;

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
pub(crate) struct SequenceResult {
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
pub(crate) fn format_times(times: &[f64]) -> String {
    times.iter().map(|t| format!("{t:.6}\n")).collect()
}

/// Paths of a sequence's result files.
pub(crate) fn result_paths(dir: &Path, seq: &str, complete: bool) -> (PathBuf, PathBuf) {
    if complete {
        (dir.join(format!("{seq}.txt")), dir.join(format!("{seq}_time.txt")))
    } else {
        (dir.join(format!("{seq}.partial.txt")), dir.join(format!("{seq}_time.partial.txt")))
    }
}

/// Writes a sequence's results. Complete results replace any partial ones.
pub(crate) fn write_sequence(dir: &Path, seq: &str, r: &SequenceResult, complete: bool, delim: Delimiter) -> Result<PathBuf> {
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
pub(crate) fn confidence_path(dir: &Path, seq: &str) -> PathBuf {
    dir.join(format!("{seq}_confidence.value"))
}

/// One bad line of a text file the evaluator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// 1-based line number, as editors show it.
    pub line: usize,
    /// What is wrong with it.
    pub what: String,
}

/// A box file read without stopping at a bad line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoxRows {
    /// One box per non-empty line, in order. A line that is not four numbers is `[NaN; 4]`, so
    /// the rows after it keep their frame numbers (the toolkits' readers, `np.loadtxt` and
    /// pandas, skip blank lines too, so blank lines are not rows).
    pub boxes: Vec<[f64; 4]>,
    /// The 1-based line of each box, for messages.
    pub lines: Vec<usize>,
    /// The lines that are not four numbers.
    pub problems: Vec<LineProblem>,
}

impl BoxRows {
    /// The line frame `i` came from; frames past the end have none.
    pub fn line(&self, frame: usize) -> Option<usize> {
        self.lines.get(frame).copied()
    }
}

/// Per-frame values (confidences, times) read without stopping at a bad line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueRows {
    /// One value per non-empty line; a line that is not a number is NaN.
    pub values: Vec<f64>,
    /// The 1-based line of each value.
    pub lines: Vec<usize>,
    /// The lines that are not a number.
    pub problems: Vec<LineProblem>,
}

/// At most this many characters of a bad line are quoted in its message: a binary file or a
/// megabyte-long line must not flood the terminal.
const QUOTE_CHARS: usize = 40;

/// A line quoted for a message: shortened, with control characters escaped.
fn quote(line: &str) -> String {
    let mut q: String = line.chars().take(QUOTE_CHARS).collect::<String>().escape_debug().to_string();
    if line.chars().nth(QUOTE_CHARS).is_some() {
        q.push('…');
    }
    format!("`{q}`")
}

/// Parses a box file's text: `x,y,w,h` per line, separated by commas, tabs or spaces (the
/// separators OSTrack, pytracking and the servers write). Values may be anything `f64` parses,
/// `nan` and `inf` included: whether such a box can be scored is the evaluator's call, not the
/// parser's. Never fails and never panics.
pub fn parse_box_rows(text: &str) -> BoxRows {
    let mut out = BoxRows::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        // Items are counted, not collected: a line of a million commas allocates nothing.
        let mut items = line.split([',', '\t', ' ']).filter(|s| !s.is_empty());
        let mut b = [f64::NAN; 4];
        let mut bad: Vec<String> = Vec::new();
        let mut found = 0;
        for (k, item) in items.by_ref().take(4).enumerate() {
            found = k + 1;
            match item.parse::<f64>() {
                Ok(v) => b[k] = v,
                Err(_) => bad.push(quote(item)),
            }
        }
        let found = found + items.count();
        let what = if found != 4 {
            Some(format!("expected 4 numbers (x, y, w, h), found {found}: {}", quote(line)))
        } else if !bad.is_empty() {
            Some(if bad.len() == 1 { format!("{} is not a number", bad[0]) } else { format!("{} are not numbers", bad.join(", ")) })
        } else {
            None
        };
        if let Some(what) = what {
            b = [f64::NAN; 4];
            out.problems.push(LineProblem { line: i + 1, what });
        }
        out.boxes.push(b);
        out.lines.push(i + 1);
    }
    out
}

/// Parses one number per non-empty line (confidences, per-frame times). Never fails.
pub fn parse_value_rows(text: &str) -> ValueRows {
    let mut out = ValueRows::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let v = line.parse::<f64>().unwrap_or_else(|_| {
            out.problems.push(LineProblem { line: i + 1, what: format!("{} is not a number", quote(line)) });
            f64::NAN
        });
        out.values.push(v);
        out.lines.push(i + 1);
    }
    out
}

/// The largest result file read: the annotation cap
/// ([`crate::data::sequence::MAX_ANNOTATION_BYTES`], 256 MiB), a hundred times the longest
/// benchmark sequence's boxes. A larger file is not results, and reading it whole would take
/// that much memory.
pub(crate) const MAX_RESULT_BYTES: u64 = crate::data::sequence::MAX_ANNOTATION_BYTES;

/// Reads a file's bytes as text for the lenient parsers: bytes that are not UTF-8 become U+FFFD
/// and then fail to parse on their line, instead of failing the whole file unnamed. A file over
/// [`MAX_RESULT_BYTES`] is an error naming it, read no further than the cap.
fn read_text(path: &Path) -> Result<String> {
    Ok(String::from_utf8_lossy(&crate::base::fs::read_capped(path, MAX_RESULT_BYTES, "result file")?).into_owned())
}

/// Reads a box file with [`parse_box_rows`]; only a file that cannot be read is an error.
pub(crate) fn read_box_rows(path: &Path) -> Result<BoxRows> {
    Ok(parse_box_rows(&read_text(path)?))
}

/// Reads a value file with [`parse_value_rows`]; only a file that cannot be read is an error.
pub(crate) fn read_value_rows(path: &Path) -> Result<ValueRows> {
    Ok(parse_value_rows(&read_text(path)?))
}
