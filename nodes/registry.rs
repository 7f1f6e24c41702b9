//! Which event loop and which typed parameter struct belong to which node kind: the table that
//! `trackflow node <kind>` dispatches through. Kept out of `nodes/mod.rs` so that the node files,
//! which use the runtime in `mod.rs`, are not used by it in turn.

use anyhow::Result;
use dora_node_api::{DoraNode, EventStream};
use serde::{Serialize, de::DeserializeOwned};

use super::Params;

/// A node kind's event loop.
pub type RunFn = fn(&mut DoraNode, &mut EventStream, &Params) -> Result<()>;

/// One built-in kind's code: its loop and its parameter struct (read through [`Registered::param_names`]).
pub struct Registered {
    /// The name written as `kind="..."` (and its spec's name in `dataflow/kinds.rs`).
    pub kind: &'static str,
    /// The event loop.
    pub run: RunFn,
    /// The parameter names its typed struct reads and writes back.
    param_names: fn(&Params) -> Result<Vec<String>>,
}

impl Registered {
    /// The parameter names the kind's typed struct reads and writes back, for the test that keeps
    /// every struct and its spec in `dataflow/kinds.rs` in step: `p` (the spec's defaults) is
    /// read into the struct and written out again.
    pub fn param_names(&self, p: &Params) -> Result<Vec<String>> {
        (self.param_names)(p)
    }
}

const fn entry<T: DeserializeOwned + Serialize>(kind: &'static str, run: RunFn) -> Registered {
    Registered { kind, run, param_names: names::<T> }
}

fn names<T: DeserializeOwned + Serialize>(p: &Params) -> Result<Vec<String>> {
    let t: T = p.typed()?;
    let v = serde_json::to_value(t)?;
    let mut keys: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    Ok(keys)
}

/// Every built-in kind's code, one line each.
pub static REGISTRY: &[Registered] = &[
    entry::<super::source::SourceParams>("source", super::source::run),
    entry::<super::crop::CropParams>("crop", super::crop::run),
    entry::<super::backbone::BackboneParams>("backbone", super::backbone::run),
    entry::<super::head::HeadParams>("head", super::head::run),
    entry::<super::tracker::TrackerParams>("tracker", super::tracker::run),
    entry::<super::camera::CameraParams>("camera", super::camera::run),
    entry::<super::live_view::LiveViewParams>("live-view", super::live_view::run),
    entry::<super::viewer::ViewerParams>("viewer", super::viewer::run),
    entry::<super::writer::WriterParams>("writer", super::writer::run),
    entry::<super::sampler::SamplerParams>("sampler", super::sampler::run),
    entry::<super::trainer::TrainerParams>("trainer", super::trainer::run),
    entry::<super::checkpoint::CheckpointParams>("checkpoint", super::checkpoint::run),
    entry::<super::metrics::MetricsParams>("metrics", super::metrics::run),
];

/// A kind's code by name.
pub fn get(kind: &str) -> Option<&'static Registered> {
    REGISTRY.iter().find(|r| r.kind == kind)
}
