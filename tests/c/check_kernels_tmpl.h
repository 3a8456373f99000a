/*
 * check_kernels_tmpl.h -- the checks of check_kernels.c for one dtype; included with T
 * (float or double), SFX (f32 or f64), RTOL and ATOL defined.
 */
#define CK_CAT_(a, b) a##_##b
#define CK_CAT(a, b) CK_CAT_(a, b)
#define FN(name) CK_CAT(name, SFX)
#define FC(name) CK_CAT(fc_##name, SFX) /* the public kernel fc_<name>_<sfx> */

/* Runs CALL once on the reference path and once on the path under test. */
#define TWICE(CALL_WANT, CALL_GOT)                                                           \
    do {                                                                                    \
        set_path("reference");                                                              \
        CALL_WANT;                                                                          \
        set_path(g_path);                                                                   \
        CALL_GOT;                                                                           \
    } while (0)

static T *FN(arr)(int64_t n, double scale)
{
    T *p = (T *)xmalloc(sizeof(T) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = (T)(scale * urand());
    return p;
}
/* output buffers: the two runs start from different garbage, so an output element that a
 * kernel fails to write shows up as a mismatch */
static T *FN(out)(int64_t n, double fill)
{
    T *p = (T *)xmalloc(sizeof(T) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = (T)fill;
    return p;
}
static T *FN(copy)(const T *src, int64_t n)
{
    T *p = (T *)xmalloc(sizeof(T) * (size_t)n);
    memcpy(p, src, sizeof(T) * (size_t)n);
    return p;
}

static int FN(close)(const T *got, const T *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const double g = (double)got[i], w = (double)want[i];
        if (isnan(w) || isnan(g)) {
            if (!(isnan(w) && isnan(g))) return 0;
            continue;
        }
        if (!(fabs(g - w) <= ATOL + RTOL * fabs(w))) return 0;
    }
    return 1;
}

/* ---- GEMM ---- */
static void FN(check_gemm)(void)
{
    tally *t = kernel("gemm");
    fc_gemm_blocking blk;
    if (fc_get_gemm_blocking(g_path, (int)sizeof(T), &blk) != 0) {
        report(t, 0, "no blocking");
        return;
    }
    const int64_t MR = blk.mr, NR = blk.nr;
    const int64_t ms[] = {1, MR - 1, MR, MR + 1, 2 * MR + 3};
    const int64_t ns[] = {1, NR - 1, NR, NR + 1, 3 * NR + 5};
    const int64_t ks[] = {1, 7, blk.kc + 3};
    char what[160];
    int variant = 0;
    for (size_t im = 0; im < sizeof ms / sizeof ms[0]; im++)
        for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++)
            for (size_t ik = 0; ik < sizeof ks / sizeof ks[0]; ik++) {
                const int64_t m = ms[im] > 0 ? ms[im] : 1, n = ns[in] > 0 ? ns[in] : 1;
                const int64_t k = ks[ik];
                const int ta = variant & 1, tb = (variant >> 1) & 1;
                const T alpha = (variant % 3 == 0) ? (T)1 : (T)0.5;
                const T beta = (variant % 4 == 1) ? (T)0.75 : (T)0;
                variant++;
                const int64_t lda = (ta ? m : k) + (variant & 2), ldb = (tb ? k : n) + 1;
                const int64_t ldc = n + (variant & 1) * 3;
                T *a = FN(arr)((ta ? k : m) * lda, 1.0 / sqrt((double)k));
                T *b = FN(arr)((tb ? n : k) * ldb, 1.0);
                T *c0 = FN(arr)(m * ldc, 1.0);
                T *cw = FN(copy)(c0, m * ldc), *cg = FN(copy)(c0, m * ldc);
                if (beta == 0)
                    for (int64_t i = 0; i < m * ldc; i++) cg[i] = (T)NAN; /* never read */
                TWICE(FC(gemm)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cw, ldc),
                      FC(gemm)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cg, ldc));
                int ok = 1;
                for (int64_t i = 0; i < m; i++) ok &= FN(close)(cg + i * ldc, cw + i * ldc, n);
                snprintf(what, sizeof what, "m=%lld n=%lld k=%lld ta=%d tb=%d beta=%g",
                         (long long)m, (long long)n, (long long)k, ta, tb, (double)beta);
                report(t, ok, what);
                free(a), free(b), free(c0), free(cw), free(cg);
            }
}

