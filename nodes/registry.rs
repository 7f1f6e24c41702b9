//! The built-in node kinds, one line each: the table the dataflow checker reads the kinds from
//! and `trackflow node <kind>` dispatches through. Each kind is declared whole in its own file
//! (`nodes/<kind>.rs`: its [`NodeKind`] with ports and doc line, its parameters with
//! [`node_params!`](super::kinds), its `run`); adding one is that file plus a line here. Kept out
//! of `nodes/mod.rs` so that the node files, which use the runtime in `mod.rs`, are not used by
//! it in turn.

use anyhow::Result;
use dora_node_api::{DoraNode, EventStream};
use serde::{Serialize, de::DeserializeOwned};

use super::Params;
use super::kinds::NodeKind;

/// A node kind's event loop.
pub type RunFn = fn(&mut DoraNode, &mut EventStream, &Params) -> Result<()>;

/// One built-in kind: its declaration, its loop and its parameter struct (read through
/// [`Registered::param_names`]).
pub struct Registered {
    /// Ports, parameters and doc line.
    pub kind: &'static NodeKind,
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

const fn entry<T: DeserializeOwned + Serialize>(kind: &'static NodeKind, run: RunFn) -> Registered {
    Registered { kind, run, param_names: names::<T> }
}

fn names<T: DeserializeOwned + Serialize>(p: &Params) -> Result<Vec<String>> {
    let t: T = p.typed()?;
    let v = serde_json::to_value(t)?;
    let mut keys: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    Ok(keys)
}

/// Every built-in kind, one line each.
pub static REGISTRY: &[Registered] = &[
    entry::<super::source::SourceParams>(&super::source::KIND, super::source::run),
    entry::<super::crop::CropParams>(&super::crop::KIND, super::crop::run),
    entry::<super::backbone::BackboneParams>(&super::backbone::KIND, super::backbone::run),
    entry::<super::head::HeadParams>(&super::head::KIND, super::head::run),
    entry::<super::tracker::TrackerParams>(&super::tracker::KIND, super::tracker::run),
    entry::<super::camera::CameraParams>(&super::camera::KIND, super::camera::run),
    entry::<super::live_view::LiveViewParams>(&super::live_view::KIND, super::live_view::run),
    entry::<super::viewer::ViewerParams>(&super::viewer::KIND, super::viewer::run),
    entry::<super::writer::WriterParams>(&super::writer::KIND, super::writer::run),
    entry::<super::sampler::SamplerParams>(&super::sampler::KIND, super::sampler::run),
    entry::<super::trainer::TrainerParams>(&super::trainer::KIND, super::trainer::run),
    entry::<super::checkpoint::CheckpointParams>(&super::checkpoint::KIND, super::checkpoint::run),
    entry::<super::metrics::MetricsParams>(&super::metrics::KIND, super::metrics::run),
];

/// A kind by the name `kind="..."` uses.
pub fn get(kind: &str) -> Option<&'static Registered> {
    REGISTRY.iter().find(|r| r.kind.name == kind)
}

/// Every built-in kind's declaration, in the registry's order.
pub fn kinds() -> impl Iterator<Item = &'static NodeKind> {
    REGISTRY.iter().map(|r| r.kind)
}
