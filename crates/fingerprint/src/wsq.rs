//! WSQ (Wavelet Scalar Quantization, FBI/NIST specification IAFIS-IC-0110 v3.1) decoding: the
//! gray-scale fingerprint format of national ID and law-enforcement archives, written from the
//! specification and NBIS's layout of the 64-subband tree; every corrupt stream is a precise error.
//!
//! Stream layout: `SOI`, then tables (`DTT` wavelet filters, `DQT` quantization, `DHT` Huffman,
//! `COM` comments) in any order, `SOF` frame header, then one or more `SOB` entropy-coded blocks
//! (each possibly preceded by more tables), `EOI`. The blocks together code the quantized
//! coefficients of subbands 0–59 in order (bands with a zero bin width are not coded).

use crate::Error;

const SOI: u8 = 0xA0;
const EOI: u8 = 0xA1;
const SOF: u8 = 0xA2;
const SOB: u8 = 0xA3;
const DTT: u8 = 0xA4;
const DQT: u8 = 0xA5;
const DHT: u8 = 0xA6;
const DRT: u8 = 0xA7;
const COM: u8 = 0xA8;

/// Subbands that carry coefficients; the four of the highest-frequency quadrant (60–63) never do.
const CODED_BANDS: usize = 60;
/// Subbands the quantization table describes.
const TABLE_BANDS: usize = 64;
/// Huffman tables a stream may define (NBIS `MAX_DHT_TABLES`).
const HUFFMAN_TABLES: usize = 8;
/// Longest filter the specification allows.
const MAX_TAPS: u8 = 32;

/// A decoded WSQ image: 8-bit gray pixels, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WsqImage {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) pixels: Vec<u8>,
}

fn corrupt(offset: usize, reason: impl Into<String>) -> Error {
    Error::Wsq {
        offset,
        reason: reason.into(),
    }
}

