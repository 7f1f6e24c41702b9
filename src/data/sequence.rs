//! Sequences in the layouts users have, read from what is actually on disk. Every layout is one
//! entry of [`LAYOUTS`] (its name, a line of docs, how `auto` recognises it, its reader), listed
//! with those lines in the book's dataset reference (`trackflow docs`). A folder holding sequences
//! (or class folders of sequences, as LaSOT) is read as a dataset; a video file as one sequence.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::base::image::{Image, check_image_size};
use crate::data::modality::AuxFrames;
use crate::data::video::{VideoReader, is_video};

/// Where a sequence's frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Frames {
    /// Image files, in order.
    Files(Vec<PathBuf>),
    /// A video file and how many of its frames to read.
    Video {
        /// The file.
        path: PathBuf,
        /// Frames to read.
        count: usize,
    },
}

/// One sequence: its frames and its ground truth (possibly only the first row, or none).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Name, used for result files.
    pub name: String,
    /// The frames.
    pub frames: Frames,
    /// Ground-truth boxes `[x, y, w, h]`, one per annotated frame.
    pub ground_truth: Vec<[f64; 4]>,
    /// The file the ground truth came from (none for videos).
    pub gt_path: Option<PathBuf>,
    /// ViPT: the auxiliary modality's frames (depth, thermal, event), one per frame. Frames are
    /// then read as H×W×6 images.
    pub aux: Option<AuxFrames>,
    /// Per ground-truth row: whether the target is visible there (see [`target_visibility`]).
    /// Training never takes a template or search frame where it is not.
    pub visible: Vec<bool>,
}

impl Sequence {
    /// The folder holding the ground truth (and the layout's other annotation files); none for
    /// videos.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.gt_path.as_deref().and_then(Path::parent)
    }

    /// The frame files, in order (a video has none).
    pub fn files(&self) -> &[PathBuf] {
        match &self.frames {
            Frames::Files(f) => f,
            Frames::Video { .. } => &[],
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        match &self.frames {
            Frames::Files(f) => f.len(),
            Frames::Video { count, .. } => *count,
        }
    }

    /// Whether the sequence has no frames.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only the first `n` frames.
    pub(crate) fn truncate(&mut self, n: usize) {
        match &mut self.frames {
            Frames::Files(f) => f.truncate(n),
            Frames::Video { count, .. } => *count = (*count).min(n),
        }
        if let Some(a) = &mut self.aux {
            a.frames.truncate(n);
        }
    }

    /// The box to start tracking from: the first ground-truth row, checked as an init box
    /// ([`crate::tracker::check_box`]: finite, at least a pixel wide and high); the error names
    /// the ground-truth file and line ([`Self::init_box_origin`]). The checks that need the frame
    /// ([`crate::tracker::validate_init_box`]) come when the first frame is read.
    pub fn init_box(&self) -> Result<[f64; 4]> {
        let b = *self
            .ground_truth
            .first()
            .with_context(|| format!("{}: no ground truth to start from (give the init box as a parameter)", self.init_box_origin()))?;
        crate::tracker::check_box(b).with_context(|| self.init_box_origin())
    }

    /// Where the init box comes from, for messages: `file:line` of the ground-truth row it was
    /// read from (found again by its value, so leading rows a layout skips, as OTB's Tiger1
    /// does, are counted), the file alone when that row cannot be found, or the sequence's name
    /// when there is no ground-truth file. Reads the file, so meant for error paths.
    pub(crate) fn init_box_origin(&self) -> String {
        let Some(path) = &self.gt_path else { return self.name.clone() };
        let Some(first) = self.ground_truth.first() else { return path.display().to_string() };
        let same = |a: &[f64; 4]| a.iter().zip(first).all(|(x, y)| x == y || x.is_nan() && y.is_nan());
        let line = read_text_capped(path, MAX_ANNOTATION_BYTES)
            .ok()
            .and_then(|text| box_rows(&text).find_map(|(line, row)| row.ok().filter(same).map(|_| line)));
        match line {
            Some(line) => format!("{}:{line}", path.display()),
            None => path.display().to_string(),
        }
    }

    /// Decodes the frames in order.
    pub fn reader(&self) -> Result<FrameReader> {
        Ok(match &self.frames {
            Frames::Files(f) => FrameReader::Files { frames: f.clone(), aux: self.aux.clone(), next: 0 },
            Frames::Video { path, count } => FrameReader::Video(VideoReader::open(path)?, *count),
        })
    }

    /// Every frame file that does not exist (videos: none).
    pub(crate) fn missing_frames(&self) -> Vec<PathBuf> {
        match &self.frames {
            Frames::Files(f) => f.iter().chain(self.aux.iter().flat_map(|a| a.frames.iter())).filter(|p| !p.is_file()).cloned().collect(),
            Frames::Video { .. } => Vec::new(),
        }
    }
}

