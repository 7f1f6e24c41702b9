//! Live frame sources for `dataflows/live.kdl`: MJPEG over HTTP (read here, no FFmpeg), V4L2
//! devices and RTSP streams (through FFmpeg), and a video file played back at its own frame
//! rate as a stand-in for a camera. Every frame carries its capture time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::base::image::{Image, check_image_size};
use crate::base::time::now_ns;

/// Where frames come from, parsed from the camera node's `url`.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraUrl {
    /// `http://host:port/path`: a `multipart/x-mixed-replace` MJPEG stream.
    Mjpeg { host: String, port: u16, path: String },
    /// `/dev/videoN`: a V4L2 device (MJPEG or YUYV, via FFmpeg).
    Device(String),
    /// `rtsp://...`: a network stream (via FFmpeg, over TCP).
    Rtsp(String),
    /// A video file played back at its frame rate.
    File(std::path::PathBuf),
}

impl CameraUrl {
    /// Parses a `url` parameter.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("http://") {
            let (hostport, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().with_context(|| format!("camera url `{s}`: bad port `{p}`"))?),
                None => (hostport.to_string(), 80),
            };
            return Ok(Self::Mjpeg { host, port, path });
        }
        if s.starts_with("rtsp://") {
            return Ok(Self::Rtsp(s.to_string()));
        }
        if s.starts_with("/dev/video") {
            return Ok(Self::Device(s.to_string()));
        }
        if s.contains("://") {
            bail!("camera url `{s}`: use http:// (MJPEG), rtsp://, /dev/videoN or a video file");
        }
        Ok(Self::File(s.into()))
    }
}

impl std::fmt::Display for CameraUrl {
    /// The URL as the user wrote it (for messages).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Mjpeg { host, port, path } => write!(f, "http://{host}:{port}{path}"),
            Self::Device(d) | Self::Rtsp(d) => f.write_str(d),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One captured frame and when it was captured (ns since the Unix epoch).
pub struct Captured {
    /// The picture.
    pub image: Image,
    /// Capture time: the camera's clock where it sends one (MJPEG `X-Timestamp`, the schedule of a
    /// played-back file), the arrival time otherwise.
    pub stamp: i64,
}

/// A live source of frames.
pub trait FrameSource: Send {
    /// The next frame; `Ok(None)` when the source has ended (a file without `loop`).
    fn next_frame(&mut self) -> Result<Option<Captured>>;
}

/// The pixel format asked of a V4L2 device. Most USB cameras give MJPEG at full resolution and
/// frame rate but raw YUYV only at low rates; the driver's default is not always the better one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceFormat {
    /// The driver's default.
    #[default]
    Auto,
    /// Compressed MJPEG.
    Mjpeg,
    /// Raw YUYV 4:2:2.
    Yuyv,
}

impl DeviceFormat {
    /// Parses `auto`, `mjpeg` or `yuyv`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => Self::Auto,
            "mjpeg" => Self::Mjpeg,
            "yuyv" => Self::Yuyv,
            other => bail!("unknown camera format `{other}`: auto, mjpeg or yuyv"),
        })
    }
}

/// FFmpeg's input arguments for V4L2 device `dev`: its format, rate and size (0: the device's).
pub fn v4l2_args(dev: &str, format: DeviceFormat, width: usize, height: usize, fps: f64) -> Vec<String> {
    let mut args: Vec<String> = vec!["-f".into(), "v4l2".into()];
    match format {
        DeviceFormat::Auto => {}
        DeviceFormat::Mjpeg => args.extend(["-input_format".into(), "mjpeg".into()]),
        DeviceFormat::Yuyv => args.extend(["-input_format".into(), "yuyv422".into()]),
    }
    if fps > 0.0 {
        args.extend(["-framerate".into(), format!("{fps}")]);
    }
    if width > 0 && height > 0 {
        args.extend(["-video_size".into(), format!("{width}x{height}")]);
    }
    args.extend(["-i".into(), dev.to_string()]);
    args
}

