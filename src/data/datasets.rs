//! Training sets as OSTrack names them in `TRAIN.DATASETS_NAME`: GOT-10k train with its split
//! files, the LaSOT train split, TrackingNet's TRAIN chunks, COCO 2017 (every object one
//! single-image "sequence") and `SYNTH` (a folder written by `trackflow synth`).
//!
//! Where upstream crashes on a partial download (an `IndexError` at `got10k.py:67` when
//! `list.txt` is shorter than the split, a worker dying on a missing `groundtruth.txt`), these
//! readers index what is on disk, say how much is missing, and train on the rest. Only an empty
//! dataset is an error.
//!
//! Every sequence is read by the same per-layout readers evaluation and the source node use
//! ([`crate::data::sequence`]): the frames actually on disk (a gap in their numbering makes the
//! sequence unusable, never shifted), the ground truth, and the target's visibility from the
//! layout's label files. A training sequence is a [`Sequence`] with one box per frame.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::data::sequence::{FrameFolder, Frames, Sequence, box_visible, read_sequence, trackingnet_chunk};

/// A training dataset: video sequences, or single images (COCO).
#[derive(Debug, Clone)]
pub struct TrainDataset {
    /// The name from the config (`GOT10K_vottrain`).
    pub name: String,
    /// How a sample's template and search are cut from it.
    pub pairs: PairKind,
    /// The sequences, each with one ground-truth box per frame.
    pub sequences: Vec<Sequence>,
}

/// How the sampler cuts a training pair from a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// Template and search from two frames of one sequence (GOT-10k, LaSOT, TrackingNet).
    Video,
    /// Template and search from one image around its annotated box (COCO, GOT10K_train_frames).
    Image,
    /// Template and search from one image around a region the sampler picks at random, not an
    /// annotated target (GOT10K_train_regions): the annotations of a few dozen sequences name a
    /// few dozen objects, and any distinct region of their frames is one more to match.
    Region,
}

/// How a training dataset opens: its sequences and how pairs are cut from them, given its root
/// folder and the split files' folder.
pub(crate) type OpenFn = fn(root: &Path, specs: &Path) -> Result<(Vec<Sequence>, PairKind)>;

/// A training dataset a config may list (`DATASETS_NAME`): the `trackflow.local.kdl` root it
/// reads and how it opens. Declared once, in [`TRAIN_DATASETS`].
pub(crate) struct TrainDatasetKind {
    /// The name configs use (OSTrack's: `GOT10K_vottrain`, `LASOT`, `COCO17`, ...).
    pub name: &'static str,
    /// The key of its root folder (`got10k_train`, `coco`, ...).
    pub root: &'static str,
    /// How it opens.
    open: OpenFn,
}

use PairKind::{Image, Region, Video};

