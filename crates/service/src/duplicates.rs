//! Duplicates: the real-time biographic check of every new or changed person against the registry, the
//! adjudication queue it feeds, and the decisions (merge, different people, unmerge) that empty it.
//!
//! The check scores the person with the linkage engine's [`linkage::Index`], held in memory and kept up to date
//! by catching up on people changed in the store since it last looked (so writes made by any path, or by another
//! server on the same database, are seen). A candidate at or above the review threshold opens a case for the pair
//! in the same transaction as the enrolment; a pair already decided is never asked again. While a case is open,
//! the enrolments of both people (and their households' household-level ones) are **held**: they cannot be
//! approved, and they appear in the queue and in the holds report, so no hold is silent.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};
use dspp_domain::{
    Actor, DocumentKind, EnrolmentStatus, Member, Person, PersonId, Role, Scope, Spid,
};
use dspp_store::{
    Change, DuplicateCaseRow, DuplicateFilter, EnrolmentFilter, HeldEnrolment, HoldFilter, Store,
    Tx,
};
use linkage::{Index, LinkOptions, MatchCandidate, Model, Outcome};

use crate::outbox::parse_uuid;
use crate::people::{Warning, check_live, required_reason};
use crate::{PersonView, Registry, ServiceError, authorize_write, commune_of};

/// How long reviewers have to decide a case before it shows as overdue.
pub const REVIEW_DAYS: i64 = 14;

/// People read per round trip when the index catches up.
const CATCH_UP_PAGE: u32 = 2_000;

/// Commits do not land in the order their timestamps were taken: each catch-up looks this far back again (a
/// person already indexed at the same version is skipped).
const CATCH_UP_OVERLAP: Duration = Duration::seconds(5);

/// A new enrolment is expected to be the same person as this many of the people already registered: the prior of
/// the check, spread over the registry's size (see [`linkage::Model::recalibrated`]).
pub const EXPECTED_MATCHES_PER_PERSON: f64 = 0.05;

/// People kept as a uniform sample of the registry, to learn which agreements are common in it.
const SAMPLE_SIZE: usize = 10_000;

/// Random pairs of the sample compared when the model is re-based.
const CALIBRATION_PAIRS: usize = 100_000;

/// The model is re-based whenever the registry has grown by this factor since the last time.
const RECALIBRATE_GROWTH: f64 = 1.25;

/// At most this many candidates per person open cases (the best ones); the rest are in the engine's output only.
const MAX_CASES_PER_CHECK: usize = 5;

/// The in-memory biographic index and how far it has read the store.
pub(crate) struct DuplicateIndex {
    state: RwLock<IndexState>,
}

struct IndexState {
    index: Index,
    /// The shipped model; the index scores with it re-based on the registry's own people.
    base: Model,
    /// A uniform sample (reservoir) of the people indexed, and how many were offered to it.
    sample: Vec<linkage::Record>,
    offered: u64,
    rng: rand::rngs::StdRng,
    /// The registry's size when the model was last re-based.
    calibrated_at: usize,
    /// The version of each indexed person, so that a person read again unchanged is not re-indexed.
    versions: HashMap<PersonId, u32>,
    /// The last `(updated_at, id)` read from the store.
    mark: Option<(DateTime<Utc>, String)>,
}

impl std::fmt::Debug for DuplicateIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplicateIndex").finish_non_exhaustive()
    }
}

impl DuplicateIndex {
    /// An empty index scoring with the shipped model; it fills itself from the store on first use.
    pub(crate) fn new() -> Result<DuplicateIndex, linkage::Error> {
        let model = Model::shipped()?;
        Ok(DuplicateIndex {
            state: RwLock::new(IndexState {
                index: Index::new(model.clone(), LinkOptions::default()),
                base: model,
                sample: Vec::new(),
                offered: 0,
                rng: rand::SeedableRng::seed_from_u64(1),
                calibrated_at: 0,
                versions: HashMap::new(),
                mark: None,
            }),
        })
    }

