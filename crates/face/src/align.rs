//! Alignment: a similarity transform (rotation, uniform scale, shift) fitted by least squares from
//! the template's landmark positions to the detected landmarks, then the face chip sampled through it.
//!
//! The dlib model expects dlib's 150x150 chip with padding 0.25. dlib places the four eye corners
//! and the nose base; YuNet gives eye centres, so the template uses the midpoints of dlib's eye
//! corners and only the eyes are fitted (the nose tip and mouth corners are not points dlib's
//! template has). ArcFace-style 512-d models use the common 112x112 five-point template instead.

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use crate::detect::{Detection, Point};

/// Where the landmarks go in the chip a model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChipTemplate {
    /// dlib's 150x150 face chip, padding 0.25 (dlib_face_recognition_resnet_model_v1).
    #[default]
    Dlib150,
    /// The 112x112 five-point template of InsightFace ArcFace models.
    Arcface112,
}

impl ChipTemplate {
    /// Side of the square chip in pixels.
    pub fn side(self) -> u32 {
        match self {
            ChipTemplate::Dlib150 => 150,
            ChipTemplate::Arcface112 => 112,
        }
    }

    /// Template positions of the landmarks used, with the index of the detector landmark each one matches.
    fn targets(self) -> Vec<(usize, Point)> {
        match self {
            ChipTemplate::Dlib150 => {
                // dlib's mean-face eye corners (get_face_chip_details, five-point case), averaged
                // per eye, then padded: (padding + p) / (1 + 2 * padding) * size.
                let padding = 0.25;
                let place = |x: f64, y: f64| Point {
                    x: ((padding + x) / (1.0 + 2.0 * padding) * 150.0) as f32,
                    y: ((padding + y) / (1.0 + 2.0 * padding) * 150.0) as f32,
                };
                let left_eye = place(
                    (0.120_575_062_078_9 + 0.334_085_061_371_2) / 2.0,
                    (0.213_727_452_684_8 + 0.229_064_240_324_2) / 2.0,
                );
                let right_eye = place(
                    (0.859_567_459_599_2 + 0.646_060_476_410_4) / 2.0,
                    (0.213_498_153_801_4 + 0.228_967_438_767_7) / 2.0,
                );
                vec![(0, left_eye), (1, right_eye)]
            }
            ChipTemplate::Arcface112 => [
                (38.2946, 51.6963),
                (73.5318, 51.5014),
                (56.0252, 71.7366),
                (41.5493, 92.3655),
                (70.7299, 92.2041),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, (x, y))| (i, Point { x, y }))
            .collect(),
        }
    }
}

/// A similarity transform `p -> [a -b; b a] p + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Similarity {
    a: f32,
    b: f32,
    tx: f32,
    ty: f32,
}

impl Similarity {
    /// The least-squares similarity taking each `from` point to its `to` point.
    pub(crate) fn fit(pairs: &[(Point, Point)]) -> Similarity {
        let n = pairs.len().max(1) as f32;
        let (mut fx, mut fy, mut tx, mut ty) = (0.0, 0.0, 0.0, 0.0);
        for (from, to) in pairs {
            fx += from.x;
            fy += from.y;
            tx += to.x;
            ty += to.y;
        }
        let (fx, fy, tx, ty) = (fx / n, fy / n, tx / n, ty / n);
        let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
        for (from, to) in pairs {
            let (px, py) = (from.x - fx, from.y - fy);
            let (qx, qy) = (to.x - tx, to.y - ty);
            dot += px * qx + py * qy;
            cross += px * qy - py * qx;
            norm += px * px + py * py;
        }
        let (a, b) = if norm > 0.0 {
            (dot / norm, cross / norm)
        } else {
            (1.0, 0.0)
        };
        Similarity {
            a,
            b,
            tx: tx - (a * fx - b * fy),
            ty: ty - (b * fx + a * fy),
        }
    }

    pub(crate) fn apply(&self, p: Point) -> Point {
        Point {
            x: self.a * p.x - self.b * p.y + self.tx,
            y: self.b * p.x + self.a * p.y + self.ty,
        }
    }