/* ---- linear ---- */
static void FN(check_linear)(void)
{
    tally *tf = kernel("linear_forward"), *tb = kernel("linear_backward");
    tally *trf = kernel("linear_relu_forward"), *trb = kernel("linear_relu_backward");
    const int64_t nsz[] = {1, 5, 13}, ins[] = {1, 9, 33}, outs[] = {1, 7, 12, 13};
    char what[96];
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 3; b++)
            for (size_t c = 0; c < 4; c++) {
                const int64_t n = nsz[a], in = ins[b], out = outs[c];
                snprintf(what, sizeof what, "n=%lld in=%lld out=%lld", (long long)n,
                         (long long)in, (long long)out);
                T *x = FN(arr)(n * in, 1.0), *w = FN(arr)(out * in, 1.0 / sqrt((double)in));
                T *bias = FN(arr)(out, 1.0), *gy = FN(arr)(n * out, 1.0 / sqrt((double)n));
                T *yw = FN(out)(n * out, -7), *yg = FN(out)(n * out, NAN);
                const T *bb = (c & 1) ? bias : NULL;
                TWICE(FC(linear_forward)(n, in, out, x, w, bb, yw),
                      FC(linear_forward)(n, in, out, x, w, bb, yg));
                report(tf, FN(close)(yg, yw, n * out), what);
                TWICE(FC(linear_relu_forward)(n, in, out, x, w, bb, yw),
                      FC(linear_relu_forward)(n, in, out, x, w, bb, yg));
                report(trf, FN(close)(yg, yw, n * out), what);
                T *gxw = FN(out)(n * in, -7), *gxg = FN(out)(n * in, NAN);
                T *gww = FN(out)(out * in, -7), *gwg = FN(out)(out * in, NAN);
                T *gbw = FN(out)(out, -7), *gbg = FN(out)(out, NAN);
                TWICE(FC(linear_relu_backward)(n, in, out, gy, yw, x, w, gxw, gww, gbw),
                      FC(linear_relu_backward)(n, in, out, gy, yw, x, w, gxg, gwg, gbg));
                report(trb, FN(close)(gxg, gxw, n * in) && FN(close)(gwg, gww, out * in) &&
                                FN(close)(gbg, gbw, out), what);
                TWICE(FC(linear_backward)(n, in, out, gy, x, w, gxw, gww, gbw),
                      FC(linear_backward)(n, in, out, gy, x, w, gxg, gwg, gbg));
                report(tb, FN(close)(gxg, gxw, n * in) && FN(close)(gwg, gww, out * in) &&
                               FN(close)(gbg, gbw, out), what);
                free(x), free(w), free(bias), free(gy), free(yw), free(yg);
                free(gxw), free(gxg), free(gww), free(gwg), free(gbw), free(gbg);
            }
}

/* ---- conv2d ---- */
typedef struct {
    int64_t n, cin, h, w, cout, kh, kw, s, pad_h, pad_w, dil, groups;
    int winograd; /* fc_set_conv_winograd mode for the case */
} FN(conv_case);

static fc_conv2d_params FN(conv_params)(const FN(conv_case) * c)
{
    fc_conv2d_params p = {c->n, c->cin, c->h, c->w, c->cout, c->kh, c->kw, c->s, c->s,
                          c->pad_h, c->pad_w, c->dil, c->dil, c->groups, 0, 0};
    p.out_h = (c->h + 2 * c->pad_h - c->dil * (c->kh - 1) - 1) / c->s + 1;
    p.out_w = (c->w + 2 * c->pad_w - c->dil * (c->kw - 1) - 1) / c->s + 1;
    return p;
}

