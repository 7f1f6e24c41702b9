//! The live-view node: a small web server on loopback (by default) showing the camera stream
//! with the tracked box, score, fps, latency and drops. Dragging a box on the page sends an
//! `init` control message to the tracker (no restart); Pause/Resume likewise. With `record`, the
//! annotated stream goes to a fragmented MP4 (playable even if the run is killed) and every box
//! to `<name>.boxes.txt` with its capture time.
//!
//! Endpoints: `/` (the page), `/frame.jpg` (the newest annotated frame), `/stream` (the same as
//! MJPEG, for VLC and friends), `/state` (JSON), `POST /init?box=x,y,w,h`, `POST /pause`,
//! `POST /resume`.
//!
//! Nothing a client sends reaches the tracker unchecked ([`guard`]): every request must name
//! this view in `Host` (loopback names, the bind address, `allow-hosts`), or it is refused 403
//! whatever its path (DNS rebinding would otherwise read the camera); every POST must carry
//! this run's token (embedded in the page, sent as `X-Trackflow-Token`) and, if it has an
//! `Origin`, an allowed one (403 otherwise: cross-site requests); an init box must be four
//! finite numbers overlapping the last frame shown, 2 px to the frame's size each way (400
//! with the reason otherwise; 409 before the first frame). Requests are read with bounds on
//! every part and on time ([`http`]).

pub mod guard;
pub mod http;

use crate::nodes::kinds::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossbeam_channel::{Receiver, Sender, unbounded};
use dora_node_api::{DoraNode, EventStream};

use self::guard::{Allowlist, Refusal, TOKEN_HEADER};
use self::http::TEXT;
use super::{Next, Params, frame_image, out, poll_event};
use crate::base::draw::annotate;
use crate::base::image::Image;
use crate::data::video::VideoWriter;
use crate::wire::{BoxMsg, Control, Frame};

/// The page; [`TOKEN_PLACEHOLDER`] in it is replaced by the run's token when it is served.
const PAGE: &str = include_str!("page.html");
/// Where the token goes in [`PAGE`].
const TOKEN_PLACEHOLDER: &str = "{{TRACKFLOW_TOKEN}}";

#[derive(Default)]
struct Shared {
    jpeg: Vec<u8>,
    jpeg_index: u64,
    state: serde_json::Value,
    last_request: Option<Instant>,
    /// Width and height of the last frame received: an init box is checked against it.
    frame_size: Option<(usize, usize)>,
}

/// What every request handler needs: the node's shared state, the way to the tracker, and the
/// rules requests are held to.
struct Server {
    shared: Arc<Mutex<Shared>>,
    tx: Sender<Control>,
    allow: Allowlist,
    token: String,
    /// The page with this run's token in it.
    page: String,
}

