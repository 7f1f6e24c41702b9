//! The network: shapes, candidate elimination counts, zero restore, strict weight loading, and
//! the full ViT-B/16 presets running a forward pass on the CPU.

use std::path::Path;

use tch::{Device, Kind, Tensor};
use trackflow::model::{Config, OSTrack, Parts};

use crate::common::{TempDir, root};

fn preset(name: &str) -> Config {
    Config::load(&root().join("configs/ostrack").join(format!("{name}.kdl"))).unwrap_or_else(|p| panic!("{}", p.render(false)))
}

#[test]
fn presets_parse_with_upstream_numbers() {
    let c256 = preset("vitb_256_mae_ce_32x4_ep300");
    assert_eq!(c256, Config::default(), "the 256 preset is OSTrack's defaults");
    let c384 = preset("vitb_384_mae_ce_32x4_ep300");
    assert_eq!((c384.data.search_size, c384.data.search_factor, c384.data.template_size), (384, 5.0, 192));
    assert_eq!((c384.search_feat(), c384.template_feat()), (24, 12));
    let g = preset("vitb_256_mae_ce_32x4_got10k_ep100");
    assert_eq!((g.train.epochs, g.train.lr_drop_epoch, g.train.ce_warm_epoch), (100, 80, 50));
    assert_eq!(g.train.datasets, ["GOT10K_train_full"]);
    preset("vitb_384_mae_ce_32x4_got10k_ep100");
    preset("tiny");
    assert_eq!(preset("small").model.embed_dim, 192);
}

#[test]
fn config_errors_name_the_key() {
    let file = std::sync::Arc::new(trackflow::base::diagnostic::SourceFile::from_text(
        Path::new("bad.kdl"),
        "model {\n    depth \"twelve\"\n    colour 3\n}\ntrain {\n    datasets \"LASOT\" \"GOT10K_vottrain\"\n    datasets-ratio 1 1 1 1\n}\n".into(),
    ));
    let r = Config::parse(file).unwrap_err().render(false);
    assert!(r.contains("bad.kdl:2:5: error: `depth` takes one integer"), "{r}");
    assert!(r.contains("bad.kdl:3:5: error: unknown key `colour`"), "{r}");
    assert!(r.contains("train.datasets lists 2 datasets (LASOT, GOT10K_vottrain) but train.datasets-ratio has 4 ratios"), "{r}");
}

