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
 * Stride-1 convs whose padded image is small run as an implicit GEMM instead (B read in
 * place from the padded image by the indirect microkernel; see use_implicit), and their gx
 * as the forward conv of gy with the flipped, transposed kernels.  Degenerate shapes have
 * direct kernels (conv_direct_tmpl.h): one output channel per group, and one input
 * channel 3x3 stride 1 (forward and weight gradient).
 */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_FN(name) FC_CAT(name, FC_SFX)
#define FC_ENGINE FC_CAT(fc_gemm_engine, FC_SFX)
#define FC_UKFN FC_CAT(FC_CAT(fc, FC_SFX), gemm_ukernel_fn)

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

/* Stride 1 in both directions and out_w == w: every col row is a shifted plane. */
static int FC_FN(is_same_stride1)(const fc_conv2d_params *p)
{
    return p->stride_h == 1 && p->stride_w == 1 && p->out_w == p->w;
}

/* dst holds positions [p0, p0 + np) of planes of width W; zero the positions whose input
 * column ow + off lies outside [0, W). */
static void FC_FN(zero_edge_columns)(FC_T *restrict dst, int64_t p0, int64_t np, int64_t W,
                                     int64_t off)
{
    const int64_t a = off < 0 ? 0 : W - off, b = off < 0 ? -off : W; /* bad ow in [a, b) */
    int64_t row0 = p0 - p0 % W;
    for (int64_t base = row0; base < p0 + np; base += W) {
        const int64_t lo = FC_MAX(base + FC_MAX(a, 0), p0);
        const int64_t hi = FC_MIN(base + FC_MIN(b, W), p0 + np);
        for (int64_t q = lo; q < hi; q++) dst[q - p0] = 0;
    }
}

/* dst (np) = row (ci, r, s) of the im2col of the group's input planes x (Cin_g, H, W),
 * for output positions [p0, p0 + np). */
