//! The wire format: every port's Arrow layout and metadata keys, defined once, with an
//! `encode`/`decode` pair per message. Nodes never downcast ad hoc.
//!
//! | message  | Arrow payload                          | metadata                                       | size bound |
//! |----------|----------------------------------------|------------------------------------------------|------------|
//! | frame    | UInt8, H·W·C, row-major HWC, RGB(+X); empty when sent by reference | header, `width`, `height`, `channels`, `init_box` on frame 0; by reference: `file` (+ `aux_file`, `aux_modality`, `depth_clip`) | inline ≤ [`FRAME_INLINE_MAX`] bytes, else by reference (no pixels) |
//! | crop     | UInt8, S·S·C (HWC, as cut; normalised where the network runs) | header, `role`, `size`, `channels`, geometry, `init_box` | S·S·C bytes, bounded by the crop size |
//! | features | Float32, D·F·F (search feature map)    | header, `dims`, geometry, `init_box` (frame 0: empty payload) | D·F·F floats |
//! | box      | Float64, [x, y, w, h, score]           | header, `elapsed`, `lost` (live only)          | fixed: 5 floats |
//! | control  | empty                                  | `role` (`init`, `pause`, `resume`), `init_box` | empty |
//! | request  | empty                                  | `epoch`, `batch`, `size`                       | empty |
//! | batch    | Float32, templates · searches · boxes ([`crate::train::Batch`]) | `epoch`, `batch`, `size`, `template_size`, `search_size`, `channels`, `part`, `parts` | at most [`BATCH_PART_MAX`] bytes a message: a larger batch travels as parts of whole samples |
//! | metrics  | UInt8, one JSON object                 | `epoch`, `batch`                               | one small JSON object |
//! | checkpoint | empty: a notice, never the file       | `epoch`, `role` (`checkpoint` or `final`), `path`, `bytes`, `sha256` | a few hundred bytes of metadata |
//!
//! Every message must fit one dora message (see [`FRAME_INLINE_MAX`] for dora's limits): crops
//! and features are bounded by the model's sizes; a frame too big to carry inline travels by
//! reference, naming the image file(s) the receiver decodes itself; a batch too big for one
//! message travels in parts; a checkpoint stays on disk and only its notice travels.
//!
//! Training messages (the last four) are numbered by epoch and batch instead of the header.
//!
//! The header is on every message: `type`, `sequence` (sequence name), `index` (frame index),
//! `frames` (sequence length, so the end is known) and `t0` (ns since the Unix epoch when the
//! source read the frame). Boxes travel as Float64 so the box fed back to the crop node is
//! bit-identical to the fused tracker's state.

use dora_node_api::{DoraArray, MetadataParameters, Parameter};

use crate::data::modality::Modality;
use crate::tracker::crop::CropGeometry;

/// Metadata keys, in one place.
pub mod keys {
    /// Message type name (`frame`, `crop`, `features`, `box`).
    pub(crate) const TYPE: &str = "type";
    /// Sequence name.
    pub(crate) const SEQ: &str = "sequence"; // not "seq": dora reserves that key for streams
    /// Frame index within the sequence, from 0.
    pub const INDEX: &str = "index";
    /// Number of frames in the sequence.
    pub(crate) const FRAMES: &str = "frames";
    /// Time the source read the frame, ns since the Unix epoch.
    pub(crate) const T0: &str = "t0";
    /// Image width in pixels.
    pub(crate) const WIDTH: &str = "width";
    /// Image height in pixels.
    pub(crate) const HEIGHT: &str = "height";
    /// Channels (3 RGB, 6 RGB+X).
    pub(crate) const CHANNELS: &str = "channels";
    /// Init box `[x, y, w, h]`, on frame 0 only.
    pub(crate) const INIT_BOX: &str = "init_box";
    /// `template` or `search`.
    pub(crate) const ROLE: &str = "role";
    /// Template update crops: the share the template moves towards this one.
    pub(crate) const RATE: &str = "rate";
    /// Crop side in pixels after resizing.
    pub(crate) const SIZE: &str = "size";
    /// Box the crop was centred on, `[x, y, w, h]`.
    pub(crate) const PREV_BOX: &str = "prev_box";
    /// Side of the square cut from the image, in image pixels, before resizing.
    pub(crate) const CROP_SIZE: &str = "crop_size";
    /// Output size / crop size.
    pub(crate) const RESIZE_FACTOR: &str = "resize_factor";
    /// Tensor dimensions.
    pub(crate) const DIMS: &str = "dims";
    /// Seconds spent on this frame from reading to box.
    pub(crate) const ELAPSED: &str = "elapsed";
    /// Training epoch, from 1.
    pub(crate) const EPOCH: &str = "epoch";
    /// Batch index within the epoch, from 0.
    pub(crate) const BATCH: &str = "batch";
    /// Template crop side.
    pub(crate) const TEMPLATE_SIZE: &str = "template_size";
    /// Search crop side.
    pub(crate) const SEARCH_SIZE: &str = "search_size";
    /// Live boxes: the target is lost.
    pub const LOST: &str = "lost";
    /// Box: the tracker's confidence (the Hann-windowed peak ViPT reports to VOT).
    pub(crate) const CONFIDENCE: &str = "confidence";
    /// Batch: this message's part number, from 0.
    pub(crate) const PART: &str = "part";
    /// Batch: how many messages the batch was cut into.
    pub(crate) const PARTS: &str = "parts";
    /// Checkpoint notice: the file's absolute path.
    pub const PATH: &str = "path";
    /// Checkpoint notice: the file's size in bytes.
    pub(crate) const BYTES: &str = "bytes";
    /// Checkpoint notice: the file's SHA-256, hex.
    pub(crate) const SHA256: &str = "sha256";
    /// Frame sent by reference: the RGB image file to decode, an absolute path.
    pub const FILE: &str = "file";
    /// Frame sent by reference, RGB+X: the auxiliary image file, an absolute path.
    pub(crate) const AUX_FILE: &str = "aux_file";
    /// Frame sent by reference, RGB+X: the auxiliary modality (`depth`, `thermal` or `event`).
    pub const AUX_MODALITY: &str = "aux_modality";
    /// Frame sent by reference, RGB-D: clip far depth before scaling (ViPT's `depth_clip`).
    pub(crate) const DEPTH_CLIP: &str = "depth_clip";
}

