//! Technology evaluation in the manner of ISO/IEC 19795-1 on a folder of `FINGER_IMPRESSION`
//! images (the FVC layout): failure-to-acquire and failure-to-enrol rates, genuine and impostor
//! score distributions, EER with a subset-bootstrap confidence interval, FNMR at fixed FMR,
//! timings, and a DET curve, for MCC and for the Bozorth3 reference matcher side by side.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::image::FingerImage;
use crate::mcc::{MccMatcher, MccTemplate};
use crate::quality::{Quality, assess};
use crate::template::{Template, ViewInfo};
use crate::{Error, MinutiaeRecord, extract};

/// Fewer minutiae than this and a sample counts as failed to acquire: neither matcher can
/// separate mates from strangers with so little (Bozorth3 itself refuses below 10).
pub const MIN_USABLE_MINUTIAE: usize = 12;

/// Which matchers to run and how.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Resolution of the images in dots per inch (569 for FVC2002 DB2).
    pub dpi: u16,
    /// Also score every pair with Bozorth3 (NIST NBIS) for comparison.
    pub bozorth3: bool,
    /// Bootstrap replicates for the EER confidence interval.
    pub bootstrap_replicates: usize,
    /// Seed of the bootstrap's random choices, so a report is reproducible.
    pub seed: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            dpi: 500,
            bozorth3: true,
            bootstrap_replicates: 1000,
            seed: 1,
        }
    }
}

/// Error rates and timings of one matcher.
#[derive(Clone, Debug)]
pub struct MatcherReport {
    /// Matcher name.
    pub name: &'static str,
    /// Genuine scores (same finger), one per pair; a pair with a failed sample scores 0.
    pub genuine: Vec<f64>,
    /// Impostor scores (different fingers).
    pub impostor: Vec<f64>,
    /// Equal error rate.
    pub eer: f64,
    /// 95 % confidence interval of the EER (subset bootstrap over fingers).
    pub eer_interval: (f64, f64),
    /// (target FMR, threshold, achieved FMR, FNMR) at FMR 1e-2, 1e-3, 1e-4.
    pub fnmr_at_fmr: Vec<(f64, f64, f64, f64)>,
    /// Mean time of one comparison, template preparation excluded, in microseconds.
    pub comparison_us: f64,
}

/// The result of [`evaluate`]; `Display` prints the report.
#[derive(Clone, Debug)]
pub struct EvalReport {
    /// The folder evaluated.
    pub dir: PathBuf,
    /// Images found.
    pub n_images: usize,
    /// Fingers found.
    pub n_fingers: usize,
    /// Images that could not be read or gave fewer than [`MIN_USABLE_MINUTIAE`] minutiae.
    pub failed_to_acquire: Vec<(PathBuf, String)>,
    /// Fingers none of whose images gave a usable template.
    pub failed_to_enrol: usize,
    /// Mean time to decode an image and extract its minutiae, in milliseconds.
    pub extraction_ms: f64,
    /// Quality of every readable image (the gate is reported, not applied: refused images are
    /// still compared, so the error rates are those of the matcher alone).
    pub qualities: Vec<(PathBuf, Quality)>,
    /// One report per matcher.
    pub matchers: Vec<MatcherReport>,
}

impl EvalReport {
    /// Write the DET curves of all matchers to a PNG, coloured in the order of
    /// [`crate::CURVE_COLOURS`] (MCC red, Bozorth3 blue).
    pub fn write_det_png(&self, path: &Path) -> Result<(), Error> {
        let curves: Vec<(&[f64], &[f64])> = self
            .matchers
            .iter()
            .map(|m| (m.genuine.as_slice(), m.impostor.as_slice()))
            .collect();
        crate::write_det_png(&curves, path)
    }

    /// Failure-to-acquire rate over images.
    pub fn fta(&self) -> f64 {
        ratio(self.failed_to_acquire.len(), self.n_images)
    }

    /// Failure-to-enrol rate over fingers.
    pub fn fte(&self) -> f64 {
        ratio(self.failed_to_enrol, self.n_fingers)
    }
}

