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
/* keeps the compiler from making memcpy calls of the short element loops below */
#ifndef FC_CD_OPAQUE
#define FC_CD_OPAQUE(i) __asm__("" : "+r"(i))
#endif

/* STEP(0) at the full vectors v = 0, VL, .. < full of every row r < R, then STEP(1) at the
 * partial last vector (v = full, tail lanes) of every row: two uniform loop nests, which keep
 * a weight-gradient kernel's accumulators in registers. */
#define FC_CD_FULL_THEN_TAIL(STEP, r, R, v, full, tail)                                      \
    do {                                                                                     \
        for (int64_t r = 0; r < (R); r++)                                                    \
            for (int64_t v = 0; v < (full); v += VL) STEP(0);                                \
        if (tail) {                                                                          \
            const int64_t v = (full);                                                        \
            for (int64_t r = 0; r < (R); r++) STEP(1);                                       \
        }                                                                                    \
    } while (0)

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
/* out = b0 + sum_{c < C, r, s} X[c][a + r][b + s] * wc[c * 9 + r * 3 + s]: the shifted input
 * vectors of tap (r, s) of input channel c from the array X, in one fixed order of
 * operations (three partial sums over the taps' columns, channel after channel).  Every
 * kernel that computes these convs' outputs goes through it, so that they agree bitwise. */
#define FC_CD_DOTC(out, X, a, b, wc, C, b0)                                                  \
    do {                                                                                     \
        const FC_CD_T *w_ = (wc);                                                            \
        vec_t a0_ = (vec_t)FC_CD_SET1(b0);                                                   \
        vec_t a1_ = X[0][(a)][(b) + 1] * (vec_t)FC_CD_SET1(w_[1]);                           \
        vec_t a2_ = X[0][(a)][(b) + 2] * (vec_t)FC_CD_SET1(w_[2]);                           \
        a0_ += X[0][(a)][(b)] * (vec_t)FC_CD_SET1(w_[0]);                                    \
        a1_ += X[0][(a) + 1][(b) + 1] * (vec_t)FC_CD_SET1(w_[4]);                            \
        a2_ += X[0][(a) + 1][(b) + 2] * (vec_t)FC_CD_SET1(w_[5]);                            \
        a0_ += X[0][(a) + 1][(b)] * (vec_t)FC_CD_SET1(w_[3]);                                \
        a1_ += X[0][(a) + 2][(b) + 1] * (vec_t)FC_CD_SET1(w_[7]);                            \
        a2_ += X[0][(a) + 2][(b) + 2] * (vec_t)FC_CD_SET1(w_[8]);                            \
        a0_ += X[0][(a) + 2][(b)] * (vec_t)FC_CD_SET1(w_[6]);                                \
        for (int c_ = 1; c_ < (C); c_++) {                                                   \
            const FC_CD_T *wq_ = w_ + 9 * c_;                                                \
            for (int r_ = 0; r_ < 3; r_++) {                                                 \
                a1_ += X[c_][(a) + r_][(b) + 1] * (vec_t)FC_CD_SET1(wq_[3 * r_ + 1]);        \
                a2_ += X[c_][(a) + r_][(b) + 2] * (vec_t)FC_CD_SET1(wq_[3 * r_ + 2]);        \
                a0_ += X[c_][(a) + r_][(b)] * (vec_t)FC_CD_SET1(wq_[3 * r_]);                \
            }                                                                                \
        }                                                                                    \
        a0_ += a1_ + a2_;                                                                    \
        (out) = a0_;                                                                         \
    } while (0)

/* Dispatch on the number of input channels C (1 .. FC_FEWCIN_MAX): BODY(c) with c a constant,
 * so that the channel loops unroll and X stays in registers where it fits. */
#define FC_CD_BY_C(C, BODY)                                                                  \
    do {                                                                                     \
        switch (C) {                                                                         \
        case 1: BODY(1); break;                                                              \
        case 2: BODY(2); break;                                                              \
        case 3: BODY(3); break;                                                              \
        default: BODY(4); break;                                                             \
        }                                                                                    \
    } while (0)

/* A few input channels (C <= FC_FEWCIN_MAX), 3x3, stride 1, dilation 1, all c_out output
 * planes of one image: the 9 C shifted input vectors of an output vector loaded once, the
 * weights broadcast per output channel.  xp: the C input planes zero-padded, channel c at
 * xp + c ps, (OH + 2) rows of ldx >= ceil(OW / VL) * VL + 2 values (all readable); w
 * (cout, C, 3, 3); y (cout, OH, OW). */