/// The most pixel bytes (W·H·C) a frame message carries inline; a larger frame travels by
/// reference ([`FramePixels::File`]).
///
/// dora 1.1 IPC-encodes a UInt8 payload to about 1.125× its size (a validity bit per byte plus
/// padding) and refuses a message over 64 MiB (`dora_message::MAX_MESSAGE_BYTES`) when it goes
/// through the daemon, as it does in `trackflow test`'s generated graph, and over 256 MiB on the
/// shared-memory path. 48 MiB × 1.125 = 54 MiB stays under the smaller limit with room for the
/// metadata, whichever path dora picks. It still carries a 4K frame inline, RGB
/// (3840×2160×3 ≈ 23.7 MiB) and RGB+X (×6 ≈ 47.5 MiB) alike.
pub const FRAME_INLINE_MAX: usize = 48 << 20;

// The bound must hold after encoding, or frames just under it would fail on the daemon path.
const _: () = assert!(FRAME_INLINE_MAX + FRAME_INLINE_MAX / 8 + (1 << 20) < dora_message::MAX_MESSAGE_BYTES);

/// A message that does not match the wire format.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    /// A metadata key is missing or has the wrong type.
    #[error("{msg} message: metadata `{key}` is missing or is not {want}")]
    Metadata { msg: &'static str, key: &'static str, want: &'static str },
    /// The message is of another type than the port expects.
    #[error("expected a {want} message, got a `{got}` message (is the input wired to the right output?)")]
    WrongType { want: &'static str, got: String },
    /// The payload has the wrong Arrow type or length.
    #[error("{msg} message: payload {problem}")]
    Payload { msg: &'static str, problem: String },
}

/// Fields every message carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Sequence name.
    pub seq: String,
    /// Frame index, from 0. Messages meant for people show it 1-based ([`Header::number`]), as
    /// frame files and result lines are numbered.
    pub index: u32,
    /// Number of frames in the sequence.
    pub frames: u32,
    /// When the latest stage began work on this frame, ns since the Unix epoch: the source sets
    /// it when it reads the frame and the crop node resets it when it cuts the crop, so the
    /// head's `elapsed` is the model's share (crop to box), as OSTrack times a frame.
    pub t0: i64,
}

impl Header {
    /// The frame's number as people read it: 1-based, like frame files and result lines.
    pub(crate) fn number(&self) -> u32 {
        self.index + 1
    }

    /// Whether this is the sequence's last frame.
    pub(crate) fn is_last(&self) -> bool {
        self.index + 1 >= self.frames
    }
    fn write(&self, ty: &str, p: &mut MetadataParameters) {
        p.insert(keys::TYPE.into(), Parameter::String(ty.into()));
        p.insert(keys::SEQ.into(), Parameter::String(self.seq.clone()));
        p.insert(keys::INDEX.into(), Parameter::Integer(self.index.into()));
        p.insert(keys::FRAMES.into(), Parameter::Integer(self.frames.into()));
        p.insert(keys::T0.into(), Parameter::Integer(self.t0));
    }
    fn read(msg: &'static str, p: &MetadataParameters) -> Result<Self, WireError> {
        let got = string(msg, p, keys::TYPE)?;
        if got != msg {
            return Err(WireError::WrongType { want: msg, got: got.to_string() });
        }
        Ok(Self {
            seq: string(msg, p, keys::SEQ)?.to_string(),
            index: uint(msg, p, keys::INDEX)?,
            frames: uint(msg, p, keys::FRAMES)?,
            t0: int(msg, p, keys::T0)?,
        })
    }
}

impl CropGeometry {
    fn write(&self, p: &mut MetadataParameters) {
        p.insert(keys::PREV_BOX.into(), Parameter::ListFloat(self.prev_box.to_vec()));
        p.insert(keys::CROP_SIZE.into(), Parameter::Float(self.crop_size));
        p.insert(keys::RESIZE_FACTOR.into(), Parameter::Float(self.resize_factor));
        p.insert(keys::WIDTH.into(), Parameter::Integer(self.image_width.into()));
        p.insert(keys::HEIGHT.into(), Parameter::Integer(self.image_height.into()));
    }
    fn read(msg: &'static str, p: &MetadataParameters) -> Result<Self, WireError> {
        Ok(Self {
            prev_box: box4(msg, p, keys::PREV_BOX)?,
            crop_size: float(msg, p, keys::CROP_SIZE)?,
            resize_factor: float(msg, p, keys::RESIZE_FACTOR)?,
            image_width: uint(msg, p, keys::WIDTH)?,
            image_height: uint(msg, p, keys::HEIGHT)?,
        })
    }
}

/// A decoded image, the `frame` message.
///
/// Size bound: its pixels travel inline when they are at most [`FRAME_INLINE_MAX`] bytes, else
/// by reference (an empty payload naming the file(s) to decode, [`FrameFile`]), so a frame
/// message never exceeds what dora carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<P> {
    /// Common fields.
    pub header: Header,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Channels per pixel.
    pub channels: u32,
    /// Init box on frame 0.
    pub init_box: Option<[f64; 4]>,
    /// Pixels, row-major H×W×C (a byte buffer), or, as decoded, [`FramePixels`].
    pub pixels: P,
}

