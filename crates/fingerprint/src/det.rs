//! DET curves (FNMR against FMR on logarithmic axes) drawn into a small PNG without a plotting
//! library: decade grid lines in gray, one coloured polyline per matcher.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::Error;
use crate::eval::operating_points;

/// Side of the square plot in pixels.
const SIZE: u32 = 600;
/// Margin around the plot area.
const MARGIN: u32 = 40;
/// Lowest rate shown: 1e-4. Rates of zero are drawn on this floor.
const FLOOR_DECADES: f64 = 4.0;

/// Colours of the curves in order: red, blue, green, orange.
pub const CURVE_COLOURS: [&str; 4] = ["red", "blue", "green", "orange"];
const RGB: [[u8; 3]; 4] = [[220, 30, 30], [30, 60, 220], [20, 150, 40], [240, 140, 0]];

/// Map a rate to a pixel offset along an axis (0 at 1e-4, plot width at 1).
fn position(rate: f64) -> f64 {
    let decades = rate.max(10f64.powf(-FLOOR_DECADES)).log10() + FLOOR_DECADES;
    decades / FLOOR_DECADES * f64::from(SIZE - 2 * MARGIN)
}

fn to_pixel(fmr: f64, fnmr: f64) -> (i64, i64) {
    let x = f64::from(MARGIN) + position(fmr);
    let y = f64::from(SIZE - MARGIN) - position(fnmr);
    (x.round() as i64, y.round() as i64)
}

fn put(image: &mut RgbImage, x: i64, y: i64, colour: [u8; 3]) {
    if (0..i64::from(SIZE)).contains(&x) && (0..i64::from(SIZE)).contains(&y) {
        image.put_pixel(x as u32, y as u32, Rgb(colour));
    }
}

/// Bresenham line, two pixels thick.
fn line(image: &mut RgbImage, from: (i64, i64), to: (i64, i64), colour: [u8; 3]) {
    let (mut x, mut y) = from;
    let dx = (to.0 - x).abs();
    let dy = -(to.1 - y).abs();
    let sx = if x < to.0 { 1 } else { -1 };
    let sy = if y < to.1 { 1 } else { -1 };
    let mut err = dx + dy;
    loop {
        put(image, x, y, colour);
        put(image, x + 1, y, colour);
        put(image, x, y + 1, colour);
        if (x, y) == to {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// Draw the DET curves of (genuine, impostor) score sets, in the order of [`CURVE_COLOURS`].
pub fn det_image(curves: &[(&[f64], &[f64])]) -> RgbImage {
    let mut image = RgbImage::from_pixel(SIZE, SIZE, Rgb([255, 255, 255]));
    let (low, high) = (i64::from(MARGIN), i64::from(SIZE - MARGIN));
    for decade in 0..=4 {
        let rate = 10f64.powi(-decade);
        let (x, y) = to_pixel(rate, rate);
        let shade = if decade == 0 || decade == 4 {
            [0, 0, 0]
        } else {
            [200, 200, 200]
        };
        line(&mut image, (x, low), (x, high), shade);
        line(&mut image, (low, y), (high, y), shade);
    }
    for (index, (genuine, impostor)) in curves.iter().enumerate() {
        let colour = RGB[index % RGB.len()];
        let points: Vec<(i64, i64)> = operating_points(genuine, impostor)
            .into_iter()
            .map(|(_, fmr, fnmr)| to_pixel(fmr, fnmr))
            .collect();
        for pair in points.windows(2) {
            line(&mut image, pair[0], pair[1], colour);
        }
    }
    image
}

/// Write the DET curves to a PNG file.
pub fn write_det_png(curves: &[(&[f64], &[f64])], path: &Path) -> Result<(), Error> {
    det_image(curves)
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Error::Io {
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_logarithmic() {
        assert_eq!(to_pixel(1.0, 1.0), (560, 40));
        assert_eq!(to_pixel(1e-4, 0.0), (40, 560));
        assert_eq!(to_pixel(1e-2, 1e-2), (300, 300));
    }

    #[test]
    fn curve_pixels_are_drawn() {
        let image = det_image(&[(&[0.5, 0.9], &[0.1, 0.6])]);
        let red = image.pixels().filter(|p| p.0 == RGB[0]).count();
        assert!(red > 100, "{red} red pixels");
    }
}
