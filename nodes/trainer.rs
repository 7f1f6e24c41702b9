//! The trainer node: holds the model and AdamW, asks the sampler for batches by number (a few
//! ahead, so loading overlaps the step), trains on them in order, and sends step metrics. At
//! epoch ends it writes checkpoints into `out` itself (streamed, temporary file, fsync, rename)
//! and announces each with a small notice on `checkpoint`: ViT-B's weights and AdamW moments are
//! 1.1 GB, four times what one dora message may carry, so a checkpoint never travels as one.
//! A missing or out-of-order batch is an error, never a silent skip.

use super::kinds::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, next_event, out};
use crate::train::{Init, Trainer, checkpoint};
use crate::wire::{Bytes, CheckpointNotice, Request, decode_batch};

node_params! {
    /// The trainer node's parameters.
    pub struct TrainerParams {
        /// Training config.
        config: String = CONFIG,
        /// `auto`, `cpu` or `cuda:N`.
        device: String = DEVICE,
        /// Run seed.
        seed: i64 = param("seed", ParamType::Int(IntRange::ANY), Some("42"), "run seed (weights init, drop path, sampling)"),
        /// trackflow weights to start from.
        init: String = param("init", ParamType::Path, Some("\"\""), "start from these trackflow weights (empty: random)"),
        /// MAE or MobileNetV2 weights for the backbone.
        pretrained: String = param("pretrained", ParamType::Path, Some("\"\""), "MAE ViT encoder weights (safetensors) for the backbone"),
        /// Checkpoint folder to continue from.
        resume: String = param("resume", ParamType::Path, Some("\"\""), "checkpoint folder to continue from (empty: start fresh)"),
        /// Epochs (0: the config's).
        epochs: i64 = param("epochs", int(0, 1_000_000), Some("0"), "override the config's epochs (0: keep)"),
        /// Samples per epoch (0: the config's).
        sample_per_epoch: i64 = param("sample-per-epoch", int(0, 1_000_000_000), Some("0"), "override the config's samples per epoch (0: keep)"),
        /// Batch size (0: the config's).
        batch_size: i64 = param("batch-size", int(0, 65536), Some("0"), "override the config's batch size, per device (0: keep)"),
        /// Epochs between checkpoints.
        checkpoint_every: i64 = param("checkpoint-every", int(1, 1_000_000), Some("1"), "epochs between checkpoints (the last epoch always gets one)"),
        /// Batches asked for ahead.
        prefetch: i64 = param("prefetch", int(1, 1024), Some("4"), "batches asked for ahead of the one being trained on"),
        /// libtorch CPU threads (0: its default).
        threads: i64 = param("threads", int(0, 4096), Some("0"), "libtorch CPU threads (0: libtorch's default)"),
        /// `fp32`, `fp16` or `bf16`.
        precision: String = param(
                        "precision",
                        ParamType::Choice(&["fp32", "fp16", "bf16"]),
                        Some("\"fp32\""),
                        "training precision: fp16 is CUDA autocast with dynamic loss scaling; bf16 runs bfloat16 copies over float32 master weights",
                    ),
        /// Data-parallel devices (empty: `device` alone).
        devices: String = param(
                        "devices",
                        ParamType::Str,
                        Some("\"\""),
                        "data-parallel devices, comma-separated (\"cuda:0,cuda:1\"): one replica each, global batch = replicas × batch-size (empty: `device` alone)",
                    ),
        /// Save folder: `checkpoints/OSTrack_epNNNN.safetensors` and `<name>.safetensors`.
        out: String = param(
                        "out",
                        ParamType::Output,
                        Some("\"../output\""),
                        "save folder: the trainer writes checkpoints/OSTrack_epNNNN.safetensors and <name>.safetensors there itself, and announces each on `checkpoint`",
                    ),
        /// File stem of the final weights.
        name: String = param("name", ParamType::Str, Some("\"model\""), "file stem of the final weights"),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `trainer` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "trainer",
    doc: "the model, loss, backward pass and AdamW step; asks the sampler for batches and emits metrics and checkpoints",
    inputs: &[input("batch", MessageType::Batch, true), input("saved", MessageType::Ack, false)],
    outputs: &[
        output("request", MessageType::Request),
        output("metrics", MessageType::Metrics),
        output("checkpoint", MessageType::Checkpoint),
    ],
    params: TrainerParams::SPECS,
};

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: TrainerParams = p.typed()?;
    let cfg = super::train_config(&q.config, [q.epochs, q.sample_per_epoch, q.batch_size])?;
    let threads = q.threads;
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
    let who = format!("[{}] ", p.node_id);
    // Data-parallel: one replica per listed device; the first is the trainer's own.
    let devices: Vec<tch::Device> = match q.devices.as_str() {
        "" => vec![crate::model::parse_device_for(&q.device, &who)?],
        list => list.split(',').map(|d| crate::model::parse_device_for(d.trim(), &who)).collect::<Result<_>>()?,
    };
    let device = devices[0];
    let out_dir = PathBuf::from(&q.out);
    let checkpoints = out_dir.join("checkpoints");
    let mut trainer = open_trainer(&q, &cfg, device, &out_dir, &p.node_id)?;
    trainer.set_devices(&devices)?;
    trainer.set_precision(&q.precision)?;
    if devices.len() > 1 {
        tracing::info!(
            "[{}] data-parallel over {} replicas: gradients summed onto the first with device-to-device copies (not NCCL)",
            p.node_id,
            devices.len()
        );
    }
    let t = cfg.train.clone();
    // As upstream's DDP: batch-size is per replica, an epoch is sample-per-epoch samples in all.
    let s = t.schedule(devices.len() as i64).map_err(anyhow::Error::msg)?;
    let (global_batch, batches) = (s.global_batch, s.batches);
    let order: Vec<(i64, i64)> = (trainer.state.epoch + 1..=t.epochs).flat_map(|e| (0..batches).map(move |b| (e, b))).collect();
    if order.is_empty() {
        tracing::info!("[{}] already trained for {} epochs; nothing to do", p.node_id, t.epochs);
        return Ok(());
    }
    tracing::info!(
        "[{}] training `{}` on {}: epochs {}..={}, {batches} batches of {global_batch} per epoch{}",
        p.node_id,
        cfg.name,
        devices.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", "),
        trainer.state.epoch + 1,
        t.epochs,
        if devices.len() > 1 { format!(" ({} replicas × {})", devices.len(), t.batch_size) } else { String::new() }
    );
    let prefetch = q.prefetch.max(1) as usize;
    let every = q.checkpoint_every.max(1);
    let request = |node: &mut DoraNode, (epoch, batch): (i64, i64)| -> Result<()> {
        let meta = Request { epoch, batch, size: global_batch }.encode();
        node.send_output(out("request"), meta, Vec::<u8>::new()).map_err(|e| anyhow::anyhow!("send request: {e}"))
    };
    for &key in order.iter().take(prefetch) {
        request(node, key)?;
    }
    let idle = p.idle();
    let mut acked: Vec<String> = Vec::new();
    let empty = crate::wire::array_u8(Vec::new());
    let mut epoch_start = Instant::now();
    let mut epoch_samples = 0i64;
    for (i, &(epoch, index)) in order.iter().enumerate() {
        let waited = Instant::now();
        let batch = receive_batch(events, idle, &mut acked, (epoch, index))?;
        if batch.size != global_batch {
            bail!("batch {index} of epoch {epoch} has {} samples, expected {global_batch} (a part was lost)", batch.size);
        }
        if (batch.epoch, batch.index) != (epoch, index) {
            bail!(
                "expected batch {index} of epoch {epoch}, got batch {} of epoch {} (a message was lost or reordered)",
                batch.index,
                batch.epoch
            );
        }
        let wait_ms = waited.elapsed().as_secs_f64() * 1e3;
        if let Some(&next) = order.get(i + prefetch) {
            request(node, next)?;
        }
        if index == 0 {
            epoch_start = Instant::now();
            epoch_samples = 0;
        }
        let started = Instant::now();
        let s = trainer.step(&batch)?;
        let step_ms = started.elapsed().as_secs_f64() * 1e3;
        epoch_samples += batch.size;
        let row = serde_json::json!({
            "epoch": epoch, "batch": index, "batches": batches, "epochs": t.epochs, "step": trainer.state.step,
            "loss": s.loss, "giou": s.giou, "l1": s.l1, "focal": s.focal, "iou": s.iou,
            "grad_norm": s.grad_norm, "lr": s.lr, "keep": s.keep,
            "wait_ms": wait_ms, "step_ms": step_ms,
            "samples_per_s": epoch_samples as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9),
        });
        let bytes = serde_json::to_vec(&row)?;
        let msg = Bytes { ty: "metrics", epoch, batch: index, role: String::new(), data: &bytes[..] };
        node.send_output(out("metrics"), msg.encode(), bytes.clone()).map_err(|e| anyhow::anyhow!("send metrics: {e}"))?;
        if index + 1 == batches {
            trainer.state.epoch = epoch;
            let last = epoch == t.epochs;
            if epoch % every == 0 || last {
                let written = trainer.write_checkpoint(&checkpoints.join(checkpoint::file_name(epoch)))?;
                announce(node, p, "checkpoint", epoch, &written)?;
            }
            if last {
                let written = trainer.write_weights(&out_dir.join(format!("{}.safetensors", q.name)))?;
                announce(node, p, "final", epoch, &written)?;
            }
        }
    }
    tracing::info!("[{}] trained {} steps", p.node_id, trainer.state.step);
    if p.has_input("saved") {
        // Stay until the final weights are on disk (bounded by the idle timeout).
        while !acked.iter().any(|r| r == "final") {
            match next_event(events, idle)? {
                Next::Input { id, metadata, .. } if id == "saved" => acked.push(Bytes::decode("ack", &metadata.parameters, &empty)?.role),
                Next::Closed(id) if id == "saved" => bail!("the checkpoint node exited before it confirmed the final weights"),
                Next::Input { .. } | Next::Closed(_) => {}
                Next::Stop => bail!("stopped before the checkpoint node confirmed the final weights"),
            }
        }
    }
    Ok(())
}

