//! Synthetic fingers at the minutiae level, for measuring the 1:N index at population scale: a
//! ridge-orientation field from the zero-pole model of Sherlock and Monro (1993) with singular
//! points placed by pattern class at the classes' population frequencies, minutiae spread over an
//! elliptical print with a minimum spacing, each pointing along the local ridge flow (either way,
//! as ridge endings and bifurcations do). Two synthetic fingers are strangers. [`impression`] makes
//! mates: another impression of a real finger from its minutiae (placement, skin distortion,
//! extraction noise, missed and spurious minutiae, cropping). Deterministic: a seed gives one
//! finger or one impression.
//!
//! This is an evaluation tool, not a model of any population: how close its strangers are to real
//! ones is measured (`examples/synth_check.rs`), not assumed.

use std::f32::consts::{PI, TAU};

use crate::Error;
use crate::template::{Angle, ImageGeometry, Minutia, MinutiaKind, Template, ViewInfo};

/// Small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x243F_6A88_85A3_08D3)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.unit().max(1e-7);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
    }
}

/// Pattern classes with their frequencies in NIST's natural distribution (Wilson, Candela,
/// Watson 1994): whorl 27.9 %, left loop 33.8 %, right loop 31.7 %, arch 3.7 %, tented arch 2.9 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternClass {
    Whorl,
    LeftLoop,
    RightLoop,
    Arch,
    TentedArch,
}

impl PatternClass {
    fn draw(rng: &mut Rng) -> PatternClass {
        let u = rng.unit();
        if u < 0.279 {
            PatternClass::Whorl
        } else if u < 0.617 {
            PatternClass::LeftLoop
        } else if u < 0.934 {
            PatternClass::RightLoop
        } else if u < 0.971 {
            PatternClass::Arch
        } else {
            PatternClass::TentedArch
        }
    }
}

/// Settings of the generator (500-dpi pixels, radians).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SynthParams {
    /// Mean number of minutiae of a print (MINDTCT finds about 52 on FVC2002 DB2_B).
    pub mean_minutiae: f32,
    /// Standard deviation of that number.
    pub sd_minutiae: f32,
    /// No two minutiae closer than this.
    pub min_spacing: f32,
    /// Standard deviation of a minutia's direction around the ridge flow.
    pub direction_noise: f32,
    /// Largest amplitude of each of the field's three low-frequency waves.
    pub wave_amplitude: f32,
    /// Largest tilt of the finger on the scanner, either way.
    pub tilt: f32,
    /// Image width and height.
    pub width: u16,
    pub height: u16,
    /// Print ellipse semi-axes as a multiple of the default (105–150 × 150–215 px).
    pub print_scale: f32,
    /// How much minutia quality falls towards the print's edge (0: uniform 20–100; 1: 100 at the
    /// centre to 0 at the edge, plus noise), as MINDTCT's quality falls where the image is worse.
    pub quality_centrality: f32,
    /// Probability that a minutia points against the sense its neighbours share. Real minutiae
    /// along parallel ridges point the same way more often than not: on FVC2002 DB2_B a
    /// neighbour's bit lands in the cylinder's same-direction sections 1.5 times as often as in the
    /// opposite ones, which a flip probability of 0.28 reproduces (0.5 would make them equal).
    pub sense_flip: f32,
    /// How unevenly minutiae are spread: the log of the density varies by this much (a smooth
    /// random field of wavelength 60–200 px); 0 spreads them evenly.
    pub clustering: f32,
}

impl Default for SynthParams {
    fn default() -> SynthParams {
        SynthParams {
            mean_minutiae: 52.0,
            sd_minutiae: 12.0,
            min_spacing: 9.0,
            direction_noise: 0.12,
            wave_amplitude: 0.15,
            tilt: 0.35,
            width: 400,
            height: 560,
            print_scale: 1.0,
            quality_centrality: 1.0,
            sense_flip: 0.28,
            clustering: 0.0,
        }
    }
}

