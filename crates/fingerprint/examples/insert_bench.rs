//! Posting thumbs into the index: one at a time (`ThumbIndex::insert_thumb`, as a store's catch-up did page by page)
//! against batches (`ThumbIndex::insert_thumbs`), on one thread, per-thumb wall time. The keys of N synthetic fingers
//! are built first (and timed: `ThumbKeys::from_mcc`); both indexes end the same (checked).
//!
//! `cargo run --release -p fingerprint --example insert_bench -- [N] [BATCH,BATCH,…]` (20000 and 1000,20000 by default)

use std::time::Instant;

use fingerprint::synth::{SynthParams, finger};
use fingerprint::{MccTemplate, ThumbIndex, ThumbKeys, ThumbSide};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let batches: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1000,20000".to_owned())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let params = SynthParams::default();
    let templates: Vec<MccTemplate> = (0..n as u64)
        .map(|seed| Ok(MccTemplate::new(&finger(seed + 5_000, &params)?)))
        .collect::<Result<_, fingerprint::Error>>()?;
    let started = Instant::now();
    let keys: Vec<ThumbKeys> = templates.iter().map(ThumbKeys::from_mcc).collect();
    let per_thumb = |started: Instant| started.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{n} thumbs: keys {:.1} µs a thumb", per_thumb(started));
    let started = Instant::now();
    let mut one_by_one = ThumbIndex::new();
    for (person, k) in keys.iter().enumerate() {
        one_by_one.insert_thumb(person as u64, ThumbSide::Right, Some(k));
    }
    println!("one by one: {:.1} µs a thumb", per_thumb(started));
    let mut expected = Vec::new();
    one_by_one.write_to(&mut expected)?;
    for batch in batches {
        let started = Instant::now();
        let mut batched = ThumbIndex::new();
        for (b, chunk) in keys.chunks(batch.max(1)).enumerate() {
            batched.insert_thumbs(
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, k)| ((b * batch + i) as u64, ThumbSide::Right, Some(k.clone()))),
            );
        }
        let seconds = per_thumb(started);
        let mut written = Vec::new();
        batched.write_to(&mut written)?;
        assert!(
            written == expected,
            "batches of {batch} built another index"
        );
        println!("in batches of {batch}: {seconds:.1} µs a thumb (the same index)");
    }
    Ok(())
}
