"""fastconv.functional (the C backend) against fastconv.reference (NumPy), every function,
both dtypes, every ISA path this CPU supports, on a generated grid of shapes and options."""
import concurrent.futures
import os

import numpy as np
import pytest

import fastconv
import fastconv.functional as F
import fastconv.reference as R
from conftest import R64, assert_close

# subprocesses run from here so that they import the same fastconv as this process
_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))

# ---------------------------------------------------------------------------------------
# The grids
# ---------------------------------------------------------------------------------------

# (input shape, weight shape, options)
CONV_CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 2), {}),                                   # non-square (3, 2)
    ((2, 3, 6, 7), (4, 3, 2, 3), dict(stride=2, padding=1)),            # non-square (2, 3)
    ((2, 2, 8, 7), (3, 2, 2, 2), dict(stride=3)),                       # stride > kernel
    ((1, 3, 9, 8), (2, 3, 3, 3), dict(dilation=2, padding=2)),          # dilation 2
    ((2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, padding=1)),            # groups
    ((2, 4, 6, 5), (4, 1, 3, 3), dict(groups=4, padding=1)),            # depthwise
    ((1, 3, 5, 5), (6, 1, 3, 3), dict(groups=3, stride=2)),             # depthwise x2
    ((1, 2, 4, 4), (3, 2, 3, 3), dict(padding=4)),                      # padding > kernel
    ((2, 3, 3, 4), (2, 3, 3, 4), {}),                                   # H, W == kernel
    ((0, 3, 5, 5), (2, 3, 3, 3), dict(padding=1)),                      # batch 0
    ((1, 1, 5, 5), (1, 1, 1, 1), {}),                                   # batch 1, 1x1
    ((1, 2, 5, 6), (3, 2, 2, 4), dict(padding="same")),                 # odd total 'same'
    ((2, 2, 6, 6), (3, 2, 3, 3), dict(padding="same", dilation=2)),
    ((1, 2, 6, 6), (3, 2, 3, 3), dict(padding="valid")),
    ((2, 3, 9, 8), (4, 3, 3, 3), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    ((3, 1, 12, 11), (5, 1, 3, 3), dict(padding=1)),                    # C_in = 1
    ((2, 1, 28, 28), (32, 1, 3, 3), dict(padding=1)),                   # MNIST conv1
    ((1, 1, 7, 20), (3, 1, 3, 3), dict(padding=2)),                     # C_in = 1, odd C_out
    ((2, 1, 9, 17), (1, 1, 3, 3), {}),                                  # C_in = C_out = 1
    ((2, 1, 7, 300), (1, 1, 3, 3), dict(padding=1)),                    # the edge conv's rows
    ((2, 8, 10, 10), (16, 8, 3, 3), dict(padding=1)),                   # wider GEMM
    ((2, 3, 9, 11), (9, 3, 3, 2), dict(padding=(2, 1), dilation=(2, 1))),  # implicit GEMM
    ((1, 2, 100, 90), (8, 2, 3, 3), dict(padding=1)),                   # output tiles
    ((1, 3, 5, 33), (8, 3, 3, 3), dict(padding=1)),                     # K = 27: row dots,
    ((1, 3, 4, 34), (8, 3, 3, 3), dict(padding=(1, 0))),                # masked / full rows
    ((2, 5, 9, 9), (7, 5, 5, 5), dict(stride=2, padding=2)),
]
CONV_IDS = [f"{x}-{w}-{o}" for x, w, o in CONV_CASES]

# (input shape, options); max pool uses all options, avg pool drops dilation
POOL_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 7, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 7, 8), dict(kernel_size=(3, 2), stride=(1, 2))),                 # non-square
    ((1, 2, 8, 7), dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1))),
    ((2, 2, 9, 9), dict(kernel_size=2, stride=3)),                           # stride > kernel
    ((2, 2, 10, 9), dict(kernel_size=2, stride=3, ceil_mode=True)),
    ((1, 2, 9, 9), dict(kernel_size=3, dilation=2, stride=1, padding=1)),   # dilation 2
    ((1, 2, 6, 6), dict(kernel_size=(5, 4), stride=2, padding=(2, 2), ceil_mode=True)),  # max pad
    ((2, 3, 3, 4), dict(kernel_size=(3, 4))),                                # H == kernel
    ((0, 3, 6, 6), dict(kernel_size=2)),                                     # batch 0
    ((1, 1, 5, 5), dict(kernel_size=1)),
    ((2, 16, 14, 14), dict(kernel_size=2)),                                  # vector width
    ((1, 3, 13, 17), dict(kernel_size=3, stride=2, ceil_mode=True)),
]
POOL_IDS = [f"{x}-{o}" for x, o in POOL_CASES]


