//! Programs, applications, enrolments, approvals, delegations, status events, identity checks and poverty
//! statuses: the tables of the enrolment workflow (`migrations/0002_enrolment.sql`).

use chrono::{DateTime, Utc};
use dspp_domain::{CommuneCode, DelegationGrant, EnrolmentStatus};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError, Tx, parse_ts, ts};

/// Reads typed columns from a row, translating errors once.
pub(crate) struct Cols<'a>(pub(crate) &'a AnyRow);

impl Cols<'_> {
    pub(crate) fn text(&self, col: &str) -> Result<String, StoreError> {
        self.0
            .try_get::<String, _>(col)
            .map_err(StoreError::from_sqlx)
    }
    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.0
            .try_get::<Option<String>, _>(col)
            .map_err(StoreError::from_sqlx)
    }
    pub(crate) fn float(&self, col: &str) -> Result<f64, StoreError> {
        self.0.try_get::<f64, _>(col).map_err(StoreError::from_sqlx)
    }
    pub(crate) fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.0.try_get::<i64, _>(col).map_err(StoreError::from_sqlx)
    }
    pub(crate) fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        parse_ts(&self.text(col)?)
    }
    pub(crate) fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_text(col)?.map(|t| parse_ts(&t)).transpose()
    }
    pub(crate) fn commune(&self, col: &str) -> Result<CommuneCode, StoreError> {
        CommuneCode::parse(&self.text(col)?).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

fn opt_ts(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(ts)
}

// ---------------------------------------------------------------------------------------------------
// Programs

/// A program definition file as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSource {
    pub code: String,
    pub version: String,
    pub format: String,
    pub source: String,
    pub sha256: String,
    pub loaded_at: DateTime<Utc>,
    pub loaded_by: String,
}

fn program_source_from_row(row: &AnyRow) -> Result<ProgramSource, StoreError> {
    let c = Cols(row);
    Ok(ProgramSource {
        code: c.text("program_code")?,
        version: c.text("version")?,
        format: c.text("format")?,
        source: c.text("source")?,
        sha256: c.text("sha256")?,
        loaded_at: c.time("loaded_at")?,
        loaded_by: c.text("loaded_by")?,
    })
}

const PROGRAM_SOURCE_COLUMNS: &str =
    "v.program_code, v.version, v.format, v.source, v.sha256, v.loaded_at, v.loaded_by";

impl Tx {
    pub async fn program_version(
        &mut self,
        code: &str,
        version: &str,
    ) -> Result<Option<ProgramSource>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PROGRAM_SOURCE_COLUMNS} FROM program_version v WHERE v.program_code = $1 AND v.version = $2"
        ))
        .bind(code)
        .bind(version)
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(program_source_from_row).transpose()
    }

    /// Stores a definition version and makes it the one in force.
    pub async fn put_program(
        &mut self,
        source: &ProgramSource,
        operator: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO program_version (program_code, version, format, source, sha256, loaded_at, loaded_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (program_code, version) DO NOTHING",
        )
        .bind(&source.code)
        .bind(&source.version)
        .bind(&source.format)
        .bind(&source.source)
        .bind(&source.sha256)
        .bind(ts(source.loaded_at))
        .bind(&source.loaded_by)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query(
            "INSERT INTO program (code, current_version, operator, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code) DO UPDATE SET current_version = excluded.current_version,
                 operator = excluded.operator, updated_at = excluded.updated_at",
        )
        .bind(&source.code)
        .bind(&source.version)
        .bind(operator)
        .bind(ts(source.loaded_at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }
}

impl Store {
    /// The definition in force of every program.
    pub async fn current_programs(&self) -> Result<Vec<ProgramSource>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PROGRAM_SOURCE_COLUMNS} FROM program p
             JOIN program_version v ON v.program_code = p.code AND v.version = p.current_version
             ORDER BY p.code"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(program_source_from_row).collect()
    }

    /// Every stored version of every program (for re-reading definitions that old enrolments used).
    pub async fn program_versions(&self) -> Result<Vec<ProgramSource>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PROGRAM_SOURCE_COLUMNS} FROM program_version v ORDER BY v.program_code, v.loaded_at"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(program_source_from_row).collect()
    }
}

// ---------------------------------------------------------------------------------------------------
// Delegations

