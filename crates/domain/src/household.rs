//! Households: a head, members with their relationship to the head, and the operations that reshape
//! them (change of head, split, merge). Each operation is a pure function from a valid household to a
//! valid household, so the store only ever sees households that keep the invariants below.

use chrono::{DateTime, Utc};

use crate::{DomainError, PersonId, VillageCode};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct HouseholdId(pub uuid::Uuid);

impl std::fmt::Display for HouseholdId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A member's relationship to the head of the household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Head,
    Spouse,
    Child,
    ChildInLaw,
    Grandchild,
    Parent,
    ParentInLaw,
    Sibling,
    OtherRelative,
    NotRelated,
}

impl Relationship {
    pub const ALL: [Relationship; 10] = [
        Relationship::Head,
        Relationship::Spouse,
        Relationship::Child,
        Relationship::ChildInLaw,
        Relationship::Grandchild,
        Relationship::Parent,
        Relationship::ParentInLaw,
        Relationship::Sibling,
        Relationship::OtherRelative,
        Relationship::NotRelated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Head => "head",
            Relationship::Spouse => "spouse",
            Relationship::Child => "child",
            Relationship::ChildInLaw => "child_in_law",
            Relationship::Grandchild => "grandchild",
            Relationship::Parent => "parent",
            Relationship::ParentInLaw => "parent_in_law",
            Relationship::Sibling => "sibling",
            Relationship::OtherRelative => "other_relative",
            Relationship::NotRelated => "not_related",
        }
    }

    pub fn parse(text: &str) -> Result<Relationship, DomainError> {
        Relationship::ALL
            .into_iter()
            .find(|r| r.as_str() == text.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Relationship::ALL.iter().map(|r| r.as_str()).collect();
                DomainError::new(
                    "relationship",
                    format!(
                        "{text:?} is not a relationship; one of {}",
                        known.join(", ")
                    ),
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub person: PersonId,
    pub relationship: Relationship,
}

/// Invariants: at least one member; exactly one member is `Head` and is `head`; nobody is listed twice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Household {
    pub id: HouseholdId,
    pub version: u32,
    pub village: VillageCode,
    /// House number, street or landmark, as the officer wrote it.
    pub address_detail: Option<String>,
    pub members: Vec<Member>,
    /// Set when the household ceased to exist (merged into another, or all members left).
    pub dissolved: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Checks the member invariants of a list that is about to become a household.
pub fn check_members(members: &[Member]) -> Result<(), DomainError> {
    if members.is_empty() {
        return Err(DomainError::new(
            "members",
            "a household has at least one member",
        ));
    }
    let heads = members
        .iter()
        .filter(|m| m.relationship == Relationship::Head)
        .count();
    if heads != 1 {
        return Err(DomainError::new(
            "members",
            format!("a household has exactly one head; this list has {heads}"),
        ));
    }
    for (i, member) in members.iter().enumerate() {
        if members[..i]
            .iter()
            .any(|other| other.person == member.person)
        {
            return Err(DomainError::new(
                format!("members[{i}]"),
                "this person is already listed",
            ));
        }
    }
    Ok(())
}

impl Household {
    pub fn head(&self) -> Option<PersonId> {
        self.members
            .iter()
            .find(|m| m.relationship == Relationship::Head)
            .map(|m| m.person)
    }

    pub fn contains(&self, person: PersonId) -> bool {
        self.members.iter().any(|m| m.person == person)
    }

    fn check_live(&self) -> Result<(), DomainError> {
        if self.dissolved {
            return Err(DomainError::new(
                "household",
                "this household was dissolved; it can no longer change",
            ));
        }
        Ok(())
    }

    /// Makes `new_head` the head. Relationships are relative to the head, so every other member's
    /// relationship to the new head must be given: the registry does not guess family ties.
    pub fn change_head(
        &self,
        new_head: PersonId,
        relationships: &[(PersonId, Relationship)],
    ) -> Result<Vec<Member>, DomainError> {
        self.check_live()?;
        if !self.contains(new_head) {
            return Err(DomainError::new(
                "new_head",
                "is not a member of this household",
            ));
        }
        let mut members = Vec::with_capacity(self.members.len());
        for member in &self.members {
            if member.person == new_head {
                members.push(Member {
                    person: new_head,
                    relationship: Relationship::Head,
                });
                continue;
            }
            let relationship = relationships
                .iter()
                .find(|(person, _)| *person == member.person)
                .map(|(_, r)| *r)
                .ok_or_else(|| {
                    DomainError::new(
                        "relationships",
                        "every other member's relationship to the new head is required",
                    )
                })?;
            if relationship == Relationship::Head {
                return Err(DomainError::new(
                    "relationships",
                    "only the new head can be head",
                ));
            }
            members.push(Member {
                person: member.person,
                relationship,
            });
        }
        if let Some((stranger, _)) = relationships
            .iter()
            .find(|(person, _)| !self.contains(*person))
        {
            return Err(DomainError::new(
                "relationships",
                format!("names a person who is not a member ({:?})", stranger.0),
            ));
        }
        check_members(&members)?;
        Ok(members)
    }

    /// Adds a member (a newborn, a spouse moving in).
    pub fn add_member(&self, member: Member) -> Result<Vec<Member>, DomainError> {
        self.check_live()?;
        if member.relationship == Relationship::Head {
            return Err(DomainError::new(
                "relationship",
                "use a change of head to make someone head",
            ));
        }
        let mut members = self.members.clone();
        members.push(member);
        check_members(&members)?;
        Ok(members)
    }

    /// Takes a member out (moved away, died, or split off). The head cannot be removed while others stay.
    pub fn remove_member(&self, person: PersonId) -> Result<Vec<Member>, DomainError> {
        self.check_live()?;
        if !self.contains(person) {
            return Err(DomainError::new(
                "person",
                "is not a member of this household",
            ));
        }
        let members: Vec<Member> = self
            .members
            .iter()
            .copied()
            .filter(|m| m.person != person)
            .collect();
        if self.head() == Some(person) && !members.is_empty() {
            return Err(DomainError::new(
                "person",
                "is the head; change the head before removing them",
            ));
        }
        Ok(members)
    }

    /// Splits `leaving` (with their relationships to their new head) off into a new household.
    /// Returns the members that stay and the members of the new household.
    pub fn split(&self, leaving: &[Member]) -> Result<(Vec<Member>, Vec<Member>), DomainError> {
        self.check_live()?;
        if let Some(m) = leaving.iter().find(|m| !self.contains(m.person)) {
            return Err(DomainError::new(
                "members",
                format!("names a person who is not a member ({:?})", m.person.0),
            ));
        }
        check_members(leaving).map_err(|e| e.within("split"))?;
        let staying: Vec<Member> = self
            .members
            .iter()
            .copied()
            .filter(|m| !leaving.iter().any(|l| l.person == m.person))
            .collect();
        if staying.is_empty() {
            return Err(DomainError::new(
                "members",
                "a split must leave someone in the original household",
            ));
        }
        if let Some(head) = self.head()
            && !staying.iter().any(|m| m.person == head)
        {
            return Err(DomainError::new(
                "members",
                "the head cannot leave in a split; change the head first",
            ));
        }
        Ok((staying, leaving.to_vec()))
    }

    /// Merges `other` into this household: its members join with the given relationships to this
    /// household's head. `other` is dissolved by the caller.
    pub fn merge(
        &self,
        other: &Household,
        relationships: &[(PersonId, Relationship)],
    ) -> Result<Vec<Member>, DomainError> {
        self.check_live()?;
        other.check_live().map_err(|e| e.within("other"))?;
        if self.id == other.id {
            return Err(DomainError::new(
                "other",
                "a household cannot merge with itself",
            ));
        }
        let mut members = self.members.clone();
        for member in &other.members {
            let relationship = relationships
                .iter()
                .find(|(person, _)| *person == member.person)
                .map(|(_, r)| *r)
                .ok_or_else(|| {
                    DomainError::new(
                        "relationships",
                        "every joining member's relationship to the head is required",
                    )
                })?;
            members.push(Member {
                person: member.person,
                relationship,
            });
        }
        check_members(&members)?;
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: u128) -> PersonId {
        PersonId(uuid::Uuid::from_u128(n))
    }

    fn household(members: &[(u128, Relationship)]) -> Household {
        Household {
            id: HouseholdId(uuid::Uuid::from_u128(1000)),
            version: 1,
            village: VillageCode::parse("12010203").unwrap(),
            address_detail: None,
            members: members
                .iter()
                .map(|&(n, relationship)| Member {
                    person: pid(n),
                    relationship,
                })
                .collect(),
            dissolved: false,
            created_at: DateTime::<Utc>::default(),
            updated_at: DateTime::<Utc>::default(),
        }
    }

    #[test]
    fn member_invariants() {
        use Relationship::*;
        assert!(check_members(&[]).is_err());
        assert!(
            check_members(&[Member {
                person: pid(1),
                relationship: Child
            }])
            .is_err()
        );
        assert!(
            check_members(&[
                Member {
                    person: pid(1),
                    relationship: Head
                },
                Member {
                    person: pid(2),
                    relationship: Head
                }
            ])
            .is_err()
        );
        assert!(
            check_members(&[
                Member {
                    person: pid(1),
                    relationship: Head
                },
                Member {
                    person: pid(1),
                    relationship: Child
                }
            ])
            .is_err()
        );
    }

    #[test]
    fn change_of_head_needs_every_relationship() {
        use Relationship::*;
        let h = household(&[(1, Head), (2, Spouse), (3, Child)]);
        assert!(h.change_head(pid(2), &[(pid(1), Spouse)]).is_err());
        let members = h
            .change_head(pid(2), &[(pid(1), Spouse), (pid(3), Child)])
            .unwrap();
        assert_eq!(
            members[1],
            Member {
                person: pid(2),
                relationship: Head
            }
        );
        assert!(h.change_head(pid(9), &[]).is_err());
        assert!(
            h.change_head(
                pid(2),
                &[(pid(1), Spouse), (pid(3), Child), (pid(9), Child)]
            )
            .is_err()
        );
    }

    #[test]
    fn split_and_merge() {
        use Relationship::*;
        let h = household(&[(1, Head), (2, Spouse), (3, Child), (4, ChildInLaw)]);
        let (staying, leaving) = h
            .split(&[
                Member {
                    person: pid(3),
                    relationship: Head,
                },
                Member {
                    person: pid(4),
                    relationship: Spouse,
                },
            ])
            .unwrap();
        assert_eq!(staying.len(), 2);
        assert_eq!(leaving.len(), 2);
        assert!(
            h.split(&[Member {
                person: pid(1),
                relationship: Head
            }])
            .is_err(),
            "the head stays"
        );
        assert!(
            h.split(&[Member {
                person: pid(3),
                relationship: Child
            }])
            .is_err(),
            "the new household needs a head"
        );

        let mut other = household(&[(7, Head)]);
        other.id = HouseholdId(uuid::Uuid::from_u128(2000));
        assert!(h.merge(&other, &[]).is_err());
        assert_eq!(h.merge(&other, &[(pid(7), Parent)]).unwrap().len(), 5);
        assert!(h.merge(&h, &[]).is_err());
        assert!(
            h.remove_member(pid(1)).is_err(),
            "head cannot leave while others stay"
        );
        assert_eq!(h.remove_member(pid(4)).unwrap().len(), 3);
    }
}
