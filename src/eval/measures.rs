//! Tracking measures (overlap, success and precision curves, AO) as the public toolkits compute
//! them, per toolkit (`shared/spec/evaluation.md` has the toolkit sources these follow). Named
//! `measures` so that `metrics` keeps one meaning: training's step numbers (the `metrics` node
//! and message type). The protocols built on these are in [`super::protocols`]:
//!
//! | protocol | toolkit | frames | IoU | score |
//! |---|---|---|---|---|
//! | `got10k` | got10k 0.1.3 `ExperimentGOT10k` | frame 0 dropped, `cover == 0` dropped, boxes clipped to the image | continuous, `+eps`, clipped to `[0,1]` | frame-weighted AO, SR0.5, SR0.75 (`>`) |
//! | `otb`, `lasot` | pytracking `extract_results` | frame 0 forced to GT; invalid GT (any of x,y,w,h ≤ 0, LaSOT: not visible) fails | `+1`-pixel form | sequence mean of the 21-point success curve (`>`), P@20 px, P_norm@0.20 |
//! | `trackingnet` | TrackingNet-devkit `metrics.py` | frame 0 forced to GT | integers (`np.round`), `+1` form | trapezoid AUCs of success (`>=`), precision and normalised precision |
//!
//! Bad predictions are not silent: [`Issues`] names every row that was NaN, negative, of zero
//! size, missing or extra, with the treatment the protocol applies.

use std::fmt;

/// A box `[x, y, w, h]`.
pub type Rect = [f64; 4];

/// What a protocol did to rows it could not use as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Issues {
    /// (0-based frame index, what was wrong and what was done). Shown 1-based, as the frame's
    /// line in the result file and its number in GOT-10k's and OTB's file names.
    pub rows: Vec<(usize, String)>,
}

impl Issues {
    fn note(&mut self, frame: usize, what: impl Into<String>) {
        self.rows.push((frame, what.into()));
    }
    /// Whether nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl fmt::Display for Issues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in &self.rows {
            writeln!(f, "  frame {} (line {}): {w}", i + 1, i + 1)?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// GOT-10k

/// GOT-10k's IoU (`rect_iou`), on boxes already clipped to the image when a bound is given.
pub fn got10k_iou(a: Rect, b: Rect) -> f64 {
    let (inter, union) = continuous_overlap(a, b);
    (inter / (union + f64::EPSILON)).clamp(0.0, 1.0)
}

/// Intersection and union areas of two boxes as continuous regions (no +1 pixel), as the
/// GOT-10k and VOT toolkits measure them; they differ only in how they divide.
pub fn continuous_overlap(a: Rect, b: Rect) -> (f64, f64) {
    let ix = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let iy = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    (inter, a[2] * a[3] + b[2] * b[3] - inter)
}

/// GOT-10k's image-bound clipping: `x = clip(x, 0, W); w = clip(w, 0, W − x)`, same for y, h.
pub fn got10k_clip(r: Rect, width: f64, height: f64) -> Rect {
    let x = r[0].clamp(0.0, width);
    let w = r[2].clamp(0.0, width - x);
    let y = r[1].clamp(0.0, height);
    let h = r[3].clamp(0.0, height - y);
    [x, y, w, h]
}

/// Why a sequence's results cannot be scored: rows that do not match its frames, or nothing to
/// score. The caller adds the file's name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    /// The results have the wrong number of rows for the protocol.
    #[error("{rows} predicted rows for {frames} {rule}")]
    Rows {
        /// Rows in the result file.
        rows: usize,
        /// Frames in the sequence.
        frames: usize,
        /// The protocol's rule, for the message.
        rule: &'static str,
    },
    /// GOT-10k's `cover.label` does not match the ground truth.
    #[error("cover.label has {rows} rows for {frames} frames")]
    Cover {
        /// Rows in cover.label.
        rows: usize,
        /// Frames in the sequence.
        frames: usize,
    },
    /// The ground truth has no rows.
    #[error("empty ground truth")]
    EmptyGroundTruth,
    /// RGBT234's two ground truths differ in length.
    #[error("{visible} visible boxes but {infrared} infrared ones")]
    Modalities {
        /// Visible ground-truth rows.
        visible: usize,
        /// Infrared ground-truth rows.
        infrared: usize,
    },
    /// Boxes and confidences (long-term protocols) do not match the frames.
    #[error("{boxes} boxes and {confidences} confidences for {frames} frames")]
    Confidences {
        /// Result boxes.
        boxes: usize,
        /// Confidence values.
        confidences: usize,
        /// Frames in the sequence.
        frames: usize,
    },
}