/// Opens a source. `width`/`height`/`fps` of 0 keep the source's own; `format` is for V4L2.
pub fn open(url: &CameraUrl, width: usize, height: usize, fps: f64, looped: bool, format: DeviceFormat) -> Result<Box<dyn FrameSource>> {
    Ok(match url {
        CameraUrl::Mjpeg { host, port, path } => Box::new(MjpegStream::connect(host, *port, path)?),
        CameraUrl::File(p) => Box::new(Playback::open(p, fps, looped)?),
        CameraUrl::Device(dev) => Box::new(FfmpegStream::spawn(&v4l2_args(dev, format, width, height, fps), width, height)?),
        CameraUrl::Rtsp(u) => {
            let args: Vec<String> = vec!["-rtsp_transport".into(), "tcp".into(), "-i".into(), u.clone()];
            Box::new(FfmpegStream::spawn(&args, width, height)?)
        }
    })
}

/// The longest header line (status line, response or part header) the MJPEG reader takes,
/// 8 KiB: the one limit HTTP servers commonly apply. A camera, or whatever answers on its port,
/// is a network peer: each of these limits bounds memory its bytes would otherwise decide (one
/// endless header line used to grow a buffer to 17 GB and abort the node).
pub const MJPEG_MAX_LINE: usize = 8 << 10;

/// The most header lines of the response or of one part (100; cameras send a handful).
pub(crate) const MJPEG_MAX_HEADERS: usize = 100;

/// The largest part (one JPEG) the reader allocates for, 64 MiB: an 8K frame at top quality is
/// a few megabytes.
pub const MJPEG_MAX_PART: usize = 64 << 20;

/// The most bytes the reader skips looking for the next part's boundary line (a part's
/// trailing CRLF, an epilogue, the rest of a part whose Content-Length was short), 64 MiB:
/// beyond that the stream has no boundaries. Skipped bytes are not kept.
pub(crate) const MJPEG_MAX_SKIP: usize = 64 << 20;

/// The latest `X-Timestamp` taken as a capture time, in seconds since the Unix epoch (year
/// 2096): later ones (and negative or non-finite ones) are ignored for the arrival time, so
/// that no peer's clock can overflow the nanosecond stamps downstream arithmetic subtracts.
pub(crate) const MJPEG_MAX_STAMP_S: f64 = 4e9;

/// MJPEG over HTTP (`multipart/x-mixed-replace`), as IP cameras and `mjpg-streamer` serve it:
/// [`MjpegReader`] over a TCP connection (`MjpegStream::connect`).
///
/// Written on a std `TcpStream` rather than an HTTP client crate because the stream never ends:
/// a stalled camera is caught by a per-read socket timeout, which ureq's whole-phase timeouts
/// (its body timeout bounds the entire body) cannot express. It asks with HTTP/1.0, so servers
/// answer without chunked encoding.
pub type MjpegStream = MjpegReader<BufReader<TcpStream>>;

/// The MJPEG reader over any byte stream: the response's status line and headers, then one
/// part per frame. Every line, header count, part size and boundary search is bounded
/// ([`MJPEG_MAX_LINE`], [`MJPEG_MAX_HEADERS`], [`MJPEG_MAX_PART`], [`MJPEG_MAX_SKIP`]), and a
/// JPEG's declared size is checked before it is decoded, so what the peer sends decides no
/// allocation beyond those bounds; errors name the URL and the limit. Generic over the reader
/// so that tests feed it bytes.
pub struct MjpegReader<R> {
    reader: R,
    /// The camera's URL, for messages.
    url: String,
    boundary: String,
    /// Undecodable parts skipped so far (garbage from the camera).
    pub skipped: u64,
}

/// One part of an MJPEG stream.
#[derive(Debug, Clone, PartialEq)]
pub struct MjpegPart {
    /// The part's bytes (a JPEG, normally).
    pub body: Vec<u8>,
    /// Its `X-Timestamp` in ns since the Unix epoch, when it has a usable one.
    pub stamp: Option<i64>,
}

