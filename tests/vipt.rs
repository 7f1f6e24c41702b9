//! ViPT: the prompt modules against the official code (data from
//! tests/golden/generate_vipt.py), the trainable-parameter count of ViT-B, the depth colormap
//! against OpenCV, and the multi-modal sequence layouts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use trackflow::data::modality::{self, Modality};
use trackflow::model::{Config, OSTrack, Parts};

use crate::common::TempDir;

fn dir() -> PathBuf {
    crate::common::root().join("tests/golden/vipt")
}

fn read(name: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(dir().join(name)).unwrap().into_iter().collect()
}

#[test]
fn prompted_backbone_and_head_match_pytorch_deep_and_shaw() {
    use crate::golden::{F32_BOUND, F64_BOUND, check_network};
    for variant in ["deep", "shaw"] {
        let cfg = Config::load(&dir().join(format!("{variant}.kdl"))).unwrap_or_else(|p| panic!("{}", p.render(false)));
        let mut m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
        m.load(&dir().join(format!("{variant}.safetensors"))).unwrap();
        check_network(&format!("{variant} float32"), &m, &read(&format!("{variant}.io.safetensors")), F32_BOUND, false);
        m.set_kind(Kind::Double);
        check_network(&format!("{variant} float64"), &m, &read(&format!("{variant}.io64.safetensors")), F64_BOUND, true);
    }
}

#[test]
fn vit_b_prompt_parameter_counts_match_vipt() {
    for (name, want) in [("deep_rgbd", 839_628), ("shaw_rgbt", 611_345)] {
        let cfg = Config::from_name(&crate::common::root().join(format!("configs/vipt/{name}.kdl")).display().to_string()).unwrap();
        let mut m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
        let trainable = m.freeze_all_but_prompts();
        assert_eq!(trainable, want, "{name}: trainable prompt parameters");
        let frozen: i64 = m.vs.variables().values().filter(|t| !t.requires_grad()).map(|t| t.numel() as i64).sum();
        assert!(frozen > 90_000_000, "{name}: the OSTrack part ({frozen}) is frozen");
    }
}

#[test]
fn depth_colormap_matches_opencv_and_vipt() {
    let jet = read("jet.safetensors");
    let lut: Vec<u8> = Vec::try_from(jet["bgr"].flatten(0, -1)).unwrap();
    assert_eq!(modality::jet_bgr().concat(), lut, "COLORMAP_JET look-up table");
    let frames = read("rgbd.safetensors");
    for (tag, clip) in [("clip", true), ("noclip", false)] {
        let im = modality::load_pair(&dir().join("color.png"), &dir().join("depth.png"), Modality::Depth, clip).unwrap();
        let want: Vec<u8> = Vec::try_from(frames[tag].flatten(0, -1)).unwrap();
        assert_eq!(im.channels, 6);
        let bad = im.data.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(im.data.len(), want.len());
        assert_eq!(bad, 0, "{tag}: {bad} of {} values differ from get_x_frame", want.len());
    }
}

/// Writes a tiny RGB+X sequence: `n` frames in `rgb/` and `aux/` named by the closures.
fn write_pair_sequence(dir: &Path, rgb: &str, aux: &str, n: usize, name_rgb: impl Fn(usize) -> String, name_aux: impl Fn(usize) -> String) {
    std::fs::create_dir_all(dir.join(rgb)).unwrap();
    std::fs::create_dir_all(dir.join(aux)).unwrap();
    for i in 0..n {
        let a = image::RgbImage::from_pixel(32, 24, image::Rgb([10 * i as u8, 0, 0]));
        a.save(dir.join(rgb).join(name_rgb(i))).unwrap();
        let b = image::RgbImage::from_pixel(32, 24, image::Rgb([0, 0, 10 * i as u8]));
        b.save(dir.join(aux).join(name_aux(i))).unwrap();
    }
    let gt: String = (0..n).map(|_| "4,4,10,8\n").collect();
    std::fs::write(dir.join(if rgb == "visible" { "visible.txt" } else { "groundtruth.txt" }), gt).unwrap();
}

