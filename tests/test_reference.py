"""fastconv.reference: central-difference gradient checks of every backward (float64, applied
to both backends), and hypothesis property tests of functional against reference over random
valid shapes and options."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv
import fastconv.functional as F
import fastconv.reference as R
from conftest import R64, GRADCHECK_H, GRADCHECK_RTOL, assert_close

BACKENDS = [pytest.param(F, id="functional"), pytest.param(R, id="reference")]
EPS64 = np.finfo(np.float64).eps


# ---------------------------------------------------------------------------------------
# Gradient checks
# ---------------------------------------------------------------------------------------

def gradcheck(f, x, gy, analytic, h=GRADCHECK_H, rtol=GRADCHECK_RTOL):
    """Compare `analytic` with the central difference of L(x) = sum(f(x) * gy).

    The absolute tolerance is the rounding error of the difference quotient: each loss
    evaluation is a sum whose error is at most a few eps times the sum of |terms|, divided
    by 2h.  (The truncation error, O(h^2), is ~1e-12 here and negligible.)
    """
    x = np.array(x, dtype=np.float64)
    terms = np.abs(np.asarray(f(x)) * gy).sum()
    atol = 16 * EPS64 * max(terms, 1.0) / h
    num = np.empty_like(x)
    flat = x.reshape(-1)
    out = num.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        lp = np.sum(np.asarray(f(x)) * gy)
        flat[i] = old - h
        lm = np.sum(np.asarray(f(x)) * gy)
        flat[i] = old
        out[i] = (lp - lm) / (2 * h)
    assert analytic.shape == x.shape
    np.testing.assert_allclose(analytic, num, rtol=rtol, atol=atol)


def _distinct(rng, shape):
    """Values at least 0.01 apart (no ties within h, for max pooling)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.01 - n * 0.005).reshape(shape)


def _away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.05 + np.abs(x))


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("xs, ws, opts", [
    ((2, 4, 5, 5), (6, 2, 3, 2), dict(stride=2, padding=1, dilation=(1, 2), groups=2)),
    ((1, 2, 4, 5), (3, 2, 2, 3), dict(padding="same")),
    ((2, 3, 4, 4), (3, 1, 3, 3), dict(groups=3, padding=2, stride=(1, 2))),
])
def test_conv2d_gradients(mod, rng, xs, ws, opts):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y = mod.conv2d(x, w, b, **opts)
    gy = rng.standard_normal(y.shape)
    gx, gw, gb = mod.conv2d_backward(gy, x, w, **opts)
    gradcheck(lambda v: mod.conv2d(v, w, b, **opts), x, gy, gx)
    gradcheck(lambda v: mod.conv2d(x, v, b, **opts), w, gy, gw)
    gradcheck(lambda v: mod.conv2d(x, w, v, **opts), b, gy, gb)


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("opts", [dict(kernel_size=2),
                                  dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                  dict(kernel_size=(2, 3), stride=(1, 2), dilation=2,
                                       padding=(1, 0))])
def test_max_pool2d_gradients(mod, rng, opts):
    x = _distinct(rng, (2, 2, 6, 7))
    y, idx = mod.max_pool2d(x, return_indices=True, **opts)
    gy = rng.standard_normal(y.shape)
    gradcheck(lambda v: mod.max_pool2d(v, **opts), x, gy,
              mod.max_pool2d_backward(gy, idx, x.shape))


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("opts", [dict(kernel_size=2),
                                  dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                  dict(kernel_size=(2, 3), stride=(3, 1), padding=(1, 1))])
def test_avg_pool2d_gradients(mod, rng, opts, count_include_pad):
    x = rng.standard_normal((2, 2, 6, 7))
    y = mod.avg_pool2d(x, count_include_pad=count_include_pad, **opts)
    gy = rng.standard_normal(y.shape)
    gradcheck(lambda v: mod.avg_pool2d(v, count_include_pad=count_include_pad, **opts), x, gy,
              mod.avg_pool2d_backward(gy, x.shape, count_include_pad=count_include_pad, **opts))


