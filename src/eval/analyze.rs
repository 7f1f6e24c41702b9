//! `trackflow analyze`: scores result folders against a dataset's ground truth with a named
//! protocol, and prints trackers side by side, with every problem in the result files named.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::measures::Issues;
pub use super::protocols::Protocol;
use super::protocols::{DatasetScore, SequenceResults};
use crate::data::sequence::{Layout, discover, read_boxes};

/// One tracker's scores.
#[derive(Debug, Clone)]
pub struct TrackerScores {
    /// Name shown in the table.
    pub name: String,
    /// Values in the protocol's column order (×100).
    pub values: Vec<f64>,
    /// Sequences scored.
    pub sequences: usize,
    /// Sequences without a result file.
    pub missing: Vec<String>,
    /// Problems found in result files, per sequence.
    pub issues: Vec<(String, String)>,
    /// Dataset curves for the plots: (x grid, y) for success, precision, normalised precision.
    pub curves: Vec<(Vec<f64>, Vec<f64>)>,
    /// Per-sequence success AUC ×100 (pytracking protocols), for attribute breakdowns.
    pub per_sequence: Vec<(String, f64)>,
}

/// Scores every tracker's results on every sequence of the dataset.
pub fn analyze(protocol: Protocol, dataset: &Path, trackers: &[(String, PathBuf)]) -> Result<Vec<TrackerScores>> {
    let seqs = discover(dataset, Layout::Auto)?;
    let mut out = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    for (name, dir) in trackers {
        if !dir.is_dir() {
            bail!("results folder {} does not exist", dir.display());
        }
        let mut t = TrackerScores {
            name: name.clone(),
            values: vec![],
            sequences: 0,
            missing: vec![],
            issues: vec![],
            curves: vec![],
            per_sequence: vec![],
        };
        let mut scorer = (protocol.spec().scorer)();
        for s in &seqs {
            let file = dir.join(format!("{}.txt", s.name));
            // One bad file does not hide the next: every problem is collected and reported at once.
            let scored = (|| -> Result<Option<Issues>> {
                let pred = if file.is_file() { Some(read_boxes(&file)?) } else { None };
                if pred.is_none() {
                    t.missing.push(s.name.clone());
                }
                scorer.sequence(SequenceResults { seq: s, pred, file: &file, dir })
            })();
            let issues = match scored {
                Ok(Some(issues)) => issues,
                Ok(None) => continue,
                Err(e) => {
                    bad.push(format!("{e:#}"));
                    continue;
                }
            };
            t.sequences += 1;
            if !issues.is_empty() {
                t.issues.push((s.name.clone(), issues.to_string()));
            }
        }
        if !seqs.is_empty() && t.missing.len() == seqs.len() {
            // A score over no sequence (AO -0.00, AUC NaN) is no score: a wrong folder, most likely.
            bail!(
                "{}: none of the {} sequences of {} has a result file here (expected e.g. {}.txt): nothing to score",
                dir.display(),
                seqs.len(),
                dataset.display(),
                seqs[0].name
            );
        }
        if !bad.is_empty() {
            // Scoring the rest would only hide the problem behind numbers.
            continue;
        }
        let DatasetScore { values, curves, per_sequence } = scorer.finish()?;
        (t.values, t.curves, t.per_sequence) = (values, curves, per_sequence);
        out.push(t);
    }
    if !bad.is_empty() {
        bail!("{} result file(s) cannot be scored:\n  {}", bad.len(), bad.join("\n  "));
    }
    Ok(out)
}

/// The table, then what was missing or wrong in each tracker's files.
pub fn render(protocol: Protocol, scores: &[TrackerScores]) -> String {
    let mut s = format!("{:<24} {:>6}", "tracker", "seqs");
    for c in protocol.columns() {
        s.push_str(&format!(" {c:>9}"));
    }
    s.push('\n');
    for t in scores {
        s.push_str(&format!("{:<24} {:>6}", t.name, t.sequences));
        for v in &t.values {
            s.push_str(&format!(" {v:>9.2}"));
        }
        s.push('\n');
    }
    for t in scores {
        if !t.missing.is_empty() {
            let how = if protocol.spec().scores_missing { "scored as zero boxes, as the devkit does" } else { "not scored" };
            s.push_str(&format!("{}: {} sequence(s) without results ({how}): {}\n", t.name, t.missing.len(), t.missing.join(", ")));
        }
        for (seq, issues) in &t.issues {
            s.push_str(&format!("{}: {seq}:\n{issues}", t.name));
        }
    }
    // Side by side is only fair on the same sequences.
    if !protocol.spec().scores_missing && scores.windows(2).any(|w| w[0].missing != w[1].missing) {
        s.push_str("note: these trackers were scored on different sequence sets (see above); their rows are not comparable\n");
    }
    s
}

