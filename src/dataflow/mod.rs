//! The KDL dataflow language: decode (with includes and overrides), validate against the node
//! kinds before anything starts, and translate to dora's descriptor.
//!
//! ```kdl
//! node "source" kind="source" {
//!     param path="../demo/sequence"
//!     input "box" from="head/box" feedback=#true
//! }
//! ```
//!
//! Stages: [`decode`] turns text into raw items keeping every span; [`load`] applies includes,
//! `override` and `remove`, then checks kinds, parameters, ports, types and cycles, collecting
//! every problem; [`dora`] writes the YAML dora runs.

pub mod decode;
pub mod dora;
pub mod graph;
pub mod kinds;
pub mod launch;
pub mod supervise;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdl::KdlValue;

use crate::base::diagnostic::{Problem, Problems, SourceFile};
use crate::base::presets::resolve_config;
use decode::{Located, RawBody, RawInput, RawItem, RawOutput};
use kinds::{MessageType, NodeKind, ParamType};

/// What runs a node: a built-in kind or any executable.
#[derive(Debug, Clone)]
pub enum Target {
    /// A built-in node role.
    Kind(&'static NodeKind),
    /// An executable given by path (absolute after resolution).
    Path(PathBuf),
}

/// Where an input's messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// Another node's output.
    Node { node: String, output: String },
    /// A dora built-in source such as `dora/timer/millis/100`.
    Dora(String),
}

/// dora's queue policy for an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Keep the newest messages (live sources).
    DropOldest,
    /// Never drop below a hard cap (offline processing).
    Backpressure,
}

/// A validated input.
#[derive(Debug, Clone)]
pub struct Input {
    /// Port id on this node.
    pub id: String,
    /// Where it comes from.
    pub source: InputSource,
    /// Queue length, if set.
    pub queue: Option<usize>,
    /// Queue policy, if set.
    pub policy: Option<QueuePolicy>,
    /// Whether this edge closes a loop on purpose.
    pub feedback: bool,
    /// dora's stall deadline in seconds, if set.
    pub timeout: Option<f64>,
}

/// A validated node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique id.
    pub id: String,
    /// What runs it.
    pub target: Target,
    /// Parameters after type checks, with defaults filled in and paths made absolute.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Inputs.
    pub inputs: Vec<Input>,
    /// Output ids.
    pub outputs: Vec<String>,
    /// Machine this node is deployed on (dora `deploy.machine`).
    pub machine: Option<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Command-line arguments (path nodes).
    pub args: Option<String>,
}

/// A dataflow that passed every check.
#[derive(Debug, Clone)]
pub struct Dataflow {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Whether command-line overrides changed it (its YAML then gets a name of its own, so
    /// concurrent runs of one file with different parameters never share a descriptor).
    pub overridden: bool,
    /// Nodes in the order they were declared.
    pub nodes: Vec<Node>,
}

impl Dataflow {
    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// A parameter override from the command line: `--set node.param=value`.
#[derive(Debug, Clone)]
pub struct ParamOverride {
    /// The text the user typed, kept to point errors at it.
    pub text: String,
}

/// A node being assembled from `node` and `override` statements, with spans for checking.
#[derive(Debug, Clone)]
struct Pending {
    id: Located<String>,
    body: RawBody,
}

/// Loads, resolves and checks a dataflow file. Every problem is reported at once.
pub fn load(path: &Path, overrides: &[ParamOverride]) -> Result<Dataflow, Problems> {
    let mut problems = Problems::default();
    let file = match SourceFile::read(path) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            let f = Arc::new(SourceFile::from_text(path, String::new()));
            problems.push(Problem::new(&f, (0..0).into(), format!("cannot read `{}`: {e}", path.display()), "here"));
            return Err(problems);
        }
    };
    load_source(file, overrides, problems)
}

/// Like [`load`], for text already in memory (tests, docs).
pub fn load_text(path: &Path, text: &str, overrides: &[ParamOverride]) -> Result<Dataflow, Problems> {
    load_source(Arc::new(SourceFile::from_text(path, text.to_string())), overrides, Problems::default())
}