static const FN(conv_case) FN(conv_cases)[] = {
    /* n cin  h   w cout kh kw  s ph pw  d  g  winograd */
    {2, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1},      /* 3x3 pad 1, odd sizes */
    {1, 4, 13, 10, 6, 5, 5, 2, 0, 0, 1, 1, 1},     /* 5x5 stride 2 */
    {1, 3, 12, 12, 4, 3, 3, 1, 2, 2, 2, 1, 1},     /* dilation 2 */
    {2, 6, 10, 9, 6, 3, 3, 1, 1, 1, 1, 6, 1},      /* depthwise */
    {1, 6, 11, 13, 6, 3, 3, 2, 1, 1, 1, 6, 1},     /* depthwise stride 2 */
    {2, 1, 9, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1},      /* one input channel, 3x3 stride 1 */
    {1, 1, 7, 5, 3, 3, 3, 1, 0, 0, 1, 1, 1},       /* the same, unpadded, narrow */
    {2, 7, 6, 5, 9, 1, 1, 1, 0, 0, 1, 1, 1},       /* pointwise */
    {1, 4, 8, 7, 6, 3, 3, 1, 1, 1, 1, 2, 1},       /* two groups */
    {1, 3, 9, 8, 5, 2, 3, 1, 1, 0, 1, 1, 1},       /* 2x3 kernel, padding (1, 0) */
    {2, 16, 12, 12, 32, 3, 3, 1, 1, 1, 1, 1, 1},   /* wide enough for the implicit GEMM */
    {1, 5, 10, 11, 17, 3, 3, 1, 1, 1, 1, 1, 2},    /* Winograd F(2x2, 3x3) forced */
    {2, 16, 9, 10, 13, 3, 3, 1, 0, 0, 1, 1, 2},    /* Winograd, odd output, unpadded */
    {1, 5, 10, 11, 17, 3, 3, 1, 1, 1, 1, 1, 4},    /* Winograd F(4x4, 3x3) forced */
    {2, 16, 9, 10, 13, 3, 3, 1, 0, 0, 1, 1, 4},    /* F(4x4), odd output, unpadded */
    {1, 8, 17, 23, 9, 3, 3, 1, 2, 2, 1, 1, 4},     /* F(4x4), padding 2, 5 x 6 tiles */
};

static void FN(check_conv)(void)
{
    tally *tf = kernel("conv2d_forward"), *tb = kernel("conv2d_backward");
    tally *tbf = kernel("conv2d_block_forward"), *tbb = kernel("conv2d_block_backward");
    char what[160];
    for (size_t ci = 0; ci < sizeof FN(conv_cases) / sizeof FN(conv_cases)[0]; ci++) {
        const FN(conv_case) *c = &FN(conv_cases)[ci];
        const fc_conv2d_params p = FN(conv_params)(c);
        const int64_t cin_g = c->cin / c->groups, K = cin_g * c->kh * c->kw;
        const int64_t xn = p.n * p.c_in * p.h * p.w, wn = p.c_out * K;
        const int64_t yn = p.n * p.c_out * p.out_h * p.out_w;
        snprintf(what, sizeof what, "case %zu (n=%lld cin=%lld %lldx%lld cout=%lld k=%lldx%lld "
                 "s=%lld g=%lld)", ci, (long long)c->n, (long long)c->cin, (long long)c->h,
                 (long long)c->w, (long long)c->cout, (long long)c->kh, (long long)c->kw,
                 (long long)c->s, (long long)c->groups);
        const int old_wg = fc_set_conv_winograd(c->winograd);
        T *x = FN(arr)(xn, 1.0), *w = FN(arr)(wn, 1.0 / sqrt((double)K)), *b = FN(arr)(p.c_out, 1);
        T *gy = FN(arr)(yn, 1.0 / sqrt((double)(p.n * p.out_h * p.out_w)));
        T *yw = FN(out)(yn, -7), *yg = FN(out)(yn, NAN);
        TWICE(FC(conv2d_forward)(&p, x, w, b, yw), FC(conv2d_forward)(&p, x, w, b, yg));
        report(tf, FN(close)(yg, yw, yn), what);
        T *gxw = FN(out)(xn, -7), *gxg = FN(out)(xn, NAN), *gww = FN(out)(wn, -7);
        T *gwg = FN(out)(wn, NAN), *gbw = FN(out)(p.c_out, -7), *gbg = FN(out)(p.c_out, NAN);
        TWICE(FC(conv2d_backward)(&p, gy, x, w, gxw, gww, gbw),
              FC(conv2d_backward)(&p, gy, x, w, gxg, gwg, gbg));
        report(tb, FN(close)(gxg, gxw, xn) && FN(close)(gwg, gww, wn) &&
                       FN(close)(gbg, gbw, p.c_out), what);
        /* blocks: relu, relu + 2x2 pool, relu + 3x3 pool */
        for (int64_t pool = 0; pool <= 3; pool++) {
            if (pool == 1 || (pool && (p.out_h < pool || p.out_w < pool))) continue;
            const fc_conv2d_block blk = {1, pool};
            const int64_t oh = pool ? p.out_h / pool : p.out_h, ow = pool ? p.out_w / pool : p.out_w;
            const int64_t bn = p.n * p.c_out * oh * ow;
            T *bw = FN(out)(bn, -7), *bg = FN(out)(bn, NAN);
            uint8_t *iw = (uint8_t *)xmalloc((size_t)bn), *ig = (uint8_t *)xmalloc((size_t)bn);
            memset(iw, 0xee, (size_t)bn);
            memset(ig, 0xdd, (size_t)bn);
            TWICE(FC(conv2d_block_forward)(&p, &blk, x, w, b, bw, pool ? iw : NULL),
                  FC(conv2d_block_forward)(&p, &blk, x, w, b, bg, pool ? ig : NULL));
            report(tbf, FN(close)(bg, bw, bn) && (!pool || same_bytes(ig, iw, (size_t)bn)),
                   what);
            T *bgy = FN(arr)(bn, 1.0 / sqrt((double)(p.n * oh * ow)));
            TWICE(FC(conv2d_block_backward)(&p, &blk, bgy, bw, pool ? iw : NULL, x, w, gxw, gww,
                                            gbw),
                  FC(conv2d_block_backward)(&p, &blk, bgy, bw, pool ? iw : NULL, x, w, gxg, gwg,
                                            gbg));
            report(tbb, FN(close)(gxg, gxw, xn) && FN(close)(gwg, gww, wn) &&
                            FN(close)(gbg, gbw, p.c_out), what);
            free(bw), free(bg), free(iw), free(ig), free(bgy);
        }
        fc_set_conv_winograd(old_wg);
        free(x), free(w), free(b), free(gy), free(yw), free(yg);
        free(gxw), free(gxg), free(gww), free(gwg), free(gbw), free(gbg);
    }
}

