/*
 * gemm.c -- the packed GEMM engine (see gemm_internal.h), its per-ISA blocking, and the
 * per-thread scratch buffers shared with linear and conv2d.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200112L /* posix_memalign under -std=c11 */
#endif
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
    uint64_t tag[FC_SCRATCH_SLOTS]; /* the owner's word about the contents; 0 when (re)allocated */
} fc_scratch_set;

#if defined(_WIN32)
#if defined(_MSC_VER)
static __declspec(thread) fc_scratch_set *tls_scratch = NULL;
#else /* MinGW GCC ignores __declspec(thread): the variable would be shared by all threads */
static _Thread_local fc_scratch_set *tls_scratch = NULL;
#endif
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
        s->tag[slot] = 0;
    }
    return s->buf[slot];
}

uint64_t *fc_scratch_tag(int slot)
{
    assert(slot >= 0 && slot < FC_SCRATCH_SLOTS && tls_scratch != NULL);
    return &tls_scratch->tag[slot];
}

/* ------------------------------------------------------------------------------------ */
/* Blocking per ISA path, derived from the cache sizes                                   */
/* ------------------------------------------------------------------------------------ */
/* The analytical model of BLIS (Low et al., "Analytical modeling is enough for high
 * performance BLIS", 2016), simplified:
 *   kc: a kc x nr micro-panel of B fills half of L1, the other half streaming the A
 *       micro-panels and the C tile; kc also sets how often C is read and written again
 *       (k / kc times), so it stays within [128, 512]. With an L2 of 2 MiB or more per core
 *       (Intel's Sapphire and Emerald Rapids) kc is 512: the B micro-panel streams from that
 *       L2 fast enough, and on an Emerald Rapids core kc 512 ran square GEMMs of 1024-2048
 *       5-10% faster than the half-L1 kc of 192, float32 and float64, 1 and 2 threads;
 *   mc: an mc x kc block of packed A fills half of L2;
 *   nc: a kc x nc block of packed B fills half of this core's share of the last-level cache
 *       (the caches are shared by fc_get_num_threads() cores at most), at most 4096 columns.
 * Each is rounded down to its tile (mr, nr) or to 8 for kc. */

typedef struct {
    int mr, nr;
    void *ukernel, *iukernel, *dot;
    const char *name;
} fc_ukernel_choice;

static void derive_blocking(fc_gemm_config *cfg, const fc_ukernel_choice *uk, int dtype_size,
                            const int64_t caches[3])
{
    const int64_t S = dtype_size, mr = uk->mr, nr = uk->nr;
    int64_t kc = FC_MIN((int64_t)512, caches[0] / 2 / (nr * S));
    kc = FC_MAX((int64_t)128, kc - kc % 8);
    if (caches[1] >= ((int64_t)2 << 20)) kc = 512;
    int64_t mc = FC_MIN((int64_t)1024, caches[1] / 2 / (kc * S));
    mc = FC_MAX(4 * mr, mc - mc % mr);
    const int64_t llc = caches[2] > 0 ? caches[2] : caches[1];
    int64_t nc = FC_MIN((int64_t)4096, llc / 2 / (kc * S));
    nc = FC_MAX(4 * nr, nc - nc % nr);
    cfg->mr = (int)mr;
    cfg->nr = (int)nr;
    cfg->kc = kc;
    cfg->mc = mc;
    cfg->nc = nc;
    cfg->ukernel = uk->ukernel;
    cfg->iukernel = uk->iukernel;
    cfg->dot = uk->dot;
    cfg->name = uk->name;
}

