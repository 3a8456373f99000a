/*
 * gemm_driver_tmpl.h -- packing and macro loops of the GEMM engine, written once for both
 * dtypes.  Included by gemm.c with FC_T (element type) and FC_SFX (f32 / f64) defined.
 */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_FN(name) FC_CAT(name, FC_SFX)
#define FC_UKFN FC_CAT(FC_CAT(fc, FC_SFX), gemm_ukernel_fn)

/* dst[c * ldd + r] = src[r * lds + c] for a 4x4 block; SSE in-register transpose for
 * float (SSE is part of the x86-64 baseline), plain copies otherwise. */
static inline void FC_FN(transpose4)(const FC_T *restrict src, int64_t lds, FC_T *restrict dst,
                                     int64_t ldd)
{
#if defined(FC_T_IS_FLOAT) && defined(__SSE__)
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + lds);
    __m128 r2 = _mm_loadu_ps(src + 2 * lds), r3 = _mm_loadu_ps(src + 3 * lds);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0);
    _mm_storeu_ps(dst + ldd, r1);
    _mm_storeu_ps(dst + 2 * ldd, r2);
    _mm_storeu_ps(dst + 3 * ldd, r3);
#else
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) dst[c * ldd + r] = src[r * lds + c];
#endif
}

/* Pack the mc x kc block of op(A) whose top-left element is at `a` into row micro-panels
 * of mr rows: ap[(ir/mr)*mr*kc + p*mr + i] = op(A)[ir+i, p], zero rows past mc. */
static void FC_FN(pack_a)(int trans_a, const FC_T *restrict a, int64_t lda, int64_t mc,
                          int64_t kc, int mr, FC_T *restrict ap)
{
    for (int64_t ir = 0; ir < mc; ir += mr) {
        int64_t rows = FC_MIN((int64_t)mr, mc - ir);
        if (trans_a) {
            for (int64_t p = 0; p < kc; p++) {
                const FC_T *src = a + p * lda + ir;
                FC_T *dst = ap + p * mr;
                int64_t i = 0;
                for (; i < rows; i++) dst[i] = src[i];
                for (; i < mr; i++) dst[i] = 0;
            }
        } else {
            int64_t i = 0;
            for (; i + 4 <= rows; i += 4) {
                const FC_T *src = a + (ir + i) * lda;
                int64_t p = 0;
                for (; p + 4 <= kc; p += 4) FC_FN(transpose4)(src + p, lda, ap + p * mr + i, mr);
                for (; p < kc; p++)
                    for (int q = 0; q < 4; q++) ap[p * mr + i + q] = src[q * lda + p];
            }
            for (; i < rows; i++) {
                const FC_T *src = a + (ir + i) * lda;
                FC_T *dst = ap + i;
                for (int64_t p = 0; p < kc; p++) dst[p * mr] = src[p];
            }
            for (; i < mr; i++)
                for (int64_t p = 0; p < kc; p++) ap[p * mr + i] = 0;
        }
        ap += (int64_t)mr * kc;
    }
}

/* Pack the kc x nc block of op(B) whose top-left element is at `b` into column
 * micro-panels of nr columns: bp[(jr/nr)*nr*kc + p*nr + j] = op(B)[p, jr+j]. */
