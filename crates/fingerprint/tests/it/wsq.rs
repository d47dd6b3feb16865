//! WSQ decoding: the SourceAFIS sample against its reference decoding, and corrupt variants of it.

use expect_test::{Expect, expect};
use fingerprint::FingerImage;

fn sample() -> Vec<u8> {
    let path = crate::shared("data/fingerprints/sourceafis-samples/wsq-original.wsq");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn sample_decodes_like_the_reference_decoder() {
    let wsq = FingerImage::decode(&sample(), 500).unwrap();
    let reference_path = crate::shared("data/fingerprints/sourceafis-samples/wsq-converted.png");
    let reference = FingerImage::open(&reference_path, 500).unwrap();
    assert_eq!((wsq.width(), wsq.height()), (832, 768));
    assert_eq!((reference.width(), reference.height()), (832, 768));
    let diffs: Vec<u8> = wsq
        .pixels()
        .iter()
        .zip(reference.pixels())
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    // Float rounding differs between decoders: a few pixels by one grey level, none by more.
    let off = diffs.iter().filter(|&&d| d > 0).count();
    assert_eq!(diffs.iter().copied().max(), Some(1));
    assert!(off < 100, "{off} pixels differ");
}

/// Decode `bytes` changed by `edit` and compare the error message.
fn check(edit: impl FnOnce(&mut Vec<u8>), expected: Expect) {
    let mut bytes = sample();
    edit(&mut bytes);
    let message = match FingerImage::decode(&bytes, 500) {
        Ok(image) => format!("decoded {image:?}"),
        Err(e) => e.to_string(),
    };
    expected.assert_eq(&message);
}

// Offsets in the sample: DTT at 0xDB, DHT at 0x2B1, SOF at 0x29E, the three SOB at 0x388,
// 0x4533 and 0x7E0F, EOI at 0x88F0.
#[test]
fn corrupt_streams_get_precise_errors() {
    check(
        |b| b.truncate(2),
        expect!["record truncated: marker needs 2 bytes at offset 2, only 0 left"],
    );
    check(
        |b| b.truncate(100),
        expect!["record truncated: segment needs 213 bytes at offset 6, only 94 left"],
    );
    check(
        |b| b[0xDF] = 8,
        expect![
            "corrupt WSQ stream at byte 223: lowpass filter of 8 taps (only odd lengths up to 32, whole-sample symmetric, are supported)"
        ],
    );
    check(
        |b| b[0x2B6] = 3,
        expect!["corrupt WSQ stream at byte 694: Huffman table oversubscribed at code length 1"],
    );
    check(
        |b| b[0x2A6..0x2A8].copy_from_slice(&5000u16.to_be_bytes()),
        expect!["image of 5000x768 pixels refused: a side is above 4096 pixels"],
    );
    check(
        |b| b[0x38C] = 5,
        expect![
            "corrupt WSQ stream at byte 908: block 1 uses Huffman table 5, which no DHT defined"
        ],
    );
    check(
        |b| b.truncate(0x5000),
        expect![
            "corrupt WSQ stream at byte 20480: stream ends inside a coded block (no end-of-image marker)"
        ],
    );
    check(
        |b| {
            b.truncate(0x7E0F);
            b.extend_from_slice(&[0xFF, 0xA1]);
        },
        expect![
            "corrupt WSQ stream at byte 32273: the blocks code 159744 coefficients, the 832x768 image needs 479232"
        ],
    );
    check(
        |b| b[0x88F1] = 0xA2,
        expect!["corrupt WSQ stream at byte 35056: second frame header (SOF)"],
    );
    check(
        |b| {
            b.truncate(0x29E);
            b.extend_from_slice(&[0xFF, 0xA1]);
        },
        expect!["corrupt WSQ stream at byte 670: end of image (EOI) before the frame header (SOF)"],
    );
    check(
        |b| b[0x2B2] = 0xA3,
        expect!["corrupt WSQ stream at byte 691: block header length 213, expected 3"],
    );
    check(
        |b| b[0x118] = 0xA3,
        expect!["corrupt WSQ stream at byte 279: coded block (SOB) before the frame header (SOF)"],
    );
    check(
        |b| b[0x29F] = 0xA9,
        expect![
            "corrupt WSQ stream at byte 670: unexpected marker FFA9 (expected a table, SOF, SOB or EOI)"
        ],
    );
}

#[test]
fn wsq_minutiae_match_those_of_the_reference_decoding() {
    use fingerprint::{MccMatcher, MccTemplate, ViewInfo, extract};
    let dir = "data/fingerprints/sourceafis-samples";
    let template =
        |image: &FingerImage| MccTemplate::new(&extract(image, ViewInfo::default()).unwrap());
    let wsq = template(&FingerImage::decode(&sample(), 500).unwrap());
    let png = template(
        &FingerImage::open(&crate::shared(&format!("{dir}/wsq-converted.png")), 500).unwrap(),
    );
    let other =
        template(&FingerImage::open(&crate::shared(&format!("{dir}/probe.png")), 500).unwrap());
    let mut matcher = MccMatcher::new();
    let same = matcher.similarity(&wsq, &png);
    let different = matcher.similarity(&wsq, &other);
    assert!(same > 0.9, "same image scores {same}");
    assert!(different < 0.2, "another finger scores {different}");
}

/// FNV-1a, a checksum that does not depend on the standard library's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn odd_sized_sample_decodes_as_checked_against_jnbis() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/jnbis-sample.wsq");
    let image = FingerImage::open(std::path::Path::new(path), 500).unwrap();
    assert_eq!((image.width(), image.height()), (545, 622));
    expect!["12bb6aa3e4a27e79"].assert_eq(&format!("{:016x}", fnv1a(image.pixels())));
}
