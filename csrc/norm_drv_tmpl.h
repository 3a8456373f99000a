/*
 * norm_drv_tmpl.h -- the fc_opt_ normalisation, dropout and activation entry points of one
 * dtype (threads, statistics, scratch); included by norm.c with FT, VEC, SFX, NK_TYPE (the
 * kernel table type), FT_EXP and FT_TANH defined.  It first instantiates the inner loops of
 * norm_kern_tmpl.h for each ISA (one kernel table each).
 */
#define ISA scalar
#define ATTR
#include "norm_kern_tmpl.h"
#undef ISA
#undef ATTR
#ifdef NORM_X86
#define ISA avx2
#define ATTR NORM_AVX2
#include "norm_kern_tmpl.h"
#undef ISA
#undef ATTR
#define ISA avx512
#define ATTR NORM_AVX512
#include "norm_kern_tmpl.h"
#undef ISA
#undef ATTR
#endif
#ifdef FC_ARM_NEON /* the aarch64 baseline has NEON: the same loops, no target attribute */
#define ISA neon
#define ATTR
#include "norm_kern_tmpl.h"
#undef ISA
#undef ATTR
#endif

#define ND_CAT_(a, b) a##_##b
#define ND_CAT(a, b) ND_CAT_(a, b)
#define ND(name) ND_CAT(name, SFX)
#define ND_TABLE_(sfx, isa) norm_kernels_##sfx##_##isa
#define ND_TABLE(sfx, isa) ND_TABLE_(sfx, isa)

static const NK_TYPE *ND(pick)(void) {
#ifdef NORM_X86
    const fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_AVX512) return &ND_TABLE(SFX, avx512);
    if (isa == FC_ISA_AVX2) return &ND_TABLE(SFX, avx2);
#endif
#ifdef FC_ARM_NEON
    if (fc_current_isa() == FC_ISA_NEON) return &ND_TABLE(SFX, neon);
#endif
    return &ND_TABLE(SFX, scalar);
}

static FT *ND(alloc)(int64_t count) {
    FT *p = (FT *)malloc(sizeof(FT) * (size_t)(count > 0 ? count : 1));
    if (!p) abort();
    return p;
}

/* The shift of the sums: a value of the data (so that the deviations are small), or 0 if
 * that value is not finite (so that an inf still gives an inf mean). */
static double ND(shift)(FT v) { return isfinite(v) ? (double)v : 0.0; }

/* mean, biased variance and 1/sqrt(var + eps) from shifted sums over m values */
static void ND(finish_stats)(double k, double s, double q, double m, double eps, double *mu,
                             double *var, double *is) {
    const double d = s / m;
    double v = q / m - d * d;
    if (!(v > 0.0)) v = v < 0.0 ? 0.0 : v; /* rounding; NaN stays NaN */
    *mu = k + d;
    *var = v;
    *is = 1.0 / sqrt(v + eps);
}

/* gw = the summed first halves, gb = the summed second halves of nt per-thread (2, len)
 * buffers (either output may be NULL) */
static void ND(store_param_grads)(double *part, int nt, int64_t len, FT *gw, FT *gb) {
    norm_reduce_parts(part, nt, len);
    for (int64_t j = 0; j < len; j++) {
        if (gw) gw[j] = (FT)part[j];
        if (gb) gb[j] = (FT)part[len + j];
    }
}

/* ---- batch norm ---- */

