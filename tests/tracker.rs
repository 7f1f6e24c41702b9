//! Tracking from the outside: datasets as found on disk, the fused tracker on synthetic
//! sequences, and the refusals a user sees. The crop, the Hann window and the clip are tested
//! beside their code (`src/tracker`).

/// A partial download: list.txt names sequences that are not on disk. They are reported and the
/// rest is indexed, instead of the IndexError OSTrack users know.
#[test]
fn partial_dataset_is_indexed_from_disk() {
    let dir = crate::common::TempDir::new("partial");
    let data = crate::common::synth(dir.path(), 4, 3, 1);
    std::fs::remove_dir_all(data.join("seq_0003")).unwrap();
    let seqs = trackflow::data::sequence::discover(&data, trackflow::data::sequence::Layout::Auto).unwrap();
    let names: Vec<&str> = seqs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["seq_0001", "seq_0002", "seq_0004"]);
}

/// LaSOT: class folders; testing_set.txt, or else the official test split, picks the sequences.
#[test]
fn lasot_test_split_is_honoured() {
    let dir = crate::common::TempDir::new("lasot");
    let root = dir.path().join("LaSOT");
    for (class, n) in [("airplane", 1), ("airplane", 2), ("bird", 3)] {
        let out = root.join(class);
        let opts = trackflow::data::synth::SynthOptions {
            sequences: 1,
            frames: 2,
            width: 64,
            height: 48,
            seed: n,
            occlusion: false,
            prefix: "tmp".into(),
            ..Default::default()
        };
        trackflow::data::synth::generate(&out, &opts).unwrap();
        std::fs::rename(out.join("tmp_0001"), out.join(format!("{class}-{n}"))).unwrap();
        std::fs::remove_file(out.join("list.txt")).unwrap();
    }
    // Without testing_set.txt, the official 280-sequence test split (configs/data_specs) applies.
    let official: Vec<String> =
        trackflow::data::sequence::discover(&root, trackflow::data::sequence::Layout::Auto).unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(official, ["airplane-1", "bird-3"]);
    std::fs::write(root.join("testing_set.txt"), "airplane-2\nbird-3\nbird-9\n").unwrap();
    let test: Vec<String> =
        trackflow::data::sequence::discover(&root, trackflow::data::sequence::Layout::Auto).unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(test, ["airplane-2", "bird-3"]);
}

/// A frame deleted from the middle of a sequence is an error naming the missing file, not a
/// sequence one frame shorter whose later frames meet the wrong ground truth; unpadded frame
/// names are read in number order.
#[test]
fn a_missing_middle_frame_is_named_and_unpadded_names_sort_by_number() {
    let dir = crate::common::TempDir::new("gap");
    let data = crate::common::synth(dir.path(), 1, 14, 3);
    let seq = data.join("seq_0001");
    std::fs::remove_file(seq.join("00000012.jpg")).unwrap();
    let e = format!("{:#}", trackflow::data::sequence::discover(&data, trackflow::data::sequence::Layout::Auto).unwrap_err());
    assert!(e.contains("frame 12 is missing") && e.contains("seq_0001/00000012.jpg"), "{e}");
    let mut c = crate::common::trackflow();
    c.args(["track", "--config", "demo", "--device", "cpu"]).arg(&data).arg("--out").arg(dir.path().join("out"));
    let o = c.output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("00000012.jpg"));

    // 1.jpg … 13.jpg: lexical order would put 10 before 2.
    std::fs::copy(seq.join("00000011.jpg"), seq.join("00000012.jpg")).unwrap();
    for i in 1..=14 {
        std::fs::rename(seq.join(format!("{i:08}.jpg")), seq.join(format!("{i}.jpg"))).unwrap();
    }
    let s = trackflow::data::sequence::read_sequence(&seq, trackflow::data::sequence::FrameFolder::Any).unwrap();
    let names: Vec<String> = match &s.frames {
        trackflow::data::sequence::Frames::Files(f) => f.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(names[..3], ["1.jpg", "2.jpg", "3.jpg"]);
    assert_eq!(names.len(), 14);
}

/// `trackflow track` with a preset that has no weights of its own refuses, saying how to get
/// weights, unless random weights are asked for with `--untrained`.
#[test]
fn a_preset_without_weights_is_refused_unless_untrained() {
    let dir = crate::common::TempDir::new("untrained");
    let data = crate::common::synth(dir.path(), 1, 4, 5);
    let mut c = crate::common::trackflow();
    c.args(["track", "--config", "tiny", "--device", "cpu"]).arg(&data).arg("--out").arg(dir.path().join("refused"));
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("config `tiny` has no trained weights") && err.contains("trackflow convert"), "{err}");
    assert!(!dir.path().join("refused").exists());
    let mut c = crate::common::trackflow();
    c.args(["track", "--config", "tiny", "--device", "cpu", "--untrained"]).arg(&data).arg("--out").arg(dir.path().join("random"));
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("UNTRAINED"));
    assert_eq!(std::fs::read_to_string(dir.path().join("random/seq_0001.txt")).unwrap().lines().count(), 4);
}

