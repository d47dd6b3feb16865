//! Use cases on households: enrol a whole household at once, change its head, add and remove members,
//! split and merge. A person's household link is part of their record, so every move writes a new
//! version of the household and of each person who moved.

use dspp_domain::{
    Actor, Household, HouseholdId, Member, Person, PersonId, Relationship, Spid, VillageCode,
};
use dspp_store::{Change, HouseholdVersion, Tx};

use crate::leases::OfflineIssue;
use crate::people::{PersonView, Warning, required_reason};
use crate::{
    FieldProblem, PersonInput, Registry, ServiceError, authorize_read, authorize_write, commune_of,
};

#[derive(Debug, Clone, Default)]
pub struct MemberInput {
    pub person: PersonInput,
    pub relationship: String,
    /// Set when a field device issued the member's SPID offline from its lease.
    pub offline: Option<OfflineIssue>,
}

#[derive(Debug, Clone, Default)]
pub struct NewHousehold {
    pub village: String,
    pub address_detail: Option<String>,
    pub members: Vec<MemberInput>,
}

/// A household with its members' current records, head first.
#[derive(Debug, Clone)]
pub struct HouseholdView {
    pub household: Household,
    pub members: Vec<(Relationship, PersonView)>,
}

fn tidy_address(detail: Option<&str>) -> Result<Option<String>, ServiceError> {
    let detail = detail.map(str::trim).filter(|s| !s.is_empty());
    if detail.is_some_and(|d| d.chars().count() > 200) {
        return Err(ServiceError::invalid(
            "address_detail",
            "at most 200 characters",
        ));
    }
    Ok(detail.map(str::to_string))
}

impl Registry {
    pub(crate) async fn household_view(
        &self,
        tx: &mut Tx,
        household: Household,
    ) -> Result<HouseholdView, ServiceError> {
        let people = tx.people_in_household(household.id).await?;
        let mut members = Vec::new();
        for member in &household.members {
            if let Some(person) = people.iter().find(|p| p.id == member.person) {
                members.push((member.relationship, PersonView::new(person.clone())));
            }
        }
        // Members of a dissolved household have moved on; show them from their own records.
        if household.dissolved {
            for member in &household.members {
                if !members.iter().any(|(_, v)| v.person.id == member.person)
                    && let Some(person) = tx.person(member.person).await?
                {
                    members.push((member.relationship, PersonView::new(person)));
                }
            }
        }
        members.sort_by_key(|(relationship, _)| *relationship != Relationship::Head);
        Ok(HouseholdView { household, members })
    }

    /// The household an actor is about to change: it exists, lies in the actor's scope, and is at the
    /// version the actor read.
    pub(crate) async fn household_for_change(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        id: HouseholdId,
        expected_version: u32,
    ) -> Result<Household, ServiceError> {
        let household = self.load_household(tx, id).await?;
        authorize_write(actor, commune_of(tx, household.village, "village").await?)?;
        check_household_version(&household, expected_version)?;
        Ok(household)
    }

    async fn load_household(
        &self,
        tx: &mut Tx,
        id: HouseholdId,
    ) -> Result<Household, ServiceError> {
        tx.household(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("household".into()))
    }

