//! /api/v1/spid-leases: pools of SPIDs for field devices that enrol offline.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::json_with_etag;
use crate::AppState;
use crate::dto::{LeaseOut, NewLeaseIn, SpidCheckOut};
use crate::extract::{ActingAs, Body};
use crate::problem::{ApiError, Problem};

/// Lease a device fresh random SPIDs to issue while offline; they expire and are reconciled at sync.
#[utoipa::path(post, path = "/api/v1/spid-leases", tag = "spids", request_body = NewLeaseIn,
    responses((status = 201, body = LeaseOut), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Body(body): Body<NewLeaseIn>,
) -> Result<Response, ApiError> {
    let request = dspp_service::NewLease {
        device_id: body.device_id,
        size: body.size,
        valid_days: body.valid_days,
    };
    let view = state.registry.grant_lease(&actor, &request).await?;
    let location = format!("/api/v1/spid-leases/{}", view.lease.id);
    Ok(json_with_etag(
        StatusCode::CREATED,
        &LeaseOut::from(&view),
        None,
        Some(location),
    ))
}

fn lease_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no lease {id:?}")))
}

/// A lease with the state of each of its SPIDs (reconciliation view).
#[utoipa::path(get, path = "/api/v1/spid-leases/{id}", tag = "spids", params(("id" = String, Path)), responses((status = 200, body = LeaseOut)))]
pub async fn get(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.registry.lease(&actor, lease_id(&id)?).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &LeaseOut::from(&view),
        None,
        None,
    ))
}

/// End a lease after sync: unissued SPIDs become void and are never issued.
#[utoipa::path(post, path = "/api/v1/spid-leases/{id}/return", tag = "spids", params(("id" = String, Path)), responses((status = 200, body = LeaseOut)))]
pub async fn give_back(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.registry.return_lease(&actor, lease_id(&id)?).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &LeaseOut::from(&view),
        None,
        None,
    ))
}

/// Check a SPID's form and check digit (no look-up; for field apps validating what was typed).
#[utoipa::path(get, path = "/api/v1/spids/{spid}/check", tag = "spids", params(("spid" = String, Path)), responses((status = 200, body = SpidCheckOut)))]
pub async fn check(Path(spid): Path<String>) -> Response {
    let out = match dspp_domain::Spid::parse(&spid) {
        Ok(parsed) => SpidCheckOut {
            spid: parsed.to_string(),
            valid: true,
            reason: None,
        },
        Err(e) => SpidCheckOut {
            spid,
            valid: false,
            reason: Some(e.reason),
        },
    };
    json_with_etag(StatusCode::OK, &out, None, None)
}
