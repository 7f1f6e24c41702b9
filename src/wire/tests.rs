//! Every message type survives encode → Arrow → decode unchanged, and malformed messages are
//! rejected with an error that names the problem.

use dora_node_api::Parameter;

use super::*;
use crate::data::modality::Modality;
use crate::tracker::crop::CropGeometry;

fn header(i: u32) -> Header {
    Header { seq: "Couple".into(), index: i, frames: 140, t0: 1_700_000_000_123_456_789 }
}

fn geometry() -> CropGeometry {
    CropGeometry {
        prev_box: [10.25, 20.5, 30.125, 40.0625],
        crop_size: 219.0,
        resize_factor: 256.0 / 219.0,
        image_width: 320,
        image_height: 240,
    }
}

#[test]
fn frame_round_trip() {
    let pixels: Vec<u8> = (0..4 * 3 * 3).map(|i| i as u8).collect();
    let f = Frame { header: header(0), width: 4, height: 3, channels: 3, init_box: Some([1.5, 2.0, 3.0, 4.0]), pixels: pixels.clone() };
    let meta = f.encode();
    let arr = array_u8(pixels.clone());
    let back = Frame::decode(&meta, &arr).unwrap();
    assert_eq!(back.header, f.header);
    assert_eq!((back.width, back.height, back.channels, back.init_box), (4, 3, 3, Some([1.5, 2.0, 3.0, 4.0])));
    assert_eq!(back.pixels, FramePixels::Inline(&pixels[..]));
}

fn rgb_file() -> FrameFile {
    FrameFile { path: "/data/big/00000001.jpg".into(), aux: None }
}

/// A frame sent by reference: what `trackflow`'s source sends for a frame over
/// `FRAME_INLINE_MAX`.
fn by_reference(file: FrameFile) -> Frame<FramePixels<'static>> {
    let channels = file.channels();
    Frame { header: header(0), width: 8000, height: 8000, channels, init_box: Some([1.0, 2.0, 3.0, 4.0]), pixels: FramePixels::File(file) }
}

#[test]
fn frame_by_reference_round_trip() {
    let f = by_reference(rgb_file());
    let meta = f.encode();
    let empty = array_u8(vec![]);
    let back = Frame::decode(&meta, &empty).unwrap();
    assert_eq!(back, f);
    assert_eq!(back.pixel_bytes(), 8000 * 8000 * 3);

    let aux = AuxFile { path: "/data/rgbd/depth/00000001.png".into(), modality: Modality::Depth, depth_clip: true };
    let f = by_reference(FrameFile { path: "/data/rgbd/color/00000001.jpg".into(), aux: Some(aux) });
    let back = Frame::decode(&f.encode(), &empty).unwrap();
    assert_eq!(back, f, "RGB+X references keep the auxiliary file, its modality and depth clipping");
    assert_eq!(back.channels, 6);
}

#[test]
fn frame_inline_bound_fits_dora_and_4k() {
    // dora IPC-encodes UInt8 to ~1.125× and refuses over 64 MiB on its daemon path.
    const { assert!(FRAME_INLINE_MAX * 9 / 8 < 64 << 20) };
    const { assert!(3840 * 2160 * 6 <= FRAME_INLINE_MAX, "4K RGB+X still travels inline") };
    const { assert!(8000 * 8000 * 3 > FRAME_INLINE_MAX) };
}

#[test]
fn frame_reference_with_pixels_is_rejected() {
    let f = by_reference(rgb_file());
    let err = Frame::decode(&f.encode(), &array_u8(vec![0; 12])).unwrap_err();
    assert!(matches!(err, WireError::Payload { .. }), "{err}");
    assert!(err.to_string().contains("12 bytes") && err.to_string().contains("/data/big/00000001.jpg"), "{err}");
}

#[test]
fn frame_reference_without_its_file_is_rejected() {
    // A big frame whose reference was dropped: an empty payload, no `file`.
    let f = by_reference(rgb_file());
    let mut meta = f.encode();
    meta.remove(keys::FILE);
    let err = Frame::decode(&meta, &array_u8(vec![])).unwrap_err();
    assert!(err.to_string().contains("0 bytes, expected 8000×8000×3") && err.to_string().contains("`file` is missing"), "{err}");

    // An auxiliary file alone is not a reference to decode.
    let aux = AuxFile { path: "/d/infrared/1.jpg".into(), modality: Modality::Thermal, depth_clip: false };
    let mut meta = by_reference(FrameFile { path: "/d/visible/1.jpg".into(), aux: Some(aux) }).encode();
    meta.remove(keys::FILE);
    let err = Frame::decode(&meta, &array_u8(vec![])).unwrap_err();
    assert!(matches!(err, WireError::Metadata { key: "file", .. }), "{err}");

    // An empty path names nothing.
    let f = by_reference(FrameFile { path: String::new(), aux: None });
    let err = Frame::decode(&f.encode(), &array_u8(vec![])).unwrap_err();
    assert!(matches!(err, WireError::Metadata { key: "file", .. }), "{err}");
}

