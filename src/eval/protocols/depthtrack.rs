//! DepthTrack and VOT-RGBD's long-term measures: tracking precision, recall and F-score over
//! confidence thresholds taken from all of the tracker's confidences, so sequences are kept
//! until the end.

use std::path::PathBuf;

use anyhow::Result;

use super::common::{DatasetScore, ProtocolSpec, Scorer, SequenceResults};
use crate::eval::measures::{Issues, Rect};
use crate::eval::multimodal::{f_score, pr_sequence, vot_thresholds};

pub(super) const SPEC: ProtocolSpec = ProtocolSpec {
    name: "depthtrack",
    aliases: &["vot-rgbd"],
    columns: &["Pr", "Re", "F"],
    plots: &[],
    scores_missing: false,
    attributes: false,
    scorer: || Box::new(DepthTrack::default()),
};

/// One sequence's results, kept until the thresholds are known.
struct Run {
    pred: Vec<Rect>,
    conf: Vec<f64>,
    gt: Vec<Rect>,
    file: PathBuf,
}

#[derive(Default)]
struct DepthTrack {
    runs: Vec<Run>,
}

impl Scorer for DepthTrack {
    fn sequence(&mut self, r: SequenceResults) -> Result<Option<Issues>> {
        let Some(pred) = r.pred else { return Ok(None) };
        let conf = crate::data::results::read_confidences(
            r.dir,
            &r.seq.name,
            "the depthtrack protocol needs the confidences trackflow's writer writes",
        )?;
        self.runs.push(Run { pred, conf, gt: r.seq.ground_truth.clone(), file: r.file.to_path_buf() });
        Ok(Some(Issues::default()))
    }

    fn finish(self: Box<Self>) -> Result<DatasetScore> {
        // The first frame's confidence is the init box's, not a prediction's.
        let all: Vec<f64> = self.runs.iter().flat_map(|r| r.conf.iter().skip(1).copied()).collect();
        let th = vot_thresholds(&all, 100);
        let per_seq = self
            .runs
            .iter()
            .map(|r| pr_sequence(&r.pred, &r.conf, &r.gt, &th).map_err(|e| anyhow::anyhow!("{}: {e}", r.file.display())))
            .collect::<Result<Vec<_>>>()?;
        let (pr, re, f) = f_score(&per_seq);
        Ok(DatasetScore { values: vec![pr, re, f], curves: vec![], per_sequence: vec![] })
    }
}
