/*
 * conv_direct_tmpl.h -- direct conv2d kernels for the shapes where the GEMM is degenerate,
 * written once and compiled per ISA path (included inside each path's target region).
 *
 * Expects FC_CD_T (element type), FC_CD_PFX (name prefix, e.g. fc_f32_conv2d_), FC_CD_ISA
 * (suffix), and for vector paths FC_CD_VL (lanes) and FC_CD_SET1(x) (broadcast).
 */
#define FC_CD_CAT3_(a, b, c) a##b##__##c
#define FC_CD_CAT3(a, b, c) FC_CD_CAT3_(a, b, c)
#define FC_CD_FN(name) FC_CD_CAT3(FC_CD_PFX, name, FC_CD_ISA)

/* One output plane of one image from the c_in/groups input planes of its group:
 *   y[oh, ow] = bias + sum_{ci, r, s} w[ci, r, s] * x[ci, oh*sh - ph + r*dh, ow*sw - pw + s*dw]
 * as a sequence of row axpys (any stride, dilation and padding).  Used for one output
 * channel per group (Cout = 1, depthwise). */
void FC_CD_FN(direct_plane)(const fc_conv2d_params *p, const FC_CD_T *restrict x,
                            const FC_CD_T *restrict w, FC_CD_T bias, FC_CD_T *restrict y)
{
    const int64_t H = p->h, W = p->w, OH = p->out_h, OW = p->out_w;
    const int64_t cin_g = p->c_in / p->groups;
    for (int64_t i = 0; i < OH * OW; i++) y[i] = bias;
    for (int64_t ci = 0; ci < cin_g; ci++) {
        const FC_CD_T *xc = x + ci * H * W;
        for (int64_t r = 0; r < p->kh; r++) {
            for (int64_t s = 0; s < p->kw; s++) {
                const FC_CD_T wv = w[(ci * p->kh + r) * p->kw + s];
                const int64_t off = s * p->dil_w - p->pad_w; /* iw = ow*sw + off */
                /* valid ow: 0 <= ow*sw + off < W */
                int64_t lo = off >= 0 ? 0 : (-off + p->stride_w - 1) / p->stride_w;
                int64_t hi = W - off <= 0 ? 0 : (W - off - 1) / p->stride_w + 1;
                if (hi > OW) hi = OW;
                if (lo >= hi) continue;
                for (int64_t oh = 0; oh < OH; oh++) {
                    const int64_t ih = oh * p->stride_h - p->pad_h + r * p->dil_h;
                    if (ih < 0 || ih >= H) continue;
                    FC_CD_T *restrict yr = y + oh * OW;
                    const FC_CD_T *restrict xr = xc + ih * W + off;
                    if (p->stride_w == 1) {
                        for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow];
                    } else {
                        const int64_t sw = p->stride_w;
                        for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow * sw];
                    }
                }
            }
        }
    }
}

#ifdef FC_CD_VL
/* One input channel, 3x3, stride 1, dilation 1, all c_out output planes of one image, with
 * the 9 shifted input vectors in registers and the weights broadcast per output channel.
 * xp: the input plane zero-padded to (OH + 2) rows of ldx >= ceil(OW / VL) * VL + 2 values
 * (all readable).  y: (cout, OH, OW). */