/// Sequences tracked in lockstep (batch 2 over three sequences of different lengths, slots
/// refilled as sequences end) get the boxes each gets alone: in float64 to 1e-9 px.
#[test]
fn lockstep_batches_give_each_sequences_own_boxes() {
    use trackflow::model::{Config, OSTrack, Parts};
    use trackflow::tracker::batch::{BatchTracker, LockstepInput, track_lockstep};
    use trackflow::tracker::{TrackOptions, Tracker};
    let dir = crate::common::TempDir::new("lockstep");
    let mut seqs = Vec::new();
    for (i, frames) in [7usize, 11, 4].into_iter().enumerate() {
        let data = crate::common::synth(&dir.path().join(format!("set{i}")), 1, frames, 30 + i as u64);
        for mut s in trackflow::data::sequence::discover(&data, trackflow::data::sequence::Layout::Auto).unwrap() {
            s.name = format!("{}-{i}", s.name);
            seqs.push(s);
        }
    }
    let cfg = Config::from_name("tiny").unwrap();
    let model = || {
        let mut m = OSTrack::new(&cfg, Parts::All, tch::Device::Cpu);
        m.randomize(3);
        m.set_kind(tch::Kind::Double);
        m
    };
    let mut alone = Vec::new();
    for seq in &seqs {
        let mut t = Tracker::new(model(), TrackOptions::default(), tch::Kind::Double);
        let mut boxes = Vec::new();
        for (i, im) in seq.reader().unwrap().enumerate() {
            let im = im.unwrap();
            boxes.push(if i == 0 {
                t.initialize(&im, seq.init_box().unwrap()).unwrap();
                seq.init_box().unwrap()
            } else {
                t.track(&im).unwrap().bbox
            });
        }
        alone.push(boxes);
    }
    let mut batched = BatchTracker::new(model(), TrackOptions::default(), tch::Kind::Double, 2);
    let inputs = seqs.iter().map(|s| LockstepInput { name: s.name.clone(), init_box: s.init_box().unwrap(), frames: s.reader().unwrap() });
    let mut got = std::collections::HashMap::new();
    track_lockstep(&mut batched, inputs, |name, frames, error| {
        assert!(error.is_none(), "{name}: {error:?}");
        got.insert(name.to_string(), frames.into_iter().map(|f| f.0).collect::<Vec<_>>());
    })
    .unwrap();
    for (seq, want) in seqs.iter().zip(&alone) {
        let have = &got[&seq.name];
        assert_eq!(have.len(), want.len(), "{}", seq.name);
        for (a, b) in have.iter().zip(want) {
            for k in 0..4 {
                assert!((a[k] - b[k]).abs() < 1e-9, "{}: {a:?} vs {b:?}", seq.name);
            }
        }
    }
}

/// An OTB-100 download without cfg.json files: David starts at frame 300, Tiger1 skips its first
/// five frames and rows, Jogging's two targets are `Jogging-1` and `Jogging-2`; other folders
/// read as before.
#[test]
fn otb100_as_downloaded_gets_its_official_ranges_and_both_targets() {
    use trackflow::data::sequence::{Frames, Layout, discover};
    let dir = crate::common::TempDir::new("otb100");
    let root = dir.path().join("OTB100");
    let rows = |n: usize, k: usize| (0..n).map(|i| format!("{},{},20,30\n", i + k, i)).collect::<String>();
    for (seq, files) in [("David", vec![("groundtruth_rect.txt", rows(471, 0))]), ("Tiger1", vec![("groundtruth_rect.txt", rows(354, 0))])]
        .into_iter()
        .chain([("Jogging", vec![("groundtruth_rect.1.txt", rows(307, 0)), ("groundtruth_rect.2.txt", rows(307, 1000))])])
    {
        std::fs::create_dir_all(root.join(seq).join("img")).unwrap();
        for (name, text) in files {
            std::fs::write(root.join(seq).join(name), text).unwrap();
        }
    }
    let mine = crate::common::synth(&dir.path().join("mine"), 1, 3, 5).join("seq_0001");
    std::fs::rename(&mine, root.join("Mine")).unwrap();
    let seqs = discover(&root, Layout::Auto).unwrap();
    let names: Vec<&str> = seqs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["David", "Jogging-1", "Jogging-2", "Mine", "Tiger1"]);
    let first = |s: &trackflow::data::sequence::Sequence| match &s.frames {
        Frames::Files(f) => (f.len(), f[0].file_name().unwrap().to_string_lossy().into_owned()),
        other => panic!("{other:?}"),
    };
    assert_eq!(first(&seqs[0]), (471, "0300.jpg".to_string()));
    assert_eq!(first(&seqs[4]), (349, "0006.jpg".to_string()));
    assert_eq!(seqs[4].ground_truth[0], [5.0, 5.0, 20.0, 30.0], "Tiger1's first five rows are skipped with its frames");
    assert_eq!(seqs[2].ground_truth[0][0], 1000.0, "Jogging-2 reads groundtruth_rect.2.txt");
    assert_eq!(seqs[3].len(), 3);
}