fn delegation_from_row(row: &AnyRow) -> Result<DelegationGrant, StoreError> {
    let c = Cols(row);
    Ok(DelegationGrant {
        id: c.text("id")?,
        principal: c.text("principal")?,
        delegate: c.text("delegate")?,
        commune: c.commune("commune_code")?,
        letter_reference: c.text("letter_reference")?,
        valid_from: c.time("valid_from")?,
        valid_until: c.time("valid_until")?,
        revoked_at: c.opt_time("revoked_at")?,
    })
}

const DELEGATION_COLUMNS: &str =
    "id, principal, delegate, commune_code, letter_reference, valid_from, valid_until, revoked_at";

impl Tx {
    pub async fn insert_delegation(
        &mut self,
        grant: &DelegationGrant,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO delegation (id, principal, delegate, commune_code, letter_reference, valid_from,
                 valid_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&grant.id)
        .bind(&grant.principal)
        .bind(&grant.delegate)
        .bind(grant.commune.to_string())
        .bind(&grant.letter_reference)
        .bind(ts(grant.valid_from))
        .bind(ts(grant.valid_until))
        .bind(ts(at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn delegation(&mut self, id: &str) -> Result<Option<DelegationGrant>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DELEGATION_COLUMNS} FROM delegation WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(delegation_from_row).transpose()
    }

    pub async fn revoke_delegation(
        &mut self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE delegation SET revoked_at = $1, revoked_by = $2, revoke_reason = $3
             WHERE id = $4 AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(by)
        .bind(reason)
        .bind(id)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Delegations granted to `delegate` for `commune` (in force or not: the caller checks the time).
    pub async fn delegations_to(
        &mut self,
        delegate: &str,
        commune: CommuneCode,
    ) -> Result<Vec<DelegationGrant>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELEGATION_COLUMNS} FROM delegation WHERE delegate = $1 AND commune_code = $2"
        ))
        .bind(delegate)
        .bind(commune.to_string())
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(delegation_from_row).collect()
    }

    pub async fn delegations_in(
        &mut self,
        commune: CommuneCode,
    ) -> Result<Vec<DelegationGrant>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELEGATION_COLUMNS} FROM delegation WHERE commune_code = $1 ORDER BY valid_from"
        ))
        .bind(commune.to_string())
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(delegation_from_row).collect()
    }
}

// ---------------------------------------------------------------------------------------------------
// Applications and enrolments

#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationRow {
    pub id: String,
    pub household_id: String,
    pub commune: CommuneCode,
    pub version: u32,
    pub submitted_by: String,
    pub submitters: Vec<String>,
    pub opened_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn application_from_row(row: &AnyRow) -> Result<ApplicationRow, StoreError> {
    let c = Cols(row);
    Ok(ApplicationRow {
        id: c.text("id")?,
        household_id: c.text("household_id")?,
        commune: c.commune("commune_code")?,
        version: u32::try_from(c.int("version")?)
            .map_err(|_| StoreError::Corrupt("version out of range".into()))?,
        submitted_by: c.text("submitted_by")?,
        submitters: crate::from_json(&c.text("submitters")?, "submitters")?,
        opened_at: c.time("opened_at")?,
        submitted_at: c.time("submitted_at")?,
        updated_at: c.time("updated_at")?,
    })
}

const APPLICATION_COLUMNS: &str = "a.id, a.household_id, a.commune_code, a.version, a.submitted_by, a.submitters, \
     a.opened_at, a.submitted_at, a.updated_at";

/// One program for one subject, as stored. `answers` and `evaluation` are JSON documents that the
/// service writes and reads.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolmentRow {
    pub id: String,
    pub application_id: String,
    pub program_code: String,
    pub program_version: String,
    pub household_id: String,
    pub person_id: Option<String>,
    pub subject_id: String,
    pub commune: CommuneCode,
    pub status: EnrolmentStatus,
    pub steps_done: u32,
    pub answers: String,
    pub evaluation: String,
    pub opened_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub beneficiary_id: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub recertify_by: Option<chrono::NaiveDate>,
    pub updated_at: DateTime<Utc>,
}

