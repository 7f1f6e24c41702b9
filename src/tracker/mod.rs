//! Single-object tracking with OSTrack (`lib/test/tracker/ostrack.py`), split into the three
//! stages the dataflow runs as nodes (crop, backbone, head) and fused in [`Tracker`]. Both paths
//! call the same functions, so they give identical boxes.

pub mod batch;
pub mod crop;

use anyhow::{Context, Result, bail};
use tch::{Device, Kind, Tensor};

use crate::base::image::Image;
use crate::model::{OSTrack, TemplateTokens, decode_boxes};
use crate::tracker::crop::CropGeometry;
pub use crop::{CropResult, normalize, normalize_f64, sample_target};

/// A crop (8-bit, as cut and resized) and where it came from. It is normalised only where the
/// network runs ([`crop_tensor`]): the dataflow then moves a quarter of the bytes.
#[derive(Debug, Clone)]
pub struct PreparedCrop {
    /// S×S×C pixels.
    pub patch: Image,
    /// Geometry, for mapping the box back.
    pub geometry: CropGeometry,
}

/// The smallest init box side, in pixels: a target under a pixel has nothing to track, and
/// such a box is nearly always a mistake (normalised coordinates, a swapped x2/w).
pub const MIN_BOX_SIDE: f64 = 1.0;

/// An init box may be at most this many times the frame's larger side, on each side. A box that
/// much larger than the frame is a mistake (a typo, another frame size's coordinates), and its
/// template crop would show the frame as a speck; before this bound a 30000-px box tried to
/// allocate a 10.8 GB crop. Refused with an error rather than clamped to the frame: a clamped box
/// would track something other than what was asked for, silently.
pub const MAX_BOX_SCALE: f64 = 16.0;

/// The margin OSTrack's `clip_box` keeps: a tracked box is at least this wide and high and
/// lies inside the frame.
pub const CLIP_MARGIN: f64 = 10.0;

/// The smallest frame side the tracker accepts, in pixels: [`CLIP_MARGIN`]. A smaller frame
/// cannot hold a clipped box, and a 1×1 frame (a broken file, a placeholder) would move the
/// box to the corner and derail every later frame.
pub const MIN_FRAME_SIDE: usize = CLIP_MARGIN as usize;

/// An init box refused by [`parse_box`], [`check_box`] or [`validate_init_box`]; the message
/// names the box and the rule. A type of its own so that a caller that knows where the box came
/// from (a ground-truth file's line, `--init-box`) can add that to the message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InitBoxError(pub String);

/// Returns an [`InitBoxError`] from the enclosing function.
macro_rules! refuse_box {
    ($($t:tt)*) => { return Err(InitBoxError(format!($($t)*)).into()) };
}

/// Parses `"x,y,w,h"` and checks it as an init box ([`check_box`]): four finite numbers, width
/// and height at least [`MIN_BOX_SIDE`]. The error names the text.
pub fn parse_box(s: &str) -> Result<[f64; 4]> {
    // At most five items are looked at: a long list is reported by its count, not collected.
    let mut items = s.split(',');
    let mut b = [0.0; 4];
    for (k, v) in b.iter_mut().enumerate() {
        let Some(item) = items.next() else { refuse_box!("init box `{s}` has {k} numbers, expected 4 (x,y,w,h)") };
        *v = match item.trim().parse::<f64>() {
            Ok(v) => v,
            Err(_) => refuse_box!("init box `{s}` is not four numbers x,y,w,h (`{}` is not a number)", item.trim()),
        };
    }
    let extra = items.count();
    if extra > 0 {
        refuse_box!("init box `{s}` has {} numbers, expected 4 (x,y,w,h)", 4 + extra);
    }
    check_box(b)
}

/// The checks an init box passes whatever the frame: finite, width and height at least
/// [`MIN_BOX_SIDE`]. [`validate_init_box`] adds the frame's.
pub fn check_box(b: [f64; 4]) -> Result<[f64; 4]> {
    let [_, _, w, h] = b;
    if b.iter().any(|v| !v.is_finite()) {
        refuse_box!("init box {b:?} contains NaN or infinity");
    }
    if w <= 0.0 || h <= 0.0 {
        refuse_box!("init box {b:?} has zero or negative width/height; the target must have an area");
    }
    if w < MIN_BOX_SIDE || h < MIN_BOX_SIDE {
        refuse_box!("init box {b:?} is {}×{} px: width and height must be at least {MIN_BOX_SIDE} px", crop::px(w), crop::px(h));
    }
    Ok(b)
}

