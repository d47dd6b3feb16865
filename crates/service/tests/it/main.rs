//! The registry's use cases against real stores. Every scenario runs twice, on an embedded SQLite file
//! and on a PostgreSQL database of a server the tests start, so both stores keep the same behaviour.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod biometrics;
mod csv;
mod duplicates;
mod enrolment;
mod faces;
mod households;
mod leases;
mod life_events;
mod people;
mod support;
