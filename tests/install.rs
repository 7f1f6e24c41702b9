//! trackflow installed and run with its source checkout out of sight: the program and its
//! Python environment laid out as `scripts/install` lays them out, in a mount namespace where the
//! checkout is an empty folder. What it needs at run time is embedded or found relative to itself.

use std::path::Path;
use std::process::Command;

use crate::common::{TempDir, root, synth};

#[test]
fn an_installed_trackflow_tracks_and_runs_dataflows_with_the_checkout_hidden() {
    let dir = TempDir::new("install");
    let d = dir.path();
    // The installed layout: <prefix>/bin/trackflow and <prefix>/lib/trackflow/venv.
    let prefix = d.join("prefix");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(prefix.join("lib/trackflow/venv")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_trackflow"), prefix.join("bin/trackflow")).unwrap();
    // A user's video and a folder to work in, outside the checkout.
    let data = synth(d, 1, 6, 21);
    let video = d.join("clip.mp4");
    crate::dataflows_e2e::make_video(&data.join("seq_0001"), &video);
    let init = std::fs::read_to_string(data.join("seq_0001/groundtruth.txt")).unwrap().lines().next().unwrap().to_string();
    let work = d.join("work");
    let home = d.join("home");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let checkout = root().canonicalize().unwrap();
    assert!(!d.starts_with(&checkout), "the test folder must lie outside the checkout");
    // The environment goes where the installer puts it (bound there from the checkout's .venv,
    // which setup made), then the checkout disappears under an empty tmpfs.
    let script = format!(
        "set -e
mount --bind {venv} {prefix}/lib/trackflow/venv
mount -t tmpfs hidden {checkout}
test -z \"$(ls -A {checkout})\"
cd {work}
{prefix}/bin/trackflow track {video} --init-box {init} --out tracked
{prefix}/bin/trackflow run dataflows/track.kdl --set source.max-frames=4 --timeout 300
",
        venv = sh(&checkout.join(".venv")),
        prefix = sh(&prefix),
        checkout = sh(&checkout),
        work = sh(&work),
        video = sh(&video),
        init = sh(Path::new(&init)),
    );
    // A clean environment: nothing points at the checkout (no TRACKFLOW_HOME, no .venv on PATH).
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .output()
        .expect("unshare (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the installed trackflow failed with the checkout hidden (this test needs user and mount namespaces: `unshare -rm true`)\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // `track` used the embedded `mobile` preset and model on the user's video.
    assert_eq!(std::fs::read_to_string(work.join("tracked/clip.txt")).unwrap().lines().count(), 6, "{stderr}");
    // `run` found no dataflows/ in the work folder and ran trackflow's own copy, demo clip included.
    assert!(stderr.contains("running trackflow's own copy"), "{stderr}");
    // Its outputs land under the folder it ran from, as in a checkout, not in trackflow's data folder.
    let results = work.join("results/track/carphone.txt");
    assert_eq!(std::fs::read_to_string(&results).unwrap_or_default().lines().count(), 4, "{stderr}");
    assert!(work.join("results/track/carphone_sheet.png").is_file(), "{stderr}");
    assert!(!walk(&home).iter().any(|p| p.ends_with("results/track/carphone.txt")), "{stderr}");
}

/// `p` quoted for `sh`.
fn sh(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
