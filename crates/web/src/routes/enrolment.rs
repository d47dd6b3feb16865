//! /api/v1 programs, eligibility, applications, decisions, delegations, life events and reports: the
//! enrolment workflow.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use dspp_domain::{CommuneCode, EnrolmentStatus, HouseholdId};
use dspp_service::{Decision, DefinitionFormat, NewApplication, NewDelegation, ProgramChoice};
use serde::Deserialize;

use super::households::household_id;
use super::json_with_etag;
use crate::AppState;
use crate::dto::enrolment::{
    ApplicationIn, ApplicationOut, BirthOut, DecisionsIn, DelegationIn, DelegationOut,
    DurationsOut, EligibilityIn, EnrolmentSummaryOut, MoveIn, OutboxItemOut, PovertyOverrideIn,
    PovertyStatusOut, ProgramCheckOut, ProgramOut, RecertificationIn, RecertificationOut,
    ResubmissionIn, answers_map, subject_answers, subject_ref,
};
use crate::dto::{HouseholdOut, HouseholdResponse, PersonIn, ReasonIn, WarningOut};
use crate::extract::{ActingAs, Body, IfMatch};
use crate::problem::{ApiError, Problem};

fn commune(text: &str) -> Result<CommuneCode, ApiError> {
    CommuneCode::parse(text).map_err(|e| ApiError::invalid("commune", e.reason))
}

/// Every program in force, with its questions and eligibility rules.
#[utoipa::path(get, path = "/api/v1/programs", tag = "programs", responses((status = 200, body = [ProgramOut])))]
pub async fn programs(
    State(state): State<AppState>,
    ActingAs(_actor): ActingAs,
) -> Result<Response, ApiError> {
    let programs = state.registry.programs().await?;
    let out: Vec<ProgramOut> = programs.iter().map(ProgramOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

#[utoipa::path(get, path = "/api/v1/programs/{code}", tag = "programs", params(("code" = String, Path)),
    responses((status = 200, body = ProgramOut), (status = 404, body = Problem)))]
pub async fn program(
    State(state): State<AppState>,
    ActingAs(_actor): ActingAs,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let program = state.registry.program(&code).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &ProgramOut::from(&program),
        None,
        None,
    ))
}

/// Load a new version of a program's definition: an XLSForm workbook
/// (`application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`) or its CSV form (`text/csv`).
/// A bad form is refused with every problem, by sheet, row and column.
#[utoipa::path(put, path = "/api/v1/programs/{code}", tag = "programs", params(("code" = String, Path)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ProgramOut), (status = 422, body = Problem), (status = 409, body = Problem)))]
pub async fn put_program(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let format = match content_type.as_str() {
        "text/csv" => DefinitionFormat::Csv,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => {
            DefinitionFormat::Xlsx
        }
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!(
                    "a program definition is sent as text/csv or as an .xlsx workbook, not {other:?}"
                ),
            ));
        }
    };
    let program = state
        .registry
        .put_program(&actor, Some(&code), format, &body)
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &ProgramOut::from(&program),
        None,
        None,
    ))
}

/// Which programs apply to each member (and the household), and why or why not. Nothing is written.
#[utoipa::path(post, path = "/api/v1/households/{id}/eligibility", tag = "enrolment", params(("id" = String, Path)),
    request_body = EligibilityIn, responses((status = 200, body = [ProgramCheckOut]), (status = 422, body = Problem)))]
