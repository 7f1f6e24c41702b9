//! trackflow's protocols against the public toolkits' own numbers (tests/golden/metrics.json,
//! written by tests/golden/generate_metrics.py with got10k 0.1.3 and pytracking).

use trackflow::eval::measures::*;

fn json() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(crate::common::root().join("tests/golden/metrics.json")).unwrap()).unwrap()
}

fn rects(v: &serde_json::Value) -> Vec<Rect> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let a: Vec<f64> = r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
            [a[0], a[1], a[2], a[3]]
        })
        .collect()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{what}[{i}]: trackflow {x} vs toolkit {y}");
    }
}

#[test]
fn got10k_matches_the_got10k_toolkit() {
    let j = json();
    let mut all = Vec::new();
    for (c, case) in j["cases"].as_array().unwrap().iter().enumerate() {
        let cover: Vec<u8> = case["cover"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
        let b = floats(&case["bound"]);
        let (ious, issues) = got10k_sequence(&rects(&case["pred"]), &rects(&case["gt"]), &cover, Some((b[0], b[1]))).unwrap();
        assert!(issues.is_empty());
        close(&ious, &floats(&case["got10k_ious"]), &format!("case {c} IoUs"));
        all.extend(ious);
    }
    let s = got10k_score(&all);
    let want = &j["got10k"];
    close(
        &[s.ao, s.sr50, s.sr75],
        &[want["ao"].as_f64().unwrap(), want["sr50"].as_f64().unwrap(), want["sr75"].as_f64().unwrap()],
        "AO/SR",
    );
}

#[test]
fn otb_uav_lasot_match_pytracking() {
    let j = json();
    for (c, case) in j["cases"].as_array().unwrap().iter().enumerate() {
        let gt = rects(&case["gt"]);
        let visible: Vec<bool> = case["visible"].as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
        for (name, ds) in [("otb", PytrackingDataset::Otb), ("uav", PytrackingDataset::Uav), ("lasot", PytrackingDataset::Lasot)] {
            let want = &case[format!("pytracking_{name}")];
            let vis = (ds == PytrackingDataset::Lasot).then_some(&visible[..]);
            let (curves, _) = pytracking_sequence(&rects(&want["pred"]), &gt, vis, ds).unwrap();
            close(&curves.success, &floats(&want["success"]), &format!("case {c} {name} success"));
            close(&curves.precision, &floats(&want["precision"]), &format!("case {c} {name} precision"));
            close(&curves.norm_precision, &floats(&want["norm_precision"]), &format!("case {c} {name} norm precision"));
        }
    }
}

#[test]
fn bad_predictions_are_reported_not_silent() {
    let gt = vec![[10.0, 10.0, 20.0, 20.0]; 5];
    let pred = vec![[10.0, 10.0, 20.0, 20.0], [f64::NAN; 4], [10.0, 10.0, -3.0, 20.0], [10.0, 10.0, 0.0, 20.0], [11.0, 10.0, 20.0, 20.0]];
    let (c, issues) = pytracking_sequence(&pred, &gt, None, PytrackingDataset::Otb).unwrap();
    let text = issues.to_string();
    assert!(
        // Frames are numbered from 1 in messages, as the result file's lines.
        text.contains("frame 2: not a box (NaN or infinite value): scored as a failure")
            && text.contains("frame 3: negative width or height: scored as a failure")
            && text.contains("frame 4: prediction has zero size: replaced by the previous frame's box"),
        "{text}"
    );
    // A row that is not a box makes the results incomplete; a zero size is pytracking's own rule.
    assert!(issues.has_problems());
    let severity = |frame: usize| issues.rows.iter().find(|i| i.frame == frame).unwrap().severity;
    assert_eq!((severity(1), severity(2), severity(3)), (Severity::Problem, Severity::Problem, Severity::Note));
    // Frames 1-3 fail (the zero-size frame copies the failed frame 2), frames 0 and 4 succeed.
    assert!((c.success[0] - 0.4).abs() < 1e-12, "{:?}", c.success);
    // GOT-10k: NaN scores 0 and is named; a length mismatch is an error naming both counts.
    let (ious, issues) = got10k_sequence(&pred, &gt, &[8; 5], None).unwrap();
    assert_eq!(&ious[..2], &[0.0, 0.0]);
    assert!(
        issues.has_problems() && issues.to_string().contains("frame 2: not a box (NaN or infinite value): scored as IoU 0"),
        "{issues}"
    );
    let err = got10k_sequence(&pred[..3], &gt, &[8; 5], None).unwrap_err();
    assert!(matches!(err, trackflow::eval::measures::ScoreError::Rows { rows: 3, frames: 5, .. }), "{err:?}");
    assert!(err.to_string().contains("3 predicted rows for 5"), "{err}");
    // LaSOT refuses short results; OTB pads them with failures and says so.
    assert!(pytracking_sequence(&pred[..3], &gt, None, PytrackingDataset::Lasot).is_err());
    let (_, issues) = pytracking_sequence(&gt[..3], &gt, None, PytrackingDataset::Otb).unwrap();
    assert!(issues.has_problems() && issues.to_string().contains("2 row(s) missing (3 rows for 5 frames)"), "{issues}");
}

/// A NaN or infinite ground-truth row (the GOT-10k panic: `clamp` on NaN) drops its frame under
/// GOT-10k, as a `cover == 0` frame, and fails it under pytracking's rules; never a panic.
#[test]
fn nan_ground_truth_is_handled_as_the_toolkits_do() {
    let mut gt = vec![[10.0, 10.0, 20.0, 20.0]; 4];
    gt[2] = [f64::NAN; 4];
    gt[3] = [f64::INFINITY, 10.0, 20.0, 20.0];
    let pred = vec![[10.0, 10.0, 20.0, 20.0]; 4];
    let (ious, issues) = got10k_sequence(&pred, &gt, &[8; 4], Some((160.0, 120.0))).unwrap();
    assert_eq!(ious, [1.0], "frame 0 is dropped as always, frames 2 and 3 are not scored");
    assert!(!issues.has_problems(), "the ground truth's rows are not the results' problem: {issues}");
    assert!(issues.rows.iter().all(|i| i.ground_truth && i.severity == Severity::Note), "{issues}");
    let (c, _) = pytracking_sequence(&pred, &gt, None, PytrackingDataset::Otb).unwrap();
    assert_eq!(c.success[0], 0.5, "frames 2 and 3 fail: {:?}", c.success);
    let (c, _) = trackingnet_sequence(Some(&pred), &gt);
    assert_eq!(c.success[1], 0.5);
    // A bound that is not a size is not applied, not a panic.
    for bound in [(f64::NAN, 1.0), (-5.0, 10.0), (0.0, 0.0)] {
        let (ious, issues) = got10k_sequence(&pred, &[[10.0, 10.0, 20.0, 20.0]; 4], &[8; 4], Some(bound)).unwrap();
        assert_eq!(ious.len(), 3);
        assert!(issues.to_string().contains("not clipped"), "{issues}");
    }
}

#[test]
fn trackingnet_matches_the_devkit() {
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate::common::root().join("tests/golden/trackingnet.json")).unwrap()).unwrap();
    let mut names: Vec<&String> = j["gt"].as_object().unwrap().keys().collect();
    names.sort();
    let curves: Vec<TrackingNetCurves> = names
        .iter()
        .map(|n| {
            let pred = j["pred"].get(n.as_str()).map(rects);
            trackingnet_sequence(pred.as_deref(), &rects(&j["gt"][n.as_str()])).0
        })
        .collect();
    let (s, p, np) = trackingnet_score(&curves);
    close(
        &[s, p, np],
        &[j["success"].as_f64().unwrap(), j["precision"].as_f64().unwrap(), j["norm_precision"].as_f64().unwrap()],
        "success/precision/norm precision",
    );
}

