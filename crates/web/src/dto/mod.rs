//! The API's JSON shapes and their conversions from and to the service's types. DTOs live here and
//! nowhere else; field names are the domain's words.

pub mod biometrics;
pub mod duplicates;
pub mod enrolment;

use chrono::{DateTime, Utc};
use dspp_domain::{BiometricStatus, DatePrecision, IdentityDocument, Person, VerificationStatus};
use dspp_service::{
    ChangeRecord, DocumentInput, HouseholdView, LeaseView, MemberInput, OfflineIssue, PersonInput,
    PersonView, Place, PlaceLevel, SpidState, Warning,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::ApiError;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentIn {
    /// khmer_id_card, birth_certificate, family_book, passport, disability_card, equity_card, social_security_card
    pub kind: String,
    pub number: String,
    #[serde(default)]
    pub issuer: Option<String>,
}

/// How a field device says it issued a leased SPID while offline.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineIn {
    pub spid: String,
    pub lease_id: uuid::Uuid,
    pub device_id: String,
    pub issued_at: DateTime<Utc>,
}

/// A person as entered. Khmer parts in Khmer script, Latin parts in Latin letters.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonIn {
    #[serde(default)]
    pub family_km: String,
    #[serde(default)]
    pub given_km: String,
    #[serde(default)]
    pub family_latin: String,
    #[serde(default)]
    pub given_latin: String,
    /// female or male (F/M accepted)
    pub sex: String,
    /// YYYY-MM-DD, YYYY-MM, YYYY, or empty when unknown
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub birth_village: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// Village code (8 digits); inside a household it defaults to the household's village.
    #[serde(default)]
    pub village: Option<String>,
    #[serde(default)]
    pub documents: Vec<DocumentIn>,
    /// Set when a field device issued this person's SPID offline from a lease.
    #[serde(default)]
    pub offline: Option<OfflineIn>,
}

impl PersonIn {
    pub fn to_input(&self) -> PersonInput {
        PersonInput {
            family_km: self.family_km.clone(),
            given_km: self.given_km.clone(),
            family_latin: self.family_latin.clone(),
            given_latin: self.given_latin.clone(),
            sex: self.sex.clone(),
            birth_date: self.birth_date.clone(),
            birth_village: self.birth_village.clone(),
            phone: self.phone.clone(),
            village: self.village.clone(),
            documents: self
                .documents
                .iter()
                .map(|d| DocumentInput {
                    kind: d.kind.clone(),
                    number: d.number.clone(),
                    issuer: d.issuer.clone(),
                })
                .collect(),
        }
    }

