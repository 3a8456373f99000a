/*
 * block_tmpl.h -- the epilogues of the fused conv blocks (conv + bias + relu + max-pool),
 * written once with GCC vector extensions and compiled per ISA path (included inside each
 * path's target region by conv_fused.c):
 *   pool_plane:   one conv output plane -> its (relu'd) k x k stride-k max-pool and the
 *                 window position of each maximum (a byte);
 *   unpool_plane: backward: the pooled gradient -> the conv output's gradient, gy at each
 *                 window's maximum where the block's output passes it (relu), 0 elsewhere;
 *                 every element of the full-resolution plane is written exactly once.
 * k == 2 runs on vectors of FC_BK_TV outputs (deinterleaved / interleaved with
 * __builtin_shufflevector where the compiler has it), other k on the portable loops.
 *
 * Expects FC_BK_T, FC_BK_UT (the unsigned integer of its size), FC_BK_TV (8 for float, 4 for
 * double: 32-byte vectors), FC_BK_PFX (e.g. fc_f32_block_) and FC_BK_ISA.
 */
#define FC_BK_CAT3_(a, b, c) a##b##__##c
#define FC_BK_CAT3(a, b, c) FC_BK_CAT3_(a, b, c)
#define FC_BK_FN(name) FC_BK_CAT3(FC_BK_PFX, name, FC_BK_ISA)

#ifdef FC_VEC_SHUFFLE
#define FC_BK_SHUFFLE 1
/* The even and odd lanes of a:b inside each 16-byte half (shufps / unpcklpd on x86, uzp on
 * NEON: no lane crosses a half), which leaves the windows in the order FC_BK_ORDER undoes
 * (one 8-byte-pair permute): for float 0 1 4 5 | 2 3 6 7, for double 0 2 | 1 3. */
#if FC_BK_TV == 8
#define FC_BK_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14)
#define FC_BK_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15)
#define FC_BK_ORDER(v) __builtin_shufflevector(v, v, 0, 1, 4, 5, 2, 3, 6, 7)
#else
#define FC_BK_EVEN(a, b) __builtin_shufflevector(a, b, 0, 4, 2, 6)
#define FC_BK_ODD(a, b) __builtin_shufflevector(a, b, 1, 5, 3, 7)
#define FC_BK_ORDER(v) __builtin_shufflevector(v, v, 0, 2, 1, 3)
#endif
#define FC_BK_ZIPLO(a, b) FC_VEC_ZIPLO(FC_BK_TV, a, b)
#define FC_BK_ZIPHI(a, b) FC_VEC_ZIPHI(FC_BK_TV, a, b)
#endif

/* max-pool's update rule: b replaces a where b > a or b is NaN (first maximum, last NaN) */
static inline int FC_BK_FN(better)(FC_BK_T a, FC_BK_T b) { return b > a || b != b; }

/* Keeps the compiler from making memcpy calls of the element loops below, which run on
 * short pieces of rows (at most 2 FC_BK_TV values): the calls cost more than the copies. */
#define FC_BK_OPAQUE(i) __asm__("" : "+r"(i))

/* Whether the 2x2 vector of n (<= TV) windows at pooled (ph, pw) takes whole vectors: a full
 * one, or a row shorter than TV windows (PW < TV) where the whole vectors stay inside the
 * plane -- 2 TV conv-output values from rows 2 ph and 2 ph + 1, TV pooled values from
 * (ph, pw).  The lanes past n then read on into the next rows and are written past this
 * row's end, where the next rows' vectors (rows go in order) or the border fills write
 * again; the last rows go through the element copies. */
static inline int FC_BK_FN(whole)(int64_t ph, int64_t pw, int64_t n, int64_t OH, int64_t OW,
                                  int64_t PH, int64_t PW, int64_t TV)
{
    return n == TV ||
           ((2 * ph + 1) * OW + 2 * pw + 2 * TV <= OH * OW && ph * PW + pw + TV <= PH * PW);
}

/* out (PH x PW) = k x k stride-k max-pool of the plane y (OH x OW, PH = OH / k, PW = OW / k),
 * of relu(y) if relu; idx = window position r * k + s of each maximum. */
