//! Each node kind on its own, without a daemon: dora's testing mode replays inputs into the
//! node's `run` and collects what it sends (`trackflow::dataflow::testing`). The end-to-end
//! dataflow tests cover the nodes together.

use trackflow::base::image::Image;
use trackflow::dataflow::testing::{NodeInput, run_node};
use trackflow::model::{Config, Parts, Weights, load_tracking_model};
use trackflow::tracker::crop::CropGeometry;
use trackflow::tracker::{head_box, prepare_crop};
use trackflow::wire::{BoxMsg, Features, Frame, FrameFile, FramePixels, Header};

fn header(seq: &str, index: u32, frames: u32) -> Header {
    Header { seq: seq.into(), index, frames, t0: 0 }
}

/// A textured test image, different for each `seed`.
fn image(width: usize, height: usize, seed: usize) -> Image {
    let data = (0..width * height * 3).map(|i| ((i * 7 + seed * 31 + (i / (width * 3)) * 13) % 251) as u8).collect();
    Image { width, height, channels: 3, data }
}

fn frame_input(seq: &str, index: u32, frames: u32, im: &Image, init_box: Option<[f64; 4]>) -> NodeInput {
    let f = Frame {
        header: header(seq, index, frames),
        width: im.width as u32,
        height: im.height as u32,
        channels: 3,
        init_box,
        pixels: &im.data[..],
    };
    NodeInput::bytes("frame", f.encode(), &im.data)
}

fn box_input(seq: &str, index: u32, frames: u32, bbox: [f64; 4]) -> NodeInput {
    let (meta, values) =
        BoxMsg { header: header(seq, index, frames), bbox, score: 0.5, confidence: 0.5, elapsed: 0.01, lost: false }.encode();
    NodeInput::doubles("box", meta, &values)
}

/// The crop node cuts the template on frame 0 and the search region of frame 1 around the box
/// fed back for frame 0, pixel for pixel as the fused tracker's crop.
#[test]
fn crop_node_cuts_the_fused_trackers_crops() {
    let cfg = Config::from_name("tiny").unwrap();
    let (f0, f1) = (image(96, 72, 1), image(96, 72, 2));
    let init = [30.0, 20.0, 24.0, 18.0];
    let fed_back = [33.5, 22.0, 25.0, 17.0];
    let inputs = vec![frame_input("s", 0, 2, &f0, Some(init)), frame_input("s", 1, 2, &f1, None), box_input("s", 0, 2, fed_back)];
    let run = run_node("crop", trackflow::nodes::crop::run, r#"config="tiny""#, &["frame", "box"], inputs).unwrap();
    run.result.unwrap();
    let ids: Vec<&str> = run.outputs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["template", "search"]);
    let z = prepare_crop(&f0, init, cfg.test_template_factor(), cfg.data.template_size as usize).unwrap();
    let x = prepare_crop(&f1, fed_back, cfg.test_search_factor(), cfg.data.search_size as usize).unwrap();
    assert_eq!(run.outputs[0].bytes(), z.patch.data, "template");
    assert_eq!(run.outputs[1].bytes(), x.patch.data, "search region");
}