/// Decoded frames of a sequence, in order. A frame beyond [`check_image_size`]'s caps (or
/// without pixels) is an error naming its file.
pub enum FrameReader {
    /// Image files, merged with their auxiliary images (6 channels) when there are some.
    Files {
        /// The RGB frames.
        frames: Vec<PathBuf>,
        /// The auxiliary frames, aligned with `frames`.
        aux: Option<AuxFrames>,
        /// The next frame to read.
        next: usize,
    },
    /// A video and the number of frames left to read.
    Video(VideoReader, usize),
}

impl FrameReader {
    /// The same frames decoded on a helper thread, at most `depth` ahead of the consumer: on a
    /// multi-core machine the next JPEG decodes while the network runs on this one. Reads at most
    /// `limit` frames and stops after the first error; the thread ends with the frames or when
    /// the iterator is dropped, which waits for it (a video's FFmpeg is then closed too).
    pub(crate) fn ahead(self, depth: usize, limit: usize) -> FramesAhead {
        let (tx, rx) = crossbeam_channel::bounded::<Result<Image>>(depth.max(1));
        let decoder = std::thread::spawn(move || {
            for frame in self.take(limit) {
                let failed = frame.is_err();
                if tx.send(frame).is_err() || failed {
                    break;
                }
            }
        });
        FramesAhead { rx: Some(rx), decoder: Some(decoder) }
    }
}

/// Frames decoded ahead by [`FrameReader::ahead`]. A decoder that panicked ends the frames with
/// an error, never with a quietly short sequence.
pub(crate) struct FramesAhead {
    /// `None` once dropped, so that the decoder's next send fails and it can be joined.
    rx: Option<crossbeam_channel::Receiver<Result<Image>>>,
    decoder: Option<std::thread::JoinHandle<()>>,
}

impl Iterator for FramesAhead {
    type Item = Result<Image>;
    fn next(&mut self) -> Option<Result<Image>> {
        match self.rx.as_ref()?.recv() {
            Ok(frame) => Some(frame),
            Err(_) => match self.decoder.take()?.join() {
                Ok(()) => None,
                Err(_) => Some(Err(anyhow::anyhow!("the frame decoder thread panicked"))),
            },
        }
    }
}

impl Drop for FramesAhead {
    fn drop(&mut self) {
        // Closing the channel first: a decoder blocked on a full queue wakes and ends.
        self.rx = None;
        if let Some(decoder) = self.decoder.take() {
            let _ = decoder.join();
        }
    }
}

impl Iterator for FrameReader {
    type Item = Result<Image>;
    fn next(&mut self) -> Option<Result<Image>> {
        match self {
            Self::Files { frames, aux, next } => {
                let i = *next;
                (i < frames.len()).then(|| {
                    *next += 1;
                    let im = crate::data::modality::load_frame_at(frames, aux.as_ref(), i)?;
                    check_image_size(im.width, im.height).with_context(|| format!("frame {}", frames[i].display()))?;
                    Ok(im)
                })
            }
            Self::Video(v, left) => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(v.next_frame()?.and_then(|im| {
                    check_image_size(im.width, im.height).context("video frame")?;
                    Ok(im)
                }))
            }
        }
    }
}

/// A dataset layout: its name (the source node's `format`, `Layout::parse`), how to recognise a
/// folder of it, and how to read its sequences. Declared once, in [`LAYOUTS`]; adding a layout is
/// a reader function and one entry there.
#[derive(Debug)]
pub struct DatasetLayout {
    /// The name `format="..."` takes.
    pub name: &'static str,
    /// One line for the docs.
    pub doc: &'static str,
    /// Whether a folder is of this layout, for `auto` (tried in [`LAYOUTS`]' order). `None`: the
    /// layout is a folder of sequence folders, which `auto` reads by looking at each.
    pub(crate) detect: Option<fn(&Path) -> bool>,
    /// Every sequence of a folder of this layout (or the one sequence a folder is).
    pub read: fn(&Path) -> Result<Vec<Sequence>>,
}

