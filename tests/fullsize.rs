//! The researchers' recipe at full size, as a user runs it: the real `vitb_256_mae_ce_32x4_ep300`
//! preset (ViT-B/16, 12 blocks, candidate elimination; nothing shrunk) from an official-layout
//! MAE checkpoint, trained through `dataflows/train.kdl` on its own four training sets (LaSOT,
//! GOT-10k's VOT-permitted split, COCO 2017, TrackingNet, here generated in their layouts),
//! checkpointed (1.1 GB each: weights and AdamW moments), killed with SIGKILL, resumed exactly,
//! then evaluated through the evaluation dataflow, analysed and packed. Then one step and a
//! checkpoint of the 384 preset. Its time is bounded by steps (a few per preset), not by model
//! size: a few minutes on 2 cores.
//!
//! Every training test before this one used a toy preset, and no toy checkpoint comes near
//! dora's 256 MiB message cap; this test is what keeps the recipe working.

use std::path::{Path, PathBuf};

use trackflow::train::checkpoint;

use crate::common::{TempDir, run, trackflow, wait_until};

const VITB_256: &str = "vitb_256_mae_ce_32x4_ep300";
const VITB_384: &str = "vitb_384_mae_ce_32x4_ep300";

/// Synthetic sequences of 24 frames (the sampler wants 20 or more), `n` of them, under `dir`.
fn sequences(dir: &Path, n: usize, seed: u64) -> Vec<PathBuf> {
    let opts = trackflow::data::synth::SynthOptions {
        sequences: n,
        frames: 24,
        width: 192,
        height: 144,
        seed,
        prefix: "seq".into(),
        ..Default::default()
    };
    trackflow::data::synth::generate(dir, &opts).unwrap();
    (1..=n).map(|i| dir.join(format!("seq_{i:04}"))).collect()
}

fn jpgs(seq: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(seq).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "jpg")).collect();
    v.sort();
    v
}

