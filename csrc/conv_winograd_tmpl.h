/*
 * conv_winograd_tmpl.h -- the Winograd F(2x2, 3x3) path of the conv engine, for one dtype;
 * included by conv_tmpl.h (FC_T, FC_SFX, FC_FN defined there).
 *
 * A 3x3 stride-1 conv computes each 2x2 output tile from a 4x4 input tile with 16
 * multiplications per (input, output) channel pair instead of 36 (2.25x fewer), as
 *     y = A^T [ U .* V ] A,   U = G g G^T (4x4 per channel pair),  V = B^T d B (per tile)
 * (winograd_tmpl.h).  Over all channels the elementwise stage becomes 16 independent GEMMs
 *     M_xi (Cout, tiles) = U_xi (Cout, Cin) @ V_xi (Cin, tiles),   xi = 0..15,
 * which run on the packed GEMM microkernels: U is transformed and packed once per call (the
 * A operand), each block of tile rows is transformed straight into the packed B layout, and
 * the output transform adds the bias and, for a fused block, applies relu and the 2x2
 * max-pool on the way out (a 2x2 output tile is exactly one pooling window).
 *
 * The weight gradient (wg_weight_grad, at the end) runs the same factorisation backwards:
 * 16 GEMMs that reduce over the tiles of all images, then dg = G^T dU G.
 *
 * The forward's work is split into (image, block of tile rows) items, L2-sized, over the
 * threads; every tile is computed the same way whatever the blocking or thread count, so its
 * results do not depend on either (the weight gradient's sums over images do).  Tiles run on a grid of TWp tiles per row (TW = ceil(OW / 2) rounded up
 * to the transform's vector of 32 bytes); the columns past OW are computed and dropped.
 */

#include "vec_shuffle.h"

/* (x, H, W, pad_h, pad_w, r0, rows, ld, out, scratch): rows of a padded plane, as the
 * input transform reads them */
