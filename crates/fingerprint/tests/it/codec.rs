//! ISO 19794-2 / ANSI 378 codecs against the SourceAFIS sample records and malformed variants.

use expect_test::{Expect, expect};
use fingerprint::{MinutiaeRecord, RecordFormat};
use proptest::prelude::*;

fn sample(name: &str) -> Vec<u8> {
    let path = crate::shared(&format!("data/fingerprints/sourceafis-samples/{name}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The record of a sample without its zero padding (the samples are padded to 384 bytes).
fn unpadded(name: &str) -> Vec<u8> {
    let bytes = sample(name);
    let len = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    bytes[..len].to_vec()
}

fn summary(record: &MinutiaeRecord) -> String {
    let view = &record.views()[0];
    let g = view.geometry();
    let m = &view.minutiae()[..3];
    format!(
        "{}x{} {}x{} ppcm, {} views, finger {:?}, quality {}, {} minutiae, ext {:?}\nfirst: {:?}",
        g.width(),
        g.height(),
        g.x_ppcm(),
        g.y_ppcm(),
        record.views().len(),
        view.info().finger,
        view.info().quality,
        view.minutiae().len(),
        view.extended()
            .iter()
            .map(|b| (b.type_code, b.data.len()))
            .collect::<Vec<_>>(),
        m.iter()
            .map(|m| (m.x, m.y, m.angle.degrees(), m.kind, m.quality))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn sourceafis_samples_decode() {
    let check = |name: &str, expect: Expect| {
        let record =
            MinutiaeRecord::decode_zero_padded(&sample(name), RecordFormat::Iso19794_2_2005)
                .unwrap();
        expect.assert_eq(&summary(&record));
    };
    check(
        "iso-probe.dat",
        expect![[r#"
        224x288 197x197 ppcm, 1 views, finger Unknown, quality 100, 38 minutiae, ext [(324, 1)]
        first: [(78, 13, 42.1875, RidgeEnding, 0), (128, 13, 29.53125, Bifurcation, 0), (145, 32, 14.0625, RidgeEnding, 0)]"#]],
    );
    check(
        "iso-matching.dat",
        expect![[r#"
        224x288 197x197 ppcm, 1 views, finger Unknown, quality 100, 38 minutiae, ext [(324, 1)]
        first: [(78, 13, 42.1875, RidgeEnding, 0), (128, 13, 29.53125, Bifurcation, 0), (145, 32, 14.0625, RidgeEnding, 0)]"#]],
    );
    check(
        "iso-nonmatching.dat",
        expect![[r#"
        208x320 197x197 ppcm, 1 views, finger Unknown, quality 100, 39 minutiae, ext [(324, 1)]
        first: [(116, 9, 30.9375, Bifurcation, 0), (77, 17, 29.53125, RidgeEnding, 0), (53, 33, 223.59375, RidgeEnding, 0)]"#]],
    );
}

#[test]
fn sourceafis_samples_round_trip_byte_exact() {
    for name in ["iso-probe.dat", "iso-matching.dat", "iso-nonmatching.dat"] {
        let bytes = unpadded(name);
        let record = MinutiaeRecord::decode_iso(&bytes).unwrap();
        assert_eq!(
            record.encode(RecordFormat::Iso19794_2_2005),
            bytes,
            "{name}"
        );
        // Through ANSI and back: same minutiae up to the 2-degree ANSI angle unit.
        let ansi = record.encode(RecordFormat::Ansi378_2004);
        assert_eq!(ansi.len(), bytes.len() + 2);
        let back = MinutiaeRecord::decode_ansi(&ansi).unwrap();
        for (a, b) in record.views()[0]
            .minutiae()
            .iter()
            .zip(back.views()[0].minutiae())
        {
            assert_eq!((a.x, a.y, a.kind, a.quality), (b.x, b.y, b.kind, b.quality));
            let diff = (a.angle.degrees() - b.angle.degrees()).rem_euclid(360.0);
            assert!(diff <= 1.0 || diff >= 359.0, "{name}: {diff}");
        }
    }
}

/// Every malformed variant of the probe record gets its own precise error.
#[test]
fn malformed_records_are_refused_precisely() {
    let good = unpadded("iso-probe.dat");
    let check = |edit: &dyn Fn(&mut Vec<u8>), expect: Expect| {
        let mut bytes = good.clone();
        edit(&mut bytes);
        let error = MinutiaeRecord::decode_iso(&bytes).unwrap_err();
        expect.assert_eq(&error.to_string());
    };
    check(
        &|b| b.truncate(3),
        expect!["record truncated: format identifier needs 4 bytes at offset 0, only 3 left"],
    );
    check(
        &|b| b[0] = b'X',
        expect![[
            r#"not a finger minutiae record: format identifier is [58, 4d, 52, 00], expected "FMR\0""#
        ]],
    );
    check(
        &|b| b[5] = b'3',
        expect![[
            r#"unsupported record version [20, 33, 30, 00], expected " 20\0" (ISO 19794-2:2005 / ANSI 378-2004)"#
        ]],
    );
    check(
        &|b| b.truncate(200),
        expect!["record truncated: record needs 263 bytes at offset 0, only 200 left"],
    );
    check(
        &|b| b.push(7),
        expect!["1 unexpected bytes after the 263-byte record"],
    );
    check(
        &|b| b[8..12].copy_from_slice(&10u32.to_be_bytes()),
        expect!["declared record length 10 is invalid: shorter than the record header"],
    );
    check(
        &|b| b[8..12].copy_from_slice(&u32::MAX.to_be_bytes()),
        expect!["declared record length 4294967295 is invalid: above the 1 MiB limit"],
    );
    // Width 10: the first minutia (x = 78) falls outside the image.
    check(
        &|b| b[14..16].copy_from_slice(&10u16.to_be_bytes()),
        expect!["minutia 0 at (78, 13) lies outside the 10x288 image"],
    );
    check(
        &|b| b[14..16].copy_from_slice(&0u16.to_be_bytes()),
        expect!["invalid image width at offset 14: 0 (1..=16384 pixels)"],
    );
    check(
        &|b| b[18..20].copy_from_slice(&0u16.to_be_bytes()),
        expect!["invalid x resolution at offset 18: 0 (non-zero pixels per centimetre)"],
    );
    check(&|b| b[22] = 0, expect!["record holds no finger view"]);
    check(
        &|b| b[23] = 1,
        expect!["invalid reserved header byte at offset 23: 1 (0)"],
    );
    check(
        &|b| b[24] = 11,
        expect!["invalid finger position at offset 24: 11 (0..=10)"],
    );
    check(
        &|b| b[25] = 0x05,
        expect!["invalid impression type at offset 25: 5 (0, 1, 2, 3, 8 or 9)"],
    );
    check(
        &|b| b[26] = 101,
        expect!["invalid finger quality at offset 26: 101 (0..=100)"],
    );
    check(
        &|b| b[28] |= 0xC0,
        expect![
            "invalid minutia type at offset 28: 3 (00 other, 01 ridge ending or 10 bifurcation)"
        ],
    );
    check(
        &|b| b[33] = 200,
        expect!["invalid minutia quality at offset 33: 200 (0..=100)"],
    );
    // One minutia fewer declared: the view ends early and the lengths disagree.
    check(
        &|b| b[27] -= 1,
        expect![
            "invalid extended data block length at offset 254: 23552 (at least 4 and within the view's extended data length)"
        ],
    );
    // One minutia more declared: the view runs past the record.
    check(
        &|b| b[27] += 1,
        expect!["minutia 38 at (5, 324) lies outside the 224x288 image"],
    );
    // Zero minutiae, with the record shortened to match.
    check(
        &|b| {
            let tail = b[256..].to_vec();
            b.truncate(28);
            b[27] = 0;
            b.extend_from_slice(&tail);
            let len = b.len() as u32;
            b[8..12].copy_from_slice(&len.to_be_bytes());
        },
        expect!["finger view 0 has no minutiae"],
    );
    // Extended data: a block of type 0, and a block longer than the extended area.
    check(
        &|b| b[258..260].copy_from_slice(&[0, 0]),
        expect!["invalid extended data type at offset 258: 0 (non-zero type code)"],
    );
    check(
        &|b| b[261] = 9,
        expect![
            "invalid extended data block length at offset 260: 9 (at least 4 and within the view's extended data length)"
        ],
    );
    // Zero padding is accepted only where asked for, and only zeros.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0, 0, 1]);
    expect!["3 unexpected bytes after the 263-byte record"].assert_eq(
        &MinutiaeRecord::decode_zero_padded(&padded, RecordFormat::Iso19794_2_2005)
            .unwrap_err()
            .to_string(),
    );
}

#[test]
fn ansi_angle_out_of_range_is_refused() {
    let record = MinutiaeRecord::decode_iso(&unpadded("iso-probe.dat")).unwrap();
    let mut ansi = record.encode(RecordFormat::Ansi378_2004);
    // First minutia of the first view: header 26, view header 4, then x, y, angle.
    ansi[26 + 4 + 4] = 180;
    expect!["invalid minutia angle at offset 34: 180 (0..=179 in units of 2 degrees)"]
        .assert_eq(&MinutiaeRecord::decode_ansi(&ansi).unwrap_err().to_string());
}

proptest! {
    /// Any decodable byte string re-encodes to itself (ISO), and decoding never panics.
    #[test]
    fn decode_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(record) = MinutiaeRecord::decode_iso(&bytes) {
            prop_assert_eq!(record.encode(RecordFormat::Iso19794_2_2005), bytes.clone());
        }
        if let Ok(record) = MinutiaeRecord::decode_ansi(&bytes) {
            prop_assert_eq!(record.encode(RecordFormat::Ansi378_2004), bytes);
        }
    }

    /// Records built from arbitrary valid minutiae round-trip through both formats.
    #[test]
    fn valid_records_round_trip(
        minutiae in proptest::collection::vec((0u16..300, 0u16..400, 0u8..=255, 0u16..3, 0u8..=100), 1..60),
        finger in 0u8..=10,
        quality in 0u8..=100,
    ) {
        use fingerprint::{Angle, FingerPosition, ImageGeometry, Minutia, MinutiaKind, Template, ViewInfo};
        let minutiae: Vec<Minutia> = minutiae.into_iter().map(|(x, y, angle, kind, q)| Minutia {
            x, y,
            // Whole ISO angle units: exact through ISO; through ANSI they round to 2 degrees, so
            // the ANSI check below compares the re-encoded bytes instead.
            angle: Angle::parse(u16::from(angle) * 45).unwrap(),
            kind: [MinutiaKind::Other, MinutiaKind::RidgeEnding, MinutiaKind::Bifurcation][usize::from(kind)],
            quality: q,
        }).collect();
        let geometry = ImageGeometry::from_dpi(300, 400, 500).unwrap();
        let info = ViewInfo { finger: FingerPosition::parse(finger).unwrap(), view_number: 1, impression: 0, quality };
        let template = Template::parse(geometry, info, minutiae, vec![]).unwrap();
        let record = MinutiaeRecord::parse(0x1234, 0, vec![template]).unwrap();
        let iso = record.encode(RecordFormat::Iso19794_2_2005);
        prop_assert_eq!(&MinutiaeRecord::decode_iso(&iso).unwrap(), &record);
        let ansi = record.encode(RecordFormat::Ansi378_2004);
        let back = MinutiaeRecord::decode_ansi(&ansi).unwrap();
        prop_assert_eq!(back.encode(RecordFormat::Ansi378_2004), ansi);
    }
}
