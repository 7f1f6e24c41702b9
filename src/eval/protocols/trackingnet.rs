//! The TrackingNet devkit: success, precision and normalised precision, with a sequence that
//! has no result file scored as zero boxes, as the devkit does.

use anyhow::Result;

use super::common::{DatasetScore, ProtocolSpec, Scorer, SequenceResults};
use crate::eval::measures::{Issues, TrackingNetCurves, linspace21, mean_curve, trackingnet_score, trackingnet_sequence};

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
    curves: Vec<TrackingNetCurves>,
}

impl Scorer for TrackingNet {
    fn sequence(&mut self, r: SequenceResults) -> Result<Option<Issues>> {
        let (c, issues) = trackingnet_sequence(r.pred.as_deref(), &r.seq.ground_truth);
        self.curves.push(c);
        Ok(Some(issues))
    }

    fn finish(self: Box<Self>) -> Result<DatasetScore> {
        let (a, b, c) = trackingnet_score(&self.curves);
        let tn = &self.curves;
        let curves = if tn.is_empty() {
            vec![]
        } else {
            vec![
                (linspace21(1.0), mean_curve(tn, |c| &c.success)),
                (linspace21(50.0), mean_curve(tn, |c| &c.precision)),
                (linspace21(0.5), mean_curve(tn, |c| &c.norm_precision)),
            ]
        };
        Ok(DatasetScore { values: vec![a, b, c], curves, per_sequence: vec![] })
    }
}
