//! Fingerprint engine of dspp: minutiae templates in ISO/IEC 19794-2:2005 and ANSI/INCITS 378-2004,
//! fingerprint images, minutiae extraction, Minutia Cylinder-Code matching and ISO/IEC 19795-style
//! evaluation.
//!
//! The crate does no network or database IO; it reads files only where a function takes a path.
//!
//! What the `dspp finger` subcommands call:
//!
//! ```no_run
//! use std::path::Path;
//! use fingerprint::{EvalOptions, evaluate, match_files};
//!
//! # fn main() -> Result<(), fingerprint::Error> {
//! // `dspp finger eval DIR`: print the report, write the DET curve.
//! let options = EvalOptions { dpi: 569, ..EvalOptions::default() };
//! let report = evaluate(Path::new("fvc2002-db2b"), &options)?;
//! print!("{report}");
//! report.write_det_png(Path::new("det.png"))?;
//! // `dspp finger match A B`: the similarity is the last number printed.
//! let score = match_files(Path::new("a.png"), Path::new("b.png"), 500)?;
//! println!("similarity {score:.4}");
//! # Ok(())
//! # }
//! ```

// Tests may unwrap: a panic there is a test failure with its message.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod calibration;
mod codec;
mod det;
mod error;
mod eval;
mod exception;
mod extract;
mod image;
mod index;
#[cfg(feature = "leader")]
mod leader;
mod mcc;
mod quality;
pub mod synth;
mod template;
mod wsq;

pub use calibration::ScoreCalibration;
pub use codec::{MAX_RECORD_LEN, MinutiaeRecord, RecordFormat};
pub use det::{CURVE_COLOURS, det_image, write_det_png};
pub use error::Error;
pub use eval::{
    EvalOptions, EvalReport, MIN_USABLE_MINUTIAE, MatcherReport, bozorth_minutiae,
    equal_error_rate, evaluate, evaluate_with, fnmr_at, load_template, match_files,
    operating_points,
};
pub use exception::{ApproverId, ExceptionReason, FingerException, FingerOutcome, ThumbEnrolment};
pub use extract::extract;
pub use image::{FingerImage, MAX_IMAGE_FILE_BYTES, MAX_IMAGE_SIDE, MIN_IMAGE_SIDE};
pub use index::{
    HIT_BUDGET, KEY_BITS, KEY_FUNCTIONS, LIST_CAP, MatchCandidate, RARITY_POWER, ThumbCodes,
    ThumbIndex, ThumbKeys, ThumbSide, postings_read_within, rerank, thumb_score, thumb_scores,
    thumb_scores_within,
};
#[cfg(feature = "leader")]
pub use leader::LeaderExtractor;
pub use mcc::{CYLINDER_SCHEME, MAX_CYLINDERS, MccMatcher, MccTemplate};
pub use quality::{MIN_AREA_MM2, MIN_CLARITY, MIN_SCORE, Quality, Refusal, assess, best_capture};
pub use template::{
    ANGLE_UNITS_PER_TURN, Angle, ExtendedData, FingerPosition, ImageGeometry, MAX_COORDINATE,
    MAX_MINUTIAE, Minutia, MinutiaKind, Template, ViewInfo,
};
