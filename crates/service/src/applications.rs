//! One submission, many programs: the officer answers each member's questions once; every program in force
//! is evaluated for every member it concerns (and the household), showing which apply and why or why not;
//! one application carries the chosen programs; the approval chain decides each line; approved lines go
//! to their operators through the outbox.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use dspp_domain::{
    Actor, Authority, EnrolmentStatus, Household, HouseholdId, Person, Relationship, Role, Spid,
    approval_authority,
};
use dspp_forms::{Level, Localized, ProgramDefinition, RuleOutcome, Value};
use dspp_store::{
    ApplicationRow, ApprovalRow, Change, EnrolmentRow, OutboxItem, PovertyStatusRow, StatusEvent,
    Tx,
};
use serde::{Deserialize, Serialize};

use crate::programs::ProgramView;
use crate::{FieldProblem, Registry, ServiceError, authorize_read, authorize_write};

/// An answer as the officer gave it, before the form gives it a type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Bool(bool),
    Number(f64),
    Text(String),
    Choices(Vec<String>),
}

/// Whom a program line is for: the household, or one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectRef {
    Household,
    Person(Spid),
}

/// The answers given for one subject (a member, or the household), shared by every program that asks.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectAnswers {
    pub subject: SubjectRef,
    pub answers: BTreeMap<String, Answer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramChoice {
    pub program: String,
    pub subject: SubjectRef,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub household: HouseholdId,
    /// When the officer opened the form (from the device), for the timing reports.
    pub opened_at: Option<DateTime<Utc>>,
    pub answers: Vec<SubjectAnswers>,
    pub programs: Vec<ProgramChoice>,
}

/// One program evaluated for one subject: whether it applies, and why or why not.
#[derive(Debug, Clone)]
pub struct ProgramCheck {
    pub program: String,
    pub version: String,
    pub title: Localized,
    pub subject: SubjectRef,
    pub eligible: bool,
    pub rules: Vec<RuleOutcome>,
    /// Missing, malformed or contradictory answers; the line cannot be submitted until they are fixed.
    pub problems: Vec<FieldProblem>,
    /// The problems with answers the officer gave (malformed, out of range, or answering a question that
    /// does not apply): these refuse a submission even for programs not chosen, since the form is one.
    pub answer_problems: Vec<FieldProblem>,
    pub score: Option<f64>,
    pub status: Option<String>,
}

/// A decision on one line of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub enrolment_id: String,
    pub approve: bool,
    pub reason: Option<String>,
}

/// A program evaluated for a subject, with the answers of the subject that its form asks.
pub(crate) type CheckedLine = (ProgramCheck, BTreeMap<String, Answer>);

/// What is stored with each enrolment about its evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredEvaluation {
    pub eligible: bool,
    pub rules: Vec<StoredRule>,
    pub score: Option<f64>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredRule {
    pub name: String,
    pub passed: bool,
    pub en: String,
    pub km: String,
}

/// The household and its living members, as programs see them.
pub(crate) struct HouseholdFacts {
    pub household: Household,
    pub members: Vec<(Person, Relationship)>,
    pub idpoor_status: Option<String>,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value)
        .map_err(|e| ServiceError::Internal(dspp_store::StoreError::Corrupt(e.to_string())))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ServiceError> {
    serde_json::from_str(text)
        .map_err(|e| ServiceError::Internal(dspp_store::StoreError::Corrupt(e.to_string())))
}

fn age_in_months(person: &Person, today: NaiveDate) -> Option<u32> {
    let birth = &person.record.birth_date;
    let (year, month) = (i32::from(birth.year()?), u32::from(birth.month()?));
    let day = birth.day().map(u32::from).unwrap_or(1);
    let born = NaiveDate::from_ymd_opt(year, month, day)?;
    let mut months = (today.year() - born.year()) * 12 + today.month() as i32 - born.month() as i32;
    if today.day() < born.day() {
        months -= 1;
    }
    u32::try_from(months).ok()
}

