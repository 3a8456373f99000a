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
 * values (a multiple of the vector; columns past the padded plane are zero).  pr: scratch of
 * 2 ld values. */
void FC_WG_FN(split_rows)(const FC_WG_T *restrict x, int64_t H, int64_t W, int64_t pad_h,
                          int64_t pad_w, int64_t r0, int64_t rows, int64_t ld,
                          FC_WG_T *restrict xe, FC_WG_T *restrict xo, FC_WG_T *restrict pr)
{
    enum { TV = FC_WG_TV };
    const int64_t c0 = FC_MIN(pad_w, 2 * ld), c1 = FC_MIN(pad_w + W, 2 * ld);
    for (int64_t r = 0; r < rows; r++) {
        FC_WG_T *e = xe + r * ld, *o = xo + r * ld;
        const int64_t ih = r0 + r - pad_h;
        if (ih < 0 || ih >= H) {
            for (int64_t j = 0; j < ld; j++) e[j] = o[j] = 0;
            continue;
        }
        const FC_WG_T *xr = x + ih * W;
        for (int64_t c = 0; c < c0; c++) pr[c] = 0;
        for (int64_t c = c0; c < c1; c++) pr[c] = xr[c - pad_w];
        for (int64_t c = c1; c < 2 * ld; c++) pr[c] = 0;
#ifdef FC_VEC_SHUFFLE
        typedef FC_WG_T vec_t __attribute__((vector_size(32)));
        for (int64_t j = 0; j < ld; j += TV) {
            vec_t a, b;
            __builtin_memcpy(&a, pr + 2 * j, sizeof a);
            __builtin_memcpy(&b, pr + 2 * j + TV, sizeof b);
            const vec_t ev = FC_VEC_EVEN(FC_WG_TVN, a, b), od = FC_VEC_ODD(FC_WG_TVN, a, b);
            __builtin_memcpy(e + j, &ev, sizeof ev);
            __builtin_memcpy(o + j, &od, sizeof od);
        }
#else
        for (int64_t j = 0; j < ld; j++) {
            e[j] = pr[2 * j];
            o[j] = pr[2 * j + 1];
        }
#endif
    }
}

/* Input transform of one channel and one row of tiles: tiles tw in [0, twp) (twp a multiple
 * of FC_WG_TV) of tile row th, whose input rows are 2 th .. 2 th + 3 of the channel's
 * zero-padded plane, given split into its even columns xe and odd columns xo (row r of each
 * at r * ld; columns 0 .. twp of both are read).  V[xi] for tile t0 + tw goes to
 * v[xi * vxs + ((t0 + tw) / nr) * panel + (t0 + tw) % nr]: the packed-B layout of the GEMM
 * (nr a multiple of FC_WG_TV, t0 too), v already pointing at this channel's row. */