fn load_source(file: Arc<SourceFile>, overrides: &[ParamOverride], mut problems: Problems) -> Result<Dataflow, Problems> {
    let mut items = Vec::new();
    decode::decode_file(file.clone(), &mut Vec::new(), &mut items, &mut problems);
    let mut pending: Vec<Pending> = Vec::new();
    for item in items {
        match item {
            RawItem::Node { id, body } => {
                if let Some(first) = pending.iter().find(|p| p.id.value == id.value) {
                    let (l, c) = first.id.file.line_col(first.id.span.offset());
                    problems.push(id.problem(format!("duplicate node id `{}`", id.value), "defined again here").help(format!(
                        "first defined at {}:{l}:{c}; to change that node write `override \"{}\" {{ ... }}`, or pick another id",
                        first.id.file.display, id.value
                    )));
                } else {
                    pending.push(Pending { id, body });
                }
            }
            RawItem::Override { id, body } => match pending.iter_mut().find(|p| p.id.value == id.value) {
                Some(p) => merge(&mut p.body, body),
                None => problems.push(unknown_node(&id, &pending, "override")),
            },
            RawItem::Remove { id } => match pending.iter().position(|p| p.id.value == id.value) {
                Some(i) => {
                    pending.remove(i);
                }
                None => problems.push(unknown_node(&id, &pending, "remove")),
            },
        }
    }
    for o in overrides {
        apply_cli_override(o, &mut pending, &mut problems);
    }
    let nodes: Vec<Node> = pending.iter().filter_map(|p| check_node(p, &mut problems)).collect();
    check_graph(&pending, &nodes, &mut problems);
    if problems.is_empty() { Ok(Dataflow { path: file.path.clone(), overridden: !overrides.is_empty(), nodes }) } else { Err(problems) }
}