/// The facts the platform gives every program about a subject (`dspp_forms::CONTEXT`).
fn context_for(
    facts: &HouseholdFacts,
    person: Option<&(Person, Relationship)>,
    idpoor_status: Option<&str>,
    today: NaiveDate,
) -> BTreeMap<String, Value> {
    let mut context = BTreeMap::new();
    let n_under_2 = facts
        .members
        .iter()
        .filter(|(p, _)| age_in_months(p, today).is_some_and(|m| m < 24))
        .count();
    context.insert(
        "household_size".to_string(),
        Value::Integer(facts.members.len() as i64),
    );
    context.insert(
        "children_under_2".to_string(),
        Value::Integer(n_under_2 as i64),
    );
    context.insert(
        "idpoor_status".to_string(),
        idpoor_status.map_or(Value::Empty, |s| Value::Text(s.to_string())),
    );
    if let Some((person, relationship)) = person {
        let record = &person.record;
        context.insert(
            "age".to_string(),
            record
                .birth_date
                .age_on(today)
                .map_or(Value::Empty, |a| Value::Integer(i64::from(a))),
        );
        context.insert(
            "age_months".to_string(),
            age_in_months(person, today).map_or(Value::Empty, |a| Value::Integer(i64::from(a))),
        );
        context.insert(
            "sex".to_string(),
            Value::Text(record.sex.as_str().to_string()),
        );
        context.insert(
            "is_head".to_string(),
            Value::Bool(*relationship == Relationship::Head),
        );
        context.insert("deceased".to_string(), Value::Bool(record.death.is_some()));
    }
    context
}

/// The questions a person answers (not calculations or notes).
pub(crate) fn question_names(definition: &ProgramDefinition) -> Vec<String> {
    definition
        .questions()
        .iter()
        .filter(|q| q.kind.is_answerable())
        .map(|q| q.name.clone())
        .collect()
}

fn to_value(definition: &ProgramDefinition, field: &str, answer: &Answer) -> Result<Value, String> {
    let text = match answer {
        // A yes/no question is a select_one of `yes` and `no` in XLSForm.
        Answer::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Answer::Choices(list) => {
            return definition
                .answer_from_text(field, &list.join(" "))
                .map_err(|p| p.message.en);
        }
        Answer::Number(n) => n.to_string(),
        Answer::Text(t) => t.clone(),
    };
    definition
        .answer_from_text(field, &text)
        .map_err(|p| p.message.en)
}

fn subject_label(subject: SubjectRef) -> String {
    match subject {
        SubjectRef::Household => "household".into(),
        SubjectRef::Person(spid) => spid.to_string(),
    }
}