/// One GOT-10k sequence: the IoUs that count (frame 0 and `cover == 0` frames dropped).
///
/// The toolkit asserts equal lengths; here a length mismatch is an error. NaN predictions
/// make the toolkit's mean NaN; here they score IoU 0 and are reported.
pub fn got10k_sequence(pred: &[Rect], gt: &[Rect], cover: &[u8], bound: Option<(f64, f64)>) -> Result<(Vec<f64>, Issues), ScoreError> {
    if pred.len() != gt.len() {
        return Err(ScoreError::Rows {
            rows: pred.len(),
            frames: gt.len(),
            rule: "ground-truth rows (GOT-10k needs one per frame, frame 0 included)",
        });
    }
    if cover.len() != gt.len() {
        return Err(ScoreError::Cover { rows: cover.len(), frames: gt.len() });
    }
    let mut issues = Issues::default();
    let mut ious = Vec::new();
    for i in 1..gt.len() {
        if cover[i] == 0 {
            continue;
        }
        let (mut p, mut g) = (pred[i], gt[i]);
        if p.iter().any(|v| !v.is_finite()) {
            issues.note(i, "prediction is NaN or infinite: scored as IoU 0");
            ious.push(0.0);
            continue;
        }
        if p[2] < 0.0 || p[3] < 0.0 {
            issues.note(i, "negative width or height: clipped to an empty box as the toolkit does (IoU 0)");
        }
        if let Some((w, h)) = bound {
            p = got10k_clip(p, w, h);
            g = got10k_clip(g, w, h);
        }
        ious.push(got10k_iou(p, g));
    }
    Ok((ious, issues))
}

/// GOT-10k scores over a dataset: IoUs of all sequences concatenated (frame-weighted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Got10kScore {
    /// Average overlap.
    pub ao: f64,
    /// Fraction of frames with IoU > 0.5.
    pub sr50: f64,
    /// Fraction of frames with IoU > 0.75.
    pub sr75: f64,
    /// Frames scored.
    pub frames: usize,
}

/// Scores concatenated IoUs.
pub fn got10k_score(ious: &[f64]) -> Got10kScore {
    let n = ious.len().max(1) as f64;
    Got10kScore {
        ao: ious.iter().sum::<f64>() / n,
        sr50: ious.iter().filter(|&&v| v > 0.5).count() as f64 / n,
        sr75: ious.iter().filter(|&&v| v > 0.75).count() as f64 / n,
        frames: ious.len(),
    }
}

// ------------------------------------------------------------------------------------------
// OTB / LaSOT as pytracking computes them

/// Which dataset's quirks pytracking applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PytrackingDataset {
    /// OTB, NfS, TNL2K and others: invalid frames fail IoU and centre error, succeed in
    /// normalised precision.
    Otb,
    /// LaSOT: frames without a visible target fail all three; a short result is an error.
    Lasot,
    /// UAV123: invalid frames also succeed in centre precision.
    Uav,
}

/// Per-sequence curves, as pytracking builds them.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// Success at IoU thresholds 0, 0.05, …, 1 (21 values; IoU `>` threshold).
    pub success: Vec<f64>,
    /// Precision at 0, 1, …, 50 px (51 values; error `<=` threshold).
    pub precision: Vec<f64>,
    /// Normalised precision at 0, 0.01, …, 0.5 (51 values).
    pub norm_precision: Vec<f64>,
}

impl Curves {
    /// Success AUC ×100 (mean of the 21 success values).
    pub fn auc(&self) -> f64 {
        100.0 * self.success.iter().sum::<f64>() / self.success.len() as f64
    }
    /// OP50 ×100.
    pub fn op50(&self) -> f64 {
        100.0 * self.success[10]
    }
    /// OP75 ×100.
    pub fn op75(&self) -> f64 {
        100.0 * self.success[15]
    }
    /// Precision at 20 px ×100.
    pub fn prec20(&self) -> f64 {
        100.0 * self.precision[20]
    }
    /// Normalised precision at 0.20 ×100.
    pub fn norm_prec20(&self) -> f64 {
        100.0 * self.norm_precision[20]
    }

    /// Mean of several sequences' curves (pytracking's dataset curve).
    pub fn mean(all: &[Curves]) -> Curves {
        Curves {
            success: mean_curve(all, |c| &c.success),
            precision: mean_curve(all, |c| &c.precision),
            norm_precision: mean_curve(all, |c| &c.norm_precision),
        }
    }
}

/// The point-wise mean of one curve over sequences (every toolkit averages sequences with equal
/// weight); empty without sequences.
pub fn mean_curve<T>(all: &[T], curve: impl Fn(&T) -> &[f64]) -> Vec<f64> {
    let Some(first) = all.first() else { return Vec::new() };
    (0..curve(first).len()).map(|k| all.iter().map(|c| curve(c)[k]).sum::<f64>() / all.len() as f64).collect()
}

fn centre(r: Rect) -> (f64, f64) {
    (r[0] + 0.5 * (r[2] - 1.0), r[1] + 0.5 * (r[3] - 1.0))
}

