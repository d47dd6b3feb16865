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
