/*
 * pool_tmpl.h -- the portable pooling code of pool.c, instantiated once per dtype.
 * Include with FT (float or double) and SFX (f32 or f64) defined; not a standalone header.
 */
#define PT_CAT_(a, b) a##_##b
#define PT_CAT(a, b) PT_CAT_(a, b)
#define FN(name) PT_CAT(name, SFX)

/* The max-pool update rule, PyTorch's CPU rule: v replaces the current maximum if it is
 * larger or if it is NaN (so the first maximum wins, but the last NaN in window order). */
static inline int FN(mp_better)(FT v, FT cur) { return (v > cur) | (v != v); }

/* Branch-free select: k ? b : a, through the bit patterns (compilers otherwise branch, and
 * random data mispredicts every other comparison). */
static inline FT FN(sel)(FT a, FT b, int k) {
    UT ua, ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    const UT m = (UT)0 - (UT)k;
    ua = (ua & ~m) | (ub & m);
    memcpy(&a, &ua, sizeof ua);
    return a;
}

/* Max pool over the output rectangle [oh0, oh1) x [ow0, ow1) of one plane, any window. */
static void FN(mp_rect_generic)(const fc_pool2d_params *p, const FT *x, FT *y, int64_t *idx,
                                int64_t oh0, int64_t oh1, int64_t ow0, int64_t ow1) {
    const int64_t H = p->h, W = p->w, OW = p->out_w;
    const int64_t dh = p->dil_h, dw = p->dil_w;
    for (int64_t oh = oh0; oh < oh1; oh++) {
        int64_t hs = oh * p->stride_h - p->pad_h;
        const int64_t he = FC_MIN(hs + (p->kh - 1) * dh + 1, H);
        if (hs < 0) hs += ((-hs + dh - 1) / dh) * dh;
        for (int64_t ow = ow0; ow < ow1; ow++) {
            int64_t ws = ow * p->stride_w - p->pad_w;
            const int64_t we = FC_MIN(ws + (p->kw - 1) * dw + 1, W);
            if (ws < 0) ws += ((-ws + dw - 1) / dw) * dw;
            FT best = -(FT)INFINITY;
            int64_t bi = hs * W + ws;
            for (int64_t h = hs; h < he; h += dh) {
                const FT *row = x + h * W;
                for (int64_t w = ws; w < we; w += dw) {
                    const FT v = row[w];
                    const int k = FN(mp_better)(v, best);
                    best = FN(sel)(best, v, k);
                    bi = k ? h * W + w : bi;
                }
            }
            y[oh * OW + ow] = best;
            if (idx) idx[oh * OW + ow] = bi;
        }
    }
}

/* 2x2 stride-2 unpadded windows, n outputs of one output row; r0/r1 are the two input rows,
 * base the flat index of r0[0] in its plane. */
static void FN(mp2_row_scalar)(const FT *r0, const FT *r1, int64_t W, int64_t n, FT *y,
                               int64_t *idx, int64_t base) {
    for (int64_t k = 0; k < n; k++) {
        const FT a = r0[2 * k], b = r0[2 * k + 1], c = r1[2 * k], d = r1[2 * k + 1];
        const int kb = FN(mp_better)(b, a), kd = FN(mp_better)(d, c);
        const FT t = FN(sel)(a, b, kb), u = FN(sel)(c, d, kd);
        const int ku = FN(mp_better)(u, t);
        y[k] = FN(sel)(t, u, ku);
        if (idx) {
            const int64_t mu = -(int64_t)ku;
            idx[k] = base + 2 * k + (((W + kd) & mu) | (kb & ~mu));
        }
    }
}

typedef void (*FN(mp2_row_fn))(const FT *r0, const FT *r1, int64_t W, int64_t n, FT *y,
                                int64_t *idx, int64_t base);


typedef void (*FN(mpg_row_fn))(const fc_pool2d_params *p, const FT *x, int64_t oh, int64_t ow0,
                                int64_t ow1, FT *y, int64_t *idx);

