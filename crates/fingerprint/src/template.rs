//! Minutiae templates: the validated, format-neutral model that codecs, the extractor and the
//! matcher share.
//!
//! Coordinates follow ISO/IEC 19794-2 and ANSI/INCITS 378: origin at the top-left pixel, x to the
//! right, y down; angles counter-clockwise from the positive x axis as seen on the image.

use crate::Error;

/// Number of angle units in a full turn: angles are stored in 1/32 degree so that both the ISO
/// unit (360/256 = 45/32 degree) and the ANSI unit (2 degrees = 64/32) are exact.
pub const ANGLE_UNITS_PER_TURN: u16 = 11_520;

/// Largest coordinate the 14-bit fields of both standards can hold.
pub const MAX_COORDINATE: u16 = 0x3FFF;

/// A minutia direction, exact for both ISO and ANSI encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Angle(
    /// Invariant: `< ANGLE_UNITS_PER_TURN`.
    u16,
);

impl Angle {
    /// Angle from units of 1/32 degree; values of a full turn or more are refused.
    pub fn parse(units: u16) -> Result<Angle, Error> {
        if units < ANGLE_UNITS_PER_TURN {
            Ok(Angle(units))
        } else {
            Err(Error::InvalidField {
                field: "angle",
                offset: 0,
                value: u64::from(units),
                expected: "below 11520 units of 1/32 degree",
            })
        }
    }

    /// Angle from degrees, wrapped into one turn and rounded to the nearest 1/32 degree.
    pub fn from_degrees(degrees: f64) -> Angle {
        let units = (degrees * 32.0)
            .round()
            .rem_euclid(f64::from(ANGLE_UNITS_PER_TURN));
        // `rem_euclid` keeps the value in [0, 11520); a NaN maps to 0 through the saturating cast.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let units = units as u16;
        Angle(units % ANGLE_UNITS_PER_TURN)
    }

    /// The angle in units of 1/32 degree.
    pub fn units(self) -> u16 {
        self.0
    }

    /// The angle in degrees, in `[0, 360)`.
    pub fn degrees(self) -> f64 {
        f64::from(self.0) / 32.0
    }

    /// The angle in radians, in `[0, 2π)`.
    pub fn radians(self) -> f64 {
        self.degrees().to_radians()
    }

    /// From the ISO 19794-2 byte (units of 360/256 degree).
    pub(crate) fn from_iso(byte: u8) -> Angle {
        Angle(u16::from(byte) * 45)
    }

    /// To the ISO 19794-2 byte, rounding to the nearest unit.
    pub(crate) fn to_iso(self) -> u8 {
        let step = (u32::from(self.0) + 22) / 45;
        (step % 256) as u8
    }

    /// From the ANSI 378 byte (units of 2 degrees, 0..=179).
    pub(crate) fn from_ansi(byte: u8, offset: usize) -> Result<Angle, Error> {
        if byte < 180 {
            Ok(Angle(u16::from(byte) * 64))
        } else {
            Err(Error::InvalidField {
                field: "minutia angle",
                offset,
                value: u64::from(byte),
                expected: "0..=179 in units of 2 degrees",
            })
        }
    }

    /// To the ANSI 378 byte, rounding to the nearest unit.
    pub(crate) fn to_ansi(self) -> u8 {
        let step = (u32::from(self.0) + 32) / 64;
        (step % 180) as u8
    }
}

/// What kind of ridge event a minutia is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MinutiaKind {
    /// Not determined (code 00).
    Other,
    /// A ridge ending (code 01).
    RidgeEnding,
    /// A ridge bifurcation (code 10).
    Bifurcation,
}

impl MinutiaKind {
    /// The 2-bit code of both standards.
    pub(crate) fn code(self) -> u16 {
        match self {
            MinutiaKind::Other => 0,
            MinutiaKind::RidgeEnding => 1,
            MinutiaKind::Bifurcation => 2,
        }
    }

    pub(crate) fn from_code(code: u16, offset: usize) -> Result<MinutiaKind, Error> {
        match code {
            0 => Ok(MinutiaKind::Other),
            1 => Ok(MinutiaKind::RidgeEnding),
            2 => Ok(MinutiaKind::Bifurcation),
            _ => Err(Error::InvalidField {
                field: "minutia type",
                offset,
                value: u64::from(code),
                expected: "00 other, 01 ridge ending or 10 bifurcation",
            }),
        }
    }
}

/// One minutia: position in pixels, direction, kind and quality (0–100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Minutia {
    /// Column in pixels from the left edge.
    pub x: u16,
    /// Row in pixels from the top edge.
    pub y: u16,
    /// Direction.
    pub angle: Angle,
    /// Kind of ridge event.
    pub kind: MinutiaKind,
    /// Quality 0–100 (0 when the producer does not report one); checked by [`Template::parse`].
    pub quality: u8,
}