/// Where a frame sent by reference is read from. The receiver decodes the file(s) as the source
/// would have (`crate::data::modality::load_frame_at`), so the pixels are the same; it must see
/// the same file system as the source (nodes of one machine), which is why paths are absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameFile {
    /// The RGB image, an absolute path (metadata strings are UTF-8, so the path must be too).
    pub path: String,
    /// RGB+X frames: the auxiliary image merged after the RGB channels (6 channels in all).
    pub aux: Option<AuxFile>,
}

/// The auxiliary image of an RGB+X frame sent by reference.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxFile {
    /// The image, an absolute path.
    pub path: String,
    /// How it is read (a depth PNG becomes a colormap; thermal and event images are RGB).
    pub modality: Modality,
    /// RGB-D: clip far depth before scaling.
    pub depth_clip: bool,
}

impl FrameFile {
    fn write(&self, p: &mut MetadataParameters) {
        p.insert(keys::FILE.into(), Parameter::String(self.path.clone()));
        if let Some(a) = &self.aux {
            p.insert(keys::AUX_FILE.into(), Parameter::String(a.path.clone()));
            p.insert(keys::AUX_MODALITY.into(), Parameter::String(modality_name(a.modality).into()));
            p.insert(keys::DEPTH_CLIP.into(), Parameter::Bool(a.depth_clip));
        }
    }

    /// The reference in a frame's metadata; `None` for a frame whose pixels are inline.
    fn read(msg: &'static str, p: &MetadataParameters) -> Result<Option<Self>, WireError> {
        if !p.contains_key(keys::FILE) {
            // An auxiliary file without its RGB file is a broken reference, not an inline frame.
            if p.contains_key(keys::AUX_FILE) {
                return Err(WireError::Metadata { msg, key: keys::FILE, want: "a path (`aux_file` names only the auxiliary image)" });
            }
            return Ok(None);
        }
        let path = non_empty(msg, p, keys::FILE)?;
        let aux = if p.contains_key(keys::AUX_FILE) {
            let modality = match string(msg, p, keys::AUX_MODALITY)? {
                "depth" => Modality::Depth,
                "thermal" => Modality::Thermal,
                "event" => Modality::Event,
                _ => return Err(WireError::Metadata { msg, key: keys::AUX_MODALITY, want: "depth, thermal or event" }),
            };
            let depth_clip = match p.get(keys::DEPTH_CLIP) {
                Some(Parameter::Bool(b)) => *b,
                _ => return Err(WireError::Metadata { msg, key: keys::DEPTH_CLIP, want: "a bool" }),
            };
            Some(AuxFile { path: non_empty(msg, p, keys::AUX_FILE)?, modality, depth_clip })
        } else {
            None
        };
        Ok(Some(Self { path, aux }))
    }

    /// Channels of the image these files decode to: RGB, or RGB and the auxiliary image.
    pub fn channels(&self) -> u32 {
        if self.aux.is_some() { 6 } else { 3 }
    }
}

impl std::fmt::Display for FrameFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.aux {
            None => write!(f, "{}", self.path),
            Some(a) => write!(f, "{} + {} ({})", self.path, a.path, modality_name(a.modality)),
        }
    }
}

/// The wire name of a modality, as [`Modality::parse`] also reads it.
fn modality_name(m: Modality) -> &'static str {
    match m {
        Modality::Depth => "depth",
        Modality::Thermal => "thermal",
        Modality::Event => "event",
    }
}

