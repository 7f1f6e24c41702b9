//! `trackflow train <script> <config> --save-dir DIR`: OSTrack's `tracking/train.py` as a run
//! of `dataflows/train.kdl` (sampler → trainer → checkpoint, metrics), with a progress bar
//! that follows `metrics.jsonl`.
//!
//! It says "Finished training" only when the dataflow exited cleanly and the final weights are
//! on disk for the last epoch; anything else is an error naming the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::data::datasets::Roots;
use crate::dataflow::ParamOverride;
use crate::dataflow::dora::{NodeProgram, write_yaml};
use crate::model::Config;
use crate::model::config::Schedule;
use crate::train::checkpoint;

/// What to train.
#[derive(Debug, Clone)]
pub struct TrainRun {
    /// Config preset name or file.
    pub config: String,
    /// Output folder: `checkpoints/`, `metrics.jsonl`, `loss.svg`/`.png`, `<config>.safetensors`.
    pub(crate) save_dir: PathBuf,
    /// Continue from the newest checkpoint in `save_dir`.
    pub resume: bool,
    /// The dataflow to run (`dataflows/train.kdl`).
    pub dataflow: PathBuf,
    /// Dataset roots, `key=path`.
    pub roots: Vec<String>,
    /// Machine-local dataset names.
    pub local: PathBuf,
    /// Extra `node.param=value` overrides.
    pub sets: Vec<String>,
    /// Give up after this long.
    pub timeout: Option<Duration>,
}

/// Runs the training dataflow and follows it.
pub fn train(run: &TrainRun) -> Result<PathBuf> {
    let config_path =
        crate::base::presets::resolve_config(&run.config, Path::new(".")).map_err(|e| anyhow::anyhow!("config `{}`: {e}", run.config))?;
    // Config errors (unknown keys, datasets and ratios of different lengths) before anything starts.
    let cfg = Config::load(Path::new(&config_path)).map_err(|e| anyhow::anyhow!("{}", e.render(crate::dataflow::launch::color())))?;
    let roots = Roots::load(Some(&run.local), &run.roots.join(","))?;
    for name in &cfg.train.datasets {
        crate::data::datasets::root_of(name, &roots)
            .with_context(|| format!("config `{}` (dataset folders: {})", cfg.name, run.local.display()))?;
    }
    let save_dir = std::path::absolute(&run.save_dir)?;
    // Every setting is checked before the save folder is made or locked, and before dora starts.
    let (flow, bins, plan) = checked_flow(run, &cfg, &config_path, &save_dir)?;
    let mut lock = claim_save_dir(run, &cfg, &save_dir)?;
    if let Some(note) = &plan.note {
        tracing::info!("note: {note}");
    }
    let epochs = plan.epochs;
    let yaml = write_yaml(&flow, &bins)?;
    let dora = crate::dataflow::launch::find_dora()?;
    crate::dataflow::launch::check_dora_version(&dora)?;
    let log_path = save_dir.join("train.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open the training log {}", log_path.display()))?;
    let mut tail = crate::dataflow::launch::LogTail::new(&log_path);
    let mut cmd = crate::dataflow::launch::supervised_dora(&dora);
    cmd.arg("run").arg(&yaml).stdout(log.try_clone()?).stderr(log);
    tracing::info!(
        "training `{}` for {epochs} epochs into {} (log: {}){}",
        cfg.name,
        save_dir.display(),
        log_path.display(),
        if run.resume { ", resuming" } else { "" }
    );
    let mut child = cmd.spawn().context("cannot start dora")?;
    lock.add(child.id())?;
    let status = follow(&mut child, &save_dir.join("metrics.jsonl"), &mut tail, run.timeout)?;
    let weights = save_dir.join(format!("{}.safetensors", cfg.name));
    let finished = weights.is_file() && checkpoint::read_state(&weights).map(|s| s.epoch == epochs).unwrap_or(false);
    if !status.success() || !finished {
        // This run's node errors (the log also holds earlier runs of the folder).
        let shown = tail.errors().iter().take(5).map(|l| l.chars().take(600).collect::<String>()).collect::<Vec<_>>().join("\n  ");
        bail!(
            "training did not finish ({}){}\nthe whole log is {}; `trackflow train ... --resume` continues from the last checkpoint",
            if status.success() { "the final weights were not written".to_string() } else { format!("dora exited with {status}") },
            if shown.is_empty() { String::new() } else { format!(":\n  {shown}") },
            log_path.display()
        );
    }
    tracing::info!("Finished training: weights {}, curves {}", weights.display(), save_dir.join("loss.svg").display());
    Ok(weights)
}

