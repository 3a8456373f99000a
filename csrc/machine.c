/*
 * machine.c -- what the kernels know about the machine: its cache sizes (detected once, and
 * overridable for tests), and the probes that measure its limits (FMA peak per ISA path,
 * copy bandwidth per working-set size) for the benchmark's "share of the limit" figures.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#include <stdio.h>

#include "gemm_internal.h"

/* ------------------------------------------------------------------------------------ */
/* Cache sizes                                                                           */
/* ------------------------------------------------------------------------------------ */

/* What the blocking assumes when nothing answers: a modest x86-64 core. */
static const int64_t default_caches[3] = {32 << 10, 512 << 10, 8 << 20};

static int64_t g_caches[3];      /* bytes: L1d, L2 (per core), last level */
static int g_caches_source = -1; /* -1 not yet detected, else an FC_CACHES_* value */

/* "48K", "1024K", "32M" as in /sys/devices/system/cpu/cpu0/cache/index<i>/size. */
static int64_t parse_size(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (v <= 0 || end == s) return 0;
    if (*end == 'K' || *end == 'k') v <<= 10;
    else if (*end == 'M' || *end == 'm') v <<= 20;
    else if (*end == 'G' || *end == 'g') v <<= 30;
    return (int64_t)v;
}

static int read_line(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const int ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    return ok;
}

/* /sys/devices/system/cpu/cpu0/cache/index*: level, type and size of each cache of cpu0. */
static int caches_from_sysfs(int64_t out[3])
{
    int found = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_line(path, buf, sizeof buf)) break;
        const int level = atoi(buf);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        if (strncmp(buf, "Instruction", 11) == 0) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        const int64_t size = parse_size(buf);
        if (level >= 1 && level <= 3 && size > 0) {
            out[level - 1] = size;
            found = 1;
        }
    }
    return found;
}

/* sysfs first: it reports what the kernel read from the CPU for cpu0 (glibc's sysconf has
 * been seen to report a 256 MiB L3 in a virtual machine whose sysfs said 32 MiB). */
static void detect_caches(int64_t out[3], int *source)
{
    out[0] = out[1] = out[2] = 0;
    *source = FC_CACHES_DEFAULT;
    if (caches_from_sysfs(out) && out[0] > 0 && out[1] > 0) *source = FC_CACHES_SYSFS;
#if defined(__linux__) && defined(_SC_LEVEL1_DCACHE_SIZE)
    if (*source == FC_CACHES_DEFAULT) {
        const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
        if (l1 > 0 && l2 > 0) {
            out[0] = l1;
            out[1] = l2;
            out[2] = l3 > 0 ? l3 : 0;
            *source = FC_CACHES_SYSCONF;
        }
    }
#endif
#if defined(__APPLE__)
    if (*source == FC_CACHES_DEFAULT) {
        int64_t v = 0;
        size_t len = sizeof v;
        if (sysctlbyname("hw.l1dcachesize", &v, &len, NULL, 0) == 0 && v > 0) out[0] = v;
        len = sizeof v;
        if (sysctlbyname("hw.l2cachesize", &v, &len, NULL, 0) == 0 && v > 0) out[1] = v;
        len = sizeof v;
        if (sysctlbyname("hw.l3cachesize", &v, &len, NULL, 0) == 0 && v > 0) out[2] = v;
        if (out[0] > 0 && out[1] > 0) *source = FC_CACHES_SYSCTL;
    }
#endif
    /* fill what is still unknown (an L3 of 0 stays 0: some CPUs have none) */
    for (int i = 0; i < 2; i++)
        if (out[i] <= 0) out[i] = default_caches[i];
    if (*source == FC_CACHES_DEFAULT) out[2] = default_caches[2];
}

static void caches_init(void)
{
    if (__atomic_load_n(&g_caches_source, __ATOMIC_ACQUIRE) >= 0) return;
    int64_t c[3];
    int source;
    detect_caches(c, &source);
    memcpy(g_caches, c, sizeof c);
    __atomic_store_n(&g_caches_source, source, __ATOMIC_RELEASE);
}

int fc_cache_sizes(int64_t sizes[3])
{
    caches_init();
    memcpy(sizes, g_caches, sizeof g_caches);
    return __atomic_load_n(&g_caches_source, __ATOMIC_ACQUIRE);
}

void fc_set_cache_sizes(const int64_t sizes[3])
{
    if (sizes == NULL || (sizes[0] == 0 && sizes[1] == 0 && sizes[2] == 0)) {
        int64_t c[3];
        int source;
        detect_caches(c, &source);
        memcpy(g_caches, c, sizeof c);
        __atomic_store_n(&g_caches_source, source, __ATOMIC_RELEASE);
    } else {
        assert(sizes[0] > 0 && sizes[1] > 0 && sizes[2] >= 0);
        memcpy(g_caches, sizes, sizeof g_caches);
        __atomic_store_n(&g_caches_source, FC_CACHES_SET, __ATOMIC_RELEASE);
    }
    fc_gemm_reconfigure();
}

/* ------------------------------------------------------------------------------------ */
/* Probes                                                                                */
/* ------------------------------------------------------------------------------------ */

/* NACC independent multiply-add chains on VL-lane vectors, `iters` rounds: register-only, so
 * it runs at the core's FMA (or, without FMA, multiply + add) throughput.  Returns the
 * floating-point operations done (2 per lane per chain per round).  The chains start from
 * the caller's values and the sum of the results goes back to it, so nothing folds away. */
