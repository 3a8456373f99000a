/*
 * vec_shuffle.h -- even/odd deinterleave and interleave of 32-byte GCC vectors (8 floats or
 * 4 doubles), for the kernels that move between 2x2 tiles or windows and rows, and the
 * lane-wise relu and 2x2 window pick they share.  Defined as
 * FC_VEC_EVEN(tv, a, b) etc. with tv the lane count (8 or 4) where the compiler has
 * __builtin_shufflevector (Clang; GCC 12 and later); FC_VEC_SHUFFLE says so.
 */
#ifndef FASTCONV_VEC_SHUFFLE_H
#define FASTCONV_VEC_SHUFFLE_H

/* Lane-wise helpers of the pooling kernels, on any GCC vectors (no shuffle): uvec_t is the
 * unsigned integer vector of vec_t's size.
 * FC_VEC_RELU: v < 0 ? 0 : v by a bit mask (NaN and -0.0 stay as they are);
 * FC_VEC_RELU_IF: FC_VEC_RELU on each of a 2x2 window's four vectors, in place, if relu.
 * FC_VEC_POOL_PICK: the maximum of a 2x2 window (y00 y01 / y10 y11) and its position
 * i * 2 + j: b replaces a where b > a or b is NaN, pairwise (the rule of
 * fc_max_pool2d_forward: the first maximum in row-major order wins, NaN counts as larger than
 * any number, the last NaN winning). */
#define FC_VEC_RELU(uvec_t, v)                                                               \
    ((__typeof__(v))((uvec_t)(v) & ~(uvec_t)((v) < (__typeof__(v)){0})))
#define FC_VEC_RELU_IF(uvec_t, relu, y00, y01, y10, y11)                                     \
    do {                                                                                     \
        if (relu) {                                                                          \
            y00 = FC_VEC_RELU(uvec_t, y00);                                                  \
            y01 = FC_VEC_RELU(uvec_t, y01);                                                  \
            y10 = FC_VEC_RELU(uvec_t, y10);                                                  \
            y11 = FC_VEC_RELU(uvec_t, y11);                                                  \
        }                                                                                    \
    } while (0)
#define FC_VEC_POOL_PICK(vec_t, uvec_t, y00, y01, y10, y11, best, pos)                       \
    do {                                                                                     \
        const uvec_t k1_ = (uvec_t)(((y01) > (y00)) | ((y01) != (y01)));                     \
        const uvec_t k2_ = (uvec_t)(((y11) > (y10)) | ((y11) != (y11)));                     \
        const vec_t top_ = (vec_t)(((uvec_t)(y00) & ~k1_) | ((uvec_t)(y01) & k1_));          \
        const vec_t bot_ = (vec_t)(((uvec_t)(y10) & ~k2_) | ((uvec_t)(y11) & k2_));          \
        const uvec_t k3_ = (uvec_t)((bot_ > top_) | (bot_ != bot_));                         \
        best = (vec_t)(((uvec_t)top_ & ~k3_) | ((uvec_t)bot_ & k3_));                        \
        /* position: top = 0 + (k1 & 1), bottom = 2 + (k2 & 1) */                            \
        const uvec_t one_ = (uvec_t){0} + 1, two_ = one_ + one_;                             \
        pos = ((k1_ & one_) & ~k3_) | ((two_ + (k2_ & one_)) & k3_);                         \
    } while (0)

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
