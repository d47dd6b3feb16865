//! DTOs of the enrolment workflow: programs, eligibility, applications, decisions, delegations, reports.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use dspp_domain::{DelegationGrant, Spid};
use dspp_service::{
    Answer, ApplicationView, ApprovalRow, EnrolmentRow, EnrolmentView, OutboxItem,
    PovertyStatusRow, ProgramCheck, ProgramDurations, ProgramView, StageDurations, StatusEvent,
    SubjectAnswers, SubjectRef,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{HouseholdOut, WarningOut};
use crate::problem::{ApiError, FieldError};

/// A question of a program's form, for a client to render.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionOut {
    pub name: String,
    /// `integer`, `decimal`, `text`, `date`, `select_one`, `select_multiple`, `note`, `acknowledge`
    pub kind: String,
    pub label_en: String,
    pub label_km: String,
    pub required: bool,
    /// The XLSForm `relevant` expression, when the question is conditional.
    pub relevant: Option<String>,
    pub choices: Vec<ChoiceOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChoiceOut {
    pub name: String,
    pub label_en: String,
    pub label_km: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramOut {
    pub code: String,
    pub version: String,
    pub title_en: String,
    pub title_km: String,
    pub operator: String,
    /// `person` or `household`
    pub level: String,
    /// The approval chain, in order (`commune_chief`, …)
    pub approval: Vec<String>,
    /// The operator endpoint its enrolments are delivered to
    pub delivery: String,
    pub sha256: String,
    pub loaded_at: DateTime<Utc>,
    pub loaded_by: String,
    pub questions: Vec<QuestionOut>,
    pub eligibility: Vec<RuleOut>,
}

impl From<&ProgramView> for ProgramOut {
    fn from(view: &ProgramView) -> Self {
        let definition = &view.definition;
        ProgramOut {
            code: definition.code.clone(),
            version: definition.version.clone(),
            title_en: definition.title.en.clone(),
            title_km: definition.title.km.clone(),
            operator: definition.operator.clone(),
            level: match definition.level {
                dspp_forms::Level::Person => "person",
                dspp_forms::Level::Household => "household",
            }
            .into(),
            approval: definition
                .approval
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            delivery: definition.delivery.clone(),
            sha256: view.sha256.clone(),
            loaded_at: view.loaded_at,
            loaded_by: view.loaded_by.clone(),
            questions: definition
                .questions()
                .iter()
                .filter(|q| {
                    q.kind.is_answerable() || matches!(q.kind, dspp_forms::QuestionKind::Note)
                })
                .map(|q| QuestionOut {
                    name: q.name.clone(),
                    kind: q.kind.type_text(),
                    label_en: q.label.en.clone(),
                    label_km: q.label.km.clone(),
                    required: q.required,
                    relevant: q.relevant.as_ref().map(|e| e.text.clone()),
                    choices: q
                        .kind
                        .list()
                        .and_then(|list| definition.choices(list))
                        .unwrap_or(&[])
                        .iter()
                        .map(|c| ChoiceOut {
                            name: c.name.clone(),
                            label_en: c.label.en.clone(),
                            label_km: c.label.km.clone(),
                        })
                        .collect(),
                })
                .collect(),
            eligibility: definition
                .rules()
                .iter()
                .map(|rule| RuleOut {
                    name: rule.name.clone(),
                    passed: None,
                    label_en: rule.label.en.clone(),
                    label_km: rule.label.km.clone(),
                })
                .collect(),
        }
    }
}

/// A rule of a program's eligibility, with its outcome when evaluated.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleOut {
    pub name: String,
    pub passed: Option<bool>,
    pub label_en: String,
    pub label_km: String,
}

/// The answers for one subject: `household`, or a member's SPID. Values are JSON booleans, numbers,
/// strings (dates as `YYYY-MM-DD`, a select_one choice's name) or arrays of choice names.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectAnswersIn {
    pub subject: String,
    #[schema(value_type = Object)]
    pub answers: serde_json::Map<String, serde_json::Value>,
}

pub fn subject_ref(text: &str, field: &str) -> Result<SubjectRef, ApiError> {
    if text == "household" {
        return Ok(SubjectRef::Household);
    }
    Spid::parse(text).map(SubjectRef::Person).map_err(|e| {
        ApiError::invalid(
            field,
            format!("\"household\" or a member's SPID: {}", e.reason),
        )
    })
}

pub fn subject_text(subject: SubjectRef) -> String {
    match subject {
        SubjectRef::Household => "household".into(),
        SubjectRef::Person(spid) => spid.to_string(),
    }
}