#define FC_PROBE_FMA_BODY(T, VL, NACC)                                                       \
    {                                                                                        \
        typedef T vec_t __attribute__((vector_size(VL * sizeof(T))));                        \
        vec_t acc[NACC], m, a;                                                               \
        for (int l = 0; l < VL; l++) {                                                       \
            m[l] = (T)seed[0];                                                               \
            a[l] = (T)seed[1];                                                               \
        }                                                                                    \
        for (int j = 0; j < NACC; j++) acc[j] = m * (T)(j + 1);                              \
        for (int64_t it = 0; it < iters; it++) {                                             \
            _Pragma("GCC unroll 32") for (int j = 0; j < NACC; j++) acc[j] = acc[j] * m + a; \
        }                                                                                    \
        T s = 0;                                                                             \
        for (int j = 0; j < NACC; j++)                                                       \
            for (int l = 0; l < VL; l++) s += acc[j][l];                                     \
        seed[2] = (double)s;                                                                 \
        return 2.0 * (double)VL * NACC * (double)iters;                                      \
    }

#define FC_PROBE_FMA_FN(NAME, ATTR, T, VL, NACC)                                             \
    ATTR static double NAME(int64_t iters, double *seed) FC_PROBE_FMA_BODY(T, VL, NACC)

/* the portable path: 128-bit vectors at the baseline ISA (SSE2 multiply + add on x86-64) */
FC_PROBE_FMA_FN(fma_f32_scalar, , float, 4, 12)
FC_PROBE_FMA_FN(fma_f64_scalar, , double, 2, 12)
#ifdef FC_X86_SIMD
FC_PROBE_FMA_FN(fma_f32_avx2, FC_TARGET_AVX2, float, 8, 12)
FC_PROBE_FMA_FN(fma_f64_avx2, FC_TARGET_AVX2, double, 4, 12)
FC_PROBE_FMA_FN(fma_f32_avx512, FC_TARGET_AVX512, float, 16, 24)
FC_PROBE_FMA_FN(fma_f64_avx512, FC_TARGET_AVX512, double, 8, 24)
#endif

typedef double (*fma_probe_fn)(int64_t, double *);

static fma_probe_fn fma_probe(int isa, int dtype_size)
{
    switch (isa) {
    case FC_ISA_REFERENCE:
    case FC_ISA_SCALAR:
        return dtype_size == 4 ? fma_f32_scalar : fma_f64_scalar;
#ifdef FC_X86_SIMD
    case FC_ISA_AVX2:
        return dtype_size == 4 ? fma_f32_avx2 : fma_f64_avx2;
    case FC_ISA_AVX512:
        return dtype_size == 4 ? fma_f32_avx512 : fma_f64_avx512;
#endif
    default:
        return NULL;
    }
}

double fc_probe_fma(const char *isa_name, int dtype_size, int nthreads, int64_t iters)
{
    const int isa = fc_isa_index(isa_name);
    if (isa < 0 || !fc_isa_supported(isa_name) || (dtype_size != 4 && dtype_size != 8) ||
        nthreads < 1 || iters < 0)
        return -1.0;
    const fma_probe_fn fn = fma_probe(isa, dtype_size);
    if (!fn) return -1.0;
    if (fc_threads_for_region() < nthreads) nthreads = fc_threads_for_region();
    double total = 0, sink = 0;
    FC_OMP(parallel num_threads(nthreads) reduction(+ : total, sink))
    {
        double seed[3] = {0.999999, 1e-7, 0};
        total += fn(iters, seed);
        sink += seed[2];
    }
    return sink == -1.0 ? total + 1 : total; /* (sink is never -1; it keeps the results live) */
}

/* Copies with vectors of the path's width, the loop split over threads; returns bytes moved
 * (read + written).  src and dst hold `bytes` each, 64-byte aligned. */
#define FC_PROBE_COPY_FN(NAME, ATTR)                                                         \
    ATTR static void NAME(const float *restrict src, float *restrict dst, int64_t n)         \
    {                                                                                        \
        for (int64_t i = 0; i < n; i++) dst[i] = src[i];                                     \
    }
FC_PROBE_COPY_FN(copy_scalar, )
#ifdef FC_X86_SIMD
FC_PROBE_COPY_FN(copy_avx2, FC_TARGET_AVX2)
FC_PROBE_COPY_FN(copy_avx512, FC_TARGET_AVX512)
#endif

double fc_probe_copy(const float *src, float *dst, int64_t n, int nthreads, int64_t reps)
{
    void (*fn)(const float *, float *, int64_t) = copy_scalar;
#ifdef FC_X86_SIMD
    if (fc_current_isa() == FC_ISA_AVX512) fn = copy_avx512;
    else if (fc_current_isa() == FC_ISA_AVX2) fn = copy_avx2;
#endif
    if (n <= 0 || reps <= 0 || nthreads < 1) return 0;
    if (fc_threads_for_region() < nthreads) nthreads = fc_threads_for_region();
    FC_OMP(parallel num_threads(nthreads))
    {
        const int t = FC_THREAD_ID();
        const int nt = FC_NUM_THREADS_IN_REGION();
        /* each thread always copies the same slice, so per-core caches hold it */
        const int64_t lo = (n * t / nt) & ~(int64_t)15;
        const int64_t hi = t == nt - 1 ? n : (n * (t + 1) / nt) & ~(int64_t)15;
        for (int64_t r = 0; r < reps; r++) fn(src + lo, dst + lo, hi - lo);
    }
    return 2.0 * sizeof(float) * (double)n * (double)reps;
}