    fn read<T>(&self, f: impl FnOnce(&IndexState) -> T) -> T {
        match self.state.read() {
            Ok(state) => f(&state),
            // A panic elsewhere while writing leaves a usable index (each insert is self-contained).
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut IndexState) -> T) -> T {
        match self.state.write() {
            Ok(mut state) => f(&mut state),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Reads every person changed since the last look and applies it: merged people leave the index, others are
    /// (re)indexed. Runs on its own connection, so it sees only committed writes.
    async fn catch_up(&self, store: &Store) -> Result<(), ServiceError> {
        let mut after = self.read(|state| {
            state
                .mark
                .clone()
                .map(|(at, _)| (at - CATCH_UP_OVERLAP, String::new()))
        });
        loop {
            let mut tx = store.begin().await?;
            let people = tx
                .people_changed_since(after.clone(), CATCH_UP_PAGE)
                .await?;
            tx.commit().await?;
            let Some(last) = people.last() else {
                return Ok(());
            };
            after = Some((last.updated_at, last.id.to_string()));
            let full_page = people.len() == CATCH_UP_PAGE as usize;
            self.write(|state| {
                for person in &people {
                    state.apply(person);
                }
                state.recalibrate_if_grown();
                if state
                    .mark
                    .as_ref()
                    .is_none_or(|mark| after.as_ref() > Some(mark))
                {
                    state.mark = after.clone();
                }
            });
            if !full_page {
                return Ok(());
            }
        }
    }

    fn candidates(&self, person: &Person) -> Vec<MatchCandidate> {
        let record = linkage_record(person);
        self.read(|state| state.index.candidates(&record))
    }

    /// How many people the index holds.
    pub(crate) fn len(&self) -> usize {
        self.read(|state| state.index.len())
    }
}

impl IndexState {
    fn apply(&mut self, person: &Person) {
        let key = person.id.to_string();
        if person.merged_into.is_some() {
            self.index.remove(&key);
            self.versions.remove(&person.id);
            return;
        }
        if self.versions.get(&person.id) == Some(&person.version) {
            return;
        }
        let record = linkage_record(person);
        self.index.insert(&record);
        if self.versions.insert(person.id, person.version).is_none() {
            self.offer(record);
        }
    }

    /// Reservoir sampling: every person indexed so far is in the sample with the same probability.
    fn offer(&mut self, record: linkage::Record) {
        use rand::Rng;
        self.offered += 1;
        if self.sample.len() < SAMPLE_SIZE {
            self.sample.push(record);
        } else {
            let slot = self.rng.gen_range(0..self.offered);
            if let Ok(slot) = usize::try_from(slot)
                && slot < SAMPLE_SIZE
            {
                self.sample[slot] = record;
            }
        }
    }

    /// Re-bases the model on the registry when it has grown enough since the last time (and at the first load).
    fn recalibrate_if_grown(&mut self) {
        let size = self.index.len();
        if size < 2 || (size as f64) < self.calibrated_at as f64 * RECALIBRATE_GROWTH {
            return;
        }
        let pairs = CALIBRATION_PAIRS.min(self.sample.len() * (self.sample.len() - 1) / 2);
        let model = self.base.recalibrated(
            &self.sample,
            pairs,
            size as u64,
            size,
            EXPECTED_MATCHES_PER_PERSON,
        );
        self.index.set_model(model);
        self.calibrated_at = size;
    }
}

/// A registry person as the linkage engine reads one: names in both scripts (family first), sex, birth date at
/// its precision (a month-only date counts as its year), village, and the Khmer ID card number.
pub(crate) fn linkage_record(person: &Person) -> linkage::Record {
    let record = &person.record;
    let join = |family: &str, given: &str| {
        [family, given]
            .iter()
            .filter(|part| !part.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let birth_date = match (
        record.birth_date.year(),
        record.birth_date.month(),
        record.birth_date.day(),
    ) {
        (Some(year), Some(month), Some(day)) => {
            linkage::BirthDate::parse(&format!("{year:04}-{month:02}-{day:02}")).ok()
        }
        (Some(year), _, _) => linkage::BirthDate::parse(&format!("{year:04}")).ok(),
        _ => None,
    };
    linkage::Record {
        record_id: person.id.to_string(),
        source: "registry".into(),
        name_km: linkage::normalize::normalize_khmer(&join(
            &record.name.family_km,
            &record.name.given_km,
        )),
        name_latin: join(&record.name.family_latin, &record.name.given_latin),
        sex: linkage::Sex::parse(record.sex.as_str()),
        birth_date,
        village_code: linkage::VillageCode::parse(&record.village.to_string()).ok(),
        national_id: record
            .document(DocumentKind::KhmerIdCard)
            .and_then(|doc| linkage::NationalId::parse(&doc.number).ok()),
    }
}

/// One field's part in a match: its comparison level and the weight (log2 Bayes factor) it added.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvidenceLine {
    pub field: String,
    pub level: String,
    pub weight: f64,
}

/// An enrolment a merge ended, with the status it had.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct EndedEnrolment {
    id: String,
    status: String,
}

/// What an engine saw in a pair.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    pub match_weight: f64,
    pub names_swapped: bool,
    pub fields: Vec<EvidenceLine>,
}

impl Evidence {
    fn from_candidate(candidate: &MatchCandidate) -> Evidence {
        Evidence {
            match_weight: candidate.match_weight,
            names_swapped: candidate.names_swapped,
            fields: candidate
                .reasons
                .iter()
                .map(|reason| EvidenceLine {
                    field: reason.field.to_string(),
                    level: reason.level.to_string(),
                    weight: reason.weight,
                })
                .collect(),
        }
    }

