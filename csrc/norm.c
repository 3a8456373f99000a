/*
 * norm.c -- optimised batch / layer / group normalisation, dropout, sigmoid, tanh and
 * leaky_relu, forward and backward.
 *
 * The inner loops (norm_kern_tmpl.h) are portable C compiled three times per dtype --
 * baseline x86-64 / portable, AVX2+FMA, AVX-512 -- with per-function target attributes, as
 * in elementwise.c, and picked from fc_current_isa().  The drivers (norm_drv_tmpl.h) are
 * written once per dtype.
 *
 * Batch norm, long planes (hw >= NORM_PLANE_MIN): one pass over the planes in memory order
 * sums x - x[0, ch, 0] (x itself if that is not finite) and its square per channel (lanes in
 * the input's type over blocks of NB values, blocks in double; per-thread partial sums), a
 * second pass writes y: x is read
 * twice, and both passes stream through memory.  The backward reads gy and x once for the two
 * sums and once for gx.  Short planes ((N, C) input) use per-column sums over the rows
 * instead, so the loops still run along contiguous memory; their threads split the channels.
 *
 * Layer and group norm: one row (sample, or sample and group) per task; the weight and bias
 * gradients are summed in per-thread buffers.  Dropout draws its mask from the counter-based
 * hash of internal.h, so the mask depends only on (seed, index).  sigmoid and tanh use
 * vectorisable polynomial exp / tanh for float32 (below) and libm's exp / tanh for float64.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "norm_internal.h"

/* Below this many elements touched, a call runs on the calling thread. */
#define NORM_PAR_MIN ((int64_t)1 << 16)
/* Batch-norm planes at least this long are summed plane by plane; shorter ones by column. */
#define NORM_PLANE_MIN 16
/* Lanes of the double reduction accumulators; values per block of the FT ones. */
#define NL 8
#define NB 1024

#ifdef _OPENMP
#define NORM_OMP_FOR(nt) FC_PRAGMA(omp parallel for schedule(static) num_threads(nt) if (nt > 1))
#define NORM_PARALLEL(nt) FC_PRAGMA(omp parallel num_threads(nt) if (nt > 1))
#define NORM_TID() omp_get_thread_num()
#define NORM_NT() omp_get_num_threads()
#else
#define NORM_OMP_FOR(nt)
#define NORM_PARALLEL(nt)
#define NORM_TID() 0
#define NORM_NT() 1
#endif

static int norm_threads(int64_t work) {
    if (work < NORM_PAR_MIN) return 1;
    return fc_threads_for_region();
}

/* Contiguous chunk [*lo, *hi) of thread t of nt, cut on 64-element boundaries. */
static void norm_chunk(int64_t n, int t, int nt, int64_t *lo, int64_t *hi) {
    const int64_t blocks = (n + 63) / 64;
    *lo = FC_MIN(blocks * t / nt * 64, n);
    *hi = FC_MIN(blocks * (t + 1) / nt * 64, n);
}

/* Sums the nt per-thread buffers of 2 * len doubles into the first one. */
static void norm_reduce_parts(double *part, int nt, int64_t len) {
    for (int t = 1; t < nt; t++)
        for (int64_t j = 0; j < 2 * len; j++) part[j] += part[(int64_t)t * 2 * len + j];
}

