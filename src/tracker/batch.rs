//! Tracking B sequences in lockstep: one search crop per active sequence, one forward pass of
//! batch B per step. Each slot keeps its own template tokens and state, so a slot's boxes are
//! those of [`super::Tracker`] on its sequence alone (in float64 equal to 1e-9 px; in float32 up to
//! the rounding of batched kernels). Sequences end at different times; the caller refills a
//! freed slot with the next sequence ([`track_lockstep`] does).

use anyhow::{Context, Result, bail};
use tch::{Kind, Tensor};

use super::{
    TrackOptions, Tracked, check_same_size, crop_tensor, hann2d, head_box, prepare_crop, search_features, template_tokens,
    validate_init_box,
};
use crate::base::image::Image;
use crate::model::{OSTrack, TemplateTokens};

/// One sequence's tracking state.
#[derive(Debug)]
struct Slot {
    z: TemplateTokens,
    state: [f64; 4],
    /// The last frame's confidence (1 after the first), which picks the next search factor.
    confidence: f64,
    /// The first frame's width and height: every later frame must have them.
    frame_size: (usize, usize),
}

/// A tracker for up to `batch` sequences at once.
#[derive(Debug)]
pub struct BatchTracker {
    model: OSTrack,
    opts: TrackOptions,
    window: Tensor,
    kind: Kind,
    slots: Vec<Option<Slot>>,
}

impl BatchTracker {
    /// `batch` slots over a model built with [`crate::model::Parts::All`].
    pub fn new(model: OSTrack, opts: TrackOptions, kind: Kind, batch: usize) -> Self {
        let window = hann2d(model.cfg.search_feat(), model.vs.root().device());
        Self { model, opts, window, kind, slots: (0..batch.max(1)).map(|_| None).collect() }
    }

    /// Slots in all.
    pub fn batch(&self) -> usize {
        self.slots.len()
    }

    /// Starts a sequence in `slot` (as [`super::Tracker::initialize`]).
    pub fn initialize(&mut self, slot: usize, im: &Image, init_box: [f64; 4]) -> Result<()> {
        let b = validate_init_box(init_box, im.width, im.height)?;
        let d = &self.model.cfg.data;
        let z = prepare_crop(im, b, self.model.cfg.test_template_factor(), d.template_size as usize)?;
        let zt = crop_tensor(&z.patch, self.model.vs.root().device(), self.kind);
        let z = template_tokens(&self.model, &zt)?;
        *self.slots.get_mut(slot).context("no such slot")? = Some(Slot { z, state: b, confidence: 1.0, frame_size: (im.width, im.height) });
        Ok(())
    }

    /// Whether `slot` can track `im`: the frame passes [`super::check_frame`] and has the size
    /// of the slot's first frame ([`check_same_size`]). [`Self::track`] checks it too; checking
    /// first lets a caller end that one sequence instead of failing the whole batch's step.
    pub(crate) fn check_frame(&self, slot: usize, im: &Image) -> Result<()> {
        let Some(Some(s)) = self.slots.get(slot) else { bail!("slot {slot} is not tracking a sequence") };
        check_same_size(s.frame_size, im.width, im.height)?;
        super::check_frame(im.width, im.height)
    }

    /// Frees `slot` for the next sequence.
    pub(crate) fn finish(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = None;
        }
    }

    /// Tracks one frame in each of the given slots with a single forward pass of that batch. A
    /// frame of another size than its sequence's first ([`check_same_size`]) is an error.
    pub fn track(&mut self, frames: &[(usize, &Image)]) -> Result<Vec<Tracked>> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let d = &self.model.cfg.data;
        let device = self.model.vs.root().device();
        let (mut crops, mut geometry, mut tokens, mut prompts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &(slot, im) in frames {
            self.check_frame(slot, im)?;
            let Some(Some(s)) = self.slots.get(slot) else { bail!("slot {slot} is not tracking a sequence") };
            let x = prepare_crop(im, s.state, self.model.cfg.next_search_factor(s.confidence), d.search_size as usize)?;
            crops.push(crop_tensor(&x.patch, device, self.kind));
            geometry.push(x.geometry);
            tokens.push(s.z.tokens.shallow_clone());
            if let Some(p) = &s.z.prompt {
                prompts.push(p.shallow_clone());
            }
        }
        let z = TemplateTokens { tokens: Tensor::cat(&tokens, 0), prompt: (!prompts.is_empty()).then(|| Tensor::cat(&prompts, 0)) };
        let feats = search_features(&self.model, &z, &Tensor::cat(&crops, 0), self.opts.ce)?;
        let mut out = Vec::with_capacity(frames.len());
        for (i, &(slot, im)) in frames.iter().enumerate() {
            let t = head_box(&self.model, &feats.narrow(0, i as i64, 1), &geometry[i], self.opts.hann.then_some(&self.window))?;
            let update = match self.model.cfg.template_update(t.confidence) {
                Some(rate) => Some((rate, super::template_at(&self.model, im, t.bbox, self.kind)?)),
                None => None,
            };
            if let Some(Some(s)) = self.slots.get_mut(slot) {
                s.state = t.bbox;
                s.confidence = t.confidence;
                if let Some((rate, new)) = update {
                    super::blend_template(&mut s.z, &new, rate);
                }
            }
            out.push(t);
        }
        Ok(out)
    }
}