impl MjpegStream {
    /// Connects and reads the response headers (5 s timeouts, so a dead camera is an error).
    pub fn connect(host: &str, port: u16, path: &str) -> Result<Self> {
        use std::net::ToSocketAddrs;
        let url = format!("http://{host}:{port}{path}");
        let addr = (host, port).to_socket_addrs()?.next().with_context(|| format!("cannot resolve {host}"))?;
        let mut s =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).with_context(|| format!("cannot connect to {host}:{port}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: trackflow\r\n\r\n")?;
        MjpegReader::open(BufReader::new(s), url)
    }
}

impl<R: BufRead> MjpegReader<R> {
    /// Reads the response's status line and headers from `reader` (the bytes after the
    /// request); `url` names the camera in errors. The answer must be `200` with a
    /// `multipart/x-mixed-replace` content type and a boundary.
    pub fn open(mut reader: R, url: impl Into<String>) -> Result<Self> {
        let url = url.into();
        let mut status = Vec::new();
        match read_line_bounded(&mut reader, &mut status, MJPEG_MAX_LINE).with_context(|| format!("{url}: no answer"))? {
            Line::Eof => bail!("{url}: the server closed the connection without answering"),
            Line::TooLong => bail!("{url}: the status line is longer than {MJPEG_MAX_LINE} bytes (the limit): not an HTTP server"),
            Line::Complete | Line::Unterminated => {}
        }
        let status = String::from_utf8_lossy(&status);
        if !status.contains(" 200") {
            bail!("{url}: the server answered `{}`", excerpt(status.trim()));
        }
        let mut boundary = None;
        for line in read_headers(&mut reader, &url)? {
            let Some((name, value)) = line.split_once(':') else { continue };
            if name.trim().eq_ignore_ascii_case("content-type") {
                if !value.to_ascii_lowercase().contains("multipart/x-mixed-replace") {
                    bail!("{url}: `{}` is not an MJPEG stream", excerpt(line.trim()));
                }
                boundary = value.split("boundary=").nth(1).map(|b| b.trim().trim_matches('"').trim_start_matches("--").to_string());
            }
        }
        let boundary = boundary.with_context(|| format!("{url}: no multipart boundary in the response"))?;
        if boundary.is_empty() {
            bail!("{url}: the multipart boundary is empty");
        }
        Ok(Self { reader, url, boundary, skipped: 0 })
    }

    /// The next part's bytes and its `X-Timestamp` (seconds since the Unix epoch, as cameras
    /// and mjpg-streamer send it, within [`MJPEG_MAX_STAMP_S`]) in ns, or `None` when the
    /// stream closed.
    pub fn next_part(&mut self) -> Result<Option<MjpegPart>> {
        let url = &self.url;
        // Skip to the boundary line, read the part's headers, then its body. A line longer than
        // MJPEG_MAX_LINE is not the boundary: it is skipped in pieces, the pieces after the
        // first not being line starts, so only the bytes skipped in all are bounded.
        let mut line = Vec::new();
        let (mut skipped, mut at_line_start) = (0usize, true);
        loop {
            let kind = read_line_bounded(&mut self.reader, &mut line, MJPEG_MAX_LINE)
                .with_context(|| format!("{url}: MJPEG stream stalled or closed"))?;
            if kind == Line::Eof {
                return Ok(None);
            }
            if at_line_start && is_boundary(&line, &self.boundary) {
                break;
            }
            skipped += line.len();
            if skipped > MJPEG_MAX_SKIP {
                bail!("{url}: no MJPEG boundary `--{}` within {MJPEG_MAX_SKIP} bytes (the limit)", excerpt(&self.boundary));
            }
            at_line_start = kind != Line::TooLong;
        }
        let headers = read_headers(&mut self.reader, url)?;
        let len = header_value(&headers, "content-length").with_context(|| format!("{url}: MJPEG part without Content-Length"))?;
        let len: u64 =
            len.parse().map_err(|_| anyhow::anyhow!("{url}: MJPEG part with Content-Length `{}`: not a byte count", excerpt(len)))?;
        if len > MJPEG_MAX_PART as u64 {
            bail!("{url}: MJPEG part of {len} bytes, more than the {MJPEG_MAX_PART} bytes a frame may have: not a frame");
        }
        let stamp = header_value(&headers, "x-timestamp")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| (0.0..MJPEG_MAX_STAMP_S).contains(v))
            .map(|v| (v * 1e9) as i64);
        let mut body = vec![0u8; len as usize];
        self.reader.read_exact(&mut body).with_context(|| format!("{url}: MJPEG stream ended inside a frame"))?;
        Ok(Some(MjpegPart { body, stamp }))
    }
}