/* ---- pooling ---- */
typedef struct {
    int64_t n, c, h, w, kh, kw, s, pad, dil;
    int incl, nans;
} FN(pool_case);

static const FN(pool_case) FN(pool_cases)[] = {
    /* n  c   h   w kh kw  s pad dil incl nans */
    {2, 3, 8, 9, 2, 2, 2, 0, 1, 0, 0},    /* 2x2 stride 2, odd width */
    {1, 2, 7, 19, 2, 2, 2, 0, 1, 0, 1},   /* the same with NaNs, a vector tail */
    {1, 2, 6, 16, 2, 2, 2, 0, 1, 0, 0},   /* full vectors */
    {2, 2, 11, 13, 3, 3, 2, 1, 1, 1, 0},  /* 3x3 stride 2 pad 1 */
    {1, 3, 9, 10, 3, 3, 1, 0, 1, 0, 1},   /* 3x3 stride 1, NaNs */
    {1, 2, 12, 23, 5, 5, 3, 2, 1, 0, 0},  /* 5x5 stride 3 pad 2 */
    {1, 2, 10, 11, 2, 3, 1, 1, 2, 0, 0},  /* 2x3 dilation 2 (max only) */
    {1, 1, 5, 5, 1, 1, 1, 0, 1, 0, 0},    /* 1x1 */
};