#[test]
fn trackingnet_follows_the_devkit_rules() {
    // Identical boxes: success is 1 at every threshold (>=), so the trapezoid AUC is 100.
    let gt: Vec<Rect> = (0..10).map(|i| [10.0 + i as f64, 20.0, 30.0, 40.0]).collect();
    let (c, _) = trackingnet_sequence(Some(&gt), &gt);
    let (s, p, np) = trackingnet_score(&[c]);
    assert!((s - 100.0).abs() < 1e-9 && (p - 100.0).abs() < 1e-9 && (np - 100.0).abs() < 1e-9);
    // A missing file scores zero boxes on every frame but the first (forced to the ground truth):
    // success at threshold 0 is still 1 (IoU 0 >= 0), then 0.1 (frame 0 only).
    let (c, issues) = trackingnet_sequence(None, &gt);
    assert!(!issues.is_empty());
    assert_eq!(c.success[0], 1.0);
    assert!((c.success[1] - 0.1).abs() < 1e-12);
    // Coordinates are rounded half to even before anything else: 10.5 becomes 10, so the
    // second frame overlaps exactly and counts at the IoU >= 1 threshold.
    let same = vec![[10.0, 20.0, 30.0, 40.0]; 2];
    let (c, _) = trackingnet_sequence(Some(&[same[0], [10.5, 20.0, 30.0, 40.0]]), &same);
    assert_eq!(c.success[20], 1.0);
    let (c, _) = trackingnet_sequence(Some(&[same[0], [11.5, 20.0, 30.0, 40.0]]), &same);
    assert_eq!(c.success[20], 0.5, "11.5 rounds to 12");
    assert!((trapz21(&[1.0; 21]) - 1.0).abs() < 1e-12);
}

/// Writes each sequence's ground truth (optionally moved `dx` px right) as `<seq>.txt` results in
/// `out`, tab-separated as OSTrack writes them, and returns the rows per sequence.
fn gt_as_results(data: &std::path::Path, out: &std::path::Path, seqs: &[&str], dx: f64) -> Vec<Vec<String>> {
    std::fs::create_dir_all(out).unwrap();
    seqs.iter()
        .map(|s| {
            let gt = std::fs::read_to_string(data.join(s).join("groundtruth.txt")).unwrap();
            let rows: Vec<String> = gt
                .lines()
                .map(|l| {
                    let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
                    format!("{}\t{}\t{}\t{}", v[0] + dx, v[1], v[2], v[3])
                })
                .collect();
            std::fs::write(out.join(format!("{s}.txt")), rows.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
            rows
        })
        .collect()
}

/// Runs `trackflow analyze` (`args` after the protocol and dataset) and returns (success, stdout,
/// stderr); a panic anywhere fails the test.
fn analyze(protocol: &str, data: &std::path::Path, args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let mut c = crate::common::trackflow();
    c.args(["analyze", "--protocol", protocol, "--dataset"]).arg(data).args(args);
    let o = c.output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(!err.contains("panicked"), "{protocol}: {err}");
    (o.status.success(), out, err)
}

/// `trackflow analyze` on a synthetic GOT-10k-layout dataset: two trackers side by side. A
/// missing sequence is an error naming it, unless --partial, which scores the sequences every
/// tracker has and labels the table (and plots) partial; malformed files are all named in one
/// run; a folder with no result at all is refused even with --partial.
#[test]
fn analyze_prints_trackers_side_by_side() {
    use crate::common::{TempDir, run, synth, trackflow};
    let dir = TempDir::new("analyze");
    let data = synth(dir.path(), 3, 10, 21);
    let perfect = dir.path().join("perfect");
    let shifted = dir.path().join("shifted");
    gt_as_results(&data, &perfect, &["seq_0001", "seq_0002", "seq_0003"], 0.0);
    gt_as_results(&data, &shifted, &["seq_0001", "seq_0002"], 4.0);
    std::fs::write(data.join("seq_0001/attrs.txt"), "SV, OCC\n").unwrap();
    std::fs::write(data.join("seq_0002/attrs.txt"), "SV\n").unwrap();
    let trackers = [format!("perfect={}", perfect.display()), format!("shifted={}", shifted.display())];
    for protocol in ["got10k", "otb"] {
        // Strict (the default): the missing sequence is an error naming its file; no table.
        let args: Vec<&std::ffi::OsStr> = trackers.iter().map(|t| t.as_ref()).collect();
        let (ok, out, err) = analyze(protocol, &data, &args);
        assert!(!ok && err.contains("shifted/seq_0003.txt: no result file") && err.contains("--partial"), "{protocol}: {err}");
        assert!(!out.contains("perfect"), "nothing is scored: {out}");
        // --partial: scored over the sequences both trackers have, and labelled.
        let report = dir.path().join(format!("report-{protocol}"));
        let mut c = trackflow();
        c.args(["analyze", "--partial", "--protocol", protocol, "--dataset"]).arg(&data).args(&trackers).arg("--report").arg(&report);
        let o = run(c);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(text.starts_with("PARTIAL SCORE (--partial)"), "{text}");
        let perfect_row = text.lines().find(|l| l.starts_with("perfect")).unwrap();
        assert!(perfect_row.contains("100.00") && perfect_row.contains(" 2/3 "), "{text}");
        assert!(text.contains("left out of every tracker's score: 1 sequence(s)") && text.contains(": seq_0003"), "{text}");
        assert!(text.contains("seq_0003.txt: no result file: the sequence is left out of every tracker's score"), "{text}");
        let svg = std::fs::read_to_string(report.join("success.svg")).unwrap();
        assert!(svg.contains("<polyline") && svg.contains("(partial)"), "the plot says it is partial");
        assert!(image::open(report.join("success.png")).is_ok());
        assert!(std::fs::read_to_string(report.join("table.txt")).unwrap().starts_with("PARTIAL SCORE"));
        if protocol == "otb" {
            let attrs = std::fs::read_to_string(report.join("attributes.txt")).unwrap();
            assert!(attrs.contains("OCC") && attrs.lines().any(|l| l.starts_with("SV") && l.contains(" 2 ")), "{attrs}");
        }
    }
    // Complete results: scored without --partial, and not labelled.
    gt_as_results(&data, &shifted, &["seq_0001", "seq_0002", "seq_0003"], 4.0);
    let args: Vec<&std::ffi::OsStr> = trackers.iter().map(|t| t.as_ref()).collect();
    let (ok, out, err) = analyze("got10k", &data, &args);
    assert!(ok && !out.contains("PARTIAL") && out.lines().any(|l| l.starts_with("perfect ") && l.contains(" 3 ")), "{out}{err}");
    // A result file with the wrong number of rows is an error naming the file (GOT-10k asserts
    // it), and every bad file and line is named at once, not one per run.
    std::fs::write(shifted.join("seq_0003.txt"), "1,2,3,4\n").unwrap();
    std::fs::write(shifted.join("seq_0001.txt"), "not,a,box\n".repeat(10)).unwrap();
    let (ok, _, err) = analyze("got10k", &data, &[shifted.as_os_str()]);
    assert!(!ok && err.contains("seq_0003.txt: 1 predicted rows for 10") && err.contains("seq_0001.txt:1: expected 4 numbers"), "{err}");
    // Identical bad lines counted the same way are one line of the list, naming the range.
    let (ok, _, err) = analyze("otb", &data, &[shifted.as_os_str()]);
    assert!(!ok && err.contains("3 problem(s) in the results of shifted"), "{err}");
    assert!(
        err.contains("seq_0001.txt:1: expected 4 numbers (x, y, w, h), found 3: `not,a,box` (--partial: replaced by the ground truth"),
        "{err}"
    );
    assert!(
        err.contains("seq_0001.txt:2-10: expected 4 numbers (x, y, w, h), found 3: `not,a,box` (9 rows) (--partial: scored as a failure"),
        "{err}"
    );
    assert!(err.contains("seq_0003.txt: 9 row(s) missing (1 rows for 10 frames) (--partial: scored as failures"), "{err}");
    gt_as_results(&data, &shifted, &["seq_0001", "seq_0003"], 4.0);
    // A folder with no result for any sequence is refused rather than scored AO -0.00, with or
    // without --partial.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for protocol in ["got10k", "otb", "trackingnet"] {
        for partial in [false, true] {
            let mut args = vec![empty.as_os_str()];
            if partial {
                args.push("--partial".as_ref());
            }
            let (ok, _, err) = analyze(protocol, &data, &args);
            assert!(!ok && err.contains("nothing to score") && err.contains("seq_0001.txt"), "{protocol}: {err}");
        }
    }
}

