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
//! Every key is typed; an unknown key or a wrong type is an error with its line and column.

use std::path::Path;
use std::sync::Arc;

use kdl::{KdlDocument, KdlNode, KdlValue};

use crate::base::diagnostic::{Problem, Problems, SourceFile};

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
    pub pretrain_img_size: i64,
    /// ViPT prompt variant (`prompt "vipt_deep"` or `"vipt_shaw"`): the network takes 6-channel
    /// crops (RGB, then the auxiliary modality) and gains the prompt modules. `None`: OSTrack.
    pub prompt: Option<PromptType>,
    /// Hidden channels of each prompt block's 1×1 convs (8, ViPT's `hide_channel`).
    pub prompt_hidden: i64,
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
    pub fn blocks(self, depth: i64) -> i64 {
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
    pub center_jitter: f64,
    /// Training: search scale jitter (0.25).
    pub scale_jitter: f64,
    /// Training: share of search crops given a recoloured copy of the target as a distractor
    /// (`distractor-prob`, 0 as upstream). Not an OSTrack option: see
    /// [`crate::train::sampler::paste_distractor`].
    pub distractor_prob: f64,
    /// Training: share of search crops smeared by a motion blur (`blur-prob`, 0 as upstream).
    /// Not an OSTrack option: see [`crate::train::sampler::motion_blur`].
    pub blur_prob: f64,
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
}