    /// Enrols a household and all its members in one transaction: all or nothing.
    pub async fn register_household(
        &self,
        actor: &Actor,
        input: &NewHousehold,
    ) -> Result<(HouseholdView, Vec<Warning>), ServiceError> {
        let today = self.today();
        let mut problems: Vec<FieldProblem> = Vec::new();
        let village = VillageCode::parse(&input.village)
            .map_err(|e| {
                problems.push(FieldProblem {
                    field: "village".into(),
                    reason: e.reason,
                })
            })
            .ok();
        let address_detail = tidy_address(input.address_detail.as_deref())?;
        if input.members.is_empty() {
            problems.push(FieldProblem {
                field: "members".into(),
                reason: "a household has at least one member".into(),
            });
        }
        if input.members.len() > 60 {
            problems.push(FieldProblem {
                field: "members".into(),
                reason: "at most 60 members".into(),
            });
        }
        let mut records = Vec::new();
        for (i, member) in input.members.iter().enumerate() {
            let field = format!("members[{i}]");
            let relationship = Relationship::parse(&member.relationship)
                .map_err(|e| {
                    problems.push(FieldProblem {
                        field: format!("{field}.relationship"),
                        reason: e.reason,
                    })
                })
                .ok();
            match member.person.validate(&field, village, today) {
                Ok(record) => {
                    if village.is_some_and(|v| v != record.village) {
                        problems.push(FieldProblem {
                            field: format!("{field}.village"),
                            reason: "members live in the household's village".into(),
                        });
                    }
                    records.push((record, relationship));
                }
                Err(mut more) => problems.append(&mut more),
            }
        }
        let heads = input
            .members
            .iter()
            .filter(|m| m.relationship.trim() == "head")
            .count();
        if !input.members.is_empty() && heads != 1 {
            problems.push(FieldProblem {
                field: "members".into(),
                reason: format!("a household has exactly one head; this list has {heads}"),
            });
        }
        let Some(village) = village else {
            return Err(ServiceError::Invalid(problems));
        };
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let now = self.now();
        let change = Change {
            at: now,
            actor,
            reason: Some("enrolment"),
        };
        self.refresh_duplicates().await?;
        let mut tx = self.store().begin().await?;
        authorize_write(actor, commune_of(&mut tx, village, "village").await?)?;
        let household_id = HouseholdId(self.new_id());
        // Ids first, so the household (which people point at) is written before its members.
        let ids: Vec<PersonId> = records.iter().map(|_| PersonId(self.new_id())).collect();
        let household = Household {
            id: household_id,
            version: 1,
            village,
            address_detail,
            members: ids
                .iter()
                .zip(&records)
                .map(|(id, (_, relationship))| Member {
                    person: *id,
                    relationship: relationship.unwrap_or(Relationship::OtherRelative),
                })
                .collect(),
            dissolved: false,
            created_at: now,
            updated_at: now,
        };
        dspp_domain::household::check_members(&household.members)?;
        tx.insert_household(&household, &change).await?;
        let mut warnings = Vec::new();
        for (((record, _), member), id) in records.into_iter().zip(&input.members).zip(ids) {
            let person = self
                .create_person_in(
                    &mut tx,
                    &change,
                    record,
                    Some(household_id),
                    member.offline.as_ref(),
                    id,
                )
                .await?;
            warnings.extend(self.person_warnings(&mut tx, actor, &person).await?);
        }
        let view = self.household_view(&mut tx, household).await?;
        tx.commit().await?;
        Ok((view, warnings))
    }

