/*
 * conv.c -- conv2d forward and backward on the packed GEMM engine and the direct kernels
 * (see conv_tmpl.h for the algorithm).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"
#include "pool_loss.h"

/* Packing and im2col copy short rows: keep those loops inline instead of turning them into
 * memcpy/memset calls, whose call overhead dominated for rows of a few dozen values. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

/* names the template builds with FC_FN(...) */
#define direct_plane_scalar_f32 fc_f32_conv2d_direct_plane__scalar
#define direct_plane_scalar_f64 fc_f64_conv2d_direct_plane__scalar
/* fc_<sfx>_<kind>_<name>__<isa>, the per-ISA kernels of conv_fused.c */
#define FC_KN_(sfx, kind, name, isa) fc_##sfx##_##kind##_##name##__##isa
#define FC_KN_X(sfx, kind, name, isa) FC_KN_(sfx, kind, name, isa)
#define FC_KN(kind, name, isa) FC_KN_X(FC_SFX, kind, name, isa)
#ifdef FC_HAVE_X86_UKERNELS
#define direct_plane_avx2_f32 fc_f32_conv2d_direct_plane__avx2
#define direct_plane_avx2_f64 fc_f64_conv2d_direct_plane__avx2
#define direct_plane_avx512_f32 fc_f32_conv2d_direct_plane__avx512
#define direct_plane_avx512_f64 fc_f64_conv2d_direct_plane__avx512
#define cin1_3x3_dw_avx2_f32 fc_f32_conv2d_cin1_3x3_dw__avx2
#define cin1_3x3_dw_avx2_f64 fc_f64_conv2d_cin1_3x3_dw__avx2
#define cin1_3x3_dw_avx512_f32 fc_f32_conv2d_cin1_3x3_dw__avx512
#define cin1_3x3_dw_avx512_f64 fc_f64_conv2d_cin1_3x3_dw__avx512
#define dw_rows_avx2_f32 fc_f32_conv2d_dw_rows__avx2
#define dw_rows_avx2_f64 fc_f64_conv2d_dw_rows__avx2
#define dw_rows_avx512_f32 fc_f32_conv2d_dw_rows__avx512
#define dw_rows_avx512_f64 fc_f64_conv2d_dw_rows__avx512
#endif
#ifdef FC_ARM_NEON
#define direct_plane_neon_f32 fc_f32_conv2d_direct_plane__neon
#define direct_plane_neon_f64 fc_f64_conv2d_direct_plane__neon
#define cin1_3x3_dw_neon_f32 fc_f32_conv2d_cin1_3x3_dw__neon
#define cin1_3x3_dw_neon_f64 fc_f64_conv2d_cin1_3x3_dw__neon
#define dw_rows_neon_f32 fc_f32_conv2d_dw_rows__neon
#define dw_rows_neon_f64 fc_f64_conv2d_dw_rows__neon
#endif

#define FC_T float
#define FC_UT uint32_t /* unsigned integer of the same size, for bit masks */
#define FC_SFX f32
#include "conv_tmpl.h"
#undef FC_T
#undef FC_UT
#undef FC_SFX

#define FC_T double
#define FC_UT uint64_t
#define FC_SFX f64
#include "conv_tmpl.h"
#undef FC_T
#undef FC_UT
#undef FC_SFX