/// Every problem in every file, named in one run: a short file, a NaN row and a negative width
/// in three files are one error (exit non-zero) naming each file and line; each alone is an
/// error too; --partial scores them as the protocol's toolkit counts them, saying how.
#[test]
fn analyze_names_every_problem_and_scores_partially_only_when_asked() {
    use crate::common::{TempDir, synth};
    let dir = TempDir::new("analyze-problems");
    let data = synth(dir.path(), 3, 10, 22);
    let res = dir.path().join("res");
    let seqs = ["seq_0001", "seq_0002", "seq_0003"];
    let rows = gt_as_results(&data, &res, &seqs, 0.0);
    let write = |seq: usize, lines: &[String]| {
        std::fs::write(res.join(format!("{}.txt", seqs[seq])), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap()
    };
    let with_line = |seq: usize, line: usize, text: &str| {
        let mut r = rows[seq].clone();
        r[line - 1] = text.into();
        r
    };
    // Lines of frames GOT-10k scores (cover.label not 0), so that each is counted as IoU 0.
    let scored = |seq: &str| {
        let cover = std::fs::read_to_string(data.join(seq).join("cover.label")).unwrap();
        cover.lines().enumerate().skip(1).find(|(_, c)| c.trim() != "0").map(|(i, _)| i + 1).unwrap()
    };
    let (nan_line, negative_line) = (scored("seq_0002"), scored("seq_0003"));
    let short = rows[0][..5].to_vec();
    let nan = with_line(1, nan_line, "nan\tnan\tnan\tnan");
    let negative = with_line(2, negative_line, "10\t10\t-3\t20");
    write(0, &short);
    write(1, &nan);
    write(2, &negative);
    for protocol in ["got10k", "otb", "trackingnet"] {
        let (ok, out, err) = analyze(protocol, &data, &[res.as_os_str()]);
        assert!(!ok && out.is_empty(), "{protocol}: {out}");
        assert!(err.contains("3 problem(s) in the results of res"), "{protocol}: {err}");
        assert!(err.contains(&format!("seq_0002.txt:{nan_line}: not a box (NaN or infinite value)")), "{protocol}: {err}");
        assert!(err.contains(&format!("seq_0003.txt:{negative_line}: negative width or height")), "{protocol}: {err}");
        assert!(err.contains("seq_0001.txt: 5 "), "{protocol}: {err}");
    }
    // --partial, GOT-10k: the short file is left out (the toolkit refuses it), bad rows score 0.
    let (ok, out, err) = analyze("got10k", &data, &[res.as_os_str(), "--partial".as_ref()]);
    assert!(ok && out.starts_with("PARTIAL SCORE"), "{out}{err}");
    assert!(out.lines().any(|l| l.starts_with("res ") && l.contains(" 2/3 ")), "{out}");
    assert!(out.contains(&format!("seq_0002.txt:{nan_line}: not a box (NaN or infinite value): scored as IoU 0")), "{out}");
    assert!(out.contains(&format!("seq_0003.txt:{negative_line}: negative width or height: scored as IoU 0")), "{out}");
    assert!(out.contains("seq_0001.txt: 5 predicted rows for 10") && out.contains("left out of every tracker's score"), "{out}");
    // --partial, OTB: pytracking pads the short file with failures; nothing is left out.
    let (ok, out, err) = analyze("otb", &data, &[res.as_os_str(), "--partial".as_ref()]);
    assert!(ok && out.lines().any(|l| l.starts_with("res ") && l.contains(" 3 ")), "{out}{err}");
    assert!(
        out.contains("seq_0001.txt: 5 row(s) missing (5 rows for 10 frames): scored as failures (pytracking pads with zero boxes)"),
        "{out}"
    );
    assert!(out.contains(&format!("seq_0002.txt:{nan_line}: not a box (NaN or infinite value): scored as a failure")), "{out}");
    // A NaN row alone, a negative width alone: each is an error, not a note.
    for (seq, bad) in [(1, &nan), (2, &negative)] {
        for (k, r) in rows.iter().enumerate() {
            write(k, if k == seq { bad } else { r });
        }
        let (ok, _, err) = analyze("got10k", &data, &[res.as_os_str()]);
        assert!(!ok && err.contains("1 problem(s)") && err.contains(seqs[seq]), "{err}");
    }
    // A missing sequence: an error for every protocol; TrackingNet's --partial scores it as the
    // devkit does (zero boxes), so nothing is left out there.
    for (k, r) in rows.iter().enumerate() {
        write(k, r);
    }
    std::fs::remove_file(res.join("seq_0002.txt")).unwrap();
    for protocol in ["got10k", "otb", "uav", "trackingnet"] {
        let (ok, _, err) = analyze(protocol, &data, &[res.as_os_str()]);
        assert!(!ok && err.contains("seq_0002.txt: no result file"), "{protocol}: {err}");
    }
    let (ok, out, err) = analyze("trackingnet", &data, &[res.as_os_str(), "--partial".as_ref()]);
    assert!(ok && out.starts_with("PARTIAL SCORE") && out.lines().any(|l| l.starts_with("res ") && l.contains(" 3 ")), "{out}{err}");
    assert!(out.contains("seq_0002.txt: no result file: every frame scored with a zero box, as the devkit does"), "{out}");
    // Garbage of every kind in a result file: named, never a panic.
    let garbage = "\u{0}\u{1}binary\n1e999,1,2,3\n-1e308 -1e308 1e308 1e308\n,,,,\n1,2,3,4,5\n\u{fffd}\n".repeat(3);
    std::fs::write(res.join("seq_0002.txt"), garbage).unwrap();
    for protocol in ["got10k", "otb", "lasot", "uav", "trackingnet", "rgbt234", "depthtrack"] {
        let (ok, _, err) = analyze(protocol, &data, &[res.as_os_str()]);
        // (lasot and rgbt234 first need label files this dataset lacks: an error naming those.)
        assert!(
            !ok && (err.contains("seq_0002.txt:1: expected 4 numbers") || ["lasot", "rgbt234"].contains(&protocol)),
            "{protocol}: {err}"
        );
        analyze(protocol, &data, &[res.as_os_str(), "--partial".as_ref()]);
    }
    std::fs::write(res.join("seq_0002.txt"), "").unwrap();
    let (ok, _, err) = analyze("got10k", &data, &[res.as_os_str()]);
    assert!(!ok && err.contains("seq_0002.txt: 0 predicted rows for 10"), "{err}");
}

/// A NaN ground-truth row: GOT-10k drops the frame as a `cover == 0` frame (the toolkit's own
/// arithmetic panicked here: `clamp` on NaN), OTB fails it; a note, never a problem.
#[test]
fn analyze_handles_a_nan_ground_truth_row() {
    use crate::common::{TempDir, synth};
    let dir = TempDir::new("analyze-nan-gt");
    let data = synth(dir.path(), 2, 10, 23);
    let res = dir.path().join("res");
    gt_as_results(&data, &res, &["seq_0001", "seq_0002"], 0.0);
    // A frame whose target is visible, so that cover.label alone would score it.
    let cover = std::fs::read_to_string(data.join("seq_0002/cover.label")).unwrap();
    let frame = cover.lines().enumerate().skip(1).find(|(_, c)| c.trim() != "0").map(|(i, _)| i).unwrap();
    let gt_path = data.join("seq_0002/groundtruth.txt");
    let mut gt: Vec<String> = std::fs::read_to_string(&gt_path).unwrap().lines().map(String::from).collect();
    gt[frame] = "NaN,NaN,NaN,NaN".into();
    std::fs::write(&gt_path, gt.join("\n") + "\n").unwrap();
    let (ok, out, err) = analyze("got10k", &data, &[res.as_os_str()]);
    assert!(ok && !out.contains("PARTIAL"), "{out}{err}");
    assert!(out.contains(&format!("frame(s) {}: no box (NaN or infinite value): frame not scored", frame + 1)), "{out}");
    assert!(out.lines().any(|l| l.starts_with("res ") && l.contains("100.00")), "the other frames are perfect: {out}");
    for protocol in ["otb", "uav", "trackingnet"] {
        let (ok, out, err) = analyze(protocol, &data, &[res.as_os_str()]);
        assert!(ok, "{protocol}: {out}{err}");
    }
}

/// `analyze name=folder`: split on the first `=` only when the part before it is a plain name
/// and the whole argument is not an existing path; a folder whose name holds `=` is a folder.
#[test]
fn analyze_takes_folders_whose_name_holds_an_equals_sign() {
    use std::path::PathBuf;
    use trackflow::eval::analyze::tracker_arg;
    let t = |name: &str, path: &str| (String::from(name), PathBuf::from(path));
    assert_eq!(tracker_arg("base=/r/a"), t("base", "/r/a"));
    assert_eq!(tracker_arg("best=lr=1e-4"), t("best", "lr=1e-4"));
    assert_eq!(tracker_arg("/runs/lr=1e-4"), t("lr=1e-4", "/runs/lr=1e-4"));
    assert_eq!(tracker_arg("runs/lr=1e-4"), t("lr=1e-4", "runs/lr=1e-4"));
    assert_eq!(tracker_arg("plain"), t("plain", "plain"));
    let dir = crate::common::TempDir::new("analyze-equals");
    let data = crate::common::synth(dir.path(), 2, 6, 24);
    let folder = dir.path().join("lr=1e-4");
    gt_as_results(&data, &folder, &["seq_0001", "seq_0002"], 0.0);
    let mut c = crate::common::trackflow();
    // From the folder holding it, `lr=1e-4` exists, so it is that folder, not name `lr`.
    c.current_dir(dir.path());
    c.args(["analyze", "--protocol", "otb", "--dataset"]).arg(&data).args(["lr=1e-4", "best=lr=1e-4"]).arg(&folder);
    let o = crate::common::run(c);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    let names: Vec<&str> = out.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["lr=1e-4", "best", "lr=1e-4"], "{out}");
}

