//! Training: the loss terms against hand-computed values, AdamW against its update rule, the
//! schedules, the sampler's robustness (partial downloads, unreadable images, mismatched
//! ratio lists), exact resume, and the training dataflow under the real dora CLI.

use std::path::Path;
use std::sync::Arc;

use tch::{Device, Kind, Tensor};
use trackflow::data::datasets::{PairKind, TrainDataset, got10k};
use trackflow::model::Config;
use trackflow::train::checkpoint;
use trackflow::train::loss::{focal_loss, gaussian_radius, giou, heatmap};
use trackflow::train::optim::{AdamW, ce_keep_at, lr_at};
use trackflow::train::sampler::{PairSampler, paste_distractor};
use trackflow::train::{Init, Loader, Trainer, train_in_process};

use crate::common::{TempDir, run, synth, trackflow, wait_until};

/// The demo model's first-stage preset shrunk further so a step takes milliseconds.
pub(crate) fn small_cfg() -> Config {
    let mut c = Config::from_name("demo_base").unwrap();
    c.model.embed_dim = 32;
    c.model.num_heads = 2;
    c.model.depth = 2;
    c.model.ce_loc = vec![1];
    c.model.ce_keep_ratio = vec![0.7];
    c.model.head_channels = 16;
    c.train.batch_size = 4;
    c.train.sample_per_epoch = 8;
    c.train.ce_start_epoch = 1;
    c.train.ce_warm_epoch = 2;
    c
}

fn synth_dataset(dir: &Path, n: usize, frames: usize) -> TrainDataset {
    let data = synth(dir, n, frames, 3);
    TrainDataset { name: "SYNTH".into(), pairs: PairKind::Video, sequences: got10k(&data, None, "SYNTH").unwrap() }
}

#[test]
fn gaussian_radius_and_heatmap_follow_centernet() {
    // The three roots by hand for a 4×4 box (a, b, c as in the spec), and their minimum.
    let (w, h) = (4.0f64, 4.0f64);
    let r1 = (8.0 + (64.0f64 - 4.0 * (16.0 * 0.3 / 1.7)).sqrt()) / 2.0;
    let r2 = (16.0 + (256.0f64 - 16.0 * 0.3 * 16.0).sqrt()) / 2.0;
    let r3 = (-11.2 + (11.2f64 * 11.2 + 4.0 * 2.8 * 0.3 * 16.0).sqrt()) / 2.0;
    assert!((gaussian_radius(w, h) - r1.min(r2).min(r3)).abs() < 1e-12);
    // A box centred on cell (5, 6) of a 16×16 map: peak exactly 1 there, symmetric falloff.
    let b = [4.0 / 16.0, 5.0 / 16.0, 2.0 / 16.0, 2.0 / 16.0];
    let m = heatmap(b, 16);
    assert_eq!(m[6 * 16 + 5], 1.0);
    assert_eq!(m.iter().filter(|v| **v == 1.0).count(), 1);
    assert_eq!(m[6 * 16 + 4], m[6 * 16 + 6]);
    // Centre off the map: no positive cell at all.
    assert!(heatmap([1.5, 0.5, 0.1, 0.1], 16).iter().all(|v| *v == 0.0));
}

#[test]
fn focal_and_giou_match_hand_values() {
    // p = 0.5 everywhere, one positive of four: −(log .5·.25 + 3·log .5·.25) / 1 = ln 2.
    let pred = Tensor::from_slice(&[0.5f32; 4]).view([1, 1, 2, 2]);
    let gt = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 0.0]).view([1, 1, 2, 2]);
    assert!((focal_loss(&pred, &gt).double_value(&[]) - std::f64::consts::LN_2).abs() < 1e-6);
    // No positive: the un-normalised negative sum, −4·log .5·.25.
    let gt0 = Tensor::zeros([1, 1, 2, 2], (Kind::Float, Device::Cpu));
    assert!((focal_loss(&pred, &gt0).double_value(&[]) - std::f64::consts::LN_2).abs() < 1e-6);
    let a = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]).view([2, 4]);
    let b = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 1.0, 2.0, 0.0, 3.0, 1.0]).view([2, 4]);
    let (g, iou) = giou(&a, &b);
    let g: Vec<f32> = Vec::try_from(g).unwrap();
    let iou: Vec<f32> = Vec::try_from(iou).unwrap();
    assert_eq!(iou, vec![1.0, 0.0]);
    // Disjoint unit squares 1 apart: enclosing area 3, union 2, GIoU = 0 − 1/3.
    assert!((g[0] - 1.0).abs() < 1e-6 && (g[1] + 1.0 / 3.0).abs() < 1e-6);
}

#[test]
fn adamw_follows_its_update_rule_with_group_learning_rates() {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let bb = (&root / "backbone").var("w", &[1], tch::nn::Init::Const(1.0));
    let hd = (&root / "box_head").var("w", &[1], tch::nn::Init::Const(1.0));
    let mut opt = AdamW::new(&vs.variables(), 0.01, 0.1);
    let (lr, wd) = (0.1f64, 0.01f64);
    // Reference in f64: decoupled decay, bias-corrected moments.
    let reference = |p: &mut f64, m: &mut f64, v: &mut f64, g: f64, lr: f64, t: i32| {
        *p *= 1.0 - lr * wd;
        *m = 0.9 * *m + 0.1 * g;
        *v = 0.999 * *v + 0.001 * g * g;
        *p -= lr * (*m / (1.0 - 0.9f64.powi(t))) / ((*v / (1.0 - 0.999f64.powi(t))).sqrt() + 1e-8);
    };
    let (mut pb, mut mb, mut vb, mut ph, mut mh, mut vh) = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
    for t in 1..=3 {
        opt.zero_grad();
        let loss = (&bb * 2.0 + &hd * &hd * 3.0).sum(Kind::Float);
        loss.backward();
        let (gb, gh) = (2.0, 6.0 * ph);
        opt.step(lr);
        reference(&mut pb, &mut mb, &mut vb, gb, lr * 0.1, t);
        reference(&mut ph, &mut mh, &mut vh, gh, lr, t);
        assert!((bb.double_value(&[0]) - pb).abs() < 1e-6, "backbone step {t}");
        assert!((hd.double_value(&[0]) - ph).abs() < 1e-6, "head step {t}");
    }
    // Clipping scales the global norm down to the limit.
    opt.zero_grad();
    (&bb * 30.0 + &hd * 40.0).sum(Kind::Float).backward();
    assert!((opt.clip_grad_norm(0.1) - 50.0).abs() < 1e-4);
    let clipped = (bb.grad().pow_tensor_scalar(2.0) + hd.grad().pow_tensor_scalar(2.0)).sum(Kind::Float).sqrt().double_value(&[]);
    assert!((clipped - 0.1).abs() < 1e-5);
}

#[test]
fn schedules_match_ostrack() {
    let cfg = Config::default();
    let t = &cfg.train;
    assert_eq!(lr_at(t, 1), 4e-4);
    assert_eq!(lr_at(t, 240), 4e-4);
    assert!((lr_at(t, 241) - 4e-5).abs() < 1e-12);
    assert_eq!(ce_keep_at(t, 0.7, 19), 1.0);
    assert_eq!(ce_keep_at(t, 0.7, 20), 1.0);
    assert!((ce_keep_at(t, 0.7, 60) - 0.85).abs() < 1e-12);
    assert_eq!(ce_keep_at(t, 0.7, 100), 0.7);
}