/// Checks a frame the tracker is given: at least [`MIN_FRAME_SIDE`] on each side and within
/// [`crate::base::image::check_image_size`]'s caps. The error names the size and the limit.
pub fn check_frame(width: usize, height: usize) -> Result<()> {
    if width < MIN_FRAME_SIDE || height < MIN_FRAME_SIDE {
        bail!(
            "the frame is {width}×{height}: too small to track in (at least {MIN_FRAME_SIDE}×{MIN_FRAME_SIDE} px; a broken or placeholder frame?)"
        );
    }
    crate::base::image::check_image_size(width, height).context("the frame is too large to track in")
}

/// Checks that a frame has the size of the sequence's first frame, `first`: the tracker's box is
/// in that frame's pixels, and a frame of another size (a broken or placeholder frame) would
/// silently move it to the wrong place for the rest of the sequence.
pub fn check_same_size(first: (usize, usize), width: usize, height: usize) -> Result<()> {
    if (width, height) != first {
        bail!(
            "the frame is {width}×{height} but the sequence started with a {}×{} frame: every frame of a sequence must have the same size",
            first.0,
            first.1
        );
    }
    Ok(())
}

/// Checks an init box on its `width`×`height` frame and makes it usable, with a clear error for
/// degenerate input: the frame passes [`check_frame`], the box [`check_box`]; the box must
/// overlap the frame and be at most [`MAX_BOX_SCALE`] times the frame's larger side.
pub fn validate_init_box(b: [f64; 4], width: usize, height: usize) -> Result<[f64; 4]> {
    check_frame(width, height)?;
    let [x, y, w, h] = check_box(b)?;
    let cap = MAX_BOX_SCALE * width.max(height) as f64;
    if w > cap || h > cap {
        refuse_box!(
            "init box {b:?} is {}×{} px, more than {MAX_BOX_SCALE}× the {width}×{height} frame's larger side ({cap} px): a box for another frame size?",
            crop::px(w),
            crop::px(h)
        );
    }
    if x + w <= 0.0 || y + h <= 0.0 || x >= width as f64 || y >= height as f64 {
        refuse_box!("init box {b:?} lies outside the {width}×{height} image");
    }
    Ok(b)
}

/// Crop stage: the template (factor 2 → 128 for the 256 model) or a search region
/// (factor 4 → 256) around `bbox`. The frame must pass [`check_frame`]: the crop itself works on
/// any frame, but the box the head then clips to a frame under [`MIN_FRAME_SIDE`] is nonsense.
pub fn prepare_crop(im: &Image, bbox: [f64; 4], factor: f64, size: usize) -> Result<PreparedCrop> {
    check_frame(im.width, im.height)?;
    let CropResult { patch, resize_factor, crop_size } = sample_target(im, bbox, factor, size)?;
    Ok(PreparedCrop {
        patch,
        geometry: CropGeometry { prev_box: bbox, crop_size, resize_factor, image_width: im.width as u32, image_height: im.height as u32 },
    })
}

/// Normalises an 8-bit crop into a [1, C, S, S] tensor on the model's device and precision.
/// Float64 normalises in float64 (the precision of the golden checks, where upstream's
/// `.float()` becomes `.double()`); every other precision normalises in float32, as upstream.
pub fn crop_tensor(patch: &Image, device: Device, kind: Kind) -> Tensor {
    let shape = [1, patch.channels as i64, patch.height as i64, patch.width as i64];
    let t = if kind == Kind::Double { Tensor::from_slice(&normalize_f64(patch)) } else { Tensor::from_slice(&normalize(patch)) };
    t.view(shape).to_device(device).to_kind(kind)
}

/// The float type the head's decode works in: float64 for a float64 model (the golden checks),
/// float32 otherwise (upstream decodes half-precision maps in float32 too).
fn decode_kind(model_kind: Kind) -> Kind {
    if model_kind == Kind::Double { Kind::Double } else { Kind::Float }
}

