//! Fingerprint images: WSQ, PNG, TIFF and BMP decoded into 8-bit grayscale with size and depth checks
//! made before the pixels are allocated.
//!
//! Palette TIFFs (photometric interpretation 3, a colour map of 256 entries indexed by 8-bit pixels) are
//! what some scanner SDKs write for gray prints (the Neurotechnology samples of the U.are.U 4000 and
//! CrossMatch Verifier 300 scanners are such files). `tiff` 0.11 refuses every palette image, so here the
//! file's photometric tag is read as 1 (gray) in a copy, its pixels are decoded as indices, and each is
//! mapped through the colour map; an entry that is not gray is refused like any colour image.

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

    /// Decode a WSQ, PNG, TIFF (palette TIFFs of gray too) or BMP file held in memory (WSQ recognised by its `FF A0` start). Image files rarely carry a trustworthy
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
        if let Some(palette) = tiff_gray_palette(bytes)? {
            return decode_palette(bytes, dpi, &palette);
        }
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

/// Gray level of each palette entry (`None`: a colour) when `bytes` are a TIFF whose first image is a palette
/// image, `None` when they are not (another format, or a TIFF of another kind).
fn tiff_gray_palette(bytes: &[u8]) -> Result<Option<Vec<Option<u8>>>, Error> {
    use tiff::tags::Tag;
    if !(bytes.starts_with(b"II") || bytes.starts_with(b"MM")) {
        return Ok(None);
    }
    let failed = |e: tiff::TiffError| Error::ImageDecode {
        reason: format!("TIFF: {e}"),
    };
    // (The reader's default limits bound what it reads of the directory: 1 MiB a value.)
    let Ok(mut decoder) = tiff::decoder::Decoder::new(Cursor::new(bytes)) else {
        // Not a TIFF the reader opens: the general path reports why.
        return Ok(None);
    };
    if decoder
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .map_err(failed)?
        != Some(3)
    {
        return Ok(None);
    }
    let bits = decoder
        .find_tag_unsigned_vec::<u16>(Tag::BitsPerSample)
        .map_err(failed)?
        .unwrap_or_else(|| vec![1]);
    let samples = decoder
        .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
        .map_err(failed)?
        .unwrap_or(1);
    if bits != [8] || samples != 1 {
        return Err(Error::PixelFormat {
            found: format!(
                "TIFF palette of {bits:?} bits in {samples} samples a pixel (8 bits in 1 expected)"
            ),
        });
    }
    let map = decoder
        .find_tag_unsigned_vec::<u16>(Tag::ColorMap)
        .map_err(failed)?
        .unwrap_or_default();
    if map.len() != 3 * 256 {
        return Err(Error::ImageDecode {
            reason: format!(
                "TIFF palette image with a colour map of {} values (768 expected: red, green and blue of 256 entries)",
                map.len()
            ),
        });
    }
    let (red, rest) = map.split_at(256);
    let (green, blue) = rest.split_at(256);
    Ok(Some(
        (0..256)
            .map(|i| {
                // 16-bit map values to 8 bits, rounded (k × 257 is k).
                (red[i] == green[i] && green[i] == blue[i])
                    .then(|| ((u32::from(red[i]) * 255 + 32_767) / 65_535) as u8)
            })
            .collect(),
    ))
}

/// Decode a palette TIFF: its pixels read as gray indices from a copy whose photometric interpretation says
/// gray, then mapped through `palette`.
fn decode_palette(bytes: &[u8], dpi: u16, palette: &[Option<u8>]) -> Result<FingerImage, Error> {
    let mut copy = bytes.to_vec();
    set_first_photometric(&mut copy, 1)?;
    let indices = FingerImage::decode(&copy, dpi)?;
    let mut pixels = indices.pixels;
    for pixel in &mut pixels {
        *pixel = palette[usize::from(*pixel)].ok_or_else(|| Error::PixelFormat {
            found: "TIFF palette of colours".to_owned(),
        })?;
    }
    FingerImage::parse(indices.width, indices.height, dpi, pixels)
}

