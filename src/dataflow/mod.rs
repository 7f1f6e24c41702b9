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
//! `override` and `remove`, then checks kinds, parameters (types and the ranges declared in
//! [`kinds`]), ports, types and cycles, collecting every problem; [`load_for_run`] also checks
//! that every node's program exists; [`dora`] writes the YAML dora runs.

pub mod decode;
pub mod dora;
pub mod graph;
pub mod launch;
pub mod testing;
/// The node kinds' declarations, read by the checker (declared by the kinds in `nodes/`).
pub use crate::nodes::kinds;
pub mod supervise;

use std::collections::{BTreeMap, HashMap, HashSet};
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
pub(crate) enum QueuePolicy {
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
    pub(crate) policy: Option<QueuePolicy>,
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

/// The nodes declared so far, in order, with an index by id: a dataflow of thousands of nodes
/// must not search the whole list once per statement (that made `check` quadratic).
#[derive(Debug, Default)]
struct Declared {
    /// In declaration order; `None` where a node was removed.
    list: Vec<Option<Pending>>,
    /// Position in `list` of each live node.
    index: HashMap<String, usize>,
}

impl Declared {
    fn get(&self, id: &str) -> Option<&Pending> {
        self.index.get(id).and_then(|&i| self.list[i].as_ref())
    }
    fn get_mut(&mut self, id: &str) -> Option<&mut Pending> {
        self.index.get(id).and_then(|&i| self.list[i].as_mut())
    }
    fn add(&mut self, p: Pending) {
        self.index.insert(p.id.value.clone(), self.list.len());
        self.list.push(Some(p));
    }
    fn remove(&mut self, id: &str) -> bool {
        self.index.remove(id).map(|i| self.list[i] = None).is_some()
    }
    fn ids(&self) -> impl Iterator<Item = &str> {
        self.list.iter().flatten().map(|p| p.id.value.as_str())
    }
    fn into_nodes(self) -> Vec<Pending> {
        self.list.into_iter().flatten().collect()
    }
}

/// Where node programs are looked for, when the caller wants them checked.
type Programs<'a> = Option<&'a dora::NodeProgram>;

/// Loads, resolves and checks a dataflow file. Every problem is reported at once.
pub fn load(path: &Path, overrides: &[ParamOverride]) -> Result<Dataflow, Problems> {
    load_with(path, overrides, None)
}

/// Like [`load`], and every node's program must exist too (`program` for built-in kinds, or a
/// `path=` executable): what running needs. A missing one is reported with the other
/// problems, at the `kind=` or `path=` that names it.
pub fn load_for_run(path: &Path, overrides: &[ParamOverride], program: &dora::NodeProgram) -> Result<Dataflow, Problems> {
    load_with(path, overrides, Some(program))
}

fn load_with(path: &Path, overrides: &[ParamOverride], programs: Programs) -> Result<Dataflow, Problems> {
    let mut problems = Problems::default();
    let file = match SourceFile::read(path) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            let f = Arc::new(SourceFile::from_text(path, String::new()));
            problems.push(Problem::new(&f, (0..0).into(), format!("cannot read `{}`: {e}", path.display()), "here"));
            return Err(problems);
        }
    };
    load_source(file, overrides, problems, programs)
}

/// Like [`load`], for text already in memory (tests, docs).
pub fn load_text(path: &Path, text: &str, overrides: &[ParamOverride]) -> Result<Dataflow, Problems> {
    load_source(Arc::new(SourceFile::from_text(path, text.to_string())), overrides, Problems::default(), None)
}