/// `trackflow pack`: archive layouts the servers accept, raw results kept; never an incomplete
/// archive: every missing or bad sequence named in one problem list, and nothing written.
#[test]
fn pack_writes_server_layouts() {
    use crate::common::{TempDir, run, synth, trackflow};
    let dir = TempDir::new("pack");
    let data = synth(dir.path(), 2, 6, 2);
    let res = dir.path().join("got10k");
    std::fs::create_dir_all(&res).unwrap();
    for s in ["seq_0001", "seq_0002"] {
        std::fs::write(res.join(format!("{s}.txt")), "1.7\t2\t30\t40\n".repeat(6)).unwrap();
        std::fs::write(res.join(format!("{s}_time.txt")), "0.010000\n".repeat(6)).unwrap();
    }
    std::fs::write(res.join("seq_0003.partial.txt"), "1\t2\t3\t4\n").unwrap();
    let mut c = trackflow();
    c.args(["pack", "got10k"]).arg(&res).arg("--dataset").arg(&data);
    assert!(run(c).status.success());
    let zip = dir.path().join("got10k_submit.zip");
    let list = std::process::Command::new(crate::common::root().join(".venv/bin/python"))
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print('\\n'.join(sorted(z.namelist()))); print(z.read('seq_0001/seq_0001_001.txt').decode())"])
        .arg(&zip)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert!(
        text.starts_with("seq_0001/seq_0001_001.txt\nseq_0001/seq_0001_time.txt\nseq_0002/seq_0002_001.txt\nseq_0002/seq_0002_time.txt\n"),
        "{text}"
    );
    assert!(text.contains("1,2,30,40\n"), "comma-separated truncated integers: {text}");
    assert!(res.join("seq_0001.txt").exists(), "raw results are kept");
    // TrackingNet: flat files.
    let mut c = trackflow();
    c.args(["pack", "trackingnet"]).arg(&res).arg("-o").arg(dir.path().join("tn.zip"));
    assert!(run(c).status.success());
    std::fs::remove_file(&zip).unwrap();
    let pack = || {
        let mut c = trackflow();
        c.args(["pack", "got10k"]).arg(&res).arg("--dataset").arg(&data);
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        (o.status.success(), err)
    };
    // A result with the wrong number of rows is refused, naming the file (and its time file).
    std::fs::write(res.join("seq_0002.txt"), "1\t2\t3\t4\n").unwrap();
    let (ok, err) = pack();
    assert!(!ok && err.contains("seq_0002.txt: 1 rows for 6 frames") && err.contains("seq_0002_time.txt: 6 values for 1 boxes"), "{err}");
    assert!(!zip.exists(), "nothing is written");
    // A negative width and a NaN in another file are reported in the same run, every line.
    std::fs::write(res.join("seq_0001.txt"), "1\t2\t-30\t40\n".repeat(5) + "nan\t2\t30\t40\n").unwrap();
    let (ok, err) = pack();
    assert!(!ok && err.contains("4 problem(s)") && err.contains("seq_0001.txt:1-5: negative width or height"), "{err}");
    assert!(err.contains("seq_0001.txt:6: not a box (NaN or infinite value); the server would reject the archive"), "{err}");
    assert!(!zip.exists(), "nothing is written");
    // A missing sequence is in the same list as the other problems...
    std::fs::remove_file(res.join("seq_0002.txt")).unwrap();
    let (ok, err) = pack();
    assert!(!ok && err.contains("seq_0002.txt: missing (sequence seq_0002 of the dataset has no results)"), "{err}");
    assert!(err.contains("seq_0001.txt:1-5: negative width"), "{err}");
    assert!(!zip.exists(), "nothing is written");
    // ...and alone it still refuses the archive: a submission without it is incomplete.
    std::fs::write(res.join("seq_0001.txt"), "1.7\t2\t30\t40\n".repeat(6)).unwrap();
    let (ok, err) = pack();
    assert!(!ok && err.contains("1 problem(s)") && err.contains("seq_0002.txt: missing"), "{err}");
    assert!(!zip.exists(), "nothing is written");
    // A result for a sequence the dataset does not have means the wrong folder or dataset.
    std::fs::write(res.join("seq_0002.txt"), "1.7\t2\t30\t40\n".repeat(6)).unwrap();
    std::fs::write(res.join("seq_0009.txt"), "1.7\t2\t30\t40\n".repeat(6)).unwrap();
    let (ok, err) = pack();
    assert!(!ok && err.contains("seq_0009.txt: not a sequence of the dataset"), "{err}");
    std::fs::remove_file(res.join("seq_0009.txt")).unwrap();
    let (ok, err) = pack();
    assert!(ok && zip.exists(), "{err}");
}

