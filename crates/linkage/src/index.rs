//! The in-memory index for the real-time check at enrolment: records are added one at a time and a new record is
//! matched against everything indexed so far, with a score, an outcome and the reason of each field's weight.

use std::collections::HashMap;
use std::fmt;

use crate::blocking::{self, RULES};
use crate::compare::{FIELDS, LEVELS, NULL, Prepared, TermFrequencies, compare};
use crate::link::{LinkOptions, Outcome};
use crate::model::{Model, probability};
use crate::record::Record;

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
#[derive(Debug)]
pub struct Index {
    model: Model,
    options: LinkOptions,
    record_ids: Vec<String>,
    /// Position of each live record id; a replaced or removed record's old position is left as a tombstone.
    positions: HashMap<String, u32>,
    live: Vec<bool>,
    prepared: Vec<Prepared>,
    blocks: HashMap<u64, Vec<u32>>,
    frequencies: TermFrequencies,
}

impl Index {
    /// An empty index scoring with `model` (trained by [`crate::link_records`] on a sample of the register).
    pub fn new(model: Model, options: LinkOptions) -> Index {
        Index {
            model,
            options,
            record_ids: Vec::new(),
            positions: HashMap::new(),
            live: Vec::new(),
            prepared: Vec::new(),
            blocks: HashMap::new(),
            frequencies: TermFrequencies::default(),
        }
    }

    /// Scores with `model` from now on (for example one [`Model::recalibrated`] on the indexed population).
    pub fn set_model(&mut self, model: Model) {
        self.model = model;
    }

    /// Live records (a replaced record counts once, a removed one not at all).
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Whether a record with this id is indexed.
    pub fn contains(&self, record_id: &str) -> bool {
        self.positions.contains_key(record_id)
    }

    /// Takes a record out of the index (a merged or withdrawn person). Returns whether it was there.
    pub fn remove(&mut self, record_id: &str) -> bool {
        match self.positions.remove(record_id) {
            Some(position) => {
                self.live[position as usize] = false;
                true
            }
            None => false,
        }
    }

    /// Adds a record; a record with the same id replaces the one indexed before (a corrected person). Term
    /// frequencies are updated as records arrive (a replaced record's old values keep counting).
    pub fn insert(&mut self, record: &Record) {
        self.remove(&record.record_id);
        let prepared = Prepared::new(record);
        let position = self.prepared.len() as u32;
        let mut keys = Vec::new();
        for rule in 0..RULES.len() {
            blocking::keys(rule, &prepared, &mut keys);
            for key in &keys {
                self.blocks.entry(*key).or_default().push(position);
            }
        }
        self.frequencies.add(&prepared);
        self.prepared.push(prepared);
        self.live.push(true);
        self.positions.insert(record.record_id.clone(), position);
        self.record_ids.push(record.record_id.clone());
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
            for key in &keys {
                if let Some(members) = self.blocks.get(key).filter(|members| members.len() <= cap) {
                    positions.extend_from_slice(members);
                }
            }
        }
        positions.sort_unstable();
        positions.dedup();
        let mut contributions = Vec::new();
        let mut candidates: Vec<MatchCandidate> = positions
            .into_iter()
            .filter(|&position| {
                self.live[position as usize]
                    && self.record_ids[position as usize] != record.record_id
            })
            .filter_map(|position| {
                let other = &self.prepared[position as usize];
                let (vector, names_swapped) = compare(&query, other);
                let weight = self.model.weight(
                    &vector,
                    &query,
                    other,
                    &self.frequencies,
                    Some(&mut contributions),
                );
                let match_probability = probability(weight);
                let outcome = self.options.outcome(match_probability);
                if outcome == Outcome::DifferentPeople {
                    return None;
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
                Some(MatchCandidate {
                    record_id: self.record_ids[position as usize].clone(),
                    match_probability,
                    match_weight: weight,
                    outcome,
                    names_swapped,
                    reasons,
                })
            })
            .collect();
        candidates.sort_by(|a, b| b.match_weight.total_cmp(&a.match_weight));
        candidates
    }
}
