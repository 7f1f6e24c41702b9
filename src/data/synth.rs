//! Synthetic tracking sequences in GOT-10k's layout (`00000001.jpg`…, `groundtruth.txt`,
//! `absence.label`, `cover.label`, `meta_info.ini`): a textured object moving, scaling and
//! passing behind an occluder over a textured background, with exact ground truth. Used by the
//! tests, the demo and for training small models.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::base::fs::write_atomic;
use crate::base::rng::Pcg;
use crate::data::modality::Modality;

/// The width / height range objects are drawn from unless `--aspect` says otherwise. Static
/// clutter always uses it, so `--aspect` reshapes only the target and its look-alikes.
pub(crate) const DEFAULT_ASPECT: (f64, f64) = (0.6, 1.6);

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Number of sequences.
    pub sequences: usize,
    /// Frames per sequence.
    pub frames: usize,
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Seed; sequence i uses seed + i.
    pub seed: u64,
    /// Whether an occluder crosses the target.
    pub occlusion: bool,
    /// Name prefix of the sequence folders.
    pub prefix: String,
    /// Other moving objects, textured like targets, that the tracker must not jump to.
    pub distractors: usize,
    /// Textured background with fine detail and static object-like blobs, so the target is not
    /// simply the only busy patch in the frame.
    pub clutter: bool,
    /// "Dead leaves" images instead of sinusoid textures: overlapping flat-coloured disks and
    /// rectangles of every size in muted colours, the statistics of natural images (sharp edges,
    /// flat regions, scale invariance). The background pans like a moving camera; the target and
    /// the distractors are leaves patterns of their own palettes.
    pub leaves: bool,
    /// An auxiliary modality (for ViPT), in its benchmark's layout:
    /// - RGB-T (LasHeR): `visible/` and `infrared/`; the target is warm, the distractors
    ///   lukewarm, the scene cool.
    /// - RGB-D (DepthTrack): `color/` and 16-bit `depth/` PNGs in millimetres; the target is
    ///   nearest, the occluder nearer still.
    /// - RGB-E (VisEvent): `vis_imgs/` and `event_imgs/` BMPs; events are brightness changes
    ///   since the previous frame, red for brighter and blue for darker on white.
    pub modality: Option<Modality>,
    /// Range of the target's and the moving distractors' width / height, drawn uniformly
    /// ([`DEFAULT_ASPECT`]). Pedestrians in real benchmarks run to 0.3–0.4.
    pub aspect: (f64, f64),
    /// Night-time colour frames: the RGB image at 12% brightness with sensor noise, so that the
    /// colour camera alone barely sees the target (the thermal image is unaffected).
    pub dark: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            sequences: 1,
            frames: 60,
            width: 320,
            height: 240,
            seed: 1,
            occlusion: true,
            prefix: "synth".into(),
            distractors: 0,
            clutter: false,
            leaves: false,
            modality: None,
            dark: false,
            aspect: DEFAULT_ASPECT,
        }
    }
}

/// A smooth colour texture: a few random sinusoids per channel.
struct Texture {
    waves: Vec<[f64; 5]>, // fx, fy, phase, amplitude, channel
    base: [f64; 3],
}

impl Texture {
    fn new(rng: &mut Pcg, freq: f64) -> Self {
        let waves = (0..9)
            .map(|i| [rng.range(-freq, freq), rng.range(-freq, freq), rng.range(0.0, 6.3), rng.range(20.0, 60.0), (i % 3) as f64])
            .collect();
        Self { waves, base: [rng.range(60.0, 200.0), rng.range(60.0, 200.0), rng.range(60.0, 200.0)] }
    }
    fn at(&self, x: f64, y: f64) -> [f64; 3] {
        let mut c = self.base;
        for w in &self.waves {
            c[w[4] as usize] += w[3] * (w[0] * x + w[1] * y + w[2]).sin();
        }
        c
    }
}