/// A received frame's pixels: inline, borrowed from the Arrow buffer, or a reference to the
/// file(s) the receiver decodes (`crate::nodes::frame_image` turns either into an image).
#[derive(Debug, Clone, PartialEq)]
pub enum FramePixels<'a> {
    /// H×W×C bytes, borrowed from the message (no copy).
    Inline(&'a [u8]),
    /// A frame over [`FRAME_INLINE_MAX`]: the message carries no pixels, only where they are.
    File(FrameFile),
}

/// What a [`Frame`] can carry when it is encoded: pixels (any byte buffer, sent as the payload)
/// or a reference ([`FramePixels::File`], sent with an empty payload).
pub trait FramePayload {
    /// The file(s) the frame is read from when it travels by reference.
    fn file(&self) -> Option<&FrameFile>;
}

impl FramePayload for &[u8] {
    fn file(&self) -> Option<&FrameFile> {
        None
    }
}

impl FramePayload for Vec<u8> {
    fn file(&self) -> Option<&FrameFile> {
        None
    }
}

impl FramePayload for FramePixels<'_> {
    fn file(&self) -> Option<&FrameFile> {
        match self {
            Self::Inline(_) => None,
            Self::File(f) => Some(f),
        }
    }
}

impl<P: FramePayload> Frame<P> {
    /// The metadata for this frame (the payload is sent separately, ideally in place; empty for
    /// a frame sent by reference).
    pub fn encode(&self) -> MetadataParameters {
        let mut p = MetadataParameters::default();
        self.header.write("frame", &mut p);
        p.insert(keys::WIDTH.into(), Parameter::Integer(self.width.into()));
        p.insert(keys::HEIGHT.into(), Parameter::Integer(self.height.into()));
        p.insert(keys::CHANNELS.into(), Parameter::Integer(self.channels.into()));
        if let Some(b) = self.init_box {
            p.insert(keys::INIT_BOX.into(), Parameter::ListFloat(b.to_vec()));
        }
        if let Some(f) = self.pixels.file() {
            f.write(&mut p);
        }
        p
    }

    /// The pixel bytes the frame stands for (W·H·C), whether or not they travel inline.
    pub fn pixel_bytes(&self) -> usize {
        self.width as usize * self.height as usize * self.channels as usize
    }
}

impl<'a> Frame<FramePixels<'a>> {
    /// Reads a frame: inline pixels are borrowed from the Arrow buffer (no copy); a frame sent
    /// by reference must have an empty payload and a file to read, with as many channels as
    /// that file (and its auxiliary image) decode to.
    pub fn decode(p: &MetadataParameters, data: &'a DoraArray) -> Result<Self, WireError> {
        const M: &str = "frame";
        let header = Header::read(M, p)?;
        let (width, height, channels) = (uint(M, p, keys::WIDTH)?, uint(M, p, keys::HEIGHT)?, uint(M, p, keys::CHANNELS)?);
        let bytes: &[u8] = data.try_into().map_err(|e| payload(M, format!("is not UInt8: {e}")))?;
        let want = width as usize * height as usize * channels as usize;
        let pixels = match FrameFile::read(M, p)? {
            None if bytes.len() != want => {
                // The likely cause of an empty payload for a big frame: a sender that dropped the
                // reference; say so rather than only counting bytes.
                let hint = if bytes.is_empty() && want > FRAME_INLINE_MAX {
                    format!(" (a frame over {FRAME_INLINE_MAX} bytes travels by reference, but metadata `{}` is missing)", keys::FILE)
                } else {
                    String::new()
                };
                return Err(payload(M, format!("has {} bytes, expected {width}×{height}×{channels} = {want}{hint}", bytes.len())));
            }
            None => FramePixels::Inline(bytes),
            Some(file) if !bytes.is_empty() => {
                let n = bytes.len();
                return Err(payload(M, format!("has {n} bytes, but the frame is sent by reference to {file}: it must be empty")));
            }
            Some(file) if file.channels() != channels => {
                return Err(WireError::Metadata {
                    msg: M,
                    key: keys::CHANNELS,
                    want: "3 for a frame sent by reference to an RGB file, 6 with an auxiliary file",
                });
            }
            Some(file) => FramePixels::File(file),
        };
        Ok(Self { header, width, height, channels, init_box: opt_box4(M, p, keys::INIT_BOX)?, pixels })
    }
}

/// Whether a crop is the template (once per sequence) or a search region (every frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CropRole {
    /// The target's template.
    Template,
    /// A search region around the previous box.
    Search,
    /// A template cut around a confident frame's box, for the template update (`test {
    /// template-rate }`): sent on the search port just before the next search region, so it is
    /// blended in before that region is searched, at the rate the crop node's config chose.
    TemplateUpdate {
        /// The share the template moves towards this one.
        rate: f64,
    },
}

/// A crop, S×S×C bytes as cut and resized.
///
/// Size bound: S·S·C bytes, bounded by the config's crop size (under 1 MiB even for a 384-pixel
/// RGB+X search region), whatever the frame's size.
#[derive(Debug, Clone, PartialEq)]
pub struct Crop<D> {
    /// Common fields.
    pub header: Header,
    /// Template or search.
    pub role: CropRole,
    /// Side in pixels.
    pub size: u32,
    /// Channels.
    pub channels: u32,
    /// Where it was cut.
    pub geometry: CropGeometry,
    /// Init box (template of frame 0).
    pub init_box: Option<[f64; 4]>,
    /// S×S×C pixels.
    pub data: D,
}

