//! Embeds the files trackflow reads at run time (presets, dataset tables, shipped dataflows, the
//! shipped models, the demo clips and the Python helpers) into the binary, so an installed or
//! moved `trackflow` needs nothing from its source checkout (see `src/base/resources.rs`).

use std::path::{Path, PathBuf};

/// The folders embedded, relative to the package root.
const FOLDERS: [&str; 5] = ["configs", "dataflows", "models", "demo", "python"];
/// Larger files stay out (a converted ViT-B checkpoint a user keeps in `models/` is 370 MB): the
/// shipped models are 3 to 7 MB.
const MAX_FILE: u64 = 32 << 20;

fn main() {
    // An installed `<prefix>/bin/trackflow` finds libtorch in the Python environment installed
    // beside it (`scripts/install`); builds inside a checkout find `.venv` (.cargo/config.toml).
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN/../lib/trackflow/venv/torch-lib");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for folder in FOLDERS {
        // A folder makes cargo rerun this script when anything under it changes.
        println!("cargo:rerun-if-changed={folder}");
        collect(&root, &root.join(folder), &mut files);
    }
    files.sort();
    // FNV-1a over names and contents: the unpacked copy's folder name, so two builds with
    // different files never share one.
    let mut digest: u64 = 0xcbf29ce484222325;
    let mut table =
        String::from("/// Every embedded file: its path inside the checkout and its bytes.\npub static FILES: &[(&str, &[u8])] = &[\n");
    for rel in &files {
        let bytes = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
        for b in rel.bytes().chain([0]).chain(bytes.iter().copied()) {
            digest = (digest ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        table.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", root.join(rel).display().to_string()));
    }
    table.push_str("];\n");
    table.push_str(&format!("/// A digest of [`FILES`], names and contents.\npub const DIGEST: &str = \"{digest:016x}\";\n"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("resources.rs");
    std::fs::write(out, table).expect("cannot write resources.rs");
}

/// Files under `dir` (recursively), as `/`-separated paths relative to `root`; hidden files and
/// unfinished downloads (`*.tmp`, setup's partial demo clip) are left out.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.metadata().is_ok_and(|m| m.len() > MAX_FILE) {
            println!("cargo:warning=not embedded (over 32 MiB): {}", path.display());
        } else if path.is_file() {
            let rel = path.strip_prefix(root).expect("under the root");
            out.push(rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"));
        }
    }
}
