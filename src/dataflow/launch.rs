//! Driving the real dora CLI (from the project's Python environment, `dora-rs-cli==1.1.0`):
//! finding it, checking its version, and running, starting and stopping dataflows with bounded
//! waits.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::dataflow::dora::{NodeProgram, write_yaml};
use crate::dataflow::{Dataflow, ParamOverride, Problems};

/// The dora version trackflow's nodes are built against.
pub(crate) const DORA_VERSION: &str = "1.1.0";

/// Marker line in the launcher script setup installs as `.venv/bin/dora`.
pub(crate) const LAUNCHER_MARKER: &str = "trackflow-dora-launcher";

/// Finds the real dora CLI: `.venv/bin/dora-real` (the pip entry point that setup moved aside
/// for the launcher), else `.venv/bin/dora`, else `dora` on PATH, skipping our own launcher.
pub fn find_dora() -> Result<PathBuf> {
    let venv_bin = crate::base::paths::venv_dir().join("bin");
    let mut candidates = vec![venv_bin.join("dora-real"), venv_bin.join("dora")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("dora")));
    }
    for c in candidates {
        if c.is_file() && !is_launcher(&c) {
            return Ok(c);
        }
    }
    bail!("the dora CLI is not installed: run `scripts/setup` (it installs dora-rs-cli=={DORA_VERSION} into .venv)")
}

/// What to execute for the dora CLI at `dora`: the environment's Python and the script, or the
/// program itself.
fn dora_program(dora: &Path) -> (PathBuf, Option<PathBuf>) {
    match dora.parent().map(|bin| bin.join("python")).filter(|py| py.exists() && is_python_script(dora)) {
        Some(py) => (py, Some(dora.to_path_buf())),
        None => (dora.to_path_buf(), None),
    }
}

/// Whether `p` starts with a `#!` line naming a Python interpreter.
fn is_python_script(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 128];
    let n = std::fs::File::open(p).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    let first = String::from_utf8_lossy(&head[..n]);
    first.starts_with("#!") && first.lines().next().is_some_and(|l| l.contains("python"))
}

fn is_launcher(p: &Path) -> bool {
    std::fs::read(p).map(|b| b.len() < 4096 && String::from_utf8_lossy(&b).contains(LAUNCHER_MARKER)).unwrap_or(false)
}

/// Checks that the dora CLI is the version the nodes speak.
pub(crate) fn check_dora_version(dora: &Path) -> Result<()> {
    let out = dora_command(dora).arg("--version").output().with_context(|| format!("cannot run {}", dora.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !text.contains(DORA_VERSION) {
        bail!(
            "{} reports `{text}`, but trackflow's nodes use dora-node-api {DORA_VERSION}; a different CLI, coordinator or daemon version breaks them. Run `scripts/setup` to install dora-rs-cli=={DORA_VERSION}",
            dora.display()
        );
    }
    Ok(())
}

/// The loader path dora and the nodes it spawns need: torch's libraries first.
fn torch_library_path() -> String {
    let mut ld = crate::base::paths::venv_dir().join("torch-lib").display().to_string();
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        ld.push(':');
        ld.push_str(&old.to_string_lossy());
    }
    ld
}

/// The dora CLI with torch's libraries on the loader path (for dora and the nodes it spawns).
/// pip's `dora` is a Python script whose first line names the interpreter by absolute path, which
/// breaks when the environment is moved or reached through another path (an installed
/// environment, a hidden checkout): such a script is run by the environment's own Python.
pub(crate) fn dora_command(dora: &Path) -> Command {
    let (program, script) = dora_program(dora);
    let mut cmd = Command::new(program);
    cmd.args(script);
    cmd.env("LD_LIBRARY_PATH", torch_library_path());
    cmd
}

/// [`dora_command`] under the run supervisor ([`crate::dataflow::supervise`]): for `dora run`
/// and `dora start --attach`, whose processes must not outlive the `trackflow` that started them.
pub(crate) fn supervised_dora(dora: &Path) -> Command {
    crate::dataflow::supervise::watch_signals();
    let (program, script) = dora_program(dora);
    let mut cmd = crate::dataflow::supervise::supervised(&program);
    cmd.args(script);
    cmd.env("LD_LIBRARY_PATH", torch_library_path());
    cmd
}

/// Why a dataflow cannot be started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PrepareError {
    /// The dataflow has problems (each with file, line and column), rendered for the terminal.
    #[error("{rendered}")]
    Invalid {
        /// The problems.
        problems: Problems,
        /// Their rendering (with colour when stderr is a terminal).
        rendered: String,
    },
}

