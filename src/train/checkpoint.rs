//! Checkpoints: one safetensors file holding the weights (under the usual names, so a
//! checkpoint tracks as is), the AdamW moments (`optimizer.*`) and the training state as JSON
//! in the header's `__metadata__` (`trackflow.train_state`). The trainer writes them itself,
//! streaming and atomically ([`write`]), and announces each file with a small notice
//! ([`crate::wire::CheckpointNotice`]): a ViT-B checkpoint (1.1 GB) is far over what one dora
//! message can carry (256 MiB).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use tch::{Kind, Tensor};

/// Metadata key of the training state.
pub(crate) const STATE_KEY: &str = "trackflow.train_state";

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

/// A file [`write`] put in place: what the notice announcing it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, lowercase hex.
    pub(crate) sha256: String,
}

/// Writes named float tensors and metadata as a safetensors file (names sorted, float32),
/// atomically ([`crate::base::fs::write_atomic_with`]), streaming one tensor at a time: ViT-B's
/// checkpoint is 1.1 GB and is never held in memory whole. Returns the size and SHA-256 of what
/// was written, computed on the way out.
pub fn write(path: &Path, tensors: &[(String, Tensor)], metadata: &[(&str, String)]) -> Result<Written> {
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, serde_json::Value> = metadata.iter().map(|(k, v)| (k.to_string(), v.clone().into())).collect();
    header.insert("__metadata__".into(), meta.into());
    let mut offset = 0u64;
    for (name, t) in &sorted {
        let n = t.numel() as u64 * 4;
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": t.size(), "data_offsets": [offset, offset + n]}));
        offset += n;
    }
    let mut h = serde_json::to_vec(&serde_json::Value::Object(header))?;
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut written = 0u64;
    let mut hasher = Sha256::new();
    crate::base::fs::write_atomic_with(path, |w| {
        let mut put = |bytes: &[u8]| -> Result<()> {
            hasher.update(bytes);
            written += bytes.len() as u64;
            w.write_all(bytes).map_err(Into::into)
        };
        put(&(h.len() as u64).to_le_bytes())?;
        put(&h)?;
        let mut buf = Vec::new();
        for (name, t) in &sorted {
            let t = t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
            let values: Vec<f32> = Vec::try_from(t.flatten(0, -1)).with_context(|| format!("tensor {name}"))?;
            buf.clear();
            buf.reserve(values.len() * 4);
            for v in values {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            put(&buf)?;
        }
        Ok(())
    })?;
    debug_assert_eq!(written, 8 + h.len() as u64 + offset);
    Ok(Written { path: path.to_path_buf(), bytes: written, sha256: hex(&hasher.finalize()) })
}

/// The size and SHA-256 of a file, read in 4 MiB pieces (what a receiver of a notice checks).
pub fn digest(path: &Path) -> Result<(u64, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the `__metadata__` of a safetensors file.
pub(crate) fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
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
        .filter_map(|p| Some((epoch_of(&p)?, p)))
        .collect();
    found.sort();
    for (_, p) in found.into_iter().rev() {
        match read_state(&p) {
            Ok(s) => return Ok(Some((p, s))),
            Err(e) => tracing::warn!("warning: skipping unreadable checkpoint: {e:#}"),
        }
    }
    Ok(None)
}

/// The epoch of a checkpoint file name (`OSTrack_ep0012.safetensors` → 12).
fn epoch_of(path: &Path) -> Option<i64> {
    path.file_name()?.to_str()?.strip_prefix("OSTrack_ep")?.strip_suffix(".safetensors")?.parse().ok()
}

/// Keeps the `keep` newest checkpoints in `dir` up to epoch `upto` (the one just confirmed),
/// deleting older ones. Epochs are compared as numbers (epoch 10000 is newer than 9999), and a
/// checkpoint newer than `upto` is never touched: its notice may still be on its way.
pub fn prune(dir: &Path, keep: usize, upto: i64) -> Result<()> {
    let mut found: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| Some((epoch_of(&p)?, p)))
        .filter(|(e, _)| *e <= upto)
        .collect();
    found.sort();
    let n = found.len();
    for (_, p) in found.into_iter().take(n.saturating_sub(keep.max(1))) {
        std::fs::remove_file(&p).with_context(|| format!("cannot remove old checkpoint {}", p.display()))?;
    }
    Ok(())
}

/// The one-line refusal to resume a folder that another preset wrote.
pub(crate) fn preset_mismatch(path: &Path, written_by: &str, this_run: &str) -> String {
    format!(
        "cannot resume: {} was written by preset `{written_by}`, and this run is preset `{this_run}`; resume with `{written_by}` or choose another --save-dir",
        path.display()
    )
}

/// Reads every tensor of a safetensors file into a map.
pub(crate) fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    Ok(Tensor::read_safetensors(path)
        .with_context(|| format!("{} is not a valid safetensors file (truncated?)", path.display()))?
        .into_iter()
        .collect())
}