    pub async fn household(
        &self,
        actor: &Actor,
        id: HouseholdId,
    ) -> Result<HouseholdView, ServiceError> {
        let mut tx = self.store().begin().await?;
        let household = self.load_household(&mut tx, id).await?;
        authorize_read(
            actor,
            commune_of(&mut tx, household.village, "village").await?,
        )?;
        let view = self.household_view(&mut tx, household).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn household_history(
        &self,
        actor: &Actor,
        id: HouseholdId,
    ) -> Result<Vec<HouseholdVersion>, ServiceError> {
        let mut tx = self.store().begin().await?;
        let household = self.load_household(&mut tx, id).await?;
        authorize_read(
            actor,
            commune_of(&mut tx, household.village, "village").await?,
        )?;
        let history = tx.household_history(id).await?;
        tx.commit().await?;
        Ok(history)
    }

    async fn member_ids(
        &self,
        tx: &mut Tx,
        relationships: &[(Spid, String)],
    ) -> Result<Vec<(PersonId, Relationship)>, ServiceError> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for (i, (spid, relationship)) in relationships.iter().enumerate() {
            match Relationship::parse(relationship) {
                Ok(relationship) => {
                    let person = self.resolve(tx, *spid).await?.person;
                    out.push((person.id, relationship));
                }
                Err(e) => problems.push(FieldProblem {
                    field: format!("relationships[{i}]"),
                    reason: e.reason,
                }),
            }
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        Ok(out)
    }

    async fn write_household(
        &self,
        tx: &mut Tx,
        change: &Change<'_>,
        current: &Household,
        members: Vec<Member>,
        action: &str,
    ) -> Result<Household, ServiceError> {
        let updated = Household {
            version: current.version + 1,
            members,
            updated_at: change.at,
            ..current.clone()
        };
        tx.update_household(&updated, current.version, action, change)
            .await?;
        Ok(updated)
    }

    /// Points a person at a (new) household, as a new version of the person.
    async fn move_person(
        &self,
        tx: &mut Tx,
        change: &Change<'_>,
        person: PersonId,
        to: Option<HouseholdId>,
    ) -> Result<(), ServiceError> {
        let current = tx
            .person(person)
            .await?
            .ok_or_else(|| ServiceError::NotFound("person".into()))?;
        if current.household == to {
            return Ok(());
        }
        let moved = Person {
            version: current.version + 1,
            household: to,
            updated_at: change.at,
            ..current.clone()
        };
        tx.update_person(&moved, current.version, "household_change", change)
            .await?;
        Ok(())
    }

    pub async fn change_head(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected_version: u32,
        new_head: Spid,
        relationships: &[(Spid, String)],
        reason: &str,
    ) -> Result<HouseholdView, ServiceError> {
        let reason = required_reason(reason)?;
        let mut tx = self.store().begin().await?;
        let current = self
            .household_for_change(&mut tx, actor, id, expected_version)
            .await?;
        let head = self.resolve(&mut tx, new_head).await?.person.id;
        let relationships = self.member_ids(&mut tx, relationships).await?;
        let members = current.change_head(head, &relationships)?;
        let change = Change {
            at: self.now(),
            actor,
            reason: Some(reason),
        };
        let updated = self
            .write_household(&mut tx, &change, &current, members, "change_head")
            .await?;
        let view = self.household_view(&mut tx, updated).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Adds a member: a new person (a newborn) given as input, or an existing person who has no household.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_member(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected_version: u32,
        existing: Option<Spid>,
        new_person: Option<&MemberInput>,
        relationship: &str,
        reason: &str,
    ) -> Result<(HouseholdView, Vec<Warning>), ServiceError> {
        let reason = required_reason(reason)?;
        let relationship = Relationship::parse(relationship)?;
        self.refresh_duplicates().await?;
        let mut tx = self.store().begin().await?;
        let current = self
            .household_for_change(&mut tx, actor, id, expected_version)
            .await?;
        if current.dissolved {
            return Err(ServiceError::invalid(
                "household",
                "this household was dissolved; it can no longer change",
            ));
        }
        let change = Change {
            at: self.now(),
            actor,
            reason: Some(reason),
        };
        let mut warnings = Vec::new();
        let person = match (existing, new_person) {
            (Some(spid), None) => {
                let person = self.resolve(&mut tx, spid).await?.person;
                if person.household.is_some() {
                    return Err(ServiceError::Conflict(format!(
                        "{spid} belongs to another household; remove them from it or split first"
                    )));
                }
                if person.record.village != current.village {
                    return Err(ServiceError::invalid(
                        "spid",
                        "the person lives in another village; correct their village first",
                    ));
                }
                self.move_person(&mut tx, &change, person.id, Some(id))
                    .await?;
                person
            }
            (None, Some(member)) => {
                let record = member
                    .person
                    .validate("person", Some(current.village), self.today())
                    .map_err(ServiceError::Invalid)?;
                let person = self
                    .create_person_in(
                        &mut tx,
                        &change,
                        record,
                        Some(id),
                        member.offline.as_ref(),
                        PersonId(self.new_id()),
                    )
                    .await?;
                warnings = self.person_warnings(&mut tx, actor, &person).await?;
                person
            }
            _ => {
                return Err(ServiceError::invalid(
                    "member",
                    "give either the SPID of an existing person or a new person",
                ));
            }
        };
        let members = current.add_member(Member {
            person: person.id,
            relationship,
        })?;
        let updated = self
            .write_household(&mut tx, &change, &current, members, "add_member")
            .await?;
        let view = self.household_view(&mut tx, updated).await?;
        tx.commit().await?;
        Ok((view, warnings))
    }

    pub async fn remove_member(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected_version: u32,
        spid: Spid,
        reason: &str,
    ) -> Result<HouseholdView, ServiceError> {
        let reason = required_reason(reason)?;
        let mut tx = self.store().begin().await?;
        let current = self
            .household_for_change(&mut tx, actor, id, expected_version)
            .await?;
        let person = self.resolve(&mut tx, spid).await?.person;
        let members = current.remove_member(person.id)?;
        let change = Change {
            at: self.now(),
            actor,
            reason: Some(reason),
        };
        let updated = if members.is_empty() {
            let dissolved = Household {
                version: current.version + 1,
                dissolved: true,
                updated_at: change.at,
                ..current.clone()
            };
            tx.update_household(&dissolved, current.version, "dissolve", &change)
                .await?;
            dissolved
        } else {
            self.write_household(&mut tx, &change, &current, members, "remove_member")
                .await?
        };
        self.move_person(&mut tx, &change, person.id, None).await?;
        let view = self.household_view(&mut tx, updated).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Splits members off into a new household in the same village (a married child setting up home).
    pub async fn split_household(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected_version: u32,
        leaving: &[(Spid, String)],
        address_detail: Option<&str>,
        reason: &str,
    ) -> Result<(HouseholdView, HouseholdView), ServiceError> {
        let reason = required_reason(reason)?;
        let address_detail = tidy_address(address_detail)?;
        let mut tx = self.store().begin().await?;
        let current = self
            .household_for_change(&mut tx, actor, id, expected_version)
            .await?;
        let leaving: Vec<Member> = self
            .member_ids(&mut tx, leaving)
            .await?
            .into_iter()
            .map(|(person, relationship)| Member {
                person,
                relationship,
            })
            .collect();
        let (staying, new_members) = current.split(&leaving)?;
        let change = Change {
            at: self.now(),
            actor,
            reason: Some(reason),
        };
        let updated = self
            .write_household(&mut tx, &change, &current, staying, "split")
            .await?;
        let new_household = Household {
            id: HouseholdId(self.new_id()),
            version: 1,
            village: current.village,
            address_detail,
            members: new_members,
            dissolved: false,
            created_at: change.at,
            updated_at: change.at,
        };
        tx.insert_household(&new_household, &change).await?;
        for member in &new_household.members {
            self.move_person(&mut tx, &change, member.person, Some(new_household.id))
                .await?;
        }
        let old_view = self.household_view(&mut tx, updated).await?;
        let new_view = self.household_view(&mut tx, new_household).await?;
        tx.commit().await?;
        Ok((old_view, new_view))
    }

    /// Merges `other` into this household; `other` is dissolved and its members join with the given
    /// relationships to this household's head.
    #[allow(clippy::too_many_arguments)]
    pub async fn merge_households(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected_version: u32,
        other: HouseholdId,
        other_expected_version: u32,
        relationships: &[(Spid, String)],
        reason: &str,
    ) -> Result<HouseholdView, ServiceError> {
        let reason = required_reason(reason)?;
        let mut tx = self.store().begin().await?;
        let current = self.load_household(&mut tx, id).await?;
        let absorbed = self.load_household(&mut tx, other).await?;
        authorize_write(
            actor,
            commune_of(&mut tx, current.village, "village").await?,
        )?;
        authorize_write(
            actor,
            commune_of(&mut tx, absorbed.village, "village").await?,
        )?;
        check_household_version(&current, expected_version)?;
        check_household_version(&absorbed, other_expected_version).map_err(|e| match e {
            ServiceError::Stale(m) => ServiceError::Stale(format!("other household: {m}")),
            other => other,
        })?;
        let relationships = self.member_ids(&mut tx, relationships).await?;
        let members = current.merge(&absorbed, &relationships)?;
        let change = Change {
            at: self.now(),
            actor,
            reason: Some(reason),
        };
        let updated = self
            .write_household(&mut tx, &change, &current, members, "merge")
            .await?;
        let dissolved = Household {
            version: absorbed.version + 1,
            dissolved: true,
            updated_at: change.at,
            ..absorbed.clone()
        };
        tx.update_household(&dissolved, absorbed.version, "merged_into", &change)
            .await?;
        for member in &absorbed.members {
            self.move_person(&mut tx, &change, member.person, Some(id))
                .await?;
        }
        let view = self.household_view(&mut tx, updated).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn list_households(
        &self,
        actor: &Actor,
        commune: Option<&str>,
        after: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<crate::Page<Household>, ServiceError> {
        let place = crate::people::scoped_place(actor, commune)?;
        if place.as_ref().is_some_and(|p| p.len() != 6) {
            return Err(ServiceError::invalid(
                "commune",
                "household listings are by commune (6 digits)",
            ));
        }
        let limit = limit.clamp(1, crate::people::MAX_PAGE);
        let mut tx = self.store().begin().await?;
        let mut items = tx
            .list_households(place.as_deref(), after.map(HouseholdId), limit + 1)
            .await?;
        tx.commit().await?;
        let next_after = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|h| h.id.0)
        } else {
            None
        };
        Ok(crate::Page { items, next_after })
    }
}

fn check_household_version(household: &Household, expected: u32) -> Result<(), ServiceError> {
    if household.version != expected {
        return Err(ServiceError::Stale(format!(
            "the household is at version {} but the change was based on version {expected}; reload and redo it",
            household.version
        )));
    }
    Ok(())
}
