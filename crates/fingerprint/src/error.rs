//! The one error type of the fingerprint crate: every malformed record, unreadable image or failed
//! evaluation gets a variant that says precisely what was wrong and where.

use std::path::PathBuf;

/// Everything that can go wrong in the fingerprint engine.
///
/// Decoders never panic: each malformed input maps to one of these variants, with the byte offset
/// and the field name where the record stops making sense.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ended before a field could be read.
    #[error(
        "record truncated: {field} needs {needed} bytes at offset {offset}, only {available} left"
    )]
    Truncated {
        /// Name of the field being read.
        field: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the buffer at that offset.
        available: usize,
    },
    /// The record does not start with `FMR\0`.
    #[error("not a finger minutiae record: format identifier is {found:02x?}, expected \"FMR\\0\"")]
    BadFormatIdentifier {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// The version field is not the 2004/2005 version ` 20\0`.
    #[error(
        "unsupported record version {found:02x?}, expected \" 20\\0\" (ISO 19794-2:2005 / ANSI 378-2004)"
    )]
    UnsupportedVersion {
        /// The four version bytes.
        found: [u8; 4],
    },
    /// The declared record length is impossible on its own (below the header size or above the limit).
    #[error("declared record length {declared} is invalid: {reason}")]
    RecordLength {
        /// The length written in the header.
        declared: u64,
        /// Why it cannot be right.
        reason: &'static str,
    },
    /// The declared record length and the content disagree.
    #[error("declared record length {declared} but the finger views end at byte {parsed}")]
    RecordLengthMismatch {
        /// The length written in the header.
        declared: u64,
        /// Where the parsed content actually ends.
        parsed: usize,
    },
    /// Bytes follow the end of the record.
    #[error("{extra} unexpected bytes after the {record_len}-byte record")]
    TrailingBytes {
        /// Length of the record, from its header.
        record_len: usize,
        /// Number of bytes after it.
        extra: usize,
    },
    /// A field holds a value the standard does not allow.
    #[error("invalid {field} at offset {offset}: {value} ({expected})")]
    InvalidField {
        /// Name of the field.
        field: &'static str,
        /// Byte offset of the field, or 0 when the value did not come from a byte buffer.
        offset: usize,
        /// The offending value.
        value: u64,
        /// What the standard allows.
        expected: &'static str,
    },
    /// The record holds no finger view.
    #[error("record holds no finger view")]
    NoFingerViews,
    /// A finger view has no minutiae, so there is nothing to match.
    #[error("finger view {view} has no minutiae")]
    NoMinutiae {
        /// Index of the view in its record (0 for a stand-alone template).
        view: usize,
    },
    /// A minutia lies outside the image the template declares.
    #[error("minutia {index} at ({x}, {y}) lies outside the {width}x{height} image")]
    MinutiaOutsideImage {
        /// Index of the minutia in its view.
        index: usize,
        /// Its x coordinate.
        x: u16,
        /// Its y coordinate.
        y: u16,
        /// Image width.
        width: u16,
        /// Image height.
        height: u16,
    },
    /// Views of one record disagree on something the record header holds once.
    #[error("finger view {view} has image geometry different from the first view")]
    MixedGeometry {
        /// Index of the offending view.
        view: usize,
    },
    /// An image file could not be decoded.
    #[error("cannot decode image: {reason}")]
    ImageDecode {
        /// What the decoder said.
        reason: String,
    },
    /// A WSQ stream is corrupt or uses a feature the decoder does not support.
    #[error("corrupt WSQ stream at byte {offset}: {reason}")]
    Wsq {
        /// Byte offset in the stream where decoding stopped.
        offset: usize,
        /// What is wrong there.
        reason: String,
    },
    /// An image has a size the engine refuses (too small to hold a finger or too large to be one).
    #[error("image of {width}x{height} pixels refused: {reason}")]
    ImageSize {
        /// Image width in pixels.
        width: u32,
        /// Image height in pixels.
        height: u32,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An image has a pixel format other than grayscale the engine can reduce to 8 bits.
    #[error("unsupported pixel format {found}: expected 8-bit grayscale (or RGB/RGBA of gray)")]
    PixelFormat {
        /// The decoder's name for the pixel format.
        found: String,
    },
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Stored cylinders were built under another scheme than this version's (`CYLINDER_SCHEME`):
    /// they must be built again from their minutiae.
    #[error(
        "cylinders of scheme {found}, this version builds scheme {expected}: build them again from the minutiae"
    )]
    CylinderScheme {
        /// The scheme they were stored under.
        found: u32,
        /// This version's.
        expected: u32,
    },
    /// A stored cylinder holds what building one never gives.
    #[error("stored cylinder {cylinder} at offset {offset}: {reason}")]
    StoredCylinder {
        /// Index of the cylinder.
        cylinder: usize,
        /// Byte offset of the offending field.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An evaluation could not be run on the given data.
    #[error("evaluation impossible: {reason}")]
    Evaluation {
        /// Why.
        reason: String,
    },
}
