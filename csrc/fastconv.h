/*
 * fastconv.h -- the C kernels of fastconv.
 *
 * Plain C11; knows nothing of Python.  Every kernel exists for float32 (suffix _f32) and
 * float64 (suffix _f64).  The public entry points below dispatch at run time to the best
 * implementation for the CPU (or to the one forced with FASTCONV_ISA / fc_set_isa):
 *
 *   "reference"  plain loops, the oracle the optimised kernels are tested against;
 *   "scalar"     the optimised algorithms in portable C;
 *   "avx2"       AVX2 + FMA microkernels;
 *   "avx512"     AVX-512F microkernels;
 *   "neon"       aarch64 Advanced SIMD microkernels (compiled, and the default, on aarch64).
 *
 * Conventions shared by every kernel
 *   - Layout is NCHW; every array is C-contiguous (dense, row-major) unless a leading
 *     dimension argument says otherwise.
 *   - Sizes and indices are int64_t; all index arithmetic is done in 64 bits.
 *   - Inputs are const and never written.  Outputs are fully overwritten (never accumulated
 *     into), so callers may pass uninitialised memory.  Outputs never alias inputs.
 *   - Zero-size dimensions are valid: the kernel then writes nothing but the outputs that
 *     are still non-empty (e.g. grad_weight with n == 0 is all zeros).
 *   - Preconditions are asserted (assert.h); the Python layer validates every argument
 *     before calling, so a failing assert is a bug in fastconv, not in user code.
 *   - Kernels never touch the GIL and may be called concurrently from several threads.
 *   - Kernels may use OpenMP internally with fc_get_num_threads() threads.
 */
#ifndef FASTCONV_H
#define FASTCONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Runtime: threads and instruction-set dispatch                                         */
/* ------------------------------------------------------------------------------------ */

/* Number of OpenMP threads the kernels use.  n >= 1 (asserted).  Without OpenMP the
 * value is stored and reported but every kernel runs on the calling thread. */
void fc_set_num_threads(int n);
int fc_get_num_threads(void);
/* A thread count for kernels called from the calling thread only, overriding the
 * process-wide one there: n >= 1 sets it, n == 0 removes it (asserted n >= 0).
 * fc_get_num_threads() on that thread then reports it.  For callers that run kernels from
 * several threads of their own (one kernel thread per caller thread, say).
 * fc_get_thread_num_threads returns the calling thread's override, 0 if none. */
void fc_set_thread_num_threads(int n);
int fc_get_thread_num_threads(void);
/* 1 if the library was compiled with OpenMP, else 0. */
int fc_has_openmp(void);

/* Instruction-set path.  Names: "reference", "scalar", "avx2", "avx512", "neon".
 * fc_set_isa returns 0 on success, -1 for an unknown name, -2 if the CPU lacks the
 * instructions.  The initial path is taken from the environment variable FASTCONV_ISA if
 * it names a supported path, else the best path the CPU supports. */
int fc_set_isa(const char *name);
const char *fc_get_isa(void);
/* 1 if the named path can run here: it was compiled into this build and this CPU has its
 * instructions; 0 if not (or unknown name). */
int fc_isa_supported(const char *name);
/* 1 if the named path's kernels were compiled into this build (the x86 SIMD paths need GCC
 * or Clang on x86-64, the NEON path GCC or Clang on aarch64). */
int fc_isa_compiled(const char *name);
/* 1 if this CPU has the named path's instructions, whether or not the path was compiled. */
int fc_isa_cpu_has(const char *name);
/* The compiler that built the kernels (name and version), and the flags the build passed
 * (FC_BUILD_FLAGS, set by setup.py; "" if unknown).  Static strings. */
const char *fc_build_compiler(void);
const char *fc_build_flags(void);

