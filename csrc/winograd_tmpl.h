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

/* The first n (0 < n < FC_WG_TV) values of the 32-byte vector v to dst: a stack copy read
 * back in 16-, 8- and 4-byte pieces (loads inside one earlier store, which store forwarding
 * serves), at most three stores. */
#define FC_WG_STORE_PART(dst, v, n)                                                          \
    do {                                                                                     \
        unsigned char tmp_[32], *d_ = (unsigned char *)(dst);                                \
        __builtin_memcpy(tmp_, &(v), 32);                                                    \
        const size_t b_ = (size_t)(n) * sizeof(FC_WG_T);                                     \
        size_t o_ = 0;                                                                       \
        if (b_ & 16) {                                                                       \
            __builtin_memcpy(d_, tmp_, 16);                                                  \
            o_ = 16;                                                                         \
        }                                                                                    \
        if (b_ & 8) {                                                                        \
            __builtin_memcpy(d_ + o_, tmp_ + o_, 8);                                         \
            o_ += 8;                                                                         \
        }                                                                                    \
        if (b_ & 4) __builtin_memcpy(d_ + o_, tmp_ + o_, 4);                                 \
    } while (0)
/* the first n (0 < n <= 2 FC_WG_TV) values of v0 then v1 */
#define FC_WG_STORE2(dst, v0, v1, n)                                                         \
    do {                                                                                     \
        if ((n) >= FC_WG_TV) {                                                               \
            __builtin_memcpy((dst), &(v0), sizeof(v0));                                      \
            if ((n) == 2 * FC_WG_TV) __builtin_memcpy((dst) + FC_WG_TV, &(v1), sizeof(v1));  \
            else if ((n) > FC_WG_TV) FC_WG_STORE_PART((dst) + FC_WG_TV, v1, (n) - FC_WG_TV); \
        } else {                                                                             \
            FC_WG_STORE_PART((dst), v0, (n));                                                \
        }                                                                                    \
    } while (0)
/* The low byte of each lane of the 32-byte integer vector v (values < 256), as a vector of
 * FC_WG_TV bytes (vec_shuffle.h). */
#ifdef FC_VEC_SHUFFLE
#define FC_WG_LOW_BYTES(v)                                                                   \
    __extension__({                                                                          \
        typedef uint8_t b32_t_ __attribute__((vector_size(32)));                             \
        const b32_t_ w_ = (b32_t_)(v);                                                       \
        FC_VEC_LOWBYTES(FC_WG_TVN, w_);                                                      \
    })
#else
#define FC_WG_LOW_BYTES(v) __builtin_convertvector((v), bvec_t_)
#endif
/* the first n (0 < n <= FC_WG_TV) lanes of the integer vector pos (values < 256) as bytes */
#define FC_WG_STORE_BYTES(dst, pos, n)                                                       \
    do {                                                                                     \
        typedef uint8_t bvec_t_ __attribute__((vector_size(FC_WG_TV)));                      \
        const bvec_t_ by_ = FC_WG_LOW_BYTES(pos);                                            \
        unsigned char *d_ = (unsigned char *)(dst);                                          \
        const unsigned char *s_ = (const unsigned char *)&by_;                               \
        if ((n) == FC_WG_TV) {                                                               \
            __builtin_memcpy(d_, s_, FC_WG_TV);                                              \
        } else {                                                                             \
            size_t o_ = 0;                                                                   \
            if ((n) & 4) {                                                                   \
                __builtin_memcpy(d_, s_, 4);                                                 \
                o_ = 4;                                                                      \
            }                                                                                \
            if ((n) & 2) {                                                                   \
                __builtin_memcpy(d_ + o_, s_ + o_, 2);                                       \
                o_ += 2;                                                                     \
            }                                                                                \
            if ((n) & 1) d_[o_] = s_[o_];                                                    \
        }                                                                                    \
    } while (0)
/* Keeps the compiler from seeing a loop over i as a memset or memcpy: GCC turned pad_rows'
 * loops into library calls, whose set-up cost more than the copy itself on rows of 14
 * values (17% of the 14x14 grad_input's time, in pad_rows and those calls). */
#define FC_WG_OPAQUE(i) __asm__("" : "+r"(i))

/* Rows r0 .. r0 + rows - 1 of one channel's zero-padded plane (x: H x W, padded by pad_h
 * rows and pad_w columns), as rows of lp values at xp + r lp (columns past the padded plane
 * are zero): a copy the input transform reads with vector loads, long after these stores.
 * Each row is zeroed by overlapping 32-byte stores, then the input row copied over it by
 * overlapping 32-byte copies (W and lp of at least a vector; single values otherwise).
 * (pr is unused.) */
void FC_WG_FN(pad_rows)(const FC_WG_T *restrict x, int64_t H, int64_t W, int64_t pad_h,
                        int64_t pad_w, int64_t r0, int64_t rows, int64_t lp,
                        FC_WG_T *restrict xp, FC_WG_T *restrict pr)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    (void)pr;
    const vec_t z = {0};
    /* padded columns [pad_w, pad_w + W) hold the row, clipped to the lp written */
    const int64_t c0 = FC_MIN(pad_w, lp), c1 = FC_MIN(pad_w + W, lp);
    for (int64_t r = 0; r < rows; r++) {
        FC_WG_T *restrict o = xp + r * lp;
        if (lp >= TV) {
            for (int64_t c = 0; c < lp - TV; c += TV) {
                FC_WG_OPAQUE(c);
                __builtin_memcpy(o + c, &z, sizeof z);
            }
            __builtin_memcpy(o + lp - TV, &z, sizeof z);
        } else {
            for (int64_t c = 0; c < lp; c++) {
                FC_WG_OPAQUE(c);
                o[c] = 0;
            }
        }
        const int64_t ih = r0 + r - pad_h;
        if (ih < 0 || ih >= H || c1 <= c0) continue;
        const FC_WG_T *restrict xr = x + ih * W - pad_w; /* xr[c] = padded column c */
        /* the input comes from L3 or memory, a row of 14 values at a time: fetch 8 rows
         * ahead (without it the copy ran at the latency of a miss per row) */
        __builtin_prefetch(xr + c0 + 8 * W, 0, 3);
        __builtin_prefetch(xr + c1 - 1 + 8 * W, 0, 3);
        if (c1 - c0 >= TV) {
            for (int64_t c = c0; c < c1 - TV; c += TV) {
                FC_WG_OPAQUE(c);
                __builtin_memcpy(o + c, xr + c, sizeof(vec_t));
            }
            __builtin_memcpy(o + c1 - TV, xr + c1 - TV, sizeof(vec_t));
        } else {
            for (int64_t c = c0; c < c1; c++) {
                FC_WG_OPAQUE(c);
                o[c] = xr[c];
            }
        }
    }
}