    pub fn offline(&self, field: &str) -> Result<Option<OfflineIssue>, ApiError> {
        self.offline
            .as_ref()
            .map(|o| {
                Ok(OfflineIssue {
                    spid: crate::routes::parse_spid(&o.spid).map_err(|_| {
                        ApiError::invalid(&format!("{field}.offline.spid"), "not a valid SPID")
                    })?,
                    lease: o.lease_id,
                    device_id: o.device_id.clone(),
                    issued_at: o.issued_at,
                })
            })
            .transpose()
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberIn {
    /// The member's relationship to the head: head, spouse, child, child_in_law, grandchild, parent,
    /// parent_in_law, sibling, other_relative, not_related
    pub relationship: String,
    pub person: PersonIn,
}

impl MemberIn {
    pub fn to_input(&self, field: &str) -> Result<MemberInput, ApiError> {
        Ok(MemberInput {
            person: self.person.to_input(),
            relationship: self.relationship.clone(),
            offline: self.person.offline(field)?,
        })
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHouseholdIn {
    pub village: String,
    #[serde(default)]
    pub address_detail: Option<String>,
    pub members: Vec<MemberIn>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationOut {
    /// unverified, verified or failed
    pub status: &'static str,
    pub source: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentOut {
    pub kind: &'static str,
    pub number: String,
    pub issuer: Option<String>,
    pub verification: VerificationOut,
}

impl From<&IdentityDocument> for DocumentOut {
    fn from(doc: &IdentityDocument) -> Self {
        let verification = match &doc.verification {
            VerificationStatus::Unverified => VerificationOut {
                status: "unverified",
                source: None,
                at: None,
                reason: None,
            },
            VerificationStatus::Verified { source, at } => VerificationOut {
                status: "verified",
                source: Some(source.clone()),
                at: Some(*at),
                reason: None,
            },
            VerificationStatus::Failed { source, at, reason } => VerificationOut {
                status: "failed",
                source: Some(source.clone()),
                at: Some(*at),
                reason: Some(reason.clone()),
            },
        };
        DocumentOut {
            kind: doc.kind.as_str(),
            number: doc.number.clone(),
            issuer: doc.issuer.clone(),
            verification,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssuranceOut {
    /// 1 (strongest) to 4
    pub category: u8,
    pub label: &'static str,
    /// The rule that gave this category.
    pub because: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeathOut {
    pub date: chrono::NaiveDate,
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonOut {
    pub spid: String,
    pub version: u32,
    pub family_km: String,
    pub given_km: String,
    pub family_latin: String,
    pub given_latin: String,
    pub sex: &'static str,
    pub birth_date: String,
    /// day, month, year or unknown
    pub birth_date_precision: &'static str,
    pub birth_village: Option<String>,
    pub phone: Option<String>,
    pub village: String,
    pub household_id: Option<uuid::Uuid>,
    pub documents: Vec<DocumentOut>,
    pub death: Option<DeathOut>,
    /// not_captured, unique or possible_duplicate
    pub biometric_status: &'static str,
    pub assurance: AssuranceOut,
    /// Set when this record was merged into another person: the surviving SPID.
    pub merged_into: Option<String>,
    /// Set when the person was reached through a merged SPID: that SPID.
    pub resolved_from: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn precision(p: DatePrecision) -> &'static str {
    match p {
        DatePrecision::Day => "day",
        DatePrecision::Month => "month",
        DatePrecision::Year => "year",
        DatePrecision::Unknown => "unknown",
    }
}

pub fn person_out(person: &Person, resolved_from: Option<dspp_domain::Spid>) -> PersonOut {
    let assessment = dspp_domain::AssuranceCategory::assess(&person.record);
    let r = &person.record;
    PersonOut {
        spid: person.spid.to_string(),
        version: person.version,
        family_km: r.name.family_km.clone(),
        given_km: r.name.given_km.clone(),
        family_latin: r.name.family_latin.clone(),
        given_latin: r.name.given_latin.clone(),
        sex: r.sex.as_str(),
        birth_date: r.birth_date.to_string(),
        birth_date_precision: precision(r.birth_date.precision()),
        birth_village: r.birth_village.map(|v| v.to_string()),
        phone: r.phone.clone(),
        village: r.village.to_string(),
        household_id: person.household.map(|h| h.0),
        documents: r.documents.iter().map(DocumentOut::from).collect(),
        death: r.death.as_ref().map(|d| DeathOut {
            date: d.date,
            evidence: d.evidence.clone(),
        }),
        biometric_status: match r.biometric_status {
            BiometricStatus::NotCaptured => "not_captured",
            BiometricStatus::Unique { .. } => "unique",
            BiometricStatus::PossibleDuplicate { .. } => "possible_duplicate",
        },
        assurance: AssuranceOut {
            category: assessment.category.number(),
            label: assessment.category.as_str(),
            because: assessment.because,
        },
        merged_into: person.merged_into.map(|s| s.to_string()),
        resolved_from: resolved_from.map(|s| s.to_string()),
        created_at: person.created_at,
        updated_at: person.updated_at,
    }
}

impl From<&PersonView> for PersonOut {
    fn from(view: &PersonView) -> Self {
        person_out(&view.person, view.resolved_from)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WarningOut {
    /// A stable code, e.g. shared_document
    pub code: &'static str,
    pub message: String,
    /// The other people concerned.
    pub spids: Vec<String>,
    /// For possible_duplicate: the case it opened and the engine's reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<duplicates::DuplicateHintOut>,
}

impl From<&Warning> for WarningOut {
    fn from(w: &Warning) -> Self {
        WarningOut {
            code: w.code,
            message: w.message.clone(),
            spids: w.spids.iter().map(|s| s.to_string()).collect(),
            duplicate: w.duplicate.as_ref().map(duplicates::DuplicateHintOut::from),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonResponse {
    pub person: PersonOut,
    pub warnings: Vec<WarningOut>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberOut {
    pub relationship: &'static str,
    pub person: PersonOut,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HouseholdOut {
    pub id: uuid::Uuid,
    pub version: u32,
    pub village: String,
    pub address_detail: Option<String>,
    pub dissolved: bool,
    /// The head first.
    pub members: Vec<MemberOut>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&HouseholdView> for HouseholdOut {
    fn from(view: &HouseholdView) -> Self {
        let h = &view.household;
        HouseholdOut {
            id: h.id.0,
            version: h.version,
            village: h.village.to_string(),
            address_detail: h.address_detail.clone(),
            dissolved: h.dissolved,
            members: view
                .members
                .iter()
                .map(|(rel, p)| MemberOut {
                    relationship: rel.as_str(),
                    person: PersonOut::from(p),
                })
                .collect(),
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HouseholdResponse {
    pub household: HouseholdOut,
    pub warnings: Vec<WarningOut>,
}

/// One change, as history shows it: who acted, on whose authority, why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeOut {
    pub at: DateTime<Utc>,
    pub action: String,
    pub version: u32,
    pub actor: String,
    /// user or client (a machine)
    pub actor_kind: String,
    pub role: String,
    pub scope: String,
    pub on_behalf_of: Option<String>,
    pub delegation: Option<String>,
    pub purpose: String,
    pub reason: Option<String>,
}

impl From<&ChangeRecord> for ChangeOut {
    fn from(c: &ChangeRecord) -> Self {
        ChangeOut {
            at: c.at,
            action: c.action.clone(),
            version: c.version,
            actor: c.actor_subject.clone(),
            actor_kind: c.actor_kind.clone(),
            role: c.actor_role.clone(),
            scope: c.actor_scope.clone(),
            on_behalf_of: c.on_behalf_of.clone(),
            delegation: c.delegation_reference.clone(),
            purpose: c.purpose.clone(),
            reason: c.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonVersionOut {
    pub change: ChangeOut,
    pub person: PersonOut,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HouseholdVersionOut {
    pub change: ChangeOut,
    pub village: String,
    pub address_detail: Option<String>,
    pub dissolved: bool,
    pub members: Vec<HouseholdMemberRef>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HouseholdMemberRef {
    pub relationship: &'static str,
    /// Internal person id; the SPID is on the person.
    pub person_id: uuid::Uuid,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeoplePage {
    pub items: Vec<PersonOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HouseholdSummary {
    pub id: uuid::Uuid,
    pub version: u32,
    pub village: String,
    pub n_members: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HouseholdsPage {
    pub items: Vec<HouseholdSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlaceOut {
    /// province, district, commune or village
    pub level: &'static str,
    pub code: String,
    pub parent: Option<String>,
    pub name_km: String,
    pub name_en: String,
}

impl From<&Place> for PlaceOut {
    fn from(p: &Place) -> Self {
        PlaceOut {
            level: match p.level {
                PlaceLevel::Province => "province",
                PlaceLevel::District => "district",
                PlaceLevel::Commune => "commune",
                PlaceLevel::Village => "village",
            },
            code: p.code.clone(),
            parent: p.parent.clone(),
            name_km: p.name_km.clone(),
            name_en: p.name_en.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlacesOut {
    pub place: Option<PlaceOut>,
    pub children: Vec<PlaceOut>,
    /// The gazetteer's source, as its terms of use require.
    pub attribution: &'static str,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLeaseIn {
    pub device_id: String,
    /// How many SPIDs (1 to 5,000)
    pub size: u32,
    /// How long the lease lasts (1 to 90 days)
    pub valid_days: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeasedSpidOut {
    pub spid: String,
    /// leased (not yet issued), assigned (issued and reconciled), void (returned unissued)
    pub state: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeaseOut {
    pub id: uuid::Uuid,
    pub device_id: String,
    pub granted_to: String,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub returned_at: Option<DateTime<Utc>>,
    pub n_unissued: usize,
    pub n_issued: usize,
    pub n_void: usize,
    pub spids: Vec<LeasedSpidOut>,
}

impl From<&LeaseView> for LeaseOut {
    fn from(view: &LeaseView) -> Self {
        let l = &view.lease;
        LeaseOut {
            id: l.id,
            device_id: l.device_id.clone(),
            granted_to: l.granted_to.clone(),
            granted_at: l.granted_at,
            expires_at: l.expires_at,
            returned_at: l.returned_at,
            n_unissued: view.count(SpidState::Leased),
            n_issued: view.count(SpidState::Assigned) + view.count(SpidState::Alias),
            n_void: view.count(SpidState::Void),
            spids: view
                .entries
                .iter()
                .map(|e| LeasedSpidOut {
                    spid: e.spid.to_string(),
                    state: match e.state {
                        SpidState::Leased => "leased",
                        SpidState::Assigned | SpidState::Alias => "assigned",
                        SpidState::Void => "void",
                    },
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePersonIn {
    /// The whole record as it should now be.
    pub person: PersonIn,
    /// Why the record is changed (kept in history).
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeathIn {
    /// YYYY-MM-DD
    pub date: String,
    #[serde(default)]
    pub evidence: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergePeopleIn {
    /// The SPID of the record found to be the same person; it becomes an alias of this one.
    pub duplicate: String,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipIn {
    pub spid: String,
    pub relationship: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeHeadIn {
    pub new_head: String,
    /// Every other member's relationship to the new head.
    pub relationships: Vec<RelationshipIn>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberIn {
    /// An existing person without a household…
    #[serde(default)]
    pub spid: Option<String>,
    /// …or a new person (a newborn).
    #[serde(default)]
    pub person: Option<PersonIn>,
    pub relationship: String,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonIn {
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitIn {
    /// Who leaves, with their relationship to the new household's head (exactly one head).
    pub members: Vec<RelationshipIn>,
    #[serde(default)]
    pub address_detail: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SplitOut {
    pub household: HouseholdOut,
    pub new_household: HouseholdOut,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeHouseholdsIn {
    pub other: uuid::Uuid,
    /// The version of the other household you read (its ETag without quotes and v).
    pub other_version: u32,
    /// Each joining member's relationship to this household's head.
    pub relationships: Vec<RelationshipIn>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SpidCheckOut {
    pub spid: String,
    pub valid: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthOut {
    pub status: &'static str,
    pub database: &'static str,
}
