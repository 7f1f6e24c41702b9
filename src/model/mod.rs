//! The OSTrack network in libtorch (tch): backbone ([`vit`]), center head ([`head`]), typed
//! configs ([`config`]), strict weight loading and device selection.

pub mod config;
pub mod head;
pub mod mobilenet;
pub mod vit;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tch::{Device, Kind, Tensor, nn};

pub use config::Config;
pub use config::{PromptType, Stem};
pub use head::{CenterPredictor, HeadMaps, decode_boxes};
pub use vit::{BackboneOutput, TemplateTokens, VisionTransformerCE};

/// Which parts of the network a process builds: the dataflow's backbone and head nodes each
/// hold only their half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    /// Backbone and head (fused tracker, training).
    All,
    /// `backbone.*` only.
    Backbone,
    /// `box_head.*` only.
    Head,
}

/// OSTrack: the ViT backbone and the center head under one var store.
#[derive(Debug)]
pub struct OSTrack {
    /// Parameters, named as in official checkpoints.
    pub vs: nn::VarStore,
    /// `backbone.*`.
    pub backbone: Option<VisionTransformerCE>,
    /// `box_head.*`.
    pub box_head: Option<CenterPredictor>,
    /// The config it was built from.
    pub cfg: Config,
}

impl OSTrack {
    /// Builds the network on `device` with PyTorch's default initialisation.
    pub fn new(cfg: &Config, parts: Parts, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let backbone = (parts != Parts::Head).then(|| VisionTransformerCE::new(&root / "backbone", cfg));
        let box_head = (parts != Parts::Backbone)
            .then(|| CenterPredictor::new(&root / "box_head", cfg.model.embed_dim, cfg.model.head_channels, cfg.search_feat()));
        let model = Self { vs, backbone, box_head, cfg: cfg.clone() };
        // The frozen stem blocks keep their ImageNet weights: no gradients, no weight decay.
        for (name, t) in model.vs.variables() {
            if mobilenet::stem_block(&name).is_some_and(|b| (b as i64) < cfg.model.stem_frozen) {
                let _ = t.set_requires_grad(false);
            }
        }
        model
    }

    /// The backbone, or an error naming the process that lacks it.
    pub fn backbone(&self) -> Result<&VisionTransformerCE> {
        self.backbone.as_ref().context("this model was built without its backbone")
    }

    /// The head, or an error.
    pub fn head(&self) -> Result<&CenterPredictor> {
        self.box_head.as_ref().context("this model was built without its head")
    }

