//! Running a node without a daemon: dora's integration-testing mode (`DoraNode::init_testing`)
//! replays a list of inputs into a node's `run` and collects what it sends, so every node kind
//! can be tested on its own, next to the end-to-end dataflow tests.
//!
//! ```ignore
//! let frame = Frame { /* ... */ };
//! let run = run_node("crop", crop::run, r#"config="tiny""#, &["frame", "box"], vec![NodeInput::bytes("frame", frame.encode(), pixels)]);
//! assert_eq!(run.outputs[0].id, "template");
//! ```

use anyhow::Result;
use dora_node_api::integration_testing::integration_testing_format::{IncomingEvent, InputData, TimedIncomingEvent};
use dora_node_api::integration_testing::{
    IntegrationTestInput, TestingInput, TestingOptions, TestingOutput, drain_outputs, output_channel,
};
use dora_node_api::{DoraNode, MetadataParameters};

use crate::nodes::Params;

pub use crate::nodes::registry::RunFn;

/// The parameters of a node of `kind` run outside a dataflow: `params` as a dataflow's `param`
/// line writes them, defaults for the rest, checked as `trackflow check` checks them; `inputs`
/// are the inputs to treat as connected.
pub fn params_for(kind: &str, params: &str, inputs: &[&str]) -> Result<Params> {
    let map = super::node_params(kind, params).map_err(|p| anyhow::anyhow!("{}", p.render(false)))?;
    Ok(Params::checked(kind, map.into_iter().collect(), inputs))
}

/// One input message to replay into a node.
#[derive(Debug, Clone)]
pub enum NodeInput {
    /// A message on input `id`: trackflow's metadata and an Arrow array given as JSON.
    Message {
        /// The input id.
        id: String,
        /// The message's metadata (what `wire`'s `encode` returns).
        metadata: MetadataParameters,
        /// The array's values.
        data: serde_json::Value,
        /// The Arrow type of the values, as dora writes it (`"UInt8"`, `"Float32"`, `"Float64"`).
        data_type: &'static str,
    },
    /// Input `id` closed by its sender.
    Closed(String),
}

impl NodeInput {
    /// A UInt8 message (frames, crops).
    pub fn bytes(id: &str, metadata: MetadataParameters, data: &[u8]) -> Self {
        Self::Message { id: id.into(), metadata, data: data.into(), data_type: "UInt8" }
    }
    /// A Float32 message (features).
    pub fn floats(id: &str, metadata: MetadataParameters, data: &[f32]) -> Self {
        Self::Message { id: id.into(), metadata, data: data.into(), data_type: "Float32" }
    }
    /// A Float64 message (boxes).
    pub fn doubles(id: &str, metadata: MetadataParameters, data: &[f64]) -> Self {
        Self::Message { id: id.into(), metadata, data: data.into(), data_type: "Float64" }
    }
}

/// A message a node sent.
#[derive(Debug, Clone)]
pub struct NodeOutput {
    /// The output id.
    pub id: String,
    /// The values of the Arrow array, as JSON.
    pub data: serde_json::Value,
}

impl NodeOutput {
    /// The values as numbers (every array trackflow sends is numeric).
    pub fn numbers(&self) -> Vec<f64> {
        self.data.as_array().map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect()).unwrap_or_default()
    }
    /// The values as bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.numbers().into_iter().map(|v| v as u8).collect()
    }
}

/// What a node did with its inputs.
#[derive(Debug)]
pub struct NodeRun {
    /// What `run` returned.
    pub result: Result<()>,
    /// Everything it sent, in order.
    pub outputs: Vec<NodeOutput>,
}

/// Runs `run` as a node of `kind` with `params` (a dataflow's `param` line; defaults for the
/// rest), `connected` inputs, and `inputs` delivered one millisecond apart, followed by the
/// closing of every connected input (a node without inputs just runs). No daemon, no process:
/// dora's testing mode.
pub fn run_node(kind: &str, run: RunFn, params: &str, connected: &[&str], inputs: Vec<NodeInput>) -> Result<NodeRun> {
    run_node_open(kind, run, params, connected, inputs, None)
}

/// [`run_node`] for a node without inputs that polls its event stream (a camera): the stream
/// stays open for `open_secs` (one that ends reads as a stop request), then a stop comes. dora's
/// testing mode delivers that stop before it lets the node go, so the run takes that long.
pub fn run_node_open(
    kind: &str,
    run: RunFn,
    params: &str,
    connected: &[&str],
    inputs: Vec<NodeInput>,
    open_secs: Option<f64>,
) -> Result<NodeRun> {
    let p = params_for(kind, params, connected)?;
    run_with_params(kind, run, &p, connected, inputs, open_secs)
}

/// [`run_node_open`] with parameters already made (`Params::checked`), for a kind that is not in
/// the registry (the book's example kind).
pub(crate) fn run_with_params(
    kind: &str,
    run: RunFn,
    p: &Params,
    connected: &[&str],
    inputs: Vec<NodeInput>,
    open_secs: Option<f64>,
) -> Result<NodeRun> {
    // One node at a time per process: runs in parallel threads were seen to receive each
    // other's stop (a camera test ended by another test's stop, only in the full suite).
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut events: Vec<TimedIncomingEvent> = Vec::new();
    let mut t = 0.0;
    let mut next = |event| {
        t += 0.001;
        TimedIncomingEvent { time_offset_secs: t, event }
    };
    for input in inputs {
        events.push(next(match input {
            NodeInput::Message { id, metadata, data, data_type } => IncomingEvent::Input {
                id: id.into(),
                metadata: Some(metadata),
                data: Some(Box::new(InputData::JsonObject { data, data_type: Some(data_type.into()) })),
            },
            NodeInput::Closed(id) => IncomingEvent::InputClosed { id: id.into() },
        }));
    }
    for id in connected {
        events.push(next(IncomingEvent::InputClosed { id: (*id).to_string().into() }));
    }
    if let Some(secs) = open_secs {
        events.push(TimedIncomingEvent { time_offset_secs: secs, event: IncomingEvent::Stop });
    } else if !connected.is_empty() {
        events.push(next(IncomingEvent::AllInputsClosed));
    }
    let input = TestingInput::Input(IntegrationTestInput::new(kind.parse().map_err(|e| anyhow::anyhow!("node id `{kind}`: {e}"))?, events));
    let (tx, mut rx) = output_channel();
    let (mut node, mut stream) =
        DoraNode::init_testing(input, TestingOutput::ToChannel(tx), TestingOptions { skip_output_time_offsets: true })
            .map_err(|e| anyhow::anyhow!("dora's testing mode: {e}"))?;
    let result = run(&mut node, &mut stream, p);
    drop(stream);
    drop(node);
    let outputs = drain_outputs(&mut rx)
        .into_iter()
        .map(|o| NodeOutput {
            id: o.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
            data: o.get("data").cloned().unwrap_or_default(),
        })
        .collect();
    Ok(NodeRun { result, outputs })
}