/// The parameters a node of the built-in `kind` gets from `params` (what follows `param` in a
/// dataflow, e.g. `out="/tmp/r" stamps=#true`), every default filled in and every value checked
/// as `trackflow check` does: how a node runs outside a dataflow (the nodes' testing harness).
/// Relative paths resolve against the working directory.
pub fn node_params(kind: &str, params: &str) -> Result<BTreeMap<String, serde_json::Value>, Problems> {
    let line = if params.trim().is_empty() { String::new() } else { format!("    param {params}\n") };
    let file = Arc::new(SourceFile::from_text(Path::new("node-params.kdl"), format!("node {kind:?} kind={kind:?} {{\n{line}}}\n")));
    let mut problems = Problems::default();
    let mut items = Vec::new();
    decode::decode_file(file.clone(), &mut Vec::new(), &mut items, &mut problems);
    let Some(RawItem::Node { id, body }) = items.into_iter().next() else { return Err(problems) };
    let pending = Pending { id, body };
    let Some(k) = NodeKind::get(kind) else {
        problems.push(Problem::new(&file, (6..6 + kind.len() + 2).into(), format!("unknown node kind `{kind}`"), "unknown kind"));
        return Err(problems);
    };
    let out = check_params(&pending, &Target::Kind(k), &mut problems);
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

fn unknown_node(id: &Located<String>, pending: &[Pending], what: &str) -> Problem {
    let known: Vec<&str> = pending.iter().map(|p| p.id.value.as_str()).collect();
    id.problem(format!("`{what}` names node `{}`, which is not defined", id.value), "no such node")
        .help(format!("nodes defined so far: {}", known.join(", ")))
}

/// Later statements win: properties replace, params replace by name, inputs and outputs by id.
fn merge(base: &mut RawBody, over: RawBody) {
    if over.kind.is_some() || over.path.is_some() {
        base.kind = over.kind;
        base.path = over.path;
    }
    if over.machine.is_some() {
        base.machine = over.machine;
    }
    for (k, v) in over.params {
        base.params.retain(|(bk, _)| bk.value != k.value);
        base.params.push((k, v));
    }
    for input in over.inputs {
        base.inputs.retain(|i| i.id.value != input.id.value);
        base.inputs.push(input);
    }
    for output in over.outputs {
        base.outputs.retain(|o| o.id.value != output.id.value);
        base.outputs.push(output);
    }
    for (k, v) in over.env {
        base.env.retain(|(bk, _)| bk.value != k.value);
        base.env.push((k, v));
    }
    if over.args.is_some() {
        base.args = over.args;
    }
}

/// `--set node.param=value`: the value is read as a KDL value (`3`, `0.5`, `#false`, `"text"`),
/// and anything that is not valid KDL is taken as a plain string.
fn apply_cli_override(o: &ParamOverride, pending: &mut [Pending], problems: &mut Problems) {
    let file = Arc::new(SourceFile { display: "--set".into(), path: PathBuf::from("."), text: Arc::new(o.text.clone()) });
    let whole = SourceSpan::from(0..o.text.len());
    let Some((target, value)) = o.text.split_once('=') else {
        problems.push(Problem::new(&file, whole, "a parameter override is written `node.param=value`", "missing `=`"));
        return;
    };
    let Some((node, key)) = target.split_once('.') else {
        problems.push(Problem::new(&file, (0..target.len()).into(), "name the node and the parameter: `node.param`", "missing `.`"));
        return;
    };
    let Some(p) = pending.iter_mut().find(|p| p.id.value == node) else {
        let known: Vec<&str> = pending.iter().map(|p| p.id.value.as_str()).collect();
        problems.push(
            Problem::new(&file, (0..node.len()).into(), format!("no node `{node}` in this dataflow"), "unknown node")
                .help(format!("nodes: {}", known.join(", "))),
        );
        return;
    };
    // Numbers, `#true`/`#false` and quoted strings are KDL values; anything else is taken as a
    // raw string (so `http://host/x` is not cut at KDL's `//` comment).
    let kdl_like = value.starts_with('"') || value.starts_with('#') || value.parse::<f64>().is_ok();
    let parsed = kdl_like
        .then(|| format!("v {value}").parse::<kdl::KdlNode>().ok())
        .flatten()
        .and_then(|n| n.entries().first().filter(|e| e.name().is_none() && n.entries().len() == 1).map(|e| e.value().clone()))
        .unwrap_or_else(|| KdlValue::String(value.to_string()));
    let key_span = SourceSpan::from(node.len() + 1..target.len());
    let value_span = SourceSpan::from(target.len() + 1..o.text.len());
    p.body.params.retain(|(k, _)| k.value != key);
    p.body
        .params
        .push((Located { value: key.to_string(), file: file.clone(), span: key_span }, Located { value: parsed, file, span: value_span }));
}

use miette::SourceSpan;

fn check_node(p: &Pending, problems: &mut Problems) -> Option<Node> {
    let id = &p.id;
    let target = match (&p.body.kind, &p.body.path) {
        (Some(kind), _) => match NodeKind::get(&kind.value) {
            Some(k) => Target::Kind(k),
            None => {
                let names: Vec<&str> = kinds::KINDS.iter().map(|k| k.name).collect();
                problems.push(kind.problem(format!("unknown node kind `{}`", kind.value), "unknown kind").help(format!(
                    "{}known kinds: {}; or run your own executable with `path=\"...\"`",
                    suggest(&kind.value, &names).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default(),
                    names.join(", ")
                )));
                return None;
            }
        },
        (None, Some(path)) => Target::Path(crate::base::paths::normalize(&path.file.dir().join(&path.value))),
        (None, None) => {
            problems.push(
                id.problem(format!("node `{}` has neither `kind` nor `path`", id.value), "what runs this node?")
                    .help("write `node \"crop\" kind=\"crop\"` or `node \"mine\" path=\"../bin/my-node\"`"),
            );
            return None;
        }
    };
    let params = check_params(p, &target, problems);
    let inputs = p.body.inputs.iter().filter_map(|i| check_input(i, problems)).collect();
    let mut outputs: Vec<String> = match &target {
        Target::Kind(k) => k.outputs.iter().map(|o| o.name.to_string()).collect(),
        Target::Path(_) => Vec::new(),
    };
    for o in &p.body.outputs {
        if let Target::Kind(k) = &target
            && k.output(&o.id.value).is_none()
        {
            problems.push(
                o.id.problem(format!("kind `{}` has no output `{}`", k.name, o.id.value), "unknown output")
                    .help(format!("its outputs: {}", k.outputs.iter().map(|o| o.name).collect::<Vec<_>>().join(", "))),
            );
        }
        if let Some(ty) = &o.ty
            && MessageType::parse(&ty.value).is_none()
        {
            problems.push(unknown_type(ty));
        }
        if !outputs.contains(&o.id.value) {
            outputs.push(o.id.value.clone());
        }
    }
    if let Target::Kind(k) = &target {
        for req in k.inputs.iter().filter(|i| i.required) {
            if !p.body.inputs.iter().any(|i| i.id.value == req.name) {
                problems.push(
                    id.problem(format!("node `{}` ({}) needs input `{}`", id.value, k.name, req.name), "input not connected")
                        .help(format!("add `input \"{}\" from=\"<node>/<output>\"` (a {} message)", req.name, req.ty)),
                );
            }
        }
    }
    Some(Node {
        id: id.value.clone(),
        target,
        params,
        inputs,
        outputs,
        machine: p.body.machine.as_ref().map(|m| m.value.clone()),
        env: p.body.env.iter().map(|(k, v)| (k.value.clone(), v.value.clone())).collect(),
        args: p.body.args.as_ref().map(|a| a.value.clone()),
    })
}

fn unknown_type(ty: &Located<String>) -> Problem {
    ty.problem(format!("unknown message type `{}`", ty.value), "unknown type")
        .help(format!("message types: {}", MessageType::ALL.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")))
}

fn check_params(p: &Pending, target: &Target, problems: &mut Problems) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    let kind = match target {
        Target::Kind(k) => *k,
        Target::Path(_) => {
            // Unknown executables get their parameters unchecked, as JSON.
            for (k, v) in &p.body.params {
                out.insert(k.value.clone(), kdl_to_json(&v.value));
            }
            return out;
        }
    };
    for (key, value) in &p.body.params {
        let Some(spec) = kind.param(&key.value) else {
            let names: Vec<&str> = kind.params.iter().map(|p| p.name).collect();
            problems.push(key.problem(format!("kind `{}` has no parameter `{}`", kind.name, key.value), "unknown parameter").help(
                format!(
                    "{}parameters of `{}`: {}",
                    suggest(&key.value, &names).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default(),
                    kind.name,
                    names.join(", ")
                ),
            ));
            continue;
        };
        match typed_value(spec.ty, value) {
            Ok(v) => {
                out.insert(key.value.clone(), v);
            }
            Err(msg) => problems.push(
                value
                    .problem(format!("parameter `{}` of `{}` must be {}", key.value, kind.name, spec.ty), msg)
                    .help(format!("`{}`: {}", spec.name, spec.doc)),
            ),
        }
    }
    for spec in kind.params {
        if out.contains_key(spec.name) || p.body.params.iter().any(|(k, _)| k.value == spec.name) {
            continue;
        }
        match spec.default {
            Some(default) => {
                let v = format!("v {default}").parse::<kdl::KdlNode>().expect("built-in defaults are valid KDL");
                let located = Located { value: v.entries()[0].value().clone(), file: p.id.file.clone(), span: p.id.span };
                if let Ok(v) = typed_value(spec.ty, &located) {
                    out.insert(spec.name.to_string(), v);
                }
            }
            None => problems.push(
                p.id.problem(format!("node `{}` ({}) needs parameter `{}`", p.id.value, kind.name, spec.name), "missing parameter")
                    .help(format!("add `param {}=...`: {}", spec.name, spec.doc)),
            ),
        }
    }
    out
}

/// Checks one parameter value against its type; paths become absolute, presets become files.
fn typed_value(ty: ParamType, v: &Located<KdlValue>) -> Result<serde_json::Value, &'static str> {
    use serde_json::Value as J;
    match (ty, &v.value) {
        (ParamType::Str, KdlValue::String(s)) => Ok(J::String(s.clone())),
        (ParamType::Path, KdlValue::String(s)) if s.is_empty() => Ok(J::String(String::new())),
        (ParamType::Path, KdlValue::String(s)) => Ok(J::String(crate::base::paths::normalize(&v.file.dir().join(s)).display().to_string())),
        (ParamType::Url, KdlValue::String(s)) if s.contains("://") || s.starts_with('/') || s.is_empty() => Ok(J::String(s.clone())),
        (ParamType::Url, KdlValue::String(s)) => Ok(J::String(crate::base::paths::normalize(&v.file.dir().join(s)).display().to_string())),
        (ParamType::Config, KdlValue::String(s)) => resolve_config(s, v.file.dir()).map(J::String).map_err(|e| match e {
            crate::base::presets::PresetError::NoSuchFile => "no such config file",
            crate::base::presets::PresetError::NoSuchPreset => "no preset with this name (see configs/)",
        }),
        (ParamType::Int, KdlValue::Integer(i)) => i64::try_from(*i).map(J::from).map_err(|_| "integer out of range"),
        (ParamType::Float, KdlValue::Integer(i)) => Ok(J::from(*i as f64)),
        (ParamType::Float, KdlValue::Float(f)) => Ok(J::from(*f)),
        (ParamType::Bool, KdlValue::Bool(b)) => Ok(J::Bool(*b)),
        (ParamType::Choice(choices), KdlValue::String(s)) if choices.contains(&s.as_str()) => Ok(J::String(s.clone())),
        (ParamType::Choice(_), KdlValue::String(_)) => Err("not one of the choices"),
        (ParamType::Bool, KdlValue::String(s)) if s == "true" || s == "false" => Err("write #true or #false, without quotes"),
        (ParamType::Config, _) => Err("expected a string"),
        (ParamType::Int, KdlValue::Float(_)) => Err("expected an integer"),
        (_, KdlValue::String(_)) => Err("wrong type: a string"),
        (_, KdlValue::Integer(_)) => Err("wrong type: an integer"),
        (_, KdlValue::Float(_)) => Err("wrong type: a number"),
        (_, KdlValue::Bool(_)) => Err("wrong type: a boolean"),
        (_, KdlValue::Null) => Err("wrong type: #null"),
    }
}

fn kdl_to_json(v: &KdlValue) -> serde_json::Value {
    match v {
        KdlValue::String(s) => s.clone().into(),
        KdlValue::Integer(i) => i64::try_from(*i).map(Into::into).unwrap_or_else(|_| i.to_string().into()),
        KdlValue::Float(f) => (*f).into(),
        KdlValue::Bool(b) => (*b).into(),
        KdlValue::Null => serde_json::Value::Null,
    }
}

fn check_input(i: &RawInput, problems: &mut Problems) -> Option<Input> {
    let source = if let Some(rest) = i.from.value.strip_prefix("dora/") {
        if !(rest.starts_with("timer/") || rest.starts_with("logs")) {
            problems.push(
                i.from
                    .problem(format!("unknown dora source `{}`", i.from.value), "unknown source")
                    .help("dora sources are `dora/timer/millis/N`, `dora/timer/hz/F` and `dora/logs`"),
            );
            return None;
        }
        InputSource::Dora(i.from.value.clone())
    } else {
        match i.from.value.split_once('/') {
            Some((node, output)) if !node.is_empty() && !output.is_empty() && !output.contains('/') => {
                InputSource::Node { node: node.into(), output: output.into() }
            }
            _ => {
                problems.push(
                    i.from
                        .problem(format!("`{}` is not `node/output`", i.from.value), "expected `node/output`")
                        .help("write `from=\"source/frame\"`"),
                );
                return None;
            }
        }
    };
    let policy = match i.policy.as_ref().map(|p| p.value.as_str()) {
        None => None,
        Some("drop-oldest") => Some(QueuePolicy::DropOldest),
        Some("backpressure") => Some(QueuePolicy::Backpressure),
        Some(other) => {
            problems.push(
                i.policy
                    .as_ref()
                    .unwrap()
                    .problem(format!("unknown queue policy `{other}`"), "unknown policy")
                    .help("policies: \"drop-oldest\" (live: newest wins), \"backpressure\" (offline: never drop)"),
            );
            None
        }
    };
    if let Some(ty) = &i.ty
        && MessageType::parse(&ty.value).is_none()
    {
        problems.push(unknown_type(ty));
    }
    Some(Input {
        id: i.id.value.clone(),
        source,
        queue: i.queue.as_ref().map(|q| q.value as usize),
        policy,
        feedback: i.feedback,
        timeout: i.timeout.as_ref().map(|t| t.value),
    })
}

/// Message type of an output, when known (built-in kinds, or `type=` on a path node's output).
fn output_type(p: &Pending, node: &Node, output: &str) -> Option<MessageType> {
    match &node.target {
        Target::Kind(k) => k.output(output).map(|o| o.ty),
        Target::Path(_) => {
            let raw: &RawOutput = p.body.outputs.iter().find(|o| o.id.value == output)?;
            MessageType::parse(&raw.ty.as_ref()?.value)
        }
    }
}

fn input_type(raw: &RawInput, node: &Node) -> Option<MessageType> {
    match &node.target {
        Target::Kind(k) => k.input(&raw.id.value).map(|i| i.ty),
        Target::Path(_) => MessageType::parse(&raw.ty.as_ref()?.value),
    }
}

fn check_graph(pending: &[Pending], nodes: &[Node], problems: &mut Problems) {
    let by_id: HashMap<&str, (&Pending, &Node)> =
        pending.iter().filter_map(|p| nodes.iter().find(|n| n.id == p.id.value).map(|n| (p.id.value.as_str(), (p, n)))).collect();
    // Non-feedback edges, for the cycle check: node -> the nodes it reads from, with the input entry.
    let mut edges: HashMap<&str, Vec<(&str, &RawInput)>> = HashMap::new();
    for (p, node) in by_id.values() {
        for raw in &p.body.inputs {
            if let Target::Kind(k) = &node.target
                && k.input(&raw.id.value).is_none()
            {
                problems.push(
                    raw.id
                        .problem(format!("kind `{}` has no input `{}`", k.name, raw.id.value), "unknown input")
                        .help(format!("its inputs: {}", k.inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", "))),
                );
                continue;
            }
            let Some((src, out)) = raw.from.value.split_once('/') else { continue };
            if src == "dora" {
                continue;
            }
            let Some((sp, sn)) = by_id.get(src) else {
                // A node that is defined but failed its own checks (an unknown kind) is already
                // reported; the edges from it are not errors of their own.
                if pending.iter().any(|p| p.id.value == src) {
                    continue;
                }
                let known: Vec<&str> = by_id.keys().copied().collect();
                problems.push(
                    raw.from
                        .problem(format!("input `{}` reads from node `{src}`, which is not in this dataflow", raw.id.value), "no such node")
                        .help(format!("{}nodes: {}", suggest(src, &known).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default(), {
                            let mut k = known.clone();
                            k.sort();
                            k.join(", ")
                        })),
                );
                continue;
            };
            if !sn.outputs.iter().any(|o| o == out) {
                problems.push(
                    raw.from
                        .problem(format!("node `{src}` has no output `{out}`"), "no such output")
                        .help(format!("outputs of `{src}`: {}", if sn.outputs.is_empty() { "none".into() } else { sn.outputs.join(", ") })),
                );
                continue;
            }
            if let (Some(want), Some(got)) = (input_type(raw, node), output_type(sp, sn, out))
                && want != got
            {
                problems.push(
                    raw.from
                        .problem(
                            format!(
                                "input `{}` of `{}` takes {want} messages, but `{src}/{out}` sends {got} messages",
                                raw.id.value, node.id
                            ),
                            "message types disagree",
                        )
                        .help(format!("connect an output that sends {want} messages")),
                );
            }
            if !raw.feedback {
                edges.entry(node.id.as_str()).or_default().push((src, raw));
            }
        }
    }
    // Cycles not marked as feedback: depth-first search over the non-feedback edges.
    let mut state: HashMap<&str, u8> = HashMap::new(); // 1 = on stack, 2 = done
    let mut ids: Vec<&str> = by_id.keys().copied().collect();
    ids.sort();
    for start in ids {
        let mut path: Vec<(&str, Option<&RawInput>)> = Vec::new();
        visit(start, None, &edges, &mut state, &mut path, problems);
    }
}

