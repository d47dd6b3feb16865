//! Integration tests of the linkage crate: the `dspp link` format end to end, bad input, and linkage quality on
//! the shared labelled data and on a generated Cambodian population.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod bad_input;
mod index;
mod quality;

use linkage::LinkOptions;

/// Options for tests: fewer random pairs for u, so debug builds stay fast.
pub(crate) fn test_options() -> LinkOptions {
    LinkOptions {
        u_sample_pairs: 100_000,
        ..LinkOptions::default()
    }
}

pub(crate) fn shared(path: &str) -> String {
    format!("{}/../../../shared/{path}", env!("CARGO_MANIFEST_DIR"))
}
