//! The sampler node: opens the training sets, then answers each `request` (epoch, batch, size)
//! from the trainer with that batch, made by loader threads. A batch depends only on the run
//! seed and its number, so a resumed run sees exactly the batches it would have seen.

use super::kinds::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, out, poll_event};
use crate::data::datasets::TrainDataset;
use crate::data::datasets::{self, Roots};
use crate::train::Loader;
use crate::train::sampler::PairSampler;
use crate::wire::{Request, batch_part_samples, encode_batch};

/// Opens every dataset the config lists, printing what each holds.
pub(crate) fn open_datasets(cfg: &crate::model::Config, roots: &Roots, specs: &Path) -> Result<Vec<TrainDataset>> {
    let t = &cfg.train;
    if t.datasets.len() != t.datasets_ratio.len() {
        bail!(
            "config `{}`: train.datasets lists {} datasets ({}) but train.datasets-ratio has {} ratios; edit the two lists together",
            cfg.name,
            t.datasets.len(),
            t.datasets.join(", "),
            t.datasets_ratio.len()
        );
    }
    let mut out = Vec::new();
    for name in &t.datasets {
        let ds = datasets::open(name, roots, specs)?;
        let frames: usize = ds.sequences.iter().map(|s| s.len()).sum();
        tracing::info!("{name}: {} sequences, {frames} frames", ds.sequences.len());
        out.push(ds);
    }
    Ok(out)
}

node_params! {
    /// The sampler node's parameters.
    pub struct SamplerParams {
        /// Training config.
        config: String = CONFIG,
        /// Dataset folders, `key=path,...`.
        roots: String = param("roots", ParamType::Str, Some("\"\""), "dataset folders as key=path,key=path (over trackflow.local.kdl)"),
        /// Machine-local file naming dataset folders.
        local: String = param("local", ParamType::Path, Some("\"../trackflow.local.kdl\""), "machine-local file naming dataset folders"),
        /// Folder of split files.
        data_specs: String = param("data-specs", ParamType::Path, Some("\"../configs/data_specs\""), "folder of split files (GOT-10k, LaSOT)"),
        /// Loader threads.
        workers: i64 = param("workers", int(1, 256), Some("2"), "loader threads"),
        /// Run seed.
        seed: i64 = param("seed", ParamType::Int(IntRange::ANY), Some("42"), "run seed: batch b of epoch e is a function of it"),
        /// Fraction of unreadable draws that stops training.
        max_bad_fraction: f64 = param("max-bad-fraction", float(SHARE), Some("0.05"), "stop when more sample attempts than this hit unreadable images"),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `sampler` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "sampler",
    doc: "training pairs: datasets by ratio, causal frame pairs, jitter, crops, augmentation; batches on request",
    inputs: &[input("request", MessageType::Request, true)],
    outputs: &[output("batch", MessageType::Batch)],
    params: SamplerParams::SPECS,
};

/// The node's event loop.
pub fn run(node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: SamplerParams = p.typed()?;
    let cfg = super::train_config(&q.config, [0; 3])?;
    let roots = Roots::load(Some(Path::new(&q.local)), &q.roots)?;
    let specs = PathBuf::from(&q.data_specs);
    let mut sampler = PairSampler::new(open_datasets(&cfg, &roots, &specs)?, &cfg.train.datasets_ratio, &cfg)?;
    sampler.max_bad_fraction = q.max_bad_fraction;
    let workers = q.workers.max(1) as usize;
    let seed = q.seed as u64;
    let mut loader = Loader::new(Arc::new(sampler), &cfg, workers, seed, 64);
    let idle = p.idle();
    let mut last_input = Instant::now();
    let mut sent = 0u64;
    loop {
        // Send whatever is ready, oldest request first.
        while let Some(b) = loader.next_ready(Duration::ZERO)? {
            // A batch larger than one message goes as consecutive parts of whole samples; one
            // that fits goes whole, without a copy.
            let (per_part, epoch, index) = (batch_part_samples(&b), b.epoch, b.index);
            let parts = if b.size <= per_part { vec![b] } else { b.split(per_part) };
            let n = parts.len() as i64;
            for (k, part) in parts.into_iter().enumerate() {
                let meta = encode_batch(&part, k as i64, n);
                node.send_output(out("batch"), meta, part.data)
                    .map_err(|e| anyhow::anyhow!("send batch {epoch}/{index} part {} of {n}: {e}", k + 1))?;
            }
            sent += 1;
        }
        let wait = if loader.pending() > 0 { Duration::from_millis(2) } else { Duration::from_millis(200) };
        match poll_event(events, wait)? {
            Some(Next::Input { metadata, .. }) => {
                let r = Request::decode(&metadata.parameters)?;
                loader.request(r.epoch, r.batch, r.size)?;
                last_input = Instant::now();
            }
            Some(Next::Closed(_)) => {}
            Some(Next::Stop) => break,
            None => {
                if loader.pending() == 0 && last_input.elapsed() > idle {
                    bail!("no request for {:.0} s: the trainer has stalled or died (see its log)", idle.as_secs_f64());
                }
            }
        }
    }
    let (attempts, failures) = loader.sampler.failures.counts();
    if failures > 0 {
        // A warning, so the console shows it next to "Finished training" (the files were named as
        // they were skipped).
        tracing::warn!(
            "[{}] warning: sent {sent} batches; {failures} of {attempts} sample attempts skipped unreadable images (named above and in train.log)",
            p.node_id
        );
    } else {
        tracing::info!("[{}] sent {sent} batches; no unreadable image", p.node_id);
    }
    Ok(())
}
