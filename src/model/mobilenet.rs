//! The hybrid patch embedding (ViT paper, section 3.1 "Hybrid Architecture"): the first blocks
//! of an ImageNet-trained MobileNetV2 (torchvision's `features.*`) turn a crop into a stride-16
//! feature map, and a 1×1 convolution projects it to the token width. It replaces OSTrack's
//! 16×16 patch convolution for both template and search; the one-stream blocks, candidate
//! elimination and the center head are unchanged.
//!
//! Why a CNN stem: trackflow has no ImageNet-scale data to pretrain a ViT on, and the ViT's own
//! MAE weights (ViT-B) are far too slow for a 2-core CPU. A MobileNetV2 trained on ImageNet is
//! 2.3 M parameters, installable from a package registry, and its stride-16 cut gives
//! OSTrack's token grid.
//!
//! Parameter names follow torchvision (`features.N.conv.M.*`), under `backbone.patch_embed`,
//! so converted ImageNet weights load by name. BatchNorm always uses its running statistics:
//! the statistics come from ImageNet and a tracking batch is too small and too correlated to
//! re-estimate them (OSTrack's `FIX_BN` reasoning for its head, applied to the stem).

use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

/// `(expansion t, output channels c, repeats n, first stride s)` of torchvision's
/// `mobilenet_v2` (`inverted_residual_setting`), after the 32-channel stride-2 stem conv.
const SETTING: [(i64, i64, i64, i64); 7] =
    [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

/// BatchNorm's epsilon in torchvision's MobileNetV2.
const BN_EPS: f64 = 1e-5;

/// Conv (no bias) → BatchNorm → ReLU6: torchvision's `Conv2dNormActivation` (keys `.0.weight`,
/// `.1.*`); [`ConvBn::linear`] drops the activation, for an inverted residual's projection.
#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    relu6: bool,
    stride: i64,
    padding: i64,
    groups: i64,
    /// The BatchNorm folded into the convolution, for inference ([`HybridEmbed::fold_batchnorm`]).
    folded: Option<Folded>,
}

/// A convolution with a BatchNorm (running statistics) folded in: `W·γ/σ`, `β − μ·γ/σ`.
#[derive(Debug)]
pub(crate) struct Folded {
    weight: Tensor,
    bias: Tensor,
}

impl Folded {
    /// Folds `bn` (eval mode: its running statistics) into `conv` (whose bias may be absent),
    /// in float64 for a float64 network and in float32 otherwise, then stored in the network's
    /// precision.
    pub(crate) fn new(conv: &nn::Conv2D, bn: &nn::BatchNorm, eps: f64) -> Self {
        let _g = tch::no_grad_guard();
        let kind = conv.ws.kind();
        let exact = if kind == Kind::Double { Kind::Double } else { Kind::Float };
        let cout = conv.ws.size()[0];
        let ones = || Tensor::ones([cout], (exact, conv.ws.device()));
        let zeros = || Tensor::zeros([cout], (exact, conv.ws.device()));
        let gamma = bn.ws.as_ref().map_or_else(ones, |w| w.to_kind(exact));
        let beta = bn.bs.as_ref().map_or_else(zeros, |b| b.to_kind(exact));
        let scale = gamma / (bn.running_var.to_kind(exact) + eps).sqrt();
        let bias = conv.bs.as_ref().map_or_else(zeros, |b| b.to_kind(exact));
        let weight = conv.ws.to_kind(exact) * scale.view([-1, 1, 1, 1]);
        let bias = (bias - bn.running_mean.to_kind(exact)) * &scale + beta;
        Self { weight: weight.to_kind(kind).contiguous(), bias: bias.to_kind(kind) }
    }

    /// The folded convolution.
    pub(crate) fn forward(&self, xs: &Tensor, stride: i64, padding: i64, groups: i64) -> Tensor {
        xs.conv2d(&self.weight, Some(&self.bias), [stride, stride], [padding, padding], [1, 1], groups)
    }
}

impl ConvBn {
    fn new(conv_vs: nn::Path, bn_vs: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, groups: i64) -> Self {
        let padding = (k - 1) / 2;
        let cfg = nn::ConvConfig { stride, padding, groups, bias: false, ..Default::default() };
        let bn = nn::BatchNormConfig { eps: BN_EPS, ..Default::default() };
        Self {
            conv: nn::conv2d(conv_vs, cin, cout, k, cfg),
            bn: nn::batch_norm2d(bn_vs, cout, bn),
            relu6: true,
            stride,
            padding,
            groups,
            folded: None,
        }
    }
    /// The same without the ReLU6 (MobileNetV2's linear bottleneck).
    fn linear(self) -> Self {
        Self { relu6: false, ..self }
    }
    fn forward(&self, xs: &Tensor) -> Tensor {
        if let Some(f) = &self.folded {
            // Inference only: the activation can overwrite the convolution's fresh output.
            let mut y = f.forward(xs, self.stride, self.padding, self.groups);
            if self.relu6 {
                let _ = y.clamp_(0.0, 6.0);
            }
            return y;
        }
        let y = self.bn.forward_t(&self.conv.forward(xs), false);
        if self.relu6 { y.clamp(0.0, 6.0) } else { y }
    }
}

