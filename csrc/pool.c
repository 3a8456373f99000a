/*
 * pool.c -- optimised max / average / global-average pooling, forward and backward.
 *
 * Work is split over the n*c planes (OpenMP, only above POOL_PAR_MIN elements so that
 * small calls stay cheap).  Max pooling has one pass that writes the int64 indices; full
 * 2x2 stride-2 unpadded windows (the common CNN case) go through explicit AVX-512 / AVX2
 * row kernels (NEON on aarch64); other windows (any size, stride, padding, dilation) whose columns lie inside
 * the plane go through AVX-512 / AVX2 gather kernels (16 / 8 outputs at a time), and the
 * remaining border outputs through the portable window loop of pool_tmpl.h.  The scalar
 * path uses portable, branch-free versions of the same kernels.  The backward pass is one
 * linear scatter per plane, into a plane that was just zeroed (and so is in cache).
 * Average pooling uses column sums per output row (pool_tmpl.h).
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "pool_loss.h"

#ifdef FC_X86_SIMD
#define FC_POOL_X86 1
#include <immintrin.h>
/* per-function targets (FC_TARGET_AVX2 / FC_TARGET_AVX512, internal.h): the file itself is
 * built for baseline x86-64 */
#endif
#ifdef FC_ARM_NEON
#include <arm_neon.h>
#endif

/* Below this many elements touched, a call runs on the calling thread. */
#define POOL_PAR_MIN ((int64_t)1 << 16)
/* The backward scatter moves ~2 elements per ns on one core: it goes parallel only from
 * POOL_SCATTER_PAR_SCALE * POOL_PAR_MIN (1M) elements, i.e. about half a millisecond of work,
 * since a team costs milliseconds when the other cores are busy. */
#define POOL_SCATTER_PAR_SCALE 16

/* Parallel `for` over planes that stays on the calling thread, without a team, for nt == 1. */
#ifdef _OPENMP
#define POOL_OMP_FOR(nt) FC_PRAGMA(omp parallel for schedule(static) num_threads(nt) if (nt > 1))
#define POOL_OMP_PARALLEL(nt) FC_PRAGMA(omp parallel num_threads(nt) if (nt > 1))
#else
#define POOL_OMP_FOR(nt)
#define POOL_OMP_PARALLEL(nt)
#endif

/* This thread's contiguous run [*lo, *hi) of n planes, in a parallel region (the whole range
 * outside one): the kernels that overrun into the next plane's outputs rely on a thread doing
 * its planes in order. */
static inline void pool_run(int64_t n, int64_t *lo, int64_t *hi) {
    const int64_t T = FC_NUM_THREADS_IN_REGION(), t = FC_THREAD_ID();
    *lo = n * t / T;
    *hi = n * (t + 1) / T;
}

static int pool_threads(int64_t planes, int64_t work) {
    if (planes < 2 || work < POOL_PAR_MIN) return 1;
    int t = fc_threads_for_region();
    if ((int64_t)t > planes) t = (int)planes;
    return t < 1 ? 1 : t;
}

#define FT float
#define UT uint32_t
#define SFX f32
#include "pool_tmpl.h"
#undef FT
#undef UT
#undef SFX

#define FT double
#define UT uint64_t
#define SFX f64
#include "pool_tmpl.h"
#undef FT
#undef UT
#undef SFX

/* ---------------------------------------------------------------------------------- */
/* x86 row kernels for full 2x2 stride-2 windows                                        */
/*                                                                                      */
/* Each output combines its window pairwise: top = pick(x00, x01), bottom = pick(x10,   */
/* x11), out = pick(top, bottom), where pick(a, b) keeps a unless b > a or b is NaN.   */
/* That pick is associative, so the result is the sequential scan's "first maximum,     */
/* last NaN in row-major order".  The window position (0..3) is tracked and turned into */
/* the flat index base + 2k + (pos & 1) + (pos >> 1) * W.                                */
/* ---------------------------------------------------------------------------------- */
#ifdef FC_POOL_X86


/* The max-pool update rule (see mp_better in pool_tmpl.h): lanes where b replaces a, i.e.
 * b > a or b is NaN.  The first maximum wins; among NaNs the last one wins. */
FC_TARGET_AVX512
static inline __mmask16 pick_ps_512(__m512 a, __m512 b) {
    return _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
}
FC_TARGET_AVX512
static inline __mmask8 pick_pd_512(__m512d a, __m512d b) {
    return _mm512_cmp_pd_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_pd_mask(b, b, _CMP_UNORD_Q);
}

FC_TARGET_AVX512
static void mp2_row_f32_avx512(const float *r0, const float *r1, int64_t W, int64_t n, float *y,
                               int64_t *idx, int64_t base) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const __m512i c1 = _mm512_set1_epi32(1), c2 = _mm512_set1_epi32(2), c3 = _mm512_set1_epi32(3);
    const __m512i one64 = _mm512_set1_epi64(1), two64 = _mm512_set1_epi64(2);
    const __m512i wv = _mm512_set1_epi64(W);
    const __m512i iota2 = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    for (int64_t k = 0; k < n; k += 16) {
        const int64_t m = n - k;
        __mmask16 klo = 0xffff, khi = 0xffff, ko = 0xffff;
        if (m < 16) {
            const int64_t e = 2 * m;
            klo = e >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << e) - 1);
            khi = e > 16 ? (__mmask16)((1u << (e - 16)) - 1) : (__mmask16)0;
            ko = (__mmask16)((1u << m) - 1);
        }
        const __m512 a0 = _mm512_maskz_loadu_ps(klo, r0 + 2 * k);
        const __m512 a1 = _mm512_maskz_loadu_ps(khi, r0 + 2 * k + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(klo, r1 + 2 * k);
        const __m512 b1 = _mm512_maskz_loadu_ps(khi, r1 + 2 * k + 16);
        const __m512 x00 = _mm512_permutex2var_ps(a0, ev, a1);
        const __m512 x01 = _mm512_permutex2var_ps(a0, od, a1);
        const __m512 x10 = _mm512_permutex2var_ps(b0, ev, b1);
        const __m512 x11 = _mm512_permutex2var_ps(b0, od, b1);
        const __mmask16 k1 = pick_ps_512(x00, x01);
        const __mmask16 k2 = pick_ps_512(x10, x11);
        const __m512 t = _mm512_mask_mov_ps(x00, k1, x01);
        const __m512 b = _mm512_mask_mov_ps(x10, k2, x11);
        const __mmask16 k3 = pick_ps_512(t, b);
        _mm512_mask_storeu_ps(y + k, ko, _mm512_mask_mov_ps(t, k3, b));
        if (idx) {
            const __m512i ct = _mm512_maskz_mov_epi32(k1, c1);
            const __m512i cb = _mm512_mask_mov_epi32(c2, k2, c3);
            const __m512i c = _mm512_mask_mov_epi32(ct, k3, cb);
            const __m512i bv = _mm512_add_epi64(_mm512_set1_epi64(base + 2 * k), iota2);
            const __m512i clo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(c));
            const __m512i chi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(c, 1));
            __m512i ilo = _mm512_add_epi64(bv, _mm512_and_si512(clo, one64));
            __m512i ihi = _mm512_add_epi64(_mm512_add_epi64(bv, _mm512_set1_epi64(16)),
                                           _mm512_and_si512(chi, one64));
            ilo = _mm512_mask_add_epi64(ilo, _mm512_test_epi64_mask(clo, two64), ilo, wv);
            ihi = _mm512_mask_add_epi64(ihi, _mm512_test_epi64_mask(chi, two64), ihi, wv);
            _mm512_mask_storeu_epi64(idx + k, (__mmask8)ko, ilo);
            _mm512_mask_storeu_epi64(idx + k + 8, (__mmask8)(ko >> 8), ihi);
        }
    }
}

