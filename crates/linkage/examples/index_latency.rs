//! `cargo run --release -p linkage --example index_latency -- RECORDS.csv [TRAIN_SAMPLE] [QUERIES]`
//! Trains the model on the first TRAIN_SAMPLE records (default 50,000), inserts every record into an [`Index`]
//! one by one, then times QUERIES (default 2,000) real-time checks of records drawn evenly from the file,
//! printing p50/p99/max latency.

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use linkage::{Index, LinkOptions, link_records, read_records};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = arguments.first() else {
        return Err("usage: index_latency RECORDS.csv [TRAIN_SAMPLE] [QUERIES]".into());
    };
    let train_sample: usize = arguments.get(1).map_or(Ok(50_000), |n| n.parse())?;
    let n_queries: usize = arguments.get(2).map_or(Ok(2_000), |n| n.parse())?;
    let (records, _) = read_records(BufReader::new(File::open(path)?), None)?;
    let options = LinkOptions::default();
    let started = Instant::now();
    let linkage = link_records(&records[..train_sample.min(records.len())], &options)?;
    println!(
        "trained on {} records in {:.1}s",
        train_sample.min(records.len()),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let mut index = Index::new(linkage.report.model, options);
    for record in &records {
        index.insert(record);
    }
    println!(
        "indexed {} records in {:.1}s",
        index.len(),
        started.elapsed().as_secs_f64()
    );
    let step = (records.len() / n_queries.max(1)).max(1);
    let mut latencies = Vec::new();
    let mut found = 0usize;
    for record in records.iter().step_by(step).take(n_queries) {
        let started = Instant::now();
        let candidates = index.candidates(record);
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        found += candidates.len();
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{} queries against {} records: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.1} candidates per query",
        latencies.len(),
        index.len(),
        at(0.5),
        at(0.99),
        at(1.0),
        found as f64 / latencies.len().max(1) as f64
    );
    Ok(())
}
