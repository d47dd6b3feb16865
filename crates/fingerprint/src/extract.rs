//! Minutiae extraction from fingerprint images with NIST MINDTCT (the pure-Rust `fprint-mindtct`
//! port, reproducing the NBIS tool's output exactly), converted into a [`Template`].
//!
//! MINDTCT reports minutiae in the NIST convention (origin bottom-left, angle pointing away from
//! the ridge); templates use the ISO/ANSI convention (origin top-left, angle along the ridge), the
//! same conversion NBIS applies when it writes ANSI 378 (`lfs2m1_minutia_XYT`).

use crate::Error;
use crate::image::FingerImage;
use crate::template::{
    Angle, ImageGeometry, MAX_MINUTIAE, Minutia, MinutiaKind, Template, ViewInfo,
};

/// Extract the minutiae of an image. When MINDTCT finds more than a template holds (255), the
/// most reliable are kept.
pub fn extract(image: &FingerImage, info: ViewInfo) -> Result<Template, Error> {
    let width = image.width();
    let height = image.height();
    let gray = fprint_mindtct::GrayImage::new(
        image.pixels(),
        width as usize,
        height as usize,
        image.dpi(),
    )
    .map_err(|e| Error::ImageDecode {
        reason: format!("MINDTCT refuses the image: {e:?}"),
    })?;
    let mut found = fprint_mindtct::detect_minutiae(gray);
    // Stable sort keeps MINDTCT's order among equal qualities, so extraction stays deterministic.
    found.sort_by_key(|m| std::cmp::Reverse(m.quality));
    found.truncate(MAX_MINUTIAE);
    // Sizes are at most MAX_IMAGE_SIDE (4096), so they fit u16 and i32.
    let (w, h) = (width as i32, height as i32);
    let minutiae: Vec<Minutia> = found
        .iter()
        .map(|m| Minutia {
            x: m.x.clamp(0, w - 1) as u16,
            y: (h - m.y).clamp(0, h - 1) as u16,
            angle: Angle::from_degrees(f64::from(m.theta + 180)),
            kind: MinutiaKind::Other,
            quality: m.quality.clamp(0, 100) as u8,
        })
        .collect();
    if minutiae.is_empty() {
        return Err(Error::NoMinutiae { view: 0 });
    }
    let geometry = ImageGeometry::from_dpi(width as u16, height as u16, image.dpi())?;
    Template::parse(geometry, info, minutiae, Vec::new())
}