FC_TARGET_AVX512
static void mp2_row_f64_avx512(const double *r0, const double *r1, int64_t W, int64_t n,
                               double *y, int64_t *idx, int64_t base) {
    const __m512i ev = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i od = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    const __m512i one64 = _mm512_set1_epi64(1), wv = _mm512_set1_epi64(W);
    const __m512i iota2 = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    for (int64_t k = 0; k < n; k += 8) {
        const int64_t m = n - k;
        __mmask8 klo = 0xff, khi = 0xff, ko = 0xff;
        if (m < 8) {
            const int64_t e = 2 * m;
            klo = e >= 8 ? (__mmask8)0xff : (__mmask8)((1u << e) - 1);
            khi = e > 8 ? (__mmask8)((1u << (e - 8)) - 1) : (__mmask8)0;
            ko = (__mmask8)((1u << m) - 1);
        }
        const __m512d a0 = _mm512_maskz_loadu_pd(klo, r0 + 2 * k);
        const __m512d a1 = _mm512_maskz_loadu_pd(khi, r0 + 2 * k + 8);
        const __m512d b0 = _mm512_maskz_loadu_pd(klo, r1 + 2 * k);
        const __m512d b1 = _mm512_maskz_loadu_pd(khi, r1 + 2 * k + 8);
        const __m512d x00 = _mm512_permutex2var_pd(a0, ev, a1);
        const __m512d x01 = _mm512_permutex2var_pd(a0, od, a1);
        const __m512d x10 = _mm512_permutex2var_pd(b0, ev, b1);
        const __m512d x11 = _mm512_permutex2var_pd(b0, od, b1);
        const __mmask8 k1 = pick_pd_512(x00, x01);
        const __mmask8 k2 = pick_pd_512(x10, x11);
        const __m512d t = _mm512_mask_mov_pd(x00, k1, x01);
        const __m512d b = _mm512_mask_mov_pd(x10, k2, x11);
        const __mmask8 k3 = pick_pd_512(t, b);
        _mm512_mask_storeu_pd(y + k, ko, _mm512_mask_mov_pd(t, k3, b));
        if (idx) {
            const __m512i i00 = _mm512_add_epi64(_mm512_set1_epi64(base + 2 * k), iota2);
            const __m512i i10 = _mm512_add_epi64(i00, wv);
            const __m512i it = _mm512_mask_add_epi64(i00, k1, i00, one64);
            const __m512i ib = _mm512_mask_add_epi64(i10, k2, i10, one64);
            _mm512_mask_storeu_epi64(idx + k, ko, _mm512_mask_mov_epi64(it, k3, ib));
        }
    }
}


/* General windows, horizontally interior outputs: 16 (f32) / 8 (f64) outputs at a time,
 * each window element fetched with a gather.  Needs the plane to fit int32 offsets. */
FC_TARGET_AVX512
static void mpg_row_f32_avx512(const fc_pool2d_params *p, const float *x, int64_t oh,
                               int64_t ow0, int64_t ow1, float *y, int64_t *idx) {
    const int64_t W = p->w, dh = p->dil_h;
    int64_t hs = oh * p->stride_h - p->pad_h;
    const int64_t he = FC_MIN(hs + (p->kh - 1) * dh + 1, p->h);
    if (hs < 0) hs += ((-hs + dh - 1) / dh) * dh;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_mullo_epi32(iota, _mm512_set1_epi32((int)p->stride_w));
    for (int64_t ow = ow0; ow < ow1; ow += 16) {
        const int64_t m = ow1 - ow;
        const __mmask16 km = m >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << m) - 1);
        /* column of the window start of each lane */
        const __m512i col0 = _mm512_add_epi32(_mm512_set1_epi32((int)(ow * p->stride_w - p->pad_w)), step);
        __m512 best = _mm512_set1_ps(-INFINITY);
        __m512i bi = _mm512_add_epi32(_mm512_set1_epi32((int)(hs * W)), col0);
        for (int64_t h = hs; h < he; h += dh) {
            const float *row = x + h * W;
            const __m512i rowoff = _mm512_set1_epi32((int)(h * W));
            __m512i col = col0;
            for (int64_t b = 0; b < p->kw; b++) {
                const __m512 v = _mm512_mask_i32gather_ps(best, km, col, row, 4);
                const __mmask16 k = (km & pick_ps_512(best, v));
                best = _mm512_mask_mov_ps(best, k, v);
                bi = _mm512_mask_add_epi32(bi, k, rowoff, col);
                col = _mm512_add_epi32(col, _mm512_set1_epi32((int)p->dil_w));
            }
        }
        _mm512_mask_storeu_ps(y + ow, km, best);
        if (idx) {
            _mm512_mask_storeu_epi64(idx + ow, (__mmask8)km,
                                     _mm512_cvtepi32_epi64(_mm512_castsi512_si256(bi)));
            _mm512_mask_storeu_epi64(idx + ow + 8, (__mmask8)(km >> 8),
                                     _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(bi, 1)));
        }
    }
}

