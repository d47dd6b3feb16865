//! 1:N index on real codes: how well the 2048-bit LSH codes of the shared FVC2002 DB2_B images
//! separate mates from strangers, the hit rate of a two-thumb short list at population scale
//! estimated from them, and the speed of the linear scan on a synthetic population.
//!
//! The code design was iterated on fingers 101–105 (`dev`); figures to report come from fingers
//! 106–110 (`test`), which the design never saw.
//!
//! `cargo run --release -p fingerprint --example index_eval -- [dev|test|all] [PEOPLE] [SHORT_LIST]`

use std::path::PathBuf;
use std::time::Instant;

use fingerprint::{
    BinaryCode, FingerImage, MccTemplate, ThumbCodes, ThumbIndex, ViewInfo, extract, rerank,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let set = args.next().unwrap_or_else(|| "test".to_owned());
    let people: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let short_list: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/fingerprints/fvc2002-db2b"
    ));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "tif"));
    let fingers: &[&str] = match set.as_str() {
        "dev" => &["101", "102", "103", "104", "105"],
        "test" => &["106", "107", "108", "109", "110"],
        _ => &[
            "101", "102", "103", "104", "105", "106", "107", "108", "109", "110",
        ],
    };
    paths.retain(|p| {
        p.file_name()
            .is_some_and(|n| fingers.iter().any(|f| n.to_string_lossy().starts_with(f)))
    });
    println!("set {set}: {} images", paths.len());
    paths.sort();
    let finger = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy()[..3].to_owned());
    let mut mcc = Vec::new();
    for path in &paths {
        mcc.push(MccTemplate::new(&extract(
            &FingerImage::open(path, 569)?,
            ViewInfo::default(),
        )?));
    }
    let codes: Vec<BinaryCode> = mcc.iter().map(BinaryCode::from_mcc).collect();
    let mean_keys = codes.iter().map(|c| f64::from(c.len())).sum::<f64>() / codes.len() as f64;
    // Single-thumb index scores of every genuine and impostor pair.
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for i in 0..codes.len() {
        for j in (i + 1)..codes.len() {
            let shared = codes[i].shared(&codes[j]) as usize;
            if finger(&paths[i]) == finger(&paths[j]) {
                genuine.push(shared);
            } else {
                impostor.push(shared);
            }
        }
    }
    println!(
        "codes: {} bits, mean {mean_keys:.0} keys set; shared keys genuine mean {:.1}, impostor mean {:.1} max {}",
        fingerprint::CODE_BITS,
        genuine.iter().sum::<usize>() as f64 / genuine.len() as f64,
        impostor.iter().sum::<usize>() as f64 / impostor.len() as f64,
        impostor.iter().max().unwrap_or(&0)
    );
    // Two thumbs, assumed independent: the fused impostor distribution is the convolution of the
    // single-thumb one with itself (2,880² sums), the fused genuine one all sums of two genuine
    // scores of different fingers.
    let max = 2 * fingerprint::CODE_BITS + 1;
    let mut single = vec![0f64; max];
    for &s in &impostor {
        single[s] += 1.0 / impostor.len() as f64;
    }
    let mut fused = vec![0f64; max];
    for (a, pa) in single.iter().enumerate().filter(|(_, p)| **p > 0.0) {
        for (b, pb) in single.iter().enumerate().filter(|(_, p)| **p > 0.0) {
            fused[a + b] += pa * pb;
        }
    }
    // The penetration a target hit rate needs: the fused impostor tail above the score that
    // that share of mated probes reaches.
    let genuine_pairs: Vec<(usize, usize)> = (0..codes.len())
        .flat_map(|i| ((i + 1)..codes.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| finger(&paths[i]) == finger(&paths[j]))
        .collect();
    let mut mated: Vec<usize> = Vec::new();
    for &(i, j) in &genuine_pairs {
        for &(k, l) in &genuine_pairs {
            if finger(&paths[i]) != finger(&paths[k]) {
                mated.push((codes[i].shared(&codes[j]) + codes[k].shared(&codes[l])) as usize);
            }
        }
    }
    mated.sort_unstable();
    for hit_rate in [0.90, 0.95, 0.99, 0.995] {
        let score = mated[((1.0 - hit_rate) * mated.len() as f64).floor() as usize];
        let penetration: f64 = fused[score.min(max - 1)..].iter().sum();
        println!(
            "two thumbs, mate in short list {:.1} %: fused threshold {score}, penetration {penetration:.2e} (short list {:.0} of 10M)",
            hit_rate * 100.0,
            penetration * 1e7
        );
    }
    for penetration in [1e-3, 1e-4, 1e-5] {
        // Threshold: the lowest fused score whose impostor tail is at most the penetration.
        let mut tail = 0.0;
        let mut threshold = max;
        for score in (0..max).rev() {
            if tail + fused[score] > penetration {
                break;
            }
            tail += fused[score];
            threshold = score;
        }
        let mut hits = 0usize;
        let mut total = 0usize;
        let genuine_pairs: Vec<(usize, usize)> = (0..codes.len())
            .flat_map(|i| ((i + 1)..codes.len()).map(move |j| (i, j)))
            .filter(|&(i, j)| finger(&paths[i]) == finger(&paths[j]))
            .collect();
        for &(i, j) in &genuine_pairs {
            for &(k, l) in &genuine_pairs {
                if finger(&paths[i]) == finger(&paths[k]) {
                    continue;
                }
                total += 1;
                let score = codes[i].shared(&codes[j]) + codes[k].shared(&codes[l]);
                hits += usize::from(score as usize >= threshold);
            }
        }
        println!(
            "two thumbs, penetration {penetration:.0e} (short list {:.0} of 10M): fused threshold {threshold}, mate in short list {:.2} % of {total} mated probes",
            penetration * 1e7,
            100.0 * hits as f64 / total as f64
        );
    }
    // Scan speed on a synthetic population built from the real codes (for timing only: the
    // scan cost does not depend on who the people are).
    let mut index = ThumbIndex::new();
    let started = Instant::now();
    for person in 0..people {
        index.insert(
            person as u64,
            ThumbCodes {
                right: Some(codes[person % codes.len()].clone()),
                left: Some(codes[(person * 7 + 3) % codes.len()].clone()),
            },
        );
    }
    let build = started.elapsed().as_secs_f64();
    let probe = ThumbCodes {
        right: Some(codes[0].clone()),
        left: Some(codes[9].clone()),
    };
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        let found = index.search(&probe, short_list, 2);
        best = best.min(started.elapsed().as_secs_f64());
        assert_eq!(found.len(), short_list.min(people));
    }
    println!(
        "scan of {people} people (two thumbs, 2 threads, short list {short_list}): {:.1} ms best of 5 => {:.0} ms per 10M people (linear); index build {build:.1} s",
        best * 1e3,
        best * 1e3 * 1e7 / people as f64
    );
    // Re-ranking cost of a short list: MCC on both thumbs per candidate, one thread.
    let started = Instant::now();
    let candidates: Vec<(u64, Option<&MccTemplate>, Option<&MccTemplate>)> = (0..short_list)
        .map(|c| {
            (
                c as u64,
                Some(&mcc[c % mcc.len()]),
                Some(&mcc[(c * 7 + 3) % mcc.len()]),
            )
        })
        .collect();
    let ranked = rerank((Some(&mcc[0]), Some(&mcc[9])), candidates);
    println!(
        "MCC re-ranking of {} candidates (two thumbs, one thread): {:.0} ms",
        ranked.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