static void FC_FN(pack_b)(int trans_b, const FC_T *restrict b, int64_t ldb, int64_t kc,
                          int64_t nc, int nr, FC_T *restrict bp)
{
    int64_t jr0 = 0;
    if (!trans_b) {
        /* groups of 8 whole panels, row by row: each row of B is read as one run of 8 nr
         * values (panel by panel, every row read was a new cache line at a stride of ldb,
         * which no prefetcher follows) */
        const int64_t g = 8 * (int64_t)nr;
        for (; jr0 + g <= nc; jr0 += g) {
            for (int64_t p = 0; p < kc; p++) {
                const FC_T *src = b + p * ldb + jr0;
                FC_T *dst = bp + p * nr;
                for (int q = 0; q < 8; q++)
                    for (int64_t j = 0; j < nr; j++) dst[q * nr * kc + j] = src[q * nr + j];
            }
            bp += g * kc;
        }
    }
    for (int64_t jr = jr0; jr < nc; jr += nr) {
        int64_t cols = FC_MIN((int64_t)nr, nc - jr);
        if (!trans_b) {
            if (cols == nr) {
                for (int64_t p = 0; p < kc; p++) {
                    const FC_T *src = b + p * ldb + jr;
                    FC_T *dst = bp + p * nr;
                    for (int64_t j = 0; j < nr; j++) dst[j] = src[j];
                }
            } else {
                for (int64_t p = 0; p < kc; p++) {
                    const FC_T *src = b + p * ldb + jr;
                    FC_T *dst = bp + p * nr;
                    int64_t j = 0;
                    for (; j < cols; j++) dst[j] = src[j];
                    for (; j < nr; j++) dst[j] = 0;
                }
            }
        } else {
            /* B is stored (n, k): gather nr rows, written transposed in blocks of 8 k so
             * that reads stay sequential and writes stay within a few cache lines. */
            int64_t p0 = 0;
            for (; p0 + 8 <= kc; p0 += 8) {
                int64_t j = 0;
                for (; j + 4 <= cols; j += 4) {
                    const FC_T *src = b + (jr + j) * ldb + p0;
                    FC_FN(transpose4)(src, ldb, bp + p0 * nr + j, nr);
                    FC_FN(transpose4)(src + 4, ldb, bp + (p0 + 4) * nr + j, nr);
                }
                for (; j < cols; j++) {
                    const FC_T *src = b + (jr + j) * ldb + p0;
                    FC_T *dst = bp + p0 * nr + j;
                    for (int q = 0; q < 8; q++) dst[q * nr] = src[q];
                }
                for (; j < nr; j++)
                    for (int q = 0; q < 8; q++) bp[(p0 + q) * nr + j] = 0;
            }
            for (; p0 < kc; p0++) {
                int64_t j = 0;
                for (; j < cols; j++) bp[p0 * nr + j] = b[(jr + j) * ldb + p0];
                for (; j < nr; j++) bp[p0 * nr + j] = 0;
            }
        }
        bp += (int64_t)nr * kc;
    }
}

/* C = beta * C + biases for k == 0 (beta == 0 never reads C). */
static void FC_FN(scale_c)(int64_t m, int64_t n, FC_T beta, FC_T *c, int64_t rsc, int64_t csc,
                           const FC_T *bias_m, const FC_T *bias_n)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            FC_T *cij = c + i * rsc + j * csc;
            FC_T r = beta != 0 ? beta * *cij : (FC_T)0;
            if (bias_m) r += bias_m[i];
            if (bias_n) r += bias_n[j];
            *cij = r;
        }
}

/* C = max(C, 0) over an m x n block (NaN stays NaN), for the relu epilogue. */
static void FC_FN(relu_c)(int64_t m, int64_t n, FC_T *c, int64_t rsc, int64_t csc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            FC_T *cij = c + i * rsc + j * csc;
            if (*cij < 0) *cij = 0;
        }
}

/* Tiny output (or a single row: x @ W^T at batch 1), long k, both operands contiguous
 * along k (op(A) = A, op(B) = B^T): each C entry is a dot product, computed 4 columns at a
 * time with lane-wise partial sums (the packed path would pad the tile with zeros and pack
 * for nothing).  The portable version; the AVX2/AVX-512 paths have their own
 * (fc_*_gemm_dot__<isa>, gemm_ukernel_tmpl.h). */
static void FC_FN(gemm_dot)(int64_t m, int64_t n, int64_t k, FC_T alpha, const FC_T *a,
                            int64_t lda, const FC_T *b, int64_t ldb, FC_T beta, FC_T *c,
                            int64_t rsc, int64_t csc, const FC_T *bias_m, const FC_T *bias_n)
{
    enum { L = 16 };
    for (int64_t i = 0; i < m; i++) {
        const FC_T *ar = a + i * lda;
        for (int64_t j0 = 0; j0 < n; j0 += 4) {
            const int64_t nj = FC_MIN((int64_t)4, n - j0);
            const FC_T *br[4];
            for (int q = 0; q < 4; q++) br[q] = b + (j0 + (q < nj ? q : 0)) * ldb;
            FC_T acc[4][L];
            for (int q = 0; q < 4; q++)
                for (int l = 0; l < L; l++) acc[q][l] = 0;
            int64_t p = 0;
            for (; p + L <= k; p += L)
                for (int q = 0; q < 4; q++)
                    for (int l = 0; l < L; l++) acc[q][l] += ar[p + l] * br[q][p + l];
            for (int q = 0; q < nj; q++) {
                FC_T s = 0;
                for (int64_t pp = p; pp < k; pp++) s += ar[pp] * br[q][pp];
                for (int l = 0; l < L; l++) s += acc[q][l];
                FC_T *cc = c + i * rsc + (j0 + q) * csc;
                FC_T r = alpha * s;
                if (beta != 0) r += beta * *cc;
                if (bias_m) r += bias_m[i];
                if (bias_n) r += bias_n[j0 + q];
                *cc = r;
            }
        }
    }
}

