/*
 * winograd_tmpl.h -- the transforms of Winograd's F(2x2, 3x3) convolution (Lavin & Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2016), written once with GCC vector
 * extensions over FC_WG_TV tiles at a time and compiled per ISA path (included inside each
 * path's target region by winograd.c).  The driver is conv_winograd_tmpl.h.
 *
 * For a 4x4 input tile d, a 3x3 kernel g and the 2x2 output tile y:
 *     y = A^T [ (G g G^T) .* (B^T d B) ] A
 *     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1],
 *     G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
 * The 16 products xi = 4 i + j of the elementwise stage are 16 independent GEMMs over the
 * channels (conv_winograd_tmpl.h).
 *
 * Expects FC_WG_T (element type), FC_WG_UT (unsigned integer of its size), FC_WG_TVN (tiles
 * per 32-byte vector: 8 for float, 4 for double), FC_WG_PFX (name prefix, e.g.
 * fc_f32_winograd_) and FC_WG_ISA (suffix).
 */
#define FC_WG_CAT3_(a, b, c) a##b##__##c
#define FC_WG_CAT3(a, b, c) FC_WG_CAT3_(a, b, c)
#define FC_WG_FN(name) FC_WG_CAT3(FC_WG_PFX, name, FC_WG_ISA)
#define FC_WG_TV FC_WG_TVN

/* Rows r0 .. r0 + rows - 1 of one channel's zero-padded plane (x: H x W, padded by pad_h
 * rows and pad_w columns), split into the even columns (xe) and odd columns (xo), rows of ld
 * values (columns past the padded plane are zero).  (pr is unused scratch of 2 ld values.)
 * Written element by element: a staging row read back at once with vector loads stalled on
 * store forwarding. */
void FC_WG_FN(split_rows)(const FC_WG_T *restrict x, int64_t H, int64_t W, int64_t pad_h,
                          int64_t pad_w, int64_t r0, int64_t rows, int64_t ld,
                          FC_WG_T *restrict xe, FC_WG_T *restrict xo, FC_WG_T *restrict pr)
{
    (void)pr;
    /* j with both 2j - pad_w and 2j + 1 - pad_w inside [0, W) */
    const int64_t jlo = FC_MIN((pad_w + 1) / 2, ld);
    const int64_t jhi = FC_MAX(jlo, FC_MIN(ld, (W + pad_w - 1) / 2));
    for (int64_t r = 0; r < rows; r++) {
        FC_WG_T *restrict e = xe + r * ld, *restrict o = xo + r * ld;
        const int64_t ih = r0 + r - pad_h;
        if (ih < 0 || ih >= H) {
            for (int64_t j = 0; j < ld; j++) e[j] = o[j] = 0;
            continue;
        }
        const FC_WG_T *restrict xr = x + ih * W - pad_w; /* xr[c] = padded column c */
        for (int64_t j = 0; j < jlo; j++) {
            const int64_t c = 2 * j;
            e[j] = (c >= pad_w && c < W + pad_w) ? xr[c] : (FC_WG_T)0;
            o[j] = (c + 1 >= pad_w && c + 1 < W + pad_w) ? xr[c + 1] : (FC_WG_T)0;
        }
        for (int64_t j = jlo; j < jhi; j++) {
            e[j] = xr[2 * j];
            o[j] = xr[2 * j + 1];
        }
        int64_t j = jhi;
        for (; j < ld && 2 * j < W + pad_w; j++) { /* columns that reach into the plane */
            const int64_t c = 2 * j;
            e[j] = (c >= pad_w) ? xr[c] : (FC_WG_T)0;
            o[j] = (c + 1 >= pad_w && c + 1 < W + pad_w) ? xr[c + 1] : (FC_WG_T)0;
        }
        for (; j < ld; j++) e[j] = o[j] = 0;
    }
}

/* Input transform of nch channels and rb rows of tiles: for each tile row th < rb, tiles tw
 * in [0, twp) (twp a multiple of FC_WG_TV) whose input rows are 2 th .. 2 th + 3 of the
 * channel's zero-padded plane, given split into its even columns xe and odd columns xo (for
 * channel c, xe = xs + 2 c rows ld and xo = xe + rows ld, row r of each at r * ld; columns
 * 0 .. twp are read).  V[xi] of channel c and tile t = th twp + tw goes to
 * v[xi * vxs + (t / nr) * nr * kc + c * nr + t % nr]: the packed-B layout of the GEMM for a
 * block of kc >= nch channels (nr a multiple of FC_WG_TV). */