#[test]
fn samples_are_deterministic_and_boxes_land_in_the_crop() {
    let dir = TempDir::new("sampler");
    let cfg = small_cfg();
    let s = PairSampler::new(vec![synth_dataset(dir.path(), 3, 25)], &[1.0], &cfg).unwrap();
    let a = s.sample(11).unwrap();
    let b = s.sample(11).unwrap();
    assert_eq!(a.search, b.search);
    assert_eq!(a.search_box, b.search_box);
    assert_eq!(a.template.len(), 3 * 64 * 64);
    assert_eq!(a.search.len(), 3 * 128 * 128);
    for seed in 0..20 {
        let x = s.sample(seed).unwrap();
        let [bx, by, bw, bh] = x.search_box;
        // Search factor 4 and centre jitter 3: the target is a quarter of the crop wide and its
        // centre stays inside the crop.
        assert!(bw > 0.05 && bw < 0.6 && bh > 0.05 && bh < 0.6, "{:?}", x.search_box);
        let (cx, cy) = (bx + bw / 2.0, by + bh / 2.0);
        assert!((0.0..=1.0).contains(&cx) && (0.0..=1.0).contains(&cy), "{:?}", x.search_box);
    }
    // The same batch whichever number of loader threads made it.
    let s = Arc::new(s);
    let batch = |workers| {
        let mut l = Loader::new(s.clone(), &cfg, workers, 5, 4);
        l.request(1, 0, 4).unwrap();
        l.request(1, 1, 4).unwrap();
        let mut out = Vec::new();
        while out.len() < 2 {
            if let Some(b) = l.next_ready(std::time::Duration::from_secs(5)).unwrap() {
                out.push(b);
            }
        }
        out
    };
    assert_eq!(batch(1), batch(3));
}

#[test]
fn distractor_is_a_recoloured_copy_and_the_box_follows_the_target() {
    use trackflow::base::image::Image;
    use trackflow::base::rng::Pcg;
    // A 64-px crop of grey noise with a 12×10 target of distinct colours at (20, 24).
    let mut rng = Pcg::new(5);
    let mut crop = Image { width: 64, height: 64, channels: 3, data: (0..64 * 64 * 3).map(|_| (rng.uniform() * 60.0) as u8).collect() };
    let (tx, ty, tw, th) = (20usize, 24usize, 12usize, 10usize);
    for y in ty..ty + th {
        for x in tx..tx + tw {
            let i = (y * 64 + x) * 3;
            crop.data[i..i + 3].copy_from_slice(&[200, (x * 9) as u8, (y * 7) as u8]);
        }
    }
    let target: Vec<u8> = (ty..ty + th).flat_map(|y| crop.data[(y * 64 + tx) * 3..(y * 64 + tx + tw) * 3].to_vec()).collect();
    let pixels = |im: &Image, x: usize, y: usize| -> Vec<u8> {
        (y..y + th).flat_map(|r| im.data[(r * 64 + x) * 3..(r * 64 + x + tw) * 3].to_vec()).collect()
    };
    let b = [tx as f64 / 64.0, ty as f64 / 64.0, tw as f64 / 64.0, th as f64 / 64.0];
    let (mut stayed, mut moved) = (0, 0);
    for seed in 0..40 {
        let mut im = crop.clone();
        let out = paste_distractor(&mut im, b, &mut Pcg::new(seed));
        let (ox, oy) = ((out[0] * 64.0).round() as usize, (out[1] * 64.0).round() as usize);
        assert_eq!(&out[2..], &b[2..], "the size is kept");
        // Whatever happened, the returned box holds the target's own pixels.
        assert_eq!(pixels(&im, ox, oy), target, "seed {seed}: the box is on the target");
        // And one other target-sized place holds a copy of other colours.
        let changed: Vec<usize> = (0..64 * 64).filter(|&i| im.data[i * 3..i * 3 + 3] != crop.data[i * 3..i * 3 + 3]).collect();
        assert!(!changed.is_empty(), "seed {seed}: a distractor was pasted");
        if (ox, oy) == (tx, ty) {
            stayed += 1;
            assert!(changed.len() <= tw * th, "only the copy's place changed");
        } else {
            moved += 1;
            assert!(changed.len() <= 2 * tw * th, "only the two places changed");
            let old = pixels(&im, tx, ty);
            // The target's red channel is 200 everywhere; a permuted, rescaled copy keeps no
            // channel at a constant 200.
            assert!((0..3).all(|k| old.chunks(3).any(|p| p[k] != 200)), "seed {seed}: the old place shows the recoloured copy");
        }
    }
    // Both ways happen, so the pasted patch's edges do not tell which one is the target.
    assert!(stayed > 5 && moved > 5, "stayed {stayed}, moved {moved}");
    // A target cut by the crop's border is left alone.
    let mut im = crop.clone();
    let edge = [-0.05, 0.2, 0.2, 0.2];
    assert_eq!(paste_distractor(&mut im, edge, &mut Pcg::new(1)), edge);
    assert_eq!(im.data, crop.data);
}

#[test]
fn motion_blur_smears_along_its_direction_and_keeps_uniform_patches() {
    use trackflow::base::image::Image;
    use trackflow::train::sampler::motion_blur;
    // One white pixel at (10, 10) of a black 21×21 crop.
    let mut dot = Image { width: 21, height: 21, channels: 3, data: vec![0; 21 * 21 * 3] };
    dot.data[(10 * 21 + 10) * 3..][..3].fill(255);
    let lit = |im: &Image| -> Vec<(usize, usize, u8)> {
        (0..21 * 21).filter(|i| im.data[i * 3] > 0).map(|i| (i % 21, i / 21, im.data[i * 3])).collect()
    };
    // Horizontal, 5 samples: five pixels of a row, a fifth of the light each.
    let mut im = dot.clone();
    motion_blur(&mut im, 5, 0.0);
    assert_eq!(lit(&im), (8..13).map(|x| (x, 10, 51)).collect::<Vec<_>>());
    // Vertical: a column.
    let mut im = dot.clone();
    motion_blur(&mut im, 5, std::f64::consts::FRAC_PI_2);
    assert_eq!(lit(&im), (8..13).map(|y| (10, y, 51)).collect::<Vec<_>>());
    // Diagonal: the main diagonal through the dot.
    let mut im = dot.clone();
    motion_blur(&mut im, 3, std::f64::consts::FRAC_PI_4);
    assert_eq!(lit(&im), vec![(9, 9, 85), (10, 10, 85), (11, 11, 85)]);
    // One sample is no blur; a uniform crop stays uniform up to its borders.
    let mut im = dot.clone();
    motion_blur(&mut im, 1, 0.3);
    assert_eq!(im.data, dot.data);
    let mut flat = Image { width: 16, height: 9, channels: 6, data: vec![77; 16 * 9 * 6] };
    motion_blur(&mut flat, 11, 2.0);
    assert!(flat.data.iter().all(|v| *v == 77));
}