pub fn answers_map(
    answers: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<BTreeMap<String, Answer>, Vec<FieldError>> {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, value) in answers {
        let answer = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::Bool(b) => Answer::Bool(*b),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(n) => Answer::Number(n),
                None => {
                    problems.push(FieldError {
                        field: format!("{field}.{name}"),
                        reason: "a number out of range".into(),
                    });
                    continue;
                }
            },
            serde_json::Value::String(s) => Answer::Text(s.clone()),
            serde_json::Value::Array(items) => {
                let texts: Option<Vec<String>> = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect();
                match texts {
                    Some(list) => Answer::Choices(list),
                    None => {
                        problems.push(FieldError {
                            field: format!("{field}.{name}"),
                            reason: "a list of answers holds choice names (strings) only".into(),
                        });
                        continue;
                    }
                }
            }
            serde_json::Value::Object(_) => {
                problems.push(FieldError {
                    field: format!("{field}.{name}"),
                    reason: "an answer is a boolean, number, string or list of strings".into(),
                });
                continue;
            }
        };
        out.insert(name.clone(), answer);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

pub fn subject_answers(items: &[SubjectAnswersIn]) -> Result<Vec<SubjectAnswers>, ApiError> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (idx, item) in items.iter().enumerate() {
        let field = format!("answers[{idx}]");
        let subject = match subject_ref(&item.subject, &format!("{field}.subject")) {
            Ok(subject) => Some(subject),
            Err(e) => {
                problems.extend(e.errors().to_vec());
                None
            }
        };
        match answers_map(&item.answers, &format!("{field}.answers")) {
            Ok(answers) => {
                if let Some(subject) = subject {
                    out.push(SubjectAnswers { subject, answers });
                }
            }
            Err(more) => problems.extend(more),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::invalid_all(problems))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EligibilityIn {
    #[serde(default)]
    pub answers: Vec<SubjectAnswersIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramCheckOut {
    pub program: String,
    pub version: String,
    pub title_en: String,
    pub title_km: String,
    /// `household` or the member's SPID
    pub subject: String,
    pub eligible: bool,
    /// Why (and why not): every eligibility rule with its outcome
    pub rules: Vec<RuleOut>,
    /// Missing, malformed or contradictory answers
    pub problems: Vec<FieldError>,
    pub score: Option<f64>,
    pub status: Option<String>,
}

impl From<&ProgramCheck> for ProgramCheckOut {
    fn from(check: &ProgramCheck) -> Self {
        ProgramCheckOut {
            program: check.program.clone(),
            version: check.version.clone(),
            title_en: check.title.en.clone(),
            title_km: check.title.km.clone(),
            subject: subject_text(check.subject),
            eligible: check.eligible,
            rules: check
                .rules
                .iter()
                .map(|r| RuleOut {
                    name: r.name.clone(),
                    passed: Some(r.passed),
                    label_en: r.label.en.clone(),
                    label_km: r.label.km.clone(),
                })
                .collect(),
            problems: check
                .problems
                .iter()
                .map(|p| FieldError {
                    field: p.field.clone(),
                    reason: p.reason.clone(),
                })
                .collect(),
            score: check.score,
            status: check.status.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramChoiceIn {
    pub program: String,
    /// `household` or a member's SPID
    pub subject: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationIn {
    pub household_id: uuid::Uuid,
    /// When the officer opened the form on the device, for the timing reports
    pub opened_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub answers: Vec<SubjectAnswersIn>,
    pub programs: Vec<ProgramChoiceIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalOut {
    pub step: u32,
    pub step_role: String,
    /// `approved` or `rejected`
    pub decision: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// Who acted
    pub by: String,
    pub by_role: String,
    /// Whose authority, when acting under a delegation
    pub on_behalf_of: Option<String>,
    pub delegation_id: Option<String>,
    pub delegation_reference: Option<String>,
}

impl From<&ApprovalRow> for ApprovalOut {
    fn from(row: &ApprovalRow) -> Self {
        ApprovalOut {
            step: row.step,
            step_role: row.step_role.clone(),
            decision: row.decision.clone(),
            reason: row.reason.clone(),
            at: row.at,
            by: row.actor_subject.clone(),
            by_role: row.actor_role.clone(),
            on_behalf_of: row.on_behalf_of.clone(),
            delegation_id: row.delegation_id.clone(),
            delegation_reference: row.delegation_reference.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub destination: String,
    /// `pending`, `done` or `failed`
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentOut {
    pub id: String,
    pub application_id: String,
    pub program: String,
    pub program_version: String,
    pub title_en: String,
    pub title_km: String,
    /// `household` or the member's SPID
    pub subject: String,
    pub person_name: Option<String>,
    /// `pending`, `rejected`, `approved`, `delivered` or `ended`
    pub status: String,
    pub rules: Vec<RuleOut>,
    pub score: Option<f64>,
    pub poverty_status: Option<String>,
    pub approvals: Vec<ApprovalOut>,
    pub delivery: Option<DeliveryOut>,
    pub beneficiary_id: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub recertify_by: Option<NaiveDate>,
}

impl From<&EnrolmentView> for EnrolmentOut {
    fn from(view: &EnrolmentView) -> Self {
        let row = &view.row;
        EnrolmentOut {
            id: row.id.clone(),
            application_id: row.application_id.clone(),
            program: row.program_code.clone(),
            program_version: row.program_version.clone(),
            title_en: view.program_title_en.clone(),
            title_km: view.program_title_km.clone(),
            subject: view
                .spid
                .map_or_else(|| "household".to_string(), |s| s.to_string()),
            person_name: view.person_name.clone(),
            status: row.status.as_str().into(),
            rules: view
                .eligible_rules
                .iter()
                .map(|(name, passed, en, km)| RuleOut {
                    name: name.clone(),
                    passed: Some(*passed),
                    label_en: en.clone(),
                    label_km: km.clone(),
                })
                .collect(),
            score: view.score,
            poverty_status: view.poverty_status.clone(),
            approvals: view.approvals.iter().map(ApprovalOut::from).collect(),
            delivery: view.delivery.as_ref().map(|d| DeliveryOut {
                destination: d.destination.clone(),
                status: d.status.clone(),
                attempts: d.attempts,
                last_error: d.last_error.clone(),
                next_attempt_at: d.next_attempt_at,
                done_at: d.done_at,
            }),
            beneficiary_id: row.beneficiary_id.clone(),
            opened_at: row.opened_at,
            submitted_at: row.submitted_at,
            decided_at: row.decided_at,
            decision_reason: row.decision_reason.clone(),
            approved_at: row.approved_at,
            delivered_at: row.delivered_at,
            ended_at: row.ended_at,
            end_reason: row.end_reason.clone(),
            recertify_by: row.recertify_by,
        }
    }
}

/// An enrolment as listed (reports, recertification): without the application's detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentSummaryOut {
    pub id: String,
    pub application_id: String,
    pub program: String,
    pub program_version: String,
    pub household_id: String,
    pub person_id: Option<String>,
    pub commune: String,
    pub status: String,
    pub beneficiary_id: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub recertify_by: Option<NaiveDate>,
}

impl From<&EnrolmentRow> for EnrolmentSummaryOut {
    fn from(row: &EnrolmentRow) -> Self {
        EnrolmentSummaryOut {
            id: row.id.clone(),
            application_id: row.application_id.clone(),
            program: row.program_code.clone(),
            program_version: row.program_version.clone(),
            household_id: row.household_id.clone(),
            person_id: row.person_id.clone(),
            commune: row.commune.to_string(),
            status: row.status.as_str().into(),
            beneficiary_id: row.beneficiary_id.clone(),
            submitted_at: row.submitted_at,
            approved_at: row.approved_at,
            delivered_at: row.delivered_at,
            ended_at: row.ended_at,
            end_reason: row.end_reason.clone(),
            recertify_by: row.recertify_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusEventOut {
    pub enrolment_id: Option<String>,
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime<Utc>,
    pub by: String,
    pub on_behalf_of: Option<String>,
    pub note: Option<String>,
}

impl From<&StatusEvent> for StatusEventOut {
    fn from(event: &StatusEvent) -> Self {
        StatusEventOut {
            enrolment_id: event.enrolment_id.clone(),
            from: event.from_status.clone(),
            to: event.to_status.clone(),
            at: event.at,
            by: event.actor_subject.clone(),
            on_behalf_of: event.on_behalf_of.clone(),
            note: event.note.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationOut {
    pub id: String,
    pub version: u32,
    pub household_id: String,
    pub commune: String,
    pub submitted_by: String,
    /// Everyone who submitted or resubmitted it: none of them may approve it
    pub submitters: Vec<String>,
    pub opened_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub enrolments: Vec<EnrolmentOut>,
    pub events: Vec<StatusEventOut>,
}

impl From<&ApplicationView> for ApplicationOut {
    fn from(view: &ApplicationView) -> Self {
        let a = &view.application;
        ApplicationOut {
            id: a.id.clone(),
            version: a.version,
            household_id: a.household_id.clone(),
            commune: a.commune.to_string(),
            submitted_by: a.submitted_by.clone(),
            submitters: a.submitters.clone(),
            opened_at: a.opened_at,
            submitted_at: a.submitted_at,
            enrolments: view.enrolments.iter().map(EnrolmentOut::from).collect(),
            events: view.events.iter().map(StatusEventOut::from).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    pub enrolment_id: String,
    /// `approve` or `reject`
    pub decision: String,
    /// Required for a rejection
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionsIn {
    pub decisions: Vec<DecisionIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResubmissionIn {
    /// The rejected lines being sent back
    pub enrolments: Vec<String>,
    #[serde(default)]
    pub answers: Vec<SubjectAnswersIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationIn {
    /// The officer who may approve on the chief's behalf
    pub delegate: String,
    /// The delegation letter or decision
    pub letter_reference: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationOut {
    pub id: String,
    pub principal: String,
    pub delegate: String,
    pub commune: String,
    pub letter_reference: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&DelegationGrant> for DelegationOut {
    fn from(grant: &DelegationGrant) -> Self {
        DelegationOut {
            id: grant.id.clone(),
            principal: grant.principal.clone(),
            delegate: grant.delegate.clone(),
            commune: grant.commune.to_string(),
            letter_reference: grant.letter_reference.clone(),
            valid_from: grant.valid_from,
            valid_until: grant.valid_until,
            revoked_at: grant.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageOut {
    pub count: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    pub max_seconds: Option<i64>,
}

impl From<&StageDurations> for StageOut {
    fn from(s: &StageDurations) -> Self {
        StageOut {
            count: s.count,
            median_seconds: s.median_seconds,
            p90_seconds: s.p90_seconds,
            max_seconds: s.max_seconds,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DurationsOut {
    pub program: String,
    pub by_status: BTreeMap<String, usize>,
    pub open_to_submit: StageOut,
    pub submit_to_decision: StageOut,
    pub approve_to_deliver: StageOut,
    pub open_to_deliver: StageOut,
}

impl From<&ProgramDurations> for DurationsOut {
    fn from(d: &ProgramDurations) -> Self {
        DurationsOut {
            program: d.program.clone(),
            by_status: d.by_status.clone(),
            open_to_submit: (&d.open_to_submit).into(),
            submit_to_decision: (&d.submit_to_decision).into(),
            approve_to_deliver: (&d.approve_to_deliver).into(),
            open_to_deliver: (&d.open_to_deliver).into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PovertyOverrideIn {
    /// `idpoor1`, `idpoor2`, `at_risk` or `non_poor`
    pub status: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PovertyStatusOut {
    pub status: String,
    pub computed_status: Option<String>,
    pub score: Option<f64>,
    pub override_reason: Option<String>,
    pub enrolment_id: Option<String>,
    pub at: DateTime<Utc>,
    pub by: String,
}

impl From<&PovertyStatusRow> for PovertyStatusOut {
    fn from(row: &PovertyStatusRow) -> Self {
        PovertyStatusOut {
            status: row.status.clone(),
            computed_status: row.computed_status.clone(),
            score: row.score,
            override_reason: row.override_reason.clone(),
            enrolment_id: row.enrolment_id.clone(),
            at: row.at,
            by: row.actor_subject.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveIn {
    /// The new village (8 digits)
    pub village: String,
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecertificationIn {
    #[schema(value_type = Object)]
    #[serde(default)]
    pub answers: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecertificationOut {
    pub enrolment: EnrolmentSummaryOut,
    pub check: ProgramCheckOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxItemOut {
    pub id: String,
    pub kind: String,
    pub destination: String,
    pub subject_id: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&OutboxItem> for OutboxItemOut {
    fn from(item: &OutboxItem) -> Self {
        OutboxItemOut {
            id: item.id.clone(),
            kind: item.kind.clone(),
            destination: item.destination.clone(),
            subject_id: item.subject_id.clone(),
            status: item.status.clone(),
            attempts: item.attempts,
            next_attempt_at: item.next_attempt_at,
            last_error: item.last_error.clone(),
            created_at: item.created_at,
        }
    }
}

/// A birth recorded: the household now, and the programs the child may join.
#[derive(Debug, Serialize, ToSchema)]
pub struct BirthOut {
    pub household: HouseholdOut,
    pub warnings: Vec<WarningOut>,
    pub programs: Vec<ProgramCheckOut>,
}
