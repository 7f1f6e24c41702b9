//! The source node: reads sequences (image folders in the benchmarks' layouts, or videos) and
//! sends frames, never more than `credits` ahead of the last box it got back, so offline runs
//! drop nothing and decoding overlaps the forward pass.
//!
//! A sequence that cannot be read (missing or corrupt frame, invalid init box) is reported and
//! skipped: what was tracked of it is kept by the writer as partial results, the other sequences
//! run, and the node exits with an error listing the failures at the end.
//!
//! A frame over [`FRAME_INLINE_MAX`] bytes (8000×8000 RGB is 192 MB) does not fit one dora
//! message, so it is sent by reference: an empty payload naming its image file(s), which the
//! receivers decode themselves. A video frame has no file; such a frame fails its sequence, as
//! does a frame dora refuses to send, and the other sequences still run.

use super::kinds::*;
use std::path::Path;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream, NodeError};

use super::{Next, Params, next_event, out};
use crate::base::time::now_ns;
use crate::data::sequence::{Layout, Sequence, discover};
use crate::tracker::validate_init_box;
use crate::wire::{AuxFile, BoxMsg, FRAME_INLINE_MAX, Frame, FrameFile, FramePixels, Header};

node_params! {
    /// The source node's parameters.
    pub struct SourceParams {
        /// Sequence folder, dataset folder or video file.
        path: String = param("path", ParamType::Path, None, "a sequence folder, a dataset folder of sequences, or a video file"),
        /// Sequence layout.
        format: String = param(
                        "format",
                        ParamType::Choice(&crate::data::sequence::LAYOUT_NAMES),
                        Some("\"auto\""),
                        "sequence layout; `auto` detects it",
                    ),
        /// Frames sent ahead of the last box.
        credits: i64 = param("credits", int(1, 1024), Some("2"), "frames sent ahead of the last box, so decoding overlaps the forward pass"),
        /// `x,y,w,h` overriding the ground truth's first box.
        init_box: String = param("init-box", ParamType::Str, Some("\"\""), "\"x,y,w,h\" init box, overriding the ground truth"),
        /// Frames per sequence (0: all).
        max_frames: i64 = param("max-frames", int(0, MAX), Some("0"), "stop each sequence after this many frames (0 = all)"),
        /// Comma-separated sequence names (empty: all).
        sequences: String = param(
                        "sequences",
                        ParamType::Str,
                        Some("\"\""),
                        "sequence names to run: a JSON array of names (kept exactly, commas and spaces included) or comma-separated names (empty = all)",
                    ),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `source` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "source",
    doc: "reads image-sequence folders or videos and sends frames; advances on box feedback",
    inputs: &[input("box", MessageType::Box, false)],
    outputs: &[output("frame", MessageType::Frame)],
    params: SourceParams::SPECS,
};

/// The sequences a source with these parameters reads.
pub fn sequences(q: &SourceParams) -> Result<Vec<Sequence>> {
    let mut seqs = discover(Path::new(&q.path), Layout::parse(&q.format)?)?;
    let only = sequence_names(&q.sequences)?;
    if !only.is_empty() {
        for name in &only {
            if !seqs.iter().any(|s| &s.name == name) {
                bail!("sequence `{name}` is not in {}", q.path);
            }
        }
        seqs.retain(|s| only.contains(&s.name));
    }
    let max = q.max_frames;
    if max > 0 {
        for s in &mut seqs {
            s.truncate(max as usize);
        }
    }
    Ok(seqs)
}

/// The file(s) frame `i` of `seq` is read from, to send it by reference; `Err` says why it
/// cannot be. Paths are made absolute because the receivers may run in another working
/// directory, and must be UTF-8 because dora's metadata strings are.
fn frame_file(seq: &Sequence, i: usize) -> std::result::Result<FrameFile, String> {
    let Some(rgb) = seq.files().get(i) else {
        return Err("a video frame has no file to send by reference instead (extract its frames to images, or scale it down)".into());
    };
    let aux = match &seq.aux {
        Some(a) => Some(AuxFile { path: absolute(&a.frames[i])?, modality: a.modality, depth_clip: a.depth_clip }),
        None => None,
    };
    Ok(FrameFile { path: absolute(rgb)?, aux })
}

fn absolute(path: &Path) -> std::result::Result<String, String> {
    let abs = std::path::absolute(path).map_err(|e| format!("{} cannot be made absolute to send it by reference: {e}", path.display()))?;
    abs.into_os_string().into_string().map_err(|p| {
        format!("its file {} cannot be sent by reference: the path is not UTF-8 (dora's metadata strings are)", p.to_string_lossy())
    })
}

/// The `sequences` parameter as names: a JSON array (what `trackflow test` passes, so that names
/// keep their commas and outer spaces, matched exactly) when it starts with `[`, else names
/// separated by commas and trimmed (handy by hand). Empty either way means every sequence.
pub(crate) fn sequence_names(value: &str) -> Result<Vec<String>> {
    let v = value.trim_start();
    if v.starts_with('[') {
        serde_json::from_str(v).map_err(|e| anyhow::anyhow!("`sequences` starts with `[` but is not a JSON array of names: {e}"))
    } else {
        Ok(value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
    }
}

/// How one sequence ended.
enum Outcome {
    Done,
    Failed(String),
    Stopped,
}

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: SourceParams = p.typed()?;
    let seqs = sequences(&q)?;
    let override_box = match q.init_box.as_str() {
        "" => None,
        s => Some(crate::tracker::parse_box(s)?),
    };
    tracing::info!("[{}] {} sequence(s), {} frames", p.node_id, seqs.len(), seqs.iter().map(Sequence::len).sum::<usize>());
    let mut failed = Vec::new();
    for seq in &seqs {
        match send_sequence(node, events, p, &q, seq, override_box)? {
            Outcome::Done => {}
            Outcome::Failed(msg) => {
                tracing::error!("[{}] error: {}: {msg}; skipping the rest of this sequence", p.node_id, seq.name);
                failed.push(format!("{}: {msg}", seq.name));
            }
            Outcome::Stopped => return Ok(()),
        }
    }
    if !failed.is_empty() {
        bail!("{} of {} sequence(s) could not be tracked completely:\n  {}", failed.len(), seqs.len(), failed.join("\n  "));
    }
    Ok(())
}

fn send_sequence(
    node: &mut DoraNode,
    events: &mut EventStream,
    p: &Params,
    q: &SourceParams,
    seq: &Sequence,
    override_box: Option<[f64; 4]>,
) -> Result<Outcome> {
    let missing = seq.missing_frames();
    if let Some(first) = missing.first() {
        return Ok(Outcome::Failed(format!("{} frame file(s) missing, the first {}", missing.len(), first.display())));
    }
    let init_box = match override_box.map(Ok).unwrap_or_else(|| seq.init_box()) {
        Ok(b) => b,
        Err(e) => return Ok(Outcome::Failed(format!("{e:#}"))),
    };
    if override_box.is_none() && seq.ground_truth.len() < seq.len() && seq.ground_truth.len() > 1 {
        tracing::warn!(
            "[{}] warning: {}: ground truth has {} rows for {} frames (only row 1 is needed to track)",
            p.node_id,
            seq.name,
            seq.ground_truth.len(),
            seq.len()
        );
    }
    let n = seq.len() as u32;
    let credits = q.credits.max(1) as u32;
    let feedback = p.has_input("box");
    // Decode on a helper thread, a bounded queue ahead of what is sent.
    let mut frames = seq.reader()?.ahead(credits as usize + 1, n as usize);
    let (mut sent, mut acked) = (0u32, 0u32);
    let mut failure = None;
    while acked < sent || (failure.is_none() && sent < n) {
        while failure.is_none() && sent < n && (!feedback || sent < acked + credits) {
            let im = match frames.next() {
                Some(Ok(im)) => im,
                Some(Err(e)) => {
                    failure = Some(format!("frame {}: {e:#}", sent + 1));
                    break;
                }
                None => {
                    failure = Some(format!("frame {}: the decoder stopped early", sent + 1));
                    break;
                }
            };
            let init = if sent == 0 {
                match validate_init_box(init_box, im.width, im.height) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        failure = Some(format!("{e:#}"));
                        break;
                    }
                }
            } else {
                None
            };
            let header = Header { seq: seq.name.clone(), index: sent, frames: n, t0: now_ns() };
            let (width, height, channels) = (im.width as u32, im.height as u32, im.channels as u32);
            let result = if im.data.len() <= FRAME_INLINE_MAX {
                let frame = Frame { header, width, height, channels, init_box: init, pixels: &im.data[..] };
                node.send_output_raw(out("frame"), frame.encode(), im.data.len(), |buf| buf.copy_from_slice(&im.data))
            } else {
                match frame_file(seq, sent as usize) {
                    Ok(file) => {
                        let frame = Frame { header, width, height, channels, init_box: init, pixels: FramePixels::File(file) };
                        node.send_output_raw(out("frame"), frame.encode(), 0, |_| {})
                    }
                    Err(why) => {
                        failure = Some(format!(
                            "frame {} is {width}×{height}×{channels} = {} bytes, over the {FRAME_INLINE_MAX}-byte limit of one \
                             frame message, and {why}",
                            sent + 1,
                            im.data.len()
                        ));
                        break;
                    }
                }
            };
            match result {
                Ok(()) => sent += 1,
                // dora refuses a message it cannot carry (encoding, size, type) before it leaves
                // the node: nothing was delivered and no box is owed for it, so failing just this
                // sequence leaves the credit count exact (the loop still waits for the boxes of
                // the frames that did go out, and the next sequence starts clean).
                Err(e @ (NodeError::Output(_) | NodeError::Data(_))) => {
                    failure = Some(format!("frame {}: dora refused to send it: {e}", sent + 1));
                    break;
                }
                // Anything else is the connection to dora failing, possibly after the message
                // went out: no later frame could be sent either, so the node stops here.
                Err(e) => bail!("cannot send frame {} of {}: {e}", sent + 1, seq.name),
            }
        }
        if !feedback {
            acked = sent;
            continue;
        }
        if acked == sent {
            continue;
        }
        match next_event(events, p.idle())? {
            Next::Input { id, metadata, data } if id == "box" => {
                let b = BoxMsg::decode(&metadata.parameters, &data)?;
                if b.header.seq != seq.name || b.header.index != acked {
                    bail!(
                        "box feedback out of order: expected {} frame {}, got {} frame {} (a message was lost)",
                        seq.name,
                        acked + 1,
                        b.header.seq,
                        b.header.number()
                    );
                }
                acked += 1;
            }
            Next::Input { id, .. } => tracing::warn!("[{}] warning: unexpected input `{id}`", p.node_id),
            Next::Closed(id) => {
                bail!("input `{id}` closed before {} was tracked ({acked}/{n} frames): the node sending it exited", seq.name)
            }
            Next::Stop => {
                tracing::info!("[{}] stopped after {acked} of {n} frames of {}", p.node_id, seq.name);
                return Ok(Outcome::Stopped);
            }
        }
    }
    drop(frames);
    Ok(failure.map_or(Outcome::Done, Outcome::Failed))
}
