//! 1:N candidate search for two thumbs without comparing against everyone: an inverted index of
//! MCC locality-sensitive hash keys that counts only *geometrically consistent* key matches.
//!
//! Each cylinder of a thumb gives [`KEY_FUNCTIONS`] keys, each [`KEY_BITS`] cylinder bits sampled
//! at fixed positions (the MCC-LSH idea of Cappelli, Ferrara and Maltoni, TPAMI 2011), and each
//! key carries the pose (position, direction) of the cylinder it came from. An enrolled thumb
//! posts its distinct non-zero keys; a probe looks up its own. A key match between a probe and an
//! enrolled cylinder implies a rotation (the difference of their directions) and with it a
//! translation; an enrolled thumb's votes are counted in bins of rotation and translation, and its
//! score is the weight of the best 2×2×2 window of bins. Strangers share many keys (fingerprints
//! share local structure) but their matches disagree on the pose; a mate's agree. Both thumbs'
//! scores are added and the best go to MCC re-ranking ([`rerank`]).
//!
//! The cost of a search is the number of postings it reads, which grows with the population: the
//! lists of common keys hold a large share of all thumbs. A search reads its keys' lists shortest
//! first and stops before [`HIT_BUDGET`] postings per thumb, so its time is bounded whatever the
//! population; in a large one the commonest keys are left unread, which costs recall. Both are
//! measured against real fingers and exhaustive MCC in `BENCHMARKS.md`.
//!
//! Keys are derived deterministically from templates, so the index can be rebuilt from them; it
//! is saved as its posting lists and loaded without recomputing, and updated one thumb at a time.

use std::collections::HashMap;
use std::io::{Read, Write};

use crate::Error;
use crate::mcc::{LAYER_WORDS, MccMatcher, MccTemplate, ND, NS};

/// Hash functions (keys) per cylinder.
pub const KEY_FUNCTIONS: usize = 16;
/// Cylinder bits each hash function samples.
pub const KEY_BITS: usize = 16;
/// Seed of the sampled bit positions: part of the index format (changing it changes every key).
const POSITION_SEED: u64 = 0x5EED_D5E9_F14E_0001;
/// Most postings one thumb of a search reads (the shortest lists first).
pub const HIT_BUDGET: usize = 4_000_000;
/// Largest rotation between two impressions a vote may imply, in 1/256 turn (45°).
const MAX_ROTATION: i32 = 32;
/// Rotation bins over `[-MAX_ROTATION, MAX_ROTATION]`.
const ROTATION_BINS: i32 = 8;
/// Side of a translation bin, 500-dpi pixels.
const CELL: f32 = 16.0;
/// Stored coordinates are in units of this many 500-dpi pixels (0..=255, so up to 1,020 px).
const COORD_UNIT: f32 = 4.0;
const FILE_MAGIC: &[u8; 8] = b"DSPPFIX2";
const NO_SLOT: u32 = u32::MAX;

/// One key of a thumb with the pose of the cylinder it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct PosedKey {
    /// Hash function (bits 16..) and sampled bits (bits 0..16).
    key: u32,
    /// Cylinder direction in 1/256 turn.
    angle: u8,
    /// Cylinder centre in [`COORD_UNIT`] pixels, x right and y down.
    x: u8,
    y: u8,
}

