//! 1:N candidate search for two thumbs without comparing against everyone: an inverted index of
//! MCC locality-sensitive hash keys that counts only *geometrically consistent* key matches.
//!
//! Each cylinder of a thumb gives [`KEY_FUNCTIONS`] keys, and each key carries the pose (position,
//! direction) of the cylinder it came from. A key is a MinHash of the cylinder's set cells (Broder,
//! 1997): each hash function visits the cells (every layer's disc cells) in a fixed random order,
//! and the key is the places in that order of the first two set cells. Two cylinders give the same
//! key with a probability of about the square of the Jaccard similarity of their set cells, and
//! MCC's local similarity is their Dice coefficient, a function of the Jaccard similarity: the keys
//! are a locality-sensitive hash of the very similarity MCC computes. Cylinders are sparse (a few
//! dozen of some 300 cells set), so MCC-LSH's keys of sampled bits (Cappelli, Ferrara and Maltoni,
//! TPAMI 2011; this index's until 2026-12) are mostly zeros, and a third of all postings fell in
//! keys with a single bit set; the MinHash keys spread the postings over more, shorter lists, and a
//! mate's cylinders collide more often than strangers' (measured in `BENCHMARKS.md`). A key is only
//! made where every cell visited before its second set cell is valid, since an invalid cell could
//! be set in another impression. An enrolled thumb posts its distinct keys; a probe looks up its
//! own. A key match between a probe and an enrolled cylinder implies a rotation (the difference of
//! their directions) and with it a translation; an enrolled thumb's votes are counted in bins of
//! rotation and translation, and its score is the weight of the best 2×2×2 window of bins.
//! Strangers share many keys (fingerprints share local structure) but their matches disagree on the
//! pose; a mate's agree. The votes of one pair of cylinders (the same probe and enrolled
//! cylinder, through different keys) weigh the square root of their sum ([`pair_weight`]): many
//! pairs agreeing on a pose say more than a few pairs that collide on many keys. A window takes
//! its pairs one to one, heaviest first ([`one_to_one`]), as MCC pairs cylinders: one probe
//! cylinder alike to several enrolled ones (or the other way round) counts once. A vote weighs
//! more the rarer its key is in the population ([`RARITY_POWER`]): a match on a key few thumbs
//! post says more than one on a key a fifth of them do. Both thumbs' scores are added and the
//! best go to MCC re-ranking ([`rerank`]).
//!
//! The cost of a search is the number of postings it reads, which grows with the population: the
//! lists of common keys hold a large share of all thumbs. Each key's postings are kept in
//! [`SECTORS`] lists by the direction of the cylinder that gave them, and a probe cylinder reads
//! only the sectors within the largest admissible rotation of its own direction (4 of 16): the
//! postings it skips could only give votes that are thrown away, so this changes no score. A
//! search reads those lists shortest first and stops before [`HIT_BUDGET`] postings per thumb, so
//! its time is bounded whatever the population; in a large one the commonest keys are left unread,
//! which costs recall. Both are measured against real fingers and exhaustive MCC in
//! `BENCHMARKS.md`. Since those lists are left unread, a list that grows past [`LIST_CAP`] is
//! dropped and no longer posted to (stopped): in a large population that is more than a third of
//! the postings, and the memory goes to posting a larger share of the key values instead
//! ([`ThumbIndex::with_share`]).
//!
//! Keys are derived deterministically from templates, so the index can be rebuilt from them; it
//! is saved as its posting lists and loaded without recomputing, and updated one thumb at a time
//! (or in batches, for large loads).

use std::io::{Read, Write};

use crate::Error;
use crate::mcc::{LAYER_WORDS, MccMatcher, MccTemplate, ND, NS};

/// Hash functions (keys) per cylinder.
pub const KEY_FUNCTIONS: usize = 16;
/// Bits of a key's value: the places of its first two set cells, `first · ORDER_LEN + second`.
pub const KEY_BITS: usize = 18;
/// Places in a hash function's order of the cells (an upper bound: every layer's disc cells).
const ORDER_LEN: usize = ND * NS * NS;
const _: () = assert!(ORDER_LEN * ORDER_LEN <= 1 << KEY_BITS);
/// Seed of the hash functions' orders of the cells: part of the index format (changing it changes
/// every key).
const ORDER_SEED: u64 = 0x5EED_D5E9_F14E_0002;
/// Most postings one thumb of a search reads (the shortest lists first). Chosen on the dev set
/// at 10 M people (`DEV_MATES`, `BENCHMARKS.md`, 2026-12-04): the mate within 10,000 in 68.0 /
/// 75.0 / 76.5 / 81.0 % of searches at 6 / 9 / 12 / 16 M postings, for a search p99 of 271 / 346
/// / 425 / 1,063 ms on the 2-core VM of that day. With MCC re-ranking of the 10,000, 9 M keeps
/// the duplicate search at 0.43 s p99 there, and projected at about 0.9 s on the VM of 2026-12-03
/// (half as fast; not measured there). With the coarser bins and narrower rotation of session 13
/// (`CELL`, `MAX_ROTATION`) the dev set gives 84.0 / 87.0 % at 9 / 12 M, for a search p99 of
/// 346–467 / 404–444 ms. With the MinHash keys of session 14 (one value in 3 posted) the dev set
/// gives 88.5 / 93.5 / 94.5 % at 5 / 7 / 9 M, for a search p99 of 311 / 539 / 498–517 ms on a
/// slower VM. With three values in 4 and [`LIST_CAP`] (session 15) it gives 97.0 / 98.5 % at 9 /
/// 13.5 M, for a search p99 of 473–504 / 671–707 ms on that VM (0.78 s with the re-ranking at 13.5
/// M). [`ThumbIndex::set_hit_budget`] changes it where the hardware allows.
pub const HIT_BUDGET: usize = 9_000_000;
/// Longest a posting list grows ([`ThumbIndex::set_list_cap`]): a list that would grow longer is
/// dropped and its key and sector are no longer posted (a stop list, as a text index stops its
/// commonest words). A search reads its lists shortest first within [`HIT_BUDGET`], so at that
/// budget a list this long is read only by a probe with few lists of its own: at 1 M people with a
/// tenth of the budget and of this cap, the cap drops 39 % of the postings (every key value posted)
/// or 38 % (three in four) and leaves the mates found the same within one search in 1,000
/// (measured in `BENCHMARKS.md`), which buys a larger share in the same memory: at 10 M people,
/// three values in 4 take 3.80 × 10⁹ postings (23,086 lists stopped) where one in 2 took 4.05 ×
/// 10⁹. No list reaches it below about half a million people.
pub const LIST_CAP: u32 = 50_000;
/// Direction sectors each key's postings are split into (a power of two dividing 256).
pub const SECTORS: u32 = 16;
/// Width of a sector in 1/256 turn.
const SECTOR_WIDTH: i32 = 256 / SECTORS as i32;
/// A list is named by its key (below `1 << SECTOR_SHIFT`) and its sector above it.
const SECTOR_SHIFT: u32 = KEY_FUNCTIONS.trailing_zeros() + KEY_BITS as u32;
const _: () =
    assert!(KEY_FUNCTIONS.is_power_of_two() && SECTOR_SHIFT + SECTORS.trailing_zeros() <= 32);
/// Largest rotation between two impressions a vote may imply, in 1/256 turn (33.75°). Chosen at
/// 1 M people (`BENCHMARKS.md`, session 13): 45° (32), the earlier setting, makes a probe key read
/// 5 sectors rather than 4, which the budget pays for; 28° (20) lost real later impressions of
/// FVC2002 DB2_B that were turned further.
const MAX_ROTATION: i32 = 24;
/// Sectors a probe key reads: those a window of directions `2 · MAX_ROTATION + 1` wide touches.
#[cfg(test)]
const SECTORS_READ: usize =
    (2 * MAX_ROTATION as usize + SECTOR_WIDTH as usize) / SECTOR_WIDTH as usize;
/// Rotation bins over `[-MAX_ROTATION, MAX_ROTATION]`.
const ROTATION_BINS: i32 = 8;
/// Side of a translation bin, 500-dpi pixels (a window is two bins a side). Chosen at 1 M people
/// (`BENCHMARKS.md`, session 13): 16 px, the earlier setting, split a distorted mate's votes
/// between windows; from 32 px to 64 px the dev set's recall stays level, with or without a budget.
const CELL: f32 = 32.0;
/// Stored coordinates are in units of this many 500-dpi pixels (0..=255, so up to 1,020 px).
const COORD_UNIT: f32 = 4.0;
const FILE_MAGIC: &[u8; 8] = b"DSPPFIX6";
const NO_SLOT: u32 = u32::MAX;

/// One key of a thumb with the pose of the cylinder it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct PosedKey {
    /// Hash function (bits [`KEY_BITS`]..) and key value (bits 0..[`KEY_BITS`]).
    key: u32,
    /// Cylinder direction in 1/256 turn.
    angle: u8,
    /// Cylinder centre in [`COORD_UNIT`] pixels, x right and y down.
    x: u8,
    y: u8,
}

impl PosedKey {
    /// The list this key is posted in: its key and the sector of its direction.
    fn list(self) -> u32 {
        list_of(self.key, self.angle)
    }
}

/// The list of a key posted by a cylinder of direction `angle` (1/256 turn).
fn list_of(key: u32, angle: u8) -> u32 {
    key | ((u32::from(angle) / SECTOR_WIDTH as u32) << SECTOR_SHIFT)
}

/// The lists a probe key of direction `angle` reads: its key in every sector that holds a
/// direction within [`MAX_ROTATION`] of `angle` (always [`SECTORS_READ`] of [`SECTORS`]).
fn probe_lists(key: u32, angle: u8) -> impl Iterator<Item = u32> {
    let first = (i32::from(angle) - MAX_ROTATION).rem_euclid(256) / SECTOR_WIDTH;
    let last = (i32::from(angle) + MAX_ROTATION).rem_euclid(256) / SECTOR_WIDTH;
    let count = (last - first).rem_euclid(SECTORS as i32) + 1;
    (0..count).map(move |i| key | ((((first + i) as u32) % SECTORS) << SECTOR_SHIFT))
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// For each hash function, the cylinder's cells (layer, cell: every layer's cells inside the disc)
/// in a fixed random order.
static CELL_ORDERS: std::sync::LazyLock<Vec<Vec<(u8, u8)>>> = std::sync::LazyLock::new(|| {
    let disc: Vec<usize> = (0..NS * NS)
        .filter(|cell| {
            let u = 2 * (cell / NS) as i64 - (NS as i64 - 1);
            let v = 2 * (cell % NS) as i64 - (NS as i64 - 1);
            u * u + v * v <= (NS * NS) as i64
        })
        .collect();
    (0..KEY_FUNCTIONS as u64)
        .map(|function| {
            let mut ranked: Vec<(u64, (u8, u8))> = (0..ND)
                .flat_map(|layer| disc.iter().map(move |&cell| (layer as u8, cell as u8)))
                .map(|(layer, cell)| {
                    let place = (function << 16) | (u64::from(layer) << 8) | u64::from(cell);
                    (splitmix(ORDER_SEED ^ splitmix(place)), (layer, cell))
                })
                .collect();
            ranked.sort_unstable();
            ranked.into_iter().map(|(_, cell)| cell).collect()
        })
        .collect()
});

/// The key value of one cylinder under one hash function (its cells in `order`): the places of
/// its first two set cells, or `None` where fewer than two are set before the first invalid cell.
fn min_hash(
    order: &[(u8, u8)],
    valid: &[u64; LAYER_WORDS],
    bits: &[[u64; LAYER_WORDS]; ND],
) -> Option<u32> {
    let mut first = None;
    for (place, &(layer, cell)) in order.iter().enumerate() {
        let (word, bit) = (usize::from(cell) / 64, u32::from(cell) % 64);
        if (valid[word] >> bit) & 1 == 0 {
            return None;
        }
        if (bits[usize::from(layer)][word] >> bit) & 1 == 1 {
            match first {
                None => first = Some(place),
                Some(first) => return Some((first * ORDER_LEN + place) as u32),
            }
        }
    }
    None
}

fn quantize(value: f32) -> u8 {
    (value / COORD_UNIT).round().clamp(0.0, 255.0) as u8
}

/// The index keys of one thumb: every key of every cylinder with its pose, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbKeys(Vec<PosedKey>);

impl ThumbKeys {
    /// The keys of a template: for every cylinder and hash function, the MinHash key where it
    /// has one ([`min_hash`]).
    pub fn from_mcc(template: &MccTemplate) -> ThumbKeys {
        let orders = &*CELL_ORDERS;
        let mut keys = Vec::with_capacity(template.len() * KEY_FUNCTIONS);
        for ((valid, bits), (x, y, angle)) in
            template.cylinder_bits().zip(template.cylinder_poses())
        {
            let angle = ((angle / std::f32::consts::TAU * 256.0).round() as i32 & 255) as u8;
            let (x, y) = (quantize(x), quantize(-y));
            for (function, order) in orders.iter().enumerate() {
                if let Some(value) = min_hash(order, valid, bits) {
                    keys.push(PosedKey {
                        key: ((function as u32) << KEY_BITS) | value,
                        angle,
                        x,
                        y,
                    });
                }
            }
        }
        keys.sort_unstable();
        ThumbKeys(keys)
    }

    /// The list each posted key goes to (key and direction sector), for estimating the lengths
    /// of the lists a search reads.
    #[doc(hidden)]
    pub fn posted_lists(&self) -> Vec<u32> {
        self.posted().into_iter().map(PosedKey::list).collect()
    }

    /// Every list a search with these keys as its probe would look in (a key once per sector it
    /// reads), for estimating the postings a search reads.
    #[doc(hidden)]
    pub fn probe_lists(&self) -> Vec<u32> {
        self.0
            .iter()
            .flat_map(|k| probe_lists(k.key, k.angle))
            .collect()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the template gave no key (no usable cylinder).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What an enrolled thumb posts: each key value once (its first pose), sorted.
    fn posted(&self) -> Vec<PosedKey> {
        self.posted_sampled((1, 1))
    }

    /// [`ThumbKeys::posted`], keeping only the key values whose hash modulo `of` is below `kept`
    /// (the same values for every print, so a mate's matching keys are kept or dropped together).
    fn posted_sampled(&self, (kept, of): (u32, u32)) -> Vec<PosedKey> {
        let mut distinct: Vec<PosedKey> = Vec::with_capacity(self.0.len());
        for k in &self.0 {
            if distinct.last().is_none_or(|d| d.key != k.key)
                && (kept >= of || splitmix(u64::from(k.key)) % u64::from(of) < u64::from(kept))
            {
                distinct.push(*k);
            }
        }
        distinct
    }

    /// Only the keys an enrolled thumb posts (what the index keeps of it), for building large
    /// test populations without holding every key.
    #[doc(hidden)]
    pub fn posted_keys(&self) -> ThumbKeys {
        ThumbKeys(self.posted())
    }

    /// Only the keys an enrolled thumb posts in an index of share `kept` in `of`
    /// ([`ThumbIndex::with_share`]), for evaluations that emulate such an index.
    #[doc(hidden)]
    pub fn posted_keys_sampled(&self, kept: u8, of: u8) -> ThumbKeys {
        let of = of.max(1);
        ThumbKeys(self.posted_sampled((u32::from(kept.clamp(1, of)), u32::from(of))))
    }

    /// A copy with every direction turned by `turn` (1/256 turn) and every position moved by
    /// (`dx`, `dy`) stored units: a stranger made from another one, for test populations.
    #[doc(hidden)]
    pub fn shifted(&self, turn: i8, dx: i8, dy: i8) -> ThumbKeys {
        let mut keys: Vec<PosedKey> = self
            .0
            .iter()
            .map(|k| PosedKey {
                angle: k.angle.wrapping_add(turn as u8),
                x: k.x.saturating_add_signed(dx),
                y: k.y.saturating_add_signed(dy),
                ..*k
            })
            .collect();
        keys.sort_unstable();
        ThumbKeys(keys)
    }
}

/// Which thumb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThumbSide {
    /// Right thumb.
    Right,
    /// Left thumb.
    Left,
}

impl ThumbSide {
    fn index(self) -> usize {
        match self {
            ThumbSide::Right => 0,
            ThumbSide::Left => 1,
        }
    }
}

/// A person's thumbs as index keys; a missing or excepted thumb is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbCodes {
    /// Right thumb.
    pub right: Option<ThumbKeys>,
    /// Left thumb.
    pub left: Option<ThumbKeys>,
}

