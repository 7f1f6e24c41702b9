//! RGBT234: maximum precision rate and maximum success rate, each frame scored against the
//! closer of the visible and infrared ground truths (`infrared.txt` beside `groundtruth.txt`).
//!
//! A sequence without results, or with a row count other than the ground truth's, is left out
//! (under `--partial`); a row that is not a box fails its frame.

use std::collections::BTreeSet;

use anyhow::{Result, bail};

use super::common::{DatasetScore, Outcome, PlotSpec, ProtocolSpec, Scorer, SequenceResults, grid, nan_bad_rows, no_results, seq_dir};
use crate::data::sequence::read_boxes;
use crate::eval::measures::{Issues, ScoreError};
use crate::eval::multimodal::{MaxCurves, rgbt_sequence};

pub(super) const SPEC: ProtocolSpec = ProtocolSpec {
    name: "rgbt234",
    aliases: &[],
    columns: &["MPR", "MSR"],
    plots: &[
        PlotSpec { file: "success", title: "Success plot", x_label: "overlap threshold", curve: 0, legend_column: 1 },
        PlotSpec { file: "precision", title: "Precision plot", x_label: "location error threshold (px)", curve: 1, legend_column: 0 },
    ],
    scores_missing: false,
    attributes: true,
    scorer: || Box::new(Rgbt234::default()),
};

#[derive(Default)]
struct Rgbt234 {
    curves: Vec<(String, MaxCurves)>,
}

impl Scorer for Rgbt234 {
    fn sequence(&mut self, r: SequenceResults) -> Result<Outcome> {
        let ir = seq_dir(r.seq)?.join("infrared.txt");
        if !ir.is_file() {
            bail!("the rgbt234 protocol needs {} (the infrared ground truth)", ir.display());
        }
        let infrared = read_boxes(&ir)?;
        let Some(pred) = &r.pred else { return Ok(no_results(&r)) };
        let mut issues = Issues::default();
        issues.bad_rows(pred, |_| "scored as a failure".into());
        Ok(match rgbt_sequence(&nan_bad_rows(pred), &r.seq.ground_truth, &infrared) {
            Ok(c) => {
                self.curves.push((r.seq.name.clone(), c));
                Outcome::scored(issues)
            }
            Err(e @ ScoreError::Modalities { .. }) => bail!("{}: {e}", ir.display()),
            Err(e) => Outcome::left_out(format!("{}: {e}", r.file.display())),
        })
    }

    fn finish(self: Box<Self>, left_out: &BTreeSet<String>) -> DatasetScore {
        let kept: Vec<(String, MaxCurves)> = self.curves.into_iter().filter(|(n, _)| !left_out.contains(n)).collect();
        if kept.is_empty() {
            return DatasetScore { values: vec![f64::NAN; 2], ..Default::default() };
        }
        let per_sequence = kept.iter().map(|(n, c)| (n.clone(), c.msr())).collect();
        let curves: Vec<MaxCurves> = kept.into_iter().map(|(_, c)| c).collect();
        let m = MaxCurves::mean(&curves);
        DatasetScore {
            values: vec![m.mpr(), m.msr()],
            curves: vec![(grid(21, 1.0), m.success.clone()), (grid(51, 50.0), m.precision.clone())],
            per_sequence,
        }
    }
}
