/*
 * pool_loss.h -- the optimised pooling, elementwise and loss kernels (pool.c,
 * elementwise.c, loss.c).  Not part of the public API.
 *
 * Each fc_opt_<op>_<f32|f64> has exactly the signature and the contract of the public
 * fc_<op>_<f32|f64> in fastconv.h and picks its scalar / avx2 / avx512 code from
 * fc_current_isa() (FC_ISA_REFERENCE is treated as scalar; the public entry points send
 * that path to fc_ref_* before getting here).  They may use OpenMP with
 * fc_threads_for_region() threads when the problem is large enough to pay for it.
 */
#ifndef FASTCONV_POOL_LOSS_H
#define FASTCONV_POOL_LOSS_H

#include "internal.h"

/* ---- pooling (pool.c) ---- */
void fc_opt_max_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y,
                                   int64_t *idx);
void fc_opt_max_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y,
                                   int64_t *idx);
int64_t fc_opt_max_pool2d_backward_f32(int64_t nc, int64_t in_h, int64_t in_w,
                                       int64_t out_h, int64_t out_w, const float *gy,
                                       const int64_t *idx, float *gx);
int64_t fc_opt_max_pool2d_backward_f64(int64_t nc, int64_t in_h, int64_t in_w,
                                       int64_t out_h, int64_t out_w, const double *gy,
                                       const int64_t *idx, double *gx);
void fc_opt_avg_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y);
void fc_opt_avg_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y);
void fc_opt_avg_pool2d_backward_f32(const fc_pool2d_params *p, const float *gy, float *gx);
void fc_opt_avg_pool2d_backward_f64(const fc_pool2d_params *p, const double *gy, double *gx);
void fc_opt_global_avg_pool2d_forward_f32(int64_t nc, int64_t hw, const float *x, float *y);
void fc_opt_global_avg_pool2d_forward_f64(int64_t nc, int64_t hw, const double *x, double *y);
void fc_opt_global_avg_pool2d_backward_f32(int64_t nc, int64_t hw, const float *gy, float *gx);
void fc_opt_global_avg_pool2d_backward_f64(int64_t nc, int64_t hw, const double *gy,
                                           double *gx);

/* ---- elementwise (elementwise.c) ---- */
void fc_opt_relu_forward_f32(int64_t size, const float *x, float *y);
void fc_opt_relu_forward_f64(int64_t size, const double *x, double *y);
void fc_opt_relu_backward_f32(int64_t size, const float *gy, const float *y, float *gx);
void fc_opt_relu_backward_f64(int64_t size, const double *gy, const double *y, double *gx);
void fc_opt_sgd_update_f32(int64_t size, float *p, const float *g, double lr);
void fc_opt_sgd_update_f64(int64_t size, double *p, const double *g, double lr);

/* ---- softmax and loss (loss.c) ---- */
void fc_opt_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y);
void fc_opt_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y);
void fc_opt_log_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y);
void fc_opt_log_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y);
void fc_opt_cross_entropy_forward_f32(int64_t n, int64_t c, const float *logits,
                                      const int64_t *target, double label_smoothing,
                                      int reduction, float *out);
void fc_opt_cross_entropy_forward_f64(int64_t n, int64_t c, const double *logits,
                                      const int64_t *target, double label_smoothing,
                                      int reduction, double *out);
void fc_opt_cross_entropy_backward_f32(int64_t n, int64_t c, const float *logits,
                                       const int64_t *target, double label_smoothing,
                                       int reduction, const float *grad_loss,
                                       float *grad_logits);
void fc_opt_cross_entropy_backward_f64(int64_t n, int64_t c, const double *logits,
                                       const int64_t *target, double label_smoothing,
                                       int reduction, const double *grad_loss,
                                       double *grad_logits);

#endif /* FASTCONV_POOL_LOSS_H */