/// How [`read_line_bounded`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// End of stream before any byte.
    Eof,
    /// A line, through its `\n`.
    Complete,
    /// The stream's last bytes, without a `\n`.
    Unterminated,
    /// The limit's worth of bytes without a `\n`; the rest of the line is left unread.
    TooLong,
}

/// Reads the next line, through its `\n`, into `buf` (cleared first), reading at most `max`
/// bytes: a longer line leaves its rest unread and says so, so a peer that never sends a
/// newline cannot grow the buffer (`BufRead::read_line` would, without end). Bytes are taken as
/// they are; lines are compared as bytes, so a binary line is no error either.
fn read_line_bounded(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    buf.clear();
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if buf.is_empty() { Line::Eof } else { Line::Unterminated });
        }
        let room = &available[..available.len().min(max - buf.len())];
        if let Some(i) = room.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&room[..=i]);
            r.consume(i + 1);
            return Ok(Line::Complete);
        }
        let n = room.len();
        buf.extend_from_slice(room);
        r.consume(n);
        if buf.len() >= max {
            return Ok(Line::TooLong);
        }
    }
}

/// Whether a line is the part boundary `--<boundary>` (leading dashes and surrounding
/// whitespace aside, as servers differ there).
fn is_boundary(line: &[u8], boundary: &str) -> bool {
    let mut l = line.trim_ascii();
    while let Some(rest) = l.strip_prefix(b"--") {
        l = rest;
    }
    l == boundary.as_bytes()
}

/// The header lines of a response or part, up to the blank line that ends them: at most
/// [`MJPEG_MAX_HEADERS`] lines of at most [`MJPEG_MAX_LINE`] bytes each, else an error naming
/// `url` and the limit.
fn read_headers(r: &mut impl BufRead, url: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    loop {
        match read_line_bounded(r, &mut line, MJPEG_MAX_LINE).with_context(|| format!("{url}: MJPEG stream stalled or closed"))? {
            Line::Eof | Line::Unterminated => bail!("{url}: the stream ended inside a header"),
            Line::TooLong => bail!("{url}: a header line longer than {MJPEG_MAX_LINE} bytes (the limit): not an MJPEG stream"),
            Line::Complete => {}
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            return Ok(out);
        }
        if out.len() == MJPEG_MAX_HEADERS {
            bail!("{url}: more than {MJPEG_MAX_HEADERS} header lines (the limit): not an MJPEG stream");
        }
        out.push(text.into_owned());
    }
}