#[test]
fn test_section_overrides_only_the_tracking_crop_factors() {
    let parse = |text: &str| {
        Config::parse(std::sync::Arc::new(trackflow::base::diagnostic::SourceFile::from_text(Path::new("t.kdl"), text.into())))
    };
    let c = parse("data {\n    search-factor 4.0\n}\ntest {\n    search-factor 3.5\n}\n").unwrap();
    assert_eq!((c.data.search_factor, c.test_search_factor()), (4.0, 3.5), "training keeps data's factor");
    assert_eq!(c.test_template_factor(), c.data.template_factor, "a factor left out is the training one");
    assert_eq!(preset("tiny").test_search_factor(), 4.0);
    let r = parse("test {\n    search-factor 0\n    crop-size 3\n}\n").unwrap_err().render(false);
    assert!(r.contains("t.kdl:2:19: error: test.search-factor 0 is out of range (0, 100]"), "{r}");
    assert!(r.contains("t.kdl:3:5: error: unknown key `crop-size` in section `test`"), "{r}");

    // The fused tracker crops with the test factor: data 4.0 + test 3.5 tracks exactly as data 3.5.
    let dir = TempDir::new("test-factor");
    let dir = crate::common::synth(dir.path(), 1, 6, 11).join("seq_0001");
    let seq = trackflow::data::sequence::read_sequence(&dir, trackflow::data::sequence::FrameFolder::Any).unwrap();
    let frames: Vec<_> = seq.reader().unwrap().collect::<Result<_, _>>().unwrap();
    // Float64, and equal within 1e-6 px rather than bit for bit: libtorch splits its reductions by
    // the threads it gets, which vary while other tests run, so two float32 runs of one model can
    // differ in the last bits and a tracker amplifies that over frames.
    let boxes = |cfg: &Config| {
        let mut m = OSTrack::new(cfg, Parts::All, Device::Cpu);
        m.randomize(3);
        m.set_kind(Kind::Double);
        let mut t = trackflow::tracker::Tracker::new(m, trackflow::tracker::TrackOptions::default(), Kind::Double);
        t.initialize(&frames[0], seq.init_box().unwrap()).unwrap();
        frames[1..].iter().map(|f| t.track(f).unwrap().bbox).collect::<Vec<_>>()
    };
    let mut overridden = preset("tiny");
    overridden.test.search_factor = Some(3.5);
    let mut trained_at = preset("tiny");
    trained_at.data.search_factor = 3.5;
    let same = |a: &[[f64; 4]], b: &[[f64; 4]]| {
        a.len() == b.len() && a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| (x - y).abs() < 1e-6)
    };
    let with_override = boxes(&overridden);
    assert!(same(&with_override, &boxes(&trained_at)), "the test factor tracks as the same training factor");
    assert!(!same(&with_override, &boxes(&preset("tiny"))), "the factor changes the crops, so the boxes");

    // size-update: the new size moves part of the way from the previous box to the prediction
    // (clipping aside); 1 is the prediction itself, as without the key.
    let r = parse("test {\n    size-update 1.5\n}\n").unwrap_err().render(false);
    assert!(r.contains("t.kdl:2:17: error: test.size-update 1.5 is out of range (0, 1]"), "{r}");
    assert_eq!(parse("test {\n    size-update 0.25\n}\n").unwrap().test.size_update, Some(0.25));
    // distractor-prob is a share: a percentage typo is named with its line.
    let r = parse("data {\n    distractor-prob 25\n}\n").unwrap_err().render(false);
    assert!(r.contains("t.kdl:2:21: error: data.distractor-prob 25 is out of range [0, 1]"), "{r}");
    assert_eq!(parse("data {\n    distractor-prob 0.25\n}\n").unwrap().data.distractor_prob, 0.25);
    let r = parse("data {\n    blur-prob -0.2\n}\n").unwrap_err().render(false);
    assert!(r.contains("t.kdl:2:15: error: data.blur-prob -0.2 is out of range [0, 1]"), "{r}");
    assert_eq!(parse("data {\n    blur-prob 0.2\n}\n").unwrap().data.blur_prob, 0.2);
    let plain = boxes(&preset("tiny"));
    let mut one = preset("tiny");
    one.test.size_update = Some(1.0);
    assert!(same(&boxes(&one), &plain), "size-update 1 is the prediction itself");
    let mut damped = preset("tiny");
    damped.test.size_update = Some(0.25);
    let (init, predicted, got) = (seq.init_box().unwrap(), plain[0], boxes(&damped)[0]);
    for k in [2, 3] {
        if predicted[k] > 10.0 && got[k] > 10.0 {
            let want = init[k] + 0.25 * (predicted[k] - init[k]);
            assert!((got[k] - want).abs() < 1e-3, "size {k}: {} instead of {want}", got[k]);
        }
    }
}

/// A config from text, as if read from `t.kdl`.
fn parse_text(text: &str) -> Result<Config, trackflow::base::diagnostic::Problems> {
    Config::parse(std::sync::Arc::new(trackflow::base::diagnostic::SourceFile::from_text(Path::new("t.kdl"), text.into())))
}

/// The rendered problems of a config that must not parse.
fn config_errors(text: &str) -> String {
    parse_text(text).map(|_| panic!("expected problems in:\n{text}")).unwrap_err().render(false)
}

