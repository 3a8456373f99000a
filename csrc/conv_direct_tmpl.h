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
        for (int64_t c0 = 0; c0 < OW; c0 += VL) {
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
                if (cnt == VL) {
                    __builtin_memcpy(yo + co * plane, &a0, sizeof(vec_t));
                } else {
                    FC_CD_T tmp[VL];
                    __builtin_memcpy(tmp, &a0, sizeof(vec_t));
                    for (int64_t j = 0; j < cnt; j++) yo[co * plane + j] = tmp[j];
                }
            }
        }
    }
}
#endif

#undef FC_CD_CAT3_
#undef FC_CD_CAT3
#undef FC_CD_FN
