//! Delegations: a commune chief formally hands approval to a named officer for a period, citing the
//! delegation letter. Acts done under one record the chief, the delegate and the letter.

use chrono::{DateTime, Duration, Utc};
use dspp_domain::{Actor, CommuneCode, DelegationGrant, Role, Scope};
use dspp_store::Change;

use crate::{FieldProblem, Registry, ServiceError, authorize_read};

/// The longest a delegation may run: a chief's absence, not a permanent transfer of authority.
const MAX_DELEGATION_DAYS: i64 = 366;

#[derive(Debug, Clone)]
pub struct NewDelegation {
    pub delegate: String,
    pub letter_reference: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

impl Registry {
    /// A commune chief delegates approval in their commune to an officer.
    pub async fn grant_delegation(
        &self,
        actor: &Actor,
        input: &NewDelegation,
    ) -> Result<DelegationGrant, ServiceError> {
        let commune = match (actor.role, &actor.scope) {
            (Role::CommuneChief, Scope::Commune(commune)) => *commune,
            _ => {
                return Err(ServiceError::Forbidden(
                    "only a commune chief acting for their commune may delegate approval".into(),
                ));
            }
        };
        if actor.delegation.is_some() {
            return Err(ServiceError::Forbidden(
                "a delegate may not delegate further".into(),
            ));
        }
        let mut problems = Vec::new();
        let delegate = match Actor::parse_subject(&input.delegate) {
            Ok(delegate) => Some(delegate),
            Err(e) => {
                problems.push(FieldProblem {
                    field: "delegate".into(),
                    reason: e.reason,
                });
                None
            }
        };
        if delegate.as_deref() == Some(actor.subject.as_str()) {
            problems.push(FieldProblem {
                field: "delegate".into(),
                reason: "a chief cannot delegate to themselves".into(),
            });
        }
        let letter = input.letter_reference.trim();
        if letter.is_empty() || letter.len() > 200 {
            problems.push(FieldProblem {
                field: "letter_reference".into(),
                reason: "cite the delegation letter or decision (1 to 200 characters)".into(),
            });
        }
        if input.valid_until <= input.valid_from {
            problems.push(FieldProblem {
                field: "valid_until".into(),
                reason: "must be after valid_from".into(),
            });
        } else if input.valid_until - input.valid_from > Duration::days(MAX_DELEGATION_DAYS) {
            problems.push(FieldProblem {
                field: "valid_until".into(),
                reason: format!("a delegation runs at most {MAX_DELEGATION_DAYS} days"),
            });
        }
        if input.valid_until <= self.now() {
            problems.push(FieldProblem {
                field: "valid_until".into(),
                reason: "is already past".into(),
            });
        }
        let (Some(delegate), true) = (delegate, problems.is_empty()) else {
            return Err(ServiceError::Invalid(problems));
        };
        let grant = DelegationGrant {
            id: self.new_id().to_string(),
            principal: actor.subject.clone(),
            delegate,
            commune,
            letter_reference: letter.to_string(),
            valid_from: input.valid_from,
            valid_until: input.valid_until,
            revoked_at: None,
        };
        let mut tx = self.store().begin().await?;
        tx.insert_delegation(&grant, self.now()).await?;
        tx.log_change(
            &Change {
                at: self.now(),
                actor,
                reason: Some(letter),
            },
            "grant",
            "delegation",
            &grant.id,
            1,
        )
        .await?;
        tx.commit().await?;
        Ok(grant)
    }

    /// Ends a delegation early: the chief who granted it, or a national administrator.
    pub async fn revoke_delegation(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
    ) -> Result<DelegationGrant, ServiceError> {
        let reason = crate::people::required_reason(reason)?;
        let mut tx = self.store().begin().await?;
        let grant = tx
            .delegation(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("delegation {id}")))?;
        if grant.principal != actor.subject && actor.role != Role::NationalAdministrator {
            return Err(ServiceError::Forbidden(
                "only the chief who granted a delegation, or a national administrator, may revoke it".into(),
            ));
        }
        if grant.revoked_at.is_some() {
            return Err(ServiceError::Conflict(
                "the delegation is already revoked".into(),
            ));
        }
        tx.revoke_delegation(id, self.now(), &actor.subject, reason)
            .await?;
        tx.log_change(
            &Change {
                at: self.now(),
                actor,
                reason: Some(reason),
            },
            "revoke",
            "delegation",
            id,
            2,
        )
        .await?;
        let grant = tx
            .delegation(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("delegation {id}")))?;
        tx.commit().await?;
        Ok(grant)
    }

    pub async fn delegations(
        &self,
        actor: &Actor,
        commune: CommuneCode,
    ) -> Result<Vec<DelegationGrant>, ServiceError> {
        authorize_read(actor, commune)?;
        let mut tx = self.store().begin().await?;
        let grants = tx.delegations_in(commune).await?;
        tx.commit().await?;
        Ok(grants)
    }
}