fn ratio(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "evaluation of {}", self.dir.display())?;
        writeln!(
            f,
            "images {}, fingers {}, FTA {:.2} % ({}), FTE {:.2} % ({})",
            self.n_images,
            self.n_fingers,
            100.0 * self.fta(),
            self.failed_to_acquire.len(),
            100.0 * self.fte(),
            self.failed_to_enrol
        )?;
        for (path, reason) in &self.failed_to_acquire {
            writeln!(f, "  failed to acquire {}: {reason}", path.display())?;
        }
        writeln!(
            f,
            "extraction (decode + minutiae) {:.1} ms per image",
            self.extraction_ms
        )?;
        if !self.qualities.is_empty() {
            let scores: Vec<u8> = self.qualities.iter().map(|(_, q)| q.score).collect();
            let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64;
            writeln!(
                f,
                "quality (0-100): min {}, mean {mean:.1}, max {}; the quality gate would refuse {} (not applied)",
                scores.iter().min().unwrap_or(&0),
                scores.iter().max().unwrap_or(&0),
                self.qualities
                    .iter()
                    .filter(|(_, q)| q.refusal.is_some())
                    .count()
            )?;
            for (path, quality) in &self.qualities {
                if let Some(refusal) = quality.refusal {
                    writeln!(
                        f,
                        "  quality gate would refuse {}: {refusal}",
                        path.display()
                    )?;
                }
            }
        }
        for m in &self.matchers {
            writeln!(
                f,
                "{}: {} genuine, {} impostor pairs; EER {:.2} % (95 % CI {:.2}–{:.2} %); {:.1} µs per comparison",
                m.name,
                m.genuine.len(),
                m.impostor.len(),
                100.0 * m.eer,
                100.0 * m.eer_interval.0,
                100.0 * m.eer_interval.1,
                m.comparison_us
            )?;
            for &(target, threshold, fmr, fnmr) in &m.fnmr_at_fmr {
                // Rule of three: with n impostor pairs and no false match the 95 % upper bound
                // of the FMR is 3/n, so a target below that cannot be demonstrated.
                let note = if target * (m.impostor.len() as f64) < 3.0 {
                    format!(
                        " (not resolvable: {} impostor pairs bound FMR only to 3/n = {:.1e})",
                        m.impostor.len(),
                        3.0 / m.impostor.len() as f64
                    )
                } else {
                    String::new()
                };
                writeln!(
                    f,
                    "  FNMR at FMR {target:.0e}: {:.2} % (threshold {threshold:.4}, observed FMR {:.4} %){note}",
                    100.0 * fnmr,
                    100.0 * fmr
                )?;
            }
        }
        Ok(())
    }
}

/// One image of the folder.
struct Sample {
    finger: String,
    template: Option<Template>,
}

/// The finger and impression of a `FINGER_IMPRESSION.ext` file name, for image extensions.
fn parse_name(path: &Path) -> Option<(String, u32)> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if !matches!(ext.as_str(), "tif" | "tiff" | "png" | "bmp" | "wsq") {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let (finger, impression) = stem.rsplit_once('_')?;
    let impression = impression.parse().ok()?;
    (!finger.is_empty()).then(|| (finger.to_owned(), impression))
}

/// Evaluate the matchers on every `FINGER_IMPRESSION` image of `dir`: genuine pairs are all pairs
/// of impressions of one finger, impostor pairs all pairs of images of different fingers.
pub fn evaluate(dir: &Path, options: &EvalOptions) -> Result<EvalReport, Error> {
    evaluate_with(dir, options, &mut |image| {
        extract(image, ViewInfo::default())
    })
}

