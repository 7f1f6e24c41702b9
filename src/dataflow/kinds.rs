//! The built-in node kinds (each run as `trackflow node <kind>`): for each role, its ports with their message types, and
//! its typed parameters (numbers with the range they accept). The checker validates dataflows
//! against this table before anything runs.

use std::fmt;

use crate::base::diagnostic::{FloatRange, IntRange};

/// What travels on a port. Ports connect only when their types agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A decoded image: UInt8 H×W×C with sequence and frame metadata ([`crate::wire::Frame`]).
    Frame,
    /// A crop as cut and resized: UInt8 S×S×C with its crop geometry ([`crate::wire::Crop`]).
    Crop,
    /// Backbone output: search-region feature map Float32 1×D×F×F ([`crate::wire::Features`]).
    Features,
    /// A tracked box in image pixels with its score ([`crate::wire::BoxMsg`]).
    Box,
    /// Trainer → sampler: which batch to make next ([`crate::wire::Request`]).
    Request,
    /// A training batch: normalised crops and boxes ([`crate::train::Batch`]).
    Batch,
    /// Training numbers of one step, as JSON ([`crate::wire::Bytes`]).
    Metrics,
    /// A notice that a checkpoint file is written and in place: path, size, SHA-256; the file
    /// itself never travels ([`crate::wire::CheckpointNotice`]).
    Checkpoint,
    /// "Written": the checkpoint node's acknowledgement of a checkpoint ([`crate::wire::Bytes`], empty).
    Ack,
    /// A user command for a live tracker: init with a box, pause, resume ([`crate::wire::Control`]).
    Control,
}

impl MessageType {
    /// The name used in KDL (`type="box"`) and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Frame => "frame",
            Self::Crop => "crop",
            Self::Features => "features",
            Self::Box => "box",
            Self::Request => "request",
            Self::Batch => "batch",
            Self::Metrics => "metrics",
            Self::Checkpoint => "checkpoint",
            Self::Ack => "ack",
            Self::Control => "control",
        }
    }

    /// Parses a name written in KDL.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Every message type, for help texts.
    pub const ALL: [Self; 10] = [
        Self::Frame,
        Self::Crop,
        Self::Features,
        Self::Box,
        Self::Request,
        Self::Batch,
        Self::Metrics,
        Self::Checkpoint,
        Self::Ack,
        Self::Control,
    ];
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of a node parameter. Numbers carry the range they accept, so a parameter cannot be
/// declared without one and the checker refuses a value out of it before anything starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamType {
    /// Any string.
    Str,
    /// A file or folder; relative paths are resolved against the KDL file that sets them.
    Path,
    /// A model preset name (`configs/ostrack/<name>.kdl`) or a path to a config file.
    Config,
    /// A URL (`http://`, `rtsp://`), an absolute path (`/dev/video0`) or a file path relative to
    /// the KDL file.
    Url,
    /// A whole number within the range.
    Int(IntRange),
    /// A number within the range (integers are accepted too).
    Float(FloatRange),
    /// `#true` or `#false`.
    Bool,
    /// One of a fixed list of strings.
    Choice(&'static [&'static str]),
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str => f.write_str("a string"),
            Self::Path => f.write_str("a path (string)"),
            Self::Config => f.write_str("a preset name or config path (string)"),
            Self::Url => f.write_str("a URL, device or file path (string)"),
            Self::Int(r) if r.is_any() => f.write_str("an integer"),
            Self::Int(r) => write!(f, "an integer in {r}"),
            Self::Float(r) => write!(f, "a number in {r}"),
            Self::Bool => f.write_str("#true or #false"),
            Self::Choice(c) => write!(f, "one of {}", c.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// A parameter a node kind accepts.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// Name as written in KDL (`param name=value`).
    pub name: &'static str,
    /// Its type.
    pub ty: ParamType,
    /// Default value, as KDL would write it; `None` means required.
    pub default: Option<&'static str>,
    /// One line for the docs and help texts.
    pub doc: &'static str,
}

