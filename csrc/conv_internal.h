/*
 * conv_internal.h -- direct conv2d kernels (conv_direct.c) used by the conv engine.
 * Not part of the public API.
 */
#ifndef FASTCONV_CONV_INTERNAL_H
#define FASTCONV_CONV_INTERNAL_H

#include "gemm_internal.h"

#define FC_DECLARE_CONV_DIRECT(T, PFX, ISA)                                                  \
    void PFX##direct_plane__##ISA(const fc_conv2d_params *p, const T *x, const T *w, T bias, \
                                  T *y);
/* The direct kernels' input channels at most (the fewcin kernels: MNIST's 1, RGB's 3). */
#define FC_FEWCIN_MAX 4

#define FC_DECLARE_CONV_CIN1(T, PFX, ISA)                                                    \
    void PFX##fewcin_3x3__##ISA(const T *xp, int64_t ldx, int64_t ps, int64_t C, int64_t OH, \
                                int64_t OW, int64_t cout, const T *w, const T *bias, T *y);  \
    void PFX##cin1_3x3_dw__##ISA(const T *xp, int64_t ldx, int64_t OH, int64_t OW,          \
                                 int64_t cout, const T *gy, T *gw, T *gb);                   \
    void PFX##dw_rows__##ISA(int64_t nimg, const T *xp, int64_t xstride, const int64_t *boff,\
                             int64_t K, int64_t Wp, const T *gy, int64_t gstride,            \
                             int64_t cout, int64_t OH, int64_t OW, T *gw);               \
    void PFX##fewcin_3x3_pool2__##ISA(const T *xq, int64_t ldq, int64_t qs, int64_t C,       \
                                      int64_t ph0, int64_t ph1, int64_t PH, int64_t PW,      \
                                      int64_t cout, const T *w, const T *bias, int relu,     \
                                      T *out, uint8_t *idx);                                 \
    void PFX##fewcin_3x3_dw_pool2__##ISA(const T *xq, int64_t ldq, int64_t qs, int64_t C,    \
                                         int64_t PH, int64_t PW, int64_t cout, const T *gp,  \
                                         const T *yp, const uint8_t *idx, int relu, T *acc);

/* Where a conv pass (or block) puts its results: y, and with pool == 2 the pooled y and the
 * window positions idx; relu applied after the bias if relu != 0. */
typedef struct {
    int relu;
    int64_t pool;
    void *y;
    uint8_t *idx;
} fc_conv_block_out;

/* Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms and the block epilogues (conv_fused.c). */
#define FC_DECLARE_WINOGRAD(T, PFX, ISA)                                                     \
    void PFX##pad_rows__##ISA(const T *x, int64_t H, int64_t W, int64_t pad_h,               \
                              int64_t pad_w, int64_t r0, int64_t rows, int64_t lp, T *xp,    \
                              T *pr);                                                        \
    void PFX##input_block__##ISA(const T *xs, int64_t rows, int64_t ld, int64_t nch,         \
                                 int64_t rb, int64_t twp, T *v, int64_t vxs, int64_t nr,     \
                                 int64_t kc, int64_t t0);                                    \
    void PFX##output_block__##ISA(const T *m, int64_t mxs, int64_t ldm, int64_t M,           \
                                  int64_t rb, int64_t twp, int64_t t0, const T *bias,        \
                                  int relu, T *y,                                            \
                                  int64_t OH, int64_t OW, int64_t th0);                      \
    void PFX##output_pool_block__##ISA(const T *m, int64_t mxs, int64_t ldm, int64_t M,      \
                                       int64_t rb, int64_t twp, int64_t t0, const T *bias,   \
                                       int relu,                                             \
                                       T *out, uint8_t *idx, int64_t PH, int64_t PW,         \
                                       int64_t th0);                                         \
    void PFX##split4_rows__##ISA(const T *x, int64_t H, int64_t W, int64_t pad_h,            \
                                 int64_t pad_w, int64_t r0, int64_t rows, int64_t ld, T *xp,  \
                                 T *pr);                                                     \
    void PFX##input4_block__##ISA(const T *xs, int64_t rows, int64_t ld, int64_t nch,        \
                                  int64_t rb, int64_t twp, T *v, int64_t vxs, int64_t nr,    \
                                  int64_t kc, int64_t t0);                                   \
    void PFX##output4_block__##ISA(const T *m, int64_t mxs, int64_t ldm, int64_t M,          \
                                   int64_t rb, int64_t twp, int64_t t0, const T *bias,       \
                                   int relu, T *y,                                           \
                                   int64_t OH, int64_t OW, int64_t th0);                     \
    void PFX##output4_pool_block__##ISA(const T *m, int64_t mxs, int64_t ldm, int64_t M,     \
                                        int64_t rb, int64_t twp, int64_t t0, const T *bias,  \
                                        int relu,                                            \
                                        T *out, uint8_t *idx, int64_t PH, int64_t PW,        \
                                        int64_t th0);                                         \
    void PFX##to_channels_last__##ISA(const T *plane, int64_t C, int64_t h, int64_t w,       \
                                      int64_t r0, int64_t c0, int64_t ldr, int64_t ldc,      \
                                      T *out);                                               \
    void PFX##dw_image__##ISA(const T *xt, const T *gt, int64_t TH, int64_t TW, int64_t cp,  \
                              int64_t mp, int64_t vr, int64_t dr, T *v, T *dm, int64_t ldt,  \
                              int64_t t0, int64_t vs, int64_t ms);
