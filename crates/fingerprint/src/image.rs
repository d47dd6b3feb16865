//! Fingerprint images: WSQ, PNG, TIFF and BMP decoded into 8-bit grayscale with size and depth checks
//! made before the pixels are allocated.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::Error;

/// Smallest side accepted: below this no finger area of 500 dpi is large enough to match.
pub const MIN_IMAGE_SIDE: u32 = 64;
/// Largest side accepted: 4096 pixels is 8 inches at 500 dpi, far more than one finger.
pub const MAX_IMAGE_SIDE: u32 = 4096;
/// Largest file accepted, to bound memory before decoding.
pub const MAX_IMAGE_FILE_BYTES: u64 = 64 << 20;

/// An 8-bit grayscale fingerprint image (0 black ridge, 255 white background) with its resolution.
///
/// Invariant: `pixels.len() == width * height`, both sides within
/// [`MIN_IMAGE_SIDE`]..=[`MAX_IMAGE_SIDE`], `dpi` non-zero.
#[derive(Clone, PartialEq, Eq)]
pub struct FingerImage {
    width: u32,
    height: u32,
    dpi: u16,
    pixels: Vec<u8>,
}

impl std::fmt::Debug for FingerImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FingerImage {{ {}x{} @ {} dpi }}",
            self.width, self.height, self.dpi
        )
    }
}

impl FingerImage {
    /// Wrap raw row-major 8-bit grayscale pixels, checking size and buffer length.
    pub fn parse(width: u32, height: u32, dpi: u16, pixels: Vec<u8>) -> Result<FingerImage, Error> {
        check_size(width, height)?;
        if dpi == 0 {
            return Err(Error::InvalidField {
                field: "image resolution",
                offset: 0,
                value: 0,
                expected: "non-zero dots per inch",
            });
        }
        let expected = u64::from(width) * u64::from(height);
        if pixels.len() as u64 != expected {
            return Err(Error::ImageSize {
                width,
                height,
                reason: "pixel buffer length differs from width x height",
            });
        }
        Ok(FingerImage {
            width,
            height,
            dpi,
            pixels,
        })
    }

