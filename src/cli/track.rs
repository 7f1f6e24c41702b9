//! `trackflow track`: the fused tracker (one process, no dora) over sequences, writing OSTrack
//! results; its loader and sequence loop also serve `trackflow evaluate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::base::image::Image;
use crate::model::{Config, Parts, Weights, load_tracking_model, parse_device, parse_precision, require_trained};
use crate::tracker::batch::BatchTracker;
use crate::tracker::{InitBoxError, TrackOptions, Tracker, check_frame, check_same_size};

/// `trackflow track`: the fused tracker over a sequence, a video or a folder of sequences.
#[derive(Debug, clap::Args)]
pub(crate) struct TrackArgs {
    /// A sequence folder, or a folder of sequences.
    pub sequence: PathBuf,
    /// Model preset (`configs/ostrack/<name>.kdl`) or config file.
    #[arg(long, default_value = "mobile")]
    pub config: String,
    /// Weights (safetensors); default: the preset's own (`model { weights ... }`). A preset without
    /// weights is refused unless --untrained is given.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Random weights, on purpose: an untrained baseline of the same shape (even when the preset
    /// has weights of its own).
    #[arg(long, conflicts_with = "weights")]
    pub untrained: bool,
    /// RGB+X sequences: read only the RGB frames (an RGB tracker on a multi-modal dataset).
    #[arg(long)]
    pub(crate) rgb_only: bool,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: i64,
    /// libtorch CPU threads (0: libtorch's default, all cores). Use 1 when other
    /// libtorch processes (a training run) share the cores: oversubscribed threads can run
    /// 50× slower.
    #[arg(long, default_value_t = 0)]
    pub threads: i32,
    /// auto, cpu, cuda, cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// fp32, fp16 or bf16.
    #[arg(long, default_value = "fp32")]
    pub precision: String,
    /// Turn candidate elimination off.
    #[arg(long)]
    pub(crate) no_ce: bool,
    /// Turn the Hann window off.
    #[arg(long)]
    pub(crate) no_hann: bool,
    /// Results folder.
    #[arg(long, default_value = "results/track")]
    pub out: PathBuf,
    /// Track only the first N frames of each sequence.
    #[arg(long, default_value_t = 0)]
    pub(crate) max_frames: usize,
    /// Init box `x,y,w,h` (required for videos; overrides the ground truth).
    #[arg(long)]
    pub init_box: Option<String>,
    /// Track this many sequences of the folder in lockstep, one forward pass of that batch per
    /// step (a slot is refilled as soon as its sequence ends). For GPUs; 1 tracks one at a time.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
}

impl TrackArgs {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let TrackArgs {
            sequence,
            config,
            weights,
            untrained,
            rgb_only,
            seed,
            threads,
            device,
            precision,
            no_ce,
            no_hann,
            out,
            max_frames,
            init_box,
            batch,
        } = self;
        if threads > 0 {
            tch::set_num_threads(threads);
        }
        let init_box = init_box.as_deref().map(crate::tracker::parse_box).transpose()?;
        let weights = match (weights, untrained) {
            (Some(w), _) => Weights::File(w),
            (None, true) => Weights::Random,
            (None, false) => Weights::Preset,
        };
        let options = TrackOptions { ce: !no_ce, hann: !no_hann };
        let (model, kind) = load_model(&config, weights, seed, &device, &precision)?;
        let job = TrackJob { sequences: &sequence, out: &out, max_frames, init_box, rgb_only };
        if batch > 1 {
            let mut tracker = BatchTracker::new(model, options, kind, batch);
            track_batched(&mut tracker, &job)?;
        } else {
            let mut tracker = Tracker::new(model, options, kind);
            track_sequences(&mut tracker, &job)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Builds the fused (single-process) tracker of `trackflow track`: the config's network with the
/// chosen weights on `device` at `precision`. A preset without weights of its own is refused
/// unless random weights were asked for (`--untrained`): boxes from random weights look like
/// results and mean nothing.
pub(crate) fn load_tracker(
    config: &str,
    weights: Weights,
    seed: i64,
    device: &str,
    precision: &str,
    options: TrackOptions,
) -> Result<Tracker> {
    let (model, kind) = load_model(config, weights, seed, device, precision)?;
    Ok(Tracker::new(model, options, kind))
}

/// The network of [`load_tracker`], with the precision it runs in.
pub(crate) fn load_model(
    config: &str,
    weights: Weights,
    seed: i64,
    device: &str,
    precision: &str,
) -> Result<(crate::model::OSTrack, tch::Kind)> {
    let cfg = Config::from_name(config)?;
    require_trained(&cfg, config, &weights)?;
    let dev = parse_device(device)?;
    let kind = parse_precision(precision, dev)?;
    Ok((load_tracking_model(&cfg, Parts::All, dev, kind, &weights, seed, "")?, kind))
}

/// What `trackflow track` tracks and where its results go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrackJob<'a> {
    /// A sequence, a video, or a folder of sequences.
    pub sequences: &'a Path,
    /// Results folder.
    pub out: &'a Path,
    /// Track only the first N frames of each sequence (0: all).
    pub(crate) max_frames: usize,
    /// Frame 0's box instead of the ground truth's.
    pub init_box: Option<[f64; 4]>,
    /// Read only the RGB frames of RGB+X sequences.
    pub(crate) rgb_only: bool,
}

impl TrackJob<'_> {
    /// The sequences to track (RGB frames only with `rgb_only`).
    fn discover(&self) -> Result<Vec<crate::data::sequence::Sequence>> {
        let mut seqs = crate::data::sequence::discover(self.sequences, crate::data::sequence::Layout::Auto)?;
        if self.rgb_only {
            for s in &mut seqs {
                s.aux = None;
            }
        }
        Ok(seqs)
    }
}