/// Which finger a template comes from (the finger position codes of both standards).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FingerPosition {
    /// Unknown finger (0).
    Unknown,
    /// Right thumb (1).
    RightThumb,
    /// Right index (2).
    RightIndex,
    /// Right middle (3).
    RightMiddle,
    /// Right ring (4).
    RightRing,
    /// Right little (5).
    RightLittle,
    /// Left thumb (6).
    LeftThumb,
    /// Left index (7).
    LeftIndex,
    /// Left middle (8).
    LeftMiddle,
    /// Left ring (9).
    LeftRing,
    /// Left little (10).
    LeftLittle,
}

impl FingerPosition {
    const ALL: [FingerPosition; 11] = [
        FingerPosition::Unknown,
        FingerPosition::RightThumb,
        FingerPosition::RightIndex,
        FingerPosition::RightMiddle,
        FingerPosition::RightRing,
        FingerPosition::RightLittle,
        FingerPosition::LeftThumb,
        FingerPosition::LeftIndex,
        FingerPosition::LeftMiddle,
        FingerPosition::LeftRing,
        FingerPosition::LeftLittle,
    ];

    /// The standard's code, 0–10.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The finger for a standard code; codes above 10 are refused.
    pub fn parse(code: u8) -> Result<FingerPosition, Error> {
        FingerPosition::ALL
            .get(usize::from(code))
            .copied()
            .ok_or(Error::InvalidField {
                field: "finger position",
                offset: 0,
                value: u64::from(code),
                expected: "0..=10",
            })
    }
}

/// Size and resolution of the image a template was extracted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageGeometry {
    width: u16,
    height: u16,
    /// Horizontal resolution in pixels per centimetre (197 for 500 dpi).
    x_ppcm: u16,
    /// Vertical resolution in pixels per centimetre.
    y_ppcm: u16,
}

impl ImageGeometry {
    /// Check and build: sizes 1..=16383 (what 14-bit coordinates address), resolutions non-zero.
    pub fn parse(width: u16, height: u16, x_ppcm: u16, y_ppcm: u16) -> Result<Self, Error> {
        for (field, value) in [("image width", width), ("image height", height)] {
            if value == 0 || value > MAX_COORDINATE + 1 {
                return Err(Error::InvalidField {
                    field,
                    offset: 0,
                    value: u64::from(value),
                    expected: "1..=16384 pixels",
                });
            }
        }
        for (field, value) in [("x resolution", x_ppcm), ("y resolution", y_ppcm)] {
            if value == 0 {
                return Err(Error::InvalidField {
                    field,
                    offset: 0,
                    value: 0,
                    expected: "non-zero pixels per centimetre",
                });
            }
        }
        Ok(ImageGeometry {
            width,
            height,
            x_ppcm,
            y_ppcm,
        })
    }

    /// Geometry for an image at a resolution in dots per inch (the same in both directions).
    pub fn from_dpi(width: u16, height: u16, dpi: u16) -> Result<Self, Error> {
        let ppcm = (f64::from(dpi) / 2.54).round();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ppcm = ppcm as u16;
        ImageGeometry::parse(width, height, ppcm, ppcm)
    }

    /// Width in pixels.
    pub fn width(&self) -> u16 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u16 {
        self.height
    }
    /// Horizontal resolution in pixels per centimetre.
    pub fn x_ppcm(&self) -> u16 {
        self.x_ppcm
    }
    /// Vertical resolution in pixels per centimetre.
    pub fn y_ppcm(&self) -> u16 {
        self.y_ppcm
    }
    /// Mean resolution in dots per inch.
    pub fn dpi(&self) -> f64 {
        (f64::from(self.x_ppcm) + f64::from(self.y_ppcm)) / 2.0 * 2.54
    }
}

/// A vendor or standard extended-data block of a finger view, kept opaque so that records round-trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedData {
    /// Type identification code (1 ridge counts, 2 cores and deltas, 0x0100.. vendor); never 0.
    pub type_code: u16,
    /// The block's data, without its 4-byte header; at most 65531 bytes.
    pub data: Vec<u8>,
}

/// A validated minutiae template of one finger view: the minutiae, the image they lie in, and the
/// view's metadata.
///
/// Invariants: at least one minutia, at most 255 (one byte counts them in both standards); every
/// minutia inside the image and with quality at most 100; view number and impression type valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    geometry: ImageGeometry,
    finger: FingerPosition,
    view_number: u8,
    impression: u8,
    quality: u8,
    minutiae: Vec<Minutia>,
    extended: Vec<ExtendedData>,
}

/// The metadata of a finger view besides its minutiae.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewInfo {
    /// Which finger.
    pub finger: FingerPosition,
    /// View number 0–15 (several views of one finger in one record).
    pub view_number: u8,
    /// Impression type: 0 live-scan plain, 1 live-scan rolled, 2 non-live plain, 3 non-live
    /// rolled, 8 swipe, 9 contactless.
    pub impression: u8,
    /// Finger quality 0–100.
    pub quality: u8,
}

impl Default for ViewInfo {
    fn default() -> Self {
        ViewInfo {
            finger: FingerPosition::Unknown,
            view_number: 0,
            impression: 0,
            quality: 0,
        }
    }
}

