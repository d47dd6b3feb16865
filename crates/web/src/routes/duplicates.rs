//! /api/v1/duplicates: the adjudication queue (list, one case side by side, decide, unmerge) and the holds report.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{DEFAULT_PAGE, json_with_etag, parse_spid};
use crate::AppState;
use crate::dto::duplicates::{
    CaseDecisionIn, CaseOut, CasePage, HeldEnrolmentOut, HoldCountOut, HoldsReportOut, UnmergeIn,
};
use crate::extract::{ActingAs, Body};
use crate::problem::{ApiError, Problem};
use dspp_service::{CaseDecision, CaseFilter, CaseStatus};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CaseQuery {
    /// open (default), same_person, different_people or all
    pub status: Option<String>,
    /// A province, district or commune code inside your scope
    pub place: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 500 (default 50)
    pub limit: Option<u32>,
}

fn case_id(text: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(text)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::invalid("id", "not a case id"))
}

/// Suspected duplicates in your reach (your area, or your programs' people), oldest first.
#[utoipa::path(get, path = "/api/v1/duplicates", tag = "duplicates", params(CaseQuery),
    responses((status = 200, body = CasePage), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Query(query): Query<CaseQuery>,
) -> Result<Response, ApiError> {
    let status = match query.status.as_deref().unwrap_or("open") {
        "all" => None,
        other => Some(CaseStatus::parse(other)?),
    };
    let after = query
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(case_id)
        .transpose()
        .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, 500);
    let cases = state
        .registry
        .duplicate_cases(
            &actor,
            &CaseFilter {
                status,
                place: query.place.clone(),
                after,
                limit,
            },
        )
        .await?;
    let next_cursor = (cases.len() == limit as usize)
        .then(|| cases.last().map(|case| case.id.clone()))
        .flatten();
    let page = CasePage {
        items: cases.iter().map(CaseOut::from).collect(),
        next_cursor,
    };
    Ok(json_with_etag(StatusCode::OK, &page, None, None))
}

/// One case: both records side by side, the evidence, the holds, the decision.
#[utoipa::path(get, path = "/api/v1/duplicates/{id}", tag = "duplicates", params(("id" = String, Path)),
    responses((status = 200, body = CaseOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let case = state
        .registry
        .duplicate_case(&actor, &case_id(&id)?)
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &CaseOut::from(&case),
        None,
        None,
    ))
}

/// Decide a case: `same_person` (name the survivor; the other SPID becomes its alias) or `different_people`
/// (remembered, never asked again). Lifts the holds.
#[utoipa::path(post, path = "/api/v1/duplicates/{id}/decision", tag = "duplicates", params(("id" = String, Path)),
    request_body = CaseDecisionIn,
    responses((status = 200, body = CaseOut), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn decide(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    Body(body): Body<CaseDecisionIn>,
) -> Result<Response, ApiError> {
    let decision = match (body.decision.as_str(), body.survivor.as_deref()) {
        ("same_person", Some(survivor)) => CaseDecision::SamePerson {
            survivor: parse_spid(survivor)?,
        },
        ("same_person", None) => {
            return Err(ApiError::invalid(
                "survivor",
                "name the SPID to keep for a same_person decision",
            ));
        }
        ("different_people", None) => CaseDecision::DifferentPeople,
        ("different_people", Some(_)) => {
            return Err(ApiError::invalid(
                "survivor",
                "only a same_person decision keeps a survivor",
            ));
        }
        (other, _) => {
            return Err(ApiError::invalid(
                "decision",
                format!("{other:?} is not a decision; same_person or different_people"),
            ));
        }
    };
    let case = state
        .registry
        .decide_duplicate(&actor, &case_id(&id)?, &decision, &body.reason)
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &CaseOut::from(&case),
        None,
        None,
    ))
}

/// Reverse a same_person decision: the merged record is live again under its own SPID.
#[utoipa::path(post, path = "/api/v1/duplicates/{id}/unmerge", tag = "duplicates", params(("id" = String, Path)),
    request_body = UnmergeIn,
    responses((status = 200, body = CaseOut), (status = 409, body = Problem)))]
pub async fn unmerge(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    Body(body): Body<UnmergeIn>,
) -> Result<Response, ApiError> {
    let case = state
        .registry
        .unmerge_duplicate(&actor, &case_id(&id)?, &body.reason)
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &CaseOut::from(&case),
        None,
        None,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HoldsQuery {
    /// A province, district or commune code inside your scope
    pub place: Option<String>,
}

/// Enrolments held by open duplicate cases, per commune and program, and each one with its case and deadline.
#[utoipa::path(get, path = "/api/v1/reports/duplicate-holds", tag = "reports", params(HoldsQuery),
    responses((status = 200, body = HoldsReportOut)))]
pub async fn holds(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Query(query): Query<HoldsQuery>,
) -> Result<Response, ApiError> {
    let (counts, held) = state
        .registry
        .duplicate_holds(&actor, query.place.as_deref())
        .await?;
    let out = HoldsReportOut {
        counts: counts.iter().map(HoldCountOut::from).collect(),
        held: held.iter().map(HeldEnrolmentOut::from).collect(),
    };
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}
