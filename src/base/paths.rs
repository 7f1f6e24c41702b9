//! Where the project's files are: the checkout (configs, dataflows, demo) and the build output.

use std::path::PathBuf;

/// The project checkout: `TRACKFLOW_HOME` when set, else the directory this crate was built from.
pub fn project_root() -> PathBuf {
    std::env::var_os("TRACKFLOW_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<project>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| project_root().join("target"))
}

/// The project's Python environment (torch, dora CLI), made by `scripts/setup`.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("TRACKFLOW_VENV").map(PathBuf::from).unwrap_or_else(|| project_root().join(".venv"))
}

/// `a/b/../c` → `a/c`, without touching the file system (the path may not exist yet).
pub fn normalize(p: &std::path::Path) -> PathBuf {
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
