/*
 * ref_elementwise.c -- reference relu, softmax, log-softmax and cross-entropy kernels
 * (plain loops).
 *
 * The algorithms are written once in ref_elementwise.inc and instantiated here for float32 and
 * float64 with the type macro FC_T and the name macro FC_NAME (appends _f32 / _f64).
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>

#include "internal.h"
#include "ref.h"

#define FC_T float
#define FC_NAME(name) name##_f32
#include "ref_elementwise.inc"
#undef FC_T
#undef FC_NAME

#define FC_T double
#define FC_NAME(name) name##_f64
#include "ref_elementwise.inc"
#undef FC_T
#undef FC_NAME
