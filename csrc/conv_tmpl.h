/*
 * conv_tmpl.h -- the conv2d engine, written once for both dtypes; included by conv.c with
 * FC_T (element type) and FC_SFX (f32 / f64) defined.
 *
 * Per image and group the conv is a GEMM
 *     y_g (Cout_g, P) = w_g (Cout_g, K) @ col_g (K, P) + bias,   K = Cin_g*kh*kw, P = OH*OW,
 * with col built by im2col in tiles of output positions so that the per-thread col buffer
 * stays within the workspace limit (1x1 stride-1 convs read x directly).  Threads run over
 * the images when there are enough of them, else inside each GEMM.  Backward reuses the
 * GEMM: gw_g += gy_g @ col_g^T (transposed packing, private per-thread accumulators) and
 * col = w_g^T @ gy_g followed by a col2im accumulate for gx.
 */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_FN(name) FC_CAT(name, FC_SFX)
#define FC_ENGINE FC_CAT(fc_gemm_engine, FC_SFX)

/* Valid output columns [lo, hi) for kernel column s: 0 <= ow*sw - pw + s*dw < W. */
static inline void FC_FN(ow_range)(const fc_conv2d_params *p, int64_t s, int64_t *lo,
                                   int64_t *hi)
{
    const int64_t off = s * p->dil_w - p->pad_w;
    int64_t l = off >= 0 ? 0 : (-off + p->stride_w - 1) / p->stride_w;
    int64_t h = p->w - off <= 0 ? 0 : (p->w - off - 1) / p->stride_w + 1;
    if (h > p->out_w) h = p->out_w;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col (K, np) = im2col of the group's input planes x (Cin_g, H, W) for output positions
 * [p0, p0 + np). */
static void FC_FN(im2col)(const fc_conv2d_params *p, const FC_T *restrict x, int64_t p0,
                          int64_t np, FC_T *restrict col)
{
    const int64_t H = p->h, W = p->w, OW = p->out_w, cin_g = p->c_in / p->groups;
    const int64_t sw = p->stride_w;
    for (int64_t ci = 0; ci < cin_g; ci++)
        for (int64_t r = 0; r < p->kh; r++)
            for (int64_t s = 0; s < p->kw; s++) {
                FC_T *restrict dst = col + ((ci * p->kh + r) * p->kw + s) * np;
                int64_t lo, hi;
                FC_FN(ow_range)(p, s, &lo, &hi);
                const int64_t off = s * p->dil_w - p->pad_w;
                int64_t q = p0;
                const int64_t qend = p0 + np;
                while (q < qend) {
                    const int64_t oh = q / OW, ow0 = q % OW;
                    const int64_t ow1 = FC_MIN(OW, ow0 + (qend - q));
                    const int64_t ih = oh * p->stride_h - p->pad_h + r * p->dil_h;
                    if (ih < 0 || ih >= H) {
                        for (int64_t ow = ow0; ow < ow1; ow++) dst[ow - ow0] = 0;
                    } else {
                        const FC_T *xr = x + (ci * H + ih) * W + off;
                        const int64_t a = FC_MAX(ow0, FC_MIN(lo, ow1));
                        const int64_t b = FC_MAX(a, FC_MIN(hi, ow1));
                        int64_t ow = ow0;
                        for (; ow < a; ow++) dst[ow - ow0] = 0;
                        if (sw == 1)
                            for (; ow < b; ow++) dst[ow - ow0] = xr[ow];
                        else
                            for (; ow < b; ow++) dst[ow - ow0] = xr[ow * sw];
                        for (; ow < ow1; ow++) dst[ow - ow0] = 0;
                    }
                    dst += ow1 - ow0;
                    q += ow1 - ow0;
                }
            }
}

/* gx (Cin_g, H, W) += col2im of col (K, np) for output positions [p0, p0 + np). */
static void FC_FN(col2im_add)(const fc_conv2d_params *p, const FC_T *restrict col, int64_t p0,
                              int64_t np, FC_T *restrict gx)
{
    const int64_t H = p->h, W = p->w, OW = p->out_w, cin_g = p->c_in / p->groups;
    const int64_t sw = p->stride_w;
    for (int64_t ci = 0; ci < cin_g; ci++)
        for (int64_t r = 0; r < p->kh; r++)
            for (int64_t s = 0; s < p->kw; s++) {
                const FC_T *restrict src = col + ((ci * p->kh + r) * p->kw + s) * np;
                int64_t lo, hi;
                FC_FN(ow_range)(p, s, &lo, &hi);
                const int64_t off = s * p->dil_w - p->pad_w;
                int64_t q = p0;
                const int64_t qend = p0 + np;
                while (q < qend) {
                    const int64_t oh = q / OW, ow0 = q % OW;
                    const int64_t ow1 = FC_MIN(OW, ow0 + (qend - q));
                    const int64_t ih = oh * p->stride_h - p->pad_h + r * p->dil_h;
                    if (ih >= 0 && ih < H) {
                        FC_T *xr = gx + (ci * H + ih) * W + off;
                        const int64_t a = FC_MAX(ow0, FC_MIN(lo, ow1));
                        const int64_t b = FC_MAX(a, FC_MIN(hi, ow1));
                        if (sw == 1)
                            for (int64_t ow = a; ow < b; ow++) xr[ow] += src[ow - ow0];
                        else
                            for (int64_t ow = a; ow < b; ow++) xr[ow * sw] += src[ow - ow0];
                    }
                    src += ow1 - ow0;
                    q += ow1 - ow0;
                }
            }
}

static int FC_FN(is_pointwise)(const fc_conv2d_params *p)
{
    return p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
           p->pad_w == 0;
}

/* Output positions per col tile: the col buffers of `nbuf` threads stay within the
 * workspace limit, and a tile stays around L2-sized when the image is large. */
static int64_t FC_FN(tile_positions)(const fc_conv2d_params *p, int64_t K, int nbuf)
{
    const int64_t P = p->out_h * p->out_w;
    int64_t limit = fc_get_workspace_limit() / nbuf;
    int64_t per = K * (int64_t)sizeof(FC_T);
    int64_t np = limit / (per > 0 ? per : 1);
    const int64_t cache_np = ((int64_t)1 << 20) / (per > 0 ? per : 1); /* ~1 MiB tiles */
    if (np > cache_np && cache_np >= 256) np = cache_np;
    if (np >= P) return P;
    if (np > 64) np -= np % 64;
    return np < 1 ? 1 : np;
}

/* ------------------------------------------------------------------------------------ */
/* Forward                                                                               */
/* ------------------------------------------------------------------------------------ */

typedef void (*FC_FN(direct_plane_fn))(const fc_conv2d_params *, const FC_T *, const FC_T *,
                                       FC_T, FC_T *);
typedef void (*FC_FN(cin1_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, const FC_T *,
                               const FC_T *, FC_T *);

/* One image, all groups, forward; `inner` threads inside the GEMMs. */
static void FC_FN(forward_image)(fc_isa isa, int inner, const fc_conv2d_params *p,
                                 const FC_T *x, const FC_T *w, const FC_T *bias, FC_T *y,
                                 int64_t np_tile, FC_FN(direct_plane_fn) plane_fn,
                                 FC_FN(cin1_fn) cin1_fn)
{
    const int64_t G = p->groups, cin_g = p->c_in / G, cout_g = p->c_out / G;
    const int64_t K = cin_g * p->kh * p->kw, P = p->out_h * p->out_w, HW = p->h * p->w;
    if (cin1_fn) {
        /* one input channel, 3x3 stride 1: zero-padded copy of the plane, then the direct
         * kernel with the shifted inputs in registers */
        const int64_t OW = p->out_w, OH = p->out_h;
        const int64_t ldx = ((OW + 15) / 16) * 16 + 2 + 16;
        FC_T *xp = (FC_T *)fc_scratch(FC_SCRATCH_CONV_AUX, sizeof(FC_T) * (size_t)(ldx * (OH + 3)));
        if (!xp) abort();
        for (int64_t i = 0; i < ldx * (OH + 3); i++) xp[i] = 0;
        for (int64_t ih = 0; ih < p->h; ih++) {
            FC_T *dst = xp + (ih + p->pad_h) * ldx + p->pad_w;
            const FC_T *src = x + ih * p->w;
            for (int64_t iw = 0; iw < p->w; iw++) dst[iw] = src[iw];
        }
        cin1_fn(xp, ldx, OH, OW, p->c_out, w, bias, y);
        return;
    }
    for (int64_t g = 0; g < G; g++) {
        const FC_T *xg = x + g * cin_g * HW;
        const FC_T *wg = w + g * cout_g * K;
        FC_T *yg = y + g * cout_g * P;
        if (plane_fn) {
            plane_fn(p, xg, wg, bias ? bias[g] : (FC_T)0, yg);
            continue;
        }
        const FC_T *bg = bias ? bias + g * cout_g : NULL;
        if (FC_FN(is_pointwise)(p)) {
            FC_ENGINE(isa, inner, 0, 0, cout_g, P, K, (FC_T)1, wg, K, xg, HW, (FC_T)0, yg, P, 1,
                      bg, NULL);
            continue;
        }
        FC_T *col = (FC_T *)fc_scratch(FC_SCRATCH_COL, sizeof(FC_T) * (size_t)(K * np_tile));
        if (!col) abort();
        for (int64_t p0 = 0; p0 < P; p0 += np_tile) {
            const int64_t np = FC_MIN(np_tile, P - p0);
            FC_FN(im2col)(p, xg, p0, np, col);
            FC_ENGINE(isa, inner, 0, 0, cout_g, np, K, (FC_T)1, wg, K, col, np, (FC_T)0, yg + p0,
                      P, 1, bg, NULL);
        }
    }
}

void FC_FN(fc_opt_conv2d_forward)(fc_isa isa, const fc_conv2d_params *p, const FC_T *x,
                                  const FC_T *w, const FC_T *bias, FC_T *y)
{
    const int64_t N = p->n, G = p->groups;
    const int64_t cin_g = p->c_in / G, cout_g = p->c_out / G;
    const int64_t K = cin_g * p->kh * p->kw, P = p->out_h * p->out_w;
    if (N <= 0 || p->c_out <= 0) return;
    const int nt = fc_threads_for_region();
    const int outer = (N >= nt) ? nt : 1; /* threads over images */
    const int inner = outer > 1 ? 1 : nt;
    const int64_t np_tile = FC_FN(tile_positions)(p, K, outer);
    FC_FN(direct_plane_fn) plane_fn = NULL;
    FC_FN(cin1_fn) cin1_fn = NULL;
    if (cout_g == 1 && K > 0) {
        plane_fn = FC_FN(direct_plane_scalar);
#ifdef FC_HAVE_X86_UKERNELS
        if (isa == FC_ISA_AVX512) plane_fn = FC_FN(direct_plane_avx512);
        else if (isa == FC_ISA_AVX2) plane_fn = FC_FN(direct_plane_avx2);
#endif
    }
#ifdef FC_HAVE_X86_UKERNELS
    if (G == 1 && p->c_in == 1 && p->kh == 3 && p->kw == 3 && p->stride_h == 1 &&
        p->stride_w == 1 && p->dil_h == 1 && p->dil_w == 1 && p->pad_h <= 2 && p->pad_w <= 2 &&
        p->c_out > 1) {
        if (isa == FC_ISA_AVX512) cin1_fn = FC_FN(cin1_3x3_avx512);
        else if (isa == FC_ISA_AVX2) cin1_fn = FC_FN(cin1_3x3_avx2);
    }
#endif
    const int64_t xs = p->c_in * p->h * p->w, ys = p->c_out * P;
    if (outer > 1) {
        FC_PRAGMA(omp parallel for schedule(static) num_threads(outer))
        for (int64_t i = 0; i < N; i++)
            FC_FN(forward_image)(isa, 1, p, x + i * xs, w, bias, y + i * ys, np_tile, plane_fn,
                                 cin1_fn);
    } else {
        for (int64_t i = 0; i < N; i++)
            FC_FN(forward_image)(isa, inner, p, x + i * xs, w, bias, y + i * ys, np_tile,
                                 plane_fn, cin1_fn);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Backward                                                                              */
/* ------------------------------------------------------------------------------------ */

/* One image, all groups: gw_acc += this image's weight gradient (if gw_acc), gx = this
 * image's input gradient (if gx). */
static void FC_FN(backward_image)(fc_isa isa, int inner, const fc_conv2d_params *p,
                                  const FC_T *gy, const FC_T *x, const FC_T *w, FC_T *gx,
                                  FC_T *gw_acc, int64_t np_tile)
{
    const int64_t G = p->groups, cin_g = p->c_in / G, cout_g = p->c_out / G;
    const int64_t K = cin_g * p->kh * p->kw, P = p->out_h * p->out_w, HW = p->h * p->w;
    const int pw = FC_FN(is_pointwise)(p);
    if (gx && !pw)
        for (int64_t i = 0; i < p->c_in * HW; i++) gx[i] = 0;
    FC_T *col = NULL;
    if (!pw) {
        col = (FC_T *)fc_scratch(FC_SCRATCH_COL, sizeof(FC_T) * (size_t)(K * np_tile));
        if (!col) abort();
    }
    for (int64_t g = 0; g < G; g++) {
        const FC_T *xg = x ? x + g * cin_g * HW : NULL;
        const FC_T *wg = w ? w + g * cout_g * K : NULL;
        const FC_T *gyg = gy + g * cout_g * P;
        FC_T *gxg = gx ? gx + g * cin_g * HW : NULL;
        FC_T *gwg = gw_acc ? gw_acc + g * cout_g * K : NULL;
        if (pw) {
            if (gwg)
                FC_ENGINE(isa, inner, 0, 1, cout_g, K, P, (FC_T)1, gyg, P, xg, HW, (FC_T)1, gwg,
                          K, 1, NULL, NULL);
            if (gxg)
                FC_ENGINE(isa, inner, 1, 0, K, P, cout_g, (FC_T)1, wg, K, gyg, P, (FC_T)0, gxg,
                          HW, 1, NULL, NULL);
            continue;
        }
        for (int64_t p0 = 0; p0 < P; p0 += np_tile) {
            const int64_t np = FC_MIN(np_tile, P - p0);
            if (gwg) {
                FC_FN(im2col)(p, xg, p0, np, col);
                FC_ENGINE(isa, inner, 0, 1, cout_g, K, np, (FC_T)1, gyg + p0, P, col, np,
                          (FC_T)1, gwg, K, 1, NULL, NULL);
            }
            if (gxg) {
                FC_ENGINE(isa, inner, 1, 0, K, np, cout_g, (FC_T)1, wg, K, gyg + p0, P, (FC_T)0,
                          col, np, 1, NULL, NULL);
                FC_FN(col2im_add)(p, col, p0, np, gxg);
            }
        }
    }
}

void FC_FN(fc_opt_conv2d_backward)(fc_isa isa, const fc_conv2d_params *p, const FC_T *gy,
                                   const FC_T *x, const FC_T *w, FC_T *gx, FC_T *gw, FC_T *gb)
{
    const int64_t N = p->n, G = p->groups;
    const int64_t K = (p->c_in / G) * p->kh * p->kw, P = p->out_h * p->out_w;
    const int64_t xs = p->c_in * p->h * p->w, ys = p->c_out * P;
    const int64_t wsize = p->c_out * K;
    const int nt = fc_threads_for_region();

    if (gb) {
        for (int64_t co = 0; co < p->c_out; co++) gb[co] = 0;
        for (int64_t i = 0; i < N; i++)
            for (int64_t co = 0; co < p->c_out; co++) {
                const FC_T *r = gy + i * ys + co * P;
                FC_T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                int64_t q = 0;
                for (; q + 4 <= P; q += 4) {
                    s0 += r[q];
                    s1 += r[q + 1];
                    s2 += r[q + 2];
                    s3 += r[q + 3];
                }
                for (; q < P; q++) s0 += r[q];
                gb[co] += (s0 + s1) + (s2 + s3);
            }
    }
    if (!gx && !gw) return;
    if (gw)
        for (int64_t i = 0; i < wsize; i++) gw[i] = 0;
    if (N <= 0) return;

    const int outer = (N >= nt) ? nt : 1;
    const int inner = outer > 1 ? 1 : nt;
    const int64_t np_tile = FC_FN(tile_positions)(p, K, outer);
    if (outer == 1) {
        for (int64_t i = 0; i < N; i++)
            FC_FN(backward_image)(isa, inner, p, gy + i * ys, x ? x + i * xs : NULL, w,
                                  gx ? gx + i * xs : NULL, gw, np_tile);
        return;
    }
    /* Threads over images; each thread accumulates its weight gradient privately (thread 0
     * directly into gw) and the partials are summed at the end. */
    FC_T *part = NULL;
    if (gw) {
        part = (FC_T *)malloc(sizeof(FC_T) * (size_t)wsize * (size_t)(outer - 1) + 1);
        if (!part) abort();
    }
    FC_PRAGMA(omp parallel num_threads(outer))
    {
        const int t = FC_THREAD_ID();
        const int nth = FC_NUM_THREADS_IN_REGION();
        FC_T *acc = NULL;
        if (gw) {
            acc = t == 0 ? gw : part + (size_t)(t - 1) * wsize;
            if (t != 0)
                for (int64_t i = 0; i < wsize; i++) acc[i] = 0;
        }
        const int64_t i0 = N * t / nth, i1 = N * (t + 1) / nth;
        for (int64_t i = i0; i < i1; i++)
            FC_FN(backward_image)(isa, 1, p, gy + i * ys, x ? x + i * xs : NULL, w,
                                  gx ? gx + i * xs : NULL, acc, np_tile);
    }
    if (gw) {
        for (int t = 1; t < outer; t++) {
            const FC_T *pt = part + (size_t)(t - 1) * wsize;
            for (int64_t i = 0; i < wsize; i++) gw[i] += pt[i];
        }
        free(part);
    }
}

#undef FC_CAT_
#undef FC_CAT
#undef FC_FN
#undef FC_ENGINE