static void FN(check_pool)(void)
{
    tally *tmf = kernel("max_pool2d_forward"), *tmb = kernel("max_pool2d_backward");
    tally *taf = kernel("avg_pool2d_forward"), *tab = kernel("avg_pool2d_backward");
    tally *tgf = kernel("global_avg_pool2d_fwd"), *tgb = kernel("global_avg_pool2d_bwd");
    char what[96];
    for (size_t ci = 0; ci < sizeof FN(pool_cases) / sizeof FN(pool_cases)[0]; ci++) {
        const FN(pool_case) *c = &FN(pool_cases)[ci];
        fc_pool2d_params p = {c->n, c->c, c->h, c->w, c->kh, c->kw, c->s, c->s, c->pad, c->pad,
                              c->dil, c->dil, 0, 0, c->incl};
        p.out_h = (c->h + 2 * c->pad - c->dil * (c->kh - 1) - 1) / c->s + 1;
        p.out_w = (c->w + 2 * c->pad - c->dil * (c->kw - 1) - 1) / c->s + 1;
        const int64_t nc = p.n * p.c, in_plane = p.h * p.w, out_plane = p.out_h * p.out_w;
        const int64_t xn = nc * in_plane, yn = nc * out_plane;
        snprintf(what, sizeof what, "case %zu (%lldx%lld k=%lldx%lld s=%lld pad=%lld dil=%lld)",
                 ci, (long long)c->h, (long long)c->w, (long long)c->kh, (long long)c->kw,
                 (long long)c->s, (long long)c->pad, (long long)c->dil);
        T *x = FN(arr)(xn, 1.0);
        if (c->nans)
            for (int64_t i = 3; i < xn; i += 7) x[i] = (T)NAN;
        T *yw = FN(out)(yn, -7), *yg = FN(out)(yn, 11);
        int64_t *iw = (int64_t *)xmalloc(sizeof(int64_t) * (size_t)yn);
        int64_t *ig = (int64_t *)xmalloc(sizeof(int64_t) * (size_t)yn);
        for (int64_t i = 0; i < yn; i++) iw[i] = -1, ig[i] = -2;
        TWICE(FC(max_pool2d_forward)(&p, x, yw, iw), FC(max_pool2d_forward)(&p, x, yg, ig));
        report(tmf, FN(close)(yg, yw, yn) && same_bytes(ig, iw, sizeof(int64_t) * (size_t)yn),
               what);
        T *gy = FN(arr)(yn, 1.0), *gxw = FN(out)(xn, -7), *gxg = FN(out)(xn, NAN);
        int64_t rw = -5, rg = -6;
        TWICE(rw = FC(max_pool2d_backward)(nc, p.h, p.w, p.out_h, p.out_w, gy, iw, gxw),
              rg = FC(max_pool2d_backward)(nc, p.h, p.w, p.out_h, p.out_w, gy, iw, gxg));
        report(tmb, rw == rg && FN(close)(gxg, gxw, xn), what);
        if (c->dil == 1 && !c->nans) {
            TWICE(FC(avg_pool2d_forward)(&p, x, yw), FC(avg_pool2d_forward)(&p, x, yg));
            report(taf, FN(close)(yg, yw, yn), what);
            TWICE(FC(avg_pool2d_backward)(&p, gy, gxw), FC(avg_pool2d_backward)(&p, gy, gxg));
            report(tab, FN(close)(gxg, gxw, xn), what);
        }
        T *gw = FN(out)(nc, -7), *gg = FN(out)(nc, NAN);
        TWICE(FC(global_avg_pool2d_forward)(nc, in_plane, x, gw),
              FC(global_avg_pool2d_forward)(nc, in_plane, x, gg));
        report(tgf, FN(close)(gg, gw, nc), what);
        TWICE(FC(global_avg_pool2d_backward)(nc, in_plane, gy, gxw),
              FC(global_avg_pool2d_backward)(nc, in_plane, gy, gxg));
        report(tgb, FN(close)(gxg, gxw, xn), what);
        free(x), free(yw), free(yg), free(iw), free(ig), free(gy), free(gxw), free(gxg);
        free(gw), free(gg);
    }
}

