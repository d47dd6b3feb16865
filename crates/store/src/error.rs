//! What can go wrong in the store, in terms the service can act on.

/// Database text stays inside this crate's logs: callers get a kind, the cause chain holds the detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or an expected version was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An update expected a version that is no longer current: someone else changed the record.
    #[error("stale: {0}")]
    Stale(String),
    #[error("the database cannot be reached")]
    Unavailable(#[source] sqlx::Error),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    #[error("store configuration: {0}")]
    Config(String),
    #[error("migration {version} failed")]
    Migration { version: i64, source: sqlx::Error },
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    pub(crate) fn from_sqlx(error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("already exists".into())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(error),
            _ => StoreError::Database(error),
        }
    }
}
