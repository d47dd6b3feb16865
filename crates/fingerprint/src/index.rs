//! 1:N candidate search without comparing against everyone: each thumb's MCC cylinders are hashed
//! by locality-sensitive bit sampling (the MCC-LSH idea of Cappelli, Ferrara and Maltoni) into a
//! fixed-length 2048-bit code; a probe's code is compared with every enrolled code by
//! AND-popcount (shared hash keys), both thumbs' counts are added, and the best few go to MCC
//! re-ranking. Codes are derived deterministically from templates, so the index can always be
//! rebuilt from them; it can also be saved and loaded, and updated one person at a time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{Read, Write};

use crate::Error;
use crate::mcc::{LAYER_WORDS, MccMatcher, MccTemplate, ND, NS};

/// Bits of one thumb's code.
pub const CODE_BITS: usize = 2048;
const CODE_WORDS: usize = CODE_BITS / 64;
/// Hash functions per cylinder.
const HASH_FUNCTIONS: usize = 8;
/// Cylinder bits each hash function samples.
const BITS_PER_HASH: usize = 16;
/// Seed of the sampled bit positions: part of the code format (changing it changes every code).
const POSITION_SEED: u64 = 0x5EED_D5E9_F14E_0001;
const FILE_MAGIC: &[u8; 8] = b"DSPPFIX1";

/// The fixed-length code of one thumb: a set of hash keys as a bitmap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryCode([u64; CODE_WORDS]);

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The (layer, cell) positions each hash function samples: cells inside the cylinder's disc only,
/// drawn from a fixed seed.
fn sampled_positions() -> [[(usize, usize); BITS_PER_HASH]; HASH_FUNCTIONS] {
    let disc: Vec<usize> = (0..NS * NS)
        .filter(|cell| {
            let u = 2 * (cell / NS) as i64 - (NS as i64 - 1);
            let v = 2 * (cell % NS) as i64 - (NS as i64 - 1);
            u * u + v * v <= (NS * NS) as i64
        })
        .collect();
    let mut positions = [[(0, 0); BITS_PER_HASH]; HASH_FUNCTIONS];
    let mut state = POSITION_SEED;
    for function in positions.iter_mut() {
        for slot in function.iter_mut() {
            state = splitmix(state);
            let layer = (state % ND as u64) as usize;
            let cell = disc[((state >> 8) % disc.len() as u64) as usize];
            *slot = (layer, cell);
        }
    }
    positions
}

impl BinaryCode {
    /// The code of a template: for every cylinder and hash function whose sampled cells are all
    /// valid, the sampled bits form a key, and the key's bit is set.
    pub fn from_mcc(template: &MccTemplate) -> BinaryCode {
        let positions = sampled_positions();
        let mut words = [0u64; CODE_WORDS];
        for (valid, bits) in template.cylinder_bits() {
            for (function, cells) in positions.iter().enumerate() {
                let mut key = 0u64;
                let mut usable = true;
                for &(layer, cell) in cells {
                    let (word, bit) = (cell / 64, cell % 64);
                    debug_assert!(word < LAYER_WORDS);
                    usable &= ((valid[word] >> bit) & 1) == 1;
                    key = (key << 1) | ((bits[layer][word] >> bit) & 1);
                }
                if usable {
                    let slot =
                        (splitmix(key ^ ((function as u64) << 32)) % CODE_BITS as u64) as usize;
                    words[slot / 64] |= 1 << (slot % 64);
                }
            }
        }
        BinaryCode(words)
    }

    /// Number of keys two codes share.
    pub fn shared(&self, other: &BinaryCode) -> u32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a & b).count_ones())
            .sum()
    }

    /// Number of keys set.
    pub fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Whether no key is set (a template without usable cylinders).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A person's thumbs as index codes; a missing or excepted thumb is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbCodes {
    /// Right thumb.
    pub right: Option<BinaryCode>,
    /// Left thumb.
    pub left: Option<BinaryCode>,
}

