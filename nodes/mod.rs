//! The node kinds. dora starts each node as `trackflow node <kind>`, which calls [`node_main`]
//! with the kind's `run` from [`registry`]; one program serves every kind, and the logic is in
//! the library, shared and testable.
//!
//! Guarding against dora's known failure modes: every error is printed with its whole chain
//! before the process exits non-zero (a node that dies through `?` otherwise vanishes with no
//! message), every wait is bounded (`idle-timeout`), and every message is numbered (sequence
//! and frame index) so a lost message is an error, never a silent gap.

pub mod kinds;
pub mod registry;

/// The book's example node kind (Extending trackflow), compiled with the tests so that the
/// example a reader copies cannot drift from the API it uses.
#[cfg(test)]
#[path = "../docs/src/examples/blur.rs"]
mod blur_example;

/// Declares the built-in kinds: for each, its module (`nodes/<module>.rs`, which holds the kind's
/// `KIND`, its parameter struct and its `run`) and that struct, making the module and its line in
/// [`REGISTRY`].
macro_rules! node_kinds {
    ($($module:ident: $params:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// Every built-in kind, in the order `trackflow kinds` lists them: the table the
        /// dataflow checker reads the kinds from and `trackflow node <kind>` dispatches through.
        pub static REGISTRY: &[registry::Registered] = &[$(registry::entry::<$module::$params>(&$module::KIND, $module::run)),*];
    };
}

// Adding a node kind: its file `nodes/<kind>.rs` and one line here.
node_kinds! {
    source: SourceParams,
    crop: CropParams,
    backbone: BackboneParams,
    head: HeadParams,
    tracker: TrackerParams,
    camera: CameraParams,
    live_view: LiveViewParams,
    viewer: ViewerParams,
    writer: WriterParams,
    sampler: SamplerParams,
    trainer: TrainerParams,
    checkpoint: CheckpointParams,
    metrics: MetricsParams,
}

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, StopCause};

use crate::base::image::Image;
use crate::wire::{Frame, FramePixels};

/// Environment variable carrying a node's checked parameters as JSON (written by the dataflow
/// layer into dora's descriptor).
pub const PARAMS_ENV: &str = "TRACKFLOW_PARAMS";
/// Environment variable carrying the node's id, for log lines.
pub const NODE_ID_ENV: &str = "TRACKFLOW_NODE_ID";
/// Environment variable listing the inputs the dataflow connected (comma-separated), so a node
/// knows, say, whether box feedback will come.
pub const INPUTS_ENV: &str = "TRACKFLOW_INPUTS";

/// A node's parameters as checked by `trackflow check`, read from the environment.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: serde_json::Map<String, serde_json::Value>,
    /// Inputs the dataflow connected.
    pub inputs: Vec<String>,
    /// The node's id in the dataflow.
    pub(crate) node_id: String,
}

impl Params {
    /// Reads `TRACKFLOW_PARAMS`, `TRACKFLOW_INPUTS` and `TRACKFLOW_NODE_ID`.
    pub(crate) fn from_env() -> Result<Self> {
        let text = std::env::var(PARAMS_ENV).with_context(|| {
            format!("{PARAMS_ENV} is not set: trackflow nodes are started by dora from a dataflow built by `trackflow`")
        })?;
        let map = serde_json::from_str(&text).with_context(|| format!("{PARAMS_ENV} is not a JSON object"))?;
        let inputs = std::env::var(INPUTS_ENV).unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(String::from).collect();
        Ok(Self { map, inputs, node_id: std::env::var(NODE_ID_ENV).unwrap_or_else(|_| "node".into()) })
    }

    /// Parameters already checked against the kind's spec (`dataflow::node_params`), for a node
    /// run outside a dataflow (`dataflow::testing`): `inputs` are the inputs to treat as connected.
    pub(crate) fn checked(kind: &str, map: serde_json::Map<String, serde_json::Value>, inputs: &[&str]) -> Self {
        Self { map, inputs: inputs.iter().map(|s| s.to_string()).collect(), node_id: kind.to_string() }
    }

    /// The parameters as the node's typed struct (its fields named as the spec's parameters in
    /// kebab case). The values were checked against the spec already, so an error here means the
    /// struct and the spec disagree, which `tests/nodes.rs` guards against.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(serde_json::Value::Object(self.map.clone()))
            .with_context(|| format!("node `{}`: its parameters do not fit the node's parameter struct", self.node_id))
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        let secs = self.map.get("idle-timeout").and_then(serde_json::Value::as_f64).unwrap_or(120.0);
        Duration::from_secs_f64(secs.max(0.1))
    }
    /// Whether an input is connected.
    pub(crate) fn has_input(&self, id: &str) -> bool {
        self.inputs.iter().any(|i| i == id)
    }
}

