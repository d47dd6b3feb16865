//! Image loading and MINDTCT extraction on the shared FVC2002 and SourceAFIS images.

use fingerprint::{FingerImage, ViewInfo, extract};

#[test]
fn fvc_image_extracts_minutiae_inside_the_image() {
    let path = crate::shared("data/fingerprints/fvc2002-db2b/101_1.tif");
    let image = FingerImage::open(&path, 569).unwrap();
    assert_eq!((image.width(), image.height()), (296, 560));
    let template = extract(&image, ViewInfo::default()).unwrap();
    let n = template.minutiae().len();
    assert!((20..=255).contains(&n), "{n} minutiae");
    assert_eq!(template.geometry().width(), 296);
}

#[test]
fn sourceafis_png_is_read_as_gray() {
    let path = crate::shared("data/fingerprints/sourceafis-samples/probe.png");
    let image = FingerImage::open(&path, 500).unwrap();
    assert_eq!((image.width(), image.height()), (388, 374));
    assert!(extract(&image, ViewInfo::default()).is_ok());
}

#[test]
fn fvc_captures_are_usable_and_best_of_n_picks_one() {
    let qualities: Vec<fingerprint::Quality> = (1..=8)
        .map(|impression| {
            let path = crate::shared(&format!(
                "data/fingerprints/fvc2002-db2b/103_{impression}.tif"
            ));
            fingerprint::assess(&FingerImage::open(&path, 569).unwrap())
        })
        .collect();
    for quality in &qualities {
        assert_eq!(quality.refusal, None, "{quality:?}");
        assert!(quality.area_mm2 > 100.0, "{quality:?}");
    }
    let best = fingerprint::best_capture(&qualities).unwrap();
    assert!(qualities.iter().all(|q| q.score <= qualities[best].score));
}

/// What the registry will store: an extracted template written as ISO 19794-2 and ANSI 378 and
/// read back unchanged (ANSI up to its 2-degree angle unit).
#[test]
fn extracted_template_round_trips_through_both_standards() {
    use fingerprint::{FingerPosition, MinutiaeRecord, RecordFormat};
    let path = crate::shared("data/fingerprints/fvc2002-db2b/105_3.tif");
    let info = ViewInfo {
        finger: FingerPosition::RightThumb,
        ..ViewInfo::default()
    };
    let template = extract(&FingerImage::open(&path, 569).unwrap(), info).unwrap();
    let record = MinutiaeRecord::parse(0, 0, vec![template.clone()]).unwrap();
    let iso = record.encode(RecordFormat::Iso19794_2_2005);
    let back = MinutiaeRecord::decode_iso(&iso).unwrap();
    // MINDTCT angles are whole degrees; ISO keeps 360/256 steps, so compare within half a step.
    for (a, b) in template.minutiae().iter().zip(back.views()[0].minutiae()) {
        assert_eq!((a.x, a.y, a.quality), (b.x, b.y, b.quality));
        let diff = (a.angle.degrees() - b.angle.degrees()).rem_euclid(360.0);
        assert!(diff <= 0.71 || diff >= 359.29, "{diff}");
    }
    let ansi = record.encode(RecordFormat::Ansi378_2004);
    let back = MinutiaeRecord::decode_ansi(&ansi).unwrap();
    assert_eq!(back.views()[0].info().finger, FingerPosition::RightThumb);
    assert_eq!(back.encode(RecordFormat::Ansi378_2004), ansi);
}

#[test]
fn unreadable_files_get_precise_errors() {
    let missing = fingerprint::load_template(std::path::Path::new("/nonexistent/x.png"), 500)
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("cannot access /nonexistent/x.png: "),
        "{missing}"
    );
    // A record that starts like a template but is cut short.
    let dir = std::env::temp_dir().join(format!("fingerprint-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("short.dat");
    std::fs::write(&file, b"FMR\0 20\0\0\0").unwrap();
    let error = fingerprint::load_template(&file, 500)
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        error,
        "record truncated: record length needs 4 bytes at offset 8, only 2 left"
    );
}