/// `trackflow test`: a dataset through two workers, then a resume that redoes only an
/// incomplete sequence, with the same boxes.
#[test]
fn test_command_shards_and_resumes() {
    use crate::common::{TempDir, run, synth, trackflow};
    let dir = TempDir::new("testcmd");
    let data = synth(dir.path(), 3, 7, 8);
    let local = dir.path().join("trackflow.local.kdl");
    std::fs::write(&local, format!("datasets {{\n    synth {:?}\n}}\n", data.display().to_string())).unwrap();
    let results = dir.path().join("results");
    let test = || {
        let mut c = trackflow();
        c.args(["test", "ostrack", "tiny", "--untrained", "--dataset", "synth", "--threads", "2", "--local"])
            .arg(&local)
            .arg("--results")
            .arg(&results);
        c
    };
    assert!(run(test()).status.success());
    let out = results.join("ostrack/tiny/synth");
    let first = std::fs::read_to_string(out.join("seq_0002.txt")).unwrap();
    assert_eq!(first.lines().count(), 7);
    std::fs::write(out.join("seq_0002.txt"), first.lines().take(3).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let o = run(test());
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 already have complete results"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(out.join("seq_0002.txt")).unwrap(), first, "the redone sequence has the same boxes");
    let mut c = trackflow();
    c.args(["test", "ostrack", "tiny", "--dataset", "lasot", "--local"]).arg(&local);
    let o = c.output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no dataset `lasot` (known: synth)"));
    // A preset without weights is never evaluated as random weights by accident.
    let mut c = trackflow();
    c.args(["test", "ostrack", "tiny", "--dataset", "synth", "--local"]).arg(&local).arg("--results").arg(dir.path().join("refused"));
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("config `tiny` has no trained weights") && err.contains("--untrained"), "{err}");
    assert!(!dir.path().join("refused").exists(), "nothing is written");
    // --untrained on a preset that has weights runs random weights, not the preset's; a --set
    // reaches the workers, and the rewired graph's results get a folder of their own.
    let mut c = trackflow();
    c.args(["test", "ostrack", "mobile", "--untrained", "--dataset", "synth", "--set", "tracker.ce=#false", "--local"]).arg(&local);
    c.arg("--results").arg(dir.path().join("untrained"));
    assert!(run(c).status.success());
    let work = dir.path().join("untrained/ostrack/mobile+tracker.ce-false/synth/.trackflow");
    let log = std::fs::read_to_string(work.join("dora.log")).unwrap();
    assert!(log.contains("UNTRAINED"), "{log}");
    let yaml = std::fs::read_to_string(work.join("dataflow.yml")).unwrap();
    assert!(yaml.contains(r#""ce":false"#), "{yaml}");
    // A --set of what the command sets per worker, and a graph without a source, are refused
    // before anything is written, naming the option and the file.
    let mut c = trackflow();
    c.args(["test", "ostrack", "tiny", "--untrained", "--dataset", "synth", "--set", "source.path=/elsewhere", "--local"]).arg(&local);
    c.arg("--results").arg(dir.path().join("refused-set"));
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("sets `source.path` on every worker from --dataset"), "{err}");
    assert!(!dir.path().join("refused-set").exists(), "nothing is written");
    let no_source = dir.path().join("no-source.kdl");
    std::fs::write(&no_source, NO_SOURCE).unwrap();
    let mut c = trackflow();
    c.args(["test", "ostrack", "tiny", "--untrained", "--dataset", "synth", "--local"]).arg(&local).arg("--dataflow").arg(&no_source);
    c.arg("--results").arg(dir.path().join("refused-flow"));
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("no-source.kdl") && err.contains("kind `source`"), "{err}");
    assert!(!dir.path().join("refused-flow").exists(), "nothing is written");
    // Garbage weights: the node's own error reaches the console, and nothing counts as tracked.
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, "not weights").unwrap();
    let mut c = trackflow();
    c.args(["test", "ostrack", "tiny", "--dataset", "synth", "--local"]).arg(&local).arg("--weights").arg(&garbage);
    c.arg("--results").arg(dir.path().join("garbage"));
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("not a valid safetensors file") && err.contains("0 of 21 frames tracked"), "{err}");
}

