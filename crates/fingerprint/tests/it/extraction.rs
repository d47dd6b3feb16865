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