/// Training recipe (OSTrack `TRAIN.*`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainConfig {
    /// Learning rate of the head (4e-4).
    pub lr: f64,
    /// Backbone learning rate multiplier (0.1).
    pub backbone_multiplier: f64,
    /// AdamW weight decay (1e-4).
    pub weight_decay: f64,
    /// Epochs (300).
    pub epochs: i64,
    /// Epoch after which the learning rate is divided by 10 (240).
    pub lr_drop_epoch: i64,
    /// Samples per batch (32).
    pub batch_size: i64,
    /// Gradient norm clip (0.1).
    pub grad_clip_norm: f64,
    /// GIoU loss weight (2.0).
    pub giou_weight: f64,
    /// L1 loss weight (5.0).
    pub l1_weight: f64,
    /// Epoch candidate elimination starts warming up (20).
    pub ce_start_epoch: i64,
    /// Epochs of the warm-up (80).
    pub ce_warm_epoch: i64,
    /// Samples per epoch (60000).
    pub sample_per_epoch: i64,
    /// Largest gap between template and search frames (200).
    pub max_sample_interval: i64,
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

    /// Parses a config already in memory.
    pub fn parse(file: Arc<SourceFile>) -> Result<Self, Problems> {
        let mut problems = Problems::default();
        let mut cfg =
            Config { name: file.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(), ..Config::default() };
        if let Some(p) = crate::base::kdl::nesting_problem(&file) {
            problems.push(p);
            return Err(problems);
        }
        let doc = match KdlDocument::parse_v2(&file.text) {
            Ok(d) => d,
            Err(e) => {
                for d in e.diagnostics {
                    problems.push(Problem::new(&file, d.span, format!("invalid KDL: {}", d.message.unwrap_or_default()), "here"));
                }
                return Err(problems);
            }
        };
        for section in doc.nodes() {
            let r = Reader { file: &file, problems: &mut problems };
            match section.name().value() {
                "model" => r.section(section, |r, key, node| {
                    let m = &mut cfg.model;
                    match key {
                        "embed-dim" => r.int(node, &mut m.embed_dim),
                        "depth" => r.int(node, &mut m.depth),
                        "num-heads" => r.int(node, &mut m.num_heads),
                        "mlp-ratio" => r.float(node, &mut m.mlp_ratio),
                        "patch-size" => r.int(node, &mut m.patch_size),
                        "drop-path" => r.float(node, &mut m.drop_path),
                        "ce-loc" => r.ints(node, &mut m.ce_loc),
                        "ce-keep-ratio" => r.floats(node, &mut m.ce_keep_ratio),
                        "head-channels" => r.int(node, &mut m.head_channels),
                        "pretrain-img-size" => r.int(node, &mut m.pretrain_img_size),
                        "prompt-hidden" => r.int(node, &mut m.prompt_hidden),
                        "stem-layers" => r.int(node, &mut m.stem_layers),
                        "stem-frozen" => r.int(node, &mut m.stem_frozen),
                        "stem" => {
                            let mut v = Vec::new();
                            r.strings(node, &mut v);
                            match v.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                                ["patch"] => m.stem = Stem::Patch,
                                ["mobilenetv2"] => m.stem = Stem::MobileNetV2,
                                _ => r.bad(node, "one of \"patch\" or \"mobilenetv2\""),
                            }
                        }
                        "prompt" => {
                            let mut v = Vec::new();
                            r.strings(node, &mut v);
                            match v.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                                ["vipt_deep"] => m.prompt = Some(PromptType::Deep),
                                ["vipt_shaw"] => m.prompt = Some(PromptType::Shaw),
                                ["none"] => m.prompt = None,
                                _ => r.bad(node, "one of \"vipt_deep\", \"vipt_shaw\" or \"none\""),
                            }
                        }
                        "weights" => {
                            let mut v = Vec::new();
                            r.strings(node, &mut v);
                            match v.as_slice() {
                                [one] => {
                                    m.weights = Some(crate::base::paths::normalize(&file.path.parent().unwrap_or(Path::new(".")).join(one)))
                                }
                                _ => r.bad(node, "one path string"),
                            }
                        }
                        _ => return false,
                    }
                    true
                }),
                "data" => r.section(section, |r, key, node| {
                    let d = &mut cfg.data;
                    match key {
                        "template-size" => r.int(node, &mut d.template_size),
                        "template-factor" => r.float(node, &mut d.template_factor),
                        "search-size" => r.int(node, &mut d.search_size),
                        "search-factor" => r.float(node, &mut d.search_factor),
                        "center-jitter" => r.float(node, &mut d.center_jitter),
                        "scale-jitter" => r.float(node, &mut d.scale_jitter),
                        "distractor-prob" => r.float(node, &mut d.distractor_prob),
                        "blur-prob" => r.float(node, &mut d.blur_prob),
                        _ => return false,
                    }
                    true
                }),
                "train" => r.section(section, |r, key, node| {
                    let t = &mut cfg.train;
                    match key {
                        "lr" => r.float(node, &mut t.lr),
                        "backbone-multiplier" => r.float(node, &mut t.backbone_multiplier),
                        "weight-decay" => r.float(node, &mut t.weight_decay),
                        "epochs" => r.int(node, &mut t.epochs),
                        "lr-drop-epoch" => r.int(node, &mut t.lr_drop_epoch),
                        "batch-size" => r.int(node, &mut t.batch_size),
                        "grad-clip-norm" => r.float(node, &mut t.grad_clip_norm),
                        "giou-weight" => r.float(node, &mut t.giou_weight),
                        "l1-weight" => r.float(node, &mut t.l1_weight),
                        "ce-start-epoch" => r.int(node, &mut t.ce_start_epoch),
                        "ce-warm-epoch" => r.int(node, &mut t.ce_warm_epoch),
                        "sample-per-epoch" => r.int(node, &mut t.sample_per_epoch),
                        "max-sample-interval" => r.int(node, &mut t.max_sample_interval),
                        "datasets" => r.strings(node, &mut t.datasets),
                        "datasets-ratio" => r.floats(node, &mut t.datasets_ratio),
                        _ => return false,
                    }
                    true
                }),
                "test" => r.section(section, |r, key, node| {
                    let (slot, fallback) = match key {
                        "template-factor" => (&mut cfg.test.template_factor, cfg.data.template_factor),
                        "search-factor" => (&mut cfg.test.search_factor, cfg.data.search_factor),
                        "size-update" => (&mut cfg.test.size_update, 1.0),
                        _ => return false,
                    };
                    let mut v = fallback;
                    r.float(node, &mut v);
                    *slot = Some(v);
                    true
                }),
                other => r.problems.push(
                    Problem::new(&file, section.name().span(), format!("unknown config section `{other}`"), "unknown section")
                        .help("sections: model, data, train, test"),
                ),
            }
        }
        cfg.validate(&file, &doc, &mut problems);
        if problems.is_empty() { Ok(cfg) } else { Err(problems) }
    }

    fn validate(&self, file: &Arc<SourceFile>, doc: &KdlDocument, problems: &mut Problems) {
        let span_of = |section: &str, key: &str| {
            doc.get(section).and_then(|s| s.children()).and_then(|c| c.get(key)).map(|n| n.span()).unwrap_or_else(|| (0..0).into())
        };
        let m = &self.model;
        if m.embed_dim % m.num_heads != 0 {
            problems.push(Problem::new(
                file,
                span_of("model", "num-heads"),
                format!("embed-dim {} is not divisible by num-heads {}", m.embed_dim, m.num_heads),
                "here",
            ));
        }
        if m.ce_loc.len() != m.ce_keep_ratio.len() {
            problems.push(
                Problem::new(
                    file,
                    span_of("model", "ce-keep-ratio"),
                    format!("ce-loc has {} entries but ce-keep-ratio has {}", m.ce_loc.len(), m.ce_keep_ratio.len()),
                    "lengths differ",
                )
                .help("give one keep ratio per candidate-elimination block"),
            );
        }
        if let Some(bad) = m.ce_loc.iter().find(|&&l| l < 0 || l >= m.depth) {
            problems.push(Problem::new(
                file,
                span_of("model", "ce-loc"),
                format!("ce-loc {bad} is not a block index (0..{})", m.depth),
                "here",
            ));
        }
        if m.stem == Stem::MobileNetV2 {
            // features.11 ..= features.13 (the 96-channel group) and features.7 ..= 10 end at stride 16.
            if !(8..=14).contains(&m.stem_layers) {
                problems.push(
                    Problem::new(
                        file,
                        span_of("model", "stem-layers"),
                        format!("stem-layers {} does not end MobileNetV2 at stride 16", m.stem_layers),
                        "here",
                    )
                    .help("use 8 to 14 (14: up to features.13, 96 channels)"),
                );
            }
            if m.patch_size != 16 {
                problems.push(Problem::new(
                    file,
                    span_of("model", "patch-size"),
                    format!("patch-size {} with stem \"mobilenetv2\": the stem's stride is 16", m.patch_size),
                    "here",
                ));
            }
            if m.prompt.is_some() {
                problems.push(Problem::new(
                    file,
                    span_of("model", "stem"),
                    "the mobilenetv2 stem has no ViPT prompt variant yet".to_string(),
                    "here",
                ));
            }
        }
        if m.stem_frozen < 0 {
            problems.push(Problem::new(
                file,
                span_of("model", "stem-frozen"),
                format!("stem-frozen {} is negative", m.stem_frozen),
                "here",
            ));
        }
        for (key, size) in [("template-size", self.data.template_size), ("search-size", self.data.search_size)] {
            if size <= 0 || size % m.patch_size != 0 {
                problems.push(Problem::new(
                    file,
                    span_of("data", key),
                    format!("{key} {size} is not a positive multiple of patch-size {}", m.patch_size),
                    "here",
                ));
            }
        }
        let mut factors = vec![("data", "template-factor", self.data.template_factor), ("data", "search-factor", self.data.search_factor)];
        factors.extend(self.test.template_factor.map(|f| ("test", "template-factor", f)));
        factors.extend(self.test.search_factor.map(|f| ("test", "search-factor", f)));
        for (section, key, factor) in factors {
            // A crop factor sizes the crop from the box: zero, negative or NaN would crop nothing.
            if !(factor > 0.0 && factor.is_finite()) {
                problems.push(Problem::new(
                    file,
                    span_of(section, key),
                    format!("{section}.{key} {factor} is not a positive number"),
                    "here",
                ));
            }
        }
        if let Some(rate) = self.test.size_update.filter(|r| !(*r > 0.0 && *r <= 1.0)) {
            problems.push(Problem::new(
                file,
                span_of("test", "size-update"),
                format!("test.size-update {rate} is not in (0, 1] (1 takes each predicted size as it is)"),
                "here",
            ));
        }
        for (key, p) in [("distractor-prob", self.data.distractor_prob), ("blur-prob", self.data.blur_prob)] {
            if !(0.0..=1.0).contains(&p) {
                problems.push(Problem::new(
                    file,
                    span_of("data", key),
                    format!("data.{key} {p} is not a share in [0, 1] (0.25: a quarter of the search crops)"),
                    "here",
                ));
            }
        }
        let t = &self.train;
        if t.datasets.len() != t.datasets_ratio.len() {
            problems.push(
                Problem::new(
                    file,
                    span_of("train", "datasets-ratio"),
                    format!(
                        "train.datasets lists {} datasets ({}) but train.datasets-ratio has {} ratios",
                        t.datasets.len(),
                        t.datasets.join(", "),
                        t.datasets_ratio.len()
                    ),
                    "one ratio per dataset",
                )
                .help("edit the two lists together"),
            );
        }
    }
}