/// Decode a WSQ stream. `check_size` is called with the frame's width and height before any
/// buffer of that size is allocated, so the caller's size limits apply.
pub(crate) fn decode(
    bytes: &[u8],
    check_size: impl Fn(u32, u32) -> Result<(), Error>,
) -> Result<WsqImage, Error> {
    let mut r = Reader { bytes, pos: 0 };
    let start = r.marker()?;
    if start != SOI {
        return Err(corrupt(
            0,
            format!("starts with marker FF{start:02X}, expected SOI (FFA0)"),
        ));
    }
    let mut tables = Tables::default();
    // Tables, up to the frame header.
    let frame = loop {
        let at = r.pos;
        match r.marker()? {
            SOF => break Frame::read(&mut r)?,
            other => tables.read(other, at, &mut r)?,
        }
    };
    check_size(u32::from(frame.width), u32::from(frame.height))?;
    let filters = tables
        .filters
        .clone()
        .ok_or_else(|| corrupt(r.pos, "no transform table (DTT) before the frame header"))?;
    let quant = tables
        .quant
        .clone()
        .ok_or_else(|| corrupt(r.pos, "no quantization table (DQT) before the frame header"))?;
    let layout = Layout::new(usize::from(frame.width), usize::from(frame.height));
    let coded: Vec<usize> = (0..CODED_BANDS).filter(|&b| quant.bin[b] != 0.0).collect();
    let total: usize = coded.iter().map(|&b| layout.bands[b].len()).sum();

    // Blocks (and more tables) up to the end of image.
    let mut coefficients: Vec<i32> = Vec::with_capacity(total);
    let mut blocks = 0usize;
    loop {
        let at = r.pos;
        match r.marker()? {
            EOI => break,
            SOB => {
                blocks += 1;
                let header_at = r.pos;
                let len = r.u16("block header length")?;
                if len != 3 {
                    return Err(corrupt(
                        header_at,
                        format!("block header length {len}, expected 3"),
                    ));
                }
                let table_at = r.pos;
                let id = usize::from(r.u8("block Huffman table id")?);
                let table = tables
                    .huffman
                    .get(id)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| {
                        corrupt(
                            table_at,
                            format!("block {blocks} uses Huffman table {id}, which no DHT defined"),
                        )
                    })?;
                let (data, end) = entropy_segment(bytes, r.pos)?;
                decode_block(table, &data, r.pos, blocks, total, &mut coefficients)?;
                r.pos = end;
            }
            SOF => return Err(corrupt(at, "second frame header (SOF)")),
            other => tables.read(other, at, &mut r)?,
        }
    }
    if blocks == 0 {
        return Err(corrupt(
            r.pos,
            "no coded block (SOB) before the end of image",
        ));
    }
    if coefficients.len() != total {
        return Err(corrupt(
            r.pos,
            format!(
                "the blocks code {} coefficients, the {}x{} image needs {total}",
                coefficients.len(),
                frame.width,
                frame.height
            ),
        ));
    }

    // Dequantize into the wavelet plane.
    let (width, height) = (usize::from(frame.width), usize::from(frame.height));
    let mut plane = vec![0f32; width * height];
    let mut next = coefficients.iter();
    for &b in &coded {
        let band = layout.bands[b];
        let (q, z) = (quant.bin[b], quant.zero[b]);
        for y in band.y..band.y + band.h {
            let row = &mut plane[y * width + band.x..y * width + band.x + band.w];
            for (value, &c) in row.iter_mut().zip(next.by_ref()) {
                *value = match c {
                    0 => 0.0,
                    c if c > 0 => q * (c as f32 - quant.centre) + z / 2.0,
                    c => q * (c as f32 + quant.centre) - z / 2.0,
                };
            }
        }
    }

    // Inverse transform, deepest node first.
    let mut line = Vec::new();
    let mut out = Vec::new();
    for node in layout.nodes.iter().rev() {
        for x in node.x..node.x + node.w {
            line.clear();
            line.extend((node.y..node.y + node.h).map(|y| plane[y * width + x]));
            synthesize(&line, node.inv_y, &filters, &mut out);
            for (y, &v) in (node.y..).zip(&out) {
                plane[y * width + x] = v;
            }
        }
        for y in node.y..node.y + node.h {
            let row = &mut plane[y * width + node.x..y * width + node.x + node.w];
            line.clear();
            line.extend_from_slice(row);
            synthesize(&line, node.inv_x, &filters, &mut out);
            row.copy_from_slice(&out);
        }
    }

    let pixels = plane
        .iter()
        .map(|&v| {
            let p = v * frame.scale + frame.shift + 0.5;
            // `as` saturates: below 0 gives 0, above 255 gives 255.
            p.clamp(0.0, 255.0) as u8
        })
        .collect();
    Ok(WsqImage {
        width: u32::from(frame.width),
        height: u32::from(frame.height),
        pixels,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], Error> {
        let available = self.bytes.len().saturating_sub(self.pos);
        if available < n {
            return Err(Error::Truncated {
                field,
                offset: self.pos,
                needed: n,
                available,
            });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn marker(&mut self) -> Result<u8, Error> {
        let at = self.pos;
        let b = self.take(2, "marker")?;
        if b[0] != 0xFF {
            return Err(corrupt(
                at,
                format!("expected a marker (FFxx), found {:02X}{:02X}", b[0], b[1]),
            ));
        }
        Ok(b[1])
    }
    /// A scaled decimal: a scale byte `s` then an unsigned value `v`, meaning `v / 10^s`.
    fn scaled16(&mut self, field: &'static str) -> Result<f32, Error> {
        let scale = self.u8(field)?;
        let value = self.u16(field)?;
        Ok(descale(f64::from(value), scale) as f32)
    }
}

fn descale(mut value: f64, scale: u8) -> f64 {
    for _ in 0..scale {
        value /= 10.0;
    }
    value
}

/// The frame header (SOF).
struct Frame {
    width: u16,
    height: u16,
    /// Mean the encoder subtracted.
    shift: f32,
    /// Scale the encoder divided by.
    scale: f32,
}

impl Frame {
    fn read(r: &mut Reader<'_>) -> Result<Frame, Error> {
        let at = r.pos;
        let len = r.u16("frame header length")?;
        if len != 17 {
            return Err(corrupt(
                at,
                format!("frame header length {len}, expected 17"),
            ));
        }
        let _black = r.u8("frame black level")?;
        let _white = r.u8("frame white level")?;
        let height = r.u16("frame height")?;
        let width = r.u16("frame width")?;
        let shift = r.scaled16("frame mean shift")?;
        let scale_at = r.pos;
        let scale = r.scaled16("frame rescale")?;
        let _encoder = r.u8("frame encoder number")?;
        let _software = r.u16("frame software number")?;
        if scale == 0.0 {
            return Err(corrupt(scale_at, "rescale factor 0"));
        }
        Ok(Frame {
            width,
            height,
            shift,
            scale,
        })
    }
}

/// Synthesis filters, centre tap in the middle.
#[derive(Clone)]
struct Filters {
    /// Applied to lowpass coefficients (from the analysis highpass, odd taps sign-flipped).
    low: Vec<f32>,
    /// Applied to highpass coefficients (from the analysis lowpass, odd taps sign-flipped).
    high: Vec<f32>,
}

#[derive(Clone)]
struct Quant {
    centre: f32,
    bin: [f32; TABLE_BANDS],
    zero: [f32; TABLE_BANDS],
}

#[derive(Default)]
struct Tables {
    filters: Option<Filters>,
    quant: Option<Quant>,
    huffman: [Option<Huffman>; HUFFMAN_TABLES],
}

impl Tables {
    fn read(&mut self, marker: u8, at: usize, r: &mut Reader<'_>) -> Result<(), Error> {
        // The markers without a segment; EOI and SOB after the frame never come here.
        match marker {
            COM | DRT | DTT | DQT | DHT => {}
            SOI => return Err(corrupt(at, "second start-of-image marker (SOI)")),
            EOI => {
                return Err(corrupt(
                    at,
                    "end of image (EOI) before the frame header (SOF)",
                ));
            }
            SOB => {
                return Err(corrupt(
                    at,
                    "coded block (SOB) before the frame header (SOF)",
                ));
            }
            other => {
                return Err(corrupt(
                    at,
                    format!("unexpected marker FF{other:02X} (expected a table, SOF, SOB or EOI)"),
                ));
            }
        }
        let len_at = r.pos;
        let len = usize::from(r.u16("segment length")?);
        if len < 2 {
            return Err(corrupt(len_at, format!("segment length {len} is below 2")));
        }
        let body_start = r.pos;
        let body = r.take(len - 2, "segment")?;
        let mut s = Reader {
            bytes: body,
            pos: 0,
        };
        let local = |e: Error| shift_offset(e, body_start);
        match marker {
            COM => s.pos = body.len(),
            DRT => {
                let interval = s.u16("restart interval").map_err(local)?;
                if interval != 0 {
                    return Err(corrupt(at, "restart intervals are not supported"));
                }
            }
            DTT => self.filters = Some(read_filters(&mut s).map_err(local)?),
            DQT => self.quant = Some(read_quant(&mut s).map_err(local)?),
            DHT => {
                while s.pos < body.len() {
                    let id_at = s.pos;
                    let id = usize::from(s.u8("Huffman table id").map_err(local)?);
                    if id >= HUFFMAN_TABLES {
                        return Err(corrupt(
                            body_start + id_at,
                            format!(
                                "Huffman table id {id}, expected 0 to {}",
                                HUFFMAN_TABLES - 1
                            ),
                        ));
                    }
                    let table = Huffman::read(&mut s).map_err(local)?;
                    self.huffman[id] = Some(table);
                }
            }
            // Refused before the segment is read, below.
            _ => {}
        }
        if s.pos != body.len() {
            return Err(corrupt(
                body_start + s.pos,
                format!(
                    "{} bytes left over in segment FF{marker:02X}",
                    body.len() - s.pos
                ),
            ));
        }
        Ok(())
    }
}

/// Make an offset relative to a segment body absolute.
fn shift_offset(e: Error, by: usize) -> Error {
    match e {
        Error::Truncated {
            field,
            offset,
            needed,
            available,
        } => Error::Truncated {
            field,
            offset: offset + by,
            needed,
            available,
        },
        Error::Wsq { offset, reason } => Error::Wsq {
            offset: offset + by,
            reason,
        },
        other => other,
    }
}

fn read_filters(s: &mut Reader<'_>) -> Result<Filters, Error> {
    // The analysis lowpass comes first (9 taps in every NBIS stream), then the highpass (7);
    // each is symmetric and stored from its centre tap outwards.
    let low_len = s.u8("lowpass filter length")?;
    let high_len = s.u8("highpass filter length")?;
    for (len, name) in [(low_len, "lowpass"), (high_len, "highpass")] {
        if len % 2 == 0 || len == 0 || len > MAX_TAPS {
            return Err(corrupt(
                0,
                format!(
                    "{name} filter of {len} taps (only odd lengths up to {MAX_TAPS}, whole-sample symmetric, are supported)"
                ),
            ));
        }
    }
    let mut half = |len: u8| -> Result<Vec<f64>, Error> {
        (0..usize::from(len).div_ceil(2))
            .map(|_| {
                let sign_at = s.pos;
                let sign = s.u8("filter coefficient sign")?;
                let scale = s.u8("filter coefficient scale")?;
                let value = descale(f64::from(s.u32("filter coefficient")?), scale);
                match sign {
                    0 => Ok(value),
                    1 => Ok(-value),
                    other => Err(corrupt(
                        sign_at,
                        format!("filter coefficient sign {other}, expected 0 or 1"),
                    )),
                }
            })
            .collect()
    };
    let analysis_low = half(low_len)?;
    let analysis_high = half(high_len)?;
    // Synthesis: g0[k] = (-1)^k h1[k], g1[k] = (-1)^k h0[k], k from the centre.
    let full = |half: &[f64]| -> Vec<f32> {
        let c = half.len() - 1;
        (0..2 * half.len() - 1)
            .map(|i| {
                let k = i.abs_diff(c);
                let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                (sign * half[k]) as f32
            })
            .collect()
    };
    Ok(Filters {
        low: full(&analysis_high),
        high: full(&analysis_low),
    })
}

fn read_quant(s: &mut Reader<'_>) -> Result<Quant, Error> {
    let centre = s.scaled16("quantizer bin centre")?;
    let mut bin = [0f32; TABLE_BANDS];
    let mut zero = [0f32; TABLE_BANDS];
    for b in 0..TABLE_BANDS {
        bin[b] = s.scaled16("quantizer bin width")?;
        zero[b] = s.scaled16("quantizer zero-bin width")?;
    }
    Ok(Quant { centre, bin, zero })
}

/// A canonical Huffman table as JPEG defines it: code counts per length 1–16, then the symbols.
#[derive(Clone)]
struct Huffman {
    counts: [u16; 17],
    symbols: Vec<u8>,
}

impl Huffman {
    fn read(s: &mut Reader<'_>) -> Result<Huffman, Error> {
        let counts_at = s.pos;
        let mut counts = [0u16; 17];
        let mut total = 0usize;
        // Codes left at each length; oversubscription means no prefix code exists.
        let mut left: i64 = 1;
        for (len, count) in counts.iter_mut().enumerate().skip(1) {
            *count = u16::from(s.u8("Huffman code count")?);
            total += usize::from(*count);
            left = 2 * left - i64::from(*count);
            if left < 0 {
                return Err(corrupt(
                    counts_at + len - 1,
                    format!("Huffman table oversubscribed at code length {len}"),
                ));
            }
        }
        if total == 0 {
            return Err(corrupt(counts_at, "Huffman table with no codes"));
        }
        let symbols = s.take(total, "Huffman symbols")?.to_vec();
        Ok(Huffman { counts, symbols })
    }
}

/// The entropy-coded bytes from `start` up to the next marker, with stuffed zero bytes removed,
/// and the position of that marker.
fn entropy_segment(bytes: &[u8], start: usize) -> Result<(Vec<u8>, usize), Error> {
    let mut data = Vec::new();
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] != 0xFF {
            data.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(0) => {
                data.push(0xFF);
                i += 2;
            }
            Some(0xB0..=0xB7) => {
                return Err(corrupt(i, "restart markers are not supported"));
            }
            Some(_) => return Ok((data, i)),
            None => break,
        }
    }
    Err(corrupt(
        bytes.len(),
        "stream ends inside a coded block (no end-of-image marker)",
    ))
}