/* Portable kernel for horizontally interior windows: 8 outputs at once, so that their
 * compare/select chains overlap. */
static void FN(mpg_row_scalar)(const fc_pool2d_params *p, const FT *x, int64_t oh, int64_t ow0,
                               int64_t ow1, FT *y, int64_t *idx) {
    const int64_t W = p->w, dh = p->dil_h, dw = p->dil_w, sw = p->stride_w;
    int64_t hs = oh * p->stride_h - p->pad_h;
    const int64_t he = FC_MIN(hs + (p->kh - 1) * dh + 1, p->h);
    if (hs < 0) hs += ((-hs + dh - 1) / dh) * dh;
    for (int64_t ow = ow0; ow < ow1; ow += 8) {
        const int64_t m = FC_MIN(ow1 - ow, 8);
        const int64_t c0 = ow * sw - p->pad_w;
        FT best[8];
        int64_t bi[8];
        for (int j = 0; j < 8; j++) {
            best[j] = -(FT)INFINITY;
            bi[j] = hs * W + c0 + j * sw;
        }
        if (m == 8) {
            for (int64_t h = hs; h < he; h += dh) {
                const FT *row = x + h * W + c0;
                for (int64_t b = 0; b < p->kw; b++) {
                    const FT *rb = row + b * dw;
                    const int64_t pos = h * W + c0 + b * dw;
                    for (int j = 0; j < 8; j++) {
                        const FT v = rb[j * sw];
                        const int k = FN(mp_better)(v, best[j]);
                        best[j] = FN(sel)(best[j], v, k);
                        bi[j] = k ? pos + j * sw : bi[j];
                    }
                }
            }
        } else {
            for (int64_t h = hs; h < he; h += dh) {
                const FT *row = x + h * W + c0;
                for (int64_t b = 0; b < p->kw; b++) {
                    const FT *rb = row + b * dw;
                    const int64_t pos = h * W + c0 + b * dw;
                    for (int j = 0; j < m; j++) {
                        const FT v = rb[j * sw];
                        const int k = FN(mp_better)(v, best[j]);
                        best[j] = FN(sel)(best[j], v, k);
                        bi[j] = k ? pos + j * sw : bi[j];
                    }
                }
            }
        }
        for (int j = 0; j < m; j++) {
            y[ow + j] = best[j];
            if (idx) idx[ow + j] = bi[j];
        }
    }
}

/* A kernel for all the full 2x2/s2/p0 windows of one plane, output rows [0, fh) and
 * columns [0, fw) with fh, fw >= 1.  It may write outputs outside that rectangle that are
 * written after it: in the plane, and the first out_after outputs after it (the next plane's,
 * when the same thread does it next); and it may read the first in_after inputs after the
 * plane. */
typedef void (*FN(mp2_plane_fn))(const fc_pool2d_params *p, const FT *x, int64_t fh,
                                  int64_t fw, FT *y, int64_t *idx, int64_t in_after,
                                  int64_t out_after);

/* One plane of max pooling.  plane2, else row2 (either may be NULL) handles full 2x2/s2/p0
 * windows; else rowg (may be NULL) the horizontally interior windows of any other shape. */
