//! Suspected duplicates (`migrations/0003_duplicates.sql`): one row per pair of people an engine thinks may be
//! one person, with the evidence, the deadline and what the reviewer decided. The pair is stored in a fixed order
//! (`person_a < person_b`), so a pair found again is the same row and a decided pair is never asked again.

use chrono::{DateTime, Utc};
use dspp_domain::Person;
use sqlx::any::AnyRow;

use crate::enrolments::Cols;
use crate::people::{PERSON_COLUMNS, person_from_row};
use crate::{StoreError, Tx, ts};

/// One suspected duplicate pair as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateCaseRow {
    pub id: String,
    pub person_a: String,
    pub person_b: String,
    pub source: String,
    pub match_probability: f64,
    pub proposal: String,
    /// JSON, the engine's evidence.
    pub evidence: String,
    pub commune_a: String,
    pub commune_b: String,
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub deadline: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decided_role: Option<String>,
    pub on_behalf_of: Option<String>,
    pub decision_reason: Option<String>,
    pub survivor: Option<String>,
    pub merged: Option<String>,
    /// JSON, the enrolments a merge ended (see the migration).
    pub ended_enrolments: Option<String>,
    pub unmerged_at: Option<DateTime<Utc>>,
    pub unmerged_by: Option<String>,
    pub unmerge_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

const CASE_COLUMNS: &str = "c.id, c.person_a, c.person_b, c.source, c.match_probability, c.proposal, c.evidence, \
     c.commune_a, c.commune_b, c.status, c.opened_at, c.opened_by, c.deadline, c.decided_at, c.decided_by, \
     c.decided_role, c.on_behalf_of, c.decision_reason, c.survivor, c.merged, c.ended_enrolments, c.unmerged_at, c.unmerged_by, \
     c.unmerge_reason, c.updated_at";

fn case_from_row(row: &AnyRow) -> Result<DuplicateCaseRow, StoreError> {
    let c = Cols(row);
    Ok(DuplicateCaseRow {
        id: c.text("id")?,
        person_a: c.text("person_a")?,
        person_b: c.text("person_b")?,
        source: c.text("source")?,
        match_probability: c.float("match_probability")?,
        proposal: c.text("proposal")?,
        evidence: c.text("evidence")?,
        commune_a: c.text("commune_a")?,
        commune_b: c.text("commune_b")?,
        status: c.text("status")?,
        opened_at: c.time("opened_at")?,
        opened_by: c.text("opened_by")?,
        deadline: c.time("deadline")?,
        decided_at: c.opt_time("decided_at")?,
        decided_by: c.opt_text("decided_by")?,
        decided_role: c.opt_text("decided_role")?,
        on_behalf_of: c.opt_text("on_behalf_of")?,
        decision_reason: c.opt_text("decision_reason")?,
        survivor: c.opt_text("survivor")?,
        merged: c.opt_text("merged")?,
        ended_enrolments: c.opt_text("ended_enrolments")?,
        unmerged_at: c.opt_time("unmerged_at")?,
        unmerged_by: c.opt_text("unmerged_by")?,
        unmerge_reason: c.opt_text("unmerge_reason")?,
        updated_at: c.time("updated_at")?,
    })
}

/// Which cases to list. All given filters must hold.
#[derive(Debug, Clone, Default)]
pub struct DuplicateFilter {
    /// `open`, `same_person` or `different_people`.
    pub status: Option<String>,
    /// A province, district or commune code: cases with either person living there.
    pub place: Option<String>,
    /// Cases with either person actively enrolled in a program of this operator.
    pub operator: Option<String>,
    /// Cases involving this person id.
    pub person: Option<String>,
    /// This case only (to ask whether it passes the other filters).
    pub case: Option<String>,
    /// Cases opened after this one (the page cursor; ids are time-ordered).
    pub after: Option<String>,
    pub limit: u32,
}

/// Which holds to list. All given filters must hold.
#[derive(Debug, Clone, Default)]
pub struct HoldFilter {
    /// A code prefix of the enrolment's commune.
    pub place: Option<String>,
    /// Holds from cases involving this person id.
    pub person: Option<String>,
    pub enrolment: Option<String>,
    /// Holds from this case only.
    pub case: Option<String>,
}

