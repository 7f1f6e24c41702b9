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

use tch::Tensor;
use tch::nn::{self, Module, ModuleT};

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
}

impl ConvBn {
    fn new(conv_vs: nn::Path, bn_vs: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, groups: i64) -> Self {
        let cfg = nn::ConvConfig { stride, padding: (k - 1) / 2, groups, bias: false, ..Default::default() };
        let bn = nn::BatchNormConfig { eps: BN_EPS, ..Default::default() };
        Self { conv: nn::conv2d(conv_vs, cin, cout, k, cfg), bn: nn::batch_norm2d(bn_vs, cout, bn), relu6: true }
    }
    /// The same without the ReLU6 (MobileNetV2's linear bottleneck).
    fn linear(self) -> Self {
        Self { relu6: false, ..self }
    }
    fn forward(&self, xs: &Tensor) -> Tensor {
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
                let y = b.project.forward(&b.depthwise.forward(&h));
                if b.residual { xs + y } else { y }
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