@pytest.mark.parametrize("mod", BACKENDS)
def test_global_avg_pool2d_gradients(mod, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    gy = rng.standard_normal((2, 3))
    gradcheck(mod.global_avg_pool2d, x, gy, mod.global_avg_pool2d_backward(gy, x.shape))


@pytest.mark.parametrize("mod", BACKENDS)
def test_linear_gradients(mod, rng):
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal(3)
    gy = rng.standard_normal((4, 3))
    gx, gw, gb = mod.linear_backward(gy, x, w)
    gradcheck(lambda v: mod.linear(v, w, b), x, gy, gx)
    gradcheck(lambda v: mod.linear(x, v, b), w, gy, gw)
    gradcheck(lambda v: mod.linear(x, w, v), b, gy, gb)


@pytest.mark.parametrize("mod", BACKENDS)
def test_relu_gradients(mod, rng):
    x = _away_from_zero(rng, (3, 4, 5))
    gy = rng.standard_normal(x.shape)
    gradcheck(mod.relu, x, gy, mod.relu_backward(gy, mod.relu(x)))


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_gradients(mod, rng, reduction, label_smoothing):
    x = rng.standard_normal((5, 4)) * 2
    t = rng.integers(0, 4, 5)
    g = rng.standard_normal(5) if reduction == "none" else 0.7
    gradcheck(lambda v: mod.cross_entropy(v, t, reduction, label_smoothing), x, g,
              mod.cross_entropy_backward(x, t, g, reduction, label_smoothing))


def test_gradcheck_detects_a_wrong_gradient(rng):
    x = rng.standard_normal((3, 4))
    gy = rng.standard_normal((3, 4))
    with pytest.raises(AssertionError):
        gradcheck(R.relu, x, gy, R.relu_backward(gy, R.relu(x)) * 1.0001)


# ---------------------------------------------------------------------------------------
# Reference backend sanity against closed forms
# ---------------------------------------------------------------------------------------

def test_reference_conv2d_against_direct_sum(rng, dtype):
    x = rng.standard_normal((2, 4, 6, 5)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 2)).astype(dtype)
    y = R.conv2d(x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    expected = np.zeros(y.shape)
    for n, f, i, j in np.ndindex(*y.shape):
        g = f // 3
        patch = xp[n, 2 * g:2 * g + 2, 2 * i:2 * i + 3, j:j + 3:2]
        expected[n, f, i, j] = np.sum(patch * w[f])
    assert_close(y, expected, dtype)


def test_reference_pools_against_direct_windows(rng, dtype):
    x = rng.standard_normal((1, 2, 5, 5)).astype(dtype)
    y = R.max_pool2d(x, 2, ceil_mode=True)
    assert y.shape == (1, 2, 3, 3)
    assert y[0, 1, 2, 2] == x[0, 1, 4, 4] and y[0, 0, 0, 1] == x[0, 0, :2, 2:4].max()
    a = R.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    assert_close(a[0, 0, 0, 0], x[0, 0, :2, :2].mean(), dtype)
    a = R.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=True)
    assert_close(a[0, 0, 0, 0], x[0, 0, :2, :2].sum() / 9, dtype)


# ---------------------------------------------------------------------------------------
# Property tests: functional against reference on random valid shapes and options
# ---------------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    cin_g, cout_g = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    same = draw(st.booleans())
    if same:
        sh = sw = 1
        padding = "same"
        ph = pw = 0
    else:
        sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        padding = (ph, pw)
    h = max(1, dh * (kh - 1) + 1 - 2 * ph + draw(st.integers(0, 5)))
    w = max(1, dw * (kw - 1) + 1 - 2 * pw + draw(st.integers(0, 5)))
    n = draw(st.integers(0, 3))
    return ((n, cin_g * groups, h, w), (cout_g * groups, cin_g, kh, kw),
            dict(stride=(sh, sw), padding=padding, dilation=(dh, dw), groups=groups))