def _avg_opts(opts):
    opts = dict(opts)
    d = opts.pop("dilation", 1)
    if d != 1:
        return None
    k = opts["kernel_size"]
    k = (k, k) if isinstance(k, int) else k
    p = opts.get("padding", 0)
    p = (p, p) if isinstance(p, int) else p
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        return None
    return opts


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _ties(rng, shape, dtype):
    """Small integers: many ties, to check the first-maximum rule."""
    return rng.integers(-3, 4, size=shape).astype(dtype)


# ---------------------------------------------------------------------------------------
# conv2d
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("xs, ws, opts", CONV_CASES, ids=CONV_IDS)
def test_conv2d(isa, dtype, rng, xs, ws, opts):
    x, w, b = _rand(rng, xs, dtype), _rand(rng, ws, dtype), _rand(rng, ws[:1], dtype)
    y = F.conv2d(x, w, b, **opts)
    assert y.shape == fastconv.conv2d_output_shape(xs, ws, **opts)
    assert_close(y, R64.conv2d(x, w, b, **opts), dtype)
    assert_close(F.conv2d(x, w, **opts), R64.conv2d(x, w, **opts), dtype)


@pytest.mark.parametrize("xs, ws, opts", CONV_CASES, ids=CONV_IDS)
def test_conv2d_backward(isa, dtype, rng, xs, ws, opts):
    x, w = _rand(rng, xs, dtype), _rand(rng, ws, dtype)
    gy = _rand(rng, fastconv.conv2d_output_shape(xs, ws, **opts), dtype)
    got = F.conv2d_backward(gy, x, w, **opts)
    want = R64.conv2d_backward(gy, x, w, **opts)
    for g, r, name in zip(got, want, ("grad_input", "grad_weight", "grad_bias")):
        assert_close(g, r, dtype, err_msg=name)
    if xs[0] == 0:
        assert not got[1].any() and not got[2].any()


@pytest.mark.parametrize("xs, ws, opts", [
    ((2, 64, 6, 7), (10, 64, 3, 3), dict(padding=1)),       # K = 576: two blocks of k
    ((1, 37, 9, 5), (16, 37, 3, 3), dict(padding=(0, 2))),
    ((2, 32, 14, 14), (64, 32, 3, 3), dict(padding=1)),     # MNIST conv2
], ids=str)
def test_conv2d_long_k_exact(isa, dtype, rng, xs, ws, opts):
    """Long reductions on small integers: every partial sum is exact in float32, so any
    summation order gives the reference's result (random reals would leave float32 outputs
    near zero with relative errors above its tolerance)."""
    x = rng.integers(0, 4, xs).astype(dtype)
    w = rng.integers(-2, 3, ws).astype(dtype)
    b = rng.integers(-2, 3, ws[:1]).astype(dtype)
    assert_close(F.conv2d(x, w, b, **opts), R64.conv2d(x, w, b, **opts), dtype)
    gy = rng.integers(-2, 3, fastconv.conv2d_output_shape(xs, ws, **opts)).astype(dtype)
    for g, r in zip(F.conv2d_backward(gy, x, w, **opts), R64.conv2d_backward(gy, x, w, **opts)):
        assert_close(g, r, dtype)


MASKS = [(False, True, True), (True, False, False), (False, True, False), (False, False, False)]


