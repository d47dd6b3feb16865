//! Fuzzes the parsers of identifiers and dates: no panic, and whatever is accepted prints back to
//! something that parses to the same value.
#![no_main]

use dspp_domain::{BirthDate, Spid, VillageCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spid) = Spid::parse(text) {
        assert_eq!(Spid::parse(&spid.to_string()), Ok(spid));
    }
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    if let Ok(date) = BirthDate::parse(text, today) {
        assert_eq!(BirthDate::parse(&date.to_string(), today), Ok(date));
    }
    if let Ok(code) = VillageCode::parse(text) {
        assert_eq!(VillageCode::parse(code.as_str()), Ok(code));
    }
});
