//! The simulators as binaries and as parsers: `--help`, a real process, the shipped register, and
//! property tests that no request body makes them panic or answer vaguely.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bins;
mod parsing;
