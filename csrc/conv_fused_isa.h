/*
 * conv_fused_isa.h -- instantiates the kernels of winograd_tmpl.h and block_tmpl.h for both
 * dtypes under one ISA path; included by conv_fused.c once per path, inside that path's
 * target region, with FC_FUSED_ISA defined (scalar, avx2, avx512, neon).
 */
#define FC_WG_ISA FC_FUSED_ISA
#define FC_BK_ISA FC_FUSED_ISA

#define FC_WG_T float
#define FC_WG_UT uint32_t
#define FC_WG_TVN 8
#define FC_WG_PFX fc_f32_winograd_
#include "winograd_tmpl.h"
#undef FC_WG_T
#undef FC_WG_UT
#undef FC_WG_TVN
#undef FC_WG_PFX
#define FC_WG_T double
#define FC_WG_UT uint64_t
#define FC_WG_TVN 4
#define FC_WG_PFX fc_f64_winograd_
#include "winograd_tmpl.h"
#undef FC_WG_T
#undef FC_WG_UT
#undef FC_WG_TVN
#undef FC_WG_PFX

#define FC_BK_T float
#define FC_BK_UT uint32_t
#define FC_BK_TV 8
#define FC_BK_PFX fc_f32_block_
#ifdef FC_FUSED_X86 /* the window positions' widening load (AVX2) */
#define FC_BK_LOADPOS(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#endif
#include "block_tmpl.h"
#undef FC_BK_T
#undef FC_BK_UT
#undef FC_BK_TV
#undef FC_BK_PFX
#undef FC_BK_LOADPOS
#define FC_BK_T double
#define FC_BK_UT uint64_t
#define FC_BK_TV 4
#define FC_BK_PFX fc_f64_block_
#ifdef FC_FUSED_X86
#define FC_BK_LOADPOS(p) _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(fc_fused_load4(p)))
#endif
#include "block_tmpl.h"
#undef FC_BK_T
#undef FC_BK_UT
#undef FC_BK_TV
#undef FC_BK_PFX
#undef FC_BK_LOADPOS

#undef FC_WG_ISA
#undef FC_BK_ISA