/// Distance between the centres of two boxes (OTB's and pytracking's centre location error).
pub fn centre_error(a: Rect, b: Rect) -> f64 {
    let (pc, gc) = (centre(a), centre(b));
    ((pc.0 - gc.0).powi(2) + (pc.1 - gc.1).powi(2)).sqrt()
}

/// pytracking's IoU: `tl = max, br = min(x+w−1)`, `inter = prod(clamp(br−tl+1, 0))`.
pub fn pytracking_iou(a: Rect, b: Rect) -> f64 {
    let iw = ((a[0] + a[2] - 1.0).min(b[0] + b[2] - 1.0) - a[0].max(b[0]) + 1.0).max(0.0);
    let ih = ((a[1] + a[3] - 1.0).min(b[1] + b[3] - 1.0) - a[1].max(b[1]) + 1.0).max(0.0);
    let inter = iw * ih;
    inter / (a[2] * a[3] + b[2] * b[3] - inter)
}

/// One sequence's curves under pytracking's rules. `visible` (LaSOT) marks frames whose target
/// is in view; `None` means all.
pub fn pytracking_sequence(
    pred: &[Rect],
    gt: &[Rect],
    visible: Option<&[bool]>,
    ds: PytrackingDataset,
) -> Result<(Curves, Issues), ScoreError> {
    let n = gt.len();
    if n == 0 {
        return Err(ScoreError::EmptyGroundTruth);
    }
    let mut issues = Issues::default();
    let mut p: Vec<Rect> = pred.to_vec();
    // In pytracking's order: invalid values, zero sizes, then lengths, then frame 0.
    for (i, r) in p.iter_mut().enumerate().skip(1) {
        if r.iter().any(|v| v.is_nan()) || r[2] < 0.0 || r[3] < 0.0 {
            // pytracking refuses the whole file ('Invalid results'); we fail only the frame.
            issues.note(i, "prediction is NaN or has a negative size (pytracking would refuse the file): scored as a failure");
            *r = [f64::NAN; 4];
        }
    }
    for i in 1..p.len() {
        let r = p[i];
        if (r[2] == 0.0 || r[3] == 0.0) && gt.get(i).is_some_and(|g| g.iter().all(|v| !v.is_nan())) {
            issues.note(i, "prediction has zero size: replaced by the previous frame's box, as pytracking does");
            p[i] = p[i - 1];
        }
    }
    if p.len() > n {
        issues.note(n, format!("{} extra rows: ignored", p.len() - n));
        p.truncate(n);
    }
    if p.len() < n {
        if ds == PytrackingDataset::Lasot {
            return Err(ScoreError::Rows { rows: p.len(), frames: n, rule: "frames (LaSOT results must cover every frame)" });
        }
        issues.note(p.len(), format!("{} rows missing: filled with zero boxes (failures)", n - p.len()));
        p.resize(n, [0.0; 4]);
    }
    p[0] = gt[0];
    let mut ious = Vec::with_capacity(n);
    let mut errs = Vec::with_capacity(n);
    let mut nerrs = Vec::with_capacity(n);
    for i in 0..n {
        let (a, g) = (p[i], gt[i]);
        let valid = g.iter().all(|&v| v > 0.0) && visible.is_none_or(|v| v.get(i).copied().unwrap_or(true));
        if !valid {
            ious.push(-1.0);
            errs.push(if ds == PytrackingDataset::Uav { -1.0 } else { f64::INFINITY });
            let seen = visible.is_none_or(|v| v.get(i).copied().unwrap_or(true));
            nerrs.push(if ds == PytrackingDataset::Lasot && !seen { f64::INFINITY } else { -1.0 });
            continue;
        }
        if a.iter().any(|v| v.is_nan()) {
            ious.push(-1.0);
            errs.push(f64::INFINITY);
            nerrs.push(f64::INFINITY);
            continue;
        }
        ious.push(pytracking_iou(a, g));
        errs.push(centre_error(a, g));
        let (pc, gc) = (centre(a), centre(g));
        let (dx, dy) = (pc.0 / g[2] - gc.0 / g[2], pc.1 / g[3] - gc.1 / g[3]);
        nerrs.push((dx * dx + dy * dy).sqrt());
    }
    let frac = |pred: &dyn Fn(usize) -> bool| (0..n).filter(|&i| pred(i)).count() as f64 / n as f64;
    let success = (0..21).map(|k| k as f64 * 0.05).map(|t| frac(&|i| ious[i] > t)).collect();
    let precision = (0..51).map(|t| frac(&|i| errs[i] <= t as f64)).collect();
    let norm_precision = (0..51).map(|t| frac(&|i| nerrs[i] <= t as f64 / 100.0)).collect();
    Ok((Curves { success, precision, norm_precision }, issues))
}

