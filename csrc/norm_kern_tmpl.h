/*
 * norm_kern_tmpl.h -- the inner loops of norm.c for one dtype and one instruction set.
 * Included by norm.c with
 *   FT      float or double          SFX   f32 or f64
 *   ISA     scalar, avx2 or avx512   ATTR  the function attribute of that ISA (or nothing)
 *   FT_EXP, FT_TANH                  exp / tanh of FT
 * and defines the table NK_TABLE(SFX, ISA) of norm_kernels_SFX.  Every loop is plain C that
 * the compiler vectorises for ATTR's target; the avx2 and avx512 instances are the same
 * source.  Reductions keep independent accumulators (one vector lane each: NL doubles, or
 * GNU vectors of FT where the compiler has them), so that they vectorise without
 * reassociating a single sum.
 */
#define NK_CAT_(a, b, c) a##_##b##_##c
#define NK_CAT(a, b, c) NK_CAT_(a, b, c)
#define NK(name) NK_CAT(name, SFX, ISA)
/* lanes of one GNU vector of FT (32 bytes) */
#define VL ((int)(32 / sizeof(FT)))

/* s += sum(x - k), q += sum((x - k)^2).  With GNU vectors, 2 x VL lanes accumulate in FT
 * over blocks of at most NB values (so a float32 lane sums at most NB / (2 VL) = 64 terms), and
 * the blocks in double; the remainder (and the whole loop without GNU vectors) in double. */
ATTR static void NK(sums)(int64_t len, const FT *restrict x, double k, double *s, double *q) {
    const FT kf = (FT)k;
    double ts = 0.0, tq = 0.0;
    for (int64_t i0 = 0; i0 < len; i0 += NB) {
        const int64_t n = FC_MIN(NB, len - i0);
        const FT *restrict xb = x + i0;
        int64_t i = 0;
#ifdef NORM_VEC
        VEC a0 = {0}, a1 = {0}, q0 = {0}, q1 = {0};
        for (; i + 2 * VL <= n; i += 2 * VL) {
            VEC v0, v1;
            memcpy(&v0, xb + i, sizeof v0);
            memcpy(&v1, xb + i + VL, sizeof v1);
            v0 -= kf;
            v1 -= kf;
            a0 += v0;
            a1 += v1;
            q0 += v0 * v0;
            q1 += v1 * v1;
        }
        for (int l = 0; l < VL; l++) {
            ts += (double)a0[l] + (double)a1[l];
            tq += (double)q0[l] + (double)q1[l];
        }
#endif
        for (; i < n; i++) {
            const double d = (double)(xb[i] - kf);
            ts += d;
            tq += d * d;
        }
    }
    *s += ts;
    *q += tq;
}

/* per column j: s[j] += x[j] - k[j], q[j] += (x[j] - k[j])^2 */
ATTR static void NK(col_sums)(int64_t len, const FT *restrict x, const double *restrict k,
                              double *restrict s, double *restrict q) {
    for (int64_t j = 0; j < len; j++) {
        const double d = (double)x[j] - k[j];
        s[j] += d;
        q[j] += d * d;
    }
}

/* y = (x - m) * a + b */
ATTR static void NK(apply)(int64_t len, const FT *restrict x, FT m, FT a, FT b,
                           FT *restrict y) {
    for (int64_t j = 0; j < len; j++) y[j] = (x[j] - m) * a + b;
}

ATTR static void NK(col_apply)(int64_t len, const FT *restrict x, const FT *restrict m,
                               const FT *restrict a, const FT *restrict b, FT *restrict y) {
    for (int64_t j = 0; j < len; j++) y[j] = (x[j] - m[j]) * a[j] + b[j];
}

