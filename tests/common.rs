//! Helpers shared by the test modules: temporary folders, synthetic data, running the CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary folder of its own (`tempfile`: a fresh, unpredictable name per call, so tests
/// running in parallel never share one), removed on drop unless TRACKFLOW_KEEP_TEST_DIRS is set.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let mut dir = tempfile::Builder::new().prefix(&format!("trackflow-test-{tag}-")).tempdir().unwrap();
        if std::env::var_os("TRACKFLOW_KEEP_TEST_DIRS").is_some() {
            dir.disable_cleanup(true);
        }
        Self(dir)
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The trackflow binary under test.
pub fn trackflow() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trackflow"));
    c.current_dir(root()).env("NO_COLOR", "1");
    c
}

/// Runs a command and returns its output, printing it on failure for the test log.
pub fn run(mut c: Command) -> Output {
    let out = c.output().expect("command runs");
    if !out.status.success() {
        eprintln!("--- stdout\n{}\n--- stderr\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    out
}

/// Writes synthetic sequences and returns the folder holding them.
pub fn synth(dir: &Path, sequences: usize, frames: usize, seed: u64) -> PathBuf {
    let out = dir.join("data");
    let opts = trackflow::data::synth::SynthOptions {
        sequences,
        frames,
        width: 160,
        height: 120,
        seed,
        occlusion: true,
        prefix: "seq".into(),
        ..Default::default()
    };
    trackflow::data::synth::generate(&out, &opts).unwrap();
    out
}

/// Polls `ready` every 100 ms until it holds (true) or `seconds` have passed (false).
pub fn wait_until(seconds: u64, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if ready() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
