//! The in-memory index for the real-time check at enrolment: records are added one at a time and a new record is
//! matched against everything indexed so far, with a score, an outcome and the reason of each field's weight.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::blocking::{self, RULES};
use crate::compare::{FIELDS, LEVELS, NULL, NameForm, Prepared, TermFrequencies, compare};
use crate::link::{LinkOptions, Outcome};
use crate::model::{Model, probability};
use crate::record::{BirthDate, Record, Sex, VillageCode};

/// Why a field moved the score: its comparison level and the match weight (log2 Bayes factor) it contributed.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldReason {
    pub field: &'static str,
    pub level: &'static str,
    pub weight: f64,
}

/// A possibly matching record already in the index. A possible duplicate is a result, not an error.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchCandidate {
    pub record_id: String,
    pub match_probability: f64,
    /// Total match weight including the prior.
    pub match_weight: f64,
    pub outcome: Outcome,
    /// Whether the names agreed with family and given name swapped.
    pub names_swapped: bool,
    pub reasons: Vec<FieldReason>,
}

impl fmt::Display for MatchCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} p={:.4} ({}):",
            self.record_id, self.match_probability, self.outcome
        )?;
        for reason in &self.reasons {
            write!(
                f,
                " {}={} {:+.1}",
                reason.field, reason.level, reason.weight
            )?;
        }
        if self.names_swapped {
            write!(f, " (names swapped)")?;
        }
        Ok(())
    }
}

/// Records indexed by their blocking keys, with a trained model to score candidates.
///
/// Compact, so that a national register (18 million people) fits in memory: record ids and ID numbers live in
/// byte arenas, name tokens are interned (a record keeps `u32` token ids), and blocks are sorted `(key, record)`
/// runs merged as they grow (a log-structured layout: a small hash table takes new entries and is flushed into
/// sorted runs, equal-sized runs are merged, and a block that grows past the largest cap is collapsed to one
/// marker, since it is never searched). A replaced or removed record's old slot stays as a tombstone.
#[derive(Debug)]
pub struct Index {
    model: Model,
    options: LinkOptions,
    record_ids: Strings,
    national_ids: Strings,
    /// Position of each live record id, by the hash of the id (the arena settles collisions; colliding ids go to
    /// `colliding_ids`).
    positions: HashMap<u64, u32>,
    colliding_ids: HashMap<Box<str>, u32>,
    live_count: usize,
    slots: Vec<Slot>,
    /// Token ids of every record's names: the Latin tokens, then the romanized Khmer tokens.
    name_tokens: Vec<u32>,
    tokens: Interner,
    /// Phonetic key id of each token id.
    token_keys: Vec<u32>,
    keys: Interner,
    khmer_keys: Interner,
    blocks: Blocks,
    frequencies: TermFrequencies,
}

/// What the index keeps of one record besides its strings.
#[derive(Debug, Clone, Copy)]
struct Slot {
    name_start: u32,
    n_latin: u8,
    n_khmer: u8,
    live: bool,
    sex: Option<Sex>,
    /// Interned Khmer match key; 0 is the empty key.
    khmer_key: u32,
    birth_date: Option<BirthDate>,
    village: Option<VillageCode>,
}

/// Strings one after another in one buffer.
#[derive(Debug, Default)]
struct Strings {
    bytes: String,
    ends: Vec<u64>,
}

impl Strings {
    fn push(&mut self, text: &str) {
        self.bytes.push_str(text);
        self.ends.push(self.bytes.len() as u64);
    }

    fn get(&self, index: usize) -> &str {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        self.bytes
            .get(start..self.ends[index] as usize)
            .unwrap_or_default()
    }
}

/// Distinct strings numbered in order of arrival.
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    values: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.into());
        self.ids.insert(value.into(), id);
        id
    }

    fn get(&self, id: u32) -> &str {
        self.values.get(id as usize).map_or("", |value| value)
    }
}