fn visit<'a>(
    node: &'a str,
    via: Option<&'a RawInput>,
    edges: &HashMap<&'a str, Vec<(&'a str, &'a RawInput)>>,
    state: &mut HashMap<&'a str, u8>,
    path: &mut Vec<(&'a str, Option<&'a RawInput>)>,
    problems: &mut Problems,
) {
    match state.get(node) {
        Some(2) => return,
        Some(1) => {
            let start = path.iter().position(|(n, _)| *n == node).unwrap_or(0);
            let mut cycle: Vec<&str> = path[start..].iter().map(|(n, _)| *n).collect();
            cycle.push(node);
            cycle.reverse(); // edges point from reader to source; show data flow order
            if let Some(raw) = via {
                problems.push(
                    raw.from
                        .problem(format!("cycle in the dataflow: {}", cycle.join(" → ")), "this edge closes a loop")
                        .help("if the loop is intended (a box fed back to the source), mark the edge `feedback=#true`"),
                );
            }
            return;
        }
        _ => {}
    }
    state.insert(node, 1);
    path.push((node, via));
    for (src, raw) in edges.get(node).map(Vec::as_slice).unwrap_or_default() {
        visit(src, Some(raw), edges, state, path, problems);
    }
    path.pop();
    state.insert(node, 2);
}

/// The closest name within edit distance 2, for "did you mean" hints.
fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates.iter().map(|c| (levenshtein(word, c), *c)).filter(|(d, _)| *d <= 2).min().map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