/// Loads and checks a dataflow, and checks that every node's program exists.
/// A shipped dataflow named relative to a folder that lacks it (`dataflows/track.kdl` outside a
/// checkout) is trackflow's own copy.
pub(crate) fn prepare(kdl: &Path, sets: &[ParamOverride], bins: &NodeProgram) -> std::result::Result<Dataflow, PrepareError> {
    let shipped = crate::base::resources::or_shipped(kdl);
    if shipped != kdl {
        tracing::info!("note: no {} here; running trackflow's own copy, {}", kdl.display(), shipped.display());
    }
    // A node program that is not built is one more located problem, reported with the others.
    crate::dataflow::load_for_run(&shipped, sets, bins).map_err(|problems: Problems| {
        let rendered = problems.render(color());
        PrepareError::Invalid { problems, rendered }
    })
}

/// Whether to color diagnostics (stderr is a terminal and NO_COLOR is unset).
pub fn color() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Translates a KDL dataflow to dora's YAML and returns the YAML's path.
pub(crate) fn translate(kdl: &Path, sets: &[ParamOverride]) -> Result<PathBuf> {
    let bins = NodeProgram::current()?;
    let flow = prepare(kdl, sets, &bins)?;
    write_yaml(&flow, &bins)
}

/// Waits for a child with a deadline; kills it (and reports so) when the deadline passes.
pub(crate) fn wait_bounded(child: &mut std::process::Child, limit: Option<Duration>, what: &str) -> Result<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        crate::dataflow::supervise::check_interrupt(child)?;
        if let Some(limit) = limit
            && start.elapsed() > limit
        {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {:.0} s and was killed", limit.as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `dora run <yaml>`: runs the dataflow in this process' daemon until it ends.
///
/// Everything dora prints goes to `<yaml>.log` next to the YAML. The console gets the nodes'
/// own lines and dora's warnings and errors, under a spinner; `verbose` passes everything through.
pub fn run(yaml: &Path, timeout: Option<Duration>, verbose: bool) -> Result<(ExitStatus, PathBuf)> {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};
    let dora = find_dora()?;
    check_dora_version(&dora)?;
    let log_path = yaml.with_extension("log");
    let log = Arc::new(Mutex::new(std::fs::File::create(&log_path).with_context(|| format!("cannot write {}", log_path.display()))?));
    let mut cmd = supervised_dora(&dora);
    cmd.arg("run").arg(yaml).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot start {}", dora.display()))?;
    let spinner = indicatif::ProgressBar::new_spinner().with_message(format!("running {}", yaml.display()));
    spinner.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
    spinner.enable_steady_tick(Duration::from_millis(200));
    let streams: Vec<Box<dyn std::io::Read + Send>> =
        vec![Box::new(child.stdout.take().expect("piped")), Box::new(child.stderr.take().expect("piped"))];
    let readers: Vec<_> = streams
        .into_iter()
        .map(|s| {
            let (log, spinner) = (log.clone(), spinner.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(s).lines().map_while(Result::ok) {
                    let _ = writeln!(log.lock().expect("log lock"), "{line}");
                    let shown = if verbose { Some(line.clone()) } else { console_line(&line) };
                    if let Some(l) = shown {
                        // The nodes' own lines, relayed as they are (their levels are theirs).
                        spinner.suspend(|| eprintln!("{l}"));
                    }
                }
            })
        })
        .collect();
    let status = wait_bounded(&mut child, timeout, "dora run");
    for r in readers {
        let _ = r.join();
    }
    spinner.finish_and_clear();
    Ok((status?, log_path))
}

/// What the console shows of a line dora prints: a node's own output without dora's prefix,
/// and dora's warnings and errors; `None` for dora's progress chatter (it stays in the log).
pub fn console_line(line: &str) -> Option<String> {
    let plain = strip_ansi(line);
    let rest = plain.trim_start();
    // "HH:MM:SS stdout <node>: <text>"
    let after_time = rest.split_once(' ').map_or(rest, |(t, r)| if t.contains(':') && t.len() <= 12 { r.trim_start() } else { rest });
    if let Some(node_line) = after_time.strip_prefix("stdout ") {
        return Some(match node_line.split_once(": ") {
            // Library code (dataset readers, the sampler) warns without knowing its node's id:
            // the node's name goes in front, so the console shows and attributes it.
            Some((node, text)) if ["warning:", "note:", "error:"].iter().any(|k| text.starts_with(k)) => format!("[{node}] {text}"),
            Some((_, text)) => text.to_string(),
            None => node_line.to_string(),
        });
    }
    let level = after_time.split_whitespace().next().unwrap_or("");
    let tracing_level = rest.split_whitespace().nth(1).unwrap_or("");
    if ["WARN", "ERROR"].contains(&level) || ["WARN", "ERROR"].contains(&tracing_level) {
        return Some(plain.trim().to_string());
    }
    None
}

