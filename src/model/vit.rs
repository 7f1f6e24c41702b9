//! OSTrack's one-stream ViT with candidate elimination (Ye et al., "Joint Feature Learning and
//! Relation Modeling for Tracking: A One-Stream Framework", ECCV 2022; botaoye/OSTrack,
//! `lib/models/ostrack/vit_ce.py`, `lib/models/layers/attn_blocks.py`, `lib/utils/ce_utils.py`).
//!
//! Module paths mirror the checkpoint keys (`backbone.blocks.3.attn.qkv.weight`), so official
//! weights converted to safetensors load by name.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::config::{Config, ModelConfig, PromptType, Stem};
use super::mobilenet::HybridEmbed;

/// `attn`: one qkv projection, scaled dot-product attention, output projection.
#[derive(Debug)]
struct Attention {
    qkv: nn::Linear,
    proj: nn::Linear,
    num_heads: i64,
    scale: f64,
}

impl Attention {
    fn new(vs: nn::Path, dim: i64, num_heads: i64) -> Self {
        Self {
            qkv: nn::linear(&vs / "qkv", dim, dim * 3, Default::default()),
            proj: nn::linear(&vs / "proj", dim, dim, Default::default()),
            num_heads,
            scale: ((dim / num_heads) as f64).powf(-0.5),
        }
    }

    /// # Shapes
    /// `xs`: [b, n, c] → (output [b, n, c], attention [b, heads, n, n]).
    fn forward(&self, xs: &Tensor) -> (Tensor, Tensor) {
        let (b, n, c) = xs.size3().expect("tokens are [b, n, c]");
        let qkv = self.qkv.forward(xs).reshape([b, n, 3, self.num_heads, c / self.num_heads]).permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2)); // [b, h, n, d]
        let attn = (q.matmul(&k.transpose(-2, -1)) * self.scale).softmax(-1, q.kind()); // [b, h, n, n]
        let out = attn.matmul(&v).transpose(1, 2).reshape([b, n, c]);
        (self.proj.forward(&out), attn)
    }
}

/// `mlp`: fc1 → exact GELU → fc2.
#[derive(Debug)]
struct Mlp {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl Mlp {
    fn new(vs: nn::Path, dim: i64, hidden: i64) -> Self {
        Self {
            fc1: nn::linear(&vs / "fc1", dim, hidden, Default::default()),
            fc2: nn::linear(&vs / "fc2", hidden, dim, Default::default()),
        }
    }
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.fc2.forward(&self.fc1.forward(xs).gelu("none"))
    }
}

/// Stochastic depth: drops a sample's residual branch with probability `p` while training.
fn drop_path(xs: Tensor, p: f64, train: bool) -> Tensor {
    if !train || p == 0.0 {
        return xs;
    }
    let keep = 1.0 - p;
    let shape = [xs.size()[0], 1, 1];
    let mask = Tensor::empty(shape, (xs.kind(), xs.device())).bernoulli_float_(keep);
    xs / keep * mask
}

/// What candidate elimination did in one block.
#[derive(Debug)]
pub struct Elimination {
    /// Original indices of the search tokens removed here, [b, removed].
    pub removed: Tensor,
}

/// A pre-norm transformer block that may eliminate search tokens after its attention.
#[derive(Debug)]
struct Block {
    norm1: nn::LayerNorm,
    attn: Attention,
    norm2: nn::LayerNorm,
    mlp: Mlp,
    drop_path: f64,
    keep_ratio: f64,
}

impl Block {
    fn new(vs: nn::Path, cfg: &Config, drop_path: f64, keep_ratio: f64) -> Self {
        let m = &cfg.model;
        let ln = nn::LayerNormConfig { eps: 1e-6, ..Default::default() };
        Self {
            norm1: nn::layer_norm(&vs / "norm1", vec![m.embed_dim], ln),
            attn: Attention::new(&vs / "attn", m.embed_dim, m.num_heads),
            norm2: nn::layer_norm(&vs / "norm2", vec![m.embed_dim], ln),
            mlp: Mlp::new(&vs / "mlp", m.embed_dim, (m.embed_dim as f64 * m.mlp_ratio) as i64),
            drop_path,
            keep_ratio,
        }
    }

