//! /api/v1/people: enrol one person, read, correct, record a death, list, history, merge.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{DEFAULT_PAGE, decode_cursor, encode_cursor, json_with_etag, parse_spid};
use crate::AppState;
use crate::dto::{
    DeathIn, MergePeopleIn, PeoplePage, PersonIn, PersonOut, PersonResponse, PersonVersionOut,
    UpdatePersonIn, WarningOut,
};
use crate::extract::{ActingAs, Body, IfMatch};
use crate::problem::{ApiError, Problem};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// A province, district, commune or village code inside your scope
    pub place: Option<String>,
    /// Names starting with this (Latin, any case, or Khmer)
    pub name: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 500 (default 50)
    pub limit: Option<u32>,
}

/// Enrol one person outside any household.
#[utoipa::path(post, path = "/api/v1/people", tag = "people", request_body = PersonIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = PersonResponse), (status = 422, body = Problem), (status = 403, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Body(body): Body<PersonIn>,
) -> Result<Response, ApiError> {
    let offline = body.offline("person")?;
    let (view, warnings) = state
        .registry
        .register_person(&actor, &body.to_input(), offline)
        .await?;
    let out = PersonResponse {
        person: PersonOut::from(&view),
        warnings: warnings.iter().map(WarningOut::from).collect(),
    };
    let location = format!("/api/v1/people/{}", view.person.spid);
    Ok(json_with_etag(
        StatusCode::CREATED,
        &out,
        Some(view.person.version),
        Some(location),
    ))
}

/// A person by SPID. A merged SPID answers with the surviving record (`resolved_from` says so).
#[utoipa::path(get, path = "/api/v1/people/{spid}", tag = "people", params(("spid" = String, Path)),
    responses((status = 200, body = PersonOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.registry.person(&actor, parse_spid(&spid)?).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &PersonOut::from(&view),
        Some(view.person.version),
        None,
    ))
}

/// Correct a person's record. Needs `If-Match` with the ETag you read.
#[utoipa::path(put, path = "/api/v1/people/{spid}", tag = "people", params(("spid" = String, Path), ("If-Match" = String, Header)),
    request_body = UpdatePersonIn,
    responses((status = 200, body = PersonResponse), (status = 412, body = Problem), (status = 428, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<UpdatePersonIn>,
) -> Result<Response, ApiError> {
    let (view, warnings) = state
        .registry
        .update_person(
            &actor,
            parse_spid(&spid)?,
            version,
            &body.person.to_input(),
            &body.reason,
        )
        .await?;
    let out = PersonResponse {
        person: PersonOut::from(&view),
        warnings: warnings.iter().map(WarningOut::from).collect(),
    };
    Ok(json_with_etag(
        StatusCode::OK,
        &out,
        Some(view.person.version),
        None,
    ))
}

/// Record a death (the life event that ends enrolments). Needs `If-Match`.
#[utoipa::path(post, path = "/api/v1/people/{spid}/death", tag = "people", params(("spid" = String, Path), ("If-Match" = String, Header)),
    request_body = DeathIn, responses((status = 200, body = PersonOut), (status = 409, body = Problem)))]
pub async fn death(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<DeathIn>,
) -> Result<Response, ApiError> {
    let view = state
        .registry
        .record_death(
            &actor,
            parse_spid(&spid)?,
            version,
            &body.date,
            body.evidence.as_deref(),
            &body.reason,
        )
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &PersonOut::from(&view),
        Some(view.person.version),
        None,
    ))
}

/// Every version of a person with who changed it, on whose authority and why.
#[utoipa::path(get, path = "/api/v1/people/{spid}/history", tag = "people", params(("spid" = String, Path)),
    responses((status = 200, body = [PersonVersionOut])))]
pub async fn history(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
) -> Result<Response, ApiError> {
    let versions = state
        .registry
        .person_history(&actor, parse_spid(&spid)?)
        .await?;
    let out: Vec<PersonVersionOut> = versions
        .iter()
        .map(|v| PersonVersionOut {
            change: (&v.change).into(),
            person: crate::dto::person_out(&v.person, None),
        })
        .collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

/// List people in your scope, a page at a time.
#[utoipa::path(get, path = "/api/v1/people", tag = "people", params(ListQuery), responses((status = 200, body = PeoplePage)))]
pub async fn list(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let after = decode_cursor(query.cursor.as_deref())?;
    let page = state
        .registry
        .list_people(
            &actor,
            query.place.as_deref(),
            query.name.as_deref(),
            after,
            query.limit.unwrap_or(DEFAULT_PAGE),
        )
        .await?;
    let out = PeoplePage {
        items: page.items.iter().map(PersonOut::from).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    };
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

/// Record that another SPID is the same person as this one: it becomes an alias of this SPID.
#[utoipa::path(post, path = "/api/v1/people/{spid}/merge", tag = "people", params(("spid" = String, Path)),
    request_body = MergePeopleIn, responses((status = 200, body = PersonOut)))]
pub async fn merge(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(spid): Path<String>,
    Body(body): Body<MergePeopleIn>,
) -> Result<Response, ApiError> {
    let duplicate = dspp_domain::Spid::parse(&body.duplicate)
        .map_err(|e| ApiError::invalid("duplicate", e.reason))?;
    let view = state
        .registry
        .merge_people(&actor, parse_spid(&spid)?, duplicate, &body.reason)
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &PersonOut::from(&view),
        Some(view.person.version),
        None,
    ))
}
