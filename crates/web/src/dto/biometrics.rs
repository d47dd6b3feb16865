//! DTOs of biometrics: thumbs (template, images or an exception) and faces in, what is on record and the duplicate
//! check's outcome out, 1:1 verifications. Binary captures travel as standard base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use dspp_domain::BiometricStatus;
use dspp_service::{
    BiometricPartView, CaptureOutcome, ExceptionReason, ThumbInput, VerificationOutcome,
};
use fingerprint::RecordFormat;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::WarningOut;
use crate::problem::ApiError;

/// One thumb: exactly one of a template, images, or an exception.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ThumbIn {
    /// A minutiae template from the scanner's SDK.
    Template {
        /// iso-19794-2 (ISO/IEC 19794-2:2005) or ansi-378 (ANSI/INCITS 378-2004)
        format: String,
        /// The record, base64
        data: String,
    },
    /// 1 to 6 captures of the thumb (PNG, TIFF, BMP or WSQ, base64); the best usable one is kept.
    Images {
        /// The scanner's resolution in dots per inch (500 for most)
        dpi: u16,
        data: Vec<String>,
    },
    /// No capture is possible.
    Exception {
        /// missing, amputated, unreadable or temporary
        reason: String,
        /// What the officer saw
        note: String,
    },
}

fn decode(field: &str, data: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::invalid(field, format!("not base64: {e}")))
}

impl ThumbIn {
    pub fn to_input(&self, field: &str) -> Result<ThumbInput, ApiError> {
        Ok(match self {
            ThumbIn::Template { format, data } => ThumbInput::Template {
                format: match format.as_str() {
                    "iso-19794-2" => RecordFormat::Iso19794_2_2005,
                    "ansi-378" => RecordFormat::Ansi378_2004,
                    other => {
                        return Err(ApiError::invalid(
                            &format!("{field}.template.format"),
                            format!("{other:?}: iso-19794-2 or ansi-378"),
                        ));
                    }
                },
                bytes: decode(&format!("{field}.template.data"), data)?,
            },
            ThumbIn::Images { dpi, data } => ThumbInput::Images {
                images: data
                    .iter()
                    .enumerate()
                    .map(|(n, image)| decode(&format!("{field}.images.data[{n}]"), image))
                    .collect::<Result<_, _>>()?,
                dpi: *dpi,
            },
            ThumbIn::Exception { reason, note } => ThumbInput::Exception {
                reason: ExceptionReason::parse(reason)?,
                note: note.clone(),
            },
        })
    }
}

/// Both thumbs, and why they are captured.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FingerprintsIn {
    pub right_thumb: ThumbIn,
    pub left_thumb: ThumbIn,
    /// Why: e.g. enrolment, re-capture after an injury healed
    pub reason: String,
}

/// A face photo (JPEG or PNG, base64), and why it is captured.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceIn {
    pub photo: String,
    pub reason: String,
}

impl FaceIn {
    pub fn photo(&self) -> Result<Vec<u8>, ApiError> {
        decode("photo", &self.photo)
    }
}

/// A thumb to verify against the one on record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyFingerprintIn {
    /// right_thumb or left_thumb
    pub thumb: String,
    /// A template or images (not an exception)
    pub capture: ThumbIn,
}

/// A face photo to verify against the one on record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyFaceIn {
    pub photo: String,
}

impl VerifyFaceIn {
    pub fn photo(&self) -> Result<Vec<u8>, ApiError> {
        decode("photo", &self.photo)
    }
}

/// What is on record for one part (never the template or photo itself).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BiometricPartOut {
    /// right_thumb, left_thumb or face
    pub part: String,
    /// captured or exception
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// 0-100
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A face photo is kept (sealed) until then, and deleted after; the embedding stays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_kept_until: Option<DateTime<Utc>>,
    pub captured_at: DateTime<Utc>,
}

