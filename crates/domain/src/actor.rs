//! Who acts: every service call carries an [`Actor`], and every change records it. Sign-in and access
//! control build on this type; nothing below the web edge sees a bare user id.

use std::fmt;

use crate::{CommuneCode, DistrictCode, DomainError, ProvinceCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person signed in to the portal or the field app.
    User,
    /// A machine client: a program operator's system, the data exchange, a field device syncing.
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Officer,
    CommuneChief,
    DistrictOfficer,
    ProvincialOfficer,
    ProgramOperator,
    NationalAdministrator,
    Auditor,
    /// The platform itself (migrations, the demo loader, background jobs).
    System,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Officer,
        Role::CommuneChief,
        Role::DistrictOfficer,
        Role::ProvincialOfficer,
        Role::ProgramOperator,
        Role::NationalAdministrator,
        Role::Auditor,
        Role::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::CommuneChief => "commune_chief",
            Role::DistrictOfficer => "district_officer",
            Role::ProvincialOfficer => "provincial_officer",
            Role::ProgramOperator => "program_operator",
            Role::NationalAdministrator => "national_administrator",
            Role::Auditor => "auditor",
            Role::System => "system",
        }
    }

    pub fn parse(text: &str) -> Result<Role, DomainError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                DomainError::new(
                    "role",
                    format!("{text:?} is not a role; one of {}", known.join(", ")),
                )
            })
    }

    /// Roles that may create and change people and households (within their scope).
    pub fn may_register(self) -> bool {
        matches!(
            self,
            Role::Officer
                | Role::CommuneChief
                | Role::DistrictOfficer
                | Role::ProvincialOfficer
                | Role::NationalAdministrator
                | Role::System
        )
    }

    /// Roles that may read registry records (within their scope). Program operators read only through
    /// consented, purpose-bound queries, which are a separate path.
    pub fn may_read_registry(self) -> bool {
        self.may_register() || self == Role::Auditor
    }
}

/// The place or program an actor acts for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "level", content = "code", rename_all = "snake_case")]
pub enum Scope {
    National,
    Province(ProvinceCode),
    District(DistrictCode),
    Commune(CommuneCode),
    Program(String),
}

impl Scope {
    /// `national`, `province:12`, `district:1201`, `commune:120102`, `program:family_package`.
    pub fn parse(text: &str) -> Result<Scope, DomainError> {
        let text = text.trim();
        let (level, code) = text.split_once(':').unwrap_or((text, ""));
        let scope = match level {
            "national" if code.is_empty() => Scope::National,
            "province" => Scope::Province(ProvinceCode::parse(code)?),
            "district" => Scope::District(DistrictCode::parse(code)?),
            "commune" => Scope::Commune(CommuneCode::parse(code)?),
            "program" if !code.is_empty() => Scope::Program(code.to_string()),
            _ => {
                return Err(DomainError::new(
                    "scope",
                    format!(
                        "{text:?} is not a scope; national, province:CODE, district:CODE, commune:CODE or program:ID"
                    ),
                ));
            }
        };
        Ok(scope)
    }

    /// Whether acting for this scope covers a record in `commune` (a village's commune comes from the
    /// gazetteer, not from the village code).
    pub fn covers(&self, commune: CommuneCode) -> bool {
        match self {
            Scope::National => true,
            Scope::Province(code) => code.contains(commune),
            Scope::District(code) => code.contains(commune),
            Scope::Commune(code) => *code == commune,
            Scope::Program(_) => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::National => f.write_str("national"),
            Scope::Province(code) => write!(f, "province:{code}"),
            Scope::District(code) => write!(f, "district:{code}"),
            Scope::Commune(code) => write!(f, "commune:{code}"),
            Scope::Program(id) => write!(f, "program:{id}"),
        }
    }
}

/// Authority under which an actor acts for someone else: a chief's formal delegation to an officer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delegation {
    /// The subject whose authority is exercised.
    pub principal: String,
    /// The delegation letter or decision that grants it.
    pub reference: String,
}

/// Why the data is being accessed. Purpose limitation starts with recording it on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Enrolment,
    RecordUpdate,
    Verification,
    Deduplication,
    Approval,
    Delivery,
    Reporting,
    Grievance,
    Audit,
    Administration,
}

impl Purpose {
    pub const ALL: [Purpose; 10] = [
        Purpose::Enrolment,
        Purpose::RecordUpdate,
        Purpose::Verification,
        Purpose::Deduplication,
        Purpose::Approval,
        Purpose::Delivery,
        Purpose::Reporting,
        Purpose::Grievance,
        Purpose::Audit,
        Purpose::Administration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Enrolment => "enrolment",
            Purpose::RecordUpdate => "record_update",
            Purpose::Verification => "verification",
            Purpose::Deduplication => "deduplication",
            Purpose::Approval => "approval",
            Purpose::Delivery => "delivery",
            Purpose::Reporting => "reporting",
            Purpose::Grievance => "grievance",
            Purpose::Audit => "audit",
            Purpose::Administration => "administration",
        }
    }

    pub fn parse(text: &str) -> Result<Purpose, DomainError> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == text.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
                DomainError::new(
                    "purpose",
                    format!("{text:?} is not a purpose; one of {}", known.join(", ")),
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// A stable identifier of the user or client (`officer.sokha`, `client:nsaf`).
    pub subject: String,
    pub role: Role,
    pub scope: Scope,
    pub delegation: Option<Delegation>,
    pub purpose: Purpose,
}

impl Actor {
    /// The platform acting on its own behalf.
    pub fn system(purpose: Purpose) -> Actor {
        Actor {
            kind: ActorKind::Client,
            subject: "dspp".into(),
            role: Role::System,
            scope: Scope::National,
            delegation: None,
            purpose,
        }
    }

    /// A subject is 1–100 characters of letters, digits and `._:@-`.
    pub fn parse_subject(text: &str) -> Result<String, DomainError> {
        let text = text.trim();
        if text.is_empty()
            || text.len() > 100
            || !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:@-".contains(c))
        {
            return Err(DomainError::new(
                "subject",
                "1 to 100 characters of letters, digits and ._:@-",
            ));
        }
        Ok(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let village = CommuneCode::parse("120102").unwrap();
        for (text, covers) in [
            ("national", true),
            ("province:12", true),
            ("province:13", false),
            ("district:1201", true),
            ("commune:120102", true),
            ("commune:120103", false),
            ("program:family_package", false),
        ] {
            let scope = Scope::parse(text).unwrap();
            assert_eq!(scope.covers(village), covers, "{text}");
            assert_eq!(scope.to_string(), text);
        }
        assert!(Scope::parse("commune:12").is_err());
        assert!(Scope::parse("planet:earth").is_err());
        assert!(Scope::parse("national:1").is_err());
    }
}