@pytest.mark.parametrize("mask", MASKS, ids=lambda m: "".join("1" if b else "0" for b in m))
@pytest.mark.parametrize("xs, ws, opts", CONV_CASES, ids=CONV_IDS)
def test_conv2d_backward_output_mask(isa, dtype, rng, xs, ws, opts, mask):
    """Each gradient asked for equals the reference; the others are None."""
    x, w = _rand(rng, xs, dtype), _rand(rng, ws, dtype)
    gy = _rand(rng, fastconv.conv2d_output_shape(xs, ws, **opts), dtype)
    got = F.conv2d_backward(gy, x, w, output_mask=mask, **opts)
    want = R64.conv2d_backward(gy, x, w, **opts)
    assert len(got) == 3
    for g, r, m, name in zip(got, want, mask, ("grad_input", "grad_weight", "grad_bias")):
        if m:
            assert_close(g, r, dtype, err_msg=name)
        else:
            assert g is None, name
    ref = R.conv2d_backward(gy, x, w, output_mask=mask, **opts)
    assert [g is None for g in ref] == [not m for m in mask]


# ---------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("xs, opts", POOL_CASES, ids=POOL_IDS)
@pytest.mark.parametrize("data", [_rand, _ties])
def test_max_pool2d(isa, dtype, rng, xs, opts, data):
    x = data(rng, xs, dtype)
    y, idx = F.max_pool2d(x, return_indices=True, **opts)
    y_ref, idx_ref = R64.max_pool2d(x, return_indices=True, **opts)
    assert_close(y, y_ref, dtype)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, idx_ref)
    np.testing.assert_array_equal(F.max_pool2d(x, **opts), y)
    # the indices point at the maxima
    flat = x.reshape(xs[0], xs[1], xs[2] * xs[3])
    np.testing.assert_array_equal(np.take_along_axis(
        flat, idx.reshape(xs[0], xs[1], y.shape[2] * y.shape[3]), axis=2).reshape(y.shape), y)


@pytest.mark.parametrize("xs, opts", POOL_CASES, ids=POOL_IDS)
def test_max_pool2d_backward(isa, dtype, rng, xs, opts):
    x = _ties(rng, xs, dtype)
    y, idx = R.max_pool2d(x, return_indices=True, **opts)
    gy = _rand(rng, y.shape, dtype)
    assert_close(F.max_pool2d_backward(gy, idx, xs), R64.max_pool2d_backward(gy, idx, xs), dtype)


def test_max_pool2d_backward_rejects_indices_outside_the_plane(isa, dtype):
    gy = np.ones((2, 3, 2, 2), dtype)
    idx = np.zeros((2, 3, 2, 2), np.int64)
    idx[1, 2, 1, 1] = 25
    with pytest.raises(ValueError, match=r"1 index value\(s\) lie outside"):
        F.max_pool2d_backward(gy, idx, (2, 3, 5, 5))
    idx[1, 2, 1, 1] = 24
    gx = F.max_pool2d_backward(gy, idx, (2, 3, 5, 5))
    assert gx[1, 2, 4, 4] == 1 and gx[0, 0, 0, 0] == 4 and gx.sum() == 24