/// Marks a block collapsed because it grew past every cap.
const OVERSIZED: u32 = u32::MAX;
/// Entries the hash table takes before it is flushed into a sorted run.
const MEMTABLE_ENTRIES: usize = 1 << 16;

/// One sorted run of `(key, record)` entries.
#[derive(Debug, Default)]
struct Run {
    keys: Vec<u64>,
    positions: Vec<u32>,
}

impl Run {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn range(&self, key: u64) -> std::ops::Range<usize> {
        let start = self.keys.partition_point(|&k| k < key);
        let end = start + self.keys[start..].partition_point(|&k| k == key);
        start..end
    }

    /// Merges two runs, collapsing every block longer than `oversize` to one [`OVERSIZED`] entry.
    fn merge(a: &Run, b: &Run, oversize: usize) -> Run {
        let mut merged = Run {
            keys: Vec::with_capacity(a.len() + b.len()),
            positions: Vec::with_capacity(a.len() + b.len()),
        };
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let key = match (a.keys.get(i), b.keys.get(j)) {
                (Some(&x), Some(&y)) => x.min(y),
                (Some(&x), None) => x,
                (None, Some(&y)) => y,
                (None, None) => break,
            };
            let start = merged.len();
            let mut oversized = false;
            for (run, cursor) in [(a, &mut i), (b, &mut j)] {
                while run.keys.get(*cursor) == Some(&key) {
                    oversized |= run.positions[*cursor] == OVERSIZED;
                    merged.keys.push(key);
                    merged.positions.push(run.positions[*cursor]);
                    *cursor += 1;
                }
            }
            if oversized || merged.len() - start > oversize {
                merged.keys.truncate(start + 1);
                merged.positions.truncate(start + 1);
                merged.positions[start] = OVERSIZED;
            } else {
                // Both runs are sorted by key then position, and positions only grow: keep them sorted.
                merged.positions[start..].sort_unstable();
            }
        }
        merged.keys.shrink_to_fit();
        merged.positions.shrink_to_fit();
        merged
    }
}

/// Block keys to record positions: a small hash table for new entries and sorted runs.
#[derive(Debug, Default)]
struct Blocks {
    memtable: HashMap<u64, Vec<u32>>,
    memtable_entries: usize,
    runs: Vec<Run>,
    /// A block longer than this is never searched (the largest cap of any rule).
    oversize: usize,
}

impl Blocks {
    fn insert(&mut self, key: u64, position: u32) {
        self.memtable.entry(key).or_default().push(position);
        self.memtable_entries += 1;
        if self.memtable_entries >= MEMTABLE_ENTRIES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let mut entries: Vec<(u64, u32)> = self
            .memtable
            .drain()
            .flat_map(|(key, positions)| positions.into_iter().map(move |p| (key, p)))
            .collect();
        self.memtable_entries = 0;
        entries.sort_unstable();
        let run = Run {
            keys: entries.iter().map(|(key, _)| *key).collect(),
            positions: entries.iter().map(|(_, position)| *position).collect(),
        };
        self.runs.push(run);
        // Merge while the newest run is at least half the size of the one before it: log-many runs.
        while self.runs.len() >= 2
            && self.runs[self.runs.len() - 2].len() <= 2 * self.runs[self.runs.len() - 1].len()
        {
            let (Some(newer), Some(older)) = (self.runs.pop(), self.runs.pop()) else {
                break;
            };
            self.runs.push(Run::merge(&older, &newer, self.oversize));
        }
    }

    /// Appends the members of block `key` to `output` unless the block holds more than `cap` entries; returns
    /// whether it did.
    fn members(&self, key: u64, cap: usize, output: &mut Vec<u32>) -> bool {
        let mut total = self.memtable.get(&key).map_or(0, Vec::len);
        let ranges: Vec<(usize, std::ops::Range<usize>)> = self
            .runs
            .iter()
            .enumerate()
            .map(|(run, r)| (run, r.range(key)))
            .filter(|(_, range)| !range.is_empty())
            .collect();
        for (run, range) in &ranges {
            if self.runs[*run].positions[range.start] == OVERSIZED {
                return false;
            }
            total += range.len();
        }
        if total > cap {
            return false;
        }
        output.extend(self.memtable.get(&key).into_iter().flatten());
        for (run, range) in ranges {
            output.extend_from_slice(&self.runs[run].positions[range]);
        }
        true
    }

