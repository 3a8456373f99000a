"""The optimised pooling, relu, softmax and cross-entropy kernels against the reference path.

Every ISA path the CPU supports ("scalar", "avx2", "avx512", "neon") runs the raw `fastconv._kernels`
functions and is compared with `set_isa("reference")` on shapes that reach every fast path
and every edge: the 2x2 stride-2 vector path (with row lengths below, at and above the
vector widths), ceil_mode windows hanging over the edge, padding, dilation, ties, NaN, -inf,
empty batches, planes large enough to be split over threads, and 1 vs 2 threads.
Max pooling must give exactly the reference values and indices (first maximum wins, NaN
beats every number and the last NaN wins, as in PyTorch's CPU kernel).
"""
import numpy as np
import pytest

from conftest import supported_isas, tolerance
from fastconv import _kernels as K

# every optimised path this CPU runs; each is compared with the "reference" path
ISAS = [name for name in supported_isas() if name != "reference"]
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return tolerance(dtype)


@pytest.fixture(autouse=True)
def _restore_runtime():
    isa, nt = K.get_isa(), K.get_num_threads()
    yield
    K.set_isa(isa)
    K.set_num_threads(nt)


def run(isa, threads, fn, *args):
    assert K.set_isa(isa) == 0
    K.set_num_threads(threads)
    return fn(*args)


def ref(fn, *args):
    return run("reference", 1, fn, *args)


def pool_out(size, k, s, p, d, ceil):
    num = size + 2 * p - d * (k - 1) - 1
    assert num >= 0
    if ceil:
        out = -(-num // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
    else:
        out = num // s + 1
    return out


def make_input(rng, shape, dtype, kind):
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    if kind == "ties":  # few distinct values: many equal maxima in one window
        return rng.integers(0, 3, size=shape).astype(dtype)
    if kind == "special":
        x = rng.standard_normal(shape).astype(dtype)
        u = rng.random(shape)
        x[u < 0.05] = np.nan
        x[(u >= 0.05) & (u < 0.25)] = -np.inf
        x[(u >= 0.25) & (u < 0.28)] = np.inf
        return x
    if kind == "neginf":  # whole windows of -inf: the first position must be reported
        x = np.full(shape, -np.inf, dtype)
        x.reshape(-1)[::7] = 1.0
        return x
    raise ValueError(kind)


# (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode
MAX_CONFIGS = [
    ((2, 2), (2, 2), (0, 0), (1, 1), False),  # the vector fast path
    ((2, 2), (2, 2), (0, 0), (1, 1), True),  # fast path + hanging last row/column
    ((3, 3), (2, 2), (1, 1), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), True),
    ((3, 3), (1, 1), (1, 1), (1, 1), False),
    ((3, 2), (2, 1), (1, 0), (1, 1), False),
    ((2, 3), (1, 2), (0, 1), (1, 1), True),
    ((3, 3), (1, 2), (1, 1), (2, 2), False),  # dilation
    ((2, 2), (3, 3), (1, 0), (1, 1), True),  # stride larger than the kernel
    ((2, 2), (2, 2), (1, 1), (1, 1), False),  # 2x2/s2 but padded: not the fast path
    ((2, 2), (2, 2), (0, 0), (2, 1), False),  # 2x2/s2 but dilated: not the fast path
    ((1, 1), (1, 1), (0, 0), (1, 1), False),
    ((4, 4), (2, 2), (2, 2), (1, 1), True),
]
# plane sizes: odd, even, equal to the kernel, rows shorter / longer than 8 and 16 outputs
PLANES = [(28, 28), (14, 14), (7, 9), (5, 3), (4, 4), (3, 3), (2, 2), (9, 66), (6, 71), (10, 8),
          (12, 30)]


def max_pool(x, cfg, with_indices=True):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil = cfg
    oh = pool_out(x.shape[2], kh, sh, ph, dh, ceil)
    ow = pool_out(x.shape[3], kw, sw, pw, dw, ceil)
    return K.max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, with_indices)