/// A frame that arrives out of order is an error naming what was expected, not a shifted crop.
#[test]
fn crop_node_reports_a_lost_frame() {
    let f = image(64, 48, 3);
    let inputs = vec![frame_input("s", 0, 3, &f, Some([10.0, 10.0, 20.0, 20.0])), frame_input("s", 2, 3, &f, None)];
    let run = run_node("crop", trackflow::nodes::crop::run, r#"config="tiny""#, &["frame", "box"], inputs).unwrap();
    let e = format!("{:#}", run.result.unwrap_err());
    // Messages number frames from 1 (index 2 is the third frame).
    assert!(e.contains("frame 3 of s arrived, expected frame 2"), "{e}");
}

/// The head node turns backbone features into the same box as the fused tracker's head, and
/// passes frame 0's init box through.
#[test]
fn head_node_gives_the_fused_trackers_box() {
    let cfg = Config::from_name("tiny").unwrap();
    let model = load_tracking_model(&cfg, Parts::Head, tch::Device::Cpu, tch::Kind::Float, &Weights::Random, 0, "").unwrap();
    let (d, f) = (cfg.model.embed_dim, cfg.search_feat());
    tch::manual_seed(7);
    let feats = tch::Tensor::randn([1, d, f, f], (tch::Kind::Float, tch::Device::Cpu));
    let values: Vec<f32> = Vec::try_from(feats.flatten(0, -1)).unwrap();
    let geometry =
        CropGeometry { prev_box: [40.0, 30.0, 20.0, 16.0], crop_size: 80.0, resize_factor: 1.6, image_width: 160, image_height: 120 };
    let init = Features { header: header("s", 0, 2), dims: vec![], geometry, init_box: Some([40.0, 30.0, 20.0, 16.0]), data: &[][..] };
    let search = Features { header: header("s", 1, 2), dims: vec![d, f, f], geometry, init_box: None, data: &values[..] };
    let inputs = vec![NodeInput::floats("features", init.encode(), &[]), NodeInput::floats("features", search.encode(), &values)];
    let run = run_node("head", trackflow::nodes::head::run, r#"config="tiny" device="cpu""#, &["features"], inputs).unwrap();
    run.result.unwrap();
    assert_eq!(run.outputs.len(), 2);
    assert_eq!(run.outputs[0].numbers()[..4], [40.0, 30.0, 20.0, 16.0]);
    let window = trackflow::tracker::hann2d(f, tch::Device::Cpu);
    let want = head_box(&model, &feats, &geometry, Some(&window)).unwrap();
    let got = run.outputs[1].numbers();
    for k in 0..4 {
        assert!((got[k] - want.bbox[k]).abs() < 1e-9, "box {got:?} vs {:?}", want.bbox);
    }
    assert!((got[4] - want.score).abs() < 1e-6);
}

/// The writer writes a finished sequence in OSTrack's format, and a lost box is an error that
/// keeps the rows before it as `<seq>.partial.txt`.
#[test]
fn writer_node_writes_results_and_keeps_a_partial_sequence() {
    let dir = crate::common::TempDir::new("writer-node");
    let out = dir.path().join("out");
    let params = format!("out={:?}", out.display().to_string());
    let boxes = [[1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5], [2.0, 3.0, 4.0, 5.0]];
    let inputs = boxes.iter().enumerate().map(|(i, b)| box_input("done", i as u32, 3, *b)).collect();
    let run = run_node("writer", trackflow::nodes::writer::run, &params, &["box"], inputs).unwrap();
    run.result.unwrap();
    let want = trackflow::data::results::format_boxes(&boxes, trackflow::data::results::Delimiter::Tab);
    assert_eq!(std::fs::read_to_string(out.join("done.txt")).unwrap(), want);
    assert_eq!(want.lines().nth(1), Some("1\t2\t3\t4"), "OSTrack's integer rows (np.savetxt %d)");

    let inputs = vec![box_input("cut", 0, 4, boxes[0]), box_input("cut", 1, 4, boxes[1]), box_input("cut", 3, 4, boxes[2])];
    let run = run_node("writer", trackflow::nodes::writer::run, &params, &["box"], inputs).unwrap();
    let e = format!("{:#}", run.result.unwrap_err());
    assert!(e.contains("box for cut frame 4 arrived, expected cut frame 3"), "{e}");
    assert!(!out.join("cut.txt").exists());
    assert_eq!(std::fs::read_to_string(out.join("cut.partial.txt")).unwrap().lines().count(), 2);
}

/// The source sends every frame of a sequence, decoded as the tracker reads them, with the
/// init box on frame 0; a frame file missing from the middle fails that sequence by name.
#[test]
fn source_node_sends_every_frame_and_names_a_missing_one() {
    let dir = crate::common::TempDir::new("source-node");
    let data = crate::common::synth(dir.path(), 2, 4, 21);
    let params = format!("path={:?}", data.display().to_string());
    let run = run_node("source", trackflow::nodes::source::run, &params, &[], vec![]).unwrap();
    run.result.unwrap();
    assert_eq!(run.outputs.len(), 8);
    assert!(run.outputs.iter().all(|o| o.id == "frame"));
    let seqs = trackflow::data::sequence::discover(&data, trackflow::data::sequence::Layout::Auto).unwrap();
    let first: Vec<Image> = seqs[0].reader().unwrap().map(Result::unwrap).collect();
    assert_eq!(run.outputs[0].bytes(), first[0].data);
    assert_eq!(run.outputs[3].bytes(), first[3].data);

    std::fs::remove_file(data.join("seq_0002/00000003.jpg")).unwrap();
    let run = run_node("source", trackflow::nodes::source::run, &params, &[], vec![]).unwrap();
    let e = format!("{:#}", run.result.unwrap_err());
    assert!(e.contains("00000003.jpg"), "{e}");
}

/// Writes a `width`×`height` RGB image (a smooth pattern: small on disk, quick to encode); the
/// format follows the extension.
fn write_image(path: &std::path::Path, width: u32, height: u32) {
    let im = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x / 17) as u8, (y / 13) as u8, ((x + y) / 29) as u8]));
    im.save(path).unwrap();
}