struct Reader<'a> {
    file: &'a Arc<SourceFile>,
    problems: &'a mut Problems,
}

impl Reader<'_> {
    fn section(mut self, section: &KdlNode, mut f: impl FnMut(&mut Self, &str, &KdlNode) -> bool) {
        let Some(children) = section.children() else { return };
        for node in children.nodes() {
            let key = node.name().value();
            if !f(&mut self, key, node) {
                self.problems.push(
                    Problem::new(
                        self.file,
                        node.name().span(),
                        format!("unknown key `{key}` in section `{}`", section.name().value()),
                        "unknown key",
                    )
                    .help("see configs/ostrack/vitb_256_mae_ce_32x4_ep300.kdl for every key"),
                );
            }
        }
    }
    fn args<'n>(&mut self, node: &'n KdlNode) -> Vec<&'n kdl::KdlEntry> {
        node.entries().iter().filter(|e| e.name().is_none()).collect()
    }
    fn bad(&mut self, node: &KdlNode, want: &str) {
        self.problems.push(Problem::new(
            self.file,
            node.span(),
            format!("`{}` takes {want}", node.name().value()),
            format!("expected {want}"),
        ));
    }
    fn int(&mut self, node: &KdlNode, out: &mut i64) {
        match self.args(node).as_slice() {
            [e] => match e.value() {
                KdlValue::Integer(i) => *out = *i as i64,
                _ => self.bad(node, "one integer"),
            },
            _ => self.bad(node, "one integer"),
        }
    }
    fn float(&mut self, node: &KdlNode, out: &mut f64) {
        match self.args(node).as_slice() {
            [e] => match e.value() {
                KdlValue::Integer(i) => *out = *i as f64,
                KdlValue::Float(f) => *out = *f,
                _ => self.bad(node, "one number"),
            },
            _ => self.bad(node, "one number"),
        }
    }
    fn ints(&mut self, node: &KdlNode, out: &mut Vec<i64>) {
        let v: Option<Vec<i64>> = self.args(node).iter().map(|e| e.value().as_integer().map(|i| i as i64)).collect();
        match v {
            Some(v) => *out = v,
            None => self.bad(node, "integers"),
        }
    }
    fn floats(&mut self, node: &KdlNode, out: &mut Vec<f64>) {
        let v: Option<Vec<f64>> =
            self.args(node).iter().map(|e| e.value().as_float().or(e.value().as_integer().map(|i| i as f64))).collect();
        match v {
            Some(v) => *out = v,
            None => self.bad(node, "numbers"),
        }
    }
    fn strings(&mut self, node: &KdlNode, out: &mut Vec<String>) {
        let v: Option<Vec<String>> = self.args(node).iter().map(|e| e.value().as_string().map(str::to_string)).collect();
        match v {
            Some(v) => *out = v,
            None => self.bad(node, "strings"),
        }
    }
}
