//! `trackflow analyze`: scores result folders against a dataset's ground truth with a named
//! protocol, and prints trackers side by side, with every problem in the result files named.
//!
//! # Incomplete results
//!
//! A score is only the toolkit's score when every sequence has a result file with one box per
//! ground-truth row. Anything else is a *problem*, and by default an error: nothing is scored,
//! and every problem of every file of every tracker is listed in the one error (file and line),
//! each with how `--partial` would count it. The problems:
//!
//! - a sequence without a result file, or whose file cannot be read;
//! - a line that is not four numbers;
//! - a row that is not a box: a NaN or infinite value, or a negative width or height;
//! - more or fewer rows than the ground truth has (frame 0 included).
//!
//! With [`Options::partial`] (`--partial`) the results are scored anyway, each problem counted
//! the way the protocol's toolkit counts it (a row that is not a box always fails its frame:
//! it is never rewarded, and never dropped from the denominator), and the table is labelled
//! partial, with every problem listed under it. A sequence that cannot be scored at all under
//! the toolkit's rules (no result file, a row count the toolkit refuses) is left out of *every*
//! tracker's score, as pytracking's `skip_missing_seq` does, so that rows stay comparable;
//! TrackingNet's devkit scores those itself (zero boxes, failing rows), so nothing is left out
//! there.
//!
//! *Notes* are not problems: what a toolkit does to input it accepts (pytracking replaces a
//! zero-size box by the previous one; GOT-10k drops a frame whose ground truth is not a box, as
//! it drops `cover == 0` frames). They are listed under the table and never change the exit
//! status. Problems of the dataset itself (a missing `cover.label`, a malformed ground truth)
//! are errors even with `--partial`: the dataset, not the results, has to be fixed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::measures::{Issue, Issues, NOT_FINITE, Severity};
pub use super::protocols::Protocol;
use super::protocols::{DatasetScore, Outcome, SequenceResults};
use crate::data::results::{BoxRows, read_box_rows};
use crate::data::sequence::{Layout, Sequence, discover};

/// How [`analyze_with`] treats incomplete results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Score incomplete or malformed results anyway, each problem counted as the protocol's
    /// toolkit counts it, and label the table partial. Without it any problem is an error.
    pub partial: bool,
}

/// One tracker's scores.
#[derive(Debug, Clone)]
pub struct TrackerScores {
    /// Name shown in the table.
    pub name: String,
    /// Values in the protocol's column order (×100).
    pub values: Vec<f64>,
    /// Sequences scored.
    pub sequences: usize,
    /// Sequences in the dataset.
    pub(crate) total: usize,
    /// Sequences left out of every tracker's score (some tracker's results cannot be scored on
    /// them); the same for every tracker of one run. Only ever non-empty with `--partial`.
    pub(crate) left_out: Vec<String>,
    /// Every problem in this tracker's results, with how it was counted. Only ever non-empty
    /// with `--partial`: without it, problems are an error.
    pub problems: Vec<String>,
    /// What the protocol did to input its toolkit accepts (zero-size boxes, ground-truth rows
    /// without a target); never an error.
    pub notes: Vec<String>,
    /// Dataset curves for the plots: (x grid, y) for success, precision, normalised precision.
    pub curves: Vec<(Vec<f64>, Vec<f64>)>,
    /// Per-sequence success AUC ×100 (pytracking protocols), for attribute breakdowns.
    pub(crate) per_sequence: Vec<(String, f64)>,
}

impl TrackerScores {
    /// Whether this score is partial: problems were scored past, or sequences left out.
    pub(crate) fn is_partial(&self) -> bool {
        !self.problems.is_empty() || !self.left_out.is_empty()
    }
}

/// A tracker argument, `name=folder` or `folder`: split on the first `=` only when the part
/// before it is a plain name (no path separator) and the whole argument is not an existing
/// path, so that a folder whose own name holds `=` (`runs/lr=1e-4`, or `lr=1e-4` that exists)
/// is a folder. The name of a bare folder is its last component.
pub fn tracker_arg(arg: &str) -> (String, PathBuf) {
    if !Path::new(arg).exists()
        && let Some((name, path)) = arg.split_once('=')
        && !name.is_empty()
        && !name.contains(['/', '\\'])
        && !path.is_empty()
    {
        return (name.to_string(), PathBuf::from(path));
    }
    let name = Path::new(arg).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| arg.to_string());
    (name, PathBuf::from(arg))
}

