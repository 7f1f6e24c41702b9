//! First stage: KDL text to raw items (`node`, `override`, `remove`), with every entry's span
//! kept and includes expanded in place. Nothing here knows about node kinds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use crate::base::diagnostic::{FloatRange, IntRange, Problem, Problems, SourceFile};
use crate::base::kdl::{kdl_value_text, nesting_problem};

/// A value with the file and span it came from.
#[derive(Debug, Clone)]
pub(crate) struct Located<T> {
    /// The value.
    pub value: T,
    /// The file it was written in.
    pub file: Arc<SourceFile>,
    /// Where in that file.
    pub span: SourceSpan,
}

impl<T> Located<T> {
    /// A problem pointing at this value.
    pub(crate) fn problem(&self, message: impl Into<String>, label: impl Into<String>) -> Problem {
        Problem::new(&self.file, self.span, message, label)
    }
}

/// One input as written: `input "id" from="node/output" queue=4 policy="backpressure" feedback=#true`.
#[derive(Debug, Clone)]
pub(crate) struct RawInput {
    /// Input id (the port name on the receiving node).
    pub id: Located<String>,
    /// `from=`: `node/output` or a `dora/timer/...` source.
    pub from: Located<String>,
    /// `queue=`: queue length.
    pub queue: Option<Located<i128>>,
    /// `policy=`: `drop-oldest` or `backpressure`.
    pub(crate) policy: Option<Located<String>>,
    /// `feedback=#true`: this edge closes a loop on purpose.
    pub feedback: bool,
    /// `timeout=`: seconds after which dora marks the input stalled.
    pub timeout: Option<Located<f64>>,
    /// `type=`: declared message type (for inputs of path nodes).
    pub ty: Option<Located<String>>,
}

/// One output as written: `output "id" type="box"`.
#[derive(Debug, Clone)]
pub(crate) struct RawOutput {
    /// Output id.
    pub id: Located<String>,
    /// Declared message type, if any.
    pub ty: Option<Located<String>>,
}

/// The body shared by `node` and `override`.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawBody {
    /// `kind=`.
    pub kind: Option<Located<String>>,
    /// `path=`.
    pub path: Option<Located<String>>,
    /// `machine=`.
    pub machine: Option<Located<String>>,
    /// `param name=value ...`, in order.
    pub params: Vec<(Located<String>, Located<KdlValue>)>,
    /// `input ...`.
    pub inputs: Vec<RawInput>,
    /// `output ...`.
    pub outputs: Vec<RawOutput>,
    /// `env NAME="value"`.
    pub env: Vec<(Located<String>, Located<String>)>,
    /// `args "..."`.
    pub args: Option<Located<String>>,
}

/// A top-level statement after includes are expanded.
#[derive(Debug, Clone)]
pub(crate) enum RawItem {
    /// `node "id" ... { ... }`.
    Node { id: Located<String>, body: RawBody },
    /// `override "id" ... { ... }`.
    Override { id: Located<String>, body: RawBody },
    /// `remove "id" ...`.
    Remove { id: Located<String> },
}

/// Decodes a file and everything it includes, in order. Problems are collected, not returned
/// early, so a user sees all of them at once.
pub(crate) fn decode_file(file: Arc<SourceFile>, stack: &mut Vec<PathBuf>, items: &mut Vec<RawItem>, problems: &mut Problems) {
    if let Some(p) = nesting_problem(&file) {
        problems.push(p);
        return;
    }
    let doc = match KdlDocument::parse_v2(&file.text) {
        Ok(doc) => doc,
        Err(err) => {
            for d in &err.diagnostics {
                let mut p = Problem::new(
                    &file,
                    d.span,
                    format!("invalid KDL: {}", d.message.clone().unwrap_or_else(|| "syntax error".into())),
                    d.label.clone().unwrap_or_else(|| "here".into()),
                );
                p.help = d.help.clone();
                problems.push(p);
            }
            if err.diagnostics.is_empty() {
                problems.push(Problem::new(&file, SourceSpan::from(0..0), "invalid KDL", "here"));
            }
            return;
        }
    };
    stack.push(file.path.clone());
    for node in doc.nodes() {
        let name = node.name().value();
        match name {
            "include" => decode_include(&file, node, stack, items, problems),
            "node" | "override" => {
                let Some(id) = node_id(&file, node, problems) else { continue };
                let body = decode_body(&file, node, problems);
                items.push(if name == "node" { RawItem::Node { id, body } } else { RawItem::Override { id, body } });
            }
            "remove" => {
                let mut any = false;
                for e in node.entries() {
                    if e.name().is_some() {
                        problems.push(Problem::new(&file, e.span(), "`remove` takes node ids only", "unexpected property"));
                        continue;
                    }
                    match e.value() {
                        KdlValue::String(s) => {
                            any = true;
                            items.push(RawItem::Remove { id: Located { value: s.clone(), file: file.clone(), span: e.span() } })
                        }
                        _ => problems.push(Problem::new(&file, e.span(), "node ids are strings", "expected a string")),
                    }
                }
                if !any {
                    problems.push(
                        Problem::new(&file, node.span(), "`remove` needs at least one node id", "nothing to remove")
                            .help("write `remove \"viewer\"`"),
                    );
                }
            }
            other => problems.push(
                Problem::new(&file, node.name().span(), format!("unknown statement `{other}`"), "not a dataflow statement")
                    .help("a dataflow file holds `include`, `node`, `override` and `remove` statements"),
            ),
        }
    }
    stack.pop();
}

