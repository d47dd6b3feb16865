//! Any text as a pyxform CSV definition: parsing must not panic, and a definition that parses must evaluate
//! empty answers without panicking.
#![no_main]

use chrono::NaiveDate;
use dspp_forms::{Inputs, parse_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(definition) = parse_csv(text) {
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
        let evaluation = definition.evaluate(&Inputs::new(today));
        assert!(!evaluation.eligible || evaluation.problems.is_empty());
    }
});
