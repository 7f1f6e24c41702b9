//! Video files through FFmpeg (installed by setup): decoding any container FFmpeg reads (mp4,
//! avi, mkv, ...) to RGB frames, and encoding annotated frames to H.264 MP4.
//!
//! FFmpeg runs as a child process exchanging raw RGB24 frames over pipes, so every codec it
//! supports works without linking it, and a broken file is FFmpeg's clear error message.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::base::image::Image;

/// File extensions read as videos.
pub(crate) const VIDEO_EXTENSIONS: [&str; 7] = ["mp4", "avi", "mkv", "mov", "webm", "m4v", "mpg"];

/// Whether a path looks like a video file.
pub(crate) fn is_video(p: &Path) -> bool {
    p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn tool(name: &str) -> Result<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()));
    found.with_context(|| format!("`{name}` not found: install FFmpeg (scripts/setup does: apt-get install ffmpeg)"))
}

/// Size, frame count and frame rate of a video's first video stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Number of frames (packets of the video stream).
    pub frames: usize,
    /// Frames per second.
    pub fps: f64,
}

/// Reads a video's size, frame count and rate with `ffprobe`.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    let out = Command::new(tool("ffprobe")?)
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=width,height,nb_read_packets,r_frame_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .with_context(|| format!("cannot run ffprobe on {}", path.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.trim().is_empty() {
        bail!("{}: not a readable video ({})", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let f: Vec<&str> = text.trim().split(',').collect();
    let parse = |i: usize| -> Result<usize> {
        f.get(i).and_then(|v| v.trim().parse().ok()).with_context(|| format!("{}: ffprobe said `{}`", path.display(), text.trim()))
    };
    let fps = f.get(2).and_then(|r| {
        let (n, d) = r.split_once('/')?;
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        (d > 0.0).then_some(n / d)
    });
    Ok(VideoInfo { width: parse(0)?, height: parse(1)?, fps: fps.unwrap_or(30.0), frames: parse(3)? })
}

/// Decodes a video frame by frame.
pub struct VideoReader {
    child: Child,
    stdout: ChildStdout,
    info: VideoInfo,
    path: PathBuf,
    read: usize,
}

impl VideoReader {
    /// Starts decoding.
    pub fn open(path: &Path) -> Result<Self> {
        let info = probe(path)?;
        let mut child = Command::new(tool("ffmpeg")?)
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start ffmpeg on {}", path.display()))?;
        let stdout = child.stdout.take().context("ffmpeg has no stdout")?;
        Ok(Self { child, stdout, info, path: path.to_path_buf(), read: 0 })
    }

    /// The video's properties.
    pub(crate) fn info(&self) -> VideoInfo {
        self.info
    }

    /// The next frame; `None` after the last. A stream that ends early is an error.
    pub fn next_frame(&mut self) -> Option<Result<Image>> {
        if self.read >= self.info.frames {
            return None;
        }
        let mut data = vec![0u8; self.info.width * self.info.height * 3];
        match self.stdout.read_exact(&mut data) {
            Ok(()) => {
                self.read += 1;
                Some(Ok(Image { width: self.info.width, height: self.info.height, channels: 3, data }))
            }
            Err(_) => {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                let decoded = std::mem::replace(&mut self.read, self.info.frames);
                Some(Err(anyhow::anyhow!(
                    "{}: the video ended after {decoded} of its {} frames ({})",
                    self.path.display(),
                    self.info.frames,
                    err.trim()
                )))
            }
        }
    }
}

impl Drop for VideoReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Encodes RGB frames to an H.264 MP4 (yuv420p, plays everywhere). The file appears under its
/// final name only when [`VideoWriter::finish`] succeeds; until then it is `<name>.<pid>.part.mp4`,
/// itself a playable file up to the last frame written (fragmented MP4).
pub(crate) struct VideoWriter {
    child: Child,
    stdin: Option<ChildStdin>,
    width: usize,
    height: usize,
    tmp: PathBuf,
    path: PathBuf,
}

impl VideoWriter {
    /// Starts an encoder for `width`×`height` frames at `fps`. Odd sizes are padded by one pixel.
    pub fn create(path: &Path, width: usize, height: usize, fps: f64) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        // The process id keeps two writers of one name (two runs into one folder) apart.
        let tmp = path.with_file_name(format!("{name}.{}.part.mp4", std::process::id()));
        let child = Command::new(tool("ffmpeg")?)
            .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
            .arg(format!("{width}x{height}"))
            .arg("-r")
            .arg(format!("{fps}"))
            .args([
                "-i",
                "-",
                "-vf",
                "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "23",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-g", "30"])
            .arg(&tmp)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start ffmpeg to write {}", path.display()))?;
        let mut w = Self { child, stdin: None, width, height, tmp, path: path.to_path_buf() };
        w.stdin = w.child.stdin.take();
        Ok(w)
    }

    /// Appends a frame (must have the size given at creation).
    pub fn write(&mut self, im: &Image) -> Result<()> {
        if (im.width, im.height, im.channels) != (self.width, self.height, 3) {
            bail!("frame is {}x{}x{}, the video is {}x{}x3", im.width, im.height, im.channels, self.width, self.height);
        }
        self.stdin.as_mut().context("video already finished")?.write_all(&im.data).context("ffmpeg stopped accepting frames")
    }

    /// Finishes the file and moves it to its final name.
    pub(crate) fn finish(mut self) -> Result<PathBuf> {
        drop(self.stdin.take());
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn()?).wait_with_output()?;
        if !out.status.success() {
            bail!("ffmpeg failed writing {}: {}", self.path.display(), String::from_utf8_lossy(&out.stderr).trim());
        }
        std::fs::rename(&self.tmp, &self.path).with_context(|| format!("cannot rename {}", self.tmp.display()))?;
        Ok(self.path.clone())
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        // Closing stdin lets ffmpeg finalise what it has, so an interrupted video stays playable.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
