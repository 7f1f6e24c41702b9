//! The measures of the multi-modal benchmarks ViPT reports, from their published definitions:
//!
//! - **RGBT234: MPR / MSR** (Li et al., "RGB-T object tracking: benchmark and baseline", PR
//!   2019). Each frame has a visible and an infrared ground truth; a frame's centre error is the
//!   smaller of the two errors and its overlap the larger of the two overlaps ("maximum"
//!   precision/success). MPR is the precision at 20 px, MSR the area under the success curve
//!   (thresholds 0, 0.05, …, 1). Overlaps follow OTB's `calcRectInt` (inclusive pixels).
//! - **LasHeR: PR / NPR / SR** and **VisEvent: precision / success**: the OTB measures on one
//!   ground truth (see [`super::measures::pytracking_sequence`]).
//! - **DepthTrack / VOT-RGBD: precision, recall, F-score** (Lukežič et al., "CDTB", ICCV 2019;
//!   the VOT long-term measures). With the tracker's confidence c_t and a threshold τ, over the
//!   frames after the first: Pr(τ) is the mean overlap of the frames with c_t ≥ τ (a box while
//!   the target is absent overlaps 0; no such frame gives Pr = 1), Re(τ) the overlap summed over
//!   those frames divided by the number of frames where the target is present. Both are
//!   averaged over sequences per τ; F(τ) = 2·Pr·Re / (Pr + Re); the reported F is the largest,
//!   with Pr and Re at that τ. Overlaps are VOT's (continuous areas). Thresholds are the VOT toolkit's: +∞, then 98 quantiles of all
//!   the tracker's confidences, then −∞.

use super::measures::{Rect, ScoreError, centre_error, continuous_overlap, mean_curve, pytracking_iou};

/// Overlap of two regions as the VOT toolkit computes it: continuous areas (no +1 pixel).
pub fn vot_iou(a: Rect, b: Rect) -> f64 {
    let (inter, union) = continuous_overlap(a, b);
    if union > 0.0 { inter / union } else { 0.0 }
}

fn valid(r: Rect) -> bool {
    r.iter().all(|v| v.is_finite()) && r[2] > 0.0 && r[3] > 0.0
}

/// One sequence's RGBT234 curves: success at thresholds 0, 0.05, …, 1 (21) and precision at
/// 0, 1, …, 50 px (51), as fractions of the frames with a valid ground truth in either
/// modality.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxCurves {
    /// Maximum success rate per overlap threshold.
    pub success: Vec<f64>,
    /// Maximum precision rate per distance threshold.
    pub precision: Vec<f64>,
}

impl MaxCurves {
    /// MSR ×100: the mean of the success curve.
    pub fn msr(&self) -> f64 {
        100.0 * self.success.iter().sum::<f64>() / self.success.len() as f64
    }
    /// MPR ×100: precision at 20 px (NaN for the empty mean of no sequence).
    pub fn mpr(&self) -> f64 {
        100.0 * self.precision.get(20).copied().unwrap_or(f64::NAN)
    }
    /// The frame-count-independent mean over sequences.
    pub fn mean(all: &[MaxCurves]) -> MaxCurves {
        MaxCurves { success: mean_curve(all, |c| &c.success), precision: mean_curve(all, |c| &c.precision) }
    }
}

/// RGBT234's maximum precision / success on one sequence. Frame 0 (the given box) counts, as
/// in the toolkit. Errors name the first mismatch in lengths. A predicted row with a NaN fails
/// its frame (no overlap, no centre within any distance); frames where neither ground truth is
/// a box are not counted.
pub fn rgbt_sequence(pred: &[Rect], gt_visible: &[Rect], gt_infrared: &[Rect]) -> Result<MaxCurves, ScoreError> {
    if gt_visible.len() != gt_infrared.len() {
        return Err(ScoreError::Modalities { visible: gt_visible.len(), infrared: gt_infrared.len() });
    }
    if pred.len() != gt_visible.len() {
        return Err(ScoreError::Rows { rows: pred.len(), frames: gt_visible.len(), rule: "frames" });
    }
    let (mut overlaps, mut errors) = (Vec::new(), Vec::new());
    for ((p, v), i) in pred.iter().zip(gt_visible).zip(gt_infrared) {
        let gts: Vec<Rect> = [*v, *i].into_iter().filter(|g| valid(*g)).collect();
        if gts.is_empty() {
            continue;
        }
        overlaps.push(gts.iter().map(|g| pytracking_iou(*p, *g)).fold(0.0, f64::max));
        errors.push(gts.iter().map(|g| centre_error(*p, *g)).fold(f64::INFINITY, f64::min));
    }
    let n = overlaps.len().max(1) as f64;
    let success = (0..21).map(|k| overlaps.iter().filter(|&&o| o > 0.05 * k as f64).count() as f64 / n).collect();
    let precision = (0..51).map(|k| errors.iter().filter(|&&e| e <= k as f64).count() as f64 / n).collect();
    Ok(MaxCurves { success, precision })
}

