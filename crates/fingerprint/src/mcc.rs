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
    /// Quality of the minutia (0–100), which decides what a cap on cylinders keeps.
    quality: u8,
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
}

/// A template prepared for MCC matching: its valid cylinders.
#[derive(Clone, Debug)]
pub struct MccTemplate {
    cylinders: Vec<Cylinder>,
    /// For cylinders t and k, at `t * len + k`: their distance and the direction from k to t
    /// (what relaxation compares; computed once here rather than in every comparison).
    geometry: Vec<(f32, f32)>,
    /// The cylinders' directions in ascending order, with their indices, so that a comparison
    /// visits only the direction-compatible cylinders of the other template.
    by_angle: Vec<(f32, u16)>,
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
    1.0 / (1.0 + (-tau * (value - mu)).exp())
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

impl MccTemplate {
    /// Build the cylinders of a template. Minutiae whose cylinder would be mostly outside the
    /// fingerprint, or that have fewer than two neighbours, get none (as the method prescribes).
    pub fn new(template: &Template) -> MccTemplate {
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
            cylinders.push(Cylinder {
                quality: qualities[index],
                x,
                y,
                angle,
                valid,
                bits,
                n_bits,
            });
        }
        if cylinders.len() > MAX_CYLINDERS {
            // Keep the cylinders of the best-quality minutiae; among equals, the first.
            let mut order: Vec<usize> = (0..cylinders.len()).collect();
            order.sort_by(|&x, &y| {
                cylinders[y]
                    .quality
                    .cmp(&cylinders[x].quality)
                    .then(x.cmp(&y))
            });
            order.truncate(MAX_CYLINDERS);
            order.sort_unstable();
            cylinders = order.into_iter().map(|i| cylinders[i].clone()).collect();
        }
        let geometry = cylinders
            .iter()
            .flat_map(|m| {
                cylinders.iter().map(move |k| {
                    (
                        ((m.x - k.x).powi(2) + (m.y - k.y).powi(2)).sqrt(),
                        (m.y - k.y).atan2(m.x - k.x),
                    )
                })
            })
            .collect();
        let mut by_angle: Vec<(f32, u16)> = cylinders
            .iter()
            .enumerate()
            .map(|(i, c)| (c.angle, i as u16))
            .collect();
        by_angle.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        MccTemplate {
            cylinders,
            geometry,
            by_angle,
        }
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

    /// Ranges of `by_angle` holding the cylinders whose direction may be within
    /// [`MAX_DIRECTION_DIFF`] of `angle` (a window with a small margin; the exact test is in
    /// `local_similarity`): the window split where it wraps around 2π, ranges that never overlap.
    fn compatible_ranges(&self, angle: f32) -> [std::ops::Range<usize>; 3] {
        let tau = 2.0 * PI;
        let range = |lo: f32, hi: f32| {
            let start = self.by_angle.partition_point(|c| c.0 < lo);
            let end = self.by_angle.partition_point(|c| c.0 <= hi);
            (start, end.max(start))
        };
        let lo = angle - MAX_DIRECTION_DIFF - 1e-3;
        let hi = angle + MAX_DIRECTION_DIFF + 1e-3;
        let (s1, e1) = range(lo.max(0.0), hi.min(tau));
        let (s2, e2) = if lo < 0.0 {
            range(lo + tau, tau)
        } else {
            (0, 0)
        };
        let (s3, e3) = if hi > tau {
            range(0.0, hi - tau)
        } else {
            (0, 0)
        };
        [s1..e1, s2.max(e1)..e2.max(e1), s3..e3.min(s1).max(s3)]
    }