/// A candidate of a search, best first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchCandidate {
    /// The enrolled person.
    pub person: u64,
    /// Fused score: the index's consistent votes, or after re-ranking the sum of the thumbs' MCC
    /// scores.
    pub score: f64,
}

/// Bits of a posting's direction kept: its place within its list's sector (the list names the
/// sector), in steps of 2/256 turn.
const ANGLE_BITS: u32 = SECTOR_WIDTH.trailing_zeros() - 1;
/// Bits of a posting's x and of its y: [`PosedKey`]'s coordinates in steps of two units (8 px).
const COORD_BITS: u32 = 7;
/// Bits of a posting's pose: the direction within the sector, then x and y.
const POSE_BITS: u32 = ANGLE_BITS + 2 * COORD_BITS;

/// A pose `[direction, x, y]` as a posting keeps it: each to an even step, and read back as the
/// odd value within it (the middle of the two values it stands for). Its direction stays in its
/// sector (sectors start at even directions), and it keeps itself.
fn stored_pose(pose: [u8; 3]) -> [u8; 3] {
    pose.map(|value| value | 1)
}

/// A slot gap whose Rice quotient reaches this is written whole instead (an escape): this many
/// one bits, then the gap less one in 32 bits. It bounds a posting to 76 bits.
const ESCAPE: u32 = 24;
/// Most bits one posting takes.
const MOST_POSTING_BITS: u64 = (POSE_BITS + ESCAPE + 32) as u64;

/// The postings of one key and direction sector, in ascending slot order, as a bit stream (least
/// significant bit first). Each posting is its pose ([`POSE_BITS`]: the cylinder's direction within
/// the sector, x and y, to the even steps of [`stored_pose`]), then its slot: the first posting's
/// in 32 bits, each later one's as its gap from the previous one, less one, Rice-coded (a unary
/// quotient, then `k` bits) with `k` the binary logarithm of the list's mean gap so far, which
/// encoder and decoder both know. Strangers' slots in a list are spread like a Poisson process, so
/// this is within about a bit of the entropy of the gaps: 3.43 bytes a posting with MinHash keys at
/// 1 M people and at 10 M (a list's length grows with the population, so its gaps do not), where
/// the byte-wise (LEB128) gaps and whole pose bytes of format 4 took about 5 (measured in
/// `BENCHMARKS.md`). The poses' even steps (2/256 turn, 8 px) are fine beside the votes' bins
/// (6/256 turn, 32 px): the same recall for a tenth less memory.
#[derive(Clone, Debug, Default)]
struct Postings {
    bytes: Vec<u8>,
    /// Bits of `bytes` written; the bits above it are zero.
    bits: u64,
    /// Slot of the last posting (the next one's gap is taken from it).
    last: u32,
    len: u32,
}

/// The Rice parameter of the gap after `len` postings the last of which is at `last`: about the
/// binary logarithm of the mean gap so far, `(last + 1) / len`, without a division.
fn rice_k(last: u32, len: u32) -> u32 {
    (u64::from(last) + 1)
        .ilog2()
        .saturating_sub(len.max(1).ilog2())
}

/// 56 or more bits of `bytes` from bit `at` on (zeros beyond the end).
fn peek(bytes: &[u8], at: u64) -> u64 {
    let byte = (at / 8) as usize;
    let word = match bytes.get(byte..byte + 8) {
        Some(eight) => {
            let mut word = [0u8; 8];
            word.copy_from_slice(eight);
            u64::from_le_bytes(word)
        }
        None => {
            let mut word = [0u8; 8];
            let rest = bytes.get(byte..).unwrap_or_default();
            word[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(word)
        }
    };
    word >> (at % 8)
}

impl Postings {
    /// Append the low `width` bits of `value` (`width` at most 56).
    fn put(&mut self, value: u64, width: u32) {
        debug_assert!(width <= 56 && value >> width == 0);
        let first = (self.bits / 8) as usize;
        let end = (self.bits + u64::from(width)).div_ceil(8) as usize;
        if self.bytes.len() < end {
            // Grown by a quarter at a time, not doubled: a large index is mostly these streams,
            // and doubling would leave a third of its memory unused on average.
            if self.bytes.capacity() < end {
                let more = (end - self.bytes.len()).max(self.bytes.len() / 4).max(8);
                self.bytes.reserve_exact(more);
            }
            self.bytes.resize(end, 0);
        }
        let mut shifted = value << (self.bits % 8);
        for byte in &mut self.bytes[first..end] {
            *byte |= shifted as u8;
            shifted >>= 8;
        }
        self.bits += u64::from(width);
    }

    /// Append a posting; `slot` must be above the last one's. Only the direction's place within
    /// its sector is kept of `pose[0]`, and the pose as [`stored_pose`] says.
    fn push(&mut self, slot: u32, pose: [u8; 3]) {
        debug_assert!(self.len == 0 || slot > self.last);
        let pose_bits = u64::from(pose[0] >> 1) & ((1 << ANGLE_BITS) - 1)
            | u64::from(pose[1] >> 1) << ANGLE_BITS
            | u64::from(pose[2] >> 1) << (ANGLE_BITS + COORD_BITS);
        self.put(pose_bits, POSE_BITS);
        if self.len == 0 {
            self.put(u64::from(slot), 32);
        } else {
            let gap = slot - self.last - 1;
            let k = rice_k(self.last, self.len);
            let quotient = gap >> k;
            if quotient < ESCAPE {
                // The quotient's ones, its closing zero, then the remainder.
                let ones = (1u64 << quotient) - 1;
                let remainder = u64::from(gap) & ((1 << k) - 1);
                self.put(ones | remainder << (quotient + 1), quotient + 1 + k);
            } else {
                self.put((1 << ESCAPE) - 1, ESCAPE);
                self.put(u64::from(gap), 32);
            }
        }
        self.last = slot;
        self.len += 1;
    }

    /// The postings of the list `list` whose slots `renumber` keeps ([`NO_SLOT`]: dropped), with
    /// their new slots.
    fn renumbered(&self, list: u32, renumber: &[u32]) -> Postings {
        let mut kept = Postings::default();
        for (slot, pose) in self.iter(list) {
            let new = renumber[slot as usize];
            if new != NO_SLOT {
                kept.push(new, pose);
            }
        }
        kept
    }

    /// The postings of the list `list` (whose sector restores each direction).
    fn iter(&self, list: u32) -> PostingIter<'_> {
        PostingIter {
            bytes: &self.bytes,
            at: 0,
            end: self.bits,
            slot: 0,
            read: 0,
            sector: ((list >> SECTOR_SHIFT) * SECTOR_WIDTH as u32) as u8,
        }
    }
}

/// The decoder of [`Postings`]; it stops at the end of the stream, and (for a stream read from a
/// file) at the first posting that would overrun it or take a slot past `u32::MAX`.
struct PostingIter<'a> {
    bytes: &'a [u8],
    at: u64,
    end: u64,
    slot: u32,
    read: u32,
    sector: u8,
}

impl PostingIter<'_> {
    /// Whether the stream ended exactly after its last posting.
    fn at_end(&self) -> bool {
        self.at == self.end
    }
}

impl Iterator for PostingIter<'_> {
    type Item = (u32, [u8; 3]);

    /// Inlined into the search's loop over a list: called out of line, its answer goes through
    /// the stack, and the caller's load of two pose bytes as one word could not be forwarded from
    /// the decoder's byte stores (measured in `BENCHMARKS.md`, session 19).
    #[inline(always)]
    fn next(&mut self) -> Option<(u32, [u8; 3])> {
        if self.at >= self.end {
            return None;
        }
        // One look at the stream holds the pose and, but for the longest gaps, the slot's gap.
        let word = peek(self.bytes, self.at);
        let field =
            |shift: u32, bits: u32| ((word >> shift) as u8 & ((1 << bits) - 1) as u8) << 1 | 1;
        let pose = [
            self.sector | field(0, ANGLE_BITS),
            field(ANGLE_BITS, COORD_BITS),
            field(ANGLE_BITS + COORD_BITS, COORD_BITS),
        ];
        let rest = word >> POSE_BITS;
        let (slot, used) = if self.read == 0 {
            (rest as u32, u64::from(POSE_BITS + 32))
        } else {
            let k = rice_k(self.slot, self.read);
            // The quotient's ones all lie within the look (57 bits or more) unless it is an
            // escape, whose ones do.
            let quotient = (!rest).trailing_zeros();
            let (gap, used) = if quotient >= ESCAPE {
                let at = self.at + u64::from(POSE_BITS + ESCAPE);
                let gap = peek(self.bytes, at) & u64::from(u32::MAX);
                (gap, POSE_BITS + ESCAPE + 32)
            } else {
                let used = POSE_BITS + quotient + 1 + k;
                let remainder = if used <= 57 {
                    rest >> (quotient + 1)
                } else {
                    peek(self.bytes, self.at + u64::from(POSE_BITS + quotient + 1))
                };
                (
                    u64::from(quotient) << k | (remainder & ((1 << k) - 1)),
                    used,
                )
            };
            (
                u32::try_from(u64::from(self.slot) + gap + 1).ok()?,
                u64::from(used),
            )
        };
        let at = self.at + used;
        if at > self.end {
            return None;
        }
        self.at = at;
        self.slot = slot;
        self.read += 1;
        Some((slot, pose))
    }
}

/// The postings of one thumb side (right thumbs are only compared with right thumbs).
#[derive(Clone, Debug, Default)]
struct Side {
    /// By list: key and direction sector ([`list_of`]).
    lists: rustc_hash::FxHashMap<u32, Postings>,
    /// Person (index into `ThumbIndex::people`) of each slot; [`NO_SLOT`] once replaced or removed.
    slot_person: Vec<u32>,
    /// Postings whose slot is dead, purged by [`Side::compact`].
    dead_postings: usize,
    postings: usize,
    /// Lists dropped for growing past the cap ([`LIST_CAP`]): never posted to again.
    stopped: rustc_hash::FxHashSet<u32>,
}

impl Side {
    /// A new slot for `person`'s thumb of `postings` postings (which the caller then posts).
    fn open_slot(&mut self, person: u32, postings: usize) -> u32 {
        let slot = self.slot_person.len() as u32;
        self.slot_person.push(person);
        self.postings += postings;
        slot
    }

    fn add(&mut self, person: u32, keys: &[PosedKey]) -> u32 {
        let slot = self.open_slot(person, keys.len());
        for k in keys {
            self.lists
                .entry(k.list())
                .or_default()
                .push(slot, [k.angle, k.x, k.y]);
        }
        slot
    }

    fn kill(&mut self, slot: u32, postings: usize) {
        if let Some(person) = self.slot_person.get_mut(slot as usize) {
            *person = NO_SLOT;
            self.dead_postings += postings;
        }
    }

    /// The live slots numbered densely in order (what [`Side::compact`] and the loader number
    /// them): the old-to-new slot map ([`NO_SLOT`] for dead slots) and the person of each new slot.
    fn live_numbering(&self) -> (Vec<u32>, Vec<u32>) {
        let mut renumber = vec![NO_SLOT; self.slot_person.len()];
        let mut live = Vec::new();
        for (slot, &person) in self.slot_person.iter().enumerate() {
            if person != NO_SLOT {
                renumber[slot] = live.len() as u32;
                live.push(person);
            }
        }
        (renumber, live)
    }

    /// Drop dead postings and renumber the live slots densely; returns the old-to-new slot map.
    fn compact(&mut self) -> Vec<u32> {
        let (renumber, live) = self.live_numbering();
        for (&key, list) in self.lists.iter_mut() {
            let mut kept = list.renumbered(key, &renumber);
            kept.bytes.shrink_to_fit();
            *list = kept;
        }
        self.lists.retain(|_, list| list.len > 0);
        self.slot_person = live;
        self.postings -= self.dead_postings;
        self.dead_postings = 0;
        renumber
    }

    /// The scores of the slots (dead ones too) the probe keys vote for through the lists `reads`
    /// names, in no particular order: the lists read on `threads` threads into one vector of hits
    /// per block of slots, then each block grouped and scored alone ([`score_block`]).
    ///
    /// The scores are left in `scratch.scorers[..].1` (one vector per scoring thread); the
    /// vectors of `scratch` keep their room from search to search.
    fn exact_scores(
        &self,
        probe: &[ProbeKey],
        reads: &[ListRead],
        threads: usize,
        scratch: &mut SearchScratch,
    ) {
        let blocks = self.slot_person.len().div_ceil(1 << BLOCK_BITS).max(1);
        let collectors = threads.min(reads.len()).max(1);
        scratch.collectors.resize_with(collectors, Vec::new);
        // Reads are dealt out in turn, so that each thread gets short and long lists alike.
        std::thread::scope(|scope| {
            for (t, hits) in scratch.collectors.iter_mut().enumerate() {
                scope.spawn(move || {
                    let mine: Vec<ListRead> =
                        reads.iter().skip(t).step_by(threads).copied().collect();
                    // Room for every posting read, spread evenly (slots are), so that the
                    // vectors seldom grow (and copy) while collecting.
                    let postings: usize = mine
                        .iter()
                        .filter_map(|read| self.lists.get(&read.list))
                        .map(|list| list.len as usize)
                        .sum();
                    let room = postings / blocks + postings / blocks / 4 + 64;
                    hits.resize_with(blocks, Vec::new);
                    for block in hits.iter_mut() {
                        block.clear();
                        block.reserve(room);
                    }
                    collect_hits(self, probe, &mine, hits);
                });
            }
        });
        let scorers = threads.min(blocks);
        scratch
            .scorers
            .resize_with(scorers, || (BlockScratch::new(), Vec::new()));
        let collected = &scratch.collectors;
        std::thread::scope(|scope| {
            for (t, (block_scratch, scores)) in scratch.scorers.iter_mut().enumerate() {
                scope.spawn(move || {
                    scores.clear();
                    for b in (t..blocks).step_by(threads) {
                        let parts: Vec<&[Hit]> =
                            collected.iter().map(|w| w[b].as_slice()).collect();
                        if parts.iter().all(|p| p.is_empty()) {
                            continue;
                        }
                        // Every slot is scored: `fuse_side` drops the dead ones as it looks their
                        // people up, so a slot's person is read there only, not here as well (at
                        // population scale each is a cache miss).
                        score_block(&parts, b as u32, block_scratch, scores);
                    }
                });
            }
        });
    }
}

/// What one search writes besides its answer, kept from search to search in [`ThumbIndex`]'s
/// pool: at population scale a search's hits fill hundreds of megabytes, and fresh memory each
/// time costs its page faults and zeroing (measured in `BENCHMARKS.md`).
#[derive(Default)]
struct SearchScratch {
    /// Per collecting thread, per block of slots: the hits.
    collectors: Vec<Vec<Vec<Hit>>>,
    /// Per scoring thread: its block scratch and the scores of its slots.
    scorers: Vec<(BlockScratch, Vec<(u32, f32)>)>,
    /// Per person (index into `ThumbIndex::people`): both thumbs' scores added; all zero
    /// between searches.
    per_person: Vec<f32>,
}

/// The scratch of searches not running now (one per search that ran at the same time as others).
#[derive(Default)]
struct ScratchPool(std::sync::Mutex<Vec<SearchScratch>>);

impl ScratchPool {
    fn take(&self) -> SearchScratch {
        self.0
            .lock()
            .map(|mut pool| pool.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn give(&self, scratch: SearchScratch) {
        if let Ok(mut pool) = self.0.lock() {
            pool.push(scratch);
        }
    }
}

/// A copy of an index starts with no scratch of its own.
impl Clone for ScratchPool {
    fn clone(&self) -> ScratchPool {
        ScratchPool::default()
    }
}

impl std::fmt::Debug for ScratchPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScratchPool")
    }
}

/// One enrolled person.
#[derive(Clone, Copy, Debug)]
struct Person {
    id: u64,
    /// Slot per side, and how many keys it posted.
    slots: [(u32, u16); 2],
}

/// The enrolled thumbs of a population as posting lists.
#[derive(Clone, Debug)]
pub struct ThumbIndex {
    sides: [Side; 2],
    people: Vec<Person>,
    index_of: rustc_hash::FxHashMap<u64, u32>,
    /// Enrolled thumbs post the key values whose hash modulo `.1` is below `.0` ((1, 1): all).
    share: (u32, u32),
    /// Most postings a search reads per thumb.
    budget: usize,
    /// Longest a list grows before it is stopped ([`LIST_CAP`]).
    list_cap: u32,
    /// Exponent of the rarity weight of a vote ([`RARITY_POWER`]).
    rarity_power: f64,
    scratch: ScratchPool,
}