/// A run may start from weights trained at other crop sizes: the position embeddings are resized
/// to the new token grids; everything else loads as it is. Tracking loads stay strict.
#[test]
fn training_starts_from_weights_of_other_crop_sizes() {
    let dir = TempDir::new("resize-init");
    let cfg = small_cfg();
    let a = Trainer::new(&cfg, Device::Cpu, 7, &Init::Random).unwrap();
    // The search grid's embedding: every channel holds the token's row, so the resized grid
    // must still rise down the rows and stay flat along them.
    let side = cfg.search_feat();
    let d = cfg.model.embed_dim;
    let ramp =
        Tensor::arange(side, (Kind::Float, Device::Cpu)).view([side, 1, 1]).expand([side, side, d], false).reshape([1, side * side, d]);
    tch::no_grad(|| a.model.vs.variables().get_mut("backbone.pos_embed_x").unwrap().copy_(&ramp));
    let file = dir.path().join("a.safetensors");
    a.model.save(&file).unwrap();
    let mut bigger = cfg.clone();
    bigger.data.search_size += 32;
    bigger.data.template_size += 16;
    let b = Trainer::new(&bigger, Device::Cpu, 8, &Init::Weights(file.clone())).unwrap();
    let va = a.model.vs.variables();
    let vb = b.model.vs.variables();
    for (name, t) in &va {
        let u = &vb[name];
        if name.ends_with("pos_embed_x") || name.ends_with("pos_embed_z") {
            let grid_side = |t: &Tensor| (t.size()[1] as f64).sqrt() as i64;
            assert_eq!(grid_side(u), grid_side(t) + if name.ends_with("_x") { 2 } else { 1 }, "{name}");
            // A smooth resize keeps the embedding's scale.
            let (ma, mb) = (t.abs().mean(Kind::Float).double_value(&[]), u.abs().mean(Kind::Float).double_value(&[]));
            assert!((ma - mb).abs() < 0.5 * ma, "{name}: {ma} vs {mb}");
            if name.ends_with("_x") {
                let to = side + 2;
                let grid = u.reshape([to, to, d]);
                let rows: Vec<f64> = (0..to).map(|r| grid.get(r).mean(Kind::Float).double_value(&[])).collect();
                assert!(rows.windows(2).all(|w| w[1] > w[0]), "rows rise: {rows:?}");
                let across = (&grid - grid.mean_dim(1, true, Kind::Float)).abs().max().double_value(&[]);
                assert!(across < 1e-4, "flat along each row: {across}");
            }
        } else {
            assert!(t.equal(u), "{name} loaded as it is");
        }
    }
    // Tracking with the wrong crop sizes is still an error naming the shapes.
    let mut model = trackflow::model::OSTrack::new(&bigger, trackflow::model::Parts::All, Device::Cpu);
    let err = format!("{:#}", model.load(&file).unwrap_err());
    assert!(err.contains("pos_embed_x") && err.contains("shape mismatch"), "{err}");
}

#[test]
fn ratio_lists_of_different_length_are_a_config_error() {
    let dir = TempDir::new("ratio");
    let p = dir.path().join("bad.kdl");
    std::fs::write(&p, "train {\n    datasets \"LASOT\" \"GOT10K_vottrain\"\n    datasets-ratio 1 1 1 1\n}\n").unwrap();
    let e = Config::load(&p).unwrap_err().render(false);
    assert!(e.contains("bad.kdl:3:"), "{e}");
    assert!(e.contains("2 datasets (LASOT, GOT10K_vottrain)") && e.contains("4 ratios"), "{e}");
    let cfg = small_cfg();
    let err = PairSampler::new(vec![synth_dataset(dir.path(), 1, 25)], &[1.0, 1.0], &cfg).unwrap_err().to_string();
    assert!(err.contains("datasets-ratio") && err.contains("SYNTH"), "{err}");
}

#[test]
fn partial_got10k_download_trains_on_what_is_present() {
    let dir = TempDir::new("partial");
    let data = synth(dir.path(), 3, 25, 9);
    // list.txt names five sequences; two were never extracted. The split points past the list.
    std::fs::write(data.join("list.txt"), "seq_0001\nseq_0002\nseq_0003\nseq_0004\nseq_0005\n").unwrap();
    let split = dir.path().join("split.txt");
    std::fs::write(&split, "0\n2\n3\n4\n7\n").unwrap();
    let seqs = got10k(&data, Some(&split), "GOT10K_vottrain").unwrap();
    let names: Vec<&str> = seqs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["seq_0001", "seq_0003"]);
}

#[test]
fn unreadable_images_are_skipped_then_stop_training_with_the_list() {
    let dir = TempDir::new("corrupt");
    let data = synth(dir.path(), 2, 25, 4);
    // A few bad frames: skipped with a warning, sampling goes on.
    std::fs::write(data.join("seq_0001/00000003.jpg"), b"not a jpeg").unwrap();
    let cfg = small_cfg();
    let ds = TrainDataset { name: "SYNTH".into(), pairs: PairKind::Video, sequences: got10k(&data, None, "SYNTH").unwrap() };
    let mut s = PairSampler::new(vec![ds.clone()], &[1.0], &cfg).unwrap();
    s.max_bad_fraction = 0.5;
    for seed in 0..40 {
        s.sample(seed).unwrap();
    }
    // Every frame bad: an error listing files, not an endless resampling loop.
    for seq in ["seq_0001", "seq_0002"] {
        for f in std::fs::read_dir(data.join(seq)).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "jpg") {
                std::fs::write(&p, b"broken").unwrap();
            }
        }
    }
    let s = PairSampler::new(vec![ds], &[1.0], &cfg).unwrap();
    let err = format!("{:#}", s.sample(1).unwrap_err());
    assert!(err.contains("unreadable images") && err.contains("00000"), "{err}");
}