static void FN(mp_plane)(const fc_pool2d_params *p, const FT *x, FT *y, int64_t *idx,
                         FN(mp2_row_fn) row2, FN(mp2_plane_fn) plane2, FN(mpg_row_fn) rowg,
                         int64_t in_after, int64_t out_after) {
    const int64_t OH = p->out_h, OW = p->out_w, W = p->w;
    if (row2 != NULL || plane2 != NULL) {
        const int64_t fh = FC_MIN(OH, p->h / 2), fw = FC_MIN(OW, W / 2);
        if (plane2 != NULL) {
            if (fh > 0 && fw > 0) plane2(p, x, fh, fw, y, idx, in_after, out_after);
        } else {
            for (int64_t oh = 0; oh < fh; oh++) {
                const FT *r0 = x + 2 * oh * W;
                row2(r0, r0 + W, W, fw, y + oh * OW, idx ? idx + oh * OW : NULL, 2 * oh * W);
            }
        }
        if (fw < OW) FN(mp_rect_generic)(p, x, y, idx, 0, fh, fw, OW);
        if (fh < OH) FN(mp_rect_generic)(p, x, y, idx, fh, OH, 0, OW);
        return;
    }
    if (rowg != NULL) {
        /* interior columns: ow*sw - pw >= 0 and ow*sw - pw + (kw-1)*dw <= W - 1 */
        const int64_t sw = p->stride_w, span = (p->kw - 1) * p->dil_w;
        const int64_t owa = FC_MIN((p->pad_w + sw - 1) / sw, OW);
        const int64_t lim = W - 1 - span + p->pad_w;
        const int64_t owb = lim < 0 ? owa : FC_MAX(owa, FC_MIN(lim / sw + 1, OW));
        if (owb - owa >= 4) {
            for (int64_t oh = 0; oh < OH; oh++) {
                FN(mp_rect_generic)(p, x, y, idx, oh, oh + 1, 0, owa);
                rowg(p, x, oh, owa, owb, y + oh * OW, idx ? idx + oh * OW : NULL);
                FN(mp_rect_generic)(p, x, y, idx, oh, oh + 1, owb, OW);
            }
            return;
        }
    }
    FN(mp_rect_generic)(p, x, y, idx, 0, OH, 0, OW);
}

static void FN(max_pool_fwd)(const fc_pool2d_params *p, const FT *x, FT *y, int64_t *idx,
                             FN(mp2_row_fn) row2, FN(mp2_plane_fn) plane2,
                             FN(mpg_row_fn) rowg) {
    const int64_t nc = p->n * p->c;
    const int64_t in_plane = p->h * p->w, out_plane = p->out_h * p->out_w;
    if (nc == 0 || out_plane == 0) return;
    const int nt = pool_threads(nc, nc * (in_plane + out_plane));
    (void)nt;
    /* each thread a contiguous run of planes, in order: a plane's kernel may overrun into
     * the next plane's outputs when the same thread does that plane next */
    POOL_OMP_PARALLEL(nt)
    {
        int64_t lo, hi;
        pool_run(nc, &lo, &hi);
        for (int64_t i = lo; i < hi; i++)
            FN(mp_plane)(p, x + i * in_plane, y + i * out_plane,
                         idx ? idx + i * out_plane : NULL, row2, plane2, rowg,
                         i + 1 < nc ? in_plane : 0, i + 1 < hi ? out_plane : 0);
    }
}

/* One plane of the max-pool backward: g = 0, then g[ip[j]] += gyp[j] for every index inside
 * the plane; returns how many were not (skipped). */
static int64_t FN(mp_bwd_plane_scatter)(int64_t in_plane, int64_t out_plane, const FT *gyp,
                                        const int64_t *ip, FT *g) {
    const uint64_t lim = (uint64_t)in_plane;
    memset(g, 0, (size_t)in_plane * sizeof(FT));
    int64_t b = 0;
    int64_t j = 0;
    for (; j + 4 <= out_plane; j += 4) {
        const uint64_t i0 = (uint64_t)ip[j], i1 = (uint64_t)ip[j + 1];
        const uint64_t i2 = (uint64_t)ip[j + 2], i3 = (uint64_t)ip[j + 3];
        if ((i0 < lim) & (i1 < lim) & (i2 < lim) & (i3 < lim)) {
            g[i0] += gyp[j];
            g[i1] += gyp[j + 1];
            g[i2] += gyp[j + 2];
            g[i3] += gyp[j + 3];
        } else {
            for (int64_t t = j; t < j + 4; t++) {
                const uint64_t q = (uint64_t)ip[t];
                if (q < lim) g[q] += gyp[t];
                else b++;
            }
        }
    }
    for (; j < out_plane; j++) {
        const uint64_t q = (uint64_t)ip[j];
        if (q < lim) g[q] += gyp[j];
        else b++;
    }
    return b;
}