impl Default for ThumbIndex {
    fn default() -> ThumbIndex {
        ThumbIndex::with_share(1, 1)
    }
}

/// One consistent-vote candidate: enrolled slot and its packed pose bin (rotation, x, y).
type Hit = u64;

/// Rotation bin of `delta` (1/256 turn, within ±MAX_ROTATION).
fn rotation_bin(delta: i32) -> i32 {
    ((delta + MAX_ROTATION) * ROTATION_BINS) / (2 * MAX_ROTATION + 1)
}

/// A probe key with its position rotated by every admissible rotation.
struct ProbeKey {
    key: u32,
    angle: u8,
    /// How many times the probe has this key value (each match weighs 1 over it).
    multiplicity: u8,
    /// The probe cylinder it came from, its index among the probe's cylinders shifted into
    /// place in a vote's pair tag ([`pair_tag`]).
    cylinder: u16,
    /// For each rotation `delta + MAX_ROTATION`: the rotated position (500-dpi px, y up).
    rotated: Vec<(f32, f32)>,
}

fn probe_keys(keys: &ThumbKeys) -> Vec<ProbeKey> {
    // The probe's cylinders by pose (at most `MAX_CYLINDERS`; more would share indexes).
    let mut poses: Vec<[u8; 3]> = keys.0.iter().map(|k| [k.angle, k.x, k.y]).collect();
    poses.sort_unstable();
    poses.dedup();
    let mut out = Vec::with_capacity(keys.0.len());
    let mut start = 0;
    while start < keys.0.len() {
        let key = keys.0[start].key;
        let end = start + keys.0[start..].iter().take_while(|k| k.key == key).count();
        let multiplicity = (end - start).min(255) as u8;
        for k in &keys.0[start..end] {
            let (x, y) = (f32::from(k.x) * COORD_UNIT, -f32::from(k.y) * COORD_UNIT);
            let rotated = (-MAX_ROTATION..=MAX_ROTATION)
                .map(|delta| {
                    let theta = delta as f32 / 256.0 * std::f32::consts::TAU;
                    let (s, c) = theta.sin_cos();
                    (c * x - s * y, s * x + c * y)
                })
                .collect();
            out.push(ProbeKey {
                key,
                angle: k.angle,
                multiplicity,
                cylinder: (poses.partition_point(|p| *p < [k.angle, k.x, k.y]) as u16
                    % PROBE_CYLINDERS)
                    << ENROLLED_BITS,
                rotated,
            });
        }
        start = end;
    }
    out
}

/// One list a search reads: which probe key reads it, the list, and the weight code of its votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ListRead {
    probe: u32,
    list: u32,
    code: u8,
}

/// Weight of a vote by its code: 2^((code − 192) / 16), so codes step by 4.4 % from 2⁻¹² to 2⁴.
const WEIGHTS: [f32; 256] = {
    let mut table = [0f32; 256];
    let mut weight = 1.0 / 4096.0; // 2⁻¹², code 0
    let mut code = 0;
    while code < 256 {
        table[code] = weight as f32;
        weight *= 1.044_273_782_427_413_8; // 2^(1/16)
        code += 1;
    }
    table
};

/// The code of the weight nearest `weight`, clamped to the table (weights at or below 2⁻¹² take
/// code 0).
fn weight_code(weight: f64) -> u8 {
    (weight.log2() * 16.0 + 192.0).round().clamp(0.0, 255.0) as u8
}

/// Exponent of the rarity weight of a vote: a vote through a list of `len` postings among `N`
/// thumbs of its side weighs `ln((N + 1) / (len + 1))` to this power (at least 0.05 to it), over
/// its probe key's multiplicity, as inverse document frequency weighs a rare word in text search.
/// Chosen on people of synthetic fingers alone (`DEV_MATES` in `examples/index_scale.rs`, 10 M
/// people, mate within 10,000: 54.5 % at 0, 63.0 % at 0.5, 64.0 % at 1, 63.0 % at 1.5), before
/// a pair of cylinders' votes were weighed together by the root of their sum ([`pair_weight`]),
/// which takes the root of a lone vote's weight too.
pub const RARITY_POWER: f64 = 1.0;

/// Weight of a vote through a list of `length` postings among `population` thumbs, from a probe
/// key the probe has `multiplicity` times.
fn read_weight(length: usize, population: usize, multiplicity: u8, power: f64) -> u8 {
    let rarity = ((population as f64 + 1.0) / (length as f64 + 1.0))
        .ln()
        .max(0.05);
    weight_code(rarity.powf(power) / f64::from(multiplicity.max(1)))
}

/// The lists a probe reads: of every probe key's sector lists, the shortest first, as many as fit
/// in `budget` postings (`length` gives a list's length; empty lists are left out).
fn within_budget(
    probe: &[ProbeKey],
    length: impl Fn(u32) -> usize,
    budget: usize,
    population: usize,
    power: f64,
) -> Vec<ListRead> {
    let mut sized: Vec<(usize, ListRead)> = probe
        .iter()
        .enumerate()
        .flat_map(|(i, pk)| {
            probe_lists(pk.key, pk.angle).map(move |list| ListRead {
                probe: i as u32,
                list,
                code: 0,
            })
        })
        .map(|mut read| {
            let len = length(read.list);
            let multiplicity = probe[read.probe as usize].multiplicity;
            read.code = read_weight(len, population, multiplicity, power);
            (len, read)
        })
        .filter(|(len, _)| *len > 0)
        .collect();
    sized.sort_unstable_by_key(|(len, read)| (*len, read.list, read.probe));
    let mut read = 0usize;
    sized
        .into_iter()
        .take_while(|(len, _)| {
            read += len;
            read <= budget
        })
        .map(|(_, r)| r)
        .collect()
}

/// Bits of a hit: slot within its block (16) | pose bin (24: rotation 4, x 10, y 10) | pair tag
/// (16) | weight code (8). A hit is kept with its block's hits, which name the rest of its slot.
fn pack_hit(slot: u32, r: i32, bx: i32, by: i32, tag: u16, code: u8) -> Hit {
    let pose = ((r as u32 & ROTATION_MASK) << ROTATION_SHIFT)
        | ((bx as u32 & TRANSLATION_MASK) << X_SHIFT)
        | (by as u32 & TRANSLATION_MASK);
    (u64::from(slot & BLOCK_MASK) << SLOT_SHIFT)
        | (u64::from(pose) << BIN_SHIFT)
        | (u64::from(tag) << TAG_SHIFT)
        | u64::from(code)
}

/// A hit's slot within its block.
fn hit_slot(hit: Hit) -> u32 {
    (hit >> SLOT_SHIFT) as u32
}

/// What the votes of one pair of cylinders share in their hits: slot, pose bin and pair tag (the
/// pose a pair implies is the same for all its keys).
fn hit_pair(hit: Hit) -> u64 {
    hit >> TAG_SHIFT
}

/// The tag of a vote between the probe cylinder `cylinder` (its index, shifted into place) and
/// the enrolled cylinder of pose `pose`: the probe cylinder's index above a hash of the enrolled
/// pose ([`ENROLLED_BITS`]), so that the votes of one pair of cylinders are told from those of
/// another pair in the same pose bin, and two pairs that share a cylinder are told from two that
/// do not ([`shares_a_cylinder`]). The hash mixes each byte of the pose by an odd multiplier (a
/// few operations per posting read; the bytes are not combined into one wider load, which the
/// pose just written by the list's decoder would stall). Two cylinders of one enrolled thumb share
/// a hash about once in 2,048, and then count as one cylinder.
fn pair_tag(cylinder: u16, pose: [u8; 3]) -> u16 {
    let hash = u16::from(pose[0]).wrapping_mul(0x9E37)
        ^ u16::from(pose[1]).wrapping_mul(0x7F4B)
        ^ u16::from(pose[2]).wrapping_mul(0x2C1D);
    cylinder | hash >> (16 - ENROLLED_BITS)
}

/// Bits of a pair tag naming the enrolled cylinder (a hash of its pose); the probe cylinder's
/// index is above them.
const ENROLLED_BITS: u32 = 11;
const ENROLLED_MASK: u16 = (1 << ENROLLED_BITS) - 1;
/// Probe cylinders a tag tells apart: every cylinder of a template (`mcc::MAX_CYLINDERS`).
const PROBE_CYLINDERS: u16 = 1 << (16 - ENROLLED_BITS);
const _: () = assert!(crate::mcc::MAX_CYLINDERS <= PROBE_CYLINDERS as usize);

/// Whether two pairs of cylinders (by their tags) share the probe or the enrolled cylinder: a
/// window counts a cylinder in one pair at most, as MCC pairs cylinders one to one.
fn shares_a_cylinder(a: u16, b: u16) -> bool {
    let differ = a ^ b;
    differ >> ENROLLED_BITS == 0 || differ & ENROLLED_MASK == 0
}

/// Bits of a hit below its pair tag: the weight code.
const CODE_BITS: u32 = 8;
const TAG_SHIFT: u32 = CODE_BITS;
/// Bits of a hit below its pose bin.
const BIN_SHIFT: u32 = TAG_SHIFT + 16;
/// Bits of a hit below its slot.
const SLOT_SHIFT: u32 = BIN_SHIFT + 24;
const _: () = assert!(SLOT_SHIFT + BLOCK_BITS == 64);
/// Fields of a pose bin (a hit shifted down by [`BIN_SHIFT`]): rotation at this shift…
const ROTATION_SHIFT: u32 = 20;
const ROTATION_MASK: u32 = 0xF;
/// …x at this one, y at 0.
const X_SHIFT: u32 = 10;
const TRANSLATION_MASK: u32 = 0x3FF;
/// One step of each field of a pose bin.
const ROTATION_STEP: u32 = 1 << ROTATION_SHIFT;
const X_STEP: u32 = 1 << X_SHIFT;
const Y_STEP: u32 = 1;

/// A hit's pose bin with its rotation one step up (so that the lowest corner of a window holding
/// it stays positive).
fn lifted_bin(hit: Hit) -> u32 {
    ((hit >> BIN_SHIFT) as u32 & ((1 << 24) - 1)) + ROTATION_STEP
}

/// Translation bins are offset so that they stay positive (translations are within ±1,500 px,
/// ±94 bins).
const BIN_OFFSET: i32 = 512;

/// `value.floor()` for the small values of a pose bin, without a call to the C library (the
/// baseline x86-64 build has no rounding instruction).
fn floor(value: f32) -> i32 {
    let truncated = value as i32;
    truncated - i32::from(value < truncated as f32)
}

/// The vote of one key match: the pose bin the match implies, or `None` beyond the largest rotation.
fn vote(pk: &ProbeKey, code: u8, slot: u32, pose: [u8; 3]) -> Option<Hit> {
    let delta = i32::from(pose[0].wrapping_sub(pk.angle) as i8);
    if delta.abs() > MAX_ROTATION {
        return None;
    }
    let (rx, ry) = pk.rotated[(delta + MAX_ROTATION) as usize];
    let tx = f32::from(pose[1]) * COORD_UNIT - rx;
    let ty = -f32::from(pose[2]) * COORD_UNIT - ry;
    let bx = floor(tx / CELL) + BIN_OFFSET;
    let by = floor(ty / CELL) + BIN_OFFSET;
    let tag = pair_tag(pk.cylinder, pose);
    Some(pack_hit(slot, rotation_bin(delta), bx, by, tag, code))
}

/// Slots per block of a search's grouping of hits: a block's per-slot counters (256 KB) stay in
/// a core's second-level cache while its hits are grouped.
const BLOCK_BITS: u32 = 16;
const BLOCK_MASK: u32 = (1 << BLOCK_BITS) - 1;

/// Votes of the probe keys against the postings of the lists `reads` names in `side`, into
/// `blocks` by the slot's block (`slot >> BLOCK_BITS`; `blocks` has one per block of the side).
fn collect_hits(side: &Side, probe: &[ProbeKey], reads: &[ListRead], blocks: &mut [Vec<Hit>]) {
    for read in reads {
        // Dead slots vote too; their scores are dropped once per slot, not checked per posting.
        let Some(list) = side.lists.get(&read.list) else {
            continue;
        };
        let pk = &probe[read.probe as usize];
        for (slot, pose) in list.iter(read.list) {
            if let (Some(hit), Some(block)) = (
                vote(pk, read.code, slot, pose),
                blocks.get_mut((slot >> BLOCK_BITS) as usize),
            ) {
                block.push(hit);
            }
        }
    }
}

/// Scratch table for [`best_window`]: window sums by window, open addressing.
#[derive(Default)]
struct WindowSums {
    /// (window + 1, sum); 0 marks a free entry.
    entries: Vec<(u32, f32)>,
    touched: Vec<u32>,
    /// A slot's pairs of cylinders (lifted bin, weight, tag), for [`best_window`].
    pairs: Vec<(u32, f32, u16)>,
    /// Windows by their sum, and one window's pairs (weight, tag, lifted bin), for
    /// [`best_window_of_pairs`].
    ranked: Vec<(f32, u32)>,
    inside: Vec<(f32, u16, u32)>,
}

impl WindowSums {
    /// Add `weight` to `window`'s sum and return the new sum.
    fn add(&mut self, window: u32, weight: f32) -> f32 {
        let mask = self.entries.len() - 1;
        let tag = window + 1;
        let mut at = (tag.wrapping_mul(0x9E37_79B9) >> 7) as usize & mask;
        loop {
            let entry = &mut self.entries[at];
            if entry.0 == tag {
                entry.1 += weight;
                return entry.1;
            }
            if entry.0 == 0 {
                *entry = (tag, weight);
                self.touched.push(at as u32);
                return weight;
            }
            at = (at + 1) & mask;
        }
    }

    /// Empty the table, sized for `windows` windows.
    fn reset(&mut self, windows: usize) {
        for &at in &self.touched {
            self.entries[at as usize] = (0, 0.0);
        }
        self.touched.clear();
        let size = (2 * windows).next_power_of_two().max(64);
        if self.entries.len() < size {
            self.entries = vec![(0, 0.0); size];
        }
    }
}

/// Weight of one hit, by its code.
fn hit_weight(hit: Hit) -> f32 {
    WEIGHTS[(hit & 0xFF) as usize]
}

/// A pose bin's three fields (rotation, x, y; each below 2¹⁰) in lanes of [`LANE`] bits, for [`near`].
fn spread(bin: u32) -> u64 {
    let field = |shift: u32, mask: u32| u64::from((bin >> shift) & mask);
    field(ROTATION_SHIFT, ROTATION_MASK) << (2 * LANE)
        | field(X_SHIFT, TRANSLATION_MASK) << LANE
        | field(0, TRANSLATION_MASK)
}

/// Width of a lane of [`spread`]: room for a field biased by [`LANE_BIAS`] with its top bit clear.
const LANE: u32 = 20;
/// Added to each lane of a difference so that no lane borrows from the next.
const LANE_BIAS: u64 = 1 << 16;
/// `value` in each of the three lanes.
const fn lanes(value: u64) -> u64 {
    value << (2 * LANE) | value << LANE | value
}

/// Whether two bins (as [`spread`] lays them out) share a window: no field differs by more than
/// one. Each lane of `a + bias + 1 − b` is the field's difference plus `LANE_BIAS + 1`, positive
/// (fields are below 2¹⁰), so the lanes are subtracted at once; the difference is within ±1 when
/// that lane is in `[LANE_BIAS, LANE_BIAS + 2]`, which two additions test on each lane's top bit
/// (no lane overflows into the next).
fn near(a: u64, b: u64) -> bool {
    const TOP: u64 = lanes(1 << (LANE - 1));
    let d = a + lanes(LANE_BIAS + 1) - b;
    let at_least = d + lanes((1 << (LANE - 1)) - LANE_BIAS);
    let above = d + lanes((1 << (LANE - 1)) - LANE_BIAS - 3);
    at_least & TOP == TOP && above & TOP == 0
}

/// Weight of one pair of cylinders' votes in a window: the square root of the sum of their
/// weights. A mate's pair of cylinders collides on several of its keys (their local similarity
/// is high), but so do a stranger's pairs where the ridges are alike; counted whole, a few such
/// pairs outweighed many pairs that agree on the pose. Chosen on the collection's dev half against
/// the whole sum and the sum over the root of the votes' number (`BENCHMARKS.md`, session 19).
/// A single vote weighs the root of its weight, so the rarity of its key counts as its root too.
fn pair_weight(sum: f32) -> f32 {
    sum.sqrt()
}