#[test]
fn training_lowers_the_loss_and_resume_is_exact() {
    tch::set_num_threads(1);
    let dir = TempDir::new("resume");
    let cfg = small_cfg();
    let sampler = Arc::new(PairSampler::new(vec![synth_dataset(dir.path(), 3, 25)], &[1.0], &cfg).unwrap());
    let batches = cfg.train.sample_per_epoch / cfg.train.batch_size;
    // Straight through three epochs.
    let mut a = Trainer::new(&cfg, Device::Cpu, 7, &Init::Random).unwrap();
    let mut la = Loader::new(sampler.clone(), &cfg, 2, 7, 4);
    let stats = train_in_process(&mut a, &mut la, 3, batches, 2).unwrap();
    assert_eq!(stats.len(), 6);
    assert!(stats.iter().all(|s| s.loss.is_finite()));
    // One epoch, a checkpoint written to disk, a new process's worth of state, two more.
    let mut b = Trainer::new(&cfg, Device::Cpu, 7, &Init::Random).unwrap();
    let mut lb = Loader::new(sampler.clone(), &cfg, 1, 7, 4);
    train_in_process(&mut b, &mut lb, 1, batches, 2).unwrap();
    let path = dir.path().join("checkpoints").join(checkpoint::file_name(1));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    b.write_checkpoint(&path).unwrap();
    drop(b);
    let (found, state) = checkpoint::latest(&dir.path().join("checkpoints")).unwrap().unwrap();
    assert_eq!(found, path);
    assert_eq!((state.epoch, state.step, state.seed), (1, 2, 7));
    let mut cfg3 = cfg.clone();
    cfg3.train.epochs = 3;
    let mut c = Trainer::resume(&cfg3, Device::Cpu, &path).unwrap();
    let mut lc = Loader::new(sampler, &cfg, 2, 7, 4);
    let rest = train_in_process(&mut c, &mut lc, 3, batches, 2).unwrap();
    for (x, y) in stats[2..].iter().zip(&rest) {
        assert_eq!(x.loss, y.loss, "a resumed run must see the same batches and state");
    }
    for (name, t) in a.model.vs.variables() {
        let u = &c.model.vs.variables()[&name];
        assert!(t.equal(u), "{name} differs after resume");
    }
    // The weights file a run ends with loads into a tracker as is.
    let w = dir.path().join("w.safetensors");
    c.write_weights(&w).unwrap();
    let mut m = trackflow::model::OSTrack::new(&cfg, trackflow::model::Parts::All, Device::Cpu);
    m.load(&w).unwrap();
    // And a checkpoint (with optimizer state) loads too.
    m.load(&path).unwrap();
}

/// Batch 0 of epoch 1, of `size` samples, from two 25-frame synthetic sequences under `dir`.
fn first_batch(dir: &Path, cfg: &Config, size: i64) -> trackflow::train::Batch {
    let sampler = Arc::new(PairSampler::new(vec![synth_dataset(dir, 2, 25)], &[1.0], cfg).unwrap());
    let mut l = Loader::new(sampler, cfg, 1, 1, 2);
    l.request(1, 0, size).unwrap();
    loop {
        if let Some(b) = l.next_ready(std::time::Duration::from_secs(5)).unwrap() {
            return b;
        }
    }
}

#[test]
fn overfitting_one_batch_drives_the_loss_down() {
    tch::set_num_threads(1);
    let dir = TempDir::new("overfit");
    let cfg = small_cfg();
    let batch = first_batch(dir.path(), &cfg, 8);
    let mut t = Trainer::new(&cfg, Device::Cpu, 3, &Init::Random).unwrap();
    let first = t.step(&batch).unwrap().loss;
    let mut last = first;
    for _ in 0..40 {
        last = t.step(&batch).unwrap().loss;
    }
    assert!(last < 0.6 * first, "loss {first} -> {last}");
}

#[test]
fn train_dataflow_checkpoints_resumes_and_reports_failure() {
    let dir = TempDir::new("train-e2e");
    let data = synth(dir.path(), 3, 25, 21);
    let save = dir.path().join("out");
    let train = |epochs: &str, resume: bool, data: &Path| {
        let mut c = trackflow();
        c.args(["train", "ostrack", "demo_base", "--device", "cpu", "--epochs", epochs, "--set", "trainer.sample-per-epoch=16"])
            .arg("--set")
            .arg("trainer.batch-size=8")
            .arg("--save-dir")
            .arg(&save)
            .arg("--root")
            .arg(format!("synth={}", data.display()));
        if resume {
            c.arg("--resume");
        }
        run(c)
    };
    let o = train("1", false, &data);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Finished training"));
    assert!(save.join("checkpoints").join(checkpoint::file_name(1)).is_file());
    assert!(save.join("loss.svg").is_file() && save.join("loss.png").is_file());
    // Starting again over a checkpoint without --resume would lose it: refused.
    let o = train("2", false, &data);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    let o = train("2", true, &data);
    assert!(o.status.success());
    let weights = save.join("demo_base.safetensors");
    assert_eq!(checkpoint::read_state(&weights).unwrap().epoch, 2);
    let rows: Vec<serde_json::Value> =
        std::fs::read_to_string(save.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let steps: Vec<i64> = rows.iter().map(|r| r["step"].as_i64().unwrap()).collect();
    assert_eq!(steps, [1, 2, 3, 4], "one metrics row per step, none repeated after resume");
    // A run whose data cannot be read fails loudly and never claims to have finished.
    let broken = dir.path().join("broken");
    let data2 = synth(&broken, 2, 25, 5);
    for f in std::fs::read_dir(data2.join("seq_0001")).unwrap().chain(std::fs::read_dir(data2.join("seq_0002")).unwrap()) {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "jpg") {
            std::fs::write(&p, b"x").unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&save);
    let o = train("1", false, &data2);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("Finished training"), "{err}");
    assert!(err.contains("unreadable images"), "{err}");
}

#[test]
fn lasot_trackingnet_and_coco_layouts_are_read() {
    let dir = TempDir::new("layouts");
    let root = dir.path();
    // LaSOT: class folders, occlusion and out-of-view flags hide frames.
    let seq = root.join("lasot/cat/cat-3");
    std::fs::create_dir_all(seq.join("img")).unwrap();
    std::fs::write(seq.join("groundtruth.txt"), "1,2,3,4\n1,2,3,4\n1,2,3,4\n").unwrap();
    for i in 1..=3 {
        std::fs::write(seq.join(format!("img/{i:08}.jpg")), b"").unwrap();
    }
    std::fs::write(seq.join("full_occlusion.txt"), "0,1,0").unwrap();
    std::fs::write(seq.join("out_of_view.txt"), "0,0,1").unwrap();
    let split = root.join("lasot_split.txt");
    std::fs::write(&split, "cat-3\ncat-9\n").unwrap();
    let s = trackflow::data::datasets::lasot(&root.join("lasot"), &split).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].visible, [true, false, false]);
    assert!(s[0].files()[1].ends_with("cat/cat-3/img/00000002.jpg"));
    // TrackingNet: chunks with anno/<name>.txt and frames/<name>/<k>.jpg from 0; absent chunks are fine.
    let anno = root.join("tn/TRAIN_3/anno");
    std::fs::create_dir_all(&anno).unwrap();
    std::fs::write(anno.join("abc.txt"), "1,1,5,5\n2,2,0,0\n").unwrap();
    let frames = root.join("tn/TRAIN_3/frames/abc");
    std::fs::create_dir_all(&frames).unwrap();
    for k in 0..2 {
        std::fs::write(frames.join(format!("{k}.jpg")), b"").unwrap();
    }
    let s = trackflow::data::datasets::trackingnet(&root.join("tn")).unwrap();
    assert_eq!(s[0].visible, [true, false]);
    assert!(s[0].files()[0].ends_with("TRAIN_3/frames/abc/0.jpg"));
    // COCO: each non-crowd object is a one-frame sequence.
    std::fs::create_dir_all(root.join("coco/annotations")).unwrap();
    std::fs::create_dir_all(root.join("coco/images/train2017")).unwrap();
    std::fs::write(root.join("coco/images/train2017/a.jpg"), b"").unwrap();
    std::fs::write(
        root.join("coco/annotations/instances_train2017.json"),
        r#"{"images":[{"id":7,"file_name":"a.jpg","width":9}],"annotations":[
            {"image_id":7,"bbox":[1,2,3,4],"iscrowd":0,"segmentation":[[1,2,3]]},
            {"image_id":7,"bbox":[1,2,3,4],"iscrowd":1}],"categories":[]}"#,
    )
    .unwrap();
    let s = trackflow::data::datasets::coco(&root.join("coco")).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].ground_truth, [[1.0, 2.0, 3.0, 4.0]]);
}