void FC_BK_FN(pool_plane)(const FC_BK_T *restrict y, int64_t OH, int64_t OW, int64_t k,
                          int relu, FC_BK_T *restrict out, uint8_t *restrict idx)
{
    const int64_t PH = OH / k, PW = OW / k;
    int64_t pw0 = 0;
#ifdef FC_BK_SHUFFLE
    if (k == 2) {
        typedef FC_BK_T vec_t __attribute__((vector_size(32)));
        typedef FC_BK_UT uvec_t __attribute__((vector_size(32)));
        enum { TV = FC_BK_TV };
        typedef uint8_t bvec_t __attribute__((vector_size(TV)));
        for (int64_t ph = 0; ph < PH; ph++) {
            const FC_BK_T *r0 = y + 2 * ph * OW, *r1 = r0 + OW;
            for (int64_t pw0v = 0; pw0v < PW; pw0v += TV) {
                /* a row of at least TV windows ends with a full vector that overlaps the
                 * one before (the overlapped windows are written twice, with the same
                 * values); shorter rows go through a copy (no read past the row) */
                const int64_t pw = (PW - pw0v < TV && PW >= TV) ? PW - TV : pw0v;
                const int64_t n = FC_MIN((int64_t)TV, PW - pw);
                const int full = FC_BK_FN(whole)(ph, pw, n, OH, OW, PH, PW, TV);
                vec_t a0, a1, b0, b1;
                if (full) {
                    __builtin_memcpy(&a0, r0 + 2 * pw, sizeof a0);
                    __builtin_memcpy(&a1, r0 + 2 * pw + TV, sizeof a1);
                    __builtin_memcpy(&b0, r1 + 2 * pw, sizeof b0);
                    __builtin_memcpy(&b1, r1 + 2 * pw + TV, sizeof b1);
                } else {
                    FC_BK_T t0[2 * TV] = {0}, t1[2 * TV] = {0};
                    for (int64_t j = 0; j < 2 * n; j++) {
                        FC_BK_OPAQUE(j);
                        t0[j] = r0[2 * pw + j];
                        t1[j] = r1[2 * pw + j];
                    }
                    __builtin_memcpy(&a0, t0, sizeof a0);
                    __builtin_memcpy(&a1, t0 + TV, sizeof a1);
                    __builtin_memcpy(&b0, t1, sizeof b0);
                    __builtin_memcpy(&b1, t1 + TV, sizeof b1);
                }
                vec_t x00 = FC_BK_EVEN(a0, a1), x01 = FC_BK_ODD(a0, a1);
                vec_t x10 = FC_BK_EVEN(b0, b1), x11 = FC_BK_ODD(b0, b1);
                FC_VEC_RELU_IF(uvec_t, relu, x00, x01, x10, x11);
                vec_t pick;
                uvec_t at;
                FC_VEC_POOL_PICK(vec_t, uvec_t, x00, x01, x10, x11, pick, at);
                const vec_t best = FC_BK_ORDER(pick);
                const uvec_t pos = FC_BK_ORDER(at);
                if (full) {
                    /* the low byte of each lane (values 0..3): one byte shuffle */
                    typedef uint8_t b32_t __attribute__((vector_size(32)));
                    const b32_t pw8 = (b32_t)pos;
#if FC_BK_TV == 8
                    const bvec_t pb = __builtin_shufflevector(pw8, pw8, 0, 4, 8, 12, 16, 20, 24, 28);
#else
                    const bvec_t pb = __builtin_shufflevector(pw8, pw8, 0, 8, 16, 24);
#endif
                    __builtin_memcpy(out + ph * PW + pw, &best, sizeof best);
                    __builtin_memcpy(idx + ph * PW + pw, &pb, sizeof pb);
                } else {
                    for (int64_t l = 0; l < n; l++) out[ph * PW + pw + l] = best[l];
                    for (int64_t l = 0; l < n; l++) idx[ph * PW + pw + l] = (uint8_t)pos[l];
                }
                if (pw != pw0v) break; /* the overlapped vector was the row's last */
            }
        }
        pw0 = PW;
    }
#endif
    for (int64_t ph = 0; ph < PH; ph++)
        for (int64_t pw = pw0; pw < PW; pw++) {
            FC_BK_T best = 0;
            int pos = -1;
            for (int64_t r = 0; r < k; r++)
                for (int64_t s = 0; s < k; s++) {
                    FC_BK_T v = y[(ph * k + r) * OW + pw * k + s];
                    if (relu && v < 0) v = 0;
                    if (pos < 0 || FC_BK_FN(better)(best, v)) {
                        best = v;
                        pos = (int)(r * k + s);
                    }
                }
            out[ph * PW + pw] = best;
            idx[ph * PW + pw] = (uint8_t)pos;
        }
}

/* FC_BK_TV window positions (bytes at p) widened to the lanes of the 32-byte uvec_t: the
 * path's widening load (FC_BK_LOADPOS) where it has one -- GCC expands the generic
 * conversion through integer registers or a stack copy. */
#ifdef FC_BK_LOADPOS
#define FC_BK_POS(p) ((uvec_t)FC_BK_LOADPOS(p))
#else
#define FC_BK_POS(p)                                                                         \
    __extension__({                                                                          \
        typedef uint8_t bv_t_ __attribute__((vector_size(FC_BK_TV)));                        \
        bv_t_ b_;                                                                            \
        __builtin_memcpy(&b_, (p), sizeof b_);                                               \
        __builtin_convertvector(b_, uvec_t);                                                 \
    })
#endif

/* gx (OH x OW, every element written) = the gradient of one conv output plane from the
 * pooled gradient gy (PH x PW), the block's pooled output y and idx: gx at window (ph, pw)'s
 * position idx is gy there, or 0 if relu and y <= 0 there; 0 everywhere else (including the
 * rows and columns past PH * k and PW * k, which no window covers). */
