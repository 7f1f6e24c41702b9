//! Hostile input for the parsers a user or a network peer feeds the tracker: init boxes,
//! ground-truth and label files, MJPEG responses. Property tests (256 cases each, so the suite
//! stays fast) check that no input panics or allocates without bound, and that what is accepted
//! is usable downstream (an accepted init box crops; a clipped box stays in its frame); ordinary
//! tests drive the MJPEG reader with endless streams, which must end in an error naming the
//! camera and the limit after a bounded read.

use std::io::{BufReader, Cursor, Read};

use proptest::prelude::*;
use trackflow::base::image::{Image, resize_linear};
use trackflow::data::camera::{FrameSource, MJPEG_MAX_LINE, MJPEG_MAX_PART, MjpegPart, MjpegReader, decode_part};
use trackflow::data::sequence::{parse_boxes, parse_labels};
use trackflow::tracker::crop::sample_target;
use trackflow::tracker::{CLIP_MARGIN, MIN_BOX_SIDE, clip_box, parse_box, validate_init_box};

const URL: &str = "http://camera.test:8080/stream";

fn config() -> ProptestConfig {
    // No regression files written into the source tree: a failure prints its minimal case.
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

/// Numbers as hostile input has them: anything (NaN, ±inf, subnormals), the extremes, and the
/// ordinary range where boxes live.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => any::<f64>(),
        1 => prop::sample::select(vec![0.0, -0.0, 1e308, -1e308, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 30000.0, 0.5, 1.0]),
        4 => -200.0..400.0f64,
    ]
}

/// A textured image of the given size.
fn textured(w: usize, h: usize, c: usize, seed: u8) -> Image {
    let data = (0..w * h * c).map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32 % 31) as u8 ^ seed).collect();
    Image { width: w, height: h, channels: c, data }
}

/// The crop as it was cut before it read through a window: the padded square allocated and
/// filled, then resized (pytracking's `sample_target`, which the golden tests check against
/// OpenCV). The windowed crop must give the same pixels.
fn materialized_crop(im: &Image, bbox: [f64; 4], factor: f64, out: usize) -> Image {
    let [x, y, w, h] = bbox;
    let crop_sz = ((w * h).sqrt() * factor).ceil();
    let round = trackflow::tracker::crop::round_half_even;
    let x1 = round(x + 0.5 * w - crop_sz * 0.5);
    let y1 = round(y + 0.5 * h - crop_sz * 0.5);
    let (x2, y2) = (x1 + crop_sz, y1 + crop_sz);
    let x1_pad = (-x1).max(0.0);
    let y1_pad = (-y1).max(0.0);
    let x2_pad = (x2 - im.width as f64 + 1.0).max(0.0);
    let y2_pad = (y2 - im.height as f64 + 1.0).max(0.0);
    let side = crop_sz as usize;
    let c = im.channels;
    let mut padded = Image::zeros(side, side, c);
    let (sx0, sx1) = ((x1 + x1_pad) as i64, (x2 - x2_pad) as i64);
    let (sy0, sy1) = ((y1 + y1_pad) as i64, (y2 - y2_pad) as i64);
    if sx1 > sx0 && sy1 > sy0 {
        let row_len = (sx1 - sx0) as usize * c;
        for sy in sy0..sy1 {
            let dy = (sy - y1 as i64) as usize;
            let dx = (sx0 - x1 as i64) as usize;
            let src = (sy as usize * im.width + sx0 as usize) * c;
            let dst = (dy * side + dx) * c;
            padded.data[dst..dst + row_len].copy_from_slice(&im.data[src..src + row_len]);
        }
    }
    resize_linear(&padded, out, out)
}

