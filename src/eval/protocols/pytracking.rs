//! pytracking's protocols on OTB-style datasets, LaSOT and UAV123: success AUC, OP50/OP75,
//! precision at 20 px and normalised precision, averaged over sequences. LaSOT scores only the
//! frames where the target is visible (`full_occlusion.txt`, `out_of_view.txt`).
//!
//! Incomplete results, as pytracking counts them (see [`pytracking_sequence`]): a sequence
//! without results is left out of every tracker's score (pytracking's `skip_missing_seq`);
//! short files are padded with failures (LaSOT: left out, pytracking refuses them), long ones
//! truncated; a row that is not a box fails its frame.

use std::collections::BTreeSet;

use anyhow::{Result, bail};

use super::common::{DatasetScore, Outcome, PlotSpec, ProtocolSpec, Scorer, SequenceResults, grid, no_results, seq_dir};
use crate::eval::measures::{Curves, PytrackingDataset, ScoreError, pytracking_sequence};

const COLUMNS: &[&str] = &["AUC", "OP50", "OP75", "P@20", "P_norm"];
/// Success, precision and normalised precision, with AUC, P@20 and P_norm in the legends.
const PLOTS: [PlotSpec; 3] = super::common::three_plots([0, 3, 4]);

pub(super) const OTB: ProtocolSpec = ProtocolSpec {
    name: "otb",
    // LasHeR's PR/NPR/SR and VisEvent's precision/success are the OTB measures.
    aliases: &["nfs", "tnl2k", "lasher", "visevent"],
    columns: COLUMNS,
    plots: &PLOTS,
    scores_missing: false,
    attributes: true,
    scorer: || Box::new(Pytracking::new(PytrackingDataset::Otb)),
};

pub(super) const LASOT: ProtocolSpec = ProtocolSpec {
    name: "lasot",
    aliases: &[],
    columns: COLUMNS,
    plots: &PLOTS,
    scores_missing: false,
    attributes: true,
    scorer: || Box::new(Pytracking::new(PytrackingDataset::Lasot)),
};

pub(super) const UAV: ProtocolSpec = ProtocolSpec {
    name: "uav",
    aliases: &[],
    columns: COLUMNS,
    plots: &PLOTS,
    scores_missing: false,
    attributes: true,
    scorer: || Box::new(Pytracking::new(PytrackingDataset::Uav)),
};

struct Pytracking {
    dataset: PytrackingDataset,
    /// Each scored sequence's name and curves.
    curves: Vec<(String, Curves)>,
}

impl Pytracking {
    fn new(dataset: PytrackingDataset) -> Self {
        Self { dataset, curves: Vec::new() }
    }
}

impl Scorer for Pytracking {
    fn sequence(&mut self, r: SequenceResults) -> Result<Outcome> {
        let visible = if self.dataset == PytrackingDataset::Lasot {
            let d = seq_dir(r.seq)?;
            let (occ, oov) = (d.join("full_occlusion.txt"), d.join("out_of_view.txt"));
            if !occ.is_file() || !oov.is_file() {
                bail!(
                    "the lasot protocol needs {} and {} (target visibility); use --protocol otb for a dataset without them",
                    occ.display(),
                    oov.display()
                );
            }
            // The sequence reader read both flags into `visible` (with the boxes' validity, which
            // pytracking also requires).
            Some(r.seq.visible.clone())
        } else {
            None
        };
        let Some(pred) = &r.pred else { return Ok(no_results(&r)) };
        Ok(match pytracking_sequence(pred, &r.seq.ground_truth, visible.as_deref(), self.dataset) {
            Ok((c, issues)) => {
                self.curves.push((r.seq.name.clone(), c));
                Outcome::scored(issues)
            }
            Err(e @ ScoreError::EmptyGroundTruth) => bail!("{}: {e}", r.seq.gt_path.as_deref().unwrap_or(r.file).display()),
            Err(e) => Outcome::left_out(format!("{}: {e}; pytracking refuses such a file", r.file.display())),
        })
    }

    fn finish(self: Box<Self>, left_out: &BTreeSet<String>) -> DatasetScore {
        let kept: Vec<(String, Curves)> = self.curves.into_iter().filter(|(n, _)| !left_out.contains(n)).collect();
        if kept.is_empty() {
            return DatasetScore { values: vec![f64::NAN; COLUMNS.len()], ..Default::default() };
        }
        let per_sequence = kept.iter().map(|(n, c)| (n.clone(), c.auc())).collect();
        let curves: Vec<Curves> = kept.into_iter().map(|(_, c)| c).collect();
        let m = Curves::mean(&curves);
        DatasetScore {
            values: vec![m.auc(), m.op50(), m.op75(), m.prec20(), m.norm_prec20()],
            curves: vec![
                (grid(21, 1.0), m.success.clone()),
                (grid(51, 50.0), m.precision.clone()),
                (grid(51, 0.5), m.norm_precision.clone()),
            ],
            per_sequence,
        }
    }
}
