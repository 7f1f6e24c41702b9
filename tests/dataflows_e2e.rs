//! Whole dataflows under the real dora CLI: the tracking graph writes complete results that
//! equal the fused path's, ablations run, a failing node ends the run with an error.

use std::path::Path;

use crate::common::{TempDir, run, synth, trackflow};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `trackflow run <flow>` on `input` with the results and drawings going to `out`, plus any
/// other `--set` overrides.
fn run_flow(flow: &str, input: &Path, out: &Path, extra: &[String]) -> std::process::Command {
    let mut c = trackflow();
    c.args(["run", flow, "--timeout", "300"]);
    let mut sets =
        vec![format!("source.path={}", input.display()), format!("writer.out={}", out.display()), format!("viewer.out={}", out.display())];
    sets.extend(extra.iter().cloned());
    for s in sets {
        c.arg("--set").arg(s);
    }
    c
}

/// stdout and stderr of a finished command, together.
fn output_text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn dora_available() -> bool {
    trackflow::dataflow::launch::find_dora().is_ok()
}

#[test]
fn track_dataflow_equals_fused_path() {
    assert!(dora_available(), "the dora CLI is missing: run scripts/setup");
    let dir = TempDir::new("e2e");
    let data = synth(dir.path(), 2, 12, 42);
    let flow_out = dir.path().join("flow");
    let fused_out = dir.path().join("fused");
    assert!(run(run_flow("dataflows/track.kdl", &data, &flow_out, &[])).status.success(), "dataflow run failed");
    let mut c = trackflow();
    c.args(["track", "--config", "mobile", "--device", "cpu"]).arg(&data).arg("--out").arg(&fused_out);
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

    // Recovery on every frame after the second (confidence is always under 1): both paths pick
    // the wider search region from the previous box's confidence, frame for frame.
    let preset = read(&crate::common::root().join("configs/ostrack/mobile.kdl"));
    let weights = crate::common::root().join("models/mobile.safetensors");
    let recovering = preset
        .replace("weights \"../../models/mobile.safetensors\"", &format!("weights {:?}", weights.display().to_string()))
        .replace("test {", "test {\n    recover-below 1.0\n    recover-factor 5.0");
    assert!(recovering.contains("recover-below") && recovering.contains(&weights.display().to_string()));
    let config = dir.path().join("recovering.kdl");
    std::fs::write(&config, recovering).unwrap();
    let sets: Vec<String> = ["crop", "backbone", "head"].iter().map(|n| format!("{n}.config={:?}", config.display().to_string())).collect();
    let (flow_out, fused_out) = (dir.path().join("flow-recover"), dir.path().join("fused-recover"));
    assert!(run(run_flow("dataflows/track.kdl", &data, &flow_out, &sets)).status.success(), "dataflow run with recovery failed");
    let mut c = trackflow();
    c.args(["track", "--device", "cpu", "--config"]).arg(&config).arg(&data).arg("--out").arg(&fused_out);
    assert!(run(c).status.success(), "fused run with recovery failed");
    let mut changed = false;
    for seq in ["seq_0001", "seq_0002"] {
        let a = read(&flow_out.join(format!("{seq}.txt")));
        assert_eq!(a, read(&fused_out.join(format!("{seq}.txt"))), "{seq}: dataflow and fused boxes differ with recovery");
        changed |= a != read(&dir.path().join("flow").join(format!("{seq}.txt")));
    }
    assert!(changed, "recovery on every frame left every box as it was");

    // The template update on every frame (above 0) at a strong rate: the crop node sends each
    // frame's template to the backbone ahead of the next search region, and the boxes equal the
    // fused tracker's, which blends the same templates in the same order; without the update
    // the boxes differ.
    let local = preset.replace("weights \"../../models/mobile.safetensors\"", &format!("weights {:?}", weights.display().to_string()));
    assert!(local.contains("template-rate 0.03") && local.contains("template-above 0.3"), "the mobile preset updates its template");
    let updating = local.replace("template-rate 0.03", "template-rate 0.5").replace("template-above 0.3", "template-above 0.0");
    let frozen = local.replace("template-rate 0.03", "").replace("template-above 0.3", "");
    let (updating_cfg, frozen_cfg) = (dir.path().join("updating.kdl"), dir.path().join("frozen.kdl"));
    std::fs::write(&updating_cfg, updating).unwrap();
    std::fs::write(&frozen_cfg, frozen).unwrap();
    let sets: Vec<String> =
        ["crop", "backbone", "head"].iter().map(|n| format!("{n}.config={:?}", updating_cfg.display().to_string())).collect();
    let flow_out = dir.path().join("flow-update");
    assert!(run(run_flow("dataflows/track.kdl", &data, &flow_out, &sets)).status.success(), "dataflow run with template update failed");
    for (cfg, out) in [(&updating_cfg, "fused-update"), (&frozen_cfg, "fused-frozen")] {
        let mut c = trackflow();
        c.args(["track", "--device", "cpu", "--config"]).arg(cfg).arg(&data).arg("--out").arg(dir.path().join(out));
        assert!(run(c).status.success(), "fused run with {} failed", cfg.display());
    }
    let mut changed = false;
    for seq in ["seq_0001", "seq_0002"] {
        let a = read(&flow_out.join(format!("{seq}.txt")));
        assert_eq!(
            a,
            read(&dir.path().join("fused-update").join(format!("{seq}.txt"))),
            "{seq}: dataflow and fused boxes differ with the template update"
        );
        changed |= a != read(&dir.path().join("fused-frozen").join(format!("{seq}.txt")));
    }
    assert!(changed, "a template update on every frame left every box as it was");
}

