/*
 * conv_direct.c -- the direct conv2d kernels of conv_direct_tmpl.h for every ISA path:
 *   fc_<dtype>_conv2d_direct_plane__<isa>  one output channel per group (Cout=1, depthwise);
 *   fc_<dtype>_conv2d_cin1_3x3__<isa>      one input channel, 3x3 stride 1 (AVX2/AVX-512).
 */
#include "conv_internal.h"

#define FC_CD_ISA scalar
#define FC_CD_T float
#define FC_CD_PFX fc_f32_conv2d_
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_PFX
#define FC_CD_T double
#define FC_CD_PFX fc_f64_conv2d_
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_PFX
#undef FC_CD_ISA

#ifdef FC_HAVE_X86_UKERNELS
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#define FC_CD_ISA avx2
#define FC_CD_T float
#define FC_CD_PFX fc_f32_conv2d_
#define FC_CD_VL 8
#define FC_CD_SET1(x) _mm256_set1_ps(x)
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#define FC_CD_T double
#define FC_CD_PFX fc_f64_conv2d_
#define FC_CD_VL 4
#define FC_CD_SET1(x) _mm256_set1_pd(x)
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#undef FC_CD_ISA
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#define FC_CD_ISA avx512
#define FC_CD_T float
#define FC_CD_PFX fc_f32_conv2d_
#define FC_CD_VL 16
#define FC_CD_SET1(x) _mm512_set1_ps(x)
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#define FC_CD_T double
#define FC_CD_PFX fc_f64_conv2d_
#define FC_CD_VL 8
#define FC_CD_SET1(x) _mm512_set1_pd(x)
#include "conv_direct_tmpl.h"
#undef FC_CD_T
#undef FC_CD_PFX
#undef FC_CD_VL
#undef FC_CD_SET1
#undef FC_CD_ISA
#pragma GCC pop_options
#endif