// ------------------------------------------------------------------------------------------
// TrackingNet

/// NumPy's `np.round`: half to even.
fn np_round(x: f64) -> f64 {
    x.round_ties_even()
}

/// TrackingNet's per-sequence curves (21 thresholds each).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingNetCurves {
    /// Success (IoU `>=` 0, 0.05, …, 1).
    pub success: Vec<f64>,
    /// Precision (distance `<=` 0, 2.5, …, 50 px).
    pub precision: Vec<f64>,
    /// Normalised precision (`<=` 0, 0.025, …, 0.5).
    pub norm_precision: Vec<f64>,
}

/// One TrackingNet sequence. A missing submission is all-zero boxes, as the devkit does.
pub fn trackingnet_sequence(pred: Option<&[Rect]>, gt: &[Rect]) -> (TrackingNetCurves, Issues) {
    let n = gt.len();
    let mut issues = Issues::default();
    let mut p: Vec<Rect> = match pred {
        Some(p) => {
            if p.len() > n {
                issues.note(n, format!("{} extra rows: ignored", p.len() - n));
            }
            p.iter().take(n).copied().collect()
        }
        None => {
            issues.note(0, "no result file: every frame scored with a zero box, as the devkit does");
            vec![[0.0; 4]; n]
        }
    };
    if p.len() < n {
        // The devkit aligns the two files by row index, so missing rows are NaN: failures.
        issues.note(p.len(), format!("{} rows missing: scored as failures, as the devkit does", n - p.len()));
        p.resize(n, [f64::NAN; 4]);
    }
    let g: Vec<Rect> = gt.iter().map(|r| r.map(np_round)).collect();
    let mut p: Vec<Rect> = p.iter().map(|r| r.map(np_round)).collect();
    if n > 0 {
        p[0] = g[0];
    }
    let (mut ious, mut dist, mut ndist) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for i in 0..n {
        let (a, s) = (g[i], p[i]);
        let iw = np_round((a[0] + a[2] - 1.0).min(s[0] + s[2] - 1.0) - a[0].max(s[0]) + 1.0).max(0.0);
        let ih = np_round((a[1] + a[3] - 1.0).min(s[1] + s[3] - 1.0) - a[1].max(s[1]) + 1.0).max(0.0);
        let inter = iw * ih;
        ious[i] = inter / (a[2] * a[3] + s[2] * s[3] - inter); // 0/0 = NaN fails every threshold
        let (ca, cs) = ((a[0] + (a[2] + 1.0) / 2.0, a[1] + (a[3] + 1.0) / 2.0), (s[0] + (s[2] + 1.0) / 2.0, s[1] + (s[3] + 1.0) / 2.0));
        dist[i] = ((ca.0 - cs.0).powi(2) + (ca.1 - cs.1).powi(2)).sqrt();
        ndist[i] = (((ca.0 - cs.0) / a[2]).powi(2) + ((ca.1 - cs.1) / a[3]).powi(2)).sqrt();
    }
    let frac = |v: &[f64], t: f64, ge: bool| v.iter().filter(|&&x| if ge { x >= t } else { x <= t }).count() as f64 / n.max(1) as f64;
    let lin = |hi: f64| linspace21(hi).into_iter();
    (
        TrackingNetCurves {
            success: lin(1.0).map(|t| frac(&ious, t, true)).collect(),
            precision: lin(50.0).map(|t| frac(&dist, t, false)).collect(),
            norm_precision: lin(0.5).map(|t| frac(&ndist, t, false)).collect(),
        },
        issues,
    )
}

/// `np.linspace(0, hi, 21)`, with NumPy's arithmetic (`k·step`, the last value exactly `hi`).
pub fn linspace21(hi: f64) -> Vec<f64> {
    let step = hi / 20.0;
    (0..21).map(|k| if k == 20 { hi } else { k as f64 * step }).collect()
}

/// `np.trapz(y, x=linspace(0, 1, 21))`.
pub fn trapz21(y: &[f64]) -> f64 {
    let x = linspace21(1.0);
    (0..y.len() - 1).map(|i| (x[i + 1] - x[i]) * (y[i] + y[i + 1]) / 2.0).sum()
}

/// TrackingNet's dataset scores ×100: (success, precision, normalised precision).
pub fn trackingnet_score(all: &[TrackingNetCurves]) -> (f64, f64, f64) {
    let mean = |f: fn(&TrackingNetCurves) -> &Vec<f64>| -> Vec<f64> {
        (0..21).map(|k| all.iter().map(|c| f(c)[k]).sum::<f64>() / all.len().max(1) as f64).collect()
    };
    (100.0 * trapz21(&mean(|c| &c.success)), 100.0 * trapz21(&mean(|c| &c.precision)), 100.0 * trapz21(&mean(|c| &c.norm_precision)))
}
