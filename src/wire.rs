//! The wire format: every port's Arrow layout and metadata keys, defined once, with an
//! `encode`/`decode` pair per message. Nodes never downcast ad hoc.
//!
//! | message  | Arrow payload                          | metadata                                       |
//! |----------|----------------------------------------|------------------------------------------------|
//! | frame    | UInt8, H·W·C, row-major HWC, RGB(+X)   | header, `width`, `height`, `channels`, `init_box` on frame 0 |
//! | crop     | UInt8, S·S·C (HWC, as cut; normalised where the network runs) | header, `role`, `size`, `channels`, geometry, `init_box` |
//! | features | Float32, D·F·F (search feature map)    | header, `dims`, geometry, `init_box` (frame 0: empty payload) |
//! | box      | Float64, [x, y, w, h, score]           | header, `elapsed`, `lost` (live only)          |
//! | control  | empty                                  | `role` (`init`, `pause`, `resume`), `init_box` |
//! | request  | empty                                  | `epoch`, `batch`, `size`                       |
//! | batch    | Float32, templates · searches · boxes ([`crate::train::Batch`]) | `epoch`, `batch`, `size`, `template_size`, `search_size` |
//! | metrics  | UInt8, one JSON object                 | `epoch`, `batch`                               |
//! | checkpoint | UInt8, a safetensors file            | `epoch`, `role` (`checkpoint` or `final`)      |
//!
//! Training messages (the last four) are numbered by epoch and batch instead of the header.
//!
//! The header is on every message: `type`, `sequence` (sequence name), `index` (frame index),
//! `frames` (sequence length, so the end is known) and `t0` (ns since the Unix epoch when the
//! source read the frame). Boxes travel as Float64 so the box fed back to the crop node is
//! bit-identical to the fused tracker's state.

use dora_node_api::{DoraArray, MetadataParameters, Parameter};

use crate::tracker::crop::CropGeometry;

/// Metadata keys, in one place.
pub mod keys {
    /// Message type name (`frame`, `crop`, `features`, `box`).
    pub const TYPE: &str = "type";
    /// Sequence name.
    pub const SEQ: &str = "sequence"; // not "seq": dora reserves that key for streams
    /// Frame index within the sequence, from 0.
    pub const INDEX: &str = "index";
    /// Number of frames in the sequence.
    pub const FRAMES: &str = "frames";
    /// Time the source read the frame, ns since the Unix epoch.
    pub const T0: &str = "t0";
    /// Image width in pixels.
    pub const WIDTH: &str = "width";
    /// Image height in pixels.
    pub const HEIGHT: &str = "height";
    /// Channels (3 RGB, 6 RGB+X).
    pub const CHANNELS: &str = "channels";
    /// Init box `[x, y, w, h]`, on frame 0 only.
    pub const INIT_BOX: &str = "init_box";
    /// `template` or `search`.
    pub const ROLE: &str = "role";
    /// Crop side in pixels after resizing.
    pub const SIZE: &str = "size";
    /// Box the crop was centred on, `[x, y, w, h]`.
    pub const PREV_BOX: &str = "prev_box";
    /// Side of the square cut from the image, in image pixels, before resizing.
    pub const CROP_SIZE: &str = "crop_size";
    /// Output size / crop size.
    pub const RESIZE_FACTOR: &str = "resize_factor";
    /// Tensor dimensions.
    pub const DIMS: &str = "dims";
    /// Seconds spent on this frame from reading to box.
    pub const ELAPSED: &str = "elapsed";
    /// Training epoch, from 1.
    pub const EPOCH: &str = "epoch";
    /// Batch index within the epoch, from 0.
    pub const BATCH: &str = "batch";
    /// Template crop side.
    pub const TEMPLATE_SIZE: &str = "template_size";
    /// Search crop side.
    pub const SEARCH_SIZE: &str = "search_size";
    /// Live boxes: the target is lost.
    pub const LOST: &str = "lost";
    /// Box: the tracker's confidence (the Hann-windowed peak ViPT reports to VOT).
    pub const CONFIDENCE: &str = "confidence";
}

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
    pub fn number(&self) -> u32 {
        self.index + 1
    }

    /// Whether this is the sequence's last frame.
    pub fn is_last(&self) -> bool {
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

/// A decoded image.
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
    /// Pixels, row-major H×W×C.
    pub pixels: P,
}

