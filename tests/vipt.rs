//! ViPT: the prompt modules against the official code (data from
//! tests/golden/generate_vipt.py), the trainable-parameter count of ViT-B, the depth colormap
//! against OpenCV, and the multi-modal sequence layouts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use trackflow::modality::{self, Modality};
use trackflow::model::{Config, OSTrack, Parts};

use crate::common::TempDir;

fn dir() -> PathBuf {
    crate::common::root().join("tests/golden/vipt")
}

fn read(name: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(dir().join(name)).unwrap().into_iter().collect()
}

/// max |a − b| / max(|b|, 1e-3 · max|b|), elementwise.
fn max_rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    let floor = b.abs().max().double_value(&[]) * 1e-3;
    ((&a - &b).abs() / b.abs().clamp_min(floor)).max().double_value(&[])
}

#[test]
fn prompted_backbone_and_head_match_pytorch_deep_and_shaw() {
    for variant in ["deep", "shaw"] {
        let cfg = Config::load(&dir().join(format!("{variant}.kdl"))).unwrap_or_else(|p| panic!("{}", p.render(false)));
        let mut m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
        m.load(&dir().join(format!("{variant}.safetensors"))).unwrap();
        let io = read(&format!("{variant}.io.safetensors"));
        let _g = tch::no_grad_guard();
        for (tag, ce) in [("ce", true), ("noce", false)] {
            let out = m.backbone().unwrap().forward(&io["template"], &io["search"], ce, None, false);
            let e = max_rel_err(&out.tokens, &io[&format!("{tag}.tokens")]);
            assert!(e < 1e-5, "{variant} {tag}: backbone tokens, max relative error {e:e}");
            let want_removed = (0..4).filter(|i| io.contains_key(&format!("{tag}.removed.{i}"))).count();
            assert_eq!(out.removed.len(), want_removed, "{variant} {tag}: eliminating blocks");
            for (i, r) in out.removed.iter().enumerate() {
                assert!(r.equal(&io[&format!("{tag}.removed.{i}")]), "{variant} {tag}: CE layer {i} removed other tokens");
            }
            let head = m.head().unwrap();
            let maps = head.forward_t(&head.tokens_to_map(&out.tokens), false);
            for (name, t) in [("score_map", &maps.score), ("size_map", &maps.size), ("offset_map", &maps.offset)] {
                let e = max_rel_err(t, &io[&format!("{tag}.{name}")]);
                assert!(e < 1e-5, "{variant} {tag}.{name}: max relative error {e:e}");
            }
        }
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
    let seqs = trackflow::sequence::discover(&t.path().join("lasher"), trackflow::sequence::Layout::Auto).unwrap();
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
    let err = trackflow::sequence::discover(&ev, trackflow::sequence::Layout::Auto).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("vis_imgs has 5 frames") && msg.contains("event_imgs has 4"), "{msg}");
}