/// A frame message sent by reference to `path`, as the source sends frames over the inline limit.
fn reference_input(
    seq: &str,
    index: u32,
    frames: u32,
    (width, height): (u32, u32),
    path: &std::path::Path,
    init_box: Option<[f64; 4]>,
) -> NodeInput {
    let file = FrameFile { path: std::path::absolute(path).unwrap().to_str().unwrap().into(), aux: None };
    let f = Frame { header: header(seq, index, frames), width, height, channels: 3, init_box, pixels: FramePixels::File(file) };
    NodeInput::bytes("frame", f.encode(), &[])
}

/// A frame over `FRAME_INLINE_MAX` (4200×4200 RGB, 53 MB; dora's daemon path refuses 64 MiB
/// after encoding) goes out by reference, with no pixels, and the crop node decodes the file
/// itself: its crops are the ones cut from the decoded frame.
#[test]
fn a_frame_over_the_inline_limit_travels_by_reference() {
    let dir = crate::common::TempDir::new("big-frame");
    let seq = dir.path().join("big");
    std::fs::create_dir_all(&seq).unwrap();
    let side = 4200;
    assert!((side * side * 3) as usize > trackflow::wire::FRAME_INLINE_MAX);
    let (f1, f2) = (seq.join("00000001.jpg"), seq.join("00000002.jpg"));
    write_image(&f1, side, side);
    std::fs::copy(&f1, &f2).unwrap();
    std::fs::write(seq.join("groundtruth.txt"), "2000,2000,200,150\n").unwrap();

    let params = format!("path={:?}", seq.display().to_string());
    let run = run_node("source", trackflow::nodes::source::run, &params, &[], vec![]).unwrap();
    run.result.unwrap();
    assert_eq!(run.outputs.len(), 2);
    assert!(run.outputs.iter().all(|o| o.id == "frame" && o.bytes().is_empty()), "a frame over the limit carries no pixels");

    let cfg = Config::from_name("tiny").unwrap();
    let init = [2000.0, 2000.0, 200.0, 150.0];
    let fed_back = [2010.0, 1995.0, 205.0, 150.0];
    let inputs = vec![
        reference_input("big", 0, 2, (side, side), &f1, Some(init)),
        reference_input("big", 1, 2, (side, side), &f2, None),
        box_input("big", 0, 2, fed_back),
    ];
    let run = run_node("crop", trackflow::nodes::crop::run, r#"config="tiny""#, &["frame", "box"], inputs).unwrap();
    run.result.unwrap();
    let im = trackflow::base::imageio::load_rgb(&f1).unwrap();
    let z = prepare_crop(&im, init, cfg.test_template_factor(), cfg.data.template_size as usize).unwrap();
    let x = prepare_crop(&im, fed_back, cfg.test_search_factor(), cfg.data.search_size as usize).unwrap();
    assert_eq!(run.outputs[0].bytes(), z.patch.data, "template");
    assert_eq!(run.outputs[1].bytes(), x.patch.data, "search region");
}

/// A video frame over the inline limit has no file to send by reference: its sequence fails
/// with one error naming the sequence, the frame, its size and the limit, and the node reports
/// it rather than dying on dora's refusal to carry the frame.
#[test]
fn a_video_frame_over_the_inline_limit_fails_its_sequence_by_name() {
    let dir = crate::common::TempDir::new("big-video");
    let video = dir.path().join("big.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=4200x4200:r=1", "-frames:v", "1"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .unwrap();
    assert!(st.success());
    let params = format!(r#"path={:?} init-box="2000,2000,200,150""#, video.display().to_string());
    let run = run_node("source", trackflow::nodes::source::run, &params, &[], vec![]).unwrap();
    let e = format!("{:#}", run.result.unwrap_err());
    let limit = format!("{}-byte limit", trackflow::wire::FRAME_INLINE_MAX);
    assert!(e.contains("big: frame 1 is 4200×4200×3 = 52920000 bytes") && e.contains(&limit) && e.contains("video frame"), "{e}");
    assert!(run.outputs.is_empty());
}

/// A frame sent by reference whose file is missing, or decodes to another size than the message
/// says, is an error naming the file, not a crop of the wrong image.
#[test]
fn a_frame_reference_to_a_wrong_file_names_it() {
    let dir = crate::common::TempDir::new("bad-reference");
    let small = dir.path().join("small.png");
    write_image(&small, 32, 24);
    let init = Some([4.0, 4.0, 8.0, 8.0]);
    let crop = |input| run_node("crop", trackflow::nodes::crop::run, r#"config="tiny""#, &["frame", "box"], vec![input]).unwrap();
    let run = crop(reference_input("s", 0, 2, (64, 48), &small, init));
    let e = format!("{:#}", run.result.unwrap_err());
    assert!(e.contains("small.png decodes to 32×24×3") && e.contains("64×48×3") && e.contains("s frame 1"), "{e}");

    let gone = dir.path().join("gone.jpg");
    let run = crop(reference_input("s", 0, 2, (64, 48), &gone, init));
    let e = format!("{:#}", run.result.unwrap_err());
    assert!(e.contains("gone.jpg") && e.contains("s frame 1"), "{e}");
}

/// A camera that answers HTTP 200 and then never sends a frame fails the camera node, naming
/// the URL, instead of ending as an empty success.
#[test]
fn camera_node_fails_on_a_camera_that_never_sends_a_frame() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let _ =
                std::io::Write::write_all(&mut s, b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n");
            // Hold the connection open and send nothing.
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs(60));
                drop(s);
            });
        }
    });
    let url = format!("http://127.0.0.1:{port}/stream");
    // The camera gives up after its 5 s read timeout; the event stream stays open well past that.
    let params = format!("url={url:?} retries=0");
    let started = std::time::Instant::now();
    let run =
        trackflow::dataflow::testing::run_node_open("camera", trackflow::nodes::camera::run, &params, &[], vec![], Some(30.0)).unwrap();
    // When this fails, say when: a stop seen at the first poll (the run's stop comes at 30 s).
    let e = match run.result {
        Err(e) => format!("{e:#}"),
        Ok(()) => panic!("the camera node ended without an error after {:.1} s", started.elapsed().as_secs_f64()),
    };
    assert!(e.contains("sent no frame") && e.contains(&url), "{e}");
    assert!(run.outputs.is_empty());
}