/// Scores every tracker's results on every sequence of the dataset; strict: any problem in the
/// results is an error (see the module docs).
pub fn analyze(protocol: Protocol, dataset: &Path, trackers: &[(String, PathBuf)]) -> Result<Vec<TrackerScores>> {
    analyze_with(protocol, dataset, trackers, Options::default())
}

/// One problem or note, as listed: where and what, and how the protocol counted it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    /// `file:line: what` (or `file: what`).
    text: String,
    /// How it was (or, under the strict default, would be) counted.
    treatment: String,
}

impl Finding {
    fn new(text: impl Into<String>, treatment: impl Into<String>) -> Self {
        Self { text: text.into(), treatment: treatment.into() }
    }
    /// As listed under a partial table: what was done.
    fn scored(&self) -> String {
        if self.treatment.is_empty() { self.text.clone() } else { format!("{}: {}", self.text, self.treatment) }
    }
    /// As listed in the strict error: what `--partial` would do.
    fn refused(&self) -> String {
        if self.treatment.is_empty() { self.text.clone() } else { format!("{} (--partial: {})", self.text, self.treatment) }
    }
}

/// How a left-out sequence counts.
const LEFT_OUT: &str = "the sequence is left out of every tracker's score";
/// How the rows of a left-out sequence count.
const NOT_SCORED: &str = "not scored (the sequence is left out)";
/// Groups of row findings listed per file before the rest are summarised by line number: a
/// garbage file of a million lines must not print a million lines.
const MAX_PER_FILE: usize = 20;

/// A row-level finding before consecutive rows with the same finding are merged.
struct RowFinding {
    line: Option<usize>,
    frame: usize,
    severity: Severity,
    what: String,
    treatment: String,
}

/// `a-b` or `a`.
fn span(a: usize, b: usize) -> String {
    if a == b { a.to_string() } else { format!("{a}-{b}") }
}

/// Numbers as ranges: `1-3, 7, 9-10`.
fn ranges(v: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(span(v[i], v[j]));
        i = j + 1;
    }
    out.join(", ")
}

/// Merges runs of consecutive frames with the same finding (`file:4-900: not a box … (897
/// rows)`), then caps what is listed per file (the rest named by line). Ground-truth findings
/// (`gt`) are named by frame: the ground truth's reader does not keep line numbers. The rows
/// are all of one severity, so that the cap never turns notes into problems.
fn merge(file: &Path, rows: Vec<RowFinding>, gt: bool) -> Vec<Finding> {
    /// The finding of a run's first row, and the (line, frame) of every row in the run.
    type Run = (RowFinding, Vec<(Option<usize>, usize)>);
    let mut groups: Vec<Run> = Vec::new();
    for r in rows {
        if let Some((first, members)) = groups.last_mut()
            && first.what == r.what
            && first.treatment == r.treatment
            && first.severity == r.severity
            && members.last().is_some_and(|&(_, f)| r.frame == f + 1)
        {
            members.push((r.line, r.frame));
            continue;
        }
        let at = (r.line, r.frame);
        groups.push((r, vec![at]));
    }
    let mut out = Vec::new();
    let mut rest: Vec<usize> = Vec::new();
    for (k, (first, members)) in groups.into_iter().enumerate() {
        if k >= MAX_PER_FILE {
            // Past the cap, only lines are named (frames where the file has no line).
            rest.extend(members.iter().map(|&(l, f)| l.unwrap_or(f + 1)));
            continue;
        }
        let ((l0, f0), (l1, f1)) = (members[0], members[members.len() - 1]);
        let (f0, f1) = (f0 + 1, f1 + 1);
        let at = match (gt, l0, l1) {
            (false, Some(a), Some(b)) if (a, b) == (f0, f1) => format!("{}:{}", file.display(), span(a, b)),
            (false, Some(a), Some(b)) => format!("{}:{}: frame(s) {}", file.display(), span(a, b), span(f0, f1)),
            // Not a row of the file (no file, rows missing): the message says which.
            (false, None, _) => file.display().to_string(),
            _ => format!("{}: frame(s) {}", file.display(), span(f0, f1)),
        };
        let rows = if members.len() > 1 { format!(" ({} rows)", members.len()) } else { String::new() };
        out.push(Finding::new(format!("{at}: {}{rows}", first.what), first.treatment));
    }
    if !rest.is_empty() {
        rest.sort_unstable();
        rest.dedup();
        out.push(Finding::new(
            format!("{}: {} more row(s) like these, lines {}", file.display(), rest.len(), ranges(&rest)),
            "each counted as the protocol counts its kind (listed above)",
        ));
    }
    out
}

