//! Image quality in the spirit of NFIQ 2 (0–100, higher is better) from features NFIQ 2 also
//! uses — foreground area, orientation certainty (ridge clarity) and grey-level contrast of the
//! ridge area — combined by a transparent formula rather than NFIQ 2's trained random forest, with
//! the reason when a capture is unusable; and best-of-N selection among an enrolment's captures.
//!
//! The score is not NFIQ 2 and must not be compared with NFIQ 2 values; it ranks captures of one
//! finger and refuses unusable ones.

use crate::image::FingerImage;

/// Side of the analysis blocks at 500 dpi, in pixels (about one and a half ridge periods).
const BLOCK_500: f64 = 16.0;
/// A block is foreground when its grey-level standard deviation reaches this.
const FOREGROUND_STDDEV: f64 = 12.0;
/// Foreground area, in mm², of a capture with a full-value area factor (a flat thumb covers
/// 250–400 mm²; a good index finger on a small sensor about 150).
const FULL_AREA_MM2: f64 = 150.0;
/// Below this foreground area a capture is refused: too little finger to match.
pub const MIN_AREA_MM2: f64 = 40.0;
/// Below this mean orientation certainty a capture is refused: no clear ridge flow (worn, wet,
/// smudged or not a finger).
pub const MIN_CLARITY: f64 = 0.25;
/// Captures scoring below this are refused as too poor to enrol.
pub const MIN_SCORE: u8 = 20;

/// Why a capture cannot be used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Refusal {
    /// No ridge area found at all (empty platen).
    NoFinger,
    /// Too little finger area.
    TooSmall {
        /// Foreground area in mm².
        area_mm2: f64,
    },
    /// Ridges are not clear enough to follow (worn, dry, wet or smudged print).
    Unclear {
        /// Mean orientation certainty of the foreground, 0–1.
        clarity: f64,
    },
    /// The combined score is below [`MIN_SCORE`].
    LowScore {
        /// The score.
        score: u8,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoFinger => write!(f, "no finger on the sensor"),
            Refusal::TooSmall { area_mm2 } => write!(
                f,
                "finger area {area_mm2:.0} mm² is below {MIN_AREA_MM2:.0} mm²: place the finger flat and centred"
            ),
            Refusal::Unclear { clarity } => write!(
                f,
                "ridges unclear (clarity {clarity:.2} below {MIN_CLARITY:.2}): clean the sensor and the finger, press gently"
            ),
            Refusal::LowScore { score } => write!(f, "quality {score} is below {MIN_SCORE}"),
        }
    }
}

/// The quality of one capture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quality {
    /// Score 0–100, higher is better.
    pub score: u8,
    /// Foreground (finger) area in mm².
    pub area_mm2: f64,
    /// Mean orientation certainty of the foreground blocks, 0–1.
    pub clarity: f64,
    /// Mean grey-level standard deviation of the foreground blocks.
    pub contrast: f64,
    /// Why the capture is unusable, if it is.
    pub refusal: Option<Refusal>,
}