#[test]
fn hybrid_stem_stays_frozen_while_the_rest_trains() {
    tch::set_num_threads(1);
    let dir = TempDir::new("hybrid");
    let mut cfg = small_cfg();
    cfg.model.stem = trackflow::model::Stem::MobileNetV2;
    cfg.model.stem_layers = 12;
    cfg.model.stem_frozen = 11;
    let batch = first_batch(dir.path(), &cfg, 4);
    let mut t = Trainer::new(&cfg, Device::Cpu, 3, &Init::Random).unwrap();
    let before: std::collections::HashMap<String, Tensor> =
        t.model.vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect();
    t.step(&batch).unwrap();
    t.step(&batch).unwrap();
    let after = t.model.vs.variables();
    let changed = |k: &str| !after[k].equal(&before[k]);
    // Blocks 0..=10 keep their (ImageNet) weights and statistics; block 11, the projection and
    // the transformer train.
    for k in [
        "backbone.patch_embed.features.0.0.weight",
        "backbone.patch_embed.features.10.conv.2.weight",
        "backbone.patch_embed.features.4.conv.1.1.running_var",
    ] {
        assert!(!changed(k), "{k} changed");
        assert!(!after[k].requires_grad(), "{k} trains");
    }
    for k in ["backbone.patch_embed.features.11.conv.2.weight", "backbone.patch_embed.proj.weight", "backbone.blocks.0.attn.qkv.weight"] {
        assert!(changed(k), "{k} did not train");
    }
    // BatchNorm statistics are never re-estimated, even in the trainable block.
    assert!(!changed("backbone.patch_embed.features.11.conv.0.1.running_mean"));
}

#[test]
fn synthetic_sets_do_not_depend_on_the_number_of_jobs() {
    let dir = TempDir::new("synth-jobs");
    let opts = trackflow::data::synth::SynthOptions {
        sequences: 3,
        frames: 3,
        width: 64,
        height: 48,
        distractors: 2,
        clutter: true,
        ..Default::default()
    };
    trackflow::data::synth::generate_parallel(&dir.path().join("one"), &opts, 1).unwrap();
    trackflow::data::synth::generate_parallel(&dir.path().join("three"), &opts, 3).unwrap();
    for seq in ["synth_0001", "synth_0002", "synth_0003"] {
        for f in ["00000003.jpg", "groundtruth.txt", "cover.label"] {
            let a = std::fs::read(dir.path().join("one").join(seq).join(f)).unwrap();
            let b = std::fs::read(dir.path().join("three").join(seq).join(f)).unwrap();
            assert_eq!(a, b, "{seq}/{f}");
        }
    }
}

#[test]
fn synthetic_targets_take_the_aspect_range() {
    let dir = TempDir::new("synth-aspect");
    let opts = trackflow::data::synth::SynthOptions {
        sequences: 4,
        frames: 2,
        width: 160,
        height: 120,
        distractors: 1,
        aspect: (0.3, 0.32),
        ..Default::default()
    };
    trackflow::data::synth::generate(&dir.path().join("tall"), &opts).unwrap();
    for seq in ["synth_0001", "synth_0002", "synth_0003", "synth_0004"] {
        let b = trackflow::data::sequence::read_boxes(&dir.path().join("tall").join(seq).join("groundtruth.txt")).unwrap()[0];
        // Frame 0's box lies inside the image, so it is the object's own shape (to 4 decimals).
        let aspect = b[2] / b[3];
        assert!((0.299..=0.321).contains(&aspect), "{seq}: box {b:?} has width / height {aspect}");
    }
    let bad = trackflow::data::synth::SynthOptions { aspect: (1.6, 0.6), ..opts };
    let e = trackflow::data::synth::generate(&dir.path().join("bad"), &bad).unwrap_err().to_string();
    assert!(e.contains("aspect range 1.6,0.6"), "{e}");
}

#[test]
fn video_frames_become_single_image_pairs() {
    let dir = TempDir::new("frames");
    let data = synth(dir.path(), 2, 25, 5);
    // Frames 3 to 5 of the first sequence: the target is absent.
    let absent: String = (0..25).map(|i| if (2..5).contains(&i) { "1\n" } else { "0\n" }).collect();
    std::fs::write(data.join("seq_0001/absence.label"), absent).unwrap();
    let roots = trackflow::data::datasets::Roots([("got10k_train".to_string(), data.clone())].into_iter().collect());
    let specs = crate::common::root().join("configs/data_specs");
    let videos = trackflow::data::datasets::open("GOT10K_train_full", &roots, &specs).unwrap();
    let frames = trackflow::data::datasets::open("GOT10K_train_frames", &roots, &specs).unwrap();
    assert!(frames.pairs == PairKind::Image && videos.pairs == PairKind::Video);
    let visible: usize = videos.sequences.iter().map(|s| s.visible.iter().filter(|v| **v).count()).sum();
    let all: usize = videos.sequences.iter().map(|s| s.len()).sum();
    assert!(visible <= all - 3, "absent frames are not visible");
    assert_eq!(frames.sequences.len(), visible, "one pair source per visible frame, none from absent ones");
    let one = &frames.sequences[3];
    assert_eq!((one.len(), one.visible.as_slice()), (1, [true].as_slice()));
    assert_eq!(one.files()[0], videos.sequences[0].files()[one.name.rsplit('#').next().unwrap().parse::<usize>().unwrap() - 1]);
}

