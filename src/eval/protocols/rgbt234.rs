//! RGBT234: maximum precision rate and maximum success rate, each frame scored against the
//! closer of the visible and infrared ground truths (`infrared.txt` beside `groundtruth.txt`).

use anyhow::{Result, bail};

use super::common::{DatasetScore, PlotSpec, ProtocolSpec, Scorer, SequenceResults, grid, seq_dir};
use crate::data::sequence::read_boxes;
use crate::eval::measures::Issues;
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
    curves: Vec<MaxCurves>,
    per_sequence: Vec<(String, f64)>,
}

impl Scorer for Rgbt234 {
    fn sequence(&mut self, r: SequenceResults) -> Result<Option<Issues>> {
        let Some(pred) = &r.pred else { return Ok(None) };
        let ir = seq_dir(r.seq)?.join("infrared.txt");
        if !ir.is_file() {
            bail!("the rgbt234 protocol needs {} (the infrared ground truth)", ir.display());
        }
        let c = rgbt_sequence(pred, &r.seq.ground_truth, &read_boxes(&ir)?).map_err(|e| anyhow::anyhow!("{}: {e}", r.file.display()))?;
        self.per_sequence.push((r.seq.name.clone(), c.msr()));
        self.curves.push(c);
        Ok(Some(Issues::default()))
    }

    fn finish(self: Box<Self>) -> Result<DatasetScore> {
        if self.curves.is_empty() {
            return Ok(DatasetScore { values: vec![f64::NAN; 2], ..Default::default() });
        }
        let m = MaxCurves::mean(&self.curves);
        Ok(DatasetScore {
            values: vec![m.mpr(), m.msr()],
            curves: vec![(grid(21, 1.0), m.success.clone()), (grid(51, 50.0), m.precision.clone())],
            per_sequence: self.per_sequence,
        })
    }
}