/* ---- elementwise, loss, normalisation ---- */
static void FN(check_elementwise)(void)
{
    tally *trf = kernel("relu_forward"), *trb = kernel("relu_backward");
    tally *tsf = kernel("sigmoid_fwd_bwd"), *ttf = kernel("tanh_fwd_bwd");
    tally *tlf = kernel("leaky_relu_fwd_bwd"), *tdr = kernel("dropout_fwd_bwd");
    const int64_t sizes[] = {1, 3, 4, 5, 8, 17, 64, 1003};
    char what[64];
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t n = sizes[si];
        snprintf(what, sizeof what, "size %lld", (long long)n);
        T *x = FN(arr)(n, 3.0), *gy = FN(arr)(n, 1.0);
        if (n > 2) x[n / 2] = (T)NAN;
        T *yw = FN(out)(n, -7), *yg = FN(out)(n, 11), *gw = FN(out)(n, -7), *gg = FN(out)(n, 11);
        TWICE(FC(relu_forward)(n, x, yw), FC(relu_forward)(n, x, yg));
        report(trf, FN(close)(yg, yw, n), what);
        TWICE(FC(relu_backward)(n, gy, yw, gw), FC(relu_backward)(n, gy, yw, gg));
        report(trb, FN(close)(gg, gw, n), what);
        TWICE(FC(sigmoid_forward)(n, x, yw), FC(sigmoid_forward)(n, x, yg));
        int ok = FN(close)(yg, yw, n);
        TWICE(FC(sigmoid_backward)(n, gy, yw, gw), FC(sigmoid_backward)(n, gy, yw, gg));
        report(tsf, ok && FN(close)(gg, gw, n), what);
        TWICE(FC(tanh_forward)(n, x, yw), FC(tanh_forward)(n, x, yg));
        ok = FN(close)(yg, yw, n);
        TWICE(FC(tanh_backward)(n, gy, yw, gw), FC(tanh_backward)(n, gy, yw, gg));
        report(ttf, ok && FN(close)(gg, gw, n), what);
        TWICE(FC(leaky_relu_forward)(n, x, 0.01, yw), FC(leaky_relu_forward)(n, x, 0.01, yg));
        ok = FN(close)(yg, yw, n);
        TWICE(FC(leaky_relu_backward)(n, gy, x, 0.01, gw),
              FC(leaky_relu_backward)(n, gy, x, 0.01, gg));
        report(tlf, ok && FN(close)(gg, gw, n), what);
        uint8_t *mw = (uint8_t *)xmalloc((size_t)n), *mg = (uint8_t *)xmalloc((size_t)n);
        memset(mw, 7, (size_t)n);
        memset(mg, 9, (size_t)n);
        const uint32_t thr = (uint32_t)(0.3 * (1 << 24));
        TWICE(FC(dropout_forward)(n, x, 42, thr, 1 / 0.7, yw, mw),
              FC(dropout_forward)(n, x, 42, thr, 1 / 0.7, yg, mg));
        ok = FN(close)(yg, yw, n) && same_bytes(mg, mw, (size_t)n);
        TWICE(FC(dropout_backward)(n, gy, mw, 1 / 0.7, gw),
              FC(dropout_backward)(n, gy, mw, 1 / 0.7, gg));
        report(tdr, ok && FN(close)(gg, gw, n), what);
        free(x), free(gy), free(yw), free(yg), free(gw), free(gg), free(mw), free(mg);
    }
}

static void FN(check_loss)(void)
{
    tally *ts = kernel("softmax_log_softmax"), *tc = kernel("cross_entropy_fwd_bwd");
    const int64_t rows_[] = {1, 3, 7}, cols_[] = {1, 5, 37};
    char what[64];
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 3; b++) {
            const int64_t r = rows_[a], c = cols_[b], n = r * c;
            snprintf(what, sizeof what, "rows %lld cols %lld", (long long)r, (long long)c);
            T *x = FN(arr)(n, 4.0), *yw = FN(out)(n, -7), *yg = FN(out)(n, NAN);
            TWICE(FC(softmax)(r, c, x, yw), FC(softmax)(r, c, x, yg));
            int ok = FN(close)(yg, yw, n);
            TWICE(FC(log_softmax)(r, c, x, yw), FC(log_softmax)(r, c, x, yg));
            report(ts, ok && FN(close)(yg, yw, n), what);
            int64_t *tgt = (int64_t *)xmalloc(sizeof(int64_t) * (size_t)r);
            for (int64_t i = 0; i < r; i++) tgt[i] = (i * 7 + 3) % c;
            ok = 1;
            for (int red = 0; red <= 2; red++) {
                const int64_t no = red == FC_REDUCTION_NONE ? r : 1;
                T *lw = FN(out)(no, -7), *lg = FN(out)(no, NAN), *gl = FN(arr)(no, 1.0);
                TWICE(FC(cross_entropy_forward)(r, c, x, tgt, 0.1, red, lw),
                      FC(cross_entropy_forward)(r, c, x, tgt, 0.1, red, lg));
                ok &= FN(close)(lg, lw, no);
                TWICE(FC(cross_entropy_backward)(r, c, x, tgt, 0.1, red, gl, yw),
                      FC(cross_entropy_backward)(r, c, x, tgt, 0.1, red, gl, yg));
                ok &= FN(close)(yg, yw, n);
                free(lw), free(lg), free(gl);
            }
            report(tc, ok, what);
            free(x), free(yw), free(yg), free(tgt);
        }
}