void FC_WG_FN(input_block)(const FC_WG_T *restrict xs, int64_t rows, int64_t ld, int64_t nch,
                           int64_t rb, int64_t twp, FC_WG_T *restrict v, int64_t vxs,
                           int64_t nr, int64_t kc)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    for (int64_t c = 0; c < nch; c++) {
        const FC_WG_T *xe = xs + 2 * c * rows * ld, *xo = xe + rows * ld;
        FC_WG_T *vc = v + c * nr;
        for (int64_t th = 0; th < rb; th++) {
            const FC_WG_T *e0 = xe + 2 * th * ld, *o0 = xo + 2 * th * ld;
            for (int64_t tw = 0; tw < twp; tw += TV) {
                vec_t t[4][4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    /* d[i][0..3] = columns 2tw, 2tw+1, 2tw+2, 2tw+3 of row i */
                    vec_t d0, d1, d2, d3;
                    __builtin_memcpy(&d0, e0 + i * ld + tw, sizeof d0);
                    __builtin_memcpy(&d1, o0 + i * ld + tw, sizeof d1);
                    __builtin_memcpy(&d2, e0 + i * ld + tw + 1, sizeof d2);
                    __builtin_memcpy(&d3, o0 + i * ld + tw + 1, sizeof d3);
                    /* d B (columns) */
                    t[i][0] = d0 - d2;
                    t[i][1] = d1 + d2;
                    t[i][2] = d2 - d1;
                    t[i][3] = d1 - d3;
                }
                const int64_t tt = th * twp + tw;
                FC_WG_T *dst = vc + (tt / nr) * nr * kc + tt % nr;
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    /* B^T (d B) (rows) */
                    const vec_t r0 = t[0][j] - t[2][j], r1 = t[1][j] + t[2][j];
                    const vec_t r2 = t[2][j] - t[1][j], r3 = t[1][j] - t[3][j];
                    __builtin_memcpy(dst + (0 * 4 + j) * vxs, &r0, sizeof r0);
                    __builtin_memcpy(dst + (1 * 4 + j) * vxs, &r1, sizeof r1);
                    __builtin_memcpy(dst + (2 * 4 + j) * vxs, &r2, sizeof r2);
                    __builtin_memcpy(dst + (3 * 4 + j) * vxs, &r3, sizeof r3);
                }
            }
        }
    }
}

/* The 2x2 outputs of FC_WG_TV consecutive tiles from the 16 products m[xi * mxs + t]:
 * y[i][j] (row 2 th + i, column 2 (t) + j of each tile), bias added, relu'd if asked. */
