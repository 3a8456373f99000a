# The only place fastconv's C API is declared for Cython.  Mirrors csrc/fastconv.h; every
# declaration is nogil.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

cdef extern from "fastconv.h" nogil:
    void fc_set_num_threads(int n)
    int fc_get_num_threads()
    void fc_set_thread_num_threads(int n)
    int fc_get_thread_num_threads()
    int fc_has_openmp()
    int fc_set_isa(const char *name)
    const char *fc_get_isa()
    int fc_isa_supported(const char *name)
    int fc_isa_compiled(const char *name)
    int fc_isa_cpu_has(const char *name)
    const char *fc_build_compiler()
    const char *fc_build_flags()
    void fc_set_workspace_limit(int64_t nbytes)
    int64_t fc_get_workspace_limit()

    int fc_cache_sizes(int64_t *sizes)
    void fc_set_cache_sizes(const int64_t *sizes)
    ctypedef struct fc_gemm_blocking:
        int mr, nr
        int64_t kc, mc, nc
        const char *ukernel
    int fc_get_gemm_blocking(const char *isa, int dtype_size, fc_gemm_blocking *out)
    double fc_probe_fma(const char *isa, int dtype_size, int nthreads, int64_t iters)
    double fc_probe_copy(const float *src, float *dst, int64_t n, int nthreads, int64_t reps)

    void fc_gemm_f32(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc)
    void fc_gemm_f64(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                     const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                     double *c, int64_t ldc)

    ctypedef struct fc_conv2d_params:
        int64_t n, c_in, h, w
        int64_t c_out, kh, kw
        int64_t stride_h, stride_w
        int64_t pad_h, pad_w
        int64_t dil_h, dil_w
        int64_t groups
        int64_t out_h, out_w

    void fc_conv2d_forward_f32(const fc_conv2d_params *p, const float *x, const float *w,
                               const float *bias, float *y)
    void fc_conv2d_forward_f64(const fc_conv2d_params *p, const double *x, const double *w,
                               const double *bias, double *y)
    void fc_conv2d_backward_f32(const fc_conv2d_params *p, const float *gy, const float *x,
                                const float *w, float *gx, float *gw, float *gb)
    void fc_conv2d_backward_f64(const fc_conv2d_params *p, const double *gy, const double *x,
                                const double *w, double *gx, double *gw, double *gb)

    void fc_linear_relu_forward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *x,
                                    const float *w, const float *b, float *y)
    void fc_linear_relu_forward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *x,
                                    const double *w, const double *b, double *y)
    void fc_linear_relu_backward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *gy,
                                     const float *y, const float *x, const float *w,
                                     float *gx, float *gw, float *gb)
    void fc_linear_relu_backward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *gy,
                                     const double *y, const double *x, const double *w,
                                     double *gx, double *gw, double *gb)

    ctypedef struct fc_conv2d_block:
        int relu
        int64_t pool
    void fc_conv2d_block_forward_f32(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                     const float *x, const float *w, const float *bias,
                                     float *y, uint8_t *idx)
    void fc_conv2d_block_forward_f64(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                     const double *x, const double *w, const double *bias,
                                     double *y, uint8_t *idx)
    void fc_conv2d_block_backward_f32(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                      const float *gy, const float *y, const uint8_t *idx,
                                      const float *x, const float *w, float *gx, float *gw,
                                      float *gb)
    void fc_conv2d_block_backward_f64(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                      const double *gy, const double *y, const uint8_t *idx,
                                      const double *x, const double *w, double *gx,
                                      double *gw, double *gb)
    int fc_set_conv_winograd(int mode)
    int fc_get_conv_winograd()

    ctypedef struct fc_pool2d_params:
        int64_t n, c, h, w
        int64_t kh, kw
        int64_t stride_h, stride_w
        int64_t pad_h, pad_w
        int64_t dil_h, dil_w
        int64_t out_h, out_w
        int count_include_pad

    void fc_max_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y,
                                   int64_t *idx)
    void fc_max_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y,
                                   int64_t *idx)
    int64_t fc_max_pool2d_backward_f32(int64_t nc, int64_t in_h, int64_t in_w, int64_t out_h,
                                       int64_t out_w, const float *gy, const int64_t *idx,
                                       float *gx)
    int64_t fc_max_pool2d_backward_f64(int64_t nc, int64_t in_h, int64_t in_w, int64_t out_h,
                                       int64_t out_w, const double *gy, const int64_t *idx,
                                       double *gx)
    void fc_avg_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y)
    void fc_avg_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y)
    void fc_avg_pool2d_backward_f32(const fc_pool2d_params *p, const float *gy, float *gx)
    void fc_avg_pool2d_backward_f64(const fc_pool2d_params *p, const double *gy, double *gx)
    void fc_global_avg_pool2d_forward_f32(int64_t nc, int64_t hw, const float *x, float *y)
    void fc_global_avg_pool2d_forward_f64(int64_t nc, int64_t hw, const double *x, double *y)
    void fc_global_avg_pool2d_backward_f32(int64_t nc, int64_t hw, const float *gy, float *gx)
    void fc_global_avg_pool2d_backward_f64(int64_t nc, int64_t hw, const double *gy, double *gx)

    void fc_linear_forward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *x,
                               const float *w, const float *b, float *y)
    void fc_linear_forward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *x,
                               const double *w, const double *b, double *y)
    void fc_linear_backward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *gy,
                                const float *x, const float *w, float *gx, float *gw, float *gb)
    void fc_linear_backward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *gy,
                                const double *x, const double *w, double *gx, double *gw,
                                double *gb)

    void fc_relu_forward_f32(int64_t size, const float *x, float *y)
    void fc_relu_forward_f64(int64_t size, const double *x, double *y)
    void fc_relu_backward_f32(int64_t size, const float *gy, const float *y, float *gx)
    void fc_relu_backward_f64(int64_t size, const double *gy, const double *y, double *gx)
    void fc_sgd_update_f32(int64_t size, float *p, const float *g, double lr)
    void fc_sgd_update_f64(int64_t size, double *p, const double *g, double lr)

    void fc_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y)
    void fc_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y)
    void fc_log_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y)
    void fc_log_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y)

    enum:
        FC_REDUCTION_NONE
        FC_REDUCTION_MEAN
        FC_REDUCTION_SUM

    void fc_cross_entropy_forward_f32(int64_t n, int64_t c, const float *logits,
                                      const int64_t *target, double label_smoothing,
                                      int reduction, float *out)
    void fc_cross_entropy_forward_f64(int64_t n, int64_t c, const double *logits,
                                      const int64_t *target, double label_smoothing,
                                      int reduction, double *out)
    void fc_cross_entropy_backward_f32(int64_t n, int64_t c, const float *logits,
                                       const int64_t *target, double label_smoothing,
                                       int reduction, const float *grad_loss,
                                       float *grad_logits)
    void fc_cross_entropy_backward_f64(int64_t n, int64_t c, const double *logits,
                                       const int64_t *target, double label_smoothing,
                                       int reduction, const double *grad_loss,
                                       double *grad_logits)

    # normalisation, dropout and activations (csrc/norm.c, csrc/ref_norm.c)
    void fc_batch_norm_forward_train_f32(int64_t n, int64_t c, int64_t hw, const float *x,
                                         const float *gamma, const float *beta, double eps,
                                         float *y, float *mean, float *var, float *invstd)
    void fc_batch_norm_forward_train_f64(int64_t n, int64_t c, int64_t hw, const double *x,
                                         const double *gamma, const double *beta, double eps,
                                         double *y, double *mean, double *var, double *invstd)
    void fc_batch_norm_forward_eval_f32(int64_t n, int64_t c, int64_t hw, const float *x,
                                        const float *mean, const float *var, const float *gamma,
                                        const float *beta, double eps, float *y)
    void fc_batch_norm_forward_eval_f64(int64_t n, int64_t c, int64_t hw, const double *x,
                                        const double *mean, const double *var,
                                        const double *gamma, const double *beta, double eps,
                                        double *y)
    void fc_batch_norm_backward_f32(int64_t n, int64_t c, int64_t hw, const float *gy,
                                    const float *x, const float *gamma, const float *mean,
                                    const float *invstd, int training, float *gx, float *gw,
                                    float *gb)
    void fc_batch_norm_backward_f64(int64_t n, int64_t c, int64_t hw, const double *gy,
                                    const double *x, const double *gamma, const double *mean,
                                    const double *invstd, int training, double *gx, double *gw,
                                    double *gb)
    void fc_layer_norm_forward_f32(int64_t rows, int64_t d, const float *x, const float *gamma,
                                   const float *beta, double eps, float *y, float *mean,
                                   float *rstd)
    void fc_layer_norm_forward_f64(int64_t rows, int64_t d, const double *x,
                                   const double *gamma, const double *beta, double eps,
                                   double *y, double *mean, double *rstd)
    void fc_layer_norm_backward_f32(int64_t rows, int64_t d, const float *gy, const float *x,
                                    const float *gamma, const float *mean, const float *rstd,
                                    float *gx, float *gw, float *gb)
    void fc_layer_norm_backward_f64(int64_t rows, int64_t d, const double *gy, const double *x,
                                    const double *gamma, const double *mean,
                                    const double *rstd, double *gx, double *gw, double *gb)
    void fc_group_norm_forward_f32(int64_t n, int64_t c, int64_t hw, int64_t groups,
                                   const float *x, const float *gamma, const float *beta,
                                   double eps, float *y, float *mean, float *rstd)
    void fc_group_norm_forward_f64(int64_t n, int64_t c, int64_t hw, int64_t groups,
                                   const double *x, const double *gamma, const double *beta,
                                   double eps, double *y, double *mean, double *rstd)
    void fc_group_norm_backward_f32(int64_t n, int64_t c, int64_t hw, int64_t groups,
                                    const float *gy, const float *x, const float *gamma,
                                    const float *mean, const float *rstd, float *gx, float *gw,
                                    float *gb)
    void fc_group_norm_backward_f64(int64_t n, int64_t c, int64_t hw, int64_t groups,
                                    const double *gy, const double *x, const double *gamma,
                                    const double *mean, const double *rstd, double *gx,
                                    double *gw, double *gb)
    void fc_dropout_forward_f32(int64_t size, const float *x, uint64_t seed, uint32_t threshold,
                                double scale, float *y, uint8_t *mask)
    void fc_dropout_forward_f64(int64_t size, const double *x, uint64_t seed,
                                uint32_t threshold, double scale, double *y, uint8_t *mask)
    void fc_dropout_backward_f32(int64_t size, const float *gy, const uint8_t *mask,
                                 double scale, float *gx)
    void fc_dropout_backward_f64(int64_t size, const double *gy, const uint8_t *mask,
                                 double scale, double *gx)
    void fc_sigmoid_forward_f32(int64_t size, const float *x, float *y)
    void fc_sigmoid_forward_f64(int64_t size, const double *x, double *y)
    void fc_sigmoid_backward_f32(int64_t size, const float *gy, const float *y, float *gx)
    void fc_sigmoid_backward_f64(int64_t size, const double *gy, const double *y, double *gx)
    void fc_tanh_forward_f32(int64_t size, const float *x, float *y)
    void fc_tanh_forward_f64(int64_t size, const double *x, double *y)
    void fc_tanh_backward_f32(int64_t size, const float *gy, const float *y, float *gx)
    void fc_tanh_backward_f64(int64_t size, const double *gy, const double *y, double *gx)
    void fc_leaky_relu_forward_f32(int64_t size, const float *x, double negative_slope,
                                   float *y)
    void fc_leaky_relu_forward_f64(int64_t size, const double *x, double negative_slope,
                                   double *y)
    void fc_leaky_relu_backward_f32(int64_t size, const float *gy, const float *x,
                                    double negative_slope, float *gx)
    void fc_leaky_relu_backward_f64(int64_t size, const double *gy, const double *x,
                                    double negative_slope, double *gx)
