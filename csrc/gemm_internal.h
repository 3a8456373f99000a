/*
 * gemm_internal.h -- the packed GEMM engine shared by gemm, linear and conv2d.
 * Not part of the public API.
 *
 * Layout of the engine (BLIS style):
 *   - op(A) is packed into row micro-panels of MR rows (for each k, MR consecutive values),
 *     op(B) into column micro-panels of NR columns (for each k, NR consecutive values),
 *     both zero-padded to full tiles;
 *   - a microkernel computes one MR x NR tile of C from a kc-long pair of micro-panels and
 *     applies the epilogue  C = alpha * acc + beta * C + bias_m[i] + bias_n[j]
 *     (beta == 0 never reads C; a NULL bias is skipped);
 *   - the macro loops (NC, KC, MC blocks) run over the whole problem; threads split C, or
 *     split K when C is too small to share.
 * Microkernels are named fc_<dtype>_gemm_ukernel_<MR>x<NR>__<isa>.
 */
#ifndef FASTCONV_GEMM_INTERNAL_H
#define FASTCONV_GEMM_INTERNAL_H

#include "internal.h"

typedef void (*fc_f32_gemm_ukernel_fn)(int64_t kc, const float *a, const float *b, float *c,
                                       int64_t ldc, float alpha, float beta,
                                       const float *bias_m, const float *bias_n);
typedef void (*fc_f64_gemm_ukernel_fn)(int64_t kc, const double *a, const double *b,
                                       double *c, int64_t ldc, double alpha, double beta,
                                       const double *bias_m, const double *bias_n);

/* Microkernels: one full MR x NR tile; ldc is the row stride of c (unit column stride). */
#define FC_DECLARE_UKERNELS(MRxNR_F32, MRxNR_F64, ISA)                                       \
    void fc_f32_gemm_ukernel_##MRxNR_F32##__##ISA(int64_t, const float *, const float *,     \
                                                  float *, int64_t, float, float,             \
                                                  const float *, const float *);              \
    void fc_f64_gemm_ukernel_##MRxNR_F64##__##ISA(int64_t, const double *, const double *,   \
                                                  double *, int64_t, double, double,          \
                                                  const double *, const double *);
/* Indirect microkernels (implicit-GEMM conv): B row p read in place at b + boff[p]. */
typedef void (*fc_f32_igemm_ukernel_fn)(int64_t kc, const float *a, const float *b,
                                        const int64_t *boff, float *c, int64_t ldc,
                                        int accumulate);
typedef void (*fc_f64_igemm_ukernel_fn)(int64_t kc, const double *a, const double *b,
                                        const int64_t *boff, double *c, int64_t ldc,
                                        int accumulate);
#define FC_DECLARE_IUKERNELS(MRxNR_F32, MRxNR_F64, ISA)                                      \
    void fc_f32_igemm_ukernel_##MRxNR_F32##__##ISA(int64_t, const float *, const float *,    \
                                                   const int64_t *, float *, int64_t, int);   \
    void fc_f64_igemm_ukernel_##MRxNR_F64##__##ISA(int64_t, const double *, const double *,  \
                                                   const int64_t *, double *, int64_t, int);
/* Dot-product GEMMs (see gemm_driver_tmpl.h: gemm_dot), same arguments as the engine. */
typedef void (*fc_f32_gemm_dot_fn)(int64_t m, int64_t n, int64_t k, float alpha,
                                   const float *a, int64_t lda, const float *b, int64_t ldb,
                                   float beta, float *c, int64_t rsc, int64_t csc,
                                   const float *bias_m, const float *bias_n);
typedef void (*fc_f64_gemm_dot_fn)(int64_t m, int64_t n, int64_t k, double alpha,
                                   const double *a, int64_t lda, const double *b, int64_t ldb,
                                   double beta, double *c, int64_t rsc, int64_t csc,
                                   const double *bias_m, const double *bias_n);
#define FC_DECLARE_DOT(ISA)                                                                  \
    void fc_f32_gemm_dot__##ISA(int64_t, int64_t, int64_t, float, const float *, int64_t,    \
                                const float *, int64_t, float, float *, int64_t, int64_t,    \
                                const float *, const float *);                               \
    void fc_f64_gemm_dot__##ISA(int64_t, int64_t, int64_t, double, const double *, int64_t, \
                                const double *, int64_t, double, double *, int64_t, int64_t, \
                                const double *, const double *);
FC_DECLARE_UKERNELS(4x16, 4x8, scalar)
#ifdef FC_X86_SIMD
#define FC_HAVE_X86_UKERNELS 1
FC_DECLARE_UKERNELS(6x16, 6x8, avx2)
FC_DECLARE_UKERNELS(8x32, 8x16, avx512)
FC_DECLARE_IUKERNELS(6x16, 6x8, avx2)
FC_DECLARE_IUKERNELS(8x32, 8x16, avx512)
FC_DECLARE_DOT(avx2)
FC_DECLARE_DOT(avx512)
#endif
#ifdef FC_ARM_NEON
FC_DECLARE_UKERNELS(6x16, 6x8, neon)
FC_DECLARE_IUKERNELS(6x16, 6x8, neon)
FC_DECLARE_DOT(neon)
#endif