FC_TARGET_AVX512
static void mpg_row_f64_avx512(const fc_pool2d_params *p, const double *x, int64_t oh,
                               int64_t ow0, int64_t ow1, double *y, int64_t *idx) {
    const int64_t W = p->w, dh = p->dil_h;
    int64_t hs = oh * p->stride_h - p->pad_h;
    const int64_t he = FC_MIN(hs + (p->kh - 1) * dh + 1, p->h);
    if (hs < 0) hs += ((-hs + dh - 1) / dh) * dh;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_mullo_epi32(iota, _mm256_set1_epi32((int)p->stride_w));
    for (int64_t ow = ow0; ow < ow1; ow += 8) {
        const int64_t m = ow1 - ow;
        const __mmask8 km = m >= 8 ? (__mmask8)0xff : (__mmask8)((1u << m) - 1);
        const __m256i col0 = _mm256_add_epi32(_mm256_set1_epi32((int)(ow * p->stride_w - p->pad_w)), step);
        __m512d best = _mm512_set1_pd(-INFINITY);
        __m512i bi = _mm512_cvtepi32_epi64(_mm256_add_epi32(_mm256_set1_epi32((int)(hs * W)), col0));
        for (int64_t h = hs; h < he; h += dh) {
            const double *row = x + h * W;
            const __m256i rowoff = _mm256_set1_epi32((int)(h * W));
            __m256i col = col0;
            for (int64_t b = 0; b < p->kw; b++) {
                const __m512d v = _mm512_mask_i32gather_pd(best, km, col, row, 8);
                const __mmask8 k = (km & pick_pd_512(best, v));
                best = _mm512_mask_mov_pd(best, k, v);
                bi = _mm512_mask_mov_epi64(bi, k, _mm512_cvtepi32_epi64(_mm256_add_epi32(rowoff, col)));
                col = _mm256_add_epi32(col, _mm256_set1_epi32((int)p->dil_w));
            }
        }
        _mm512_mask_storeu_pd(y + ow, km, best);
        if (idx) _mm512_mask_storeu_epi64(idx + ow, km, bi);
    }
}



/* lanes j < m of an 8 x int32 mask are set */
FC_TARGET_AVX2
static inline __m256i mask8_i32(int64_t m) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

FC_TARGET_AVX2
static inline __m256 pick_mask_ps(__m256 a, __m256 b) { /* b replaces a */
    return _mm256_or_ps(_mm256_cmp_ps(b, a, _CMP_GT_OQ), _mm256_cmp_ps(b, b, _CMP_UNORD_Q));
}
FC_TARGET_AVX2
static inline __m256d pick_mask_pd(__m256d a, __m256d b) {
    return _mm256_or_pd(_mm256_cmp_pd(b, a, _CMP_GT_OQ), _mm256_cmp_pd(b, b, _CMP_UNORD_Q));
}

/* One vector of 8 full 2x2 windows: inputs r0[0, 16) and r1[0, 16), outputs y[0, 8) and,
 * with idx, idx[0, 8) = base + the window offsets.  Lanes stay in the order the in-lane
 * shuffles leave them, outputs (0 1 4 5 | 2 3 6 7); the result and the offsets are put in
 * order once, at the end.  Offsets are int32 (W < 2^30) until they are widened. */
FC_TARGET_AVX2
static inline __attribute__((always_inline)) void
mp2_v8_f32_avx2(const float *r0, const float *r1, __m256i wv, float *y, int64_t *idx,
                int64_t base, int with_idx) {
    const __m256 a0 = _mm256_loadu_ps(r0), a1 = _mm256_loadu_ps(r0 + 8);
    const __m256 b0 = _mm256_loadu_ps(r1), b1 = _mm256_loadu_ps(r1 + 8);
    const __m256 x00 = _mm256_shuffle_ps(a0, a1, 0x88), x01 = _mm256_shuffle_ps(a0, a1, 0xDD);
    const __m256 x10 = _mm256_shuffle_ps(b0, b1, 0x88), x11 = _mm256_shuffle_ps(b0, b1, 0xDD);
    const __m256 m1 = pick_mask_ps(x00, x01), m2 = pick_mask_ps(x10, x11);
    const __m256 t = _mm256_blendv_ps(x00, x01, m1);
    const __m256 b = _mm256_blendv_ps(x10, x11, m2);
    const __m256 m3 = pick_mask_ps(t, b);
    _mm256_storeu_ps(y, _mm256_castpd_ps(_mm256_permute4x64_pd(
                            _mm256_castps_pd(_mm256_blendv_ps(t, b, m3)), 0xD8)));
    if (with_idx) {
        /* 2j + (m1 & 1) on top, 2j + W + (m2 & 1) below (a mask lane is -1: subtract it) */
        const __m256i iota2 = _mm256_setr_epi32(0, 2, 8, 10, 4, 6, 12, 14);
        const __m256i ot = _mm256_sub_epi32(iota2, _mm256_castps_si256(m1));
        const __m256i ob = _mm256_sub_epi32(_mm256_add_epi32(iota2, wv), _mm256_castps_si256(m2));
        const __m256i o = _mm256_permute4x64_epi64(
            _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(ot),
                                                 _mm256_castsi256_ps(ob), m3)),
            0xD8);
        const __m256i bv = _mm256_set1_epi64x(base);
        _mm256_storeu_si256((__m256i *)idx,
                            _mm256_add_epi64(bv, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(o))));
        _mm256_storeu_si256(
            (__m256i *)(idx + 4),
            _mm256_add_epi64(bv, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(o, 1))));
    }
}

/* One vector of 4 full 2x2 windows in float64: inputs r0[0, 8) and r1[0, 8), outputs y[0, 4)
 * and, with idx, idx[0, 4).  The unpacks leave outputs in the order (0 2 1 3); the result
 * and the indices are put in order once, at the end. */
FC_TARGET_AVX2
static inline __attribute__((always_inline)) void
mp2_v4_f64_avx2(const double *r0, const double *r1, __m256i wv, double *y, int64_t *idx,
                int64_t base, int with_idx) {
    const __m256d a0 = _mm256_loadu_pd(r0), a1 = _mm256_loadu_pd(r0 + 4);
    const __m256d b0 = _mm256_loadu_pd(r1), b1 = _mm256_loadu_pd(r1 + 4);
    const __m256d x00 = _mm256_unpacklo_pd(a0, a1), x01 = _mm256_unpackhi_pd(a0, a1);
    const __m256d x10 = _mm256_unpacklo_pd(b0, b1), x11 = _mm256_unpackhi_pd(b0, b1);
    const __m256d m1 = pick_mask_pd(x00, x01), m2 = pick_mask_pd(x10, x11);
    const __m256d t = _mm256_blendv_pd(x00, x01, m1);
    const __m256d b = _mm256_blendv_pd(x10, x11, m2);
    const __m256d m3 = pick_mask_pd(t, b);
    _mm256_storeu_pd(y, _mm256_permute4x64_pd(_mm256_blendv_pd(t, b, m3), 0xD8));
    if (with_idx) {
        /* base + 2j + (m1 & 1) on top, + W + (m2 & 1) below (a mask lane is -1) */
        const __m256i i00 = _mm256_add_epi64(_mm256_set1_epi64x(base),
                                             _mm256_setr_epi64x(0, 4, 2, 6));
        const __m256i it = _mm256_sub_epi64(i00, _mm256_castpd_si256(m1));
        const __m256i ib = _mm256_sub_epi64(_mm256_add_epi64(i00, wv), _mm256_castpd_si256(m2));
        const __m256i ir = _mm256_castpd_si256(
            _mm256_blendv_pd(_mm256_castsi256_pd(it), _mm256_castsi256_pd(ib), m3));
        _mm256_storeu_si256((__m256i *)idx, _mm256_permute4x64_epi64(ir, 0xD8));
    }
}

