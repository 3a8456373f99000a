/*
 * gemm_ukernels_neon.c -- aarch64 NEON GEMM microkernels: 8x12 f32 and 8x6 f64
 * (24 of the 32 q registers hold accumulators, 3 the B row, 1 the broadcast A value;
 * vectors along N for row-major C).  The same template as the x86 paths, at 128 bits.
 */
#include "gemm_internal.h"

#ifdef FC_ARM_NEON
#include <arm_neon.h>

#define FC_UK_T float
#define FC_UK_SET1(x) vdupq_n_f32(x)
#define FC_UK_VL 4
#define FC_UK_MR 8
#define FC_UK_NV 3
#define FC_UK_NAME fc_f32_gemm_ukernel_8x12__neon
#define FC_UK_DOTNAME fc_f32_gemm_dot__neon
#define FC_UK_INAME fc_f32_igemm_ukernel_8x12__neon
#include "gemm_ukernel_tmpl.h"
#undef FC_UK_T
#undef FC_UK_VL
#undef FC_UK_MR
#undef FC_UK_NV
#undef FC_UK_NAME
#undef FC_UK_INAME
#undef FC_UK_DOTNAME
#undef FC_UK_SET1

#define FC_UK_T double
#define FC_UK_SET1(x) vdupq_n_f64(x)
#define FC_UK_VL 2
#define FC_UK_MR 8
#define FC_UK_NV 3
#define FC_UK_NAME fc_f64_gemm_ukernel_8x6__neon
#define FC_UK_DOTNAME fc_f64_gemm_dot__neon
#define FC_UK_INAME fc_f64_igemm_ukernel_8x6__neon
#include "gemm_ukernel_tmpl.h"
#undef FC_UK_T
#undef FC_UK_VL
#undef FC_UK_MR
#undef FC_UK_NV
#undef FC_UK_NAME
#undef FC_UK_INAME
#undef FC_UK_DOTNAME
#undef FC_UK_SET1
#else
typedef int fc_gemm_ukernels_neon_empty;
#endif