/// A worker's graph without a `source` node (frames from a camera): `trackflow test` cannot
/// give it a share of the dataset.
const NO_SOURCE: &str = r#"node "cam" kind="camera" { param url="/dev/video0"; }
node "tracker" kind="tracker" { input "frame" from="cam/frame"; }
node "writer" kind="writer" { input "box" from="tracker/box"; }
"#;

/// `trackflow test`'s evaluation graph: dataflows/test.kdl copied once per worker, each copy
/// wired only to itself with its own sequences and device and the run's folders; a --set
/// reaches every copy; graphs the command cannot replicate are refused naming their file.
#[test]
fn test_command_replicates_the_worker_graph() {
    use std::path::Path;
    use trackflow::cli::test::{TestRun, check_chain, replicate, variant};
    use trackflow::dataflow::{InputSource, ParamOverride, load, load_text};
    use trackflow::model::Weights;
    let root = crate::common::root();
    let file = root.join("dataflows/test.kdl");
    let sets: Vec<String> = vec!["tracker.ce=#false".into(), "source.credits=3".into()];
    let overrides = |sets: &[String]| sets.iter().map(|t| ParamOverride { text: t.clone() }).collect::<Vec<_>>();
    let chain = load(&file, &overrides(&sets)).unwrap_or_else(|p| panic!("{}", p.render(false)));
    check_chain(&chain, &sets).unwrap();
    let run = TestRun {
        dataset: "/data/otb".into(),
        config: root.join("configs/ostrack/tiny.kdl"),
        weights: Weights::File("/w/model.safetensors".into()),
        results: "/out/ostrack/tiny/otb".into(),
        threads: 3,
        gpus: 2,
        work: "/out/ostrack/tiny/otb/.trackflow".into(),
        machines: Vec::new(),
        spawn_daemons: false,
        batch: 1,
        dataflow: file.clone(),
        sets: sets.clone(),
    };
    // Names with commas and outer spaces survive: the list travels as a JSON array.
    let shards = vec![vec!["a,b", " c "], vec!["d"], vec!["e"]];
    let flow = replicate(&chain, &run, &shards).unwrap();
    assert_eq!(flow.nodes.len(), 9);
    for (i, shard) in shards.iter().enumerate() {
        let node = |id: &str| flow.node(&format!("{id}_{i}")).unwrap_or_else(|| panic!("no node {id}_{i}"));
        let from = |id: &str, port: &str| node(id).inputs.iter().find(|x| x.id == port).unwrap().source.clone();
        let own = |n: &str, out: &str| InputSource::Node { node: format!("{n}_{i}"), output: out.into() };
        assert_eq!(from("source", "box"), own("tracker", "box"));
        assert_eq!(from("tracker", "frame"), own("source", "frame"));
        assert_eq!(from("writer", "box"), own("tracker", "box"));
        let source = &node("source").params;
        assert_eq!(source["path"], "/data/otb");
        let names: Vec<String> = serde_json::from_str(source["sequences"].as_str().unwrap()).unwrap();
        assert_eq!(&names, shard, "worker {i}'s sequences");
        assert_eq!(source["credits"], 3, "--set reaches worker {i}");
        let tracker = &node("tracker").params;
        assert_eq!(tracker["ce"], false, "--set reaches worker {i}");
        assert_eq!(tracker["device"], format!("cuda:{}", i % 2));
        assert_eq!(tracker["weights"], "/w/model.safetensors");
        assert_eq!(tracker["untrained"], false);
        assert!(tracker["config"].as_str().unwrap().ends_with("configs/ostrack/tiny.kdl"));
        assert_eq!(node("writer").params["out"], "/out/ostrack/tiny/otb");
        assert!(flow.nodes.iter().all(|n| n.machine.is_none()));
    }
    // A device the graph names is kept; machines go round-robin by worker; random weights.
    let pinned = load(&file, &overrides(&["tracker.device=\"cpu\"".into()])).unwrap();
    let placed = TestRun { machines: vec!["A".into(), "B".into()], weights: Weights::Random, ..run.clone() };
    let flow = replicate(&pinned, &placed, &shards).unwrap();
    let tracker = &flow.node("tracker_1").unwrap().params;
    assert_eq!(tracker["device"], "cpu");
    assert_eq!(tracker["untrained"], true);
    assert_eq!(tracker["weights"], "");
    let machines: Vec<&str> = flow.nodes.iter().map(|n| n.machine.as_deref().unwrap()).collect();
    assert_eq!(machines, ["A", "A", "A", "B", "B", "B", "A", "A", "A"]);
    // The modular graph replicates too: crop, backbone and head per worker, each on its GPU.
    let modular = load(&root.join("dataflows/test-modular.kdl"), &[]).unwrap();
    let flow = replicate(&modular, &run, &shards[..2]).unwrap();
    assert_eq!(flow.nodes.len(), 10);
    let backbone = flow.node("backbone_1").unwrap();
    assert_eq!(backbone.inputs[0].source, InputSource::Node { node: "crop_1".into(), output: "template".into() });
    assert_eq!(backbone.params["device"], "cuda:1");
    assert_eq!(flow.node("head_0").unwrap().params["weights"], "/w/model.safetensors");
    assert_eq!(flow.node("crop_1").unwrap().params["config"], flow.node("head_1").unwrap().params["config"]);
    // Graphs the command cannot replicate, named by their file.
    let refused = |name: &str, text: &str| {
        let flow = load_text(&root.join("dataflows").join(name), text, &[]).unwrap_or_else(|p| panic!("{}", p.render(false)));
        replicate(&flow, &run, &shards).unwrap_err().to_string()
    };
    let err = refused("_no-source.kdl", NO_SOURCE);
    assert!(err.contains("dataflows/_no-source.kdl") && err.contains("one node of kind `source`") && err.contains("has none"), "{err}");
    let err = refused("_two-sources.kdl", "include \"test.kdl\"\nnode \"again\" kind=\"source\" { param path=\"/x\"; }\n");
    assert!(err.contains("_two-sources.kdl") && err.contains("has 2: source, again"), "{err}");
    let err = refused("_no-writer.kdl", "include \"test.kdl\"\nremove \"writer\"\n");
    assert!(err.contains("_no-writer.kdl") && err.contains("kind `writer`"), "{err}");
    // --set of what the command sets per worker would be lost: refused, naming the option.
    for (set, option) in
        [("source.sequences=a", "sequences still to do"), ("writer.out=/x", "--results"), ("tracker.config=tiny", "<config>")]
    {
        let err = check_chain(&chain, &[set.to_string()]).unwrap_err().to_string();
        assert!(err.contains(set) && err.contains(option), "{err}");
    }
    // Results folders: the plain graph keeps OSTrack's layout, a rewired one gets its own.
    assert_eq!(variant(&file, &file, &[]), "");
    assert_eq!(variant(&file, &file, &sets), "+tracker.ce-false+source.credits-3");
    assert_eq!(variant(&root.join("dataflows/ablations/test-no-ce.kdl"), &file, &[]), "+test-no-ce");
    let long = variant(&file, &file, &[format!("source.init-box={}", "1,".repeat(60))]);
    assert!(long.len() < 70 && !long.contains(',') && !long.contains('/'), "{long}");
    assert!(Path::new(&format!("tiny{long}")).components().count() == 1, "{long}");
    // Values that reduce to the same characters still get folders of their own.
    let names: Vec<String> = ["v.t=a b", "v.t=a_b", "v.t=a/b"].iter().map(|s| variant(&file, &file, &[s.to_string()])).collect();
    assert!(names[0] != names[1] && names[1] != names[2] && names[0] != names[2], "{names:?}");
}

