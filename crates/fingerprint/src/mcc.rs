//! Minutia Cylinder-Code matching (Cappelli, Ferrara, Maltoni, IEEE TPAMI 2010; bit-based MCC with
//! the LSS-R global score): each minutia becomes an 8×8×6 cylinder of bits describing its
//! neighbourhood relative to its own position and direction, cylinders are compared with popcounts,
//! and the best-matching local pairs are checked for mutual geometric consistency by relaxation.
//!
//! Two departures from the paper's defaults, both for speed and both measured (BENCHMARKS.md):
//! Ns = 8 cells per side instead of 16 (one u64 per angular layer), and at most
//! [`MAX_CYLINDERS`] cylinders per template, those of the best-quality minutiae.
//!
//! All distances are in 500-dpi pixels: templates at other resolutions are rescaled when their
//! cylinders are built, so the published parameters apply unchanged.

use std::f32::consts::PI;

use crate::template::Template;

// (Intrinsics take raw pointers to load and store: the module's few such calls are each on a
// reference's own extent.)
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512;
mod stored;

pub use stored::CYLINDER_SCHEME;

/// Cells per side of a cylinder.
pub(crate) const NS: usize = 8;
/// Angular sections of a cylinder.
pub(crate) const ND: usize = 6;
/// u64 words of one 16×16 spatial layer.
pub(crate) const LAYER_WORDS: usize = NS * NS / 64;
/// Most cylinders a template keeps (those of its best-quality minutiae): matching costs grow
/// with the square of the count, and on FVC2002 DB2_B 32 of MINDTCT's ~52 lose no accuracy.
pub const MAX_CYLINDERS: usize = 32;
/// Cylinder radius in 500-dpi pixels.
const RADIUS: f32 = 70.0;
/// Standard deviation of the spatial Gaussian.
const SIGMA_S: f32 = 28.0 / 3.0;
/// Standard deviation of the directional Gaussian.
const SIGMA_D: f32 = 2.0 * PI / 9.0;
/// A cell's bit is set when its contribution reaches this value (the step function of MCC-bit).
const MU_PSI: f32 = 0.01;
/// Enlargement of the convex hull of the minutiae that bounds valid cells.
const OMEGA: f32 = 50.0;
/// A cylinder is kept when at least this fraction of its disc cells is valid...
const MIN_VALID_CELLS: f32 = 0.75;
/// ...and at least this many other minutiae lie within reach.
const MIN_NEIGHBOURS: usize = 2;
/// Two cylinders are comparable when they share at least this fraction of the disc cells.
const MIN_MATCHABLE_CELLS: f32 = 0.60;
/// Two cylinders are comparable when their directions differ by at most this.
const MAX_DIRECTION_DIFF: f32 = PI / 2.0;
/// LSS-R: bounds and sigmoid of the number of pairs whose mean is the score.
const MIN_NP: f32 = 4.0;
const MAX_NP: f32 = 12.0;
const MU_P: f32 = 20.0;
const TAU_P: f32 = 0.4;
/// LSS-R: relaxation iterations and the weight of a pair's own previous value.
const RELAXATION_ROUNDS: usize = 5;
const RELAXATION_WEIGHT: f32 = 0.5;
/// LSS-R: sigmoids of the compatibility between two pairs (distance, direction, radial angle).
const MU_RHO_1: f32 = 5.0;
const TAU_RHO_1: f32 = -8.0 / 5.0;
const MU_RHO_2: f32 = PI / 12.0;
const TAU_RHO_2: f32 = -30.0;
const MU_RHO_3: f32 = PI / 12.0;
const TAU_RHO_3: f32 = -30.0;
/// d1 beyond which the distance sigmoid is below 1e-9 (5 + 20.7 / 1.6).
const RHO_1_CUTOFF: f32 = 18.0;
/// d2, d3 beyond which the angle sigmoids are below 1e-9 (π/12 + 20.7 / 30).
const RHO_ANGLE_CUTOFF: f32 = 0.96;

/// One cylinder: the minutia it is centred on and its bits.
#[derive(Clone, Debug)]
struct Cylinder {
    x: f32,
    /// y axis pointing up, so that angles are counter-clockwise in the usual mathematical sense.
    y: f32,
    angle: f32,
    /// Valid spatial cells (inside the radius and the enlarged convex hull), one bit per cell.
    valid: [u64; LAYER_WORDS],
    /// Cell bits per angular section; invariant: zero wherever `valid` is zero.
    bits: [[u64; LAYER_WORDS]; ND],
    /// Number of set bits in `bits`, so that a comparison with a cylinder whose valid cells
    /// cover this one's need not count them again.
    n_bits: u32,
    /// Whether every cell of the disc is valid (so is `valid` of any two such cylinders the
    /// same, and each covers the other).
    full: bool,
}

/// A template prepared for MCC matching: its valid cylinders.
#[derive(Clone, Debug)]
pub struct MccTemplate {
    cylinders: Vec<Cylinder>,
    /// The distances and directions between the cylinders (what relaxation compares; computed
    /// once here rather than in every comparison).
    geometry: Box<Geometry>,
    /// For each of [`DIRECTION_SECTORS`] sectors of directions, the cylinders (one bit each) whose
    /// direction is surely within [`MAX_DIRECTION_DIFF`] of any in the sector, and those whose
    /// direction may be (to be tested), so that a comparison visits only those of the other
    /// template and tests only a few.
    sure: [u32; DIRECTION_SECTORS],
    maybe: [u32; DIRECTION_SECTORS],
    /// The cylinders whose disc is valid throughout (`Cylinder::full`), one bit each.
    full: u32,
    /// The cylinders again, lane by lane, for the matcher's vector loops.
    lanes: Box<Lanes>,
}

/// For cylinders t and k, at `[t][k]`: their distance and the direction from k to t (zero beyond
/// the template's cylinders).
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Geometry {
    distance: [[f32; MAX_CYLINDERS]; MAX_CYLINDERS],
    direction: [[f32; MAX_CYLINDERS]; MAX_CYLINDERS],
}

impl Geometry {
    /// No cylinders: every distance and direction zero.
    const EMPTY: Geometry = Geometry {
        distance: [[0.0; MAX_CYLINDERS]; MAX_CYLINDERS],
        direction: [[0.0; MAX_CYLINDERS]; MAX_CYLINDERS],
    };
}

/// A template's cylinders laid out lane by lane for the AVX-512 copy's rows of local similarities,
/// so that one cylinder of the other template is compared with many of them in a few vector
/// operations. The bits are kept in direction order (the place of a cylinder: its rank by
/// direction) and twice over (place n + k repeats place k, n the number of cylinders), so that
/// the cylinders within reach of a direction, an arc of the circle, are one run of consecutive
/// lanes: a row computes only that window (about 17 of 32 lanes where there are 32 cylinders)
/// and its values are then put back in the cylinders' own order. Lanes beyond the places filled
/// are zero, and masked off wherever they are read. About 4 KB a template (2 KB more than one
/// copy of the lanes in the cylinders' own order).
#[derive(Clone, Debug)]
#[repr(C, align(64))]
// (Only the x86-64 copy for AVX-512 reads them.)
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Lanes {
    /// Cell bits of each angular section, by place, twice.
    bits: [[u64; 2 * MAX_CYLINDERS]; ND],
    /// Valid cells, by place, twice.
    valid: [u64; 2 * MAX_CYLINDERS],
    /// √ of the set bits (IEEE), what a full cylinder's comparison with each needs, by place,
    /// twice.
    root_bits: [f32; 2 * MAX_CYLINDERS],
    /// Directions, in the cylinders' own order (lane j: cylinder j).
    angle: [f32; MAX_CYLINDERS],
    /// The place of each cylinder (lane j: cylinder j; as i32, the permutation's indices).
    place: [i32; MAX_CYLINDERS],
    /// For each direction sector, the first place and the number of consecutive places (around
    /// the circle) that hold every cylinder [`MccTemplate::candidates`] may return for a
    /// direction in the sector.
    window: [(u8, u8); DIRECTION_SECTORS],
}

impl Lanes {
    /// No lanes: every lane zero.
    const EMPTY: Lanes = Lanes {
        bits: [[0; 2 * MAX_CYLINDERS]; ND],
        valid: [0; 2 * MAX_CYLINDERS],
        root_bits: [0.0; 2 * MAX_CYLINDERS],
        angle: [0.0; MAX_CYLINDERS],
        place: [0; MAX_CYLINDERS],
        window: [(0, 0); DIRECTION_SECTORS],
    };

    /// Sets `lanes` to those of `cylinders` (whatever they held before), with the window of each
    /// direction sector holding the cylinders of its mask in `reach` (one bit a cylinder: `sure |
    /// maybe`, those [`MccTemplate::candidates`] may return for a direction in the sector).
    #[inline(always)]
    fn fill(lanes: &mut Lanes, cylinders: &[Cylinder], reach: &[u32; DIRECTION_SECTORS]) {
        const _: () = assert!(LAYER_WORDS == 1 && MAX_CYLINDERS <= 32);
        let cylinders = &cylinders[..cylinders.len().min(MAX_CYLINDERS)];
        let n = cylinders.len();
        *lanes = Lanes::EMPTY;
        // Direction order (among equal directions, the cylinders' own). `direction_sector` is
        // monotone in the direction, so the sectors are in order too.
        let mut order: Vec<(f32, usize)> = cylinders
            .iter()
            .enumerate()
            .map(|(j, c)| (c.angle, j))
            .collect();
        order.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        for (place, &(_, j)) in order.iter().enumerate() {
            if let (Some(c), Some(slot)) = (cylinders.get(j), lanes.place.get_mut(j)) {
                *slot = place as i32;
                for repeat in [place, place + n] {
                    for (layer, bits) in lanes.bits.iter_mut().zip(&c.bits) {
                        layer[repeat] = bits[0];
                    }
                    lanes.valid[repeat] = c.valid[0];
                    lanes.root_bits[repeat] = (c.n_bits as f32).sqrt();
                }
            }
        }
        for (j, c) in cylinders.iter().enumerate() {
            lanes.angle[j] = c.angle;
        }
        // A sector's mask holds the cylinders of the sectors within CANDIDATE_REACH of it, a run
        // of sectors around the circle, and so a run of places.
        for (window, &mask) in lanes.window.iter_mut().zip(reach) {
            let mut places = 0u32;
            let mut rest = mask;
            while rest != 0 {
                let j = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                places |= lanes.place.get(j).map_or(0, |&place| 1 << place);
            }
            *window = circular_window(places, n);
        }
    }
}

/// The first place and the number of places of the shortest run of consecutive places among
/// `n` (around the circle: place 0 follows place n - 1) that holds the `places` (one bit each),
/// where they are such a run; otherwise all `n` places from place 0.
fn circular_window(places: u32, n: usize) -> (u8, u8) {
    let all = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    let places = places & all;
    if places == 0 {
        return (0, 0);
    }
    if places == all {
        return (0, n as u8);
    }
    // The places whose predecessor around the circle is not among them: one, where they are a
    // run (n > 1 here).
    let previous = ((places << 1) | (places >> (n - 1))) & all;
    let first = places & !previous;
    if first.count_ones() == 1 {
        (first.trailing_zeros() as u8, places.count_ones() as u8)
    } else {
        (0, n as u8)
    }
}

/// Sectors of directions for [`MccTemplate::candidates`].
const DIRECTION_SECTORS: usize = 64;

/// Sectors either side of a direction's own that may hold cylinders within
/// [`MAX_DIRECTION_DIFF`] of it: two directions within a quarter turn (16 sectors) lie at most
/// 17 sectors apart (each may be anywhere in its own).
const CANDIDATE_REACH: usize = DIRECTION_SECTORS / 4 + 1;

/// The sector of a direction in [0, 2π] (2π, which rounding may give, in the last).
#[inline(always)]
fn direction_sector(angle: f32) -> usize {
    ((angle * (DIRECTION_SECTORS as f32 / (2.0 * PI))) as usize).min(DIRECTION_SECTORS - 1)
}

/// Difference of two angles, in `[-π, π)`.
fn angle_diff(a: f32, b: f32) -> f32 {
    let d = a - b;
    if d < -PI {
        d + 2.0 * PI
    } else if d >= PI {
        d - 2.0 * PI
    } else {
        d
    }
}

fn sigmoid(value: f32, mu: f32, tau: f32) -> f32 {
    1.0 / (1.0 + exp(-tau * (value - mu)))
}

/// Coefficients of [`exp`]'s polynomial, highest degree first (Cephes `expf`).
const EXP_POLYNOMIAL: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
/// ln 2 in two parts, the first 355/512 (exact, with few bits), for [`exp`]'s range reduction.
const LN_2_HIGH: f32 = 0.693_359_4;
const LN_2_LOW: f32 = -2.121_944_4e-4;

