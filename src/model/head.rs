//! OSTrack's CENTER head (`lib/models/layers/head.py`, `CenterPredictor`): three conv towers
//! predicting a centre score map, a size map and a sub-cell offset map, and the box decode.

use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use crate::model::mobilenet::Folded;

/// `convN_*`: Conv2d 3×3 (pad 1, bias) → BatchNorm2d → ReLU; checkpoint keys `.0.*`, `.1.*`.
#[derive(Debug)]
struct ConvBnRelu {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    /// The BatchNorm folded in, for inference ([`CenterPredictor::fold_batchnorm`]).
    folded: Option<Folded>,
}

impl ConvBnRelu {
    fn new(vs: nn::Path, cin: i64, cout: i64) -> Self {
        let cfg = nn::ConvConfig { padding: 1, ..Default::default() };
        Self { conv: nn::conv2d(&vs / "0", cin, cout, 3, cfg), bn: nn::batch_norm2d(&vs / "1", cout, Default::default()), folded: None }
    }
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match &self.folded {
            Some(f) if !train => {
                let mut y = f.forward(xs, 1, 1, 1);
                let _ = y.relu_();
                y
            }
            _ => self.bn.forward_t(&self.conv.forward(xs), train).relu(),
        }
    }
}

/// One tower: four conv blocks halving the width (C → C/2 → C/4 → C/8) and a 1×1 output conv.
#[derive(Debug)]
struct Tower {
    blocks: Vec<ConvBnRelu>,
    out: nn::Conv2D,
}

impl Tower {
    fn new(vs: &nn::Path, name: &str, inplanes: i64, channel: i64, cout: i64) -> Self {
        let widths = [inplanes, channel, channel / 2, channel / 4, channel / 8];
        let blocks = (0..4).map(|i| ConvBnRelu::new(vs / format!("conv{}_{name}", i + 1), widths[i], widths[i + 1])).collect();
        let out = nn::conv2d(vs / format!("conv5_{name}"), channel / 8, cout, 1, Default::default());
        Self { blocks, out }
    }
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs.shallow_clone();
        for b in &self.blocks {
            h = b.forward_t(&h, train);
        }
        self.out.forward(&h)
    }
}

/// Score, size and offset maps for a batch of search feature maps.
#[derive(Debug)]
pub struct HeadMaps {
    /// Centre score, sigmoid clamped to [1e-4, 1 − 1e-4]: [b, 1, F, F].
    pub score: Tensor,
    /// Normalised (w, h), sigmoid clamped: [b, 2, F, F].
    pub size: Tensor,
    /// Sub-cell (dx, dy): [b, 2, F, F].
    pub offset: Tensor,
}

impl HeadMaps {
    /// The maps in `kind` (float32 for a loss after an fp16 autocast forward pass).
    pub fn to_kind(&self, kind: tch::Kind) -> Self {
        Self { score: self.score.to_kind(kind), size: self.size.to_kind(kind), offset: self.offset.to_kind(kind) }
    }
}

/// The center head (`box_head.*` in checkpoints).
#[derive(Debug)]
pub struct CenterPredictor {
    ctr: Tower,
    offset: Tower,
    size: Tower,
    feat_sz: i64,
}

fn clamped_sigmoid(xs: &Tensor) -> Tensor {
    xs.sigmoid().clamp(1e-4, 1.0 - 1e-4)
}

impl CenterPredictor {
    /// Builds the head for `inplanes`-channel F×F feature maps.
    pub fn new(vs: nn::Path, inplanes: i64, channel: i64, feat_sz: i64) -> Self {
        Self {
            ctr: Tower::new(&vs, "ctr", inplanes, channel, 1),
            offset: Tower::new(&vs, "offset", inplanes, channel, 2),
            size: Tower::new(&vs, "size", inplanes, channel, 2),
            feat_sz,
        }
    }

    /// Search tokens [b, F·F, c] (the last F·F backbone tokens) to a map [b, c, F, F].
    pub fn tokens_to_map(&self, tokens: &Tensor) -> Tensor {
        let (b, n, c) = tokens.size3().expect("tokens are [b, n, c]");
        let lx = self.feat_sz * self.feat_sz;
        tokens.narrow(1, n - lx, lx).transpose(1, 2).contiguous().view([b, c, self.feat_sz, self.feat_sz])
    }

    /// # Shapes
    /// `map`: [b, c, F, F] → maps [b, 1|2|2, F, F].
    pub fn forward_t(&self, map: &Tensor, train: bool) -> HeadMaps {
        HeadMaps {
            score: clamped_sigmoid(&self.ctr.forward_t(map, train)),
            size: clamped_sigmoid(&self.size.forward_t(map, train)),
            offset: self.offset.forward_t(map, train),
        }
    }

    /// Folds each tower's BatchNorms (running statistics) into their convolutions, for
    /// inference, as [`crate::model::mobilenet::HybridEmbed::fold_batchnorm`] does for the stem;
    /// `fold_batchnorm(false)` drops the folded copies. A training-mode forward pass always uses
    /// the parameters.
    pub fn fold_batchnorm(&mut self, fold: bool) {
        for tower in [&mut self.ctr, &mut self.offset, &mut self.size] {
            for b in &mut tower.blocks {
                // PyTorch's BatchNorm2d default epsilon, which OSTrack's head keeps.
                b.folded = fold.then(|| Folded::new(&b.conv, &b.bn, 1e-5));
            }
        }
    }

    /// Side of the maps.
    pub fn feat_sz(&self) -> i64 {
        self.feat_sz
    }
}

/// Decodes boxes at the argmax of `response` (the score map, Hann-windowed at test time):
/// `((col + dx)/F, (row + dy)/F, w, h)` in [0, 1] of the search crop, as `cal_bbox` does.
///
/// # Shapes
/// `response`: [b, 1, F, F]; `size`, `offset`: [b, 2, F, F] → boxes [b, 4] (cx, cy, w, h), and
/// the flat argmax index `[b]`.
pub fn decode_boxes(response: &Tensor, size: &Tensor, offset: &Tensor) -> (Tensor, Tensor) {
    let f = response.size()[3];
    let b = response.size()[0];
    let idx = response.flatten(1, -1).argmax(1, true); // [b, 1]
    let row = idx.divide_scalar_mode(f, "floor");
    let col = idx.remainder(f);
    let gather = |m: &Tensor| m.flatten(2, -1).gather(2, &idx.unsqueeze(1).expand([b, 2, 1], false), false).squeeze_dim(-1);
    let sz = gather(size); // [b, 2]
    let off = gather(offset); // [b, 2]
    let cx = (col.to_kind(off.kind()) + off.narrow(1, 0, 1)) / f as f64;
    let cy = (row.to_kind(off.kind()) + off.narrow(1, 1, 1)) / f as f64;
    (Tensor::cat(&[cx, cy, sz], 1), idx.squeeze_dim(1).to_kind(Kind::Int64))
}
