//! The matcher's kernels written with AVX-512 intrinsics, for the steps whose portable loops do
//! not vectorise well: lookups by index into rows of 32 values (one permutation of two
//! registers here), packing the lanes that pass a test (compress), the rows of local
//! similarities over a window of lanes put back in the cylinders' order (a permutation again),
//! and the greedy choice whose 32 keys stay in registers. Each performs the portable code's IEEE operations, lane by lane and
//! in the same order, so the results are bit-identical (tested); only
//! [`MccMatcher::similarity`]'s copy compiled for AVX-512 calls them.
//!
//! [`MccMatcher::similarity`]: super::MccMatcher::similarity

use std::arch::x86_64::{
    __m256, __m256i, __m512, __m512i, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _CMP_NGT_UQ,
    _MM_FROUND_NO_EXC, _MM_FROUND_TO_NEG_INF, _mm256_add_ps, _mm256_castps_si256,
    _mm256_cmp_ps_mask, _mm256_div_ps, _mm256_loadu_ps, _mm256_maskz_mov_epi32, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_setzero_si256, _mm256_sqrt_ps, _mm256_sub_ps, _mm512_abs_ps,
    _mm512_add_epi32, _mm512_add_epi64, _mm512_add_ps, _mm512_and_si512, _mm512_castsi256_si512,
    _mm512_castsi512_ps, _mm512_cmp_ps_mask, _mm512_cmpge_epu64_mask, _mm512_cmplt_epi32_mask,
    _mm512_cvtepu64_ps, _mm512_cvtps_epi32, _mm512_div_ps, _mm512_inserti64x4, _mm512_loadu_epi64,
    _mm512_loadu_ps, _mm512_loadu_si512, _mm512_mask_add_epi32, _mm512_mask_blend_ps,
    _mm512_mask_mov_epi64, _mm512_maskz_compress_epi32, _mm512_maskz_compress_ps,
    _mm512_maskz_permutex2var_epi32, _mm512_max_epu64, _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps,
    _mm512_permutex2var_ps, _mm512_popcnt_epi64, _mm512_reduce_max_epu64, _mm512_roundscale_ps,
    _mm512_set1_epi32, _mm512_set1_epi64, _mm512_set1_ps, _mm512_setr_epi32, _mm512_setzero_ps,
    _mm512_setzero_si512, _mm512_slli_epi32, _mm512_storeu_ps, _mm512_storeu_si512,
    _mm512_sub_epi32, _mm512_sub_ps, _mm512_xor_si512,
};
use std::f32::consts::{LOG2_E, PI};

use super::{
    Cylinder, EXP_POLYNOMIAL, LAYER_WORDS, LN_2_HIGH, LN_2_LOW, Lanes, MAX_CYLINDERS,
    MAX_DIRECTION_DIFF, MIN_MATCHABLE_CELLS, MIN_VALID_CELLS, MU_RHO_1, MU_RHO_2, MU_RHO_3,
    MccTemplate, ND, RHO_1_CUTOFF, RHO_ANGLE_CUTOFF, TAU_RHO_1, TAU_RHO_2, TAU_RHO_3,
    direction_sector, row_best, unpack_pair,
};

/// Room for the pairs of selected pairs within the cut-offs (at most 32 · 31 / 2 = 496), and
/// for a last store of 16 lanes.
const PENDING: usize = 512;

/// The pairs of selected pairs within the cut-offs, waiting for their compatibilities (kept in
/// the matcher, so that a comparison allocates nothing).
#[derive(Debug)]
pub(super) struct Pending {
    d1: [f32; PENDING],
    d2: [f32; PENDING],
    d3: [f32; PENDING],
    rho: [f32; PENDING],
    /// 32 t + k.
    pair: [i32; PENDING],
}

impl Default for Pending {
    fn default() -> Pending {
        Pending {
            d1: [0.0; PENDING],
            d2: [0.0; PENDING],
            d3: [0.0; PENDING],
            rho: [0.0; PENDING],
            pair: [0; PENDING],
        }
    }
}

/// The 16 values from `at` on (`at` is at most `PENDING - 16`).
fn sixteen<T>(values: &mut [T; PENDING], at: usize) -> &mut [T; 16] {
    let at = at.min(PENDING - 16);
    let Ok(chunk) = <&mut [T; 16]>::try_from(&mut values[at..at + 16]) else {
        unreachable!("a slice of 16")
    };
    chunk
}

