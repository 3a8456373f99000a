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
#else
#define POOL_OMP_FOR(nt)
#endif

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

FC_TARGET_AVX2
static void mp2_row_f32_avx2(const float *r0, const float *r1, int64_t W, int64_t n, float *y,
                             int64_t *idx, int64_t base) {
    const __m256i c1 = _mm256_set1_epi32(1), c2 = _mm256_set1_epi32(2), c3 = _mm256_set1_epi32(3);
    const __m256i one64 = _mm256_set1_epi64x(1), two64 = _mm256_set1_epi64x(2);
    const __m256i wv = _mm256_set1_epi64x(W);
    const __m256i iota2 = _mm256_setr_epi64x(0, 2, 4, 6);
    for (int64_t k0 = 0; k0 < n; k0 += 8) {
        /* a row of 8 or more windows ends with a full vector overlapping the one before
         * (the same outputs written twice): AMD cores run masked stores slowly */
        const int64_t k = (n - k0 < 8 && n >= 8) ? n - 8 : k0;
        const int64_t m = n - k;
        __m256 a0, a1, b0, b1;
        if (m >= 8) {
            a0 = _mm256_loadu_ps(r0 + 2 * k);
            a1 = _mm256_loadu_ps(r0 + 2 * k + 8);
            b0 = _mm256_loadu_ps(r1 + 2 * k);
            b1 = _mm256_loadu_ps(r1 + 2 * k + 8);
        } else {
            const __m256i mlo = mask8_i32(2 * m), mhi = mask8_i32(2 * m - 8);
            a0 = _mm256_maskload_ps(r0 + 2 * k, mlo);
            a1 = _mm256_maskload_ps(r0 + 2 * k + 8, mhi);
            b0 = _mm256_maskload_ps(r1 + 2 * k, mlo);
            b1 = _mm256_maskload_ps(r1 + 2 * k + 8, mhi);
        }
        /* even/odd split: shuffle within lanes, then put the 64-bit chunks in order */
        const __m256 x00 = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(a0, a1, 0x88)), 0xD8));
        const __m256 x01 = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(a0, a1, 0xDD)), 0xD8));
        const __m256 x10 = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(b0, b1, 0x88)), 0xD8));
        const __m256 x11 = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(b0, b1, 0xDD)), 0xD8));
        const __m256 m1 = pick_mask_ps(x00, x01), m2 = pick_mask_ps(x10, x11);
        const __m256 t = _mm256_blendv_ps(x00, x01, m1);
        const __m256 b = _mm256_blendv_ps(x10, x11, m2);
        const __m256 m3 = pick_mask_ps(t, b);
        const __m256 r = _mm256_blendv_ps(t, b, m3);
        if (m >= 8) _mm256_storeu_ps(y + k, r);
        else { /* through the stack: masked stores are slow on AMD cores */
            float t8[8];
            _mm256_storeu_ps(t8, r);
            for (int64_t l = 0; l < m; l++) y[k + l] = t8[l];
        }
        if (idx) {
            const __m256i ct = _mm256_and_si256(_mm256_castps_si256(m1), c1);
            const __m256i cb = _mm256_castps_si256(
                _mm256_blendv_ps(_mm256_castsi256_ps(c2), _mm256_castsi256_ps(c3), m2));
            const __m256i c = _mm256_castps_si256(
                _mm256_blendv_ps(_mm256_castsi256_ps(ct), _mm256_castsi256_ps(cb), m3));
            const __m256i clo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(c));
            const __m256i chi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(c, 1));
            const __m256i bv = _mm256_add_epi64(_mm256_set1_epi64x(base + 2 * k), iota2);
            __m256i ilo = _mm256_add_epi64(bv, _mm256_and_si256(clo, one64));
            __m256i ihi = _mm256_add_epi64(_mm256_add_epi64(bv, _mm256_set1_epi64x(8)),
                                           _mm256_and_si256(chi, one64));
            ilo = _mm256_add_epi64(
                ilo, _mm256_and_si256(_mm256_cmpeq_epi64(_mm256_and_si256(clo, two64), two64), wv));
            ihi = _mm256_add_epi64(
                ihi, _mm256_and_si256(_mm256_cmpeq_epi64(_mm256_and_si256(chi, two64), two64), wv));
            if (m >= 8) {
                _mm256_storeu_si256((__m256i *)(idx + k), ilo);
                _mm256_storeu_si256((__m256i *)(idx + k + 4), ihi);
            } else {
                int64_t t8[8];
                _mm256_storeu_si256((__m256i *)t8, ilo);
                _mm256_storeu_si256((__m256i *)(t8 + 4), ihi);
                for (int64_t l = 0; l < m; l++) idx[k + l] = t8[l];
            }
        }
    }
}

/* lanes j < m of a 4 x int64 mask are set */
FC_TARGET_AVX2
static inline __m256i mask4_i64(int64_t m) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(m), _mm256_setr_epi64x(0, 1, 2, 3));
}

