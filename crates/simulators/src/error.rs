//! The simulators' one error type: bad data files and IO at start-up.

/// What can stop a simulator from starting or from writing its journal.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A bad row in data read from memory (the line counts the header as line 1).
    #[error("line {line}: {reason}")]
    Data { line: usize, reason: String },
    #[error("{path}, line {line}: {reason}")]
    DataFile {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("could not write: {0}")]
    Write(String),
}