/// The training dataflow with this run's settings, checked (types, ranges, node programs), and
/// the trainer's [`Plan`].
fn checked_flow(
    run: &TrainRun,
    cfg: &Config,
    config_path: &str,
    save_dir: &Path,
) -> Result<(crate::dataflow::Dataflow, NodeProgram, Plan)> {
    let abs = |p: &Path| std::path::absolute(p).map(|p| p.display().to_string());
    let mut sets = vec![
        format!("sampler.config={:?}", config_path),
        format!("trainer.config={:?}", config_path),
        format!("sampler.roots={:?}", absolute_roots(&run.roots)?.join(",")),
        format!("sampler.local={:?}", abs(&run.local)?),
        format!("trainer.out={:?}", save_dir.display().to_string()),
        format!("trainer.name={:?}", cfg.name),
        format!("metrics.out={:?}", save_dir.display().to_string()),
    ];
    if run.resume {
        sets.push(format!("trainer.resume={:?}", save_dir.display().to_string()));
    }
    sets.extend(run.sets.iter().cloned());
    let sets: Vec<ParamOverride> = sets.into_iter().map(|text| ParamOverride { text }).collect();
    let bins = NodeProgram::current()?;
    let flow = crate::dataflow::launch::prepare(&run.dataflow, &sets, &bins)?;
    let trainer = flow.node("trainer").with_context(|| format!("{} has no `trainer` node", run.dataflow.display()))?;
    let plan = plan(cfg, &trainer.params)?;
    Ok((flow, bins, plan))
}

/// Makes the save folder and locks it for this run (one run per folder: a `--resume` while the
/// first still runs is refused); a folder with checkpoints needs `--resume`, and resuming needs
/// the preset that wrote them.
fn claim_save_dir(run: &TrainRun, cfg: &Config, save_dir: &Path) -> Result<crate::base::fs::RunLock> {
    std::fs::create_dir_all(save_dir).with_context(|| format!("cannot create the save folder {}", save_dir.display()))?;
    let lock = crate::base::fs::RunLock::acquire(save_dir, "training run")?;
    let existing = checkpoint::latest(&save_dir.join("checkpoints"))?;
    if let (false, Some((p, s))) = (run.resume, &existing) {
        bail!(
            "{} already holds a checkpoint of epoch {} ({}); pass --resume to continue it, or choose another --save-dir",
            save_dir.display(),
            s.epoch,
            p.display()
        );
    }
    if let (true, Some((p, s))) = (run.resume, &existing)
        && s.config != cfg.name
    {
        bail!("{}", checkpoint::preset_mismatch(p, &s.config, &cfg.name));
    }
    Ok(lock)
}

/// What the trainer node will train, worked out here from its parameters and the config with
/// the node's own rules, so a combination it would fail on is refused before dora starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Epochs to train (the `epochs` parameter, or the config's when it is 0).
    pub epochs: i64,
    /// How each epoch splits into batches.
    pub schedule: Schedule,
    /// Said before training when an epoch trains fewer samples than `sample-per-epoch` asks
    /// for (whole global batches only).
    pub note: Option<String>,
}

/// The [`Plan`] of a trainer node with `params` (as checked by the dataflow checker: 0 keeps
/// the config's epochs, samples per epoch and batch size) training `cfg`. An error when an
/// epoch would hold no whole batch.
pub fn plan(cfg: &Config, params: &BTreeMap<String, serde_json::Value>) -> Result<Plan> {
    let int = |key: &str| params.get(key).and_then(serde_json::Value::as_i64).unwrap_or(0);
    let devices = params.get("devices").and_then(serde_json::Value::as_str).unwrap_or("");
    // The trainer runs one replica per listed device, or one on `device`.
    let replicas = devices.split(',').filter(|d| !d.trim().is_empty()).count().max(1) as i64;
    let t = cfg.train.overridden(int("epochs"), int("sample-per-epoch"), int("batch-size"));
    let schedule = t.schedule(replicas).map_err(|e| {
        anyhow::anyhow!(
            "cannot train `{}`: {e}
the values are the config's unless set with --epochs or --set trainer.epochs=, trainer.sample-per-epoch=, trainer.batch-size=",
            cfg.name
        )
    })?;
    let note = (schedule.samples() != t.sample_per_epoch).then(|| {
        format!(
            "sample-per-epoch {} is not a multiple of the global batch {} ({replicas} device(s) × batch-size {}): each epoch trains {} batches, {} samples",
            t.sample_per_epoch,
            schedule.global_batch,
            t.batch_size,
            schedule.batches,
            schedule.samples()
        )
    });
    Ok(Plan { epochs: t.epochs, schedule, note })
}