    /// Deterministic random weights that depend only on `seed` and each parameter's name, so
    /// separate processes holding different parts of the network agree with a process holding
    /// all of it. Weights are Xavier-uniform, position embeddings N(0, 0.02), norms 1/0.
    pub fn randomize(&mut self, seed: i64) {
        self.fold_batchnorm(false);
        let _guard = tch::no_grad_guard();
        let mut vars: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut t) in vars {
            tch::manual_seed(seed.wrapping_add(crate::base::hash::fnv1a(name.as_bytes()) as i64 & 0x7fff_ffff));
            let size = t.size();
            let leaf = name.rsplit('.').next().unwrap_or_default();
            let is_norm = name.contains("norm") || name.ends_with(".1.weight") || name.ends_with(".1.bias");
            if name.ends_with("fovea.smooth") {
                let _ = t.fill_(10.0);
            } else if leaf.starts_with("pos_embed") || leaf == "cls_token" {
                let _ = t.normal_(0.0, 0.02);
            } else if leaf == "running_var" || (is_norm && leaf == "weight") {
                let _ = t.fill_(1.0);
            } else if size.len() >= 2 {
                let receptive: i64 = size[2..].iter().product();
                let (fan_in, fan_out) = (size[1] * receptive, size[0] * receptive);
                let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
                let _ = t.uniform_(-bound, bound);
            } else {
                let _ = t.zero_();
            }
        }
    }

    /// Loads weights from safetensors by name. Every missing key, unexpected key and shape
    /// mismatch is reported at once. Keys of parts this process did not build are ignored.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        self.load_except(path, |_| false, false)
    }

    /// As [`OSTrack::load`], for starting a training run from a model trained at other crop
    /// sizes: position embeddings on another square token grid are resized bicubically to this
    /// model's (as [`crate::train`] resizes MAE's 14×14 grid), the way DeiT and ViT fine-tune at
    /// a higher resolution. Each resize is printed.
    pub fn load_resizing_positions(&mut self, path: &Path) -> Result<()> {
        self.load_except(path, |_| false, true)
    }

    /// Starts a ViPT model from an OSTrack checkpoint: every OSTrack key must be there; the
    /// prompt modules (absent from it) keep their initialisation. Prompt keys that are present
    /// (a ViPT checkpoint) load as usual.
    /// ViPT's unused `backbone.pos_embed` is 768 wide whatever the model's width, so on a
    /// narrower OSTrack it may be absent or of another shape; it is then left as is.
    pub fn load_foundation(&mut self, path: &Path) -> Result<()> {
        self.load_except(path, |k| is_prompt_key(k) || k == "backbone.pos_embed", false)
    }

    /// Marks every parameter but the prompt modules frozen (ViPT trains only names containing
    /// "prompt"); returns how many parameters stay trainable.
    pub fn freeze_all_but_prompts(&mut self) -> i64 {
        let mut trainable = 0;
        for (name, t) in self.vs.variables() {
            let train = is_prompt_key(&name);
            let _ = t.set_requires_grad(train);
            if train {
                trainable += t.numel() as i64;
            }
        }
        trainable
    }

    /// Loads weights, allowing `may_be_missing` keys to be absent from the file (or of another
    /// shape, then not loaded).
    /// With `resize_positions`, `pos_embed_z`/`pos_embed_x` of another square grid are resized.
    fn load_except(&mut self, path: &Path, may_be_missing: fn(&str) -> bool, resize_positions: bool) -> Result<()> {
        self.fold_batchnorm(false);
        let bytes = std::fs::read(path).with_context(|| format!("cannot read weights {}", path.display()))?;
        let tensors = Tensor::read_safetensors(path)
            .with_context(|| format!("{} is not a valid safetensors file ({} bytes; truncated download?)", path.display(), bytes.len()))?;
        drop(bytes);
        let mut vars = self.vs.variables();
        let wanted_prefix = |k: &str| match (self.backbone.is_some(), self.box_head.is_some()) {
            (true, true) => true,
            (true, false) => k.starts_with("backbone."),
            (false, true) => k.starts_with("box_head."),
            (false, false) => false,
        };
        let mut unexpected = Vec::new();
        let mut mismatched = Vec::new();
        let mut seen = BTreeSet::new();
        let _guard = tch::no_grad_guard();
        for (name, value) in &tensors {
            let name = canonical_key(name);
            // Training checkpoints also hold the optimiser's moments; tracking needs only weights.
            if !wanted_prefix(&name) || name.ends_with("num_batches_tracked") || name.starts_with("optimizer.") {
                continue;
            }
            match vars.get_mut(&name) {
                Some(var) if var.size() == value.size() => {
                    var.copy_(&value.to_kind(var.kind()).to_device(var.device()));
                    seen.insert(name);
                }
                Some(_) if may_be_missing(&name) => {
                    seen.insert(name);
                }
                Some(var) if resize_positions && let Some(resized) = resize_grid(&name, value, &var.size()) => {
                    let side = |n: i64| (n as f64).sqrt().round() as i64;
                    let (from, to) = (side(value.size()[1]), side(var.size()[1]));
                    tracing::info!("init: {name} resized from {from}×{from} to {to}×{to} tokens");
                    var.copy_(&resized.to_kind(var.kind()).to_device(var.device()));
                    seen.insert(name);
                }
                Some(var) => {
                    mismatched.push(format!("{name}: file {:?}, model {:?}", value.size(), var.size()));
                    seen.insert(name);
                }
                None => unexpected.push(name),
            }
        }
        let mut missing: Vec<String> = vars.keys().filter(|k| !seen.contains(*k) && !may_be_missing(k)).cloned().collect();
        missing.sort();
        unexpected.sort();
        mismatched.sort();
        if missing.is_empty() && unexpected.is_empty() && mismatched.is_empty() {
            return Ok(());
        }
        let mut msg = format!("weights {} do not fit config `{}`:", path.display(), self.cfg.name);
        for (what, list) in [("missing", &missing), ("unexpected", &unexpected), ("shape mismatch", &mismatched)] {
            if !list.is_empty() {
                msg.push_str(&format!("\n  {} {what}:", list.len()));
                for k in list.iter().take(100) {
                    msg.push_str(&format!("\n    {k}"));
                }
                if list.len() > 100 {
                    msg.push_str(&format!("\n    ... and {} more", list.len() - 100));
                }
            }
        }
        msg.push_str("\n  (a checkpoint for another preset? pass the matching --config)");
        bail!(msg)
    }

    /// Writes all parameters to safetensors, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        // tch picks the format from the extension, so the temporary name ends in .safetensors.
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp.safetensors", std::process::id()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        self.vs.save(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }

    /// Converts parameters to a precision (fp16/bf16 on GPU).
    pub fn set_kind(&mut self, kind: Kind) {
        self.fold_batchnorm(false);
        self.vs.set_kind(kind);
    }

    /// Folds the BatchNorms of the MobileNetV2 stem and the head into their convolutions
    /// (`fold` true) or drops the folded copies (false). Folding is for inference: the stem
    /// roughly twice as fast on the CPU, the same function up to float rounding. The folded copies do
    /// not follow the parameters, so loading, randomising or converting the weights drops them;
    /// [`load_tracking_model`] folds last.
    pub fn fold_batchnorm(&mut self, fold: bool) {
        if let Some(b) = &mut self.backbone {
            b.fold_batchnorm(fold);
        }
        if let Some(h) = &mut self.box_head {
            h.fold_batchnorm(fold);
        }
    }

    /// The precision the parameters are in (float32 unless [`OSTrack::set_kind`] changed it).
    pub fn kind(&self) -> Kind {
        self.vs.kind()
    }
}

