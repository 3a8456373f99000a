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
/* Entry points for gemm and linear.  Optimised paths are selected here with
 * fc_current_isa(); every path currently runs the reference kernels. */

void fc_gemm_f32(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                 float *c, int64_t ldc) {
    fc_ref_gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void fc_gemm_f64(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                 double *c, int64_t ldc) {
    fc_ref_gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void fc_linear_forward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *x,
                           const float *w, const float *b, float *y) {
    fc_ref_linear_forward_f32(n, in_f, out_f, x, w, b, y);
}

void fc_linear_forward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *x,
                           const double *w, const double *b, double *y) {
    fc_ref_linear_forward_f64(n, in_f, out_f, x, w, b, y);
}

void fc_linear_backward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *gy,
                            const float *x, const float *w, float *gx, float *gw, float *gb) {
    fc_ref_linear_backward_f32(n, in_f, out_f, gy, x, w, gx, gw, gb);
}

void fc_linear_backward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *gy,
                            const double *x, const double *w, double *gx, double *gw,
                            double *gb) {
    fc_ref_linear_backward_f64(n, in_f, out_f, gy, x, w, gx, gw, gb);
}

/* ---- end of section 1: dense (gemm, linear) ---- */





/* ==================================================================================== */
/* Section 2: conv2d                                                                    */
/* ==================================================================================== */
/* Entry points for conv2d forward and backward.  Optimised paths are selected here with
 * fc_current_isa(); every path currently runs the reference kernels. */

void fc_conv2d_forward_f32(const fc_conv2d_params *p, const float *x, const float *w,
                           const float *bias, float *y) {
    fc_ref_conv2d_forward_f32(p, x, w, bias, y);
}

void fc_conv2d_forward_f64(const fc_conv2d_params *p, const double *x, const double *w,
                           const double *bias, double *y) {
    fc_ref_conv2d_forward_f64(p, x, w, bias, y);
}

void fc_conv2d_backward_f32(const fc_conv2d_params *p, const float *gy, const float *x,
                            const float *w, float *gx, float *gw, float *gb) {
    fc_ref_conv2d_backward_f32(p, gy, x, w, gx, gw, gb);
}

void fc_conv2d_backward_f64(const fc_conv2d_params *p, const double *gy, const double *x,
                            const double *w, double *gx, double *gw, double *gb) {
    fc_ref_conv2d_backward_f64(p, gy, x, w, gx, gw, gb);
}

/* ---- end of section 2: conv2d ---- */





/* ==================================================================================== */
/* Section 3: pooling                                                                   */
/* ==================================================================================== */
/* Entry points for max, average and global-average pooling.  Optimised paths are selected here with
 * fc_current_isa(); every path currently runs the reference kernels. */

void fc_max_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y,
                               int64_t *idx) {
    fc_ref_max_pool2d_forward_f32(p, x, y, idx);
}

void fc_max_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y,
                               int64_t *idx) {
    fc_ref_max_pool2d_forward_f64(p, x, y, idx);
}

int64_t fc_max_pool2d_backward_f32(int64_t nc, int64_t in_plane, int64_t out_plane,
                                   const float *gy, const int64_t *idx, float *gx) {
    return fc_ref_max_pool2d_backward_f32(nc, in_plane, out_plane, gy, idx, gx);
}

int64_t fc_max_pool2d_backward_f64(int64_t nc, int64_t in_plane, int64_t out_plane,
                                   const double *gy, const int64_t *idx, double *gx) {
    return fc_ref_max_pool2d_backward_f64(nc, in_plane, out_plane, gy, idx, gx);
}

void fc_avg_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y) {
    fc_ref_avg_pool2d_forward_f32(p, x, y);
}

void fc_avg_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y) {
    fc_ref_avg_pool2d_forward_f64(p, x, y);
}

void fc_avg_pool2d_backward_f32(const fc_pool2d_params *p, const float *gy, float *gx) {
    fc_ref_avg_pool2d_backward_f32(p, gy, gx);
}

void fc_avg_pool2d_backward_f64(const fc_pool2d_params *p, const double *gy, double *gx) {
    fc_ref_avg_pool2d_backward_f64(p, gy, gx);
}

void fc_global_avg_pool2d_forward_f32(int64_t nc, int64_t hw, const float *x, float *y) {
    fc_ref_global_avg_pool2d_forward_f32(nc, hw, x, y);
}

void fc_global_avg_pool2d_forward_f64(int64_t nc, int64_t hw, const double *x, double *y) {
    fc_ref_global_avg_pool2d_forward_f64(nc, hw, x, y);
}

void fc_global_avg_pool2d_backward_f32(int64_t nc, int64_t hw, const float *gy, float *gx) {
    fc_ref_global_avg_pool2d_backward_f32(nc, hw, gy, gx);
}

void fc_global_avg_pool2d_backward_f64(int64_t nc, int64_t hw, const double *gy, double *gx) {
    fc_ref_global_avg_pool2d_backward_f64(nc, hw, gy, gx);
}

/* ---- end of section 3: pooling ---- */





/* ==================================================================================== */
/* Section 4: elementwise and loss                                                      */
/* ==================================================================================== */
/* Entry points for relu, softmax, log-softmax and cross-entropy.  Optimised paths are
 * selected here with fc_current_isa(); every path currently runs the reference kernels. */

void fc_relu_forward_f32(int64_t size, const float *x, float *y) {
    fc_ref_relu_forward_f32(size, x, y);
}

void fc_relu_forward_f64(int64_t size, const double *x, double *y) {
    fc_ref_relu_forward_f64(size, x, y);
}

void fc_relu_backward_f32(int64_t size, const float *gy, const float *y, float *gx) {
    fc_ref_relu_backward_f32(size, gy, y, gx);
}

void fc_relu_backward_f64(int64_t size, const double *gy, const double *y, double *gx) {
    fc_ref_relu_backward_f64(size, gy, y, gx);
}

void fc_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y) {
    fc_ref_softmax_f32(rows, cols, x, y);
}

void fc_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y) {
    fc_ref_softmax_f64(rows, cols, x, y);
}

void fc_log_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y) {
    fc_ref_log_softmax_f32(rows, cols, x, y);
}

void fc_log_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y) {
    fc_ref_log_softmax_f64(rows, cols, x, y);
}

void fc_cross_entropy_forward_f32(int64_t n, int64_t c, const float *logits,
                                  const int64_t *target, double label_smoothing,
                                  int reduction, float *out) {
    fc_ref_cross_entropy_forward_f32(n, c, logits, target, label_smoothing, reduction, out);
}

void fc_cross_entropy_forward_f64(int64_t n, int64_t c, const double *logits,
                                  const int64_t *target, double label_smoothing,
                                  int reduction, double *out) {
    fc_ref_cross_entropy_forward_f64(n, c, logits, target, label_smoothing, reduction, out);
}

void fc_cross_entropy_backward_f32(int64_t n, int64_t c, const float *logits,
                                   const int64_t *target, double label_smoothing,
                                   int reduction, const float *grad_loss,
                                   float *grad_logits) {
    fc_ref_cross_entropy_backward_f32(n, c, logits, target, label_smoothing, reduction,
                                      grad_loss, grad_logits);
}

void fc_cross_entropy_backward_f64(int64_t n, int64_t c, const double *logits,
                                   const int64_t *target, double label_smoothing,
                                   int reduction, const double *grad_loss,
                                   double *grad_logits) {
    fc_ref_cross_entropy_backward_f64(n, c, logits, target, label_smoothing, reduction,
                                      grad_loss, grad_logits);
}

/* ---- end of section 4: elementwise and loss ---- */