#[target_feature(enable = "avx512f")]
fn load16(values: &mut [f32; 16]) -> __m512 {
    // SAFETY: `values` holds 16 floats.
    unsafe { _mm512_loadu_ps(values.as_ptr()) }
}

#[target_feature(enable = "avx512f")]
fn store16(values: &mut [f32; 16], lanes: __m512) {
    // SAFETY: `values` holds 16 floats.
    unsafe { _mm512_storeu_ps(values.as_mut_ptr(), lanes) }
}

#[target_feature(enable = "avx512f")]
fn store16_i32(values: &mut [i32; 16], lanes: __m512i) {
    // SAFETY: `values` holds 16 i32.
    unsafe { _mm512_storeu_si512(values.as_mut_ptr().cast(), lanes) }
}

/// The portable `exp` in 16 lanes: the same operations in the same order.
#[target_feature(enable = "avx512f")]
fn exp(x: __m512) -> __m512 {
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-87.0)),
        _mm512_set1_ps(88.0),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_add_ps(
        _mm512_mul_ps(x, _mm512_set1_ps(LOG2_E)),
        _mm512_set1_ps(0.5),
    ));
    let r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(LN_2_HIGH)));
    let r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(LN_2_LOW)));
    let mut y = _mm512_set1_ps(EXP_POLYNOMIAL[0]);
    for &c in &EXP_POLYNOMIAL[1..] {
        y = _mm512_add_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(c));
    }
    let y = _mm512_add_ps(
        _mm512_add_ps(_mm512_mul_ps(y, _mm512_mul_ps(r, r)), r),
        _mm512_set1_ps(1.0),
    );
    // n is an integer in [-126, 127]: converted exactly whatever the rounding.
    let power = _mm512_slli_epi32::<23>(_mm512_add_epi32(
        _mm512_cvtps_epi32(n),
        _mm512_set1_epi32(127),
    ));
    _mm512_mul_ps(y, _mm512_castsi512_ps(power))
}

/// The portable `sigmoid` in 16 lanes.
#[target_feature(enable = "avx512f")]
fn sigmoid(value: __m512, mu: f32, tau: f32) -> __m512 {
    let e = exp(_mm512_mul_ps(
        _mm512_set1_ps(-tau),
        _mm512_sub_ps(value, _mm512_set1_ps(mu)),
    ));
    _mm512_div_ps(_mm512_set1_ps(1.0), _mm512_add_ps(_mm512_set1_ps(1.0), e))
}

/// 32 lanes of f32 in two registers.
#[derive(Clone, Copy)]
struct Lanes32(__m512, __m512);

/// Lane indices 0..32 (as the permutation reads them) in two registers.
#[derive(Clone, Copy)]
struct Indices32(__m512i, __m512i);

#[target_feature(enable = "avx512f")]
fn load(row: &[f32; MAX_CYLINDERS]) -> Lanes32 {
    const _: () = assert!(MAX_CYLINDERS == 32);
    let row = row.as_ptr();
    // SAFETY: `row` points to 32 floats; each unaligned load reads 16 of them.
    unsafe { Lanes32(_mm512_loadu_ps(row), _mm512_loadu_ps(row.add(16))) }
}

#[target_feature(enable = "avx512f")]
fn indices(of: &[i32; MAX_CYLINDERS]) -> Indices32 {
    let of = of.as_ptr();
    // SAFETY: `of` points to 32 i32; each unaligned load reads 16 of them.
    unsafe {
        Indices32(
            _mm512_loadu_si512(of.cast()),
            _mm512_loadu_si512(of.add(16).cast()),
        )
    }
}

/// `row[index[k]]` in lane k.
#[target_feature(enable = "avx512f")]
fn gather(row: &[f32; MAX_CYLINDERS], index: Indices32) -> Lanes32 {
    let Lanes32(low, high) = load(row);
    Lanes32(
        _mm512_permutex2var_ps(low, index.0, high),
        _mm512_permutex2var_ps(low, index.1, high),
    )
}

