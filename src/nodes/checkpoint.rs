//! The checkpoint node: writes each checkpoint the trainer sends to
//! `<out>/checkpoints/OSTrack_ep<NNNN>.safetensors` and the final weights to
//! `<out>/<name>.safetensors`, atomically (temp file, then rename), keeping the newest `keep`,
//! and acknowledges each on `saved`.

use std::path::PathBuf;

use anyhow::Result;
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, next_event};
use crate::base::fs::write_atomic;
use crate::train::checkpoint::{file_name, prune};
use crate::wire::Bytes;

/// The checkpoint node's parameters (see its spec in `dataflow/kinds.rs`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckpointParams {
    /// Save folder.
    pub out: String,
    /// Checkpoints to keep.
    pub keep: i64,
    /// File stem of the final weights.
    pub name: String,
    /// Seconds without a checkpoint before giving up.
    pub idle_timeout: f64,
}

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: CheckpointParams = p.typed()?;
    let out = PathBuf::from(&q.out);
    let dir = out.join("checkpoints");
    std::fs::create_dir_all(&dir)?;
    let keep = q.keep.max(1) as usize;
    let name = q.name.as_str();
    let idle = p.idle();
    loop {
        match next_event(events, idle)? {
            Next::Input { metadata, data, .. } => {
                let msg = Bytes::decode("checkpoint", &metadata.parameters, &data)?;
                let path = if msg.role == "final" { out.join(format!("{name}.safetensors")) } else { dir.join(file_name(msg.epoch)) };
                write_atomic(&path, msg.data)?;
                eprintln!("[{}] epoch {}: wrote {} ({:.1} MB)", p.node_id, msg.epoch, path.display(), msg.data.len() as f64 / 1e6);
                if msg.role != "final" {
                    prune(&dir, keep)?;
                }
                // The trainer waits for this before it exits: a sender that exits at once can
                // lose its last message in dora 1.1.
                let ack = Bytes { ty: "ack", epoch: msg.epoch, batch: 0, role: msg.role.clone(), data: &[][..] };
                node.send_output(super::out("saved"), ack.encode(), Vec::<u8>::new()).map_err(|e| anyhow::anyhow!("send saved: {e}"))?;
            }
            Next::Closed(_) => {}
            Next::Stop => return Ok(()),
        }
    }
}
