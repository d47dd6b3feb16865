//! The registry's storage: PostgreSQL in production, an embedded SQLite file by default. One [`Store`]
//! serves both through sqlx's `Any` driver and SQL in the subset the two share; where they differ the
//! code asks [`Dialect`]. This is the only crate that knows SQL; it maps rows to domain types.
//!
//! **A write is durable before it is acknowledged**: SQLite runs in WAL mode with `synchronous=FULL`,
//! PostgreSQL with its default `synchronous_commit=on`, and every use case commits before it answers.

mod biometrics;
mod changes;
mod duplicates;
mod enrolments;
mod error;
mod geo;
mod households;
mod idempotency;
mod migrate;
mod outbox;
mod people;
mod spids;

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Executor, Transaction};

pub use biometrics::{BiometricCheckRow, BiometricRow, ExceptionCount, ExceptionRow};
pub use changes::{Change, ChangeRecord};
pub use duplicates::{DuplicateCaseRow, DuplicateFilter, HeldEnrolment, HoldFilter};
pub use enrolments::{
    ApplicationRow, ApprovalRow, EnrolmentFilter, EnrolmentRow, IdVerificationRow,
    PovertyStatusRow, ProgramSource, StatusEvent,
};
pub use error::StoreError;
pub use geo::{Place, PlaceLevel};
pub use households::HouseholdVersion;
pub use idempotency::{IdempotencyClaim, StoredResponse};
pub use migrate::AppliedMigration;
pub use outbox::OutboxItem;
pub use people::{PeopleFilter, PersonVersion};
pub use spids::{Lease, SpidEntry, SpidState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection pool to one registry database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

/// Turns off SQLite's memory statistics, once per process and before SQLite first runs (a store's first
/// connection). With them on (SQLite's default), every allocation and free SQLite makes takes one mutex for the
/// whole process, and sqlx frees a row's values on the thread that reads the row, not on the connection's worker:
/// at the peak the worker and the readers queued on that mutex, a tenth of all processor time in futex calls
/// (`perf`, the fingerprint check bench with a short list of 1,000; BENCHMARKS.md). SQLite's documentation
/// recommends them off (`SQLITE_DEFAULT_MEMSTATUS=0`) for speed; nothing here reads them.
fn sqlite_memory_statistics_off() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` must not run while another thread uses SQLite: this process uses SQLite only
        // through a store's connections, opened after this returns (the `Once` holds back any other thread's
        // first store until it has). Once SQLite has started it only answers SQLITE_MISUSE.
        #[allow(unsafe_code)]
        let code = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        if code != libsqlite3_sys::SQLITE_OK {
            tracing::warn!(
                code,
                "SQLite's memory statistics stay on: it had started before the first store"
            );
        }
    });
}

/// One transaction: every use case does its reads and writes in one and commits once.
#[derive(Debug)]
pub struct Tx {
    inner: Transaction<'static, Any>,
    dialect: Dialect,
}

impl Store {
    /// Connects to `url`: `postgres://…` or `sqlite://PATH` (the file is created if missing).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Config(
                "the database URL must start with postgres:// or sqlite://".into(),
            ));
        };
        if dialect == Dialect::Sqlite {
            sqlite_memory_statistics_off();
        }
        let mut url = url.to_string();
        if dialect == Dialect::Sqlite && !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("unreadable database URL: {e}")))?
            .disable_statement_logging();
        // SQLite allows one writer at a time; one connection serialises writers instead of failing them
        // with SQLITE_BUSY. The embedded store serves one office, where this is ample.
        let max_connections = match dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(Store { pool, dialect })
    }

    /// A store on a SQLite file at `path`.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store, StoreError> {
        Store::connect(&format!("sqlite://{}", path.display())).await
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let inner = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        Ok(Tx {
            inner,
            dialect: self.dialect,
        })
    }

    /// Whether the database answers; for the health endpoint.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        conn.ping().await.map_err(StoreError::from_sqlx)
    }

    /// Folds SQLite's write-ahead log into the database file, so that the file alone is a complete copy
    /// (backups, templates). Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.inner.commit().await.map_err(StoreError::from_sqlx)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// Timestamps are stored as fixed-width UTC text so that text order is time order on both databases.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}

pub(crate) fn parse_uuid(text: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("id {text:?}: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite counts no memory once a store has opened: its statistics, and the process-wide mutex every allocation
    /// took for them, are off.
    #[tokio::test]
    async fn sqlite_keeps_no_memory_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("registry.db"))
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        sqlx::query("CREATE TABLE t (v TEXT)")
            .execute(&mut *tx.inner)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES ('a value long enough to be allocated')")
            .execute(&mut *tx.inner)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        // SAFETY: reads a counter; SQLite allows it from any thread.
        #[allow(unsafe_code)]
        let used = unsafe { libsqlite3_sys::sqlite3_memory_used() };
        assert_eq!(
            used, 0,
            "SQLite counted {used} bytes: its memory statistics are on"
        );
    }
}
