//! `trackflow train <script> <config> --save-dir DIR`: OSTrack's `tracking/train.py` as a run
//! of `dataflows/train.kdl` (sampler → trainer → checkpoint, metrics), with a progress bar
//! that follows `metrics.jsonl`.
//!
//! It says "Finished training" only when the dataflow exited cleanly and the final weights are
//! on disk for the last epoch; anything else is an error naming the log.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::checkpoint;
use super::datasets::Roots;
use crate::dataflow::ParamOverride;
use crate::dataflow::dora::{BinDir, write_yaml};
use crate::model::Config;

/// What to train.
#[derive(Debug, Clone)]
pub struct TrainRun {
    /// Config preset name or file.
    pub config: String,
    /// Output folder: checkpoints/, metrics.jsonl, loss.svg/png, <config>.safetensors.
    pub save_dir: PathBuf,
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
        crate::dataflow::resolve_config(&run.config, Path::new(".")).map_err(|e| anyhow::anyhow!("config `{}`: {e}", run.config))?;
    // Config errors (unknown keys, datasets and ratios of different lengths) before anything starts.
    let cfg = Config::load(Path::new(&config_path)).map_err(|e| anyhow::anyhow!("{}", e.render(crate::launch::color())))?;
    let roots = Roots::load(Some(&run.local), &run.roots.join(","))?;
    for name in &cfg.train.datasets {
        super::datasets::root_of(name, &roots)
            .with_context(|| format!("config `{}` (dataset folders: {})", cfg.name, run.local.display()))?;
    }
    let save_dir = std::path::absolute(&run.save_dir)?;
    std::fs::create_dir_all(&save_dir)?;
    let existing = checkpoint::latest(&save_dir.join("checkpoints"))?;
    if let (false, Some((p, s))) = (run.resume, &existing) {
        bail!(
            "{} already holds a checkpoint of epoch {} ({}); pass --resume to continue it, or choose another --save-dir",
            save_dir.display(),
            s.epoch,
            p.display()
        );
    }
    let abs = |p: &Path| std::path::absolute(p).map(|p| p.display().to_string());
    let mut sets = vec![
        format!("sampler.config={:?}", config_path),
        format!("trainer.config={:?}", config_path),
        format!("sampler.roots={:?}", absolute_roots(&run.roots)?.join(",")),
        format!("sampler.local={:?}", abs(&run.local)?),
        format!("checkpoint.out={:?}", save_dir.display().to_string()),
        format!("checkpoint.name={:?}", cfg.name),
        format!("metrics.out={:?}", save_dir.display().to_string()),
    ];
    if run.resume {
        sets.push(format!("trainer.resume={:?}", save_dir.display().to_string()));
    }
    sets.extend(run.sets.iter().cloned());
    let sets: Vec<ParamOverride> = sets.into_iter().map(|text| ParamOverride { text }).collect();
    let bins = BinDir::current()?;
    let flow = crate::launch::prepare(&run.dataflow, &sets, &bins).map_err(|e| anyhow::anyhow!("{e}"))?;
    let epochs =
        flow.node("trainer").and_then(|n| n.params.get("epochs")).and_then(|v| v.as_i64()).filter(|e| *e > 0).unwrap_or(cfg.train.epochs);
    let yaml = write_yaml(&flow, &bins)?;
    let dora = crate::launch::find_dora()?;
    crate::launch::check_dora_version(&dora)?;
    let log_path = save_dir.join("train.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
    let mut cmd = crate::launch::dora_command(&dora);
    cmd.arg("run").arg(&yaml).stdout(log.try_clone()?).stderr(log);
    eprintln!(
        "training `{}` for {epochs} epochs into {} (log: {}){}",
        cfg.name,
        save_dir.display(),
        log_path.display(),
        if run.resume { ", resuming" } else { "" }
    );
    let mut child = cmd.spawn().context("cannot start dora")?;
    let status = follow(&mut child, &save_dir.join("metrics.jsonl"), run.timeout)?;
    let weights = save_dir.join(format!("{}.safetensors", cfg.name));
    let finished = weights.is_file() && checkpoint::read_state(&weights).map(|s| s.epoch == epochs).unwrap_or(false);
    if !status.success() || !finished {
        let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
        // Node errors are `[node] error: ...` lines (the first line of each error chain).
        let errors: Vec<String> =
            tail.lines().filter(|l| l.contains("] error:")).map(|l| l.chars().take(600).collect::<String>()).collect();
        let shown = errors.iter().take(5).cloned().collect::<Vec<_>>().join("\n  ");
        bail!(
            "training did not finish ({}){}\nthe whole log is {}; `trackflow train ... --resume` continues from the last checkpoint",
            if status.success() { "the final weights were not written".to_string() } else { format!("dora exited with {status}") },
            if shown.is_empty() { String::new() } else { format!(":\n  {shown}") },
            log_path.display()
        );
    }
    eprintln!("Finished training: weights {}, curves {}", weights.display(), save_dir.join("loss.svg").display());
    Ok(weights)
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
fn follow(child: &mut std::process::Child, metrics: &Path, timeout: Option<Duration>) -> Result<std::process::ExitStatus> {
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
        if let Some(st) = child.try_wait()? {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            return Ok(st);
        }
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
