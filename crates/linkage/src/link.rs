//! Batch linking: read records, block, train the model, score candidate pairs, cluster, write `record_id,cluster_id`.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::time::Instant;

use rayon::prelude::*;

use crate::Error;
use crate::blocking::{self, RULES};
use crate::cluster::cluster;
use crate::compare::{Prepared, TermFrequencies, Vector, compare};
use crate::model::{Model, TrainingSession, estimate_u_random, probability};
use crate::record::{Gazetteer, Record, RowIssue, read_records};

/// Options of a linking run. [`LinkOptions::default`] is what `dspp link` uses.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// A pair at or above this match probability is the same person (and may join a cluster).
    pub match_threshold: f64,
    /// A pair at or above this (and below `match_threshold`) needs review by an officer.
    pub review_threshold: f64,
    /// Two clusters merge only if the average match probability over their cross pairs reaches this.
    pub cluster_threshold: f64,
    /// Blocks with more records than this are skipped by their rule.
    pub max_block_size: usize,
    /// Random pairs sampled to estimate u.
    pub u_sample_pairs: usize,
    pub em_max_iterations: usize,
    pub seed: u64,
    /// The official village list; when given, unknown village codes are reported per row.
    pub gazetteer: Option<Gazetteer>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            match_threshold: 0.9,
            review_threshold: 0.5,
            cluster_threshold: 0.5,
            max_block_size: 1000,
            u_sample_pairs: 1_000_000,
            em_max_iterations: 100,
            seed: 42,
            gazetteer: None,
        }
    }
}

/// Outcome of comparing two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    SamePerson,
    NeedsReview,
    DifferentPeople,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::SamePerson => "same person",
            Outcome::NeedsReview => "needs review",
            Outcome::DifferentPeople => "different people",
        })
    }
}

impl LinkOptions {
    pub fn outcome(&self, match_probability: f64) -> Outcome {
        if match_probability >= self.match_threshold {
            Outcome::SamePerson
        } else if match_probability >= self.review_threshold {
            Outcome::NeedsReview
        } else {
            Outcome::DifferentPeople
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let unit = |value: f64| (0.0..=1.0).contains(&value);
        if !unit(self.match_threshold)
            || !unit(self.review_threshold)
            || !unit(self.cluster_threshold)
        {
            return Err(Error::Invalid {
                what: "thresholds",
                reason: "must lie in [0, 1]".into(),
            });
        }
        if self.review_threshold > self.match_threshold {
            return Err(Error::Invalid {
                what: "thresholds",
                reason: "review threshold above match threshold".into(),
            });
        }
        Ok(())
    }
}

/// What a run did: counts, the trained model, per-row issues, timings.
#[derive(Debug, Clone)]
pub struct LinkReport {
    pub records: usize,
    pub issues: Vec<RowIssue>,
    pub candidate_pairs: usize,
    pub pairs_per_rule: Vec<u64>,
    pub skipped_blocks_per_rule: Vec<u64>,
    pub same_person_pairs: usize,
    pub review_pairs: usize,
    pub clusters: usize,
    pub model: Model,
    pub seconds: f64,
    /// Seconds per stage: prepare, block, compare, train, score, cluster.
    pub timings: Vec<(&'static str, f64)>,
}

impl fmt::Display for LinkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} records, {} row issues, {} candidate pairs, {} same-person pairs, {} to review, {} clusters, {:.2}s",
            self.records,
            self.issues.len(),
            self.candidate_pairs,
            self.same_person_pairs,
            self.review_pairs,
            self.clusters,
            self.seconds
        )?;
        let timings: Vec<String> = self
            .timings
            .iter()
            .map(|(stage, seconds)| format!("{stage} {seconds:.2}s"))
            .collect();
        writeln!(f, "  stages: {}", timings.join(", "))?;
        for (rule, name) in RULES.iter().enumerate() {
            writeln!(
                f,
                "  blocking rule {name:<50} pairs={:<10} skipped blocks={}",
                self.pairs_per_rule[rule], self.skipped_blocks_per_rule[rule]
            )?;
        }
        write!(f, "{}", self.model)
    }
}

