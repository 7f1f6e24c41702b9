//! The viewer node: draws each tracked box (with the frame index and score) on its frame and
//! writes, per sequence, an annotated MP4 and a contact-sheet PNG, so a person can see what the
//! tracker did. An interrupted sequence keeps what was drawn as `<seq>.partial.mp4`.

use super::kinds::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, frame_image, next_event};
use crate::base::draw::{annotate, contact_sheet, save_png, thumbnail};
use crate::base::image::Image;
use crate::data::video::VideoWriter;
use crate::wire::{BoxMsg, Frame};

struct SeqView {
    name: String,
    frames: u32,
    next: u32,
    pending: BTreeMap<u32, Image>,
    video: Option<VideoWriter>,
    thumbs: Vec<Image>,
    picks: Vec<u32>,
}

struct Viewer {
    dir: PathBuf,
    video: bool,
    sheet: bool,
    sheet_frames: u32,
    fps: f64,
    node_id: String,
    /// Sequences in the order their frame 0 arrived. Frames and boxes come on separate inputs
    /// that dora may interleave, so the next sequence can start before the last box of the
    /// previous one is drawn.
    seqs: std::collections::VecDeque<SeqView>,
}

impl Viewer {
    fn start(&mut self, name: &str, frames: u32) {
        let k = self.sheet_frames.min(frames).max(1);
        let picks =
            (0..k).map(|i| if k == 1 { 0 } else { ((i as u64 * (frames as u64 - 1)) as f64 / (k - 1) as f64).round() as u32 }).collect();
        self.seqs.push_back(SeqView { name: name.into(), frames, next: 0, pending: BTreeMap::new(), video: None, thumbs: vec![], picks });
    }

    fn frame(&mut self, seq: &str, index: u32, im: Image) -> Result<()> {
        match self.seqs.iter_mut().rev().find(|s| s.name == seq) {
            Some(s) => {
                s.pending.insert(index, im);
                Ok(())
            }
            None => bail!("frame {} of {seq} arrived before its frame 1", index + 1),
        }
    }

    fn boxed(&mut self, b: &BoxMsg) -> Result<()> {
        // Boxes come in order; a box of a later sequence means the front one ended early.
        while self.seqs.front().is_some_and(|v| v.name != b.header.seq) {
            let v = self.seqs.pop_front().expect("checked");
            self.finish(v, false)?;
        }
        let Some(v) = self.seqs.front_mut() else { bail!("box for {} before any frame of it", b.header.seq) };
        if b.header.index != v.next {
            bail!("box for {} frame {} arrived, expected frame {} (a message was lost)", b.header.seq, b.header.number(), v.next + 1);
        }
        let Some(im) = v.pending.remove(&b.header.index) else {
            bail!("box for {} frame {} arrived before its frame", v.name, b.header.number())
        };
        let drawn = annotate(&im, b.header.index, b.bbox, b.score, None);
        if self.video {
            if v.video.is_none() {
                v.video = Some(VideoWriter::create(&self.dir.join(format!("{}.mp4", v.name)), drawn.width, drawn.height, self.fps)?);
            }
            v.video.as_mut().expect("created above").write(&drawn)?;
        }
        if self.sheet && v.picks.contains(&b.header.index) {
            // Draw on the thumbnail itself so the box keeps a visible line width.
            let t = thumbnail(&im, 240.min(im.width));
            let k = t.width as f64 / im.width as f64;
            v.thumbs.push(annotate(&t, b.header.index, b.bbox.map(|x| x * k), b.score, None));
        }
        v.next += 1;
        if v.next == v.frames {
            let v = self.seqs.pop_front().expect("front exists");
            self.finish(v, true)?;
        }
        Ok(())
    }

    /// Closes a sequence's files; incomplete ones get `.partial` names.
    fn finish(&self, v: SeqView, complete: bool) -> Result<()> {
        let tag = if complete { "" } else { ".partial" };
        if let Some(w) = v.video {
            let path = w.finish()?;
            let path = if complete {
                path
            } else {
                let p = self.dir.join(format!("{}{tag}.mp4", v.name));
                std::fs::rename(&path, &p)?;
                p
            };
            tracing::info!("[{}] {}: annotated video {}", self.node_id, v.name, path.display());
        }
        if self.sheet && !v.thumbs.is_empty() {
            let path = self.dir.join(format!("{}{tag}_sheet.png", v.name));
            save_png(&contact_sheet(&v.thumbs, 4), &path)?;
            tracing::info!("[{}] {}: contact sheet {}", self.node_id, v.name, path.display());
        }
        Ok(())
    }

    /// Closes every open sequence as incomplete.
    fn finish_all(&mut self) -> Result<()> {
        while let Some(v) = self.seqs.pop_front() {
            self.finish(v, false)?;
        }
        Ok(())
    }
}

node_params! {
    /// The viewer node's parameters.
    pub struct ViewerParams {
        /// Output folder.
        out: String = param("out", ParamType::Output, Some("\"results/view\""), "folder for <seq>.mp4 and <seq>_sheet.png"),
        /// Write the annotated video.
        video: bool = param("video", ParamType::Bool, Some("#true"), "write the annotated video"),
        /// Write the contact sheet.
        sheet: bool = param("sheet", ParamType::Bool, Some("#true"), "write the contact sheet"),
        /// Frames on the contact sheet.
        sheet_frames: i64 = param("sheet-frames", int(1, 1000), Some("12"), "frames on the contact sheet, evenly spaced"),
        /// Frame rate of the video.
        fps: f64 = param("fps", float(FPS), Some("15.0"), "frame rate of the annotated video"),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `viewer` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "viewer",
    doc: "draws boxes on frames: an annotated MP4 and a contact-sheet PNG per sequence",
    inputs: &[input("frame", MessageType::Frame, true), input("box", MessageType::Box, true)],
    outputs: &[],
    params: ViewerParams::SPECS,
};

/// The node's event loop.
pub fn run(_node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: ViewerParams = p.typed()?;
    let mut v = Viewer {
        dir: PathBuf::from(&q.out),
        video: q.video,
        sheet: q.sheet,
        sheet_frames: q.sheet_frames.max(1) as u32,
        fps: q.fps,
        node_id: p.node_id.clone(),
        seqs: Default::default(),
    };
    std::fs::create_dir_all(&v.dir)?;
    let result = (|| -> Result<()> {
        loop {
            match next_event(events, p.idle())? {
                Next::Input { id, metadata, data } if id == "frame" => {
                    let f = Frame::decode(&metadata.parameters, &data)?;
                    if f.header.index == 0 {
                        v.start(&f.header.seq, f.header.frames);
                    }
                    let im = frame_image(&f)?;
                    v.frame(&f.header.seq, f.header.index, im)?;
                }
                Next::Input { id, metadata, data } if id == "box" => v.boxed(&BoxMsg::decode(&metadata.parameters, &data)?)?,
                Next::Input { id, .. } => tracing::warn!("[{}] warning: unexpected input `{id}`", p.node_id),
                Next::Closed(_) => {}
                Next::Stop => return Ok(()),
            }
        }
    })();
    v.finish_all()?;
    result
}
