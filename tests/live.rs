//! Live tracking under the real dora CLI: an MJPEG-over-HTTP camera served by the test, a
//! played-back file, a slowed tracker that must drop frames instead of falling behind, and the
//! live view's page driven in headless Chromium over the DevTools protocol (real mouse events).

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TempDir, run, synth, trackflow, wait_until};

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
    // 4 s of camera: long enough that a tracker slow to load libtorch on a loaded machine still
    // sees frames.
    let (_, seq, init) = frames(dir.path(), 120);
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
    assert!(rows.len() < 120, "frames were skipped: {} boxes of 120 frames", rows.len());
}

#[test]
fn live_view_page_in_headless_chromium_starts_tracking_from_a_drawn_box() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"].iter().find(|b| which(b)) else {
        panic!("chromium is missing: run scripts/setup (apt-get install chromium)");
    };
    let dir = TempDir::new("live-page");
    let (_, seq, _) = frames(dir.path(), 60);
    let video = clip(&seq, dir.path());
    let rec = dir.path().join("page.mp4");
    // No init box: tracking must start from the box drawn on the page.
    let (flow, port) = start_looping_live(dir.path(), &video, &rec);
    let console_text = || console(dir.path());
    wait_for_a_frame(port, &console_text);
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
    let tracking = || state(port).is_some_and(|s| s["status"] == "tracking" || s["status"] == "LOST");
    let mut browser = Browser::open(chromium, &dir.path().join("chromium-profile"));
    browser.call("Page.navigate", serde_json::json!({ "url": format!("http://127.0.0.1:{port}/") }));
    // Real time, no virtual clock: wait for the page to show a frame (it sizes the drawing
    // canvas over the picture then).
    let page_frames = |b: &mut Browser| b.eval("Number(document.body.dataset.frames || 0)").ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
    assert!(wait_until(60, || page_frames(&mut browser) >= 1.0), "the page never showed a frame: {}", browser.log());
    // Drag a box with the mouse, as a user does: press, move, release over the picture.
    let at = browser
        .eval("(() => { const r = document.getElementById('overlay').getBoundingClientRect(); return [r.left, r.top]; })()")
        .unwrap_or_else(|e| panic!("the page has no drawing canvas: {e}"));
    let (left, top) = (at[0].as_f64().expect("canvas left"), at[1].as_f64().expect("canvas top"));
    for (kind, x, y, buttons) in [("mousePressed", 100.0, 80.0, 1), ("mouseMoved", 160.0, 140.0, 1), ("mouseReleased", 160.0, 140.0, 0)] {
        browser.call(
            "Input.dispatchMouseEvent",
            serde_json::json!({ "type": kind, "x": left + x, "y": top + y, "button": "left", "buttons": buttons, "clickCount": 1 }),
        );
    }
    // Generous: on a loaded machine the tracker may still be loading its model when the box comes.
    if !wait_until(90, tracking) {
        // The page shows the view's answer when it refuses (a missing token, a bad box).
        let answer = browser.eval("document.getElementById('message').textContent").unwrap_or_default();
        panic!("the page's drawn box did not start tracking (the view answered: {answer}): {}\n{}", browser.log(), console_text());
    }
    // Let the page show the tracked box, then keep a screenshot for people to look at.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let png = browser.call("Page.captureScreenshot", serde_json::json!({ "format": "png" }));
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD.decode(png["data"].as_str().expect("screenshot data")).expect("base64 screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    std::fs::write(&shot, &png).unwrap();
    drop(browser);
    // Track a few frames on, then stop the run as a user would.
    let boxes = rec.with_extension("boxes.txt");
    // Read while the view writes: only whole lines count.
    let tracked = || {
        let text = std::fs::read_to_string(&boxes).unwrap_or_default();
        text.split_inclusive('\n').filter(|l| l.ends_with('\n') && !l.starts_with('#') && l.split_whitespace().nth(7) == Some("0")).count()
    };
    assert!(wait_until(60, || tracked() >= 5), "no boxes after the drawn one: {}", console_text());
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

/// A 30 fps MP4 of a synthetic sequence's frames, written to `dir`.
fn clip(seq: &Path, dir: &Path) -> PathBuf {
    let video = dir.join("clip.mp4");
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
    video
}

/// Starts the live graph on `video` looped without end, with no init box, its view on a free
/// port (returned) and recording to `rec`, its console in `dir` ([`console`]). The camera never
/// runs out, so the run outlives however slowly the test's clients start on a loaded machine (a
/// run bounded by camera time was once over before Chromium's page loaded); the test ends it
/// with Ctrl-C, the way a user ends live tracking.
fn start_looping_live(dir: &Path, video: &Path, rec: &Path) -> (Interrupting, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
    // The run's console goes to files: a pipe nobody reads while the run goes on could fill and
    // block it.
    c.stdout(std::fs::File::create(dir.join("console.txt")).unwrap()).stderr(std::fs::File::create(dir.join("console-err.txt")).unwrap());
    (Interrupting(Some(c.spawn().unwrap())), port)
}

/// What a run started by [`start_looping_live`] in `dir` printed so far.
fn console(dir: &Path) -> String {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    format!("{}{}", read(dir.join("console.txt")), read(dir.join("console-err.txt")))
}

/// Waits for the live view on `port` to answer and to have a frame to show.
fn wait_for_a_frame(port: u16, console_text: &dyn Fn() -> String) {
    assert!(
        wait_until(60, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "the live view never opened its port: {}",
        console_text()
    );
    assert!(
        wait_until(60, || state(port).is_some_and(|s| s["frame"].as_u64().unwrap_or(0) > 0)),
        "the live view never showed a frame: {}",
        console_text()
    );
}

/// A `trackflow run` the test stops with SIGINT, also when the test fails half-way (no run is
/// left behind holding the port and the CPU).
struct Interrupting(Option<std::process::Child>);

impl Interrupting {
    /// Sends SIGINT and waits (bounded: trackflow itself gives its run 20 s) for the exit.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("running");
        let pid = child.id() as libc::pid_t;
        signal_and_wait(&mut child, pid, libc::SIGINT, 40).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("trackflow did not exit within 40 s of Ctrl-C")
        })
    }
}

