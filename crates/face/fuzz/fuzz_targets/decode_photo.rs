//! Fuzz the photo decoder: JPEG and PNG bytes of any shape must give an image within the limits or
//! a precise error, never a panic or an allocation beyond the pixel limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = face::decode_photo(data) {
        let pixels = u64::from(image.width()) * u64::from(image.height());
        assert!(pixels <= u64::from(face::MAX_PHOTO_MEGAPIXELS) * 1_000_000);
        assert!(image.width().min(image.height()) >= face::MIN_PHOTO_SIDE);
    }
});