void ND(fc_opt_batch_norm_forward_train)(int64_t n, int64_t c, int64_t hw, const FT *x,
                                         const FT *gamma, const FT *beta, double eps, FT *y,
                                         FT *mean, FT *var, FT *invstd) {
    assert(n >= 0 && c >= 0 && hw >= 0 && n * hw >= 1);
    const NK_TYPE *k = ND(pick)();
    const double m = (double)(n * hw);
    const int64_t d = c * hw;
    if (hw >= NORM_PLANE_MIN) {
        /* pass 1: planes in memory order, split over the threads; per-thread channel sums */
        const int nt = norm_threads(n * d);
        double *part = (double *)calloc((size_t)(2 * c) * (size_t)nt, sizeof(double));
        FT *fv = ND(alloc)(3 * c);
        if (!part) abort();
        NORM_PARALLEL(nt) {
            const int t = NORM_TID(), tn = NORM_NT();
            double *ps = part + (int64_t)t * 2 * c, *pq = ps + c;
            for (int64_t p = n * c * t / tn; p < n * c * (t + 1) / tn; p++) {
                const int64_t ch = p % c;
                k->sums(hw, x + p * hw, ND(shift)(x[ch * hw]), ps + ch, pq + ch);
            }
        }
        norm_reduce_parts(part, nt, c);
        for (int64_t ch = 0; ch < c; ch++) {
            double mu, v, is;
            ND(finish_stats)(ND(shift)(x[ch * hw]), part[ch], part[c + ch], m, eps, &mu, &v, &is);
            fv[ch] = (FT)mu;
            fv[c + ch] = (FT)(gamma ? (double)gamma[ch] * is : is);
            fv[2 * c + ch] = beta ? beta[ch] : (FT)0;
            mean[ch] = (FT)mu;
            var[ch] = (FT)v;
            invstd[ch] = (FT)is;
        }
        /* pass 2: y, plane by plane */
        NORM_OMP_FOR(nt)
        for (int64_t p = 0; p < n * c; p++) {
            const int64_t ch = p % c;
            k->apply(hw, x + p * hw, fv[ch], fv[c + ch], fv[2 * c + ch], y + p * hw);
        }
        free(part);
        free(fv);
        return;
    }
    /* short planes (hw = 1 for (N, C) input): per-column sums over the rows, threads split
     * the channels */
    const int nt = (int)FC_MIN((int64_t)norm_threads(n * d), c);
    (void)nt;
    NORM_PARALLEL(nt) {
        const int t = NORM_TID(), tn = NORM_NT();
        const int64_t c0 = c * t / tn, c1 = c * (t + 1) / tn, j0 = c0 * hw;
        const int64_t len = (c1 - c0) * hw;
        if (len > 0) {
            double *kv = (double *)malloc(sizeof(double) * (size_t)(3 * len));
            FT *fv = ND(alloc)(3 * len);
            if (!kv) abort();
            double *s = kv + len, *q = kv + 2 * len;
            FT *mv = fv, *av = fv + len, *bv = fv + 2 * len;
            for (int64_t j = 0; j < len; j++) {
                kv[j] = ND(shift)(x[j0 + (j / hw) * hw]);
                s[j] = q[j] = 0.0;
            }
            for (int64_t i = 0; i < n; i++) k->col_sums(len, x + i * d + j0, kv, s, q);
            for (int64_t ch = c0; ch < c1; ch++) {
                double ts = 0.0, tq = 0.0, mu, v, is;
                const int64_t o = (ch - c0) * hw;
                for (int64_t j = 0; j < hw; j++) {
                    ts += s[o + j];
                    tq += q[o + j];
                }
                ND(finish_stats)(kv[o], ts, tq, m, eps, &mu, &v, &is);
                for (int64_t j = 0; j < hw; j++) {
                    mv[o + j] = (FT)mu;
                    av[o + j] = (FT)(gamma ? (double)gamma[ch] * is : is);
                    bv[o + j] = beta ? beta[ch] : (FT)0;
                }
                mean[ch] = (FT)mu;
                var[ch] = (FT)v;
                invstd[ch] = (FT)is;
            }
            for (int64_t i = 0; i < n; i++)
                k->col_apply(len, x + i * d + j0, mv, av, bv, y + i * d + j0);
            free(kv);
            free(fv);
        }
    }
}