/// 8 lanes of u64 from place `at` of a template's lanes in direction order.
#[target_feature(enable = "avx512f")]
fn places8(lanes: &[u64; 2 * MAX_CYLINDERS], at: usize) -> __m512i {
    let at = at.min(2 * MAX_CYLINDERS - 8);
    // SAFETY: `at` is at most 2 · MAX_CYLINDERS - 8, so the 8 u64 from it are in `lanes`.
    unsafe { _mm512_loadu_si512(lanes.as_ptr().add(at).cast()) }
}

/// 8 lanes of f32 from place `at` of a template's lanes in direction order.
#[target_feature(enable = "avx512f")]
fn roots8(lanes: &[f32; 2 * MAX_CYLINDERS], at: usize) -> __m256 {
    let at = at.min(2 * MAX_CYLINDERS - 8);
    // SAFETY: `at` is at most 2 · MAX_CYLINDERS - 8, so the 8 f32 from it are in `lanes`.
    unsafe { _mm256_loadu_ps(lanes.as_ptr().add(at)) }
}

/// The local similarities of 8 lanes from their bit counts (u64) and √nb: float bits of
/// 1 - √nx / (√na + √nb) in the lanes of `take` where both √na + √nb and the similarity are
/// positive, else 0. The portable code's IEEE operations, lane by lane.
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
fn similarity8(na: __m512i, nx: __m512i, rb: __m256, take: u8) -> __m256i {
    let (rx, ra) = (
        _mm256_sqrt_ps(_mm512_cvtepu64_ps(nx)),
        _mm256_sqrt_ps(_mm512_cvtepu64_ps(na)),
    );
    // √na + √nb is 0 exactly when na + nb is.
    let sum = _mm256_add_ps(ra, rb);
    let s = _mm256_sub_ps(_mm256_set1_ps(1.0), _mm256_div_ps(rx, sum));
    let zero = _mm256_setzero_ps();
    let keep = take
        & _mm256_cmp_ps_mask::<_CMP_GT_OQ>(sum, zero)
        & _mm256_cmp_ps_mask::<_CMP_GT_OQ>(s, zero);
    _mm256_maskz_mov_epi32(keep, _mm256_castps_si256(s))
}

/// The local similarities of `a`'s cylinders (rows of `scores`) with `b`'s, row by row with
/// [`local_row`], each over the narrowest whole vectors that hold its window.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512vpopcntdq")]
pub(super) fn local_similarities(
    a: &MccTemplate,
    b: &MccTemplate,
    min_common: u32,
    scores: &mut [[u32; MAX_CYLINDERS]; MAX_CYLINDERS],
) {
    let (lanes, nb) = (&*b.lanes, b.cylinders.len());
    for (ca, row) in a.cylinders.iter().zip(scores.iter_mut()) {
        let sector = direction_sector(ca.angle);
        let (start, len) = lanes
            .window
            .get(sector)
            .map_or((0, 0), |&(start, len)| (usize::from(start), len));
        let candidates = candidates(b, sector, ca.angle);
        match len {
            0..=8 => local_row::<8>(ca, lanes, start, nb, candidates, min_common, row),
            9..=16 => local_row::<16>(ca, lanes, start, nb, candidates, min_common, row),
            17..=24 => local_row::<24>(ca, lanes, start, nb, candidates, min_common, row),
            _ => local_row::<32>(ca, lanes, start, nb, candidates, min_common, row),
        }
    }
}

/// [`MccTemplate::candidates`] in lanes: those surely within [`MAX_DIRECTION_DIFF`] of `angle` by
/// the sectors, and those that may be and pass the test, all 32 tested at once (the portable
/// test's operations, lane by lane) rather than one by one.
#[target_feature(enable = "avx512f")]
fn candidates(b: &MccTemplate, sector: usize, angle: f32) -> u32 {
    let (sure, maybe) = (
        b.sure.get(sector).copied().unwrap_or_default(),
        b.maybe.get(sector).copied().unwrap_or_default(),
    );
    let Lanes32(low, high) = load(&b.lanes.angle);
    let angle = _mm512_set1_ps(angle);
    let reach = _mm512_set1_ps(MAX_DIRECTION_DIFF);
    let within = |lanes: __m512| {
        _mm512_cmp_ps_mask::<_CMP_LE_OQ>(_mm512_abs_ps(angle_diff(angle, lanes)), reach)
    };
    let within = u32::from(within(low)) | (u32::from(within(high)) << 16);
    sure | (maybe & within)
}

