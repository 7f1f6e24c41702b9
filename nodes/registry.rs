//! What the registry of built-in node kinds holds and how it is read. The list itself is one
//! line per kind in `nodes/mod.rs` (`node_kinds!`); each kind is declared whole in its own file
//! (`nodes/<kind>.rs`: its [`NodeKind`] with ports and doc line, its parameters with
//! `node_params!` (in [`super::kinds`]), its `run`).

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
    /// every struct and its spec in `nodes/<kind>.rs` in step: `p` (the spec's defaults) is
    /// read into the struct and written out again.
    pub fn param_names(&self, p: &Params) -> Result<Vec<String>> {
        (self.param_names)(p)
    }
}

/// A kind's line in [`REGISTRY`] (made by `node_kinds!` in `nodes/mod.rs`).
pub(super) const fn entry<T: DeserializeOwned + Serialize>(kind: &'static NodeKind, run: RunFn) -> Registered {
    Registered { kind, run, param_names: names::<T> }
}

fn names<T: DeserializeOwned + Serialize>(p: &Params) -> Result<Vec<String>> {
    let t: T = p.typed()?;
    let v = serde_json::to_value(t)?;
    let mut keys: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    Ok(keys)
}

pub use super::REGISTRY;

/// A kind by the name `kind="..."` uses.
pub fn get(kind: &str) -> Option<&'static Registered> {
    REGISTRY.iter().find(|r| r.kind.name == kind)
}

/// Every built-in kind's declaration, in the registry's order.
pub fn kinds() -> impl Iterator<Item = &'static NodeKind> {
    REGISTRY.iter().map(|r| r.kind)
}