fn decode_include(file: &Arc<SourceFile>, node: &KdlNode, stack: &mut Vec<PathBuf>, items: &mut Vec<RawItem>, problems: &mut Problems) {
    let Some(entry) = single_string_arg(file, node, "include", problems) else { return };
    let rel = entry.value().as_string().unwrap_or_default();
    let path = file.dir().join(rel);
    let path = std::path::absolute(&path).unwrap_or(path);
    if stack.iter().any(|p| same_file(p, &path)) {
        let chain: Vec<String> =
            stack.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
        problems.push(
            Problem::new(
                file,
                entry.span(),
                format!("include cycle: {} → {rel}", chain.join(" → ")),
                "includes a file that includes this one",
            )
            .help("remove one of the includes"),
        );
        return;
    }
    match SourceFile::read(&path) {
        Ok(included) => decode_file(Arc::new(included), stack, items, problems),
        Err(e) => problems.push(
            Problem::new(file, entry.span(), format!("cannot read included file `{}`: {e}", path.display()), "missing include")
                .help("include paths are relative to the file that includes them"),
        ),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn single_string_arg<'a>(file: &Arc<SourceFile>, node: &'a KdlNode, what: &str, problems: &mut Problems) -> Option<&'a KdlEntry> {
    let args: Vec<&KdlEntry> = node.entries().iter().filter(|e| e.name().is_none()).collect();
    match args.as_slice() {
        [e] if e.value().is_string() => Some(*e),
        [e] => {
            problems.push(Problem::new(file, e.span(), format!("`{what}` takes a string"), "expected a string"));
            None
        }
        [] => {
            problems.push(
                Problem::new(file, node.span(), format!("`{what}` needs a name"), "missing name")
                    .help(format!("write `{what} \"name\" ...`")),
            );
            None
        }
        [_, second, ..] => {
            problems.push(Problem::new(file, second.span(), format!("`{what}` takes one name"), "unexpected argument"));
            None
        }
    }
}

fn node_id(file: &Arc<SourceFile>, node: &KdlNode, problems: &mut Problems) -> Option<Located<String>> {
    let what = node.name().value().to_string();
    let entry = single_string_arg(file, node, &what, problems)?;
    let id = entry.value().as_string().unwrap_or_default().to_string();
    if id.is_empty() || id.contains('/') || id.chars().any(char::is_whitespace) {
        problems.push(
            Problem::new(file, entry.span(), format!("invalid node id `{id}`"), "invalid id")
                .help("node ids are non-empty and contain no `/` or spaces"),
        );
        return None;
    }
    Some(Located { value: id, file: file.clone(), span: entry.span() })
}

fn string_prop(file: &Arc<SourceFile>, e: &KdlEntry, problems: &mut Problems) -> Option<Located<String>> {
    match e.value() {
        KdlValue::String(s) => Some(Located { value: s.clone(), file: file.clone(), span: e.span() }),
        _ => {
            let key = e.name().map(|n| n.value().to_string()).unwrap_or_default();
            problems.push(Problem::new(file, e.span(), format!("`{key}` takes a string"), "expected a string"));
            None
        }
    }
}

