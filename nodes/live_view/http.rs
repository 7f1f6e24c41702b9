//! The live view's HTTP/1.0–1.1 plumbing: one request per connection, every part of it bounded.
//!
//! This replaced tiny_http, which bounds nothing a client sends: a request or header line is
//! read until its CRLF however long it grows (one endless line exhausts memory), the number of
//! headers is unlimited, there is no read timeout (a client that sends a byte now and then
//! holds its thread forever) and every connection gets a thread. The view needs very little
//! of HTTP (GET and POST, no request bodies, `Connection: close`), so it reads requests itself:
//! the request line, each header line, the whole head, the number of headers, the body, the
//! time to send the head, the time a viewer may stall a write, and the number of connections
//! served at once all have limits, and a request past one is answered with the matching status
//! (408, 413, 414, 431, 503) instead of taking the view down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::guard::Refusal;

/// The longest request line (method, target, version) read.
pub(crate) const MAX_REQUEST_LINE: usize = 4096;
/// The longest header line read. Generous: a browser sends every cookie set for `localhost`
/// by any local web app, whatever its port, in one `Cookie` line.
pub(crate) const MAX_HEADER_LINE: usize = 16 * 1024;
/// The most header lines read.
pub(crate) const MAX_HEADERS: usize = 100;
/// The largest request head (request line and headers) read.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// The largest request body accepted (and discarded: every parameter is in the query).
pub(crate) const MAX_BODY: usize = 1024;
/// How long a client has to send its whole request head and body.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write to a client may block (a viewer of `/stream` that stops reading).
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most connections served at once (each is a thread; `/stream` viewers hold theirs).
pub(crate) const MAX_CONNECTIONS: usize = 32;

/// A request as read: method, path and query of the target, and the headers (names in lower
/// case, in order).
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The target up to `?`.
    pub path: String,
    /// The target after `?` (empty when there is none), not yet decoded.
    pub query: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The value of header `name` (any case), None when absent; a refusal when it is repeated,
    /// since two `Host` or `Origin` values leave open which one a check should trust.
    pub fn header(&self, name: &str) -> Result<Option<&str>, Refusal> {
        let mut values = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(Refusal::new(400, format!("the {name} header is given more than once")));
        }
        Ok(first)
    }
}

/// Why no request came out of a connection.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection or it failed: nobody to answer.
    Gone,
    /// The request broke a rule or a limit: answer this.
    Refused(Refusal),
}

impl From<Refusal> for ReadError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

/// Reads from a stream until a fixed deadline: each read waits only for the time left, so a
/// client sending a byte at a time cannot stretch the head past [`READ_TIMEOUT`] in total.
struct Deadline<'a> {
    stream: &'a TcpStream,
    until: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut s = self.stream;
        s.read(buf)
    }
}

fn io_error(e: std::io::Error) -> ReadError {
    match e.kind() {
        // A socket read timeout is WouldBlock on Unix, TimedOut elsewhere.
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            ReadError::Refused(Refusal::new(408, format!("the request was not complete within {} s", READ_TIMEOUT.as_secs())))
        }
        _ => ReadError::Gone,
    }
}

/// Reads one line of at most `limit` bytes (without its CRLF) and at most what is left of the
/// head's `budget`; `too_long` is the answer to a longer one. None at a clean end of input.
fn read_line(r: &mut impl BufRead, limit: usize, budget: &mut usize, too_long: impl Fn() -> Refusal) -> Result<Option<String>, ReadError> {
    if *budget == 0 {
        return Err(Refusal::new(431, format!("the request head is over {MAX_HEAD} bytes")).into());
    }
    let cap = (limit + 2).min(*budget);
    let mut buf = Vec::new();
    r.by_ref().take(cap as u64).read_until(b'\n', &mut buf).map_err(io_error)?;
    if buf.last() != Some(&b'\n') {
        return match buf.len() {
            0 => Ok(None),
            n if n == cap && cap < limit + 2 => Err(Refusal::new(431, format!("the request head is over {MAX_HEAD} bytes")).into()),
            n if n == cap => Err(too_long().into()),
            // The client closed the connection half-way through a line.
            _ => Err(ReadError::Gone),
        };
    }
    *budget -= buf.len();
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map(Some).map_err(|_| Refusal::new(400, "the request head is not UTF-8").into())
}

