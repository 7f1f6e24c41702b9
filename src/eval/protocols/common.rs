//! What every protocol file shares: the [`Scorer`] trait, the [`ProtocolSpec`] and
//! [`PlotSpec`] descriptions, and small helpers.

use std::path::Path;

use anyhow::{Context, Result};

use crate::data::sequence::Sequence;
use crate::eval::measures::{Issues, Rect};

/// One sequence's results as a scorer sees them.
pub struct SequenceResults<'a> {
    /// The sequence, with its ground truth.
    pub seq: &'a Sequence,
    /// The predicted boxes; `None` when there is no result file.
    pub pred: Option<Vec<Rect>>,
    /// The result file (named in errors).
    pub file: &'a Path,
    /// The tracker's results folder (for files beside the boxes, such as confidences).
    pub dir: &'a Path,
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

/// A protocol's scoring of one tracker.
pub trait Scorer {
    /// Scores one sequence: the problems found in its result file, or `None` when the sequence
    /// is not scored (no result file, where the protocol skips those).
    fn sequence(&mut self, r: SequenceResults) -> Result<Option<Issues>>;
    /// The dataset's numbers once every sequence was seen.
    fn finish(self: Box<Self>) -> Result<DatasetScore>;
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
    /// as zero boxes) rather than left out; rows are then always comparable.
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