impl PosedKey {
    fn sampled_bits(self) -> u32 {
        self.key & ((1 << KEY_BITS) - 1)
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The (layer, cell) positions each hash function samples: distinct cells inside the cylinder's
/// disc, drawn from a fixed seed.
fn sampled_positions() -> Vec<[(usize, usize); KEY_BITS]> {
    let disc: Vec<usize> = (0..NS * NS)
        .filter(|cell| {
            let u = 2 * (cell / NS) as i64 - (NS as i64 - 1);
            let v = 2 * (cell % NS) as i64 - (NS as i64 - 1);
            u * u + v * v <= (NS * NS) as i64
        })
        .collect();
    let mut state = POSITION_SEED;
    (0..KEY_FUNCTIONS)
        .map(|_| {
            let mut chosen = [(0, 0); KEY_BITS];
            let mut filled = 0;
            while filled < KEY_BITS {
                state = splitmix(state);
                let layer = (state % ND as u64) as usize;
                let cell = disc[((state >> 8) % disc.len() as u64) as usize];
                if !chosen[..filled].contains(&(layer, cell)) {
                    chosen[filled] = (layer, cell);
                    filled += 1;
                }
            }
            chosen
        })
        .collect()
}

fn quantize(value: f32) -> u8 {
    (value / COORD_UNIT).round().clamp(0.0, 255.0) as u8
}

/// The index keys of one thumb: every key of every cylinder with its pose, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbKeys(Vec<PosedKey>);

impl ThumbKeys {
    /// The keys of a template: for every cylinder and hash function whose sampled cells are all
    /// valid, the sampled bits.
    pub fn from_mcc(template: &MccTemplate) -> ThumbKeys {
        let positions = sampled_positions();
        let mut keys = Vec::with_capacity(template.len() * KEY_FUNCTIONS);
        for ((valid, bits), (x, y, angle)) in
            template.cylinder_bits().zip(template.cylinder_poses())
        {
            let angle = ((angle / std::f32::consts::TAU * 256.0).round() as i32 & 255) as u8;
            let (x, y) = (quantize(x), quantize(-y));
            for (function, cells) in positions.iter().enumerate() {
                let mut sampled = 0u32;
                let mut usable = true;
                for &(layer, cell) in cells {
                    let (word, bit) = (cell / 64, cell % 64);
                    debug_assert!(word < LAYER_WORDS);
                    usable &= ((valid[word] >> bit) & 1) == 1;
                    sampled = (sampled << 1) | ((bits[layer][word] >> bit) & 1) as u32;
                }
                if usable {
                    keys.push(PosedKey {
                        key: ((function as u32) << KEY_BITS) | sampled,
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

    /// The keys whose value `keep` accepts (for measuring stop lists).
    #[doc(hidden)]
    pub fn filtered(&self, keep: impl Fn(u32) -> bool) -> ThumbKeys {
        ThumbKeys(self.0.iter().copied().filter(|k| keep(k.key)).collect())
    }

    /// Each distinct key value with how many times it occurs (for estimating list lengths).
    #[doc(hidden)]
    pub fn key_counts(&self, posted_only: bool) -> Vec<(u32, usize)> {
        let keys = if posted_only {
            self.posted()
        } else {
            self.0.clone()
        };
        let mut out: Vec<(u32, usize)> = Vec::new();
        for k in keys {
            match out.last_mut() {
                Some(last) if last.0 == k.key => last.1 += 1,
                _ => out.push((k.key, 1)),
            }
        }
        out
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the template gave no key (no usable cylinder).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What an enrolled thumb posts: each non-zero key value once (its first pose), sorted. An
    /// all-zero key (no neighbour in any sampled cell) is in most prints and says nothing.
    fn posted(&self) -> Vec<PosedKey> {
        self.posted_sampled(1)
    }

    /// [`ThumbKeys::posted`], keeping only the key values that hash to 0 modulo `sampling` (the
    /// same values for every print, so a mate's matching keys are kept or dropped together).
    fn posted_sampled(&self, sampling: u32) -> Vec<PosedKey> {
        let mut distinct: Vec<PosedKey> = Vec::with_capacity(self.0.len());
        for k in &self.0 {
            if k.sampled_bits() != 0
                && distinct.last().is_none_or(|d| d.key != k.key)
                && (sampling <= 1 || splitmix(u64::from(k.key)).is_multiple_of(u64::from(sampling)))
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

/// One posting: an enrolled thumb's slot and the pose of the cylinder that gave the key.
type Posting = (u32, [u8; 3]);

/// The postings of one key, in ascending slot order: per posting the slot's difference from the
/// previous one (LEB128, one or two bytes at population scale), then the angle, x and y of the
/// cylinder that gave the key, as in [`PosedKey`]: about 5 bytes a posting.
#[derive(Clone, Debug, Default)]
struct Postings {
    bytes: Vec<u8>,
    /// Slot of the last posting (the next one's difference is taken from it).
    last: u32,
    len: u32,
}

impl Postings {
    /// Append a posting; `slot` must not be below the last one's.
    fn push(&mut self, slot: u32, pose: [u8; 3]) {
        let mut delta = slot - if self.len == 0 { 0 } else { self.last };
        loop {
            let byte = (delta & 0x7F) as u8;
            delta >>= 7;
            if delta == 0 {
                self.bytes.push(byte);
                break;
            }
            self.bytes.push(byte | 0x80);
        }
        self.bytes.extend_from_slice(&pose);
        self.last = slot;
        self.len += 1;
    }

    fn iter(&self) -> PostingIter<'_> {
        PostingIter {
            bytes: &self.bytes,
            at: 0,
            slot: 0,
        }
    }
}

struct PostingIter<'a> {
    bytes: &'a [u8],
    at: usize,
    slot: u32,
}

impl Iterator for PostingIter<'_> {
    type Item = (u32, [u8; 3]);

    fn next(&mut self) -> Option<(u32, [u8; 3])> {
        let mut delta = 0u32;
        let mut shift = 0;
        loop {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            delta |= u32::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        self.slot += delta;
        let pose = self.bytes.get(self.at..self.at + 3)?;
        self.at += 3;
        Some((self.slot, [pose[0], pose[1], pose[2]]))
    }
}

/// The postings of one thumb side (right thumbs are only compared with right thumbs).
#[derive(Clone, Debug, Default)]
struct Side {
    /// By key.
    lists: HashMap<u32, Postings>,
    /// Person (index into `ThumbIndex::people`) of each slot; [`NO_SLOT`] once replaced or removed.
    slot_person: Vec<u32>,
    /// Postings whose slot is dead, purged by [`Side::compact`].
    dead_postings: usize,
    postings: usize,
}

impl Side {
    fn add(&mut self, person: u32, keys: &[PosedKey]) -> u32 {
        let slot = self.slot_person.len() as u32;
        self.slot_person.push(person);
        for k in keys {
            self.lists
                .entry(k.key)
                .or_default()
                .push(slot, [k.angle, k.x, k.y]);
        }
        self.postings += keys.len();
        slot
    }

    fn kill(&mut self, slot: u32, postings: usize) {
        if let Some(person) = self.slot_person.get_mut(slot as usize) {
            *person = NO_SLOT;
            self.dead_postings += postings;
        }
    }

    /// Drop dead postings and renumber the live slots densely; returns the old-to-new slot map.
    fn compact(&mut self) -> Vec<u32> {
        let mut renumber = vec![NO_SLOT; self.slot_person.len()];
        let mut live = Vec::new();
        for (slot, &person) in self.slot_person.iter().enumerate() {
            if person != NO_SLOT {
                renumber[slot] = live.len() as u32;
                live.push(person);
            }
        }
        for list in self.lists.values_mut() {
            let mut kept = Postings::default();
            for (slot, pose) in list.iter() {
                let new = renumber[slot as usize];
                if new != NO_SLOT {
                    kept.push(new, pose);
                }
            }
            kept.bytes.shrink_to_fit();
            *list = kept;
        }
        self.lists.retain(|_, list| list.len > 0);
        self.slot_person = live;
        self.postings -= self.dead_postings;
        self.dead_postings = 0;
        renumber
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
    index_of: HashMap<u64, u32>,
    /// Enrolled thumbs post the key values that hash to 0 modulo this (1: all).
    sampling: u32,
}

impl Default for ThumbIndex {
    fn default() -> ThumbIndex {
        ThumbIndex::with_sampling(1)
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
    /// Weight of each of its matches: 1 over how many times the probe has this key value.
    weight_index: u8,
    /// For each rotation `delta + MAX_ROTATION`: the rotated position (500-dpi px, y up).
    rotated: Vec<(f32, f32)>,
}

fn probe_keys(keys: &ThumbKeys) -> Vec<ProbeKey> {
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
                weight_index: multiplicity,
                rotated,
            });
        }
        start = end;
    }
    out
}

/// The probe keys whose lists are read: shortest lists first, as many as fit in [`HIT_BUDGET`]
/// postings (`length` gives a key's list length).
fn within_budget(probe: Vec<ProbeKey>, length: impl Fn(u32) -> usize) -> Vec<ProbeKey> {
    let mut sized: Vec<(usize, ProbeKey)> =
        probe.into_iter().map(|pk| (length(pk.key), pk)).collect();
    sized.sort_by_key(|(len, pk)| (*len, pk.key));
    let mut read = 0usize;
    sized
        .into_iter()
        .take_while(|(len, _)| {
            read += len;
            read <= HIT_BUDGET
        })
        .map(|(_, pk)| pk)
        .collect()
}

/// Bits of a hit: slot (32) | rotation bin (4) | x bin (12) | y bin (12) | multiplicity (4).
fn pack_hit(slot: u32, r: i32, bx: i32, by: i32, multiplicity: u8) -> Hit {
    (u64::from(slot) << 32)
        | ((r as u64 & 0xF) << 28)
        | ((bx as u64 & 0xFFF) << 16)
        | ((by as u64 & 0xFFF) << 4)
        | u64::from(multiplicity.min(15))
}

/// Translation bins are offset so that they stay positive.
const BIN_OFFSET: i32 = 2048;

/// The vote of one key match: the pose bin the match implies, or `None` beyond the largest rotation.
fn vote(pk: &ProbeKey, slot: u32, pose: [u8; 3]) -> Option<Hit> {
    let delta = i32::from(pose[0].wrapping_sub(pk.angle) as i8);
    if delta.abs() > MAX_ROTATION {
        return None;
    }
    let (rx, ry) = pk.rotated[(delta + MAX_ROTATION) as usize];
    let tx = f32::from(pose[1]) * COORD_UNIT - rx;
    let ty = -f32::from(pose[2]) * COORD_UNIT - ry;
    let bx = (tx / CELL).floor() as i32 + BIN_OFFSET;
    let by = (ty / CELL).floor() as i32 + BIN_OFFSET;
    Some(pack_hit(slot, rotation_bin(delta), bx, by, pk.weight_index))
}

/// Votes of the probe keys `probe` against the postings of `side`.
fn collect_hits(side: &Side, probe: &[ProbeKey], hits: &mut Vec<Hit>) {
    for pk in probe {
        // Dead slots vote too; their scores are dropped once per slot, not checked per posting.
        let Some(list) = side.lists.get(&pk.key) else {
            continue;
        };
        for (slot, pose) in list.iter() {
            hits.extend(vote(pk, slot, pose));
        }
    }
}

/// Weight of the best 2×2×2 window of pose bins among one slot's hits (sorted).
fn best_window(hits: &[Hit], bins: &mut Vec<(u32, f32)>) -> f32 {
    bins.clear();
    for &hit in hits {
        let bin = ((hit >> 4) & 0xFFF_FFFF) as u32;
        let weight = 1.0 / (hit & 0xF).max(1) as f32;
        match bins.last_mut() {
            Some(last) if last.0 == bin => last.1 += weight,
            _ => bins.push((bin, weight)),
        }
    }
    if bins.len() == 1 {
        return bins[0].1;
    }
    let unpack = |bin: u32| {
        (
            (bin >> 24) as i32,
            ((bin >> 12) & 0xFFF) as i32,
            (bin & 0xFFF) as i32,
        )
    };
    let weight_at = |r: i32, x: i32, y: i32| -> f32 {
        if r < 0 || x < 0 || y < 0 {
            return 0.0;
        }
        let bin = ((r as u32) << 24) | ((x as u32) << 12) | y as u32;
        bins.binary_search_by_key(&bin, |b| b.0)
            .map_or(0.0, |i| bins[i].1)
    };
    let mut best = 0f32;
    for &(bin, _) in bins.iter() {
        let (r0, x0, y0) = unpack(bin);
        for (r, x, y) in [
            (r0, x0, y0),
            (r0 - 1, x0, y0),
            (r0, x0 - 1, y0),
            (r0, x0, y0 - 1),
            (r0 - 1, x0 - 1, y0),
            (r0 - 1, x0, y0 - 1),
            (r0, x0 - 1, y0 - 1),
            (r0 - 1, x0 - 1, y0 - 1),
        ] {
            let mut sum = 0.0;
            for dr in 0..2 {
                for dx in 0..2 {
                    for dy in 0..2 {
                        sum += weight_at(r + dr, x + dx, y + dy);
                    }
                }
            }
            best = best.max(sum);
        }
    }
    best
}

/// Scores per slot of a side's hits (sorted by slot then bin), leaving out the slots `live` refuses.
fn score_slots(hits: &[Hit], live: impl Fn(u32) -> bool, scores: &mut Vec<(u32, f32)>) {
    let mut bins = Vec::new();
    let mut start = 0;
    while start < hits.len() {
        let slot = (hits[start] >> 32) as u32;
        let end = start
            + hits[start..]
                .iter()
                .take_while(|&&h| (h >> 32) as u32 == slot)
                .count();
        if live(slot) {
            scores.push((slot, best_window(&hits[start..end], &mut bins)));
        }
        start = end;
    }
}

/// The consistent-vote score of a probe thumb against one enrolled thumb's keys, without an
/// index: what [`ThumbIndex::search`] computes for every enrolled thumb (for tests and evaluation).
pub fn thumb_score(probe: &ThumbKeys, enrolled: &ThumbKeys) -> f64 {
    thumb_scores(probe, std::slice::from_ref(enrolled))[0]
}

/// [`thumb_score`] of one probe against many enrolled thumbs.
pub fn thumb_scores(probe: &ThumbKeys, enrolled: &[ThumbKeys]) -> Vec<f64> {
    let probe = probe_keys(probe);
    let mut hits = Vec::new();
    let mut scores = Vec::new();
    enrolled
        .iter()
        .map(|enrolled| {
            let posted = enrolled.posted();
            hits.clear();
            for pk in &probe {
                let start = posted.partition_point(|k| k.key < pk.key);
                for k in posted[start..].iter().take_while(|k| k.key == pk.key) {
                    hits.extend(vote(pk, 0, [k.angle, k.x, k.y]));
                }
            }
            hits.sort_unstable();
            scores.clear();
            score_slots(&hits, |_| true, &mut scores);
            scores.first().map_or(0.0, |s| f64::from(s.1))
        })
        .collect()
}

impl ThumbIndex {
    /// An empty index where enrolled thumbs post every distinct non-zero key (about 250 on real and
    /// synthetic prints, some 1.6 kB a thumb in memory).
    pub fn new() -> ThumbIndex {
        ThumbIndex::default()
    }

    /// An empty index where enrolled thumbs post only the key values that hash to 0 modulo
    /// `sampling` (1 to 255): memory and search time fall by that factor, recall falls too
    /// (measured in `BENCHMARKS.md`). For populations whose full index would not fit in memory.
    pub fn with_sampling(sampling: u8) -> ThumbIndex {
        ThumbIndex {
            sides: Default::default(),
            people: Vec::new(),
            index_of: HashMap::new(),
            sampling: u32::from(sampling.max(1)),
        }
    }

    /// Number of people enrolled (with at least one thumb or none: everyone inserted).
    pub fn len(&self) -> usize {
        self.index_of.len()
    }

    /// Whether nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.index_of.is_empty()
    }

    /// Postings held (live), both sides: the index's size is about 7 bytes each.
    pub fn postings(&self) -> usize {
        self.sides
            .iter()
            .map(|s| s.postings - s.dead_postings)
            .sum()
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
        let (old, old_len) = self.people[index as usize].slots[s];
        if old != NO_SLOT {
            self.sides[s].kill(old, usize::from(old_len));
        }
        let new = match keys {
            Some(keys) => {
                let posted = keys.posted_sampled(self.sampling);
                (self.sides[s].add(index, &posted), posted.len() as u16)
            }
            None => (NO_SLOT, 0),
        };
        self.people[index as usize].slots[s] = new;
        self.compact_if_needed(s);
    }

    /// Remove a person; returns whether they were enrolled.
    pub fn remove(&mut self, person: u64) -> bool {
        let Some(index) = self.index_of.remove(&person) else {
            return false;
        };
        for s in 0..2 {
            let (slot, len) = self.people[index as usize].slots[s];
            if slot != NO_SLOT {
                self.sides[s].kill(slot, usize::from(len));
            }
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
        let mut per_person: Vec<(u32, f32)> = Vec::new();
        for (s, keys) in [&probe.right, &probe.left].into_iter().enumerate() {
            let Some(keys) = keys else { continue };
            let side = &self.sides[s];
            let probe = within_budget(probe_keys(keys), |key| {
                side.lists.get(&key).map_or(0, |list| list.len as usize)
            });
            // Each thread reads the lists of a share of the probe's keys and sorts its hits into
            // `threads` buckets by slot, so that each bucket can then be sorted and scored alone.
            let chunk = probe.len().div_ceil(threads).max(1);
            let buckets: Vec<Vec<Vec<Hit>>> = std::thread::scope(|scope| {
                let workers: Vec<_> = probe
                    .chunks(chunk)
                    .map(|keys| {
                        scope.spawn(move || {
                            let mut hits = Vec::new();
                            collect_hits(side, keys, &mut hits);
                            let mut buckets = vec![Vec::new(); threads];
                            for hit in hits {
                                buckets[((hit >> 32) as usize) % threads].push(hit);
                            }
                            buckets
                        })
                    })
                    .collect();
                // A worker only panics if the code above has a bug; lose its share rather than abort.
                workers.into_iter().filter_map(|w| w.join().ok()).collect()
            });
            let scored: Vec<Vec<(u32, f32)>> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|b| {
                        let buckets = &buckets;
                        scope.spawn(move || {
                            let mut hits: Vec<Hit> =
                                buckets.iter().flat_map(|w| w[b].iter().copied()).collect();
                            hits.sort_unstable();
                            let mut scores = Vec::new();
                            score_slots(
                                &hits,
                                |slot| side.slot_person[slot as usize] != NO_SLOT,
                                &mut scores,
                            );
                            scores
                        })
                    })
                    .collect();
                workers.into_iter().filter_map(|w| w.join().ok()).collect()
            });
            per_person.extend(
                scored
                    .into_iter()
                    .flatten()
                    .map(|(slot, score)| (side.slot_person[slot as usize], score)),
            );
        }
        per_person.sort_unstable_by_key(|p| p.0);
        let mut fused: Vec<(f32, u64)> = Vec::new();
        for (person, score) in per_person {
            let id = self.people[person as usize].id;
            match fused.last_mut() {
                Some(last) if last.1 == id => last.0 += score,
                _ => fused.push((score, id)),
            }
        }
        let order = |a: &(f32, u64), b: &(f32, u64)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if fused.len() > short_list {
            fused.select_nth_unstable_by(short_list, order);
            fused.truncate(short_list);
        }
        fused.sort_unstable_by(order);
        fused
            .into_iter()
            .map(|(score, person)| MatchCandidate {
                person,
                score: f64::from(score),
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
        for value in [KEY_FUNCTIONS as u32, KEY_BITS as u32, self.sampling] {
            put(&value.to_le_bytes())?;
        }
        put(&POSITION_SEED.to_le_bytes())?;
        for side in &self.sides {
            // Live slots in order, numbered densely as the loader will number them.
            let mut renumber = vec![NO_SLOT; side.slot_person.len()];
            let mut live: Vec<u32> = Vec::new();
            for (slot, &person) in side.slot_person.iter().enumerate() {
                if person != NO_SLOT {
                    renumber[slot] = live.len() as u32;
                    live.push(person);
                }
            }
            put(&(live.len() as u64).to_le_bytes())?;
            for person in &live {
                put(&self.people[*person as usize].id.to_le_bytes())?;
            }
            let mut keys: Vec<u32> = side.lists.keys().copied().collect();
            keys.sort_unstable();
            let lists: Vec<(u32, Vec<Posting>)> = keys
                .into_iter()
                .filter_map(|key| side.lists.get(&key).map(|list| (key, list)))
                .map(|(key, list)| {
                    let live: Vec<Posting> = list
                        .iter()
                        .filter(|(slot, _)| renumber[*slot as usize] != NO_SLOT)
                        .map(|(slot, pose)| (renumber[slot as usize], pose))
                        .collect();
                    (key, live)
                })
                .filter(|(_, live)| !live.is_empty())
                .collect();
            put(&(lists.len() as u32).to_le_bytes())?;
            for (key, live_postings) in lists {
                put(&key.to_le_bytes())?;
                put(&(live_postings.len() as u32).to_le_bytes())?;
                for (slot, pose) in live_postings {
                    put(&slot.to_le_bytes())?;
                    put(&pose)?;
                }
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
                expected: "DSPPFIX2",
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
        let sampling = reader.u32("index sampling")?;
        if !(1..=255).contains(&sampling) {
            return Err(Error::InvalidField {
                field: "index sampling",
                offset,
                value: u64::from(sampling),
                expected: "1 to 255",
            });
        }
        let offset = reader.offset;
        let seed = u64::from_le_bytes(reader.bytes::<8>("index seed")?);
        if seed != POSITION_SEED {
            return Err(Error::InvalidField {
                field: "index seed",
                offset,
                value: seed,
                expected: "the key scheme of this version",
            });
        }
        let mut index = ThumbIndex::with_sampling(sampling as u8);
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
            let mut lengths = Vec::new();
            for _ in 0..slots {
                let offset = reader.offset;
                let id = u64::from_le_bytes(reader.bytes::<8>("person id")?);
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
                index.people[person as usize].slots[s] = (slot, 0);
                lengths.push(0u16);
            }
            let lists = reader.u32("list count")?;
            for _ in 0..lists {
                let offset = reader.offset;
                let key = reader.u32("list key")?;
                if key >= (KEY_FUNCTIONS as u32) << KEY_BITS
                    || index.sides[s].lists.contains_key(&key)
                {
                    return Err(Error::InvalidField {
                        field: "list key",
                        offset,
                        value: u64::from(key),
                        expected: "a key of this scheme, each once",
                    });
                }
                let count = reader.u32("list length")?;
                let mut previous = None;
                for _ in 0..count {
                    let offset = reader.offset;
                    let slot = reader.u32("posting slot")?;
                    let pose = reader.bytes::<3>("posting pose")?;
                    let Some(length) = lengths.get_mut(slot as usize) else {
                        return Err(Error::InvalidField {
                            field: "posting slot",
                            offset,
                            value: u64::from(slot),
                            expected: "a slot of this side",
                        });
                    };
                    if previous.is_some_and(|p| slot <= p) {
                        return Err(Error::InvalidField {
                            field: "posting slot",
                            offset,
                            value: u64::from(slot),
                            expected: "above the previous posting's slot",
                        });
                    }
                    previous = Some(slot);
                    *length = length.saturating_add(1);
                    index.sides[s]
                        .lists
                        .entry(key)
                        .or_default()
                        .push(slot, pose);
                    index.sides[s].postings += 1;
                }
            }
            for (slot, length) in lengths.into_iter().enumerate() {
                let person = index.sides[s].slot_person[slot];
                index.people[person as usize].slots[s].1 = length;
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

    fn keys(seed: u64) -> ThumbKeys {
        ThumbKeys::from_mcc(&MccTemplate::new(
            &finger(seed, &SynthParams::default()).unwrap(),
        ))
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
        let found = index.search(&probe, 60, 2);
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
        // Same answers on one thread.
        assert_eq!(index.search(&probe, 60, 1), found);
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
        let error = ThumbIndex::read_from(&mut &bytes[..30])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "record truncated: slot count needs 8 bytes at offset 28, only 2 left"
        );
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
    fn a_sampled_index_posts_a_share_of_the_keys_and_keeps_its_sampling_when_saved() {
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
    }

    #[test]
    fn a_search_reads_the_shortest_lists_within_its_budget() {
        let probe: Vec<ProbeKey> = [3_000_000usize, 2_000_000, 1_000_000, 1_000_000, 0]
            .iter()
            .enumerate()
            .map(|(i, _)| ProbeKey {
                key: i as u32,
                angle: 0,
                weight_index: 1,
                rotated: Vec::new(),
            })
            .collect();
        let lengths = [3_000_000usize, 2_000_000, 1_000_000, 1_000_000, 0];
        let read: Vec<u32> = within_budget(probe, |key| lengths[key as usize])
            .iter()
            .map(|pk| pk.key)
            .collect();
        assert_eq!(read, vec![4, 2, 3, 1]);
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
        // A posting naming a slot that does not exist: the right side has one slot (offset 28
        // holds its count, 36 the person, 44 the list count, 48 the first key, 52 its length, 56
        // the first posting's slot).
        let mut bad = bytes.clone();
        bad[56..60].copy_from_slice(&5u32.to_le_bytes());
        let error = ThumbIndex::read_from(&mut bad.as_slice())
            .unwrap_err()
            .to_string();
        assert!(error.contains("posting slot"), "{error}");
    }
}
