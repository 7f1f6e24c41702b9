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
//! Every function here is total: any float (NaN, ±∞, huge, negative), any lengths, no panic.
//! Rows that are not boxes are never silent: [`Issues`] names each one (frame, what, and how the
//! protocol counted it). Whether such a row is an error is the caller's call ([`Severity`]):
//! `trackflow analyze` refuses to score results with a [`Severity::Problem`] unless asked for a
//! partial score (see [`super::analyze`]).

use std::fmt;

/// A box `[x, y, w, h]`.
pub type Rect = [f64; 4];

/// Whether an [`Issue`] makes the results incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The results are incomplete or malformed here (a row that is not a box, rows missing or
    /// extra): the score is not the toolkit's score of complete results.
    Problem,
    /// The toolkit's own handling of an input it accepts (a zero-size prediction, a ground-truth
    /// row without a target): said, never an error.
    Note,
}

/// One thing a protocol did to a row it could not use as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// 0-based frame index (row of the result file; for [`Issue::ground_truth`], of the ground
    /// truth).
    pub frame: usize,
    /// Whether it makes the results incomplete.
    pub severity: Severity,
    /// Whether it is about the ground truth rather than the results (the same for every
    /// tracker, so shown once).
    pub ground_truth: bool,
    /// What was wrong.
    pub what: String,
    /// How the protocol counted it.
    pub(crate) treatment: String,
}

/// What a protocol did to rows it could not use as written, in frame order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Issues {
    /// The issues.
    pub rows: Vec<Issue>,
}

impl Issues {
    fn push(&mut self, frame: usize, severity: Severity, ground_truth: bool, what: impl Into<String>, treatment: impl Into<String>) {
        self.rows.push(Issue { frame, severity, ground_truth, what: what.into(), treatment: treatment.into() });
    }
    fn problem(&mut self, frame: usize, what: impl Into<String>, treatment: impl Into<String>) {
        self.push(frame, Severity::Problem, false, what, treatment);
    }
    fn note(&mut self, frame: usize, what: impl Into<String>, treatment: impl Into<String>) {
        self.push(frame, Severity::Note, false, what, treatment);
    }
    fn gt_note(&mut self, frame: usize, what: impl Into<String>, treatment: impl Into<String>) {
        self.push(frame, Severity::Note, true, what, treatment);
    }
    /// Names every row of `pred` that is not a box ([`box_problem`]), each counted as
    /// `treatment(frame)` says. Shared by the protocols so that they agree on what a bad row is.
    pub(crate) fn bad_rows(&mut self, pred: &[Rect], treatment: impl Fn(usize) -> String) {
        for (i, r) in pred.iter().enumerate() {
            if let Some(what) = box_problem(r) {
                self.problem(i, what, treatment(i));
            }
        }
    }
    /// Whether nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// Whether any issue makes the results incomplete.
    pub fn has_problems(&self) -> bool {
        self.rows.iter().any(|i| i.severity == Severity::Problem)
    }
}

impl fmt::Display for Issues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.rows {
            let whose = if i.ground_truth { "ground truth, " } else { "" };
            // 1-based, as the result file's lines and GOT-10k's and OTB's frame file names.
            writeln!(f, "  {whose}frame {}: {}: {}", i.frame + 1, i.what, i.treatment)?;
        }
        Ok(())
    }
}

/// What [`box_problem`] says of a row with a NaN or infinite value (which is also what a line
/// that did not parse becomes).
pub(crate) const NOT_FINITE: &str = "not a box (NaN or infinite value)";

/// Why a predicted row is not a box, if it is not: a NaN or infinite value (pytracking refuses
/// such a file), or a negative width or height (pytracking refuses it; GOT-10k clips it to an
/// empty box). Zero sizes are boxes: every toolkit has a rule for them.
pub fn box_problem(r: &Rect) -> Option<&'static str> {
    if r.iter().any(|v| !v.is_finite()) {
        Some(NOT_FINITE)
    } else if r[2] < 0.0 || r[3] < 0.0 {
        Some("negative width or height")
    } else {
        None
    }
}

/// Whether a ground-truth row is a finite box (its size may still be zero or negative: each
/// protocol says what that means).
fn finite(r: &Rect) -> bool {
    r.iter().all(|v| v.is_finite())
}

/// `v` limited to `[lo, hi]` without `f64::clamp`'s panic (on NaN bounds or `lo > hi`): NaN
/// becomes `lo`, and an empty range gives `hi`.
fn clip(v: f64, lo: f64, hi: f64) -> f64 {
    v.max(lo).min(hi)
}

// ------------------------------------------------------------------------------------------
// GOT-10k

