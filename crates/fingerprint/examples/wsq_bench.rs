//! Time WSQ decoding: `cargo run --release -p fingerprint --example wsq_bench [FILE.wsq]`
//! (defaults to the shared SourceAFIS sample, 832x768).

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/data/fingerprints/sourceafis-samples/wsq-original.wsq"
            ))
        });
    let bytes = std::fs::read(&path)?;
    let mut best = f64::INFINITY;
    let mut image = None;
    for _ in 0..20 {
        let start = Instant::now();
        image = Some(fingerprint::FingerImage::decode(&bytes, 500)?);
        best = best.min(start.elapsed().as_secs_f64());
    }
    if let Some(image) = image {
        println!(
            "{}: {image:?}, {} bytes, best of 20 decodes {:.1} ms",
            path.display(),
            bytes.len(),
            best * 1e3
        );
    }
    Ok(())
}
