//! Integration tests of the face engine: real models from `shared/models`, ONNX Runtime from
//! `ORT_DYLIB_PATH` or fetched from PyPI by `scripts/fetch-onnxruntime`, a real face photo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod engine;
mod index;
mod model;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use face::{FaceConfig, FaceEngine};

/// `shared/models` next to the repository (CI) or the worktree.
pub fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models")
}

/// ONNX Runtime's library: `ORT_DYLIB_PATH`, or the PyPI wheel's copy fetched into target/.
pub fn runtime() -> PathBuf {
    if let Some(path) = face::default_runtime_path() {
        return path;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-onnxruntime");
    let output = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// One engine for the whole test binary (ONNX Runtime allows one environment per process).
pub fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = FaceConfig::dlib(&models());
        config.onnxruntime = Some(runtime());
        FaceEngine::from_config(&config).unwrap()
    })
}

/// The public-domain test photo.
pub fn astronaut() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut.jpg")).unwrap()
}

/// Raw little-endian float32 values of a file.
pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
