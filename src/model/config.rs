//! Model and experiment configs, written in KDL under `configs/<script>/<name>.kdl`, named after
//! the upstream experiments they reproduce (e.g. OSTrack's
//! `experiments/ostrack/vitb_256_mae_ce_32x4_ep300.yaml`).
//!
//! ```kdl
//! model {
//!     embed-dim 768
//!     depth 12
//!     ce-loc 3 6 9
//! }
//! data { search-size 256; search-factor 4.0 }
//! ```
//! Every key is typed and declares the values it accepts (its row in a section table below); an
//! unknown key, a wrong type or a value out of range is an error with its line and column, and
//! so is a disagreement between keys (embed-dim and num-heads, crop sizes and patch size).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use crate::base::diagnostic::{FloatRange, IntRange, Problem, Problems, SourceFile};

/// The network's shape (OSTrack `MODEL.*`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelConfig {
    /// Token width (768 for ViT-B).
    pub embed_dim: i64,
    /// Transformer blocks (12).
    pub depth: i64,
    /// Attention heads (12).
    pub num_heads: i64,
    /// MLP hidden width / embed width (4.0).
    pub mlp_ratio: f64,
    /// Patch side and stride (16).
    pub patch_size: i64,
    /// Stochastic depth at the last block, linear from 0 (0.1). Training only.
    pub drop_path: f64,
    /// Blocks (0-based) that eliminate search tokens ([3, 6, 9]).
    pub ce_loc: Vec<i64>,
    /// Fraction of search tokens each of those blocks keeps ([0.7, 0.7, 0.7]).
    pub ce_keep_ratio: Vec<f64>,
    /// First conv-tower width of the center head (256).
    pub head_channels: i64,
    /// Image size the MAE position embeddings were trained at (224), for the unused `pos_embed`.
    pub(crate) pretrain_img_size: i64,
    /// ViPT prompt variant (`prompt "vipt_deep"` or `"vipt_shaw"`): the network takes 6-channel
    /// crops (RGB, then the auxiliary modality) and gains the prompt modules. `None`: OSTrack.
    pub prompt: Option<PromptType>,
    /// Hidden channels of each prompt block's 1×1 convs (8, ViPT's `hide_channel`).
    pub(crate) prompt_hidden: i64,
    /// How crops become tokens: OSTrack's 16×16 patch convolution, or the hybrid MobileNetV2
    /// stem (`stem "mobilenetv2"`, see [`crate::model::mobilenet`]).
    pub stem: Stem,
    /// MobileNetV2 `features` blocks in the hybrid stem (14: up to `features.13`, 96 channels at
    /// stride 16; 8 to 14 all end at stride 16, with 64 channels up to 11).
    pub stem_layers: i64,
    /// Leading stem blocks kept frozen in training (ImageNet features, no gradients); the rest
    /// train at `backbone-multiplier` × lr. Default: all of them.
    pub stem_frozen: i64,
    /// Default weights for this preset (`weights "path"`, relative to the config file): what
    /// nodes load when their `weights` parameter is empty. `None`: random weights.
    pub weights: Option<std::path::PathBuf>,
}

/// How a crop becomes tokens (`model { stem … }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Stem {
    /// `"patch"`: OSTrack's stride-16 patch convolution (`patch_embed.proj`).
    #[serde(rename = "patch")]
    Patch,
    /// `"mobilenetv2"`: MobileNetV2 `features` to stride 16, then a 1×1 projection.
    #[serde(rename = "mobilenetv2")]
    MobileNetV2,
}

/// ViPT's two prompt placements (`TRAIN.PROMPT.TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PromptType {
    /// `vipt_deep`: a prompt block before every transformer block.
    #[serde(rename = "vipt_deep")]
    Deep,
    /// `vipt_shaw`: the input prompt only.
    #[serde(rename = "vipt_shaw")]
    Shaw,
}

impl PromptType {
    /// How many prompt blocks (and prompt norms) a backbone of `depth` blocks has.
    pub(crate) fn blocks(self, depth: i64) -> i64 {
        match self {
            PromptType::Deep => depth,
            PromptType::Shaw => 1,
        }
    }
}

/// Crop geometry (OSTrack `DATA.TEMPLATE/SEARCH.*`, `TEST.*`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DataConfig {
    /// Template crop side in pixels (128).
    pub template_size: i64,
    /// Template crop side relative to sqrt(w·h) of the box (2.0).
    pub template_factor: f64,
    /// Search crop side (256).
    pub search_size: i64,
    /// Search crop side relative to the box (4.0).
    pub search_factor: f64,
    /// Training: search centre jitter (3.0).
    pub(crate) center_jitter: f64,
    /// Training: search scale jitter (0.25).
    pub(crate) scale_jitter: f64,
    /// Training: share of search crops given a recoloured copy of the target as a distractor
    /// (`distractor-prob`, 0 as upstream). Not an OSTrack option: see
    /// [`crate::train::sampler::paste_distractor`].
    pub distractor_prob: f64,
    /// Training: share of search crops smeared by a motion blur (`blur-prob`, 0 as upstream).
    /// Not an OSTrack option: see [`crate::train::sampler::motion_blur`].
    pub blur_prob: f64,
    /// Training: region pairs (`GOT10K_train_regions`) draw their aspect ratio w/h log-uniformly
    /// in [1/a, a] (`region-aspect`, 1.65 as the first `mobile` models). Not an OSTrack option:
    /// see [`crate::train::sampler::distinct_region`].
    pub(crate) region_aspect: f64,
}

