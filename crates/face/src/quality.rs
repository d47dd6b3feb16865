//! Capture quality in the spirit of ISO/IEC 29794-5 and OFIQ: one measure per property, each
//! mapped to a 0-100 score, each failure with a sentence an officer can act on.
//!
//! Blocking failures (no face, several faces, a face too small to recognise, a head turned away)
//! refuse the capture; the others are shown so the officer can retake, and `acceptable_for_enrolment`
//! requires every check to pass.
//!
//! Measures on the photo: face count and inter-eye distance (from the detector), pose (roll from
//! the eye line, yaw from the nose tip's offset from the eyes' midpoint, pitch from the nose's drop
//! below the eye line, all in units of the eye distance). Measures on the aligned chip's face
//! region: brightness (mean luma), contrast (luma standard deviation), sharpness (mean absolute
//! Laplacian relative to contrast, so a dim but sharp face is not called blurred), lighting
//! evenness (left against right half) and eyes visible (detail in each eye patch against the face).

use image::RgbImage;
use serde::Serialize;

use crate::detect::Detection;

/// One quality property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    /// Exactly one face in the frame.
    FaceCount,
    /// Face size: distance between the eye centres in pixels.
    FaceSize,
    /// Head roll, yaw and pitch.
    Pose,
    /// Mean brightness of the face.
    Brightness,
    /// Contrast of the face.
    Contrast,
    /// Sharpness (no motion or focus blur).
    Sharpness,
    /// Even lighting across the face.
    LightingEvenness,
    /// Both eyes visible (not covered, not closed hard).
    EyesVisible,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What was measured.
    pub property: Property,
    /// The raw measure (unit depends on the property; see the module documentation).
    pub value: f32,
    /// 0 (unusable) to 100 (ideal).
    pub score: u8,
    /// Whether the check passed.
    pub passed: bool,
    /// A failure that refuses the capture outright.
    pub blocking: bool,
    /// What the officer should do, when it failed.
    pub reason: Option<String>,
}

/// Every check on one capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// Faces found in the photo.
    pub faces: usize,
    /// The checks, in [`Property`] order; only `FaceCount` when the count is not one.
    pub checks: Vec<Check>,
    /// The face the checks refer to (the only one), when there is one.
    #[serde(skip)]
    pub face: Option<Detection>,
}

impl QualityReport {
    /// Overall score: the lowest check score (a chain is as strong as its weakest link).
    pub fn score(&self) -> u8 {
        self.checks.iter().map(|c| c.score).min().unwrap_or(0)
    }

    /// No blocking failure: an embedding can be taken (verification, search).
    pub fn usable(&self) -> bool {
        self.faces == 1 && self.checks.iter().all(|c| c.passed || !c.blocking)
    }

    /// Every check passed: good enough to enrol.
    pub fn acceptable_for_enrolment(&self) -> bool {
        self.faces == 1 && self.checks.iter().all(|c| c.passed)
    }

    /// The reasons of the failed checks, blocking ones first.
    pub fn reasons(&self) -> Vec<String> {
        let mut failed: Vec<&Check> = self.checks.iter().filter(|c| !c.passed).collect();
        failed.sort_by_key(|c| !c.blocking);
        failed.iter().filter_map(|c| c.reason.clone()).collect()
    }
}

/// Thresholds of the checks.
pub(crate) mod limits {
    /// Fewest pixels between the eye centres to recognise a face at all.
    pub const MIN_EYE_DISTANCE_BLOCKING: f32 = 20.0;
    /// Fewest pixels between the eye centres for enrolment quality.
    pub const MIN_EYE_DISTANCE: f32 = 40.0;
    /// Largest head roll in degrees for enrolment.
    pub const MAX_ROLL_DEGREES: f32 = 15.0;
    /// Largest yaw ratio (nose offset / eye distance) for enrolment; about 20 degrees.
    pub const MAX_YAW_RATIO: f32 = 0.25;
    /// Beyond this yaw ratio the face is a profile: refused.
    pub const MAX_YAW_RATIO_BLOCKING: f32 = 0.6;
    /// Nose drop below the eye line, in eye distances, for a level head.
    pub const PITCH_RANGE: (f32, f32) = (0.25, 0.85);
    /// Mean face luma accepted.
    pub const BRIGHTNESS_RANGE: (f32, f32) = (60.0, 210.0);
    /// Smallest luma standard deviation on the face.
    pub const MIN_CONTRAST: f32 = 18.0;
    /// Smallest sharpness (mean |Laplacian| / luma standard deviation).
    pub const MIN_SHARPNESS: f32 = 0.16;
    /// Largest relative difference of the left and right halves' mean luma.
    pub const MAX_UNEVENNESS: f32 = 0.35;
    /// Smallest detail in an eye patch relative to the whole face.
    pub const MIN_EYE_DETAIL: f32 = 0.45;
}

