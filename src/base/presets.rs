//! The built-in presets (`configs/<script>/<name>.kdl`) and how a `config` value, a name or a
//! path, finds its file.

use std::path::{Path, PathBuf};

/// Where the built-in presets live (trackflow's unpacked files), to resolve `config` parameters
/// given by name.
pub(crate) fn configs_dir() -> PathBuf {
    crate::base::resources::file("configs")
}

/// A preset name (`tiny`, `vitb_256_mae_ce_32x4_ep300`) becomes `configs/<script>/<name>.kdl`;
/// anything that looks like a path is resolved against `dir` (the dataflow file's folder, or
/// the working directory on the command line) and made absolute, because nodes run elsewhere.
pub fn resolve_config(s: &str, dir: &Path) -> Result<String, PresetError> {
    if s.ends_with(".kdl") || s.contains('/') {
        let p = crate::base::paths::normalize(&std::path::absolute(dir.join(s)).map_err(|_| PresetError::NoSuchFile)?);
        return if p.is_file() { Ok(p.display().to_string()) } else { Err(PresetError::NoSuchFile) };
    }
    for script in ["ostrack", "vipt"] {
        let p = configs_dir().join(script).join(format!("{s}.kdl"));
        if p.is_file() {
            return Ok(p.display().to_string());
        }
    }
    Err(PresetError::NoSuchPreset)
}

/// Why a `config` value names no file (the caller names the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// A path that is not a file.
    #[error("no such config file")]
    NoSuchFile,
    /// A name that no preset has.
    #[error("no preset with this name (see configs/)")]
    NoSuchPreset,
}