/// One sequence's frames for [`track_lockstep`]: its name, init box and frame iterator.
pub struct LockstepInput<I> {
    /// The sequence's name, handed back with its results.
    pub name: String,
    /// Frame 0's box.
    pub init_box: [f64; 4],
    /// The frames, in order.
    pub frames: I,
}

/// One tracked frame of [`track_lockstep`]: box, confidence, and this frame's share of its
/// step's time in seconds (frame 0: the init box, confidence 1).
pub type LockstepFrame = ([f64; 4], f64, f64);

/// Tracks every input through `tracker`'s slots in lockstep, refilling a slot as soon as its
/// sequence ends. `done` gets each sequence's frames when it ends, with the error that stopped
/// it early, if any (its frames so far are kept; the other sequences go on).
pub fn track_lockstep<I>(
    tracker: &mut BatchTracker,
    inputs: impl IntoIterator<Item = LockstepInput<I>>,
    mut done: impl FnMut(&str, Vec<LockstepFrame>, Option<anyhow::Error>),
) -> Result<()>
where
    I: Iterator<Item = Result<Image>>,
{
    struct Active<I> {
        name: String,
        frames: I,
        boxes: Vec<LockstepFrame>,
    }
    let mut queue = inputs.into_iter();
    let mut active: Vec<Option<Active<I>>> = (0..tracker.batch()).map(|_| None).collect();
    let mut exhausted = false;
    loop {
        // Fill free slots: read frame 0 and initialise.
        for (slot, entry) in active.iter_mut().enumerate() {
            while entry.is_none() && !exhausted {
                let Some(mut input) = queue.next() else {
                    exhausted = true;
                    break;
                };
                let started = std::time::Instant::now();
                let first = match input.frames.next() {
                    Some(Ok(im)) => tracker.initialize(slot, &im, input.init_box),
                    Some(Err(e)) => Err(e),
                    None => Err(anyhow::anyhow!("no frames")),
                };
                match first {
                    Ok(()) => {
                        let boxes = vec![(input.init_box, 1.0, started.elapsed().as_secs_f64())];
                        *entry = Some(Active { name: input.name, frames: input.frames, boxes })
                    }
                    Err(e) => done(&input.name, Vec::new(), Some(e.context("frame 0"))),
                }
            }
        }
        // Next frame of every active slot; the ones that ended or failed are handed back.
        let mut images: Vec<(usize, Image)> = Vec::new();
        for (slot, entry) in active.iter_mut().enumerate() {
            let Some(a) = entry.as_mut() else { continue };
            // A frame the slot cannot take (another size than its first, too small) ends that
            // sequence with the error, as a decode error does; the other slots go on.
            let next = a.frames.next().map(|r| r.and_then(|im| tracker.check_frame(slot, &im).map(|()| im)));
            match next {
                Some(Ok(im)) => images.push((slot, im)),
                Some(Err(e)) => {
                    let a = entry.take().expect("active");
                    tracker.finish(slot);
                    let frame = a.boxes.len();
                    done(&a.name, a.boxes, Some(e.context(format!("frame {frame}"))));
                }
                None => {
                    let a = entry.take().expect("active");
                    tracker.finish(slot);
                    done(&a.name, a.boxes, None);
                }
            }
        }
        if images.is_empty() {
            // Every slot ended this round: refill, or stop when the queue is empty too.
            if exhausted {
                return Ok(());
            }
            continue;
        }
        let refs: Vec<(usize, &Image)> = images.iter().map(|(s, im)| (*s, im)).collect();
        let started = std::time::Instant::now();
        let tracked = tracker.track(&refs)?;
        let share = started.elapsed().as_secs_f64() / refs.len() as f64;
        for ((slot, _), t) in images.iter().zip(tracked) {
            if let Some(a) = active[*slot].as_mut() {
                a.boxes.push((t.bbox, t.confidence, share));
            }
        }
    }
}
