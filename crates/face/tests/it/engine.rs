//! The engine end to end: the model against dlib's reference output, quality on real and
//! degraded photos, refusals, verification.

use std::io::Cursor;

use face::{FaceConfig, FaceEngine, FaceError, Property, decode_photo};
use image::{ImageFormat, Rgb, RgbImage};

use crate::{astronaut, engine, models, read_f32};

fn encode(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn model_reproduces_dlib_reference_output() {
    let input = read_f32(&models().join("face-dlib-resnet-v1.test-input.f32"));
    let expected = read_f32(&models().join("face-dlib-resnet-v1.test-output.f32"));
    let got = engine().embed_tensor(input).unwrap();
    assert_eq!(got.dimension(), 128);
    let worst = got
        .values()
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "max abs difference {worst}");
}

#[test]
fn astronaut_is_one_face_good_enough_to_enrol() {
    let report = engine().quality(&astronaut()).unwrap();
    assert_eq!(report.faces, 1);
    assert!(report.acceptable_for_enrolment(), "{:?}", report.reasons());
    let face = report.face.as_ref().unwrap();
    // The eyes sit left and right of each other, the nose below them.
    let [left, right, nose, ..] = face.landmarks;
    assert!(
        left.x < nose.x && nose.x < right.x && nose.y > left.y,
        "{face:?}"
    );
}

#[test]
fn same_face_mirrored_and_rescaled_verifies() {
    let original = decode_photo(&astronaut()).unwrap();
    let mirrored = image::imageops::flip_horizontal(&original);
    let smaller =
        image::imageops::resize(&mirrored, 300, 300, image::imageops::FilterType::Triangle);
    let a = engine().embed(&astronaut()).unwrap();
    let b = engine().embed(&encode(&smaller)).unwrap();
    let decision = engine().verify(&a, &b).unwrap();
    assert!(decision.same, "{decision:?}");
    assert!(decision.distance > 0.0);
    assert_eq!(engine().verify(&a, &a).unwrap().distance, 0.0);
}

#[test]
fn three_faces_are_refused_with_the_count() {
    let face = decode_photo(&astronaut()).unwrap();
    let face = image::imageops::resize(&face, 256, 256, image::imageops::FilterType::Triangle);
    let mut group = RgbImage::new(768, 256);
    for i in 0..3 {
        image::imageops::replace(&mut group, &face, i * 256, 0);
    }
    let error = engine().embed(&encode(&group)).unwrap_err();
    let FaceError::Refused { report } = &error else {
        panic!("{error}");
    };
    assert_eq!(report.faces, 3);
    assert!(
        error.to_string().contains("3 faces in the photo"),
        "{error}"
    );
}

#[test]
fn no_face_is_refused() {
    let pattern = RgbImage::from_fn(320, 240, |x, y| Rgb([(x % 200) as u8, (y % 150) as u8, 90]));
    let error = engine().embed(&encode(&pattern)).unwrap_err();
    assert!(error.to_string().contains("no face found"), "{error}");
}

#[test]
fn blur_and_darkness_are_reported_but_not_blocking() {
    let original = decode_photo(&astronaut()).unwrap();
    let blurred = image::imageops::blur(&original, 4.0);
    let report = engine().quality(&encode(&blurred)).unwrap();
    let sharpness = report
        .checks
        .iter()
        .find(|c| c.property == Property::Sharpness)
        .unwrap();
    assert!(!sharpness.passed, "{report:?}");
    assert!(report.reasons().iter().any(|r| r.contains("blurred")));

    let mut dark = original.clone();
    for pixel in dark.pixels_mut() {
        pixel.0 = pixel.0.map(|v| v / 6);
    }
    let report = engine().quality(&encode(&dark)).unwrap();
    let brightness = report
        .checks
        .iter()
        .find(|c| c.property == Property::Brightness)
        .unwrap();
    assert!(!brightness.passed, "{report:?}");
    assert!(
        report.reasons().iter().any(|r| r.contains("too dark")),
        "{:?}",
        report.reasons()
    );
}

#[test]
fn bad_bytes_give_precise_errors() {
    let error = engine().embed(b"GIF89a not really").unwrap_err();
    assert!(matches!(error, FaceError::NotAnImage { .. }), "{error}");
    let photo = astronaut();
    let error = engine().embed(&photo[..photo.len() / 2]).unwrap_err();
    assert!(matches!(error, FaceError::NotAnImage { .. }), "{error}");
}

#[test]
fn configuration_lists_every_problem() {
    let mut config = FaceConfig::dlib(std::path::Path::new("/nonexistent"));
    config.threshold = -1.0;
    config.threads = 0;
    let error = FaceEngine::from_config(&config).unwrap_err();
    let FaceError::Config { problems } = &error else {
        panic!("{error}");
    };
    assert!(problems.len() >= 4, "{problems:?}");
}
