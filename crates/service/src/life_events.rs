//! Life events and recertification as workflows with history: a death ends the person's enrolments, a
//! birth adds a dependent (and shows which programs the child now qualifies for), a household's move
//! carries its members and enrolments to the new village, and each year an enrolment is re-verified
//! against its program's rules or ended with the reason.

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};
use dspp_domain::{Actor, EnrolmentStatus, HouseholdId, Person, PersonId, VillageCode};
use dspp_store::{Change, EnrolmentFilter, EnrolmentRow, Tx};

use crate::applications::{Answer, SubjectAnswers, SubjectRef, encode, stored_evaluation};
use crate::households::{HouseholdView, MemberInput};
use crate::input::PersonInput;
use crate::outbox::parse_uuid;
use crate::people::required_reason;
use crate::{
    FieldProblem, ProgramCheck, Registry, ServiceError, Warning, authorize_write, commune_of,
};

/// How recent a birth must be to be recorded as a birth (an older person joins with `add_member`).
const BIRTH_EVENT_MAX_DAYS: i64 = 730;

impl Registry {
    /// Ends every active enrolment of a person, in the transaction of the event that ends them.
    pub(crate) async fn end_enrolments_of(
        &self,
        tx: &mut Tx,
        person: &Person,
        reason: &str,
        actor: &Actor,
    ) -> Result<Vec<EnrolmentRow>, ServiceError> {
        let filter = EnrolmentFilter {
            person_id: Some(person.id.to_string()),
            ..EnrolmentFilter::default()
        };
        let now = self.now();
        let mut ended = Vec::new();
        for mut line in tx.enrolments(&filter, 1000).await? {
            if !line.status.is_active() {
                continue;
            }
            let from = line.status.as_str();
            line.status = EnrolmentStatus::Ended;
            line.ended_at = Some(now);
            line.end_reason = Some(reason.to_string());
            line.updated_at = now;
            tx.update_enrolment(&line).await?;
            self.status_event(
                tx,
                &line.application_id,
                Some(&line.id),
                Some(from),
                "ended",
                actor,
                None,
                Some(reason),
            )
            .await?;
            ended.push(line);
        }
        Ok(ended)
    }

    /// Records a newborn as a child of the household and shows which programs now apply to them.
    pub async fn record_birth(
        &self,
        actor: &Actor,
        household: HouseholdId,
        expected_version: u32,
        child: &PersonInput,
    ) -> Result<(HouseholdView, Vec<Warning>, Vec<ProgramCheck>), ServiceError> {
        let birth =
            NaiveDate::parse_from_str(child.birth_date.trim(), "%Y-%m-%d").map_err(|_| {
                ServiceError::invalid(
                    "birth_date",
                    "a birth is recorded with its full date (YYYY-MM-DD)",
                )
            })?;
        let age_days = (self.today() - birth).num_days();
        if !(0..=BIRTH_EVENT_MAX_DAYS).contains(&age_days) {
            return Err(ServiceError::invalid(
                "birth_date",
                format!(
                    "a birth is recorded within {BIRTH_EVENT_MAX_DAYS} days; add an older person as a member instead"
                ),
            ));
        }
        let mut person = child.clone();
        if person.birth_village.as_deref().is_none_or(str::is_empty) {
            person.birth_village = person.village.clone();
        }
        let before = self.household(actor, household).await?;
        let member = MemberInput {
            person,
            relationship: "child".into(),
            offline: None,
        };
        let (view, warnings) = self
            .add_member(
                actor,
                household,
                expected_version,
                None,
                Some(&member),
                "child",
                "birth",
            )
            .await?;
        let checks = self
            .check_eligibility(actor, household, &[])
            .await?
            .into_iter()
            .filter(|check| {
                matches!(check.subject, SubjectRef::Person(spid)
                    if !before.members.iter().any(|(_, m)| m.person.spid == spid))
            })
            .collect();
        Ok((view, warnings, checks))
    }