/// The trainer to run: resumed from the newest checkpoint under `resume` when there is one, else
/// new from `init` or `pretrained` (or random). Partial files a killed run left are removed first.
fn open_trainer(q: &TrainerParams, cfg: &crate::model::Config, device: tch::Device, out_dir: &Path, node_id: &str) -> Result<Trainer> {
    let seed = q.seed as u64;
    let checkpoints = out_dir.join("checkpoints");
    // A run killed mid-write (kill -9) leaves its temporary file. A trainer writing into `out`
    // is that folder's only checkpoint writer (`trackflow train` also holds its run lock), so
    // whatever temporary checkpoint or final-weights file is there is stale.
    let stale = crate::base::fs::remove_stale_temporaries(&checkpoints, "")?
        + crate::base::fs::remove_stale_temporaries(out_dir, &format!("{}.safetensors.", q.name))?;
    if stale > 0 {
        tracing::info!("[{node_id}] removed {stale} partial checkpoint file(s) a killed run left in {}", checkpoints.display());
    }
    let resume_dir = q.resume.as_str();
    match (!resume_dir.is_empty()).then(|| checkpoint::latest(&Path::new(resume_dir).join("checkpoints"))).transpose()?.flatten() {
        Some((path, state)) => {
            tracing::info!(
                "[{node_id}] resuming from {} (epoch {} of {}, step {})",
                path.display(),
                state.epoch,
                cfg.train.epochs,
                state.step
            );
            Trainer::resume(cfg, device, &path)
        }
        None => {
            if !resume_dir.is_empty() {
                tracing::info!("[{node_id}] no checkpoint under {resume_dir}/checkpoints: starting fresh");
            }
            let init = match (q.init.as_str(), q.pretrained.as_str()) {
                ("", "") => Init::Random,
                (w, "") => Init::Weights(w.into()),
                ("", m) => Init::Pretrained(m.into()),
                _ => bail!("give `init` (trackflow weights) or `pretrained` (MAE or MobileNetV2), not both"),
            };
            Trainer::new(cfg, device, seed, &init)
        }
    }
}

