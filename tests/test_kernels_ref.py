"""Tests of the raw kernels in fastconv._kernels against straightforward NumPy computations.

Every test runs for float32 and float64, on the "reference" path and on the path chosen at
load time (the best one the CPU supports, or the one named by FASTCONV_ISA), so the same
checks cover the reference loops and the optimised path behind them.  Run with
FASTCONV_ISA=scalar (or avx2, ...) to check another path.
"""
import itertools
import math

import numpy as np
import pytest

K = pytest.importorskip("fastconv._kernels")

RTOL = {np.float32: 1e-4, np.float64: 1e-10}
ATOL = {np.float32: 1e-5, np.float64: 1e-12}

DTYPES = [np.float32, np.float64]
ISAS = sorted({"reference", K.get_isa()}, key=["reference", "scalar", "avx2", "avx512", "neon"].index)

NONE, MEAN, SUM = 0, 1, 2


@pytest.fixture(params=ISAS, autouse=True)
def isa(request):
    before = K.get_isa()
    assert K.set_isa(request.param) == 0
    yield request.param
    assert K.set_isa(before) == 0


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param


def close(actual, expected, dtype):
    assert actual.dtype == dtype
    assert actual.shape == np.shape(expected)
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=ATOL[dtype])


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def readonly(a):
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


# ------------------------------------------------------------------------------------------
# NumPy oracles (float64)
# ------------------------------------------------------------------------------------------

def conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def pool_out(size, k, s, p, d, ceil_mode):
    num = size + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def np_conv2d(x, w, b, stride, pad, dil, groups):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, cin, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    oh, ow = conv_out(h, kh, sh, ph, dh), conv_out(wd, kw, sw, pw, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cout_g = cout // groups
    y = np.zeros((n, cout, oh, ow))
    for g in range(groups):
        xs = xp[:, g * cin_g:(g + 1) * cin_g]
        ws = w[g * cout_g:(g + 1) * cout_g]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                y[:, g * cout_g:(g + 1) * cout_g] += np.einsum("nchw,oc->nohw", patch,
                                                               ws[:, :, i, j])
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y


def np_conv2d_backward(gy, x, w, stride, pad, dil, groups):
    gy = gy.astype(np.float64)
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, cin, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    oh, ow = gy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    cout_g = cout // groups
    for g in range(groups):
        cs = slice(g * cin_g, (g + 1) * cin_g)
        os_ = slice(g * cout_g, (g + 1) * cout_g)
        for i in range(kh):
            for j in range(kw):
                rs = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
                ks = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
                gxp[:, cs, rs, ks] += np.einsum("nohw,oc->nchw", gy[:, os_], w[os_, :, i, j])
                gw[os_, :, i, j] = np.einsum("nohw,nchw->oc", gy[:, os_], xp[:, cs, rs, ks])
    gx = gxp[:, :, ph:ph + h, pw:pw + wd]
    return gx, gw, gy.sum(axis=(0, 2, 3))


def np_max_pool(x, k, s, p, d, oh, ow):
    """PyTorch's rule: padding is -inf; first maximum in row-major window order; NaN beats
    everything, and the last NaN in window order wins (PyTorch's CPU kernel)."""
    n, c, h, w = x.shape
    y = np.empty((n, c, oh, ow), dtype=np.float64)
    idx = np.empty((n, c, oh, ow), dtype=np.int64)
    for b, ch, i, j in itertools.product(range(n), range(c), range(oh), range(ow)):
        cand = []
        for a in range(k[0]):
            for e in range(k[1]):
                r, q = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + e * d[1]
                if 0 <= r < h and 0 <= q < w:
                    cand.append((float(x[b, ch, r, q]), r * w + q))
        assert cand, "test case has an all-padding window"
        nans = [t for t in cand if math.isnan(t[0])]
        if nans:
            y[b, ch, i, j], idx[b, ch, i, j] = nans[-1]
        else:
            vals = [t[0] for t in cand]
            best = int(np.argmax(vals))  # first maximum
            y[b, ch, i, j], idx[b, ch, i, j] = cand[best]
    return y, idx


def avg_windows(h, w, k, s, p, oh, ow, count_include_pad):
    """Yield (i, j, rows slice, cols slice, divisor) with PyTorch's divisor rules."""
    for i in range(oh):
        hs = i * s[0] - p[0]
        he = min(hs + k[0], h + p[0])
        pool_h = he - hs
        hs, he = max(hs, 0), min(he, h)
        for j in range(ow):
            ws = j * s[1] - p[1]
            we = min(ws + k[1], w + p[1])
            pool_w = we - ws
            ws, we = max(ws, 0), min(we, w)
            div = pool_h * pool_w if count_include_pad else (he - hs) * (we - ws)
            yield i, j, slice(hs, he), slice(ws, we), div


def np_avg_pool(x, k, s, p, oh, ow, cip):
    x = x.astype(np.float64)
    n, c, h, w = x.shape
    y = np.empty((n, c, oh, ow))
    for i, j, rs, cs, div in avg_windows(h, w, k, s, p, oh, ow, cip):
        y[:, :, i, j] = x[:, :, rs, cs].sum(axis=(2, 3)) / div
    return y


def np_avg_pool_backward(gy, h, w, k, s, p, cip):
    gy = gy.astype(np.float64)
    n, c, oh, ow = gy.shape
    gx = np.zeros((n, c, h, w))
    for i, j, rs, cs, div in avg_windows(h, w, k, s, p, oh, ow, cip):
        gx[:, :, rs, cs] += (gy[:, :, i, j] / div)[:, :, None, None]
    return gx


def np_log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def np_cross_entropy(logits, target, eps, reduction):
    lp = np_log_softmax(logits)
    n, c = lp.shape
    nll = -lp[np.arange(n), target]
    loss = (1 - eps) * nll + eps / c * (-lp).sum(axis=1)
    if reduction == NONE:
        return loss
    if reduction == SUM:
        return np.array(loss.sum())
    return np.array(loss.sum() / n) if n else np.array(np.nan)


def np_cross_entropy_backward(logits, target, eps, reduction, grad_loss):
    p = np.exp(np_log_softmax(logits))
    n, c = p.shape
    onehot = np.zeros_like(p)
    onehot[np.arange(n), target] = 1.0
    d = p - (1 - eps) * onehot - eps / c
    gl = np.asarray(grad_loss, dtype=np.float64).reshape(-1)
    if reduction == NONE:
        return d * gl[:, None]
    if reduction == MEAN:
        return d * gl[0] / n
    return d * gl[0]


# ------------------------------------------------------------------------------------------
# runtime
# ------------------------------------------------------------------------------------------

def test_runtime_controls():
    assert K.set_isa("no-such-isa") == -1
    assert K.isa_supported("reference") is True
    assert K.isa_supported("no-such-isa") is False
    assert K.get_isa() in ("reference", "scalar", "avx2", "avx512", "neon")
    assert isinstance(K.has_openmp(), bool)
    n = K.get_num_threads()
    assert n >= 1
    K.set_num_threads(1)
    assert K.get_num_threads() == 1
    K.set_num_threads(n)
    lim = K.get_workspace_limit()
    K.set_workspace_limit(2 << 20)
    assert K.get_workspace_limit() == 2 << 20
    K.set_workspace_limit(lim)


# ------------------------------------------------------------------------------------------
# gemm
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_gemm_transposes_and_leading_dims(dtype, trans_a, trans_b, beta):
    rng = np.random.default_rng(1)
    m, n, k = 5, 7, 6
    # every operand is a column slice of a wider array, so ld > cols
    a_full = rand(rng, (k, m + 3) if trans_a else (m, k + 3), dtype)
    b_full = rand(rng, (n, k + 2) if trans_b else (k, n + 2), dtype)
    a = a_full[:, :m] if trans_a else a_full[:, :k]
    b = b_full[:, :k] if trans_b else b_full[:, :n]
    c_full = rand(rng, (m, n + 4), dtype)
    if beta == 0.0:
        c_full[:] = np.nan  # beta == 0: C must not be read
    c = c_full[:, :n]
    c0 = c.astype(np.float64)
    pad_before = c_full[:, n:].copy()
    alpha = 1.5
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    expected = alpha * opa.astype(np.float64) @ opb.astype(np.float64)
    if beta != 0.0:
        expected += beta * c0
    K.gemm(trans_a, trans_b, alpha, a, b, beta, c)
    close(c, expected, dtype)
    # the columns beyond n in each row of C are untouched
    np.testing.assert_array_equal(c_full[:, n:], pad_before)


def test_gemm_zero_sizes(dtype):
    # k == 0: C = beta * C
    a = np.empty((3, 0), dtype)
    b = np.empty((0, 4), dtype)
    c = np.ones((3, 4), dtype)
    K.gemm(False, False, 2.0, a, b, 0.5, c)
    close(c, np.full((3, 4), 0.5), dtype)
    # m == 0 and n == 0 do nothing and do not crash
    K.gemm(False, False, 1.0, np.empty((0, 2), dtype), np.ones((2, 4), dtype), 0.0,
           np.empty((0, 4), dtype))
    K.gemm(False, False, 1.0, np.ones((3, 2), dtype), np.empty((2, 0), dtype), 0.0,
           np.empty((3, 0), dtype))


# ------------------------------------------------------------------------------------------
# conv2d
# ------------------------------------------------------------------------------------------

CONV_CASES = [
    # (n, cin, h, w, cout, kh, kw, stride, pad, dil, groups)
    (2, 3, 7, 6, 4, 3, 3, (1, 1), (0, 0), (1, 1), 1),
    (2, 3, 8, 7, 2, 3, 2, (2, 1), (1, 1), (1, 1), 1),
    (1, 2, 9, 8, 3, 2, 3, (1, 2), (2, 1), (2, 2), 1),
    (2, 4, 6, 6, 6, 3, 3, (1, 1), (1, 1), (1, 1), 2),
    (1, 4, 7, 5, 4, 3, 3, (2, 2), (1, 1), (1, 2), 4),   # depthwise
    (1, 2, 5, 5, 2, 2, 2, (3, 3), (0, 0), (1, 1), 1),   # stride > kernel
    (2, 1, 3, 4, 2, 3, 4, (1, 1), (0, 0), (1, 1), 1),   # kernel == input
    (1, 3, 4, 4, 2, 1, 1, (1, 1), (0, 0), (1, 1), 1),   # 1x1
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_conv2d_forward(dtype, case, with_bias):
    n, cin, h, w, cout, kh, kw, stride, pad, dil, groups = case
    rng = np.random.default_rng(2)
    x = readonly(rand(rng, (n, cin, h, w), dtype))
    wt = readonly(rand(rng, (cout, cin // groups, kh, kw), dtype))
    b = readonly(rand(rng, (cout,), dtype)) if with_bias else None
    oh, ow = conv_out(h, kh, stride[0], pad[0], dil[0]), conv_out(w, kw, stride[1], pad[1], dil[1])
    y = K.conv2d_forward(x, wt, b, stride[0], stride[1], pad[0], pad[1], dil[0], dil[1],
                         groups, oh, ow)
    close(y, np_conv2d(x, wt, b, stride, pad, dil, groups), dtype)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_backward(dtype, case):
    n, cin, h, w, cout, kh, kw, stride, pad, dil, groups = case
    rng = np.random.default_rng(3)
    x = readonly(rand(rng, (n, cin, h, w), dtype))
    wt = readonly(rand(rng, (cout, cin // groups, kh, kw), dtype))
    oh, ow = conv_out(h, kh, stride[0], pad[0], dil[0]), conv_out(w, kw, stride[1], pad[1], dil[1])
    gy = readonly(rand(rng, (n, cout, oh, ow), dtype))
    args = (stride[0], stride[1], pad[0], pad[1], dil[0], dil[1], groups)
    gx, gw, gb = K.conv2d_backward(gy, x, wt, *args, True, True, True)
    egx, egw, egb = np_conv2d_backward(gy, x, wt, stride, pad, dil, groups)
    close(gx, egx, dtype)
    close(gw, egw, dtype)
    close(gb, egb, dtype)
    # each output can be skipped on its own
    for need in itertools.product([False, True], repeat=3):
        got = K.conv2d_backward(gy, x, wt, *args, *need)
        for flag, g, e in zip(need, got, (egx, egw, egb)):
            if flag:
                close(g, e, dtype)
            else:
                assert g is None


def test_conv2d_backward_is_adjoint_of_forward():
    # <conv(x), gy> == <x, gx(gy)> and == <w, gw(gy)> in float64
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    args = (2, 1, 1, 1, 2, 1, 2)
    y = K.conv2d_forward(x, w, None, *args, conv_out(7, 3, 2, 1, 2), conv_out(6, 2, 1, 1, 1))
    gy = rng.standard_normal(y.shape)
    gx, gw, _ = K.conv2d_backward(gy, x, w, *args, True, True, False)
    assert np.isclose((y * gy).sum(), (x * gx).sum(), rtol=1e-10)
    assert np.isclose((y * gy).sum(), (w * gw).sum(), rtol=1e-10)


def test_conv2d_zero_batch(dtype):
    x = np.empty((0, 2, 5, 5), dtype)
    w = np.ones((3, 2, 3, 3), dtype)
    b = np.ones((3,), dtype)
    y = K.conv2d_forward(x, w, b, 1, 1, 0, 0, 1, 1, 1, 3, 3)
    assert y.shape == (0, 3, 3, 3) and y.dtype == dtype
    gy = np.empty((0, 3, 3, 3), dtype)
    gx, gw, gb = K.conv2d_backward(gy, x, w, 1, 1, 0, 0, 1, 1, 1, True, True, True)
    assert gx.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(gw, np.zeros((3, 2, 3, 3)))
    np.testing.assert_array_equal(gb, np.zeros(3))


def test_conv2d_nan_propagates_to_its_windows_only():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 0, 0] = np.nan
    y = K.conv2d_forward(x, np.ones((1, 1, 2, 2)), None, 1, 1, 0, 0, 1, 1, 1, 4, 4)
    assert np.isnan(y[0, 0, 0, 0])
    assert not np.isnan(y.ravel()[1:]).any()


# ------------------------------------------------------------------------------------------
# max pooling
# ------------------------------------------------------------------------------------------

POOL_CASES = [
    # (n, c, h, w, k, s, p, d, ceil_mode)
    (2, 3, 6, 6, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (1, 2, 7, 5, (3, 2), (2, 1), (1, 1), (1, 1), False),
    (1, 2, 7, 6, (3, 3), (2, 2), (1, 1), (1, 1), True),
    (2, 1, 9, 8, (2, 3), (1, 2), (1, 1), (2, 2), False),
    (1, 2, 5, 6, (2, 2), (3, 3), (0, 1), (1, 1), True),   # stride > kernel
    (1, 1, 3, 4, (3, 4), (1, 1), (0, 0), (1, 1), False),  # kernel == input
    (1, 2, 8, 8, (4, 4), (2, 3), (2, 2), (1, 1), True),   # maximal padding
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool2d_forward_and_indices(dtype, case):
    n, c, h, w, k, s, p, d, ceil_mode = case
    rng = np.random.default_rng(5)
    # small integers make ties frequent; negative values check that padding is -inf
    x = readonly(rng.integers(-4, 0, size=(n, c, h, w)).astype(dtype))
    oh = pool_out(h, k[0], s[0], p[0], d[0], ceil_mode)
    ow = pool_out(w, k[1], s[1], p[1], d[1], ceil_mode)
    ey, eidx = np_max_pool(x, k, s, p, d, oh, ow)
    y, idx = K.max_pool2d_forward(x, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], oh, ow, True)
    close(y, ey, dtype)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, eidx)
    y2, none = K.max_pool2d_forward(x, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], oh, ow,
                                    False)
    assert none is None
    np.testing.assert_array_equal(y2, y)


def test_max_pool2d_ties_take_the_first_maximum(dtype):
    x = np.array([[1, 3, 3], [3, 2, 3], [0, 3, 1]], dtype).reshape(1, 1, 3, 3)
    y, idx = K.max_pool2d_forward(x, 2, 2, 1, 1, 0, 0, 1, 1, 2, 2, True)
    np.testing.assert_array_equal(y.ravel(), [3, 3, 3, 3])
    np.testing.assert_array_equal(idx.ravel(), [1, 1, 3, 5])


def test_max_pool2d_nan_wins_last_nan(dtype):
    x = np.array([[1.0, np.nan, 5.0, np.nan]], dtype).reshape(1, 1, 1, 4)
    y, idx = K.max_pool2d_forward(x, 1, 4, 1, 1, 0, 0, 1, 1, 1, 1, True)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 3
    # NaN only reaches the windows that hold it
    y, idx = K.max_pool2d_forward(x, 1, 2, 1, 1, 0, 0, 1, 1, 1, 3, True)
    assert np.isnan(y).ravel().tolist() == [True, True, True]
    np.testing.assert_array_equal(idx.ravel(), [1, 1, 3])
    x = np.array([[1.0, 2.0, 5.0, np.nan]], dtype).reshape(1, 1, 1, 4)
    y, _ = K.max_pool2d_forward(x, 1, 2, 1, 2, 0, 0, 1, 1, 1, 2, True)
    np.testing.assert_array_equal(np.isnan(y).ravel(), [False, True])
    assert y[0, 0, 0, 0] == 2


def test_max_pool2d_padding_is_minus_inf(dtype):
    x = np.full((1, 1, 2, 2), -np.inf, dtype)
    y, idx = K.max_pool2d_forward(x, 2, 2, 1, 1, 1, 1, 1, 1, 3, 3, True)
    assert np.all(y == -np.inf)
    # the first position of each window that lies inside the input
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])
    x = np.full((1, 1, 2, 2), -7.0, dtype)
    y, _ = K.max_pool2d_forward(x, 2, 2, 1, 1, 1, 1, 1, 1, 3, 3, True)
    assert np.all(y == -7.0)


def test_max_pool2d_dilated_window_outside_the_input(dtype):
    # pad <= k/2 does not keep a dilated window inside the input: 2x2 input, k=2, pad=1,
    # dilation=3 -> one window at rows/cols {-1, 2}, none inside.  PyTorch returns -inf and
    # the index (first window row >= 0) * W + (first window col >= 0) = 2*2 + 2.
    x = np.arange(4, dtype=dtype).reshape(1, 1, 2, 2)
    y, idx = K.max_pool2d_forward(x, 2, 2, 1, 1, 1, 1, 3, 3, 1, 1, True)
    assert y[0, 0, 0, 0] == -np.inf
    assert idx[0, 0, 0, 0] == 6
    # such an index is outside the plane, so the backward reports it
    _, bad = K.max_pool2d_backward(np.ones((1, 1, 1, 1), dtype), idx, 2, 2)
    assert bad == 1


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool2d_backward(dtype, case):
    n, c, h, w, k, s, p, d, ceil_mode = case
    rng = np.random.default_rng(6)
    x = rng.integers(-3, 3, size=(n, c, h, w)).astype(dtype)
    oh = pool_out(h, k[0], s[0], p[0], d[0], ceil_mode)
    ow = pool_out(w, k[1], s[1], p[1], d[1], ceil_mode)
    _, idx = K.max_pool2d_forward(x, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], oh, ow, True)
    gy = readonly(rand(rng, (n, c, oh, ow), dtype))
    gx, bad = K.max_pool2d_backward(gy, readonly(idx), h, w)
    assert bad == 0
    expected = np.zeros((n * c, h * w))
    for pl in range(n * c):
        np.add.at(expected[pl], idx.reshape(n * c, -1)[pl], gy.reshape(n * c, -1)[pl])
    close(gx, expected.reshape(n, c, h, w), dtype)


def test_max_pool2d_backward_counts_bad_indices(dtype):
    gy = np.ones((2, 1, 1, 3), dtype)
    idx = np.array([0, 4, -1, 3, 99, 2], np.int64).reshape(2, 1, 1, 3)
    gx, bad = K.max_pool2d_backward(gy, idx, 2, 2)
    assert bad == 3
    assert gx.shape == (2, 1, 2, 2)
    # the valid indices were still added, nothing else was written
    np.testing.assert_array_equal(gx.reshape(2, 4), [[1, 0, 0, 0], [0, 0, 1, 1]])


def test_max_pool2d_zero_batch(dtype):
    x = np.empty((0, 3, 4, 4), dtype)
    y, idx = K.max_pool2d_forward(x, 2, 2, 2, 2, 0, 0, 1, 1, 2, 2, True)
    assert y.shape == idx.shape == (0, 3, 2, 2)
    gx, bad = K.max_pool2d_backward(np.empty((0, 3, 2, 2), dtype), idx, 4, 4)
    assert gx.shape == (0, 3, 4, 4) and bad == 0


# ------------------------------------------------------------------------------------------
# average pooling
# ------------------------------------------------------------------------------------------

AVG_CASES = [c for c in POOL_CASES if c[7] == (1, 1)] + [
    (1, 1, 5, 5, (3, 3), (2, 2), (1, 1), (1, 1), True),   # ceil window clipped at h + pad
    (1, 2, 6, 4, (2, 3), (3, 2), (1, 1), (1, 1), True),
]


@pytest.mark.parametrize("case", AVG_CASES)
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d_forward(dtype, case, cip):
    n, c, h, w, k, s, p, _, ceil_mode = case
    rng = np.random.default_rng(7)
    x = readonly(rand(rng, (n, c, h, w), dtype))
    oh = pool_out(h, k[0], s[0], p[0], 1, ceil_mode)
    ow = pool_out(w, k[1], s[1], p[1], 1, ceil_mode)
    y = K.avg_pool2d_forward(x, k[0], k[1], s[0], s[1], p[0], p[1], oh, ow, cip)
    close(y, np_avg_pool(x, k, s, p, oh, ow, cip), dtype)


@pytest.mark.parametrize("case", AVG_CASES)
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d_backward(dtype, case, cip):
    n, c, h, w, k, s, p, _, ceil_mode = case
    rng = np.random.default_rng(8)
    oh = pool_out(h, k[0], s[0], p[0], 1, ceil_mode)
    ow = pool_out(w, k[1], s[1], p[1], 1, ceil_mode)
    gy = readonly(rand(rng, (n, c, oh, ow), dtype))
    gx = K.avg_pool2d_backward(gy, h, w, k[0], k[1], s[0], s[1], p[0], p[1], cip)
    close(gx, np_avg_pool_backward(gy, h, w, k, s, p, cip), dtype)


def test_avg_pool2d_divisors():
    # 3x3 input, k=2, s=2, pad=1, ceil_mode: windows rows [-1,1), [1,3) clipped to h + pad
    x = np.ones((1, 1, 3, 3))
    y = K.avg_pool2d_forward(x, 2, 2, 2, 2, 1, 1, 2, 2, True)
    np.testing.assert_allclose(y[0, 0], [[0.25, 0.5], [0.5, 1.0]], rtol=1e-12)
    y = K.avg_pool2d_forward(x, 2, 2, 2, 2, 1, 1, 2, 2, False)
    np.testing.assert_allclose(y[0, 0], np.ones((2, 2)), rtol=1e-12)
    # ceil_mode window running past h + pad is clipped there: 4x4, k=3, s=2, pad=1 -> 3x3
    # (last window rows [3, 6) clipped to [3, 5): divisor 2 along that axis)
    x = np.ones((1, 1, 4, 4))
    y = K.avg_pool2d_forward(x, 3, 3, 2, 2, 1, 1, 3, 3, True)
    np.testing.assert_allclose(y[0, 0, 2, 2], 1.0 / 4.0, rtol=1e-12)
    np.testing.assert_allclose(y[0, 0, 1, 1], 1.0, rtol=1e-12)
    np.testing.assert_allclose(y[0, 0, 0, 0], 4.0 / 9.0, rtol=1e-12)


def test_avg_pool2d_backward_is_adjoint_of_forward():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2, 7, 6))
    for cip in (True, False):
        y = K.avg_pool2d_forward(x, 3, 2, 2, 2, 1, 1, 4, 4, cip)
        gy = rng.standard_normal(y.shape)
        gx = K.avg_pool2d_backward(gy, 7, 6, 3, 2, 2, 2, 1, 1, cip)
        assert np.isclose((y * gy).sum(), (x * gx).sum(), rtol=1e-10)


def test_avg_pool2d_zero_batch(dtype):
    y = K.avg_pool2d_forward(np.empty((0, 2, 4, 4), dtype), 2, 2, 2, 2, 0, 0, 2, 2, True)
    assert y.shape == (0, 2, 2, 2)
    gx = K.avg_pool2d_backward(np.empty((0, 2, 2, 2), dtype), 4, 4, 2, 2, 2, 2, 0, 0, True)
    assert gx.shape == (0, 2, 4, 4)


def test_global_avg_pool2d(dtype):
    rng = np.random.default_rng(10)
    x = readonly(rand(rng, (3, 4, 5, 6), dtype))
    y = K.global_avg_pool2d_forward(x)
    close(y, x.astype(np.float64).mean(axis=(2, 3)), dtype)
    gy = readonly(rand(rng, (3, 4), dtype))
    gx = K.global_avg_pool2d_backward(gy, 5, 6)
    close(gx, np.broadcast_to(gy.astype(np.float64)[:, :, None, None] / 30, (3, 4, 5, 6)), dtype)
    assert K.global_avg_pool2d_forward(np.empty((0, 4, 2, 2), dtype)).shape == (0, 4)
    assert K.global_avg_pool2d_backward(np.empty((0, 4), dtype), 2, 2).shape == (0, 4, 2, 2)


# ------------------------------------------------------------------------------------------
# linear
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 5])
def test_linear(dtype, n):
    rng = np.random.default_rng(11)
    x = readonly(rand(rng, (n, 7), dtype))
    w = readonly(rand(rng, (4, 7), dtype))
    b = readonly(rand(rng, (4,), dtype))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    close(K.linear_forward(x, w, b), x64 @ w64.T + b, dtype)
    close(K.linear_forward(x, w, None), x64 @ w64.T, dtype)
    gy = readonly(rand(rng, (n, 4), dtype))
    gy64 = gy.astype(np.float64)
    gx, gw, gb = K.linear_backward(gy, x, w, True, True, True)
    close(gx, gy64 @ w64, dtype)
    close(gw, gy64.T @ x64, dtype)
    close(gb, gy64.sum(axis=0), dtype)
    gx, gw, gb = K.linear_backward(gy, x, w, False, True, False)
    assert gx is None and gb is None
    close(gw, gy64.T @ x64, dtype)