/// Shape parameters that would divide by zero or build an empty layer are errors naming the
/// file, line, key and range, found while reading (the network is never built from them).
#[test]
fn bad_model_shapes_are_located_errors() {
    let r = config_errors("model {\n    num-heads 0\n}\n");
    assert!(r.contains("t.kdl:2:15: error: model.num-heads 0 is out of range 1..=1024"), "{r}");
    assert!(!r.contains("divisible"), "a refused key keeps its default and is left out of the cross checks:\n{r}");
    let r = config_errors("model {\n    patch-size 0\n}\n");
    assert!(r.contains("t.kdl:2:16: error: model.patch-size 0 is out of range 1..=1024"), "{r}");
    let r = config_errors("model {\n    depth 0\n    mlp-ratio 0\n    drop-path 1.0\n    head-channels 4\n}\n");
    for want in [
        "t.kdl:2:11: error: model.depth 0 is out of range 1..=1024",
        "t.kdl:3:15: error: model.mlp-ratio 0 is out of range (0, 64]",
        "t.kdl:4:15: error: model.drop-path 1 is out of range [0, 1)",
        "t.kdl:5:19: error: model.head-channels 4 is out of range 8..=65536",
    ] {
        assert!(r.contains(want), "missing `{want}` in:\n{r}");
    }
    // Each list entry is checked, and pointed at.
    let r = config_errors("model {\n    ce-keep-ratio 0.7 0 0.7\n}\n");
    assert!(r.contains("t.kdl:2:23: error: model.ce-keep-ratio 0 is out of range (0, 1]"), "{r}");
    // An integer beyond i64 is out of range, not wrapped into one that fits.
    let r = config_errors("model {\n    embed-dim 18446744073709551680\n}\n");
    assert!(r.contains("model.embed-dim 18446744073709551680 is out of range 1..=65536"), "{r}");
    let r = config_errors("model {\n    mlp-ratio #nan\n}\n");
    assert!(r.contains("model.mlp-ratio NaN is out of range (0, 64]"), "{r}");
    // Checks between keys: located at one of them.
    let r = config_errors("model {\n    embed-dim 100\n    num-heads 12\n}\n");
    assert!(r.contains("t.kdl:3:5: error: embed-dim 100 is not divisible by num-heads 12"), "{r}");
    let r = config_errors("model {\n    patch-size 16\n}\ndata {\n    search-size 250\n}\n");
    assert!(r.contains("t.kdl:5:5: error: data.search-size 250 is not a multiple of model.patch-size 16"), "{r}");
    let r = config_errors("model {\n    depth 4\n    ce-loc 1 5\n    ce-keep-ratio 0.7 0.7\n}\n");
    assert!(r.contains("t.kdl:3:5: error: ce-loc 5 is not a block index (0..4)"), "{r}");
}

/// Training numbers: batch and sample counts are positive, and an epoch is whole batches.
#[test]
fn bad_training_numbers_are_located_errors() {
    let r = config_errors("train {\n    batch-size 0\n    epochs -1\n    lr 0\n}\n");
    for want in [
        "t.kdl:2:16: error: train.batch-size 0 is out of range 1..=65536",
        "t.kdl:3:12: error: train.epochs -1 is out of range 1..=1000000",
        "t.kdl:4:8: error: train.lr 0 is out of range (0, 10]",
    ] {
        assert!(r.contains(want), "missing `{want}` in:\n{r}");
    }
    let r = config_errors("train {\n    batch-size 4\n    sample-per-epoch 18\n}\n");
    assert!(
        r.contains(
            "t.kdl:3:5: error: train.sample-per-epoch 18 is not a multiple of train.batch-size 4: an epoch trains whole batches, 16 samples"
        ),
        "{r}"
    );
    assert!(r.contains("write 16 or 20"), "{r}");
    let r = config_errors("train {\n    datasets \"A\" \"B\"\n    datasets-ratio 0 0\n}\n");
    assert!(r.contains("t.kdl:3:5: error: train.datasets-ratio is all zeros"), "{r}");
    assert!(parse_text("train {\n    batch-size 4\n    sample-per-epoch 16\n}\n").is_ok());
}