/* Which convs take a Winograd path: 0 none; 1 those the cost model picks, as F(2x2, 3x3)
 * (default; the environment variable FASTCONV_WINOGRAD=0..4 sets the initial mode); 2 every
 * conv it applies to (3x3, stride 1, dilation 1, one group) that fits the workspace limit;
 * 3 as 1, with F(4x4, 3x3) where its tile grid pays (about 1.4x faster on the seed
 * networks' 32 -> 64 convs, at several times the float32 rounding error: opt-in); 4 F(4x4,
 * 3x3) wherever it applies.  The weight gradient runs F(2x2) in every mode but 0 (whenever
 * it applies in modes 2 and 4).  Returns the previous mode, or -1 (nothing changed) for
 * another value. */
int fc_set_conv_winograd(int mode);
/* The Winograd mode of fc_set_conv_winograd. */
int fc_get_conv_winograd(void);

/* Upper bound, in bytes, on the scratch memory (im2col / packing buffers) that one conv2d
 * call may allocate; large batches are processed in tiles within it.  Default 64 MiB.
 * bytes >= 1 MiB (asserted). */
void fc_set_workspace_limit(int64_t bytes);
int64_t fc_get_workspace_limit(void);

/* ------------------------------------------------------------------------------------ */
/* The machine: caches, GEMM blocking, limits                                            */
/* ------------------------------------------------------------------------------------ */

/* sizes = {level-1 data cache, level-2 cache (of one core), last-level cache (0 if none)}
 * in bytes, as the GEMM blocking sees them.  Detected once (/sys/devices/system/cpu/cpu0/cache,
 * else sysconf, else sysctl on macOS, else 32 KiB / 512 KiB / 8 MiB).
 * Returns where they came from: */
enum { FC_CACHES_DEFAULT = 0, FC_CACHES_SYSCONF = 1, FC_CACHES_SYSFS = 2,
       FC_CACHES_SYSCTL = 3, FC_CACHES_SET = 4 };
int fc_cache_sizes(int64_t sizes[3]);
/* Use these sizes instead (sizes[0], sizes[1] > 0, sizes[2] >= 0), or detect again (NULL or
 * all zero), and derive the GEMM blocking from them anew.  For tests and tuning: must not
 * run while any kernel runs. */
void fc_set_cache_sizes(const int64_t sizes[3]);

/* The GEMM blocking and microkernel of an ISA path ("" = the current one) for float32
 * (dtype_size 4) or float64 (8).  Returns 0, or -1 for an unknown or unsupported path. */
typedef struct {
    int mr, nr;          /* microkernel tile */
    int64_t kc, mc, nc;  /* cache blocks along k, m (rows of A) and n (columns of B) */
    const char *ukernel; /* the microkernel's name, e.g. fc_f32_gemm_ukernel_6x16__avx2 */
} fc_gemm_blocking;
int fc_get_gemm_blocking(const char *isa, int dtype_size, fc_gemm_blocking *out);

/* Probes of the machine's limits (the benchmark times them; they return work done).
 * fc_probe_fma: `iters` rounds of independent register-only multiply-add chains on the
 * named path's widest vectors (FMA on avx2/avx512; multiply + add at the baseline ISA on
 * scalar), in float32 (dtype_size 4) or float64 (8), on each of nthreads threads; returns
 * the floating-point operations done in all, or -1 for an unsupported path.
 * fc_probe_copy: dst[i] = src[i] for i < n, reps times, split over nthreads threads (each
 * always copies the same slice); returns the bytes moved (read + written). */
double fc_probe_fma(const char *isa, int dtype_size, int nthreads, int64_t iters);
double fc_probe_copy(const float *src, float *dst, int64_t n, int nthreads, int64_t reps);

/* ------------------------------------------------------------------------------------ */
/* GEMM                                                                                  */
/* ------------------------------------------------------------------------------------ */

/* C = alpha * op(A) @ op(B) + beta * C, all row-major.
 *   op(A) is (m, k): A is (m, k) with row stride lda >= k, or, if trans_a, A is (k, m) with
 *   lda >= m.  op(B) is (k, n): B is (k, n) with ldb >= n, or, if trans_b, (n, k) with
 *   ldb >= k.  C is (m, n) with ldc >= n.
 * If beta == 0, C is not read (NaN/garbage in C does not propagate).  m, n, k >= 0. */
void fc_gemm_f32(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                 float *c, int64_t ldc);
void fc_gemm_f64(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                 double *c, int64_t ldc);