# ------------------------------------------------------------------------------------------
# relu, softmax, log_softmax
# ------------------------------------------------------------------------------------------

def test_relu(dtype):
    rng = np.random.default_rng(12)
    x = rand(rng, (2, 3, 4, 5), dtype)
    x[0, 0, 0, :3] = [np.nan, 0.0, -0.0]
    x = readonly(x)
    y = K.relu_forward(x)
    assert y.shape == x.shape and y.dtype == dtype
    expected = np.where(x > 0, x, 0).astype(dtype)
    expected[0, 0, 0, 0] = np.nan
    np.testing.assert_array_equal(y, expected)
    gy = readonly(rand(rng, x.shape, dtype))
    gx = K.relu_backward(gy, y)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gx, np.where(y <= 0, 0, gy))  # NaN output passes gy
    assert K.relu_forward(np.empty((0, 3), dtype)).shape == (0, 3)
    assert K.relu_backward(np.empty((0, 3), dtype), np.empty((0, 3), dtype)).shape == (0, 3)


@pytest.mark.parametrize("n", [0, 1, 13, 1000, 300_001])
def test_sgd_update(dtype, n):
    """p -= lr * g in place with the product rounded first: bitwise NumPy's two passes (no
    fused multiply-add), split over the threads above 2**17 elements."""
    rng = np.random.default_rng(n)
    p = rand(rng, (n,), dtype)
    g = readonly(rand(rng, (n,), dtype))
    want = p - (0.0137 * g).astype(dtype)
    K.sgd_update_(p, g, 0.0137)
    np.testing.assert_array_equal(p, want)
    q = rand(rng, (3, 4), dtype)
    want = q - (2.5 * q[::-1].copy()).astype(dtype)
    K.sgd_update_(q, q[::-1].copy(), 2.5)
    np.testing.assert_array_equal(q, want)