/// [`evaluate`] with another minutiae extractor (LEADER, or a new one under test).
pub fn evaluate_with(
    dir: &Path,
    options: &EvalOptions,
    extractor: &mut dyn FnMut(&FingerImage) -> Result<Template, Error>,
) -> Result<EvalReport, Error> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut named: Vec<(String, u32, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if let Some((finger, impression)) = parse_name(&path) {
            named.push((finger, impression, path));
        }
    }
    named.sort();
    if named.len() < 2 {
        return Err(Error::Evaluation {
            reason: format!(
                "{} holds fewer than two FINGER_IMPRESSION images",
                dir.display()
            ),
        });
    }
    let started = Instant::now();
    let mut samples = Vec::with_capacity(named.len());
    let mut failed_to_acquire = Vec::new();
    let mut qualities = Vec::new();
    for (finger, _, path) in named {
        let template = FingerImage::open(&path, options.dpi)
            .and_then(|image| {
                qualities.push((path.clone(), assess(&image)));
                extractor(&image)
            })
            .and_then(|t| {
                if t.minutiae().len() < MIN_USABLE_MINUTIAE {
                    Err(Error::Evaluation {
                        reason: format!("only {} minutiae", t.minutiae().len()),
                    })
                } else {
                    Ok(t)
                }
            });
        let template = match template {
            Ok(t) => Some(t),
            Err(e) => {
                failed_to_acquire.push((path.clone(), e.to_string()));
                None
            }
        };
        samples.push(Sample { finger, template });
    }
    let extraction_ms = started.elapsed().as_secs_f64() * 1000.0 / samples.len() as f64;
    let mut fingers: Vec<&str> = samples.iter().map(|s| s.finger.as_str()).collect();
    fingers.dedup();
    let failed_to_enrol = fingers
        .iter()
        .filter(|f| {
            samples
                .iter()
                .filter(|s| s.finger == **f)
                .all(|s| s.template.is_none())
        })
        .count();
    let finger_index: Vec<usize> = samples
        .iter()
        .map(|s| fingers.iter().position(|f| *f == s.finger).unwrap_or(0))
        .collect();
    let mut pairs = Vec::new();
    for i in 0..samples.len() {
        for j in (i + 1)..samples.len() {
            pairs.push((i, j));
        }
    }
    let mut matchers = Vec::new();
    let mcc: Vec<Option<MccTemplate>> = samples
        .iter()
        .map(|s| s.template.as_ref().map(MccTemplate::new))
        .collect();
    let mut matcher = MccMatcher::new();
    matchers.push(score_all(
        "MCC8b LSS-R (32 cylinders)",
        &pairs,
        &finger_index,
        options,
        |i, j| match (&mcc[i], &mcc[j]) {
            (Some(a), Some(b)) => Some(matcher.similarity(a, b)),
            _ => None,
        },
    ));
    if options.bozorth3 {
        let nbis: Vec<Option<Vec<fprint_bozorth3::Minutia>>> = samples
            .iter()
            .map(|s| s.template.as_ref().map(bozorth_minutiae))
            .collect();
        matchers.push(score_all(
            "Bozorth3 (NBIS)",
            &pairs,
            &finger_index,
            options,
            |i, j| match (&nbis[i], &nbis[j]) {
                (Some(a), Some(b)) => Some(f64::from(fprint_bozorth3::match_score(a, b))),
                _ => None,
            },
        ));
    }
    Ok(EvalReport {
        dir: dir.to_owned(),
        n_images: samples.len(),
        n_fingers: fingers.len(),
        failed_to_acquire,
        failed_to_enrol,
        extraction_ms,
        qualities,
        matchers,
    })
}

/// Minutiae in the NIST convention Bozorth3 was built for (origin bottom-left, MINDTCT's angle),
/// the exact inverse of the conversion in `extract`.
pub fn bozorth_minutiae(template: &Template) -> Vec<fprint_bozorth3::Minutia> {
    let height = i32::from(template.geometry().height());
    template
        .minutiae()
        .iter()
        .map(|m| {
            let degrees = (m.angle.degrees().round() as i32 + 180).rem_euclid(360);
            fprint_bozorth3::Minutia {
                x: i32::from(m.x),
                y: height - i32::from(m.y),
                theta: degrees,
            }
        })
        .collect()
}

fn score_all(
    name: &'static str,
    pairs: &[(usize, usize)],
    finger_index: &[usize],
    options: &EvalOptions,
    mut score: impl FnMut(usize, usize) -> Option<f64>,
) -> MatcherReport {
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    // Scores with their finger pair, for the bootstrap.
    let mut labelled = Vec::with_capacity(pairs.len());
    let mut compared = 0usize;
    let started = Instant::now();
    for &(i, j) in pairs {
        let value = score(i, j);
        compared += usize::from(value.is_some());
        // A pair with a failed sample cannot match: it counts as a rejection, never silently dropped.
        let value = value.unwrap_or(0.0);
        let (fi, fj) = (finger_index[i], finger_index[j]);
        if fi == fj {
            genuine.push(value);
        } else {
            impostor.push(value);
        }
        labelled.push((fi, fj, value));
    }
    let comparison_us = started.elapsed().as_secs_f64() * 1e6 / compared.max(1) as f64;
    let eer = equal_error_rate(&genuine, &impostor);
    let eer_interval = bootstrap_eer(&labelled, options);
    let fnmr_at_fmr = [1e-2, 1e-3, 1e-4]
        .iter()
        .map(|&target| {
            let (threshold, fmr, fnmr) = fnmr_at(&genuine, &impostor, target);
            (target, threshold, fmr, fnmr)
        })
        .collect();
    MatcherReport {
        name,
        genuine,
        impostor,
        eer,
        eer_interval,
        fnmr_at_fmr,
        comparison_us,
    }
}

