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
        text.contains("frame 2 (line 2): prediction is NaN")
            && text.contains("frame 3 (line 3):")
            && text.contains("frame 4 (line 4): prediction has zero size"),
        "{text}"
    );
    // Frames 1-3 fail (the zero-size frame copies the failed frame 2), frames 0 and 4 succeed.
    assert!((c.success[0] - 0.4).abs() < 1e-12, "{:?}", c.success);
    // GOT-10k: NaN scores 0 and is named; a length mismatch is an error naming both counts.
    let (ious, issues) = got10k_sequence(&pred, &gt, &[8; 5], None).unwrap();
    assert_eq!(ious[0], 0.0);
    assert!(!issues.is_empty());
    let err = got10k_sequence(&pred[..3], &gt, &[8; 5], None).unwrap_err();
    assert!(matches!(err, trackflow::eval::measures::ScoreError::Rows { rows: 3, frames: 5, .. }), "{err:?}");
    assert!(err.to_string().contains("3 predicted rows for 5"), "{err}");
    // LaSOT refuses short results.
    assert!(pytracking_sequence(&pred[..3], &gt, None, PytrackingDataset::Lasot).is_err());
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

/// `trackflow analyze` on a synthetic GOT-10k-layout dataset: two trackers, a missing
/// sequence, a malformed row count, each reported.
#[test]
fn analyze_prints_trackers_side_by_side() {
    use crate::common::{TempDir, run, synth, trackflow};
    let dir = TempDir::new("analyze");
    let data = synth(dir.path(), 3, 10, 21);
    let perfect = dir.path().join("perfect");
    let shifted = dir.path().join("shifted");
    std::fs::create_dir_all(&perfect).unwrap();
    std::fs::create_dir_all(&shifted).unwrap();
    for s in ["seq_0001", "seq_0002", "seq_0003"] {
        let gt = std::fs::read_to_string(data.join(s).join("groundtruth.txt")).unwrap();
        std::fs::write(perfect.join(format!("{s}.txt")), &gt).unwrap();
        if s != "seq_0003" {
            let moved: String = gt
                .lines()
                .map(|l| {
                    let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
                    format!("{}\t{}\t{}\t{}\n", v[0] + 4.0, v[1], v[2], v[3])
                })
                .collect();
            std::fs::write(shifted.join(format!("{s}.txt")), moved).unwrap();
        }
    }
    std::fs::write(data.join("seq_0001/attrs.txt"), "SV, OCC\n").unwrap();
    std::fs::write(data.join("seq_0002/attrs.txt"), "SV\n").unwrap();
    for protocol in ["got10k", "otb"] {
        let report = dir.path().join(format!("report-{protocol}"));
        let mut c = trackflow();
        c.args(["analyze", "--protocol", protocol, "--dataset"])
            .arg(&data)
            .arg(format!("perfect={}", perfect.display()))
            .arg(format!("shifted={}", shifted.display()));
        c.arg("--report").arg(&report);
        let o = run(c);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let perfect_row = text.lines().find(|l| l.starts_with("perfect")).unwrap();
        assert!(perfect_row.contains("100.00"), "{text}");
        assert!(text.contains("shifted: 1 sequence(s) without results (not scored): seq_0003"), "{text}");
        if protocol != "trackingnet" {
            assert!(text.contains("scored on different sequence sets"), "{text}");
        }
        assert!(std::fs::read_to_string(report.join("success.svg")).unwrap().contains("<polyline"));
        assert!(image::open(report.join("success.png")).is_ok());
        if protocol == "otb" {
            let attrs = std::fs::read_to_string(report.join("attributes.txt")).unwrap();
            assert!(attrs.contains("OCC") && attrs.lines().any(|l| l.starts_with("SV") && l.contains(" 2 ")), "{attrs}");
        }
    }
    // A result file with the wrong number of rows is an error naming the file (GOT-10k asserts it),
    // and every bad file is named at once, not one per run.
    std::fs::write(shifted.join("seq_0003.txt"), "1,2,3,4\n").unwrap();
    let first = std::fs::read_to_string(shifted.join("seq_0001.txt")).unwrap();
    std::fs::write(shifted.join("seq_0001.txt"), "not,a,box\n").unwrap();
    let mut c = trackflow();
    c.args(["analyze", "--protocol", "got10k", "--dataset"]).arg(&data).arg(&shifted);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("seq_0003.txt: 1 predicted rows for 10"), "{err}");
    assert!(err.contains("2 result file(s) cannot be scored") && err.contains("seq_0001.txt"), "{err}");
    std::fs::write(shifted.join("seq_0001.txt"), first).unwrap();
    // A folder with no result for any sequence is refused rather than scored AO -0.00.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for protocol in ["got10k", "otb", "trackingnet"] {
        let mut c = trackflow();
        c.args(["analyze", "--protocol", protocol, "--dataset"]).arg(&data).arg(&empty);
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("nothing to score") && err.contains("seq_0001.txt"), "{protocol}: {err}");
    }
}

/// `trackflow pack`: archive layouts the servers accept, raw results kept, gaps refused.
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
    // A result with the wrong number of rows is refused, naming the file.
    std::fs::write(res.join("seq_0002.txt"), "1\t2\t3\t4\n").unwrap();
    let mut c = trackflow();
    c.args(["pack", "got10k"]).arg(&res).arg("--dataset").arg(&data);
    let o = c.output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("seq_0002.txt: 1 rows for 6 frames"));
    // A negative width in another file is reported in the same run, and nothing is written.
    std::fs::write(res.join("seq_0001.txt"), "1\t2\t-30\t40\n".repeat(6)).unwrap();
    std::fs::remove_file(&zip).unwrap();
    let mut c = trackflow();
    c.args(["pack", "got10k"]).arg(&res).arg("--dataset").arg(&data);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("2 problem(s)") && err.contains("seq_0001.txt:1: negative width"), "{err}");
    assert!(!zip.exists(), "nothing is written");
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
    // --untrained on a preset that has weights runs random weights, not the preset's.
    let mut c = trackflow();
    c.args(["test", "ostrack", "mobile", "--untrained", "--dataset", "synth", "--local"]).arg(&local);
    c.arg("--results").arg(dir.path().join("untrained"));
    assert!(run(c).status.success());
    let log = std::fs::read_to_string(dir.path().join("untrained/ostrack/mobile/synth/.trackflow/dora.log")).unwrap();
    assert!(log.contains("UNTRAINED"), "{log}");
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
    let s = discover(&root.join("nfs"), Layout::Nfs).unwrap();
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
