//! `trackflow synth`: synthetic sequences in GOT-10k's layout with exact ground truth.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// `trackflow synth`: where and how many synthetic sequences to write.
#[derive(Debug, clap::Args)]
pub(crate) struct SynthArgs {
    /// Output folder.
    pub out: PathBuf,
    /// Number of sequences.
    #[arg(long, default_value_t = 1)]
    pub sequences: usize,
    /// Frames per sequence.
    #[arg(long, default_value_t = 60)]
    pub frames: usize,
    /// Image width.
    #[arg(long, default_value_t = 320)]
    pub width: usize,
    /// Image height.
    #[arg(long, default_value_t = 240)]
    pub height: usize,
    /// Seed (sequence i uses seed + i).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No occluder.
    #[arg(long)]
    pub(crate) no_occlusion: bool,
    /// Folder name prefix.
    #[arg(long, default_value = "synth")]
    pub prefix: String,
    /// Moving distractor objects per sequence.
    #[arg(long, default_value_t = 0)]
    pub distractors: usize,
    /// Busy backgrounds with static object-like clutter.
    #[arg(long)]
    pub clutter: bool,
    /// "Dead leaves" scenes (natural-image statistics) instead of sinusoid textures.
    #[arg(long)]
    pub leaves: bool,
    /// RGB+X sequences for ViPT: `rgbt` (visible/ + infrared/, LasHeR's layout), `rgbd`
    /// (color/ + 16-bit depth/, DepthTrack's) or `rgbe` (vis_imgs/ + event_imgs/, VisEvent's).
    #[arg(long)]
    pub modality: Option<String>,
    /// Night-time colour frames (12% light, sensor noise); the thermal frames are unaffected.
    #[arg(long)]
    pub dark: bool,
    /// Width / height range of the target and the moving distractors, `MIN,MAX`
    /// (pedestrians are about 0.35).
    #[arg(long, default_value = "0.6,1.6")]
    pub aspect: String,
    /// Threads (the output does not depend on it).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
}

impl SynthArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let SynthArgs {
            out,
            sequences,
            frames,
            width,
            height,
            seed,
            no_occlusion,
            prefix,
            distractors,
            clutter,
            leaves,
            modality,
            dark,
            aspect,
            jobs,
        } = self;
        let aspect = match aspect.split(',').map(|v| v.trim().parse::<f64>()).collect::<Result<Vec<_>, _>>().as_deref() {
            Ok([lo, hi]) => (*lo, *hi),
            _ => anyhow::bail!("--aspect {aspect}: expected MIN,MAX, two numbers such as 0.3,1.6"),
        };
        let opts = crate::data::synth::SynthOptions {
            sequences,
            frames,
            width,
            height,
            seed,
            occlusion: !no_occlusion,
            prefix,
            distractors,
            clutter,
            leaves,
            modality: modality.as_deref().map(crate::data::modality::Modality::parse).transpose()?,
            dark,
            aspect,
        };
        let names = crate::data::synth::generate_parallel(&out, &opts, jobs)?;
        println!("wrote {} sequence(s) of {frames} frames to {}", names.len(), out.display());
        Ok(ExitCode::SUCCESS)
    }
}
