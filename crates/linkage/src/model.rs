//! The Fellegi–Sunter model: m and u probabilities per comparison level, u from random record pairs, m (and the
//! u of candidate pairs) by expectation–maximisation, and match weights with term-frequency adjustment.

use std::collections::HashMap;
use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::Error;
use crate::compare::{
    FAMILY, FIELDS, GIVEN, LEVELS, N_FIELDS, NAME_KM, NULL, Prepared, TermFrequencies, Vector,
    compare,
};
use crate::record::Record;

/// Probabilities per field and level. `m[f][l]`: P(level | same person); `u[f][l]`: P(level | different people,
/// among candidate pairs); `u_random[f][l]`: P(level | two random records), the base of term-frequency adjustment.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) m: Vec<Vec<f64>>,
    pub(crate) u: Vec<Vec<f64>>,
    pub(crate) u_random: Vec<Vec<f64>>,
    /// P(same person) for two records of the training population, estimated by EM.
    pub(crate) lambda: f64,
    /// Records of the population `lambda` was estimated on: a population of another size has another prior.
    pub(crate) training_records: u64,
    pub(crate) em_iterations_run: usize,
}

const FLOOR: f64 = 1e-6;

/// How many random pairs a model's own u counts for when [`Model::recalibrated`] blends it with a sample's.
pub const PRIOR_PAIRS: f64 = 50.0;

const MODEL_FORMAT: &str = "dspp-linkage-model/2";

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    format: String,
    lambda: f64,
    training_records: u64,
    fields: Vec<FieldFile>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    field: String,
    levels: Vec<String>,
    m: Vec<f64>,
    u: Vec<f64>,
    u_random: Vec<f64>,
}

/// Candidate pairs of one EM session and the fields whose m it estimates (the others were used to block).
#[derive(Debug)]
pub(crate) struct TrainingSession<'a> {
    pub(crate) vectors: &'a [Vector],
    pub(crate) estimate: [bool; N_FIELDS],
}

/// Distinct comparison vectors with their counts, in a fixed order so that sums (and so results) are reproducible.
fn count_patterns(vectors: &[Vector]) -> Vec<(Vector, f64)> {
    let mut counts: HashMap<Vector, f64> = HashMap::new();
    for vector in vectors {
        *counts.entry(*vector).or_default() += 1.0;
    }
    let mut patterns: Vec<(Vector, f64)> = counts.into_iter().collect();
    patterns.sort_unstable_by_key(|(vector, _)| *vector);
    patterns
}

fn posterior(
    vector: &Vector,
    lambda: f64,
    m: &[Vec<f64>],
    u: &[Vec<f64>],
    used: &[bool; N_FIELDS],
) -> f64 {
    let (mut pm, mut pu) = (lambda, 1.0 - lambda);
    for (field, &level) in vector.iter().enumerate() {
        if level != NULL && used[field] {
            pm *= m[field][usize::from(level)];
            pu *= u[field][usize::from(level)];
        }
    }
    pm / (pm + pu)
}

/// EM for m (u fixed) on one session's pairs, using only the fields in `used`. Returns m and the iterations run.
fn em(
    vectors: &[Vector],
    used: &[bool; N_FIELDS],
    m_start: &[Vec<f64>],
    u: &[Vec<f64>],
    max_iterations: usize,
) -> (Vec<Vec<f64>>, usize) {
    let patterns = count_patterns(vectors);
    let mut m = m_start.to_vec();
    let mut lambda = 0.1;
    let mut iterations = 0;
    for _ in 0..max_iterations {
        iterations += 1;
        let mut m_next = level_counts();
        let (mut matches, mut total) = (0.0, 0.0);
        for (vector, count) in &patterns {
            let p = posterior(vector, lambda, &m, u, used);
            matches += p * count;
            total += count;
            for (field, &level) in vector.iter().enumerate() {
                if level != NULL {
                    m_next[field][usize::from(level)] += p * count;
                }
            }
        }
        normalize(&mut m_next);
        let lambda_next = (matches / total.max(1.0)).clamp(1e-9, 1.0 - 1e-9);
        let change = (lambda_next - lambda).abs()
            + m.iter()
                .flatten()
                .zip(m_next.iter().flatten())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
        m = m_next;
        lambda = lambda_next;
        if change < 1e-5 {
            break;
        }
    }
    (m, iterations)
}

