//! Face detection with YuNet (OpenCV Zoo, MIT): boxes, a confidence and five landmarks per face
//! (the two eye centres, the nose tip and the two mouth corners), decoded as OpenCV's
//! `FaceDetectorYN` does: for strides 8, 16 and 32, score = sqrt(cls * obj), box centre and
//! landmarks as offsets in units of the stride, box size as exp(offset) * stride; then non-maximum
//! suppression.

use image::RgbImage;
use image::imageops::FilterType;

use crate::FaceError;
use crate::runtime::Model;

/// Default longest side of the image the detector sees; larger photos are downscaled first.
pub const DETECTOR_SIDE: u32 = 640;
/// Intersection over union above which two detections are the same face.
const NMS_IOU: f32 = 0.3;
const STRIDES: [usize; 3] = [8, 16, 32];

/// A point in the photo's pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Column, from the left edge.
    pub x: f32,
    /// Row, from the top edge.
    pub y: f32,
}

/// One detected face, in the photo's pixel coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Left edge of the box.
    pub left: f32,
    /// Top edge of the box.
    pub top: f32,
    /// Box width.
    pub width: f32,
    /// Box height.
    pub height: f32,
    /// Detector confidence, 0 to 1.
    pub score: f32,
    /// Eye centre on the left of the photo (the person's right eye), eye centre on the right of the
    /// photo, nose tip, mouth corner on the left of the photo, mouth corner on the right.
    pub landmarks: [Point; 5],
}

impl Detection {
    /// Distance between the eye centres in pixels.
    pub fn eye_distance(&self) -> f32 {
        let [a, b, ..] = self.landmarks;
        ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
    }

    fn iou(&self, other: &Detection) -> f32 {
        let x1 = self.left.max(other.left);
        let y1 = self.top.max(other.top);
        let x2 = (self.left + self.width).min(other.left + other.width);
        let y2 = (self.top + self.height).min(other.top + other.height);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.width * self.height + other.width * other.height - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// The YuNet detector.
#[derive(Debug)]
pub(crate) struct Detector {
    model: Model,
}

impl Detector {
    pub(crate) fn new(model: Model) -> Detector {
        Detector { model }
    }

    /// Every face scoring at least `min_score`, best first.
    pub(crate) fn detect(
        &self,
        photo: &RgbImage,
        min_score: f32,
        side: u32,
    ) -> Result<Vec<Detection>, FaceError> {
        let (width, height) = photo.dimensions();
        let longest = width.max(height);
        let (scaled, scale) = if longest > side {
            let scale = side as f32 / longest as f32;
            let w = ((width as f32 * scale).round() as u32).max(1);
            let h = ((height as f32 * scale).round() as u32).max(1);
            (
                image::imageops::resize(photo, w, h, FilterType::Triangle),
                scale,
            )
        } else {
            (photo.clone(), 1.0)
        };
        let (w, h) = (scaled.width() as usize, scaled.height() as usize);
        // The network needs sides that are multiples of 32; the padding is black, as in OpenCV.
        let (pw, ph) = (w.div_ceil(32) * 32, h.div_ceil(32) * 32);
        let mut input = vec![0f32; 3 * pw * ph];
        for (x, y, pixel) in scaled.enumerate_pixels() {
            let offset = y as usize * pw + x as usize;
            // YuNet was trained on OpenCV's BGR order, values 0-255.
            input[offset] = f32::from(pixel[2]);
            input[pw * ph + offset] = f32::from(pixel[1]);
            input[2 * pw * ph + offset] = f32::from(pixel[0]);
        }
        let outputs = self.model.run([1, 3, ph, pw], input)?;
        let output = |name: String, per_anchor: usize, anchors: usize| {
            let found = outputs
                .iter()
                .find(|o| o.name == name)
                .ok_or_else(|| FaceError::model(format!("detector has no output {name}")))?;
            if found.values.len() != anchors * per_anchor {
                return Err(FaceError::model(format!(
                    "detector output {name} has {} values, expected {}",
                    found.values.len(),
                    anchors * per_anchor
                )));
            }
            Ok(&found.values)
        };
        let mut found = Vec::new();
        for stride in STRIDES {
            let (cols, rows) = (pw / stride, ph / stride);
            let anchors = cols * rows;
            let cls = output(format!("cls_{stride}"), 1, anchors)?;
            let obj = output(format!("obj_{stride}"), 1, anchors)?;
            let bbox = output(format!("bbox_{stride}"), 4, anchors)?;
            let kps = output(format!("kps_{stride}"), 10, anchors)?;
            let s = stride as f32;
            for row in 0..rows {
                for col in 0..cols {
                    let idx = row * cols + col;
                    let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
                    if score < min_score {
                        continue;
                    }
                    let b = &bbox[idx * 4..idx * 4 + 4];
                    let cx = (col as f32 + b[0]) * s;
                    let cy = (row as f32 + b[1]) * s;
                    let bw = b[2].exp() * s;
                    let bh = b[3].exp() * s;
                    let k = &kps[idx * 10..idx * 10 + 10];
                    let landmark = |n: usize| Point {
                        x: (k[2 * n] + col as f32) * s / scale,
                        y: (k[2 * n + 1] + row as f32) * s / scale,
                    };
                    found.push(Detection {
                        left: (cx - bw / 2.0) / scale,
                        top: (cy - bh / 2.0) / scale,
                        width: bw / scale,
                        height: bh / scale,
                        score,
                        landmarks: [0, 1, 2, 3, 4].map(landmark),
                    });
                }
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::new();
        for detection in found {
            if kept.iter().all(|k| k.iou(&detection) <= NMS_IOU) {
                kept.push(detection);
            }
        }
        Ok(kept)
    }
}