fn enrolment_from_row(row: &AnyRow) -> Result<EnrolmentRow, StoreError> {
    let c = Cols(row);
    Ok(EnrolmentRow {
        id: c.text("id")?,
        application_id: c.text("application_id")?,
        program_code: c.text("program_code")?,
        program_version: c.text("program_version")?,
        household_id: c.text("household_id")?,
        person_id: c.opt_text("person_id")?,
        subject_id: c.text("subject_id")?,
        commune: c.commune("commune_code")?,
        status: EnrolmentStatus::parse(&c.text("status")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        steps_done: u32::try_from(c.int("steps_done")?)
            .map_err(|_| StoreError::Corrupt("steps out of range".into()))?,
        answers: c.text("answers")?,
        evaluation: c.text("evaluation")?,
        opened_at: c.time("opened_at")?,
        submitted_at: c.time("submitted_at")?,
        decided_at: c.opt_time("decided_at")?,
        decision_reason: c.opt_text("decision_reason")?,
        approved_at: c.opt_time("approved_at")?,
        delivered_at: c.opt_time("delivered_at")?,
        beneficiary_id: c.opt_text("beneficiary_id")?,
        ended_at: c.opt_time("ended_at")?,
        end_reason: c.opt_text("end_reason")?,
        recertify_by: c
            .opt_text("recertify_by")?
            .map(|d| {
                chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt(format!("recertify_by {d:?}: {e}")))
            })
            .transpose()?,
        updated_at: c.time("updated_at")?,
    })
}

const ENROLMENT_COLUMNS: &str = "e.id, e.application_id, e.program_code, e.program_version, e.household_id, \
     e.person_id, e.subject_id, e.commune_code, e.status, e.steps_done, e.answers, e.evaluation, e.opened_at, \
     e.submitted_at, e.decided_at, e.decision_reason, e.approved_at, e.delivered_at, e.beneficiary_id, \
     e.ended_at, e.end_reason, e.recertify_by, e.updated_at";

/// Which enrolments a listing wants.
#[derive(Debug, Clone, Default)]
pub struct EnrolmentFilter {
    pub commune: Option<CommuneCode>,
    pub program: Option<String>,
    pub status: Option<EnrolmentStatus>,
    pub person_id: Option<String>,
    pub household_id: Option<String>,
    /// Delivered enrolments whose recertification date is on or before this date.
    pub recertify_due_by: Option<chrono::NaiveDate>,
    pub submitted_from: Option<DateTime<Utc>>,
    pub submitted_until: Option<DateTime<Utc>>,
}

/// The partial unique index allows one active enrolment per program and subject; say so in its words.
fn active_conflict(error: sqlx::Error, row: &EnrolmentRow) -> StoreError {
    match StoreError::from_sqlx(error) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "{} already has an active enrolment in {}",
            row.subject_id, row.program_code
        )),
        other => other,
    }
}

