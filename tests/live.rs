//! Live tracking under the real dora CLI: an MJPEG-over-HTTP camera served by the test, a
//! played-back file, a slowed tracker that must drop frames instead of falling behind, and the
//! live view's page driven in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TempDir, run, synth, trackflow};

/// JPEG frames and the first box of a synthetic sequence.
fn frames(dir: &Path, n: usize) -> (Vec<Vec<u8>>, PathBuf, String) {
    let data = synth(dir, 1, n, 77);
    let seq = data.join("seq_0001");
    let jpegs = (1..=n).map(|i| std::fs::read(seq.join(format!("{i:08}.jpg"))).unwrap()).collect();
    let gt = std::fs::read_to_string(seq.join("groundtruth.txt")).unwrap();
    let first: Vec<f64> = gt.lines().next().unwrap().split(',').map(|v| v.parse().unwrap()).collect();
    (jpegs, seq, format!("{:.1},{:.1},{:.1},{:.1}", first[0], first[1], first[2], first[3]))
}

fn live(sets: &[String]) -> std::process::Output {
    let mut c = trackflow();
    c.args(["run", "dataflows/live.kdl", "--timeout", "180", "--set", "view.port=0", "--set", "tracker.config=tiny"]);
    for s in sets {
        c.arg("--set").arg(s);
    }
    run(c)
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Box rows of a recording (`# ...` header skipped): (frame, score, lost, capture ns).
fn box_rows(path: &Path) -> Vec<(u64, f64, bool, i64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let v: Vec<&str> = l.split_whitespace().collect();
            (v[0].parse().unwrap(), v[6].parse().unwrap(), v[7] == "1", v[1].parse().unwrap())
        })
        .collect()
}

fn video_frames(path: &Path) -> usize {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(0)
}

