/*
 * dispatch.c -- the public fc_* kernel entry points of fastconv.h.
 *
 * Each entry point picks an implementation for the instruction-set path returned by
 * fc_current_isa() (FC_ISA_REFERENCE / SCALAR / AVX2 / AVX512).  FC_ISA_REFERENCE always
 * takes the plain loops of ref_*.c (declared in ref.h); the other paths take the optimised
 * kernels where they exist and the reference kernels otherwise.
 *
 * The file has four self-contained sections, one per family of kernels; each one selects
 * its own optimised paths and includes what it needs.  (The runtime functions -- threads,
 * ISA, workspace limit -- live in runtime.c.)
 */
#include <stdint.h>

#include "internal.h"
#include "ref.h"


/* ==================================================================================== */
/* Section 1: dense (gemm, linear)                                                      */
/* ==================================================================================== */
/* Entry points for gemm and linear.  FC_ISA_REFERENCE runs the reference kernels; every
 * other path runs the packed GEMM engine (gemm.c, linear.c) with that path's microkernels. */
#include "gemm_internal.h"

void fc_gemm_f32(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                 float *c, int64_t ldc) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        fc_opt_gemm_f32(isa, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void fc_gemm_f64(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                 double *c, int64_t ldc) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        fc_opt_gemm_f64(isa, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void fc_linear_forward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *x,
                           const float *w, const float *b, float *y) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_linear_forward_f32(n, in_f, out_f, x, w, b, y);
    else
        fc_opt_linear_forward_f32(isa, n, in_f, out_f, x, w, b, y);
}

void fc_linear_forward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *x,
                           const double *w, const double *b, double *y) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_linear_forward_f64(n, in_f, out_f, x, w, b, y);
    else
        fc_opt_linear_forward_f64(isa, n, in_f, out_f, x, w, b, y);
}

void fc_linear_backward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *gy,
                            const float *x, const float *w, float *gx, float *gw, float *gb) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_linear_backward_f32(n, in_f, out_f, gy, x, w, gx, gw, gb);
    else
        fc_opt_linear_backward_f32(isa, n, in_f, out_f, gy, x, w, gx, gw, gb);
}

void fc_linear_backward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *gy,
                            const double *x, const double *w, double *gx, double *gw,
                            double *gb) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_linear_backward_f64(n, in_f, out_f, gy, x, w, gx, gw, gb);
    else
        fc_opt_linear_backward_f64(isa, n, in_f, out_f, gy, x, w, gx, gw, gb);
}

/* ---- end of section 1: dense (gemm, linear) ---- */





/* ==================================================================================== */
/* Section 2: conv2d                                                                    */
/* ==================================================================================== */
/* Entry points for conv2d forward and backward.  FC_ISA_REFERENCE runs the reference
 * kernels; every other path runs the conv engine (conv.c: tiled im2col + packed GEMM, and
 * direct kernels for one input or one output channel per group). */
#include "gemm_internal.h"

void fc_conv2d_forward_f32(const fc_conv2d_params *p, const float *x, const float *w,
                           const float *bias, float *y) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_conv2d_forward_f32(p, x, w, bias, y);
    else
        fc_opt_conv2d_forward_f32(isa, p, x, w, bias, y);
}

void fc_conv2d_forward_f64(const fc_conv2d_params *p, const double *x, const double *w,
                           const double *bias, double *y) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_conv2d_forward_f64(p, x, w, bias, y);
    else
        fc_opt_conv2d_forward_f64(isa, p, x, w, bias, y);
}

void fc_conv2d_backward_f32(const fc_conv2d_params *p, const float *gy, const float *x,
                            const float *w, float *gx, float *gw, float *gb) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_conv2d_backward_f32(p, gy, x, w, gx, gw, gb);
    else
        fc_opt_conv2d_backward_f32(isa, p, gy, x, w, gx, gw, gb);
}

