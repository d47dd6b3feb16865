//! Time each stage of a capture (decode, detect, align, embed) on the photos of a folder tree,
//! at the detector sizes given.
//!
//! ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime) cargo run --release -p face --example capture_bench -- DIR MODELS [SIDE...]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Instant;

fn photos(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            photos(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jpg" | "jpeg" | "png")
        ) {
            out.push(path);
        }
    }
}

/// CPU time of the whole process so far in milliseconds (user + system, from /proc/self/stat; the
/// machine is shared, so wall-clock time overstates the work).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks * 10.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: capture_bench DIR MODELS [SIDE...]"),
    );
    let models = PathBuf::from(
        args.next()
            .expect("usage: capture_bench DIR MODELS [SIDE...]"),
    );
    let mut sides: Vec<u32> = args.map(|a| a.parse().unwrap()).collect();
    if sides.is_empty() {
        sides.push(face::DETECTOR_SIDE);
    }
    let mut files = Vec::new();
    photos(&dir, &mut files);
    files.sort();
    let mut engine = None;
    for side in sides {
        let mut config = face::FaceConfig::dlib(&models);
        config.detector_side = side;
        // One ONNX Runtime environment per process: later engines share it.
        let current = face::FaceEngine::from_config(&config).unwrap();
        let (mut decode, mut detect, mut align, mut embed, mut quality) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut captures = 0;
        let mut capture_cpu = 0.0;
        for _round in 0..3 {
            for file in &files {
                let bytes = std::fs::read(file).unwrap();
                let t = Instant::now();
                let photo = face::decode_photo(&bytes).unwrap();
                decode.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let faces = current.detect(&photo).unwrap();
                detect.push(t.elapsed().as_secs_f64() * 1e3);
                let Some(face) = faces.first() else { continue };
                let t = Instant::now();
                let chip = face::face_chip(&photo, face, face::ChipTemplate::Dlib150);
                align.push(t.elapsed().as_secs_f64() * 1e3);
                let mut input = vec![0f32; 3 * 150 * 150];
                for (x, y, p) in chip.enumerate_pixels() {
                    for c in 0..3 {
                        input[c * 22500 + y as usize * 150 + x as usize] = f32::from(p[c]);
                    }
                }
                let t = Instant::now();
                current.embed_tensor(input).unwrap();
                embed.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let cpu = cpu_ms();
                current.capture_image(&photo, true).unwrap();
                capture_cpu += cpu_ms() - cpu;
                captures += 1;
                quality.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        println!(
            "detector side {side}: {} photos x 3, median ms: decode {:.1}, detect {:.1}, align {:.2}, embed {:.1}; whole capture from decoded photo {:.1} (CPU {:.1} ms per capture)",
            files.len(),
            median(decode),
            median(detect),
            median(align),
            median(embed),
            median(quality),
            capture_cpu / f64::from(captures)
        );
        engine = Some(current);
    }
    drop(engine);
}