#[test]
fn lasher_names_pair_by_number_and_frames_read_as_six_channels() {
    let t = TempDir::new("vipt-seq");
    // LasHeR as downloaded: v-prefixed visible frames, i-prefixed infrared ones, no renaming.
    let seq = t.path().join("lasher/1boygo");
    write_pair_sequence(&seq, "visible", "infrared", 12, |i| format!("v{i:06}.jpg"), |i| format!("i{i:06}.jpg"));
    let seqs = trackflow::data::sequence::discover(&t.path().join("lasher"), trackflow::data::sequence::Layout::Auto).unwrap();
    assert_eq!(seqs.len(), 1);
    let s = &seqs[0];
    let aux = s.aux.as_ref().expect("detected as RGB-T");
    assert_eq!(aux.modality, Modality::Thermal);
    // Numeric order, not name order: v000010 after v000009 (and 10 < 9 never happens).
    let names: Vec<String> = aux.frames.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names[9], "i000009.jpg");
    assert_eq!(names[10], "i000010.jpg");
    let frames: Vec<_> = s.reader().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.len(), 12);
    assert_eq!(frames[3].channels, 6);
    let px = &frames[3].data[..6];
    assert!(px[0] > 20 && px[5] > 20 && px[2] < 10, "RGB then infrared, frame 3: {px:?}");

    // VisEvent and DepthTrack layouts are found too; a missing auxiliary frame is named.
    let ev = t.path().join("visevent/dvSOT");
    write_pair_sequence(&ev, "vis_imgs", "event_imgs", 5, |i| format!("frame{i:04}.bmp"), |i| format!("frame{i:04}.bmp"));
    std::fs::remove_file(ev.join("event_imgs/frame0004.bmp")).unwrap();
    let err = trackflow::data::sequence::discover(&ev, trackflow::data::sequence::Layout::Auto).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("vis_imgs has 5 frames") && msg.contains("event_imgs has 4"), "{msg}");
}

#[test]
fn rgbt234_takes_the_better_of_the_two_ground_truths() {
    use trackflow::eval::multimodal::rgbt_sequence;
    // Frame 0 agrees with both; frame 1 is 30 px off the visible box but 5 px off the infrared
    // one (the cameras are offset); frame 2 misses both.
    let pred = [[10.0, 10.0, 20.0, 20.0], [40.0, 10.0, 20.0, 20.0], [200.0, 200.0, 20.0, 20.0]];
    let vis = [[10.0, 10.0, 20.0, 20.0], [10.0, 10.0, 20.0, 20.0], [10.0, 10.0, 20.0, 20.0]];
    let ir = [[10.0, 10.0, 20.0, 20.0], [35.0, 10.0, 20.0, 20.0], [12.0, 10.0, 20.0, 20.0]];
    let c = rgbt_sequence(&pred, &vis, &ir).unwrap();
    assert!((c.mpr() - 200.0 / 3.0).abs() < 1e-9, "MPR {}", c.mpr());
    // Overlaps 1, IoU([40,10,20,20],[35,10,20,20]) = 15·20 / (800 − 300) = 0.6, and 0.
    let want = (0..21).map(|k| [1.0, 0.6, 0.0].iter().filter(|&&o| o > 0.05 * k as f64).count() as f64 / 3.0).sum::<f64>() / 21.0;
    assert!((c.msr() - 100.0 * want).abs() < 1e-9, "MSR {} vs {}", c.msr(), 100.0 * want);
    assert!(rgbt_sequence(&pred[..2], &vis, &ir).is_err(), "a short result file is an error");
}