fn score_linear(value: f32, zero_at: f32, full_at: f32) -> u8 {
    let t = (value - zero_at) / (full_at - zero_at);
    (t.clamp(0.0, 1.0) * 100.0).round() as u8
}

fn check(
    property: Property,
    value: f32,
    score: u8,
    passed: bool,
    blocking: bool,
    reason: impl FnOnce() -> String,
) -> Check {
    Check {
        property,
        value,
        score,
        passed,
        blocking: blocking && !passed,
        reason: (!passed).then(reason),
    }
}

/// The report when the count of faces is not one.
pub(crate) fn wrong_face_count(faces: usize) -> QualityReport {
    let reason = if faces == 0 {
        "no face found: the person must face the camera with the whole face in the frame"
            .to_string()
    } else {
        format!(
            "{faces} faces in the photo: only the person being photographed may be in the frame (no other people, posters or pictures behind them)"
        )
    };
    QualityReport {
        faces,
        checks: vec![Check {
            property: Property::FaceCount,
            value: faces as f32,
            score: 0,
            passed: false,
            blocking: true,
            reason: Some(reason),
        }],
        face: None,
    }
}

/// Luma of an RGB pixel (ITU-R BT.601).
fn luma(p: &image::Rgb<u8>) -> f32 {
    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
}

fn mean_std(values: &[f32]) -> (f32, f32) {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, var.sqrt())
}

