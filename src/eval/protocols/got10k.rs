//! The GOT-10k toolkit (validation split): AO, SR0.5 and SR0.75 over every scored frame, with
//! `cover.label` choosing the frames and `meta_info.ini` bounding the boxes.
//!
//! The toolkit refuses a sequence without results and a result file whose row count is not the
//! ground truth's; such a sequence is left out (under `--partial`). A row that is not a box
//! scores IoU 0; a ground-truth row that is not a box drops its frame as `cover == 0` does (see
//! [`got10k_sequence`]).

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};

use super::common::{DatasetScore, Outcome, PlotSpec, ProtocolSpec, Scorer, SequenceResults, grid, no_results, seq_dir};
use crate::data::sequence::read_labels;
use crate::eval::measures::{ScoreError, got10k_score, got10k_sequence};

pub(super) const SPEC: ProtocolSpec = ProtocolSpec {
    name: "got10k",
    aliases: &[],
    columns: &["AO", "SR0.5", "SR0.75"],
    plots: &[PlotSpec { file: "success", title: "Success plot (GOT-10k)", x_label: "overlap threshold", curve: 0, legend_column: 0 }],
    scores_missing: false,
    attributes: false,
    scorer: || Box::new(Got10k::default()),
};

/// Every scored frame's IoU, per sequence (concatenated over the dataset at the end).
#[derive(Default)]
struct Got10k {
    ious: Vec<(String, Vec<f64>)>,
}

/// What the GOT-10k protocol reads beside a sequence's ground truth.
struct Extras {
    /// The visible ratio per frame, 0..8 (`cover.label`); 0 frames are not scored.
    cover: Vec<u8>,
    /// The image (width, height) from `meta_info.ini`, when it is there; boxes are clipped to it.
    bound: Option<(f64, f64)>,
}

/// The dataset's side: an error here is the dataset's problem, not the results'.
fn extras(r: &SequenceResults) -> Result<Extras> {
    let dir = seq_dir(r.seq)?;
    let cover_path = dir.join("cover.label");
    if !cover_path.is_file() {
        bail!("the got10k protocol needs {} (visible ratio per frame), which is missing", cover_path.display());
    }
    let cover: Vec<u8> = read_labels(&cover_path)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| u8::try_from(v).with_context(|| format!("{}:{}: `{v}` is not 0..8", cover_path.display(), i + 1)))
        .collect::<Result<_>>()?;
    if cover.len() != r.seq.ground_truth.len() {
        bail!("{} has {} rows for {} ground-truth rows", cover_path.display(), cover.len(), r.seq.ground_truth.len());
    }
    let meta = std::fs::read_to_string(dir.join("meta_info.ini")).unwrap_or_default();
    let bound = meta.lines().find_map(|l| {
        let v = l.strip_prefix("resolution:")?.trim().trim_start_matches('(').trim_end_matches(')');
        let (w, h) = v.split_once(',')?;
        Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
    });
    Ok(Extras { cover, bound })
}

impl Scorer for Got10k {
    fn sequence(&mut self, r: SequenceResults) -> Result<Outcome> {
        let Extras { cover, bound } = extras(&r)?;
        let Some(pred) = &r.pred else { return Ok(no_results(&r)) };
        Ok(match got10k_sequence(pred, &r.seq.ground_truth, &cover, bound) {
            Ok((v, issues)) => {
                self.ious.push((r.seq.name.clone(), v));
                Outcome::scored(issues)
            }
            Err(e @ ScoreError::EmptyGroundTruth) => bail!("{}: {e}", r.seq.gt_path.as_deref().unwrap_or(r.file).display()),
            Err(e) => Outcome::left_out(format!("{}: {e}; the toolkit refuses such a file", r.file.display())),
        })
    }

    fn finish(self: Box<Self>, left_out: &BTreeSet<String>) -> DatasetScore {
        let ious: Vec<f64> = self.ious.into_iter().filter(|(n, _)| !left_out.contains(n)).flat_map(|(_, v)| v).collect();
        if ious.is_empty() {
            return DatasetScore { values: vec![f64::NAN; 3], ..Default::default() };
        }
        let g = got10k_score(&ious);
        let x = grid(101, 1.0);
        let n = ious.len() as f64;
        let y = x.iter().map(|&th| ious.iter().filter(|&&v| v > th).count() as f64 / n).collect();
        DatasetScore { values: vec![100.0 * g.ao, 100.0 * g.sr50, 100.0 * g.sr75], curves: vec![(x, y)], per_sequence: vec![] }
    }
}