fn level_counts() -> Vec<Vec<f64>> {
    LEVELS
        .iter()
        .map(|levels| vec![0.0; levels.len()])
        .collect()
}

fn normalize(rows: &mut [Vec<f64>]) {
    for row in rows {
        let total: f64 = row.iter().map(|p| p + FLOOR).sum();
        for p in row.iter_mut() {
            *p = (*p + FLOOR) / total;
        }
    }
}

/// u probabilities from `n_pairs` random pairs of distinct records (deterministic for a seed).
pub(crate) fn estimate_u_random(records: &[Prepared], n_pairs: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut counts = level_counts();
    if records.len() >= 2 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pairs: Vec<(usize, usize)> = (0..n_pairs)
            .filter_map(|_| {
                let a = rng.random_range(0..records.len());
                let b = rng.random_range(0..records.len());
                (a != b).then_some((a, b))
            })
            .collect();
        let vectors: Vec<Vector> = pairs
            .par_iter()
            .map(|&(a, b)| compare(&records[a], &records[b]).0)
            .collect();
        for vector in vectors {
            for (field, &level) in vector.iter().enumerate() {
                if level != NULL {
                    counts[field][usize::from(level)] += 1.0;
                }
            }
        }
    }
    normalize(&mut counts);
    counts
}

