//! The live-view node: a small web server on loopback (by default) showing the camera stream
//! with the tracked box, score, fps, latency and drops. Dragging a box on the page sends an
//! `init` control message to the tracker (no restart); Pause/Resume likewise. With `record`, the
//! annotated stream goes to a fragmented MP4 (playable even if the run is killed) and every box
//! to `<name>.boxes.txt` with its capture time.
//!
//! Endpoints: `/` (the page), `/frame.jpg` (the newest annotated frame), `/stream` (the same as
//! MJPEG, for VLC and friends), `/state` (JSON), `POST /init?box=x,y,w,h`, `POST /pause`,
//! `POST /resume`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender, unbounded};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, out, poll_event};
use crate::base::draw::annotate;
use crate::base::image::Image;
use crate::data::video::VideoWriter;
use crate::wire::{BoxMsg, Control, Frame};

const PAGE: &str = include_str!("page.html");

#[derive(Default)]
struct Shared {
    jpeg: Vec<u8>,
    jpeg_index: u64,
    state: serde_json::Value,
    last_request: Option<Instant>,
}

/// The live-view node's parameters (see its spec in `dataflow/kinds.rs`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LiveViewParams {
    /// Address the page is served on.
    pub bind: String,
    /// Port (0: any free one).
    pub port: i64,
    /// Recording path (empty: none).
    pub record: String,
    /// Frame rate of the recording.
    pub fps: f64,
    /// Seconds without input before giving up.
    pub idle_timeout: f64,
}

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: LiveViewParams = p.typed()?;
    let (bind, port) = (q.bind.as_str(), q.port);
    let server = tiny_http::Server::http((bind, port as u16)).map_err(|e| anyhow::anyhow!("cannot serve on {bind}:{port}: {e}"))?;
    let addr = server.server_addr().to_ip().context("the live view's address is not an IP address")?;
    eprintln!("[{}] live view at http://{addr}/", p.node_id);
    let shared = Arc::new(Mutex::new(Shared::default()));
    let (tx, rx): (Sender<Control>, Receiver<Control>) = unbounded();
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            // One thread per request: `/stream` never ends while its viewer watches.
            for request in server.incoming_requests() {
                let (shared, tx) = (shared.clone(), tx.clone());
                std::thread::spawn(move || {
                    let _ = serve(request, &shared, &tx);
                });
            }
        });
    }
    let record = PathBuf::from(&q.record);
    let fps = q.fps;
    let mut video: Option<VideoWriter> = None;
    // Capture time of the first recorded frame, and output frames written since.
    let (mut rec_start, mut rec_written): (Option<i64>, u64) = (None, 0);
    let mut boxes_file = if record.as_os_str().is_empty() {
        None
    } else {
        let path = record.with_extension("boxes.txt");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(f, "# frame capture_ns x y w h score lost latency_ms")?;
        Some(f)
    };
    let mut last_box: Option<BoxMsg> = None;
    let mut last_frame_at = Instant::now();
    let mut frame_index = 0u64;
    // Box arrival times over the last two seconds: boxes can arrive in bursts, so the rate is
    // counted over a window rather than from single intervals.
    let mut arrivals: std::collections::VecDeque<Instant> = Default::default();
    let mut dropped = 0u64;
    let mut last_box_index: Option<u32> = None;
    let mut paused = false;
    let result = (|| -> Result<()> {
        loop {
            while let Ok(c) = rx.try_recv() {
                paused = matches!(c, Control::Pause);
                node.send_output(out("control"), c.encode(), Vec::<u8>::new()).map_err(|e| anyhow::anyhow!("send control: {e}"))?;
            }
            match poll_event(events, Duration::from_millis(20))? {
                Some(Next::Input { id, metadata, data }) if id == "frame" => {
                    let f = Frame::decode(&metadata.parameters, &data)?;
                    last_frame_at = Instant::now();
                    frame_index = f.header.index as u64;
                    let im = f.to_image();
                    let drawn = match &last_box {
                        Some(b) if !b.lost => annotate(&im, f.header.index, b.bbox, b.score, None),
                        _ => annotate(&im, f.header.index, [0.0; 4], 0.0, None),
                    };
                    let wanted = shared.lock().expect("lock").last_request.is_some_and(|t| t.elapsed() < Duration::from_secs(3));
                    if wanted {
                        let jpeg = encode_jpeg(&drawn)?;
                        let mut s = shared.lock().expect("lock");
                        s.jpeg = jpeg;
                        s.jpeg_index += 1;
                    }
                    if !record.as_os_str().is_empty() {
                        if video.is_none() {
                            video = Some(VideoWriter::create(&record, drawn.width, drawn.height, fps)?);
                        }
                        // The recording keeps the camera's own timing: each frame is written as
                        // many times as the output rate has frames until its capture time (a
                        // 10 fps feed recorded at 30 fps repeats each frame three times; frames
                        // closer together than 1/fps are dropped).
                        let start = *rec_start.get_or_insert(f.header.t0);
                        let due = ((f.header.t0 - start).max(0) as f64 * 1e-9 * fps).round() as u64 + 1;
                        let v = video.as_mut().expect("created above");
                        while rec_written < due {
                            v.write(&drawn)?;
                            rec_written += 1;
                        }
                    }
                }
                Some(Next::Input { id, metadata, data }) if id == "box" => {
                    let b = BoxMsg::decode(&metadata.parameters, &data)?;
                    if let Some(last) = last_box_index
                        && b.header.index > last + 1
                    {
                        dropped += (b.header.index - last - 1) as u64;
                    }
                    last_box_index = Some(b.header.index);
                    arrivals.push_back(Instant::now());
                    if let Some(f) = boxes_file.as_mut() {
                        let [x, y, w, h] = b.bbox;
                        writeln!(
                            f,
                            "{} {} {x:.2} {y:.2} {w:.2} {h:.2} {:.4} {} {:.2}",
                            b.header.index,
                            b.header.t0,
                            b.score,
                            u8::from(b.lost),
                            b.elapsed * 1e3
                        )?;
                        f.flush()?;
                    }
                    last_box = Some(b);
                }
                // Without frames there is nothing to show; the tracker closes `box` right after.
                Some(Next::Closed(id)) if id == "box" => return Ok(()),
                Some(Next::Input { .. }) | Some(Next::Closed(_)) => {}
                Some(Next::Stop) => return Ok(()),
                None => {}
            }
            let stalled = last_frame_at.elapsed().as_secs_f64();
            let status = if stalled > 2.0 {
                format!("no frames for {stalled:.0} s (camera stalled or gone?)")
            } else if paused {
                "paused".to_string()
            } else {
                match &last_box {
                    None => "waiting for a box: drag one around the target".to_string(),
                    Some(b) if b.lost && b.score == 0.0 => "waiting for a box: drag one around the target".to_string(),
                    Some(b) if b.lost => "LOST".to_string(),
                    Some(_) => "tracking".to_string(),
                }
            };
            while arrivals.front().is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                arrivals.pop_front();
            }
            let fps_now = arrivals.len() as f64 / 2.0;
            let b = last_box.as_ref();
            shared.lock().expect("lock").state = serde_json::json!({
                "frame": frame_index,
                "box": b.map(|b| b.bbox.to_vec()).unwrap_or_default(),
                "score": b.map_or(0.0, |b| b.score),
                "lost": b.is_none_or(|b| b.lost),
                "fps": fps_now,
                "latency_ms": b.map_or(0.0, |b| b.elapsed * 1e3),
                "dropped": dropped,
                "paused": paused,
                "status": status,
            });
        }
    })();
    if let Some(v) = video.take() {
        let path = v.finish()?;
        eprintln!("[{}] recording {}", p.node_id, path.display());
    }
    result
}