/// eˣ for the matcher's sigmoids, by Cephes' `expf` algorithm (x = n ln 2 + r, |r| ≤ ln 2 / 2;
/// e^r by a degree-5 polynomial; within 2 ulp of eˣ on [-87, 88], where x is clamped) in plain
/// IEEE operations: the AVX-512 copy computes the same bits in 16 lanes, and scores do not depend
/// on the platform's C library, as they would with `f32::exp`.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN_2_HIGH;
    let r = r - n * LN_2_LOW;
    let mut y = EXP_POLYNOMIAL[0];
    for c in &EXP_POLYNOMIAL[1..] {
        y = y * r + c;
    }
    let y = y * (r * r) + r + 1.0;
    // 2ⁿ, n in [-126, 127].
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Error function (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7).
fn erf(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    sign * (1.0 - poly * (-x * x).exp())
}

/// Convex hull (Andrew's monotone chain), counter-clockwise.
#[inline(always)]
fn convex_hull(points: &[(f32, f32)]) -> Vec<(f32, f32)> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    sorted.dedup();
    if sorted.len() < 3 {
        return sorted;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(f32, f32)> = Vec::with_capacity(sorted.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(f32, f32)>> = if pass == 0 {
            Box::new(sorted.iter())
        } else {
            Box::new(sorted.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Whether `p` lies inside the convex polygon `hull` (counter-clockwise) or within `margin` of it.
fn near_hull(hull: &[(f32, f32)], p: (f32, f32), margin: f32) -> bool {
    let n = hull.len();
    if n == 0 {
        return false;
    }
    let mut inside = n >= 3;
    let mut nearest = f32::INFINITY;
    for i in 0..n {
        let a = hull[i];
        let b = hull[(i + 1) % n];
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        let (px, py) = (p.0 - a.0, p.1 - a.1);
        if ex * py - ey * px < 0.0 {
            inside = false;
        }
        let len2 = ex * ex + ey * ey;
        let t = if len2 > 0.0 {
            ((px * ex + py * ey) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (dx, dy) = (px - t * ex, py - t * ey);
        nearest = nearest.min(dx * dx + dy * dy);
    }
    inside || nearest <= margin * margin
}

/// `y.atan2(x)` within [`DIRECTION_ERROR`], without branches (so that it vectorises): the
/// arctangent of the smaller of |x|, |y| over the larger, by Cephes' `atanf` polynomial after its
/// reduction to [0, tan π/8], then put in its octant; 0 for (0, 0).
#[inline(always)]
fn direction(y: f32, x: f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let (small, large) = (ax.min(ay), ax.max(ay));
    // In [0, 1] (0 / 0 taken as 0).
    let t = if large > 0.0 { small / large } else { 0.0 };
    // atan t = π/4 + atan((t - 1) / (t + 1)) for t above tan π/8.
    let reduce = t > 0.414_213_57;
    let u = if reduce { (t - 1.0) / (t + 1.0) } else { t };
    let z = u * u;
    let p = ((8.053_744_5e-2 * z - 1.387_768_6e-1) * z + 1.997_771_1e-1) * z - 3.333_295e-1;
    let r = p * z * u + u + if reduce { PI / 4.0 } else { 0.0 };
    let r = if ay > ax { PI / 2.0 - r } else { r };
    let r = if x < 0.0 { PI - r } else { r };
    if y.is_sign_negative() && large > 0.0 {
        -r
    } else {
        r
    }
}

/// Bound on the difference between [`direction`] and `f32::atan2` (tested): Cephes' polynomial errs
/// by about 2e-7 relative, the reduction and the octant by a few units in the last place.
#[cfg(test)]
const DIRECTION_ERROR: f32 = 1e-6;

/// One edge of the hull, from `a` to `b`, with its unit normal `n` pointing inside.
#[derive(Clone, Copy, Debug)]
struct HullEdge {
    a: (f32, f32),
    b: (f32, f32),
    n: (f32, f32),
}

/// The hull's edges, to bound how far inside the hull a point lies; empty when the hull has no
/// area (fewer than three distinct points), where every cell takes the full hull test.
#[inline(always)]
fn hull_edges(hull: &[(f32, f32)]) -> Vec<HullEdge> {
    if hull.len() < 3 {
        return Vec::new();
    }
    let mut edges = Vec::with_capacity(hull.len());
    for (i, &a) in hull.iter().enumerate() {
        let b = hull[(i + 1) % hull.len()];
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        let length = (ex * ex + ey * ey).sqrt();
        if length <= 0.0 {
            return Vec::new();
        }
        // The hull is counter-clockwise, so the inside is on the left.
        edges.push(HullEdge {
            a,
            b,
            n: (-ey / length, ex / length),
        });
    }
    edges
}

/// Slack, in pixels, for rounding in the geometric bounds below (a bound decides a cell only when
/// it is at least this far from deciding otherwise): 1 px, plus about 32 units in the last place
/// of the largest coordinate (templates at odd resolutions may have positions in the millions).
fn rounding_slack(points: &[(f32, f32, f32)]) -> f32 {
    let extent = points
        .iter()
        .fold(0.0f32, |m, p| m.max(p.0.abs()).max(p.1.abs()));
    1.0 + (extent + 128.0) / (1u32 << 18) as f32
}

/// [`near_hull`] with margin [`OMEGA`] for the cell centre `p` at offset `offset` (rotated to the
/// image) from a minutia, given the edges that may matter with the minutia's signed distance to
/// their lines, and the same answer, bit for bit: an edge whose line is more than the margin
/// (plus slack) away on the inside can neither put the point outside nor be its nearest edge
/// within the margin, so only the others take `near_hull`'s arithmetic (exactly its own).
#[inline(always)]
fn near_hull_edges(
    edges: &[(HullEdge, f32)],
    p: (f32, f32),
    offset: (f32, f32),
    slack: f32,
) -> bool {
    // First the cases the lines alone decide: well inside every line (then inside the hull), or
    // well beyond the margin of one (then further than that from the hull).
    let line = |&(edge, depth): &(HullEdge, f32)| depth + edge.n.0 * offset.0 + edge.n.1 * offset.1;
    let nearest_line = edges.iter().map(line).fold(f32::INFINITY, f32::min);
    if nearest_line >= slack {
        return true;
    }
    if nearest_line < -(OMEGA + slack) {
        return false;
    }
    let mut inside = true;
    let mut nearest = f32::INFINITY;
    for edge in edges {
        if line(edge) > OMEGA + slack {
            continue;
        }
        let edge = edge.0;
        let (a, b) = (edge.a, edge.b);
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        let (px, py) = (p.0 - a.0, p.1 - a.1);
        if ex * py - ey * px < 0.0 {
            inside = false;
        }
        let len2 = ex * ex + ey * ey;
        let t = if len2 > 0.0 {
            ((px * ex + py * ey) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (dx, dy) = (px - t * ex, py - t * ey);
        nearest = nearest.min(dx * dx + dy * dy);
    }
    inside || nearest <= OMEGA * OMEGA
}

/// The cells of a cylinder's disc, row by row: cell index, offsets `u`, `v` from the centre
/// along and across the minutia's direction, and the distance from the centre.
#[inline(always)]
fn disc_cells() -> [(usize, f32, f32, f32); DISC_CELLS] {
    let delta_s = 2.0 * RADIUS / NS as f32;
    let mut cells = [(0, 0.0, 0.0, 0.0); DISC_CELLS];
    let mut n = 0;
    for i in 0..NS {
        for j in 0..NS {
            let u = (i as f32 - (NS as f32 - 1.0) / 2.0) * delta_s;
            let v = (j as f32 - (NS as f32 - 1.0) / 2.0) * delta_s;
            if u * u + v * v > RADIUS * RADIUS {
                continue;
            }
            if let Some(slot) = cells.get_mut(n) {
                *slot = (i * NS + j, u, v, (u * u + v * v).sqrt());
            }
            n += 1;
        }
    }
    cells
}

/// Centre of the cell at offsets `u`, `v` of the cylinder centred on `(x, y)` with direction
/// (`sin`, `cos`).
#[inline(always)]
fn cell_centre(x: f32, y: f32, sin: f32, cos: f32, u: f32, v: f32) -> (f32, f32) {
    (x + u * cos - v * sin, y + u * sin + v * cos)
}

/// Width of an angular section.
const DELTA_D: f32 = 2.0 * PI / ND as f32;

/// Centre of angular section `k`.
#[inline(always)]
fn section_centre(k: usize) -> f32 {
    -PI + (k as f32 + 0.5) * DELTA_D
}

/// The directional term of a section whose centre is `alpha` away from a neighbour's relative
/// direction: the directional Gaussian's mass over the section.
fn section_mass(alpha: f32) -> f32 {
    let sqrt2_sigma_d = std::f32::consts::SQRT_2 * SIGMA_D;
    0.5 * (erf((alpha + DELTA_D / 2.0) / sqrt2_sigma_d)
        - erf((alpha - DELTA_D / 2.0) / sqrt2_sigma_d))
}

/// Directional contribution per angular section of a neighbour with direction `other` to the
/// cylinder of direction `angle`.
fn directional_terms(angle: f32, other: f32) -> [f32; ND] {
    let relative = angle_diff(angle, other);
    std::array::from_fn(|k| section_mass(angle_diff(section_centre(k), relative)))
}

/// Squared distance from a cell centre beyond which a neighbour contributes nothing (3 σS).
const SPATIAL_CUTOFF: f32 = 9.0 * SIGMA_S * SIGMA_S;

/// Spatial contribution of a neighbour at squared distance `d2` from a cell centre.
fn spatial_weight(d2: f32) -> f32 {
    let gaussian_norm = 1.0 / (SIGMA_S * (2.0 * PI).sqrt());
    gaussian_norm * (-d2 / (2.0 * SIGMA_S * SIGMA_S)).exp()
}

/// Bound on the difference between [`spatial_weights`] and [`spatial_weight`] (whose values are
/// at most 0.043): the polynomial errs by 1.2e-7 relative, the f32 rounding of the exponent and
/// of the evaluation by about 5e-7 relative, 3e-8 absolute in all (tested).
const SPATIAL_ERROR: f32 = 1e-6;

/// [`spatial_weight`] within [`SPATIAL_ERROR`] for several squared distances at once (as 2^t, with
/// t split into an integer and a fraction and 2^fraction a polynomial), so that it vectorises;
/// for `d2` up to [`SPATIAL_CUTOFF`] (larger ones give some value that the caller discards).
#[inline(always)]
fn spatial_weights<const N: usize>(d2: [f32; N]) -> [f32; N] {
    let gaussian_norm = 1.0 / (SIGMA_S * (2.0 * PI).sqrt());
    let scale = -std::f32::consts::LOG2_E / (2.0 * SIGMA_S * SIGMA_S);
    // Rounds to the nearest integer when added and subtracted (|t| < 2^22).
    let round = 12_582_912.0f32;
    let ln2 = std::f32::consts::LN_2;
    // Taylor coefficients of 2^f = e^(f ln 2), degree 6: error below 1.2e-7 for |f| <= 1/2.
    let c = [
        ln2,
        ln2 * ln2 / 2.0,
        ln2 * ln2 * ln2 / 6.0,
        ln2 * ln2 * ln2 * ln2 / 24.0,
        ln2 * ln2 * ln2 * ln2 * ln2 / 120.0,
        ln2 * ln2 * ln2 * ln2 * ln2 * ln2 / 720.0,
    ];
    let mut out = [0.0f32; N];
    for (w, d2) in out.iter_mut().zip(d2) {
        let t = (d2 * scale).max(-30.0);
        let shifted = t + round;
        let n = shifted - round;
        let f = t - n;
        let p = 1.0 + f * (c[0] + f * (c[1] + f * (c[2] + f * (c[3] + f * (c[4] + f * c[5])))));
        // 2^n from its exponent bits: `shifted`'s low bits hold n (its bits are 0x4B40_0000 + n).
        let power = f32::from_bits(shifted.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23);
        *w = gaussian_norm * (p * power);
    }
    out
}

/// Intervals of the table that stands in for [`section_mass`] over [-π, π] (linear
/// interpolation): a multiple of [`ND`], so that the sections' positions in the table are the
/// same interpolation at offsets of a sixth of the table.
const MASS_TABLE_STEPS: usize = 683 * ND;

/// Bound on the difference between an interpolated [`section_mass`] and the computed one: linear
/// interpolation errs by at most h²/8 · max |f''| ≈ 3e-7 (h = 2π/4098, |f''| ≤ 1), the f32
/// rounding of both sides and of the positions by about as much again (tested).
const MASS_ERROR: f32 = 1e-5;

/// [`section_mass`] at the ends of the table's intervals.
type MassTable = [f32; MASS_TABLE_STEPS + 1];

static MASS_TABLE: std::sync::LazyLock<Box<MassTable>> = std::sync::LazyLock::new(|| {
    Box::new(std::array::from_fn(|i| {
        section_mass(-PI + i as f32 * (2.0 * PI / MASS_TABLE_STEPS as f32))
    }))
});

/// The directional terms of a neighbour whose direction relative to the cylinder's is
/// `relative` (as [`angle_diff`] gives it), within [`MASS_ERROR`] of [`directional_terms`]: the
/// angle from the centre of section k is that from the centre of section 0 plus k sixths of a
/// turn, so one position in the table serves all six.
#[inline(always)]
fn directional_terms_interpolated(table: &MassTable, relative: f32) -> [f32; ND] {
    const N: usize = MASS_TABLE_STEPS;
    // The centre of section 0 is half a section from -π: its angle from `relative`, in table
    // steps from -π, is half a section's steps minus `relative`'s; in (-1708, 2391).
    let position = (N / ND) as f32 / 2.0 - relative * (N as f32 / (2.0 * PI));
    let shifted = position + N as f32;
    // Truncation is the floor of a positive number; the clamp only guards against NaN input.
    let i = (shifted as i32).clamp(0, 2 * N as i32 - 1) as usize;
    let fraction = shifted - i as f32;
    let i = if i >= N { i - N } else { i };
    std::array::from_fn(|k| {
        let j = i + k * (N / ND);
        let j = if j >= N { j - N } else { j };
        let (lo, hi) = (table[j], table[j + 1]);
        lo + fraction * (hi - lo)
    })
}

/// Whether `b` is within a cylinder's reach of `a` (so that it may contribute to its cells).
/// Symmetric, bit for bit.
#[inline(always)]
fn within_reach(a: (f32, f32, f32), b: (f32, f32, f32)) -> bool {
    let reach = RADIUS + 3.0 * SIGMA_S;
    (b.0 - a.0).powi(2) + (b.1 - a.1).powi(2) <= reach * reach
}

/// Bit sets of minutiae (at most 255 per template), one per minutia.
type MinutiaSet = [u64; 4];

/// For each minutia, the other minutiae within reach.
#[inline(always)]
fn neighbour_sets(points: &[(f32, f32, f32)]) -> Vec<MinutiaSet> {
    let mut sets = vec![[0u64; 4]; points.len()];
    for (i, &a) in points.iter().enumerate() {
        for (j, &b) in points.iter().enumerate().skip(i + 1) {
            // Without a branch: whether a minutia is within reach is as good as random.
            let near = u64::from(within_reach(a, b));
            sets[i][j / 64] |= near << (j % 64);
            sets[j][i / 64] |= near << (i % 64);
        }
    }
    sets
}

/// The members of a set, in ascending order.
fn members(set: &MinutiaSet) -> impl Iterator<Item = usize> + '_ {
    set.iter().enumerate().flat_map(|(w, &word)| {
        let mut word = word;
        std::iter::from_fn(move || {
            (word != 0).then(|| {
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                w * 64 + bit
            })
        })
    })
}

/// The cells of the cylinder centred on `centre` that are valid: inside its disc and within
/// [`OMEGA`] of the hull. `relevant` is scratch space.
#[inline(always)]
fn valid_cells(
    centre: (f32, f32, f32),
    hull: &[(f32, f32)],
    edges: &[HullEdge],
    relevant: &mut Vec<(HullEdge, f32)>,
    disc: &[(usize, f32, f32, f32); DISC_CELLS],
    slack: f32,
) -> ([u64; LAYER_WORDS], usize) {
    let (x, y, angle) = centre;
    let (sin, cos) = angle.sin_cos();
    // The minutia's signed distance to each edge's line; an edge whose line is further inside
    // than a cell can be from the minutia plus the margin matters for none of its cells.
    relevant.clear();
    let mut depth = f32::INFINITY;
    for &edge in edges {
        let d = (x - edge.a.0) * edge.n.0 + (y - edge.a.1) * edge.n.1;
        depth = depth.min(d);
        if d <= RADIUS + OMEGA + slack {
            relevant.push((edge, d));
        }
    }
    // The minutia is a point of the hull at least `depth` from its boundary, so a cell at
    // distance r from it is at most r - depth from the hull: well within the margin, it is valid
    // without further test.
    let depth = depth.max(0.0);
    let mut valid = [0u64; LAYER_WORDS];
    let mut n_valid = 0;
    let farthest = disc.iter().map(|c| c.3).fold(0.0, f32::max);
    if !edges.is_empty() && farthest - depth <= OMEGA - slack {
        // The whole disc (the common case).
        return (DISC_MASK, DISC_CELLS);
    }
    for &(cell, u, v, r) in disc {
        let is_valid = if edges.is_empty() {
            near_hull(hull, cell_centre(x, y, sin, cos, u, v), OMEGA)
        } else if r - depth <= OMEGA - slack {
            true
        } else {
            let p = cell_centre(x, y, sin, cos, u, v);
            near_hull_edges(relevant, p, (u * cos - v * sin, u * sin + v * cos), slack)
        };
        if is_valid {
            valid[cell / 64] |= 1 << (cell % 64);
            n_valid += 1;
        }
    }
    (valid, n_valid)
}

/// A row of a cylinder's cells, one lane each (written so that the loops over it vectorise).
type Row = [f32; NS];

/// The lanes whose sign bit is set, as bits.
#[inline(always)]
fn sign_bits(values: Row) -> u64 {
    let bits: [u32; NS] = std::array::from_fn(|l| (values[l].to_bits() >> 31) << l);
    u64::from(bits.iter().fold(0, |a, &b| a | b))
}

/// The lanes where `mask` holds, as bits.
#[inline(always)]
fn row_bits(mask: [bool; NS]) -> u64 {
    mask.iter()
        .enumerate()
        .fold(0, |bits, (l, &m)| bits | (u64::from(m) << l))
}

/// The reference's sums of the contributions to one cell centred on `c`, for the cylinder of
/// direction `angle` with the minutiae of `neighbours`: cell by cell, neighbour by neighbour,
/// with the computed spatial and directional terms.
fn exact_sums(
    points: &[(f32, f32, f32)],
    angle: f32,
    neighbours: &MinutiaSet,
    c: (f32, f32),
) -> [f32; ND] {
    let mut sums = [0.0f32; ND];
    for p in members(neighbours).filter_map(|n| points.get(n)) {
        let d2 = (p.0 - c.0).powi(2) + (p.1 - c.1).powi(2);
        if d2 > SPATIAL_CUTOFF {
            continue;
        }
        let spatial = spatial_weight(d2);
        for (sum, term) in sums.iter_mut().zip(directional_terms(angle, p.2)) {
            *sum += spatial * term;
        }
    }
    sums
}

/// What [`cylinder_layers`] needs besides the cylinder: the disc's cells, the table of
/// directional terms, the template's rounding slack and the scale of the error bounds.
#[derive(Clone, Copy, Debug)]
struct LayerSetting<'a> {
    disc: &'a [(usize, f32, f32, f32); DISC_CELLS],
    table: &'a MassTable,
    slack: f32,
    error_scale: f32,
}

/// The bits of the cylinder centred on `centre` over its `valid` cells, with the minutiae of
/// `neighbours` (those within reach): a cell's bit in a section is set when the neighbours'
/// contributions (spatial Gaussian of the distance to the cell centre times the directional
/// term), added in the order of the minutiae, reach [`MU_PSI`].
///
/// The sums are first computed with both factors approximated (within [`SPATIAL_ERROR`] and
/// [`MASS_ERROR`] of the computed ones), a row of cells at a time; a sum that is not clearly on
/// one side of [`MU_PSI`] given those errors is computed again exactly as the reference does
/// (`error_scale` scales the errors assumed: 1, but more in tests, to exercise that), so the bits
/// are exactly the reference's. Which neighbours reach which cells is decided by the reference's
/// own arithmetic; which rows need the test, with the rounding `slack` of [`rounding_slack`].
#[inline(always)]
fn cylinder_layers(
    points: &[(f32, f32, f32)],
    centre: (f32, f32, f32),
    neighbours: &MinutiaSet,
    valid: &[u64; LAYER_WORDS],
    setting: &LayerSetting,
) -> [[u64; LAYER_WORDS]; ND] {
    let LayerSetting {
        disc,
        table,
        slack,
        error_scale,
    } = *setting;
    let (x, y, angle) = centre;
    let (sin, cos) = angle.sin_cos();
    let delta_s = 2.0 * RADIUS / NS as f32;
    let is_valid = |cell: usize| (valid[cell / 64] >> (cell % 64)) & 1 == 1;
    // Cell centres; invalid cells (and those outside the disc) lie at infinity, out of reach.
    let mut cx = [[f32::INFINITY; NS]; NS];
    let mut cy = [[f32::INFINITY; NS]; NS];
    for &(cell, u, v, _) in disc {
        if is_valid(cell) {
            (cx[cell / NS][cell % NS], cy[cell / NS][cell % NS]) =
                cell_centre(x, y, sin, cos, u, v);
        }
    }
    let mut sums = [[[0.0f32; NS]; NS]; ND];
    // Per cell, the bound on how far its sums may be from the exact ones.
    let mut margins = [[0.0f32; NS]; NS];
    // Neighbour by neighbour, over the rows of cells near the neighbour: a cell is reached only
    // within 3 σS, so only rows whose offset is within that (plus a rounding margin) of the
    // neighbour's need the distance test.
    let window = 3.0 * SIGMA_S + slack;
    let half = (NS as f32 - 1.0) / 2.0;
    for p in members(neighbours).filter_map(|n| points.get(n)) {
        let (dx, dy) = (p.0 - x, p.1 - y);
        let u = dx * cos + dy * sin;
        // Truncation towards zero widens the range by at most one row, which the test skips.
        let first = (((u - window) / delta_s + half) as i32).clamp(0, NS as i32) as usize;
        let last = (((u + window) / delta_s + half) as i32 + 1).clamp(0, NS as i32) as usize;
        let mut directional: Option<[f32; ND]> = None;
        for row in first..last {
            let (rx, ry) = (&cx[row], &cy[row]);
            // The reference's distance test, lane by lane.
            let d2: Row = std::array::from_fn(|l| (p.0 - rx[l]).powi(2) + (p.1 - ry[l]).powi(2));
            let reached: [bool; NS] = std::array::from_fn(|l| d2[l] <= SPATIAL_CUTOFF);
            if row_bits(reached) == 0 {
                continue;
            }
            let directional = directional.get_or_insert_with(|| {
                directional_terms_interpolated(table, angle_diff(angle, p.2))
            });
            let weights = spatial_weights(d2);
            let w: Row = std::array::from_fn(|l| if reached[l] { weights[l] } else { 0.0 });
            for (layer, &term) in sums.iter_mut().zip(directional.iter()) {
                for (sum, w) in layer[row].iter_mut().zip(w) {
                    *sum += w * term;
                }
            }
            // Each term is off by at most SPATIAL_ERROR · 1 + w · MASS_ERROR; each sum by their
            // total and rounding (relative 1e-7 per term, covered twice over).
            for ((margin, w), reached) in margins[row].iter_mut().zip(w).zip(reached) {
                let bound = 2.0 * error_scale * (SPATIAL_ERROR + w * MASS_ERROR);
                *margin += if reached { bound } else { 0.0 };
            }
        }
    }
    // (Each row is a byte of the layer's single word; the bits gather in registers.)
    const _: () = assert!(LAYER_WORDS == 1 && NS == 8);
    let mut bits = [[0u64; LAYER_WORDS]; ND];
    let mut unsure = 0u64;
    let above: [Row; NS] = std::array::from_fn(|r| std::array::from_fn(|l| MU_PSI + margins[r][l]));
    let below: [Row; NS] = std::array::from_fn(|r| std::array::from_fn(|l| MU_PSI - margins[r][l]));
    for (layer, sums) in bits.iter_mut().zip(&sums) {
        let mut word = 0u64;
        for (row, s) in sums.iter().enumerate() {
            // Set where the sum is above `above`, clear where below `below` (sign bits of the
            // differences, lane l shifted to bit l); anything else (equality included) is unsure.
            let set = sign_bits(std::array::from_fn(|l| above[row][l] - s[l]));
            let clear = sign_bits(std::array::from_fn(|l| s[l] - below[row][l]));
            word |= set << (row * NS);
            unsure |= (!(set | clear) & 0xFF) << (row * NS);
        }
        layer[0] = word;
    }
    let unsure = [unsure];
    for (w, &word) in unsure.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            let cell = w * 64 + word.trailing_zeros() as usize;
            word &= word - 1;
            // Too close to call: the reference's own sums.
            let c = (cx[cell / NS][cell % NS], cy[cell / NS][cell % NS]);
            let exact = exact_sums(points, angle, neighbours, c);
            for (layer, &sum) in bits.iter_mut().zip(&exact) {
                let bit = 1u64 << (cell % 64);
                layer[w] = if sum >= MU_PSI {
                    layer[w] | bit
                } else {
                    layer[w] & !bit
                };
            }
        }
    }
    bits
}

impl MccTemplate {
    /// Build the cylinders of a template. Minutiae whose cylinder would be mostly outside the
    /// fingerprint, or that have fewer than two neighbours, get none (as the method prescribes).
    ///
    /// In three steps, so that bits are computed only for the cylinders kept: which minutiae have
    /// a valid cylinder (enough neighbours and valid cells, which need no bits), the cap on the
    /// number of cylinders, then the bits of those kept. Most bits are decided from sums computed
    /// with tabulated directional terms and a polynomial exponential, with error bounds; the few
    /// sums too close to the threshold for those bounds are computed again as the method defines
    /// them. The cylinders are the same, bit for bit, as those of the straightforward cell-by-cell
    /// computation (tested against it). On x86-64 processors with AVX2 a copy compiled for it
    /// runs (the same cylinders: IEEE arithmetic lane by lane, no fused operations).
    pub fn new(template: &Template) -> MccTemplate {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above; the function needs nothing else.
            #[allow(unsafe_code)]
            return unsafe { Self::new_avx2(template) };
        }
        Self::build(template, 1.0)
    }

    /// [`MccTemplate::new`] compiled for AVX2 (the same cylinders: only the vector width differs).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn new_avx2(template: &Template) -> MccTemplate {
        Self::build(template, 1.0)
    }

    /// [`MccTemplate::new`] for any processor (inlined into the dispatched copy), with the
    /// approximations' error bounds scaled by `error_scale` (1; more in tests, so that more sums
    /// take the exact path).
    #[inline(always)]
    fn build(template: &Template, error_scale: f32) -> MccTemplate {
        let geometry = template.geometry();
        // Rescale to 500 dpi, per axis.
        let sx = 500.0 / (f32::from(geometry.x_ppcm()) * 2.54);
        let sy = 500.0 / (f32::from(geometry.y_ppcm()) * 2.54);
        let points: Vec<(f32, f32, f32)> = template
            .minutiae()
            .iter()
            .map(|m| {
                (
                    f32::from(m.x) * sx,
                    -f32::from(m.y) * sy,
                    m.angle.radians() as f32,
                )
            })
            .collect();
        let qualities: Vec<u8> = template.minutiae().iter().map(|m| m.quality).collect();
        let hull = convex_hull(&points.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>());
        let edges = hull_edges(&hull);
        let slack = rounding_slack(&points);
        let mut relevant = Vec::with_capacity(edges.len());
        let disc = disc_cells();
        let table: &MassTable = &MASS_TABLE;
        let neighbours = neighbour_sets(&points);
        // The cap keeps the valid cylinders of the best-quality minutiae (among equals, the
        // first): trying the minutiae in that order, the first MAX_CYLINDERS valid ones are those,
        // and the others need no test.
        let mut order: Vec<usize> = (0..points.len()).collect();
        order.sort_by(|&x, &y| qualities[y].cmp(&qualities[x]).then(x.cmp(&y)));
        let mut kept: Vec<(usize, [u64; LAYER_WORDS])> = Vec::with_capacity(MAX_CYLINDERS);
        for index in order {
            if kept.len() == MAX_CYLINDERS {
                break;
            }
            let (Some(&point), Some(set)) = (points.get(index), neighbours.get(index)) else {
                continue;
            };
            let count: u32 = set.iter().map(|w| w.count_ones()).sum();
            if (count as usize) < MIN_NEIGHBOURS {
                continue;
            }
            let (valid, n_valid) = valid_cells(point, &hull, &edges, &mut relevant, &disc, slack);
            if (n_valid as f32) < MIN_VALID_CELLS * DISC_CELLS as f32 {
                continue;
            }
            kept.push((index, valid));
        }
        kept.sort_unstable_by_key(|c| c.0);
        let setting = LayerSetting {
            disc: &disc,
            table,
            slack,
            error_scale,
        };
        // (A loop rather than an iterator adapter, so that it is compiled into the dispatched copy.)
        let mut cylinders: Vec<Cylinder> = Vec::with_capacity(kept.len());
        for &(index, valid) in &kept {
            let (Some(&centre), Some(set)) = (points.get(index), neighbours.get(index)) else {
                continue;
            };
            let bits = cylinder_layers(&points, centre, set, &valid, &setting);
            cylinders.push(Cylinder {
                x: centre.0,
                y: centre.1,
                angle: centre.2,
                valid,
                bits,
                n_bits: bits.iter().flatten().map(|w| w.count_ones()).sum(),
                full: n_valid_of(&valid) == DISC_CELLS,
            });
        }
        Self::from_cylinders(cylinders)
    }

    /// The template of these cylinders: what a comparison needs besides them, computed from them
    /// (inlined into the dispatched copies, as [`MccTemplate::build`] is).
    #[inline(always)]
    fn from_cylinders(cylinders: Vec<Cylinder>) -> MccTemplate {
        let mut template = MccTemplate {
            cylinders,
            geometry: Box::new(Geometry::EMPTY),
            sure: [0; DIRECTION_SECTORS],
            maybe: [0; DIRECTION_SECTORS],
            full: 0,
            lanes: Box::new(Lanes::EMPTY),
        };
        template.derive();
        template
    }

    /// Computes from the cylinders what a comparison needs besides them, in the template's own
    /// memory (whatever it held before; inlined into the dispatched copies).
    #[inline(always)]
    fn derive(&mut self) {
        let MccTemplate {
            cylinders,
            geometry,
            sure,
            maybe,
            full,
            lanes,
        } = self;
        // (Loops rather than iterator adapters, so that they are compiled into the dispatched
        // copy, where the arctangents vectorise.)
        **geometry = Geometry::EMPTY;
        let Geometry {
            distance,
            direction: directions,
        } = &mut **geometry;
        for ((m, distances), directions) in
            cylinders.iter().zip(distance.iter_mut()).zip(directions)
        {
            for ((k, d), slot) in cylinders
                .iter()
                .zip(distances.iter_mut())
                .zip(directions.iter_mut())
            {
                let (dx, dy) = (m.x - k.x, m.y - k.y);
                *d = (dx * dx + dy * dy).sqrt();
                *slot = direction(dy, dx);
            }
        }
        // Two directions within a quarter turn lie at most CANDIDATE_REACH sectors apart, around
        // the circle; at most 14 apart, they are less than 15 sectors (84°) apart, well within a
        // quarter turn whatever the rounding.
        let mut in_sector = [0u32; DIRECTION_SECTORS];
        for (i, c) in cylinders.iter().enumerate() {
            in_sector[direction_sector(c.angle)] |= 1 << i;
        }
        let around = |sector: usize, reach: usize| {
            (0..=2 * reach)
                .map(|d| in_sector[(sector + DIRECTION_SECTORS + d - reach) % DIRECTION_SECTORS])
                .fold(0, |mask, m| mask | m)
        };
        *sure = std::array::from_fn(|sector| around(sector, 14));
        *maybe = std::array::from_fn(|sector| around(sector, CANDIDATE_REACH) & !sure[sector]);
        *full = cylinders
            .iter()
            .enumerate()
            .fold(0, |mask, (i, c)| mask | (u32::from(c.full) << i));
        Lanes::fill(
            lanes,
            cylinders,
            &std::array::from_fn(|sector| sure[sector] | maybe[sector]),
        );
    }

    /// Number of valid cylinders.
    pub fn len(&self) -> usize {
        self.cylinders.len()
    }

    /// For each cylinder, its valid cells and its bits (layer by layer), for the index's hashes.
    pub(crate) fn cylinder_bits(
        &self,
    ) -> impl Iterator<Item = (&[u64; LAYER_WORDS], &[[u64; LAYER_WORDS]; ND])> {
        self.cylinders.iter().map(|c| (&c.valid, &c.bits))
    }

    /// For each cylinder (in the order of [`MccTemplate::cylinder_bits`]), its centre and direction
    /// in 500-dpi pixels and radians (y up), for the index's geometric checks.
    pub(crate) fn cylinder_poses(&self) -> impl Iterator<Item = (f32, f32, f32)> + '_ {
        self.cylinders.iter().map(|c| (c.x, c.y, c.angle))
    }

    /// Whether no minutia produced a valid cylinder (such a template matches nothing).
    pub fn is_empty(&self) -> bool {
        self.cylinders.is_empty()
    }

    /// The cylinders (one bit each) whose direction is within [`MAX_DIRECTION_DIFF`] of `angle`:
    /// those surely so by the sectors, and those that may be and pass the test.
    #[inline(always)]
    fn candidates(&self, angle: f32) -> u32 {
        let sector = direction_sector(angle);
        let mut candidates = self.sure[sector];
        let mut maybe = self.maybe[sector];
        while maybe != 0 {
            let j = maybe.trailing_zeros() as usize;
            maybe &= maybe - 1;
            if let Some(c) = self.cylinders.get(j) {
                candidates |= u32::from(compatible_directions(angle, c.angle)) << j;
            }
        }
        candidates
    }
}

/// The cells of a layer whose centre lies within the radius (the cylinder's disc), one bit each:
/// the most a cylinder's valid cells hold.
pub(crate) const DISC_MASK: [u64; LAYER_WORDS] = {
    let mut mask = [0u64; LAYER_WORDS];
    let mut cell = 0;
    while cell < NS * NS {
        // Twice the offset from the centre in cells, an odd integer, so the test is exact.
        let u = 2 * (cell / NS) as i64 - (NS as i64 - 1);
        let v = 2 * (cell % NS) as i64 - (NS as i64 - 1);
        if u * u + v * v <= (NS * NS) as i64 {
            mask[cell / 64] |= 1 << (cell % 64);
        }
        cell += 1;
    }
    mask
};

/// Number of cells of a layer whose centre lies within the radius (the cylinder's disc).
pub(crate) const DISC_CELLS: usize = {
    let mut count = 0;
    let mut word = 0;
    while word < LAYER_WORDS {
        count += DISC_MASK[word].count_ones() as usize;
        word += 1;
    }
    count
};

/// Number of valid cells.
fn n_valid_of(valid: &[u64; LAYER_WORDS]) -> usize {
    valid.iter().map(|w| w.count_ones() as usize).sum()
}

/// Number of disc cells two cylinders must share to be compared.
fn min_matchable_cells() -> u32 {
    (MIN_MATCHABLE_CELLS * DISC_CELLS as f32) as u32
}

/// [`angle_diff`] without branches (which way a difference wraps is as good as random): the
/// same value, but for the sign of a zero (d + 0 where `angle_diff` returns d), which only the
/// absolute values taken of it here ever see.
#[inline(always)]
fn angle_diff_unsigned_zero(a: f32, b: f32) -> f32 {
    let d = a - b;
    let turn = (f32::from(u8::from(d < -PI)) - f32::from(u8::from(d >= PI))) * (2.0 * PI);
    // d + 2π, d + (-2π) (which is d - 2π), or d + 0.
    d + turn
}

/// Whether two directions are within [`MAX_DIRECTION_DIFF`] (as `angle_diff(a, b).abs()` says).
#[inline(always)]
fn compatible_directions(a: f32, b: f32) -> bool {
    angle_diff_unsigned_zero(a, b).abs() <= MAX_DIRECTION_DIFF
}

/// For two full cylinders (bit-based MCC, over the cells valid in both, which are all): each
/// covers the other, so only the XOR needs counting; the other counts are the cylinders' own.
/// Always inlined, so that it is compiled with the popcount instruction inside the dispatched
/// copies of [`MccMatcher::similarity`].
#[inline(always)]
fn full_xor_count(a: &Cylinder, b: &Cylinder) -> u32 {
    a.bits
        .iter()
        .flatten()
        .zip(b.bits.iter().flatten())
        .map(|(wa, wb)| (wa ^ wb).count_ones())
        .sum()
}

/// For two cylinders in general: the set bits of their XOR and of each, over the cells valid in
/// both; `None` when they share fewer than `min_common` valid cells (not comparable).
#[inline(always)]
fn partial_counts(a: &Cylinder, b: &Cylinder, min_common: u32) -> Option<(u32, u32, u32)> {
    let mut n_common = 0;
    let mut a_covered = true;
    let mut b_covered = true;
    for (va, vb) in a.valid.iter().zip(&b.valid) {
        let common = va & vb;
        n_common += common.count_ones();
        a_covered &= common == *va;
        b_covered &= common == *vb;
    }
    if n_common < min_common {
        return None;
    }
    // Both cylinders share all their valid cells: masking changes nothing and only the XOR
    // needs counting. The result is identical.
    if a_covered && b_covered {
        return Some((full_xor_count(a, b), a.n_bits, b.n_bits));
    }
    let (mut na, mut nb, mut nx) = (0u32, 0u32, 0u32);
    for k in 0..ND {
        for w in 0..LAYER_WORDS {
            // a's bits are already zero outside a's valid cells, so masking with b's suffices.
            let ca = a.bits[k][w] & b.valid[w];
            let cb = b.bits[k][w] & a.valid[w];
            na += ca.count_ones();
            nb += cb.count_ones();
            nx += (ca ^ cb).count_ones();
        }
    }
    Some((nx, na, nb))
}

/// Bits of a cylinder: every count of set bits is at most this.
const CYLINDER_BITS: usize = NS * NS * ND;

/// Square roots of the bit counts 0..=CYLINDER_BITS (exactly `f32::sqrt`'s, looked up: much
/// cheaper than computing them).
type Roots = [f32; CYLINDER_BITS + 1];

static ROOTS: std::sync::LazyLock<Roots> =
    std::sync::LazyLock::new(|| std::array::from_fn(|n| (n as f32).sqrt()));

/// The square root of a bit count (at most [`CYLINDER_BITS`]; the clamp only spares a bounds
/// check).
#[inline(always)]
fn root(roots: &Roots, n: u32) -> f32 {
    roots[(n as usize).min(CYLINDER_BITS)]
}

/// A pair's key: the similarity's bits, then the row and column reversed, so that the larger key
/// is the better pair, and among equal similarities the lower row, then column (0: none).
#[inline(always)]
fn pair_of(score: u32, i: usize, j: usize) -> u64 {
    (u64::from(score) << 16) | (((255 - i) as u64) << 8) | (255 - j) as u64
}

/// Similarity bits, row and column of a key of [`pair_of`].
#[inline(always)]
fn unpack_pair(key: u64) -> (u32, usize, usize) {
    (
        (key >> 16) as u32,
        255 - ((key >> 8) & 0xFF) as usize,
        255 - (key & 0xFF) as usize,
    )
}

/// The best pair of row `i` of local similarities (float bits, 0 where not comparable) among
/// the `columns`, as a key of [`pair_of`] (0: none).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn row_best(row: &[u32; MAX_CYLINDERS], i: usize, columns: u32) -> u64 {
    let mut best = 0u64;
    for (j, &score) in row.iter().enumerate() {
        let live = (columns >> j) & 1 != 0 && score != 0;
        best = best.max(if live { pair_of(score, i, j) } else { 0 });
    }
    best
}

