//! OSTrack's training loss (`lib/train/actors/ostrack.py`): `giou_weight·GIoU + l1_weight·L1 +
//! 1·focal`, the box losses at the predicted score peak and the focal loss on a CenterNet
//! Gaussian around the true centre.

use tch::{Kind, Tensor};

use crate::model::{HeadMaps, decode_boxes};

/// CornerNet's `gaussian_radius` as OSTrack uses it (the "bug version": each root is
/// `(b + sqrt(b² − 4ac)) / 2`), for a `w × h` box in feature cells and overlap 0.7.
pub fn gaussian_radius(w: f64, h: f64) -> f64 {
    let min_overlap = 0.7;
    let root = |a: f64, b: f64, c: f64| (b + (b * b - 4.0 * a * c).max(0.0).sqrt()) / 2.0;
    let r1 = root(1.0, h + w, w * h * (1.0 - min_overlap) / (1.0 + min_overlap));
    let r2 = root(4.0, 2.0 * (h + w), (1.0 - min_overlap) * w * h);
    let r3 = root(4.0 * min_overlap, -2.0 * min_overlap * (h + w), (min_overlap - 1.0) * w * h);
    r1.min(r2).min(r3)
}

/// The target heat map (F×F, row-major) for a box `[x, y, w, h]` normalised to the crop:
/// peak 1 at the rounded centre cell, Gaussian of σ = (2r+1)/6 around it, tails below
/// `f64::EPSILON · peak` cut. A centre outside the map gives an all-zero map.
pub fn heatmap(b: [f32; 4], f: usize) -> Vec<f32> {
    let mut map = vec![0f32; f * f];
    let s = f as f64;
    let (x, y, w, h) = (b[0] as f64 * s, b[1] as f64 * s, b[2] as f64 * s, b[3] as f64 * s);
    let cx = crate::tracker::crop::round_half_even(x + w / 2.0);
    let cy = crate::tracker::crop::round_half_even(y + h / 2.0);
    let r = gaussian_radius(w, h).max(0.0) as i64;
    if !(cx >= 0.0 && cy >= 0.0 && cx < s && cy < s) {
        return map;
    }
    let (cx, cy) = (cx as i64, cy as i64);
    let sigma = (2 * r + 1) as f64 / 6.0;
    for dy in -r..=r {
        for dx in -r..=r {
            let (gx, gy) = (cx + dx, cy + dy);
            if gx < 0 || gy < 0 || gx >= f as i64 || gy >= f as i64 {
                continue;
            }
            let v = (-((dx * dx + dy * dy) as f64) / (2.0 * sigma * sigma)).exp();
            if v < f64::EPSILON {
                continue;
            }
            let cell = &mut map[gy as usize * f + gx as usize];
            *cell = cell.max(v as f32);
        }
    }
    map
}

/// CenterNet focal loss (α = 2, β = 4) summed over the batch, divided by the number of peaks
/// (or not at all when no centre lies on the map).
///
/// `pred`: [b, 1, F, F] in (0, 1); `gt`: same shape.
pub fn focal_loss(pred: &Tensor, gt: &Tensor) -> Tensor {
    let pos = gt.eq(1.0).to_kind(Kind::Float);
    let neg = gt.lt(1.0).to_kind(Kind::Float);
    let neg_w = gt.neg().g_add_scalar(1.0).pow_tensor_scalar(4.0);
    let one_minus: Tensor = pred.neg().g_add_scalar(1.0);
    let pos_loss = (pred.log() * one_minus.pow_tensor_scalar(2.0) * &pos).sum(Kind::Float);
    let neg_loss = (one_minus.log() * pred.pow_tensor_scalar(2.0) * neg_w * neg).sum(Kind::Float);
    let num_pos = pos.sum(Kind::Float).double_value(&[]);
    if num_pos == 0.0 { -neg_loss } else { -(pos_loss + neg_loss) / num_pos }
}

/// (cx, cy, w, h) → (x1, y1, x2, y2).
pub(crate) fn cxcywh_to_xyxy(b: &Tensor) -> Tensor {
    let (cx, cy, w, h) = (b.narrow(1, 0, 1), b.narrow(1, 1, 1), b.narrow(1, 2, 1), b.narrow(1, 3, 1));
    Tensor::cat(&[&cx - &w * 0.5, &cy - &h * 0.5, &cx + &w * 0.5, &cy + &h * 0.5], 1)
}