/// Every dataset layout [`discover`] reads. `auto` tries the `detect` functions in this order, so a
/// layout recognised by a looser check (nfs: `sequences/` beside `anno/`) comes after the stricter
/// ones.
pub(crate) static LAYOUTS: &[DatasetLayout] = &[
    DatasetLayout {
        name: "trackingnet",
        doc: "TrackingNet: `frames/` and `anno/`, or its `TRAIN_<n>`/`TEST` chunk folders",
        detect: Some(|p| p.join("frames").is_dir() && p.join("anno").is_dir() || has_trackingnet_chunks(p)),
        read: trackingnet,
    },
    DatasetLayout {
        name: "uav",
        doc: "UAV123: `data_seq/UAV123/<seq>/%06d.jpg` and `anno/UAV123/<name>.txt`, cut into the official sub-sequences (configs/data_specs/uav123.tsv)",
        detect: Some(|p| p.join("data_seq/UAV123").is_dir() && p.join("anno/UAV123").is_dir()),
        read: |p| from_table(p, "uav123.tsv", "UAV123"),
    },
    DatasetLayout {
        name: "nfs",
        doc: "NfS (30 fps) in pytracking's layout: `sequences/<seq>/%05d.jpg` and `anno/nfs_<seq>.txt` (configs/data_specs/nfs.tsv)",
        detect: Some(|p| p.join("sequences").is_dir() && p.join("anno").is_dir()),
        read: |p| from_table(p, "nfs.tsv", "NfS"),
    },
    DatasetLayout {
        name: "otb",
        doc: "OTB: `<seq>/img/` with `groundtruth_rect.txt` (and `cfg.json`); OTB-100 as downloaded becomes its official sequences",
        detect: None,
        read: |p| sequence_folders(p, FrameFolder::Otb),
    },
    DatasetLayout {
        name: "got10k",
        doc: "GOT-10k: `<seq>/%08d.jpg` beside `groundtruth.txt`, listed in `list.txt`",
        detect: None,
        read: |p| sequence_folders(p, FrameFolder::Got10k),
    },
    DatasetLayout {
        name: "lasot",
        doc: "LaSOT: `<class>/<class>-<n>/img/`, the test split from `testing_set.txt` or configs/data_specs",
        detect: None,
        read: |p| sequence_folders(p, FrameFolder::Lasot),
    },
    DatasetLayout {
        name: "tnl2k",
        doc: "TNL2K: `<seq>/imgs/` with `groundtruth.txt`",
        detect: None,
        read: |p| sequence_folders(p, FrameFolder::Plain),
    },
    DatasetLayout {
        name: "folder",
        doc: "any folder of frames with a `groundtruth.txt`, or folders of them",
        detect: None,
        read: |p| sequence_folders(p, FrameFolder::Plain),
    },
];

/// The names `format` accepts: `auto`, then every layout's, for the source node's declaration.
pub(crate) const LAYOUT_NAMES: [&str; LAYOUTS.len() + 1] = {
    let mut names = ["auto"; LAYOUTS.len() + 1];
    let mut i = 0;
    while i < LAYOUTS.len() {
        names[i + 1] = LAYOUTS[i].name;
        i += 1;
    }
    names
};

/// Which layout [`discover`] reads a folder as.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    /// Detect from the files present.
    Auto,
    /// This one.
    Named(&'static DatasetLayout),
}

impl Layout {
    /// Parses a layout name: `auto` or one of [`LAYOUTS`].
    pub fn parse(s: &str) -> Result<Self> {
        if s == "auto" {
            return Ok(Self::Auto);
        }
        match LAYOUTS.iter().find(|l| l.name == s) {
            Some(l) => Ok(Self::Named(l)),
            None => bail!("unknown sequence layout `{s}` (one of: {})", LAYOUT_NAMES.join(", ")),
        }
    }
}

/// Where a sequence folder keeps its frames, as its layout says (or `Any`: look).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFolder {
    /// Look: `img/`, `imgs/` or beside the ground truth; OTB's `cfg.json` when present.
    Any,
    /// OTB: `img/`, with `cfg.json`'s frame range when present.
    Otb,
    /// GOT-10k: beside the ground truth.
    Got10k,
    /// LaSOT: `img/`.
    Lasot,
    /// A plain folder (TNL2K's `imgs/`, or `img/`, or beside the ground truth), never read as
    /// OTB (no `cfg.json` ranges, no OTB-100 table).
    Plain,
}

/// Ground-truth file names, in order of preference (`visible.txt`: LasHeR and RGBT234, whose
/// boxes are annotated on the visible frames; `init.txt`: RGBT234's aligned boxes).
const GT_NAMES: [&str; 4] = ["groundtruth_rect.txt", "groundtruth.txt", "visible.txt", "init.txt"];

/// A sequence folder's ground-truth file, the first present of `groundtruth_rect.txt`, `groundtruth.txt`, `visible.txt`, `init.txt`.
pub(crate) fn ground_truth_file(dir: &Path) -> Option<PathBuf> {
    GT_NAMES.iter().map(|g| dir.join(g)).find(|p| p.is_file())
}

