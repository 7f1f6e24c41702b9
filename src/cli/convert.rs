//! `trackflow convert`: official checkpoints and pretrained weights to safetensors, each proved
//! by loading it into the preset it is for.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// `trackflow convert`: which checkpoint, for which preset.
#[derive(Debug, clap::Args)]
pub(crate) struct ConvertArgs {
    /// `ostrack`, `vipt`, `mae` or `mobilenetv2`.
    #[arg(value_parser = ["ostrack", "vipt", "mae", "mobilenetv2"])]
    pub kind: String,
    /// The checkpoint.
    pub input: PathBuf,
    /// The preset the weights are for (checked by loading them).
    #[arg(long, default_value = "vitb_256_mae_ce_32x4_ep300")]
    pub config: String,
    /// Output file (default: the input's name with .safetensors).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

impl ConvertArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        convert(&self.kind, &self.input, &self.config, self.output)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Converts with python/convert_ostrack.py, then proves the result loads into the preset.
fn convert(kind: &str, input: &Path, config: &str, output: Option<PathBuf>) -> Result<()> {
    use crate::model::{Config, OSTrack, Parts};
    if !input.is_file() {
        bail!("{} does not exist", input.display());
    }
    let cfg = Config::from_name(config)?;
    let output = output.unwrap_or_else(|| {
        let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = name.trim_end_matches(".tar").trim_end_matches(".pth").trim_end_matches(".pt");
        input.with_file_name(format!("{stem}.safetensors"))
    });
    // ViPT checkpoints are OSTrack-style (`net` holds every weight by name).
    let script_kind = if kind == "vipt" { "ostrack" } else { kind };
    let mut args = vec![script_kind.to_string(), input.display().to_string(), output.display().to_string()];
    if kind == "mae" {
        args.extend([cfg.data.template_size, cfg.data.search_size, cfg.model.patch_size].map(|v| v.to_string()));
    }
    let report = crate::base::python::run("convert_ostrack.py", &args)?;
    tracing::info!("converted: {report}");
    match kind {
        "mae" | "mobilenetv2" => {
            // The loader training uses, so a file that converts is one `--pretrained` takes.
            let mut model = OSTrack::new(&cfg, Parts::Backbone, tch::Device::Cpu);
            let n = crate::train::load_pretrained(&mut model, &output)
                .with_context(|| format!("{} was written but does not fit the backbone of `{config}`", output.display()))?;
            println!(
                "{}: backbone initialisation for `{config}` ({n} tensors; use it with `trackflow train --pretrained`)",
                output.display()
            );
        }
        _ => {
            let mut model = OSTrack::new(&cfg, Parts::All, tch::Device::Cpu);
            model.load(&output).with_context(|| format!("{} was written but does not load into `{config}`", output.display()))?;
            println!("{}: loads into `{config}`", output.display());
        }
    }
    Ok(())
}
