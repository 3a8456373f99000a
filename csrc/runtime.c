/*
 * runtime.c -- thread count, instruction-set dispatch state and the workspace limit.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int g_num_threads = 0;          /* 0 = not yet initialised */
static int g_isa = -1;                 /* -1 = not yet initialised */
static int64_t g_workspace_limit = (int64_t)64 << 20;

static const char *const isa_names[] = {"reference", "scalar", "avx2", "avx512"};

static int isa_from_name(const char *name) {
    if (name == NULL) return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(name, isa_names[i]) == 0) return i;
    return -1;
}

static int cpu_supports(int isa) {
    switch (isa) {
    case FC_ISA_REFERENCE:
    case FC_ISA_SCALAR:
        return 1;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    case FC_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FC_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
    default:
        return 0;
    }
}

static int best_isa(void) {
    for (int i = FC_ISA_AVX512; i > FC_ISA_SCALAR; i--)
        if (cpu_supports(i)) return i;
    return FC_ISA_SCALAR;
}

fc_isa fc_current_isa(void) {
    int isa = __atomic_load_n(&g_isa, __ATOMIC_RELAXED);
    if (isa < 0) {
        const char *env = getenv("FASTCONV_ISA");
        int want = isa_from_name(env);
        isa = (want >= 0 && cpu_supports(want)) ? want : best_isa();
        __atomic_store_n(&g_isa, isa, __ATOMIC_RELAXED);
    }
    return (fc_isa)isa;
}

int fc_set_isa(const char *name) {
    int want = isa_from_name(name);
    if (want < 0) return -1;
    if (!cpu_supports(want)) return -2;
    __atomic_store_n(&g_isa, want, __ATOMIC_RELAXED);
    return 0;
}

const char *fc_get_isa(void) { return isa_names[fc_current_isa()]; }

int fc_isa_supported(const char *name) {
    int isa = isa_from_name(name);
    return isa >= 0 && cpu_supports(isa);
}

int fc_has_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

void fc_set_num_threads(int n) {
    assert(n >= 1);
    __atomic_store_n(&g_num_threads, n, __ATOMIC_RELAXED);
}

int fc_get_num_threads(void) {
    int n = __atomic_load_n(&g_num_threads, __ATOMIC_RELAXED);
    if (n <= 0) {
#ifdef _OPENMP
        n = omp_get_max_threads(); /* honours OMP_NUM_THREADS, else the core count */
#else
        n = 1;
#endif
        if (n < 1) n = 1;
        __atomic_store_n(&g_num_threads, n, __ATOMIC_RELAXED);
    }
    return n;
}

int fc_threads_for_region(void) {
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
    return fc_get_num_threads();
#else
    /* Without OpenMP every "parallel" region runs on the calling thread alone, so callers
     * that split work by thread count must see exactly one thread. */
    return 1;
#endif
}

void fc_set_workspace_limit(int64_t bytes) {
    assert(bytes >= ((int64_t)1 << 20));
    __atomic_store_n(&g_workspace_limit, bytes, __ATOMIC_RELAXED);
}

int64_t fc_get_workspace_limit(void) {
    return __atomic_load_n(&g_workspace_limit, __ATOMIC_RELAXED);
}
