/*
 * ref_conv.c -- reference conv2d kernels, forward and backward (plain loops).
 *
 * The algorithms are written once in ref_conv.inc and instantiated here for float32 and
 * float64 with the type macro FC_T and the name macro FC_NAME (appends _f32 / _f64).
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>

#include "internal.h"
#include "ref.h"

#define FC_T float
#define FC_NAME(name) name##_f32
#include "ref_conv.inc"
#undef FC_T
#undef FC_NAME

#define FC_T double
#define FC_NAME(name) name##_f64
#include "ref_conv.inc"
#undef FC_T
#undef FC_NAME