/// An HSV colour (h in [0, 6), s and v in [0, 1]) as RGB in [0, 255].
fn hsv(h: f64, s: f64, v: f64) -> [f64; 3] {
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [(r + m) * 255.0, (g + m) * 255.0, (b + m) * 255.0]
}

/// How a dead-leaves image is painted.
struct LeavesStyle {
    /// How many disks and rectangles.
    shapes: usize,
    /// The (min, max) radius in pixels; radii are log-uniform between them.
    radius: (f64, f64),
    /// How many palette hues the colours are drawn around.
    hues: usize,
    /// The (min, max) HSV saturation.
    saturation: (f64, f64),
}

/// The small pattern painted on the target and on moving distractors.
const OBJECT_LEAVES: LeavesStyle = LeavesStyle { shapes: 40, radius: (2.0, 20.0), hues: 3, saturation: (0.2, 0.9) };

/// A "dead leaves" image: disks and rectangles of log-uniform radius painted over each other in
/// colours drawn around a few palette hues (see [`LeavesStyle`]).
struct Leaves {
    w: usize,
    h: usize,
    px: Vec<[f64; 3]>,
}

impl Leaves {
    fn new(rng: &mut Pcg, w: usize, h: usize, style: &LeavesStyle) -> Self {
        let LeavesStyle { shapes: n, radius: (rmin, rmax), hues, saturation } = *style;
        let palette: Vec<f64> = (0..hues.max(1)).map(|_| rng.range(0.0, 6.0)).collect();
        let colour = |rng: &mut Pcg| {
            let hue = (palette[(rng.uniform() * palette.len() as f64) as usize % palette.len()] + rng.range(-0.3, 0.3)).rem_euclid(6.0);
            hsv(hue, rng.range(saturation.0, saturation.1), rng.range(0.15, 0.95))
        };
        let mut px = vec![colour(rng); w * h];
        for _ in 0..n {
            let r = rmin * (rmax / rmin).powf(rng.uniform());
            let (cx, cy) = (rng.range(-r, w as f64 + r), rng.range(-r, h as f64 + r));
            let c = colour(rng);
            let disk = rng.uniform() < 0.6;
            let (x0, x1) = ((cx - r).max(0.0) as usize, ((cx + r).ceil().max(0.0) as usize).min(w));
            let (y0, y1) = ((cy - r).max(0.0) as usize, ((cy + r).ceil().max(0.0) as usize).min(h));
            for y in y0..y1 {
                for x in x0..x1 {
                    let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                    if !disk || dx * dx + dy * dy <= r * r {
                        px[y * w + x] = c;
                    }
                }
            }
        }
        Self { w, h, px }
    }
    /// Nearest sample at (u, v) in [0, 1)², clamped.
    fn at(&self, u: f64, v: f64) -> [f64; 3] {
        let x = ((u * self.w as f64) as isize).clamp(0, self.w as isize - 1) as usize;
        let y = ((v * self.h as f64) as isize).clamp(0, self.h as isize - 1) as usize;
        self.px[y * self.w + x]
    }
}

/// A textured ellipse or rectangle on a smooth path: distractors and static clutter.
struct Blob {
    texture: Texture,
    patch: Option<Leaves>,
    ellipse: bool,
    size: (f64, f64),
    centre: (f64, f64),
    amplitude: (f64, f64),
    freq: (f64, f64),
    phase: (f64, f64),
}

