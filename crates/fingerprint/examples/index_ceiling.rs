//! What an index could reach at best: the two-thumb fused MCC score itself (exhaustive matching)
//! used as the index score, on the same synthetic-population model as `index_eval` (real
//! same-finger and cross-finger scores of FVC2002 DB2_B, thumbs independent).
//!
//! `cargo run --release -p fingerprint --example index_ceiling -- [dev|test|all]`

use std::path::PathBuf;

use fingerprint::{FingerImage, MccMatcher, MccTemplate, ViewInfo, extract};

/// Score resolution of the fused distributions: MCC scores are in [0, 1].
const BINS: usize = 2000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let set = std::env::args().nth(1).unwrap_or_else(|| "test".to_owned());
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/fingerprints/fvc2002-db2b"
    ));
    let prefixes: &[&str] = match set.as_str() {
        "dev" => &["101", "102", "103", "104", "105"],
        "test" => &["106", "107", "108", "109", "110"],
        _ => &["1"],
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| {
        p.extension().is_some_and(|e| e == "tif")
            && p.file_name()
                .is_some_and(|n| prefixes.iter().any(|f| n.to_string_lossy().starts_with(f)))
    });
    paths.sort();
    let finger = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy()[..3].to_owned());
    let mut mcc = Vec::new();
    for path in &paths {
        mcc.push(MccTemplate::new(&extract(
            &FingerImage::open(path, 569)?,
            ViewInfo::default(),
        )?));
    }
    let mut matcher = MccMatcher::new();
    let bin = |s: f64| ((s * BINS as f64).round() as usize).min(BINS);
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for i in 0..mcc.len() {
        for j in (i + 1)..mcc.len() {
            let s = bin(matcher.similarity(&mcc[i], &mcc[j]));
            if finger(&paths[i]) == finger(&paths[j]) {
                genuine.push(s);
            } else {
                impostor.push(s);
            }
        }
    }
    println!(
        "set {set}: {} images, {} genuine and {} impostor single-thumb pairs",
        paths.len(),
        genuine.len(),
        impostor.len()
    );
    let max = 2 * BINS + 1;
    let mut single = vec![0f64; BINS + 1];
    for &s in &impostor {
        single[s] += 1.0 / impostor.len() as f64;
    }
    let mut fused = vec![0f64; max];
    for (a, pa) in single.iter().enumerate().filter(|(_, p)| **p > 0.0) {
        for (b, pb) in single.iter().enumerate().filter(|(_, p)| **p > 0.0) {
            fused[a + b] += pa * pb;
        }
    }
    // Mated probes: two genuine pairs of different fingers.
    let genuine_fingers: Vec<(usize, Option<String>)> = {
        let mut out = Vec::new();
        let mut k = 0;
        for i in 0..mcc.len() {
            for j in (i + 1)..mcc.len() {
                if finger(&paths[i]) == finger(&paths[j]) {
                    out.push((genuine[k], finger(&paths[i])));
                    k += 1;
                }
            }
        }
        out
    };
    let mut mated: Vec<usize> = Vec::new();
    for (a, fa) in &genuine_fingers {
        for (b, fb) in &genuine_fingers {
            if fa != fb {
                mated.push(a + b);
            }
        }
    }
    mated.sort_unstable();
    let tail = |score: usize| fused[score.min(max - 1)..].iter().sum::<f64>();
    for hit_rate in [0.95, 0.99, 0.995, 0.999] {
        let score = mated[((1.0 - hit_rate) * mated.len() as f64).floor() as usize];
        println!(
            "two thumbs, mate found {:.1} %: fused MCC threshold {:.4}, penetration {:.2e}",
            hit_rate * 100.0,
            score as f64 / BINS as f64,
            tail(score)
        );
    }
    for penetration in [1e-3, 1e-4, 1e-5] {
        let threshold = (0..max).find(|&s| tail(s) <= penetration).unwrap_or(max);
        let hits = mated.iter().filter(|&&s| s >= threshold).count();
        println!(
            "two thumbs, penetration {penetration:.0e}: mate found {:.2} % of {} mated probes",
            100.0 * hits as f64 / mated.len() as f64,
            mated.len()
        );
    }
    println!(
        "single thumb: impostor max {:.4}, genuine min {:.4}",
        impostor
            .iter()
            .max()
            .map_or(0.0, |&s| s as f64 / BINS as f64),
        genuine
            .iter()
            .min()
            .map_or(0.0, |&s| s as f64 / BINS as f64)
    );
    Ok(())
}