#define FC_DECLARE_BLOCK(T, PFX, ISA)                                                        \
    void PFX##pool_plane__##ISA(const T *y, int64_t OH, int64_t OW, int64_t k, int relu,     \
                                T *out, uint8_t *idx);                                       \
    void PFX##unpool_plane__##ISA(const T *gy, const T *y, const uint8_t *idx, int64_t OH,   \
                                  int64_t OW, int64_t k, int relu, T *gx);
#define FC_DECLARE_FUSED(ISA)                                                                \
    FC_DECLARE_WINOGRAD(float, fc_f32_winograd_, ISA)                                        \
    FC_DECLARE_WINOGRAD(double, fc_f64_winograd_, ISA)                                       \
    FC_DECLARE_BLOCK(float, fc_f32_block_, ISA)                                              \
    FC_DECLARE_BLOCK(double, fc_f64_block_, ISA)
FC_DECLARE_FUSED(scalar)
#ifdef FC_HAVE_X86_UKERNELS
FC_DECLARE_FUSED(avx2)
FC_DECLARE_FUSED(avx512)
#endif
#ifdef FC_ARM_NEON
FC_DECLARE_FUSED(neon)
FC_DECLARE_CONV_DIRECT(float, fc_f32_conv2d_, neon)
FC_DECLARE_CONV_DIRECT(double, fc_f64_conv2d_, neon)
FC_DECLARE_CONV_CIN1(float, fc_f32_conv2d_, neon)
FC_DECLARE_CONV_CIN1(double, fc_f64_conv2d_, neon)
#endif

FC_DECLARE_CONV_DIRECT(float, fc_f32_conv2d_, scalar)
FC_DECLARE_CONV_DIRECT(double, fc_f64_conv2d_, scalar)
#ifdef FC_HAVE_X86_UKERNELS
FC_DECLARE_CONV_DIRECT(float, fc_f32_conv2d_, avx2)
FC_DECLARE_CONV_DIRECT(double, fc_f64_conv2d_, avx2)
FC_DECLARE_CONV_DIRECT(float, fc_f32_conv2d_, avx512)
FC_DECLARE_CONV_DIRECT(double, fc_f64_conv2d_, avx512)
FC_DECLARE_CONV_CIN1(float, fc_f32_conv2d_, avx2)
FC_DECLARE_CONV_CIN1(double, fc_f64_conv2d_, avx2)
FC_DECLARE_CONV_CIN1(float, fc_f32_conv2d_, avx512)
FC_DECLARE_CONV_CIN1(double, fc_f64_conv2d_, avx512)
#endif

#endif /* FASTCONV_CONV_INTERNAL_H */