def test_softmax_and_log_softmax(dtype):
    rng = np.random.default_rng(13)
    x = rand(rng, (6, 9), dtype) * 3
    x[1] += 1000  # stability: huge logits
    x[2] -= 1000
    x = readonly(x)
    ls = np_log_softmax(x)
    close(K.log_softmax(x), ls, dtype)
    close(K.softmax(x), np.exp(ls), dtype)
    np.testing.assert_allclose(K.softmax(x).astype(np.float64).sum(axis=1), 1.0,
                               rtol=RTOL[dtype])
    assert K.softmax(np.empty((0, 4), dtype)).shape == (0, 4)
    assert K.log_softmax(np.empty((0, 4), dtype)).shape == (0, 4)
    one = K.softmax(np.array([[5.0]], dtype))
    assert one[0, 0] == 1


def test_softmax_nan_row(dtype):
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]], dtype)
    for f in (K.softmax, K.log_softmax):
        y = f(x)
        assert np.isnan(y[0]).all() and not np.isnan(y[1]).any()


# ------------------------------------------------------------------------------------------
# cross-entropy
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", [NONE, MEAN, SUM])
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_cross_entropy(dtype, reduction, eps):
    rng = np.random.default_rng(14)
    n, c = 7, 5
    logits = rand(rng, (n, c), dtype) * 4
    logits[0] += 500  # stable log-sum-exp
    logits = readonly(logits)
    target = readonly(rng.integers(0, c, size=n).astype(np.int64))
    loss = K.cross_entropy_forward(logits, target, eps, reduction)
    expected = np_cross_entropy(logits, target, eps, reduction)
    assert loss.shape == ((n,) if reduction == NONE else ())
    close(loss, expected, dtype)
    grad_loss = rand(rng, (n,) if reduction == NONE else (), dtype)
    g = K.cross_entropy_backward(logits, target, eps, reduction, readonly(grad_loss))
    close(g, np_cross_entropy_backward(logits, target, eps, reduction, grad_loss), dtype)


