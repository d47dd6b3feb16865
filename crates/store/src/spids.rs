//! The SPID ledger: every number ever drawn, with its state, so that none is drawn twice; and leases of
//! unissued numbers to field devices that enrol offline.

use chrono::{DateTime, Utc};
use dspp_domain::{PersonId, Spid};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{StoreError, Tx, parse_ts, parse_uuid, ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpidState {
    /// Reserved for a device's lease, not yet issued to anyone.
    Leased,
    /// A person's own SPID.
    Assigned,
    /// The SPID of a record merged into another person; resolves to `alias_of`.
    Alias,
    /// Leased and returned unissued. Never issued, never drawn again.
    Void,
}

impl SpidState {
    fn as_str(self) -> &'static str {
        match self {
            SpidState::Leased => "leased",
            SpidState::Assigned => "assigned",
            SpidState::Alias => "alias",
            SpidState::Void => "void",
        }
    }

    fn parse(text: &str) -> Result<SpidState, StoreError> {
        match text {
            "leased" => Ok(SpidState::Leased),
            "assigned" => Ok(SpidState::Assigned),
            "alias" => Ok(SpidState::Alias),
            "void" => Ok(SpidState::Void),
            other => Err(StoreError::Corrupt(format!("SPID state {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpidEntry {
    pub spid: Spid,
    pub state: SpidState,
    pub person: Option<PersonId>,
    pub alias_of: Option<Spid>,
    pub lease: Option<uuid::Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: uuid::Uuid,
    pub device_id: String,
    pub granted_to: String,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub size: u32,
    pub returned_at: Option<DateTime<Utc>>,
}

fn corrupt(e: dspp_domain::DomainError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn entry_from_row(row: &AnyRow) -> Result<SpidEntry, StoreError> {
    let spid: String = row.try_get("spid").map_err(StoreError::from_sqlx)?;
    let state: String = row.try_get("state").map_err(StoreError::from_sqlx)?;
    let person: Option<String> = row.try_get("person_id").map_err(StoreError::from_sqlx)?;
    let alias_of: Option<String> = row.try_get("alias_of").map_err(StoreError::from_sqlx)?;
    let lease: Option<String> = row.try_get("lease_id").map_err(StoreError::from_sqlx)?;
    Ok(SpidEntry {
        spid: Spid::parse(&spid).map_err(corrupt)?,
        state: SpidState::parse(&state)?,
        person: person.as_deref().map(parse_uuid).transpose()?.map(PersonId),
        alias_of: alias_of
            .as_deref()
            .map(Spid::parse)
            .transpose()
            .map_err(corrupt)?,
        lease: lease.as_deref().map(parse_uuid).transpose()?,
    })
}

fn lease_from_row(row: &AnyRow) -> Result<Lease, StoreError> {
    let get = |col: &str| row.try_get::<String, _>(col).map_err(StoreError::from_sqlx);
    let returned_at: Option<String> = row.try_get("returned_at").map_err(StoreError::from_sqlx)?;
    Ok(Lease {
        id: parse_uuid(&get("id")?)?,
        device_id: get("device_id")?,
        granted_to: get("granted_to")?,
        granted_at: parse_ts(&get("granted_at")?)?,
        expires_at: parse_ts(&get("expires_at")?)?,
        size: u32::try_from(
            row.try_get::<i64, _>("size")
                .map_err(StoreError::from_sqlx)?,
        )
        .unwrap_or(0),
        returned_at: returned_at.as_deref().map(parse_ts).transpose()?,
    })
}

impl Tx {
    /// Reserves `spid` if it was never drawn before. Returns false when it is taken (draw another).
    pub async fn reserve_spid(
        &mut self,
        spid: Spid,
        state: SpidState,
        lease: Option<uuid::Uuid>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO spid (spid, state, lease_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (spid) DO NOTHING",
        )
        .bind(spid.to_string())
        .bind(state.as_str())
        .bind(lease.map(|l| l.to_string()))
        .bind(ts(at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(result.rows_affected() == 1)
    }

    /// Marks a reserved SPID as the person's. Only a reserved (`leased` or freshly drawn) SPID moves.
    pub(crate) async fn assign_spid(
        &mut self,
        spid: Spid,
        person: PersonId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE spid SET state = 'assigned', person_id = $1, assigned_at = $2 WHERE spid = $3 AND state IN ('leased', 'assigned')
             AND person_id IS NULL",
        )
        .bind(person.0.to_string())
        .bind(ts(at))
        .bind(spid.to_string())
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "SPID {spid} is not free to assign"
            )));
        }
        Ok(())
    }

    /// Turns an assigned SPID into an alias of `survivor`.
    pub async fn make_spid_alias(&mut self, spid: Spid, survivor: Spid) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE spid SET state = 'alias', alias_of = $1 WHERE spid = $2 AND state = 'assigned'",
        )
        .bind(survivor.to_string())
        .bind(spid.to_string())
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "SPID {spid} is not an assigned SPID"
            )));
        }
        // Aliases of the merged record now resolve to the survivor directly: no chains to follow.
        sqlx::query("UPDATE spid SET alias_of = $1 WHERE alias_of = $2")
            .bind(survivor.to_string())
            .bind(spid.to_string())
            .execute(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Undoes [`Tx::make_spid_alias`] (an unmerge): `spid` is assigned to its person again, and the SPIDs of people
    /// that had been merged into that person resolve to it again rather than to the former survivor.
    pub async fn restore_spid(&mut self, spid: Spid) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE spid SET state = 'assigned', alias_of = NULL WHERE spid = $1 AND state = 'alias'",
        )
        .bind(spid.to_string())
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!("SPID {spid} is not an alias")));
        }
        sqlx::query(
            "UPDATE spid SET alias_of = $1
             WHERE state = 'alias' AND person_id IN (SELECT id FROM person WHERE merged_into = $1)",
        )
        .bind(spid.to_string())
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn spid_entry(&mut self, spid: Spid) -> Result<Option<SpidEntry>, StoreError> {
        let row = sqlx::query(
            "SELECT spid, state, person_id, alias_of, lease_id FROM spid WHERE spid = $1",
        )
        .bind(spid.to_string())
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(entry_from_row).transpose()
    }

    pub async fn insert_lease(&mut self, lease: &Lease) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO spid_lease (id, device_id, granted_to, granted_at, expires_at, size) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(lease.id.to_string())
        .bind(&lease.device_id)
        .bind(&lease.granted_to)
        .bind(ts(lease.granted_at))
        .bind(ts(lease.expires_at))
        .bind(i64::from(lease.size))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn lease(&mut self, id: uuid::Uuid) -> Result<Option<Lease>, StoreError> {
        let row = sqlx::query(
            "SELECT id, device_id, granted_to, granted_at, expires_at, size, returned_at FROM spid_lease WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(lease_from_row).transpose()
    }

    /// The SPIDs of a lease with their states, in SPID order.
    pub async fn lease_entries(&mut self, id: uuid::Uuid) -> Result<Vec<SpidEntry>, StoreError> {
        let rows = sqlx::query("SELECT spid, state, person_id, alias_of, lease_id FROM spid WHERE lease_id = $1 ORDER BY spid")
            .bind(id.to_string())
            .fetch_all(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Ends a lease: its unissued SPIDs become void (never issued, never drawn again). Returns how many.
    pub async fn return_lease(
        &mut self,
        id: uuid::Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        sqlx::query("UPDATE spid_lease SET returned_at = $1 WHERE id = $2 AND returned_at IS NULL")
            .bind(ts(at))
            .bind(id.to_string())
            .execute(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        let result =
            sqlx::query("UPDATE spid SET state = 'void' WHERE lease_id = $1 AND state = 'leased'")
                .bind(id.to_string())
                .execute(&mut *self.inner)
                .await
                .map_err(StoreError::from_sqlx)?;
        Ok(result.rows_affected())
    }
}