/// Waits for batch `index` of `epoch`, joining its parts (a large batch arrives as parts, in
/// order: see `wire::BATCH_PART_MAX`) and noting the checkpoint node's acknowledgements on the
/// way. A part out of order or a count that changes is a lost message, never a silent gap.
fn receive_batch(
    events: &mut EventStream,
    idle: std::time::Duration,
    acked: &mut Vec<String>,
    (epoch, index): (i64, i64),
) -> Result<crate::train::Batch> {
    let empty = crate::wire::array_u8(Vec::new());
    let mut parts = Vec::new();
    let mut parts_of_batch: Option<i64> = None;
    loop {
        match next_event(events, idle)? {
            Next::Input { id, metadata, .. } if id == "saved" => acked.push(Bytes::decode("ack", &metadata.parameters, &empty)?.role),
            Next::Input { metadata, data, .. } => {
                let (part, k, n) = decode_batch(&metadata.parameters, &data)?;
                // Every part states the same count as the first, or parts were lost.
                let expected_parts = *parts_of_batch.get_or_insert(n);
                if n != expected_parts {
                    bail!("batch {}/{}: part {} says {n} parts, the first said {expected_parts}", part.epoch, part.index, k + 1);
                }
                if k != parts.len() as i64 {
                    bail!(
                        "batch {}/{}: got part {} of {n}, expected part {} (a message was lost or reordered)",
                        part.epoch,
                        part.index,
                        k + 1,
                        parts.len() + 1
                    );
                }
                parts.push(part);
                if parts.len() as i64 == n {
                    return crate::train::Batch::join(parts);
                }
            }
            // The sampler exited (its error is on the console): no batch will come.
            Next::Closed(id) if id == "batch" => bail!("the batches stopped at epoch {epoch} batch {index}: the sampler exited"),
            Next::Closed(_) => {}
            Next::Stop => bail!("stopped at epoch {epoch} batch {index}, before training finished"),
        }
    }
}

/// Tells the dataflow a checkpoint file is complete and in place (after its rename, so a notice
/// never names a half-written file).
fn announce(node: &mut DoraNode, p: &Params, role: &str, epoch: i64, w: &checkpoint::Written) -> Result<()> {
    tracing::info!("[{}] epoch {epoch}: wrote {} ({:.1} MB)", p.node_id, w.path.display(), w.bytes as f64 / 1e6);
    let path = std::path::absolute(&w.path).unwrap_or_else(|_| w.path.clone()).display().to_string();
    let notice = CheckpointNotice { epoch, role: role.to_string(), path, bytes: w.bytes, sha256: w.sha256.clone() };
    node.send_output(out("checkpoint"), notice.encode(), Vec::<u8>::new()).map_err(|e| anyhow::anyhow!("send {role} notice: {e}"))
}