void FC_CD_FN(cin1_3x3)(const FC_CD_T *restrict xp, int64_t ldx, int64_t OH, int64_t OW,
                        int64_t cout, const FC_CD_T *restrict w, const FC_CD_T *restrict bias,
                        FC_CD_T *restrict y)
{
    typedef FC_CD_T vec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    enum { VL = FC_CD_VL };
    const int64_t plane = OH * OW;
    for (int64_t oh = 0; oh < OH; oh++) {
        const FC_CD_T *x0 = xp + oh * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx;
        for (int64_t cv = 0; cv < OW; cv += VL) {
            /* a row of VL or more outputs ends with a full vector overlapping the one before
             * (the same outputs stored twice): masked stores are slow on AMD cores */
            const int64_t c0 = (cv + VL > OW && OW >= VL) ? OW - VL : cv;
            vec_t v[9];
            __builtin_memcpy(&v[0], x0 + c0, sizeof(vec_t));
            __builtin_memcpy(&v[1], x0 + c0 + 1, sizeof(vec_t));
            __builtin_memcpy(&v[2], x0 + c0 + 2, sizeof(vec_t));
            __builtin_memcpy(&v[3], x1 + c0, sizeof(vec_t));
            __builtin_memcpy(&v[4], x1 + c0 + 1, sizeof(vec_t));
            __builtin_memcpy(&v[5], x1 + c0 + 2, sizeof(vec_t));
            __builtin_memcpy(&v[6], x2 + c0, sizeof(vec_t));
            __builtin_memcpy(&v[7], x2 + c0 + 1, sizeof(vec_t));
            __builtin_memcpy(&v[8], x2 + c0 + 2, sizeof(vec_t));
            const int64_t cnt = FC_MIN((int64_t)VL, OW - c0);
            FC_CD_T *yo = y + oh * OW + c0;
            for (int64_t co = 0; co < cout; co++) {
                const FC_CD_T *wc = w + co * 9;
                vec_t a0 = (vec_t)FC_CD_SET1(bias ? bias[co] : (FC_CD_T)0);
                vec_t a1 = v[1] * (vec_t)FC_CD_SET1(wc[1]);
                vec_t a2 = v[2] * (vec_t)FC_CD_SET1(wc[2]);
                a0 += v[0] * (vec_t)FC_CD_SET1(wc[0]);
                a1 += v[4] * (vec_t)FC_CD_SET1(wc[4]);
                a2 += v[5] * (vec_t)FC_CD_SET1(wc[5]);
                a0 += v[3] * (vec_t)FC_CD_SET1(wc[3]);
                a1 += v[7] * (vec_t)FC_CD_SET1(wc[7]);
                a2 += v[8] * (vec_t)FC_CD_SET1(wc[8]);
                a0 += v[6] * (vec_t)FC_CD_SET1(wc[6]);
                a0 += a1 + a2;
                if (cnt == VL)
                    __builtin_memcpy(yo + co * plane, &a0, sizeof(vec_t));
                else
                    FC_CD_STOREN(yo + co * plane, cnt, a0);
            }
        }
    }
}

/* Weight gradient of cin1_3x3 for one image, accumulated:
 *   gw[co*9 + r*3 + s] += sum_{oh, ow} gy[co, oh, ow] * xp[(oh + r) * ldx + ow + s]
 * with xp as for cin1_3x3 and gy (cout, OH, OW); if gb is not NULL, also the bias gradient
 * gb[co] += sum_{oh, ow} gy[co, oh, ow] from the same loads (gy is read once).  Output channels go in pairs (AVX-512:
 * 18 accumulators and the 9 shifted inputs in registers), vectors along ow; the last
 * partial vector of a row is loaded masked, and its input lanes are zeroed too so that an
 * inf or NaN past the row's end cannot leak in as 0 * inf. */