/// Tracking-time crop factors (OSTrack `TEST.TEMPLATE_FACTOR`, `TEST.SEARCH_FACTOR`). A factor
/// left out is the training one from `data`; the crop sizes always are, since the network's
/// position embeddings fix them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TestConfig {
    /// Template crop side relative to the box when tracking (`None`: `data.template-factor`).
    pub template_factor: Option<f64>,
    /// Search crop side relative to the box when tracking (`None`: `data.search-factor`).
    pub search_factor: Option<f64>,
    /// How far each frame's box size moves towards the predicted size (`size-update`, in
    /// (0, 1]): `w ← w + rate · (ŵ − w)`, likewise h. `None` (1.0) takes the prediction as it
    /// is, as OSTrack does. Below 1 it damps size drift, the way Siamese trackers' scale
    /// learning rate does: a small model's size error otherwise compounds, since a box too large
    /// makes the next search region larger and the target in it smaller.
    pub size_update: Option<f64>,
    /// Recovery (`recover-below`, `recover-factor`): after a frame whose confidence (the
    /// windowed peak, [`crate::tracker::Tracked::confidence`]) fell below `recover_below`, the
    /// next search region is `recover_factor` times the box instead of `search-factor`, so a
    /// target that moved away can be found again. `None` (as OSTrack): never. Not an OSTrack
    /// option.
    pub recover_below: Option<f64>,
    /// The search factor after a low-confidence frame (`None`: the training `search-factor`).
    pub recover_factor: Option<f64>,
    /// Template update (`template-rate`, `template-above`): after a frame whose confidence is
    /// above `template_above` (0 when left out), the template tokens move a share
    /// `template_rate` towards those of a template cut around the new box from that frame,
    /// z ← (1 − r)·z + r·z_t, as correlation-filter trackers update their model. `None` (as
    /// OSTrack): the first frame's template throughout. Not an OSTrack option.
    pub(crate) template_rate: Option<f64>,
    /// The confidence a frame must exceed to update the template (`None`: 0).
    pub(crate) template_above: Option<f64>,
}

/// Training recipe (OSTrack `TRAIN.*`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainConfig {
    /// Learning rate of the head (4e-4).
    pub lr: f64,
    /// Backbone learning rate multiplier (0.1).
    pub(crate) backbone_multiplier: f64,
    /// AdamW weight decay (1e-4).
    pub(crate) weight_decay: f64,
    /// Epochs (300).
    pub epochs: i64,
    /// Epoch after which the learning rate is divided by 10 (240).
    pub lr_drop_epoch: i64,
    /// Samples per batch (32).
    pub batch_size: i64,
    /// Gradient norm clip (0.1).
    pub grad_clip_norm: f64,
    /// GIoU loss weight (2.0).
    pub(crate) giou_weight: f64,
    /// L1 loss weight (5.0).
    pub(crate) l1_weight: f64,
    /// Epoch candidate elimination starts warming up (20).
    pub ce_start_epoch: i64,
    /// Epochs of the warm-up (80).
    pub ce_warm_epoch: i64,
    /// Samples per epoch (60000).
    pub sample_per_epoch: i64,
    /// Largest gap between template and search frames (200).
    pub(crate) max_sample_interval: i64,
    /// Training datasets.
    pub datasets: Vec<String>,
    /// Their sampling ratios, one per dataset.
    pub datasets_ratio: Vec<f64>,
}

/// A whole experiment config.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// Name (file stem), e.g. `vitb_256_mae_ce_32x4_ep300`.
    pub name: String,
    /// Network shape.
    pub model: ModelConfig,
    /// Crop geometry.
    pub data: DataConfig,
    /// Training recipe.
    pub train: TrainConfig,
    /// Tracking-time overrides of the crop factors.
    pub test: TestConfig,
}

impl Default for Config {
    /// OSTrack-256 with candidate elimination, as upstream's `vitb_256_mae_ce_32x4_ep300`.
    fn default() -> Self {
        Self {
            name: "vitb_256_mae_ce_32x4_ep300".into(),
            model: ModelConfig {
                embed_dim: 768,
                depth: 12,
                num_heads: 12,
                mlp_ratio: 4.0,
                patch_size: 16,
                drop_path: 0.1,
                ce_loc: vec![3, 6, 9],
                ce_keep_ratio: vec![0.7, 0.7, 0.7],
                head_channels: 256,
                pretrain_img_size: 224,
                prompt: None,
                prompt_hidden: 8,
                stem: Stem::Patch,
                stem_layers: 14,
                stem_frozen: 14,
                weights: None,
            },
            data: DataConfig {
                template_size: 128,
                template_factor: 2.0,
                search_size: 256,
                search_factor: 4.0,
                center_jitter: 3.0,
                scale_jitter: 0.25,
                distractor_prob: 0.0,
                blur_prob: 0.0,
                region_aspect: REGION_ASPECT,
            },
            train: TrainConfig {
                lr: 4e-4,
                backbone_multiplier: 0.1,
                weight_decay: 1e-4,
                epochs: 300,
                lr_drop_epoch: 240,
                batch_size: 32,
                grad_clip_norm: 0.1,
                giou_weight: 2.0,
                l1_weight: 5.0,
                ce_start_epoch: 20,
                ce_warm_epoch: 80,
                sample_per_epoch: 60000,
                max_sample_interval: 200,
                datasets: vec!["LASOT".into(), "GOT10K_vottrain".into(), "COCO17".into(), "TRACKINGNET".into()],
                datasets_ratio: vec![1.0, 1.0, 1.0, 1.0],
            },
            test: TestConfig::default(),
        }
    }
}

