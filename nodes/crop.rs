//! The crop node: the template on frame 0, then a search region for frame t as soon as both
//! frame t and the box of frame t−1 (fed back from the head) are in.

use super::kinds::*;
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, frame_image, next_event, out};
use crate::base::image::Image;
use crate::base::time::now_ns;
use crate::model::Config;
use crate::tracker::{PreparedCrop, prepare_crop, validate_init_box};
use crate::wire::{BoxMsg, Crop, CropRole, Frame, Header};

#[derive(Default)]
struct SeqState {
    name: String,
    frames: u32,
    next_frame: u32,
    /// (index, box, confidence) of the latest box received.
    state: Option<(u32, [f64; 4], f64)>,
    pending: BTreeMap<u32, Image>,
    /// The frame whose search region was cut last, kept until its box is in: with the template
    /// update on (`test { template-rate }`), a confident box cuts the next template from it.
    last: Option<(u32, Image)>,
}

node_params! {
    /// The crop node's parameters.
    pub struct CropParams {
        /// Model preset or config file (crop sizes and factors).
        config: String = CONFIG,
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `crop` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "crop",
    doc: "cuts the template once per sequence and the search region per frame around the previous box; with the template update on, each update's template goes out on `search` ahead of the next region",
    inputs: &[input("frame", MessageType::Frame, true), input("box", MessageType::Box, true)],
    outputs: &[output("template", MessageType::Crop), output("search", MessageType::Crop)],
    params: CropParams::SPECS,
};

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: CropParams = p.typed()?;
    let cfg = Config::load(Path::new(&q.config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let d = cfg.data.clone();
    // Tracking crops use the `test` factors (the training ones unless the config overrides them).
    let template_factor = cfg.test_template_factor();
    let idle = p.idle();
    let mut s = SeqState::default();
    // dora may deliver the next sequence's frame 0 before this node's copy of the previous
    // sequence's last box (the source saw that box first); such late boxes are expected.
    let mut finished: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut frames_open = true;
    loop {
        if !frames_open && s.pending.is_empty() {
            return Ok(());
        }
        match next_event(events, idle)? {
            Next::Input { id, metadata, data } if id == "frame" => {
                let f = Frame::decode(&metadata.parameters, &data)?;
                let h = &f.header;
                if h.index == 0 {
                    if !s.pending.is_empty() {
                        bail!("sequence {} started while {} still had {} frames waiting", h.seq, s.name, s.pending.len());
                    }
                    let im = frame_image(&f)?;
                    let Some(init) = f.init_box else { bail!("frame 1 of {} carries no init box", h.seq) };
                    let init = validate_init_box(init, im.width, im.height)?;
                    let t0 = now_ns();
                    let z = prepare_crop(&im, init, template_factor, d.template_size as usize)?;
                    send_crop(node, "template", Header { t0, ..h.clone() }, CropRole::Template, &z, Some(init))?;
                    finished.insert(std::mem::take(&mut s.name));
                    s = SeqState {
                        name: h.seq.clone(),
                        frames: h.frames,
                        next_frame: 1,
                        state: None,
                        pending: BTreeMap::new(),
                        last: None,
                    };
                } else {
                    if h.seq != s.name || h.index != s.next_frame {
                        bail!(
                            "frame {} of {} arrived, expected frame {} of {} (a frame was lost)",
                            h.number(),
                            h.seq,
                            s.next_frame + 1,
                            s.name
                        );
                    }
                    s.next_frame += 1;
                    s.pending.insert(h.index, frame_image(&f)?);
                }
            }
            Next::Input { id, metadata, data } if id == "box" => {
                let b = BoxMsg::decode(&metadata.parameters, &data)?;
                if b.header.seq != s.name && finished.contains(&b.header.seq) {
                    continue;
                }
                let expected = s.state.map_or(0, |(i, _, _)| i + 1);
                if b.header.seq != s.name || b.header.index != expected {
                    bail!(
                        "box for {} frame {} arrived, expected {} frame {} (a message was lost)",
                        b.header.seq,
                        b.header.number(),
                        s.name,
                        expected + 1
                    );
                }
                s.state = Some((b.header.index, b.bbox, b.confidence));
            }
            Next::Input { id, .. } => tracing::warn!("[{}] warning: unexpected input `{id}`", p.node_id),
            Next::Closed(id) if id == "frame" => frames_open = false,
            Next::Closed(id) => {
                if !s.pending.is_empty() {
                    bail!("input `{id}` closed with {} frames of {} still to crop", s.pending.len(), s.name)
                }
            }
            Next::Stop => return Ok(()),
        }
        // Cut the next search region once its frame and the previous box are both in.
        if let Some((i, bbox, confidence)) = s.state
            && let Some(im) = s.pending.remove(&(i + 1))
        {
            // The template update from frame i (frame 0's box is the init box, which updates
            // nothing), on the search port so that the backbone blends it in first.
            if let Some((j, frame)) = s.last.take()
                && j == i
                && let Some(rate) = cfg.template_update(confidence)
            {
                let t0 = now_ns();
                let z = prepare_crop(&frame, bbox, template_factor, d.template_size as usize)?;
                let header = Header { seq: s.name.clone(), index: i, frames: s.frames, t0 };
                send_crop(node, "search", header, CropRole::TemplateUpdate { rate }, &z, None)?;
            }
            let t0 = now_ns();
            let x = prepare_crop(&im, bbox, cfg.next_search_factor(confidence), d.search_size as usize)?;
            let header = Header { seq: s.name.clone(), index: i + 1, frames: s.frames, t0 };
            send_crop(node, "search", header, CropRole::Search, &x, None)?;
            super::trace(&p.node_id, "sent", i + 1, t0, std::time::Instant::now());
            if cfg.test.template_rate.is_some() {
                s.last = Some((i + 1, im));
            }
        }
    }
}

/// Sends a cut crop on `port`: the template, a template update or a search region, its pixels
/// copied once into dora's buffer.
fn send_crop(node: &mut DoraNode, port: &str, header: Header, role: CropRole, crop: &PreparedCrop, init_box: Option<[f64; 4]>) -> Result<()> {
    let patch = &crop.patch;
    let msg = Crop {
        header,
        role,
        size: patch.width as u32,
        channels: patch.channels as u32,
        geometry: crop.geometry,
        init_box,
        data: &patch.data[..],
    };
    node.send_output_raw(out(port), msg.encode(), patch.data.len(), |b| b.copy_from_slice(&patch.data))
        .map_err(|e| anyhow::anyhow!("send {role:?} crop on `{port}`: {e}"))
}
