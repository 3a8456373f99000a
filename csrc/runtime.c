/*
 * runtime.c -- thread count, instruction-set dispatch state and the workspace limit.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define FC_HAVE_ATFORK 1
#endif

#include "internal.h"

static int g_num_threads = 0;          /* 0 = not yet initialised */
static int g_isa = -1;                 /* -1 = not yet initialised */
static int64_t g_workspace_limit = (int64_t)64 << 20;

static const char *const isa_names[] = {"reference", "scalar", "avx2", "avx512", "neon"};

static int isa_from_name(const char *name) {
    if (name == NULL) return -1;
    for (int i = 0; i < FC_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0) return i;
    return -1;
}

/* 1 if this CPU (and OS) can execute the path's instructions, whether or not the path was
 * compiled into this build. */
static int cpu_has(int isa) {
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
#if defined(__aarch64__)
    case FC_ISA_NEON: /* Advanced SIMD is mandatory on aarch64 */
        return 1;
#endif
    default:
        return 0;
    }
}

/* 1 if the path's kernels were compiled into this build (internal.h: FC_X86_SIMD,
 * FC_ARM_NEON). */
static int compiled(int isa) {
    switch (isa) {
    case FC_ISA_REFERENCE:
    case FC_ISA_SCALAR:
        return 1;
#ifdef FC_X86_SIMD
    case FC_ISA_AVX2:
    case FC_ISA_AVX512:
        return 1;
#endif
#ifdef FC_ARM_NEON
    case FC_ISA_NEON:
        return 1;
#endif
    default:
        return 0;
    }
}

static int cpu_supports(int isa) { return compiled(isa) && cpu_has(isa); }

static int best_isa(void) {
    for (int i = FC_ISA_COUNT - 1; i > FC_ISA_SCALAR; i--)
        if (cpu_supports(i)) return i;
    return FC_ISA_SCALAR;
}

int fc_isa_index(const char *name) { return isa_from_name(name); }

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

int fc_isa_compiled(const char *name) {
    int isa = isa_from_name(name);
    return isa >= 0 && compiled(isa);
}

int fc_isa_cpu_has(const char *name) {
    int isa = isa_from_name(name);
    return isa >= 0 && cpu_has(isa);
}

#define FC_STR_(x) #x
#define FC_STR(x) FC_STR_(x)

const char *fc_build_compiler(void) {
#if defined(__clang__)
    return "clang " __clang_version__; /* (may end in a space) */
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
    return "msvc " FC_STR(_MSC_FULL_VER);
#else
    return "unknown C compiler";
#endif
}

const char *fc_build_flags(void) {
#ifdef FC_BUILD_FLAGS
    return FC_BUILD_FLAGS;
#else
    return "";
#endif
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

static int g_fork_single = 0; /* see fork safety below */

static _Thread_local int t_num_threads = 0; /* this thread's override; 0 = none */

void fc_set_thread_num_threads(int n) {
    assert(n >= 0);
    t_num_threads = n;
}

int fc_get_thread_num_threads(void) { return t_num_threads; }

int fc_get_num_threads(void) {
    if (__atomic_load_n(&g_fork_single, __ATOMIC_RELAXED)) return 1;
    if (t_num_threads > 0) return t_num_threads;
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

/*
 * Fork safety.  GNU libgomp keeps its worker threads in a pool after the first parallel
 * region; a child created by fork() inherits the pool's bookkeeping but not its threads, so
 * the child's next multi-threaded region waits forever.  We note when a region may have
 * started the pool (g_pool_started), and a pthread_atfork child handler then makes the
 * child run every region single-threaded (g_fork_single), and fc_get_num_threads reports 1
 * there; a one-thread region never touches the pool.  The cap lasts for the child's life
 * (fc_set_num_threads cannot lift it: the inherited pool cannot be repaired).  A child of a
 * process whose kernels never ran threaded keeps its thread count.  The handler is
 * registered once, at load time.
 */
#ifdef FC_HAVE_ATFORK /* no fork() (Windows): nothing to note */
static int g_pool_started = 0;

static void fc_atfork_child(void) {
    if (__atomic_load_n(&g_pool_started, __ATOMIC_RELAXED)) {
        __atomic_store_n(&g_fork_single, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&g_pool_started, 0, __ATOMIC_RELAXED);
    }
}

__attribute__((constructor)) static void fc_register_atfork(void) {
    (void)pthread_atfork(NULL, NULL, fc_atfork_child);
}
#endif

int fc_threads_for_region(void) {
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
    if (__atomic_load_n(&g_fork_single, __ATOMIC_RELAXED)) return 1;
    const int n = fc_get_num_threads();
#ifdef FC_HAVE_ATFORK
    if (n > 1 && !__atomic_load_n(&g_pool_started, __ATOMIC_RELAXED))
        __atomic_store_n(&g_pool_started, 1, __ATOMIC_RELAXED);
#endif
    return n;
#else
    /* Without OpenMP every "parallel" region runs on the calling thread alone, so callers
     * that split work by thread count must see exactly one thread. */
    return 1;
#endif
}

/* Internal queries for the tests (called through ctypes; not part of the public API). */

/* 1 if this process is a fork child running single-threaded because of the handler above. */
int fc_debug_fork_single(void) { return __atomic_load_n(&g_fork_single, __ATOMIC_RELAXED); }

/* Runs an empty parallel region the way every kernel does (num_threads from
 * fc_threads_for_region) and returns how many threads the OpenMP runtime gave it. */
int fc_debug_region_threads(void) {
#ifdef _OPENMP
    int got = 0;
    const int nt = fc_threads_for_region();
    FC_PRAGMA(omp parallel num_threads(nt))
    {
        FC_PRAGMA(omp single)
        got = omp_get_num_threads();
    }
    return got;
#else
    return 1;
#endif
}

static int g_winograd = -1; /* -1 = not yet read from FASTCONV_WINOGRAD */

int fc_conv_winograd_mode(void) {
    int m = __atomic_load_n(&g_winograd, __ATOMIC_RELAXED);
    if (m < 0) {
        const char *env = getenv("FASTCONV_WINOGRAD");
        m = (env && env[0] >= '0' && env[0] <= '4' && env[1] == 0) ? env[0] - '0' : 1;
        __atomic_store_n(&g_winograd, m, __ATOMIC_RELAXED);
    }
    return m;
}

int fc_get_conv_winograd(void) { return fc_conv_winograd_mode(); }

int fc_set_conv_winograd(int mode) {
    if (mode < 0 || mode > 4) return -1;
    const int old = fc_conv_winograd_mode();
    __atomic_store_n(&g_winograd, mode, __ATOMIC_RELAXED);
    return old;
}

void fc_set_workspace_limit(int64_t bytes) {
    assert(bytes >= ((int64_t)1 << 20));
    __atomic_store_n(&g_workspace_limit, bytes, __ATOMIC_RELAXED);
}

int64_t fc_get_workspace_limit(void) {
    return __atomic_load_n(&g_workspace_limit, __ATOMIC_RELAXED);
}
