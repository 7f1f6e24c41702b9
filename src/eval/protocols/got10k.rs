//! The GOT-10k toolkit (validation split): AO, SR0.5 and SR0.75 over every scored frame, with
//! `cover.label` choosing the frames and `meta_info.ini` bounding the boxes.

use anyhow::{Context, Result, bail};

use super::common::{DatasetScore, PlotSpec, ProtocolSpec, Scorer, SequenceResults, grid, seq_dir};
use crate::data::sequence::read_labels;
use crate::eval::measures::{Issues, got10k_score, got10k_sequence};

pub(super) const SPEC: ProtocolSpec = ProtocolSpec {
    name: "got10k",
    aliases: &[],
    columns: &["AO", "SR0.5", "SR0.75"],
    plots: &[PlotSpec { file: "success", title: "Success plot (GOT-10k)", x_label: "overlap threshold", curve: 0, legend_column: 0 }],
    scores_missing: false,
    attributes: false,
    scorer: || Box::new(Got10k::default()),
};

/// Every scored frame's IoU, over the dataset.
#[derive(Default)]
struct Got10k {
    ious: Vec<f64>,
}

/// What the GOT-10k protocol reads beside a sequence's ground truth.
struct Extras {
    /// The visible ratio per frame, 0..8 (`cover.label`); 0 frames are not scored.
    cover: Vec<u8>,
    /// The image (width, height) from `meta_info.ini`, when it is there; boxes are clipped to it.
    bound: Option<(f64, f64)>,
}

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
    let meta = std::fs::read_to_string(dir.join("meta_info.ini")).unwrap_or_default();
    let bound = meta.lines().find_map(|l| {
        let v = l.strip_prefix("resolution:")?.trim().trim_start_matches('(').trim_end_matches(')');
        let (w, h) = v.split_once(',')?;
        Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
    });
    Ok(Extras { cover, bound })
}

impl Scorer for Got10k {
    fn sequence(&mut self, r: SequenceResults) -> Result<Option<Issues>> {
        let Some(pred) = &r.pred else { return Ok(None) };
        let Extras { cover, bound } = extras(&r)?;
        let (v, issues) =
            got10k_sequence(pred, &r.seq.ground_truth, &cover, bound).map_err(|e| anyhow::anyhow!("{}: {e}", r.file.display()))?;
        self.ious.extend(v);
        Ok(Some(issues))
    }

    fn finish(self: Box<Self>) -> Result<DatasetScore> {
        let g = got10k_score(&self.ious);
        let x = grid(101, 1.0);
        let n = self.ious.len().max(1) as f64;
        let y = x.iter().map(|&th| self.ious.iter().filter(|&&v| v > th).count() as f64 / n).collect();
        Ok(DatasetScore { values: vec![100.0 * g.ao, 100.0 * g.sr50, 100.0 * g.sr75], curves: vec![(x, y)], per_sequence: vec![] })
    }
}