/// Largest number of minutiae one view can hold (its count is one byte).
pub const MAX_MINUTIAE: usize = 255;

impl Template {
    /// Check every invariant and build a template.
    pub fn parse(
        geometry: ImageGeometry,
        info: ViewInfo,
        minutiae: Vec<Minutia>,
        extended: Vec<ExtendedData>,
    ) -> Result<Template, Error> {
        if info.view_number > 15 {
            return Err(invalid("view number", info.view_number, "0..=15"));
        }
        if !matches!(info.impression, 0..=3 | 8 | 9) {
            return Err(invalid(
                "impression type",
                info.impression,
                "0, 1, 2, 3, 8 or 9",
            ));
        }
        if info.quality > 100 {
            return Err(invalid("finger quality", info.quality, "0..=100"));
        }
        if minutiae.is_empty() {
            return Err(Error::NoMinutiae { view: 0 });
        }
        if minutiae.len() > MAX_MINUTIAE {
            return Err(Error::InvalidField {
                field: "number of minutiae",
                offset: 0,
                value: minutiae.len() as u64,
                expected: "at most 255",
            });
        }
        for (index, minutia) in minutiae.iter().enumerate() {
            if minutia.x >= geometry.width || minutia.y >= geometry.height {
                return Err(Error::MinutiaOutsideImage {
                    index,
                    x: minutia.x,
                    y: minutia.y,
                    width: geometry.width,
                    height: geometry.height,
                });
            }
            if minutia.quality > 100 {
                return Err(invalid("minutia quality", minutia.quality, "0..=100"));
            }
        }
        for block in &extended {
            if block.type_code == 0 {
                return Err(invalid("extended data type", 0, "non-zero type code"));
            }
            if block.data.len() > usize::from(u16::MAX) - 4 {
                return Err(Error::InvalidField {
                    field: "extended data length",
                    offset: 0,
                    value: block.data.len() as u64,
                    expected: "at most 65531 bytes",
                });
            }
        }
        Ok(Template {
            geometry,
            finger: info.finger,
            view_number: info.view_number,
            impression: info.impression,
            quality: info.quality,
            minutiae,
            extended,
        })
    }

    /// The image size and resolution.
    pub fn geometry(&self) -> ImageGeometry {
        self.geometry
    }
    /// The view's metadata.
    pub fn info(&self) -> ViewInfo {
        ViewInfo {
            finger: self.finger,
            view_number: self.view_number,
            impression: self.impression,
            quality: self.quality,
        }
    }
    /// The minutiae, never empty.
    pub fn minutiae(&self) -> &[Minutia] {
        &self.minutiae
    }
    /// The extended-data blocks.
    pub fn extended(&self) -> &[ExtendedData] {
        &self.extended
    }
}

fn invalid(field: &'static str, value: u8, expected: &'static str) -> Error {
    Error::InvalidField {
        field,
        offset: 0,
        value: u64::from(value),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_and_ansi_angles_are_exact() {
        for byte in 0..=255u8 {
            assert_eq!(Angle::from_iso(byte).to_iso(), byte);
        }
        for byte in 0..180u8 {
            let angle = Angle::from_ansi(byte, 0).unwrap();
            assert_eq!(angle.to_ansi(), byte);
            assert_eq!(angle.degrees(), f64::from(byte) * 2.0);
        }
        assert!(Angle::from_ansi(180, 7).is_err());
    }

    #[test]
    fn degrees_wrap_into_one_turn() {
        assert_eq!(Angle::from_degrees(-90.0).degrees(), 270.0);
        assert_eq!(Angle::from_degrees(720.0).units(), 0);
        assert_eq!(Angle::from_degrees(359.999).units(), 0);
        assert!(Angle::parse(ANGLE_UNITS_PER_TURN).is_err());
    }

    #[test]
    fn template_refuses_minutia_outside_image() {
        let geometry = ImageGeometry::from_dpi(10, 20, 500).unwrap();
        let minutia = Minutia {
            x: 10,
            y: 3,
            angle: Angle::default(),
            kind: MinutiaKind::RidgeEnding,
            quality: 50,
        };
        let error = Template::parse(geometry, ViewInfo::default(), vec![minutia], vec![])
            .unwrap_err()
            .to_string();
        assert_eq!(error, "minutia 0 at (10, 3) lies outside the 10x20 image");
        let error = Template::parse(geometry, ViewInfo::default(), vec![], vec![])
            .unwrap_err()
            .to_string();
        assert_eq!(error, "finger view 0 has no minutiae");
    }

    #[test]
    fn geometry_from_dpi() {
        let geometry = ImageGeometry::from_dpi(296, 560, 500).unwrap();
        assert_eq!(geometry.x_ppcm(), 197);
        assert!(ImageGeometry::from_dpi(0, 560, 500).is_err());
        assert!(ImageGeometry::from_dpi(10, 10, 0).is_err());
    }
}
