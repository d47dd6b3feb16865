//! Use cases on people: enrol, read, correct, record a death, list, see history, merge duplicates.

use chrono::{DateTime, NaiveDate, Utc};
use dspp_domain::EnrolmentStatus;
use dspp_domain::assurance::Assessment;
use dspp_domain::{
    Actor, AssuranceCategory, Death, HouseholdId, Person, PersonId, PersonRecord, Spid,
};
use dspp_store::{Change, EnrolmentFilter, PeopleFilter, PersonVersion, SpidState, Tx};

use crate::leases::OfflineIssue;
use crate::{PersonInput, Registry, ServiceError, authorize_read, authorize_write, commune_of};

/// A person as shown to callers: the record, its assurance category with the rule that gave it, and,
/// when the person was reached through a merged SPID, that alias.
#[derive(Debug, Clone)]
pub struct PersonView {
    pub person: Person,
    pub assurance: Assessment,
    pub resolved_from: Option<Spid>,
}

impl PersonView {
    pub fn new(person: Person) -> PersonView {
        let assurance = AssuranceCategory::assess(&person.record);
        PersonView {
            person,
            assurance,
            resolved_from: None,
        }
    }
}

/// Something the caller should look at that did not stop the write: a possible duplicate is a result,
/// not an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
    pub spids: Vec<Spid>,
    /// For a possible duplicate: the case it opened and the engine's evidence.
    pub duplicate: Option<crate::duplicates::DuplicateHint>,
}

/// One page of a listing and the cursor of the next (none on the last page).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<uuid::Uuid>,
}

pub(crate) const MAX_PAGE: u32 = 500;

