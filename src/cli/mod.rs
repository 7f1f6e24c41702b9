//! The `trackflow` command line: the arguments of every command, and a dispatcher that hands
//! each to its file (`flow` for the dataflow commands, one file per other command).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod analyze;
pub mod bench;
pub mod convert;
pub mod docs;
pub mod evaluate;
pub mod flow;
pub mod synth;
pub mod test;
pub mod track;
pub mod train;

/// OSTrack-family visual object tracking as dora dataflows described in KDL.
#[derive(Debug, Parser)]
#[command(name = "trackflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Check a dataflow: every problem, with file, line and column. Nothing is started.
    Check(flow::FlowArgs),
    /// Check a dataflow and write the dora YAML it translates to (under ~/.cache/trackflow/dataflows/).
    Build {
        #[command(flatten)]
        flow: flow::FlowArgs,
        /// Print the YAML instead of only its path.
        #[arg(long)]
        print: bool,
    },
    /// Run a dataflow to completion with `dora run` (no coordinator needed).
    Run {
        #[command(flatten)]
        flow: flow::FlowArgs,
        /// Kill the run after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Show dora's own log on the console too (it always goes to `<dataflow>.log` under
        /// ~/.cache/trackflow/dataflows/).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Start a dataflow on the dora coordinator (brought up when none is running).
    Start {
        #[command(flatten)]
        flow: flow::FlowArgs,
        /// Stay attached and print the nodes' logs until it ends.
        #[arg(long)]
        attach: bool,
        /// Name for `trackflow stop NAME`.
        #[arg(long)]
        name: Option<String>,
    },
    /// Stop a running dataflow (by name or uuid; the only one when omitted).
    Stop {
        /// Name or uuid.
        which: Option<String>,
    },
    /// Draw a dataflow as SVG, PNG or DOT.
    Graph {
        #[command(flatten)]
        flow: flow::FlowArgs,
        /// Output file; the extension picks the format.
        #[arg(short, long, default_value = "dataflow.svg")]
        output: PathBuf,
    },
    /// List the built-in node kinds with their ports and parameters.
    Kinds,
    /// Track sequences in one process with the fused tracker (no dora), writing OSTrack results.
    Track(track::TrackArgs),
    /// Write synthetic sequences (GOT-10k layout) with exact ground truth.
    Synth(synth::SynthArgs),
    /// Convert an official checkpoint to safetensors (`ostrack`: OSTrack_ep0300.pth.tar;
    /// `vipt`: ViPT_deep_rgbd.pth and friends, with `--config deep_rgbd`; `mae`:
    /// mae_pretrain_vit_base.pth as a backbone initialisation for training; `mobilenetv2`:
    /// ImageNet MobileNetV2 weights for the hybrid stem, with `--config mobile`).
    Convert(convert::ConvertArgs),
    /// Run a tracker over a whole dataset (N workers over G GPUs or the CPU), resuming where
    /// complete results already exist. As OSTrack's `tracking/test.py`.
    Test(test::TestArgs),
    /// Score a model on a folder of real annotated sequences (OTB protocol), next to the
    /// untrained network of the same shape, and write a report with plots.
    Evaluate(evaluate::EvaluateArgs),
    /// Score result folders against a dataset with a toolkit's protocol, trackers side by side.
    Analyze(analyze::AnalyzeArgs),
    /// Pack results for a benchmark server or toolkit (GOT-10k, TrackingNet, RGBT234, VOT-RGBD).
    Pack(analyze::PackArgs),
    /// Train a model through dataflows/train.kdl, as OSTrack's `tracking/train.py --script
    /// ostrack --config <config>`: checkpoints, metrics.jsonl and loss curves under --save-dir.
    Train(train::TrainArgs),
    /// Benchmarks that print numbers.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCmd,
    },
    /// Runs a command as the supervisor of one run's process tree (see
    /// `trackflow::dataflow::supervise`); started by trackflow itself.
    #[command(name = "__supervise", hide = true)]
    Supervise {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run one node of a dataflow: dora starts every built-in kind as `trackflow node <kind>`,
    /// with its parameters in the environment (see `trackflow kinds`).
    #[command(hide = true)]
    Node {
        /// The node kind (`source`, `crop`, `backbone`, ...).
        kind: String,
    },
    /// Write the book's generated reference pages (`docs/src/reference/`).
    #[command(hide = true)]
    Docs {
        /// The folder to write them to.
        dir: PathBuf,
    },
    /// The `dora` launcher setup installs: `.kdl` arguments are translated, the rest is passed on.
    #[command(hide = true)]
    Dora {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Runs the `trackflow` command line: parses the arguments, runs the command and turns its
/// error into a message and an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.prints_for_a_reader() {
        die_quietly_on_a_closed_pipe();
    }
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // The command's result, not a log line: printed whatever RUST_LOG says.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

impl Cmd {
    /// Whether the command only reads and prints, so that its output is commonly piped into a
    /// reader that may stop early (`trackflow kinds | head`).
    fn prints_for_a_reader(&self) -> bool {
        matches!(self, Cmd::Check(_) | Cmd::Build { .. } | Cmd::Graph { .. } | Cmd::Kinds | Cmd::Analyze(_))
    }
}

/// Restores the default action of SIGPIPE, which Rust's runtime ignores: a printing command
/// whose reader has gone (`| head`) then ends as other Unix tools do, instead of `println!`
/// panicking on the closed pipe. Only for commands that merely print: the nodes, the dataflow
/// runs and training keep the runtime's setting, so a closed socket or pipe is an error they
/// log and handle rather than a silent death (a child process resets it at its own start).
fn die_quietly_on_a_closed_pipe() {
    // SAFETY: `signal` with SIG_DFL installs no handler; nothing else in this process has
    // changed SIGPIPE's disposition, and no other thread runs yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Checks that this machine has `n` usable GPUs, before a command starts anything that would
/// need them (`flag` names the option that asked, for the message). `n == 0` (the CPU) always
/// passes. Shared by `train --gpus` and `test --gpus`.
pub(crate) fn check_gpus(n: usize, flag: &str) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let visible = match crate::base::cuda::probe(0, Duration::from_secs(30))? {
        crate::base::cuda::CudaState::Usable(v) => v,
        crate::base::cuda::CudaState::Absent(reason) => anyhow::bail!("{flag} {n}: CUDA is not usable here ({reason})"),
    };
    if n > visible {
        anyhow::bail!("{flag} {n}: this machine has {visible} visible GPU(s)");
    }
    Ok(())
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Check(f) => flow::check(f),
        Cmd::Build { flow: f, print } => flow::build(f, print),
        Cmd::Run { flow: f, timeout, verbose } => flow::run(f, timeout, verbose),
        Cmd::Start { flow: f, attach, name } => flow::start(f, attach, name),
        Cmd::Stop { which } => Ok(flow::status_code(crate::dataflow::launch::stop(which.as_deref())?)),
        Cmd::Graph { flow: f, output } => flow::graph(f, output),
        Cmd::Kinds => flow::list_kinds(),
        Cmd::Track(a) => a.run(),
        Cmd::Synth(a) => a.run(),
        Cmd::Convert(a) => a.run(),
        Cmd::Test(a) => a.run(),
        Cmd::Evaluate(a) => a.run(),
        Cmd::Analyze(a) => a.run(),
        Cmd::Pack(a) => a.run(),
        Cmd::Train(a) => a.run(),
        Cmd::Bench { what } => what.run(),
        Cmd::Supervise { args } => {
            let args = if args.first().map(String::as_str) == Some("--") { &args[1..] } else { &args[..] };
            Ok(ExitCode::from(crate::dataflow::supervise::supervise(args)?.clamp(0, 255) as u8))
        }
        Cmd::Node { kind } => match crate::nodes::registry::get(&kind) {
            Some(code) => crate::nodes::node_main(code.kind.name, code.run),
            None => {
                let known: Vec<&str> = crate::nodes::registry::kinds().map(|k| k.name).collect();
                anyhow::bail!("no node kind `{kind}` (kinds: {})", known.join(", "))
            }
        },
        Cmd::Docs { dir } => crate::cli::docs::write(&dir).map(|()| ExitCode::SUCCESS),
        Cmd::Dora { args } => Ok(flow::status_code(crate::dataflow::launch::launcher(&args)?)),
    }
}