    /// Whether no minutia produced a valid cylinder (such a template matches nothing).
    pub fn is_empty(&self) -> bool {
        self.cylinders.is_empty()
    }
}

/// Number of cells of a layer whose centre lies within the radius (the cylinder's disc).
pub(crate) const DISC_CELLS: usize = {
    let mut count = 0;
    let mut cell = 0;
    while cell < NS * NS {
        // Twice the offset from the centre in cells, an odd integer, so the test is exact.
        let u = 2 * (cell / NS) as i64 - (NS as i64 - 1);
        let v = 2 * (cell % NS) as i64 - (NS as i64 - 1);
        if u * u + v * v <= (NS * NS) as i64 {
            count += 1;
        }
        cell += 1;
    }
    count
};

/// Number of disc cells two cylinders must share to be compared.
fn min_matchable_cells() -> u32 {
    (MIN_MATCHABLE_CELLS * DISC_CELLS as f32) as u32
}

/// Similarity of two cylinders in [0, 1] (bit-based MCC, computed only over cells valid in both).
///
/// `roots[n]` is `(n as f32).sqrt()` for every possible bit count (a lookup, not an approximation).
/// Always inlined, so that it is compiled with the popcount instruction inside the dispatched copy of
/// [`MccMatcher::similarity`].
#[inline(always)]
fn local_similarity(a: &Cylinder, b: &Cylinder, min_common: u32, roots: &[f32]) -> f32 {
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

/// Reusable buffers for [`MccMatcher::similarity`], so that 1:N scans do not allocate per pair.
#[derive(Debug, Default)]
pub struct MccMatcher {
    /// Candidate pairs as sort keys (see `pair_key`).
    pairs: Vec<u64>,
    /// The one-to-one pairs chosen: similarity, cylinder of a, cylinder of b.
    selected: Vec<(f32, u16, u16)>,
    order: Vec<usize>,
    /// Square roots of the bit counts 0..=CYLINDER_BITS.
    roots: Vec<f32>,
    used_a: Vec<bool>,
    used_b: Vec<bool>,
    lambda: Vec<f32>,
    next: Vec<f32>,
    rho: Vec<f32>,
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
    /// On x86-64 processors with the POPCNT instruction (all made since about 2010) a copy compiled
    /// for it runs; elsewhere the portable one. Both give bit-identical scores (tested).
    pub fn similarity(&mut self, a: &MccTemplate, b: &MccTemplate) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the processor has POPCNT, checked just above; the function needs nothing else.
            #[allow(unsafe_code)]
            return unsafe { self.similarity_popcnt(a, b) };
        }
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
        let (na, nb) = (a.cylinders.len(), b.cylinders.len());
        if na == 0 || nb == 0 {
            return 0.0;
        }
        let min_common = min_matchable_cells();
        if self.roots.is_empty() {
            self.roots = (0..=CYLINDER_BITS).map(|n| (n as f32).sqrt()).collect();
        }
        self.pairs.clear();
        for (i, ca) in a.cylinders.iter().enumerate() {
            for range in b.compatible_ranges(ca.angle) {
                for &(_, j) in &b.by_angle[range] {
                    let cb = &b.cylinders[usize::from(j)];
                    let s = local_similarity(ca, cb, min_common, &self.roots);
                    if s > 0.0 {
                        // At most 255 minutiae per template, so indices fit u16.
                        self.pairs.push(pair_key(s, i as u16, j));
                    }
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
        let head = (4 * n_min).min(self.pairs.len());
        if head < self.pairs.len() {
            self.pairs.select_nth_unstable_by(head, |x, y| y.cmp(x));
        }
        self.pairs[..head].sort_unstable_by(|x, y| y.cmp(x));
        self.used_a.clear();
        self.used_a.resize(na, false);
        self.used_b.clear();
        self.used_b.resize(nb, false);
        self.selected.clear();
        let mut t = 0;
        while t < self.pairs.len() && self.selected.len() < n_min {
            if t == head {
                self.pairs[head..].sort_unstable_by(|x, y| y.cmp(x));
            }
            let (s, i, j) = unpack_key(self.pairs[t]);
            t += 1;
            if self.used_a[usize::from(i)] || self.used_b[usize::from(j)] {
                continue;
            }
            self.used_a[usize::from(i)] = true;
            self.used_b[usize::from(j)] = true;
            self.selected.push((s, i, j));
        }
        let nr = self.selected.len();
        if nr == 0 {
            return 0.0;
        }

        // Compatibility of every two selected pairs.
        self.rho.clear();
        self.rho.resize(nr * nr, 0.0);
        for t in 0..nr {
            let (_, at, bt) = self.selected[t];
            let (at, bt) = (usize::from(at), usize::from(bt));
            let (ma, mb) = (&a.cylinders[at], &b.cylinders[bt]);
            let (ga, gb) = (
                &a.geometry[at * na..(at + 1) * na],
                &b.geometry[bt * nb..(bt + 1) * nb],
            );
            for k in (t + 1)..nr {
                let (_, ak, bk) = self.selected[k];
                let (ak, bk) = (usize::from(ak), usize::from(bk));
                let (ka, kb) = (&a.cylinders[ak], &b.cylinders[bk]);
                let ((da, direction_a), (db, direction_b)) = (ga[ak], gb[bk]);
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
                self.rho[t * nr + k] = rho;
                self.rho[k * nr + t] = rho;
            }
        }
        self.lambda.clear();
        self.lambda.extend(self.selected.iter().map(|p| p.0));
        self.next.clear();
        self.next.resize(nr, 0.0);
        let others = (nr.max(2) - 1) as f32;
        for _ in 0..RELAXATION_ROUNDS {
            for t in 0..nr {
                let row = &self.rho[t * nr..(t + 1) * nr];
                let support: f32 = row.iter().zip(&self.lambda).map(|(r, l)| r * l).sum();
                self.next[t] = RELAXATION_WEIGHT * self.lambda[t]
                    + (1.0 - RELAXATION_WEIGHT) * support / others;
            }
            std::mem::swap(&mut self.lambda, &mut self.next);
        }
        // Efficiency of each pair: how much of its similarity survived relaxation.
        self.next.clear();
        self.next
            .extend(self.lambda.iter().zip(&self.selected).map(|(l, p)| l / p.0));
        self.order.clear();
        self.order.extend(0..nr);
        let efficiency = &self.next;
        self.order
            .sort_unstable_by(|&x, &y| efficiency[y].total_cmp(&efficiency[x]).then(x.cmp(&y)));
        let total: f32 = self.order.iter().take(np).map(|&t| self.lambda[t]).sum();
        f64::from(total / np as f32)
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

    #[test]
    fn the_dispatched_matcher_scores_exactly_as_the_portable_one() {
        let templates: Vec<MccTemplate> = (10..22)
            .map(|seed| MccTemplate::new(&template(&print(seed))))
            .chain([MccTemplate::new(&template(&transform(
                &print(10),
                20.0,
                5.0,
                -4.0,
            )))])
            .collect();
        let (mut fast, mut portable) = (MccMatcher::new(), MccMatcher::new());
        for a in &templates {
            for b in &templates {
                let (x, y) = (fast.similarity(a, b), portable.similarity_portable(a, b));
                assert_eq!(x.to_bits(), y.to_bits(), "{x} against {y}");
            }
        }
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
    fn direction_window_visits_every_compatible_cylinder_once() {
        let t = MccTemplate::new(&template(&print(5)));
        for step in 0..=720 {
            let angle = (step as f32 / 720.0 * 2.0 * PI).min(2.0 * PI - 1e-6);
            let mut visited: Vec<u16> = t
                .compatible_ranges(angle)
                .into_iter()
                .flat_map(|r| t.by_angle[r].iter().map(|c| c.1))
                .collect();
            let n = visited.len();
            visited.sort_unstable();
            visited.dedup();
            assert_eq!(visited.len(), n, "a cylinder visited twice at {angle}");
            for (i, c) in t.cylinders.iter().enumerate() {
                if angle_diff(angle, c.angle).abs() <= MAX_DIRECTION_DIFF {
                    assert!(
                        visited.contains(&(i as u16)),
                        "cylinder {i} missed at {angle}"
                    );
                }
            }
        }
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
    fn erf_matches_known_values() {
        assert!((erf(0.5) - 0.520_499_9).abs() < 1e-6);
        assert!((erf(-1.0) + 0.842_700_8).abs() < 1e-6);
    }
}
