//! Benchmarks that print numbers (never timed tests): the model forward against PyTorch eager
//! running the same weights in the same command.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use crate::model::{Config, OSTrack, Parts, parse_device, parse_precision};

/// One benchmark row.
#[derive(Debug, Clone)]
pub struct ModelRow {
    /// Preset name.
    pub preset: String,
    /// Device it ran on.
    pub device: String,
    /// Precision.
    pub precision: String,
    /// trackflow: median ms of `template + search → maps` (what upstream runs per frame).
    pub full_ms: f64,
    /// trackflow: median ms with the template tokens cached (what the tracker runs per frame).
    pub cached_ms: f64,
    /// PyTorch eager: median ms of `model(template, search)`.
    pub torch_ms: f64,
}

impl ModelRow {
    /// PyTorch time / trackflow time (above 1: trackflow is faster).
    pub fn ratio(&self) -> f64 {
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
pub fn model_row(cfg_path: &Path, device: &str, precision: &str, iters: usize, warmup: usize, threads: usize) -> Result<ModelRow> {
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
    let mut torch = crate::python::Server::start("ostrack_torch.py", &args.to_string())?;
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
pub fn print_model_rows(rows: &[ModelRow]) {
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
pub struct TrackStats {
    /// Path name.
    pub name: String,
    /// Per-frame latency from the start of the search crop to the box, ms: median.
    pub median_ms: f64,
    /// Same, 95th percentile.
    pub p95_ms: f64,
    /// Boxes per second over the sequence (first box to last).
    pub fps: f64,
}

/// Summarises per-frame latencies (s) and box arrival times (ns), frame 0 excluded.
pub fn track_stats(name: &str, latencies_s: &[f64], arrivals_ns: &[i64]) -> TrackStats {
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
pub fn print_track_stats(fused: &TrackStats, flow: &TrackStats, identical: bool) {
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
            tmp = crate::paths::target_dir().join("bench-train-data");
            if !tmp.join("list.txt").is_file() {
                crate::synth::generate(&tmp, &crate::synth::SynthOptions { sequences: 8, frames: 40, ..Default::default() })?;
            }
            tmp.clone()
        }
    };
    let ds = crate::train::datasets::TrainDataset {
        name: "SYNTH".into(),
        is_image: false,
        sequences: crate::train::datasets::got10k(&root, None, "SYNTH")?,
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

/// `trackflow bench live`: a 640×480 clip played as a camera at `fps` through
/// `dataflows/live.kdl` (newest frame wins); prints capture-to-box latency and the fraction of
/// frames the tracker processed.
pub fn live(config: &str, device: &str, fps: f64, seconds: f64) -> Result<()> {
    use anyhow::Context;
    let dir = crate::paths::target_dir().join("bench-live");
    let frames = (fps * seconds).round().max(1.0) as usize;
    let clip = dir.join(format!("clip_{frames}.mp4"));
    let seq = dir.join("data").join("live_0001");
    if !clip.is_file() {
        crate::synth::generate(
            &dir.join("data"),
            &crate::synth::SynthOptions {
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
    let init = crate::sequence::read_boxes(&seq.join("groundtruth.txt"))?[0];
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
    let flow_path = crate::paths::project_root().join("dataflows/live.kdl");
    let bins = crate::dataflow::dora::BinDir::current()?;
    let flow = crate::launch::prepare(&flow_path, &sets, &bins).map_err(|e| anyhow::anyhow!("{e}"))?;
    let yaml = crate::dataflow::dora::write_yaml(&flow, &bins)?;
    let dora = crate::launch::find_dora()?;
    let log = dir.join("dora.log");
    let out = std::fs::File::create(&log)?;
    let mut cmd = crate::launch::dora_command(&dora);
    cmd.arg("run").arg(&yaml).stdout(out.try_clone()?).stderr(out);
    let mut child = cmd.spawn()?;
    let st = crate::launch::wait_bounded(&mut child, Some(std::time::Duration::from_secs_f64(seconds + 120.0)), "the live dataflow")?;
    let text = std::fs::read_to_string(&log)?;
    let summary =
        text.lines().rev().find(|l| l.contains("live summary")).with_context(|| format!("no live summary in {}", log.display()))?;
    anyhow::ensure!(st.success(), "the live dataflow failed; see {}", log.display());
    println!("config {config} on {device}: 640x480 at {fps} fps for {seconds} s through dataflows/live.kdl");
    println!("  {}", summary.split("live summary: ").nth(1).unwrap_or(summary));
    Ok(())
}