/// FMR(t): share of impostor scores at or above t; FNMR(t): share of genuine scores below t.
fn rates(genuine: &[f64], impostor: &[f64], threshold: f64) -> (f64, f64) {
    let fm = impostor.iter().filter(|&&s| s >= threshold).count();
    let fnm = genuine.iter().filter(|&&s| s < threshold).count();
    (ratio(fm, impostor.len()), ratio(fnm, genuine.len()))
}

/// All (threshold, FMR, FNMR) operating points, thresholds ascending: one per distinct score plus
/// one above every score.
pub fn operating_points(genuine: &[f64], impostor: &[f64]) -> Vec<(f64, f64, f64)> {
    let mut thresholds: Vec<f64> = genuine.iter().chain(impostor).copied().collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    let above = thresholds.last().map_or(1.0, |t| t + 1.0);
    thresholds.push(above);
    // Sweep both sorted lists once instead of recounting per threshold.
    let mut g = genuine.to_vec();
    let mut i = impostor.to_vec();
    g.sort_by(f64::total_cmp);
    i.sort_by(f64::total_cmp);
    let (mut gi, mut ii) = (0, 0);
    thresholds
        .into_iter()
        .map(|t| {
            while gi < g.len() && g[gi] < t {
                gi += 1;
            }
            while ii < i.len() && i[ii] < t {
                ii += 1;
            }
            (t, ratio(i.len() - ii, i.len()), ratio(gi, g.len()))
        })
        .collect()
}

/// Equal error rate: at the threshold where FMR and FNMR are closest, their mean (the FVC
/// convention when the two curves cross between thresholds).
pub fn equal_error_rate(genuine: &[f64], impostor: &[f64]) -> f64 {
    let points = operating_points(genuine, impostor);
    // FMR falls and FNMR rises with the threshold: find where they cross.
    let mut best = (f64::INFINITY, 0.0);
    for window in points.windows(2) {
        let (_, fmr0, fnmr0) = window[0];
        let (_, fmr1, fnmr1) = window[1];
        for (fmr, fnmr) in [(fmr0, fnmr0), (fmr1, fnmr1)] {
            let gap = (fmr - fnmr).abs();
            if gap < best.0 {
                best = (gap, (fmr + fnmr) / 2.0);
            }
        }
        if fmr0 >= fnmr0 && fmr1 <= fnmr1 {
            // The crossing lies in this step: the EER is bounded by the step's rates.
            let low = fmr1.max(fnmr0);
            let high = fmr0.min(fnmr1);
            let eer = (low + high) / 2.0;
            let gap = (high - low).abs();
            if gap < best.0 {
                best = (gap, eer);
            }
        }
    }
    best.1
}

/// The lowest threshold whose FMR is at most `target`, with its FMR and FNMR.
pub fn fnmr_at(genuine: &[f64], impostor: &[f64], target: f64) -> (f64, f64, f64) {
    let points = operating_points(genuine, impostor);
    for &(t, fmr, fnmr) in &points {
        if fmr <= target {
            return (t, fmr, fnmr);
        }
    }
    let above = points.last().map_or(1.0, |p| p.0);
    let (fmr, fnmr) = rates(genuine, impostor, above);
    (above, fmr, fnmr)
}