#[test]
fn frame_reference_with_bad_metadata_is_rejected() {
    // RGB files decode to 3 channels: a reference claiming 6 without an auxiliary file is wrong.
    let mut f = by_reference(rgb_file());
    f.channels = 6;
    let err = Frame::decode(&f.encode(), &array_u8(vec![])).unwrap_err();
    assert!(matches!(err, WireError::Metadata { key: "channels", .. }), "{err}");

    let aux = AuxFile { path: "/d/depth/1.png".into(), modality: Modality::Depth, depth_clip: false };
    let mut meta = by_reference(FrameFile { path: "/d/color/1.jpg".into(), aux: Some(aux) }).encode();
    meta.insert(keys::AUX_MODALITY.into(), Parameter::String("sonar".into()));
    let err = Frame::decode(&meta, &array_u8(vec![])).unwrap_err();
    assert!(matches!(err, WireError::Metadata { key: "aux_modality", .. }), "{err}");
}

#[test]
fn frame_with_wrong_length_is_rejected() {
    let f = Frame { header: header(3), width: 4, height: 3, channels: 3, init_box: None, pixels: vec![0u8; 36] };
    let err = Frame::decode(&f.encode(), &array_u8(vec![0; 35])).unwrap_err();
    assert!(err.to_string().contains("35 bytes, expected 4×3×3 = 36"), "{err}");
}

#[test]
fn crop_round_trip() {
    let data: Vec<u8> = (0..3 * 2 * 2).map(|i| (i * 17) as u8).collect();
    let c =
        Crop { header: header(5), role: CropRole::Search, size: 2, channels: 3, geometry: geometry(), init_box: None, data: data.clone() };
    let arr = array_u8(data.clone());
    let back = Crop::decode(&c.encode(), &arr).unwrap();
    assert_eq!(back.role, CropRole::Search);
    assert_eq!(back.geometry, geometry(), "geometry must travel losslessly (f64)");
    assert_eq!(back.data, &data[..]);
    // A template update carries the rate the crop node decided with; one outside (0, 1] is
    // refused, naming the key.
    let u = Crop { role: CropRole::TemplateUpdate { rate: 0.03 }, ..c.clone() };
    assert_eq!(Crop::decode(&u.encode(), &arr).unwrap().role, CropRole::TemplateUpdate { rate: 0.03 });
    let bad = Crop { role: CropRole::TemplateUpdate { rate: 1.5 }, ..c };
    let err = Crop::decode(&bad.encode(), &arr).unwrap_err();
    assert!(err.to_string().contains("rate"), "{err}");
}

#[test]
fn features_round_trip_and_frame_zero() {
    let data: Vec<f32> = (0..8 * 2 * 2).map(|i| (i as f32).sin()).collect();
    let f = Features { header: header(7), dims: vec![8, 2, 2], geometry: geometry(), init_box: None, data: data.clone() };
    let arr = array_f32(data.clone());
    let back = Features::decode(&f.encode(), &arr).unwrap();
    assert_eq!((back.dims.clone(), back.data), (vec![8, 2, 2], &data[..]));
    let f0 =
        Features { header: header(0), dims: vec![], geometry: geometry(), init_box: Some([1.0, 2.0, 3.0, 4.0]), data: Vec::<f32>::new() };
    let empty = array_f32(vec![]);
    let back0 = Features::decode(&f0.encode(), &empty).unwrap();
    assert_eq!(back0.init_box, Some([1.0, 2.0, 3.0, 4.0]));
}

#[test]
fn box_round_trip_is_bit_exact() {
    let b = BoxMsg {
        header: header(9),
        bbox: [0.1 + 0.2, 1.0 / 3.0, 2.0f64.sqrt(), 1e-300],
        score: 0.75,
        confidence: 0.5,
        elapsed: 0.012,
        lost: true,
    };
    let (meta, values) = b.encode();
    let back = BoxMsg::decode(&meta, &array_f64(values)).unwrap();
    assert_eq!(back, b);
}

#[test]
fn wrong_message_type_names_both() {
    let b = BoxMsg { header: header(1), bbox: [0.0; 4], score: 0.0, confidence: 0.0, elapsed: 0.0, lost: false };
    let (meta, _) = b.encode();
    let err = Frame::decode(&meta, &array_u8(vec![])).unwrap_err();
    assert_eq!(err, WireError::WrongType { want: "frame", got: "box".into() });
}

#[test]
fn missing_metadata_is_named() {
    let b = BoxMsg { header: header(1), bbox: [0.0; 4], score: 0.0, confidence: 0.0, elapsed: 0.0, lost: false };
    let (mut meta, values) = b.encode();
    meta.remove(keys::INDEX);
    let err = BoxMsg::decode(&meta, &array_f64(values)).unwrap_err();
    assert!(err.to_string().contains("`index`"), "{err}");
}
