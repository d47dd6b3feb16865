//! Photo decoding with bounds: the file size and the pixel count are checked from the header before
//! any pixel buffer is allocated, so a 50-megapixel photo or a decompression bomb is refused with a
//! precise error in bounded memory.

use std::io::Cursor;

use image::{ImageReader, Limits, RgbImage};

use crate::FaceError;

/// Largest photo file accepted, in bytes (20 MiB).
pub const MAX_PHOTO_BYTES: usize = 20 * 1024 * 1024;
/// Largest photo accepted, in megapixels: a 24-megapixel camera photo passes, 50 megapixels does not.
pub const MAX_PHOTO_MEGAPIXELS: u32 = 25;
/// Smallest photo side accepted, in pixels.
pub const MIN_PHOTO_SIDE: u32 = 64;

/// Decode a JPEG or PNG photo to 8-bit RGB.
pub fn decode_photo(bytes: &[u8]) -> Result<RgbImage, FaceError> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(FaceError::FileTooLarge {
            bytes: bytes.len(),
            limit: MAX_PHOTO_BYTES,
        });
    }
    let not_image = |e: &dyn std::fmt::Display| FaceError::NotAnImage {
        reason: e.to_string(),
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| not_image(&e))?;
    if reader.format().is_none() {
        return Err(FaceError::NotAnImage {
            reason: "neither JPEG nor PNG (unknown file signature)".to_string(),
        });
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        check_jpeg_complete(bytes)?;
    }
    let (width, height) = reader.into_dimensions().map_err(|e| not_image(&e))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > u64::from(MAX_PHOTO_MEGAPIXELS) * 1_000_000 {
        return Err(FaceError::TooManyPixels {
            width,
            height,
            megapixels: pixels as f64 / 1e6,
            limit_megapixels: MAX_PHOTO_MEGAPIXELS,
        });
    }
    if width.min(height) < MIN_PHOTO_SIDE {
        return Err(FaceError::TooFewPixels {
            width,
            height,
            min: MIN_PHOTO_SIDE,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| not_image(&e))?;
    // The header check above bounds honest files; the limits bound lying ones.
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(u64::from(MAX_PHOTO_MEGAPIXELS) * 1_000_000 * 8);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| not_image(&e))?;
    Ok(image.into_rgb8())
}

/// A JPEG cut short decodes without complaint (the decoder fills the rest with grey), so the
/// end-of-image marker must follow the last start-of-scan marker (markers cannot occur inside the
/// entropy-coded data, where 0xFF is always followed by 0x00 or a restart marker).
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), FaceError> {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (last(0xDA), last(0xD9)) {
        (Some(scan), Some(end)) if end > scan => Ok(()),
        (None, _) => Err(FaceError::NotAnImage {
            reason: "JPEG has no image data (no start-of-scan marker)".to_string(),
        }),
        _ => Err(FaceError::NotAnImage {
            reason: format!(
                "JPEG truncated: {} bytes and no end-of-image marker after the image data (incomplete upload?)",
                bytes.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_pixel(width, height, image::Rgb([120, 90, 60]));
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    }

    #[test]
    fn decodes_png_and_jpeg() {
        assert_eq!(decode_photo(&png(100, 80)).unwrap().dimensions(), (100, 80));
        assert_eq!(decode_photo(&jpeg(90, 70)).unwrap().dimensions(), (90, 70));
    }

    #[test]
    fn refuses_text() {
        let error = decode_photo(b"hello, I am not a photo").unwrap_err();
        assert!(matches!(error, FaceError::NotAnImage { .. }), "{error}");
    }

    #[test]
    fn refuses_truncated_jpeg() {
        let bytes = jpeg(200, 200);
        let error = decode_photo(&bytes[..bytes.len() / 3]).unwrap_err();
        assert!(error.to_string().contains("JPEG truncated"), "{error}");
    }

    #[test]
    fn refuses_fifty_megapixels_from_the_header() {
        // A JPEG whose frame header claims 10000 x 5000 pixels; the body is never decoded.
        let mut bytes = jpeg(64, 64);
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bytes[sof + 5..sof + 7].copy_from_slice(&5_000u16.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&10_000u16.to_be_bytes());
        let error = decode_photo(&bytes).unwrap_err();
        assert_eq!(
            error.to_string(),
            "photo is 10000x5000 pixels (50.0 megapixels); the limit is 25 megapixels: send a smaller photo"
        );
    }

    #[test]
    fn refuses_tiny_photo() {
        let error = decode_photo(&png(20, 20)).unwrap_err();
        assert!(matches!(error, FaceError::TooFewPixels { .. }), "{error}");
    }
}