impl Config {
    /// Template feature-map side (template size / patch size).
    pub fn template_feat(&self) -> i64 {
        self.data.template_size / self.model.patch_size
    }
    /// Channels of a crop: 3 (RGB) for OSTrack, 6 (RGB then the auxiliary modality) for ViPT.
    pub fn input_channels(&self) -> usize {
        if self.model.prompt.is_some() { 6 } else { 3 }
    }
    /// The template crop factor the tracker uses: `test.template-factor`, else the training one.
    pub fn test_template_factor(&self) -> f64 {
        self.test.template_factor.unwrap_or(self.data.template_factor)
    }
    /// The search crop factor the tracker uses: `test.search-factor`, else the training one.
    pub fn test_search_factor(&self) -> f64 {
        self.test.search_factor.unwrap_or(self.data.search_factor)
    }
    /// The search factor for the frame after one tracked with `confidence` (1 after the first
    /// frame): [`Config::test_search_factor`], or the recovery factor after a low-confidence
    /// frame (`test { recover-below; recover-factor }`). Both tracking paths, fused and
    /// dataflow, choose with this.
    pub fn next_search_factor(&self, confidence: f64) -> f64 {
        match self.test.recover_below {
            Some(below) if confidence < below => self.test.recover_factor.unwrap_or(self.data.search_factor),
            _ => self.test_search_factor(),
        }
    }
    /// The template update's rate after a frame tracked with `confidence`, or `None` when the
    /// template stays as it is (`test { template-rate; template-above }`). Both tracking paths,
    /// fused and dataflow, decide with this.
    pub(crate) fn template_update(&self, confidence: f64) -> Option<f64> {
        self.test.template_rate.filter(|_| confidence > self.test.template_above.unwrap_or(0.0))
    }
    /// Search feature-map side (16 for the 256 model).
    pub fn search_feat(&self) -> i64 {
        self.data.search_size / self.model.patch_size
    }

