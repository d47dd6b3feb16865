//! A template's cylinders as bytes, to be stored beside the minutiae they were built from, so
//! that a search re-ranking thousands of enrolled templates reads their cylinders rather than
//! building them again (some 70 µs a template, against a few for reading them back).
//!
//! The layout (little-endian): the magic `DSPPMCC1`; the cylinder scheme, a `u32`
//! ([`CYLINDER_SCHEME`]); the number of cylinders, one byte (at most [`MAX_CYLINDERS`]); then per
//! cylinder its centre x and y (500-dpi pixels, y up) and direction (radians, in `[0, 2π)`) as
//! IEEE `f32`, its valid cells (one bit a cell of the disc) and its bits, one word per angular
//! section, as `u64`: 68 bytes a cylinder, some 2.2 kB a template of 32. Reading checks what
//! [`MccTemplate::new`] guarantees (cells inside the disc, bits only in valid cells, enough valid
//! cells, coordinates and directions in range) and computes the rest (the distances and
//! directions between cylinders, the direction sectors, the lanes) the way building does, so the
//! template read back compares exactly as the one written (tested).

use std::f32::consts::PI;

use super::{
    Cylinder, DISC_CELLS, DISC_MASK, LAYER_WORDS, MAX_CYLINDERS, MIN_VALID_CELLS, MccTemplate, ND,
    n_valid_of,
};
use crate::Error;

/// The version of everything that decides a cylinder's bits (the cell layout, the radius, the
/// sigmas, the thresholds, the validity rule, the cap): cylinders stored under another scheme are
/// refused ([`Error::CylinderScheme`]) and must be built again from their minutiae. Bump it with
/// any such change; the test `stored_cylinders_of_reference_prints_are_pinned` fails until then.
pub const CYLINDER_SCHEME: u32 = 1;

const MAGIC: &[u8; 8] = b"DSPPMCC1";
/// Magic, scheme, count.
const HEADER: usize = 8 + 4 + 1;
/// x, y, direction, valid cells, the sections' bits.
const CYLINDER_BYTES: usize = 3 * 4 + 8 * LAYER_WORDS * (1 + ND);
/// Coordinates beyond this many pixels from the origin are refused (building gives at most
/// about 3.3 × 10⁶: 16,383 units at 1 pixel a centimetre, rescaled to 500 dpi).
const COORDINATE_LIMIT: f32 = 1e7;

/// A reader of the stored layout that says where it stopped.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let available = self.bytes.len().saturating_sub(self.offset);
        let Some(taken) = self
            .bytes
            .get(self.offset..self.offset + N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
        else {
            return Err(Error::Truncated {
                field,
                offset: self.offset,
                needed: N,
                available,
            });
        };
        self.offset += N;
        Ok(taken)
    }

    fn f32(&mut self, field: &'static str) -> Result<(f32, usize), Error> {
        let offset = self.offset;
        Ok((f32::from_le_bytes(self.take::<4>(field)?), offset))
    }

    fn words(&mut self, field: &'static str) -> Result<[u64; LAYER_WORDS], Error> {
        let mut words = [0u64; LAYER_WORDS];
        for word in &mut words {
            *word = u64::from_le_bytes(self.take::<8>(field)?);
        }
        Ok(words)
    }
}

/// A template of no cylinders, which matches nothing: the memory [`MccTemplate::read_bytes`] reads
/// stored templates into.
impl Default for MccTemplate {
    fn default() -> MccTemplate {
        MccTemplate::from_cylinders(Vec::new())
    }
}

