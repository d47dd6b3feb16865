//! The registry's use cases. Each public method of [`Registry`] is one use case in one database
//! transaction: it checks who acts ([`Actor`]), validates the input completely, writes, records the
//! change and commits before it returns. Time and randomness come from the `Registry`'s [`Clock`] and
//! seeded generator, so tests control both.

mod csv_io;
mod demo;
mod error;
mod geo;
mod households;
mod input;
mod leases;
mod people;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use dspp_domain::{Actor, CommuneCode, Spid, VillageCode};
use dspp_store::Tx;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use csv_io::{CSV_HEADER, ImportSummary, RowProblem};
pub use demo::DemoSummary;
pub use error::{FieldProblem, ServiceError};
pub use geo::{ATTRIBUTION, GazetteerSummary, SkippedPlace, villages_csv};
pub use households::{HouseholdView, MemberInput, NewHousehold};
pub use input::{DocumentInput, PersonInput};
pub use leases::{LeaseView, NewLease, OfflineIssue};
pub use people::{Page, PersonView, Warning};

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
        }
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
    fn new_id(&self) -> uuid::Uuid {
        let millis = u64::try_from(self.clock.now().timestamp_millis()).unwrap_or(0);
        let random: [u8; 10] = self.with_rng(|rng| rng.r#gen());
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
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
async fn commune_of(
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
fn authorize_write(actor: &Actor, commune: CommuneCode) -> Result<(), ServiceError> {
    authorize(
        actor,
        commune,
        actor.role.may_register(),
        "cannot change registry records",
    )
}

/// Refuses an actor who may not read records in `commune`.
fn authorize_read(actor: &Actor, commune: CommuneCode) -> Result<(), ServiceError> {
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
