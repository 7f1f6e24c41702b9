//! Reading KDL safely: a depth check before the parser (which recurses once per level and would
//! overflow its stack on a hostile file), shared by dataflows, configs and dataset lists.

use std::sync::Arc;

use kdl::{KdlDocument, KdlValue};
use miette::SourceSpan;

use crate::base::diagnostic::{Problem, SourceFile};

/// The deepest `{ … }` nesting a KDL file may have. The kdl parser recurses once per level, so a
/// file nested a few thousand levels deep would overflow its stack and abort the process; no
/// dataflow or config needs more than a handful.
pub(crate) const MAX_KDL_DEPTH: usize = 64;

/// The byte offset of the first `{` that opens a block deeper than [`MAX_KDL_DEPTH`], if any.
/// Braces inside strings (`"…"`, raw `#"…"#`) and comments (`// …`, nested `/* … */`) do not count.
pub fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let (mut i, mut depth) = (0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut level = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        level += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        level -= 1;
                        i += 2;
                        if level == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'#' if matches!(b.get(i + 1), Some(b'#') | Some(b'"')) => {
                // A raw string: #…#"…"#…#, closed by a quote and the same number of hashes.
                let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
                i += hashes;
                if b.get(i) == Some(&b'"') {
                    i += 1;
                    let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                    while i < b.len() && !b[i..].starts_with(&close) {
                        i += 1;
                    }
                    i += close.len();
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                depth += 1;
                if depth > MAX_KDL_DEPTH {
                    return Some(i);
                }
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The message for a file nested deeper than [`MAX_KDL_DEPTH`].
fn too_deep_message() -> String {
    format!("blocks nested more than {MAX_KDL_DEPTH} levels deep")
}

/// A located problem when `file` is nested deeper than [`MAX_KDL_DEPTH`]: checked before the
/// parser runs, by every reader that reports [`Problems`](crate::base::diagnostic::Problems) (dataflows, configs).
pub(crate) fn nesting_problem(file: &Arc<SourceFile>) -> Option<Problem> {
    too_deep(&file.text).map(|at| {
        Problem::new(file, SourceSpan::from(at..at + 1), too_deep_message(), "too deep")
            .help("a dataflow or config needs two levels (node { param … }); this file is probably not one")
    })
}

/// Parses KDL after checking its nesting depth, so that no input can overflow the parser's stack.
pub(crate) fn parse_kdl(text: &str) -> Result<KdlDocument, (SourceSpan, String)> {
    if let Some(at) = too_deep(text) {
        return Err((SourceSpan::from(at..at + 1), too_deep_message()));
    }
    KdlDocument::parse_v2(text).map_err(|e| {
        let d = e.diagnostics.first();
        (d.map_or(SourceSpan::from(0..0), |d| d.span), d.and_then(|d| d.message.clone()).unwrap_or_else(|| "syntax error".into()))
    })
}

/// A KDL value as plain text (strings without quotes), for environment variables.
pub(crate) fn kdl_value_text(v: &KdlValue) -> String {
    match v {
        KdlValue::String(s) => s.clone(),
        KdlValue::Integer(i) => i.to_string(),
        KdlValue::Float(f) => f.to_string(),
        KdlValue::Bool(b) => b.to_string(),
        KdlValue::Null => String::new(),
    }
}
