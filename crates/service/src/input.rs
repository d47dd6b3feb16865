//! Input as officers and files give it (text), checked completely into domain records: every field
//! problem is reported at once, so a form or a CSV row is corrected in one pass.

use chrono::NaiveDate;
use dspp_domain::person::parse_phone;
use dspp_domain::{
    BiometricStatus, BirthDate, DocumentKind, DomainError, IdentityDocument, PersonName,
    PersonRecord, Sex, VillageCode,
};

use crate::FieldProblem;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentInput {
    pub kind: String,
    pub number: String,
    pub issuer: Option<String>,
}

/// A person as entered. `village` may be left empty inside a household: it then defaults to the
/// household's village.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonInput {
    pub family_km: String,
    pub given_km: String,
    pub family_latin: String,
    pub given_latin: String,
    pub sex: String,
    pub birth_date: String,
    pub birth_village: Option<String>,
    pub phone: Option<String>,
    pub village: Option<String>,
    pub documents: Vec<DocumentInput>,
}

impl PersonInput {
    /// Checks every field and returns the record, or every problem found with its field under `prefix`.
    pub fn validate(
        &self,
        prefix: &str,
        default_village: Option<VillageCode>,
        today: NaiveDate,
    ) -> Result<PersonRecord, Vec<FieldProblem>> {
        let mut problems: Vec<FieldProblem> = Vec::new();
        let mut note = |e: DomainError| {
            problems.push(if prefix.is_empty() {
                e.into()
            } else {
                e.within(prefix).into()
            })
        };

        let name = PersonName::new(
            &self.family_km,
            &self.given_km,
            &self.family_latin,
            &self.given_latin,
        )
        .map_err(&mut note)
        .ok();
        let sex = Sex::parse(&self.sex).map_err(&mut note).ok();
        let birth_date = BirthDate::parse(&self.birth_date, today)
            .map_err(&mut note)
            .ok();
        let birth_village = match self
            .birth_village
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(code) => match VillageCode::parse(code) {
                Ok(code) => Some(Some(code)),
                Err(e) => {
                    note(DomainError::new("birth_village", e.reason));
                    None
                }
            },
            None => Some(None),
        };
        let phone = parse_phone(self.phone.as_deref().unwrap_or(""))
            .map_err(&mut note)
            .ok();
        let village = match self
            .village
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(code) => VillageCode::parse(code)
                .map_err(|e| DomainError::new("village", e.reason))
                .map_err(&mut note)
                .ok(),
            None if default_village.is_some() => default_village,
            None => {
                note(DomainError::new("village", "is required"));
                None
            }
        };
        let mut documents = Vec::new();
        for (i, doc) in self.documents.iter().enumerate() {
            let field = format!("documents[{i}]");
            let kind = DocumentKind::parse(doc.kind.trim()).map_err(|e| e.within(&field));
            match kind.and_then(|kind| {
                IdentityDocument::new(kind, &doc.number, doc.issuer.as_deref())
                    .map_err(|e| e.within(&field))
            }) {
                Ok(document) => documents.push(document),
                Err(e) => note(e),
            }
        }
        let (
            Some(name),
            Some(sex),
            Some(birth_date),
            Some(birth_village),
            Some(phone),
            Some(village),
        ) = (name, sex, birth_date, birth_village, phone, village)
        else {
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let record = PersonRecord {
            name,
            sex,
            birth_date,
            birth_village,
            phone,
            village,
            documents,
            death: None,
            biometric_status: BiometricStatus::NotCaptured,
        };
        record.validate(today).map_err(|e| {
            vec![if prefix.is_empty() {
                e.into()
            } else {
                e.within(prefix).into()
            }]
        })?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let input = PersonInput {
            family_km: "Sok".into(),
            sex: "x".into(),
            birth_date: "1975-02-30".into(),
            village: Some("123".into()),
            phone: Some("12".into()),
            documents: vec![DocumentInput {
                kind: "licence".into(),
                number: "1".into(),
                issuer: None,
            }],
            ..PersonInput::default()
        };
        let problems = input.validate("members[1]", None, today()).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "members[1].name.family_km",
                "members[1].sex",
                "members[1].birth_date",
                "members[1].phone",
                "members[1].village",
                "members[1].documents[0].kind"
            ]
        );
    }

    #[test]
    fn a_good_person_becomes_a_record() {
        let input = PersonInput {
            family_km: "សុខ".into(),
            given_km: "ដារ៉ា".into(),
            family_latin: "SOK".into(),
            given_latin: "DARA".into(),
            sex: "M".into(),
            birth_date: "1959".into(),
            documents: vec![DocumentInput {
                kind: "family_book".into(),
                number: "FB 77/2019".into(),
                issuer: None,
            }],
            ..PersonInput::default()
        };
        let village = VillageCode::parse("12010203").unwrap();
        let record = input.validate("", Some(village), today()).unwrap();
        assert_eq!(record.village, village);
        assert_eq!(record.documents[0].number, "FB77/2019");
        assert_eq!(
            record.assurance(),
            dspp_domain::AssuranceCategory::DocumentedCore
        );
    }
}