/// Every check for the one face `face`, its aligned `chip` (dlib layout: the face region is the
/// central part, the eyes near rows 33 of 150).
pub(crate) fn assess(face: &Detection, chip: &RgbImage) -> QualityReport {
    use limits::*;
    let mut checks = vec![Check {
        property: Property::FaceCount,
        value: 1.0,
        score: 100,
        passed: true,
        blocking: false,
        reason: None,
    }];

    let eye_distance = face.eye_distance();
    checks.push(check(
        Property::FaceSize,
        eye_distance,
        score_linear(eye_distance, MIN_EYE_DISTANCE_BLOCKING, 2.0 * MIN_EYE_DISTANCE),
        eye_distance >= MIN_EYE_DISTANCE,
        eye_distance < MIN_EYE_DISTANCE_BLOCKING,
        || {
            format!(
                "face too small ({eye_distance:.0} pixels between the eyes, {MIN_EYE_DISTANCE:.0} needed): move the camera closer"
            )
        },
    ));

    let [left_eye, right_eye, nose, ..] = face.landmarks;
    let (dx, dy) = (right_eye.x - left_eye.x, right_eye.y - left_eye.y);
    let roll = dy.atan2(dx).to_degrees();
    let mid = (
        (left_eye.x + right_eye.x) / 2.0,
        (left_eye.y + right_eye.y) / 2.0,
    );
    let eye_len = eye_distance.max(1.0);
    // Nose offset along and across the eye line, in eye distances.
    let along = ((nose.x - mid.0) * dx + (nose.y - mid.1) * dy) / (eye_len * eye_len);
    let across = ((nose.y - mid.1) * dx - (nose.x - mid.0) * dy) / (eye_len * eye_len);
    let yaw = along.abs();
    let pitch_ok = (PITCH_RANGE.0..=PITCH_RANGE.1).contains(&across);
    let pose_ok = roll.abs() <= MAX_ROLL_DEGREES && yaw <= MAX_YAW_RATIO && pitch_ok;
    let pose_score = score_linear(roll.abs(), 2.0 * MAX_ROLL_DEGREES, 0.0).min(score_linear(
        yaw,
        2.0 * MAX_YAW_RATIO,
        0.0,
    ));
    checks.push(check(
        Property::Pose,
        yaw,
        pose_score,
        pose_ok,
        yaw > MAX_YAW_RATIO_BLOCKING || dx <= 0.0,
        || {
            if dx <= 0.0 {
                "face upside down or mirrored: hold the camera upright".to_string()
            } else if yaw > MAX_YAW_RATIO {
                "head turned to the side: ask the person to look straight at the camera".to_string()
            } else if roll.abs() > MAX_ROLL_DEGREES {
                format!(
                    "head tilted {:.0} degrees: ask the person to hold the head level",
                    roll.abs()
                )
            } else if across < PITCH_RANGE.0 {
                "head tilted up or down: ask the person to look straight at the camera".to_string()
            } else {
                "head tilted down: ask the person to raise the chin and look at the camera"
                    .to_string()
            }
        },
    ));

    // Face region of the chip: between the temples, from the brows to below the mouth.
    let side = chip.width() as f32;
    let region = |x0: f32, x1: f32, y0: f32, y1: f32| -> Vec<f32> {
        let mut values = Vec::new();
        for y in (y0 * side) as u32..(y1 * side) as u32 {
            for x in (x0 * side) as u32..(x1 * side) as u32 {
                values.push(luma(chip.get_pixel(x, y)));
            }
        }
        values
    };
    let face_luma = region(0.25, 0.75, 0.25, 0.8);
    let (brightness, contrast) = mean_std(&face_luma);
    checks.push(check(
        Property::Brightness,
        brightness,
        score_linear(brightness, 20.0, BRIGHTNESS_RANGE.0)
            .min(score_linear(brightness, 250.0, BRIGHTNESS_RANGE.1)),
        (BRIGHTNESS_RANGE.0..=BRIGHTNESS_RANGE.1).contains(&brightness),
        false,
        || {
            if brightness < BRIGHTNESS_RANGE.0 {
                "face too dark: move into the light or out of the shade; the light should fall on the face, not behind it".to_string()
            } else {
                "face too bright: move out of direct sun or away from the flash".to_string()
            }
        },
    ));
    checks.push(check(
        Property::Contrast,
        contrast,
        score_linear(contrast, 5.0, MIN_CONTRAST * 1.5),
        contrast >= MIN_CONTRAST,
        false,
        || "face washed out (low contrast): avoid strong light behind the person and haze on the lens".to_string(),
    ));

    // Mean absolute 4-neighbour Laplacian on the face region, relative to the contrast.
    let (x0, x1, y0, y1) = (
        (0.25 * side) as u32,
        (0.75 * side) as u32,
        (0.25 * side) as u32,
        (0.8 * side) as u32,
    );
    let mut laplacian = 0f32;
    let mut count = 0f32;
    for y in y0..y1 {
        for x in x0..x1 {
            let c = luma(chip.get_pixel(x, y));
            let l = luma(chip.get_pixel(x - 1, y))
                + luma(chip.get_pixel(x + 1, y))
                + luma(chip.get_pixel(x, y - 1))
                + luma(chip.get_pixel(x, y + 1))
                - 4.0 * c;
            laplacian += l.abs();
            count += 1.0;
        }
    }
    let sharpness = laplacian / count.max(1.0) / contrast.max(1.0);
    checks.push(check(
        Property::Sharpness,
        sharpness,
        score_linear(sharpness, MIN_SHARPNESS / 3.0, MIN_SHARPNESS * 1.5),
        sharpness >= MIN_SHARPNESS,
        false,
        || "photo blurred: hold the camera still, wait for the person (or the child) to be still, clean the lens".to_string(),
    ));

    let (left_mean, _) = mean_std(&region(0.25, 0.5, 0.25, 0.8));
    let (right_mean, _) = mean_std(&region(0.5, 0.75, 0.25, 0.8));
    let unevenness = (left_mean - right_mean).abs() / brightness.max(1.0);
    checks.push(check(
        Property::LightingEvenness,
        unevenness,
        score_linear(unevenness, 2.0 * MAX_UNEVENNESS, 0.0),
        unevenness <= MAX_UNEVENNESS,
        false,
        || "one side of the face in shadow: turn the person towards the light".to_string(),
    ));

    // Eye patches around the template eye centres (dlib chip: x 0.32 and 0.68, y 0.31).
    let (_, left_detail) = mean_std(&region(0.24, 0.40, 0.26, 0.37));
    let (_, right_detail) = mean_std(&region(0.60, 0.76, 0.26, 0.37));
    let eye_detail = left_detail.min(right_detail) / contrast.max(1.0);
    checks.push(check(
        Property::EyesVisible,
        eye_detail,
        score_linear(eye_detail, MIN_EYE_DETAIL / 3.0, MIN_EYE_DETAIL * 1.5),
        eye_detail >= MIN_EYE_DETAIL,
        false,
        || "eyes not clearly visible: remove glasses, hair or a hand from the eyes; the eyes must be open".to_string(),
    ));

    QualityReport {
        faces: 1,
        checks,
        face: Some(face.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Point;

    fn face(left_eye: (f32, f32), right_eye: (f32, f32), nose: (f32, f32)) -> Detection {
        let p = |(x, y): (f32, f32)| Point { x, y };
        Detection {
            left: 0.0,
            top: 0.0,
            width: 200.0,
            height: 200.0,
            score: 0.9,
            landmarks: [
                p(left_eye),
                p(right_eye),
                p(nose),
                p((80.0, 150.0)),
                p((120.0, 150.0)),
            ],
        }
    }

    fn textured_chip(level: u8) -> RgbImage {
        RgbImage::from_fn(150, 150, |x, y| {
            let v = if (x / 3 + y / 3) % 2 == 0 {
                level
            } else {
                level.saturating_add(60)
            };
            image::Rgb([v, v, v])
        })
    }

    fn check_of(report: &QualityReport, property: Property) -> &Check {
        report
            .checks
            .iter()
            .find(|c| c.property == property)
            .unwrap()
    }

    #[test]
    fn wrong_counts_are_blocking_with_the_count() {
        let none = wrong_face_count(0);
        assert!(!none.usable());
        assert!(none.reasons()[0].starts_with("no face found"));
        let three = wrong_face_count(3);
        assert!(three.reasons()[0].starts_with("3 faces in the photo"));
        assert_eq!(three.score(), 0);
    }

    #[test]
    fn frontal_face_passes_pose_and_turned_face_is_refused() {
        let chip = textured_chip(90);
        let frontal = assess(&face((60.0, 80.0), (140.0, 80.0), (100.0, 125.0)), &chip);
        assert!(check_of(&frontal, Property::Pose).passed, "{frontal:?}");
        let turned = assess(&face((60.0, 80.0), (140.0, 80.0), (160.0, 125.0)), &chip);
        let pose = check_of(&turned, Property::Pose);
        assert!(!pose.passed && pose.blocking, "{pose:?}");
        assert!(!turned.usable());
        let tilted = assess(&face((60.0, 60.0), (140.0, 110.0), (95.0, 130.0)), &chip);
        assert!(
            tilted.reasons().iter().any(|r| r.contains("tilted")),
            "{:?}",
            tilted.reasons()
        );
    }

    #[test]
    fn small_face_is_refused_and_flat_dark_chip_is_reported() {
        let report = assess(
            &face((60.0, 80.0), (75.0, 80.0), (67.0, 90.0)),
            &textured_chip(90),
        );
        assert!(!check_of(&report, Property::FaceSize).passed);
        assert!(!report.usable());
        let flat = RgbImage::from_pixel(150, 150, image::Rgb([20, 20, 20]));
        let report = assess(&face((60.0, 80.0), (140.0, 80.0), (100.0, 125.0)), &flat);
        for property in [
            Property::Brightness,
            Property::Contrast,
            Property::Sharpness,
        ] {
            assert!(!check_of(&report, property).passed, "{property:?}");
        }
        // Lighting problems are warnings: an embedding may still be taken.
        assert!(report.usable());
        assert!(!report.acceptable_for_enrolment());
    }
}
