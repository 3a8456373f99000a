/*
 * internal.h -- shared by the C sources of fastconv; not part of the public API.
 */
#ifndef FASTCONV_INTERNAL_H
#define FASTCONV_INTERNAL_H

#include "fastconv.h"

/* Instruction-set levels, in increasing order of capability. */
typedef enum {
    FC_ISA_REFERENCE = 0,
    FC_ISA_SCALAR = 1,
    FC_ISA_AVX2 = 2,
    FC_ISA_AVX512 = 3,
    FC_ISA_NEON = 4 /* aarch64 (Advanced SIMD, always present there) */
} fc_isa;
/* Number of fc_isa values (sizes the per-path tables). */
#define FC_ISA_COUNT 5

/* The path every public entry point dispatches on (set once at load, or by fc_set_isa). */
fc_isa fc_current_isa(void);
/* The fc_isa value of a path name, or -1 for an unknown name. */
int fc_isa_index(const char *name);

/* The Winograd mode of fc_set_conv_winograd (0 never, 1 cost model, 2 whenever it applies). */
int fc_conv_winograd_mode(void);

/* Number of threads a parallel region should use right now: fc_get_num_threads() when
 * called from outside a parallel region, else 1 (no nested parallelism); always 1 in a
 * build without OpenMP. */
int fc_threads_for_region(void);

/* OpenMP helpers that compile away without OpenMP. */
#ifdef _OPENMP
#include <omp.h>
#define FC_THREAD_ID() omp_get_thread_num()
#define FC_NUM_THREADS_IN_REGION() omp_get_num_threads()
#else
#define FC_THREAD_ID() 0
#define FC_NUM_THREADS_IN_REGION() 1
#endif

#define FC_PRAGMA(x) _Pragma(#x)
/* FC_PRAGMA after macro expansion of its argument. */
#define FC_PRAGMA_X(x) FC_PRAGMA(x)

/*
 * x86 SIMD paths.  FC_X86_SIMD is defined when the AVX2 and AVX-512 kernels are compiled in:
 * on x86-64 with GCC or Clang (both accept per-function targets, so the file itself is built
 * for the baseline ISA and each kernel for its own).  Elsewhere (other CPUs, MSVC) only the
 * portable paths exist, and fc_isa_compiled() says so.
 *
 * Per-ISA code goes between FC_TARGET_BEGIN("avx2,fma") and FC_TARGET_END: every function
 * defined there is compiled for that target.  GCC gets `#pragma GCC push_options / target`,
 * Clang `#pragma clang attribute push(__attribute__((target(...))), apply_to = function)`.
 * Include <immintrin.h> before the region (the intrinsics carry their own targets).  For a
 * single function, FC_TARGET_AVX2 / FC_TARGET_AVX512 are the same targets as attributes.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define FC_X86_SIMD 1
#define FC_TARGET_STR_AVX2 "avx2,fma"
#define FC_TARGET_STR_AVX512 "avx512f,avx2,fma"
#define FC_TARGET_AVX2 __attribute__((target(FC_TARGET_STR_AVX2)))
#define FC_TARGET_AVX512 __attribute__((target(FC_TARGET_STR_AVX512)))
#if defined(__clang__)
#define FC_TARGET_BEGIN(t)                                                                   \
    FC_PRAGMA_X(clang attribute push(__attribute__((target(t))), apply_to = function))
#define FC_TARGET_END FC_PRAGMA(clang attribute pop)
#else
#define FC_TARGET_BEGIN(t) FC_PRAGMA(GCC push_options) FC_PRAGMA_X(GCC target(t))
#define FC_TARGET_END FC_PRAGMA(GCC pop_options)
#endif
#endif
/*
 * aarch64 NEON path.  FC_ARM_NEON is defined when compiling for aarch64 with GCC or Clang:
 * Advanced SIMD is part of the baseline there, so the NEON kernels need no target region and
 * are plain functions of their files (<arm_neon.h> is included only under this macro).
 */
#if defined(__aarch64__) && defined(__GNUC__)
#define FC_ARM_NEON 1
#endif
#ifdef _OPENMP
/* Parallel `for` over a loop with nthreads threads: FC_OMP_FOR(nthreads) for (...) */
#define FC_OMP_FOR(nthreads) FC_PRAGMA(omp parallel for schedule(static) num_threads(nthreads))
/* Any OpenMP directive: FC_OMP(parallel num_threads(n)) { ... } */
#define FC_OMP(directive) FC_PRAGMA(omp directive)
#else
#define FC_OMP_FOR(nthreads)
#define FC_OMP(directive)
#endif

#define FC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Dropout's counter-based random stream: element i of the stream of `seed` is the 32-bit hash
 * fc_dropout_hash(seed, i), and it is kept iff (hash >> 8) >= threshold (a 24-bit uniform
 * compared with ceil(p * 2^24)).  Every element depends only on (seed, i), so the mask does
 * not depend on the thread count, the ISA path or the backend (fastconv.reference computes
 * the same hash in NumPy). */
static inline uint32_t fc_mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}
/* Key of the block of 2^32 elements whose index has high word `hi`. */
static inline uint32_t fc_dropout_key(uint64_t seed, uint32_t hi) {
    return (uint32_t)seed ^ fc_mix32(hi ^ 0x9e3779b9U);
}
static inline uint32_t fc_dropout_hash(uint64_t seed, uint64_t i) {
    return fc_mix32(fc_mix32((uint32_t)i ^ fc_dropout_key(seed, (uint32_t)(i >> 32))) +
                    (uint32_t)(seed >> 32));
}

#endif /* FASTCONV_INTERNAL_H */