/// [`row_best`] visiting only the `columns` (for copies without AVX-512).
#[inline(always)]
fn row_best_of_columns(row: &[u32; MAX_CYLINDERS], i: usize, columns: u32) -> u64 {
    let mut best = 0u64;
    let mut columns = columns;
    while columns != 0 {
        let j = columns.trailing_zeros() as usize;
        columns &= columns - 1;
        let score = row[j];
        if score != 0 {
            best = best.max(pair_of(score, i, j));
        }
    }
    best
}

/// A binary max-heap of at most [`MAX_CYLINDERS`] keys, without allocation (zero keys are not
/// kept).
#[derive(Debug, Default)]
struct RowHeap {
    keys: [u64; MAX_CYLINDERS],
    len: usize,
}

impl RowHeap {
    #[inline(always)]
    fn push(&mut self, key: u64) {
        if key == 0 || self.len >= MAX_CYLINDERS {
            return;
        }
        let mut at = self.len;
        self.len += 1;
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.keys[parent] >= key {
                break;
            }
            self.keys[at] = self.keys[parent];
            at = parent;
        }
        self.keys[at] = key;
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let top = self.keys[0];
        self.len -= 1;
        let last = self.keys[self.len];
        let mut at = 0;
        loop {
            let child = 2 * at + 1;
            if child >= self.len {
                break;
            }
            let child = if child + 1 < self.len && self.keys[child + 1] > self.keys[child] {
                child + 1
            } else {
                child
            };
            if self.keys[child] <= last {
                break;
            }
            self.keys[at] = self.keys[child];
            at = child;
        }
        self.keys[at] = last;
        Some(top)
    }
}