fn encode_jpeg(im: &Image) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode(&im.data, im.width as u32, im.height as u32, image::ExtendedColorType::Rgb8)
        .context("jpeg encode")?;
    Ok(out)
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

fn respond(request: tiny_http::Request, status: u16, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let response = tiny_http::Response::from_data(body.to_vec())
        .with_status_code(status)
        .with_header(header("Content-Type", ctype))
        .with_header(header("Cache-Control", "no-store"))
        // One request per connection: the page polls, and a browser holding kept-alive
        // connections to a view that may stop at any time gains nothing (headless Chromium's
        // virtual clock stalled on them).
        .with_header(header("Connection", "close"));
    request.respond(response)
}

/// `/stream`'s body: a `multipart/x-mixed-replace` part for each new annotated frame, read on
/// demand. It blocks until a frame newer than the last one sent is there, and never ends: the
/// copy stops when writing to a viewer that went away fails.
struct MjpegBody {
    shared: Arc<Mutex<Shared>>,
    last: u64,
    part: Vec<u8>,
    at: usize,
}

impl Read for MjpegBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.part.len() {
            let (jpeg, index) = {
                let mut g = self.shared.lock().expect("lock");
                g.last_request = Some(Instant::now());
                (g.jpeg.clone(), g.jpeg_index)
            };
            if index != self.last && !jpeg.is_empty() {
                let mut part = format!("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len()).into_bytes();
                part.extend_from_slice(&jpeg);
                part.extend_from_slice(b"\r\n");
                (self.part, self.at, self.last) = (part, 0, index);
            } else {
                std::thread::sleep(Duration::from_millis(15));
            }
        }
        let n = buf.len().min(self.part.len() - self.at);
        buf[..n].copy_from_slice(&self.part[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn serve(request: tiny_http::Request, shared: &Arc<Mutex<Shared>>, tx: &Sender<Control>) -> std::io::Result<()> {
    let method = request.method().clone();
    let target = request.url().to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    shared.lock().expect("lock").last_request = Some(Instant::now());
    use tiny_http::Method::{Get, Post};
    match (method, path) {
        (Get, "/") => respond(request, 200, "text/html; charset=utf-8", PAGE.as_bytes()),
        (Get, "/frame.jpg") => {
            // Right after the first request there may be no frame yet: wait briefly for one.
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let jpeg = shared.lock().expect("lock").jpeg.clone();
                if !jpeg.is_empty() {
                    return respond(request, 200, "image/jpeg", &jpeg);
                }
                if Instant::now() > deadline {
                    return respond(request, 503, "text/plain", b"no frame yet");
                }
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        (Get, "/state") => {
            let body = serde_json::to_vec(&shared.lock().expect("lock").state)?;
            respond(request, 200, "application/json", &body)
        }
        (Get, "/stream") => {
            // An endless body ended by closing the connection, which HTTP/1.0 and 1.1 viewers
            // both read; tiny_http's own responses would buffer it whole for a 1.0 client (to
            // count its length), so the head is written here.
            let mut w = request.into_writer();
            w.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            )?;
            w.flush()?;
            let mut body = MjpegBody { shared: shared.clone(), last: 0, part: Vec::new(), at: 0 };
            std::io::copy(&mut body, &mut w).map(|_| ())
        }
        (Post, "/init") => {
            let b = query.split('&').find_map(|kv| kv.strip_prefix("box=")).and_then(|v| crate::tracker::parse_box(v).ok());
            match b {
                Some(b) if b[2] > 0.0 && b[3] > 0.0 => {
                    let _ = tx.send(Control::Init(b));
                    respond(request, 200, "text/plain", b"ok")
                }
                _ => respond(request, 400, "text/plain", b"give box=x,y,w,h with a positive width and height"),
            }
        }
        (Post, "/pause") => {
            let _ = tx.send(Control::Pause);
            respond(request, 200, "text/plain", b"ok")
        }
        (Post, "/resume") => {
            let _ = tx.send(Control::Resume);
            respond(request, 200, "text/plain", b"ok")
        }
        _ => respond(request, 404, "text/plain", b"not found"),
    }
}
