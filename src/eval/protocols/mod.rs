//! The scoring protocols of `trackflow analyze` and `trackflow evaluate`, one file each. A
//! protocol is a [`ProtocolSpec`] (its names, table columns and plots) and a [`Scorer`] that is
//! fed one sequence at a time and then gives the dataset's numbers. Adding a protocol is a new
//! file here and one line in [`PROTOCOLS`]; the metric arithmetic itself lives in
//! [`super::measures`] and [`super::multimodal`].

mod common;
mod depthtrack;
mod got10k;
mod pytracking;
mod rgbt234;
mod trackingnet;

use anyhow::{Context, Result};

pub use common::{DatasetScore, Outcome, PlotSpec, ProtocolSpec, Scorer, SequenceResults};

/// Every protocol, in the order help texts list them.
pub static PROTOCOLS: &[&ProtocolSpec] =
    &[&got10k::SPEC, &pytracking::OTB, &pytracking::LASOT, &pytracking::UAV, &trackingnet::SPEC, &rgbt234::SPEC, &depthtrack::SPEC];

/// The protocols for a help text, from [`PROTOCOLS`]: each name, its aliases and its columns
/// (`got10k (AO/SR0.5/SR0.75), otb or nfs, … (AUC/…)`).
pub(crate) fn help() -> String {
    let each: Vec<String> = PROTOCOLS
        .iter()
        .map(|p| {
            let names = std::iter::once(p.name).chain(p.aliases.iter().copied()).collect::<Vec<_>>().join(" or ");
            format!("{names} ({})", p.columns.join("/"))
        })
        .collect();
    format!("The toolkit protocol: {}", each.join("; "))
}

/// A protocol chosen by name.
#[derive(Clone, Copy)]
pub struct Protocol(&'static ProtocolSpec);

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl PartialEq for Protocol {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Protocol {
    /// pytracking's OTB protocol (success AUC, OP50/75, precision at 20 px), which `evaluate` uses.
    pub const OTB: Protocol = Protocol(&pytracking::OTB);

    /// Parses a protocol name or alias.
    pub fn parse(s: &str) -> Result<Self> {
        PROTOCOLS.iter().find(|p| p.name == s || p.aliases.contains(&s)).map(|p| Protocol(p)).with_context(|| {
            let names: Vec<&str> = PROTOCOLS.iter().flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied())).collect();
            format!("unknown protocol `{s}`: {}", names.join(", "))
        })
    }

    /// Its description.
    pub fn spec(self) -> &'static ProtocolSpec {
        self.0
    }

    /// Column names of the table.
    pub fn columns(self) -> &'static [&'static str] {
        self.0.columns
    }
}
