//! `trackflow test <script> <config> --dataset <name> --threads N --gpus G`: a tracker over a
//! whole dataset as one dataflow of N independent workers, each loading the model once,
//! sharded over the GPUs (or the CPU). Sequences with complete results are skipped, so an
//! interrupted run resumes; a progress bar follows the results.
//!
//! The workers' graph is a file users rewire: one worker's chain, `dataflows/test.kdl`
//! (source → fused tracker → writer) unless `--dataflow` names another, with `--set node.param=value`
//! applied. [`check_chain`] checks what the command needs of it and [`replicate`] copies it once
//! per worker, setting the per-worker parameters (dataset, sequences, results, device, model).
//!
//! Dataset names map to folders through `trackflow.local.kdl` (next to the project, or given
//! with `--local`), never through code edits:
//!
//! ```kdl
//! datasets {
//!     got10k_test "/data/got10k/test"
//!     lasot "/data/LaSOTBenchmark"
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::data::sequence::{Layout, Sequence, discover};
use crate::dataflow::dora::{NodeProgram, to_yaml};
use crate::dataflow::{Dataflow, InputSource, Node, ParamOverride, Target};

/// The evaluation graph `trackflow test` runs unless `--dataflow` names another (relative to
/// the working directory, as `trackflow train` finds `dataflows/train.kdl`).
pub(crate) const DEFAULT_DATAFLOW: &str = "dataflows/test.kdl";

/// Dataset folders by name, from the local config file.
pub(crate) fn dataset_path(name_or_path: &str, local: &Path) -> Result<PathBuf> {
    let p = PathBuf::from(name_or_path);
    if p.exists() {
        return Ok(p);
    }
    let text = std::fs::read_to_string(local).with_context(|| {
        format!("`{name_or_path}` is not a folder, and {} does not exist to name it: create it with\n  datasets {{\n      {name_or_path} \"/path/to/{name_or_path}\"\n  }}", local.display())
    })?;
    let doc = crate::base::kdl::parse_kdl(&text).map_err(|(_, e)| anyhow::anyhow!("{}: invalid KDL: {e}", local.display()))?;
    let ds =
        doc.get("datasets").and_then(|d| d.children()).with_context(|| format!("{}: no `datasets {{ ... }}` section", local.display()))?;
    let entry = ds.get(name_or_path).with_context(|| {
        let known: Vec<&str> = ds.nodes().iter().map(|n| n.name().value()).collect();
        format!("{}: no dataset `{name_or_path}` (known: {})", local.display(), known.join(", "))
    })?;
    let path = entry
        .get(0)
        .and_then(|v| v.as_string())
        .with_context(|| format!("{}: dataset `{name_or_path}` needs a path string", local.display()))?;
    let path = local.parent().unwrap_or(Path::new(".")).join(path);
    if !path.exists() {
        bail!("{}: dataset `{name_or_path}` points to {}, which does not exist", local.display(), path.display());
    }
    Ok(path)
}

/// Whether a sequence already has complete results (one row per frame).
pub(crate) fn is_done(results: &Path, seq: &Sequence) -> bool {
    std::fs::read_to_string(results.join(format!("{}.txt", seq.name)))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count() == seq.len())
        .unwrap_or(false)
}

/// Splits sequences over `n` workers, longest first onto the least-loaded worker.
pub fn shard(seqs: &[Sequence], n: usize) -> Vec<Vec<&Sequence>> {
    let mut order: Vec<&Sequence> = seqs.iter().collect();
    order.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut shards: Vec<(usize, Vec<&Sequence>)> = (0..n.max(1)).map(|_| (0, Vec::new())).collect();
    for s in order {
        let w = shards.iter_mut().min_by_key(|(load, _)| *load).expect("at least one worker");
        w.0 += s.len();
        w.1.push(s);
    }
    shards.into_iter().map(|(_, v)| v).filter(|v| !v.is_empty()).collect()
}

