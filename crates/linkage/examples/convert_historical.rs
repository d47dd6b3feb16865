//! `cargo run --release -p linkage --example convert_historical -- historical_50k.csv RECORDS.csv TRUTH.csv`
//!
//! Converts Splink's `historical_50k.csv` into the `dspp link` format so that dspp and Splink link the same input:
//! - `full_name` → `name_latin` (as is; the set is English, so "family given" order does not hold there);
//! - `dob` → `birth_date`; `gender` → `sex` (male → M, female → F);
//! - the UK postcode stands in for the village hierarchy: area ("tq") → province, district ("tq13") → district,
//!   sector ("tq13 8") → commune, full postcode → village, each level numbered in order of first appearance
//!   (modulo 100, so two digits per level as in a Cambodian code). `birth_place` and `occupation` are dropped:
//!   the format has no column for them.
//! - `name_km`, `national_id` empty; `source` = "historical"; `cluster` → the truth file's `entity`.

use std::collections::HashMap;
use std::fs::File;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [input, records_path, truth_path] = arguments.as_slice() else {
        return Err("usage: convert_historical historical_50k.csv RECORDS.csv TRUTH.csv".into());
    };
    let mut reader = csv::Reader::from_reader(File::open(input)?);
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or(format!("no column {name}"))
    };
    let (id, cluster, name, dob, postcode, gender) = (
        column("unique_id")?,
        column("cluster")?,
        column("full_name")?,
        column("dob")?,
        column("postcode_fake")?,
        column("gender")?,
    );
    let mut records = csv::Writer::from_writer(File::create(records_path)?);
    let mut truth = csv::Writer::from_writer(File::create(truth_path)?);
    records.write_record(linkage::INPUT_HEADER)?;
    truth.write_record(["record_id", "entity"])?;
    // One numbering per level, scoped by the parent level.
    let mut numbering: HashMap<(usize, String), u32> = HashMap::new();
    let mut counters: HashMap<(usize, String), u32> = HashMap::new();
    let mut number = |level: usize, parent: &str, value: &str| -> u32 {
        let next = counters.entry((level, parent.to_string())).or_insert(0);
        *numbering
            .entry((level, value.to_string()))
            .or_insert_with(|| {
                *next += 1;
                *next % 100
            })
    };
    for row in reader.records() {
        let row = row?;
        let get = |c: usize| row.get(c).unwrap_or("").trim();
        let code = postcode_levels(get(postcode)).map(|[area, district, sector, unit]| {
            let p = number(0, "", &area);
            let d = number(1, &area, &district);
            let c = number(2, &district, &sector);
            let v = number(3, &sector, &unit);
            format!("{p:02}{d:02}{c:02}{v:02}")
        });
        let sex = match get(gender) {
            "male" => "M",
            "female" => "F",
            _ => "",
        };
        records.write_record([
            get(id),
            "historical",
            "",
            get(name),
            sex,
            get(dob),
            code.as_deref().unwrap_or(""),
            "",
        ])?;
        truth.write_record([get(id), get(cluster)])?;
    }
    records.flush()?;
    truth.flush()?;
    Ok(())
}

fn postcode_levels(postcode: &str) -> Option<[String; 4]> {
    let (outward, inward) = postcode.split_once(' ')?;
    let area: String = outward
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    if area.is_empty() || inward.is_empty() {
        return None;
    }
    Some([
        area,
        outward.to_string(),
        format!("{outward} {}", &inward[..1]),
        postcode.to_string(),
    ])
}