impl<D: AsRef<[u8]>> Crop<D> {
    /// Metadata for this crop.
    pub fn encode(&self) -> MetadataParameters {
        let mut p = MetadataParameters::default();
        self.header.write("crop", &mut p);
        let role = match self.role {
            CropRole::Template => "template",
            CropRole::Search => "search",
            CropRole::TemplateUpdate { .. } => "template-update",
        };
        p.insert(keys::ROLE.into(), Parameter::String(role.into()));
        if let CropRole::TemplateUpdate { rate } = self.role {
            p.insert(keys::RATE.into(), Parameter::Float(rate));
        }
        p.insert(keys::SIZE.into(), Parameter::Integer(self.size.into()));
        p.insert(keys::CHANNELS.into(), Parameter::Integer(self.channels.into()));
        self.geometry.write(&mut p);
        if let Some(b) = self.init_box {
            p.insert(keys::INIT_BOX.into(), Parameter::ListFloat(b.to_vec()));
        }
        p
    }
}

impl<'a> Crop<&'a [u8]> {
    /// Reads a crop, borrowing its pixels.
    pub fn decode(p: &MetadataParameters, data: &'a DoraArray) -> Result<Self, WireError> {
        const M: &str = "crop";
        let header = Header::read(M, p)?;
        let role = match string(M, p, keys::ROLE)? {
            "template" => CropRole::Template,
            "search" => CropRole::Search,
            "template-update" => {
                let rate = float(M, p, keys::RATE)?;
                if !(rate > 0.0 && rate <= 1.0) {
                    return Err(WireError::Metadata { msg: M, key: keys::RATE, want: "a rate in (0, 1]" });
                }
                CropRole::TemplateUpdate { rate }
            }
            _ => return Err(WireError::Metadata { msg: M, key: keys::ROLE, want: "\"template\", \"search\" or \"template-update\"" }),
        };
        let (size, channels) = (uint(M, p, keys::SIZE)?, uint(M, p, keys::CHANNELS)?);
        let values: &[u8] = data.try_into().map_err(|e| payload(M, format!("is not UInt8: {e}")))?;
        let want = (channels * size * size) as usize;
        if values.len() != want {
            return Err(payload(M, format!("has {} bytes, expected {size}×{size}×{channels} = {want}", values.len())));
        }
        Ok(Self {
            header,
            role,
            size,
            channels,
            geometry: CropGeometry::read(M, p)?,
            init_box: opt_box4(M, p, keys::INIT_BOX)?,
            data: values,
        })
    }
}

/// Backbone output for one frame: the search feature map, or for frame 0 only the init box.
///
/// Size bound: D·F·F floats, fixed by the model (768×24×24 floats ≈ 1.7 MiB for a 384-pixel
/// search region); frame 0 has none.
#[derive(Debug, Clone, PartialEq)]
pub struct Features<D> {
    /// Common fields.
    pub header: Header,
    /// Tensor dimensions (D, F, F); empty on frame 0.
    pub dims: Vec<i64>,
    /// Crop geometry of the search region.
    pub geometry: CropGeometry,
    /// Init box, on frame 0 (which has no features).
    pub init_box: Option<[f64; 4]>,
    /// Values.
    pub data: D,
}

impl<D: AsRef<[f32]>> Features<D> {
    /// Metadata for these features.
    pub fn encode(&self) -> MetadataParameters {
        let mut p = MetadataParameters::default();
        self.header.write("features", &mut p);
        p.insert(keys::DIMS.into(), Parameter::ListInt(self.dims.clone()));
        self.geometry.write(&mut p);
        if let Some(b) = self.init_box {
            p.insert(keys::INIT_BOX.into(), Parameter::ListFloat(b.to_vec()));
        }
        p
    }
}

impl<'a> Features<&'a [f32]> {
    /// Reads features, borrowing their values.
    pub fn decode(p: &MetadataParameters, data: &'a DoraArray) -> Result<Self, WireError> {
        const M: &str = "features";
        let header = Header::read(M, p)?;
        let dims = match p.get(keys::DIMS) {
            Some(Parameter::ListInt(d)) => d.clone(),
            _ => return Err(WireError::Metadata { msg: M, key: keys::DIMS, want: "a list of integers" }),
        };
        let values: &[f32] = data.try_into().map_err(|e| payload(M, format!("is not Float32: {e}")))?;
        let want: i64 = if dims.is_empty() { 0 } else { dims.iter().product() };
        if values.len() as i64 != want {
            return Err(payload(M, format!("has {} values, dims {dims:?} need {want}", values.len())));
        }
        Ok(Self { header, dims, geometry: CropGeometry::read(M, p)?, init_box: opt_box4(M, p, keys::INIT_BOX)?, data: values })
    }
}