    /// A preset name (`vitb_256_mae_ce_32x4_ep300`) or a config file path, resolved as dataflow
    /// parameters are (relative to the working directory), then read.
    pub fn from_name(name: &str) -> anyhow::Result<Self> {
        let path = crate::base::presets::resolve_config(name, Path::new(".")).map_err(|e| anyhow::anyhow!("config `{name}`: {e}"))?;
        Self::load(Path::new(&path)).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Reads a config file. Keys left out keep the OSTrack-256 defaults.
    pub fn load(path: &Path) -> Result<Self, Problems> {
        let file = match SourceFile::read(path) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                let f = Arc::new(SourceFile::from_text(path, String::new()));
                let mut p = Problems::default();
                p.push(Problem::new(&f, (0..0).into(), format!("cannot read config `{}`: {e}", path.display()), "here"));
                return Err(p);
            }
        };
        Self::parse(file)
    }

    /// Parses a config already in memory: every key read through its section's table (type and
    /// range), then the checks between keys. Every problem is reported at once.
    pub fn parse(file: Arc<SourceFile>) -> Result<Self, Problems> {
        let mut cfg =
            Config { name: file.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(), ..Config::default() };
        let mut r = Reader { file: &file, problems: Problems::default(), section: "", failed: HashSet::new() };
        if let Some(p) = crate::base::kdl::nesting_problem(&file) {
            r.problems.push(p);
            return Err(r.problems);
        }
        let doc = match KdlDocument::parse_v2(&file.text) {
            Ok(d) => d,
            Err(e) => {
                for d in e.diagnostics {
                    r.problems.push(Problem::new(&file, d.span, format!("invalid KDL: {}", d.message.unwrap_or_default()), "here"));
                }
                return Err(r.problems);
            }
        };
        for section in doc.nodes() {
            match section.name().value() {
                "model" => r.section(section, MODEL_KEYS, &mut cfg.model),
                "data" => r.section(section, DATA_KEYS, &mut cfg.data),
                "train" => r.section(section, TRAIN_KEYS, &mut cfg.train),
                "test" => r.section(section, TEST_KEYS, &mut cfg.test),
                other => r.problems.push(
                    Problem::new(&file, section.name().span(), format!("unknown config section `{other}`"), "unknown section")
                        .help("sections: model, data, train, test"),
                ),
            }
        }
        let mut checks = Checks { file: &file, doc: &doc, failed: &r.failed, problems: &mut r.problems };
        cfg.validate(&mut checks);
        if r.problems.is_empty() { Ok(cfg) } else { Err(r.problems) }
    }

    /// Every key a config may set, as `(section, key)`: for tests and docs.
    pub fn keys() -> Vec<(&'static str, &'static str)> {
        fn names<T>(section: &'static str, table: Table<T>) -> Vec<(&'static str, &'static str)> {
            table.iter().map(|(k, _, _)| (section, *k)).collect()
        }
        [names("model", MODEL_KEYS), names("data", DATA_KEYS), names("train", TRAIN_KEYS), names("test", TEST_KEYS)].concat()
    }

    /// Every key with its type and range, default and doc line, as `(section, key, type,
    /// default, doc)`: the generated config reference.
    pub(crate) fn reference() -> Vec<[String; 5]> {
        fn rows<T: Clone>(section: &str, table: Table<T>, defaults: &T) -> Vec<[String; 5]> {
            let list = |v: Vec<String>| format!("[{}]", v.join(", "));
            table
                .iter()
                .map(|(key, how, doc)| {
                    let mut d = defaults.clone();
                    let (ty, default) = match how {
                        Key::Int(f, r) => (format!("integer in {r}"), f(&mut d).to_string()),
                        Key::Float(f, r) => (format!("number in {r}"), f(&mut d).to_string()),
                        Key::MaybeFloat(f, r) => (format!("number in {r}"), f(&mut d).map_or("—".into(), |v| v.to_string())),
                        Key::Ints(f, r) => (format!("integers, each in {r}"), list(f(&mut d).iter().map(i64::to_string).collect())),
                        Key::Floats(f, r) => (format!("numbers, each in {r}"), list(f(&mut d).iter().map(f64::to_string).collect())),
                        Key::Strings(f) => ("strings".into(), list(f(&mut d).clone())),
                        Key::Custom(_) => ("see doc".into(), "—".into()),
                    };
                    [section.into(), (*key).into(), ty, default, (*doc).into()]
                })
                .collect()
        }
        let d = Config::default();
        [
            rows("model", MODEL_KEYS, &d.model),
            rows("data", DATA_KEYS, &d.data),
            rows("train", TRAIN_KEYS, &d.train),
            rows("test", TEST_KEYS, &d.test),
        ]
        .concat()
    }

    /// The checks between keys (ranges of single keys are the tables' job).
    fn validate(&self, c: &mut Checks) {
        self.validate_model(c);
        self.validate_crops(c);
        self.validate_train(c);
        if self.test.template_above.is_some() && self.test.template_rate.is_none() {
            let msg = "test.template-above is set without test.template-rate, so it would never be used".to_string();
            c.push_help(
                &["test.template-above"],
                msg,
                "never used",
                "add template-rate R: after a frame whose confidence is above template-above, the template moves a share R towards that frame's",
            );
        }
        if self.test.recover_factor.is_some() && self.test.recover_below.is_none() {
            let msg = "test.recover-factor is set without test.recover-below, so it would never be used".to_string();
            c.push_help(
                &["test.recover-factor"],
                msg,
                "never used",
                "add recover-below C: after a frame whose confidence is under C, the next one searches recover-factor times the box",
            );
        }
    }

    fn validate_model(&self, c: &mut Checks) {
        let m = &self.model;
        if c.read(&["model.embed-dim", "model.num-heads"]) && m.embed_dim % m.num_heads.max(1) != 0 {
            let msg = format!("embed-dim {} is not divisible by num-heads {}", m.embed_dim, m.num_heads);
            c.push(&["model.num-heads", "model.embed-dim"], msg, "each head takes embed-dim / num-heads channels");
        }
        if c.read(&["model.embed-dim", "model.mlp-ratio"]) && (m.embed_dim as f64 * m.mlp_ratio) < 1.0 {
            let msg = format!("embed-dim {} × mlp-ratio {} leaves the MLP no hidden unit", m.embed_dim, m.mlp_ratio);
            c.push(&["model.mlp-ratio", "model.embed-dim"], msg, "here");
        }
        if c.read(&["model.ce-loc", "model.ce-keep-ratio"]) && m.ce_loc.len() != m.ce_keep_ratio.len() {
            let msg = format!("ce-loc has {} entries but ce-keep-ratio has {}", m.ce_loc.len(), m.ce_keep_ratio.len());
            c.push_help(
                &["model.ce-keep-ratio", "model.ce-loc"],
                msg,
                "lengths differ",
                "give one keep ratio per candidate-elimination block",
            );
        }
        if c.read(&["model.ce-loc", "model.depth"])
            && let Some(bad) = m.ce_loc.iter().find(|&&l| l >= m.depth)
        {
            c.push(&["model.ce-loc"], format!("ce-loc {bad} is not a block index (0..{})", m.depth), "here");
        }
        if m.stem == Stem::MobileNetV2 {
            if c.read(&["model.patch-size"]) && m.patch_size != 16 {
                let msg = format!("patch-size {} with stem \"mobilenetv2\": the stem's stride is 16", m.patch_size);
                c.push(&["model.patch-size"], msg, "here");
            }
            if m.prompt.is_some() {
                c.push(&["model.stem"], "the mobilenetv2 stem has no ViPT prompt variant yet".into(), "here");
            }
        }
    }

    /// Crops are cut into whole patches: each crop side is a multiple of the patch size.
    fn validate_crops(&self, c: &mut Checks) {
        let patch = self.model.patch_size;
        for (key, size) in [("data.template-size", self.data.template_size), ("data.search-size", self.data.search_size)] {
            if c.read(&[key, "model.patch-size"]) && size % patch.max(1) != 0 {
                let msg = format!("{key} {size} is not a multiple of model.patch-size {patch}");
                c.push_help(&[key, "model.patch-size"], msg, "not whole patches", "the crop is cut into patch-size × patch-size tokens");
            }
        }
    }

    fn validate_train(&self, c: &mut Checks) {
        let t = &self.train;
        if c.read(&["train.datasets"]) && t.datasets.is_empty() {
            c.push(&["train.datasets"], "train.datasets names no dataset".into(), "nothing to train on");
        }
        if c.read(&["train.datasets", "train.datasets-ratio"]) && t.datasets.len() != t.datasets_ratio.len() {
            let msg = format!(
                "train.datasets lists {} datasets ({}) but train.datasets-ratio has {} ratios",
                t.datasets.len(),
                t.datasets.join(", "),
                t.datasets_ratio.len()
            );
            c.push_help(&["train.datasets-ratio", "train.datasets"], msg, "one ratio per dataset", "edit the two lists together");
        } else if c.read(&["train.datasets-ratio"]) && !t.datasets_ratio.is_empty() && t.datasets_ratio.iter().sum::<f64>() <= 0.0 {
            c.push(&["train.datasets-ratio"], "train.datasets-ratio is all zeros: no dataset would be drawn".into(), "here");
        }
        if c.read(&["train.sample-per-epoch", "train.batch-size"]) && t.sample_per_epoch % t.batch_size.max(1) != 0 {
            let trained = t.sample_per_epoch / t.batch_size.max(1) * t.batch_size;
            let msg = format!(
                "train.sample-per-epoch {} is not a multiple of train.batch-size {}: an epoch trains whole batches, {trained} samples",
                t.sample_per_epoch, t.batch_size
            );
            let help = match trained {
                0 => format!("write {} or more", t.batch_size),
                n => format!("write {n} or {}", n + t.batch_size),
            };
            c.push_help(&["train.sample-per-epoch", "train.batch-size"], msg, "not whole batches", &help);
        }
    }
}