/// An active enrolment held because one of the people it concerns has an open duplicate case.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldEnrolment {
    pub enrolment_id: String,
    pub program_code: String,
    pub commune_code: String,
    pub status: String,
    pub person_id: Option<String>,
    pub household_id: String,
    pub case_id: String,
    pub deadline: DateTime<Utc>,
}

/// The upper bound of a code-prefix range: every code starting with `prefix` sorts in `[prefix, end)`.
pub(crate) fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

impl Tx {
    /// Opens a case unless the pair already has one (open or decided). Returns whether it was opened.
    pub async fn insert_duplicate_case(
        &mut self,
        row: &DuplicateCaseRow,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO duplicate_case (id, person_a, person_b, source, match_probability, proposal, evidence,
                 commune_a, commune_b, status, opened_at, opened_by, deadline, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (person_a, person_b) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.person_a)
        .bind(&row.person_b)
        .bind(&row.source)
        .bind(row.match_probability)
        .bind(&row.proposal)
        .bind(&row.evidence)
        .bind(&row.commune_a)
        .bind(&row.commune_b)
        .bind(&row.status)
        .bind(ts(row.opened_at))
        .bind(&row.opened_by)
        .bind(ts(row.deadline))
        .bind(ts(row.updated_at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn duplicate_case(
        &mut self,
        id: &str,
    ) -> Result<Option<DuplicateCaseRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CASE_COLUMNS} FROM duplicate_case c WHERE c.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(case_from_row).transpose()
    }

    /// The case of a pair, whichever order the ids are given in.
    pub async fn duplicate_case_for_pair(
        &mut self,
        one: &str,
        other: &str,
    ) -> Result<Option<DuplicateCaseRow>, StoreError> {
        let (a, b) = if one <= other {
            (one, other)
        } else {
            (other, one)
        };
        let row = sqlx::query(&format!(
            "SELECT {CASE_COLUMNS} FROM duplicate_case c WHERE c.person_a = $1 AND c.person_b = $2"
        ))
        .bind(a)
        .bind(b)
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(case_from_row).transpose()
    }

    /// Stores a decision or an unmerge: everything but the pair, the engine's evidence and the opening.
    pub async fn update_duplicate_case(
        &mut self,
        row: &DuplicateCaseRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE duplicate_case SET status = $1, decided_at = $2, decided_by = $3, decided_role = $4,
                 on_behalf_of = $5, decision_reason = $6, survivor = $7, merged = $8, unmerged_at = $9,
                 unmerged_by = $10, unmerge_reason = $11, updated_at = $12, ended_enrolments = $13
             WHERE id = $14",
        )
        .bind(&row.status)
        .bind(row.decided_at.map(ts))
        .bind(&row.decided_by)
        .bind(&row.decided_role)
        .bind(&row.on_behalf_of)
        .bind(&row.decision_reason)
        .bind(&row.survivor)
        .bind(&row.merged)
        .bind(row.unmerged_at.map(ts))
        .bind(&row.unmerged_by)
        .bind(&row.unmerge_reason)
        .bind(ts(row.updated_at))
        .bind(&row.ended_enrolments)
        .bind(&row.id)
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// A page of cases, oldest first.
    pub async fn duplicate_cases(
        &mut self,
        filter: &DuplicateFilter,
    ) -> Result<Vec<DuplicateCaseRow>, StoreError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let mut bind = |value: String| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(status) = &filter.status {
            let p = bind(status.clone());
            conditions.push(format!("c.status = {p}"));
        }
        if let Some(place) = &filter.place {
            let (low, high) = (bind(place.clone()), bind(prefix_end(place)));
            conditions.push(format!(
                "((c.commune_a >= {low} AND c.commune_a < {high}) OR (c.commune_b >= {low} AND c.commune_b < {high}))"
            ));
        }
        if let Some(operator) = &filter.operator {
            let p = bind(operator.clone());
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM enrolment e JOIN program g ON g.code = e.program_code
                    WHERE e.active = 1 AND g.operator = {p}
                      AND (e.person_id IN (c.person_a, c.person_b)
                           OR e.household_id IN (SELECT q.household_id FROM person q
                               WHERE q.id IN (c.person_a, c.person_b) AND q.household_id IS NOT NULL)))"
            ));
        }
        if let Some(person) = &filter.person {
            let p = bind(person.clone());
            conditions.push(format!("(c.person_a = {p} OR c.person_b = {p})"));
        }
        if let Some(case) = &filter.case {
            let p = bind(case.clone());
            conditions.push(format!("c.id = {p}"));
        }
        if let Some(after) = &filter.after {
            let p = bind(after.clone());
            conditions.push(format!("c.id > {p}"));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM duplicate_case c {where_clause} ORDER BY c.id LIMIT {}",
            filter.limit.max(1)
        );
        let mut query = sqlx::query(&sql);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        let rows = query
            .fetch_all(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        rows.iter().map(case_from_row).collect()
    }

    /// Active enrolments held by open cases: the person's own, and their household's household-level ones. In a
    /// place (code prefix of the enrolment's commune) or everywhere; oldest deadline first.
    pub async fn held_enrolments(
        &mut self,
        filter: &HoldFilter,
    ) -> Result<Vec<HeldEnrolment>, StoreError> {
        let place = filter.place.as_deref().unwrap_or("");
        // Two joins from the open cases (few) to the enrolments they hold, each on an index: the people's own
        // enrolments, and their households' household-level ones.
        let rows = sqlx::query(
            "SELECT e.id AS enrolment_id, e.program_code, e.commune_code, e.status, e.person_id, e.household_id,
                    c.id AS case_id, c.deadline
             FROM duplicate_case c
             JOIN enrolment e ON (e.person_id = c.person_a OR e.person_id = c.person_b)
             WHERE c.status = 'open' AND e.active = 1 AND e.commune_code >= $1 AND e.commune_code < $2
               AND ($3 = '' OR c.person_a = $3 OR c.person_b = $3)
               AND ($4 = '' OR e.id = $4)
               AND ($5 = '' OR c.id = $5)
             UNION ALL
             SELECT e.id AS enrolment_id, e.program_code, e.commune_code, e.status, e.person_id, e.household_id,
                    c.id AS case_id, c.deadline
             FROM duplicate_case c
             JOIN person q ON (q.id = c.person_a OR q.id = c.person_b)
             JOIN enrolment e ON e.household_id = q.household_id AND e.person_id IS NULL
             WHERE c.status = 'open' AND e.active = 1 AND e.commune_code >= $1 AND e.commune_code < $2
               AND ($3 = '' OR c.person_a = $3 OR c.person_b = $3)
               AND ($4 = '' OR e.id = $4)
               AND ($5 = '' OR c.id = $5)
             ORDER BY 8, 1",
        )
        .bind(place)
        .bind(prefix_end(place))
        .bind(filter.person.as_deref().unwrap_or(""))
        .bind(filter.enrolment.as_deref().unwrap_or(""))
        .bind(filter.case.as_deref().unwrap_or(""))
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                let c = Cols(row);
                Ok(HeldEnrolment {
                    enrolment_id: c.text("enrolment_id")?,
                    program_code: c.text("program_code")?,
                    commune_code: c.text("commune_code")?,
                    status: c.text("status")?,
                    person_id: c.opt_text("person_id")?,
                    household_id: c.text("household_id")?,
                    case_id: c.text("case_id")?,
                    deadline: c.time("deadline")?,
                })
            })
            .collect()
    }

    /// How many open cases from the biometric engines (fingerprint, face) involve the person.
    pub async fn open_biometric_cases_of(&mut self, person_id: &str) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM duplicate_case
             WHERE status = 'open' AND source IN ('fingerprint', 'face') AND (person_a = $1 OR person_b = $1)",
        )
        .bind(person_id)
        .fetch_one(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(u64::try_from(Cols(&row).int("n")?).unwrap_or(0))
    }

    /// People (merged ones included) changed after `(at, id)`, in that order: how the duplicate index catches up
    /// with writes made by any path or any server.
    pub async fn people_changed_since(
        &mut self,
        after: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<Person>, StoreError> {
        let (at, id) = after.map_or((String::new(), String::new()), |(at, id)| (ts(at), id));
        let rows = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM person
             WHERE updated_at > $1 OR (updated_at = $1 AND id > $2)
             ORDER BY updated_at, id LIMIT {}",
            limit.max(1)
        ))
        .bind(at)
        .bind(id)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(person_from_row).collect()
    }
}
