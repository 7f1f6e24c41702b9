//! Property tests of the evaluator's inputs: result and ground-truth text of any kind, and boxes
//! of any float (NaN, ±∞, huge, negative, subnormal), through the parsers, the measures, and
//! `analyze` and `pack` themselves. The property is totality: no panic, whatever the input, and
//! what comes out is well formed (fractions in [0, 1], one line number per row).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use trackflow::data::results::{parse_box_rows, parse_value_rows};
use trackflow::eval::measures::*;
use trackflow::eval::multimodal::{MaxCurves, f_score, pr_sequence, rgbt_sequence, vot_thresholds};

/// Floats that break arithmetic, and ordinary ones.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(f64::EPSILON),
        Just(0.0),
        Just(-0.0),
        Just(1e300),
        Just(-1e300),
        -2000.0..2000.0f64,
        0.0..200.0f64,
        any::<f64>(),
    ]
}

fn rect() -> impl Strategy<Value = Rect> {
    prop::array::uniform4(value())
}

fn rects(max: usize) -> impl Strategy<Value = Vec<Rect>> {
    prop::collection::vec(rect(), 0..max)
}

/// Whether every value is a fraction.
fn fractions(v: &[f64]) -> bool {
    v.iter().all(|x| (0.0..=1.0).contains(x))
}

/// One item of a result line: numbers in every spelling `f64` parses, and things it does not.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        value().prop_map(|v| v.to_string()),
        value().prop_map(|v| format!("{v:e}")),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("1e999".to_string()),
        Just("0x10".to_string()),
        Just("1,5".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{fffd}".to_string()),
        "[0-9.eE+-]{0,6}",
        "\\PC{0,6}",
    ]
}

