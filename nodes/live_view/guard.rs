//! What the live view lets through: the `Host` and `Origin` names it answers to, the per-run
//! token every state-changing request carries, and the checks on a request's parameters (an init
//! box above all) before anything reaches the tracker. Kept apart from the HTTP plumbing and the
//! node loop so each rule can be tested without a server or a dataflow.
//!
//! Why each exists:
//! - `Host`: a page on `attacker.example` whose name is re-pointed at 127.0.0.1 (DNS
//!   rebinding) becomes same-origin with the view and could read the camera; its requests still
//!   carry `Host: attacker.example`, so answering only to known names closes that door.
//! - `Origin`: any web page the user has open can POST to `http://127.0.0.1:8090/pause` (a
//!   "simple" cross-site request needs no permission); browsers name the page's origin, so a
//!   foreign one is refused.
//! - The token: a second, independent guard for state changes (non-browser clients send no
//!   `Origin`); only someone who could read this run's page knows it.
//! - Box checks: the tracker treats a bad init box as fatal (and a huge one overflowed its crop
//!   arithmetic), so a hostile or mistaken box must stop here, with the reason, not take the run
//!   down.

use std::fmt::Write as _;
use std::net::IpAddr;

/// Why a request was refused: the HTTP status and a one-line reason, sent as the body so that
/// whoever made the request (a person with curl, the page) learns what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status (400, 403, 409, 413, 414, ...).
    pub status: u16,
    /// Plain-text reason.
    pub reason: String,
}

impl Refusal {
    /// A refusal with `status` and `reason`.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self { status, reason: reason.into() }
    }
}

/// Client-supplied text quoted in a reason, cut short: a reason should name the offending value,
/// not echo a kilobyte of it back.
pub fn quote(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("`{}…`", &s[..i]),
        None => format!("`{s}`"),
    }
}

/// The names loopback is reached by, always allowed.
const LOOPBACK: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// One name the view may be reached by, with the port a browser uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    name: String,
    port: u16,
}

/// The names (with ports) the view answers to: loopback names at the view's port, the `bind`
/// address when it names one address, and whatever the `allow-hosts` parameter adds.
///
/// `Host` is matched by name (with the entry's port, or no port: some clients, trackflow's own
/// MJPEG reader among them, omit it; the name is what DNS rebinding cannot fake). `Origin` is
/// matched by name *and* port, since a page served elsewhere on the same machine (another port)
/// is another site.
#[derive(Debug, Clone)]
pub struct Allowlist {
    allowed: Vec<Allowed>,
}

impl Allowlist {
    /// The allowlist of a view serving on `bind`:`port`, plus `extra`: comma-separated entries,
    /// each `name` (at the view's port) or `name:port` (behind a proxy, say), IPv6 addresses in
    /// brackets (`[fe80::1]`). Fails naming the first entry that is not a host name.
    pub fn new(port: u16, bind: &str, extra: &str) -> Result<Self, String> {
        let mut allowed: Vec<Allowed> = LOOPBACK.iter().map(|n| Allowed { name: n.to_string(), port }).collect();
        // The address the server was told to bind is one a user types into the browser (an IP
        // literal cannot be rebound); the unspecified address names no host.
        let bind = bind.trim();
        match bind.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => {}
            Ok(IpAddr::V6(ip)) => allowed.push(Allowed { name: format!("[{ip}]"), port }),
            Ok(IpAddr::V4(ip)) => allowed.push(Allowed { name: ip.to_string(), port }),
            Err(_) if !bind.is_empty() => {
                let (name, p) = split_authority(bind).ok_or_else(|| format!("bind {} is not a host name or address", quote(bind)))?;
                allowed.push(Allowed { name, port: p.unwrap_or(port) });
            }
            Err(_) => {}
        }
        for entry in extra.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, p) = split_authority(entry)
                .ok_or_else(|| format!("allow-hosts entry {} is not `name` or `name:port` (IPv6 in brackets)", quote(entry)))?;
            allowed.push(Allowed { name, port: p.unwrap_or(port) });
        }
        Ok(Self { allowed })
    }

    /// Whether a request's `Host` header names this view.
    pub fn host_allowed(&self, host: &str) -> bool {
        match split_authority(host) {
            Some((name, None)) => self.allowed.iter().any(|a| a.name == name),
            Some((name, Some(port))) => self.allowed.iter().any(|a| a.name == name && a.port == port),
            None => false,
        }
    }

    /// Whether a request's `Origin` header (`scheme://name[:port]`) is this view's own page (or
    /// an allowed one). `null` (sandboxed frames, file pages) is never allowed.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = origin.trim().split_once("://") else { return false };
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        match split_authority(authority) {
            Some((name, port)) => {
                let port = port.unwrap_or(default_port);
                self.allowed.iter().any(|a| a.name == name && a.port == port)
            }
            None => false,
        }
    }
}

/// `name[:port]` (IPv6 as `[addr][:port]`) as a lower-case name and the port if given; None for
/// anything else (paths, user info, empty names, stray characters, ports past 65535).
fn split_authority(a: &str) -> Option<(String, Option<u16>)> {
    let a = a.trim();
    let port = |p: &str| -> Option<u16> { if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) { p.parse().ok() } else { None } };
    let (name, port) = if let Some(rest) = a.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return None;
        }
        let port = match after {
            "" => None,
            p => Some(port(p.strip_prefix(':')?)?),
        };
        (format!("[{inside}]"), port)
    } else {
        let (name, port) = match a.split_once(':') {
            Some((n, p)) => (n, Some(port(p)?)),
            None => (a, None),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_') {
            return None;
        }
        (name.to_string(), port)
    };
    Some((name.to_ascii_lowercase(), port))
}

