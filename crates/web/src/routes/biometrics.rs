//! /api/v1/people/{spid}/fingerprints, /face, /biometrics: captures with the duplicate check, what is on record,
//! and 1:1 verification at a service point.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{json_with_etag, parse_spid};
use crate::AppState;
use crate::dto::biometrics::{
    BiometricPartOut, BiometricsOut, CaptureOut, ExceptionsReportOut, FaceIn, FingerprintsIn,
    QualityIn, QualityOut, VerificationOut, VerifyFaceIn, VerifyFingerprintIn,
};
use crate::extract::{ActingAs, Body};
use crate::problem::{ApiError, Problem};
use dspp_service::{Thumb, ThumbsInput};

/// A capture's answer: 201, pointing at what is on record.
fn created(outcome: &dspp_service::CaptureOutcome) -> Response {
    json_with_etag(
        StatusCode::CREATED,
        &CaptureOut::from(outcome),
        None,
        Some(format!("/api/v1/people/{}/biometrics", outcome.spid)),
    )
}

/// Record both thumbs (each a template, images, or an exception) and check them against the registry.
#[utoipa::path(post, path = "/api/v1/people/{spid}/fingerprints", tag = "biometrics",
    params(("spid" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = FingerprintsIn,
    responses((status = 201, body = CaptureOut), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn record_fingerprints(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
    Body(body): Body<FingerprintsIn>,
) -> Result<Response, ApiError> {
    let spid = parse_spid(&spid)?;
    let input = ThumbsInput {
        right: body.right_thumb.to_input("right_thumb")?,
        left: body.left_thumb.to_input("left_thumb")?,
    };
    let outcome = state
        .registry
        .record_fingerprints(&actor, spid, input, &body.reason)
        .await?;
    Ok(created(&outcome))
}

/// Record the face (quality-checked) and check it against the registry; the photo is kept only until its
/// retention deadline.
#[utoipa::path(post, path = "/api/v1/people/{spid}/face", tag = "biometrics",
    params(("spid" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = FaceIn,
    responses((status = 201, body = CaptureOut), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn record_face(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
    Body(body): Body<FaceIn>,
) -> Result<Response, ApiError> {
    let spid = parse_spid(&spid)?;
    let outcome = state
        .registry
        .record_face(&actor, spid, body.photo()?, &body.reason)
        .await?;
    Ok(created(&outcome))
}

/// What is on record for a person's thumbs and face (never the templates or the photo).
#[utoipa::path(get, path = "/api/v1/people/{spid}/biometrics", tag = "biometrics",
    params(("spid" = String, Path)),
    responses((status = 200, body = BiometricsOut), (status = 404, body = Problem)))]
pub async fn on_record(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
) -> Result<Response, ApiError> {
    let spid = parse_spid(&spid)?;
    let parts = state.registry.biometrics_of(&actor, spid).await?;
    let out = BiometricsOut {
        spid: spid.to_string(),
        parts: parts.iter().map(BiometricPartOut::from).collect(),
    };
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

/// 1:1: is this thumb the one on record? The check is recorded.
#[utoipa::path(post, path = "/api/v1/people/{spid}/fingerprints/verification", tag = "biometrics",
    params(("spid" = String, Path)), request_body = VerifyFingerprintIn,
    responses((status = 200, body = VerificationOut), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn verify_fingerprint(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
    Body(body): Body<VerifyFingerprintIn>,
) -> Result<Response, ApiError> {
    let spid = parse_spid(&spid)?;
    let thumb = Thumb::parse(&body.thumb)?;
    let capture = body.capture.to_input("capture")?;
    let outcome = state
        .registry
        .verify_fingerprint(&actor, spid, thumb, capture)
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &VerificationOut::from(&outcome),
        None,
        None,
    ))
}

/// 1:1: is this the face on record? The check is recorded.
#[utoipa::path(post, path = "/api/v1/people/{spid}/face/verification", tag = "biometrics",
    params(("spid" = String, Path)), request_body = VerifyFaceIn,
    responses((status = 200, body = VerificationOut), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn verify_face(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
    Body(body): Body<VerifyFaceIn>,
) -> Result<Response, ApiError> {
    let spid = parse_spid(&spid)?;
    let outcome = state
        .registry
        .verify_face(&actor, spid, body.photo()?)
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &VerificationOut::from(&outcome),
        None,
        None,
    ))
}

/// The quality of a photo, nothing stored: the capture page calls it live while the officer frames the face.
#[utoipa::path(post, path = "/api/v1/face/quality", tag = "biometrics", request_body = QualityIn,
    responses((status = 200, body = QualityOut), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn face_quality(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Body(body): Body<QualityIn>,
) -> Result<Response, ApiError> {
    let report = state.registry.face_quality(&actor, body.photo()?).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &QualityOut::from(&report),
        None,
        None,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ExceptionsQuery {
    /// A province, district or commune code inside your scope
    pub place: Option<String>,
}

/// Thumbs recorded as exceptions in your area: who recorded each, when and why, and the counts per commune, part
/// and reason (exceptions skip the fingerprint check, so they are audited).
#[utoipa::path(get, path = "/api/v1/reports/biometric-exceptions", tag = "reports", params(ExceptionsQuery),
    responses((status = 200, body = ExceptionsReportOut), (status = 403, body = Problem)))]
pub async fn exceptions(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    axum::extract::Query(query): axum::extract::Query<ExceptionsQuery>,
) -> Result<Response, ApiError> {
    let (items, counts) = state
        .registry
        .biometric_exceptions(&actor, query.place.as_deref())
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &ExceptionsReportOut::new(&items, &counts),
        None,
        None,
    ))
}
