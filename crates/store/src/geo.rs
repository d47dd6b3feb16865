//! The gazetteer in the database: provinces, districts, communes and villages with their names.

use std::collections::HashMap;

use dspp_domain::{CommuneCode, VillageCode};
use sqlx::Row;

use crate::{StoreError, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceLevel {
    Province,
    District,
    Commune,
    Village,
}

impl PlaceLevel {
    fn table(self) -> &'static str {
        match self {
            PlaceLevel::Province => "province",
            PlaceLevel::District => "district",
            PlaceLevel::Commune => "commune",
            PlaceLevel::Village => "village",
        }
    }

    fn parent_column(self) -> Option<&'static str> {
        match self {
            PlaceLevel::Province => None,
            PlaceLevel::District => Some("province_code"),
            PlaceLevel::Commune => Some("district_code"),
            PlaceLevel::Village => Some("commune_code"),
        }
    }

    /// The level of a code, read from its length.
    pub fn of_code(code: &str) -> Option<PlaceLevel> {
        match code.len() {
            2 => Some(PlaceLevel::Province),
            4 => Some(PlaceLevel::District),
            6 => Some(PlaceLevel::Commune),
            8 => Some(PlaceLevel::Village),
            _ => None,
        }
    }

    pub fn child(self) -> Option<PlaceLevel> {
        match self {
            PlaceLevel::Province => Some(PlaceLevel::District),
            PlaceLevel::District => Some(PlaceLevel::Commune),
            PlaceLevel::Commune => Some(PlaceLevel::Village),
            PlaceLevel::Village => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub level: PlaceLevel,
    pub code: String,
    pub parent: Option<String>,
    pub name_km: String,
    pub name_en: String,
}

impl Tx {
    /// Inserts places, leaving those already present as they are (loading twice changes nothing).
    /// Rows go in batches of 200 per statement: the gazetteer is 16,000 rows.
    pub async fn insert_places(&mut self, places: &[Place]) -> Result<u64, StoreError> {
        let mut inserted = 0;
        for level in [
            PlaceLevel::Province,
            PlaceLevel::District,
            PlaceLevel::Commune,
            PlaceLevel::Village,
        ] {
            let of_level: Vec<&Place> = places.iter().filter(|p| p.level == level).collect();
            let table = level.table();
            let columns = match level.parent_column() {
                None => "code, name_km, name_en".to_string(),
                Some(parent) => format!("code, {parent}, name_km, name_en"),
            };
            let width = if level.parent_column().is_some() {
                4
            } else {
                3
            };
            for chunk in of_level.chunks(200) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|row| {
                        let params: Vec<String> = (1..=width)
                            .map(|col| format!("${}", row * width + col))
                            .collect();
                        format!("({})", params.join(", "))
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO {table} ({columns}) VALUES {} ON CONFLICT (code) DO NOTHING",
                    values.join(", ")
                );
                let mut query = sqlx::query(&sql);
                for place in chunk {
                    query = query.bind(place.code.as_str());
                    if level.parent_column().is_some() {
                        query = query.bind(place.parent.clone().unwrap_or_default());
                    }
                    query = query
                        .bind(place.name_km.as_str())
                        .bind(place.name_en.as_str());
                }
                inserted += query
                    .execute(&mut *self.inner)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .rows_affected();
            }
        }
        Ok(inserted)
    }

    pub async fn count_places(&mut self, level: PlaceLevel) -> Result<i64, StoreError> {
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {}", level.table()))
            .fetch_one(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        row.try_get::<i64, _>("n").map_err(StoreError::from_sqlx)
    }

    pub async fn place(&mut self, code: &str) -> Result<Option<Place>, StoreError> {
        let Some(level) = PlaceLevel::of_code(code) else {
            return Ok(None);
        };
        let parent = level
            .parent_column()
            .map(|c| format!("{c} AS parent"))
            .unwrap_or_else(|| "NULL AS parent".into());
        let row = sqlx::query(&format!(
            "SELECT code, {parent}, name_km, name_en FROM {} WHERE code = $1",
            level.table()
        ))
        .bind(code)
        .fetch_optional(&mut *self.inner)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.map(|row| place_from_row(level, &row)).transpose()
    }

    /// The places directly under `parent` (provinces when `parent` is `None`), ordered by code.
    pub async fn places_under(&mut self, parent: Option<&str>) -> Result<Vec<Place>, StoreError> {
        let level = match parent {
            None => PlaceLevel::Province,
            Some(code) => match PlaceLevel::of_code(code).and_then(PlaceLevel::child) {
                Some(level) => level,
                None => return Ok(Vec::new()),
            },
        };
        let rows = match (parent, level.parent_column()) {
            (Some(code), Some(column)) => sqlx::query(&format!(
                "SELECT code, {column} AS parent, name_km, name_en FROM {} WHERE {column} = $1 ORDER BY code",
                level.table()
            ))
            .bind(code)
            .fetch_all(&mut *self.inner)
            .await,
            _ => sqlx::query("SELECT code, NULL AS parent, name_km, name_en FROM province ORDER BY code")
                .fetch_all(&mut *self.inner)
                .await,
        }
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(|row| place_from_row(level, row)).collect()
    }

    /// The commune a village belongs to, per the gazetteer; `None` when the village does not exist.
    pub async fn commune_of(
        &mut self,
        village: VillageCode,
    ) -> Result<Option<CommuneCode>, StoreError> {
        let row = sqlx::query("SELECT commune_code FROM village WHERE code = $1")
            .bind(village.as_str())
            .fetch_optional(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        row.map(|row| {
            let code: String = row.try_get("commune_code").map_err(StoreError::from_sqlx)?;
            CommuneCode::parse(&code).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    /// Every village with its commune, for callers that check many addresses at once (imports).
    pub async fn village_communes(&mut self) -> Result<HashMap<String, CommuneCode>, StoreError> {
        let rows = sqlx::query("SELECT code, commune_code FROM village")
            .fetch_all(&mut *self.inner)
            .await
            .map_err(StoreError::from_sqlx)?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let code: String = row.try_get("code").map_err(StoreError::from_sqlx)?;
            let commune: String = row.try_get("commune_code").map_err(StoreError::from_sqlx)?;
            out.insert(
                code,
                CommuneCode::parse(&commune).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
        }
        Ok(out)
    }
}

fn place_from_row(level: PlaceLevel, row: &sqlx::any::AnyRow) -> Result<Place, StoreError> {
    Ok(Place {
        level,
        code: row.try_get("code").map_err(StoreError::from_sqlx)?,
        parent: row.try_get("parent").map_err(StoreError::from_sqlx)?,
        name_km: row.try_get("name_km").map_err(StoreError::from_sqlx)?,
        name_en: row.try_get("name_en").map_err(StoreError::from_sqlx)?,
    })
}