/// Whether a parameter belongs to ViPT's prompt modules (`patch_embed_prompt`, `prompt_blocks`,
/// `prompt_norms`): upstream's test is that the name contains "prompt".
pub fn is_prompt_key(name: &str) -> bool {
    name.contains("prompt")
}

/// Key renaming from checkpoints lives here, in one place. Official OSTrack keys already match
/// our module paths; only a `module.` prefix left by DistributedDataParallel is stripped.
pub fn canonical_key(k: &str) -> String {
    k.strip_prefix("module.").unwrap_or(k).to_string()
}

/// Which weights a tracking model runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Weights {
    /// This safetensors file.
    File(PathBuf),
    /// The preset's own (`model { weights "…" }`); random, loudly, when it names none.
    Preset,
    /// Random weights, even when the preset has its own: an untrained baseline.
    Random,
}

/// The preset's own weights (`model { weights "..." }`) when the file exists; a preset that
/// names weights which are missing is warned about and has none.
///
/// A built-in preset names its weights inside trackflow's unpacked files, which hold only the
/// shipped models; weights a user converted or trained into a checkout's `models/` folder
/// (`models/ViPT_deep_rgbd.safetensors`) are found at the same relative path under the folder
/// trackflow runs from.
pub fn preset_weights(cfg: &Config) -> Option<PathBuf> {
    let w = cfg.model.weights.clone()?;
    let here = w
        .strip_prefix(crate::base::resources::root())
        .ok()
        .and_then(|rel| std::env::current_dir().ok().map(|d| d.join(rel)))
        .filter(|p| p.is_file());
    if w.is_file() {
        Some(w)
    } else if let Some(here) = here {
        Some(here)
    } else {
        tracing::warn!("warning: config `{}` names weights {} which do not exist (not trained yet?)", cfg.name, w.display());
        None
    }
}

/// Refuses to track with `weights` when they are the preset's and `cfg` (named `name` on the
/// command line) has none: boxes from random weights look like results and mean nothing, so
/// random weights must be asked for (`--untrained`).
pub fn require_trained(cfg: &Config, name: &str, weights: &Weights) -> Result<()> {
    if *weights == Weights::Preset && preset_weights(cfg).is_none() {
        bail!(
            "config `{name}` has no trained weights: pass --weights FILE (safetensors; `trackflow convert ostrack OSTrack_ep0300.pth.tar` \
             turns an official checkpoint into one, `trackflow train` makes one), or --untrained to run random weights on purpose"
        );
    }
    Ok(())
}

/// The one loader behind every tracker (`trackflow track`, `evaluate`, `bench track` and the
/// tracking nodes): `cfg`'s network (the `parts` a node needs) on `device` at `precision`, with
/// `weights`. Random weights come from `seed` and are announced on stderr, prefixed by `who`.
pub fn load_tracking_model(
    cfg: &Config,
    parts: Parts,
    device: Device,
    precision: Kind,
    weights: &Weights,
    seed: i64,
    who: &str,
) -> Result<OSTrack> {
    let mut model = OSTrack::new(cfg, parts, device);
    let file = match weights {
        Weights::File(w) => Some(w.clone()),
        Weights::Preset => preset_weights(cfg),
        Weights::Random => None,
    };
    match file {
        Some(w) => model.load(&w)?,
        None => {
            model.randomize(seed);
            tracing::info!("{who}note: the network is UNTRAINED (random, seed {seed}); boxes are meaningless");
        }
    }
    if precision != Kind::Float {
        model.set_kind(precision);
    }
    model.fold_batchnorm(true);
    Ok(model)
}