static void FC_FN(im2col_row)(const fc_conv2d_params *p, const FC_T *restrict x, int64_t ci,
                              int64_t r, int64_t s, int64_t p0, int64_t np,
                              FC_T *restrict dst)
{
    const int64_t H = p->h, W = p->w, OW = p->out_w, sw = p->stride_w;
    const int64_t off = s * p->dil_w - p->pad_w;
    if (FC_FN(is_same_stride1)(p)) {
        /* the row is the plane shifted by a constant: one long copy, then the columns that
         * fell off the left or right edge are zeroed */
        const int64_t HW = H * W;
        const FC_T *restrict xc = x + ci * HW;
        const int64_t shift = (r * p->dil_h - p->pad_h) * W + off;
        const int64_t qa = FC_MIN(FC_MAX(p0, -shift), p0 + np);
        const int64_t qb = FC_MAX(FC_MIN(p0 + np, HW - shift), qa);
        for (int64_t q = p0; q < qa; q++) dst[q - p0] = 0;
        for (int64_t q = qa; q < qb; q++) dst[q - p0] = xc[q + shift];
        for (int64_t q = qb; q < p0 + np; q++) dst[q - p0] = 0;
        if (off != 0) FC_FN(zero_edge_columns)(dst, p0, np, W, off);
        return;
    }
    int64_t lo, hi;
    FC_FN(ow_range)(p, s, &lo, &hi);
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

/* col (K, np) = im2col of the group's input planes for output positions [p0, p0 + np).
 * Uses the FC_SCRATCH_CONV_AUX slot. */
static void FC_FN(im2col)(const fc_conv2d_params *p, const FC_T *restrict x, int64_t p0,
                          int64_t np, FC_T *restrict col)
{
    const int64_t cin_g = p->c_in / p->groups;
    if (FC_FN(is_same_stride1)(p)) {
        /* rows are shifted planes: one masked copy each (see im2col_packed) */
        const int64_t H = p->h, W = p->w, HW = H * W;
        FC_UT *restrict mask =
            (FC_UT *)fc_scratch(FC_SCRATCH_CONV_AUX, sizeof(FC_UT) * (size_t)(np * p->kw));
        if (!mask) abort();
        for (int64_t s = 0; s < p->kw; s++) {
            const int64_t off = s * p->dil_w - p->pad_w;
            for (int64_t j = 0; j < np; j++) {
                const int64_t iw = (p0 + j) % W + off;
                mask[s * np + j] = (iw >= 0 && iw < W) ? ~(FC_UT)0 : (FC_UT)0;
            }
        }
        FC_UT *restrict dst = (FC_UT *)col;
        for (int64_t ci = 0; ci < cin_g; ci++)
            for (int64_t r = 0; r < p->kh; r++)
                for (int64_t s = 0; s < p->kw; s++, dst += np) {
                    const FC_UT *restrict xc = (const FC_UT *)(x + ci * HW);
                    const FC_UT *restrict ms = mask + s * np;
                    const int64_t shift = (r * p->dil_h - p->pad_h) * W + s * p->dil_w - p->pad_w;
                    const int64_t ja = FC_MIN(FC_MAX(p0, -shift), p0 + np) - p0;
                    const int64_t jb = FC_MAX(FC_MIN(p0 + np, HW - shift) - p0, ja);
                    const FC_UT *restrict src = xc + p0 + shift;
                    int64_t j = 0;
                    for (; j < ja; j++) dst[j] = 0;
                    for (; j < jb; j++) dst[j] = src[j] & ms[j];
                    for (; j < np; j++) dst[j] = 0;
                }
        return;
    }
    for (int64_t ci = 0; ci < cin_g; ci++)
        for (int64_t r = 0; r < p->kh; r++)
            for (int64_t s = 0; s < p->kw; s++)
                FC_FN(im2col_row)(p, x, ci, r, s, p0, np,
                                  col + ((ci * p->kh + r) * p->kw + s) * np);
}

/* The same im2col written straight into the GEMM's packed-B layout (implicit GEMM: no
 * separate packing pass): kc blocks at offset pc * n_pad, nr-column micro-panels of
 * kc x nr.  row: scratch of np values. */
static void FC_FN(im2col_packed)(const fc_conv2d_params *p, const fc_gemm_config *cfg,
                                 const FC_T *restrict x, int64_t p0, int64_t np,
                                 FC_T *restrict row, FC_T *restrict bp)
{
    const int64_t cin_g = p->c_in / p->groups, K = cin_g * p->kh * p->kw;
    const int64_t nr = cfg->nr, n_pad = ((np + nr - 1) / nr) * nr;
    int64_t kidx = 0;
    if (FC_FN(is_same_stride1)(p)) {
        /* Each row is the plane shifted by a constant, copied straight into the panels and
         * ANDed with a per-kernel-column mask that zeroes the output columns whose input
         * column falls off the left or right edge (a bit mask: inf/NaN inputs stay exact).
         * row holds kw masks of n_pad entries. */
        const int64_t H = p->h, W = p->w, HW = H * W;
        FC_UT *restrict mask = (FC_UT *)row;
        for (int64_t s = 0; s < p->kw; s++) {
            const int64_t off = s * p->dil_w - p->pad_w;
            for (int64_t j = 0; j < n_pad; j++) {
                const int64_t iw = (p0 + j) % W + off;
                mask[s * n_pad + j] = (iw >= 0 && iw < W) ? ~(FC_UT)0 : (FC_UT)0;
            }
        }
        for (int64_t ci = 0; ci < cin_g; ci++)
            for (int64_t r = 0; r < p->kh; r++)
                for (int64_t s = 0; s < p->kw; s++, kidx++) {
                    const FC_UT *restrict xc = (const FC_UT *)(x + ci * HW);
                    const FC_UT *restrict ms = mask + s * n_pad;
                    const int64_t off = s * p->dil_w - p->pad_w;
                    const int64_t shift = (r * p->dil_h - p->pad_h) * W + off;
                    const int64_t qa = FC_MIN(FC_MAX(p0, -shift), p0 + np);
                    const int64_t qb = FC_MAX(FC_MIN(p0 + np, HW - shift), qa);
                    const int64_t pc = (kidx / cfg->kc) * cfg->kc;
                    const int64_t kc = FC_MIN(cfg->kc, K - pc);
                    FC_UT *restrict dst = (FC_UT *)(bp + pc * n_pad + (kidx - pc) * nr);
                    for (int64_t j0 = 0; j0 < n_pad; j0 += nr, dst += nr * kc) {
                        const int64_t q0 = p0 + j0;
                        const FC_UT *restrict src = xc + q0 + shift;
                        const FC_UT *restrict mj = ms + j0;
                        if (q0 >= qa && q0 + nr <= qb) {
                            for (int64_t j = 0; j < nr; j++) dst[j] = src[j] & mj[j];
                        } else {
                            const int64_t ja = FC_MIN(FC_MAX(qa - q0, 0), nr);
                            const int64_t jb = FC_MAX(FC_MIN(qb - q0, nr), ja);
                            int64_t j = 0;
                            for (; j < ja; j++) dst[j] = 0;
                            for (; j < jb; j++) dst[j] = src[j] & mj[j];
                            for (; j < nr; j++) dst[j] = 0;
                        }
                    }
                }
        return;
    }
    for (int64_t ci = 0; ci < cin_g; ci++)
        for (int64_t r = 0; r < p->kh; r++)
            for (int64_t s = 0; s < p->kw; s++, kidx++) {
                FC_FN(im2col_row)(p, x, ci, r, s, p0, np, row);
                const int64_t pc = (kidx / cfg->kc) * cfg->kc;
                const int64_t kc = FC_MIN(cfg->kc, K - pc);
                FC_T *dst = bp + pc * n_pad + (kidx - pc) * nr;
                int64_t j0 = 0;
                for (; j0 + nr <= np; j0 += nr, dst += nr * kc)
                    for (int64_t j = 0; j < nr; j++) dst[j] = row[j0 + j];
                if (j0 < np) {
                    int64_t j = 0;
                    for (; j0 + j < np; j++) dst[j] = row[j0 + j];
                    for (; j < nr; j++) dst[j] = 0;
                }
            }
}

/* gx (Cin_g, H, W) += col2im of col (K, np) for output positions [p0, p0 + np).  col is
 * scratch and may be modified. */
static void FC_FN(col2im_add)(const fc_conv2d_params *p, FC_T *restrict col, int64_t p0,
                              int64_t np, FC_T *restrict gx)
{
    const int64_t H = p->h, W = p->w, OW = p->out_w, cin_g = p->c_in / p->groups;
    const int64_t sw = p->stride_w;
    if (FC_FN(is_same_stride1)(p)) {
        /* Zero the entries whose column fell off the plane (col is scratch), then each col
         * row is added to the plane shifted by a constant in one long loop. */
        const int64_t HW = H * W;
        for (int64_t ci = 0; ci < cin_g; ci++)
            for (int64_t r = 0; r < p->kh; r++)
                for (int64_t s = 0; s < p->kw; s++) {
                    FC_T *restrict src = col + ((ci * p->kh + r) * p->kw + s) * np;
                    FC_T *restrict gc = gx + ci * HW;
                    const int64_t off = s * p->dil_w - p->pad_w;
                    const int64_t shift = (r * p->dil_h - p->pad_h) * W + off;
                    const int64_t qa = FC_MIN(FC_MAX(p0, -shift), p0 + np);
                    const int64_t qb = FC_MAX(FC_MIN(p0 + np, HW - shift), qa);
                    if (off != 0) FC_FN(zero_edge_columns)(src, p0, np, W, off);
                    for (int64_t q = qa; q < qb; q++) gc[q + shift] += src[q - p0];
                }
        return;
    }
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
    int64_t np = limit / (per > 0 ? per : 1) - 32; /* room for padding to a full nr panel */
    const int64_t cache_np = ((int64_t)1 << 20) / (per > 0 ? per : 1); /* ~1 MiB tiles */
    if (np > cache_np && cache_np >= 256) np = cache_np;
    if (np >= P) return P;
    if (np > 64) np -= np % 64;
    return np < 1 ? 1 : np;
}

/* Threads for one conv pass: 1 (no team) when the pass has fewer than FC_PAR_MIN_MACS
 * multiply-adds, N * Cout * (Cin/G * kh * kw) * OH * OW. */
static int FC_FN(conv_threads)(const fc_conv2d_params *p)
{
    const double macs = (double)p->n * (double)p->c_out * (double)(p->c_in / p->groups) *
                        (double)(p->kh * p->kw) * (double)(p->out_h * p->out_w);
    return macs < FC_PAR_MIN_MACS ? 1 : fc_threads_for_region();
}

/* ------------------------------------------------------------------------------------ */
/* Forward                                                                               */
/* ------------------------------------------------------------------------------------ */

typedef void (*FC_FN(direct_plane_fn))(const fc_conv2d_params *, const FC_T *, const FC_T *,
                                       FC_T, FC_T *);
typedef void (*FC_FN(fewcin_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, const FC_T *, const FC_T *, FC_T *);
typedef void (*FC_FN(cin1_dw_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t,
                                  const FC_T *, FC_T *, FC_T *);

/* The c_in input planes of a 3x3 stride-1 conv with few input channels (is_fewcin_3x3),
 * zero-padded for the fewcin and cin1 kernels: channel c at xp + c *ps, OH + 3 rows of *ldx
 * values, row ih + pad_h holding input row ih from column pad_w on.  Every vector load the
 * kernels make (up to column ceil(OW / 16) * 16 + 2 + 15 of rows 0 .. OH + 1) stays inside.
 * Uses the FC_SCRATCH_CONV_AUX slot. */
static const FC_T *FC_FN(pad_planes_fewcin)(const fc_conv2d_params *p, const FC_T *x,
                                            int64_t *ldx_out, int64_t *ps_out)
{
    const int64_t OW = p->out_w, OH = p->out_h, C = p->c_in;
    const int64_t ldx = ((OW + 15) / 16) * 16 + 2 + 16, ps = ldx * (OH + 3);
    assert(C <= FC_FEWCIN_MAX && p->kh == 3 && p->kw == 3 && p->pad_h <= 2 && p->pad_w <= 2);
    FC_T *xp = (FC_T *)fc_scratch(FC_SCRATCH_CONV_AUX, sizeof(FC_T) * (size_t)(ps * C));
    if (!xp) abort();
    for (int64_t i = 0; i < ps * C; i++) xp[i] = 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ih = 0; ih < p->h; ih++) {
            FC_T *dst = xp + c * ps + (ih + p->pad_h) * ldx + p->pad_w;
            const FC_T *src = x + (c * p->h + ih) * p->w;
            for (int64_t iw = 0; iw < p->w; iw++) dst[iw] = src[iw];
        }
    *ldx_out = ldx;
    *ps_out = ps;
    return xp;
}

/* A 3x3 stride-1 conv with at most FC_FEWCIN_MAX input channels (padding <= 2): the
 * fewcin kernels' forward (direct, the shifted inputs in registers). */
static int FC_FN(is_fewcin_3x3)(const fc_conv2d_params *p)
{
    return p->groups == 1 && p->c_in >= 1 && p->c_in <= FC_FEWCIN_MAX && p->kh == 3 &&
           p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 &&
           p->dil_w == 1 && p->pad_h <= 2 && p->pad_w <= 2;
}

/* ... and with one input channel: the cin1 weight-gradient kernel too. */
static int FC_FN(is_cin1_3x3)(const fc_conv2d_params *p)
{
    return p->c_in == 1 && FC_FN(is_fewcin_3x3)(p);
}

typedef void (*FC_FN(fewcin_pool2_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t,
                                       int64_t, int64_t, int64_t, int64_t, const FC_T *,
                                       const FC_T *, int, FC_T *, uint8_t *);
typedef void (*FC_FN(fewcin_dw_pool2_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t,
                                          int64_t, int64_t, const FC_T *, const FC_T *,
                                          const uint8_t *, int, FC_T *);

/* The fused few-input-channel 3x3 conv + relu + 2x2 max-pool kernels of this ISA path (the
 * forward and the weight gradient, conv_direct_tmpl.h) into *fwd and *dw; 0 where the path
 * has none (the scalar and reference paths). */
static int FC_FN(fewcin_pool2_kernels)(fc_isa isa, FC_FN(fewcin_pool2_fn) *fwd,
                                       FC_FN(fewcin_dw_pool2_fn) *dw)
{
#ifdef FC_HAVE_X86_UKERNELS
    if (isa == FC_ISA_AVX512) {
        *fwd = FC_KN(conv2d, fewcin_3x3_pool2, avx512);
        *dw = FC_KN(conv2d, fewcin_3x3_dw_pool2, avx512);
        return 1;
    }
    if (isa == FC_ISA_AVX2) {
        *fwd = FC_KN(conv2d, fewcin_3x3_pool2, avx2);
        *dw = FC_KN(conv2d, fewcin_3x3_dw_pool2, avx2);
        return 1;
    }
#endif
#ifdef FC_ARM_NEON
    if (isa == FC_ISA_NEON) {
        *fwd = FC_KN(conv2d, fewcin_3x3_pool2, neon);
        *dw = FC_KN(conv2d, fewcin_3x3_dw_pool2, neon);
        return 1;
    }
#endif
    (void)isa;
    (void)fwd;
    (void)dw;
    return 0;
}

/* The c_in input planes x of a fewcin 3x3 conv (is_fewcin_3x3) zero-padded and split by
 * column parity for the pooling kernels: channel c at xq + c *qs, where padded row r (input
 * row r - pad_h) has its columns 2 j at [2 r ldq + j] and 2 j + 1 at [(2 r + 1) ldq + j]
 * (padded column c is input column c - pad_w), rows 0 .. 2 PH + 1 of the OH + 2, ldq =
 * ceil(PW / 16) * 16 + 2 values each: every load of the kernels (values 0 .. ceil(PW / VL)
 * VL of a row) stays inside, past the plane zero.  Uses the FC_SCRATCH_CONV_AUX slot. */
static const FC_T *FC_FN(pad_planes_pool2)(const fc_conv2d_params *p, const FC_T *x,
                                           int64_t *ldq_out, int64_t *qs_out)
{
    const int64_t PH = p->out_h / 2, PW = p->out_w / 2, rows = 2 * PH + 2, C = p->c_in;
    const int64_t ldq = (PW + 15) / 16 * 16 + 2, qs = 2 * rows * ldq;
    assert(FC_FN(is_fewcin_3x3)(p));
    FC_T *xq = (FC_T *)fc_scratch(FC_SCRATCH_CONV_AUX, sizeof(FC_T) * (size_t)(qs * C));
    if (!xq) abort();
    for (int64_t i = 0; i < qs * C; i++) xq[i] = 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ih = 0; ih < p->h && ih + p->pad_h < rows; ih++) {
            FC_T *dst = xq + c * qs + 2 * (ih + p->pad_h) * ldq;
            const FC_T *src = x + (c * p->h + ih) * p->w;
            /* parity e: value j is input column 2 j + e - pad_w, where that is in [0, W) (a
             * stride-2 copy the compiler vectorizes) */
            for (int64_t e = 0; e < 2; e++) {
                const int64_t off = e - p->pad_w;
                const int64_t j0 = off >= 0 ? 0 : (-off + 1) / 2, j1 = (p->w - off + 1) / 2;
                FC_T *restrict de = dst + e * ldq;
                const FC_T *restrict se = src + off;
                for (int64_t j = j0; j < j1; j++) de[j] = se[2 * j];
            }
        }
    *ldq_out = ldq;
    *qs_out = qs;
    return xq;
}

/* Blocking of the pre-packed forward GEMM: the path's own, with K split into equal kc
 * blocks of at most 5/4 of its kc (K = 288 was a 256 block and a 32 block that ran the
 * microkernel at a fraction of its speed). */
static const fc_gemm_config *FC_FN(packed_cfg)(fc_isa isa, int64_t K, fc_gemm_config *out)
{
    *out = *FC_FN(fc_gemm_config)(isa);
    const int64_t kc_max = out->kc + out->kc / 4;
    const int64_t nb = K > 0 ? (K + kc_max - 1) / kc_max : 1;
    int64_t kc = (K + nb - 1) / nb;
    kc = ((kc + 7) / 8) * 8;
    out->kc = kc > 0 ? kc : out->kc;
    return out;
}

/* ------------------------------------------------------------------------------------ */
/* Implicit GEMM for stride-1 convs                                                      */
/* ------------------------------------------------------------------------------------ */
/* With stride 1 the conv is a GEMM whose B rows are shifted windows of the zero-padded
 * input image xp (C planes of Hp x Wp): computing the output on the padded-width grid
 * q = oh * Wp + ow (ow < Wp; the columns ow >= OW are computed and dropped), row
 * k = (ci, r, s) of B is xp + ci*Hp*Wp + r*dh*Wp + s*dw + q, read in place by the indirect
 * microkernel.  No im2col and no packing of B: the padded image (L1/L2-sized for the
 * layers this is used on) is the only copy.  Used when the dropped columns cost less than
 * the im2col they replace (OW >= 3/4 of Wp), the padded image is at most 1 MiB, and both
 * fit in the workspace limit; otherwise the tiled im2col path runs. */
static int FC_FN(use_implicit)(fc_isa isa, const fc_conv2d_params *p)
{
    const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
    if (!cfg->iukernel || p->groups != 1 || p->stride_h != 1 || p->stride_w != 1 ||
        FC_FN(is_pointwise)(p) || p->c_out < cfg->mr || p->out_h <= 0 || p->out_w <= 0)
        return 0;
    const int64_t Hp = p->h + 2 * p->pad_h, Wp = p->w + 2 * p->pad_w;
    /* the padded image and the output tile (at most 256 KiB) of each thread stay within the
     * workspace limit */
    const double bytes = (double)p->c_in * (double)Hp * (double)Wp * sizeof(FC_T);
    const double limit = (double)fc_get_workspace_limit() / fc_threads_for_region();
    return 4 * p->out_w >= 3 * Wp && bytes <= (double)((int64_t)1 << 20) &&
           bytes + (double)(256 << 10) <= limit;
}

/* xp (len >= c_in * Hp * Wp values) = the image x zero-padded to planes of Hp x Wp,
 * zeros after them. */
static void FC_FN(pad_image)(const fc_conv2d_params *p, const FC_T *x, FC_T *xp, int64_t len)
{
    const int64_t H = p->h, W = p->w, Wp = W + 2 * p->pad_w, plane = (H + 2 * p->pad_h) * Wp;
    for (int64_t i = 0; i < len; i++) xp[i] = 0;
    for (int64_t ci = 0; ci < p->c_in; ci++)
        for (int64_t ih = 0; ih < H; ih++) {
            FC_T *dst = xp + ci * plane + (ih + p->pad_h) * Wp + p->pad_w;
            const FC_T *src = x + (ci * H + ih) * W;
            for (int64_t iw = 0; iw < W; iw++) dst[iw] = src[iw];
        }
}

/* off[k] for each im2col row k = (ci, r, s): where its window starts in the padded image
 * (stride 1: row k at output position (oh, ow) is xp[off[k] + oh * Wp + ow]). */
static void FC_FN(window_offsets)(const fc_conv2d_params *p, int64_t *off)
{
    const int64_t Wp = p->w + 2 * p->pad_w, plane = (p->h + 2 * p->pad_h) * Wp;
    for (int64_t ci = 0, k = 0; ci < p->c_in / p->groups; ci++)
        for (int64_t r = 0; r < p->kh; r++)
            for (int64_t s = 0; s < p->kw; s++, k++)
                off[k] = ci * plane + r * p->dil_h * Wp + s * p->dil_w;
}

/* One image of a conv that use_implicit accepts: y (c_out, OH, OW) = conv(x) + bias, with
 * ap the weights packed by fc_gemm_pack_a_full under cfg.  Uses the FC_SCRATCH_CONV_AUX
 * (padded image and row offsets) and FC_SCRATCH_COL (output tile) slots. */
static void FC_FN(forward_image_implicit)(const fc_gemm_config *cfg, const fc_conv2d_params *p,
                                          const FC_T *x, const FC_T *ap, const FC_T *bias,
                                          FC_T *y)
{
    typedef void (*iuk_fn)(int64_t, const FC_T *, const FC_T *, const int64_t *, FC_T *,
                           int64_t, int);
    const iuk_fn iuk = (iuk_fn)cfg->iukernel;
    const int64_t C = p->c_in, H = p->h, W = p->w, M = p->c_out;
    const int64_t Hp = H + 2 * p->pad_h, Wp = W + 2 * p->pad_w, plane = Hp * Wp;
    const int64_t OH = p->out_h, OW = p->out_w, P = OH * OW;
    const int64_t K = C * p->kh * p->kw, NQ = OH * Wp;
    const int64_t mr = cfg->mr, nr = cfg->nr, m_pad = ((M + mr - 1) / mr) * mr;
    /* positions per output tile: about 256 KiB of tile, whole micro-panels */
    int64_t NT = ((int64_t)(256 << 10) / (int64_t)sizeof(FC_T) / m_pad) / nr * nr;
    if (NT < nr) NT = nr;
    if (NT > ((NQ + nr - 1) / nr) * nr) NT = ((NQ + nr - 1) / nr) * nr;
    /* the padded image, then room for the reads of the dropped positions past its end */
    const int64_t xlen = ((C * plane + nr + Wp + 64) + 15) / 16 * 16; /* offsets aligned */
    const size_t aux = sizeof(FC_T) * (size_t)xlen + sizeof(int64_t) * (size_t)K + 64;
    FC_T *xp = (FC_T *)fc_scratch(FC_SCRATCH_CONV_AUX, aux);
    FC_T *ct = (FC_T *)fc_scratch(FC_SCRATCH_COL, sizeof(FC_T) * (size_t)(m_pad * NT));
    if (!xp || !ct) abort();
    int64_t *boff = (int64_t *)(xp + xlen);
    FC_FN(pad_image)(p, x, xp, xlen);
    FC_FN(window_offsets)(p, boff);
    /* The sums are formed in the order of fc_gemm_prepacked, so that the result does not
     * depend on which path runs: ((acc_1 + bias) + acc_2) + ... over the k blocks. */
    const int bias_first = bias && K > cfg->kc;
    for (int64_t q0 = 0; q0 < NQ; q0 += NT) {
        const int64_t nq = FC_MIN(NT, NQ - q0);
        if (bias_first)
            for (int64_t co = 0; co < M; co++)
                for (int64_t j = 0; j < ((nq + nr - 1) / nr) * nr; j++) ct[co * NT + j] = bias[co];
        for (int64_t pc = 0; pc < K; pc += cfg->kc) {
            const int64_t kc = FC_MIN(cfg->kc, K - pc);
            const FC_T *apc = ap + pc * m_pad;
            for (int64_t jr = 0; jr < nq; jr += nr)
                for (int64_t ir = 0; ir < M; ir += mr)
                    iuk(kc, apc + ir * kc, xp + q0 + jr, boff + pc, ct + ir * NT + jr, NT,
                        pc > 0 || bias_first);
        }
        /* keep the positions with ow < OW, add the bias: channel by channel, so that the
         * stores run along each output plane (rows of one channel after another, not one
         * row of every plane in turn, 4 KiB apart at 32x32) */
        for (int64_t co = 0; co < M; co++) {
            const FC_T *srow = ct + co * NT;
            FC_T *yc = y + co * P;
            for (int64_t oh = q0 / Wp; oh * Wp < q0 + nq; oh++) {
                const int64_t qs = FC_MAX(oh * Wp, q0), qe = FC_MIN(oh * Wp + OW, q0 + nq);
                if (qe <= qs) continue;
                const FC_T *src = srow + (qs - q0);
                FC_T *dst = yc + oh * OW + (qs - oh * Wp);
                if (bias && !bias_first) {
                    const FC_T b = bias[co];
                    for (int64_t j = 0; j < qe - qs; j++) dst[j] = src[j] + b;
                } else {
                    for (int64_t j = 0; j < qe - qs; j++) dst[j] = src[j];
                }
            }
        }
    }
}

#include "conv_winograd_tmpl.h"

/* One image, all groups, forward; `inner` threads inside the GEMMs. */
static void FC_FN(forward_image)(fc_isa isa, int inner, const fc_conv2d_params *p,
                                 const FC_T *x, const FC_T *w, const FC_T *bias, FC_T *y,
                                 int64_t np_tile, FC_FN(direct_plane_fn) plane_fn,
                                 FC_FN(fewcin_fn) fewcin_fn, const FC_T *ap_all, int implicit)
{
    const int64_t G = p->groups, cin_g = p->c_in / G, cout_g = p->c_out / G;
    const int64_t K = cin_g * p->kh * p->kw, P = p->out_h * p->out_w, HW = p->h * p->w;
    if (fewcin_fn) {
        /* few input channels, 3x3 stride 1: zero-padded copies of the planes, then the
         * direct kernel with the shifted inputs in registers */
        int64_t ldx, ps;
        const FC_T *xp = FC_FN(pad_planes_fewcin)(p, x, &ldx, &ps);
        fewcin_fn(xp, ldx, ps, p->c_in, p->out_h, p->out_w, p->c_out, w, bias, y);
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
        if (ap_all && implicit) {
            fc_gemm_config cfgk;
            FC_FN(forward_image_implicit)(FC_FN(packed_cfg)(isa, K, &cfgk), p, x, ap_all, bias,
                                          y);
            continue;
        }
        if (ap_all) {
            /* weights packed once per call; im2col written straight into packed B */
            fc_gemm_config cfgk;
            const fc_gemm_config *cfg = FC_FN(packed_cfg)(isa, K, &cfgk);
            const int64_t m_pad = ((cout_g + cfg->mr - 1) / cfg->mr) * cfg->mr;
            FC_T *bp = (FC_T *)fc_scratch(FC_SCRATCH_COL,
                                          sizeof(FC_T) * (size_t)(K * (np_tile + cfg->nr)));
            /* row: one im2col row, or the kw column masks of the stride-1 path */
            FC_T *row = (FC_T *)fc_scratch(FC_SCRATCH_CONV_AUX,
                                           sizeof(FC_T) * (size_t)((np_tile + cfg->nr) * p->kw));
            if (!bp || !row) abort();
            for (int64_t p0 = 0; p0 < P; p0 += np_tile) {
                const int64_t np = FC_MIN(np_tile, P - p0);
                FC_FN(im2col_packed)(p, cfg, xg, p0, np, row, bp);
                FC_FN(fc_gemm_prepacked)(cfg, cout_g, np, K, (FC_T)1, ap_all + g * m_pad * K, bp,
                                         (FC_T)0, yg + p0, P, bg);
            }
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
    if (FC_FN(use_winograd)(isa, p)) {
        const fc_conv_block_out out = {0, 0, y, NULL};
        FC_FN(wg_forward)(isa, p, x, w, bias, &out);
        return;
    }
    const int nt = FC_FN(conv_threads)(p);
    const int outer = (N >= nt) ? nt : 1; /* threads over images */
    const int inner = outer > 1 ? 1 : nt;
    const int64_t np_tile = FC_FN(tile_positions)(p, K, outer);
    FC_FN(direct_plane_fn) plane_fn = NULL;
    FC_FN(fewcin_fn) fewcin_fn = NULL;
    if (cout_g == 1 && K > 0) {
        plane_fn = FC_FN(direct_plane_scalar);
#ifdef FC_HAVE_X86_UKERNELS
        if (isa == FC_ISA_AVX512) plane_fn = FC_FN(direct_plane_avx512);
        else if (isa == FC_ISA_AVX2) plane_fn = FC_FN(direct_plane_avx2);
#endif
#ifdef FC_ARM_NEON
        if (isa == FC_ISA_NEON) plane_fn = FC_FN(direct_plane_neon);
#endif
    }
#ifdef FC_HAVE_X86_UKERNELS
    if (FC_FN(is_fewcin_3x3)(p)) {
        if (isa == FC_ISA_AVX512) fewcin_fn = FC_KN(conv2d, fewcin_3x3, avx512);
        else if (isa == FC_ISA_AVX2) fewcin_fn = FC_KN(conv2d, fewcin_3x3, avx2);
    }
#endif
#ifdef FC_ARM_NEON
    if (FC_FN(is_fewcin_3x3)(p) && isa == FC_ISA_NEON)
        fewcin_fn = FC_KN(conv2d, fewcin_3x3, neon);
#endif
    const int64_t xs = p->c_in * p->h * p->w, ys = p->c_out * P;
    const int implicit = inner == 1 && !plane_fn && !fewcin_fn && FC_FN(use_implicit)(isa, p);
    /* With one thread per GEMM, pack the weights once for all images and tiles. */
    FC_T *ap_all = NULL;
    if (inner == 1 && !plane_fn && !fewcin_fn && !FC_FN(is_pointwise)(p)) {
        fc_gemm_config cfgk;
        const fc_gemm_config *cfg = FC_FN(packed_cfg)(isa, K, &cfgk);
        const int64_t m_pad = ((cout_g + cfg->mr - 1) / cfg->mr) * cfg->mr;
        ap_all = (FC_T *)malloc(sizeof(FC_T) * (size_t)(G * m_pad * K));
        if (ap_all)
            for (int64_t g = 0; g < G; g++)
                FC_FN(fc_gemm_pack_a_full)(cfg, 0, cout_g, K, w + g * cout_g * K, K,
                                           ap_all + g * m_pad * K);
    }
    if (outer > 1) {
        FC_OMP(parallel for schedule(static) num_threads(outer))
        for (int64_t i = 0; i < N; i++)
            FC_FN(forward_image)(isa, 1, p, x + i * xs, w, bias, y + i * ys, np_tile, plane_fn,
                                 fewcin_fn, ap_all, implicit);
    } else {
        for (int64_t i = 0; i < N; i++)
            FC_FN(forward_image)(isa, inner, p, x + i * xs, w, bias, y + i * ys, np_tile,
                                 plane_fn, fewcin_fn, ap_all, implicit);
    }
    free(ap_all);
}

/* ------------------------------------------------------------------------------------ */
/* Backward                                                                              */
/* ------------------------------------------------------------------------------------ */

/* One image, all groups: gw_acc += this image's weight gradient (if gw_acc), gx = this
 * image's input gradient (if gx); with dw_fn, gb_acc += its bias gradient (if gb_acc). */
static void FC_FN(backward_image)(fc_isa isa, int inner, const fc_conv2d_params *p,
                                  const FC_T *gy, const FC_T *x, const FC_T *w, FC_T *gx,
                                  FC_T *gw_acc, FC_T *gb_acc, int64_t np_tile,
                                  FC_FN(direct_plane_fn) plane_fn, FC_FN(cin1_dw_fn) dw_fn,
                                  const FC_T *apT_all)
{
    const int64_t G = p->groups, cin_g = p->c_in / G, cout_g = p->c_out / G;
    const int64_t K = cin_g * p->kh * p->kw, P = p->out_h * p->out_w, HW = p->h * p->w;
    const int pw = FC_FN(is_pointwise)(p);
    if (gw_acc && dw_fn) {
        /* one input channel, 3x3 stride 1: the direct weight-gradient kernel */
        int64_t ldx;
        int64_t ps;
        const FC_T *xp = FC_FN(pad_planes_fewcin)(p, x, &ldx, &ps);
        dw_fn(xp, ldx, p->out_h, p->out_w, p->c_out, gy, gw_acc, gb_acc);
        gw_acc = NULL; /* done */
    }
    if (gx && plane_fn) {
        /* One output channel per group, stride 1: each input-channel gradient is the
         * direct conv of the output gradient with the flipped kernel and the complementary
         * padding dil*(k-1) - pad. */
        fc_conv2d_params q = *p;
        q.n = 1;
        q.c_in = 1;
        q.c_out = 1;
        q.groups = 1;
        q.h = p->out_h;
        q.w = p->out_w;
        q.out_h = p->h;
        q.out_w = p->w;
        q.pad_h = p->dil_h * (p->kh - 1) - p->pad_h;
        q.pad_w = p->dil_w * (p->kw - 1) - p->pad_w;
        const int64_t kk = p->kh * p->kw;
        FC_T *wf = (FC_T *)fc_scratch(FC_SCRATCH_CONV_AUX, sizeof(FC_T) * (size_t)kk);
        if (!wf) abort();
        for (int64_t g = 0; g < G; g++)
            for (int64_t ci = 0; ci < cin_g; ci++) {
                const FC_T *wc = w + (g * cin_g + ci) * kk; /* cout_g == 1 */
                for (int64_t t = 0; t < kk; t++) wf[t] = wc[kk - 1 - t];
                plane_fn(&q, gy + g * P, wf, (FC_T)0, gx + (g * cin_g + ci) * HW);
            }
        gx = NULL; /* done; the weight gradient below still runs */
    }
    if (!gx && !gw_acc) return;
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
            if (gxg && apT_all) {
                /* w_g^T packed once per call; only this tile of gy is packed here */
                const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
                const int64_t m_pad = ((K + cfg->mr - 1) / cfg->mr) * cfg->mr;
                const int64_t n_pad = ((np + cfg->nr - 1) / cfg->nr) * cfg->nr;
                FC_T *bpk = (FC_T *)fc_scratch(FC_SCRATCH_PACK_B,
                                               sizeof(FC_T) * (size_t)(n_pad * cout_g));
                if (!bpk) abort();
                FC_FN(fc_gemm_pack_b_full)(cfg, 0, cout_g, np, gyg + p0, P, bpk);
                FC_FN(fc_gemm_prepacked)(cfg, K, np, cout_g, (FC_T)1, apT_all + g * m_pad * cout_g,
                                         bpk, (FC_T)0, col, np, NULL);
                FC_FN(col2im_add)(p, col, p0, np, gxg);
            } else if (gxg) {
                FC_ENGINE(isa, inner, 1, 0, K, np, cout_g, (FC_T)1, wg, K, gyg + p0, P, (FC_T)0,
                          col, np, 1, NULL, NULL);
                FC_FN(col2im_add)(p, col, p0, np, gxg);
            }
        }
    }
}

typedef void (*FC_FN(dw_rows_fn))(int64_t, const FC_T *, int64_t, const int64_t *, int64_t,
                                  int64_t, const FC_T *, int64_t, int64_t, int64_t, int64_t,
                                  FC_T *);

/* The row-dot weight-gradient kernel (dw_rows in conv_direct_tmpl.h) for this conv, or
 * NULL: stride 1, one group, a short reduction K = Cin*kh*kw <= 64 (K = 27 for an RGB 3x3
 * conv: there the GEMM is degenerate and im2col plus packing cost more than the products;
 * for longer K the packed GEMM measured faster), a padded image of at most 1 MiB, and
 * output rows that fill their vectors to at least 4/5 (the masked lanes of each row's last
 * vector are wasted). */
static FC_FN(dw_rows_fn) FC_FN(dw_rows_kernel)(fc_isa isa, const fc_conv2d_params *p)
{
    FC_FN(dw_rows_fn) fn = NULL;
    int64_t vl = 0;
#ifdef FC_HAVE_X86_UKERNELS
    if (isa == FC_ISA_AVX512) {
        fn = FC_FN(dw_rows_avx512);
        vl = 64 / (int64_t)sizeof(FC_T);
    } else if (isa == FC_ISA_AVX2) {
        fn = FC_FN(dw_rows_avx2);
        vl = 32 / (int64_t)sizeof(FC_T);
    }
#endif
#ifdef FC_ARM_NEON
    if (isa == FC_ISA_NEON) {
        fn = FC_FN(dw_rows_neon);
        vl = 16 / (int64_t)sizeof(FC_T);
    }
#endif
    if (!fn || p->groups != 1 || p->stride_h != 1 || p->stride_w != 1 ||
        FC_FN(is_pointwise)(p) || p->out_h <= 0 || p->out_w <= 0 ||
        p->c_in * p->kh * p->kw > 64)
        return NULL;
    const int64_t Hp = p->h + 2 * p->pad_h, Wp = p->w + 2 * p->pad_w;
    const double bytes = (double)p->c_in * (double)Hp * (double)Wp * sizeof(FC_T);
    const int64_t padded_ow = (p->out_w + vl - 1) / vl * vl;
    if (bytes > (double)((int64_t)1 << 20) || 4 * padded_ow > 5 * p->out_w) return NULL;
    return fn;
}

/* gw (zeroed) = the weight gradient of all images with the row-dot kernel: threads over the
 * images, each with a private partial (thread 0 writes gw), images in chunks whose padded
 * copies stay within 1 MiB and the workspace limit.  Uses FC_SCRATCH_CONV_AUX. */
static void FC_FN(weight_grad_rows)(FC_FN(dw_rows_fn) rows_fn, const fc_conv2d_params *p,
                                    const FC_T *gy, const FC_T *x, FC_T *gw, int nt)
{
    const int64_t N = p->n, K = p->c_in * p->kh * p->kw, wsize = p->c_out * K;
    const int64_t Wp = p->w + 2 * p->pad_w, plane = (p->h + 2 * p->pad_h) * Wp;
    const int64_t P = p->out_h * p->out_w, xs = p->c_in * p->h * p->w, ys = p->c_out * P;
    const int64_t xstride = ((p->c_in * plane + 64 + 15) / 16) * 16; /* slack, aligned */
    const int outer = (N >= nt) ? nt : 1;
    int64_t budget = fc_get_workspace_limit() / outer;
    if (budget > ((int64_t)1 << 20)) budget = (int64_t)1 << 20;
    int64_t chunk = (budget - (int64_t)sizeof(int64_t) * K) / ((int64_t)sizeof(FC_T) * xstride);
    if (chunk < 1) chunk = 1;
    if (chunk > 8) chunk = 8;
    FC_T *part = NULL;
    if (outer > 1) {
        part = (FC_T *)calloc((size_t)wsize * (size_t)(outer - 1) + 1, sizeof(FC_T));
        if (!part) abort();
    }
    FC_OMP(parallel num_threads(outer) if (outer > 1))
    {
        const int t = FC_THREAD_ID();
        const int nth = FC_NUM_THREADS_IN_REGION();
        FC_T *acc = t == 0 ? gw : part + (size_t)(t - 1) * wsize;
        const size_t bytes = sizeof(FC_T) * (size_t)(chunk * xstride) +
                             sizeof(int64_t) * (size_t)K + 64;
        FC_T *xp = (FC_T *)fc_scratch(FC_SCRATCH_CONV_AUX, bytes);
        if (!xp) abort();
        int64_t *off = (int64_t *)(xp + chunk * xstride);
        FC_FN(window_offsets)(p, off);
        const int64_t i0 = N * t / nth, i1 = N * (t + 1) / nth;
        for (int64_t i = i0; i < i1; i += chunk) {
            const int64_t nc = FC_MIN(chunk, i1 - i);
            for (int64_t j = 0; j < nc; j++)
                FC_FN(pad_image)(p, x + (i + j) * xs, xp + j * xstride, xstride);
            rows_fn(nc, xp, xstride, off, K, Wp, gy + i * ys, ys, p->c_out, p->out_h,
                    p->out_w, acc);
        }
    }
    for (int t = 1; t < outer; t++) {
        const FC_T *pt = part + (size_t)(t - 1) * wsize;
        for (int64_t i = 0; i < wsize; i++) gw[i] += pt[i];
    }
    free(part);
}

/* The sum of the P values of one output-gradient plane (its bias gradient), in 16 lane-wise
 * partial sums (they vectorise), the tail, then the lanes: the one order of every gb here. */
static FC_T FC_FN(plane_sum)(const FC_T *r, int64_t P)
{
    FC_T acc[16] = {0}, sum = 0;
    int64_t q = 0;
    for (; q + 16 <= P; q += 16)
        for (int l = 0; l < 16; l++) acc[l] += r[q + l];
    for (; q < P; q++) sum += r[q];
    for (int l = 0; l < 16; l++) sum += acc[l];
    return sum;
}

void FC_FN(fc_opt_conv2d_backward)(fc_isa isa, const fc_conv2d_params *p, const FC_T *gy,
                                   const FC_T *x, const FC_T *w, FC_T *gx, FC_T *gw, FC_T *gb)
{
    const int64_t N = p->n, G = p->groups;
    const int64_t K = (p->c_in / G) * p->kh * p->kw, P = p->out_h * p->out_w;
    const int64_t xs = p->c_in * p->h * p->w, ys = p->c_out * P;
    const int64_t wsize = p->c_out * K;
    const int nt = FC_FN(conv_threads)(p);
    FC_FN(cin1_dw_fn) dw_fn = NULL;
#ifdef FC_HAVE_X86_UKERNELS
    if (gw && FC_FN(is_cin1_3x3)(p)) {
        if (isa == FC_ISA_AVX512) dw_fn = FC_FN(cin1_3x3_dw_avx512);
        else if (isa == FC_ISA_AVX2) dw_fn = FC_FN(cin1_3x3_dw_avx2);
    }
#endif
#ifdef FC_ARM_NEON
    if (gw && FC_FN(is_cin1_3x3)(p) && isa == FC_ISA_NEON) dw_fn = FC_FN(cin1_3x3_dw_neon);
#endif
    /* the cin1 weight-gradient kernel sums gb from the loads it makes anyway */
    const int fuse_gb = gb && dw_fn && N > 0;

    if (gb) {
        for (int64_t co = 0; co < p->c_out; co++) gb[co] = 0;
        for (int64_t i = 0; i < (fuse_gb ? 0 : N); i++)
            for (int64_t co = 0; co < p->c_out; co++)
                gb[co] += FC_FN(plane_sum)(gy + i * ys + co * P, P);
    }
    if (!gx && !gw) return;
    if (gw)
        for (int64_t i = 0; i < wsize; i++) gw[i] = 0;
    if (N <= 0) return;

    if (gx && G == 1 && p->stride_h == 1 && p->stride_w == 1 &&
        p->pad_h <= p->dil_h * (p->kh - 1) && p->pad_w <= p->dil_w * (p->kw - 1)) {
        /* Stride 1: gx is the forward conv of gy with the kernels flipped and transposed
         * (c_out -> c_in) and the complementary padding dil*(k-1) - pad, which the implicit
         * GEMM runs without im2col or col2im. */
        fc_conv2d_params q = *p;
        q.c_in = p->c_out;
        q.c_out = p->c_in;
        q.h = p->out_h;
        q.w = p->out_w;
        q.out_h = p->h;
        q.out_w = p->w;
        q.pad_h = p->dil_h * (p->kh - 1) - p->pad_h;
        q.pad_w = p->dil_w * (p->kw - 1) - p->pad_w;
        if (FC_FN(use_winograd)(isa, &q) || FC_FN(use_implicit)(isa, &q)) {
            const int64_t kk = p->kh * p->kw, cin = p->c_in, cout = p->c_out;
            FC_T *wt = (FC_T *)malloc(sizeof(FC_T) * (size_t)(wsize > 0 ? wsize : 1));
            if (!wt) abort();
            for (int64_t co = 0; co < cout; co++)
                for (int64_t ci = 0; ci < cin; ci++)
                    for (int64_t t = 0; t < kk; t++)
                        wt[(ci * cout + co) * kk + t] = w[(co * cin + ci) * kk + kk - 1 - t];
            FC_FN(fc_opt_conv2d_forward)(isa, &q, gy, wt, NULL, gx);
            free(wt);
            gx = NULL;
            if (!gw) return;
        }
    }

    const int outer = (N >= nt) ? nt : 1;
    const int inner = outer > 1 ? 1 : nt;
    const int64_t np_tile = FC_FN(tile_positions)(p, K, outer);
    FC_FN(direct_plane_fn) plane_fn = NULL;
    if (gx && p->c_out == G && p->stride_h == 1 && p->stride_w == 1 &&
        p->pad_h <= p->dil_h * (p->kh - 1) && p->pad_w <= p->dil_w * (p->kw - 1)) {
        plane_fn = FC_FN(direct_plane_scalar);
#ifdef FC_HAVE_X86_UKERNELS
        if (isa == FC_ISA_AVX512) plane_fn = FC_FN(direct_plane_avx512);
        else if (isa == FC_ISA_AVX2) plane_fn = FC_FN(direct_plane_avx2);
#endif
#ifdef FC_ARM_NEON
        if (isa == FC_ISA_NEON) plane_fn = FC_FN(direct_plane_neon);
#endif
    }
    if (gw && !dw_fn && FC_FN(use_winograd_dw)(isa, p)) {
        FC_FN(wg_weight_grad)(isa, p, gy, x, gw, nt);
        gw = NULL;
        if (!gx) return;
    }
    if (gw && !dw_fn) {
        FC_FN(dw_rows_fn) rows_fn = FC_FN(dw_rows_kernel)(isa, p);
        if (rows_fn) {
            FC_FN(weight_grad_rows)(rows_fn, p, gy, x, gw, nt);
            gw = NULL;
            if (!gx) return;
        }
    }
    /* With one thread per GEMM, pack w^T (for gx) once for all images and tiles. */
    FC_T *apT_all = NULL;
    const int64_t cout_g = p->c_out / G;
    if (gx && inner == 1 && !plane_fn && !FC_FN(is_pointwise)(p) && cout_g > 0) {
        const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
        const int64_t m_pad = ((K + cfg->mr - 1) / cfg->mr) * cfg->mr;
        apT_all = (FC_T *)malloc(sizeof(FC_T) * (size_t)(G * m_pad * cout_g));
        if (apT_all)
            for (int64_t g = 0; g < G; g++)
                FC_FN(fc_gemm_pack_a_full)(cfg, 1, K, cout_g, w + g * cout_g * K, K,
                                           apT_all + g * m_pad * cout_g);
    }
    if (outer == 1) {
        for (int64_t i = 0; i < N; i++)
            FC_FN(backward_image)(isa, inner, p, gy + i * ys, x ? x + i * xs : NULL, w,
                                  gx ? gx + i * xs : NULL, gw, fuse_gb ? gb : NULL, np_tile,
                                  plane_fn, dw_fn, apT_all);
        free(apT_all);
        return;
    }
    /* Threads over images; each thread accumulates its weight gradient privately (thread 0
     * directly into gw) and the partials are summed at the end. */
    FC_T *part = NULL;
    const int64_t pstride = wsize + (fuse_gb ? p->c_out : 0); /* gw partial, then gb's */
    if (gw) {
        /* zeroed up front: a region may run with fewer threads than asked for */
        part = (FC_T *)calloc((size_t)pstride * (size_t)(outer - 1) + 1, sizeof(FC_T));
        if (!part) abort();
    }
    FC_OMP(parallel num_threads(outer))
    {
        const int t = FC_THREAD_ID();
        const int nth = FC_NUM_THREADS_IN_REGION();
        FC_T *acc = NULL, *accb = NULL;
        if (gw) acc = t == 0 ? gw : part + (size_t)(t - 1) * pstride;
        if (fuse_gb) accb = t == 0 ? gb : part + (size_t)(t - 1) * pstride + wsize;
        const int64_t i0 = N * t / nth, i1 = N * (t + 1) / nth;
        for (int64_t i = i0; i < i1; i++)
            FC_FN(backward_image)(isa, 1, p, gy + i * ys, x ? x + i * xs : NULL, w,
                                  gx ? gx + i * xs : NULL, acc, accb, np_tile, plane_fn,
                                  dw_fn, apT_all);
    }
    free(apT_all);
    if (gw) {
        for (int t = 1; t < outer; t++) {
            const FC_T *pt = part + (size_t)(t - 1) * pstride;
            for (int64_t i = 0; i < wsize; i++) gw[i] += pt[i];
            if (fuse_gb)
                for (int64_t co = 0; co < p->c_out; co++) gb[co] += pt[wsize + co];
        }
        free(part);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Blocks: conv + bias + relu (+ max-pool)                                               */
/* ------------------------------------------------------------------------------------ */

typedef void (*FC_FN(block_pool_fn))(const FC_T *, int64_t, int64_t, int64_t, int, FC_T *,
                                     uint8_t *);
typedef void (*FC_FN(block_unpool_fn))(const FC_T *, const FC_T *, const uint8_t *, int64_t,
                                       int64_t, int64_t, int, FC_T *);

static FC_FN(block_pool_fn) FC_FN(block_pool_kernel)(fc_isa isa)
{
#ifdef FC_HAVE_X86_UKERNELS
    if (isa == FC_ISA_AVX512) return FC_KN(block, pool_plane, avx512);
    if (isa == FC_ISA_AVX2) return FC_KN(block, pool_plane, avx2);
#endif
#ifdef FC_ARM_NEON
    if (isa == FC_ISA_NEON) return FC_KN(block, pool_plane, neon);
#endif
    (void)isa;
    return FC_KN(block, pool_plane, scalar);
}

static FC_FN(block_unpool_fn) FC_FN(block_unpool_kernel)(fc_isa isa)
{
#ifdef FC_HAVE_X86_UKERNELS
    if (isa == FC_ISA_AVX512) return FC_KN(block, unpool_plane, avx512);
    if (isa == FC_ISA_AVX2) return FC_KN(block, unpool_plane, avx2);
#endif
#ifdef FC_ARM_NEON
    if (isa == FC_ISA_NEON) return FC_KN(block, unpool_plane, neon);
#endif
    (void)isa;
    return FC_KN(block, unpool_plane, scalar);
}

/* Images per chunk of the block forward: their conv outputs (the pre-activations) stay in a
 * per-thread buffer of about half of L2, and are pooled from there. */
static int64_t FC_FN(block_chunk)(const fc_conv2d_params *p)
{
    int64_t caches[3];
    (void)fc_cache_sizes(caches);
    const int64_t per = (int64_t)sizeof(FC_T) * p->c_out * p->out_h * p->out_w;
    const int64_t c = per > 0 ? caches[1] / 2 / per : 1;
    return FC_MAX((int64_t)1, c);
}

void FC_FN(fc_opt_conv2d_block_forward)(fc_isa isa, const fc_conv2d_params *p,
                                        const fc_conv2d_block *b, const FC_T *x, const FC_T *w,
                                        const FC_T *bias, FC_T *y, uint8_t *idx)
{
    const int64_t N = p->n, M = p->c_out, OH = p->out_h, OW = p->out_w, k = b->pool;
    if (N <= 0 || M <= 0) return;
    if (FC_FN(use_winograd)(isa, p) && (k == 0 || k == 2)) {
        const fc_conv_block_out out = {b->relu, k, y, idx};
        FC_FN(wg_forward)(isa, p, x, w, bias, &out);
        return;
    }
    if (k == 0) {
        /* conv, then relu over each chunk of images while it is in cache */
        const int64_t chunk = FC_FN(block_chunk)(p), ys = M * OH * OW;
        for (int64_t i = 0; i < N; i += chunk) {
            fc_conv2d_params q = *p;
            q.n = FC_MIN(chunk, N - i);
            FC_FN(fc_opt_conv2d_forward)(isa, &q, x + i * p->c_in * p->h * p->w, w, bias,
                                         y + i * ys);
            if (b->relu) FC_FN(fc_opt_relu_forward)(q.n * ys, y + i * ys, y + i * ys);
        }
        return;
    }
    FC_FN(fewcin_pool2_fn) fused;
    FC_FN(fewcin_dw_pool2_fn) fused_dw;
    if (k == 2 && OH >= 2 && OW >= 2 && FC_FN(is_fewcin_3x3)(p) &&
        FC_FN(fewcin_pool2_kernels)(isa, &fused, &fused_dw)) {
        /* few input channels: the conv, relu and pool in registers (no conv output stored);
         * work items of whole images, or with fewer images than threads, of pooled rows */
        const int64_t PH = OH / 2, PW = OW / 2, xs = p->c_in * p->h * p->w, ps = M * PH * PW;
        const int nt = FC_FN(conv_threads)(p);
        const int64_t split = N >= nt ? 1 : FC_MIN((int64_t)nt, PH), items = N * split;
        const int threads = (int)FC_MIN((int64_t)nt, items);
        (void)threads; /* (no OpenMP: one thread) */
        FC_OMP(parallel for schedule(static) num_threads(threads) if (threads > 1))
        for (int64_t it = 0; it < items; it++) {
            const int64_t i = it / split, part = it % split;
            int64_t ldq, qs;
            const FC_T *xq = FC_FN(pad_planes_pool2)(p, x + i * xs, &ldq, &qs);
            fused(xq, ldq, qs, p->c_in, PH * part / split, PH * (part + 1) / split, PH, PW, M,
                  w, bias, b->relu, y + i * ps, idx + i * ps);
        }
        return;
    }
    /* Each thread takes chunks of images: their conv into its own scratch (L2-sized), then
     * relu + pool of each plane from there.  With fewer images than threads, one chunk at a
     * time with the threads inside the conv. */
    const FC_FN(block_pool_fn) pool = FC_FN(block_pool_kernel)(isa);
    const int64_t PH = OH / k, PW = OW / k, plane = OH * OW, xs = p->c_in * p->h * p->w;
    const int64_t chunk = FC_FN(block_chunk)(p), nchunks = (N + chunk - 1) / chunk;
    const int nt = FC_FN(conv_threads)(p);
    const int outer = nchunks >= nt ? nt : 1;
    (void)outer; /* (no OpenMP: one thread) */
    FC_OMP(parallel for schedule(static) num_threads(outer) if (outer > 1))
    for (int64_t c = 0; c < nchunks; c++) {
        const int64_t i = c * chunk;
        fc_conv2d_params q = *p;
        q.n = FC_MIN(chunk, N - i);
        FC_T *tmp = (FC_T *)fc_scratch(FC_SCRATCH_BLOCK, sizeof(FC_T) * (size_t)(q.n * M * plane));
        if (!tmp) abort();
        FC_FN(fc_opt_conv2d_forward)(isa, &q, x + i * xs, w, bias, tmp);
        for (int64_t j = 0; j < q.n * M; j++)
            pool(tmp + j * plane, OH, OW, k, b->relu, y + (i * M + j) * PH * PW,
                 idx + (i * M + j) * PH * PW);
    }
}

/* Whether the block backward hands the conv backward its gradient a chunk of images at a
 * time: where the weight gradient runs image by image anyway (the cin1 3x3 kernels, the
 * row-dot and im2col paths) and no input gradient is asked for, or the cin1 kernels' (the
 * Winograd weight gradient reduces over the tiles of all images, and the input gradient's
 * Winograd or implicit-GEMM conv wants them all too). */
static int FC_FN(block_backward_in_chunks)(fc_isa isa, const fc_conv2d_params *p, int want_gx,
                                           int want_gw)
{
    if (FC_FN(is_cin1_3x3)(p)) {
#ifdef FC_HAVE_X86_UKERNELS
        if (isa == FC_ISA_AVX512 || isa == FC_ISA_AVX2) return 1;
#endif
#ifdef FC_ARM_NEON
        if (isa == FC_ISA_NEON) return 1;
#endif
    }
    if (want_gx) return 0;
    return !(want_gw && FC_FN(use_winograd_dw)(isa, p));
}

/* The conv output's gradient of planes [j0, j1) (the unpooling and the relu mask in one
 * pass) into g; with psum (pooling blocks), each plane's sum to psum[j] (plane_sum, while the
 * plane is in cache). */
static void FC_FN(block_output_grad)(fc_isa isa, const fc_conv2d_params *p,
                                     const fc_conv2d_block *b, const FC_T *gy, const FC_T *y,
                                     const uint8_t *idx, int64_t j0, int64_t j1, FC_T *g,
                                     FC_T *psum)
{
    const int64_t OH = p->out_h, OW = p->out_w, k = b->pool, plane = OH * OW;
    if (k == 0) {
        FC_FN(fc_opt_relu_backward)((j1 - j0) * plane, gy + j0 * plane, y + j0 * plane, g);
        return;
    }
    const FC_FN(block_unpool_fn) unpool = FC_FN(block_unpool_kernel)(isa);
    const int64_t pp = (OH / k) * (OW / k);
    for (int64_t j = j0; j < j1; j++) {
        FC_T *gj = g + (j - j0) * plane;
        unpool(gy + j * pp, y + j * pp, idx + j * pp, OH, OW, k, b->relu, gj);
        if (psum) psum[j] = FC_FN(plane_sum)(gj, plane);
    }
}

/* The block backward of block_backward_in_chunks: each thread takes chunks of images
 * (block_chunk: their conv-output gradient fills about half of L2), builds that gradient in
 * its scratch and runs the conv backward on the chunk, summing the weight and bias gradients
 * of its chunks; the threads' sums are added at the end.  The full-resolution gradient never
 * goes to memory. */
static void FC_FN(block_backward_chunked)(fc_isa isa, const fc_conv2d_params *p,
                                          const fc_conv2d_block *b, const FC_T *gy,
                                          const FC_T *y, const uint8_t *idx, const FC_T *x,
                                          const FC_T *w, FC_T *gx, FC_T *gw, FC_T *gb)
{
    const int64_t N = p->n, M = p->c_out, plane = p->out_h * p->out_w;
    const int64_t xs = p->c_in * p->h * p->w, wsize = M * (p->c_in / p->groups) * p->kh * p->kw;
    const int64_t chunk = FC_FN(block_chunk)(p), nchunks = (N + chunk - 1) / chunk;
    const int nt = FC_FN(conv_threads)(p);
    const int outer = nchunks >= nt ? nt : 1;
    /* per thread: its sums (gw, gb), then one chunk's (gw, gb) */
    const int64_t ps = 2 * (wsize + M);
    FC_T *part = (FC_T *)calloc((size_t)ps * (size_t)outer, sizeof(FC_T));
    if (!part) abort();
    (void)outer; /* (no OpenMP: one thread) */
    FC_OMP(parallel num_threads(outer) if (outer > 1))
    {
        const int t = FC_THREAD_ID(), T = FC_NUM_THREADS_IN_REGION();
        FC_T *sum = part + (size_t)t * ps, *cw = sum + wsize + M;
        for (int64_t c = nchunks * t / T; c < nchunks * (t + 1) / T; c++) {
            const int64_t i = c * chunk;
            fc_conv2d_params q = *p;
            q.n = FC_MIN(chunk, N - i);
            FC_T *g = (FC_T *)fc_scratch(FC_SCRATCH_BLOCK, sizeof(FC_T) * (size_t)(q.n * M * plane));
            if (!g) abort();
            FC_FN(block_output_grad)(isa, p, b, gy, y, idx, i * M, (i + q.n) * M, g, NULL);
            FC_FN(fc_opt_conv2d_backward)(isa, &q, g, x + i * xs, w, gx ? gx + i * xs : NULL,
                                          gw ? cw : NULL, gb ? cw + wsize : NULL);
            if (gw)
                for (int64_t e = 0; e < wsize; e++) sum[e] += cw[e];
            if (gb)
                for (int64_t e = 0; e < M; e++) sum[wsize + e] += cw[wsize + e];
        }
    }
    for (int64_t e = 0; gw && e < wsize; e++) gw[e] = 0;
    for (int64_t e = 0; gb && e < M; e++) gb[e] = 0;
    for (int t = 0; t < outer; t++) {
        const FC_T *sum = part + (size_t)t * ps;
        for (int64_t e = 0; gw && e < wsize; e++) gw[e] += sum[e];
        for (int64_t e = 0; gb && e < M; e++) gb[e] += sum[wsize + e];
    }
    free(part);
}

/* The weight and bias gradients of a fewcin 3x3 conv + (relu +) 2x2 max-pool block whose
 * windows cover the conv output, from the pooled gradient (fewcin_3x3_dw_pool2: the conv
 * output's gradient is never stored): each thread sums the images of its contiguous share
 * into its own lane partial sums (9 c_in + 1 per output channel: the taps and the bias, 16
 * lanes each), reduced lane by lane at the end and added in thread order. */
static void FC_FN(block_backward_fewcin_pool2)(const fc_conv2d_params *p,
                                               const fc_conv2d_block *b,
                                               FC_FN(fewcin_dw_pool2_fn) dw, const FC_T *gy,
                                               const FC_T *y, const uint8_t *idx,
                                               const FC_T *x, FC_T *gw, FC_T *gb)
{
    const int64_t N = p->n, M = p->c_out, C = p->c_in, PH = p->out_h / 2, PW = p->out_w / 2;
    const int64_t xs = C * p->h * p->w, ps = M * PH * PW, K = 9 * C + 1, per = M * K * 16;
    const int nt = FC_FN(conv_threads)(p);
    const int outer = (int)FC_MAX((int64_t)1, FC_MIN((int64_t)nt, N));
    FC_T *part = (FC_T *)calloc((size_t)per * (size_t)outer, sizeof(FC_T));
    if (!part) abort();
    (void)outer; /* (no OpenMP: one thread) */
    FC_OMP(parallel num_threads(outer) if (outer > 1))
    {
        const int t = FC_THREAD_ID(), T = FC_NUM_THREADS_IN_REGION();
        FC_T *acc = part + (size_t)t * (size_t)per;
        for (int64_t i = N * t / T; i < N * (t + 1) / T; i++) {
            int64_t ldq, qs;
            const FC_T *xq = FC_FN(pad_planes_pool2)(p, x + i * xs, &ldq, &qs);
            dw(xq, ldq, qs, C, PH, PW, M, gy + i * ps, y + i * ps, idx + i * ps, b->relu, acc);
        }
    }
    for (int64_t e = 0; e < M * 9 * C; e++) gw[e] = 0;
    for (int64_t e = 0; gb && e < M; e++) gb[e] = 0;
    for (int t = 0; t < outer; t++)
        for (int64_t co = 0; co < M; co++)
            for (int64_t k = 0; k < K; k++) {
                const FC_T *a = part + (size_t)t * (size_t)per + (co * K + k) * 16;
                FC_T sum = 0;
                for (int l = 0; l < 16; l++) sum += a[l];
                if (k < K - 1) gw[co * 9 * C + k] += sum;
                else if (gb) gb[co] += sum;
            }
    free(part);
}

void FC_FN(fc_opt_conv2d_block_backward)(fc_isa isa, const fc_conv2d_params *p,
                                         const fc_conv2d_block *b, const FC_T *gy,
                                         const FC_T *y, const uint8_t *idx, const FC_T *x,
                                         const FC_T *w, FC_T *gx, FC_T *gw, FC_T *gb)
{
    const int64_t N = p->n, M = p->c_out, OH = p->out_h, OW = p->out_w, k = b->pool;
    const int64_t size = N * M * OH * OW;
    if (k == 0 && !b->relu) {
        FC_FN(fc_opt_conv2d_backward)(isa, p, gy, x, w, gx, gw, gb);
        return;
    }
    FC_FN(fewcin_pool2_fn) fused;
    FC_FN(fewcin_dw_pool2_fn) fused_dw;
    if (!gx && gw && k == 2 && OH >= 2 && OW >= 2 && OH % 2 == 0 && OW % 2 == 0 &&
        FC_FN(is_fewcin_3x3)(p) && FC_FN(fewcin_pool2_kernels)(isa, &fused, &fused_dw)) {
        FC_FN(block_backward_fewcin_pool2)(p, b, fused_dw, gy, y, idx, x, gw, gb);
        return;
    }
    if (FC_FN(block_backward_in_chunks)(isa, p, gx != NULL, gw != NULL)) {
        FC_FN(block_backward_chunked)(isa, p, b, gy, y, idx, x, w, gx, gw, gb);
        return;
    }
    /* the gradient of the conv's output, written once (the unpooling and the relu mask in
     * one pass), then the conv backward */
    FC_T *g = (FC_T *)malloc(sizeof(FC_T) * (size_t)(size > 0 ? size : 1));
    if (!g) abort();
    FC_T *psum = NULL; /* pooling blocks: the planes' sums, taken as they are written */
    if (k == 0) {
        FC_FN(block_output_grad)(isa, p, b, gy, y, idx, 0, N * M, g, NULL);
    } else {
        const int64_t planes = N * M, plane = OH * OW;
        if (gb) {
            psum = (FC_T *)malloc(sizeof(FC_T) * (size_t)(planes > 0 ? planes : 1));
            if (!psum) abort();
        }
        const int nt = size >= ((int64_t)1 << 17) ? fc_threads_for_region() : 1;
        (void)nt; /* (no OpenMP: one thread) */
        FC_OMP(parallel num_threads(nt) if (nt > 1))
        {
            const int t = FC_THREAD_ID(), T = FC_NUM_THREADS_IN_REGION();
            const int64_t j0 = planes * t / T, j1 = planes * (t + 1) / T;
            FC_FN(block_output_grad)(isa, p, b, gy, y, idx, j0, j1, g + j0 * plane, psum);
        }
    }
    FC_FN(fc_opt_conv2d_backward)(isa, p, g, x, w, gx, gw, psum ? NULL : gb);
    if (psum) { /* gb as the conv backward sums it: images in order from zero */
        for (int64_t co = 0; co < M; co++) gb[co] = 0;
        for (int64_t i = 0; i < N; i++)
            for (int64_t co = 0; co < M; co++) gb[co] += psum[i * M + co];
        free(psum);
    }
    free(g);
}

#undef FC_CAT_
#undef FC_CAT
#undef FC_FN
#undef FC_ENGINE
#undef FC_UKFN