    /// # Shapes
    /// `xs`: [b, lt + ls, c]; `global_s`: [b, ls] original search indices (int64).
    fn forward(
        &self,
        xs: &Tensor,
        lens_t: i64,
        global_s: &Tensor,
        ctr: Option<i64>,
        keep_override: Option<f64>,
        train: bool,
    ) -> (Tensor, Tensor, Option<Elimination>) {
        let (a, attn) = self.attn.forward(&self.norm1.forward(xs));
        let mut xs = xs + drop_path(a, self.drop_path, train);
        let mut global_s = global_s.shallow_clone();
        let mut elim = None;
        // A block eliminates when its own ratio is < 1; a schedule (CE warm-up) may raise it.
        if self.keep_ratio < 1.0 && keep_override.is_none_or(|k| k < 1.0) {
            let keep = keep_override.unwrap_or(self.keep_ratio);
            if let Some((kept_xs, kept_idx, removed)) = candidate_elimination(&attn, &xs, lens_t, keep, &global_s, ctr) {
                xs = kept_xs;
                global_s = kept_idx;
                elim = Some(Elimination { removed });
            }
        }
        let m = self.mlp.forward(&self.norm2.forward(&xs));
        (&xs + drop_path(m, self.drop_path, train), global_s, elim)
    }
}

/// Keeps the `ceil(keep · ls)` search tokens the template's centre token attends to most.
///
/// Returns `None` when nothing would be removed. The ranking averages the attention of the
/// template query row `ctr` (or of every template row when `None`) over heads; kept tokens come
/// in descending score order, as upstream's `torch.sort`.
fn candidate_elimination(
    attn: &Tensor,
    xs: &Tensor,
    lens_t: i64,
    keep: f64,
    global_s: &Tensor,
    ctr: Option<i64>,
) -> Option<(Tensor, Tensor, Tensor)> {
    let (b, _, _, l) = attn.size4().expect("attention is [b, h, n, n]");
    let lens_s = l - lens_t;
    let lens_keep = (keep * lens_s as f64).ceil() as i64;
    if lens_keep == lens_s {
        return None;
    }
    let attn_t = attn.narrow(2, 0, lens_t).narrow(3, lens_t, lens_s); // [b, h, lt, ls]
    let attn_t = match ctr {
        Some(row) => attn_t.narrow(2, row, 1),
        None => attn_t,
    };
    let score = attn_t.mean_dim(2, false, attn_t.kind()).mean_dim(1, false, attn_t.kind()); // [b, ls]
    let (_, order) = score.sort(1, true);
    let top = order.narrow(1, 0, lens_keep);
    let rest = order.narrow(1, lens_keep, lens_s - lens_keep);
    let keep_index = global_s.gather(1, &top, false);
    let removed_index = global_s.gather(1, &rest, false);
    let c = xs.size()[2];
    let tokens_t = xs.narrow(1, 0, lens_t);
    let tokens_s = xs.narrow(1, lens_t, lens_s);
    let kept = tokens_s.gather(1, &top.unsqueeze(-1).expand([b, lens_keep, c], false), false);
    Some((Tensor::cat(&[tokens_t, kept], 1), keep_index, removed_index))
}

/// `patch_embed`: a stride-16 conv turning a crop into tokens, or the hybrid MobileNetV2 stem
/// (`model { stem "mobilenetv2" }`).
#[derive(Debug)]
enum PatchEmbed {
    Conv { proj: nn::Conv2D },
    Hybrid(HybridEmbed),
}