/// The trainer's overrides (0 keeps the config's value) and how an epoch splits into batches.
#[test]
fn training_overrides_and_schedule() {
    let t = preset("tiny").train;
    assert_eq!(t.overridden(0, 0, 0), t, "0 keeps every value");
    let o = t.overridden(2, 18, 4);
    assert_eq!((o.epochs, o.sample_per_epoch, o.batch_size), (2, 18, 4));
    let s = o.schedule(1).unwrap();
    assert_eq!((s.global_batch, s.batches, s.samples()), (4, 4, 16));
    assert_eq!(o.schedule(2).unwrap().samples(), 16, "2 devices × 4: 2 batches of 8");
    let e = t.overridden(0, 2, 4).schedule(1).unwrap_err();
    assert!(e.contains("sample-per-epoch 2 is smaller than the global batch 4"), "{e}");
    let mut zero = t.clone();
    zero.batch_size = 0;
    assert!(zero.schedule(1).is_err(), "a zero batch is an error, not a division by zero");
}

fn random_crops(cfg: &Config, seed: i64) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    let z = Tensor::randn([1, 3, cfg.data.template_size, cfg.data.template_size], (Kind::Float, Device::Cpu));
    let x = Tensor::randn([1, 3, cfg.data.search_size, cfg.data.search_size], (Kind::Float, Device::Cpu));
    (z, x)
}

#[test]
fn candidate_elimination_keeps_ceil_counts_and_restores_zeros() {
    let cfg = preset("tiny");
    let mut m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    m.randomize(3);
    let (z, x) = random_crops(&cfg, 1);
    let _g = tch::no_grad_guard();
    let out = m.backbone().unwrap().forward(&z, &x, true, None, false);
    // 256 → ceil(0.7·256) = 180 → ceil(0.7·180) = 126
    let removed: Vec<i64> = out.removed.iter().map(|r| r.size()[1]).collect();
    assert_eq!(removed, [76, 54]);
    assert_eq!(out.kept.size(), [1, 126]);
    assert_eq!(out.tokens.size(), [1, 64 + 256, 64]);
    // Every search position is either kept or removed exactly once.
    let mut all: Vec<i64> = Vec::<i64>::try_from(Tensor::cat(&[&out.kept, &out.removed[0], &out.removed[1]], 1).view([-1])).unwrap();
    all.sort();
    assert_eq!(all, (0..256).collect::<Vec<_>>());
    // Eliminated positions are exactly zero after the final norm; kept ones are not.
    let search = out.tokens.narrow(1, 64, 256).squeeze_dim(0);
    for r in &out.removed {
        let rows = search.index_select(0, &r.squeeze_dim(0));
        assert_eq!(rows.abs().sum(Kind::Float).double_value(&[]), 0.0);
    }
    let kept_rows = search.index_select(0, &out.kept.squeeze_dim(0));
    assert!(kept_rows.abs().sum_dim_intlist(1, false, Kind::Float).min().double_value(&[]) > 0.0);
    // Without CE nothing is removed.
    let full = m.backbone().unwrap().forward(&z, &x, false, None, false);
    assert!(full.removed.is_empty());
    assert_eq!(full.kept.size(), [1, 256]);
}

#[test]
fn head_maps_are_clamped_and_decode_in_range() {
    let cfg = preset("tiny");
    let mut m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    m.randomize(5);
    let (z, x) = random_crops(&cfg, 2);
    let _g = tch::no_grad_guard();
    let out = m.backbone().unwrap().forward(&z, &x, true, None, false);
    let head = m.head().unwrap();
    let maps = head.forward_t(&head.tokens_to_map(&out.tokens), false);
    assert_eq!(maps.score.size(), [1, 1, 16, 16]);
    assert_eq!(maps.size.size(), [1, 2, 16, 16]);
    assert!(maps.score.min().double_value(&[]) >= 1e-4 - 1e-9 && maps.score.max().double_value(&[]) <= 1.0 - 1e-4 + 1e-9);
    let (boxes, idx) = trackflow::model::decode_boxes(&maps.score, &maps.size, &maps.offset);
    let i = idx.int64_value(&[0]);
    assert_eq!(i, maps.score.flatten(0, -1).argmax(0, false).int64_value(&[]));
    let cx = boxes.double_value(&[0, 0]);
    let expect = ((i % 16) as f64 + maps.offset.double_value(&[0, 0, i / 16, i % 16])) / 16.0;
    assert!((cx - expect).abs() < 1e-6, "cx {cx} vs {expect}");
}