/// Compatibility of every two selected pairs (`pair_a[t]`, `pair_b[t]` for t below `nr`) into
/// `rho` (both triangles; zero where negligible): for each pair, the later pairs whose distances
/// agree (the commonest reason for none), found without branches; then those.
#[inline(always)]
fn compatibilities(
    a: &MccTemplate,
    b: &MccTemplate,
    pair_a: &[usize; MAX_CYLINDERS],
    pair_b: &[usize; MAX_CYLINDERS],
    nr: usize,
    rho: &mut [[f32; MAX_CYLINDERS]; MAX_CYLINDERS],
) {
    let mut near = [0usize; MAX_CYLINDERS];
    for t in 0..nr {
        let (at, bt) = (pair_a[t] % MAX_CYLINDERS, pair_b[t] % MAX_CYLINDERS);
        let (da_row, db_row) = (&a.geometry.distance[at], &b.geometry.distance[bt]);
        let mut n_near = 0;
        for k in (t + 1)..nr {
            let (da, db) = (
                da_row[pair_a[k] % MAX_CYLINDERS],
                db_row[pair_b[k] % MAX_CYLINDERS],
            );
            near[n_near] = k;
            // Beyond these cut-offs a sigmoid factor is below 1e-9: the term could not move
            // an f32 sum of similarities, so it is left at zero instead of computed.
            // (Distances are finite: "not beyond" is "within".)
            n_near += usize::from((da - db).abs() <= RHO_1_CUTOFF);
        }
        let (ma, mb) = (&a.cylinders[at], &b.cylinders[bt]);
        for &k in &near[..n_near] {
            let (ak, bk) = (pair_a[k] % MAX_CYLINDERS, pair_b[k] % MAX_CYLINDERS);
            let (ka, kb) = (&a.cylinders[ak], &b.cylinders[bk]);
            let d1 = (da_row[ak] - db_row[bk]).abs();
            let (direction_a, direction_b) =
                (a.geometry.direction[at][ak], b.geometry.direction[bt][bk]);
            // (Only absolute values of these differences are used, see
            // `angle_diff_unsigned_zero`.)
            let d2 = angle_diff_unsigned_zero(
                angle_diff_unsigned_zero(ma.angle, ka.angle),
                angle_diff_unsigned_zero(mb.angle, kb.angle),
            )
            .abs();
            if d2 > RHO_ANGLE_CUTOFF {
                continue;
            }
            let radial_a = angle_diff_unsigned_zero(ma.angle, direction_a);
            let radial_b = angle_diff_unsigned_zero(mb.angle, direction_b);
            let d3 = angle_diff_unsigned_zero(radial_a, radial_b).abs();
            if d3 > RHO_ANGLE_CUTOFF {
                continue;
            }
            let rho_tk = compatibility(d1, d2, d3);
            rho[t][k] = rho_tk;
            rho[k][t] = rho_tk;
        }
    }
}

