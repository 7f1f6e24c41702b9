//! The fused tracker node: crop, backbone and head in one process (the `trackflow track` path
//! inside a dataflow, for ablations and small machines).
//!
//! Offline (the default) every frame must arrive, in order. With `live`, it tracks a camera:
//! frames the newest-frame input policy dropped are counted, not errors; tracking starts from
//! `init-box` or from a `control` message (a box the user drew), and can be paused and resumed
//! without restarting the graph; a low peak score for `lost-frames` frames flags the box lost.

use super::kinds::*;
use anyhow::{Context, Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, frame_image, load_model, next_event, out};
use crate::base::time::now_ns;
use crate::model::Parts;
use crate::tracker::{TrackOptions, Tracked, Tracker};
use crate::wire::{BoxMsg, Control, Frame, Header};

node_params! {
    /// The tracker node's parameters.
    pub struct TrackerParams {
        /// Model preset or config file.
        config: String = CONFIG,
        /// Weights file; empty: the preset's own.
        weights: String = WEIGHTS,
        /// Random weights from `seed` on purpose.
        untrained: bool = UNTRAINED,
        /// Seed of random weights.
        seed: i64 = SEED,
        /// `auto`, `cpu` or `cuda:N`.
        device: String = DEVICE,
        /// `fp32`, `fp16` or `bf16`.
        precision: String = PRECISION,
        /// Candidate elimination.
        ce: bool = CE,
        /// Hann window on the score map.
        hann: bool = HANN,
        /// Camera mode.
        live: bool = param(
                        "live",
                        ParamType::Bool,
                        Some("#false"),
                        "camera mode: frames may be skipped (counted), init from `init-box` or a control message",
                    ),
        /// Live: `x,y,w,h` to start from on the first frame.
        init_box: String = param("init-box", ParamType::Str, Some("\"\""), "live: \"x,y,w,h\" to start tracking on the first frame"),
        /// Live: peak score under which a frame counts towards `lost`.
        lost_threshold: f64 = param("lost-threshold", float(SHARE), Some("0.3"), "live: peak score under which a frame counts towards `lost`"),
        /// Live: low-score frames in a row before the box is flagged lost.
        lost_frames: i64 = param("lost-frames", int(1, 1_000_000), Some("5"), "live: consecutive low-score frames before the box is flagged lost"),
        /// Live: extra time per frame (tests, benchmarks).
        delay_ms: f64 = param(
                        "delay-ms",
                        float(FloatRange::closed(0.0, 3_600_000.0)),
                        Some("0.0"),
                        "live: extra time per frame (simulates a slower model, for tests and benchmarks)",
                    ),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `tracker` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "tracker",
    doc: "crop, backbone and head fused in one node (the `trackflow track` path); with `live`, for cameras",
    inputs: &[input("frame", MessageType::Frame, true), input("control", MessageType::Control, false)],
    outputs: &[output("box", MessageType::Box)],
    params: TrackerParams::SPECS,
};

impl TrackerParams {
    /// The model's part of the parameters.
    pub fn model(&self) -> super::ModelParams {
        super::ModelParams {
            config: self.config.clone(),
            weights: self.weights.clone(),
            untrained: self.untrained,
            seed: self.seed,
            device: self.device.clone(),
            precision: Some(self.precision.clone()),
        }
    }
}

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: TrackerParams = p.typed()?;
    let (model, kind) = load_model(&q.model(), &p.node_id, Parts::All)?;
    let mut tracker = Tracker::new(model, TrackOptions { ce: q.ce, hann: q.hann }, kind);
    if q.live {
        return live(node, events, p, &q, tracker);
    }
    let idle = p.idle();
    let mut expected: Option<(String, u32)> = None;
    loop {
        match next_event(events, idle)? {
            Next::Input { metadata, data, .. } => {
                let f = Frame::decode(&metadata.parameters, &data)?;
                let h = f.header.clone();
                if h.index != 0 && expected.as_ref() != Some(&(h.seq.clone(), h.index)) {
                    bail!("frame {} of {} arrived out of order (a frame was lost)", h.number(), h.seq);
                }
                let t0 = now_ns();
                let im = frame_image(&f)?;
                let init = match h.index {
                    0 => Some(f.init_box.with_context(|| format!("frame 1 of {} carries no init box", h.seq))?),
                    _ => None,
                };
                let Tracked { bbox, score, confidence } =
                    tracker.step(&im, init).with_context(|| format!("{} frame {}", h.seq, h.number()))?;
                expected = Some((h.seq.clone(), h.index + 1));
                let elapsed = (now_ns() - t0) as f64 * 1e-9;
                let (meta, values) = BoxMsg { header: Header { t0, ..h }, bbox, score, confidence, elapsed, lost: false }.encode();
                node.send_output(out("box"), meta, values).map_err(|e| anyhow::anyhow!("send box: {e}"))?;
            }
            Next::Closed(_) => {}
            Next::Stop => return Ok(()),
        }
    }
}