    /// The reasons in one line an officer can read: `family=exact +6.1, birth_date=same year +2.0`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .fields
            .iter()
            .map(|line| {
                if line.weight == 0.0 && line.level != "different" {
                    // A name agreeing in both scripts counts once, under the stronger of the two.
                    format!("{}={} (counted once)", line.field, line.level)
                } else {
                    format!("{}={} {:+.1}", line.field, line.level, line.weight)
                }
            })
            .collect();
        if self.names_swapped {
            parts.push("family and given names swapped".into());
        }
        parts.join(", ")
    }
}

/// A possible duplicate found while enrolling or correcting someone, attached to the answer as a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateHint {
    pub case_id: String,
    /// Whether this check opened the case (false: it was already open).
    pub new_case: bool,
    pub match_probability: f64,
    /// `same_person` or `needs_review`: the engine's proposal; a reviewer decides.
    pub proposal: &'static str,
    pub evidence: Evidence,
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    Open,
    SamePerson,
    DifferentPeople,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::SamePerson => "same_person",
            CaseStatus::DifferentPeople => "different_people",
        }
    }

    pub fn parse(text: &str) -> Result<CaseStatus, ServiceError> {
        match text {
            "open" => Ok(CaseStatus::Open),
            "same_person" => Ok(CaseStatus::SamePerson),
            "different_people" => Ok(CaseStatus::DifferentPeople),
            other => Err(ServiceError::invalid(
                "status",
                format!("{other:?} is not a case status; open, same_person or different_people"),
            )),
        }
    }
}

/// A reviewer's decision on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseDecision {
    /// One person: `survivor` (one of the pair's SPIDs) is kept, the other becomes its alias.
    SamePerson { survivor: Spid },
    /// Two people: remembered, never asked again.
    DifferentPeople,
}

/// A case as the queue shows it: both people side by side, the evidence, the holds it causes.
#[derive(Debug, Clone)]
pub struct CaseView {
    pub id: String,
    pub status: CaseStatus,
    pub source: String,
    pub match_probability: f64,
    pub proposal: String,
    pub evidence: Evidence,
    pub a: PersonView,
    pub b: PersonView,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub deadline: DateTime<Utc>,
    pub overdue: bool,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decided_role: Option<String>,
    pub on_behalf_of: Option<String>,
    pub decision_reason: Option<String>,
    pub survivor: Option<Spid>,
    pub unmerged_at: Option<DateTime<Utc>>,
    pub unmerged_by: Option<String>,
    pub unmerge_reason: Option<String>,
    pub holds: Vec<HeldEnrolment>,
}

/// What to list from the queue.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    /// A province, district or commune code inside the actor's scope.
    pub place: Option<String>,
    pub after: Option<String>,
    pub limit: u32,
}

/// Held enrolments per commune and program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldCount {
    pub commune_code: String,
    pub program_code: String,
    pub held: u64,
    /// Held by a case past its deadline.
    pub overdue: u64,
    pub oldest_deadline: DateTime<Utc>,
}

impl Registry {
    /// Brings the duplicate index up to date with the store. Called before a use case opens its transaction
    /// (SQLite has one connection, and the check must not see uncommitted people).
    pub(crate) async fn refresh_duplicates(&self) -> Result<(), ServiceError> {
        self.duplicate_index()?.catch_up(self.store()).await
    }

