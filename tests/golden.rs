//! trackflow against the official OSTrack code: network outputs, candidate elimination, crops
//! (OpenCV) and a tracked sequence, from data written by tests/golden/generate_ostrack.py.

use std::collections::HashMap;
use std::path::PathBuf;

use tch::{Device, Kind, Tensor};
use trackflow::model::{Config, OSTrack, Parts};
use trackflow::sequence::{load_frame, read_boxes};
use trackflow::tracker::crop::{Image, sample_target};
use trackflow::tracker::{TrackOptions, Tracker};

fn dir() -> PathBuf {
    crate::common::root().join("tests/golden/ostrack")
}

fn read(name: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(dir().join(name)).unwrap().into_iter().collect()
}

fn model() -> OSTrack {
    let cfg = Config::load(&dir().join("model.kdl")).unwrap_or_else(|p| panic!("{}", p.render(false)));
    let mut m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    m.load(&dir().join("weights.safetensors")).unwrap();
    m
}

/// max |a − b| / max(|b|, 1e-3 · max|b|), elementwise.
fn max_rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let a = a.to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    let floor = b.abs().max().double_value(&[]) * 1e-3;
    ((&a - &b).abs() / b.abs().clamp_min(floor)).max().double_value(&[])
}

#[test]
fn network_outputs_match_pytorch() {
    let m = model();
    let io = read("io.safetensors");
    let _g = tch::no_grad_guard();
    for (tag, ce) in [("ce", true), ("noce", false)] {
        let out = m.backbone().unwrap().forward(&io["template"], &io["search"], ce, None, false);
        assert!(max_rel_err(&out.tokens, &io[&format!("{tag}.tokens")]) < 1e-5, "{tag}: backbone tokens");
        if ce {
            assert_eq!(out.removed.len(), 2);
            for (i, r) in out.removed.iter().enumerate() {
                let want = &io[&format!("ce.removed.{i}")];
                assert!(r.equal(want), "CE layer {}: removed indices (order included) differ:\n{r}\nvs\n{want}", i + 1);
            }
        } else {
            assert!(out.removed.is_empty());
        }
        let head = m.head().unwrap();
        let maps = head.forward_t(&head.tokens_to_map(&out.tokens), false);
        for (name, t) in [("score_map", &maps.score), ("size_map", &maps.size), ("offset_map", &maps.offset)] {
            let e = max_rel_err(t, &io[&format!("{tag}.{name}")]);
            assert!(e < 1e-5, "{tag}.{name}: max relative error {e:e}");
        }
        let (boxes, _) = trackflow::model::decode_boxes(&maps.score, &maps.size, &maps.offset);
        let want = &io[&format!("{tag}.pred_boxes")];
        assert!(max_rel_err(&boxes, want) < 1e-5, "{tag}: decoded boxes {boxes} vs {want}");
    }
}

#[test]
fn crops_match_opencv_pixel_for_pixel() {
    let im = load_frame(&dir().join("image.png")).unwrap();
    let crops = read("crops.safetensors");
    let n = crops.keys().filter(|k| k.ends_with(".patch")).count();
    assert!(n >= 10);
    for i in 0..n {
        let b = Vec::<f64>::try_from(&crops[&format!("{i}.box")]).unwrap();
        let fs = Vec::<f64>::try_from(&crops[&format!("{i}.factor_size")]).unwrap();
        let want = &crops[&format!("{i}.patch")];
        let r = sample_target(&im, [b[0], b[1], b[2], b[3]], fs[0], fs[1] as usize).unwrap();
        assert_eq!(r.resize_factor, fs[2], "case {i}: resize factor");
        let got = Tensor::from_slice(&r.patch.data).view([r.patch.height as i64, r.patch.width as i64, 3]);
        let diff = (got.to_kind(Kind::Int) - want.to_kind(Kind::Int)).abs();
        let bad = diff.gt(0).sum(Kind::Int64).int64_value(&[]);
        assert_eq!(
            bad,
            0,
            "case {i} (box {b:?}, factor {}, size {}): {bad} values differ, max diff {}",
            fs[0],
            fs[1],
            diff.max().int64_value(&[])
        );
    }
}

#[test]
fn tracked_boxes_match_the_official_tracker() {
    let frames: Vec<PathBuf> = (1..=10).map(|i| dir().join(format!("frames/{i:08}.png"))).collect();
    let want: Vec<Vec<f64>> = std::fs::read_to_string(dir().join("boxes.txt"))
        .unwrap()
        .lines()
        .map(|l| l.split(' ').map(|v| v.parse().unwrap()).collect())
        .collect();
    let init = read_boxes(&dir().join("frames/groundtruth.txt")).unwrap()[0];
    let mut t = Tracker::new(model(), TrackOptions::default(), Kind::Float);
    let first: Image = load_frame(&frames[0]).unwrap();
    t.initialize(&first, init).unwrap();
    for (i, f) in frames.iter().enumerate().skip(1) {
        let b = t.track(&load_frame(f).unwrap()).unwrap().bbox;
        assert_eq!(b.to_vec(), want[i], "frame {i}: trackflow {b:?} vs OSTrack {:?}", want[i]);
    }
}