/// A tracked box.
///
/// Size bound: fixed, 5 floats.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxMsg {
    /// Common fields.
    pub header: Header,
    /// `[x, y, w, h]` in image pixels.
    pub bbox: [f64; 4],
    /// Peak of the score map (1 for the init frame).
    pub score: f64,
    /// Confidence for long-term measures: the response (score map × Hann window) at the chosen
    /// cell, as ViPT reports it; equal to `score` without a window. 1 for the init frame.
    pub confidence: f64,
    /// Seconds from reading the frame to this box.
    pub elapsed: f64,
    /// Live tracking: the target is flagged lost (low score for several frames, or not
    /// initialised yet). Always false offline.
    pub lost: bool,
}

impl BoxMsg {
    /// Metadata and payload.
    pub fn encode(&self) -> (MetadataParameters, Vec<f64>) {
        let mut p = MetadataParameters::default();
        self.header.write("box", &mut p);
        p.insert(keys::ELAPSED.into(), Parameter::Float(self.elapsed));
        if self.lost {
            p.insert(keys::LOST.into(), Parameter::Bool(true));
        }
        p.insert(keys::CONFIDENCE.into(), Parameter::Float(self.confidence));
        let [x, y, w, h] = self.bbox;
        (p, vec![x, y, w, h, self.score])
    }

    /// Reads a box.
    pub fn decode(p: &MetadataParameters, data: &DoraArray) -> Result<Self, WireError> {
        const M: &str = "box";
        let header = Header::read(M, p)?;
        let v: &[f64] = data.try_into().map_err(|e| payload(M, format!("is not Float64: {e}")))?;
        let [x, y, w, h, score] = v else {
            return Err(payload(M, format!("has {} values, expected 5 (x, y, w, h, score)", v.len())));
        };
        let lost = matches!(p.get(keys::LOST), Some(Parameter::Bool(true)));
        let confidence = float(M, p, keys::CONFIDENCE)?;
        Ok(Self { header, bbox: [*x, *y, *w, *h], score: *score, confidence, elapsed: float(M, p, keys::ELAPSED)?, lost })
    }
}

/// Trainer → sampler: make batch `batch` of epoch `epoch` with `size` samples.
///
/// Size bound: an empty payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Epoch, from 1.
    pub epoch: i64,
    /// Batch index, from 0.
    pub batch: i64,
    /// Samples.
    pub size: i64,
}

fn check_type(msg: &'static str, p: &MetadataParameters) -> Result<(), WireError> {
    let got = string(msg, p, keys::TYPE)?;
    if got != msg {
        return Err(WireError::WrongType { want: msg, got: got.to_string() });
    }
    Ok(())
}

fn train_header(ty: &str, epoch: i64, batch: i64) -> MetadataParameters {
    let mut p = MetadataParameters::default();
    p.insert(keys::TYPE.into(), Parameter::String(ty.into()));
    p.insert(keys::EPOCH.into(), Parameter::Integer(epoch));
    p.insert(keys::BATCH.into(), Parameter::Integer(batch));
    p
}

impl Request {
    /// Metadata (the payload is empty).
    pub fn encode(&self) -> MetadataParameters {
        let mut p = train_header("request", self.epoch, self.batch);
        p.insert(keys::SIZE.into(), Parameter::Integer(self.size));
        p
    }
    /// Reads a request.
    pub fn decode(p: &MetadataParameters) -> Result<Self, WireError> {
        const M: &str = "request";
        check_type(M, p)?;
        Ok(Self { epoch: int(M, p, keys::EPOCH)?, batch: int(M, p, keys::BATCH)?, size: int(M, p, keys::SIZE)? })
    }
}

/// Most bytes of samples one `batch` message carries. A batch is B·(C·(T²+S²)+4) floats: 32 RGB
/// samples at 128/256 pixels are 31 MB, but OSTrack's global batch of 128 at 192/384 pixels
/// (`--gpus 4`) is 283 MB, over dora's 256 MiB cap. So the sampler sends a larger batch as
/// consecutive parts of whole samples, each at most this size (under the 64 MiB daemon-path cap
/// with its encoding overhead), and the trainer joins them ([`crate::train::Batch::join`]).
pub const BATCH_PART_MAX: usize = 48 << 20;

/// Samples per `batch` message for batches of this shape: as many as fit [`BATCH_PART_MAX`], at
/// least one.
pub fn batch_part_samples(b: &crate::train::Batch) -> i64 {
    (BATCH_PART_MAX / (b.floats_per_sample() * 4)).max(1) as i64
}

/// Metadata of part `part` (0-based) of `parts` of a training batch; `b` is that part.
///
/// Size bound: at most [`BATCH_PART_MAX`] bytes of samples (one sample more only when a single
/// sample is larger), whatever the batch size.
pub fn encode_batch(b: &crate::train::Batch, part: i64, parts: i64) -> MetadataParameters {
    let mut p = train_header("batch", b.epoch, b.index);
    p.insert(keys::SIZE.into(), Parameter::Integer(b.size));
    p.insert(keys::TEMPLATE_SIZE.into(), Parameter::Integer(b.template_size));
    p.insert(keys::SEARCH_SIZE.into(), Parameter::Integer(b.search_size));
    p.insert(keys::CHANNELS.into(), Parameter::Integer(b.channels));
    p.insert(keys::PART.into(), Parameter::Integer(part));
    p.insert(keys::PARTS.into(), Parameter::Integer(parts));
    p
}