impl MccTemplate {
    /// The cylinders as bytes (the layout of this module), for [`MccTemplate::from_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.cylinders.len() * CYLINDER_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&CYLINDER_SCHEME.to_le_bytes());
        // At most MAX_CYLINDERS (32) by construction.
        out.push(self.cylinders.len().min(MAX_CYLINDERS) as u8);
        for c in self.cylinders.iter().take(MAX_CYLINDERS) {
            for value in [c.x, c.y, c.angle] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            for word in c.valid.iter().chain(c.bits.iter().flatten()) {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    /// The template whose cylinders [`MccTemplate::to_bytes`] wrote: it compares exactly as
    /// that one did. Bytes of another layout or [`CYLINDER_SCHEME`], truncated or followed by
    /// more, or holding a cylinder building could not have made, are refused with where and why.
    pub fn from_bytes(bytes: &[u8]) -> Result<MccTemplate, Error> {
        let mut template = MccTemplate::default();
        template.read_bytes(bytes)?;
        Ok(template)
    }

    /// Makes this template the one whose cylinders [`MccTemplate::to_bytes`] wrote, as
    /// [`MccTemplate::from_bytes`] would, in this template's memory: a search that reads many
    /// stored templates one after another allocates nothing for them (the 12 kB of a template
    /// are otherwise allocated and freed for each). Bytes it refuses leave the template empty (it
    /// then matches nothing).
    pub fn read_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let read = read_cylinders(bytes, &mut self.cylinders);
        if read.is_err() {
            self.cylinders.clear();
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above; the function needs nothing else.
            #[allow(unsafe_code)]
            unsafe {
                self.derive_avx2();
            }
            return read;
        }
        self.derive();
        read
    }

    /// [`MccTemplate::derive`] compiled for AVX2, as [`MccTemplate::new`] dispatches (the same
    /// values: IEEE arithmetic lane by lane).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn derive_avx2(&mut self) {
        self.derive();
    }
}