/// Per-sequence attributes: an `attrs.txt` in the sequence folder (OTB style: `SV, DEF, FM`),
/// else the LaSOT and UAV123 attribute tables in `configs/data_specs/`.
pub fn attributes(dataset: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let mut tables = std::collections::HashMap::new();
    for t in ["lasot_attributes.tsv", "uav123_attributes.tsv"] {
        let path = crate::base::paths::project_root().join("configs/data_specs").join(t);
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((name, tags)) = line.split_once('\t') {
                tables
                    .insert(name.to_string(), tags.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect::<Vec<_>>());
            }
        }
    }
    let mut out = Vec::new();
    for s in discover(dataset, Layout::Auto)? {
        let from_file = s.dir().and_then(|dir| std::fs::read_to_string(dir.join("attrs.txt")).ok());
        if let Some(text) = from_file {
            let tags = text.split([',', '\n', ' ', '\t']).map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect();
            out.push((s.name.clone(), tags));
        } else if let Some(tags) = tables.get(&s.name) {
            out.push((s.name.clone(), tags.clone()));
        }
    }
    Ok(out)
}

/// Writes a report folder: the table, success and precision plots (SVG and PNG), and the
/// per-attribute AUC breakdown when the dataset has `attrs.txt` files.
pub fn write_report(protocol: Protocol, dataset: &Path, scores: &[TrackerScores], dir: &Path) -> Result<Vec<PathBuf>> {
    use super::plot::{Plot, Series};
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let table = render(protocol, scores);
    let p = dir.join("table.txt");
    crate::base::fs::write_atomic(&p, table.as_bytes())?;
    written.push(p);
    for spec in protocol.spec().plots {
        let k = spec.curve;
        let Some(x) = scores.iter().find_map(|t| t.curves.get(k).map(|c| c.0.clone())) else { continue };
        // The legend lists trackers best first, by the score it shows.
        let mut ranked: Vec<(f64, Series)> = scores
            .iter()
            .filter_map(|t| {
                let y = t.curves.get(k)?.1.clone();
                let score = t.values.get(spec.legend_column).copied().unwrap_or(f64::NAN);
                Some((score, Series { label: format!("{} [{score:.1}]", t.name), y }))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        let series: Vec<Series> = ranked.into_iter().map(|(_, s)| s).collect();
        let plot =
            Plot { title: spec.title.into(), x_label: spec.x_label.into(), y_label: "fraction of frames".into(), x, series, y_max: 1.0 };
        let svg = dir.join(format!("{}.svg", spec.file));
        crate::base::fs::write_atomic(&svg, plot.svg().as_bytes())?;
        let png = dir.join(format!("{}.png", spec.file));
        crate::base::draw::save_png(&plot.png_image(), &png)?;
        written.extend([svg, png]);
    }
    let attrs = attributes(dataset)?;
    if !attrs.is_empty() && protocol.spec().attributes {
        let mut tags: Vec<&String> = attrs.iter().flat_map(|(_, t)| t).collect();
        tags.sort();
        tags.dedup();
        let mut text = format!("{:<10} {:>5}", "attribute", "seqs");
        for t in scores {
            text.push_str(&format!(" {:>14}", t.name));
        }
        text.push('\n');
        for tag in tags {
            let seqs: Vec<&str> = attrs.iter().filter(|(_, t)| t.contains(tag)).map(|(n, _)| n.as_str()).collect();
            text.push_str(&format!("{tag:<10} {:>5}", seqs.len()));
            for t in scores {
                let v: Vec<f64> = t.per_sequence.iter().filter(|(n, _)| seqs.contains(&n.as_str())).map(|(_, a)| *a).collect();
                let auc = if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
                text.push_str(&format!(" {auc:>14.2}"));
            }
            text.push('\n');
        }
        let p = dir.join("attributes.txt");
        crate::base::fs::write_atomic(&p, text.as_bytes())?;
        written.push(p);
    }
    Ok(written)
}
