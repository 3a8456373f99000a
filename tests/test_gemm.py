"""Tests of the packed GEMM engine and the dense / conv2d kernels built on it.

Every test runs on each optimised ISA path the CPU supports (scalar, avx2, avx512, neon) and
both dtypes.  The GEMM checks cover every edge tile of each microkernel (every m in 1..MR,
every n in 1..NR), k across the cache-block boundaries up to 3*KC, odd leading dimensions,
all transpose combinations and alpha/beta (beta == 0 must not read C).  conv2d and linear
are checked against the "reference" path on the seed networks' layer shapes and on the
general options (groups, dilation, stride, padding), with 1 and 2 threads and with a small
workspace limit that forces tiling.

Operands are small integers (and alpha/beta are binary fractions), so every sum is exact
in float32: any mismatch is a real indexing or packing error, not rounding.  Tolerances
come from conftest.py; the isa fixture here covers only the optimised paths (the
reference path is the oracle).
"""
import itertools
import threading

import numpy as np
import pytest

from conftest import tolerance

K = pytest.importorskip("fastconv._kernels")

DTYPES = [np.float32, np.float64]

# The microkernel tile (mr, nr) and cache blocks (kc, mc, nc) of each path, as the engine
# derived them from this machine's cache sizes (see blocking()).
ISAS = [name for name in ("scalar", "avx2", "avx512", "neon") if K.isa_supported(name)]
TRANS = list(itertools.product((False, True), repeat=2))


def blocking(isa, dtype):
    b = K.gemm_blocking(isa, dtype)
    assert b is not None, isa
    return b


# Cache sizes that push the derived blocking to its small and large extremes (kc 128 / 512,
# mc and nc near their floors / caps), fed through the same path as the detected sizes.
CACHE_BRANCHES = {"small": (4 << 10, 16 << 10, 0), "large": (1 << 20, 64 << 20, 1 << 30)}


@pytest.fixture(params=["detected", "small", "large"])
def caches(request):
    """Run a test under the detected cache sizes, and under very small and very large ones."""
    if request.param != "detected":
        K.set_cache_sizes(CACHE_BRANCHES[request.param])
    try:
        yield request.param
    finally:
        K.set_cache_sizes(None)


@pytest.fixture(params=ISAS)
def isa(request):
    before = K.get_isa()
    assert K.set_isa(request.param) == 0
    yield request.param
    assert K.set_isa(before) == 0


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def threads():
    before = K.get_num_threads()
    yield
    K.set_num_threads(before)


@pytest.fixture
def workspace():
    before = K.get_workspace_limit()
    yield
    K.set_workspace_limit(before)


def ints(rng, shape, dtype, lo=-2, hi=3):
    return rng.integers(lo, hi, size=shape).astype(dtype)


def with_ld(rng, rows, cols, dtype, pad):
    """A (rows, cols) view with unit inner stride and row stride cols + pad."""
    base = ints(rng, (rows, cols + pad), dtype)
    return base[:, :cols]


def gemm_case(rng, dtype, m, n, k, ta, tb, alpha, beta, pad=(0, 0, 0), nan_c=False):
    a = with_ld(rng, k if ta else m, m if ta else k, dtype, pad[0])
    b = with_ld(rng, n if tb else k, k if tb else n, dtype, pad[1])
    c = with_ld(rng, m, n, dtype, pad[2])
    c0 = c.astype(np.float64)
    if nan_c:
        c[...] = np.nan
    opa = (a.T if ta else a).astype(np.float64)
    opb = (b.T if tb else b).astype(np.float64)
    expect = alpha * (opa @ opb) + (beta * c0 if beta != 0 else 0.0)
    K.gemm(ta, tb, alpha, a, b, beta, c)
    return c, expect


def check(actual, expect, dtype):
    np.testing.assert_allclose(actual, expect, **tolerance(dtype))


# ------------------------------------------------------------------------------------------
# GEMM
# ------------------------------------------------------------------------------------------

