//! `trackflow analyze`: scores result folders against a dataset's ground truth with a named
//! protocol, and prints trackers side by side, with every problem in the result files named.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::metrics::*;
use crate::data::sequence::{Layout, Sequence, discover, read_boxes};

/// The protocols `analyze` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// GOT-10k toolkit (val): AO, SR0.5, SR0.75, frame-weighted.
    Got10k,
    /// pytracking on OTB-style datasets.
    Otb,
    /// pytracking on LaSOT (visibility from full_occlusion.txt and out_of_view.txt).
    Lasot,
    /// pytracking on UAV123.
    Uav,
    /// TrackingNet devkit.
    TrackingNet,
    /// RGBT234: maximum precision / success over the visible and infrared ground truths.
    Rgbt234,
    /// DepthTrack / VOT-RGBD: tracking precision, recall and F-score from the confidences.
    DepthTrack,
}

impl Protocol {
    /// Parses a protocol name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "got10k" => Self::Got10k,
            // LasHeR's PR/NPR/SR and VisEvent's precision/success are the OTB measures.
            "otb" | "nfs" | "tnl2k" | "lasher" | "visevent" => Self::Otb,
            "rgbt234" => Self::Rgbt234,
            "depthtrack" | "vot-rgbd" => Self::DepthTrack,
            "lasot" => Self::Lasot,
            "uav" => Self::Uav,
            "trackingnet" => Self::TrackingNet,
            other => bail!("unknown protocol `{other}`: got10k, otb, lasot, uav, trackingnet, lasher, visevent, rgbt234, depthtrack"),
        })
    }
    /// Column names of the table.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Got10k => &["AO", "SR0.5", "SR0.75"],
            Self::TrackingNet => &["Success", "Precision", "N.Prec"],
            Self::Rgbt234 => &["MPR", "MSR"],
            Self::DepthTrack => &["Pr", "Re", "F"],
            _ => &["AUC", "OP50", "OP75", "P@20", "P_norm"],
        }
    }
}

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

/// One sequence's long-term results, kept until the thresholds (from all the tracker's
/// confidences) are known.
struct LongTermRun<'a> {
    pred: Vec<Rect>,
    conf: Vec<f64>,
    gt: &'a [Rect],
    file: PathBuf,
}

fn read_flags(path: &Path) -> Result<Vec<bool>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.split([',', '\n', ' ', '\t']).filter(|s| !s.trim().is_empty()).map(|s| Ok(s.trim() != "0")).collect()
}

fn seq_dir(s: &Sequence) -> Option<PathBuf> {
    s.gt_path.as_ref().and_then(|p| p.parent().map(Path::to_path_buf))
}

/// What the GOT-10k protocol reads beside a sequence's ground truth.
struct Got10kExtras {
    /// The visible ratio per frame, 0..8 (`cover.label`); 0 frames are not scored.
    cover: Vec<u8>,
    /// The image (width, height) from `meta_info.ini`, when it is there; boxes are clipped to it.
    bound: Option<(f64, f64)>,
}

