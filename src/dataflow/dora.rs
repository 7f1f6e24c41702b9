//! Translation of a checked [`Dataflow`] to dora's own descriptor type
//! (`dora_message::descriptor::Descriptor`), serialised to YAML. The YAML is a build artifact
//! under trackflow's cache (`~/.cache/trackflow/dataflows/`), regenerated on every run and never edited by hand.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dora_message::descriptor::Descriptor;
use serde_json::{Map, Value, json};

use super::{Dataflow, InputSource, QueuePolicy, Target};

pub use crate::nodes::{INPUTS_ENV, NODE_ID_ENV, PARAMS_ENV};

/// The program that runs every built-in node kind: the `trackflow` executable, started by dora
/// as `trackflow node <kind>`.
#[derive(Debug, Clone)]
pub struct NodeProgram(pub PathBuf);

impl NodeProgram {
    /// The running executable: whichever `trackflow` built the dataflow also runs its nodes, so
    /// an installed copy needs nothing from the build tree.
    pub(crate) fn current() -> Result<Self> {
        Ok(Self(std::env::current_exe().context("cannot locate the running trackflow binary")?))
    }
    /// The executable's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// dora's `args` for a node of `kind`.
    pub fn args(kind: &str) -> String {
        format!("node {kind}")
    }
}

/// Builds dora's descriptor. Edges between trackflow nodes default to `backpressure` so offline
/// runs never lose a frame; `policy="drop-oldest"` opts into newest-wins (live cameras).
pub fn descriptor(flow: &Dataflow, program: &NodeProgram) -> Result<Descriptor> {
    let mut nodes = Vec::new();
    for node in &flow.nodes {
        let (path, args) = match &node.target {
            Target::Kind(k) => (program.path().to_path_buf(), Some(NodeProgram::args(k.name))),
            Target::Path(p) => (p.clone(), node.args.clone()),
        };
        let mut env = Map::new();
        if matches!(node.target, Target::Kind(_)) {
            // Several libtorch nodes share the cores. OpenMP workers that spin for long after a
            // parallel region steal the CPU from the next node in the pipeline, and workers that
            // never spin pay a wake-up on every op; a short spin is best (tiny model, 2 cores:
            // backbone 16.6 ms PASSIVE, 24.4 ms ACTIVE, 8.6 ms with 10k spins).
            env.insert("GOMP_SPINCOUNT".into(), Value::String("10000".into()));
        }
        for (k, v) in &node.env {
            env.insert(k.clone(), Value::String(v.clone()));
        }
        // dora expands `$VAR` in env values; JSON's `\u0024` keeps a `$` in a path literal.
        let params = serde_json::to_string(&node.params)?.replace('$', "\\u0024");
        env.insert(PARAMS_ENV.into(), Value::String(params));
        env.insert(NODE_ID_ENV.into(), Value::String(node.id.clone()));
        let ids: Vec<&str> = node.inputs.iter().map(|i| i.id.as_str()).collect();
        env.insert(INPUTS_ENV.into(), Value::String(ids.join(",")));
        let mut inputs = Map::new();
        for input in &node.inputs {
            let source = match &input.source {
                InputSource::Node { node, output } => format!("{node}/{output}"),
                InputSource::Dora(s) => s.clone(),
            };
            let is_timer = matches!(input.source, InputSource::Dora(_));
            let policy = input.policy.or(if is_timer { None } else { Some(QueuePolicy::Backpressure) });
            let mut def = Map::new();
            def.insert("source".into(), Value::String(source));
            if let Some(q) = input.queue {
                def.insert("queue_size".into(), json!(q));
            }
            if let Some(p) = policy {
                def.insert(
                    "queue_policy".into(),
                    Value::String(
                        match p {
                            QueuePolicy::DropOldest => "drop_oldest",
                            QueuePolicy::Backpressure => "backpressure",
                        }
                        .into(),
                    ),
                );
            }
            if let Some(t) = input.timeout {
                def.insert("input_timeout".into(), json!(t));
            }
            inputs.insert(input.id.clone(), Value::Object(def));
        }
        let mut n = Map::new();
        n.insert("id".into(), Value::String(node.id.clone()));
        n.insert("path".into(), Value::String(path.display().to_string()));
        if let Some(args) = args {
            n.insert("args".into(), Value::String(args));
        }
        n.insert("env".into(), Value::Object(env));
        if !inputs.is_empty() {
            n.insert("inputs".into(), Value::Object(inputs));
        }
        if !node.outputs.is_empty() {
            n.insert("outputs".into(), json!(node.outputs));
        }
        if let Some(m) = &node.machine {
            n.insert("deploy".into(), json!({ "machine": m }));
        }
        nodes.push(Value::Object(n));
    }
    let value = json!({ "nodes": nodes });
    serde_json::from_value(value).context("dora rejected the generated descriptor (a trackflow bug: please report it)")
}

/// The YAML text dora reads, with a header saying where it came from.
pub fn to_yaml(flow: &Dataflow, program: &NodeProgram) -> Result<String> {
    let desc = descriptor(flow, program)?;
    let body = serde_yaml::to_string(&desc).context("cannot serialise the dora descriptor")?;
    Ok(format!("# Generated by trackflow from {} -- do not edit; edit the .kdl file instead.\n{body}", flow.path.display()))
}

/// Where the generated YAML for a KDL file goes, under trackflow's cache
/// (`~/.cache/trackflow/dataflows/`): `<path inside trackflow's files>.yml` for the shipped
/// dataflows, `external/<name>-<hash of its path>.yml` for others. A dataflow changed by `--set`
/// gets `-<hash of its YAML>` too: two runs of one file with different parameters must not read
/// each other's descriptor (seen in parallel tests).
pub fn yaml_path(kdl: &Path, variant: Option<&str>) -> PathBuf {
    let root = crate::base::resources::root();
    let abs = std::path::absolute(kdl).unwrap_or_else(|_| kdl.to_path_buf());
    let abs = abs.canonicalize().unwrap_or(abs);
    let out = crate::base::paths::cache_dir().join("dataflows");
    let base = match abs.strip_prefix(root) {
        Ok(rel) => out.join(rel.strip_prefix("dataflows").unwrap_or(rel)),
        Err(_) => {
            let stem = abs.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            out.join("external").join(format!("{stem}-{:08x}", crate::base::hash::fnv1a(abs.to_string_lossy().as_bytes()) as u32))
        }
    };
    let name = base.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match variant {
        Some(text) => format!("{name}-{:08x}.yml", crate::base::hash::fnv1a(text.as_bytes()) as u32),
        None => format!("{name}.yml"),
    };
    base.with_file_name(name)
}

/// Writes the YAML for `flow` next to the other generated files and returns its path.
pub fn write_yaml(flow: &Dataflow, program: &NodeProgram) -> Result<PathBuf> {
    let yaml = to_yaml(flow, program)?;
    let path = yaml_path(&flow.path, flow.overridden.then_some(yaml.as_str()));
    crate::base::fs::write_atomic(&path, yaml.as_bytes())?;
    Ok(path)
}
