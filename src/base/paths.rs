//! Where trackflow's companions are: the Python environment (torch's libraries, the dora CLI),
//! the cache of generated files, and path arithmetic. None of it depends on the source checkout:
//! trackflow's own files are embedded ([`crate::base::resources`]).

use std::path::{Path, PathBuf};

/// The Python environment (torch 2.11.0's libraries, the dora CLI): `TRACKFLOW_VENV` when set,
/// else found from the executable, as its run-time library path finds libtorch:
/// `<prefix>/lib/trackflow/venv` for an installed `<prefix>/bin/trackflow` (`scripts/install`),
/// or the `.venv` that `scripts/setup` made for a build inside a checkout (`target/<profile>/`,
/// and `target/<profile>/deps/` for the tests).
pub(crate) fn venv_dir() -> PathBuf {
    if let Some(v) = std::env::var_os("TRACKFLOW_VENV") {
        return PathBuf::from(v);
    }
    let exe = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)).unwrap_or_default();
    let candidates = [exe.join("../lib/trackflow/venv"), exe.join("../../.venv"), exe.join("../../../.venv")];
    let found = candidates.iter().find(|c| c.join("bin/python").exists()).unwrap_or(&candidates[0]);
    normalize(found)
}

/// Files trackflow generates and may regenerate (dora YAML, benchmark scratch data):
/// `$XDG_CACHE_HOME/trackflow`, else `~/.cache/trackflow`, else under the temporary folder.
pub(crate) fn cache_dir() -> PathBuf {
    let non_empty = |v: Option<std::ffi::OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    non_empty(std::env::var_os("XDG_CACHE_HOME"))
        .or_else(|| non_empty(std::env::var_os("HOME")).map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("trackflow")
}

/// `a/b/../c` → `a/c`, without touching the file system (the path may not exist yet).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