/// Reads one request from `stream` within the limits above, its body (if any, at most
/// [`MAX_BODY`] bytes) read and dropped.
pub fn read_request(stream: &TcpStream) -> Result<Request, ReadError> {
    let mut r = BufReader::with_capacity(4096, Deadline { stream, until: Instant::now() + READ_TIMEOUT });
    let mut budget = MAX_HEAD;
    let line = read_line(&mut r, MAX_REQUEST_LINE, &mut budget, || {
        Refusal::new(414, format!("the request line is over {MAX_REQUEST_LINE} bytes"))
    })?
    .ok_or(ReadError::Gone)?;
    let bad = |why: &str| ReadError::Refused(Refusal::new(400, why.to_string()));
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad("the request line is not `METHOD /path HTTP/1.1`"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("the request method is not a method name"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(Refusal::new(505, "only HTTP/1.0 and HTTP/1.1 are served").into());
    }
    // Origin form only (`/path?query`), printable ASCII: the view has no proxy use.
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("the request target is not a path starting with `/`"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut r, MAX_HEADER_LINE, &mut budget, || {
            Refusal::new(431, format!("a header line is over {MAX_HEADER_LINE} bytes"))
        })?
        .ok_or(ReadError::Gone)?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(Refusal::new(431, format!("the request has more than {MAX_HEADERS} headers")).into());
        }
        // Folded continuation lines are obsolete and a classic way to smuggle a second value.
        if line.starts_with([' ', '\t']) {
            return Err(bad("folded header lines are not accepted"));
        }
        let Some((name, value)) = line.split_once(':') else { return Err(bad("a header line has no `:`")) };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("a header name is empty or has spaces"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim_matches([' ', '\t']).to_string()));
    }
    let request = Request { method: method.to_string(), path: path.to_string(), query: query.to_string(), headers };
    if request.header("transfer-encoding")?.is_some() {
        return Err(Refusal::new(
            411,
            format!("chunked request bodies are not accepted; send a Content-Length (at most {MAX_BODY} bytes)"),
        )
        .into());
    }
    if let Some(length) = request.header("content-length")? {
        if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the Content-Length is not a number"));
        }
        let n = length.parse::<usize>().unwrap_or(usize::MAX);
        if n > MAX_BODY {
            return Err(Refusal::new(
                413,
                format!(
                    "the request body is {} bytes; at most {MAX_BODY} are accepted (parameters go in the query)",
                    super::guard::quote(length)
                ),
            )
            .into());
        }
        // Read off (not kept): left unread, it would make closing the socket reset the
        // connection, and the client could lose the answer.
        std::io::copy(&mut r.by_ref().take(n as u64), &mut std::io::sink()).map_err(io_error)?;
    }
    Ok(request)
}

/// The type of refusals and other short plain-text answers.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

/// The reason phrase of a status the view sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A response head: status, type, length if known, and the headers every answer carries.
pub fn head(status: u16, content_type: &str, length: Option<usize>) -> String {
    let mut h = format!("HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n", reason(status));
    if let Some(n) = length {
        h.push_str(&format!("Content-Length: {n}\r\n"));
    }
    // No caching (every answer is live); no sniffing a refusal's text as HTML; no framing of
    // the page by another site (a framed page could be clicked into drawing a box); one request
    // per connection: the page polls, and a browser holding kept-alive connections to a view
    // that may stop at any time gains nothing (headless Chromium's virtual clock stalled on them).
    h.push_str(
        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n\
         Content-Security-Policy: frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
    );
    h
}

/// Sends a whole response; dropping the stream then closes the connection (the request was read
/// whole, so nothing unread is left to make the close a reset).
pub(crate) fn respond(mut stream: TcpStream, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    write_response(&mut stream, status, content_type, body)
}

fn write_response(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let mut out = head(status, content_type, Some(body.len())).into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

/// Answers a request refused before it was read whole (a line too long, a body too large), and
/// closes the connection so the client still reads the answer: our side is shut for writing,
/// then what the client goes on sending is read off for at most a second and 64 KiB, since
/// closing a socket with unread input resets the connection, and the reset can overtake the
/// answer.
pub(crate) fn refuse_unread(mut stream: TcpStream, refusal: &Refusal) {
    if write_response(&mut stream, refusal.status, TEXT, refusal.reason.as_bytes()).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut drain = Deadline { stream: &stream, until: Instant::now() + Duration::from_secs(1) };
    let _ = std::io::copy(&mut drain.by_ref().take(64 * 1024), &mut std::io::sink());
}

/// Accepts connections on `listener` forever, each served by `serve` on a thread of its own, at
/// most [`MAX_CONNECTIONS`] at once; one over is answered 503 and closed.
pub(crate) fn accept_loop(listener: std::net::TcpListener, serve: Arc<dyn Fn(TcpStream) + Send + Sync>) {
    let active = Arc::new(AtomicUsize::new(0));
    /// Gives a connection's place back when its thread ends, however it ends.
    struct Slot(Arc<AtomicUsize>);
    impl Drop for Slot {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(_) => {
                // Out of file descriptors and the like: wait instead of spinning on the error.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            // Short and written at once into an empty socket buffer: it cannot block this loop.
            let body = format!("more than {MAX_CONNECTIONS} connections at once; try again");
            let mut s = &stream;
            let _ = s.write_all(format!("{}{body}", head(503, TEXT, Some(body.len()))).as_bytes());
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let slot = Slot(active.clone());
        let serve = serve.clone();
        // A thread that cannot be started drops its closure, and with it the slot and stream.
        let _ = std::thread::Builder::new().name("live-view-http".into()).spawn(move || {
            let _slot = slot;
            serve(stream);
        });
    }
}