/* The full windows of one plane, output rows [0, fh) and columns [0, fw), VL_ windows per
 * vector (VEC_: mp2_v8_f32_avx2 or mp2_v4_f64_avx2; WV_: its broadcast of W).  A row of VL_
 * or more windows ends with a full vector overlapping the one before (the same outputs
 * written twice).  A shorter row is one full vector that overruns into outputs written
 * later (the next rows, the caller's border loops, the next plane's first row) where its
 * inputs stay inside what the caller allows; else it goes through the stack (masked stores
 * are slow on AMD cores). */
#define MP2_PLANE_AVX2(SFX_, FT_, VL_, VEC_, WV_)                                            \
    FC_TARGET_AVX2                                                                           \
    static void mp2_short_##SFX_##_avx2(const FT_ *r0, const FT_ *r1, __m256i wv, int64_t m,  \
                                        FT_ *y, int64_t *idx, int64_t base) {                \
        FT_ a[2 * VL_] = {0}, b[2 * VL_] = {0}, yt[VL_];                                     \
        int64_t it[VL_];                                                                     \
        memcpy(a, r0, (size_t)(2 * m) * sizeof(FT_));                                        \
        memcpy(b, r1, (size_t)(2 * m) * sizeof(FT_));                                        \
        VEC_(a, b, wv, yt, it, base, idx != NULL);                                           \
        memcpy(y, yt, (size_t)m * sizeof(FT_));                                              \
        if (idx) memcpy(idx, it, (size_t)m * sizeof(int64_t));                               \
    }                                                                                        \
    FC_TARGET_AVX2                                                                           \
    static inline __attribute__((always_inline)) void mp2_plane_##SFX_##_avx2_body(          \
        const fc_pool2d_params *p, const FT_ *x, int64_t fh, int64_t fw, FT_ *y, int64_t *idx, \
        int64_t in_after, int64_t out_after, int with_idx) {                                 \
        const int64_t W = p->w, OW = p->out_w;                                               \
        const int64_t HW = p->h * p->w + in_after, OHW = p->out_h * p->out_w + out_after;    \
        const __m256i wv = WV_(W);                                                           \
        for (int64_t oh = 0; oh < fh; oh++) {                                                \
            const FT_ *r0 = x + 2 * oh * W, *r1 = r0 + W;                                    \
            FT_ *yr = y + oh * OW;                                                           \
            int64_t *ir = with_idx ? idx + oh * OW : NULL;                                   \
            const int64_t base = 2 * oh * W;                                                 \
            if (fw >= VL_) {                                                                 \
                int64_t k = 0;                                                               \
                for (; k + VL_ <= fw; k += VL_)                                              \
                    VEC_(r0 + 2 * k, r1 + 2 * k, wv, yr + k, ir + k, base + 2 * k, with_idx);  \
                if (k < fw) {                                                                \
                    k = fw - VL_;                                                            \
                    VEC_(r0 + 2 * k, r1 + 2 * k, wv, yr + k, ir + k, base + 2 * k, with_idx);  \
                }                                                                            \
            } else if ((2 * oh + 1) * W + 2 * VL_ <= HW && oh * OW + VL_ <= OHW) {           \
                VEC_(r0, r1, wv, yr, ir, base, with_idx);                                    \
            } else {                                                                         \
                mp2_short_##SFX_##_avx2(r0, r1, wv, fw, yr, ir, base);                       \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    FC_TARGET_AVX2                                                                           \
    static void mp2_plane_##SFX_##_avx2(const fc_pool2d_params *p, const FT_ *x, int64_t fh, \
                                        int64_t fw, FT_ *y, int64_t *idx, int64_t in_after,  \
                                        int64_t out_after) {                                 \
        if (idx) mp2_plane_##SFX_##_avx2_body(p, x, fh, fw, y, idx, in_after, out_after, 1);  \
        else mp2_plane_##SFX_##_avx2_body(p, x, fh, fw, y, NULL, in_after, out_after, 0);     \
    }
MP2_PLANE_AVX2(f32, float, 8, mp2_v8_f32_avx2, _mm256_set1_epi32)
MP2_PLANE_AVX2(f64, double, 4, mp2_v4_f64_avx2, _mm256_set1_epi64x)
#undef MP2_PLANE_AVX2

/* lanes j < m of a 4 x int64 mask are set */
FC_TARGET_AVX2
static inline __m256i mask4_i64(int64_t m) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(m), _mm256_setr_epi64x(0, 1, 2, 3));
}

FC_TARGET_AVX2
static void mpg_row_f32_avx2(const fc_pool2d_params *p, const float *x, int64_t oh,
                             int64_t ow0, int64_t ow1, float *y, int64_t *idx) {
    const int64_t W = p->w, dh = p->dil_h;
    int64_t hs = oh * p->stride_h - p->pad_h;
    const int64_t he = FC_MIN(hs + (p->kh - 1) * dh + 1, p->h);
    if (hs < 0) hs += ((-hs + dh - 1) / dh) * dh;
    const __m256i step = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                            _mm256_set1_epi32((int)p->stride_w));
    for (int64_t ow = ow0; ow < ow1; ow += 8) {
        const int64_t m = ow1 - ow;
        const __m256i km = mask8_i32(m);
        const __m256i col0 = _mm256_add_epi32(_mm256_set1_epi32((int)(ow * p->stride_w - p->pad_w)), step);
        __m256 best = _mm256_set1_ps(-INFINITY);
        __m256i bi = _mm256_add_epi32(_mm256_set1_epi32((int)(hs * W)), col0);
        for (int64_t h = hs; h < he; h += dh) {
            const float *row = x + h * W;
            const __m256i rowoff = _mm256_set1_epi32((int)(h * W));
            __m256i col = col0;
            for (int64_t b = 0; b < p->kw; b++) {
                const __m256 v = _mm256_mask_i32gather_ps(best, row, col, _mm256_castsi256_ps(km), 4);
                const __m256 k = pick_mask_ps(best, v);
                best = _mm256_blendv_ps(best, v, k);
                bi = _mm256_castps_si256(_mm256_blendv_ps(
                    _mm256_castsi256_ps(bi), _mm256_castsi256_ps(_mm256_add_epi32(rowoff, col)), k));
                col = _mm256_add_epi32(col, _mm256_set1_epi32((int)p->dil_w));
            }
        }
        if (m >= 8) _mm256_storeu_ps(y + ow, best);
        else _mm256_maskstore_ps(y + ow, km, best);
        if (idx) {
            const __m256i ilo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(bi));
            const __m256i ihi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(bi, 1));
            _mm256_maskstore_epi64((long long *)(idx + ow),
                                   _mm256_cvtepi32_epi64(_mm256_castsi256_si128(km)), ilo);
            _mm256_maskstore_epi64((long long *)(idx + ow + 4),
                                   _mm256_cvtepi32_epi64(_mm256_extracti128_si256(km, 1)), ihi);
        }
    }
}