/// A candidate of a search, best first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchCandidate {
    /// The enrolled person.
    pub person: u64,
    /// Fused score: index shared keys, or after re-ranking the sum of the thumbs' MCC scores.
    pub score: f64,
}

/// The enrolled codes of a population, scanned linearly.
#[derive(Clone, Debug, Default)]
pub struct ThumbIndex {
    people: Vec<u64>,
    codes: Vec<ThumbCodes>,
    slot_of: HashMap<u64, usize>,
}

impl ThumbIndex {
    /// An empty index.
    pub fn new() -> ThumbIndex {
        ThumbIndex::default()
    }

    /// Number of people enrolled.
    pub fn len(&self) -> usize {
        self.people.len()
    }

    /// Whether nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// Enrol or replace a person's codes.
    pub fn insert(&mut self, person: u64, codes: ThumbCodes) {
        if let Some(&slot) = self.slot_of.get(&person) {
            self.codes[slot] = codes;
        } else {
            self.slot_of.insert(person, self.people.len());
            self.people.push(person);
            self.codes.push(codes);
        }
    }

    /// A person's codes, if enrolled.
    pub fn codes(&self, person: u64) -> Option<&ThumbCodes> {
        self.slot_of.get(&person).map(|&slot| &self.codes[slot])
    }

    /// Remove a person; returns whether they were enrolled.
    pub fn remove(&mut self, person: u64) -> bool {
        let Some(slot) = self.slot_of.remove(&person) else {
            return false;
        };
        self.people.swap_remove(slot);
        self.codes.swap_remove(slot);
        if let Some(&moved) = self.people.get(slot) {
            self.slot_of.insert(moved, slot);
        }
        true
    }