    /// Decode a WSQ, PNG, TIFF or BMP file held in memory (WSQ recognised by its `FF A0` start). Image files rarely carry a trustworthy
    /// resolution, so the caller states it (500 for most scanners, 569 for FVC2002 DB2).
    pub fn decode(bytes: &[u8], dpi: u16) -> Result<FingerImage, Error> {
        // WSQ starts with its SOI marker.
        if bytes.starts_with(&[0xFF, 0xA0]) {
            let image = crate::wsq::decode(bytes, check_size)?;
            return FingerImage::parse(image.width, image.height, dpi, image.pixels);
        }
        let guessed = || {
            ImageReader::new(Cursor::new(bytes))
                .with_guessed_format()
                .map_err(|e| Error::ImageDecode {
                    reason: e.to_string(),
                })
        };
        let reader = guessed()?;
        let format = reader.format().ok_or_else(|| Error::ImageDecode {
            reason: "unknown image format (expected PNG, TIFF or BMP)".to_owned(),
        })?;
        if !matches!(
            format,
            ImageFormat::Png | ImageFormat::Tiff | ImageFormat::Bmp
        ) {
            return Err(Error::ImageDecode {
                reason: format!("{format:?} is not a fingerprint image format (PNG, TIFF, BMP)"),
            });
        }
        // Read the header alone first, so a huge declared size is refused before any allocation.
        let (width, height) = reader.into_dimensions().map_err(|e| Error::ImageDecode {
            reason: e.to_string(),
        })?;
        check_size(width, height)?;
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_IMAGE_SIDE);
        limits.max_image_height = Some(MAX_IMAGE_SIDE);
        // RGBA at 16 bits per channel is the widest a decoder may need for the accepted sizes.
        limits.max_alloc = Some(u64::from(MAX_IMAGE_SIDE) * u64::from(MAX_IMAGE_SIDE) * 8);
        let mut reader = guessed()?;
        reader.limits(limits);
        let decoded = reader.decode().map_err(|e| Error::ImageDecode {
            reason: e.to_string(),
        })?;
        let pixels = to_gray8(decoded)?;
        FingerImage::parse(width, height, dpi, pixels)
    }

    /// Read and decode an image file (WSQ, PNG, TIFF, BMP).
    pub fn open(path: &Path, dpi: u16) -> Result<FingerImage, Error> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_IMAGE_FILE_BYTES {
            return Err(Error::ImageDecode {
                reason: format!(
                    "file of {len} bytes is above the {MAX_IMAGE_FILE_BYTES}-byte limit"
                ),
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        FingerImage::decode(&bytes, dpi)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Resolution in dots per inch.
    pub fn dpi(&self) -> u16 {
        self.dpi
    }
    /// Row-major pixels, one byte each.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
}

fn check_size(width: u32, height: u32) -> Result<(), Error> {
    let reason = if width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE {
        "a side is below 64 pixels"
    } else if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        "a side is above 4096 pixels"
    } else {
        return Ok(());
    };
    Err(Error::ImageSize {
        width,
        height,
        reason,
    })
}

/// Reduce to 8-bit gray. Colour files are accepted only when every pixel is gray (scanner tools
/// often save gray prints as RGB or RGBA); a truly coloured image or a 16-bit one is refused
/// rather than silently converted, since either means the file is not what the caller thinks.
fn to_gray8(decoded: DynamicImage) -> Result<Vec<u8>, Error> {
    match decoded {
        DynamicImage::ImageLuma8(gray) => Ok(gray.into_raw()),
        DynamicImage::ImageLumaA8(gray) => Ok(gray.pixels().map(|p| p.0[0]).collect()),
        DynamicImage::ImageRgb8(rgb) => {
            if rgb.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]) {
                Ok(rgb.pixels().map(|p| p.0[0]).collect())
            } else {
                Err(Error::PixelFormat {
                    found: "RGB colour".to_owned(),
                })
            }
        }
        DynamicImage::ImageRgba8(rgba) => {
            if rgba.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]) {
                Ok(rgba.pixels().map(|p| p.0[0]).collect())
            } else {
                Err(Error::PixelFormat {
                    found: "RGBA colour".to_owned(),
                })
            }
        }
        other => Err(Error::PixelFormat {
            found: format!("{:?}", other.color()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, color: image::ExtendedColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut out),
            data,
            width,
            height,
            color,
        )
        .unwrap();
        out
    }

    #[test]
    fn gray_png_is_read() {
        let data: Vec<u8> = (0..100 * 80).map(|i| (i % 251) as u8).collect();
        let image =
            FingerImage::decode(&png(100, 80, image::ExtendedColorType::L8, &data), 500).unwrap();
        assert_eq!((image.width(), image.height()), (100, 80));
        assert_eq!(image.pixels(), &data[..]);
    }

    #[test]
    fn wrong_size_and_depth_are_refused() {
        let small = png(10, 80, image::ExtendedColorType::L8, &[0; 800]);
        assert_eq!(
            FingerImage::decode(&small, 500).unwrap_err().to_string(),
            "image of 10x80 pixels refused: a side is below 64 pixels"
        );
        let deep = png(64, 64, image::ExtendedColorType::L16, &[0; 64 * 64 * 2]);
        assert_eq!(
            FingerImage::decode(&deep, 500).unwrap_err().to_string(),
            "unsupported pixel format L16: expected 8-bit grayscale (or RGB/RGBA of gray)"
        );
        let mut colour = vec![0u8; 64 * 64 * 3];
        colour[0] = 9;
        let colour = png(64, 64, image::ExtendedColorType::Rgb8, &colour);
        assert!(matches!(
            FingerImage::decode(&colour, 500),
            Err(Error::PixelFormat { .. })
        ));
        assert!(matches!(
            FingerImage::decode(b"not an image", 500),
            Err(Error::ImageDecode { .. })
        ));
    }
}