void ND(fc_opt_batch_norm_forward_eval)(int64_t n, int64_t c, int64_t hw, const FT *x,
                                        const FT *mean, const FT *var, const FT *gamma,
                                        const FT *beta, double eps, FT *y) {
    assert(n >= 0 && c >= 0 && hw >= 0);
    const NK_TYPE *k = ND(pick)();
    const int64_t d = c * hw;
    if (n * d == 0) return;
    FT *fv = ND(alloc)(3 * d);
    FT *mv = fv, *av = fv + d, *bv = fv + 2 * d;
    for (int64_t ch = 0; ch < c; ch++) {
        const double is = 1.0 / sqrt((double)var[ch] + eps);
        for (int64_t j = 0; j < hw; j++) {
            mv[ch * hw + j] = mean[ch];
            av[ch * hw + j] = (FT)(gamma ? (double)gamma[ch] * is : is);
            bv[ch * hw + j] = beta ? beta[ch] : (FT)0;
        }
    }
    const int nt = norm_threads(n * d);
    (void)nt;
    if (hw >= NORM_PLANE_MIN) { /* planes: one (mean, scale, shift) per plane */
        NORM_OMP_FOR(nt)
        for (int64_t p = 0; p < n * c; p++) {
            const int64_t ch = p % c;
            k->apply(hw, x + p * hw, mv[ch * hw], av[ch * hw], bv[ch * hw], y + p * hw);
        }
    } else {
        NORM_OMP_FOR(nt)
        for (int64_t i = 0; i < n; i++) k->col_apply(d, x + i * d, mv, av, bv, y + i * d);
    }
    free(fv);
}

/* gx coefficients of one channel: gx = ((gy - cc) - (x - mean) * b) * a */
static void ND(bn_bwd_coefs)(double g, double is, double sg, double sgx, double m, int training,
                             FT *a, FT *b, FT *cc) {
    *a = (FT)(g * is);
    *b = (FT)(training && m > 0 ? is * is * sgx / m : 0.0);
    *cc = (FT)(training && m > 0 ? sg / m : 0.0);
}

void ND(fc_opt_batch_norm_backward)(int64_t n, int64_t c, int64_t hw, const FT *gy,
                                    const FT *x, const FT *gamma, const FT *mean,
                                    const FT *invstd, int training, FT *gx, FT *gw, FT *gb) {
    assert(n >= 0 && c >= 0 && hw >= 0);
    const NK_TYPE *k = ND(pick)();
    const double m = (double)(n * hw);
    const int64_t d = c * hw;
    const int need_sums = gw || gb || (gx && training);
    if (hw >= NORM_PLANE_MIN) {
        /* pass 1: the two sums, planes in memory order, per-thread channel partials */
        const int nt = norm_threads(2 * n * d);
        double *part = (double *)calloc((size_t)(2 * c) * (size_t)nt, sizeof(double));
        FT *fv = ND(alloc)(3 * c);
        if (!part) abort();
        if (need_sums) {
            NORM_PARALLEL(nt) {
                const int t = NORM_TID(), tn = NORM_NT();
                double *pg = part + (int64_t)t * 2 * c, *px = pg + c;
                for (int64_t p = n * c * t / tn; p < n * c * (t + 1) / tn; p++) {
                    const int64_t ch = p % c;
                    k->dsums(hw, gy + p * hw, x + p * hw, mean[ch], pg + ch, px + ch);
                }
            }
        }
        norm_reduce_parts(part, nt, c);
        for (int64_t ch = 0; ch < c; ch++) {
            const double sg = part[ch], sgx = part[c + ch];
            const double is = (double)invstd[ch];
            if (gw) gw[ch] = (FT)(sgx * is);
            if (gb) gb[ch] = (FT)sg;
            ND(bn_bwd_coefs)(gamma ? (double)gamma[ch] : 1.0, is, sg, sgx, m, training, fv + ch,
                             fv + c + ch, fv + 2 * c + ch);
        }
        /* pass 2: gx, plane by plane */
        if (gx) {
            NORM_OMP_FOR(nt)
            for (int64_t p = 0; p < n * c; p++) {
                const int64_t ch = p % c, o = p * hw;
                if (training)
                    k->bwd_apply(hw, gy + o, x + o, mean[ch], (FT)1, fv[ch], fv[c + ch],
                                 fv[2 * c + ch], gx + o);
                else
                    k->apply(hw, gy + o, (FT)0, fv[ch], (FT)0, gx + o);
            }
        }
        free(part);
        free(fv);
        return;
    }
    const int nt = (int)FC_MIN((int64_t)norm_threads(2 * n * d), c);
    (void)nt;
    NORM_PARALLEL(nt) {
        const int t = NORM_TID(), tn = NORM_NT();
        const int64_t c0 = c * t / tn, c1 = c * (t + 1) / tn, j0 = c0 * hw;
        const int64_t len = (c1 - c0) * hw;
        if (len > 0) {
            double *sv = (double *)malloc(sizeof(double) * (size_t)(2 * len));
            FT *fv = ND(alloc)(4 * len);
            if (!sv) abort();
            double *sg = sv, *sgx = sv + len;
            FT *mv = fv, *av = fv + len, *bv = fv + 2 * len, *cv = fv + 3 * len;
            for (int64_t j = 0; j < len; j++) {
                sg[j] = sgx[j] = 0.0;
                mv[j] = mean[c0 + j / hw];
            }
            if (need_sums)
                for (int64_t i = 0; i < n; i++)
                    k->col_dsums(len, gy + i * d + j0, x + i * d + j0, mv, sg, sgx);
            for (int64_t ch = c0; ch < c1; ch++) {
                const int64_t o = (ch - c0) * hw;
                const double is = (double)invstd[ch];
                double tg = 0.0, tx = 0.0;
                for (int64_t j = 0; j < hw; j++) {
                    tg += sg[o + j];
                    tx += sgx[o + j];
                }
                if (gw) gw[ch] = (FT)(tx * is);
                if (gb) gb[ch] = (FT)tg;
                FT a, b, cc;
                ND(bn_bwd_coefs)(gamma ? (double)gamma[ch] : 1.0, is, tg, tx, m, training, &a,
                                 &b, &cc);
                for (int64_t j = 0; j < hw; j++) {
                    av[o + j] = a;
                    bv[o + j] = b;
                    cv[o + j] = cc;
                }
            }
            if (gx && !training) /* gx = gy * gamma * invstd; cv holds zeros here */
                for (int64_t i = 0; i < n; i++)
                    k->col_apply(len, gy + i * d + j0, cv, av, cv, gx + i * d + j0);
            else if (gx)
                for (int64_t i = 0; i < n; i++)
                    k->col_bwd_apply(len, gy + i * d + j0, x + i * d + j0, mv, av, bv, cv,
                                     gx + i * d + j0);
            free(sv);
            free(fv);
        }
    }
}

