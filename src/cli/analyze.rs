//! `trackflow analyze` and `trackflow pack`: scoring result folders with a toolkit's protocol,
//! and packing them in the format a benchmark server accepts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

/// `trackflow analyze`: a dataset, a protocol and the result folders to score.
#[derive(Debug, clap::Args)]
pub(crate) struct AnalyzeArgs {
    /// Dataset folder (sequences with their ground truth).
    #[arg(long)]
    pub dataset: PathBuf,
    #[arg(long, help = crate::eval::protocols::help())]
    pub protocol: String,
    /// Results folders (`<seq>.txt` each), as `name=folder` or just `folder` (an existing
    /// folder whose name holds `=` is a folder).
    #[arg(required = true)]
    pub results: Vec<String>,
    /// Also write a report folder: table, success/precision plots (SVG, PNG), attributes.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Score incomplete results anyway (missing sequences, short or long files, rows that are
    /// not boxes), each counted as the protocol's toolkit counts it; the table is labelled
    /// partial. Without it, any such problem is an error that lists them all.
    #[arg(long)]
    pub partial: bool,
}

impl AnalyzeArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let AnalyzeArgs { dataset, protocol, results, report, partial } = self;
        use crate::eval::analyze::{Options, Protocol, analyze_with, render, tracker_arg};
        let protocol = Protocol::parse(&protocol)?;
        let trackers: Vec<(String, PathBuf)> = results.iter().map(|r| tracker_arg(r)).collect();
        let scores = analyze_with(protocol, &dataset, &trackers, Options { partial })?;
        print!("{}", render(protocol, &scores));
        if let Some(dir) = report {
            let files = crate::eval::analyze::write_report(protocol, &dataset, &scores, &dir)?;
            println!("report: {} ({} files)", dir.display(), files.len());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `trackflow pack`: a results folder and the server to pack it for.
#[derive(Debug, clap::Args)]
pub(crate) struct PackArgs {
    /// `got10k`, `trackingnet`, `rgbt234` (corner rows for the MPR/MSR toolkit) or `vot-rgbd`
    /// (the VOT toolkit's long-term layout with confidences, for DepthTrack and VOT-RGBD).
    #[arg(value_parser = ["got10k", "trackingnet", "rgbt234", "vot-rgbd"])]
    pub server: String,
    /// Results folder (`<seq>.txt`, and `<seq>_time.txt` for GOT-10k).
    pub results: PathBuf,
    /// The test set, to check that every sequence is there with one row per frame.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Archive (default: `<results>/../<server>_submit.zip`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

impl PackArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let PackArgs { server, results, dataset, output } = self;
        use crate::eval::pack::{Server, pack};
        let srv = match server.as_str() {
            "got10k" => Server::Got10k,
            "trackingnet" => Server::TrackingNet,
            "rgbt234" => Server::Rgbt234,
            _ => Server::VotRgbd,
        };
        let expected: Option<Vec<(String, usize)>> = match &dataset {
            Some(d) => Some(
                crate::data::sequence::discover(d, crate::data::sequence::Layout::Auto)?
                    .iter()
                    .map(|s| (s.name.clone(), s.len()))
                    .collect(),
            ),
            None => None,
        };
        let out = output.unwrap_or_else(|| {
            let parent = results.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            parent.join(format!("{server}_submit.zip"))
        });
        let p = pack(srv, &results, &out, expected.as_deref())?;
        println!("{}: {} sequences (raw results in {} kept)", p.path.display(), p.sequences, results.display());
        if expected.is_none() {
            // Without the dataset, a missing sequence or a short file cannot be seen here.
            tracing::info!(
                "note: not checked against a dataset; pass --dataset to check that every sequence is there with one row per frame"
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