impl PatchEmbed {
    fn new(vs: nn::Path, in_chans: i64, dim: i64, m: &ModelConfig) -> Self {
        match m.stem {
            Stem::Patch => Self::conv(vs, in_chans, dim, m.patch_size),
            Stem::MobileNetV2 => Self::Hybrid(HybridEmbed::new(vs, in_chans, dim, m.stem_layers as usize, m.stem_frozen as usize)),
        }
    }
    /// The plain patch convolution (also ViPT's `patch_embed_prompt`, whatever the stem).
    fn conv(vs: nn::Path, in_chans: i64, dim: i64, patch: i64) -> Self {
        let conv = nn::ConvConfig { stride: patch, ..Default::default() };
        Self::Conv { proj: nn::conv2d(&vs / "proj", in_chans, dim, patch, conv) }
    }
    /// [b, 3, h, w] → [b, (h/16)(w/16), dim], tokens in row-major order.
    fn forward(&self, xs: &Tensor) -> Tensor {
        match self {
            Self::Conv { proj } => proj.forward(xs).flatten(2, -1).transpose(1, 2),
            Self::Hybrid(h) => h.forward(xs),
        }
    }
}

/// ViPT's modality-complementary prompt block (`Prompt_block`, hide_channel 8): the main
/// stream and the auxiliary stream (or the previous prompt) are each squeezed to a few channels
/// by 1×1 convs; the main half passes through the "fovea" (a per-channel spatial softmax with a
/// learnable temperature) and is added to the other half, then a 1×1 conv restores the width.
#[derive(Debug)]
struct PromptBlock {
    conv0_0: nn::Conv2D,
    conv0_1: nn::Conv2D,
    conv1x1: nn::Conv2D,
    /// `fovea.smooth`, the softmax temperature λ (initialised to 10).
    smooth: Tensor,
}

impl PromptBlock {
    fn new(vs: nn::Path, dim: i64, hidden: i64) -> Self {
        let c = nn::ConvConfig::default();
        Self {
            conv0_0: nn::conv2d(&vs / "conv0_0", dim, hidden, 1, c),
            conv0_1: nn::conv2d(&vs / "conv0_1", dim, hidden, 1, c),
            conv1x1: nn::conv2d(&vs / "conv1x1", hidden, dim, 1, c),
            smooth: (&vs / "fovea").var("smooth", &[1], nn::Init::Const(10.0)),
        }
    }

    /// # Shapes
    /// `main`, `aux`: [b, dim, s, s] → [b, dim, s, s].
    fn forward(&self, main: &Tensor, aux: &Tensor) -> Tensor {
        let x0 = self.conv0_0.forward(main);
        let (b, c, h, w) = x0.size4().expect("a feature map");
        let flat = x0.reshape([b, c, h * w]);
        let mask = (&flat * &self.smooth).softmax(-1, flat.kind());
        let fovea = (mask * flat).reshape([b, c, h, w]);
        self.conv1x1.forward(&(fovea + self.conv0_1.forward(aux)))
    }
}

/// Tokens [b, s·s, c] as a feature map [b, c, s, s] (row-major, ViPT's `token2feature`).
fn token_map(tokens: &Tensor) -> Tensor {
    let (b, l, c) = tokens.size3().expect("tokens are [b, n, c]");
    let s = (l as f64).sqrt() as i64;
    tokens.transpose(1, 2).reshape([b, c, s, s])
}

/// The inverse of [`token_map`] (`feature2token`).
fn map_tokens(map: &Tensor) -> Tensor {
    map.flatten(2, -1).transpose(1, 2)
}

/// ViPT's additions to the backbone (`patch_embed_prompt`, `prompt_blocks`, `prompt_norms`).
#[derive(Debug)]
struct Prompts {
    patch_embed: PatchEmbed,
    blocks: Vec<PromptBlock>,
    norms: Vec<nn::LayerNorm>,
    deep: bool,
}

