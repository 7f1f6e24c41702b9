//! Console messages: trackflow reports through `tracing` (info for progress and notes, warn and
//! error for what went wrong), printed to stderr as bare lines, exactly as they read before they
//! had levels. `RUST_LOG` filters them as usual (`RUST_LOG=trackflow=warn` keeps warnings and
//! errors; `RUST_LOG=trackflow=debug,dora_node_api=info` shows more). trackflow's own messages
//! stay at `info` unless `RUST_LOG` names `trackflow`, so that asking for a library's logs never
//! hides trackflow's errors.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The filter when `RUST_LOG` is unset: trackflow's messages, nothing from its libraries (dora,
/// zenoh), as before there were levels.
const DEFAULT: &str = "trackflow=info";

/// Installs the console subscriber for this process (`trackflow` and every node). Calling it
/// again does nothing.
pub fn init() {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            let directives = if v.contains("trackflow") { v } else { format!("{DEFAULT},{v}") };
            EnvFilter::try_new(&directives).unwrap_or_else(|e| {
                eprintln!("warning: RUST_LOG={directives:?} is not a valid filter ({e}); using {DEFAULT}");
                EnvFilter::new(DEFAULT)
            })
        }
        _ => EnvFilter::new(DEFAULT),
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).event_format(BareLines).try_init();
}

/// Each message as its text alone, one line (or the lines it holds) per event.
struct BareLines;

impl<S, N> FormatEvent<S, N> for BareLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
