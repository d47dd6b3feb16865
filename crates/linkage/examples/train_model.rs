//! `cargo run --release -p linkage --example train_model -- [PEOPLE] [OUT.json]`
//!
//! Trains the model the registry ships (`crates/linkage/models/cambodia.json`): a synthetic Cambodian population on
//! the official village list (default 20,000 people, error rate 0.1, seed 1) is linked with the default options, and
//! the m/u probabilities EM estimated are written as JSON. The registry uses them until it has enough people of its
//! own to retrain on. Rerun whenever the comparison levels or the generator change; a test refuses a stale file.

use std::fs::File;

use linkage::synth::{SynthOptions, generate};
use linkage::{Gazetteer, LinkOptions, link_records, read_records};

const VILLAGES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/geo/CambodiaVillagesList2025.csv"
);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let people: usize = arguments.first().map_or(Ok(20_000), |p| p.parse())?;
    let out = arguments.get(1).cloned().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/models/cambodia.json").to_string()
    });
    let gazetteer = Gazetteer::from_csv(File::open(VILLAGES)?)?;
    let options = SynthOptions {
        people,
        ..SynthOptions::default()
    };
    let (mut records, mut truth) = (Vec::new(), Vec::new());
    generate(&gazetteer, &options, &mut records, &mut truth)?;
    let (records, issues) = read_records(records.as_slice(), Some(&gazetteer))?;
    let linkage = link_records(&records, &LinkOptions::default())?;
    std::fs::write(&out, linkage.report.model.to_json() + "\n")?;
    println!(
        "trained on {} records ({} row issues), prior {:.3e}: {out}",
        records.len(),
        issues.len(),
        linkage.report.model.prior()
    );
    Ok(())
}
