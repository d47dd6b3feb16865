//! The clients against the reference simulators, started in-process on loopback port 0.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod national_id;
mod operator;
mod support;
mod transport;