    /// Moves a household and all its living members to another village. Their active enrolments follow
    /// them to the new commune (each with a status event), so the new commune sees and approves them.
    pub async fn move_household(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected_version: u32,
        village: &str,
        reason: &str,
    ) -> Result<HouseholdView, ServiceError> {
        let reason = required_reason(reason)?;
        let village = VillageCode::parse(village)?;
        let mut tx = self.store().begin().await?;
        let current = self
            .household_for_change(&mut tx, actor, id, expected_version)
            .await?;
        let new_commune = commune_of(&mut tx, village, "village").await?;
        authorize_write(actor, new_commune)?;
        if current.village == village {
            return Err(ServiceError::invalid(
                "village",
                "the household already lives there",
            ));
        }
        let now = self.now();
        let change = Change {
            at: now,
            actor,
            reason: Some(reason),
        };
        let mut moved = current.clone();
        moved.village = village;
        moved.version += 1;
        moved.updated_at = now;
        tx.update_household(&moved, expected_version, "move", &change)
            .await?;
        for member in &current.members {
            let Some(person) = tx.person(member.person).await? else {
                continue;
            };
            let mut record = person.record.clone();
            record.village = village;
            let updated = Person {
                version: person.version + 1,
                record,
                updated_at: now,
                ..person.clone()
            };
            tx.update_person(&updated, person.version, "move", &change)
                .await?;
        }
        let filter = EnrolmentFilter {
            household_id: Some(id.to_string()),
            ..EnrolmentFilter::default()
        };
        let note = format!(
            "moved from village {} to {village}: {reason}",
            current.village
        );
        for mut line in tx.enrolments(&filter, 1000).await? {
            if !line.status.is_active() || line.commune == new_commune {
                continue;
            }
            line.commune = new_commune;
            line.updated_at = now;
            tx.update_enrolment_commune(&line.id, new_commune, now)
                .await?;
            self.status_event(
                &mut tx,
                &line.application_id,
                Some(&line.id),
                Some(line.status.as_str()),
                line.status.as_str(),
                actor,
                None,
                Some(&note),
            )
            .await?;
        }
        let view = self.household_view(&mut tx, moved).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Re-verifies a delivered enrolment with this year's answers against the program in force: still
    /// eligible extends it a year; no longer eligible ends it with the rules that failed.
    pub async fn recertify(
        &self,
        actor: &Actor,
        enrolment_id: &str,
        answers: &BTreeMap<String, Answer>,
    ) -> Result<(EnrolmentRow, ProgramCheck), ServiceError> {
        let programs = self.programs().await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let mut line = tx
            .enrolment(enrolment_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("enrolment {enrolment_id}")))?;
        authorize_write(actor, line.commune)?;
        if line.status != EnrolmentStatus::Delivered && line.status != EnrolmentStatus::Approved {
            return Err(ServiceError::Conflict(format!(
                "the enrolment is {}; only a running enrolment is recertified",
                line.status.as_str()
            )));
        }
        let household = HouseholdId(parse_uuid(&line.household_id)?);
        let facts = self.household_facts(&mut tx, household).await?;
        let subject = match &line.person_id {
            None => SubjectRef::Household,
            Some(id) => {
                let person_id = PersonId(parse_uuid(id)?);
                match facts.members.iter().find(|(p, _)| p.id == person_id) {
                    Some((p, _)) => SubjectRef::Person(p.spid),
                    None => {
                        return Err(ServiceError::Conflict(
                            "the person is no longer a living member of the household; the enrolment ends with the life event".into(),
                        ));
                    }
                }
            }
        };
        let given = [SubjectAnswers {
            subject,
            answers: answers.clone(),
        }];
        let only_this: Vec<_> = programs
            .into_iter()
            .filter(|p| p.definition.code == line.program_code)
            .collect();
        if only_this.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "{} is no longer in force",
                line.program_code
            )));
        }
        let checks = self.evaluate_all(&only_this, &facts, &given)?;
        let Some((check, used)) = checks.into_iter().find(|(c, _)| c.subject == subject) else {
            return Err(ServiceError::Conflict(format!(
                "{} no longer enrols this subject",
                line.program_code
            )));
        };
        if !check.problems.is_empty() {
            return Err(ServiceError::Invalid(
                check
                    .problems
                    .iter()
                    .map(|p| FieldProblem {
                        field: format!("answers.{}", p.field),
                        reason: p.reason.clone(),
                    })
                    .collect(),
            ));
        }
        let from = line.status.as_str();
        let note;
        if check.eligible {
            line.recertify_by = now.date_naive().checked_add_months(Months::new(12));
            note = "recertified: still eligible".to_string();
        } else {
            let failed: Vec<String> = check
                .rules
                .iter()
                .filter(|r| !r.passed)
                .map(|r| r.label.en.clone())
                .collect();
            note = format!(
                "no longer eligible at recertification: {}",
                failed.join("; ")
            );
            line.status = EnrolmentStatus::Ended;
            line.ended_at = Some(now);
            line.end_reason = Some(note.clone());
        }
        line.answers = encode(&used)?;
        line.evaluation = encode(&stored_evaluation(&check))?;
        line.program_version = check.version.clone();
        line.updated_at = now;
        tx.update_enrolment(&line).await?;
        self.status_event(
            &mut tx,
            &line.application_id,
            Some(&line.id),
            Some(from),
            line.status.as_str(),
            actor,
            None,
            Some(&note),
        )
        .await?;
        tx.commit().await?;
        Ok((line, check))
    }

    /// Running enrolments of a commune whose yearly recertification falls on or before `by`.
    pub async fn recertifications_due(
        &self,
        actor: &Actor,
        commune: dspp_domain::CommuneCode,
        by: NaiveDate,
    ) -> Result<Vec<EnrolmentRow>, ServiceError> {
        let filter = EnrolmentFilter {
            commune: Some(commune),
            recertify_due_by: Some(by),
            ..EnrolmentFilter::default()
        };
        self.enrolments(actor, &filter, 10_000).await
    }
}
