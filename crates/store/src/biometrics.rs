//! Biometric captures and 1:1 checks (`migrations/0004_biometrics.sql`). The store keeps sealed bytes only: it
//! never sees a template, an embedding or a photo in the clear.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::enrolments::Cols;
use crate::{StoreError, Tx, ts};

/// One capture or exception of one part (right thumb, left thumb, face) of one person.
#[derive(Debug, Clone, PartialEq)]
pub struct BiometricRow {
    pub id: String,
    pub person_id: String,
    /// `right_thumb`, `left_thumb` or `face`.
    pub part: String,
    /// `captured` or `exception`.
    pub status: String,
    pub format: Option<String>,
    pub sealed: Option<Vec<u8>>,
    pub quality: Option<i64>,
    pub exception_reason: Option<String>,
    pub note: Option<String>,
    pub photo: Option<Vec<u8>>,
    pub photo_expires_at: Option<DateTime<Utc>>,
    pub change_id: String,
    pub captured_at: DateTime<Utc>,
    pub replaced_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// One 1:1 verification as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct BiometricCheckRow {
    pub id: String,
    pub person_id: String,
    pub part: String,
    pub score: f64,
    pub threshold: f64,
    pub matched: bool,
    pub change_id: String,
    pub checked_at: DateTime<Utc>,
}

/// A thumb recorded as an exception, with who recorded it: what the exceptions report lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionRow {
    pub spid: String,
    pub commune_code: String,
    pub part: String,
    pub reason: String,
    pub note: Option<String>,
    pub since: DateTime<Utc>,
    pub recorded_by: String,
    pub recorded_role: String,
    pub on_behalf_of: Option<String>,
}

/// Exceptions per commune, part and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionCount {
    pub commune_code: String,
    pub part: String,
    pub reason: String,
    pub people: u64,
}

const COLUMNS: &str = "id, person_id, part, status, format, sealed, quality, exception_reason, note, photo, \
     photo_expires_at, change_id, captured_at, replaced_at, updated_at";

fn opt_bytes(row: &AnyRow, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
    row.try_get::<Option<Vec<u8>>, _>(col)
        .map_err(StoreError::from_sqlx)
}

/// [`COLUMNS`] but the photo: what the indexes' paths read (catch-ups, short lists, late checks), which never look at
/// it; a face's sealed photo is tens of kilobytes, its embedding half of one.
const INDEX_COLUMNS: &str = "id, person_id, part, status, format, sealed, quality, exception_reason, note, \
     photo_expires_at, change_id, captured_at, replaced_at, updated_at";

/// A row of [`COLUMNS`].
fn biometric_from_row(row: &AnyRow) -> Result<BiometricRow, StoreError> {
    Ok(BiometricRow {
        photo: opt_bytes(row, "photo")?,
        ..biometric_without_photo(row)?
    })
}

/// A row of [`INDEX_COLUMNS`] (`photo` is `None`).
fn biometric_without_photo(row: &AnyRow) -> Result<BiometricRow, StoreError> {
    let c = Cols(row);
    Ok(BiometricRow {
        id: c.text("id")?,
        person_id: c.text("person_id")?,
        part: c.text("part")?,
        status: c.text("status")?,
        format: c.opt_text("format")?,
        sealed: opt_bytes(row, "sealed")?,
        quality: row
            .try_get::<Option<i64>, _>("quality")
            .map_err(StoreError::from_sqlx)?,
        exception_reason: c.opt_text("exception_reason")?,
        note: c.opt_text("note")?,
        photo: None,
        photo_expires_at: c.opt_time("photo_expires_at")?,
        change_id: c.text("change_id")?,
        captured_at: c.time("captured_at")?,
        replaced_at: c.opt_time("replaced_at")?,
        updated_at: c.time("updated_at")?,
    })
}