/// The value of header `name` (case-insensitive), trimmed: the first such header's.
fn header_value<'a>(headers: &'a [String], name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| {
        let (n, v) = h.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// At most 80 characters of something a peer sent, for a message.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Decodes one MJPEG part: a JPEG's declared size is checked against
/// [`check_image_size`]'s caps from its header before libjpeg-turbo allocates for it (a 1 KB
/// JPEG may declare 65535×65535, 12 GB of pixels); anything else is decoded by the `image`
/// crate, which bounds its own allocations, and checked after.
pub fn decode_part(bytes: &[u8]) -> Result<Image> {
    if crate::base::imageio::is_jpeg(bytes) {
        let header = turbojpeg::read_header(bytes).context("libjpeg-turbo cannot read its header")?;
        check_image_size(header.width, header.height)?;
    }
    let image = crate::base::imageio::decode_rgb(bytes)?;
    check_image_size(image.width, image.height)?;
    Ok(image)
}

impl<R: BufRead + Send> FrameSource for MjpegReader<R> {
    fn next_frame(&mut self) -> Result<Option<Captured>> {
        // A part that does not decode is skipped and counted; 30 in a row is a broken stream.
        for _ in 0..30 {
            let Some(MjpegPart { body, stamp: camera_stamp }) = self.next_part()? else { return Ok(None) };
            // The camera's own clock when it says; the arrival time otherwise.
            let stamp = camera_stamp.unwrap_or_else(now_ns);
            match decode_part(&body) {
                Ok(image) => return Ok(Some(Captured { image, stamp })),
                Err(e) => {
                    self.skipped += 1;
                    tracing::warn!("warning: {}: skipping an undecodable MJPEG part ({} bytes): {e:#}", self.url, body.len());
                }
            }
        }
        bail!("{}: 30 undecodable MJPEG parts in a row: the stream sends garbage", self.url)
    }
}

/// A video file delivered at its own frame rate (or `fps`), frame k at start + k/fps.
pub(crate) struct Playback {
    path: std::path::PathBuf,
    reader: crate::data::video::VideoReader,
    fps: f64,
    start: Instant,
    start_ns: i64,
    index: u64,
    looped: bool,
}

impl Playback {
    /// Opens the file.
    pub fn open(path: &std::path::Path, fps: f64, looped: bool) -> Result<Self> {
        let reader = crate::data::video::VideoReader::open(path)?;
        let fps = if fps > 0.0 { fps } else { reader.info().fps };
        Ok(Self { path: path.to_path_buf(), reader, fps, start: Instant::now(), start_ns: now_ns(), index: 0, looped })
    }
}

impl FrameSource for Playback {
    fn next_frame(&mut self) -> Result<Option<Captured>> {
        let im = match self.reader.next_frame() {
            Some(r) => r?,
            None if self.looped => {
                self.reader = crate::data::video::VideoReader::open(&self.path)?;
                match self.reader.next_frame() {
                    Some(r) => r?,
                    None => return Ok(None),
                }
            }
            None => return Ok(None),
        };
        let due = Duration::from_secs_f64(self.index as f64 / self.fps);
        if let Some(wait) = due.checked_sub(self.start.elapsed()) {
            std::thread::sleep(wait);
        }
        let stamp = self.start_ns + due.as_nanos() as i64;
        self.index += 1;
        Ok(Some(Captured { image: im, stamp }))
    }
}

/// FFmpeg reading a device or a network stream, scaled to `width`×`height` RGB24.
///
/// Capture times follow the stream's own clock: FFmpeg's `showinfo` filter reports each frame's
/// presentation time (RTP timestamps for RTSP, the driver's timestamps for V4L2), and frame k is
/// stamped `arrival of the first frame + (pts_k − pts_0)`. Intervals are then the camera's, not
/// the network's or the pipe's jitter, and a stream that falls behind shows as growing latency.
/// Frames whose time FFmpeg does not report keep their arrival time.
pub(crate) struct FfmpegStream {
    child: Child,
    stdout: ChildStdout,
    width: usize,
    height: usize,
    /// Presentation times (s) in frame order, from FFmpeg's log; dropped once FFmpeg fails to
    /// report a frame's time, after which frames keep their arrival time without waiting for
    /// reports that do not come.
    pts: Option<crossbeam_channel::Receiver<f64>>,
    /// (arrival ns, pts s) of the first frame.
    anchor: Option<(i64, f64)>,
}

/// The `pts_time:` of a `showinfo` log line (`[Parsed_showinfo_0 @ 0x..] [info] n: 3 pts: 27000
/// pts_time:0.3 ...`).
fn showinfo_pts(line: &str) -> Option<f64> {
    if !line.contains("Parsed_showinfo") {
        return None;
    }
    line.split_whitespace().find_map(|w| w.strip_prefix("pts_time:")).and_then(|v| v.parse().ok())
}

impl FfmpegStream {
    /// Starts FFmpeg with `input` arguments. A size is required (FFmpeg scales to it).
    pub fn spawn(input: &[String], width: usize, height: usize) -> Result<Self> {
        if width == 0 || height == 0 {
            bail!("give the camera node `width` and `height` for devices and RTSP streams");
        }
        // Each frame is read into a width×height×3 buffer: bound it before FFmpeg starts.
        check_image_size(width, height).context("the camera node's `width` and `height`")?;
        // `level+info` tags every log line with its level, so the frame times (info) can be read
        // and everything at warning level or worse passed on to the console, as before;
        // `-nostats` keeps the progress line (ended by a carriage return) out of the log.
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "level+info", "-nostdin"])
            .args(input)
            // One output frame per decoded frame, so the log's times pair with the frames.
            // (`-vsync` rather than `-fps_mode`, which FFmpeg 4.x, as on Ubuntu 22.04, lacks.)
            .args(["-vf", &format!("showinfo,scale={width}:{height}"), "-vsync", "passthrough"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start ffmpeg (scripts/setup installs it)")?;
        let stdout = child.stdout.take().context("ffmpeg stdout")?;
        let stderr = child.stderr.take().context("ffmpeg stderr")?;
        let (tx, pts) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(std::result::Result::ok) {
                if let Some(t) = showinfo_pts(&line) {
                    let _ = tx.send(t);
                } else if ["[warning]", "[error]", "[fatal]", "[panic]"].iter().any(|l| line.contains(l))
                    && !line.contains("-vsync is deprecated")
                {
                    tracing::info!("ffmpeg: {line}");
                }
            }
        });
        Ok(Self { child, stdout, width, height, pts: Some(pts), anchor: None })
    }
}

