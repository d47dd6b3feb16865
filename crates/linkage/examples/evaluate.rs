//! `cargo run --release -p linkage --example evaluate -- CLUSTERS.csv TRUTH.csv`
//! Pairwise precision, recall and F1 of a `record_id,cluster_id` file against a `record_id,entity` truth file
//! (what `dspp link --eval` prints).

use std::fs::File;
use std::io::BufReader;

use linkage::{evaluate, read_clusters, read_truth};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [clusters, truth] = arguments.as_slice() else {
        return Err("usage: evaluate CLUSTERS.csv TRUTH.csv".into());
    };
    let clusters = read_clusters(BufReader::new(File::open(clusters)?))?;
    let truth = read_truth(BufReader::new(File::open(truth)?))?;
    println!("{}", evaluate(&clusters, &truth));
    Ok(())
}