FC_TARGET_AVX2
static void mpg_row_f64_avx2(const fc_pool2d_params *p, const double *x, int64_t oh,
                             int64_t ow0, int64_t ow1, double *y, int64_t *idx) {
    const int64_t W = p->w, dh = p->dil_h;
    int64_t hs = oh * p->stride_h - p->pad_h;
    const int64_t he = FC_MIN(hs + (p->kh - 1) * dh + 1, p->h);
    if (hs < 0) hs += ((-hs + dh - 1) / dh) * dh;
    const __m128i step = _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32((int)p->stride_w));
    for (int64_t ow = ow0; ow < ow1; ow += 4) {
        const int64_t m = ow1 - ow;
        const __m256i km = mask4_i64(m);
        const __m128i col0 = _mm_add_epi32(_mm_set1_epi32((int)(ow * p->stride_w - p->pad_w)), step);
        __m256d best = _mm256_set1_pd(-INFINITY);
        __m256i bi = _mm256_cvtepi32_epi64(_mm_add_epi32(_mm_set1_epi32((int)(hs * W)), col0));
        for (int64_t h = hs; h < he; h += dh) {
            const double *row = x + h * W;
            const __m128i rowoff = _mm_set1_epi32((int)(h * W));
            __m128i col = col0;
            for (int64_t b = 0; b < p->kw; b++) {
                const __m256d v = _mm256_mask_i32gather_pd(best, row, col, _mm256_castsi256_pd(km), 8);
                const __m256d k = pick_mask_pd(best, v);
                best = _mm256_blendv_pd(best, v, k);
                bi = _mm256_castpd_si256(_mm256_blendv_pd(
                    _mm256_castsi256_pd(bi),
                    _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_add_epi32(rowoff, col))), k));
                col = _mm_add_epi32(col, _mm_set1_epi32((int)p->dil_w));
            }
        }
        _mm256_maskstore_pd(y + ow, km, best);
        if (idx) _mm256_maskstore_epi64((long long *)(idx + ow), km, bi);
    }
}


/* ---------------------------------------------------------------------------------- */
/* x86 kernel for the backward of 2x2 stride-2 max pooling over planes the windows tile */
/* ---------------------------------------------------------------------------------- */

/* 8 windows: gradients gyp[0, 8), indices ip[0, 8) (window j starts at flat position
 * base + 2j), input rows g0[0, 16) and g1[0, 16).  Lanes j >= n are not checked (their
 * outputs land where the caller lets them overrun).  Returns 0, before any store, if an
 * index lies outside its window. */
FC_TARGET_AVX2
static inline __attribute__((always_inline)) int
mbw_v8_f32_avx2(const float *gyp, const int64_t *ip, float *g0, float *g1, int64_t base,
                __m256i w64, __m256i w32, int n) {
    const __m256i one64 = _mm256_set1_epi64x(1);
    const __m256i b0 = _mm256_add_epi64(_mm256_set1_epi64x(base), _mm256_setr_epi64x(0, 2, 4, 6));
    const __m256i b1 = _mm256_add_epi64(b0, _mm256_set1_epi64x(8));
    const __m256i c0 = _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)ip), b0);
    const __m256i c1 = _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)(ip + 4)), b1);
    /* in the window: offset & ~1 is 0 (top row) or W (bottom row); W is even */
    const __m256i e0 = _mm256_andnot_si256(one64, c0), e1 = _mm256_andnot_si256(one64, c1);
    const __m256i z = _mm256_setzero_si256();
    const __m256i ok0 = _mm256_or_si256(_mm256_cmpeq_epi64(e0, z), _mm256_cmpeq_epi64(e0, w64));
    const __m256i ok1 = _mm256_or_si256(_mm256_cmpeq_epi64(e1, z), _mm256_cmpeq_epi64(e1, w64));
    const int ok = _mm256_movemask_pd(_mm256_castsi256_pd(ok0)) |
                   (_mm256_movemask_pd(_mm256_castsi256_pd(ok1)) << 4);
    if (((ok | (0xFF << n)) & 0xFF) != 0xFF) return 0;
    /* a 64-bit lane of an input row holds the two columns of one window: the window's
     * offset (now known to be small) in both halves of it, against (0, 1) on the top row and
     * (W, W + 1) below; + 0.0 because the scatter into zeros turns a -0 gradient into +0 */
    const __m256i d0 = _mm256_or_si256(c0, _mm256_slli_epi64(c0, 32));
    const __m256i d1 = _mm256_or_si256(c1, _mm256_slli_epi64(c1, 32));
    const __m256 gv = _mm256_add_ps(_mm256_loadu_ps(gyp), _mm256_setzero_ps());
    const __m256 gl = _mm256_permutevar8x32_ps(gv, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
    const __m256 gh = _mm256_permutevar8x32_ps(gv, _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7));
    const __m256i top = _mm256_setr_epi32(0, 1, 0, 1, 0, 1, 0, 1);
    const __m256i bot = _mm256_add_epi32(top, w32);
#define MBW_PICK(gg, dd, t) _mm256_and_ps(gg, _mm256_castsi256_ps(_mm256_cmpeq_epi32(dd, t)))
    _mm256_storeu_ps(g0, MBW_PICK(gl, d0, top));
    _mm256_storeu_ps(g0 + 8, MBW_PICK(gh, d1, top));
    _mm256_storeu_ps(g1, MBW_PICK(gl, d0, bot));
    _mm256_storeu_ps(g1 + 8, MBW_PICK(gh, d1, bot));