void FC_CD_FN(cin1_3x3_dw)(const FC_CD_T *restrict xp, int64_t ldx, int64_t OH, int64_t OW,
                           int64_t cout, const FC_CD_T *restrict gy, FC_CD_T *restrict gw,
                           FC_CD_T *restrict gb)
{
    typedef FC_CD_T vec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    /* two channels with 512-bit vectors (32 registers), one with 256-bit (16) */
    enum { VL = FC_CD_VL, CB = VL * sizeof(FC_CD_T) == 64 ? 2 : 1 };
    typedef __typeof__(__builtin_choose_expr(sizeof(FC_CD_T) == 4, (int32_t)0, (int64_t)0))
        int_t; /* lane masks: the signed integer of the element's size */
    typedef int_t ivec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    ivec_t lane;
    for (int l = 0; l < VL; l++) lane[l] = l;
    const int64_t plane = OH * OW;
    for (int64_t co0 = 0; co0 < cout; co0 += CB) {
        const int64_t nco = FC_MIN((int64_t)CB, cout - co0);
        const FC_CD_T *g[CB];
        for (int j = 0; j < CB; j++) g[j] = gy + (co0 + (j < nco ? j : 0)) * plane;
        vec_t acc[CB][9], accb[CB];
#pragma GCC unroll 2
        for (int j = 0; j < CB; j++) {
            accb[j] = (vec_t){0};
            for (int t = 0; t < 9; t++) acc[j][t] = (vec_t){0};
        }
        /* full vectors of every row first, then the partial last vector of every row: two
         * uniform loop nests keep the accumulators in registers */
#define FC_CD_DW_STEP(MASKED)                                                                \
    do {                                                                                     \
        const FC_CD_T *x0 = xp + oh * ldx + c0, *x1 = x0 + ldx, *x2 = x1 + ldx;              \
        vec_t v[9], gv[CB];                                                                  \
        __builtin_memcpy(&v[0], x0, sizeof(vec_t));                                          \
        __builtin_memcpy(&v[1], x0 + 1, sizeof(vec_t));                                      \
        __builtin_memcpy(&v[2], x0 + 2, sizeof(vec_t));                                      \
        __builtin_memcpy(&v[3], x1, sizeof(vec_t));                                          \
        __builtin_memcpy(&v[4], x1 + 1, sizeof(vec_t));                                      \
        __builtin_memcpy(&v[5], x1 + 2, sizeof(vec_t));                                      \
        __builtin_memcpy(&v[6], x2, sizeof(vec_t));                                          \
        __builtin_memcpy(&v[7], x2 + 1, sizeof(vec_t));                                      \
        __builtin_memcpy(&v[8], x2 + 2, sizeof(vec_t));                                      \
        const int64_t q = oh * OW + c0;                                                      \
        if (MASKED) {                                                                        \
            _Pragma("GCC unroll 9") for (int t = 0; t < 9; t++) v[t] =                       \
                (vec_t)((ivec_t)v[t] & m);                                                   \
            _Pragma("GCC unroll 2") for (int j = 0; j < CB; j++) gv[j] =                     \
                (vec_t)FC_CD_LOADN(g[j] + q, tail);                                          \
        } else {                                                                             \
            _Pragma("GCC unroll 2") for (int j = 0; j < CB; j++)                             \
                __builtin_memcpy(&gv[j], g[j] + q, sizeof(vec_t));                           \
        }                                                                                    \
        _Pragma("GCC unroll 2") for (int j = 0; j < CB; j++) {                               \
            _Pragma("GCC unroll 9") for (int t = 0; t < 9; t++) acc[j][t] += gv[j] * v[t];   \
            accb[j] += gv[j];                                                                \
        }                                                                                    \
    } while (0)
        const int64_t full = OW - OW % VL, tail = OW - full;
        const ivec_t m = lane < (ivec_t){0} + (int_t)tail;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t c0 = 0; c0 < full; c0 += VL) FC_CD_DW_STEP(0);
        if (tail) {
            const int64_t c0 = full;
            for (int64_t oh = 0; oh < OH; oh++) FC_CD_DW_STEP(1);
        }
#undef FC_CD_DW_STEP
        /* constant indices only: the accumulators stay in registers */
#pragma GCC unroll 2
        for (int j = 0; j < CB; j++) {
            if (j >= nco) break;
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) {
                FC_CD_T sum = 0;
#pragma GCC unroll 16
                for (int l = 0; l < VL; l++) sum += acc[j][t][l];
                gw[(co0 + j) * 9 + t] += sum;
            }
            if (gb) {
                FC_CD_T sum = 0;
#pragma GCC unroll 16
                for (int l = 0; l < VL; l++) sum += accb[j][l];
                gb[co0 + j] += sum;
            }
        }
    }
}

