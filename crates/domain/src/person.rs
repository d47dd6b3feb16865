//! A person in the registry: the versioned record an officer edits, and the identity the registry keeps
//! around it (SPID, household, assurance category, merge state).

use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    AssuranceCategory, BiometricStatus, BirthDate, DocumentKind, DomainError, HouseholdId,
    IdentityDocument, PersonName, Spid, VillageCode,
};

/// The registry's internal key for a person. It never leaves the registry: people are named by SPID.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PersonId(pub uuid::Uuid);

impl std::fmt::Display for PersonId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
        }
    }

    /// Accepts the words and the single letters used on forms (`F`, `M`) in either case.
    pub fn parse(text: &str) -> Result<Sex, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "female" | "f" => Ok(Sex::Female),
            "male" | "m" => Ok(Sex::Male),
            other => Err(DomainError::new(
                "sex",
                format!("{other:?} is not a sex; female or male"),
            )),
        }
    }
}

/// A recorded death: the life event that ends a person's enrolments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Death {
    pub date: NaiveDate,
    /// The certificate or report that records it, when there is one.
    pub evidence: Option<String>,
}

/// What an officer enters and corrects about a person. Every change to it makes a new version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonRecord {
    pub name: PersonName,
    pub sex: Sex,
    pub birth_date: BirthDate,
    /// Where the person was born, when known: the birth life event.
    pub birth_village: Option<VillageCode>,
    pub phone: Option<String>,
    /// Where the person lives. Every address is a village of the gazetteer.
    pub village: VillageCode,
    pub documents: Vec<IdentityDocument>,
    pub death: Option<Death>,
    pub biometric_status: BiometricStatus,
}

/// Reads a phone number as written (`012 345 678`, `+855 12 345 678`) into digits with an optional
/// leading `+`.
pub fn parse_phone(text: &str) -> Result<Option<String>, DomainError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let mut out = String::new();
    for (i, ch) in text.chars().enumerate() {
        match ch {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => out.push(ch),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(DomainError::new("phone", format!("contains {ch:?}"))),
        }
    }
    let digits = out.trim_start_matches('+').len();
    if !(8..=15).contains(&digits) {
        return Err(DomainError::new(
            "phone",
            format!("has {digits} digits; a phone number has 8 to 15"),
        ));
    }
    Ok(Some(out))
}

impl PersonRecord {
    /// Rules that hold between fields: one document of a kind and number, a death not before birth
    /// and not in the future.
    pub fn validate(&self, today: NaiveDate) -> Result<(), DomainError> {
        for (i, doc) in self.documents.iter().enumerate() {
            if self.documents[..i]
                .iter()
                .any(|other| other.kind == doc.kind && other.number == doc.number)
            {
                return Err(DomainError::new(
                    format!("documents[{i}]"),
                    "the same document is listed twice",
                ));
            }
        }
        if let Some(death) = &self.death {
            if death.date > today {
                return Err(DomainError::new("death.date", "is in the future"));
            }
            if let Some(year) = self.birth_date.year()
                && death.date.format("%Y").to_string() < format!("{year:04}")
            {
                return Err(DomainError::new("death.date", "is before the birth date"));
            }
        }
        Ok(())
    }

    pub fn document(&self, kind: DocumentKind) -> Option<&IdentityDocument> {
        self.documents.iter().find(|doc| doc.kind == kind)
    }

    pub fn assurance(&self) -> AssuranceCategory {
        AssuranceCategory::assess(self).category
    }
}

/// A person as the registry holds them now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    pub id: PersonId,
    pub spid: Spid,
    /// Starts at 1 and grows by one with every change; the ETag of the person.
    pub version: u32,
    pub record: PersonRecord,
    pub household: Option<HouseholdId>,
    /// Set when this record was found to be the same person as another: the surviving SPID.
    pub merged_into: Option<Spid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Person {
    pub fn assurance(&self) -> AssuranceCategory {
        self.record.assurance()
    }

    pub fn is_alive(&self) -> bool {
        self.record.death.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(parse_phone("012 345 678"), Ok(Some("012345678".into())));
        assert_eq!(
            parse_phone("+855 (12) 345-678"),
            Ok(Some("+85512345678".into()))
        );
        assert_eq!(parse_phone(""), Ok(None));
        assert!(parse_phone("12345").is_err());
        assert!(parse_phone("012 345 67a").is_err());
        assert!(parse_phone("0+12345678").is_err());
    }

    #[test]
    fn sexes() {
        assert_eq!(Sex::parse("F"), Ok(Sex::Female));
        assert_eq!(Sex::parse(" Male "), Ok(Sex::Male));
        assert!(Sex::parse("x").is_err());
    }
}
