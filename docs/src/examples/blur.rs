//! The blur node: motion blur on every frame, for an ablation of how the tracker copes with it.

use anyhow::{Result, anyhow};
use dora_node_api::{DoraNode, EventStream};

use super::kinds::*;
use super::{Next, Params, frame_image, next_event, out};
use crate::wire::Frame;

node_params! {
    /// The blur node's parameters.
    pub struct BlurParams {
        /// Blur length in pixels.
        length: i64 = param("length", int(1, 64), Some("5"), "motion-blur length in pixels"),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `blur` node kind.
pub static KIND: NodeKind = NodeKind {
    name: "blur",
    doc: "motion blur on every frame (an ablation of the tracker's robustness to it)",
    inputs: &[input("frame", MessageType::Frame, true)],
    outputs: &[output("frame", MessageType::Frame)],
    params: BlurParams::SPECS,
};

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: BlurParams = p.typed()?;
    loop {
        match next_event(events, p.idle())? {
            Next::Input { id, metadata, data } if id == "frame" => {
                let f = Frame::decode(&metadata.parameters, &data)?;
                // Inline or sent by reference, the frame's pixels as the source read them.
                let mut im = frame_image(&f)?;
                crate::train::sampler::motion_blur(&mut im, q.length as usize, 0.0);
                let blurred = Frame {
                    header: f.header.clone(),
                    width: f.width,
                    height: f.height,
                    channels: f.channels,
                    init_box: f.init_box,
                    pixels: &im.data[..],
                };
                node.send_output_raw(out("frame"), blurred.encode(), im.data.len(), |b| b.copy_from_slice(&im.data))
                    .map_err(|e| anyhow!("send frame {}: {e}", f.header.index))?;
            }
            Next::Input { .. } | Next::Closed(_) => {}
            Next::Stop => return Ok(()),
        }
    }
}
