//! `cargo run --release -p linkage --example synth -- VILLAGES.csv PEOPLE RECORDS.csv TRUTH.csv [error_rate] [seed]`
//! Generates a synthetic Cambodian population in the `dspp link` format with its truth file.

use std::fs::File;
use std::io::BufWriter;

use linkage::Gazetteer;
use linkage::synth::{SynthOptions, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [villages, people, records, truth, rest @ ..] = arguments.as_slice() else {
        return Err(
            "usage: synth VILLAGES.csv PEOPLE RECORDS.csv TRUTH.csv [error_rate] [seed]".into(),
        );
    };
    let gazetteer = Gazetteer::from_csv(File::open(villages)?)?;
    let mut options = SynthOptions {
        people: people.parse()?,
        ..SynthOptions::default()
    };
    if let Some(rate) = rest.first() {
        options.error_rate = rate.parse()?;
    }
    if let Some(seed) = rest.get(1) {
        options.seed = seed.parse()?;
    }
    let report = generate(
        &gazetteer,
        &options,
        BufWriter::new(File::create(records)?),
        BufWriter::new(File::create(truth)?),
    )?;
    println!("{report}");
    Ok(())
}