#undef MBW_PICK
    return 1;
}

/* One window, portably: 0 if its index lies outside it. */
static inline int mbw_one_f32(float gv, int64_t i, float *g0, float *g1, int64_t base,
                              int64_t W) {
    const int64_t c = i - base;
    if (c != 0 && c != 1 && c != W && c != W + 1) return 0;
    const float v = gv + 0.0f;
    g0[0] = c == 0 ? v : 0.0f;
    g0[1] = c == 1 ? v : 0.0f;
    g1[0] = c == W ? v : 0.0f;
    g1[1] = c == W + 1 ? v : 0.0f;
    return 1;
}

FC_TARGET_AVX2
static int mbw_plane_f32_avx2(const float *gy, const int64_t *idx, int64_t OH, int64_t OW,
                              float *gx, int64_t y_after, int64_t g_after) {
    const int64_t W = 2 * OW, OHW = OH * OW + y_after, HW = 2 * OH * W + g_after;
    const __m256i w64 = _mm256_set1_epi64x(W), w32 = _mm256_set1_epi32((int)W);
    for (int64_t oh = 0; oh < OH; oh++) {
        const float *gyp = gy + oh * OW;
        const int64_t *ip = idx + oh * OW;
        float *g0 = gx + 2 * oh * W, *g1 = g0 + W;
        const int64_t base = 2 * oh * W;
        if (OW >= 8) {
            int64_t k = 0;
            for (; k + 8 <= OW; k += 8)
                if (!mbw_v8_f32_avx2(gyp + k, ip + k, g0 + 2 * k, g1 + 2 * k, base + 2 * k, w64,
                                     w32, 8))
                    return 0;
            if (k < OW) {
                k = OW - 8;
                if (!mbw_v8_f32_avx2(gyp + k, ip + k, g0 + 2 * k, g1 + 2 * k, base + 2 * k, w64,
                                     w32, 8))
                    return 0;
            }
        } else if (oh * OW + 8 <= OHW && (2 * oh + 1) * W + 16 <= HW) {
            if (!mbw_v8_f32_avx2(gyp, ip, g0, g1, base, w64, w32, (int)OW)) return 0;
        } else {
            for (int64_t k = 0; k < OW; k++)
                if (!mbw_one_f32(gyp[k], ip[k], g0 + 2 * k, g1 + 2 * k, base + 2 * k, W)) return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* x86 kernels for 2x2 stride-2 average pooling                                         */
/*                                                                                      */
/* Forward, 4 outputs per step, in double as the portable loop: the unpacks give x00, */
/* x01, x10 and x11 of outputs (0 2 1 3), and the sum                                  */
/* ((x00 + x01) + x10) + x11 is the portable loop's to the bit.  Rows of 4 or more      */
/* outputs end with a step overlapping the one before; shorter rows run the portable    */
/* loop.  Backward: a quarter of each gradient, duplicated to its two columns, stored to  */
/* both rows.                                                                           */
/* ---------------------------------------------------------------------------------- */

FC_TARGET_AVX2
static inline __attribute__((always_inline)) __m256d ap2_sum4_avx2(__m256d a0, __m256d a1,
                                                                 __m256d b0, __m256d b1) {
    const __m256d t = _mm256_add_pd(_mm256_unpacklo_pd(a0, a1), _mm256_unpackhi_pd(a0, a1));
    const __m256d s = _mm256_add_pd(_mm256_add_pd(t, _mm256_unpacklo_pd(b0, b1)),
                                    _mm256_unpackhi_pd(b0, b1));
    return _mm256_permute4x64_pd(_mm256_mul_pd(s, _mm256_set1_pd(0.25)), 0xD8);
}

FC_TARGET_AVX2
static inline __attribute__((always_inline)) void ap2_v4_f32_avx2(const float *r0,
                                                                const float *r1, float *y) {
    const __m256d s = ap2_sum4_avx2(
        _mm256_cvtps_pd(_mm_loadu_ps(r0)), _mm256_cvtps_pd(_mm_loadu_ps(r0 + 4)),
        _mm256_cvtps_pd(_mm_loadu_ps(r1)), _mm256_cvtps_pd(_mm_loadu_ps(r1 + 4)));
    _mm_storeu_ps(y, _mm256_cvtpd_ps(s));
}

FC_TARGET_AVX2
static inline __attribute__((always_inline)) void ap2_v4_f64_avx2(const double *r0,
                                                                const double *r1, double *y) {
    _mm256_storeu_pd(y, ap2_sum4_avx2(_mm256_loadu_pd(r0), _mm256_loadu_pd(r0 + 4),
                                      _mm256_loadu_pd(r1), _mm256_loadu_pd(r1 + 4)));
}

#define AP2_FWD_AVX2(SFX_, FT_)                                                              \
    FC_TARGET_AVX2                                                                           \
    static void ap2_fwd_##SFX_##_avx2(const FT_ *x, int64_t W, int64_t fh, int64_t fw,      \
                                      int64_t OW, FT_ *y) {                                  \
        if (fw < 4) {                                                                        \
            ap2_fwd_scalar_##SFX_(x, W, fh, fw, OW, y);                                      \
            return;                                                                          \
        }                                                                                    \
        for (int64_t oh = 0; oh < fh; oh++) {                                                \
            const FT_ *r0 = x + 2 * oh * W, *r1 = r0 + W;                                    \
            FT_ *yr = y + oh * OW;                                                           \
            int64_t k = 0;                                                                   \
            for (; k + 4 <= fw; k += 4) ap2_v4_##SFX_##_avx2(r0 + 2 * k, r1 + 2 * k, yr + k);  \
            if (k < fw) ap2_v4_##SFX_##_avx2(r0 + 2 * fw - 8, r1 + 2 * fw - 8, yr + fw - 4);   \
        }                                                                                    \
    }
AP2_FWD_AVX2(f32, float)
AP2_FWD_AVX2(f64, double)
#undef AP2_FWD_AVX2

FC_TARGET_AVX2
static inline __attribute__((always_inline)) void ap2_b4_f32_avx2(const float *g, float *r0,
                                                                float *r1) {
    const __m128 v = _mm_mul_ps(_mm_loadu_ps(g), _mm_set1_ps(0.25f));
    const __m256 d = _mm256_set_m128(_mm_unpackhi_ps(v, v), _mm_unpacklo_ps(v, v));
    _mm256_storeu_ps(r0, d);
    _mm256_storeu_ps(r1, d);
}

FC_TARGET_AVX2
static inline __attribute__((always_inline)) void ap2_b4_f64_avx2(const double *g, double *r0,
                                                                double *r1) {
    const __m256d v = _mm256_mul_pd(_mm256_loadu_pd(g), _mm256_set1_pd(0.25));
    const __m256d lo = _mm256_permute4x64_pd(v, 0x50), hi = _mm256_permute4x64_pd(v, 0xFA);
    _mm256_storeu_pd(r0, lo);
    _mm256_storeu_pd(r0 + 4, hi);
    _mm256_storeu_pd(r1, lo);
    _mm256_storeu_pd(r1 + 4, hi);
}

#define AP2_BWD_AVX2(SFX_, FT_)                                                              \
    FC_TARGET_AVX2                                                                           \
    static void ap2_bwd_##SFX_##_avx2(const FT_ *gy, int64_t OH, int64_t OW, FT_ *gx) {     \
        if (OW < 4) {                                                                        \
            ap2_bwd_scalar_##SFX_(gy, OH, OW, gx);                                           \
            return;                                                                          \
        }                                                                                    \
        const int64_t W = 2 * OW;                                                            \
        for (int64_t oh = 0; oh < OH; oh++) {                                                \
            FT_ *r0 = gx + 2 * oh * W, *r1 = r0 + W;                                         \
            const FT_ *g = gy + oh * OW;                                                     \
            int64_t k = 0;                                                                   \
            for (; k + 4 <= OW; k += 4) ap2_b4_##SFX_##_avx2(g + k, r0 + 2 * k, r1 + 2 * k);   \
            if (k < OW) ap2_b4_##SFX_##_avx2(g + OW - 4, r0 + W - 8, r1 + W - 8);             \
        }                                                                                    \
    }
AP2_BWD_AVX2(f32, float)
AP2_BWD_AVX2(f64, double)
#undef AP2_BWD_AVX2

#endif /* FC_POOL_X86 */

/* ---------------------------------------------------------------------------------- */
/* aarch64 NEON row kernels for full 2x2 stride-2 windows: the same pairwise pick as the */
/* x86 kernels, 4 (f32) / 2 (f64) outputs per step, the even/odd columns split by the   */
/* de-interleaving loads (vld2q); the tail goes through the portable kernel.  Other     */
/* windows use the portable kernels (NEON has no gather).                               */
/* ---------------------------------------------------------------------------------- */
#ifdef FC_ARM_NEON
/* lanes where b replaces a: b > a or b is NaN */
static inline uint32x4_t pick_f32_neon(float32x4_t a, float32x4_t b) {
    return vorrq_u32(vcgtq_f32(b, a), vmvnq_u32(vceqq_f32(b, b)));
}
static inline uint64x2_t pick_f64_neon(float64x2_t a, float64x2_t b) {
    return vorrq_u64(vcgtq_f64(b, a), veorq_u64(vceqq_f64(b, b), vdupq_n_u64(~(uint64_t)0)));
}
/* offset of the chosen window element from its top-left one: ku ? W + kd : kb, from the
 * all-ones lane masks */
static inline int64x2_t mp2_off_neon(uint64x2_t kb, uint64x2_t kd, uint64x2_t ku,
                                     int64x2_t wv) {
    const int64x2_t b = vnegq_s64(vreinterpretq_s64_u64(kb));
    const int64x2_t d = vsubq_s64(wv, vreinterpretq_s64_u64(kd));
    return vbslq_s64(ku, d, b);
}
static inline uint64x2_t widen_lo_u32(uint32x4_t m) {
    return vreinterpretq_u64_s64(vmovl_s32(vget_low_s32(vreinterpretq_s32_u32(m))));
}
static inline uint64x2_t widen_hi_u32(uint32x4_t m) {
    return vreinterpretq_u64_s64(vmovl_high_s32(vreinterpretq_s32_u32(m)));
}

static void mp2_row_f32_neon(const float *r0, const float *r1, int64_t W, int64_t n, float *y,
                             int64_t *idx, int64_t base) {
    const int64x2_t wv = vdupq_n_s64(W);
    const int64x2_t io0 = {0, 2}, io1 = {4, 6};
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        const float32x4x2_t t = vld2q_f32(r0 + 2 * k), b = vld2q_f32(r1 + 2 * k);
        const uint32x4_t kb = pick_f32_neon(t.val[0], t.val[1]);
        const uint32x4_t kd = pick_f32_neon(b.val[0], b.val[1]);
        const float32x4_t top = vbslq_f32(kb, t.val[1], t.val[0]);
        const float32x4_t bot = vbslq_f32(kd, b.val[1], b.val[0]);
        const uint32x4_t ku = pick_f32_neon(top, bot);
        vst1q_f32(y + k, vbslq_f32(ku, bot, top));
        if (idx) {
            const int64x2_t b0 = vdupq_n_s64(base + 2 * k);
            const int64x2_t o0 = mp2_off_neon(widen_lo_u32(kb), widen_lo_u32(kd),
                                              widen_lo_u32(ku), wv);
            const int64x2_t o1 = mp2_off_neon(widen_hi_u32(kb), widen_hi_u32(kd),
                                              widen_hi_u32(ku), wv);
            vst1q_s64(idx + k, vaddq_s64(vaddq_s64(b0, io0), o0));
            vst1q_s64(idx + k + 2, vaddq_s64(vaddq_s64(b0, io1), o1));
        }
    }
    if (k < n)
        mp2_row_scalar_f32(r0 + 2 * k, r1 + 2 * k, W, n - k, y + k, idx ? idx + k : NULL,
                           base + 2 * k);
}

