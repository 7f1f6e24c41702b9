//! The backbone node: template tokens once per sequence, then the ViT forward pass per search
//! region; sends the search feature map.

use super::kinds::*;
use anyhow::{Context, Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, load_model, next_event, out};
use crate::base::image::Image;
use crate::model::Parts;
use crate::tracker::{crop_tensor, search_features, template_tokens};
use crate::wire::{Crop, CropRole, Features};

node_params! {
    /// The backbone node's parameters.
    pub struct BackboneParams {
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
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `backbone` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "backbone",
    doc: "the ViT forward pass with candidate elimination (libtorch, GPU when there is one)",
    inputs: &[input("template", MessageType::Crop, true), input("search", MessageType::Crop, true)],
    outputs: &[output("features", MessageType::Features)],
    params: BackboneParams::SPECS,
};

impl BackboneParams {
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
    let q: BackboneParams = p.typed()?;
    let (model, kind) = load_model(&q.model(), &p.node_id, Parts::Backbone)?;
    let device = model.vs.root().device();
    let ce = q.ce;
    let idle = p.idle();
    let mut template: Option<(String, crate::model::TemplateTokens)> = None;
    loop {
        match next_event(events, idle)? {
            Next::Input { id, metadata, data } => {
                let c = Crop::decode(&metadata.parameters, &data)?;
                let patch = Image { width: c.size as usize, height: c.size as usize, channels: c.channels as usize, data: c.data.to_vec() };
                match (id.as_str(), c.role) {
                    ("template", CropRole::Template) => {
                        let z = crop_tensor(&patch, device, kind);
                        template = Some((c.header.seq.clone(), template_tokens(&model, &z)?));
                        // Frame 0 has no features: pass its init box on so the head emits it.
                        let msg =
                            Features { header: c.header.clone(), dims: vec![], geometry: c.geometry, init_box: c.init_box, data: &[][..] };
                        node.send_output(out("features"), msg.encode(), Vec::<f32>::new())
                            .map_err(|e| anyhow::anyhow!("send features: {e}"))?;
                    }
                    ("search", CropRole::Search) => {
                        let started = std::time::Instant::now();
                        super::trace(&p.node_id, "recv", c.header.index, c.header.t0, started);
                        let (seq, z) = template.as_ref().context("search region before any template")?;
                        if *seq != c.header.seq {
                            bail!("search region of {} arrived, but the template is of {seq} (a message was lost)", c.header.seq);
                        }
                        let x = crop_tensor(&patch, device, kind);
                        let f = search_features(&model, z, &x, ce)?.to_device(tch::Device::Cpu);
                        let dims = f.size()[1..].to_vec();
                        let values = Vec::<f32>::try_from(f.view([-1])).context("reading features")?;
                        let msg = Features { header: c.header.clone(), dims, geometry: c.geometry, init_box: None, data: &values[..] };
                        node.send_output(out("features"), msg.encode(), values.clone())
                            .map_err(|e| anyhow::anyhow!("send features: {e}"))?;
                        super::trace(&p.node_id, "sent", c.header.index, c.header.t0, started);
                    }
                    ("search", CropRole::TemplateUpdate { rate }) => {
                        // Blended in before the next search region, which follows on this port,
                        // at the rate the crop node decided with (one decision, one config).
                        let (seq, z) = template.as_mut().context("template update before any template")?;
                        if *seq != c.header.seq {
                            bail!("template update of {} arrived, but the template is of {seq} (a message was lost)", c.header.seq);
                        }
                        let new = template_tokens(&model, &crop_tensor(&patch, device, kind))?;
                        crate::tracker::blend_template(z, &new, rate);
                    }
                    (id, role) => bail!("input `{id}` got a {role:?} crop: is it wired to the right crop output?"),
                }
            }
            Next::Closed(_) => {}
            Next::Stop => return Ok(()),
        }
    }
}
