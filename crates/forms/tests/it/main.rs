#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests for dspp-forms: expressions, definition problems, answer problems, the shipped programs,
//! the xlsx path and property tests.

mod answers;
mod definitions;
mod expressions;
mod programs;
mod properties;
mod xlsx;

use std::path::PathBuf;

/// The repository's `programs/` directory.
pub fn programs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../programs")
}

/// The text of a shipped definition.
pub fn program_csv(code: &str) -> String {
    std::fs::read_to_string(programs_dir().join(format!("{code}.csv"))).unwrap()
}