static void FN(check_norm)(void)
{
    tally *tbn = kernel("batch_norm"), *tln = kernel("layer_norm"), *tgn = kernel("group_norm");
    const int64_t shapes[][3] = {{1, 1, 1}, {2, 3, 5}, {4, 4, 17}, {3, 6, 9}}; /* n c hw */
    char what[64];
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t n = shapes[si][0], c = shapes[si][1], hw = shapes[si][2], sz = n * c * hw;
        snprintf(what, sizeof what, "n=%lld c=%lld hw=%lld", (long long)n, (long long)c,
                 (long long)hw);
        T *x = FN(arr)(sz, 2.0), *gy = FN(arr)(sz, 1.0), *ga = FN(arr)(c, 1.0);
        T *be = FN(arr)(c, 1.0);
        T *yw = FN(out)(sz, -7), *yg = FN(out)(sz, NAN), *gxw = FN(out)(sz, -7);
        T *gxg = FN(out)(sz, NAN);
        T *mw = FN(out)(sz, -7), *mg = FN(out)(sz, NAN), *vw = FN(out)(sz, -7);
        T *vg = FN(out)(sz, NAN), *iw = FN(out)(sz, -7), *ig = FN(out)(sz, NAN);
        T *gww = FN(out)(sz, -7), *gwg = FN(out)(sz, NAN), *gbw = FN(out)(sz, -7);
        T *gbg = FN(out)(sz, NAN);
        int ok = 1;
        if (n * hw > 1) {
            TWICE(FC(batch_norm_forward_train)(n, c, hw, x, ga, be, 1e-5, yw, mw, vw, iw),
                  FC(batch_norm_forward_train)(n, c, hw, x, ga, be, 1e-5, yg, mg, vg, ig));
            ok &= FN(close)(yg, yw, sz) && FN(close)(mg, mw, c) && FN(close)(vg, vw, c) &&
                  FN(close)(ig, iw, c);
            TWICE(FC(batch_norm_backward)(n, c, hw, gy, x, ga, mw, iw, 1, gxw, gww, gbw),
                  FC(batch_norm_backward)(n, c, hw, gy, x, ga, mw, iw, 1, gxg, gwg, gbg));
            ok &= FN(close)(gxg, gxw, sz) && FN(close)(gwg, gww, c) && FN(close)(gbg, gbw, c);
        }
        T *var = FN(arr)(c, 1.0);
        for (int64_t i = 0; i < c; i++) var[i] = (T)(1.5 + var[i]);
        TWICE(FC(batch_norm_forward_eval)(n, c, hw, x, be, var, ga, be, 1e-5, yw),
              FC(batch_norm_forward_eval)(n, c, hw, x, be, var, ga, be, 1e-5, yg));
        report(tbn, ok && FN(close)(yg, yw, sz), what);
        /* layer norm over rows of d = c * hw, without and with affine parameters */
        const int64_t d = c * hw;
        T *lga = FN(arr)(d, 1.0), *lbe = FN(arr)(d, 1.0);
        TWICE(FC(layer_norm_forward)(n, d, x, lga, lbe, 1e-5, yw, mw, iw),
              FC(layer_norm_forward)(n, d, x, lga, lbe, 1e-5, yg, mg, ig));
        ok = FN(close)(yg, yw, sz) && FN(close)(mg, mw, n) && FN(close)(ig, iw, n);
        TWICE(FC(layer_norm_backward)(n, d, gy, x, lga, mw, iw, gxw, gww, gbw),
              FC(layer_norm_backward)(n, d, gy, x, lga, mw, iw, gxg, gwg, gbg));
        report(tln, ok && FN(close)(gxg, gxw, sz) && FN(close)(gwg, gww, d) &&
                        FN(close)(gbg, gbw, d), what);
        const int64_t groups = (c % 3 == 0) ? 3 : 1;
        TWICE(FC(group_norm_forward)(n, c, hw, groups, x, ga, be, 1e-5, yw, mw, iw),
              FC(group_norm_forward)(n, c, hw, groups, x, ga, be, 1e-5, yg, mg, ig));
        ok = FN(close)(yg, yw, sz) && FN(close)(mg, mw, n * groups) &&
             FN(close)(ig, iw, n * groups);
        TWICE(FC(group_norm_backward)(n, c, hw, groups, gy, x, ga, mw, iw, gxw, gww, gbw),
              FC(group_norm_backward)(n, c, hw, groups, gy, x, ga, mw, iw, gxg, gwg, gbg));
        report(tgn, ok && FN(close)(gxg, gxw, sz) && FN(close)(gwg, gww, c) &&
                        FN(close)(gbg, gbw, c), what);
        free(x), free(gy), free(ga), free(be), free(yw), free(yg), free(gxw), free(gxg);
        free(mw), free(mg), free(vw), free(vg), free(iw), free(ig), free(gww), free(gwg);
        free(gbw), free(gbg), free(var), free(lga), free(lbe);
    }
}