/* A kernel for the backward of one plane whose 2x2 windows tile it (in_h = 2 out_h,
 * in_w = 2 out_w) and whose every index lies in its own window: it writes every input
 * position once (the gradient at the window's index, +0 elsewhere: what the scatter into
 * zeros gives) and returns 1; or returns 0, having written only inside the plane and the
 * first g_after elements after it, as soon as an index lies outside its window.  It may
 * read the first y_after elements after the plane's gy and indices. */
typedef int (*FN(mp2_bwd_fn))(const FT *gy, const int64_t *idx, int64_t oh, int64_t ow,
                               FT *gx, int64_t y_after, int64_t g_after);

static int64_t FN(max_pool_bwd)(int64_t nc, int64_t in_h, int64_t in_w, int64_t out_h,
                                int64_t out_w, const FT *gy, const int64_t *idx, FT *gx,
                                FN(mp2_bwd_fn) fast2) {
    assert(nc >= 0 && in_h >= 0 && in_w >= 0 && out_h >= 0 && out_w >= 0);
    const int64_t in_plane = in_h * in_w, out_plane = out_h * out_w;
    int64_t bad = 0;
    if (nc == 0) return 0;
    if (!(in_h == 2 * out_h && in_w == 2 * out_w && out_plane > 0)) fast2 = NULL;
    const int nt = pool_threads(nc, nc * (in_plane + 2 * out_plane) / POOL_SCATTER_PAR_SCALE);
    (void)nt;
    /* each thread a contiguous run of planes, in order (fast2 may overrun into the next) */
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+ : bad) if (nt > 1)
#endif
    {
        int64_t lo, hi;
        pool_run(nc, &lo, &hi);
        for (int64_t i = lo; i < hi; i++) {
            FT *g = gx + i * in_plane;
            const FT *gyp = gy + i * out_plane;
            const int64_t *ip = idx + i * out_plane;
            if (fast2 != NULL && fast2(gyp, ip, out_h, out_w, g, i + 1 < nc ? out_plane : 0,
                                       i + 1 < hi ? in_plane : 0))
                continue;
            bad += FN(mp_bwd_plane_scatter)(in_plane, out_plane, gyp, ip, g);
        }
    }
    return bad;
}

/* ---------------------------------------------------------------------------------- */
/* Average pooling                                                                      */
/* ---------------------------------------------------------------------------------- */

/* Planes up to this width use the column-sum forms of the general average pool. */
#ifndef AP_COLS
#define AP_COLS 1024
#endif

/* One axis of the average-pool windows: window o covers [*s, *e) of the input and counts
 * *div positions (the padded or the clipped extent, per count_include_pad). */
static inline void FN(ap_axis)(int64_t o, int64_t k, int64_t st, int64_t pad, int64_t in,
                               int include_pad, int64_t *s, int64_t *e, double *div) {
    int64_t a = o * st - pad, b = FC_MIN(a + k, in + pad);
    const int64_t full = b - a;
    a = FC_MAX(a, 0);
    b = FC_MIN(b, in);
    *s = a;
    *e = b;
    *div = (double)(include_pad ? full : b - a);
}

/* Column extents and column divisors of every output column (OW <= AP_COLS + 1). */
typedef struct {
    int64_t ws[AP_COLS + 1], we[AP_COLS + 1];
    double wd[AP_COLS + 1];
} FN(ap_cols);

static void FN(ap_cols_init)(const fc_pool2d_params *p, FN(ap_cols) *c) {
    for (int64_t ow = 0; ow < p->out_w; ow++)
        FN(ap_axis)(ow, p->kw, p->stride_w, p->pad_w, p->w, p->count_include_pad, &c->ws[ow],
                    &c->we[ow], &c->wd[ow]);
}

