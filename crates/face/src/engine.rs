//! The face engine: configuration, and the four operations the registry calls — capture quality,
//! embedding, 1:1 verification and (through [`crate::FaceIndex`]) 1:N search.

use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::FaceError;
use crate::align::{ChipTemplate, face_chip};
use crate::decode::decode_photo;
use crate::detect::{Detection, Detector};
use crate::embed::{Embedder, Embedding};
use crate::quality::{QualityReport, assess, wrong_face_count};
use crate::runtime::{Model, default_runtime_path};

/// dlib's published operating point for its 128-d model (LFW): same person below 0.6.
pub const DLIB_THRESHOLD: f32 = 0.6;

/// Settings of the face engine. The models are settings: a country can plug a stronger embedding
/// model (for example a 512-d ArcFace model with `chip = "arcface112"`, `pixel_mean = 127.5`,
/// `pixel_scale = 0.0078125`) without a code change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceConfig {
    /// `libonnxruntime.so`; when absent, `ORT_DYLIB_PATH`.
    #[serde(default)]
    pub onnxruntime: Option<PathBuf>,
    /// The YuNet detector (ONNX).
    pub detector: PathBuf,
    /// The embedding model (ONNX, one float input NCHW, first output the embedding).
    pub embedder: PathBuf,
    /// Where the landmarks go in the chip the embedding model expects.
    #[serde(default)]
    pub chip: ChipTemplate,
    /// Subtracted from each 0-255 channel value before the model (0 for dlib: the graph does it).
    #[serde(default)]
    pub pixel_mean: f32,
    /// Multiplies each channel value after the mean (1 for dlib).
    #[serde(default = "one")]
    pub pixel_scale: f32,
    /// Distance below which two faces are the same person. Choose it from measured error rates
    /// (`dspp face eval` prints FMR and FNMR at each threshold); dlib's published point is 0.6.
    #[serde(default = "dlib_threshold")]
    pub threshold: f32,
    /// Lowest detector confidence counted as a face.
    #[serde(default = "detector_score")]
    pub min_detector_score: f32,
    /// Threads per model run.
    #[serde(default = "one_thread")]
    pub threads: usize,
    /// Longest side, in pixels, of the image the detector sees (photos are downscaled to it):
    /// smaller is faster, larger finds smaller faces.
    #[serde(default = "detector_side")]
    pub detector_side: u32,
    /// Sessions per model: how many captures run at once. 0 (the default) is one per processor.
    #[serde(default)]
    pub sessions: usize,
}

fn detector_side() -> u32 {
    crate::DETECTOR_SIDE
}

fn one() -> f32 {
    1.0
}
fn dlib_threshold() -> f32 {
    DLIB_THRESHOLD
}
fn detector_score() -> f32 {
    0.6
}
fn one_thread() -> usize {
    1
}

impl FaceConfig {
    /// Sessions per model: `sessions`, or one per processor when 0.
    pub fn sessions(&self) -> usize {
        if self.sessions == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            self.sessions
        }
    }

    /// The dlib 128-d model and YuNet from a models folder (`face-detect-yunet.onnx`,
    /// `face-dlib-resnet-v1.onnx`), ONNX Runtime from `ORT_DYLIB_PATH`.
    pub fn dlib(models: &Path) -> FaceConfig {
        FaceConfig {
            onnxruntime: None,
            detector: models.join("face-detect-yunet.onnx"),
            embedder: models.join("face-dlib-resnet-v1.onnx"),
            chip: ChipTemplate::Dlib150,
            pixel_mean: 0.0,
            pixel_scale: 1.0,
            threshold: DLIB_THRESHOLD,
            min_detector_score: detector_score(),
            threads: 1,
            detector_side: crate::DETECTOR_SIDE,
            sessions: 0,
        }
    }

    /// Every problem with the settings, at once.
    pub fn validate(&self) -> Result<(), FaceError> {
        let mut problems = Vec::new();
        if self.onnxruntime.is_none() && default_runtime_path().is_none() {
            problems.push("onnxruntime: no path given and ORT_DYLIB_PATH is not set".to_string());
        }
        for (name, path) in [("detector", &self.detector), ("embedder", &self.embedder)] {
            if !path.is_file() {
                problems.push(format!("{name}: model file {} not found", path.display()));
            }
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            problems.push(format!(
                "threshold {} must be a positive number",
                self.threshold
            ));
        }
        if !(0.0..1.0).contains(&self.min_detector_score) {
            problems.push(format!(
                "min_detector_score {} must be at least 0 and below 1",
                self.min_detector_score
            ));
        }
        if !(self.pixel_scale.is_finite() && self.pixel_scale != 0.0 && self.pixel_mean.is_finite())
        {
            problems.push(
                "pixel_mean and pixel_scale must be finite, pixel_scale non-zero".to_string(),
            );
        }
        if !(160..=2048).contains(&self.detector_side) {
            problems.push(format!(
                "detector_side {} must be 160 to 2048 pixels",
                self.detector_side
            ));
        }
        if self.sessions > 64 {
            problems.push(format!(
                "sessions {} must be 0 (one per processor) to 64",
                self.sessions
            ));
        }
        if !(1..=16).contains(&self.threads) {
            problems.push(format!("threads {} must be 1 to 16", self.threads));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(FaceError::Config { problems })
        }
    }
}