def test_cross_entropy_backward_matches_finite_differences():
    rng = np.random.default_rng(15)
    logits = rng.standard_normal((4, 6))
    target = rng.integers(0, 6, size=4).astype(np.int64)
    for reduction in (MEAN, SUM):
        g = K.cross_entropy_backward(logits, target, 0.2, reduction, np.array(1.0))
        num = np.empty_like(logits)
        h = 1e-6
        for idx in np.ndindex(*logits.shape):
            lp, lm = logits.copy(), logits.copy()
            lp[idx] += h
            lm[idx] -= h
            num[idx] = (K.cross_entropy_forward(lp, target, 0.2, reduction)
                        - K.cross_entropy_forward(lm, target, 0.2, reduction)) / (2 * h)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)


def test_inputs_are_not_written(dtype):
    rng = np.random.default_rng(17)
    x = rand(rng, (2, 4, 6, 5), dtype)
    w = rand(rng, (4, 2, 3, 3), dtype)
    gy = rand(rng, (2, 4, 4, 3), dtype)
    logits = rand(rng, (3, 4), dtype)
    target = np.array([0, 3, 1], np.int64)
    saved = [a.copy() for a in (x, w, gy, logits, target)]
    K.conv2d_forward(x, w, None, 1, 1, 0, 0, 1, 1, 2, 4, 3)
    K.conv2d_backward(gy, x, w, 1, 1, 0, 0, 1, 1, 2, True, True, True)
    y, idx = K.max_pool2d_forward(x, 2, 2, 1, 2, 0, 0, 1, 1, 5, 2, True)
    K.avg_pool2d_forward(x, 3, 3, 1, 1, 1, 1, 6, 5, False)
    K.avg_pool2d_backward(gy, 6, 5, 3, 3, 1, 1, 0, 0, True)
    K.relu_backward(gy, gy)
    K.cross_entropy_backward(logits, target, 0.3, MEAN, np.array(1.0, dtype))
    for before, after in zip(saved, (x, w, gy, logits, target)):
        np.testing.assert_array_equal(before, after)


