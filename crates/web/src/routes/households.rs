//! /api/v1/households: enrol a household, read it, reshape it (head, members, split, merge), history.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use dspp_domain::HouseholdId;
use dspp_service::NewHousehold;
use serde::Deserialize;

use super::{
    DEFAULT_PAGE, decode_cursor, encode_cursor, json_with_etag, parse_spid, relationships,
};
use crate::AppState;
use crate::dto::{
    AddMemberIn, ChangeHeadIn, HouseholdMemberRef, HouseholdOut, HouseholdResponse,
    HouseholdSummary, HouseholdVersionOut, HouseholdsPage, MergeHouseholdsIn, NewHouseholdIn,
    ReasonIn, SplitIn, SplitOut, WarningOut,
};
use crate::extract::{ActingAs, Body, IfMatch};
use crate::problem::{ApiError, Problem};

fn household_response(
    status: StatusCode,
    view: &dspp_service::HouseholdView,
    warnings: &[dspp_service::Warning],
) -> Response {
    let out = HouseholdResponse {
        household: HouseholdOut::from(view),
        warnings: warnings.iter().map(WarningOut::from).collect(),
    };
    let location = (status == StatusCode::CREATED)
        .then(|| format!("/api/v1/households/{}", view.household.id.0));
    json_with_etag(status, &out, Some(view.household.version), location)
}

/// Enrol a household and all its members at once: every member gets a SPID, or nothing is written.
#[utoipa::path(post, path = "/api/v1/households", tag = "households", request_body = NewHouseholdIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = HouseholdResponse), (status = 422, body = Problem), (status = 403, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Body(body): Body<NewHouseholdIn>,
) -> Result<Response, ApiError> {
    let members = body
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| m.to_input(&format!("members[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let input = NewHousehold {
        village: body.village.clone(),
        address_detail: body.address_detail.clone(),
        members,
    };
    let (view, warnings) = state.registry.register_household(&actor, &input).await?;
    Ok(household_response(StatusCode::CREATED, &view, &warnings))
}

pub(crate) fn household_id(id: &str) -> Result<HouseholdId, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(HouseholdId)
        .map_err(|_| ApiError::not_found(format!("no household {id:?}")))
}

#[utoipa::path(get, path = "/api/v1/households/{id}", tag = "households", params(("id" = String, Path)),
    responses((status = 200, body = HouseholdResponse), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.registry.household(&actor, household_id(&id)?).await?;
    Ok(household_response(StatusCode::OK, &view, &[]))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// A commune code (6 digits) inside your scope
    pub commune: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/households", tag = "households", params(ListQuery), responses((status = 200, body = HouseholdsPage)))]
pub async fn list(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let after = decode_cursor(query.cursor.as_deref())?;
    let page = state
        .registry
        .list_households(
            &actor,
            query.commune.as_deref(),
            after,
            query.limit.unwrap_or(DEFAULT_PAGE),
        )
        .await?;
    let out = HouseholdsPage {
        items: page
            .items
            .iter()
            .map(|h| HouseholdSummary {
                id: h.id.0,
                version: h.version,
                village: h.village.to_string(),
                n_members: h.members.len(),
            })
            .collect(),
        next_cursor: page.next_after.map(encode_cursor),
    };
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

#[utoipa::path(get, path = "/api/v1/households/{id}/history", tag = "households", params(("id" = String, Path)),
    responses((status = 200, body = [HouseholdVersionOut])))]
pub async fn history(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let versions = state
        .registry
        .household_history(&actor, household_id(&id)?)
        .await?;
    let out: Vec<HouseholdVersionOut> = versions
        .iter()
        .map(|v| HouseholdVersionOut {
            change: (&v.change).into(),
            village: v.household.village.to_string(),
            address_detail: v.household.address_detail.clone(),
            dissolved: v.household.dissolved,
            members: v
                .household
                .members
                .iter()
                .map(|m| HouseholdMemberRef {
                    relationship: m.relationship.as_str(),
                    person_id: m.person.0,
                })
                .collect(),
        })
        .collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

/// Make another member head. Every other member's relationship to the new head is required.
#[utoipa::path(post, path = "/api/v1/households/{id}/head", tag = "households", params(("id" = String, Path), ("If-Match" = String, Header)),
    request_body = ChangeHeadIn, responses((status = 200, body = HouseholdResponse), (status = 412, body = Problem)))]
