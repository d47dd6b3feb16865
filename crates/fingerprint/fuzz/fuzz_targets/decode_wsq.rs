//! Fuzz WSQ decoding: errors are fine, panics and unbounded allocations are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Always take the WSQ path: the stream starts with the SOI marker.
    let mut bytes = Vec::with_capacity(data.len() + 2);
    bytes.extend_from_slice(&[0xFF, 0xA0]);
    bytes.extend_from_slice(data);
    let _ = fingerprint::FingerImage::decode(&bytes, 500);
});