impl SynthParams {
    /// Parse `name=value,name=value` over the defaults (names as the fields).
    pub fn from_spec(spec: &str) -> Result<SynthParams, Error> {
        let mut params = SynthParams::default();
        for item in spec.split(',').filter(|s| !s.trim().is_empty()) {
            let bad = || Error::Evaluation {
                reason: format!("synthetic finger setting {item:?}: expected name=number"),
            };
            let (name, value) = item.split_once('=').ok_or_else(bad)?;
            let value: f32 = value.trim().parse().map_err(|_| bad())?;
            match name.trim() {
                "mean_minutiae" => params.mean_minutiae = value,
                "sd_minutiae" => params.sd_minutiae = value,
                "min_spacing" => params.min_spacing = value,
                "direction_noise" => params.direction_noise = value,
                "wave_amplitude" => params.wave_amplitude = value,
                "tilt" => params.tilt = value,
                "width" => params.width = value as u16,
                "height" => params.height = value as u16,
                "print_scale" => params.print_scale = value,
                "quality_centrality" => params.quality_centrality = value,
                "sense_flip" => params.sense_flip = value,
                "clustering" => params.clustering = value,
                _ => return Err(bad()),
            }
        }
        Ok(params)
    }
}

/// A ridge orientation field (radians, modulo π) in a y-up frame centred on the print.
#[derive(Clone, Debug)]
struct Field {
    cores: Vec<(f32, f32)>,
    deltas: Vec<(f32, f32)>,
    base: f32,
    /// Low-frequency perturbation: (amplitude, kx, ky, phase).
    waves: Vec<(f32, f32, f32, f32)>,
}

impl Field {
    fn draw(class: PatternClass, rng: &mut Rng, wave_amplitude: f32) -> Field {
        let core = (rng.range(-30.0, 30.0), rng.range(0.0, 60.0));
        let (cores, deltas) = match class {
            PatternClass::LeftLoop | PatternClass::RightLoop => {
                let side = if class == PatternClass::LeftLoop {
                    1.0
                } else {
                    -1.0
                };
                let delta = (
                    core.0 + side * rng.range(60.0, 130.0),
                    core.1 - rng.range(80.0, 160.0),
                );
                (vec![core], vec![delta])
            }
            PatternClass::Whorl => {
                let half = rng.range(5.0, 25.0);
                let tilt = rng.range(0.0, PI);
                let (s, c) = tilt.sin_cos();
                (
                    vec![
                        (core.0 + half * c, core.1 + half * s),
                        (core.0 - half * c, core.1 - half * s),
                    ],
                    vec![
                        (
                            core.0 - rng.range(80.0, 140.0),
                            core.1 - rng.range(70.0, 150.0),
                        ),
                        (
                            core.0 + rng.range(80.0, 140.0),
                            core.1 - rng.range(70.0, 150.0),
                        ),
                    ],
                )
            }
            PatternClass::TentedArch => (
                vec![core],
                vec![(
                    core.0 + rng.range(-10.0, 10.0),
                    core.1 - rng.range(40.0, 90.0),
                )],
            ),
            PatternClass::Arch => {
                // A core and a delta far below the print bend the ridges into an arch.
                let x = rng.range(-20.0, 20.0);
                (vec![(x, -260.0)], vec![(x, -320.0)])
            }
        };
        let waves = (0..3)
            .map(|_| {
                let wavelength = rng.range(150.0, 400.0);
                let direction = rng.range(0.0, TAU);
                (
                    rng.range(0.0, wave_amplitude),
                    direction.cos() * TAU / wavelength,
                    direction.sin() * TAU / wavelength,
                    rng.range(0.0, TAU),
                )
            })
            .collect();
        Field {
            cores,
            deltas,
            base: rng.range(-0.25, 0.25),
            waves,
        }
    }

    /// Ridge orientation at (x, y), radians modulo π.
    fn orientation(&self, x: f32, y: f32) -> f32 {
        let mut theta = self.base;
        for &(cx, cy) in &self.cores {
            theta += 0.5 * (y - cy).atan2(x - cx);
        }
        for &(dx, dy) in &self.deltas {
            theta -= 0.5 * (y - dy).atan2(x - dx);
        }
        for &(amplitude, kx, ky, phase) in &self.waves {
            theta += amplitude * (kx * x + ky * y + phase).sin();
        }
        theta
    }
}

