//! Households: current state in `household`, every version in `household_version`.

use dspp_domain::{Household, HouseholdId, Member, VillageCode};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::changes::Versioned;
use crate::{Change, ChangeRecord, StoreError, Tx, from_json, parse_ts, parse_uuid, to_json, ts};

/// The part of a household kept as JSON: what is not a column.
#[derive(serde::Serialize, serde::Deserialize)]
struct HouseholdData {
    address_detail: Option<String>,
    members: Vec<Member>,
}

#[derive(Debug, Clone)]
pub struct HouseholdVersion {
    pub household: Household,
    pub change: ChangeRecord,
}

fn household_from_row(row: &AnyRow) -> Result<Household, StoreError> {
    let get = |col: &str| row.try_get::<String, _>(col).map_err(StoreError::from_sqlx);
    let data: HouseholdData = from_json(&get("data")?, "household")?;
    Ok(Household {
        id: HouseholdId(parse_uuid(&get("id")?)?),
        version: u32::try_from(
            row.try_get::<i64, _>("version")
                .map_err(StoreError::from_sqlx)?,
        )
        .map_err(|_| StoreError::Corrupt("version out of range".into()))?,
        village: VillageCode::parse(&get("village_code")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        address_detail: data.address_detail,
        members: data.members,
        dissolved: row
            .try_get::<i64, _>("dissolved")
            .map_err(StoreError::from_sqlx)?
            != 0,
        created_at: parse_ts(&get("created_at")?)?,
        updated_at: parse_ts(&get("updated_at")?)?,
    })
}

const HOUSEHOLD_COLUMNS: &str =
    "id, version, village_code, dissolved, data, created_at, updated_at";

impl Tx {
    pub async fn insert_household(
        &mut self,
        household: &Household,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let data = HouseholdData {
            address_detail: household.address_detail.clone(),
            members: household.members.clone(),
        };
        sqlx::query(
            "INSERT INTO household (id, version, village_code, commune_code, dissolved, data, created_at, updated_at)
             VALUES ($1, $2, $3, (SELECT commune_code FROM village WHERE code = $3), $4, $5, $6, $7)",
        )
        .bind(household.id.0.to_string())
        .bind(i64::from(household.version))
        .bind(household.village.to_string())
        .bind(i64::from(household.dissolved))
        .bind(to_json(&data)?)
        .bind(ts(household.created_at))
        .bind(ts(household.updated_at))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.write_household_version(household, change, "create")
            .await
    }

    /// Stores `household` as the next version after `expected_version`; a conflict if it moved on.
    pub async fn update_household(
        &mut self,
        household: &Household,
        expected_version: u32,
        action: &str,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let data = HouseholdData {
            address_detail: household.address_detail.clone(),
            members: household.members.clone(),
        };
        let result = sqlx::query(
            "UPDATE household SET version = $1, village_code = $2,
                commune_code = (SELECT commune_code FROM village WHERE code = $2), dissolved = $3, data = $4, updated_at = $5
             WHERE id = $6 AND version = $7",
        )
        .bind(i64::from(household.version))
        .bind(household.village.to_string())
        .bind(i64::from(household.dissolved))
        .bind(to_json(&data)?)
        .bind(ts(household.updated_at))
        .bind(household.id.0.to_string())
        .bind(i64::from(expected_version))
        .execute(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Stale(format!(
                "the household was changed by someone else (expected version {expected_version})"
            )));
        }
        self.write_household_version(household, change, action)
            .await
    }

    async fn write_household_version(
        &mut self,
        household: &Household,
        change: &Change<'_>,
        action: &str,
    ) -> Result<(), StoreError> {
        let id = household.id.0.to_string();
        self.write_version(
            Versioned::Household,
            &id,
            household.version,
            household,
            change,
            action,
        )
        .await
    }

    pub async fn household(&mut self, id: HouseholdId) -> Result<Option<Household>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {HOUSEHOLD_COLUMNS} FROM household WHERE id = $1"
        ))
        .bind(id.0.to_string())
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref().map(household_from_row).transpose()
    }

    pub async fn household_history(
        &mut self,
        id: HouseholdId,
    ) -> Result<Vec<HouseholdVersion>, StoreError> {
        let versions = self
            .versions(Versioned::Household, &id.0.to_string())
            .await?;
        Ok(versions
            .into_iter()
            .map(|(household, change)| HouseholdVersion { household, change })
            .collect())
    }

    /// Live households in a place (any level), ordered by id, after the cursor.
    pub async fn list_households(
        &mut self,
        commune: Option<&str>,
        after: Option<HouseholdId>,
        limit: u32,
    ) -> Result<Vec<Household>, StoreError> {
        let mut sql = format!("SELECT {HOUSEHOLD_COLUMNS} FROM household WHERE dissolved = 0");
        let mut binds = Vec::new();
        if let Some(code) = commune {
            binds.push(code.to_string());
            sql.push_str(&format!(" AND commune_code = ${}", binds.len()));
        }
        if let Some(after) = after {
            binds.push(after.0.to_string());
            sql.push_str(&format!(" AND id > ${}", binds.len()));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", limit.max(1)));
        let mut query = sqlx::query(&sql);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        let rows = query
            .fetch_all(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        rows.iter().map(household_from_row).collect()
    }
}
