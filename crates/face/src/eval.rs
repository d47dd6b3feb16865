//! Evaluation in the manner of ISO/IEC 19795-1 on a labelled folder (`PERSON/IMAGE.jpg`): every
//! photo is captured once (failure to acquire counted), every pair of acquired photos compared
//! (genuine within a person, impostor across people), FMR and FNMR at chosen thresholds, the equal
//! error rate, the threshold that meets a target FMR, timings, and a DET curve.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{Rgb, RgbImage};

use crate::{Embedding, FaceEngine, FaceError};

/// Thresholds printed by default.
pub const DEFAULT_THRESHOLDS: [f32; 7] = [0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70];

/// The outcome of an evaluation.
#[derive(Debug, Clone)]
pub struct EvalReport {
    /// People (sub-folders) with at least one photo.
    pub people: usize,
    /// Photos read.
    pub photos: usize,
    /// Photos where no usable embedding was obtained, with the reason.
    pub failures: Vec<(PathBuf, String)>,
    /// Distances of genuine pairs (same person).
    pub genuine: Vec<f32>,
    /// Distances of impostor pairs (different people).
    pub impostor: Vec<f32>,
    /// Milliseconds per capture (decode, detect, quality, align, embed) of each photo.
    pub capture_ms: Vec<f64>,
    /// Thresholds to report.
    pub thresholds: Vec<f32>,
}

/// Share of impostor distances below `threshold` (falsely matched).
pub fn fmr_at(impostor: &[f32], threshold: f32) -> f64 {
    if impostor.is_empty() {
        return 0.0;
    }
    impostor.iter().filter(|&&d| d < threshold).count() as f64 / impostor.len() as f64
}

/// Share of genuine distances at or above `threshold` (falsely not matched).
pub fn fnmr_at(genuine: &[f32], threshold: f32) -> f64 {
    if genuine.is_empty() {
        return 0.0;
    }
    genuine.iter().filter(|&&d| d >= threshold).count() as f64 / genuine.len() as f64
}

/// (threshold, FMR, FNMR) at every distinct distance, ascending thresholds.
pub fn operating_points(genuine: &[f32], impostor: &[f32]) -> Vec<(f32, f64, f64)> {
    let mut thresholds: Vec<f32> = genuine.iter().chain(impostor).copied().collect();
    thresholds.sort_by(f32::total_cmp);
    thresholds.dedup();
    // Just above each distance, so a pair at exactly that distance counts as matched.
    thresholds
        .iter()
        .map(|&t| {
            let t = t + f32::EPSILON * t.abs().max(1.0);
            (t, fmr_at(impostor, t), fnmr_at(genuine, t))
        })
        .collect()
}

/// The equal error rate and the threshold where FMR and FNMR are closest.
pub fn equal_error_rate(genuine: &[f32], impostor: &[f32]) -> Option<(f64, f32)> {
    operating_points(genuine, impostor)
        .into_iter()
        .min_by(|a, b| (a.1 - a.2).abs().total_cmp(&(b.1 - b.2).abs()))
        .map(|(t, fmr, fnmr)| ((fmr + fnmr) / 2.0, t))
}