    /// How many source pixels one destination pixel spans.
    pub(crate) fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// Cut the aligned chip for `detection` out of `photo`.
pub fn face_chip(photo: &RgbImage, detection: &Detection, template: ChipTemplate) -> RgbImage {
    let pairs: Vec<(Point, Point)> = template
        .targets()
        .into_iter()
        .map(|(index, target)| (target, detection.landmarks[index]))
        .collect();
    // Chip coordinates to photo coordinates.
    let to_photo = Similarity::fit(&pairs);
    let side = template.side();
    // When a chip pixel spans several photo pixels, average a grid of samples inside it (dlib
    // downsamples with an image pyramid first, to the same end: no aliasing).
    let samples = to_photo.scale().ceil().clamp(1.0, 4.0) as u32;
    let step = 1.0 / samples as f32;
    RgbImage::from_fn(side, side, |u, v| {
        let mut sum = [0f32; 3];
        for i in 0..samples {
            for j in 0..samples {
                let p = to_photo.apply(Point {
                    x: u as f32 + (i as f32 + 0.5) * step - 0.5,
                    y: v as f32 + (j as f32 + 0.5) * step - 0.5,
                });
                let value = bilinear(photo, p.x, p.y);
                for c in 0..3 {
                    sum[c] += value[c];
                }
            }
        }
        let count = (samples * samples) as f32;
        Rgb(sum.map(|s| (s / count).round().clamp(0.0, 255.0) as u8))
    })
}

/// Bilinear sample; outside the photo is black, as in dlib's chips.
fn bilinear(photo: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (photo.width() as i64, photo.height() as i64);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let get = |xx: i64, yy: i64| -> [f32; 3] {
        if xx < 0 || yy < 0 || xx >= w || yy >= h {
            [0.0; 3]
        } else {
            let p = photo.get_pixel(xx as u32, yy as u32);
            [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
        }
    };
    let (p00, p10, p01, p11) = (
        get(x0, y0),
        get(x0 + 1, y0),
        get(x0, y0 + 1),
        get(x0 + 1, y0 + 1),
    );
    let mut out = [0f32; 3];
    for c in 0..3 {
        let top = p00[c] * (1.0 - fx) + p10[c] * fx;
        let bottom = p01[c] * (1.0 - fx) + p11[c] * fx;
        out[c] = top * (1.0 - fy) + bottom * fy;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_similarity() {
        let truth = Similarity {
            a: 1.2 * 0.3f32.cos(),
            b: 1.2 * 0.3f32.sin(),
            tx: 15.0,
            ty: -4.0,
        };
        let points =
            [(0.0, 0.0), (10.0, 3.0), (4.0, 20.0), (-7.0, 5.0)].map(|(x, y)| Point { x, y });
        let pairs: Vec<_> = points.iter().map(|&p| (p, truth.apply(p))).collect();
        let fitted = Similarity::fit(&pairs);
        for (from, to) in pairs {
            let got = fitted.apply(from);
            assert!((got.x - to.x).abs() < 1e-3 && (got.y - to.y).abs() < 1e-3);
        }
    }

    #[test]
    fn chip_puts_the_eyes_on_the_template() {
        // A photo whose pixel colour encodes its coordinates; the chip sampled at the template's
        // eye positions must show the colours at the detected eye positions.
        let photo = RgbImage::from_fn(400, 400, |x, y| Rgb([(x / 2) as u8, (y / 2) as u8, 0]));
        let eye = |x, y| Point { x, y };
        let detection = Detection {
            left: 100.0,
            top: 100.0,
            width: 200.0,
            height: 200.0,
            score: 1.0,
            landmarks: [
                eye(150.0, 180.0),
                eye(250.0, 180.0),
                eye(200.0, 230.0),
                eye(160.0, 270.0),
                eye(240.0, 270.0),
            ],
        };
        let chip = face_chip(&photo, &detection, ChipTemplate::Dlib150);
        for (index, target) in ChipTemplate::Dlib150.targets() {
            let pixel = chip.get_pixel(target.x.round() as u32, target.y.round() as u32);
            let expected = detection.landmarks[index];
            assert!(
                (f32::from(pixel[0]) - expected.x / 2.0).abs() <= 2.0,
                "{pixel:?} {expected:?}"
            );
            assert!(
                (f32::from(pixel[1]) - expected.y / 2.0).abs() <= 2.0,
                "{pixel:?} {expected:?}"
            );
        }
    }
}