    /// The `short_list` people whose codes share the most keys with the probe's, both thumbs
    /// added (a thumb missing on either side contributes nothing), best first, scanned on
    /// `threads` threads.
    pub fn search(
        &self,
        probe: &ThumbCodes,
        short_list: usize,
        threads: usize,
    ) -> Vec<MatchCandidate> {
        let threads = threads.max(1);
        let chunk = self.codes.len().div_ceil(threads).max(1);
        let mut heaps: Vec<BinaryHeap<Reverse<(u32, usize)>>> = Vec::new();
        std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .codes
                .chunks(chunk)
                .enumerate()
                .map(|(part, codes)| {
                    scope.spawn(move || top_k(codes, part * chunk, probe, short_list))
                })
                .collect();
            for worker in workers {
                // A worker only panics if the code above has a bug; lose its part rather than abort.
                if let Ok(heap) = worker.join() {
                    heaps.push(heap);
                }
            }
        });
        let mut all: Vec<(u32, usize)> = heaps.into_iter().flatten().map(|Reverse(e)| e).collect();
        all.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(short_list);
        all.into_iter()
            .map(|(score, slot)| MatchCandidate {
                person: self.people[slot],
                score: f64::from(score),
            })
            .collect()
    }

    /// Save the index: magic, count, then per person its id and both codes (presence byte + words).
    pub fn write_to(&self, out: &mut impl Write) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: "<index>".into(),
            source,
        };
        out.write_all(FILE_MAGIC).map_err(io)?;
        out.write_all(&(self.people.len() as u64).to_le_bytes())
            .map_err(io)?;
        for (person, codes) in self.people.iter().zip(&self.codes) {
            out.write_all(&person.to_le_bytes()).map_err(io)?;
            for code in [&codes.right, &codes.left] {
                match code {
                    None => out.write_all(&[0]).map_err(io)?,
                    Some(code) => {
                        out.write_all(&[1]).map_err(io)?;
                        for word in &code.0 {
                            out.write_all(&word.to_le_bytes()).map_err(io)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Load an index saved by [`ThumbIndex::write_to`].
    pub fn read_from(input: &mut impl Read) -> Result<ThumbIndex, Error> {
        let mut reader = IndexReader { input, offset: 0 };
        let magic = reader.bytes::<8>("index magic")?;
        if &magic != FILE_MAGIC {
            return Err(Error::InvalidField {
                field: "index magic",
                offset: 0,
                value: u64::from_le_bytes(magic),
                expected: "DSPPFIX1",
            });
        }
        let count = u64::from_le_bytes(reader.bytes::<8>("index count")?);
        let mut index = ThumbIndex::new();
        for _ in 0..count {
            let person = u64::from_le_bytes(reader.bytes::<8>("person id")?);
            let mut thumbs = [None, None];
            for thumb in &mut thumbs {
                let presence_offset = reader.offset;
                match reader.bytes::<1>("code presence")?[0] {
                    0 => {}
                    1 => {
                        let mut words = [0u64; CODE_WORDS];
                        for word in &mut words {
                            *word = u64::from_le_bytes(reader.bytes::<8>("code word")?);
                        }
                        *thumb = Some(BinaryCode(words));
                    }
                    other => {
                        return Err(Error::InvalidField {
                            field: "code presence",
                            offset: presence_offset,
                            value: u64::from(other),
                            expected: "0 or 1",
                        });
                    }
                }
            }
            let [right, left] = thumbs;
            if index.slot_of.contains_key(&person) {
                return Err(Error::InvalidField {
                    field: "person id",
                    offset: reader.offset,
                    value: person,
                    expected: "each person once",
                });
            }
            index.insert(person, ThumbCodes { right, left });
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
}

fn top_k(
    codes: &[ThumbCodes],
    first_slot: usize,
    probe: &ThumbCodes,
    k: usize,
) -> BinaryHeap<Reverse<(u32, usize)>> {
    let mut heap = BinaryHeap::with_capacity(k + 1);
    for (offset, enrolled) in codes.iter().enumerate() {
        let mut score = 0;
        if let (Some(p), Some(e)) = (&probe.right, &enrolled.right) {
            score += p.shared(e);
        }
        if let (Some(p), Some(e)) = (&probe.left, &enrolled.left) {
            score += p.shared(e);
        }
        if heap.len() < k {
            heap.push(Reverse((score, first_slot + offset)));
        } else if heap
            .peek()
            .is_some_and(|Reverse((worst, _))| score > *worst)
        {
            heap.pop();
            heap.push(Reverse((score, first_slot + offset)));
        }
    }
    heap
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

    fn code(seed: u64) -> BinaryCode {
        let mut words = [0u64; CODE_WORDS];
        let mut state = seed;
        for word in &mut words {
            state = splitmix(state);
            // About one bit in eight set, like real codes.
            *word = state & splitmix(state ^ 1) & splitmix(state ^ 2);
        }
        BinaryCode(words)
    }

    #[test]
    fn search_finds_the_mate_and_survives_save_load_and_removal() {
        let mut index = ThumbIndex::new();
        for person in 0..1000u64 {
            index.insert(
                person,
                ThumbCodes {
                    right: Some(code(2 * person)),
                    left: Some(code(2 * person + 1)),
                },
            );
        }
        let probe = ThumbCodes {
            right: Some(code(2 * 417)),
            left: None,
        };
        assert_eq!(
            index.codes(417).and_then(|c| c.right.clone()),
            Some(code(2 * 417))
        );
        assert_eq!(index.codes(5000), None);
        let found = index.search(&probe, 5, 2);
        assert_eq!(found.len(), 5);
        assert_eq!(found[0].person, 417);
        let mut bytes = Vec::new();
        index.write_to(&mut bytes).unwrap();
        let loaded = ThumbIndex::read_from(&mut bytes.as_slice()).unwrap();
        assert_eq!(loaded.search(&probe, 5, 1), found);
        assert!(index.remove(417));
        assert!(!index.remove(417));
        assert_eq!(index.len(), 999);
        assert_ne!(index.search(&probe, 1, 2)[0].person, 417);
        // A truncated file is refused with the field it stopped at.
        let error = ThumbIndex::read_from(&mut &bytes[..100])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "record truncated: code word needs 8 bytes at offset 97, only 3 left"
        );
    }
}
