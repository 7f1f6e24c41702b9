//! pytracking's protocols on OTB-style datasets, LaSOT and UAV123: success AUC, OP50/OP75,
//! precision at 20 px and normalised precision, averaged over sequences. LaSOT scores only the
//! frames where the target is visible (`full_occlusion.txt`, `out_of_view.txt`).

use anyhow::{Result, bail};

use super::common::{DatasetScore, PlotSpec, ProtocolSpec, Scorer, SequenceResults, grid, seq_dir};
use crate::eval::measures::{Curves, Issues, PytrackingDataset, pytracking_sequence};

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
    curves: Vec<Curves>,
    per_sequence: Vec<(String, f64)>,
}

impl Pytracking {
    fn new(dataset: PytrackingDataset) -> Self {
        Self { dataset, curves: Vec::new(), per_sequence: Vec::new() }
    }
}

impl Scorer for Pytracking {
    fn sequence(&mut self, r: SequenceResults) -> Result<Option<Issues>> {
        let Some(pred) = &r.pred else { return Ok(None) };
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
        let (c, issues) = pytracking_sequence(pred, &r.seq.ground_truth, visible.as_deref(), self.dataset)
            .map_err(|e| anyhow::anyhow!("{}: {e}", r.file.display()))?;
        self.per_sequence.push((r.seq.name.clone(), c.auc()));
        self.curves.push(c);
        Ok(Some(issues))
    }

    fn finish(self: Box<Self>) -> Result<DatasetScore> {
        if self.curves.is_empty() {
            return Ok(DatasetScore { values: vec![f64::NAN; COLUMNS.len()], ..Default::default() });
        }
        let m = Curves::mean(&self.curves);
        Ok(DatasetScore {
            values: vec![m.auc(), m.op50(), m.op75(), m.prec20(), m.norm_prec20()],
            curves: vec![
                (grid(21, 1.0), m.success.clone()),
                (grid(51, 50.0), m.precision.clone()),
                (grid(51, 0.5), m.norm_precision.clone()),
            ],
            per_sequence: self.per_sequence,
        })
    }
}
