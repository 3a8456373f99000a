/*
 * ref.h -- the reference kernels of fastconv: plain, obviously-correct loops.
 *
 * Each fc_ref_<op>_<f32|f64> has exactly the signature and the contract of the public
 * fc_<op>_<f32|f64> in fastconv.h.  They are the oracle the optimised kernels are tested
 * against and the path taken when the instruction-set path is "reference".
 * They are single-threaded and allocate nothing.
 *
 * Accumulation: every sum (dot products, bias gradients, pooling windows, softmax sums,
 * losses) is accumulated in double, for float32 as well as float64, and rounded to the
 * kernel's dtype once at the end.  The one exception is the scatter-add of
 * max_pool2d_backward, which adds in the kernel's dtype, as PyTorch does.
 */
#ifndef FASTCONV_REF_H
#define FASTCONV_REF_H

#include "fastconv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dense (ref_dense.c) ---- */
void fc_ref_gemm_f32(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc);
void fc_ref_gemm_f64(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                     const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                     double *c, int64_t ldc);
void fc_ref_linear_forward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *x,
                               const float *w, const float *b, float *y);
void fc_ref_linear_forward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *x,
                               const double *w, const double *b, double *y);
void fc_ref_linear_backward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *gy,
                                const float *x, const float *w, float *gx, float *gw, float *gb);
void fc_ref_linear_backward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *gy,
                                const double *x, const double *w, double *gx, double *gw,
                                double *gb);

void fc_ref_linear_relu_forward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *x,
                                    const float *w, const float *b, float *y);
void fc_ref_linear_relu_forward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *x,
                                    const double *w, const double *b, double *y);
void fc_ref_linear_relu_backward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *gy,
                                     const float *y, const float *x, const float *w, float *gx,
                                     float *gw, float *gb);
void fc_ref_linear_relu_backward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *gy,
                                     const double *y, const double *x, const double *w,
                                     double *gx, double *gw, double *gb);

/* ---- conv2d (ref_conv.c) ---- */
void fc_ref_conv2d_forward_f32(const fc_conv2d_params *p, const float *x, const float *w,
                               const float *bias, float *y);
void fc_ref_conv2d_forward_f64(const fc_conv2d_params *p, const double *x, const double *w,
                               const double *bias, double *y);
void fc_ref_conv2d_backward_f32(const fc_conv2d_params *p, const float *gy, const float *x,
                                const float *w, float *gx, float *gw, float *gb);
void fc_ref_conv2d_backward_f64(const fc_conv2d_params *p, const double *gy, const double *x,
                                const double *w, double *gx, double *gw, double *gb);

void fc_ref_conv2d_block_forward_f32(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                     const float *x, const float *w, const float *bias,
                                     float *y, uint8_t *idx);
void fc_ref_conv2d_block_forward_f64(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                     const double *x, const double *w, const double *bias,
                                     double *y, uint8_t *idx);
void fc_ref_conv2d_block_backward_f32(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                      const float *gy, const float *y, const uint8_t *idx,
                                      const float *x, const float *w, float *gx, float *gw,
                                      float *gb);
void fc_ref_conv2d_block_backward_f64(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                      const double *gy, const double *y, const uint8_t *idx,
                                      const double *x, const double *w, double *gx, double *gw,
                                      double *gb);

/* ---- pooling (ref_pool.c) ---- */
void fc_ref_max_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y,
                                   int64_t *idx);
void fc_ref_max_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y,
                                   int64_t *idx);
int64_t fc_ref_max_pool2d_backward_f32(int64_t nc, int64_t in_plane, int64_t out_plane,
                                       const float *gy, const int64_t *idx, float *gx);
int64_t fc_ref_max_pool2d_backward_f64(int64_t nc, int64_t in_plane, int64_t out_plane,
                                       const double *gy, const int64_t *idx, double *gx);
void fc_ref_avg_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y);
void fc_ref_avg_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y);
void fc_ref_avg_pool2d_backward_f32(const fc_pool2d_params *p, const float *gy, float *gx);
void fc_ref_avg_pool2d_backward_f64(const fc_pool2d_params *p, const double *gy, double *gx);
void fc_ref_global_avg_pool2d_forward_f32(int64_t nc, int64_t hw, const float *x, float *y);
void fc_ref_global_avg_pool2d_forward_f64(int64_t nc, int64_t hw, const double *x, double *y);
void fc_ref_global_avg_pool2d_backward_f32(int64_t nc, int64_t hw, const float *gy, float *gx);
void fc_ref_global_avg_pool2d_backward_f64(int64_t nc, int64_t hw, const double *gy, double *gx);

/* ---- elementwise and loss (ref_elementwise.c) ---- */
void fc_ref_relu_forward_f32(int64_t size, const float *x, float *y);
void fc_ref_relu_forward_f64(int64_t size, const double *x, double *y);
void fc_ref_relu_backward_f32(int64_t size, const float *gy, const float *y, float *gx);
void fc_ref_relu_backward_f64(int64_t size, const double *gy, const double *y, double *gx);
void fc_ref_sgd_update_f32(int64_t size, float *p, const float *g, double lr);
void fc_ref_sgd_update_f64(int64_t size, double *p, const double *g, double lr);
void fc_ref_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y);
void fc_ref_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y);
void fc_ref_log_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y);
void fc_ref_log_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y);
void fc_ref_cross_entropy_forward_f32(int64_t n, int64_t c, const float *logits,
                                      const int64_t *target, double label_smoothing,
                                      int reduction, float *out);
void fc_ref_cross_entropy_forward_f64(int64_t n, int64_t c, const double *logits,
                                      const int64_t *target, double label_smoothing,
                                      int reduction, double *out);
void fc_ref_cross_entropy_backward_f32(int64_t n, int64_t c, const float *logits,
                                       const int64_t *target, double label_smoothing,
                                       int reduction, const float *grad_loss,
                                       float *grad_logits);
void fc_ref_cross_entropy_backward_f64(int64_t n, int64_t c, const double *logits,
                                       const int64_t *target, double label_smoothing,
                                       int reduction, const double *grad_loss,
                                       double *grad_logits);

#ifdef __cplusplus
}
#endif

#endif /* FASTCONV_REF_H */