/// What to run.
#[derive(Debug, Clone)]
pub struct TestRun {
    /// Dataset folder.
    pub dataset: PathBuf,
    /// Model config file.
    pub config: PathBuf,
    /// Which weights the trackers run.
    pub weights: crate::model::Weights,
    /// Results folder.
    pub results: PathBuf,
    /// Worker count.
    pub threads: usize,
    /// GPUs to spread workers over (0: CPU).
    pub gpus: usize,
    /// Where the generated dataflow goes.
    pub work: PathBuf,
    /// dora machine ids to place the workers on, round-robin (empty: one local daemon).
    pub machines: Vec<String>,
    /// Start a coordinator and one daemon per machine id on this host (loopback) for the run.
    pub spawn_daemons: bool,
    /// Above 1: track this many sequences in lockstep in this process (one forward of batch B
    /// per step) instead of the dataflow's workers.
    pub batch: usize,
    /// One worker's chain, replicated per worker ([`DEFAULT_DATAFLOW`] by default).
    pub dataflow: PathBuf,
    /// `node.param=value` overrides applied to the chain (so to every worker).
    pub sets: Vec<String>,
}

/// Whether a node runs the built-in kind `name`.
fn is_kind(node: &Node, name: &str) -> bool {
    matches!(&node.target, Target::Kind(k) if k.name == name)
}

/// What `trackflow test` sets itself on every worker's copy of `node.key`, named by where the
/// value comes from; `None` for the parameters the graph (and `--set`) decide.
fn set_per_worker(node: &Node, key: &str) -> Option<&'static str> {
    match key {
        "path" if is_kind(node, "source") => Some("--dataset"),
        "sequences" if is_kind(node, "source") => Some("the sequences still to do, shared out over the workers"),
        "out" if is_kind(node, "writer") => Some("--results"),
        "config" if node.params.contains_key(key) => Some("the <config> argument"),
        "weights" | "untrained" if node.params.contains_key(key) => Some("--weights / --untrained"),
        _ => None,
    }
}

/// Checks that a loaded chain (`path` is its file) is one worker's graph `trackflow test` can
/// replicate: exactly one node of kind `source` (it receives the worker's sequences) and at
/// least one of kind `writer` (results reach `--results` through it), and that no `--set`
/// targets a parameter the command sets per worker (it would be silently replaced).
pub fn check_chain(chain: &Dataflow, sets: &[String]) -> Result<()> {
    let file = chain.path.display();
    let sources: Vec<&str> = chain.nodes.iter().filter(|n| is_kind(n, "source")).map(|n| n.id.as_str()).collect();
    match sources.as_slice() {
        [_] => {}
        [] => bail!(
            "{file}: `trackflow test` needs one node of kind `source` in the worker's graph (it reads that worker's share of the dataset); this dataflow has none"
        ),
        more => bail!(
            "{file}: `trackflow test` needs exactly one node of kind `source` in the worker's graph (each worker's sequences go to it); this dataflow has {}: {}",
            more.len(),
            more.join(", ")
        ),
    }
    if !chain.nodes.iter().any(|n| is_kind(n, "writer")) {
        bail!(
            "{file}: `trackflow test` needs a node of kind `writer` in the worker's graph (results reach --results through it); this dataflow has none"
        );
    }
    for text in sets {
        // Malformed overrides and unknown nodes were already reported by the loader.
        let Some((node, key)) = text.split_once('=').and_then(|(target, _)| target.split_once('.')) else { continue };
        if let Some(from) = chain.node(node).and_then(|n| set_per_worker(n, key)) {
            bail!("--set {text}: `trackflow test` sets `{node}.{key}` on every worker from {from}; change that instead");
        }
    }
    Ok(())
}

/// A node id of worker `i`'s copy: `tracker` → `tracker_3`. The suffix after the last `_` is
/// always the worker number, so copies of distinct nodes never share an id.
pub(crate) fn worker_id(id: &str, i: usize) -> String {
    format!("{id}_{i}")
}