void fc_conv2d_backward_f64(const fc_conv2d_params *p, const double *gy, const double *x,
                            const double *w, double *gx, double *gw, double *gb) {
    fc_isa isa = fc_current_isa();
    if (isa == FC_ISA_REFERENCE)
        fc_ref_conv2d_backward_f64(p, gy, x, w, gx, gw, gb);
    else
        fc_opt_conv2d_backward_f64(isa, p, gy, x, w, gx, gw, gb);
}

/* ---- end of section 2: conv2d ---- */





/* ==================================================================================== */
/* Section 3: pooling                                                                   */
/* ==================================================================================== */
/* Entry points for max, average and global-average pooling.  FC_ISA_REFERENCE runs the
 * reference loops; every other path runs the optimised kernels of pool.c (fc_opt_*), which
 * pick their scalar / AVX2 / AVX-512 code from fc_current_isa() themselves. */

#include "pool_loss.h" /* fc_opt_*: optimised pooling, elementwise and loss kernels */

void fc_max_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y,
                               int64_t *idx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_max_pool2d_forward_f32(p, x, y, idx);
    else
        fc_opt_max_pool2d_forward_f32(p, x, y, idx);
}

void fc_max_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y,
                               int64_t *idx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_max_pool2d_forward_f64(p, x, y, idx);
    else
        fc_opt_max_pool2d_forward_f64(p, x, y, idx);
}

int64_t fc_max_pool2d_backward_f32(int64_t nc, int64_t in_plane, int64_t out_plane,
                                   const float *gy, const int64_t *idx, float *gx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        return fc_ref_max_pool2d_backward_f32(nc, in_plane, out_plane, gy, idx, gx);
    return fc_opt_max_pool2d_backward_f32(nc, in_plane, out_plane, gy, idx, gx);
}

int64_t fc_max_pool2d_backward_f64(int64_t nc, int64_t in_plane, int64_t out_plane,
                                   const double *gy, const int64_t *idx, double *gx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        return fc_ref_max_pool2d_backward_f64(nc, in_plane, out_plane, gy, idx, gx);
    return fc_opt_max_pool2d_backward_f64(nc, in_plane, out_plane, gy, idx, gx);
}

void fc_avg_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_avg_pool2d_forward_f32(p, x, y);
    else
        fc_opt_avg_pool2d_forward_f32(p, x, y);
}

void fc_avg_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_avg_pool2d_forward_f64(p, x, y);
    else
        fc_opt_avg_pool2d_forward_f64(p, x, y);
}

void fc_avg_pool2d_backward_f32(const fc_pool2d_params *p, const float *gy, float *gx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_avg_pool2d_backward_f32(p, gy, gx);
    else
        fc_opt_avg_pool2d_backward_f32(p, gy, gx);
}

void fc_avg_pool2d_backward_f64(const fc_pool2d_params *p, const double *gy, double *gx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_avg_pool2d_backward_f64(p, gy, gx);
    else
        fc_opt_avg_pool2d_backward_f64(p, gy, gx);
}

void fc_global_avg_pool2d_forward_f32(int64_t nc, int64_t hw, const float *x, float *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_global_avg_pool2d_forward_f32(nc, hw, x, y);
    else
        fc_opt_global_avg_pool2d_forward_f32(nc, hw, x, y);
}

void fc_global_avg_pool2d_forward_f64(int64_t nc, int64_t hw, const double *x, double *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_global_avg_pool2d_forward_f64(nc, hw, x, y);
    else
        fc_opt_global_avg_pool2d_forward_f64(nc, hw, x, y);
}

void fc_global_avg_pool2d_backward_f32(int64_t nc, int64_t hw, const float *gy, float *gx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_global_avg_pool2d_backward_f32(nc, hw, gy, gx);
    else
        fc_opt_global_avg_pool2d_backward_f32(nc, hw, gy, gx);
}