/* C (mc x nc block at c) = alpha * A_block @ B_block + beta_k * C (+ biases), from the packed
 * mc x kc block of A (ap) and kc x nc block of B (bp); relu applies max(., 0) to each tile. */
static void FC_FN(macro_kernel)(const fc_gemm_config *cfg, int64_t mc, int64_t nc, int64_t kc,
                                FC_T alpha, FC_T beta_k, const FC_T *ap, const FC_T *bp,
                                FC_T *c, int64_t rsc, int64_t csc, const FC_T *bias_m,
                                const FC_T *bias_n, int relu)
{
    const int mr = cfg->mr, nr = cfg->nr;
    const FC_UKFN uk = (FC_UKFN)cfg->ukernel;
    FC_T tmp[16 * 32] __attribute__((aligned(64)));
    assert(mr * nr <= 16 * 32);
    for (int64_t jr = 0; jr < nc; jr += nr) {
        const int64_t cols = FC_MIN((int64_t)nr, nc - jr);
        const FC_T *bpanel = bp + (jr / nr) * nr * kc;
        const FC_T *bn = bias_n ? bias_n + jr : NULL;
        for (int64_t ir = 0; ir < mc; ir += mr) {
            const int64_t rows = FC_MIN((int64_t)mr, mc - ir);
            const FC_T *apanel = ap + (ir / mr) * mr * kc;
            const FC_T *bm = bias_m ? bias_m + ir : NULL;
            FC_T *cij = c + ir * rsc + jr * csc;
            if (rows == mr && cols == nr && csc == 1) {
                uk(kc, apanel, bpanel, cij, rsc, alpha, beta_k, bm, bn);
            } else {
                uk(kc, apanel, bpanel, tmp, nr, (FC_T)1, (FC_T)0, NULL, NULL);
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t j = 0; j < cols; j++) {
                        FC_T *cc = cij + i * rsc + j * csc;
                        FC_T r = alpha * tmp[i * nr + j];
                        if (beta_k != 0) r += beta_k * *cc;
                        if (bm) r += bm[i];
                        if (bn) r += bn[j];
                        *cc = r;
                    }
            }
            if (relu) FC_FN(relu_c)(rows, cols, cij, rsc, csc);
        }
    }
}

/* Whether gemm_serial computes C as dot products (op(A) = A and op(B) = B^T, both along k:
 * one row, or a C too small for one microkernel tile). */
static int FC_FN(dot_path)(const fc_gemm_config *cfg, int trans_a, int trans_b, int64_t m,
                           int64_t n, int64_t k)
{
    return !trans_a && trans_b && k >= 64 && (4 * m * n < (int64_t)cfg->mr * cfg->nr || m == 1);
}

/* The whole problem on the calling thread; relu != 0 applies max(., 0) to each C tile once
 * its last k block is in (while the tile is in cache). */