impl Registry {
    /// Finds the person a SPID names, following an alias to the surviving record.
    pub(crate) async fn resolve(
        &self,
        tx: &mut Tx,
        spid: Spid,
    ) -> Result<PersonView, ServiceError> {
        let entry = tx
            .spid_entry(spid)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("SPID {spid}")))?;
        let (target, resolved_from) = match entry.state {
            SpidState::Assigned => (spid, None),
            SpidState::Alias => match entry.alias_of {
                Some(survivor) => (survivor, Some(spid)),
                None => return Err(ServiceError::NotFound(format!("SPID {spid}"))),
            },
            SpidState::Leased | SpidState::Void => {
                return Err(ServiceError::NotFound(format!(
                    "SPID {spid} (reserved, not issued to anyone)"
                )));
            }
        };
        let person = tx
            .person_by_spid(target)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("SPID {spid}")))?;
        let mut view = PersonView::new(person);
        view.resolved_from = resolved_from;
        Ok(view)
    }

    /// Creates a person inside `tx`: reserves (or reconciles) the SPID, writes version 1.
    pub(crate) async fn create_person_in(
        &self,
        tx: &mut Tx,
        change: &Change<'_>,
        record: PersonRecord,
        household: Option<HouseholdId>,
        offline: Option<&OfflineIssue>,
        id: PersonId,
    ) -> Result<Person, ServiceError> {
        commune_of(tx, record.village, "village").await?;
        if let Some(code) = record.birth_village {
            commune_of(tx, code, "birth_village").await?;
        }
        let spid = match offline {
            Some(issue) => self.reconcile_offline_spid(tx, issue).await?,
            None => self.draw_spid(tx, SpidState::Assigned, None).await?,
        };
        let person = Person {
            id,
            spid,
            version: 1,
            record,
            household,
            merged_into: None,
            created_at: change.at,
            updated_at: change.at,
        };
        tx.insert_person(&person, change).await?;
        // A Khmer ID number is checked with the Ministry through the outbox: an unreachable service
        // queues the check and never blocks the enrolment.
        self.queue_id_check(tx, &person, None).await?;
        Ok(person)
    }

    /// What an officer should look at after writing `person`: others holding the same documents, and likely
    /// duplicates (each opens a case in the queue).
    pub(crate) async fn person_warnings(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        person: &Person,
    ) -> Result<Vec<Warning>, ServiceError> {
        let mut warnings = self.document_warnings(tx, person).await?;
        warnings.extend(self.check_duplicates(tx, actor, person).await?);
        Ok(warnings)
    }

    /// Looks for other people holding the same documents.
    pub(crate) async fn document_warnings(
        &self,
        tx: &mut Tx,
        person: &Person,
    ) -> Result<Vec<Warning>, ServiceError> {
        let mut warnings = Vec::new();
        for doc in &person.record.documents {
            let others = tx
                .people_with_document(doc.kind.as_str(), &doc.number, Some(person.id))
                .await?;
            if !others.is_empty() {
                warnings.push(Warning {
                    code: "shared_document",
                    message: format!(
                        "{} {} is also recorded for {} other person(s): a possible duplicate to review",
                        doc.kind.as_str(),
                        doc.number,
                        others.len()
                    ),
                    spids: others.iter().map(|p| p.spid).collect(),
                    duplicate: None,
                });
            }
        }
        Ok(warnings)
    }

    /// Enrols one person outside any household (a household is created with `register_household`).
    pub async fn register_person(
        &self,
        actor: &Actor,
        input: &PersonInput,
        offline: Option<OfflineIssue>,
    ) -> Result<(PersonView, Vec<Warning>), ServiceError> {
        let record = input
            .validate("", None, self.today())
            .map_err(ServiceError::Invalid)?;
        let change = Change {
            at: self.now(),
            actor,
            reason: Some("enrolment"),
        };
        self.refresh_duplicates().await?;
        let mut tx = self.store().begin().await?;
        authorize_write(actor, commune_of(&mut tx, record.village, "village").await?)?;
        let person = self
            .create_person_in(
                &mut tx,
                &change,
                record,
                None,
                offline.as_ref(),
                PersonId(self.new_id()),
            )
            .await?;
        let warnings = self.person_warnings(&mut tx, actor, &person).await?;
        tx.commit().await?;
        Ok((PersonView::new(person), warnings))
    }

    pub async fn person(&self, actor: &Actor, spid: Spid) -> Result<PersonView, ServiceError> {
        let mut tx = self.store().begin().await?;
        let view = self.resolve(&mut tx, spid).await?;
        authorize_read(
            actor,
            commune_of(&mut tx, view.person.record.village, "village").await?,
        )?;
        tx.commit().await?;
        Ok(view)
    }

    /// Corrects a person's record. `expected_version` is the version the caller read (the ETag): if the
    /// person changed since, nothing is written and the caller gets a conflict.
    pub async fn update_person(
        &self,
        actor: &Actor,
        spid: Spid,
        expected_version: u32,
        input: &PersonInput,
        reason: &str,
    ) -> Result<(PersonView, Vec<Warning>), ServiceError> {
        let reason = required_reason(reason)?;
        self.refresh_duplicates().await?;
        let mut tx = self.store().begin().await?;
        let current = self.resolve(&mut tx, spid).await?.person;
        authorize_write(
            actor,
            commune_of(&mut tx, current.record.village, "village").await?,
        )?;
        check_version(&current, expected_version)?;
        check_live(&current)?;
        let mut record = input
            .validate("", Some(current.record.village), self.today())
            .map_err(ServiceError::Invalid)?;
        authorize_write(actor, commune_of(&mut tx, record.village, "village").await?)?;
        if let Some(household_id) = current.household
            && record.village != current.record.village
        {
            let household = tx.household(household_id).await?;
            if household.is_some_and(|h| h.village != record.village) {
                return Err(ServiceError::invalid(
                    "village",
                    "differs from the household's village; a person who moves leaves the household first",
                ));
            }
        }
        // What the form does not carry is kept: verification results, biometrics, a recorded death.
        for doc in &mut record.documents {
            if let Some(old) = current
                .record
                .documents
                .iter()
                .find(|old| old.kind == doc.kind && old.number == doc.number)
            {
                doc.verification = old.verification.clone();
            }
        }
        record.biometric_status = current.record.biometric_status.clone();
        record.death = current.record.death.clone();
        let previous_record = current.record.clone();
        if record == current.record {
            return Err(ServiceError::invalid("record", "nothing would change"));
        }
        let now = self.now();
        let person = Person {
            version: current.version + 1,
            record,
            updated_at: now,
            ..current
        };
        let change = Change {
            at: now,
            actor,
            reason: Some(reason),
        };
        tx.update_person(&person, expected_version, "update", &change)
            .await?;
        self.queue_id_check(&mut tx, &person, Some(&previous_record))
            .await?;
        let warnings = self.person_warnings(&mut tx, actor, &person).await?;
        tx.commit().await?;
        Ok((PersonView::new(person), warnings))
    }

    /// Records a death: the life event that ends the person's enrolments. The record stays.
    pub async fn record_death(
        &self,
        actor: &Actor,
        spid: Spid,
        expected_version: u32,
        date: &str,
        evidence: Option<&str>,
        reason: &str,
    ) -> Result<PersonView, ServiceError> {
        let reason = required_reason(reason)?;
        let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| {
            ServiceError::invalid("date", format!("{date:?} is not a date (YYYY-MM-DD)"))
        })?;
        let mut tx = self.store().begin().await?;
        let current = self.resolve(&mut tx, spid).await?.person;
        authorize_write(
            actor,
            commune_of(&mut tx, current.record.village, "village").await?,
        )?;
        check_version(&current, expected_version)?;
        check_live(&current)?;
        if current.record.death.is_some() {
            return Err(ServiceError::Conflict(
                "a death is already recorded for this person".into(),
            ));
        }
        let mut record = current.record.clone();
        record.death = Some(Death {
            date,
            evidence: evidence
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        });
        record.validate(self.today())?;
        let now = self.now();
        let person = Person {
            version: current.version + 1,
            record,
            updated_at: now,
            ..current
        };
        let change = Change {
            at: now,
            actor,
            reason: Some(reason),
        };
        tx.update_person(&person, expected_version, "death", &change)
            .await?;
        self.end_enrolments_of(&mut tx, &person, &format!("death on {date}"), actor)
            .await?;
        tx.commit().await?;
        Ok(PersonView::new(person))
    }

    pub async fn person_history(
        &self,
        actor: &Actor,
        spid: Spid,
    ) -> Result<Vec<PersonVersion>, ServiceError> {
        let mut tx = self.store().begin().await?;
        let view = self.resolve(&mut tx, spid).await?;
        authorize_read(
            actor,
            commune_of(&mut tx, view.person.record.village, "village").await?,
        )?;
        let history = tx.person_history(view.person.id).await?;
        tx.commit().await?;
        Ok(history)
    }

    /// Lists people in the caller's scope. `place` narrows to a province, district, commune or village
    /// inside it; without one, the caller's whole scope is listed.
    pub async fn list_people(
        &self,
        actor: &Actor,
        place: Option<&str>,
        name_prefix: Option<&str>,
        after: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Page<PersonView>, ServiceError> {
        if !actor.role.may_read_registry() {
            return Err(ServiceError::Forbidden(format!(
                "the role {} reads the registry only through consented queries",
                actor.role.as_str()
            )));
        }
        let place = scoped_place(actor, place)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let filter = PeopleFilter {
            place,
            household: None,
            name_prefix: name_prefix
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.to_uppercase()),
            include_merged: false,
            after: after.map(PersonId),
            limit: limit + 1,
        };
        let mut tx = self.store().begin().await?;
        let mut people = tx.list_people(&filter).await?;
        tx.commit().await?;
        let next_after = if people.len() > limit as usize {
            people.truncate(limit as usize);
            people.last().map(|p| p.id.0)
        } else {
            None
        };
        Ok(Page {
            items: people.into_iter().map(PersonView::new).collect(),
            next_after,
        })
    }

    /// Records that `duplicate` is the same person as `survivor`: the duplicate's SPID becomes an alias
    /// that resolves to the survivor, its record is kept (marked merged) with its full history.
    pub async fn merge_people(
        &self,
        actor: &Actor,
        survivor: Spid,
        duplicate: Spid,
        reason: &str,
    ) -> Result<PersonView, ServiceError> {
        let reason = required_reason(reason)?;
        let mut tx = self.store().begin().await?;
        let keep = self.resolve(&mut tx, survivor).await?.person;
        let merge = self.resolve(&mut tx, duplicate).await?.person;
        self.merge_in(&mut tx, actor, &keep, &merge, reason).await?;
        tx.commit().await?;
        Ok(PersonView::new(keep))
    }

    /// Merges `merge` into `keep` inside `tx`: the merged person leaves its household, is marked merged (a new
    /// version, history kept) and its SPID becomes an alias of the survivor's. One person, one benefit: the merged
    /// record's active enrolments in programs the survivor already holds end; returned with the status each had.
    pub(crate) async fn merge_in(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        keep: &Person,
        merge: &Person,
        reason: &str,
    ) -> Result<Vec<(String, EnrolmentStatus)>, ServiceError> {
        if keep.id == merge.id {
            return Err(ServiceError::invalid(
                "duplicate",
                "names the same person as the survivor",
            ));
        }
        check_live(keep)?;
        check_live(merge)?;
        authorize_write(actor, commune_of(tx, keep.record.village, "village").await?)?;
        authorize_write(
            actor,
            commune_of(tx, merge.record.village, "village").await?,
        )?;
        let now = self.now();
        let change = Change {
            at: now,
            actor,
            reason: Some(reason),
        };
        if let Some(household_id) = merge.household {
            let household = tx
                .household(household_id)
                .await?
                .ok_or_else(|| ServiceError::NotFound("household".into()))?;
            let members = household.remove_member(merge.id)?;
            let dissolved = members.is_empty();
            let updated = dspp_domain::Household {
                version: household.version + 1,
                members: if dissolved {
                    household.members.clone()
                } else {
                    members
                },
                dissolved,
                updated_at: now,
                ..household.clone()
            };
            tx.update_household(&updated, household.version, "remove_member", &change)
                .await?;
        }
        let merged = Person {
            version: merge.version + 1,
            household: None,
            merged_into: Some(keep.spid),
            updated_at: now,
            ..merge.clone()
        };
        tx.update_person(&merged, merge.version, "merged", &change)
            .await?;
        tx.make_spid_alias(merge.spid, keep.spid).await?;
        let active_of = |person: &Person| EnrolmentFilter {
            person_id: Some(person.id.to_string()),
            ..EnrolmentFilter::default()
        };
        let held: std::collections::HashSet<String> = tx
            .enrolments(&active_of(keep), 1000)
            .await?
            .into_iter()
            .filter(|line| line.status.is_active())
            .map(|line| line.program_code)
            .collect();
        let mut ended = Vec::new();
        for mut line in tx.enrolments(&active_of(merge), 1000).await? {
            if !line.status.is_active() || !held.contains(&line.program_code) {
                continue;
            }
            let before = line.status;
            let why = format!(
                "the same person as {}, who is enrolled in {} already",
                keep.spid, line.program_code
            );
            line.status = EnrolmentStatus::Ended;
            line.ended_at = Some(now);
            line.end_reason = Some(why.clone());
            line.updated_at = now;
            tx.update_enrolment(&line).await?;
            self.status_event(
                tx,
                &line.application_id,
                Some(&line.id),
                Some(before.as_str()),
                "ended",
                actor,
                None,
                Some(&why),
            )
            .await?;
            ended.push((line.id, before));
        }
        Ok(ended)
    }
}