/// The evaluation dataflow: `chain` (checked with [`check_chain`]) once per worker, worker `i`
/// reading the sequences `shards[i]`.
///
/// Node ids get the suffix `_i` and inputs from nodes of the chain follow them (dora's own
/// sources stay as they are). Per worker, the command sets:
/// - on every `source`: `path` (the dataset folder) and `sequences` (the worker's names as a
///   JSON array, so names with commas or outer spaces survive);
/// - on every `writer`: `out` (the results folder);
/// - on every node with a `config`: the config; with `weights`/`untrained`: the run's weights;
/// - on every node whose `device` is `auto` (the default): `cuda:{i mod gpus}`, or `cpu`
///   without GPUs; a device the file or `--set` names is kept;
/// - with `--machines`: `machine` of every node, round-robin by worker, so a worker's frames
///   never cross the network.
///
/// Everything else (`ce`, `hann`, `credits`, extra nodes) is the chain's, so a `--set` reaches
/// every replica.
pub fn replicate(chain: &Dataflow, run: &TestRun, shards: &[Vec<&str>]) -> Result<Dataflow> {
    use serde_json::Value;
    check_chain(chain, &[])?;
    let path = |p: &Path| Value::String(p.display().to_string());
    let config = std::path::absolute(&run.config)?;
    let mut nodes = Vec::with_capacity(chain.nodes.len() * shards.len());
    for (i, names) in shards.iter().enumerate() {
        let device = if run.gpus > 0 { format!("cuda:{}", i % run.gpus) } else { "cpu".to_string() };
        let machine = (!run.machines.is_empty()).then(|| run.machines[i % run.machines.len()].clone());
        for original in &chain.nodes {
            let mut n = original.clone();
            n.id = worker_id(&n.id, i);
            for input in &mut n.inputs {
                if let InputSource::Node { node, .. } = &mut input.source {
                    *node = worker_id(node, i);
                }
            }
            if is_kind(&n, "source") {
                n.params.insert("path".into(), path(&run.dataset));
                n.params.insert("sequences".into(), Value::String(serde_json::to_string(names)?));
            }
            if is_kind(&n, "writer") {
                n.params.insert("out".into(), path(&run.results));
            }
            if let Some(v) = n.params.get_mut("config") {
                *v = path(&config);
            }
            if let Some(v) = n.params.get_mut("device")
                && v.as_str() == Some("auto")
            {
                *v = Value::String(device.clone());
            }
            if let Some(v) = n.params.get_mut("weights") {
                *v = match &run.weights {
                    crate::model::Weights::File(w) => path(w),
                    crate::model::Weights::Preset | crate::model::Weights::Random => Value::String(String::new()),
                };
            }
            if let Some(v) = n.params.get_mut("untrained") {
                *v = Value::Bool(matches!(run.weights, crate::model::Weights::Random));
            }
            if machine.is_some() {
                n.machine = machine.clone();
            }
            nodes.push(n);
        }
    }
    Ok(Dataflow { path: chain.path.clone(), overridden: true, nodes })
}

/// The suffix that keeps a rewired graph's results apart from the baseline's, so a run with
/// `--set tracker.ce=#false` never "resumes" into the complete results of the plain graph:
/// `+<file stem>` for a `--dataflow` other than `default`, then `+node.param-value` per `--set`
/// (`+tracker.ce-false`), reduced to characters safe in a folder name and in `name=path`
/// arguments, with a hash of the graph's path and the settings appended where that reduction
/// lost something or the graph is not one of the project's. Empty for the default graph as it is.
pub fn variant(dataflow: &Path, default: &Path, sets: &[String]) -> String {
    // The shipped graph is the default wherever its copy sits (a checkout's `dataflows/` or
    // trackflow's unpacked files): same place, or same text.
    let same = |a: &Path, b: &Path| {
        let same_place = match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
        };
        same_place || matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y)
    };
    let mut parts = Vec::new();
    // A shipped graph is named by its stem; a graph from elsewhere could share a stem with
    // another (two `ablation.kdl` in different folders), so its path goes into the hash below.
    let mut exact = true;
    if !same(dataflow, default) {
        parts.push(dataflow.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        let shipped = default.parent().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()));
        let here = std::path::absolute(dataflow).unwrap_or_else(|_| dataflow.to_path_buf());
        exact = shipped.is_some_and(|d| here.starts_with(d)) || crate::base::resources::is_shipped_copy(dataflow);
    }
    parts.extend(sets.iter().cloned());
    if parts.is_empty() {
        return String::new();
    }
    let text: String = parts
        .join("+")
        .chars()
        .filter(|c| !matches!(c, '#' | '"'))
        .map(|c| match c {
            '=' => '-',
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') => c,
            _ => {
                // `a b`, `a_b` and `a/b` would otherwise share a folder.
                exact = false;
                '_'
            }
        })
        .collect();
    let hash = || {
        let key = format!("{}\n{}", std::path::absolute(dataflow).unwrap_or_default().display(), parts.join("\n"));
        format!("{:08x}", crate::base::hash::fnv1a(key.as_bytes()) as u32)
    };
    // Long values would make unwieldy folder names; the hash keeps them distinct.
    let text = if text.len() > 64 {
        format!("{}-{}", &text[..48], hash())
    } else if !exact {
        format!("{text}-{}", hash())
    } else {
        text
    };
    format!("+{text}")
}