/// One synthetic finger: a template of minutiae at 500 dpi.
pub fn finger(seed: u64, params: &SynthParams) -> Result<Template, Error> {
    let mut rng = Rng::new(seed);
    let class = PatternClass::draw(&mut rng);
    let field = Field::draw(class, &mut rng, params.wave_amplitude);
    // The print: an ellipse, slightly rotated, inside the image.
    let semi_x = params.print_scale * rng.range(105.0, 150.0);
    let semi_y = params.print_scale * rng.range(150.0, 215.0);
    let tilt = rng.range(-params.tilt, params.tilt);
    let (ts, tc) = tilt.sin_cos();
    let count = (params.mean_minutiae + params.sd_minutiae * rng.normal())
        .round()
        .clamp(12.0, 120.0) as usize;
    let (width, height) = (f32::from(params.width), f32::from(params.height));
    let centre = (width / 2.0, height / 2.0);
    let inside = |x: f32, y: f32| {
        let (rx, ry) = (x * tc - y * ts, x * ts + y * tc);
        let (ix, iy) = (centre.0 + rx, centre.1 - ry);
        (ix >= 0.0 && iy >= 0.0 && ix < width && iy < height).then_some((ix, iy))
    };
    // Density field: log-density = clustering × (mean of four random waves), at most 0 after the
    // shift, so a point is kept with probability exp(clustering × (g − 1)).
    let density_waves: Vec<(f32, f32, f32)> = (0..4)
        .map(|_| {
            let wavelength = rng.range(60.0, 200.0);
            let direction = rng.range(0.0, TAU);
            (
                direction.cos() * TAU / wavelength,
                direction.sin() * TAU / wavelength,
                rng.range(0.0, TAU),
            )
        })
        .collect();
    let keep = |x: f32, y: f32, u: f32| {
        let g = density_waves
            .iter()
            .map(|&(kx, ky, phase)| (kx * x + ky * y + phase).sin())
            .sum::<f32>()
            / density_waves.len() as f32;
        u < (params.clustering * (g - 1.0)).exp()
    };
    let mut points: Vec<(f32, f32)> = Vec::with_capacity(count);
    let mut attempts = 0;
    while points.len() < count && attempts < 400 * count {
        attempts += 1;
        let (u, v) = (rng.range(-1.0, 1.0), rng.range(-1.0, 1.0));
        if u * u + v * v > 1.0 {
            continue;
        }
        let (x, y) = (u * semi_x, v * semi_y);
        if !keep(x, y, rng.unit()) {
            continue;
        }
        if points
            .iter()
            .any(|&(px, py)| (px - x).powi(2) + (py - y).powi(2) < params.min_spacing.powi(2))
        {
            continue;
        }
        points.push((x, y));
    }
    let mut minutiae = Vec::with_capacity(points.len());
    for (x, y) in points {
        let ridge = field.orientation(x, y);
        // The shared sense: the way of the ridge that points away from the print's centre, then
        // flipped for some minutiae.
        let along = ridge.cos() * x + ridge.sin() * y >= 0.0;
        let against = rng.unit() < params.sense_flip;
        let flip = if along != against { 0.0 } else { PI };
        let direction = ridge + flip + params.direction_noise * rng.normal() + tilt;
        // Rotate the print by its tilt, then to image coordinates (y down).
        let Some((ix, iy)) = inside(x, y) else {
            continue;
        };
        let edge = ((x / semi_x).powi(2) + (y / semi_y).powi(2)).min(1.0);
        let uniform = 20.0 + 80.0 * rng.unit();
        let central = 100.0 * (1.0 - edge) + 12.0 * rng.normal();
        let quality = (params.quality_centrality * central
            + (1.0 - params.quality_centrality) * uniform)
            .clamp(1.0, 100.0);
        minutiae.push(Minutia {
            x: ix as u16,
            y: iy as u16,
            angle: Angle::from_degrees(f64::from(direction.rem_euclid(TAU).to_degrees())),
            kind: if rng.unit() < 0.5 {
                MinutiaKind::RidgeEnding
            } else {
                MinutiaKind::Bifurcation
            },
            quality: quality as u8,
        });
    }
    Template::parse(
        ImageGeometry::from_dpi(params.width, params.height, 500)?,
        ViewInfo::default(),
        minutiae,
        vec![],
    )
}