/* ------------------------------------------------------------------------------------ */
/* conv2d (PyTorch semantics, cross-correlation)                                         */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    int64_t n, c_in, h, w;          /* input  x: (n, c_in, h, w)                        */
    int64_t c_out, kh, kw;          /* weight w: (c_out, c_in / groups, kh, kw)         */
    int64_t stride_h, stride_w;     /* >= 1                                              */
    int64_t pad_h, pad_w;           /* >= 0, zero padding                                */
    int64_t dil_h, dil_w;           /* >= 1                                              */
    int64_t groups;                 /* >= 1, divides c_in and c_out                      */
    int64_t out_h, out_w;           /* output y: (n, c_out, out_h, out_w), both >= 1,
                                       out = (in + 2*pad - dil*(k-1) - 1) / stride + 1  */
} fc_conv2d_params;

/* y = conv2d(x, w) + bias.  bias: (c_out,) or NULL. */
void fc_conv2d_forward_f32(const fc_conv2d_params *p, const float *x, const float *w,
                           const float *bias, float *y);
void fc_conv2d_forward_f64(const fc_conv2d_params *p, const double *x, const double *w,
                           const double *bias, double *y);

/* Gradients of conv2d given gy: (n, c_out, out_h, out_w).
 *   gx: (n, c_in, h, w), gw: (c_out, c_in/groups, kh, kw), gb: (c_out,).
 * Any of gx, gw, gb may be NULL to skip it.  x is needed only for gw, w only for gx. */
void fc_conv2d_backward_f32(const fc_conv2d_params *p, const float *gy, const float *x,
                            const float *w, float *gx, float *gw, float *gb);
void fc_conv2d_backward_f64(const fc_conv2d_params *p, const double *gy, const double *x,
                            const double *w, double *gx, double *gw, double *gb);

/* conv2d blocks: conv2d + bias, then relu, then optionally a max-pool, run as one kernel
 * (the full-resolution pre-activation is never written out when the block pools). */
typedef struct {
    int relu;        /* 1: y = max(conv + bias, 0) (NaN stays NaN), as fc_relu_forward  */
    int64_t pool;    /* 0: no pooling; k in [2, 15]: then a k x k max-pool with stride k,
                        no padding, dilation 1, floor mode (out_h / k x out_w / k)       */
} fc_conv2d_block;

/* y: (n, c_out, out_h / k, out_w / k) with pool k, else (n, c_out, out_h, out_w).
 * idx (pool only, else NULL; same shape as y): the window position r * k + s of each
 * maximum, by the rule of fc_max_pool2d_forward (first maximum, last NaN).  bias may be
 * NULL. */
void fc_conv2d_block_forward_f32(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                 const float *x, const float *w, const float *bias, float *y,
                                 uint8_t *idx);
void fc_conv2d_block_forward_f64(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                 const double *x, const double *w, const double *bias,
                                 double *y, uint8_t *idx);

/* Gradients of the block given gy (the gradient of its output y, same shape), y itself and
 * idx (pool only): the gradient of the conv's output is gy at each window's maximum (pool),
 * where y > 0 or y is NaN (relu: fc_relu_backward's rule), and 0 elsewhere; from it gx, gw,
 * gb as fc_conv2d_backward (any may be NULL; x is needed only for gw, w only for gx).  The
 * window positions in idx must be < k * k. */
void fc_conv2d_block_backward_f32(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                  const float *gy, const float *y, const uint8_t *idx,
                                  const float *x, const float *w, float *gx, float *gw,
                                  float *gb);
void fc_conv2d_block_backward_f64(const fc_conv2d_params *p, const fc_conv2d_block *b,
                                  const double *gy, const double *y, const uint8_t *idx,
                                  const double *x, const double *w, double *gx, double *gw,
                                  double *gb);