/// The outcome of a 1:1 comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decision {
    /// Euclidean distance of the embeddings.
    pub distance: f32,
    /// Whether the distance is below the configured threshold.
    pub same: bool,
}

/// A loaded face engine. Safe to share between threads; model runs are serialised per model.
#[derive(Debug)]
pub struct FaceEngine {
    detector: Detector,
    embedder: Embedder,
    config: FaceConfig,
}

/// A photo taken apart: the quality report and, when usable, the embedding.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Every quality check.
    pub report: QualityReport,
    /// The embedding, when the report has no blocking failure.
    pub embedding: Option<Embedding>,
}

impl FaceEngine {
    /// Load ONNX Runtime and both models.
    pub fn from_config(config: &FaceConfig) -> Result<FaceEngine, FaceError> {
        config.validate()?;
        let runtime = config
            .onnxruntime
            .clone()
            .or_else(default_runtime_path)
            .ok_or_else(|| FaceError::Config {
                problems: vec![
                    "onnxruntime: no path given and ORT_DYLIB_PATH is not set".to_string(),
                ],
            })?;
        let detector = Detector::new(Model::load(
            &runtime,
            &config.detector,
            config.threads,
            config.sessions(),
        )?);
        let embedder = Embedder::new(
            Model::load(
                &runtime,
                &config.embedder,
                config.threads,
                config.sessions(),
            )?,
            config.chip.side(),
            config.pixel_mean,
            config.pixel_scale,
        )?;
        Ok(FaceEngine {
            detector,
            embedder,
            config: config.clone(),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &FaceConfig {
        &self.config
    }

    /// Every face the detector finds in a decoded photo, best first.
    pub fn detect(&self, photo: &RgbImage) -> Result<Vec<Detection>, FaceError> {
        let mut faces = self.detector.detect(
            photo,
            self.config.min_detector_score,
            self.config.detector_side,
        )?;
        // A face far smaller than the main one (a face on a poster or passer-by far behind) still
        // counts: the officer must retake. Tiny detections under a third of the main face's size are
        // usually textures, not faces, and are dropped.
        if let Some(largest) = faces.iter().map(|f| f.eye_distance()).reduce(f32::max) {
            faces.retain(|f| f.eye_distance() >= largest / 3.0);
        }
        Ok(faces)
    }

    /// Quality report of an encoded photo (JPEG or PNG).
    pub fn quality(&self, photo: &[u8]) -> Result<QualityReport, FaceError> {
        Ok(self.capture_image(&decode_photo(photo)?, false)?.report)
    }

    /// Quality report and embedding of an encoded photo; refused when not usable.
    pub fn embed(&self, photo: &[u8]) -> Result<Embedding, FaceError> {
        let capture = self.capture(photo)?;
        capture.embedding.ok_or_else(|| FaceError::Refused {
            report: Box::new(capture.report),
        })
    }

    /// Quality report and (when usable) embedding of an encoded photo, in one pass.
    pub fn capture(&self, photo: &[u8]) -> Result<Capture, FaceError> {
        self.capture_image(&decode_photo(photo)?, true)
    }

    /// Quality report and (when usable and asked for) embedding of a decoded photo.
    pub fn capture_image(
        &self,
        photo: &RgbImage,
        with_embedding: bool,
    ) -> Result<Capture, FaceError> {
        let faces = self.detect(photo)?;
        let [face] = faces.as_slice() else {
            return Ok(Capture {
                report: wrong_face_count(faces.len()),
                embedding: None,
            });
        };
        let quality_chip = face_chip(photo, face, ChipTemplate::Dlib150);
        let report = assess(face, &quality_chip);
        if !with_embedding || !report.usable() {
            return Ok(Capture {
                report,
                embedding: None,
            });
        }
        let embedding = if self.config.chip == ChipTemplate::Dlib150 {
            self.embedder.embed_chip(&quality_chip)?
        } else {
            self.embedder
                .embed_chip(&face_chip(photo, face, self.config.chip))?
        };
        Ok(Capture {
            report,
            embedding: Some(embedding),
        })
    }

    /// Compare two embeddings at the configured threshold.
    pub fn verify(&self, a: &Embedding, b: &Embedding) -> Result<Decision, FaceError> {
        let distance = a.distance(b)?;
        Ok(Decision {
            distance,
            same: distance < self.config.threshold,
        })
    }

    /// Embed a raw model input (NCHW floats of the chip size): the check against a model's
    /// reference input/output pair.
    pub fn embed_tensor(&self, input: Vec<f32>) -> Result<Embedding, FaceError> {
        let side = self.config.chip.side() as usize;
        if input.len() != 3 * side * side {
            return Err(FaceError::model(format!(
                "reference input has {} values, the model takes {}",
                input.len(),
                3 * side * side
            )));
        }
        self.embedder.embed_tensor(input)
    }
}