def test_every_edge_tile(isa, dtype):
    """Every m in 1..MR and n in 1..NR, alone and after full tiles, cycling through the
    transposes, alpha/beta and odd leading dimensions."""
    mr, nr = blocking(isa, dtype)["mr"], blocking(isa, dtype)["nr"]
    rng = np.random.default_rng(1)
    scalars = [(1.0, 0.0), (1.5, -0.5), (-2.0, 1.0), (0.5, 2.0)]
    i = 0
    for m in range(1, mr + 1):
        for n in range(1, nr + 1):
            i += 1
            ta, tb = TRANS[i % 4]
            alpha, beta = scalars[(i // 4) % 4]
            k = (1, 2, 7, 33)[i % 4]
            pad = (i % 3, (i + 1) % 3 * 2 + 1, i % 2)
            c, expect = gemm_case(rng, dtype, m, n, k, ta, tb, alpha, beta, pad)
            check(c, expect, dtype)
            # the same edge after full tiles in both dimensions
            c, expect = gemm_case(rng, dtype, 2 * mr + m, nr + n, k, ta, tb, alpha, beta, pad)
            check(c, expect, dtype)


@pytest.mark.parametrize("ta,tb", TRANS)
def test_k_block_boundaries(isa, dtype, ta, tb, caches):
    b = blocking(isa, dtype)
    mr, nr, kc = b["mr"], b["nr"], b["kc"]
    rng = np.random.default_rng(2)
    for k in (1, 2, kc - 1, kc, kc + 1, 2 * kc, 2 * kc + 3, 3 * kc - 1, 3 * kc):
        for m, n in ((mr + 1, nr + 3), (3, 5), (2 * mr, 2 * nr)):
            c, expect = gemm_case(rng, dtype, m, n, k, ta, tb, 0.5, 1.5, pad=(1, 3, 5))
            check(c, expect, dtype)


@pytest.mark.parametrize("ta,tb", TRANS)
def test_beta_zero_does_not_read_c(isa, dtype, ta, tb):
    rng = np.random.default_rng(3)
    for m, n, k in ((1, 1, 1), (9, 33, 17), (40, 70, 300), (5, 3, 50)):
        c, expect = gemm_case(rng, dtype, m, n, k, ta, tb, 1.0, 0.0, nan_c=True)
        assert np.isfinite(c).all()
        check(c, expect, dtype)
    # k == 0 and alpha == 0: C = beta * C, and with beta == 0 the NaNs are overwritten
    for alpha, beta, k in ((1.0, 0.0, 0), (0.0, 0.0, 10), (1.0, 2.0, 0), (0.0, -1.0, 5)):
        c, expect = gemm_case(rng, dtype, 7, 9, k, ta, tb, alpha, beta, nan_c=(beta == 0))
        check(c, expect, dtype)


def test_degenerate_shapes(isa, dtype):
    """Narrow outputs (computed transposed), a single row or column, huge k."""
    rng = np.random.default_rng(4)
    for (m, n, k), (ta, tb) in itertools.product(
        ((1000, 3, 40), (3, 1000, 40), (1, 77, 900), (77, 1, 900), (9, 32, 5000), (32, 9, 5000),
         (2, 7, 3000), (1, 9, 20000), (5, 1, 777)),
        TRANS,
    ):
        c, expect = gemm_case(rng, dtype, m, n, k, ta, tb, 1.0, 1.0, pad=(1, 2, 3))
        check(c, expect, dtype)


@pytest.mark.parametrize("m,n,k", [(1, 1, 64), (1, 9, 100), (1, 128, 3136 + 7), (3, 5, 1000),
                                   (2, 8, 64 + 15), (1, 17, 257)])
def test_dot_product_path(isa, dtype, m, n, k):
    """A single row, or a tiny output with a long k, with op(B) = B^T: the dot-product path
    (groups of 8 columns, vector partial sums, the k % VL tail), with alpha/beta, odd
    leading dimensions and a NaN C that beta == 0 must not read."""
    rng = np.random.default_rng(k)
    for alpha, beta, nan_c in ((1.0, 0.0, True), (0.5, 1.5, False)):
        c, expect = gemm_case(rng, dtype, m, n, k, False, True, alpha, beta, pad=(1, 3, 2),
                              nan_c=nan_c)
        check(c, expect, dtype)


# each above the 2**21 multiply-add threshold, so that 2 threads really split M, K, K, N, and
# N where M is at most 16 row panels (the MNIST fc1 forward at batch 64; an uneven N)
@pytest.mark.parametrize("m,n,k", [(300, 200, 700), (7, 5, 80000), (64, 9, 12544), (20, 900, 160),
                                   (64, 128, 3136), (120, 100, 1000)])
def test_threads_match_serial(isa, dtype, threads, m, n, k):
    """2 threads (splitting M, N or K) give the serial result within float tolerance."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    out = {}
    for nt in (1, 2):
        K.set_num_threads(nt)
        c = c0.copy()
        K.gemm(False, True, 1.0, a, b, 0.5, c)
        out[nt] = c
    scale = np.abs(out[1]).max()
    tol = tolerance(dtype)
    np.testing.assert_allclose(out[2], out[1], rtol=tol["rtol"], atol=tol["atol"] * scale)


# one row against a B of at least 2**18 elements (the batch-1 fc1 of the MNIST net, and an
# uneven width): 2 threads split its columns, each computed as on one thread
@pytest.mark.parametrize("n,k", [(128, 3136), (200, 1500), (130, 2100)])
def test_one_row_dot_split_across_threads_is_bitwise_serial(isa, dtype, threads, n, k):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    out = {}
    for nt in (1, 2):
        K.set_num_threads(nt)
        c = np.full((1, n), 3.0, dtype)
        K.gemm(False, True, 1.0, x, w, 0.5, c)
        out[nt] = (c, K.linear_forward(x, w, bias))
    np.testing.assert_array_equal(out[2][0], out[1][0])
    np.testing.assert_array_equal(out[2][1], out[1][1])
    expect = 0.5 * 3.0 + (x.astype(np.float64) @ w.T.astype(np.float64))
    tol = tolerance(dtype)  # (random data: the absolute part scales with the result, as above)
    np.testing.assert_allclose(out[2][0], expect, rtol=tol["rtol"],
                               atol=tol["atol"] * np.abs(expect).max())


def test_concurrent_python_threads(isa, dtype):
    """Calls from several Python threads at once (per-thread packing buffers)."""
    rng = np.random.default_rng(6)
    shapes = [(120, 90, 300), (33, 250, 513), (64, 64, 64), (200, 17, 1000)]
    cases = []
    for m, n, k in shapes:
        a, b = ints(rng, (m, k), dtype), ints(rng, (k, n), dtype)
        cases.append((a, b, a.astype(np.float64) @ b.astype(np.float64)))
    errors = []

    def work(case):
        a, b, expect = case
        for _ in range(5):
            c = np.empty((a.shape[0], b.shape[1]), dtype)
            K.gemm(False, False, 1.0, a, b, 0.0, c)
            if not np.array_equal(c, expect):
                errors.append(a.shape)

    ts = [threading.Thread(target=work, args=(cs,)) for cs in cases * 2]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


# ------------------------------------------------------------------------------------------
# linear
# ------------------------------------------------------------------------------------------

def run_on(isa_name, fn, *args):
    before = K.get_isa()
    assert K.set_isa(isa_name) == 0
    try:
        return fn(*args)
    finally:
        assert K.set_isa(before) == 0


@pytest.mark.parametrize("n,in_f,out_f", [(2, 3136, 128), (1, 3136, 128), (64, 128, 10),
                                           (5, 7, 3), (0, 4, 3), (3, 1, 1)])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_linear_matches_reference(isa, dtype, threads, n, in_f, out_f, nthreads):
    K.set_num_threads(nthreads)
    rng = np.random.default_rng(7)
    x, w = ints(rng, (n, in_f), dtype), ints(rng, (out_f, in_f), dtype)
    b, gy = ints(rng, (out_f,), dtype), ints(rng, (n, out_f), dtype)
    for bias in (b, None):
        y = K.linear_forward(x, w, bias)
        y_ref = run_on("reference", K.linear_forward, x, w, bias)
        check(y, y_ref, dtype)
    grads = K.linear_backward(gy, x, w, True, True, True)
    grads_ref = run_on("reference", K.linear_backward, gy, x, w, True, True, True)
    for g, g_ref in zip(grads, grads_ref):
        check(g, g_ref, dtype)


# ------------------------------------------------------------------------------------------
# conv2d
# ------------------------------------------------------------------------------------------

def conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


# (n, c_in, h, w, c_out, kh, kw, stride, pad, dil, groups)
SEED_LAYERS = {
    "mnist_conv1": (2, 1, 28, 28, 32, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    "mnist_conv2": (2, 32, 14, 14, 64, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    "cifar_conv1": (2, 3, 32, 32, 32, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    "edge_conv": (2, 1, 300, 300, 1, 3, 3, (1, 1), (1, 1), (1, 1), 1),
}
GENERAL = {
    "groups": (3, 4, 9, 8, 6, 3, 2, (1, 2), (1, 0), (1, 1), 2),
    "depthwise": (2, 4, 10, 11, 4, 3, 3, (2, 1), (1, 1), (1, 1), 4),
    "depthwise_x2": (2, 3, 9, 9, 6, 3, 3, (1, 1), (2, 2), (2, 1), 3),
    "dilation": (2, 3, 12, 10, 5, 3, 2, (1, 1), (2, 1), (2, 3), 1),
    "stride_gt_kernel": (3, 2, 13, 11, 4, 2, 2, (3, 3), (0, 1), (1, 1), 1),
    "pointwise": (2, 16, 7, 9, 24, 1, 1, (1, 1), (0, 0), (1, 1), 1),
    "pointwise_stride": (2, 16, 7, 9, 8, 1, 1, (2, 2), (0, 0), (1, 1), 1),
    "cin1_pad0": (3, 1, 9, 40, 5, 3, 3, (1, 1), (0, 0), (1, 1), 1),
    "cin1_pad2": (1, 1, 5, 17, 3, 3, 3, (1, 1), (2, 2), (1, 1), 1),
    "cout1_stride": (2, 3, 15, 14, 1, 5, 3, (2, 3), (2, 1), (1, 2), 1),
    "kernel_eq_input": (2, 5, 4, 4, 7, 4, 4, (1, 1), (0, 0), (1, 1), 1),
    "batch1": (1, 8, 10, 10, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    "batch0": (0, 2, 5, 5, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1),
}


def conv_both(spec, dtype, rng):
    n, cin, h, w, cout, kh, kw, st, pd, dl, g = spec
    oh, ow = conv_out(h, kh, st[0], pd[0], dl[0]), conv_out(w, kw, st[1], pd[1], dl[1])
    x = ints(rng, (n, cin, h, w), dtype)
    wt = ints(rng, (cout, cin // g, kh, kw), dtype)
    b = ints(rng, (cout,), dtype)
    gy = ints(rng, (n, cout, oh, ow), dtype)
    hp = (st[0], st[1], pd[0], pd[1], dl[0], dl[1], g)

    def fwd(bias):
        return K.conv2d_forward(x, wt, bias, *hp, oh, ow)

    def bwd():
        return K.conv2d_backward(gy, x, wt, *hp, True, True, True)

    return fwd, bwd


def check_conv(spec, dtype):
    fwd, bwd = conv_both(spec, dtype, np.random.default_rng(8))
    for bias_on in (True, False):
        rng = np.random.default_rng(9)
        bias = rng.integers(-2, 3, size=spec[4]).astype(dtype) if bias_on else None
        check(fwd(bias), run_on("reference", fwd, bias), dtype)
    for g, g_ref in zip(bwd(), run_on("reference", bwd)):
        check(g, g_ref, dtype)


@pytest.mark.parametrize("name", sorted(SEED_LAYERS))
@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv_seed_layers(isa, dtype, threads, name, nthreads):
    K.set_num_threads(nthreads)
    check_conv(SEED_LAYERS[name], dtype)


@pytest.mark.parametrize("name", sorted(GENERAL))
@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv_general(isa, dtype, threads, name, nthreads):
    K.set_num_threads(nthreads)
    check_conv(GENERAL[name], dtype)


@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv_tiled_within_workspace(isa, dtype, threads, workspace, nthreads):
    """A 1 MiB workspace forces the im2col of one image into several tiles."""
    K.set_num_threads(nthreads)
    K.set_workspace_limit(1 << 20)
    check_conv((2, 3, 120, 130, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1), dtype)
    check_conv((1, 2, 150, 100, 3, 3, 3, (1, 2), (2, 1), (1, 2), 1), dtype)


def test_conv_threads_match_serial_real_data(isa, dtype, threads):
    """Random real-valued data: 2 threads equal 1 thread within float tolerance."""
    n, cin, h, w, cout = 4, 8, 12, 12, 16
    rng = np.random.default_rng(10)
    x = rng.standard_normal((n, cin, h, w)).astype(dtype)
    wt = rng.standard_normal((cout, cin, 3, 3)).astype(dtype)
    gy = rng.standard_normal((n, cout, h, w)).astype(dtype)
    out = {}
    for nt in (1, 2):
        K.set_num_threads(nt)
        y = K.conv2d_forward(x, wt, None, 1, 1, 1, 1, 1, 1, 1, h, w)
        out[nt] = (y,) + K.conv2d_backward(gy, x, wt, 1, 1, 1, 1, 1, 1, 1, True, True, True)
    tol = tolerance(dtype)
    for a, b in zip(out[2], out[1]):
        np.testing.assert_allclose(a, b, rtol=tol["rtol"], atol=tol["atol"] * np.abs(b).max())


# Larger than the 2**21 multiply-add threshold below which a call runs on one thread, so that
# with 2 threads these take the threaded paths (over images, inside the GEMM for one image,
# direct kernels, groups, pointwise).
THREADED = {
    "cin1_direct": (12, 1, 28, 28, 32, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    "cout1_plane": (8, 1, 200, 200, 1, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    "groups": (8, 8, 28, 28, 16, 3, 3, (1, 1), (1, 1), (1, 1), 2),
    "pointwise": (4, 64, 14, 14, 64, 1, 1, (1, 1), (0, 0), (1, 1), 1),
    "batch1_inner": (1, 32, 28, 28, 64, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    # K = 360: the pre-packed forward splits it into two equal k blocks
    "k_blocks": (4, 40, 12, 12, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1),
}


@pytest.mark.parametrize("name", sorted(THREADED))
def test_conv_threaded_paths(isa, dtype, threads, name):
    K.set_num_threads(2)
    check_conv(THREADED[name], dtype)


def small_calls(dtype):
    """Calls below the parallel thresholds (conv, GEMM, linear, max-pool backward)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 3, 8, 8)).astype(dtype)
    wt = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    gy = rng.standard_normal((3, 4, 8, 8)).astype(dtype)
    a = rng.standard_normal((40, 70)).astype(dtype)
    bm = rng.standard_normal((50, 70)).astype(dtype)
    c0 = rng.standard_normal((40, 50)).astype(dtype)
    a_k = rng.standard_normal((3, 20000)).astype(dtype)  # small output, long k (split-K shape)
    b_k = rng.standard_normal((5, 20000)).astype(dtype)
    xl = rng.standard_normal((16, 64)).astype(dtype)
    wl = rng.standard_normal((32, 64)).astype(dtype)
    gyl = rng.standard_normal((16, 32)).astype(dtype)
    xp = rng.standard_normal((100, 3, 32, 32)).astype(dtype)
    yp, idx = K.max_pool2d_forward(xp, 2, 2, 2, 2, 0, 0, 1, 1, 16, 16, True)
    gyp = rng.standard_normal(yp.shape).astype(dtype)
    out = [K.conv2d_forward(x, wt, b, 1, 1, 1, 1, 1, 1, 1, 8, 8)]
    out += [g for g in K.conv2d_backward(gy, x, wt, 1, 1, 1, 1, 1, 1, 1, True, True, True)]
    c = c0.copy()
    K.gemm(False, True, 1.0, a, bm, 0.5, c)
    out.append(c)
    ck = np.zeros((3, 5), dtype)
    K.gemm(False, True, 1.0, a_k, b_k, 0.0, ck)
    out.append(ck)
    out.append(K.linear_forward(xl, wl, None))
    out += [g for g in K.linear_backward(gyl, xl, wl, True, True, True)]
    gxp, bad = K.max_pool2d_backward(gyp, idx, 32, 32)
    assert bad == 0
    out.append(gxp)
    return out