impl FrameSource for FfmpegStream {
    fn next_frame(&mut self) -> Result<Option<Captured>> {
        let mut data = vec![0u8; self.width * self.height * 3];
        match self.stdout.read_exact(&mut data) {
            Ok(()) => {
                let arrival = now_ns();
                // The frame's log line is written before its pixels; allow for pipe scheduling.
                let pts = self.pts.as_ref().and_then(|rx| rx.recv_timeout(Duration::from_millis(200)).ok());
                if pts.is_none() {
                    self.pts = None;
                }
                let stamp = match pts {
                    Some(pts) => {
                        let (t0, p0) = *self.anchor.get_or_insert((arrival, pts));
                        t0 + ((pts - p0) * 1e9).round() as i64
                    }
                    None => arrival,
                };
                Ok(Some(Captured { image: Image { width: self.width, height: self.height, channels: 3, data }, stamp }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e).context("reading frames from ffmpeg"),
        }
    }
}

impl Drop for FfmpegStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves JPEG frames as an MJPEG stream on `127.0.0.1:<port>` (tests, demos): each client gets
/// the frames in order at `fps`.
pub fn serve_mjpeg(frames: Vec<Vec<u8>>, fps: f64) -> Result<(u16, std::thread::JoinHandle<()>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(8) {
            let frames = frames.clone();
            std::thread::spawn(move || {
                let mut s = stream;
                let mut req = [0u8; 1024];
                let _ = s.read(&mut req);
                let _ = write!(s, "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n");
                let start = Instant::now();
                for (k, jpg) in frames.iter().enumerate() {
                    if let Some(w) = Duration::from_secs_f64(k as f64 / fps).checked_sub(start.elapsed()) {
                        std::thread::sleep(w);
                    }
                    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
                    let head =
                        format!("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {stamp:.6}\r\n\r\n", jpg.len());
                    if s.write_all(head.as_bytes()).and_then(|_| s.write_all(jpg)).and_then(|_| s.write_all(b"\r\n")).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((port, handle))
}