/// Live statistics, logged every few seconds and at the end.
#[derive(Debug, Default)]
struct LiveStats {
    seen: u64,
    dropped: u64,
    latencies_ms: Vec<f64>,
}

impl LiveStats {
    fn line(&self) -> String {
        let mut l = self.latencies_ms.clone();
        l.sort_by(f64::total_cmp);
        let q = |f: f64| l[((l.len() - 1) as f64 * f).round() as usize];
        let latency = if l.is_empty() {
            "no box yet, so no capture-to-box latency".to_string()
        } else {
            format!("capture-to-box latency median {:.1} ms, p95 {:.1} ms", q(0.5), q(0.95))
        };
        format!(
            "{} frames processed, {} dropped ({:.1}% processed); {latency}",
            self.seen,
            self.dropped,
            100.0 * self.seen as f64 / (self.seen + self.dropped).max(1) as f64,
        )
    }
}

fn live(node: &mut DoraNode, events: &mut EventStream, p: &Params, q: &TrackerParams, mut tracker: Tracker) -> Result<()> {
    let mut pending_init = match q.init_box.as_str() {
        "" => None,
        s => Some(crate::tracker::parse_box(s)?),
    };
    let (threshold, lost_after) = (q.lost_threshold, q.lost_frames.max(1) as u32);
    let delay = std::time::Duration::from_secs_f64(q.delay_ms.max(0.0) / 1e3);
    let idle = p.idle();
    let mut tracking = false;
    let mut paused = false;
    let mut low = 0u32;
    let mut last_index: Option<u32> = None;
    let mut stats = LiveStats::default();
    let mut last_log = std::time::Instant::now();
    loop {
        match next_event(events, idle)? {
            Next::Input { id, metadata, .. } if id == "control" => match Control::decode(&metadata.parameters)? {
                Control::Init(b) => {
                    pending_init = Some(b);
                    paused = false;
                    tracing::info!("[{}] init box {b:?} from the view", p.node_id);
                }
                Control::Pause => paused = true,
                Control::Resume => paused = false,
            },
            Next::Input { metadata, data, .. } => {
                let f = Frame::decode(&metadata.parameters, &data)?;
                let h = f.header.clone();
                if let Some(last) = last_index
                    && h.index > last + 1
                {
                    stats.dropped += (h.index - last - 1) as u64;
                }
                last_index = Some(h.index);
                stats.seen += 1;
                let im = frame_image(&f)?;
                let init = pending_init.take();
                let (bbox, score, confidence, lost) = if init.is_some() || tracking && !paused {
                    let r = tracker.step(&im, init).with_context(|| format!("live frame {}", h.number()))?;
                    if init.is_some() {
                        tracking = true;
                        low = 0;
                    } else {
                        low = if r.score < threshold { low + 1 } else { 0 };
                    }
                    (r.bbox, r.score, r.confidence, low >= lost_after)
                } else {
                    ([0.0; 4], 0.0, 0.0, true)
                };
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                // `t0` stays the capture time, so `elapsed` is capture-to-box latency.
                let elapsed = (now_ns() - h.t0) as f64 * 1e-9;
                stats.latencies_ms.push(elapsed * 1e3);
                let (meta, values) = BoxMsg { header: h, bbox, score, confidence, elapsed, lost }.encode();
                node.send_output(out("box"), meta, values).map_err(|e| anyhow::anyhow!("send box: {e}"))?;
                if last_log.elapsed().as_secs() >= 5 {
                    tracing::info!("[{}] {}", p.node_id, stats.line());
                    last_log = std::time::Instant::now();
                }
            }
            // The camera ended: stop, even though the view's control edge is still open.
            Next::Closed(id) if id == "frame" => {
                tracing::info!("[{}] live summary: {}", p.node_id, stats.line());
                return Ok(());
            }
            Next::Closed(_) => {}
            Next::Stop => {
                tracing::info!("[{}] live summary: {}", p.node_id, stats.line());
                return Ok(());
            }
        }
    }
}
