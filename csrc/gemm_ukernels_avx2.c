/*
 * gemm_ukernels_avx2.c -- AVX2+FMA GEMM microkernels: 6x16 f32 and 6x8 f64
 * (12 ymm accumulators, vectors along N for row-major C).
 */
#include "gemm_internal.h"

#ifdef FC_HAVE_X86_UKERNELS
#include <immintrin.h>
FC_TARGET_BEGIN(FC_TARGET_STR_AVX2)

#define FC_UK_T float
#define FC_UK_SET1(x) _mm256_set1_ps(x)
#define FC_UK_VL 8
#define FC_UK_MR 6
#define FC_UK_NV 2
#define FC_UK_NAME fc_f32_gemm_ukernel_6x16__avx2
#define FC_UK_DOTNAME fc_f32_gemm_dot__avx2
#define FC_UK_INAME fc_f32_igemm_ukernel_6x16__avx2
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
#define FC_UK_SET1(x) _mm256_set1_pd(x)
#define FC_UK_VL 4
#define FC_UK_MR 6
#define FC_UK_NV 2
#define FC_UK_NAME fc_f64_gemm_ukernel_6x8__avx2
#define FC_UK_DOTNAME fc_f64_gemm_dot__avx2
#define FC_UK_INAME fc_f64_igemm_ukernel_6x8__avx2
#include "gemm_ukernel_tmpl.h"
#undef FC_UK_T
#undef FC_UK_VL
#undef FC_UK_MR
#undef FC_UK_NV
#undef FC_UK_NAME
#undef FC_UK_INAME
#undef FC_UK_DOTNAME
#undef FC_UK_SET1

FC_TARGET_END
#else
typedef int fc_gemm_ukernels_avx2_empty;
#endif