/* ------------------------------------------------------------------------------------ */
/* Pooling                                                                               */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    int64_t n, c, h, w;             /* input x: (n, c, h, w)                             */
    int64_t kh, kw;                 /* >= 1                                              */
    int64_t stride_h, stride_w;     /* >= 1                                              */
    int64_t pad_h, pad_w;           /* 0 <= pad <= k/2                                   */
    int64_t dil_h, dil_w;           /* >= 1 (max pool only; must be 1 for avg pool)      */
    int64_t out_h, out_w;           /* output (n, c, out_h, out_w); ceil_mode is already
                                       folded in: every window starts inside the input
                                       or its left/top padding                           */
    int count_include_pad;          /* avg pool only: 1 counts padding in the divisor    */
} fc_pool2d_params;

/* Max pooling.  Padding counts as -inf.  The first maximum in row-major window order wins;
 * NaN counts as larger than any number and the last NaN in window order wins, as in
 * PyTorch's CPU kernel.  idx (same shape as y, may be NULL) receives the flat position
 * h*W + w of the maximum in its input plane.  Precondition: every window holds at least one
 * input element (the Python layer rejects dilated windows that hold only padding). */
void fc_max_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y,
                               int64_t *idx);
void fc_max_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y,
                               int64_t *idx);

/* gx (nc, in_h, in_w) = scatter-add of gy (nc, out_h, out_w) to the flat positions in idx
 * (nc, out_h, out_w) within each in_h x in_w plane.  Returns the number of indices outside
 * [0, in_h * in_w); those are skipped (never written), so a non-zero return means gx must
 * be discarded.  (The plane shapes let 2x2 windows that tile the input take a path that
 * writes each window once, for indices that lie in their own window.) */
int64_t fc_max_pool2d_backward_f32(int64_t nc, int64_t in_h, int64_t in_w, int64_t out_h,
                                   int64_t out_w, const float *gy, const int64_t *idx,
                                   float *gx);
int64_t fc_max_pool2d_backward_f64(int64_t nc, int64_t in_h, int64_t in_w, int64_t out_h,
                                   int64_t out_w, const double *gy, const int64_t *idx,
                                   double *gx);

/* Average pooling, PyTorch divisor rules: with count_include_pad the divisor is the window
 * clipped to the padded input (h + pad_h, w + pad_w); without, the window clipped to the
 * input itself. */
void fc_avg_pool2d_forward_f32(const fc_pool2d_params *p, const float *x, float *y);
void fc_avg_pool2d_forward_f64(const fc_pool2d_params *p, const double *x, double *y);
void fc_avg_pool2d_backward_f32(const fc_pool2d_params *p, const float *gy, float *gx);
void fc_avg_pool2d_backward_f64(const fc_pool2d_params *p, const double *gy, double *gx);

/* Global average pooling: y (nc,) = mean of each x plane (nc, hw); hw >= 1.
 * Backward: gx (nc, hw) = gy[i] / hw. */
void fc_global_avg_pool2d_forward_f32(int64_t nc, int64_t hw, const float *x, float *y);
void fc_global_avg_pool2d_forward_f64(int64_t nc, int64_t hw, const double *x, double *y);
void fc_global_avg_pool2d_backward_f32(int64_t nc, int64_t hw, const float *gy, float *gx);
void fc_global_avg_pool2d_backward_f64(int64_t nc, int64_t hw, const double *gy, double *gx);

/* ------------------------------------------------------------------------------------ */
/* Linear                                                                                */
/* ------------------------------------------------------------------------------------ */

/* y (n, out_f) = x (n, in_f) @ w (out_f, in_f)^T + b (out_f,) -- the bias add is fused;
 * b may be NULL. */
void fc_linear_forward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *x,
                           const float *w, const float *b, float *y);
void fc_linear_forward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *x,
                           const double *w, const double *b, double *y);

/* gx (n, in_f) = gy @ w;  gw (out_f, in_f) = gy^T @ x;  gb (out_f,) = sum of gy over n.
 * Any output may be NULL to skip it. */
void fc_linear_backward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *gy,
                            const float *x, const float *w, float *gx, float *gw, float *gb);
void fc_linear_backward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *gy,
                            const double *x, const double *w, double *gx, double *gw,
                            double *gb);

