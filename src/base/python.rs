//! The project's Python helpers (`python/`), run with the project's environment (`.venv`):
//! checkpoint conversion and the PyTorch side of the benchmarks.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The venv's Python, with a clear error when setup has not run.
pub(crate) fn interpreter() -> Result<PathBuf> {
    let py = crate::base::paths::venv_dir().join("bin/python");
    if !py.is_file() {
        bail!("{} not found: run `scripts/setup` (it creates the Python environment with torch 2.11.0)", py.display());
    }
    Ok(py)
}

/// Runs `python/<script>` with arguments; returns its last stdout line (a JSON report).
pub fn run(script: &str, args: &[String]) -> Result<String> {
    let py = interpreter()?;
    let path = crate::base::resources::file("python").join(script);
    let out = Command::new(&py).arg(&path).args(args).output().with_context(|| format!("cannot run {}", py.display()))?;
    if !out.status.success() {
        bail!("{} failed: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(stdout.lines().last().unwrap_or_default().to_string())
}

/// A Python helper kept running, answering one JSON line per request line.
pub struct Server {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    script: String,
}

impl Server {
    /// Starts `python/<script> <arg>` and waits for its `ready` line.
    pub(crate) fn start(script: &str, arg: &str) -> Result<Self> {
        use std::process::Stdio;
        let py = interpreter()?;
        let path = crate::base::resources::file("python").join(script);
        let mut child = Command::new(&py)
            .arg(&path)
            .arg(arg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", py.display()))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = std::io::BufReader::new(child.stdout.take().context("no stdout")?);
        let mut s = Self { child, stdin, stdout, script: script.into() };
        s.line().with_context(|| format!("{script} did not start"))?;
        Ok(s)
    }

    fn line(&mut self) -> Result<String> {
        use std::io::BufRead;
        let mut l = String::new();
        if self.stdout.read_line(&mut l)? == 0 {
            bail!("{} exited (see its error above)", self.script);
        }
        Ok(l)
    }

    /// Asks for `n` timed calls; returns their times in ms.
    pub(crate) fn times(&mut self, n: usize) -> Result<Vec<f64>> {
        use std::io::Write;
        writeln!(self.stdin, "{n}")?;
        self.stdin.flush()?;
        let l = self.line()?;
        serde_json::from_str(&l).with_context(|| format!("{} answered `{}`", self.script, l.trim()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