#define NK_TABLE_TYPE(FT, SFX)                                                                \
    typedef struct {                                                                        \
        void (*sums)(int64_t, const FT *, double, double *, double *);                      \
        void (*col_sums)(int64_t, const FT *, const double *, double *, double *);          \
        void (*apply)(int64_t, const FT *, FT, FT, FT, FT *);                               \
        void (*col_apply)(int64_t, const FT *, const FT *, const FT *, const FT *, FT *);   \
        void (*dsums)(int64_t, const FT *, const FT *, FT, double *, double *);             \
        void (*col_dsums)(int64_t, const FT *, const FT *, const FT *, double *, double *); \
        void (*bwd_apply)(int64_t, const FT *, const FT *, FT, FT, FT, FT, FT, FT *);       \
        void (*col_bwd_apply)(int64_t, const FT *, const FT *, const FT *, const FT *,      \
                              const FT *, const FT *, FT *);                                \
        void (*ln_apply)(int64_t, const FT *, FT, FT, const FT *, const FT *, FT *);        \
        void (*ln_bwd_sums)(int64_t, const FT *, const FT *, const FT *, FT, FT, double *,  \
                            double *, double *, double *);                                  \
        void (*ln_bwd_apply)(int64_t, const FT *, const FT *, const FT *, FT, FT, FT, FT,   \
                             FT *);                                                         \
        void (*dropout_fwd)(int64_t, int64_t, const FT *, uint64_t, uint32_t, FT, FT *,     \
                            uint8_t *);                                                     \
        void (*dropout_bwd)(int64_t, const FT *, const uint8_t *, FT, FT *);                \
        void (*sigmoid_fwd)(int64_t, const FT *, FT *);                                     \
        void (*sigmoid_bwd)(int64_t, const FT *, const FT *, FT *);                         \
        void (*tanh_fwd)(int64_t, const FT *, FT *);                                        \
        void (*tanh_bwd)(int64_t, const FT *, const FT *, FT *);                            \
        void (*leaky_fwd)(int64_t, const FT *, FT, FT *);                                   \
        void (*leaky_bwd)(int64_t, const FT *, const FT *, FT, FT *);                       \
    } norm_kernels_##SFX;

NK_TABLE_TYPE(float, f32)
NK_TABLE_TYPE(double, f64)

#ifdef FC_X86_SIMD
#define NORM_X86 1
#define NORM_AVX2 FC_TARGET_AVX2
#if defined(__clang__)
#define NORM_AVX512 FC_TARGET_AVX512
#else /* GCC: also ask for 512-bit vectors, not just the AVX-512 instructions */
#define NORM_AVX512 __attribute__((target("avx512f,avx2,fma,prefer-vector-width=512")))
#endif
#endif

/* float32 exp and tanh as loops the compiler can vectorise (libm's expf / tanhf are calls):
 * Cephes' polynomials, accurate to about 2 float32 ulps.  exp: x = n ln2 + r, |r| <= ln2 / 2,
 * exp(r) by a degree-6 polynomial, 2^n built in the exponent bits; the argument is clamped so
 * that 2^n stays a normal number (exp(x) for x > 88.37 is then 2.4e38, not inf: sigmoid and
 * tanh only divide by it).  NaN propagates through the polynomial. */
static inline float norm_expf(float x) {
    const float hi = 88.37626f, lo = -87.33654f;
    x = x > hi ? hi : x;
    x = x < lo ? lo : x;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + magic) - magic;
    n = n == n ? n : 0.0f; /* NaN: keep the integer conversion defined */
    const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * (r * r) + r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh: an odd polynomial for |x| < 0.625, else sign(x) * (1 - 2 / (exp(2|x|) + 1)). */
static inline float norm_tanhf(float x) {
    const float ax = x < 0.0f ? -x : x;
    const float big = 1.0f - 2.0f / (norm_expf(2.0f * ax) + 1.0f);
    const float z = x * x;
    float p = -5.70498872745E-3f;
    p = p * z + 2.06390887954E-2f;
    p = p * z - 5.37397155531E-2f;
    p = p * z + 1.33314422036E-1f;
    p = p * z - 3.33332819422E-1f;
    const float small = p * z * x + x;
    const float t = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : t;
}

/* GNU vector types (GCC, Clang) for the blocked reductions; elsewhere plain loops. */
#if defined(__GNUC__)
#define NORM_VEC 1
typedef float norm_vec_f32 __attribute__((vector_size(32)));
typedef double norm_vec_f64 __attribute__((vector_size(32)));
#endif

/* ---- float and double; norm_drv_tmpl.h instantiates each dtype's kernels per ISA ---- */
#define FT float
#define VEC norm_vec_f32
#define SFX f32
#define NK_TYPE norm_kernels_f32
#define FT_EXP norm_expf
#define FT_TANH norm_tanhf
#include "norm_drv_tmpl.h"
#undef FT
#undef VEC
#undef SFX
#undef NK_TYPE
#undef FT_EXP
#undef FT_TANH

#define FT double
#define VEC norm_vec_f64
#define SFX f64
#define NK_TYPE norm_kernels_f64
#define FT_EXP exp
#define FT_TANH tanh
#include "norm_drv_tmpl.h"
#undef FT
#undef VEC
#undef SFX
#undef NK_TYPE
#undef FT_EXP
#undef FT_TANH