/// Parses a device name (`auto`: CUDA when usable, else CPU; `cpu`; `cuda`; `cuda:N`) and
/// prints the choice with its reason on stderr (`device auto: cpu (libtorch_cuda not loaded: …)`),
/// so a GPU user never runs on the CPU without knowing.
///
/// A CUDA device that is asked for but unusable is an error within seconds, never a hang
/// (see [`crate::base::cuda::probe`]).
pub fn parse_device(name: &str) -> Result<Device> {
    parse_device_for(name, "")
}

/// [`parse_device`] with the announcement prefixed by `who` (a node's `[id] `).
pub fn parse_device_for(name: &str, who: &str) -> Result<Device> {
    let (device, why) = choose_device(name)?;
    tracing::info!("{who}device {name}: {why}");
    Ok(device)
}

/// The device `name` means here, and why, without printing anything.
pub fn choose_device(name: &str) -> Result<(Device, String)> {
    use crate::base::cuda::{CudaState, device_name, probe};
    let deadline = std::time::Duration::from_secs(30);
    let cuda = |i: usize| format!("cuda:{i}{}", device_name(i).map(|n| format!(" ({n})")).unwrap_or_default());
    match name {
        "cpu" => Ok((Device::Cpu, "cpu".into())),
        "auto" => Ok(match probe(0, deadline) {
            Ok(CudaState::Usable(_)) => (Device::Cuda(0), cuda(0)),
            Ok(CudaState::Absent(reason)) => (Device::Cpu, format!("cpu ({reason})")),
            Err(e) => (Device::Cpu, format!("cpu (CUDA failed: {e:#})")),
        }),
        other => {
            let idx = match other.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest
                    .strip_prefix(':')
                    .and_then(|n| n.parse::<usize>().ok())
                    .with_context(|| format!("bad device `{other}`: write cpu, auto, cuda or cuda:N"))?,
                None => bail!("bad device `{other}`: write cpu, auto, cuda or cuda:N"),
            };
            match probe(idx, deadline)? {
                CudaState::Absent(reason) => {
                    bail!("device `{other}` asked for, but CUDA is not usable here ({reason}); use device \"cpu\" or \"auto\"")
                }
                CudaState::Usable(n) if idx >= n => bail!("device `{other}` asked for, but only {n} CUDA device(s) are visible"),
                CudaState::Usable(_) => Ok((Device::Cuda(idx), cuda(idx))),
            }
        }
    }
}

/// Parses a precision name.
pub fn parse_precision(name: &str, device: Device) -> Result<Kind> {
    let kind = match name {
        "fp32" => Kind::Float,
        "fp16" => Kind::Half,
        "bf16" => Kind::BFloat16,
        other => bail!("unknown precision `{other}`: fp32, fp16 or bf16"),
    };
    if kind != Kind::Float && device == Device::Cpu {
        bail!("precision `{name}` is for GPUs; on the CPU use fp32");
    }
    Ok(kind)
}

/// A position embedding `value` (1 × n × d, n a square grid) resized bicubically to the square
/// grid of `want` (1 × m × d); `None` when `name` is no crop position embedding or a shape is
/// not such a grid.
fn resize_grid(name: &str, value: &Tensor, want: &[i64]) -> Option<Tensor> {
    if !matches!(name, "backbone.pos_embed_z" | "backbone.pos_embed_x") {
        return None;
    }
    let have = value.size();
    let square = |n: i64| {
        let s = (n as f64).sqrt().round() as i64;
        (s * s == n).then_some(s)
    };
    let ([1, n, d], [1, m, e]) = (have.as_slice(), want) else { return None };
    if d != e {
        return None;
    }
    let (from, to) = (square(*n)?, square(*m)?);
    Some(resize_token_grid(value, from, to))
}

/// Tokens `1 × side² × d` laid out on a `side × side` grid, resized bicubically to `to × to`
/// (`1 × to² × d`, float): how position embeddings move to another crop size, from MAE's 14×14
/// grid or from a model trained at other crop sizes.
pub fn resize_token_grid(tokens: &Tensor, side: i64, to: i64) -> Tensor {
    let d = tokens.size()[2];
    let grid = tokens.to_kind(tch::Kind::Float).transpose(1, 2).reshape([1, d, side, side]);
    grid.upsample_bicubic2d([to, to], false, None, None).flatten(2, -1).transpose(1, 2)
}