#[test]
fn fused_ablation_runs_and_failures_end_the_run() {
    assert!(dora_available(), "the dora CLI is missing: run scripts/setup");
    let dir = TempDir::new("ablate");
    let data = synth(dir.path(), 1, 6, 7);
    let out = dir.path().join("out");
    assert!(run(run_flow("dataflows/ablations/fused.kdl", &data, &out, &[])).status.success());
    assert_eq!(read(&out.join("seq_0001.txt")).lines().count(), 6);

    // A degenerate init box: the source fails, says why, and the run ends non-zero.
    let o = run_flow("dataflows/track.kdl", &data, &out.join("bad"), &["source.init-box=\"10,10,0,5\"".into()]).output().unwrap();
    let text = output_text(&o);
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

/// Writes frames of a synthetic sequence into an MP4 with FFmpeg.
pub(crate) fn make_video(seq_dir: &Path, out: &Path) {
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "10", "-i"])
        .arg(seq_dir.join("%08d.jpg"))
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn videos_in_annotated_videos_out() {
    let dir = TempDir::new("video");
    let data = synth(dir.path(), 1, 9, 5);
    let video = dir.path().join("clip.mp4");
    make_video(&data.join("seq_0001"), &video);
    let gt = read(&data.join("seq_0001/groundtruth.txt"));
    let init = gt.lines().next().unwrap().to_string();
    let out = dir.path().join("out");
    assert!(run(run_flow("dataflows/track.kdl", &video, &out, &[format!("source.init-box=\"{init}\"")])).status.success());
    assert_eq!(read(&out.join("clip.txt")).lines().count(), 9, "every video frame tracked");
    let info = trackflow::data::video::probe(&out.join("clip.mp4")).unwrap();
    assert_eq!((info.width, info.height, info.frames), (160, 120, 9), "the annotated video plays and has every frame");
    let sheet = image::open(out.join("clip_sheet.png")).unwrap();
    assert!(sheet.width() > 160);
    // The fused path reads the same video the same way.
    let mut c = trackflow();
    c.args(["track", "--config", "mobile", "--device", "cpu", "--init-box", &init]).arg(&video).arg("--out").arg(dir.path().join("fused"));
    assert!(run(c).status.success());
    assert_eq!(read(&out.join("clip.txt")), read(&dir.path().join("fused/clip.txt")));
}