#[test]
fn random_weights_depend_only_on_seed_and_name() {
    let cfg = preset("tiny");
    let mut all = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    all.randomize(11);
    let mut head = OSTrack::new(&cfg, Parts::Head, Device::Cpu);
    head.randomize(11);
    let a = all.vs.variables();
    for (k, v) in head.vs.variables() {
        assert!(a[&k].equal(&v), "{k} differs between a full and a head-only model");
    }
}

#[test]
fn weights_load_strictly_and_report_everything() {
    let dir = TempDir::new("weights");
    let cfg = preset("tiny");
    let mut a = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    a.randomize(1);
    let file = dir.path().join("tiny.safetensors");
    a.save(&file).unwrap();
    let mut b = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    b.load(&file).unwrap();
    for (k, v) in a.vs.variables() {
        assert!(b.vs.variables()[&k].equal(&v), "{k}");
    }
    // A checkpoint of another preset: every problem listed.
    let mut other = cfg.clone();
    other.model.depth = 2;
    other.model.ce_loc = vec![1];
    other.model.ce_keep_ratio = vec![0.7];
    other.model.head_channels = 32;
    let mut c = OSTrack::new(&other, Parts::All, Device::Cpu);
    let err = format!("{:#}", c.load(&file).unwrap_err());
    assert!(err.contains("unexpected") && err.contains("backbone.blocks.3.attn.qkv.weight"), "{err}");
    assert!(err.contains("shape mismatch") && err.contains("box_head.conv1_ctr.0.weight"), "{err}");
    // A truncated file is named as such.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!("{:#}", b.load(&cut).unwrap_err());
    assert!(err.contains("not a valid safetensors file"), "{err}");
}

/// Asking for an unusable GPU is a fast error with the reason; `auto` falls back to the CPU and
/// says why; a probe of `cuda:N` is about device N.
#[test]
fn unusable_cuda_is_a_clear_error() {
    use trackflow::base::cuda::{CudaState, probe};
    if let Ok(CudaState::Absent(reason)) = probe(0, std::time::Duration::from_secs(30)) {
        assert!(!reason.is_empty());
        let err = trackflow::model::parse_device("cuda:0").unwrap_err().to_string();
        assert!(err.contains("CUDA is not usable here") && err.contains(&reason), "{err}");
        let err = trackflow::model::parse_device("cuda:3").unwrap_err().to_string();
        assert!(err.contains("`cuda:3`"), "{err}");
        let (device, why) = trackflow::model::choose_device("auto").unwrap();
        assert_eq!(device, Device::Cpu);
        assert!(why.starts_with("cpu (") && why.contains(&reason), "{why}");
    }
    assert!(trackflow::model::parse_device("gpu0").is_err());
    assert!(trackflow::model::parse_precision("fp16", Device::Cpu).unwrap_err().to_string().contains("for GPUs"));
}

/// The real presets build and run on the CPU (ViT-B/16, ~92.5 M parameters).
#[test]
fn vitb_presets_run_a_forward_pass() {
    for (name, tokens, feat) in [("vitb_256_mae_ce_32x4_ep300", 64 + 256, 16), ("vitb_384_mae_ce_32x4_ep300", 144 + 576, 24)] {
        let cfg = preset(name);
        let m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
        let n: i64 = m.vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        // 92,518,533 upstream (cls_token and the MAE pos_embed included; BatchNorm statistics are buffers).
        let expect = if cfg.data.search_size == 256 { 92_518_533 } else { 92_518_533 + 307_200 };
        assert_eq!(n, expect, "{name} parameter count");
        let (z, x) = random_crops(&cfg, 3);
        let _g = tch::no_grad_guard();
        let out = m.backbone().unwrap().forward(&z, &x, true, None, false);
        assert_eq!(out.tokens.size(), [1, tokens, 768]);
        let kept = out.kept.size()[1];
        assert_eq!(kept, if feat == 16 { 89 } else { 199 }, "{name}: CE keeps 256→180→126→89 / 576→404→283→199");
        let head = m.head().unwrap();
        let maps = head.forward_t(&head.tokens_to_map(&out.tokens), false);
        assert_eq!(maps.score.size(), [1, 1, feat, feat]);
    }
}

