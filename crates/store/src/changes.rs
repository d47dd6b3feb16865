//! The change log: one row for every write to every entity, naming the actor, the authority they acted
//! under, the purpose and the reason. Versions of people and households point at their row here.

use chrono::{DateTime, Utc};
use dspp_domain::Actor;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{StoreError, Tx, from_json, parse_ts, to_json, ts};

/// The who, when and why of a write, passed to every mutating store call.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a Actor,
    pub reason: Option<&'a str>,
}

/// A change as read back for history views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub id: String,
    pub at: DateTime<Utc>,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub version: u32,
    /// `user` or `client` (a machine).
    pub actor_kind: String,
    pub actor_subject: String,
    pub actor_role: String,
    pub actor_scope: String,
    pub on_behalf_of: Option<String>,
    pub delegation_reference: Option<String>,
    pub purpose: String,
    pub reason: Option<String>,
}

pub(crate) fn change_from_row(row: &AnyRow) -> Result<ChangeRecord, StoreError> {
    let get = |col: &str| row.try_get::<String, _>(col).map_err(StoreError::from_sqlx);
    let opt = |col: &str| {
        row.try_get::<Option<String>, _>(col)
            .map_err(StoreError::from_sqlx)
    };
    Ok(ChangeRecord {
        id: get("id")?,
        at: parse_ts(&get("at")?)?,
        action: get("action")?,
        entity: get("entity")?,
        entity_id: get("entity_id")?,
        version: u32::try_from(
            row.try_get::<i64, _>("version")
                .map_err(StoreError::from_sqlx)?,
        )
        .unwrap_or(0),
        actor_kind: get("actor_kind")?,
        actor_subject: get("actor_subject")?,
        actor_role: get("actor_role")?,
        actor_scope: get("actor_scope")?,
        on_behalf_of: opt("on_behalf_of")?,
        delegation_reference: opt("delegation_reference")?,
        purpose: get("purpose")?,
        reason: opt("reason")?,
    })
}

pub(crate) const CHANGE_COLUMNS: &str = "c.id, c.at, c.action, c.entity, c.entity_id, c.version, c.actor_kind, c.actor_subject, \
    c.actor_role, c.actor_scope, c.on_behalf_of, c.delegation_reference, c.purpose, c.reason";

impl Tx {
    /// Records one write and returns the id of its log row.
    pub async fn log_change(
        &mut self,
        change: &Change<'_>,
        action: &str,
        entity: &str,
        entity_id: &str,
        version: u32,
    ) -> Result<String, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let actor = change.actor;
        sqlx::query(
            "INSERT INTO change_log (id, at, action, entity, entity_id, version, actor_kind, actor_subject, actor_role,
                actor_scope, on_behalf_of, delegation_reference, purpose, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&id)
        .bind(ts(change.at))
        .bind(action)
        .bind(entity)
        .bind(entity_id)
        .bind(i64::from(version))
        .bind(match actor.kind {
            dspp_domain::ActorKind::User => "user",
            dspp_domain::ActorKind::Client => "client",
        })
        .bind(&actor.subject)
        .bind(actor.role.as_str())
        .bind(actor.scope.to_string())
        .bind(actor.delegation.as_ref().map(|d| d.principal.clone()))
        .bind(actor.delegation.as_ref().map(|d| d.reference.clone()))
        .bind(actor.purpose.as_str())
        .bind(change.reason)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(id)
    }

    /// Every change to one entity, oldest first.
    pub async fn changes_of(
        &mut self,
        entity: &str,
        entity_id: &str,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANGE_COLUMNS} FROM change_log c WHERE c.entity = $1 AND c.entity_id = $2 ORDER BY c.at, c.id"
        ))
        .bind(entity)
        .bind(entity_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(change_from_row).collect()
    }

    /// Keeps one version of a versioned entity: its change-log row and its snapshot in the version table.
    pub(crate) async fn write_version<T: serde::Serialize>(
        &mut self,
        kind: Versioned,
        id: &str,
        version: u32,
        snapshot: &T,
        change: &Change<'_>,
        action: &str,
    ) -> Result<(), StoreError> {
        let change_id = self
            .log_change(change, action, kind.entity(), id, version)
            .await?;
        let (table, key) = kind.table_and_key();
        sqlx::query(&format!(
            "INSERT INTO {table} ({key}, version, data, change_id) VALUES ($1, $2, $3, $4)"
        ))
        .bind(id)
        .bind(i64::from(version))
        .bind(to_json(snapshot)?)
        .bind(change_id)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Every version of a versioned entity, oldest first, each with the change that made it.
    pub(crate) async fn versions<T: serde::de::DeserializeOwned>(
        &mut self,
        kind: Versioned,
        id: &str,
    ) -> Result<Vec<(T, ChangeRecord)>, StoreError> {
        let (table, key) = kind.table_and_key();
        let rows = sqlx::query(&format!(
            "SELECT v.data AS snapshot, {CHANGE_COLUMNS} FROM {table} v JOIN change_log c ON c.id = v.change_id
             WHERE v.{key} = $1 ORDER BY v.version"
        ))
        .bind(id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                let snapshot: String = row.try_get("snapshot").map_err(StoreError::from_sqlx)?;
                Ok((from_json(&snapshot, kind.entity())?, change_from_row(row)?))
            })
            .collect()
    }
}

/// The entities kept with every version.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Versioned {
    Person,
    Household,
}

impl Versioned {
    fn entity(self) -> &'static str {
        match self {
            Versioned::Person => "person",
            Versioned::Household => "household",
        }
    }

    fn table_and_key(self) -> (&'static str, &'static str) {
        match self {
            Versioned::Person => ("person_version", "person_id"),
            Versioned::Household => ("household_version", "household_id"),
        }
    }
}