/* Below this many multiply-adds (m*n*k for a GEMM, N*Cout*K*P for a conv pass) a call runs
 * on the calling thread: starting a team costs tens of microseconds, and milliseconds when
 * the other cores are busy, which is more than such a call takes alone (about 40 us at
 * 100 GFLOP/s).  Serial and threaded runs then give identical results for small calls. */
#define FC_PAR_MIN_MACS ((double)(1 << 21))

/* A one-row GEMM on the dot-product path with fewer multiply-adds runs on threads all the
 * same once its B holds this many elements (and two microkernel widths of columns per
 * thread): it streams B once, at one core's share of the bandwidth, and two cores read it at
 * twice the rate (fc1 of the MNIST net at batch 1 reads a 1.6 MB weight matrix for 0.4 M
 * multiply-adds: 60 us at one thread's L3 rate).  Its columns are split between the threads,
 * each computed as on one thread: the results stay identical. */
#define FC_PAR_MIN_DOT_ELEMS ((double)(1 << 18))

/* The blocking of one ISA path and dtype. */
typedef struct {
    int mr, nr;               /* microkernel tile */
    int64_t kc, mc, nc;       /* cache blocks: kc (k), mc (rows of A), nc (columns of B) */
    void *ukernel;            /* fc_f32_gemm_ukernel_fn or fc_f64_gemm_ukernel_fn */
    void *iukernel;           /* the indirect variant (NULL on the scalar path) */
    void *dot;                /* fc_*_gemm_dot_fn (NULL: the portable gemm_dot) */
    const char *name;         /* the microkernel's name */
} fc_gemm_config;

/* Derive every path's blocking from fc_cache_sizes() again (machine.c calls it when the
 * cache sizes are set). */
void fc_gemm_reconfigure(void);

/* Blocking for the current ISA path (never FC_ISA_REFERENCE: that maps to scalar). */
const fc_gemm_config *fc_gemm_config_f32(fc_isa isa);
const fc_gemm_config *fc_gemm_config_f64(fc_isa isa);

/* The general engine:
 *   C[i*rsc + j*csc] = alpha * sum_p op(A)[i,p] op(B)[p,j] + beta * C (+ bias_m[i]) (+ bias_n[j])
 * for i < m, j < n.  op(A)/op(B) as in fc_gemm_*.  Either C stride may be 1 (row- or
 * column-major C).  beta == 0 never reads C.  nthreads >= 1 threads are used (1 = run on
 * the calling thread; callers inside a parallel region pass 1).  isa must not be
 * FC_ISA_REFERENCE. */
void fc_gemm_engine_f32(fc_isa isa, int nthreads, int trans_a, int trans_b, int64_t m,
                        int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *c, int64_t rsc,
                        int64_t csc, const float *bias_m, const float *bias_n);
void fc_gemm_engine_f64(fc_isa isa, int nthreads, int trans_a, int trans_b, int64_t m,
                        int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                        const double *b, int64_t ldb, double beta, double *c, int64_t rsc,
                        int64_t csc, const double *bias_m, const double *bias_n);

/* The same with a relu epilogue: C = max(that, 0), applied to each C tile while it is in
 * cache (NaN stays NaN). */
void fc_gemm_engine_relu_f32(fc_isa isa, int nthreads, int trans_a, int trans_b, int64_t m,
                             int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                             const float *b, int64_t ldb, float beta, float *c, int64_t rsc,
                             int64_t csc, const float *bias_m, const float *bias_n);
void fc_gemm_engine_relu_f64(fc_isa isa, int nthreads, int trans_a, int trans_b, int64_t m,
                             int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                             const double *b, int64_t ldb, double beta, double *c, int64_t rsc,
                             int64_t csc, const double *bias_m, const double *bias_n);

/* Pre-packed GEMM (see gemm_driver_tmpl.h): op(A) packed whole with pack_a_full; B packed
 * by the caller in the same block layout (kc blocks at offset pc * n_pad, nr-column
 * micro-panels of kc x nr inside each, zero-padded past n).  Runs on the calling thread. */
void fc_gemm_pack_a_full_f32(const fc_gemm_config *cfg, int trans_a, int64_t m, int64_t k,
                             const float *a, int64_t lda, float *ap);
void fc_gemm_pack_a_full_f64(const fc_gemm_config *cfg, int trans_a, int64_t m, int64_t k,
                             const double *a, int64_t lda, double *ap);
void fc_gemm_pack_b_full_f32(const fc_gemm_config *cfg, int trans_b, int64_t k, int64_t n,
                             const float *b, int64_t ldb, float *bp);
void fc_gemm_pack_b_full_f64(const fc_gemm_config *cfg, int trans_b, int64_t k, int64_t n,
                             const double *b, int64_t ldb, double *bp);
