//! The official 2025 gazetteer of Cambodia, carried inside the binary (see `data/geo/README.md` for its
//! source and terms), and the use cases that load and browse it.

use dspp_domain::Actor;
use dspp_store::{Place, PlaceLevel};

use crate::{Registry, ServiceError};

const PROVINCES: &str = include_str!("../../../data/geo/CambodiaProvinceList2025.csv");
const DISTRICTS: &str = include_str!("../../../data/geo/CambodiaDistrictList2025.csv");
const COMMUNES: &str = include_str!("../../../data/geo/CambodiaCommuneList2025.csv");
const VILLAGES: &str = include_str!("../../../data/geo/CambodiaVillagesList2025.csv");

/// The village list as published (CSV), for engines that read it themselves (linkage, the generator).
pub fn villages_csv() -> &'static str {
    VILLAGES
}

/// The attribution the data's terms of use require wherever it is shown.
pub const ATTRIBUTION: &str = "Administrative divisions: General Directorate of Digital Economy, Ministry of Economy and \
    Finance, Royal Government of Cambodia (data.mef.gov.kh), 2025";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GazetteerSummary {
    pub provinces: i64,
    pub districts: i64,
    pub communes: i64,
    pub villages: i64,
    pub inserted: u64,
    pub skipped: Vec<SkippedPlace>,
}

/// Reads one gazetteer file: `code_column` is the place's code, `parent_column` its parent's.
fn read_places(
    text: &str,
    level: PlaceLevel,
    code_column: &str,
    parent_column: Option<&str>,
    km_column: &str,
    en_column: &str,
) -> Result<Vec<Place>, ServiceError> {
    let corrupt = |what: String| ServiceError::invalid("gazetteer", what);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| corrupt(e.to_string()))?
        .clone();
    let index = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| corrupt(format!("no column {name}")))
    };
    let code_idx = index(code_column)?;
    let parent_idx = parent_column.map(index).transpose()?;
    let km_idx = index(km_column)?;
    let en_idx = index(en_column)?;
    let mut places = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| corrupt(e.to_string()))?;
        let field = |i: usize| record.get(i).unwrap_or_default().trim().to_string();
        places.push(Place {
            level,
            code: field(code_idx),
            parent: parent_idx.map(field),
            name_km: field(km_idx),
            name_en: field(en_idx),
        });
    }
    Ok(places)
}

/// A row of the published gazetteer that cannot be loaded as it stands, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPlace {
    pub code: String,
    pub name_en: String,
    pub reason: &'static str,
}

/// Every loadable place of the gazetteer, parents before children, and the rows that cannot be loaded.
///
/// The 2025 publication has rows no registry can address: a code that is not 8 digits (`0506140-`),
/// codes given to two or more villages (26 codes, 55 rows; the first row keeps the code), and villages
/// under a commune the commune list does not have (`120913`). Those rows are reported, not guessed at;
/// their correction belongs to the publisher.
pub fn gazetteer() -> Result<(Vec<Place>, Vec<SkippedPlace>), ServiceError> {
    let mut places = read_places(
        PROVINCES,
        PlaceLevel::Province,
        "province_code",
        None,
        "province_kh",
        "province_en",
    )?;
    places.extend(read_places(
        DISTRICTS,
        PlaceLevel::District,
        "district_code",
        Some("province_code"),
        "district_kh",
        "district_en",
    )?);
    places.extend(read_places(
        COMMUNES,
        PlaceLevel::Commune,
        "commune_code",
        Some("district_code"),
        "commune_kh",
        "commune_en",
    )?);
    let communes: std::collections::HashSet<String> = places
        .iter()
        .filter(|p| p.level == PlaceLevel::Commune)
        .map(|p| p.code.clone())
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut skipped = Vec::new();
    for village in read_places(
        VILLAGES,
        PlaceLevel::Village,
        "village_code",
        Some("commune_code"),
        "village_kh",
        "village_en",
    )? {
        let reason = if dspp_domain::VillageCode::parse(&village.code).is_err() {
            Some("the code is not 8 digits")
        } else if !village
            .parent
            .as_ref()
            .is_some_and(|c| communes.contains(c))
        {
            Some("its commune is not in the commune list")
        } else if !seen.insert(village.code.clone()) {
            Some("another village already has this code")
        } else {
            None
        };
        match reason {
            Some(reason) => skipped.push(SkippedPlace {
                code: village.code,
                name_en: village.name_en,
                reason,
            }),
            None => places.push(village),
        }
    }
    Ok((places, skipped))
}

impl Registry {
    /// Loads the gazetteer into the store. Loading again adds nothing and changes nothing.
    pub async fn load_gazetteer(&self) -> Result<GazetteerSummary, ServiceError> {
        let (places, skipped) = gazetteer()?;
        let mut tx = self.store().begin().await?;
        let inserted = tx.insert_places(&places).await?;
        let summary = GazetteerSummary {
            provinces: tx.count_places(PlaceLevel::Province).await?,
            districts: tx.count_places(PlaceLevel::District).await?,
            communes: tx.count_places(PlaceLevel::Commune).await?,
            villages: tx.count_places(PlaceLevel::Village).await?,
            inserted,
            skipped,
        };
        tx.commit().await?;
        Ok(summary)
    }

    /// A place and the places directly under it (the provinces when `code` is `None`). Place names are
    /// public: any actor may read them.
    pub async fn places(
        &self,
        _actor: &Actor,
        code: Option<&str>,
    ) -> Result<(Option<Place>, Vec<Place>), ServiceError> {
        let mut tx = self.store().begin().await?;
        let place = match code {
            Some(code) => Some(
                tx.place(code)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(format!("place {code}")))?,
            ),
            None => None,
        };
        let children = tx.places_under(code).await?;
        tx.commit().await?;
        Ok((place, children))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_gazetteer_is_complete_and_consistent() {
        let (places, skipped) = gazetteer().unwrap();
        let count = |level| places.iter().filter(|p| p.level == level).count();
        assert_eq!(
            (
                count(PlaceLevel::Province),
                count(PlaceLevel::District),
                count(PlaceLevel::Commune),
                count(PlaceLevel::Village)
            ),
            (25, 210, 1_661, 14_512)
        );
        // 14,576 published village rows: 64 cannot be addressed as published.
        let reasons = |r: &str| skipped.iter().filter(|s| s.reason == r).count();
        assert_eq!(reasons("the code is not 8 digits"), 9);
        assert_eq!(reasons("its commune is not in the commune list"), 13);
        assert_eq!(reasons("another village already has this code"), 42);
        for place in &places {
            if let (Some(parent), false) = (&place.parent, place.level == PlaceLevel::Village) {
                assert!(
                    place.code.starts_with(parent.as_str()),
                    "{} under {parent}",
                    place.code
                );
            }
            assert!(
                !place.name_km.is_empty() && !place.name_en.is_empty(),
                "{} has both names",
                place.code
            );
        }
    }
}