impl Prompts {
    fn new(vs: &nn::Path, cfg: &Config, kind: PromptType) -> Self {
        let m = &cfg.model;
        let n = kind.blocks(m.depth);
        let ln = nn::LayerNormConfig { eps: 1e-6, ..Default::default() };
        Self {
            patch_embed: PatchEmbed::conv(vs / "patch_embed_prompt", 3, m.embed_dim, m.patch_size),
            blocks: (0..n).map(|i| PromptBlock::new(vs / "prompt_blocks" / i, m.embed_dim, m.prompt_hidden)).collect(),
            norms: (0..n).map(|i| nn::layer_norm(vs / "prompt_norms" / i, vec![m.embed_dim], ln)).collect(),
            deep: kind == PromptType::Deep,
        }
    }

    /// The input prompt (i = 0) for one crop's RGB tokens and its auxiliary image.
    fn input(&self, rgb_tokens: &Tensor, aux: &Tensor) -> Tensor {
        let aux_tokens = self.patch_embed.forward(aux);
        let norm = &self.norms[0];
        map_tokens(&self.blocks[0].forward(&token_map(&norm.forward(rgb_tokens)), &token_map(&norm.forward(&aux_tokens))))
    }

    /// Prompt block `i ≥ 1` on the full (zero-restored) token layout `tokens` and the previous
    /// prompt: `MCP_i(LN_{i−1}(tokens) ‖ LN_i(previous))`, template and search separately.
    fn deep(&self, i: usize, tokens: &Tensor, previous: &Tensor, lens_z: i64) -> Tensor {
        let tokens = self.norms[i - 1].forward(tokens);
        let previous = self.norms[i].forward(previous);
        let n = tokens.size()[1];
        let part = |t: &Tensor, z: bool| if z { t.narrow(1, 0, lens_z) } else { t.narrow(1, lens_z, n - lens_z) };
        let run = |z: bool| map_tokens(&self.blocks[i].forward(&token_map(&part(&tokens, z)), &token_map(&part(&previous, z))));
        Tensor::cat(&[run(true), run(false)], 1)
    }
}

/// Template tokens computed once per sequence.
#[derive(Debug)]
pub struct TemplateTokens {
    /// Embedded template tokens (input prompt and position embedding added), [1 or b, lz, c].
    pub tokens: Tensor,
    /// ViPT: the template's raw input prompt, which the first deep prompt block reads.
    pub prompt: Option<Tensor>,
}

/// Output of the backbone.
#[derive(Debug)]
pub struct BackboneOutput {
    /// Normalised tokens [b, lt + ls, c], eliminated search positions restored as zeros.
    pub tokens: Tensor,
    /// Original indices of the search tokens that survived every elimination, [b, kept].
    pub kept: Tensor,
    /// Removed indices per eliminating block.
    pub removed: Vec<Tensor>,
}

/// The backbone (`backbone.*` in checkpoints).
#[derive(Debug)]
pub struct VisionTransformerCE {
    patch_embed: PatchEmbed,
    /// MAE leftovers kept so official checkpoints load strictly; unused in `forward`.
    _cls_token: Tensor,
    _pos_embed: Tensor,
    pos_embed_z: Tensor,
    pos_embed_x: Tensor,
    blocks: Vec<Block>,
    norm: nn::LayerNorm,
    prompts: Option<Prompts>,
    lens_z: i64,
    lens_x: i64,
    ctr: i64,
}

impl VisionTransformerCE {
    /// Folds the MobileNetV2 stem's BatchNorms for inference, or drops the folded copies
    /// ([`crate::model::OSTrack::fold_batchnorm`]); the patch convolution has none.
    pub fn fold_batchnorm(&mut self, fold: bool) {
        if let PatchEmbed::Hybrid(h) = &mut self.patch_embed {
            h.fold_batchnorm(fold);
        }
    }