impl Blob {
    /// A blob of width / height in `aspect`.
    fn new(rng: &mut Pcg, w: f64, h: f64, moving: bool, aspect: (f64, f64)) -> Self {
        let s = rng.range(0.08, 0.25) * w.min(h);
        let aspect: f64 = rng.range(aspect.0, aspect.1);
        let amp = if moving { (rng.range(0.1, 0.35) * w, rng.range(0.1, 0.35) * h) } else { (0.0, 0.0) };
        let freq = rng.range(0.1, 0.6);
        Self {
            texture: Texture::new(rng, freq),
            patch: None,
            ellipse: rng.uniform() < 0.5,
            size: (s * aspect.sqrt(), s / aspect.sqrt()),
            centre: (rng.range(0.1, 0.9) * w, rng.range(0.1, 0.9) * h),
            amplitude: amp,
            freq: (rng.range(0.5, 1.5), rng.range(0.5, 1.5)),
            phase: (rng.range(0.0, 6.3), rng.range(0.0, 6.3)),
        }
    }
    /// Centre at phase `t` (radians over the sequence).
    fn at(&self, t: f64) -> (f64, f64) {
        (
            self.centre.0 + self.amplitude.0 * (self.freq.0 * t + self.phase.0).sin(),
            self.centre.1 + self.amplitude.1 * (self.freq.1 * t + self.phase.1).sin(),
        )
    }
    /// The colour at (x, y) for a blob centred at `c`.
    fn colour(&self, c: (f64, f64), x: f64, y: f64) -> [f64; 3] {
        match &self.patch {
            Some(p) => p.at((x - c.0) / self.size.0 + 0.5, (y - c.1) / self.size.1 + 0.5),
            None => self.texture.at(x - c.0, y - c.1),
        }
    }
    fn covers(&self, c: (f64, f64), x: f64, y: f64) -> bool {
        let (bw, bh) = self.size;
        if self.ellipse {
            let (dx, dy) = ((x - c.0) / (bw / 2.0), (y - c.1) / (bh / 2.0));
            dx * dx + dy * dy <= 1.0
        } else {
            (x - c.0).abs() < bw / 2.0 && (y - c.1).abs() < bh / 2.0
        }
    }
}

/// Writes `opts.sequences` sequences under `out` and returns their names.
pub fn generate(out: &Path, opts: &SynthOptions) -> Result<Vec<String>> {
    generate_parallel(out, opts, 1)
}

/// [`generate`] on `jobs` threads; every sequence depends only on its own seed, so the output
/// is the same for any number of jobs.
pub fn generate_parallel(out: &Path, opts: &SynthOptions, jobs: usize) -> Result<Vec<String>> {
    let (lo, hi) = opts.aspect;
    if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
        anyhow::bail!("aspect range {lo},{hi} is not MIN,MAX with 0 < MIN <= MAX");
    }
    let names: Vec<String> = (0..opts.sequences).map(|s| format!("{}_{:04}", opts.prefix, s + 1)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let s = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if s >= opts.sequences {
                            return Ok(());
                        }
                        write_sequence(&out.join(&names[s]), opts, opts.seed.wrapping_add(s as u64))?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a synth thread panicked"))??;
        }
        Ok(())
    })?;
    let list: String = names.iter().map(|n| format!("{n}\n")).collect();
    write_atomic(&out.join("list.txt"), list.as_bytes())?;
    Ok(names)
}