    /// Checks `person` (written in `tx`, not yet committed) against everyone in the registry as of the last
    /// [`Registry::refresh_duplicates`] and opens a case for each likely duplicate not already decided. The
    /// warnings name the other person, the case and the reasons.
    pub(crate) async fn check_duplicates(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        person: &Person,
    ) -> Result<Vec<Warning>, ServiceError> {
        let index = self.duplicate_index()?;
        let mut warnings = Vec::new();
        for candidate in index
            .candidates(person)
            .into_iter()
            .take(MAX_CASES_PER_CHECK)
        {
            let other_id = PersonId(parse_uuid(&candidate.record_id)?);
            let Some(other) = tx.person(other_id).await? else {
                continue;
            };
            if other.merged_into.is_some() {
                continue;
            }
            let evidence = Evidence::from_candidate(&candidate);
            let proposal = match candidate.outcome {
                Outcome::SamePerson => "same_person",
                _ => "needs_review",
            };
            let Some((case, new_case)) = self
                .open_case(
                    tx,
                    actor,
                    (person, &other),
                    "biographic",
                    candidate.match_probability,
                    proposal,
                    &evidence,
                )
                .await?
            else {
                continue;
            };
            warnings.push(Warning {
                code: "possible_duplicate",
                message: format!(
                    "possibly the same person as {} ({}, match probability {:.2}): {}. Case {} holds both \
                     people's enrolments until a reviewer decides (by {}).",
                    other.spid,
                    proposal.replace('_', " "),
                    candidate.match_probability,
                    evidence.summary(),
                    case.id,
                    case.deadline.format("%Y-%m-%d"),
                ),
                spids: vec![other.spid],
                duplicate: Some(DuplicateHint {
                    case_id: case.id.clone(),
                    new_case,
                    match_probability: candidate.match_probability,
                    proposal,
                    evidence,
                }),
            });
        }
        Ok(warnings)
    }