    /// Builds the backbone under `vs` (normally `root / "backbone"`).
    pub fn new(vs: nn::Path, cfg: &Config) -> Self {
        let m = &cfg.model;
        let d = m.embed_dim;
        let (zf, xf) = (cfg.template_feat(), cfg.search_feat());
        let pre = m.pretrain_img_size / m.patch_size;
        let init = nn::Init::Randn { mean: 0.0, stdev: 0.02 };
        let blocks = (0..m.depth)
            .map(|i| {
                let dp = if m.depth > 1 { m.drop_path * i as f64 / (m.depth - 1) as f64 } else { 0.0 };
                let keep = m.ce_loc.iter().position(|&l| l == i).map_or(1.0, |j| m.ce_keep_ratio[j]);
                Block::new(&vs / "blocks" / i, cfg, dp, keep)
            })
            .collect();
        Self {
            patch_embed: PatchEmbed::new(&vs / "patch_embed", 3, d, m),
            _cls_token: vs.var("cls_token", &[1, 1, d], nn::Init::Const(0.0)),
            // ViPT's backbone inherits this from timm's default ViT-B constructor: 768 wide
            // whatever its own width.
            _pos_embed: vs.var("pos_embed", &[1, pre * pre + 1, if m.prompt.is_some() { 768 } else { d }], init),
            pos_embed_z: vs.var("pos_embed_z", &[1, zf * zf, d], init),
            pos_embed_x: vs.var("pos_embed_x", &[1, xf * xf, d], init),
            blocks,
            norm: nn::layer_norm(&vs / "norm", vec![d], nn::LayerNormConfig { eps: 1e-6, ..Default::default() }),
            prompts: m.prompt.map(|k| Prompts::new(&vs, cfg, k)),
            lens_z: zf * zf,
            lens_x: xf * xf,
            // CTR_POINT: the template token at the centre cell, (3,3) of 8×8, (5,5) of 12×12.
            ctr: ((zf - 1) / 2) * zf + (zf - 1) / 2,
        }
    }

    /// Channels the crops must have: 3, or 6 (RGB then the auxiliary modality) with prompts.
    pub fn in_channels(&self) -> i64 {
        if self.prompts.is_some() { 6 } else { 3 }
    }

    /// Patch-embeds one crop: RGB tokens plus, with prompts, the input prompt (which is also
    /// returned, as the "previous prompt" of the deep blocks).
    fn embed(&self, crop: &Tensor, pos: &Tensor) -> (Tensor, Option<Tensor>) {
        let c = crop.size()[1];
        assert_eq!(
            c,
            self.in_channels(),
            "the crop has {c} channels but this backbone takes {} (RGB{})",
            self.in_channels(),
            if self.prompts.is_some() { " + auxiliary modality" } else { "" }
        );
        let rgb = self.patch_embed.forward(&crop.narrow(1, 0, 3));
        match &self.prompts {
            None => (rgb + pos, None),
            Some(p) => {
                let prompt = p.input(&rgb, &crop.narrow(1, 3, 3));
                (rgb + &prompt + pos, Some(prompt))
            }
        }
    }

    /// Template tokens with their position embedding (and input prompt), computed once per
    /// sequence.
    pub fn embed_template(&self, z: &Tensor) -> TemplateTokens {
        let (tokens, prompt) = self.embed(z, &self.pos_embed_z);
        TemplateTokens { tokens, prompt }
    }

    /// Search tokens back in raster order [b, lx, c]: kept tokens at their original indices,
    /// eliminated ones as zeros (upstream's `recover_tokens` after the scatter).
    fn restore_search(&self, x: &Tensor, kept: &Tensor, removed: &[Tensor]) -> Tensor {
        if removed.is_empty() {
            return x.shallow_clone();
        }
        let (b, kept_n, c) = x.size3().expect("tokens are [b, n, c]");
        let pad = Tensor::zeros([b, self.lens_x - kept_n, c], (x.kind(), x.device()));
        let filled = Tensor::cat(&[x.shallow_clone(), pad], 1);
        let mut all = vec![kept.shallow_clone()];
        all.extend(removed.iter().map(Tensor::shallow_clone));
        let index = Tensor::cat(&all, 1).unsqueeze(-1).expand([b, self.lens_x, c], false);
        filled.zeros_like().scatter(1, &index, &filled)
    }

