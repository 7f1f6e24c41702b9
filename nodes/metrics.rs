//! The metrics node: appends every step's numbers to `<out>/metrics.jsonl` and, at each
//! epoch's end, redraws the per-epoch loss curves (`loss.svg`, `loss.png`) and prints a line.
//! On a resumed run, rows from after the checkpoint are dropped before the new ones are added,
//! so the file never holds the same step twice.

use super::kinds::*;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dora_node_api::{DoraNode, EventStream};

use super::{Next, Params, next_event};
use crate::eval::plot::{Plot, Series};
use crate::wire::Bytes;

node_params! {
    /// The metrics node's parameters.
    pub struct MetricsParams {
        /// Save folder.
        out: String = param("out", ParamType::Output, Some("\"../output\""), "save folder"),
        /// Seconds without input before giving up.
        idle_timeout: f64 = IDLE_TIMEOUT,
    }
}

/// The `metrics` node kind: its ports and parameters, checked by `trackflow check`.
pub static KIND: NodeKind = NodeKind {
    name: "metrics",
    doc: "appends step metrics to metrics.jsonl and draws the loss curves (loss.svg, loss.png) each epoch",
    inputs: &[input("metrics", MessageType::Metrics, true)],
    outputs: &[],
    params: MetricsParams::SPECS,
};

/// The node's event loop.
pub fn run(_node: &mut DoraNode, events: &mut EventStream, p: &Params) -> Result<()> {
    let q: MetricsParams = p.typed()?;
    let out = PathBuf::from(&q.out);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("metrics.jsonl");
    let idle = p.idle();
    let mut file: Option<std::fs::File> = None;
    loop {
        match next_event(events, idle)? {
            Next::Input { metadata, data, .. } => {
                let msg = Bytes::decode("metrics", &metadata.parameters, &data)?;
                let row: serde_json::Value = serde_json::from_slice(msg.data).context("metrics message is not JSON")?;
                if file.is_none() {
                    truncate_from(&path, msg.epoch, msg.batch)?;
                    file = Some(std::fs::OpenOptions::new().create(true).append(true).open(&path)?);
                }
                let f = file.as_mut().expect("opened above");
                writeln!(f, "{row}")?;
                f.flush()?;
                let batches = row["batches"].as_i64().unwrap_or(1);
                if msg.batch + 1 == batches {
                    let epochs = epoch_means(&path)?;
                    if let Some(last) = epochs.last() {
                        tracing::info!(
                            "[{}] epoch {} of {}: loss {:.4} (giou {:.4}, l1 {:.4}, focal {:.4}), IoU {:.3}, {:.1} samples/s",
                            p.node_id,
                            msg.epoch,
                            row["epochs"],
                            last.1[0],
                            last.1[1],
                            last.1[2],
                            last.1[3],
                            last.1[4],
                            row["samples_per_s"].as_f64().unwrap_or(0.0)
                        );
                    }
                    write_plots(&out, &epochs)?;
                }
            }
            Next::Closed(_) => {}
            Next::Stop => return Ok(()),
        }
    }
}

const TERMS: [&str; 5] = ["loss", "giou", "l1", "focal", "iou"];

/// Keeps only rows before (epoch, batch), rewriting the file atomically.
fn truncate_from(path: &Path, epoch: i64, batch: i64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| Some((v["epoch"].as_i64()?, v["batch"].as_i64()?)))
                .is_some_and(|k| k < (epoch, batch))
        })
        .collect();
    let dropped = text.lines().count() - kept.len();
    if dropped > 0 {
        tracing::info!("metrics: dropping {dropped} rows from after the resumed checkpoint in {}", path.display());
    }
    let body: String = kept.iter().map(|l| format!("{l}\n")).collect();
    crate::base::fs::write_atomic(path, body.as_bytes())
}

/// Per-epoch means of the loss terms: (epoch, [loss, giou, l1, focal, iou]).
pub(crate) fn epoch_means(path: &Path) -> Result<Vec<(i64, [f64; 5])>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut acc: std::collections::BTreeMap<i64, ([f64; 5], usize)> = Default::default();
    for l in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else { continue };
        let Some(e) = v["epoch"].as_i64() else { continue };
        let entry = acc.entry(e).or_insert(([0.0; 5], 0));
        for (k, t) in TERMS.iter().enumerate() {
            entry.0[k] += v[*t].as_f64().unwrap_or(0.0);
        }
        entry.1 += 1;
    }
    Ok(acc.into_iter().map(|(e, (s, n))| (e, s.map(|x| x / n.max(1) as f64))).collect())
}

/// `loss.svg` and `loss.png`: the epoch means of every term.
pub(crate) fn write_plots(out: &Path, epochs: &[(i64, [f64; 5])]) -> Result<()> {
    if epochs.is_empty() {
        return Ok(());
    }
    let mut x: Vec<f64> = epochs.iter().map(|(e, _)| *e as f64).collect();
    let mut cols: Vec<Vec<f64>> = (0..5).map(|k| epochs.iter().map(|(_, m)| m[k]).collect()).collect();
    if x.len() == 1 {
        // One point draws no line: repeat it so the first epoch is visible.
        x.insert(0, x[0] - 1.0);
        for c in &mut cols {
            c.insert(0, c[0]);
        }
    }
    let y_max = cols.iter().flatten().fold(0.0f64, |a, &b| a.max(b)).max(1e-6) * 1.05;
    let series = TERMS.iter().zip(cols).map(|(t, y)| Series { label: format!("{t} {:.3}", y.last().copied().unwrap_or(0.0)), y }).collect();
    let plot = Plot { title: "training loss (epoch means)".into(), x_label: "epoch".into(), y_label: "value".into(), x, series, y_max };
    crate::base::fs::write_atomic(&out.join("loss.svg"), plot.svg().as_bytes())?;
    let im = plot.png_image();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&im.data, im.width as u32, im.height as u32, image::ExtendedColorType::Rgb8)
        .context("png encode")?;
    use image::ImageEncoder;
    crate::base::fs::write_atomic(&out.join("loss.png"), &png)
}