fn load_source(
    file: Arc<SourceFile>,
    overrides: &[ParamOverride],
    mut problems: Problems,
    programs: Programs,
) -> Result<Dataflow, Problems> {
    let mut items = Vec::new();
    decode::decode_file(file.clone(), &mut Vec::new(), &mut items, &mut problems);
    let mut declared = declare(items, &mut problems);
    for o in overrides {
        apply_cli_override(o, &mut declared, &mut problems);
    }
    let pending = declared.into_nodes();
    let nodes: Vec<Node> = pending.iter().filter_map(|p| check_node(p, programs, &mut problems)).collect();
    check_graph(&pending, &nodes, &mut problems);
    if problems.is_empty() { Ok(Dataflow { path: file.path.clone(), overridden: !overrides.is_empty(), nodes }) } else { Err(problems) }
}

/// Applies `node`, `override` and `remove` statements in order.
fn declare(items: Vec<RawItem>, problems: &mut Problems) -> Declared {
    let mut declared = Declared::default();
    for item in items {
        match item {
            RawItem::Node { id, body } => match declared.get(&id.value) {
                Some(first) => problems.push(duplicate(&id, &first.id)),
                None => declared.add(Pending { id, body }),
            },
            RawItem::Override { id, body } => match declared.get_mut(&id.value) {
                Some(p) => merge(&mut p.body, body),
                None => problems.push(unknown_node(&id, &declared, "override")),
            },
            RawItem::Remove { id } => {
                if !declared.remove(&id.value) {
                    problems.push(unknown_node(&id, &declared, "remove"));
                }
            }
        }
    }
    declared
}