/// Reads a training batch part (copying its floats) and checks its length; returns it with its
/// part number and the number of parts (a message without them is a whole batch: 0 of 1).
pub fn decode_batch(p: &MetadataParameters, data: &DoraArray) -> Result<(crate::train::Batch, i64, i64), WireError> {
    const M: &str = "batch";
    check_type(M, p)?;
    let values: &[f32] = data.try_into().map_err(|e| payload(M, format!("is not Float32: {e}")))?;
    let b = crate::train::Batch {
        epoch: int(M, p, keys::EPOCH)?,
        index: int(M, p, keys::BATCH)?,
        size: int(M, p, keys::SIZE)?,
        template_size: int(M, p, keys::TEMPLATE_SIZE)?,
        search_size: int(M, p, keys::SEARCH_SIZE)?,
        channels: int(M, p, keys::CHANNELS)?,
        data: values.to_vec(),
    };
    b.validate().map_err(|e| payload(M, format!("{e}")))?;
    let (part, parts) = match (p.get(keys::PART), p.get(keys::PARTS)) {
        (None, None) => (0, 1),
        _ => (int(M, p, keys::PART)?, int(M, p, keys::PARTS)?),
    };
    if parts < 1 || !(0..parts).contains(&part) {
        return Err(WireError::Metadata { msg: M, key: keys::PART, want: "a part number below `parts`" });
    }
    Ok((b, part, parts))
}

/// A byte message of the training dataflow: `metrics` (one JSON object, a few hundred bytes) and
/// the checkpoint node's empty `ack`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bytes<D> {
    /// `metrics` or `ack`.
    pub ty: &'static str,
    /// Epoch, from 1.
    pub epoch: i64,
    /// Batch index (metrics) or 0.
    pub batch: i64,
    /// For acks: the role of the checkpoint acknowledged (`checkpoint` or `final`).
    pub role: String,
    /// The bytes.
    pub data: D,
}

impl<D: AsRef<[u8]>> Bytes<D> {
    /// Metadata.
    pub fn encode(&self) -> MetadataParameters {
        let mut p = train_header(self.ty, self.epoch, self.batch);
        p.insert(keys::ROLE.into(), Parameter::String(self.role.clone()));
        p
    }
}

impl<'a> Bytes<&'a [u8]> {
    /// Reads a byte message of type `ty`.
    pub fn decode(ty: &'static str, p: &MetadataParameters, data: &'a DoraArray) -> Result<Self, WireError> {
        check_type(ty, p)?;
        let bytes: &[u8] = data.try_into().map_err(|e| payload(ty, format!("is not UInt8: {e}")))?;
        Ok(Self {
            ty,
            epoch: int(ty, p, keys::EPOCH)?,
            batch: int(ty, p, keys::BATCH)?,
            role: string(ty, p, keys::ROLE)?.to_string(),
            data: bytes,
        })
    }
}

/// A checkpoint the trainer has written: a notice, never the file.
///
/// Size bound: a few hundred bytes of metadata and an empty payload, whatever the model. ViT-B's
/// weights with AdamW's moments are 1.1 GB, over dora's 256 MiB message cap (and its 64 MiB
/// daemon-path cap), so the trainer writes the file itself (temporary file, fsync, rename) and
/// only then announces it; a notice therefore always names a complete file, and the digest lets
/// the receiver prove it reads the bytes that were announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckpointNotice {
    /// Epochs finished when it was written, from 1.
    pub epoch: i64,
    /// `checkpoint` (weights, AdamW moments and run state: resumable) or `final` (weights only).
    pub role: String,
    /// Absolute path of the file, already in place under its final name.
    pub path: String,
    /// File size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub(crate) sha256: String,
}

impl CheckpointNotice {
    /// Metadata (the payload is empty).
    pub fn encode(&self) -> MetadataParameters {
        let mut p = train_header("checkpoint", self.epoch, 0);
        p.insert(keys::ROLE.into(), Parameter::String(self.role.clone()));
        p.insert(keys::PATH.into(), Parameter::String(self.path.clone()));
        // dora's metadata integers are i64; no file comes near 2^63 bytes.
        p.insert(keys::BYTES.into(), Parameter::Integer(self.bytes as i64));
        p.insert(keys::SHA256.into(), Parameter::String(self.sha256.clone()));
        p
    }