/// Weight of a hit that is its pair's only vote (most hits at population scale).
fn lone_weight(hit: Hit) -> f32 {
    pair_weight(hit_weight(hit))
}

/// A hit's pair tag.
fn hit_tag(hit: Hit) -> u16 {
    (hit >> TAG_SHIFT) as u16
}

/// Weight of the best 2×2×2 window of pose bins among one slot's hits (sorted): the votes of each
/// pair of cylinders are weighed together ([`pair_weight`]), a window holds the pairs whose bins
/// are inside it (a window is named by its lowest corner, the rotation shifted up by one so that
/// it stays positive), and its weight is that of its pairs taken one to one ([`one_to_one`]); the
/// heaviest window wins.
fn best_window(hits: &[Hit], sums: &mut WindowSums) -> f32 {
    if let [hit] = hits {
        return lone_weight(*hit);
    }
    // Two hits (the commonest case with more than one at population scale): one comparison.
    if let [a, b] = hits {
        if hit_pair(*a) == hit_pair(*b) {
            return pair_weight(hit_weight(*a) + hit_weight(*b));
        }
        let (wa, wb) = (lone_weight(*a), lone_weight(*b));
        return if near(spread(lifted_bin(*a)), spread(lifted_bin(*b)))
            && !shares_a_cylinder(hit_tag(*a), hit_tag(*b))
        {
            wa + wb
        } else {
            wa.max(wb)
        };
    }
    // Each pair's votes are next to each other (same slot, bin and tag).
    let mut pairs = std::mem::take(&mut sums.pairs);
    pairs.clear();
    for run in hits.chunk_by(|a, b| hit_pair(*a) == hit_pair(*b)) {
        let sum: f32 = run.iter().map(|&hit| hit_weight(hit)).sum();
        pairs.push((lifted_bin(run[0]), pair_weight(sum), hit_tag(run[0])));
    }
    let best = best_window_of_pairs(&pairs, sums);
    sums.pairs = pairs;
    best
}

/// The weight of a window's pairs of cylinders `inside` (weight, tag, lifted bin) taken one to
/// one: heaviest first (then by tag and bin), each pair that shares no cylinder with a pair taken
/// before it ([`shares_a_cylinder`]), as MCC's local similarity sort takes its pairs. `inside` is
/// left sorted.
fn one_to_one(inside: &mut [(f32, u16, u32)]) -> f32 {
    inside.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    // At most one pair a probe cylinder, and a probe has at most `PROBE_CYLINDERS`.
    let mut taken = [0u16; PROBE_CYLINDERS as usize];
    let mut count = 0;
    let mut sum = 0f32;
    for &(weight, tag, _) in inside.iter() {
        if count < taken.len() && !taken[..count].iter().any(|&t| shares_a_cylinder(t, tag)) {
            taken[count] = tag;
            count += 1;
            sum += weight;
        }
    }
    sum
}

/// Whether a pair's lifted bin is inside the window of lowest corner `corner`: each field of the
/// difference is 0 or 1.
fn inside_window(lifted: u32, corner: u32) -> bool {
    lifted.wrapping_sub(corner) & !(ROTATION_STEP | X_STEP | Y_STEP) == 0
}

/// [`best_window`] of pairs of cylinders (lifted bin, weight, tag).
fn best_window_of_pairs(pairs: &[(u32, f32, u16)], sums: &mut WindowSums) -> f32 {
    if let [(_, weight, _)] = pairs {
        return *weight;
    }
    const FEW: usize = 8;
    if pairs.len() <= FEW {
        // Few pairs: each window containing a pair's bin taken over the pairs directly.
        let mut bins = [(0u32, 0u64, 0f32, 0u16); FEW];
        for (b, &(lifted, weight, tag)) in bins.iter_mut().zip(pairs) {
            *b = (lifted, spread(lifted), weight, tag);
        }
        let bins = &bins[..pairs.len()];
        let mut best = 0f32;
        for &(lifted, spread_bin, weight, _) in bins {
            // Only pairs in a neighbouring bin can share a window with this one; scattered
            // (stranger) votes mostly have none, and their best window is their own bin.
            let mut close = [(0u32, 0f32, 0u16); FEW];
            let mut count = 0;
            for &(other, spread_other, w, tag) in bins {
                if near(spread_bin, spread_other) {
                    close[count] = (other, w, tag);
                    count += 1;
                }
            }
            if count == 1 {
                best = best.max(weight);
                continue;
            }
            let close = &close[..count];
            for dr in [0, ROTATION_STEP] {
                for dx in [0, X_STEP] {
                    for dy in [0, Y_STEP] {
                        let corner = lifted - dr - dx - dy;
                        let mut inside = [(0f32, 0u16, 0u32); FEW];
                        let mut n = 0;
                        for &(other, w, tag) in close {
                            if inside_window(other, corner) {
                                inside[n] = (w, tag, other);
                                n += 1;
                            }
                        }
                        best = best.max(one_to_one(&mut inside[..n]));
                    }
                }
            }
        }
        return best;
    }
    // Many pairs: every window's plain sum, a bound on its one-to-one weight; the windows are
    // then taken heaviest bound first until no bound left beats the best one-to-one weight.
    sums.reset(8 * pairs.len());
    for &(lifted, weight, _) in pairs {
        // The window's rotation is stored one up, and translation bins are offset far from 0,
        // so nothing underflows.
        for dr in [0, ROTATION_STEP] {
            for dx in [0, X_STEP] {
                for dy in [0, Y_STEP] {
                    sums.add(lifted - dr - dx - dy, weight);
                }
            }
        }
    }
    let mut ranked = std::mem::take(&mut sums.ranked);
    ranked.clear();
    ranked.extend(sums.touched.iter().map(|&at| {
        let (window, sum) = sums.entries[at as usize];
        (sum, window - 1)
    }));
    ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut inside = std::mem::take(&mut sums.inside);
    let mut best = 0f32;
    for &(bound, corner) in &ranked {
        if bound <= best {
            break;
        }
        inside.clear();
        inside.extend(
            pairs
                .iter()
                .filter(|&&(lifted, ..)| inside_window(lifted, corner))
                .map(|&(lifted, weight, tag)| (weight, tag, lifted)),
        );
        best = best.max(one_to_one(&mut inside));
    }
    sums.ranked = ranked;
    sums.inside = inside;
    best
}

/// Marks a block counter that holds where its slot's hits go, not how many there are.
const PLACED: u32 = 1 << 31;

/// Scratch space of [`score_block`], reused from block to block.
struct BlockScratch {
    /// Per slot of the block: its number of hits, then (slots with more than one) `PLACED` and
    /// where its next hit goes in `grouped`; all zero between blocks.
    counts: Vec<u32>,
    grouped: Vec<Hit>,
    sums: WindowSums,
}

impl BlockScratch {
    fn new() -> BlockScratch {
        BlockScratch {
            counts: vec![0; 1 << BLOCK_BITS],
            grouped: Vec::new(),
            sums: WindowSums::default(),
        }
    }
}

/// Scores of the slots of block `block` (the hits of `parts`, each a collecting thread's hits in
/// the block), dead slots too: the scores [`score_slots`] gives the block's hits sorted, with the
/// block's first slot added to each slot, in another order. A slot with one hit (most of them at
/// population scale) scores its lone vote at once; the others' hits are grouped by a counting
/// sort within the block (which the cache holds), each slot's few hits then sorted by value, so
/// that its window sums are added in the same order however the lists were shared among threads.
fn score_block(
    parts: &[&[Hit]],
    block: u32,
    scratch: &mut BlockScratch,
    scores: &mut Vec<(u32, f32)>,
) {
    let base = block << BLOCK_BITS;
    let low = |hit: Hit| hit_slot(hit) as usize;
    let counts = &mut scratch.counts;
    let mut shared = 0usize;
    for &hit in parts.iter().copied().flatten() {
        let c = &mut counts[low(hit)];
        *c += 1;
        shared += usize::from(*c == 2);
    }
    if shared > 0 {
        // Where each shared slot's hits start, in slot order.
        let mut next = 0u32;
        for c in counts.iter_mut() {
            if *c > 1 {
                let n = *c;
                *c = PLACED | next;
                next += n;
            }
        }
        scratch.grouped.clear();
        scratch.grouped.resize(next as usize, 0);
    }
    for &hit in parts.iter().copied().flatten() {
        let c = &mut counts[low(hit)];
        if *c & PLACED == 0 {
            scores.push((base | hit_slot(hit), lone_weight(hit)));
        } else {
            scratch.grouped[(*c & !PLACED) as usize] = hit;
            *c += 1;
        }
    }
    if parts.iter().any(|p| !p.is_empty()) {
        counts.fill(0);
    }
    if shared > 0 {
        for run in scratch
            .grouped
            .chunk_by_mut(|a, b| hit_slot(*a) == hit_slot(*b))
        {
            run.sort_unstable();
            let score = best_window(run, &mut scratch.sums);
            scores.push((base | hit_slot(run[0]), score));
        }
    }
}

/// Scores per slot of one block's hits (sorted), slots numbered within the block.
fn score_slots(hits: &[Hit], scores: &mut Vec<(u32, f32)>) {
    let mut bins = WindowSums::default();
    for run in hits.chunk_by(|a, b| hit_slot(*a) == hit_slot(*b)) {
        scores.push((hit_slot(run[0]), best_window(run, &mut bins)));
    }
}

/// The consistent-vote score of a probe thumb against one enrolled thumb's keys, without an
/// index and without the rarity weight (every vote weighs 1 over its probe key's multiplicity):
/// what [`ThumbIndex::search`] computes for every enrolled thumb with a rarity power of 0 (for
/// tests and evaluation; [`thumb_scores_within`] weighs as a search in a population does).
pub fn thumb_score(probe: &ThumbKeys, enrolled: &ThumbKeys) -> f64 {
    thumb_scores(probe, std::slice::from_ref(enrolled))[0]
}

/// [`thumb_score`] of one probe against many enrolled thumbs.
pub fn thumb_scores(probe: &ThumbKeys, enrolled: &[ThumbKeys]) -> Vec<f64> {
    thumb_scores_reading(probe, enrolled, None)
}

/// [`thumb_scores`] as a search reads them in a population of `population` thumbs where the
/// list of `list` holds `length(list)` postings: only the lists [`ThumbIndex::search`] would read
/// within `budget` vote, weighted as it weighs them (for estimating recall at population scale;
/// see `examples/index_real.rs`).
#[doc(hidden)]
pub fn thumb_scores_within(
    probe: &ThumbKeys,
    enrolled: &[ThumbKeys],
    length: impl Fn(u32) -> usize,
    budget: usize,
    population: usize,
    power: f64,
) -> Vec<f64> {
    let reads = within_budget(&probe_keys(probe), length, budget, population, power);
    let read: std::collections::HashMap<(u32, u32), u8> =
        reads.iter().map(|r| ((r.probe, r.list), r.code)).collect();
    thumb_scores_reading(probe, enrolled, Some(&read))
}

/// The postings a search with `probe` reads within `budget` postings, `length` giving a list's
/// length: the lists [`ThumbIndex::search`] reads, shortest first (for evaluations that emulate
/// a population, beside [`thumb_scores_within`]).
#[doc(hidden)]
pub fn postings_read_within(
    probe: &ThumbKeys,
    length: impl Fn(u32) -> usize,
    budget: usize,
) -> usize {
    // The votes' weights play no part in which lists are read.
    within_budget(&probe_keys(probe), &length, budget, 1, RARITY_POWER)
        .iter()
        .map(|read| length(read.list))
        .sum()
}

fn thumb_scores_reading(
    probe: &ThumbKeys,
    enrolled: &[ThumbKeys],
    read: Option<&std::collections::HashMap<(u32, u32), u8>>,
) -> Vec<f64> {
    let probe = probe_keys(probe);
    // Without a population, a vote weighs only 1 over its probe key's multiplicity.
    let plain: Vec<u8> = probe
        .iter()
        .map(|pk| weight_code(1.0 / f64::from(pk.multiplicity.max(1))))
        .collect();
    let mut hits = Vec::new();
    let mut scores = Vec::new();
    enrolled
        .iter()
        .map(|enrolled| {
            let posted = enrolled.posted();
            hits.clear();
            for (i, pk) in probe.iter().enumerate() {
                let start = posted.partition_point(|k| k.key < pk.key);
                for k in posted[start..].iter().take_while(|k| k.key == pk.key) {
                    let code = match read {
                        None => plain[i],
                        Some(read) => match read.get(&(i as u32, k.list())) {
                            Some(&code) => code,
                            None => continue,
                        },
                    };
                    hits.extend(vote(pk, code, 0, stored_pose([k.angle, k.x, k.y])));
                }
            }
            hits.sort_unstable();
            scores.clear();
            score_slots(&hits, &mut scores);
            scores.first().map_or(0.0, |s| f64::from(s.1))
        })
        .collect()
}

/// A candidate as a search's short list orders it: higher score first (scores are positive, so
/// the order of their bits is theirs), then lower id.
type Kept = (std::cmp::Reverse<u32>, u64);