/// A linked set of records: the cluster of each record (by position) and the report.
#[derive(Debug, Clone)]
pub struct Linkage {
    pub cluster_of: Vec<u32>,
    pub report: LinkReport,
}

/// Everything needed to score a pair: prepared records, term frequencies, the trained model.
pub(crate) struct Scorer {
    pub(crate) prepared: Vec<Prepared>,
    pub(crate) frequencies: TermFrequencies,
    pub(crate) model: Model,
}

impl Scorer {
    pub(crate) fn probability(&self, a: usize, b: usize) -> f64 {
        let (x, y) = (&self.prepared[a], &self.prepared[b]);
        let (vector, _) = compare(x, y);
        probability(self.model.weight(&vector, x, y, &self.frequencies, None))
    }
}

/// Prepares records, trains the model on the candidate pairs and returns the scorer with the compared pairs.
pub(crate) fn train(
    records: &[Record],
    options: &LinkOptions,
) -> (
    Scorer,
    blocking::Candidates,
    Vec<Vector>,
    Vec<(&'static str, f64)>,
) {
    let mut clock = Instant::now();
    let mut lap = |stage: &'static str, timings: &mut Vec<(&'static str, f64)>| {
        timings.push((stage, clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    let mut timings = Vec::new();
    let prepared: Vec<Prepared> = records.par_iter().map(Prepared::new).collect();
    lap("prepare", &mut timings);
    let mut frequencies = TermFrequencies::default();
    for record in &prepared {
        frequencies.add(record);
    }
    let candidates = blocking::candidates(&prepared, options.max_block_size);
    lap("block", &mut timings);
    let vectors: Vec<Vector> = candidates
        .pairs
        .par_iter()
        .map(|&(a, b)| compare(&prepared[a as usize], &prepared[b as usize]).0)
        .collect();
    lap("compare", &mut timings);
    let u_random = estimate_u_random(&prepared, options.u_sample_pairs, options.seed);
    // Session 1: pairs sharing a national ID, a village and birth year, or a full birth date teach the names.
    // Session 2: pairs sharing two name keys or the Khmer name teach dates, places and IDs.
    let (mut by_id_or_place, mut by_name) = (Vec::new(), Vec::new());
    for (vector, &rules) in vectors.iter().zip(&candidates.rules) {
        if rules & 0b1_0000_0011 != 0 {
            by_id_or_place.push(*vector);
        }
        if rules & 0b1100 != 0 {
            by_name.push(*vector);
        }
    }
    let sessions = [
        TrainingSession {
            vectors: &by_id_or_place,
            estimate: [true, true, true, false, false, false, true],
        },
        TrainingSession {
            vectors: &by_name,
            estimate: [false, false, false, true, true, true, true],
        },
    ];
    let model = Model::train(
        &sessions,
        &vectors,
        u_random,
        options.em_max_iterations,
        records.len() as u64,
    );
    lap("train", &mut timings);
    (
        Scorer {
            prepared,
            frequencies,
            model,
        },
        candidates,
        vectors,
        timings,
    )
}

/// Links records already in memory. Row issues are the caller's (see [`link`]).
pub fn link_records(records: &[Record], options: &LinkOptions) -> Result<Linkage, Error> {
    options.validate()?;
    let started = Instant::now();
    let (scorer, candidates, vectors, mut timings) = train(records, options);
    let mut clock = Instant::now();
    let probabilities: Vec<f64> = candidates
        .pairs
        .par_iter()
        .zip(vectors.par_iter())
        .map(|(&(a, b), vector)| {
            let (x, y) = (&scorer.prepared[a as usize], &scorer.prepared[b as usize]);
            probability(scorer.model.weight(vector, x, y, &scorer.frequencies, None))
        })
        .collect();
    timings.push(("score", clock.elapsed().as_secs_f64()));
    clock = Instant::now();
    let mut same_person_pairs = 0;
    let mut review_pairs = 0;
    let mut edges = Vec::new();
    for (&(a, b), &p) in candidates.pairs.iter().zip(&probabilities) {
        match options.outcome(p) {
            Outcome::SamePerson => {
                same_person_pairs += 1;
                edges.push((a, b, p));
            }
            Outcome::NeedsReview => review_pairs += 1,
            Outcome::DifferentPeople => {}
        }
    }
    let cluster_of = cluster(
        records.len(),
        edges,
        |a, b| scorer.probability(a as usize, b as usize),
        options.cluster_threshold,
    );
    timings.push(("cluster", clock.elapsed().as_secs_f64()));
    let clusters = {
        let mut roots: Vec<u32> = cluster_of.clone();
        roots.sort_unstable();
        roots.dedup();
        roots.len()
    };
    let report = LinkReport {
        records: records.len(),
        issues: Vec::new(),
        candidate_pairs: candidates.pairs.len(),
        pairs_per_rule: candidates.pairs_per_rule,
        skipped_blocks_per_rule: candidates.skipped_blocks_per_rule,
        same_person_pairs,
        review_pairs,
        clusters,
        model: scorer.model,
        seconds: started.elapsed().as_secs_f64(),
        timings,
    };
    Ok(Linkage { cluster_of, report })
}

/// The `dspp link` entry point: reads the input format, links, writes `record_id,cluster_id` for every record
/// (rows with issues included), and returns the report with the per-row issues.
pub fn link<R: Read, W: Write>(
    reader: R,
    writer: W,
    options: &LinkOptions,
) -> Result<LinkReport, Error> {
    let started = Instant::now();
    let (records, issues) = read_records(reader, options.gazetteer.as_ref())?;
    let linkage = link_records(&records, options)?;
    write_clusters(writer, &records, &linkage.cluster_of)?;
    let mut report = linkage.report;
    report.issues = issues;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Writes `record_id,cluster_id`; the cluster id is the record_id of the cluster's first record in input order.
pub fn write_clusters<W: Write>(
    writer: W,
    records: &[Record],
    cluster_of: &[u32],
) -> Result<(), Error> {
    let mut csv_writer = csv::Writer::from_writer(writer);
    csv_writer.write_record(["record_id", "cluster_id"])?;
    for (record, &cluster) in records.iter().zip(cluster_of) {
        let cluster_id = records
            .get(cluster as usize)
            .map_or(record.record_id.as_str(), |r| r.record_id.as_str());
        csv_writer.write_record([record.record_id.as_str(), cluster_id])?;
    }
    csv_writer.flush()?;
    Ok(())
}

/// Blocking recall on labelled data: the share of true pairs (records with one entity) that blocking compares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockingRecall {
    pub true_pairs: u64,
    pub true_pairs_blocked: u64,
    pub candidate_pairs: u64,
}

impl fmt::Display for BlockingRecall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blocking recall {:.4} ({} of {} true pairs among {} candidate pairs)",
            self.true_pairs_blocked as f64 / self.true_pairs.max(1) as f64,
            self.true_pairs_blocked,
            self.true_pairs,
            self.candidate_pairs
        )
    }
}