pub(crate) fn required_reason(reason: &str) -> Result<&str, ServiceError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ServiceError::invalid(
            "reason",
            "every change needs a reason",
        ));
    }
    if reason.chars().count() > 500 {
        return Err(ServiceError::invalid("reason", "at most 500 characters"));
    }
    Ok(reason)
}

pub(crate) fn check_version(person: &Person, expected: u32) -> Result<(), ServiceError> {
    if person.version != expected {
        return Err(ServiceError::Stale(format!(
            "the person is at version {} but the change was based on version {expected}; reload and redo it",
            person.version
        )));
    }
    Ok(())
}

pub(crate) fn check_live(person: &Person) -> Result<(), ServiceError> {
    if let Some(survivor) = person.merged_into {
        return Err(ServiceError::Conflict(format!(
            "this record was merged into {survivor}; change that one"
        )));
    }
    Ok(())
}

/// The place filter a listing may use: inside the actor's scope, and the scope itself by default.
pub(crate) fn scoped_place(
    actor: &Actor,
    place: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    use dspp_domain::Scope;
    let scope_code = match &actor.scope {
        Scope::National => None,
        Scope::Province(code) => Some(code.to_string()),
        Scope::District(code) => Some(code.to_string()),
        Scope::Commune(code) => Some(code.to_string()),
        Scope::Program(_) => {
            return Err(ServiceError::Forbidden(
                "a program scope does not cover registry listings".into(),
            ));
        }
    };
    let place = place.map(str::trim).filter(|s| !s.is_empty());
    if let Some(place) = place {
        if !matches!(place.len(), 2 | 4 | 6 | 8) || !place.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ServiceError::invalid(
                "place",
                format!("{place:?} is not a province, district, commune or village code"),
            ));
        }
        if let Some(scope) = &scope_code
            && !place.starts_with(scope.as_str())
        {
            return Err(ServiceError::Forbidden(format!(
                "acting for {} does not cover {place}",
                actor.scope
            )));
        }
        return Ok(Some(place.to_string()));
    }
    Ok(scope_code)
}

/// When the registry believes an offline SPID was issued; used in lease reconciliation.
pub(crate) fn not_in_future(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    // Field devices' clocks drift; ten minutes ahead of the server is tolerated.
    at <= now + chrono::Duration::minutes(10)
}