@pytest.mark.parametrize("xs, opts", POOL_CASES, ids=POOL_IDS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(isa, dtype, rng, xs, opts, count_include_pad):
    opts = _avg_opts(opts)
    if opts is None:
        opts = dict(kernel_size=3, stride=2, padding=1)
    x = _rand(rng, xs, dtype)
    assert_close(F.avg_pool2d(x, count_include_pad=count_include_pad, **opts),
                 R64.avg_pool2d(x, count_include_pad=count_include_pad, **opts), dtype)


@pytest.mark.parametrize("xs, opts", POOL_CASES, ids=POOL_IDS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_backward(isa, dtype, rng, xs, opts, count_include_pad):
    opts = _avg_opts(opts)
    if opts is None:
        opts = dict(kernel_size=3, stride=2, padding=1)
    out = F.avg_pool2d(np.zeros(xs, dtype), **opts).shape
    gy = _rand(rng, out, dtype)
    assert_close(F.avg_pool2d_backward(gy, xs, count_include_pad=count_include_pad, **opts),
                 R64.avg_pool2d_backward(gy, xs, count_include_pad=count_include_pad, **opts),
                 dtype)


@pytest.mark.parametrize("xs", [(2, 3, 5, 4), (0, 2, 3, 3), (1, 1, 1, 1), (2, 16, 7, 7)])
def test_global_avg_pool2d(isa, dtype, rng, xs):
    x = _rand(rng, xs, dtype)
    y = F.global_avg_pool2d(x)
    assert y.shape == xs[:2]
    assert_close(y, R64.global_avg_pool2d(x), dtype)
    gy = _rand(rng, xs[:2], dtype)
    assert_close(F.global_avg_pool2d_backward(gy, xs), R64.global_avg_pool2d_backward(gy, xs),
                 dtype)


# ---------------------------------------------------------------------------------------
# linear, relu, softmax, cross-entropy
# ---------------------------------------------------------------------------------------

LINEAR_SHAPES = [(4, 7, 5), (1, 3, 2), (0, 4, 3), (33, 65, 17), (2, 1, 1)]


@pytest.mark.parametrize("n, d, m", LINEAR_SHAPES)
def test_linear(isa, dtype, rng, n, d, m):
    x, w, b = _rand(rng, (n, d), dtype), _rand(rng, (m, d), dtype), _rand(rng, (m,), dtype)
    assert_close(F.linear(x, w, b), R64.linear(x, w, b), dtype)
    assert_close(F.linear(x, w), R64.linear(x, w), dtype)
    gy = _rand(rng, (n, m), dtype)
    want = R64.linear_backward(gy, x, w)
    for g, r in zip(F.linear_backward(gy, x, w), want):
        assert_close(g, r, dtype)
    for mask in MASKS:
        for mod in (F, R):
            got = mod.linear_backward(gy, x, w, output_mask=mask)
            for g, r, keep in zip(got, want, mask):
                if keep:
                    assert_close(g, r, dtype)
                else:
                    assert g is None


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5, 4), (0, 3), (), (1000,)])
def test_relu(isa, dtype, rng, shape):
    x = _rand(rng, shape, dtype)
    y = F.relu(x)
    np.testing.assert_array_equal(y, R.relu(x))
    assert y.dtype == dtype and y.shape == shape
    gy = _rand(rng, shape, dtype)
    np.testing.assert_array_equal(F.relu_backward(gy, y), R.relu_backward(gy, y))


@pytest.mark.parametrize("shape, axis", [((4, 7), -1), ((4, 7), 0), ((2, 3, 4, 5), 1),
                                         ((2, 3, 4), 2), ((5,), 0), ((0, 3), -1),
                                         ((3, 1), -1), ((), -1)])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax(isa, dtype, rng, shape, axis, fn):
    # * dtype.type(5), not * 5: under NumPy 1.x's value-based promotion a 0-d float32 array
    # times a Python int is float64, so the input itself would not be float32
    x = _rand(rng, shape, dtype) * dtype.type(5)
    assert x.dtype == dtype
    y = getattr(F, fn)(x, axis=axis)
    assert y.shape == x.shape and y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, getattr(R64, fn)(x, axis=axis), dtype)


def test_softmax_is_stable(isa, dtype):
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e4, -1e4 + 1, -1e4]], dtype)
    y = F.softmax(x)
    assert np.all(np.isfinite(y))
    assert_close(y.sum(axis=1), np.ones(2, dtype), dtype)
    assert_close(F.log_softmax(x), R64.log_softmax(x), dtype)
    assert_close(F.cross_entropy(x, np.array([0, 1])), R64.cross_entropy(x, np.array([0, 1])),
                 dtype)