@given(case=conv_cases(), dtype=DTYPES, seed=st.integers(0, 2 ** 31))
def test_conv2d_property(case, dtype, seed):
    xs, ws, opts = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    y = F.conv2d(x, w, b, **opts)
    assert y.shape == fastconv.conv2d_output_shape(xs, ws, **opts)
    assert_close(y, R64.conv2d(x, w, b, **opts), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    for a, e in zip(F.conv2d_backward(gy, x, w, **opts), R64.conv2d_backward(gy, x, w, **opts)):
        assert_close(a, e, dtype)


@st.composite
def pool_cases(draw, avg=False):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = (1, 1) if avg else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    lim_h, lim_w = kh // 2, kw // 2
    ph, pw = draw(st.integers(0, lim_h)), draw(st.integers(0, lim_w))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h = max(1, ekh - 2 * ph + draw(st.integers(0, 6)))
    w = max(1, ekw - 2 * pw + draw(st.integers(0, 6)))
    n, c = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    opts = dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                ceil_mode=draw(st.booleans()))
    if not avg:
        opts["dilation"] = (dh, dw)
    try:  # windows holding only padding are rejected (tested in test_validation)
        fastconv.pool2d_output_shape((n, c, h, w), **opts)
    except ValueError as exc:
        assert "only padding" in str(exc)
        assume(False)
    return (n, c, h, w), opts


@given(case=pool_cases(), dtype=DTYPES, seed=st.integers(0, 2 ** 31), ties=st.booleans())
def test_max_pool2d_property(case, dtype, seed, ties):
    xs, opts = case
    rng = np.random.default_rng(seed)
    x = (rng.integers(-2, 3, xs) if ties else rng.standard_normal(xs)).astype(dtype)
    y, idx = F.max_pool2d(x, return_indices=True, **opts)
    y_ref, idx_ref = R64.max_pool2d(x, return_indices=True, **opts)
    assert_close(y, y_ref, dtype)
    np.testing.assert_array_equal(idx, idx_ref)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.max_pool2d_backward(gy, idx, xs), R64.max_pool2d_backward(gy, idx, xs), dtype)


@given(case=pool_cases(avg=True), dtype=DTYPES, seed=st.integers(0, 2 ** 31),
       count_include_pad=st.booleans())
def test_avg_pool2d_property(case, dtype, seed, count_include_pad):
    xs, opts = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    y = F.avg_pool2d(x, count_include_pad=count_include_pad, **opts)
    assert_close(y, R64.avg_pool2d(x, count_include_pad=count_include_pad, **opts), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.avg_pool2d_backward(gy, xs, count_include_pad=count_include_pad, **opts),
                 R64.avg_pool2d_backward(gy, xs, count_include_pad=count_include_pad, **opts),
                 dtype)


@given(n=st.integers(0, 9), d=st.integers(1, 40), m=st.integers(1, 20), dtype=DTYPES,
       seed=st.integers(0, 2 ** 31), bias=st.booleans())
def test_linear_property(n, d, m, dtype, seed, bias):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((m, d)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype) if bias else None
    assert_close(F.linear(x, w, b), R64.linear(x, w, b), dtype)
    gy = rng.standard_normal((n, m)).astype(dtype)
    for a, e in zip(F.linear_backward(gy, x, w), R64.linear_backward(gy, x, w)):
        assert_close(a, e, dtype)


@given(n=st.integers(0, 9), c=st.integers(1, 12), dtype=DTYPES, seed=st.integers(0, 2 ** 31),
       reduction=st.sampled_from(["mean", "sum", "none"]),
       label_smoothing=st.floats(0.0, 1.0), scale=st.sampled_from([0.1, 1.0, 30.0]))
def test_softmax_cross_entropy_property(n, c, dtype, seed, reduction, label_smoothing, scale):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * scale).astype(dtype)
    t = rng.integers(0, c, n)
    for fn in ("softmax", "log_softmax"):
        assert_close(getattr(F, fn)(x), getattr(R64, fn)(x), dtype)
    assert_close(F.cross_entropy(x, t, reduction, label_smoothing),
                 R64.cross_entropy(x, t, reduction, label_smoothing), dtype)
    g = rng.standard_normal(n).astype(dtype) if reduction == "none" else 1.5
    assert_close(F.cross_entropy_backward(x, t, g, reduction, label_smoothing),
                 R64.cross_entropy_backward(x, t, g, reduction, label_smoothing), dtype)


@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4), dtype=DTYPES,
       seed=st.integers(0, 2 ** 31))
def test_relu_property(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y = F.relu(x)
    np.testing.assert_array_equal(y, R.relu(x))
    gy = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(F.relu_backward(gy, y), R.relu_backward(gy, y))
