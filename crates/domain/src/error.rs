//! The one error a domain rule can raise: a value that breaks it, named by field.

/// A value was refused by a domain rule. `field` names what the caller sent, in the words of the API
/// (`birth_date`, `members[2].relationship`), so the edge can point the officer at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct DomainError {
    pub field: String,
    pub reason: String,
}

impl DomainError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, reported under a containing field (`members[1]` + `birth_date`).
    #[must_use]
    pub fn within(self, parent: &str) -> Self {
        DomainError {
            field: format!("{parent}.{}", self.field),
            reason: self.reason,
        }
    }
}