/// Problems and notes of one sequence's results: the outcome's row issues placed on their lines
/// (a line that did not parse is named as such), its other problems, and why it was left out.
fn findings(seq: &Sequence, file: &Path, rows: Option<&BoxRows>, out: &Outcome) -> (Vec<Finding>, Vec<Finding>) {
    let (mut problems, mut notes) = (Vec::new(), Vec::new());
    let issues: Vec<Issue> = match (&out.left_out, rows) {
        (Some(why), rows) => {
            problems.push(Finding::new(why.clone(), LEFT_OUT));
            // The rows of a left-out file are still named: the next run should not find more.
            let mut bad = Issues::default();
            if let Some(r) = rows {
                bad.bad_rows(&r.boxes, |_| NOT_SCORED.into());
            }
            bad.rows
        }
        (None, _) => out.issues.rows.clone(),
    };
    let parse: HashMap<usize, &str> = rows.map(|r| r.problems.iter().map(|p| (p.line, p.what.as_str())).collect()).unwrap_or_default();
    let mut named: HashSet<usize> = HashSet::new();
    let (mut mine, mut gts) = (Vec::new(), Vec::new());
    for i in issues {
        if i.ground_truth {
            gts.push(RowFinding { line: None, frame: i.frame, severity: i.severity, what: i.what, treatment: i.treatment });
            continue;
        }
        let line = rows.and_then(|r| r.line(i.frame));
        // A line that did not parse is a NaN row to the protocol: named for what it is.
        let unparsed = line.filter(|_| i.what == NOT_FINITE).and_then(|l| parse.get(&l).map(|w| (l, w)));
        let what = match unparsed {
            Some((l, w)) => {
                named.insert(l);
                w.to_string()
            }
            None => i.what,
        };
        mine.push(RowFinding { line, frame: i.frame, severity: i.severity, what, treatment: i.treatment });
    }
    // Every line that did not parse is named, whatever the protocol made of it.
    if let Some(r) = rows {
        for p in r.problems.iter().filter(|p| !named.contains(&p.line)) {
            let frame = r.lines.iter().position(|&l| l == p.line).unwrap_or(0);
            let treatment = if out.left_out.is_some() { NOT_SCORED } else { "counted as a row that is not a box" };
            mine.push(RowFinding {
                line: Some(p.line),
                frame,
                severity: Severity::Problem,
                what: p.what.clone(),
                treatment: treatment.into(),
            });
        }
    }
    mine.sort_by_key(|r| r.frame);
    let gt_file = seq.gt_path.clone().unwrap_or_else(|| PathBuf::from(&seq.name));
    for (file, rows, gt) in [(file, mine, false), (gt_file.as_path(), gts, true)] {
        let (p, n): (Vec<RowFinding>, Vec<RowFinding>) = rows.into_iter().partition(|r| r.severity == Severity::Problem);
        problems.extend(merge(file, p, gt));
        notes.extend(merge(file, n, gt));
    }
    problems.extend(out.other.iter().map(|(t, how)| Finding::new(t.clone(), how.clone())));
    (problems, notes)
}

/// One tracker's run through the dataset, before the scores.
struct Run<'a> {
    name: &'a str,
    scorer: Box<dyn super::protocols::Scorer>,
    problems: Vec<Finding>,
    notes: Vec<Finding>,
}

