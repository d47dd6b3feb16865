//! People: the current record in `person`, every version in `person_version`, documents indexed in
//! `identity_document`. Updates check the expected version, so a stale write is a conflict, never a
//! silent overwrite.

use dspp_domain::{HouseholdId, Person, PersonId, PersonRecord, Spid};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::changes::Versioned;
use crate::{Change, ChangeRecord, StoreError, Tx, from_json, parse_ts, parse_uuid, to_json, ts};

pub(crate) const PERSON_COLUMNS: &str =
    "id, spid, version, household_id, merged_into, data, created_at, updated_at";

/// Which people to list. Place filters are codes of any level; all given filters must hold.
#[derive(Debug, Clone, Default)]
pub struct PeopleFilter {
    pub place: Option<String>,
    pub household: Option<HouseholdId>,
    /// Only people whose Latin or Khmer matching key starts with this.
    pub name_prefix: Option<String>,
    pub include_merged: bool,
    /// Return people whose id sorts after this one (the page cursor).
    pub after: Option<PersonId>,
    pub limit: u32,
}

/// One version of a person with the change that made it.
#[derive(Debug, Clone)]
pub struct PersonVersion {
    pub person: Person,
    pub change: ChangeRecord,
}

pub(crate) fn person_from_row(row: &AnyRow) -> Result<Person, StoreError> {
    let get = |col: &str| row.try_get::<String, _>(col).map_err(StoreError::from_sqlx);
    let household: Option<String> = row.try_get("household_id").map_err(StoreError::from_sqlx)?;
    let merged_into: Option<String> = row.try_get("merged_into").map_err(StoreError::from_sqlx)?;
    let spid = get("spid")?;
    Ok(Person {
        id: PersonId(parse_uuid(&get("id")?)?),
        spid: Spid::parse(&spid).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        version: u32::try_from(
            row.try_get::<i64, _>("version")
                .map_err(StoreError::from_sqlx)?,
        )
        .map_err(|_| StoreError::Corrupt("version out of range".into()))?,
        record: from_json::<PersonRecord>(&get("data")?, "person record")?,
        household: household
            .as_deref()
            .map(parse_uuid)
            .transpose()?
            .map(HouseholdId),
        merged_into: merged_into
            .as_deref()
            .map(Spid::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: parse_ts(&get("created_at")?)?,
        updated_at: parse_ts(&get("updated_at")?)?,
    })
}

impl Tx {
    /// Inserts a new person (version 1) and its first version row. The SPID must already be reserved
    /// in the `spid` table and is marked assigned here.
    pub async fn insert_person(
        &mut self,
        person: &Person,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let id = person.id.0.to_string();
        let record = &person.record;
        // The commune, district and province come from the gazetteer's row for the village, never from
        // the village code's digits (see dspp_domain::geo).
        sqlx::query(
            "INSERT INTO person (id, spid, version, household_id, village_code, commune_code, district_code, province_code,
                key_km, key_latin, sex, birth_date, assurance, deceased, merged_into, data, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5,
                (SELECT commune_code FROM village WHERE code = $5),
                (SELECT SUBSTR(commune_code, 1, 4) FROM village WHERE code = $5),
                (SELECT SUBSTR(commune_code, 1, 2) FROM village WHERE code = $5),
                $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&id)
        .bind(person.spid.to_string())
        .bind(i64::from(person.version))
        .bind(person.household.map(|h| h.0.to_string()))
        .bind(record.village.to_string())
        .bind(record.name.key_km())
        .bind(record.name.key_latin())
        .bind(record.sex.as_str())
        .bind(record.birth_date.to_string())
        .bind(i64::from(record.assurance().number()))
        .bind(i64::from(record.death.is_some()))
        .bind(person.merged_into.map(|s| s.to_string()))
        .bind(to_json(record)?)
        .bind(ts(person.created_at))
        .bind(ts(person.updated_at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.write_person_side_tables(person, change, "create")
            .await?;
        self.assign_spid(person.spid, person.id, change.at).await
    }

    /// Replaces the current record with `person` (whose version must be `expected_version + 1`) and
    /// keeps the new version. Fails with `Conflict` when someone else changed the person meanwhile.
    pub async fn update_person(
        &mut self,
        person: &Person,
        expected_version: u32,
        action: &str,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let record = &person.record;
        let result = sqlx::query(
            "UPDATE person SET version = $1, household_id = $2, village_code = $3,
                commune_code = (SELECT commune_code FROM village WHERE code = $3),
                district_code = (SELECT SUBSTR(commune_code, 1, 4) FROM village WHERE code = $3),
                province_code = (SELECT SUBSTR(commune_code, 1, 2) FROM village WHERE code = $3),
                key_km = $4, key_latin = $5, sex = $6, birth_date = $7, assurance = $8, deceased = $9,
                merged_into = $10, data = $11, updated_at = $12
             WHERE id = $13 AND version = $14",
        )
        .bind(i64::from(person.version))
        .bind(person.household.map(|h| h.0.to_string()))
        .bind(record.village.to_string())
        .bind(record.name.key_km())
        .bind(record.name.key_latin())
        .bind(record.sex.as_str())
        .bind(record.birth_date.to_string())
        .bind(i64::from(record.assurance().number()))
        .bind(i64::from(record.death.is_some()))
        .bind(person.merged_into.map(|s| s.to_string()))
        .bind(to_json(record)?)
        .bind(ts(person.updated_at))
        .bind(person.id.0.to_string())
        .bind(i64::from(expected_version))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Stale(format!(
                "the person was changed by someone else (expected version {expected_version})"
            )));
        }
        sqlx::query("DELETE FROM identity_document WHERE person_id = $1")
            .bind(person.id.0.to_string())
            .execute(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        self.write_person_side_tables(person, change, action).await
    }

    async fn write_person_side_tables(
        &mut self,
        person: &Person,
        change: &Change<'_>,
        action: &str,
    ) -> Result<(), StoreError> {
        let id = person.id.0.to_string();
        for doc in &person.record.documents {
            sqlx::query(
                "INSERT INTO identity_document (person_id, kind, number) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(doc.kind.as_str())
            .bind(&doc.number)
            .execute(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        self.write_version(
            Versioned::Person,
            &id,
            person.version,
            person,
            change,
            action,
        )
        .await
    }

    pub async fn person(&mut self, id: PersonId) -> Result<Option<Person>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM person WHERE id = $1"
        ))
        .bind(id.0.to_string())
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(person_from_row).transpose()
    }

    /// The person who holds `spid` as their own SPID (aliases are resolved by the caller via `spid_entry`).
    pub async fn person_by_spid(&mut self, spid: Spid) -> Result<Option<Person>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM person WHERE spid = $1"
        ))
        .bind(spid.to_string())
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(person_from_row).transpose()
    }

    pub async fn people_in_household(
        &mut self,
        household: HouseholdId,
    ) -> Result<Vec<Person>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM person WHERE household_id = $1 ORDER BY id"
        ))
        .bind(household.0.to_string())
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(person_from_row).collect()
    }

    /// People holding a document of this kind and number (other than `except`).
    pub async fn people_with_document(
        &mut self,
        kind: &str,
        number: &str,
        except: Option<PersonId>,
    ) -> Result<Vec<Person>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM person WHERE merged_into IS NULL AND id IN
                (SELECT person_id FROM identity_document WHERE kind = $1 AND number = $2) ORDER BY id"
        ))
        .bind(kind)
        .bind(number)
        .fetch_all(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        let people: Result<Vec<Person>, StoreError> = rows.iter().map(person_from_row).collect();
        Ok(people?
            .into_iter()
            .filter(|p| Some(p.id) != except)
            .collect())
    }

    pub async fn list_people(&mut self, filter: &PeopleFilter) -> Result<Vec<Person>, StoreError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let bind = |value: String, binds: &mut Vec<String>| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(place) = &filter.place {
            let column = match place.len() {
                2 => "province_code",
                4 => "district_code",
                6 => "commune_code",
                _ => "village_code",
            };
            let p = bind(place.clone(), &mut binds);
            conditions.push(format!("{column} = {p}"));
        }
        if let Some(household) = filter.household {
            let p = bind(household.0.to_string(), &mut binds);
            conditions.push(format!("household_id = {p}"));
        }
        if let Some(prefix) = &filter.name_prefix {
            // A range on the key rather than LIKE, so both databases use the index and no pattern
            // characters need escaping.
            let low = bind(prefix.clone(), &mut binds);
            let high = bind(format!("{prefix}\u{10FFFF}"), &mut binds);
            conditions.push(format!(
                "((key_latin >= {low} AND key_latin < {high}) OR (key_km >= {low} AND key_km < {high}))"
            ));
        }
        if !filter.include_merged {
            conditions.push("merged_into IS NULL".into());
        }
        if let Some(after) = filter.after {
            let p = bind(after.0.to_string(), &mut binds);
            conditions.push(format!("id > {p}"));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM person {where_clause} ORDER BY id LIMIT {}",
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
        rows.iter().map(person_from_row).collect()
    }

    /// A page of live people in a place (any level, or everywhere), grouped by household: ordered by
    /// household id (people without one first) and then id, after the `(household, id)` cursor.
    pub async fn people_grouped_by_household(
        &mut self,
        place: Option<&str>,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<Person>, StoreError> {
        let mut sql = format!(
            "SELECT {PERSON_COLUMNS}, COALESCE(household_id, '') AS hh FROM person WHERE merged_into IS NULL"
        );
        let mut binds: Vec<String> = Vec::new();
        if let Some(place) = place {
            let column = match place.len() {
                2 => "province_code",
                4 => "district_code",
                6 => "commune_code",
                _ => "village_code",
            };
            binds.push(place.to_string());
            sql.push_str(&format!(" AND {column} = ${}", binds.len()));
        }
        if let Some((household, id)) = after {
            binds.push(household.clone());
            binds.push(household);
            binds.push(id);
            let n = binds.len();
            sql.push_str(&format!(
                " AND (COALESCE(household_id, '') > ${} OR (COALESCE(household_id, '') = ${} AND id > ${}))",
                n - 2,
                n - 1,
                n
            ));
        }
        sql.push_str(&format!(" ORDER BY hh, id LIMIT {}", limit.max(1)));
        let mut query = sqlx::query(&sql);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        let rows = query
            .fetch_all(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        rows.iter().map(person_from_row).collect()
    }

    pub async fn count_people(&mut self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM person WHERE merged_into IS NULL")
            .fetch_one(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        row.try_get::<i64, _>("n").map_err(StoreError::from_sqlx)
    }

    /// Every version of a person, oldest first, each with the change that made it.
    pub async fn person_history(&mut self, id: PersonId) -> Result<Vec<PersonVersion>, StoreError> {
        let versions = self.versions(Versioned::Person, &id.0.to_string()).await?;
        Ok(versions
            .into_iter()
            .map(|(person, change)| PersonVersion { person, change })
            .collect())
    }
}