/// 95 % interval of the EER by subset bootstrap: fingers are drawn with replacement and all the
/// pairs among the drawn fingers kept, which respects the correlation of scores that share a finger
/// (ISO/IEC 19795-1, Bolle et al.).
fn bootstrap_eer(labelled: &[(usize, usize, f64)], options: &EvalOptions) -> (f64, f64) {
    let n_fingers = labelled.iter().map(|l| l.0.max(l.1) + 1).max().unwrap_or(0);
    if n_fingers < 2 || options.bootstrap_replicates == 0 {
        return (0.0, 0.0);
    }
    let mut state = options.seed | 1;
    let mut next = move || {
        // xorshift64*: good enough to draw fingers.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut eers = Vec::with_capacity(options.bootstrap_replicates);
    let mut weight = vec![0usize; n_fingers];
    for _ in 0..options.bootstrap_replicates {
        weight.iter_mut().for_each(|w| *w = 0);
        for _ in 0..n_fingers {
            weight[(next() % n_fingers as u64) as usize] += 1;
        }
        let mut genuine = Vec::new();
        let mut impostor = Vec::new();
        for &(fi, fj, score) in labelled {
            let copies = if fi == fj {
                weight[fi]
            } else {
                weight[fi] * weight[fj]
            };
            let target = if fi == fj {
                &mut genuine
            } else {
                &mut impostor
            };
            target.extend(std::iter::repeat_n(score, copies));
        }
        if !genuine.is_empty() && !impostor.is_empty() {
            eers.push(equal_error_rate(&genuine, &impostor));
        }
    }
    eers.sort_by(f64::total_cmp);
    if eers.is_empty() {
        return (0.0, 0.0);
    }
    let at = |q: f64| eers[((eers.len() - 1) as f64 * q).round() as usize];
    (at(0.025), at(0.975))
}

/// Similarity of two fingerprints given as files (WSQ, PNG, TIFF, BMP images at `dpi`, or ISO 19794-2 /
/// ANSI 378 templates): the MCC score in [0, 1], higher meaning more alike.
pub fn match_files(a: &Path, b: &Path, dpi: u16) -> Result<f64, Error> {
    let a = MccTemplate::new(&load_template(a, dpi)?);
    let b = MccTemplate::new(&load_template(b, dpi)?);
    Ok(MccMatcher::new().similarity(&a, &b))
}

/// A template from a file: an ISO or ANSI record (first view), or an image to extract from.
pub fn load_template(path: &Path, dpi: u16) -> Result<Template, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if bytes.starts_with(b"FMR\0") {
        let record =
            MinutiaeRecord::decode_zero_padded(&bytes, crate::RecordFormat::Iso19794_2_2005)
                .or_else(|iso_error| {
                    MinutiaeRecord::decode_zero_padded(&bytes, crate::RecordFormat::Ansi378_2004)
                        .map_err(|_| iso_error)
                })?;
        return record
            .into_views()
            .into_iter()
            .next()
            .ok_or(Error::NoFingerViews);
    }
    extract(&FingerImage::decode(&bytes, dpi)?, ViewInfo::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eer_of_separated_and_overlapping_scores() {
        assert_eq!(equal_error_rate(&[0.8, 0.9], &[0.1, 0.2]), 0.0);
        // One genuine below one impostor out of four each: EER 25 %.
        let genuine = [0.15, 0.6, 0.7, 0.8];
        let impostor = [0.1, 0.2, 0.3, 0.65];
        assert_eq!(equal_error_rate(&genuine, &impostor), 0.25);
    }

    #[test]
    fn fnmr_at_fixed_fmr() {
        let genuine = [0.5, 0.6, 0.7, 0.8];
        let impostor = [0.1, 0.2, 0.3, 0.65];
        // FMR 0 needs a threshold above 0.65: genuine 0.5 and 0.6 are rejected.
        assert_eq!(fnmr_at(&genuine, &impostor, 0.0), (0.7, 0.0, 0.5));
        assert_eq!(fnmr_at(&genuine, &impostor, 0.25), (0.5, 0.25, 0.0));
    }

    #[test]
    fn names_follow_the_fvc_layout() {
        assert_eq!(
            parse_name(Path::new("d/101_3.tif")),
            Some(("101".to_owned(), 3))
        );
        assert_eq!(
            parse_name(Path::new("d/a_b_12.PNG")),
            Some(("a_b".to_owned(), 12))
        );
        assert_eq!(
            parse_name(Path::new("d/0042_1.wsq")),
            Some(("0042".to_owned(), 1))
        );
        assert_eq!(parse_name(Path::new("d/101.tif")), None);
        assert_eq!(parse_name(Path::new("d/101_1.txt")), None);
    }
}
