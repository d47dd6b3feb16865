//! Face engine of dspp: capture quality, detection and alignment, embeddings, Qdrant-backed 1:N
//! search, calibrated 1:1 verification, and evaluation. (The registry seals embeddings at rest with
//! `dspp-vault`; this crate stores nothing.)
//!
//! The pipeline: [`decode_photo`] (bounded) → YuNet detection with five landmarks → a similarity
//! transform to the model's chip (dlib's 150x150) → the embedding model through ONNX Runtime →
//! Euclidean distance against a threshold chosen from measured error rates.
//!
//! ```no_run
//! use std::path::Path;
//! use face::{FaceConfig, FaceEngine};
//!
//! # fn main() -> Result<(), face::FaceError> {
//! let engine = FaceEngine::from_config(&FaceConfig::dlib(Path::new("../shared/models")))?;
//! let report = engine.quality(&std::fs::read("a.jpg").unwrap_or_default())?;
//! for reason in report.reasons() {
//!     println!("{reason}");
//! }
//! let a = engine.embed(&std::fs::read("a.jpg").unwrap_or_default())?;
//! let b = engine.embed(&std::fs::read("b.jpg").unwrap_or_default())?;
//! let decision = engine.verify(&a, &b)?;
//! println!("distance {:.4} same {}", decision.distance, decision.same);
//! # Ok(())
//! # }
//! ```

// Tests may unwrap: a panic there is a test failure with its message.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod align;
mod decode;
mod detect;
mod embed;
mod engine;
mod error;
mod eval;
mod index;
mod model;
mod quality;
mod runtime;

pub use align::{ChipTemplate, face_chip};
pub use decode::{MAX_PHOTO_BYTES, MAX_PHOTO_MEGAPIXELS, MIN_PHOTO_SIDE, decode_photo};
pub use detect::{DETECTOR_SIDE, Detection, Point};
pub use embed::{Embedding, MAX_DIMENSION, euclidean};
pub use engine::{Capture, DLIB_THRESHOLD, Decision, FaceConfig, FaceEngine};
pub use error::FaceError;
pub use eval::{
    DEFAULT_THRESHOLDS, EvalReport, det_image, equal_error_rate, evaluate, fmr_at, fnmr_at,
    operating_points, threshold_at_fmr,
};
#[cfg(feature = "edge")]
pub use index::EdgeIndex;
pub use index::{
    CELL_TRAINING_FACES, CELL_TRAINING_ROUNDS, Candidate, Cells, CodeStatus, FaceId, FaceIndex,
    IndexConfig, MAX_CANDIDATES, MAX_CELLS, MAX_SHORT_LIST, Quantization,
};
#[cfg(feature = "server")]
pub use index::{ServerIndex, ServerPlacement};
pub use model::{
    DLIB_RESNET, DLIB_RESNET_ONNX, RegistryFile, dlib_resnet_to_onnx, extract_member, sha256_hex,
};
#[cfg(feature = "fetch")]
pub use model::{FetchedModel, fetch_dlib_resnet_dat, fetch_models};
pub use quality::{Check, Property, QualityReport};
pub use runtime::default_runtime_path;