/* ---- layer norm ---- */

/* gamma, or a buffer of ones when gamma is NULL (beta: zeros); *own is set to free it */
static const FT *ND(or_const)(const FT *v, int64_t d, FT value, FT **own) {
    *own = NULL;
    if (v) return v;
    FT *p = ND(alloc)(d);
    for (int64_t j = 0; j < d; j++) p[j] = value;
    *own = p;
    return p;
}

void ND(fc_opt_layer_norm_forward)(int64_t rows, int64_t d, const FT *x, const FT *gamma,
                                   const FT *beta, double eps, FT *y, FT *mean, FT *rstd) {
    assert(rows >= 0 && d >= 1);
    if (rows == 0) return;
    const NK_TYPE *k = ND(pick)();
    FT *own_g, *own_b;
    const FT *g = ND(or_const)(gamma, d, (FT)1, &own_g);
    const FT *b = ND(or_const)(beta, d, (FT)0, &own_b);
    const int nt = (int)FC_MIN((int64_t)norm_threads(rows * d), rows);
    (void)nt;
    NORM_OMP_FOR(nt)
    for (int64_t r = 0; r < rows; r++) {
        const FT *xr = x + r * d;
        const double k0 = ND(shift)(xr[0]);
        double s = 0.0, q = 0.0, mu, v, rs;
        k->sums(d, xr, k0, &s, &q);
        ND(finish_stats)(k0, s, q, (double)d, eps, &mu, &v, &rs);
        k->ln_apply(d, xr, (FT)mu, (FT)rs, g, b, y + r * d);
        mean[r] = (FT)mu;
        rstd[r] = (FT)rs;
    }
    free(own_g);
    free(own_b);
}

