//! Measures parsing and evaluation speed on the shipped definitions:
//! `cargo run --release -p dspp-forms --example measure -- programs`.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use dspp_forms::{Inputs, Value, parse_csv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let directory = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "programs".to_owned());
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(&directory)? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "csv") {
            texts.push((path.display().to_string(), std::fs::read_to_string(&path)?));
        }
    }
    texts.sort();
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        for (name, text) in &texts {
            parse_csv(text).map_err(|error| format!("{name}: {error}"))?;
        }
    }
    let per_parse = started.elapsed().as_secs_f64() / f64::from(rounds) / texts.len() as f64;
    println!(
        "parse_csv: {} definitions, {:.1} µs per definition",
        texts.len(),
        per_parse * 1e6
    );

    let idpoor_text = texts
        .iter()
        .find(|(name, _)| name.ends_with("idpoor.csv"))
        .map(|(_, text)| text.clone())
        .ok_or("programs/idpoor.csv not found")?;
    let idpoor = parse_csv(&idpoor_text).map_err(|error| error.to_string())?;
    let answers: BTreeMap<String, Value> = [
        ("roof", "thatch"),
        ("walls", "wood"),
        ("house_area", "24"),
        ("toilet", "pit"),
        ("water", "protected_well"),
        ("light", "battery"),
        ("assets", "phone motorbike"),
        ("agricultural_land", "0.6"),
        ("main_income", "own_farm"),
        ("earners", "1"),
        ("dependants", "3"),
        ("crisis", "no"),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), Value::Text((*value).to_owned())))
    .collect();
    let inputs = Inputs {
        answers,
        context: BTreeMap::from([("household_size".to_owned(), Value::Integer(5))]),
        today: NaiveDate::from_ymd_opt(2025, 3, 1).ok_or("date")?,
    };
    let evaluations = 20_000;
    let started = Instant::now();
    let mut eligible = 0;
    for _ in 0..evaluations {
        if idpoor.evaluate(&inputs).eligible {
            eligible += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "evaluate idpoor (22 rows, 12 answers): {:.1} µs per evaluation, {:.0} per second ({eligible} eligible)",
        elapsed / f64::from(evaluations) * 1e6,
        f64::from(evaluations) / elapsed
    );

    let pregnant_text = texts
        .iter()
        .find(|(name, _)| name.ends_with("pregnant_women.csv"))
        .map(|(_, text)| text.clone())
        .ok_or("programs/pregnant_women.csv not found")?;
    let pregnant_women = parse_csv(&pregnant_text).map_err(|error| error.to_string())?;
    let inputs = Inputs {
        answers: BTreeMap::from([
            ("pregnant".to_owned(), Value::Text("yes".to_owned())),
            ("pregnancy_months".to_owned(), Value::Text("5".to_owned())),
            (
                "payment_phone".to_owned(),
                Value::Text("012345678".to_owned()),
            ),
        ]),
        context: BTreeMap::from([
            ("sex".to_owned(), Value::Text("female".to_owned())),
            (
                "idpoor_status".to_owned(),
                Value::Text("idpoor1".to_owned()),
            ),
            ("deceased".to_owned(), Value::Bool(false)),
        ]),
        today: NaiveDate::from_ymd_opt(2025, 3, 1).ok_or("date")?,
    };
    let started = Instant::now();
    let mut eligible = 0;
    for _ in 0..evaluations {
        if pregnant_women.evaluate(&inputs).eligible {
            eligible += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "evaluate pregnant_women (5 rows, 3 answers, a regex constraint): {:.1} µs per evaluation, {:.0} per second ({eligible} eligible)",
        elapsed / f64::from(evaluations) * 1e6,
        f64::from(evaluations) / elapsed
    );
    Ok(())
}