/// An inverted residual block: 1×1 expansion (absent when t = 1), 3×3 depthwise, linear 1×1
/// projection; the input is added back when the block keeps stride and width.
#[derive(Debug)]
struct InvertedResidual {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

/// One entry of `features`: the stem conv (`features.0`) or an inverted residual block.
#[derive(Debug)]
// At most 14 entries, built once per model: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Feature {
    Stem(ConvBn),
    Inverted(InvertedResidual),
}

impl Feature {
    fn forward(&self, xs: &Tensor) -> Tensor {
        match self {
            Feature::Stem(c) => c.forward(xs),
            Feature::Inverted(b) => {
                let h = match &b.expand {
                    Some(e) => e.forward(xs),
                    None => xs.shallow_clone(),
                };
                let mut y = b.project.forward(&b.depthwise.forward(&h));
                match (b.residual, b.project.folded.is_some()) {
                    (false, _) => y,
                    // Folded (inference): `y` is this block's own fresh tensor.
                    (true, true) => {
                        y += xs;
                        y
                    }
                    (true, false) => xs + y,
                }
            }
        }
    }
}

/// The hybrid patch embedding: MobileNetV2 `features[..layers]` then a 1×1 projection.
#[derive(Debug)]
pub struct HybridEmbed {
    features: Vec<Feature>,
    /// How many leading `features` blocks are frozen (run without gradients in training).
    frozen: usize,
    proj: nn::Conv2D,
}

impl HybridEmbed {
    /// Builds `features.0 .. features.{layers-1}` and `proj` (channels → `dim`) under `vs`.
    /// `layers` must end at stride 16 (8 to 14 blocks: 64 channels up to 11, 96 from 12), which
    /// the config checks.
    pub fn new(vs: nn::Path, in_chans: i64, dim: i64, layers: usize, frozen: usize) -> Self {
        let f = &vs / "features";
        let mut features = vec![Feature::Stem(ConvBn::new(&f / 0 / 0, &f / 0 / 1, in_chans, 32, 3, 2, 1))];
        let mut cin = 32;
        'outer: for (t, c, n, s) in SETTING {
            for i in 0..n {
                let idx = features.len();
                if idx >= layers {
                    break 'outer;
                }
                let stride = if i == 0 { s } else { 1 };
                let hidden = cin * t;
                let b = &f / idx / "conv";
                let (expand, base) = if t == 1 { (None, 0) } else { (Some(ConvBn::new(&b / 0 / 0, &b / 0 / 1, cin, hidden, 1, 1, 1)), 1) };
                let depthwise = ConvBn::new(&b / base / 0, &b / base / 1, hidden, hidden, 3, stride, hidden);
                let project = ConvBn::new(&b / (base + 1), &b / (base + 2), hidden, c, 1, 1, 1).linear();
                let residual = stride == 1 && cin == c;
                features.push(Feature::Inverted(InvertedResidual { expand, depthwise, project, residual }));
                cin = c;
            }
        }
        let proj = nn::conv2d(&vs / "proj", cin, dim, 1, Default::default());
        Self { features, frozen: frozen.min(layers), proj }
    }

    /// Folds every BatchNorm into its convolution and lets the activations work in place: the
    /// same function with about half the memory traffic (the stem's time on a 160-px crop
    /// roughly halves on one core). For inference only, never in training (the folded path has
    /// no gradients to the BatchNorm parameters): weights loaded or trained afterwards are not seen, so
    /// [`crate::model::load_tracking_model`] calls this last.
    /// With `fold` false, drops the folded copies: the network runs from its parameters again.
    pub fn fold_batchnorm(&mut self, fold: bool) {
        for c in self.conv_bns() {
            c.folded = fold.then(|| Folded::new(&c.conv, &c.bn, BN_EPS));
        }
    }

    fn conv_bns(&mut self) -> impl Iterator<Item = &mut ConvBn> {
        self.features.iter_mut().flat_map(|f| match f {
            Feature::Stem(c) => vec![c],
            Feature::Inverted(b) => b.expand.iter_mut().chain([&mut b.depthwise, &mut b.project]).collect(),
        })
    }

    /// The MobileNetV2 feature map alone, [b, C, h/16, w/16] (for the golden test against
    /// torchvision).
    pub fn features(&self, xs: &Tensor) -> Tensor {
        let (mut h, start) = if self.frozen > 0 {
            let _g = tch::no_grad_guard();
            let mut h = xs.shallow_clone();
            for f in &self.features[..self.frozen] {
                h = f.forward(&h);
            }
            (h, self.frozen)
        } else {
            (xs.shallow_clone(), 0)
        };
        for f in &self.features[start..] {
            h = f.forward(&h);
        }
        h
    }

    /// [b, 3, h, w] → [b, (h/16)(w/16), dim], tokens in row-major order.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        self.proj.forward(&self.features(xs)).flatten(2, -1).transpose(1, 2)
    }
}

/// The MobileNetV2 block a parameter belongs to (`backbone.patch_embed.features.N.…` → N).
pub fn stem_block(name: &str) -> Option<usize> {
    name.strip_prefix("backbone.patch_embed.features.")?.split('.').next()?.parse().ok()
}
