/*
 * check_kernels.c -- checks every optimised kernel path of csrc/ against the reference
 * kernels, in plain C (no Python), on edge-tile shapes: GEMM sizes 1, tile - 1, tile,
 * tile + 1 and beyond in m, n and k, convs with strides, padding, dilation, groups,
 * depthwise and single-input-channel shapes, odd pooling windows and widths, and the
 * elementwise, loss and normalisation kernels; float32 and float64.
 *
 *   check_kernels [PATH...]     the paths to check (default: every path this build and CPU
 *                               support, "reference" excepted)
 *   check_kernels --count PATH KERNEL f32|f64 REPS
 *                               run one kernel REPS times on its count shape (count_one in
 *                               check_kernels_tmpl.h), for counting the instructions a path
 *                               executes (tools/count_insns.sh)
 *
 * The reference path (fc_set_isa("reference")) computes the expected values of every case;
 * each path's result must match them within the tolerance below.  Prints one summary line
 * per kernel, path and dtype; exits 1 on any mismatch.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastconv.h"

/* The tolerance, the same as the Python tests' (tests/conftest.py): |got - want| <=
 * ATOL + RTOL * |want|, NaN where the reference has NaN.  Integer outputs (pooling indices,
 * dropout masks) must be equal. */
#define RTOL_F32 1e-4
#define ATOL_F32 1e-5
#define RTOL_F64 1e-10
#define ATOL_F64 1e-12

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static double urand(void) /* uniform in [-1, 1) */
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* per-kernel tallies of the current path and dtype */
typedef struct {
    const char *name;
    long cases, bad;
} tally;
#define MAX_KERNELS 64
static tally g_tally[MAX_KERNELS];
static int g_ntally;
static long g_total_bad;
static const char *g_path;

static tally *kernel(const char *name)
{
    for (int i = 0; i < g_ntally; i++)
        if (strcmp(g_tally[i].name, name) == 0) return &g_tally[i];
    if (g_ntally == MAX_KERNELS) {
        fprintf(stderr, "too many kernels\n");
        exit(2);
    }
    g_tally[g_ntally].name = name;
    g_tally[g_ntally].cases = g_tally[g_ntally].bad = 0;
    return &g_tally[g_ntally++];
}

static void set_path(const char *name)
{
    if (fc_set_isa(name) != 0) {
        fprintf(stderr, "cannot select path %s\n", name);
        exit(2);
    }
}

static void report(tally *t, int ok, const char *what)
{
    t->cases++;
    if (!ok) {
        t->bad++;
        g_total_bad++;
        if (t->bad <= 3) fprintf(stderr, "  MISMATCH %s %s: %s\n", t->name, g_path, what);
    }
}

static int same_bytes(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

#define T float
#define SFX f32
#define RTOL RTOL_F32
#define ATOL ATOL_F32
#include "check_kernels_tmpl.h"
#undef T
#undef SFX
#undef RTOL
#undef ATOL

#define T double
#define SFX f64
#define RTOL RTOL_F64
#define ATOL ATOL_F64
#include "check_kernels_tmpl.h"
#undef T
#undef SFX
#undef RTOL
#undef ATOL

static void flush(const char *dtype)
{
    for (int i = 0; i < g_ntally; i++)
        printf("%-22s %-7s %-7s %5ld cases  %s\n", g_tally[i].name, dtype, g_path,
               g_tally[i].cases,
               g_tally[i].bad ? "MISMATCH" : "ok (equals the reference)");
    g_ntally = 0;
}

static const char *const g_paths[] = {"scalar", "avx2", "avx512", "neon"};

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--count") == 0) {
        if (argc != 6) {
            fprintf(stderr, "usage: %s --count PATH KERNEL f32|f64 REPS\n", argv[0]);
            return 2;
        }
        set_path(argv[2]);
        return strcmp(argv[4], "f64") == 0 ? count_one_f64(argv[3], argv[5])
                                           : count_one_f32(argv[3], argv[5]);
    }
    const char *paths[8];
    int np = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && np < 8; i++) {
            if (!fc_isa_supported(argv[i])) {
                fprintf(stderr, "path %s is not supported here (compiled %d, CPU has %d)\n",
                        argv[i], fc_isa_compiled(argv[i]), fc_isa_cpu_has(argv[i]));
                return 2;
            }
            paths[np++] = argv[i];
        }
    } else {
        for (size_t i = 0; i < sizeof g_paths / sizeof g_paths[0]; i++)
            if (fc_isa_supported(g_paths[i])) paths[np++] = g_paths[i];
    }
    /* the path list itself: neon is compiled, present and the default exactly on aarch64 */
#if defined(__aarch64__)
    const int arm = 1;
#else
    const int arm = 0;
#endif
    const char *env = getenv("FASTCONV_ISA");
    const int default_ok = (env && *env) || (strcmp(fc_get_isa(), "neon") == 0) == arm;
    if (fc_isa_compiled("neon") != arm || fc_isa_cpu_has("neon") != arm || !default_ok) {
        printf("check_kernels: path list wrong: neon compiled %d, CPU has %d, default %s\n",
               fc_isa_compiled("neon"), fc_isa_cpu_has("neon"), fc_get_isa());
        g_total_bad++;
    }
    printf("check_kernels: default path %s; checking", fc_get_isa());
    for (int i = 0; i < np; i++) printf(" %s", paths[i]);
    printf(" against the reference\n");
    for (int i = 0; i < np; i++) {
        g_path = paths[i];
        check_all_f32();
        flush("float32");
        check_all_f64();
        flush("float64");
    }
    printf("check_kernels: %s\n", g_total_bad ? "FAILED" : "every kernel equals the reference");
    return g_total_bad ? 1 : 0;
}