impl Registry {
    pub(crate) async fn household_facts(
        &self,
        tx: &mut Tx,
        household_id: HouseholdId,
    ) -> Result<HouseholdFacts, ServiceError> {
        let household = tx
            .household(household_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("household {household_id}")))?;
        if household.dissolved {
            return Err(ServiceError::Conflict(
                "this household was dissolved; enrol the household its members now belong to"
                    .into(),
            ));
        }
        let mut members = Vec::new();
        for member in &household.members {
            if let Some(person) = tx.person(member.person).await?
                && person.record.death.is_none()
                && person.merged_into.is_none()
            {
                members.push((person, member.relationship));
            }
        }
        let idpoor_status = tx
            .poverty_statuses(&household_id.to_string())
            .await?
            .pop()
            .map(|row| row.status);
        Ok(HouseholdFacts {
            household,
            members,
            idpoor_status,
        })
    }

    /// Evaluates every program in force for every subject it concerns. Answers that no program asks for,
    /// or for someone outside the household, are refused; problems within a program's own questions are
    /// reported on its line.
    pub(crate) fn evaluate_all(
        &self,
        programs: &[ProgramView],
        facts: &HouseholdFacts,
        answers: &[SubjectAnswers],
    ) -> Result<Vec<CheckedLine>, ServiceError> {
        let today = self.today();
        let mut problems = Vec::new();
        let mut by_subject: BTreeMap<SubjectRef, &BTreeMap<String, Answer>> = BTreeMap::new();
        let known: BTreeSet<String> = programs
            .iter()
            .flat_map(|p| question_names(&p.definition))
            .collect();
        for (idx, given) in answers.iter().enumerate() {
            if let SubjectRef::Person(spid) = given.subject
                && !facts.members.iter().any(|(p, _)| p.spid == spid)
            {
                problems.push(FieldProblem {
                    field: format!("answers[{idx}].subject"),
                    reason: format!("{spid} is not a living member of this household"),
                });
            }
            if by_subject.insert(given.subject, &given.answers).is_some() {
                problems.push(FieldProblem {
                    field: format!("answers[{idx}].subject"),
                    reason: format!(
                        "answers for {} are given twice",
                        subject_label(given.subject)
                    ),
                });
            }
            for name in given.answers.keys() {
                if !known.contains(name) {
                    problems.push(FieldProblem {
                        field: format!("answers[{idx}].answers.{name}"),
                        reason: "no program in force asks this question".into(),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let empty = BTreeMap::new();
        // A scoring questionnaire in the same submission gives the household its poverty status for the
        // other programs' rules; otherwise the status on record counts.
        let mut idpoor_status = facts.idpoor_status.clone();
        let mut ordered: Vec<&ProgramView> = programs.iter().collect();
        ordered.sort_by_key(|p| p.definition.status_field.is_none());
        let mut checks = Vec::new();
        for program in ordered {
            let definition = &program.definition;
            let subjects: Vec<(SubjectRef, Option<&(Person, Relationship)>)> =
                match definition.level {
                    Level::Household => vec![(SubjectRef::Household, None)],
                    Level::Person => facts
                        .members
                        .iter()
                        .map(|m| (SubjectRef::Person(m.0.spid), Some(m)))
                        .collect(),
                };
            let own: BTreeSet<String> = question_names(definition).into_iter().collect();
            for (subject, member) in subjects {
                let given = by_subject.get(&subject).copied().unwrap_or(&empty);
                let mut line_problems = Vec::new();
                let mut typed = BTreeMap::new();
                let mut used = BTreeMap::new();
                for (name, answer) in given.iter().filter(|(name, _)| own.contains(*name)) {
                    used.insert(name.clone(), answer.clone());
                    match to_value(definition, name, answer) {
                        Ok(value) => {
                            typed.insert(name.clone(), value);
                        }
                        Err(reason) => line_problems.push(FieldProblem {
                            field: name.clone(),
                            reason,
                        }),
                    }
                }
                let inputs = dspp_forms::Inputs {
                    answers: typed,
                    context: context_for(facts, member, idpoor_status.as_deref(), today),
                    today,
                };
                let evaluation = definition.evaluate(&inputs);
                line_problems.extend(evaluation.problems.iter().map(|p| FieldProblem {
                    field: p.field.clone(),
                    reason: p.message.en.clone(),
                }));
                let eligible = evaluation.eligible && line_problems.is_empty();
                let answer_problems: Vec<FieldProblem> = line_problems
                    .iter()
                    .filter(|p| used.contains_key(&p.field))
                    .cloned()
                    .collect();
                if definition.status_field.is_some()
                    && eligible
                    && let Some(status) = &evaluation.status
                {
                    idpoor_status = Some(status.clone());
                }
                checks.push((
                    ProgramCheck {
                        program: definition.code.clone(),
                        version: definition.version.clone(),
                        title: definition.title.clone(),
                        subject,
                        eligible,
                        rules: evaluation.rules.clone(),
                        problems: line_problems,
                        answer_problems,
                        score: evaluation.score,
                        status: evaluation.status.clone(),
                    },
                    used,
                ));
            }
        }
        Ok(checks)
    }

    /// Refuses answers that are wrong wherever they were asked: one form, one set of answers.
    fn check_answers(checks: &[CheckedLine]) -> Result<(), ServiceError> {
        let mut seen = BTreeSet::new();
        let mut problems = Vec::new();
        for (check, _) in checks {
            for p in &check.answer_problems {
                let field = format!("answers[{}].{}", subject_label(check.subject), p.field);
                if seen.insert((field.clone(), p.reason.clone())) {
                    problems.push(FieldProblem {
                        field,
                        reason: p.reason.clone(),
                    });
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(problems))
        }
    }

    /// Which programs apply to the household's members and why, without submitting anything.
    pub async fn check_eligibility(
        &self,
        actor: &Actor,
        household: HouseholdId,
        answers: &[SubjectAnswers],
    ) -> Result<Vec<ProgramCheck>, ServiceError> {
        let programs = self.programs().await?;
        let mut tx = self.store().begin().await?;
        let facts = self.household_facts(&mut tx, household).await?;
        authorize_read(
            actor,
            crate::commune_of(&mut tx, facts.household.village, "village").await?,
        )?;
        tx.commit().await?;
        Ok(self
            .evaluate_all(&programs, &facts, answers)?
            .into_iter()
            .map(|(check, _)| check)
            .collect())
    }

    /// Submits one application for the chosen programs. Every chosen line must be eligible with complete
    /// answers; a subject already enrolled (or waiting) in a program is refused for it.
    pub async fn submit_application(
        &self,
        actor: &Actor,
        input: &NewApplication,
    ) -> Result<ApplicationView, ServiceError> {
        if input.programs.is_empty() {
            return Err(ServiceError::invalid(
                "programs",
                "choose at least one program",
            ));
        }
        let programs = self.programs().await?;
        let now = self.now();
        let opened_at = input.opened_at.unwrap_or(now);
        if opened_at > now {
            return Err(ServiceError::invalid(
                "opened_at",
                "is in the future; check the device's clock",
            ));
        }
        let mut tx = self.store().begin().await?;
        let facts = self.household_facts(&mut tx, input.household).await?;
        let commune = crate::commune_of(&mut tx, facts.household.village, "village").await?;
        authorize_write(actor, commune)?;
        let checks = self.evaluate_all(&programs, &facts, &input.answers)?;
        Self::check_answers(&checks)?;
        let mut problems = Vec::new();
        let mut chosen = Vec::new();
        let mut seen = BTreeSet::new();
        for (idx, choice) in input.programs.iter().enumerate() {
            let field = format!("programs[{idx}]");
            if !seen.insert((choice.program.clone(), choice.subject)) {
                problems.push(FieldProblem {
                    field,
                    reason: "chosen twice".into(),
                });
                continue;
            }
            let Some((check, used)) = checks
                .iter()
                .find(|(c, _)| c.program == choice.program && c.subject == choice.subject)
            else {
                let reason = if programs.iter().any(|p| p.definition.code == choice.program) {
                    format!(
                        "{} does not enrol {}",
                        choice.program,
                        subject_label(choice.subject)
                    )
                } else {
                    format!("{:?} is not a program in force", choice.program)
                };
                problems.push(FieldProblem { field, reason });
                continue;
            };
            if !check.problems.is_empty() {
                for p in &check.problems {
                    problems.push(FieldProblem {
                        field: format!("{field}.{}", p.field),
                        reason: p.reason.clone(),
                    });
                }
                continue;
            }
            if !check.eligible {
                let failed: Vec<String> = check
                    .rules
                    .iter()
                    .filter(|r| !r.passed)
                    .map(|r| r.label.en.clone())
                    .collect();
                problems.push(FieldProblem {
                    field,
                    reason: format!("not eligible: {}", failed.join("; ")),
                });
                continue;
            }
            chosen.push((check.clone(), used.clone()));
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let application = ApplicationRow {
            id: self.new_id().to_string(),
            household_id: facts.household.id.to_string(),
            commune,
            version: 1,
            submitted_by: actor.subject.clone(),
            submitters: vec![actor.subject.clone()],
            opened_at,
            submitted_at: now,
            updated_at: now,
        };
        tx.insert_application(&application).await?;
        for (check, used) in &chosen {
            let person = match check.subject {
                SubjectRef::Household => None,
                SubjectRef::Person(spid) => facts.members.iter().find(|(p, _)| p.spid == spid),
            };
            let row = EnrolmentRow {
                id: self.new_id().to_string(),
                application_id: application.id.clone(),
                program_code: check.program.clone(),
                program_version: check.version.clone(),
                household_id: application.household_id.clone(),
                person_id: person.map(|(p, _)| p.id.to_string()),
                subject_id: person
                    .map(|(p, _)| p.id.to_string())
                    .unwrap_or_else(|| application.household_id.clone()),
                commune,
                status: EnrolmentStatus::Pending,
                steps_done: 0,
                answers: encode(used)?,
                evaluation: encode(&stored_evaluation(check))?,
                opened_at,
                submitted_at: now,
                decided_at: None,
                decision_reason: None,
                approved_at: None,
                delivered_at: None,
                beneficiary_id: None,
                ended_at: None,
                end_reason: None,
                recertify_by: None,
                updated_at: now,
            };
            tx.insert_enrolment(&row).await.map_err(|e| match e {
                dspp_store::StoreError::Conflict(_) => ServiceError::Conflict(format!(
                    "{} is already enrolled in {} or waiting for approval there",
                    subject_label(check.subject),
                    check.program
                )),
                other => other.into(),
            })?;
            self.status_event(
                &mut tx,
                &application.id,
                Some(&row.id),
                None,
                "pending",
                actor,
                None,
                None,
            )
            .await?;
        }
        tx.log_change(
            &Change {
                at: now,
                actor,
                reason: Some("application submitted"),
            },
            "submit",
            "application",
            &application.id,
            1,
        )
        .await?;
        let view = self.application_view(&mut tx, &application.id).await?;
        tx.commit().await?;
        Ok(view)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn status_event(
        &self,
        tx: &mut Tx,
        application_id: &str,
        enrolment_id: Option<&str>,
        from: Option<&str>,
        to: &str,
        actor: &Actor,
        on_behalf_of: Option<&str>,
        note: Option<&str>,
    ) -> Result<(), ServiceError> {
        tx.insert_status_event(&StatusEvent {
            id: self.new_id().to_string(),
            application_id: application_id.to_string(),
            enrolment_id: enrolment_id.map(str::to_string),
            from_status: from.map(str::to_string),
            to_status: to.to_string(),
            at: self.now(),
            actor_subject: actor.subject.clone(),
            on_behalf_of: on_behalf_of.map(str::to_string),
            note: note.map(str::to_string),
        })
        .await?;
        Ok(())
    }

    /// Decides lines of an application, all or nothing: each line's next approval step must be the
    /// actor's to take (on their own authority or a chief's delegation in force), never the submitter's;
    /// a rejection needs a reason. A line whose chain is complete is approved and queued for its operator.
    pub async fn decide(
        &self,
        actor: &Actor,
        application_id: &str,
        decisions: &[Decision],
    ) -> Result<ApplicationView, ServiceError> {
        if decisions.is_empty() {
            return Err(ServiceError::invalid(
                "decisions",
                "decide at least one line",
            ));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let application = tx
            .application(application_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("application {application_id}")))?;
        let delegations = if actor.role == Role::Officer {
            tx.delegations_to(&actor.subject, application.commune)
                .await?
        } else {
            Vec::new()
        };
        let lines = tx.enrolments_of(application_id).await?;
        let mut problems = Vec::new();
        let mut refusals = Vec::new();
        let mut seen = BTreeSet::new();
        let mut planned = Vec::new();
        for (idx, decision) in decisions.iter().enumerate() {
            let field = format!("decisions[{idx}]");
            let Some(line) = lines.iter().find(|l| l.id == decision.enrolment_id) else {
                problems.push(FieldProblem {
                    field,
                    reason: format!(
                        "{} is not a line of this application",
                        decision.enrolment_id
                    ),
                });
                continue;
            };
            if !seen.insert(line.id.clone()) {
                problems.push(FieldProblem {
                    field,
                    reason: "decided twice in one request".into(),
                });
                continue;
            }
            if line.status != EnrolmentStatus::Pending {
                return Err(ServiceError::Conflict(format!(
                    "line {} ({}) is {}, not waiting for a decision",
                    line.id,
                    line.program_code,
                    line.status.as_str()
                )));
            }
            if decision.approve {
                self.refuse_if_held(&mut tx, line).await?;
            }
            let reason = decision
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            if !decision.approve && reason.is_none() {
                problems.push(FieldProblem {
                    field: format!("{field}.reason"),
                    reason: "a rejection needs a reason the officer and the family can read".into(),
                });
                continue;
            }
            let definition = self
                .definition_version(&mut tx, &line.program_code, &line.program_version)
                .await?;
            let Some(step) = definition.approval.get(line.steps_done as usize) else {
                return Err(ServiceError::Conflict(format!(
                    "line {} has no approval step left",
                    line.id
                )));
            };
            let step_role = dspp_domain::enrolment::step_role(step.as_str())?;
            match approval_authority(
                actor,
                step_role,
                application.commune,
                &application.submitters,
                &delegations,
                now,
            ) {
                Ok(authority) => planned.push((
                    line.clone(),
                    decision.approve,
                    reason.map(str::to_string),
                    authority,
                    step.as_str().to_string(),
                    definition.clone(),
                )),
                Err(refusal) => refusals.push(format!("{}: {}", line.program_code, refusal.0)),
            }
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        if !refusals.is_empty() {
            refusals.dedup();
            return Err(ServiceError::Forbidden(refusals.join("; ")));
        }
        for (mut line, approve, reason, authority, step, definition) in planned {
            let (on_behalf_of, delegation_id, letter) = match &authority {
                Authority::Own => (None, None, None),
                Authority::Delegated {
                    principal,
                    delegation_id,
                    letter_reference,
                } => (
                    Some(principal.clone()),
                    Some(delegation_id.clone()),
                    Some(letter_reference.clone()),
                ),
            };
            tx.insert_approval(&ApprovalRow {
                id: self.new_id().to_string(),
                enrolment_id: line.id.clone(),
                application_id: application.id.clone(),
                step: line.steps_done,
                step_role: step,
                decision: if approve { "approved" } else { "rejected" }.into(),
                reason: reason.clone(),
                at: now,
                actor_subject: actor.subject.clone(),
                actor_role: actor.role.as_str().into(),
                on_behalf_of: on_behalf_of.clone(),
                delegation_id,
                delegation_reference: letter.clone(),
            })
            .await?;
            let from = line.status.as_str();
            if approve {
                line.steps_done += 1;
                if line.steps_done as usize >= definition.approval.len() {
                    line.status = EnrolmentStatus::Approved;
                    line.decided_at = Some(now);
                    line.approved_at = Some(now);
                    line.decision_reason = reason.clone();
                    line.recertify_by = now.date_naive().checked_add_months(Months::new(12));
                    self.after_approval(
                        &mut tx,
                        &application,
                        &line,
                        &definition,
                        actor,
                        on_behalf_of.as_deref(),
                    )
                    .await?;
                }
            } else {
                line.status = EnrolmentStatus::Rejected;
                line.decided_at = Some(now);
                line.decision_reason = reason.clone();
            }
            line.updated_at = now;
            tx.update_enrolment(&line).await?;
            let note = match (&on_behalf_of, &letter) {
                (Some(principal), Some(letter)) => {
                    Some(format!("on behalf of {principal} under {letter}"))
                }
                _ => reason.clone(),
            };
            self.status_event(
                &mut tx,
                &application.id,
                Some(&line.id),
                Some(from),
                line.status.as_str(),
                actor,
                on_behalf_of.as_deref(),
                note.as_deref(),
            )
            .await?;
        }
        let view = self.application_view(&mut tx, &application.id).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// What follows an approval, in the same transaction: the delivery to the operator is queued, and a
    /// scoring questionnaire's status becomes the household's poverty status.
    async fn after_approval(
        &self,
        tx: &mut Tx,
        application: &ApplicationRow,
        line: &EnrolmentRow,
        definition: &Arc<ProgramDefinition>,
        actor: &Actor,
        on_behalf_of: Option<&str>,
    ) -> Result<(), ServiceError> {
        let evaluation: StoredEvaluation = decode(&line.evaluation)?;
        if definition.status_field.is_some()
            && let Some(status) = &evaluation.status
        {
            tx.insert_poverty_status(&PovertyStatusRow {
                id: self.new_id().to_string(),
                household_id: line.household_id.clone(),
                enrolment_id: Some(line.id.clone()),
                score: evaluation.score,
                computed_status: Some(status.clone()),
                status: status.clone(),
                override_reason: None,
                at: self.now(),
                actor_subject: actor.subject.clone(),
            })
            .await?;
        }
        let delivery_id = self.new_id();
        let payload = self
            .delivery_payload(tx, application, line, delivery_id, actor, on_behalf_of)
            .await?;
        tx.insert_outbox(&OutboxItem {
            id: delivery_id.to_string(),
            kind: "delivery".into(),
            destination: definition.delivery.clone(),
            subject_id: line.id.clone(),
            payload,
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: self.now(),
            last_error: None,
            created_at: self.now(),
            done_at: None,
        })
        .await?;
        Ok(())
    }

    /// The officer corrects rejected lines and sends them back for approval. The new answers are
    /// evaluated again; the officer joins the people who may not approve this application.
    pub async fn resubmit(
        &self,
        actor: &Actor,
        application_id: &str,
        expected_version: u32,
        enrolment_ids: &[String],
        answers: &[SubjectAnswers],
    ) -> Result<ApplicationView, ServiceError> {
        if enrolment_ids.is_empty() {
            return Err(ServiceError::invalid(
                "enrolments",
                "name at least one rejected line",
            ));
        }
        let programs = self.programs().await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let mut application = tx
            .application(application_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("application {application_id}")))?;
        authorize_write(actor, application.commune)?;
        if application.version != expected_version {
            return Err(ServiceError::Stale(format!(
                "the application is at version {}, not {expected_version}",
                application.version
            )));
        }
        let household = HouseholdId(crate::outbox::parse_uuid(&application.household_id)?);
        let facts = self.household_facts(&mut tx, household).await?;
        let checks = self.evaluate_all(&programs, &facts, answers)?;
        Self::check_answers(&checks)?;
        let lines = tx.enrolments_of(application_id).await?;
        let mut problems = Vec::new();
        let mut updates = Vec::new();
        for (idx, id) in enrolment_ids.iter().enumerate() {
            let field = format!("enrolments[{idx}]");
            let Some(line) = lines.iter().find(|l| &l.id == id) else {
                problems.push(FieldProblem {
                    field,
                    reason: format!("{id} is not a line of this application"),
                });
                continue;
            };
            if line.status != EnrolmentStatus::Rejected {
                problems.push(FieldProblem {
                    field,
                    reason: format!(
                        "the line is {}; only rejected lines are resubmitted",
                        line.status.as_str()
                    ),
                });
                continue;
            }
            let subject = match &line.person_id {
                None => SubjectRef::Household,
                Some(person_id) => match facts
                    .members
                    .iter()
                    .find(|(p, _)| p.id.to_string() == *person_id)
                {
                    Some((p, _)) => SubjectRef::Person(p.spid),
                    None => {
                        problems.push(FieldProblem {
                            field,
                            reason: "the person is no longer a living member of the household"
                                .into(),
                        });
                        continue;
                    }
                },
            };
            let Some((check, used)) = checks
                .iter()
                .find(|(c, _)| c.program == line.program_code && c.subject == subject)
            else {
                problems.push(FieldProblem {
                    field,
                    reason: format!("{} is no longer in force", line.program_code),
                });
                continue;
            };
            if !check.problems.is_empty() || !check.eligible {
                let mut reasons: Vec<String> = check
                    .problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.reason))
                    .collect();
                reasons.extend(
                    check
                        .rules
                        .iter()
                        .filter(|r| !r.passed)
                        .map(|r| r.label.en.clone()),
                );
                problems.push(FieldProblem {
                    field,
                    reason: format!("still not acceptable: {}", reasons.join("; ")),
                });
                continue;
            }
            let mut updated = line.clone();
            updated.status = EnrolmentStatus::Pending;
            updated.steps_done = 0;
            updated.program_version = check.version.clone();
            updated.answers = encode(used)?;
            updated.evaluation = encode(&stored_evaluation(check))?;
            updated.submitted_at = now;
            updated.decided_at = None;
            updated.decision_reason = None;
            updated.updated_at = now;
            updates.push(updated);
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        for line in &updates {
            tx.update_enrolment(line).await?;
            self.status_event(
                &mut tx,
                application_id,
                Some(&line.id),
                Some("rejected"),
                "pending",
                actor,
                None,
                Some("corrected and resubmitted"),
            )
            .await?;
        }
        application.version += 1;
        if !application.submitters.contains(&actor.subject) {
            application.submitters.push(actor.subject.clone());
        }
        application.submitted_at = now;
        application.updated_at = now;
        tx.update_application(&application).await?;
        tx.log_change(
            &Change {
                at: now,
                actor,
                reason: Some("application corrected and resubmitted"),
            },
            "resubmit",
            "application",
            &application.id,
            application.version,
        )
        .await?;
        let view = self.application_view(&mut tx, application_id).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Sets a household's poverty status against the computed one, with a recorded reason (the council's
    /// override).
    pub async fn override_poverty_status(
        &self,
        actor: &Actor,
        household: HouseholdId,
        status: &str,
        reason: &str,
    ) -> Result<Vec<PovertyStatusRow>, ServiceError> {
        let reason = crate::people::required_reason(reason)?;
        const STATUSES: [&str; 4] = ["idpoor1", "idpoor2", "at_risk", "non_poor"];
        if !STATUSES.contains(&status) {
            return Err(ServiceError::invalid(
                "status",
                format!(
                    "{status:?} is not a poverty status; one of {}",
                    STATUSES.join(", ")
                ),
            ));
        }
        if !matches!(
            actor.role,
            Role::NationalAdministrator | Role::ProvincialOfficer
        ) {
            return Err(ServiceError::Forbidden(
                "only the council (national administrator) or a provincial officer may override a poverty status".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        let facts = self.household_facts(&mut tx, household).await?;
        authorize_read(
            actor,
            crate::commune_of(&mut tx, facts.household.village, "village").await?,
        )?;
        let history = tx.poverty_statuses(&household.to_string()).await?;
        let last = history.last();
        tx.insert_poverty_status(&PovertyStatusRow {
            id: self.new_id().to_string(),
            household_id: household.to_string(),
            enrolment_id: None,
            score: last.and_then(|l| l.score),
            computed_status: last.and_then(|l| l.computed_status.clone()),
            status: status.to_string(),
            override_reason: Some(reason.to_string()),
            at: self.now(),
            actor_subject: actor.subject.clone(),
        })
        .await?;
        tx.log_change(
            &Change {
                at: self.now(),
                actor,
                reason: Some(reason),
            },
            "override_poverty_status",
            "household",
            &household.to_string(),
            facts.household.version,
        )
        .await?;
        let history = tx.poverty_statuses(&household.to_string()).await?;
        tx.commit().await?;
        Ok(history)
    }

    pub async fn poverty_statuses(
        &self,
        actor: &Actor,
        household: HouseholdId,
    ) -> Result<Vec<PovertyStatusRow>, ServiceError> {
        let mut tx = self.store().begin().await?;
        let facts = self.household_facts(&mut tx, household).await?;
        authorize_read(
            actor,
            crate::commune_of(&mut tx, facts.household.village, "village").await?,
        )?;
        let history = tx.poverty_statuses(&household.to_string()).await?;
        tx.commit().await?;
        Ok(history)
    }
}

pub(crate) fn stored_evaluation(check: &ProgramCheck) -> StoredEvaluation {
    StoredEvaluation {
        eligible: check.eligible,
        rules: check
            .rules
            .iter()
            .map(|r| StoredRule {
                name: r.name.clone(),
                passed: r.passed,
                en: r.label.en.clone(),
                km: r.label.km.clone(),
            })
            .collect(),
        score: check.score,
        status: check.status.clone(),
    }
}

pub use crate::views::{ApplicationView, DeliveryView, EnrolmentView};
