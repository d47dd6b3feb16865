//! `cargo run --release -p linkage --example index_latency -- RECORDS.csv [TRAIN_SAMPLE] [QUERIES] [STRANGERS.csv]
//! [TRUTH.csv]`
//!
//! Trains the model on the first TRAIN_SAMPLE records (default 50,000), streams every record of RECORDS.csv into an
//! [`Index`] (the file is read in chunks, so 18 million records need only the index in memory), then times
//! QUERIES (default 2,000) real-time checks of records drawn evenly from the file ("mates": their other records,
//! if any, are in the index; the record itself is never returned) and QUERIES checks of records of STRANGERS.csv
//! (people not in the index, e.g. `synth` with another seed), printing p50/p99/max latency, candidates per query,
//! the build time and the process's memory. With TRUTH.csv (`record_id,entity` of RECORDS.csv) it also counts
//! how many mate queries find each of their true other records as a candidate.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::time::Instant;

use linkage::{INPUT_HEADER, Index, LinkOptions, Outcome, Record, link_records, read_records};

const CHUNK_LINES: usize = 200_000;

/// Calls `each` with the records of `path`, a chunk at a time.
fn for_each_chunk(
    path: &str,
    mut each: impl FnMut(Vec<Record>) -> Result<bool, Box<dyn std::error::Error>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut lines = BufReader::new(File::open(path)?).lines();
    let header = lines.next().ok_or("empty file")??;
    if header != INPUT_HEADER.join(",") {
        return Err(format!("unexpected header {header:?}").into());
    }
    loop {
        let mut chunk = header.clone();
        chunk.push('\n');
        let mut n = 0;
        for line in lines.by_ref().take(CHUNK_LINES) {
            chunk.push_str(&line?);
            chunk.push('\n');
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        let (records, _) = read_records(chunk.as_bytes(), None)?;
        if !each(records)? {
            return Ok(());
        }
    }
}

/// Resident and peak memory of this process, from /proc (Linux).
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .map(|line| line[name.len()..].trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!("RSS {}, peak {}", field("VmRSS:"), field("VmHWM:"))
}

fn percentiles(name: &str, latencies: &mut [f64], candidates: usize) {
    if latencies.is_empty() {
        return;
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{name}: {} queries, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.2} candidates per query",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0),
        candidates as f64 / latencies.len() as f64
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = arguments.first() else {
        return Err(
            "usage: index_latency RECORDS.csv [TRAIN_SAMPLE] [QUERIES] [STRANGERS.csv] [TRUTH.csv]"
                .into(),
        );
    };
    let train_sample: usize = arguments.get(1).map_or(Ok(50_000), |n| n.parse())?;
    let n_queries: usize = arguments.get(2).map_or(Ok(2_000), |n| n.parse())?;
    let strangers_path = arguments.get(3);
    let truth_path = arguments.get(4);
    let options = LinkOptions::default();

    let mut sample = Vec::new();
    for_each_chunk(path, |records| {
        sample.extend(records);
        Ok(sample.len() < train_sample)
    })?;
    sample.truncate(train_sample);
    let started = Instant::now();
    let model = link_records(&sample, &options)?.report.model;
    println!(
        "trained on {} records in {:.1}s; prior {:.3e} for {} records",
        sample.len(),
        started.elapsed().as_secs_f64(),
        model.prior(),
        model.training_records()
    );
    drop(sample);

    // Mate queries: every `step`-th record; the file is counted first so that they spread over all of it.
    let total = BufReader::new(File::open(path)?)
        .lines()
        .count()
        .saturating_sub(1);
    let step = (total / n_queries.max(1)).max(1);
    let started = Instant::now();
    let mut index = Index::new(model, options);
    let mut mates = Vec::new();
    let mut seen = 0usize;
    for_each_chunk(path, |records| {
        for record in records {
            if seen.is_multiple_of(step) && mates.len() < n_queries {
                mates.push(record.clone());
            }
            seen += 1;
            index.insert(&record);
            if seen.is_multiple_of(1_000_000) {
                println!(
                    "  {seen} records indexed, {:.0}s, {} block entries, {}",
                    started.elapsed().as_secs_f64(),
                    index.block_entries(),
                    memory()
                );
            }
        }
        Ok(true)
    })?;
    println!(
        "indexed {} records in {:.1}s: {} block entries; {}",
        index.len(),
        started.elapsed().as_secs_f64(),
        index.block_entries(),
        memory()
    );

    let mut strangers = Vec::new();
    if let Some(strangers_path) = strangers_path {
        for_each_chunk(strangers_path, |records| {
            strangers.extend(records.into_iter().map(|mut record| {
                record.record_id = format!("stranger-{}", record.record_id);
                record
            }));
            Ok(strangers.len() < n_queries)
        })?;
        strangers.truncate(n_queries);
    }

    let mut mate_results = Vec::new();
    for (queries, name) in [(&mates, "mates"), (&strangers, "strangers")] {
        let mut latencies = Vec::new();
        let mut found = 0usize;
        let mut same_person = 0usize;
        for record in queries.iter() {
            let started = Instant::now();
            let candidates = index.candidates(record);
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            found += candidates.len();
            same_person += candidates
                .iter()
                .filter(|candidate| candidate.outcome == Outcome::SamePerson)
                .count();
            if name == "mates" {
                mate_results.push(
                    candidates
                        .into_iter()
                        .map(|candidate| candidate.record_id)
                        .collect::<HashSet<String>>(),
                );
            }
        }
        percentiles(name, &mut latencies, found);
        println!("  {same_person} candidates said to be the same person");
    }

    if let Some(truth_path) = truth_path {
        // Two passes over the truth file: the queries' entities, then every record of those entities.
        let query_ids: HashSet<&str> = mates.iter().map(|r| r.record_id.as_str()).collect();
        let mut entity_of_query: HashMap<String, String> = HashMap::new();
        for line in BufReader::new(File::open(truth_path)?).lines().skip(1) {
            let line = line?;
            if let Some((id, entity)) = line.split_once(',')
                && query_ids.contains(id)
            {
                entity_of_query.insert(id.to_string(), entity.to_string());
            }
        }
        let entities: HashSet<&String> = entity_of_query.values().collect();
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for line in BufReader::new(File::open(truth_path)?).lines().skip(1) {
            let line = line?;
            if let Some((id, entity)) = line.split_once(',')
                && entities.contains(&entity.to_string())
            {
                members
                    .entry(entity.to_string())
                    .or_default()
                    .push(id.to_string());
            }
        }
        let (mut expected, mut returned) = (0usize, 0usize);
        for (query, results) in mates.iter().zip(&mate_results) {
            let Some(entity) = entity_of_query.get(&query.record_id) else {
                continue;
            };
            for other in members.get(entity).into_iter().flatten() {
                if *other != query.record_id {
                    expected += 1;
                    returned += usize::from(results.contains(other));
                }
            }
        }
        println!(
            "mates: {returned} of {expected} true other records returned as candidates ({:.2} %)",
            100.0 * returned as f64 / expected.max(1) as f64
        );
    }
    Ok(())
}
