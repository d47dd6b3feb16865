//! Fuzz the ISO/IEC 19794-2:2005 decoder: it must never panic, and what it accepts must re-encode
//! to the same bytes.
#![no_main]

use fingerprint::{MinutiaeRecord, RecordFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = MinutiaeRecord::decode_iso(data) {
        assert_eq!(record.encode(RecordFormat::Iso19794_2_2005), data);
    }
    let _ = MinutiaeRecord::decode_zero_padded(data, RecordFormat::Iso19794_2_2005);
});
