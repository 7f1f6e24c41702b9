//! Whole dataflows under the real dora CLI: the tracking graph writes complete results that
//! equal the fused path's, ablations run, a failing node ends the run with an error.

use std::path::Path;

use crate::common::{TempDir, run, synth, trackflow};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn dora_available() -> bool {
    trackflow::launch::find_dora().is_ok()
}

#[test]
fn track_dataflow_equals_fused_path() {
    assert!(dora_available(), "the dora CLI is missing: run scripts/setup");
    let dir = TempDir::new("e2e");
    let data = synth(dir.path(), 2, 12, 42);
    let flow_out = dir.path().join("flow");
    let fused_out = dir.path().join("fused");
    let mut c = trackflow();
    c.args(["run", "dataflows/track.kdl", "--timeout", "300"])
        .arg("--set")
        .arg(format!("source.path={}", data.display()))
        .arg("--set")
        .arg(format!("writer.out={}", flow_out.display()));
    assert!(run(c).status.success(), "dataflow run failed");
    let mut c = trackflow();
    c.args(["track", "--config", "tiny", "--device", "cpu"]).arg(&data).arg("--out").arg(&fused_out);
    assert!(run(c).status.success(), "fused run failed");
    for seq in ["seq_0001", "seq_0002"] {
        let a = read(&flow_out.join(format!("{seq}.txt")));
        let b = read(&fused_out.join(format!("{seq}.txt")));
        assert_eq!(a.lines().count(), 12, "{seq}: one row per frame");
        assert_eq!(a, b, "{seq}: dataflow and fused boxes differ");
        assert_eq!(read(&flow_out.join(format!("{seq}_time.txt"))).lines().count(), 12);
        // Frame 0 is the init box (truncated), as OSTrack writes it.
        let gt = read(&data.join(seq).join("groundtruth.txt"));
        let g: Vec<i64> = gt.lines().next().unwrap().split(',').map(|v| v.parse::<f64>().unwrap().trunc() as i64).collect();
        let r: Vec<i64> = a.lines().next().unwrap().split('\t').map(|v| v.parse().unwrap()).collect();
        assert_eq!(g, r);
    }
}

#[test]
fn fused_ablation_runs_and_failures_end_the_run() {
    assert!(dora_available(), "the dora CLI is missing: run scripts/setup");
    let dir = TempDir::new("ablate");
    let data = synth(dir.path(), 1, 6, 7);
    let out = dir.path().join("out");
    let mut c = trackflow();
    c.args(["run", "dataflows/ablations/fused.kdl", "--timeout", "300"])
        .arg("--set")
        .arg(format!("source.path={}", data.display()))
        .arg("--set")
        .arg(format!("writer.out={}", out.display()));
    assert!(run(c).status.success());
    assert_eq!(read(&out.join("seq_0001.txt")).lines().count(), 6);

    // A degenerate init box: the source fails, says why, and the run ends non-zero.
    let mut c = trackflow();
    c.args(["run", "dataflows/track.kdl", "--timeout", "120"])
        .arg("--set")
        .arg(format!("source.path={}", data.display()))
        .arg("--set")
        .arg("source.init-box=\"10,10,0,5\"")
        .arg("--set")
        .arg(format!("writer.out={}", out.join("bad").display()));
    let o = c.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "a failing node must fail the run:\n{text}");
    assert!(text.contains("zero or negative width/height"), "the node's error is shown:\n{text}");
    assert!(!out.join("bad/seq_0001.txt").exists(), "no complete results for a failed sequence");
}

#[test]
fn check_reports_problems_and_missing_binaries_clearly() {
    let dir = TempDir::new("check");
    let bad = dir.path().join("bad.kdl");
    std::fs::write(&bad, "node \"a\" kind=\"writer\" {\n    input \"box\" from=\"b/box\"\n}\n").unwrap();
    let mut c = trackflow();
    c.arg("check").arg(&bad);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.kdl:2:17: error: input `box` reads from node `b`"), "{err}");
    let custom = dir.path().join("custom.kdl");
    std::fs::write(&custom, "node \"mine\" path=\"./no-such-program\" {\n    output \"box\" type=\"box\"\n}\n").unwrap();
    let mut c = trackflow();
    c.arg("check").arg(&custom);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("no-such-program does not exist"), "{err}");
    let mut c = trackflow();
    c.args(["check", "dataflows/track.kdl"]);
    assert!(run(c).status.success());
}

#[test]
fn graph_draws_svg() {
    let dir = TempDir::new("graph");
    let svg = dir.path().join("track.svg");
    let mut c = trackflow();
    c.args(["graph", "dataflows/track.kdl", "-o"]).arg(&svg);
    assert!(run(c).status.success());
    let s = read(&svg);
    assert!(s.contains("<svg") && s.contains("backbone"));
    assert!(s.contains("stroke-dasharray"), "feedback edges are dashed");
}
