//! Enrolments in programs and the rules of approving them: an application covers several programs for the
//! members of one household; each line (an [`EnrolmentStatus`]) is approved or rejected on its own, by
//! someone with the authority of the approval step, and never by the officer who submitted it.

use chrono::{DateTime, Utc};

use crate::{Actor, CommuneCode, DomainError, Role, Scope};

/// Where one enrolment (a program for a person or a household) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrolmentStatus {
    /// Submitted, waiting for the next approval step.
    Pending,
    /// Rejected with a reason; the officer may correct and resubmit it.
    Rejected,
    /// Every approval step done; waiting in the outbox for the operator.
    Approved,
    /// The operator acknowledged it and answered with its beneficiary id.
    Delivered,
    /// Ended by a life event (death), recertification or withdrawal.
    Ended,
}

impl EnrolmentStatus {
    pub const ALL: [EnrolmentStatus; 5] = [
        EnrolmentStatus::Pending,
        EnrolmentStatus::Rejected,
        EnrolmentStatus::Approved,
        EnrolmentStatus::Delivered,
        EnrolmentStatus::Ended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EnrolmentStatus::Pending => "pending",
            EnrolmentStatus::Rejected => "rejected",
            EnrolmentStatus::Approved => "approved",
            EnrolmentStatus::Delivered => "delivered",
            EnrolmentStatus::Ended => "ended",
        }
    }

    pub fn parse(text: &str) -> Result<EnrolmentStatus, DomainError> {
        EnrolmentStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                DomainError::new("status", format!("{text:?} is not an enrolment status"))
            })
    }

    /// Whether the enrolment holds the person's place in the program: a second application for the same
    /// person and program is refused while one is active.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            EnrolmentStatus::Pending | EnrolmentStatus::Approved | EnrolmentStatus::Delivered
        )
    }
}

/// An approval step of a program's chain, named by the role that must act.
pub fn step_role(step: &str) -> Result<Role, DomainError> {
    match step {
        "commune_chief" => Ok(Role::CommuneChief),
        "district_officer" => Ok(Role::DistrictOfficer),
        "provincial_officer" => Ok(Role::ProvincialOfficer),
        "program_operator" => Ok(Role::ProgramOperator),
        other => Err(DomainError::new(
            "approval",
            format!(
                "{other:?} is not an approval step; commune_chief, district_officer, provincial_officer or program_operator"
            ),
        )),
    }
}

/// A chief's formal delegation of approval to a named officer, for a period, under a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationGrant {
    pub id: String,
    /// The chief whose authority is delegated.
    pub principal: String,
    /// The officer who may act on the chief's behalf.
    pub delegate: String,
    pub commune: CommuneCode,
    /// The delegation letter or decision, as cited in every act done under it.
    pub letter_reference: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl DelegationGrant {
    pub fn in_force_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from <= at
            && at < self.valid_until
            && self.revoked_at.is_none_or(|revoked| at < revoked)
    }
}

/// On whose authority an approval is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authority {
    /// The actor holds the step's role for the commune.
    Own,
    /// The actor acts for a chief under a delegation in force.
    Delegated {
        principal: String,
        delegation_id: String,
        letter_reference: String,
    },
}