struct Bits<'a> {
    data: &'a [u8],
    bit: usize,
}

impl Bits<'_> {
    fn left(&self) -> usize {
        self.data.len() * 8 - self.bit
    }
    fn next(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.bit / 8)?;
        let b = (byte >> (7 - self.bit % 8)) & 1;
        self.bit += 1;
        Some(u32::from(b))
    }
    fn read(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.next()?;
        }
        Some(v)
    }
    /// Are the remaining bits all ones (the encoder's padding to a byte)?
    fn only_padding(&self) -> bool {
        (self.bit..self.data.len() * 8).all(|b| (self.data[b / 8] >> (7 - b % 8)) & 1 == 1)
    }
}

fn decode_block(
    table: &Huffman,
    data: &[u8],
    offset: usize,
    block: usize,
    total: usize,
    out: &mut Vec<i32>,
) -> Result<(), Error> {
    let mut bits = Bits { data, bit: 0 };
    let err = |bits: &Bits<'_>, reason: String| {
        corrupt(offset + bits.bit / 8, format!("block {block}: {reason}"))
    };
    loop {
        if bits.left() < 8 && bits.only_padding() {
            return Ok(());
        }
        let symbol_at = bits.bit;
        let Some(symbol) = next_symbol(table, &mut bits) else {
            if bits.only_padding() || bits.left() == 0 {
                return Ok(());
            }
            return Err(err(
                &bits,
                format!("invalid Huffman code at bit {symbol_at}"),
            ));
        };
        let mut extra = |n: u32| {
            bits.read(n).ok_or_else(|| {
                corrupt(
                    offset + data.len(),
                    format!("block {block}: ends inside a {n}-bit value"),
                )
            })
        };
        let (run, value) = match symbol {
            1..=100 => (u32::from(symbol), None),
            101 => (0, Some(extra(8)? as i32)),
            102 => (0, Some(-(extra(8)? as i32))),
            103 => (0, Some(extra(16)? as i32)),
            104 => (0, Some(-(extra(16)? as i32))),
            105 => (extra(8)?, None),
            106 => (extra(16)?, None),
            107..=254 => (0, Some(i32::from(symbol) - 180)),
            other => return Err(err(&bits, format!("invalid coefficient category {other}"))),
        };
        let needed = out.len() + run as usize + usize::from(value.is_some());
        if needed > total {
            return Err(err(
                &bits,
                format!("codes more coefficients than the image's {total}"),
            ));
        }
        out.resize(out.len() + run as usize, 0);
        if let Some(v) = value {
            out.push(v);
        }
    }
}