static inline __attribute__((always_inline)) void
FC_CD_FN(fewcin_3x3_c)(const FC_CD_T *restrict xp, int64_t ldx, int64_t ps, const int C,
                       int64_t OH, int64_t OW, int64_t cout, const FC_CD_T *restrict w,
                       const FC_CD_T *restrict bias, FC_CD_T *restrict y)
{
    typedef FC_CD_T vec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    enum { VL = FC_CD_VL };
    const int64_t plane = OH * OW;
    for (int64_t oh = 0; oh < OH; oh++) {
        for (int64_t cv = 0; cv < OW; cv += VL) {
            /* a row of VL or more outputs ends with a full vector overlapping the one before
             * (the same outputs stored twice): masked stores are slow on AMD cores */
            const int64_t c0 = (cv + VL > OW && OW >= VL) ? OW - VL : cv;
            vec_t X[FC_FEWCIN_MAX][3][3];
            for (int c = 0; c < C; c++)
                for (int r = 0; r < 3; r++)
                    for (int t = 0; t < 3; t++)
                        __builtin_memcpy(&X[c][r][t], xp + c * ps + (oh + r) * ldx + c0 + t,
                                         sizeof(vec_t));
            const int64_t cnt = FC_MIN((int64_t)VL, OW - c0);
            FC_CD_T *yo = y + oh * OW + c0;
            for (int64_t co = 0; co < cout; co++) {
                vec_t a0;
                FC_CD_DOTC(a0, X, 0, 0, w + co * 9 * C, C, bias ? bias[co] : (FC_CD_T)0);
                if (cnt == VL)
                    __builtin_memcpy(yo + co * plane, &a0, sizeof(vec_t));
                else
                    FC_CD_STOREN(yo + co * plane, cnt, a0);
            }
        }
    }
}

void FC_CD_FN(fewcin_3x3)(const FC_CD_T *restrict xp, int64_t ldx, int64_t ps, int64_t C,
                          int64_t OH, int64_t OW, int64_t cout, const FC_CD_T *restrict w,
                          const FC_CD_T *restrict bias, FC_CD_T *restrict y)
{
#define FC_CD_CALL(c) FC_CD_FN(fewcin_3x3_c)(xp, ldx, ps, c, OH, OW, cout, w, bias, y)
    FC_CD_BY_C(C, FC_CD_CALL);
#undef FC_CD_CALL
}

/* Weight gradient of fewcin_3x3 with one input channel for one image, accumulated:
 *   gw[co*9 + r*3 + s] += sum_{oh, ow} gy[co, oh, ow] * xp[(oh + r) * ldx + ow + s]
 * with xp as for fewcin_3x3 (C = 1) and gy (cout, OH, OW); if gb is not NULL, also the bias gradient
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
        FC_CD_FULL_THEN_TAIL(FC_CD_DW_STEP, oh, OH, c0, full, tail);
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

/* VL window positions (bytes at p) widened to the lanes of an element-sized unsigned
 * vector: the path's widening load (FC_CD_LOADPOS) where it has one -- GCC expands the
 * generic conversion of a byte vector lane by lane through integer registers. */
typedef __typeof__(__builtin_choose_expr(sizeof(FC_CD_T) == 4, (uint32_t)0, (uint64_t)0))
    FC_CD_FN(uint_t);
typedef FC_CD_FN(uint_t) FC_CD_FN(uvec_t)
    __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
static inline FC_CD_FN(uvec_t) FC_CD_FN(load_pos)(const uint8_t *p)
{
#ifdef FC_CD_LOADPOS
    return (FC_CD_FN(uvec_t))FC_CD_LOADPOS(p);
#else
    typedef uint8_t bvec_t __attribute__((vector_size(FC_CD_VL)));
    bvec_t b;
    __builtin_memcpy(&b, p, sizeof b);
    return __builtin_convertvector(b, FC_CD_FN(uvec_t));
#endif
}

