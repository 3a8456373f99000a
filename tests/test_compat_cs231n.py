"""Tests of fastconv.compat.cs231n, the drop-in for the CS231n NumPy layers.

The expected values come from plain NumPy implementations of the same functions written here
with explicit loops (the semantics of CS231n's layers, with PyTorch's floor output size and the
first maximum of each pooling window), computed in float64.
"""
import copy
import math
import pickle
import zlib

import numpy as np
import pytest
from conftest import assert_close

from fastconv.compat import cs231n as C


# ------------------------------------------------------------------------------------------
# Plain NumPy implementations (naive loops; the oracle)
# ------------------------------------------------------------------------------------------

def ref_affine_forward(x, w, b):
    x64 = x.astype(np.float64).reshape(x.shape[0], math.prod(x.shape[1:]))
    return x64 @ w.astype(np.float64) + b.astype(np.float64)


def ref_affine_backward(dout, x, w):
    d = dout.astype(np.float64)
    x64 = x.astype(np.float64).reshape(x.shape[0], math.prod(x.shape[1:]))
    dx = (d @ w.astype(np.float64).T).reshape(x.shape)
    return dx, x64.T @ d, d.sum(axis=0)


def ref_conv_forward(x, w, b, stride, pad):
    n_, c_, h, wd = x.shape
    f_, _, hh, ww = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (h + 2 * pad - hh) // stride + 1
    wo = (wd + 2 * pad - ww) // stride + 1
    w64 = w.astype(np.float64)
    out = np.empty((n_, f_, ho, wo))
    for n in range(n_):
        for f in range(f_):
            for i in range(ho):
                for j in range(wo):
                    win = xp[n, :, i * stride:i * stride + hh, j * stride:j * stride + ww]
                    out[n, f, i, j] = np.sum(win * w64[f]) + float(b[f])
    return out


def ref_conv_backward(dout, x, w, stride, pad):
    n_, c_, h, wd = x.shape
    f_, _, hh, ww = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    w64 = w.astype(np.float64)
    d = dout.astype(np.float64)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w64)
    for n in range(n_):
        for f in range(f_):
            for i in range(d.shape[2]):
                for j in range(d.shape[3]):
                    sl = (n, slice(None), slice(i * stride, i * stride + hh),
                          slice(j * stride, j * stride + ww))
                    dw[f] += xp[sl] * d[n, f, i, j]
                    dxp[sl] += w64[f] * d[n, f, i, j]
    return dxp[:, :, pad:pad + h, pad:pad + wd], dw, d.sum(axis=(0, 2, 3))


def ref_max_pool(x, ph, pw, stride):
    """(out, argmax) -- argmax as (row, col) in the plane of the FIRST maximum of each window."""
    n_, c_, h, wd = x.shape
    ho = (h - ph) // stride + 1
    wo = (wd - pw) // stride + 1
    out = np.empty((n_, c_, ho, wo))
    arg = np.empty((n_, c_, ho, wo, 2), dtype=np.int64)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    win = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    k = int(np.argmax(win))  # first maximum in row-major order
                    out[n, c, i, j] = win.flat[k]
                    arg[n, c, i, j] = (i * stride + k // pw, j * stride + k % pw)
    return out, arg


def ref_max_pool_backward(dout, x, ph, pw, stride):
    _, arg = ref_max_pool(x, ph, pw, stride)
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(*dout.shape):
        r, s = arg[n, c, i, j]
        dx[n, c, r, s] += float(dout[n, c, i, j])
    return dx


def ref_softmax_loss(x, y):
    x = x.astype(np.float64)
    n = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].sum() / n
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def ref_svm_loss(x, y):
    x = x.astype(np.float64)
    n, c = x.shape
    loss = 0.0
    dx = np.zeros_like(x)
    for i in range(n):
        for j in range(c):
            if j == y[i]:
                continue
            margin = x[i, j] - x[i, y[i]] + 1.0
            if margin > 0:
                loss += margin
                dx[i, j] += 1
                dx[i, y[i]] -= 1
    return loss / n, dx / n


def rel_error(a, b):
    """CS231n's relative error: max |a - b| / max(1e-8, |a| + |b|), element by element."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def normwise_error(a, b):
    """Largest absolute difference relative to the largest magnitude."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(np.abs(a).max(), np.abs(b).max())
    return float(np.abs(a - b).max() / scale) if scale > 0 else 0.0