/// The next symbol, or `None` when the bits end first or form no code.
fn next_symbol(table: &Huffman, bits: &mut Bits<'_>) -> Option<u8> {
    let (mut code, mut first, mut index) = (0u32, 0u32, 0usize);
    for &count in &table.counts[1..] {
        code |= bits.next()?;
        let count = u32::from(count);
        if code.wrapping_sub(first) < count {
            return table.symbols.get(index + (code - first) as usize).copied();
        }
        index += count as usize;
        first = (first + count) << 1;
        code <<= 1;
    }
    None
}

/// A rectangle of the wavelet plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
}

impl Rect {
    fn len(&self) -> usize {
        self.w * self.h
    }
}

/// A node of the decomposition tree: a region split once in each direction. An inverted
/// direction stores its highpass half first (the spectral inversion of a highpass parent).
#[derive(Debug, Clone, Copy)]
struct Node {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    inv_x: bool,
    inv_y: bool,
}

impl Node {
    /// The four quadrants, top-left, top-right, bottom-left, bottom-right; the highpass side
    /// of each direction is inverted in the children.
    fn split(&self) -> [Node; 4] {
        let (left, _) = halves(self.w, self.inv_x);
        let (top, _) = halves(self.h, self.inv_y);
        let q = |right: bool, bottom: bool| Node {
            x: if right { self.x + left } else { self.x },
            y: if bottom { self.y + top } else { self.y },
            w: if right { self.w - left } else { left },
            h: if bottom { self.h - top } else { top },
            inv_x: right,
            inv_y: bottom,
        };
        [
            q(false, false),
            q(true, false),
            q(false, true),
            q(true, true),
        ]
    }
    fn rect(&self) -> Rect {
        Rect {
            x: self.x,
            y: self.y,
            w: self.w,
            h: self.h,
        }
    }
}