/* Weight gradient of a stride-1 conv as dot products along output rows, accumulated:
 *   gw[co*K + k] += sum_{img, oh, ow < OW} gy[img][co][oh*OW + ow] * xp[img][boff[k] + oh*Wp + ow]
 * for nimg images: gy image img at gy + img*gstride (cout planes of OH*OW), its zero-padded
 * input image at xp + img*xstride (rows of Wp values; boff[k] is the offset of row k =
 * (ci, r, s) of the im2col).  Tiles of 4 channels x 6 rows of k keep 24 vector accumulators
 * over all rows of all nimg images, then reduce them once; each row is read in vectors, the
 * last one masked in both operands (so nothing past OW, not even an inf, enters a sum).
 * No im2col and no packing: both operands are read in place. */
void FC_CD_FN(dw_rows)(int64_t nimg, const FC_CD_T *restrict xp, int64_t xstride,
                       const int64_t *restrict boff, int64_t K, int64_t Wp,
                       const FC_CD_T *restrict gy, int64_t gstride, int64_t cout, int64_t OH,
                       int64_t OW, FC_CD_T *restrict gw)
{
    typedef FC_CD_T vec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    enum { VL = FC_CD_VL, TC = 4, TK = VL * sizeof(FC_CD_T) == 64 ? 6 : 2 };
    const int64_t P = OH * OW, full = OW - OW % VL, tail = OW - full;
    for (int64_t co0 = 0; co0 < cout; co0 += TC) {
        const int64_t nco = FC_MIN((int64_t)TC, cout - co0);
        for (int64_t k0 = 0; k0 < K; k0 += TK) {
            const int64_t nk = FC_MIN((int64_t)TK, K - k0);
            int64_t off[TK];
            for (int t = 0; t < TK; t++) off[t] = boff[k0 + (t < nk ? t : 0)];
            vec_t acc[TC][TK];
#pragma GCC unroll 4
            for (int j = 0; j < TC; j++)
#pragma GCC unroll 6
                for (int t = 0; t < TK; t++) acc[j][t] = (vec_t){0};
            for (int64_t img = 0; img < nimg; img++) {
                const FC_CD_T *gi[TC];
                for (int j = 0; j < TC; j++)
                    gi[j] = gy + img * gstride + (co0 + (j < nco ? j : 0)) * P;
                const FC_CD_T *xi = xp + img * xstride;
                for (int64_t oh = 0; oh < OH; oh++) {
                    const FC_CD_T *xr = xi + oh * Wp;
                    const int64_t go = oh * OW;
                    for (int64_t c0 = 0; c0 < full; c0 += VL) {
                        vec_t g[TC];
#pragma GCC unroll 4
                        for (int j = 0; j < TC; j++)
                            __builtin_memcpy(&g[j], gi[j] + go + c0, sizeof(vec_t));
#pragma GCC unroll 6
                        for (int t = 0; t < TK; t++) {
                            vec_t xv;
                            __builtin_memcpy(&xv, xr + off[t] + c0, sizeof(vec_t));
#pragma GCC unroll 4
                            for (int j = 0; j < TC; j++) acc[j][t] += g[j] * xv;
                        }
                    }
                    if (tail) {
                        vec_t g[TC];
#pragma GCC unroll 4
                        for (int j = 0; j < TC; j++)
                            g[j] = (vec_t)FC_CD_LOADN(gi[j] + go + full, tail);
#pragma GCC unroll 6
                        for (int t = 0; t < TK; t++) {
                            const vec_t xv = (vec_t)FC_CD_LOADN(xr + off[t] + full, tail);
#pragma GCC unroll 4
                            for (int j = 0; j < TC; j++) acc[j][t] += g[j] * xv;
                        }
                    }
                }
            }
            /* constant indices only: the accumulators stay in registers */
#pragma GCC unroll 4
            for (int j = 0; j < TC; j++)
#pragma GCC unroll 6
                for (int t = 0; t < TK; t++) {
                    FC_CD_T sum = 0;
#pragma GCC unroll 16
                    for (int l = 0; l < VL; l++) sum += acc[j][t][l];
                    if (j < nco && t < nk) gw[(co0 + j) * K + k0 + t] += sum;
                }
        }
    }
}
#endif

#undef FC_CD_CAT3_
#undef FC_CD_CAT3
#undef FC_CD_FN