/// Loads the worker's chain with the `--set` overrides (every problem with file, line and
/// column), checks that its node programs exist and that it is a graph the command can
/// replicate.
pub(crate) fn load_chain(run: &TestRun, bins: &NodeProgram) -> Result<Dataflow> {
    let sets: Vec<ParamOverride> = run.sets.iter().map(|text| ParamOverride { text: text.clone() }).collect();
    let chain = crate::dataflow::launch::prepare(&run.dataflow, &sets, bins)?;
    check_chain(&chain, &run.sets)?;
    Ok(chain)
}

/// Runs the evaluation: skips finished sequences, runs the rest, shows progress.
pub fn test(run: &TestRun) -> Result<()> {
    // The graph is checked before the dataset is read or anything is written: a typo in the
    // file or a --set is reported at once. `--batch` runs no dataflow.
    let bins = NodeProgram::current()?;
    let chain = if run.batch > 1 { None } else { Some(load_chain(run, &bins)?) };
    let seqs = discover(&run.dataset, Layout::Auto)?;
    let total_frames: usize = seqs.iter().map(Sequence::len).sum();
    std::fs::create_dir_all(&run.results).with_context(|| format!("cannot create the results folder {}", run.results.display()))?;
    let mut lock = crate::base::fs::RunLock::acquire(&run.results, "evaluation run")?;
    let todo: Vec<Sequence> = seqs.iter().filter(|s| !is_done(&run.results, s)).cloned().collect();
    tracing::info!(
        "{}: {} sequences ({} frames); {} already have complete results in {}, {} to run on {} worker(s){}",
        run.dataset.display(),
        seqs.len(),
        total_frames,
        seqs.len() - todo.len(),
        run.results.display(),
        todo.len(),
        run.threads.min(todo.len().max(1)),
        if run.gpus > 0 { format!(" over {} GPU(s)", run.gpus) } else { " on the CPU".into() }
    );
    if todo.is_empty() {
        return Ok(());
    }
    let Some(chain) = chain else { return batched(run, todo) };
    let shards = shard(&todo, run.threads);
    let names: Vec<Vec<&str>> = shards.iter().map(|s| s.iter().map(|q| q.name.as_str()).collect()).collect();
    let flow = replicate(&chain, run, &names)?;
    // The descriptor lives in this results folder's work dir, which the run lock keeps to one
    // run at a time: concurrent evaluations of other datasets or configs never share one.
    std::fs::create_dir_all(&run.work).with_context(|| format!("cannot create the work folder {}", run.work.display()))?;
    let yaml = run.work.join("dataflow.yml");
    crate::base::fs::write_atomic(&yaml, to_yaml(&flow, &bins)?.as_bytes())?;
    let dora = crate::dataflow::launch::find_dora()?;
    crate::dataflow::launch::check_dora_version(&dora)?;
    let log = std::fs::File::create(run.work.join("dora.log"))
        .with_context(|| format!("cannot create {}", run.work.join("dora.log").display()))?;
    let mut tail = crate::dataflow::launch::LogTail::new(&run.work.join("dora.log"));
    let mut cluster = None;
    let mut cmd = crate::dataflow::launch::supervised_dora(&dora);
    if run.machines.is_empty() {
        cmd.arg("run").arg(&yaml);
    } else {
        cmd.arg("start").arg(&yaml).arg("--attach");
        if run.spawn_daemons {
            let c = LocalCluster::start(&dora, &run.machines, &log, &run.work)?;
            cmd.args(["--coordinator-addr", "127.0.0.1", "--coordinator-port", &c.port.to_string()]);
            cluster = Some(c);
        }
    }
    cmd.stdout(log.try_clone()?).stderr(log.try_clone()?);
    let mut child = cmd.spawn().context("cannot start dora")?;
    lock.add(child.id())?;
    let todo_frames: usize = todo.iter().map(Sequence::len).sum();
    let bar = indicatif::ProgressBar::new(todo_frames as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} frames, {per_sec}, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let status = loop {
        let done: Vec<&Sequence> = todo.iter().filter(|s| is_done(&run.results, s)).collect();
        let frames: usize = done.iter().map(|s| s.len()).sum();
        bar.set_position(frames as u64);
        bar.set_message(format!("{}/{} sequences", done.len(), todo.len()));
        // The nodes' warnings and errors (a bad weights file, a corrupt frame) above the bar.
        let show = |lines: Vec<String>| {
            for line in lines {
                bar.suspend(|| eprintln!("{line}"));
            }
        };
        show(tail.new_lines());
        if let Some(st) = child.try_wait()? {
            show(tail.new_lines());
            break st;
        }
        crate::dataflow::supervise::check_interrupt(&mut child).map_err(|e| {
            e.context("the evaluation was interrupted; run the same command again to finish it (complete sequences are kept)")
        })?;
        std::thread::sleep(Duration::from_millis(500));
    };
    bar.finish();
    drop(cluster);
    let left: Vec<&str> = todo.iter().filter(|s| !is_done(&run.results, s)).map(|s| s.name.as_str()).collect();
    let secs = started.elapsed().as_secs_f64();
    // Only sequences that now have complete results count: a run whose nodes failed tracked nothing.
    let tracked: usize = todo.iter().filter(|s| is_done(&run.results, s)).map(Sequence::len).sum();
    tracing::info!(
        "{tracked} of {todo_frames} frames tracked in {secs:.0} s ({:.1} fps over all workers)",
        tracked as f64 / secs.max(1e-9)
    );
    if !status.success() || !left.is_empty() {
        bail!(
            "{} sequence(s) did not complete ({}){}; the log is {}; fix it and run the same command again: complete sequences are kept, only those are redone",
            left.len(),
            left.join(", "),
            tail.errors().first().map(|e| format!("; the first error: {e}")).unwrap_or_default(),
            run.work.join("dora.log").display()
        );
    }
    Ok(())
}

