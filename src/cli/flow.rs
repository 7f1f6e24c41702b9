//! The dataflow commands: `check`, `build`, `run`, `start`, `stop`, `graph`, `kinds`, and the
//! `dora` launcher setup installs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::dataflow::ParamOverride;
use crate::dataflow::dora::{NodeProgram, to_yaml, write_yaml};
use crate::dataflow::launch;

/// Arguments shared by the commands that load a dataflow.
#[derive(Debug, clap::Args)]
pub struct FlowArgs {
    /// The dataflow file (`dataflows/track.kdl`).
    pub dataflow: PathBuf,
    /// Override a node parameter: `--set source.path=/data/otb/Couple` (repeatable).
    #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
    pub sets: Vec<String>,
}

impl FlowArgs {
    fn overrides(&self) -> Vec<ParamOverride> {
        self.sets.iter().map(|s| ParamOverride { text: s.clone() }).collect()
    }
}

/// The exit status of a child process as this command's.
pub(crate) fn status_code(s: std::process::ExitStatus) -> ExitCode {
    if s.success() { ExitCode::SUCCESS } else { ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8) }
}

/// Loads a dataflow for a command, printing problems and returning `None` when it is invalid.
fn prepared(flow: &FlowArgs) -> Result<Option<(crate::dataflow::Dataflow, NodeProgram)>> {
    let bins = NodeProgram::current()?;
    match launch::prepare(&flow.dataflow, &flow.overrides(), &bins) {
        Ok(f) => Ok(Some((f, bins))),
        Err(report) => {
            eprint!("{report}");
            Ok(None)
        }
    }
}

/// `trackflow check`: every problem of a dataflow, with file, line and column.
pub fn check(flow: FlowArgs) -> Result<ExitCode> {
    let Some((f, _)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
    let edges: usize = f.nodes.iter().map(|n| n.inputs.len()).sum();
    println!("{}: ok ({} nodes, {edges} inputs)", flow.dataflow.display(), f.nodes.len());
    Ok(ExitCode::SUCCESS)
}

/// `trackflow build`: the dora YAML a dataflow translates to.
pub fn build(flow: FlowArgs, print: bool) -> Result<ExitCode> {
    let Some((f, bins)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
    if print {
        print!("{}", to_yaml(&f, &bins)?);
    } else {
        println!("{}", write_yaml(&f, &bins)?.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `trackflow run`: a dataflow to completion with `dora run`; dora's own log goes to a file
/// unless `verbose`.
pub fn run(flow: FlowArgs, timeout: Option<f64>, verbose: bool) -> Result<ExitCode> {
    let Some((f, bins)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
    let yaml = write_yaml(&f, &bins)?;
    tracing::info!("trackflow: running {} ({} nodes) with dora", flow.dataflow.display(), f.nodes.len());
    let (status, log) = launch::run(&yaml, timeout.map(Duration::from_secs_f64), verbose)?;
    if status.success() {
        tracing::info!("trackflow: done; dora's log is {}", log.display());
    } else {
        tracing::error!(
            "trackflow: the dataflow failed ({status}); node errors are above, dora's log is {} and each node's output is under {}",
            log.display(),
            yaml.parent().unwrap_or(Path::new(".")).join("out").display()
        );
    }
    Ok(status_code(status))
}

/// `trackflow start`: a dataflow on the dora coordinator.
pub fn start(flow: FlowArgs, attach: bool, name: Option<String>) -> Result<ExitCode> {
    let Some((f, bins)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
    let yaml = write_yaml(&f, &bins)?;
    Ok(status_code(launch::start(&yaml, attach, name.as_deref(), None)?))
}

/// `trackflow graph`: a dataflow drawn as SVG, PNG or DOT.
pub fn graph(flow: FlowArgs, output: PathBuf) -> Result<ExitCode> {
    let Some((f, _)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
    crate::dataflow::graph::render(&f, &output)?;
    println!("{}", output.display());
    Ok(ExitCode::SUCCESS)
}

/// `trackflow kinds`: the built-in node kinds with their ports and parameters.
pub(crate) fn list_kinds() -> Result<ExitCode> {
    for k in crate::nodes::registry::kinds() {
        println!("{} (trackflow node {}): {}", k.name, k.name, k.doc);
        for i in k.inputs {
            println!("  input  {:<10} {}{}", i.name, i.ty, if i.required { "" } else { " (optional)" });
        }
        for o in k.outputs {
            println!("  output {:<10} {}", o.name, o.ty);
        }
        for p in k.params {
            println!("  param  {:<13} {} = {}  -- {}", p.name, p.ty, p.default.unwrap_or("(required)"), p.doc);
        }
    }
    Ok(ExitCode::SUCCESS)
}