/// Lengths of the first and second halves of a split line: the lowpass half has the extra
/// sample of an odd length, and comes second when the direction is inverted.
fn halves(len: usize, inverted: bool) -> (usize, usize) {
    let (low, high) = (len.div_ceil(2), len / 2);
    if inverted { (high, low) } else { (low, high) }
}

/// The decomposition nodes (NBIS `w_tree` order) and the 64 subbands (NBIS `q_tree` order).
struct Layout {
    nodes: Vec<Node>,
    bands: Vec<Rect>,
}

impl Layout {
    fn new(width: usize, height: usize) -> Layout {
        let n0 = Node {
            x: 0,
            y: 0,
            w: width,
            h: height,
            inv_x: false,
            inv_y: false,
        };
        let [n1, n2, n3, br0] = n0.split();
        let [n14, n4, n5, br1] = n1.split();
        let [n6, n7, n8, n9] = n4.split();
        let [n10, n11, n12, n13] = n5.split();
        let [n15, n16, n17, n18] = n14.split();
        let [n19, ..] = n15.split();
        let nodes = vec![
            n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, n12, n13, n14, n15, n16, n17, n18,
            n19,
        ];
        let quads = |n: &Node, skip: usize| n.split().into_iter().skip(skip).map(|q| q.rect());
        let mut bands: Vec<Rect> = Vec::with_capacity(TABLE_BANDS);
        bands.extend(quads(&n19, 0)); // 0–3
        bands.extend(quads(&n15, 1)); // 4–6
        for n in [n16, n17, n18, n6, n7, n8, n9, n10, n11, n12, n13] {
            bands.extend(quads(&n, 0)); // 7–50
        }
        bands.push(br1.rect()); // 51
        bands.extend(quads(&n2, 0)); // 52–55
        bands.extend(quads(&n3, 0)); // 56–59
        bands.extend(quads(&br0, 0)); // 60–63, never coded
        Layout { nodes, bands }
    }
}