#[test]
fn random_regions_prefer_what_stands_out_and_make_valid_pairs() {
    use trackflow::base::image::Image;
    use trackflow::base::rng::Pcg;
    use trackflow::train::sampler::distinct_region;
    // A flat grey 200×160 image with one red 40×40 square: a box that stands out from its ring
    // covers part of the square, where most random boxes of the same sizes miss it.
    let (w, h) = (200usize, 160usize);
    let mut img = Image { width: w, height: h, channels: 3, data: vec![128; w * h * 3] };
    for y in 90..130 {
        for x in 130..170 {
            img.data[(y * w + x) * 3..][..3].copy_from_slice(&[230, 20, 20]);
        }
    }
    let touches = |b: [f64; 4]| b[0] < 170.0 && b[0] + b[2] > 130.0 && b[1] < 130.0 && b[1] + b[3] > 90.0;
    let (mut chosen, mut random) = (0, 0);
    for seed in 0..200 {
        // Within the aspect range, unless the other side was cut to 90% of the image.
        let max_aspect = [1.65, 3.0, 8.0][seed as usize % 3];
        let b = distinct_region(&img, max_aspect, &mut Pcg::new(seed));
        let aspect = b[2] / b[3];
        assert!(aspect <= max_aspect * 1.0001 || b[3] >= 0.9 * h as f64 - 1e-9, "{b:?} wider than {max_aspect}");
        assert!(aspect >= 1.0 / max_aspect / 1.0001 || b[2] >= 0.9 * w as f64 - 1e-9, "{b:?} taller than 1/{max_aspect}");
        assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[0] + b[2] <= w as f64 && b[1] + b[3] <= h as f64 && b[2] > 0.0 && b[3] > 0.0, "{b:?}");
        chosen += touches(b) as usize;
        // A box of the same size distribution at a uniformly random place.
        let mut rng = Pcg::new(10_000 + seed);
        let side = 160.0 * rng.range(0.1, 0.4);
        let b = [rng.range(0.0, w as f64 - side), rng.range(0.0, h as f64 - side), side, side];
        random += touches(b) as usize;
    }
    assert!(chosen > random + 60, "chosen boxes touch the square {chosen} times of 200, random ones {random}");
    // Through the dataset name and the sampler: samples come (`sample` gives up after 10,000
    // rejected draws, which regions cutting crops outside their frames would cause).
    let dir = TempDir::new("regions");
    let data = synth(dir.path(), 2, 25, 6);
    let roots = trackflow::data::datasets::Roots([("got10k_train".to_string(), data)].into_iter().collect());
    let specs = crate::common::root().join("configs/data_specs");
    let regions = trackflow::data::datasets::open("GOT10K_train_regions", &roots, &specs).unwrap();
    assert_eq!(regions.pairs, PairKind::Region);
    let cfg = Config::from_name("tiny").unwrap();
    let sampler = PairSampler::new(vec![regions], &[1.0], &cfg).unwrap();
    for seed in 0..20 {
        let s = sampler.sample(seed).unwrap();
        assert!(s.search_box.iter().all(|v| v.is_finite()) && s.search_box[2] > 0.0 && s.search_box[3] > 0.0, "{:?}", s.search_box);
    }
}

/// A checkpoint that cannot be written (a full or read-only disk; here its file name is taken by
/// a folder, which root cannot write through either) stops the run with an error naming the
/// path, leaves the previous checkpoint whole and no partial file, and never says "Finished
/// training".
#[test]
fn a_checkpoint_that_cannot_be_written_stops_training_and_keeps_the_last_one() {
    let dir = TempDir::new("ckpt-fail");
    let data = synth(dir.path(), 3, 25, 23);
    let save = dir.path().join("out");
    let train = |epochs: &str, resume: bool| {
        let mut c = trackflow();
        c.args(["train", "ostrack", "tiny", "--device", "cpu", "--epochs", epochs])
            .args(["--set", "trainer.sample-per-epoch=4", "--set", "trainer.batch-size=2", "--save-dir"])
            .arg(&save)
            .arg("--root")
            .arg(format!("synth={}", data.display()));
        if resume {
            c.arg("--resume");
        }
        c.output().unwrap()
    };
    assert!(train("1", false).status.success());
    let ckpts = save.join("checkpoints");
    let first = ckpts.join(checkpoint::file_name(1));
    let before = checkpoint::digest(&first).unwrap();
    let blocked = ckpts.join(checkpoint::file_name(2));
    std::fs::create_dir_all(&blocked).unwrap();
    let o = train("2", true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(!err.contains("Finished training"), "{err}");
    assert!(err.contains(&blocked.display().to_string()), "the error names the checkpoint's path: {err}");
    assert_eq!(checkpoint::digest(&first).unwrap(), before, "the previous checkpoint is untouched");
    let left: Vec<String> = std::fs::read_dir(&ckpts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "partial files left behind: {left:?}");
}

/// A COCO file with crowd regions, zero-size and out-of-image boxes, an image missing from the
/// folder and a category the file does not list: each such box is skipped (and counted on the
/// console), the good ones train.
#[test]
fn coco_boxes_that_cannot_be_targets_are_skipped() {
    let dir = TempDir::new("coco-bad");
    let root = dir.path();
    std::fs::create_dir_all(root.join("images/train2017")).unwrap();
    std::fs::create_dir_all(root.join("annotations")).unwrap();
    let img = trackflow::base::image::Image { width: 64, height: 48, channels: 3, data: vec![128; 64 * 48 * 3] };
    trackflow::base::draw::save_png(&img, &root.join("images/train2017/a.png")).unwrap();
    let file = serde_json::json!({
        "images": [
            {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "gone.jpg", "width": 64, "height": 48}
        ],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [
            {"image_id": 1, "bbox": [4, 4, 20, 20], "iscrowd": 0, "category_id": 1},
            {"image_id": 1, "bbox": [30, 10, 10, 12], "iscrowd": 0, "category_id": 1},
            {"image_id": 1, "bbox": [4, 4, 20, 20], "iscrowd": 1, "category_id": 1},
            {"image_id": 1, "bbox": [4, 4, 0, 20], "iscrowd": 0, "category_id": 1},
            {"image_id": 1, "bbox": [60, 40, 30, 30], "iscrowd": 0, "category_id": 1},
            {"image_id": 2, "bbox": [4, 4, 20, 20], "iscrowd": 0, "category_id": 1},
            {"image_id": 1, "bbox": [4, 4, 20, 20], "iscrowd": 0, "category_id": 99},
            {"image_id": 7, "bbox": [4, 4, 20, 20], "iscrowd": 0, "category_id": 1}
        ]
    });
    std::fs::write(root.join("annotations/instances_train2017.json"), file.to_string()).unwrap();
    let seqs = trackflow::data::datasets::coco(root).unwrap();
    let boxes: Vec<[f64; 4]> = seqs.iter().map(|s| s.ground_truth[0]).collect();
    assert_eq!(boxes, [[4.0, 4.0, 20.0, 20.0], [30.0, 10.0, 10.0, 12.0]]);
}

/// Runs started at the same instant into one folder: exactly one gets it, every other is refused
/// naming the folder's run (the lock is one atomic `flock`, not a check and then a write).
#[test]
fn a_folder_is_locked_by_exactly_one_of_simultaneous_runs() {
    use trackflow::base::fs::RunLock;
    let dir = TempDir::new("lock-race");
    for round in 0..20 {
        let folder = dir.path().join(format!("round-{round}"));
        let start = Arc::new(std::sync::Barrier::new(6));
        let runs: Vec<_> = (0..6)
            .map(|_| {
                let (folder, start) = (folder.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    RunLock::acquire(&folder, "training run")
                })
            })
            .collect();
        let results: Vec<_> = runs.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: exactly one run holds the folder");
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(format!("{e:#}").contains("is in use by another training run"), "{e:#}");
        }
    }
}

/// Pruning keeps the newest checkpoints by epoch number (10000 is newer than 9999) and never
/// touches one newer than the checkpoint just confirmed: its notice may still be on its way.
#[test]
fn pruning_keeps_the_newest_confirmed_checkpoints() {
    let dir = TempDir::new("prune");
    for e in [9998, 9999, 10000, 10001, 10002] {
        std::fs::write(dir.path().join(checkpoint::file_name(e)), b"x").unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), b"kept").unwrap();
    checkpoint::prune(dir.path(), 2, 10000).unwrap();
    let mut left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(
        left,
        [
            "OSTrack_ep10000.safetensors",
            "OSTrack_ep10001.safetensors",
            "OSTrack_ep10002.safetensors",
            "OSTrack_ep9999.safetensors",
            "notes.txt"
        ]
    );
}

