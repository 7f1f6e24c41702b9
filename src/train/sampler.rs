//! OSTrack's training samples (`TrackingSampler` in causal mode, `STARKProcessing`,
//! `transforms.py`): pick a dataset by ratio, a sequence, a visible template frame and a later
//! visible search frame; jitter, crop, check, augment and normalise.
//!
//! Every sample is a pure function of its seed, so a batch is the same whichever worker thread
//! made it, and resuming a run needs no RNG state beyond the seed and the batch number.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Result, bail};

use crate::base::image::Image;
use crate::base::rng::Pcg;
use crate::data::datasets::{PairKind, TrainDataset};
use crate::model::Config;
use crate::tracker::crop::{MEAN, STD, sample_target};

/// One training sample: normalised crops (C×S×S, CHW) and the search box.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Template crop, 3×T×T.
    pub template: Vec<f32>,
    /// Search crop, 3×S×S.
    pub search: Vec<f32>,
    /// Target in the search crop, `[x, y, w, h]` normalised by S.
    pub search_box: [f32; 4],
}

/// Unreadable images seen so far, shared by the worker threads.
#[derive(Debug, Default)]
pub struct FailureLog {
    inner: Mutex<FailureState>,
}

#[derive(Debug, Default)]
struct FailureState {
    attempts: u64,
    failures: u64,
    files: Vec<(PathBuf, String)>,
}

impl FailureLog {
    fn attempt(&self) {
        self.inner.lock().expect("failure log lock").attempts += 1;
    }
    fn fail(&self, file: PathBuf, why: String) -> u64 {
        let mut s = self.inner.lock().expect("failure log lock");
        s.failures += 1;
        if s.files.len() < 1000 && !s.files.iter().any(|(f, _)| *f == file) {
            if s.files.len() < 5 {
                tracing::warn!("warning: skipping unreadable image {}: {why}", file.display());
            }
            s.files.push((file, why));
        }
        s.failures
    }
    /// (attempts, failures).
    pub(crate) fn counts(&self) -> (u64, u64) {
        let s = self.inner.lock().expect("failure log lock");
        (s.attempts, s.failures)
    }
    /// Errors out, listing the bad files, when more than `max_fraction` of at least 50 sample
    /// attempts failed to read an image.
    pub(crate) fn check(&self, max_fraction: f64) -> Result<()> {
        let s = self.inner.lock().expect("failure log lock");
        if s.attempts >= 50 && s.failures as f64 > max_fraction * s.attempts as f64 {
            let list: Vec<String> = s.files.iter().take(50).map(|(f, why)| format!("  {}: {why}", f.display())).collect();
            bail!(
                "{} of {} sample attempts ({:.1}%) hit unreadable images, more than the allowed {:.1}% (max-bad-fraction); bad files{}:\n{}",
                s.failures,
                s.attempts,
                100.0 * s.failures as f64 / s.attempts as f64,
                100.0 * max_fraction,
                if s.files.len() > 50 { " (first 50)" } else { "" },
                list.join("\n")
            );
        }
        Ok(())
    }
}

/// Samples training pairs from datasets mixed by ratio.
#[derive(Debug)]
pub struct PairSampler {
    datasets: Vec<TrainDataset>,
    cumulative: Vec<f64>,
    cfg: Config,
    /// Unreadable images, shared by the threads using this sampler.
    pub failures: FailureLog,
    /// Allowed fraction of sample attempts that hit unreadable images.
    pub max_bad_fraction: f64,
}