impl Tx {
    pub async fn insert_application(&mut self, row: &ApplicationRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO application (id, household_id, commune_code, version, submitted_by, submitters,
                 opened_at, submitted_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&row.id)
        .bind(&row.household_id)
        .bind(row.commune.to_string())
        .bind(i64::from(row.version))
        .bind(&row.submitted_by)
        .bind(crate::to_json(&row.submitters)?)
        .bind(ts(row.opened_at))
        .bind(ts(row.submitted_at))
        .bind(ts(row.updated_at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Writes `row` over the stored application whose version is `row.version - 1`.
    pub async fn update_application(&mut self, row: &ApplicationRow) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE application SET version = $1, submitters = $2, submitted_at = $3, updated_at = $4
             WHERE id = $5 AND version = $6",
        )
        .bind(i64::from(row.version))
        .bind(crate::to_json(&row.submitters)?)
        .bind(ts(row.submitted_at))
        .bind(ts(row.updated_at))
        .bind(&row.id)
        .bind(i64::from(row.version) - 1)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Stale(format!(
                "application {} changed meanwhile",
                row.id
            )));
        }
        Ok(())
    }

    pub async fn application(&mut self, id: &str) -> Result<Option<ApplicationRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM application a WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(application_from_row).transpose()
    }

    /// Applications of a commune with at least one enrolment in `status` (all when `None`), newest first.
    pub async fn applications_in(
        &mut self,
        commune: CommuneCode,
        status: Option<EnrolmentStatus>,
        limit: u32,
    ) -> Result<Vec<ApplicationRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM application a WHERE a.commune_code = $1
               AND ($2 = '' OR EXISTS (SELECT 1 FROM enrolment e WHERE e.application_id = a.id AND e.status = $2))
             ORDER BY a.submitted_at DESC LIMIT $3"
        ))
        .bind(commune.to_string())
        .bind(status.map(|s| s.as_str()).unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(application_from_row).collect()
    }

    /// Inserts an enrolment; a second active enrolment of the same subject in the same program is a
    /// conflict.
    pub async fn insert_enrolment(&mut self, row: &EnrolmentRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO enrolment (id, application_id, program_code, program_version, household_id, person_id,
                 subject_id, commune_code, status, active, steps_done, answers, evaluation, opened_at,
                 submitted_at, decided_at, decision_reason, approved_at, delivered_at, beneficiary_id, ended_at,
                 end_reason, recertify_by, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                 $21, $22, $23, $24)",
        )
        .bind(&row.id)
        .bind(&row.application_id)
        .bind(&row.program_code)
        .bind(&row.program_version)
        .bind(&row.household_id)
        .bind(&row.person_id)
        .bind(&row.subject_id)
        .bind(row.commune.to_string())
        .bind(row.status.as_str())
        .bind(i64::from(row.status.is_active()))
        .bind(i64::from(row.steps_done))
        .bind(&row.answers)
        .bind(&row.evaluation)
        .bind(ts(row.opened_at))
        .bind(ts(row.submitted_at))
        .bind(opt_ts(row.decided_at))
        .bind(&row.decision_reason)
        .bind(opt_ts(row.approved_at))
        .bind(opt_ts(row.delivered_at))
        .bind(&row.beneficiary_id)
        .bind(opt_ts(row.ended_at))
        .bind(&row.end_reason)
        .bind(row.recertify_by.map(|d| d.format("%Y-%m-%d").to_string()))
        .bind(ts(row.updated_at))
        .execute(&mut *self.inner)
        .await
        .map_err(|e| active_conflict(e, row))?;
        Ok(())
    }

    /// Writes the mutable part of `row` (status, answers, decisions, delivery, end) over the stored one.
    pub async fn update_enrolment(&mut self, row: &EnrolmentRow) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE enrolment SET status = $1, active = $2, steps_done = $3, answers = $4, evaluation = $5,
                 program_version = $6, submitted_at = $7, decided_at = $8, decision_reason = $9, approved_at = $10,
                 delivered_at = $11, beneficiary_id = $12, ended_at = $13, end_reason = $14, recertify_by = $15,
                 updated_at = $16
             WHERE id = $17",
        )
        .bind(row.status.as_str())
        .bind(i64::from(row.status.is_active()))
        .bind(i64::from(row.steps_done))
        .bind(&row.answers)
        .bind(&row.evaluation)
        .bind(&row.program_version)
        .bind(ts(row.submitted_at))
        .bind(opt_ts(row.decided_at))
        .bind(&row.decision_reason)
        .bind(opt_ts(row.approved_at))
        .bind(opt_ts(row.delivered_at))
        .bind(&row.beneficiary_id)
        .bind(opt_ts(row.ended_at))
        .bind(&row.end_reason)
        .bind(row.recertify_by.map(|d| d.format("%Y-%m-%d").to_string()))
        .bind(ts(row.updated_at))
        .bind(&row.id)
        .execute(&mut *self.inner)
        .await
        .map_err(|e| active_conflict(e, row))?;
        Ok(())
    }

    /// Moves an enrolment to another commune (its household moved).
    pub async fn update_enrolment_commune(
        &mut self,
        id: &str,
        commune: CommuneCode,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE enrolment SET commune_code = $1, updated_at = $2 WHERE id = $3")
            .bind(commune.to_string())
            .bind(ts(at))
            .bind(id)
            .execute(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn enrolment(&mut self, id: &str) -> Result<Option<EnrolmentRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolment e WHERE e.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(enrolment_from_row).transpose()
    }

    pub async fn enrolments(
        &mut self,
        filter: &EnrolmentFilter,
        limit: u32,
    ) -> Result<Vec<EnrolmentRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolment e
             WHERE ($1 = '' OR e.commune_code = $1) AND ($2 = '' OR e.program_code = $2)
               AND ($3 = '' OR e.status = $3) AND ($4 = '' OR e.person_id = $4)
               AND ($5 = '' OR e.household_id = $5)
               AND ($6 = '' OR (e.status = 'delivered' AND e.recertify_by <= $6))
               AND ($7 = '' OR e.submitted_at >= $7) AND ($8 = '' OR e.submitted_at < $8)
             ORDER BY e.submitted_at, e.id LIMIT $9"
        ))
        .bind(filter.commune.map(|c| c.to_string()).unwrap_or_default())
        .bind(filter.program.clone().unwrap_or_default())
        .bind(filter.status.map(|s| s.as_str()).unwrap_or(""))
        .bind(filter.person_id.clone().unwrap_or_default())
        .bind(filter.household_id.clone().unwrap_or_default())
        .bind(
            filter
                .recertify_due_by
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
        )
        .bind(filter.submitted_from.map(ts).unwrap_or_default())
        .bind(filter.submitted_until.map(ts).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(enrolment_from_row).collect()
    }

    pub async fn enrolments_of(
        &mut self,
        application_id: &str,
    ) -> Result<Vec<EnrolmentRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolment e WHERE e.application_id = $1 ORDER BY e.id"
        ))
        .bind(application_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(enrolment_from_row).collect()
    }
}