/// The same evaluation placed on two dora daemons (machine ids A and B on loopback) gives the
/// same results as one daemon.
#[test]
fn two_daemons_give_the_same_results() {
    use crate::common::{TempDir, run, synth, trackflow};
    let dir = TempDir::new("machines");
    let data = synth(dir.path(), 3, 6, 13);
    let go = |results: &std::path::Path, machines: bool| {
        let mut c = trackflow();
        c.args(["test", "ostrack", "tiny", "--untrained", "--threads", "2", "--dataset"]).arg(&data).arg("--results").arg(results);
        if machines {
            c.args(["--machines", "A,B", "--spawn-daemons"]);
        }
        assert!(run(c).status.success());
        results.join("ostrack/tiny/data")
    };
    let one = go(&dir.path().join("one"), false);
    let two = go(&dir.path().join("two"), true);
    for s in ["seq_0001", "seq_0002", "seq_0003"] {
        let a = std::fs::read_to_string(one.join(format!("{s}.txt"))).unwrap();
        assert_eq!(a, std::fs::read_to_string(two.join(format!("{s}.txt"))).unwrap(), "{s}");
    }
    let log = std::fs::read_to_string(two.join(".trackflow/dora.log")).unwrap();
    assert!(log.contains("on daemon `A`") && log.contains("on daemon `B`"), "workers ran on both daemons:\n{log}");
    // The coordinator and the daemons (run in the results' work folder) are gone with the run.
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir.path())))
        .map(|e| std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default().replace('\0', " "))
        .collect();
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
}

#[test]
fn uav123_nfs_and_tnl2k_layouts_use_their_official_ranges() {
    use trackflow::data::sequence::{Frames, Layout, discover};
    let dir = crate::common::TempDir::new("layouts-eval");
    let root = dir.path();
    // UAV123: bird1 is cut into three official sequences; only the second is annotated here.
    std::fs::create_dir_all(root.join("uav/data_seq/UAV123/bird1")).unwrap();
    std::fs::create_dir_all(root.join("uav/anno/UAV123")).unwrap();
    std::fs::write(root.join("uav/anno/UAV123/bird1_2.txt"), "1,2,3,4\nNaN,NaN,NaN,NaN\n").unwrap();
    let s = discover(&root.join("uav"), Layout::Auto).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, "uav_bird1_2");
    assert_eq!(s[0].len(), 1477 - 775 + 1);
    let Frames::Files(f) = &s[0].frames else { panic!("files") };
    assert!(f[0].ends_with("data_seq/UAV123/bird1/000775.jpg"));
    assert!(s[0].ground_truth[1][0].is_nan(), "absent frames stay NaN");
    // NfS 30 fps in pytracking's layout.
    std::fs::create_dir_all(root.join("nfs/sequences/bee")).unwrap();
    std::fs::create_dir_all(root.join("nfs/anno")).unwrap();
    std::fs::write(root.join("nfs/anno/nfs_bee.txt"), "1\t2\t3\t4\n").unwrap();
    let s = discover(&root.join("nfs"), Layout::parse("nfs").unwrap()).unwrap();
    assert_eq!((s[0].name.as_str(), s[0].len()), ("nfs_bee", 45));
    // TNL2K: frames in imgs/.
    let seq = root.join("tnl2k/Arrow_video_ZZ04_done");
    std::fs::create_dir_all(seq.join("imgs")).unwrap();
    std::fs::write(seq.join("groundtruth.txt"), "1,2,3,4\n").unwrap();
    image::RgbImage::new(8, 8).save(seq.join("imgs/00001.png")).unwrap();
    let s = discover(&root.join("tnl2k"), Layout::Auto).unwrap();
    assert_eq!((s[0].name.as_str(), s[0].len()), ("Arrow_video_ZZ04_done", 1));
}