/// A live process that is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

/// Starts `trackflow train` on `data` into `save`, waits until it trains, and returns it with
/// every process below it (supervisor, dora, nodes).
fn training_run(data: &Path, save: &Path) -> (std::process::Child, Vec<i32>) {
    let mut c = trackflow();
    c.args(["train", "ostrack", "tiny", "--epochs", "50", "--device", "cpu", "--root"])
        .arg(format!("synth={}", data.display()))
        .arg("--save-dir")
        .arg(save)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let start = std::time::Instant::now();
    while !save.join("metrics.jsonl").is_file() {
        assert!(start.elapsed().as_secs() < 120, "training did not start");
        assert!(child.try_wait().unwrap().is_none(), "training exited early");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let tree = trackflow::dataflow::supervise::descendants(child.id() as i32);
    (child, tree)
}

/// Killing `trackflow train` (SIGKILL, as a scheduler does, or SIGINT) takes down dora and every
/// node within seconds; while a run lives, its save folder is locked against a second run, and a
/// lock left by a killed run is taken over.
#[test]
fn killing_a_training_run_takes_its_whole_process_tree_down() {
    let dir = TempDir::new("kill-train");
    let data = synth(dir.path(), 3, 20, 7);
    for signal in [libc::SIGKILL, libc::SIGINT] {
        let save = dir.path().join(format!("run-{signal}"));
        let (mut child, tree) = training_run(&data, &save);
        assert!(tree.len() >= 5, "supervisor, dora and the nodes: {tree:?}");
        if signal == libc::SIGKILL {
            let mut c = trackflow();
            c.args(["train", "ostrack", "tiny", "--resume", "--device", "cpu", "--root"]).arg(format!("synth={}", data.display()));
            c.arg("--save-dir").arg(&save);
            let o = c.output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success() && err.contains("is in use by another training run"), "{err}");
        }
        // SAFETY: kill on the pid of our child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert!(!status.success());
        let gone = wait_until(30, || !tree.iter().any(|p| alive(*p)));
        let left: Vec<&i32> = tree.iter().filter(|p| alive(**p)).collect();
        assert!(gone, "still running 30 s after the kill: {left:?}");
    }
    // The lock the killed run left names only dead processes: the next run takes it over.
    let stale = dir.path().join("run-9");
    assert!(stale.join(".trackflow.lock").is_file());
    let lock = trackflow::base::fs::RunLock::acquire(&stale, "training run").unwrap();
    assert_eq!(std::fs::read_to_string(stale.join(".trackflow.lock")).unwrap().trim(), std::process::id().to_string());
    drop(lock);
    assert!(!stale.join(".trackflow.lock").exists());
}

/// A batch larger than one dora message travels as parts of whole samples and joins back
/// exactly; OSTrack's global batch of 128 at 384 pixels (283 MB) goes in parts under the bound.
#[test]
fn a_batch_split_into_message_parts_joins_back_exactly() {
    use trackflow::wire::{BATCH_PART_MAX, array_f32, batch_part_samples, decode_batch, encode_batch};
    let cfg = Config::from_name("tiny").unwrap();
    let b = random_batch(&cfg, 2, 3, 5, 11);
    let parts = b.split(2);
    assert_eq!(parts.iter().map(|p| p.size).collect::<Vec<_>>(), [2, 2, 1]);
    let (meta, data) = (encode_batch(&parts[1], 1, 3), array_f32(parts[1].data.clone()));
    let (back, k, n) = decode_batch(&meta, &data).unwrap();
    assert_eq!((back.epoch, back.index, back.size, k, n), (2, 3, 2, 1, 3));
    assert_eq!(back.data, parts[1].data);
    let joined = trackflow::train::Batch::join(parts).unwrap();
    assert_eq!((joined.size, joined.epoch, joined.index), (5, 2, 3));
    assert!(joined.data == b.data, "the joined batch differs from the one split");
    let big = Config::from_name("vitb_384_mae_ce_32x4_ep300").unwrap();
    let shape = trackflow::train::Batch { epoch: 1, index: 0, size: 128, template_size: 192, search_size: 384, channels: 3, data: vec![] };
    let k = batch_part_samples(&shape);
    assert!(k >= 1 && (k as usize) * shape.floats_per_sample() * 4 <= BATCH_PART_MAX);
    assert!(128 * shape.floats_per_sample() * 4 > 256 << 20, "the whole batch would not fit one message");
    assert_eq!(big.data.search_size, 384);
}

/// A batch of `size` random crops with boxes near the search centre, reproducible from `seed`.
fn random_batch(cfg: &Config, epoch: i64, index: i64, size: i64, seed: i64) -> trackflow::train::Batch {
    tch::manual_seed(seed);
    let (t, s, c) = (cfg.data.template_size, cfg.data.search_size, cfg.input_channels() as i64);
    let crops = Tensor::randn([size * c * (t * t + s * s)], (Kind::Float, Device::Cpu));
    let boxes = Tensor::rand([size, 4], (Kind::Float, Device::Cpu)) * 0.1 + Tensor::from_slice(&[0.4f32, 0.4, 0.15, 0.15]);
    let mut data: Vec<f32> = Vec::try_from(crops).unwrap();
    data.extend(Vec::<f32>::try_from(boxes.flatten(0, -1)).unwrap());
    trackflow::train::Batch { epoch, index, size, template_size: t, search_size: s, channels: c, data }
}

fn max_weight_difference(a: &Trainer, b: &Trainer) -> f64 {
    let (va, vb) = (a.model.vs.variables(), b.model.vs.variables());
    va.iter().map(|(k, t)| (t - &vb[k]).abs().max().double_value(&[])).fold(0.0, f64::max)
}

/// Data-parallel training is DDP's: two replicas, each on half of every batch, take the same
/// steps as one replica on the whole batch. The config has fixed BatchNorm statistics (ViPT's
/// FIX_BN); with training-mode BatchNorm each replica normalises by its own shard's statistics,
/// as upstream's DDP without SyncBN does.
#[test]
fn two_replicas_on_half_batches_step_as_one_on_the_whole_batch() {
    let cfg = Config::from_name("demo_rgbt").unwrap();
    // In float64, so that what is compared is the mechanism, not float32 rounding, which Adam
    // amplifies for parameters whose gradients are near its epsilon.
    let mut one = Trainer::new(&cfg, Device::Cpu, 5, &Init::Random).unwrap();
    let mut two = Trainer::new(&cfg, Device::Cpu, 5, &Init::Random).unwrap();
    one.set_kind(Kind::Double);
    two.set_kind(Kind::Double);
    two.set_devices(&[Device::Cpu, Device::Cpu]).unwrap();
    assert_eq!(two.replica_count(), 2);
    assert_eq!(max_weight_difference(&one, &two), 0.0);
    for step in 0..3 {
        let batch = random_batch(&cfg, 1, step, 4, 100 + step);
        let (a, b) = (one.step(&batch).unwrap(), two.step(&batch).unwrap());
        assert!((a.loss - b.loss).abs() < 1e-5 * a.loss.abs().max(1.0), "step {step}: loss {} vs {}", a.loss, b.loss);
    }
    let d = max_weight_difference(&one, &two);
    eprintln!("data-parallel vs one replica, float64, 3 steps: max weight difference {d:e}");
    assert!(d < 1e-6, "weights differ by {d} after 3 steps");
    // A batch the replicas cannot share equally is an error, not a silent imbalance.
    let odd = random_batch(&cfg, 1, 3, 3, 7);
    assert!(format!("{:#}", two.step(&odd).unwrap_err()).contains("cannot share equally"));
}