static void FC_FN(gemm_serial)(const fc_gemm_config *cfg, int trans_a, int trans_b, int64_t m,
                               int64_t n, int64_t k, FC_T alpha, const FC_T *a, int64_t lda,
                               const FC_T *b, int64_t ldb, FC_T beta, FC_T *c, int64_t rsc,
                               int64_t csc, const FC_T *bias_m, const FC_T *bias_n, int relu)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        FC_FN(scale_c)(m, n, beta, c, rsc, csc, bias_m, bias_n);
        if (relu) FC_FN(relu_c)(m, n, c, rsc, csc);
        return;
    }
    if (FC_FN(dot_path)(cfg, trans_a, trans_b, m, n, k)) {
        typedef void (*dot_fn)(int64_t, int64_t, int64_t, FC_T, const FC_T *, int64_t,
                               const FC_T *, int64_t, FC_T, FC_T *, int64_t, int64_t,
                               const FC_T *, const FC_T *);
        const dot_fn dot = cfg->dot ? (dot_fn)cfg->dot : FC_FN(gemm_dot);
        dot(m, n, k, alpha, a, lda, b, ldb, beta, c, rsc, csc, bias_m, bias_n);
        if (relu) FC_FN(relu_c)(m, n, c, rsc, csc);
        return;
    }
    const int mr = cfg->mr, nr = cfg->nr;
    const int64_t KC = cfg->kc;
    const int64_t MC = FC_MIN(cfg->mc, ((m + mr - 1) / mr) * mr);
    const int64_t NC = FC_MIN(cfg->nc, ((n + nr - 1) / nr) * nr);
    const int64_t kcap = FC_MIN(KC, k);
    FC_T *ap = (FC_T *)fc_scratch(FC_SCRATCH_PACK_A, sizeof(FC_T) * (size_t)(MC * kcap));
    FC_T *bp = (FC_T *)fc_scratch(FC_SCRATCH_PACK_B, sizeof(FC_T) * (size_t)(NC * kcap));
    if (!ap || !bp) abort();

    for (int64_t jc = 0; jc < n; jc += NC) {
        const int64_t nc = FC_MIN(NC, n - jc);
        for (int64_t pc = 0; pc < k; pc += KC) {
            const int64_t kc = FC_MIN(KC, k - pc);
            const int first = pc == 0, last = relu && pc + kc >= k;
            const FC_T beta_k = first ? beta : (FC_T)1;
            FC_FN(pack_b)(trans_b, trans_b ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc,
                          nc, nr, bp);
            for (int64_t ic = 0; ic < m; ic += MC) {
                const int64_t mc = FC_MIN(MC, m - ic);
                FC_FN(pack_a)(trans_a, trans_a ? a + pc * lda + ic : a + ic * lda + pc, lda,
                              mc, kc, mr, ap);
                FC_FN(macro_kernel)(cfg, mc, nc, kc, alpha, beta_k, ap, bp,
                                    c + ic * rsc + jc * csc, rsc, csc,
                                    (first && bias_m) ? bias_m + ic : NULL,
                                    (first && bias_n) ? bias_n + jc : NULL, last);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Pre-packed operands (conv: weights packed once per call, im2col written packed)       */
/* ------------------------------------------------------------------------------------ */

/* Whole op(A) (m, k) packed for fc_gemm_prepacked: for each kc block starting at pc, the
 * row micro-panels of all m rows, at offset pc * m_pad (m_pad = m rounded up to mr). */
void FC_FN(fc_gemm_pack_a_full)(const fc_gemm_config *cfg, int trans_a, int64_t m, int64_t k,
                                const FC_T *a, int64_t lda, FC_T *ap)
{
    const int64_t m_pad = ((m + cfg->mr - 1) / cfg->mr) * cfg->mr;
    for (int64_t pc = 0; pc < k; pc += cfg->kc) {
        const int64_t kc = FC_MIN(cfg->kc, k - pc);
        FC_FN(pack_a)(trans_a, trans_a ? a + pc * lda : a + pc, lda, m, kc, cfg->mr,
                      ap + pc * m_pad);
    }
}

/* Whole op(B) (k, n) packed in the layout fc_gemm_prepacked reads: for each kc block at pc,
 * the nr-column micro-panels of all n columns at offset pc * n_pad, zero-padded. */
void FC_FN(fc_gemm_pack_b_full)(const fc_gemm_config *cfg, int trans_b, int64_t k, int64_t n,
                                const FC_T *b, int64_t ldb, FC_T *bp)
{
    const int64_t n_pad = ((n + cfg->nr - 1) / cfg->nr) * cfg->nr;
    for (int64_t pc = 0; pc < k; pc += cfg->kc) {
        const int64_t kc = FC_MIN(cfg->kc, k - pc);
        FC_FN(pack_b)(trans_b, trans_b ? b + pc : b + pc * ldb, ldb, kc, n, cfg->nr,
                      bp + pc * n_pad);
    }
}

/* C = alpha * A @ B + beta * C + bias_m[i] on the calling thread, with A packed by
 * fc_gemm_pack_a_full and B (k, n) packed the same way by columns: for each kc block at pc,
 * the nr-column micro-panels of all n columns at offset pc * n_pad, zero-padded. */
void FC_FN(fc_gemm_prepacked)(const fc_gemm_config *cfg, int64_t m, int64_t n, int64_t k,
                              FC_T alpha, const FC_T *ap, const FC_T *bp, FC_T beta, FC_T *c,
                              int64_t ldc, const FC_T *bias_m)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        FC_FN(scale_c)(m, n, beta, c, ldc, 1, bias_m, NULL);
        return;
    }
    const int mr = cfg->mr, nr = cfg->nr;
    const FC_UKFN uk = (FC_UKFN)cfg->ukernel;
    const int64_t m_pad = ((m + mr - 1) / mr) * mr, n_pad = ((n + nr - 1) / nr) * nr;
    FC_T tmp[16 * 32] __attribute__((aligned(64)));
    for (int64_t pc = 0; pc < k; pc += cfg->kc) {
        const int64_t kc = FC_MIN(cfg->kc, k - pc);
        const int first = pc == 0;
        const FC_T beta_k = first ? beta : (FC_T)1;
        const FC_T *apc = ap + pc * m_pad, *bpc = bp + pc * n_pad;
        for (int64_t jr = 0; jr < n; jr += nr) {
            const int64_t cols = FC_MIN((int64_t)nr, n - jr);
            const FC_T *bpanel = bpc + jr * kc;
            for (int64_t ir = 0; ir < m; ir += mr) {
                const int64_t rows = FC_MIN((int64_t)mr, m - ir);
                const FC_T *apanel = apc + ir * kc;
                const FC_T *bm = (first && bias_m) ? bias_m + ir : NULL;
                FC_T *cij = c + ir * ldc + jr;
                if (rows == mr && cols == nr) {
                    uk(kc, apanel, bpanel, cij, ldc, alpha, beta_k, bm, NULL);
                } else {
                    uk(kc, apanel, bpanel, tmp, nr, (FC_T)1, (FC_T)0, NULL, NULL);
                    for (int64_t i = 0; i < rows; i++)
                        for (int64_t j = 0; j < cols; j++) {
                            FC_T *cc = cij + i * ldc + j;
                            FC_T r = alpha * tmp[i * nr + j];
                            if (beta_k != 0) r += beta_k * *cc;
                            if (bm) r += bm[i];
                            *cc = r;
                        }
                }
            }
        }
    }
}

#ifdef _OPENMP
/* m split over nt threads that share each packed kc x nc block of B (BLIS's parallel ic loop):
 * the threads pack its panels together, then each runs its own rows (its own packed A) against
 * all of it.  Each C tile is summed in the order of gemm_serial, so the result is the same. */
static void FC_FN(gemm_parallel_m)(const fc_gemm_config *cfg, int nt, int trans_a, int trans_b,
                                   int64_t m, int64_t n, int64_t k, FC_T alpha, const FC_T *a,
                                   int64_t lda, const FC_T *b, int64_t ldb, FC_T beta, FC_T *c,
                                   int64_t rsc, int64_t csc, const FC_T *bias_m,
                                   const FC_T *bias_n, int relu)
{
    const int64_t mr = cfg->mr, nr = cfg->nr, KC = cfg->kc;
    const int64_t NC = FC_MIN(cfg->nc, ((n + nr - 1) / nr) * nr), kcap = FC_MIN(KC, k);
    FC_T *bp = (FC_T *)fc_scratch(FC_SCRATCH_PACK_B, sizeof(FC_T) * (size_t)(NC * kcap));
    if (!bp) abort();
    const int64_t tiles_m = (m + mr - 1) / mr;
    FC_PRAGMA(omp parallel num_threads(nt))
    {
        const int t = FC_THREAD_ID(), nth = FC_NUM_THREADS_IN_REGION();
        const int64_t i0 = FC_MIN(m, tiles_m * t / nth * mr);
        const int64_t i1 = FC_MIN(m, tiles_m * (t + 1) / nth * mr);
        const int64_t MC = FC_MAX(mr, FC_MIN(cfg->mc, ((i1 - i0 + mr - 1) / mr) * mr));
        FC_T *ap = (FC_T *)fc_scratch(FC_SCRATCH_PACK_A, sizeof(FC_T) * (size_t)(MC * kcap));
        if (!ap) abort();
        for (int64_t jc = 0; jc < n; jc += NC) {
            const int64_t nc = FC_MIN(NC, n - jc), npan = (nc + nr - 1) / nr;
            const int64_t p0 = npan * t / nth, p1 = npan * (t + 1) / nth;
            for (int64_t pc = 0; pc < k; pc += KC) {
                const int64_t kc = FC_MIN(KC, k - pc);
                const int first = pc == 0, last = relu && pc + kc >= k;
                if (p1 > p0) {
                    const int64_t j0 = jc + p0 * nr, cols = FC_MIN(nc, p1 * nr) - p0 * nr;
                    FC_FN(pack_b)(trans_b, trans_b ? b + j0 * ldb + pc : b + pc * ldb + j0, ldb,
                                  kc, cols, (int)nr, bp + p0 * nr * kc);
                }
                FC_PRAGMA(omp barrier)
                for (int64_t ic = i0; ic < i1; ic += MC) {
                    const int64_t mc = FC_MIN(MC, i1 - ic);
                    FC_FN(pack_a)(trans_a, trans_a ? a + pc * lda + ic : a + ic * lda + pc, lda,
                                  mc, kc, (int)mr, ap);
                    FC_FN(macro_kernel)(cfg, mc, nc, kc, alpha, first ? beta : (FC_T)1, ap, bp,
                                        c + ic * rsc + jc * csc, rsc, csc,
                                        (first && bias_m) ? bias_m + ic : NULL,
                                        (first && bias_n) ? bias_n + jc : NULL, last);
                }
                FC_PRAGMA(omp barrier) /* before the next block of B is packed over this one */
            }
        }
    }
}
#endif

static void FC_FN(gemm_engine)(fc_isa isa, int nthreads, int trans_a, int trans_b, int64_t m,
                               int64_t n, int64_t k, FC_T alpha, const FC_T *a, int64_t lda,
                               const FC_T *b, int64_t ldb, FC_T beta, FC_T *c, int64_t rsc,
                               int64_t csc, const FC_T *bias_m, const FC_T *bias_n, int relu)
{
    const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
    if (m <= 0 || n <= 0) return;
    /* A narrow C is computed as its transpose, C^T = op(B)^T op(A)^T, so that the wide side
     * runs along the microkernel's vector dimension. */
    if (n < cfg->nr / 2 && m >= 2 * n) {
        FC_FN(gemm_engine)(isa, nthreads, !trans_b, !trans_a, n, m, k, alpha, b, ldb, a, lda,
                           beta, c, csc, rsc, bias_n, bias_m, relu);
        return;
    }
    const double work = (double)m * (double)n * (double)(k > 0 ? k : 1);
    if (nthreads > 1 && work < FC_PAR_MIN_MACS &&
        !(m == 1 && FC_FN(dot_path)(cfg, trans_a, trans_b, m, n, k) &&
          (double)n * (double)k >= FC_PAR_MIN_DOT_ELEMS && n >= 2 * nthreads * cfg->nr))
        nthreads = 1;
#ifdef _OPENMP
    const int64_t tiles_m = (m + cfg->mr - 1) / cfg->mr;
    const int64_t tiles_n = (n + cfg->nr - 1) / cfg->nr;
    if (nthreads > 1) {
        const int nt = nthreads;
        int mode = 0; /* 1 split m, 2 split n, 3 split k */
        /* split n where m is at most 16 row panels (a dense layer's batch): each thread
         * packs its own columns of B (the weights) and keeps them in its own cache.  Split m
         * shares one packed B that both threads write, and at this m each packed block is
         * used too few times to pay for reading the other core's half (64 x 128 x 3136, the
         * MNIST fc1 forward, 2 threads: 0.38 -> 0.25 ms; 256 rows and up stay faster split
         * by m) */
        if (tiles_n >= 2 * nt && tiles_m <= 16) mode = 2;
        else if (tiles_m >= 2 * nt && tiles_m >= tiles_n) mode = 1;
        else if (tiles_n >= 2 * nt) mode = 2;
        else if (tiles_m >= 2 * nt) mode = 1;
        else if (k >= 2 * cfg->kc * nt / 2 && k >= 512) mode = 3;
        else if (tiles_m >= nt) mode = 1;
        else if (tiles_n >= nt) mode = 2;
        if (mode == 1 && k > 0 && alpha != 0 &&
            !(!trans_a && trans_b && k >= 64 && m == 1)) {
            FC_FN(gemm_parallel_m)(cfg, nt, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
                                   beta, c, rsc, csc, bias_m, bias_n, relu);
            return;
        }
        if (mode == 1 || mode == 2) {
            const int64_t tiles = mode == 1 ? tiles_m : tiles_n;
            const int64_t unit = mode == 1 ? cfg->mr : cfg->nr;
            FC_PRAGMA(omp parallel for schedule(static, 1) num_threads(nt))
            for (int t = 0; t < nt; t++) {
                const int64_t t0 = tiles * t / nt, t1 = tiles * (t + 1) / nt;
                if (mode == 1) {
                    const int64_t i0 = t0 * unit, i1 = FC_MIN(m, t1 * unit);
                    if (i1 > i0)
                        FC_FN(gemm_serial)(cfg, trans_a, trans_b, i1 - i0, n, k, alpha,
                                           trans_a ? a + i0 : a + i0 * lda, lda, b, ldb, beta,
                                           c + i0 * rsc, rsc, csc,
                                           bias_m ? bias_m + i0 : NULL, bias_n, relu);
                } else {
                    const int64_t j0 = t0 * unit, j1 = FC_MIN(n, t1 * unit);
                    if (j1 > j0)
                        FC_FN(gemm_serial)(cfg, trans_a, trans_b, m, j1 - j0, k, alpha, a, lda,
                                           trans_b ? b + j0 * ldb : b + j0, ldb, beta,
                                           c + j0 * csc, rsc, csc, bias_m,
                                           bias_n ? bias_n + j0 : NULL, relu);
                }
            }
            return;
        }
        if (mode == 3) {
            /* Split K: thread 0 writes into C (with beta and biases), the others into
             * private row-major partials that are added afterwards. */
            FC_T *part = (FC_T *)malloc(sizeof(FC_T) * (size_t)(m * n) * (size_t)(nt - 1));
            if (part) {
                const int64_t kblocks = (k + 63) / 64;
                FC_PRAGMA(omp parallel for schedule(static, 1) num_threads(nt))
                for (int t = 0; t < nt; t++) {
                    const int64_t p0 = FC_MIN(k, kblocks * t / nt * 64);
                    const int64_t p1 = FC_MIN(k, kblocks * (t + 1) / nt * 64);
                    const FC_T *at = trans_a ? a + p0 * lda : a + p0;
                    const FC_T *bt = trans_b ? b + p0 : b + p0 * ldb;
                    if (t == 0)
                        FC_FN(gemm_serial)(cfg, trans_a, trans_b, m, n, p1 - p0, alpha, at, lda,
                                           bt, ldb, beta, c, rsc, csc, bias_m, bias_n, 0);
                    else
                        FC_FN(gemm_serial)(cfg, trans_a, trans_b, m, n, p1 - p0, alpha, at, lda,
                                           bt, ldb, (FC_T)0, part + (size_t)(t - 1) * m * n, n,
                                           1, NULL, NULL, 0);
                }
                for (int t = 1; t < nt; t++) {
                    const FC_T *pt = part + (size_t)(t - 1) * m * n;
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < n; j++) c[i * rsc + j * csc] += pt[i * n + j];
                }
                if (relu) FC_FN(relu_c)(m, n, c, rsc, csc);
                free(part);
                return;
            }
        }
    }
#endif
    FC_FN(gemm_serial)(cfg, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, rsc, csc,
                       bias_m, bias_n, relu);
}

void FC_FN(fc_gemm_engine)(fc_isa isa, int nthreads, int trans_a, int trans_b, int64_t m,
                           int64_t n, int64_t k, FC_T alpha, const FC_T *a, int64_t lda,
                           const FC_T *b, int64_t ldb, FC_T beta, FC_T *c, int64_t rsc,
                           int64_t csc, const FC_T *bias_m, const FC_T *bias_n)
{
    FC_FN(gemm_engine)(isa, nthreads, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                       rsc, csc, bias_m, bias_n, 0);
}

void FC_FN(fc_gemm_engine_relu)(fc_isa isa, int nthreads, int trans_a, int trans_b, int64_t m,
                                int64_t n, int64_t k, FC_T alpha, const FC_T *a, int64_t lda,
                                const FC_T *b, int64_t ldb, FC_T beta, FC_T *c, int64_t rsc,
                                int64_t csc, const FC_T *bias_m, const FC_T *bias_n)
{
    FC_FN(gemm_engine)(isa, nthreads, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                       rsc, csc, bias_m, bias_n, 1);
}

#undef FC_CAT_
#undef FC_CAT
#undef FC_FN
#undef FC_UKFN
