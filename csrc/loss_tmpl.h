/*
 * loss_tmpl.h -- softmax, log-softmax and cross-entropy of loss.c, instantiated once per
 * dtype.  Include with FT (float or double) and SFX (f32 or f64) defined.
 *
 * Every row is max-subtracted; exponentials and sums are taken in double (for float32
 * too), and each result is rounded to FT once.
 */
#define LT_CAT_(a, b) a##_##b
#define LT_CAT(a, b) LT_CAT_(a, b)
#define FN(name) LT_CAT(name, SFX)

static inline double FN(row_max)(int64_t c, const FT *x) {
    FT m0 = x[0], m1 = x[0], m2 = x[0], m3 = x[0];
    int nan = 0;
    int64_t j = 0;
    for (; j + 4 <= c; j += 4) {
        m0 = x[j] > m0 ? x[j] : m0;
        m1 = x[j + 1] > m1 ? x[j + 1] : m1;
        m2 = x[j + 2] > m2 ? x[j + 2] : m2;
        m3 = x[j + 3] > m3 ? x[j + 3] : m3;
        nan |= (x[j] != x[j]) | (x[j + 1] != x[j + 1]) | (x[j + 2] != x[j + 2]) |
               (x[j + 3] != x[j + 3]);
    }
    for (; j < c; j++) {
        m0 = x[j] > m0 ? x[j] : m0;
        nan |= x[j] != x[j];
    }
    m0 = m1 > m0 ? m1 : m0;
    m0 = m2 > m0 ? m2 : m0;
    m0 = m3 > m0 ? m3 : m0;
    return nan ? (double)NAN : (double)m0;
}

/* sum_j exp(x_j - m); if e is not NULL it also receives each exp(x_j - m). */
static inline double FN(row_sumexp)(int64_t c, const FT *x, double m, FT *e) {
    double s = 0.0;
    if (m == -INFINITY) m = 0.0; /* all -inf: every term is exp(-inf) = 0 */
    for (int64_t j = 0; j < c; j++) {
        const double v = exp((double)x[j] - m);
        if (e) e[j] = (FT)v;
        s += v;
    }
    return s;
}

static void FN(softmax_rows)(int64_t r0, int64_t r1, int64_t cols, const FT *x, FT *y,
                             int logsm) {
    for (int64_t i = r0; i < r1; i++) {
        const FT *xr = x + i * cols;
        FT *yr = y + i * cols;
        const double m = FN(row_max)(cols, xr);
        if (logsm) {
            /* (x - m) - log(s): x - m is exact near the maximum, so values close to 0
             * keep their relative accuracy */
            const double ls = log(FN(row_sumexp)(cols, xr, m, NULL));
            for (int64_t j = 0; j < cols; j++) yr[j] = (FT)(((double)xr[j] - m) - ls);
        } else {
            /* exponentials parked in y (double for float64; float32 keeps 24 bits, far
             * inside its tolerance), then scaled */
            const double s = FN(row_sumexp)(cols, xr, m, yr);
            const double inv = 1.0 / s;
            for (int64_t j = 0; j < cols; j++) yr[j] = (FT)((double)yr[j] * inv);
        }
    }
}

static void FN(softmax_any)(int64_t rows, int64_t cols, const FT *x, FT *y, int logsm) {
    assert(rows >= 0 && cols >= 1);
    const int nt = loss_threads(rows, rows * cols);
    (void)nt;
    if (nt <= 1) {
        FN(softmax_rows)(0, rows, cols, x, y, logsm);
        return;
    }
    LOSS_PARALLEL(nt) {
        const int t = LOSS_TID(), n = LOSS_NT();
        FN(softmax_rows)(rows * t / n, rows * (t + 1) / n, cols, x, y, logsm);
    }
}

void LT_CAT(fc_opt_softmax, SFX)(int64_t rows, int64_t cols, const FT *x, FT *y) {
    FN(softmax_any)(rows, cols, x, y, 0);
}

void LT_CAT(fc_opt_log_softmax, SFX)(int64_t rows, int64_t cols, const FT *x, FT *y) {
    FN(softmax_any)(rows, cols, x, y, 1);
}