/// Runs `trackflow track` with the demo weights on `data`, with `extra` arguments.
fn track_cli(data: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut c = crate::common::trackflow();
    c.args(["track", "--config", "demo", "--device", "cpu", "--threads", "1"]).arg(data).arg("--out").arg(out).args(extra);
    let o = c.output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `track --init-box` with a box of 1e308 or 30000 px on a 160×120 sequence: a clear error and
/// exit code 1, not a panic (101) on overflow or an abort on a 10.8 GB allocation.
#[test]
fn track_refuses_huge_init_boxes_with_exit_code_1() {
    let dir = crate::common::TempDir::new("hugebox");
    let data = crate::common::synth(dir.path(), 1, 3, 8);
    for (arg, shown) in [("0,0,1e308,1e308", "1e308"), ("0,0,30000,30000", "30000")] {
        let (code, err) = track_cli(&data, &dir.path().join("out"), &["--init-box", arg]);
        assert_eq!(code, Some(1), "{arg}: {err}");
        assert!(err.contains(shown) && err.contains("2560 px") && err.contains("--init-box"), "{arg}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, err) = track_cli(&data, &dir.path().join("out"), &["--init-box", "0,0,nan,5"]);
    assert!(code == Some(1) && err.contains("NaN"), "{err}");
}

/// The same huge box as the first row of groundtruth.txt: the error names the file and line,
/// one sequence at a time and in lockstep batches; a NaN row is named the same way.
#[test]
fn a_huge_ground_truth_box_names_its_file_and_line() {
    let dir = crate::common::TempDir::new("hugegt");
    let data = crate::common::synth(dir.path(), 1, 3, 9);
    let gt = data.join("seq_0001/groundtruth.txt");
    let text = std::fs::read_to_string(&gt).unwrap();
    let rest: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&gt, format!("0,0,30000,30000\n{rest}")).unwrap();
    for extra in [&[][..], &["--batch", "2"][..]] {
        let (code, err) = track_cli(&data, &dir.path().join("out"), extra);
        assert_eq!(code, Some(1), "{extra:?}: {err}");
        assert!(err.contains("groundtruth.txt:1") && err.contains("30000") && err.contains("2560 px"), "{extra:?}: {err}");
    }
    std::fs::write(&gt, format!("\nnan,0,20,20\n{rest}")).unwrap();
    let seq = trackflow::data::sequence::read_sequence(&data.join("seq_0001"), trackflow::data::sequence::FrameFolder::Any).unwrap();
    let e = format!("{:#}", seq.init_box().unwrap_err());
    assert!(e.contains("groundtruth.txt:2") && e.contains("NaN"), "{e}");
}

/// A 1×1 frame in the middle of a sequence ends it with an error naming the file and both sizes;
/// the frames before it are kept as partial results, instead of the box derailing to the corner
/// for the rest of the sequence.
#[test]
fn a_one_pixel_frame_is_named_not_tracked_through() {
    let dir = crate::common::TempDir::new("onepixel");
    let data = crate::common::synth(dir.path(), 1, 5, 10);
    let frame = data.join("seq_0001/00000003.jpg");
    image::save_buffer_with_format(&frame, &[200, 10, 10], 1, 1, image::ExtendedColorType::Rgb8, image::ImageFormat::Jpeg).unwrap();
    for (extra, out) in [(&[][..], "fused"), (&["--batch", "2"][..], "batched")] {
        let out = dir.path().join(out);
        let (code, err) = track_cli(&data, &out, extra);
        assert_eq!(code, Some(1), "{extra:?}: {err}");
        assert!(err.contains("00000003.jpg") && err.contains("1×1") && err.contains("160×120"), "{extra:?}: {err}");
        let partial = std::fs::read_to_string(out.join("seq_0001.partial.txt")).unwrap();
        assert_eq!(partial.lines().count(), 2, "{extra:?}: frames 1 and 2 are kept");
    }
}