/// A port of a node kind.
#[derive(Debug, Clone, Copy)]
pub struct PortSpec {
    /// Port id.
    pub name: &'static str,
    /// What travels on it.
    pub ty: MessageType,
    /// For inputs: whether a dataflow must connect it.
    pub required: bool,
}

/// A built-in node role.
#[derive(Debug, Clone, Copy)]
pub struct NodeKind {
    /// The name written as `kind="..."`.
    pub name: &'static str,
    /// One line for the docs.
    pub doc: &'static str,
    /// Inputs it reads.
    pub inputs: &'static [PortSpec],
    /// Outputs it sends.
    pub outputs: &'static [PortSpec],
    /// Parameters it accepts.
    pub params: &'static [ParamSpec],
}

impl NodeKind {
    /// Looks a kind up by name.
    pub fn get(name: &str) -> Option<&'static NodeKind> {
        KINDS.iter().find(|k| k.name == name)
    }
    /// An input port by id.
    pub fn input(&self, id: &str) -> Option<&'static PortSpec> {
        self.inputs.iter().find(|p| p.name == id)
    }
    /// An output port by id.
    pub fn output(&self, id: &str) -> Option<&'static PortSpec> {
        self.outputs.iter().find(|p| p.name == id)
    }
    /// A parameter by name.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }
}

const fn input(name: &'static str, ty: MessageType, required: bool) -> PortSpec {
    PortSpec { name, ty, required }
}
const fn output(name: &'static str, ty: MessageType) -> PortSpec {
    PortSpec { name, ty, required: false }
}
const fn param(name: &'static str, ty: ParamType, default: Option<&'static str>, doc: &'static str) -> ParamSpec {
    ParamSpec { name, ty, default, doc }
}
/// A whole-number parameter accepting `min..=max`.
const fn int(min: i64, max: i64) -> ParamType {
    ParamType::Int(IntRange::new(min, max))
}
/// A number parameter accepting `range`.
const fn float(range: FloatRange) -> ParamType {
    ParamType::Float(range)
}
/// No upper end for counts whose size only costs time (frames, checkpoints kept).
const MAX: i64 = i64::MAX;
/// Frame rates: a video at more than 1000 fps is a typo.
const FPS: FloatRange = FloatRange::above(0.0, 1000.0);
/// Shares and thresholds.
const SHARE: FloatRange = FloatRange::closed(0.0, 1.0);

/// Parameters shared by every node that runs the model.
const DEVICE: ParamSpec = param("device", ParamType::Str, Some("\"auto\""), "`auto`, `cpu` or `cuda:N`");
const CONFIG: ParamSpec =
    param("config", ParamType::Config, Some("\"mobile\""), "model preset (configs/ostrack/<name>.kdl) or a config file");
const WEIGHTS: ParamSpec = param(
    "weights",
    ParamType::Path,
    Some("\"\""),
    "safetensors weights; empty means the preset's default, or random weights when it has none",
);
const UNTRAINED: ParamSpec = param(
    "untrained",
    ParamType::Bool,
    Some("#false"),
    "random weights (from `seed`) even when the preset has its own: an untrained baseline",
);
const CE: ParamSpec = param("ce", ParamType::Bool, Some("#true"), "candidate elimination; #false keeps every search token");
const HANN: ParamSpec = param("hann", ParamType::Bool, Some("#true"), "weight the score map with a Hann window before the argmax");
const SEED: ParamSpec = param("seed", ParamType::Int(IntRange::ANY), Some("0"), "seed for random weights when no file is given");
const PRECISION: ParamSpec =
    param("precision", ParamType::Choice(&["fp32", "fp16", "bf16"]), Some("\"fp32\""), "compute precision (fp16/bf16 on GPU only)");
/// Up to about 30 years: beyond that `Duration` overflows, and nobody means it.
const IDLE_TIMEOUT: ParamSpec = param(
    "idle-timeout",
    float(FloatRange::above(0.0, 1e9)),
    Some("120.0"),
    "seconds without input before the node gives up and reports its upstream as dead",
);