/// One row of local similarities: cylinder `ca` of one template against the cylinders of the
/// other (`b`, `n` of them), into `row` in b's order: float bits of 1 - √nx / (√na + √nb) over
/// the cells valid in both (bit-based MCC), zero where that is not positive, where the two share
/// fewer than `min_common` valid cells, and outside the `candidates`. Only the `W` places (a
/// multiple of 8) of b's direction order from `start` are computed, the window that holds the
/// candidates, 8 lanes at a time with IEEE square roots and division; the row is then read out
/// of them in b's order by permutation (`row[j]` from place `place[j]`, at `(place[j] - start)
/// mod n` in the window).
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512vpopcntdq")]
fn local_row<const W: usize>(
    ca: &Cylinder,
    b: &Lanes,
    start: usize,
    n: usize,
    candidates: u32,
    min_common: u32,
    row: &mut [u32; MAX_CYLINDERS],
) {
    const { assert!(W.is_multiple_of(8) && W <= MAX_CYLINDERS && LAYER_WORDS == 1) };
    const _: () = assert!(MIN_VALID_CELLS >= MIN_MATCHABLE_CELLS);
    let wa: [__m512i; ND] = std::array::from_fn(|k| _mm512_set1_epi64(ca.bits[k][0] as i64));
    let mut values = [_mm256_setzero_si256(); MAX_CYLINDERS / 8];
    if ca.full {
        // a's disc holds every cell of b's cylinders, so b's bits need no masking and each of
        // them shares all its valid cells with a: at least MIN_VALID_CELLS of the disc (or it
        // would have no cylinder), more than MIN_MATCHABLE_CELLS.
        for (g, value) in values.iter_mut().enumerate().take(W / 8) {
            let at = start + 8 * g;
            let valid = places8(&b.valid, at);
            let (mut na, mut nx) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for (&wa, layer) in wa.iter().zip(&b.bits) {
                let x = _mm512_and_si512(wa, valid);
                na = _mm512_add_epi64(na, _mm512_popcnt_epi64(x));
                nx = _mm512_add_epi64(
                    nx,
                    _mm512_popcnt_epi64(_mm512_xor_si512(x, places8(layer, at))),
                );
            }
            *value = similarity8(na, nx, roots8(&b.root_bits, at), u8::MAX);
        }
    } else {
        let va = _mm512_set1_epi64(ca.valid[0] as i64);
        let min_common = _mm512_set1_epi64(i64::from(min_common));
        for (g, value) in values.iter_mut().enumerate().take(W / 8) {
            let at = start + 8 * g;
            let valid = places8(&b.valid, at);
            // The lanes that share enough valid cells.
            let take = _mm512_cmpge_epu64_mask(
                _mm512_popcnt_epi64(_mm512_and_si512(va, valid)),
                min_common,
            );
            let (mut na, mut nb, mut nx) = (
                _mm512_setzero_si512(),
                _mm512_setzero_si512(),
                _mm512_setzero_si512(),
            );
            for (&wa, layer) in wa.iter().zip(&b.bits) {
                // Each cylinder's bits are already zero outside its own valid cells.
                let x = _mm512_and_si512(wa, valid);
                let y = _mm512_and_si512(places8(layer, at), va);
                na = _mm512_add_epi64(na, _mm512_popcnt_epi64(x));
                nb = _mm512_add_epi64(nb, _mm512_popcnt_epi64(y));
                nx = _mm512_add_epi64(nx, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
            }
            let rb = _mm256_sqrt_ps(_mm512_cvtepu64_ps(nb));
            *value = similarity8(na, nx, rb, take);
        }
    }
    let [v0, v1, v2, v3] = values;
    let low = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(v0), v1);
    let high = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(v2), v3);
    // Each candidate's place is in the window (by the windows' construction), so no lane beyond
    // those computed is read.
    let Indices32(place_low, place_high) = indices(&b.place);
    let (start, n) = (_mm512_set1_epi32(start as i32), _mm512_set1_epi32(n as i32));
    let offset = |place: __m512i| {
        let offset = _mm512_sub_epi32(place, start);
        let behind = _mm512_cmplt_epi32_mask(offset, _mm512_setzero_si512());
        _mm512_mask_add_epi32(offset, behind, offset, n)
    };
    let row_low = _mm512_maskz_permutex2var_epi32(candidates as u16, low, offset(place_low), high);
    let row_high =
        _mm512_maskz_permutex2var_epi32((candidates >> 16) as u16, low, offset(place_high), high);
    let row = row.as_mut_ptr();
    // SAFETY: `row` points to 32 u32; each unaligned store writes 16 of them.
    unsafe {
        _mm512_storeu_si512(row.cast(), row_low);
        _mm512_storeu_si512(row.add(16).cast(), row_high);
    }
}