/// Measure the quality of a capture.
pub fn assess(image: &FingerImage) -> Quality {
    let dpi = f64::from(image.dpi());
    let block = ((BLOCK_500 * dpi / 500.0).round() as usize).max(4);
    let (width, height) = (image.width() as usize, image.height() as usize);
    let pixels = image.pixels();
    let mm_per_pixel = 25.4 / dpi;
    let mut n_foreground = 0usize;
    let mut clarity_sum = 0.0;
    let mut contrast_sum = 0.0;
    for by in 0..height / block {
        for bx in 0..width / block {
            let (x0, y0) = (bx * block, by * block);
            let (mut sum, mut sum2) = (0.0, 0.0);
            for y in y0..y0 + block {
                for &p in &pixels[y * width + x0..y * width + x0 + block] {
                    let p = f64::from(p);
                    sum += p;
                    sum2 += p * p;
                }
            }
            let n = (block * block) as f64;
            let stddev = (sum2 / n - (sum / n).powi(2)).max(0.0).sqrt();
            if stddev < FOREGROUND_STDDEV {
                continue;
            }
            // Orientation certainty from the gradient covariance (central differences inside
            // the block): 1 for perfectly parallel ridges, 0 for isotropic texture.
            let (mut gxx, mut gyy, mut gxy) = (0.0, 0.0, 0.0);
            for y in (y0 + 1).min(height - 1)..(y0 + block).min(height - 1) {
                for x in (x0 + 1).min(width - 1)..(x0 + block).min(width - 1) {
                    let gx =
                        f64::from(pixels[y * width + x + 1]) - f64::from(pixels[y * width + x - 1]);
                    let gy = f64::from(pixels[(y + 1) * width + x])
                        - f64::from(pixels[(y - 1) * width + x]);
                    gxx += gx * gx;
                    gyy += gy * gy;
                    gxy += gx * gy;
                }
            }
            let trace = gxx + gyy;
            let certainty = if trace > 0.0 {
                ((gxx - gyy).powi(2) + 4.0 * gxy * gxy).sqrt() / trace
            } else {
                0.0
            };
            n_foreground += 1;
            clarity_sum += certainty;
            contrast_sum += stddev;
        }
    }
    let block_mm2 = (block as f64 * mm_per_pixel).powi(2);
    let area_mm2 = n_foreground as f64 * block_mm2;
    if n_foreground == 0 {
        return Quality {
            score: 0,
            area_mm2: 0.0,
            clarity: 0.0,
            contrast: 0.0,
            refusal: Some(Refusal::NoFinger),
        };
    }
    let clarity = clarity_sum / n_foreground as f64;
    let contrast = contrast_sum / n_foreground as f64;
    let area_factor = (area_mm2 / FULL_AREA_MM2).min(1.0).sqrt();
    let clarity_factor = ((clarity - 0.15) / 0.5).clamp(0.0, 1.0);
    let contrast_factor = (contrast / 40.0).min(1.0);
    let score = (100.0 * area_factor * clarity_factor * contrast_factor.sqrt()).round() as u8;
    let refusal = if area_mm2 < MIN_AREA_MM2 {
        Some(Refusal::TooSmall { area_mm2 })
    } else if clarity < MIN_CLARITY {
        Some(Refusal::Unclear { clarity })
    } else if score < MIN_SCORE {
        Some(Refusal::LowScore { score })
    } else {
        None
    };
    Quality {
        score,
        area_mm2,
        clarity,
        contrast,
        refusal,
    }
}

/// Best-of-N: the index of the best usable capture (highest score, earliest on a tie), or the
/// refusal of each capture when none is usable (empty when there were no captures).
pub fn best_capture(qualities: &[Quality]) -> Result<usize, Vec<Refusal>> {
    let best = qualities
        .iter()
        .enumerate()
        .filter(|(_, q)| q.refusal.is_none())
        .max_by(|(i, a), (j, b)| a.score.cmp(&b.score).then(j.cmp(i)));
    match best {
        Some((index, _)) => Ok(index),
        None => Err(qualities.iter().filter_map(|q| q.refusal).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: u32, height: u32, mut pixel: impl FnMut(u32, u32) -> u8) -> FingerImage {
        let mut pixels = Vec::new();
        for y in 0..height {
            for x in 0..width {
                pixels.push(pixel(x, y));
            }
        }
        FingerImage::parse(width, height, 500, pixels).unwrap()
    }

    #[test]
    fn blank_platen_is_no_finger() {
        let quality = assess(&image(300, 400, |_, _| 230));
        assert_eq!(quality.refusal, Some(Refusal::NoFinger));
        assert_eq!(quality.score, 0);
    }

    #[test]
    fn parallel_ridges_are_clear_and_noise_is_not() {
        // Ridges with a 9-pixel period, like a 500-dpi print, over the whole image.
        let ridges = assess(&image(300, 400, |x, y| {
            let phase = (f64::from(x) * 0.8 + f64::from(y) * 0.6) * std::f64::consts::TAU / 9.0;
            (128.0 + 90.0 * phase.sin()) as u8
        }));
        assert!(ridges.clarity > 0.9, "{ridges:?}");
        assert!(ridges.score > 80, "{ridges:?}");
        assert_eq!(ridges.refusal, None);
        let mut state = 12345u32;
        let noise = assess(&image(300, 400, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        }));
        assert!(
            matches!(noise.refusal, Some(Refusal::Unclear { .. })),
            "{noise:?}"
        );
    }

    #[test]
    fn best_of_n_keeps_the_best_usable_capture() {
        let q = |score, refusal| Quality {
            score,
            area_mm2: 100.0,
            clarity: 0.5,
            contrast: 30.0,
            refusal,
        };
        let unclear = Some(Refusal::Unclear { clarity: 0.1 });
        assert_eq!(
            best_capture(&[q(40, None), q(90, unclear), q(60, None), q(60, None)]),
            Ok(2)
        );
        assert_eq!(
            best_capture(&[q(5, unclear)]),
            Err(vec![Refusal::Unclear { clarity: 0.1 }])
        );
        assert_eq!(best_capture(&[]), Err(vec![]));
    }
}