/// Every built-in node kind.
pub static KINDS: &[NodeKind] = &[
    NodeKind {
        name: "source",
        doc: "reads image-sequence folders or videos and sends frames; advances on box feedback",
        inputs: &[input("box", MessageType::Box, false)],
        outputs: &[output("frame", MessageType::Frame)],
        params: &[
            param("path", ParamType::Path, None, "a sequence folder, a dataset folder of sequences, or a video file"),
            param(
                "format",
                ParamType::Choice(&["auto", "otb", "got10k", "lasot", "trackingnet", "uav", "nfs", "tnl2k", "folder"]),
                Some("\"auto\""),
                "sequence layout; `auto` detects it",
            ),
            param("credits", int(1, 1024), Some("2"), "frames sent ahead of the last box, so decoding overlaps the forward pass"),
            param("init-box", ParamType::Str, Some("\"\""), "\"x,y,w,h\" init box, overriding the ground truth"),
            param("max-frames", int(0, MAX), Some("0"), "stop each sequence after this many frames (0 = all)"),
            param(
                "sequences",
                ParamType::Str,
                Some("\"\""),
                "sequence names to run: a JSON array of names (kept exactly, commas and spaces included) or comma-separated names (empty = all)",
            ),
            IDLE_TIMEOUT,
        ],
    },
    NodeKind {
        name: "crop",
        doc: "cuts the template once per sequence and the search region per frame around the previous box",
        inputs: &[input("frame", MessageType::Frame, true), input("box", MessageType::Box, true)],
        outputs: &[output("template", MessageType::Crop), output("search", MessageType::Crop)],
        params: &[CONFIG, IDLE_TIMEOUT],
    },
    NodeKind {
        name: "backbone",
        doc: "the ViT forward pass with candidate elimination (libtorch, GPU when there is one)",
        inputs: &[input("template", MessageType::Crop, true), input("search", MessageType::Crop, true)],
        outputs: &[output("features", MessageType::Features)],
        params: &[CONFIG, WEIGHTS, UNTRAINED, SEED, DEVICE, PRECISION, CE, IDLE_TIMEOUT],
    },
    NodeKind {
        name: "head",
        doc: "the center head, Hann window, box decode, map back to the image and clip",
        inputs: &[input("features", MessageType::Features, true)],
        outputs: &[output("box", MessageType::Box)],
        params: &[CONFIG, WEIGHTS, UNTRAINED, SEED, DEVICE, HANN, IDLE_TIMEOUT],
    },
    NodeKind {
        name: "tracker",
        doc: "crop, backbone and head fused in one node (the `trackflow track` path); with `live`, for cameras",
        inputs: &[input("frame", MessageType::Frame, true), input("control", MessageType::Control, false)],
        outputs: &[output("box", MessageType::Box)],
        params: &[
            CONFIG,
            WEIGHTS,
            UNTRAINED,
            SEED,
            DEVICE,
            PRECISION,
            CE,
            HANN,
            param(
                "live",
                ParamType::Bool,
                Some("#false"),
                "camera mode: frames may be skipped (counted), init from `init-box` or a control message",
            ),
            param("init-box", ParamType::Str, Some("\"\""), "live: \"x,y,w,h\" to start tracking on the first frame"),
            param("lost-threshold", float(SHARE), Some("0.3"), "live: peak score under which a frame counts towards `lost`"),
            param("lost-frames", int(1, 1_000_000), Some("5"), "live: consecutive low-score frames before the box is flagged lost"),
            param(
                "delay-ms",
                float(FloatRange::closed(0.0, 3_600_000.0)),
                Some("0.0"),
                "live: extra time per frame (simulates a slower model, for tests and benchmarks)",
            ),
            IDLE_TIMEOUT,
        ],
    },
    NodeKind {
        name: "camera",
        doc: "live frames from MJPEG-over-HTTP, V4L2 (/dev/videoN), RTSP, or a video file played at its frame rate",
        inputs: &[],
        outputs: &[output("frame", MessageType::Frame)],
        params: &[
            param("url", ParamType::Url, None, "http://host:port/path (MJPEG), rtsp://..., /dev/videoN, or a video file"),
            param("width", int(0, 16384), Some("0"), "frame width (devices, RTSP: required; 0 keeps the source's)"),
            param("height", int(0, 16384), Some("0"), "frame height"),
            param("fps", float(FloatRange::closed(0.0, 1000.0)), Some("0.0"), "frame rate (0 keeps the source's)"),
            param("loop", ParamType::Bool, Some("#false"), "video files: start again at the end"),
            param("max-frames", int(0, MAX), Some("0"), "stop after this many frames (0 = run until stopped or the source ends)"),
            param("retries", int(0, 1000), Some("5"), "reconnect attempts, with doubling backoff, after the source fails or stalls"),
            param(
                "format",
                ParamType::Choice(&["auto", "mjpeg", "yuyv"]),
                Some("\"auto\""),
                "V4L2 devices: the pixel format to ask for (mjpeg: full size and rate on most USB cameras)",
            ),
        ],
    },
    NodeKind {
        name: "live-view",
        doc: "serves a local web page with the live stream, box, score and fps; drag a box to (re)start tracking; records video and boxes",
        inputs: &[input("frame", MessageType::Frame, true), input("box", MessageType::Box, false)],
        outputs: &[output("control", MessageType::Control)],
        params: &[
            param("bind", ParamType::Str, Some("\"127.0.0.1\""), "address the page is served on (loopback by default)"),
            param(
                "allow-hosts",
                ParamType::Str,
                Some("\"\""),
                "more names the page may be reached by, comma-separated `name` or `name:port` (loopback names and `bind` always are); checked against each request's Host and Origin",
            ),
            param("port", int(0, 65535), Some("8090"), "port of the page (0: any free port, printed at start)"),
            param("record", ParamType::Path, Some("\"\""), "record the annotated stream to this .mp4 and the boxes to <name>.boxes.txt"),
            param("fps", float(FPS), Some("30.0"), "frame rate of the recording"),
            IDLE_TIMEOUT,
        ],
    },
    NodeKind {
        name: "viewer",
        doc: "draws boxes on frames: an annotated MP4 and a contact-sheet PNG per sequence",
        inputs: &[input("frame", MessageType::Frame, true), input("box", MessageType::Box, true)],
        outputs: &[],
        params: &[
            param("out", ParamType::Path, Some("\"results/view\""), "folder for <seq>.mp4 and <seq>_sheet.png"),
            param("video", ParamType::Bool, Some("#true"), "write the annotated video"),
            param("sheet", ParamType::Bool, Some("#true"), "write the contact sheet"),
            param("sheet-frames", int(1, 1000), Some("12"), "frames on the contact sheet, evenly spaced"),
            param("fps", float(FPS), Some("15.0"), "frame rate of the annotated video"),
            IDLE_TIMEOUT,
        ],
    },
    NodeKind {
        name: "writer",
        doc: "writes OSTrack-format results (<seq>.txt, <seq>_time.txt) atomically",
        inputs: &[input("box", MessageType::Box, true)],
        outputs: &[],
        params: &[
            param("out", ParamType::Path, Some("\"results\""), "results folder"),
            param("delimiter", ParamType::Choice(&["tab", "comma"]), Some("\"tab\""), "column separator of <seq>.txt"),
            param(
                "stamps",
                ParamType::Bool,
                Some("#false"),
                "also write <seq>_stamps.txt: when each box arrived (ns since the epoch), for benchmarks",
            ),
            IDLE_TIMEOUT,
        ],
    },
    NodeKind {
        name: "sampler",
        doc: "training pairs: datasets by ratio, causal frame pairs, jitter, crops, augmentation; batches on request",
        inputs: &[input("request", MessageType::Request, true)],
        outputs: &[output("batch", MessageType::Batch)],
        params: &[
            CONFIG,
            param("roots", ParamType::Str, Some("\"\""), "dataset folders as key=path,key=path (over trackflow.local.kdl)"),
            param("local", ParamType::Path, Some("\"../trackflow.local.kdl\""), "machine-local file naming dataset folders"),
            param("data-specs", ParamType::Path, Some("\"../configs/data_specs\""), "folder of split files (GOT-10k, LaSOT)"),
            param("workers", int(1, 256), Some("2"), "loader threads"),
            param("seed", ParamType::Int(IntRange::ANY), Some("42"), "run seed: batch b of epoch e is a function of it"),
            param("max-bad-fraction", float(SHARE), Some("0.05"), "stop when more sample attempts than this hit unreadable images"),
            IDLE_TIMEOUT,
        ],
    },
    NodeKind {
        name: "trainer",
        doc: "the model, loss, backward pass and AdamW step; asks the sampler for batches and emits metrics and checkpoints",
        inputs: &[input("batch", MessageType::Batch, true), input("saved", MessageType::Ack, false)],
        outputs: &[
            output("request", MessageType::Request),
            output("metrics", MessageType::Metrics),
            output("checkpoint", MessageType::Checkpoint),
        ],
        params: &[
            CONFIG,
            DEVICE,
            param("seed", ParamType::Int(IntRange::ANY), Some("42"), "run seed (weights init, drop path, sampling)"),
            param("init", ParamType::Path, Some("\"\""), "start from these trackflow weights (empty: random)"),
            param("pretrained", ParamType::Path, Some("\"\""), "MAE ViT encoder weights (safetensors) for the backbone"),
            param("resume", ParamType::Path, Some("\"\""), "checkpoint folder to continue from (empty: start fresh)"),
            // 0 keeps the config's value, so these start at 0; the effective values (config or
            // override) are checked against each other by `trackflow train` before dora starts.
            param("epochs", int(0, 1_000_000), Some("0"), "override the config's epochs (0: keep)"),
            param("sample-per-epoch", int(0, 1_000_000_000), Some("0"), "override the config's samples per epoch (0: keep)"),
            param("batch-size", int(0, 65536), Some("0"), "override the config's batch size, per device (0: keep)"),
            param("checkpoint-every", int(1, 1_000_000), Some("1"), "epochs between checkpoints (the last epoch always gets one)"),
            param("prefetch", int(1, 1024), Some("4"), "batches asked for ahead of the one being trained on"),
            param("threads", int(0, 4096), Some("0"), "libtorch CPU threads (0: libtorch's default)"),
            param(
                "precision",
                ParamType::Choice(&["fp32", "fp16", "bf16"]),
                Some("\"fp32\""),
                "training precision: fp16 is CUDA autocast with dynamic loss scaling; bf16 runs bfloat16 copies over float32 master weights",
            ),
            param(
                "devices",
                ParamType::Str,
                Some("\"\""),
                "data-parallel devices, comma-separated (\"cuda:0,cuda:1\"): one replica each, global batch = replicas × batch-size (empty: `device` alone)",
            ),
            param(
                "out",
                ParamType::Path,
                Some("\"../output\""),
                "save folder: the trainer writes checkpoints/OSTrack_epNNNN.safetensors and <name>.safetensors there itself, and announces each on `checkpoint`",
            ),
            param("name", ParamType::Str, Some("\"model\""), "file stem of the final weights"),
            IDLE_TIMEOUT,
        ],
    },
    NodeKind {
        name: "checkpoint",
        doc: "checks each checkpoint the trainer announces (size, SHA-256), keeps the newest few, and confirms it",
        inputs: &[input("checkpoint", MessageType::Checkpoint, true)],
        outputs: &[output("saved", MessageType::Ack)],
        params: &[
            param("keep", int(1, 1_000_000), Some("3"), "checkpoints to keep"),
            param("verify", ParamType::Bool, Some("#true"), "re-read each announced file and compare its SHA-256 with the notice's"),
            // Checkpoints come once per epoch or less often, which can be hours apart; a trainer
            // that dies is reported by dora at once, so this wait only needs to bound a hang.
            param(
                "idle-timeout",
                float(FloatRange::above(0.0, 1e9)),
                Some("604800.0"),
                "seconds without a checkpoint before the node gives up (default a week: epochs can be long)",
            ),
        ],
    },
    NodeKind {
        name: "metrics",
        doc: "appends step metrics to metrics.jsonl and draws the loss curves (loss.svg, loss.png) each epoch",
        inputs: &[input("metrics", MessageType::Metrics, true)],
        outputs: &[],
        params: &[param("out", ParamType::Path, Some("\"../output\""), "save folder"), IDLE_TIMEOUT],
    },
];
