"""Parity of fastconv.functional (and fastconv.reference) with PyTorch: every function and its
backward, both dtypes."""
import warnings

import numpy as np
import pytest

import fastconv.functional as F
import fastconv.reference as R
from conftest import assert_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional

BACKENDS = [pytest.param(F, id="functional"), pytest.param(R, id="reference")]


def _t(a, grad=True):
    return torch.tensor(a, requires_grad=grad)


def _np(t):
    return t.detach().numpy()


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*padding='same'.*")
        yield


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("xs, ws, opts", [
    ((2, 3, 8, 7), (4, 3, 3, 2), dict(stride=2, padding=1)),
    ((2, 4, 7, 7), (6, 2, 3, 3), dict(groups=2, dilation=2, padding=(2, 1))),
    ((1, 3, 6, 5), (3, 1, 3, 3), dict(groups=3, padding="same")),
    ((2, 2, 5, 6), (3, 2, 2, 4), dict(padding="same", dilation=(1, 1))),
    ((2, 2, 7, 7), (3, 2, 2, 3), dict(padding="same", dilation=(3, 2))),
    ((1, 2, 5, 5), (3, 2, 3, 3), dict(padding="valid", stride=(1, 3))),
    ((0, 2, 5, 5), (3, 2, 3, 3), {}),
])
def test_conv2d(mod, dtype, rng, xs, ws, opts):
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (xs, ws, ws[:1]))
    tx, tw, tb = _t(x), _t(w), _t(b)
    ty = TF.conv2d(tx, tw, tb, **opts)
    y = mod.conv2d(x, w, b, **opts)
    assert_close(y, _np(ty), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(gy))
    gx, gw, gb = mod.conv2d_backward(gy, x, w, **opts)
    assert_close(gx, _np(tx.grad), dtype)
    assert_close(gw, _np(tw.grad), dtype)
    assert_close(gb, _np(tb.grad), dtype)


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("opts", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(3, 1), ceil_mode=True),
    dict(kernel_size=3, dilation=2, padding=1, stride=1),
    dict(kernel_size=(3, 2), dilation=(1, 2), stride=2, padding=(1, 1), ceil_mode=True),
])
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool2d(mod, dtype, rng, opts, ties):
    x = (rng.integers(-2, 3, (2, 3, 9, 8)) if ties else rng.standard_normal((2, 3, 9, 8)))
    x = x.astype(dtype)
    tx = _t(x)
    ty, tidx = TF.max_pool2d(tx, return_indices=True, **opts)
    y, idx = mod.max_pool2d(x, return_indices=True, **opts)
    assert_close(y, _np(ty), dtype)
    np.testing.assert_array_equal(idx, tidx.numpy())
    gy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(gy))
    assert_close(mod.max_pool2d_backward(gy, idx, x.shape), _np(tx.grad), dtype)


@pytest.mark.parametrize("mod", BACKENDS)
def test_max_pool2d_nan(mod, dtype):
    # NaN beats every number; with several NaNs in a window the last one wins
    x = np.arange(36, dtype=dtype).reshape(1, 1, 6, 6)
    x[0, 0, 1, 1] = x[0, 0, 1, 0] = x[0, 0, 0, 1] = np.nan
    x[0, 0, 4, 4] = np.nan
    ty, tidx = TF.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    y, idx = mod.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert_close(y, ty.numpy(), dtype)
    np.testing.assert_array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("opts", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(3, 1), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=(4, 2), stride=(1, 3), padding=(2, 0)),
])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(mod, dtype, rng, opts, count_include_pad):
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    tx = _t(x)
    ty = TF.avg_pool2d(tx, count_include_pad=count_include_pad, **opts)
    y = mod.avg_pool2d(x, count_include_pad=count_include_pad, **opts)
    assert_close(y, _np(ty), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(gy))
    assert_close(mod.avg_pool2d_backward(gy, x.shape, count_include_pad=count_include_pad,
                                         **opts), _np(tx.grad), dtype)


@pytest.mark.parametrize("mod", BACKENDS)
def test_global_avg_pool2d(mod, dtype, rng):
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    tx = _t(x)
    ty = TF.adaptive_avg_pool2d(tx, 1).reshape(3, 4)
    assert_close(mod.global_avg_pool2d(x), _np(ty), dtype)
    gy = rng.standard_normal((3, 4)).astype(dtype)
    ty.backward(torch.tensor(gy))
    assert_close(mod.global_avg_pool2d_backward(gy, x.shape), _np(tx.grad), dtype)


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(mod, dtype, rng, bias):
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((6, 9), (4, 9), (4,)))
    tx, tw, tb = _t(x), _t(w), _t(b)
    ty = TF.linear(tx, tw, tb if bias else None)
    assert_close(mod.linear(x, w, b if bias else None), _np(ty), dtype)
    gy = rng.standard_normal((6, 4)).astype(dtype)
    ty.backward(torch.tensor(gy))
    gx, gw, gb = mod.linear_backward(gy, x, w)
    assert_close(gx, _np(tx.grad), dtype)
    assert_close(gw, _np(tw.grad), dtype)
    if bias:
        assert_close(gb, _np(tb.grad), dtype)


@pytest.mark.parametrize("mod", BACKENDS)
def test_relu(mod, dtype, rng):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    x[0, 0, :2] = [np.nan, 0.0]
    tx = _t(x)
    ty = TF.relu(tx)
    y = mod.relu(x)
    assert_close(y, _np(ty), dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    ty.backward(torch.tensor(gy))
    g = mod.relu_backward(gy, y)
    assert g[0, 0, 0] == gy[0, 0, 0] and g[0, 0, 1] == 0  # NaN passes gy, 0 gives 0
    assert_close(g, _np(tx.grad), dtype)


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_softmax(mod, dtype, rng, axis):
    x = (rng.standard_normal((3, 4, 5)) * 10).astype(dtype)
    assert_close(mod.softmax(x, axis=axis), torch.softmax(torch.tensor(x), axis).numpy(), dtype)
    assert_close(mod.log_softmax(x, axis=axis), torch.log_softmax(torch.tensor(x), axis).numpy(),
                 dtype)


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.7, 1.0])
def test_cross_entropy(mod, dtype, rng, reduction, label_smoothing):
    x = (rng.standard_normal((7, 5)) * 4).astype(dtype)
    t = rng.integers(0, 5, 7)
    tx = _t(x)
    tl = TF.cross_entropy(tx, torch.tensor(t), reduction=reduction,
                          label_smoothing=label_smoothing)
    loss = mod.cross_entropy(x, t, reduction, label_smoothing)
    assert_close(loss, _np(tl), dtype)
    g = rng.standard_normal(7).astype(dtype) if reduction == "none" else dtype.type(1.7)
    tl.backward(torch.tensor(g))
    assert_close(mod.cross_entropy_backward(x, t, g, reduction, label_smoothing),
                 _np(tx.grad), dtype)


@pytest.mark.parametrize("mod", BACKENDS)
def test_cross_entropy_extreme_logits(mod, dtype):
    x = np.array([[1e4, -1e4, 0.0], [-500.0, -500.0, -500.0]], dtype)
    t = np.array([1, 2])
    tl = TF.cross_entropy(torch.tensor(x), torch.tensor(t), reduction="none")
    loss = mod.cross_entropy(x, t, "none")
    assert np.all(np.isfinite(loss))
    assert_close(loss, tl.numpy(), dtype)
