//! Checkpoints: one safetensors file holding the weights (under the usual names, so a
//! checkpoint tracks as is), the AdamW moments (`optimizer.*`) and the training state as JSON
//! in the header's `__metadata__` (`trackflow.train_state`). Serialised in memory, so the
//! trainer can hand the bytes to the checkpoint node, which writes them atomically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tch::{Kind, Tensor};

/// Metadata key of the training state.
pub const STATE_KEY: &str = "trackflow.train_state";

/// Where a run stands: enough to continue it exactly.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainState {
    /// Config name.
    pub config: String,
    /// Epochs finished.
    pub epoch: i64,
    /// Optimiser steps taken.
    pub step: i64,
    /// The run's seed: batch `b` of epoch `e` is drawn from it, so this and `epoch` are the
    /// sampler's whole RNG state.
    pub seed: u64,
    /// Epochs the run is for.
    pub epochs: i64,
}

/// Serialises named float tensors and metadata to safetensors bytes (names sorted).
pub fn to_bytes(tensors: &[(String, Tensor)], metadata: &[(&str, String)]) -> Result<Vec<u8>> {
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, serde_json::Value> = metadata.iter().map(|(k, v)| (k.to_string(), v.clone().into())).collect();
    header.insert("__metadata__".into(), meta.into());
    let mut data = Vec::new();
    for (name, t) in sorted {
        let t = t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
        let values: Vec<f32> = Vec::try_from(t.flatten(0, -1)).with_context(|| format!("tensor {name}"))?;
        let start = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": t.size(), "data_offsets": [start, data.len()]}));
    }
    let mut h = serde_json::to_vec(&serde_json::Value::Object(header))?;
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + data.len());
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    Ok(out)
}

/// Reads the `__metadata__` of a safetensors file.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).with_context(|| format!("{}: too short for safetensors", path.display()))?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 {
        bail!("{}: header of {n} bytes; not a safetensors file", path.display());
    }
    let mut h = vec![0u8; n as usize];
    f.read_exact(&mut h).with_context(|| format!("{}: truncated header (interrupted write?)", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&h).with_context(|| format!("{}: header is not JSON", path.display()))?;
    Ok(v.get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default())
}

/// The training state stored in a checkpoint.
pub fn read_state(path: &Path) -> Result<TrainState> {
    let meta = read_metadata(path)?;
    let s = meta.get(STATE_KEY).with_context(|| format!("{}: not a trackflow checkpoint (no {STATE_KEY})", path.display()))?;
    serde_json::from_str(s).with_context(|| format!("{}: bad {STATE_KEY}", path.display()))
}

/// File name of the checkpoint after `epoch` (upstream's `OSTrack_ep%04d`).
pub fn file_name(epoch: i64) -> String {
    format!("OSTrack_ep{epoch:04}.safetensors")
}

/// The newest complete checkpoint in `dir` (highest epoch whose state reads back), if any.
pub fn latest(dir: &Path) -> Result<Option<(PathBuf, TrainState)>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut found: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let n = p.file_name()?.to_str()?.to_string();
            let ep = n.strip_prefix("OSTrack_ep")?.strip_suffix(".safetensors")?.parse().ok()?;
            Some((ep, p))
        })
        .collect();
    found.sort();
    for (_, p) in found.into_iter().rev() {
        match read_state(&p) {
            Ok(s) => return Ok(Some((p, s))),
            Err(e) => eprintln!("warning: skipping unreadable checkpoint: {e:#}"),
        }
    }
    Ok(None)
}

/// Keeps the `keep` newest checkpoints in `dir`, deleting older ones.
pub fn prune(dir: &Path, keep: usize) -> Result<()> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("OSTrack_ep") && n.ends_with(".safetensors")))
        .collect();
    found.sort();
    let n = found.len();
    for p in found.into_iter().take(n.saturating_sub(keep.max(1))) {
        std::fs::remove_file(&p).with_context(|| format!("cannot remove old checkpoint {}", p.display()))?;
    }
    Ok(())
}

/// Reads every tensor of a safetensors file into a map.
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    Ok(Tensor::read_safetensors(path)
        .with_context(|| format!("{} is not a valid safetensors file (truncated?)", path.display()))?
        .into_iter()
        .collect())
}
