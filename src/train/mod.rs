//! Training OSTrack (`lib/train/` upstream): datasets, the pair sampler with its augmentations,
//! threaded batch loading, the loss, AdamW and checkpoints. The nodes of
//! `dataflows/train.kdl` (sampler, trainer, checkpoint, metrics) are thin shells over this.

pub mod checkpoint;
pub mod loss;
pub mod optim;
pub mod sampler;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result, bail};
use crossbeam_channel::{Receiver, Sender, bounded};
use tch::{Device, Kind, Tensor};

use crate::model::{Config, OSTrack, Parts};
use checkpoint::{STATE_KEY, TrainState};
use optim::AdamW;
use sampler::{PairSampler, Sample};

/// The seed of sample `slot` of batch `batch` in epoch `epoch` (splitmix64 of the four).
pub(crate) fn sample_seed(seed: u64, epoch: i64, batch: i64, slot: i64) -> u64 {
    let mut z = seed;
    for v in [epoch as u64, batch as u64, slot as u64] {
        z = z.wrapping_add(v).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

/// A batch as it travels: templates, searches and boxes back to back in one Float32 buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Epoch (1-based).
    pub epoch: i64,
    /// Batch index within the epoch (0-based).
    pub index: i64,
    /// Samples.
    pub size: i64,
    /// Template side.
    pub template_size: i64,
    /// Search side.
    pub search_size: i64,
    /// Crop channels: 3 (RGB) or 6 (RGB+X, ViPT).
    pub channels: i64,
    /// `size·C·T² + size·C·S² + size·4` floats.
    pub data: Vec<f32>,
}

impl Batch {
    /// Packs samples.
    pub(crate) fn from_samples(epoch: i64, index: i64, samples: &[Sample], cfg: &Config) -> Self {
        let (t, s, c) = (cfg.data.template_size, cfg.data.search_size, cfg.input_channels() as i64);
        let mut data = Vec::with_capacity(samples.len() * ((c * (t * t + s * s)) as usize + 4));
        for x in samples {
            data.extend_from_slice(&x.template);
        }
        for x in samples {
            data.extend_from_slice(&x.search);
        }
        for x in samples {
            data.extend_from_slice(&x.search_box);
        }
        Self { epoch, index, size: samples.len() as i64, template_size: t, search_size: s, channels: c, data }
    }

    /// Checks the buffer length against the shape.
    pub(crate) fn validate(&self) -> Result<()> {
        let (b, t, s, c) = (self.size, self.template_size, self.search_size, self.channels);
        if b < 1 || t < 1 || s < 1 || c < 1 {
            bail!("batch {}/{}: size {b}, crops {t} and {s}, {c} channels: each must be at least 1", self.epoch, self.index);
        }
        // Checked, so that a message's metadata cannot wrap the expected length.
        let want = t
            .checked_mul(t)
            .and_then(|tt| s.checked_mul(s).and_then(|ss| tt.checked_add(ss)))
            .and_then(|px| px.checked_mul(c))
            .and_then(|f| f.checked_add(4))
            .and_then(|f| f.checked_mul(b))
            .and_then(|f| usize::try_from(f).ok());
        let Some(want) = want else { bail!("batch {}/{}: its shape is too large", self.epoch, self.index) };
        if self.data.len() != want {
            bail!("batch {}/{}: {} floats, its shape needs {want}", self.epoch, self.index, self.data.len());
        }
        Ok(())
    }

    /// Floats of one sample: its template, search region and box.
    pub fn floats_per_sample(&self) -> usize {
        (self.channels * (self.template_size * self.template_size + self.search_size * self.search_size) + 4) as usize
    }

    /// The samples `from..from + n` as a batch of their own (same epoch and index).
    fn samples(&self, from: i64, n: i64) -> Self {
        let (b, c) = (self.size, self.channels);
        let (t, s) = ((c * self.template_size * self.template_size) as usize, (c * self.search_size * self.search_size) as usize);
        let (from, n) = (from as usize, n as usize);
        let searches = b as usize * t;
        let boxes = searches + b as usize * s;
        let mut data = Vec::with_capacity(n * self.floats_per_sample());
        data.extend_from_slice(&self.data[from * t..(from + n) * t]);
        data.extend_from_slice(&self.data[searches + from * s..searches + (from + n) * s]);
        data.extend_from_slice(&self.data[boxes + from * 4..boxes + (from + n) * 4]);
        Self { size: n as i64, data, ..*self }
    }

    /// The batch cut into parts of at most `max_samples` samples each, in order: how a batch
    /// larger than one dora message travels (see [`crate::wire::BATCH_PART_MAX`]).
    pub fn split(&self, max_samples: i64) -> Vec<Self> {
        let k = max_samples.max(1);
        (0..self.size).step_by(k as usize).map(|from| self.samples(from, k.min(self.size - from))).collect()
    }

    /// Joins the parts [`Batch::split`] made, in order, back into one batch.
    pub fn join(parts: Vec<Self>) -> Result<Self> {
        for p in &parts {
            p.validate()?;
        }
        let Some(first) = parts.first() else { bail!("no part to join") };
        let (epoch, index, t, s, c) = (first.epoch, first.index, first.template_size, first.search_size, first.channels);
        if parts.iter().any(|p| (p.epoch, p.index, p.template_size, p.search_size, p.channels) != (epoch, index, t, s, c)) {
            bail!("batch {epoch}/{index}: its parts disagree on their batch or crop shape");
        }
        if parts.len() == 1 {
            return Ok(parts.into_iter().next().expect("one part"));
        }
        let size: i64 = parts.iter().map(|p| p.size).sum();
        let (nt, ns) = ((c * t * t) as usize, (c * s * s) as usize);
        let mut data = Vec::with_capacity(size as usize * first.floats_per_sample());
        for p in &parts {
            data.extend_from_slice(&p.data[..p.size as usize * nt]);
        }
        for p in &parts {
            let at = p.size as usize * nt;
            data.extend_from_slice(&p.data[at..at + p.size as usize * ns]);
        }
        for p in &parts {
            let at = p.size as usize * (nt + ns);
            data.extend_from_slice(&p.data[at..at + p.size as usize * 4]);
        }
        Ok(Self { epoch, index, size, template_size: t, search_size: s, channels: c, data })
    }

    /// (templates `[b,C,T,T]`, searches `[b,C,S,S]`, boxes `[b,4]`) on `device`.
    pub(crate) fn tensors(&self, device: Device) -> (Tensor, Tensor, Tensor) {
        let (b, t, s, c) = (self.size, self.template_size, self.search_size, self.channels);
        let all = Tensor::from_slice(&self.data).to_device(device);
        let nt = b * c * t * t;
        let ns = b * c * s * s;
        (all.narrow(0, 0, nt).view([b, c, t, t]), all.narrow(0, nt, ns).view([b, c, s, s]), all.narrow(0, nt + ns, b * 4).view([b, 4]))
    }
}

/// Batches made by worker threads, handed out in the order they were asked for.
///
/// Workers are threads fed through bounded channels: nothing forks, nothing can hang on a dead
/// child, and memory stays at most `window` batches.
pub struct Loader {
    jobs: Option<Sender<(i64, i64, i64)>>,
    done: Receiver<((i64, i64), Result<Batch>)>,
    pending: std::collections::VecDeque<(i64, i64)>,
    ready: BTreeMap<(i64, i64), Result<Batch>>,
    workers: Vec<JoinHandle<()>>,
    /// The sampler the workers share.
    pub sampler: Arc<PairSampler>,
}

impl Loader {
    /// Starts `workers` threads drawing batches from `sampler`; at most `window` batches wait.
    pub fn new(sampler: Arc<PairSampler>, cfg: &Config, workers: usize, seed: u64, window: usize) -> Self {
        let (jobs_tx, jobs_rx) = bounded::<(i64, i64, i64)>(window.max(1));
        let (done_tx, done_rx) = bounded(window.max(1));
        let workers = (0..workers.max(1))
            .map(|_| {
                let (jobs, done, sampler, cfg) = (jobs_rx.clone(), done_tx.clone(), sampler.clone(), cfg.clone());
                std::thread::spawn(move || {
                    for (epoch, index, batch_size) in jobs.iter() {
                        let batch = (0..batch_size)
                            .map(|slot| sampler.sample(sample_seed(seed, epoch, index, slot)))
                            .collect::<Result<Vec<Sample>>>()
                            .map(|s| Batch::from_samples(epoch, index, &s, &cfg));
                        if done.send(((epoch, index), batch)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Self { jobs: Some(jobs_tx), done: done_rx, pending: Default::default(), ready: BTreeMap::new(), workers, sampler }
    }

    /// Queues batch `index` of `epoch` with `size` samples.
    pub fn request(&mut self, epoch: i64, index: i64, size: i64) -> Result<()> {
        self.pending.push_back((epoch, index));
        self.jobs.as_ref().context("loader closed")?.send((epoch, index, size)).context("every loader thread has exited")
    }

    /// Batches queued and not yet handed out.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The oldest requested batch if it is ready (waiting at most `wait`).
    pub fn next_ready(&mut self, wait: std::time::Duration) -> Result<Option<Batch>> {
        let Some(&want) = self.pending.front() else { return Ok(None) };
        let deadline = std::time::Instant::now() + wait;
        while !self.ready.contains_key(&want) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.done.recv_timeout(left) {
                Ok((key, b)) => {
                    self.ready.insert(key, b);
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => return Ok(None),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => bail!("every loader thread has exited"),
            }
        }
        self.pending.pop_front();
        self.ready.remove(&want).expect("checked above").map(Some)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.jobs.take();
        // Drain so blocked workers can finish their send and see the closed job channel.
        while self.done.try_recv().is_ok() {}
        for w in self.workers.drain(..) {
            while !w.is_finished() {
                while self.done.try_recv().is_ok() {}
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = w.join();
        }
    }
}

/// How the network starts.
#[derive(Debug, Clone)]
pub enum Init {
    /// Seeded random weights.
    Random,
    /// A trackflow weights file or checkpoint (weights only; the optimiser starts fresh). Its
    /// position embeddings may be for other crop sizes: they are resized to this config's
    /// ([`OSTrack::load_resizing_positions`](crate::model::OSTrack::load_resizing_positions)).
    Weights(std::path::PathBuf),
    /// The weights of a checkpoint being resumed: they must fit the config exactly, since the
    /// optimiser's moments that come with them do.
    Resume(std::path::PathBuf),
    /// Pretrained backbone weights ([`load_pretrained`]): an MAE ViT encoder
    /// (`mae_pretrain_vit_base`, converted to safetensors; its 14×14 position embedding resized
    /// bicubically to the template and search grids) or ImageNet MobileNetV2 features for the
    /// hybrid stem.
    Pretrained(std::path::PathBuf),
}

/// Numbers from one optimiser step.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StepStats {
    /// Weighted loss.
    pub loss: f64,
    /// 1 − GIoU.
    pub giou: f64,
    /// L1.
    pub(crate) l1: f64,
    /// Focal.
    pub(crate) focal: f64,
    /// Mean IoU.
    pub iou: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Head learning rate.
    pub lr: f64,
    /// Candidate-elimination keep ratio this epoch.
    pub keep: f64,
}

/// The model, its optimiser and where the run stands.
///
/// Data-parallel training ([`Trainer::set_devices`]) keeps one replica of the network per
/// device, as upstream's DistributedDataParallel does: each replica takes an equal shard of the
/// batch, its gradients are summed onto the first replica with device-to-device copies (the
/// loss of each shard is divided by the number of replicas, so the sum is DDP's average), one
/// AdamW steps the first replica, and every replica then copies its weights and BatchNorm
/// statistics (DDP's buffer broadcast from rank 0). NCCL is not used.
pub struct Trainer {
    /// The network (the first replica, which the optimiser steps and checkpoints hold).
    pub model: OSTrack,
    /// AdamW.
    pub optim: AdamW,
    /// Run state (epochs done, steps, seed).
    pub state: TrainState,
    device: Device,
    /// The other replicas, one per further device.
    replicas: Vec<OSTrack>,
    /// fp16 mixed precision: the forward pass under CUDA autocast and the loss scaled.
    scaler: Option<LossScaler>,
    /// bf16 mixed precision: bfloat16 copies of the network, one per device, run the forward
    /// and backward passes; the float32 network above keeps the master weights the optimiser
    /// steps (Apex's O2 recipe).
    low: Vec<OSTrack>,
}

/// Dynamic loss scaling for fp16 training, as `torch.cuda.amp.GradScaler`: the loss is
/// multiplied by `scale` before the backward pass and the gradients divided by it after; a step
/// whose gradients overflow is skipped and the scale halved; after `growth_interval` good steps
/// the scale doubles.
#[derive(Debug, Clone, PartialEq)]
pub struct LossScaler {
    /// The current scale.
    pub scale: f64,
    /// Good steps since the scale last changed.
    pub good_steps: i64,
    /// Good steps before the scale doubles.
    pub growth_interval: i64,
    /// Steps skipped because of overflowing gradients.
    pub skipped: i64,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self { scale: 65536.0, good_steps: 0, growth_interval: 2000, skipped: 0 }
    }
}

impl LossScaler {
    /// After the backward pass: whether the gradients were finite (the step may be taken), with
    /// the scale updated either way.
    pub(crate) fn update(&mut self, finite: bool) -> bool {
        if finite {
            self.good_steps += 1;
            if self.good_steps >= self.growth_interval {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(1.0);
            self.good_steps = 0;
            self.skipped += 1;
        }
        finite
    }
}

impl Trainer {
    /// A fresh run.
    pub fn new(cfg: &Config, device: Device, seed: u64, init: &Init) -> Result<Self> {
        let mut model = OSTrack::new(cfg, Parts::All, device);
        model.randomize(seed as i64);
        let prompt_tuning = cfg.model.prompt.is_some();
        match init {
            Init::Random => {}
            // ViPT starts from an OSTrack checkpoint that has no prompt modules.
            Init::Weights(p) if prompt_tuning => model.load_foundation(p)?,
            Init::Weights(p) => model.load_resizing_positions(p)?,
            Init::Resume(p) if prompt_tuning => model.load_foundation(p)?,
            Init::Resume(p) => model.load(p)?,
            Init::Pretrained(p) => {
                load_pretrained(&mut model, p)?;
            }
        }
        // ViPT trains only the prompt modules, as one parameter group at the full rate.
        let multiplier = if prompt_tuning {
            let n = model.freeze_all_but_prompts();
            tracing::info!("prompt tuning: {n} trainable parameters (the OSTrack part is frozen)");
            1.0
        } else {
            cfg.train.backbone_multiplier
        };
        let optim = AdamW::new(&model.vs.variables(), cfg.train.weight_decay, multiplier);
        let state = TrainState { config: cfg.name.clone(), epoch: 0, step: 0, seed, epochs: cfg.train.epochs };
        Ok(Self { model, optim, state, device, replicas: Vec::new(), scaler: None, low: Vec::new() })
    }

    /// Trains with `precision` (call it after [`Trainer::set_devices`]):
    /// - `fp32`;
    /// - `fp16`, on CUDA: the forward pass under autocast, float32 weights and optimiser, dynamic
    ///   loss scaling;
    /// - `bf16`: bfloat16 copies of the network (one per device) compute the forward and backward
    ///   passes, their gradients are summed into the float32 master weights that AdamW steps, and
    ///   the copies are refreshed after each step. tch 0.24 cannot set autocast's dtype, so bf16
    ///   uses master weights instead of autocast; bf16's float32 range needs no loss scaling.
    pub fn set_precision(&mut self, precision: &str) -> Result<()> {
        self.scaler = None;
        self.low.clear();
        match precision {
            "fp32" => {}
            "fp16" => {
                if !matches!(self.device, Device::Cuda(_)) {
                    bail!("fp16 mixed-precision training runs on CUDA devices; on {:?} use fp32 or bf16", self.device);
                }
                self.scaler = Some(LossScaler::default());
            }
            "bf16" => {
                let devices: Vec<Device> = std::iter::once(self.device).chain(self.replicas.iter().map(|r| r.vs.device())).collect();
                self.replicas.clear();
                self.low = devices.into_iter().map(|d| self.replica(d, Kind::BFloat16)).collect();
                // The master never runs a backward pass itself: give its parameters gradients
                // (zeros) for the copies' gradients to be summed into.
                let params: Vec<Tensor> = self.model.vs.variables().into_values().filter(Tensor::requires_grad).collect();
                if !params.is_empty() {
                    let zero = params.iter().map(|p| (p * 0.0).sum(Kind::Float)).fold(Tensor::from(0.0f32), |a, b| a + b);
                    zero.backward();
                }
                self.sync_replicas()?;
            }
            other => bail!("unknown training precision `{other}`: fp32, fp16 or bf16"),
        }
        Ok(())
    }

    /// The loss scaler of fp16 training, if any.
    pub fn scaler(&self) -> Option<&LossScaler> {
        self.scaler.as_ref()
    }

    /// Scales the loss like fp16 training (on any device: autocast itself is CUDA's), for
    /// checking the scaler's mechanics without a GPU.
    pub fn set_loss_scaler(&mut self, scaler: Option<LossScaler>) {
        self.scaler = scaler;
    }

    /// Trains data-parallel on `devices` (the first must be the trainer's own device): one
    /// replica of the network on each further device, synchronised now and after every step.
    pub fn set_devices(&mut self, devices: &[Device]) -> Result<()> {
        match devices.first() {
            Some(d) if *d == self.device => {}
            _ => bail!("data-parallel devices must start with the trainer's device {:?}", self.device),
        }
        let kind = self.kind();
        self.replicas = devices[1..].iter().map(|&d| self.replica(d, kind)).collect();
        self.sync_replicas()
    }

    /// A copy of the network's shape on `device` in `kind`, training exactly the parameters the
    /// master trains (ViPT's prompts only; not a frozen stem). Its weights come with the next
    /// [`Trainer::sync_replicas`].
    fn replica(&self, device: Device, kind: Kind) -> OSTrack {
        let mut r = OSTrack::new(&self.model.cfg, Parts::All, device);
        if kind != Kind::Float {
            r.set_kind(kind);
        }
        let master = self.model.vs.variables();
        for (name, v) in r.vs.variables() {
            if let Some(p) = master.get(&name) {
                let _ = v.set_requires_grad(p.requires_grad());
            }
        }
        r
    }

    /// Trains in `kind` (Double: a float64 reference run, as the golden tests use): converts the
    /// network and starts the optimiser's moments afresh in that precision. Call it before the
    /// first step and before [`Trainer::set_devices`].
    pub fn set_kind(&mut self, kind: Kind) {
        self.model.set_kind(kind);
        let cfg = &self.model.cfg;
        let multiplier = if cfg.model.prompt.is_some() { 1.0 } else { cfg.train.backbone_multiplier };
        self.optim = AdamW::new(&self.model.vs.variables(), cfg.train.weight_decay, multiplier);
    }

    /// The precision the network trains in.
    pub fn kind(&self) -> Kind {
        self.model.kind()
    }

    /// How many replicas take a shard of each batch.
    pub fn replica_count(&self) -> usize {
        if self.low.is_empty() { 1 + self.replicas.len() } else { self.low.len() }
    }

    /// The networks that run the forward and backward passes: the bf16 copies, or the master
    /// and its replicas.
    fn compute_models(&self) -> Vec<&OSTrack> {
        if self.low.is_empty() { std::iter::once(&self.model).chain(self.replicas.iter()).collect() } else { self.low.iter().collect() }
    }

    fn sync_replicas(&mut self) -> Result<()> {
        for r in self.replicas.iter_mut().chain(self.low.iter_mut()) {
            r.vs.copy(&self.model.vs).map_err(|e| anyhow::anyhow!("cannot copy the weights to a replica: {e}"))?;
        }
        Ok(())
    }

    /// Continues from a checkpoint: weights, optimiser moments and run state.
    pub fn resume(cfg: &Config, device: Device, path: &Path) -> Result<Self> {
        let state = checkpoint::read_state(path)?;
        if state.config != cfg.name {
            // Another preset's tensors would fail to load one by one (or, worse, load into a
            // network of the same shape trained on another recipe): one line naming both.
            bail!("{}", checkpoint::preset_mismatch(path, &state.config, &cfg.name));
        }
        let mut t = Self::new(cfg, device, state.seed, &Init::Resume(path.to_path_buf()))?;
        t.optim.load_state(&checkpoint::read_tensors(path)?, state.step)?;
        t.state = TrainState { epochs: cfg.train.epochs, ..state };
        Ok(t)
    }

    /// One optimiser step on a batch of epoch `epoch` (1-based; sets the LR and CE schedule).
    pub fn step(&mut self, batch: &Batch) -> Result<StepStats> {
        batch.validate()?;
        let cfg = &self.model.cfg;
        let t = &cfg.train;
        let lr = optim::lr_at(t, batch.epoch);
        let keep = optim::ce_keep_at(t, cfg.model.ce_keep_ratio.first().copied().unwrap_or(1.0), batch.epoch);
        let (giou_w, l1_w, clip) = (t.giou_weight, t.l1_weight, t.grad_clip_norm);
        // ViPT's FIX_BN: the frozen head's BatchNorm keeps its running statistics.
        let head_train = cfg.model.prompt.is_none();
        let n = self.replica_count() as i64;
        if batch.size % n != 0 {
            bail!("batch {}/{} has {} samples, which {n} replicas cannot share equally", batch.epoch, batch.index, batch.size);
        }
        let shard = batch.size / n;
        let (z, x, gt) = batch.tensors(Device::Cpu);
        // Stochastic depth draws from libtorch's global generator. Seeding it from the run seed
        // and the step makes each step's draws a function of where the run stands, which a
        // checkpoint records, so a resumed run drops the same paths as an uninterrupted one.
        tch::manual_seed((sample_seed(self.state.seed, -1, self.state.step, 0) >> 1) as i64);
        self.optim.zero_grad();
        for r in self.replicas.iter().chain(self.low.iter()) {
            for (_, v) in r.vs.variables() {
                let mut g = v.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
        }
        let mut sums = [0.0f64; 5];
        let scale = self.scaler.as_ref().map_or(1.0, |s| s.scale);
        let autocast = self.scaler.is_some() && matches!(self.device, Device::Cuda(_));
        let models = self.compute_models();
        for i in 0..n {
            let model = models[i as usize];
            let device = model.vs.device();
            let kind = model.kind();
            let part = |t: &Tensor| t.narrow(0, i * shard, shard).to_device(device).to_kind(kind);
            let (zi, xi, gti) = (part(&z), part(&x), part(&gt));
            let (backbone, head) = (model.backbone()?, model.head()?);
            let maps = tch::autocast(autocast, || {
                let out = backbone.forward(&zi, &xi, true, Some(keep), true);
                head.forward_t(&head.tokens_to_map(&out.tokens), head_train)
            });
            // The loss in float32, outside autocast, as PyTorch's AMP recipe has it.
            let maps = if autocast || kind == Kind::BFloat16 { maps.to_kind(Kind::Float) } else { maps };
            let l = loss::ostrack_loss(&maps, &gti, giou_w, l1_w)?;
            if !l.loss.is_finite() {
                bail!("loss is {} at epoch {} batch {} (replica {i}): training diverged", l.loss, batch.epoch, batch.index);
            }
            // Each shard's loss over n: the summed gradients are DDP's average. fp16 scales it.
            if n == 1 && scale == 1.0 {
                l.total.backward()
            } else {
                (&l.total * (scale / n as f64)).backward()
            };
            for (s, v) in sums.iter_mut().zip([l.loss, l.giou, l.l1, l.focal, l.iou]) {
                *s += v / n as f64;
            }
        }
        drop(models);
        self.reduce_gradients();
        if let Some(scaler) = self.scaler.as_mut() {
            let finite = self.optim.unscale_grads(scaler.scale);
            if !scaler.update(finite) {
                // Overflow: no step, a smaller scale next time (GradScaler's skip).
                self.optim.zero_grad();
                self.state.step += 1;
                let [loss, giou, l1, focal, iou] = sums;
                return Ok(StepStats { loss, giou, l1, focal, iou, grad_norm: f64::INFINITY, lr, keep });
            }
        }
        let grad_norm = self.optim.clip_grad_norm(clip);
        self.optim.step(lr);
        self.keep_low_statistics();
        self.sync_replicas()?;
        self.state.step += 1;
        let [loss, giou, l1, focal, iou] = sums;
        Ok(StepStats { loss, giou, l1, focal, iou, grad_norm, lr, keep })
    }

    /// bf16: the BatchNorm statistics the first copy gathered become the master's (DDP's
    /// buffers from rank 0), before the copies are refreshed from the master.
    fn keep_low_statistics(&mut self) {
        let Some(first) = self.low.first() else { return };
        let master = self.model.vs.variables();
        let _guard = tch::no_grad_guard();
        for (name, v) in first.vs.variables() {
            if name.contains("running_")
                && let Some(m) = master.get(&name)
            {
                let mut m = m.shallow_clone();
                m.copy_(&v.to_kind(m.kind()).to_device(m.device()));
            }
        }
    }

    /// Adds every replica's (or bf16 copy's) gradients into the master's, device to device.
    fn reduce_gradients(&mut self) {
        if self.replicas.is_empty() && self.low.is_empty() {
            return;
        }
        let primary = self.model.vs.variables();
        let _guard = tch::no_grad_guard();
        for r in self.replicas.iter().chain(self.low.iter()) {
            for (name, v) in r.vs.variables() {
                let g = v.grad();
                if !g.defined() {
                    continue;
                }
                let Some(p) = primary.get(&name) else { continue };
                let mut pg = p.grad();
                if pg.defined() {
                    let _ = pg.g_add_(&g.to_device(p.device()).to_kind(pg.kind()));
                }
            }
        }
    }

    /// Writes the full checkpoint (weights, moments, state) to `path`, atomically.
    pub fn write_checkpoint(&self, path: &Path) -> Result<checkpoint::Written> {
        let mut tensors: Vec<(String, Tensor)> = self.model.vs.variables().into_iter().collect();
        tensors.extend(self.optim.state());
        checkpoint::write(path, &tensors, &[(STATE_KEY, serde_json::to_string(&self.state)?)])
    }

    /// Writes the weights only, with the state for reference (what tracking loads), atomically.
    pub fn write_weights(&self, path: &Path) -> Result<checkpoint::Written> {
        let tensors: Vec<(String, Tensor)> = self.model.vs.variables().into_iter().collect();
        checkpoint::write(path, &tensors, &[(STATE_KEY, serde_json::to_string(&self.state)?)])
    }
}

/// What a `--pretrained` file holds, told from its key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PretrainedKind {
    /// An MAE ViT encoder (`cls_token`, `blocks.N.*`), as `trackflow convert mae` writes it
    /// (`backbone.` prefixed) or as the official file names it (optionally `model.` prefixed).
    Mae,
    /// ImageNet MobileNetV2 `features.*` for the hybrid stem (`trackflow convert mobilenetv2`).
    MobileNetV2,
}

/// A pretrained file's key without the prefixes the files in circulation add: `model.` (the
/// official MAE file) and `backbone.` (`trackflow convert mae` and `convert mobilenetv2`).
fn bare_key(k: &str) -> &str {
    let k = k.strip_prefix("model.").unwrap_or(k);
    k.strip_prefix("backbone.").unwrap_or(k)
}

/// Tells the kind of a pretrained file from its key names; an OSTrack checkpoint or anything
/// else is a one-line error naming what was expected.
pub(crate) fn pretrained_kind(path: &Path, keys: &[&str]) -> Result<PretrainedKind> {
    if keys.iter().any(|k| k.starts_with("box_head.")) {
        bail!(
            "{}: this is a trained tracker checkpoint (it has box_head.* weights), not pretrained backbone weights; start from it with --init instead of --pretrained",
            path.display()
        );
    }
    if keys.iter().any(|k| bare_key(k).starts_with("patch_embed.features.") || bare_key(k).starts_with("features.")) {
        return Ok(PretrainedKind::MobileNetV2);
    }
    if keys.iter().any(|k| bare_key(k).starts_with("blocks.0.")) {
        return Ok(PretrainedKind::Mae);
    }
    let shown: Vec<&str> = keys.iter().copied().take(5).collect();
    bail!(
        "{}: expected MAE ViT encoder weights (cls_token, blocks.0.*) or ImageNet MobileNetV2 weights (features.*), found keys like {}",
        path.display(),
        shown.join(", ")
    )
}

/// Loads pretrained backbone weights: an MAE ViT encoder or ImageNet MobileNetV2 features (see
/// [`PretrainedKind`]). Every tensor the model expects from that kind must be in the file; the
/// missing ones are named. Prints how many tensors were loaded.
pub fn load_pretrained(model: &mut OSTrack, path: &Path) -> Result<usize> {
    let tensors = checkpoint::read_tensors(path)?;
    let mut keys: Vec<&str> = tensors.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let kind = pretrained_kind(path, &keys)?;
    let stem = model.cfg.model.stem;
    match (kind, stem) {
        (PretrainedKind::Mae, crate::model::Stem::MobileNetV2) => bail!(
            "{}: MAE ViT weights, but config `{}` uses the mobilenetv2 stem; give it MobileNetV2 weights (`trackflow convert mobilenetv2`)",
            path.display(),
            model.cfg.name
        ),
        (PretrainedKind::MobileNetV2, crate::model::Stem::Patch) => bail!(
            "{}: MobileNetV2 weights, but config `{}` has OSTrack's patch stem; use a preset with `stem \"mobilenetv2\"` or give MAE weights",
            path.display(),
            model.cfg.name
        ),
        _ => {}
    }
    let n = match kind {
        PretrainedKind::Mae => load_mae(model, path, &tensors)?,
        PretrainedKind::MobileNetV2 => load_mobilenet(model, path, &tensors)?,
    };
    tracing::info!(
        "pretrained: {n} {} tensors loaded from {}",
        if kind == PretrainedKind::Mae { "MAE encoder" } else { "MobileNetV2" },
        path.display()
    );
    Ok(n)
}

/// The MAE encoder into the backbone. Keys may carry `model.` (official file) or `backbone.`
/// (`trackflow convert mae`); the decoder and mask token are ignored; `pos_embed`'s patch grid is
/// resized bicubically to both crop grids unless the file already holds them resized.
fn load_mae(model: &mut OSTrack, path: &Path, tensors: &HashMap<String, Tensor>) -> Result<usize> {
    let cfg = model.cfg.clone();
    let mut tensors: HashMap<String, Tensor> = tensors.iter().map(|(k, v)| (bare_key(k).to_string(), v.shallow_clone())).collect();
    if let Some(v) = tensors.get("pos_embed").map(Tensor::shallow_clone) {
        let d = cfg.model.embed_dim;
        let n = v.size()[1] - 1;
        let side = (n as f64).sqrt() as i64;
        if side * side != n || v.size()[2] != d {
            bail!("{}: pos_embed {:?} is not 1 + a square grid of width {d}", path.display(), v.size());
        }
        let _g = tch::no_grad_guard();
        let grid = v.narrow(1, 1, n);
        for (key, f) in [("pos_embed_z", cfg.template_feat()), ("pos_embed_x", cfg.search_feat())] {
            // A file from `trackflow convert mae` holds them already (resized the same way).
            tensors.entry(key.to_string()).or_insert_with(|| crate::model::resize_token_grid(&grid, side, f));
        }
    }
    load_renamed(
        model,
        path,
        "MAE",
        &tensors,
        |k| (!k.starts_with("decoder") && k != "mask_token").then(|| format!("backbone.{k}")),
        |name| name.starts_with("backbone.") && !crate::model::is_prompt_key(name),
    )
}

/// ImageNet MobileNetV2 `features.*` into the hybrid stem (`backbone.patch_embed.features.*`);
/// blocks past the stem's `stem-layers` (and a classifier) are skipped.
fn load_mobilenet(model: &mut OSTrack, path: &Path, tensors: &HashMap<String, Tensor>) -> Result<usize> {
    load_renamed(
        model,
        path,
        "MobileNetV2",
        tensors,
        |k| {
            let k = bare_key(k);
            let k = k.strip_prefix("patch_embed.").unwrap_or(k);
            (k.starts_with("features.") && !k.ends_with("num_batches_tracked")).then(|| format!("backbone.patch_embed.{k}"))
        },
        |name| crate::model::mobilenet::stem_block(name).is_some(),
    )
}

/// Copies each file tensor into the model variable `model_name` gives it (`None`: skipped;
/// names the model lacks: skipped too, e.g. MobileNetV2 blocks past the stem). Fails naming every
/// shape mismatch and every `expected` variable left unfilled; returns how many were filled.
fn load_renamed(
    model: &mut OSTrack,
    path: &Path,
    what: &str,
    tensors: &HashMap<String, Tensor>,
    model_name: impl Fn(&str) -> Option<String>,
    expected: impl Fn(&str) -> bool,
) -> Result<usize> {
    // Folded BatchNorm copies would no longer match the weights written below.
    model.fold_batchnorm(false);
    let mut vars = model.vs.variables();
    let _g = tch::no_grad_guard();
    let mut loaded = std::collections::BTreeSet::new();
    let mut mismatched = Vec::new();
    for (k, v) in tensors {
        let Some(name) = model_name(k) else { continue };
        match vars.get_mut(&name) {
            Some(dst) if dst.size() == v.size() => {
                dst.copy_(&v.to_kind(dst.kind()).to_device(dst.device()));
                loaded.insert(name);
            }
            Some(dst) => mismatched.push(format!("{name}: file {:?}, model {:?}", v.size(), dst.size())),
            None => {}
        }
    }
    let mut missing: Vec<&String> = vars.keys().filter(|k| expected(k) && !loaded.contains(*k)).collect();
    missing.sort();
    mismatched.sort();
    if missing.is_empty() && mismatched.is_empty() {
        return Ok(loaded.len());
    }
    let mut msg = format!("{}: {what} weights do not fit config `{}`:", path.display(), model.cfg.name);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        msg.push_str(&format!("\n  {} missing: {}", missing.len(), names.join(", ")));
    }
    if !mismatched.is_empty() {
        msg.push_str(&format!("\n  {} shape mismatch:\n    {}", mismatched.len(), mismatched.join("\n    ")));
    }
    bail!(msg)
}

/// Trains in one process (no dataflow) for `epochs` epochs, for the library's own tests of
/// resume; the CLI always trains through `dataflows/train.kdl`, whose nodes take the same steps.
pub fn train_in_process(
    trainer: &mut Trainer,
    loader: &mut Loader,
    epochs: i64,
    batches_per_epoch: i64,
    window: usize,
) -> Result<Vec<StepStats>> {
    let mut stats = Vec::new();
    let order: Vec<(i64, i64)> = (trainer.state.epoch + 1..=epochs).flat_map(|e| (0..batches_per_epoch).map(move |b| (e, b))).collect();
    let mut next = 0;
    for (epoch, index) in order.iter().copied() {
        while next < order.len() && loader.pending() < window.max(1) {
            loader.request(order[next].0, order[next].1, trainer.model.cfg.train.batch_size)?;
            next += 1;
        }
        let batch = loop {
            if let Some(b) = loader.next_ready(std::time::Duration::from_secs(1))? {
                break b;
            }
        };
        debug_assert_eq!((batch.epoch, batch.index), (epoch, index));
        stats.push(trainer.step(&batch)?);
        if index + 1 == batches_per_epoch {
            trainer.state.epoch = epoch;
        }
    }
    Ok(stats)
}
