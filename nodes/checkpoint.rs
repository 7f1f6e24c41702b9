//! The checkpoint node: receives the trainer's notices of checkpoint files it has written, checks
//! each file against its notice (size and SHA-256), keeps the newest `keep` checkpoints of the
//! folder, and acknowledges each on `saved`, so the trainer exits only once its final weights are
//! known good on disk.
//!
//! Files never travel through the dataflow: a ViT-B checkpoint (1.1 GB with AdamW's moments) is
//! four times dora's 256 MiB message cap. The trainer writes them atomically and sends a notice
//! ([`crate::wire::CheckpointNotice`]); this node is where a run's checkpoint policy lives (what
//! to keep, and where another graph could copy them elsewhere).

use super::kinds::*;
use std::path::Path;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, next_event};
use crate::train::checkpoint::{digest, prune};
use crate::wire::{Bytes, CheckpointNotice};

node_params! {
    /// The checkpoint node's parameters.
    pub struct CheckpointParams {
        /// Checkpoints to keep.
        keep: i64 = param("keep", int(1, 1_000_000), Some("3"), "checkpoints to keep"),
        /// Re-read each file and compare its SHA-256 with the notice's.
        verify: bool = param("verify", ParamType::Bool, Some("#true"), "re-read each announced file and compare its SHA-256 with the notice's"),
        /// Seconds without a checkpoint before giving up.
        idle_timeout: f64 = param(
                        "idle-timeout",
                        float(FloatRange::above(0.0, 1e9)),
                        Some("604800.0"),
                        "seconds without a checkpoint before the node gives up (default a week: epochs can be long)",
                    ),
    }
}

/// The `checkpoint` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "checkpoint",
    doc: "checks each checkpoint the trainer announces (size, SHA-256), keeps the newest few, and confirms it",
    inputs: &[input("checkpoint", MessageType::Checkpoint, true)],
    outputs: &[output("saved", MessageType::Ack)],
    params: CheckpointParams::SPECS,
};

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: CheckpointParams = p.typed()?;
    let keep = q.keep.max(1) as usize;
    let idle = p.idle();
    loop {
        match next_event(events, idle)? {
            Next::Input { metadata, data, .. } => {
                let notice = CheckpointNotice::decode(&metadata.parameters, &data)?;
                let path = Path::new(&notice.path);
                check(&notice, q.verify)?;
                tracing::info!(
                    "[{}] epoch {}: {} {} ({:.1} MB{})",
                    p.node_id,
                    notice.epoch,
                    if notice.role == "final" { "final weights" } else { "checkpoint" },
                    path.display(),
                    notice.bytes as f64 / 1e6,
                    if q.verify { ", SHA-256 checked" } else { "" }
                );
                if notice.role != "final"
                    && let Some(dir) = path.parent()
                {
                    prune(dir, keep, notice.epoch)?;
                }
                // The trainer waits for this before it exits: a sender that exits at once can
                // lose its last message in dora 1.1.
                let ack = Bytes { ty: "ack", epoch: notice.epoch, batch: 0, role: notice.role.clone(), data: &[][..] };
                node.send_output(super::out("saved"), ack.encode(), Vec::<u8>::new()).map_err(|e| anyhow::anyhow!("send saved: {e}"))?;
            }
            Next::Closed(_) => {}
            Next::Stop => return Ok(()),
        }
    }
}

/// The announced file exists with the announced size and, with `verify`, digest.
fn check(n: &CheckpointNotice, verify: bool) -> Result<()> {
    let path = Path::new(&n.path);
    let len = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("announced checkpoint {} cannot be read: {e}", path.display()))?.len();
    if len != n.bytes {
        bail!("announced checkpoint {} has {len} bytes, the notice says {}", path.display(), n.bytes);
    }
    if verify {
        let (_, sha) = digest(path)?;
        if sha != n.sha256 {
            bail!(
                "announced checkpoint {} has SHA-256 {sha}, the notice says {} (was it changed after it was written?)",
                path.display(),
                n.sha256
            );
        }
    }
    Ok(())
}