/* The linear block: y = max(x @ w^T + b, 0) (NaN stays NaN), the relu applied to each output
 * tile in the GEMM's epilogue; b may be NULL.  Backward from gy and the block's output y:
 * g = gy where y > 0 or y is NaN, 0 elsewhere (fc_relu_backward's rule), then gx, gw, gb as
 * fc_linear_backward (any may be NULL). */
void fc_linear_relu_forward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *x,
                                const float *w, const float *b, float *y);
void fc_linear_relu_forward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *x,
                                const double *w, const double *b, double *y);
void fc_linear_relu_backward_f32(int64_t n, int64_t in_f, int64_t out_f, const float *gy,
                                 const float *y, const float *x, const float *w, float *gx,
                                 float *gw, float *gb);
void fc_linear_relu_backward_f64(int64_t n, int64_t in_f, int64_t out_f, const double *gy,
                                 const double *y, const double *x, const double *w,
                                 double *gx, double *gw, double *gb);

/* ------------------------------------------------------------------------------------ */
/* Elementwise and loss                                                                  */
/* ------------------------------------------------------------------------------------ */

/* y = max(x, 0) elementwise; NaN stays NaN.  gx = 0 where y <= 0, else gy (so a NaN
 * output passes its gradient, as in PyTorch). */
void fc_relu_forward_f32(int64_t size, const float *x, float *y);
void fc_relu_forward_f64(int64_t size, const double *x, double *y);
void fc_relu_backward_f32(int64_t size, const float *gy, const float *y, float *gx);
void fc_relu_backward_f64(int64_t size, const double *gy, const double *y, double *gx);

/* The SGD update in place: p[i] = p[i] - (T)lr * g[i], the product rounded to T before the
 * subtraction (NumPy's `p -= lr * g`; never one fused multiply-add).  p and g do not
 * overlap. */
void fc_sgd_update_f32(int64_t size, float *p, const float *g, double lr);
void fc_sgd_update_f64(int64_t size, double *p, const double *g, double lr);

/* Row-wise softmax / log-softmax of x (rows, cols), cols >= 1, stable (max subtracted). */
void fc_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y);
void fc_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y);
void fc_log_softmax_f32(int64_t rows, int64_t cols, const float *x, float *y);
void fc_log_softmax_f64(int64_t rows, int64_t cols, const double *x, double *y);

/* Cross-entropy of logits (n, c) against class indices target (n,), 0 <= target < c,
 * with label smoothing eps in [0, 1]:
 *   loss_i = (1 - eps) * -log p[i, t_i] + eps / c * sum_j -log p[i, j].
 * reduction: FC_REDUCTION_NONE writes n values to out; MEAN writes sum/n (NaN if n == 0,
 * as in PyTorch); SUM writes the sum (0 if n == 0) -- one value. */
enum { FC_REDUCTION_NONE = 0, FC_REDUCTION_MEAN = 1, FC_REDUCTION_SUM = 2 };
void fc_cross_entropy_forward_f32(int64_t n, int64_t c, const float *logits,
                                  const int64_t *target, double label_smoothing,
                                  int reduction, float *out);
void fc_cross_entropy_forward_f64(int64_t n, int64_t c, const double *logits,
                                  const int64_t *target, double label_smoothing,
                                  int reduction, double *out);

/* Gradient of the loss above w.r.t. the logits, written to grad_logits (n, c).
 * grad_loss holds n values for FC_REDUCTION_NONE, else one value. */
void fc_cross_entropy_backward_f32(int64_t n, int64_t c, const float *logits,
                                   const int64_t *target, double label_smoothing,
                                   int reduction, const float *grad_loss,
                                   float *grad_logits);
void fc_cross_entropy_backward_f64(int64_t n, int64_t c, const double *logits,
                                   const int64_t *target, double label_smoothing,
                                   int reduction, const double *grad_loss,
                                   double *grad_logits);

/* ------------------------------------------------------------------------------------ */
/* Normalisation (PyTorch semantics)                                                     */
/* ------------------------------------------------------------------------------------ */