impl Tx {
    /// Stores a capture or exception as the person's current one for its part; the one it replaces (if any) is
    /// kept with `replaced_at` set.
    pub async fn put_biometric(&mut self, row: &BiometricRow) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE biometric SET replaced_at = $1, updated_at = $1, photo = NULL, photo_expires_at = NULL
             WHERE person_id = $2 AND part = $3 AND replaced_at IS NULL",
        )
        .bind(ts(row.captured_at))
        .bind(&row.person_id)
        .bind(&row.part)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query(&format!(
            "INSERT INTO biometric ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&row.id)
        .bind(&row.person_id)
        .bind(&row.part)
        .bind(&row.status)
        .bind(row.format.as_deref())
        .bind(row.sealed.as_deref())
        .bind(row.quality)
        .bind(row.exception_reason.as_deref())
        .bind(row.note.as_deref())
        .bind(row.photo.as_deref())
        .bind(row.photo_expires_at.map(ts))
        .bind(&row.change_id)
        .bind(ts(row.captured_at))
        .bind(row.replaced_at.map(ts))
        .bind(ts(row.updated_at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// The person's current captures and exceptions, by part.
    pub async fn current_biometrics(
        &mut self,
        person_id: &str,
    ) -> Result<Vec<BiometricRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM biometric WHERE person_id = $1 AND replaced_at IS NULL ORDER BY part"
        ))
        .bind(person_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(biometric_from_row).collect()
    }

    /// The current captures of `parts` of many people at once (a short list to re-rank), in no particular order,
    /// without their photos.
    pub async fn current_biometrics_of(
        &mut self,
        person_ids: &[String],
        parts: &[&str],
    ) -> Result<Vec<BiometricRow>, StoreError> {
        let mut rows = Vec::new();
        // Bounded statements: PostgreSQL and SQLite both take a few hundred parameters comfortably.
        for chunk in person_ids.chunks(200) {
            let people: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 1)).collect();
            let kinds: Vec<String> = (0..parts.len())
                .map(|i| format!("${}", chunk.len() + i + 1))
                .collect();
            let sql = format!(
                "SELECT {INDEX_COLUMNS} FROM biometric
                 WHERE person_id IN ({}) AND part IN ({}) AND replaced_at IS NULL",
                people.join(", "),
                kinds.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for part in parts {
                query = query.bind(*part);
            }
            let found = query
                .fetch_all(&mut *self.inner)
                .await
                .map_err(StoreError::from_sqlx)?;
            for row in &found {
                rows.push(biometric_without_photo(row)?);
            }
        }
        Ok(rows)
    }

    /// Makes the rest of this transaction the only one past this point at a time, among all that call it, until it
    /// ends: how two captures of the same person at once come to see each other (the later one reads the earlier's
    /// rows). PostgreSQL: a transaction-scoped advisory lock. SQLite: nothing to do, the store's one connection
    /// already serialises transactions.
    pub async fn serialize_biometric_checks(&mut self) -> Result<(), StoreError> {
        /// The advisory lock's key: "dspp bio" in ASCII.
        const LOCK: i64 = 0x6473_7070_2062_696F;
        if self.dialect == crate::Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LOCK)
                .execute(&mut *self.inner)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        Ok(())
    }

    /// Captures (current and replaced) of `parts` changed after `(at, id)`, in that order, without their photos: how
    /// the in-memory indexes catch up with writes made by any path or any server.
    pub async fn biometrics_changed_since(
        &mut self,
        parts: &[&str],
        after: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<BiometricRow>, StoreError> {
        let (at, id) = after.map_or((String::new(), String::new()), |(at, id)| (ts(at), id));
        let placeholders: Vec<String> = (0..parts.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT {INDEX_COLUMNS} FROM biometric
             WHERE (updated_at > $1 OR (updated_at = $1 AND id > $2)) AND part IN ({})
             ORDER BY updated_at, id LIMIT {}",
            placeholders.join(", "),
            limit.max(1)
        );
        let mut query = sqlx::query(&sql).bind(at).bind(id);
        for part in parts {
            query = query.bind(*part);
        }
        let rows = query
            .fetch_all(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        rows.iter().map(biometric_without_photo).collect()
    }

    /// Whether a capture row with this id exists (ids are never reused: a saved index that names one belongs to this
    /// database).
    pub async fn biometric_exists(&mut self, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM biometric WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(Cols(&row).int("n")? > 0)
    }

    /// The current exceptions of live people in communes whose code starts with `place`, oldest first (at most
    /// `limit`), and their counts per commune, part and reason (all of them).
    pub async fn biometric_exceptions(
        &mut self,
        place: &str,
        limit: u32,
    ) -> Result<(Vec<ExceptionRow>, Vec<ExceptionCount>), StoreError> {
        let end = crate::duplicates::prefix_end(place);
        let rows = sqlx::query(&format!(
            "SELECT p.spid, p.commune_code, b.part, b.exception_reason, b.note, b.captured_at,
                    c.actor_subject, c.actor_role, c.on_behalf_of
             FROM biometric b
             JOIN person p ON p.id = b.person_id
             JOIN change_log c ON c.id = b.change_id
             WHERE b.status = 'exception' AND b.replaced_at IS NULL AND p.merged_into IS NULL
               AND p.commune_code >= $1 AND p.commune_code < $2
             ORDER BY b.captured_at, p.spid, b.part LIMIT {}",
            limit.clamp(1, 1000)
        ))
        .bind(place)
        .bind(&end)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        let items = rows
            .iter()
            .map(|row| {
                let c = Cols(row);
                Ok(ExceptionRow {
                    spid: c.text("spid")?,
                    commune_code: c.text("commune_code")?,
                    part: c.text("part")?,
                    reason: c.text("exception_reason")?,
                    note: c.opt_text("note")?,
                    since: c.time("captured_at")?,
                    recorded_by: c.text("actor_subject")?,
                    recorded_role: c.text("actor_role")?,
                    on_behalf_of: c.opt_text("on_behalf_of")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let rows = sqlx::query(
            "SELECT p.commune_code, b.part, b.exception_reason, COUNT(*) AS people
             FROM biometric b JOIN person p ON p.id = b.person_id
             WHERE b.status = 'exception' AND b.replaced_at IS NULL AND p.merged_into IS NULL
               AND p.commune_code >= $1 AND p.commune_code < $2
             GROUP BY p.commune_code, b.part, b.exception_reason
             ORDER BY p.commune_code, b.part, b.exception_reason",
        )
        .bind(place)
        .bind(&end)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        let counts = rows
            .iter()
            .map(|row| {
                let c = Cols(row);
                Ok(ExceptionCount {
                    commune_code: c.text("commune_code")?,
                    part: c.text("part")?,
                    reason: c.text("exception_reason")?,
                    people: u64::try_from(c.int("people")?).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((items, counts))
    }

    /// Deletes the photos whose retention deadline is at or before `now` (the sealed embedding stays); returns
    /// how many.
    pub async fn purge_expired_photos(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE biometric SET photo = NULL, photo_expires_at = NULL
             WHERE photo_expires_at IS NOT NULL AND photo_expires_at <= $1",
        )
        .bind(ts(now))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected())
    }

    /// Records a 1:1 verification.
    pub async fn insert_biometric_check(
        &mut self,
        row: &BiometricCheckRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO biometric_check (id, person_id, part, score, threshold, matched, change_id, checked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.person_id)
        .bind(&row.part)
        .bind(row.score)
        .bind(row.threshold)
        .bind(i64::from(row.matched))
        .bind(&row.change_id)
        .bind(ts(row.checked_at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// A person's verifications, newest first.
    pub async fn biometric_checks(
        &mut self,
        person_id: &str,
        limit: u32,
    ) -> Result<Vec<BiometricCheckRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, person_id, part, score, threshold, matched, change_id, checked_at FROM biometric_check
             WHERE person_id = $1 ORDER BY checked_at DESC, id DESC LIMIT {}",
            limit.clamp(1, 500)
        ))
        .bind(person_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                let c = Cols(row);
                Ok(BiometricCheckRow {
                    id: c.text("id")?,
                    person_id: c.text("person_id")?,
                    part: c.text("part")?,
                    score: c.float("score")?,
                    threshold: c.float("threshold")?,
                    matched: c.int("matched")? != 0,
                    change_id: c.text("change_id")?,
                    checked_at: c.time("checked_at")?,
                })
            })
            .collect()
    }
}