fn duplicate(id: &Located<String>, first: &Located<String>) -> Problem {
    let (l, c) = first.file.line_col(first.span.offset());
    id.problem(format!("duplicate node id `{}`", id.value), "defined again here").help(format!(
        "first defined at {}:{l}:{c}; to change that node write `override \"{}\" {{ ... }}`, or pick another id",
        first.file.display, id.value
    ))
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

fn unknown_node(id: &Located<String>, declared: &Declared, what: &str) -> Problem {
    let ids: Vec<&str> = declared.ids().take(SUGGEST_AMONG + 1).collect();
    id.problem(format!("`{what}` names node `{}`, which is not defined", id.value), "no such node").help(format!(
        "{}nodes defined so far: {}",
        did_you_mean(&id.value, &ids),
        name_list(declared.ids(), declared.index.len())
    ))
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
/// and anything that is not valid KDL is taken as a plain string. The value is then checked as
/// one written in the file is (type and range), located in the `--set` text.
fn apply_cli_override(o: &ParamOverride, declared: &mut Declared, problems: &mut Problems) {
    let file = Arc::new(SourceFile::named("--set", PathBuf::from("."), o.text.clone()));
    let whole = SourceSpan::from(0..o.text.len());
    let Some((target, value)) = o.text.split_once('=') else {
        problems.push(Problem::new(&file, whole, "a parameter override is written `node.param=value`", "missing `=`"));
        return;
    };
    let Some((node, key)) = target.split_once('.') else {
        problems.push(Problem::new(&file, (0..target.len()).into(), "name the node and the parameter: `node.param`", "missing `.`"));
        return;
    };
    let Some(p) = declared.get_mut(node) else {
        problems.push(
            Problem::new(&file, (0..node.len()).into(), format!("no node `{node}` in this dataflow"), "unknown node")
                .help(format!("nodes: {}", name_list(declared.ids(), declared.index.len()))),
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

fn check_node(p: &Pending, programs: Programs, problems: &mut Problems) -> Option<Node> {
    let target = resolve_target(p, problems)?;
    if let Some(program) = programs {
        check_program(p, &target, program, problems);
    }
    let params = check_params(p, &target, problems);
    let inputs = p.body.inputs.iter().filter_map(|i| check_input(i, problems)).collect();
    let outputs = check_outputs(p, &target, problems);
    if let Target::Kind(k) = &target {
        check_required_inputs(p, k, problems);
        if let Some(a) = &p.body.args {
            // A built-in kind runs as `trackflow node <kind>`; its settings are `param`s.
            problems.push(
                a.problem(format!("node `{}`: `args` is for `path=` nodes", p.id.value), "not for a built-in kind")
                    .help(format!("set the node's parameters with `param` (see `trackflow kinds` for `{}`)", k.name)),
            );
        }
    }
    Some(Node {
        id: p.id.value.clone(),
        target,
        params,
        inputs,
        outputs,
        machine: p.body.machine.as_ref().map(|m| m.value.clone()),
        env: p.body.env.iter().map(|(k, v)| (k.value.clone(), v.value.clone())).collect(),
        args: p.body.args.as_ref().map(|a| a.value.clone()),
    })
}

/// What runs a node: its kind, or its `path=` made absolute against the file that wrote it.
fn resolve_target(p: &Pending, problems: &mut Problems) -> Option<Target> {
    match (&p.body.kind, &p.body.path) {
        (Some(kind), _) => {
            let found = NodeKind::get(&kind.value).map(Target::Kind);
            if found.is_none() {
                let names: Vec<&str> = crate::nodes::registry::kinds().map(|k| k.name).collect();
                problems.push(kind.problem(format!("unknown node kind `{}`", kind.value), "unknown kind").help(format!(
                    "{}known kinds: {}; or run your own executable with `path=\"...\"`",
                    did_you_mean(&kind.value, &names),
                    names.join(", ")
                )));
            }
            found
        }
        (None, Some(path)) => Some(Target::Path(crate::base::paths::normalize(&path.file.dir().join(&path.value)))),
        (None, None) => {
            problems.push(
                p.id.problem(format!("node `{}` has neither `kind` nor `path`", p.id.value), "what runs this node?")
                    .help("write `node \"crop\" kind=\"crop\"` or `node \"mine\" path=\"../bin/my-node\"`"),
            );
            None
        }
    }
}

/// The program that runs a node must exist. Reported with every other problem, at the `kind=`
/// or `path=` that names it, instead of alone and unlocated once everything else passed.
fn check_program(p: &Pending, target: &Target, node_program: &dora::NodeProgram, problems: &mut Problems) {
    let (program, at, label, help) = match target {
        Target::Kind(_) => (
            node_program.path().to_path_buf(),
            p.body.kind.as_ref(),
            "not built",
            "built-in kinds run as `trackflow node <kind>`: build trackflow with `scripts/setup`".to_string(),
        ),
        Target::Path(path) => (
            path.clone(),
            p.body.path.as_ref(),
            "no such file",
            format!("`path` is relative to the file that sets it ({})", p.body.path.as_ref().map_or(&p.id, |l| l).file.dir().display()),
        ),
    };
    if program.is_file() {
        return;
    }
    let message = format!("node `{}`: its program {} does not exist", p.id.value, program.display());
    problems.push(at.unwrap_or(&p.id).problem(message, label).help(help));
}

/// Output ids: a kind's own, plus those declared (which must exist on a kind and name a type).
fn check_outputs(p: &Pending, target: &Target, problems: &mut Problems) -> Vec<String> {
    let mut outputs: Vec<String> = match target {
        Target::Kind(k) => k.outputs.iter().map(|o| o.name.to_string()).collect(),
        Target::Path(_) => Vec::new(),
    };
    for o in &p.body.outputs {
        if let Target::Kind(k) = target
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
    outputs
}

fn check_required_inputs(p: &Pending, k: &NodeKind, problems: &mut Problems) {
    for req in k.inputs.iter().filter(|i| i.required) {
        if !p.body.inputs.iter().any(|i| i.id.value == req.name) {
            problems.push(
                p.id.problem(format!("node `{}` ({}) needs input `{}`", p.id.value, k.name, req.name), "input not connected")
                    .help(format!("add `input \"{}\" from=\"<node>/<output>\"` (a {} message)", req.name, req.ty)),
            );
        }
    }
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
            problems.push(
                key.problem(format!("kind `{}` has no parameter `{}`", kind.name, key.value), "unknown parameter").help(format!(
                    "{}parameters of `{}`: {}",
                    did_you_mean(&key.value, &names),
                    kind.name,
                    names.join(", ")
                )),
            );
            continue;
        };
        match typed_value(spec.ty, value) {
            Ok(v) => {
                out.insert(key.value.clone(), v);
            }
            Err(e) => problems.push(bad_value(kind, spec, value, e)),
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
                match typed_value(spec.ty, &located) {
                    Ok(v) => {
                        out.insert(spec.name.to_string(), v);
                    }
                    // A declaration bug, not the user's: said out loud rather than dropped.
                    Err(e) => problems.push(bad_value(kind, spec, &located, e).help(format!("the built-in default {default} is invalid"))),
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

/// Why a parameter value was refused.
enum Invalid {
    /// Not of the parameter's type; the label says what it is instead.
    Type(&'static str),
    /// Of the right type, outside the declared range.
    Range {
        /// The value as written.
        value: String,
        /// The declared range.
        range: String,
    },
}

fn bad_value(kind: &NodeKind, spec: &kinds::ParamSpec, value: &Located<KdlValue>, e: Invalid) -> Problem {
    let problem = match e {
        Invalid::Type(label) => value.problem(format!("parameter `{}` of `{}` must be {}", spec.name, kind.name, spec.ty), label),
        Invalid::Range { value: shown, range } => value
            .problem(format!("parameter `{}` of `{}` = {shown} is out of range {range}", spec.name, kind.name), format!("not in {range}")),
    };
    problem.help(format!("`{}`: {}", spec.name, spec.doc))
}

/// Checks one parameter value against its type and range; paths become absolute, presets
/// become files.
fn typed_value(ty: ParamType, v: &Located<KdlValue>) -> Result<serde_json::Value, Invalid> {
    use serde_json::Value as J;
    let within = |ok: bool, shown: String, range: &dyn std::fmt::Display| -> Result<(), Invalid> {
        if ok { Ok(()) } else { Err(Invalid::Range { value: shown, range: range.to_string() }) }
    };
    match (ty, &v.value) {
        (ParamType::Int(r), KdlValue::Integer(i)) => {
            let n = i64::try_from(*i).ok().filter(|n| r.contains(*n));
            within(n.is_some(), i.to_string(), &r)?;
            Ok(J::from(n.unwrap_or_default()))
        }
        (ParamType::Float(r), KdlValue::Integer(i)) => within(r.contains(*i as f64), i.to_string(), &r).map(|()| J::from(*i as f64)),
        (ParamType::Float(r), KdlValue::Float(f)) => within(r.contains(*f), f.to_string(), &r).map(|()| J::from(*f)),
        (ty, value) => typed_text(ty, v, value).map_err(Invalid::Type),
    }
}

/// Where an output path (`ParamType::Output`) written as `path` (relative to its KDL file)
/// points: the path itself, or, for trackflow's own copy of a dataflow, the same place under the
/// working folder (`<data folder>/results/track` becomes `./results/track`, where a checkout would
/// have it).
fn output_path(path: &Path) -> PathBuf {
    let path = crate::base::paths::normalize(path);
    match (path.strip_prefix(crate::base::resources::root()), std::env::current_dir()) {
        (Ok(rel), Ok(cwd)) => cwd.join(rel),
        _ => path,
    }
}

/// The non-numeric part of [`typed_value`]: strings, paths, presets, booleans, choices.
fn typed_text(ty: ParamType, v: &Located<KdlValue>, value: &KdlValue) -> Result<serde_json::Value, &'static str> {
    use serde_json::Value as J;
    match (ty, value) {
        (ParamType::Str, KdlValue::String(s)) => Ok(J::String(s.clone())),
        (ParamType::Path, KdlValue::String(s)) if s.is_empty() => Ok(J::String(String::new())),
        (ParamType::Path, KdlValue::String(s)) => Ok(J::String(crate::base::paths::normalize(&v.file.dir().join(s)).display().to_string())),
        (ParamType::Output, KdlValue::String(s)) if s.is_empty() => Ok(J::String(String::new())),
        (ParamType::Output, KdlValue::String(s)) => Ok(J::String(output_path(&v.file.dir().join(s)).display().to_string())),
        (ParamType::Url, KdlValue::String(s)) if s.contains("://") || s.starts_with('/') || s.is_empty() => Ok(J::String(s.clone())),
        (ParamType::Url, KdlValue::String(s)) => Ok(J::String(crate::base::paths::normalize(&v.file.dir().join(s)).display().to_string())),
        (ParamType::Config, KdlValue::String(s)) => resolve_config(s, v.file.dir()).map(J::String).map_err(|e| match e {
            crate::base::presets::PresetError::NoSuchFile => "no such config file",
            crate::base::presets::PresetError::NoSuchPreset => "no preset with this name (see configs/)",
        }),
        (ParamType::Bool, KdlValue::Bool(b)) => Ok(J::Bool(*b)),
        (ParamType::Choice(choices), KdlValue::String(s)) if choices.contains(&s.as_str()) => Ok(J::String(s.clone())),
        (ParamType::Choice(_), KdlValue::String(_)) => Err("not one of the choices"),
        (ParamType::Bool, KdlValue::String(s)) if s == "true" || s == "false" => Err("write #true or #false, without quotes"),
        (ParamType::Config, _) => Err("expected a string"),
        (ParamType::Int(_), KdlValue::Float(_)) => Err("expected an integer"),
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

/// A node of the graph check: its declaration (spans) and its checked form.
type Entry<'a> = (&'a Pending, &'a Node);

/// Edges between nodes, with their message types, and loops not marked `feedback`.
fn check_graph(pending: &[Pending], nodes: &[Node], problems: &mut Problems) {
    let checked: HashMap<&str, &Node> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let declared: HashSet<&str> = pending.iter().map(|p| p.id.value.as_str()).collect();
    let by_id: HashMap<&str, Entry<'_>> =
        pending.iter().filter_map(|p| checked.get(p.id.value.as_str()).map(|n| (p.id.value.as_str(), (p, *n)))).collect();
    let mut ids: Vec<&str> = by_id.keys().copied().collect();
    ids.sort();
    // The help line for an unknown source names the nodes; built once, not once per problem.
    let listing = name_list(ids.iter().copied(), ids.len());
    // Non-feedback edges, for the cycle check: node -> the nodes it reads from, with the input entry.
    let mut edges: HashMap<&str, Vec<(&str, &RawInput)>> = HashMap::new();
    for (p, node) in by_id.values() {
        for raw in &p.body.inputs {
            let Some(src) = check_edge(raw, node, &by_id, problems, |src| {
                // A node that is defined but failed its own checks (an unknown kind) is already
                // reported; the edges from it are not errors of their own.
                (!declared.contains(src)).then(|| format!("{}nodes: {listing}", did_you_mean(src, &ids)))
            }) else {
                continue;
            };
            if !raw.feedback {
                edges.entry(node.id.as_str()).or_default().push((src, raw));
            }
        }
    }
    find_cycles(&ids, &edges, problems);
}

/// Checks one input's edge: the input exists, its source node and output exist, and their
/// message types agree. Returns the source node's id when the edge is between two nodes.
/// `unknown_source` gives the help line for a source that is not a node (`None`: say nothing).
fn check_edge<'a>(
    raw: &'a RawInput,
    node: &Node,
    by_id: &HashMap<&str, Entry<'_>>,
    problems: &mut Problems,
    unknown_source: impl Fn(&str) -> Option<String>,
) -> Option<&'a str> {
    if let Target::Kind(k) = &node.target
        && k.input(&raw.id.value).is_none()
    {
        problems.push(
            raw.id
                .problem(format!("kind `{}` has no input `{}`", k.name, raw.id.value), "unknown input")
                .help(format!("its inputs: {}", k.inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", "))),
        );
        return None;
    }
    let (src, out) = raw.from.value.split_once('/')?;
    if src == "dora" {
        return None;
    }
    let Some((sp, sn)) = by_id.get(src) else {
        if let Some(help) = unknown_source(src) {
            problems.push(
                raw.from
                    .problem(format!("input `{}` reads from node `{src}`, which is not in this dataflow", raw.id.value), "no such node")
                    .help(help),
            );
        }
        return None;
    };
    if !sn.outputs.iter().any(|o| o == out) {
        problems.push(
            raw.from
                .problem(format!("node `{src}` has no output `{out}`"), "no such output")
                .help(format!("outputs of `{src}`: {}", if sn.outputs.is_empty() { "none".into() } else { sn.outputs.join(", ") })),
        );
        return None;
    }
    if let (Some(want), Some(got)) = (input_type(raw, node), output_type(sp, sn, out))
        && want != got
    {
        problems.push(
            raw.from
                .problem(
                    format!("input `{}` of `{}` takes {want} messages, but `{src}/{out}` sends {got} messages", raw.id.value, node.id),
                    "message types disagree",
                )
                .help(format!("connect an output that sends {want} messages")),
        );
    }
    Some(src)
}

/// Cycles not marked as feedback: a depth-first search over the non-feedback edges, from each
/// node in id order. It keeps its own stack rather than recursing, so a chain of thousands of
/// nodes cannot overflow the thread's stack. Each edge that closes a loop is reported once.
fn find_cycles<'a>(ids: &[&'a str], edges: &HashMap<&'a str, Vec<(&'a str, &'a RawInput)>>, problems: &mut Problems) {
    // Position on the current path while a node is being explored; `None` once it is done.
    let mut state: HashMap<&str, Option<usize>> = HashMap::new();
    for &start in ids {
        if state.contains_key(start) {
            continue;
        }
        // The current path: each node with the index of its next edge to follow.
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        state.insert(start, Some(0));
        while let Some(&(node, next)) = path.last() {
            let Some(&(src, raw)) = edges.get(node).and_then(|e| e.get(next)) else {
                state.insert(node, None);
                path.pop();
                continue;
            };
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            match state.get(src) {
                Some(None) => {}
                Some(Some(at)) => {
                    // Edges point from reader to source; show the loop in data-flow order.
                    let mut cycle: Vec<&str> = path[*at..].iter().map(|(n, _)| *n).collect();
                    cycle.push(src);
                    cycle.reverse();
                    problems.push(
                        raw.from
                            .problem(format!("cycle in the dataflow: {}", cycle.join(" → ")), "this edge closes a loop")
                            .help("if the loop is intended (a box fed back to the source), mark the edge `feedback=#true`"),
                    );
                }
                None => {
                    state.insert(src, Some(path.len()));
                    path.push((src, 0));
                }
            }
        }
    }
}

/// Above this many names a "did you mean" is not attempted: each guess costs a pass over every
/// name, and one per problem in a dataflow of thousands of nodes made `check` quadratic.
const SUGGEST_AMONG: usize = 256;

/// `did you mean `x`? ` when a name within edit distance 2 exists, else nothing.
fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    suggest(word, candidates).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default()
}

/// The closest name within edit distance 2, for "did you mean" hints.
fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if candidates.len() > SUGGEST_AMONG {
        return None;
    }
    candidates.iter().map(|c| (levenshtein(word, c), *c)).filter(|(d, _)| *d <= 2).min().map(|(_, c)| c)
}

/// Names for a help line: all of them when few, else the first ones and how many there are
/// (`count`), so a help line stays short however large the dataflow.
fn name_list<'a>(names: impl Iterator<Item = &'a str>, count: usize) -> String {
    const SHOWN: usize = 12;
    let shown: Vec<&str> = names.take(SHOWN).collect();
    if count > SHOWN { format!("{}, … ({count} in all)", shown.join(", ")) } else { shown.join(", ") }
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