/// A corrupt frame in one sequence: that sequence's partial results are kept under a name no
/// tool takes for complete results, the other sequences finish, and the run fails naming it.
#[test]
fn a_corrupt_frame_spoils_only_its_sequence() {
    let dir = TempDir::new("corrupt");
    let data = synth(dir.path(), 3, 8, 11);
    std::fs::write(data.join("seq_0002/00000005.jpg"), b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let out = dir.path().join("out");
    let o = run_flow("dataflows/track.kdl", &data, &out, &[]).output().unwrap();
    let text = output_text(&o);
    assert!(!o.status.success(), "the run reports the failure:\n{text}");
    assert!(text.contains("seq_0002") && text.contains("00000005.jpg"), "the error names the sequence and file:\n{text}");
    // A missing file names itself and shows the run's output (an intermittent failure was seen
    // under full load).
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}\n--- the run's output\n{text}", p.display()));
    assert_eq!(read(&out.join("seq_0001.txt")).lines().count(), 8);
    assert_eq!(read(&out.join("seq_0003.txt")).lines().count(), 8, "sequences after the bad one still run");
    assert!(!out.join("seq_0002.txt").exists());
    assert_eq!(read(&out.join("seq_0002.partial.txt")).lines().count(), 4, "frames 0-3 were tracked and kept");
    // `trackflow track` over the folder does the same: every other sequence runs, the run fails
    // listing the bad one.
    let fused = dir.path().join("fused");
    let mut c = trackflow();
    c.args(["track", "--config", "demo", "--device", "cpu"]).arg(&data).arg("--out").arg(&fused);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("1 of 3 sequences failed") && err.contains("00000005.jpg"), "{err}");
    assert_eq!(read(&fused.join("seq_0003.txt")).lines().count(), 8, "sequences after the bad one still run");
    assert_eq!(read(&fused.join("seq_0002.partial.txt")).lines().count(), 4);
}

/// `dora start <file>.kdl --attach` through the launcher setup installs, on a coordinator and
/// daemon brought up for it, then `dora destroy`.
#[test]
fn dora_start_understands_kdl() {
    let dora = crate::common::root().join(".venv/bin/dora");
    assert!(dora.is_file(), "the dora launcher is missing: run scripts/setup");
    let dir = TempDir::new("start");
    let data = synth(dir.path(), 1, 5, 3);
    let out = dir.path().join("out");
    let flow = dir.path().join("flow.kdl");
    let track = crate::common::root().join("dataflows/track.kdl");
    std::fs::write(
        &flow,
        format!(
            "include {:?}\noverride \"source\" {{ param path={:?}; }}\noverride \"writer\" {{ param out={:?}; }}\nremove \"viewer\"\n",
            track.display().to_string(),
            data.display().to_string(),
            out.display().to_string()
        ),
    )
    .unwrap();
    let mut c = std::process::Command::new(&dora);
    c.arg("start").arg(&flow).arg("--attach");
    let o = run(c);
    let mut d = std::process::Command::new(&dora);
    d.arg("destroy");
    let _ = d.output();
    assert!(o.status.success(), "dora start failed");
    assert_eq!(read(&out.join("seq_0001.txt")).lines().count(), 5);
}

/// Regression: dora interleaves inputs, so the viewer and the crop node can see the next
/// sequence's frame 0 before the previous sequence's last box. Many short sequences cross that
/// boundary often; every sequence must still complete.
#[test]
fn next_sequence_may_start_before_the_last_box_arrives() {
    let dir = TempDir::new("boundaries");
    let data = synth(dir.path(), 8, 3, 17);
    let out = dir.path().join("out");
    assert!(run(run_flow("dataflows/track.kdl", &data, &out, &["viewer.video=#false".into()])).status.success());
    for i in 1..=8 {
        assert_eq!(read(&out.join(format!("seq_{i:04}.txt"))).lines().count(), 3);
        assert!(out.join(format!("seq_{i:04}_sheet.png")).exists(), "seq {i}: contact sheet");
    }
}