fn write_sequence(dir: &Path, o: &SynthOptions, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut rng = Pcg::new(seed);
    let (w, h) = (o.width as f64, o.height as f64);
    let bg = Texture::new(&mut rng, 0.08);
    let fg = Texture::new(&mut rng, 0.5);
    let occ = Texture::new(&mut rng, 0.3);
    // Clutter and distractors come from a second generator, so sequences without them are the
    // same as before they existed.
    let mut extra = Pcg::new(seed ^ 0x5eed_c1a7);
    let detail = Texture::new(&mut extra, 0.35);
    let statics: Vec<Blob> = if o.clutter {
        (0..4).map(|_| Blob::new(&mut extra, o.width as f64, o.height as f64, false, DEFAULT_ASPECT)).collect()
    } else {
        vec![]
    };
    let mut movers: Vec<Blob> =
        (0..o.distractors).map(|_| Blob::new(&mut extra, o.width as f64, o.height as f64, true, o.aspect)).collect();
    // Leaves: a background larger than the frame (the camera pans over it) and object patterns.
    let object_leaves = |rng: &mut Pcg| Leaves::new(rng, 48, 48, &OBJECT_LEAVES);
    let (scene, target_patch) = if o.leaves {
        let style = LeavesStyle { shapes: 500, radius: (1.5, 0.35 * h), hues: 4, saturation: (0.05, 0.6) };
        let scene = Leaves::new(&mut extra, o.width * 5 / 4, o.height * 5 / 4, &style);
        for m in &mut movers {
            m.patch = Some(object_leaves(&mut extra));
        }
        (Some(scene), Some(object_leaves(&mut extra)))
    } else {
        (None, None)
    };
    let pan = (extra.range(0.0, 6.3), extra.range(0.5, 1.5));
    let ellipse = rng.uniform() < 0.5;
    // Object: start size and a smooth path (sum of two sinusoids per axis).
    let size0 = rng.range(0.12, 0.25) * w.min(h);
    let aspect = rng.range(o.aspect.0, o.aspect.1);
    let (cx0, cy0) = (rng.range(0.35, 0.65) * w, rng.range(0.35, 0.65) * h);
    let (ax, ay) = (rng.range(0.1, 0.25) * w, rng.range(0.1, 0.25) * h);
    let (fx, fy, px, py) = (rng.range(0.5, 1.5), rng.range(0.5, 1.5), rng.range(0.0, 6.3), rng.range(0.0, 6.3));
    let scale_amp = rng.range(0.1, 0.35);
    let occ_start = rng.range(0.3, 0.6);
    let mut noise = Pcg::new(seed ^ 0x0dd_ba11);
    let mut prev_lum: Option<Vec<f64>> = None;
    let mut gt = String::new();
    let mut cover = String::new();
    let mut absence = String::new();
    for t in 0..o.frames {
        let u = t as f64 / o.frames.max(2) as f64;
        let phase = 2.0 * std::f64::consts::PI * u;
        let cx = cx0 + ax * ((fx * phase + px).sin() - px.sin());
        let cy = cy0 + ay * ((fy * phase + py).sin() - py.sin());
        let s = size0 * (1.0 + scale_amp * (phase).sin());
        let (bw, bh) = (s * aspect.sqrt(), s / aspect.sqrt());
        let (x0, y0) = (cx - bw / 2.0, cy - bh / 2.0);
        // Occluder: a bar sweeping across the target for part of the sequence.
        let occ_x = if o.occlusion { Some(x0 - bw + (u - occ_start) * 8.0 * bw) } else { None };
        let occ_w = 0.5 * bw;
        let mover_at: Vec<(f64, f64)> = movers.iter().map(|m| m.at(phase)).collect();
        let mut img = image::RgbImage::new(o.width as u32, o.height as u32);
        let mut aux = image::RgbImage::new(o.width as u32, o.height as u32);
        let mut depth = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::new(o.width as u32, o.height as u32);
        let mut lum_now = vec![0f64; o.width * o.height];
        let (mut visible, mut total) = (0usize, 0usize);
        for (px_, py_, p) in img.enumerate_pixels_mut() {
            let (x, y) = (px_ as f64 + 0.5, py_ as f64 + 0.5);
            let inside = if ellipse {
                let (dx, dy) = ((x - cx) / (bw / 2.0), (y - cy) / (bh / 2.0));
                dx * dx + dy * dy <= 1.0
            } else {
                x >= x0 && x < x0 + bw && y >= y0 && y < y0 + bh
            };
            let occluded = occ_x.is_some_and(|ox| x >= ox && x < ox + occ_w);
            // Distractors pass behind the target; the occluder passes in front of everything.
            let distractor = if inside { None } else { movers.iter().zip(&mover_at).find(|(m, c)| m.covers(**c, x, y)) };
            let c = if occluded {
                occ.at(x, y)
            } else if inside {
                match &target_patch {
                    Some(p) => p.at((x - x0) / bw, (y - y0) / bh),
                    None => fg.at(x - cx, y - cy),
                }
            } else if let Some((m, c)) = distractor {
                m.colour(*c, x, y)
            } else if let Some(scene) = &scene {
                // The camera drifts over a scene 25% larger than the frame.
                let (ox, oy) = (0.1 * (1.0 + (pan.1 * phase + pan.0).sin()), 0.1 * (1.0 + (phase + pan.0).cos()));
                scene.at(x / (1.25 * w) + ox, y / (1.25 * h) + oy)
            } else if let Some(b) = statics.iter().find(|b| b.covers(b.centre, x, y)) {
                b.texture.at(x - b.centre.0, y - b.centre.1)
            } else if o.clutter {
                let (a, d) = (bg.at(x, y), detail.at(x, y));
                [0.5 * (a[0] + d[0]), 0.5 * (a[1] + d[1]), 0.5 * (a[2] + d[2])]
            } else {
                bg.at(x, y)
            };
            if inside {
                total += 1;
                visible += usize::from(!occluded);
            }
            let lum = (c[0] + c[1] + c[2]) / 3.0;
            lum_now[py_ as usize * o.width + px_ as usize] = lum;
            match o.modality {
                Some(Modality::Thermal) => {
                    // Temperature as grey: a warm target with a little texture, lukewarm
                    // distractors and occluder, a cool scene that keeps a trace of its structure.
                    let heat = if occluded {
                        110.0
                    } else if inside {
                        200.0 + 0.15 * (lum - 128.0)
                    } else if distractor.is_some() {
                        120.0 + 0.1 * (lum - 128.0)
                    } else {
                        35.0 + 0.25 * lum
                    };
                    aux.put_pixel(px_, py_, image::Rgb([heat.clamp(0.0, 255.0) as u8; 3]));
                }
                Some(Modality::Depth) => {
                    // Millimetres: the occluder nearest, then the target, distractors, a far
                    // wall sloping away; a sensor hole now and then reads 0.
                    let mm = if occluded {
                        700.0
                    } else if inside {
                        1200.0 + 2.0 * (lum - 128.0)
                    } else if distractor.is_some() {
                        2000.0
                    } else {
                        3000.0 + 4.0 * y + 2.0 * (lum - 128.0)
                    };
                    let hole = (px_ * 7 + py_ * 13 + t as u32 * 3).is_multiple_of(997);
                    depth.put_pixel(px_, py_, image::Luma([if hole { 0 } else { mm as u16 }]));
                }
                Some(Modality::Event) | None => {}
            }
            let c = if o.dark {
                // Night: 12% of the light plus sensor noise (from its own generator, so the
                // scene is the same as in daylight).
                c.map(|v| 0.12 * v + noise.range(-6.0, 6.0) + 6.0)
            } else {
                c
            };
            *p = image::Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8));
        }
        write_frame(dir, t, o.modality, &img, &mut aux, &depth, &lum_now, prev_lum.as_deref())?;
        prev_lum = Some(lum_now);
        // Ground truth: the box clipped to the image, as annotators draw it.
        let (gx0, gy0) = (x0.max(0.0), y0.max(0.0));
        let (gx1, gy1) = ((x0 + bw).min(w), (y0 + bh).min(h));
        gt.push_str(&format!("{:.4},{:.4},{:.4},{:.4}\n", gx0, gy0, (gx1 - gx0).max(0.0), (gy1 - gy0).max(0.0)));
        let ratio = if total == 0 { 0.0 } else { visible as f64 / total as f64 };
        cover.push_str(&format!("{}\n", (ratio * 8.0).round() as i64));
        absence.push_str(&format!("{}\n", i64::from(total == 0 || visible == 0)));
    }
    write_annotations(dir, o, &gt, &cover, &absence)
}

