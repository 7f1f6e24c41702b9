//! One process tree per run. `dora run` puts every node in a process group of its own, so
//! killing `trackflow` (a scheduler's SIGTERM, `timeout`, SIGKILL, a crash) used to leave dora
//! and the nodes running: training went on writing checkpoints into a folder a new run was
//! already using.
//!
//! Every `dora run` therefore runs under a small supervisor (`trackflow __supervise -- dora …`):
//! - it is a child subreaper, so nodes orphaned by dora's death stay its descendants;
//! - it gets SIGTERM when `trackflow` dies for any reason (the parent-death signal), and also
//!   notices a changed parent;
//! - on a signal or the parent's death it asks dora to stop (SIGINT: nodes get their Stop
//!   event, writers keep partial results), then sends SIGTERM and finally SIGKILL to every
//!   process left below it, with bounded waits;
//! - when dora ends on its own it takes down anything dora left behind, and exits with dora's
//!   status.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The hidden `trackflow` subcommand that runs the supervisor.
pub(crate) const SUPERVISE_ARG: &str = "__supervise";

/// A command for `program` run under the supervisor, when the running program is `trackflow`
/// (which has the hidden supervisor command); the plain command otherwise (library callers from
/// other executables, such as the tests).
pub(crate) fn supervised(program: &Path) -> Command {
    let exe = std::env::current_exe().ok().filter(|p| p.file_name().is_some_and(|n| n == "trackflow"));
    match exe {
        Some(exe) => {
            let mut c = Command::new(exe);
            c.arg(SUPERVISE_ARG).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    }
}

static INTERRUPTED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// Makes SIGINT, SIGTERM and SIGHUP set a flag instead of killing `trackflow` outright (or being
/// ignored, as SIGINT is for a background job), so the command can take its run down first; the
/// wait loops of the commands that start runs call [`check_interrupt`].
pub(crate) fn watch_signals() {
    INTERRUPTED.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
            let _ = signal_hook::flag::register(sig, flag.clone());
        }
        flag
    });
}

/// After a signal: stops `run` (a supervisor, which takes its whole tree down), waits for it at
/// most 20 s, and returns the error the command exits with. `Ok` when no signal came.
pub(crate) fn check_interrupt(run: &mut std::process::Child) -> Result<()> {
    if !INTERRUPTED.get().is_some_and(|f| f.load(Ordering::SeqCst)) {
        return Ok(());
    }
    // SAFETY: kill on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(run.id() as libc::pid_t, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = run.try_wait() {
            bail!("interrupted: the run was stopped and its processes are gone");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = run.kill();
    let _ = run.wait();
    bail!("interrupted: the run did not stop within 20 s and was killed")
}

/// The supervisor: runs `argv` (program and arguments) as its child and returns the exit code
/// to leave with, after every process below it is gone.
pub fn supervise(argv: &[String]) -> Result<i32> {
    let [program, args @ ..] = argv else { bail!("{SUPERVISE_ARG}: no command given") };
    // SAFETY: plain prctl calls with constant arguments on this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
    }
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    if parent == 1 {
        return Ok(143); // the parent died before the handlers were in place
    }
    let mut command = Command::new(program);
    command.args(args);
    // dora gets SIGTERM if this supervisor is killed outright (SIGKILL gives it no chance to
    // take the tree down), so a coordinator or daemon never outlives its run.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
            Ok(())
        });
    }
    let child = command.spawn().with_context(|| format!("cannot start {program}"))?;
    let main = child.id() as libc::pid_t;
    let code = loop {
        if let Some(code) = reap(main) {
            break code;
        }
        // SAFETY: getppid has no preconditions.
        if stop.load(Ordering::SeqCst) || unsafe { libc::getppid() } != parent {
            stop_tree(main);
            break 143;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    terminate_descendants();
    Ok(code)
}

/// Reaps every exited child without waiting; `Some(code)` once `main` has exited.
fn reap(main: libc::pid_t) -> Option<i32> {
    let mut code = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return code;
        }
        if pid == main {
            code = Some(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) });
        }
    }
}

/// Asks `main` (dora) to stop the dataflow as Ctrl-C would, and waits a bounded time for it.
fn stop_tree(main: libc::pid_t) {
    // SAFETY: kill with a pid we spawned.
    unsafe { libc::kill(main, libc::SIGINT) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        if reap(main).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM to every process below this one, then SIGKILL to what is left after 3 s; reaps them.
fn terminate_descendants() {
    for (signal, grace) in [(libc::SIGTERM, Duration::from_secs(3)), (libc::SIGKILL, Duration::from_secs(2))] {
        let pids = descendants(std::process::id() as libc::pid_t);
        if pids.is_empty() {
            return;
        }
        for p in &pids {
            // SAFETY: kill on pids found below this process.
            unsafe { libc::kill(*p, signal) };
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            reap(0);
            if descendants(std::process::id() as libc::pid_t).is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    reap(0);
}

/// Every live process whose chain of parents leads to `root` (from /proc).
pub fn descendants(root: libc::pid_t) -> Vec<libc::pid_t> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<libc::pid_t>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
            // "pid (comm) state ppid …": the command may hold spaces and parentheses.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
            let mut f = after.split_whitespace();
            let state = f.next().unwrap_or("");
            if state == "Z" {
                continue;
            }
            if let Some(ppid) = f.next().and_then(|s| s.parse::<libc::pid_t>().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(c, pp) in &parent_of {
            if pp == p && !out.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}