typedef void (*FC_FN(wg_rows_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                  int64_t, int64_t, FC_T *, FC_T *);
typedef void (*FC_FN(wg_input_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                   FC_T *, int64_t, int64_t, int64_t, int64_t);
typedef void (*FC_FN(wg_output_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, const FC_T *, int, FC_T *, int64_t, int64_t,
                                    int64_t);
typedef void (*FC_FN(wg_output_pool_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t,
                                         int64_t, int64_t, const FC_T *, int, FC_T *, uint8_t *,
                                         int64_t, int64_t, int64_t);

typedef void (*FC_FN(wg_cl_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, FC_T *);
typedef void (*FC_FN(wg_dw_fn))(const FC_T *, const FC_T *, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, FC_T *, FC_T *, int64_t, int64_t, int64_t,
                                int64_t);

typedef struct {
    FC_FN(wg_rows_fn) pad_rows;
    FC_FN(wg_input_fn) input_block;
    FC_FN(wg_output_fn) output_block;
    FC_FN(wg_output_pool_fn) output_pool_block;
    FC_FN(wg_rows_fn) split4_rows; /* F(4x4, 3x3) */
    FC_FN(wg_input_fn) input4_block;
    FC_FN(wg_output_fn) output4_block;
    FC_FN(wg_output_pool_fn) output4_pool_block;
    FC_FN(wg_cl_fn) to_channels_last; /* the weight gradient */
    FC_FN(wg_dw_fn) dw_image;
} FC_FN(wg_kernels);

static FC_FN(wg_kernels) FC_FN(wg_kernels_for)(fc_isa isa)
{
#define FC_WG_KERNELS(ISA)                                                                   \
    {FC_KN(winograd, pad_rows, ISA), FC_KN(winograd, input_block, ISA),                    \
     FC_KN(winograd, output_block, ISA), FC_KN(winograd, output_pool_block, ISA),           \
     FC_KN(winograd, split4_rows, ISA), FC_KN(winograd, input4_block, ISA),                  \
     FC_KN(winograd, output4_block, ISA), FC_KN(winograd, output4_pool_block, ISA),          \
     FC_KN(winograd, to_channels_last, ISA), FC_KN(winograd, dw_image, ISA)}
    FC_FN(wg_kernels) k = FC_WG_KERNELS(scalar);
#ifdef FC_HAVE_X86_UKERNELS
    const FC_FN(wg_kernels) k512 = FC_WG_KERNELS(avx512), k2 = FC_WG_KERNELS(avx2);
    if (isa == FC_ISA_AVX512) k = k512;
    else if (isa == FC_ISA_AVX2) k = k2;
#elif defined(FC_ARM_NEON)
    const FC_FN(wg_kernels) kn = FC_WG_KERNELS(neon);
    if (isa == FC_ISA_NEON) k = kn;
#else
    (void)isa;
#endif
#undef FC_WG_KERNELS
    return k;
}

enum { FC_FN(WG_TV) = 32 / (int)sizeof(FC_T) };

/* Tiles per transform vector: F(2x2) 32 bytes of them, F(4x4) 16 bytes (tile: 2 or 4). */
static int64_t FC_FN(wg_tv)(int tile) { return tile == 4 ? 16 / (int64_t)sizeof(FC_T) : FC_FN(WG_TV); }

/* Tiles per row of the tile grid: ceil(OW / tile) rounded up to the transforms' vector. */
static int64_t FC_FN(wg_twp)(const fc_conv2d_params *p, int tile)
{
    const int64_t tw = (p->out_w + tile - 1) / tile, tv = FC_FN(wg_tv)(tile);
    return (tw + tv - 1) / tv * tv;
}

/* Whether the Winograd path can run this conv at all: 3x3, stride 1, dilation 1, one group,
 * a microkernel tile that divides the transforms' vectors, and padding that leaves at least
 * one output. */
static int FC_FN(wg_applies)(fc_isa isa, const fc_conv2d_params *p)
{
    const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
    return p->kh == 3 && p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 &&
           p->dil_h == 1 && p->dil_w == 1 && p->groups == 1 && p->c_in >= 1 &&
           p->c_out >= 1 && p->out_h >= 1 && p->out_w >= 1 &&
           cfg->nr % FC_FN(WG_TV) == 0 && (cfg->nr & (cfg->nr - 1)) == 0 && cfg->mr <= 16;
}

/* Geometry of one call. */
typedef struct {
    const fc_conv2d_params *p;
    const fc_gemm_config *cfg;
    FC_FN(wg_kernels) k;
    int tile, nxi;       /* output tile (2 or 4); products per tile ((tile + 2)^2) */
    int64_t TH, TWp;     /* tile grid: rows, tiles per row */
    int64_t RB, nblk;    /* tile rows per work item, work items per image (F(4x4)) */
    int flat;            /* F(2x2): items are runs of RB rows of the (image, tile row) grid */
    int64_t tb_pad;      /* tiles per work item, rounded up to whole nr panels */
    int64_t m_pad;       /* c_out rounded up to mr */
    int64_t ld;          /* row length of the padded rows (F(4x4): of each column phase) */
    const FC_T *up;      /* transformed weights, packed per xi (m_pad * c_in each) */
} FC_FN(wg_plan);

/* Stride between the nxi matrices of V or M (elems elements each): their size rounded up to a
 * cache line, plus one line, so that the nxi stores of one tile's transform do not fall into
 * one L1 set when the size is a multiple of 4 KiB (64 channels x 48 tiles of float is). */
static int64_t FC_FN(wg_xs)(int64_t elems)
{
    const int64_t cl = 64 / (int64_t)sizeof(FC_T);
    return (elems + cl - 1) / cl * cl + cl;
}

/* Row stride of M (FC_WG_MOFF in winograd_tmpl.h: a row holds every product of the item's
 * tb_pad tiles), rounded to an odd number of cache lines so that the microkernel's rows of C,
 * ldm apart, fall into different L1 sets. */
static int64_t FC_FN(wg_ldm)(int nxi, int64_t tb_pad)
{
    const int64_t cl = 64 / (int64_t)sizeof(FC_T);
    int64_t lines = ((int64_t)nxi * tb_pad + cl - 1) / cl;
    lines += lines % 2 == 0;
    return lines * cl;
}

/* Padded-row copies per channel and row: 1 (F(2x2)), or the 4 column phases of F(4x4). */
static int64_t FC_FN(wg_phases)(int tile) { return tile == 4 ? 4 : 1; }

/* Scratch of one work item of rb tile rows: padded rows (tile rb + 2 of them per channel and
 * phase), V, M (elements). */
static int64_t FC_FN(wg_scratch_elems)(const FC_FN(wg_plan) *g, int64_t rb, int64_t tb_pad)
{
    const int64_t C = g->p->c_in, t = g->tile;
    return FC_FN(wg_phases)(t) * C * (t * rb + 2) * g->ld + g->nxi * FC_FN(wg_xs)(C * tb_pad) +
           g->m_pad * FC_FN(wg_ldm)(g->nxi, tb_pad) + 4 * g->ld + 64;
}

/* What the transformed weights in this thread's FC_SCRATCH_WINO_U slot were made from, beside
 * a copy of the weights themselves (wg_transform_weights). */
typedef struct {
    int64_t elem, C, M, m_pad, mr, kc, tile;
} FC_FN(wg_ukey);

/* Bytes of U, rounded up to a cache line; the slot's header (the key) takes one line too. */
static size_t FC_FN(wg_ubytes)(int64_t nxi, int64_t m_pad, int64_t C)
{
    return (sizeof(FC_T) * (size_t)(nxi * m_pad * C + 1) + 63) & ~(size_t)63;
}
enum { FC_FN(WG_UHEAD) = (sizeof(FC_FN(wg_ukey)) + 63) & ~63 };

/* Bytes of the transformed-weights slot (wg_transform_weights: key, U, the weights' copy). */
static size_t FC_FN(wg_uslot_bytes)(const fc_conv2d_params *p, int64_t nxi, int64_t m_pad)
{
    return (size_t)FC_FN(WG_UHEAD) + FC_FN(wg_ubytes)(nxi, m_pad, p->c_in) +
           sizeof(FC_T) * (size_t)(p->c_out * p->c_in * 9);
}

/* Whether one tile row of the given tile size fits this thread's share of the workspace
 * limit (with the transformed weights). */
static int FC_FN(wg_fits)(const fc_gemm_config *cfg, const fc_conv2d_params *p,
                          int tile)
{
    const int64_t C = p->c_in, M = p->c_out, twp = FC_FN(wg_twp)(p, tile);
    const int64_t nxi = (tile + 2) * (tile + 2);
    const int64_t m_pad = (M + cfg->mr - 1) / cfg->mr * cfg->mr;
    const int64_t tb_pad = (twp + cfg->nr - 1) / cfg->nr * cfg->nr;
    const double bytes =
        sizeof(FC_T) * (double)(C * (tile + 2) * (2 * twp + 2) * (tile == 4 ? 2 : 1) +
                                nxi * (C + m_pad) * tb_pad);
    const double limit = (double)fc_get_workspace_limit() / fc_threads_for_region();
    return bytes + (double)FC_FN(wg_uslot_bytes)(p, nxi, m_pad) <= limit;
}

/* Products computed per output (per channel pair) on the tile grid of a tile size: the
 * tile's (tile + 2)^2 products over tile^2 outputs, times the grid's waste past OH, OW. */
static double FC_FN(wg_products)(const fc_conv2d_params *p, int tile)
{
    const double th = (double)((p->out_h + tile - 1) / tile), twp = (double)FC_FN(wg_twp)(p, tile);
    return (double)((tile + 2) * (tile + 2)) * th * twp / ((double)p->out_h * (double)p->out_w);
}

/* Cost model: Winograd runs a conv that wg_applies to when it does markedly less work than
 * the direct GEMM: enough input and output channels for the GEMMs to run at speed and
 * to hide the transforms (which cost about 2 (C + Cout) operations per tile against 32 C
 * Cout for the F(2x2) products), and a tile grid that wastes little on columns past OW.
 * The smallest work item must fit in this thread's share of the workspace limit.  Mode 3
 * (fc_conv_winograd_mode) also lets F(4x4, 3x3) (36 products per 16 outputs against 16 per
 * 4, at several times the float32 error) take over where its grid computes at most 0.8
 * times the products of F(2x2)'s and the plane has at least 8 rows and columns.  Returns
 * the tile size (2 or 4), or 0 for no Winograd.  Modes 0 never, 2 F(2x2) and 4 F(4x4)
 * whenever they apply. */
static int FC_FN(use_winograd)(fc_isa isa, const fc_conv2d_params *p)
{
    const int mode = fc_conv_winograd_mode();
    if (mode == 0 || !FC_FN(wg_applies)(isa, p)) return 0;
    const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
    if (mode == 4 && FC_FN(wg_fits)(cfg, p, 4)) return 4;
    if (!FC_FN(wg_fits)(cfg, p, 2)) return 0;
    if (mode == 2 || mode == 4) return 2;
    /* columns computed per output column */
    const double waste = (2.0 * (double)FC_FN(wg_twp)(p, 2)) / (double)p->out_w;
    if (!(p->c_in >= 32 && p->c_out >= 16 && waste <= 1.15 && p->out_h >= 4)) return 0;
    if (mode == 3 && p->out_h >= 8 && p->out_w >= 8 && FC_FN(wg_fits)(cfg, p, 4) &&
        FC_FN(wg_products)(p, 4) <= 0.8 * FC_FN(wg_products)(p, 2))
        return 4;
    return 2;
}

/* U_xi = (G g G^T)[xi] of F(2x2) for VT, a GCC vector of channels: lanes j of the 3x3 weights
 * at g[t * gs + j], of U_xi at d[xi * xs + j] */
#define FC_WG_U_STEP(VT, g, gs, d, xs)                                                       \
    do {                                                                                     \
        VT t_[4][3]; /* G g */                                                               \
        for (int s_ = 0; s_ < 3; s_++) {                                                     \
            VT a_, b_, e_;                                                                   \
            __builtin_memcpy(&a_, (g) + s_ * (gs), sizeof a_);                               \
            __builtin_memcpy(&b_, (g) + (3 + s_) * (gs), sizeof b_);                         \
            __builtin_memcpy(&e_, (g) + (6 + s_) * (gs), sizeof e_);                         \
            t_[0][s_] = a_;                                                                  \
            t_[1][s_] = (FC_T)0.5 * (a_ + b_ + e_);                                          \
            t_[2][s_] = (FC_T)0.5 * (a_ - b_ + e_);                                          \
            t_[3][s_] = e_;                                                                  \
        }                                                                                    \
        for (int i_ = 0; i_ < 4; i_++) { /* (G g) G^T */                                     \
            const VT r_[4] = {t_[i_][0], (FC_T)0.5 * (t_[i_][0] + t_[i_][1] + t_[i_][2]),    \
                              (FC_T)0.5 * (t_[i_][0] - t_[i_][1] + t_[i_][2]), t_[i_][2]};   \
            for (int j_ = 0; j_ < 4; j_++)                                                   \
                __builtin_memcpy((d) + (i_ * 4 + j_) * (xs), &r_[j_], sizeof(VT));           \
        }                                                                                    \
    } while (0)

/* U_xi of n output channels and one input channel for F(2x2): the 16 values of channel j at
 * d[xi * xs + j], from its 3x3 weights at g[t * gs + j]; four channels at a time (GCC
 * vectors: the scalar loop did not vectorize), the rest one by one, the same operations per
 * value either way. */
static void FC_FN(wg_u_panel)(const FC_T *restrict g, int64_t gs, int64_t n, FC_T *restrict d,
                              int64_t xs)
{
    typedef FC_T v4_t __attribute__((vector_size(4 * sizeof(FC_T))));
    typedef FC_T v1_t __attribute__((vector_size(sizeof(FC_T))));
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) FC_WG_U_STEP(v4_t, g + j, gs, d + j, xs);
    for (; j < n; j++) FC_WG_U_STEP(v1_t, g + j, gs, d + j, xs);
}
#undef FC_WG_U_STEP

/* U_xi[co][ci] = (G g G^T)[xi] for every channel pair, written straight into the packed-A
 * layout of fc_gemm_pack_a_full (for each kc block of channels at pc, mr-row panels of kc x
 * mr; rows past M zero), in this thread's FC_SCRATCH_WINO_U slot: no allocation, no copy.
 * The slot keeps U, what it was made from and a copy of w: a call with the same shapes and
 * bitwise the same weights (inference: every call; training: the forward's weights change at
 * every step) takes U as it is, after comparing the weights (M C 9 values, against a
 * transform of about 25 operations per channel pair and 16 scattered stores, 36 for F(4x4)). */
static FC_T *FC_FN(wg_transform_weights)(const fc_gemm_config *cfg, const fc_conv2d_params *p,
                                         const FC_T *w, int64_t m_pad, int tile)
{
    const int64_t C = p->c_in, M = p->c_out, mr = cfg->mr, xs = m_pad * C;
    const int nxi = (tile + 2) * (tile + 2);
    const size_t ub = FC_FN(wg_ubytes)(nxi, m_pad, C), wb = sizeof(FC_T) * (size_t)(M * C * 9);
    char *slot = (char *)fc_scratch(FC_SCRATCH_WINO_U, (size_t)FC_FN(WG_UHEAD) + ub + wb);
    if (!slot) abort();
    FC_FN(wg_ukey) key;
    memset(&key, 0, sizeof key); /* (no padding bytes in it; the memcmp compares all) */
    key.elem = (int64_t)sizeof(FC_T);
    key.C = C;
    key.M = M;
    key.m_pad = m_pad;
    key.mr = mr;
    key.kc = cfg->kc;
    key.tile = tile;
    FC_T *up = (FC_T *)(slot + FC_FN(WG_UHEAD)), *wcopy = (FC_T *)(slot + FC_FN(WG_UHEAD) + ub);
    uint64_t *tag = fc_scratch_tag(FC_SCRATCH_WINO_U);
    if (*tag == 1 && memcmp(slot, &key, sizeof key) == 0 && memcmp(wcopy, w, wb) == 0)
        return up;
    *tag = 0;
    if (tile == 2) {
        /* F(2x2): vectors over the mr output channels of a panel, whose U values are
         * contiguous, from the weights reordered to wr[(ci * 9 + t) * m_pad + co] (rows past
         * M zero; it was scalar, through 16 store pointers per channel pair: as long as a
         * batch-1 conv) */
        FC_T *wr = (FC_T *)calloc((size_t)(9 * C * m_pad), sizeof(FC_T));
        if (!wr) abort();
        for (int64_t co = 0; co < M; co++)
            for (int64_t ci = 0; ci < C; ci++)
                for (int t = 0; t < 9; t++) wr[(ci * 9 + t) * m_pad + co] = w[(co * C + ci) * 9 + t];
        for (int64_t pc = 0; pc < C; pc += cfg->kc) {
            const int64_t kc = FC_MIN(cfg->kc, C - pc);
            for (int64_t p0 = 0; p0 < m_pad; p0 += mr)
                for (int64_t c = 0; c < kc; c++)
                    /* element (p0 + j, pc + c) of U_xi at xi * xs + pc * m_pad + p0 kc + c mr + j */
                    FC_FN(wg_u_panel)(wr + (pc + c) * 9 * m_pad + p0, m_pad, mr,
                                      up + pc * m_pad + p0 * kc + c * mr, xs);
        }
        free(wr);
    }
    for (int64_t pc = 0; pc < C && tile == 4; pc += cfg->kc) { /* F(4x4) */
        const int64_t kc = FC_MIN(cfg->kc, C - pc);
        for (int64_t co = 0; co < m_pad; co++) {
            /* element (co, ci) of U_xi sits at xi * xs + pc * m_pad + panel + (ci - pc) * mr */
            FC_T *dst = up + pc * m_pad + (co / mr) * mr * kc + co % mr;
            if (co >= M) {
                for (int xi = 0; xi < nxi; xi++)
                    for (int64_t c = 0; c < kc; c++) dst[xi * xs + c * mr] = 0;
                continue;
            }
            for (int64_t c = 0; c < kc; c++) {
                const FC_T *g = w + (co * C + pc + c) * 9;
                /* G = [1 0 0; 1/3 1/3 1/3; -1/3 1/3 -1/3; -16/15 -8/15 -4/15;
                 * 1/15 -2/15 4/15; 0 0 1] (winograd_tmpl.h), in double (the divisions
                 * by 3 and 15 as products with the reciprocals: within an ulp of double,
                 * far below float's, and without them the transform took longer than the
                 * batch-1 conv itself) */
                const double third = 1.0 / 3, fifteenth = 1.0 / 15;
                double t[6][3]; /* G g */
                for (int s = 0; s < 3; s++) {
                    const double g0 = g[s], g1 = g[3 + s], g2 = g[6 + s];
                    t[0][s] = g0;
                    t[1][s] = (g0 + g1 + g2) * third;
                    t[2][s] = -(g0 - g1 + g2) * third;
                    t[3][s] = -(16 * g0 + 8 * g1 + 4 * g2) * fifteenth;
                    t[4][s] = (g0 - 2 * g1 + 4 * g2) * fifteenth;
                    t[5][s] = g2;
                }
                for (int i = 0; i < 6; i++) { /* (G g) G^T */
                    const double g0 = t[i][0], g1 = t[i][1], g2 = t[i][2];
                    const double r[6] = {g0,
                                         (g0 + g1 + g2) * third,
                                         -(g0 - g1 + g2) * third,
                                         -(16 * g0 + 8 * g1 + 4 * g2) * fifteenth,
                                         (g0 - 2 * g1 + 4 * g2) * fifteenth,
                                         g2};
                    for (int j = 0; j < 6; j++) dst[(i * 6 + j) * xs + c * mr] = (FC_T)r[j];
                }
            }
        }
    }
    memcpy(slot, &key, sizeof key);
    memcpy(wcopy, w, wb);
    *tag = 1;
    return up;
}

/* One work item: rows [g0, g1) of the grid of (image, tile row) pairs, g = image TH + th
 * (within one image for F(4x4), whose vectors of two half rows need its rows' tiles to
 * start at multiples of FC_WG_TV), over x (n, c_in, H, W) -> their outputs.  The item's
 * tiles are its rows' in order, each row of TWp tiles, rounded up to whole nr panels. */
static void FC_FN(wg_item)(const FC_FN(wg_plan) *g, const FC_T *x, const FC_T *bias,
                           const fc_conv_block_out *out, int64_t g0, int64_t g1)
{
    const fc_conv2d_params *p = g->p;
    const fc_gemm_config *cfg = g->cfg;
    const FC_UKFN uk = (FC_UKFN)cfg->ukernel;
    const int64_t C = p->c_in, M = p->c_out, H = p->h, W = p->w;
    const int64_t OH = p->out_h, OW = p->out_w, TH = g->TH, TWp = g->TWp, ld = g->ld;
    const int64_t nr = cfg->nr, mr = cfg->mr, m_pad = g->m_pad;
    const int64_t ntile = (g1 - g0) * TWp;
    const int64_t tb_pad = (ntile + nr - 1) / nr * nr; /* this item's tiles, whole panels */
    const int tile = g->tile, nxi = g->nxi;
    FC_T *buf = (FC_T *)fc_scratch(FC_SCRATCH_COL,
                                   sizeof(FC_T) * (size_t)FC_FN(wg_scratch_elems)(g, g->RB, g->tb_pad));
    if (!buf) abort();
    const int64_t ph = FC_FN(wg_phases)(tile);
    FC_T *xs = buf;                                 /* C x phases x rows x ld */
    FC_T *v = xs + ph * C * (tile * g->RB + 2) * ld; /* nxi x (C x tb_pad), packed B */
    FC_T *m = v + nxi * FC_FN(wg_xs)(C * g->tb_pad);  /* m_pad rows of ldm (FC_WG_MOFF) */
    FC_T *pr = m + m_pad * FC_FN(wg_ldm)(nxi, g->tb_pad); /* one padded row (4 ld) */
    const int64_t vxs = FC_FN(wg_xs)(C * tb_pad), ldm = FC_FN(wg_ldm)(nxi, tb_pad);
    const FC_FN(wg_rows_fn) rows_fn = tile == 4 ? g->k.split4_rows : g->k.pad_rows;
    const FC_FN(wg_input_fn) input = tile == 4 ? g->k.input4_block : g->k.input_block;

    /* 1-2. per image of the item: its padded input rows tile th0 .. tile th0 + rows - 1
     * (F(4x4): split by column modulo 4), then V = B^T d B for every channel and tile,
     * written in the packed-B layout (kc blocks of channels at pc * tb_pad, nr-tile panels
     * of kc x nr) from the image's first tile t0 in the item */
    for (int64_t gg = g0; gg < g1;) {
        const int64_t image = gg / TH, th0 = gg % TH, rb = FC_MIN(TH - th0, g1 - gg);
        const int64_t rows = tile * rb + 2, t0 = (gg - g0) * TWp;
        const FC_T *xi_ = x + image * C * H * W;
        for (int64_t c = 0; c < C; c++)
            rows_fn(xi_ + c * H * W, H, W, p->pad_h, p->pad_w, tile * th0, rows, ld,
                    xs + ph * c * rows * ld, pr);
        for (int64_t pc = 0; pc < C; pc += cfg->kc) {
            const int64_t kc = FC_MIN(cfg->kc, C - pc);
            input(xs + ph * pc * rows * ld, rows, ld, kc, rb, TWp, v + pc * tb_pad, vxs, nr, kc,
                  t0);
        }
        gg += rb;
    }
    /* columns past the item's tiles are zero: one run per channel and panel */
    for (int64_t pc = 0; pc < C; pc += cfg->kc) {
        const int64_t kc = FC_MIN(cfg->kc, C - pc);
        for (int64_t t = ntile; t < tb_pad;) {
            const int64_t run = FC_MIN(tb_pad, (t / nr + 1) * nr) - t;
            for (int xi = 0; xi < nxi; xi++)
                for (int64_t c = 0; c < kc; c++) {
                    FC_T *z = v + xi * vxs + pc * tb_pad + (t / nr) * nr * kc + c * nr + t % nr;
                    for (int64_t j = 0; j < run; j++) z[j] = 0;
                }
            t += run;
        }
    }
    /* 3. the nxi GEMMs M_xi = U_xi @ V_xi, full tiles on the padded buffers; M_xi's nr-tile
     * panels interleaved with the other products' (FC_WG_MOFF) */
    for (int xi = 0; xi < nxi; xi++) {
        const FC_T *a = g->up + xi * m_pad * C, *b = v + xi * vxs;
        FC_T *mc = m + xi * nr;
        for (int64_t pc = 0; pc < C; pc += cfg->kc) {
            const int64_t kc = FC_MIN(cfg->kc, C - pc);
            const FC_T beta = pc == 0 ? (FC_T)0 : (FC_T)1;
            for (int64_t jr = 0; jr < tb_pad; jr += nr)
                for (int64_t ir = 0; ir < m_pad; ir += mr)
                    uk(kc, a + pc * m_pad + ir * kc, b + pc * tb_pad + jr * kc,
                       mc + ir * ldm + jr * nxi, ldm, (FC_T)1, beta, NULL, NULL);
        }
    }
    /* 4. per image: y = A^T M A + bias (relu, 2x2 max-pool) from its tiles at t0 */
    for (int64_t gg = g0; gg < g1;) {
        const int64_t image = gg / TH, th0 = gg % TH, rb = FC_MIN(TH - th0, g1 - gg);
        const int64_t t0 = (gg - g0) * TWp;
        if (out->pool == 2) {
            const int64_t PH = OH / 2, PW = OW / 2;
            (tile == 4 ? g->k.output4_pool_block : g->k.output_pool_block)(
                m, nr, ldm, M, rb, TWp, t0, bias, out->relu,
                (FC_T *)out->y + image * M * PH * PW, out->idx + image * M * PH * PW, PH, PW,
                th0);
        } else {
            (tile == 4 ? g->k.output4_block : g->k.output_block)(
                m, nr, ldm, M, rb, TWp, t0, bias, out->relu,
                (FC_T *)out->y + image * M * OH * OW, OH, OW, th0);
        }
        gg += rb;
    }
}

/* The whole conv (all images) on the Winograd path; use_winograd(isa, p) must hold.  The
 * outputs are as for fc_conv2d_block_forward: y (n, c_out, OH, OW), or with out->pool == 2
 * the pooled y (n, c_out, OH / 2, OW / 2) and idx; relu'd if out->relu. */
static void FC_FN(wg_forward)(fc_isa isa, const fc_conv2d_params *p, const FC_T *x,
                              const FC_T *w, const FC_T *bias, const fc_conv_block_out *out)
{
    const int64_t N = p->n;
    if (N <= 0) return;
    fc_gemm_config cfgk;
    FC_FN(wg_plan) g;
    g.p = p;
    g.cfg = FC_FN(packed_cfg)(isa, p->c_in, &cfgk);
    g.k = FC_FN(wg_kernels_for)(isa);
    g.tile = FC_FN(use_winograd)(isa, p);
    g.nxi = (g.tile + 2) * (g.tile + 2);
    g.TH = (p->out_h + g.tile - 1) / g.tile;
    g.TWp = FC_FN(wg_twp)(p, g.tile);
    /* the input transforms read padded columns 0 .. 2 TWp + 1 (F(2x2)), or values
     * 0 .. TWp of each column phase (F(4x4)) */
    g.ld = g.tile == 4 ? g.TWp + 1 : 2 * g.TWp + 2;
    g.m_pad = (p->c_out + g.cfg->mr - 1) / g.cfg->mr * g.cfg->mr;
    /* tile rows per item: the item's scratch within 3/4 of L2 (half left too few tiles per
     * item with 64 input channels: 16 tiles, 10% slower than 32 on the 14x14 grad_input) and
     * this thread's share of the workspace limit (one row at least: use_winograd checked
     * that it fits) */
    const int nt = fc_threads_for_region();
    int64_t caches[3];
    (void)fc_cache_sizes(caches);
    const double budget = FC_MIN((double)caches[1] * 3 / 4,
                                 (double)fc_get_workspace_limit() / nt -
                                     (double)FC_FN(wg_uslot_bytes)(p, g.nxi, g.m_pad));
    const int64_t nr = g.cfg->nr;
    int64_t rb_max = g.TH;
    for (; rb_max > 1; rb_max--) {
        const int64_t tb = (rb_max * g.TWp + nr - 1) / nr * nr;
        if ((double)sizeof(FC_T) * (double)FC_FN(wg_scratch_elems)(&g, rb_max, tb) <= budget)
            break;
    }
    /* tile rows per item: the fewest tiles computed in all (each item's tiles are rounded up
     * to whole nr panels), then the largest items.  F(2x2) items run on over image
     * boundaries (rows R = N TH in all: 14x14 planes have 7 rows of 8 tiles, and items of 6
     * rows fill 3 panels exactly, where items within an image computed 64 tiles for 56);
     * F(4x4) items stay within an image (R = TH, the same for every image).  If that leaves
     * fewer items than threads (batch 1), the fewest tiles on the busiest thread instead
     * (items dealt out whole), then the fewest in all: the 14x14 plane at batch 1 on 2
     * threads is two items of 4 and 3 rows (32 tiles each) instead of one of 64 tiles. */
    g.flat = g.tile == 2;
    const int64_t R = g.flat ? N * g.TH : g.TH, per = g.flat ? 1 : N;
    for (int by_span = 0; by_span < 2; by_span++) {
        int64_t best = -1, best_span = 0;
        g.RB = 1;
        for (int64_t rb = rb_max; rb >= 1; rb--) {
            const int64_t nblk = (R + rb - 1) / rb, last = R - (nblk - 1) * rb;
            const int64_t full = (rb * g.TWp + nr - 1) / nr * nr;
            const int64_t cost = (nblk - 1) * full + (last * g.TWp + nr - 1) / nr * nr;
            const int64_t span = by_span ? (per * nblk + nt - 1) / nt * full : 0;
            if (best < 0 || span < best_span || (span == best_span && cost < best)) {
                best = cost;
                best_span = span;
                g.RB = rb;
            }
        }
        if (nt <= 1 || per * ((R + g.RB - 1) / g.RB) >= nt) break;
    }
    g.nblk = (R + g.RB - 1) / g.RB;
    g.tb_pad = (g.RB * g.TWp + nr - 1) / nr * nr;
    g.up = FC_FN(wg_transform_weights)(g.cfg, p, w, g.m_pad, g.tile);
    const int64_t items = g.flat ? g.nblk : N * g.nblk;
    const int threads = (int)FC_MIN((int64_t)nt, items);
    (void)threads; /* (no OpenMP: one thread) */
    FC_OMP(parallel for schedule(static) num_threads(threads) if (threads > 1))
    for (int64_t it = 0; it < items; it++) {
        int64_t g0, g1;
        if (g.flat) {
            g0 = it * g.RB;
            g1 = FC_MIN(g0 + g.RB, R);
        } else {
            const int64_t image = it / g.nblk, blk = it % g.nblk;
            g0 = image * g.TH + blk * g.RB;
            g1 = image * g.TH + FC_MIN((blk + 1) * g.RB, g.TH);
        }
        FC_FN(wg_item)(&g, x, bias, out, g0, g1);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Weight gradient on the Winograd path                                                  */
/* ------------------------------------------------------------------------------------ */
/* With M_xi = U_xi @ V_xi and y = A^T M A per tile, the gradient of the loss with respect to
 * U_xi is a sum over every tile of every image,
 *     dU_xi (Cout, Cin) = sum_tiles dM_xi (Cout, tiles) @ V_xi (Cin, tiles)^T,
 * where dM = A dY A^T (4x4 from the 2x2 output-gradient tile, zero past OH, OW), and since
 * U = G g G^T is linear in g, dg = G^T dU G (3x3 from 4x4) per channel pair.  The 16 GEMMs
 * reduce over tiles (a long k), 16 multiply-adds per (tile, channel pair) against 36 for
 * the direct weight gradient.  Input and output gradient go channels-last, the transforms run
 * over contiguous channels (the path's vectors: to_channels_last and dw_image in
 * winograd_tmpl.h) and write the microkernel's packed panels, dM as the A operand (panels of
 * mr output channels) and V^T as the B operand (panels of nr input channels: the input
 * transform, the costlier one, gets the longer runs of channels). */

/* Input and output channels padded to the panels of the weight gradient's GEMM: cp to nr,
 * mp to mr. */
static void FC_FN(wgd_pads)(const fc_gemm_config *cfg, const fc_conv2d_params *p, int64_t *cp,
                            int64_t *mp)
{
    *cp = (p->c_in + cfg->nr - 1) / cfg->nr * cfg->nr;
    *mp = (p->c_out + cfg->mr - 1) / cfg->mr * cfg->mr;
}

/* Tiles of one image: TH x TW, TW = ceil(OW / 2) exactly (no padding of the grid). */
static void FC_FN(wgd_grid)(const fc_conv2d_params *p, int64_t *th, int64_t *tw)
{
    *th = (p->out_h + 1) / 2;
    *tw = (p->out_w + 1) / 2;
}

/* Stride between the 16 packed matrices of V or dM (ldt tiles x ch_pad channels): wg_xs. */
static int64_t FC_FN(wgd_xs)(int64_t ldt, int64_t ch_pad) { return FC_FN(wg_xs)(ldt * ch_pad); }

/* Elements of one image's input and output gradient channels-last, zero-padded to the tile
 * grid and to Cin_pad / Cout_pad channels: (2 TH + 2) x (2 TW + 2) x Cin_pad, then
 * 2 TH x 2 TW x Cout_pad (wgd_pads). */
static int64_t FC_FN(wgd_planes_elems)(const fc_gemm_config *cfg, const fc_conv2d_params *p)
{
    int64_t TH, TW, cp, mp;
    FC_FN(wgd_grid)(p, &TH, &TW);
    FC_FN(wgd_pads)(cfg, p, &cp, &mp);
    return (2 * TH + 2) * (2 * TW + 2) * cp + 4 * TH * TW * mp;
}

/* Elements of the per-thread scratch for chunk images: the channels-last planes (first, at a
 * fixed offset: their padding is zeroed once per call and never written), then V and dM
 * packed (16 x (Cin_pad + Cout_pad) x tiles). */
static int64_t FC_FN(wgd_scratch_elems)(const fc_gemm_config *cfg, const fc_conv2d_params *p,
                                        int64_t chunk)
{
    int64_t TH, TW, cp, mp;
    FC_FN(wgd_grid)(p, &TH, &TW);
    FC_FN(wgd_pads)(cfg, p, &cp, &mp);
    const int64_t ldt = chunk * TH * TW;
    const int64_t cl = 64 / (int64_t)sizeof(FC_T);
    const int64_t planes = (FC_FN(wgd_planes_elems)(cfg, p) + cl - 1) / cl * cl;
    return planes + 16 * (FC_FN(wgd_xs)(ldt, cp) + FC_FN(wgd_xs)(ldt, mp)) + 64;
}

/* Whether the weight gradient takes this path: mode 2 whenever it applies and one image fits
 * this thread's share of the workspace limit; mode 1 also needs enough channels for the 16
 * GEMMs to run at speed and few partial tiles (odd OH or OW compute tiles half dropped). */
static int FC_FN(use_winograd_dw)(fc_isa isa, const fc_conv2d_params *p)
{
    const int mode = fc_conv_winograd_mode();
    if (mode == 0 || !FC_FN(wg_applies)(isa, p) || p->n <= 0) return 0;
    const double limit = (double)fc_get_workspace_limit() / fc_threads_for_region();
    const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
    int64_t cp, mp;
    FC_FN(wgd_pads)(cfg, p, &cp, &mp);
    const double bytes = (double)sizeof(FC_T) * ((double)FC_FN(wgd_scratch_elems)(cfg, p, 1) +
                                                 16.0 * (double)(cp * mp)); /* + dU */
    if (bytes > limit) return 0;
    if (mode == 2 || mode == 4) return 1;
    int64_t TH, TW;
    FC_FN(wgd_grid)(p, &TH, &TW);
    const double waste = (4.0 * (double)(TH * TW)) / (double)(p->out_h * p->out_w);
    return p->c_in >= 16 && p->c_out >= 16 && waste <= 1.15 && p->out_h >= 4 && p->out_w >= 4;
}

/* gw (Cout, Cin, 3, 3) = G^T dU G for every channel pair, from dU stored [xi][co][ci] with
 * rows of ldu and matrices xs apart. */
static void FC_FN(wgd_output)(const fc_conv2d_params *p, const FC_T *du, int64_t ldu,
                              int64_t xs, FC_T *gw)
{
    const int64_t C = p->c_in, M = p->c_out;
    for (int64_t co = 0; co < M; co++)
        for (int64_t ci = 0; ci < C; ci++) {
            const FC_T *d = du + co * ldu + ci;
            FC_T t[3][4]; /* G^T dU */
            for (int j = 0; j < 4; j++) {
                const FC_T d0 = d[j * xs], d1 = d[(4 + j) * xs], d2 = d[(8 + j) * xs],
                           d3 = d[(12 + j) * xs];
                t[0][j] = d0 + (FC_T)0.5 * (d1 + d2);
                t[1][j] = (FC_T)0.5 * (d1 - d2);
                t[2][j] = (FC_T)0.5 * (d1 + d2) + d3;
            }
            FC_T *g = gw + (co * C + ci) * 9;
            for (int a = 0; a < 3; a++) { /* (G^T dU) G */
                g[3 * a] = t[a][0] + (FC_T)0.5 * (t[a][1] + t[a][2]);
                g[3 * a + 1] = (FC_T)0.5 * (t[a][1] - t[a][2]);
                g[3 * a + 2] = (FC_T)0.5 * (t[a][1] + t[a][2]) + t[a][3];
            }
        }
}

/* gw = the weight gradient of all images on the Winograd path (use_winograd_dw must hold):
 * threads over the images, each summing its dU privately (padded to whole mr x nr tiles),
 * in chunks of images whose V and dM (16 x (Cin_pad + Cout_pad) values per tile, written and
 * then read by the GEMMs) fill at most half of L2, 64 to 256 tiles (the microkernel's k),
 * within this thread's share of the workspace limit.  On an Emerald Rapids core (2 MiB L2) the
 * MNIST and CIFAR conv2 weight gradients (32 -> 64 channels, 14x14 and 16x16) ran 4-7%
 * faster in float32 at 1 and 2 threads with 98-147 tile chunks than with 245-256 (1.5-1.6
 * MiB), and 6-12% faster in float64 with one image per chunk than with two (diagnostic). */
static void FC_FN(wg_weight_grad)(fc_isa isa, const fc_conv2d_params *p, const FC_T *gy,
                                  const FC_T *x, FC_T *gw, int nt)
{
    const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
    const FC_UKFN uk = (FC_UKFN)cfg->ukernel;
    const int64_t mr = cfg->mr, nr = cfg->nr;
    const int64_t N = p->n, C = p->c_in, M = p->c_out;
    int64_t cp, mp;
    FC_FN(wgd_pads)(cfg, p, &cp, &mp);
    const int64_t usize = 16 * cp * mp;
    const FC_FN(wg_kernels) k = FC_FN(wg_kernels_for)(isa);
    const int64_t xs = C * p->h * p->w, ys = M * p->out_h * p->out_w;
    int64_t TH, TW;
    FC_FN(wgd_grid)(p, &TH, &TW);
    const int64_t T = TH * TW, WP = 2 * TW + 2, GP = 2 * TW;
    const int outer = (int)FC_MIN((int64_t)nt, N);
    const double limit = (double)fc_get_workspace_limit() / outer - sizeof(FC_T) * (double)usize;
    int64_t caches[3];
    (void)fc_cache_sizes(caches);
    const int64_t per_tile = 16 * (cp + mp) * (int64_t)sizeof(FC_T); /* its V and dM */
    const int64_t tmax = FC_MIN((int64_t)256, FC_MAX((int64_t)64, caches[1] / 2 / per_tile));
    int64_t chunk = FC_MAX((int64_t)1, tmax / T);
    while (chunk > 1 &&
           (double)sizeof(FC_T) * (double)FC_FN(wgd_scratch_elems)(cfg, p, chunk) > limit)
        chunk--;
    FC_T *du = (FC_T *)calloc((size_t)(usize * outer + 1), sizeof(FC_T));
    if (!du) abort();
    FC_OMP(parallel num_threads(outer) if (outer > 1))
    {
        const int t = FC_THREAD_ID();
        const int nth = FC_NUM_THREADS_IN_REGION();
        FC_T *dut = du + (size_t)t * (size_t)usize;
        const int64_t i0 = N * t / nth, i1 = N * (t + 1) / nth;
        FC_T *buf = (FC_T *)fc_scratch(
            FC_SCRATCH_COL, sizeof(FC_T) * (size_t)FC_FN(wgd_scratch_elems)(cfg, p, chunk));
        if (!buf) abort();
        /* the planes' padding: zero once, the images overwrite only their interior */
        const int64_t pe = FC_FN(wgd_planes_elems)(cfg, p), cl = 64 / (int64_t)sizeof(FC_T);
        FC_T *xt = buf;
        for (int64_t e = 0; e < pe; e++) xt[e] = 0;
        FC_T *const vbuf = buf + (pe + cl - 1) / cl * cl;
        for (int64_t i = i0; i < i1; i += chunk) {
            const int64_t nc = FC_MIN(chunk, i1 - i), ldt = nc * T;
            const int64_t vs = FC_FN(wgd_xs)(ldt, cp), ms = FC_FN(wgd_xs)(ldt, mp);
            FC_T *v = vbuf, *dm = v + 16 * vs;
            for (int64_t j = 0; j < nc; j++) {
                /* x and gy channels-last (their padding stays zero), then V and dM */
                FC_T *gt = xt + (2 * TH + 2) * WP * cp;
                k.to_channels_last(x + (i + j) * xs, C, p->h, p->w, p->pad_h, p->pad_w, WP, cp,
                                   xt);
                k.to_channels_last(gy + (i + j) * ys, M, p->out_h, p->out_w, 0, 0, GP, mp, gt);
                k.dw_image(xt, gt, TH, TW, cp, mp, nr, mr, v, dm, ldt, j * T, vs, ms);
            }
            /* dU_xi (mp, cp) += dM_xi @ V_xi^T, whole tiles on the packed panels */
            for (int xi = 0; xi < 16; xi++)
                for (int64_t jr = 0; jr < cp; jr += nr)
                    for (int64_t ir = 0; ir < mp; ir += mr)
                        uk(ldt, dm + xi * ms + ir * ldt, v + xi * vs + jr * ldt,
                           dut + xi * mp * cp + ir * cp + jr, cp, (FC_T)1, (FC_T)1, NULL, NULL);
        }
    }
    for (int t = 1; t < outer; t++)
        for (int64_t i = 0; i < usize; i++) du[i] += du[(size_t)t * (size_t)usize + i];
    FC_FN(wgd_output)(p, du, cp, mp * cp, gw);
    free(du);
}