    /// Reads a notice; a payload is refused (an old trainer sending the file itself).
    pub fn decode(p: &MetadataParameters, data: &DoraArray) -> Result<Self, WireError> {
        const M: &str = "checkpoint";
        check_type(M, p)?;
        if !data.is_empty() {
            return Err(payload(M, format!("has {} bytes; a checkpoint notice carries none (the file is on disk)", data.len())));
        }
        let bytes = int(M, p, keys::BYTES)?;
        let role = string(M, p, keys::ROLE)?;
        if role != "checkpoint" && role != "final" {
            return Err(WireError::Metadata { msg: M, key: keys::ROLE, want: "\"checkpoint\" or \"final\"" });
        }
        let sha256 = string(M, p, keys::SHA256)?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WireError::Metadata { msg: M, key: keys::SHA256, want: "64 hex digits" });
        }
        Ok(Self {
            epoch: int(M, p, keys::EPOCH)?,
            role: role.to_string(),
            path: string(M, p, keys::PATH)?.to_string(),
            bytes: u64::try_from(bytes).map_err(|_| WireError::Metadata { msg: M, key: keys::BYTES, want: "a size ≥ 0" })?,
            sha256: sha256.to_ascii_lowercase(),
        })
    }
}

/// A command from the live view to a live tracker.
///
/// Size bound: an empty payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Control {
    /// Start (or restart) tracking this box `[x, y, w, h]` on the next frame.
    Init([f64; 4]),
    /// Stop tracking until `Resume` or `Init`.
    Pause,
    /// Continue tracking the current target.
    Resume,
}

impl Control {
    /// Metadata (the payload is empty).
    pub fn encode(&self) -> MetadataParameters {
        let mut p = MetadataParameters::default();
        p.insert(keys::TYPE.into(), Parameter::String("control".into()));
        let (cmd, b) = match self {
            Self::Init(b) => ("init", Some(*b)),
            Self::Pause => ("pause", None),
            Self::Resume => ("resume", None),
        };
        p.insert(keys::ROLE.into(), Parameter::String(cmd.into()));
        if let Some(b) = b {
            p.insert(keys::INIT_BOX.into(), Parameter::ListFloat(b.to_vec()));
        }
        p
    }
    /// Reads a command.
    pub fn decode(p: &MetadataParameters) -> Result<Self, WireError> {
        const M: &str = "control";
        check_type(M, p)?;
        match string(M, p, keys::ROLE)? {
            "init" => Ok(Self::Init(box4(M, p, keys::INIT_BOX)?)),
            "pause" => Ok(Self::Pause),
            "resume" => Ok(Self::Resume),
            _ => Err(WireError::Metadata { msg: M, key: keys::ROLE, want: "init, pause or resume" }),
        }
    }
}

fn payload(msg: &'static str, problem: String) -> WireError {
    WireError::Payload { msg, problem }
}

fn string<'p>(msg: &'static str, p: &'p MetadataParameters, key: &'static str) -> Result<&'p str, WireError> {
    match p.get(key) {
        Some(Parameter::String(s)) => Ok(s),
        _ => Err(WireError::Metadata { msg, key, want: "a string" }),
    }
}

fn non_empty(msg: &'static str, p: &MetadataParameters, key: &'static str) -> Result<String, WireError> {
    match string(msg, p, key)? {
        "" => Err(WireError::Metadata { msg, key, want: "a non-empty path" }),
        s => Ok(s.to_string()),
    }
}

fn int(msg: &'static str, p: &MetadataParameters, key: &'static str) -> Result<i64, WireError> {
    match p.get(key) {
        Some(Parameter::Integer(i)) => Ok(*i),
        _ => Err(WireError::Metadata { msg, key, want: "an integer" }),
    }
}

fn uint(msg: &'static str, p: &MetadataParameters, key: &'static str) -> Result<u32, WireError> {
    u32::try_from(int(msg, p, key)?).map_err(|_| WireError::Metadata { msg, key, want: "a non-negative 32-bit integer" })
}

fn float(msg: &'static str, p: &MetadataParameters, key: &'static str) -> Result<f64, WireError> {
    match p.get(key) {
        Some(Parameter::Float(f)) => Ok(*f),
        _ => Err(WireError::Metadata { msg, key, want: "a float" }),
    }
}

fn opt_box4(msg: &'static str, p: &MetadataParameters, key: &'static str) -> Result<Option<[f64; 4]>, WireError> {
    match p.get(key) {
        None => Ok(None),
        Some(_) => box4(msg, p, key).map(Some),
    }
}

fn box4(msg: &'static str, p: &MetadataParameters, key: &'static str) -> Result<[f64; 4], WireError> {
    match p.get(key) {
        Some(Parameter::ListFloat(v)) if v.len() == 4 => Ok([v[0], v[1], v[2], v[3]]),
        _ => Err(WireError::Metadata { msg, key, want: "a list of 4 floats" }),
    }
}

/// Wraps a slice as an Arrow array, as a receiver would see it (for tests and in-process use).
pub fn array_u8(v: Vec<u8>) -> DoraArray {
    DoraArray::from_array(dora_node_api::arrow_v59::array::UInt8Array::from(v))
}

/// Wraps floats as an Arrow Float32 array.
pub fn array_f32(v: Vec<f32>) -> DoraArray {
    DoraArray::from_array(dora_node_api::arrow_v59::array::Float32Array::from(v))
}

/// Wraps floats as an Arrow Float64 array.
pub fn array_f64(v: Vec<f64>) -> DoraArray {
    DoraArray::from_array(dora_node_api::arrow_v59::array::Float64Array::from(v))
}

#[cfg(test)]
mod tests;
