//! The fused tracker node: crop, backbone and head in one process (the `trackflow track` path
//! inside a dataflow, for ablations and small machines).

use anyhow::{Context, Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, load_model, next_event, now_ns, out};
use crate::model::Parts;
use crate::tracker::{TrackOptions, Tracker};
use crate::wire::{BoxMsg, Frame, Header};

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let (model, kind) = load_model(p, Parts::All)?;
    let mut tracker = Tracker::new(model, TrackOptions { ce: p.bool("ce")?, hann: p.bool("hann")? }, kind);
    let idle = p.idle();
    let mut expected: Option<(String, u32)> = None;
    loop {
        match next_event(events, idle)? {
            Next::Input { metadata, data, .. } => {
                let f = Frame::decode(&metadata.parameters, &data)?;
                let h = f.header.clone();
                if h.index != 0 && expected.as_ref() != Some(&(h.seq.clone(), h.index)) {
                    bail!("frame {} of {} arrived out of order (a frame was lost)", h.index, h.seq);
                }
                let t0 = now_ns();
                let im = f.to_image();
                let (bbox, score) = if h.index == 0 {
                    let b = f.init_box.with_context(|| format!("frame 0 of {} carries no init box", h.seq))?;
                    tracker.initialize(&im, b)?;
                    (b, 1.0)
                } else {
                    let r = tracker.track(&im).with_context(|| format!("{} frame {}", h.seq, h.index))?;
                    (r.bbox, r.score)
                };
                expected = Some((h.seq.clone(), h.index + 1));
                let elapsed = (now_ns() - t0) as f64 * 1e-9;
                let (meta, values) = BoxMsg { header: Header { t0, ..h }, bbox, score, elapsed }.encode();
                node.send_output(out("box"), meta, values).map_err(|e| anyhow::anyhow!("send box: {e}"))?;
            }
            Next::Closed(_) => {}
            Next::Stop => return Ok(()),
        }
    }
}