/// `work` on each of up to `threads` ranges of the per-person `sums` (each with the index of its
/// first person), on threads of their own when there is more than one range; the results in
/// range order.
fn on_people_ranges<R: Send>(
    sums: &mut [f32],
    threads: usize,
    work: impl Fn(&mut [f32], usize) -> R + Sync,
) -> Vec<R> {
    let chunk = sums.len().div_ceil(threads.max(1)).max(1);
    if chunk >= sums.len() {
        return vec![work(sums, 0)];
    }
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = sums
            .chunks_mut(chunk)
            .enumerate()
            .map(|(i, part)| scope.spawn(move || work(part, i * chunk)))
            .collect();
        workers
            .into_iter()
            .map(|w| match w.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Add one side's slot scores (`scorers`, as [`Side::exact_scores`] leaves them) to the
/// per-person sums, on `threads` threads each adding those of its own range of people: the same
/// sums as one thread, since a person has at most one score a side.
fn fuse_side(
    fused: &mut [f32],
    slot_person: &[u32],
    scorers: &[(BlockScratch, Vec<(u32, f32)>)],
    threads: usize,
) {
    on_people_ranges(fused, threads, |part, start| {
        for (_, scores) in scorers {
            for &(slot, score) in scores {
                // Dead slots (a thumb replaced or removed) are scored too, and dropped here.
                let person = slot_person[slot as usize];
                if person == NO_SLOT {
                    continue;
                }
                if let Some(sum) = part.get_mut((person as usize).wrapping_sub(start)) {
                    *sum += score;
                }
            }
        }
    });
}

/// The best `short_list` people of `sums` (people `start..` of the index), in no order, with
/// `sums` zeroed for the next search: a heap whose top is the worst kept.
fn best_of(sums: &mut [f32], start: usize, people: &[Person], short_list: usize) -> Vec<Kept> {
    let mut kept = std::collections::BinaryHeap::with_capacity(short_list + 1);
    for (person, score) in sums.iter_mut().enumerate() {
        if *score > 0.0 {
            let candidate = (
                std::cmp::Reverse(score.to_bits()),
                people[start + person].id,
            );
            *score = 0.0;
            if kept.len() < short_list {
                kept.push(candidate);
            } else if let Some(mut worst) = kept.peek_mut()
                && candidate < *worst
            {
                *worst = candidate;
            }
        }
    }
    kept.into_vec()
}

impl ThumbIndex {
    /// An empty index where enrolled thumbs post every distinct key (about 390 on real prints and
    /// 415 on synthetic ones, some 1.5 kB a thumb in memory).
    pub fn new() -> ThumbIndex {
        ThumbIndex::default()
    }

    /// An empty index where enrolled thumbs post only one key value in `sampling` (1 to 255):
    /// [`ThumbIndex::with_share`]`(1, sampling)`.
    pub fn with_sampling(sampling: u8) -> ThumbIndex {
        ThumbIndex::with_share(1, sampling)
    }

    /// An empty index where enrolled thumbs post only `kept` key values in `of` (1 ≤ `kept` ≤ `of`
    /// ≤ 255; `kept` is clamped into that range): memory falls by that factor, and at a fixed
    /// budget recall falls too (measured in `BENCHMARKS.md`). For populations whose full index
    /// would not fit in memory. The values kept are the same for every print, and those of a
    /// smaller share are among those of a larger one.
    pub fn with_share(kept: u8, of: u8) -> ThumbIndex {
        let of = of.max(1);
        ThumbIndex {
            sides: Default::default(),
            people: Vec::new(),
            index_of: rustc_hash::FxHashMap::default(),
            share: (u32::from(kept.clamp(1, of)), u32::from(of)),
            budget: HIT_BUDGET,
            list_cap: LIST_CAP,
            rarity_power: RARITY_POWER,
            scratch: ScratchPool::default(),
        }
    }

    /// The share of key values an enrolled thumb posts, (kept, of) ([`ThumbIndex::with_share`]).
    pub fn share(&self) -> (u8, u8) {
        (self.share.0 as u8, self.share.1 as u8)
    }

    /// Set the most postings a search reads per thumb ([`HIT_BUDGET`] unless set): a search's
    /// time grows with it, and in a large population so does its recall (measured in
    /// `BENCHMARKS.md`). Not saved with the index.
    pub fn set_hit_budget(&mut self, postings: usize) {
        self.budget = postings.max(1);
    }

    /// Set the longest a posting list may grow ([`LIST_CAP`] unless set; at least 1): lists longer
    /// than that now are stopped at once, and a list that grows past it later is stopped then. A
    /// stopped list stays stopped (its postings are gone) if the cap is raised; a rebuild restores
    /// it. Saved with the index.
    pub fn set_list_cap(&mut self, cap: u32) {
        self.list_cap = cap.max(1);
        for s in 0..2 {
            let keys: Vec<u32> = self.sides[s].lists.keys().copied().collect();
            self.stop_long_lists(s, keys);
        }
    }

    /// The longest a posting list may grow ([`ThumbIndex::set_list_cap`]).
    pub fn list_cap(&self) -> u32 {
        self.list_cap
    }

    /// Lists stopped for growing past the cap, both sides.
    pub fn stopped_lists(&self) -> usize {
        self.sides.iter().map(|s| s.stopped.len()).sum()
    }

    /// Drop the list `key` of side `s` and stop it: each of its postings is taken off its slot's
    /// count (or the dead postings' count), so that the counts stay exact.
    fn stop_list(&mut self, s: usize, key: u32) {
        let side = &mut self.sides[s];
        let Some(list) = side.lists.remove(&key) else {
            return;
        };
        for (slot, _) in list.iter(key) {
            match side.slot_person[slot as usize] {
                NO_SLOT => side.dead_postings -= 1,
                person => self.people[person as usize].slots[s].1 -= 1,
            }
        }
        side.postings -= list.len as usize;
        side.stopped.insert(key);
    }

    /// Stop those of side `s`'s lists `keys` that have grown past the cap.
    fn stop_long_lists(&mut self, s: usize, keys: impl IntoIterator<Item = u32>) {
        let cap = self.list_cap;
        let long: Vec<u32> = keys
            .into_iter()
            .filter(|key| self.sides[s].lists.get(key).is_some_and(|l| l.len > cap))
            .collect();
        for key in long {
            self.stop_list(s, key);
        }
    }

    /// Set the exponent of the rarity weight of a vote ([`RARITY_POWER`] unless set; for
    /// experiments).
    #[doc(hidden)]
    pub fn set_rarity_power(&mut self, power: f64) {
        self.rarity_power = power;
    }

    /// Number of people enrolled (with at least one thumb or none: everyone inserted).
    pub fn len(&self) -> usize {
        self.index_of.len()
    }

    /// Whether nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.index_of.is_empty()
    }

    /// Postings held (live), both sides.
    pub fn postings(&self) -> usize {
        self.sides
            .iter()
            .map(|s| s.postings - s.dead_postings)
            .sum()
    }

    /// Bytes the posting lists' streams take, both sides, dead postings included (3.43 a posting
    /// on a synthetic population of 1 M people).
    pub fn posting_bytes(&self) -> usize {
        self.sides
            .iter()
            .flat_map(|s| s.lists.values())
            .map(|list| list.bytes.len())
            .sum()
    }

    /// Posting lists held (each key and direction sector with a posting), both sides.
    pub fn lists(&self) -> usize {
        self.sides.iter().map(|s| s.lists.len()).sum()
    }

    fn person_index(&mut self, person: u64) -> u32 {
        if let Some(&index) = self.index_of.get(&person) {
            return index;
        }
        let index = self.people.len() as u32;
        self.people.push(Person {
            id: person,
            slots: [(NO_SLOT, 0); 2],
        });
        self.index_of.insert(person, index);
        index
    }

    /// Enrol or replace both thumbs of a person.
    pub fn insert(&mut self, person: u64, codes: ThumbCodes) {
        self.insert_thumb(person, ThumbSide::Right, codes.right.as_ref());
        self.insert_thumb(person, ThumbSide::Left, codes.left.as_ref());
    }

    /// Enrol or replace one thumb of a person (`None`: the thumb is missing or excepted); the other
    /// thumb stays as it is.
    pub fn insert_thumb(&mut self, person: u64, side: ThumbSide, keys: Option<&ThumbKeys>) {
        let index = self.person_index(person);
        let s = side.index();
        self.vacate(index, s);
        let (new, posted) = match keys {
            Some(keys) => {
                let posted = self.posted_on(s, keys);
                let slot = self.sides[s].add(index, &posted);
                ((slot, posted.len() as u16), posted)
            }
            None => ((NO_SLOT, 0), Vec::new()),
        };
        self.people[index as usize].slots[s] = new;
        self.stop_long_lists(s, posted.iter().map(|k| k.list()));
        self.compact_if_needed(s);
    }

    /// The keys a thumb posts on side `s`: its share of key values, less the stopped lists.
    fn posted_on(&self, s: usize, keys: &ThumbKeys) -> Vec<PosedKey> {
        let mut posted = keys.posted_sampled(self.share);
        let stopped = &self.sides[s].stopped;
        if !stopped.is_empty() {
            posted.retain(|k| !stopped.contains(&k.list()));
        }
        posted
    }

    /// Mark the postings of a person's thumb on side `s` dead, if it has one (the slot entry
    /// itself is overwritten by the caller).
    fn vacate(&mut self, index: u32, s: usize) {
        let (old, old_len) = self.people[index as usize].slots[s];
        if old != NO_SLOT {
            self.sides[s].kill(old, usize::from(old_len));
        }
    }

    /// Enrol or replace many people at once: the same index as [`ThumbIndex::insert`] one by one
    /// in this order, built faster for large loads (a rebuild, a population), since each list is
    /// appended to once per batch instead of once per thumb. A person named twice keeps the last.
    pub fn insert_batch(&mut self, batch: impl IntoIterator<Item = (u64, ThumbCodes)>) {
        self.insert_thumbs(batch.into_iter().flat_map(|(person, codes)| {
            [
                (person, ThumbSide::Right, codes.right),
                (person, ThumbSide::Left, codes.left),
            ]
        }));
    }

    /// Enrol or replace many thumbs at once, each one side of a person (`None`: the thumb is
    /// missing or excepted) with the person's other thumb as it is: the same index as
    /// [`ThumbIndex::insert_thumb`] one by one in this order, built faster for large loads (in
    /// batches of 20,000: 41–44 µs a thumb against 77–109 one by one, 67–88 in batches of 1,000;
    /// `examples/insert_bench.rs`, `BENCHMARKS.md`).
    pub fn insert_thumbs(
        &mut self,
        batch: impl IntoIterator<Item = (u64, ThumbSide, Option<ThumbKeys>)>,
    ) {
        // Per side: (list, slot) and the pose of every new posting.
        let mut pending: [Vec<(u64, [u8; 3])>; 2] = [Vec::new(), Vec::new()];
        for (person, side, keys) in batch {
            let index = self.person_index(person);
            let s = side.index();
            self.vacate(index, s);
            let new = match &keys {
                Some(keys) => {
                    let posted = self.posted_on(s, keys);
                    let slot = self.sides[s].open_slot(index, posted.len());
                    pending[s].extend(posted.iter().map(|k| {
                        (
                            (u64::from(k.list()) << 32) | u64::from(slot),
                            [k.angle, k.x, k.y],
                        )
                    }));
                    (slot, posted.len() as u16)
                }
                None => (NO_SLOT, 0),
            };
            self.people[index as usize].slots[s] = new;
        }
        for (s, mut postings) in pending.into_iter().enumerate() {
            // Slots are new and increasing, so each list stays in slot order.
            postings.sort_unstable_by_key(|p| p.0);
            let side = &mut self.sides[s];
            let mut grown = Vec::new();
            for run in postings.chunk_by(|a, b| a.0 >> 32 == b.0 >> 32) {
                let key = (run[0].0 >> 32) as u32;
                let list = side.lists.entry(key).or_default();
                for &(packed, pose) in run {
                    list.push(packed as u32, pose);
                }
                grown.push(key);
            }
            self.stop_long_lists(s, grown);
            self.compact_if_needed(s);
        }
    }

    /// Remove a person; returns whether they were enrolled.
    pub fn remove(&mut self, person: u64) -> bool {
        let Some(index) = self.index_of.remove(&person) else {
            return false;
        };
        for s in 0..2 {
            self.vacate(index, s);
            self.people[index as usize].slots[s] = (NO_SLOT, 0);
            self.compact_if_needed(s);
        }
        true
    }

    /// Whether a person is enrolled, and which thumbs they have.
    pub fn thumbs(&self, person: u64) -> Option<[bool; 2]> {
        let index = *self.index_of.get(&person)?;
        let slots = self.people[index as usize].slots;
        Some([slots[0].0 != NO_SLOT, slots[1].0 != NO_SLOT])
    }

    fn compact_if_needed(&mut self, s: usize) {
        let side = &self.sides[s];
        if side.dead_postings > 1024 && side.dead_postings * 4 > side.postings {
            let renumber = self.sides[s].compact();
            for person in &mut self.people {
                let slot = &mut person.slots[s].0;
                if *slot != NO_SLOT {
                    *slot = renumber[*slot as usize];
                }
            }
        }
    }

    /// The `short_list` people whose thumbs have the most consistent votes with the probe's, both
    /// thumbs added (a thumb missing on either side contributes nothing), best first; the posting
    /// lists are read on `threads` threads.
    pub fn search(
        &self,
        probe: &ThumbCodes,
        short_list: usize,
        threads: usize,
    ) -> Vec<MatchCandidate> {
        let threads = threads.max(1);
        let mut scratch = self.scratch.take();
        scratch.per_person.resize(self.people.len(), 0.0);
        for (s, keys) in [&probe.right, &probe.left].into_iter().enumerate() {
            let Some(keys) = keys else { continue };
            let side = &self.sides[s];
            let probe = probe_keys(keys);
            let reads = within_budget(
                &probe,
                |list| side.lists.get(&list).map_or(0, |list| list.len as usize),
                self.budget,
                side.slot_person.len(),
                self.rarity_power,
            );
            side.exact_scores(&probe, &reads, threads, &mut scratch);
            // Both thumbs' scores added per person in one array (no sort of millions of pairs).
            fuse_side(
                &mut scratch.per_person,
                &side.slot_person,
                &scratch.scorers,
                threads,
            );
        }
        let people = &self.people;
        let mut kept: Vec<Kept> =
            on_people_ranges(&mut scratch.per_person, threads, |part, start| {
                best_of(part, start, people, short_list)
            })
            .into_iter()
            .flatten()
            .collect();
        self.scratch.give(scratch);
        kept.sort_unstable();
        kept.truncate(short_list);
        kept.into_iter()
            .map(|(std::cmp::Reverse(bits), person)| MatchCandidate {
                person,
                score: f64::from(f32::from_bits(bits)),
            })
            .collect()
    }

    /// Save the index as its posting lists: magic, the key scheme, then per side the people of its
    /// slots and every non-empty list. Dead postings are left out.
    pub fn write_to(&self, out: &mut impl Write) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: "<index>".into(),
            source,
        };
        let mut put = |bytes: &[u8]| out.write_all(bytes).map_err(io);
        put(FILE_MAGIC)?;
        // The share as two 16-bit numbers: kept, then of.
        let share = self.share.0 | self.share.1 << 16;
        for value in [KEY_FUNCTIONS as u32, KEY_BITS as u32, share] {
            put(&value.to_le_bytes())?;
        }
        put(&ORDER_SEED.to_le_bytes())?;
        put(&self.list_cap.to_le_bytes())?;
        for (s, side) in self.sides.iter().enumerate() {
            // Live slots in order, numbered densely as the loader will number them.
            let (renumber, live) = side.live_numbering();
            put(&(live.len() as u64).to_le_bytes())?;
            for person in &live {
                let person = &self.people[*person as usize];
                put(&person.id.to_le_bytes())?;
                put(&person.slots[s].1.to_le_bytes())?;
            }
            let mut keys: Vec<u32> = side.lists.keys().copied().collect();
            keys.sort_unstable();
            // With no dead slot the numbering is the loader's already and a list is written as
            // it is; otherwise its live postings are coded again with their new slots, one list
            // at a time (the lists that keep a posting are counted first, without a copy).
            let live_list = |key: &u32| {
                side.lists.get(key).is_some_and(|list| {
                    side.dead_postings == 0
                        || list
                            .iter(*key)
                            .any(|(slot, _)| renumber[slot as usize] != NO_SLOT)
                })
            };
            keys.retain(live_list);
            put(&(keys.len() as u32).to_le_bytes())?;
            for key in keys {
                let Some(list) = side.lists.get(&key) else {
                    continue;
                };
                let list = if side.dead_postings == 0 {
                    std::borrow::Cow::Borrowed(list)
                } else {
                    std::borrow::Cow::Owned(list.renumbered(key, &renumber))
                };
                put(&key.to_le_bytes())?;
                put(&list.len.to_le_bytes())?;
                put(&list.bits.to_le_bytes())?;
                put(&list.bytes)?;
            }
            let mut stopped: Vec<u32> = side.stopped.iter().copied().collect();
            stopped.sort_unstable();
            put(&(stopped.len() as u32).to_le_bytes())?;
            for key in stopped {
                put(&key.to_le_bytes())?;
            }
        }
        // People without any thumb (both excepted) are enrolled too.
        let thumbless: Vec<u64> = self
            .people
            .iter()
            .filter(|p| self.index_of.contains_key(&p.id))
            .filter(|p| p.slots[0].0 == NO_SLOT && p.slots[1].0 == NO_SLOT)
            .map(|p| p.id)
            .collect();
        put(&(thumbless.len() as u64).to_le_bytes())?;
        for id in thumbless {
            put(&id.to_le_bytes())?;
        }
        Ok(())
    }

    /// Load an index saved by [`ThumbIndex::write_to`]; a file of another key scheme, or one that
    /// contradicts itself (a slot out of range, a person twice on one side), is refused.
    pub fn read_from(input: &mut impl Read) -> Result<ThumbIndex, Error> {
        let mut reader = IndexReader { input, offset: 0 };
        let magic = reader.bytes::<8>("index magic")?;
        if &magic != FILE_MAGIC {
            return Err(Error::InvalidField {
                field: "index magic",
                offset: 0,
                value: u64::from_le_bytes(magic),
                expected: "DSPPFIX6",
            });
        }
        for (field, expected) in [
            ("index key functions", KEY_FUNCTIONS),
            ("index key bits", KEY_BITS),
        ] {
            let offset = reader.offset;
            let value = reader.u32(field)?;
            if value as usize != expected {
                return Err(Error::InvalidField {
                    field,
                    offset,
                    value: u64::from(value),
                    expected: "the key scheme of this version",
                });
            }
        }
        let offset = reader.offset;
        let share = reader.u32("index share")?;
        let (kept, of) = (share & 0xFFFF, share >> 16);
        if !(1..=255).contains(&of) || !(1..=of).contains(&kept) {
            return Err(Error::InvalidField {
                field: "index share",
                offset,
                value: u64::from(share),
                expected: "kept values of 1 to 255, no more kept than that",
            });
        }
        let offset = reader.offset;
        let seed = u64::from_le_bytes(reader.bytes::<8>("index seed")?);
        if seed != ORDER_SEED {
            return Err(Error::InvalidField {
                field: "index seed",
                offset,
                value: seed,
                expected: "the key scheme of this version",
            });
        }
        let mut index = ThumbIndex::with_share(kept as u8, of as u8);
        let offset = reader.offset;
        index.list_cap = reader.u32("list cap")?;
        if index.list_cap == 0 {
            return Err(Error::InvalidField {
                field: "list cap",
                offset,
                value: 0,
                expected: "at least 1",
            });
        }
        for s in 0..2 {
            let offset = reader.offset;
            let slots = u64::from_le_bytes(reader.bytes::<8>("slot count")?);
            if slots >= u64::from(NO_SLOT) {
                return Err(Error::InvalidField {
                    field: "slot count",
                    offset,
                    value: slots,
                    expected: "fewer than 2^32 - 1",
                });
            }
            // What the slots say they posted, checked against the postings read.
            let mut declared = 0u64;
            for _ in 0..slots {
                let offset = reader.offset;
                let id = u64::from_le_bytes(reader.bytes::<8>("person id")?);
                let posted = u16::from_le_bytes(reader.bytes::<2>("slot postings")?);
                declared += u64::from(posted);
                let person = index.person_index(id);
                if index.people[person as usize].slots[s].0 != NO_SLOT {
                    return Err(Error::InvalidField {
                        field: "person id",
                        offset,
                        value: id,
                        expected: "each person once per thumb",
                    });
                }
                let slot = index.sides[s].slot_person.len() as u32;
                index.sides[s].slot_person.push(person);
                index.people[person as usize].slots[s] = (slot, posted);
            }
            let lists_offset = reader.offset;
            let lists = reader.u32("list count")?;
            for _ in 0..lists {
                let offset = reader.offset;
                let key = reader.u32("list key")?;
                if key >= SECTORS << SECTOR_SHIFT || index.sides[s].lists.contains_key(&key) {
                    return Err(Error::InvalidField {
                        field: "list key",
                        offset,
                        value: u64::from(key),
                        expected: "a key and sector of this scheme, each once",
                    });
                }
                let offset = reader.offset;
                let count = reader.u32("list length")?;
                if count > index.list_cap {
                    return Err(Error::InvalidField {
                        field: "list length",
                        offset,
                        value: u64::from(count),
                        expected: "at most the list cap",
                    });
                }
                let offset = reader.offset;
                let bits = u64::from_le_bytes(reader.bytes::<8>("list bits")?);
                if u64::from(count) > slots || bits > u64::from(count) * MOST_POSTING_BITS {
                    return Err(Error::InvalidField {
                        field: "list bits",
                        offset,
                        value: bits,
                        expected: "a stream no longer than its postings can take, of at most \
                                   one posting a slot",
                    });
                }
                let offset = reader.offset;
                let mut list = Postings {
                    bytes: reader.vec(bits.div_ceil(8) as usize, "list postings")?,
                    bits,
                    last: 0,
                    len: count,
                };
                if bits % 8 != 0 && list.bytes.last().is_some_and(|b| b >> (bits % 8) != 0) {
                    return Err(Error::InvalidField {
                        field: "list padding",
                        offset: offset + list.bytes.len() - 1,
                        value: u64::from(list.bytes[list.bytes.len() - 1]),
                        expected: "zero bits after the last posting",
                    });
                }
                // Slots rise by construction (each gap is at least 1); they must stay within
                // the side, and the stream must hold exactly its count.
                let (mut decoded, mut last) = (0u32, 0u32);
                let mut postings = list.iter(key);
                for (slot, _) in postings.by_ref() {
                    if u64::from(slot) >= slots {
                        return Err(Error::InvalidField {
                            field: "posting slot",
                            offset,
                            value: u64::from(slot),
                            expected: "a slot of this side",
                        });
                    }
                    last = slot;
                    decoded += 1;
                }
                if decoded != count || !postings.at_end() {
                    return Err(Error::InvalidField {
                        field: "list postings",
                        offset,
                        value: u64::from(decoded),
                        expected: "a stream of exactly the list's length in postings",
                    });
                }
                list.last = last;
                if count > 0 {
                    list.bytes.shrink_to_fit();
                    index.sides[s].postings += count as usize;
                    index.sides[s].lists.insert(key, list);
                }
            }
            // Stopped lists: ascending, each a key and sector of the scheme without a list.
            let stopped = reader.u32("stopped count")?;
            let mut previous = None;
            for _ in 0..stopped {
                let offset = reader.offset;
                let key = reader.u32("stopped list")?;
                if key >= SECTORS << SECTOR_SHIFT
                    || previous.is_some_and(|p| p >= key)
                    || index.sides[s].lists.contains_key(&key)
                {
                    return Err(Error::InvalidField {
                        field: "stopped list",
                        offset,
                        value: u64::from(key),
                        expected: "keys and sectors of this scheme, ascending, without a list",
                    });
                }
                previous = Some(key);
                index.sides[s].stopped.insert(key);
            }
            // (Counting each slot's postings as they are read would touch a random slot per
            // posting, most of a large index's load time; the slots say it, and the sum is
            // checked, so that removals can never count more dead postings than there are.)
            if index.sides[s].postings as u64 != declared {
                return Err(Error::InvalidField {
                    field: "slot postings",
                    offset: lists_offset,
                    value: declared,
                    expected: "as many postings as the side's lists hold",
                });
            }
        }
        let thumbless = u64::from_le_bytes(reader.bytes::<8>("thumbless count")?);
        for _ in 0..thumbless {
            let id = u64::from_le_bytes(reader.bytes::<8>("person id")?);
            index.person_index(id);
        }
        Ok(index)
    }
}