/// The recipe's four training sets, each in its own download's layout, made from synthetic
/// sequences; returns the `--root` arguments naming them.
fn recipe_datasets(dir: &Path) -> Vec<String> {
    let seqs = sequences(&dir.join("synth"), 4, 31);
    let gt = |s: &Path| std::fs::read_to_string(s.join("groundtruth.txt")).unwrap();
    // GOT-10k: the VOT-permitted split indexes list.txt; index 0 is in it, so a list whose
    // first entry is present makes a partial download of one sequence.
    let got = dir.join("got10k");
    std::fs::create_dir_all(&got).unwrap();
    let names: Vec<String> = (1..=10).map(|i| format!("GOT-10k_Train_{i:06}")).collect();
    std::fs::write(got.join("list.txt"), names.join("\n") + "\n").unwrap();
    copy_dir(&seqs[0], &got.join(&names[0]));
    // LaSOT: <class>/<class>-<n>/img/NNNNNNNN.jpg and a comma-separated groundtruth.txt.
    let lasot = dir.join("lasot/airplane/airplane-10");
    std::fs::create_dir_all(lasot.join("img")).unwrap();
    for f in jpgs(&seqs[1]) {
        std::fs::copy(&f, lasot.join("img").join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(lasot.join("groundtruth.txt"), gt(&seqs[1])).unwrap();
    // TrackingNet: TRAIN_0/anno/<name>.txt and TRAIN_0/frames/<name>/<k>.jpg from 0.
    let tn = dir.join("trackingnet/TRAIN_0");
    std::fs::create_dir_all(tn.join("anno")).unwrap();
    std::fs::create_dir_all(tn.join("frames/clip")).unwrap();
    for (k, f) in jpgs(&seqs[2]).iter().enumerate() {
        std::fs::copy(f, tn.join(format!("frames/clip/{k}.jpg"))).unwrap();
    }
    std::fs::write(tn.join("anno/clip.txt"), gt(&seqs[2])).unwrap();
    // COCO 2017: every visible frame of one sequence as a photograph with one object.
    let coco = dir.join("coco");
    std::fs::create_dir_all(coco.join("images/train2017")).unwrap();
    std::fs::create_dir_all(coco.join("annotations")).unwrap();
    let (mut images, mut anns) = (Vec::new(), Vec::new());
    for (k, (f, row)) in jpgs(&seqs[3]).iter().zip(gt(&seqs[3]).lines()).enumerate() {
        let b: Vec<f64> = row.split([',', '\t', ' ']).filter(|s| !s.is_empty()).map(|v| v.parse().unwrap()).collect();
        if b[2] <= 0.0 || b[3] <= 0.0 {
            continue;
        }
        let name = format!("{:012}.jpg", k + 1);
        std::fs::copy(f, coco.join("images/train2017").join(&name)).unwrap();
        images.push(serde_json::json!({"id": k + 1, "file_name": name}));
        anns.push(serde_json::json!({"id": k + 1, "image_id": k + 1, "bbox": b, "iscrowd": 0, "category_id": 1}));
    }
    let file = serde_json::json!({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]});
    std::fs::write(coco.join("annotations/instances_train2017.json"), file.to_string()).unwrap();
    [("got10k_train", got), ("lasot_train", dir.join("lasot")), ("trackingnet", dir.join("trackingnet")), ("coco", coco)]
        .iter()
        .map(|(k, p)| format!("{k}={}", p.display()))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// The official MAE release's layout (`{'model': state_dict}` with the decoder), ViT-B sized,
/// from the committed fixture generator, converted for `preset` by `trackflow convert mae`.
fn mae_init(dir: &Path, preset: &str) -> PathBuf {
    let pth = dir.join("mae_pretrain_vit_base.pth");
    if !pth.is_file() {
        let o = std::process::Command::new(crate::common::root().join(".venv/bin/python"))
            .arg(crate::common::root().join("tests/fixtures/make_mae_checkpoint.py"))
            .arg(&pth)
            .args(["768", "12"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let out = dir.join(format!("mae_{preset}.safetensors"));
    let mut c = trackflow();
    c.args(["convert", "mae"]).arg(&pth).args(["--config", preset, "-o"]).arg(&out);
    assert!(run(c).status.success());
    out
}

/// `trackflow train ostrack <preset>` at batch 2, two samples an epoch (one step).
fn train_cmd(preset: &str, init: &Path, roots: &[String], save: &Path, epochs: u32, resume: bool) -> std::process::Command {
    let mut c = trackflow();
    c.args(["train", "ostrack", preset, "--device", "cpu", "--epochs", &epochs.to_string()])
        .args(["--set", "trainer.sample-per-epoch=2", "--set", "trainer.batch-size=2", "--set", "sampler.workers=1"])
        .arg("--pretrained")
        .arg(init)
        .arg("--save-dir")
        .arg(save);
    for r in roots {
        c.arg("--root").arg(r);
    }
    if resume {
        c.arg("--resume");
    }
    c
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

#[test]
fn the_vitb_recipe_trains_checkpoints_resumes_and_evaluates_at_full_size() {
    let dir = TempDir::new("fullsize");
    let roots = recipe_datasets(&dir.path().join("data"));
    let init = mae_init(dir.path(), VITB_256);

    // Straight through: three epochs of one step, a checkpoint at each.
    let straight = dir.path().join("straight");
    let o = run(train_cmd(VITB_256, &init, &roots, &straight, 3, false));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success() && err.contains("Finished training"), "{err}");
    let ckpt1 = straight.join("checkpoints").join(checkpoint::file_name(1));
    assert!(ckpt1.is_file(), "{err}");
    let size = std::fs::metadata(&ckpt1).unwrap().len();
    assert!(size > 1_000_000_000, "ViT-B with AdamW's moments is over 1 GB, this checkpoint is {size} bytes");
    let final_straight = straight.join(format!("{VITB_256}.safetensors"));
    assert_eq!(checkpoint::read_state(&final_straight).unwrap().epoch, 3);
    let (_, want) = checkpoint::digest(&final_straight).unwrap();
    // The checkpoints are not needed any more: 3.3 GB back.
    std::fs::remove_dir_all(straight.join("checkpoints")).unwrap();

    // The same run killed with SIGKILL once its first checkpoint is in place, then resumed.
    let killed = dir.path().join("killed");
    let mut c = train_cmd(VITB_256, &init, &roots, &killed, 3, false);
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let first = killed.join("checkpoints").join(checkpoint::file_name(1));
    assert!(wait_until(600, || first.is_file() || child.try_wait().unwrap().is_some()), "no checkpoint within 10 minutes");
    assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
    let tree = trackflow::dataflow::supervise::descendants(child.id() as i32);
    // SAFETY: kill on the pid of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    assert!(!child.wait().unwrap().success());
    assert!(wait_until(30, || !tree.iter().any(|p| alive(*p))), "processes left 30 s after the kill");
    // A checkpoint in place is complete: its state reads back (it is renamed only when whole).
    assert_eq!(checkpoint::read_state(&first).unwrap().epoch, 1);
    // Another preset cannot resume it: one line naming both.
    let o = train_cmd(VITB_384, &init, &roots, &killed, 3, true).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(VITB_256) && err.contains(VITB_384) && err.contains("cannot resume"), "{err}");
    let o = run(train_cmd(VITB_256, &init, &roots, &killed, 3, true));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success() && err.contains("Finished training"), "{err}");
    let final_killed = killed.join(format!("{VITB_256}.safetensors"));
    let (_, got) = checkpoint::digest(&final_killed).unwrap();
    assert_eq!(got, want, "the resumed run's weights differ from the uninterrupted run's");
    let temporaries: Vec<_> = std::fs::read_dir(killed.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(temporaries.is_empty(), "partial files left: {temporaries:?}");
    std::fs::remove_dir_all(killed.join("checkpoints")).unwrap();

    // The trained model through the evaluation dataflow, then scored and packed.
    let bench = dir.path().join("bench");
    sequences(&bench, 1, 77);
    let results = dir.path().join("results");
    let mut c = trackflow();
    c.args(["test", "ostrack", VITB_256, "--dataset"]).arg(&bench).arg("--weights").arg(&final_killed).arg("--results").arg(&results);
    let o = run(c);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = results.join("ostrack").join(VITB_256).join("bench");
    assert_eq!(std::fs::read_to_string(out.join("seq_0001.txt")).unwrap().lines().count(), 24);
    let mut c = trackflow();
    c.args(["analyze", "--protocol", "got10k", "--dataset"]).arg(&bench).arg(format!("vitb={}", out.display()));
    let o = run(c);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("vitb"), "{}", String::from_utf8_lossy(&o.stdout));
    let zip = dir.path().join("submit.zip");
    let mut c = trackflow();
    c.args(["pack", "got10k"]).arg(&out).arg("--dataset").arg(&bench).arg("-o").arg(&zip);
    assert!(run(c).status.success() && zip.is_file());

    // ViT-B 384: one step and its checkpoint.
    let init = mae_init(dir.path(), VITB_384);
    let large = dir.path().join("large");
    let o = run(train_cmd(VITB_384, &init, &roots, &large, 1, false));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success() && err.contains("Finished training"), "{err}");
    let state = checkpoint::read_state(&large.join("checkpoints").join(checkpoint::file_name(1))).unwrap();
    assert_eq!((state.config.as_str(), state.epoch, state.step), (VITB_384, 1, 1));
}