    /// Runs the blocks on already-embedded template tokens and a search crop.
    ///
    /// # Shapes
    /// `z`: template tokens [1 or b, lz, c]; `x`: [b, 3 or 6, S, S] → tokens [b, lz + lx, c].
    /// `ce`: whether candidate elimination runs; `keep_override`: the CE warm-up ratio.
    pub fn forward_tokens(&self, z: &TemplateTokens, x: &Tensor, ce: bool, keep_override: Option<f64>, train: bool) -> BackboneOutput {
        let (x_tokens, x_prompt) = self.embed(x, &self.pos_embed_x);
        let b = x_tokens.size()[0];
        let mut xs = Tensor::cat(&[z.tokens.expand([b, -1, -1], false), x_tokens], 1);
        // ViPT deep: the previous prompt on the full layout, template then search.
        let mut previous = match (&z.prompt, x_prompt) {
            (Some(pz), Some(px)) => Some(Tensor::cat(&[pz.expand([b, -1, -1], false), px], 1)),
            _ => None,
        };
        let mut global_s = Tensor::arange(self.lens_x, (Kind::Int64, xs.device())).unsqueeze(0).repeat([b, 1]);
        let mut removed = Vec::new();
        let keep = if ce { keep_override } else { Some(1.0) };
        for (i, block) in self.blocks.iter().enumerate() {
            if let Some(p) = self.prompts.as_ref().filter(|p| p.deep && i >= 1) {
                let prev = previous.take().expect("a prompted backbone has an input prompt");
                // Prompt on the zero-restored full layout, then gathered to the kept tokens.
                let n = xs.size()[1];
                let full_x = self.restore_search(&xs.narrow(1, self.lens_z, n - self.lens_z), &global_s, &removed);
                let full = Tensor::cat(&[xs.narrow(1, 0, self.lens_z), full_x], 1);
                let prompt = p.deep(i, &full, &prev, self.lens_z);
                let c = prompt.size()[2];
                let kept_n = global_s.size()[1];
                let index = global_s.unsqueeze(-1).expand([b, kept_n, c], false);
                let prompt_s = prompt.narrow(1, self.lens_z, self.lens_x).gather(1, &index, false);
                // Out of place on purpose: `+=` would modify a tensor autograd still needs.
                #[allow(clippy::assign_op_pattern)]
                {
                    xs = xs + Tensor::cat(&[prompt.narrow(1, 0, self.lens_z), prompt_s], 1);
                }
                previous = Some(prompt);
            }
            let (out, idx, elim) = block.forward(&xs, self.lens_z, &global_s, Some(self.ctr), keep, train);
            xs = out;
            global_s = idx;
            if let Some(e) = elim {
                removed.push(e.removed);
            }
        }
        let xs = self.norm.forward(&xs);
        let n = xs.size()[1];
        let z = xs.narrow(1, 0, self.lens_z);
        let x = self.restore_search(&xs.narrow(1, self.lens_z, n - self.lens_z), &global_s, &removed);
        BackboneOutput { tokens: Tensor::cat(&[z, x], 1), kept: global_s, removed }
    }

    /// The whole backbone on a template and a search crop.
    pub fn forward(&self, z: &Tensor, x: &Tensor, ce: bool, keep_override: Option<f64>, train: bool) -> BackboneOutput {
        self.forward_tokens(&self.embed_template(z), x, ce, keep_override, train)
    }

    /// The hybrid stem's CNN feature map for a crop ([b, C, h/16, w/16]), before the projection
    /// to tokens; `None` for OSTrack's patch stem. For checking the stem against torchvision.
    pub fn stem_features(&self, crop: &Tensor) -> Option<Tensor> {
        match &self.patch_embed {
            PatchEmbed::Hybrid(h) => Some(h.features(crop)),
            PatchEmbed::Conv { .. } => None,
        }
    }

    /// Number of search tokens (F·F).
    pub fn lens_x(&self) -> i64 {
        self.lens_x
    }
}
