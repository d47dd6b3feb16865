//! Writes the impostor scores that `ScoreCalibration::shipped` carries: every cross-finger pair of FVC2002
//! DB2_B (2,880 pairs of different fingers, MINDTCT minutiae, the current MCC matcher), sorted, one per line.
//! Run it again whenever the matcher's scores change, and commit the file.
//!
//! cargo run --release -p fingerprint --example calibrate

use std::fmt::Write as _;
use std::path::PathBuf;

use fingerprint::{FingerImage, MccMatcher, MccTemplate, ViewInfo, extract};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("../../../shared/data/fingerprints/fvc2002-db2b");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "tif"));
    paths.sort();
    let mut templates = Vec::new();
    for path in &paths {
        let finger = path
            .file_name()
            .map(|n| n.to_string_lossy()[..3].to_owned())
            .ok_or("file without a name")?;
        let template = extract(&FingerImage::open(path, 569)?, ViewInfo::default())?;
        templates.push((finger, MccTemplate::new(&template)));
    }
    let mut matcher = MccMatcher::new();
    let mut scores = Vec::new();
    for (i, (finger_a, a)) in templates.iter().enumerate() {
        for (finger_b, b) in &templates[i + 1..] {
            if finger_a != finger_b {
                scores.push(matcher.similarity(a, b));
            }
        }
    }
    scores.sort_by(f64::total_cmp);
    let mut out = String::from(
        "# MCC impostor scores: FVC2002 DB2_B, every pair of images of different fingers, sorted.\n\
         # Written by `cargo run --release -p fingerprint --example calibrate`.\n",
    );
    for score in &scores {
        writeln!(out, "{score:.6}")?;
    }
    let file = root.join("calibration/mcc-impostor-db2b.txt");
    std::fs::write(&file, out)?;
    println!(
        "{} impostor scores, highest {:.4}: {}",
        scores.len(),
        scores.last().copied().unwrap_or(0.0),
        file.display()
    );
    Ok(())
}
