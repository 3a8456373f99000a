/*
 * vec_shuffle.h -- even/odd deinterleave and interleave of 32-byte GCC vectors (8 floats or
 * 4 doubles), for the kernels that move between 2x2 tiles or windows and rows.  Defined as
 * FC_VEC_EVEN(tv, a, b) etc. with tv the lane count (8 or 4) where the compiler has
 * __builtin_shufflevector (Clang; GCC 12 and later); FC_VEC_SHUFFLE says so.
 */
#ifndef FASTCONV_VEC_SHUFFLE_H
#define FASTCONV_VEC_SHUFFLE_H

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define FC_VEC_SHUFFLE 1
#define FC_VEC_EVEN_8(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define FC_VEC_ODD_8(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#define FC_VEC_ZIPLO_8(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define FC_VEC_ZIPHI_8(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#define FC_VEC_EVEN_4(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define FC_VEC_ODD_4(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#define FC_VEC_ZIPLO_4(a, b) __builtin_shufflevector(a, b, 0, 4, 1, 5)
#define FC_VEC_ZIPHI_4(a, b) __builtin_shufflevector(a, b, 2, 6, 3, 7)
#define FC_VEC_CAT_(a, b) a##b
#define FC_VEC_CAT(a, b) FC_VEC_CAT_(a, b)
/* even lanes of the concatenation a:b, odd lanes; the low / high halves of the interleave */
#define FC_VEC_EVEN(tv, a, b) FC_VEC_CAT(FC_VEC_EVEN_, tv)(a, b)
#define FC_VEC_ODD(tv, a, b) FC_VEC_CAT(FC_VEC_ODD_, tv)(a, b)
#define FC_VEC_ZIPLO(tv, a, b) FC_VEC_CAT(FC_VEC_ZIPLO_, tv)(a, b)
#define FC_VEC_ZIPHI(tv, a, b) FC_VEC_CAT(FC_VEC_ZIPHI_, tv)(a, b)
/* The low byte of each of the tv lanes of the 32-byte integer vector v (values < 256; b32_t:
 * its bytes), as tv bytes, by one byte shuffle (GCC expands the generic narrowing
 * conversion lane by lane through integer registers). */
#define FC_VEC_LOWBYTES_8(v) __builtin_shufflevector(v, v, 0, 4, 8, 12, 16, 20, 24, 28)
#define FC_VEC_LOWBYTES_4(v) __builtin_shufflevector(v, v, 0, 8, 16, 24)
#define FC_VEC_LOWBYTES(tv, v) FC_VEC_CAT(FC_VEC_LOWBYTES_, tv)(v)
#endif

#endif /* FASTCONV_VEC_SHUFFLE_H */