/// A data-parallel run resumed from its checkpoint continues exactly as the run that was not
/// interrupted.
#[test]
fn a_resumed_data_parallel_run_continues_exactly() {
    let dir = TempDir::new("dp-resume");
    let cfg = Config::from_name("tiny").unwrap();
    let devices = [Device::Cpu, Device::Cpu];
    let mut run = Trainer::new(&cfg, Device::Cpu, 9, &Init::Random).unwrap();
    run.set_devices(&devices).unwrap();
    for step in 0..2 {
        run.step(&random_batch(&cfg, 1, step, 4, 200 + step)).unwrap();
    }
    let ckpt = dir.path().join("ckpt.safetensors");
    run.write_checkpoint(&ckpt).unwrap();
    let mut resumed = Trainer::resume(&cfg, Device::Cpu, &ckpt).unwrap();
    resumed.set_devices(&devices).unwrap();
    for step in 2..4 {
        let batch = random_batch(&cfg, 1, step, 4, 200 + step);
        run.step(&batch).unwrap();
        resumed.step(&batch).unwrap();
    }
    assert_eq!(max_weight_difference(&run, &resumed), 0.0);
}

/// `--gpus 0`, more GPUs than the machine has, or a half-given upstream spelling are clear
/// errors before anything starts.
#[test]
fn bad_gpu_counts_are_refused_before_training_starts() {
    let dir = TempDir::new("gpus");
    for (args, want) in [
        (&["--gpus", "0"][..], "--gpus 0"),
        (&["--gpus", "64"][..], "--gpus 64"),
        (&["--mode", "multiple"][..], "needs --nproc-per-node"),
        (&["--gpus", "2", "--nproc-per-node", "2"][..], "not both"),
    ] {
        let mut c = trackflow();
        c.args(["train", "ostrack", "tiny", "--save-dir"]).arg(dir.path().join("never")).args(args);
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
        assert!(!dir.path().join("never").exists(), "{args:?} started something");
    }
}

/// fp16 training's loss scaling: a scaled step equals an unscaled one (float64, so equality is
/// the mechanism's), an overflowing step is skipped with the scale halved, and fp16 or bf16 on
/// the CPU is a clear error (CUDA autocast itself needs a GPU).
#[test]
fn loss_scaling_steps_as_fp32_and_skips_overflow() {
    use trackflow::train::LossScaler;
    let cfg = Config::from_name("demo_rgbt").unwrap();
    let mut plain = Trainer::new(&cfg, Device::Cpu, 3, &Init::Random).unwrap();
    let mut scaled = Trainer::new(&cfg, Device::Cpu, 3, &Init::Random).unwrap();
    plain.set_kind(Kind::Double);
    scaled.set_kind(Kind::Double);
    scaled.set_loss_scaler(Some(LossScaler { scale: 1024.0, ..Default::default() }));
    for step in 0..2 {
        let batch = random_batch(&cfg, 1, step, 2, 300 + step);
        plain.step(&batch).unwrap();
        scaled.step(&batch).unwrap();
    }
    let d = max_weight_difference(&plain, &scaled);
    assert!(d < 1e-9, "scaled steps differ by {d}");
    assert_eq!(scaled.scaler().unwrap().skipped, 0);

    let before = scaled.model.vs.variables().iter().map(|(k, t)| (k.clone(), t.copy())).collect::<std::collections::HashMap<_, _>>();
    scaled.set_loss_scaler(Some(LossScaler { scale: f64::MAX, ..Default::default() }));
    let s = scaled.step(&random_batch(&cfg, 1, 2, 2, 302)).unwrap();
    assert!(s.grad_norm.is_infinite());
    let sc = scaled.scaler().unwrap();
    assert_eq!((sc.skipped, sc.scale), (1, f64::MAX / 2.0));
    for (k, t) in scaled.model.vs.variables() {
        assert_eq!((&t - &before[&k]).abs().max().double_value(&[]), 0.0, "{k} changed on a skipped step");
    }

    let mut cpu = Trainer::new(&cfg, Device::Cpu, 3, &Init::Random).unwrap();
    assert!(format!("{:#}", cpu.set_precision("fp16").unwrap_err()).contains("CUDA"));
}

/// bf16 training: bfloat16 copies compute, the float32 master weights take the step. One step
/// moves the weights as the float32 step does, up to bf16's rounding of the gradients: the same
/// direction for nearly every weight that moves.
#[test]
fn bf16_training_steps_the_float32_master_weights() {
    let cfg = Config::from_name("tiny").unwrap();
    let mut fp32 = Trainer::new(&cfg, Device::Cpu, 4, &Init::Random).unwrap();
    let mut bf16 = Trainer::new(&cfg, Device::Cpu, 4, &Init::Random).unwrap();
    bf16.set_precision("bf16").unwrap();
    assert_eq!(bf16.replica_count(), 1);
    let before: std::collections::HashMap<String, Tensor> = fp32.model.vs.variables().into_iter().map(|(k, t)| (k, t.copy())).collect();
    let batch = random_batch(&cfg, 1, 0, 4, 400);
    fp32.step(&batch).unwrap();
    let s = bf16.step(&batch).unwrap();
    assert!(s.loss.is_finite() && s.grad_norm.is_finite());
    assert_eq!(bf16.kind(), Kind::Float, "the master weights stay float32");
    let (mut agree, mut moved) = (0i64, 0i64);
    for (k, w32) in fp32.model.vs.variables() {
        let d32 = &w32 - &before[&k];
        let d16 = &bf16.model.vs.variables()[&k] - &before[&k];
        let big = d32.abs().gt(1e-5);
        moved += big.sum(Kind::Int64).int64_value(&[]);
        agree += (d32.sign().eq_tensor(&d16.sign()).logical_and(&big)).sum(Kind::Int64).int64_value(&[]);
    }
    eprintln!("bf16 against fp32, one step: {agree} of {moved} moving weights agree in direction");
    assert!(moved > 1000 && agree as f64 > 0.9 * moved as f64, "{agree} of {moved} moving weights agree in direction");
    // bf16 composes with data parallelism: one bf16 copy per device.
    let mut both = Trainer::new(&cfg, Device::Cpu, 4, &Init::Random).unwrap();
    both.set_devices(&[Device::Cpu, Device::Cpu]).unwrap();
    both.set_precision("bf16").unwrap();
    assert_eq!(both.replica_count(), 2);
    assert!(both.step(&batch).unwrap().loss.is_finite());
}
