//! What a use case can answer besides success, in terms a caller can act on.

use dspp_domain::DomainError;
use dspp_store::StoreError;

/// One field that was refused, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

impl From<DomainError> for FieldProblem {
    fn from(e: DomainError) -> Self {
        FieldProblem {
            field: e.field,
            reason: e.reason,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks rules; every problem found is listed, not just the first.
    #[error("the input was refused: {}", summary(.0))]
    Invalid(Vec<FieldProblem>),
    #[error("{0} not found")]
    NotFound(String),
    /// The record changed since the caller read it, or a unique thing is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller's change was based on a version that is no longer current (a failed If-Match).
    #[error("stale: {0}")]
    Stale(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0}")]
    Exhausted(String),
    /// A capability this server was not configured with (a biometric key, the face model).
    #[error("not configured: {0}")]
    NotConfigured(String),
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

fn summary(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(vec![FieldProblem {
            field: field.into(),
            reason: reason.into(),
        }])
    }
}

impl From<DomainError> for ServiceError {
    fn from(e: DomainError) -> Self {
        ServiceError::Invalid(vec![e.into()])
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::Stale(what) => ServiceError::Stale(what),
            StoreError::NotFound => ServiceError::NotFound("record".into()),
            StoreError::Unavailable(_) => ServiceError::Unavailable(e),
            other => ServiceError::Internal(other),
        }
    }
}
