//! The registry's use cases. Each public method of [`Registry`] is one use case in one database
//! transaction: it checks who acts ([`Actor`]), validates the input completely, writes, records the
//! change and commits before it returns. Time and randomness come from the `Registry`'s [`Clock`] and
//! seeded generator, so tests control both.

mod applications;
mod biometrics;
mod csv_io;
mod delegations;
mod demo;
mod duplicates;
mod error;
mod geo;
mod households;
mod input;
mod leases;
mod life_events;
mod outbox;
mod people;
mod programs;
mod reports;
mod views;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use dspp_domain::{Actor, CommuneCode, Spid, VillageCode};
use dspp_store::Tx;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use applications::{
    Answer, ApplicationView, Decision, DeliveryView, EnrolmentView, NewApplication, ProgramCheck,
    ProgramChoice, SubjectAnswers, SubjectRef,
};
pub use biometrics::{
    BiometricPartView, BiometricSettings, CaptureOutcome, ExceptionReason, FaceSettings,
    FingerprintSettings, MAX_CAPTURES, MIN_MINUTIAE, TEMPLATE_FORMAT, Thumb, ThumbInput,
    ThumbsInput, VerificationOutcome,
};
pub use csv_io::{CSV_HEADER, ImportSummary, RowProblem};
pub use delegations::NewDelegation;
pub use demo::DemoSummary;
pub use dspp_store::{ExceptionCount, ExceptionRow, HeldEnrolment};
pub use duplicates::{
    CaseDecision, CaseFilter, CaseStatus, CaseView, DuplicateHint, Evidence, EvidenceLine,
    HoldCount, REVIEW_DAYS,
};
pub use error::{FieldProblem, ServiceError};
pub use geo::{ATTRIBUTION, GazetteerSummary, SkippedPlace, villages_csv};
pub use households::{HouseholdView, MemberInput, NewHousehold};
pub use input::{DocumentInput, PersonInput};
pub use leases::{LeaseView, NewLease, OfflineIssue};
pub use outbox::{Connectors, OutboxRound};
pub use people::{Page, PersonView, Warning};
pub use programs::{DefinitionFormat, ProgramView};
pub use reports::{ProgramDurations, ReportFilter, StageDurations};

/// Where the registry reads the time. Production uses [`SystemClock`]; tests pass a fixed one.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved; for tests and reproducible demos.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(Mutex::new(at))
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut at) = self.0.lock() {
            *at += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|at| *at).unwrap_or_default()
    }
}

/// The registry's use cases over one store.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Store,
    clock: Arc<dyn Clock>,
    rng: Arc<Mutex<StdRng>>,
    last_id: Arc<Mutex<u128>>,
    definitions: Arc<programs::DefinitionCache>,
    duplicates: Arc<std::sync::OnceLock<Result<duplicates::DuplicateIndex, String>>>,
    biometrics: Option<Arc<biometrics::Biometrics>>,
}

/// How many times a freshly drawn SPID may collide before the registry gives up. With 900 million
/// numbers and 18 million people a draw collides 2 % of the time; 32 collisions in a row never happen
/// unless the ledger is nearly full, which is a condition to report, not to loop on.
const MAX_SPID_DRAWS: usize = 32;

impl Registry {
    pub fn new(store: Store, clock: Arc<dyn Clock>, seed: Option<u64>) -> Registry {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Registry {
            store,
            clock,
            rng: Arc::new(Mutex::new(rng)),
            last_id: Arc::default(),
            definitions: Arc::default(),
            duplicates: Arc::default(),
            biometrics: None,
        }
    }

    /// The registry with biometrics: captures sealed with `settings.keyring`, checked and verified.
    pub fn with_biometrics(
        mut self,
        settings: BiometricSettings,
    ) -> Result<Registry, ServiceError> {
        self.biometrics = Some(Arc::new(biometrics::Biometrics::new(settings)?));
        Ok(self)
    }