impl Drop for Interrupting {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let pid = child.id() as libc::pid_t;
            if signal_and_wait(&mut child, pid, libc::SIGINT, 30).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Sends `signal` to `target` (the child's pid, or minus it for its process group) and waits up
/// to `seconds` for `child` to exit: its status, or None if it is still running.
fn signal_and_wait(
    child: &mut std::process::Child,
    target: libc::pid_t,
    signal: libc::c_int,
    seconds: u64,
) -> Option<std::process::ExitStatus> {
    // SAFETY: kill on the pid (or process group) of a child we spawned and have not reaped.
    unsafe { libc::kill(target, signal) };
    let mut status = None;
    wait_until(seconds, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// Headless Chromium driven over the DevTools protocol: real mouse events, script evaluation
/// and screenshots, every wait bounded. (Chromium's `--screenshot` with `--virtual-time-budget`
/// stalled on the polling page in about one run of two; without the budget the shot came
/// before the page had drawn anything.) Dropping it ends the browser.
struct Browser {
    ws: tungstenite::WebSocket<std::net::TcpStream>,
    next_id: u64,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    _process: ProcessGroup,
}

/// A child started as the leader of its own process group; dropping it ends the whole group
/// (Chromium's zygotes, renderers and crash handler too), also when a test panics half-way.
struct ProcessGroup(std::process::Child);

impl Drop for ProcessGroup {
    /// SIGTERM lets Chromium close its helpers; SIGKILL follows after 10 s.
    fn drop(&mut self) {
        // The leader's pid is the group id.
        let group = -(self.0.id() as libc::pid_t);
        signal_and_wait(&mut self.0, group, libc::SIGTERM, 10);
        // SAFETY: kill on the process group of a child we spawned; helpers still running end too.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl Browser {
    /// Starts Chromium on a blank page and connects to that page's DevTools socket.
    fn open(chromium: &str, profile: &Path) -> Browser {
        use std::io::BufRead;
        let mut process = ProcessGroup(
            Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    "--window-size=800,600",
                    "--remote-debugging-port=0",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg("about:blank")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .process_group(0)
                .spawn()
                .unwrap(),
        );
        // Chromium names its DevTools port on stderr; the rest of stderr is kept for messages.
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let (stderr, log) = (process.0.stderr.take().unwrap(), log.clone());
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(url) = line.split("DevTools listening on ").nth(1) {
                        let _ = tx.send(url.trim().to_string());
                    }
                    let mut g = log.lock().unwrap();
                    g.push_str(&line);
                    g.push('\n');
                }
            });
        }
        let browser_url = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("Chromium named no DevTools port within 60 s: {}", log.lock().unwrap()));
        // ws://127.0.0.1:PORT/devtools/browser/ID: the page's socket is listed at /json/list.
        let host = browser_url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
        // The blank page may be listed a moment after the port opens.
        let mut page_url = None;
        let listed = wait_until(30, || {
            let targets: Option<serde_json::Value> = http_get(&host, "/json/list").and_then(|l| serde_json::from_str(&l).ok());
            page_url = targets
                .as_ref()
                .and_then(|t| t.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"].as_str().map(String::from));
            page_url.is_some()
        });
        assert!(listed, "Chromium at {host} listed no page: {}", log.lock().unwrap());
        let page_url = page_url.unwrap();
        let stream = std::net::TcpStream::connect(&host).unwrap_or_else(|e| panic!("DevTools at {host}: {e}"));
        // Each read is bounded; `try_call` bounds a whole exchange.
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let (ws, _) = tungstenite::client(page_url.as_str(), stream).unwrap_or_else(|e| panic!("DevTools WebSocket handshake: {e}"));
        Browser { ws, next_id: 0, log, _process: process }
    }

    /// Calls a DevTools method and returns its result, or the error Chromium answered; events
    /// in between are skipped. Fails the test when Chromium does not answer within 60 s.
    fn try_call(&mut self, method: &str, params: serde_json::Value) -> Result<serde_json::Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let request = serde_json::json!({ "id": id, "method": method, "params": params });
        self.ws.send(tungstenite::Message::text(request.to_string())).unwrap_or_else(|e| panic!("{method}: {e}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            assert!(std::time::Instant::now() < deadline, "{method}: no answer from Chromium within 60 s: {}", self.log());
            let message = self.ws.read().unwrap_or_else(|e| panic!("{method}: no answer from Chromium ({e}): {}", self.log()));
            let tungstenite::Message::Text(text) = message else { continue };
            let reply: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            if reply["id"] == id {
                return match reply.get("error") {
                    Some(e) => Err(e.to_string()),
                    None => Ok(reply["result"].clone()),
                };
            }
        }
    }

    /// Calls a DevTools method and returns its result; an error answer fails the test.
    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.try_call(method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The value of a JavaScript expression evaluated in the page, or the error (a page being
    /// replaced has no context to evaluate in; a script that throws reports its exception).
    fn eval(&mut self, expression: &str) -> Result<serde_json::Value, String> {
        let r = self.try_call("Runtime.evaluate", serde_json::json!({ "expression": expression, "returnByValue": true }))?;
        match r.get("exceptionDetails") {
            Some(e) => Err(e.to_string()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// What Chromium printed so far.
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// The body of a plain HTTP GET, or None when the server does not answer. The body ends at its
/// Content-Length where there is one (Chromium's DevTools server keeps the connection open).
fn http_get(host: &str, path: &str) -> Option<String> {
    use std::io::{BufRead, Read, Write};
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut r = std::io::BufReader::new(s);
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body).ok()?;
        }
        None => {
            r.read_to_end(&mut body).ok()?;
        }
    }
    String::from_utf8(body).ok()
}

/// The live view's `/state` JSON, or None while it does not answer.
fn state(port: u16) -> Option<serde_json::Value> {
    serde_json::from_str(&http_get(&format!("127.0.0.1:{port}"), "/state")?).ok()
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// An answer from the live view: status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `raw` (a whole request) to the live view on `port` and reads its answer to the end (the
/// view closes every connection after answering). Status 0: no answer.
fn send_raw(port: u16, raw: &[u8]) -> Answer {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(15))).unwrap();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    // A reset after the answer (the view closing on unread input) still leaves the answer read.
    let _ = s.read_to_end(&mut buf);
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(buf.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    Answer { status: head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), body: buf[end..].to_vec() }
}

/// A request to the live view on `port` with the given headers; `Host: 127.0.0.1:port` unless
/// they name another.
fn request(port: u16, method: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
    let mut r = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        r.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "POST" {
        r.push_str("Content-Length: 0\r\n");
    }
    r.push_str("\r\n");
    send_raw(port, r.as_bytes())
}

/// Hostile requests to a running live view, all on one run: a foreign Host (DNS rebinding) is
/// refused on every path, a cross-site or token-less POST changes nothing, and boxes that once
/// killed the tracker (infinite, off the image, vanishingly small, overflowing) are refused
/// with the reason. Through all of it the camera, the tracker, the view and the recording keep
/// going: a good box afterwards starts tracking, and the run ends only at Ctrl-C.
#[test]
fn live_view_refuses_hostile_requests_and_the_run_goes_on() {
    let dir = TempDir::new("live-hostile");
    let (_, seq, init) = frames(dir.path(), 60);
    let video = clip(&seq, dir.path());
    let rec = dir.path().join("hostile.mp4");
    let (mut flow, port) = start_looping_live(dir.path(), &video, &rec);
    let console_text = || console(dir.path());
    wait_for_a_frame(port, &console_text);

    // DNS rebinding: a page on attacker.example re-pointed at 127.0.0.1 sends its own name.
    let foreign = format!("attacker.example:{port}");
    for (path, host) in
        [("/frame.jpg", "attacker.example"), ("/frame.jpg", &foreign), ("/", &foreign), ("/state", &foreign), ("/stream", &foreign)]
    {
        let a = request(port, "GET", path, &[("Host", host)]);
        assert_eq!(a.status, 403, "GET {path} with Host {host}: {}", a.text());
        assert!(a.text().contains("attacker.example"), "the refusal names the Host: {}", a.text());
    }
    assert_eq!(send_raw(port, b"GET /frame.jpg HTTP/1.0\r\n\r\n").status, 403, "no Host at all");

    // The page carries this run's token; POSTs need it.
    let page = request(port, "GET", "/", &[]);
    assert_eq!(page.status, 200);
    let token =
        page.text().split("name=\"trackflow-token\" content=\"").nth(1).and_then(|t| t.split('"').next()).unwrap_or_default().to_string();
    assert!(token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()), "the page carries a token: `{token}`");
    let origin = format!("http://127.0.0.1:{port}");
    let good = [("Origin", origin.as_str()), ("X-Trackflow-Token", token.as_str())];
    let post = |target: &str, headers: &[(&str, &str)]| request(port, "POST", target, headers);
    let init_target = format!("/init?box={init}");
    for (what, headers) in [
        ("no token", vec![("Origin", origin.as_str())]),
        ("a wrong token", vec![("X-Trackflow-Token", "0123456789abcdef0123456789abcdef")]),
    ] {
        let a = post(&init_target, &headers);
        assert_eq!(a.status, 403, "POST /init with {what}: {}", a.text());
        assert!(a.text().contains("X-Trackflow-Token"), "{}", a.text());
    }

    // Boxes that took the run down, and other malformed ones: 400 with the reason.
    let too_long = format!("/init?box={}", "1,".repeat(400));
    for (target, status, reason) in [
        ("/init?box=1e309,1,1,1", 400, "not a finite number"),
        ("/init?box=5000,5000,10,10", 400, "outside the 160×120 frame"),
        ("/init?box=10,10,1e-300,1e-300", 400, "at least 2 px"),
        ("/init?box=0,0,1e308,1e308", 400, "larger than the 160×120 frame"),
        ("/init?box=NaN,1,5,5", 400, "not a finite number"),
        ("/init?box=1,2,3", 400, "has 3 values"),
        ("/init?box=a,1,5,5", 400, "not a number"),
        ("/init", 400, "give box=x,y,w,h"),
        ("/init?box=1,1,5,5&box=2,2,5,5", 400, "more than once"),
        ("/init?box=1,1,5,5&speed=9", 400, "unknown parameter"),
        ("/pause?now=1", 400, "no parameters"),
        (too_long.as_str(), 414, "at most 512"),
    ] {
        let a = post(target, &good);
        assert_eq!(a.status, status, "POST {target}: {}", a.text());
        assert!(a.text().contains(reason), "POST {target}: `{}` should say `{reason}`", a.text());
    }

    // Requests past the reader's bounds are answered, not let grow.
    let huge_header = format!("GET /state HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Pad: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(send_raw(port, huge_header.as_bytes()).status, 431);
    let huge_line = format!("GET /{} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n", "a".repeat(5000));
    assert_eq!(send_raw(port, huge_line.as_bytes()).status, 414);
    let big_body =
        format!("POST /pause HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Trackflow-Token: {token}\r\nContent-Length: 100000\r\n\r\n");
    assert_eq!(send_raw(port, big_body.as_bytes()).status, 413);
    let chunked = format!(
        "POST /pause HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Trackflow-Token: {token}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    );
    assert_eq!(send_raw(port, chunked.as_bytes()).status, 411);

    // None of it reached the tracker, which is still alive: a good box (from a client without
    // Origin, as curl sends it) starts tracking.
    let a = post(&init_target, &[("X-Trackflow-Token", token.as_str())]);
    assert_eq!(a.status, 200, "a good box with the token: {}", a.text());
    let tracking = || state(port).is_some_and(|s| s["status"] == "tracking" || s["status"] == "LOST");
    assert!(wait_until(90, tracking), "the good box did not start tracking: {}", console_text());

    // A cross-site pause (with a stolen token, even) is refused and pauses nothing.
    let a = post("/pause", &[("Origin", "http://evil.example"), ("X-Trackflow-Token", token.as_str())]);
    assert_eq!(a.status, 403, "cross-site POST /pause: {}", a.text());
    assert!(a.text().contains("evil.example"), "{}", a.text());
    let a = post("/pause", &[("Origin", &format!("http://127.0.0.1:{}", port.wrapping_add(1))), ("X-Trackflow-Token", token.as_str())]);
    assert_eq!(a.status, 403, "a page on another local port is another site: {}", a.text());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(state(port).expect("state")["paused"], false, "the refused pause paused the tracker");
    // The page's own pause and resume work.
    assert_eq!(post("/pause", &good).status, 200);
    assert!(wait_until(10, || state(port).is_some_and(|s| s["paused"] == true)), "pause from the page");
    assert_eq!(post("/resume", &good).status, 200);
    assert!(wait_until(10, || state(port).is_some_and(|s| s["paused"] == false)), "resume from the page");

    // The view still serves frames, and new ones.
    let a = request(port, "GET", "/frame.jpg", &[]);
    assert!(a.status == 200 && a.body.starts_with(&[0xff, 0xd8]), "a JPEG frame after the attacks: {}", a.status);
    let frame = |s: serde_json::Value| s["frame"].as_u64().unwrap_or(0);
    let before = frame(state(port).expect("state"));
    assert!(wait_until(20, || state(port).is_some_and(|s| frame(s) != before)), "the view's frames stopped: {}", console_text());
    // The recording holds tracked boxes after the good one.
    let boxes = rec.with_extension("boxes.txt");
    let tracked = || {
        let text = std::fs::read_to_string(&boxes).unwrap_or_default();
        text.split_inclusive('\n').filter(|l| l.ends_with('\n') && !l.starts_with('#') && l.split_whitespace().nth(7) == Some("0")).count()
    };
    assert!(wait_until(60, || tracked() >= 3), "no tracked boxes recorded: {}", console_text());
    // Still running (the camera loops without end): only Ctrl-C ends it.
    assert!(flow.0.as_mut().unwrap().try_wait().unwrap().is_none(), "the run ended under attack: {}", console_text());
    let status = flow.interrupt();
    let out = console_text();
    assert!(!status.success() && out.contains("interrupted"), "Ctrl-C is reported as such: {status:?}\n{out}");
    assert!(!out.contains("NaN or infinity") && !out.contains("panicked"), "a bad box reached the tracker: {out}");
    let from_view = out.lines().filter(|l| l.contains("init box") && l.contains("from the view")).count();
    assert_eq!(from_view, 1, "only the good box reached the tracker: {out}");
}

/// The rules the live view holds requests to, without a server: boxes, names, tokens, queries.
#[test]
fn live_view_request_rules() {
    use trackflow::nodes::live_view::guard::{Allowlist, check_init_box, expect_params, new_token, query_pairs, token_matches};
    let frame = Some((640, 480));
    assert_eq!(check_init_box("10,20,30,40", frame), Ok([10.0, 20.0, 30.0, 40.0]));
    // Partly outside: clipped to the visible part.
    assert_eq!(check_init_box("-10, 470, 30, 40", frame), Ok([0.0, 470.0, 20.0, 10.0]));
    assert_eq!(check_init_box("10,20,30,40", None).unwrap_err().status, 409, "no frame shown yet");
    for bad in [
        "1e309,1,1,1",
        "inf,1,5,5",
        "1,2,3,4,5",
        "",
        "5000,5000,10,10",
        "10,10,1e-300,1e-300",
        "0,0,1e308,1e308",
        "639,479,2,2",
        "0,0,641,10",
    ] {
        let r = check_init_box(bad, frame).unwrap_err();
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert!(!r.reason.is_empty() && r.reason.len() < 300, "{bad}: a short reason: {}", r.reason);
    }

    let allow = Allowlist::new(8090, "127.0.0.1", "tracker.lan, robot.local:80").unwrap();
    for host in ["127.0.0.1:8090", "localhost:8090", "LOCALHOST:8090", "[::1]:8090", "127.0.0.1", "tracker.lan:8090", "robot.local"] {
        assert!(allow.host_allowed(host), "{host}");
    }
    for host in [
        "attacker.example",
        "attacker.example:8090",
        "127.0.0.1:8091",
        "localhost.evil:8090",
        "",
        "127.0.0.1:8090/x",
        "user@localhost:8090",
    ] {
        assert!(!allow.host_allowed(host), "{host}");
    }
    for origin in ["http://127.0.0.1:8090", "http://localhost:8090", "http://[::1]:8090", "http://robot.local"] {
        assert!(allow.origin_allowed(origin), "{origin}");
    }
    for origin in ["http://evil.example", "null", "http://127.0.0.1", "http://localhost:3000", "file://", "ftp://127.0.0.1:8090"] {
        assert!(!allow.origin_allowed(origin), "{origin}");
    }
    // Serving on a LAN address allows that address; a bad allow-hosts entry fails the start.
    assert!(Allowlist::new(8090, "192.168.1.5", "").unwrap().host_allowed("192.168.1.5:8090"));
    assert!(!Allowlist::new(8090, "0.0.0.0", "").unwrap().host_allowed("0.0.0.0:8090"));
    assert!(Allowlist::new(8090, "127.0.0.1", "http://x/").is_err());

    let (a, b) = (new_token(), new_token());
    assert!(a.len() == 32 && a != b, "tokens are random: {a} {b}");
    assert!(token_matches(&a, Some(&a)) && !token_matches(&a, Some(&b)) && !token_matches(&a, None) && !token_matches(&a, Some("")));

    let pairs = query_pairs("box=1%2C2%2C3%2C4&t=5").unwrap();
    assert_eq!(pairs, vec![("box".to_string(), "1,2,3,4".to_string()), ("t".to_string(), "5".to_string())]);
    assert_eq!(query_pairs("box=%zz").unwrap_err().status, 400);
    assert_eq!(query_pairs(&"a".repeat(600)).unwrap_err().status, 414);
    assert!(expect_params(&pairs, &["box"], "/init").is_err(), "an unknown parameter is refused");
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