#[test]
fn live_graph_tracks_an_mjpeg_stream_and_records() {
    let dir = TempDir::new("live-mjpeg");
    let (jpegs, _, init) = frames(dir.path(), 40);
    let (port, _server) = trackflow::data::camera::serve_mjpeg(jpegs, 20.0).unwrap();
    let rec = dir.path().join("rec/live.mp4");
    let o = live(&[
        format!("camera.url=http://127.0.0.1:{port}/video"),
        "camera.max-frames=40".into(),
        "camera.retries=0".into(),
        format!("tracker.init-box={init}"),
        format!("view.record={}", rec.display()),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = box_rows(&rec.with_extension("boxes.txt"));
    assert!(rows.len() >= 10, "{} boxes: {}", rows.len(), text(&o));
    assert_eq!(rows[0].1, 1.0, "the first box is the init box");
    assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "frames in order");
    // 40 frames at 20 fps are 2 s of camera time: recorded at 30 fps, about 60 frames, not 40.
    let n = video_frames(&rec);
    assert!((45..=100).contains(&n), "the recording keeps the camera's timing: {n} frames at 30 fps for 2 s");
    assert!(text(&o).contains("live summary"));
}

/// Kills a helper process (the RTSP relay, its publisher) when the test ends, even by a panic.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An RTSP camera: FFmpeg publishes a synthetic sequence as H.264 over RTSP/TCP to a relay on
/// loopback (`tests/fixtures/rtsp_relay.py`, since FFmpeg cannot serve RTSP to a reader by
/// itself), and the live graph reads `rtsp://…` through the camera node's FFmpeg path.
#[test]
fn live_graph_tracks_an_rtsp_stream() {
    use std::io::BufRead;
    let dir = TempDir::new("live-rtsp");
    let (jpegs, seq, init) = frames(dir.path(), 50);
    let first = trackflow::base::imageio::decode_rgb(&jpegs[0]).unwrap();
    let mut relay = KillOnDrop(
        Command::new("python3")
            .arg(crate::common::root().join("tests/fixtures/rtsp_relay.py"))
            .args(["0", "--wait", "30"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs the RTSP relay"),
    );
    let mut line = String::new();
    std::io::BufReader::new(relay.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("listening on ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("relay said `{line}`"));
    let url = format!("rtsp://127.0.0.1:{port}/live");
    // A keyframe every 10 frames, so the reader starts within a second of connecting.
    let _publisher = KillOnDrop(
        Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-framerate", "10", "-i"])
            .arg(seq.join("%08d.jpg"))
            .args(["-t", "120", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-pix_fmt", "yuv420p"])
            .args(["-f", "rtsp", "-rtsp_transport", "tcp", &url])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ffmpeg publishes"),
    );
    let rec = dir.path().join("rtsp.mp4");
    let o = live(&[
        format!("camera.url={url}"),
        format!("camera.width={}", first.width),
        format!("camera.height={}", first.height),
        "camera.max-frames=40".into(),
        "camera.retries=2".into(),
        format!("tracker.init-box={init}"),
        format!("view.record={}", rec.display()),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = box_rows(&rec.with_extension("boxes.txt"));
    // The tracker takes the newest frame and drops stale ones, so on a loaded machine it may
    // process only a fraction of the 40.
    assert!(rows.len() >= 5, "{} boxes from the RTSP stream: {}", rows.len(), text(&o));
    assert!(text(&o).contains("sent 40 frames"), "every frame of the stream arrived: {}", text(&o));
    assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "frames in order");
    assert!(video_frames(&rec) >= 10, "the recording plays");
    // Capture times follow the stream's clock (10 frames/s): every interval between recorded
    // frames is a whole number of 100 ms periods, whatever the network and pipe jitter.
    let stamps: Vec<i64> = rows.iter().map(|r| r.3).collect();
    for w in stamps.windows(2) {
        let periods = (w[1] - w[0]) as f64 / 1e8;
        assert!(periods.round() >= 1.0 && (periods - periods.round()).abs() < 0.01, "capture interval {periods} periods: {stamps:?}");
    }
}

#[test]
fn a_slow_tracker_drops_stale_frames_instead_of_falling_behind() {
    let dir = TempDir::new("live-slow");
    let (_, seq, init) = frames(dir.path(), 60);
    let video = dir.path().join("clip.mp4");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "30", "-i"])
        .arg(seq.join("%08d.jpg"))
        .args(["-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .unwrap();
    assert!(st.success());
    let rec = dir.path().join("slow.mp4");
    let o = live(&[
        format!("camera.url={}", video.display()),
        "camera.loop=#false".into(),
        format!("tracker.init-box={init}"),
        "tracker.delay-ms=100".into(),
        format!("view.record={}", rec.display()),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    let summary = t.lines().find(|l| l.contains("live summary")).expect("summary line").to_string();
    // "N frames processed, D dropped (...); capture-to-box latency median M ms, p95 P ms"
    let num = |key: &str| -> f64 {
        let i = summary.find(key).unwrap_or_else(|| panic!("{key} in {summary}"));
        summary[..i].split_whitespace().last().unwrap().parse().unwrap()
    };
    let dropped = num(" dropped");
    assert!(dropped > 0.0, "a 10 fps tracker on a 30 fps camera must drop frames: {summary}");
    let p95: f64 = summary.rsplit("p95 ").next().unwrap().trim_end_matches(" ms").trim().parse().unwrap();
    // With newest-frame-wins the latency stays near one step (~100 ms), whatever the clip length.
    assert!(p95 < 1500.0, "latency grew: {summary}");
    let rows = box_rows(&rec.with_extension("boxes.txt"));
    assert!(rows.len() < 60, "frames were skipped: {} boxes of 60 frames", rows.len());
}

#[test]
fn live_view_page_in_headless_chromium_starts_tracking_from_a_drawn_box() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"].iter().find(|b| which(b)) else {
        panic!("chromium is missing: run scripts/setup (apt-get install chromium)");
    };
    let dir = TempDir::new("live-page");
    let (_, seq, _) = frames(dir.path(), 60);
    let video = dir.path().join("clip.mp4");
    assert!(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-framerate", "30", "-i"])
            .arg(seq.join("%08d.jpg"))
            .args(["-pix_fmt", "yuv420p"])
            .arg(&video)
            .status()
            .unwrap()
            .success()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rec = dir.path().join("page.mp4");
    // No init box: tracking must start from the box drawn on the page. The camera loops without
    // end, so the run outlives however slowly Chromium starts on a loaded machine (a run bounded
    // by camera time was once over before the page loaded); the test ends it with Ctrl-C, the
    // way a user ends live tracking.
    let mut c = trackflow();
    c.args(["run", "dataflows/live.kdl", "--timeout", "600", "--set", "tracker.config=tiny", "--set", "tracker.init-box=\"\""]);
    for s in [
        format!("camera.url={}", video.display()),
        "camera.loop=#true".into(),
        "camera.max-frames=0".into(),
        format!("view.port={port}"),
        format!("view.record={}", rec.display()),
    ] {
        c.arg("--set").arg(s);
    }
    // The run's console goes to a file: a pipe nobody reads while the run goes on could fill and
    // block it.
    let console = dir.path().join("console.txt");
    c.stdout(std::fs::File::create(&console).unwrap()).stderr(std::fs::File::create(dir.path().join("console-err.txt")).unwrap());
    let flow = Interrupting(Some(c.spawn().unwrap()));
    let console_text = || {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}{}", read(&console), read(&dir.path().join("console-err.txt")))
    };
    // Wait for the page to answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the live view never opened its port: {}", console_text());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Under a loaded CI machine Chromium can start slowly and its virtual clock can run out
    // before the first frame; so wait (in real time) for frames, then open the page until the
    // view reports the drawn box, a few tries at most.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while state(port).is_none_or(|s| s["frame"].as_u64().unwrap_or(0) == 0) {
        assert!(std::time::Instant::now() < deadline, "the live view never showed a frame: {}", console_text());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The MJPEG stream (for VLC and friends) is served so that trackflow's own camera client
    // reads it: three frames in a row.
    {
        use trackflow::data::camera::{FrameSource, MjpegStream};
        let mut stream = MjpegStream::connect("127.0.0.1", port, "/stream").expect("/stream answers");
        for _ in 0..3 {
            let f = stream.next_frame().expect("/stream sends frames").expect("/stream stays open");
            assert!(f.image.width > 0 && f.image.height > 0);
        }
    }
    let shots = crate::common::root().join("target/test-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("live-view.png");
    let _ = std::fs::remove_file(&shot);
    let profile = dir.path().join("chromium-profile");
    let mut chromium_log = String::new();
    let tracking = || state(port).is_some_and(|s| s["status"] == "tracking" || s["status"] == "LOST");
    for _attempt in 0..4 {
        // Bounded: a browser that never finishes its page must not hang the suite.
        let o = Command::new("timeout")
            .args(["90", chromium])
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=800,600"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--virtual-time-budget=6000")
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("http://127.0.0.1:{port}/?drag=100,80,60,60"))
            .output()
            .unwrap();
        chromium_log = String::from_utf8_lossy(&o.stderr).into_owned();
        let began = std::time::Instant::now();
        while !tracking() && began.elapsed() < std::time::Duration::from_secs(3) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if tracking() && shot.is_file() {
            break;
        }
    }
    assert!(shot.is_file(), "no screenshot: {chromium_log}");
    assert!(tracking(), "the page's drawn box did not start tracking: {chromium_log}\n{}", console_text());
    // Track a few frames on, then stop the run as a user would.
    let boxes = rec.with_extension("boxes.txt");
    // Read while the view writes: only whole lines count.
    let tracked = || {
        let text = std::fs::read_to_string(&boxes).unwrap_or_default();
        text.split_inclusive('\n').filter(|l| l.ends_with('\n') && !l.starts_with('#') && l.split_whitespace().nth(7) == Some("0")).count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while tracked() < 5 {
        assert!(std::time::Instant::now() < deadline, "no boxes after the drawn one: {}", console_text());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status = flow.interrupt();
    let out = console_text();
    assert!(!status.success() && out.contains("interrupted"), "Ctrl-C is reported as such: {status:?}\n{out}");
    let rows = box_rows(&rec.with_extension("boxes.txt"));
    // Before the drag: boxes flagged lost with score 0 (nothing to track). After it: an init
    // box (score 1) and tracked boxes.
    let init = rows.iter().position(|r| r.1 == 1.0 && !r.2).unwrap_or_else(|| panic!("no box was drawn on the page: {out}"));
    assert!(rows[..init].iter().all(|r| r.2), "tracking started before the box was drawn");
    assert!(rows.len() > init + 3, "tracking went on after the drawn box");
    assert!(out.contains("init box"), "the tracker logged the box from the view");
    // The recording was closed properly on Ctrl-C: it has the frames up to the stop.
    assert!(video_frames(&rec) > init, "the recording survived the stop: {out}");
}

/// A `trackflow run` the test stops with SIGINT, also when the test fails half-way (no run is
/// left behind holding the port and the CPU).
struct Interrupting(Option<std::process::Child>);

impl Interrupting {
    /// Sends SIGINT and waits (bounded: trackflow itself gives its run 20 s) for the exit.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("running");
        // SAFETY: kill on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let began = std::time::Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            if began.elapsed() > std::time::Duration::from_secs(40) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("trackflow did not exit within 40 s of Ctrl-C");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Interrupting {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // SAFETY: as in `interrupt`.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let began = std::time::Instant::now();
            while child.try_wait().ok().flatten().is_none() && began.elapsed() < std::time::Duration::from_secs(30) {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The live view's `/state` JSON, or None while it does not answer.
fn state(port: u16) -> Option<serde_json::Value> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /state HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    serde_json::from_str(body.split("\r\n\r\n").nth(1)?).ok()
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

#[test]
fn garbage_and_a_vanishing_camera_are_survived_and_the_recording_kept() {
    let dir = TempDir::new("live-bad");
    let (mut jpegs, _, init) = frames(dir.path(), 30);
    // Garbage parts in the stream, then the camera goes away after the last frame.
    jpegs.insert(5, b"this is not a jpeg".to_vec());
    jpegs.insert(12, vec![0xff, 0xd8, 0x00]);
    let (port, _server) = trackflow::data::camera::serve_mjpeg(jpegs, 30.0).unwrap();
    let rec = dir.path().join("bad.mp4");
    let o = live(&[
        format!("camera.url=http://127.0.0.1:{port}/"),
        "camera.retries=1".into(),
        format!("tracker.init-box={init}"),
        format!("view.record={}", rec.display()),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("skipping an undecodable MJPEG part"), "{t}");
    assert!(t.contains("reconnecting"), "the source reports the lost stream and retries: {t}");
    assert!(video_frames(&rec) >= 10, "the recording plays");
}

/// A V4L2 camera is asked for the pixel format the `format` parameter names (MJPEG gives most
/// USB cameras their full size and rate), as FFmpeg spells it.
#[test]
fn v4l2_format_choice_reaches_ffmpeg() {
    use trackflow::data::camera::{DeviceFormat, v4l2_args};
    let args = v4l2_args("/dev/video0", DeviceFormat::Mjpeg, 1280, 720, 30.0).join(" ");
    assert_eq!(args, "-f v4l2 -input_format mjpeg -framerate 30 -video_size 1280x720 -i /dev/video0");
    let args = v4l2_args("/dev/video2", DeviceFormat::Yuyv, 0, 0, 0.0).join(" ");
    assert_eq!(args, "-f v4l2 -input_format yuyv422 -i /dev/video2");
    assert_eq!(v4l2_args("/dev/video0", DeviceFormat::Auto, 0, 0, 0.0).join(" "), "-f v4l2 -i /dev/video0");
    assert!(DeviceFormat::parse("h264").is_err());
    // The parameter is checked like any other.
    let problems = trackflow::dataflow::node_params("camera", r#"url="/dev/video0" format="h264""#).unwrap_err().render(false);
    assert!(problems.contains("not one of the choices"), "{problems}");
}
