//! DepthTrack and VOT-RGBD's long-term measures: tracking precision, recall and F-score over
//! confidence thresholds taken from all of the tracker's confidences, so sequences are kept
//! until the end.
//!
//! A sequence without results, without a confidence per frame, or with a row count other than
//! the ground truth's is left out (under `--partial`); a row that is not a box overlaps nothing;
//! a confidence that is not a number never passes a threshold (the frame reports nothing).

use std::collections::BTreeSet;

use anyhow::Result;

use super::common::{DatasetScore, Outcome, ProtocolSpec, Scorer, SequenceResults, nan_bad_rows, no_results};
use crate::data::results::{confidence_path, read_value_rows};
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
    name: String,
    pred: Vec<Rect>,
    conf: Vec<f64>,
    gt: Vec<Rect>,
}

#[derive(Default)]
struct DepthTrack {
    runs: Vec<Run>,
}

impl Scorer for DepthTrack {
    fn sequence(&mut self, r: SequenceResults) -> Result<Outcome> {
        let Some(pred) = &r.pred else { return Ok(no_results(&r)) };
        let path = confidence_path(r.dir, &r.seq.name);
        if !path.is_file() {
            return Ok(Outcome::left_out(format!(
                "{}: no confidence file (the depthtrack protocol needs the confidences trackflow's writer writes)",
                path.display()
            )));
        }
        let conf = match read_value_rows(&path) {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::left_out(format!("{e:#}"))),
        };
        let (n, frames) = (pred.len(), r.seq.ground_truth.len());
        if n != frames || conf.values.len() != frames {
            return Ok(Outcome::left_out(format!(
                "{}: {n} boxes and {} confidences ({}) for {frames} frames",
                r.file.display(),
                conf.values.len(),
                path.display()
            )));
        }
        let mut issues = Issues::default();
        issues.bad_rows(pred, |i| if i == 0 { "not scored (frame 1 is the initialisation)".into() } else { "scored as overlap 0".into() });
        let mut other = Vec::new();
        let parse: std::collections::HashMap<usize, &str> = conf.problems.iter().map(|p| (p.line, p.what.as_str())).collect();
        for (i, (v, line)) in conf.values.iter().zip(&conf.lines).enumerate() {
            if v.is_nan() && i > 0 {
                let what = parse.get(line).copied().unwrap_or("NaN");
                other.push((format!("{}:{line}: {what}", path.display()), "the frame passes no threshold (it reports nothing)".into()));
            }
        }
        self.runs.push(Run { name: r.seq.name.clone(), pred: nan_bad_rows(pred), conf: conf.values, gt: r.seq.ground_truth.clone() });
        Ok(Outcome { issues, other, left_out: None })
    }

    fn finish(self: Box<Self>, left_out: &BTreeSet<String>) -> DatasetScore {
        let runs: Vec<&Run> = self.runs.iter().filter(|r| !left_out.contains(&r.name)).collect();
        if runs.is_empty() {
            return DatasetScore { values: vec![f64::NAN; 3], ..Default::default() };
        }
        // The first frame's confidence is the init box's, not a prediction's.
        let all: Vec<f64> = runs.iter().flat_map(|r| r.conf.iter().skip(1).copied()).collect();
        let th = vot_thresholds(&all, 100);
        // Lengths were checked in `sequence`, so every run gives curves.
        let per_seq: Vec<(Vec<f64>, Vec<f64>)> = runs.iter().filter_map(|r| pr_sequence(&r.pred, &r.conf, &r.gt, &th).ok()).collect();
        let (pr, re, f) = f_score(&per_seq);
        DatasetScore { values: vec![pr, re, f], curves: vec![], per_sequence: vec![] }
    }
}