/// Scores every tracker's results on every sequence of the dataset. Every problem of every
/// tracker is collected before anything is decided, so one run names them all; then, without
/// `opts.partial`, any problem is an error listing them (see the module docs).
pub fn analyze_with(protocol: Protocol, dataset: &Path, trackers: &[(String, PathBuf)], opts: Options) -> Result<Vec<TrackerScores>> {
    let seqs = discover(dataset, Layout::Auto)?;
    if seqs.is_empty() {
        bail!("{} holds no sequences to score", dataset.display());
    }
    // Problems no option scores past: a dataset the protocol cannot read, a folder that is not
    // there or holds no result at all. Deduplicated: dataset problems repeat for every tracker.
    let mut fatal: Vec<String> = Vec::new();
    let mut left_out: BTreeSet<String> = BTreeSet::new();
    let mut runs: Vec<Run> = Vec::new();
    for (name, dir) in trackers {
        if !dir.is_dir() {
            fatal.push(format!("{name}: results folder {} does not exist", dir.display()));
            continue;
        }
        let mut run = Run { name, scorer: (protocol.spec().scorer)(), problems: Vec::new(), notes: Vec::new() };
        let mut found = 0;
        for s in &seqs {
            let file = dir.join(format!("{}.txt", s.name));
            let rows = if file.is_file() {
                found += 1;
                match read_box_rows(&file) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        left_out.insert(s.name.clone());
                        run.problems.push(Finding::new(format!("{e:#}"), LEFT_OUT));
                        continue;
                    }
                }
            } else {
                None
            };
            let r = SequenceResults { seq: s, pred: rows.as_ref().map(|r| r.boxes.clone()), file: &file, dir };
            let out = match run.scorer.sequence(r) {
                Ok(o) => o,
                Err(e) => {
                    let e = format!("{e:#}");
                    if !fatal.contains(&e) {
                        fatal.push(e);
                    }
                    continue;
                }
            };
            if out.left_out.is_some() {
                left_out.insert(s.name.clone());
            }
            let (p, n) = findings(s, &file, rows.as_ref(), &out);
            run.problems.extend(p);
            run.notes.extend(n);
        }
        if found == 0 {
            // A score over no sequence (AO -0.00, AUC NaN) is no score: a wrong folder, most likely.
            fatal.push(format!(
                "{}: none of the {} sequences of {} has a result file here (expected e.g. {}.txt): nothing to score",
                dir.display(),
                seqs.len(),
                dataset.display(),
                seqs[0].name
            ));
            continue;
        }
        runs.push(run);
    }
    let problems: Vec<String> = runs.iter().flat_map(|r| r.problems.iter().map(Finding::refused)).collect();
    if !fatal.is_empty() {
        let mut all = fatal.clone();
        all.extend(problems);
        bail!("{} problem(s); nothing was scored:\n  {}", all.len(), all.join("\n  "));
    }
    if !opts.partial && !problems.is_empty() {
        let names: Vec<&str> = runs.iter().filter(|r| !r.problems.is_empty()).map(|r| r.name).collect();
        bail!(
            "{} problem(s) in the results of {}; nothing was scored (a score of incomplete results is not the toolkit's score). \
             Fix them, or pass --partial to score anyway, each counted as said:\n  {}",
            problems.len(),
            names.join(", "),
            problems.join("\n  ")
        );
    }
    if left_out.len() == seqs.len() {
        bail!(
            "nothing left to score: every sequence is left out, some tracker's results cannot be scored on it:\n  {}",
            runs.iter().flat_map(|r| r.problems.iter().map(Finding::scored)).collect::<Vec<_>>().join("\n  ")
        );
    }
    let mut out = Vec::new();
    for run in runs {
        let DatasetScore { values, curves, per_sequence } = run.scorer.finish(&left_out);
        out.push(TrackerScores {
            name: run.name.to_string(),
            values,
            sequences: seqs.len() - left_out.len(),
            total: seqs.len(),
            left_out: left_out.iter().cloned().collect(),
            problems: run.problems.iter().map(Finding::scored).collect(),
            notes: run.notes.iter().map(Finding::scored).collect(),
            curves,
            per_sequence,
        });
    }
    Ok(out)
}

/// Whether any of the scores is partial.
fn partial(scores: &[TrackerScores]) -> bool {
    scores.iter().any(TrackerScores::is_partial)
}

/// The table, then what was left out, wrong or noteworthy in each tracker's files. A partial
/// score says so first, before any number.
pub fn render(protocol: Protocol, scores: &[TrackerScores]) -> String {
    let mut s = String::new();
    if partial(scores) {
        let n: usize = scores.iter().map(|t| t.problems.len()).sum();
        s.push_str(&format!(
            "PARTIAL SCORE (--partial): the results are incomplete; {n} problem(s) are listed under the table with how each was counted. \
             These numbers are not the toolkit's score of complete results.\n"
        ));
    }
    s.push_str(&format!("{:<24} {:>7}", "tracker", "seqs"));
    for c in protocol.columns() {
        s.push_str(&format!(" {c:>9}"));
    }
    s.push('\n');
    for t in scores {
        let seqs = if t.sequences == t.total { t.sequences.to_string() } else { format!("{}/{}", t.sequences, t.total) };
        s.push_str(&format!("{:<24} {seqs:>7}", t.name));
        for v in &t.values {
            s.push_str(&format!(" {v:>9.2}"));
        }
        s.push('\n');
    }
    if let Some(t) = scores.iter().find(|t| !t.left_out.is_empty()) {
        s.push_str(&format!(
            "left out of every tracker's score: {} sequence(s), where some tracker's results cannot be scored: {}\n",
            t.left_out.len(),
            t.left_out.join(", ")
        ));
    }
    for t in scores.iter().filter(|t| !t.problems.is_empty()) {
        s.push_str(&format!("{}: {} problem(s):\n", t.name, t.problems.len()));
        for p in &t.problems {
            s.push_str(&format!("  {p}\n"));
        }
    }
    // Ground-truth notes are the same for every tracker: shown once.
    let mut shown: HashSet<&str> = HashSet::new();
    for t in scores {
        let notes: Vec<&String> = t.notes.iter().filter(|n| shown.insert(n.as_str())).collect();
        if !notes.is_empty() {
            s.push_str(&format!("{}: note(s):\n", t.name));
            for n in notes {
                s.push_str(&format!("  {n}\n"));
            }
        }
    }
    s
}