/// `angle_diff_unsigned_zero` in 16 lanes.
#[target_feature(enable = "avx512f")]
fn angle_diff(a: __m512, b: __m512) -> __m512 {
    let d = _mm512_sub_ps(a, b);
    let below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(d, _mm512_set1_ps(-PI));
    let above = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(d, _mm512_set1_ps(PI));
    // (1 - 0) · 2π, (0 - 1) · 2π or (0 - 0) · 2π = +0, as the portable code computes them.
    let turn = _mm512_mask_blend_ps(below, _mm512_setzero_ps(), _mm512_set1_ps(2.0 * PI));
    let turn = _mm512_mask_blend_ps(above, turn, _mm512_set1_ps(-(2.0 * PI)));
    _mm512_add_ps(d, turn)
}

/// [`super::compatibilities`] in lanes: for each selected pair t, all later pairs k at once in 32
/// lanes (the rows of the templates' geometry permuted into the order of the pairs), then the
/// compatibility of those within all three cut-offs, 16 at a time.
#[target_feature(enable = "avx512f")]
pub(super) fn compatibilities(
    a: &MccTemplate,
    b: &MccTemplate,
    pair_a: &[usize; MAX_CYLINDERS],
    pair_b: &[usize; MAX_CYLINDERS],
    nr: usize,
    rho: &mut [[f32; MAX_CYLINDERS]; MAX_CYLINDERS],
    pending: &mut Pending,
) {
    let index_a = indices(&std::array::from_fn(|k| (pair_a[k] % MAX_CYLINDERS) as i32));
    let index_b = indices(&std::array::from_fn(|k| (pair_b[k] % MAX_CYLINDERS) as i32));
    // The directions of each pair's cylinders.
    let (angle_a, angle_b) = (
        gather(&a.lanes.angle, index_a),
        gather(&b.lanes.angle, index_b),
    );
    let cutoff_1 = _mm512_set1_ps(RHO_1_CUTOFF);
    let cutoff_angle = _mm512_set1_ps(RHO_ANGLE_CUTOFF);
    let pairs = if nr >= 32 { u32::MAX } else { (1u32 << nr) - 1 };
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let mut n_pending = 0;
    for t in 0..nr.min(MAX_CYLINDERS) {
        let later = pairs & !((2u64 << t) - 1) as u32;
        if later == 0 {
            break;
        }
        let (at, bt) = (pair_a[t] % MAX_CYLINDERS, pair_b[t] % MAX_CYLINDERS);
        let distance_a = gather(&a.geometry.distance[at], index_a);
        let distance_b = gather(&b.geometry.distance[bt], index_b);
        let direction_a = gather(&a.geometry.direction[at], index_a);
        let direction_b = gather(&b.geometry.direction[bt], index_b);
        let (ma, mb) = (
            _mm512_set1_ps(a.lanes.angle[at]),
            _mm512_set1_ps(b.lanes.angle[bt]),
        );
        let later = [later as u16, (later >> 16) as u16];
        for (h, (((da, db), (sa, sb)), (ra, rb))) in [
            ((distance_a.0, distance_b.0), (angle_a.0, angle_b.0)),
            ((distance_a.1, distance_b.1), (angle_a.1, angle_b.1)),
        ]
        .into_iter()
        .zip([
            (direction_a.0, direction_b.0),
            (direction_a.1, direction_b.1),
        ])
        .enumerate()
        {
            let e1 = _mm512_abs_ps(_mm512_sub_ps(da, db));
            let e2 = _mm512_abs_ps(angle_diff(angle_diff(ma, sa), angle_diff(mb, sb)));
            let e3 = _mm512_abs_ps(angle_diff(angle_diff(ma, ra), angle_diff(mb, rb)));
            let within = later[h]
                & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(e1, cutoff_1)
                & _mm512_cmp_ps_mask::<_CMP_NGT_UQ>(e2, cutoff_angle)
                & _mm512_cmp_ps_mask::<_CMP_NGT_UQ>(e3, cutoff_angle);
            if within == 0 {
                continue;
            }
            // The lanes within, packed to the front, after those already pending.
            store16(
                sixteen(&mut pending.d1, n_pending),
                _mm512_maskz_compress_ps(within, e1),
            );
            store16(
                sixteen(&mut pending.d2, n_pending),
                _mm512_maskz_compress_ps(within, e2),
            );
            store16(
                sixteen(&mut pending.d3, n_pending),
                _mm512_maskz_compress_ps(within, e3),
            );
            let pair = _mm512_add_epi32(lane, _mm512_set1_epi32((32 * t + 16 * h) as i32));
            store16_i32(
                sixteen(&mut pending.pair, n_pending),
                _mm512_maskz_compress_epi32(within, pair),
            );
            n_pending += within.count_ones() as usize;
        }
    }
    for at in (0..n_pending).step_by(16) {
        let compatibility = _mm512_mul_ps(
            _mm512_mul_ps(
                sigmoid(load16(sixteen(&mut pending.d1, at)), MU_RHO_1, TAU_RHO_1),
                sigmoid(load16(sixteen(&mut pending.d2, at)), MU_RHO_2, TAU_RHO_2),
            ),
            sigmoid(load16(sixteen(&mut pending.d3, at)), MU_RHO_3, TAU_RHO_3),
        );
        store16(sixteen(&mut pending.rho, at), compatibility);
    }
    for (&pair, &rho_tk) in pending.pair.iter().zip(&pending.rho).take(n_pending) {
        let (t, k) = (
            (pair as usize / 32) % MAX_CYLINDERS,
            pair as usize % MAX_CYLINDERS,
        );
        rho[t][k] = rho_tk;
        rho[k][t] = rho_tk;
    }
}