/* Input transform of nch channels and rb rows of tiles: for each tile row th < rb, tiles tw
 * in [0, twp) (twp a multiple of FC_WG_TV) whose input rows are 2 th .. 2 th + 3 of the
 * channel's zero-padded plane (channel c at xs + c rows lp, row r at r * lp, from pad_rows;
 * columns 0 .. 2 twp + 1 are read).  V[xi] of channel c and tile t = t0 + th twp + tw goes
 * to v[xi * vxs + (t / nr) * nr * kc + c * nr + t % nr]: the packed-B layout of the GEMM for
 * a block of kc >= nch channels (nr and t0 multiples of FC_WG_TV).  A tile's columns 2 tw .. 2 tw + 3
 * come from two pairs of vector loads, split into even and odd lanes. */
void FC_WG_FN(input_block)(const FC_WG_T *restrict xs, int64_t rows, int64_t lp, int64_t nch,
                           int64_t rb, int64_t twp, FC_WG_T *restrict v, int64_t vxs,
                           int64_t nr, int64_t kc, int64_t t0)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    for (int64_t c = 0; c < nch; c++) {
        const FC_WG_T *xc = xs + c * rows * lp;
        FC_WG_T *vc = v + c * nr;
        for (int64_t th = 0; th < rb; th++) {
            const FC_WG_T *x0 = xc + 2 * th * lp;
            for (int64_t tw = 0; tw < twp; tw += TV) {
                vec_t t[4][4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    /* d[i][0..3] = columns 2tw, 2tw+1, 2tw+2, 2tw+3 of row i */
                    const FC_WG_T *xr = x0 + i * lp + 2 * tw;
                    vec_t a, b, a2, b2, d0, d1, d2, d3;
                    __builtin_memcpy(&a, xr, sizeof a);
                    __builtin_memcpy(&b, xr + TV, sizeof b);
                    __builtin_memcpy(&a2, xr + 2, sizeof a2);
                    __builtin_memcpy(&b2, xr + 2 + TV, sizeof b2);
#ifdef FC_VEC_SHUFFLE
                    d0 = FC_VEC_EVEN(FC_WG_TVN, a, b);
                    d1 = FC_VEC_ODD(FC_WG_TVN, a, b);
                    d2 = FC_VEC_EVEN(FC_WG_TVN, a2, b2);
                    d3 = FC_VEC_ODD(FC_WG_TVN, a2, b2);
#else
                    for (int l = 0; l < TV; l++) {
                        d0[l] = l < TV / 2 ? a[2 * l] : b[2 * l - TV];
                        d1[l] = l < TV / 2 ? a[2 * l + 1] : b[2 * l + 1 - TV];
                        d2[l] = l < TV / 2 ? a2[2 * l] : b2[2 * l - TV];
                        d3[l] = l < TV / 2 ? a2[2 * l + 1] : b2[2 * l + 1 - TV];
                    }
#endif
                    /* d B (columns) */
                    t[i][0] = d0 - d2;
                    t[i][1] = d1 + d2;
                    t[i][2] = d2 - d1;
                    t[i][3] = d1 - d3;
                }
                const int64_t tt = t0 + th * twp + tw;
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

/* The products M of a work item, as the output transforms read them: output channel co's
 * row at m + co ldm, in panels of np tiles (np the GEMM's nr, a power of two), each panel the
 * nxi products' np values one after the other: product xi of tile t at
 *     m + co ldm + FC_WG_MOFF(t, np, nxi) + xi np.
 * The nxi loads of one vector of tiles (FC_WG_TV of them, from a multiple of FC_WG_TV) then
 * fall in one block of nxi np values, read front to back, where nxi separate matrices gave
 * nxi streams (the output transform ran at L2 latency). */
#define FC_WG_MOFF(t, np, nxi) (((t) & ~((np) - 1)) * (nxi) + ((t) & ((np) - 1)))

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
                y[i][0] = FC_VEC_RELU(uvec_t, y[i][0]);                                               \
                y[i][1] = FC_VEC_RELU(uvec_t, y[i][1]);                                               \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* Output transform of M output channels and rb rows of tiles: for channel co and tile row
 * th, tiles tw in [0, twp) (a multiple of FC_WG_TV): tile t0 + th twp + tw of M (FC_WG_MOFF:
 * panels of mxs tiles, rows ldm apart; t0 a multiple of FC_WG_TV),
 * bias[co] added (bias may be NULL), relu'd if relu != 0, into the output planes y (M planes
 * of OH x OW): rows 2 (th0 + th) and 2 (th0 + th) + 1 (if < OH), columns [0, OW). */
void FC_WG_FN(output_block)(const FC_WG_T *restrict m, int64_t mxs, int64_t ldm, int64_t M,
                            int64_t rb, int64_t twp, int64_t t0, const FC_WG_T *restrict bias,
                            int relu,
                            FC_WG_T *restrict y, int64_t OH, int64_t OW, int64_t th0)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    typedef FC_WG_UT uvec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    /* this call's output rows of a channel: 2 th0 .. 2 (th0 + rb) - 1, those < OH */
    const int64_t lim = FC_MIN(2 * rb, OH - 2 * th0) * OW;
    for (int64_t co = 0; co < M; co++) {
        const FC_WG_T b = bias ? bias[co] : (FC_WG_T)0;
        for (int64_t th = 0; th < rb; th++) {
            const FC_WG_T *mt = m + co * ldm;
            FC_WG_T *y0 = y + (co * OH + 2 * (th0 + th)) * OW;
            FC_WG_T *y1 = 2 * (th0 + th) + 1 < OH ? y0 + OW : NULL;
            for (int64_t tw = 0; tw < twp; tw += TV) {
                const int64_t c0 = 2 * tw, n = FC_MIN((int64_t)(2 * TV), OW - c0);
                if (n <= 0) break;
                vec_t yv[2][2];
                FC_WG_OUTPUT_TILES(vec_t, mt + FC_WG_MOFF(t0 + th * twp + tw, mxs, 16), mxs, 0, b,
                                   relu, yv);
                vec_t out[2][2]; /* the interleaved row halves */
                for (int i = 0; i < 2; i++) {
#ifdef FC_VEC_SHUFFLE
                    out[i][0] = FC_VEC_ZIPLO(FC_WG_TVN, yv[i][0], yv[i][1]);
                    out[i][1] = FC_VEC_ZIPHI(FC_WG_TVN, yv[i][0], yv[i][1]);
#else
                    for (int l = 0; l < 2 * TV; l++) out[i][l / TV][l % TV] = yv[i][l % 2][l / 2];
#endif
                }
                /* a partial row is stored whole where it ends within this call's rows of
                 * this channel and the values past it land on rows not yet written (the
                 * second row of the pair, unless its start was written at an earlier tw;
                 * the next pair's), which are written again (the 14-wide rows of the MNIST
                 * conv2) */
                for (int i = 0; i < 2; i++) {
                    FC_WG_T *yr = i ? y1 : y0;
                    if (!yr) break;
                    if (n == 2 * TV ||
                        ((i == 1 || c0 == 0) && (2 * th + i) * OW + c0 + 2 * TV <= lim)) {
                        __builtin_memcpy(yr + c0, &out[i][0], sizeof out[i][0]);
                        __builtin_memcpy(yr + c0 + TV, &out[i][1], sizeof out[i][1]);
                    } else {
                        FC_WG_STORE2(yr + c0, out[i][0], out[i][1], n);
                    }
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
                                 int64_t M, int64_t rb, int64_t twp, int64_t t0,
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
            const FC_WG_T *mt = m + co * ldm;
            FC_WG_T *o = out + (co * PH + th0 + th) * PW;
            uint8_t *ix = idx + (co * PH + th0 + th) * PW;
            for (int64_t tw = 0; tw < PW; tw += TV) {
                vec_t y[2][2], best;
                uvec_t pos;
                FC_WG_OUTPUT_TILES(vec_t, mt + FC_WG_MOFF(t0 + th * twp + tw, mxs, 16), mxs, 0, b,
                                   relu, y);
                FC_VEC_POOL_PICK(vec_t, uvec_t, y[0][0], y[0][1], y[1][0], y[1][1], best, pos);
                const int64_t n = FC_MIN((int64_t)TV, PW - tw);
                /* a partial vector is stored whole where it ends within this call's rows of
                 * this channel: the lanes past the row land on the next rows, which later
                 * iterations write again (the 7-wide rows of the MNIST conv2 block) */
                if (n == TV || th * PW + tw + TV <= rows * PW) {
                    __builtin_memcpy(o + tw, &best, sizeof best);
                    FC_WG_STORE_BYTES(ix + tw, pos, TV);
                } else {
                    FC_WG_STORE_PART(o + tw, best, n);
                    FC_WG_STORE_BYTES(ix + tw, pos, n);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* F(4x4, 3x3): a 4x4 output tile from a 6x6 input tile, 36 products instead of 144 (4x).  */
/* ------------------------------------------------------------------------------------ */
/* With the interpolation points 0, 1, -1, 1/2, -2 and infinity, which Barabasz et al.
 * ("Error analysis and improving the accuracy of Winograd convolution for deep neural
 * networks", 2020) found to give F(4, 3) about half the float32 error of the points
 * 0, +-1, +-2 of Lavin & Gray:
 *     B^T = [1 -3/2 -2 3/2 1 0; 0 -1 1/2 5/2 1 0; 0 1 -5/2 1/2 1 0; 0 -2 -1 2 1 0;
 *            0 1/2 -1 -1/2 1 0; 0 1 -3/2 -2 3/2 1],
 *     A^T = [1 1 1 1 1 0; 0 1 -1 1/2 -2 0; 0 1 1 1/4 4 0; 0 1 -1 1/8 -8 1],
 *     G   = [1 0 0; 1/3 1/3 1/3; -1/3 1/3 -1/3; -16/15 -8/15 -4/15; 1/15 -2/15 4/15; 0 0 1]
 * (G g G^T is computed once per call by the driver, in double).  Product xi = 6 a + b is
 * row a, column b of the 6x6 tile.  The tile grid's rows are FC_WG_TV4 tiles (16 bytes)
 * at a time (the seed networks' 14x14 and 16x16 planes have 4 tiles per row), and the
 * transforms run over 32-byte vectors of two such halves, from one tile row or two. */
#define FC_WG_TV4 (FC_WG_TVN / 2)

/* B^T d for one column d0..d5 (or d B for one row), into r0..r5 */
#define FC_WG4_BT(d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5)                            \
    do {                                                                                     \
        const __typeof__(d0) e = (d3) - (d1), f = (d4) - (d2);                               \
        r0 = (d0) + (d4) - 2 * (d2) + (FC_WG_T)1.5 * e;                                      \
        r1 = (d4) - (d1) + (FC_WG_T)0.5 * (d2) + (FC_WG_T)2.5 * (d3);                        \
        r2 = (d4) + (d1) - (FC_WG_T)2.5 * (d2) + (FC_WG_T)0.5 * (d3);                        \
        r3 = f + 2 * e;                                                                      \
        r4 = f - (FC_WG_T)0.5 * e;                                                           \
        r5 = (d1) + (d5) - 2 * (d3) + (FC_WG_T)1.5 * f;                                      \
    } while (0)
/* A^T m for one column m0..m5, into o0..o3 */
#define FC_WG4_AT(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                                    \
    do {                                                                                     \
        const __typeof__(m0) s1 = (m1) + (m2), d1 = (m1) - (m2);                             \
        o0 = (m0) + s1 + (m3) + (m4);                                                        \
        o1 = d1 + (FC_WG_T)0.5 * (m3) - 2 * (m4);                                            \
        o2 = s1 + (FC_WG_T)0.25 * (m3) + 4 * (m4);                                           \
        o3 = d1 + (FC_WG_T)0.125 * (m3) - 8 * (m4) + (m5);                                   \
    } while (0)

/* Rows r0 .. r0 + rows - 1 of one channel's zero-padded plane (as split_rows) split by
 * column modulo 4: phase k at xp + k rows ld, row r at r * ld, value j = padded column
 * 4 j + k (zero past the padded plane).  pr: scratch of 4 ld values (the padded row, read
 * back with scalar loads, which store forwarding serves). */
void FC_WG_FN(split4_rows)(const FC_WG_T *restrict x, int64_t H, int64_t W, int64_t pad_h,
                           int64_t pad_w, int64_t r0, int64_t rows, int64_t ld,
                           FC_WG_T *restrict xp, FC_WG_T *restrict pr)
{
    const int64_t ps = rows * ld, n = 4 * ld;
    /* padded columns [pad_w, pad_w + W) hold the row, clipped to the 4 ld read */
    const int64_t c0 = FC_MIN(pad_w, n), c1 = FC_MIN(pad_w + W, n);
    for (int64_t r = 0; r < rows; r++) {
        FC_WG_T *restrict o = xp + r * ld;
        const int64_t ih = r0 + r - pad_h;
        /* (FC_WG_OPAQUE: element loops, not library calls, on rows this short) */
        if (ih < 0 || ih >= H) {
            for (int k = 0; k < 4; k++)
                for (int64_t j = 0; j < ld; j++) {
                    FC_WG_OPAQUE(j);
                    o[k * ps + j] = 0;
                }
            continue;
        }
        const FC_WG_T *restrict xr = x + ih * W - pad_w; /* xr[c] = padded column c */
        for (int64_t c = 0; c < c0; c++) {
            FC_WG_OPAQUE(c);
            pr[c] = 0;
        }
        for (int64_t c = c0; c < c1; c++) {
            FC_WG_OPAQUE(c);
            pr[c] = xr[c];
        }
        for (int64_t c = c1; c < n; c++) {
            FC_WG_OPAQUE(c);
            pr[c] = 0;
        }
        for (int64_t j = 0; j < ld; j++) {
            o[j] = pr[4 * j];
            o[ps + j] = pr[4 * j + 1];
            o[2 * ps + j] = pr[4 * j + 2];
            o[3 * ps + j] = pr[4 * j + 3];
        }
    }
}

/* The tiles of one vector of F(4x4): FC_WG_TV consecutive tiles t .. of the item's ntile
 * (t a multiple of FC_WG_TV), as two halves of FC_WG_TV4 tiles, each inside one tile row
 * of twp (a multiple of FC_WG_TV4) tiles: half h at tile row th[h], tiles tw[h] ...  A high
 * half past ntile repeats the low one (its results are dropped). */
#define FC_WG4_HALVES(t, ntile, twp, th, tw)                                                 \
    do {                                                                                     \
        const int64_t t1_ = (t) + FC_WG_TV4 < (ntile) ? (t) + FC_WG_TV4 : (t);               \
        th[0] = (t) / (twp);                                                                 \
        tw[0] = (t) % (twp);                                                                 \
        th[1] = t1_ / (twp);                                                                 \
        tw[1] = t1_ % (twp);                                                                 \
    } while (0)

/* a 32-byte vector from two 16-byte halves */
#ifdef FC_VEC_SHUFFLE
#if FC_WG_TVN == 8
#define FC_WG4_CAT(lo, hi) __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7)
#else
#define FC_WG4_CAT(lo, hi) __builtin_shufflevector(lo, hi, 0, 1, 2, 3)
#endif
#endif
static inline void FC_WG_FN(load2)(void *v, const FC_WG_T *lo, const FC_WG_T *hi)
{
    typedef FC_WG_T hvec_t __attribute__((vector_size(16)));
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    hvec_t a, b;
    __builtin_memcpy(&a, lo, sizeof a);
    __builtin_memcpy(&b, hi, sizeof b);
#ifdef FC_WG4_CAT
    const vec_t r = FC_WG4_CAT(a, b);
    __builtin_memcpy(v, &r, sizeof r);
#else
    __builtin_memcpy(v, &a, sizeof a);
    __builtin_memcpy((char *)v + sizeof a, &b, sizeof b);
#endif
}

/* Input transform of nch channels and rb rows of 6x6 tiles (as input_block): tile (th, tw)
 * reads rows 4 th .. 4 th + 5 of the channel's split plane (channel c at xs + 4 c rows ld,
 * phases rows ld apart; values 0 .. twp of each row are read), V[xi] of channel c and tile
 * t = th twp + tw goes to v[xi * vxs + (t' / nr) * nr * kc + c * nr + t' % nr], t' = t0 + t
 * (t0 a multiple of FC_WG_TV), for the tiles t < rb twp (and up to the next multiple of
 * FC_WG_TV, with values the caller zeroes). */
void FC_WG_FN(input4_block)(const FC_WG_T *restrict xs, int64_t rows, int64_t ld,
                            int64_t nch, int64_t rb, int64_t twp, FC_WG_T *restrict v,
                            int64_t vxs, int64_t nr, int64_t kc, int64_t t0)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV };
    const int64_t ps = rows * ld, ntile = rb * twp;
    for (int64_t c = 0; c < nch; c++) {
        const FC_WG_T *xc = xs + 4 * c * ps;
        FC_WG_T *vc = v + c * nr;
        for (int64_t t = 0; t < ntile; t += TV) {
            int64_t th[2], tw[2];
            FC_WG4_HALVES(t, ntile, twp, th, tw);
            const FC_WG_T *x0 = xc + 4 * th[0] * ld + tw[0], *x1 = xc + 4 * th[1] * ld + tw[1];
            vec_t tt[6][6];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                /* d[i][k] = padded column 4 (tile) + k of row i: phase k % 4 at k / 4 */
                const FC_WG_T *a = x0 + i * ld, *b = x1 + i * ld;
                vec_t d0, d1, d2, d3, d4, d5;
                FC_WG_FN(load2)(&d0, a, b);
                FC_WG_FN(load2)(&d1, a + ps, b + ps);
                FC_WG_FN(load2)(&d2, a + 2 * ps, b + 2 * ps);
                FC_WG_FN(load2)(&d3, a + 3 * ps, b + 3 * ps);
                FC_WG_FN(load2)(&d4, a + 1, b + 1);
                FC_WG_FN(load2)(&d5, a + ps + 1, b + ps + 1);
                FC_WG4_BT(d0, d1, d2, d3, d4, d5, tt[i][0], tt[i][1], tt[i][2], tt[i][3],
                          tt[i][4], tt[i][5]); /* d B (columns) */
            }
            FC_WG_T *dst = vc + ((t0 + t) / nr) * nr * kc + (t0 + t) % nr;
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++) { /* B^T (d B) (rows) */
                vec_t r[6];
                FC_WG4_BT(tt[0][j], tt[1][j], tt[2][j], tt[3][j], tt[4][j], tt[5][j], r[0], r[1],
                          r[2], r[3], r[4], r[5]);
#pragma GCC unroll 6
                for (int a = 0; a < 6; a++)
                    __builtin_memcpy(dst + (a * 6 + j) * vxs, &r[a], sizeof r[a]);
            }
        }
    }
}

/* The 4x4 outputs y[i][j] of FC_WG_TV consecutive tiles from the 36 products
 * m[xi * mxs + t], bias added, relu'd if asked. */
#define FC_WG4_OUTPUT_TILES(vec_t, m, mxs, t, bias, relu, y)                                 \
    do {                                                                                     \
        vec_t s[4][6];                                                                       \
        _Pragma("GCC unroll 6") for (int j = 0; j < 6; j++) {                                \
            vec_t mm[6];                                                                     \
            _Pragma("GCC unroll 6") for (int a = 0; a < 6; a++)                              \
                __builtin_memcpy(&mm[a], (m) + (a * 6 + j) * (mxs) + (t), sizeof mm[a]);     \
            FC_WG4_AT(mm[0], mm[1], mm[2], mm[3], mm[4], mm[5], s[0][j], s[1][j], s[2][j],   \
                      s[3][j]); /* A^T m (rows) */                                           \
        }                                                                                    \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {                                \
            FC_WG4_AT(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], y[i][0], y[i][1], \
                      y[i][2], y[i][3]); /* (A^T m) A (columns) */                           \
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {                            \
                y[i][j] += (bias);                                                           \
                if (relu) y[i][j] = FC_VEC_RELU(uvec_t, y[i][j]);                                     \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* Output transform of M output channels and rb rows of 4x4 tiles (as output_block): channel
 * co, tile t0 + th twp + tw of the item (FC_WG_MOFF, with 36 products), into rows
 * 4 (th0 + th) .. + 3 (those < OH), columns [0, OW) of the M output planes y (OH x OW). */
void FC_WG_FN(output4_block)(const FC_WG_T *restrict m, int64_t mxs, int64_t ldm, int64_t M,
                             int64_t rb, int64_t twp, int64_t t0,
                             const FC_WG_T *restrict bias, int relu,
                             FC_WG_T *restrict y, int64_t OH, int64_t OW, int64_t th0)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    typedef FC_WG_UT uvec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV, TV4 = FC_WG_TV4 };
    const int64_t ntile = rb * twp;
    for (int64_t co = 0; co < M; co++) {
        const FC_WG_T b = bias ? bias[co] : (FC_WG_T)0;
        const FC_WG_T *mc = m + co * ldm;
        FC_WG_T *yc = y + co * OH * OW;
        for (int64_t t = 0; t < ntile; t += TV) {
            int64_t th[2], tw[2];
            FC_WG4_HALVES(t, ntile, twp, th, tw);
            const int halves = t + TV4 < ntile ? 2 : 1;
            vec_t yv[4][4];
            FC_WG4_OUTPUT_TILES(vec_t, mc + FC_WG_MOFF(t0 + t, mxs, 36), mxs, 0, b, relu, yv);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                vec_t out[2][2]; /* row i of each half's TV4 tiles, in order: 4 TV4 values */
#ifdef FC_VEC_SHUFFLE
                const vec_t a0 = FC_VEC_ZIPLO(FC_WG_TVN, yv[i][0], yv[i][2]);
                const vec_t a1 = FC_VEC_ZIPLO(FC_WG_TVN, yv[i][1], yv[i][3]);
                const vec_t b0 = FC_VEC_ZIPHI(FC_WG_TVN, yv[i][0], yv[i][2]);
                const vec_t b1 = FC_VEC_ZIPHI(FC_WG_TVN, yv[i][1], yv[i][3]);
                out[0][0] = FC_VEC_ZIPLO(FC_WG_TVN, a0, a1);
                out[0][1] = FC_VEC_ZIPHI(FC_WG_TVN, a0, a1);
                out[1][0] = FC_VEC_ZIPLO(FC_WG_TVN, b0, b1);
                out[1][1] = FC_VEC_ZIPHI(FC_WG_TVN, b0, b1);
#else
                for (int h = 0; h < 2; h++)
                    for (int l = 0; l < 4 * TV4; l++)
                        out[h][l / TV][l % TV] = yv[i][l % 4][h * TV4 + l / 4];
#endif
                for (int h = 0; h < halves; h++) {
                    const int64_t r = 4 * (th0 + th[h]) + i, c0 = 4 * tw[h];
                    const int64_t n = FC_MIN((int64_t)(4 * TV4), OW - c0);
                    if (r >= OH || n <= 0) continue;
                    FC_WG_STORE2(yc + r * OW + c0, out[h][0], out[h][1], n);
                }
            }
        }
    }
}

/* The same with a 2x2 stride-2 max-pool of the (relu'd) outputs fused (as output_pool_block):
 * tile (th0 + th, tw) holds the pooled windows (2 (th0 + th) + a, 2 tw + b), a, b in {0, 1};
 * those with row < PH and column < PW go to out (M planes of PH x PW), their positions
 * i * 2 + j in the window to idx. */
void FC_WG_FN(output4_pool_block)(const FC_WG_T *restrict m, int64_t mxs, int64_t ldm,
                                  int64_t M, int64_t rb, int64_t twp, int64_t t0,
                                  const FC_WG_T *restrict bias, int relu,
                                  FC_WG_T *restrict out, uint8_t *restrict idx, int64_t PH,
                                  int64_t PW, int64_t th0)
{
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    typedef FC_WG_UT uvec_t __attribute__((vector_size(32)));
    enum { TV = FC_WG_TV, TV4 = FC_WG_TV4 };
    const int64_t ntile = rb * twp;
    for (int64_t co = 0; co < M; co++) {
        const FC_WG_T b = bias ? bias[co] : (FC_WG_T)0;
        const FC_WG_T *mc = m + co * ldm;
        for (int64_t t = 0; t < ntile; t += TV) {
            int64_t th[2], tw[2];
            FC_WG4_HALVES(t, ntile, twp, th, tw);
            const int halves = t + TV4 < ntile ? 2 : 1;
            if (2 * (th0 + th[0]) >= PH) break;
            vec_t y[4][4];
            FC_WG4_OUTPUT_TILES(vec_t, mc + FC_WG_MOFF(t0 + t, mxs, 36), mxs, 0, b, relu, y);
#pragma GCC unroll 2
            for (int a = 0; a < 2; a++) {
                vec_t best[2];
                uvec_t pos[2];
#pragma GCC unroll 2
                for (int bb = 0; bb < 2; bb++)
                    FC_VEC_POOL_PICK(vec_t, uvec_t, y[2 * a][2 * bb], y[2 * a][2 * bb + 1],
                                    y[2 * a + 1][2 * bb], y[2 * a + 1][2 * bb + 1], best[bb],
                                    pos[bb]);
                /* pooled columns 2 (tw + l) + bb of each half: the two interleaved */
                vec_t row[2];
                uvec_t prow[2];
#ifdef FC_VEC_SHUFFLE
                row[0] = FC_VEC_ZIPLO(FC_WG_TVN, best[0], best[1]);
                row[1] = FC_VEC_ZIPHI(FC_WG_TVN, best[0], best[1]);
                prow[0] = FC_VEC_ZIPLO(FC_WG_TVN, pos[0], pos[1]);
                prow[1] = FC_VEC_ZIPHI(FC_WG_TVN, pos[0], pos[1]);
#else
                for (int l = 0; l < 2 * TV; l++) {
                    row[l / TV][l % TV] = best[l % 2][l / 2];
                    prow[l / TV][l % TV] = pos[l % 2][l / 2];
                }
#endif
                for (int h = 0; h < halves; h++) {
                    const int64_t pr = 2 * (th0 + th[h]) + a, pc = 2 * tw[h];
                    const int64_t n = FC_MIN((int64_t)TV, PW - pc);
                    if (pr >= PH || n <= 0) continue;
                    FC_WG_T *o = out + (co * PH + pr) * PW + pc;
                    uint8_t *ix = idx + (co * PH + pr) * PW + pc;
                    if (n == TV) __builtin_memcpy(o, &row[h], sizeof row[h]);
                    else FC_WG_STORE_PART(o, row[h], n);
                    FC_WG_STORE_BYTES(ix, prow[h], n);
                }
            }
        }
    }
}

#undef FC_WG4_OUTPUT_TILES
#undef FC_WG4_HALVES
#undef FC_WG4_CAT
#undef FC_WG4_BT
#undef FC_WG4_AT
#undef FC_WG_TV4
/* ------------------------------------------------------------------------------------ */
/* The weight gradient's transforms (driver: wg_weight_grad in conv_winograd_tmpl.h)      */
/* ------------------------------------------------------------------------------------ */
/* Vectors of 32 and 16 bytes, loaded and stored unaligned; the bodies below are written once
 * for a type T (either vector, or FC_WG_T itself). */
#define FC_WG_LDT(T, p) ({ T v_; __builtin_memcpy(&v_, (p), sizeof v_); v_; })
#define FC_WG_STT(T, p, v)                                                                   \
    do {                                                                                     \
        const T s_ = (v);                                                                    \
        __builtin_memcpy((p), &s_, sizeof s_);                                               \
    } while (0)

/* rows[0 .. L) -> their transpose, in log2(L) rounds of interleaving row k with row k + L / 2
 * (L = 8, 4 or 2 lanes) */
#define FC_WG_TRANSPOSE_ROUND(T, L, ZLO, ZHI, r)                                             \
    do {                                                                                     \
        T n_[L];                                                                             \
        _Pragma("GCC unroll 8") for (int k_ = 0; k_ < (L) / 2; k_++) {                       \
            n_[2 * k_] = ZLO(r[k_], r[k_ + (L) / 2]);                                        \
            n_[2 * k_ + 1] = ZHI(r[k_], r[k_ + (L) / 2]);                                    \
        }                                                                                    \
        _Pragma("GCC unroll 8") for (int k_ = 0; k_ < (L); k_++) r[k_] = n_[k_];             \
    } while (0)

/* plane (C, h, w) -> out[((i + r0) * ldr + j + c0) * ldc + c], channels last: FC_WG_TV channel
 * planes at a time, each read front to back, in transposed blocks of FC_WG_TV (then half as
 * many) columns. */
void FC_WG_FN(to_channels_last)(const FC_WG_T *restrict plane, int64_t C, int64_t h, int64_t w,
                                int64_t r0, int64_t c0, int64_t ldr, int64_t ldc,
                                FC_WG_T *restrict out)
{
    const int64_t hw = h * w;
    int64_t cb = 0;
#ifdef FC_VEC_SHUFFLE
    typedef FC_WG_T vec_t __attribute__((vector_size(32)));
    typedef FC_WG_T hvec_t __attribute__((vector_size(16)));
    enum { L = FC_WG_TV, HL = FC_WG_TV / 2 };
#if FC_WG_TVN == 8
#define FC_WG_ZLO_(a, b) FC_VEC_ZIPLO_8(a, b)
#define FC_WG_ZHI_(a, b) FC_VEC_ZIPHI_8(a, b)
#define FC_WG_HZLO_(a, b) FC_VEC_ZIPLO_4(a, b)
#define FC_WG_HZHI_(a, b) FC_VEC_ZIPHI_4(a, b)
#else
#define FC_WG_ZLO_(a, b) FC_VEC_ZIPLO_4(a, b)
#define FC_WG_ZHI_(a, b) FC_VEC_ZIPHI_4(a, b)
#define FC_WG_HZLO_(a, b) __builtin_shufflevector(a, b, 0, 2)
#define FC_WG_HZHI_(a, b) __builtin_shufflevector(a, b, 1, 3)
#endif
    for (; cb + L <= C; cb += L) {
        for (int64_t i = 0; i < h; i++) {
            FC_WG_T *restrict row = out + ((i + r0) * ldr + c0) * ldc;
            const FC_WG_T *restrict src = plane + cb * hw + i * w;
            int64_t j = 0;
            for (; j + L <= w; j += L) {
                vec_t r[L];
#pragma GCC unroll 8
                for (int k = 0; k < L; k++) r[k] = FC_WG_LDT(vec_t, src + k * hw + j);
                FC_WG_TRANSPOSE_ROUND(vec_t, L, FC_WG_ZLO_, FC_WG_ZHI_, r);
                FC_WG_TRANSPOSE_ROUND(vec_t, L, FC_WG_ZLO_, FC_WG_ZHI_, r);
#if FC_WG_TVN == 8
                FC_WG_TRANSPOSE_ROUND(vec_t, L, FC_WG_ZLO_, FC_WG_ZHI_, r);
#endif
#pragma GCC unroll 8
                for (int k = 0; k < L; k++) FC_WG_STT(vec_t, row + (j + k) * ldc + cb, r[k]);
            }
            for (; j + HL <= w; j += HL) /* HL columns of each half of the L channels */
                for (int half = 0; half < 2; half++) {
                    hvec_t r[HL];
#pragma GCC unroll 4
                    for (int k = 0; k < HL; k++)
                        r[k] = FC_WG_LDT(hvec_t, src + (half * HL + k) * hw + j);
                    FC_WG_TRANSPOSE_ROUND(hvec_t, HL, FC_WG_HZLO_, FC_WG_HZHI_, r);
#if FC_WG_TVN == 8
                    FC_WG_TRANSPOSE_ROUND(hvec_t, HL, FC_WG_HZLO_, FC_WG_HZHI_, r);
#endif
#pragma GCC unroll 4
                    for (int k = 0; k < HL; k++)
                        FC_WG_STT(hvec_t, row + (j + k) * ldc + cb + half * HL, r[k]);
                }
            for (; j < w; j++)
                for (int64_t c = 0; c < L; c++) row[j * ldc + cb + c] = src[c * hw + j];
        }
    }
#undef FC_WG_ZLO_
#undef FC_WG_ZHI_
#undef FC_WG_HZLO_
#undef FC_WG_HZHI_
#endif
    for (; cb < C; cb++)
        for (int64_t i = 0; i < h; i++) {
            FC_WG_T *restrict row = out + ((i + r0) * ldr + c0) * ldc;
            const FC_WG_T *restrict src = plane + cb * hw + i * w;
            for (int64_t j = 0; j < w; j++) row[j * ldc + cb] = src[j];
        }
}

/* One row (e0, e1, e2, e3) of B^T d times B: e0 - e2, e1 + e2, e2 - e1, e1 - e3, stored xs
 * apart from o. */
#define FC_WG_DW_ROW(T, o, xs, e0, e1, e2, e3)                                               \
    do {                                                                                     \
        FC_WG_STT(T, (o), (e0) - (e2));                                                      \
        FC_WG_STT(T, (o) + (xs), (e1) + (e2));                                               \
        FC_WG_STT(T, (o) + 2 * (xs), (e2) - (e1));                                           \
        FC_WG_STT(T, (o) + 3 * (xs), (e1) - (e3));                                           \
    } while (0)
/* One tile's V for the sizeof(T) / sizeof(FC_WG_T) channels at r of one panel (db: the tile's
 * 4 x 4 channel vectors of the channels-last input, rows WP positions apart), to o + r
 * (+ xi * vs): B^T d down the columns, then along the rows. */
#define FC_WG_DW_V(T, db, cp, WP, o, vs, r)                                                  \
    do {                                                                                     \
        const FC_WG_T *e1 = (db) + (WP) * (cp), *e2 = e1 + (WP) * (cp), *e3 = e2 + (WP) * (cp); \
        const T d00 = FC_WG_LDT(T, (db) + (r)), d01 = FC_WG_LDT(T, (db) + (cp) + (r));       \
        const T d02 = FC_WG_LDT(T, (db) + 2 * (cp) + (r)), d03 = FC_WG_LDT(T, (db) + 3 * (cp) + (r)); \
        const T d10 = FC_WG_LDT(T, e1 + (r)), d11 = FC_WG_LDT(T, e1 + (cp) + (r));           \
        const T d12 = FC_WG_LDT(T, e1 + 2 * (cp) + (r)), d13 = FC_WG_LDT(T, e1 + 3 * (cp) + (r)); \
        const T d20 = FC_WG_LDT(T, e2 + (r)), d21 = FC_WG_LDT(T, e2 + (cp) + (r));           \
        const T d22 = FC_WG_LDT(T, e2 + 2 * (cp) + (r)), d23 = FC_WG_LDT(T, e2 + 3 * (cp) + (r)); \
        const T d30 = FC_WG_LDT(T, e3 + (r)), d31 = FC_WG_LDT(T, e3 + (cp) + (r));           \
        const T d32 = FC_WG_LDT(T, e3 + 2 * (cp) + (r)), d33 = FC_WG_LDT(T, e3 + 3 * (cp) + (r)); \
        FC_WG_DW_ROW(T, (o) + (r), (vs), d00 - d20, d01 - d21, d02 - d22, d03 - d23);        \
        FC_WG_DW_ROW(T, (o) + 4 * (vs) + (r), (vs), d10 + d20, d11 + d21, d12 + d22, d13 + d23); \
        FC_WG_DW_ROW(T, (o) + 8 * (vs) + (r), (vs), d20 - d10, d21 - d11, d22 - d12, d23 - d13); \
        FC_WG_DW_ROW(T, (o) + 12 * (vs) + (r), (vs), d10 - d30, d11 - d31, d12 - d32, d13 - d33); \
    } while (0)
/* One tile's dM for the channels at r of one panel (gb: the tile's 2 x 2 channel vectors of
 * the channels-last output gradient, rows GP positions apart), to o + r (+ xi * ms): A dY
 * down the columns (rows y0, y0 + y1, y0 - y1, -y1), then (u, v) -> (u, u + v, u - v, -v)
 * along each. */
#define FC_WG_DW_M(T, gb, mp, GP, o, ms, r)                                                  \
    do {                                                                                     \
        const T a = FC_WG_LDT(T, (gb) + (r)), b = FC_WG_LDT(T, (gb) + (mp) + (r));           \
        const T e = FC_WG_LDT(T, (gb) + (GP) * (mp) + (r));                                  \
        const T f = FC_WG_LDT(T, (gb) + ((GP) + 1) * (mp) + (r));                            \
        const T u1 = a + e, u2 = a - e, w1 = b + f, w2 = b - f;                              \
        FC_WG_STT(T, (o) + 0 * (ms) + (r), a);                                               \
        FC_WG_STT(T, (o) + 1 * (ms) + (r), a + b);                                           \
        FC_WG_STT(T, (o) + 2 * (ms) + (r), a - b);                                           \
        FC_WG_STT(T, (o) + 3 * (ms) + (r), -b);                                              \
        FC_WG_STT(T, (o) + 4 * (ms) + (r), u1);                                              \
        FC_WG_STT(T, (o) + 5 * (ms) + (r), u1 + w1);                                         \
        FC_WG_STT(T, (o) + 6 * (ms) + (r), u1 - w1);                                         \
        FC_WG_STT(T, (o) + 7 * (ms) + (r), -w1);                                             \
        FC_WG_STT(T, (o) + 8 * (ms) + (r), u2);                                              \
        FC_WG_STT(T, (o) + 9 * (ms) + (r), u2 + w2);                                         \
        FC_WG_STT(T, (o) + 10 * (ms) + (r), u2 - w2);                                        \
        FC_WG_STT(T, (o) + 11 * (ms) + (r), -w2);                                            \
        FC_WG_STT(T, (o) + 12 * (ms) + (r), -e);                                             \
        FC_WG_STT(T, (o) + 13 * (ms) + (r), -e - f);                                         \
        FC_WG_STT(T, (o) + 14 * (ms) + (r), f - e);                                          \
        FC_WG_STT(T, (o) + 15 * (ms) + (r), f);                                              \
    } while (0)
/* BODY over the R channels of one panel: 32-byte vectors, then a 16-byte one, (float) an
 * 8-byte one, then values (the 6-channel panels of the 6x16 and 6x8 microkernels: one
 * 16-byte and one 8-byte vector for float, a 32-byte and a 16-byte one for double) */
#if FC_WG_TVN == 8
#define FC_WG_DW_PANEL_QUARTER(BODY, R, ...)                                                 \
    if (r_ + 2 <= (R)) {                                                                     \
        typedef FC_WG_T qvec_t __attribute__((vector_size(8)));                              \
        BODY(qvec_t, __VA_ARGS__, r_);                                                       \
        r_ += 2;                                                                             \
    }
#else
#define FC_WG_DW_PANEL_QUARTER(BODY, R, ...)
#endif
#define FC_WG_DW_PANEL(BODY, R, ...)                                                         \
    do {                                                                                     \
        typedef FC_WG_T vec_t __attribute__((vector_size(32)));                              \
        typedef FC_WG_T hvec_t __attribute__((vector_size(16)));                             \
        int64_t r_ = 0;                                                                      \
        for (; r_ + FC_WG_TV <= (R); r_ += FC_WG_TV) BODY(vec_t, __VA_ARGS__, r_);           \
        if (r_ + FC_WG_TV / 2 <= (R)) {                                                      \
            BODY(hvec_t, __VA_ARGS__, r_);                                                   \
            r_ += FC_WG_TV / 2;                                                              \
        }                                                                                    \
        FC_WG_DW_PANEL_QUARTER(BODY, R, __VA_ARGS__)                                         \
        for (; r_ < (R); r_++) BODY(FC_WG_T, __VA_ARGS__, r_);                               \
    } while (0)

/* V and dM of one image's TH x TW tiles (tiles t0 .. of ldt), from its input and output
 * gradient channels-last (xt: (2 TH + 2) x (2 TW + 2) x cp, gt: 2 TH x 2 TW x mp, padding
 * zero), in the microkernel's packed layouts of
 *     dU_xi (Cout, Cin) = dM_xi (Cout, tiles) @ V_xi^T (tiles, Cin):
 * dM_xi as the A operand (panels of dr output channels: element (co, t) at
 * (co / dr) dr ldt + t dr + co % dr, matrices ms apart), V_xi^T as the B operand (panels of
 * vr input channels: (t, c) at (c / vr) vr ldt + t vr + c % vr, matrices vs apart). */
void FC_WG_FN(dw_image)(const FC_WG_T *restrict xt, const FC_WG_T *restrict gt, int64_t TH,
                        int64_t TW, int64_t cp, int64_t mp, int64_t vr, int64_t dr,
                        FC_WG_T *restrict v, FC_WG_T *restrict dm, int64_t ldt, int64_t t0,
                        int64_t vs, int64_t ms)
{
    const int64_t WP = 2 * TW + 2, GP = 2 * TW;
    for (int64_t th = 0; th < TH; th++)
        for (int64_t tw = 0; tw < TW; tw++) {
            const int64_t t = t0 + th * TW + tw;
            const FC_WG_T *restrict d = xt + (2 * th * WP + 2 * tw) * cp;
            for (int64_t cb = 0; cb < cp; cb += vr) {
                FC_WG_T *restrict o = v + cb * ldt + t * vr;
                FC_WG_DW_PANEL(FC_WG_DW_V, vr, d + cb, cp, WP, o, vs);
            }
            const FC_WG_T *restrict g = gt + (2 * th * GP + 2 * tw) * mp;
            for (int64_t cb = 0; cb < mp; cb += dr) {
                FC_WG_T *restrict o = dm + cb * ldt + t * dr;
                FC_WG_DW_PANEL(FC_WG_DW_M, dr, g + cb, mp, GP, o, ms);
            }
        }
}
#undef FC_WG_DW_PANEL
#undef FC_WG_DW_PANEL_QUARTER
#undef FC_WG_DW_M
#undef FC_WG_DW_V
#undef FC_WG_DW_ROW
#undef FC_WG_TRANSPOSE_ROUND
#undef FC_WG_LDT
#undef FC_WG_STT

#undef FC_WG_OUTPUT_TILES
#undef FC_WG_STORE_PART
#undef FC_WG_STORE2
#undef FC_WG_STORE_BYTES
#undef FC_WG_LOW_BYTES
#undef FC_WG_CAT3_
#undef FC_WG_CAT3
#undef FC_WG_FN
#undef FC_WG_TV
