//! Integration tests of the fingerprint crate, one binary with a module per feature.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod codec;
mod extraction;
mod matching;
mod wsq;

/// Shared test data: `/work/shared` beside the repository (`<clone>/../shared` in CI).
pub(crate) fn shared(path: &str) -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(path)
}
