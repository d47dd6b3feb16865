//! Fuzz image decoding (PNG, TIFF, BMP): errors are fine, panics and unbounded allocations are not.
#![no_main]

use fingerprint::FingerImage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = FingerImage::decode(data, 500);
});