/// The largest threshold whose FMR does not exceed `target`, with its FNMR.
pub fn threshold_at_fmr(genuine: &[f32], impostor: &[f32], target: f64) -> Option<(f32, f64)> {
    operating_points(genuine, impostor)
        .into_iter()
        .rfind(|p| p.1 <= target)
        .map(|(t, _, fnmr)| (t, fnmr))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

impl EvalReport {
    /// Failure-to-acquire rate.
    pub fn fta(&self) -> f64 {
        if self.photos == 0 {
            0.0
        } else {
            self.failures.len() as f64 / self.photos as f64
        }
    }

    /// Write the DET curve (FNMR against FMR, logarithmic axes) as a PNG.
    pub fn write_det_png(&self, path: &Path) -> Result<(), FaceError> {
        det_image(&self.genuine, &self.impostor)
            .save(path)
            .map_err(|e| FaceError::Evaluation {
                reason: format!("writing {}: {e}", path.display()),
            })
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "people {}  photos {}  failure to acquire {} ({:.2} %)",
            self.people,
            self.photos,
            self.failures.len(),
            100.0 * self.fta()
        )?;
        for (path, reason) in &self.failures {
            writeln!(f, "  not acquired: {}: {reason}", path.display())?;
        }
        let range = |d: &[f32]| {
            let min = d.iter().copied().fold(f32::INFINITY, f32::min);
            let max = d.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mean = d.iter().sum::<f32>() / d.len().max(1) as f32;
            format!("distance min {min:.3} mean {mean:.3} max {max:.3}")
        };
        writeln!(
            f,
            "pairs: genuine {} ({})  impostor {} ({})",
            self.genuine.len(),
            range(&self.genuine),
            self.impostor.len(),
            range(&self.impostor)
        )?;
        writeln!(f, "threshold      FMR       FNMR")?;
        for &t in &self.thresholds {
            writeln!(
                f,
                "{t:9.3}  {:8.5}  {:8.5}",
                fmr_at(&self.impostor, t),
                fnmr_at(&self.genuine, t)
            )?;
        }
        match equal_error_rate(&self.genuine, &self.impostor) {
            Some((eer, t)) if !self.genuine.is_empty() && !self.impostor.is_empty() => {
                writeln!(f, "EER {:.3} % at threshold {t:.3}", 100.0 * eer)?
            }
            _ => writeln!(f, "EER not defined (needs genuine and impostor pairs)")?,
        }
        for target in [1e-2, 1e-3, 1e-4] {
            if let Some((t, fnmr)) = threshold_at_fmr(&self.genuine, &self.impostor, target) {
                writeln!(
                    f,
                    "FMR <= {target:e}: threshold {t:.3}, FNMR {:.3} % (measured on {} impostor pairs)",
                    100.0 * fnmr,
                    self.impostor.len()
                )?;
            }
        }
        let mut times = self.capture_ms.clone();
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
        writeln!(
            f,
            "capture time per photo (decode, detect, quality, align, embed): mean {mean:.1} ms, p50 {:.1} ms, p99 {:.1} ms",
            percentile(&times, 50.0),
            percentile(&times, 99.0)
        )
    }
}

/// Photos in `folder`, sorted: `.jpg`, `.jpeg` and `.png` files.
fn photos_in(folder: &Path) -> Result<Vec<PathBuf>, FaceError> {
    let mut photos = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(|e| FaceError::io(folder, e))? {
        let path = entry.map_err(|e| FaceError::io(folder, e))?.path();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if path.is_file() && matches!(extension.as_deref(), Some("jpg" | "jpeg" | "png")) {
            photos.push(path);
        }
    }
    photos.sort();
    Ok(photos)
}