    /// The biographic duplicate index, created on first use (it then fills itself from the store).
    pub(crate) fn duplicate_index(&self) -> Result<&duplicates::DuplicateIndex, ServiceError> {
        self.duplicates
            .get_or_init(|| duplicates::DuplicateIndex::new().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| {
                ServiceError::Internal(dspp_store::StoreError::Corrupt(format!(
                    "the shipped linkage model: {e}"
                )))
            })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        match self.rng.lock() {
            Ok(mut rng) => f(&mut rng),
            // A poisoned lock only means another thread panicked while drawing; the generator state is
            // still a generator state.
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// A new time-ordered id (UUID v7) from the registry's clock and generator.
    ///
    /// Ids made by one registry only grow, even within one millisecond (RFC 9562 §6.2, method 2: the
    /// random part is advanced instead of redrawn), so events written in one use case sort in the order
    /// they happened.
    fn new_id(&self) -> uuid::Uuid {
        let millis = u64::try_from(self.clock.now().timestamp_millis()).unwrap_or(0);
        let random: [u8; 10] = self.with_rng(|rng| rng.r#gen());
        let candidate = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        let mut last = match self.last_id.lock() {
            Ok(last) => last,
            Err(poisoned) => poisoned.into_inner(),
        };
        let id = if candidate.as_u128() > *last {
            candidate
        } else {
            // Same millisecond (or a clock that went back): one more than the last, still a valid v7
            // layout as long as the increment stays inside the random bits, which 2^62 steps guarantee.
            uuid::Uuid::from_u128(*last + 1)
        };
        *last = id.as_u128();
        id
    }

    /// Draws random SPIDs until one is free and reserves it in `state`.
    async fn draw_spid(
        &self,
        tx: &mut Tx,
        state: SpidState,
        lease: Option<uuid::Uuid>,
    ) -> Result<Spid, ServiceError> {
        for _ in 0..MAX_SPID_DRAWS {
            let spid = self.with_rng(Spid::random);
            if tx.reserve_spid(spid, state, lease, self.now()).await? {
                return Ok(spid);
            }
        }
        Err(ServiceError::Exhausted(
            "no free SPID found; the SPID space is nearly full".into(),
        ))
    }
}

/// The commune of a village per the gazetteer, or a refusal naming the unknown village.
pub(crate) async fn commune_of(
    tx: &mut Tx,
    village: VillageCode,
    field: &str,
) -> Result<CommuneCode, ServiceError> {
    tx.commune_of(village).await?.ok_or_else(|| {
        ServiceError::invalid(
            field,
            format!("{village} is not a village of the gazetteer"),
        )
    })
}

/// Refuses an actor who may not change records in `commune`.
pub(crate) fn authorize_write(actor: &Actor, commune: CommuneCode) -> Result<(), ServiceError> {
    authorize(
        actor,
        commune,
        actor.role.may_register(),
        "cannot change registry records",
    )
}

/// Refuses an actor who may not read records in `commune`.
pub(crate) fn authorize_read(actor: &Actor, commune: CommuneCode) -> Result<(), ServiceError> {
    authorize(
        actor,
        commune,
        actor.role.may_read_registry(),
        "reads the registry only through consented queries",
    )
}

fn authorize(
    actor: &Actor,
    commune: CommuneCode,
    role_allows: bool,
    refusal: &str,
) -> Result<(), ServiceError> {
    if !role_allows {
        return Err(ServiceError::Forbidden(format!(
            "the role {} {refusal}",
            actor.role.as_str()
        )));
    }
    if !actor.scope.covers(commune) {
        return Err(ServiceError::Forbidden(format!(
            "acting for {} does not cover commune {commune}",
            actor.scope
        )));
    }
    Ok(())
}

// Types of the store that callers of the use cases see in results. Re-exported so that the web edge
// depends on the service alone.
pub use dspp_domain::DelegationGrant;
pub use dspp_store::{
    ApplicationRow, ApprovalRow, EnrolmentFilter, EnrolmentRow, OutboxItem, PovertyStatusRow,
    StatusEvent,
};
pub use dspp_store::{
    ChangeRecord, HouseholdVersion, Lease, PersonVersion, Place, PlaceLevel, SpidEntry, SpidState,
    Store,
};

pub use dspp_store::{IdempotencyClaim, StoredResponse};

impl Registry {
    /// Claims an idempotency key for a request (see `dspp_store::IdempotencyClaim`).
    pub async fn claim_idempotency(
        &self,
        subject: &str,
        key: &str,
        method: &str,
        path: &str,
        request_hash: &str,
    ) -> Result<IdempotencyClaim, ServiceError> {
        Ok(self
            .store
            .claim_idempotency(subject, key, method, path, request_hash, self.now())
            .await?)
    }

    pub async fn complete_idempotency(
        &self,
        subject: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), ServiceError> {
        Ok(self
            .store
            .complete_idempotency(subject, key, response)
            .await?)
    }

    pub async fn release_idempotency(&self, subject: &str, key: &str) -> Result<(), ServiceError> {
        Ok(self.store.release_idempotency(subject, key).await?)
    }

    /// Counts for the portal's front page.
    pub async fn counts(&self) -> Result<(i64, i64), ServiceError> {
        let mut tx = self.store.begin().await?;
        let people = tx.count_people().await?;
        let villages = tx.count_places(PlaceLevel::Village).await?;
        tx.commit().await?;
        Ok((people, villages))
    }
}