/// Makes the paths in `key=path` items absolute (the nodes run in another folder).
fn absolute_roots(items: &[String]) -> Result<Vec<String>> {
    items
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (k, v) = item.split_once('=').with_context(|| format!("--root `{item}` is not key=path"))?;
            Ok(format!("{}={}", k.trim(), std::path::absolute(v.trim())?.display()))
        })
        .collect()
}

/// Shows one progress bar per epoch from the metrics file until the child exits.
fn follow(
    child: &mut std::process::Child,
    metrics: &Path,
    log: &mut crate::dataflow::launch::LogTail,
    timeout: Option<Duration>,
) -> Result<std::process::ExitStatus> {
    let started = Instant::now();
    let mut bar: Option<(i64, indicatif::ProgressBar)> = None;
    let mut offset = std::fs::metadata(metrics).map(|m| m.len()).unwrap_or(0);
    let mut partial = String::new();
    loop {
        if let Ok(mut f) = std::fs::File::open(metrics) {
            use std::io::{Read, Seek, SeekFrom};
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0; // rewritten (resume truncation)
            }
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = String::new();
            f.read_to_string(&mut buf)?;
            offset += buf.len() as u64;
            partial.push_str(&buf);
            while let Some(nl) = partial.find('\n') {
                let line: String = partial.drain(..=nl).collect();
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                let (epoch, batch, batches, epochs) = (
                    v["epoch"].as_i64().unwrap_or(0),
                    v["batch"].as_i64().unwrap_or(0),
                    v["batches"].as_i64().unwrap_or(1),
                    v["epochs"].as_i64().unwrap_or(0),
                );
                if bar.as_ref().is_none_or(|(e, _)| *e != epoch) {
                    if let Some((_, b)) = bar.take() {
                        b.finish();
                    }
                    let b = indicatif::ProgressBar::new(batches as u64);
                    b.set_style(
                        indicatif::ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches, {msg}, eta {eta}")
                            .expect("valid template")
                            .progress_chars("=> "),
                    );
                    b.set_prefix(format!("{epoch}/{epochs}"));
                    bar = Some((epoch, b));
                }
                if let Some((_, b)) = &bar {
                    b.set_position(batch as u64 + 1);
                    b.set_message(format!(
                        "loss {:.4}, IoU {:.3}, {:.1} samples/s",
                        v["loss"].as_f64().unwrap_or(f64::NAN),
                        v["iou"].as_f64().unwrap_or(f64::NAN),
                        v["samples_per_s"].as_f64().unwrap_or(0.0)
                    ));
                }
            }
        }
        // The nodes' warnings (partial datasets, skipped files) and errors, above the bar.
        for line in log.new_lines() {
            match &bar {
                Some((_, b)) => b.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
        }
        if let Some(st) = child.try_wait()? {
            for line in log.new_lines() {
                eprintln!("{line}");
            }
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            return Ok(st);
        }
        crate::dataflow::supervise::check_interrupt(child)
            .map_err(|e| e.context("training was interrupted; `trackflow train ... --resume` continues from the last checkpoint"))?;
        if let Some(limit) = timeout
            && started.elapsed() > limit
        {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "training did not finish within {:.0} s and was stopped; --resume continues from the last checkpoint",
                limit.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `trackflow train`: a config and where its data and outputs are, as OSTrack's `tracking/train.py`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// `ostrack`, or `vipt` (prompt tuning on a frozen OSTrack; configs/vipt/).
    pub script: String,
    /// Config name (`vitb_256_mae_ce_32x4_ep300`, `tiny`) or a config file.
    pub config: String,
    /// Output folder.
    #[arg(long, default_value = "output")]
    pub(crate) save_dir: PathBuf,
    /// Continue from the newest checkpoint in --save-dir.
    #[arg(long)]
    pub resume: bool,
    /// Dataset folder by key, e.g. `--root synth=data/synth-train --root got10k_train=/data/got10k/train`
    /// (keys: got10k_train, got10k_val, lasot_train, trackingnet, coco, synth, synth2, depthtrack, lasher, visevent).
    #[arg(long = "root", value_name = "KEY=PATH")]
    pub roots: Vec<String>,
    /// Machine-local file naming dataset folders (`datasets { got10k_train "/data/..." }`).
    #[arg(long, default_value = "trackflow.local.kdl")]
    pub local: PathBuf,
    /// The training dataflow.
    #[arg(long, default_value = "dataflows/train.kdl")]
    pub dataflow: PathBuf,
    /// Override the config's epochs (at least 1).
    #[arg(long, allow_negative_numbers = true, value_parser = epochs_flag)]
    pub epochs: Option<i64>,
    /// Start from trackflow weights.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Start the backbone from pretrained weights: an MAE ViT encoder (`trackflow convert mae`) or
    /// ImageNet MobileNetV2 features for a `stem "mobilenetv2"` preset (`trackflow convert mobilenetv2`).
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    /// Device: auto, cpu, cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run seed.
    #[arg(long, default_value_t = 42)]
    pub seed: i64,
    /// Training precision: fp32; fp16 (CUDA autocast with dynamic loss scaling); bf16 (bfloat16
    /// copies of the network compute, float32 master weights take the steps).
    #[arg(long, default_value = "fp32", value_parser = ["fp32", "fp16", "bf16"])]
    pub precision: String,
    /// Data-parallel training on N GPUs (cuda:0..N-1): one replica each, the config's
    /// batch-size per GPU, global batch N × batch-size, as upstream's `--mode multiple`.
    #[arg(long, value_name = "N")]
    pub gpus: Option<usize>,
    /// Upstream's spelling: `--mode multiple --nproc-per-node N` is `--gpus N`; `single` is one device.
    #[arg(long, value_parser = ["single", "multiple"])]
    pub mode: Option<String>,
    /// Upstream's spelling of `--gpus` (with `--mode multiple`).
    #[arg(long = "nproc-per-node", alias = "nproc_per_node", value_name = "N")]
    pub(crate) nproc_per_node: Option<usize>,
    /// Override a node parameter of the dataflow (repeatable).
    #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
    pub sets: Vec<String>,
}

impl TrainArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let TrainArgs {
            script,
            config,
            save_dir,
            resume,
            roots,
            local,
            dataflow,
            epochs,
            init,
            pretrained,
            device,
            seed,
            precision,
            gpus,
            mode,
            nproc_per_node,
            sets,
        } = self;
        let gpus = data_parallel_gpus(gpus, mode.as_deref(), nproc_per_node)?;
        let cfg = crate::model::Config::from_name(&config)?;
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
        all.push(format!("trainer.precision={precision:?}"));
        if let Some(n) = gpus {
            let list: Vec<String> = (0..n).map(|i| format!("cuda:{i}")).collect();
            all.push(format!("trainer.devices={:?}", list.join(",")));
            // The loader grows with the replicas it feeds: two threads per GPU, unless set by hand.
            if !sets.iter().any(|s| s.starts_with("sampler.workers=")) {
                all.push(format!("sampler.workers={}", 2 * n));
            }
            tracing::info!("data-parallel on {n} GPU(s): global batch {n} × {} (the config's per-GPU batch)", cfg.train.batch_size);
        }
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
        // A file the user names is theirs, relative to where they are; the shipped graph's name
        // finds trackflow's own copy wherever the command runs.
        let dataflow = crate::base::resources::or_shipped(&dataflow);
        let run = crate::cli::train::TrainRun { config, save_dir, resume, dataflow, roots, local, sets: all, timeout: None };
        crate::cli::train::train(&run)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `--epochs N`: a whole number of at least 1. The trainer reads its `epochs` parameter 0 as
/// "the config's", so a 0 (or a negative) typed here would otherwise train the config's count
/// without a word.
pub(crate) fn epochs_flag(text: &str) -> std::result::Result<i64, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(n) => Err(format!("{n} epochs: train at least 1 (leave --epochs out to train the config's epochs)")),
        Err(e) => Err(format!("`{text}` is not a whole number of epochs: {e}")),
    }
}

/// The GPU count of `--gpus N` or upstream's `--mode multiple --nproc-per-node N`, checked
/// against the GPUs this machine has before anything starts.
fn data_parallel_gpus(gpus: Option<usize>, mode: Option<&str>, nproc: Option<usize>) -> Result<Option<usize>> {
    let n = match (gpus, mode, nproc) {
        (None, None | Some("single"), None) => return Ok(None),
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => bail!("give --gpus N, or upstream's --mode multiple --nproc-per-node N, not both"),
        (None, Some("single"), Some(_)) => bail!("--nproc-per-node goes with --mode multiple"),
        (None, Some("multiple"), Some(n)) => n,
        (None, Some("multiple"), None) => bail!("--mode multiple needs --nproc-per-node N (the number of GPUs)"),
        (None, None, Some(n)) => n,
        (Some(n), None, None) => n,
        (None, Some(other), _) => bail!("unknown --mode `{other}`: single or multiple"),
    };
    if n == 0 {
        bail!("--gpus 0: data-parallel training needs at least one GPU (leave the flag out to train on --device)");
    }
    crate::cli::check_gpus(n, "--gpus")?;
    Ok(Some(n))
}
