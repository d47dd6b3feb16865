//! The OpenAPI 3.1 description of the API, generated from the handlers and DTOs so it cannot drift.

use axum::Json;
use utoipa::OpenApi;

use crate::{dto, problem, routes};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "dspp registry API",
        description = "The Social Registry of the Digital Social Protection Platform. Every call names its actor in the \
            dspp-actor, dspp-role, dspp-scope and dspp-purpose headers (and dspp-on-behalf-of with dspp-delegation when acting \
            under a delegation). Errors are RFC 9457 problem+json. POSTs honour Idempotency-Key; changes to existing records need \
            If-Match with the ETag that was read."
    ),
    paths(
        routes::people::create, routes::people::get, routes::people::update, routes::people::death, routes::people::history,
        routes::people::list, routes::people::merge,
        routes::households::create, routes::households::get, routes::households::list, routes::households::history,
        routes::households::change_head, routes::households::add_member, routes::households::remove_member,
        routes::households::split, routes::households::merge,
        routes::leases::create, routes::leases::get, routes::leases::give_back, routes::leases::check,
        routes::places::provinces, routes::places::place,
        routes::enrolment::programs, routes::enrolment::program, routes::enrolment::put_program,
        routes::enrolment::eligibility, routes::enrolment::submit, routes::enrolment::list, routes::enrolment::get,
        routes::enrolment::decide, routes::enrolment::resubmit, routes::enrolment::grant, routes::enrolment::delegations,
        routes::enrolment::revoke, routes::enrolment::durations, routes::enrolment::poverty_statuses,
        routes::enrolment::override_poverty, routes::enrolment::birth, routes::enrolment::move_household,
        routes::enrolment::recertify, routes::enrolment::recertifications_due, routes::enrolment::outbox,
        routes::duplicates::list, routes::duplicates::get, routes::duplicates::decide, routes::duplicates::unmerge,
        routes::duplicates::holds,
        routes::biometrics::record_fingerprints, routes::biometrics::record_face, routes::biometrics::on_record,
        routes::biometrics::verify_fingerprint, routes::biometrics::verify_face, routes::biometrics::face_quality, routes::biometrics::exceptions,
        crate::health,
    ),
    components(schemas(problem::Problem, problem::FieldError, dto::PersonIn, dto::PersonOut, dto::HouseholdOut)),
    tags(
        (name = "people", description = "People and their records"),
        (name = "households", description = "Households and their members"),
        (name = "spids", description = "Social Protection IDs and offline leases"),
        (name = "places", description = "The official gazetteer"),
        (name = "programs", description = "Program definitions (XLSForms) owned by their operators"),
        (name = "enrolment", description = "Eligibility, applications, approvals and delegations"),
        (name = "life events", description = "Births, moves and yearly recertification"),
        (name = "duplicates", description = "Suspected duplicates: the adjudication queue, decisions and unmerges"),
        (name = "biometrics", description = "Thumbs and faces: captures with the duplicate check, exceptions, 1:1 verification"),
        (name = "reports", description = "Durations, counts and holds"),
        (name = "operations", description = "Health and the outbox"),
    )
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