proptest! {
    #![proptest_config(config())]

    /// Any text: an error or four numbers, never a panic.
    #[test]
    fn parse_box_takes_any_text(s in "\\PC{0,80}") {
        let _ = parse_box(&s);
    }

    /// Four numbers written out: accepted exactly when finite with sides of at least a pixel,
    /// and then read back exactly.
    #[test]
    fn parse_box_accepts_exactly_the_usable_boxes(b in prop::array::uniform4(number()), sep in prop::sample::select(vec![",", ", ", " ,"])) {
        let text = b.map(|v| v.to_string()).join(sep);
        let usable = b.iter().all(|v| v.is_finite()) && b[2] >= MIN_BOX_SIDE && b[3] >= MIN_BOX_SIDE;
        match parse_box(&text) {
            Ok(parsed) => {
                prop_assert!(usable, "{text} accepted");
                prop_assert_eq!(parsed, b);
            }
            Err(e) => prop_assert!(!usable, "{text} refused: {e:#}"),
        }
    }

    /// Whatever the box and the frame, validation answers; a box it accepts crops, at the
    /// output size alone, with the template and search factors.
    #[test]
    fn an_accepted_init_box_crops(
        b in prop::array::uniform4(number()),
        (w, h) in (1usize..80, 1usize..80),
        factor in prop::sample::select(vec![2.0, 4.0, 5.0]),
    ) {
        let im = textured(w, h, 3, 7);
        if validate_init_box(b, w, h).is_ok() {
            let crop = sample_target(&im, b, factor, 16).expect("an accepted init box crops");
            prop_assert_eq!((crop.patch.width, crop.patch.height, crop.patch.data.len()), (16, 16, 16 * 16 * 3));
        }
        // Any box at all: an error or a 16×16 patch, never a panic or a huge allocation.
        if let Ok(crop) = sample_target(&im, b, factor, 16) {
            prop_assert_eq!(crop.patch.data.len(), 16 * 16 * 3);
        }
    }

    /// The windowed crop is the materialised crop, pixel for pixel: boxes inside, across and
    /// outside the image, exact 1× and 2× scales, 3 and 6 channels.
    #[test]
    fn the_windowed_crop_equals_the_padded_square(
        (w, h) in (1usize..48, 1usize..48),
        six in any::<bool>(),
        seed in any::<u8>(),
        (x, y) in (-60.0..100.0f64, -60.0..100.0f64),
        (bw, bh) in (0.2..60.0f64, 0.2..60.0f64),
        half_pixels in any::<bool>(),
        factor in prop::sample::select(vec![1.0, 2.0, 2.5, 4.0, 5.0]),
        out in prop::sample::select(vec![0usize, 1, 7, 16, 32, 33]),
    ) {
        let im = textured(w, h, if six { 6 } else { 3 }, seed);
        // Whole and half pixels exercise the round-half-to-even of the crop's corner.
        let (x, y) = if half_pixels { (x.round() + 0.5, y.round()) } else { (x, y) };
        let b = [x, y, bw, bh];
        let crop = sample_target(&im, b, factor, out.max(1)).unwrap();
        // `out` 0 stands for "the crop's own side" (the identity) or its half (the 2× path).
        let size = match out {
            0 if seed % 2 == 0 => crop.crop_size as usize,
            0 => (crop.crop_size as usize / 2).max(1),
            n => n,
        };
        let crop = sample_target(&im, b, factor, size).unwrap();
        prop_assert_eq!(crop.patch, materialized_crop(&im, b, factor, size), "box {:?} factor {} size {}", b, factor, size);
    }

    /// The tracker's clip keeps any finite box inside a frame at least the margin wide: the
    /// state never goes off the frame, huge or non-finite.
    #[test]
    fn a_clipped_box_stays_in_its_frame(
        b in prop::array::uniform4(prop_oneof![-1e308..1e308f64, -1e4..1e4f64]),
        (w, h) in (10.0..5000.0f64, 10.0..5000.0f64),
    ) {
        let [x, y, bw, bh] = clip_box(b, h, w, CLIP_MARGIN);
        prop_assert!([x, y, bw, bh].iter().all(|v| v.is_finite()));
        prop_assert!(x >= 0.0 && y >= 0.0 && bw >= CLIP_MARGIN && bh >= CLIP_MARGIN);
        prop_assert!(x + bw <= w + 1e-9 && y + bh <= h + 1e-9, "{:?} in {}×{}", [x, y, bw, bh], w, h);
    }

    /// Any text as a box file: rows or an error naming the line, never a panic; no more rows
    /// than lines.
    #[test]
    fn parse_boxes_takes_any_text(text in "\\PC{0,300}") {
        if let Ok(rows) = parse_boxes(&text, "gt.txt") {
            prop_assert!(rows.len() <= text.lines().count());
        }
    }

    /// Box files made of numbers, words and separators: a file of four-number rows is read
    /// back exactly; any other is an error naming the file and the first bad line.
    #[test]
    fn parse_boxes_reads_rows_or_names_the_line(
        rows in prop::collection::vec(prop::collection::vec(prop_oneof![8 => number().prop_map(|v| v.to_string()), 1 => "[a-z]{1,4}"], 0..6), 0..12),
        sep in prop::sample::select(vec![",", "\t", " ", ", "]),
    ) {
        let text: String = rows.iter().map(|r| format!("{}\n", r.join(sep))).collect();
        let good = |r: &Vec<String>| r.len() == 4 && r.iter().all(|v| v.parse::<f64>().is_ok());
        match parse_boxes(&text, "gt.txt") {
            Ok(boxes) => {
                let expected: Vec<[f64; 4]> = rows.iter().filter(|r| !r.is_empty()).map(|r| {
                    prop_assert!(good(r), "{:?} accepted", r);
                    Ok([0, 1, 2, 3].map(|k| r[k].parse::<f64>().unwrap()))
                }).collect::<Result<_, TestCaseError>>()?;
                prop_assert_eq!(boxes.len(), expected.len());
                for (a, b) in boxes.iter().zip(&expected) {
                    prop_assert!(a.iter().zip(b).all(|(x, y)| x == y || x.is_nan() && y.is_nan()));
                }
            }
            Err(e) => {
                let first_bad = rows.iter().position(|r| !r.is_empty() && !good(r)).expect("a bad row");
                prop_assert!(format!("{e:#}").starts_with(&format!("gt.txt:{}:", first_bad + 1)), "{e:#}");
            }
        }
    }

    /// Any text as a label file: labels or an error naming the line.
    #[test]
    fn parse_labels_takes_any_text(text in "\\PC{0,300}") {
        match parse_labels(&text, "absence.label") {
            Ok(labels) => prop_assert!(labels.len() <= text.len()),
            Err(e) => {
                let e = format!("{e:#}");
                prop_assert!(e.starts_with("absence.label:"), "{}", e);
            }
        }
    }

    /// Any bytes as an HTTP response: a reader or an error, never a panic.
    #[test]
    fn mjpeg_open_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = MjpegReader::open(Cursor::new(bytes), URL);
    }

    /// Any bytes after a valid response: parts, an end, or an error, in a bounded number of
    /// steps, never a panic; no part larger than the cap.
    #[test]
    fn mjpeg_parts_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let mut stream = b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n".to_vec();
        stream.extend_from_slice(&bytes);
        let mut r = MjpegReader::open(Cursor::new(stream), URL).unwrap();
        for _ in 0..bytes.len() + 1 {
            match r.next_part() {
                Ok(Some(part)) => prop_assert!(part.body.len() <= MJPEG_MAX_PART),
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Parts with hostile headers (huge, negative, non-numeric lengths and timestamps, long
    /// values): each is read, or refused with an error naming the camera.
    #[test]
    fn mjpeg_parts_with_hostile_headers(
        parts in prop::collection::vec((
            prop_oneof![Just(None), (0u64..64).prop_map(Some), Just(Some(u64::MAX)), Just(Some(MJPEG_MAX_PART as u64 + 1))],
            prop_oneof![Just(String::new()), number().prop_map(|v| v.to_string()), "[ -~]{0,40}"],
            prop::collection::vec(any::<u8>(), 0..64),
        ), 1..5),
    ) {
        let mut stream = b"HTTP/1.1 200 OK\r\ncontent-type: multipart/x-mixed-replace;boundary=\"--b\"\r\n\r\n".to_vec();
        for (len, stamp, body) in &parts {
            stream.extend_from_slice(b"--b\r\nContent-Type: image/jpeg\r\n");
            if let Some(n) = len {
                stream.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
            }
            stream.extend_from_slice(format!("X-Timestamp: {stamp}\r\n\r\n").as_bytes());
            stream.extend_from_slice(body);
            stream.extend_from_slice(b"\r\n");
        }
        let mut r = MjpegReader::open(Cursor::new(stream), URL).unwrap();
        for _ in 0..parts.len() + 1 {
            match r.next_part() {
                Ok(Some(MjpegPart { body, stamp })) => {
                    prop_assert!(body.len() < 64);
                    prop_assert!(stamp.is_none_or(|s| s >= 0));
                }
                Ok(None) => break,
                Err(e) => {
                    prop_assert!(format!("{e:#}").contains(URL), "{e:#}");
                    break;
                }
            }
        }
    }
}

/// An endless stream of `pattern`, repeated.
struct Endless(&'static [u8], usize);

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for b in buf.iter_mut() {
            *b = self.0[self.1 % self.0.len()];
            self.1 += 1;
        }
        Ok(buf.len())
    }
}

/// A response head followed by an endless stream of `pattern`.
fn after_head(head: &'static [u8], pattern: &'static [u8]) -> BufReader<impl Read> {
    BufReader::new(Cursor::new(head).chain(Endless(pattern, 0)))
}

const HEAD: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n";

/// One endless status or header line (the camera node used to grow a buffer to 17 GB and
/// abort): an error naming the camera and the limit once the limit is read.
#[test]
fn an_endless_header_line_is_an_error_naming_the_limit() {
    let limit = MJPEG_MAX_LINE.to_string();
    let e = MjpegReader::open(BufReader::new(std::io::repeat(b'a')), URL).err().expect("refused");
    let e = format!("{e:#}");
    assert!(e.contains(URL) && e.contains(&limit) && e.contains("status line"), "{e}");
    let e = format!("{:#}", MjpegReader::open(after_head(b"HTTP/1.0 200 OK\r\n", b"a"), URL).err().expect("refused"));
    assert!(e.contains(URL) && e.contains(&limit) && e.contains("header line"), "{e}");
    // The same in a part's headers.
    let mut r = MjpegReader::open(
        after_head(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n--frame\r\n", b"X"),
        URL,
    )
    .unwrap();
    let e = format!("{:#}", r.next_part().unwrap_err());
    assert!(e.contains(URL) && e.contains(&limit), "{e}");
}

/// Endless header lines, each short: refused after the header-count limit.
#[test]
fn endless_headers_are_an_error_naming_the_limit() {
    let e = format!("{:#}", MjpegReader::open(after_head(b"HTTP/1.0 200 OK\r\n", b"X-Pad: 1\r\n"), URL).err().expect("refused"));
    assert!(e.contains(URL) && e.contains("100 header lines"), "{e}");
    let mut r = MjpegReader::open(
        after_head(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n--frame\r\n", b"X-Pad: 1\r\n"),
        URL,
    )
    .unwrap();
    let e = format!("{:#}", r.next_part().unwrap_err());
    assert!(e.contains(URL) && e.contains("100 header lines"), "{e}");
}

/// A stream that never sends the boundary: its bytes are skipped without being kept, up to the
/// skip limit, then it is an error.
#[test]
fn a_stream_without_boundaries_is_an_error_after_a_bounded_skip() {
    for junk in [&b"x"[..], &b"junk line\r\n"[..]] {
        let leaked: &'static [u8] = Box::leak(junk.to_vec().into_boxed_slice());
        let mut r = MjpegReader::open(after_head(HEAD, leaked), URL).unwrap();
        let e = format!("{:#}", r.next_part().unwrap_err());
        assert!(e.contains(URL) && e.contains("no MJPEG boundary") && e.contains(&(64usize << 20).to_string()), "{e}");
    }
}

/// Content-Length over the cap, or not a number: refused before anything is allocated for it.
#[test]
fn a_hostile_content_length_is_refused() {
    for (len, says) in [
        ("99999999999999", "not a frame"),
        ("18446744073709551616", "not a byte count"),
        ("-5", "not a byte count"),
        ("1e6", "not a byte count"),
    ] {
        let stream = format!("{}--frame\r\nContent-Length: {len}\r\n\r\n", std::str::from_utf8(HEAD).unwrap());
        let mut r = MjpegReader::open(Cursor::new(stream.into_bytes()), URL).unwrap();
        let e = format!("{:#}", r.next_part().unwrap_err());
        assert!(e.contains(URL) && e.contains(says), "{len}: {e}");
    }
}

/// A well-formed stream reads as before: bodies, timestamps in ns, a timestamp out of range
/// ignored (the arrival time is used), binary bytes between parts skipped, the end.
#[test]
fn a_valid_stream_reads_part_by_part() {
    let mut s = b"HTTP/1.0 200 OK\r\nServer: cam\r\ncontent-type: multipart/x-mixed-replace; boundary=\"frame\"\r\n\r\n".to_vec();
    s.extend_from_slice(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\nX-Timestamp: 1700000000.5\r\n\r\nabc\r\n");
    s.extend_from_slice(b"\xff\xfe binary epilogue\r\n");
    s.extend_from_slice(b"--frame\r\ncontent-length:2\r\nX-Timestamp: 1e300\r\n\r\nde\r\n--frame--\r\n");
    let mut r = MjpegReader::open(Cursor::new(s), URL).unwrap();
    assert_eq!(r.next_part().unwrap(), Some(MjpegPart { body: b"abc".to_vec(), stamp: Some(1_700_000_000_500_000_000) }));
    assert_eq!(r.next_part().unwrap(), Some(MjpegPart { body: b"de".to_vec(), stamp: None }));
    assert_eq!(r.next_part().unwrap(), None);
}

/// A small JPEG whose header declares 40000×40000 (4.8 GB of pixels): refused from its header,
/// naming the cap, and skipped by the camera reader as undecodable.
#[test]
fn a_jpeg_declaring_a_huge_size_is_refused_before_decoding() {
    let mut jpeg = Vec::new();
    let im = image::RgbImage::from_pixel(8, 8, image::Rgb([90, 120, 200]));
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&im).unwrap();
    assert_eq!(decode_part(&jpeg).unwrap().width, 8);
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG has SOF0");
    // SOF0: marker, length (2), precision (1), height (2), width (2).
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0x9C, 0x40, 0x9C, 0x40]);
    let e = format!("{:#}", decode_part(&jpeg).unwrap_err());
    assert!(e.contains("40000×40000") && e.contains(&trackflow::base::image::MAX_IMAGE_SIDE.to_string()), "{e}");
    let mut s = HEAD.to_vec();
    s.extend_from_slice(format!("--frame\r\nContent-Length: {}\r\n\r\n", jpeg.len()).as_bytes());
    s.extend_from_slice(&jpeg);
    let mut r = MjpegReader::open(Cursor::new(s), URL).unwrap();
    assert!(r.next_frame().unwrap().is_none());
    assert_eq!(r.skipped, 1);
}

/// Resizing degenerate sizes gives an image of the asked size, never an out-of-range index.
#[test]
fn resizing_empty_images_is_harmless() {
    let empty = Image::zeros(0, 0, 3);
    assert_eq!(resize_linear(&empty, 4, 3), Image::zeros(4, 3, 3));
    assert_eq!(resize_linear(&textured(5, 5, 3, 1), 0, 0).data.len(), 0);
    assert!(Image::try_zeros(1 << 20, 1 << 20, 3).is_err());
    assert!(Image::try_zeros(0, 10, 3).is_err());
}

/// What a browser, a script or an attacker sends the live view: query strings, boxes, Host and
/// Origin headers, and whole request heads over a real loopback socket.
mod live_view_requests {
    use proptest::prelude::*;
    use trackflow::nodes::live_view::{guard, http};

    use super::{config, number};

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn queries_and_box_texts_never_panic(query in ".{0,700}", text in ".{0,90}", w in 1usize..5000, h in 1usize..5000) {
            let _ = guard::query_pairs(&query);
            let _ = guard::check_init_box(&text, Some((w, h)));
            let refused = guard::check_init_box(&text, None).unwrap_err();
            prop_assert!(refused.status == 400 || refused.status == 409);
        }

        #[test]
        fn an_accepted_box_is_finite_and_inside_its_frame(x in number(), y in number(), bw in number(), bh in number()) {
            if let Ok(b) = guard::check_init_box(&format!("{x},{y},{bw},{bh}"), Some((640, 480))) {
                prop_assert!(b.iter().all(|v| v.is_finite()), "{b:?}");
                prop_assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[0] + b[2] <= 640.0 && b[1] + b[3] <= 480.0, "{b:?}");
                prop_assert!(b[2] >= guard::MIN_BOX_SIDE && b[3] >= guard::MIN_BOX_SIDE, "{b:?}");
            }
        }

        #[test]
        fn hosts_and_origins_never_panic(value in ".{0,120}") {
            let allow = guard::Allowlist::new(8090, "127.0.0.1", "robot.lan").unwrap();
            let _ = (allow.host_allowed(&value), allow.origin_allowed(&value));
        }
    }

    proptest! {
        // Each case opens a loopback connection: fewer cases keep the suite fast.
        #![proptest_config(ProptestConfig { cases: 48, ..config() })]

        #[test]
        fn request_heads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                let _ = std::io::Write::write_all(&mut c, &bytes);
                let _ = c.shutdown(std::net::Shutdown::Write);
                c
            });
            let (server, _) = listener.accept().unwrap();
            let _ = http::read_request(&server);
            drop(client.join().unwrap());
        }
    }
}