@pytest.mark.parametrize("n, c", [(5, 4), (1, 1), (0, 3), (17, 10)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy(isa, dtype, rng, n, c, reduction, label_smoothing):
    x = _rand(rng, (n, c), dtype) * 3
    t = rng.integers(0, c, n)
    loss = F.cross_entropy(x, t, reduction, label_smoothing)
    ref = R64.cross_entropy(x, t, reduction, label_smoothing)
    assert np.asarray(loss).dtype == dtype
    assert np.shape(loss) == ((n,) if reduction == "none" else ())
    assert_close(loss, ref, dtype)
    grads = [1.0, 0.5, np.asarray(2.0, dtype)]
    if reduction == "none":
        grads.append(_rand(rng, (n,), dtype))
    for g in grads:
        assert_close(F.cross_entropy_backward(x, t, g, reduction, label_smoothing),
                     R64.cross_entropy_backward(x, t, g, reduction, label_smoothing), dtype)


def test_cross_entropy_mean_of_empty_batch_is_nan(dtype):
    for mod in (F, R):
        assert np.isnan(mod.cross_entropy(np.zeros((0, 3), dtype), np.zeros(0, np.int64)))
        assert mod.cross_entropy(np.zeros((0, 3), dtype), np.zeros(0, np.int64), "sum") == 0
        assert mod.cross_entropy_backward(np.zeros((0, 3), dtype), np.zeros(0, np.int64)).shape \
            == (0, 3)


# ---------------------------------------------------------------------------------------
# Any array works: strided, Fortran-ordered, read-only; inputs are never written
# ---------------------------------------------------------------------------------------

def _layouts(a):
    """Non-contiguous, Fortran-ordered and read-only copies holding the values of `a`."""
    big = np.zeros(tuple(2 * s + 1 for s in a.shape), a.dtype)
    strided = big[tuple(slice(1, None, 2) for _ in a.shape)]
    strided[...] = a
    fortran = np.asfortranarray(a)
    readonly = a.copy()
    readonly.flags.writeable = False
    reversed_ = np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    return {"strided": strided, "fortran": fortran, "readonly": readonly, "negstride": reversed_}


CALLS = {
    "conv2d": (lambda m, a: m.conv2d(a[0], a[1], a[2], padding=1, groups=2),
               [(2, 4, 6, 5), (6, 2, 3, 3), (6,)]),
    "conv2d_backward": (lambda m, a: m.conv2d_backward(a[0], a[1], a[2], padding=1, groups=2),
                        [(2, 6, 6, 5), (2, 4, 6, 5), (6, 2, 3, 3)]),
    "max_pool2d": (lambda m, a: m.max_pool2d(a[0], 3, 2, 1, return_indices=True),
                   [(2, 3, 7, 6)]),
    "max_pool2d_backward": (lambda m, a: m.max_pool2d_backward(
        a[0], R.max_pool2d(a[1], 3, 2, 1, return_indices=True)[1], (2, 3, 7, 6)),
        [(2, 3, 4, 3), (2, 3, 7, 6)]),
    "avg_pool2d": (lambda m, a: m.avg_pool2d(a[0], 3, 2, 1, ceil_mode=True), [(2, 3, 7, 6)]),
    "avg_pool2d_backward": (lambda m, a: m.avg_pool2d_backward(a[0], (2, 3, 7, 6), 3, 2, 1),
                            [(2, 3, 4, 3)]),
    "global_avg_pool2d": (lambda m, a: m.global_avg_pool2d(a[0]), [(2, 3, 4, 5)]),
    "global_avg_pool2d_backward": (lambda m, a: m.global_avg_pool2d_backward(a[0],
                                                                             (2, 3, 4, 5)),
                                   [(2, 3)]),
    "linear": (lambda m, a: m.linear(a[0], a[1], a[2]), [(4, 5), (3, 5), (3,)]),
    "linear_backward": (lambda m, a: m.linear_backward(a[0], a[1], a[2]),
                        [(4, 3), (4, 5), (3, 5)]),
    "relu": (lambda m, a: m.relu(a[0]), [(3, 4, 5)]),
    "relu_backward": (lambda m, a: m.relu_backward(a[0], np.maximum(a[1], 0)),
                      [(3, 4, 5), (3, 4, 5)]),
    "softmax": (lambda m, a: m.softmax(a[0], axis=1), [(3, 4, 5)]),
    "log_softmax": (lambda m, a: m.log_softmax(a[0]), [(3, 4, 5)]),
    "cross_entropy": (lambda m, a: m.cross_entropy(a[0], np.array([0, 3, 1, 2]),
                                                   label_smoothing=0.2), [(4, 5)]),
    "cross_entropy_backward": (lambda m, a: m.cross_entropy_backward(
        a[0], np.array([0, 3, 1, 2]), a[1], "none"), [(4, 5), (4,)]),
}


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_any_layout_works_and_inputs_are_not_written(dtype, rng, name):
    call, shapes = CALLS[name]
    args = [_rand(rng, s, dtype) for s in shapes]
    expected = _as_tuple(call(F, args))
    for ref, e in zip(_as_tuple(call(R, args)), expected):
        assert_close(e, ref, e.dtype) if e.dtype.kind == "f" else np.testing.assert_array_equal(
            e, ref)
    for kind in ("strided", "fortran", "readonly", "negstride"):
        variants = [_layouts(a)[kind] for a in args]
        before = [v.copy() for v in variants]
        got = _as_tuple(call(F, variants))
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e, err_msg=kind)
            assert g.flags.c_contiguous
        for v, b in zip(variants, before):
            np.testing.assert_array_equal(v, b, err_msg=f"{kind} input was modified")
        ref_got = _as_tuple(call(R, variants))
        for g, e in zip(ref_got, _as_tuple(call(R, args))):
            np.testing.assert_array_equal(g, e, err_msg=f"reference {kind}")


def test_output_dtype_equals_input_dtype(dtype, rng):
    for name, (call, shapes) in CALLS.items():
        args = [_rand(rng, s, dtype) for s in shapes]
        for mod in (F, R):
            for out in _as_tuple(call(mod, args)):
                if out.dtype.kind == "f":
                    assert out.dtype == dtype, (name, mod.__name__)


# ---------------------------------------------------------------------------------------
# NaN propagates to exactly the outputs whose window holds it
# ---------------------------------------------------------------------------------------

NAN_POS = [(0, 0, 0, 0), (1, 1, 3, 2), (0, 2, 6, 5)]


@pytest.mark.parametrize("pos", NAN_POS)
@pytest.mark.parametrize("xs, ws, opts", [
    ((2, 3, 7, 6), (4, 3, 3, 2), dict(padding=1)),
    ((2, 4, 7, 6), (4, 2, 3, 3), dict(groups=2, stride=2, dilation=(2, 1))),
    ((2, 3, 7, 6), (3, 1, 2, 2), dict(groups=3, stride=3)),
])
def test_conv2d_nan_propagation(isa, dtype, rng, pos, xs, ws, opts):
    x = _rand(rng, xs, dtype)
    w = _rand(rng, ws, dtype) + 10  # no zero weights
    x[pos] = np.nan
    y = F.conv2d(x, w, **opts)
    # windows holding the NaN: convolve the NaN indicator with a positive kernel
    hit = R.conv2d(np.isnan(x).astype(np.float64), np.ones(ws), **opts) > 0
    np.testing.assert_array_equal(np.isnan(y), hit)
    assert hit.any() or opts.get("stride", 1) > 1


@pytest.mark.parametrize("pos", NAN_POS)
@pytest.mark.parametrize("opts", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1,
                                                             ceil_mode=True),
                                  dict(kernel_size=(2, 3), stride=(3, 1))])