/// Every training dataset, one entry each. ViPT's validity rules: DepthTrack boxes larger than
/// 10 px, LasHeR any positive size, VisEvent larger than 5 px and not marked absent.
pub(crate) static TRAIN_DATASETS: &[TrainDatasetKind] = &[
    TrainDatasetKind { name: "GOT10K_train_full", root: "got10k_train", open: |r, _| Ok((got10k(r, None, "GOT10K_train_full")?, Video)) },
    TrainDatasetKind {
        name: "GOT10K_vottrain",
        root: "got10k_train",
        open: |r, s| Ok((got10k(r, Some(&s.join("got10k_vot_train_split.txt")), "GOT10K_vottrain")?, Video)),
    },
    TrainDatasetKind {
        name: "GOT10K_votval",
        root: "got10k_train",
        open: |r, s| Ok((got10k(r, Some(&s.join("got10k_vot_val_split.txt")), "GOT10K_votval")?, Video)),
    },
    TrainDatasetKind {
        name: "GOT10K_train",
        root: "got10k_train",
        open: |r, s| Ok((got10k(r, Some(&s.join("got10k_train_split.txt")), "GOT10K_train")?, Video)),
    },
    TrainDatasetKind {
        name: "GOT10K_val",
        root: "got10k_train",
        open: |r, s| Ok((got10k(r, Some(&s.join("got10k_val_split.txt")), "GOT10K_val")?, Video)),
    },
    TrainDatasetKind { name: "GOT10K_official_val", root: "got10k_val", open: |r, _| Ok((got10k(r, None, "GOT10K_official_val")?, Video)) },
    // OSTrack's COCO-style pairs from video frames: every visible frame alone, template and
    // search cut (and jittered) from the same image.
    TrainDatasetKind {
        name: "GOT10K_train_frames",
        root: "got10k_train",
        open: |r, _| Ok((single_frames(got10k(r, None, "GOT10K_train_frames")?), Image)),
    },
    // The same frames, each with a region drawn at sample time (see `PairKind::Region`).
    TrainDatasetKind {
        name: "GOT10K_train_regions",
        root: "got10k_train",
        open: |r, _| Ok((single_frames(got10k(r, None, "GOT10K_train_regions")?), Region)),
    },
    TrainDatasetKind { name: "LASOT", root: "lasot_train", open: |r, s| Ok((lasot(r, &s.join("lasot_train_split.txt"))?, Video)) },
    TrainDatasetKind { name: "TRACKINGNET", root: "trackingnet", open: |r, _| Ok((trackingnet(r)?, Video)) },
    TrainDatasetKind { name: "COCO17", root: "coco", open: |r, _| Ok((coco(r)?, Image)) },
    TrainDatasetKind { name: "SYNTH", root: "synth", open: |r, _| synthetic(r, "SYNTH") },
    TrainDatasetKind { name: "SYNTH2", root: "synth2", open: |r, _| synthetic(r, "SYNTH2") },
    TrainDatasetKind {
        name: "DepthTrack_train",
        root: "depthtrack",
        open: |r, s| Ok((multimodal(r, Some(&s.join("depthtrack_train.txt")), "DepthTrack_train", 10.0)?, Video)),
    },
    TrainDatasetKind {
        name: "DepthTrack_val",
        root: "depthtrack",
        open: |r, s| Ok((multimodal(r, Some(&s.join("depthtrack_val.txt")), "DepthTrack_val", 10.0)?, Video)),
    },
    TrainDatasetKind {
        name: "LasHeR_train",
        root: "lasher",
        open: |r, s| Ok((multimodal(r, Some(&s.join("lasher_train.txt")), "LasHeR_train", 0.0)?, Video)),
    },
    TrainDatasetKind {
        name: "LasHeR_val",
        root: "lasher",
        open: |r, s| Ok((multimodal(r, Some(&s.join("lasher_val.txt")), "LasHeR_val", 0.0)?, Video)),
    },
    TrainDatasetKind {
        name: "LasHeR_all",
        root: "lasher",
        open: |r, s| Ok((multimodal(r, Some(&s.join("lasher_all.txt")), "LasHeR_all", 0.0)?, Video)),
    },
    TrainDatasetKind {
        name: "VisEvent",
        root: "visevent",
        open: |r, _| Ok((multimodal(r, Some(&r.join("trainlist.txt")), "VisEvent", 5.0)?, Video)),
    },
];

/// Synthetic sequences (`trackflow synth`): RGB+X when the folder holds modalities, else
/// GOT-10k-style RGB.
fn synthetic(root: &Path, name: &str) -> Result<(Vec<Sequence>, PairKind)> {
    if has_modalities(root) { Ok((multimodal(root, None, name, 0.0)?, Video)) } else { Ok((got10k(root, None, name)?, Video)) }
}

/// A training dataset by the name configs use.
pub(crate) fn train_dataset(name: &str) -> Result<&'static TrainDatasetKind> {
    TRAIN_DATASETS.iter().find(|d| d.name == name).with_context(|| {
        format!("unknown training dataset `{name}`; known: {}", TRAIN_DATASETS.iter().map(|d| d.name).collect::<Vec<_>>().join(", "))
    })
}

/// Dataset roots by key (`got10k_train`, `lasot_train`, `trackingnet`, `coco`, `synth`).
#[derive(Debug, Clone, Default)]
pub struct Roots(pub HashMap<String, PathBuf>);