    fn entries(&self) -> usize {
        self.memtable_entries + self.runs.iter().map(Run::len).sum::<usize>()
    }
}

fn hash_id(record_id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    record_id.hash(&mut hasher);
    hasher.finish()
}

impl Index {
    /// An empty index scoring with `model` (trained by [`crate::link_records`] on a sample of the register). The
    /// prior is rescaled to the index's own size at each query (see [`Model::prior_for`]).
    pub fn new(model: Model, options: LinkOptions) -> Index {
        let oversize = (0..RULES.len())
            .map(|rule| blocking::cap(rule, options.max_block_size))
            .max()
            .unwrap_or(options.max_block_size);
        let mut khmer_keys = Interner::default();
        khmer_keys.id("");
        Index {
            model,
            options,
            record_ids: Strings::default(),
            national_ids: Strings::default(),
            positions: HashMap::new(),
            colliding_ids: HashMap::new(),
            live_count: 0,
            slots: Vec::new(),
            name_tokens: Vec::new(),
            tokens: Interner::default(),
            token_keys: Vec::new(),
            keys: Interner::default(),
            khmer_keys,
            blocks: Blocks {
                oversize,
                ..Blocks::default()
            },
            frequencies: TermFrequencies::default(),
        }
    }

    /// Scores with `model` from now on (for example one [`Model::recalibrated`] on the indexed population).
    pub fn set_model(&mut self, model: Model) {
        self.model = model;
    }

    /// Live records (a replaced record counts once, a removed one not at all).
    pub fn len(&self) -> usize {
        self.live_count
    }

    pub fn is_empty(&self) -> bool {
        self.live_count == 0
    }

    /// Block entries held (for measuring memory).
    pub fn block_entries(&self) -> usize {
        self.blocks.entries()
    }

    fn position(&self, record_id: &str) -> Option<u32> {
        match self.positions.get(&hash_id(record_id)) {
            Some(&position) if self.record_ids.get(position as usize) == record_id => {
                Some(position)
            }
            _ => self.colliding_ids.get(record_id).copied(),
        }
    }

    /// Whether a record with this id is indexed.
    pub fn contains(&self, record_id: &str) -> bool {
        self.position(record_id).is_some()
    }

    /// Takes a record out of the index (a merged or withdrawn person). Returns whether it was there.
    pub fn remove(&mut self, record_id: &str) -> bool {
        let hash = hash_id(record_id);
        let position = match self.positions.get(&hash) {
            Some(&position) if self.record_ids.get(position as usize) == record_id => {
                self.positions.remove(&hash);
                position
            }
            _ => match self.colliding_ids.remove(record_id) {
                Some(position) => position,
                None => return false,
            },
        };
        self.slots[position as usize].live = false;
        self.live_count -= 1;
        true
    }

