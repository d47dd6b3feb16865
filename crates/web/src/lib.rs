//! The web edge: the JSON API under `/api/v1` and the portal pages. Only this crate knows HTTP and JSON.
//!
//! Every response to an error is RFC 9457 `application/problem+json` ([`problem`]); every POST honours
//! `Idempotency-Key` ([`idempotency`]); every change to an existing record needs `If-Match` with the
//! ETag the caller read ([`extract::IfMatch`]); every call names its actor ([`extract::ActingAs`]).

pub mod dto;
pub mod extract;
pub mod idempotency;
mod openapi;
mod portal;
pub mod problem;
pub mod routes;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dspp_service::Registry;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

pub use openapi::ApiDoc;

use crate::problem::ApiError;

/// The largest request body accepted (a household of 60 members is about 40 KB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest body of a biometric capture: six fingerprint images or a face photo, base64.
pub const MAX_CAPTURE_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Registry,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/people",
            post(routes::people::create).get(routes::people::list),
        )
        .route(
            "/people/{spid}",
            get(routes::people::get).put(routes::people::update),
        )
        .route("/people/{spid}/history", get(routes::people::history))
        .route("/people/{spid}/death", post(routes::people::death))
        .route("/people/{spid}/merge", post(routes::people::merge))
        .route(
            "/households",
            post(routes::households::create).get(routes::households::list),
        )
        .route("/households/{id}", get(routes::households::get))
        .route("/households/{id}/history", get(routes::households::history))
        .route(
            "/households/{id}/head",
            post(routes::households::change_head),
        )
        .route(
            "/households/{id}/members",
            post(routes::households::add_member),
        )
        .route(
            "/households/{id}/members/{spid}/removal",
            post(routes::households::remove_member),
        )
        .route("/households/{id}/split", post(routes::households::split))
        .route("/households/{id}/merge", post(routes::households::merge))
        .route("/spid-leases", post(routes::leases::create))
        .route("/spid-leases/{id}", get(routes::leases::get))
        .route("/spid-leases/{id}/return", post(routes::leases::give_back))
        .route("/spids/{spid}/check", get(routes::leases::check))
        .route("/programs", get(routes::enrolment::programs))
        .route(
            "/programs/{code}",
            get(routes::enrolment::program).put(routes::enrolment::put_program),
        )
        .route(
            "/households/{id}/eligibility",
            post(routes::enrolment::eligibility),
        )
        .route(
            "/households/{id}/poverty-status",
            get(routes::enrolment::poverty_statuses).post(routes::enrolment::override_poverty),
        )
        .route("/households/{id}/births", post(routes::enrolment::birth))
        .route(
            "/households/{id}/move",
            post(routes::enrolment::move_household),
        )
        .route(
            "/applications",
            post(routes::enrolment::submit).get(routes::enrolment::list),
        )
        .route("/applications/{id}", get(routes::enrolment::get))
        .route(
            "/applications/{id}/decisions",
            post(routes::enrolment::decide),
        )
        .route(
            "/applications/{id}/resubmission",
            post(routes::enrolment::resubmit),
        )
        .route(
            "/delegations",
            post(routes::enrolment::grant).get(routes::enrolment::delegations),
        )
        .route(
            "/delegations/{id}/revocation",
            post(routes::enrolment::revoke),
        )
        .route(
            "/enrolments/{id}/recertification",
            post(routes::enrolment::recertify),
        )
        .route(
            "/recertifications",
            get(routes::enrolment::recertifications_due),
        )
        .route(
            "/reports/enrolment-durations",
            get(routes::enrolment::durations),
        )
        .route("/outbox", get(routes::enrolment::outbox))
        .route(
            "/people/{spid}/fingerprints",
            post(routes::biometrics::record_fingerprints)
                .layer(DefaultBodyLimit::max(MAX_CAPTURE_BODY_BYTES)),
        )
        .route(
            "/people/{spid}/fingerprints/verification",
            post(routes::biometrics::verify_fingerprint)
                .layer(DefaultBodyLimit::max(MAX_CAPTURE_BODY_BYTES)),
        )
        .route(
            "/people/{spid}/face",
            post(routes::biometrics::record_face)
                .layer(DefaultBodyLimit::max(MAX_CAPTURE_BODY_BYTES)),
        )
        .route(
            "/people/{spid}/face/verification",
            post(routes::biometrics::verify_face)
                .layer(DefaultBodyLimit::max(MAX_CAPTURE_BODY_BYTES)),
        )
        .route(
            "/face/quality",
            post(routes::biometrics::face_quality)
                .layer(DefaultBodyLimit::max(MAX_CAPTURE_BODY_BYTES)),
        )
        .route(
            "/people/{spid}/biometrics",
            get(routes::biometrics::on_record),
        )
        .route("/duplicates", get(routes::duplicates::list))
        .route("/duplicates/{id}", get(routes::duplicates::get))
        .route(
            "/duplicates/{id}/decision",
            post(routes::duplicates::decide),
        )
        .route(
            "/duplicates/{id}/unmerge",
            post(routes::duplicates::unmerge),
        )
        .route("/reports/duplicate-holds", get(routes::duplicates::holds))
        .route(
            "/reports/biometric-exceptions",
            get(routes::biometrics::exceptions),
        )
        .route("/places", get(routes::places::provinces))
        .route("/places/{code}", get(routes::places::place))
        .route("/openapi.json", get(openapi::document));
    Router::new()
        .nest("/api/v1", api)
        .route("/", get(portal::home))
        .route("/approvals", get(portal::approvals))
        .route("/capture", get(portal::capture))
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such resource; the API is described at /api/v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this resource does not take that method",
    )
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = dto::HealthOut), (status = 503, body = dto::HealthOut)))]
async fn health(State(state): State<AppState>) -> Response {
    match state.registry.store().ping().await {
        Ok(()) => axum::Json(dto::HealthOut {
            status: "ok",
            database: "reachable",
        })
        .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(dto::HealthOut {
                status: "degraded",
                database: "unreachable",
            }),
        )
            .into_response(),
    }
}

/// Serves until `shutdown` is cancelled, then stops accepting and lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