pub async fn eligibility(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    Body(body): Body<EligibilityIn>,
) -> Result<Response, ApiError> {
    let answers = subject_answers(&body.answers)?;
    let checks = state
        .registry
        .check_eligibility(&actor, household_id(&id)?, &answers)
        .await?;
    let out: Vec<ProgramCheckOut> = checks.iter().map(ProgramCheckOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

fn application_response(status: StatusCode, view: &dspp_service::ApplicationView) -> Response {
    let location = (status == StatusCode::CREATED)
        .then(|| format!("/api/v1/applications/{}", view.application.id));
    json_with_etag(
        status,
        &ApplicationOut::from(view),
        Some(view.application.version),
        location,
    )
}

/// Submit one application covering every chosen program for the household's members.
#[utoipa::path(post, path = "/api/v1/applications", tag = "enrolment", request_body = ApplicationIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = ApplicationOut), (status = 422, body = Problem), (status = 409, body = Problem)))]
pub async fn submit(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Body(body): Body<ApplicationIn>,
) -> Result<Response, ApiError> {
    let answers = subject_answers(&body.answers)?;
    let mut programs = Vec::new();
    let mut problems = Vec::new();
    for (idx, choice) in body.programs.iter().enumerate() {
        match subject_ref(&choice.subject, &format!("programs[{idx}].subject")) {
            Ok(subject) => programs.push(ProgramChoice {
                program: choice.program.clone(),
                subject,
            }),
            Err(e) => problems.extend(e.errors().to_vec()),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_all(problems));
    }
    let input = NewApplication {
        household: HouseholdId(body.household_id),
        opened_at: body.opened_at,
        answers,
        programs,
    };
    let view = state.registry.submit_application(&actor, &input).await?;
    Ok(application_response(StatusCode::CREATED, &view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ApplicationsQuery {
    /// A commune code (6 digits) inside your scope
    pub commune: String,
    /// Only applications with a line in this status (`pending` is the chief's queue)
    pub status: Option<String>,
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/applications", tag = "enrolment", params(ApplicationsQuery),
    responses((status = 200, body = [ApplicationOut])))]
pub async fn list(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Query(query): Query<ApplicationsQuery>,
) -> Result<Response, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(EnrolmentStatus::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("status", e.reason))?;
    let views = state
        .registry
        .applications(
            &actor,
            commune(&query.commune)?,
            status,
            query.limit.unwrap_or(50),
        )
        .await?;
    let out: Vec<ApplicationOut> = views.iter().map(ApplicationOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "enrolment", params(("id" = String, Path)),
    responses((status = 200, body = ApplicationOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.registry.application(&actor, &id).await?;
    Ok(application_response(StatusCode::OK, &view))
}

/// Approve or reject lines of an application, all in one act. Each line's next approval step must be
/// yours (or a chief's you hold a delegation from); never an application you submitted.
#[utoipa::path(post, path = "/api/v1/applications/{id}/decisions", tag = "enrolment", params(("id" = String, Path)),
    request_body = DecisionsIn,
    responses((status = 200, body = ApplicationOut), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn decide(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    Body(body): Body<DecisionsIn>,
) -> Result<Response, ApiError> {
    let mut decisions = Vec::new();
    for (idx, d) in body.decisions.iter().enumerate() {
        let approve = match d.decision.as_str() {
            "approve" => true,
            "reject" => false,
            other => {
                return Err(ApiError::invalid(
                    &format!("decisions[{idx}].decision"),
                    format!("{other:?} is not a decision; approve or reject"),
                ));
            }
        };
        decisions.push(Decision {
            enrolment_id: d.enrolment_id.clone(),
            approve,
            reason: d.reason.clone(),
        });
    }
    let view = state.registry.decide(&actor, &id, &decisions).await?;
    Ok(application_response(StatusCode::OK, &view))
}

/// Send corrected rejected lines back for approval (If-Match: the application's ETag).
#[utoipa::path(post, path = "/api/v1/applications/{id}/resubmission", tag = "enrolment",
    params(("id" = String, Path), ("If-Match" = String, Header)), request_body = ResubmissionIn,
    responses((status = 200, body = ApplicationOut), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn resubmit(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<ResubmissionIn>,
) -> Result<Response, ApiError> {
    let answers = subject_answers(&body.answers)?;
    let view = state
        .registry
        .resubmit(&actor, &id, version, &body.enrolments, &answers)
        .await?;
    Ok(application_response(StatusCode::OK, &view))
}

/// A commune chief delegates approval in their commune to a named officer for a period.
#[utoipa::path(post, path = "/api/v1/delegations", tag = "enrolment", request_body = DelegationIn,
    responses((status = 201, body = DelegationOut), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn grant(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Body(body): Body<DelegationIn>,
) -> Result<Response, ApiError> {
    let grant = state
        .registry
        .grant_delegation(
            &actor,
            &NewDelegation {
                delegate: body.delegate,
                letter_reference: body.letter_reference,
                valid_from: body.valid_from,
                valid_until: body.valid_until,
            },
        )
        .await?;
    let location = format!("/api/v1/delegations/{}", grant.id);
    Ok(json_with_etag(
        StatusCode::CREATED,
        &DelegationOut::from(&grant),
        None,
        Some(location),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CommuneQuery {
    pub commune: String,
}

#[utoipa::path(get, path = "/api/v1/delegations", tag = "enrolment", params(CommuneQuery),
    responses((status = 200, body = [DelegationOut])))]
pub async fn delegations(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Query(query): Query<CommuneQuery>,
) -> Result<Response, ApiError> {
    let grants = state
        .registry
        .delegations(&actor, commune(&query.commune)?)
        .await?;
    let out: Vec<DelegationOut> = grants.iter().map(DelegationOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

#[utoipa::path(post, path = "/api/v1/delegations/{id}/revocation", tag = "enrolment", params(("id" = String, Path)),
    request_body = ReasonIn, responses((status = 200, body = DelegationOut), (status = 403, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    Body(body): Body<ReasonIn>,
) -> Result<Response, ApiError> {
    let grant = state
        .registry
        .revoke_delegation(&actor, &id, &body.reason)
        .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &DelegationOut::from(&grant),
        None,
        None,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// A commune code; national readers may leave it out
    pub commune: Option<String>,
    pub program: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// How long enrolments took per program: opened → submitted → decided → delivered.
#[utoipa::path(get, path = "/api/v1/reports/enrolment-durations", tag = "reports", params(ReportQuery),
    responses((status = 200, body = [DurationsOut])))]
pub async fn durations(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let filter = dspp_service::ReportFilter {
        commune: query.commune.as_deref().map(commune).transpose()?,
        program: query.program.clone(),
        submitted_from: query.from,
        submitted_until: query.until,
    };
    let report = state.registry.enrolment_durations(&actor, &filter).await?;
    let out: Vec<DurationsOut> = report.iter().map(DurationsOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

#[utoipa::path(get, path = "/api/v1/households/{id}/poverty-status", tag = "enrolment", params(("id" = String, Path)),
    responses((status = 200, body = [PovertyStatusOut])))]
pub async fn poverty_statuses(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rows = state
        .registry
        .poverty_statuses(&actor, household_id(&id)?)
        .await?;
    let out: Vec<PovertyStatusOut> = rows.iter().map(PovertyStatusOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

/// The council overrides a household's computed poverty status, with a recorded reason.
#[utoipa::path(post, path = "/api/v1/households/{id}/poverty-status", tag = "enrolment", params(("id" = String, Path)),
    request_body = PovertyOverrideIn, responses((status = 200, body = [PovertyStatusOut]), (status = 403, body = Problem)))]
pub async fn override_poverty(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    Body(body): Body<PovertyOverrideIn>,
) -> Result<Response, ApiError> {
    let rows = state
        .registry
        .override_poverty_status(&actor, household_id(&id)?, &body.status, &body.reason)
        .await?;
    let out: Vec<PovertyStatusOut> = rows.iter().map(PovertyStatusOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

/// A child is born into the household (If-Match: the household's ETag). The answer lists the programs
/// the child may now join.
#[utoipa::path(post, path = "/api/v1/households/{id}/births", tag = "life events",
    params(("id" = String, Path), ("If-Match" = String, Header)), request_body = PersonIn,
    responses((status = 201, body = BirthOut), (status = 422, body = Problem)))]
pub async fn birth(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<PersonIn>,
) -> Result<Response, ApiError> {
    let child = body.to_input();
    let (view, warnings, checks) = state
        .registry
        .record_birth(&actor, household_id(&id)?, version, &child)
        .await?;
    let out = BirthOut {
        household: HouseholdOut::from(&view),
        warnings: warnings.iter().map(WarningOut::from).collect(),
        programs: checks.iter().map(ProgramCheckOut::from).collect(),
    };
    Ok(json_with_etag(
        StatusCode::CREATED,
        &out,
        Some(view.household.version),
        None,
    ))
}

/// The household moves to another village with all its members; running enrolments follow.
#[utoipa::path(post, path = "/api/v1/households/{id}/move", tag = "life events",
    params(("id" = String, Path), ("If-Match" = String, Header)), request_body = MoveIn,
    responses((status = 200, body = HouseholdResponse), (status = 422, body = Problem)))]
pub async fn move_household(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    Body(body): Body<MoveIn>,
) -> Result<Response, ApiError> {
    let view = state
        .registry
        .move_household(
            &actor,
            household_id(&id)?,
            version,
            &body.village,
            &body.reason,
        )
        .await?;
    let out = HouseholdResponse {
        household: HouseholdOut::from(&view),
        warnings: Vec::new(),
    };
    Ok(json_with_etag(
        StatusCode::OK,
        &out,
        Some(view.household.version),
        None,
    ))
}

/// Re-verify a running enrolment with this year's answers.
#[utoipa::path(post, path = "/api/v1/enrolments/{id}/recertification", tag = "life events",
    params(("id" = String, Path)), request_body = RecertificationIn,
    responses((status = 200, body = RecertificationOut), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn recertify(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(id): Path<String>,
    Body(body): Body<RecertificationIn>,
) -> Result<Response, ApiError> {
    let answers = answers_map(&body.answers, "answers").map_err(ApiError::invalid_all)?;
    let (row, check) = state.registry.recertify(&actor, &id, &answers).await?;
    let out = RecertificationOut {
        enrolment: EnrolmentSummaryOut::from(&row),
        check: ProgramCheckOut::from(&check),
    };
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RecertificationQuery {
    pub commune: String,
    /// Due on or before this date (default: today)
    pub by: Option<chrono::NaiveDate>,
}

#[utoipa::path(get, path = "/api/v1/recertifications", tag = "life events", params(RecertificationQuery),
    responses((status = 200, body = [EnrolmentSummaryOut])))]
pub async fn recertifications_due(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Query(query): Query<RecertificationQuery>,
) -> Result<Response, ApiError> {
    let by = query.by.unwrap_or_else(|| state.registry.today());
    let rows = state
        .registry
        .recertifications_due(&actor, commune(&query.commune)?, by)
        .await?;
    let out: Vec<EnrolmentSummaryOut> = rows.iter().map(EnrolmentSummaryOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

/// Messages to operators and the national ID service that are not done yet, with their last error.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "operations", responses((status = 200, body = [OutboxItemOut])))]
pub async fn outbox(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
) -> Result<Response, ApiError> {
    if !matches!(
        actor.role,
        dspp_domain::Role::NationalAdministrator
            | dspp_domain::Role::Auditor
            | dspp_domain::Role::System
    ) {
        return Err(dspp_service::ServiceError::Forbidden(
            "the outbox is shown to national administrators and auditors".into(),
        )
        .into());
    }
    let items = state.registry.outbox_open(500).await?;
    let out: Vec<OutboxItemOut> = items.iter().map(OutboxItemOut::from).collect();
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}