def test_pool_nan_propagation(isa, dtype, rng, pos, opts):
    x = _rand(rng, (2, 3, 7, 6), dtype)
    x[pos] = np.nan
    hit = R.avg_pool2d(np.isnan(x).astype(np.float64), **opts) > 0
    y, idx = F.max_pool2d(x, return_indices=True, **opts)
    np.testing.assert_array_equal(np.isnan(y), hit)
    plane_pos = pos[2] * 6 + pos[3]
    assert np.all(idx[hit] == plane_pos)
    np.testing.assert_array_equal(np.isnan(F.avg_pool2d(x, **opts)), hit)
    np.testing.assert_array_equal(np.isnan(F.relu(x)), np.isnan(x))


def test_max_pool2d_last_nan_wins(isa, dtype):
    # PyTorch's CPU kernel: NaN beats every number and a later NaN replaces an earlier one
    x = np.array([[[[1, np.nan], [np.nan, 5]]]], dtype)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 2
    x = np.array([[[[3, 1], [3, 2]]]], dtype)
    assert F.max_pool2d(x, 2, return_indices=True)[1][0, 0, 0, 0] == 0


def test_linear_and_softmax_nan_propagation(isa, dtype, rng):
    x = _rand(rng, (4, 5), dtype)
    x[2, 3] = np.nan
    w = _rand(rng, (3, 5), dtype) + 10
    np.testing.assert_array_equal(np.isnan(F.linear(x, w)),
                                  np.repeat([[0], [0], [1], [0]], 3, axis=1).astype(bool))
    np.testing.assert_array_equal(np.isnan(F.softmax(x)), np.isnan(R.softmax(x)))
    assert np.isnan(F.softmax(x)[2]).all() and not np.isnan(F.softmax(x)[[0, 1, 3]]).any()