/// Per-sequence attributes: an `attrs.txt` in the sequence folder (OTB style: `SV, DEF, FM`),
/// else the LaSOT and UAV123 attribute tables in `configs/data_specs/`.
pub fn attributes(dataset: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let mut tables = std::collections::HashMap::new();
    for t in ["lasot_attributes.tsv", "uav123_attributes.tsv"] {
        let path = crate::base::resources::file("configs/data_specs").join(t);
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((name, tags)) = line.split_once('\t') {
                tables
                    .insert(name.to_string(), tags.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect::<Vec<_>>());
            }
        }
    }
    let mut out = Vec::new();
    for s in discover(dataset, Layout::Auto)? {
        let from_file = s.dir().and_then(|dir| std::fs::read_to_string(dir.join("attrs.txt")).ok());
        if let Some(text) = from_file {
            let tags = text.split([',', '\n', ' ', '\t']).map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect();
            out.push((s.name.clone(), tags));
        } else if let Some(tags) = tables.get(&s.name) {
            out.push((s.name.clone(), tags.clone()));
        }
    }
    Ok(out)
}

/// Writes a report folder: the table, success and precision plots (SVG and PNG), and the
/// per-attribute AUC breakdown when the dataset has `attrs.txt` files.
pub(crate) fn write_report(protocol: Protocol, dataset: &Path, scores: &[TrackerScores], dir: &Path) -> Result<Vec<PathBuf>> {
    use super::plot::{Plot, Series};
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let table = render(protocol, scores);
    let p = dir.join("table.txt");
    crate::base::fs::write_atomic(&p, table.as_bytes())?;
    written.push(p);
    for spec in protocol.spec().plots {
        let k = spec.curve;
        let Some(x) = scores.iter().find_map(|t| t.curves.get(k).map(|c| c.0.clone())) else { continue };
        // The legend lists trackers best first, by the score it shows.
        let mut ranked: Vec<(f64, Series)> = scores
            .iter()
            .filter_map(|t| {
                let y = t.curves.get(k)?.1.clone();
                let score = t.values.get(spec.legend_column).copied().unwrap_or(f64::NAN);
                Some((score, Series { label: format!("{} [{score:.1}]", t.name), y }))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        let series: Vec<Series> = ranked.into_iter().map(|(_, s)| s).collect();
        // A partial score's plot says so too: it may be looked at without the table.
        let title = if partial(scores) { format!("{} (partial)", spec.title) } else { spec.title.into() };
        let plot = Plot { title, x_label: spec.x_label.into(), y_label: "fraction of frames".into(), x, series, y_max: 1.0 };
        let svg = dir.join(format!("{}.svg", spec.file));
        crate::base::fs::write_atomic(&svg, plot.svg().as_bytes())?;
        let png = dir.join(format!("{}.png", spec.file));
        crate::base::draw::save_png(&plot.png_image(), &png)?;
        written.extend([svg, png]);
    }
    let attrs = attributes(dataset)?;
    if !attrs.is_empty() && protocol.spec().attributes {
        let mut tags: Vec<&String> = attrs.iter().flat_map(|(_, t)| t).collect();
        tags.sort();
        tags.dedup();
        let mut text = format!("{:<10} {:>5}", "attribute", "seqs");
        for t in scores {
            text.push_str(&format!(" {:>14}", t.name));
        }
        text.push('\n');
        for tag in tags {
            let seqs: Vec<&str> = attrs.iter().filter(|(_, t)| t.contains(tag)).map(|(n, _)| n.as_str()).collect();
            text.push_str(&format!("{tag:<10} {:>5}", seqs.len()));
            for t in scores {
                let v: Vec<f64> = t.per_sequence.iter().filter(|(n, _)| seqs.contains(&n.as_str())).map(|(_, a)| *a).collect();
                let auc = if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
                text.push_str(&format!(" {auc:>14.2}"));
            }
            text.push('\n');
        }
        let p = dir.join("attributes.txt");
        crate::base::fs::write_atomic(&p, text.as_bytes())?;
        written.push(p);
    }
    Ok(written)
}