/// The compatibility of two pairs whose distances differ by `d1` and directions by `d2`, `d3`.
#[inline(always)]
fn compatibility(d1: f32, d2: f32, d3: f32) -> f32 {
    sigmoid(d1, MU_RHO_1, TAU_RHO_1)
        * sigmoid(d2, MU_RHO_2, TAU_RHO_2)
        * sigmoid(d3, MU_RHO_3, TAU_RHO_3)
}

/// Reusable buffers for [`MccMatcher::similarity`], so that 1:N scans do not allocate per pair.
#[derive(Debug, Default)]
pub struct MccMatcher {
    /// Local similarities (float bits) of a's cylinders (rows) with b's.
    scores: Box<[[u32; MAX_CYLINDERS]; MAX_CYLINDERS]>,
    /// The one-to-one pairs chosen: similarity, cylinder of a, cylinder of b.
    selected: Vec<(f32, u16, u16)>,
    /// Compatibility of two selected pairs.
    rho: Box<[[f32; MAX_CYLINDERS]; MAX_CYLINDERS]>,
    /// The AVX-512 copy's pairs of pairs waiting for their compatibilities.
    #[cfg(target_arch = "x86_64")]
    pending: Box<avx512::Pending>,
}

impl MccMatcher {
    /// A matcher with empty buffers.
    pub fn new() -> MccMatcher {
        MccMatcher::default()
    }

    /// Global similarity of two templates in [0, 1] with LSS-R: local similarities of all
    /// cylinder pairs, the best one-to-one pairs, relaxation by their mutual geometric
    /// compatibility, and the mean relaxed similarity of the most efficient pairs.
    ///
    /// On x86-64 processors with AVX-512 (F, BW, DQ, VL and VPOPCNTDQ) a copy compiled for it
    /// runs, with kernels written for its lanes; on those with AVX2 (and POPCNT) a copy compiled
    /// for them, on those with the POPCNT instruction only (all made since about 2010) one
    /// compiled for it; elsewhere the portable one. All give bit-identical scores (tested).
    pub fn similarity(&mut self, a: &MccTemplate, b: &MccTemplate) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        {
            // SAFETY: the processor has these AVX-512 extensions (and so AVX2 and POPCNT),
            // checked just above; the function needs nothing else.
            #[allow(unsafe_code)]
            return unsafe { self.similarity_avx512(a, b) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the processor has AVX2 and POPCNT, checked just above; the function needs
            // nothing else.
            #[allow(unsafe_code)]
            return unsafe { self.similarity_avx2(a, b) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the processor has POPCNT, checked just above; the function needs nothing else.
            #[allow(unsafe_code)]
            return unsafe { self.similarity_popcnt(a, b) };
        }
        self.similarity_portable(a, b)
    }

    /// [`MccMatcher::similarity`] compiled for AVX-512 (with its vector popcount).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx2,popcnt")]
    fn similarity_avx512(&mut self, a: &MccTemplate, b: &MccTemplate) -> f64 {
        self.similarity_with::<true>(a, b)
    }

    /// [`MccMatcher::similarity`] compiled for AVX2 and POPCNT.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt")]
    fn similarity_avx2(&mut self, a: &MccTemplate, b: &MccTemplate) -> f64 {
        self.similarity_portable(a, b)
    }

    /// [`MccMatcher::similarity`] compiled for POPCNT.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn similarity_popcnt(&mut self, a: &MccTemplate, b: &MccTemplate) -> f64 {
        self.similarity_portable(a, b)
    }

    /// [`MccMatcher::similarity`] for any processor (inlined into the dispatched copies).
    #[inline(always)]
    pub(crate) fn similarity_portable(&mut self, a: &MccTemplate, b: &MccTemplate) -> f64 {
        self.similarity_with::<false>(a, b)
    }

    /// [`MccMatcher::similarity`], with the kernels written for AVX-512 where `AVX512` (only in
    /// the copy compiled for it).
    #[inline(always)]
    fn similarity_with<const AVX512: bool>(&mut self, a: &MccTemplate, b: &MccTemplate) -> f64 {
        const _: () = assert!(MAX_CYLINDERS <= 32);
        let (na, nb) = (a.cylinders.len(), b.cylinders.len());
        if na == 0 || nb == 0 || na > MAX_CYLINDERS || nb > MAX_CYLINDERS {
            return 0.0;
        }
        #[cfg(target_arch = "x86_64")]
        if AVX512 {
            self.select_pairs_in_lanes(a, b);
        } else {
            self.select_pairs(a, b);
        }
        #[cfg(not(target_arch = "x86_64"))]
        self.select_pairs(a, b);
        let n_min = na.min(nb);
        let np =
            (MIN_NP + (sigmoid(n_min as f32, MU_P, TAU_P) * (MAX_NP - MIN_NP))).round() as usize;
        let nr = self.selected.len();
        if nr == 0 {
            return 0.0;
        }

        // Compatibility of every two selected pairs (zero where negligible).
        let rho = &mut self.rho;
        for row in rho.iter_mut().take(nr) {
            *row = [0.0; MAX_CYLINDERS];
        }
        let mut pair_a = [0usize; MAX_CYLINDERS];
        let mut pair_b = [0usize; MAX_CYLINDERS];
        for ((pa, pb), &(_, at, bt)) in pair_a.iter_mut().zip(&mut pair_b).zip(&self.selected) {
            (*pa, *pb) = (usize::from(at), usize::from(bt));
        }
        #[cfg(target_arch = "x86_64")]
        if AVX512 {
            // SAFETY: `AVX512` is set only in the copy compiled for these extensions, which
            // runs only on processors that have them.
            #[allow(unsafe_code)]
            unsafe {
                avx512::compatibilities(a, b, &pair_a, &pair_b, nr, rho, &mut self.pending);
            }
        } else {
            compatibilities(a, b, &pair_a, &pair_b, nr, rho);
        }
        #[cfg(not(target_arch = "x86_64"))]
        compatibilities(a, b, &pair_a, &pair_b, nr, rho);
        // Relaxation, every pair at once: a pair's support adds its compatibilities times the
        // others' values in their order (the matrix is symmetric, so row k holds column k).
        let mut lambda = [0.0f32; MAX_CYLINDERS];
        for (l, p) in lambda.iter_mut().zip(&self.selected) {
            *l = p.0;
        }
        let others = (nr.max(2) - 1) as f32;
        for _ in 0..RELAXATION_ROUNDS {
            let mut support = [0.0f32; MAX_CYLINDERS];
            for (row, &l) in rho.iter().zip(&lambda).take(nr) {
                for (s, &r) in support.iter_mut().zip(row) {
                    *s += r * l;
                }
            }
            let previous = lambda;
            for (t, l) in lambda.iter_mut().enumerate().take(nr) {
                *l = RELAXATION_WEIGHT * previous[t]
                    + (1.0 - RELAXATION_WEIGHT) * support[t] / others;
            }
        }
        // Efficiency of each pair: how much of its similarity survived relaxation. The score is
        // the mean relaxed similarity of the np most efficient (among equals, the first), added in
        // that order: picked one at a time (np is at most 12).
        let mut efficiency = [0.0f32; MAX_CYLINDERS];
        for ((e, l), p) in efficiency.iter_mut().zip(&lambda).zip(&self.selected) {
            *e = l / p.0;
        }
        // (Keys: the efficiency in `f32::total_cmp`'s order, then the index reversed, so that the
        // largest key is the most efficient pair, among equals the first; zero: none.)
        let mut keys = [0u64; MAX_CYLINDERS];
        for (t, (key, e)) in keys.iter_mut().zip(&efficiency).enumerate() {
            let bits = e.to_bits();
            let ordered = if bits >> 31 == 1 {
                !bits
            } else {
                bits | (1 << 31)
            };
            let live = t < nr;
            *key = if live {
                (u64::from(ordered) << 8) | (255 - t) as u64
            } else {
                0
            };
        }
        let mut total = -0.0f32;
        for _ in 0..np.min(nr) {
            let mut best = 0;
            for &key in &keys {
                best = best.max(key);
            }
            let pick = 255 - (best & 0xFF) as usize;
            if let (Some(key), Some(&l)) = (keys.get_mut(pick), lambda.get(pick)) {
                *key = 0;
                total += l;
            }
        }
        f64::from(total / np as f32)
    }

