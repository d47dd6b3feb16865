//! DTOs of the duplicates queue: cases with both records side by side, decisions, unmerges, the holds report.

use chrono::{DateTime, Utc};
use dspp_service::{CaseView, DuplicateHint, Evidence, HeldEnrolment, HoldCount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::PersonOut;

/// One field's part in a match.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceLineOut {
    /// family, given, name_km, birth_date, village, national_id or sex
    pub field: String,
    /// The comparison level, e.g. `exact`, `same phonetic key`, `same year`
    pub level: String,
    /// The match weight it added (log2 Bayes factor; negative counts against)
    pub weight: f64,
}

/// What the engine saw in a pair.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceOut {
    pub match_weight: f64,
    pub names_swapped: bool,
    pub fields: Vec<EvidenceLineOut>,
    /// The same in one line an officer can read
    pub summary: String,
}

impl From<&Evidence> for EvidenceOut {
    fn from(evidence: &Evidence) -> Self {
        EvidenceOut {
            match_weight: evidence.match_weight,
            names_swapped: evidence.names_swapped,
            fields: evidence
                .fields
                .iter()
                .map(|line| EvidenceLineOut {
                    field: line.field.clone(),
                    level: line.level.clone(),
                    weight: line.weight,
                })
                .collect(),
            summary: evidence.summary(),
        }
    }
}

/// A possible duplicate attached to a warning.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateHintOut {
    pub case_id: String,
    pub match_probability: f64,
    /// same_person or needs_review: the engine's proposal; a reviewer decides
    pub proposal: &'static str,
    pub evidence: EvidenceOut,
}

impl From<&DuplicateHint> for DuplicateHintOut {
    fn from(hint: &DuplicateHint) -> Self {
        DuplicateHintOut {
            case_id: hint.case_id.clone(),
            match_probability: hint.match_probability,
            proposal: hint.proposal,
            evidence: EvidenceOut::from(&hint.evidence),
        }
    }
}

/// An enrolment a case holds: it cannot be approved until the case is decided.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldEnrolmentOut {
    pub enrolment_id: String,
    pub program: String,
    pub commune: String,
    pub status: String,
    pub household_id: String,
    pub case_id: String,
    pub deadline: DateTime<Utc>,
}

impl From<&HeldEnrolment> for HeldEnrolmentOut {
    fn from(hold: &HeldEnrolment) -> Self {
        HeldEnrolmentOut {
            enrolment_id: hold.enrolment_id.clone(),
            program: hold.program_code.clone(),
            commune: hold.commune_code.clone(),
            status: hold.status.clone(),
            household_id: hold.household_id.clone(),
            case_id: hold.case_id.clone(),
            deadline: hold.deadline,
        }
    }
}

/// A suspected duplicate: both records side by side, the evidence, the deadline and the decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseOut {
    pub id: String,
    /// open, same_person or different_people
    pub status: &'static str,
    /// The engine that found it: biographic (fingerprint and face join later)
    pub source: String,
    pub match_probability: f64,
    pub proposal: String,
    pub evidence: EvidenceOut,
    pub a: PersonOut,
    pub b: PersonOut,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub deadline: DateTime<Utc>,
    pub overdue: bool,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decided_role: Option<String>,
    pub on_behalf_of: Option<String>,
    pub decision_reason: Option<String>,
    /// For same_person: the SPID kept
    pub survivor: Option<String>,
    pub unmerged_at: Option<DateTime<Utc>>,
    pub unmerged_by: Option<String>,
    pub unmerge_reason: Option<String>,
    /// Enrolments this open case holds
    pub holds: Vec<HeldEnrolmentOut>,
}

impl From<&CaseView> for CaseOut {
    fn from(case: &CaseView) -> Self {
        CaseOut {
            id: case.id.clone(),
            status: case.status.as_str(),
            source: case.source.clone(),
            match_probability: case.match_probability,
            proposal: case.proposal.clone(),
            evidence: EvidenceOut::from(&case.evidence),
            a: PersonOut::from(&case.a),
            b: PersonOut::from(&case.b),
            opened_at: case.opened_at,
            opened_by: case.opened_by.clone(),
            deadline: case.deadline,
            overdue: case.overdue,
            decided_at: case.decided_at,
            decided_by: case.decided_by.clone(),
            decided_role: case.decided_role.clone(),
            on_behalf_of: case.on_behalf_of.clone(),
            decision_reason: case.decision_reason.clone(),
            survivor: case.survivor.map(|spid| spid.to_string()),
            unmerged_at: case.unmerged_at,
            unmerged_by: case.unmerged_by.clone(),
            unmerge_reason: case.unmerge_reason.clone(),
            holds: case.holds.iter().map(HeldEnrolmentOut::from).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CasePage {
    pub items: Vec<CaseOut>,
    /// Pass as `cursor` for the next page; absent on the last
    pub next_cursor: Option<String>,
}

/// A reviewer's decision.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseDecisionIn {
    /// same_person or different_people
    pub decision: String,
    /// For same_person: the SPID to keep (one of the pair)
    pub survivor: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmergeIn {
    pub reason: String,
}

/// Held enrolments of one commune and program.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HoldCountOut {
    pub commune: String,
    pub program: String,
    pub held: u64,
    /// Held by a case past its deadline
    pub overdue: u64,
    pub oldest_deadline: DateTime<Utc>,
}

impl From<&HoldCount> for HoldCountOut {
    fn from(count: &HoldCount) -> Self {
        HoldCountOut {
            commune: count.commune_code.clone(),
            program: count.program_code.clone(),
            held: count.held,
            overdue: count.overdue,
            oldest_deadline: count.oldest_deadline,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HoldsReportOut {
    pub counts: Vec<HoldCountOut>,
    /// Every held enrolment, earliest deadline first
    pub held: Vec<HeldEnrolmentOut>,
}
