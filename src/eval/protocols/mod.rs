//! The scoring protocols of `trackflow analyze` and `trackflow evaluate`, one file each. A
//! protocol is a [`ProtocolSpec`] (its names, table columns and plots) and a [`Scorer`] that is
//! fed one sequence at a time and then gives the dataset's numbers. Adding a protocol is a new
//! file here and one line in [`PROTOCOLS`]; the metric arithmetic itself lives in
//! [`super::measures`] and [`super::multimodal`].

mod depthtrack;
mod got10k;
mod pytracking;
mod rgbt234;
mod trackingnet;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::measures::{Issues, Rect};
use crate::data::sequence::Sequence;

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

/// Every protocol, in the order help texts list them.
pub static PROTOCOLS: &[&ProtocolSpec] =
    &[&got10k::SPEC, &pytracking::OTB, &pytracking::LASOT, &pytracking::UAV, &trackingnet::SPEC, &rgbt234::SPEC, &depthtrack::SPEC];

/// A protocol chosen by name.
#[derive(Clone, Copy)]
pub struct Protocol(&'static ProtocolSpec);

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl PartialEq for Protocol {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Protocol {
    /// pytracking's OTB protocol (success AUC, OP50/75, precision at 20 px), which `evaluate` uses.
    pub const OTB: Protocol = Protocol(&pytracking::OTB);

    /// Parses a protocol name or alias.
    pub fn parse(s: &str) -> Result<Self> {
        PROTOCOLS.iter().find(|p| p.name == s || p.aliases.contains(&s)).map(|p| Protocol(p)).with_context(|| {
            let names: Vec<&str> = PROTOCOLS.iter().flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied())).collect();
            format!("unknown protocol `{s}`: {}", names.join(", "))
        })
    }

    /// Its description.
    pub fn spec(self) -> &'static ProtocolSpec {
        self.0
    }

    /// Column names of the table.
    pub fn columns(self) -> &'static [&'static str] {
        self.0.columns
    }
}

/// The folder a sequence's ground truth sits in.
fn seq_dir(s: &Sequence) -> Result<PathBuf> {
    s.gt_path.as_ref().and_then(|p| p.parent().map(Path::to_path_buf)).context("no sequence folder")
}

/// An x grid of `n` points from 0 to `hi`.
fn grid(n: usize, hi: f64) -> Vec<f64> {
    (0..n).map(|k| hi * k as f64 / (n - 1) as f64).collect()
}

/// The three OTB-style plots (success, precision, normalised precision), each legend showing
/// the column `legend` names.
const fn three_plots(legend: [usize; 3]) -> [PlotSpec; 3] {
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