/* The relu (if relu) and 2x2 stride-2 max-pool of the fewcin 3x3 conv, pooled rows
 * [ph0, ph1) of one image: out (cout, PH, PW) and idx (the window position i * 2 + j of
 * each maximum), the conv outputs never stored.  xq: the C zero-padded input planes split
 * by column parity (pad_planes_pool2), channel c at xq + c qs: padded row r's columns 0, 2,
 * 4, ... at + 2 r ldq and 1, 3, 5, ... at + (2 r + 1) ldq, rows 0 .. 2 PH + 1, ldq >=
 * ceil(PW / 16) * 16 + 1 values (all readable).  A window's four outputs (2 ph + i,
 * 2 pw + j) are four vectors over pw, from contiguous loads of the parities; each lane's
 * value is fewcin_3x3's (FC_CD_DOTC on the same inputs), and the pick is the block's
 * pool_plane's: on relu'd values, the first maximum in row-major order, NaN larger than any
 * number (the last NaN winning).  A row of VL or more windows ends with a full vector
 * overlapping the one before (the same values stored twice). */
static inline __attribute__((always_inline)) void
FC_CD_FN(fewcin_3x3_pool2_c)(const FC_CD_T *restrict xq, int64_t ldq, int64_t qs, const int C,
                             int64_t ph0, int64_t ph1, int64_t PH, int64_t PW, int64_t cout,
                             const FC_CD_T *restrict w, const FC_CD_T *restrict bias, int relu,
                             FC_CD_T *restrict out, uint8_t *restrict idx)
{
    typedef FC_CD_T vec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    typedef __typeof__(__builtin_choose_expr(sizeof(FC_CD_T) == 4, (uint32_t)0, (uint64_t)0))
        uint_t;
    typedef uint_t uvec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    typedef uint8_t bvec_t __attribute__((vector_size(FC_CD_VL)));
    enum { VL = FC_CD_VL };
    const int64_t pplane = PH * PW;
    for (int64_t ph = ph0; ph < ph1; ph++) {
        for (int64_t jv = 0; jv < PW; jv += VL) {
            const int64_t j0 = (jv + VL > PW && PW >= VL) ? PW - VL : jv;
            const int64_t cnt = FC_MIN((int64_t)VL, PW - j0);
            /* channel c, padded row 2 ph + i: columns 2 pw + q, q = 0 .. 3 */
            vec_t X[FC_FEWCIN_MAX][4][4];
            for (int c = 0; c < C; c++)
                for (int i = 0; i < 4; i++) {
                    const FC_CD_T *re = xq + c * qs + (4 * ph + 2 * i) * ldq + j0, *ro = re + ldq;
                    __builtin_memcpy(&X[c][i][0], re, sizeof(vec_t));
                    __builtin_memcpy(&X[c][i][1], ro, sizeof(vec_t));
                    __builtin_memcpy(&X[c][i][2], re + 1, sizeof(vec_t));
                    __builtin_memcpy(&X[c][i][3], ro + 1, sizeof(vec_t));
                }
            const int64_t o = ph * PW + j0;
            /* a row shorter than VL windows is stored as whole vectors too where they end
             * within this call's rows: the lanes past it land on the rows after it, which
             * the next iterations write again */
            const int whole = cnt == VL || o + VL <= ph1 * PW;
            for (int64_t co = 0; co < cout; co++) {
                const FC_CD_T *wc = w + co * 9 * C, b0 = bias ? bias[co] : (FC_CD_T)0;
                vec_t y00, y01, y10, y11;
                FC_CD_DOTC(y00, X, 0, 0, wc, C, b0);
                FC_CD_DOTC(y01, X, 0, 1, wc, C, b0);
                FC_CD_DOTC(y10, X, 1, 0, wc, C, b0);
                FC_CD_DOTC(y11, X, 1, 1, wc, C, b0);
                FC_VEC_RELU_IF(uvec_t, relu, y00, y01, y10, y11);
                vec_t best;
                uvec_t pos;
                FC_VEC_POOL_PICK(vec_t, uvec_t, y00, y01, y10, y11, best, pos);
#if defined(FC_VEC_SHUFFLE) && FC_CD_VL * FC_CD_ESIZE == 32
                typedef uint8_t b32_t __attribute__((vector_size(32)));
                const bvec_t pb = FC_VEC_LOWBYTES(FC_CD_VL, (b32_t)pos);
#else
                const bvec_t pb = __builtin_convertvector(pos, bvec_t);
#endif
                FC_CD_T *oc = out + co * pplane + o;
                uint8_t *ic = idx + co * pplane + o;
                if (whole) {
                    __builtin_memcpy(oc, &best, sizeof best);
                    __builtin_memcpy(ic, &pb, sizeof pb);
                } else {
                    uint8_t tb[VL];
                    __builtin_memcpy(tb, &pb, sizeof pb);
                    FC_CD_STOREN(oc, cnt, best);
                    for (int64_t l = 0; l < cnt; l++) {
                        FC_CD_OPAQUE(l);
                        ic[l] = tb[l];
                    }
                }
            }
            if (j0 != jv) break; /* the overlapped vector was the row's last */
        }
    }
}