/// A real template seen in a mirror (x reflected, directions reflected): a print with real local
/// structure that matches no real finger, for checking how realistic synthetic strangers are.
pub fn mirrored(template: &Template) -> Result<Template, Error> {
    let geometry = template.geometry();
    let minutiae = template
        .minutiae()
        .iter()
        .map(|m| Minutia {
            x: geometry.width() - 1 - m.x,
            angle: Angle::from_degrees(180.0 - m.angle.degrees()),
            ..*m
        })
        .collect();
    Template::parse(
        geometry,
        template.info(),
        minutiae,
        template.extended().to_vec(),
    )
}

/// Settings of [`impression`] (500-dpi pixels, degrees, probabilities). Real impressions range
/// from nearly the same as the enrolled one to barely overlapping and smudged, so each impression
/// draws a severity uniform in [0, 1] that scales the translation, the skin distortion and the
/// missed and spurious minutiae: the settings are the severest impression's.
#[derive(Clone, Debug, PartialEq)]
pub struct Distortion {
    /// Placement: rotation uniform in ±this, degrees.
    pub rotation: f32,
    /// Placement: translation uniform in ±this share of the image's width (height) along x (y).
    pub translation: f32,
    /// Skin distortion (the plastic model of Cappelli, Maio and Maltoni, 2001): the region
    /// farther than `free_radius` from the contact centre is turned by up to ±this, degrees…
    pub plastic_rotation: f32,
    /// …and moved by up to this, pixels, fading in between `contact_radius` and `free_radius`.
    pub plastic_shift: f32,
    /// Radius of the undistorted contact region, pixels.
    pub contact_radius: f32,
    /// Radius beyond which the distortion is complete, pixels.
    pub free_radius: f32,
    /// Extraction noise: standard deviation of a minutia's position, pixels…
    pub position_sd: f32,
    /// …and of its direction, degrees.
    pub direction_sd: f32,
    /// Share of the minutiae the extractor misses (more of the low-quality ones).
    pub missed: f32,
    /// Spurious minutiae added, as a share of the minutiae kept.
    pub spurious: f32,
    /// Share of the minutiae whose kind is read the other way (ending for bifurcation).
    pub kind_flip: f32,
}

impl Default for Distortion {
    /// Settings whose genuine MCC scores are close to those of real later impressions of optical
    /// 500-dpi sensors at the 10th percentile and lower at the 25th and 50th
    /// (`examples/distortion_check.rs` prints both; figures in `BENCHMARKS.md`).
    fn default() -> Distortion {
        Distortion {
            rotation: 20.0,
            translation: 0.3,
            plastic_rotation: 8.0,
            plastic_shift: 15.0,
            contact_radius: 60.0,
            free_radius: 200.0,
            position_sd: 4.0,
            direction_sd: 8.0,
            missed: 0.5,
            spurious: 0.5,
            kind_flip: 0.1,
        }
    }
}

