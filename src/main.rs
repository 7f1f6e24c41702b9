//! The `trackflow` command line: dataflows (check, build, run, start, stop, graph), the fused
//! tracker (track), and the dora launcher.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use trackflow::dataflow::dora::{BinDir, to_yaml, write_yaml};
use trackflow::dataflow::{ParamOverride, kinds};
use trackflow::launch;

/// OSTrack-family visual object tracking as dora dataflows described in KDL.
#[derive(Debug, Parser)]
#[command(name = "trackflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// Arguments shared by the commands that load a dataflow.
#[derive(Debug, clap::Args)]
struct FlowArgs {
    /// The dataflow file (`dataflows/track.kdl`).
    dataflow: PathBuf,
    /// Override a node parameter: `--set source.path=/data/otb/Couple` (repeatable).
    #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
    sets: Vec<String>,
}

impl FlowArgs {
    fn overrides(&self) -> Vec<ParamOverride> {
        self.sets.iter().map(|s| ParamOverride { text: s.clone() }).collect()
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Check a dataflow: every problem, with file, line and column. Nothing is started.
    Check(FlowArgs),
    /// Check a dataflow and write the dora YAML it translates to (under target/dataflows/).
    Build {
        #[command(flatten)]
        flow: FlowArgs,
        /// Print the YAML instead of only its path.
        #[arg(long)]
        print: bool,
    },
    /// Run a dataflow to completion with `dora run` (no coordinator needed).
    Run {
        #[command(flatten)]
        flow: FlowArgs,
        /// Kill the run after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
    },
    /// Start a dataflow on the dora coordinator (brought up when none is running).
    Start {
        #[command(flatten)]
        flow: FlowArgs,
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
        flow: FlowArgs,
        /// Output file; the extension picks the format.
        #[arg(short, long, default_value = "dataflow.svg")]
        output: PathBuf,
    },
    /// List the built-in node kinds with their ports and parameters.
    Kinds,
    /// Track sequences in one process with the fused tracker (no dora), writing OSTrack results.
    Track {
        /// A sequence folder, or a folder of sequences.
        sequence: PathBuf,
        /// Model preset (configs/ostrack/<name>.kdl) or config file.
        #[arg(long, default_value = "mobile")]
        config: String,
        /// Weights (safetensors); default: the preset's own (`model { weights ... }`), else random.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Random weights even when the preset has its own (an untrained baseline of the same shape).
        #[arg(long, conflicts_with = "weights")]
        untrained: bool,
        /// RGB+X sequences: read only the RGB frames (an RGB tracker on a multi-modal dataset).
        #[arg(long)]
        rgb_only: bool,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 0)]
        seed: i64,
        /// libtorch CPU threads (0: libtorch's default, all cores). Use 1 when other
        /// libtorch processes (a training run) share the cores: oversubscribed threads can run
        /// 50× slower.
        #[arg(long, default_value_t = 0)]
        threads: i32,
        /// auto, cpu, cuda, cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
        /// fp32, fp16 or bf16.
        #[arg(long, default_value = "fp32")]
        precision: String,
        /// Turn candidate elimination off.
        #[arg(long)]
        no_ce: bool,
        /// Turn the Hann window off.
        #[arg(long)]
        no_hann: bool,
        /// Results folder.
        #[arg(long, default_value = "results/track")]
        out: PathBuf,
        /// Track only the first N frames of each sequence.
        #[arg(long, default_value_t = 0)]
        max_frames: usize,
        /// Init box `x,y,w,h` (required for videos; overrides the ground truth).
        #[arg(long)]
        init_box: Option<String>,
    },
    /// Write synthetic sequences (GOT-10k layout) with exact ground truth.
    Synth {
        /// Output folder.
        out: PathBuf,
        /// Number of sequences.
        #[arg(long, default_value_t = 1)]
        sequences: usize,
        /// Frames per sequence.
        #[arg(long, default_value_t = 60)]
        frames: usize,
        /// Image width.
        #[arg(long, default_value_t = 320)]
        width: usize,
        /// Image height.
        #[arg(long, default_value_t = 240)]
        height: usize,
        /// Seed (sequence i uses seed + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// No occluder.
        #[arg(long)]
        no_occlusion: bool,
        /// Folder name prefix.
        #[arg(long, default_value = "synth")]
        prefix: String,
        /// Moving distractor objects per sequence.
        #[arg(long, default_value_t = 0)]
        distractors: usize,
        /// Busy backgrounds with static object-like clutter.
        #[arg(long)]
        clutter: bool,
        /// "Dead leaves" scenes (natural-image statistics) instead of sinusoid textures.
        #[arg(long)]
        leaves: bool,
        /// RGB+X sequences for ViPT: `rgbt` (visible/ + infrared/, LasHeR's layout), `rgbd`
        /// (color/ + 16-bit depth/, DepthTrack's) or `rgbe` (vis_imgs/ + event_imgs/, VisEvent's).
        #[arg(long)]
        modality: Option<String>,
        /// Night-time colour frames (12% light, sensor noise); the thermal frames are unaffected.
        #[arg(long)]
        dark: bool,
        /// Width / height range of the target and the moving distractors, `MIN,MAX`
        /// (pedestrians are about 0.35).
        #[arg(long, default_value = "0.6,1.6")]
        aspect: String,
        /// Threads (the output does not depend on it).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Convert an official checkpoint to safetensors (`ostrack`: OSTrack_ep0300.pth.tar;
    /// `vipt`: ViPT_deep_rgbd.pth and friends, with `--config deep_rgbd`; `mae`:
    /// mae_pretrain_vit_base.pth as a backbone initialisation for training; `mobilenetv2`:
    /// ImageNet MobileNetV2 weights for the hybrid stem, with `--config mobile`).
    Convert {
        /// `ostrack`, `vipt`, `mae` or `mobilenetv2`.
        #[arg(value_parser = ["ostrack", "vipt", "mae", "mobilenetv2"])]
        kind: String,
        /// The checkpoint.
        input: PathBuf,
        /// The preset the weights are for (checked by loading them).
        #[arg(long, default_value = "vitb_256_mae_ce_32x4_ep300")]
        config: String,
        /// Output file (default: the input's name with .safetensors).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Run a tracker over a whole dataset (N workers over G GPUs or the CPU), resuming where
    /// complete results already exist. As OSTrack's `tracking/test.py`.
    Test {
        /// `ostrack` (the config family under configs/).
        script: String,
        /// Config name, e.g. `vitb_256_mae_ce_32x4_ep300`.
        config: String,
        /// Dataset name from trackflow.local.kdl, or a folder.
        #[arg(long)]
        dataset: String,
        /// Tracker workers.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// GPUs to spread the workers over (0 = CPU).
        #[arg(long, default_value_t = 0)]
        gpus: usize,
        /// Weights (default: random, which the nodes say loudly).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Results root; results go to `<root>/<script>/<config>/<dataset>/`.
        #[arg(long, default_value = "output/test/tracking_results")]
        results: PathBuf,
        /// Local config naming dataset folders.
        #[arg(long, default_value = "trackflow.local.kdl")]
        local: PathBuf,
        /// Spread the workers over these dora machine ids (comma-separated), one coordinator
        /// and one daemon per machine (`dora daemon --machine-id ID`).
        #[arg(long, value_delimiter = ',')]
        machines: Vec<String>,
        /// With --machines: start the coordinator and the daemons on this host (loopback).
        #[arg(long)]
        spawn_daemons: bool,
    },
    /// Score a model on a folder of real annotated sequences (OTB protocol), next to the
    /// untrained network of the same shape, and write a report with plots.
    Evaluate {
        /// A folder of annotated sequences (otb-mini, a GOT-10k-layout folder, any layout
        /// `track` reads).
        dataset: PathBuf,
        /// Model preset or config file.
        #[arg(long, default_value = "mobile")]
        config: String,
        /// Weights (default: the preset's own).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Only the sequences named in this file, one per line (e.g. real-train's val-list.txt).
        #[arg(long)]
        list: Option<PathBuf>,
        /// Where results and the report go: `<out>/<name>/`, `<out>/untrained/`, `<out>/report/`.
        #[arg(long, default_value = "output/evaluate")]
        out: PathBuf,
        /// Name of the model's results folder and row (default: the config name).
        #[arg(long)]
        name: Option<String>,
        /// libtorch CPU threads (0: all cores).
        #[arg(long, default_value_t = 0)]
        threads: i32,
        /// auto, cpu, cuda, cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Score result folders against a dataset with a toolkit's protocol, trackers side by side.
    Analyze {
        /// Dataset folder (sequences with their ground truth).
        #[arg(long)]
        dataset: PathBuf,
        /// got10k, otb (also nfs, tnl2k, lasher, visevent), lasot, uav, trackingnet, rgbt234 (MPR/MSR), depthtrack (Pr/Re/F).
        #[arg(long)]
        protocol: String,
        /// Results folders (`<seq>.txt` each), as `name=folder` or just `folder`.
        #[arg(required = true)]
        results: Vec<String>,
        /// Also write a report folder: table, success/precision plots (SVG, PNG), attributes.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Pack results for a benchmark server or toolkit (GOT-10k, TrackingNet, RGBT234, VOT-RGBD).
    Pack {
        /// `got10k`, `trackingnet`, `rgbt234` (corner rows for the MPR/MSR toolkit) or `vot-rgbd`
        /// (the VOT toolkit's long-term layout with confidences, for DepthTrack and VOT-RGBD).
        #[arg(value_parser = ["got10k", "trackingnet", "rgbt234", "vot-rgbd"])]
        server: String,
        /// Results folder (`<seq>.txt`, and `<seq>_time.txt` for GOT-10k).
        results: PathBuf,
        /// The test set, to check that every sequence is there with one row per frame.
        #[arg(long)]
        dataset: Option<PathBuf>,
        /// Archive (default: `<results>/../<server>_submit.zip`).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Train a model through dataflows/train.kdl, as OSTrack's `tracking/train.py --script
    /// ostrack --config <config>`: checkpoints, metrics.jsonl and loss curves under --save-dir.
    Train {
        /// `ostrack`, or `vipt` (prompt tuning on a frozen OSTrack; configs/vipt/).
        script: String,
        /// Config name (`vitb_256_mae_ce_32x4_ep300`, `tiny`) or a config file.
        config: String,
        /// Output folder.
        #[arg(long, default_value = "output")]
        save_dir: PathBuf,
        /// Continue from the newest checkpoint in --save-dir.
        #[arg(long)]
        resume: bool,
        /// Dataset folder by key, e.g. `--root synth=data/synth-train --root got10k_train=/data/got10k/train`
        /// (keys: got10k_train, got10k_val, lasot_train, trackingnet, coco, synth, synth2, depthtrack, lasher, visevent).
        #[arg(long = "root", value_name = "KEY=PATH")]
        roots: Vec<String>,
        /// Machine-local file naming dataset folders (`datasets { got10k_train "/data/..." }`).
        #[arg(long, default_value = "trackflow.local.kdl")]
        local: PathBuf,
        /// The training dataflow.
        #[arg(long, default_value = "dataflows/train.kdl")]
        dataflow: PathBuf,
        /// Override the config's epochs.
        #[arg(long)]
        epochs: Option<i64>,
        /// Start from trackflow weights.
        #[arg(long)]
        init: Option<PathBuf>,
        /// Start the backbone from pretrained weights: an MAE ViT encoder (`trackflow convert mae`) or
        /// ImageNet MobileNetV2 features for a `stem "mobilenetv2"` preset (`trackflow convert mobilenetv2`).
        #[arg(long)]
        pretrained: Option<PathBuf>,
        /// Device: auto, cpu, cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Run seed.
        #[arg(long, default_value_t = 42)]
        seed: i64,
        /// Override a node parameter of the dataflow (repeatable).
        #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
        sets: Vec<String>,
    },
    /// Benchmarks that print numbers.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
    /// The `dora` launcher setup installs: `.kdl` arguments are translated, the rest is passed on.
    #[command(hide = true)]
    Dora {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Live tracking: capture-to-box latency (median, p95) and the fraction of frames processed,
    /// for a 640×480 clip played as a camera through dataflows/live.kdl.
    Live {
        /// Model preset.
        #[arg(long, default_value = "mobile")]
        config: String,
        /// Device.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Camera frame rate.
        #[arg(long, default_value_t = 30.0)]
        fps: f64,
        /// Seconds of video.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Training throughput: samples/s the loader threads produce next to samples/s the trainer
    /// consumes, and the step time, so a starved trainer shows.
    Train {
        /// Config.
        #[arg(long, default_value = "tiny")]
        config: String,
        /// Dataset folder in GOT-10k layout (default: 8 synthetic sequences made for the run).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Loader threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Batches to time on each side.
        #[arg(long, default_value_t = 10)]
        batches: usize,
        /// Batch size (default: the config's).
        #[arg(long)]
        batch_size: Option<i64>,
        /// Device for the trainer.
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// The same sequence through the fused tracker and the dataflow: latency, fps, overhead.
    Track {
        /// Sequence folder or video (default: the bundled demo).
        #[arg(long)]
        sequence: Option<PathBuf>,
        /// Dataflow to compare (its viewer, if any, is left out).
        #[arg(long, default_value = "dataflows/track.kdl")]
        dataflow: PathBuf,
        /// Model preset.
        #[arg(long, default_value = "tiny")]
        config: String,
        /// Device for both paths.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Frames to track (0 = all).
        #[arg(long, default_value_t = 0)]
        frames: usize,
        /// Rounds, alternating the two paths; latencies are pooled.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Overrides a dataflow parameter (ablations: `--set source.credits=4`), after the bench's own.
        #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
        sets: Vec<String>,
    },
    /// ms per forward and fps per preset, next to PyTorch eager with the same weights.
    Model {
        /// Presets (comma-separated).
        #[arg(long, default_value = "tiny,vitb_256_mae_ce_32x4_ep300,vitb_384_mae_ce_32x4_ep300")]
        presets: String,
        /// Devices (comma-separated): cpu, cuda, cuda:N, auto.
        #[arg(long, default_value = "auto")]
        devices: String,
        /// Precisions (comma-separated): fp32, fp16, bf16 (the last two on GPU only).
        #[arg(long, default_value = "fp32")]
        precisions: String,
        /// Timed iterations.
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// Untimed warm-up iterations.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// CPU threads for both (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn status_code(s: std::process::ExitStatus) -> ExitCode {
    if s.success() { ExitCode::SUCCESS } else { ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8) }
}

/// Loads a dataflow for a command, printing problems and returning `None` when it is invalid.
fn prepared(flow: &FlowArgs) -> Result<Option<(trackflow::dataflow::Dataflow, BinDir)>> {
    let bins = BinDir::current()?;
    match launch::prepare(&flow.dataflow, &flow.overrides(), &bins) {
        Ok(f) => Ok(Some((f, bins))),
        Err(report) => {
            eprint!("{report}");
            Ok(None)
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Check(flow) => {
            let Some((f, _)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
            let edges: usize = f.nodes.iter().map(|n| n.inputs.len()).sum();
            println!("{}: ok ({} nodes, {edges} inputs)", flow.dataflow.display(), f.nodes.len());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Build { flow, print } => {
            let Some((f, bins)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
            if print {
                print!("{}", to_yaml(&f, &bins)?);
            } else {
                println!("{}", write_yaml(&f, &bins)?.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run { flow, timeout } => {
            let Some((f, bins)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
            let yaml = write_yaml(&f, &bins)?;
            eprintln!("trackflow: running {} ({} nodes) with dora", flow.dataflow.display(), f.nodes.len());
            let status = launch::run(&yaml, timeout.map(Duration::from_secs_f64))?;
            if !status.success() {
                eprintln!(
                    "trackflow: the dataflow failed ({status}); node logs are above and under {}",
                    yaml.parent().unwrap_or(Path::new(".")).join("out").display()
                );
            }
            Ok(status_code(status))
        }
        Cmd::Start { flow, attach, name } => {
            let Some((f, bins)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
            let yaml = write_yaml(&f, &bins)?;
            Ok(status_code(launch::start(&yaml, attach, name.as_deref(), None)?))
        }
        Cmd::Stop { which } => Ok(status_code(launch::stop(which.as_deref())?)),
        Cmd::Graph { flow, output } => {
            let Some((f, _)) = prepared(&flow)? else { return Ok(ExitCode::FAILURE) };
            trackflow::graph::render(&f, &output)?;
            println!("{}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kinds => {
            for k in kinds::KINDS {
                println!("{} ({}): {}", k.name, k.binary, k.doc);
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
        Cmd::Track {
            sequence,
            config,
            weights,
            untrained,
            rgb_only,
            seed,
            threads,
            device,
            precision,
            no_ce,
            no_hann,
            out,
            max_frames,
            init_box,
        } => {
            if threads > 0 {
                tch::set_num_threads(threads);
            }
            let init_box = init_box.as_deref().map(trackflow::nodes::source::parse_box).transpose()?;
            let weights = match (weights, untrained) {
                (Some(w), _) => Weights::File(w),
                (None, true) => Weights::Random,
                (None, false) => Weights::Default,
            };
            let options = trackflow::tracker::TrackOptions { ce: !no_ce, hann: !no_hann };
            let mut tracker = load_tracker(&config, weights, seed, &device, &precision, options)?;
            track_sequences(&mut tracker, &sequence, &out, max_frames, init_box, rgb_only)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Synth {
            out,
            sequences,
            frames,
            width,
            height,
            seed,
            no_occlusion,
            prefix,
            distractors,
            clutter,
            leaves,
            modality,
            dark,
            aspect,
            jobs,
        } => {
            let aspect = match aspect.split(',').map(|v| v.trim().parse::<f64>()).collect::<Result<Vec<_>, _>>().as_deref() {
                Ok([lo, hi]) => (*lo, *hi),
                _ => anyhow::bail!("--aspect {aspect}: expected MIN,MAX, two numbers such as 0.3,1.6"),
            };
            let opts = trackflow::synth::SynthOptions {
                sequences,
                frames,
                width,
                height,
                seed,
                occlusion: !no_occlusion,
                prefix,
                distractors,
                clutter,
                leaves,
                modality: modality.as_deref().map(trackflow::modality::Modality::parse).transpose()?,
                dark,
                aspect,
            };
            let names = trackflow::synth::generate_parallel(&out, &opts, jobs)?;
            println!("wrote {} sequence(s) of {frames} frames to {}", names.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test { script, config, dataset, threads, gpus, weights, results, local, machines, spawn_daemons } => {
            use trackflow::eval::test_run::{TestRun, dataset_path, test};
            let cfg =
                trackflow::dataflow::resolve_config(&config, Path::new(".")).map_err(|e| anyhow::anyhow!("config `{config}`: {e}"))?;
            let ds_path = dataset_path(&dataset, &local)?;
            let ds_name = Path::new(&dataset).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or(dataset.clone());
            let out = results.join(&script).join(&config).join(&ds_name);
            let run = TestRun {
                dataset: std::path::absolute(&ds_path)?,
                config: PathBuf::from(cfg),
                weights: weights.map(std::path::absolute).transpose()?,
                results: std::path::absolute(&out)?,
                threads: threads.max(1),
                gpus,
                work: std::path::absolute(out.join(".trackflow"))?,
                machines,
                spawn_daemons,
            };
            test(&run)?;
            println!("results: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Evaluate { dataset, config, weights, list, out, name, threads, device } => {
            if threads > 0 {
                tch::set_num_threads(threads);
            }
            evaluate(&dataset, &config, weights, list.as_deref(), &out, name, &device)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Analyze { dataset, protocol, results, report } => {
            use trackflow::eval::analyze::{Protocol, analyze, render};
            let protocol = Protocol::parse(&protocol)?;
            let trackers: Vec<(String, PathBuf)> = results
                .iter()
                .map(|r| match r.split_once('=') {
                    Some((n, p)) => (n.to_string(), PathBuf::from(p)),
                    None => {
                        (Path::new(r).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| r.clone()), PathBuf::from(r))
                    }
                })
                .collect();
            let scores = analyze(protocol, &dataset, &trackers)?;
            print!("{}", render(protocol, &scores));
            if let Some(dir) = report {
                let files = trackflow::eval::analyze::write_report(protocol, &dataset, &scores, &dir)?;
                println!("report: {} ({} files)", dir.display(), files.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Pack { server, results, dataset, output } => {
            use trackflow::eval::pack::{Server, pack};
            let srv = match server.as_str() {
                "got10k" => Server::Got10k,
                "trackingnet" => Server::TrackingNet,
                "rgbt234" => Server::Rgbt234,
                _ => Server::VotRgbd,
            };
            let expected: Option<Vec<(String, usize)>> = match &dataset {
                Some(d) => Some(
                    trackflow::sequence::discover(d, trackflow::sequence::Layout::Auto)?
                        .iter()
                        .map(|s| (s.name.clone(), s.len()))
                        .collect(),
                ),
                None => None,
            };
            let out = output.unwrap_or_else(|| {
                let parent = results.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                parent.join(format!("{server}_submit.zip"))
            });
            let p = pack(srv, &results, &out, expected.as_deref())?;
            println!("{}: {} sequences (raw results in {} kept)", p.path.display(), p.sequences, results.display());
            if !p.missing.is_empty() {
                eprintln!("warning: {} sequence(s) of the dataset have no results: {}", p.missing.len(), p.missing.join(", "));
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Convert { kind, input, config, output } => {
            convert(&kind, &input, &config, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Train { script, config, save_dir, resume, roots, local, dataflow, epochs, init, pretrained, device, seed, sets } => {
            let cfg = trackflow::model::Config::from_name(&config)?;
            match (script.as_str(), cfg.model.prompt.is_some()) {
                ("ostrack", false) => {}
                ("vipt", true) => {
                    if init.is_none() && !resume {
                        anyhow::bail!(
                            "ViPT trains prompts on a frozen OSTrack: pass --init with OSTrack weights (e.g. OSTrack_ep0300.safetensors from `trackflow convert ostrack`)"
                        );
                    }
                }
                ("ostrack", true) => anyhow::bail!("config `{config}` has ViPT prompts: train it with `trackflow train vipt {config}`"),
                ("vipt", false) => {
                    anyhow::bail!("config `{config}` has no prompts (an OSTrack config): use `trackflow train ostrack {config}`")
                }
                _ => anyhow::bail!("unknown script `{script}`: `ostrack` or `vipt`"),
            }
            let mut all = vec![format!("trainer.device={device:?}"), format!("trainer.seed={seed}"), format!("sampler.seed={seed}")];
            if let Some(e) = epochs {
                all.push(format!("trainer.epochs={e}"));
            }
            if let Some(w) = init {
                all.push(format!("trainer.init={:?}", std::path::absolute(w)?.display().to_string()));
            }
            if let Some(w) = pretrained {
                all.push(format!("trainer.pretrained={:?}", std::path::absolute(w)?.display().to_string()));
            }
            all.extend(sets);
            let run = trackflow::train::run::TrainRun { config, save_dir, resume, dataflow, roots, local, sets: all, timeout: None };
            trackflow::train::run::train(&run)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchCmd::Live { config, device, fps, seconds } } => {
            trackflow::bench::live(&config, &device, fps, seconds)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchCmd::Train { config, data, workers, batches, batch_size, device } } => {
            trackflow::bench::train(&config, data.as_deref(), workers, batches, batch_size, &device)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchCmd::Track { sequence, dataflow, config, device, frames, rounds, sets } } => {
            bench_track(sequence, &dataflow, &config, &device, frames, rounds, &sets)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchCmd::Model { presets, devices, precisions, iters, warmup, threads } } => {
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let mut rows = Vec::new();
            for preset in presets.split(',') {
                let path = trackflow::dataflow::resolve_config(preset.trim(), Path::new("."))
                    .map_err(|e| anyhow::anyhow!("preset `{preset}`: {e}"))?;
                for device in devices.split(',') {
                    for precision in precisions.split(',') {
                        eprintln!("benchmarking {preset} on {device} ({precision}, {threads} threads)...");
                        rows.push(trackflow::bench::model_row(Path::new(&path), device.trim(), precision.trim(), iters, warmup, threads)?);
                    }
                }
            }
            trackflow::bench::print_model_rows(&rows);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Dora { args } => Ok(status_code(launch::launcher(&args)?)),
    }
}

/// `trackflow bench track`: fused in this process, then the dataflow under dora, same input.
fn bench_track(
    sequence: Option<PathBuf>,
    dataflow: &Path,
    config: &str,
    device: &str,
    frames: usize,
    rounds: usize,
    extra_sets: &[String],
) -> Result<()> {
    use trackflow::bench::{TrackStats, print_track_stats, track_stats};
    use trackflow::model::{Config, OSTrack, Parts, parse_device};
    use trackflow::sequence::{Layout, discover};
    use trackflow::tracker::{TrackOptions, Tracker};

    let seq_path = sequence.unwrap_or_else(|| trackflow::paths::project_root().join("demo/sequence"));
    let mut seq = discover(&seq_path, Layout::Auto)?.into_iter().next().context("no sequence")?;
    if frames > 0 {
        seq.truncate(frames);
    }
    let n = seq.len();
    let cfg = Config::from_name(config)?;
    let dir = std::env::temp_dir().join(format!("trackflow-bench-track-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let mut model = OSTrack::new(&cfg, Parts::All, parse_device(device)?);
    // The weights the dataflow's nodes load: the preset's own, else the nodes' random seed 0, so
    // that both paths time the same tracker.
    match trackflow::nodes::default_weights(&cfg) {
        Some(w) => model.load(&w)?,
        None => model.randomize(0),
    }
    let mut tracker = Tracker::new(model, TrackOptions::default(), tch::Kind::Float);
    // Rounds alternate the two paths so both see the same (noisy, 2-core) machine; latencies
    // are pooled across rounds and fps averaged.
    let (mut fused_lat, mut fused_fps, mut flow_lat, mut flow_fps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut identical = true;
    for round in 0..rounds.max(1) {
        eprintln!("round {}: fused: {} ({n} frames, {config}, {device})", round + 1, seq.name);
        let (mut lat, mut arrivals, mut fused_boxes) = (Vec::new(), Vec::new(), Vec::new());
        for (i, im) in seq.reader()?.enumerate() {
            let im = im?;
            let t = std::time::Instant::now();
            let b = if i == 0 {
                let b = seq.init_box()?;
                tracker.initialize(&im, b)?;
                b
            } else {
                tracker.track(&im)?.bbox
            };
            lat.push(t.elapsed().as_secs_f64());
            arrivals.push(trackflow::nodes::now_ns());
            fused_boxes.push(b);
        }
        let fused = track_stats("fused", &lat, &arrivals);
        fused_lat.extend(lat.iter().skip(1).copied());
        fused_fps.push(fused.fps);

        eprintln!("round {}: dataflow: {}", round + 1, dataflow.display());
        let wrapper = dir.join("bench.kdl");
        let abs = std::path::absolute(dataflow)?;
        let mut kdl = format!("include {:?}\n", abs.display().to_string());
        let flow = trackflow::dataflow::load(&abs, &[]).map_err(|p| anyhow::anyhow!("{}", p.render(false)))?;
        if flow.node("viewer").is_some() {
            kdl.push_str("remove \"viewer\"\n");
        }
        std::fs::write(&wrapper, kdl)?;
        let out = dir.join("out");
        let sets: Vec<ParamOverride> = [
            format!("source.path={:?}", seq_path.display().to_string()),
            format!("source.max-frames={n}"),
            format!("source.sequences={:?}", seq.name),
            format!("writer.out={:?}", out.display().to_string()),
            "writer.stamps=#true".to_string(),
            format!("crop.config={config:?}"),
            format!("backbone.config={config:?}"),
            format!("backbone.device={device:?}"),
            format!("head.config={config:?}"),
            format!("head.device={device:?}"),
        ]
        .into_iter()
        .chain(extra_sets.iter().cloned())
        .map(|text| ParamOverride { text })
        .collect();
        let bins = BinDir::current()?;
        let flow = launch::prepare(&wrapper, &sets, &bins).map_err(|e| anyhow::anyhow!("{e}"))?;
        let yaml = write_yaml(&flow, &bins)?;
        let status = launch::run(&yaml, Some(Duration::from_secs(1800)))?;
        if !status.success() {
            bail!("the dataflow run failed ({status})");
        }
        let times: Vec<f64> =
            std::fs::read_to_string(out.join(format!("{}_time.txt", seq.name)))?.lines().filter_map(|l| l.trim().parse().ok()).collect();
        let stamps: Vec<i64> =
            std::fs::read_to_string(out.join(format!("{}_stamps.txt", seq.name)))?.lines().filter_map(|l| l.trim().parse().ok()).collect();
        let flow_stats = track_stats("dataflow", &times, &stamps);
        flow_lat.extend(times.iter().skip(1).copied());
        flow_fps.push(flow_stats.fps);
        let flow_boxes = std::fs::read_to_string(out.join(format!("{}.txt", seq.name)))?;
        identical &= flow_boxes == trackflow::results::format_boxes(&fused_boxes, trackflow::results::Delimiter::Tab);
        let _ = std::fs::remove_dir_all(&out);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let pooled = |name: &str, lat: &[f64], fps: &[f64]| -> TrackStats {
        // track_stats skips the first entry (frame 0); a leading 0 keeps every pooled frame.
        let mut l = vec![0.0];
        l.extend_from_slice(lat);
        TrackStats { fps: fps.iter().sum::<f64>() / fps.len() as f64, ..track_stats(name, &l, &[]) }
    };
    println!("sequence {} ({n} frames x {} rounds), model {config} on {device}, debug={}", seq.name, rounds.max(1), cfg!(debug_assertions));
    print_track_stats(&pooled("fused", &fused_lat, &fused_fps), &pooled("dataflow", &flow_lat, &flow_fps), identical);
    Ok(())
}

/// Converts with python/convert_ostrack.py, then proves the result loads into the preset.
fn convert(kind: &str, input: &Path, config: &str, output: Option<PathBuf>) -> Result<()> {
    use trackflow::model::{Config, OSTrack, Parts};
    if !input.is_file() {
        bail!("{} does not exist", input.display());
    }
    let cfg = Config::from_name(config)?;
    let output = output.unwrap_or_else(|| {
        let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = name.trim_end_matches(".tar").trim_end_matches(".pth").trim_end_matches(".pt");
        input.with_file_name(format!("{stem}.safetensors"))
    });
    // ViPT checkpoints are OSTrack-style (`net` holds every weight by name).
    let script_kind = if kind == "vipt" { "ostrack" } else { kind };
    let mut args = vec![script_kind.to_string(), input.display().to_string(), output.display().to_string()];
    if kind == "mae" {
        args.extend([cfg.data.template_size, cfg.data.search_size, cfg.model.patch_size].map(|v| v.to_string()));
    }
    let report = trackflow::python::run("convert_ostrack.py", &args)?;
    eprintln!("converted: {report}");
    match kind {
        "mae" | "mobilenetv2" => {
            // The loader training uses, so a file that converts is one `--pretrained` takes.
            let mut model = OSTrack::new(&cfg, Parts::Backbone, tch::Device::Cpu);
            let n = trackflow::train::load_pretrained(&mut model, &output)
                .with_context(|| format!("{} was written but does not fit the backbone of `{config}`", output.display()))?;
            println!("{}: backbone initialisation for `{config}` ({n} tensors; use it with `trackflow train --pretrained`)", output.display());
        }
        _ => {
            let mut model = OSTrack::new(&cfg, Parts::All, tch::Device::Cpu);
            model.load(&output).with_context(|| format!("{} was written but does not load into `{config}`", output.display()))?;
            println!("{}: loads into `{config}`", output.display());
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
/// Which weights `trackflow track` loads.
enum Weights {
    /// This file.
    File(PathBuf),
    /// The preset's own, or random when it has none.
    Default,
    /// Random (seeded), even when the preset has weights.
    Random,
}

/// `trackflow evaluate`: tracks `dataset` (or the sequences `list` names) with the model and with
/// random weights of the same shape, then scores both with the OTB protocol and writes the report.
fn evaluate(dataset: &Path, config: &str, weights: Option<PathBuf>, list: Option<&Path>, out: &Path, name: Option<String>, device: &str) -> Result<()> {
    use trackflow::eval::analyze::{Protocol, analyze, render, write_report};
    let name = name.unwrap_or_else(|| Path::new(config).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or(config.into()));
    // A list selects sequences through a folder of links, so that tracking and scoring both see
    // exactly those sequences.
    let data = match list {
        None => dataset.to_path_buf(),
        Some(list) => {
            let text = std::fs::read_to_string(list).with_context(|| format!("cannot read sequence list {}", list.display()))?;
            let dir = out.join("sequences");
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir)?;
            for (i, seq) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty()) {
                let src = std::path::absolute(dataset.join(seq))?;
                if !src.is_dir() {
                    bail!("{}:{}: sequence `{seq}` is not a folder under {}", list.display(), i + 1, dataset.display());
                }
                std::os::unix::fs::symlink(&src, dir.join(seq)).with_context(|| format!("cannot link {}", src.display()))?;
            }
            dir
        }
    };
    let runs = [(name.clone(), weights.map_or(Weights::Default, Weights::File)), ("untrained".to_string(), Weights::Random)];
    let mut trackers = Vec::new();
    for (run, w) in runs {
        let results = out.join(&run);
        let mut tracker = load_tracker(config, w, 0, device, "fp32", trackflow::tracker::TrackOptions::default())?;
        track_sequences(&mut tracker, &data, &results, 0, None, false)?;
        trackers.push((run, results));
    }
    let scores = analyze(Protocol::Otb, &data, &trackers)?;
    print!("{}", render(Protocol::Otb, &scores));
    let report = out.join("report");
    let files = write_report(Protocol::Otb, &data, &scores, &report)?;
    println!("report: {} ({} files)", report.display(), files.len());
    Ok(())
}

/// Builds the fused (single-process) tracker of `trackflow track`: the config's network with the
/// chosen weights (or random ones, loudly), on `device` at `precision`.
fn load_tracker(
    config: &str,
    weights: Weights,
    seed: i64,
    device: &str,
    precision: &str,
    options: trackflow::tracker::TrackOptions,
) -> Result<trackflow::tracker::Tracker> {
    use trackflow::model::{Config, OSTrack, Parts, parse_device, parse_precision};

    let cfg = Config::from_name(config)?;
    let dev = parse_device(device)?;
    let kind = parse_precision(precision, dev)?;
    let mut model = OSTrack::new(&cfg, Parts::All, dev);
    let file = match weights {
        Weights::File(w) => Some(w),
        Weights::Default => trackflow::nodes::default_weights(&cfg),
        Weights::Random => None,
    };
    match file {
        Some(w) => model.load(&w)?,
        None => {
            model.randomize(seed);
            eprintln!("note: no --weights: the network is UNTRAINED (random, seed {seed}); boxes are meaningless");
        }
    }
    if kind != tch::Kind::Float {
        model.set_kind(kind);
    }
    Ok(trackflow::tracker::Tracker::new(model, options, kind))
}

/// Tracks every sequence under `seq_path` with `tracker` and writes one result file per sequence
/// into `out`. A sequence that fails part way keeps the frames tracked so far as a `.partial.txt`;
/// the others still run, and the failures are listed in the error at the end.
fn track_sequences(
    tracker: &mut trackflow::tracker::Tracker,
    seq_path: &Path,
    out: &Path,
    max_frames: usize,
    init_box: Option<[f64; 4]>,
    rgb_only: bool,
) -> Result<()> {
    use trackflow::results::{Delimiter, SequenceResult, write_sequence};
    use trackflow::sequence::{Layout, discover};

    let seqs = discover(seq_path, Layout::Auto)?;
    let total = seqs.len();
    let mut failures = Vec::new();
    for mut seq in seqs {
        if rgb_only {
            seq.aux = None;
        }
        let n = if max_frames > 0 { seq.len().min(max_frames) } else { seq.len() };
        let bar = indicatif::ProgressBar::new(n as u64).with_message(seq.name.clone());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} frames {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        let mut r = SequenceResult::default();
        let result = (|| -> Result<()> {
            for (i, im) in seq.reader()?.take(n).enumerate() {
                let im = im?;
                let t = std::time::Instant::now();
                let (b, score) = if i == 0 {
                    let b = match init_box {
                        Some(b) => b,
                        None => seq.init_box()?,
                    };
                    tracker.initialize(&im, b).with_context(|| format!("{}: frame 0", seq.name))?;
                    (b, 1.0)
                } else {
                    let t = tracker.track(&im).with_context(|| format!("{}: frame {i}", seq.name))?;
                    (t.bbox, t.confidence)
                };
                r.boxes.push(b);
                r.scores.push(score);
                r.times.push(t.elapsed().as_secs_f64());
                bar.inc(1);
            }
            Ok(())
        })();
        bar.finish();
        let complete = result.is_ok();
        if !r.boxes.is_empty() {
            let path = write_sequence(out, &seq.name, &r, complete, Delimiter::Tab)?;
            let fps = r.boxes.len() as f64 / r.times.iter().sum::<f64>().max(1e-9);
            eprintln!("{}: {} frames, {fps:.1} fps -> {}", seq.name, r.boxes.len(), path.display());
        }
        if let Err(e) = result {
            // The other sequences still run; the failures are listed at the end.
            eprintln!("error: {}: {e:#} (results so far kept as {}.partial.txt)", seq.name, seq.name);
            failures.push(format!("{}: {e:#}", seq.name));
        }
    }
    if !failures.is_empty() {
        bail!("{} of {total} sequences failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}