/// [`track_sequences`] with `tracker`'s slots in lockstep: one forward pass per step over every
/// sequence being tracked. Results and failures are handled the same way.
pub(crate) fn track_batched(tracker: &mut BatchTracker, job: &TrackJob) -> Result<()> {
    track_lockstep_sequences(tracker, job.discover()?, job.out, job.max_frames, job.init_box)
}

/// Tracks `seqs` in `tracker`'s slots in lockstep and writes their results into `out` (also
/// `trackflow test --batch`); partial results of failed sequences are kept and the failures
/// listed in the error.
pub(crate) fn track_lockstep_sequences(
    tracker: &mut BatchTracker,
    seqs: Vec<crate::data::sequence::Sequence>,
    out: &Path,
    max_frames: usize,
    init_box: Option<[f64; 4]>,
) -> Result<()> {
    use crate::data::results::{Delimiter, SequenceResult, write_sequence};
    use crate::tracker::batch::{LockstepInput, track_lockstep};

    let total = seqs.len();
    let mut frames = 0;
    let mut failures = Vec::new();
    let mut inputs = Vec::new();
    // Each sequence by name, to say where a refused init box came from.
    let mut by_name = std::collections::HashMap::new();
    for seq in seqs {
        let n = if max_frames > 0 { seq.len().min(max_frames) } else { seq.len() };
        frames += n;
        let start = init_box.map(Ok).unwrap_or_else(|| seq.init_box()).and_then(|b| Ok((b, seq.reader()?)));
        match start {
            Ok((b, reader)) => {
                let frames = checked_frames(reader.take(n), seq.files().to_vec());
                inputs.push(LockstepInput { name: seq.name.clone(), init_box: b, frames });
                by_name.insert(seq.name.clone(), seq);
            }
            Err(e) => failures.push(format!("{}: {e:#}", seq.name)),
        }
    }
    let bar = indicatif::ProgressBar::new(frames as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("batch {msg} [{bar:30}] {pos}/{len} frames {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(tracker.batch().to_string());
    let started = std::time::Instant::now();
    let mut written: Result<()> = Ok(());
    track_lockstep(tracker, inputs, |name, frames, error| {
        let r = SequenceResult {
            boxes: frames.iter().map(|f| f.0).collect(),
            scores: frames.iter().map(|f| f.1).collect(),
            times: frames.iter().map(|f| f.2).collect(),
        };
        bar.inc(r.boxes.len() as u64);
        if !r.boxes.is_empty()
            && let Err(e) = write_sequence(out, name, &r, error.is_none(), Delimiter::Tab)
        {
            written = Err(e);
        }
        if let Some(e) = error {
            let e = name_init_origin(e, || match (init_box, by_name.get(name)) {
                (Some(_), _) => "--init-box".to_string(),
                (None, Some(seq)) => seq.init_box_origin(),
                (None, None) => name.to_string(),
            });
            bar.suspend(|| tracing::error!("error: {name}: {e:#} (results so far kept as {name}.partial.txt)"));
            failures.push(format!("{name}: {e:#}"));
        }
    })?;
    bar.finish();
    written?;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!("{total} sequences in lockstep batches of {}: {:.1} frames/s", tracker.batch(), bar.position() as f64 / secs.max(1e-9));
    if !failures.is_empty() {
        bail!("{} of {total} sequences failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}

/// Tracks every sequence under `seq_path` with `tracker` and writes one result file per sequence
/// into `out`. A sequence that fails part way keeps the frames tracked so far as a `.partial.txt`;
/// the others still run, and the failures are listed in the error at the end.
pub(crate) fn track_sequences(tracker: &mut Tracker, job: &TrackJob) -> Result<()> {
    use crate::data::results::{Delimiter, SequenceResult, write_sequence};
    let TrackJob { out, max_frames, init_box, .. } = *job;
    let seqs = job.discover()?;
    let total = seqs.len();
    let mut failures = Vec::new();
    for seq in seqs {
        let n = if max_frames > 0 { seq.len().min(max_frames) } else { seq.len() };
        let bar = indicatif::ProgressBar::new(n as u64).with_message(seq.name.clone());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} frames {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        let mut r = SequenceResult::default();
        let result = (|| -> Result<()> {
            for (i, im) in checked_frames(seq.reader()?.ahead(FRAMES_AHEAD, n), seq.files().to_vec()).enumerate() {
                let im = im?;
                let t = std::time::Instant::now();
                let init = match (i, init_box) {
                    (0, Some(b)) => Some(b),
                    (0, None) => Some(seq.init_box()?),
                    _ => None,
                };
                let tracked = tracker.step(&im, init).map_err(|e| match init {
                    // A refused init box names where it came from.
                    Some(_) => name_init_origin(e, || if init_box.is_some() { "--init-box".to_string() } else { seq.init_box_origin() }),
                    None => e,
                });
                let tracked = tracked.with_context(|| format!("{}: frame {}", seq.name, i + 1))?;
                let (b, score) = (tracked.bbox, tracked.confidence);
                r.boxes.push(b);
                r.scores.push(score);
                r.times.push(t.elapsed().as_secs_f64());
                bar.inc(1);
            }
            Ok(())
        })();
        bar.finish();
        let complete = result.is_ok();
        if !r.boxes.is_empty() {
            let path = write_sequence(out, &seq.name, &r, complete, Delimiter::Tab)?;
            let fps = r.boxes.len() as f64 / r.times.iter().sum::<f64>().max(1e-9);
            tracing::info!("{}: {} frames, {fps:.1} fps -> {}", seq.name, r.boxes.len(), path.display());
        }
        if let Err(e) = result {
            // The other sequences still run; the failures are listed at the end.
            tracing::error!("error: {}: {e:#} (results so far kept as {}.partial.txt)", seq.name, seq.name);
            failures.push(format!("{}: {e:#}", seq.name));
        }
    }
    if !failures.is_empty() {
        bail!("{} of {total} sequences failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}

/// How many decoded frames may wait for the tracker: enough to smooth a slow JPEG, few enough
/// that a 4K sequence holds little memory.
const FRAMES_AHEAD: usize = 3;

/// Adds where a refused init box came from (`origin`: a ground-truth file's `file:line`, or
/// `--init-box`) to an error that is an [`InitBoxError`]; any other error is returned as it is.
fn name_init_origin(e: anyhow::Error, origin: impl FnOnce() -> String) -> anyhow::Error {
    if e.downcast_ref::<InitBoxError>().is_some() { e.context(origin()) } else { e }
}

/// A sequence's frames with the checks the tracker makes of them done first, naming the file
/// (`files[i]`; the frame's number for a video): every frame passes [`check_frame`] and has the
/// first frame's size ([`check_same_size`]). A broken or placeholder frame (1×1, another size)
/// then ends its sequence with an error that says which file, instead of moving the box to the
/// wrong place for every frame after it.
fn checked_frames(frames: impl Iterator<Item = Result<Image>>, files: Vec<PathBuf>) -> impl Iterator<Item = Result<Image>> {
    let mut first = None;
    frames.enumerate().map(move |(i, im)| {
        let im = im?;
        let size = *first.get_or_insert((im.width, im.height));
        // The size first: a 1×1 frame in a 160×120 sequence is named with both sizes.
        check_same_size(size, im.width, im.height).and_then(|()| check_frame(im.width, im.height)).with_context(|| match files.get(i) {
            Some(p) => p.display().to_string(),
            None => format!("frame {}", i + 1),
        })?;
        Ok(im)
    })
}
