//! File writing that never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over the destination. A crash leaves the old file or the new one, never
/// a truncated one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("cannot flush {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A folder claimed by one live run (a training save folder, a results folder): the file
/// `.trackflow.lock` holds the pids of the processes of the run. A second run there is refused
/// while any of them is alive; a lock whose processes are all gone (a killed run) is stale and
/// taken over. The lock goes away when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: std::path::PathBuf,
    pids: Vec<u32>,
}

impl RunLock {
    /// Claims `dir` (created if needed) for this process; `what` names the run in messages.
    pub fn acquire(dir: &Path, what: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(".trackflow.lock");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let live: Vec<u32> = text.split_whitespace().filter_map(|s| s.parse().ok()).filter(|p| is_trackflow_process(*p)).collect();
            if let Some(pid) = live.first() {
                anyhow::bail!(
                    "{} is in use by another {what} (pid {pid}, lock {}); wait for it to finish or stop it first",
                    dir.display(),
                    path.display()
                );
            }
            eprintln!("note: taking over the stale lock {} (its run is gone)", path.display());
        }
        let lock = Self { path, pids: vec![std::process::id()] };
        lock.write()?;
        Ok(lock)
    }

    /// Adds a process of this run (the supervisor of its dataflow), so the folder stays locked
    /// until it is gone too.
    pub fn add(&mut self, pid: u32) -> Result<()> {
        self.pids.push(pid);
        self.write()
    }

    fn write(&self) -> Result<()> {
        let text: String = self.pids.iter().map(|p| format!("{p}\n")).collect();
        write_atomic(&self.path, text.as_bytes())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `pid` is a live trackflow process (a pid reused by something else does not count).
fn is_trackflow_process(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).map(|c| String::from_utf8_lossy(&c).contains("trackflow")).unwrap_or(false)
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
}
