//! The API over real HTTP: a server on a loopback port 0 in front of a real registry, on both stores.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod biometrics;
mod browser;
mod duplicates;
mod enrolment;
mod portal;
mod support;