static void FN(check_all)(void)
{
    FN(check_gemm)();
    FN(check_linear)();
    FN(check_conv)();
    FN(check_pool)();
    FN(check_elementwise)();
    FN(check_loss)();
    FN(check_norm)();
}

/* One call of one kernel on a fixed shape, `reps` times (for instruction counts: the
 * difference between reps = 2 and reps = 1 is one call on a warm path). */
static int FN(count_one)(const char *kernel_name, const char *reps_s)
{
    const int reps = atoi(reps_s);
    if (strcmp(kernel_name, "gemm") == 0) { /* 64 x 64 x 64 */
        const int64_t m = 64, n = 64, k = 64;
        T *a = FN(arr)(m * k, 1), *b = FN(arr)(k * n, 1), *c = FN(out)(m * n, 0);
        for (int r = 0; r < reps; r++) FC(gemm)(0, 0, m, n, k, 1, a, k, b, n, 0, c, n);
        return c[5] == (T)12345; /* keeps the result live; never true */
    }
    const FN(conv_case) cc[] = {
        {1, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 0},  /* conv: 16 -> 16 channels, 3x3 */
        {1, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 16, 0}, /* conv_dw: depthwise 3x3 */
        {1, 1, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 0},   /* conv_cin1: one input channel */
        {1, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 2},  /* conv_winograd */
    };
    const char *conv_names[] = {"conv", "conv_dw", "conv_cin1", "conv_winograd"};
    for (int i = 0; i < 4; i++)
        if (strcmp(kernel_name, conv_names[i]) == 0) {
            const fc_conv2d_params p = FN(conv_params)(&cc[i]);
            fc_set_conv_winograd(cc[i].winograd);
            const int64_t K = p.c_in / p.groups * p.kh * p.kw;
            T *x = FN(arr)(p.n * p.c_in * p.h * p.w, 1), *w = FN(arr)(p.c_out * K, 1);
            T *y = FN(out)(p.n * p.c_out * p.out_h * p.out_w, 0);
            for (int r = 0; r < reps; r++) FC(conv2d_forward)(&p, x, w, NULL, y);
            return y[5] == (T)12345;
        }
    if (strcmp(kernel_name, "maxpool") == 0 || strcmp(kernel_name, "maxpool3") == 0 ||
        strcmp(kernel_name, "avgpool") == 0) {
        const int k = kernel_name[7] == '3' ? 3 : 2;
        fc_pool2d_params p = {1, 16, 32, 32, k, k, 2, 2, 0, 0, 1, 1, 0, 0, 0};
        p.out_h = (32 - k) / 2 + 1;
        p.out_w = (32 - k) / 2 + 1;
        T *x = FN(arr)(16 * 32 * 32, 1), *y = FN(out)(16 * p.out_h * p.out_w, 0);
        int64_t *idx = (int64_t *)xmalloc(sizeof(int64_t) * (size_t)(16 * p.out_h * p.out_w));
        for (int r = 0; r < reps; r++) {
            if (kernel_name[0] == 'a') FC(avg_pool2d_forward)(&p, x, y);
            else FC(max_pool2d_forward)(&p, x, y, idx);
        }
        return y[5] == (T)12345;
    }
    if (strcmp(kernel_name, "relu") == 0 || strcmp(kernel_name, "relu_backward") == 0 ||
        strcmp(kernel_name, "sigmoid") == 0 || strcmp(kernel_name, "softmax") == 0) {
        const int64_t n = 16384;
        T *x = FN(arr)(n, 1), *g = FN(arr)(n, 1), *y = FN(out)(n, 0);
        for (int r = 0; r < reps; r++) {
            if (strcmp(kernel_name, "relu") == 0) FC(relu_forward)(n, x, y);
            else if (kernel_name[0] == 'r') FC(relu_backward)(n, g, x, y);
            else if (kernel_name[1] == 'i') FC(sigmoid_forward)(n, x, y);
            else FC(softmax)(64, n / 64, x, y);
        }
        return y[5] == (T)12345;
    }
    fprintf(stderr, "unknown kernel %s\n", kernel_name);
    return 2;
}

#undef CK_CAT_
#undef CK_CAT
#undef FN
#undef FC
#undef TWICE