void ND(fc_opt_layer_norm_backward)(int64_t rows, int64_t d, const FT *gy, const FT *x,
                                    const FT *gamma, const FT *mean, const FT *rstd, FT *gx,
                                    FT *gw, FT *gb) {
    assert(rows >= 0 && d >= 1);
    const NK_TYPE *k = ND(pick)();
    FT *own_g;
    const FT *g = ND(or_const)(gamma, d, (FT)1, &own_g);
    const int nt = (int)FC_MAX(1, FC_MIN((int64_t)norm_threads(2 * rows * d), rows));
    double *part = (double *)calloc((size_t)(2 * d) * (size_t)nt, sizeof(double));
    if (!part) abort();
    const double dd = (double)d;
    NORM_PARALLEL(nt) {
        const int t = NORM_TID(), tn = NORM_NT();
        double *pw = part + (int64_t)t * 2 * d, *pb = pw + d;
        for (int64_t r = rows * t / tn; r < rows * (t + 1) / tn; r++) {
            const int64_t o = r * d;
            const FT mu = mean[r];
            const double rs = (double)rstd[r];
            double s1 = 0.0, s2 = 0.0;
            k->ln_bwd_sums(d, gy + o, x + o, g, mu, rstd[r], &s1, &s2, pw, pb);
            if (gx)
                k->ln_bwd_apply(d, gy + o, x + o, g, mu, (FT)rs, (FT)(rs * rs * s2 / dd),
                                (FT)(s1 / dd), gx + o);
        }
    }
    ND(store_param_grads)(part, nt, d, gw, gb);
    free(part);
    free(own_g);
}

/* ---- group norm ---- */

void ND(fc_opt_group_norm_forward)(int64_t n, int64_t c, int64_t hw, int64_t groups,
                                   const FT *x, const FT *gamma, const FT *beta, double eps,
                                   FT *y, FT *mean, FT *rstd) {
    assert(n >= 0 && groups >= 1 && c % groups == 0 && hw >= 0 && (c / groups) * hw >= 1);
    const NK_TYPE *k = ND(pick)();
    const int64_t cg = c / groups, len = cg * hw, rows = n * groups;
    const int nt = (int)FC_MIN((int64_t)norm_threads(rows * len), FC_MAX(rows, 1));
    (void)nt;
    NORM_OMP_FOR(nt)
    for (int64_t i = 0; i < rows; i++) {
        const FT *xr = x + i * len;
        const double k0 = ND(shift)(xr[0]);
        double s = 0.0, q = 0.0, mu, v, rs;
        k->sums(len, xr, k0, &s, &q);
        ND(finish_stats)(k0, s, q, (double)len, eps, &mu, &v, &rs);
        for (int64_t kk = 0; kk < cg; kk++) {
            const int64_t ch = (i % groups) * cg + kk;
            const FT a = (FT)(gamma ? (double)gamma[ch] * rs : rs);
            k->apply(hw, xr + kk * hw, (FT)mu, a, beta ? beta[ch] : (FT)0,
                     y + i * len + kk * hw);
        }
        mean[i] = (FT)mu;
        rstd[i] = (FT)rs;
    }
}

void ND(fc_opt_group_norm_backward)(int64_t n, int64_t c, int64_t hw, int64_t groups,
                                    const FT *gy, const FT *x, const FT *gamma, const FT *mean,
                                    const FT *rstd, FT *gx, FT *gw, FT *gb) {
    assert(n >= 0 && groups >= 1 && c % groups == 0 && hw >= 0 && (c / groups) * hw >= 1);
    const NK_TYPE *k = ND(pick)();
    const int64_t cg = c / groups, len = cg * hw, rows = n * groups;
    const int nt = (int)FC_MAX(1, FC_MIN((int64_t)norm_threads(2 * rows * len), rows));
    double *part = (double *)calloc((size_t)(2 * c) * (size_t)nt, sizeof(double));
    if (!part) abort();
    NORM_PARALLEL(nt) {
        const int t = NORM_TID(), tn = NORM_NT();
        double *pw = part + (int64_t)t * 2 * c, *pb = pw + c;
        for (int64_t i = rows * t / tn; i < rows * (t + 1) / tn; i++) {
            const int64_t c0 = (i % groups) * cg;
            const FT mu = mean[i];
            const double rs = (double)rstd[i];
            double s1 = 0.0, s2 = 0.0;
            for (int64_t kk = 0; kk < cg; kk++) {
                double sg = 0.0, sgx = 0.0;
                const int64_t o = i * len + kk * hw;
                k->dsums(hw, gy + o, x + o, mu, &sg, &sgx);
                const double gm = gamma ? (double)gamma[c0 + kk] : 1.0;
                pw[c0 + kk] += sgx * rs;
                pb[c0 + kk] += sg;
                s1 += gm * sg;
                s2 += gm * sgx;
            }
            if (!gx) continue;
            const double ld = (double)len;
            const FT b = (FT)(rs * rs * s2 / ld), cc = (FT)(s1 / ld);
            for (int64_t kk = 0; kk < cg; kk++) {
                const int64_t o = i * len + kk * hw;
                const FT gm = gamma ? gamma[c0 + kk] : (FT)1;
                k->bwd_apply(hw, gy + o, x + o, mu, gm, (FT)rs, b, cc, gx + o);
            }
        }
    }
    ND(store_param_grads)(part, nt, c, gw, gb);
    free(part);
}

