/*
 * norm_internal.h -- the reference (ref_norm.c) and optimised (norm.c) normalisation, dropout
 * and activation kernels.  Not part of the public API.
 *
 * Each fc_ref_<op>_<f32|f64> and fc_opt_<op>_<f32|f64> has exactly the signature and the
 * contract of the public fc_<op>_<f32|f64> in fastconv.h.  The fc_ref_ kernels are plain,
 * single-threaded loops that allocate nothing; the fc_opt_ kernels pick their scalar / avx2 /
 * avx512 code from fc_current_isa() and use OpenMP when the problem is large enough.
 */
#ifndef FASTCONV_NORM_INTERNAL_H
#define FASTCONV_NORM_INTERNAL_H

#include "internal.h"

#define FC_NORM_DECLS(P, SFX, FT)                                                             \
    void P##batch_norm_forward_train_##SFX(int64_t n, int64_t c, int64_t hw, const FT *x,      \
                                           const FT *gamma, const FT *beta, double eps, FT *y, \
                                           FT *mean, FT *var, FT *invstd);                     \
    void P##batch_norm_forward_eval_##SFX(int64_t n, int64_t c, int64_t hw, const FT *x,       \
                                          const FT *mean, const FT *var, const FT *gamma,      \
                                          const FT *beta, double eps, FT *y);                  \
    void P##batch_norm_backward_##SFX(int64_t n, int64_t c, int64_t hw, const FT *gy,          \
                                      const FT *x, const FT *gamma, const FT *mean,            \
                                      const FT *invstd, int training, FT *gx, FT *gw, FT *gb); \
    void P##layer_norm_forward_##SFX(int64_t rows, int64_t d, const FT *x, const FT *gamma,    \
                                     const FT *beta, double eps, FT *y, FT *mean, FT *rstd);   \
    void P##layer_norm_backward_##SFX(int64_t rows, int64_t d, const FT *gy, const FT *x,      \
                                      const FT *gamma, const FT *mean, const FT *rstd, FT *gx, \
                                      FT *gw, FT *gb);                                         \
    void P##group_norm_forward_##SFX(int64_t n, int64_t c, int64_t hw, int64_t groups,         \
                                     const FT *x, const FT *gamma, const FT *beta, double eps, \
                                     FT *y, FT *mean, FT *rstd);                               \
    void P##group_norm_backward_##SFX(int64_t n, int64_t c, int64_t hw, int64_t groups,        \
                                      const FT *gy, const FT *x, const FT *gamma,              \
                                      const FT *mean, const FT *rstd, FT *gx, FT *gw, FT *gb); \
    void P##dropout_forward_##SFX(int64_t size, const FT *x, uint64_t seed, uint32_t threshold, \
                                  double scale, FT *y, uint8_t *mask);                         \
    void P##dropout_backward_##SFX(int64_t size, const FT *gy, const uint8_t *mask,            \
                                   double scale, FT *gx);                                      \
    void P##sigmoid_forward_##SFX(int64_t size, const FT *x, FT *y);                           \
    void P##sigmoid_backward_##SFX(int64_t size, const FT *gy, const FT *y, FT *gx);           \
    void P##tanh_forward_##SFX(int64_t size, const FT *x, FT *y);                              \
    void P##tanh_backward_##SFX(int64_t size, const FT *gy, const FT *y, FT *gx);              \
    void P##leaky_relu_forward_##SFX(int64_t size, const FT *x, double negative_slope, FT *y); \
    void P##leaky_relu_backward_##SFX(int64_t size, const FT *gy, const FT *x,                 \
                                      double negative_slope, FT *gx);

FC_NORM_DECLS(fc_ref_, f32, float)
FC_NORM_DECLS(fc_ref_, f64, double)
FC_NORM_DECLS(fc_opt_, f32, float)
FC_NORM_DECLS(fc_opt_, f64, double)

#endif /* FASTCONV_NORM_INTERNAL_H */
