//! Fuzz the ANSI/INCITS 378-2004 decoder: it must never panic, and what it accepts must re-encode
//! to the same bytes when the record uses the short length form.
#![no_main]

use fingerprint::{MinutiaeRecord, RecordFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = MinutiaeRecord::decode_ansi(data) {
        let encoded = record.encode(RecordFormat::Ansi378_2004);
        if data.get(8..10) != Some(&[0, 0]) {
            assert_eq!(encoded, data);
        }
    }
});
