//! Identity documents a person shows at enrolment and what is known of their authenticity.

use chrono::{DateTime, Utc};

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    KhmerIdCard,
    BirthCertificate,
    FamilyBook,
    Passport,
    DisabilityCard,
    EquityCard,
    SocialSecurityCard,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 7] = [
        DocumentKind::KhmerIdCard,
        DocumentKind::BirthCertificate,
        DocumentKind::FamilyBook,
        DocumentKind::Passport,
        DocumentKind::DisabilityCard,
        DocumentKind::EquityCard,
        DocumentKind::SocialSecurityCard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::KhmerIdCard => "khmer_id_card",
            DocumentKind::BirthCertificate => "birth_certificate",
            DocumentKind::FamilyBook => "family_book",
            DocumentKind::Passport => "passport",
            DocumentKind::DisabilityCard => "disability_card",
            DocumentKind::EquityCard => "equity_card",
            DocumentKind::SocialSecurityCard => "social_security_card",
        }
    }

    pub fn parse(text: &str) -> Result<DocumentKind, DomainError> {
        DocumentKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = DocumentKind::ALL.iter().map(|k| k.as_str()).collect();
                DomainError::new(
                    "kind",
                    format!(
                        "{text:?} is not a document kind; one of {}",
                        known.join(", ")
                    ),
                )
            })
    }
}

/// What is known of a document's authenticity. `Verified` names the source that confirmed it, because
/// only some sources (the national ID database) raise the identity-assurance category.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Seen by the officer, not checked against any register.
    Unverified,
    Verified {
        source: String,
        at: DateTime<Utc>,
    },
    /// Checked and refuted: the register does not know it, or it names someone else.
    Failed {
        source: String,
        at: DateTime<Utc>,
        reason: String,
    },
}

/// The source name under which the national ID database reports its checks.
pub const NATIONAL_ID_SOURCE: &str = "national_id";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdentityDocument {
    pub kind: DocumentKind,
    /// The number as printed, tidied of spaces; never reformatted further.
    pub number: String,
    /// Who issued it (ministry, province, program), when known.
    pub issuer: Option<String>,
    pub verification: VerificationStatus,
}

impl IdentityDocument {
    pub fn new(
        kind: DocumentKind,
        number: &str,
        issuer: Option<&str>,
    ) -> Result<IdentityDocument, DomainError> {
        let number: String = number.split_whitespace().collect();
        if number.is_empty() {
            return Err(DomainError::new("number", "a document needs its number"));
        }
        if number.len() > 40
            || !number
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '/')
        {
            return Err(DomainError::new(
                "number",
                "a document number has at most 40 letters, digits, '-' or '/'",
            ));
        }
        if kind == DocumentKind::KhmerIdCard && !number.chars().all(|ch| ch.is_ascii_digit()) {
            return Err(DomainError::new(
                "number",
                "a Khmer ID card number has only digits",
            ));
        }
        let issuer = issuer
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Ok(IdentityDocument {
            kind,
            number,
            issuer,
            verification: VerificationStatus::Unverified,
        })
    }

    pub fn is_verified_by_national_id(&self) -> bool {
        matches!(&self.verification, VerificationStatus::Verified { source, .. } if source == NATIONAL_ID_SOURCE)
    }

    pub fn is_refuted(&self) -> bool {
        matches!(self.verification, VerificationStatus::Failed { .. })
    }
}