impl TrainConfig {
    /// This recipe with a run's overrides: each of `epochs`, `sample_per_epoch` and `batch_size`
    /// that is positive replaces the config's value, and 0 keeps it, as the trainer node's
    /// parameters of the same names do.
    pub fn overridden(&self, epochs: i64, sample_per_epoch: i64, batch_size: i64) -> TrainConfig {
        let pick = |over: i64, own: i64| if over > 0 { over } else { own };
        TrainConfig {
            epochs: pick(epochs, self.epochs),
            sample_per_epoch: pick(sample_per_epoch, self.sample_per_epoch),
            batch_size: pick(batch_size, self.batch_size),
            ..self.clone()
        }
    }

    /// How an epoch splits into batches over `replicas` data-parallel devices (`batch_size` is
    /// per device, as upstream's DDP), or why it cannot: what the trainer will do, known before
    /// it starts.
    pub fn schedule(&self, replicas: i64) -> Result<Schedule, String> {
        if self.epochs < 1 {
            return Err(format!("epochs {}: train at least 1 epoch", self.epochs));
        }
        if self.batch_size < 1 || replicas < 1 {
            return Err(format!("batch-size {} on {replicas} device(s): a batch needs at least one sample", self.batch_size));
        }
        let global_batch = self
            .batch_size
            .checked_mul(replicas)
            .ok_or_else(|| format!("batch-size {} × {replicas} devices is too large", self.batch_size))?;
        let batches = self.sample_per_epoch / global_batch;
        if batches < 1 {
            return Err(format!(
                "sample-per-epoch {} is smaller than the global batch {global_batch} ({replicas} device(s) × batch-size {}): an epoch would have no batch to train",
                self.sample_per_epoch, self.batch_size
            ));
        }
        Ok(Schedule { global_batch, batches })
    }
}

/// How one epoch is trained: [`TrainConfig::schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Samples per optimiser step, over all devices.
    pub global_batch: i64,
    /// Steps per epoch: whole global batches (a remainder of `sample_per_epoch` is not trained).
    pub batches: i64,
}

impl Schedule {
    /// Samples an epoch really trains (`sample_per_epoch` rounded down to whole batches).
    pub fn samples(&self) -> i64 {
        self.global_batch * self.batches
    }
}

