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
#define FC_DECLARE_CONV_CIN1(T, PFX, ISA)                                                    \
    void PFX##cin1_3x3__##ISA(const T *xp, int64_t ldx, int64_t OH, int64_t OW, int64_t cout,\
                              const T *w, const T *bias, T *y);                           \
    void PFX##cin1_3x3_dw__##ISA(const T *xp, int64_t ldx, int64_t OH, int64_t OW,          \
                                 int64_t cout, const T *gy, T *gw, T *gb);                   \
    void PFX##dw_rows__##ISA(int64_t nimg, const T *xp, int64_t xstride, const int64_t *boff,\
                             int64_t K, int64_t Wp, const T *gy, int64_t gstride,            \
                             int64_t cout, int64_t OH, int64_t OW, T *gw);

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