static void mp2_row_f64_neon(const double *r0, const double *r1, int64_t W, int64_t n,
                             double *y, int64_t *idx, int64_t base) {
    const int64x2_t wv = vdupq_n_s64(W);
    const int64x2_t io = {0, 2};
    int64_t k = 0;
    for (; k + 2 <= n; k += 2) {
        const float64x2x2_t t = vld2q_f64(r0 + 2 * k), b = vld2q_f64(r1 + 2 * k);
        const uint64x2_t kb = pick_f64_neon(t.val[0], t.val[1]);
        const uint64x2_t kd = pick_f64_neon(b.val[0], b.val[1]);
        const float64x2_t top = vbslq_f64(kb, t.val[1], t.val[0]);
        const float64x2_t bot = vbslq_f64(kd, b.val[1], b.val[0]);
        const uint64x2_t ku = pick_f64_neon(top, bot);
        vst1q_f64(y + k, vbslq_f64(ku, bot, top));
        if (idx)
            vst1q_s64(idx + k, vaddq_s64(vaddq_s64(vdupq_n_s64(base + 2 * k), io),
                                         mp2_off_neon(kb, kd, ku, wv)));
    }
    if (k < n)
        mp2_row_scalar_f64(r0 + 2 * k, r1 + 2 * k, W, n - k, y + k, idx ? idx + k : NULL,
                           base + 2 * k);
}
#endif /* FC_ARM_NEON */