fn decode_body(file: &Arc<SourceFile>, node: &KdlNode, problems: &mut Problems) -> RawBody {
    let mut body = RawBody::default();
    for e in node.entries() {
        let Some(key) = e.name() else { continue }; // the id, checked by node_id
        let slot = match key.value() {
            "kind" => &mut body.kind,
            "path" => &mut body.path,
            "machine" => &mut body.machine,
            other => {
                problems.push(
                    Problem::new(file, e.span(), format!("unknown node property `{other}`"), "unknown property")
                        .help("node properties are `kind`, `path` and `machine`; parameters go in a `param` child"),
                );
                continue;
            }
        };
        *slot = string_prop(file, e, problems);
    }
    if let (Some(k), Some(_)) = (&body.kind, &body.path) {
        problems.push(k.problem("a node has either `kind` or `path`, not both", "choose one"));
    }
    let Some(children) = node.children() else { return body };
    for child in children.nodes() {
        match child.name().value() {
            "param" => {
                for e in child.entries() {
                    match e.name() {
                        Some(n) => body.params.push((
                            Located { value: n.value().to_string(), file: file.clone(), span: n.span() },
                            Located { value: e.value().clone(), file: file.clone(), span: e.span() },
                        )),
                        None => problems.push(
                            Problem::new(file, e.span(), "parameters are written `name=value`", "missing name")
                                .help("write `param threshold=0.5`"),
                        ),
                    }
                }
            }
            "input" => {
                if let Some(input) = decode_input(file, child, problems) {
                    body.inputs.push(input);
                }
            }
            "output" => {
                let Some(id) = node_id(file, child, problems) else { continue };
                let mut ty = None;
                for e in child.entries().iter().filter(|e| e.name().is_some()) {
                    match e.name().map(|n| n.value()) {
                        Some("type") => ty = string_prop(file, e, problems),
                        Some(other) => problems.push(Problem::new(
                            file,
                            e.span(),
                            format!("unknown output property `{other}`"),
                            "outputs take only `type`",
                        )),
                        None => {}
                    }
                }
                body.outputs.push(RawOutput { id, ty });
            }
            "env" => {
                for e in child.entries() {
                    match (e.name(), e.value()) {
                        (Some(n), v) if !v.is_null() => body.env.push((
                            Located { value: n.value().to_string(), file: file.clone(), span: n.span() },
                            Located { value: kdl_value_text(v), file: file.clone(), span: e.span() },
                        )),
                        _ => problems.push(Problem::new(file, e.span(), "environment entries are written `NAME=\"value\"`", "here")),
                    }
                }
            }
            "args" => {
                if let Some(e) = single_string_arg(file, child, "args", problems) {
                    body.args = string_prop(file, e, problems);
                }
            }
            other => problems.push(
                Problem::new(file, child.name().span(), format!("unknown node child `{other}`"), "not a node child")
                    .help("a node holds `param`, `input`, `output`, `env` and `args` children"),
            ),
        }
    }
    body
}

/// Queue lengths dora is asked for: it allocates them, and a typo of a few more digits would
/// take the machine's memory.
const QUEUE: IntRange = IntRange::new(1, 100_000);
/// Input stall deadlines, in seconds: positive, and finite so dora can hold them.
const TIMEOUT: FloatRange = FloatRange::above(0.0, 1e9);

fn decode_input(file: &Arc<SourceFile>, child: &KdlNode, problems: &mut Problems) -> Option<RawInput> {
    let id = node_id(file, child, problems)?;
    let (mut from, mut queue, mut policy, mut feedback, mut timeout, mut ty) = (None, None, None, false, None, None);
    for e in child.entries().iter().filter(|e| e.name().is_some()) {
        let key = e.name().map(|n| n.value()).unwrap_or_default();
        let here = |value| Located { value, file: file.clone(), span: e.span() };
        match (key, e.value()) {
            ("from", _) => from = string_prop(file, e, problems),
            ("policy", _) => policy = string_prop(file, e, problems),
            ("type", _) => ty = string_prop(file, e, problems),
            ("queue", KdlValue::Integer(n)) if i64::try_from(*n).is_ok_and(|n| QUEUE.contains(n)) => queue = Some(here(*n)),
            ("queue", _) => problems.push(Problem::new(
                file,
                e.span(),
                format!("`queue` is a whole number of messages in {QUEUE}"),
                format!("expected an integer in {QUEUE}"),
            )),
            ("feedback", KdlValue::Bool(b)) => feedback = *b,
            ("feedback", _) => problems.push(Problem::new(file, e.span(), "`feedback` is #true or #false", "expected a boolean")),
            ("timeout", KdlValue::Integer(n)) if TIMEOUT.contains(*n as f64) => {
                timeout = Some(Located { value: *n as f64, file: file.clone(), span: e.span() })
            }
            ("timeout", KdlValue::Float(x)) if TIMEOUT.contains(*x) => {
                timeout = Some(Located { value: *x, file: file.clone(), span: e.span() })
            }
            ("timeout", _) => problems.push(Problem::new(
                file,
                e.span(),
                format!("`timeout` is a positive number of seconds in {TIMEOUT}"),
                "expected seconds",
            )),
            (other, _) => problems.push(
                Problem::new(file, e.span(), format!("unknown input property `{other}`"), "unknown property")
                    .help("inputs take `from`, `queue`, `policy`, `feedback`, `timeout` and `type`"),
            ),
        }
    }
    match from {
        Some(from) => Some(RawInput { id, from, queue, policy, feedback, timeout, ty }),
        None => {
            problems.push(
                Problem::new(file, child.span(), format!("input `{}` says nowhere where it comes from", id.value), "missing `from`")
                    .help("write `input \"frame\" from=\"source/frame\"`"),
            );
            None
        }
    }
}