/* ---- dropout and activations: contiguous chunks over the threads ---- */

/* fn(chunk length, pointers at lo_ ...) over the threads' chunks of [0, size) */
#define ND_MAP(fn, size, ...)                                                                 \
    do {                                                                                    \
        const int nt_ = norm_threads(size);                                                 \
        (void)nt_;                                                                          \
        NORM_PARALLEL(nt_) {                                                                \
            int64_t lo_, hi_;                                                               \
            norm_chunk(size, NORM_TID(), NORM_NT(), &lo_, &hi_);                            \
            if (hi_ > lo_) fn(hi_ - lo_, __VA_ARGS__);                                      \
        }                                                                                   \
    } while (0)


void ND(fc_opt_dropout_forward)(int64_t size, const FT *x, uint64_t seed, uint32_t threshold,
                                double scale, FT *y, uint8_t *mask) {
    assert(size >= 0 && threshold <= (1U << 24));
    const NK_TYPE *k = ND(pick)();
    const int nt = norm_threads(size);
    (void)nt;
    NORM_PARALLEL(nt) {
        int64_t lo, hi;
        norm_chunk(size, NORM_TID(), NORM_NT(), &lo, &hi);
        while (lo < hi) { /* one call per block of 2^32 elements (the hash's key changes) */
            const int64_t end = FC_MIN(hi, (int64_t)((((uint64_t)lo >> 32) + 1) << 32));
            k->dropout_fwd(lo, end - lo, x + lo, seed, threshold, (FT)scale, y + lo, mask + lo);
            lo = end;
        }
    }
}

void ND(fc_opt_dropout_backward)(int64_t size, const FT *gy, const uint8_t *mask, double scale,
                                 FT *gx) {
    assert(size >= 0);
    const NK_TYPE *k = ND(pick)();
    ND_MAP(k->dropout_bwd, size, gy + lo_, mask + lo_, (FT)scale, gx + lo_);
}

void ND(fc_opt_sigmoid_forward)(int64_t size, const FT *x, FT *y) {
    const NK_TYPE *k = ND(pick)();
    ND_MAP(k->sigmoid_fwd, size, x + lo_, y + lo_);
}

void ND(fc_opt_sigmoid_backward)(int64_t size, const FT *gy, const FT *y, FT *gx) {
    const NK_TYPE *k = ND(pick)();
    ND_MAP(k->sigmoid_bwd, size, gy + lo_, y + lo_, gx + lo_);
}

void ND(fc_opt_tanh_forward)(int64_t size, const FT *x, FT *y) {
    const NK_TYPE *k = ND(pick)();
    ND_MAP(k->tanh_fwd, size, x + lo_, y + lo_);
}

void ND(fc_opt_tanh_backward)(int64_t size, const FT *gy, const FT *y, FT *gx) {
    const NK_TYPE *k = ND(pick)();
    ND_MAP(k->tanh_bwd, size, gy + lo_, y + lo_, gx + lo_);
}

void ND(fc_opt_leaky_relu_forward)(int64_t size, const FT *x, double negative_slope, FT *y) {
    const NK_TYPE *k = ND(pick)();
    ND_MAP(k->leaky_fwd, size, x + lo_, (FT)negative_slope, y + lo_);
}

void ND(fc_opt_leaky_relu_backward)(int64_t size, const FT *gy, const FT *x,
                                    double negative_slope, FT *gx) {
    const NK_TYPE *k = ND(pick)();
    ND_MAP(k->leaky_bwd, size, gy + lo_, x + lo_, (FT)negative_slope, gx + lo_);
}

#undef ND_MAP
#undef ND
#undef ND_TABLE
#undef ND_TABLE_
#undef ND_CAT
#undef ND_CAT_
