//! Wall-clock stamps shared across processes: a frame's capture time travels between nodes as
//! nanoseconds since the Unix epoch.

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}