# ---------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------

def _workload(rng, dtype):
    x = _rand(rng, (4, 3, 12, 12), dtype)
    w = _rand(rng, (8, 3, 3, 3), dtype)
    lw = _rand(rng, (10, 8 * 6 * 6), dtype)
    t = rng.integers(0, 10, 4)

    def run():
        h = F.relu(F.conv2d(x, w, padding=1))
        p, idx = F.max_pool2d(h, 2, return_indices=True)
        logits = F.linear(p.reshape(4, -1), lw)
        loss = F.cross_entropy(logits, t)
        g = F.cross_entropy_backward(logits, t)
        gx, gw = F.linear_backward(g, p.reshape(4, -1), lw)[:2]
        gh = F.relu_backward(F.max_pool2d_backward(gx.reshape(p.shape), idx, h.shape), h)
        return (loss,) + F.conv2d_backward(gh, x, w, padding=1) + (gw,)
    return run


def test_concurrent_calls_equal_serial(dtype, rng):
    run = _workload(rng, dtype)
    serial = run()
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run(), range(12)))
    for res in results:
        for a, b in zip(res, serial):
            np.testing.assert_array_equal(a, b)


def test_one_thread_equals_two_threads(dtype, rng):
    run = _workload(rng, dtype)
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(1)
        one = run()
        fastconv.set_num_threads(2)
        assert fastconv.get_num_threads() == 2
        two = run()
    finally:
        fastconv.set_num_threads(before)
    for a, b in zip(one, two):
        assert_close(a, b, dtype)


@pytest.mark.parametrize("xs, ws", [((16, 1, 28, 28), (32, 1, 3, 3)),      # direct cin1 kernels
                                     ((8, 32, 14, 14), (64, 32, 3, 3)),    # implicit GEMM
                                     ((16, 3, 32, 32), (32, 3, 3, 3))],    # row-dot dW
                         ids=["cin1", "implicit", "rows"])
def test_threaded_conv_equals_serial(isa, dtype, rng, xs, ws):
    """Big enough to run threaded: two threads (over images, with private weight- and
    bias-gradient partials) agree with one thread and with the reference.  Small integers
    keep every sum exact (see test_conv2d_long_k_exact)."""
    def ints(lo, hi, shape):
        return rng.integers(lo, hi + 1, shape).astype(dtype)
    x, w, b = ints(0, 3, xs), ints(-2, 2, ws), ints(-2, 2, ws[:1])
    gy = ints(-2, 2, fastconv.conv2d_output_shape(xs, ws, padding=1))
    before = fastconv.get_num_threads()
    res = {}
    try:
        for t in (1, 2):
            fastconv.set_num_threads(t)
            res[t] = (F.conv2d(x, w, b, padding=1),) + F.conv2d_backward(gy, x, w, padding=1)
    finally:
        fastconv.set_num_threads(before)
    want = (R64.conv2d(x, w, b, padding=1),) + R64.conv2d_backward(gy, x, w, padding=1)
    for a, c, r in zip(res[1], res[2], want):
        assert_close(a, c, dtype)
        assert_close(c, r, dtype)


def test_default_thread_count_policy(tmp_path):
    import os
    import subprocess
    import sys
    code = "import fastconv; print(fastconv.get_num_threads())"
    cores = len(os.sched_getaffinity(0))
    for value, expected in (("3", 3), ("4,2", 4), ("0", cores), ("many", cores), (None, cores)):
        env = dict(os.environ, OMP_NUM_THREADS=value or "")
        if value is None:
            env.pop("OMP_NUM_THREADS")
        # run outside the source tree, so the child imports the same (built) fastconv as we do
        env["PYTHONPATH"] = _PKG_PARENT
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, cwd=tmp_path)
        assert int(out.stdout.strip()) == expected, value


