/*
 * conv_fused.c -- the per-ISA kernels of the fused conv paths, for every ISA path:
 *   fc_<dtype>_winograd_input_row__<isa>        Winograd F(2x2, 3x3) input tiles -> the 16
 *                                               GEMM operands (winograd_tmpl.h);
 *   fc_<dtype>_winograd_output_row__<isa>       the 16 products -> output rows (+ bias, relu);
 *   fc_<dtype>_winograd_output_pool_row__<isa>  the same with a 2x2 max-pool fused;
 *   fc_<dtype>_block_pool_plane__<isa>          a conv output plane -> relu + k x k max-pool
 *                                               with byte window positions (block_tmpl.h);
 *   fc_<dtype>_block_unpool_plane__<isa>        its backward.
 * The drivers are conv_winograd_tmpl.h and the block functions of conv_tmpl.h.
 */
#include "conv_internal.h"
#include "vec_shuffle.h"

#ifdef FC_HAVE_X86_UKERNELS
#include <immintrin.h>
/* four bytes at p as an int (unaligned) */
static inline int fc_fused_load4(const uint8_t *p)
{
    int v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
#endif

#define FC_FUSED_ISA scalar
#include "conv_fused_isa.h"
#undef FC_FUSED_ISA

#ifdef FC_HAVE_X86_UKERNELS
FC_TARGET_BEGIN(FC_TARGET_STR_AVX2)
#define FC_FUSED_ISA avx2
#define FC_FUSED_X86 1
#include "conv_fused_isa.h"
#undef FC_FUSED_X86
#undef FC_FUSED_ISA
FC_TARGET_END

FC_TARGET_BEGIN(FC_TARGET_STR_AVX512)
#define FC_FUSED_ISA avx512
#define FC_FUSED_X86 1
#include "conv_fused_isa.h"
#undef FC_FUSED_X86
#undef FC_FUSED_ISA
FC_TARGET_END
#endif

#ifdef FC_ARM_NEON /* the aarch64 baseline: no target region */
#define FC_FUSED_ISA neon
#include "conv_fused_isa.h"
#undef FC_FUSED_ISA
#endif