    /// Opens a case for the pair (or finds the one already open). `None` when the pair was already decided: a
    /// decided pair is never asked again.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open_case(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        (person, other): (&Person, &Person),
        source: &str,
        match_probability: f64,
        proposal: &str,
        evidence: &Evidence,
    ) -> Result<Option<(DuplicateCaseRow, bool)>, ServiceError> {
        let own = person.id.to_string();
        let theirs = other.id.to_string();
        match tx.duplicate_case_for_pair(&own, &theirs).await? {
            Some(case) if case.status != CaseStatus::Open.as_str() => Ok(None),
            Some(case) => Ok(Some((case, false))),
            None => {
                let now = self.now();
                let (a, b) = if own < theirs {
                    (person, other)
                } else {
                    (other, person)
                };
                let row = DuplicateCaseRow {
                    id: self.new_id().to_string(),
                    person_a: a.id.to_string(),
                    person_b: b.id.to_string(),
                    source: source.into(),
                    match_probability,
                    proposal: proposal.into(),
                    evidence: serde_json::to_string(evidence).map_err(|e| {
                        ServiceError::invalid("evidence", format!("cannot encode: {e}"))
                    })?,
                    commune_a: commune_of(tx, a.record.village, "village")
                        .await?
                        .to_string(),
                    commune_b: commune_of(tx, b.record.village, "village")
                        .await?
                        .to_string(),
                    status: CaseStatus::Open.as_str().into(),
                    opened_at: now,
                    opened_by: actor.subject.clone(),
                    deadline: now + Duration::days(REVIEW_DAYS),
                    decided_at: None,
                    decided_by: None,
                    decided_role: None,
                    on_behalf_of: None,
                    decision_reason: None,
                    survivor: None,
                    merged: None,
                    ended_enrolments: None,
                    unmerged_at: None,
                    unmerged_by: None,
                    unmerge_reason: None,
                    updated_at: now,
                };
                let new_case = tx.insert_duplicate_case(&row).await?;
                Ok(Some((row, new_case)))
            }
        }
    }

    /// People in the duplicate index (after catching up with the store).
    pub async fn duplicate_index_size(&self) -> Result<usize, ServiceError> {
        let index = self.duplicate_index()?;
        index.catch_up(self.store()).await?;
        Ok(index.len())
    }

    /// Whether `actor` may see a case: a registry reader whose scope covers either person's commune, or a program
    /// operator when either person is actively enrolled in one of their programs.
    fn may_view_case(actor: &Actor, case: &DuplicateCaseRow, operator_sees: bool) -> bool {
        match &actor.scope {
            Scope::Program(_) => actor.role == Role::ProgramOperator && operator_sees,
            scope => {
                actor.role.may_read_registry()
                    && [&case.commune_a, &case.commune_b]
                        .iter()
                        .filter_map(|code| dspp_domain::CommuneCode::parse(code).ok())
                        .any(|code| scope.covers(code))
            }
        }
    }

    /// The queue: cases in the actor's reach, oldest first.
    pub async fn duplicate_cases(
        &self,
        actor: &Actor,
        filter: &CaseFilter,
    ) -> Result<Vec<CaseView>, ServiceError> {
        let mut store_filter = DuplicateFilter {
            status: filter.status.map(|s| s.as_str().to_string()),
            after: filter.after.clone(),
            limit: filter.limit.clamp(1, 500),
            ..DuplicateFilter::default()
        };
        match &actor.scope {
            Scope::Program(operator) => {
                if actor.role != Role::ProgramOperator {
                    return Err(ServiceError::Forbidden(
                        "a program scope is for program operators".into(),
                    ));
                }
                store_filter.operator = Some(operator.clone());
                store_filter.place = filter.place.clone();
            }
            _ => {
                if !actor.role.may_read_registry() {
                    return Err(ServiceError::Forbidden(format!(
                        "the role {} does not review duplicates",
                        actor.role.as_str()
                    )));
                }
                store_filter.place = crate::people::scoped_place(actor, filter.place.as_deref())?;
            }
        }
        let mut tx = self.store().begin().await?;
        let rows = tx.duplicate_cases(&store_filter).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.case_view(&mut tx, row).await?);
        }
        tx.commit().await?;
        Ok(views)
    }

    /// One case with both records side by side.
    pub async fn duplicate_case(&self, actor: &Actor, id: &str) -> Result<CaseView, ServiceError> {
        let mut tx = self.store().begin().await?;
        let row = self.visible_case(&mut tx, actor, id).await?;
        let view = self.case_view(&mut tx, row).await?;
        tx.commit().await?;
        Ok(view)
    }

    async fn visible_case(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        id: &str,
    ) -> Result<DuplicateCaseRow, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("duplicate case {id}"));
        let row = tx.duplicate_case(id).await?.ok_or_else(not_found)?;
        let operator_sees = match &actor.scope {
            Scope::Program(operator) => !tx
                .duplicate_cases(&DuplicateFilter {
                    operator: Some(operator.clone()),
                    case: Some(row.id.clone()),
                    limit: 1,
                    ..DuplicateFilter::default()
                })
                .await?
                .is_empty(),
            _ => false,
        };
        if !Registry::may_view_case(actor, &row, operator_sees) {
            // Not in the actor's reach: answered as absent, so case ids reveal nothing.
            return Err(not_found());
        }
        Ok(row)
    }

    async fn case_view(
        &self,
        tx: &mut Tx,
        row: DuplicateCaseRow,
    ) -> Result<CaseView, ServiceError> {
        let person = |id: &str| -> Result<PersonId, ServiceError> { Ok(PersonId(parse_uuid(id)?)) };
        let a = tx
            .person(person(&row.person_a)?)
            .await?
            .ok_or_else(|| ServiceError::NotFound("person".into()))?;
        let b = tx
            .person(person(&row.person_b)?)
            .await?
            .ok_or_else(|| ServiceError::NotFound("person".into()))?;
        let survivor = match row.survivor.as_deref() {
            Some(id) if id == row.person_a => Some(a.spid),
            Some(_) => Some(b.spid),
            None => None,
        };
        let evidence: Evidence = serde_json::from_str(&row.evidence)
            .map_err(|e| ServiceError::Internal(dspp_store::StoreError::Corrupt(e.to_string())))?;
        let holds = if row.status == CaseStatus::Open.as_str() {
            let mut holds = tx
                .held_enrolments(&HoldFilter {
                    case: Some(row.id.clone()),
                    ..HoldFilter::default()
                })
                .await?;
            // Two people of one household reach its household-level enrolments twice.
            holds.sort_by(|x, y| x.enrolment_id.cmp(&y.enrolment_id));
            holds.dedup_by(|x, y| x.enrolment_id == y.enrolment_id);
            holds
        } else {
            Vec::new()
        };
        Ok(CaseView {
            status: CaseStatus::parse(&row.status)?,
            overdue: row.status == CaseStatus::Open.as_str() && self.now() > row.deadline,
            id: row.id,
            source: row.source,
            match_probability: row.match_probability,
            proposal: row.proposal,
            evidence,
            a: PersonView::new(a),
            b: PersonView::new(b),
            opened_at: row.opened_at,
            opened_by: row.opened_by,
            deadline: row.deadline,
            decided_at: row.decided_at,
            decided_by: row.decided_by,
            decided_role: row.decided_role,
            on_behalf_of: row.on_behalf_of,
            decision_reason: row.decision_reason,
            survivor,
            unmerged_at: row.unmerged_at,
            unmerged_by: row.unmerged_by,
            unmerge_reason: row.unmerge_reason,
            holds,
        })
    }

    /// Decides an open case. Same person: the survivor is kept and the other is merged into it (its SPID becomes
    /// an alias; its record and history stay). Different people: remembered, the engines never ask again. Either
    /// way the holds the case caused are lifted. Reviewers are registry officers and chiefs whose scope covers
    /// both people; program operators see the queue but do not decide.
    pub async fn decide_duplicate(
        &self,
        actor: &Actor,
        id: &str,
        decision: &CaseDecision,
        reason: &str,
    ) -> Result<CaseView, ServiceError> {
        let reason = required_reason(reason)?;
        let mut tx = self.store().begin().await?;
        let mut row = self.visible_case(&mut tx, actor, id).await?;
        if row.status != CaseStatus::Open.as_str() {
            return Err(ServiceError::Conflict(format!(
                "case {id} was already decided: {}",
                row.status
            )));
        }
        let load = |id: &str| parse_uuid(id).map(PersonId);
        let a = tx
            .person(load(&row.person_a)?)
            .await?
            .ok_or_else(|| ServiceError::NotFound("person".into()))?;
        let b = tx
            .person(load(&row.person_b)?)
            .await?
            .ok_or_else(|| ServiceError::NotFound("person".into()))?;
        for person in [&a, &b] {
            authorize_write(
                actor,
                commune_of(&mut tx, person.record.village, "village").await?,
            )?;
            check_live(person)?;
        }
        let now = self.now();
        match decision {
            CaseDecision::SamePerson { survivor } => {
                let (keep, merge) = if *survivor == a.spid {
                    (&a, &b)
                } else if *survivor == b.spid {
                    (&b, &a)
                } else {
                    return Err(ServiceError::invalid(
                        "survivor",
                        format!("{survivor} is neither {} nor {}", a.spid, b.spid),
                    ));
                };
                let why = format!("duplicate case {id}: {reason}");
                let ended = self.merge_in(&mut tx, actor, keep, merge, &why).await?;
                let ended: Vec<EndedEnrolment> = ended
                    .into_iter()
                    .map(|(id, status)| EndedEnrolment {
                        id,
                        status: status.as_str().to_string(),
                    })
                    .collect();
                row.ended_enrolments = Some(serde_json::to_string(&ended).map_err(|e| {
                    ServiceError::Internal(dspp_store::StoreError::Corrupt(e.to_string()))
                })?);
                row.status = CaseStatus::SamePerson.as_str().into();
                row.survivor = Some(keep.id.to_string());
                row.merged = Some(merge.id.to_string());
            }
            CaseDecision::DifferentPeople => {
                row.status = CaseStatus::DifferentPeople.as_str().into();
            }
        }
        row.decided_at = Some(now);
        row.decided_by = Some(actor.subject.clone());
        row.decided_role = Some(actor.role.as_str().into());
        row.on_behalf_of = actor.delegation.as_ref().map(|d| d.principal.clone());
        row.decision_reason = Some(reason.to_string());
        row.updated_at = now;
        tx.update_duplicate_case(&row).await?;
        // A person held as a possible biometric duplicate is unique again once no biometric case about them is
        // open: the decision settled what the check found.
        let remaining = match &row.survivor {
            Some(survivor) => vec![survivor.clone()],
            None => vec![row.person_a.clone(), row.person_b.clone()],
        };
        for id in remaining {
            self.settle_biometric_status(&mut tx, actor, PersonId(parse_uuid(&id)?), reason)
                .await?;
        }
        let view = self.case_view(&mut tx, row).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Reverses a merge decided in a case: the merged person is live again under their own SPID (a new version;
    /// SPIDs merged into them resolve to them again), back in their household when it still exists, and the pair
    /// is remembered as different people.
    pub async fn unmerge_duplicate(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
    ) -> Result<CaseView, ServiceError> {
        let reason = required_reason(reason)?;
        let mut tx = self.store().begin().await?;
        let mut row = self.visible_case(&mut tx, actor, id).await?;
        let (Some(survivor_id), Some(merged_id)) = (row.survivor.clone(), row.merged.clone())
        else {
            return Err(ServiceError::Conflict(format!(
                "case {id} is {}, not a merge",
                row.status
            )));
        };
        let merged = tx
            .person(PersonId(parse_uuid(&merged_id)?))
            .await?
            .ok_or_else(|| ServiceError::NotFound("person".into()))?;
        let survivor = tx
            .person(PersonId(parse_uuid(&survivor_id)?))
            .await?
            .ok_or_else(|| ServiceError::NotFound("person".into()))?;
        if merged.merged_into != Some(survivor.spid) {
            return Err(ServiceError::Conflict(format!(
                "{} is no longer merged into {}",
                merged.spid, survivor.spid
            )));
        }
        for person in [&merged, &survivor] {
            authorize_write(
                actor,
                commune_of(&mut tx, person.record.village, "village").await?,
            )?;
        }
        let now = self.now();
        let why = format!("unmerge of duplicate case {id}: {reason}");
        let change = Change {
            at: now,
            actor,
            reason: Some(&why),
        };
        // The household the person left when merged, and the relationship they had in it.
        let history = tx.person_history(merged.id).await?;
        let before = history
            .iter()
            .rev()
            .find(|version| version.person.merged_into.is_none())
            .map(|version| version.person.household);
        let mut household_back = None;
        if let Some(Some(household_id)) = before
            && let Some(household) = tx.household(household_id).await?
        {
            let relationship = tx
                .household_history(household_id)
                .await?
                .iter()
                .rev()
                .find_map(|version| {
                    version
                        .household
                        .members
                        .iter()
                        .find(|member| member.person == merged.id)
                        .map(|member| member.relationship)
                });
            if household.dissolved && household.contains(merged.id) {
                // The person was its last member: the household comes back as it was.
                let revived = dspp_domain::Household {
                    version: household.version + 1,
                    dissolved: false,
                    updated_at: now,
                    ..household.clone()
                };
                tx.update_household(&revived, household.version, "restore", &change)
                    .await?;
                household_back = Some(household_id);
            } else if let Some(relationship) = relationship
                && !household.dissolved
            {
                let members = household.add_member(Member {
                    person: merged.id,
                    relationship,
                })?;
                let updated = dspp_domain::Household {
                    version: household.version + 1,
                    members,
                    updated_at: now,
                    ..household.clone()
                };
                tx.update_household(&updated, household.version, "add_member", &change)
                    .await?;
                household_back = Some(household_id);
            }
        }
        let restored = Person {
            version: merged.version + 1,
            merged_into: None,
            household: household_back,
            updated_at: now,
            ..merged.clone()
        };
        tx.update_person(&restored, merged.version, "unmerged", &change)
            .await?;
        tx.restore_spid(merged.spid).await?;
        self.reinstate_enrolments(&mut tx, actor, &row, &why)
            .await?;
        row.status = CaseStatus::DifferentPeople.as_str().into();
        row.unmerged_at = Some(now);
        row.unmerged_by = Some(actor.subject.clone());
        row.unmerge_reason = Some(reason.to_string());
        row.updated_at = now;
        tx.update_duplicate_case(&row).await?;
        let view = self.case_view(&mut tx, row).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Puts back the enrolments a merge ended, unless the person enrolled in the same program again since.
    async fn reinstate_enrolments(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        case: &DuplicateCaseRow,
        why: &str,
    ) -> Result<(), ServiceError> {
        let Some(json) = case.ended_enrolments.as_deref() else {
            return Ok(());
        };
        let ended: Vec<EndedEnrolment> = serde_json::from_str(json)
            .map_err(|e| ServiceError::Internal(dspp_store::StoreError::Corrupt(e.to_string())))?;
        let now = self.now();
        for entry in ended {
            let Some(mut line) = tx.enrolment(&entry.id).await? else {
                continue;
            };
            let Ok(status) = EnrolmentStatus::parse(&entry.status) else {
                continue;
            };
            let again = tx
                .enrolments(
                    &EnrolmentFilter {
                        person_id: line.person_id.clone(),
                        program: Some(line.program_code.clone()),
                        ..EnrolmentFilter::default()
                    },
                    100,
                )
                .await?
                .iter()
                .any(|other| other.status.is_active());
            if line.status != EnrolmentStatus::Ended || again {
                continue;
            }
            line.status = status;
            line.ended_at = None;
            line.end_reason = None;
            line.updated_at = now;
            tx.update_enrolment(&line).await?;
            self.status_event(
                tx,
                &line.application_id,
                Some(&line.id),
                Some("ended"),
                status.as_str(),
                actor,
                None,
                Some(why),
            )
            .await?;
        }
        Ok(())
    }

    /// Enrolments held by open duplicate cases, counted per commune and program, in a place inside the actor's
    /// scope: the report that keeps holds from being silent.
    pub async fn duplicate_holds(
        &self,
        actor: &Actor,
        place: Option<&str>,
    ) -> Result<(Vec<HoldCount>, Vec<HeldEnrolment>), ServiceError> {
        let place = crate::people::scoped_place(actor, place)?;
        if !actor.role.may_read_registry() {
            return Err(ServiceError::Forbidden(format!(
                "the role {} does not read registry reports",
                actor.role.as_str()
            )));
        }
        let mut tx = self.store().begin().await?;
        let mut held = tx
            .held_enrolments(&HoldFilter {
                place,
                ..HoldFilter::default()
            })
            .await?;
        tx.commit().await?;
        // One line per enrolment: an enrolment held by several cases counts once, under its earliest deadline.
        held.sort_by(|x, y| {
            x.enrolment_id
                .cmp(&y.enrolment_id)
                .then(x.deadline.cmp(&y.deadline))
        });
        held.dedup_by(|x, y| x.enrolment_id == y.enrolment_id);
        let now = self.now();
        let mut counts: std::collections::BTreeMap<(String, String), HoldCount> =
            std::collections::BTreeMap::new();
        for hold in &held {
            let count = counts
                .entry((hold.commune_code.clone(), hold.program_code.clone()))
                .or_insert_with(|| HoldCount {
                    commune_code: hold.commune_code.clone(),
                    program_code: hold.program_code.clone(),
                    held: 0,
                    overdue: 0,
                    oldest_deadline: hold.deadline,
                });
            count.held += 1;
            if hold.deadline < now {
                count.overdue += 1;
            }
            count.oldest_deadline = count.oldest_deadline.min(hold.deadline);
        }
        held.sort_by_key(|hold| hold.deadline);
        Ok((counts.into_values().collect(), held))
    }

    /// Refuses to approve an enrolment while a duplicate case holds it.
    pub(crate) async fn refuse_if_held(
        &self,
        tx: &mut Tx,
        line: &dspp_store::EnrolmentRow,
    ) -> Result<(), ServiceError> {
        let (enrolment_id, program_code) = (&line.id, &line.program_code);
        let holds = tx
            .held_enrolments(&HoldFilter {
                enrolment: Some(enrolment_id.clone()),
                // A person's own enrolment can only be held by a case about them: look there first.
                person: line.person_id.clone(),
                ..HoldFilter::default()
            })
            .await?;
        if holds.is_empty() {
            return Ok(());
        }
        let cases: Vec<String> = holds
            .iter()
            .map(|hold| {
                format!(
                    "case {} (decide by {})",
                    hold.case_id,
                    hold.deadline.format("%Y-%m-%d")
                )
            })
            .collect();
        Err(ServiceError::Conflict(format!(
            "the {program_code} line {enrolment_id} is held by a possible duplicate: {}; decide the case in the \
             duplicates queue first",
            cases.join(", ")
        )))
    }
}