/// `--batch B`: the sequences still to do, tracked B at a time in lockstep in this process on
/// the first GPU (or the CPU), into the same results folder with the same resume rules.
fn batched(run: &TestRun, todo: Vec<Sequence>) -> Result<()> {
    let config = run.config.display().to_string();
    let device = if run.gpus > 0 { "cuda:0" } else { "cpu" };
    let (model, kind) = super::track::load_model(&config, run.weights.clone(), 0, device, "fp32")?;
    tracing::info!("tracking in lockstep batches of {} in this process (no dataflow workers)", run.batch);
    let mut tracker = crate::tracker::batch::BatchTracker::new(model, crate::tracker::TrackOptions::default(), kind, run.batch);
    super::track::track_lockstep_sequences(&mut tracker, todo, &run.results, 0, None)
        .map_err(|e| e.context("run the same command again to redo only the failed sequences (complete ones are kept)"))
}

/// A coordinator and one daemon per machine id on this host (loopback), for multi-machine
/// dataflows tried on one machine; stopped on drop.
pub(crate) struct LocalCluster {
    /// The coordinator's port.
    pub port: u16,
    children: Vec<std::process::Child>,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl LocalCluster {
    /// Starts the coordinator (in-memory store) and the daemons, and waits until they answer.
    pub(crate) fn start(dora: &Path, machines: &[String], log: &std::fs::File, work: &Path) -> Result<Self> {
        let port = free_port()?;
        let mut c = Self { port, children: Vec::new() };
        let spawn = |args: Vec<String>| -> Result<std::process::Child> {
            let mut cmd = crate::dataflow::launch::supervised_dora(dora);
            // Daemons keep their per-dataflow `_work/` folders under `work`, not the user's cwd.
            cmd.args(&args).current_dir(work).stdout(std::process::Stdio::null()).stderr(log.try_clone()?);
            cmd.spawn().with_context(|| format!("cannot start dora {}", args.join(" ")))
        };
        c.children.push(spawn(vec![
            "coordinator".into(),
            "--store".into(),
            "memory".into(),
            "--port".into(),
            port.to_string(),
            "--quiet".into(),
        ])?);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("the dora coordinator did not open port {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for m in machines {
            c.children.push(spawn(vec![
                "daemon".into(),
                "--machine-id".into(),
                m.clone(),
                "--coordinator-addr".into(),
                "127.0.0.1".into(),
                "--coordinator-port".into(),
                port.to_string(),
                "--local-listen-port".into(),
                free_port()?.to_string(),
                "--quiet".into(),
            ])?);
        }
        // Daemons register within a second or two; give them a bounded moment.
        std::thread::sleep(Duration::from_secs(3));
        Ok(c)
    }
}

impl Drop for LocalCluster {
    /// SIGTERM to every supervisor (each takes its dora process down), a bounded wait, then
    /// SIGKILL for any that did not finish. Killing the supervisors outright left the
    /// coordinator and daemons running.
    fn drop(&mut self) {
        for c in self.children.iter().rev() {
            // SAFETY: kill on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for c in self.children.iter_mut().rev() {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `trackflow test`: a config over a whole dataset, as OSTrack's `tracking/test.py`.
#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    /// `ostrack` (the config family under configs/).
    pub script: String,
    /// Config name, e.g. `vitb_256_mae_ce_32x4_ep300`.
    pub config: String,
    /// Dataset name from trackflow.local.kdl, or a folder.
    #[arg(long)]
    pub dataset: String,
    /// Tracker workers.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// GPUs to spread the workers over (0 = CPU).
    #[arg(long, default_value_t = 0)]
    pub gpus: usize,
    /// Weights (default: the preset's own; a preset without weights is refused unless
    /// --untrained is given).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Run random weights on purpose (an untrained baseline; every node says so).
    #[arg(long, conflicts_with = "weights")]
    pub untrained: bool,
    /// Track B sequences in lockstep in this process, one forward pass of batch B per step, on
    /// the first GPU (or the CPU) instead of dataflow workers (for large GPUs).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Results root; results go to `<root>/<script>/<config>/<dataset>/`.
    #[arg(long, default_value = "output/test/tracking_results")]
    pub results: PathBuf,
    /// Local config naming dataset folders.
    #[arg(long, default_value = "trackflow.local.kdl")]
    pub local: PathBuf,
    /// Spread the workers over these dora machine ids (comma-separated), one coordinator
    /// and one daemon per machine (`dora daemon --machine-id ID`).
    #[arg(long, value_delimiter = ',')]
    pub machines: Vec<String>,
    /// With --machines: start the coordinator and the daemons on this host (loopback).
    #[arg(long)]
    pub spawn_daemons: bool,
    /// One worker's graph, replicated per worker (exactly one `source` node, at least one
    /// `writer`). Another file, or --set, makes a rewired run whose results go to
    /// `<config>+<variant>` instead of `<config>`.
    #[arg(long, default_value = DEFAULT_DATAFLOW)]
    pub dataflow: PathBuf,
    /// Override a node parameter of the worker's graph, on every worker: `--set tracker.ce=#false`
    /// (repeatable; as `trackflow run --set`).
    #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
    pub sets: Vec<String>,
}

impl TestArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let TestArgs {
            script,
            config,
            dataset,
            threads,
            gpus,
            weights,
            untrained,
            batch,
            results,
            local,
            machines,
            spawn_daemons,
            dataflow,
            sets,
        } = self;
        // Before anything is built or started: a GPU count the machine cannot meet.
        crate::cli::check_gpus(gpus, "--gpus")?;
        // A file the user names is theirs, relative to where they are; the shipped graph's name
        // finds trackflow's own copy wherever the command runs.
        let dataflow = crate::base::resources::or_shipped(&dataflow);
        let suffix = variant(&dataflow, &crate::base::resources::file(DEFAULT_DATAFLOW), &sets);
        if batch > 1 && !suffix.is_empty() {
            bail!(
                "--batch {batch} tracks in this process, not through the dataflow, so --dataflow and --set would not apply; leave out --batch to run the rewired graph"
            );
        }
        let cfg = crate::base::presets::resolve_config(&config, Path::new(".")).map_err(|e| anyhow::anyhow!("config `{config}`: {e}"))?;
        let ds_path = dataset_path(&dataset, &local)?;
        let weights = match (weights, untrained) {
            (Some(w), _) => crate::model::Weights::File(std::path::absolute(w)?),
            (None, true) => crate::model::Weights::Random,
            (None, false) => crate::model::Weights::Preset,
        };
        let model = crate::model::Config::load(Path::new(&cfg)).map_err(|e| anyhow::anyhow!("{}", e.render(false)))?;
        crate::model::require_trained(&model, &config, &weights)?;
        let ds_name = Path::new(&dataset).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or(dataset.clone());
        // A rewired graph gets a results folder of its own: it must not resume into the baseline's.
        let out = results.join(&script).join(format!("{config}{suffix}")).join(&ds_name);
        let run = TestRun {
            dataset: std::path::absolute(&ds_path)?,
            config: PathBuf::from(cfg),
            weights,
            results: std::path::absolute(&out)?,
            threads: threads.max(1),
            gpus,
            work: std::path::absolute(out.join(".trackflow"))?,
            machines,
            spawn_daemons,
            batch,
            dataflow,
            sets,
        };
        test(&run)?;
        println!("results: {}", out.display());
        Ok(ExitCode::SUCCESS)
    }
}
