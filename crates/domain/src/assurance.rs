//! The identity-assurance category: how much the registry knows that a person is who the record says.
//! It is computed from the evidence on the record every time the record changes, never entered by hand.
//!
//! The rules, from strongest to weakest (the first that holds applies):
//! 1. **National ID and biometrically unique**: a Khmer ID card verified against the national ID
//!    database, and the person's biometrics checked against the registry with no duplicate found.
//! 2. **National ID**: a Khmer ID card verified against the national ID database.
//! 3. **Documented core data**: Khmer family and given name, sex and at least the birth year are present,
//!    and at least one identity document is recorded that no register has refuted.
//! 4. **Declared**: what the person declared, with nothing to back it.
//!
//! These are the transition path for people without an ID card: a family-book entry lifts a declared
//! person to 3; verification at the national ID service lifts anyone with a card to 2; a biometric
//! uniqueness check then lifts them to 1. A refuted document never counts.

use chrono::{DateTime, Utc};

use crate::{DocumentKind, PersonRecord};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AssuranceCategory {
    NationalIdAndBiometric = 1,
    NationalId = 2,
    DocumentedCore = 3,
    Declared = 4,
}

/// The outcome of the biometric duplicate check, set by the deduplication engines.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BiometricStatus {
    #[default]
    NotCaptured,
    /// Searched against the registry's biometrics; no other person matched.
    Unique { checked_at: DateTime<Utc> },
    /// A possible duplicate waits for adjudication.
    PossibleDuplicate { since: DateTime<Utc> },
}

/// A category together with the rule that gave it, for showing the officer why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub category: AssuranceCategory,
    pub because: &'static str,
}

impl AssuranceCategory {
    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AssuranceCategory::NationalIdAndBiometric => "national_id_and_biometric",
            AssuranceCategory::NationalId => "national_id",
            AssuranceCategory::DocumentedCore => "documented_core",
            AssuranceCategory::Declared => "declared",
        }
    }

    pub fn from_number(n: u8) -> Option<AssuranceCategory> {
        match n {
            1 => Some(AssuranceCategory::NationalIdAndBiometric),
            2 => Some(AssuranceCategory::NationalId),
            3 => Some(AssuranceCategory::DocumentedCore),
            4 => Some(AssuranceCategory::Declared),
            _ => None,
        }
    }

    pub fn assess(record: &PersonRecord) -> Assessment {
        let national_id = record
            .documents
            .iter()
            .any(|doc| doc.kind == DocumentKind::KhmerIdCard && doc.is_verified_by_national_id());
        let unique = matches!(record.biometric_status, BiometricStatus::Unique { .. });
        if national_id && unique {
            return Assessment {
                category: AssuranceCategory::NationalIdAndBiometric,
                because: "Khmer ID card verified against the national ID database, and biometrically unique in the registry",
            };
        }
        if national_id {
            return Assessment {
                category: AssuranceCategory::NationalId,
                because: "Khmer ID card verified against the national ID database",
            };
        }
        let core = record.name.has_khmer() && record.birth_date.year().is_some();
        let documented = record.documents.iter().any(|doc| !doc.is_refuted());
        if core && documented {
            return Assessment {
                category: AssuranceCategory::DocumentedCore,
                because: "Khmer name, sex and birth year backed by an identity document",
            };
        }
        Assessment {
            category: AssuranceCategory::Declared,
            because: if core {
                "declared data; no identity document recorded"
            } else {
                "declared data; Khmer name or birth year missing"
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::{
        BirthDate, DomainError, IdentityDocument, PersonName, Sex, VerificationStatus, VillageCode,
        document::NATIONAL_ID_SOURCE,
    };

    fn record(
        birth: &str,
        docs: Vec<IdentityDocument>,
        biometric: BiometricStatus,
    ) -> Result<PersonRecord, DomainError> {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        Ok(PersonRecord {
            name: PersonName::new("សុខ", "ដារ៉ា", "SOK", "DARA")?,
            sex: Sex::Male,
            birth_date: BirthDate::parse(birth, today)?,
            birth_village: None,
            phone: None,
            village: VillageCode::parse("12010203")?,
            documents: docs,
            death: None,
            biometric_status: biometric,
        })
    }

    #[test]
    fn the_transition_path() -> Result<(), DomainError> {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 1, 8, 0, 0)
            .single()
            .unwrap_or_default();
        let mut card = IdentityDocument::new(DocumentKind::KhmerIdCard, "010203040", None)?;
        let book = IdentityDocument::new(
            DocumentKind::FamilyBook,
            "FB-77/2019",
            Some("Commune 120102"),
        )?;
        let category = |r: &PersonRecord| AssuranceCategory::assess(r).category;

        assert_eq!(
            category(&record("1959", vec![], BiometricStatus::NotCaptured)?),
            AssuranceCategory::Declared
        );
        assert_eq!(
            category(&record(
                "",
                vec![book.clone()],
                BiometricStatus::NotCaptured
            )?),
            AssuranceCategory::Declared
        );
        assert_eq!(
            category(&record(
                "1959",
                vec![book.clone()],
                BiometricStatus::NotCaptured
            )?),
            AssuranceCategory::DocumentedCore
        );
        assert_eq!(
            category(&record(
                "1959",
                vec![card.clone()],
                BiometricStatus::NotCaptured
            )?),
            AssuranceCategory::DocumentedCore
        );

        card.verification = VerificationStatus::Failed {
            source: NATIONAL_ID_SOURCE.into(),
            at,
            reason: "unknown number".into(),
        };
        assert_eq!(
            category(&record(
                "1959",
                vec![card.clone()],
                BiometricStatus::NotCaptured
            )?),
            AssuranceCategory::Declared
        );

        card.verification = VerificationStatus::Verified {
            source: "commune_office".into(),
            at,
        };
        assert_eq!(
            category(&record(
                "1959",
                vec![card.clone()],
                BiometricStatus::NotCaptured
            )?),
            AssuranceCategory::DocumentedCore
        );

        card.verification = VerificationStatus::Verified {
            source: NATIONAL_ID_SOURCE.into(),
            at,
        };
        assert_eq!(
            category(&record(
                "1959",
                vec![card.clone()],
                BiometricStatus::NotCaptured
            )?),
            AssuranceCategory::NationalId
        );
        assert_eq!(
            category(&record(
                "1959",
                vec![card.clone()],
                BiometricStatus::PossibleDuplicate { since: at }
            )?),
            AssuranceCategory::NationalId
        );
        assert_eq!(
            category(&record(
                "1959",
                vec![card],
                BiometricStatus::Unique { checked_at: at }
            )?),
            AssuranceCategory::NationalIdAndBiometric
        );
        Ok(())
    }
}