/* sg += sum(gy), sgx += sum(gy * (x - m)), blocked as in sums */
ATTR static void NK(dsums)(int64_t len, const FT *restrict gy, const FT *restrict x, FT m,
                           double *sg, double *sgx) {
    double tg = 0.0, tx = 0.0;
    for (int64_t i0 = 0; i0 < len; i0 += NB) {
        const int64_t n = FC_MIN(NB, len - i0);
        const FT *restrict gb = gy + i0, *restrict xb = x + i0;
        int64_t i = 0;
#ifdef NORM_VEC
        VEC g0 = {0}, g1 = {0}, p0 = {0}, p1 = {0};
        for (; i + 2 * VL <= n; i += 2 * VL) {
            VEC u0, u1, v0, v1;
            memcpy(&u0, gb + i, sizeof u0);
            memcpy(&u1, gb + i + VL, sizeof u1);
            memcpy(&v0, xb + i, sizeof v0);
            memcpy(&v1, xb + i + VL, sizeof v1);
            g0 += u0;
            g1 += u1;
            p0 += u0 * (v0 - m);
            p1 += u1 * (v1 - m);
        }
        for (int l = 0; l < VL; l++) {
            tg += (double)g0[l] + (double)g1[l];
            tx += (double)p0[l] + (double)p1[l];
        }
#endif
        for (; i < n; i++) {
            tg += (double)gb[i];
            tx += (double)gb[i] * (double)(xb[i] - m);
        }
    }
    *sg += tg;
    *sgx += tx;
}

ATTR static void NK(col_dsums)(int64_t len, const FT *restrict gy, const FT *restrict x,
                               const FT *restrict m, double *restrict sg,
                               double *restrict sgx) {
    for (int64_t j = 0; j < len; j++) {
        const double g = (double)gy[j];
        sg[j] += g;
        sgx[j] += g * (double)(x[j] - m[j]);
    }
}

/* gx = ((gy * g1 - c) - (x - m) * b) * a: the mean of the gradient is subtracted before the
 * scaling, so a gradient that cancels (a group of one value, say) stays exactly 0 */
ATTR static void NK(bwd_apply)(int64_t len, const FT *restrict gy, const FT *restrict x, FT m,
                               FT g1, FT a, FT b, FT c, FT *restrict gx) {
    for (int64_t j = 0; j < len; j++) gx[j] = ((gy[j] * g1 - c) - (x[j] - m) * b) * a;
}

ATTR static void NK(col_bwd_apply)(int64_t len, const FT *restrict gy, const FT *restrict x,
                                   const FT *restrict m, const FT *restrict a,
                                   const FT *restrict b, const FT *restrict c,
                                   FT *restrict gx) {
    for (int64_t j = 0; j < len; j++) gx[j] = ((gy[j] - c[j]) - (x[j] - m[j]) * b[j]) * a[j];
}

/* y = (x - m) * r * gamma + beta (layer norm's elementwise affine) */
ATTR static void NK(ln_apply)(int64_t len, const FT *restrict x, FT m, FT r,
                              const FT *restrict gamma, const FT *restrict beta,
                              FT *restrict y) {
    for (int64_t j = 0; j < len; j++) y[j] = ((x[j] - m) * r) * gamma[j] + beta[j];
}

/* s1 += sum(gy * gamma), s2 += sum(gy * gamma * (x - m)); per column gw[j] += gy * (x - m) * r,
 * gb[j] += gy */
ATTR static void NK(ln_bwd_sums)(int64_t len, const FT *restrict gy, const FT *restrict x,
                                 const FT *restrict gamma, FT m, FT r, double *s1, double *s2,
                                 double *restrict gw, double *restrict gb) {
    double a1[NL] = {0}, a2[NL] = {0};
    const double rd = (double)r;
    int64_t i = 0;
    for (; i + NL <= len; i += NL)
        for (int l = 0; l < NL; l++) {
            const double g = (double)gy[i + l], d = (double)(x[i + l] - m);
            const double gg = g * (double)gamma[i + l];
            a1[l] += gg;
            a2[l] += gg * d;
            gw[i + l] += g * d * rd;
            gb[i + l] += g;
        }
    double t1 = 0.0, t2 = 0.0;
    for (; i < len; i++) {
        const double g = (double)gy[i], d = (double)(x[i] - m);
        const double gg = g * (double)gamma[i];
        t1 += gg;
        t2 += gg * d;
        gw[i] += g * d * rd;
        gb[i] += g;
    }
    for (int l = 0; l < NL; l++) {
        t1 += a1[l];
        t2 += a2[l];
    }
    *s1 += t1;
    *s2 += t2;
}

