/*
 * gemm_ukernels_scalar.c -- portable C GEMM microkernels (4x16 f32, 4x8 f64): plain
 * loops over a register-sized accumulator block that the compiler vectorises for the
 * baseline target.
 */
#include "gemm_internal.h"

#define FC_SCALAR_UKERNEL(NAME, T, MR, NR)                                                  \
    void NAME(int64_t kc, const T *restrict a, const T *restrict b, T *restrict c,           \
              int64_t ldc, T alpha, T beta, const T *restrict bias_m,                        \
              const T *restrict bias_n)                                                      \
    {                                                                                        \
        T acc[MR][NR];                                                                       \
        for (int i = 0; i < MR; i++)                                                         \
            for (int j = 0; j < NR; j++) acc[i][j] = 0;                                      \
        for (int64_t p = 0; p < kc; p++) {                                                   \
            /* the B row first into a local: the compiler then keeps acc and bv in vector   \
             * registers (reading b[j] in the i loop left acc in memory: 4 vs 28 GFLOP/s    \
             * f32 at SSE2) */                                                               \
            T bv[NR];                                                                        \
            for (int j = 0; j < NR; j++) bv[j] = b[j];                                       \
            for (int i = 0; i < MR; i++) {                                                   \
                T ai = a[i];                                                                 \
                for (int j = 0; j < NR; j++) acc[i][j] += ai * bv[j];                        \
            }                                                                                \
            a += MR;                                                                         \
            b += NR;                                                                         \
        }                                                                                    \
        for (int i = 0; i < MR; i++) {                                                       \
            T *cr = c + i * ldc;                                                             \
            T bm = bias_m ? bias_m[i] : (T)0;                                                \
            for (int j = 0; j < NR; j++) {                                                   \
                T r = alpha * acc[i][j];                                                     \
                if (beta != 0) r += beta * cr[j];                                            \
                r += bm;                                                                     \
                if (bias_n) r += bias_n[j];                                                  \
                cr[j] = r;                                                                   \
            }                                                                                \
        }                                                                                    \
    }

FC_SCALAR_UKERNEL(fc_f32_gemm_ukernel_4x16__scalar, float, 4, 16)
FC_SCALAR_UKERNEL(fc_f64_gemm_ukernel_4x8__scalar, double, 4, 8)