/* log-sum-exp of one row */
static inline double FN(row_lse)(int64_t c, const FT *x) {
    const double m = FN(row_max)(c, x);
    const double s = FN(row_sumexp)(c, x, m, NULL);
    return (m == -INFINITY ? 0.0 : m) + log(s);
}

/* loss of row i: (1 - eps) * (lse - x_t) + eps / c * sum_j (lse - x_j) */
static inline double FN(ce_row)(int64_t c, const FT *x, int64_t t, double eps) {
    const double lse = FN(row_lse)(c, x);
    double loss = (1.0 - eps) * (lse - (double)x[t]);
    if (eps != 0.0) {
        double smooth = 0.0; /* sum of non-negative terms: no cancellation */
        for (int64_t j = 0; j < c; j++) smooth += lse - (double)x[j];
        loss += eps / (double)c * smooth;
    }
    return loss;
}

void LT_CAT(fc_opt_cross_entropy_forward, SFX)(int64_t n, int64_t c, const FT *logits,
                                              const int64_t *target, double label_smoothing,
                                              int reduction, FT *out) {
    assert(n >= 0 && c >= 1);
    assert(label_smoothing >= 0.0 && label_smoothing <= 1.0);
    assert(reduction == FC_REDUCTION_NONE || reduction == FC_REDUCTION_MEAN ||
           reduction == FC_REDUCTION_SUM);
    const int nt = loss_threads(n, n * c);
    (void)nt;
    if (reduction == FC_REDUCTION_NONE) {
        LOSS_OMP_FOR(nt)
        for (int64_t i = 0; i < n; i++) {
            assert(target[i] >= 0 && target[i] < c);
            out[i] = (FT)FN(ce_row)(c, logits + i * c, target[i], label_smoothing);
        }
        return;
    }
    double total = 0.0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) reduction(+ : total) if (nt > 1)
#endif
    for (int64_t i = 0; i < n; i++) {
        assert(target[i] >= 0 && target[i] < c);
        total += FN(ce_row)(c, logits + i * c, target[i], label_smoothing);
    }
    if (reduction == FC_REDUCTION_MEAN) out[0] = (FT)(n == 0 ? (double)NAN : total / (double)n);
    else out[0] = (FT)total;
}

void LT_CAT(fc_opt_cross_entropy_backward, SFX)(int64_t n, int64_t c, const FT *logits,
                                               const int64_t *target, double label_smoothing,
                                               int reduction, const FT *grad_loss,
                                               FT *grad_logits) {
    assert(n >= 0 && c >= 1);
    assert(label_smoothing >= 0.0 && label_smoothing <= 1.0);
    assert(reduction == FC_REDUCTION_NONE || reduction == FC_REDUCTION_MEAN ||
           reduction == FC_REDUCTION_SUM);
    if (n == 0) return;
    const double eps = label_smoothing, off = label_smoothing / (double)c;
    double gscale = 0.0;
    if (reduction == FC_REDUCTION_MEAN) gscale = (double)grad_loss[0] / (double)n;
    else if (reduction == FC_REDUCTION_SUM) gscale = (double)grad_loss[0];
    const int nt = loss_threads(n, n * c);
    (void)nt;
    LOSS_OMP_FOR(nt)
    for (int64_t i = 0; i < n; i++) {
        assert(target[i] >= 0 && target[i] < c);
        const FT *x = logits + i * c;
        FT *g = grad_logits + i * c;
        const double gi = reduction == FC_REDUCTION_NONE ? (double)grad_loss[i] : gscale;
        /* p = exp(x - lse) directly (not exp(x - m) / s): p - 1 at a confident target
         * cancels, so p must be as accurate as it can be */
        const double lse = FN(row_lse)(c, x);
        for (int64_t j = 0; j < c; j++) g[j] = (FT)(gi * (exp((double)x[j] - lse) - off));
        const int64_t t = target[i];
        g[t] = (FT)(gi * (exp((double)x[t] - lse) - (1.0 - eps) - off));
    }
}

#undef FN
#undef LT_CAT
#undef LT_CAT_
