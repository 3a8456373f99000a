/*
 * loss.c -- optimised row-wise softmax / log-softmax and softmax cross-entropy (forward
 * and backward), float32 and float64.
 *
 * Numerically stable: each row is shifted by its maximum before exponentiation, and the
 * exponentials and every sum are taken in double, so float32 results are rounded once.
 * Rows are split over OpenMP threads above a size threshold.
 */
#include <assert.h>
#include <math.h>

#include "pool_loss.h"

/* Below this many logits, a call runs on the calling thread. */
#define LOSS_PAR_MIN ((int64_t)1 << 14)

static int loss_threads(int64_t rows, int64_t work) {
    if (rows < 2 || work < LOSS_PAR_MIN) return 1;
    int t = fc_threads_for_region();
    if ((int64_t)t > rows) t = (int)rows;
    return t < 1 ? 1 : t;
}

#ifdef _OPENMP
#define LOSS_OMP_FOR(nt) FC_PRAGMA(omp parallel for schedule(static) num_threads(nt) if (nt > 1))
#define LOSS_PARALLEL(nt) FC_PRAGMA(omp parallel num_threads(nt))
#define LOSS_TID() omp_get_thread_num()
#define LOSS_NT() omp_get_num_threads()
#else
#define LOSS_OMP_FOR(nt)
#define LOSS_PARALLEL(nt)
#define LOSS_TID() 0
#define LOSS_NT() 1
#endif

#define FT float
#define SFX f32
#include "loss_tmpl.h"
#undef FT
#undef SFX

#define FT double
#define SFX f64
#include "loss_tmpl.h"
#undef FT
#undef SFX