node_params! {
    /// The live-view node's parameters.
    pub struct LiveViewParams {
        /// Address the page is served on.
        bind: String = param("bind", ParamType::Str, Some("\"127.0.0.1\""), "address the page is served on (loopback by default)"),
        /// More names the page may be reached by, beyond loopback and `bind` (comma-separated
        /// `name` or `name:port`): checked against each request's `Host` and `Origin`. Defaults to
        /// none, so a view started before the spec lists the parameter still runs.
        #[serde(default)]
        allow_hosts: String = param(
                        "allow-hosts",
                        ParamType::Str,
                        Some("\"\""),
                        "more names the page may be reached by, comma-separated `name` or `name:port` (loopback names and `bind` always are); checked against each request's Host and Origin",
                    ),
        /// Port (0: any free one).
        port: i64 = param("port", int(0, 65535), Some("8090"), "port of the page (0: any free port, printed at start)"),
        /// Recording path (empty: none).
        record: String = param("record", ParamType::Path, Some("\"\""), "record the annotated stream to this .mp4 and the boxes to <name>.boxes.txt"),
        /// Frame rate of the recording.
        fps: f64 = param("fps", float(FPS), Some("30.0"), "frame rate of the recording"),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `live-view` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "live-view",
    doc: "serves a local web page with the live stream, box, score and fps; drag a box to (re)start tracking; records video and boxes",
    inputs: &[input("frame", MessageType::Frame, true), input("box", MessageType::Box, false)],
    outputs: &[output("control", MessageType::Control)],
    params: LiveViewParams::SPECS,
};

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: LiveViewParams = p.typed()?;
    let bind = q.bind.as_str();
    // `as u16` would quietly serve 70000 on 4464.
    let Ok(port) = u16::try_from(q.port) else { bail!("port {} is not a TCP port (0 to 65535)", q.port) };
    let listener = std::net::TcpListener::bind((bind, port)).with_context(|| format!("cannot serve on {bind}:{port}"))?;
    let addr = listener.local_addr().context("the live view's address")?;
    let allow = Allowlist::new(addr.port(), bind, &q.allow_hosts).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!("[{}] live view at http://{addr}/", p.node_id);
    let shared = Arc::new(Mutex::new(Shared::default()));
    let (tx, rx): (Sender<Control>, Receiver<Control>) = unbounded();
    let token = guard::new_token();
    let page = PAGE.replace(TOKEN_PLACEHOLDER, &token);
    let server = Arc::new(Server { shared: shared.clone(), tx, allow, token, page });
    // One thread per connection (bounded in number): `/stream` never ends while its viewer watches.
    std::thread::spawn(move || http::accept_loop(listener, Arc::new(move |stream| serve(stream, &server))));
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
                    let im = frame_image(&f)?;
                    shared.lock().expect("lock").frame_size = Some((im.width, im.height));
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
        tracing::info!("[{}] recording {}", p.node_id, path.display());
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

/// Answers one connection's request: admitted ([`admit`]), then routed.
fn serve(stream: TcpStream, server: &Server) {
    let request = match http::read_request(&stream) {
        Ok(r) => r,
        Err(http::ReadError::Gone) => return,
        Err(http::ReadError::Refused(r)) => return http::refuse_unread(stream, &r),
    };
    if let Err(r) = admit(&request, server) {
        return refuse(stream, r);
    }
    // Only admitted requests keep the JPEG encoder busy.
    server.shared.lock().expect("lock").last_request = Some(Instant::now());
    // A write error means the client went away: nobody is left to tell.
    let _ = route(stream, &request, server);
}

fn refuse(stream: TcpStream, r: Refusal) {
    let _ = http::respond(stream, r.status, TEXT, r.reason.as_bytes());
}

/// Whether a request may be served at all: a `Host` naming this view for every request; for
/// POSTs (the requests that change state) also an allowed `Origin` if one is sent, and this
/// run's token. The query's length is bounded here too, before anything parses it.
fn admit(request: &http::Request, server: &Server) -> Result<(), Refusal> {
    let refused_host = |h: &str| {
        Refusal::new(
            403,
            format!(
                "Host {} is not a name this view answers to (loopback names by default; add others with its allow-hosts parameter)",
                guard::quote(h)
            ),
        )
    };
    match request.header("host")? {
        Some(h) if server.allow.host_allowed(h) => {}
        Some(h) => return Err(refused_host(h)),
        // Every browser and player sends Host (HTTP/1.1 requires it); without one the request
        // cannot be told apart from a rebinding page's.
        None => return Err(Refusal::new(403, "the request has no Host header")),
    }
    if request.query.len() > guard::MAX_QUERY {
        return Err(Refusal::new(414, format!("the query is {} bytes; at most {} are read", request.query.len(), guard::MAX_QUERY)));
    }
    if request.method == "POST" {
        // Browsers send Origin with every POST; its absence means a non-browser client, which
        // the token below still holds to account.
        if let Some(o) = request.header("origin")?
            && !server.allow.origin_allowed(o)
        {
            return Err(Refusal::new(403, format!("cross-site request refused: Origin {} is not this view's page", guard::quote(o))));
        }
        if !guard::token_matches(&server.token, request.header(TOKEN_HEADER)?) {
            return Err(Refusal::new(
                403,
                format!("missing or wrong {TOKEN_HEADER} header: state changes need this run's token, which its page at / carries"),
            ));
        }
    }
    Ok(())
}

/// Serves an admitted request.
fn route(stream: TcpStream, request: &http::Request, server: &Server) -> std::io::Result<()> {
    let shared = &server.shared;
    let send = |stream: TcpStream, c: Control, what: &str| match server.tx.send(c) {
        Ok(()) => http::respond(stream, 200, TEXT, format!("ok: {what}").as_bytes()),
        // The node loop has ended (the run is stopping): nothing will reach the tracker.
        Err(_) => http::respond(stream, 503, TEXT, b"the view is shutting down"),
    };
    // GETs ignore their query (the page adds `?t=` to defeat caches); POSTs take only theirs.
    let params = |allowed: &[&str]| -> Result<Vec<Option<String>>, Refusal> {
        let pairs = guard::query_pairs(&request.query)?;
        Ok(guard::expect_params(&pairs, allowed, &request.path)?.into_iter().map(|v| v.map(String::from)).collect())
    };
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => http::respond(stream, 200, "text/html; charset=utf-8", server.page.as_bytes()),
        ("GET", "/frame.jpg") => {
            // Right after the first request there may be no frame yet: wait briefly for one.
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let jpeg = shared.lock().expect("lock").jpeg.clone();
                if !jpeg.is_empty() {
                    return http::respond(stream, 200, "image/jpeg", &jpeg);
                }
                if Instant::now() > deadline {
                    return http::respond(stream, 503, TEXT, b"no frame yet");
                }
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        ("GET", "/state") => {
            let body = serde_json::to_vec(&shared.lock().expect("lock").state)?;
            http::respond(stream, 200, "application/json", &body)
        }
        ("GET", "/stream") => {
            // An endless body ended by closing the connection, which HTTP/1.0 and 1.1 viewers
            // both read. A viewer that stops reading fails a write after the write timeout.
            let mut w = stream;
            w.write_all(http::head(200, "multipart/x-mixed-replace; boundary=frame", None).as_bytes())?;
            w.flush()?;
            let mut body = MjpegBody { shared: shared.clone(), last: 0, part: Vec::new(), at: 0 };
            std::io::copy(&mut body, &mut w).map(|_| ())
        }
        ("POST", "/init") => {
            let checked = params(&["box"]).and_then(|v| {
                let text = v[0].as_deref().ok_or_else(|| Refusal::new(400, "give box=x,y,w,h (pixels of the frame shown)"))?;
                let frame = shared.lock().expect("lock").frame_size;
                guard::check_init_box(text, frame)
            });
            match checked {
                Ok(b) => send(stream, Control::Init(b), &format!("tracking from box {:.1},{:.1},{:.1},{:.1}", b[0], b[1], b[2], b[3])),
                Err(r) => http::respond(stream, r.status, TEXT, r.reason.as_bytes()),
            }
        }
        ("POST", path @ ("/pause" | "/resume")) => match params(&[]) {
            Ok(_) if path == "/pause" => send(stream, Control::Pause, "paused"),
            Ok(_) => send(stream, Control::Resume, "resumed"),
            Err(r) => http::respond(stream, r.status, TEXT, r.reason.as_bytes()),
        },
        (_, "/" | "/frame.jpg" | "/state" | "/stream") => http::respond(stream, 405, TEXT, b"GET only"),
        (_, "/init" | "/pause" | "/resume") => http::respond(stream, 405, TEXT, b"POST only"),
        _ => http::respond(stream, 404, TEXT, b"not found"),
    }
}
