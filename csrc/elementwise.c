/*
 * elementwise.c -- optimised relu forward and backward, and the SGD update.
 *
 * The loops are written so that the compiler vectorises them; they are compiled once per
 * path (baseline x86-64 / portable, AVX2, AVX-512 on x86-64; NEON on aarch64, where it is
 * the baseline) and picked from fc_current_isa().
 * Large arrays are split into contiguous chunks over the OpenMP threads.
 *
 * relu: y = x < 0 ? 0 : x, so NaN stays NaN.  Backward: gx = y <= 0 ? 0 : gy, so a NaN
 * output passes its gradient, as in PyTorch.
 */
#include <assert.h>

#include "pool_loss.h"

/* Below this many elements, a call runs on the calling thread. */
#define ELT_PAR_MIN ((int64_t)1 << 17)

#define RELU_FWD_BODY(FT)                                                                 \
    for (int64_t i = 0; i < n; i++) {                                                    \
        const FT v = x[i];                                                               \
        y[i] = v < (FT)0 ? (FT)0 : v;                                                    \
    }
#define RELU_BWD_BODY(FT)                                                                 \
    for (int64_t i = 0; i < n; i++) {                                                    \
        const FT g = gy[i];                                                              \
        gx[i] = y[i] <= (FT)0 ? (FT)0 : g;                                               \
    }

/* The SGD update p -= (FT)lr * g with the product rounded first: no fused multiply-add,
 * whatever the path (the build contracts a * b + c where it can, -ffp-contract=fast). */
#if defined(__clang__)
#define SGD_NO_CONTRACT _Pragma("clang fp contract(off)")
#define SGD_ATTR(ATTR) ATTR
#else
#define SGD_NO_CONTRACT
#define SGD_ATTR(ATTR) ATTR __attribute__((optimize("fp-contract=off")))
#endif
#define DEFINE_SGD(SFX, FT, ATTR, ISA)                                                    \
    SGD_ATTR(ATTR) static void sgd_update_##SFX##_##ISA(int64_t n, FT *restrict p,        \
                                                         const FT *restrict g, FT l) {    \
        SGD_NO_CONTRACT                                                                   \
        for (int64_t i = 0; i < n; i++) p[i] = p[i] - l * g[i];                          \
    }

#define DEFINE_RELU(SFX, FT, ATTR, ISA)                                                   \
    ATTR static void relu_fwd_##SFX##_##ISA(int64_t n, const FT *restrict x,              \
                                             FT *restrict y) {                            \
        RELU_FWD_BODY(FT)                                                                 \
    }                                                                                     \
    ATTR static void relu_bwd_##SFX##_##ISA(int64_t n, const FT *restrict gy,             \
                                             const FT *restrict y, FT *restrict gx) {     \
        RELU_BWD_BODY(FT)                                                                 \
    }

DEFINE_RELU(f32, float, , scalar)
DEFINE_RELU(f64, double, , scalar)
DEFINE_SGD(f32, float, , scalar)
DEFINE_SGD(f64, double, , scalar)
#ifdef FC_X86_SIMD
#define ELT_X86 1
DEFINE_RELU(f32, float, FC_TARGET_AVX2, avx2)
DEFINE_RELU(f64, double, FC_TARGET_AVX2, avx2)
DEFINE_SGD(f32, float, FC_TARGET_AVX2, avx2)
DEFINE_SGD(f64, double, FC_TARGET_AVX2, avx2)
#if defined(__clang__)
#define ELT_AVX512 FC_TARGET_AVX512
#else /* GCC: also ask for 512-bit vectors, not just the AVX-512 instructions */
#define ELT_AVX512 __attribute__((target("avx512f,avx2,fma,prefer-vector-width=512")))
#endif
DEFINE_RELU(f32, float, ELT_AVX512, avx512)
DEFINE_RELU(f64, double, ELT_AVX512, avx512)
DEFINE_SGD(f32, float, ELT_AVX512, avx512)
DEFINE_SGD(f64, double, ELT_AVX512, avx512)
#endif
#ifdef FC_ARM_NEON
DEFINE_RELU(f32, float, , neon)
DEFINE_RELU(f64, double, , neon)
DEFINE_SGD(f32, float, , neon)
DEFINE_SGD(f64, double, , neon)
#endif