/// Inverse one-level transform of a line: `line` holds the lowpass then highpass coefficients
/// (highpass first when `inverted`); whole-sample symmetric extension at both ends.
fn synthesize(line: &[f32], inverted: bool, filters: &Filters, out: &mut Vec<f32>) {
    let n = line.len();
    out.clear();
    if n < 2 {
        out.extend_from_slice(line);
        return;
    }
    let (first, _) = halves(n, inverted);
    let (low, high) = if inverted {
        (&line[first..], &line[..first])
    } else {
        (&line[..first], &line[first..])
    };
    // The interleaved line (low[i / 2] at even i, high[i / 2] at odd i), mirrored past both
    // ends, split by parity so each filter runs over a plain slice.
    let (lc, hc) = (filters.low.len() / 2, filters.high.len() / 2);
    let pad = lc.max(hc);
    let last = n as isize - 1;
    let mut even = vec![0f32; n + 2 * pad];
    let mut odd = vec![0f32; n + 2 * pad];
    for (e, (ev, od)) in even.iter_mut().zip(odd.iter_mut()).enumerate() {
        let mut i = e as isize - pad as isize;
        while i < 0 || i > last {
            i = if i < 0 { -i } else { 2 * last - i };
        }
        let i = i as usize;
        if i.is_multiple_of(2) {
            *ev = low[i / 2];
        } else {
            *od = high[i / 2];
        }
    }
    // out[m] = sum_k g0[k] even[m - (k - lc)] + sum_k g1[k] odd[m - (k - hc)]; the filters are
    // symmetric, so the sum runs forwards over the window.
    for m in 0..n {
        let e = &even[pad + m - lc..pad + m + lc + 1];
        let o = &odd[pad + m - hc..pad + m + hc + 1];
        let v: f32 = filters.low.iter().zip(e).map(|(g, y)| g * y).sum::<f32>()
            + filters.high.iter().zip(o).map(|(g, y)| g * y).sum::<f32>();
        out.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CDF 9/7 filters as NBIS writes them (the DTT body of the SourceAFIS sample).
    fn nbis_filters() -> Filters {
        let hex = "0907000932d325cd000ae0f3199a010a41eff19a010b8e2764cd000be179a33300092eff5600010af933d333010bf287219a000a2677da33";
        let dtt: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        read_filters(&mut Reader {
            bytes: &dtt,
            pos: 0,
        })
        .unwrap()
    }

    /// One-level forward transform with the matching analysis filters (h[k] = (-1)^k g[k]).
    fn analyze(x: &[f32], inverted: bool, f: &Filters) -> Vec<f32> {
        let n = x.len() as isize;
        let at = |i: isize| {
            let mut i = i;
            while i < 0 || i > n - 1 {
                i = if i < 0 { -i } else { 2 * (n - 1) - i };
            }
            x[i as usize]
        };
        let modulate = |g: &[f32]| -> Vec<f32> {
            let c = g.len() / 2;
            g.iter()
                .enumerate()
                .map(|(i, &v)| if i.abs_diff(c) % 2 == 0 { v } else { -v })
                .collect()
        };
        let (h0, h1) = (modulate(&f.high), modulate(&f.low));
        let filt = |h: &[f32], centre: isize| {
            let c = (h.len() / 2) as isize;
            h.iter()
                .enumerate()
                .map(|(k, &v)| v * at(centre + k as isize - c))
                .sum::<f32>()
        };
        let low: Vec<f32> = (0..(n + 1) / 2).map(|i| filt(&h0, 2 * i)).collect();
        let high: Vec<f32> = (0..n / 2).map(|i| filt(&h1, 2 * i + 1)).collect();
        if inverted {
            [high, low].concat()
        } else {
            [low, high].concat()
        }
    }

    #[test]
    fn synthesis_inverts_analysis() {
        let f = nbis_filters();
        for n in [2usize, 3, 4, 5, 8, 9, 17, 64, 101] {
            for inverted in [false, true] {
                let x: Vec<f32> = (0..n).map(|i| ((i * 37 + 11) % 23) as f32 - 9.0).collect();
                let mut out = Vec::new();
                synthesize(&analyze(&x, inverted, &f), inverted, &f, &mut out);
                let worst = x
                    .iter()
                    .zip(&out)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-3, "n {n} inverted {inverted}: error {worst}");
            }
        }
    }

    #[test]
    fn layout_covers_the_plane_once() {
        for (w, h) in [(832, 768), (545, 622), (64, 64), (101, 77)] {
            let layout = Layout::new(w, h);
            assert_eq!(layout.bands.len(), TABLE_BANDS);
            let mut seen = vec![0u8; w * h];
            for b in &layout.bands {
                for y in b.y..b.y + b.h {
                    for x in b.x..b.x + b.w {
                        seen[y * w + x] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{w}x{h}");
        }
    }
}
