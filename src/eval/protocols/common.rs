//! What every protocol file shares: the [`Scorer`] trait, the [`ProtocolSpec`] and
//! [`PlotSpec`] descriptions, and small helpers.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

use crate::data::sequence::Sequence;
use crate::eval::measures::{Issues, Rect, box_problem};

/// One sequence's results as a scorer sees them.
pub struct SequenceResults<'a> {
    /// The sequence, with its ground truth.
    pub seq: &'a Sequence,
    /// The predicted boxes, one per row of the result file (a row that did not parse is
    /// `[NaN; 4]`); `None` when there is no result file.
    pub pred: Option<Vec<Rect>>,
    /// The result file (named in messages).
    pub file: &'a Path,
    /// The tracker's results folder (for files beside the boxes, such as confidences).
    pub dir: &'a Path,
}

/// What a scorer made of one sequence's results.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// What was wrong or noteworthy in the result file's rows, and how each was counted.
    pub issues: Issues,
    /// Problems in the tracker's other files for this sequence (confidences): each a message
    /// naming its file and line, and how it was counted.
    pub other: Vec<(String, String)>,
    /// Why the sequence cannot be scored under the protocol's rules, naming the file (no result
    /// file, a row count the toolkit refuses, a confidence file that does not match). A sequence
    /// any tracker cannot be scored on is left out of every tracker's score, as pytracking's
    /// `skip_missing_seq` does, so that rows stay comparable.
    pub left_out: Option<String>,
}

impl Outcome {
    /// Scored, with these issues.
    pub fn scored(issues: Issues) -> Self {
        Self { issues, ..Default::default() }
    }
    /// Not scorable, for this reason.
    pub fn left_out(why: String) -> Self {
        Self { left_out: Some(why), ..Default::default() }
    }
}

/// What a scorer gives for one tracker over the dataset.
#[derive(Debug, Clone, Default)]
pub struct DatasetScore {
    /// Values in the protocol's column order (×100).
    pub values: Vec<f64>,
    /// Curves for the plots: (x grid, y), indexed as the protocol's [`PlotSpec::curve`].
    pub curves: Vec<(Vec<f64>, Vec<f64>)>,
    /// Per-sequence success AUC ×100, for attribute breakdowns (protocols that have one).
    pub per_sequence: Vec<(String, f64)>,
}

/// A protocol's scoring of one tracker. Total: no result file, ground truth or row makes it
/// panic; what it cannot score is said in the [`Outcome`].
pub trait Scorer {
    /// Scores one sequence. An error is a problem of the dataset, not of the results (a label
    /// file the protocol needs is missing or malformed): `--partial` does not score past it.
    fn sequence(&mut self, r: SequenceResults) -> Result<Outcome>;
    /// The dataset's numbers over the sequences scored, less those in `left_out` (sequences some
    /// tracker's results could not be scored on). Values are NaN when nothing is left.
    fn finish(self: Box<Self>, left_out: &BTreeSet<String>) -> DatasetScore;
}

/// The predicted rows with every row that is not a box ([`box_problem`]) made NaN, for
/// measures whose arithmetic fails a NaN frame but would score a negative size as something.
pub(super) fn nan_bad_rows(pred: &[Rect]) -> Vec<Rect> {
    pred.iter().map(|r| if box_problem(r).is_some() { [f64::NAN; 4] } else { *r }).collect()
}

/// A sequence without a result file, where the protocol does not score one.
pub(super) fn no_results(r: &SequenceResults) -> Outcome {
    Outcome::left_out(format!("{}: no result file", r.file.display()))
}

/// A plot in a protocol's report.
#[derive(Debug, Clone, Copy)]
pub struct PlotSpec {
    /// File stem (`success` → `success.svg`, `success.png`).
    pub file: &'static str,
    /// Title.
    pub title: &'static str,
    /// x axis label.
    pub x_label: &'static str,
    /// Which of [`DatasetScore::curves`].
    pub curve: usize,
    /// Which column's value the legend shows beside each tracker.
    pub legend_column: usize,
}

/// One protocol: its names, its columns, its report and its scorer.
pub struct ProtocolSpec {
    /// The name `--protocol` takes.
    pub name: &'static str,
    /// Other names for it (benchmarks scored the same way).
    pub aliases: &'static [&'static str],
    /// Column names of the table, in [`DatasetScore::values`] order.
    pub columns: &'static [&'static str],
    /// The report's plots.
    pub plots: &'static [PlotSpec],
    /// Whether sequences without a result file are scored (as the TrackingNet devkit scores them
    /// as zero boxes) rather than left out.
    pub scores_missing: bool,
    /// Whether the report breaks success AUC down by sequence attribute.
    pub attributes: bool,
    /// A fresh scorer for one tracker.
    pub scorer: fn() -> Box<dyn Scorer>,
}

/// The folder a sequence's ground truth sits in.
pub(super) fn seq_dir(s: &Sequence) -> Result<&Path> {
    s.dir().context("no sequence folder")
}

/// An x grid of `n` points from 0 to `hi`.
pub(super) fn grid(n: usize, hi: f64) -> Vec<f64> {
    (0..n).map(|k| hi * k as f64 / (n - 1) as f64).collect()
}

/// The three OTB-style plots (success, precision, normalised precision), each legend showing
/// the column `legend` names.
pub(super) const fn three_plots(legend: [usize; 3]) -> [PlotSpec; 3] {
    [
        PlotSpec { file: "success", title: "Success plot", x_label: "overlap threshold", curve: 0, legend_column: legend[0] },
        PlotSpec {
            file: "precision",
            title: "Precision plot",
            x_label: "location error threshold (px)",
            curve: 1,
            legend_column: legend[1],
        },
        PlotSpec {
            file: "norm_precision",
            title: "Normalised precision plot",
            x_label: "normalised distance threshold",
            curve: 2,
            legend_column: legend[2],
        },
    ]
}