def numerical_gradient(f, x, h):
    """Central differences of the scalar function f() with respect to every entry of x
    (x is perturbed in place and restored)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fp = f()
        x[ix] = old - h
        fm = f()
        x[ix] = old
        grad[ix] = (fp - fm) / (2 * h)
    return grad


def rng_for(*key):
    """A generator seeded from the test's parameters (stable across processes)."""
    return np.random.default_rng(zlib.crc32(repr(("cs231n",) + key).encode()))


# ------------------------------------------------------------------------------------------
# Shape grids
# ------------------------------------------------------------------------------------------

# (x shape, w shape, stride, pad): odd sizes, non-square kernels, stride 2 and 3, pad 0..2,
# outputs that do not tile the padded input, H equal to the kernel, 1x1 kernels.
CONV_CASES = [
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
    ((2, 3, 7, 5), (3, 3, 3, 2), 2, 0),
    ((1, 2, 6, 9), (2, 2, 2, 3), 2, 2),
    ((3, 1, 5, 4), (2, 1, 1, 1), 1, 0),
    ((2, 3, 8, 8), (5, 3, 4, 4), 2, 1),
    ((2, 2, 9, 7), (3, 2, 5, 3), 2, 2),
    ((1, 3, 3, 3), (2, 3, 3, 3), 1, 0),
    ((2, 3, 11, 6), (4, 3, 2, 5), 3, 1),
    ((1, 2, 4, 6), (3, 2, 3, 1), 2, 2),
]
CONV_IDS = ["x%s-w%s-s%d-p%d" % ("x".join(map(str, xs)), "x".join(map(str, ws)), s, p)
            for xs, ws, s, p in CONV_CASES]

# (x shape, pool_height, pool_width, stride): tiling, non-tiling, non-square, overlapping,
# stride larger than the window, a window as large as the plane.
POOL_CASES = [
    ((2, 3, 8, 8), 2, 2, 2),
    ((2, 3, 7, 7), 2, 2, 2),
    ((2, 2, 9, 6), 3, 2, 2),
    ((1, 3, 5, 8), 2, 3, 1),
    ((2, 1, 6, 7), 3, 3, 3),
    ((1, 2, 4, 4), 4, 4, 1),
    ((1, 2, 9, 9), 2, 2, 3),
    ((2, 2, 7, 10), 1, 3, 2),
]
POOL_IDS = ["x%s-%dx%d-s%d" % ("x".join(map(str, xs)), ph, pw, s) for xs, ph, pw, s in POOL_CASES]

CONV_VARIANTS = [
    (C.conv_forward_naive, C.conv_backward_naive),
    (C.conv_forward_fast, C.conv_backward_fast),
    (C.conv_forward_im2col, C.conv_backward_im2col),
    (C.conv_forward_strides, C.conv_backward_strides),
]
CONV_VARIANT_IDS = ["naive", "fast", "im2col", "strides"]

POOL_VARIANTS = [
    (C.max_pool_forward_naive, C.max_pool_backward_naive),
    (C.max_pool_forward_fast, C.max_pool_backward_fast),
    (C.max_pool_forward_reshape, C.max_pool_backward_reshape),
    (C.max_pool_forward_im2col, C.max_pool_backward_im2col),
]
POOL_VARIANT_IDS = ["naive", "fast", "reshape", "im2col"]