/* The full 2x2/s2/p0 windows of one plane, output rows [0, fh) and columns [0, fw) of
 * rows OW apart, from input rows W apart: y = ((x00 + x01) + x10) + x11, in double, times
 * 0.25, rounded once.  The SIMD kernels of pool.c keep exactly this order. */
typedef void (*FN(ap2_fwd_fn))(const FT *x, int64_t W, int64_t fh, int64_t fw, int64_t OW,
                                FT *y);

static void FN(ap2_fwd_scalar)(const FT *x, int64_t W, int64_t fh, int64_t fw, int64_t OW,
                               FT *y) {
    for (int64_t oh = 0; oh < fh; oh++) {
        const FT *r0 = x + 2 * oh * W, *r1 = r0 + W;
        FT *yr = y + oh * OW;
        for (int64_t k = 0; k < fw; k++)
            yr[k] = (FT)(((double)r0[2 * k] + (double)r0[2 * k + 1] + (double)r1[2 * k] +
                          (double)r1[2 * k + 1]) * 0.25);
    }
}

/* The backward of 2x2/s2/p0 windows that tile an OH x OW output's 2OH x 2OW input plane
 * exactly: every input gets a quarter of its window's gradient (gy * 0.25 is gy / 4 to the
 * bit: an exact scaling, rounded once). */
typedef void (*FN(ap2_bwd_fn))(const FT *gy, int64_t OH, int64_t OW, FT *gx);

static void FN(ap2_bwd_scalar)(const FT *gy, int64_t OH, int64_t OW, FT *gx) {
    const int64_t W = 2 * OW;
    for (int64_t oh = 0; oh < OH; oh++) {
        FT *r0 = gx + 2 * oh * W, *r1 = r0 + W;
        const FT *g = gy + oh * OW;
        for (int64_t k = 0; k < OW; k++) {
            const FT v = (FT)((double)g[k] / 4.0);
            r0[2 * k] = v;
            r0[2 * k + 1] = v;
            r1[2 * k] = v;
            r1[2 * k + 1] = v;
        }
    }
}

/* 2x2/s2/p0 windows over an even number of rows, all of them full: the output is exactly
 * the full windows (odd widths leave the last column out). */
static int FN(ap2_tiles_rows)(const fc_pool2d_params *p) {
    return p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 0 &&
           p->pad_w == 0 && p->h == 2 * p->out_h && p->w / 2 == p->out_w;
}

static void FN(ap_plane_fwd)(const fc_pool2d_params *p, const FT *x, FT *y,
                             FN(ap2_fwd_fn) fast2) {
    const int64_t OH = p->out_h, OW = p->out_w, W = p->w;
    int64_t fh = 0, fw = 0;
    if (p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 0 &&
        p->pad_w == 0) {
        fh = FC_MIN(OH, p->h / 2);
        fw = FC_MIN(OW, W / 2);
        fast2(x, W, fh, fw, OW, y);
        if (fh == OH && fw == OW) return;
    }
    if (W <= AP_COLS) {
        /* per output row: sum the window's input rows column by column (contiguous,
         * vectorisable), then add the kw column sums of each output */
        double cs[AP_COLS];
        FN(ap_cols) cols;
        FN(ap_cols_init)(p, &cols);
        for (int64_t oh = 0; oh < OH; oh++) {
            const int64_t owa = oh < fh ? fw : 0;
            if (owa >= OW) continue;
            int64_t hs, he;
            double hd;
            FN(ap_axis)(oh, p->kh, p->stride_h, p->pad_h, p->h, p->count_include_pad, &hs, &he,
                        &hd);
            for (int64_t w = 0; w < W; w++) cs[w] = 0.0;
            for (int64_t h = hs; h < he; h++) {
                const FT *row = x + h * W;
                for (int64_t w = 0; w < W; w++) cs[w] += (double)row[w];
            }
            FT *yr = y + oh * OW;
            for (int64_t ow = owa; ow < OW; ow++) {
                double sum = 0.0;
                for (int64_t w = cols.ws[ow]; w < cols.we[ow]; w++) sum += cs[w];
                yr[ow] = (FT)(sum / (hd * cols.wd[ow]));
            }
        }
        return;
    }
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t owa = oh < fh ? fw : 0;
        int64_t hs, he;
        double hd;
        FN(ap_axis)(oh, p->kh, p->stride_h, p->pad_h, p->h, p->count_include_pad, &hs, &he, &hd);
        for (int64_t ow = owa; ow < OW; ow++) {
            int64_t ws, we;
            double wd;
            FN(ap_axis)(ow, p->kw, p->stride_w, p->pad_w, W, p->count_include_pad, &ws, &we, &wd);
            double sum = 0.0;
            for (int64_t h = hs; h < he; h++) {
                const FT *row = x + h * W;
                for (int64_t w = ws; w < we; w++) sum += (double)row[w];
            }
            y[oh * OW + ow] = (FT)(sum / (hd * wd));
        }
    }
}