/* Batch normalisation of x (n, c, hw) -- NCHW with hw = H * W, or (n, c) with hw = 1 --
 * with per-channel statistics over n and hw (m = n * hw values per channel).
 * gamma, beta: (c,) or NULL (meaning 1 and 0).
 * Training: mean[c] and var[c] = the biased variance (divided by m) of the batch,
 *   invstd[c] = 1 / sqrt(var + eps), y = (x - mean) * invstd * gamma + beta.  m >= 1.
 *   x is read at most twice.  (The caller updates running statistics from mean and var.) */
void fc_batch_norm_forward_train_f32(int64_t n, int64_t c, int64_t hw, const float *x,
                                     const float *gamma, const float *beta, double eps,
                                     float *y, float *mean, float *var, float *invstd);
void fc_batch_norm_forward_train_f64(int64_t n, int64_t c, int64_t hw, const double *x,
                                     const double *gamma, const double *beta, double eps,
                                     double *y, double *mean, double *var, double *invstd);
/* Inference: y = (x - mean) / sqrt(var + eps) * gamma + beta with given mean, var (c,). */
void fc_batch_norm_forward_eval_f32(int64_t n, int64_t c, int64_t hw, const float *x,
                                    const float *mean, const float *var, const float *gamma,
                                    const float *beta, double eps, float *y);
void fc_batch_norm_forward_eval_f64(int64_t n, int64_t c, int64_t hw, const double *x,
                                    const double *mean, const double *var, const double *gamma,
                                    const double *beta, double eps, double *y);
/* Gradients given gy (n, c, hw).  mean, invstd (c,): the batch statistics of the forward
 * pass (training != 0) or the running mean and 1 / sqrt(running_var + eps) (training == 0).
 * With xhat = (x - mean) * invstd and sums over n and hw:
 *   gw = sum(gy * xhat), gb = sum(gy);
 *   training: gx = gamma * invstd * (gy - gb / m - xhat * gw / m);
 *   inference: gx = gamma * invstd * gy.
 * gx, gw, gb may each be NULL to skip it.  gy and x are read at most twice. */
void fc_batch_norm_backward_f32(int64_t n, int64_t c, int64_t hw, const float *gy,
                                const float *x, const float *gamma, const float *mean,
                                const float *invstd, int training, float *gx, float *gw,
                                float *gb);
void fc_batch_norm_backward_f64(int64_t n, int64_t c, int64_t hw, const double *gy,
                                const double *x, const double *gamma, const double *mean,
                                const double *invstd, int training, double *gx, double *gw,
                                double *gb);

/* Layer normalisation of each row of x (rows, d), d >= 1: mean[r], rstd[r] =
 * 1 / sqrt(biased var + eps), y = (x - mean) * rstd * gamma + beta; gamma, beta (d,) or NULL. */
void fc_layer_norm_forward_f32(int64_t rows, int64_t d, const float *x, const float *gamma,
                               const float *beta, double eps, float *y, float *mean,
                               float *rstd);
void fc_layer_norm_forward_f64(int64_t rows, int64_t d, const double *x, const double *gamma,
                               const double *beta, double eps, double *y, double *mean,
                               double *rstd);
/* Gradients: with xhat = (x - mean) * rstd and g = gy * gamma,
 *   gx = rstd * (g - mean_d(g) - xhat * mean_d(g * xhat)) per row;
 *   gw (d,) = sum over rows of gy * xhat; gb (d,) = sum over rows of gy.
 * gx, gw, gb may each be NULL. */
void fc_layer_norm_backward_f32(int64_t rows, int64_t d, const float *gy, const float *x,
                                const float *gamma, const float *mean, const float *rstd,
                                float *gx, float *gw, float *gb);
void fc_layer_norm_backward_f64(int64_t rows, int64_t d, const double *gy, const double *x,
                                const double *gamma, const double *mean, const double *rstd,
                                double *gx, double *gw, double *gb);

/* Group normalisation of x (n, c, hw) in `groups` groups of c / groups channels (groups
 * divides c; (c / groups) * hw >= 1): mean, rstd (n, groups) over each group's values;
 * y = (x - mean) * rstd * gamma[ch] + beta[ch]; gamma, beta (c,) or NULL. */
