//! The viewer node: draws each tracked box (with the frame index and score) on its frame and
//! writes, per sequence, an annotated MP4 and a contact-sheet PNG, so a person can see what the
//! tracker did. An interrupted sequence keeps what was drawn as `<seq>.partial.mp4`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, next_event};
use crate::draw::{annotate, contact_sheet, save_png, thumbnail};
use crate::tracker::Image;
use crate::video::VideoWriter;
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
    cur: Option<SeqView>,
}

impl Viewer {
    fn start(&mut self, name: &str, frames: u32) -> Result<()> {
        self.finish(false)?;
        let k = self.sheet_frames.min(frames).max(1);
        let picks = (0..k).map(|i| if k == 1 { 0 } else { ((i as u64 * (frames as u64 - 1)) as f64 / (k - 1) as f64).round() as u32 }).collect();
        self.cur = Some(SeqView { name: name.into(), frames, next: 0, pending: BTreeMap::new(), video: None, thumbs: vec![], picks });
        Ok(())
    }

    fn boxed(&mut self, b: &BoxMsg) -> Result<()> {
        let Some(v) = self.cur.as_mut() else { bail!("box for {} before any frame of it", b.header.seq) };
        if b.header.seq != v.name || b.header.index != v.next {
            bail!("box for {} frame {} arrived, expected {} frame {} (a message was lost)", b.header.seq, b.header.index, v.name, v.next);
        }
        let Some(im) = v.pending.remove(&b.header.index) else { bail!("box for {} frame {} arrived before its frame", v.name, b.header.index) };
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
            self.finish(true)?;
        }
        Ok(())
    }

    /// Closes the current sequence's files; incomplete ones get `.partial` names.
    fn finish(&mut self, complete: bool) -> Result<()> {
        let Some(v) = self.cur.take() else { return Ok(()) };
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
            eprintln!("[{}] {}: annotated video {}", self.node_id, v.name, path.display());
        }
        if self.sheet && !v.thumbs.is_empty() {
            let path = self.dir.join(format!("{}{tag}_sheet.png", v.name));
            save_png(&contact_sheet(&v.thumbs, 4), &path)?;
            eprintln!("[{}] {}: contact sheet {}", self.node_id, v.name, path.display());
        }
        Ok(())
    }
}

/// The node's event loop.
pub fn run(_node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let mut v = Viewer {
        dir: PathBuf::from(p.str("out")?),
        video: p.bool("video")?,
        sheet: p.bool("sheet")?,
        sheet_frames: p.int("sheet-frames")?.max(1) as u32,
        fps: p.float("fps")?,
        node_id: p.node_id.clone(),
        cur: None,
    };
    std::fs::create_dir_all(&v.dir)?;
    let result = (|| -> Result<()> {
        loop {
            match next_event(events, p.idle())? {
                Next::Input { id, metadata, data } if id == "frame" => {
                    let f = Frame::decode(&metadata.parameters, &data)?;
                    if f.header.index == 0 {
                        v.start(&f.header.seq, f.header.frames)?;
                    }
                    let im = Image { width: f.width as usize, height: f.height as usize, channels: f.channels as usize, data: f.pixels.to_vec() };
                    match v.cur.as_mut() {
                        Some(s) if s.name == f.header.seq => {
                            s.pending.insert(f.header.index, im);
                        }
                        _ => bail!("frame {} of {} arrived before its frame 0", f.header.index, f.header.seq),
                    }
                }
                Next::Input { id, metadata, data } if id == "box" => v.boxed(&BoxMsg::decode(&metadata.parameters, &data)?)?,
                Next::Input { id, .. } => eprintln!("[{}] warning: unexpected input `{id}`", p.node_id),
                Next::Closed(_) => {}
                Next::Stop => return Ok(()),
            }
        }
    })();
    v.finish(false)?;
    result
}