/// Folding the BatchNorms (stem and head) for inference computes the same network: float64
/// maps agree to rounding, and unfolding runs the parameters again, bit for bit.
#[test]
fn folded_batchnorm_computes_the_same_network() {
    let cfg = preset("mobile");
    let mut m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    m.randomize(7);
    // Statistics and affine parameters away from the identity, so that there is something to fold.
    tch::manual_seed(8);
    for (name, mut t) in m.vs.variables() {
        let _g = tch::no_grad_guard();
        let leaf = name.rsplit('.').next().unwrap_or_default();
        let is_bn = name.contains("box_head") && name.contains(".1.") || name.contains("patch_embed.features");
        match leaf {
            "running_mean" => t.copy_(&(Tensor::randn_like(&t) * 0.5)),
            "running_var" => t.copy_(&(Tensor::rand_like(&t) + 0.5)),
            "weight" | "bias" if is_bn && t.dim() == 1 => t.copy_(&(Tensor::rand_like(&t) + 0.5)),
            _ => {}
        }
    }
    m.set_kind(Kind::Double);
    let (z, x) = random_crops(&cfg, 4);
    let (z, x) = (z.to_kind(Kind::Double), x.to_kind(Kind::Double));
    let run = |m: &OSTrack| {
        let _g = tch::no_grad_guard();
        let out = m.backbone().unwrap().forward(&z, &x, true, None, false);
        let head = m.head().unwrap();
        let maps = head.forward_t(&head.tokens_to_map(&out.tokens), false);
        Tensor::cat(&[maps.score, maps.size, maps.offset], 1)
    };
    let plain = run(&m);
    m.fold_batchnorm(true);
    let folded = run(&m);
    let err = (&folded - &plain).abs().max().double_value(&[]) / plain.abs().max().double_value(&[]);
    assert!(err < 1e-10, "folded maps differ from the plain ones by {err:e} (relative to the largest)");
    assert!(folded.abs().max().double_value(&[]) > 0.0);
    // Loading or converting weights drops the folded copies; so does unfolding.
    m.fold_batchnorm(false);
    assert!(run(&m).equal(&plain));
    m.fold_batchnorm(true);
    m.set_kind(Kind::Double);
    assert!(run(&m).equal(&plain), "set_kind keeps stale folded copies");
}

/// Recovery widens the search region only after a frame under `recover-below`.
#[test]
fn recovery_widens_the_search_after_low_confidence() {
    let mut cfg = preset("mobile");
    assert_eq!(cfg.next_search_factor(0.01), 3.25, "recovery is off unless configured");
    cfg.test.recover_below = Some(0.2);
    assert_eq!(cfg.next_search_factor(0.19), cfg.data.search_factor);
    cfg.test.recover_factor = Some(5.0);
    assert_eq!(cfg.next_search_factor(0.19), 5.0);
    assert_eq!(cfg.next_search_factor(0.2), 3.25);
    assert_eq!(cfg.next_search_factor(1.0), 3.25);
    let e = config_errors("test {\n    recover-below 1.5\n}\n");
    assert!(e.contains("recover-below") && e.contains(":2"), "{e}");
    let e = config_errors("test {\n    recover-factor 5.0\n}\n");
    assert!(e.contains("recover-factor") && e.contains("without test.recover-below") && e.contains(":2"), "{e}");
}
