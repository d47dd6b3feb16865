//! The registry's use cases against real stores. Every scenario runs twice, on an embedded SQLite file
//! and on a PostgreSQL database of a server the tests start, so both stores keep the same behaviour.

mod csv;
mod households;
mod leases;
mod people;
mod support;
