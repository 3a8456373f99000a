/*
 * ref_norm.c -- reference normalisation, dropout and activation kernels (plain loops):
 * batch_norm, layer_norm, group_norm, dropout, sigmoid, tanh, leaky_relu.
 *
 * The algorithms are written once in ref_norm.inc and instantiated here for float32 and
 * float64 with the type macro FC_T and the name macro FC_NAME (appends _f32 / _f64).
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>

#include "internal.h"
#include "norm_internal.h"

#define FC_T float
#define FC_NAME(name) name##_f32
#include "ref_norm.inc"
#undef FC_T
#undef FC_NAME

#define FC_T double
#define FC_NAME(name) name##_f64
#include "ref_norm.inc"
#undef FC_T
#undef FC_NAME
