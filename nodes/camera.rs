//! The camera node: live frames from MJPEG over HTTP, a V4L2 device, an RTSP stream or a video
//! file played at its frame rate. Frames are numbered from 0 in one endless sequence `live`,
//! with the capture time as `t0`. A source that fails or stalls is reported and reopened with
//! doubling backoff, `retries` times, after which the node ends cleanly.
//!
//! A live frame has no file it could be sent by reference as, so a frame over
//! [`FRAME_INLINE_MAX`] bytes stops the node with an error naming its size and the limit (every
//! later frame of the stream would be as big).

use super::kinds::*;
use std::time::Duration;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, out, poll_event};
use crate::data::camera::{CameraUrl, open};
use crate::wire::{FRAME_INLINE_MAX, Frame, Header};

node_params! {
    /// The camera node's parameters.
    pub struct CameraParams {
        /// MJPEG URL, RTSP URL, V4L2 device or video file.
        url: String = param("url", ParamType::Url, None, "http://host:port/path (MJPEG), rtsp://..., /dev/videoN, or a video file"),
        /// Frame width (0: the source's).
        width: i64 = param("width", int(0, 16384), Some("0"), "frame width (devices, RTSP: required; 0 keeps the source's)"),
        /// Frame height (0: the source's).
        height: i64 = param("height", int(0, 16384), Some("0"), "frame height"),
        /// Frame rate (0: the source's).
        fps: f64 = param("fps", float(FloatRange::closed(0.0, 1000.0)), Some("0.0"), "frame rate (0 keeps the source's)"),
        /// Video files: start again at the end.
        r#loop: bool = param("loop", ParamType::Bool, Some("#false"), "video files: start again at the end"),
        /// Frames to send (0: until stopped).
        max_frames: i64 = param("max-frames", int(0, MAX), Some("0"), "stop after this many frames (0 = run until stopped or the source ends)"),
        /// Reconnect attempts.
        retries: i64 = param("retries", int(0, 1000), Some("5"), "reconnect attempts, with doubling backoff, after the source fails or stalls"),
        /// V4L2 pixel format.
        format: String = param(
                        "format",
                        ParamType::Choice(&["auto", "mjpeg", "yuyv"]),
                        Some("\"auto\""),
                        "V4L2 devices: the pixel format to ask for (mjpeg: full size and rate on most USB cameras)",
                    ),
    }
}

/// The `camera` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "camera",
    doc: "live frames from MJPEG-over-HTTP, V4L2 (/dev/videoN), RTSP, or a video file played at its frame rate",
    inputs: &[],
    outputs: &[output("frame", MessageType::Frame)],
    params: CameraParams::SPECS,
};

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: CameraParams = p.typed()?;
    let url = CameraUrl::parse(&q.url)?;
    let (w, h) = (q.width.max(0) as usize, q.height.max(0) as usize);
    let (fps, looped) = (q.fps, q.r#loop);
    let max_frames = q.max_frames.max(0) as u64;
    let retries = q.retries.max(0) as u32;
    let format = crate::data::camera::DeviceFormat::parse(&q.format)?;
    let mut index: u32 = 0;
    let mut failures = 0u32;
    let mut stopped = false;
    'outer: loop {
        let mut source = match open(&url, w, h, fps, looped, format) {
            Ok(s) => s,
            Err(e) => {
                failures += 1;
                if failures > retries {
                    if index == 0 {
                        bail!("camera {url} unavailable after {retries} retries: {e:#}");
                    }
                    tracing::warn!("[{}] warning: camera {url} gone after {index} frames and {retries} retries: {e:#}", p.node_id);
                    break;
                }
                let backoff = Duration::from_millis(250 << failures.min(6));
                tracing::warn!("[{}] warning: camera {url}: {e:#}; retrying in {:.1} s", p.node_id, backoff.as_secs_f64());
                std::thread::sleep(backoff);
                continue;
            }
        };
        loop {
            // A stop request ends the loop between frames.
            if let Some(Next::Stop) = poll_event(events, Duration::ZERO)? {
                stopped = true;
                break 'outer;
            }
            match source.next_frame() {
                Ok(Some(c)) => {
                    failures = 0;
                    let im = &c.image;
                    if im.data.len() > FRAME_INLINE_MAX {
                        bail!(
                            "camera {url}: frame {} is {}×{}×{} = {} bytes, over the {FRAME_INLINE_MAX}-byte limit of one frame \
                             message (a live frame has no file to send by reference instead): capture smaller frames (the \
                             camera node's `width` and `height` for a device or an RTSP stream)",
                            index + 1,
                            im.width,
                            im.height,
                            im.channels,
                            im.data.len()
                        );
                    }
                    let frame = Frame {
                        header: Header { seq: "live".into(), index, frames: u32::MAX, t0: c.stamp },
                        width: c.image.width as u32,
                        height: c.image.height as u32,
                        channels: c.image.channels as u32,
                        init_box: None,
                        pixels: &c.image.data[..],
                    };
                    let bytes = &c.image.data;
                    node.send_output_raw(out("frame"), frame.encode(), bytes.len(), |b| b.copy_from_slice(bytes))
                        .map_err(|e| anyhow::anyhow!("send frame {}: {e}", index + 1))?;
                    index += 1;
                    if max_frames > 0 && index as u64 >= max_frames {
                        break 'outer;
                    }
                }
                Ok(None) if matches!(url, CameraUrl::File(_)) => {
                    tracing::info!("[{}] {url} ended after {index} frames", p.node_id);
                    break 'outer;
                }
                other => {
                    let why = match other {
                        Err(e) => format!(" ({e:#})"),
                        _ => " (the stream ended)".to_string(),
                    };
                    failures += 1;
                    if failures > retries {
                        tracing::warn!(
                            "[{}] warning: camera {url} lost after {index} frames{why}; giving up after {retries} retries",
                            p.node_id
                        );
                        break 'outer;
                    }
                    let backoff = Duration::from_millis(250 << failures.min(6));
                    tracing::warn!(
                        "[{}] warning: camera {url} stalled or closed{why}; reconnecting in {:.1} s",
                        p.node_id,
                        backoff.as_secs_f64()
                    );
                    std::thread::sleep(backoff);
                    continue 'outer;
                }
            }
        }
    }
    // A camera that connects but never delivers a frame is a failure, not an empty success.
    if index == 0 && !stopped {
        bail!("camera {url} sent no frame (it answered, then stalled or closed {} time(s))", failures.max(1));
    }
    tracing::info!("[{}] sent {index} frames", p.node_id);
    Ok(())
}
