/*
 * gemm.c -- the packed GEMM engine (see gemm_internal.h), its per-ISA blocking, and the
 * per-thread scratch buffers shared with linear and conv2d.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "gemm_internal.h"

/* Packing and im2col copy short rows: keep those loops inline instead of turning them into
 * memcpy/memset calls, whose call overhead dominated for rows of a few dozen values. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

/* ------------------------------------------------------------------------------------ */
/* Per-thread scratch                                                                    */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    void *buf[FC_SCRATCH_SLOTS];
    size_t cap[FC_SCRATCH_SLOTS];
} fc_scratch_set;

#if defined(_WIN32)
static __declspec(thread) fc_scratch_set *tls_scratch = NULL;
static void scratch_register(fc_scratch_set *s) { (void)s; /* kept until process exit */ }
#else
#include <pthread.h>
static __thread fc_scratch_set *tls_scratch = NULL;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    fc_scratch_set *s = (fc_scratch_set *)p;
    for (int i = 0; i < FC_SCRATCH_SLOTS; i++) free(s->buf[i]);
    free(s);
}
static void scratch_make_key(void) { (void)pthread_key_create(&scratch_key, scratch_destroy); }
static void scratch_register(fc_scratch_set *s)
{
    (void)pthread_once(&scratch_once, scratch_make_key);
    (void)pthread_setspecific(scratch_key, s);
}
#endif

void *fc_scratch(int slot, size_t bytes)
{
    assert(slot >= 0 && slot < FC_SCRATCH_SLOTS);
    fc_scratch_set *s = tls_scratch;
    if (s == NULL) {
        s = (fc_scratch_set *)calloc(1, sizeof *s);
        if (s == NULL) return NULL;
        tls_scratch = s;
        scratch_register(s);
    }
    if (bytes == 0) bytes = 64;
    if (s->cap[slot] < bytes) {
        size_t cap = (bytes + 65535) & ~(size_t)65535;
        void *p = NULL;
#if defined(_WIN32)
        p = _aligned_malloc(cap, 64);
        if (s->buf[slot]) _aligned_free(s->buf[slot]);
#else
        if (posix_memalign(&p, 64, cap) != 0) p = NULL;
        free(s->buf[slot]);
#endif
        s->buf[slot] = p;
        s->cap[slot] = p ? cap : 0;
    }
    return s->buf[slot];
}

/* ------------------------------------------------------------------------------------ */
/* Blocking per ISA path                                                                 */
/* ------------------------------------------------------------------------------------ */
/* kc keeps a kc x nr micro-panel of B within L1 while mc x kc of A sits in L2.  It also sets
 * how often C is read and written again (k / kc times): for float64, kc 128 made a 2048^2
 * product stream its 32 MiB C from memory 16 times; 256 (a 32 KiB B micro-panel) halves
 * that. */

#ifndef FC_GEMM_KC_F32
#define FC_GEMM_KC_F32 256
#endif
#ifndef FC_GEMM_KC_F64
#define FC_GEMM_KC_F64 256
#endif
#ifndef FC_GEMM_MC
#define FC_GEMM_MC 192
#endif
#ifndef FC_GEMM_NC
#define FC_GEMM_NC 2048
#endif

static const fc_gemm_config cfg_f32_scalar = {4, 16, FC_GEMM_KC_F32, 128, 1024,
                                              (void *)fc_f32_gemm_ukernel_4x16__scalar, NULL, NULL};
static const fc_gemm_config cfg_f64_scalar = {4, 8, FC_GEMM_KC_F64, 128, 1024,
                                              (void *)fc_f64_gemm_ukernel_4x8__scalar, NULL, NULL};
#ifdef FC_HAVE_X86_UKERNELS
static const fc_gemm_config cfg_f32_avx2 = {6, 16, FC_GEMM_KC_F32, FC_GEMM_MC, FC_GEMM_NC,
                                            (void *)fc_f32_gemm_ukernel_6x16__avx2,
    (void *)fc_f32_igemm_ukernel_6x16__avx2,
    (void *)fc_f32_gemm_dot__avx2};
static const fc_gemm_config cfg_f64_avx2 = {6, 8, FC_GEMM_KC_F64, FC_GEMM_MC, FC_GEMM_NC / 2,
                                            (void *)fc_f64_gemm_ukernel_6x8__avx2,
    (void *)fc_f64_igemm_ukernel_6x8__avx2,
    (void *)fc_f64_gemm_dot__avx2};
static const fc_gemm_config cfg_f32_avx512 = {8, 32, FC_GEMM_KC_F32, FC_GEMM_MC, FC_GEMM_NC,
                                              (void *)fc_f32_gemm_ukernel_8x32__avx512,
    (void *)fc_f32_igemm_ukernel_8x32__avx512,
    (void *)fc_f32_gemm_dot__avx512};
static const fc_gemm_config cfg_f64_avx512 = {8, 16, FC_GEMM_KC_F64, FC_GEMM_MC,
                                              FC_GEMM_NC / 2,
                                              (void *)fc_f64_gemm_ukernel_8x16__avx512,
    (void *)fc_f64_igemm_ukernel_8x16__avx512,
    (void *)fc_f64_gemm_dot__avx512};
#endif

const fc_gemm_config *fc_gemm_config_f32(fc_isa isa)
{
#ifdef FC_HAVE_X86_UKERNELS
    if (isa == FC_ISA_AVX512) return &cfg_f32_avx512;
    if (isa == FC_ISA_AVX2) return &cfg_f32_avx2;
#endif
    (void)isa;
    return &cfg_f32_scalar;
}

const fc_gemm_config *fc_gemm_config_f64(fc_isa isa)
{
#ifdef FC_HAVE_X86_UKERNELS
    if (isa == FC_ISA_AVX512) return &cfg_f64_avx512;
    if (isa == FC_ISA_AVX2) return &cfg_f64_avx2;
#endif
    (void)isa;
    return &cfg_f64_scalar;
}

/* ------------------------------------------------------------------------------------ */
/* Engine, both dtypes                                                                   */
/* ------------------------------------------------------------------------------------ */

#define FC_T float
#define FC_T_IS_FLOAT 1
#define FC_SFX f32
#include "gemm_driver_tmpl.h"
#undef FC_T
#undef FC_T_IS_FLOAT
#undef FC_SFX

#define FC_T double
#define FC_SFX f64
#include "gemm_driver_tmpl.h"
#undef FC_T
#undef FC_SFX

void fc_opt_gemm_f32(fc_isa isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc)
{
    fc_gemm_engine_f32(isa, fc_threads_for_region(), trans_a, trans_b, m, n, k, alpha, a, lda,
                       b, ldb, beta, c, ldc, 1, NULL, NULL);
}

void fc_opt_gemm_f64(fc_isa isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                     double beta, double *c, int64_t ldc)
{
    fc_gemm_engine_f64(isa, fc_threads_for_region(), trans_a, trans_b, m, n, k, alpha, a, lda,
                       b, ldb, beta, c, ldc, 1, NULL, NULL);
}