pub async fn change_head(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<ChangeHeadIn>,
) -> Result<Response, ApiError> {
    let new_head = dspp_domain::Spid::parse(&body.new_head)
        .map_err(|e| ApiError::invalid("new_head", e.reason))?;
    let relationships = relationships(&body.relationships, "relationships")?;
    let view = state
        .registry
        .change_head(
            &actor,
            household_id(&id)?,
            version,
            new_head,
            &relationships,
            &body.reason,
        )
        .await?;
    Ok(household_response(StatusCode::OK, &view, &[]))
}

/// Add a member: an existing person without a household (`spid`), or a new person (`person`).
#[utoipa::path(post, path = "/api/v1/households/{id}/members", tag = "households", params(("id" = String, Path), ("If-Match" = String, Header)),
    request_body = AddMemberIn, responses((status = 200, body = HouseholdResponse)))]
pub async fn add_member(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<AddMemberIn>,
) -> Result<Response, ApiError> {
    let existing = body.spid.as_deref().map(parse_spid).transpose()?;
    let new_person = body
        .person
        .as_ref()
        .map(|p| {
            Ok::<_, ApiError>(dspp_service::MemberInput {
                person: p.to_input(),
                relationship: body.relationship.clone(),
                offline: p.offline("person")?,
            })
        })
        .transpose()?;
    let (view, warnings) = state
        .registry
        .add_member(
            &actor,
            household_id(&id)?,
            version,
            existing,
            new_person.as_ref(),
            &body.relationship,
            &body.reason,
        )
        .await?;
    Ok(household_response(StatusCode::OK, &view, &warnings))
}

/// Take a member out of the household (moved away, or to be split off alone).
#[utoipa::path(post, path = "/api/v1/households/{id}/members/{spid}/removal", tag = "households",
    params(("id" = String, Path), ("spid" = String, Path), ("If-Match" = String, Header)),
    request_body = ReasonIn, responses((status = 200, body = HouseholdResponse)))]
pub async fn remove_member(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path((id, spid)): Path<(String, String)>,
    IfMatch(version): IfMatch,
    Body(body): Body<ReasonIn>,
) -> Result<Response, ApiError> {
    let view = state
        .registry
        .remove_member(
            &actor,
            household_id(&id)?,
            version,
            parse_spid(&spid)?,
            &body.reason,
        )
        .await?;
    Ok(household_response(StatusCode::OK, &view, &[]))
}

/// Split members off into a new household in the same village.
#[utoipa::path(post, path = "/api/v1/households/{id}/split", tag = "households", params(("id" = String, Path), ("If-Match" = String, Header)),
    request_body = SplitIn, responses((status = 201, body = SplitOut)))]
pub async fn split(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<SplitIn>,
) -> Result<Response, ApiError> {
    let leaving = relationships(&body.members, "members")?;
    let (old, new) = state
        .registry
        .split_household(
            &actor,
            household_id(&id)?,
            version,
            &leaving,
            body.address_detail.as_deref(),
            &body.reason,
        )
        .await?;
    let out = SplitOut {
        household: HouseholdOut::from(&old),
        new_household: HouseholdOut::from(&new),
    };
    let location = format!("/api/v1/households/{}", new.household.id.0);
    Ok(json_with_etag(
        StatusCode::CREATED,
        &out,
        Some(old.household.version),
        Some(location),
    ))
}

/// Merge another household into this one; the other is dissolved.
#[utoipa::path(post, path = "/api/v1/households/{id}/merge", tag = "households", params(("id" = String, Path), ("If-Match" = String, Header)),
    request_body = MergeHouseholdsIn, responses((status = 200, body = HouseholdResponse)))]
pub async fn merge(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<MergeHouseholdsIn>,
) -> Result<Response, ApiError> {
    let relationships = relationships(&body.relationships, "relationships")?;
    let view = state
        .registry
        .merge_households(
            &actor,
            household_id(&id)?,
            version,
            HouseholdId(body.other),
            body.other_version,
            &relationships,
            &body.reason,
        )
        .await?;
    Ok(household_response(StatusCode::OK, &view, &[]))
}