# ------------------------------------------------------------------------------------------
# Parity with the NumPy implementations
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", CONV_VARIANTS, ids=CONV_VARIANT_IDS)
@pytest.mark.parametrize("xs,ws,stride,pad", CONV_CASES, ids=CONV_IDS)
def test_conv_parity(xs, ws, stride, pad, variant, dtype):
    fwd, bwd = variant
    rng = rng_for("conv", xs, ws, stride, pad)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    conv_param = {"stride": stride, "pad": pad}
    x0, w0, b0 = x.copy(), w.copy(), b.copy()

    out, cache = fwd(x, w, b, conv_param)
    assert_close(out, ref_conv_forward(x, w, b, stride, pad), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = bwd(dout, cache)
    ref_dx, ref_dw, ref_db = ref_conv_backward(dout, x, w, stride, pad)
    assert_close(dx, ref_dx, dtype)
    assert_close(dw, ref_dw, dtype)
    assert_close(db, ref_db, dtype)
    # inputs untouched, cache holds the originals
    for a, a0 in ((x, x0), (w, w0), (b, b0)):
        np.testing.assert_array_equal(a, a0)
    assert cache[0] is x and cache[1] is w and cache[2] is b and cache[3] is conv_param


@pytest.mark.parametrize("variant", POOL_VARIANTS, ids=POOL_VARIANT_IDS)
@pytest.mark.parametrize("xs,ph,pw,stride", POOL_CASES, ids=POOL_IDS)
def test_max_pool_parity(xs, ph, pw, stride, variant, dtype):
    fwd, bwd = variant
    rng = rng_for("pool", xs, ph, pw, stride)
    x = rng.standard_normal(xs).astype(dtype)
    x0 = x.copy()
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = fwd(x, pool_param)
    ref_out, _ = ref_max_pool(x, ph, pw, stride)
    assert_close(out, ref_out, dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = bwd(dout, cache)
    assert_close(dx, ref_max_pool_backward(dout, x, ph, pw, stride), dtype)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("variant", POOL_VARIANTS, ids=POOL_VARIANT_IDS)
@pytest.mark.parametrize("xs,ph,pw,stride", POOL_CASES, ids=POOL_IDS)
def test_max_pool_ties_go_to_first_maximum(xs, ph, pw, stride, variant, dtype):
    fwd, bwd = variant
    rng = rng_for("ties", xs, ph, pw, stride)
    x = rng.integers(0, 3, size=xs).astype(dtype)  # many tied maxima
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = fwd(x, pool_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = bwd(dout, cache)
    assert_close(dx, ref_max_pool_backward(dout, x, ph, pw, stride), dtype)
    # the gradient of each window lands on exactly one element
    if stride >= max(ph, pw):  # windows do not overlap: count the non-zeros
        assert np.count_nonzero(dx) == np.count_nonzero(dout)


@pytest.mark.parametrize("xs,ws", [((4, 3, 5, 2), (30, 7)), ((3, 10), (10, 4)),
                                   ((2, 2, 3, 4), (24, 1)), ((5, 1, 1, 1), (1, 3))])
def test_affine_parity(xs, ws, dtype):
    rng = rng_for("affine", xs, ws)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1]).astype(dtype)
    x0, w0 = x.copy(), w.copy()
    out, cache = C.affine_forward(x, w, b)
    assert_close(out, ref_affine_forward(x, w, b), dtype)
    assert cache[0] is x and cache[1] is w and cache[2] is b
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = C.affine_backward(dout, cache)
    rdx, rdw, rdb = ref_affine_backward(dout, x, w)
    assert_close(dx, rdx, dtype)
    assert_close(dw, rdw, dtype)
    assert_close(db, rdb, dtype)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_affine_accepts_transposed_and_strided_arrays(layout, dtype):
    rng = rng_for("affine-strided", layout)
    x = rng.standard_normal((6, 2, 5)).astype(dtype)[:, :, ::2]  # non-contiguous (6, 2, 3)
    if layout == "fortran":
        w = np.asfortranarray(rng.standard_normal((6, 4)).astype(dtype))
    else:
        w = rng.standard_normal((12, 12)).astype(dtype)[::2, ::3]
    b = rng.standard_normal(4).astype(dtype)
    out, cache = C.affine_forward(x, w, b)
    assert_close(out, ref_affine_forward(x, w, b), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dout = np.asfortranarray(dout) if layout == "fortran" else dout
    dx, dw, db = C.affine_backward(dout, cache)
    rdx, rdw, rdb = ref_affine_backward(dout, x, w)
    assert_close(dx, rdx, dtype)
    assert_close(dw, rdw, dtype)
    assert_close(db, rdb, dtype)


def test_relu_parity(dtype):
    rng = rng_for("relu")
    x = rng.standard_normal((3, 4, 5, 2)).astype(dtype)
    x0 = x.copy()
    out, cache = C.relu_forward(x)
    assert_close(out, np.maximum(x, 0), dtype)
    assert cache is x
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx = C.relu_backward(dout, cache)
    assert_close(dx, np.where(x > 0, dout, 0), dtype)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("n,c", [(5, 10), (1, 3), (7, 2)])
def test_softmax_loss_parity(n, c, dtype):
    rng = rng_for("softmax", n, c)
    x = (3 * rng.standard_normal((n, c))).astype(dtype)
    y = rng.integers(0, c, size=n)
    loss, dx = C.softmax_loss(x, y)
    ref_loss, ref_dx = ref_softmax_loss(x, y)
    assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert_close(loss, ref_loss, dtype)
    assert_close(dx, ref_dx, dtype)


@pytest.mark.parametrize("n,c", [(5, 10), (1, 3), (8, 2)])
def test_svm_loss_parity(n, c, dtype):
    rng = rng_for("svm", n, c)
    x = rng.standard_normal((n, c)).astype(dtype)
    y = rng.integers(0, c, size=n)
    loss, dx = C.svm_loss(x, y)
    ref_loss, ref_dx = ref_svm_loss(x, y)
    assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert_close(loss, ref_loss, dtype)
    assert_close(dx, ref_dx, dtype)


def test_svm_loss_matches_course_formula_bitwise():
    # The course's vectorised svm_loss, evaluated in float64: our result is bit-identical.
    rng = rng_for("svm-bitwise")
    x = rng.standard_normal((50, 10))
    y = rng.integers(0, 10, size=50)
    n = x.shape[0]
    correct = x[np.arange(n), y]
    margins = np.maximum(0, x - correct[:, np.newaxis] + 1.0)
    margins[np.arange(n), y] = 0
    loss = np.sum(margins) / n
    num_pos = np.sum(margins > 0, axis=1)
    dx = np.zeros_like(x)
    dx[margins > 0] = 1
    dx[np.arange(n), y] -= num_pos
    dx /= n
    got_loss, got_dx = C.svm_loss(x, y)
    assert got_loss == loss
    np.testing.assert_array_equal(got_dx, dx)


@pytest.mark.parametrize("fn", [C.softmax_loss, C.svm_loss], ids=["softmax", "svm"])
def test_losses_reject_bad_labels(fn):
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="out of bounds"):
        fn(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="out of bounds"):
        fn(x, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        fn(x, np.array([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        fn(x, np.array([0.0, 1.0, 2.0]))


# ------------------------------------------------------------------------------------------
# Sandwich layers
# ------------------------------------------------------------------------------------------

def test_sandwich_layers_compose_the_single_layers(dtype):
    rng = rng_for("sandwich")
    x = rng.standard_normal((2, 3, 9, 7)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 2)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    # conv-relu-pool against the loop oracles
    out, cache = C.conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    a = ref_conv_forward(x, w, b, 1, 1)
    s = np.maximum(a, 0).astype(dtype)
    ref_out, _ = ref_max_pool(s, 2, 2, 2)
    assert_close(out, ref_out, dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = C.conv_relu_pool_backward(dout, cache)
    ds = ref_max_pool_backward(dout, s, 2, 2, 2)
    da = np.where(a > 0, ds, 0)
    rdx, rdw, rdb = ref_conv_backward(da, x, w, 1, 1)
    assert_close(dx, rdx, dtype)
    assert_close(dw, rdw, dtype)
    assert_close(db, rdb, dtype)

    # conv-relu
    out, cache = C.conv_relu_forward(x, w, b, conv_param)
    assert_close(out, np.maximum(a, 0), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = C.conv_relu_backward(dout, cache)
    rdx, rdw, rdb = ref_conv_backward(np.where(a > 0, dout, 0), x, w, 1, 1)
    assert_close(dx, rdx, dtype)
    assert_close(dw, rdw, dtype)
    assert_close(db, rdb, dtype)

    # affine-relu on a 4-D input
    w2 = rng.standard_normal((3 * 9 * 7, 5)).astype(dtype)
    b2 = rng.standard_normal(5).astype(dtype)
    out, cache = C.affine_relu_forward(x, w2, b2)
    a2 = ref_affine_forward(x, w2, b2)
    assert_close(out, np.maximum(a2, 0), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = C.affine_relu_backward(dout, cache)
    rdx, rdw, rdb = ref_affine_backward(np.where(a2 > 0, dout, 0), x, w2)
    assert_close(dx, rdx, dtype)
    assert_close(dw, rdw, dtype)
    assert_close(db, rdb, dtype)


# ------------------------------------------------------------------------------------------
# Caches
# ------------------------------------------------------------------------------------------

def test_conv_caches_have_the_course_layout_and_work_with_every_backward():
    rng = rng_for("conv-cache")
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((2, 3, 3, 2))
    b = rng.standard_normal(2)
    conv_param = {"stride": 2, "pad": 1}
    _, naive_cache = C.conv_forward_naive(x, w, b, conv_param)
    assert type(naive_cache) is tuple and len(naive_cache) == 4
    for fwd, _ in CONV_VARIANTS[1:]:
        _, cache = fwd(x, w, b, conv_param)
        assert type(cache) is tuple and len(cache) == 5  # (x, w, b, conv_param, x_cols)
    out, _ = C.conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    expected = ref_conv_backward(dout, x, w, 2, 1)
    for fwd, _ in CONV_VARIANTS:
        _, cache = fwd(x, w, b, conv_param)
        cache = pickle.loads(pickle.dumps(cache))  # caches survive a round trip
        for _, bwd in CONV_VARIANTS:
            for got, exp in zip(bwd(dout, cache), expected):
                assert_close(got, exp, np.float64)


def test_pool_caches_round_trip_and_plain_tuples_work():
    rng = rng_for("pool-cache")
    x = rng.standard_normal((2, 3, 7, 6))
    pool_param = {"pool_height": 3, "pool_width": 2, "stride": 2}
    out, cache = C.max_pool_forward_fast(x, pool_param)
    x_c, param_c = cache  # unpacks like the course's (x, pool_param)
    assert x_c is x and param_c is pool_param and len(cache) == 2
    assert cache.indices.shape == out.shape and cache.indices.dtype == np.int64
    dout = rng.standard_normal(out.shape)
    expected = ref_max_pool_backward(dout, x, 3, 2, 2)
    for c in (cache, pickle.loads(pickle.dumps(cache)), copy.deepcopy(cache), (x, pool_param)):
        for _, bwd in POOL_VARIANTS:
            assert_close(bwd(dout, c), expected, np.float64)


def test_sandwich_caches_survive_pickle():
    rng = rng_for("sandwich-pickle")
    x = rng.standard_normal((2, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    out, cache = C.conv_relu_pool_forward(x, w, b, {"stride": 1, "pad": 1},
                                          {"pool_height": 2, "pool_width": 2, "stride": 2})
    dout = rng.standard_normal(out.shape)
    direct = C.conv_relu_pool_backward(dout, cache)
    again = C.conv_relu_pool_backward(dout, pickle.loads(pickle.dumps(cache)))
    for a, b_ in zip(direct, again):
        np.testing.assert_array_equal(a, b_)


# ------------------------------------------------------------------------------------------
# Dtypes
# ------------------------------------------------------------------------------------------

def test_every_function_keeps_the_dtype(dtype):
    rng = rng_for("dtype")
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    outs = []
    o, c = C.conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    outs += [o, *C.conv_relu_pool_backward(np.ones_like(o), c)]
    o, c = C.conv_relu_forward(x, w, b, conv_param)
    outs += [o, *C.conv_relu_backward(np.ones_like(o), c)]
    for fwd, bwd in CONV_VARIANTS:
        o, c = fwd(x, w, b, conv_param)
        outs += [o, *bwd(np.ones_like(o), c)]
    for fwd, bwd in POOL_VARIANTS:
        o, c = fwd(x, pool_param)
        outs += [o, bwd(np.ones_like(o), c)]
    w2 = rng.standard_normal((108, 5)).astype(dtype)
    b2 = rng.standard_normal(5).astype(dtype)
    o, c = C.affine_forward(x, w2, b2)
    outs += [o, *C.affine_backward(np.ones_like(o), c)]
    o, c = C.affine_relu_forward(x, w2, b2)
    outs += [o, *C.affine_relu_backward(np.ones_like(o), c)]
    o, c = C.relu_forward(x)
    outs += [o, C.relu_backward(np.ones_like(o), c)]
    y = np.array([0, 4])
    outs += [*C.softmax_loss(o.reshape(2, -1)[:, :5], y), *C.svm_loss(o.reshape(2, -1)[:, :5], y)]
    assert [np.asarray(a).dtype for a in outs] == [dtype] * len(outs)


def test_mixed_dtypes_follow_numpy_promotion():
    # float32 data with float64 weights gives float64, as the original NumPy code does
    rng = rng_for("mixed")
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    out, cache = C.conv_forward_fast(x, w, b, {"stride": 1, "pad": 0})
    assert out.dtype == np.float64
    assert_close(out, ref_conv_forward(x, w, b, 1, 0), np.float64)
    dx, dw, db = C.conv_backward_fast(np.ones_like(out), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float64
    w2 = rng.standard_normal((75, 4))
    out, cache = C.affine_forward(x, w2, np.zeros(4))
    assert out.dtype == np.float64
    assert_close(out, ref_affine_forward(x, w2, np.zeros(4)), np.float64)


# ------------------------------------------------------------------------------------------
# A three-layer ConvNet built only from fastconv.compat.cs231n
# ------------------------------------------------------------------------------------------

class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, as in the assignment."""

    def __init__(self, input_dim=(3, 8, 8), num_filters=4, filter_size=(3, 3), hidden_dim=7,
                 num_classes=10, weight_scale=1e-3, dtype=np.float64, seed=0):
        rng = np.random.default_rng(seed)
        c, h, w = input_dim
        fh, fw = filter_size
        self.conv_param = {"stride": 1, "pad": (fh - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        ho = h + 2 * self.conv_param["pad"] - fh + 1
        wo = w + 2 * self.conv_param["pad"] - fw + 1
        pooled = num_filters * ((ho - 2) // 2 + 1) * ((wo - 2) // 2 + 1)
        self.params = {
            "W1": weight_scale * rng.standard_normal((num_filters, c, fh, fw)),
            "b1": np.zeros(num_filters),
            "W2": weight_scale * rng.standard_normal((pooled, hidden_dim)),
            "b2": np.zeros(hidden_dim),
            "W3": weight_scale * rng.standard_normal((hidden_dim, num_classes)),
            "b3": np.zeros(num_classes),
        }
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None, with_grads=True):
        p = self.params
        out1, cache1 = C.conv_relu_pool_forward(X, p["W1"], p["b1"], self.conv_param,
                                                self.pool_param)
        out2, cache2 = C.affine_relu_forward(out1, p["W2"], p["b2"])
        scores, cache3 = C.affine_forward(out2, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = C.softmax_loss(scores, y)
        if not with_grads:
            return loss
        grads = {}
        dout2, grads["W3"], grads["b3"] = C.affine_backward(dscores, cache3)
        dout1, grads["W2"], grads["b2"] = C.affine_relu_backward(dout2, cache2)
        dx, grads["W1"], grads["b1"] = C.conv_relu_pool_backward(dout1, cache1)
        return loss, grads, dx


@pytest.mark.parametrize("filter_size,input_dim", [((3, 3), (3, 6, 6)), ((3, 2), (2, 5, 7))],
                         ids=["3x3-6x6", "3x2-5x7-nontiling"])
def test_three_layer_convnet_gradients_match_central_differences(filter_size, input_dim):
    model = ThreeLayerConvNet(input_dim=input_dim, filter_size=filter_size, weight_scale=0.3,
                              seed=1)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2,) + input_dim)
    y = rng.integers(0, 10, size=2)
    loss, grads, dx = model.loss(X, y)
    assert set(grads) == set(model.params)
    h = 1e-5
    for name, param in model.params.items():
        num = numerical_gradient(lambda: model.loss(X, y, with_grads=False), param, h)
        assert grads[name].shape == param.shape and grads[name].dtype == np.float64
        err = rel_error(grads[name], num)
        assert err < 1e-7, f"{name}: relative error {err:.3e}"
    # dx has entries a thousand times smaller than its largest; their difference quotients
    # are dominated by rounding (about eps * loss / h = 1e-10), so dx is compared normwise.
    num_dx = numerical_gradient(lambda: model.loss(X, y, with_grads=False), X, h)
    err = normwise_error(dx, num_dx)
    assert err < 1e-7, f"dx: normwise relative error {err:.3e}"


@pytest.mark.parametrize("dtype_", [np.float32, np.float64], ids=["float32", "float64"])
def test_three_layer_convnet_initial_loss_is_log10(dtype_):
    model = ThreeLayerConvNet(input_dim=(3, 16, 16), num_filters=8, hidden_dim=20,
                              weight_scale=1e-3, dtype=dtype_, seed=3)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 3, 16, 16)).astype(dtype_)
    y = rng.integers(0, 10, size=20)
    loss, grads, dx = model.loss(X, y)
    assert loss.dtype == dtype_
    assert abs(float(loss) - math.log(10)) < 1e-3
    assert model.loss(X).shape == (20, 10)
    assert all(g.dtype == dtype_ for g in grads.values()) and dx.dtype == dtype_


def test_three_layer_convnet_float32_matches_float64():
    m64 = ThreeLayerConvNet(weight_scale=0.3, seed=5)
    m32 = ThreeLayerConvNet(weight_scale=0.3, seed=5, dtype=np.float32)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((4, 3, 8, 8))
    y = rng.integers(0, 10, size=4)
    l64, g64, dx64 = m64.loss(X, y)
    l32, g32, dx32 = m32.loss(X.astype(np.float32), y)
    assert_close(l32, l64, np.float32)
    for k in g64:
        assert_close(g32[k], g64[k], np.float32, err_msg=k)
    assert_close(dx32, dx64, np.float32)


# ------------------------------------------------------------------------------------------
# Edge cases and bad input
# ------------------------------------------------------------------------------------------

def test_zero_batch(dtype):
    x = np.zeros((0, 3, 6, 6), dtype)
    w = np.ones((2, 3, 3, 3), dtype)
    b = np.zeros(2, dtype)
    out, cache = C.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert out.shape == (0, 2, 6, 6)
    dx, dw, db = C.conv_backward_fast(out, cache)
    assert dx.shape == x.shape and not dw.any() and not db.any()
    out, cache = C.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.shape == (0, 3, 3, 3)
    assert C.max_pool_backward_fast(out, cache).shape == x.shape
    out, cache = C.affine_forward(x, np.ones((108, 4), dtype), np.zeros(4, dtype))
    assert out.shape == (0, 4)
    dx, dw, db = C.affine_backward(out, cache)
    assert dx.shape == x.shape and dw.shape == (108, 4) and not dw.any()


def test_read_only_and_fortran_inputs_work():
    rng = rng_for("readonly")
    x = np.asfortranarray(rng.standard_normal((2, 3, 7, 6)))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    for a in (x, w, b):
        a.setflags(write=False)
    out, cache = C.conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    assert_close(out, ref_conv_forward(x, w, b, 2, 1), np.float64)
    dout = rng.standard_normal(out.shape)
    for got, exp in zip(C.conv_backward_fast(dout, cache), ref_conv_backward(dout, x, w, 2, 1)):
        assert_close(got, exp, np.float64)


def test_bad_shapes_raise_value_errors():
    x = np.zeros((2, 3, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        C.conv_forward_fast(x, np.zeros((2, 4, 3, 3)), np.zeros(2), {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match="Output size is too small"):
        C.max_pool_forward_fast(x, {"pool_height": 6, "pool_width": 2, "stride": 1})
    with pytest.raises(ValueError):
        C.affine_forward(x, np.zeros((74, 3)), np.zeros(3))
    with pytest.raises(KeyError):
        C.conv_forward_naive(x, np.zeros((2, 3, 3, 3)), np.zeros(2), {"stride": 1})


def test_pool_backward_rejects_foreign_caches():
    x = np.zeros((1, 1, 4, 4))
    dout = np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match="tagged 'reshape'"):
        C.max_pool_backward_fast(dout, ("reshape", (x, x.reshape(1, 1, 2, 2, 2, 2), dout)))
    with pytest.raises(ValueError, match="3-tuple"):
        C.max_pool_backward_naive(dout, (x, {}, None))


def test_the_same_calls_run_on_the_numpy_reference_backend():
    import fastconv.functional
    import fastconv.reference
    from fastconv import use_backend
    from fastconv.compat._common import ops

    model = ThreeLayerConvNet(input_dim=(2, 7, 9), filter_size=(3, 2), weight_scale=0.3, seed=7)
    rng = np.random.default_rng(8)
    X = rng.standard_normal((3, 2, 7, 9))
    y = rng.integers(0, 10, size=3)
    assert ops() is fastconv.functional
    loss_c, grads_c, dx_c = model.loss(X, y)
    with use_backend("numpy"):
        assert ops() is fastconv.reference
        loss_np, grads_np, dx_np = model.loss(X, y)
    assert ops() is fastconv.functional
    assert_close(loss_c, loss_np, np.float64)
    for k in grads_c:
        assert_close(grads_c[k], grads_np[k], np.float64, err_msg=k)
    assert_close(dx_c, dx_np, np.float64)
