//! The transactional outbox: a message to another system is written in the same transaction as the change
//! it announces, so it exists if and only if the change does; a worker claims due messages for a while
//! (a lease, so a crashed worker's claims come back), sends them, and marks them done, retried or failed.
//! Claiming works the same on both databases; PostgreSQL also skips rows another worker has locked.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::enrolments::Cols;
use crate::{Dialect, Store, StoreError, Tx, parse_ts, ts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: String,
    /// `delivery` or `id_check`.
    pub kind: String,
    /// The configured endpoint it goes to (an operator's name, or `national_id`).
    pub destination: String,
    /// The enrolment or person it is about.
    pub subject_id: String,
    pub payload: String,
    /// `pending`, `done` or `failed` (a permanent refusal, shown to people).
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

const OUTBOX_COLUMNS: &str = "id, kind, destination, subject_id, payload, status, attempts, next_attempt_at, \
     last_error, created_at, done_at";

fn outbox_from_row(row: &AnyRow) -> Result<OutboxItem, StoreError> {
    let c = Cols(row);
    Ok(OutboxItem {
        id: c.text("id")?,
        kind: c.text("kind")?,
        destination: c.text("destination")?,
        subject_id: c.text("subject_id")?,
        payload: c.text("payload")?,
        status: c.text("status")?,
        attempts: u32::try_from(c.int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: c.time("next_attempt_at")?,
        last_error: c.opt_text("last_error")?,
        created_at: c.time("created_at")?,
        done_at: c.opt_time("done_at")?,
    })
}

impl Tx {
    pub async fn insert_outbox(&mut self, item: &OutboxItem) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO outbox ({OUTBOX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&item.id)
        .bind(&item.kind)
        .bind(&item.destination)
        .bind(&item.subject_id)
        .bind(&item.payload)
        .bind(&item.status)
        .bind(i64::from(item.attempts))
        .bind(ts(item.next_attempt_at))
        .bind(&item.last_error)
        .bind(ts(item.created_at))
        .bind(item.done_at.map(ts))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// The message was accepted by its destination.
    pub async fn finish_outbox(&mut self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'done', done_at = $1, claimed_until = NULL, last_error = NULL WHERE id = $2",
        )
        .bind(ts(at))
        .bind(id)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Every message about `subject_id`, oldest first.
    pub async fn outbox_for(&mut self, subject_id: &str) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE subject_id = $1 ORDER BY created_at, id"
        ))
        .bind(subject_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// The destination could not take it now: try again at `next_attempt_at`.
    pub async fn retry_outbox(
        &mut self,
        id: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1, last_error = $2, claimed_until = NULL WHERE id = $3",
        )
        .bind(ts(next_attempt_at))
        .bind(error)
        .bind(id)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// The destination refused it for good: it stays visible as failed until someone acts.
    pub async fn fail_outbox(
        &mut self,
        id: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'failed', done_at = $1, last_error = $2, claimed_until = NULL WHERE id = $3",
        )
        .bind(ts(at))
        .bind(error)
        .bind(id)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }
}

impl Store {
    /// Claims up to `limit` due messages until `lease_until` and counts the attempt. A message whose claim
    /// lapsed (its worker died) is due again.
    pub async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let skip_locked = match self.dialect {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1
             WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2
                            AND (claimed_until IS NULL OR claimed_until <= $2)
                          ORDER BY next_attempt_at, id LIMIT $3 {skip_locked})
               AND (claimed_until IS NULL OR claimed_until <= $2)
             RETURNING {OUTBOX_COLUMNS}"
        ))
        .bind(ts(lease_until))
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let mut items = rows
            .iter()
            .map(outbox_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        items.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(items)
    }

    /// Messages not yet done (pending or failed), oldest first: what the operations view shows.
    pub async fn outbox_open(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status <> 'done' ORDER BY created_at, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// The earliest time a pending message is due, so a worker knows how long it may sleep.
    pub async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row =
            sqlx::query("SELECT MIN(next_attempt_at) AS due FROM outbox WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        row.try_get::<Option<String>, _>("due")
            .map_err(StoreError::from_sqlx)?
            .map(|t| parse_ts(&t))
            .transpose()
    }
}