/// Evaluate `engine` on the labelled folder `root` (`PERSON/IMAGE`).
pub fn evaluate(
    engine: &FaceEngine,
    root: &Path,
    thresholds: &[f32],
) -> Result<EvalReport, FaceError> {
    let mut people: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| FaceError::io(root, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut report = EvalReport {
        people: 0,
        photos: 0,
        failures: Vec::new(),
        genuine: Vec::new(),
        impostor: Vec::new(),
        capture_ms: Vec::new(),
        thresholds: thresholds.to_vec(),
    };
    let mut embeddings: Vec<(usize, Embedding)> = Vec::new();
    for person in &people {
        let photos = photos_in(person)?;
        if photos.is_empty() {
            continue;
        }
        let person_index = report.people;
        report.people += 1;
        for photo in photos {
            report.photos += 1;
            let bytes = std::fs::read(&photo).map_err(|e| FaceError::io(&photo, e))?;
            let started = Instant::now();
            let result = engine.embed(&bytes);
            report
                .capture_ms
                .push(started.elapsed().as_secs_f64() * 1000.0);
            match result {
                Ok(embedding) => embeddings.push((person_index, embedding)),
                Err(e) => report.failures.push((photo, e.to_string())),
            }
        }
    }
    if report.photos == 0 {
        return Err(FaceError::Evaluation {
            reason: format!(
                "no photos in {} (expected PERSON/IMAGE.jpg)",
                root.display()
            ),
        });
    }
    for (i, (person_a, a)) in embeddings.iter().enumerate() {
        for (person_b, b) in &embeddings[i + 1..] {
            let distance = a.distance(b)?;
            if person_a == person_b {
                report.genuine.push(distance);
            } else {
                report.impostor.push(distance);
            }
        }
    }
    Ok(report)
}

/// Side of the DET plot in pixels.
const SIZE: u32 = 500;
const MARGIN: u32 = 40;
/// Lowest rate drawn: 1e-4; rates of zero sit on this floor.
const DECADES: f64 = 4.0;

fn axis(rate: f64) -> f64 {
    (rate.max(10f64.powf(-DECADES)).log10() + DECADES) / DECADES * f64::from(SIZE - 2 * MARGIN)
}

/// The DET curve of one set of genuine and impostor distances: decade grid in grey, curve in red.
pub fn det_image(genuine: &[f32], impostor: &[f32]) -> RgbImage {
    let mut image = RgbImage::from_pixel(SIZE, SIZE, Rgb([255, 255, 255]));
    let to_pixel = |fmr: f64, fnmr: f64| {
        (
            (f64::from(MARGIN) + axis(fmr)).round() as i64,
            (f64::from(SIZE - MARGIN) - axis(fnmr)).round() as i64,
        )
    };
    let put = |image: &mut RgbImage, x: i64, y: i64, colour: [u8; 3]| {
        if (0..i64::from(SIZE)).contains(&x) && (0..i64::from(SIZE)).contains(&y) {
            image.put_pixel(x as u32, y as u32, Rgb(colour));
        }
    };
    for decade in 0..=4 {
        let (x, y) = to_pixel(10f64.powi(-decade), 10f64.powi(-decade));
        for t in i64::from(MARGIN)..=i64::from(SIZE - MARGIN) {
            put(&mut image, x, t, [200, 200, 200]);
            put(&mut image, t, y, [200, 200, 200]);
        }
    }
    let points: Vec<(i64, i64)> = operating_points(genuine, impostor)
        .into_iter()
        .map(|(_, fmr, fnmr)| to_pixel(fmr, fnmr))
        .collect();
    for pair in points.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let steps = (to.0 - from.0).abs().max((to.1 - from.1).abs()).max(1);
        for s in 0..=steps {
            let x = from.0 + (to.0 - from.0) * s / steps;
            let y = from.1 + (to.1 - from.1) * s / steps;
            put(&mut image, x, y, [220, 30, 30]);
            put(&mut image, x + 1, y, [220, 30, 30]);
            put(&mut image, x, y + 1, [220, 30, 30]);
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_eer_and_threshold_at_fmr() {
        let genuine = [0.2, 0.3, 0.4, 0.7];
        let impostor = [0.5, 0.8, 0.9, 1.0];
        assert_eq!(fmr_at(&impostor, 0.6), 0.25);
        assert_eq!(fnmr_at(&genuine, 0.6), 0.25);
        let (eer, _) = equal_error_rate(&genuine, &impostor).unwrap();
        assert!((eer - 0.25).abs() < 1e-9, "{eer}");
        let (t, fnmr) = threshold_at_fmr(&genuine, &impostor, 0.0).unwrap();
        assert!(t <= 0.5 && t > 0.4, "{t}");
        assert_eq!(fnmr, 0.25);
    }

    #[test]
    fn det_curve_is_drawn() {
        let image = det_image(&[0.2, 0.5], &[0.4, 0.9]);
        let red = image.pixels().filter(|p| p.0 == [220, 30, 30]).count();
        assert!(red > 50, "{red} red pixels");
    }
}
