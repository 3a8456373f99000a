/*
 * linear.c -- dense layer forward/backward on the packed GEMM engine.
 *   forward:  y = x @ w^T + b, the bias added in the GEMM epilogue;
 *   backward: gx = gy @ w,  gw = gy^T @ x  (transposed packing), gb = column sums of gy.
 */
#include <stdlib.h>
#include <string.h>

#include "gemm_internal.h"
#include "pool_loss.h"

#define FC_LINEAR_IMPL(SFX, T)                                                               \
    void fc_opt_linear_forward_##SFX(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,    \
                                     const T *x, const T *w, const T *b, T *y)               \
    {                                                                                        \
        if (n <= 0 || out_f <= 0) return;                                                    \
        fc_gemm_engine_##SFX(isa, fc_threads_for_region(), 0, 1, n, out_f, in_f, (T)1, x,    \
                             in_f, w, in_f, (T)0, y, out_f, 1, NULL, b);                     \
    }                                                                                        \
    void fc_opt_linear_backward_##SFX(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,   \
                                      const T *gy, const T *x, const T *w, T *gx, T *gw,     \
                                      T *gb)                                                 \
    {                                                                                        \
        const int nt = fc_threads_for_region();                                              \
        if (gx && n > 0 && in_f > 0)                                                         \
            fc_gemm_engine_##SFX(isa, nt, 0, 0, n, in_f, out_f, (T)1, gy, out_f, w, in_f,    \
                                 (T)0, gx, in_f, 1, NULL, NULL);                             \
        if (gw && out_f > 0 && in_f > 0)                                                     \
            fc_gemm_engine_##SFX(isa, nt, 1, 0, out_f, in_f, n, (T)1, gy, out_f, x, in_f,    \
                                 (T)0, gw, in_f, 1, NULL, NULL);                             \
        if (gb && out_f > 0) {                                                               \
            for (int64_t j = 0; j < out_f; j++) gb[j] = 0;                                   \
            for (int64_t i = 0; i < n; i++) {                                                \
                const T *row = gy + i * out_f;                                               \
                for (int64_t j = 0; j < out_f; j++) gb[j] += row[j];                         \
            }                                                                                \
        }                                                                                    \
    }

FC_LINEAR_IMPL(f32, float)
FC_LINEAR_IMPL(f64, double)

/* The linear block (fastconv.h: fc_linear_relu_*): relu in the GEMM's epilogue; backward
 * masks gy once (n x out_f, small next to the products) and runs the linear backward. */
#define FC_LINEAR_RELU_IMPL(SFX, T)                                                          \
    void fc_opt_linear_relu_forward_##SFX(fc_isa isa, int64_t n, int64_t in_f,               \
                                          int64_t out_f, const T *x, const T *w,             \
                                          const T *b, T *y)                                  \
    {                                                                                        \
        if (n <= 0 || out_f <= 0) return;                                                    \
        fc_gemm_engine_relu_##SFX(isa, fc_threads_for_region(), 0, 1, n, out_f, in_f, (T)1,  \
                                  x, in_f, w, in_f, (T)0, y, out_f, 1, NULL, b);             \
    }                                                                                        \
    void fc_opt_linear_relu_backward_##SFX(fc_isa isa, int64_t n, int64_t in_f,              \
                                           int64_t out_f, const T *gy, const T *y,           \
                                           const T *x, const T *w, T *gx, T *gw, T *gb)      \
    {                                                                                        \
        const int64_t size = n * out_f;                                                      \
        T *g = (T *)malloc(sizeof(T) * (size_t)(size > 0 ? size : 1));                       \
        if (!g) abort();                                                                     \
        fc_opt_relu_backward_##SFX(size, gy, y, g);                                          \
        fc_opt_linear_backward_##SFX(isa, n, in_f, out_f, g, x, w, gx, gw, gb);              \
        free(g);                                                                             \
    }

FC_LINEAR_RELU_IMPL(f32, float)
FC_LINEAR_RELU_IMPL(f64, double)