/* gx = ((gy * gamma - c) - (x - m) * b) * a */
ATTR static void NK(ln_bwd_apply)(int64_t len, const FT *restrict gy, const FT *restrict x,
                                  const FT *restrict gamma, FT m, FT a, FT b, FT c,
                                  FT *restrict gx) {
    for (int64_t j = 0; j < len; j++) gx[j] = ((gy[j] * gamma[j] - c) - (x[j] - m) * b) * a;
}

/* Dropout over the elements [lo, lo + len) of one block of 2^32 (lo >> 32 is constant). */
ATTR static void NK(dropout_fwd)(int64_t lo, int64_t len, const FT *restrict x, uint64_t seed,
                                 uint32_t thr, FT scale, FT *restrict y,
                                 uint8_t *restrict mask) {
    const uint32_t k1 = fc_dropout_key(seed, (uint32_t)((uint64_t)lo >> 32));
    const uint32_t k2 = (uint32_t)(seed >> 32), base = (uint32_t)lo;
    for (int64_t i = 0; i < len; i++) {
        const uint32_t h = fc_mix32(fc_mix32((base + (uint32_t)i) ^ k1) + k2);
        const int keep = (h >> 8) >= thr;
        mask[i] = (uint8_t)keep;
        y[i] = x[i] * (keep ? scale : (FT)0);
    }
}

ATTR static void NK(dropout_bwd)(int64_t len, const FT *restrict gy,
                                 const uint8_t *restrict mask, FT scale, FT *restrict gx) {
    for (int64_t i = 0; i < len; i++) gx[i] = gy[i] * (mask[i] ? scale : (FT)0);
}

ATTR static void NK(sigmoid_fwd)(int64_t len, const FT *restrict x, FT *restrict y) {
    for (int64_t i = 0; i < len; i++) y[i] = (FT)1 / ((FT)1 + FT_EXP(-x[i]));
}

ATTR static void NK(sigmoid_bwd)(int64_t len, const FT *restrict gy, const FT *restrict y,
                                 FT *restrict gx) {
    for (int64_t i = 0; i < len; i++) gx[i] = gy[i] * (y[i] * ((FT)1 - y[i]));
}

ATTR static void NK(tanh_fwd)(int64_t len, const FT *restrict x, FT *restrict y) {
    for (int64_t i = 0; i < len; i++) y[i] = FT_TANH(x[i]);
}

ATTR static void NK(tanh_bwd)(int64_t len, const FT *restrict gy, const FT *restrict y,
                              FT *restrict gx) {
    for (int64_t i = 0; i < len; i++) gx[i] = gy[i] * ((FT)1 - y[i] * y[i]);
}

ATTR static void NK(leaky_fwd)(int64_t len, const FT *restrict x, FT slope, FT *restrict y) {
    for (int64_t i = 0; i < len; i++) y[i] = x[i] > (FT)0 ? x[i] : x[i] * slope;
}

ATTR static void NK(leaky_bwd)(int64_t len, const FT *restrict gy, const FT *restrict x,
                               FT slope, FT *restrict gx) {
    for (int64_t i = 0; i < len; i++) gx[i] = x[i] > (FT)0 ? gy[i] : gy[i] * slope;
}

static const NK_TYPE NK(norm_kernels) = {
    NK(sums),        NK(col_sums),    NK(apply),       NK(col_apply),   NK(dsums),
    NK(col_dsums),   NK(bwd_apply),   NK(col_bwd_apply), NK(ln_apply),  NK(ln_bwd_sums),
    NK(ln_bwd_apply), NK(dropout_fwd), NK(dropout_bwd), NK(sigmoid_fwd), NK(sigmoid_bwd),
    NK(tanh_fwd),    NK(tanh_bwd),    NK(leaky_fwd),   NK(leaky_bwd),
};

#undef NK
#undef VL
#undef NK_CAT
#undef NK_CAT_