    /// Adds a record; a record with the same id replaces the one indexed before (a corrected person). Term
    /// frequencies are updated as records arrive (a replaced record's old values keep counting).
    pub fn insert(&mut self, record: &Record) {
        self.remove(&record.record_id);
        let prepared = Prepared::new(record);
        let position = self.slots.len() as u32;
        let mut all_keys = Vec::new();
        let mut keys = Vec::new();
        for rule in 0..RULES.len() {
            blocking::keys(rule, &prepared, &mut keys);
            all_keys.extend_from_slice(&keys);
        }
        // The Latin name and the romanized Khmer name often give the same keys: index the record once per key.
        all_keys.sort_unstable();
        all_keys.dedup();
        for key in all_keys {
            self.blocks.insert(key, position);
        }
        self.frequencies.add(&prepared);
        let name_start = self.name_tokens.len() as u32;
        let mut counts = [0u8; 2];
        for (form, count) in [&prepared.latin, &prepared.khmer_romanized]
            .into_iter()
            .zip(&mut counts)
        {
            for (token, key) in form
                .iter()
                .flat_map(|form| form.tokens.iter().zip(&form.keys))
            {
                let id = self.tokens.id(token);
                if id as usize == self.token_keys.len() {
                    self.token_keys.push(self.keys.id(key));
                }
                self.name_tokens.push(id);
                *count = count.saturating_add(1);
            }
        }
        self.slots.push(Slot {
            name_start,
            n_latin: counts[0],
            n_khmer: counts[1],
            live: true,
            sex: prepared.sex,
            khmer_key: self.khmer_keys.id(&prepared.khmer_key),
            birth_date: prepared.birth_date,
            village: prepared.village,
        });
        self.national_ids
            .push(prepared.national_id.as_deref().unwrap_or_default());
        self.record_ids.push(&record.record_id);
        match self.positions.entry(hash_id(&record.record_id)) {
            Entry::Vacant(entry) => {
                entry.insert(position);
            }
            Entry::Occupied(_) => {
                self.colliding_ids
                    .insert(record.record_id.as_str().into(), position);
            }
        }
        self.live_count += 1;
    }

    /// Fills `prepared` with the record at `position`, reusing its buffers.
    fn load(&self, position: usize, prepared: &mut Prepared) {
        let slot = &self.slots[position];
        let start = slot.name_start as usize;
        let latin_end = start + usize::from(slot.n_latin);
        let khmer_end = latin_end + usize::from(slot.n_khmer);
        for (form, ids, romanized) in [
            (
                &mut prepared.latin,
                &self.name_tokens[start..latin_end],
                false,
            ),
            (
                &mut prepared.khmer_romanized,
                &self.name_tokens[latin_end..khmer_end],
                true,
            ),
        ] {
            if ids.is_empty() {
                *form = None;
                continue;
            }
            let form = form.get_or_insert_with(NameForm::default);
            form.romanized = romanized;
            form.tokens.resize(ids.len(), String::new());
            form.keys.resize(ids.len(), String::new());
            for ((token, key), &id) in form.tokens.iter_mut().zip(form.keys.iter_mut()).zip(ids) {
                token.clear();
                token.push_str(self.tokens.get(id));
                key.clear();
                key.push_str(self.keys.get(self.token_keys[id as usize]));
            }
        }
        prepared.khmer_key.clear();
        prepared
            .khmer_key
            .push_str(self.khmer_keys.get(slot.khmer_key));
        prepared.birth_date = slot.birth_date;
        prepared.village = slot.village;
        prepared.sex = slot.sex;
        let national_id = self.national_ids.get(position);
        match (&mut prepared.national_id, national_id.is_empty()) {
            (_, true) => prepared.national_id = None,
            (Some(id), false) => {
                id.clear();
                id.push_str(national_id);
            }
            (None, false) => prepared.national_id = Some(national_id.to_string()),
        }
    }