fn got10k_extras(s: &Sequence) -> Result<Got10kExtras> {
    let dir = seq_dir(s).context("no sequence folder")?;
    let cover_path = dir.join("cover.label");
    let cover: Vec<u8> = std::fs::read_to_string(&cover_path)
        .with_context(|| format!("the got10k protocol needs {} (visible ratio per frame), which is missing", cover_path.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| l.trim().parse::<u8>().with_context(|| format!("{}:{}: `{l}` is not 0..8", cover_path.display(), i + 1)))
        .collect::<Result<_>>()?;
    let meta = std::fs::read_to_string(dir.join("meta_info.ini")).unwrap_or_default();
    let bound = meta.lines().find_map(|l| {
        let v = l.strip_prefix("resolution:")?.trim().trim_start_matches('(').trim_end_matches(')');
        let (w, h) = v.split_once(',')?;
        Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
    });
    Ok(Got10kExtras { cover, bound })
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
        let (mut ious, mut curves, mut tn) = (Vec::new(), Vec::new(), Vec::new());
        let mut max_curves = Vec::new();
        let mut longterm: Vec<LongTermRun> = Vec::new();
        for s in &seqs {
            let file = dir.join(format!("{}.txt", s.name));
            // One bad file does not hide the next: every problem is collected and reported at once.
            let scored = (|| -> Result<Option<Issues>> {
                let pred = if file.is_file() { Some(read_boxes(&file)?) } else { None };
                if pred.is_none() {
                    t.missing.push(s.name.clone());
                }
                let gt = &s.ground_truth;
                let issues = match protocol {
                    Protocol::Got10k => {
                        let Some(pred) = pred else { return Ok(None) };
                        let Got10kExtras { cover, bound } = got10k_extras(s)?;
                        let (v, issues) =
                            got10k_sequence(&pred, gt, &cover, bound).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                        ious.extend(v);
                        issues
                    }
                    Protocol::TrackingNet => {
                        let (c, issues) = trackingnet_sequence(pred.as_deref(), gt);
                        tn.push(c);
                        issues
                    }
                    Protocol::Rgbt234 => {
                        let Some(pred) = pred else { return Ok(None) };
                        let d = seq_dir(s).context("no sequence folder")?;
                        let ir = d.join("infrared.txt");
                        if !ir.is_file() {
                            bail!("the rgbt234 protocol needs {} (the infrared ground truth)", ir.display());
                        }
                        let c = super::multimodal::rgbt_sequence(&pred, gt, &read_boxes(&ir)?)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                        t.per_sequence.push((s.name.clone(), c.msr()));
                        max_curves.push(c);
                        Issues::default()
                    }
                    Protocol::DepthTrack => {
                        let Some(pred) = pred else { return Ok(None) };
                        let conf = crate::data::results::read_confidences(
                            dir,
                            &s.name,
                            "the depthtrack protocol needs the confidences trackflow's writer writes",
                        )?;
                        longterm.push(LongTermRun { pred, conf, gt, file: file.clone() });
                        Issues::default()
                    }
                    _ => {
                        let Some(pred) = pred else { return Ok(None) };
                        let ds = match protocol {
                            Protocol::Lasot => PytrackingDataset::Lasot,
                            Protocol::Uav => PytrackingDataset::Uav,
                            _ => PytrackingDataset::Otb,
                        };
                        let visible = if protocol == Protocol::Lasot {
                            let d = seq_dir(s).context("no sequence folder")?;
                            let (occ, oov) = (d.join("full_occlusion.txt"), d.join("out_of_view.txt"));
                            if !occ.is_file() || !oov.is_file() {
                                bail!(
                                    "the lasot protocol needs {} and {} (target visibility); use --protocol otb for a dataset without them",
                                    occ.display(),
                                    oov.display()
                                );
                            }
                            Some(read_flags(&occ)?.iter().zip(read_flags(&oov)?).map(|(a, b)| !a && !b).collect::<Vec<bool>>())
                        } else {
                            None
                        };
                        let (c, issues) = pytracking_sequence(&pred, gt, visible.as_deref(), ds)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                        t.per_sequence.push((s.name.clone(), c.auc()));
                        curves.push(c);
                        issues
                    }
                };
                Ok(Some(issues))
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
        let grid = |n: usize, hi: f64| (0..n).map(|k| hi * k as f64 / (n - 1) as f64).collect::<Vec<f64>>();
        t.values = match protocol {
            Protocol::Got10k => {
                let g = got10k_score(&ious);
                let x = grid(101, 1.0);
                let y = x.iter().map(|&th| ious.iter().filter(|&&v| v > th).count() as f64 / ious.len().max(1) as f64).collect();
                t.curves = vec![(x, y)];
                vec![100.0 * g.ao, 100.0 * g.sr50, 100.0 * g.sr75]
            }
            Protocol::TrackingNet => {
                let (a, b, c) = trackingnet_score(&tn);
                if !tn.is_empty() {
                    t.curves = vec![
                        (linspace21(1.0), mean_curve(&tn, |c| &c.success)),
                        (linspace21(50.0), mean_curve(&tn, |c| &c.precision)),
                        (linspace21(0.5), mean_curve(&tn, |c| &c.norm_precision)),
                    ];
                }
                vec![a, b, c]
            }
            Protocol::Rgbt234 => {
                if max_curves.is_empty() {
                    vec![f64::NAN; 2]
                } else {
                    let m = super::multimodal::MaxCurves::mean(&max_curves);
                    t.curves = vec![(grid(21, 1.0), m.success.clone()), (grid(51, 50.0), m.precision.clone())];
                    vec![m.mpr(), m.msr()]
                }
            }
            Protocol::DepthTrack => {
                let all: Vec<f64> = longterm.iter().flat_map(|r| r.conf.iter().skip(1).copied()).collect();
                let th = super::multimodal::vot_thresholds(&all, 100);
                let per_seq = longterm
                    .iter()
                    .map(|r| {
                        super::multimodal::pr_sequence(&r.pred, &r.conf, r.gt, &th)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", r.file.display()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let (pr, re, f) = super::multimodal::f_score(&per_seq);
                vec![pr, re, f]
            }
            _ if curves.is_empty() => vec![f64::NAN; 5],
            _ => {
                let m = Curves::mean(&curves);
                t.curves = vec![
                    (grid(21, 1.0), m.success.clone()),
                    (grid(51, 50.0), m.precision.clone()),
                    (grid(51, 0.5), m.norm_precision.clone()),
                ];
                vec![m.auc(), m.op50(), m.op75(), m.prec20(), m.norm_prec20()]
            }
        };
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
            let how = if protocol == Protocol::TrackingNet { "scored as zero boxes, as the devkit does" } else { "not scored" };
            s.push_str(&format!("{}: {} sequence(s) without results ({how}): {}\n", t.name, t.missing.len(), t.missing.join(", ")));
        }
        for (seq, issues) in &t.issues {
            s.push_str(&format!("{}: {seq}:\n{issues}", t.name));
        }
    }
    // Side by side is only fair on the same sequences.
    if protocol != Protocol::TrackingNet && scores.windows(2).any(|w| w[0].missing != w[1].missing) {
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
        let from_file = seq_dir(&s).and_then(|dir| std::fs::read_to_string(dir.join("attrs.txt")).ok());
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
    let specs: &[(&str, &str, &str, usize)] = match protocol {
        Protocol::Got10k => &[("success", "Success plot (GOT-10k)", "overlap threshold", 0)],
        Protocol::TrackingNet => &[
            ("success", "Success plot", "overlap threshold", 0),
            ("precision", "Precision plot", "location error threshold (px)", 1),
            ("norm_precision", "Normalised precision plot", "normalised distance threshold", 2),
        ],
        _ => &[
            ("success", "Success plot", "overlap threshold", 0),
            ("precision", "Precision plot", "location error threshold (px)", 1),
            ("norm_precision", "Normalised precision plot", "normalised distance threshold", 2),
        ],
    };
    for &(file, title, x_label, k) in specs {
        let Some(x) = scores.iter().find_map(|t| t.curves.get(k).map(|c| c.0.clone())) else { continue };
        let mut series: Vec<Series> = scores
            .iter()
            .filter_map(|t| {
                let y = t.curves.get(k)?.1.clone();
                let score = if k == 0 {
                    t.values.first().copied()
                } else {
                    t.values.get(if protocol == Protocol::TrackingNet { k } else { 2 + k }).copied()
                };
                Some(Series { label: format!("{} [{:.1}]", t.name, score.unwrap_or(f64::NAN)), y })
            })
            .collect();
        series.sort_by(|a, b| b.label.rsplit('[').next().cmp(&a.label.rsplit('[').next()));
        let plot = Plot { title: title.into(), x_label: x_label.into(), y_label: "fraction of frames".into(), x, series, y_max: 1.0 };
        let svg = dir.join(format!("{file}.svg"));
        crate::base::fs::write_atomic(&svg, plot.svg().as_bytes())?;
        let png = dir.join(format!("{file}.png"));
        crate::base::draw::save_png(&plot.png_image(), &png)?;
        written.extend([svg, png]);
    }
    let attrs = attributes(dataset)?;
    if !attrs.is_empty() && !matches!(protocol, Protocol::Got10k | Protocol::TrackingNet) {
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
