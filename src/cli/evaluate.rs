//! `trackflow evaluate`: scores a model on a folder of real annotated sequences with the OTB
//! protocol, next to random weights of the same shape, and writes a report with plots.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::track::{TrackJob, load_tracker, track_sequences};
use crate::model::Weights;

/// `trackflow evaluate`: a model and its untrained twin on real annotated sequences.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
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
}

impl EvaluateArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let EvaluateArgs { dataset, config, weights, list, out, name, threads, device } = self;
        if threads > 0 {
            tch::set_num_threads(threads);
        }
        evaluate(&dataset, &config, weights, list.as_deref(), &out, name, &device)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `trackflow evaluate`: tracks `dataset` (or the sequences `list` names) with the model and with
/// random weights of the same shape, then scores both with the OTB protocol and writes the report.
fn evaluate(
    dataset: &Path,
    config: &str,
    weights: Option<PathBuf>,
    list: Option<&Path>,
    out: &Path,
    name: Option<String>,
    device: &str,
) -> Result<()> {
    use crate::eval::analyze::{Protocol, analyze, render, write_report};
    let name = name.unwrap_or_else(|| Path::new(config).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or(config.into()));
    // A list selects sequences through a folder of links, so that tracking and scoring both see
    // exactly those sequences.
    let data = match list {
        None => dataset.to_path_buf(),
        Some(list) => {
            let text = std::fs::read_to_string(list).with_context(|| format!("cannot read sequence list {}", list.display()))?;
            let dir = out.join("sequences");
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir)?;
            for (i, seq) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty()) {
                let src = std::path::absolute(dataset.join(seq))?;
                if !src.is_dir() {
                    bail!("{}:{}: sequence `{seq}` is not a folder under {}", list.display(), i + 1, dataset.display());
                }
                std::os::unix::fs::symlink(&src, dir.join(seq)).with_context(|| format!("cannot link {}", src.display()))?;
            }
            dir
        }
    };
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