// ---------------------------------------------------------------------------------------------------
// Approvals and status events

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    pub id: String,
    pub enrolment_id: String,
    pub application_id: String,
    pub step: u32,
    pub step_role: String,
    /// `approved` or `rejected`.
    pub decision: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    pub actor_subject: String,
    pub actor_role: String,
    pub on_behalf_of: Option<String>,
    pub delegation_id: Option<String>,
    pub delegation_reference: Option<String>,
}

fn approval_from_row(row: &AnyRow) -> Result<ApprovalRow, StoreError> {
    let c = Cols(row);
    Ok(ApprovalRow {
        id: c.text("id")?,
        enrolment_id: c.text("enrolment_id")?,
        application_id: c.text("application_id")?,
        step: u32::try_from(c.int("step")?)
            .map_err(|_| StoreError::Corrupt("step out of range".into()))?,
        step_role: c.text("step_role")?,
        decision: c.text("decision")?,
        reason: c.opt_text("reason")?,
        at: c.time("at")?,
        actor_subject: c.text("actor_subject")?,
        actor_role: c.text("actor_role")?,
        on_behalf_of: c.opt_text("on_behalf_of")?,
        delegation_id: c.opt_text("delegation_id")?,
        delegation_reference: c.opt_text("delegation_reference")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    pub id: String,
    pub application_id: String,
    pub enrolment_id: Option<String>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub at: DateTime<Utc>,
    pub actor_subject: String,
    pub on_behalf_of: Option<String>,
    pub note: Option<String>,
}

fn status_event_from_row(row: &AnyRow) -> Result<StatusEvent, StoreError> {
    let c = Cols(row);
    Ok(StatusEvent {
        id: c.text("id")?,
        application_id: c.text("application_id")?,
        enrolment_id: c.opt_text("enrolment_id")?,
        from_status: c.opt_text("from_status")?,
        to_status: c.text("to_status")?,
        at: c.time("at")?,
        actor_subject: c.text("actor_subject")?,
        on_behalf_of: c.opt_text("on_behalf_of")?,
        note: c.opt_text("note")?,
    })
}

impl Tx {
    pub async fn insert_approval(&mut self, row: &ApprovalRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO approval (id, enrolment_id, application_id, step, step_role, decision, reason, at,
                 actor_subject, actor_role, on_behalf_of, delegation_id, delegation_reference)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&row.id)
        .bind(&row.enrolment_id)
        .bind(&row.application_id)
        .bind(i64::from(row.step))
        .bind(&row.step_role)
        .bind(&row.decision)
        .bind(&row.reason)
        .bind(ts(row.at))
        .bind(&row.actor_subject)
        .bind(&row.actor_role)
        .bind(&row.on_behalf_of)
        .bind(&row.delegation_id)
        .bind(&row.delegation_reference)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn approvals_of(
        &mut self,
        application_id: &str,
    ) -> Result<Vec<ApprovalRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, enrolment_id, application_id, step, step_role, decision, reason, at, actor_subject,
                 actor_role, on_behalf_of, delegation_id, delegation_reference
             FROM approval WHERE application_id = $1 ORDER BY at, id",
        )
        .bind(application_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(approval_from_row).collect()
    }

    pub async fn insert_status_event(&mut self, event: &StatusEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO status_event (id, application_id, enrolment_id, from_status, to_status, at,
                 actor_subject, on_behalf_of, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&event.id)
        .bind(&event.application_id)
        .bind(&event.enrolment_id)
        .bind(&event.from_status)
        .bind(&event.to_status)
        .bind(ts(event.at))
        .bind(&event.actor_subject)
        .bind(&event.on_behalf_of)
        .bind(&event.note)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn status_events_of(
        &mut self,
        application_id: &str,
    ) -> Result<Vec<StatusEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, application_id, enrolment_id, from_status, to_status, at, actor_subject, on_behalf_of,
                 note FROM status_event WHERE application_id = $1 ORDER BY at, id",
        )
        .bind(application_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(status_event_from_row).collect()
    }
}

// ---------------------------------------------------------------------------------------------------
// Identity checks and poverty statuses

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdVerificationRow {
    pub id: String,
    pub person_id: String,
    pub document_number: String,
    pub requested_at: DateTime<Utc>,
    pub answered_at: DateTime<Utc>,
    pub id_status: String,
    pub level_of_assurance: String,
    /// JSON array of the per-field results.
    pub fields: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PovertyStatusRow {
    pub id: String,
    pub household_id: String,
    pub enrolment_id: Option<String>,
    pub score: Option<f64>,
    pub computed_status: Option<String>,
    pub status: String,
    pub override_reason: Option<String>,
    pub at: DateTime<Utc>,
    pub actor_subject: String,
}

impl Tx {
    pub async fn insert_id_verification(
        &mut self,
        row: &IdVerificationRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO id_verification (id, person_id, document_number, requested_at, answered_at, id_status,
                 level_of_assurance, fields) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.person_id)
        .bind(&row.document_number)
        .bind(ts(row.requested_at))
        .bind(ts(row.answered_at))
        .bind(&row.id_status)
        .bind(&row.level_of_assurance)
        .bind(&row.fields)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn id_verifications_of(
        &mut self,
        person_id: &str,
    ) -> Result<Vec<IdVerificationRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, person_id, document_number, requested_at, answered_at, id_status, level_of_assurance,
                 fields FROM id_verification WHERE person_id = $1 ORDER BY answered_at, id",
        )
        .bind(person_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                let c = Cols(row);
                Ok(IdVerificationRow {
                    id: c.text("id")?,
                    person_id: c.text("person_id")?,
                    document_number: c.text("document_number")?,
                    requested_at: c.time("requested_at")?,
                    answered_at: c.time("answered_at")?,
                    id_status: c.text("id_status")?,
                    level_of_assurance: c.text("level_of_assurance")?,
                    fields: c.text("fields")?,
                })
            })
            .collect()
    }

    pub async fn insert_poverty_status(
        &mut self,
        row: &PovertyStatusRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO poverty_status (id, household_id, enrolment_id, score, computed_status, status,
                 override_reason, at, actor_subject) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&row.id)
        .bind(&row.household_id)
        .bind(&row.enrolment_id)
        .bind(row.score)
        .bind(&row.computed_status)
        .bind(&row.status)
        .bind(&row.override_reason)
        .bind(ts(row.at))
        .bind(&row.actor_subject)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Every poverty status a household has had, oldest first; the last is in force.
    pub async fn poverty_statuses(
        &mut self,
        household_id: &str,
    ) -> Result<Vec<PovertyStatusRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, household_id, enrolment_id, score, computed_status, status, override_reason, at,
                 actor_subject FROM poverty_status WHERE household_id = $1 ORDER BY at, id",
        )
        .bind(household_id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                let c = Cols(row);
                Ok(PovertyStatusRow {
                    id: c.text("id")?,
                    household_id: c.text("household_id")?,
                    enrolment_id: c.opt_text("enrolment_id")?,
                    score: row
                        .try_get::<Option<f64>, _>("score")
                        .map_err(StoreError::from_sqlx)?,
                    computed_status: c.opt_text("computed_status")?,
                    status: c.text("status")?,
                    override_reason: c.opt_text("override_reason")?,
                    at: c.time("at")?,
                    actor_subject: c.text("actor_subject")?,
                })
            })
            .collect()
    }
}
