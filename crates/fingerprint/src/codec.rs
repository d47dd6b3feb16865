//! Finger minutiae record codecs: ISO/IEC 19794-2:2005 and ANSI/INCITS 378-2004, decoded strictly
//! (every field checked, every malformed record a precise [`Error`]) and encoded byte-exactly.
//!
//! The two formats share their finger-view and minutia layout and differ in three places: the ANSI
//! header carries a 2-or-6-byte record length and a CBEFF product identifier (26 bytes instead of
//! ISO's 24), and ANSI angles are in 2-degree units where ISO uses 360/256 degree.

use crate::Error;
use crate::template::{
    Angle, ExtendedData, FingerPosition, ImageGeometry, Minutia, MinutiaKind, Template, ViewInfo,
};

/// Largest record the decoders accept: 255 views of 255 minutiae with 64 KiB extended data each
/// fit in 17 MB, but no real record comes near; refusing bigger ones bounds memory.
pub const MAX_RECORD_LEN: usize = 1 << 20;

const MAGIC: [u8; 4] = *b"FMR\0";
const VERSION: [u8; 4] = *b" 20\0";

/// Which standard a record follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// ISO/IEC 19794-2:2005.
    Iso19794_2_2005,
    /// ANSI/INCITS 378-2004.
    Ansi378_2004,
}

/// A finger minutiae record: header fields and one or more finger views sharing one image geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinutiaeRecord {
    /// Capture equipment: 4-bit compliance (high bits) and 12-bit equipment id.
    pub capture_equipment: u16,
    /// CBEFF product identifier (owner, type); ANSI only, 0 for ISO records.
    pub product_id: u32,
    views: Vec<Template>,
}

impl MinutiaeRecord {
    /// Build a record; views must be non-empty (at most 255) and share one image geometry.
    pub fn parse(
        capture_equipment: u16,
        product_id: u32,
        views: Vec<Template>,
    ) -> Result<MinutiaeRecord, Error> {
        let first = views.first().ok_or(Error::NoFingerViews)?.geometry();
        if views.len() > 255 {
            return Err(Error::InvalidField {
                field: "number of finger views",
                offset: 0,
                value: views.len() as u64,
                expected: "at most 255",
            });
        }
        if let Some(view) = views.iter().position(|v| v.geometry() != first) {
            return Err(Error::MixedGeometry { view });
        }
        Ok(MinutiaeRecord {
            capture_equipment,
            product_id,
            views,
        })
    }

    /// The finger views, never empty.
    pub fn views(&self) -> &[Template] {
        &self.views
    }

    /// The views, consumed.
    pub fn into_views(self) -> Vec<Template> {
        self.views
    }

    /// Decode an ISO/IEC 19794-2:2005 record that fills `bytes` exactly.
    pub fn decode_iso(bytes: &[u8]) -> Result<MinutiaeRecord, Error> {
        decode(bytes, RecordFormat::Iso19794_2_2005, false)
    }

    /// Decode an ANSI/INCITS 378-2004 record that fills `bytes` exactly.
    pub fn decode_ansi(bytes: &[u8]) -> Result<MinutiaeRecord, Error> {
        decode(bytes, RecordFormat::Ansi378_2004, false)
    }

    /// Decode a record followed only by zero bytes, as SDKs that write into fixed-size buffers
    /// produce (the SourceAFIS samples are 263-byte records padded to 384). Any non-zero byte after
    /// the record is still an error.
    pub fn decode_zero_padded(bytes: &[u8], format: RecordFormat) -> Result<MinutiaeRecord, Error> {
        decode(bytes, format, true)
    }