static void FN(ap_plane_bwd)(const fc_pool2d_params *p, const FT *gy, FT *gx,
                             FN(ap2_bwd_fn) fast2) {
    const int64_t OH = p->out_h, OW = p->out_w, W = p->w;
    if (p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 0 &&
        p->pad_w == 0 && p->h == 2 * OH && W == 2 * OW) {
        fast2(gy, OH, OW, gx); /* windows tile the plane exactly */
        return;
    }
    memset(gx, 0, (size_t)(p->h * W) * sizeof(FT));
    if (W <= AP_COLS) {
        /* per output row: spread gy / divisor over the columns of each window, then add
         * that row of contributions to the window's input rows (contiguous loops) */
        double cs[AP_COLS], v[AP_COLS + 1];
        FN(ap_cols) cols;
        FN(ap_cols_init)(p, &cols);
        const int64_t sw = p->stride_w, pw = p->pad_w;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t hs, he;
            double hd;
            FN(ap_axis)(oh, p->kh, p->stride_h, p->pad_h, p->h, p->count_include_pad, &hs, &he,
                        &hd);
            const FT *g = gy + oh * OW;
            for (int64_t ow = 0; ow < OW; ow++) v[ow] = (double)g[ow] / (hd * cols.wd[ow]);
            for (int64_t w = 0; w < W; w++) cs[w] = 0.0;
            /* window column b of every output: distinct columns within one pass (no
             * store-to-load stalls between overlapping windows) */
            for (int64_t b = 0; b < p->kw; b++) {
                /* outputs whose column ow*sw - pw + b lies in [0, W) */
                const int64_t lo = b >= pw ? 0 : (pw - b + sw - 1) / sw;
                const int64_t last = W - 1 + pw - b; /* may be < 0 for tiny planes */
                const int64_t hi = last < 0 ? 0 : FC_MIN(OW, last / sw + 1);
                double *c = cs + (lo * sw - pw + b);
                for (int64_t ow = lo; ow < hi; ow++, c += sw) *c += v[ow];
            }
            for (int64_t h = hs; h < he; h++) {
                FT *row = gx + h * W;
                for (int64_t w = 0; w < W; w++) row[w] = (FT)((double)row[w] + cs[w]);
            }
        }
        return;
    }
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t hs, he;
        double hd;
        FN(ap_axis)(oh, p->kh, p->stride_h, p->pad_h, p->h, p->count_include_pad, &hs, &he, &hd);
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t ws, we;
            double wd;
            FN(ap_axis)(ow, p->kw, p->stride_w, p->pad_w, W, p->count_include_pad, &ws, &we, &wd);
            const FT v = (FT)((double)gy[oh * OW + ow] / (hd * wd));
            for (int64_t h = hs; h < he; h++) {
                FT *row = gx + h * W;
                for (int64_t w = ws; w < we; w++) row[w] += v;
            }
        }
    }
}