/// How one config key is read: its type, the values it accepts, and the field it sets. The
/// range is part of the key's row in its section's table, so a key cannot be added without one.
enum Key<T> {
    /// One integer.
    Int(fn(&mut T) -> &mut i64, IntRange),
    /// One number (integers accepted).
    Float(fn(&mut T) -> &mut f64, FloatRange),
    /// One number that, when given, replaces a fallback taken from elsewhere (`test` factors).
    MaybeFloat(fn(&mut T) -> &mut Option<f64>, FloatRange),
    /// Integers, each in the range.
    Ints(fn(&mut T) -> &mut Vec<i64>, IntRange),
    /// Numbers, each in the range.
    Floats(fn(&mut T) -> &mut Vec<f64>, FloatRange),
    /// Strings.
    Strings(fn(&mut T) -> &mut Vec<String>),
    /// A key with a reader of its own (a word from a fixed list, a path).
    Custom(fn(&mut Reader<'_>, &KdlNode, &mut T)),
}

/// A section's keys: name, how it is read, and one line for the docs (the generated config
/// reference, `trackflow docs`).
type Table<T> = &'static [(&'static str, Key<T>, &'static str)];

/// `model { … }`. Upper ends are far beyond any real network: they catch typos (an extra digit)
/// before they become allocations.
const MODEL_KEYS: Table<ModelConfig> = &[
    ("embed-dim", Key::Int(|m| &mut m.embed_dim, IntRange::new(1, 65536)), "token width (768 for ViT-B)"),
    ("depth", Key::Int(|m| &mut m.depth, IntRange::new(1, 1024)), "transformer blocks"),
    ("num-heads", Key::Int(|m| &mut m.num_heads, IntRange::new(1, 1024)), "attention heads"),
    ("mlp-ratio", Key::Float(|m| &mut m.mlp_ratio, FloatRange::above(0.0, 64.0)), "MLP hidden width / token width"),
    ("patch-size", Key::Int(|m| &mut m.patch_size, IntRange::new(1, 1024)), "patch side and stride in pixels"),
    // Below 1: a block dropped with probability 1 would divide by its keep probability, 0.
    (
        "drop-path",
        Key::Float(|m| &mut m.drop_path, FloatRange::below(0.0, 1.0)),
        "stochastic depth at the last block, linear from 0 (training only)",
    ),
    ("ce-loc", Key::Ints(|m| &mut m.ce_loc, IntRange::new(0, 1023)), "blocks (0-based) that eliminate search tokens"),
    (
        "ce-keep-ratio",
        Key::Floats(|m| &mut m.ce_keep_ratio, FloatRange::above(0.0, 1.0)),
        "share of search tokens each of those blocks keeps",
    ),
    // The head's towers halve it three times (C/8 channels last).
    ("head-channels", Key::Int(|m| &mut m.head_channels, IntRange::new(8, 65536)), "first conv-tower width of the center head"),
    (
        "pretrain-img-size",
        Key::Int(|m| &mut m.pretrain_img_size, IntRange::new(1, 8192)),
        "image size the MAE position embeddings were trained at",
    ),
    ("prompt-hidden", Key::Int(|m| &mut m.prompt_hidden, IntRange::new(1, 4096)), "hidden channels of each ViPT prompt block"),
    // MobileNetV2 ends at stride 16 after 8 to 14 `features` blocks (14: up to features.13, 96 channels).
    ("stem-layers", Key::Int(|m| &mut m.stem_layers, IntRange::new(8, 14)), "MobileNetV2 `features` blocks in the hybrid stem"),
    ("stem-frozen", Key::Int(|m| &mut m.stem_frozen, IntRange::new(0, 14)), "leading stem blocks frozen in training"),
    ("stem", Key::Custom(read_stem), r#"`"patch"` (OSTrack) or `"mobilenetv2"` (the hybrid stem)"#),
    ("prompt", Key::Custom(read_prompt), r#"ViPT prompts: `"vipt_deep"`, `"vipt_shaw"` or `"none"`"#),
    ("weights", Key::Custom(read_weights), "default weights file, relative to the config file"),
];

/// `data { … }`. Crop factors are positive (a factor sizes the crop from the box).
const DATA_KEYS: Table<DataConfig> = &[
    ("template-size", Key::Int(|d| &mut d.template_size, IntRange::new(1, 4096)), "template crop side in pixels"),
    ("template-factor", Key::Float(|d| &mut d.template_factor, FACTOR), "template crop side relative to the box (sqrt(w·h))"),
    ("search-size", Key::Int(|d| &mut d.search_size, IntRange::new(1, 4096)), "search crop side in pixels"),
    ("search-factor", Key::Float(|d| &mut d.search_factor, FACTOR), "search crop side relative to the box"),
    ("center-jitter", Key::Float(|d| &mut d.center_jitter, FloatRange::closed(0.0, 100.0)), "training: search centre jitter"),
    ("scale-jitter", Key::Float(|d| &mut d.scale_jitter, FloatRange::closed(0.0, 10.0)), "training: search scale jitter"),
    (
        "distractor-prob",
        Key::Float(|d| &mut d.distractor_prob, SHARE),
        "training: share of search crops with a recoloured copy of the target pasted in",
    ),
    ("blur-prob", Key::Float(|d| &mut d.blur_prob, SHARE), "training: share of search crops smeared by motion blur"),
    ("region-aspect", Key::Float(|d| &mut d.region_aspect, FloatRange::closed(1.0, 100.0)), "training: region pairs draw w/h in [1/a, a]"),
];

/// The region pairs' widest aspect ratio before it was a key: e^0.5.
pub(crate) const REGION_ASPECT: f64 = 1.6487212707001282;

/// `train { … }`.
const TRAIN_KEYS: Table<TrainConfig> = &[
    ("lr", Key::Float(|t| &mut t.lr, FloatRange::above(0.0, 10.0)), "learning rate of the head"),
    (
        "backbone-multiplier",
        Key::Float(|t| &mut t.backbone_multiplier, FloatRange::closed(0.0, 100.0)),
        "backbone learning rate / head learning rate",
    ),
    ("weight-decay", Key::Float(|t| &mut t.weight_decay, FloatRange::closed(0.0, 10.0)), "AdamW weight decay"),
    ("epochs", Key::Int(|t| &mut t.epochs, EPOCHS), "epochs"),
    ("lr-drop-epoch", Key::Int(|t| &mut t.lr_drop_epoch, EPOCHS), "epoch after which the learning rate is divided by 10"),
    ("batch-size", Key::Int(|t| &mut t.batch_size, IntRange::new(1, 65536)), "samples per batch (per device)"),
    // 0 would scale every gradient to nothing.
    ("grad-clip-norm", Key::Float(|t| &mut t.grad_clip_norm, FloatRange::above(0.0, 1e6)), "gradient norm clip"),
    ("giou-weight", Key::Float(|t| &mut t.giou_weight, FloatRange::closed(0.0, 1000.0)), "GIoU loss weight"),
    ("l1-weight", Key::Float(|t| &mut t.l1_weight, FloatRange::closed(0.0, 1000.0)), "L1 loss weight"),
    ("ce-start-epoch", Key::Int(|t| &mut t.ce_start_epoch, IntRange::new(0, 1_000_000)), "epoch candidate elimination starts warming up"),
    ("ce-warm-epoch", Key::Int(|t| &mut t.ce_warm_epoch, IntRange::new(0, 1_000_000)), "epochs of that warm-up"),
    ("sample-per-epoch", Key::Int(|t| &mut t.sample_per_epoch, IntRange::new(1, 1_000_000_000)), "samples per epoch"),
    (
        "max-sample-interval",
        Key::Int(|t| &mut t.max_sample_interval, IntRange::new(1, 1_000_000)),
        "largest gap between template and search frames",
    ),
    ("datasets", Key::Strings(|t| &mut t.datasets), "training datasets (see the dataset reference)"),
    ("datasets-ratio", Key::Floats(|t| &mut t.datasets_ratio, FloatRange::closed(0.0, 1e6)), "their sampling ratios, one per dataset"),
];

/// `test { … }`: tracking-time factors, each replacing the training one when given.
const TEST_KEYS: Table<TestConfig> = &[
    ("template-factor", Key::MaybeFloat(|t| &mut t.template_factor, FACTOR), "template factor when tracking (default: data's)"),
    ("search-factor", Key::MaybeFloat(|t| &mut t.search_factor, FACTOR), "search factor when tracking (default: data's)"),
    // 1 takes each predicted size as it is; 0 would never move the box size.
    (
        "size-update",
        Key::MaybeFloat(|t| &mut t.size_update, FloatRange::above(0.0, 1.0)),
        "how far each box size moves towards the prediction, in (0, 1] (default 1)",
    ),
    // A confidence is a windowed score in (0, 1).
    (
        "recover-below",
        Key::MaybeFloat(|t| &mut t.recover_below, FloatRange::closed(0.0, 1.0)),
        "confidence under which the next search is widened (default: never)",
    ),
    ("recover-factor", Key::MaybeFloat(|t| &mut t.recover_factor, FACTOR), "the search factor after such a frame"),
    // 0 would never move the template; 1 would replace it with each frame's.
    (
        "template-rate",
        Key::MaybeFloat(|t| &mut t.template_rate, FloatRange::above(0.0, 1.0)),
        "share the template moves towards each confident frame's (default: never)",
    ),
    (
        "template-above",
        Key::MaybeFloat(|t| &mut t.template_above, FloatRange::closed(0.0, 1.0)),
        "confidence a frame must exceed to update the template (default 0)",
    ),
];

/// Crop side relative to the box size.
const FACTOR: FloatRange = FloatRange::above(0.0, 100.0);
/// Shares of samples.
const SHARE: FloatRange = FloatRange::closed(0.0, 1.0);
/// Epoch counts and epoch numbers.
const EPOCHS: IntRange = IntRange::new(1, 1_000_000);

fn read_stem(r: &mut Reader<'_>, node: &KdlNode, m: &mut ModelConfig) {
    match r.word(node, &["patch", "mobilenetv2"]) {
        Some("patch") => m.stem = Stem::Patch,
        Some(_) => m.stem = Stem::MobileNetV2,
        None => {}
    }
}

fn read_prompt(r: &mut Reader<'_>, node: &KdlNode, m: &mut ModelConfig) {
    match r.word(node, &["vipt_deep", "vipt_shaw", "none"]) {
        Some("vipt_deep") => m.prompt = Some(PromptType::Deep),
        Some("vipt_shaw") => m.prompt = Some(PromptType::Shaw),
        Some(_) => m.prompt = None,
        None => {}
    }
}

/// `weights "path"`, relative to the config file.
fn read_weights(r: &mut Reader<'_>, node: &KdlNode, m: &mut ModelConfig) {
    let mut v = Vec::new();
    if r.strings(node, &mut v) {
        match v.as_slice() {
            [one] => m.weights = Some(crate::base::paths::normalize(&r.file.dir().join(one))),
            _ => {
                r.bad(node, "one path string");
            }
        }
    }
}

/// Reads keys through the section tables, collecting problems.
struct Reader<'a> {
    file: &'a Arc<SourceFile>,
    problems: Problems,
    /// The section being read, to name keys `section.key` in messages.
    section: &'static str,
    /// Keys whose value was refused, as `section.key`. They keep their defaults, so the checks
    /// between keys leave them out rather than report values the file never had.
    failed: HashSet<String>,
}

impl Reader<'_> {
    fn section<T>(&mut self, section: &KdlNode, keys: Table<T>, target: &mut T) {
        let Some(children) = section.children() else { return };
        self.section = ["model", "data", "train", "test"].into_iter().find(|s| *s == section.name().value()).unwrap_or("");
        for node in children.nodes() {
            let key = node.name().value();
            match keys.iter().find(|(k, _, _)| *k == key) {
                Some((_, how, _)) => self.key(node, how, target),
                None => self.problems.push(
                    Problem::new(
                        self.file,
                        node.name().span(),
                        format!("unknown key `{key}` in section `{}`", section.name().value()),
                        "unknown key",
                    )
                    .help("see configs/ostrack/vitb_256_mae_ce_32x4_ep300.kdl for every key"),
                ),
            }
        }
    }

    fn key<T>(&mut self, node: &KdlNode, how: &Key<T>, target: &mut T) {
        match how {
            Key::Int(field, range) => {
                self.int_in(node, field(target), *range);
            }
            Key::Float(field, range) => {
                self.float_in(node, field(target), *range);
            }
            Key::MaybeFloat(field, range) => {
                let mut v = 0.0;
                if self.float_in(node, &mut v, *range) {
                    *field(target) = Some(v);
                }
            }
            Key::Ints(field, range) => {
                self.ints_in(node, field(target), *range);
            }
            Key::Floats(field, range) => {
                self.floats_in(node, field(target), *range);
            }
            Key::Strings(field) => {
                self.strings(node, field(target));
            }
            Key::Custom(read) => read(self, node, target),
        }
    }

    /// A value of the wrong type or shape; returns false, for the readers' results.
    fn bad(&mut self, node: &KdlNode, want: &str) -> bool {
        self.failed.insert(format!("{}.{}", self.section, node.name().value()));
        self.problems.push(Problem::new(
            self.file,
            node.span(),
            format!("`{}` takes {want}", node.name().value()),
            format!("expected {want}"),
        ));
        false
    }

    /// A value of the right type outside the key's range, pointed at; returns false.
    fn out_of_range(&mut self, node: &KdlNode, entry: &KdlEntry, shown: impl fmt::Display, range: impl fmt::Display) -> bool {
        let key = format!("{}.{}", self.section, node.name().value());
        self.problems.push(Problem::new(
            self.file,
            entry.span(),
            format!("{key} {shown} is out of range {range}"),
            format!("not in {range}"),
        ));
        self.failed.insert(key);
        false
    }

    /// One integer in `range` into `out`.
    fn int_in(&mut self, node: &KdlNode, out: &mut i64, range: impl Into<IntRange>) -> bool {
        let [e] = args(node)[..] else { return self.bad(node, "one integer") };
        let Some(i) = e.value().as_integer() else { return self.bad(node, "one integer") };
        let range = range.into();
        match i64::try_from(i).ok().filter(|v| range.contains(*v)) {
            Some(v) => {
                *out = v;
                true
            }
            None => self.out_of_range(node, e, i, range),
        }
    }

    /// One number in `range` into `out` (an integer is a number too).
    fn float_in(&mut self, node: &KdlNode, out: &mut f64, range: impl Into<FloatRange>) -> bool {
        let [e] = args(node)[..] else { return self.bad(node, "one number") };
        let Some(v) = number(e) else { return self.bad(node, "one number") };
        let range = range.into();
        if !range.contains(v) {
            return self.out_of_range(node, e, v, range);
        }
        *out = v;
        true
    }

    /// Integers, each in `range`, into `out`; each one out of range is reported.
    fn ints_in(&mut self, node: &KdlNode, out: &mut Vec<i64>, range: impl Into<IntRange>) -> bool {
        let entries = args(node);
        let Some(values) = entries.iter().map(|e| e.value().as_integer()).collect::<Option<Vec<i128>>>() else {
            return self.bad(node, "integers");
        };
        let range = range.into();
        let mut ok = true;
        for (e, i) in entries.iter().zip(&values) {
            if !i64::try_from(*i).is_ok_and(|v| range.contains(v)) {
                ok = self.out_of_range(node, e, i, range);
            }
        }
        if ok {
            *out = values.into_iter().map(|i| i as i64).collect();
        }
        ok
    }

    /// Numbers, each in `range`, into `out`; each one out of range is reported.
    fn floats_in(&mut self, node: &KdlNode, out: &mut Vec<f64>, range: impl Into<FloatRange>) -> bool {
        let entries = args(node);
        let Some(values) = entries.iter().map(|e| number(e)).collect::<Option<Vec<f64>>>() else {
            return self.bad(node, "numbers");
        };
        let range = range.into();
        let mut ok = true;
        for (e, v) in entries.iter().zip(&values) {
            if !range.contains(*v) {
                ok = self.out_of_range(node, e, v, range);
            }
        }
        if ok {
            *out = values;
        }
        ok
    }

    fn strings(&mut self, node: &KdlNode, out: &mut Vec<String>) -> bool {
        match args(node).iter().map(|e| e.value().as_string().map(str::to_string)).collect() {
            Some(v) => {
                *out = v;
                true
            }
            None => self.bad(node, "strings"),
        }
    }

    /// One string from `choices`.
    fn word(&mut self, node: &KdlNode, choices: &[&'static str]) -> Option<&'static str> {
        let found = match args(node)[..] {
            [e] => e.value().as_string().and_then(|s| choices.iter().find(|c| **c == s).copied()),
            _ => None,
        };
        if found.is_none() {
            let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
            let (last, rest) = quoted.split_last().expect("a word has choices");
            self.bad(node, &format!("one of {} or {last}", rest.join(", ")));
        }
        found
    }
}

/// A node's arguments (its entries without a name).
fn args(node: &KdlNode) -> Vec<&KdlEntry> {
    node.entries().iter().filter(|e| e.name().is_none()).collect()
}

/// An entry's value as a number, if it is one.
fn number(e: &KdlEntry) -> Option<f64> {
    match e.value() {
        KdlValue::Integer(i) => Some(*i as f64),
        KdlValue::Float(f) => Some(*f),
        _ => None,
    }
}

/// The checks between keys: where each key sits (for the problem's location) and which keys
/// failed their own reading (checks involving those are skipped).
struct Checks<'a> {
    file: &'a Arc<SourceFile>,
    doc: &'a KdlDocument,
    failed: &'a HashSet<String>,
    problems: &'a mut Problems,
}

impl Checks<'_> {
    /// Whether each of these `section.key`s holds a value that passed its own check.
    fn read(&self, keys: &[&str]) -> bool {
        keys.iter().all(|k| !self.failed.contains(*k))
    }

    fn push(&mut self, keys: &[&str], message: String, label: &str) {
        let span = self.span_of(keys);
        self.problems.push(Problem::new(self.file, span, message, label));
    }

    fn push_help(&mut self, keys: &[&str], message: String, label: &str, help: &str) {
        let span = self.span_of(keys);
        self.problems.push(Problem::new(self.file, span, message, label).help(help));
    }

    /// The first of `keys` (`section.key`) the file sets, the last time it sets it; the top
    /// of the file when it sets none of them (the defaults disagree with each other).
    fn span_of(&self, keys: &[&str]) -> SourceSpan {
        keys.iter()
            .filter_map(|k| k.split_once('.'))
            .find_map(|(section, key)| {
                let sections = self.doc.nodes().iter().filter(|s| s.name().value() == section);
                sections.filter_map(|s| s.children()?.nodes().iter().rfind(|n| n.name().value() == key)).next_back().map(|n| n.span())
            })
            .unwrap_or_else(|| (0..0).into())
    }
}
