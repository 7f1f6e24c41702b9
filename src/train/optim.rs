//! OSTrack's optimisation (`lib/train/base_functions.py`): AdamW with two parameter groups (the
//! backbone at `backbone_multiplier × lr`), weight decay on every parameter, gradient-norm
//! clipping, a ×0.1 step decay, and the candidate-elimination warm-up.
//!
//! AdamW is written out here rather than taken from libtorch's C++ optimiser, so its moments
//! are plain named tensors that go into checkpoints and come back on `--resume`.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use crate::model::config::TrainConfig;

/// One trainable parameter and its Adam moments.
#[derive(Debug)]
struct Slot {
    param: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    lr_scale: f64,
}

/// AdamW (β = 0.9, 0.999, ε = 1e-8, decoupled weight decay), as `torch.optim.AdamW`.
#[derive(Debug)]
pub struct AdamW {
    slots: BTreeMap<String, Slot>,
    /// Steps taken (for bias correction).
    pub step: i64,
    weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    /// Takes every variable that requires a gradient; names starting with `backbone.` get
    /// `backbone_multiplier` times the learning rate.
    pub fn new(vars: &std::collections::HashMap<String, Tensor>, weight_decay: f64, backbone_multiplier: f64) -> Self {
        let slots = vars
            .iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, t)| {
                let lr_scale = if name.starts_with("backbone.") { backbone_multiplier } else { 1.0 };
                (
                    name.clone(),
                    Slot { param: t.shallow_clone(), exp_avg: t.zeros_like().detach(), exp_avg_sq: t.zeros_like().detach(), lr_scale },
                )
            })
            .collect();
        Self { slots, step: 0, weight_decay }
    }

    /// Clears gradients.
    pub fn zero_grad(&mut self) {
        for s in self.slots.values_mut() {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// Divides every gradient by `scale` (fp16 loss scaling); returns whether all of them are
    /// finite afterwards.
    pub(crate) fn unscale_grads(&mut self, scale: f64) -> bool {
        let _g = tch::no_grad_guard();
        let mut finite = true;
        for s in self.slots.values() {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.g_mul_scalar_(1.0 / scale);
                finite &= g.isfinite().all().int64_value(&[]) != 0;
            }
        }
        finite
    }

    /// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before
    /// clipping (`clip_grad_norm_`).
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let _g = tch::no_grad_guard();
        let mut sq = 0.0;
        for s in self.slots.values() {
            let g = s.param.grad();
            if g.defined() {
                sq += g.to_kind(Kind::Float).pow_tensor_scalar(2.0).sum(Kind::Float).double_value(&[]);
            }
        }
        let norm = sq.sqrt();
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            for s in self.slots.values() {
                let mut g = s.param.grad();
                if g.defined() {
                    let _ = g.g_mul_scalar_(coef);
                }
            }
        }
        norm
    }

    /// One update with learning rate `lr` (the head's; the backbone gets its multiple).
    pub fn step(&mut self, lr: f64) {
        let _g = tch::no_grad_guard();
        self.step += 1;
        let bc1 = 1.0 - BETA1.powi(self.step as i32);
        let bc2 = 1.0 - BETA2.powi(self.step as i32);
        for s in self.slots.values_mut() {
            let g = s.param.grad();
            if !g.defined() {
                continue;
            }
            let lr = lr * s.lr_scale;
            let _ = s.param.g_mul_scalar_(1.0 - lr * self.weight_decay);
            let _ = s.exp_avg.g_mul_scalar_(BETA1).g_add_(&(&g * (1.0 - BETA1)));
            let _ = s.exp_avg_sq.g_mul_scalar_(BETA2).g_add_(&(&g * &g * (1.0 - BETA2)));
            let denom = (&s.exp_avg_sq / bc2).sqrt() + EPS;
            let update = &s.exp_avg / &denom * (lr / bc1);
            let _ = s.param.g_sub_(&update);
        }
    }

    /// The moments as named tensors (`optimizer.exp_avg.<param>`, `optimizer.exp_avg_sq.<param>`).
    pub(crate) fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for (name, s) in &self.slots {
            v.push((format!("optimizer.exp_avg.{name}"), s.exp_avg.shallow_clone()));
            v.push((format!("optimizer.exp_avg_sq.{name}"), s.exp_avg_sq.shallow_clone()));
        }
        v
    }

    /// Restores moments saved by [`AdamW::state`]; every parameter must have both.
    pub(crate) fn load_state(&mut self, tensors: &std::collections::HashMap<String, Tensor>, step: i64) -> anyhow::Result<()> {
        let _g = tch::no_grad_guard();
        for (name, s) in self.slots.iter_mut() {
            for (key, dst) in [("exp_avg", &mut s.exp_avg), ("exp_avg_sq", &mut s.exp_avg_sq)] {
                let k = format!("optimizer.{key}.{name}");
                let t = tensors.get(&k).ok_or_else(|| anyhow::anyhow!("checkpoint lacks optimizer state `{k}`"))?;
                if t.size() != dst.size() {
                    anyhow::bail!("checkpoint optimizer state `{k}` has shape {:?}, the model needs {:?}", t.size(), dst.size());
                }
                dst.copy_(&t.to_device(dst.device()).to_kind(dst.kind()));
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Learning rate of epoch `epoch` (1-based): `lr · 0.1^⌊(epoch − 1) / lr_drop_epoch⌋`, as
/// `StepLR` stepped once per epoch.
pub fn lr_at(t: &TrainConfig, epoch: i64) -> f64 {
    t.lr * 0.1f64.powi(((epoch - 1).max(0) / t.lr_drop_epoch.max(1)) as i32)
}

/// Candidate-elimination keep ratio of epoch `epoch` (1-based): 1 before `ce_start_epoch`,
/// then a cosine from 1 down to `base` over `ce_warm_epoch` epochs (`adjust_keep_rate`).
pub fn ce_keep_at(t: &TrainConfig, base: f64, epoch: i64) -> f64 {
    let (s, w) = (t.ce_start_epoch, t.ce_warm_epoch);
    if epoch < s {
        1.0
    } else if epoch >= s + w {
        base
    } else {
        base + (1.0 - base) * ((std::f64::consts::PI * (epoch - s) as f64 / w as f64).cos() + 1.0) / 2.0
    }
}