def test_small_calls_identical_at_1_and_2_threads(isa, dtype, threads):
    """Below the thresholds 2 threads run the serial code: bit-identical results (a split of
    K or of the weight-gradient sum over images would change the rounding)."""
    res = {}
    for nt in (1, 2):
        K.set_num_threads(nt)
        res[nt] = small_calls(dtype)
    for a, b in zip(res[2], res[1]):
        np.testing.assert_array_equal(a, b)


def test_blocking_follows_the_cache_sizes(isa, dtype):
    """The blocking is derived from the cache sizes (and only from them): a bigger L1 gives a
    longer kc, a bigger L2 more rows per A block, a bigger last-level cache more columns per B
    block; each block is a multiple of its tile and within its documented bounds."""
    size = np.dtype(dtype).itemsize
    try:
        found = {}
        for name, caches in CACHE_BRANCHES.items():
            K.set_cache_sizes(caches)
            assert K.cache_sizes() == (caches, "set")
            found[name] = b = blocking(isa, dtype)
            assert 128 <= b["kc"] <= 512 and b["kc"] % 8 == 0
            assert b["mc"] % b["mr"] == 0 and 4 * b["mr"] <= b["mc"] <= 1024
            assert b["nc"] % b["nr"] == 0 and 4 * b["nr"] <= b["nc"] <= 4096
        small, large = found["small"], found["large"]
        assert (small["kc"], small["mc"], small["nc"]) == (128, 4 * small["mr"], 4 * small["nr"])
        assert large["kc"] == 512 and large["nc"] == 4096 and large["mc"] > small["mc"]
        assert large["ukernel"] == small["ukernel"] and isa in large["ukernel"]
        # the model itself, on an in-between machine (48 KiB L1, 2 MiB L2, 32 MiB L3)
        K.set_cache_sizes((48 << 10, 2 << 20, 32 << 20))
        b = blocking(isa, dtype)
        assert b["kc"] == 512  # (an L2 of 2 MiB or more: kc 512 whatever the L1)
        K.set_cache_sizes((48 << 10, (2 << 20) - 4096, 32 << 20))
        assert blocking(isa, dtype)["kc"] == max(128, min(512, (48 << 10) // 2 // (b["nr"] * size)) // 8 * 8)
        K.set_cache_sizes((48 << 10, 2 << 20, 32 << 20))
        kc = 512
        assert b["mc"] == max(4 * b["mr"], min(1024, (2 << 20) // 2 // (kc * size)) // b["mr"] * b["mr"])
        assert b["nc"] == max(4 * b["nr"], min(4096, (32 << 20) // 2 // (kc * size)) // b["nr"] * b["nr"])
    finally:
        K.set_cache_sizes(None)
    sizes, source = K.cache_sizes()
    assert source in ("sysconf", "sysfs", "sysctl", "default") and sizes[0] > 0 and sizes[1] > 0


def test_results_under_every_cache_branch(isa, dtype, caches):
    """Square-ish, skinny and long-k products are right whatever blocking the caches give,
    including the threaded split (the engine's nthreads comes from fastconv)."""
    rng = np.random.default_rng(11)
    for m, n, k in ((300, 290, 700), (7, 1100, 130), (1030, 9, 260), (64, 64, 1500)):
        for ta, tb in TRANS[::3]:
            c, expect = gemm_case(rng, dtype, m, n, k, ta, tb, 1.0, 0.5)
            check(c, expect, dtype)