#[test]
fn depthtrack_precision_recall_and_f_score() {
    use trackflow::eval::multimodal::{f_score, pr_sequence, vot_thresholds};
    let gt = [[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [f64::NAN; 4], [0.0, 0.0, 10.0, 10.0]];
    // Frame 1 exact (confident), frame 2 reports while the target is absent (unsure), frame 3
    // half overlapping (unsure).
    let pred = [[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 10.0, 10.0], [5.0, 0.0, 10.0, 10.0]];
    let conf = [1.0, 0.9, 0.2, 0.3];
    let th = vot_thresholds(&conf[1..], 100);
    assert_eq!(th, vec![f64::INFINITY, 0.9, 0.3, 0.2, f64::NEG_INFINITY]);
    let (pr, re) = pr_sequence(&pred, &conf, &gt, &th).unwrap();
    let third = 1.0 / 3.0; // IoU of the half-overlapping box: 50 / 150
    assert_eq!(pr[0], 1.0);
    assert_eq!(re[0], 0.0);
    assert!((pr[1] - 1.0).abs() < 1e-12 && (re[1] - 0.5).abs() < 1e-12);
    assert!((pr[2] - (1.0 + third) / 2.0).abs() < 1e-12 && (re[2] - (1.0 + third) / 2.0).abs() < 1e-12);
    assert!((pr[3] - (1.0 + third) / 3.0).abs() < 1e-12);
    let (p, r, f) = f_score(&[(pr.clone(), re.clone())]);
    // F at τ = 0.9: 2·1·0.5/1.5 = 0.667; at τ = 0.3: 0.667 too (P = R); the first maximum wins.
    assert!((f - 200.0 / 3.0).abs() < 1e-9, "F {f}");
    assert!((p - 100.0).abs() < 1e-9 && (r - 50.0).abs() < 1e-9, "Pr {p} Re {r}");
}

#[test]
fn rgbd_dataflow_carries_six_channels_and_equals_the_fused_tracker() {
    use crate::common::{run, trackflow};
    let t = TempDir::new("vipt-flow");
    let data = t.path().join("rgbd");
    let opts = trackflow::data::synth::SynthOptions {
        sequences: 1,
        frames: 8,
        width: 160,
        height: 120,
        seed: 5,
        prefix: "night".into(),
        modality: Some(Modality::Depth),
        dark: true,
        ..Default::default()
    };
    trackflow::data::synth::generate(&data, &opts).unwrap();
    let cfg = dir().join("deep.kdl").display().to_string();
    let (flow_out, fused_out) = (t.path().join("flow"), t.path().join("fused"));
    let mut c = trackflow();
    c.args(["run", "dataflows/track-rgbd.kdl", "--timeout", "300"]);
    for s in [
        format!("source.path={}", data.display()),
        format!("writer.out={}", flow_out.display()),
        format!("viewer.out={}", flow_out.display()),
        format!("crop.config={cfg}"),
        format!("backbone.config={cfg}"),
        format!("head.config={cfg}"),
    ] {
        c.arg("--set").arg(s);
    }
    let o = run(c);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut c = trackflow();
    c.args(["track", "--config", &cfg, "--device", "cpu", "--untrained"]).arg(&data).arg("--out").arg(&fused_out);
    assert!(run(c).status.success());
    let read = |p: PathBuf| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(read(flow_out.join("night_0001.txt")), read(fused_out.join("night_0001.txt")), "dataflow and fused boxes differ");
    let conf = read(flow_out.join("night_0001_confidence.value"));
    assert_eq!(conf.lines().count(), 8, "one confidence per frame");
    assert_eq!(conf, read(fused_out.join("night_0001_confidence.value")), "dataflow and fused confidences differ");
    // The viewer shows colour and depth side by side.
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(flow_out.join("night_0001.mp4"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "320,120", "two 160×120 views side by side");
    // DepthTrack's measures on the results.
    let mut c = trackflow();
    c.args(["analyze", "--protocol", "depthtrack", "--dataset"]).arg(&data).arg(format!("vipt={}", flow_out.display()));
    let o = run(c);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("Pr") && text.contains("vipt"), "{text}");
    // The VOT toolkit's long-term layout, confidences included.
    let zip = t.path().join("vot.zip");
    let mut c = trackflow();
    c.args(["pack", "vot-rgbd"]).arg(&flow_out).arg("-o").arg(&zip);
    assert!(run(c).status.success());
    let bytes = std::fs::read(&zip).unwrap();
    let has = |name: &str| bytes.windows(name.len()).any(|w| w == name.as_bytes());
    assert!(has("longterm/night_0001/night_0001_001.txt") && has("longterm/night_0001/night_0001_001_confidence.value"));
}

#[test]
fn prompt_tuning_trains_only_the_prompts_on_six_channel_batches() {
    use std::sync::Arc;
    use trackflow::data::datasets::{TrainDataset, multimodal};
    use trackflow::train::sampler::PairSampler;
    use trackflow::train::{Init, Loader, Trainer, train_in_process};
    tch::set_num_threads(1);
    let t = TempDir::new("vipt-train");
    let data = t.path().join("rgbt");
    let opts = trackflow::data::synth::SynthOptions {
        sequences: 2,
        frames: 25,
        width: 160,
        height: 120,
        seed: 8,
        prefix: "seq".into(),
        modality: Some(Modality::Thermal),
        ..Default::default()
    };
    trackflow::data::synth::generate(&data, &opts).unwrap();
    // A small OSTrack to start from, and the same shape with deep prompts.
    let base = crate::train::small_cfg();
    let mut ostrack = OSTrack::new(&base, Parts::All, Device::Cpu);
    ostrack.randomize(3);
    let init = t.path().join("ostrack.safetensors");
    ostrack.save(&init).unwrap();
    let mut cfg = base.clone();
    cfg.model.prompt = Some(trackflow::model::PromptType::Deep);
    cfg.name = "tiny_vipt".into();
    let ds = TrainDataset {
        name: "SYNTH".into(),
        pairs: trackflow::data::datasets::PairKind::Video,
        sequences: multimodal(&data, None, "SYNTH", 0.0).unwrap(),
    };
    assert!(ds.sequences.iter().all(|s| s.aux.is_some()));
    let sampler = Arc::new(PairSampler::new(vec![ds], &[1.0], &cfg).unwrap());
    let mut trainer = Trainer::new(&cfg, Device::Cpu, 5, &Init::Weights(init.clone())).unwrap();
    let before: HashMap<String, Tensor> = trainer.model.vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect();
    let mut loader = Loader::new(sampler, &cfg, 1, 5, 2);
    let stats = train_in_process(&mut trainer, &mut loader, 1, 2, 2).unwrap();
    assert!(stats.iter().all(|s| s.loss.is_finite()));
    let mut changed_prompts = 0;
    for (name, after) in trainer.model.vs.variables() {
        let same = after.equal(&before[&name]);
        if trackflow::model::is_prompt_key(&name) {
            changed_prompts += usize::from(!same);
        } else {
            // Frozen: the OSTrack weights, and the head's BatchNorm statistics (FIX_BN).
            assert!(same, "{name} changed while prompt tuning");
        }
    }
    assert!(changed_prompts > 10, "only {changed_prompts} prompt tensors moved");
}