def valid(cfg, h, w):
    (kh, kw), _, _, (dh, dw), _ = cfg
    return h >= dh * (kh - 1) + 1 - 2 * cfg[2][0] and w >= dw * (kw - 1) + 1 - 2 * cfg[2][1]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("cfg", MAX_CONFIGS, ids=lambda c: "k%s-s%s-p%s-d%s-ceil%d" % (*c[:4], c[4]))
def test_max_pool_forward_backward_match_reference(isa, dtype, cfg):
    rng = np.random.default_rng(1)
    for h, w in PLANES:
        if not valid(cfg, h, w):
            continue
        for kind in ("normal", "ties", "special", "neginf"):
            x = make_input(rng, (2, 3, h, w), dtype, kind)
            x0 = x.copy()
            y_ref, i_ref = ref(max_pool, x, cfg)
            y, i = run(isa, 1, max_pool, x, cfg)
            assert y.dtype == dtype and i.dtype == np.int64
            np.testing.assert_array_equal(y, y_ref, err_msg=f"{h}x{w} {kind}")
            np.testing.assert_array_equal(i, i_ref, err_msg=f"{h}x{w} {kind}")
            y2, none = run(isa, 1, max_pool, x, cfg, False)
            assert none is None
            np.testing.assert_array_equal(y2, y_ref)
            np.testing.assert_array_equal(x, x0)  # input untouched

            gy = rng.standard_normal(y.shape).astype(dtype)
            gx_ref, bad_ref = ref(K.max_pool2d_backward, gy, i_ref, h, w)
            gx, bad = run(isa, 1, K.max_pool2d_backward, gy, i, h, w)
            assert bad == bad_ref == 0
            np.testing.assert_allclose(gx, gx_ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_max_pool_tie_and_nan_rules(isa, dtype):
    # one 2x2 window per case; the expected flat index is written out by hand
    cases = [
        ([[1, 1], [1, 1]], 0),  # ties: the first in row-major order
        ([[0, 2], [2, 2]], 1),
        ([[np.nan, 5], [np.nan, 1]], 2),  # NaN beats numbers; the last NaN wins (PyTorch CPU)
        ([[5, np.nan], [np.nan, 9]], 2),
        ([[np.nan, 5], [7, 1]], 0),
        ([[np.nan, np.nan], [3, 1]], 1),
        ([[1, 2], [np.nan, 9]], 2),
        ([[np.nan, np.nan], [np.nan, np.nan]], 3),
        ([[-np.inf, -np.inf], [-np.inf, -np.inf]], 0),
        ([[-np.inf, -np.inf], [-np.inf, -3]], 3),
    ]
    for window, want in cases:
        # tile the window over a 40-wide row so that it runs through full vectors and tails
        x = np.tile(np.array(window, dtype), (1, 20))[None, None]
        y, i = run(isa, 1, max_pool, x, MAX_CONFIGS[0])
        assert i.shape == (1, 1, 1, 20)
        np.testing.assert_array_equal(i[0, 0, 0] - 2 * np.arange(20), want if want < 2 else want - 2 + 40)
        expect = np.array(window, dtype).reshape(-1)[want]
        np.testing.assert_array_equal(y, np.full(y.shape, expect, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_max_pool_threads_and_large_planes(isa, dtype):
    rng = np.random.default_rng(2)
    # rows shorter than a vector overrun into the next plane when the same thread does it
    # next: 14x14 and 15x6 (ceil_mode) planes, split over 2 threads between two planes
    for shape, cfg in (((8, 16, 32, 32), MAX_CONFIGS[0]), ((4, 16, 33, 31), MAX_CONFIGS[1]),
                       ((4, 8, 30, 30), MAX_CONFIGS[3]), ((41, 10, 14, 14), MAX_CONFIGS[0]),
                       ((64, 10, 15, 6), MAX_CONFIGS[1])):
        x = make_input(rng, shape, dtype, "special")
        y_ref, i_ref = ref(max_pool, x, cfg)
        y1, i1 = run(isa, 1, max_pool, x, cfg)
        y2, i2 = run(isa, 2, max_pool, x, cfg)
        for y, i in ((y1, i1), (y2, i2)):
            np.testing.assert_array_equal(y, y_ref)
            np.testing.assert_array_equal(i, i_ref)
        gy = rng.standard_normal(y_ref.shape).astype(dtype)
        gx_ref, _ = ref(K.max_pool2d_backward, gy, i_ref, shape[2], shape[3])
        for nt in (1, 2):
            gx, bad = run(isa, nt, K.max_pool2d_backward, gy, i_ref, shape[2], shape[3])
            assert bad == 0
            np.testing.assert_allclose(gx, gx_ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_max_pool_empty_batch(isa, dtype):
    x = np.zeros((0, 3, 8, 8), dtype)
    y, i = run(isa, 2, max_pool, x, MAX_CONFIGS[0])
    assert y.shape == (0, 3, 4, 4) and i.shape == (0, 3, 4, 4)
    gx, bad = run(isa, 2, K.max_pool2d_backward, y, i, 8, 8)
    assert gx.shape == (0, 3, 8, 8) and bad == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_max_pool_backward_counts_and_skips_bad_indices(isa, dtype):
    rng = np.random.default_rng(3)
    for nt in (1, 2):
        gy = rng.standard_normal((4, 32, 5, 5)).astype(dtype)
        idx = rng.integers(0, 100, size=gy.shape).astype(np.int64)  # plane of 10x10
        idx[0, 0, 0, 0] = -1
        idx[1, 2, 3, 4] = 100
        idx[3, 31, 4, 4] = np.iinfo(np.int64).min
        idx[2, 5, 1, 1] = np.iinfo(np.int64).max
        gx, bad = run(isa, nt, K.max_pool2d_backward, gy, idx, 10, 10)
        assert bad == 4
        gx_ref, bad_ref = ref(K.max_pool2d_backward, gy, idx, 10, 10)
        assert bad_ref == 4
        np.testing.assert_allclose(gx, gx_ref, **tol(dtype))
        # duplicates accumulate
        idx = np.zeros((1, 1, 3, 3), np.int64)
        gy = np.arange(9, dtype=dtype).reshape(1, 1, 3, 3)
        gx, bad = run(isa, nt, K.max_pool2d_backward, gy, idx, 4, 4)
        assert bad == 0 and gx[0, 0, 0, 0] == 36 and np.count_nonzero(gx) == 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("hw", [(14, 14), (16, 16), (28, 30), (4, 6)])
def test_max_pool_backward_windows_that_tile_the_plane(isa, dtype, hw):
    """2x2 windows tiling the plane: indices in their own windows are written window by
    window; a plane with an index elsewhere (another window, out of range), found in its
    first, middle or last row, is redone as a scatter; -0 and NaN gradients as the
    scatter into zeros gives them (+0 and NaN), bit for bit."""
    h, w = hw
    rng = np.random.default_rng(7)
    x = rng.standard_normal((41, 10, h, w)).astype(dtype)  # 410 planes: 2 threads
    y, idx = ref(max_pool, x, MAX_CONFIGS[0])
    gy = rng.standard_normal(y.shape).astype(dtype)
    gy.reshape(-1)[::5] = -0.0
    gy.reshape(-1)[3::97] = np.nan
    oh, ow = y.shape[2:]
    bad_idx = idx.copy()
    bad_idx[0, 0, oh - 1, ow - 1] = 0            # another window of the plane, last row
    bad_idx[0, 1, oh // 2, 0] = h * w - 1        # middle row
    bad_idx[7, 3, 0, ow - 1] = h * w             # out of range, first row
    bad_idx[40, 9, oh - 1, 0] = -5               # out of range, the last plane
    bad_idx[20, 4, 0, 0] = 2 * w                 # the next window row's first column
    for ind, nbad in ((idx, 0), (bad_idx, 2)):
        gx_ref, bad_ref = ref(K.max_pool2d_backward, gy, ind, h, w)
        assert bad_ref == nbad
        for nt in (1, 2):
            gx, bad = run(isa, nt, K.max_pool2d_backward, gy, ind, h, w)
            assert bad == nbad
            assert gx.tobytes() == gx_ref.tobytes()


# (kh, kw), (sh, sw), (ph, pw), ceil_mode
AVG_CONFIGS = [
    ((2, 2), (2, 2), (0, 0), False),
    ((2, 2), (2, 2), (0, 0), True),
    ((3, 3), (2, 2), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), True),
    ((3, 3), (1, 1), (1, 1), False),
    ((3, 2), (2, 1), (1, 1), True),
    ((2, 2), (3, 3), (1, 0), True),
    ((4, 4), (3, 3), (2, 2), True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("cfg", AVG_CONFIGS, ids=lambda c: "k%s-s%s-p%s-ceil%d" % (*c[:3], c[3]))
def test_avg_pool_matches_reference(isa, dtype, cfg, count_include_pad):
    (kh, kw), (sh, sw), (ph, pw), ceil = cfg
    rng = np.random.default_rng(4)
    for h, w in PLANES + [(33, 40)]:
        if h + 2 * ph < kh or w + 2 * pw < kw:
            continue
        oh, ow = pool_out(h, kh, sh, ph, 1, ceil), pool_out(w, kw, sw, pw, 1, ceil)
        x = rng.standard_normal((2, 3, h, w)).astype(dtype)
        args = (x, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad)
        y_ref = ref(K.avg_pool2d_forward, *args)
        gy = rng.standard_normal(y_ref.shape).astype(dtype)
        bargs = (gy, h, w, kh, kw, sh, sw, ph, pw, count_include_pad)
        gx_ref = ref(K.avg_pool2d_backward, *bargs)
        for nt in (1, 2):
            np.testing.assert_allclose(run(isa, nt, K.avg_pool2d_forward, *args), y_ref, **tol(dtype))
            np.testing.assert_allclose(run(isa, nt, K.avg_pool2d_backward, *bargs), gx_ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_avg_pool_2x2_rounds_as_the_reference(isa, dtype):
    """2x2 stride-2 windows sum in the reference's order and precision: equal to the bit, on
    values over a wide range of magnitudes (where the order of the sum shows)."""
    rng = np.random.default_rng(6)
    for h, w in PLANES + [(16, 17), (300, 300)]:
        if h < 2 or w < 2:
            continue
        x = rng.standard_normal((2, 3, h, w)) * 10.0 ** rng.uniform(-20, 20, (2, 3, h, w))
        x = x.astype(dtype)
        args = (x, 2, 2, 2, 2, 0, 0, h // 2, w // 2, True)
        y_ref = ref(K.avg_pool2d_forward, *args)
        np.testing.assert_array_equal(run(isa, 1, K.avg_pool2d_forward, *args), y_ref)
        if h % 2 == 0 and w % 2 == 0:
            bargs = (y_ref, h, w, 2, 2, 2, 2, 0, 0, True)
            gx_ref = ref(K.avg_pool2d_backward, *bargs)
            np.testing.assert_array_equal(run(isa, 1, K.avg_pool2d_backward, *bargs), gx_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_avg_pool_large_and_empty(isa, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 16, 32, 30)).astype(dtype)
    for cfg in AVG_CONFIGS[:4]:
        (kh, kw), (sh, sw), (ph, pw), ceil = cfg
        oh, ow = pool_out(32, kh, sh, ph, 1, ceil), pool_out(30, kw, sw, pw, 1, ceil)
        args = (x, kh, kw, sh, sw, ph, pw, oh, ow, True)
        y_ref = ref(K.avg_pool2d_forward, *args)
        gx_ref = ref(K.avg_pool2d_backward, y_ref, 32, 30, kh, kw, sh, sw, ph, pw, True)
        for nt in (1, 2):
            np.testing.assert_allclose(run(isa, nt, K.avg_pool2d_forward, *args), y_ref, **tol(dtype))
            np.testing.assert_allclose(
                run(isa, nt, K.avg_pool2d_backward, y_ref, 32, 30, kh, kw, sh, sw, ph, pw, True),
                gx_ref, **tol(dtype))
    x = np.zeros((0, 2, 6, 6), dtype)
    assert run(isa, 2, K.avg_pool2d_forward, x, 2, 2, 2, 2, 0, 0, 3, 3, True).shape == (0, 2, 3, 3)
    gy = np.zeros((0, 2, 3, 3), dtype)
    assert run(isa, 2, K.avg_pool2d_backward, gy, 6, 6, 2, 2, 2, 2, 0, 0, True).shape == (0, 2, 6, 6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_global_avg_pool_matches_reference(isa, dtype):
    rng = np.random.default_rng(6)
    for shape in ((2, 3, 7, 7), (1, 1, 1, 1), (3, 5, 1, 9), (16, 64, 16, 16), (0, 4, 3, 3)):
        x = rng.standard_normal(shape).astype(dtype)
        y_ref = ref(K.global_avg_pool2d_forward, x)
        gy = rng.standard_normal(y_ref.shape).astype(dtype)
        gx_ref = ref(K.global_avg_pool2d_backward, gy, shape[2], shape[3])
        for nt in (1, 2):
            y = run(isa, nt, K.global_avg_pool2d_forward, x)
            assert y.shape == shape[:2]
            np.testing.assert_allclose(y, y_ref, **tol(dtype))
            gx = run(isa, nt, K.global_avg_pool2d_backward, gy, shape[2], shape[3])
            assert gx.shape == shape
            np.testing.assert_allclose(gx, gx_ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_relu_matches_reference(isa, dtype):
    rng = np.random.default_rng(7)
    for shape in ((0,), (1,), (7,), (33,), (3, 5, 7), (1000,), (3, 100003)):
        x = make_input(rng, shape, dtype, "special")
        x.reshape(-1)[::11] = 0.0
        y_ref = ref(K.relu_forward, x)
        gy = rng.standard_normal(shape).astype(dtype)
        gx_ref = ref(K.relu_backward, gy, y_ref)
        for nt in (1, 2):
            y = run(isa, nt, K.relu_forward, x)
            assert y.shape == shape and y.dtype == dtype
            np.testing.assert_array_equal(y, y_ref)
            assert np.isnan(y).sum() == np.isnan(x).sum()  # NaN stays NaN
            gx = run(isa, nt, K.relu_backward, gy, y_ref)
            np.testing.assert_array_equal(gx, gx_ref)
            np.testing.assert_array_equal(gx, np.where(y_ref <= 0, 0, gy))  # NaN y passes gy


SOFTMAX_SHAPES = [(1, 1), (5, 10), (64, 10), (3, 1000), (257, 300), (0, 7)]


def logits(rng, shape, dtype, scale):
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    if x.size:
        x.reshape(-1)[::13] = -np.inf  # masked entries; no row is all -inf unless c == 1
        x[:, 0] = np.abs(x[:, 0]) if shape[1] > 1 else x[:, 0]
        x[np.isinf(x[:, 0]), 0] = 0.0
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_reference(isa, dtype, log):
    fn = K.log_softmax if log else K.softmax
    rng = np.random.default_rng(8)
    for shape in SOFTMAX_SHAPES:
        for scale in (1.0, 300.0):  # large logits: only a max-subtracted version survives
            x = logits(rng, shape, dtype, scale)
            y_ref = ref(fn, x)
            assert np.isfinite(y_ref[~np.isinf(x)]).all()
            for nt in (1, 2):
                y = run(isa, nt, fn, x)
                assert y.shape == shape and y.dtype == dtype
                np.testing.assert_allclose(y, y_ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("reduction", [0, 1, 2])
def test_cross_entropy_matches_reference(isa, dtype, reduction):
    rng = np.random.default_rng(9)
    for n, c in ((0, 5), (1, 1), (5, 10), (64, 10), (300, 100)):
        for eps in (0.0, 0.1, 1.0):
            for scale in (1.0, 100.0):
                x = (rng.standard_normal((n, c)) * scale).astype(dtype)
                t = rng.integers(0, c, size=n).astype(np.int64)
                if n and eps == 0.0 and c > 1:  # -inf on non-target logits is fine without smoothing
                    x[np.arange(n), (t + 1) % c] = -np.inf
                loss_ref = ref(K.cross_entropy_forward, x, t, eps, reduction)
                g = rng.standard_normal(n if reduction == 0 else ()).astype(dtype)
                g = np.asarray(g, dtype)
                gx_ref = ref(K.cross_entropy_backward, x, t, eps, reduction, g)
                if n == 0 and reduction == 1:
                    assert np.isnan(loss_ref)
                for nt in (1, 2):
                    loss = run(isa, nt, K.cross_entropy_forward, x, t, eps, reduction)
                    assert loss.dtype == dtype and loss.shape == np.shape(loss_ref)
                    np.testing.assert_allclose(loss, loss_ref, **tol(dtype))
                    gx = run(isa, nt, K.cross_entropy_backward, x, t, eps, reduction, g)
                    assert gx.shape == (n, c) and gx.dtype == dtype
                    np.testing.assert_allclose(gx, gx_ref, **tol(dtype))


def random_pool_configs(seed, count, dilation):
    """Random valid pooling configurations (kernel, stride, padding, dilation, ceil_mode, H, W)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        kh, kw = rng.integers(1, 5, size=2)
        sh, sw = rng.integers(1, 4, size=2)
        ph, pw = rng.integers(0, kh // 2 + 1), rng.integers(0, kw // 2 + 1)
        dh, dw = rng.integers(1, 4, size=2) if dilation else (1, 1)
        ceil = bool(rng.integers(0, 2))
        h, w = rng.integers(1, 41, size=2)
        if h + 2 * ph - dh * (kh - 1) - 1 < 0 or w + 2 * pw - dw * (kw - 1) - 1 < 0:
            continue
        out.append(tuple(int(v) for v in (kh, kw, sh, sw, ph, pw, dh, dw)) + (ceil, int(h), int(w)))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_max_pool_random_configs(isa, dtype):
    rng = np.random.default_rng(10)
    for kh, kw, sh, sw, ph, pw, dh, dw, ceil, h, w in random_pool_configs(11, 60, True):
        cfg = ((kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil)
        x = make_input(rng, (2, 2, h, w), dtype, ("normal", "ties", "special")[rng.integers(0, 3)])
        y_ref, i_ref = ref(max_pool, x, cfg)
        y, i = run(isa, 1, max_pool, x, cfg)
        np.testing.assert_array_equal(y, y_ref, err_msg=str(cfg + (h, w)))
        np.testing.assert_array_equal(i, i_ref, err_msg=str(cfg + (h, w)))
        gy = rng.standard_normal(y.shape).astype(dtype)
        gx_ref, bad_ref = ref(K.max_pool2d_backward, gy, i_ref, h, w)
        gx, bad = run(isa, 1, K.max_pool2d_backward, gy, i, h, w)
        assert bad == bad_ref
        np.testing.assert_allclose(gx, gx_ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_avg_pool_random_configs(isa, dtype):
    rng = np.random.default_rng(12)
    for kh, kw, sh, sw, ph, pw, _, _, ceil, h, w in random_pool_configs(13, 60, False):
        oh, ow = pool_out(h, kh, sh, ph, 1, ceil), pool_out(w, kw, sw, pw, 1, ceil)
        cip = bool(rng.integers(0, 2))
        x = rng.standard_normal((2, 2, h, w)).astype(dtype)
        args = (x, kh, kw, sh, sw, ph, pw, oh, ow, cip)
        y_ref = ref(K.avg_pool2d_forward, *args)
        np.testing.assert_allclose(run(isa, 1, K.avg_pool2d_forward, *args), y_ref, **tol(dtype))
        gy = rng.standard_normal(y_ref.shape).astype(dtype)
        bargs = (gy, h, w, kh, kw, sh, sw, ph, pw, cip)
        np.testing.assert_allclose(run(isa, 1, K.avg_pool2d_backward, *bargs),
                                   ref(K.avg_pool2d_backward, *bargs), **tol(dtype))
