//! `cargo run --release -p linkage --example link -- RECORDS.csv CLUSTERS.csv [TRUTH.csv] [--gazetteer VILLAGES.csv]`
//! Links a file in the `dspp link` format, writes clusters, and with a truth file (`record_id,entity`) prints
//! blocking recall and pairwise precision/recall/F1. Threshold overrides: `--match P --review P --cluster P`.

use std::fs::File;
use std::io::{BufReader, BufWriter};

use linkage::{
    Gazetteer, LinkOptions, blocking_recall, evaluate, read_clusters, read_records, read_truth,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut positional = Vec::new();
    let mut options = LinkOptions::default();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = || arguments.next().ok_or(format!("{argument} needs a value"));
        match argument.as_str() {
            "--gazetteer" => options.gazetteer = Some(Gazetteer::from_csv(File::open(value()?)?)?),
            "--match" => options.match_threshold = value()?.parse()?,
            "--review" => options.review_threshold = value()?.parse()?,
            "--cluster" => options.cluster_threshold = value()?.parse()?,
            _ => positional.push(argument),
        }
    }
    let [input, output, rest @ ..] = positional.as_slice() else {
        return Err(
            "usage: link RECORDS.csv CLUSTERS.csv [TRUTH.csv] [--gazetteer VILLAGES.csv]".into(),
        );
    };
    let report = linkage::link(
        BufReader::new(File::open(input)?),
        BufWriter::new(File::create(output)?),
        &options,
    )?;
    for issue in report.issues.iter().take(10) {
        eprintln!("row issue: {issue}");
    }
    println!("{report}");
    if let Some(truth_path) = rest.first() {
        let truth = read_truth(File::open(truth_path)?)?;
        let (records, _) = read_records(BufReader::new(File::open(input)?), None)?;
        println!("{}", blocking_recall(&records, &truth, &options));
        let clusters = read_clusters(File::open(output)?)?;
        println!("dspp-linkage {}", evaluate(&clusters, &truth));
    }
    Ok(())
}
