/*
 * gemm_ukernels_neon.c -- aarch64 NEON GEMM microkernels: 6x16 f32 and 6x8 f64
 * (24 of the 32 q registers hold accumulators, 4 the B row, 1 the broadcast A value;
 * vectors along N for row-major C).  The same template as the x86 paths, at 128 bits.
 * NR is a multiple of 32 bytes, as the Winograd path needs (8x12 / 8x6 tiles would fit the
 * registers as well, but would leave NEON without Winograd).
 */
#include "gemm_internal.h"

#ifdef FC_ARM_NEON
#include <arm_neon.h>

#define FC_UK_T float
#define FC_UK_SET1(x) vdupq_n_f32(x)
#define FC_UK_VL 4
#define FC_UK_MR 6
#define FC_UK_NV 4
#define FC_UK_NAME fc_f32_gemm_ukernel_6x16__neon
#define FC_UK_DOTNAME fc_f32_gemm_dot__neon
#define FC_UK_INAME fc_f32_igemm_ukernel_6x16__neon
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
#define FC_UK_MR 6
#define FC_UK_NV 4
#define FC_UK_NAME fc_f64_gemm_ukernel_6x8__neon
#define FC_UK_DOTNAME fc_f64_gemm_dot__neon
#define FC_UK_INAME fc_f64_igemm_ukernel_6x8__neon
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
