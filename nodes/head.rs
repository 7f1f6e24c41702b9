//! The head node: center head, Hann window, decode, map back to the image, clip; sends boxes
//! (fed back to the crop node and on to the writer).

use super::kinds::*;
use anyhow::{Context, Result};
use dora_node_api::{DoraNode, EventStream};
use tch::Tensor;

use super::{Next, Params, load_model, next_event, out};
use crate::base::time::now_ns;
use crate::model::Parts;
use crate::tracker::{hann2d, head_box};
use crate::wire::{BoxMsg, Features};

node_params! {
    /// The head node's parameters.
    pub struct HeadParams {
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
        /// Hann window on the score map.
        hann: bool = HANN,
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `head` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "head",
    doc: "the center head, Hann window, box decode, map back to the image and clip",
    inputs: &[input("features", MessageType::Features, true)],
    outputs: &[output("box", MessageType::Box)],
    params: HeadParams::SPECS,
};

impl HeadParams {
    /// The model's part of the parameters.
    pub fn model(&self) -> super::ModelParams {
        super::ModelParams {
            config: self.config.clone(),
            weights: self.weights.clone(),
            untrained: self.untrained,
            seed: self.seed,
            device: self.device.clone(),
            precision: None,
        }
    }
}

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: HeadParams = p.typed()?;
    let (model, _) = load_model(&q.model(), &p.node_id, Parts::Head)?;
    let device = model.vs.root().device();
    let window = q.hann.then(|| hann2d(model.cfg.search_feat(), device));
    let idle = p.idle();
    loop {
        match next_event(events, idle)? {
            Next::Input { metadata, data, .. } => {
                let f = Features::decode(&metadata.parameters, &data)?;
                let started = std::time::Instant::now();
                super::trace(&p.node_id, "recv", f.header.index, f.header.t0, started);
                let (bbox, score, confidence) = match f.init_box {
                    Some(b) => (b, 1.0, 1.0),
                    None => {
                        let dims: Vec<i64> = std::iter::once(1).chain(f.dims.iter().copied()).collect();
                        let t = Tensor::from_slice(f.data).view(&dims[..]);
                        let r = head_box(&model, &t, &f.geometry, window.as_ref())
                            .with_context(|| format!("{} frame {}", f.header.seq, f.header.index))?;
                        (r.bbox, r.score, r.confidence)
                    }
                };
                let elapsed = (now_ns() - f.header.t0) as f64 * 1e-9;
                super::trace(&p.node_id, "computed", f.header.index, f.header.t0, started);
                let (meta, values) = BoxMsg { header: f.header, bbox, score, confidence, elapsed, lost: false }.encode();
                node.send_output(out("box"), meta, values).map_err(|e| anyhow::anyhow!("send box: {e}"))?;
            }
            Next::Closed(_) => {}
            Next::Stop => return Ok(()),
        }
    }
}