/// The name of the header carrying the token.
pub(crate) const TOKEN_HEADER: &str = "X-Trackflow-Token";

/// A fresh token for this run: 128 random bits as hex, from `/dev/urandom`, or where that
/// cannot be read from std's per-process random hash keys mixed with the time and pid (no new
/// crates for this).
pub fn new_token() -> String {
    use std::hash::BuildHasher;
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
    if !from_os {
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let h = std::collections::hash_map::RandomState::new().hash_one((i, std::time::SystemTime::now(), std::process::id()));
            chunk.copy_from_slice(&h.to_le_bytes());
        }
    }
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether `given` is the token, compared in time independent of where they differ (a timing
/// side channel would let a local process guess it byte by byte).
pub fn token_matches(token: &str, given: Option<&str>) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (token.as_bytes(), given.trim().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The longest query string the view reads. Its own requests are far shorter (a box is under
/// 100 characters); anything longer is refused before it is parsed.
pub(crate) const MAX_QUERY: usize = 512;

/// A query string's `name=value` pairs, percent-decoded (`+` is a space). Refuses one longer
/// than [`MAX_QUERY`], and malformed escapes or text that is not UTF-8.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    if query.len() > MAX_QUERY {
        return Err(Refusal::new(414, format!("the query is {} bytes; at most {MAX_QUERY} are read", query.len())));
    }
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match (percent_decode(k), percent_decode(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(Refusal::new(400, format!("query part {} is not valid percent-encoded UTF-8", quote(kv)))),
            }
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Checks that a query holds only the parameters in `allowed`, each at most once: a typo or a
/// repeated `box` is refused rather than silently ignored or resolved by guesswork.
pub fn expect_params<'q>(pairs: &'q [(String, String)], allowed: &[&str], path: &str) -> Result<Vec<Option<&'q str>>, Refusal> {
    let mut found = vec![None; allowed.len()];
    for (k, v) in pairs {
        let Some(i) = allowed.iter().position(|a| a == k) else {
            let takes = if allowed.is_empty() { "no parameters".to_string() } else { allowed.join(", ") };
            return Err(Refusal::new(400, format!("{path} takes {takes}; unknown parameter {}", quote(k))));
        };
        if found[i].replace(v.as_str()).is_some() {
            return Err(Refusal::new(400, format!("{path}: parameter `{k}` is given more than once")));
        }
    }
    Ok(found)
}

/// A number for a reason: plain for everyday sizes, in exponent form for extreme ones (Rust
/// writes 1e308 in full, 309 digits).
fn num(x: f64) -> String {
    if x == 0.0 || (1e-3..1e7).contains(&x.abs()) { format!("{x}") } else { format!("{x:e}") }
}

/// The smallest init box side passed on, in pixels: a box of a pixel or less holds no target
/// the model can learn a template from (and 1e-300 px made the tracker's crop degenerate).
pub const MIN_BOX_SIDE: f64 = 2.0;

/// Parses `x,y,w,h` and checks it against the frame last shown (`width`, `height`), or refuses
/// with the reason. The box must be four finite numbers, each side at least [`MIN_BOX_SIDE`]
/// and at most the frame's, and it must overlap the frame; a box partly outside is clipped to
/// the frame (the visible part of the target is what can be tracked), and what is left must
/// still be [`MIN_BOX_SIDE`] wide and high. Without a frame (`None`) nothing can be checked:
/// 409, try again once the picture shows.
pub fn check_init_box(text: &str, frame: Option<(usize, usize)>) -> Result<[f64; 4], Refusal> {
    let bad = |why: String| Err(Refusal::new(400, why));
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        return bad(format!("box {} has {} values; give box=x,y,w,h (pixels)", quote(text), parts.len()));
    }
    let mut b = [0.0f64; 4];
    for (v, part) in b.iter_mut().zip(&parts) {
        match part.parse::<f64>() {
            // `1e309` parses, to infinity: finiteness is checked on the value, not the text.
            Ok(x) if x.is_finite() => *v = x,
            Ok(_) => return bad(format!("box value {} is not a finite number (NaN, infinity or beyond ±1.8e308)", quote(part))),
            Err(_) => return bad(format!("box value {} is not a number", quote(part))),
        }
    }
    let Some((fw, fh)) = frame else {
        return Err(Refusal::new(
            409,
            "no frame has been shown yet, so the box cannot be checked against it; try again once the picture shows",
        ));
    };
    let (fw, fh) = (fw as f64, fh as f64);
    let [x, y, w, h] = b;
    if w < MIN_BOX_SIDE || h < MIN_BOX_SIDE {
        return bad(format!("box is {}×{} px: width and height must be at least {MIN_BOX_SIDE} px", num(w), num(h)));
    }
    if w > fw || h > fh {
        return bad(format!("box is {}×{} px, larger than the {fw}×{fh} frame", num(w), num(h)));
    }
    if x >= fw || y >= fh || x + w <= 0.0 || y + h <= 0.0 {
        return bad(format!("box at ({}, {}) size {}×{} lies outside the {fw}×{fh} frame", num(x), num(y), num(w), num(h)));
    }
    let (x0, y0) = (x.max(0.0), y.max(0.0));
    let (x1, y1) = ((x + w).min(fw), (y + h).min(fh));
    if x1 - x0 < MIN_BOX_SIDE || y1 - y0 < MIN_BOX_SIDE {
        return bad(format!(
            "box at ({}, {}) size {}×{} shows only {:.2}×{:.2} px inside the {fw}×{fh} frame; at least {MIN_BOX_SIDE} px each way are needed",
            num(x),
            num(y),
            num(w),
            num(h),
            x1 - x0,
            y1 - y0
        ));
    }
    Ok([x0, y0, x1 - x0, y1 - y0])
}