/// Writes frame `t` (0-based) in the layout of its modality: GOT-10k's numbered JPEGs for RGB,
/// LasHeR's `visible/` and `infrared/`, DepthTrack's `color/` and 16-bit `depth/`, VisEvent's
/// `vis_imgs/` and `event_imgs/` (the events computed here from the brightness change since
/// `prev_lum`).
#[allow(clippy::too_many_arguments)]
fn write_frame(
    dir: &Path,
    t: usize,
    modality: Option<Modality>,
    img: &image::RgbImage,
    aux: &mut image::RgbImage,
    depth: &image::ImageBuffer<image::Luma<u16>, Vec<u16>>,
    lum_now: &[f64],
    prev_lum: Option<&[f64]>,
) -> Result<()> {
    let encode = |im: &image::RgbImage| -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(im).context("jpeg encode")?;
        Ok(bytes)
    };
    let frame_dir = |sub: &str| -> Result<PathBuf> {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        Ok(d)
    };
    match modality {
        None => write_atomic(&dir.join(format!("{:08}.jpg", t + 1)), &encode(img)?)?,
        Some(Modality::Thermal) => {
            // LasHeR's layout: visible/ and infrared/ frames with the same numbers.
            write_atomic(&frame_dir("visible")?.join(format!("{:06}.jpg", t + 1)), &encode(img)?)?;
            write_atomic(&frame_dir("infrared")?.join(format!("{:06}.jpg", t + 1)), &encode(aux)?)?;
        }
        Some(Modality::Depth) => {
            write_atomic(&frame_dir("color")?.join(format!("{:08}.jpg", t + 1)), &encode(img)?)?;
            let mut png = Vec::new();
            depth.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).context("png encode")?;
            write_atomic(&frame_dir("depth")?.join(format!("{:08}.png", t + 1)), &png)?;
        }
        Some(Modality::Event) => {
            // Events: brightness changes since the previous frame (none on the first).
            for (i, p) in aux.pixels_mut().enumerate() {
                let d = prev_lum.map_or(0.0, |prev| lum_now[i] - prev[i]);
                *p = image::Rgb(if d > 12.0 {
                    [220, 30, 30]
                } else if d < -12.0 {
                    [30, 30, 220]
                } else {
                    [255, 255, 255]
                });
            }
            let bmp = |im: &image::RgbImage| -> Result<Vec<u8>> {
                let mut bytes = Vec::new();
                im.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Bmp).context("bmp encode")?;
                Ok(bytes)
            };
            write_atomic(&frame_dir("vis_imgs")?.join(format!("frame{t:04}.bmp")), &bmp(img)?)?;
            write_atomic(&frame_dir("event_imgs")?.join(format!("frame{t:04}.bmp")), &bmp(aux)?)?;
        }
    }
    Ok(())
}

