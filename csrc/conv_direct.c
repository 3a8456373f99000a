/*
 * conv_direct.c -- the direct conv2d kernels of conv_direct_tmpl.h for every ISA path:
 *   fc_<dtype>_conv2d_direct_plane__<isa>  one output channel per group (Cout=1, depthwise);
 *   fc_<dtype>_conv2d_fewcin_3x3__<isa>    at most FC_FEWCIN_MAX input channels, 3x3 stride 1
 *                                          (vector paths), and _pool2 with relu and a 2x2
 *                                          max-pool, _dw_pool2 that block's weight and bias
 *                                          gradient;
 *   fc_<dtype>_conv2d_cin1_3x3_dw__<isa>   the weight and bias gradient with one input
 *                                          channel (vector paths);
 *   fc_<dtype>_conv2d_dw_rows__<isa>       stride-1 weight gradient as dot products along
 *                                          output rows, for short K (vector paths:
 *                                          AVX2, AVX-512, NEON).
 * The vector paths define FC_CD_LOADN / FC_CD_STOREN: the first n lanes of a vector, loaded
 * (the others zero) or stored, without touching memory past them.
 */
#include "conv_internal.h"
#include "vec_shuffle.h"

#define FC_CD_ISA scalar
#define FC_CD_T float
#define FC_CD_ESIZE 4
#define FC_CD_PFX fc_f32_conv2d_
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_ESIZE
#undef FC_CD_PFX
#define FC_CD_T double
#define FC_CD_ESIZE 8
#define FC_CD_PFX fc_f64_conv2d_
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_ESIZE
#undef FC_CD_PFX
#undef FC_CD_ISA

#ifdef FC_HAVE_X86_UKERNELS
#include <immintrin.h>
FC_TARGET_BEGIN(FC_TARGET_STR_AVX2)
static inline __m256i fc_cd_avx2_mask32(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline int fc_cd_load4(const uint8_t *p)
{
    int v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
static inline __m256i fc_cd_avx2_mask64(int64_t n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}
#define FC_CD_ISA avx2
#define FC_CD_T float
#define FC_CD_ESIZE 4
#define FC_CD_PFX fc_f32_conv2d_
#define FC_CD_VL 8
#define FC_CD_SET1(x) _mm256_set1_ps(x)
#define FC_CD_LOADN(p, n) _mm256_maskload_ps((p), fc_cd_avx2_mask32(n))
#define FC_CD_STOREN(p, n, v) _mm256_maskstore_ps((p), fc_cd_avx2_mask32(n), (__m256)(v))
#define FC_CD_LOADPOS(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_ESIZE
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#undef FC_CD_LOADN
#undef FC_CD_STOREN
#undef FC_CD_LOADPOS
#define FC_CD_T double
#define FC_CD_ESIZE 8
#define FC_CD_PFX fc_f64_conv2d_
#define FC_CD_VL 4
#define FC_CD_SET1(x) _mm256_set1_pd(x)
#define FC_CD_LOADN(p, n) _mm256_maskload_pd((p), fc_cd_avx2_mask64(n))
#define FC_CD_STOREN(p, n, v) _mm256_maskstore_pd((p), fc_cd_avx2_mask64(n), (__m256d)(v))
#define FC_CD_LOADPOS(p) _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(fc_cd_load4(p)))
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_ESIZE
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#undef FC_CD_LOADN
#undef FC_CD_STOREN
#undef FC_CD_LOADPOS
#undef FC_CD_ISA
FC_TARGET_END

FC_TARGET_BEGIN(FC_TARGET_STR_AVX512)
#define FC_CD_ISA avx512
#define FC_CD_T float
#define FC_CD_ESIZE 4
#define FC_CD_PFX fc_f32_conv2d_
#define FC_CD_VL 16
#define FC_CD_SET1(x) _mm512_set1_ps(x)
#define FC_CD_LOADN(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), (p))
#define FC_CD_STOREN(p, n, v) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (__m512)(v))
#define FC_CD_LOADPOS(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_ESIZE
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#undef FC_CD_LOADN
#undef FC_CD_STOREN
#undef FC_CD_LOADPOS
#define FC_CD_T double
#define FC_CD_ESIZE 8
#define FC_CD_PFX fc_f64_conv2d_
#define FC_CD_VL 8
#define FC_CD_SET1(x) _mm512_set1_pd(x)
#define FC_CD_LOADN(p, n) _mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), (p))
#define FC_CD_STOREN(p, n, v) _mm512_mask_storeu_pd((p), (__mmask8)((1u << (n)) - 1), (__m512d)(v))
#define FC_CD_LOADPOS(p) _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_ESIZE
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#undef FC_CD_LOADN
#undef FC_CD_STOREN
#undef FC_CD_LOADPOS
#undef FC_CD_ISA
FC_TARGET_END
#endif

#ifdef FC_ARM_NEON
/* NEON: Advanced SIMD is the aarch64 baseline, so no target region; the n-lane loads and
 * stores go through a 16-byte vector (there is no masked load). */
typedef float fc_cd_neon_v4f __attribute__((vector_size(16)));
typedef double fc_cd_neon_v2d __attribute__((vector_size(16)));
static inline fc_cd_neon_v4f fc_cd_neon_loadn_f32(const float *p, int64_t n)
{
    fc_cd_neon_v4f v = {0};
    __builtin_memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}
static inline void fc_cd_neon_storen_f32(float *p, int64_t n, fc_cd_neon_v4f v)
{
    __builtin_memcpy(p, &v, (size_t)n * sizeof(float));
}
static inline fc_cd_neon_v2d fc_cd_neon_loadn_f64(const double *p, int64_t n)
{
    fc_cd_neon_v2d v = {0};
    __builtin_memcpy(&v, p, (size_t)n * sizeof(double));
    return v;
}
static inline void fc_cd_neon_storen_f64(double *p, int64_t n, fc_cd_neon_v2d v)
{
    __builtin_memcpy(p, &v, (size_t)n * sizeof(double));
}
#define FC_CD_ISA neon
#define FC_CD_T float
#define FC_CD_ESIZE 4
#define FC_CD_PFX fc_f32_conv2d_
#define FC_CD_VL 4
#define FC_CD_SET1(x) ((fc_cd_neon_v4f){0} + (float)(x))
#define FC_CD_LOADN(p, n) fc_cd_neon_loadn_f32((p), (n))
#define FC_CD_STOREN(p, n, v) fc_cd_neon_storen_f32((p), (n), (v))
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_ESIZE
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#undef FC_CD_LOADN
#undef FC_CD_STOREN
#undef FC_CD_LOADPOS
#define FC_CD_T double
#define FC_CD_ESIZE 8
#define FC_CD_PFX fc_f64_conv2d_
#define FC_CD_VL 2
#define FC_CD_SET1(x) ((fc_cd_neon_v2d){0} + (double)(x))
#define FC_CD_LOADN(p, n) fc_cd_neon_loadn_f64((p), (n))
#define FC_CD_STOREN(p, n, v) fc_cd_neon_storen_f64((p), (n), (v))
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_ESIZE
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#undef FC_CD_LOADN
#undef FC_CD_STOREN
#undef FC_CD_LOADPOS
#undef FC_CD_ISA
#endif