/// Every node kind's typed parameter struct holds what its specs allow: the specs' defaults (and a
/// value for each required one) are read into the struct and written back under the same names
/// (which `node_params!` pairs when compiling; a field whose type cannot hold its spec's default
/// fails here). Kind names are unique.
#[test]
fn every_node_kind_s_parameter_struct_matches_its_spec() {
    use trackflow::dataflow::testing::params_for;
    use trackflow::nodes::registry::{get, kinds};
    let mut names: Vec<&str> = kinds().map(|k| k.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), kinds().count(), "two kinds share a name");
    for kind in kinds() {
        let required: Vec<String> = kind.params.iter().filter(|p| p.default.is_none()).map(|p| format!("{}=\"x\"", p.name)).collect();
        let params = params_for(kind.name, &required.join(" "), &[]).unwrap_or_else(|e| panic!("{}: {e:#}", kind.name));
        let code = get(kind.name).unwrap_or_else(|| panic!("node kind `{}` has no entry in nodes::registry", kind.name));
        let have = code.param_names(&params).unwrap_or_else(|e| panic!("{}: {e:#}", kind.name));
        let mut want: Vec<String> = kind.params.iter().map(|p| p.name.to_string()).collect();
        want.sort();
        assert_eq!(have, want, "node kind `{}`: its parameter struct and its spec disagree", kind.name);
    }
}