static void FN(avg_pool_fwd)(const fc_pool2d_params *p, const FT *x, FT *y,
                             FN(ap2_fwd_fn) fast2) {
    assert(p->dil_h == 1 && p->dil_w == 1);
    const int64_t nc = p->n * p->c;
    const int64_t in_plane = p->h * p->w, out_plane = p->out_h * p->out_w;
    if (nc == 0 || out_plane == 0) return;
    const int nt = pool_threads(nc, nc * (in_plane + out_plane));
    (void)nt;
    if (FN(ap2_tiles_rows)(p)) {
        /* every window full and every input row pair in one: the planes of a thread's run
         * are the rows of one tall plane */
        POOL_OMP_PARALLEL(nt)
        {
            int64_t lo, hi;
            pool_run(nc, &lo, &hi);
            if (hi > lo)
                fast2(x + lo * in_plane, p->w, (hi - lo) * p->out_h, p->out_w, p->out_w,
                      y + lo * out_plane);
        }
        return;
    }
    POOL_OMP_FOR(nt)
    for (int64_t i = 0; i < nc; i++)
        FN(ap_plane_fwd)(p, x + i * in_plane, y + i * out_plane, fast2);
}

static void FN(avg_pool_bwd)(const fc_pool2d_params *p, const FT *gy, FT *gx,
                             FN(ap2_bwd_fn) fast2) {
    assert(p->dil_h == 1 && p->dil_w == 1);
    const int64_t nc = p->n * p->c;
    const int64_t in_plane = p->h * p->w, out_plane = p->out_h * p->out_w;
    if (nc == 0 || in_plane == 0) return;
    const int nt = pool_threads(nc, nc * (in_plane + out_plane));
    (void)nt;
    if (FN(ap2_tiles_rows)(p) && p->w == 2 * p->out_w) {
        /* the windows tile every plane exactly: a thread's run of planes is one tall plane */
        POOL_OMP_PARALLEL(nt)
        {
            int64_t lo, hi;
            pool_run(nc, &lo, &hi);
            if (hi > lo)
                fast2(gy + lo * out_plane, (hi - lo) * p->out_h, p->out_w, gx + lo * in_plane);
        }
        return;
    }
    POOL_OMP_FOR(nt)
    for (int64_t i = 0; i < nc; i++)
        FN(ap_plane_bwd)(p, gy + i * out_plane, gx + i * in_plane, fast2);
}

/* ---------------------------------------------------------------------------------- */
/* Global average pooling                                                               */
/* ---------------------------------------------------------------------------------- */

void PT_CAT(fc_opt_global_avg_pool2d_forward, SFX)(int64_t nc, int64_t hw, const FT *x, FT *y) {
    assert(nc >= 0 && hw >= 1);
    const int nt = pool_threads(nc, nc * hw);
    (void)nt;
    POOL_OMP_FOR(nt)
    for (int64_t i = 0; i < nc; i++) {
        const FT *xp = x + i * hw;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t j = 0;
        for (; j + 4 <= hw; j += 4) {
            s0 += (double)xp[j];
            s1 += (double)xp[j + 1];
            s2 += (double)xp[j + 2];
            s3 += (double)xp[j + 3];
        }
        for (; j < hw; j++) s0 += (double)xp[j];
        y[i] = (FT)(((s0 + s1) + (s2 + s3)) / (double)hw);
    }
}

void PT_CAT(fc_opt_global_avg_pool2d_backward, SFX)(int64_t nc, int64_t hw, const FT *gy,
                                                   FT *gx) {
    assert(nc >= 0 && hw >= 1);
    const int nt = pool_threads(nc, nc * hw);
    (void)nt;
    POOL_OMP_FOR(nt)
    for (int64_t i = 0; i < nc; i++) {
        const FT v = (FT)((double)gy[i] / (double)hw);
        FT *g = gx + i * hw;
        for (int64_t j = 0; j < hw; j++) g[j] = v;
    }
}

#undef FN
#undef PT_CAT
#undef PT_CAT_
