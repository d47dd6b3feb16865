//! The matcher's kernels written with AVX-512 intrinsics, for the steps whose portable loops do
//! not vectorise: lookups by index into rows of 32 values (one permutation of two registers
//! here). Each performs the portable code's IEEE operations, lane by lane and in the same order,
//! so the results are bit-identical (tested); only [`MccMatcher::similarity`]'s copy compiled
//! for AVX-512 calls them.
//!
//! [`MccMatcher::similarity`]: super::MccMatcher::similarity

use std::arch::x86_64::{
    __m512, __m512i, _CMP_GE_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _CMP_NGT_UQ, _mm512_abs_ps, _mm512_add_ps,
    _mm512_cmp_ps_mask, _mm512_loadu_ps, _mm512_loadu_si512, _mm512_mask_blend_ps,
    _mm512_permutex2var_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps, _mm512_sub_ps,
};
use std::f32::consts::PI;

use super::{MAX_CYLINDERS, MccTemplate, RHO_1_CUTOFF, RHO_ANGLE_CUTOFF, compatibility};

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
fn store(lanes: Lanes32, row: &mut [f32; MAX_CYLINDERS]) {
    let row = row.as_mut_ptr();
    // SAFETY: `row` points to 32 floats; each unaligned store writes 16 of them.
    unsafe {
        _mm512_storeu_ps(row, lanes.0);
        _mm512_storeu_ps(row.add(16), lanes.1);
    }
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

/// |angle_diff(a, b)| in 16 lanes.
#[target_feature(enable = "avx512f")]
fn abs_diff(a: __m512, b: __m512) -> __m512 {
    _mm512_abs_ps(angle_diff(a, b))
}

/// The portable `compatibilities`: for each selected pair t, all later pairs k at once in 32
/// lanes (the rows of the templates' geometry permuted into the order of the pairs), then the
/// compatibility of those within all three cut-offs.
#[target_feature(enable = "avx512f")]
pub(super) fn compatibilities(
    a: &MccTemplate,
    b: &MccTemplate,
    pair_a: &[usize; MAX_CYLINDERS],
    pair_b: &[usize; MAX_CYLINDERS],
    nr: usize,
    rho: &mut [[f32; MAX_CYLINDERS]; MAX_CYLINDERS],
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
    let (mut d1, mut d2, mut d3) = ([0.0f32; 32], [0.0f32; 32], [0.0f32; 32]);
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
        let mut within = [0u32; 2];
        let mut half = |h: usize, da: __m512, db: __m512, sa, sb, ra, rb| {
            let e1 = _mm512_abs_ps(_mm512_sub_ps(da, db));
            let e2 = _mm512_abs_ps(angle_diff(angle_diff(ma, sa), angle_diff(mb, sb)));
            let e3 = abs_diff(angle_diff(ma, ra), angle_diff(mb, rb));
            let m = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(e1, cutoff_1)
                & _mm512_cmp_ps_mask::<_CMP_NGT_UQ>(e2, cutoff_angle)
                & _mm512_cmp_ps_mask::<_CMP_NGT_UQ>(e3, cutoff_angle);
            within[h] = u32::from(m);
            (e1, e2, e3)
        };
        let low = half(
            0,
            distance_a.0,
            distance_b.0,
            angle_a.0,
            angle_b.0,
            direction_a.0,
            direction_b.0,
        );
        let high = half(
            1,
            distance_a.1,
            distance_b.1,
            angle_a.1,
            angle_b.1,
            direction_a.1,
            direction_b.1,
        );
        let mut left = later & (within[0] | (within[1] << 16));
        if left == 0 {
            continue;
        }
        store(Lanes32(low.0, high.0), &mut d1);
        store(Lanes32(low.1, high.1), &mut d2);
        store(Lanes32(low.2, high.2), &mut d3);
        while left != 0 {
            let k = left.trailing_zeros() as usize;
            left &= left - 1;
            let rho_tk = compatibility(d1[k], d2[k], d3[k]);
            rho[t][k] = rho_tk;
            rho[k][t] = rho_tk;
        }
    }
}