void fc_global_avg_pool2d_backward_f64(int64_t nc, int64_t hw, const double *gy, double *gx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_global_avg_pool2d_backward_f64(nc, hw, gy, gx);
    else
        fc_opt_global_avg_pool2d_backward_f64(nc, hw, gy, gx);
}

/* ---- end of section 3: pooling ---- */





/* ==================================================================================== */
/* Section 4: elementwise and loss                                                      */
/* ==================================================================================== */
/* Entry points for relu, softmax, log-softmax and cross-entropy.  FC_ISA_REFERENCE runs the
 * reference loops; every other path runs the optimised kernels of elementwise.c and loss.c
 * (fc_opt_*, declared in pool_loss.h, included in section 3). */

void fc_relu_forward_f32(int64_t size, const float *x, float *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_relu_forward_f32(size, x, y);
    else
        fc_opt_relu_forward_f32(size, x, y);
}

void fc_relu_forward_f64(int64_t size, const double *x, double *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_relu_forward_f64(size, x, y);
    else
        fc_opt_relu_forward_f64(size, x, y);
}

void fc_relu_backward_f32(int64_t size, const float *gy, const float *y, float *gx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_relu_backward_f32(size, gy, y, gx);
    else
        fc_opt_relu_backward_f32(size, gy, y, gx);
}

void fc_relu_backward_f64(int64_t size, const double *gy, const double *y, double *gx) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_relu_backward_f64(size, gy, y, gx);
    else
        fc_opt_relu_backward_f64(size, gy, y, gx);
}

void fc_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_softmax_f32(rows, cols, x, y);
    else
        fc_opt_softmax_f32(rows, cols, x, y);
}

void fc_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_softmax_f64(rows, cols, x, y);
    else
        fc_opt_softmax_f64(rows, cols, x, y);
}

void fc_log_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_log_softmax_f32(rows, cols, x, y);
    else
        fc_opt_log_softmax_f32(rows, cols, x, y);
}

void fc_log_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_log_softmax_f64(rows, cols, x, y);
    else
        fc_opt_log_softmax_f64(rows, cols, x, y);
}

void fc_cross_entropy_forward_f32(int64_t n, int64_t c, const float *logits,
                                  const int64_t *target, double label_smoothing,
                                  int reduction, float *out) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_cross_entropy_forward_f32(n, c, logits, target, label_smoothing, reduction, out);
    else
        fc_opt_cross_entropy_forward_f32(n, c, logits, target, label_smoothing, reduction, out);
}

void fc_cross_entropy_forward_f64(int64_t n, int64_t c, const double *logits,
                                  const int64_t *target, double label_smoothing,
                                  int reduction, double *out) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_cross_entropy_forward_f64(n, c, logits, target, label_smoothing, reduction, out);
    else
        fc_opt_cross_entropy_forward_f64(n, c, logits, target, label_smoothing, reduction, out);
}

void fc_cross_entropy_backward_f32(int64_t n, int64_t c, const float *logits,
                                   const int64_t *target, double label_smoothing,
                                   int reduction, const float *grad_loss,
                                   float *grad_logits) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_cross_entropy_backward_f32(n, c, logits, target, label_smoothing, reduction,
                                          grad_loss, grad_logits);
    else
        fc_opt_cross_entropy_backward_f32(n, c, logits, target, label_smoothing, reduction,
                                          grad_loss, grad_logits);
}

void fc_cross_entropy_backward_f64(int64_t n, int64_t c, const double *logits,
                                   const int64_t *target, double label_smoothing,
                                   int reduction, const double *grad_loss,
                                   double *grad_logits) {
    if (fc_current_isa() == FC_ISA_REFERENCE)
        fc_ref_cross_entropy_backward_f64(n, c, logits, target, label_smoothing, reduction,
                                          grad_loss, grad_logits);
    else
        fc_opt_cross_entropy_backward_f64(n, c, logits, target, label_smoothing, reduction,
                                          grad_loss, grad_logits);
}

/* ---- end of section 4: elementwise and loss ---- */
