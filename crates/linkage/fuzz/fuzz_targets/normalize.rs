//! Any text: normalization must not panic, Khmer normalization must be idempotent, keys must be ASCII.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkage::normalize::{normalize_khmer, normalize_latin, phonetic_key, romanize_khmer};

fuzz_target!(|text: &str| {
    let once = normalize_khmer(text);
    assert_eq!(normalize_khmer(&once), once);
    for token in normalize_latin(text).iter().chain(romanize_khmer(text).iter()) {
        assert!(phonetic_key(token).is_ascii());
    }
});