void FC_CD_FN(fewcin_3x3_pool2)(const FC_CD_T *restrict xq, int64_t ldq, int64_t qs, int64_t C,
                                int64_t ph0, int64_t ph1, int64_t PH, int64_t PW, int64_t cout,
                                const FC_CD_T *restrict w, const FC_CD_T *restrict bias,
                                int relu, FC_CD_T *restrict out, uint8_t *restrict idx)
{
#define FC_CD_CALL(c)                                                                        \
    FC_CD_FN(fewcin_3x3_pool2_c)(xq, ldq, qs, c, ph0, ph1, PH, PW, cout, w, bias, relu, out, idx)
    FC_CD_BY_C(C, FC_CD_CALL);
#undef FC_CD_CALL
}

/* The weight and bias gradients of fewcin_3x3_pool2's block for one image, accumulated in
 * lane partial sums, where every conv output lies in a window (OH = 2 PH, OW = 2 PW): the
 * conv output's gradient at (2 ph + i, 2 pw + j) is gp[co, ph, pw] if idx there is i * 2 + j
 * (and, with relu, the pooled output y there is > 0), else 0 -- four vectors per vector of
 * windows, built in registers and never stored -- and, with K = 9 C + 1 sums per output
 * channel,
 *   acc[(co K + c * 9 + r * 3 + s) * 16 + l] += lane l of
 *       sum_{oh, ow} g[co, oh, ow] * xpad[c, oh + r, ow + s],
 *   acc[(co K + 9 C) * 16 + l] += lane l of sum g[co, oh, ow]  (the bias gradient),
 * lanes l < VL (those past VL untouched): the caller sums the lanes once, after all its
 * images (per image, the horizontal sums cost as much as the products).  One pass over the
 * windows per input channel (9 accumulators).  xq as for fewcin_3x3_pool2.  Full vectors of
 * windows first, then the partial last vector of every row, loaded masked, its input lanes
 * zeroed too (nothing past the row, not even an inf, enters a sum as 0 * inf). */
