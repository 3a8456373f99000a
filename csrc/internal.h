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
    FC_ISA_AVX512 = 3
} fc_isa;

/* The path every public entry point dispatches on (set once at load, or by fc_set_isa). */
fc_isa fc_current_isa(void);

/* Number of threads a parallel region should use right now: fc_get_num_threads() when
 * called from outside a parallel region, else 1 (no nested parallelism); always 1 in a
 * build without OpenMP. */
int fc_threads_for_region(void);

/* OpenMP helpers that compile away without OpenMP. */
#ifdef _OPENMP
#include <omp.h>
#define FC_THREAD_ID() omp_get_thread_num()
#else
#define FC_THREAD_ID() 0
#endif

#define FC_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
/* Parallel `for` over a loop with nthreads threads: FC_OMP_FOR(nthreads) for (...) */
#define FC_OMP_FOR(nthreads) FC_PRAGMA(omp parallel for schedule(static) num_threads(nthreads))
#else
#define FC_OMP_FOR(nthreads)
#endif

#define FC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* FASTCONV_INTERNAL_H */
