//! `trackflow analyze` and `trackflow pack`: scoring result folders with a toolkit's protocol,
//! and packing them in the format a benchmark server accepts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

/// `trackflow analyze`: a dataset, a protocol and the result folders to score.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Dataset folder (sequences with their ground truth).
    #[arg(long)]
    pub dataset: PathBuf,
    /// got10k, otb (also nfs, tnl2k, lasher, visevent), lasot, uav, trackingnet, rgbt234 (MPR/MSR), depthtrack (Pr/Re/F).
    #[arg(long)]
    pub protocol: String,
    /// Results folders (`<seq>.txt` each), as `name=folder` or just `folder`.
    #[arg(required = true)]
    pub results: Vec<String>,
    /// Also write a report folder: table, success/precision plots (SVG, PNG), attributes.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

impl AnalyzeArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let AnalyzeArgs { dataset, protocol, results, report } = self;
        use crate::eval::analyze::{Protocol, analyze, render};
        let protocol = Protocol::parse(&protocol)?;
        let trackers: Vec<(String, PathBuf)> = results
            .iter()
            .map(|r| match r.split_once('=') {
                Some((n, p)) => (n.to_string(), PathBuf::from(p)),
                None => (Path::new(r).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| r.clone()), PathBuf::from(r)),
            })
            .collect();
        let scores = analyze(protocol, &dataset, &trackers)?;
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
pub struct PackArgs {
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
        if !p.missing.is_empty() {
            eprintln!("warning: {} sequence(s) of the dataset have no results: {}", p.missing.len(), p.missing.join(", "));
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    }
}