/// Follows a run's log file for the lines a user must see on the console while a progress bar
/// runs: the nodes' warnings, notes and errors (`[node] warning: …`), without dora's prefix.
#[derive(Debug)]
pub struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: String,
    seen: std::collections::HashSet<String>,
    errors: Vec<String>,
}

impl LogTail {
    /// Follows `path` from its current end (what an earlier run wrote is not shown again).
    pub fn new(path: &Path) -> Self {
        let offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Self { path: path.to_path_buf(), offset, partial: String::new(), seen: Default::default(), errors: Vec::new() }
    }

    /// The nodes' error lines seen so far, in order (the first line of each error chain).
    pub(crate) fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The new warning, note and error lines since the last call, each once (dora repeats a failed
    /// node's stderr in its own messages).
    pub(crate) fn new_lines(&mut self) -> Vec<String> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(&self.path) else { return Vec::new() };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut out = Vec::new();
        while let Some(nl) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=nl).collect();
            let text = console_line(line.trim_end()).unwrap_or_else(|| strip_ansi(line.trim()));
            let text = text.trim().to_string();
            let wanted = ["] warning:", "] note:", "] error:"].iter().any(|k| text.contains(k)) && text.starts_with('[');
            if wanted && self.seen.insert(text.clone()) {
                if text.contains("] error:") {
                    self.errors.push(text.clone());
                }
                out.push(text);
            }
        }
        out
    }
}

/// The text of a line without its terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Makes sure a coordinator and a daemon are running (`dora up` when `dora list` fails).
pub(crate) fn ensure_up(dora: &Path) -> Result<()> {
    let list = |d: &Path| -> Result<bool> {
        let mut c = dora_command(d).arg("list").stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        Ok(wait_bounded(&mut c, Some(Duration::from_secs(20)), "dora list")?.success())
    };
    if list(dora)? {
        return Ok(());
    }
    tracing::info!("trackflow: no dora coordinator is running; starting one with `dora up`");
    let mut c = dora_command(dora).arg("up").spawn().context("cannot run dora up")?;
    let status = wait_bounded(&mut c, Some(Duration::from_secs(60)), "dora up")?;
    if !status.success() || !list(dora)? {
        bail!("`dora up` did not bring up a coordinator and daemon (see ~/.dora/coordinator-stderr.log)");
    }
    Ok(())
}

/// `dora start <yaml>`, bringing up the coordinator and daemon first when none is running.
pub fn start(yaml: &Path, attach: bool, name: Option<&str>, timeout: Option<Duration>) -> Result<ExitStatus> {
    let dora = find_dora()?;
    check_dora_version(&dora)?;
    ensure_up(&dora)?;
    let mut cmd = dora_command(&dora);
    cmd.arg("start").arg(yaml);
    cmd.arg(if attach { "--attach" } else { "--detach" });
    if let Some(n) = name {
        cmd.arg("--name").arg(n);
    }
    let mut child = cmd.spawn().context("cannot run dora start")?;
    wait_bounded(&mut child, timeout, "dora start")
}

/// `dora stop` of a dataflow by name or uuid (or the only one running).
pub fn stop(which: Option<&str>) -> Result<ExitStatus> {
    let dora = find_dora()?;
    let mut cmd = dora_command(&dora);
    cmd.arg("stop");
    if let Some(w) = which {
        cmd.arg(w);
    }
    let mut child = cmd.spawn().context("cannot run dora stop")?;
    wait_bounded(&mut child, Some(Duration::from_secs(60)), "dora stop")
}

/// The launcher: every `.kdl` argument is checked and replaced by its generated YAML; all
/// other arguments go to the real dora CLI unchanged.
pub fn launcher(args: &[String]) -> Result<ExitStatus> {
    let dora = find_dora()?;
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        if a.ends_with(".kdl") && (Path::new(a).is_file() || crate::base::resources::is_shipped(Path::new(a))) {
            out.push(translate(Path::new(a), &[])?.display().to_string());
        } else {
            out.push(a.clone());
        }
    }
    let is_start = out.first().map(String::as_str) == Some("start");
    if is_start {
        ensure_up(&dora)?;
    }
    let mut child = dora_command(&dora).args(&out).spawn().with_context(|| format!("cannot run {}", dora.display()))?;
    Ok(child.wait()?)
}