/// Runs a node: initialises dora, reads parameters, calls `run`, and on error prints the whole
/// chain (`[node] error: ...`) and exits with status 1.
pub(crate) fn node_main(role: &str, run: registry::RunFn) -> ! {
    crate::base::malloc::tune_for_tensors();
    crate::base::log::init();
    let params = match Params::from_env() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("trackflow node {role}: {e:#}");
            std::process::exit(2);
        }
    };
    let (mut node, mut events) = match DoraNode::init_from_env() {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("[{}] error: cannot connect to the dora daemon: {e:#}", params.node_id);
            std::process::exit(2);
        }
    };
    let code = match run(&mut node, &mut events, &params) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("[{}] error: {e:#}", params.node_id);
            1
        }
    };
    drop(events);
    drop(node);
    std::process::exit(code);
}

/// What [`next_event`] hands back.
#[derive(Debug)]
pub enum Next {
    /// An input message.
    Input { id: String, metadata: dora_node_api::Metadata, data: dora_node_api::DoraArray },
    /// An input was closed by its sender.
    Closed(String),
    /// The dataflow is stopping (dora stop, Ctrl-C, or every input closed).
    Stop,
}

/// Waits for the next event that matters, for at most `idle`.
///
/// A dora error or a wait longer than `idle` is an error: the dataflow must end with a message,
/// not hang. An upstream node that failed is noted; its outputs close, which ends any wait on
/// them.
pub fn next_event(events: &mut EventStream, idle: Duration) -> Result<Next> {
    let started = Instant::now();
    loop {
        let left = idle.saturating_sub(started.elapsed());
        if left.is_zero() {
            bail!(
                "no input for {:.0} s: an upstream node has stalled or died (see its log); raise `idle-timeout` if it is just slow",
                idle.as_secs_f64()
            );
        }
        match events.recv_timeout(left) {
            None => return Ok(Next::Stop),
            Some(Event::Input { id, metadata, data }) => return Ok(Next::Input { id: id.to_string(), metadata, data }),
            Some(Event::InputClosed { id }) => return Ok(Next::Closed(id.to_string())),
            // dora 1.1 delivers this stop ahead of inputs still queued behind it (its scheduler
            // gives stops priority) and hands those inputs out on the next calls: a slow sink
            // (a viewer encoding video, a recording) that returned here lost its last frames.
            // Every input is closed, so draining ends by itself; a manual stop (`dora stop`,
            // Ctrl-C) still ends the node at once.
            Some(Event::Stop(StopCause::AllInputsClosed)) => continue,
            Some(Event::Stop(_)) => return Ok(Next::Stop),
            // dora 1.1 hands this notice out ahead of inputs still queued (as the stop above), and
            // a node that ended here passed the failure down the graph, node by node, each
            // dropping what it had queued: a writer lost the boxes of sequences that had been
            // tracked completely. The failed node's outputs close, which ends every wait on them
            // (`Next::Closed`), and the run still fails with its error; so note it and go on.
            Some(Event::NodeFailed { source_node_id, error, .. }) => {
                tracing::warn!("warning: upstream node `{source_node_id}` failed ({error}); finishing what is queued");
                continue;
            }
            Some(Event::Error(e)) => {
                if started.elapsed() >= idle {
                    continue; // the timeout itself; reported at the top of the loop
                }
                bail!("dora reported an error: {e}")
            }
            Some(_) => continue,
        }
    }
}

/// Waits at most `wait` for an event: `Ok(None)` when none came (unlike [`next_event`], a
/// short wait is not an error; for nodes that have other work to interleave).
pub(crate) fn poll_event(events: &mut EventStream, wait: Duration) -> Result<Option<Next>> {
    match events.recv_timeout(wait) {
        None => Ok(Some(Next::Stop)),
        Some(Event::Input { id, metadata, data }) => Ok(Some(Next::Input { id: id.to_string(), metadata, data })),
        Some(Event::InputClosed { id }) => Ok(Some(Next::Closed(id.to_string()))),
        // As in `next_event`: the inputs queued behind this stop come on the next calls.
        Some(Event::Stop(StopCause::AllInputsClosed)) => Ok(None),
        Some(Event::Stop(_)) => Ok(Some(Next::Stop)),
        // As in `next_event`: the failed node's inputs close; what is queued is still handled.
        Some(Event::NodeFailed { source_node_id, error, .. }) => {
            tracing::warn!("warning: upstream node `{source_node_id}` failed ({error}); finishing what is queued");
            Ok(None)
        }
        Some(Event::Error(e)) if e.contains("timed out") => Ok(None),
        Some(Event::Error(e)) => bail!("dora reported an error: {e}"),
        Some(_) => Ok(None),
    }
}

