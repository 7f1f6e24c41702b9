//! The source node: reads sequences and sends frames, never more than `credits` ahead of the
//! last box it got back, so offline runs drop nothing and decoding overlaps the forward pass.

use std::path::Path;

use anyhow::{Context, Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, next_event, now_ns, out};
use crate::sequence::{Layout, Sequence, discover, load_frame};
use crate::tracker::{Image, validate_init_box};
use crate::wire::{BoxMsg, Frame, Header};

/// Parses `"x,y,w,h"`.
pub fn parse_box(s: &str) -> Result<[f64; 4]> {
    let v: Vec<f64> = s.split(',').map(|x| x.trim().parse::<f64>()).collect::<Result<_, _>>().with_context(|| format!("init box `{s}` is not four numbers x,y,w,h"))?;
    match v.as_slice() {
        [x, y, w, h] => Ok([*x, *y, *w, *h]),
        _ => bail!("init box `{s}` has {} numbers, expected 4 (x,y,w,h)", v.len()),
    }
}

/// The sequences a source with these parameters reads.
pub fn sequences(p: &Params) -> Result<Vec<Sequence>> {
    let mut seqs = discover(Path::new(p.str("path")?), Layout::parse(p.str("format")?)?)?;
    let only: Vec<&str> = p.str("sequences")?.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if !only.is_empty() {
        for name in &only {
            if !seqs.iter().any(|s| s.name == *name) {
                bail!("sequence `{name}` is not in {}", p.str("path")?);
            }
        }
        seqs.retain(|s| only.contains(&s.name.as_str()));
    }
    let max = p.int("max-frames")?;
    if max > 0 {
        for s in &mut seqs {
            s.frames.truncate(max as usize);
        }
    }
    Ok(seqs)
}

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let seqs = sequences(p)?;
    let credits = p.int("credits")?.max(1) as u32;
    let feedback = p.has_input("box");
    let override_box = match p.str("init-box")? {
        "" => None,
        s => Some(parse_box(s)?),
    };
    let idle = p.idle();
    eprintln!("[{}] {} sequence(s), {} frames", p.node_id, seqs.len(), seqs.iter().map(|s| s.frames.len()).sum::<usize>());
    for seq in &seqs {
        let n = seq.frames.len() as u32;
        let init_box = match override_box {
            Some(b) => b,
            None => seq.init_box()?,
        };
        // Decode on a helper thread, a bounded queue ahead of what is sent.
        let (tx, rx) = crossbeam_channel::bounded::<Result<Image>>(credits as usize + 1);
        let frames = seq.frames.clone();
        let decoder = std::thread::spawn(move || {
            for f in &frames {
                if tx.send(load_frame(f)).is_err() {
                    break;
                }
            }
        });
        let (mut sent, mut acked) = (0u32, 0u32);
        while acked < n {
            while sent < n && (!feedback || sent < acked + credits) {
                let im = rx.recv().context("frame decoder stopped")??;
                let init = if sent == 0 { Some(validate_init_box(init_box, im.width, im.height).with_context(|| format!("sequence {}", seq.name))?) } else { None };
                let frame = Frame {
                    header: Header { seq: seq.name.clone(), index: sent, frames: n, t0: now_ns() },
                    width: im.width as u32,
                    height: im.height as u32,
                    channels: im.channels as u32,
                    init_box: init,
                    pixels: &im.data[..],
                };
                let meta = frame.encode();
                node.send_output_raw(out("frame"), meta, im.data.len(), |buf| buf.copy_from_slice(&im.data))
                    .map_err(|e| anyhow::anyhow!("cannot send frame {sent} of {}: {e}", seq.name))?;
                sent += 1;
            }
            if !feedback {
                acked = sent;
                continue;
            }
            match next_event(events, idle)? {
                Next::Input { id, metadata, data } if id == "box" => {
                    let b = BoxMsg::decode(&metadata.parameters, &data)?;
                    if b.header.seq != seq.name || b.header.index != acked {
                        bail!("box feedback out of order: expected {} frame {acked}, got {} frame {} (a message was lost)", seq.name, b.header.seq, b.header.index);
                    }
                    acked += 1;
                }
                Next::Input { id, .. } => eprintln!("[{}] warning: unexpected input `{id}`", p.node_id),
                Next::Closed(id) => bail!("input `{id}` closed before {} was tracked ({acked}/{n} frames): the node sending it exited", seq.name),
                Next::Stop => {
                    eprintln!("[{}] stopped at {} frame {acked}/{n}", p.node_id, seq.name);
                    return Ok(());
                }
            }
        }
        drop(rx);
        let _ = decoder.join();
    }
    Ok(())
}