/// A crop with the wrong channel count is a clear error: an RGB sequence given to a ViPT model
/// (or RGB+X to OSTrack).
fn check_channels(backbone: &crate::model::VisionTransformerCE, crop: &Tensor, what: &str) -> Result<()> {
    let (have, want) = (crop.size()[1], backbone.in_channels());
    if have != want {
        bail!(
            "the {what} crop has {have} channels but the model takes {want}: {}",
            if want == 6 {
                "a ViPT config needs RGB+X sequences (color/+depth/, visible/+infrared/ or vis_imgs/+event_imgs/)"
            } else {
                "an OSTrack config takes RGB frames; use a configs/vipt/ preset for RGB+X"
            }
        );
    }
    Ok(())
}

/// Backbone stage, once per sequence: template tokens with their position embedding.
pub fn template_tokens(model: &OSTrack, z: &Tensor) -> Result<TemplateTokens> {
    let _g = tch::no_grad_guard();
    let backbone = model.backbone()?;
    check_channels(backbone, z, "template")?;
    Ok(backbone.embed_template(z))
}

/// Template update, once per confident frame (`test { template-rate; template-above }`): the
/// template tokens (and a ViPT template's input prompt) move a share `rate` towards `new`'s,
/// z ← (1 − rate)·z + rate·new. The fused trackers and the backbone node blend with this.
pub fn blend_template(z: &mut TemplateTokens, new: &TemplateTokens, rate: f64) {
    let _g = tch::no_grad_guard();
    z.tokens = &z.tokens * (1.0 - rate) + &new.tokens * rate;
    if let (Some(p), Some(q)) = (z.prompt.as_mut(), new.prompt.as_ref()) {
        *p = &*p * (1.0 - rate) + q * rate;
    }
}

/// The template a frame contributes to [`blend_template`]: cut around `bbox` from `im` as the
/// first frame's template is, and embedded.
pub fn template_at(model: &OSTrack, im: &Image, bbox: [f64; 4], kind: Kind) -> Result<TemplateTokens> {
    let z = prepare_crop(im, bbox, model.cfg.test_template_factor(), model.cfg.data.template_size as usize)?;
    template_tokens(model, &crop_tensor(&z.patch, model.vs.root().device(), kind))
}

/// Backbone stage, per frame: the search feature map [1, D, F, F] (float32; float64 for a
/// float64 model).
pub fn search_features(model: &OSTrack, z_tokens: &TemplateTokens, x: &Tensor, ce: bool) -> Result<Tensor> {
    let _g = tch::no_grad_guard();
    let backbone = model.backbone()?;
    check_channels(backbone, x, "search region")?;
    let out = backbone.forward_tokens(z_tokens, x, ce, None, false);
    let (b, n, c) = out.tokens.size3()?;
    let f = model.cfg.search_feat();
    let kind = decode_kind(out.tokens.kind());
    Ok(out.tokens.narrow(1, n - f * f, f * f).transpose(1, 2).contiguous().view([b, c, f, f]).to_kind(kind))
}

/// Whether `TRACKFLOW_TRACE` is set: the nodes and the fused tracker then print where each
/// frame's time goes.
pub fn trace_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("TRACKFLOW_TRACE").is_some())
}

/// OSTrack's Hann window: outer product of `0.5·(1 − cos(2πk/(n+1)))`, k = 1..n, in float32.
pub fn hann2d(n: i64, device: Device) -> Tensor {
    let k = Tensor::arange_start(1, n + 1, (Kind::Float, device));
    let w = ((k * (2.0 * std::f64::consts::PI / (n + 1) as f64)).cos().neg() + 1.0) * 0.5;
    w.view([n, 1]) * w.view([1, n])
}

/// A box for one frame, with the peak score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tracked {
    /// `[x, y, w, h]` in image pixels, clipped.
    pub bbox: [f64; 4],
    /// Raw score-map value at the chosen cell.
    pub score: f64,
    /// The response (score × Hann window, when on) at that cell: ViPT's `best_score`, the
    /// confidence long-term measures threshold.
    pub confidence: f64,
}

