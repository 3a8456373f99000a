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
 * Work is split into (image, block of tile rows) items, L2-sized, over the threads; every
 * tile is computed the same way whatever the blocking or thread count, so results do not
 * depend on either.  Tiles run on a grid of TWp tiles per row (TW = ceil(OW / 2) rounded up
 * to the transform's vector of 32 bytes); the columns past OW are computed and dropped.
 */

typedef void (*FC_FN(wg_split_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                   int64_t, int64_t, FC_T *, FC_T *, FC_T *);
typedef void (*FC_FN(wg_input_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                   FC_T *, int64_t, int64_t, int64_t);
typedef void (*FC_FN(wg_output_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                    const FC_T *, int, FC_T *, int64_t, int64_t, int64_t);
typedef void (*FC_FN(wg_output_pool_fn))(const FC_T *, int64_t, int64_t, int64_t, int64_t,
                                         int64_t, const FC_T *, int, FC_T *, uint8_t *, int64_t,
                                         int64_t, int64_t);

typedef struct {
    FC_FN(wg_split_fn) split_rows;
    FC_FN(wg_input_fn) input_block;
    FC_FN(wg_output_fn) output_block;
    FC_FN(wg_output_pool_fn) output_pool_block;
} FC_FN(wg_kernels);

static FC_FN(wg_kernels) FC_FN(wg_kernels_for)(fc_isa isa)
{
#define FC_WG_KERNELS(ISA)                                                                   \
    {FC_KN(winograd, split_rows, ISA), FC_KN(winograd, input_block, ISA),                    \
     FC_KN(winograd, output_block, ISA), FC_KN(winograd, output_pool_block, ISA)}
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

/* Tiles per row of the tile grid: ceil(OW / 2) rounded up to the transforms' vector. */
static int64_t FC_FN(wg_twp)(const fc_conv2d_params *p)
{
    const int64_t tw = (p->out_w + 1) / 2, tv = FC_FN(WG_TV);
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
           cfg->nr % FC_FN(WG_TV) == 0 && cfg->mr <= 16;
}

/* Geometry of one call. */
typedef struct {
    const fc_conv2d_params *p;
    const fc_gemm_config *cfg;
    FC_FN(wg_kernels) k;
    int64_t TH, TWp;     /* tile grid: rows, tiles per row */
    int64_t RB, nblk;    /* tile rows per work item, work items per image */
    int64_t tb_pad;      /* tiles per work item, rounded up to whole nr panels */
    int64_t m_pad;       /* c_out rounded up to mr */
    int64_t ld;          /* row length of the split (even / odd column) planes */
    const FC_T *up;      /* transformed weights, packed per xi (m_pad * c_in each) */
} FC_FN(wg_plan);

/* Scratch of one work item of rb tile rows: split planes, V, M (elements). */
static int64_t FC_FN(wg_scratch_elems)(const FC_FN(wg_plan) *g, int64_t rb, int64_t tb_pad)
{
    const int64_t C = g->p->c_in;
    return 2 * C * (2 * rb + 2) * g->ld + 16 * C * tb_pad + 16 * g->m_pad * tb_pad +
           2 * g->ld + 64;
}

/* Cost model: Winograd runs a conv that wg_applies to when it does markedly less work than
 * the direct GEMM: enough input and output channels for the 16 GEMMs to run at speed and
 * to hide the transforms (which cost about 2 (C + Cout) operations per tile against 32 C
 * Cout for the products), and a tile grid that wastes little on columns past OW.  Also the
 * smallest work item must fit in this thread's share of the workspace limit.  mode
 * (fc_conv_winograd_mode): 0 never, 2 whenever it applies. */
static int FC_FN(use_winograd)(fc_isa isa, const fc_conv2d_params *p)
{
    const int mode = fc_conv_winograd_mode();
    if (mode == 0 || !FC_FN(wg_applies)(isa, p)) return 0;
    const fc_gemm_config *cfg = FC_FN(fc_gemm_config)(isa);
    const int64_t C = p->c_in, M = p->c_out, twp = FC_FN(wg_twp)(p);
    const int64_t m_pad = (M + cfg->mr - 1) / cfg->mr * cfg->mr;
    const int64_t tb_pad = (twp + cfg->nr - 1) / cfg->nr * cfg->nr;
    const double bytes = sizeof(FC_T) * (double)(2 * C * 4 * (twp + 32 / sizeof(FC_T)) +
                                                 16 * (C + m_pad) * tb_pad);
    const double limit = (double)fc_get_workspace_limit() / fc_threads_for_region();
    if (bytes + sizeof(FC_T) * 16.0 * (double)m_pad * (double)C > limit) return 0;
    if (mode == 2) return 1;
    /* columns computed per output column, and the products' share of the work */
    const double waste = (2.0 * (double)twp) / (double)p->out_w;
    return C >= 32 && M >= 16 && waste <= 1.15 && p->out_h >= 4;
}

/* U_xi[co][ci] = (G g G^T)[xi] for every channel pair, written straight into the packed-A
 * layout of fc_gemm_pack_a_full (for each kc block of channels at pc, mr-row panels of kc x
 * mr; rows past M zero), in this thread's FC_SCRATCH_WINO_U slot: no allocation, no copy. */
static FC_T *FC_FN(wg_transform_weights)(const fc_gemm_config *cfg, const fc_conv2d_params *p,
                                         const FC_T *w, int64_t m_pad)
{
    const int64_t C = p->c_in, M = p->c_out, mr = cfg->mr, xs = m_pad * C;
    FC_T *up = (FC_T *)fc_scratch(FC_SCRATCH_WINO_U, sizeof(FC_T) * (size_t)(16 * xs + 1));
    if (!up) abort();
    for (int64_t pc = 0; pc < C; pc += cfg->kc) {
        const int64_t kc = FC_MIN(cfg->kc, C - pc);
        for (int64_t co = 0; co < m_pad; co++) {
            /* element (co, ci) of U_xi sits at xi * xs + pc * m_pad + panel + (ci - pc) * mr */
            FC_T *dst = up + pc * m_pad + (co / mr) * mr * kc + co % mr;
            if (co >= M) {
                for (int xi = 0; xi < 16; xi++)
                    for (int64_t c = 0; c < kc; c++) dst[xi * xs + c * mr] = 0;
                continue;
            }
            for (int64_t c = 0; c < kc; c++) {
                const FC_T *g = w + (co * C + pc + c) * 9;
                FC_T t[4][3]; /* G g */
                for (int s = 0; s < 3; s++) {
                    t[0][s] = g[s];
                    t[1][s] = (FC_T)0.5 * (g[s] + g[3 + s] + g[6 + s]);
                    t[2][s] = (FC_T)0.5 * (g[s] - g[3 + s] + g[6 + s]);
                    t[3][s] = g[6 + s];
                }
                for (int i = 0; i < 4; i++) { /* (G g) G^T */
                    const FC_T r[4] = {t[i][0], (FC_T)0.5 * (t[i][0] + t[i][1] + t[i][2]),
                                       (FC_T)0.5 * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                    for (int j = 0; j < 4; j++) dst[(i * 4 + j) * xs + c * mr] = r[j];
                }
            }
        }
    }
    return up;
}

/* One work item: tile rows [th0, th0 + rb) of image x (c_in, H, W) -> its outputs. */
static void FC_FN(wg_item)(const FC_FN(wg_plan) *g, const FC_T *x, const FC_T *bias,
                           const fc_conv_block_out *out, int64_t image, int64_t th0, int64_t rb)
{
    const fc_conv2d_params *p = g->p;
    const fc_gemm_config *cfg = g->cfg;
    const FC_UKFN uk = (FC_UKFN)cfg->ukernel;
    const int64_t C = p->c_in, M = p->c_out, H = p->h, W = p->w;
    const int64_t OH = p->out_h, OW = p->out_w, TWp = g->TWp, ld = g->ld;
    const int64_t nr = cfg->nr, mr = cfg->mr, m_pad = g->m_pad;
    const int64_t tb_pad = (rb * TWp + nr - 1) / nr * nr; /* this item's tiles, whole panels */
    const int64_t rows = 2 * rb + 2; /* padded input rows read */
    FC_T *buf = (FC_T *)fc_scratch(FC_SCRATCH_COL,
                                   sizeof(FC_T) * (size_t)FC_FN(wg_scratch_elems)(g, g->RB, g->tb_pad));
    if (!buf) abort();
    FC_T *xs = buf;                                /* C x (even, odd) x rows x ld */
    FC_T *v = xs + 2 * C * (2 * g->RB + 2) * ld;  /* 16 x (C x tb_pad), packed B */
    FC_T *m = v + 16 * C * g->tb_pad;              /* 16 x (m_pad x tb_pad) */
    FC_T *pr = m + 16 * m_pad * g->tb_pad;         /* one padded row */
    const int64_t vxs = C * tb_pad, mxs = m_pad * tb_pad;

    /* 1. the padded input rows 2 th0 .. 2 th0 + rows - 1, split into even and odd columns */
    for (int64_t c = 0; c < C; c++) {
        FC_T *xe = xs + (2 * c) * rows * ld;
        g->k.split_rows(x + c * H * W, H, W, p->pad_h, p->pad_w, 2 * th0, rows, ld, xe,
                        xe + rows * ld, pr);
    }
    /* 2. V = B^T d B for every channel and tile, written in the packed-B layout (kc blocks
     * of channels at pc * tb_pad, nr-tile panels of kc x nr); columns past the item's tiles
     * are zero */
    const int64_t ntile = rb * TWp;
    for (int64_t pc = 0; pc < C; pc += cfg->kc) {
        const int64_t kc = FC_MIN(cfg->kc, C - pc);
        g->k.input_block(xs + 2 * pc * rows * ld, rows, ld, kc, rb, TWp, v + pc * tb_pad, vxs,
                         nr, kc);
        /* zero the columns past the item's tiles: one run per channel and panel */
        for (int64_t t = ntile; t < tb_pad;) {
            const int64_t run = FC_MIN(tb_pad, (t / nr + 1) * nr) - t;
            for (int xi = 0; xi < 16; xi++)
                for (int64_t c = 0; c < kc; c++) {
                    FC_T *z = v + xi * vxs + pc * tb_pad + (t / nr) * nr * kc + c * nr + t % nr;
                    for (int64_t j = 0; j < run; j++) z[j] = 0;
                }
            t += run;
        }
    }
    /* 3. the 16 GEMMs M_xi = U_xi @ V_xi, full tiles on the padded buffers */
    for (int xi = 0; xi < 16; xi++) {
        const FC_T *a = g->up + xi * m_pad * C, *b = v + xi * vxs;
        FC_T *mc = m + xi * mxs;
        for (int64_t pc = 0; pc < C; pc += cfg->kc) {
            const int64_t kc = FC_MIN(cfg->kc, C - pc);
            const FC_T beta = pc == 0 ? (FC_T)0 : (FC_T)1;
            for (int64_t jr = 0; jr < tb_pad; jr += nr)
                for (int64_t ir = 0; ir < m_pad; ir += mr)
                    uk(kc, a + pc * m_pad + ir * kc, b + pc * tb_pad + jr * kc,
                       mc + ir * tb_pad + jr, tb_pad, (FC_T)1, beta, NULL, NULL);
        }
    }
    /* 4. y = A^T M A + bias (relu, 2x2 max-pool) */
    if (out->pool == 2) {
        const int64_t PH = OH / 2, PW = OW / 2;
        g->k.output_pool_block(m, mxs, tb_pad, M, rb, TWp, bias, out->relu,
                               (FC_T *)out->y + image * M * PH * PW,
                               out->idx + image * M * PH * PW, PH, PW, th0);
    } else {
        g->k.output_block(m, mxs, tb_pad, M, rb, TWp, bias, out->relu,
                          (FC_T *)out->y + image * M * OH * OW, OH, OW, th0);
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
    g.TH = (p->out_h + 1) / 2;
    g.TWp = FC_FN(wg_twp)(p);
    g.ld = g.TWp + FC_FN(WG_TV);
    g.m_pad = (p->c_out + g.cfg->mr - 1) / g.cfg->mr * g.cfg->mr;
    /* tile rows per item: the item's scratch within half of L2 and this thread's share of
     * the workspace limit (one row at least: use_winograd checked that it fits) */
    const int nt = fc_threads_for_region();
    int64_t caches[3];
    (void)fc_cache_sizes(caches);
    const double budget = FC_MIN((double)caches[1] / 2,
                                 (double)fc_get_workspace_limit() / nt -
                                     sizeof(FC_T) * 16.0 * (double)(g.m_pad * p->c_in));
    const int64_t nr = g.cfg->nr;
    int64_t rb_max = g.TH;
    for (; rb_max > 1; rb_max--) {
        const int64_t tb = (rb_max * g.TWp + nr - 1) / nr * nr;
        if ((double)sizeof(FC_T) * (double)FC_FN(wg_scratch_elems)(&g, rb_max, tb) <= budget)
            break;
    }
    /* tile rows per item: the fewest tiles computed in all (each item's tiles are rounded up
     * to whole nr panels), then the largest items */
    int64_t best = -1;
    g.RB = 1;
    for (int64_t rb = rb_max; rb >= 1; rb--) {
        const int64_t nblk = (g.TH + rb - 1) / rb, last = g.TH - (nblk - 1) * rb;
        const int64_t cost = (nblk - 1) * ((rb * g.TWp + nr - 1) / nr * nr) +
                             (last * g.TWp + nr - 1) / nr * nr;
        if (best < 0 || cost < best) {
            best = cost;
            g.RB = rb;
        }
    }
    g.nblk = (g.TH + g.RB - 1) / g.RB;
    g.tb_pad = (g.RB * g.TWp + nr - 1) / nr * nr;
    g.up = FC_FN(wg_transform_weights)(g.cfg, p, w, g.m_pad);
    const int64_t items = N * g.nblk;
    const int threads = (int)FC_MIN((int64_t)nt, items);
    (void)threads; /* (no OpenMP: one thread) */
    FC_OMP(parallel for schedule(static) num_threads(threads) if (threads > 1))
    for (int64_t it = 0; it < items; it++) {
        const int64_t image = it / g.nblk, blk = it % g.nblk;
        const int64_t th0 = blk * g.RB, rb_i = FC_MIN(g.RB, g.TH - th0);
        FC_FN(wg_item)(&g, x + image * p->c_in * p->h * p->w, bias, out, image, th0, rb_i);
    }
}