def test_info_command(capsys):
    from fastconv.cli import main
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert fastconv.__version__ in out
    from fastconv import _kernels
    assert f"SIMD path:        {_kernels.get_isa()} (" in out
    threads = fastconv.get_num_threads() if _kernels.has_openmp() else 1
    assert "OpenMP:" in out and f"threads:          {threads}" in out

    def listed(label):
        return out.split(label + ":")[1].splitlines()[0].strip().split(", ")

    assert listed("supported paths")[:2] == ["reference", "scalar"]
    # what runs is supported; supported = compiled in and present on the CPU
    assert _kernels.get_isa() in listed("supported paths")
    assert set(listed("supported paths")) == set(listed("compiled paths")) & set(listed("CPU has"))
    compiler = _kernels.build_info()[0]
    assert compiler.split()[0] in ("gcc", "clang", "msvc") and f"compiler:         {compiler}" in out


def test_info_names_paths_the_cpu_has_but_the_build_lacks(capsys, monkeypatch):
    from fastconv import _kernels
    from fastconv.cli import info
    monkeypatch.setattr(_kernels, "isa_compiled", lambda name: name in ("reference", "scalar"))
    monkeypatch.setattr(_kernels, "isa_cpu_has", lambda name: name in ("reference", "scalar", "avx2"))
    monkeypatch.setattr(_kernels, "isa_supported", lambda name: name in ("reference", "scalar"))
    rows = dict(info.isa_report())
    assert rows["compiled paths"] == "reference, scalar"
    assert rows["not compiled"].startswith("avx2: this CPU has the instructions")


def test_info_command_as_module():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "fastconv", "info"], capture_output=True,
                         text=True, check=True, cwd=_PKG_PARENT).stdout
    assert out.startswith(f"fastconv {fastconv.__version__}\n")
    assert "SIMD path:" in out and "supported paths:" in out and "threads:" in out


def test_both_backends_share_signatures_and_docs():
    import inspect
    assert F.__all__ == R.__all__
    expected = {"conv2d", "conv2d_backward", "conv2d_relu_max_pool2d",
                "conv2d_relu_max_pool2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
                "avg_pool2d_backward", "global_avg_pool2d", "global_avg_pool2d_backward",
                "linear", "linear_backward", "relu", "relu_backward", "cross_entropy",
                "cross_entropy_backward", "softmax", "log_softmax", "conv2d_output_shape",
                "pool2d_output_shape", "batch_norm", "batch_norm_backward", "layer_norm",
                "layer_norm_backward", "group_norm", "group_norm_backward", "dropout",
                "dropout_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
                "leaky_relu", "leaky_relu_backward"}
    assert set(F.__all__) == expected
    for name in F.__all__:
        f, r = getattr(F, name), getattr(R, name)
        assert inspect.signature(f) == inspect.signature(r), name
        assert f.__doc__ == r.__doc__ and "Returns" in f.__doc__, name
        if not name.endswith("_shape"):
            assert f.__module__ == "fastconv.functional" and r.__module__ == "fastconv.reference"
    assert F.conv2d_output_shape is fastconv.conv2d_output_shape

    def unannotated(fn):
        sig = inspect.signature(fn)
        return str(sig.replace(parameters=[p.replace(annotation=p.empty)
                                           for p in sig.parameters.values()],
                               return_annotation=sig.empty))
    assert unannotated(F.max_pool2d) == (
        "(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, "
        "return_indices=False)")
    assert unannotated(F.cross_entropy_backward) == (
        "(logits, target, grad_loss=1.0, reduction='mean', label_smoothing=0.0)")


def test_relu_nan_rules(isa, dtype):
    # relu keeps NaN; its backward passes the gradient where the output is NaN (it is not
    # <= 0), as PyTorch's threshold_backward does, and gives 0 where the output is <= 0
    x = np.array([np.nan, -1.0, 0.0, 2.0, -np.inf, np.inf], dtype)
    gy = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype)
    for mod in (F, R):
        y = mod.relu(x)
        np.testing.assert_array_equal(y, [np.nan, 0, 0, 2, 0, np.inf])
        np.testing.assert_array_equal(mod.relu_backward(gy, y), [1, 0, 0, 4, 0, 6])