impl Model {
    /// Trains the model the way Splink does, which keeps EM from mistaking "same name" (or "same household")
    /// for "same person": u comes from random pairs; m of each field is estimated by EM on pairs blocked on
    /// *other* fields (names are learnt on pairs that share an ID or a village and birth year, dates and places on
    /// pairs that share a name), leaving the blocked fields out of the likelihood; then the prior (the share of
    /// matching pairs among all pairs) is fitted by EM with m and u fixed.
    pub(crate) fn train(
        sessions: &[TrainingSession<'_>],
        all: &[Vector],
        u_random: Vec<Vec<f64>>,
        max_iterations: usize,
        training_records: u64,
    ) -> Model {
        let n = training_records as f64;
        let total_pairs = n * (n - 1.0) / 2.0;
        let mut m: Vec<Vec<f64>> = LEVELS
            .iter()
            .map(|levels| {
                (0..levels.len())
                    .map(|level| 4f64.powi(level as i32))
                    .collect()
            })
            .collect();
        normalize(&mut m);
        let mut sums = level_counts();
        let mut estimated = [0usize; N_FIELDS];
        let mut iterations = 0;
        for session in sessions {
            let (session_m, session_iterations) = em(
                session.vectors,
                &session.estimate,
                &m,
                &u_random,
                max_iterations,
            );
            iterations += session_iterations;
            for field in 0..N_FIELDS {
                if session.estimate[field] {
                    estimated[field] += 1;
                    for (sum, value) in sums[field].iter_mut().zip(&session_m[field]) {
                        *sum += value;
                    }
                }
            }
        }
        for field in 0..N_FIELDS {
            if estimated[field] > 0 {
                m[field] = sums[field]
                    .iter()
                    .map(|sum| sum / estimated[field] as f64)
                    .collect();
            }
        }
        // The prior: EM on lambda alone, over all candidate pairs, relative to all possible pairs.
        let patterns = count_patterns(all);
        let denominator = total_pairs.max(all.len() as f64).max(1.0);
        let mut lambda = (all.len() as f64 * 0.01 / denominator).max(1e-12);
        for _ in 0..max_iterations {
            let mut matches = 0.0;
            for (vector, count) in &patterns {
                matches += posterior(vector, lambda, &m, &u_random, &[true; N_FIELDS]) * count;
            }
            let next = (matches / denominator).clamp(1e-12, 0.5);
            let change = ((next - lambda) / lambda).abs();
            lambda = next;
            iterations += 1;
            if change < 1e-6 {
                break;
            }
        }
        Model {
            u: u_random.clone(),
            m,
            u_random,
            lambda,
            training_records,
            em_iterations_run: iterations,
        }
    }

    /// The model dspp ships, trained by `cargo run --release -p linkage --example train_model` on a synthetic
    /// Cambodian population; what the registry scores with until it retrains on its own people.
    pub fn shipped() -> Result<Model, Error> {
        Model::from_json(include_str!("../models/cambodia.json"))
    }

    /// This model re-based on the population it will score: u comes from random pairs of `sample` (records drawn from
    /// that population), blended with this model's u as if it had been seen on [`PRIOR_PAIRS`] pairs so that a small
    /// sample moves it little; the prior becomes `expected_matches / (population − 1)` (a record is expected to be
    /// the same person as `expected_matches` of the others), for a population of `population` records (an index
    /// rescales it as it grows, [`Model::prior_for`]). m is kept.
    ///
    /// Why: a model trained on one population overstates agreements that are common in another — in one commune's
    /// registry everyone agrees on the commune — and its prior is per pair of the training set, not of a registry of
    /// 18 million.
    pub fn recalibrated(
        &self,
        sample: &[Record],
        pairs: usize,
        seed: u64,
        population: usize,
        expected_matches: f64,
    ) -> Model {
        let mut counts = level_counts();
        if sample.len() >= 2 {
            let prepared: Vec<Prepared> = sample.iter().map(Prepared::new).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..pairs {
                let a = rng.random_range(0..prepared.len());
                let b = rng.random_range(0..prepared.len());
                if a == b {
                    continue;
                }
                let (vector, _) = compare(&prepared[a], &prepared[b]);
                for (field, &level) in vector.iter().enumerate() {
                    if level != NULL {
                        counts[field][usize::from(level)] += 1.0;
                    }
                }
            }
        }
        let u: Vec<Vec<f64>> = counts
            .iter()
            .zip(&self.u_random)
            .map(|(seen, before)| {
                let total: f64 = seen.iter().sum();
                seen.iter()
                    .zip(before)
                    .map(|(count, u)| {
                        ((count + PRIOR_PAIRS * u) / (total + PRIOR_PAIRS)).max(FLOOR)
                    })
                    .collect()
            })
            .collect();
        let lambda = (expected_matches / (population.max(2) - 1) as f64).clamp(1e-15, 0.5);
        Model {
            m: self.m.clone(),
            u: u.clone(),
            u_random: u,
            lambda,
            training_records: population as u64,
            em_iterations_run: self.em_iterations_run,
        }
    }

    /// The prior: the probability that two records of the population it was trained on are the same person.
    pub fn prior(&self) -> f64 {
        self.lambda
    }

    /// Records of the population the prior was estimated on.
    pub fn training_records(&self) -> u64 {
        self.training_records
    }

    /// The prior for two records of a population of `records` records with the same share of duplicates as the
    /// training population: a record has about `prior × (training_records − 1)` other records of the same person
    /// wherever it is, so the chance that one given other record is one of them falls as the population grows.
    /// Never above the training prior: a register smaller than the training population (a new or a test
    /// register) is not assumed to be more duplicated than the population the model learnt from.
    pub fn prior_for(&self, records: u64) -> f64 {
        let mates = self.lambda * (self.training_records.max(2) - 1) as f64;
        (mates / (records.max(2) - 1) as f64).clamp(1e-15, self.lambda)
    }

    /// What to add to a match weight computed with the training prior to get the weight in a population of
    /// `records` records (log2 of the ratio of prior odds).
    pub(crate) fn prior_shift(&self, records: u64) -> f64 {
        let odds = |p: f64| (p / (1.0 - p)).log2();
        odds(self.prior_for(records)) - odds(self.lambda)
    }

    /// The model as JSON, each field and level named, so that a stored model can be read and checked by people.
    pub fn to_json(&self) -> String {
        let file = ModelFile {
            format: MODEL_FORMAT.to_string(),
            lambda: self.lambda,
            training_records: self.training_records,
            fields: (0..N_FIELDS)
                .map(|field| FieldFile {
                    field: FIELDS[field].to_string(),
                    levels: LEVELS[field].iter().map(|l| (*l).to_string()).collect(),
                    m: self.m[field].clone(),
                    u: self.u[field].clone(),
                    u_random: self.u_random[field].clone(),
                })
                .collect(),
        };
        // A struct of strings and finite numbers always serializes.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Reads a model written by [`Model::to_json`]. The fields and levels must be exactly those this version
    /// compares (a model trained for another comparison scheme is refused, not misread), and every probability
    /// must lie in (0, 1].
    pub fn from_json(text: &str) -> Result<Model, Error> {
        let invalid = |reason: String| Error::Invalid {
            what: "model",
            reason,
        };
        let file: ModelFile =
            serde_json::from_str(text).map_err(|error| invalid(error.to_string()))?;
        if file.format != MODEL_FORMAT {
            return Err(invalid(format!(
                "format {:?}, expected {MODEL_FORMAT:?}",
                file.format
            )));
        }
        if !(file.lambda > 0.0 && file.lambda < 1.0) {
            return Err(invalid(format!("prior {} is not in (0, 1)", file.lambda)));
        }
        if file.training_records < 2 {
            return Err(invalid(format!(
                "training_records {}: a prior needs a population of at least 2 records",
                file.training_records
            )));
        }
        let names: Vec<&str> = file.fields.iter().map(|f| f.field.as_str()).collect();
        if names != FIELDS {
            return Err(invalid(format!(
                "fields {names:?}, this version compares {FIELDS:?}"
            )));
        }
        let (mut m, mut u, mut u_random) = (Vec::new(), Vec::new(), Vec::new());
        for (index, field) in file.fields.into_iter().enumerate() {
            if field.levels != LEVELS[index] {
                return Err(invalid(format!(
                    "levels of {}: {:?}, this version has {:?}",
                    field.field, field.levels, LEVELS[index]
                )));
            }
            for (name, values) in [
                ("m", &field.m),
                ("u", &field.u),
                ("u_random", &field.u_random),
            ] {
                if values.len() != LEVELS[index].len()
                    || values.iter().any(|p| !(*p > 0.0 && *p <= 1.0))
                {
                    return Err(invalid(format!(
                        "{name} of {}: {} probabilities in (0, 1] expected, got {values:?}",
                        field.field,
                        LEVELS[index].len()
                    )));
                }
            }
            m.push(field.m);
            u.push(field.u);
            u_random.push(field.u_random);
        }
        Ok(Model {
            m,
            u,
            u_random,
            lambda: file.lambda,
            training_records: file.training_records,
            em_iterations_run: 0,
        })
    }

    /// Match weight (log2 Bayes factor including the prior) of a compared pair, with per-field contributions.
    pub(crate) fn weight(
        &self,
        vector: &Vector,
        a: &Prepared,
        b: &Prepared,
        frequencies: &TermFrequencies,
        contributions: Option<&mut Vec<f64>>,
    ) -> f64 {
        let mut total = (self.lambda / (1.0 - self.lambda)).log2();
        let mut parts = [0.0; N_FIELDS];
        for (field, &level) in vector.iter().enumerate() {
            if level == NULL {
                continue;
            }
            let level_index = usize::from(level);
            let mut weight = (self.m[field][level_index] / self.u[field][level_index]).log2();
            if let Some(frequency) = frequencies.of(field, level, a, b) {
                // Splink-style adjustment: an agreement on a value rarer than the average agreement counts more.
                let average = self.u_random[field][level_index];
                weight += (average / frequency.max(1e-9)).log2().clamp(-10.0, 10.0);
            }
            parts[field] = weight;
            total += weight;
        }
        // The Latin and the Khmer name are two writings of one name, not independent evidence: when both agree,
        // only the stronger agreement counts (the other's contribution is reported as 0). Disagreements still add.
        let latin = parts[FAMILY] + parts[GIVEN];
        let khmer = parts[NAME_KM];
        if latin > 0.0 && khmer > 0.0 {
            if latin >= khmer {
                total -= khmer;
                parts[NAME_KM] = 0.0;
            } else {
                total -= latin;
                parts[FAMILY] = 0.0;
                parts[GIVEN] = 0.0;
            }
        }
        if let Some(contributions) = contributions {
            contributions.clear();
            contributions.extend_from_slice(&parts);
        }
        total
    }
}

/// Probability of a match from a match weight.
pub(crate) fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lambda (P(match) for two records of the {} trained on) = {:.4e}, EM iterations = {}",
            self.training_records, self.lambda, self.em_iterations_run
        )?;
        for (field, levels) in LEVELS.iter().enumerate() {
            for (level, name) in levels.iter().enumerate().rev() {
                writeln!(
                    f,
                    "  {:<12} {:<20} m={:.4} u={:.5} u_random={:.5} weight={:+.2}",
                    FIELDS[field],
                    name,
                    self.m[field][level],
                    self.u[field][level],
                    self.u_random[field][level],
                    (self.m[field][level] / self.u[field][level]).log2()
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn em_separates_two_planted_populations() {
        // 300 "matches" agreeing on every field and 3000 "non-matches" agreeing rarely.
        let mut vectors = Vec::new();
        for i in 0..300u32 {
            vectors.push([4, 4, NULL, if i % 10 == 0 { 3 } else { 5 }, 4, NULL, 1]);
        }
        for i in 0..3000u32 {
            let level = |k: u32| u8::try_from((i / k) % 2).unwrap_or(0);
            vectors.push([
                level(1) * 4,
                level(3),
                NULL,
                level(7),
                level(11) * 4,
                NULL,
                level(2),
            ]);
        }
        // u as random sampling would see it: the distribution among non-matches.
        let mut u_random = level_counts();
        for vector in &vectors[300..] {
            for (field, &level) in vector.iter().enumerate() {
                if level != NULL {
                    u_random[field][usize::from(level)] += 1.0;
                }
            }
        }
        normalize(&mut u_random);
        let session = TrainingSession {
            vectors: &vectors,
            estimate: [true; N_FIELDS],
        };
        let model = Model::train(&[session], &vectors, u_random, 100, 82);
        // About 300 matching pairs among 82 × 81 / 2 = 3321 possible ones.
        assert!((model.lambda - 300.0 / 3321.0).abs() < 0.02, "{model}");
        assert!(model.m[3][5] > 0.85, "{model}");
    }

    fn planted_model() -> Model {
        let mut m = level_counts();
        let mut u = level_counts();
        for field in 0..N_FIELDS {
            let levels = m[field].len();
            for level in 0..levels {
                m[field][level] = (level + 1) as f64;
                u[field][level] = (levels - level) as f64;
            }
        }
        normalize(&mut m);
        normalize(&mut u);
        Model {
            m,
            u: u.clone(),
            u_random: u,
            lambda: 1e-5,
            training_records: 30_000,
            em_iterations_run: 3,
        }
    }

    #[test]
    fn the_prior_scales_with_the_population() {
        let model = planted_model();
        assert!((model.prior_for(30_000) - model.lambda).abs() < 1e-15);
        assert_eq!(model.prior_for(10), model.lambda);
        // 600 times more records: one given record is 600 times less likely to be a given person's other record.
        let ratio = model.lambda / model.prior_for(18_000_000);
        assert!((ratio - 17_999_999.0 / 29_999.0).abs() < 1e-6, "{ratio}");
        assert!((model.prior_shift(30_000)).abs() < 1e-12);
        assert!(model.prior_shift(18_000_000) < -9.0);
        let json = model
            .to_json()
            .replace("\"training_records\": 30000", "\"training_records\": 1");
        let error = Model::from_json(&json).unwrap_err().to_string();
        assert!(error.contains("training_records 1"), "{error}");
    }

    #[test]
    fn a_model_survives_json() {
        let model = planted_model();
        let read = Model::from_json(&model.to_json()).unwrap();
        assert_eq!(read.m, model.m);
        assert_eq!(read.u_random, model.u_random);
        assert_eq!(read.lambda, model.lambda);
        assert_eq!(read.training_records, model.training_records);
    }

    #[test]
    fn a_model_for_another_scheme_or_with_bad_numbers_is_refused() {
        let json = planted_model().to_json();
        let renamed = json.replacen("\"family\"", "\"surname\"", 1);
        let error = Model::from_json(&renamed).unwrap_err().to_string();
        assert!(error.contains("this version compares"), "{error}");
        let relabelled = json.replacen("same village", "same hamlet", 1);
        let error = Model::from_json(&relabelled).unwrap_err().to_string();
        assert!(error.contains("levels of village"), "{error}");
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["fields"][2]["m"][0] = serde_json::json!(-0.5);
        let error = Model::from_json(&value.to_string())
            .unwrap_err()
            .to_string();
        assert!(error.contains("m of name_km"), "{error}");
        value["lambda"] = serde_json::json!(1.5);
        assert!(Model::from_json(&value.to_string()).is_err());
        assert!(Model::from_json("{").is_err());
    }

    #[test]
    fn the_shipped_model_matches_this_comparison_scheme() {
        // Fails when the fields or levels change without retraining (see examples/train_model.rs).
        let model = Model::shipped().unwrap();
        assert!(model.prior() > 0.0 && model.prior() < 1e-2, "{model}");
    }

    #[test]
    fn recalibration_learns_what_is_common_in_the_population_and_sets_the_prior_for_its_size() {
        let shipped = Model::shipped().unwrap();
        // A one-commune registry: everyone lives in the same village.
        let families = ["SOK", "CHEA", "KEO", "LIM", "HENG"];
        let givens = ["DARA", "SOPHEA", "MALY", "VANNA", "BORA", "THIDA"];
        let sample: Vec<Record> = (0..300)
            .map(|i| Record {
                record_id: format!("r{i}"),
                name_latin: format!("{} {}", families[i % 5], givens[(i / 5) % 6]),
                birth_date: crate::BirthDate::parse(&format!("{}", 1940 + i % 50)).ok(),
                village_code: crate::VillageCode::parse("12010101").ok(),
                ..Record::default()
            })
            .collect();
        let village = FIELDS.iter().position(|f| *f == "village").unwrap();
        let same_village = LEVELS[village].len() - 1;
        let model = shipped.recalibrated(&sample, 20_000, 7, 1_000, 0.05);
        assert!(
            shipped.u[village][same_village] < 1e-3,
            "nationally, two people rarely share a village"
        );
        assert!(
            model.u[village][same_village] > 0.9,
            "here everyone does: {:?}",
            model.u[village]
        );
        assert!((model.prior() - 0.05 / 999.0).abs() < 1e-12);
        assert!((model.prior_for(1_000) - 0.05 / 999.0).abs() < 1e-12);
        assert_eq!(model.m, shipped.m);
        // No sample: u stays as it was.
        let unchanged = shipped.recalibrated(&[], 1_000, 7, 10, 0.05);
        for (a, b) in unchanged.u[village].iter().zip(&shipped.u_random[village]) {
            assert!((a - b).abs() < 1e-9);
        }
    }
}
