//! SPID leases for offline enrolment. A field device that will be out of reach asks in advance for a
//! pool of SPIDs. They are drawn at random like any other, reserved in the ledger under the lease, and
//! expire. Offline, the device issues them to the people it enrols; at sync each enrolment names the
//! SPID, the lease and when it was issued, and the server reconciles: the SPID must belong to that lease
//! and device, still be unissued, and have been issued before the lease expired. SPIDs left unissued
//! are voided when the lease is returned: never issued, never drawn again.

use chrono::{DateTime, Utc};
use dspp_domain::{Actor, Role, Spid};
use dspp_store::{Lease, SpidEntry, SpidState, Tx};

use crate::people::not_in_future;
use crate::{Registry, ServiceError};

/// The most SPIDs one lease may hold, and the longest a lease may last.
pub const MAX_LEASE_SIZE: u32 = 5_000;
pub const MAX_LEASE_DAYS: u32 = 90;

#[derive(Debug, Clone)]
pub struct NewLease {
    pub device_id: String,
    pub size: u32,
    pub valid_days: u32,
}

/// How a device says it issued a leased SPID while offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineIssue {
    pub spid: Spid,
    pub lease: uuid::Uuid,
    pub device_id: String,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct LeaseView {
    pub lease: Lease,
    pub entries: Vec<SpidEntry>,
}

impl LeaseView {
    pub fn count(&self, state: SpidState) -> usize {
        self.entries.iter().filter(|e| e.state == state).count()
    }
}

fn check_device_id(device_id: &str) -> Result<String, ServiceError> {
    let device_id = device_id.trim();
    if device_id.is_empty()
        || device_id.len() > 100
        || !device_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
    {
        return Err(ServiceError::invalid(
            "device_id",
            "1 to 100 characters of letters, digits and ._:-",
        ));
    }
    Ok(device_id.to_string())
}

impl Registry {
    /// Grants a device a lease of fresh random SPIDs.
    pub async fn grant_lease(
        &self,
        actor: &Actor,
        request: &NewLease,
    ) -> Result<LeaseView, ServiceError> {
        if !actor.role.may_register() || actor.role == Role::Auditor {
            return Err(ServiceError::Forbidden(format!(
                "the role {} cannot enrol, so cannot lease SPIDs",
                actor.role.as_str()
            )));
        }
        let device_id = check_device_id(&request.device_id)?;
        if request.size == 0 || request.size > MAX_LEASE_SIZE {
            return Err(ServiceError::invalid(
                "size",
                format!("between 1 and {MAX_LEASE_SIZE}"),
            ));
        }
        if request.valid_days == 0 || request.valid_days > MAX_LEASE_DAYS {
            return Err(ServiceError::invalid(
                "valid_days",
                format!("between 1 and {MAX_LEASE_DAYS}"),
            ));
        }
        let now = self.now();
        let lease = Lease {
            id: self.new_id(),
            device_id,
            granted_to: actor.subject.clone(),
            granted_at: now,
            expires_at: now + chrono::Duration::days(i64::from(request.valid_days)),
            size: request.size,
            returned_at: None,
        };
        let mut tx = self.store().begin().await?;
        tx.insert_lease(&lease).await?;
        let change = dspp_store::Change {
            at: now,
            actor,
            reason: Some("offline enrolment"),
        };
        tx.log_change(&change, "grant", "spid_lease", &lease.id.to_string(), 1)
            .await?;
        for _ in 0..request.size {
            self.draw_spid(&mut tx, SpidState::Leased, Some(lease.id))
                .await?;
        }
        let entries = tx.lease_entries(lease.id).await?;
        tx.commit().await?;
        Ok(LeaseView { lease, entries })
    }

    pub async fn lease(&self, actor: &Actor, id: uuid::Uuid) -> Result<LeaseView, ServiceError> {
        let mut tx = self.store().begin().await?;
        let lease = tx
            .lease(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("lease".into()))?;
        if lease.granted_to != actor.subject
            && !matches!(
                actor.role,
                Role::NationalAdministrator | Role::Auditor | Role::System
            )
        {
            return Err(ServiceError::Forbidden(
                "a lease is visible to whoever was granted it and to administrators".into(),
            ));
        }
        let entries = tx.lease_entries(id).await?;
        tx.commit().await?;
        Ok(LeaseView { lease, entries })
    }

    /// Ends a lease after the device synced: unissued SPIDs become void.
    pub async fn return_lease(
        &self,
        actor: &Actor,
        id: uuid::Uuid,
    ) -> Result<LeaseView, ServiceError> {
        let mut tx = self.store().begin().await?;
        let lease = tx
            .lease(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("lease".into()))?;
        if lease.granted_to != actor.subject
            && !matches!(actor.role, Role::NationalAdministrator | Role::System)
        {
            return Err(ServiceError::Forbidden(
                "only whoever was granted a lease, or an administrator, returns it".into(),
            ));
        }
        if lease.returned_at.is_some() {
            return Err(ServiceError::Conflict(
                "the lease was already returned".into(),
            ));
        }
        let now = self.now();
        tx.return_lease(id, now).await?;
        let change = dspp_store::Change {
            at: now,
            actor,
            reason: Some("lease returned"),
        };
        tx.log_change(&change, "return", "spid_lease", &id.to_string(), 2)
            .await?;
        let lease = tx
            .lease(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("lease".into()))?;
        let entries = tx.lease_entries(id).await?;
        tx.commit().await?;
        Ok(LeaseView { lease, entries })
    }

    /// Checks an offline-issued SPID against its lease; the caller then assigns it.
    pub(crate) async fn reconcile_offline_spid(
        &self,
        tx: &mut Tx,
        issue: &OfflineIssue,
    ) -> Result<Spid, ServiceError> {
        let lease = tx
            .lease(issue.lease)
            .await?
            .ok_or_else(|| ServiceError::invalid("offline.lease", "no such lease"))?;
        if lease.device_id != issue.device_id {
            return Err(ServiceError::invalid(
                "offline.device_id",
                "the lease was granted to another device",
            ));
        }
        let entry = tx.spid_entry(issue.spid).await?;
        let Some(entry) = entry.filter(|e| e.lease == Some(issue.lease)) else {
            return Err(ServiceError::invalid(
                "offline.spid",
                format!("{} is not part of this lease", issue.spid),
            ));
        };
        match entry.state {
            SpidState::Leased => {}
            SpidState::Assigned | SpidState::Alias => {
                return Err(ServiceError::Conflict(format!(
                    "{} was already issued to another person; the device must not issue a SPID twice",
                    issue.spid
                )));
            }
            SpidState::Void => {
                return Err(ServiceError::Conflict(format!(
                    "{} was voided when the lease was returned",
                    issue.spid
                )));
            }
        }
        if issue.issued_at > lease.expires_at {
            return Err(ServiceError::Conflict(format!(
                "{} was issued after the lease expired ({}); enrol the person again online to get a new SPID",
                issue.spid, lease.expires_at
            )));
        }
        if issue.issued_at < lease.granted_at || !not_in_future(issue.issued_at, self.now()) {
            return Err(ServiceError::invalid(
                "offline.issued_at",
                "outside the lease's lifetime; check the device clock",
            ));
        }
        Ok(issue.spid)
    }
}