impl From<&BiometricPartView> for BiometricPartOut {
    fn from(part: &BiometricPartView) -> Self {
        BiometricPartOut {
            part: part.part.clone(),
            status: part.status.clone(),
            format: part.format.clone(),
            quality: part.quality,
            exception_reason: part.exception_reason.clone(),
            note: part.note.clone(),
            photo_kept_until: part.photo_kept_until,
            captured_at: part.captured_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BiometricsOut {
    pub spid: String,
    pub parts: Vec<BiometricPartOut>,
}

/// A capture's outcome: what is on record, and the duplicate check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaptureOut {
    pub spid: String,
    /// unique, or possible_duplicate (a case holds the person's enrolments)
    pub biometric_status: String,
    pub parts: Vec<BiometricPartOut>,
    /// One possible_duplicate warning per case opened or already open
    pub warnings: Vec<WarningOut>,
    /// People compared in the duplicate check
    pub compared: usize,
}

impl From<&CaptureOutcome> for CaptureOut {
    fn from(outcome: &CaptureOutcome) -> Self {
        CaptureOut {
            spid: outcome.spid.to_string(),
            biometric_status: match outcome.status {
                BiometricStatus::NotCaptured => "not_captured",
                BiometricStatus::Unique { .. } => "unique",
                BiometricStatus::PossibleDuplicate { .. } => "possible_duplicate",
            }
            .into(),
            parts: outcome.parts.iter().map(BiometricPartOut::from).collect(),
            warnings: outcome.warnings.iter().map(WarningOut::from).collect(),
            compared: outcome.compared,
        }
    }
}

/// A 1:1 verification's outcome, recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationOut {
    pub spid: String,
    pub part: String,
    /// Fingerprints: MCC similarity (higher is more alike); face: distance (lower is more alike)
    pub score: f64,
    pub threshold: f64,
    pub matched: bool,
    /// Fingerprints: the estimated false match rate of accepting at this score
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_match_rate: Option<f64>,
    /// The record of this check
    pub check_id: String,
}

impl From<&VerificationOutcome> for VerificationOut {
    fn from(outcome: &VerificationOutcome) -> Self {
        VerificationOut {
            spid: outcome.spid.to_string(),
            part: outcome.part.clone(),
            score: outcome.score,
            threshold: outcome.threshold,
            matched: outcome.matched,
            false_match_rate: outcome.false_match_rate,
            check_id: outcome.check_id.clone(),
        }
    }
}

/// A photo to check, nothing stored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityIn {
    /// JPEG or PNG, base64
    pub photo: String,
}

impl QualityIn {
    pub fn photo(&self) -> Result<Vec<u8>, ApiError> {
        decode("photo", &self.photo)
    }
}

/// One quality check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityCheckOut {
    /// face_count, face_size, pose, brightness, contrast, sharpness, lighting_evenness or eyes_visible
    pub property: String,
    /// 0-100
    pub score: u8,
    pub passed: bool,
    /// A failure that refuses the capture outright
    pub blocking: bool,
    /// What the officer should do, when it failed
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A photo's quality, in the spirit of ISO/IEC 29794-5.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityOut {
    pub faces: usize,
    /// The lowest check score
    pub score: u8,
    /// No blocking failure: usable for verification and search
    pub usable: bool,
    /// Every check passed: good enough to enrol
    pub acceptable_for_enrolment: bool,
    pub checks: Vec<QualityCheckOut>,
}

impl From<&face::QualityReport> for QualityOut {
    fn from(report: &face::QualityReport) -> Self {
        QualityOut {
            faces: report.faces,
            score: report.score(),
            usable: report.usable(),
            acceptable_for_enrolment: report.acceptable_for_enrolment(),
            checks: report
                .checks
                .iter()
                .map(|check| QualityCheckOut {
                    property: serde_json::to_value(check.property)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    score: check.score,
                    passed: check.passed,
                    blocking: check.blocking,
                    reason: check.reason.clone(),
                })
                .collect(),
        }
    }
}

/// One thumb recorded as an exception.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExceptionOut {
    pub spid: String,
    pub commune_code: String,
    /// right_thumb or left_thumb
    pub part: String,
    /// missing, amputated, unreadable or temporary
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub since: DateTime<Utc>,
    /// Who recorded (approved) it, in which role, and for whom
    pub recorded_by: String,
    pub recorded_role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

/// Exceptions per commune, part and reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExceptionCountOut {
    pub commune_code: String,
    pub part: String,
    pub reason: String,
    pub people: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExceptionsReportOut {
    pub counts: Vec<ExceptionCountOut>,
    /// Oldest first, at most 1,000
    pub items: Vec<ExceptionOut>,
}

impl ExceptionsReportOut {
    pub fn new(
        items: &[dspp_service::ExceptionRow],
        counts: &[dspp_service::ExceptionCount],
    ) -> Self {
        ExceptionsReportOut {
            counts: counts
                .iter()
                .map(|c| ExceptionCountOut {
                    commune_code: c.commune_code.clone(),
                    part: c.part.clone(),
                    reason: c.reason.clone(),
                    people: c.people,
                })
                .collect(),
            items: items
                .iter()
                .map(|e| ExceptionOut {
                    spid: e.spid.clone(),
                    commune_code: e.commune_code.clone(),
                    part: e.part.clone(),
                    reason: e.reason.clone(),
                    note: e.note.clone(),
                    since: e.since,
                    recorded_by: e.recorded_by.clone(),
                    recorded_role: e.recorded_role.clone(),
                    on_behalf_of: e.on_behalf_of.clone(),
                })
                .collect(),
        }
    }
}