/// Why an actor may not decide a step. Each reason is meant to be shown as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// Decides whether `actor` may take the approval step `step` for an application of `commune` submitted
/// (and perhaps resubmitted) by `submitters`, and on whose authority.
///
/// The rules: nobody approves an application they submitted, whatever their role or delegation; the
/// step's role acts for a scope covering the commune; a commune-chief step may also be taken by an officer
/// named in a delegation from a chief of that commune, in force now.
pub fn approval_authority(
    actor: &Actor,
    step: Role,
    commune: CommuneCode,
    submitters: &[String],
    delegations: &[DelegationGrant],
    now: DateTime<Utc>,
) -> Result<Authority, Refusal> {
    if submitters.contains(&actor.subject) {
        return Err(Refusal(format!(
            "{} submitted this application and may not approve it; another person with the authority must",
            actor.subject
        )));
    }
    if actor.role == step {
        let covers = match (&actor.scope, step) {
            (Scope::Program(_), Role::ProgramOperator) => true,
            (scope, _) => scope.covers(commune),
        };
        if covers {
            return Ok(Authority::Own);
        }
        return Err(Refusal(format!(
            "acting for {} does not cover commune {commune}",
            actor.scope
        )));
    }
    if step == Role::CommuneChief && actor.role == Role::Officer {
        let grant = delegations.iter().find(|grant| {
            grant.delegate == actor.subject && grant.commune == commune && grant.in_force_at(now)
        });
        if let Some(grant) = grant {
            if submitters.contains(&grant.principal) {
                // A chief who submitted may not approve, and neither may someone acting in their name.
                return Err(Refusal(format!(
                    "{} submitted this application; an approval on their behalf is not independent",
                    grant.principal
                )));
            }
            return Ok(Authority::Delegated {
                principal: grant.principal.clone(),
                delegation_id: grant.id.clone(),
                letter_reference: grant.letter_reference.clone(),
            });
        }
        return Err(Refusal(format!(
            "{} holds no delegation in force from a chief of commune {commune}",
            actor.subject
        )));
    }
    Err(Refusal(format!(
        "this step needs the role {}, and {} acts as {}",
        step.as_str(),
        actor.subject,
        actor.role.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActorKind, Purpose};
    use chrono::TimeZone;

    fn actor(subject: &str, role: Role, scope: &str) -> Actor {
        Actor {
            kind: ActorKind::User,
            subject: subject.into(),
            role,
            scope: Scope::parse(scope).unwrap(),
            delegation: None,
            purpose: Purpose::Approval,
        }
    }

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, hour, 0, 0).unwrap()
    }

    fn grant() -> DelegationGrant {
        DelegationGrant {
            id: "d1".into(),
            principal: "chief.sophal".into(),
            delegate: "officer.dara".into(),
            commune: CommuneCode::parse("120102").unwrap(),
            letter_reference: "Letter 12/2026".into(),
            valid_from: at(8),
            valid_until: at(17),
            revoked_at: None,
        }
    }

    fn decide(actor: &Actor, submitters: &[&str], grants: &[DelegationGrant], hour: u32) -> String {
        let submitters: Vec<String> = submitters.iter().map(|s| s.to_string()).collect();
        match approval_authority(
            actor,
            Role::CommuneChief,
            CommuneCode::parse("120102").unwrap(),
            &submitters,
            grants,
            at(hour),
        ) {
            Ok(Authority::Own) => "own".into(),
            Ok(Authority::Delegated {
                principal,
                letter_reference,
                ..
            }) => format!("for {principal} under {letter_reference}"),
            Err(Refusal(why)) => format!("refused: {why}"),
        }
    }

    #[test]
    fn the_chief_of_the_commune_approves_on_their_own_authority() {
        let chief = actor("chief.sophal", Role::CommuneChief, "commune:120102");
        assert_eq!(decide(&chief, &["officer.dara"], &[], 10), "own");
        let other = actor("chief.other", Role::CommuneChief, "commune:120103");
        assert!(decide(&other, &["officer.dara"], &[], 10).starts_with("refused: acting for"));
    }

    #[test]
    fn a_delegate_acts_for_the_chief_only_while_the_delegation_is_in_force() {
        let officer = actor("officer.dara", Role::Officer, "commune:120102");
        assert_eq!(
            decide(&officer, &["officer.sokha"], &[grant()], 10),
            "for chief.sophal under Letter 12/2026"
        );
        assert!(decide(&officer, &["officer.sokha"], &[grant()], 7).contains("no delegation"));
        assert!(decide(&officer, &["officer.sokha"], &[grant()], 17).contains("no delegation"));
        let mut revoked = grant();
        revoked.revoked_at = Some(at(9));
        assert!(decide(&officer, &["officer.sokha"], &[revoked], 10).contains("no delegation"));
        let stranger = actor("officer.vanna", Role::Officer, "commune:120102");
        assert!(decide(&stranger, &["officer.sokha"], &[grant()], 10).contains("no delegation"));
    }

    #[test]
    fn nobody_approves_their_own_submission() {
        let officer = actor("officer.dara", Role::Officer, "commune:120102");
        assert!(decide(&officer, &["officer.dara"], &[grant()], 10).contains("may not approve"));
        let chief = actor("chief.sophal", Role::CommuneChief, "commune:120102");
        assert!(decide(&chief, &["chief.sophal"], &[], 10).contains("may not approve"));
        // Nor can a delegate approve what the delegating chief submitted.
        assert!(decide(&officer, &["chief.sophal"], &[grant()], 10).contains("not independent"));
    }

    #[test]
    fn statuses_round_trip() {
        for status in EnrolmentStatus::ALL {
            assert_eq!(EnrolmentStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(EnrolmentStatus::parse("done").is_err());
        assert_eq!(step_role("commune_chief").unwrap(), Role::CommuneChief);
        assert!(step_role("mayor").is_err());
    }
}