#[test]
fn lasot_and_uav_attributes_come_from_their_tables() {
    let dir = crate::common::TempDir::new("attrs");
    let root = dir.path().join("uav");
    std::fs::create_dir_all(root.join("data_seq/UAV123/bike2")).unwrap();
    std::fs::create_dir_all(root.join("anno/UAV123")).unwrap();
    std::fs::write(root.join("anno/UAV123/bike2.txt"), "1,2,3,4\n").unwrap();
    let a = trackflow::eval::analyze::attributes(&root).unwrap();
    assert_eq!(a, [("uav_bike2".to_string(), ["SV", "ARC", "LR", "FOC", "POC", "BC", "IV"].map(String::from).to_vec())]);
}

/// `trackflow evaluate`: a listed subset, tracked with the model and with random weights of the
/// same shape, scored side by side with the OTB protocol, with a report.
#[test]
fn evaluate_scores_a_listed_subset_next_to_the_untrained_baseline() {
    use crate::common::{TempDir, run, synth, trackflow};
    let dir = TempDir::new("evaluate");
    let data = synth(dir.path(), 3, 6, 11);
    let list = dir.path().join("val-list.txt");
    std::fs::write(&list, "seq_0001\n\nseq_0003\n").unwrap();
    let out = dir.path().join("eval");
    let mut c = trackflow();
    c.args(["evaluate", "--config", "demo", "--device", "cpu", "--list"]).arg(&list).arg("--out").arg(&out).arg(&data);
    let o = run(c);
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("demo") && stdout.contains("untrained"), "{stdout}");
    for run in ["demo", "untrained"] {
        assert!(out.join(run).join("seq_0001.txt").is_file() && out.join(run).join("seq_0003.txt").is_file());
        assert!(!out.join(run).join("seq_0002.txt").exists(), "seq_0002 is not in the list");
    }
    assert!(out.join("report").read_dir().unwrap().count() > 0);
    // A listed sequence that is not there is named with the list's line.
    std::fs::write(&list, "seq_0001\nnope\n").unwrap();
    let mut c = trackflow();
    c.args(["evaluate", "--config", "demo", "--device", "cpu", "--list"]).arg(&list).arg("--out").arg(&out).arg(&data);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("val-list.txt:2: sequence `nope`"), "{err}");
}

/// `trackflow evaluate --starts 3`: every sequence tracked from three starting frames to its end
/// (OTB's TRE), each run starting on the ground truth of its first frame and scored as a
/// sequence of its own.
#[test]
fn evaluate_with_several_starts_tracks_each_sequence_from_each_start() {
    use crate::common::{TempDir, run, synth, trackflow};
    let dir = TempDir::new("evaluate-tre");
    let data = synth(dir.path(), 2, 30, 12);
    let out = dir.path().join("eval");
    let mut c = trackflow();
    c.args(["evaluate", "--config", "demo", "--device", "cpu", "--starts", "3", "--out"]).arg(&out).arg(&data);
    let o = run(c);
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    let runs: Vec<String> = std::fs::read_dir(out.join("demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt") && !n.ends_with("_time.txt"))
        .collect();
    assert!(runs.len() >= 5 && runs.len() <= 6, "{runs:?}\n{stdout}");
    assert!(stdout.contains(&format!("TRE: {} runs from 3 starts per sequence", runs.len())), "{stdout}");
    for r in &runs {
        // `seq_0001_from11.txt`: frames 11..=30 of seq_0001, starting on its ground truth there.
        let (seq, from) = r.trim_end_matches(".txt").rsplit_once("_from").unwrap();
        let from: usize = from.parse().unwrap();
        let gt = std::fs::read_to_string(data.join(seq).join("groundtruth.txt")).unwrap();
        let boxes = std::fs::read_to_string(out.join("demo").join(r)).unwrap();
        assert_eq!(boxes.lines().count(), 30 - (from - 1), "{r}");
        let first: Vec<f64> = boxes.lines().next().unwrap().split([',', '\t']).map(|v| v.parse().unwrap()).collect();
        let want: Vec<f64> = gt.lines().nth(from - 1).unwrap().split(',').map(|v| v.parse().unwrap()).collect();
        for (a, b) in first.iter().zip(&want) {
            // (Written as pytracking does, `%d`: truncated to whole pixels.)
            assert!((a - b).abs() < 1.0, "{r}: run starts on the ground truth of frame {from}: {first:?} vs {want:?}");
        }
    }
    assert!(runs.iter().any(|r| r.ends_with("_from1.txt")), "the first run starts at frame 1: {runs:?}");
    // Out of range is refused by the argument parser.
    let mut c = trackflow();
    c.args(["evaluate", "--starts", "0"]).arg(&data);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--starts") && err.contains("1..=20"), "{err}");
}

/// `trackflow test --batch 2` tracks the sequences in lockstep in one process and writes
/// complete results in the same folder layout, which a second run then finds complete.
#[test]
fn test_command_in_lockstep_batches() {
    use crate::common::{TempDir, run, synth, trackflow};
    let dir = TempDir::new("testbatch");
    let data = synth(dir.path(), 3, 6, 17);
    let results = dir.path().join("results");
    let go = || {
        let mut c = trackflow();
        c.args(["test", "ostrack", "tiny", "--untrained", "--batch", "2", "--dataset"]).arg(&data).arg("--results").arg(&results);
        run(c)
    };
    assert!(go().status.success());
    for s in ["seq_0001", "seq_0002", "seq_0003"] {
        let text = std::fs::read_to_string(results.join(format!("ostrack/tiny/data/{s}.txt"))).unwrap();
        assert_eq!(text.lines().count(), 6, "{s}");
    }
    let o = go();
    assert!(String::from_utf8_lossy(&o.stderr).contains("3 already have complete results"), "{}", String::from_utf8_lossy(&o.stderr));
}