void FC_BK_FN(unpool_plane)(const FC_BK_T *restrict gy, const FC_BK_T *restrict y,
                            const uint8_t *restrict idx, int64_t OH, int64_t OW, int64_t k,
                            int relu, FC_BK_T *restrict gx)
{
    const int64_t PH = OH / k, PW = OW / k;
    int64_t pw0 = 0;
#ifdef FC_BK_SHUFFLE
    if (k == 2) {
        typedef FC_BK_T vec_t __attribute__((vector_size(32)));
        typedef FC_BK_UT uvec_t __attribute__((vector_size(32)));
        enum { TV = FC_BK_TV };
        const uvec_t zero = (uvec_t){0}, one = zero + 1, two = one + one;
        for (int64_t ph = 0; ph < PH; ph++) {
            FC_BK_T *r0 = gx + 2 * ph * OW, *r1 = r0 + OW;
            for (int64_t pw0v = 0; pw0v < PW; pw0v += TV) {
                /* as in pool_plane: a full, overlapping last vector where the row allows */
                const int64_t pw = (PW - pw0v < TV && PW >= TV) ? PW - TV : pw0v;
                const int64_t n = FC_MIN((int64_t)TV, PW - pw), o = ph * PW + pw;
                const int full = FC_BK_FN(whole)(ph, pw, n, OH, OW, PH, PW, TV);
                /* the partial vectors through zeroed copies (never a vector written lane by
                 * lane: that kept g, yv and pos on the stack, and every full vector paid a
                 * store-forwarding stall reading them back) */
                vec_t g, yv;
                uvec_t pos;
                if (full) {
                    __builtin_memcpy(&g, gy + o, sizeof g);
                    __builtin_memcpy(&yv, y + o, sizeof yv);
                    pos = FC_BK_POS(idx + o);
                } else {
                    FC_BK_T tg[TV] = {0}, ty[TV] = {0};
                    uint8_t tb[TV] = {0};
                    for (int64_t l = 0; l < n; l++) {
                        FC_BK_OPAQUE(l);
                        tg[l] = gy[o + l];
                        ty[l] = y[o + l];
                        tb[l] = idx[o + l];
                    }
                    __builtin_memcpy(&g, tg, sizeof g);
                    __builtin_memcpy(&yv, ty, sizeof yv);
                    pos = FC_BK_POS(tb);
                }
                if (relu) g = (vec_t)((uvec_t)g & ~(uvec_t)(yv <= (vec_t){0}));
                const vec_t g0 = (vec_t)((uvec_t)g & (uvec_t)(pos == zero));
                const vec_t g1 = (vec_t)((uvec_t)g & (uvec_t)(pos == one));
                const vec_t g2 = (vec_t)((uvec_t)g & (uvec_t)(pos == two));
                const vec_t g3 = (vec_t)((uvec_t)g & (uvec_t)(pos == two + one));
                const vec_t q[4] = {FC_BK_ZIPLO(g0, g1), FC_BK_ZIPHI(g0, g1),
                                    FC_BK_ZIPLO(g2, g3), FC_BK_ZIPHI(g2, g3)};
                if (full) {
                    __builtin_memcpy(r0 + 2 * pw, &q[0], sizeof q[0]);
                    __builtin_memcpy(r0 + 2 * pw + TV, &q[1], sizeof q[1]);
                    __builtin_memcpy(r1 + 2 * pw, &q[2], sizeof q[2]);
                    __builtin_memcpy(r1 + 2 * pw + TV, &q[3], sizeof q[3]);
                } else {
                    const FC_BK_T *q0 = (const FC_BK_T *)&q[0], *q1 = (const FC_BK_T *)&q[2];
                    for (int64_t j = 0; j < 2 * n; j++) {
                        FC_BK_OPAQUE(j);
                        r0[2 * pw + j] = q0[j];
                        r1[2 * pw + j] = q1[j];
                    }
                }
                if (pw != pw0v) break; /* the overlapped vector was the row's last */
            }
            for (int64_t c = 2 * PW; c < OW; c++) r0[c] = r1[c] = 0;
        }
        for (int64_t i = 2 * PH * OW; i < OH * OW; i++) gx[i] = 0;
        return;
    }
#endif
    for (int64_t ph = 0; ph < PH; ph++)
        for (int64_t r = 0; r < k; r++) {
            FC_BK_T *row = gx + (ph * k + r) * OW;
            for (int64_t pw = pw0; pw < PW; pw++) {
                const int64_t o = ph * PW + pw;
                const FC_BK_T g = (relu && y[o] <= 0) ? (FC_BK_T)0 : gy[o];
                for (int64_t s = 0; s < k; s++)
                    row[pw * k + s] = (idx[o] == r * k + s) ? g : (FC_BK_T)0;
            }
            for (int64_t c = PW * k; c < OW; c++) row[c] = 0;
        }
    for (int64_t i = PH * k * OW; i < OH * OW; i++) gx[i] = 0;
}

#undef FC_BK_SHUFFLE
#undef FC_BK_POS
#undef FC_BK_OPAQUE
#undef FC_BK_EVEN
#undef FC_BK_ODD
#undef FC_BK_ORDER
#undef FC_BK_ZIPLO
#undef FC_BK_ZIPHI
#undef FC_BK_CAT3_
#undef FC_BK_CAT3
#undef FC_BK_FN