/// The VOT toolkit's confidence thresholds: +∞, up to `resolution − 2` quantiles of the
/// confidences (descending), −∞.
/// A `resolution` under 3 leaves no room for quantiles: only ±∞.
pub fn vot_thresholds(confidences: &[f64], resolution: usize) -> Vec<f64> {
    let mut s: Vec<f64> = confidences.iter().copied().filter(|c| !c.is_nan()).collect();
    s.sort_by(|a, b| b.total_cmp(a));
    let k = resolution.saturating_sub(2);
    let mut t = if k == 0 {
        Vec::new()
    } else if s.len() > k {
        let delta = (s.len() / k) as f64;
        (0..k)
            .map(|i| {
                let x = delta + (s.len() as f64 - 2.0 * delta) * i as f64 / (k - 1) as f64;
                s[(x.round_ties_even() as usize).min(s.len() - 1)]
            })
            .collect()
    } else {
        s
    };
    t.insert(0, f64::INFINITY);
    t.push(f64::NEG_INFINITY);
    t
}

/// One sequence's tracking precision and recall per threshold (frame 0 excluded).
pub fn pr_sequence(pred: &[Rect], confidence: &[f64], gt: &[Rect], thresholds: &[f64]) -> Result<(Vec<f64>, Vec<f64>), ScoreError> {
    if pred.len() != gt.len() || confidence.len() != gt.len() {
        return Err(ScoreError::Confidences { boxes: pred.len(), confidences: confidence.len(), frames: gt.len() });
    }
    let frames = 1..gt.len();
    let overlap: Vec<f64> = frames.clone().map(|t| if valid(gt[t]) && valid(pred[t]) { vot_iou(pred[t], gt[t]) } else { 0.0 }).collect();
    let present = frames.clone().filter(|&t| valid(gt[t])).count().max(1) as f64;
    let conf: Vec<f64> = frames.map(|t| confidence[t]).collect();
    let mut pr = Vec::with_capacity(thresholds.len());
    let mut re = Vec::with_capacity(thresholds.len());
    for &th in thresholds {
        let (mut n, mut sum) = (0usize, 0.0);
        for (o, c) in overlap.iter().zip(&conf) {
            if *c >= th {
                n += 1;
                sum += o;
            }
        }
        if n == 0 {
            pr.push(1.0);
            re.push(0.0);
        } else {
            pr.push(sum / n as f64);
            re.push(sum / present);
        }
    }
    Ok((pr, re))
}

/// (precision, recall, F-score) ×100 from per-sequence curves at shared thresholds.
/// Curves of unequal lengths (never made here) are read up to the shortest.
pub fn f_score(curves: &[(Vec<f64>, Vec<f64>)]) -> (f64, f64, f64) {
    if curves.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let n = curves.len() as f64;
    let k = curves.iter().map(|c| c.0.len().min(c.1.len())).min().unwrap_or(0);
    let mut best = (0.0, 0.0, -1.0);
    for i in 0..k {
        let pr = curves.iter().map(|c| c.0[i]).sum::<f64>() / n;
        let re = curves.iter().map(|c| c.1[i]).sum::<f64>() / n;
        let f = if pr + re > 0.0 { 2.0 * pr * re / (pr + re) } else { 0.0 };
        if f > best.2 {
            best = (pr, re, f);
        }
    }
    (100.0 * best.0, 100.0 * best.1, 100.0 * best.2)
}
