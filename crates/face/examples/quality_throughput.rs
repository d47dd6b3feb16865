//! How many live quality checks (decode, detect, align, assess: what the capture page asks every 1.5 s) one
//! server process answers per second, with `SESSIONS` model sessions and `THREADS` callers at once.
//!
//! ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime) cargo run --release -p face --example quality_throughput -- SESSIONS THREADS [SECONDS]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let sessions = args.next().unwrap_or(1);
    let threads = args.next().unwrap_or(2);
    let seconds = args.next().unwrap_or(10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = face::FaceConfig::dlib(&root.join("../../../shared/models"));
    config.sessions = sessions;
    let engine = Arc::new(face::FaceEngine::from_config(&config).unwrap());
    let photo = Arc::new(std::fs::read(root.join("tests/data/astronaut.jpg")).unwrap());
    engine.quality(&photo).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs(seconds as u64);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (engine, photo, done) = (engine.clone(), photo.clone(), done.clone());
            std::thread::spawn(move || {
                while Instant::now() < until {
                    let report = engine.quality(&photo).unwrap();
                    assert!(report.usable());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let n = done.load(Ordering::Relaxed);
    println!(
        "{sessions} session(s), {threads} callers: {n} checks in {:.1} s, {:.1} checks/s",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
}