/// Head stage: maps, optional Hann window, decode, map back to the image, clip.
pub fn head_box(model: &OSTrack, features: &Tensor, geometry: &CropGeometry, window: Option<&Tensor>) -> Result<Tracked> {
    let _g = tch::no_grad_guard();
    let head = model.head()?;
    let p = model.vs.root().device();
    let kind = model.kind();
    let maps = head.forward_t(&features.to_device(p).to_kind(kind), false);
    let dk = decode_kind(kind);
    let score = maps.score.to_kind(dk);
    // The float32 window times a float64 map is float64, as in upstream's float64 run.
    let response = match window {
        Some(w) => w * &score,
        None => score.shallow_clone(),
    };
    let (boxes, idx) = decode_boxes(&response, &maps.size.to_kind(dk), &maps.offset.to_kind(dk));
    let v: Vec<f64> = Vec::<f64>::try_from(boxes.view([-1]).to_device(Device::Cpu).to_kind(Kind::Double)).context("reading decoded box")?;
    if v.iter().any(|x| !x.is_finite()) {
        bail!("the network produced a non-finite box {v:?} (NaN in the weights or the input?)");
    }
    // The chosen cell, read once: the raw peak and the windowed confidence both sit there.
    let cell = idx.int64_value(&[0]);
    let peak = score.flatten(0, -1).double_value(&[cell]);
    let confidence = response.flatten(0, -1).double_value(&[cell]);
    let search_size = model.cfg.data.search_size as f64;
    // Upstream computes `box * search_size / resize_factor` on the box tensor (two operations,
    // left to right, in float32 for a float32 model), then continues in double.
    let [cx, cy, w, h] = if dk == Kind::Double {
        [v[0], v[1], v[2], v[3]].map(|x| x * search_size / geometry.resize_factor)
    } else {
        let (size32, factor32) = (search_size as f32, geometry.resize_factor as f32);
        [v[0], v[1], v[2], v[3]].map(|x| (x as f32 * size32 / factor32) as f64)
    };
    let [px, py, pw, ph] = geometry.prev_box;
    let half = 0.5 * search_size / geometry.resize_factor;
    let cx_real = cx + (px + 0.5 * pw - half);
    let cy_real = cy + (py + 0.5 * ph - half);
    // Optional size damping (`test { size-update }`); left out, the prediction stands, as upstream.
    let (w, h) = match model.cfg.test.size_update {
        Some(rate) if rate < 1.0 => (pw + rate * (w - pw), ph + rate * (h - ph)),
        _ => (w, h),
    };
    let raw = [cx_real - 0.5 * w, cy_real - 0.5 * h, w, h];
    // The clip below bounds any finite box by the frame, but `max`/`min` pass NaN through as a
    // number: a non-finite box (from a degenerate crop geometry) is an error here, never a state.
    if raw.iter().any(|x| !x.is_finite()) {
        bail!("degenerate prediction {raw:?} from crop geometry {geometry:?}: the box is not finite");
    }
    let bbox = clip_box(raw, geometry.image_height as f64, geometry.image_width as f64, CLIP_MARGIN);
    Ok(Tracked { bbox, score: peak, confidence })
}

/// Keeps a box inside the image and at least `margin` pixels wide and high (`clip_box`). For a
/// finite box and an image at least `margin` on each side (what [`check_frame`] ensures), the
/// result lies within the image: the tracker's state never grows beyond the frame.
pub fn clip_box(b: [f64; 4], height: f64, width: f64, margin: f64) -> [f64; 4] {
    let [x1, y1, w, h] = b;
    let (x2, y2) = (x1 + w, y1 + h);
    let x1 = x1.max(0.0).min(width - margin);
    let x2 = x2.max(margin).min(width);
    let y1 = y1.max(0.0).min(height - margin);
    let y2 = y2.max(margin).min(height);
    [x1, y1, (x2 - x1).max(margin), (y2 - y1).max(margin)]
}

/// Options of a tracking run.
#[derive(Debug, Clone, Copy)]
pub struct TrackOptions {
    /// Candidate elimination on.
    pub ce: bool,
    /// Hann window on.
    pub hann: bool,
}

impl Default for TrackOptions {
    fn default() -> Self {
        Self { ce: true, hann: true }
    }
}

/// The fused tracker: crop, backbone and head in one process.
#[derive(Debug)]
pub struct Tracker {
    model: OSTrack,
    opts: TrackOptions,
    window: Tensor,
    z_tokens: Option<TemplateTokens>,
    state: [f64; 4],
    /// The last frame's confidence (1 after the first), which picks the next search factor.
    confidence: f64,
    /// The first frame's width and height: every later frame must have them.
    frame_size: (usize, usize),
    kind: Kind,
}