void FC_CD_FN(fewcin_3x3_dw_pool2)(const FC_CD_T *restrict xq, int64_t ldq, int64_t qs,
                                   int64_t C, int64_t PH, int64_t PW, int64_t cout,
                                   const FC_CD_T *restrict gp, const FC_CD_T *restrict yp,
                                   const uint8_t *restrict idx, int relu,
                                   FC_CD_T *restrict acc_out)
{
    typedef FC_CD_T vec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    typedef __typeof__(__builtin_choose_expr(sizeof(FC_CD_T) == 4, (uint32_t)0, (uint64_t)0))
        uint_t;
    typedef uint_t uvec_t __attribute__((vector_size(FC_CD_VL * sizeof(FC_CD_T))));
    enum { VL = FC_CD_VL };
    uvec_t lane;
    for (int l = 0; l < VL; l++) lane[l] = (uint_t)l;
    const uvec_t zero = (uvec_t){0}, one = zero + 1, two = one + one, three = two + one;
    const int64_t pplane = PH * PW, full = PW - PW % VL, tail = PW - full, K = 9 * C + 1;
    const uvec_t m = (uvec_t)(lane < zero + (uint_t)tail);
    for (int64_t co = 0; co < cout; co++) {
        const FC_CD_T *gc = gp + co * pplane, *yc = yp + co * pplane;
        const uint8_t *ic = idx + co * pplane;
        for (int64_t c = 0; c < C; c++) {
            const FC_CD_T *xc = xq + c * qs;
            FC_CD_T *ac = acc_out + (co * K + c * 9) * 16, *ab = acc_out + (co * K + 9 * C) * 16;
            vec_t acc[9], accb;
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) __builtin_memcpy(&acc[t], ac + t * 16, sizeof(vec_t));
            __builtin_memcpy(&accb, ab, sizeof(vec_t));
#define FC_CD_DWP_STEP(MASKED)                                                               \
    do {                                                                                     \
        const FC_CD_T *q = xc + 4 * ph * ldq + j0;                                           \
        const int64_t o = ph * PW + j0;                                                      \
        vec_t e0[4], o0[4], e1[4], o1[4], gv, yv;                                            \
        uvec_t pos;                                                                          \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {                                \
            const FC_CD_T *re = q + 2 * i * ldq, *ro = re + ldq;                             \
            __builtin_memcpy(&e0[i], re, sizeof(vec_t));                                     \
            __builtin_memcpy(&e1[i], re + 1, sizeof(vec_t));                                 \
            __builtin_memcpy(&o0[i], ro, sizeof(vec_t));                                     \
            __builtin_memcpy(&o1[i], ro + 1, sizeof(vec_t));                                 \
            if (MASKED) {                                                                    \
                e0[i] = (vec_t)((uvec_t)e0[i] & m);                                          \
                e1[i] = (vec_t)((uvec_t)e1[i] & m);                                          \
                o0[i] = (vec_t)((uvec_t)o0[i] & m);                                          \
                o1[i] = (vec_t)((uvec_t)o1[i] & m);                                          \
            }                                                                                \
        }                                                                                    \
        if (MASKED) {                                                                        \
            gv = (vec_t)FC_CD_LOADN(gc + o, tail);                                           \
            yv = (vec_t)FC_CD_LOADN(yc + o, tail);                                           \
            /* the lanes past tail have gv = 0: any position there is harmless, so a whole  \
             * vector of bytes where it stays inside this image's idx */                    \
            if (o + VL <= (cout - co) * pplane) {                                            \
                pos = FC_CD_FN(load_pos)(ic + o);                                            \
            } else {                                                                         \
                uint8_t tb_[16] = {0};                                                       \
                for (int64_t l = 0; l < tail; l++) {                                         \
                    FC_CD_OPAQUE(l);                                                         \
                    tb_[l] = ic[o + l];                                                      \
                }                                                                            \
                pos = FC_CD_FN(load_pos)(tb_);                                               \
            }                                                                                \
        } else {                                                                             \
            __builtin_memcpy(&gv, gc + o, sizeof gv);                                        \
            __builtin_memcpy(&yv, yc + o, sizeof yv);                                        \
            pos = FC_CD_FN(load_pos)(ic + o);                                                \
        }                                                                                    \
        if (relu) gv = (vec_t)((uvec_t)gv & ~(uvec_t)(yv <= (vec_t){0}));                    \
        const vec_t g00 = (vec_t)((uvec_t)gv & (uvec_t)(pos == zero));                       \
        const vec_t g01 = (vec_t)((uvec_t)gv & (uvec_t)(pos == one));                        \
        const vec_t g10 = (vec_t)((uvec_t)gv & (uvec_t)(pos == two));                        \
        const vec_t g11 = (vec_t)((uvec_t)gv & (uvec_t)(pos == three));                      \
        /* tap (r, s) of output (2 ph + i, 2 pw + j): padded row 2 ph + i + r, column      \
         * 2 pw + j + s */                                                                   \
        _Pragma("GCC unroll 3") for (int r = 0; r < 3; r++) {                                \
            acc[3 * r] += g00 * e0[r] + g01 * o0[r] + g10 * e0[r + 1] + g11 * o0[r + 1];     \
            acc[3 * r + 1] += g00 * o0[r] + g01 * e1[r] + g10 * o0[r + 1] + g11 * e1[r + 1]; \
            acc[3 * r + 2] += g00 * e1[r] + g01 * o1[r] + g10 * e1[r + 1] + g11 * o1[r + 1]; \
        }                                                                                    \
        if (c == 0) accb += (g00 + g01) + (g10 + g11);                                       \
    } while (0)
            FC_CD_FULL_THEN_TAIL(FC_CD_DWP_STEP, ph, PH, j0, full, tail);
#undef FC_CD_DWP_STEP
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) __builtin_memcpy(ac + t * 16, &acc[t], sizeof(vec_t));
            __builtin_memcpy(ab, &accb, sizeof(vec_t));
        }
    }
}
#undef FC_CD_DOTC
#undef FC_CD_BY_C
#endif

#undef FC_CD_FULL_THEN_TAIL
#undef FC_CD_CAT3_
#undef FC_CD_CAT3
#undef FC_CD_FN
