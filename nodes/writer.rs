//! The writer node: collects boxes per sequence and writes OSTrack-format results atomically
//! when a sequence completes; an interrupted sequence is kept as `<seq>.partial.txt`.

use super::kinds::*;
use std::path::PathBuf;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, next_event};
use crate::data::results::{Delimiter, SequenceResult, write_sequence};
use crate::wire::BoxMsg;

node_params! {
    /// The writer node's parameters.
    pub struct WriterParams {
        /// Results folder.
        out: String = param("out", ParamType::Output, Some("\"results\""), "results folder"),
        /// `tab` or `comma`.
        delimiter: String = param("delimiter", ParamType::Choice(&["tab", "comma"]), Some("\"tab\""), "column separator of <seq>.txt"),
        /// Also write arrival stamps.
        stamps: bool = param(
                        "stamps",
                        ParamType::Bool,
                        Some("#false"),
                        "also write <seq>_stamps.txt: when each box arrived (ns since the epoch), for benchmarks",
                    ),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `writer` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "writer",
    doc: "writes OSTrack-format results (<seq>.txt, <seq>_time.txt) atomically",
    inputs: &[input("box", MessageType::Box, true)],
    outputs: &[],
    params: WriterParams::SPECS,
};

/// The node's event loop.
pub fn run(_node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: WriterParams = p.typed()?;
    let dir = PathBuf::from(&q.out);
    let delim = if q.delimiter == "comma" { Delimiter::Comma } else { Delimiter::Tab };
    let stamps = q.stamps;
    let mut arrivals: Vec<i64> = Vec::new();
    let idle = p.idle();
    let mut current: Option<(String, u32, SequenceResult)> = None;
    let save_partial = |cur: &Option<(String, u32, SequenceResult)>| -> Result<()> {
        if let Some((seq, n, r)) = cur {
            let path = write_sequence(&dir, seq, r, false, delim)?;
            tracing::warn!(
                "[{}] warning: {seq} stopped after {}/{n} frames; partial results kept in {}",
                p.node_id,
                r.boxes.len(),
                path.display()
            );
        }
        Ok(())
    };
    loop {
        let event = match next_event(events, idle) {
            Ok(e) => e,
            Err(e) => {
                save_partial(&current)?;
                return Err(e);
            }
        };
        match event {
            Next::Input { metadata, data, .. } => {
                let b = match BoxMsg::decode(&metadata.parameters, &data) {
                    Ok(b) => b,
                    Err(e) => {
                        save_partial(&current)?;
                        return Err(e.into());
                    }
                };
                let h = &b.header;
                if h.index == 0 {
                    if current.is_some() {
                        save_partial(&current)?;
                    }
                    current = Some((h.seq.clone(), h.frames, SequenceResult::default()));
                    arrivals.clear();
                }
                let Some((seq, _, r)) = current.as_mut() else {
                    bail!("box for {} frame {} arrived before its frame 1 (a message was lost)", h.seq, h.number())
                };
                if *seq != h.seq || r.boxes.len() != h.index as usize {
                    let msg = format!(
                        "box for {} frame {} arrived, expected {seq} frame {} (a message was lost)",
                        h.seq,
                        h.number(),
                        r.boxes.len() + 1
                    );
                    save_partial(&current)?;
                    bail!(msg);
                }
                r.boxes.push(b.bbox);
                r.times.push(b.elapsed);
                r.scores.push(b.confidence);
                arrivals.push(crate::base::time::now_ns());
                if h.is_last() {
                    let (seq, n, r) = current.take().expect("set above");
                    let path = write_sequence(&dir, &seq, &r, true, delim)?;
                    if stamps {
                        let text: String = arrivals.iter().map(|t| format!("{t}\n")).collect();
                        crate::base::fs::write_atomic(&dir.join(format!("{seq}_stamps.txt")), text.as_bytes())?;
                    }
                    let total: f64 = r.times.iter().sum();
                    tracing::info!("[{}] {seq}: {n} frames, {:.1} fps -> {}", p.node_id, n as f64 / total.max(1e-9), path.display());
                }
            }
            Next::Closed(_) | Next::Stop => {
                save_partial(&current)?;
                return Ok(());
            }
        }
    }
}
