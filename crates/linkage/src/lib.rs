//! Biographic record linkage for dspp: normalizes Cambodian names in Khmer and Latin script, blocks, scores record
//! pairs in the Fellegi–Sunter model with m/u estimated by EM and term-frequency adjustment, and clusters records
//! into people without chaining whole villages together.
//!
//! Entry points: [`link`] (batch, the `dspp link` format), [`evaluate`] (pairwise precision/recall/F1),
//! [`Index`] (the real-time check at enrolment), [`synth::generate`] (a Cambodian test population). The crate does
//! no IO of its own: callers pass readers and writers.
//!
//! Pipeline of [`link`]: read rows ([`read_records`]: a bad row is a [`RowIssue`], never an error, and its record is
//! still linked on its valid fields) → prepare (normalized names, phonetic keys, romanized Khmer) → block
//! ([`BLOCKING_RULES`], capped block sizes) → compare (a level per field) → train (u from random pairs, m by EM in
//! sessions that leave the blocked fields out, then the prior) → score (match weight with term-frequency
//! adjustment; [`Outcome`] by thresholds) → cluster (strongest edges first, merge only when the average match
//! probability across the two clusters stays above the cluster threshold) → write `record_id,cluster_id` for every
//! input row.
//!
//! Invariants: **every input row appears exactly once in the output**; **the same input and options give the same
//! clusters** (random sampling is seeded by [`LinkOptions::seed`]).

mod blocking;
mod cluster;
mod compare;
mod eval;
mod index;
mod link;
mod model;
mod names;
pub mod normalize;
mod record;
pub mod synth;

pub use blocking::RULES as BLOCKING_RULES;
pub use eval::{PairwiseScores, evaluate, read_clusters, read_truth};
pub use index::{FieldReason, Index, MatchCandidate};
pub use link::{
    BlockingRecall, LinkOptions, LinkReport, Linkage, Outcome, blocking_recall, link, link_records,
    write_clusters,
};
pub use model::Model;
pub use record::{
    BirthDate, Gazetteer, INPUT_HEADER, NationalId, Record, RowIssue, Sex, VillageCode,
    read_records,
};

/// Errors of the linkage crate. A bad row is never an error: it is a [`RowIssue`] in the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input could not be read or the output could not be written.
    #[error("i/o error")]
    Io(#[from] std::io::Error),
    /// The CSV layer failed in a way that is not a single bad row (for example the stream ended in a broken quote).
    #[error("CSV error")]
    Csv(#[from] csv::Error),
    /// The header is not the one the format requires.
    #[error("unexpected header {found:?}, expected {expected:?}")]
    Header { found: String, expected: String },
    /// An option or input that makes the whole run meaningless.
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}