struct IndexReader<'a, R> {
    input: &'a mut R,
    offset: usize,
}

impl<R: Read> IndexReader<'_, R> {
    fn bytes<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let mut buffer = [0u8; N];
        let mut filled = 0;
        while filled < N {
            match self.input.read(&mut buffer[filled..]) {
                Ok(0) => {
                    return Err(Error::Truncated {
                        field,
                        offset: self.offset,
                        needed: N,
                        available: filled,
                    });
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Io {
                        path: "<index>".into(),
                        source,
                    });
                }
            }
        }
        self.offset += N;
        Ok(buffer)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.bytes::<4>(field)?))
    }

    /// `len` bytes; the room grows with what is read, so a corrupt length in a short file
    /// allocates no more than the file holds.
    fn vec(&mut self, len: usize, field: &'static str) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(len.min(1 << 20));
        (&mut *self.input)
            .take(len as u64)
            .read_to_end(&mut out)
            .map_err(|source| Error::Io {
                path: "<index>".into(),
                source,
            })?;
        if out.len() < len {
            return Err(Error::Truncated {
                field,
                offset: self.offset,
                needed: len,
                available: out.len(),
            });
        }
        self.offset += len;
        Ok(out)
    }
}

/// Re-rank a short list with MCC: each candidate's score becomes the sum of the two thumbs'
/// MCC similarities (a thumb missing on either side contributes 0), best first.
pub fn rerank<'a>(
    probe: (Option<&MccTemplate>, Option<&MccTemplate>),
    candidates: impl IntoIterator<Item = (u64, Option<&'a MccTemplate>, Option<&'a MccTemplate>)>,
) -> Vec<MatchCandidate> {
    let mut matcher = MccMatcher::new();
    let mut ranked: Vec<MatchCandidate> = candidates
        .into_iter()
        .map(|(person, right, left)| {
            let mut score = 0.0;
            if let (Some(p), Some(e)) = (probe.0, right) {
                score += matcher.similarity(p, e);
            }
            if let (Some(p), Some(e)) = (probe.1, left) {
                score += matcher.similarity(p, e);
            }
            MatchCandidate { person, score }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.person.cmp(&b.person)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{SynthParams, finger};
    use std::collections::HashMap;

    fn keys(seed: u64) -> ThumbKeys {
        ThumbKeys::from_mcc(&MccTemplate::new(
            &finger(seed, &SynthParams::default()).unwrap(),
        ))
    }

    /// A cylinder of all-valid cells with each disc cell of each layer set with probability
    /// `density`.
    fn random_cylinder(rng: &mut crate::synth::Rng, density: f64) -> [[u64; LAYER_WORDS]; ND] {
        let mut bits = [[0u64; LAYER_WORDS]; ND];
        for &(layer, cell) in &CELL_ORDERS[0] {
            if (rng.next_u64() % 1_000_000) as f64 / 1e6 < density {
                bits[usize::from(layer)][usize::from(cell) / 64] |= 1 << (cell % 64);
            }
        }
        bits
    }

    #[test]
    fn a_key_is_the_places_of_the_first_two_set_cells_before_any_invalid_one() {
        let all_valid = [u64::MAX; LAYER_WORDS];
        let mut rng = crate::synth::Rng::new(11);
        for order in CELL_ORDERS.iter() {
            // Every disc cell of every layer once.
            let mut sorted = order.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), order.len());
            assert!(order.len() <= ORDER_LEN);
            for _ in 0..50 {
                let bits = random_cylinder(&mut rng, 0.1);
                let set: Vec<usize> = order
                    .iter()
                    .enumerate()
                    .filter(|(_, (layer, cell))| (bits[usize::from(*layer)][0] >> cell) & 1 == 1)
                    .map(|(place, _)| place)
                    .take(2)
                    .collect();
                let expected = match set[..] {
                    [first, second] => Some((first * ORDER_LEN + second) as u32),
                    _ => None,
                };
                assert_eq!(min_hash(order, &all_valid, &bits), expected);
                // An invalid cell before the second set cell leaves the cylinder without the key;
                // one after it changes nothing.
                if let [_, second] = set[..] {
                    let mut valid = all_valid;
                    let (_, cell) = order[rng.next_u64() as usize % (second + 1)];
                    valid[0] &= !(1 << cell);
                    let cut = order.iter().position(|&(_, c)| c == cell).unwrap_or(0);
                    if cut <= second {
                        assert_eq!(min_hash(order, &valid, &bits), None);
                    }
                    let mut valid = all_valid;
                    for &(_, cell) in &order[second + 1..] {
                        if !order[..=second].iter().any(|&(_, c)| c == cell) {
                            valid[0] &= !(1 << cell);
                        }
                    }
                    assert_eq!(min_hash(order, &valid, &bits), expected);
                }
            }
        }
    }

    /// Two cylinders share a key with the probability that the first two cells of their union, in
    /// the function's order, are both in their intersection: |I|/|U| · (|I| − 1)/(|U| − 1).
    #[test]
    fn keys_collide_as_often_as_minhash_says() {
        let all_valid = [u64::MAX; LAYER_WORDS];
        let mut rng = crate::synth::Rng::new(5);
        let (mut collisions, mut expected, mut trials) = (0.0, 0.0, 0.0);
        for _ in 0..400 {
            let a = random_cylinder(&mut rng, 0.15);
            // b: a with a third of its set cells cleared and as many others set.
            let mut b = a;
            let noise = random_cylinder(&mut rng, 0.05);
            for layer in 0..ND {
                let cleared = a[layer][0] & random_cylinder(&mut rng, 0.33)[layer][0];
                b[layer][0] = (a[layer][0] & !cleared) | noise[layer][0];
            }
            let count = |f: &dyn Fn(usize) -> u64| -> f64 {
                (0..ND).map(|l| f(l).count_ones() as f64).sum()
            };
            let i = count(&|l| a[l][0] & b[l][0]);
            let u = count(&|l| a[l][0] | b[l][0]);
            for order in CELL_ORDERS.iter() {
                let (ka, kb) = (
                    min_hash(order, &all_valid, &a),
                    min_hash(order, &all_valid, &b),
                );
                collisions += f64::from(u8::from(ka.is_some() && ka == kb));
                expected += i / u * (i - 1.0) / (u - 1.0);
                trials += 1.0;
            }
        }
        let (rate, p) = (collisions / trials, expected / trials);
        let sigma = (p * (1.0 - p) / trials).sqrt();
        assert!(
            (rate - p).abs() < 4.0 * sigma,
            "{rate} against {p} ± {sigma}"
        );
        assert!(p > 0.2 && p < 0.6, "{p}");
    }

    #[test]
    fn search_scores_every_thumb_as_the_pairwise_score_does() {
        let mut index = ThumbIndex::new();
        let enrolled: Vec<(ThumbKeys, ThumbKeys)> =
            (0..60u64).map(|p| (keys(2 * p), keys(2 * p + 1))).collect();
        for (p, (r, l)) in enrolled.iter().enumerate() {
            index.insert(
                p as u64,
                ThumbCodes {
                    right: Some(r.clone()),
                    left: Some(l.clone()),
                },
            );
        }
        let probe = ThumbCodes {
            right: Some(keys(1000)),
            left: Some(keys(1001)),
        };
        // Without the rarity weight, a search scores as the pairwise score does.
        index.set_rarity_power(0.0);
        let found = index.search(&probe, 60, 2);
        assert!(found.len() > 10, "{found:?}");
        for candidate in &found {
            let (r, l) = &enrolled[candidate.person as usize];
            let pairwise = thumb_score(probe.right.as_ref().unwrap(), r)
                + thumb_score(probe.left.as_ref().unwrap(), l);
            assert!(
                (candidate.score - pairwise).abs() < 1e-4,
                "person {}: index {} against pairwise {pairwise}",
                candidate.person,
                candidate.score
            );
        }
        // Same answers on one thread and on three (people shared among threads unevenly), and a
        // shorter list is the longer one's head however the people were shared.
        assert_eq!(index.search(&probe, 60, 1), found);
        assert_eq!(index.search(&probe, 60, 3), found);
        for threads in 1..=4 {
            assert_eq!(index.search(&probe, 7, threads), found[..7]);
        }
        // With it, as the pairwise score within the population's list lengths does.
        for power in [0.5, 1.0, 2.0] {
            index.set_rarity_power(power);
            let found = index.search(&probe, 60, 2);
            let side_scores = |probe: &ThumbKeys, side: Vec<ThumbKeys>| {
                let mut lengths: HashMap<u32, usize> = HashMap::new();
                for keys in &side {
                    for list in keys.posted_lists() {
                        *lengths.entry(list).or_default() += 1;
                    }
                }
                let length = |list| lengths.get(&list).copied().unwrap_or(0);
                thumb_scores_within(probe, &side, length, HIT_BUDGET, side.len(), power)
            };
            let right = side_scores(
                probe.right.as_ref().unwrap(),
                enrolled.iter().map(|(r, _)| r.clone()).collect(),
            );
            let left = side_scores(
                probe.left.as_ref().unwrap(),
                enrolled.iter().map(|(_, l)| l.clone()).collect(),
            );
            let mut differ = 0;
            for candidate in &found {
                let p = candidate.person as usize;
                let pairwise = right[p] + left[p];
                assert!(
                    (candidate.score - pairwise).abs() < 1e-4,
                    "power {power}, person {p}: index {} against pairwise {pairwise}",
                    candidate.score
                );
                let plain = thumb_score(probe.right.as_ref().unwrap(), &enrolled[p].0)
                    + thumb_score(probe.left.as_ref().unwrap(), &enrolled[p].1);
                differ += usize::from((plain - pairwise).abs() > 1e-3);
            }
            assert!(differ > 0, "power {power} weighs as no weight does");
        }
    }

    #[test]
    fn a_thumb_finds_itself_first_and_survives_save_load_update_and_removal() {
        let mut index = ThumbIndex::new();
        for person in 0..300u64 {
            index.insert(
                person,
                ThumbCodes {
                    right: Some(keys(2 * person)),
                    left: Some(keys(2 * person + 1)),
                },
            );
        }
        let probe = ThumbCodes {
            right: Some(keys(2 * 117)),
            left: None,
        };
        let found = index.search(&probe, 5, 2);
        assert_eq!(found.len(), 5);
        assert_eq!(found[0].person, 117);
        assert!(found[0].score > 3.0 * found[1].score, "{found:?}");
        let mut bytes = Vec::new();
        index.write_to(&mut bytes).unwrap();
        let loaded = ThumbIndex::read_from(&mut bytes.as_slice()).unwrap();
        assert_eq!(loaded.search(&probe, 5, 1), found);
        assert_eq!(loaded.len(), 300);
        assert_eq!(loaded.postings(), index.postings());
        // Replacing the right thumb takes 117 out of the answer; the left stays.
        index.insert_thumb(117, ThumbSide::Right, Some(&keys(9_999)));
        assert_ne!(index.search(&probe, 1, 2)[0].person, 117);
        assert_eq!(index.thumbs(117), Some([true, true]));
        let left_probe = ThumbCodes {
            right: None,
            left: Some(keys(2 * 117 + 1)),
        };
        assert_eq!(index.search(&left_probe, 1, 2)[0].person, 117);
        assert!(index.remove(117));
        assert!(!index.remove(117));
        assert_eq!(index.len(), 299);
        assert_ne!(index.search(&left_probe, 1, 2)[0].person, 117);
        // A truncated file is refused with the field it stopped at.
        let error = ThumbIndex::read_from(&mut &bytes[..34])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "record truncated: slot count needs 8 bytes at offset 32, only 2 left"
        );
    }

    #[test]
    fn a_batch_builds_the_index_one_by_one_insertion_builds() {
        let codes = |p: u64| ThumbCodes {
            right: Some(keys(3 * p)),
            left: (!p.is_multiple_of(7)).then(|| keys(3 * p + 1)),
        };
        let (mut one_by_one, mut batched) = (ThumbIndex::new(), ThumbIndex::new());
        for p in 0..120u64 {
            one_by_one.insert(p, codes(p));
        }
        batched.insert_batch((0..60u64).map(|p| (p, codes(p))));
        batched.insert_batch((60..120u64).map(|p| (p, codes(p))));
        // Replacements in a batch, as one by one.
        let replaced = |p: u64| ThumbCodes {
            right: Some(keys(5_000 + p)),
            left: None,
        };
        for p in [3u64, 50, 119] {
            one_by_one.insert(p, replaced(p));
        }
        batched.insert_batch([3u64, 50, 119].map(|p| (p, replaced(p))));
        // Single thumbs, as a store's catch-up applies them: one side replaced or excepted, the
        // other kept; a thumb named twice keeps the last.
        let thumbs = [
            (5u64, ThumbSide::Left, Some(keys(7_000))),
            (6, ThumbSide::Right, None),
            (121, ThumbSide::Left, Some(keys(7_001))),
            (5, ThumbSide::Left, Some(keys(7_002))),
            (8, ThumbSide::Left, Some(keys(7_003))),
        ];
        for (p, side, keys) in &thumbs {
            one_by_one.insert_thumb(*p, *side, keys.as_ref());
        }
        batched.insert_thumbs(thumbs);
        assert_eq!(batched.thumbs(6), Some([false, true]));
        assert_eq!(batched.thumbs(121), Some([false, true]));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        one_by_one.write_to(&mut a).unwrap();
        batched.write_to(&mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(one_by_one.postings(), batched.postings());
        let probe = ThumbCodes {
            right: Some(keys(3 * 77)),
            left: Some(keys(3 * 77 + 1)),
        };
        assert_eq!(
            one_by_one.search(&probe, 10, 2),
            batched.search(&probe, 10, 2)
        );
        assert_eq!(batched.search(&probe, 1, 2)[0].person, 77);
    }

    #[test]
    fn many_replacements_compact_the_lists_and_keep_answers() {
        let mut index = ThumbIndex::new();
        for round in 0..6u64 {
            for person in 0..100u64 {
                index.insert(
                    person,
                    ThumbCodes {
                        right: Some(keys(10_000 * round + person)),
                        left: None,
                    },
                );
            }
        }
        // Only the last round's postings survive compaction (and dead ones are few).
        let per_thumb = index.postings() as f64 / 100.0;
        let live_per_thumb = keys(50_000).posted().len() as f64;
        assert!(per_thumb <= 2.0 * live_per_thumb + 20.0, "{per_thumb}");
        let probe = ThumbCodes {
            right: Some(keys(50_000 + 42)),
            left: None,
        };
        assert_eq!(index.search(&probe, 1, 2)[0].person, 42);
    }

    #[test]
    fn a_sampled_index_posts_a_share_of_the_keys_and_keeps_its_share_when_saved() {
        let (mut full, mut sampled) = (ThumbIndex::new(), ThumbIndex::with_sampling(3));
        for person in 0..50u64 {
            let codes = ThumbCodes {
                right: Some(keys(person)),
                left: None,
            };
            full.insert(person, codes.clone());
            sampled.insert(person, codes);
        }
        let share = sampled.postings() as f64 / full.postings() as f64;
        assert!((0.25..0.42).contains(&share), "{share}");
        let probe = ThumbCodes {
            right: Some(keys(21)),
            left: None,
        };
        assert_eq!(sampled.search(&probe, 1, 2)[0].person, 21);
        let mut bytes = Vec::new();
        sampled.write_to(&mut bytes).unwrap();
        let mut loaded = ThumbIndex::read_from(&mut bytes.as_slice()).unwrap();
        loaded.insert(
            99,
            ThumbCodes {
                right: Some(keys(99)),
                left: None,
            },
        );
        sampled.insert(
            99,
            ThumbCodes {
                right: Some(keys(99)),
                left: None,
            },
        );
        assert_eq!(loaded.postings(), sampled.postings());
        assert_eq!(loaded.share(), (1, 3));

        // Two values in three: about twice the postings, among them every one of one in three.
        let mut two = ThumbIndex::with_share(2, 3);
        two.insert(
            5,
            ThumbCodes {
                right: Some(keys(5)),
                left: None,
            },
        );
        let one_in_three = keys(5).posted_sampled((1, 3));
        let two_in_three = keys(5).posted_sampled((2, 3));
        assert!(one_in_three.iter().all(|k| two_in_three.contains(k)));
        let ratio = two_in_three.len() as f64 / keys(5).posted().len() as f64;
        assert!((0.55..0.78).contains(&ratio), "{ratio}");
        assert_eq!(two.postings(), two_in_three.len());
        let mut bytes = Vec::new();
        two.write_to(&mut bytes).unwrap();
        assert_eq!(
            ThumbIndex::read_from(&mut bytes.as_slice())
                .unwrap()
                .share(),
            (2, 3)
        );
        // A share keeping more values than it has is refused (offset 16: kept, then of).
        bytes[16] = 4;
        let error = ThumbIndex::read_from(&mut bytes.as_slice())
            .unwrap_err()
            .to_string();
        assert!(error.contains("index share"), "{error}");
    }

    /// Per side, how many postings each live slot has in the lists.
    fn slot_postings(index: &ThumbIndex) -> [HashMap<u32, u16>; 2] {
        let mut out = [HashMap::new(), HashMap::new()];
        for (s, side) in index.sides.iter().enumerate() {
            for (&key, list) in &side.lists {
                for (slot, _) in list.iter(key) {
                    if side.slot_person[slot as usize] != NO_SLOT {
                        *out[s].entry(slot).or_insert(0) += 1;
                    }
                }
            }
        }
        out
    }

    /// Whether the index's counts are what its lists hold: the live postings, and each person's.
    fn assert_counts_exact(index: &ThumbIndex) {
        let held = slot_postings(index);
        let live: usize = held
            .iter()
            .flat_map(|h| h.values())
            .map(|&n| usize::from(n))
            .sum();
        assert_eq!(index.postings(), live);
        for person in &index.people {
            for (s, &(slot, count)) in person.slots.iter().enumerate() {
                if slot != NO_SLOT {
                    assert_eq!(held[s].get(&slot).copied().unwrap_or(0), count);
                }
            }
        }
    }

    #[test]
    fn a_list_grown_past_the_cap_is_stopped_and_the_counts_stay_exact() {
        let codes = |p: u64| ThumbCodes {
            right: Some(keys(4 * p)),
            left: Some(keys(4 * p + 1)),
        };
        let (mut capped, mut full) = (ThumbIndex::new(), ThumbIndex::new());
        capped.set_list_cap(6);
        for p in 0..60u64 {
            capped.insert(p, codes(p));
            full.insert(p, codes(p));
        }
        // The capped index holds exactly the full index's lists of at most 6 postings, and has
        // stopped the others.
        for s in 0..2 {
            let (c, f) = (&capped.sides[s], &full.sides[s]);
            let short: Vec<u32> = f
                .lists
                .iter()
                .filter(|(_, l)| l.len <= 6)
                .map(|(&k, _)| k)
                .collect();
            let long: rustc_hash::FxHashSet<u32> = f
                .lists
                .iter()
                .filter(|(_, l)| l.len > 6)
                .map(|(&k, _)| k)
                .collect();
            assert!(!long.is_empty() && !short.is_empty());
            assert_eq!(c.lists.len(), short.len());
            for key in short {
                assert_eq!(c.lists[&key].bytes, f.lists[&key].bytes);
            }
            assert_eq!(c.stopped, long);
        }
        assert!(capped.postings() < full.postings());
        assert_counts_exact(&capped);
        // A batch builds the same index.
        let mut batched = ThumbIndex::new();
        batched.set_list_cap(6);
        batched.insert_batch((0..30u64).map(|p| (p, codes(p))));
        batched.insert_batch((30..60u64).map(|p| (p, codes(p))));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        capped.write_to(&mut a).unwrap();
        batched.write_to(&mut b).unwrap();
        assert_eq!(a, b);
        // It still finds people, and the counts stay exact through removals and compaction.
        let probe = codes(41);
        assert_eq!(capped.search(&probe, 1, 2)[0].person, 41);
        for p in (0..60u64).step_by(2) {
            capped.remove(p);
            assert_counts_exact(&capped);
        }
        capped.insert(41, codes(77));
        assert_counts_exact(&capped);
        // Saved and loaded with its cap and stopped lists; both take a new person alike.
        let mut bytes = Vec::new();
        capped.write_to(&mut bytes).unwrap();
        let mut loaded = ThumbIndex::read_from(&mut bytes.as_slice()).unwrap();
        assert_eq!(loaded.list_cap(), 6);
        assert_eq!(loaded.stopped_lists(), capped.stopped_lists());
        for index in [&mut loaded, &mut capped] {
            index.insert(99, codes(99));
        }
        assert_counts_exact(&loaded);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        capped.write_to(&mut a).unwrap();
        loaded.write_to(&mut b).unwrap();
        assert_eq!(a, b);
        // Lowering the cap stops the lists longer than it at once.
        let before = full.stopped_lists();
        assert_eq!(before, 0);
        full.set_list_cap(6);
        assert_eq!(full.stopped_lists(), batched.stopped_lists());
        assert_counts_exact(&full);

        // The loader refuses a cap of 0, a list longer than the cap, a stopped list twice.
        let refused = |bad: &[u8]| {
            ThumbIndex::read_from(&mut &bad[..])
                .unwrap_err()
                .to_string()
        };
        for (cap, field) in [(0u32, "list cap"), (2, "list length")] {
            let mut bad = bytes.clone();
            bad[28..32].copy_from_slice(&cap.to_le_bytes());
            let error = refused(&bad);
            assert!(error.contains(field), "{error}");
        }
        // The left side's stopped lists end the side, before the thumbless count (8 bytes).
        let stopped = capped.sides[1].stopped.len();
        assert!(stopped >= 2);
        let end = bytes.len() - 8;
        let first = end - 4 * stopped;
        let mut bad = bytes.clone();
        bad.copy_within(first..first + 4, first + 4);
        let error = refused(&bad);
        assert!(error.contains("stopped list"), "{error}");
    }

    #[test]
    fn a_search_reads_the_shortest_lists_within_its_budget() {
        // Five probe keys pointing at sector 0's middle, so each reads sectors 15, 0, 1, 2.
        let probe: Vec<ProbeKey> = (0..5u32)
            .map(|key| ProbeKey {
                key,
                angle: 8,
                multiplicity: 1,
                cylinder: 0,
                rotated: Vec::new(),
            })
            .collect();
        let key_total = [3_000_000usize, 2_000_000, 1_000_000, 1_000_000, 0];
        // Each key's postings spread evenly over the four sectors it reads; none elsewhere.
        assert_eq!(SECTORS_READ, 4);
        let length = |list: u32| {
            let (key, sector) = (list & ((1 << SECTOR_SHIFT) - 1), list >> SECTOR_SHIFT);
            if [15, 0, 1, 2].contains(&sector) {
                key_total[key as usize] / 4
            } else {
                0
            }
        };
        let reads = within_budget(&probe, length, 4_000_000, 10_000_000, RARITY_POWER);
        // Shortest lists first: key 2's and 3's lists (interleaved by list), then key 1's.
        let keys_read: Vec<u32> = reads.iter().map(|r| r.probe).collect();
        assert!(
            keys_read[..8].iter().all(|&k| k == 2 || k == 3),
            "{keys_read:?}"
        );
        assert!(keys_read[8..].iter().all(|&k| k == 1), "{keys_read:?}");
        let mut keys_read = keys_read;
        keys_read.sort_unstable();
        keys_read.dedup();
        // Keys 2 and 3 (4 × 250,000 each), then key 1 (500,000 a list): 4,000,000 in all; key 0's
        // lists (750,000 each) no longer fit; key 4's are empty and not read.
        assert_eq!(keys_read, vec![1, 2, 3]);
        assert_eq!(reads.len(), 12);
        assert!(reads.iter().all(|r| length(r.list) > 0));
        let read: usize = reads.iter().map(|r| length(r.list)).sum();
        assert_eq!(read, 4_000_000);
    }

    #[test]
    fn a_block_scores_its_slots_as_its_hits_sorted_score_them() {
        let mut state = 1u64;
        let mut scratch = BlockScratch::new();
        // (hits, slots they fall on within the block, parts they are split into)
        for (n, slots, parts) in [
            (0usize, 10u64, 1usize),
            (1, 10, 2),
            (10, 50, 1),
            (5_000, 300, 2),
            (20_000, 65_536, 3),
            (70_000, 5, 2),
            (3_000, 1_000_000, 2),
        ] {
            // Slots of block 3; bins crowded, so that windows hold several hits, and few pair
            // tags, so that pairs hold several votes.
            let block = 3u32;
            let base = u64::from(block) << BLOCK_BITS;
            let hits: Vec<Hit> = (0..n)
                .map(|_| {
                    state = splitmix(state);
                    let slot = base + (state % slots.min(1 << BLOCK_BITS));
                    let r = ((state >> 20) % 3) as i32;
                    let x = BIN_OFFSET + ((state >> 24) % 3) as i32;
                    let y = BIN_OFFSET + ((state >> 28) % 3) as i32;
                    let tag = tag_of((state >> 36) % 3, (state >> 40) % 2);
                    pack_hit(
                        slot as u32,
                        r,
                        x,
                        y,
                        tag,
                        176 + ((state >> 32) % 3) as u8 * 16,
                    )
                })
                .collect();
            let mut sorted = hits.clone();
            sorted.sort_unstable();
            let mut expected = Vec::new();
            score_slots(&sorted, &mut expected);
            for (slot, _) in &mut expected {
                *slot |= block << BLOCK_BITS;
            }
            let split: Vec<&[Hit]> = hits.chunks(n.div_ceil(parts).max(1)).collect();
            let mut got = Vec::new();
            score_block(&split, block, &mut scratch, &mut got);
            got.sort_unstable_by_key(|&(slot, _)| slot);
            let bits =
                |v: &[(u32, f32)]| v.iter().map(|&(s, w)| (s, w.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "{n} hits over {slots} slots");
            assert!(
                scratch.counts.iter().all(|&c| c == 0),
                "counters left clean"
            );
        }
    }

    #[test]
    fn near_bins_are_those_whose_every_field_differs_by_one_at_most() {
        let fields = |bin: u32| {
            [
                (bin >> ROTATION_SHIFT) & ROTATION_MASK,
                (bin >> X_SHIFT) & TRANSLATION_MASK,
                bin & TRANSLATION_MASK,
            ]
            .map(|f| f as i32)
        };
        let bin = |r: u32, x: u32, y: u32| r << ROTATION_SHIFT | x << X_SHIFT | y;
        let mut state = 11u64;
        let mut near_pairs = 0;
        for round in 0..200_000 {
            state = splitmix(state);
            // Anywhere in the fields' ranges, at their edges, or one step apart.
            let pick = |v: u64, mask: u32| match v % 4 {
                0 => 0,
                1 => mask,
                _ => (v >> 2) as u32 & mask,
            };
            let a = bin(
                pick(state, ROTATION_MASK),
                pick(state >> 8, TRANSLATION_MASK),
                pick(state >> 24, TRANSLATION_MASK),
            );
            let b = if round % 2 == 0 {
                let step = |v: u32, s: u64, mask: u32| {
                    (v as i32 + (s % 3) as i32 - 1).clamp(0, mask as i32) as u32
                };
                let [r, x, y] = fields(a).map(|f| f as u32);
                bin(
                    step(r, state >> 40, ROTATION_MASK),
                    step(x, state >> 44, TRANSLATION_MASK),
                    step(y, state >> 48, TRANSLATION_MASK),
                )
            } else {
                bin(
                    pick(state >> 40, ROTATION_MASK),
                    pick(state >> 44, TRANSLATION_MASK),
                    pick(state >> 54, TRANSLATION_MASK),
                )
            };
            let expected = fields(a)
                .iter()
                .zip(fields(b))
                .all(|(fa, fb)| (fa - fb).abs() <= 1);
            near_pairs += usize::from(expected);
            assert_eq!(near(spread(a), spread(b)), expected, "{a:06x} {b:06x}");
            assert_eq!(near(spread(b), spread(a)), expected, "{b:06x} {a:06x}");
        }
        assert!(near_pairs > 50_000, "{near_pairs}");
    }

    #[test]
    fn the_votes_of_one_pair_of_cylinders_weigh_the_root_of_their_sum() {
        let mut sums = WindowSums::default();
        let code = weight_code(1.0);
        let vote = |tag: u16| pack_hit(5, 2, BIN_OFFSET, BIN_OFFSET, tag, code);
        // Four keys of one pair of cylinders: √4.
        assert_eq!(best_window(&[vote(tag_of(1, 7)); 4], &mut sums), 2.0);
        assert_eq!(
            best_window(&[vote(tag_of(1, 7)); 2], &mut sums),
            2f32.sqrt()
        );
        assert_eq!(best_window(&[vote(tag_of(1, 7))], &mut sums), 1.0);
        // Four pairs of four probe and four enrolled cylinders in the same bin: each √1.
        let mut four = [1, 2, 3, 4].map(|c| vote(tag_of(c, c)));
        four.sort_unstable();
        assert_eq!(best_window(&four, &mut sums), 4.0);
        assert_eq!(best_window(&four[..2], &mut sums), 2.0);
        // Two pairs of two votes, and a third pair alone in a far bin.
        let far = pack_hit(5, 2, BIN_OFFSET + 9, BIN_OFFSET, tag_of(3, 3), code);
        let mut mixed = [1, 1, 2, 2].map(|c| vote(tag_of(c, c))).to_vec();
        mixed.push(far);
        mixed.sort_unstable();
        assert!((best_window(&mixed, &mut sums) - 2.0 * 2f32.sqrt()).abs() < 1e-6);
        // A vote of weight 4 alone weighs 2.
        let heavy = pack_hit(5, 2, BIN_OFFSET, BIN_OFFSET, tag_of(1, 1), weight_code(4.0));
        assert_eq!(best_window(&[heavy], &mut sums), 2.0);
        // A real pair of thumbs: the tag is the same for a pair's keys and differs between pairs.
        let pose = [10, 20, 30];
        let cylinder = |c: u16| c << ENROLLED_BITS;
        assert_eq!(pair_tag(cylinder(3), pose), pair_tag(cylinder(3), pose));
        assert_ne!(pair_tag(cylinder(3), pose), pair_tag(cylinder(4), pose));
        for other in [[10, 20, 31], [12, 20, 30], [10, 22, 30], [11, 20, 30]] {
            let (a, b) = (pair_tag(cylinder(3), pose), pair_tag(cylinder(3), other));
            assert_ne!(a, b, "{other:?}");
            // Another enrolled cylinder for the same probe cylinder, and the other way round.
            assert!(shares_a_cylinder(a, b));
            assert!(shares_a_cylinder(a, pair_tag(cylinder(5), pose)));
            assert!(!shares_a_cylinder(a, pair_tag(cylinder(5), other)));
        }
    }

    /// A pair tag of probe cylinder `probe` and enrolled cylinder (hash) `enrolled`.
    fn tag_of(probe: u64, enrolled: u64) -> u16 {
        ((probe as u16) << ENROLLED_BITS) | enrolled as u16
    }

    #[test]
    fn a_window_takes_its_pairs_of_cylinders_one_to_one() {
        let mut sums = WindowSums::default();
        let vote = |probe, enrolled, weight: f64, x| {
            pack_hit(
                5,
                2,
                BIN_OFFSET + x,
                BIN_OFFSET,
                tag_of(probe, enrolled),
                weight_code(weight),
            )
        };
        let weigh = |hits: &mut Vec<Hit>, sums: &mut WindowSums| {
            hits.sort_unstable();
            best_window(hits, sums)
        };
        // One probe cylinder matching two enrolled ones (in neighbouring bins): the heavier only.
        let mut two = vec![vote(1, 1, 4.0, 0), vote(1, 2, 1.0, 1)];
        assert_eq!(weigh(&mut two, &mut sums), 2.0);
        // Two probe cylinders matching one enrolled one: the heavier only.
        let mut two = vec![vote(1, 1, 1.0, 0), vote(2, 1, 4.0, 1)];
        assert_eq!(weigh(&mut two, &mut sums), 2.0);
        // Greedy, heaviest first: (1, 1) is taken, then (2, 2); (1, 2) and (2, 1) share theirs.
        let mut square = vec![
            vote(1, 1, 4.0, 0),
            vote(1, 2, 1.0, 0),
            vote(2, 1, 1.0, 1),
            vote(2, 2, 0.25, 1),
        ];
        assert_eq!(weigh(&mut square, &mut sums), 2.5);
        // The same through the path for many pairs: nine more pairs far away, each alone.
        for far in 0..9 {
            square.push(vote(10 + far, 10 + far, 1.0, 20 + 3 * far as i32));
        }
        assert_eq!(weigh(&mut square, &mut sums), 2.5);
        // Pairs sharing no cylinder add up.
        let mut apart = vec![vote(1, 1, 4.0, 0), vote(2, 2, 1.0, 1), vote(3, 3, 0.25, 1)];
        assert_eq!(weigh(&mut apart, &mut sums), 3.5);
    }

    #[test]
    fn the_best_window_is_the_best_window_however_many_hits() {
        let mut state = 7u64;
        let mut sums = WindowSums::default();
        for round in 0..3_000 {
            let n = 1 + round % 40;
            // Bins crowded into a small box, so that windows hold several hits, and few pair
            // tags, so that pairs of cylinders hold several votes.
            let mut hits: Vec<Hit> = (0..n)
                .map(|_| {
                    state = splitmix(state);
                    let r = (state % 4) as i32;
                    let x = BIN_OFFSET + ((state >> 8) % 4) as i32;
                    let y = BIN_OFFSET + ((state >> 16) % 4) as i32;
                    let tag = tag_of((state >> 32) % 3, (state >> 40) % 3);
                    pack_hit(9, r, x, y, tag, 176 + ((state >> 24) % 4) as u8 * 8)
                })
                .collect();
            hits.sort_unstable();
            // Pairs of cylinders: (rotation, x, y, tag) with the sum of their votes' weights.
            let mut pairs: std::collections::BTreeMap<(i32, i32, i32, u64), f32> =
                std::collections::BTreeMap::new();
            for &h in &hits {
                let bin = ((h >> 24) & 0xFF_FFFF) as u32;
                let pair = pairs
                    .entry((
                        (bin >> 20) as i32,
                        ((bin >> 10) & 0x3FF) as i32,
                        (bin & 0x3FF) as i32,
                        (h >> 8) & 0xFFFF,
                    ))
                    .or_default();
                *pair += WEIGHTS[(h & 0xFF) as usize];
            }
            let weighed: Vec<(i32, i32, i32, u64, f32)> = pairs
                .iter()
                .map(|(&(r, x, y, tag), &sum)| (r, x, y, tag, sum.sqrt()))
                .collect();
            let mut expected = 0f32;
            for r in -1..5 {
                for x in BIN_OFFSET - 1..BIN_OFFSET + 5 {
                    for y in BIN_OFFSET - 1..BIN_OFFSET + 5 {
                        let mut inside: Vec<(i32, i32, i32, u64, f32)> = weighed
                            .iter()
                            .copied()
                            .filter(|&(hr, hx, hy, ..)| {
                                (0..=1).contains(&(hr - r))
                                    && (0..=1).contains(&(hx - x))
                                    && (0..=1).contains(&(hy - y))
                            })
                            .collect();
                        // One to one: heaviest first, then by tag and bin; a pair is taken
                        // unless a pair taken before has its probe or its enrolled cylinder.
                        inside.sort_by(|a, b| {
                            b.4.total_cmp(&a.4)
                                .then(a.3.cmp(&b.3))
                                .then((a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))
                        });
                        let mut taken: Vec<u64> = Vec::new();
                        let mut sum = 0f32;
                        for &(.., tag, w) in &inside {
                            if taken
                                .iter()
                                .all(|&t| t >> 11 != tag >> 11 && t & 0x7FF != tag & 0x7FF)
                            {
                                taken.push(tag);
                                sum += w;
                            }
                        }
                        expected = expected.max(sum);
                    }
                }
            }
            let got = best_window(&hits, &mut sums);
            assert!(
                (got - expected).abs() < 1e-5 * expected.max(1.0),
                "{n} hits: {got} against {expected}"
            );
        }
    }

    #[test]
    fn the_bin_floor_is_the_floor() {
        for value in [
            -2.5f32, -2.0, -1.0e-7, -0.0, 0.0, 1.0e-7, 0.999_999, 1.0, 127.5, -127.5,
        ] {
            assert_eq!(floor(value), value.floor() as i32, "{value}");
        }
        let mut x = -5000.0f32;
        while x < 5000.0 {
            assert_eq!(floor(x), x.floor() as i32, "{x}");
            x += 0.37;
        }
    }

    #[test]
    fn a_probe_reads_the_sectors_within_the_largest_rotation_and_no_vote_is_lost() {
        for angle in 0..=255u8 {
            let lists: Vec<u32> = probe_lists(0, angle).collect();
            assert_eq!(lists.len(), SECTORS_READ, "angle {angle}");
            // Every direction a vote accepts lies in a sector read; every sector read holds one.
            for delta in -MAX_ROTATION..=MAX_ROTATION {
                let other = (i32::from(angle) + delta).rem_euclid(256) as u8;
                assert!(lists.contains(&list_of(0, other)), "{angle} {delta}");
            }
            for list in lists {
                let sector = (list >> SECTOR_SHIFT) as i32;
                let near = (0..SECTOR_WIDTH).any(|d| {
                    let direction = sector * SECTOR_WIDTH + d;
                    let delta = (direction - i32::from(angle) + 128).rem_euclid(256) - 128;
                    delta.abs() <= MAX_ROTATION
                });
                assert!(near, "{angle}: sector {sector} read for nothing");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        /// Any bytes, and any single-byte change to a real file, are refused with an error or
        /// loaded: never a panic.
        #[test]
        fn loading_never_panics(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            at in 0usize..4000,
            byte in proptest::prelude::any::<u8>(),
        ) {
            let _ = ThumbIndex::read_from(&mut noise.as_slice());
            let mut index = ThumbIndex::new();
            index.insert(1, ThumbCodes { right: Some(keys(3)), left: Some(keys(4)) });
            let mut bytes = Vec::new();
            index.write_to(&mut bytes).unwrap();
            let at = at % bytes.len();
            bytes[at] = byte;
            if let Ok(loaded) = ThumbIndex::read_from(&mut bytes.as_slice()) {
                let _ = loaded.search(&ThumbCodes { right: Some(keys(3)), left: None }, 5, 1);
            }
        }

        /// A list gives back the postings it was given, whatever their gaps (escapes included)
        /// and poses, each pose as [`stored_pose`] keeps it (within one unit of what was given, in
        /// the list's sector, and the same when pushed again).
        #[test]
        fn a_list_decodes_what_it_was_given(
            gaps in proptest::collection::vec(
                proptest::prop_oneof![1u32..4, 1u32..300, 1u32..100_000, 1u32..10_000_000],
                0..300,
            ),
            first in 0u32..1_000_000,
            sector in 0..SECTORS,
            poses in proptest::collection::vec(proptest::prelude::any::<[u8; 3]>(), 300),
        ) {
            let list_key = 77 | (sector << SECTOR_SHIFT);
            let mut slot = first;
            let mut given = Vec::new();
            let mut list = Postings::default();
            for (i, gap) in gaps.iter().enumerate() {
                if i > 0 {
                    let Some(next) = slot.checked_add(*gap) else {
                        break;
                    };
                    slot = next;
                }
                let mut pose = poses[i];
                pose[0] = (sector * SECTOR_WIDTH as u32) as u8 | (pose[0] & (SECTOR_WIDTH as u8 - 1));
                list.push(slot, pose);
                given.push((slot, pose));
            }
            let mut decoded = list.iter(list_key);
            let got: Vec<(u32, [u8; 3])> = decoded.by_ref().collect();
            let kept: Vec<(u32, [u8; 3])> =
                given.iter().map(|&(slot, pose)| (slot, stored_pose(pose))).collect();
            proptest::prop_assert_eq!(&got, &kept);
            for ((_, pose), (_, given)) in got.iter().zip(&given) {
                proptest::prop_assert!(pose.iter().zip(given).all(|(a, b)| a.abs_diff(*b) <= 1));
                proptest::prop_assert_eq!(
                    u32::from(pose[0]) / SECTOR_WIDTH as u32,
                    u32::from(given[0]) / SECTOR_WIDTH as u32
                );
            }
            let mut again = Postings::default();
            for &(slot, pose) in &got {
                again.push(slot, pose);
            }
            proptest::prop_assert_eq!(&again.bytes, &list.bytes);
            proptest::prop_assert!(decoded.at_end());
            proptest::prop_assert_eq!(list.bytes.len() as u64, list.bits.div_ceil(8));
        }
    }

    #[test]
    fn corrupt_files_are_refused() {
        let mut index = ThumbIndex::new();
        index.insert(
            7,
            ThumbCodes {
                right: Some(keys(1)),
                left: None,
            },
        );
        let mut bytes = Vec::new();
        index.write_to(&mut bytes).unwrap();
        // The key scheme is checked.
        let mut other = bytes.clone();
        other[8] = 9;
        let error = ThumbIndex::read_from(&mut other.as_slice())
            .unwrap_err()
            .to_string();
        assert!(error.contains("index key functions"), "{error}");
        // A posting naming a slot that does not exist: the right side has one slot (offset 32
        // holds its count, 40 the person, 48 how many postings it has, 50 the list count, 54 the
        // first key, 58 its length (1: each list holds the one thumb), 62 its stream's bits, 70
        // the stream: 7 bytes, as long as any other one-posting stream).
        assert_eq!(u32::from_le_bytes(bytes[58..62].try_into().unwrap()), 1);
        assert_eq!(u64::from_le_bytes(bytes[62..70].try_into().unwrap()), 49);
        let key = u32::from_le_bytes(bytes[54..58].try_into().unwrap());
        let (_, pose) = index.sides[0].lists[&key].iter(key).next().unwrap();
        let mut elsewhere = Postings::default();
        elsewhere.push(5, pose);
        let mut bad = bytes.clone();
        bad[70..77].copy_from_slice(&elsewhere.bytes);
        let error = ThumbIndex::read_from(&mut bad.as_slice())
            .unwrap_err()
            .to_string();
        assert!(error.contains("posting slot"), "{error}");
        // A bit set past the stream's end.
        let mut bad = bytes.clone();
        bad[76] |= 0x80;
        let error = ThumbIndex::read_from(&mut bad.as_slice())
            .unwrap_err()
            .to_string();
        assert!(error.contains("list padding"), "{error}");
        // A stream cut short of its posting, or longer than one posting.
        for bits in [40u64, 60] {
            let mut bad = bytes.clone();
            bad[62..70].copy_from_slice(&bits.to_le_bytes());
            if bits > 56 {
                bad.insert(77, 0);
            } else {
                bad.remove(76);
            }
            let error = ThumbIndex::read_from(&mut bad.as_slice())
                .unwrap_err()
                .to_string();
            assert!(error.contains("list postings"), "{bits}: {error}");
        }
        // A stream longer than its postings could take is refused before it is read.
        let mut bad = bytes.clone();
        bad[62..70].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let error = ThumbIndex::read_from(&mut bad.as_slice())
            .unwrap_err()
            .to_string();
        assert!(error.contains("list bits"), "{error}");
        // A slot claiming one posting more than the lists hold.
        let posted = u16::from_le_bytes([bytes[48], bytes[49]]);
        assert_eq!(usize::from(posted), index.postings());
        let mut bad = bytes.clone();
        bad[48..50].copy_from_slice(&(posted + 1).to_le_bytes());
        let error = ThumbIndex::read_from(&mut bad.as_slice())
            .unwrap_err()
            .to_string();
        assert!(error.contains("slot postings"), "{error}");
        // The intact file loads, and removing the thumb counts all its postings dead.
        let mut loaded = ThumbIndex::read_from(&mut bytes.as_slice()).unwrap();
        loaded.insert_thumb(7, ThumbSide::Right, None);
        assert_eq!(loaded.sides[0].dead_postings, usize::from(posted));
    }
}