/* ---------------------------------------------------------------------------------- */
/* Public (internal) entry points                                                       */
/* ---------------------------------------------------------------------------------- */

static int is_2x2s2(const fc_pool2d_params *p) {
    return p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 0 &&
           p->pad_w == 0 && p->dil_h == 1 && p->dil_w == 1;
}

#ifdef FC_POOL_X86
/* The gather kernels use int32 offsets within a plane. */
static int fits_int32(const fc_pool2d_params *p) {
    const int64_t lim = (int64_t)1 << 30;
    return p->h < lim && p->w < lim && p->h * p->w < lim &&
           (p->out_w + 16) * p->stride_w + p->kw * p->dil_w < lim;
}
#endif

static void check_params(const fc_pool2d_params *p) {
    (void)p;
    assert(p->n >= 0 && p->c >= 0 && p->h >= 0 && p->w >= 0);
    assert(p->kh >= 1 && p->kw >= 1 && p->stride_h >= 1 && p->stride_w >= 1);
    assert(p->pad_h >= 0 && p->pad_w >= 0 && 2 * p->pad_h <= p->kh && 2 * p->pad_w <= p->kw);
    assert(p->dil_h >= 1 && p->dil_w >= 1 && p->out_h >= 0 && p->out_w >= 0);
}

void fc_opt_max_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y,
                                   int64_t *idx) {
    check_params(p);
    mp2_row_fn_f32 row2 = NULL;
    mp2_plane_fn_f32 plane2 = NULL;
    mpg_row_fn_f32 rowg = mpg_row_scalar_f32;
#ifdef FC_POOL_X86
    const fc_isa isa = fc_current_isa();
#endif
    if (is_2x2s2(p)) {
        row2 = mp2_row_scalar_f32;
#ifdef FC_POOL_X86
        if (isa == FC_ISA_AVX512) row2 = mp2_row_f32_avx512;
        else if (isa == FC_ISA_AVX2 && p->w < ((int64_t)1 << 30)) /* int32 row offsets */
            plane2 = mp2_plane_f32_avx2;
#endif
#ifdef FC_ARM_NEON
        if (fc_current_isa() == FC_ISA_NEON) row2 = mp2_row_f32_neon;
#endif
    }
#ifdef FC_POOL_X86
    else if (isa == FC_ISA_AVX512 && fits_int32(p))
        rowg = mpg_row_f32_avx512;
    else if (isa == FC_ISA_AVX2 && fits_int32(p))
        rowg = mpg_row_f32_avx2;
#endif
    max_pool_fwd_f32(p, x, y, idx, row2, plane2, rowg);
}

void fc_opt_max_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y,
                                   int64_t *idx) {
    check_params(p);
    mp2_row_fn_f64 row2 = NULL;
    mp2_plane_fn_f64 plane2 = NULL;
    mpg_row_fn_f64 rowg = mpg_row_scalar_f64;
#ifdef FC_POOL_X86
    const fc_isa isa = fc_current_isa();
#endif
    if (is_2x2s2(p)) {
        row2 = mp2_row_scalar_f64;
#ifdef FC_POOL_X86
        if (isa == FC_ISA_AVX512) row2 = mp2_row_f64_avx512;
        else if (isa == FC_ISA_AVX2) plane2 = mp2_plane_f64_avx2;
#endif
#ifdef FC_ARM_NEON
        if (fc_current_isa() == FC_ISA_NEON) row2 = mp2_row_f64_neon;
#endif
    }
#ifdef FC_POOL_X86
    else if (isa == FC_ISA_AVX512 && fits_int32(p))
        rowg = mpg_row_f64_avx512;
    else if (isa == FC_ISA_AVX2 && fits_int32(p))
        rowg = mpg_row_f64_avx2;
#endif
    max_pool_fwd_f64(p, x, y, idx, row2, plane2, rowg);
}

#define AVG_POOL_ENTRY(SFX_, FT_)                                                            \
    void fc_opt_avg_pool2d_forward_##SFX_(const fc_pool2d_params *p, const FT_ *x, FT_ *y) { \
        ap2_fwd_fn_##SFX_ fast2 = ap2_fwd_scalar_##SFX_;                                     \
        AVG_POOL_X86(if (pool_simd()) fast2 = ap2_fwd_##SFX_##_avx2;)          \
        avg_pool_fwd_##SFX_(p, x, y, fast2);                                                 \
    }                                                                                        \
    void fc_opt_avg_pool2d_backward_##SFX_(const fc_pool2d_params *p, const FT_ *gy,         \
                                           FT_ *gx) {                                        \
        ap2_bwd_fn_##SFX_ fast2 = ap2_bwd_scalar_##SFX_;                                     \
        AVG_POOL_X86(if (pool_simd()) fast2 = ap2_bwd_##SFX_##_avx2;)          \
        avg_pool_bwd_##SFX_(p, gy, gx, fast2);                                               \
    }
#ifdef FC_POOL_X86
/* the AVX2 pooling kernels serve the AVX-512 path too: memory bounds them, not width */
static int pool_simd(void) {
    const fc_isa isa = fc_current_isa();
    return isa == FC_ISA_AVX2 || isa == FC_ISA_AVX512;
}
#define AVG_POOL_X86(stmt) stmt
#else
#define AVG_POOL_X86(stmt)
#endif
AVG_POOL_ENTRY(f32, float)
AVG_POOL_ENTRY(f64, double)
#undef AVG_POOL_ENTRY
#undef AVG_POOL_X86

int64_t fc_opt_max_pool2d_backward_f32(int64_t nc, int64_t in_h, int64_t in_w,
                                       int64_t out_h, int64_t out_w, const float *gy,
                                       const int64_t *idx, float *gx) {
    mp2_bwd_fn_f32 fast2 = NULL;
#ifdef FC_POOL_X86
    if (pool_simd() && in_w < ((int64_t)1 << 30)) fast2 = mbw_plane_f32_avx2;
#endif
    return max_pool_bwd_f32(nc, in_h, in_w, out_h, out_w, gy, idx, gx, fast2);
}

int64_t fc_opt_max_pool2d_backward_f64(int64_t nc, int64_t in_h, int64_t in_w,
                                       int64_t out_h, int64_t out_w, const double *gy,
                                       const int64_t *idx, double *gx) {
    return max_pool_bwd_f64(nc, in_h, in_w, out_h, out_w, gy, idx, gx, NULL);
}