#define FC_WG_OUTPUT_TILES(vec_t, m, mxs, t, bias, relu, y)                                  \
    do {                                                                                     \
        vec_t s[2][4];                                                                       \
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {                                \
            vec_t m0, m1, m2, m3;                                                            \
            __builtin_memcpy(&m0, (m) + (0 * 4 + j) * (mxs) + (t), sizeof m0);               \
            __builtin_memcpy(&m1, (m) + (1 * 4 + j) * (mxs) + (t), sizeof m1);               \
            __builtin_memcpy(&m2, (m) + (2 * 4 + j) * (mxs) + (t), sizeof m2);               \
            __builtin_memcpy(&m3, (m) + (3 * 4 + j) * (mxs) + (t), sizeof m3);               \
            s[0][j] = m0 + m1 + m2; /* A^T m (rows) */                                       \
            s[1][j] = m1 - m2 - m3;                                                          \
        }                                                                                    \
        _Pragma("GCC unroll 2") for (int i = 0; i < 2; i++) {                                \
            y[i][0] = s[i][0] + s[i][1] + s[i][2] + (bias); /* (A^T m) A (columns) */        \
            y[i][1] = s[i][1] - s[i][2] - s[i][3] + (bias);                                  \
            if (relu) {                                                                      \
                y[i][0] = FC_WG_RELU(y[i][0]);                                               \
                y[i][1] = FC_WG_RELU(y[i][1]);                                               \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* y < 0 ? 0 : y lane-wise (NaN stays NaN), by a bit mask */
#define FC_WG_RELU(v)                                                                        \
    ((__typeof__(v))((uvec_t)(v) & ~(uvec_t)((v) < (__typeof__(v)){0})))

/* Output transform of M output channels and rb rows of tiles: for channel co and tile row
 * th, tiles tw in [0, twp) (a multiple of FC_WG_TV) at m[xi * mxs + co * ldm + th * twp + tw],
 * bias[co] added (bias may be NULL), relu'd if relu != 0, into the output planes y (M planes
 * of OH x OW): rows 2 (th0 + th) and 2 (th0 + th) + 1 (if < OH), columns [0, OW). */
void FC_WG_FN(output_block)(const FC_WG_T *restrict m, int64_t mxs, int64_t ldm, int64_t M,
                            int64_t rb, int64_t twp, const FC_WG_T *restrict bias, int relu,
                            FC_WG_T *restrict y, int64_t OH, int64_t OW, int64_t th0)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    typedef FC_WG_UT uvec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    for (int64_t co = 0; co < M; co++) {
        const FC_WG_T b = bias ? bias[co] : (FC_WG_T)0;
        for (int64_t th = 0; th < rb; th++) {
            const FC_WG_T *mt = m + co * ldm + th * twp;
            FC_WG_T *y0 = y + (co * OH + 2 * (th0 + th)) * OW;
            FC_WG_T *y1 = 2 * (th0 + th) + 1 < OH ? y0 + OW : NULL;
            for (int64_t tw = 0; tw < twp; tw += TV) {
                const int64_t c0 = 2 * tw, n = FC_MIN((int64_t)(2 * TV), OW - c0);
                if (n <= 0) break;
                vec_t yv[2][2];
                FC_WG_OUTPUT_TILES(vec_t, mt, mxs, tw, b, relu, yv);
                vec_t out[2][2]; /* the interleaved row halves */
                for (int i = 0; i < 2; i++) {
#ifdef FC_VEC_SHUFFLE
                    out[i][0] = FC_VEC_ZIPLO(FC_WG_TVN, yv[i][0], yv[i][1]);
                    out[i][1] = FC_VEC_ZIPHI(FC_WG_TVN, yv[i][0], yv[i][1]);
#else
                    for (int l = 0; l < 2 * TV; l++) out[i][l / TV][l % TV] = yv[i][l % 2][l / 2];
#endif
                }
                if (n == 2 * TV) {
                    __builtin_memcpy(y0 + c0, out[0], sizeof out[0]);
                    if (y1) __builtin_memcpy(y1 + c0, out[1], sizeof out[1]);
                } else {
                    const FC_WG_T *o0 = (const FC_WG_T *)out[0], *o1 = (const FC_WG_T *)out[1];
                    for (int64_t c = 0; c < n; c++) y0[c0 + c] = o0[c];
                    if (y1)
                        for (int64_t c = 0; c < n; c++) y1[c0 + c] = o1[c];
                }
            }
        }
    }
}

/* The same with a 2x2 stride-2 max-pool of the (relu'd) outputs fused, into the pooled planes
 * out (M planes of PH x PW) and idx: tile (th0 + th, tw) is pooled window (th0 + th, tw) for
 * th0 + th < PH and tw < PW; its maximum goes to out, its position i * 2 + j in the tile to
 * idx.  The first maximum in row-major order wins and NaN counts as larger than any number,
 * the last NaN winning (the rule of fc_max_pool2d_forward). */
void FC_WG_FN(output_pool_block)(const FC_WG_T *restrict m, int64_t mxs, int64_t ldm,
                                 int64_t M, int64_t rb, int64_t twp,
                                 const FC_WG_T *restrict bias, int relu,
                                 FC_WG_T *restrict out, uint8_t *restrict idx, int64_t PH,
                                 int64_t PW, int64_t th0)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    typedef FC_WG_UT uvec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    (void)twp;
    const int64_t rows = FC_MIN(rb, PH - th0);
    for (int64_t co = 0; co < M; co++) {
        const FC_WG_T b = bias ? bias[co] : (FC_WG_T)0;
        for (int64_t th = 0; th < rows; th++) {
            const FC_WG_T *mt = m + co * ldm + th * twp;
            FC_WG_T *o = out + (co * PH + th0 + th) * PW;
            uint8_t *ix = idx + (co * PH + th0 + th) * PW;
            for (int64_t tw = 0; tw < PW; tw += TV) {
                vec_t y[2][2];
                FC_WG_OUTPUT_TILES(vec_t, mt, mxs, tw, b, relu, y);
                /* pick(a, b): b replaces a where b > a or b is NaN (pairwise, as the pool
                 * kernels) */
                uvec_t k1 = (uvec_t)((y[0][1] > y[0][0]) | (y[0][1] != y[0][1]));
                uvec_t k2 = (uvec_t)((y[1][1] > y[1][0]) | (y[1][1] != y[1][1]));
                const vec_t top = (vec_t)(((uvec_t)y[0][0] & ~k1) | ((uvec_t)y[0][1] & k1));
                const vec_t bot = (vec_t)(((uvec_t)y[1][0] & ~k2) | ((uvec_t)y[1][1] & k2));
                uvec_t k3 = (uvec_t)((bot > top) | (bot != bot));
                const vec_t best = (vec_t)(((uvec_t)top & ~k3) | ((uvec_t)bot & k3));
                /* position: top = 0 + (k1 & 1), bottom = 2 + (k2 & 1) */
                const uvec_t one = (uvec_t){0} + 1, two = one + one;
                const uvec_t pos = ((k1 & one) & ~k3) | ((two + (k2 & one)) & k3);
                const int64_t n = FC_MIN((int64_t)TV, PW - tw);
                if (n == TV) {
                    __builtin_memcpy(o + tw, &best, sizeof best);
                } else {
                    for (int64_t l = 0; l < n; l++) o[tw + l] = best[l];
                }
                for (int64_t l = 0; l < n; l++) ix[tw + l] = (uint8_t)pos[l];
            }
        }
    }
}

#undef FC_WG_OUTPUT_TILES
#undef FC_WG_RELU
#undef FC_WG_CAT3_
#undef FC_WG_CAT3
#undef FC_WG_FN
#undef FC_WG_TV
