/*
 * gemm_ukernels_avx512.c -- AVX-512F GEMM microkernels: 8x32 f32 and 8x16 f64
 * (16 zmm accumulators, vectors along N for row-major C).
 */
#include "gemm_internal.h"

#ifdef FC_HAVE_X86_UKERNELS
#include <immintrin.h>
FC_TARGET_BEGIN(FC_TARGET_STR_AVX512)

#define FC_UK_T float
#define FC_UK_SET1(x) _mm512_set1_ps(x)
#define FC_UK_VL 16
#define FC_UK_MR 8
#define FC_UK_NV 2
#define FC_UK_NAME fc_f32_gemm_ukernel_8x32__avx512
#define FC_UK_DOTNAME fc_f32_gemm_dot__avx512
#define FC_UK_INAME fc_f32_igemm_ukernel_8x32__avx512
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
#define FC_UK_SET1(x) _mm512_set1_pd(x)
#define FC_UK_VL 8
#define FC_UK_MR 8
#define FC_UK_NV 2
#define FC_UK_NAME fc_f64_gemm_ukernel_8x16__avx512
#define FC_UK_DOTNAME fc_f64_gemm_dot__avx512
#define FC_UK_INAME fc_f64_igemm_ukernel_8x16__avx512
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
typedef int fc_gemm_ukernels_avx512_empty;
#endif