impl Tracker {
    /// Wraps a model built with [`crate::model::Parts::All`].
    pub fn new(model: OSTrack, opts: TrackOptions, kind: Kind) -> Self {
        let device = model.vs.root().device();
        let window = hann2d(model.cfg.search_feat(), device);
        Self { model, opts, window, z_tokens: None, state: [0.0; 4], confidence: 1.0, frame_size: (0, 0), kind }
    }

    /// The model.
    pub fn model(&self) -> &OSTrack {
        &self.model
    }

    /// Starts a sequence: crops and embeds the template. The init box is frame 0's output; it
    /// must pass [`validate_init_box`] on this frame.
    pub fn initialize(&mut self, im: &Image, init_box: [f64; 4]) -> Result<()> {
        let b = validate_init_box(init_box, im.width, im.height)?;
        let d = &self.model.cfg.data;
        let z = prepare_crop(im, b, self.model.cfg.test_template_factor(), d.template_size as usize)?;
        let device = self.model.vs.root().device();
        let zt = crop_tensor(&z.patch, device, self.kind);
        self.z_tokens = Some(template_tokens(&self.model, &zt)?);
        self.state = b;
        self.confidence = 1.0;
        self.frame_size = (im.width, im.height);
        Ok(())
    }

    /// One frame of a sequence, the step every tracking path takes (the tracker node, live or
    /// not, `trackflow track`, the benchmarks): with `init` the frame starts the sequence from that
    /// box, which is its output with score and confidence 1; without, it is tracked from the
    /// previous state.
    pub fn step(&mut self, im: &Image, init: Option<[f64; 4]>) -> Result<Tracked> {
        match init {
            Some(b) => {
                self.initialize(im, b)?;
                Ok(Tracked { bbox: self.state, score: 1.0, confidence: 1.0 })
            }
            None => self.track(im),
        }
    }