void fc_gemm_prepacked_f32(const fc_gemm_config *cfg, int64_t m, int64_t n, int64_t k,
                           float alpha, const float *ap, const float *bp, float beta, float *c,
                           int64_t ldc, const float *bias_m);
void fc_gemm_prepacked_f64(const fc_gemm_config *cfg, int64_t m, int64_t n, int64_t k,
                           double alpha, const double *ap, const double *bp, double beta,
                           double *c, int64_t ldc, const double *bias_m);

/* Optimised implementations behind the public entry points (dispatch.c calls these for
 * every ISA but FC_ISA_REFERENCE). */
void fc_opt_gemm_f32(fc_isa isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc);
void fc_opt_gemm_f64(fc_isa isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                     double beta, double *c, int64_t ldc);
void fc_opt_linear_forward_f32(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,
                               const float *x, const float *w, const float *b, float *y);
void fc_opt_linear_forward_f64(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,
                               const double *x, const double *w, const double *b, double *y);
void fc_opt_linear_backward_f32(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,
                                const float *gy, const float *x, const float *w, float *gx,
                                float *gw, float *gb);
void fc_opt_linear_backward_f64(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,
                                const double *gy, const double *x, const double *w,
                                double *gx, double *gw, double *gb);
void fc_opt_linear_relu_forward_f32(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,
                                    const float *x, const float *w, const float *b, float *y);
void fc_opt_linear_relu_forward_f64(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,
                                    const double *x, const double *w, const double *b,
                                    double *y);
void fc_opt_linear_relu_backward_f32(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,
                                     const float *gy, const float *y, const float *x,
                                     const float *w, float *gx, float *gw, float *gb);
void fc_opt_linear_relu_backward_f64(fc_isa isa, int64_t n, int64_t in_f, int64_t out_f,
                                     const double *gy, const double *y, const double *x,
                                     const double *w, double *gx, double *gw, double *gb);
void fc_opt_conv2d_forward_f32(fc_isa isa, const fc_conv2d_params *p, const float *x,
                               const float *w, const float *bias, float *y);
void fc_opt_conv2d_forward_f64(fc_isa isa, const fc_conv2d_params *p, const double *x,
                               const double *w, const double *bias, double *y);
void fc_opt_conv2d_backward_f32(fc_isa isa, const fc_conv2d_params *p, const float *gy,
                                const float *x, const float *w, float *gx, float *gw,
                                float *gb);
void fc_opt_conv2d_backward_f64(fc_isa isa, const fc_conv2d_params *p, const double *gy,
                                const double *x, const double *w, double *gx, double *gw,
                                double *gb);

void fc_opt_conv2d_block_forward_f32(fc_isa isa, const fc_conv2d_params *p,
                                     const fc_conv2d_block *b, const float *x, const float *w,
                                     const float *bias, float *y, uint8_t *idx);
void fc_opt_conv2d_block_forward_f64(fc_isa isa, const fc_conv2d_params *p,
                                     const fc_conv2d_block *b, const double *x,
                                     const double *w, const double *bias, double *y,
                                     uint8_t *idx);
void fc_opt_conv2d_block_backward_f32(fc_isa isa, const fc_conv2d_params *p,
                                      const fc_conv2d_block *b, const float *gy, const float *y,
                                      const uint8_t *idx, const float *x, const float *w,
                                      float *gx, float *gw, float *gb);
void fc_opt_conv2d_block_backward_f64(fc_isa isa, const fc_conv2d_params *p,
                                      const fc_conv2d_block *b, const double *gy,
                                      const double *y, const uint8_t *idx, const double *x,
                                      const double *w, double *gx, double *gw, double *gb);

/* Per-thread scratch buffers, reused across calls (64-byte aligned, grown on demand, freed
 * when the thread exits).  Each slot is an independent buffer; a caller owns a slot only
 * for the duration of its call on that thread.  Returns NULL only if allocation fails. */
enum {
    FC_SCRATCH_PACK_A = 0,
    FC_SCRATCH_PACK_B = 1,
    FC_SCRATCH_COL = 2,      /* conv: im2col / col2im tile */
    FC_SCRATCH_CONV_AUX = 3, /* conv: padded planes, partial weight gradients */
    FC_SCRATCH_BLOCK = 4,    /* conv blocks: one image's conv output before relu / pooling */
    FC_SCRATCH_WINO_U = 5,   /* Winograd: the transformed, packed weights of one conv, kept
                              * for the next call with the same weights (tagged) */
    FC_SCRATCH_SLOTS = 6
};
void *fc_scratch(int slot, size_t bytes);
/* A word kept with this thread's slot (after fc_scratch returned it), for its owner to say
 * what the buffer holds across calls; reset to 0 whenever the buffer is (re)allocated, so a
 * nonzero tag means that the contents are the owner's last writes. */
uint64_t *fc_scratch_tag(int slot);

#endif /* FASTCONV_GEMM_INTERNAL_H */
