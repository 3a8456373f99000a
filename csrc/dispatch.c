/*
 * dispatch.c -- the public fc_* kernel entry points of fastconv.h.
 *
 * Each entry point picks an implementation for the instruction-set path returned by
 * fc_current_isa() (FC_ISA_REFERENCE / SCALAR / AVX2 / AVX512).  FC_ISA_REFERENCE always
 * takes the plain loops of ref_*.c (declared in ref.h); the other paths take the optimised
 * kernels: the packed GEMM engine for gemm, linear and conv2d (gemm.c, linear.c, conv.c,
 * declared in gemm_internal.h / conv_internal.h) and the kernels of pool.c, elementwise.c
 * and loss.c (declared in pool_loss.h).  The entry points are written once, in
 * dispatch.inc, and instantiated here for float32 and float64.  (The runtime functions --
 * threads, ISA, workspace limit -- live in runtime.c.)
 */
#include <stdint.h>

#include "internal.h"
#include "ref.h"
#include "gemm_internal.h"
#include "pool_loss.h"
#include "norm_internal.h"

#define FC_T float
#define FC_NAME(name) name##_f32
#include "dispatch.inc"
#undef FC_T
#undef FC_NAME

#define FC_T double
#define FC_NAME(name) name##_f64
#include "dispatch.inc"
#undef FC_T
#undef FC_NAME