    /// Tracks one frame from the previous state. A frame of another size than the first
    /// ([`check_same_size`]) or under [`MIN_FRAME_SIDE`] is an error that leaves the state as it
    /// was, rather than a box moved to the wrong place for the rest of the sequence.
    pub fn track(&mut self, im: &Image) -> Result<Tracked> {
        let z = self.z_tokens.as_ref().context("track() before initialize()")?;
        check_same_size(self.frame_size, im.width, im.height)?;
        let d = &self.model.cfg.data;
        let started = std::time::Instant::now();
        let x = prepare_crop(im, self.state, self.model.cfg.next_search_factor(self.confidence), d.search_size as usize)?;
        let cropped = started.elapsed();
        let device = self.model.vs.root().device();
        let xt = crop_tensor(&x.patch, device, self.kind);
        let feats = search_features(&self.model, z, &xt, self.opts.ce)?;
        let embedded = started.elapsed();
        let out = head_box(&self.model, &feats, &x.geometry, self.opts.hann.then_some(&self.window))?;
        if trace_on() {
            // The same stages the dataflow's crop, backbone and head nodes trace, for comparing.
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            tracing::info!(
                "[fused] trace crop={:.2}ms backbone={:.2}ms head={:.2}ms",
                ms(cropped),
                ms(embedded - cropped),
                ms(started.elapsed() - embedded)
            );
        }
        self.state = out.bbox;
        self.confidence = out.confidence;
        if let Some(rate) = self.model.cfg.template_update(out.confidence) {
            let new = template_at(&self.model, im, out.bbox, self.kind)?;
            if let Some(z) = self.z_tokens.as_mut() {
                blend_template(z, &new, rate);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hann_window_matches_upstream_values() {
        let w = hann2d(16, tch::Device::Cpu);
        let edge = w.double_value(&[0, 0]);
        let h1 = 0.5 * (1.0 - (2.0 * std::f64::consts::PI / 17.0).cos());
        assert!((edge - h1 * h1).abs() < 1e-6);
        assert!((w.double_value(&[7, 8]) - 0.99146 * 0.99146).abs() < 1e-3);
        assert!(w.min().double_value(&[]) > 0.0, "no zeros");
    }

    #[test]
    fn clip_keeps_ten_pixel_margin() {
        assert_eq!(clip_box([-5.0, -5.0, 3.0, 3.0], 100.0, 200.0, 10.0), [0.0, 0.0, 10.0, 10.0]);
        assert_eq!(clip_box([195.0, 50.0, 20.0, 20.0], 100.0, 200.0, 10.0), [190.0, 50.0, 10.0, 20.0]);
        assert_eq!(clip_box([20.5, 30.25, 40.0, 10.0], 100.0, 200.0, 10.0), [20.5, 30.25, 40.0, 10.0]);
    }

    #[test]
    fn degenerate_init_boxes_are_errors() {
        assert!(validate_init_box([10.0, 10.0, 0.0, 5.0], 50, 50).unwrap_err().to_string().contains("zero or negative"));
        assert!(validate_init_box([f64::NAN, 10.0, 5.0, 5.0], 50, 50).unwrap_err().to_string().contains("NaN"));
        assert!(validate_init_box([60.0, 10.0, 5.0, 5.0], 50, 50).unwrap_err().to_string().contains("outside"));
    }

    /// Init boxes that are not boxes are refused with the value and the rule: non-finite, zero,
    /// negative or sub-pixel sizes, boxes off the frame, and boxes many times the frame (before,
    /// 1e308 overflowed the crop's size and 30000 px tried to allocate a 10.8 GB crop).
    #[test]
    fn hostile_init_boxes_are_refused_naming_value_and_limit() {
        let err = |b: [f64; 4]| format!("{:#}", validate_init_box(b, 160, 120).unwrap_err());
        let e = err([0.0, 0.0, 1e308, 1e308]);
        assert!(e.contains("1e308") && e.contains(&format!("{MAX_BOX_SCALE}×")) && e.contains("2560 px"), "{e}");
        let e = err([0.0, 0.0, 30000.0, 30000.0]);
        assert!(e.contains("30000") && e.contains("2560 px"), "{e}");
        assert!(err([0.0, 0.0, f64::INFINITY, 5.0]).contains("infinity"));
        assert!(err([0.0, 0.0, -5.0, 5.0]).contains("zero or negative"));
        assert!(err([0.0, 0.0, 0.5, 5.0]).contains("at least 1 px"));
        assert!(err([-50.0, 0.0, 20.0, 20.0]).contains("outside"));
        assert!(err([10.0, 500.0, 20.0, 20.0]).contains("outside"));
        // A box larger than the frame but within the bound is a box (the target fills the view).
        assert_eq!(validate_init_box([-10.0, -10.0, 400.0, 300.0], 160, 120).unwrap(), [-10.0, -10.0, 400.0, 300.0]);
        // parse_box applies the frame-free checks, and names the text when it is not 4 numbers.
        assert!(format!("{:#}", parse_box("0,0,nan,5").unwrap_err()).contains("NaN"));
        assert!(format!("{:#}", parse_box("1,2,3").unwrap_err()).contains("3 numbers"));
        assert!(format!("{:#}", parse_box(&"1,".repeat(100_000)).unwrap_err()).contains("100001 numbers"));
        assert!(format!("{:#}", parse_box("1,2,x,4").unwrap_err()).contains("`x` is not a number"));
        assert_eq!(parse_box(" 1, 2 ,3,4 ").unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert!(check_box([0.0, 0.0, 1.0, 1.0]).is_ok());
        // Frames too small to track in are refused at the init box too.
        assert!(format!("{:#}", validate_init_box([0.0, 0.0, 1.0, 1.0], 1, 1).unwrap_err()).contains("1×1"));
    }

    /// Frame sizes the tracker refuses: too small to hold a clipped box, over the decoder caps, or
    /// another size than the sequence's first frame.
    #[test]
    fn frames_the_tracker_cannot_track_in_are_named() {
        use crate::base::image::{MAX_IMAGE_SIDE, check_image_size};
        assert!(format!("{:#}", check_frame(1, 1).unwrap_err()).contains("1×1"));
        assert!(check_frame(10, 10).is_ok());
        let e = format!("{:#}", check_frame(MAX_IMAGE_SIDE + 1, 10).unwrap_err());
        assert!(e.contains(&MAX_IMAGE_SIDE.to_string()), "{e}");
        assert!(format!("{:#}", check_image_size(1 << 15, 1 << 15).unwrap_err()).contains("pixels"));
        assert!(check_image_size(0, 5).is_err());
        let e = format!("{:#}", check_same_size((160, 120), 1, 1).unwrap_err());
        assert!(e.contains("1×1") && e.contains("160×120"), "{e}");
        assert!(check_same_size((160, 120), 160, 120).is_ok());
    }
}