/// Another impression of the finger `template` was taken from, as a scanner and extractor would
/// give it: placed with another rotation and translation, the skin distorted away from the
/// contact centre, positions and directions perturbed, some minutiae missed and some spurious
/// ones added, and what falls outside the image cropped. Deterministic for a seed.
///
/// `Error` if nothing is left inside the image (which the caller may treat as a failure to
/// capture).
pub fn impression(template: &Template, seed: u64, d: &Distortion) -> Result<Template, Error> {
    let mut rng = Rng::new(seed ^ 0x1D15_7047_0000_0001);
    let severity = rng.unit();
    let geometry = template.geometry();
    let (width, height) = (f32::from(geometry.width()), f32::from(geometry.height()));
    // Pixels of this image per 500-dpi pixel.
    let scale = geometry.dpi() as f32 / 500.0;
    let minutiae = template.minutiae();
    let n = minutiae.len() as f32;
    let (cx, cy) = minutiae.iter().fold((0.0, 0.0), |(x, y), m| {
        (x + f32::from(m.x) / n, y + f32::from(m.y) / n)
    });
    // Contact centre near the centre of the minutiae.
    let contact = (
        cx + rng.range(-30.0, 30.0) * scale,
        cy + rng.range(-30.0, 30.0) * scale,
    );
    let plastic_turn = severity
        * rng
            .range(-d.plastic_rotation, d.plastic_rotation)
            .to_radians();
    let plastic_shift = (
        severity * rng.range(-d.plastic_shift, d.plastic_shift) * scale,
        severity * rng.range(-d.plastic_shift, d.plastic_shift) * scale,
    );
    let turn = rng.range(-d.rotation, d.rotation).to_radians();
    let shift = (
        severity * rng.range(-d.translation, d.translation) * width,
        severity * rng.range(-d.translation, d.translation) * height,
    );
    let (r1, r2) = (d.contact_radius * scale, d.free_radius * scale);
    // Share of the plastic distortion at distance r from the contact centre (smooth brake).
    let brake = |r: f32| {
        if r <= r1 {
            0.0
        } else if r >= r2 {
            1.0
        } else {
            let t = (r - r1) / (r2 - r1);
            t * t * (3.0 - 2.0 * t)
        }
    };
    // Placement turns about the image centre.
    let centre = (width / 2.0, height / 2.0);
    let (ps, pc) = plastic_turn.sin_cos();
    let (ts, tc) = turn.sin_cos();
    let mut out: Vec<Minutia> = Vec::with_capacity(minutiae.len() + 8);
    for m in minutiae {
        // Low-quality minutiae are missed more often (quality 0 means "not reported").
        let q = if m.quality == 0 {
            60.0
        } else {
            f32::from(m.quality)
        };
        let missed = (severity * d.missed * (1.5 - q / 100.0)).clamp(0.0, 0.95);
        if rng.unit() < missed {
            continue;
        }
        let (x, y) = (f32::from(m.x), f32::from(m.y));
        // Plastic distortion about the contact centre, faded in with the distance.
        let (dx, dy) = (x - contact.0, y - contact.1);
        let k = brake((dx * dx + dy * dy).sqrt());
        let (px, py) = (
            contact.0 + dx * pc - dy * ps + plastic_shift.0,
            contact.1 + dx * ps + dy * pc + plastic_shift.1,
        );
        let (x, y) = (x + k * (px - x), y + k * (py - y));
        // Placement, then extraction noise. Image y points down, so a turn by `turn` on the
        // image is a turn by −`turn` of the (counter-clockwise) minutia direction.
        let (ux, uy) = (x - centre.0, y - centre.1);
        let x = centre.0 + ux * tc - uy * ts + shift.0 + d.position_sd * scale * rng.normal();
        let y = centre.1 + ux * ts + uy * tc + shift.1 + d.position_sd * scale * rng.normal();
        let degrees = m.angle.degrees() as f32 - (turn + k * plastic_turn).to_degrees()
            + d.direction_sd * rng.normal();
        if let Some(minutia) = placed(x, y, degrees, m, width, height, &mut rng, d.kind_flip) {
            out.push(minutia);
        }
    }
    // Spurious minutiae within the span of the kept ones.
    if !out.is_empty() {
        let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0f32, 0f32);
        for m in &out {
            x0 = x0.min(f32::from(m.x));
            y0 = y0.min(f32::from(m.y));
            x1 = x1.max(f32::from(m.x));
            y1 = y1.max(f32::from(m.y));
        }
        let extra = (severity * d.spurious * out.len() as f32 + rng.normal())
            .round()
            .max(0.0) as usize;
        for _ in 0..extra {
            let model = out[(rng.next_u64() % out.len() as u64) as usize];
            let (x, y) = (rng.range(x0, x1 + 1.0), rng.range(y0, y1 + 1.0));
            let degrees = rng.range(0.0, 360.0);
            if let Some(mut minutia) = placed(x, y, degrees, &model, width, height, &mut rng, 0.0) {
                minutia.quality = minutia.quality.min(40);
                out.push(minutia);
            }
        }
    }
    if out.len() > 255 {
        out.truncate(255);
    }
    Template::parse(geometry, template.info(), out, Vec::new())
}