/// (x, y, w, h) → (x1, y1, x2, y2).
pub(crate) fn xywh_to_xyxy(b: &Tensor) -> Tensor {
    let (x, y, w, h) = (b.narrow(1, 0, 1), b.narrow(1, 1, 1), b.narrow(1, 2, 1), b.narrow(1, 3, 1));
    Tensor::cat(&[x.shallow_clone(), y.shallow_clone(), &x + w, &y + h], 1)
}

/// Per-pair generalised IoU and IoU of xyxy boxes, each `[b]`.
pub fn giou(a: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
    let area = |t: &Tensor| (t.narrow(1, 2, 1) - t.narrow(1, 0, 1)) * (t.narrow(1, 3, 1) - t.narrow(1, 1, 1));
    let (area_a, area_b) = (area(a), area(b));
    let lt = a.narrow(1, 0, 2).maximum(&b.narrow(1, 0, 2));
    let rb = a.narrow(1, 2, 2).minimum(&b.narrow(1, 2, 2));
    let wh = (rb - lt).clamp_min(0.0);
    let inter = wh.narrow(1, 0, 1) * wh.narrow(1, 1, 1);
    let union = &area_a + &area_b - &inter;
    let iou = &inter / &union;
    let lt_c = a.narrow(1, 0, 2).minimum(&b.narrow(1, 0, 2));
    let rb_c = a.narrow(1, 2, 2).maximum(&b.narrow(1, 2, 2));
    let wh_c = (rb_c - lt_c).clamp_min(0.0);
    let area_c = wh_c.narrow(1, 0, 1) * wh_c.narrow(1, 1, 1);
    let g = &iou - (&area_c - &union) / area_c;
    (g.squeeze_dim(1), iou.squeeze_dim(1))
}

/// The loss terms of one batch, as tensors (`total` carries the gradient) and as numbers.
pub(crate) struct LossOut {
    /// Weighted sum, differentiable.
    pub(crate) total: Tensor,
    /// `total` as a number.
    pub loss: f64,
    /// Mean 1 − GIoU.
    pub giou: f64,
    /// Mean L1 over xyxy coordinates.
    pub(crate) l1: f64,
    /// Focal loss.
    pub(crate) focal: f64,
    /// Mean IoU of predicted and true boxes (a readable training accuracy).
    pub iou: f64,
}

/// The weighted loss for head maps and true boxes `gt` ([b, 4], xywh normalised).
pub(crate) fn ostrack_loss(maps: &HeadMaps, gt: &Tensor, giou_weight: f64, l1_weight: f64) -> anyhow::Result<LossOut> {
    let f = maps.score.size()[3] as usize;
    let b = gt.size()[0];
    let gt_cpu: Vec<f32> = Vec::try_from(gt.to_device(tch::Device::Cpu).to_kind(Kind::Float).flatten(0, -1))?;
    let mut heat = Vec::with_capacity(b as usize * f * f);
    for row in gt_cpu.chunks_exact(4) {
        heat.extend(heatmap([row[0], row[1], row[2], row[3]], f));
    }
    let heat = Tensor::from_slice(&heat).view([b, 1, f as i64, f as i64]).to_device(maps.score.device());
    let (pred, _) = decode_boxes(&maps.score, &maps.size, &maps.offset);
    if pred.isnan().any().int64_value(&[]) != 0 {
        anyhow::bail!("the network output NaN boxes: training diverged (lower the learning rate, check the data)");
    }
    let pred = cxcywh_to_xyxy(&pred);
    let target = xywh_to_xyxy(gt).clamp(0.0, 1.0);
    let (g, iou) = giou(&pred, &target);
    let giou_loss = g.neg().g_add_scalar(1.0).mean(Kind::Float);
    let l1 = (&pred - &target).abs().mean(Kind::Float);
    let focal = focal_loss(&maps.score, &heat);
    let total = &giou_loss * giou_weight + &l1 * l1_weight + &focal;
    Ok(LossOut {
        loss: total.double_value(&[]),
        giou: giou_loss.double_value(&[]),
        l1: l1.double_value(&[]),
        focal: focal.double_value(&[]),
        iou: iou.nan_to_num(0.0, None, None).mean(Kind::Float).double_value(&[]),
        total,
    })
}
