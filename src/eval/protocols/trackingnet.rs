//! The TrackingNet devkit: success, precision and normalised precision, with a sequence that
//! has no result file scored as zero boxes, missing rows as failures and extra rows ignored, as
//! the devkit does (see [`trackingnet_sequence`]); each is still a problem, named.

use std::collections::BTreeSet;

use anyhow::{Result, bail};

use super::common::{DatasetScore, Outcome, ProtocolSpec, Scorer, SequenceResults};
use crate::eval::measures::{TrackingNetCurves, linspace21, mean_curve, trackingnet_score, trackingnet_sequence};

pub(super) const SPEC: ProtocolSpec = ProtocolSpec {
    name: "trackingnet",
    aliases: &[],
    columns: &["Success", "Precision", "N.Prec"],
    plots: &super::common::three_plots([0, 1, 2]),
    scores_missing: true,
    attributes: false,
    scorer: || Box::new(TrackingNet::default()),
};

#[derive(Default)]
struct TrackingNet {
    curves: Vec<(String, TrackingNetCurves)>,
}

impl Scorer for TrackingNet {
    fn sequence(&mut self, r: SequenceResults) -> Result<Outcome> {
        if r.seq.ground_truth.is_empty() {
            bail!("{}: empty ground truth", r.seq.gt_path.as_deref().unwrap_or(r.file).display());
        }
        let (c, issues) = trackingnet_sequence(r.pred.as_deref(), &r.seq.ground_truth);
        self.curves.push((r.seq.name.clone(), c));
        Ok(Outcome::scored(issues))
    }

    fn finish(self: Box<Self>, left_out: &BTreeSet<String>) -> DatasetScore {
        let tn: Vec<TrackingNetCurves> = self.curves.into_iter().filter(|(n, _)| !left_out.contains(n)).map(|(_, c)| c).collect();
        if tn.is_empty() {
            return DatasetScore { values: vec![f64::NAN; 3], ..Default::default() };
        }
        let (a, b, c) = trackingnet_score(&tn);
        let curves = vec![
            (linspace21(1.0), mean_curve(&tn, |c| &c.success)),
            (linspace21(50.0), mean_curve(&tn, |c| &c.precision)),
            (linspace21(0.5), mean_curve(&tn, |c| &c.norm_precision)),
        ];
        DatasetScore { values: vec![a, b, c], curves, per_sequence: vec![] }
    }
}