    /// Encode in the given format. ANSI angles are rounded to 2 degrees, ISO angles to 360/256.
    pub fn encode(&self, format: RecordFormat) -> Vec<u8> {
        let geometry = self.views.first().map(Template::geometry);
        let mut body = Vec::new();
        for view in &self.views {
            let info = view.info();
            body.push(info.finger.code());
            body.push((info.view_number << 4) | info.impression);
            body.push(info.quality);
            // Template::parse guarantees 1..=255 minutiae.
            body.push(view.minutiae().len() as u8);
            for m in view.minutiae() {
                body.extend_from_slice(&((m.kind.code() << 14) | m.x).to_be_bytes());
                body.extend_from_slice(&m.y.to_be_bytes());
                body.push(match format {
                    RecordFormat::Iso19794_2_2005 => m.angle.to_iso(),
                    RecordFormat::Ansi378_2004 => m.angle.to_ansi(),
                });
                body.push(m.quality);
            }
            let extended_len: usize = view.extended().iter().map(|b| 4 + b.data.len()).sum();
            // A view's blocks together must fit the 16-bit length; Template::parse bounds each one,
            // so clamp rather than wrap if a caller stacked several large ones (decoding then fails
            // loudly instead of misreading).
            body.extend_from_slice(&(extended_len.min(usize::from(u16::MAX)) as u16).to_be_bytes());
            for block in view.extended() {
                body.extend_from_slice(&block.type_code.to_be_bytes());
                body.extend_from_slice(&((block.data.len() + 4) as u16).to_be_bytes());
                body.extend_from_slice(&block.data);
            }
        }
        let mut out = Vec::with_capacity(body.len() + 30);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION);
        match format {
            RecordFormat::Iso19794_2_2005 => {
                let total = 24 + body.len();
                out.extend_from_slice(&(total as u32).to_be_bytes());
            }
            RecordFormat::Ansi378_2004 => {
                let short_total = 26 + body.len();
                if short_total <= usize::from(u16::MAX) {
                    out.extend_from_slice(&(short_total as u16).to_be_bytes());
                } else {
                    out.extend_from_slice(&[0, 0]);
                    out.extend_from_slice(&((short_total + 4) as u32).to_be_bytes());
                }
                out.extend_from_slice(&self.product_id.to_be_bytes());
            }
        }
        out.extend_from_slice(&self.capture_equipment.to_be_bytes());
        if let Some(g) = geometry {
            for value in [g.width(), g.height(), g.x_ppcm(), g.y_ppcm()] {
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
        out.push(self.views.len() as u8);
        out.push(0);
        out.extend_from_slice(&body);
        out
    }
}

/// A bounds-checked big-endian reader that names the field it failed on.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], Error> {
        let available = self.bytes.len().saturating_sub(self.offset);
        if available < n {
            return Err(Error::Truncated {
                field,
                offset: self.offset,
                needed: n,
                available,
            });
        }
        let slice = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(slice)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(self.take(field, 1)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        let b = self.take(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        let b = self.take(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn array4(&mut self, field: &'static str) -> Result<[u8; 4], Error> {
        let b = self.take(field, 4)?;
        Ok([b[0], b[1], b[2], b[3]])
    }
}

fn at(field: &'static str, offset: usize, value: u64, expected: &'static str) -> Error {
    Error::InvalidField {
        field,
        offset,
        value,
        expected,
    }
}

/// Re-anchor a validation error from [`Template::parse`] or [`ImageGeometry::parse`] (which knows
/// no offsets) at the byte offset where the offending field was read.
fn with_offset(error: Error, offset: usize, view: usize) -> Error {
    match error {
        Error::InvalidField {
            field,
            value,
            expected,
            ..
        } => Error::InvalidField {
            field,
            offset,
            value,
            expected,
        },
        Error::NoMinutiae { .. } => Error::NoMinutiae { view },
        other => other,
    }
}

fn decode(
    bytes: &[u8],
    format: RecordFormat,
    allow_zero_padding: bool,
) -> Result<MinutiaeRecord, Error> {
    let mut r = Reader { bytes, offset: 0 };
    let magic = r.array4("format identifier")?;
    if magic != MAGIC {
        return Err(Error::BadFormatIdentifier { found: magic });
    }
    let version = r.array4("version")?;
    if version != VERSION {
        return Err(Error::UnsupportedVersion { found: version });
    }
    let (declared, header_len, product_id) = match format {
        RecordFormat::Iso19794_2_2005 => (u64::from(r.u32("record length")?), 24usize, 0u32),
        RecordFormat::Ansi378_2004 => {
            let short = r.u16("record length")?;
            let (declared, header_len) = if short == 0 {
                (u64::from(r.u32("extended record length")?), 30)
            } else {
                (u64::from(short), 26)
            };
            (declared, header_len, r.u32("CBEFF product identifier")?)
        }
    };
    if declared < header_len as u64 {
        return Err(Error::RecordLength {
            declared,
            reason: "shorter than the record header",
        });
    }
    if declared > MAX_RECORD_LEN as u64 {
        return Err(Error::RecordLength {
            declared,
            reason: "above the 1 MiB limit",
        });
    }
    // The declared length is at most 1 MiB here, so it fits usize on every platform.
    let record_len = declared as usize;
    if bytes.len() < record_len {
        return Err(Error::Truncated {
            field: "record",
            offset: 0,
            needed: record_len,
            available: bytes.len(),
        });
    }
    if bytes.len() > record_len {
        let tail = &bytes[record_len..];
        if !(allow_zero_padding && tail.iter().all(|&b| b == 0)) {
            return Err(Error::TrailingBytes {
                record_len,
                extra: tail.len(),
            });
        }
    }
    // From here on only the record itself is read: a view cannot run into the padding.
    let mut r = Reader {
        bytes: &bytes[..record_len],
        offset: r.offset,
    };
    let capture_equipment = r.u16("capture equipment")?;
    let geometry_offset = r.offset;
    let width = r.u16("image width")?;
    let height = r.u16("image height")?;
    let x_ppcm = r.u16("x resolution")?;
    let y_ppcm = r.u16("y resolution")?;
    let geometry = ImageGeometry::parse(width, height, x_ppcm, y_ppcm).map_err(|e| {
        let field_offset = match &e {
            Error::InvalidField {
                field: "image height",
                ..
            } => geometry_offset + 2,
            Error::InvalidField {
                field: "x resolution",
                ..
            } => geometry_offset + 4,
            Error::InvalidField {
                field: "y resolution",
                ..
            } => geometry_offset + 6,
            _ => geometry_offset,
        };
        with_offset(e, field_offset, 0)
    })?;
    let n_views = r.u8("number of finger views")?;
    if n_views == 0 {
        return Err(Error::NoFingerViews);
    }
    let reserved_offset = r.offset;
    let reserved = r.u8("reserved header byte")?;
    if reserved != 0 {
        return Err(at(
            "reserved header byte",
            reserved_offset,
            u64::from(reserved),
            "0",
        ));
    }
    let mut views = Vec::with_capacity(usize::from(n_views));
    for view_idx in 0..usize::from(n_views) {
        let finger_offset = r.offset;
        let finger_code = r.u8("finger position")?;
        let finger = FingerPosition::parse(finger_code)
            .map_err(|e| with_offset(e, finger_offset, view_idx))?;
        let view_offset = r.offset;
        let view_byte = r.u8("view number and impression type")?;
        let quality_offset = r.offset;
        let quality = r.u8("finger quality")?;
        let count = r.u8("number of minutiae")?;
        let mut minutiae = Vec::with_capacity(usize::from(count));
        for index in 0..usize::from(count) {
            let minutia_offset = r.offset;
            let type_x = r.u16("minutia type and x")?;
            let y_word = r.u16("minutia y")?;
            let angle_offset = r.offset;
            let angle_byte = r.u8("minutia angle")?;
            let quality_offset = r.offset;
            let minutia_quality = r.u8("minutia quality")?;
            let kind = MinutiaKind::from_code(type_x >> 14, minutia_offset)?;
            if y_word >> 14 != 0 {
                return Err(at(
                    "minutia reserved bits",
                    minutia_offset + 2,
                    u64::from(y_word >> 14),
                    "0",
                ));
            }
            let x = type_x & 0x3FFF;
            let y = y_word & 0x3FFF;
            if x >= width || y >= height {
                return Err(Error::MinutiaOutsideImage {
                    index,
                    x,
                    y,
                    width,
                    height,
                });
            }
            if minutia_quality > 100 {
                return Err(at(
                    "minutia quality",
                    quality_offset,
                    u64::from(minutia_quality),
                    "0..=100",
                ));
            }
            let angle = match format {
                RecordFormat::Iso19794_2_2005 => Angle::from_iso(angle_byte),
                RecordFormat::Ansi378_2004 => Angle::from_ansi(angle_byte, angle_offset)?,
            };
            minutiae.push(Minutia {
                x,
                y,
                angle,
                kind,
                quality: minutia_quality,
            });
        }
        let extended_offset = r.offset;
        let extended_len = usize::from(r.u16("extended data length")?);
        let extended_end = extended_offset + 2 + extended_len;
        let mut extended = Vec::new();
        while r.offset < extended_end {
            let block_offset = r.offset;
            let type_code = r.u16("extended data type")?;
            let block_len = usize::from(r.u16("extended data block length")?);
            if type_code == 0 {
                return Err(at(
                    "extended data type",
                    block_offset,
                    0,
                    "non-zero type code",
                ));
            }
            if block_len < 4 || block_offset + block_len > extended_end {
                return Err(at(
                    "extended data block length",
                    block_offset + 2,
                    block_len as u64,
                    "at least 4 and within the view's extended data length",
                ));
            }
            let data = r.take("extended data", block_len - 4)?.to_vec();
            extended.push(ExtendedData { type_code, data });
        }
        let info = ViewInfo {
            finger,
            view_number: view_byte >> 4,
            impression: view_byte & 0x0F,
            quality,
        };
        let template =
            Template::parse(geometry, info, minutiae, extended).map_err(|e| match e {
                Error::InvalidField {
                    field: "finger quality",
                    ..
                } => with_offset(e, quality_offset, view_idx),
                other => with_offset(other, view_offset, view_idx),
            })?;
        views.push(template);
    }
    if r.offset != record_len {
        return Err(Error::RecordLengthMismatch {
            declared,
            parsed: r.offset,
        });
    }
    MinutiaeRecord::parse(capture_equipment, product_id, views)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_iso() -> Vec<u8> {
        let mut bytes = b"FMR\0 20\0".to_vec();
        bytes.extend_from_slice(&(24u32 + 4 + 6 + 2).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 100, 0, 200, 0, 197, 0, 197, 1, 0]);
        bytes.extend_from_slice(&[1, 0, 60, 1]);
        bytes.extend_from_slice(&[0x40, 10, 0, 20, 64, 80]);
        bytes.extend_from_slice(&[0, 0]);
        bytes
    }

    #[test]
    fn minimal_iso_round_trips() {
        let bytes = minimal_iso();
        let record = MinutiaeRecord::decode_iso(&bytes).unwrap();
        let view = &record.views()[0];
        assert_eq!(view.info().finger, FingerPosition::RightThumb);
        assert_eq!(view.minutiae()[0].angle.degrees(), 90.0);
        assert_eq!(record.encode(RecordFormat::Iso19794_2_2005), bytes);
    }

    #[test]
    fn ansi_long_length_form_is_read() {
        let record = MinutiaeRecord::decode_iso(&minimal_iso()).unwrap();
        let short = record.encode(RecordFormat::Ansi378_2004);
        // Rewrite with the 6-byte length form: 0x0000 then a 4-byte length 4 bytes longer.
        let mut long = short[..8].to_vec();
        long.extend_from_slice(&[0, 0]);
        long.extend_from_slice(&((short.len() + 4) as u32).to_be_bytes());
        long.extend_from_slice(&short[10..]);
        assert_eq!(MinutiaeRecord::decode_ansi(&long).unwrap(), record);
    }

    #[test]
    fn reserved_bits_and_type_are_checked() {
        let mut bytes = minimal_iso();
        bytes[30] |= 0x40;
        assert_eq!(
            MinutiaeRecord::decode_iso(&bytes).unwrap_err().to_string(),
            "invalid minutia reserved bits at offset 30: 1 (0)"
        );
        let mut bytes = minimal_iso();
        bytes[28] |= 0xC0;
        assert_eq!(
            MinutiaeRecord::decode_iso(&bytes).unwrap_err().to_string(),
            "invalid minutia type at offset 28: 3 (00 other, 01 ridge ending or 10 bifurcation)"
        );
    }
}