/// Reads a sequence, a video, or every sequence of a dataset folder (sorted by name).
pub fn discover(path: &Path, layout: Layout) -> Result<Vec<Sequence>> {
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    if is_video(path) {
        let info = crate::data::video::probe(path)?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
        return Ok(vec![Sequence {
            name,
            frames: Frames::Video { path: path.to_path_buf(), count: info.frames },
            ground_truth: vec![],
            gt_path: None,
            aux: None,
            visible: vec![],
        }]);
    }
    if !path.is_dir() {
        bail!("{} is neither a folder nor a video file ({})", path.display(), crate::data::video::VIDEO_EXTENSIONS.join(", "));
    }
    match layout {
        Layout::Named(l) => (l.read)(path),
        Layout::Auto => match LAYOUTS.iter().find(|l| l.detect.is_some_and(|detect| detect(path))) {
            Some(l) => (l.read)(path),
            None => sequence_folders(path, FrameFolder::Any),
        },
    }
}

/// A sequence folder, or a folder of sequence folders (one or two levels down), with a list or
/// a split file saying which: OTB, GOT-10k, LaSOT, TNL2K and plain folders.
fn sequence_folders(path: &Path, frames: FrameFolder) -> Result<Vec<Sequence>> {
    let otb = matches!(frames, FrameFolder::Otb | FrameFolder::Any);
    if otb && let Some(seqs) = otb100_sequences(path)? {
        return Ok(seqs);
    }
    if is_sequence_dir(path) {
        return Ok(vec![read_sequence(path, frames)?]);
    }
    // Sequence folders one or two levels down (LaSOT groups them by class); OTB-100 folders as
    // downloaded become their official sequences.
    let mut dirs = Vec::new();
    let mut table_seqs = Vec::new();
    for d in subdirs(path)? {
        if otb && let Some(seqs) = otb100_sequences(&d)? {
            table_seqs.extend(seqs);
        } else if is_sequence_dir(&d) {
            dirs.push(d);
        } else {
            dirs.extend(subdirs(&d)?.into_iter().filter(|s| is_sequence_dir(s)));
        }
    }
    dirs.sort_by_key(|d| d.file_name().map(|n| n.to_os_string()));
    // GOT-10k (and our synthetic sets) list their sequences in list.txt, LaSOT its test split
    // in testing_set.txt: index what is on disk, in the list's order, and say what a partial
    // download lacks instead of failing on it.
    let list = ["list.txt", "testing_set.txt"].iter().map(|n| path.join(n)).find(|p| p.is_file()).unwrap_or_else(|| path.join("list.txt"));
    // A LaSOT root without its testing_set.txt: the official 280-sequence test split, from
    // configs/data_specs, when the folder holds any of them.
    let lasot_split = crate::base::resources::file("configs/data_specs/lasot_test_split.txt");
    let list = if !list.is_file()
        && lasot_split.is_file()
        && dirs.iter().any(|d| {
            d.parent()
                .and_then(|p| p.file_name())
                .is_some_and(|c| d.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{}-", c.to_string_lossy()))))
        })
        && std::fs::read_to_string(&lasot_split)?.lines().any(|n| dirs.iter().any(|d| d.file_name().is_some_and(|f| f == n)))
    {
        tracing::info!(
            "{}: LaSOT layout without testing_set.txt: evaluating the official test split ({})",
            path.display(),
            lasot_split.display()
        );
        lasot_split
    } else {
        list
    };
    if list.is_file() {
        let text = read_text_capped(&list, MAX_ANNOTATION_BYTES)?;
        let listed: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        // LaSOT names `airplane-1`, which lives in the class folder `airplane/`.
        let locate = |n: &str| -> PathBuf {
            let direct = path.join(n);
            match n.rsplit_once('-') {
                Some((class, _)) if !is_sequence_dir(&direct) => path.join(class).join(n),
                _ => direct,
            }
        };
        let on_disk: Vec<PathBuf> = listed.iter().map(|n| locate(n)).filter(|d| is_sequence_dir(d)).collect();
        let missing: Vec<&str> = listed.iter().copied().filter(|n| !is_sequence_dir(&locate(n))).collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().copied().take(10).collect();
            tracing::info!(
                "{}: {} of {} sequences in {} are on disk; missing{}: {}",
                path.display(),
                on_disk.len(),
                listed.len(),
                list.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                if missing.len() > 10 { " (first 10)" } else { "" },
                shown.join(", ")
            );
        }
        let unlisted = dirs.iter().filter(|d| !on_disk.contains(d)).count();
        if unlisted > 0 {
            tracing::info!("{}: {unlisted} sequence folder(s) not in {} are ignored", path.display(), list.display());
        }
        dirs = on_disk;
    }
    if dirs.is_empty() && table_seqs.is_empty() {
        bail!(
            "{} holds no sequence: expected frames with a groundtruth.txt (or groundtruth_rect.txt), folders of them, or a video file",
            path.display()
        );
    }
    let mut seqs: Vec<Sequence> = dirs.iter().map(|d| read_sequence(d, frames)).collect::<Result<_>>()?;
    if !table_seqs.is_empty() {
        seqs.extend(table_seqs);
        seqs.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(seqs)
}

/// A dataset whose sequences are rows of a table in `configs/data_specs/` (name, frames folder,
/// first and last frame, digits, extension, annotation file): UAV123 and NfS, whose official
/// sequences are ranges of longer recordings. Rows not on disk are counted and named, not fatal.
pub(crate) fn from_table(root: &Path, table: &str, what: &str) -> Result<Vec<Sequence>> {
    let table_path = crate::base::resources::file("configs/data_specs").join(table);
    let mut seqs = Vec::new();
    let mut missing = Vec::new();
    for row in table_rows(table)? {
        match row.sequence(root)? {
            Some(s) => seqs.push(s),
            None => missing.push(row.name),
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        tracing::info!(
            "{}: {} of {} {what} sequences are on disk; missing{}: {}",
            root.display(),
            seqs.len(),
            seqs.len() + missing.len(),
            if missing.len() > 10 { " (first 10)" } else { "" },
            shown.join(", ")
        );
    }
    if seqs.is_empty() {
        bail!("{}: no {what} sequence found (expected the layout described in {})", root.display(), table_path.display());
    }
    Ok(seqs)
}

/// One row of a sequence table in `configs/data_specs/` (UAV123, NfS, OTB-100).
#[derive(Debug, Clone)]
struct TableRow {
    name: String,
    folder: String,
    first: usize,
    last: usize,
    digits: usize,
    ext: String,
    annotation: String,
    /// Leading frames and ground-truth rows to skip (OTB's `initOmit`; 0 elsewhere).
    omit: usize,
}

impl TableRow {
    /// The sequence under `root`, or `None` when its frames or annotation are not on disk.
    fn sequence(&self, root: &Path) -> Result<Option<Sequence>> {
        let gt_path = root.join(&self.annotation);
        let dir = root.join(&self.folder);
        if !gt_path.is_file() || !dir.is_dir() {
            return Ok(None);
        }
        let (nz, ext) = (self.digits, &self.ext);
        let frames = (self.first.saturating_add(self.omit)..=self.last).map(|k| dir.join(format!("{k:0nz$}.{ext}"))).collect();
        let ground_truth: Vec<[f64; 4]> = read_boxes(&gt_path)?.into_iter().skip(self.omit).collect();
        let visible = ground_truth.iter().map(box_visible).collect();
        Ok(Some(Sequence {
            name: self.name.clone(),
            frames: Frames::Files(frames),
            ground_truth,
            gt_path: Some(gt_path),
            aux: None,
            visible,
        }))
    }
}

/// The rows of `configs/data_specs/<table>`: name, frames folder, first and last frame, digits,
/// extension, annotation file, class, and optionally rows to omit.
fn table_rows(table: &str) -> Result<Vec<TableRow>> {
    let table_path = crate::base::resources::file("configs/data_specs").join(table);
    let text = std::fs::read_to_string(&table_path).with_context(|| format!("cannot read {}", table_path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || anyhow::anyhow!("{}:{}: expected 8 or 9 tab-separated columns", table_path.display(), i + 1);
        let (name, folder, first, last, nz, ext, anno, omit) = match f.as_slice() {
            [name, folder, first, last, nz, ext, anno, _class] => (name, folder, first, last, nz, ext, anno, "0"),
            [name, folder, first, last, nz, ext, anno, _class, omit] => (name, folder, first, last, nz, ext, anno, *omit),
            _ => return Err(bad()),
        };
        let num = |s: &str| s.parse::<usize>().map_err(|_| bad());
        let (first, last, digits) = (num(first)?, num(last)?, num(nz)?);
        check_frame_range(first as u64, last as u64, digits, &format!("{}:{}", table_path.display(), i + 1))?;
        rows.push(TableRow {
            name: name.to_string(),
            folder: folder.to_string(),
            first,
            last,
            digits,
            ext: ext.to_string(),
            annotation: anno.to_string(),
            omit: num(omit)?,
        });
    }
    Ok(rows)
}

/// An OTB-100 sequence folder as downloaded (`img/` and `groundtruth_rect*.txt`, no `cfg.json`):
/// its official sequences from `configs/data_specs/otb100.tsv`, with their frame ranges, and
/// both targets of Jogging and Skating2 (`Jogging-1`, `Jogging-2`). `None` for anything else.
fn otb100_sequences(dir: &Path) -> Result<Option<Vec<Sequence>>> {
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else { return Ok(None) };
    if dir.join("cfg.json").is_file() || !dir.join("img").is_dir() {
        return Ok(None);
    }
    let folder = format!("{name}/img");
    let rows: Vec<TableRow> = table_rows("otb100.tsv")?.into_iter().filter(|r| r.folder == folder).collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let root = dir.parent().unwrap_or(Path::new("."));
    let mut seqs = Vec::new();
    for r in rows {
        seqs.extend(r.sequence(root)?);
    }
    Ok((!seqs.is_empty()).then_some(seqs))
}

fn subdirs(p: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .with_context(|| format!("cannot list {}", p.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

fn is_sequence_dir(p: &Path) -> bool {
    ground_truth_file(p).is_some()
}

fn has_trackingnet_chunks(p: &Path) -> bool {
    p.join("TEST/frames").is_dir() || p.join("TRAIN_0/frames").is_dir()
}

/// TrackingNet: a chunk (`frames/`, `anno/`) or the root holding chunks (`TEST`, `TRAIN_i`).
fn trackingnet(path: &Path) -> Result<Vec<Sequence>> {
    let chunks: Vec<PathBuf> = if path.join("frames").is_dir() {
        vec![path.to_path_buf()]
    } else {
        subdirs(path)?.into_iter().filter(|c| c.join("frames").is_dir() && c.join("anno").is_dir()).collect()
    };
    let mut seqs = Vec::new();
    for chunk in chunks {
        for s in trackingnet_chunk(&chunk)? {
            seqs.push(s?);
        }
    }
    seqs.sort_by(|a, b| a.name.cmp(&b.name));
    if seqs.is_empty() {
        bail!("{}: no TrackingNet annotations (anno/*.txt) found", path.display());
    }
    Ok(seqs)
}

/// The sequences of one TrackingNet chunk (`anno/<name>.txt`, `frames/<name>/<k>.jpg` from 0),
/// sorted by name; each is read on its own, so a caller can skip a broken one and go on.
pub(crate) fn trackingnet_chunk(chunk: &Path) -> Result<Vec<Result<Sequence>>> {
    let mut annos: Vec<PathBuf> = std::fs::read_dir(chunk.join("anno"))
        .with_context(|| format!("cannot list {}/anno", chunk.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    annos.sort();
    Ok(annos
        .into_iter()
        .map(|anno| {
            let name = anno.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let dir = chunk.join("frames").join(&name);
            if !dir.is_dir() {
                bail!("{}: annotation without frames folder {}", anno.display(), dir.display());
            }
            let frames = list_images(&dir)?;
            let ground_truth = read_boxes(&anno)?;
            let visible = ground_truth.iter().map(box_visible).collect();
            Ok(Sequence { name, frames: Frames::Files(frames), ground_truth, gt_path: Some(anno), aux: None, visible })
        })
        .collect())
}

/// Whether a box shows a target: finite, with a positive width and height.
pub(crate) fn box_visible(b: &[f64; 4]) -> bool {
    b.iter().all(|v| v.is_finite()) && b[2] > 0.0 && b[3] > 0.0
}

/// Whether the target is visible in each annotated frame of the sequence folder `dir`: a box of
/// positive size ([`box_visible`]) not marked hidden by the layout's label files beside the
/// ground truth, when they are there: GOT-10k's `absence.label` (1 = absent) and `cover.label`
/// (0 = fully covered), LaSOT's `full_occlusion.txt` and `out_of_view.txt` (1 = hidden),
/// VisEvent's `absent_label.txt` (0 = absent). A label file with another row count than the
/// ground truth is an error naming both.
pub(crate) fn target_visibility(dir: &Path, gt_path: &Path, boxes: &[[f64; 4]]) -> Result<Vec<bool>> {
    let mut visible: Vec<bool> = boxes.iter().map(box_visible).collect();
    // (file, the label value that hides the target, or shows it).
    let hide = |v: i64| v != 0;
    let show = |v: i64| v == 0;
    let rules: [(&str, &dyn Fn(i64) -> bool); 5] = [
        ("absence.label", &hide),
        ("cover.label", &show),
        ("full_occlusion.txt", &hide),
        ("out_of_view.txt", &hide),
        ("absent_label.txt", &show),
    ];
    for (file, hidden) in rules {
        let p = dir.join(file);
        if !p.is_file() {
            continue;
        }
        let labels = read_labels(&p)?;
        if labels.len() != boxes.len() {
            bail!("{} has {} labels but {} has {} boxes", p.display(), labels.len(), gt_path.display(), boxes.len());
        }
        for (v, l) in visible.iter_mut().zip(labels) {
            *v &= !hidden(l);
        }
    }
    Ok(visible)
}

/// Integer labels, one per frame, separated by newlines or commas (LaSOT writes one line).
pub(crate) fn read_labels(path: &Path) -> Result<Vec<i64>> {
    parse_labels(&read_text_capped(path, MAX_ANNOTATION_BYTES)?, &path.display().to_string())
}

/// [`read_labels`] on text read from `origin` (named in errors as `origin:line`).
pub fn parse_labels(text: &str, origin: &str) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for item in line.split([',', ' ', '\t']).map(str::trim).filter(|s| !s.is_empty()) {
            out.push(item.parse::<i64>().map_err(|_| anyhow::anyhow!("{origin}:{}: `{}` is not an integer label", i + 1, excerpt(item)))?);
        }
    }
    Ok(out)
}

/// The largest annotation file (ground truth, labels, result boxes) read, 256 MiB: some
/// hundred times the longest benchmark's ground truth. Anything larger is not one, and reading
/// it whole would take that much memory.
pub(crate) const MAX_ANNOTATION_BYTES: u64 = 256 << 20;

/// The longest frame range a layout's table or `cfg.json` may describe (2^21 frames, over 19
/// hours at 30 fps): the frame list is built before any frame is read, so a mistyped range
/// would otherwise allocate a path per frame of it.
pub(crate) const MAX_SEQUENCE_FRAMES: usize = 1 << 21;

/// The most digits a frame file's number is padded to (`nz` in OTB's `cfg.json`, the tables'
/// digits column). Frame names use at most 8; a width of a billion would make every path a
/// gigabyte.
pub(crate) const MAX_NAME_DIGITS: usize = 16;

/// Reads a text file of at most `cap` bytes; a larger one is an error naming the file, its size
/// and the cap, before any of it is read into memory.
pub(crate) fn read_text_capped(path: &Path, cap: u64) -> Result<String> {
    let bytes = crate::base::fs::read_capped(path, cap, "annotation file")?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// A frame range `first..=last` with names padded to `digits`, checked against
/// [`MAX_SEQUENCE_FRAMES`] and [`MAX_NAME_DIGITS`] before its frame list is built; `what` names
/// the file that described it.
fn check_frame_range(first: u64, last: u64, digits: usize, what: &str) -> Result<()> {
    if digits > MAX_NAME_DIGITS {
        bail!("{what}: frame names padded to {digits} digits, more than the cap of {MAX_NAME_DIGITS}");
    }
    if last >= first && last - first >= MAX_SEQUENCE_FRAMES as u64 {
        bail!("{what}: frames {first} to {last} are more than the cap of {MAX_SEQUENCE_FRAMES} frames a sequence");
    }
    Ok(())
}

/// At most 40 characters of a malformed item, for an error message: a line of a megabyte is not
/// repeated whole.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Reads one sequence folder.
pub fn read_sequence(dir: &Path, layout: FrameFolder) -> Result<Sequence> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sequence".into());
    let gt_path = ground_truth_file(dir).with_context(|| format!("{}: no groundtruth.txt", dir.display()))?;
    let ground_truth = read_boxes(&gt_path)?;
    let visible = target_visibility(dir, &gt_path, &ground_truth)?;
    if let Some((frames, aux)) = crate::data::modality::detect(dir)? {
        return Ok(Sequence { name, frames: Frames::Files(frames), ground_truth, gt_path: Some(gt_path), aux: Some(aux), visible });
    }
    // OTB and LaSOT keep frames in `img/`, GOT-10k beside the ground truth; a plain folder (and
    // TNL2K's `imgs/`) or an undeclared layout is looked at.
    let img_dir = match layout {
        FrameFolder::Otb | FrameFolder::Lasot => dir.join("img"),
        FrameFolder::Got10k => dir.to_path_buf(),
        FrameFolder::Any | FrameFolder::Plain => {
            ["img", "imgs"].iter().map(|d| dir.join(d)).find(|d| d.is_dir()).unwrap_or_else(|| dir.to_path_buf())
        }
    };
    let cfg = dir.join("cfg.json");
    let frames = if matches!(layout, FrameFolder::Otb | FrameFolder::Any) && cfg.is_file() {
        otb_frames(&cfg, &img_dir)?
    } else {
        list_images(&img_dir)?
    };
    if frames.is_empty() {
        bail!("{}: no .jpg or .png frames", img_dir.display());
    }
    Ok(Sequence { name, frames: Frames::Files(frames), ground_truth, gt_path: Some(gt_path), aux: None, visible })
}

/// OTB's `cfg.json`: frames `startFrame..=endFrame` named with `nz` digits and `ext`.
fn otb_frames(cfg: &Path, img_dir: &Path) -> Result<Vec<PathBuf>> {
    let text = read_text_capped(cfg, 1 << 20)?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", cfg.display()))?;
    let get = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).with_context(|| format!("{}: missing integer `{k}`", cfg.display()));
    let (start, end, nz) = (get("startFrame")?, get("endFrame")?, get("nz")?);
    let nz = usize::try_from(nz).unwrap_or(usize::MAX);
    check_frame_range(start, end, nz, &cfg.display().to_string())?;
    let ext = v.get("ext").and_then(|e| e.as_str()).unwrap_or("jpg");
    Ok((start..=end).map(|i| img_dir.join(format!("{i:0nz$}.{ext}"))).collect())
}

/// The image files of a frame folder, in frame order. Names that end in a number (`0001.jpg`,
/// `img12.png`) are ordered by that number, so unpadded names sort right, and the numbers must
/// run without a gap: a frame missing from the middle would otherwise shift every later frame
/// against its ground-truth row, silently. The error names the missing file.
fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(), Some("jpg" | "jpeg" | "png")))
        .collect();
    v.sort();
    let numbered: Option<Vec<(u64, PathBuf)>> = v.iter().map(|p| frame_number(p).map(|n| (n, p.clone()))).collect();
    if let Some(mut numbered) = numbered {
        numbered.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        for pair in numbered.windows(2) {
            let ((a, pa), (b, pb)) = (&pair[0], &pair[1]);
            if *b == *a {
                bail!("{} and {} are both frame {a}", pa.display(), pb.display());
            }
            if *b != a + 1 {
                let missing = renumbered(pa, a + 1);
                bail!(
                    "frame {} is missing: {} (the folder jumps from {} to {}); every later frame would be paired with the wrong ground-truth row",
                    a + 1,
                    missing.display(),
                    pa.file_name().unwrap_or_default().to_string_lossy(),
                    pb.file_name().unwrap_or_default().to_string_lossy()
                );
            }
        }
        v = numbered.into_iter().map(|(_, p)| p).collect();
    }
    Ok(v)
}

/// A frame file's name around its trailing number: (`img`, 3, 4) for `img0003.png`, i.e. the
/// prefix, the number and how many digits it is written with.
fn split_frame_name(p: &Path) -> Option<(&str, u64, usize)> {
    let stem = p.file_stem()?.to_str()?;
    let prefix = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &stem[prefix.len()..];
    Some((prefix, digits.parse().ok()?, digits.len()))
}

/// The number a frame file's name ends with (`00000012.jpg` → 12, `img0003.png` → 3).
fn frame_number(p: &Path) -> Option<u64> {
    split_frame_name(p).map(|(_, n, _)| n)
}

/// `like`'s name with its trailing number replaced by `n`, padded the same way.
fn renumbered(like: &Path, n: u64) -> PathBuf {
    let (prefix, _, width) = split_frame_name(like).unwrap_or(("", 0, 0));
    let ext = like.extension().and_then(|e| e.to_str()).unwrap_or("jpg");
    like.with_file_name(format!("{prefix}{n:0width$}.{ext}"))
}

/// Reads a box file: one `x,y,w,h` row per line, separated by commas, tabs or spaces. `NaN`
/// rows are kept (absent targets); a malformed row is an error naming the file and line. A file
/// over [`MAX_ANNOTATION_BYTES`] is refused unread.
pub fn read_boxes(path: &Path) -> Result<Vec<[f64; 4]>> {
    parse_boxes(&read_text_capped(path, MAX_ANNOTATION_BYTES)?, &path.display().to_string())
}

/// [`read_boxes`] on text read from `origin` (named in errors as `origin:line`).
pub fn parse_boxes(text: &str, origin: &str) -> Result<Vec<[f64; 4]>> {
    box_rows(text).map(|(line, row)| row.map_err(|e| anyhow::anyhow!("{origin}:{line}: {e}"))).collect()
}

/// The box rows of a box file's text with their 1-based line numbers, blank lines skipped; each
/// row is the box or what is wrong with it. Nothing but the rows is allocated, whatever the
/// text: a row's items are counted, not collected.
fn box_rows(text: &str) -> impl Iterator<Item = (usize, std::result::Result<[f64; 4], String>)> + '_ {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, line)| {
        let line = line.trim();
        let mut items = line.split([',', '\t', ' ']).filter(|s| !s.is_empty());
        let mut b = [0.0; 4];
        for (k, v) in b.iter_mut().enumerate() {
            let Some(s) = items.next() else {
                return (i + 1, Err(format!("expected 4 numbers (x, y, w, h), found {k}: `{}`", excerpt(line))));
            };
            match s.parse::<f64>() {
                Ok(x) => *v = x,
                Err(_) => return (i + 1, Err(format!("`{}` is not a number", excerpt(s)))),
            }
        }
        let extra = items.count();
        if extra > 0 {
            return (i + 1, Err(format!("expected 4 numbers (x, y, w, h), found {}: `{}`", 4 + extra, excerpt(line))));
        }
        (i + 1, Ok(b))
    })
}

/// Decodes a JPEG or PNG frame to RGB, JPEGs exactly as OpenCV's `cv2.imread` does (see
/// [`crate::base::imageio`]).
pub fn load_frame(path: &Path) -> Result<Image> {
    crate::base::imageio::load_rgb(path)
}