void FC_WG_FN(input_row)(const FC_WG_T *restrict xe, const FC_WG_T *restrict xo, int64_t ld,
                         int64_t th, int64_t twp, FC_WG_T *restrict v, int64_t vxs, int64_t t0,
                         int64_t nr, int64_t panel)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    const FC_WG_T *e[4], *o[4];
    for (int i = 0; i < 4; i++) {
        e[i] = xe + (2 * th + i) * ld;
        o[i] = xo + (2 * th + i) * ld;
    }
    for (int64_t tw = 0; tw < twp; tw += TV) {
        vec_t t[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            /* d[i][0..3] = columns 2tw, 2tw+1, 2tw+2, 2tw+3 of row i */
            vec_t d0, d1, d2, d3;
            __builtin_memcpy(&d0, e[i] + tw, sizeof d0);
            __builtin_memcpy(&d1, o[i] + tw, sizeof d1);
            __builtin_memcpy(&d2, e[i] + tw + 1, sizeof d2);
            __builtin_memcpy(&d3, o[i] + tw + 1, sizeof d3);
            /* d B (columns) */
            t[i][0] = d0 - d2;
            t[i][1] = d1 + d2;
            t[i][2] = d2 - d1;
            t[i][3] = d1 - d3;
        }
        const int64_t t_abs = t0 + tw;
        FC_WG_T *dst = v + (t_abs / nr) * panel + t_abs % nr;
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

/* Output transform of one output channel and one row of tiles: tiles tw in [0, twp) (twp a
 * multiple of FC_WG_TV) at m[xi * mxs + tw], bias added, relu'd if relu != 0; rows
 * y0 (= output row 2 th) and, unless NULL, y1 (row 2 th + 1) get columns [0, ow). */
void FC_WG_FN(output_row)(const FC_WG_T *restrict m, int64_t mxs, int64_t twp, FC_WG_T bias,
                          int relu, FC_WG_T *restrict y0, FC_WG_T *restrict y1, int64_t ow)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    typedef FC_WG_UT uvec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    for (int64_t tw = 0; tw < twp; tw += TV) {
        vec_t y[2][2];
        FC_WG_OUTPUT_TILES(vec_t, m, mxs, tw, bias, relu, y);
        const int64_t c0 = 2 * tw, n = FC_MIN((int64_t)(2 * TV), ow - c0);
        if (n <= 0) break;
        vec_t out[2][2]; /* the interleaved row halves */
        for (int i = 0; i < 2; i++) {
#ifdef FC_VEC_SHUFFLE
            out[i][0] = FC_VEC_ZIPLO(FC_WG_TVN, y[i][0], y[i][1]);
            out[i][1] = FC_VEC_ZIPHI(FC_WG_TVN, y[i][0], y[i][1]);
#else
            for (int l = 0; l < 2 * TV; l++) out[i][l / TV][l % TV] = y[i][l % 2][l / 2];
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

/* The same with a 2x2 stride-2 max-pool of the (relu'd) outputs fused: out[tw] = the maximum
 * of tile tw's four outputs for tw < ptw, idx[tw] = its position i * 2 + j in the tile; the
 * first maximum in row-major order wins and NaN counts as larger than any number, the last
 * NaN winning (the rule of fc_max_pool2d_forward). */
void FC_WG_FN(output_pool_row)(const FC_WG_T *restrict m, int64_t mxs, int64_t ptw,
                               FC_WG_T bias, int relu, FC_WG_T *restrict out,
                               uint8_t *restrict idx)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    typedef FC_WG_UT uvec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    for (int64_t tw = 0; tw < ptw; tw += TV) {
        vec_t y[2][2];
        FC_WG_OUTPUT_TILES(vec_t, m, mxs, tw, bias, relu, y);
        /* pick(a, b): b replaces a where b > a or b is NaN (pairwise, as the pool kernels) */
        uvec_t k1 = (uvec_t)((y[0][1] > y[0][0]) | (y[0][1] != y[0][1]));
        uvec_t k2 = (uvec_t)((y[1][1] > y[1][0]) | (y[1][1] != y[1][1]));
        const vec_t top = (vec_t)(((uvec_t)y[0][0] & ~k1) | ((uvec_t)y[0][1] & k1));
        const vec_t bot = (vec_t)(((uvec_t)y[1][0] & ~k2) | ((uvec_t)y[1][1] & k2));
        uvec_t k3 = (uvec_t)((bot > top) | (bot != bot));
        const vec_t best = (vec_t)(((uvec_t)top & ~k3) | ((uvec_t)bot & k3));
        /* position: top = 0 + (k1 & 1), bottom = 2 + (k2 & 1) */
        const uvec_t one = (uvec_t){0} + 1, two = one + one;
        const uvec_t ptop = k1 & one, pbot = two + (k2 & one);
        const uvec_t pos = (ptop & ~k3) | (pbot & k3);
        const int64_t n = FC_MIN((int64_t)TV, ptw - tw);
        if (n == TV) {
            __builtin_memcpy(out + tw, &best, sizeof best);
        } else {
            for (int64_t l = 0; l < n; l++) out[tw + l] = best[l];
        }
        for (int64_t l = 0; l < n; l++) idx[tw + l] = (uint8_t)pos[l];
    }
}

#undef FC_WG_OUTPUT_TILES
#undef FC_WG_RELU
#undef FC_WG_CAT3_
#undef FC_WG_CAT3
#undef FC_WG_FN
#undef FC_WG_TV