/// The sequence's annotation files: `groundtruth.txt` (and LasHeR's per-camera copies), GOT-10k's
/// `cover.label`, `absence.label` and `meta_info.ini`.
fn write_annotations(dir: &Path, o: &SynthOptions, gt: &str, cover: &str, absence: &str) -> Result<()> {
    write_atomic(&dir.join("groundtruth.txt"), gt.as_bytes())?;
    if o.modality == Some(Modality::Thermal) {
        // LasHeR/RGBT234 annotate each camera; these two are aligned, so the boxes agree.
        write_atomic(&dir.join("visible.txt"), gt.as_bytes())?;
        write_atomic(&dir.join("infrared.txt"), gt.as_bytes())?;
    }
    write_atomic(&dir.join("cover.label"), cover.as_bytes())?;
    write_atomic(&dir.join("absence.label"), absence.as_bytes())?;
    let meta = format!(
        "[METAINFO]\nurl: synthetic\nbegin_time: 0\nend_time: {}\nanno_fps: 10Hz\nobject_class: synthetic\nmotion_class: synthetic\nmajor_class: synthetic\nroot_class: synthetic\nmotion_adverb: smoothly\nresolution: ({}, {})\n",
        o.frames, o.width, o.height
    );
    write_atomic(&dir.join("meta_info.ini"), meta.as_bytes())?;
    Ok(())
}