/// GOT-10k's IoU (`rect_iou`), on boxes already clipped to the image when a bound is given.
/// Values the toolkit would make NaN (0/0 from overflowing areas) count as 0.
pub fn got10k_iou(a: Rect, b: Rect) -> f64 {
    let (inter, union) = continuous_overlap(a, b);
    let iou = inter / (union + f64::EPSILON);
    if iou.is_nan() { 0.0 } else { iou.clamp(0.0, 1.0) }
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
/// Equal to `np.clip` on finite boxes within a positive bound; on anything else (NaN, a bound
/// that is not positive) it gives some box rather than `f64::clamp`'s panic.
pub fn got10k_clip(r: Rect, width: f64, height: f64) -> Rect {
    let x = clip(r[0], 0.0, width);
    let w = clip(r[2], 0.0, width - x);
    let y = clip(r[1], 0.0, height);
    let h = clip(r[3], 0.0, height - y);
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
/// The toolkit asserts equal lengths; here a length mismatch is an error, as is an empty ground
/// truth. Where the toolkit's arithmetic would give NaN and poison the dataset's mean:
///
/// - a predicted row that is not a box ([`box_problem`]) scores IoU 0 (the least a frame can
///   score; for a negative size it is also what the toolkit's clipping gives) and is a
///   [`Severity::Problem`];
/// - a ground-truth row with a NaN or infinite value is dropped as a `cover == 0` frame is (no
///   target to score against), and noted.
///
/// A `bound` that is not a positive finite size is not applied (noted).
pub fn got10k_sequence(pred: &[Rect], gt: &[Rect], cover: &[u8], bound: Option<(f64, f64)>) -> Result<(Vec<f64>, Issues), ScoreError> {
    if gt.is_empty() {
        return Err(ScoreError::EmptyGroundTruth);
    }
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
    let usable = |(w, h): (f64, f64)| w.is_finite() && h.is_finite() && w > 0.0 && h > 0.0;
    if let Some(b) = bound.filter(|b| !usable(*b)) {
        issues.gt_note(0, format!("image size {b:?} is not a positive size"), "boxes are not clipped to the image");
    }
    let bound = bound.filter(|b| usable(*b));
    issues.bad_rows(pred, |i| {
        if i == 0 {
            "not scored: the toolkit drops frame 1".into()
        } else if cover[i] == 0 {
            "not scored: the target is fully covered there (cover.label 0)".into()
        } else if !finite(&gt[i]) {
            "not scored: the ground truth has no box there".into()
        } else {
            "scored as IoU 0".into()
        }
    });
    let mut ious = Vec::new();
    for i in 1..gt.len() {
        if cover[i] == 0 {
            continue;
        }
        let (mut p, mut g) = (pred[i], gt[i]);
        if !finite(&g) {
            issues.gt_note(i, "no box (NaN or infinite value)", "frame not scored, as a cover.label 0 frame");
            continue;
        }
        if box_problem(&p).is_some() {
            ious.push(0.0);
            continue;
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

/// `100 · curve[k]`, NaN where the curve is shorter (the mean of no sequence is empty).
fn at(curve: &[f64], k: usize) -> f64 {
    100.0 * curve.get(k).copied().unwrap_or(f64::NAN)
}

impl Curves {
    /// Success AUC ×100 (mean of the 21 success values; NaN for an empty curve).
    pub fn auc(&self) -> f64 {
        100.0 * self.success.iter().sum::<f64>() / self.success.len() as f64
    }
    /// OP50 ×100.
    pub fn op50(&self) -> f64 {
        at(&self.success, 10)
    }
    /// OP75 ×100.
    pub fn op75(&self) -> f64 {
        at(&self.success, 15)
    }
    /// Precision at 20 px ×100.
    pub fn prec20(&self) -> f64 {
        at(&self.precision, 20)
    }
    /// Normalised precision at 0.20 ×100.
    pub fn norm_prec20(&self) -> f64 {
        at(&self.norm_precision, 20)
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
/// weight); empty without sequences. Curves are as long as the first one; a shorter one (never
/// made here) counts NaN where it ends rather than panicking.
pub(crate) fn mean_curve<T>(all: &[T], curve: impl Fn(&T) -> &[f64]) -> Vec<f64> {
    let Some(first) = all.first() else { return Vec::new() };
    (0..curve(first).len())
        .map(|k| all.iter().map(|c| curve(c).get(k).copied().unwrap_or(f64::NAN)).sum::<f64>() / all.len() as f64)
        .collect()
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
///
/// Where pytracking raises, this scores and says so: a predicted row that is not a box
/// ([`box_problem`]; pytracking refuses the whole file) fails its frame, as an invalid
/// ground-truth frame does (IoU −1, infinite errors) — a [`Severity::Problem`]; a NaN in the
/// ground truth (pytracking raises except on UAV123) is an invalid frame, which fails. Short
/// results are padded with failing zero boxes and long ones truncated, as pytracking does
/// (problems too); for LaSOT, where pytracking refuses short results, they are an error.
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
    if pred.len() < n && ds == PytrackingDataset::Lasot {
        return Err(ScoreError::Rows { rows: pred.len(), frames: n, rule: "frames (LaSOT results must cover every frame)" });
    }
    let mut issues = Issues::default();
    issues.bad_rows(pred, |i| {
        if i == 0 {
            "replaced by the ground truth, as pytracking does with frame 1".into()
        } else if i >= n {
            "ignored (beyond the last frame)".into()
        } else {
            "scored as a failure (pytracking refuses the whole file)".into()
        }
    });
    let mut p: Vec<Rect> = pred.to_vec();
    // In pytracking's order: invalid values, zero sizes, then lengths, then frame 0.
    for r in p.iter_mut().skip(1) {
        if box_problem(r).is_some() {
            *r = [f64::NAN; 4];
        }
    }
    for i in 1..p.len().min(n) {
        let r = p[i];
        if (r[2] == 0.0 || r[3] == 0.0) && !gt[i].iter().any(|v| v.is_nan()) {
            issues.note(i, "prediction has zero size", "replaced by the previous frame's box, as pytracking does");
            p[i] = p[i - 1];
        }
    }
    if p.len() > n {
        issues.problem(
            n,
            format!("{} row(s) beyond the last frame ({} rows for {n} frames)", p.len() - n, p.len()),
            "ignored, as pytracking truncates",
        );
        p.truncate(n);
    }
    if p.len() < n {
        issues.problem(
            p.len(),
            format!("{} row(s) missing ({} rows for {n} frames)", n - p.len(), p.len()),
            "scored as failures (pytracking pads with zero boxes)",
        );
        p.resize(n, [0.0; 4]);
    }
    p[0] = gt[0];
    let mut ious = Vec::with_capacity(n);
    let mut errs = Vec::with_capacity(n);
    let mut nerrs = Vec::with_capacity(n);
    for i in 0..n {
        let (a, g) = (p[i], gt[i]);
        let seen = visible.is_none_or(|v| v.get(i).copied().unwrap_or(true));
        // `v > 0` is false for NaN: a NaN ground truth is an invalid frame.
        let valid = g.iter().all(|&v| v > 0.0) && seen;
        if !valid {
            ious.push(-1.0);
            errs.push(if ds == PytrackingDataset::Uav { -1.0 } else { f64::INFINITY });
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
    // NaN (from overflowing arithmetic on huge boxes) fails every comparison: a failure.
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

/// One TrackingNet sequence. A missing submission is all-zero boxes and missing rows are
/// failures, as the devkit scores them; both are [`Severity::Problem`]s. A predicted row that
/// is not a box ([`box_problem`]) fails at every threshold, as the devkit scores a NaN row (for
/// a negative size the devkit's arithmetic would give something else; such a row is a tracker
/// bug, never rewarded). Extra rows are ignored (a problem too).
pub fn trackingnet_sequence(pred: Option<&[Rect]>, gt: &[Rect]) -> (TrackingNetCurves, Issues) {
    let n = gt.len();
    let mut issues = Issues::default();
    let mut p: Vec<Rect> = match pred {
        Some(p) => {
            issues.bad_rows(p, |i| {
                if i == 0 {
                    "replaced by the ground truth, as the devkit does with frame 1".into()
                } else if i >= n {
                    "ignored (beyond the last frame)".into()
                } else {
                    "scored as a failure at every threshold (as the devkit scores a NaN row)".into()
                }
            });
            if p.len() > n {
                issues.problem(n, format!("{} row(s) beyond the last frame ({} rows for {n} frames)", p.len() - n, p.len()), "ignored");
            }
            p.iter().take(n).map(|r| if box_problem(r).is_some() { [f64::NAN; 4] } else { *r }).collect()
        }
        None => {
            issues.problem(0, "no result file", "every frame scored with a zero box, as the devkit does");
            vec![[0.0; 4]; n]
        }
    };
    if p.len() < n {
        // The devkit aligns the two files by row index, so missing rows are NaN: failures.
        issues.problem(
            p.len(),
            format!("{} row(s) missing ({} rows for {n} frames)", n - p.len(), p.len()),
            "scored as failures, as the devkit does",
        );
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
pub(crate) fn linspace21(hi: f64) -> Vec<f64> {
    let step = hi / 20.0;
    (0..21).map(|k| if k == 20 { hi } else { k as f64 * step }).collect()
}

/// `np.trapz(y, x=linspace(0, 1, 21))` for the 21-value curves; of another length, over the
/// first `min(len, 21)` values (0 for fewer than two) instead of NumPy's shape error.
pub fn trapz21(y: &[f64]) -> f64 {
    let x = linspace21(1.0);
    x.windows(2).zip(y.windows(2)).map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0).sum()
}

/// TrackingNet's dataset scores ×100: (success, precision, normalised precision).
pub fn trackingnet_score(all: &[TrackingNetCurves]) -> (f64, f64, f64) {
    let mean = |f: fn(&TrackingNetCurves) -> &Vec<f64>| -> Vec<f64> {
        (0..21).map(|k| all.iter().map(|c| f(c).get(k).copied().unwrap_or(f64::NAN)).sum::<f64>() / all.len().max(1) as f64).collect()
    };
    (100.0 * trapz21(&mean(|c| &c.success)), 100.0 * trapz21(&mean(|c| &c.precision)), 100.0 * trapz21(&mean(|c| &c.norm_precision)))
}
