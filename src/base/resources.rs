//! trackflow's own files (presets, dataset tables, shipped dataflows and models, demo clips,
//! Python helpers), embedded in the binary by `build.rs` and unpacked once into a folder of the
//! user's: an installed, copied or moved `trackflow` needs nothing from its source checkout.
//!
//! The folder is `$TRACKFLOW_HOME` when set (a developer's checkout, or any folder laid out like
//! one); otherwise `${XDG_DATA_HOME:-~/.local/share}/trackflow/<version>-<digest>`, written once
//! per build (to a temporary name, then renamed, so a crash never leaves half of it) and read
//! from then on. The code finds files there by their checkout paths (`configs/ostrack/tiny.kdl`),
//! so relative paths inside them (a preset's `weights ../../models/x.safetensors`, a dataflow's
//! `../demo/carphone`) work unchanged.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/resources.rs"));
}

pub use embedded::{DIGEST, FILES};

/// The folder holding trackflow's files (see the module doc). Unpacks them on first use; a
/// folder that cannot be written is reported once and the files' paths then name it in errors.
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        if let Some(home) = std::env::var_os("TRACKFLOW_HOME") {
            return PathBuf::from(home);
        }
        let dir = data_home().join("trackflow").join(format!("{}-{}", env!("CARGO_PKG_VERSION"), DIGEST));
        if let Err(e) = unpack(&dir) {
            tracing::warn!(
                "warning: cannot unpack trackflow's files into {}: {e:#} (set TRACKFLOW_HOME to a writable folder)",
                dir.display()
            );
        }
        dir
    })
}

/// `$XDG_DATA_HOME`, else `~/.local/share`, else the temporary folder.
fn data_home() -> PathBuf {
    let non_empty = |v: Option<std::ffi::OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    non_empty(std::env::var_os("XDG_DATA_HOME"))
        .or_else(|| non_empty(std::env::var_os("HOME")).map(|h| h.join(".local/share")))
        .unwrap_or_else(std::env::temp_dir)
}

/// Writes every embedded file under `dir` unless a complete copy is there. Each build has its own
/// folder (the digest), so a complete copy is never stale.
fn unpack(dir: &Path) -> std::io::Result<()> {
    const DONE: &str = ".complete";
    if dir.join(DONE).is_file() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    // A name no other process shares, also across machines with one home folder (pid and clock).
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let tmp = parent.join(format!(".{}.{}-{nanos}.tmp", dir.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let written = (|| -> std::io::Result<()> {
        for (rel, bytes) in FILES {
            let path = tmp.join(rel);
            std::fs::create_dir_all(path.parent().unwrap_or(&tmp))?;
            std::fs::write(&path, bytes)?;
        }
        std::fs::write(tmp.join(DONE), DIGEST)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Two processes unpacking at once (dora starts every node together): the first rename wins,
    // the other finds the folder complete and drops its copy.
    match std::fs::rename(&tmp, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.join(DONE).is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// A file of trackflow's by its checkout path (`configs/data_specs/otb100.tsv`).
pub fn file(rel: &str) -> PathBuf {
    root().join(rel)
}

/// Whether `rel` (a checkout path such as `dataflows/track.kdl`) is one of trackflow's files.
pub(crate) fn is_shipped(rel: &Path) -> bool {
    let rel = crate::base::paths::normalize(rel);
    FILES.iter().any(|(name, _)| Path::new(name) == rel)
}

/// Whether the file at `path` is a copy of one of trackflow's files with the same name (a
/// checkout's `dataflows/test.kdl` and the unpacked one are the same graph).
pub(crate) fn is_shipped_copy(path: &Path) -> bool {
    let (Some(name), Ok(bytes)) = (path.file_name(), std::fs::read(path)) else { return false };
    FILES.iter().any(|(rel, b)| Path::new(rel).file_name() == Some(name) && *b == bytes.as_slice())
}

/// `path` itself when it exists; trackflow's own copy when it does not and names one of its
/// files relative to the current folder (`trackflow run dataflows/track.kdl` anywhere).
pub(crate) fn or_shipped(path: &Path) -> PathBuf {
    if path.exists() || path.is_absolute() || !is_shipped(path) {
        return path.to_path_buf();
    }
    root().join(crate::base::paths::normalize(path))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{FILES, is_shipped};

    #[test]
    fn the_shipped_presets_dataflows_and_model_are_embedded() {
        for rel in ["configs/ostrack/mobile.kdl", "configs/data_specs/otb100.tsv", "dataflows/track.kdl", "models/mobile.safetensors"] {
            assert!(is_shipped(Path::new(rel)), "{rel} is not embedded");
        }
        assert!(is_shipped(Path::new("dataflows/../dataflows/track.kdl")), "paths are compared normalised");
        assert!(!is_shipped(Path::new("Cargo.toml")));
        // Names are checkout paths with `/`, never absolute: they are joined under the data folder.
        assert!(FILES.iter().all(|(name, _)| !name.starts_with('/') && !name.contains('\\')));
    }
}