def test_cross_entropy_zero_samples(dtype):
    logits = np.empty((0, 3), dtype)
    target = np.empty((0,), np.int64)
    assert np.isnan(K.cross_entropy_forward(logits, target, 0.0, MEAN))
    assert K.cross_entropy_forward(logits, target, 0.0, SUM) == 0
    assert K.cross_entropy_forward(logits, target, 0.0, NONE).shape == (0,)
    g = K.cross_entropy_backward(logits, target, 0.0, MEAN, np.array(1.0, dtype))
    assert g.shape == (0, 3) and g.dtype == dtype


# ------------------------------------------------------------------------------------------
# optional parity with PyTorch
# ------------------------------------------------------------------------------------------

def test_parity_with_torch(dtype):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    rng = np.random.default_rng(16)

    def t(a, grad=False):
        return torch.tensor(np.array(a), requires_grad=grad)

    # conv2d forward and backward with groups, dilation, stride and padding
    x = rand(rng, (2, 4, 9, 8), dtype)
    w = rand(rng, (6, 2, 3, 2), dtype)
    b = rand(rng, (6,), dtype)
    tx, tw, tb = t(x, True), t(w, True), t(b, True)
    ty = tF.conv2d(tx, tw, tb, stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)
    y = K.conv2d_forward(x, w, b, 2, 1, 1, 2, 2, 1, 2, *ty.shape[2:])
    close(y, ty.detach().numpy(), dtype)
    gy = rand(rng, y.shape, dtype)
    ty.backward(t(gy))
    gx, gw, gb = K.conv2d_backward(gy, x, w, 2, 1, 1, 2, 2, 1, 2, True, True, True)
    close(gx, tx.grad.numpy(), dtype)
    close(gw, tw.grad.numpy(), dtype)
    close(gb, tb.grad.numpy(), dtype)

    # max pool with ties, dilation and ceil_mode: values and indices
    x = rng.integers(-3, 3, size=(2, 3, 9, 7)).astype(dtype)
    ty, tidx = tF.max_pool2d(t(x), (3, 2), stride=(2, 2), padding=1, dilation=(1, 2),
                             ceil_mode=True, return_indices=True)
    y, idx = K.max_pool2d_forward(x, 3, 2, 2, 2, 1, 1, 1, 2, *ty.shape[2:], True)
    close(y, ty.numpy(), dtype)
    np.testing.assert_array_equal(idx, tidx.numpy())

    # a dilated window that lies wholly outside the input
    x = np.arange(4, dtype=dtype).reshape(1, 1, 2, 2)
    ty, tidx = tF.max_pool2d(t(x), 2, stride=1, padding=1, dilation=3, return_indices=True)
    y, idx = K.max_pool2d_forward(x, 2, 2, 1, 1, 1, 1, 3, 3, *ty.shape[2:], True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())

    # avg pool with ceil_mode, both count_include_pad
    x = rand(rng, (2, 2, 7, 6), dtype)
    for cip in (True, False):
        tx = t(x, True)
        ty = tF.avg_pool2d(tx, (3, 2), stride=2, padding=1, ceil_mode=True,
                           count_include_pad=cip)
        y = K.avg_pool2d_forward(x, 3, 2, 2, 2, 1, 1, *ty.shape[2:], cip)
        close(y, ty.detach().numpy(), dtype)
        gy = rand(rng, y.shape, dtype)
        ty.backward(t(gy))
        close(K.avg_pool2d_backward(gy, 7, 6, 3, 2, 2, 2, 1, 1, cip), tx.grad.numpy(), dtype)

    # cross-entropy with label smoothing, all reductions
    logits = rand(rng, (5, 4), dtype) * 3
    target = rng.integers(0, 4, size=5).astype(np.int64)
    for code, name in ((NONE, "none"), (MEAN, "mean"), (SUM, "sum")):
        tl = t(logits, True)
        tloss = tF.cross_entropy(tl, torch.tensor(target), reduction=name, label_smoothing=0.15)
        loss = K.cross_entropy_forward(logits, target, 0.15, code)
        close(loss, tloss.detach().numpy(), dtype)
        gl = rand(rng, loss.shape, dtype)
        tloss.backward(t(gl))
        close(K.cross_entropy_backward(logits, target, 0.15, code, gl), tl.grad.numpy(), dtype)


def test_concurrent_calls_match_serial(dtype):
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(18)
    xs = [rand(rng, (2, 4, 8, 8), dtype) for _ in range(4)]
    w = rand(rng, (6, 2, 3, 3), dtype)

    def run(x):
        y = K.conv2d_forward(x, w, None, 1, 1, 1, 1, 1, 1, 2, 8, 8)
        p, idx = K.max_pool2d_forward(y, 2, 2, 2, 2, 0, 0, 1, 1, 4, 4, True)
        return y, p, idx

    serial = [run(x) for x in xs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(run, xs))
    for a, b in zip(serial, threaded):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