static int elt_threads(int64_t n) {
    if (n < ELT_PAR_MIN) return 1;
    return fc_threads_for_region();
}

/* Contiguous chunk [*lo, *hi) of thread t of nt, cut on 64-element boundaries. */
static void chunk(int64_t n, int t, int nt, int64_t *lo, int64_t *hi) {
    const int64_t blocks = (n + 63) / 64;
    const int64_t b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
    *lo = FC_MIN(b0 * 64, n);
    *hi = FC_MIN(b1 * 64, n);
}

#ifdef ELT_X86
#define PICK(name, SFX)                                                                   \
    (fc_current_isa() == FC_ISA_AVX512 ? name##_##SFX##_avx512                           \
     : fc_current_isa() == FC_ISA_AVX2 ? name##_##SFX##_avx2                             \
                                       : name##_##SFX##_scalar)
#elif defined(FC_ARM_NEON)
#define PICK(name, SFX)                                                                   \
    (fc_current_isa() == FC_ISA_NEON ? name##_##SFX##_neon : name##_##SFX##_scalar)
#else
#define PICK(name, SFX) name##_##SFX##_scalar
#endif

#ifdef _OPENMP
#define ELT_PARALLEL(nt) FC_PRAGMA(omp parallel num_threads(nt))
#define ELT_TID() omp_get_thread_num()
#define ELT_NT() omp_get_num_threads()
#else
#define ELT_PARALLEL(nt)
#define ELT_TID() 0
#define ELT_NT() 1
#endif

#define DEFINE_RELU_ENTRY(SFX, FT)                                                        \
    void fc_opt_relu_forward_##SFX(int64_t size, const FT *x, FT *y) {                   \
        assert(size >= 0);                                                               \
        void (*fn)(int64_t, const FT *, FT *) = PICK(relu_fwd, SFX);                     \
        const int nt = elt_threads(size);                                                \
        if (nt <= 1) {                                                                   \
            fn(size, x, y);                                                              \
            return;                                                                      \
        }                                                                                \
        ELT_PARALLEL(nt) {                                                               \
            int64_t lo, hi;                                                              \
            chunk(size, ELT_TID(), ELT_NT(), &lo, &hi);                                  \
            if (hi > lo) fn(hi - lo, x + lo, y + lo);                                    \
        }                                                                                \
    }                                                                                    \
    void fc_opt_relu_backward_##SFX(int64_t size, const FT *gy, const FT *y, FT *gx) {   \
        assert(size >= 0);                                                               \
        void (*fn)(int64_t, const FT *, const FT *, FT *) = PICK(relu_bwd, SFX);         \
        const int nt = elt_threads(size);                                                \
        if (nt <= 1) {                                                                   \
            fn(size, gy, y, gx);                                                         \
            return;                                                                      \
        }                                                                                \
        ELT_PARALLEL(nt) {                                                               \
            int64_t lo, hi;                                                              \
            chunk(size, ELT_TID(), ELT_NT(), &lo, &hi);                                  \
            if (hi > lo) fn(hi - lo, gy + lo, y + lo, gx + lo);                          \
        }                                                                                \
    }

DEFINE_RELU_ENTRY(f32, float)
DEFINE_RELU_ENTRY(f64, double)

#define DEFINE_SGD_ENTRY(SFX, FT)                                                         \
    void fc_opt_sgd_update_##SFX(int64_t size, FT *p, const FT *g, double lr) {          \
        assert(size >= 0);                                                               \
        void (*fn)(int64_t, FT *, const FT *, FT) = PICK(sgd_update, SFX);               \
        const FT l = (FT)lr;                                                             \
        const int nt = elt_threads(size);                                                \
        if (nt <= 1) {                                                                   \
            fn(size, p, g, l);                                                           \
            return;                                                                      \
        }                                                                                \
        ELT_PARALLEL(nt) {                                                               \
            int64_t lo, hi;                                                              \
            chunk(size, ELT_TID(), ELT_NT(), &lo, &hi);                                  \
            if (hi > lo) fn(hi - lo, p + lo, g + lo, l);                                 \
        }                                                                                \
    }

DEFINE_SGD_ENTRY(f32, float)
DEFINE_SGD_ENTRY(f64, double)
