//! Drawing a dataflow: Graphviz DOT, rendered to SVG or PNG by `dot` (installed by setup).

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::dataflow::{Dataflow, InputSource, Target};

/// The dataflow as DOT: one box per node (id, kind, machine), one arrow per input labelled
/// `output → input`, feedback edges dashed.
pub(crate) fn to_dot(flow: &Dataflow) -> String {
    let name = flow.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{name}\" {{");
    let _ = writeln!(
        s,
        "  rankdir=LR; node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\"]; edge [fontname=\"Helvetica\", fontsize=10];"
    );
    for n in &flow.nodes {
        let what = match &n.target {
            Target::Kind(k) => k.name.to_string(),
            Target::Path(p) => p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        let machine = n.machine.as_ref().map(|m| format!("\\n@{m}")).unwrap_or_default();
        let _ = writeln!(s, "  \"{}\" [label=\"{}\\n({what}){machine}\"];", n.id, n.id);
    }
    for n in &flow.nodes {
        for i in &n.inputs {
            match &i.source {
                InputSource::Node { node, output } => {
                    let style = if i.feedback { ", style=dashed, constraint=false" } else { "" };
                    let label = if *output == i.id { output.clone() } else { format!("{output} → {}", i.id) };
                    let _ = writeln!(s, "  \"{node}\" -> \"{}\" [label=\"{label}\"{style}];", n.id);
                }
                InputSource::Dora(src) => {
                    let _ = writeln!(s, "  \"{src}\" [shape=plaintext, style=\"\"];\n  \"{src}\" -> \"{}\" [label=\"{}\"];", n.id, i.id);
                }
            }
        }
    }
    s.push_str("}\n");
    s
}

/// Writes the drawing; the format follows the extension (`.svg`, `.png`, `.dot`).
pub fn render(flow: &Dataflow, out: &Path) -> Result<()> {
    let dot = to_dot(flow);
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("svg");
    if ext == "dot" {
        return crate::base::fs::write_atomic(out, dot.as_bytes());
    }
    if !matches!(ext, "svg" | "png") {
        bail!("cannot draw to `.{ext}`: use .svg, .png or .dot");
    }
    let mut child = Command::new("dot")
        .arg(format!("-T{ext}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run Graphviz `dot`: install graphviz (scripts/setup does), or write a .dot file")?;
    use std::io::Write as _;
    child.stdin.take().context("no stdin")?.write_all(dot.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("Graphviz `dot` failed on the generated graph");
    }
    crate::base::fs::write_atomic(out, &output.stdout)
}