/// Reads the cylinders of `bytes` into `cylinders` (emptied first).
fn read_cylinders(bytes: &[u8], cylinders: &mut Vec<Cylinder>) -> Result<(), Error> {
    cylinders.clear();
    let mut reader = Reader { bytes, offset: 0 };
    let magic = reader.take::<8>("cylinders magic")?;
    if &magic != MAGIC {
        return Err(Error::InvalidField {
            field: "cylinders magic",
            offset: 0,
            value: u64::from_le_bytes(magic),
            expected: "\"DSPPMCC1\"",
        });
    }
    let scheme = u32::from_le_bytes(reader.take::<4>("cylinder scheme")?);
    if scheme != CYLINDER_SCHEME {
        return Err(Error::CylinderScheme {
            found: scheme,
            expected: CYLINDER_SCHEME,
        });
    }
    let count_offset = reader.offset;
    let [count] = reader.take::<1>("cylinder count")?;
    let count = usize::from(count);
    if count > MAX_CYLINDERS {
        return Err(Error::InvalidField {
            field: "cylinder count",
            offset: count_offset,
            value: count as u64,
            expected: "at most 32 cylinders",
        });
    }
    let expected_len = HEADER + count * CYLINDER_BYTES;
    if bytes.len() > expected_len {
        return Err(Error::TrailingBytes {
            record_len: expected_len,
            extra: bytes.len() - expected_len,
        });
    }
    let invalid = |cylinder: usize, offset: usize, reason: &'static str| Error::StoredCylinder {
        cylinder,
        offset,
        reason,
    };
    cylinders.reserve(count);
    for n in 0..count {
        let (x, x_at) = reader.f32("cylinder x")?;
        let (y, y_at) = reader.f32("cylinder y")?;
        for (value, at) in [(x, x_at), (y, y_at)] {
            if !value.is_finite() || value.abs() > COORDINATE_LIMIT {
                return Err(invalid(
                    n,
                    at,
                    "a coordinate must be a finite number of pixels within ±10,000,000",
                ));
            }
        }
        let (angle, angle_at) = reader.f32("cylinder direction")?;
        if !(0.0..2.0 * PI).contains(&angle) {
            return Err(invalid(
                n,
                angle_at,
                "a direction must be in [0, 2π) radians",
            ));
        }
        let valid_at = reader.offset;
        let valid = reader.words("cylinder valid cells")?;
        if valid.iter().zip(&DISC_MASK).any(|(v, d)| v & !d != 0) {
            return Err(invalid(
                n,
                valid_at,
                "a valid cell lies outside the cylinder's disc",
            ));
        }
        let n_valid = n_valid_of(&valid);
        if (n_valid as f32) < MIN_VALID_CELLS * DISC_CELLS as f32 {
            return Err(invalid(
                n,
                valid_at,
                "too few valid cells for a cylinder (at least 75 % of the disc)",
            ));
        }
        let mut bits = [[0u64; LAYER_WORDS]; ND];
        for layer in &mut bits {
            let at = reader.offset;
            *layer = reader.words("cylinder bits")?;
            if layer.iter().zip(&valid).any(|(b, v)| b & !v != 0) {
                return Err(invalid(n, at, "a bit is set in a cell that is not valid"));
            }
        }
        cylinders.push(Cylinder {
            x,
            y,
            angle,
            valid,
            bits,
            n_bits: bits.iter().flatten().map(|w| w.count_ones()).sum(),
            full: n_valid == DISC_CELLS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MccMatcher;
    use crate::synth::{SynthParams, finger};

    fn synthetic(seeds: std::ops::Range<u64>) -> Vec<MccTemplate> {
        seeds
            .map(|seed| MccTemplate::new(&finger(seed, &SynthParams::default()).unwrap()))
            .collect()
    }

    /// FNV-1a, 64 bits.
    fn fnv(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    #[test]
    fn templates_read_back_compare_exactly_as_those_written() {
        let templates = synthetic(0..40);
        let read: Vec<MccTemplate> = templates
            .iter()
            .map(|t| MccTemplate::from_bytes(&t.to_bytes()).unwrap())
            .collect();
        let mut matcher = MccMatcher::new();
        let mut compared = 0;
        for (a, a_read) in templates.iter().zip(&read) {
            // Everything a comparison reads, field by field (Debug prints every float exactly).
            assert_eq!(format!("{a:?}"), format!("{a_read:?}"));
            assert_eq!(a.to_bytes(), a_read.to_bytes());
            for (b, b_read) in templates.iter().zip(&read) {
                let built = matcher.similarity(a, b);
                assert_eq!(
                    built.to_bits(),
                    matcher.similarity(a_read, b_read).to_bits()
                );
                assert_eq!(built.to_bits(), matcher.similarity(a, b_read).to_bits());
                compared += 1;
            }
        }
        assert_eq!(compared, 1600);
        assert!(templates.iter().all(|t| t.len() > 10));
    }

    /// One template read over and over, as a search re-ranks a short list with it: each time it
    /// is, field by field, the template read into fresh memory, whatever it held before (more
    /// cylinders or fewer), and bytes it refuses leave it empty.
    #[test]
    fn a_template_read_again_holds_nothing_of_the_one_before() {
        let mut templates = synthetic(100..140);
        // Large and small alternate, so that each read follows one of another size.
        templates.sort_by_key(MccTemplate::len);
        let (small, large) = templates.split_at(templates.len() / 2);
        let order: Vec<&MccTemplate> = large
            .iter()
            .rev()
            .zip(small)
            .flat_map(|(a, b)| [a, b])
            .collect();
        assert!(order[0].len() > order[1].len());
        let header = &order[0].to_bytes()[..HEADER - 1];
        let empty = MccTemplate::from_bytes(&[header, &[0]].concat()).unwrap();
        let mut reused = MccTemplate::from_bytes(&order[0].to_bytes()).unwrap();
        for (i, template) in order.iter().enumerate() {
            let bytes = template.to_bytes();
            reused.read_bytes(&bytes).unwrap();
            assert_eq!(
                format!("{reused:?}"),
                format!("{template:?}"),
                "template {i}"
            );
            if i % 7 == 3 {
                // Refused: the template is left empty, then reads the next as well as ever.
                assert!(reused.read_bytes(&bytes[..bytes.len() - 1]).is_err());
                assert_eq!(format!("{reused:?}"), format!("{empty:?}"));
                assert!(reused.is_empty());
            }
        }
    }

    /// Stored cylinders are only as good as the scheme they were built under: when anything
    /// that decides the bits changes, this hash changes, and [`CYLINDER_SCHEME`] must be bumped
    /// (then this hash updated) so that stored cylinders of the old scheme are built again.
    #[test]
    fn stored_cylinders_of_reference_prints_are_pinned() {
        let bytes: Vec<u8> = synthetic(100..120)
            .iter()
            .flat_map(MccTemplate::to_bytes)
            .collect();
        assert_eq!(
            (CYLINDER_SCHEME, fnv(&bytes)),
            (1, 9_341_802_527_054_347_030),
            "the cylinders changed: bump CYLINDER_SCHEME and pin the new hash"
        );
    }

    #[test]
    fn every_malformed_layout_is_refused_with_where_and_why() {
        let template = &synthetic(7..8)[0];
        let good = template.to_bytes();
        let n = template.len();
        assert_eq!(good.len(), HEADER + n * CYLINDER_BYTES);
        let message = |bytes: &[u8]| MccTemplate::from_bytes(bytes).unwrap_err().to_string();
        // Every truncation.
        for len in 0..good.len() {
            assert!(
                matches!(
                    MccTemplate::from_bytes(&good[..len]),
                    Err(Error::Truncated { .. })
                ),
                "{len}: {}",
                message(&good[..len])
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(
            message(&longer),
            format!("1 unexpected bytes after the {}-byte record", good.len())
        );
        let edit = |at: usize, value: &[u8]| {
            let mut bytes = good.clone();
            bytes[at..at + value.len()].copy_from_slice(value);
            bytes
        };
        assert!(message(&edit(0, b"X")).contains("invalid cylinders magic at offset 0"));
        assert_eq!(
            message(&edit(8, &2u32.to_le_bytes())),
            format!(
                "cylinders of scheme 2, this version builds scheme {CYLINDER_SCHEME}: build them again from the minutiae"
            )
        );
        assert!(message(&edit(12, &[33])).contains("invalid cylinder count at offset 12: 33"));
        let second = HEADER + CYLINDER_BYTES;
        let coordinate = "a coordinate must be a finite number of pixels within ±10,000,000";
        let direction = "a direction must be in [0, 2π) radians";
        for (at, value, expected) in [
            (second, f32::NAN.to_le_bytes(), coordinate),
            (second + 4, 2e7f32.to_le_bytes(), coordinate),
            (second + 8, (-0.1f32).to_le_bytes(), direction),
            (second + 8, (2.0 * PI).to_le_bytes(), direction),
        ] {
            assert_eq!(
                message(&edit(at, &value)),
                format!("stored cylinder 1 at offset {at}: {expected}")
            );
        }
        let valid_at = second + 12;
        // A cell outside the disc (the corner cell 0), and a disc with few valid cells.
        let valid = u64::from_le_bytes(good[valid_at..valid_at + 8].try_into().unwrap());
        assert_eq!(
            message(&edit(valid_at, &(valid | 1).to_le_bytes())),
            format!(
                "stored cylinder 1 at offset {valid_at}: a valid cell lies outside the cylinder's disc"
            )
        );
        assert!(
            message(&edit(valid_at, &(valid & 0xFF).to_le_bytes())).contains("too few valid cells")
        );
        // A bit in a cell that is not valid: a disc cell cleared from the valid cells, its bit set.
        let disc = DISC_MASK[0];
        let cell = (disc & valid).trailing_zeros();
        let mut bytes = edit(valid_at, &(valid & !(1 << cell)).to_le_bytes());
        let bits_at = valid_at + 8;
        bytes[bits_at..bits_at + 8].copy_from_slice(&(1u64 << cell).to_le_bytes());
        assert_eq!(
            message(&bytes),
            format!(
                "stored cylinder 1 at offset {bits_at}: a bit is set in a cell that is not valid"
            )
        );
        // No cylinders at all is a template (one that matches nothing), as building may give.
        let empty = MccTemplate::from_bytes(&[&good[..12], &[0]].concat()).unwrap();
        assert!(empty.is_empty());
    }
}