/// A received frame as an owned image: inline pixels are copied out of the message; a frame sent
/// by reference (over [`crate::wire::FRAME_INLINE_MAX`]) is decoded here from its file(s), by the
/// same functions the source reads frames with, so the pixels are the source's. Every node that
/// takes frames goes through this one function.
///
/// Errors name the sequence, the frame and the file; a file that decodes to another size than
/// the message announced (replaced while tracking) is an error, not a silently different frame.
pub(crate) fn frame_image(f: &Frame<FramePixels<'_>>) -> Result<Image> {
    let file = match &f.pixels {
        FramePixels::Inline(pixels) => {
            return Ok(Image { width: f.width as usize, height: f.height as usize, channels: f.channels as usize, data: pixels.to_vec() });
        }
        FramePixels::File(file) => file,
    };
    let h = &f.header;
    let rgb = std::path::Path::new(&file.path);
    let im = match &file.aux {
        None => crate::base::imageio::load_rgb(rgb),
        Some(a) => crate::data::modality::load_pair(rgb, std::path::Path::new(&a.path), a.modality, a.depth_clip),
    }
    .with_context(|| format!("{} frame {}, sent by reference to {file}", h.seq, h.number()))?;
    let want = (f.width as usize, f.height as usize, f.channels as usize);
    if (im.width, im.height, im.channels) != want {
        bail!(
            "{} frame {}: {file} decodes to {}×{}×{}, but the frame message says {}×{}×{} (was the file replaced while tracking?)",
            h.seq,
            h.number(),
            im.width,
            im.height,
            im.channels,
            want.0,
            want.1,
            want.2
        );
    }
    Ok(im)
}

/// Loads a training config and applies the trainer's overrides (`epochs`, `sample-per-epoch`,
/// `batch-size`; 0 keeps the config's value).
pub(crate) fn train_config(config: &str, overrides: [i64; 3]) -> Result<crate::model::Config> {
    let mut cfg = crate::model::Config::load(std::path::Path::new(config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The same rule `trackflow train` checked before starting: 0 keeps the config's value.
    cfg.train = cfg.train.overridden(overrides[0], overrides[1], overrides[2]);
    Ok(cfg)
}

/// An output id.
pub fn out(id: &str) -> DataId {
    DataId::from(id.to_owned())
}

/// The parameters of every node that runs the model (backbone, head, tracker).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ModelParams {
    /// Model preset or config file.
    pub config: String,
    /// Weights file; empty: the preset's own.
    pub weights: String,
    /// Random weights from `seed` on purpose.
    pub untrained: bool,
    /// Seed of random weights.
    pub seed: i64,
    /// `auto`, `cpu` or `cuda:N`.
    pub device: String,
    /// `fp32`, `fp16` or `bf16` (the head has none: it runs in float32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
}

/// Loads the model a node needs from its [`ModelParams`]. Without weights the network is the
/// preset's, else random (seeded), and says so.
pub fn load_model(m: &ModelParams, node_id: &str, parts: crate::model::Parts) -> Result<(crate::model::OSTrack, tch::Kind)> {
    use crate::model::{Config, Weights, load_tracking_model, parse_device_for, parse_precision};
    let who = format!("[{node_id}] ");
    let cfg = Config::load(std::path::Path::new(&m.config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let device = parse_device_for(&m.device, &who)?;
    let kind = parse_precision(m.precision.as_deref().unwrap_or("fp32"), device)?;
    let weights = match (m.weights.as_str(), m.untrained) {
        (_, true) => Weights::Random,
        ("", false) => Weights::Preset,
        (w, false) => Weights::File(w.into()),
    };
    let model = load_tracking_model(&cfg, parts, device, kind, &weights, m.seed, &who)?;
    Ok((model, kind))
}

/// With `TRACKFLOW_TRACE=1`, prints `[node] trace <what> <ms since t0> <ms spent>` lines for
/// finding where a frame's time goes.
pub(crate) fn trace(node: &str, what: &str, index: u32, t0: i64, started: std::time::Instant) {
    if crate::tracker::trace_on() {
        tracing::info!(
            "[{node}] trace {what} {index} since_t0={:.2}ms spent={:.2}ms",
            (crate::base::time::now_ns() - t0) as f64 * 1e-6,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
}

#[cfg(test)]
mod tests {
    /// The book's example kind works as the book says: its declaration, typed parameters and
    /// loop make a registry entry whose struct reads exactly its spec's names, and run on a frame
    /// it sends that frame, blurred, under the same header.
    #[test]
    fn the_book_s_example_kind_runs() {
        use super::blur_example::{BlurParams, KIND, run};
        use crate::base::image::test_image::ramp;
        use crate::dataflow::testing::{NodeInput, run_with_params};
        use crate::wire::{Frame, Header};
        let entry = super::registry::entry::<BlurParams>(&KIND, run);
        let map = serde_json::json!({ "length": 5, "idle-timeout": 30.0 }).as_object().cloned().unwrap();
        let params = super::Params::checked("blur", map, &["frame"]);
        assert_eq!(entry.param_names(&params).unwrap(), ["idle-timeout", "length"]);

        let im = ramp(32, 24);
        let header = Header { seq: "s".into(), index: 0, frames: 1, t0: 0 };
        let f = Frame { header, width: 32, height: 24, channels: 3, init_box: Some([4.0, 4.0, 8.0, 8.0]), pixels: &im.data[..] };
        let input = NodeInput::bytes("frame", f.encode(), &im.data);
        let out = run_with_params("blur", entry.run, &params, &["frame"], vec![input], None).unwrap();
        out.result.unwrap();
        assert_eq!(out.outputs.len(), 1);
        let sent = out.outputs[0].bytes();
        assert_eq!(sent.len(), im.data.len());
        assert_ne!(sent, im.data, "the frame is blurred");
    }
}