/// Text shaped like a result file (tokens, separators, line ends), or anything at all.
fn text() -> impl Strategy<Value = String> {
    let sep = prop_oneof![Just(","), Just("\t"), Just(" "), Just(",,"), Just("\n"), Just("\r\n"), Just("\n\n")];
    prop_oneof![
        prop::collection::vec((token(), sep), 0..60).prop_map(|v| v.into_iter().map(|(t, s)| t + s).collect::<String>()),
        any::<String>(),
        rects(12).prop_map(|r| r.iter().map(|b| format!("{},{},{},{}\n", b[0], b[1], b[2], b[3])).collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text: one box and one line number per non-empty line, a NaN box for each bad line,
    /// and every bad line named.
    #[test]
    fn box_rows_parse_any_text(t in text()) {
        let rows = parse_box_rows(&t);
        prop_assert_eq!(rows.boxes.len(), rows.lines.len());
        prop_assert_eq!(rows.boxes.len(), t.lines().filter(|l| !l.trim().is_empty()).count());
        prop_assert!(rows.lines.windows(2).all(|w| w[0] < w[1]));
        for p in &rows.problems {
            let i = rows.lines.iter().position(|&l| l == p.line);
            prop_assert!(i.is_some(), "problem on a line that is not a row: {:?}", p);
            prop_assert!(rows.boxes[i.unwrap()].iter().all(|v| v.is_nan()));
            // Four items of at most 40 characters each, escaped: bounded whatever the line.
            prop_assert!(p.what.chars().count() < 2000, "messages quote a bounded excerpt: {:?}", p);
        }
        let values = parse_value_rows(&t);
        prop_assert_eq!(values.values.len(), values.lines.len());
    }

    /// Boxes written as `x,y,w,h` read back exactly, NaN and infinities included.
    #[test]
    fn box_rows_round_trip(r in rects(20)) {
        let t: String = r.iter().map(|b| format!("{}\t{},{} {}\n", b[0], b[1], b[2], b[3])).collect();
        let rows = parse_box_rows(&t);
        prop_assert!(rows.problems.is_empty(), "{:?}", rows.problems);
        prop_assert_eq!(rows.boxes.len(), r.len());
        for (a, b) in rows.boxes.iter().zip(&r) {
            for (x, y) in a.iter().zip(b) {
                prop_assert!(x == y || x.is_nan() && y.is_nan());
            }
        }
    }

    /// The pairwise measures on any two boxes.
    #[test]
    fn overlaps_of_any_boxes(a in rect(), b in rect(), w in value(), h in value()) {
        let iou = got10k_iou(a, b);
        prop_assert!((0.0..=1.0).contains(&iou), "{}", iou);
        let c = got10k_clip(a, w, h);
        prop_assert!((0.0..=1.0).contains(&got10k_iou(c, got10k_clip(b, w, h))));
        let _ = (continuous_overlap(a, b), pytracking_iou(a, b), centre_error(a, b), box_problem(&a));
        let _ = trackflow::eval::multimodal::vot_iou(a, b);
    }

    /// GOT-10k on any predictions, ground truth, cover labels and image size.
    #[test]
    fn got10k_on_anything(
        pred in rects(12),
        gt in rects(12),
        cover in prop::collection::vec(any::<u8>(), 0..12),
        bound in prop::option::of((value(), value())),
        same_length in any::<bool>(),
    ) {
        // Half the cases with matching lengths, so that the scoring itself runs.
        let pred = if same_length { gt.iter().zip(pred.iter().cycle()).map(|(_, p)| *p).collect() } else { pred };
        let cover = if same_length && !pred.is_empty() { gt.iter().zip(cover.iter().chain(std::iter::repeat(&8))).map(|(_, c)| *c).collect() } else { cover };
        if let Ok((ious, issues)) = got10k_sequence(&pred, &gt, &cover, bound) {
            prop_assert!(fractions(&ious), "{:?}", ious);
            prop_assert!(ious.len() < gt.len().max(1));
            prop_assert!(issues.rows.iter().all(|i| i.frame < gt.len()));
            let s = got10k_score(&ious);
            prop_assert!(fractions(&[s.ao, s.sr50, s.sr75]));
            let _ = issues.to_string();
        }
    }

    /// pytracking's rules on any predictions and ground truth, every dataset.
    #[test]
    fn pytracking_on_anything(pred in rects(12), gt in rects(12), visible in prop::collection::vec(any::<bool>(), 0..12)) {
        for ds in [PytrackingDataset::Otb, PytrackingDataset::Lasot, PytrackingDataset::Uav] {
            if let Ok((c, issues)) = pytracking_sequence(&pred, &gt, Some(&visible), ds) {
                prop_assert_eq!((c.success.len(), c.precision.len(), c.norm_precision.len()), (21, 51, 51));
                prop_assert!(fractions(&c.success) && fractions(&c.precision) && fractions(&c.norm_precision));
                let _ = (c.auc(), c.op50(), c.op75(), c.prec20(), c.norm_prec20(), issues.to_string());
            }
            let _ = pytracking_sequence(&pred, &gt, None, ds);
        }
    }

    /// TrackingNet on any predictions (or none) and ground truth.
    #[test]
    fn trackingnet_on_anything(pred in prop::option::of(rects(12)), gt in rects(12)) {
        let (c, issues) = trackingnet_sequence(pred.as_deref(), &gt);
        prop_assert!(c.success.len() == 21 && fractions(&c.success) && fractions(&c.precision) && fractions(&c.norm_precision));
        let (s, p, n) = trackingnet_score(&[c]);
        prop_assert!([s, p, n].iter().all(|v| (0.0..=100.0 + 1e-9).contains(v)), "{} {} {}", s, p, n);
        let _ = issues.to_string();
    }

    /// Curves of any lengths, means of none: no index out of bounds.
    #[test]
    fn curve_arithmetic_on_any_lengths(ys in prop::collection::vec(prop::collection::vec(value(), 0..30), 0..4)) {
        for y in &ys {
            let _ = trapz21(y);
        }
        let curves: Vec<Curves> =
            ys.iter().map(|y| Curves { success: y.clone(), precision: y.clone(), norm_precision: y.clone() }).collect();
        let m = Curves::mean(&curves);
        let _ = (m.auc(), m.op50(), m.op75(), m.prec20(), m.norm_prec20());
        let tn: Vec<TrackingNetCurves> =
            ys.iter().map(|y| TrackingNetCurves { success: y.clone(), precision: y.clone(), norm_precision: y.clone() }).collect();
        let _ = trackingnet_score(&tn);
        let max: Vec<MaxCurves> = ys.iter().map(|y| MaxCurves { success: y.clone(), precision: y.clone() }).collect();
        let m = MaxCurves::mean(&max);
        let _ = (m.mpr(), m.msr());
        let _ = f_score(&ys.iter().map(|y| (y.clone(), y.iter().rev().copied().collect())).collect::<Vec<_>>());
    }

    /// The multi-modal measures on anything.
    #[test]
    fn multimodal_on_anything(
        pred in rects(10),
        vis in rects(10),
        ir in rects(10),
        conf in prop::collection::vec(value(), 0..10),
        resolution in 0usize..120,
    ) {
        if let Ok(c) = rgbt_sequence(&pred, &vis, &ir) {
            prop_assert!(fractions(&c.success) && fractions(&c.precision));
        }
        let th = vot_thresholds(&conf, resolution);
        prop_assert!(th.len() >= 2);
        if let Ok((pr, re)) = pr_sequence(&pred, &conf, &vis, &th) {
            let _ = f_score(&[(pr, re)]);
        }
    }
}

/// A line of a megabyte is named with an excerpt, not repeated whole.
#[test]
fn long_lines_are_quoted_short() {
    for line in ["x".repeat(1 << 20), "1,".repeat(1 << 19), format!("{},2,3,4", "9".repeat(1 << 20) + "z")] {
        let rows = parse_box_rows(&line);
        assert_eq!(rows.problems.len(), 1);
        assert!(rows.problems[0].what.len() < 200, "{}", rows.problems[0].what.len());
    }
}

/// `analyze` and `pack` themselves, in process, on a dataset whose ground truth and results are
/// arbitrary text: every protocol, strict and partial; an error is fine, a panic is not.
#[test]
fn analyze_and_pack_take_any_files() {
    use trackflow::eval::analyze::{Options, Protocol, analyze_with, render};
    use trackflow::eval::pack::{Server, pack};
    let dir = crate::common::TempDir::new("scorers");
    let data = crate::common::synth(dir.path(), 2, 6, 31);
    let res = dir.path().join("res");
    std::fs::create_dir_all(&res).unwrap();
    let gt_path = data.join("seq_0001/groundtruth.txt");
    let gt = std::fs::read_to_string(&gt_path).unwrap();
    let files = (text(), text(), text(), text(), any::<bool>());
    let mut runner = TestRunner::new(Config::with_cases(32));
    runner
        .run(&files, |(seq1, seq2, conf, ground_truth, garbage_gt)| {
            std::fs::write(&gt_path, if garbage_gt { &ground_truth } else { &gt }).unwrap();
            std::fs::write(res.join("seq_0001.txt"), &seq1).unwrap();
            std::fs::write(res.join("seq_0002.txt"), &seq2).unwrap();
            std::fs::write(res.join("seq_0001_time.txt"), &conf).unwrap();
            std::fs::write(res.join("seq_0001_confidence.value"), &conf).unwrap();
            let trackers = [("res".to_string(), res.clone())];
            for p in trackflow::eval::protocols::PROTOCOLS {
                let protocol = Protocol::parse(p.name).unwrap();
                for partial in [false, true] {
                    if let Ok(scores) = analyze_with(protocol, &data, &trackers, Options { partial }) {
                        let _ = render(protocol, &scores);
                    }
                }
            }
            let expected = vec![("seq_0001".to_string(), 6), ("seq_0002".to_string(), 6)];
            for server in [Server::Got10k, Server::TrackingNet, Server::Rgbt234, Server::VotRgbd] {
                let out = dir.path().join("submit.zip");
                if pack(server, &res, &out, Some(&expected)).is_ok() {
                    std::fs::remove_file(&out).unwrap();
                }
            }
            Ok(())
        })
        .unwrap();
}