    /// The local similarities and the one-to-one pairs chosen from them (into `selected`), for
    /// AVX-512: each row of similarities computed at once over the window of b's cylinders, in
    /// direction order, that holds its candidates, the best of the rows' best pairs found by a
    /// 32-lane maximum.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn select_pairs_in_lanes(&mut self, a: &MccTemplate, b: &MccTemplate) {
        let (na, nb) = (a.cylinders.len(), b.cylinders.len());
        let min_common = min_matchable_cells();
        // Local similarities: for each cylinder of a, a row of `scores` (as float bits, which
        // order as the numbers do; zero for pairs not comparable and beyond b's cylinders).
        let scores = &mut self.scores;
        // SAFETY: this copy runs only on processors with AVX-512 (`similarity_avx512`).
        #[allow(unsafe_code)]
        unsafe {
            avx512::local_similarities(a, b, min_common, scores);
        }
        // Local similarity sort, one-to-one: the best pair first, then the best pair whose
        // cylinders are both still free, up to min(nA, nB) pairs (which is all a one-to-one
        // choice can have); among equal similarities the lower index of a, then of b. The same
        // pairs in the same order as going down all pairs sorted, found without sorting them:
        // each free row's best pair among the free columns is kept (keys: the similarity's bits,
        // then the row and column reversed, so that the larger key is the better pair); the best
        // of those is taken if its column is still free, else its row looks again. The rows'
        // keys stay in four registers.
        // SAFETY: this copy runs only on processors with AVX-512 (`similarity_avx512`).
        #[allow(unsafe_code)]
        unsafe {
            avx512::choose_pairs(scores, na, nb, &mut self.selected);
        }
    }

    /// [`MccMatcher::select_pairs_in_lanes`] for processors without AVX-512 (where 32 lanes of
    /// popcounts and 64-bit maxima are slow): the direction-compatible pairs alone, the rows' best
    /// pairs in a heap. The same pairs in the same order.
    #[inline(always)]
    fn select_pairs(&mut self, a: &MccTemplate, b: &MccTemplate) {
        let (na, nb) = (a.cylinders.len(), b.cylinders.len());
        let min_common = min_matchable_cells();
        let roots: &Roots = &ROOTS;
        // Local similarities: for each cylinder of a, a row of `scores` (as float bits, which
        // order as the numbers do; zero for pairs not comparable and beyond b's cylinders).
        let scores = &mut self.scores;
        // Per row, the columns compared (a superset of those with a positive similarity).
        let mut compared = [0u32; MAX_CYLINDERS];
        for ((ca, row), compared) in a.cylinders.iter().zip(scores.iter_mut()).zip(&mut compared) {
            let candidates = b.candidates(ca.angle);
            // The square roots of the bit counts of each candidate pair (those full, if this one
            // is, and the others, each its own way; zero where not compared), then the
            // similarities of the row at once: 1 - √nx / (√na + √nb), or 0 where na + nb = 0.
            let mut counts = [[0.0f32; MAX_CYLINDERS]; 3];
            *compared = candidates;
            let full = if ca.full { candidates & b.full } else { 0 };
            let mut columns = full;
            while columns != 0 {
                let j = columns.trailing_zeros() as usize;
                columns &= columns - 1;
                if let Some(cb) = b.cylinders.get(j) {
                    counts[0][j] = root(roots, full_xor_count(ca, cb));
                    counts[1][j] = root(roots, ca.n_bits);
                    counts[2][j] = root(roots, cb.n_bits);
                }
            }
            let mut columns = candidates & !full;
            while columns != 0 {
                let j = columns.trailing_zeros() as usize;
                columns &= columns - 1;
                if let Some((nx, na, nb)) = b
                    .cylinders
                    .get(j)
                    .and_then(|cb| partial_counts(ca, cb, min_common))
                {
                    counts[0][j] = root(roots, nx);
                    counts[1][j] = root(roots, na);
                    counts[2][j] = root(roots, nb);
                }
            }
            // (Loops, not closures, so that all is compiled into the dispatched copies.)
            for (j, slot) in row.iter_mut().enumerate() {
                // √na + √nb is 0 exactly when na + nb is.
                let (rx, ra, rb) = (counts[0][j], counts[1][j], counts[2][j]);
                let sum = ra + rb;
                let s = 1.0 - rx / sum;
                *slot = if sum > 0.0 && s > 0.0 { s.to_bits() } else { 0 };
            }
        }
        // Local similarity sort, one-to-one: the best pair first, then the best pair whose
        // cylinders are both still free, up to min(nA, nB) pairs (which is all a one-to-one
        // choice can have); among equal similarities the lower index of a, then of b. The same
        // pairs in the same order as going down all pairs sorted, found without sorting them:
        // each row's best pair among the free columns waits in a heap (keys: the similarity's
        // bits, then the row and column reversed, so that the larger key is the better pair); the
        // best is taken if its column is still free, else its row looks again.
        let mut free = if nb == 32 { u32::MAX } else { (1u32 << nb) - 1 };
        let mut heap = RowHeap::default();
        for (i, (row, &compared)) in scores.iter().zip(&compared).enumerate().take(na) {
            heap.push(row_best_of_columns(row, i, compared & free));
        }
        self.selected.clear();
        while let Some(key) = heap.pop() {
            let (score, i, j) = unpack_pair(key);
            if (free >> j) & 1 == 0 {
                // Its column was taken since: the row's best among those left.
                if let (Some(row), Some(&compared)) = (scores.get(i), compared.get(i)) {
                    heap.push(row_best_of_columns(row, i, compared & free));
                }
                continue;
            }
            self.selected
                .push((f32::from_bits(score), i as u16, j as u16));
            free &= !(1 << j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Angle, ImageGeometry, Minutia, MinutiaKind, ViewInfo};

    fn template(points: &[(f32, f32, f32)]) -> Template {
        let minutiae = points
            .iter()
            .map(|&(x, y, degrees)| Minutia {
                x: x.round() as u16,
                y: y.round() as u16,
                angle: Angle::from_degrees(f64::from(degrees)),
                kind: MinutiaKind::RidgeEnding,
                quality: 60,
            })
            .collect();
        Template::parse(
            ImageGeometry::from_dpi(400, 400, 500).unwrap(),
            ViewInfo::default(),
            minutiae,
            vec![],
        )
        .unwrap()
    }

    /// A deterministic pseudo-random print: 40 minutiae in a 200×240 area.
    fn print(seed: u32) -> Vec<(f32, f32, f32)> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 10_000) as f32 / 10_000.0
        };
        (0..40)
            .map(|_| {
                (
                    100.0 + next() * 200.0,
                    80.0 + next() * 240.0,
                    next() * 360.0,
                )
            })
            .collect()
    }

    fn transform(
        points: &[(f32, f32, f32)],
        degrees: f32,
        dx: f32,
        dy: f32,
    ) -> Vec<(f32, f32, f32)> {
        let (sin, cos) = degrees.to_radians().sin_cos();
        points
            .iter()
            .map(|&(x, y, a)| {
                // Rotation about the centre (200, 200) as seen on the image (y down).
                let (u, v) = (x - 200.0, 200.0 - y);
                let (ru, rv) = (u * cos - v * sin, u * sin + v * cos);
                (200.0 + ru + dx, 200.0 - rv + dy, a + degrees)
            })
            .collect()
    }

    /// The cylinders as the straightforward computation builds them: cell by cell, every
    /// neighbour for every cell, the hull test for every cell, the bits of every valid cylinder,
    /// then the cap (the builder before it was made faster).
    fn reference_cylinders(template: &Template) -> Vec<Cylinder> {
        let geometry = template.geometry();
        // Rescale to 500 dpi, per axis.
        let sx = 500.0 / (f32::from(geometry.x_ppcm()) * 2.54);
        let sy = 500.0 / (f32::from(geometry.y_ppcm()) * 2.54);
        let points: Vec<(f32, f32, f32)> = template
            .minutiae()
            .iter()
            .map(|m| {
                (
                    f32::from(m.x) * sx,
                    -f32::from(m.y) * sy,
                    m.angle.radians() as f32,
                )
            })
            .collect();
        let qualities: Vec<u8> = template.minutiae().iter().map(|m| m.quality).collect();
        let hull = convex_hull(&points.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>());
        let delta_s = 2.0 * RADIUS / NS as f32;
        let delta_d = 2.0 * PI / ND as f32;
        let reach = RADIUS + 3.0 * SIGMA_S;
        let gaussian_norm = 1.0 / (SIGMA_S * (2.0 * PI).sqrt());
        let sqrt2_sigma_d = std::f32::consts::SQRT_2 * SIGMA_D;
        let mut quality = Vec::with_capacity(points.len());
        let mut cylinders = Vec::with_capacity(points.len());
        for (index, &(x, y, angle)) in points.iter().enumerate() {
            let neighbours: Vec<(f32, f32, [f32; ND])> = points
                .iter()
                .enumerate()
                .filter(|&(other, p)| {
                    other != index && (p.0 - x).powi(2) + (p.1 - y).powi(2) <= reach * reach
                })
                .map(|(_, p)| {
                    // Directional contribution per angular section: the Gaussian's mass over the
                    // section, centred on the neighbour's direction relative to this minutia.
                    let relative = angle_diff(angle, p.2);
                    let mut directional = [0.0f32; ND];
                    for (k, slot) in directional.iter_mut().enumerate() {
                        let centre = -PI + (k as f32 + 0.5) * delta_d;
                        let alpha = angle_diff(centre, relative);
                        *slot = 0.5
                            * (erf((alpha + delta_d / 2.0) / sqrt2_sigma_d)
                                - erf((alpha - delta_d / 2.0) / sqrt2_sigma_d));
                    }
                    (p.0, p.1, directional)
                })
                .collect();
            if neighbours.len() < MIN_NEIGHBOURS {
                continue;
            }
            let (sin, cos) = angle.sin_cos();
            let mut valid = [0u64; LAYER_WORDS];
            let mut bits = [[0u64; LAYER_WORDS]; ND];
            let mut n_valid = 0usize;
            for i in 0..NS {
                for j in 0..NS {
                    let u = (i as f32 - (NS as f32 - 1.0) / 2.0) * delta_s;
                    let v = (j as f32 - (NS as f32 - 1.0) / 2.0) * delta_s;
                    if u * u + v * v > RADIUS * RADIUS {
                        continue;
                    }
                    let cx = x + u * cos - v * sin;
                    let cy = y + u * sin + v * cos;
                    if !near_hull(&hull, (cx, cy), OMEGA) {
                        continue;
                    }
                    let cell = i * NS + j;
                    let (word, bit) = (cell / 64, cell % 64);
                    valid[word] |= 1 << bit;
                    n_valid += 1;
                    let mut sums = [0.0f32; ND];
                    for &(nx, ny, directional) in &neighbours {
                        let d2 = (nx - cx).powi(2) + (ny - cy).powi(2);
                        if d2 > 9.0 * SIGMA_S * SIGMA_S {
                            continue;
                        }
                        let spatial = gaussian_norm * (-d2 / (2.0 * SIGMA_S * SIGMA_S)).exp();
                        for k in 0..ND {
                            sums[k] += spatial * directional[k];
                        }
                    }
                    for k in 0..ND {
                        if sums[k] >= MU_PSI {
                            bits[k][word] |= 1 << bit;
                        }
                    }
                }
            }
            if (n_valid as f32) < MIN_VALID_CELLS * DISC_CELLS as f32 {
                continue;
            }
            let n_bits = bits.iter().flatten().map(|w| w.count_ones()).sum();
            quality.push(qualities[index]);
            cylinders.push(Cylinder {
                x,
                y,
                angle,
                valid,
                bits,
                n_bits,
                full: n_valid == DISC_CELLS,
            });
        }
        if cylinders.len() > MAX_CYLINDERS {
            // Keep the cylinders of the best-quality minutiae; among equals, the first.
            let mut order: Vec<usize> = (0..cylinders.len()).collect();
            order.sort_by(|&x, &y| quality[y].cmp(&quality[x]).then(x.cmp(&y)));
            order.truncate(MAX_CYLINDERS);
            order.sort_unstable();
            cylinders = order.into_iter().map(|i| cylinders[i].clone()).collect();
        }
        cylinders
    }

    /// The cylinders of `template` as [`MccTemplate::new`] builds them (on this machine, the AVX2
    /// copy where there is one), as the portable copy builds them, and with the approximations'
    /// error bounds scaled up so that most sums take the exact path: all the reference's.
    fn assert_same_cylinders(template: &Template, what: &str) {
        let expected = reference_cylinders(template);
        for (built, how) in [
            (MccTemplate::new(template), "dispatched"),
            (MccTemplate::build(template, 1.0), "portable"),
            (MccTemplate::build(template, 1e4), "mostly exact"),
        ] {
            assert_eq!(
                built.cylinders.len(),
                expected.len(),
                "{what}, {how}: cylinder count"
            );
            for (n, (c, e)) in built.cylinders.iter().zip(&expected).enumerate() {
                assert_eq!(
                    (c.x.to_bits(), c.y.to_bits(), c.angle.to_bits()),
                    (e.x.to_bits(), e.y.to_bits(), e.angle.to_bits()),
                    "{what}, {how}: minutia of cylinder {n}"
                );
                assert_eq!(
                    c.valid, e.valid,
                    "{what}, {how}: valid cells of cylinder {n}"
                );
                assert_eq!(c.bits, e.bits, "{what}, {how}: bits of cylinder {n}");
                assert_eq!(
                    c.n_bits, e.n_bits,
                    "{what}, {how}: bit count of cylinder {n}"
                );
            }
        }
    }

    /// Random templates of every shape: few to many minutiae (so that some cylinders are dropped
    /// and the cap applies), dense and sparse, near the image border, coarse qualities (ties),
    /// repeated positions, and resolutions other than 500 dpi, square and not; one in five far
    /// from the origin (large coordinates), at 500 dpi or (then dense enough to have neighbours)
    /// at very low resolutions, where positions reach millions of 500-dpi pixels; one in forty on
    /// a line (a hull without area). With whether each is far.
    fn random_templates(count: usize, seed: u32) -> Vec<(Template, bool)> {
        let mut state = seed;
        let mut next = move |n: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state % n
        };
        (0..count)
            .map(|case| {
                let (mut width, mut height) = (100 + next(500) as u16, 100 + next(700) as u16);
                let far = case % 5 == 4;
                let (origin, patch) = if far {
                    (
                        16_000 - next(2000) as u16,
                        (width.min(height) / [1, 12, 40][case % 3]).max(4),
                    )
                } else {
                    (0, 0)
                };
                if far {
                    (width, height) = (16_384, 16_384);
                }
                let geometry = match (far, case % 3) {
                    (_, 0) => ImageGeometry::from_dpi(width, height, 500),
                    (false, 1) => ImageGeometry::from_dpi(width, height, 569),
                    (true, 1) => ImageGeometry::parse(width, height, 16, 17),
                    (false, _) => ImageGeometry::parse(
                        width,
                        height,
                        150 + next(100) as u16,
                        180 + next(60) as u16,
                    ),
                    (true, _) => ImageGeometry::parse(width, height, 5, 5),
                }
                .unwrap();
                let n = 1 + next(120) as usize;
                let mut minutiae: Vec<Minutia> = Vec::with_capacity(n);
                for _ in 0..n {
                    let repeat = !minutiae.is_empty() && next(10) == 0;
                    let (x, y) = if repeat {
                        let m = &minutiae[next(minutiae.len() as u32) as usize];
                        (m.x, m.y)
                    } else if far {
                        (
                            origin + next(u32::from(patch)) as u16,
                            origin - next(u32::from(patch)) as u16,
                        )
                    } else {
                        (
                            next(u32::from(width)) as u16,
                            next(u32::from(height)) as u16,
                        )
                    };
                    minutiae.push(Minutia {
                        x,
                        y,
                        angle: Angle::from_degrees(f64::from(next(3600)) / 10.0),
                        kind: MinutiaKind::RidgeEnding,
                        quality: (next(5) * 20) as u8,
                    });
                }
                if case % 40 == 7 {
                    for m in &mut minutiae {
                        m.y = height / 2;
                    }
                }
                let template =
                    Template::parse(geometry, ViewInfo::default(), minutiae, vec![]).unwrap();
                (template, far)
            })
            .collect()
    }

    /// The MINDTCT templates of the FVC2002 DB2_B prints (extracted once for all tests), or
    /// `None` when the shared data is not there.
    fn db2b_templates() -> Option<&'static [Template]> {
        static TEMPLATES: std::sync::OnceLock<Option<Vec<Template>>> = std::sync::OnceLock::new();
        TEMPLATES
            .get_or_init(|| {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/data/fingerprints/fvc2002-db2b");
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    eprintln!("{} not found: skipped", dir.display());
                    return None;
                };
                let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
                paths.retain(|p| p.extension().is_some_and(|e| e == "tif"));
                paths.sort();
                Some(
                    paths
                        .iter()
                        .map(|path| {
                            let image = crate::FingerImage::open(path, 569).unwrap();
                            crate::extract(&image, ViewInfo::default()).unwrap()
                        })
                        .collect(),
                )
            })
            .as_deref()
    }

    #[test]
    fn cylinders_are_those_of_the_straightforward_computation() {
        let (mut cylinders, mut far_cylinders) = (0, 0);
        for (case, (template, far)) in random_templates(400, 0x9E37_79B9).iter().enumerate() {
            cylinders += reference_cylinders(template).len();
            assert_same_cylinders(template, &format!("random template {case}"));
            if *far {
                far_cylinders += MccTemplate::new(template).len();
            }
        }
        // The cases must have cylinders to compare, also far from the origin.
        assert!(
            cylinders > 3000 && far_cylinders > 300,
            "{cylinders}, {far_cylinders}"
        );
        for seed in 0..20 {
            assert_same_cylinders(&template(&print(seed)), &format!("print {seed}"));
        }
    }

    /// The approximations the builder decides most bits with are within their stated bounds
    /// of the computed values, with room to spare (the bounds are what keeps the bits exact).
    #[test]
    fn approximations_are_within_their_bounds() {
        let table: &MassTable = &MASS_TABLE;
        let mut worst = 0.0f32;
        for step in 0..200_000 {
            let relative = -PI + step as f32 * (2.0 * PI / 200_000.0);
            let exact = directional_terms(0.0, -relative);
            let relative = angle_diff(0.0, -relative);
            let interpolated = directional_terms_interpolated(table, relative);
            for (a, b) in exact.iter().zip(interpolated) {
                worst = worst.max((a - b).abs());
            }
        }
        assert!(worst < MASS_ERROR / 5.0, "directional terms off by {worst}");
        let mut worst = 0.0f32;
        for step in 0..=200_000 {
            let d2 = step as f32 * (SPATIAL_CUTOFF / 200_000.0);
            let approximate = spatial_weights([d2; 8]);
            worst = worst.max((approximate[0] - spatial_weight(d2)).abs());
        }
        assert!(
            worst < SPATIAL_ERROR / 10.0,
            "spatial weights off by {worst}"
        );
    }

    /// The fast arctangent of the pairwise directions is within its bound of `f32::atan2`, at
    /// every angle and scale, and exact where it matters most (axes, zero).
    #[test]
    fn directions_are_within_their_bound() {
        let mut worst = 0.0f32;
        for step in 0..200_000u32 {
            let angle = step as f32 * (2.0 * PI / 200_000.0);
            for scale in [1e-3f32, 1.0, 70.0, 5_000.0, 3e6] {
                let (y, x) = (angle.sin() * scale, angle.cos() * scale);
                let d = angle_diff(direction(y, x), y.atan2(x)).abs();
                worst = worst.max(d);
            }
        }
        assert!(worst < DIRECTION_ERROR / 2.0, "off by {worst}");
        assert_eq!(direction(0.0, 0.0), 0.0);
        assert_eq!(direction(0.0, 5.0), 0.0);
        assert!((direction(5.0, 0.0) - PI / 2.0).abs() < 1e-7);
        assert!((direction(0.0, -5.0) - PI).abs() < 1e-7);
        assert!((direction(-5.0, 0.0) + PI / 2.0).abs() < 1e-7);
    }

    /// The same on the real prints of FVC2002 DB2_B (MINDTCT minutiae), when the shared data is
    /// there.
    #[test]
    fn cylinders_of_real_prints_are_those_of_the_straightforward_computation() {
        for (n, template) in db2b_templates().unwrap_or_default().iter().enumerate() {
            assert_same_cylinders(template, &format!("DB2_B image {n}"));
        }
    }

    /// A pair's sort key: descending keys are descending similarity, then ascending cylinder
    /// indices (the similarity is positive, so its bits order as the number does).
    fn pair_key(s: f32, i: u16, j: u16) -> u64 {
        (u64::from(s.to_bits()) << 32) | (u64::from(u16::MAX - i) << 16) | u64::from(u16::MAX - j)
    }

    fn unpack_key(key: u64) -> (f32, u16, u16) {
        (
            f32::from_bits((key >> 32) as u32),
            u16::MAX - (key >> 16) as u16,
            u16::MAX - key as u16,
        )
    }

    /// `local_similarity` as it was (the covered case tested from the masks, no `full` flag).
    fn reference_local_similarity(
        a: &Cylinder,
        b: &Cylinder,
        min_common: u32,
        roots: &[f32],
    ) -> f32 {
        if angle_diff(a.angle, b.angle).abs() > MAX_DIRECTION_DIFF {
            return 0.0;
        }
        let mut n_common = 0;
        let mut a_covered = true;
        let mut b_covered = true;
        for (va, vb) in a.valid.iter().zip(&b.valid) {
            let common = va & vb;
            n_common += common.count_ones();
            a_covered &= common == *va;
            b_covered &= common == *vb;
        }
        if n_common < min_common {
            return 0.0;
        }
        // The common case: both cylinders lie inside the print and share all their valid cells, so
        // masking changes nothing and only the XOR needs counting. The result is identical.
        let (na, nb, nx) = if a_covered && b_covered {
            let nx: u32 = a
                .bits
                .iter()
                .flatten()
                .zip(b.bits.iter().flatten())
                .map(|(wa, wb)| (wa ^ wb).count_ones())
                .sum();
            (a.n_bits, b.n_bits, nx)
        } else {
            let (mut na, mut nb, mut nx) = (0u32, 0u32, 0u32);
            for k in 0..ND {
                for w in 0..LAYER_WORDS {
                    // a's bits are already zero outside a's valid cells, so masking with b's suffices.
                    let ca = a.bits[k][w] & b.valid[w];
                    let cb = b.bits[k][w] & a.valid[w];
                    na += ca.count_ones();
                    nb += cb.count_ones();
                    nx += (ca ^ cb).count_ones();
                }
            }
            (na, nb, nx)
        };
        if na + nb == 0 {
            return 0.0;
        }
        let root = |n: u32| {
            roots
                .get(n as usize)
                .copied()
                .unwrap_or_else(|| (n as f32).sqrt())
        };
        1.0 - root(nx) / (root(na) + root(nb))
    }

    /// Bits of a cylinder: every count of set bits is at most this.
    const CYLINDER_BITS: usize = NS * NS * ND;

    /// The matcher as it was before it was made faster (sorting every pair, dense relaxation),
    /// the reference the fast one must equal bit for bit.
    fn reference_similarity(a: &MccTemplate, b: &MccTemplate) -> f64 {
        #[derive(Default)]
        struct Buffers {
            pairs: Vec<u64>,
            selected: Vec<(f32, u16, u16)>,
            order: Vec<usize>,
            roots: Vec<f32>,
            used_a: Vec<bool>,
            used_b: Vec<bool>,
            lambda: Vec<f32>,
            next: Vec<f32>,
            rho: Vec<f32>,
        }
        let mut buffers = Buffers::default();
        let this = &mut buffers;
        let (na, nb) = (a.cylinders.len(), b.cylinders.len());
        if na == 0 || nb == 0 {
            return 0.0;
        }
        let min_common = min_matchable_cells();
        if this.roots.is_empty() {
            this.roots = (0..=CYLINDER_BITS).map(|n| (n as f32).sqrt()).collect();
        }
        this.pairs.clear();
        for (i, ca) in a.cylinders.iter().enumerate() {
            for (j, cb) in b.cylinders.iter().enumerate() {
                let s = reference_local_similarity(ca, cb, min_common, &this.roots);
                if s > 0.0 {
                    this.pairs.push(pair_key(s, i as u16, j as u16));
                }
            }
        }
        let n_min = na.min(nb);
        let np =
            (MIN_NP + (sigmoid(n_min as f32, MU_P, TAU_P) * (MAX_NP - MIN_NP))).round() as usize;
        // Local similarity sort, one-to-one: the best pair first, then the best pair whose
        // minutiae are both still free, up to min(nA, nB) pairs.
        // Sorting all pairs is the costly part; the greedy pass rarely needs more than a few
        // times n_min of them, so sort only the best 4 n_min first and the rest only if needed.
        // The keys sort as integers in exactly the order of (score descending, i, j ascending).
        let head = (4 * n_min).min(this.pairs.len());
        if head < this.pairs.len() {
            this.pairs.select_nth_unstable_by(head, |x, y| y.cmp(x));
        }
        this.pairs[..head].sort_unstable_by(|x, y| y.cmp(x));
        this.used_a.clear();
        this.used_a.resize(na, false);
        this.used_b.clear();
        this.used_b.resize(nb, false);
        this.selected.clear();
        let mut t = 0;
        while t < this.pairs.len() && this.selected.len() < n_min {
            if t == head {
                this.pairs[head..].sort_unstable_by(|x, y| y.cmp(x));
            }
            let (s, i, j) = unpack_key(this.pairs[t]);
            t += 1;
            if this.used_a[usize::from(i)] || this.used_b[usize::from(j)] {
                continue;
            }
            this.used_a[usize::from(i)] = true;
            this.used_b[usize::from(j)] = true;
            this.selected.push((s, i, j));
        }
        let nr = this.selected.len();
        if nr == 0 {
            return 0.0;
        }

        // Compatibility of every two selected pairs.
        this.rho.clear();
        this.rho.resize(nr * nr, 0.0);
        for t in 0..nr {
            let (_, at, bt) = this.selected[t];
            let (at, bt) = (usize::from(at), usize::from(bt));
            let (ma, mb) = (&a.cylinders[at], &b.cylinders[bt]);
            let (ga, gb) = (&a.geometry, &b.geometry);
            for k in (t + 1)..nr {
                let (_, ak, bk) = this.selected[k];
                let (ak, bk) = (usize::from(ak), usize::from(bk));
                let (ka, kb) = (&a.cylinders[ak], &b.cylinders[bk]);
                let (da, direction_a) = (ga.distance[at][ak], ga.direction[at][ak]);
                let (db, direction_b) = (gb.distance[bt][bk], gb.direction[bt][bk]);
                let d1 = (da - db).abs();
                // Beyond these cut-offs a sigmoid factor is below 1e-9: the term could not move
                // an f32 sum of similarities, so it is left at zero instead of computed.
                if d1 > RHO_1_CUTOFF {
                    continue;
                }
                let d2 = angle_diff(
                    angle_diff(ma.angle, ka.angle),
                    angle_diff(mb.angle, kb.angle),
                )
                .abs();
                if d2 > RHO_ANGLE_CUTOFF {
                    continue;
                }
                let radial_a = angle_diff(ma.angle, direction_a);
                let radial_b = angle_diff(mb.angle, direction_b);
                let d3 = angle_diff(radial_a, radial_b).abs();
                if d3 > RHO_ANGLE_CUTOFF {
                    continue;
                }
                let rho = sigmoid(d1, MU_RHO_1, TAU_RHO_1)
                    * sigmoid(d2, MU_RHO_2, TAU_RHO_2)
                    * sigmoid(d3, MU_RHO_3, TAU_RHO_3);
                this.rho[t * nr + k] = rho;
                this.rho[k * nr + t] = rho;
            }
        }
        this.lambda.clear();
        this.lambda.extend(this.selected.iter().map(|p| p.0));
        this.next.clear();
        this.next.resize(nr, 0.0);
        let others = (nr.max(2) - 1) as f32;
        for _ in 0..RELAXATION_ROUNDS {
            for t in 0..nr {
                let row = &this.rho[t * nr..(t + 1) * nr];
                let support: f32 = row.iter().zip(&this.lambda).map(|(r, l)| r * l).sum();
                this.next[t] = RELAXATION_WEIGHT * this.lambda[t]
                    + (1.0 - RELAXATION_WEIGHT) * support / others;
            }
            std::mem::swap(&mut this.lambda, &mut this.next);
        }
        // Efficiency of each pair: how much of its similarity survived relaxation.
        this.next.clear();
        this.next
            .extend(this.lambda.iter().zip(&this.selected).map(|(l, p)| l / p.0));
        this.order.clear();
        this.order.extend(0..nr);
        let efficiency = &this.next;
        this.order
            .sort_unstable_by(|&x, &y| efficiency[y].total_cmp(&efficiency[x]).then(x.cmp(&y)));
        let total: f32 = this.order.iter().take(np).map(|&t| this.lambda[t]).sum();
        f64::from(total / np as f32)
    }

    /// Every score of the matcher (as dispatched, and its portable copy) equals the reference's,
    /// bit for bit, over all pairs of a set of templates.
    fn assert_scores_as_the_reference(templates: &[MccTemplate], what: &str) {
        let (mut fast, mut portable) = (MccMatcher::new(), MccMatcher::new());
        for (i, a) in templates.iter().enumerate() {
            for (j, b) in templates.iter().enumerate() {
                let expected = reference_similarity(a, b);
                let (x, y) = (fast.similarity(a, b), portable.similarity_portable(a, b));
                assert_eq!(
                    (x.to_bits(), y.to_bits()),
                    (expected.to_bits(), expected.to_bits()),
                    "{what} {i} against {j}: {x}, {y} against {expected}"
                );
            }
        }
    }

    #[test]
    fn the_matcher_scores_exactly_as_the_reference() {
        // Random templates, and rotated, moved copies of pseudo-prints (high scores).
        let mut templates: Vec<MccTemplate> = random_templates(60, 0x1234_5677)
            .iter()
            .map(|(t, _)| MccTemplate::new(t))
            .collect();
        for seed in 10..22 {
            let points = print(seed);
            templates.push(MccTemplate::new(&template(&points)));
            templates.push(MccTemplate::new(&template(&transform(
                &points,
                seed as f32 * 3.0 - 30.0,
                5.0,
                -4.0,
            ))));
        }
        assert_scores_as_the_reference(&templates, "random template");
    }

    #[test]
    fn the_matcher_scores_real_prints_exactly_as_the_reference() {
        let templates: Vec<MccTemplate> = db2b_templates()
            .unwrap_or_default()
            .iter()
            .map(MccTemplate::new)
            .collect();
        assert_scores_as_the_reference(&templates, "DB2_B image");
    }

    #[test]
    fn identical_prints_score_high_and_different_ones_low() {
        let mut matcher = MccMatcher::new();
        let a = MccTemplate::new(&template(&print(1)));
        let b = MccTemplate::new(&template(&print(2)));
        assert!(a.len() > 20, "{} cylinders", a.len());
        let same = matcher.similarity(&a, &a);
        let different = matcher.similarity(&a, &b);
        assert!(same > 0.9, "self-similarity {same}");
        assert!(different < 0.3, "different prints {different}");
    }

    #[test]
    fn score_survives_rotation_and_translation() {
        let mut matcher = MccMatcher::new();
        let points = print(3);
        let a = MccTemplate::new(&template(&points));
        let moved = MccTemplate::new(&template(&transform(&points, 25.0, 12.0, -9.0)));
        let other = MccTemplate::new(&template(&print(4)));
        let genuine = matcher.similarity(&a, &moved);
        let impostor = matcher.similarity(&a, &other);
        assert!(genuine > 0.6, "rotated copy {genuine}");
        assert!(genuine > 3.0 * impostor, "{genuine} vs {impostor}");
    }

    #[test]
    fn direction_sectors_hold_every_compatible_cylinder() {
        for seed in 5..9 {
            let t = MccTemplate::new(&template(&print(seed)));
            assert!(t.len() > 20);
            for step in 0..=7200 {
                let angle = step as f32 / 7200.0 * 2.0 * PI;
                let sector = direction_sector(angle);
                let (sure, candidates) = (t.sure[sector], t.sure[sector] | t.maybe[sector]);
                // Those surely compatible are.
                for (i, c) in t.cylinders.iter().enumerate() {
                    if sure & (1 << i) != 0 {
                        assert!(angle_diff(angle, c.angle).abs() <= MAX_DIRECTION_DIFF);
                    }
                }
                for (i, c) in t.cylinders.iter().enumerate() {
                    if angle_diff(angle, c.angle).abs() <= MAX_DIRECTION_DIFF {
                        assert!(candidates & (1 << i) != 0, "cylinder {i} missed at {angle}");
                    }
                }
            }
        }
    }

    /// The lanes in direction order: each cylinder's place is its rank by direction (among
    /// equal directions, by index), its lanes there and n places on are its own, and every
    /// cylinder that may be a candidate for a direction in a sector (`sure` or `maybe`) lies in
    /// that sector's window. Random templates (from one cylinder to 32), and pseudo-prints cut
    /// to fewer minutiae with directions crowded at 0, just below 2π and on sector boundaries.
    #[test]
    fn direction_windows_hold_every_candidate() {
        let mut templates: Vec<MccTemplate> = random_templates(200, 0x9E37_79B9)
            .iter()
            .map(|(t, _)| MccTemplate::new(t))
            .collect();
        for seed in 30..70u32 {
            let mut points = print(seed);
            points.truncate(4 + (seed as usize * 7) % 37);
            for (k, point) in points.iter_mut().enumerate() {
                point.2 = match (seed as usize + k) % 4 {
                    // 0, 1/32 or 2/32 of a degree; 1/32 to 3/32 below a full turn; a multiple
                    // of a sector (5.625°).
                    0 => (k % 3) as f32 / 32.0,
                    1 => 360.0 - (k % 3 + 1) as f32 / 32.0,
                    2 => 5.625 * k as f32,
                    _ => point.2,
                };
            }
            templates.push(MccTemplate::new(&template(&points)));
        }
        let mut sizes = [0usize; MAX_CYLINDERS + 1];
        for (case, t) in templates.iter().enumerate() {
            let (n, lanes) = (t.len(), &t.lanes);
            sizes[n] += 1;
            for (j, c) in t.cylinders.iter().enumerate() {
                let place = lanes.place[j] as usize;
                let before = t
                    .cylinders
                    .iter()
                    .enumerate()
                    .filter(|&(k, d)| d.angle.total_cmp(&c.angle).then(k.cmp(&j)).is_lt())
                    .count();
                assert_eq!(place, before, "case {case}: place of cylinder {j}");
                for repeat in [place, place + n] {
                    assert_eq!(lanes.valid[repeat], c.valid[0], "case {case}");
                    for (layer, bits) in lanes.bits.iter().zip(&c.bits) {
                        assert_eq!(layer[repeat], bits[0], "case {case}");
                    }
                    assert_eq!(lanes.root_bits[repeat], (c.n_bits as f32).sqrt());
                }
                assert_eq!(lanes.angle[j], c.angle);
            }
            for sector in 0..DIRECTION_SECTORS {
                let (start, len) = lanes.window[sector];
                let (start, len) = (usize::from(start), usize::from(len));
                assert!(start < n.max(1) && len <= n, "case {case}, sector {sector}");
                let mut may = t.sure[sector] | t.maybe[sector];
                while may != 0 {
                    let j = may.trailing_zeros() as usize;
                    may &= may - 1;
                    let offset = (lanes.place[j] as usize + n - start) % n;
                    assert!(
                        offset < len,
                        "case {case} ({n} cylinders), sector {sector}: cylinder {j} at place {} \
                         outside {len} places from {start}",
                        lanes.place[j]
                    );
                }
            }
        }
        // Both small templates and full ones were seen.
        assert!(sizes[1..8].iter().sum::<usize>() > 10, "{sizes:?}");
        assert!(sizes[MAX_CYLINDERS] > 10, "{sizes:?}");
    }

    /// The disc's cells as the cylinders' geometry places them (`disc_cells`, by their centres'
    /// distance in pixels) are those of the exact integer test.
    #[test]
    fn the_disc_mask_holds_the_cells_within_the_radius() {
        let mut mask = [0u64; LAYER_WORDS];
        for (cell, ..) in disc_cells() {
            mask[cell / 64] |= 1 << (cell % 64);
        }
        assert_eq!(mask, DISC_MASK);
        assert_eq!(DISC_CELLS, 52);
    }

    #[test]
    fn circular_windows() {
        // (places, n) → (start, len)
        assert_eq!(circular_window(0, 5), (0, 0));
        assert_eq!(circular_window(0b11111, 5), (0, 5));
        assert_eq!(circular_window(0b00110, 5), (1, 2));
        assert_eq!(circular_window(0b10001, 5), (4, 2));
        assert_eq!(circular_window(0b1, 1), (0, 1));
        assert_eq!(circular_window(u32::MAX, 32), (0, 32));
        assert_eq!(circular_window(0x8000_0001, 32), (31, 2));
        // Not one run: all places.
        assert_eq!(circular_window(0b10101, 5), (0, 5));
    }

    #[test]
    fn hull_membership_with_margin() {
        let hull = convex_hull(&[
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (5.0, 5.0),
        ]);
        assert_eq!(hull.len(), 4);
        assert!(near_hull(&hull, (5.0, 5.0), 0.0));
        assert!(!near_hull(&hull, (15.0, 5.0), 4.0));
        assert!(near_hull(&hull, (15.0, 5.0), 5.0));
    }

    #[test]
    fn exp_is_within_two_ulp() {
        let mut x = -87.0f32;
        while x <= 88.0 {
            let exact = f64::from(x).exp();
            let got = f64::from(exp(x));
            let ulp = f64::from(f32::EPSILON) * exact;
            assert!(
                (got - exact).abs() <= 2.0 * ulp,
                "exp({x}) = {got}, not {exact}"
            );
            x += 0.0137;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert_eq!(exp(1000.0), exp(88.0));
    }

    #[test]
    fn erf_matches_known_values() {
        assert!((erf(0.5) - 0.520_499_9).abs() < 1e-6);
        assert!((erf(-1.0) + 0.842_700_8).abs() < 1e-6);
    }
}
