/*
 * gemm_ukernel_tmpl.h -- one register-blocked GEMM microkernel written with GCC vector
 * extensions; included by the per-ISA files inside their `#pragma GCC target` region.
 *
 * Expects: FC_UK_T (element type), FC_UK_VL (lanes per vector), FC_UK_MR (rows),
 * FC_UK_NV (vectors per row: NR = NV * VL), FC_UK_NAME (function name), FC_UK_SET1(x)
 * (broadcast intrinsic).
 * a: packed MR x kc micro-panel (MR values per k); b: packed kc x NR micro-panel
 * (NR values per k).  Computes the full MR x NR tile
 *     c[i*ldc + j] = alpha * acc + beta * c (if beta != 0) + bias_m[i] + bias_n[j].
 */
void FC_UK_NAME(int64_t kc, const FC_UK_T *restrict a, const FC_UK_T *restrict b,
                FC_UK_T *restrict c, int64_t ldc, FC_UK_T alpha, FC_UK_T beta,
                const FC_UK_T *restrict bias_m, const FC_UK_T *restrict bias_n)
{
    typedef FC_UK_T vec_t __attribute__((vector_size(FC_UK_VL * sizeof(FC_UK_T))));
    enum { MR = FC_UK_MR, NV = FC_UK_NV, VL = FC_UK_VL, NR = FC_UK_NV * FC_UK_VL };
    /* C is touched only at the end: start fetching its tile now so that the misses overlap
     * with the k loop (C is read again after every kc block). */
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        __builtin_prefetch(c + i * ldc, 1, 3);
        __builtin_prefetch(c + i * ldc + NR - 1, 1, 3);
    }
    vec_t acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) acc[i][j] = (vec_t){0};

#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        /* the A micro-panel streams from L2: fetch 8 k-steps ahead */
        __builtin_prefetch(a + 8 * MR, 0, 3);
        vec_t bv[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) __builtin_memcpy(&bv[j], b + j * VL, sizeof(vec_t));
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            vec_t av = (vec_t)FC_UK_SET1(a[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) acc[i][j] += av * bv[j];
        }
        a += MR;
        b += NR;
    }

#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        FC_UK_T *cr = c + i * ldc;
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) {
            vec_t r = acc[i][j] * alpha;
            if (beta != 0) {
                vec_t cv;
                __builtin_memcpy(&cv, cr + j * VL, sizeof cv);
                r += cv * beta;
            }
            if (bias_m) r += bias_m[i];
            if (bias_n) {
                vec_t bb;
                __builtin_memcpy(&bb, bias_n + j * VL, sizeof bb);
                r += bb;
            }
            __builtin_memcpy(cr + j * VL, &r, sizeof r);
        }
    }
}

#ifdef FC_UK_INAME
/* The indirect variant (implicit-GEMM conv): row p of the B micro-panel is read in place at
 * b + boff[p] (NR values, unpacked), and the tile is stored to c (beta = 0) or added to it
 * (accumulate != 0); no alpha, no biases. */
void FC_UK_INAME(int64_t kc, const FC_UK_T *restrict a, const FC_UK_T *restrict b,
                 const int64_t *restrict boff, FC_UK_T *restrict c, int64_t ldc, int accumulate)
{
    typedef FC_UK_T vec_t __attribute__((vector_size(FC_UK_VL * sizeof(FC_UK_T))));
    enum { MR = FC_UK_MR, NV = FC_UK_NV, VL = FC_UK_VL };
    vec_t acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) acc[i][j] = (vec_t){0};

#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        __builtin_prefetch(a + 8 * MR, 0, 3);
        const FC_UK_T *bp = b + boff[p];
        vec_t bv[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) __builtin_memcpy(&bv[j], bp + j * VL, sizeof(vec_t));
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            vec_t av = (vec_t)FC_UK_SET1(a[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) acc[i][j] += av * bv[j];
        }
        a += MR;
    }

#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        FC_UK_T *cr = c + i * ldc;
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) {
            vec_t r = acc[i][j];
            if (accumulate) {
                vec_t cv;
                __builtin_memcpy(&cv, cr + j * VL, sizeof cv);
                r += cv;
            }
            __builtin_memcpy(cr + j * VL, &r, sizeof r);
        }
    }
}
#endif

#ifdef FC_UK_DOTNAME
/* The dot-product GEMM for a tiny output or a single row (x @ W^T at batch 1): op(A) = A
 * (m, k) and op(B) = B^T with B (n, k), both contiguous along k.  Each C entry is a dot
 * product: 8 columns at a time, lane-wise vector partial sums, reduced at the end;
 *   c[i*rsc + j*csc] = alpha * dot + beta * c (if beta != 0) + bias_m[i] + bias_n[j]. */
void FC_UK_DOTNAME(int64_t m, int64_t n, int64_t k, FC_UK_T alpha, const FC_UK_T *a,
                   int64_t lda, const FC_UK_T *b, int64_t ldb, FC_UK_T beta, FC_UK_T *c,
                   int64_t rsc, int64_t csc, const FC_UK_T *bias_m, const FC_UK_T *bias_n)
{
    typedef FC_UK_T vec_t __attribute__((vector_size(FC_UK_VL * sizeof(FC_UK_T))));
    enum { VL = FC_UK_VL, Q = 8 };
    const int64_t kv = k - k % VL;
    for (int64_t i = 0; i < m; i++) {
        const FC_UK_T *ar = a + i * lda;
        for (int64_t j0 = 0; j0 < n; j0 += Q) {
            const int64_t nj = n - j0 < Q ? n - j0 : Q;
            const FC_UK_T *br[Q];
#pragma GCC unroll 8
            for (int q = 0; q < Q; q++) br[q] = b + (j0 + (q < nj ? q : 0)) * ldb;
            vec_t acc[Q];
#pragma GCC unroll 8
            for (int q = 0; q < Q; q++) acc[q] = (vec_t){0};
            for (int64_t p = 0; p < kv; p += VL) {
                vec_t av;
                __builtin_memcpy(&av, ar + p, sizeof av);
#pragma GCC unroll 8
                for (int q = 0; q < Q; q++) {
                    vec_t bv;
                    __builtin_memcpy(&bv, br[q] + p, sizeof bv);
                    acc[q] += av * bv;
                }
            }
#pragma GCC unroll 8
            for (int q = 0; q < Q; q++) {
                if (q >= nj) break;
                FC_UK_T s = 0;
                for (int64_t p = kv; p < k; p++) s += ar[p] * br[q][p];
#pragma GCC unroll 16
                for (int l = 0; l < VL; l++) s += acc[q][l];
                FC_UK_T *cc = c + i * rsc + (j0 + q) * csc;
                FC_UK_T r = alpha * s;
                if (beta != 0) r += beta * *cc;
                if (bias_m) r += bias_m[i];
                if (bias_n) r += bias_n[j0 + q];
                *cc = r;
            }
        }
    }
}
#endif
