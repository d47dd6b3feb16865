//! The one error type of the face crate: every unreadable photo, refused capture, model failure or
//! index failure gets a variant that says what was wrong in words an officer or an operator can act on.

use std::path::PathBuf;

/// Everything that can go wrong in the face engine.
///
/// Decoders never panic: malformed bytes, oversized photos and photos without exactly one usable
/// face map to one of these variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// The bytes are not a JPEG or PNG photo, or the file is damaged (truncated, corrupt).
    #[error("not a readable photo: {reason}")]
    NotAnImage {
        /// What the decoder reported.
        reason: String,
    },
    /// The photo file is larger than the engine accepts.
    #[error("photo file is {bytes} bytes; the limit is {limit} bytes")]
    FileTooLarge {
        /// Size of the file.
        bytes: usize,
        /// The limit, [`crate::MAX_PHOTO_BYTES`].
        limit: usize,
    },
    /// The photo has more pixels than the engine accepts (checked from the header, before decoding).
    #[error(
        "photo is {width}x{height} pixels ({megapixels:.1} megapixels); the limit is {limit_megapixels} megapixels: send a smaller photo"
    )]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Width times height in millions.
        megapixels: f64,
        /// The limit in millions of pixels.
        limit_megapixels: u32,
    },
    /// The photo is too small to hold a usable face.
    #[error("photo is {width}x{height} pixels; at least {min}x{min} is needed")]
    TooFewPixels {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Smallest side accepted.
        min: u32,
    },
    /// The capture was refused: no face, several faces, or a face of too low quality to enrol or verify.
    #[error("capture refused: {}", .report.reasons().join("; "))]
    Refused {
        /// The full quality report, with every reason.
        report: Box<crate::QualityReport>,
    },
    /// A model file or ONNX Runtime could not be loaded, or a model gave output of the wrong shape.
    #[error("face model: {reason}")]
    Model {
        /// What went wrong, with the file where there is one.
        reason: String,
    },
    /// The configuration is invalid; every problem is listed.
    #[error("face configuration invalid: {}", .problems.join("; "))]
    Config {
        /// Each problem found.
        problems: Vec<String>,
    },
    /// An embedding has the wrong number of dimensions or non-finite values.
    #[error("embedding invalid: {reason}")]
    BadEmbedding {
        /// Why it cannot be used.
        reason: String,
    },
    /// The vector index (embedded Qdrant Edge or a Qdrant server) failed.
    #[error("face index: {reason}")]
    Index {
        /// What the index reported.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A model could not be obtained from its package registry (network failure, unlisted or
    /// changed release, hash mismatch, damaged archive).
    #[error("obtaining {what}: {reason}")]
    Download {
        /// The URL, index or archive concerned.
        what: String,
        /// What went wrong.
        reason: String,
    },
    /// An evaluation could not be run (empty folder, no pairs).
    #[error("evaluation: {reason}")]
    Evaluation {
        /// Why.
        reason: String,
    },
}

impl FaceError {
    pub(crate) fn model(reason: impl std::fmt::Display) -> FaceError {
        FaceError::Model {
            reason: reason.to_string(),
        }
    }

    #[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
    pub(crate) fn index(reason: impl std::fmt::Display) -> FaceError {
        FaceError::Index {
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> FaceError {
        FaceError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