impl<P: AsRef<[u8]>> Frame<P> {
    /// The metadata for this frame (the payload is sent separately, ideally in place).
    pub fn encode(&self) -> MetadataParameters {
        let mut p = MetadataParameters::default();
        self.header.write("frame", &mut p);
        p.insert(keys::WIDTH.into(), Parameter::Integer(self.width.into()));
        p.insert(keys::HEIGHT.into(), Parameter::Integer(self.height.into()));
        p.insert(keys::CHANNELS.into(), Parameter::Integer(self.channels.into()));
        if let Some(b) = self.init_box {
            p.insert(keys::INIT_BOX.into(), Parameter::ListFloat(b.to_vec()));
        }
        p
    }
}

impl<P: AsRef<[u8]>> Frame<P> {
    /// The frame as an owned image.
    pub fn to_image(&self) -> crate::base::image::Image {
        crate::base::image::Image {
            width: self.width as usize,
            height: self.height as usize,
            channels: self.channels as usize,
            data: self.pixels.as_ref().to_vec(),
        }
    }
}

impl<'a> Frame<&'a [u8]> {
    /// Reads a frame, borrowing the pixels from the Arrow buffer (no copy).
    pub fn decode(p: &MetadataParameters, data: &'a DoraArray) -> Result<Self, WireError> {
        const M: &str = "frame";
        let header = Header::read(M, p)?;
        let (width, height, channels) = (uint(M, p, keys::WIDTH)?, uint(M, p, keys::HEIGHT)?, uint(M, p, keys::CHANNELS)?);
        let pixels: &[u8] = data.try_into().map_err(|e| payload(M, format!("is not UInt8: {e}")))?;
        let want = width as usize * height as usize * channels as usize;
        if pixels.len() != want {
            return Err(payload(M, format!("has {} bytes, expected {width}×{height}×{channels} = {want}", pixels.len())));
        }
        Ok(Self { header, width, height, channels, init_box: opt_box4(M, p, keys::INIT_BOX)?, pixels })
    }
}

/// Whether a crop is the template (once per sequence) or a search region (every frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropRole {
    /// The target's template.
    Template,
    /// A search region around the previous box.
    Search,
}

/// A crop, S×S×C bytes as cut and resized.
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
        };
        p.insert(keys::ROLE.into(), Parameter::String(role.into()));
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
            _ => return Err(WireError::Metadata { msg: M, key: keys::ROLE, want: "\"template\" or \"search\"" }),
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

/// Encodes a training batch: metadata and its Float32 payload.
pub fn encode_batch(b: &crate::train::Batch) -> MetadataParameters {
    let mut p = train_header("batch", b.epoch, b.index);
    p.insert(keys::SIZE.into(), Parameter::Integer(b.size));
    p.insert(keys::TEMPLATE_SIZE.into(), Parameter::Integer(b.template_size));
    p.insert(keys::SEARCH_SIZE.into(), Parameter::Integer(b.search_size));
    p.insert(keys::CHANNELS.into(), Parameter::Integer(b.channels));
    p
}

/// Reads a training batch (copying its floats) and checks its length.
pub fn decode_batch(p: &MetadataParameters, data: &DoraArray) -> Result<crate::train::Batch, WireError> {
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
    Ok(b)
}

/// A byte message of the training dataflow (`metrics` JSON, `checkpoint` safetensors).
#[derive(Debug, Clone, PartialEq)]
pub struct Bytes<D> {
    /// `metrics` or `checkpoint`.
    pub ty: &'static str,
    /// Epoch, from 1.
    pub epoch: i64,
    /// Batch index (metrics) or 0.
    pub batch: i64,
    /// For checkpoints: `checkpoint` (resumable) or `final` (weights only).
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

/// A command from the live view to a live tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
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