/// Measures [`BlockingRecall`] of the blocking rules on `records` against `truth` (`record_id,entity`).
pub fn blocking_recall(
    records: &[Record],
    truth: &[(String, String)],
    options: &LinkOptions,
) -> BlockingRecall {
    let prepared: Vec<Prepared> = records.par_iter().map(Prepared::new).collect();
    let candidates = blocking::candidates(&prepared, options.max_block_size);
    let entity_of: HashMap<&str, &str> = truth
        .iter()
        .map(|(r, e)| (r.as_str(), e.as_str()))
        .collect();
    let entities: Vec<Option<&str>> = records
        .iter()
        .map(|r| entity_of.get(r.record_id.as_str()).copied())
        .collect();
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    for entity in entities.iter().flatten() {
        *sizes.entry(entity).or_default() += 1;
    }
    let true_pairs = sizes.values().map(|&n| n * n.saturating_sub(1) / 2).sum();
    let true_pairs_blocked = candidates
        .pairs
        .iter()
        .filter(|&&(a, b)| {
            entities[a as usize].is_some() && entities[a as usize] == entities[b as usize]
        })
        .count() as u64;
    BlockingRecall {
        true_pairs,
        true_pairs_blocked,
        candidate_pairs: candidates.pairs.len() as u64,
    }
}
