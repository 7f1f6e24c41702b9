//! File writing that never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over the destination. A crash leaves the old file or the new one, never
/// a truncated one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes).map_err(Into::into))
}

/// Like [`write_atomic`], for content produced piece by piece (a checkpoint of a gigabyte is
/// never held in memory whole): `fill` writes into a buffered temporary file in the same
/// directory, which is then flushed to disk, renamed over `path`, and the rename itself made
/// durable by syncing the directory. On any error the temporary file is removed and `path`
/// keeps its old content; the error names the path and the step that failed (a full or
/// read-only disk shows up here).
pub(crate) fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!("{TMP_PREFIX}{}.{}{TMP_SUFFIX}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> Result<()> {
        let f = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        fill(&mut w).with_context(|| format!("cannot write {}", tmp.display()))?;
        let f = w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("cannot flush {} to disk", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        // The rename is durable once the directory entry is; a failure here leaves a complete
        // file, so it is not worth failing the write for on filesystems that refuse it.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {} failed; its previous content, if any, is untouched", path.display()))
}

/// Temporary files of [`write_atomic`] are `.<name>.<pid>.tmp`: hidden, and never mistaken for
/// the file they will become.
const TMP_PREFIX: &str = ".";
const TMP_SUFFIX: &str = ".tmp";

/// Removes the temporary files that writers in `dir` killed mid-write left behind (a `kill -9`
/// during a checkpoint), returning how many: those of files whose name starts with `of` (every
/// one with an empty `of`). Only for files that one writer owns.
pub(crate) fn remove_stale_temporaries(dir: &Path, of: &str) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(0) };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let stem = name.strip_prefix(TMP_PREFIX).unwrap_or("");
        if name.starts_with(TMP_PREFIX) && stem.starts_with(of) && name.ends_with(TMP_SUFFIX) && e.path().is_file() {
            std::fs::remove_file(e.path()).with_context(|| format!("cannot remove the stale temporary file {}", e.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Reads a file of at most `cap` bytes; a larger one is an error naming the file, `what` it
/// should have been (`annotation file`, `result file`) and the cap, before more than the cap is
/// read into memory.
pub(crate) fn read_capped(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    // The length check covers regular files; the bounded read covers the rest (a pipe, a
    // device, a file that grows while it is read).
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > cap {
        anyhow::bail!("{} is {len} bytes, more than the {cap} bytes a {what} may have", path.display());
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > cap {
        anyhow::bail!("{} is more than the {cap} bytes a {what} may have", path.display());
    }
    Ok(bytes)
}

/// A folder claimed by one live run (a training save folder, a results folder).
///
/// The claim is an exclusive `flock` on `.trackflow.lock`, held for the lifetime of this value:
/// taking it is one atomic step, so of two runs started at the same instant exactly one gets
/// the folder (a read-then-write check let both through). The file also lists the pids of the
/// run's processes (this one, then its dataflow's supervisor), so that a run killed with
/// SIGKILL, whose supervisor is still stopping its nodes, keeps the folder until they are gone,
/// and so that a refusal can name the run that holds it. The lock goes away when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: std::path::PathBuf,
    pids: Vec<u32>,
    /// The open lock file: the `flock` lives as long as it does.
    file: std::fs::File,
}

impl RunLock {
    /// Claims `dir` (created if needed) for this process; `what` names the run in messages.
    pub fn acquire(dir: &Path, what: &str) -> Result<Self> {
        use std::io::{Read, Seek};
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::io::AsRawFd;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(".trackflow.lock");
        let in_use = |pid: &str| {
            anyhow::anyhow!(
                "{} is in use by another {what} (pid {pid}, lock {}); wait for it to finish or stop it first",
                dir.display(),
                path.display()
            )
        };
        loop {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot open the run lock {}", path.display()))?;
            let mut text = String::new();
            // SAFETY: flock on a file descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let _ = file.read_to_string(&mut text);
                return Err(in_use(text.split_whitespace().next().unwrap_or("unknown")));
            }
            // The holder before us may have removed the file between our open and our flock:
            // then we locked a file nobody else will see; start again on the one at `path`.
            let same = std::fs::metadata(&path).is_ok_and(|m| file.metadata().is_ok_and(|f| f.ino() == m.ino() && f.dev() == m.dev()));
            if !same {
                continue;
            }
            file.read_to_string(&mut text).with_context(|| format!("cannot read the run lock {}", path.display()))?;
            let live: Vec<u32> = text.split_whitespace().filter_map(|s| s.parse().ok()).filter(|p| is_trackflow_process(*p)).collect();
            if let Some(pid) = live.first() {
                return Err(in_use(&pid.to_string()));
            }
            if !text.trim().is_empty() {
                tracing::info!("note: taking over the stale lock {} (its run is gone)", path.display());
            }
            file.rewind()?;
            let lock = Self { path, pids: vec![std::process::id()], file };
            lock.write()?;
            return Ok(lock);
        }
    }

    /// Adds a process of this run (the supervisor of its dataflow), so the folder stays locked
    /// until it is gone too.
    pub(crate) fn add(&mut self, pid: u32) -> Result<()> {
        self.pids.push(pid);
        self.write()
    }

    /// Rewrites the pid list in place: a new file renamed over this one would be another inode,
    /// which a second run could lock while this one holds the old.
    fn write(&self) -> Result<()> {
        use std::io::Seek;
        let text: String = self.pids.iter().map(|p| format!("{p}\n")).collect();
        let mut f = &self.file;
        f.set_len(0)
            .and_then(|_| f.rewind())
            .and_then(|_| f.write_all(text.as_bytes()))
            .and_then(|_| f.sync_data())
            .with_context(|| format!("cannot write the run lock {}", self.path.display()))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked, so a run that opens the path now creates a new file, and
        // one that opened the old file notices (the inode check above) and starts again.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `pid` is a live trackflow process (a pid reused by something else does not count).
fn is_trackflow_process(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).map(|c| String::from_utf8_lossy(&c).contains("trackflow")).unwrap_or(false)
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
}