impl Roots {
    /// Reads `datasets { key "path" }` from a local config (if it exists), then applies
    /// `key=path,key=path` overrides.
    pub fn load(local: Option<&Path>, overrides: &str) -> Result<Self> {
        let mut map = HashMap::new();
        if let Some(local) = local.filter(|p| p.is_file()) {
            let text = std::fs::read_to_string(local).with_context(|| format!("cannot read {}", local.display()))?;
            let doc = crate::base::kdl::parse_kdl(&text).map_err(|(_, e)| anyhow::anyhow!("{}: invalid KDL: {e}", local.display()))?;
            if let Some(ds) = doc.get("datasets").and_then(|d| d.children()) {
                let base = local.parent().unwrap_or(Path::new("."));
                for n in ds.nodes() {
                    if let Some(p) = n.get(0).and_then(|v| v.as_string()) {
                        map.insert(n.name().value().to_string(), base.join(p));
                    }
                }
            }
        }
        for item in overrides.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item.split_once('=').with_context(|| format!("dataset root `{item}` is not key=path"))?;
            map.insert(k.trim().to_string(), PathBuf::from(v.trim()));
        }
        Ok(Self(map))
    }

    fn get(&self, key: &str, dataset: &str) -> Result<&Path> {
        let p = self.0.get(key).with_context(|| {
            format!(
                "dataset {dataset} needs the `{key}` folder: add `{key} \"/path\"` under `datasets {{ }}` in trackflow.local.kdl, or pass --root {key}=/path"
            )
        })?;
        if !p.is_dir() {
            bail!("dataset {dataset}: folder `{key}` = {} does not exist", p.display());
        }
        Ok(p)
    }
}

/// The folder a dataset name (`GOT10K_vottrain`) reads from: an error when the name is unknown,
/// its root is not configured, or the folder is missing.
pub(crate) fn root_of<'r>(name: &str, roots: &'r Roots) -> Result<&'r Path> {
    roots.get(train_dataset(name)?.root, name)
}

/// Opens a dataset by its config name.
pub fn open(name: &str, roots: &Roots, specs: &Path) -> Result<TrainDataset> {
    let kind = train_dataset(name)?;
    let root = roots.get(kind.root, name)?;
    let (sequences, pairs) = (kind.open)(root, specs)?;
    if sequences.is_empty() {
        bail!("dataset {name} at {}: no usable sequence found", root.display());
    }
    Ok(TrainDataset { name: name.to_string(), pairs, sequences })
}

