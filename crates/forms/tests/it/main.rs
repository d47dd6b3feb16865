#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests for dspp-forms.