/// Gaussian with mean 0 and deviation 1 (Box–Muller).
fn normal(rng: &mut Pcg) -> f64 {
    let u1 = rng.uniform().max(1e-12);
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Uniform integer in [a, b).
fn below(rng: &mut Pcg, a: usize, b: usize) -> usize {
    a + ((rng.uniform() * (b - a) as f64) as usize).min(b - a - 1)
}

impl PairSampler {
    /// A sampler over `datasets` with `ratios` (one each; normalised here).
    pub fn new(datasets: Vec<TrainDataset>, ratios: &[f64], cfg: &Config) -> Result<Self> {
        if datasets.len() != ratios.len() {
            let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
            bail!(
                "train.datasets lists {} datasets ({}) but train.datasets-ratio has {} ratios ({ratios:?}); edit the two lists together",
                names.len(),
                names.join(", "),
                ratios.len()
            );
        }
        if ratios.iter().any(|r| !r.is_finite() || *r < 0.0) || ratios.iter().sum::<f64>() <= 0.0 {
            bail!("train.datasets-ratio {ratios:?}: ratios must be non-negative with a positive sum");
        }
        let total: f64 = ratios.iter().sum();
        let mut acc = 0.0;
        let cumulative = ratios
            .iter()
            .map(|r| {
                acc += r / total;
                acc
            })
            .collect();
        Ok(Self { datasets, cumulative, cfg: cfg.clone(), failures: FailureLog::default(), max_bad_fraction: 0.05 })
    }

    /// The datasets.
    pub fn datasets(&self) -> &[TrainDataset] {
        &self.datasets
    }

    /// The sample with this seed: retries (as upstream does) until a pair passes every check;
    /// gives up with the bad-file list when too many images are unreadable.
    pub fn sample(&self, seed: u64) -> Result<Sample> {
        let mut rng = Pcg::new(seed);
        for _ in 0..10_000 {
            self.failures.attempt();
            match self.try_sample(&mut rng) {
                Ok(Some(s)) => return Ok(s),
                Ok(None) => {}
                Err(BadImage(file, why)) => {
                    self.failures.fail(file, why);
                    self.failures.check(self.max_bad_fraction)?;
                }
            }
        }
        bail!("no valid training sample in 10000 attempts: are the boxes in the datasets all empty or outside their images?")
    }

    fn pick_dataset(&self, rng: &mut Pcg) -> &TrainDataset {
        let u = rng.uniform();
        let i = self.cumulative.iter().position(|&c| u < c).unwrap_or(self.datasets.len() - 1);
        &self.datasets[i]
    }

    /// One attempt: `Ok(None)` when the draw is rejected (too short, nothing visible, invalid crop).
    fn try_sample(&self, rng: &mut Pcg) -> std::result::Result<Option<Sample>, BadImage> {
        let ds = self.pick_dataset(rng);
        let seq = &ds.sequences[below(rng, 0, ds.sequences.len())];
        let (t_id, s_id) = if ds.pairs != PairKind::Video {
            if !seq.visible[0] {
                return Ok(None);
            }
            (0, 0)
        } else {
            // Upstream: more than 2·(1+1) visible frames and at least 20 frames.
            let n_visible = seq.visible.iter().filter(|v| **v).count();
            if n_visible <= 4 || seq.len() < 20 {
                return Ok(None);
            }
            match causal_pair(&seq.visible, self.cfg.train.max_sample_interval as usize, rng) {
                Some(p) => p,
                None => return Ok(None),
            }
        };
        let load = |i: usize| {
            crate::data::modality::load_frame_at(seq.files(), seq.aux.as_ref(), i)
                .map_err(|e| BadImage(seq.files()[i].clone(), format!("{e:#}")))
        };
        let mut t_img = load(t_id)?;
        let mut s_img = if s_id == t_id { t_img.clone() } else { load(s_id)? };
        let (mut t_box, mut s_box) = if ds.pairs == PairKind::Region {
            let b = distinct_region(&t_img, self.cfg.data.region_aspect, rng);
            (b, b)
        } else {
            (seq.ground_truth[t_id], seq.ground_truth[s_id])
        };
        // Joint transform: one draw for both frames. On RGB+X frames grayscale applies to the
        // RGB half only: the auxiliary image (a depth colormap, thermal, events) is no colour
        // photograph. (ViPT's cvtColor raises on 6 channels and the sample is silently redrawn,
        // so there grayscale never happens and 5% of draws are wasted.)
        if rng.uniform() < 0.05 {
            to_gray(&mut t_img);
            to_gray(&mut s_img);
        }
        if rng.uniform() < 0.5 {
            flip_image(&mut t_img);
            flip_image(&mut s_img);
            t_box[0] = t_img.width as f64 - t_box[0] - t_box[2];
            s_box[0] = s_img.width as f64 - s_box[0] - s_box[2];
        }
        let d = &self.cfg.data;
        let Some((t_patch, _)) = crop_with_box(&t_img, t_box, t_box, d.template_factor, d.template_size as usize, self.cfg.template_feat())
        else {
            return Ok(None);
        };
        let jittered = jitter(s_box, d.center_jitter, d.scale_jitter, rng);
        let Some((mut s_patch, mut s_norm)) =
            crop_with_box(&s_img, s_box, jittered, d.search_factor, d.search_size as usize, self.cfg.search_feat())
        else {
            return Ok(None);
        };
        if d.distractor_prob > 0.0 && rng.uniform() < d.distractor_prob {
            s_norm = paste_distractor(&mut s_patch, s_norm, rng);
        }
        if d.blur_prob > 0.0 && rng.uniform() < d.blur_prob {
            // 3 to 11 samples on a 160-px crop (3 to 17 on 256 px), in any direction.
            let longest = s_patch.width / 32;
            let length = 2 * below(rng, 1, longest.max(1) + 1) + 1;
            motion_blur(&mut s_patch, length, rng.range(0.0, std::f64::consts::PI));
        }
        // Per-crop transforms: independent draws for template and search.
        let (template, _) = per_crop(&t_patch, [0.0; 4], rng);
        let (search, search_box) = per_crop(&s_patch, s_norm, rng);
        if search_box.iter().any(|v| !v.is_finite()) {
            return Ok(None);
        }
        Ok(Some(Sample { template, search, search_box: search_box.map(|v| v as f32) }))
    }
}

struct BadImage(PathBuf, String);

/// Causal pair: a visible template frame in [0, n−1), then a visible search frame in
/// (template, template + max_gap + increase), widening by 5 on each failed try.
pub(crate) fn causal_pair(visible: &[bool], max_gap: usize, rng: &mut Pcg) -> Option<(usize, usize)> {
    let n = visible.len();
    let mut increase = 0;
    for _ in 0..100 {
        let base = sample_visible(visible, 0, n - 1, rng)?;
        if let Some(s) = sample_visible(visible, base + 1, (base + max_gap + increase).min(n), rng) {
            return Some((base, s));
        }
        increase += 5;
    }
    None
}

/// A uniformly drawn visible index in [lo, hi).
fn sample_visible(visible: &[bool], lo: usize, hi: usize, rng: &mut Pcg) -> Option<usize> {
    if lo >= hi {
        return None;
    }
    let ids: Vec<usize> = (lo..hi.min(visible.len())).filter(|&i| visible[i]).collect();
    if ids.is_empty() { None } else { Some(ids[below(rng, 0, ids.len())]) }
}

/// Search-box jitter: size · exp(N(0,1)·scale), centre + sqrt(w·h)·centre_jitter·(U − 0.5).
pub fn jitter(b: [f64; 4], center_jitter: f64, scale_jitter: f64, rng: &mut Pcg) -> [f64; 4] {
    let w = b[2] * (normal(rng) * scale_jitter).exp();
    let h = b[3] * (normal(rng) * scale_jitter).exp();
    let max_offset = (w * h).sqrt() * center_jitter;
    let cx = b[0] + 0.5 * b[2] + max_offset * (rng.uniform() - 0.5);
    let cy = b[1] + 0.5 * b[3] + max_offset * (rng.uniform() - 0.5);
    [cx - 0.5 * w, cy - 0.5 * h, w, h]
}

/// Crops around `around` and maps `target` into the crop, normalised by its side. `None` when
/// upstream would reject the crop: degenerate, or only padding on the token grid.
fn crop_with_box(im: &Image, target: [f64; 4], around: [f64; 4], factor: f64, size: usize, feat: i64) -> Option<(Image, [f64; 4])> {
    if !(around[2] > 0.0 && around[3] > 0.0) {
        return None;
    }
    let crop = sample_target(im, around, factor, size).ok()?;
    if crop.crop_size < 1.0 {
        return None;
    }
    // Padding check on the token grid: nearest-neighbour cells of the crop mapped to the image.
    let x1 = crate::tracker::crop::round_half_even(around[0] + 0.5 * around[2] - crop.crop_size * 0.5);
    let y1 = crate::tracker::crop::round_half_even(around[1] + 0.5 * around[3] - crop.crop_size * 0.5);
    let mut any_inside = false;
    for gy in 0..feat {
        for gx in 0..feat {
            let px = x1 + (gx as f64 * size as f64 / feat as f64) / crop.resize_factor;
            let py = y1 + (gy as f64 * size as f64 / feat as f64) / crop.resize_factor;
            if px >= 0.0 && py >= 0.0 && px < im.width as f64 && py < im.height as f64 {
                any_inside = true;
            }
        }
    }
    if !any_inside {
        return None;
    }
    let rf = crop.resize_factor;
    let (tcx, tcy) = (target[0] + 0.5 * target[2], target[1] + 0.5 * target[3]);
    let (acx, acy) = (around[0] + 0.5 * around[2], around[1] + 0.5 * around[3]);
    let cx = (size as f64 - 1.0) / 2.0 + (tcx - acx) * rf;
    let cy = (size as f64 - 1.0) / 2.0 + (tcy - acy) * rf;
    let (w, h) = (target[2] * rf, target[3] * rf);
    let s = size as f64;
    Some((crop.patch, [(cx - 0.5 * w) / s, (cy - 0.5 * h) / s, w / s, h / s]))
}

/// Distractor augmentation (trackflow's, not OSTrack's): pastes a recoloured copy of the target
/// (box `b`, normalised by the crop side) elsewhere in the search crop, and returns the target's
/// box afterwards.
///
/// Trained on a few dozen real sequences, a small one-stream model can learn "the salient object
/// near the centre" more than "the object the template shows" (on OTB's Football1 the shipped
/// model leaves a blue helmet for a white one). A copy that differs only in colour (a channel
/// permutation and a brightness change) can only be told apart by comparing with the template.
/// So that the pasted patch's hard edges do not give the answer away, half the time the target
/// itself moves: its original pixels (the whole pixels its box touches) are pasted at the new
/// place, the box follows, and the recoloured copy covers the old place. Nothing is pasted when
/// the target is not wholly inside the crop, is under 4 pixels, or when 10 random places all
/// overlap it; RGB+X crops recolour the RGB channels only.
pub fn paste_distractor(patch: &mut Image, b: [f64; 4], rng: &mut Pcg) -> [f64; 4] {
    let (side, c) = (patch.width as f64, patch.channels);
    if c < 3 {
        return b;
    }
    let [x, y, w, h] = b.map(|v| v * side);
    // Every pixel the box touches, so that no sliver of the target stays behind when it moves.
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (pw, ph) = ((x + w).ceil() as i64 - x0, (y + h).ceil() as i64 - y0);
    let (pw_u, ph_u) = (pw.max(0) as usize, ph.max(0) as usize);
    if pw < 4 || ph < 4 || x0 < 0 || y0 < 0 || x0 + pw > patch.width as i64 || y0 + ph > patch.height as i64 {
        return b;
    }
    let (x0, y0) = (x0 as usize, y0 as usize);
    // A free place: inside the crop, not overlapping the target.
    let mut place = None;
    for _ in 0..10 {
        let nx = below(rng, 0, patch.width - pw_u + 1);
        let ny = below(rng, 0, patch.height - ph_u + 1);
        if nx + pw_u <= x0 || x0 + pw_u <= nx || ny + ph_u <= y0 || y0 + ph_u <= ny {
            place = Some((nx, ny));
            break;
        }
    }
    let Some((nx, ny)) = place else { return b };
    let original: Vec<u8> = (0..ph_u).flat_map(|r| patch.data[((y0 + r) * patch.width + x0) * c..][..pw_u * c].to_vec()).collect();
    // A non-identity channel permutation and a brightness factor away from 1 (a grey target is
    // unchanged by the permutation, so the brightness alone tells it apart).
    const PERMUTATIONS: [[usize; 3]; 5] = [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let perm = PERMUTATIONS[below(rng, 0, PERMUTATIONS.len())];
    let gain = if rng.uniform() < 0.5 { rng.range(0.5, 0.8) } else { rng.range(1.25, 1.6) };
    let mut recoloured = original.clone();
    for (px, src) in recoloured.chunks_exact_mut(c).zip(original.chunks_exact(c)) {
        for k in 0..3 {
            px[k] = (src[perm[k]] as f64 * gain).round().clamp(0.0, 255.0) as u8;
        }
    }
    let mut put = |pixels: &[u8], px: usize, py: usize| {
        for r in 0..ph_u {
            patch.data[((py + r) * patch.width + px) * c..][..pw_u * c].copy_from_slice(&pixels[r * pw_u * c..][..pw_u * c]);
        }
    };
    if rng.uniform() < 0.5 {
        put(&recoloured, nx, ny);
        b
    } else {
        put(&original, nx, ny);
        put(&recoloured, x0, y0);
        // Moved by whole pixels: the box keeps its sub-pixel offset.
        [b[0] + (nx as f64 - x0 as f64) / side, b[1] + (ny as f64 - y0 as f64) / side, b[2], b[3]]
    }
}

/// Motion blur (trackflow's, not OSTrack's; `data.blur-prob`): each pixel becomes the mean of
/// `length` samples on a line through it at `angle` radians, one pixel apart, as a target or
/// camera moving during the exposure smears a frame. Samples beyond the border take the nearest
/// edge pixel, so a uniform patch stays uniform and the box does not move.
///
/// Real search frames are blurred where the target moves fast (a jump, a bike trick), which is
/// where a small model trained on sharp frames loses it; Siamese trackers (SiamRPN++) blur a
/// fifth of their search crops for the same reason. The template is never blurred: the user's
/// first frame is what it shows.
pub fn motion_blur(patch: &mut Image, length: usize, angle: f64) {
    let (w, h, c) = (patch.width as i64, patch.height as i64, patch.channels);
    if length < 2 || w == 0 || h == 0 {
        return;
    }
    let (dx, dy) = (angle.cos(), angle.sin());
    let offsets: Vec<(i64, i64)> = (0..length)
        .map(|i| {
            let t = i as f64 - (length - 1) as f64 / 2.0;
            ((t * dx).round() as i64, (t * dy).round() as i64)
        })
        .collect();
    let source = patch.data.clone();
    let mut sum = vec![0u32; c];
    for y in 0..h {
        for x in 0..w {
            sum.fill(0);
            for &(ox, oy) in &offsets {
                let at = (((y + oy).clamp(0, h - 1) * w + (x + ox).clamp(0, w - 1)) as usize) * c;
                for (total, value) in sum.iter_mut().zip(&source[at..at + c]) {
                    *total += *value as u32;
                }
            }
            let at = ((y * w + x) as usize) * c;
            for (out, total) in patch.data[at..at + c].iter_mut().zip(&sum) {
                *out = ((*total as f64) / length as f64).round() as u8;
            }
        }
    }
}

/// A region of `img` to track that no annotation names (`PairKind::Region`): of 8 random
/// boxes (√(w·h) 10–40% of the image's shorter side, aspect ratio w/h log-uniform in
/// [1/`max_aspect`, `max_aspect`], each side at most
/// 90% of the image's), the one whose mean colour differs most from that of the ring around it
/// (the box doubled; its points outside the image are left out).
/// A patch of sky or road matches itself everywhere and teaches nothing; a region that stands
/// out from its surroundings is usually an object or a part of one.
pub fn distinct_region(img: &Image, max_aspect: f64, rng: &mut Pcg) -> [f64; 4] {
    let log_aspect = max_aspect.ln();
    let (width, height) = (img.width as f64, img.height as f64);
    let shorter = width.min(height);
    // Replaced by the first candidate: every contrast is at least 0.
    let mut best = ([0.0, 0.0, width, height], f64::NEG_INFINITY);
    for _ in 0..8 {
        let side = shorter * rng.range(0.1, 0.4);
        let aspect = rng.range(-log_aspect, log_aspect).exp();
        let (w, h) = ((side * aspect.sqrt()).min(width * 0.9), (side / aspect.sqrt()).min(height * 0.9));
        let b = [rng.range(0.0, width - w), rng.range(0.0, height - h), w, h];
        let ring = [b[0] - w / 2.0, b[1] - h / 2.0, 2.0 * w, 2.0 * h];
        let (inside, around) = (mean_colour(img, b, None), mean_colour(img, ring, Some(b)));
        let contrast: f64 = inside.iter().zip(&around).map(|(a, b)| (a - b) * (a - b)).sum();
        if contrast > best.1 {
            best = (b, contrast);
        }
    }
    best.0
}

/// Mean of the first three channels over a 16×16 grid of points in box `b`, leaving out the
/// points outside the image and those inside `hole`.
fn mean_colour(img: &Image, b: [f64; 4], hole: Option<[f64; 4]>) -> [f64; 3] {
    let (mut sum, mut n) = ([0.0; 3], 0.0);
    let c = img.channels;
    for i in 0..16 {
        for j in 0..16 {
            let x = b[0] + b[2] * (i as f64 + 0.5) / 16.0;
            let y = b[1] + b[3] * (j as f64 + 0.5) / 16.0;
            let inside_hole = hole.is_some_and(|h| x >= h[0] && x < h[0] + h[2] && y >= h[1] && y < h[1] + h[3]);
            if x < 0.0 || y < 0.0 || x >= img.width as f64 || y >= img.height as f64 || inside_hole {
                continue;
            }
            let at = (y as usize * img.width + x as usize) * c;
            for (total, value) in sum.iter_mut().zip(&img.data[at..at + 3.min(c)]) {
                *total += *value as f64;
            }
            n += 1.0;
        }
    }
    if n == 0.0 { [0.0; 3] } else { sum.map(|v| v / n) }
}

/// OpenCV's RGB→gray (0.299, 0.587, 0.114), replicated to every channel.
fn to_gray(im: &mut Image) {
    for px in im.data.chunks_exact_mut(im.channels) {
        let g = (0.299 * px[0] as f64 + 0.587 * px[1] as f64 + 0.114 * px[2] as f64).round().min(255.0) as u8;
        px[..3].fill(g);
    }
}

fn flip_image(im: &mut Image) {
    let (w, c) = (im.width, im.channels);
    for row in im.data.chunks_exact_mut(w * c) {
        for x in 0..w / 2 {
            for k in 0..c {
                row.swap(x * c + k, (w - 1 - x) * c + k);
            }
        }
    }
}

/// Brightness jitter (factor U[0.8, 1.2], clamp to [0, 1]), a flip with p = 0.5 that also flips
/// the normalised box, and ImageNet normalisation. Returns CHW floats and the box.
fn per_crop(patch: &Image, b: [f64; 4], rng: &mut Pcg) -> (Vec<f32>, [f64; 4]) {
    let factor = rng.range(0.8, 1.2) as f32;
    let flip = rng.uniform() < 0.5;
    let (w, h, c) = (patch.width, patch.height, patch.channels);
    let mut out = vec![0f32; c * h * w];
    for y in 0..h {
        for x in 0..w {
            let sx = if flip { w - 1 - x } else { x };
            for k in 0..c {
                let v = (patch.data[(y * w + sx) * c + k] as f32 / 255.0 * factor).clamp(0.0, 1.0);
                let (m, s) = if k < 3 { (MEAN[k], STD[k]) } else { (MEAN[k % 3], STD[k % 3]) };
                out[k * h * w + y * w + x] = (v - m) / s;
            }
        }
    }
    let b = if flip { [1.0 - (b[0] + b[2]), b[1], b[2], b[3]] } else { b };
    (out, b)
}
