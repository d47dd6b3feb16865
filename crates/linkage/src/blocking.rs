//! Blocking: which record pairs get compared at all. Each rule maps a record to zero or more keys; records that
//! share a key under some rule become a candidate pair. Blocks larger than a cap are skipped (and counted), so one
//! very common key cannot make the run quadratic.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use rayon::prelude::*;

use crate::compare::Prepared;

/// The blocking rules, by name, in the order they are applied.
pub const RULES: [&str; 10] = [
    "national_id",
    "village + birth year",
    "two name keys (any pair of tokens, either order)",
    "khmer name",
    "village + one name key",
    "birth year + one name key",
    "district + family and given initials + birth year",
    "one name key + initial of another",
    "full birth date + initial of a name key",
    "commune + two name keys",
];

/// Name tokens used for keys: at most the first four and the last (long historical names carry titles).
fn key_tokens(keys: &[String]) -> impl Iterator<Item = &String> {
    let last = keys.len().saturating_sub(1);
    keys.iter()
        .enumerate()
        .filter(move |(i, _)| *i < 4 || *i == last)
        .map(|(_, key)| key)
}

fn hash_of(rule: usize, parts: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    rule.hash(&mut hasher);
    parts.hash(&mut hasher);
    hasher.finish()
}

/// The blocking keys of one record under one rule.
pub(crate) fn keys(rule: usize, record: &Prepared, output: &mut Vec<u64>) {
    output.clear();
    let year = record.birth_date.map(|date| date.year);
    match rule {
        0 => output.extend(record.national_id.iter().map(|id| hash_of(rule, id))),
        1 => {
            if let (Some(village), Some(year)) = (record.village, year) {
                output.push(hash_of(rule, (village.village(), year)));
            }
        }
        2 => {
            for form in record.name_forms() {
                let keys: Vec<&String> = key_tokens(&form.keys).collect();
                for (position, first) in keys.iter().enumerate() {
                    for last in &keys[position + 1..] {
                        // Order-independent, so swapped family and given names still meet.
                        output.push(hash_of(
                            rule,
                            if first <= last {
                                (first, last)
                            } else {
                                (last, first)
                            },
                        ));
                    }
                }
            }
        }
        3 if !record.khmer_key.is_empty() => output.push(hash_of(rule, &record.khmer_key)),
        4 => {
            if let Some(village) = record.village {
                for form in record.name_forms() {
                    for key in key_tokens(&form.keys) {
                        output.push(hash_of(rule, (village.village(), key)));
                    }
                }
            }
        }
        5 => {
            if let Some(year) = year {
                for form in record.name_forms() {
                    for key in key_tokens(&form.keys) {
                        output.push(hash_of(rule, (year, key)));
                    }
                }
            }
        }
        6 => {
            if let (Some(village), Some(year)) = (record.village, year) {
                for form in record.name_forms() {
                    let initial = |key: &String| key.chars().next().unwrap_or(' ');
                    let (first, last) = (
                        initial(&form.keys[0]),
                        initial(&form.keys[form.keys.len() - 1]),
                    );
                    let pair = if first <= last {
                        (first, last)
                    } else {
                        (last, first)
                    };
                    output.push(hash_of(rule, (village.district(), pair, year)));
                }
            }
        }
        7 => {
            for form in record.name_forms() {
                let keys: Vec<&String> = key_tokens(&form.keys).collect();
                for (i, key) in keys.iter().enumerate() {
                    for (j, other) in keys.iter().enumerate() {
                        if i != j {
                            output.push(hash_of(rule, (key, other.chars().next())));
                        }
                    }
                }
            }
        }
        8 => {
            if let Some(date) = record.birth_date.filter(|date| date.month_day.is_some()) {
                for form in record.name_forms() {
                    for key in [&form.keys[0], &form.keys[form.keys.len() - 1]] {
                        output.push(hash_of(rule, (date, key.chars().next())));
                    }
                }
            }
        }
        9 => {
            if let Some(village) = record.village {
                for form in record.name_forms() {
                    let keys: Vec<&String> = key_tokens(&form.keys).collect();
                    for (position, first) in keys.iter().enumerate() {
                        for last in &keys[position + 1..] {
                            let pair = if first <= last {
                                (first, last)
                            } else {
                                (last, first)
                            };
                            output.push(hash_of(rule, (village.commune(), pair)));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    output.sort_unstable();
    output.dedup();
}

/// One rule's output: pairs (packed `i << 32 | j`, rule bit), pairs counted, blocks skipped.
type RuleBlocks = (Vec<(u64, u16)>, u64, u64);

/// The largest block a rule compares. Rules on names alone are weak evidence of anything: a tighter cap.
pub(crate) fn cap(rule: usize, max_block_size: usize) -> usize {
    match rule {
        2 | 3 | 7 => max_block_size / 10,
        5 | 8 => max_block_size / 20,
        _ => max_block_size,
    }
}

/// Candidate pairs `(i, j)` with `i < j`, sorted and without duplicates, and per-rule statistics.
#[derive(Debug, Clone, Default)]
pub(crate) struct Candidates {
    pub(crate) pairs: Vec<(u32, u32)>,
    /// For each pair, the rules (bit i = rule i) under which its records share a key.
    pub(crate) rules: Vec<u16>,
    /// Pairs each rule produced (before removing pairs found by several rules).
    pub(crate) pairs_per_rule: Vec<u64>,
    /// Blocks skipped by each rule for being larger than the cap.
    pub(crate) skipped_blocks_per_rule: Vec<u64>,
}

pub(crate) fn candidates(records: &[Prepared], max_block_size: usize) -> Candidates {
    let mut result = Candidates {
        pairs_per_rule: vec![0; RULES.len()],
        skipped_blocks_per_rule: vec![0; RULES.len()],
        ..Candidates::default()
    };
    // Rules are independent: build their blocks in parallel, then merge the pairs.
    let per_rule: Vec<RuleBlocks> = (0..RULES.len())
        .into_par_iter()
        .map(|rule| {
            let mut scratch = Vec::new();
            let mut blocks: HashMap<u64, Vec<u32>> = HashMap::new();
            for (index, record) in records.iter().enumerate() {
                keys(rule, record, &mut scratch);
                for key in &scratch {
                    blocks.entry(*key).or_default().push(index as u32);
                }
            }
            let (mut pairs, mut n_pairs, mut skipped) = (Vec::new(), 0u64, 0u64);
            for members in blocks.values() {
                if members.len() > cap(rule, max_block_size) {
                    skipped += 1;
                    continue;
                }
                for (position, &a) in members.iter().enumerate() {
                    for &b in &members[position + 1..] {
                        pairs.push((
                            (u64::from(a.min(b)) << 32) | u64::from(a.max(b)),
                            1u16 << rule,
                        ));
                    }
                }
                let n = members.len() as u64;
                n_pairs += n * n.saturating_sub(1) / 2;
            }
            (pairs, n_pairs, skipped)
        })
        .collect();
    let mut all: Vec<(u64, u16)> =
        Vec::with_capacity(per_rule.iter().map(|(pairs, _, _)| pairs.len()).sum());
    for (rule, (pairs, n_pairs, skipped)) in per_rule.into_iter().enumerate() {
        result.pairs_per_rule[rule] = n_pairs;
        result.skipped_blocks_per_rule[rule] = skipped;
        all.extend(pairs);
    }
    all.par_sort_unstable_by_key(|(pair, _)| *pair);
    for (pair, rule) in all {
        let (a, b) = ((pair >> 32) as u32, pair as u32);
        if a == b {
            continue;
        }
        if result.pairs.last() == Some(&(a, b)) {
            if let Some(mask) = result.rules.last_mut() {
                *mask |= rule;
            }
        } else {
            result.pairs.push((a, b));
            result.rules.push(rule);
        }
    }
    result
}
