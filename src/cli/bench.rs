//! Benchmarks that print numbers (never timed tests): the model forward against PyTorch eager
//! running the same weights in the same command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tch::{Device, Kind, Tensor};

use crate::dataflow::ParamOverride;
use crate::dataflow::dora::{NodeProgram, write_yaml};
use crate::dataflow::launch;
use crate::model::{Config, OSTrack, Parts, parse_device, parse_precision};

/// `trackflow bench`: which benchmark.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCmd {
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
        /// The recipe's cost instead: for each of these presets (comma-separated, e.g.
        /// `vitb_256_mae_ce_32x4_ep300,vitb_384_mae_ce_32x4_ep300`) and each `--batch-sizes`,
        /// the median time of a whole training step (forward, loss, backward, AdamW) and the
        /// peak memory, each row in a process of its own so that its peak is its own.
        #[arg(long, value_delimiter = ',')]
        presets: Vec<String>,
        /// Batch sizes for `--presets`.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        batch_sizes: Vec<i64>,
    },
    /// trackflow beside NanoTrack v2 (OpenCV's `TrackerNano`, the CPU tracker robotics users run)
    /// on the same sequences in one command, runs alternating: success AUC, OP75 and precision
    /// (OTB protocol, as `trackflow analyze`), frames/s per frame and for the whole process
    /// (start-up and JPEG decoding included), one table.
    Peers {
        /// A folder of annotated sequences (any layout `track` reads).
        dataset: PathBuf,
        /// Only the sequences this file names, one per line (e.g. real-train's val-list.txt).
        #[arg(long)]
        list: Option<PathBuf>,
        /// The folder holding NanoTrack v2's nanotrack_backbone_sim.onnx and nanotrack_head_sim.onnx.
        #[arg(long)]
        nanotrack: PathBuf,
        /// trackflow's model preset or config file.
        #[arg(long, default_value = "mobile")]
        config: String,
        /// Weights (default: the preset's own).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// libtorch CPU threads for trackflow (0: libtorch's default, all cores).
        #[arg(long, default_value_t = 0)]
        threads: i32,
        /// Rounds; each runs both trackers once, in alternating order. Times are the best round's.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Where results and the table go.
        #[arg(long, default_value = "output/bench-peers")]
        out: PathBuf,
    },
    /// One row of `bench train --presets` (run by it in a child process).
    #[command(hide = true)]
    TrainRow {
        /// Preset.
        preset: String,
        /// Batch size.
        batch_size: i64,
        /// Timed steps (after one warm-up step).
        steps: usize,
        /// Device.
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
    /// Batched evaluation: frames/s of sequences tracked in lockstep, for each batch size B.
    Batch {
        /// Model preset (its weights when it has them, else random: the speed is the same).
        #[arg(long, default_value = "mobile")]
        config: String,
        /// Batch sizes (comma-separated).
        #[arg(long, default_value = "1,4,8")]
        batches: String,
        /// Device.
        #[arg(long, default_value = "auto")]
        device: String,
        /// fp32, fp16 or bf16.
        #[arg(long, default_value = "fp32")]
        precision: String,
        /// Synthetic sequences to track (made for the run).
        #[arg(long, default_value_t = 8)]
        sequences: usize,
        /// Frames per sequence.
        #[arg(long, default_value_t = 30)]
        frames: usize,
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

impl BenchCmd {
    /// Runs the benchmark.
    pub fn run(self) -> Result<std::process::ExitCode> {
        match self {
            BenchCmd::Live { config, device, fps, seconds } => {
                live(&config, &device, fps, seconds)?;
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::Train { presets, batch_sizes, batches, device, .. } if !presets.is_empty() => {
                train_steps(&presets, &batch_sizes, batches, &device)?;
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::Train { config, data, workers, batches, batch_size, device, .. } => {
                train(&config, data.as_deref(), workers, batches, batch_size, &device)?;
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::Peers { dataset, list, nanotrack, config, weights, threads, rounds, out } => {
                peers(&PeersRun { dataset, list, nanotrack, config, weights, threads, rounds: rounds.max(1), out })?;
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::TrainRow { preset, batch_size, steps, device } => {
                let row = train_row(&preset, batch_size, steps, &device)?;
                println!("{}", serde_json::to_string(&row)?);
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::Track { sequence, dataflow, config, device, frames, rounds, sets } => {
                bench_track(sequence, &dataflow, &config, &device, frames, rounds, &sets)?;
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::Batch { config, batches, device, precision, sequences, frames } => {
                bench_batch(&config, &batches, &device, &precision, sequences, frames)?;
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::Model { presets, devices, precisions, iters, warmup, threads } => {
                let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                let mut rows = Vec::new();
                for preset in presets.split(',') {
                    let path = crate::base::presets::resolve_config(preset.trim(), Path::new("."))
                        .map_err(|e| anyhow::anyhow!("preset `{preset}`: {e}"))?;
                    for device in devices.split(',') {
                        for precision in precisions.split(',') {
                            tracing::info!("benchmarking {preset} on {device} ({precision}, {threads} threads)...");
                            rows.push(model_row(Path::new(&path), device.trim(), precision.trim(), iters, warmup, threads)?);
                        }
                    }
                }
                print_model_rows(&rows);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// One benchmark row.
#[derive(Debug, Clone)]
pub(crate) struct ModelRow {
    /// Preset name.
    pub preset: String,
    /// Device it ran on.
    pub device: String,
    /// Precision.
    pub precision: String,
    /// trackflow: median ms of `template + search → maps` (what upstream runs per frame).
    pub(crate) full_ms: f64,
    /// trackflow: median ms with the template tokens cached (what the tracker runs per frame).
    pub(crate) cached_ms: f64,
    /// PyTorch eager: median ms of `model(template, search)`.
    pub(crate) torch_ms: f64,
}

impl ModelRow {
    /// PyTorch time / trackflow time (above 1: trackflow is faster).
    pub(crate) fn ratio(&self) -> f64 {
        self.torch_ms / self.full_ms
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Times one preset on one device, trackflow then PyTorch, with the same random weights.
pub(crate) fn model_row(cfg_path: &Path, device: &str, precision: &str, iters: usize, warmup: usize, threads: usize) -> Result<ModelRow> {
    let cfg = Config::load(cfg_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let dev = parse_device(device)?;
    let kind = parse_precision(precision, dev)?;
    tch::set_num_threads(threads as i32);
    let mut model = OSTrack::new(&cfg, Parts::All, dev);
    model.randomize(0);
    let weights = std::env::temp_dir().join(format!("trackflow-bench-{}-{}.safetensors", cfg.name, std::process::id()));
    model.save(&weights)?;
    if kind != Kind::Float {
        model.set_kind(kind);
    }
    let d = &cfg.data;
    let c = cfg.input_channels() as i64;
    let z = Tensor::randn([1, c, d.template_size, d.template_size], (kind, dev));
    let x = Tensor::randn([1, c, d.search_size, d.search_size], (kind, dev));
    let backbone = model.backbone()?;
    let head = model.head()?;
    let _g = tch::no_grad_guard();
    let full = || {
        let out = backbone.forward(&z, &x, true, None, false);
        let maps = head.forward_t(&head.tokens_to_map(&out.tokens), false);
        sync(dev);
        maps
    };
    let z_tokens = backbone.embed_template(&z);
    let cached = || {
        let out = backbone.forward_tokens(&z_tokens, &x, true, None, false);
        let maps = head.forward_t(&head.tokens_to_map(&out.tokens), false);
        sync(dev);
        maps
    };
    let args = serde_json::json!({
        "config": cfg, "weights": weights, "device": match dev { Device::Cuda(i) => format!("cuda:{i}"), _ => "cpu".into() },
        "precision": precision, "threads": threads,
    });
    let mut torch = crate::base::python::Server::start("ostrack_torch.py", &args.to_string())?;
    let _ = std::fs::remove_file(&weights);
    // Rounds alternate between trackflow and PyTorch so both see the same machine load.
    let (mut full_t, mut cached_t, mut torch_t) = (Vec::new(), Vec::new(), Vec::new());
    let per_round = 5.min(iters.max(1));
    let rounds = iters.div_ceil(per_round);
    let time = |f: &dyn Fn() -> crate::model::HeadMaps, n: usize, out: &mut Vec<f64>| {
        for _ in 0..n {
            let t = Instant::now();
            f();
            out.push(t.elapsed().as_secs_f64() * 1e3);
        }
    };
    let mut scratch = Vec::new();
    time(&full, warmup, &mut scratch);
    time(&cached, warmup, &mut scratch);
    torch.times(warmup)?;
    for _ in 0..rounds {
        time(&full, per_round, &mut full_t);
        torch_t.extend(torch.times(per_round)?);
        time(&cached, per_round, &mut cached_t);
    }
    let (full_ms, cached_ms, torch_ms) = (median(full_t), median(cached_t), median(torch_t));
    Ok(ModelRow { preset: cfg.name.clone(), device: format!("{dev:?}"), precision: precision.into(), full_ms, cached_ms, torch_ms })
}

/// Prints rows as a table.
pub(crate) fn print_model_rows(rows: &[ModelRow]) {
    println!(
        "{:<36} {:<8} {:<5} {:>14} {:>9} {:>16} {:>14} {:>9} {:>12}",
        "preset", "device", "prec", "trackflow ms", "fps", "cached-tmpl ms", "pytorch ms", "fps", "speed ratio"
    );
    for r in rows {
        println!(
            "{:<36} {:<8} {:<5} {:>14.2} {:>9.1} {:>16.2} {:>14.2} {:>9.1} {:>11.2}x",
            r.preset,
            r.device,
            r.precision,
            r.full_ms,
            1e3 / r.full_ms,
            r.cached_ms,
            r.torch_ms,
            1e3 / r.torch_ms,
            r.ratio()
        );
    }
    println!("(median of the timed iterations; speed ratio = pytorch ms / trackflow ms, same weights, same threads)");
}

/// Latency and throughput of one tracking path.
#[derive(Debug, Clone)]
pub(crate) struct TrackStats {
    /// Path name.
    pub name: String,
    /// Per-frame latency from the start of the search crop to the box, ms: median.
    pub(crate) median_ms: f64,
    /// Same, 95th percentile.
    pub(crate) p95_ms: f64,
    /// Boxes per second over the sequence (first box to last).
    pub fps: f64,
}

/// Summarises per-frame latencies (s) and box arrival times (ns), frame 0 excluded.
pub(crate) fn track_stats(name: &str, latencies_s: &[f64], arrivals_ns: &[i64]) -> TrackStats {
    let mut l: Vec<f64> = latencies_s.iter().skip(1).map(|s| s * 1e3).collect();
    l.sort_by(f64::total_cmp);
    let pick = |q: f64| if l.is_empty() { f64::NAN } else { l[((l.len() - 1) as f64 * q).round() as usize] };
    let span = (arrivals_ns.last().copied().unwrap_or(0) - arrivals_ns.get(1).copied().unwrap_or(0)) as f64 * 1e-9;
    TrackStats {
        name: name.into(),
        median_ms: pick(0.5),
        p95_ms: pick(0.95),
        fps: (arrivals_ns.len().saturating_sub(2)) as f64 / span.max(1e-9),
    }
}

/// Prints the fused and dataflow rows and the dataflow's overhead.
pub(crate) fn print_track_stats(fused: &TrackStats, flow: &TrackStats, identical: bool) {
    println!("{:<10} {:>14} {:>12} {:>10}", "path", "median ms", "p95 ms", "fps");
    for s in [fused, flow] {
        println!("{:<10} {:>14.2} {:>12.2} {:>10.1}", s.name, s.median_ms, s.p95_ms, s.fps);
    }
    println!(
        "dataflow overhead: {:+.1}% per frame (median latency {:.2} ms vs {:.2} ms, {:+.2} ms of plumbing); throughput ratio {:.2}",
        100.0 * (flow.median_ms / fused.median_ms - 1.0),
        flow.median_ms,
        fused.median_ms,
        flow.median_ms - fused.median_ms,
        flow.fps / fused.fps
    );
    println!("boxes identical on both paths: {}", if identical { "yes" } else { "NO" });
}

/// `trackflow bench train`: samples/s from the loader threads alone, samples/s through the
/// trainer on a ready batch, and their ratio (below 1: the trainer would wait for data).
pub fn train(config: &str, data: Option<&Path>, workers: usize, batches: usize, batch_size: Option<i64>, device: &str) -> Result<()> {
    use std::sync::Arc;

    use crate::train::{Init, Loader, Trainer, sampler::PairSampler};
    let mut cfg = Config::from_name(config)?;
    if let Some(b) = batch_size {
        cfg.train.batch_size = b;
    }
    let b = cfg.train.batch_size;
    let tmp;
    let root = match data {
        Some(d) => d.to_path_buf(),
        None => {
            tmp = crate::base::paths::cache_dir().join("bench-train-data");
            if !tmp.join("list.txt").is_file() {
                crate::data::synth::generate(&tmp, &crate::data::synth::SynthOptions { sequences: 8, frames: 40, ..Default::default() })?;
            }
            tmp.clone()
        }
    };
    let ds = crate::data::datasets::TrainDataset {
        name: "SYNTH".into(),
        pairs: crate::data::datasets::PairKind::Video,
        sequences: crate::data::datasets::got10k(&root, None, "SYNTH")?,
    };
    let sampler = Arc::new(PairSampler::new(vec![ds], &[1.0], &cfg)?);
    let mut loader = Loader::new(sampler, &cfg, workers, 7, batches + 1);
    // Loader alone: every batch requested at once, timed until the last arrives.
    let t0 = Instant::now();
    for i in 0..batches {
        loader.request(1, i as i64, b)?;
    }
    let mut last = None;
    for _ in 0..batches {
        last = loop {
            if let Some(x) = loader.next_ready(std::time::Duration::from_secs(1))? {
                break Some(x);
            }
        };
    }
    let load_s = t0.elapsed().as_secs_f64();
    let batch = last.expect("at least one batch");
    drop(loader);
    let device = parse_device(device)?;
    let mut trainer = Trainer::new(&cfg, device, 7, &Init::Random)?;
    trainer.step(&batch)?; // warm-up
    let mut step_ms = Vec::new();
    for _ in 0..batches {
        let t = Instant::now();
        trainer.step(&batch)?;
        if device != Device::Cpu {
            tch::Cuda::synchronize(0);
        }
        step_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let step = median(step_ms);
    let produce = (batches as i64 * b) as f64 / load_s;
    let consume = b as f64 * 1e3 / step;
    println!("config {} (batch {b}), device {device:?}, {workers} loader thread(s), {batches} batches each", cfg.name);
    println!("  data pipeline : {produce:8.1} samples/s ({:.1} ms per batch)", load_s * 1e3 / batches as f64);
    println!("  trainer step  : {consume:8.1} samples/s ({step:.1} ms per step, median)");
    println!(
        "  produce/consume ratio {:.2} ({})",
        produce / consume,
        if produce >= consume { "the trainer is not starved" } else { "the trainer would wait for data: add loader threads" }
    );
    Ok(())
}

/// What `bench peers` compares.
#[derive(Debug, Clone)]
pub(crate) struct PeersRun {
    /// Annotated sequences.
    pub dataset: PathBuf,
    /// Sequence list within `dataset`.
    pub list: Option<PathBuf>,
    /// NanoTrack v2's ONNX folder.
    pub(crate) nanotrack: PathBuf,
    /// trackflow's config.
    pub config: String,
    /// trackflow's weights.
    pub weights: Option<PathBuf>,
    /// trackflow's libtorch threads.
    pub threads: i32,
    /// Rounds of both trackers.
    pub rounds: usize,
    /// Output folder.
    pub out: PathBuf,
}

/// The NanoTrack v2 runner: the peer side of `bench peers`, embedded so that an installed
/// binary has it too; written next to the results before each run.
const NANOTRACK_PEER: &str = include_str!("../../python/nanotrack_peer.py");

/// `trackflow bench peers`: both trackers over the same frames, alternating, then one table.
pub(crate) fn peers(run: &PeersRun) -> Result<()> {
    use crate::data::sequence::{Frames, Layout, discover};
    use crate::eval::analyze::{Protocol, analyze};
    // What is missing is said before anything runs, in one line each.
    for f in ["nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx"] {
        if !run.nanotrack.join(f).is_file() {
            bail!("--nanotrack {}: no {f} there; pass the folder holding NanoTrack v2's two ONNX files", run.nanotrack.display());
        }
    }
    let py = crate::base::python::interpreter()?;
    let probe = std::process::Command::new(&py).args(["-c", "import cv2; cv2.TrackerNano_create"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        bail!(
            "bench peers runs NanoTrack v2 through OpenCV's contrib trackers, which {} lacks: {} -m pip install opencv-contrib-python-headless==5.0.0.93 (scripts/setup installs it)",
            py.display(),
            py.display()
        );
    }
    std::fs::create_dir_all(&run.out).with_context(|| format!("cannot create {}", run.out.display()))?;
    let out = std::path::absolute(&run.out)?;
    let data = match &run.list {
        None => std::path::absolute(&run.dataset)?,
        Some(list) => super::evaluate::select(&run.dataset, list, &out.join("sequences"))?,
    };
    // The peer reads the frames and first boxes trackflow's readers find: the same input.
    let seqs = discover(&data, Layout::Auto)?;
    let mut manifest = Vec::new();
    let mut frames = 0usize;
    for s in &seqs {
        let Frames::Files(files) = &s.frames else { bail!("{}: bench peers reads image sequences, not videos", s.name) };
        let files: Vec<String> =
            files.iter().map(|f| std::path::absolute(f).map(|f| f.display().to_string())).collect::<std::io::Result<_>>()?;
        frames += files.len();
        manifest.push(serde_json::json!({"name": s.name, "frames": files, "init": s.init_box()?}));
    }
    let manifest_path = out.join("manifest.json");
    crate::base::fs::write_atomic(&manifest_path, serde_json::json!({ "sequences": manifest }).to_string().as_bytes())?;
    let script = out.join("nanotrack_peer.py");
    crate::base::fs::write_atomic(&script, NANOTRACK_PEER.as_bytes())?;
    let exe = std::env::current_exe().context("cannot find the trackflow executable")?;
    let (ours, theirs) = (out.join("trackflow"), out.join("nanotrack"));
    let mut walls = [f64::INFINITY; 2];
    // Per-frame time of each tracker's fastest round (the result files hold the last round's).
    let mut frame_seconds = [f64::INFINITY; 2];
    tracing::info!("{} sequence(s), {frames} frames; {} round(s) of both trackers", seqs.len(), run.rounds);
    for round in 0..run.rounds {
        for k in 0..2 {
            // Alternate who goes first, so that neither always runs on a warmer cache.
            let which = (k + round) % 2;
            let mut c = if which == 0 {
                let mut c = std::process::Command::new(&exe);
                c.arg("track").arg(&data).args(["--config", &run.config, "--threads", &run.threads.to_string(), "--out"]).arg(&ours);
                if let Some(w) = &run.weights {
                    c.arg("--weights").arg(w);
                }
                c
            } else {
                let mut c = std::process::Command::new(&py);
                c.arg(&script).arg(&manifest_path).arg(std::path::absolute(&run.nanotrack)?).arg(&theirs);
                c
            };
            let started = Instant::now();
            let o = c.stdout(std::process::Stdio::null()).output().context("cannot start a tracker")?;
            let wall = started.elapsed().as_secs_f64();
            if !o.status.success() {
                bail!("{} failed ({}):\n{}", ["trackflow", "NanoTrack v2"][which], o.status, String::from_utf8_lossy(&o.stderr).trim());
            }
            walls[which] = walls[which].min(wall);
            let dir = if which == 0 { &ours } else { &theirs };
            frame_seconds[which] = frame_seconds[which].min(result_seconds(dir, &seqs));
            tracing::info!("round {}: {} {wall:.1} s", round + 1, ["trackflow", "NanoTrack v2"][which]);
        }
    }
    let name = Path::new(&run.config).file_stem().map_or(run.config.clone(), |s| s.to_string_lossy().into_owned());
    let trackers = [(format!("trackflow {name}"), ours.clone()), ("NanoTrack v2".to_string(), theirs.clone())];
    let scores = analyze(Protocol::OTB, &data, &trackers)?;
    let col = |t: &crate::eval::analyze::TrackerScores, c: &str| {
        Protocol::OTB.columns().iter().position(|x| *x == c).and_then(|i| t.values.get(i).copied()).unwrap_or(f64::NAN)
    };
    let mut table = format!(
        "{} sequence(s), {frames} frames ({}); OTB protocol; frames/s of each tracker's fastest of {} run(s): per frame from its result times (decoding excluded), and for the whole process (start-up and JPEG decoding included)\n\n",
        seqs.len(),
        data.display(),
        run.rounds
    );
    table.push_str("| tracker | AUC | OP75 | P@20 | frames/s per frame | frames/s whole process |\n|---|---|---|---|---|---|\n");
    for ((t, wall), seconds) in scores.iter().zip(walls).zip(frame_seconds) {
        table.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |\n",
            t.name,
            col(t, "AUC"),
            col(t, "OP75"),
            col(t, "P@20"),
            frames as f64 / seconds.max(1e-9),
            frames as f64 / wall
        ));
    }
    print!("{table}");
    crate::base::fs::write_atomic(&out.join("table.md"), table.as_bytes())?;
    Ok(())
}

/// Seconds of tracking recorded in the `<seq>_time.txt` files of `dir` (decoding excluded).
fn result_seconds(dir: &Path, seqs: &[crate::data::sequence::Sequence]) -> f64 {
    seqs.iter()
        .map(|s| crate::data::results::read_value_rows(&dir.join(format!("{}_time.txt", s.name))).unwrap_or_default())
        .map(|rows| rows.values.iter().filter(|v| !v.is_nan()).sum::<f64>())
        .sum()
}

/// One row of the recipe's cost: a training step's median time and the process's peak memory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct TrainRow {
    /// Preset name.
    pub preset: String,
    /// Samples per step.
    pub batch_size: i64,
    /// Device, as libtorch names it.
    pub device: String,
    /// Median milliseconds of one step (forward, loss, backward, AdamW).
    pub(crate) step_ms: f64,
    /// Peak resident memory of the process, bytes (`VmHWM`).
    pub(crate) peak_rss: u64,
    /// GPU memory the process holds after the last step (the caching allocator keeps the step's
    /// peak, plus the CUDA context), bytes, from `nvidia-smi`; 0 where it cannot be read.
    pub(crate) peak_gpu: u64,
}

/// `trackflow bench train --presets …`: every preset × batch size in a child process of its own
/// (peak memory is per process), then one markdown table.
pub(crate) fn train_steps(presets: &[String], batch_sizes: &[i64], steps: usize, device: &str) -> Result<()> {
    for &b in batch_sizes {
        if b < 1 {
            bail!("--batch-sizes: {b} is not a batch size (1 or more)");
        }
    }
    let exe = std::env::current_exe().context("cannot find the trackflow executable")?;
    let mut rows = Vec::new();
    for preset in presets {
        // A bad preset name fails here, before any child starts.
        Config::from_name(preset).with_context(|| format!("--presets: `{preset}`"))?;
        for &b in batch_sizes {
            tracing::info!("timing {preset} at batch {b} on {device} ({} steps after one warm-up)...", steps.max(1));
            let o = std::process::Command::new(&exe)
                .args(["bench", "train-row", preset, &b.to_string(), &steps.max(1).to_string(), device])
                .stderr(std::process::Stdio::inherit())
                .output()
                .context("cannot start the benchmark row")?;
            if !o.status.success() {
                bail!("{preset} at batch {b}: the benchmark process failed ({})", o.status);
            }
            let text = String::from_utf8_lossy(&o.stdout);
            let line = text.lines().last().unwrap_or_default();
            rows.push(
                serde_json::from_str::<TrainRow>(line).with_context(|| format!("{preset} at batch {b}: unexpected output `{line}`"))?,
            );
        }
    }
    let threads = tch::get_num_threads();
    println!("training step, random weights and data, {threads} CPU thread(s) where on the CPU:\n");
    println!(
        "| preset | batch | device | step (ms, median) | samples/s | peak host memory (GiB) | GPU memory held after the last step (GiB, nvidia-smi) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let gpu = if r.peak_gpu > 0 { format!("{:.2}", r.peak_gpu as f64 / (1u64 << 30) as f64) } else { "–".into() };
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {gpu} |",
            r.preset,
            r.batch_size,
            r.device,
            r.step_ms,
            r.batch_size as f64 * 1e3 / r.step_ms,
            r.peak_rss as f64 / (1u64 << 30) as f64
        );
    }
    Ok(())
}

/// Times `steps` training steps of `preset` at `batch_size` on random crops and boxes.
pub(crate) fn train_row(preset: &str, batch_size: i64, steps: usize, device: &str) -> Result<TrainRow> {
    use crate::train::{Batch, Init, Trainer};
    let cfg = Config::from_name(preset)?;
    let device = parse_device(device)?;
    let (t, s, c) = (cfg.data.template_size, cfg.data.search_size, cfg.input_channels() as i64);
    // Boxes near the search centre, as the sampler's are; the values do not change the cost.
    tch::manual_seed(7);
    let crops = Tensor::randn([batch_size * c * (t * t + s * s)], (Kind::Float, Device::Cpu));
    let boxes = Tensor::rand([batch_size, 4], (Kind::Float, Device::Cpu)) * 0.1 + Tensor::from_slice(&[0.4f32, 0.4, 0.15, 0.15]);
    let mut data: Vec<f32> = Vec::try_from(crops)?;
    data.extend(Vec::<f32>::try_from(boxes.flatten(0, -1))?);
    let batch = Batch { epoch: 1, index: 0, size: batch_size, template_size: t, search_size: s, channels: c, data };
    let mut trainer = Trainer::new(&cfg, device, 7, &Init::Random)?;
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    trainer.step(&batch)?; // warm-up: allocations, kernel choices
    sync();
    let mut times = Vec::new();
    for _ in 0..steps.max(1) {
        let started = Instant::now();
        trainer.step(&batch)?;
        sync();
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(TrainRow {
        preset: cfg.name.clone(),
        batch_size,
        device: format!("{device:?}"),
        step_ms: median(times),
        peak_rss: peak_rss().unwrap_or(0),
        peak_gpu: if matches!(device, Device::Cuda(_)) { gpu_memory_used().unwrap_or(0) } else { 0 },
    })
}

/// This process's peak resident memory (`VmHWM` in /proc/self/status), bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// GPU memory this process holds now, bytes, from `nvidia-smi` (libtorch's allocator statistics
/// are not reachable through tch); measured right after the last step, the caching allocator
/// still holds the step's peak.
fn gpu_memory_used() -> Option<u64> {
    let o = std::process::Command::new("nvidia-smi")
        .args(["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
        .output()
        .ok()?;
    let me = std::process::id().to_string();
    String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
        let (pid, mib) = l.split_once(',')?;
        (pid.trim() == me).then(|| mib.trim().parse::<u64>().ok().map(|m| m << 20)).flatten()
    })
}

/// `trackflow bench live`: a 640×480 clip played as a camera at `fps` through
/// `dataflows/live.kdl` (newest frame wins); prints capture-to-box latency and the fraction of
/// frames the tracker processed.
pub fn live(config: &str, device: &str, fps: f64, seconds: f64) -> Result<()> {
    use anyhow::Context;
    let dir = crate::base::paths::cache_dir().join("bench-live");
    let frames = (fps * seconds).round().max(1.0) as usize;
    let clip = dir.join(format!("clip_{frames}.mp4"));
    let seq = dir.join("data").join("live_0001");
    if !clip.is_file() {
        crate::data::synth::generate(
            &dir.join("data"),
            &crate::data::synth::SynthOptions {
                sequences: 1,
                frames,
                width: 640,
                height: 480,
                seed: 3,
                prefix: "live".into(),
                ..Default::default()
            },
        )?;
        let st = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-framerate", &format!("{fps}"), "-i"])
            .arg(seq.join("%08d.jpg"))
            .args(["-pix_fmt", "yuv420p"])
            .arg(&clip)
            .status()
            .context("cannot run ffmpeg")?;
        anyhow::ensure!(st.success(), "ffmpeg could not make {}", clip.display());
    }
    let init = crate::data::sequence::read_boxes(&seq.join("groundtruth.txt"))?[0];
    let sets: Vec<crate::dataflow::ParamOverride> = [
        format!("camera.url={}", clip.display()),
        "camera.loop=#false".into(),
        format!("camera.fps={fps}"),
        format!("tracker.config={config:?}"),
        format!("tracker.device={device:?}"),
        format!("tracker.init-box={},{},{},{}", init[0], init[1], init[2], init[3]),
        "view.port=0".into(),
    ]
    .into_iter()
    .map(|text| crate::dataflow::ParamOverride { text })
    .collect();
    let flow_path = crate::base::resources::file("dataflows/live.kdl");
    let bins = crate::dataflow::dora::NodeProgram::current()?;
    let flow = crate::dataflow::launch::prepare(&flow_path, &sets, &bins)?;
    let yaml = crate::dataflow::dora::write_yaml(&flow, &bins)?;
    let dora = crate::dataflow::launch::find_dora()?;
    let log = dir.join("dora.log");
    let out = std::fs::File::create(&log)?;
    let mut cmd = crate::dataflow::launch::supervised_dora(&dora);
    cmd.arg("run").arg(&yaml).stdout(out.try_clone()?).stderr(out);
    let mut child = cmd.spawn()?;
    let st =
        crate::dataflow::launch::wait_bounded(&mut child, Some(std::time::Duration::from_secs_f64(seconds + 120.0)), "the live dataflow")?;
    let text = std::fs::read_to_string(&log)?;
    let summary =
        text.lines().rev().find(|l| l.contains("live summary")).with_context(|| format!("no live summary in {}", log.display()))?;
    anyhow::ensure!(st.success(), "the live dataflow failed; see {}", log.display());
    println!("config {config} on {device}: 640x480 at {fps} fps for {seconds} s through dataflows/live.kdl");
    println!("  {}", summary.split("live summary: ").nth(1).unwrap_or(summary));
    Ok(())
}

/// `trackflow bench track`: fused in this process, then the dataflow under dora, same input.
pub(crate) fn bench_track(
    sequence: Option<PathBuf>,
    dataflow: &Path,
    config: &str,
    device: &str,
    frames: usize,
    rounds: usize,
    extra_sets: &[String],
) -> Result<()> {
    use crate::data::sequence::{Layout, discover};
    use crate::model::{Config, Parts, parse_device};
    use crate::tracker::{TrackOptions, Tracker};

    let seq_path = sequence.unwrap_or_else(|| crate::base::resources::file("demo/sequence"));
    let mut seq = discover(&seq_path, Layout::Auto)?.into_iter().next().context("no sequence")?;
    if frames > 0 {
        seq.truncate(frames);
    }
    let n = seq.len();
    let cfg = Config::from_name(config)?;
    let dir = std::env::temp_dir().join(format!("trackflow-bench-track-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // The weights the dataflow's nodes load (the preset's own, else random from seed 0, as the
    // nodes' default seed), so that both paths time the same tracker.
    let model =
        crate::model::load_tracking_model(&cfg, Parts::All, parse_device(device)?, Kind::Float, &crate::model::Weights::Preset, 0, "")?;
    let mut tracker = Tracker::new(model, TrackOptions::default(), Kind::Float);
    // Rounds alternate the two paths so both see the same (noisy, 2-core) machine; latencies
    // are pooled across rounds and fps averaged.
    let (mut fused_lat, mut fused_fps, mut flow_lat, mut flow_fps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut identical = true;
    for round in 0..rounds.max(1) {
        tracing::info!("round {}: fused: {} ({n} frames, {config}, {device})", round + 1, seq.name);
        let (mut lat, mut arrivals, mut fused_boxes) = (Vec::new(), Vec::new(), Vec::new());
        for (i, im) in seq.reader()?.enumerate() {
            let im = im?;
            let t = std::time::Instant::now();
            let init = if i == 0 { Some(seq.init_box()?) } else { None };
            let b = tracker.step(&im, init)?.bbox;
            lat.push(t.elapsed().as_secs_f64());
            arrivals.push(crate::base::time::now_ns());
            fused_boxes.push(b);
        }
        let fused = track_stats("fused", &lat, &arrivals);
        fused_lat.extend(lat.iter().skip(1).copied());
        fused_fps.push(fused.fps);

        tracing::info!("round {}: dataflow: {}", round + 1, dataflow.display());
        let wrapper = dir.join("bench.kdl");
        let abs = std::path::absolute(dataflow)?;
        let mut kdl = format!("include {:?}\n", abs.display().to_string());
        let flow = crate::dataflow::load(&abs, &[]).map_err(|p| anyhow::anyhow!("{}", p.render(false)))?;
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
        let bins = NodeProgram::current()?;
        let flow = launch::prepare(&wrapper, &sets, &bins)?;
        let yaml = write_yaml(&flow, &bins)?;
        let (status, log) = launch::run(&yaml, Some(Duration::from_secs(1800)), false)?;
        if !status.success() {
            bail!("the dataflow run failed ({status}); dora's log is {}", log.display());
        }
        let times: Vec<f64> =
            std::fs::read_to_string(out.join(format!("{}_time.txt", seq.name)))?.lines().filter_map(|l| l.trim().parse().ok()).collect();
        let stamps: Vec<i64> =
            std::fs::read_to_string(out.join(format!("{}_stamps.txt", seq.name)))?.lines().filter_map(|l| l.trim().parse().ok()).collect();
        let flow_stats = track_stats("dataflow", &times, &stamps);
        flow_lat.extend(times.iter().skip(1).copied());
        flow_fps.push(flow_stats.fps);
        let flow_boxes = std::fs::read_to_string(out.join(format!("{}.txt", seq.name)))?;
        identical &= flow_boxes == crate::data::results::format_boxes(&fused_boxes, crate::data::results::Delimiter::Tab);
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

/// `trackflow bench batch`: the same synthetic sequences tracked in lockstep at each batch size,
/// in one command, with frames/s and the speed-up over batch 1.
fn bench_batch(config: &str, batches: &str, device: &str, precision: &str, sequences: usize, frames: usize) -> Result<()> {
    use crate::tracker::TrackOptions;
    use crate::tracker::batch::{BatchTracker, LockstepInput, track_lockstep};
    let sizes: Vec<usize> = batches
        .split(',')
        .map(|b| b.trim().parse::<usize>().ok().filter(|&b| b > 0).with_context(|| format!("--batches: `{b}` is not a batch size")))
        .collect::<Result<_>>()?;
    let cfg = Config::from_name(config)?;
    let dev = parse_device(device)?;
    let kind = parse_precision(precision, dev)?;
    let dir = std::env::temp_dir().join(format!("trackflow-bench-batch-{}", std::process::id()));
    let opts = crate::data::synth::SynthOptions { sequences, frames, seed: 11, ..Default::default() };
    crate::data::synth::generate_parallel(&dir, &opts, 2)?;
    let seqs = crate::data::sequence::discover(&dir, crate::data::sequence::Layout::Auto)?;
    // Decoded once, so that the table times tracking, not JPEG decoding.
    let decoded: Vec<(String, [f64; 4], Vec<crate::base::image::Image>)> =
        seqs.iter().map(|s| Ok((s.name.clone(), s.init_box()?, s.reader()?.collect::<Result<Vec<_>>>()?))).collect::<Result<_>>()?;
    let _ = std::fs::remove_dir_all(&dir);
    let weights = if crate::model::preset_weights(&cfg).is_some() { crate::model::Weights::Preset } else { crate::model::Weights::Random };
    println!("{sequences} sequences x {frames} frames, `{config}` on {dev:?} ({precision}), lockstep batches:");
    println!("| batch | frames/s | vs batch 1 |");
    println!("|---|---|---|");
    let mut base = None;
    for b in sizes {
        let model = crate::model::load_tracking_model(&cfg, Parts::All, dev, kind, &weights, 0, "")?;
        let mut tracker = BatchTracker::new(model, TrackOptions::default(), kind, b);
        // Untimed warm-up at this batch size (allocator, kernel selection, first-call costs).
        let warm = decoded.iter().take(b).map(|(name, init, ims)| LockstepInput {
            name: name.clone(),
            init_box: *init,
            frames: ims.iter().take(4).cloned().map(Ok),
        });
        track_lockstep(&mut tracker, warm, |_, _, _| {})?;
        let inputs = decoded.iter().map(|(name, init, ims)| LockstepInput {
            name: name.clone(),
            init_box: *init,
            frames: ims.iter().cloned().map(Ok),
        });
        let started = Instant::now();
        let mut tracked = 0usize;
        track_lockstep(&mut tracker, inputs, |_, f, e| {
            tracked += f.len();
            if let Some(e) = e {
                tracing::warn!("warning: {e:#}");
            }
        })?;
        let fps = tracked as f64 / started.elapsed().as_secs_f64();
        let base_fps = *base.get_or_insert(fps);
        println!("| {b} | {fps:.1} | {:.2}x |", fps / base_fps);
    }
    Ok(())
}