    /// Indexed records that may be the same person as `record`, best first: every candidate at or above the
    /// review threshold, with per-field reasons. Blocks larger than the cap are not searched, as in batch linking.
    /// A record never matches itself: an indexed record with `record.record_id` is left out.
    pub fn candidates(&self, record: &Record) -> Vec<MatchCandidate> {
        let query = Prepared::new(record);
        let mut positions: Vec<u32> = Vec::new();
        let mut keys = Vec::new();
        for rule in 0..RULES.len() {
            let cap = blocking::cap(rule, self.options.max_block_size);
            blocking::keys(rule, &query, &mut keys);
            keys.sort_unstable();
            keys.dedup();
            for &key in &keys {
                self.blocks.members(key, cap, &mut positions);
            }
        }
        positions.sort_unstable();
        positions.dedup();
        let prior_shift = self.model.prior_shift(self.len() as u64);
        let mut contributions = Vec::new();
        let mut other = Prepared::default();
        let mut candidates = Vec::new();
        for position in positions {
            let slot = &self.slots[position as usize];
            if !slot.live || self.record_ids.get(position as usize) == record.record_id {
                continue;
            }
            self.load(position as usize, &mut other);
            let (vector, names_swapped) = compare(&query, &other);
            let weight = self.model.weight(
                &vector,
                &query,
                &other,
                &self.frequencies,
                Some(&mut contributions),
            ) + prior_shift;
            let match_probability = probability(weight);
            let outcome = self.options.outcome(match_probability);
            if outcome == Outcome::DifferentPeople {
                continue;
            }
            let reasons = vector
                .iter()
                .enumerate()
                .filter(|(_, level)| **level != NULL)
                .map(|(field, &level)| FieldReason {
                    field: FIELDS[field],
                    level: LEVELS[field][usize::from(level)],
                    weight: contributions[field],
                })
                .collect();
            candidates.push(MatchCandidate {
                record_id: self.record_ids.get(position as usize).to_string(),
                match_probability,
                match_weight: weight,
                outcome,
                names_swapped,
                reasons,
            });
        }
        candidates.sort_by(|a, b| b.match_weight.total_cmp(&a.match_weight));
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn blocks_answer_like_a_plain_multimap_across_flushes_and_merges() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut blocks = Blocks {
            oversize: 40,
            ..Blocks::default()
        };
        let mut plain: HashMap<u64, Vec<u32>> = HashMap::new();
        // Enough entries for several flushes and merges, and some left in the hash table.
        let n_entries = 5 * MEMTABLE_ENTRIES + MEMTABLE_ENTRIES / 2;
        for position in 0..n_entries as u32 {
            let key = if rng.random_bool(0.5) {
                rng.random_range(0..4_000u64)
            } else {
                rng.random_range(0..1_000_000u64)
            };
            blocks.insert(key, position);
            plain.entry(key).or_default().push(position);
        }
        assert!(
            !blocks.runs.is_empty() && blocks.memtable_entries > 0,
            "{} runs, {} entries in the hash table",
            blocks.runs.len(),
            blocks.memtable_entries
        );
        let mut checked = [0usize; 2];
        for (key, expected) in &plain {
            for cap in [5, 40] {
                let mut found = Vec::new();
                let searched = blocks.members(*key, cap, &mut found);
                found.sort_unstable();
                if expected.len() <= cap {
                    assert!(searched, "key {key}: {} members, cap {cap}", expected.len());
                    assert_eq!(&found, expected, "key {key}");
                    checked[0] += 1;
                } else {
                    assert!(
                        !searched && found.is_empty(),
                        "key {key}: {} members, cap {cap}",
                        expected.len()
                    );
                    checked[1] += 1;
                }
            }
        }
        assert!(checked[0] > 1000 && checked[1] > 1000, "{checked:?}");
        // Blocks past the largest cap are collapsed, so the runs hold fewer entries than were inserted.
        assert!(
            blocks.entries() < 5 * MEMTABLE_ENTRIES,
            "{}",
            blocks.entries()
        );
    }

    #[test]
    fn the_index_can_be_shared_between_threads() {
        // The registry holds the index in an RwLock shared by request handlers.
        fn shared<T: Send + Sync>() {}
        shared::<Index>();
    }

    #[test]
    fn strings_and_interned_names_read_back() {
        let mut strings = Strings::default();
        for text in ["R1", "", "ជា សុភា", "R000000004"] {
            strings.push(text);
        }
        assert_eq!(
            (0..4).map(|i| strings.get(i)).collect::<Vec<_>>(),
            ["R1", "", "ជា សុភា", "R000000004"]
        );
        let mut interner = Interner::default();
        assert_eq!(
            [interner.id("SOK"), interner.id("CHEA"), interner.id("SOK")],
            [0, 1, 0]
        );
        assert_eq!(interner.get(1), "CHEA");
    }
}