/// Every visible frame of RGB sequences `seqs` as a one-image sequence (`<seq>#<frame>`), for
/// COCO-style single-image pairs.
pub(crate) fn single_frames(seqs: Vec<Sequence>) -> Vec<Sequence> {
    seqs.into_iter()
        .flat_map(|s| {
            (0..s.len())
                .filter(|&i| s.visible[i])
                .map(|i| Sequence {
                    name: format!("{}#{}", s.name, i + 1),
                    frames: Frames::Files(vec![s.files()[i].clone()]),
                    ground_truth: vec![s.ground_truth[i]],
                    gt_path: s.gt_path.clone(),
                    aux: None,
                    visible: vec![true],
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Reads the training sequences named `wanted` with `read`: `Ok(None)` from `read` means not on
/// disk (a partial download, counted); a sequence that cannot be read, or whose frames and boxes
/// do not pair up one to one, is skipped and named. Both are reported on the console.
fn read_all(name: &str, root: &Path, wanted: &[String], read: impl Fn(&str) -> Result<Option<Sequence>>) -> Vec<Sequence> {
    let mut seqs = Vec::new();
    let mut missing = Vec::new();
    let mut unusable = Vec::new();
    for n in wanted {
        match read(n) {
            Ok(Some(s)) => match usable(s) {
                Ok(s) => seqs.push(s),
                Err(e) => unusable.push(format!("{e:#}")),
            },
            Ok(None) => missing.push(n.as_str()),
            Err(e) => unusable.push(format!("{e:#}")),
        }
    }
    report_partial(name, root, seqs.len(), wanted.len(), &missing);
    report_unusable(name, &unusable);
    seqs
}

/// A sequence training can use: image files, one box per frame.
fn usable(s: Sequence) -> Result<Sequence> {
    if s.files().len() != s.ground_truth.len() {
        let gt = s.gt_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        bail!("{}: {} frames on disk but {} boxes in {gt}", s.name, s.files().len(), s.ground_truth.len());
    }
    Ok(s)
}

fn report_unusable(name: &str, unusable: &[String]) {
    if !unusable.is_empty() {
        tracing::info!("{name}: {} sequence(s) skipped, unreadable:", unusable.len());
        for u in unusable.iter().take(10) {
            tracing::info!("  {u}");
        }
        if unusable.len() > 10 {
            tracing::info!("  ... and {} more", unusable.len() - 10);
        }
    }
}

/// The names of a folder's sub-folders, sorted.
fn subfolder_names(root: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(root)
        .with_context(|| format!("cannot list {}", root.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// The non-empty, trimmed lines of a list file (sequence names); `what` names the file in errors.
fn read_name_list(path: &Path, what: &str) -> Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Whether a folder holds RGB+X sequences (its first sequence folder has paired modalities).
fn has_modalities(root: &Path) -> bool {
    let Ok(dirs) = subfolder_names(root) else { return false };
    dirs.first().is_some_and(|d| crate::data::modality::modality_of(&root.join(d)).is_some())
}

/// RGB+X sequences (DepthTrack `color/`+`depth/`, LasHeR `visible/`+`infrared/`, VisEvent
/// `vis_imgs/`+`event_imgs/`), listed by `list` (sequence names, one per line) or all present.
/// A box is usable when wider and taller than `min_side` and, where `absent_label.txt` exists
/// (VisEvent), not marked absent (0).
pub fn multimodal(root: &Path, list: Option<&Path>, name: &str, min_side: f64) -> Result<Vec<Sequence>> {
    let wanted = match list {
        Some(l) => read_name_list(l, "the sequence list")?,
        None => subfolder_names(root)?,
    };
    Ok(read_all(name, root, &wanted, |n| {
        let dir = root.join(n);
        // Only the folders are looked at here: read_sequence lists and pairs the frames.
        if crate::data::sequence::ground_truth_file(&dir).is_none() || crate::data::modality::modality_of(&dir).is_none() {
            return Ok(None);
        }
        let mut s = read_sequence(&dir, FrameFolder::Any)?;
        for (v, b) in s.visible.iter_mut().zip(&s.ground_truth) {
            *v &= b[2] > min_side && b[3] > min_side;
        }
        Ok(Some(s))
    }))
}

/// Reads a GOT-10k-layout folder. `split` holds 0-based indices into `list.txt`; without one,
/// every listed (or, with no `list.txt`, every present) sequence is used.
pub fn got10k(root: &Path, split: Option<&Path>, name: &str) -> Result<Vec<Sequence>> {
    let list_path = root.join("list.txt");
    let listed: Vec<String> = if list_path.is_file() {
        read_name_list(&list_path, "the sequence list")?
    } else {
        if split.is_some() {
            bail!(
                "{}: no list.txt, so the split's indices cannot be resolved; restore list.txt from the GOT-10k download or use GOT10K_train_full",
                root.display()
            );
        }
        subfolder_names(root)?
    };
    let wanted: Vec<String> = match split {
        None => listed.clone(),
        Some(split) => {
            let text = std::fs::read_to_string(split).with_context(|| format!("cannot read split file {}", split.display()))?;
            let mut out = Vec::new();
            let mut beyond = 0usize;
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let idx: usize =
                    line.trim().parse().with_context(|| format!("{}:{}: `{}` is not an index", split.display(), i + 1, line.trim()))?;
                match listed.get(idx) {
                    Some(n) => out.push(n.clone()),
                    None => beyond += 1,
                }
            }
            if beyond > 0 {
                tracing::info!(
                    "{name}: {beyond} indices of {} point past the {} entries of {} (a partial download?); they are skipped",
                    split.display(),
                    listed.len(),
                    list_path.display()
                );
            }
            out
        }
    };
    Ok(read_all(name, root, &wanted, |n| {
        let dir = root.join(n);
        if !dir.join("groundtruth.txt").is_file() {
            return Ok(None);
        }
        read_sequence(&dir, FrameFolder::Got10k).map(Some)
    }))
}

fn report_partial(name: &str, root: &Path, present: usize, wanted: usize, missing: &[&str]) {
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().copied().take(5).collect();
        tracing::info!(
            "{name}: training on {present} of {wanted} sequences ({:.1}%) found under {}; missing include {}",
            100.0 * present as f64 / wanted.max(1) as f64,
            root.display(),
            shown.join(", ")
        );
    }
}

/// LaSOT's training split: `<class>/<class>-<n>/img/%08d.jpg` with `groundtruth.txt`,
/// `full_occlusion.txt` and `out_of_view.txt`.
pub fn lasot(root: &Path, split: &Path) -> Result<Vec<Sequence>> {
    let names = read_name_list(split, "split file")?;
    Ok(read_all("LASOT", root, &names, |n| {
        let class = n.rsplit_once('-').map_or(n, |(c, _)| c);
        let dir = root.join(class).join(n);
        if !dir.join("groundtruth.txt").is_file() {
            return Ok(None);
        }
        read_sequence(&dir, FrameFolder::Lasot).map(Some)
    }))
}

/// TrackingNet: every `TRAIN_<i>/anno/<name>.txt` with frames `TRAIN_<i>/frames/<name>/<k>.jpg`
/// (k from 0). Missing chunks are reported, not fatal.
pub fn trackingnet(root: &Path) -> Result<Vec<Sequence>> {
    let mut seqs = Vec::new();
    let mut absent = Vec::new();
    let mut unusable = Vec::new();
    for i in 0..12 {
        let chunk = root.join(format!("TRAIN_{i}"));
        if !chunk.join("anno").is_dir() {
            absent.push(format!("TRAIN_{i}"));
            continue;
        }
        for s in trackingnet_chunk(&chunk)? {
            match s.and_then(usable) {
                Ok(s) => seqs.push(s),
                Err(e) => unusable.push(format!("{e:#}")),
            }
        }
    }
    if !absent.is_empty() && !seqs.is_empty() {
        tracing::info!(
            "TRACKINGNET: chunk(s) {} not under {}; training on the {} sequences present",
            absent.join(", "),
            root.display(),
            seqs.len()
        );
    }
    report_unusable("TRACKINGNET", &unusable);
    Ok(seqs)
}

#[derive(serde::Deserialize)]
struct CocoFile {
    images: Vec<CocoImage>,
    annotations: Vec<CocoAnnotation>,
    /// Left out by some exports; then every category is accepted.
    #[serde(default)]
    categories: Option<Vec<CocoCategory>>,
}
#[derive(serde::Deserialize)]
struct CocoImage {
    id: u64,
    file_name: String,
    #[serde(default)]
    width: Option<f64>,
    #[serde(default)]
    height: Option<f64>,
}
#[derive(serde::Deserialize)]
struct CocoAnnotation {
    image_id: u64,
    bbox: [f64; 4],
    #[serde(default)]
    iscrowd: u8,
    #[serde(default)]
    category_id: Option<u64>,
}
#[derive(serde::Deserialize)]
struct CocoCategory {
    id: u64,
}

/// Why a COCO box is not a training object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CocoSkip {
    Crowd,
    NoSize,
    OutsideImage,
    UnknownImage,
    MissingFile,
    UnknownCategory,
}

impl CocoSkip {
    fn describe(self) -> &'static str {
        match self {
            Self::Crowd => "crowd regions",
            Self::NoSize => "zero-size or non-finite boxes",
            Self::OutsideImage => "boxes outside their image",
            Self::UnknownImage => "boxes of an image id the file does not list",
            Self::MissingFile => "boxes whose image file is missing",
            Self::UnknownCategory => "boxes of a category the file does not list",
        }
    }
}

/// COCO 2017 train: `annotations/instances_train2017.json` and `images/train2017/` (or
/// `train2017/`). Every non-crowd object is a one-frame sequence. Boxes that cannot be a target
/// (crowd regions, zero-size or non-finite boxes, boxes outside their image, unknown image ids
/// or categories, image files not on disk) are counted and skipped, and the console names the
/// first few of each kind; only a file that is not COCO at all is an error.
pub fn coco(root: &Path) -> Result<Vec<Sequence>> {
    let ann = root.join("annotations/instances_train2017.json");
    let file = std::fs::File::open(&ann).with_context(|| format!("cannot open {}", ann.display()))?;
    let parsed: CocoFile =
        serde_json::from_reader(std::io::BufReader::new(file)).with_context(|| format!("{}: not a COCO annotation file", ann.display()))?;
    let images =
        ["images/train2017", "train2017"].iter().map(|d| root.join(d)).find(|d| d.is_dir()).unwrap_or(root.join("images/train2017"));
    let by_id: HashMap<u64, &CocoImage> = parsed.images.iter().map(|i| (i.id, i)).collect();
    let categories: Option<std::collections::HashSet<u64>> = parsed.categories.as_ref().map(|c| c.iter().map(|c| c.id).collect());
    // One stat per image, not per box (an image has seven boxes on average).
    let mut on_disk: HashMap<u64, bool> = HashMap::new();
    let mut skipped: std::collections::BTreeMap<CocoSkip, Vec<String>> = Default::default();
    let mut seqs = Vec::new();
    for (k, a) in parsed.annotations.iter().enumerate() {
        let image = by_id.get(&a.image_id);
        let what =
            |why| (why, format!("box {} of image {}", k + 1, image.map_or_else(|| format!("id {}", a.image_id), |i| i.file_name.clone())));
        let skip = if a.iscrowd != 0 {
            Some(what(CocoSkip::Crowd))
        } else if !box_visible(&a.bbox) {
            Some(what(CocoSkip::NoSize))
        } else if categories.as_ref().is_some_and(|c| a.category_id.is_some_and(|id| !c.contains(&id))) {
            Some(what(CocoSkip::UnknownCategory))
        } else {
            match image {
                None => Some(what(CocoSkip::UnknownImage)),
                Some(i) if outside(&a.bbox, i) => Some(what(CocoSkip::OutsideImage)),
                Some(i) if !*on_disk.entry(i.id).or_insert_with(|| images.join(&i.file_name).is_file()) => {
                    Some(what(CocoSkip::MissingFile))
                }
                Some(_) => None,
            }
        };
        if let Some((why, name)) = skip {
            skipped.entry(why).or_default().push(name);
            continue;
        }
        let file = &image.expect("checked above").file_name;
        seqs.push(Sequence {
            name: format!("coco_{k}"),
            frames: Frames::Files(vec![images.join(file)]),
            ground_truth: vec![a.bbox],
            gt_path: Some(ann.clone()),
            aux: None,
            visible: vec![true],
        });
    }
    let total: usize = skipped.values().map(Vec::len).sum();
    if total > 0 {
        tracing::warn!("warning: COCO17: {total} of {} boxes in {} skipped:", parsed.annotations.len(), ann.display());
        for (why, names) in &skipped {
            let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
            let more = if names.len() > 3 { format!(", … {} more", names.len() - 3) } else { String::new() };
            tracing::warn!("warning:   {} {} ({}{more})", names.len(), why.describe(), shown.join(", "));
        }
    }
    Ok(seqs)
}

/// Whether a box lies (by more than a pixel) outside its image, where the file gives the size.
fn outside(b: &[f64; 4], image: &CocoImage) -> bool {
    let (Some(w), Some(h)) = (image.width, image.height) else { return false };
    b[0] < -1.0 || b[1] < -1.0 || b[0] + b[2] > w + 1.0 || b[1] + b[3] > h + 1.0
}