#define FC_UK(T, MRxNR, ISA, MR, NR, HAS_I)                                                 \
    {MR, NR, (void *)fc_##T##_gemm_ukernel_##MRxNR##__##ISA,                                 \
     HAS_I ? (void *)fc_##T##_igemm_ukernel_##MRxNR##__##ISA : NULL,                         \
     HAS_I ? (void *)fc_##T##_gemm_dot__##ISA : NULL, "fc_" #T "_gemm_ukernel_" #MRxNR "__" #ISA}

/* The microkernel of each path (indexed by fc_isa; the reference path uses the scalar one). */
static fc_ukernel_choice uk_f32[FC_ISA_COUNT], uk_f64[FC_ISA_COUNT];

static void choose_ukernels(void)
{
    const fc_ukernel_choice s32 = {4, 16, (void *)fc_f32_gemm_ukernel_4x16__scalar, NULL, NULL,
                                   "fc_f32_gemm_ukernel_4x16__scalar"};
    const fc_ukernel_choice s64 = {4, 8, (void *)fc_f64_gemm_ukernel_4x8__scalar, NULL, NULL,
                                   "fc_f64_gemm_ukernel_4x8__scalar"};
    for (int i = 0; i < FC_ISA_COUNT; i++) {
        uk_f32[i] = s32;
        uk_f64[i] = s64;
    }
#ifdef FC_HAVE_X86_UKERNELS
    const fc_ukernel_choice a32 = FC_UK(f32, 6x16, avx2, 6, 16, 1);
    const fc_ukernel_choice a64 = FC_UK(f64, 6x8, avx2, 6, 8, 1);
    const fc_ukernel_choice z32 = FC_UK(f32, 8x32, avx512, 8, 32, 1);
    const fc_ukernel_choice z64 = FC_UK(f64, 8x16, avx512, 8, 16, 1);
    uk_f32[FC_ISA_AVX2] = a32;
    uk_f64[FC_ISA_AVX2] = a64;
    uk_f32[FC_ISA_AVX512] = z32;
    uk_f64[FC_ISA_AVX512] = z64;
#endif
#ifdef FC_ARM_NEON
    const fc_ukernel_choice n32 = FC_UK(f32, 6x16, neon, 6, 16, 1);
    const fc_ukernel_choice n64 = FC_UK(f64, 6x8, neon, 6, 8, 1);
    uk_f32[FC_ISA_NEON] = n32;
    uk_f64[FC_ISA_NEON] = n64;
#endif
}

static fc_gemm_config cfg_f32[FC_ISA_COUNT], cfg_f64[FC_ISA_COUNT];
static int g_cfg_state = 0; /* 0 not derived, 1 deriving, 2 ready */

void fc_gemm_reconfigure(void)
{
    int64_t caches[3];
    (void)fc_cache_sizes(caches);
    choose_ukernels();
    for (int i = 0; i < FC_ISA_COUNT; i++) {
        derive_blocking(&cfg_f32[i], &uk_f32[i], 4, caches);
        derive_blocking(&cfg_f64[i], &uk_f64[i], 8, caches);
    }
    __atomic_store_n(&g_cfg_state, 2, __ATOMIC_RELEASE);
}

static void config_ready(void)
{
    if (__atomic_load_n(&g_cfg_state, __ATOMIC_ACQUIRE) == 2) return;
    int expected = 0;
    if (__atomic_compare_exchange_n(&g_cfg_state, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        fc_gemm_reconfigure();
        return;
    }
    while (__atomic_load_n(&g_cfg_state, __ATOMIC_ACQUIRE) != 2) {
    } /* another thread is deriving it (microseconds) */
}

static int config_index(fc_isa isa)
{
    return (isa >= FC_ISA_REFERENCE && isa < FC_ISA_COUNT) ? (int)isa : FC_ISA_SCALAR;
}

const fc_gemm_config *fc_gemm_config_f32(fc_isa isa)
{
    config_ready();
    return &cfg_f32[config_index(isa)];
}

const fc_gemm_config *fc_gemm_config_f64(fc_isa isa)
{
    config_ready();
    return &cfg_f64[config_index(isa)];
}

int fc_get_gemm_blocking(const char *isa_name, int dtype_size, fc_gemm_blocking *out)
{
    int isa = (isa_name == NULL || isa_name[0] == 0) ? (int)fc_current_isa()
                                                     : fc_isa_index(isa_name);
    if (isa < 0 || (dtype_size != 4 && dtype_size != 8)) return -1;
    if (isa_name && isa_name[0] && !fc_isa_supported(isa_name)) return -1;
    const fc_gemm_config *c = dtype_size == 4 ? fc_gemm_config_f32((fc_isa)isa)
                                              : fc_gemm_config_f64((fc_isa)isa);
    out->mr = c->mr;
    out->nr = c->nr;
    out->kc = c->kc;
    out->mc = c->mc;
    out->nc = c->nc;
    out->ukernel = c->name;
    return 0;
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