/// A minutia at (`x`, `y`) with direction `degrees`, its kind from `model` (flipped with
/// probability `flip`), or `None` outside the image.
#[allow(clippy::too_many_arguments)]
fn placed(
    x: f32,
    y: f32,
    degrees: f32,
    model: &Minutia,
    width: f32,
    height: f32,
    rng: &mut Rng,
    flip: f32,
) -> Option<Minutia> {
    let (x, y) = (x.round(), y.round());
    if !(0.0..width).contains(&x) || !(0.0..height).contains(&y) {
        return None;
    }
    let kind = match model.kind {
        MinutiaKind::RidgeEnding if rng.unit() < flip => MinutiaKind::Bifurcation,
        MinutiaKind::Bifurcation if rng.unit() < flip => MinutiaKind::RidgeEnding,
        kind => kind,
    };
    Some(Minutia {
        x: x as u16,
        y: y as u16,
        angle: Angle::from_degrees(f64::from(degrees.rem_euclid(360.0))),
        kind,
        quality: model.quality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingers_are_deterministic_and_plausible() {
        let params = SynthParams::default();
        let a = finger(7, &params).unwrap();
        let b = finger(7, &params).unwrap();
        assert_eq!(a.minutiae(), b.minutiae());
        let counts: Vec<usize> = (0..200)
            .map(|seed| finger(seed, &params).unwrap().minutiae().len())
            .collect();
        let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
        assert!((45.0..60.0).contains(&mean), "mean minutiae {mean}");
        assert_ne!(finger(8, &params).unwrap().minutiae(), a.minutiae());
    }

    #[test]
    fn an_impression_is_the_same_finger_placed_and_distorted() {
        use crate::mcc::{MccMatcher, MccTemplate};
        let params = SynthParams::default();
        let real = finger(11, &params).unwrap();
        let d = Distortion::default();
        let a = impression(&real, 1, &d).unwrap();
        assert_eq!(impression(&real, 1, &d).unwrap(), a, "deterministic");
        assert_ne!(impression(&real, 2, &d).unwrap(), a);
        // Only placement: every minutia kept and moved rigidly, directions turned with it.
        let placed_only = Distortion {
            plastic_rotation: 0.0,
            plastic_shift: 0.0,
            position_sd: 0.0,
            direction_sd: 0.0,
            missed: 0.0,
            spurious: 0.0,
            kind_flip: 0.0,
            translation: 0.0,
            ..d.clone()
        };
        let moved = impression(&real, 3, &placed_only).unwrap();
        let mut matcher = MccMatcher::new();
        let (original, moved_mcc) = (MccTemplate::new(&real), MccTemplate::new(&moved));
        let same = matcher.similarity(&original, &moved_mcc);
        // Directions turned the wrong way would break the cylinders' local structure.
        assert!(same > 0.3, "rigidly placed copy scores {same}");
        // The default distortion: still a mate, well above strangers.
        let mate = matcher.similarity(&original, &MccTemplate::new(&a));
        let stranger = (100..110)
            .map(|seed| {
                matcher.similarity(
                    &original,
                    &MccTemplate::new(&finger(seed, &params).unwrap()),
                )
            })
            .fold(0.0f64, f64::max);
        assert!(
            mate > stranger,
            "mate {mate}, best of ten strangers {stranger}"
        );
        assert!(mate < same, "distortion lowers the score: {mate} vs {same}");
    }

    #[test]
    fn a_mirrored_print_is_mirrored_twice_back() {
        let a = finger(3, &SynthParams::default()).unwrap();
        let twice = mirrored(&mirrored(&a).unwrap()).unwrap();
        for (m, n) in a.minutiae().iter().zip(twice.minutiae()) {
            assert_eq!((m.x, m.y), (n.x, n.y));
            let d = (m.angle.degrees() - n.angle.degrees()).abs();
            assert!(
                !(0.1..=359.9).contains(&d),
                "{} vs {}",
                m.angle.degrees(),
                n.angle.degrees()
            );
        }
    }
}
