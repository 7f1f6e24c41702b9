//! The trainer node: holds the model and AdamW, asks the sampler for batches by number (a few
//! ahead, so loading overlaps the step), trains on them in order, and sends step metrics and,
//! at epoch ends, checkpoints. A missing or out-of-order batch is an error, never a silent skip.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, next_event, out};
use crate::train::{Init, Trainer, checkpoint};
use crate::wire::{Bytes, Request, decode_batch};

/// The trainer node's parameters (see its spec in `dataflow/kinds.rs`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrainerParams {
    /// Training config.
    pub config: String,
    /// `auto`, `cpu` or `cuda:N`.
    pub device: String,
    /// Run seed.
    pub seed: i64,
    /// trackflow weights to start from.
    pub init: String,
    /// MAE or MobileNetV2 weights for the backbone.
    pub pretrained: String,
    /// Checkpoint folder to continue from.
    pub resume: String,
    /// Epochs (0: the config's).
    pub epochs: i64,
    /// Samples per epoch (0: the config's).
    pub sample_per_epoch: i64,
    /// Batch size (0: the config's).
    pub batch_size: i64,
    /// Epochs between checkpoints.
    pub checkpoint_every: i64,
    /// Batches asked for ahead.
    pub prefetch: i64,
    /// libtorch CPU threads (0: its default).
    pub threads: i64,
    /// `fp32`, `fp16` or `bf16`.
    pub precision: String,
    /// Data-parallel devices (empty: `device` alone).
    pub devices: String,
    /// Seconds without input before giving up.
    pub idle_timeout: f64,
}

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
    let seed = q.seed as u64;
    let resume_dir = q.resume.as_str();
    let mut trainer =
        match (!resume_dir.is_empty()).then(|| checkpoint::latest(&Path::new(resume_dir).join("checkpoints"))).transpose()?.flatten() {
            Some((path, state)) => {
                eprintln!(
                    "[{}] resuming from {} (epoch {} of {}, step {})",
                    p.node_id,
                    path.display(),
                    state.epoch,
                    cfg.train.epochs,
                    state.step
                );
                Trainer::resume(&cfg, device, &path)?
            }
            None => {
                if !resume_dir.is_empty() {
                    eprintln!("[{}] no checkpoint under {resume_dir}/checkpoints: starting fresh", p.node_id);
                }
                let init = match (q.init.as_str(), q.pretrained.as_str()) {
                    ("", "") => Init::Random,
                    (w, "") => Init::Weights(w.into()),
                    ("", m) => Init::Pretrained(m.into()),
                    _ => bail!("give `init` (trackflow weights) or `pretrained` (MAE or MobileNetV2), not both"),
                };
                Trainer::new(&cfg, device, seed, &init)?
            }
        };
    trainer.set_devices(&devices)?;
    trainer.set_precision(&q.precision)?;
    if devices.len() > 1 {
        eprintln!(
            "[{}] data-parallel over {} replicas: gradients summed onto the first with device-to-device copies (not NCCL)",
            p.node_id,
            devices.len()
        );
    }
    let t = cfg.train.clone();
    // As upstream's DDP: batch-size is per replica, an epoch is sample-per-epoch samples in all.
    let global_batch = t.batch_size * devices.len() as i64;
    let batches = t.sample_per_epoch / global_batch;
    if batches < 1 {
        bail!("sample-per-epoch {} is smaller than the global batch {global_batch}: no batch to train on", t.sample_per_epoch);
    }
    let order: Vec<(i64, i64)> = (trainer.state.epoch + 1..=t.epochs).flat_map(|e| (0..batches).map(move |b| (e, b))).collect();
    if order.is_empty() {
        eprintln!("[{}] already trained for {} epochs; nothing to do", p.node_id, t.epochs);
        return Ok(());
    }
    eprintln!(
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
        let batch = loop {
            match next_event(events, idle)? {
                Next::Input { id, metadata, .. } if id == "saved" => acked.push(Bytes::decode("ack", &metadata.parameters, &empty)?.role),
                Next::Input { metadata, data, .. } => break decode_batch(&metadata.parameters, &data)?,
                Next::Closed(_) => {}
                Next::Stop => bail!("stopped at epoch {epoch} batch {index}, before training finished"),
            }
        };
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
                send_bytes(node, "checkpoint", epoch, trainer.checkpoint_bytes()?)?;
            }
            if last {
                send_bytes(node, "final", epoch, trainer.weights_bytes()?)?;
            }
        }
    }
    eprintln!("[{}] trained {} steps", p.node_id, trainer.state.step);
    if p.has_input("saved") {
        // Stay until the final weights are on disk (bounded by the idle timeout).
        while !acked.iter().any(|r| r == "final") {
            match next_event(events, idle)? {
                Next::Input { id, metadata, .. } if id == "saved" => acked.push(Bytes::decode("ack", &metadata.parameters, &empty)?.role),
                Next::Input { .. } | Next::Closed(_) => {}
                Next::Stop => bail!("stopped before the checkpoint node confirmed the final weights"),
            }
        }
    }
    Ok(())
}

fn send_bytes(node: &mut DoraNode, role: &str, epoch: i64, bytes: Vec<u8>) -> Result<()> {
    let msg = Bytes { ty: "checkpoint", epoch, batch: 0, role: role.to_string(), data: &bytes[..] };
    let meta = msg.encode();
    node.send_output_raw(out("checkpoint"), meta, bytes.len(), |b| b.copy_from_slice(&bytes))
        .map_err(|e| anyhow::anyhow!("send {role}: {e}"))
}
