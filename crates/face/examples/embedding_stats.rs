//! Statistics of real dlib embeddings against the synthetic population of `search_bench`: every
//! face YuNet finds in the photos of the given folders is aligned and embedded; the example prints
//! the distribution of pairwise distances, the spread around the mean embedding and the PCA
//! spectrum (eigenvalues of the covariance, through the Gram matrix), and the same figures for as
//! many synthetic identities drawn as `search_bench` draws them.
//!
//! ORT_DYLIB_PATH=... cargo run -p face --example embedding_stats -- ../shared/models DIR...
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Matrix code reads best with indices.
#![allow(clippy::needless_range_loop)]

use std::path::PathBuf;

use face::{ChipTemplate, FaceConfig, FaceEngine, decode_photo, face_chip};

const DIMENSION: usize = 128;
const CENTRE_SIGMA: f32 = 0.056;

/// SplitMix64 then Box-Muller, as in `search_bench` (centres only: one sample per identity).
struct Normal(u64);
impl Normal {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn next(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations.
fn eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-18 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k][p];
                    let akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p][k];
                    let aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut values: Vec<f64> = (0..n).map(|i| a[i][i].max(0.0)).collect();
    values.sort_by(|x, y| y.total_cmp(x));
    values
}

fn describe(name: &str, vectors: &[Vec<f32>]) {
    let n = vectors.len();
    let mut distances = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            distances.push(distance(&vectors[i], &vectors[j]));
        }
    }
    distances.sort_by(f64::total_cmp);
    let mean_distance = distances.iter().sum::<f64>() / distances.len() as f64;
    let sd = (distances
        .iter()
        .map(|d| (d - mean_distance).powi(2))
        .sum::<f64>()
        / distances.len() as f64)
        .sqrt();
    let at = |p: f64| distances[((distances.len() - 1) as f64 * p).round() as usize];
    let mean: Vec<f64> = (0..DIMENSION)
        .map(|d| vectors.iter().map(|v| f64::from(v[d])).sum::<f64>() / n as f64)
        .collect();
    let centred: Vec<Vec<f64>> = vectors
        .iter()
        .map(|v| {
            v.iter()
                .zip(&mean)
                .map(|(x, m)| f64::from(*x) - m)
                .collect()
        })
        .collect();
    let norm_mean = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
    let spread = centred
        .iter()
        .map(|v| v.iter().map(|x| x * x).sum::<f64>().sqrt())
        .sum::<f64>()
        / n as f64;
    // Covariance eigenvalues = Gram matrix eigenvalues / (n − 1).
    let gram: Vec<Vec<f64>> = centred
        .iter()
        .map(|a| {
            centred
                .iter()
                .map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (n - 1) as f64)
                .collect()
        })
        .collect();
    let values = eigenvalues(gram);
    let total: f64 = values.iter().sum();
    let participation = total * total / values.iter().map(|v| v * v).sum::<f64>();
    let share = |k: usize| values.iter().take(k).sum::<f64>() / total;
    // Mean negative-coordinate share: how far from zero-centred the coordinates are (binary
    // quantization thresholds at 0).
    let negative = vectors
        .iter()
        .map(|v| v.iter().filter(|x| **x < 0.0).count() as f64 / DIMENSION as f64)
        .sum::<f64>()
        / n as f64;
    // Coordinates whose sign is the same for at least 90 % of faces carry almost no information
    // in a sign bit (binary quantization).
    let constant_sign = (0..DIMENSION)
        .filter(|d| {
            let negative = vectors.iter().filter(|v| v[*d] < 0.0).count() as f64 / n as f64;
            !(0.1..=0.9).contains(&negative)
        })
        .count();
    println!("{name}: {n} faces, {} pairs", distances.len());
    println!(
        "  coordinates with the same sign in >= 90 % of faces: {constant_sign} of {DIMENSION}"
    );
    println!(
        "  pairwise distance mean {mean_distance:.3} sd {sd:.3} min {:.3} p1 {:.3} p50 {:.3} p99 {:.3} max {:.3}",
        distances[0],
        at(0.01),
        at(0.5),
        at(0.99),
        distances[distances.len() - 1]
    );
    println!(
        "  |mean embedding| {norm_mean:.3}, mean distance to it {spread:.3}, coordinates below 0: {:.1} %",
        100.0 * negative
    );
    println!(
        "  PCA: participation ratio {participation:.1} of at most {}; variance in the top 1/5/10/20 components {:.1} / {:.1} / {:.1} / {:.1} %",
        n - 1,
        100.0 * share(1),
        100.0 * share(5),
        100.0 * share(10),
        100.0 * share(20)
    );
    let top: Vec<String> = values
        .iter()
        .take(10)
        .map(|v| format!("{:.4}", v / total))
        .collect();
    println!("  top 10 eigenvalue shares: {}", top.join(" "));
}

fn main() {
    let mut args = std::env::args().skip(1);
    let models = PathBuf::from(args.next().expect("models folder"));
    let mut config = FaceConfig::dlib(&models);
    config.onnxruntime = face::default_runtime_path();
    let engine = FaceEngine::from_config(&config).unwrap();
    let mut real = Vec::new();
    for folder in args {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e == "jpg" || e == "jpeg" || e == "png")
            })
            .collect();
        files.sort();
        for file in files {
            let Ok(photo) = decode_photo(&std::fs::read(&file).unwrap()) else {
                continue;
            };
            let detections = engine.detect(&photo).unwrap();
            for detection in &detections {
                // Faces of at least 20 pixels between the eyes, as the engine's quality check asks.
                let eyes = detection.landmarks[0].x - detection.landmarks[1].x;
                if eyes.abs() < 20.0 {
                    continue;
                }
                let chip = face_chip(&photo, detection, ChipTemplate::Dlib150);
                let side = chip.width() as usize;
                let mut input = vec![0f32; 3 * side * side];
                for (x, y, pixel) in chip.enumerate_pixels() {
                    for c in 0..3 {
                        input[c * side * side + y as usize * side + x as usize] =
                            f32::from(pixel[c]);
                    }
                }
                real.push(engine.embed_tensor(input).unwrap().values().to_vec());
            }
            println!("{}: {} faces", file.display(), detections.len());
        }
    }
    describe("real dlib embeddings", &real);
    let synthetic: Vec<Vec<f32>> = (0..real.len() as u64)
        .map(|identity| {
            let mut centre = Normal(identity.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xA5A5);
            (0..DIMENSION)
                .map(|_| centre.next() * CENTRE_SIGMA)
                .collect()
        })
        .collect();
    describe("search_bench centres (isotropic)", &synthetic);
}