/// The greedy one-to-one choice of `select_pairs_in_lanes`: the best of the rows' best keys
/// taken and its row retired, or, where its column was taken since, its row looking again (as
/// the portable copy's heap does), until no key is left. The keys of the 32 rows stay in four
/// registers.
#[target_feature(enable = "avx512f")]
pub(super) fn choose_pairs(
    scores: &[[u32; MAX_CYLINDERS]; MAX_CYLINDERS],
    na: usize,
    nb: usize,
    selected: &mut Vec<(f32, u16, u16)>,
) {
    let mut free = if nb >= 32 { u32::MAX } else { (1u32 << nb) - 1 };
    let mut keys = [0u64; MAX_CYLINDERS];
    for (i, (key, row)) in keys.iter_mut().zip(scores).enumerate().take(na) {
        *key = row_best(row, i, free);
    }
    // SAFETY: `keys` holds 32 u64; each unaligned load reads 8 of them.
    let mut best: [__m512i; 4] =
        std::array::from_fn(|q| unsafe { _mm512_loadu_epi64(keys.as_ptr().add(8 * q).cast()) });
    selected.clear();
    loop {
        let key = _mm512_reduce_max_epu64(_mm512_max_epu64(
            _mm512_max_epu64(best[0], best[1]),
            _mm512_max_epu64(best[2], best[3]),
        ));
        if key == 0 {
            break;
        }
        let (score, i, j) = unpack_pair(key);
        // Row i's key, taken if its column is still free; else the row looks again (its best
        // among the free columns can only be lower, so no other row's key is passed over).
        let replacement = if (free >> j) & 1 == 0 {
            scores.get(i).map_or(0, |row| row_best(row, i, free))
        } else {
            selected.push((f32::from_bits(score), i as u16, j as u16));
            free &= !(1 << j);
            0
        };
        let replacement = _mm512_set1_epi64(replacement as i64);
        for (q, lanes) in best.iter_mut().enumerate() {
            let lane = ((1u64 << i) >> (8 * q)) as u8;
            *lanes = _mm512_mask_mov_epi64(*lanes, lane, replacement);
        }
    }
}
