//! What a node kind declares (each kind is run as `trackflow node <kind>`): its ports with their
//! message types, and its typed parameters (numbers with the range they accept), with the
//! building blocks and the parameters several kinds share. The checker validates dataflows
//! against these declarations before anything runs.

use std::fmt;

pub use crate::base::diagnostic::{FloatRange, IntRange};

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
    pub(crate) const ALL: [Self; 10] = [
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
    /// A file or folder the node writes. Relative paths are resolved as [`ParamType::Path`]'s,
    /// except in trackflow's own copy of a dataflow (`trackflow run dataflows/track.kdl` where
    /// the folder has none): there they are taken from the working folder, as in a checkout, so
    /// results land beside the user rather than in trackflow's data folder.
    Output,
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
            Self::Output => f.write_str("an output path (string)"),
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
    /// Looks a built-in kind up by name ([`crate::nodes::registry`]).
    pub fn get(name: &str) -> Option<&'static NodeKind> {
        crate::nodes::registry::get(name).map(|r| r.kind)
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

/// An input port: `required` ones must be connected.
pub(crate) const fn input(name: &'static str, ty: MessageType, required: bool) -> PortSpec {
    PortSpec { name, ty, required }
}
/// An output port.
pub const fn output(name: &'static str, ty: MessageType) -> PortSpec {
    PortSpec { name, ty, required: false }
}
/// A parameter: its KDL name, type (with the range numbers accept), default (a KDL value, or
/// `None` when the parameter is required) and doc line.
pub(crate) const fn param(name: &'static str, ty: ParamType, default: Option<&'static str>, doc: &'static str) -> ParamSpec {
    ParamSpec { name, ty, default, doc }
}
/// A whole-number parameter accepting `min..=max`.
pub const fn int(min: i64, max: i64) -> ParamType {
    ParamType::Int(IntRange::new(min, max))
}
/// A number parameter accepting `range`.
pub const fn float(range: FloatRange) -> ParamType {
    ParamType::Float(range)
}
/// No upper end for counts whose size only costs time (frames, checkpoints kept).
pub const MAX: i64 = i64::MAX;
/// Frame rates: a video at more than 1000 fps is a typo.
pub(crate) const FPS: FloatRange = FloatRange::above(0.0, 1000.0);
/// Shares and thresholds.
pub(crate) const SHARE: FloatRange = FloatRange::closed(0.0, 1.0);

/// Parameters shared by every node that runs the model: the device.
pub(crate) const DEVICE: ParamSpec = param("device", ParamType::Str, Some("\"auto\""), "`auto`, `cpu` or `cuda:N`");
/// The model preset or config file.
pub(crate) const CONFIG: ParamSpec =
    param("config", ParamType::Config, Some("\"mobile\""), "model preset (configs/ostrack/<name>.kdl) or a config file");
/// Weights to load instead of the preset's.
pub(crate) const WEIGHTS: ParamSpec = param(
    "weights",
    ParamType::Path,
    Some("\"\""),
    "safetensors weights; empty means the preset's default, or random weights when it has none",
);
/// Random weights on purpose.
pub const UNTRAINED: ParamSpec = param(
    "untrained",
    ParamType::Bool,
    Some("#false"),
    "random weights (from `seed`) even when the preset has its own: an untrained baseline",
);
/// Candidate elimination on or off.
pub const CE: ParamSpec = param("ce", ParamType::Bool, Some("#true"), "candidate elimination; #false keeps every search token");
/// The Hann window on the score map on or off.
pub(crate) const HANN: ParamSpec =
    param("hann", ParamType::Bool, Some("#true"), "weight the score map with a Hann window before the argmax");
/// The seed of random weights.
pub(crate) const SEED: ParamSpec = param("seed", ParamType::Int(IntRange::ANY), Some("0"), "seed for random weights when no file is given");
/// Compute precision.
pub(crate) const PRECISION: ParamSpec =
    param("precision", ParamType::Choice(&["fp32", "fp16", "bf16"]), Some("\"fp32\""), "compute precision (fp16/bf16 on GPU only)");
/// Up to about 30 years: beyond that `Duration` overflows, and nobody means it.
pub const IDLE_TIMEOUT: ParamSpec = param(
    "idle-timeout",
    float(FloatRange::above(0.0, 1e9)),
    Some("120.0"),
    "seconds without input before the node gives up and reports its upstream as dead",
);

/// Whether a parameter struct's field reads the parameter `spec` names: `idle_timeout` and
/// `r#loop` read `idle-timeout` and `loop`. Evaluated while compiling ([`node_params`]).
pub(crate) const fn names_match(field: &str, spec: &str) -> bool {
    let (f, s) = (field.as_bytes(), spec.as_bytes());
    let skip = if f.len() > 2 && f[0] == b'r' && f[1] == b'#' { 2 } else { 0 };
    if f.len() - skip != s.len() {
        return false;
    }
    let mut i = 0;
    while i < s.len() {
        let c = f[i + skip];
        if !(c == s[i] || (c == b'_' && s[i] == b'-')) {
            return false;
        }
        i += 1;
    }
    true
}

/// Declares a node kind's parameters once: each field of the typed struct the node reads names
/// the spec (KDL name, type with range, default, doc) the checker validates it against.
///
/// ```text
/// node_params! {
///     /// The crop node's parameters.
///     pub struct CropParams {
///         /// Model preset or config file.
///         config: String = CONFIG,
///         /// Seconds without input before giving up.
///         idle_timeout: f64 = IDLE_TIMEOUT,
///     }
/// }
/// ```
///
/// makes `CropParams` (serde, kebab-case names) and `CropParams::SPECS`, the list a
/// [`NodeKind`]'s `params` takes. A field whose name is not its spec's (in kebab case) does not
/// compile; a field whose type cannot hold its spec's values fails the registry's test.
macro_rules! node_params {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $spec:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }
        impl $name {
            /// Every parameter's spec, in declaration order.
            pub const SPECS: &'static [$crate::nodes::kinds::ParamSpec] = &[$($spec),*];
        }
        const _: () = {
            $( assert!(
                $crate::nodes::kinds::names_match(stringify!($field), $spec.name),
                concat!("`", stringify!($name), "::", stringify!($field), "` does not read the parameter its spec names")
            ); )*
        };
    };
}
pub(crate) use node_params;

#[cfg(test)]
mod tests {
    use super::names_match;

    #[test]
    fn field_names_pair_with_kebab_case_parameters() {
        assert!(names_match("idle_timeout", "idle-timeout"));
        assert!(names_match("r#loop", "loop"));
        assert!(names_match("ce", "ce"));
        assert!(!names_match("idle_timeout", "idle-time"));
        assert!(!names_match("config", "configs"));
        assert!(names_match("init_box", "init-box"));
        assert!(!names_match("init-box", "init_box"), "a `-` in a field is no `_` in a spec");
        assert!(!names_match("r#", "r"));
    }
}