FC_TARGET_AVX2
static void mp2_row_f64_avx2(const double *r0, const double *r1, int64_t W, int64_t n,
                             double *y, int64_t *idx, int64_t base) {
    const __m256i wv = _mm256_set1_epi64x(W);
    const __m256i iota2 = _mm256_setr_epi64x(0, 2, 4, 6);
    for (int64_t k0 = 0; k0 < n; k0 += 4) {
        /* as in the float32 row: an overlapping full last vector */
        const int64_t k = (n - k0 < 4 && n >= 4) ? n - 4 : k0;
        const int64_t m = n - k;
        __m256d a0, a1, b0, b1;
        if (m >= 4) {
            a0 = _mm256_loadu_pd(r0 + 2 * k);
            a1 = _mm256_loadu_pd(r0 + 2 * k + 4);
            b0 = _mm256_loadu_pd(r1 + 2 * k);
            b1 = _mm256_loadu_pd(r1 + 2 * k + 4);
        } else {
            const __m256i mlo = mask4_i64(2 * m), mhi = mask4_i64(2 * m - 4);
            a0 = _mm256_maskload_pd(r0 + 2 * k, mlo);
            a1 = _mm256_maskload_pd(r0 + 2 * k + 4, mhi);
            b0 = _mm256_maskload_pd(r1 + 2 * k, mlo);
            b1 = _mm256_maskload_pd(r1 + 2 * k + 4, mhi);
        }
        const __m256d x00 = _mm256_permute4x64_pd(_mm256_unpacklo_pd(a0, a1), 0xD8);
        const __m256d x01 = _mm256_permute4x64_pd(_mm256_unpackhi_pd(a0, a1), 0xD8);
        const __m256d x10 = _mm256_permute4x64_pd(_mm256_unpacklo_pd(b0, b1), 0xD8);
        const __m256d x11 = _mm256_permute4x64_pd(_mm256_unpackhi_pd(b0, b1), 0xD8);
        const __m256d m1 = pick_mask_pd(x00, x01), m2 = pick_mask_pd(x10, x11);
        const __m256d t = _mm256_blendv_pd(x00, x01, m1);
        const __m256d b = _mm256_blendv_pd(x10, x11, m2);
        const __m256d m3 = pick_mask_pd(t, b);
        const __m256d r = _mm256_blendv_pd(t, b, m3);
        if (m >= 4) _mm256_storeu_pd(y + k, r);
        else { /* through the stack, as in the float32 row */
            double t4[4];
            _mm256_storeu_pd(t4, r);
            for (int64_t l = 0; l < m; l++) y[k + l] = t4[l];
        }
        if (idx) {
            const __m256i i00 = _mm256_add_epi64(_mm256_set1_epi64x(base + 2 * k), iota2);
            const __m256i i10 = _mm256_add_epi64(i00, wv);
            const __m256i it = _mm256_sub_epi64(i00, _mm256_castpd_si256(m1)); /* +1 where m1 */
            const __m256i ib = _mm256_sub_epi64(i10, _mm256_castpd_si256(m2));
            const __m256i ir = _mm256_castpd_si256(
                _mm256_blendv_pd(_mm256_castsi256_pd(it), _mm256_castsi256_pd(ib), m3));
            if (m >= 4) _mm256_storeu_si256((__m256i *)(idx + k), ir);
            else {
                int64_t t4[4];
                _mm256_storeu_si256((__m256i *)t4, ir);
                for (int64_t l = 0; l < m; l++) idx[k + l] = t4[l];
            }
        }
    }
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
    mpg_row_fn_f32 rowg = mpg_row_scalar_f32;
#ifdef FC_POOL_X86
    const fc_isa isa = fc_current_isa();
#endif
    if (is_2x2s2(p)) {
        row2 = mp2_row_scalar_f32;
#ifdef FC_POOL_X86
        if (isa == FC_ISA_AVX512) row2 = mp2_row_f32_avx512;
        else if (isa == FC_ISA_AVX2) row2 = mp2_row_f32_avx2;
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
    max_pool_fwd_f32(p, x, y, idx, row2, rowg);
}

void fc_opt_max_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y,
                                   int64_t *idx) {
    check_params(p);
    mp2_row_fn_f64 row2 = NULL;
    mpg_row_fn_f64 rowg = mpg_row_scalar_f64;
#ifdef FC_POOL_X86
    const fc_isa isa = fc_current_isa();
#endif
    if (is_2x2s2(p)) {
        row2 = mp2_row_scalar_f64;
#ifdef FC_POOL_X86
        if (isa == FC_ISA_AVX512) row2 = mp2_row_f64_avx512;
        else if (isa == FC_ISA_AVX2) row2 = mp2_row_f64_avx2;
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
    max_pool_fwd_f64(p, x, y, idx, row2, rowg);
}