/// Set the photometric interpretation (tag 262, one SHORT) of a TIFF's first image in place, classic or
/// BigTIFF, either byte order.
fn set_first_photometric(tiff: &mut [u8], value: u16) -> Result<(), Error> {
    let malformed = |what: &str| Error::ImageDecode {
        reason: format!("TIFF: {what}"),
    };
    let little = tiff.starts_with(b"II");
    // The unsigned integer of `width` bytes at `at`, in the file's byte order.
    let uint_at = |b: &[u8], at: usize, width: usize| -> Option<u64> {
        let bytes = b.get(at..at.checked_add(width)?)?;
        let fold = |v: u64, &x: &u8| v << 8 | u64::from(x);
        Some(if little {
            bytes.iter().rev().fold(0, fold)
        } else {
            bytes.iter().fold(0, fold)
        })
    };
    let outside = || malformed("first directory outside the file");
    // (first entry, entry count, entry size, offset of the value within an entry)
    let (first, count, size, value_at) = match uint_at(tiff, 2, 2) {
        Some(42) => {
            let ifd = uint_at(tiff, 4, 4).ok_or_else(outside)? as usize;
            let count = uint_at(tiff, ifd, 2).ok_or_else(outside)?;
            (ifd + 2, count, 12, 8)
        }
        Some(43) => {
            let ifd = uint_at(tiff, 8, 8).ok_or_else(outside)?;
            let ifd = usize::try_from(ifd).map_err(|_| outside())?;
            let count = uint_at(tiff, ifd, 8).ok_or_else(outside)?;
            (ifd + 8, count, 20, 12)
        }
        _ => return Err(malformed("not a TIFF header")),
    };
    // (The directory's count was read within the file, so `first` does not overflow; an entry
    // past the end ends the search.)
    for entry in 0..count.min(tiff.len() as u64) as usize {
        let Some(at) = entry.checked_mul(size).and_then(|o| o.checked_add(first)) else {
            break;
        };
        let Some(tag) = uint_at(tiff, at, 2) else {
            break;
        };
        if tag == 262 {
            // One SHORT, held in the entry itself.
            if uint_at(tiff, at + 2, 2) != Some(3) {
                return Err(malformed("photometric interpretation is not a SHORT"));
            }
            let bytes = if little {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            };
            let slot = tiff
                .get_mut(at + value_at..at + value_at + 2)
                .ok_or_else(|| malformed("directory entry cut short"))?;
            slot.copy_from_slice(&bytes);
            return Ok(());
        }
    }
    Err(malformed(
        "no photometric interpretation in the first directory",
    ))
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

    /// A palette TIFF written by hand (uncompressed, one strip): `bits` per pixel, a colour map of
    /// `map.len() / 3` entries (red, then green, then blue), either byte order.
    fn palette_tiff(
        width: u16,
        height: u16,
        bits: u16,
        map: &[u16],
        pixels: &[u8],
        big: bool,
    ) -> Vec<u8> {
        let u16b = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let entries = 10u32;
        let map_at = 8 + 2 + 12 * entries + 4;
        let data_at = map_at + 2 * map.len() as u32;
        let mut out = Vec::new();
        out.extend_from_slice(if big { b"MM" } else { b"II" });
        out.extend_from_slice(&u16b(42));
        out.extend_from_slice(&u32b(8));
        out.extend_from_slice(&u16b(entries as u16));
        let mut entry = |tag: u16, kind: u16, count: u32, value: u32| {
            out.extend_from_slice(&u16b(tag));
            out.extend_from_slice(&u16b(kind));
            out.extend_from_slice(&u32b(count));
            if kind == 3 && count == 1 {
                out.extend_from_slice(&u16b(value as u16));
                out.extend_from_slice(&[0, 0]);
            } else {
                out.extend_from_slice(&u32b(value));
            }
        };
        entry(256, 3, 1, u32::from(width));
        entry(257, 3, 1, u32::from(height));
        entry(258, 3, 1, u32::from(bits));
        entry(259, 3, 1, 1);
        entry(262, 3, 1, 3);
        entry(273, 4, 1, data_at);
        entry(277, 3, 1, 1);
        entry(278, 3, 1, u32::from(height));
        entry(279, 4, 1, pixels.len() as u32);
        entry(320, 3, map.len() as u32, map_at);
        out.extend_from_slice(&u32b(0));
        for &value in map {
            out.extend_from_slice(&u16b(value));
        }
        out.extend_from_slice(pixels);
        out
    }

    /// A colour map of 256 entries, `entry(i)` giving (red, green, blue) in 16 bits.
    fn colour_map(entry: impl Fn(u16) -> [u16; 3]) -> Vec<u16> {
        let entry = &entry;
        (0..3)
            .flat_map(|c| (0..256u16).map(move |i| entry(i)[c]))
            .collect()
    }

    #[test]
    fn a_palette_tiff_of_gray_is_read_through_its_colour_map() {
        // A reversed gray map, as scanner SDKs write some: index i is gray 255 − i.
        let gray = colour_map(|i| [(255 - i) * 257; 3]);
        let indices: Vec<u8> = (0..100 * 80).map(|i| (i % 253) as u8).collect();
        for big in [false, true] {
            let image =
                FingerImage::decode(&palette_tiff(100, 80, 8, &gray, &indices, big), 500).unwrap();
            assert_eq!((image.width(), image.height()), (100, 80));
            let expected: Vec<u8> = indices.iter().map(|&i| 255 - i).collect();
            assert_eq!(image.pixels(), &expected[..]);
        }
        // A map with colours is read where the pixels use only its gray entries, and refused where
        // they use a colour.
        let mixed = colour_map(|i| {
            if i < 200 {
                [i * 257; 3]
            } else {
                [65_535, 0, 0]
            }
        });
        let image = FingerImage::decode(&palette_tiff(100, 80, 8, &mixed, &indices, false), 500);
        assert!(matches!(image, Err(Error::PixelFormat { .. })));
        let low: Vec<u8> = indices.iter().map(|&i| i % 200).collect();
        let image =
            FingerImage::decode(&palette_tiff(100, 80, 8, &mixed, &low, false), 500).unwrap();
        assert_eq!(image.pixels(), &low[..]);
        assert_eq!(
            FingerImage::decode(&palette_tiff(100, 80, 8, &mixed, &indices, false), 500)
                .unwrap_err()
                .to_string(),
            "unsupported pixel format TIFF palette of colours: expected 8-bit grayscale (or RGB/RGBA of gray)"
        );
        // Four bits a pixel, and a colour map of the wrong length, are refused by name.
        let error = FingerImage::decode(
            &palette_tiff(100, 80, 4, &gray, &indices[..4000], false),
            500,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("TIFF palette of [4] bits in 1 samples"),
            "{error}"
        );
        let error =
            FingerImage::decode(&palette_tiff(100, 80, 8, &gray[..48], &indices, false), 500)
                .unwrap_err()
                .to_string();
        assert!(error.contains("colour map of 48 values"), "{error}");
        // Cut short in its pixels: the decoder's error, no panic.
        let whole = palette_tiff(100, 80, 8, &gray, &indices, false);
        assert!(matches!(
            FingerImage::decode(&whole[..whole.len() - 10], 500),
            Err(Error::ImageDecode { .. })
        ));
    }

    #[test]
    fn the_photometric_tag_is_found_in_bigtiff_and_bad_directories_are_refused() {
        // BigTIFF, big-endian: header (8-byte offset of the directory), then 2 entries of 20 bytes.
        let mut big = Vec::new();
        big.extend_from_slice(b"MM");
        big.extend_from_slice(&43u16.to_be_bytes());
        big.extend_from_slice(&8u16.to_be_bytes());
        big.extend_from_slice(&0u16.to_be_bytes());
        big.extend_from_slice(&16u64.to_be_bytes());
        big.extend_from_slice(&2u64.to_be_bytes());
        for (tag, value) in [(256u16, 64u16), (262, 3)] {
            big.extend_from_slice(&tag.to_be_bytes());
            big.extend_from_slice(&3u16.to_be_bytes());
            big.extend_from_slice(&1u64.to_be_bytes());
            big.extend_from_slice(&value.to_be_bytes());
            big.extend_from_slice(&[0; 6]);
        }
        set_first_photometric(&mut big, 1).unwrap();
        assert_eq!(big[24 + 20 + 12..24 + 20 + 14], 1u16.to_be_bytes());
        assert_eq!(big[24 + 12..24 + 14], 64u16.to_be_bytes());
        let refused = |mut bytes: Vec<u8>| {
            set_first_photometric(&mut bytes, 1)
                .unwrap_err()
                .to_string()
        };
        let mut no_tag = big.clone();
        no_tag[24 + 20..24 + 22].copy_from_slice(&263u16.to_be_bytes());
        assert!(refused(no_tag).contains("no photometric interpretation"));
        let mut far = big.clone();
        far[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(refused(far).contains("first directory outside the file"));
        let mut long = big.clone();
        long[24 + 20 + 2..24 + 20 + 4].copy_from_slice(&4u16.to_be_bytes());
        assert!(refused(long).contains("not a SHORT"));
        assert!(refused(b"II*".to_vec()).contains("not a TIFF header"));
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
