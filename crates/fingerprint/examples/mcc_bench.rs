//! Throughput of 1:1 MCC matching on real templates: MINDTCT minutiae of the shared FVC2002 DB2_B
//! images, every pair compared on one thread.
//!
//! `cargo run --release -p fingerprint --example mcc_bench -- [DIR] [DPI]`

use std::path::PathBuf;
use std::time::Instant;

use fingerprint::{FingerImage, MccMatcher, MccTemplate, ViewInfo, extract};

/// CPU time this thread has run, in seconds (Linux `schedstat`), so that the figure does not
/// depend on other processes sharing the machine; `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/data/fingerprints/fvc2002-db2b"
            ))
        },
        PathBuf::from,
    );
    let dpi = args.next().map_or(Ok(569), |d| d.parse())?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| {
        p.extension()
            .is_some_and(|e| e == "tif" || e == "png" || e == "bmp")
    });
    paths.sort();
    let mut templates = Vec::new();
    for path in &paths {
        templates.push(extract(
            &FingerImage::open(path, dpi)?,
            ViewInfo::default(),
        )?);
    }
    let started = Instant::now();
    let cpu_started = thread_cpu_seconds();
    let rounds = 50;
    let mut mcc = Vec::new();
    for _ in 0..rounds {
        mcc = templates.iter().map(MccTemplate::new).collect::<Vec<_>>();
    }
    let build_seconds = match (cpu_started, thread_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => started.elapsed().as_secs_f64(),
    };
    let build_us = build_seconds * 1e6 / (rounds * templates.len()) as f64;
    // Reading the same cylinders back from their stored bytes (`MccTemplate::from_bytes`), as a
    // search re-ranking stored templates does instead of building them.
    let stored: Vec<Vec<u8>> = mcc.iter().map(MccTemplate::to_bytes).collect();
    let started = Instant::now();
    let cpu_started = thread_cpu_seconds();
    let mut read_back = 0;
    for _ in 0..rounds {
        for bytes in &stored {
            read_back += MccTemplate::from_bytes(bytes)?.len();
        }
    }
    let read_seconds = match (cpu_started, thread_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => started.elapsed().as_secs_f64(),
    };
    let read_us = read_seconds * 1e6 / (rounds * templates.len()) as f64;
    // The same into one template over and over (`MccTemplate::read_bytes`), as the registry's
    // re-ranking does: nothing allocated.
    let mut reused = MccTemplate::default();
    let started = Instant::now();
    let cpu_started = thread_cpu_seconds();
    for _ in 0..rounds {
        for bytes in &stored {
            reused.read_bytes(bytes)?;
            read_back += reused.len();
        }
    }
    let reread_seconds = match (cpu_started, thread_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => started.elapsed().as_secs_f64(),
    };
    let reread_us = reread_seconds * 1e6 / (rounds * templates.len()) as f64;
    let stored_bytes = stored.iter().map(Vec::len).sum::<usize>() / stored.len().max(1);
    let minutiae: usize = templates.iter().map(|t| t.minutiae().len()).sum();
    let cylinders: usize = mcc.iter().map(MccTemplate::len).sum();
    let mut matcher = MccMatcher::new();
    let started = Instant::now();
    let cpu_started = thread_cpu_seconds();
    let mut comparisons = 0u64;
    let mut checksum = 0.0;
    while started.elapsed().as_secs_f64() < 3.0 {
        for a in &mcc {
            for b in &mcc {
                checksum += matcher.similarity(a, b);
                comparisons += 1;
            }
        }
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let seconds = match (cpu_started, thread_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall_seconds,
    };
    println!(
        "{} templates, mean {:.1} minutiae, {:.1} cylinders; cylinder build {:.1} us per template (CPU time)",
        templates.len(),
        minutiae as f64 / templates.len() as f64,
        cylinders as f64 / templates.len() as f64,
        build_us
    );
    println!(
        "read back from stored cylinders ({stored_bytes} bytes a template): {read_us:.1} us per template, {reread_us:.1} us into one template read over and over (CPU time; {} cylinders)",
        read_back / (2 * rounds)
    );
    println!(
        "{comparisons} comparisons in {seconds:.2} s of CPU time ({wall_seconds:.2} s wall) on one thread: {:.0} comparisons/s per core ({:.2} us each; checksum {checksum:.3}, mean score {:.9})",
        comparisons as f64 / seconds,
        seconds * 1e6 / comparisons as f64,
        checksum / comparisons as f64
    );
    Ok(())
}