void fc_group_norm_forward_f32(int64_t n, int64_t c, int64_t hw, int64_t groups,
                               const float *x, const float *gamma, const float *beta,
                               double eps, float *y, float *mean, float *rstd);
void fc_group_norm_forward_f64(int64_t n, int64_t c, int64_t hw, int64_t groups,
                               const double *x, const double *gamma, const double *beta,
                               double eps, double *y, double *mean, double *rstd);
/* Gradients as for layer norm, per (sample, group) row, with g = gy * gamma[ch];
 * gw, gb (c,) sum over n and hw.  gx, gw, gb may each be NULL. */
void fc_group_norm_backward_f32(int64_t n, int64_t c, int64_t hw, int64_t groups,
                                const float *gy, const float *x, const float *gamma,
                                const float *mean, const float *rstd, float *gx, float *gw,
                                float *gb);
void fc_group_norm_backward_f64(int64_t n, int64_t c, int64_t hw, int64_t groups,
                                const double *gy, const double *x, const double *gamma,
                                const double *mean, const double *rstd, double *gx,
                                double *gw, double *gb);

/* ------------------------------------------------------------------------------------ */
/* Dropout and activations                                                               */
/* ------------------------------------------------------------------------------------ */

/* Inverted dropout.  Element i is kept iff (h >> 8) >= threshold, where h is the 32-bit
 * counter-based hash of (seed, i) defined in internal.h (fc_dropout_hash) and threshold =
 * ceil(p * 2^24) <= 2^24, so it is kept with probability 1 - p (to 2^-24).  mask[i] = 1 if
 * kept, else 0; y[i] = x[i] * (kept ? scale : 0) (so NaN stays NaN, as in PyTorch).  The
 * mask depends only on (seed, i): not on threads or ISA. */
void fc_dropout_forward_f32(int64_t size, const float *x, uint64_t seed, uint32_t threshold,
                            double scale, float *y, uint8_t *mask);
void fc_dropout_forward_f64(int64_t size, const double *x, uint64_t seed, uint32_t threshold,
                            double scale, double *y, uint8_t *mask);
/* gx[i] = gy[i] * (mask[i] ? scale : 0); mask holds 0 or non-zero bytes. */
void fc_dropout_backward_f32(int64_t size, const float *gy, const uint8_t *mask, double scale,
                             float *gx);
void fc_dropout_backward_f64(int64_t size, const double *gy, const uint8_t *mask,
                             double scale, double *gx);

/* y = 1 / (1 + exp(-x)); backward from the output: gx = gy * y * (1 - y). */
void fc_sigmoid_forward_f32(int64_t size, const float *x, float *y);
void fc_sigmoid_forward_f64(int64_t size, const double *x, double *y);
void fc_sigmoid_backward_f32(int64_t size, const float *gy, const float *y, float *gx);
void fc_sigmoid_backward_f64(int64_t size, const double *gy, const double *y, double *gx);
/* y = tanh(x); backward from the output: gx = gy * (1 - y * y). */
void fc_tanh_forward_f32(int64_t size, const float *x, float *y);
void fc_tanh_forward_f64(int64_t size, const double *x, double *y);
void fc_tanh_backward_f32(int64_t size, const float *gy, const float *y, float *gx);
void fc_tanh_backward_f64(int64_t size, const double *gy, const double *y, double *gx);
/* y = x > 0 ? x : x * negative_slope; backward from the input: gx = x > 0 ? gy :
 * gy * negative_slope (a NaN input takes the slope, as in PyTorch). */
void fc_leaky_relu_forward_f32(int64_t size, const float *x, double negative_slope, float *y);
void fc_leaky_relu_forward_f64(int64_t size, const double *x, double negative_slope,
                               double *y);
void fc_leaky_relu_backward_f32(int64_t size, const float *gy, const float *x,
                                double negative_slope, float *gx);
void fc_leaky_relu_backward_f64(int64_t size, const double *gy, const double *x,
                                double negative_slope, double *gx);

#ifdef __cplusplus
}
#endif

#endif /* FASTCONV_H */
