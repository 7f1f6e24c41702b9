//! `trackflow evaluate`: scores a model on a folder of real annotated sequences with the OTB
//! protocol, next to random weights of the same shape, and writes a report with plots.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::track::{TrackJob, load_tracker, track_sequences};
use crate::model::Weights;

/// `trackflow evaluate`: a model and its untrained twin on real annotated sequences.
#[derive(Debug, clap::Args)]
pub(crate) struct EvaluateArgs {
    /// A folder of annotated sequences (otb-mini, a GOT-10k-layout folder, any layout
    /// `track` reads).
    pub dataset: PathBuf,
    /// Model preset or config file.
    #[arg(long, default_value = "mobile")]
    pub config: String,
    /// Weights (default: the preset's own).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Only the sequences named in this file, one per line (e.g. real-train's val-list.txt).
    #[arg(long)]
    pub list: Option<PathBuf>,
    /// Where results and the report go: `<out>/<name>/`, `<out>/untrained/`, `<out>/report/`.
    #[arg(long, default_value = "output/evaluate")]
    pub out: PathBuf,
    /// Name of the model's results folder and row (default: the config name).
    #[arg(long)]
    pub name: Option<String>,
    /// libtorch CPU threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: i32,
    /// auto, cpu, cuda, cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Runs per sequence (1 to 20), started at evenly spaced frames and tracked to the end:
    /// OTB-2013's temporal robustness evaluation (TRE). 1 is one-pass evaluation (OPE). A start
    /// moves on to the next frame showing the target; runs under 10 frames, or that would repeat
    /// another's start, are left out. With few sequences a single start makes the score hinge on
    /// one early failure; several starts steady it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub starts: u32,
}

impl EvaluateArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let EvaluateArgs { dataset, config, weights, list, out, name, threads, device, starts } = self;
        if threads > 0 {
            tch::set_num_threads(threads);
        }
        evaluate(&dataset, &config, weights, list.as_deref(), &out, name, &device, starts as usize)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `trackflow evaluate`: tracks `dataset` (or the sequences `list` names) with the model and with
/// random weights of the same shape, then scores both with the OTB protocol and writes the report.
/// With `starts` > 1 each sequence is tracked from that many starting frames ([`segments`]).
#[allow(clippy::too_many_arguments)]
fn evaluate(
    dataset: &Path,
    config: &str,
    weights: Option<PathBuf>,
    list: Option<&Path>,
    out: &Path,
    name: Option<String>,
    device: &str,
    starts: usize,
) -> Result<()> {
    use crate::eval::analyze::{Protocol, analyze, render, write_report};
    let name = name.unwrap_or_else(|| Path::new(config).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or(config.into()));
    let data = match list {
        None => dataset.to_path_buf(),
        Some(list) => select(dataset, list, &out.join("sequences"))?,
    };
    let data = if starts > 1 { segments(&data, starts, &out.join("segments"))? } else { data };
    let runs = [(name.clone(), weights.map_or(Weights::Preset, Weights::File)), ("untrained".to_string(), Weights::Random)];
    let mut trackers = Vec::new();
    for (run, w) in runs {
        let results = out.join(&run);
        let mut tracker = load_tracker(config, w, 0, device, "fp32", crate::tracker::TrackOptions::default())?;
        let job = TrackJob { sequences: &data, out: &results, max_frames: 0, init_box: None, rgb_only: false };
        track_sequences(&mut tracker, &job)?;
        trackers.push((run, results));
    }
    let scores = analyze(Protocol::OTB, &data, &trackers)?;
    print!("{}", render(Protocol::OTB, &scores));
    let report = out.join("report");
    let files = write_report(Protocol::OTB, &data, &scores, &report)?;
    println!("report: {} ({} files)", report.display(), files.len());
    Ok(())
}

/// The sequences of `dataset` that `list` names (one per line), as a folder `dir` of links to
/// them, so that tracking and scoring both see exactly those sequences; returns `dir`. An entry
/// that is not a folder is an error naming the list's line.
pub(crate) fn select(dataset: &Path, list: &Path, dir: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(list).with_context(|| format!("cannot read sequence list {}", list.display()))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (i, seq) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty()) {
        let src = std::path::absolute(dataset.join(seq))?;
        if !src.is_dir() {
            bail!("{}:{}: sequence `{seq}` is not a folder under {}", list.display(), i + 1, dataset.display());
        }
        std::os::unix::fs::symlink(&src, dir.join(seq)).with_context(|| format!("cannot link {}", src.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// OTB-2013's temporal robustness evaluation: each sequence of `data` cut into `starts` runs that
/// begin at evenly spaced frames (moved on to the first frame with a visible target) and go to
/// its end, written under `dir` as GOT-10k-layout folders `<sequence>_from<frame>` of links to
/// the frames, with the ground truth and visibility (`absence.label`) from the start frame on.
/// Every run then scores as a sequence of its own. Returns `dir`.
fn segments(data: &Path, starts: usize, dir: &Path) -> Result<PathBuf> {
    use crate::data::sequence::{Frames, Layout, discover};
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut runs = 0;
    for seq in discover(data, Layout::Auto)? {
        let Frames::Files(files) = &seq.frames else { bail!("{}: --starts needs image frames, not a video", seq.name) };
        if seq.aux.is_some() {
            bail!("{}: --starts reads RGB sequences only", seq.name);
        }
        let n = files.len().min(seq.ground_truth.len());
        // One flag per ground-truth row: a box of positive size not marked hidden by the layout.
        let visible = |i: usize| seq.visible[i];
        let mut taken = Vec::new();
        for k in 0..starts {
            let Some(start) = (k * n / starts..n).find(|&i| visible(i)) else { continue };
            // Too short a run says nothing; two evenly spaced starts can also land on the same
            // visible frame.
            if n - start < 10 || taken.contains(&start) {
                continue;
            }
            taken.push(start);
            let run = dir.join(format!("{}_from{}", seq.name, start + 1));
            std::fs::create_dir_all(&run).with_context(|| format!("cannot create {}", run.display()))?;
            for (j, f) in files[start..n].iter().enumerate() {
                let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("jpg");
                let target = std::path::absolute(f).with_context(|| format!("cannot resolve {}", f.display()))?;
                std::os::unix::fs::symlink(&target, run.join(format!("{:08}.{ext}", j + 1)))
                    .with_context(|| format!("cannot link {}", target.display()))?;
            }
            let gt: String = seq.ground_truth[start..n].iter().map(|b| format!("{},{},{},{}\n", b[0], b[1], b[2], b[3])).collect();
            let write = |name: &str, text: String| {
                let path = run.join(name);
                std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
            };
            write("groundtruth.txt", gt)?;
            let absent: String = (start..n).map(|i| if visible(i) { "0\n" } else { "1\n" }).collect();
            write("absence.label", absent)?;
            runs += 1;
        }
    }
    if runs == 0 {
        bail!("{}: no sequence has a visible target at 10 frames or more from its end", data.display());
    }
    println!("TRE: {runs} runs from {starts} starts per sequence ({})", dir.display());
    Ok(dir.to_path_buf())
}
