"""Tests of fastconv.compat.dlfs, the drop-in for the layer classes of "Deep Learning from
Scratch" (common/layers.py).

The expected values come from the loop implementations in test_compat_cs231n.py (the same
operations) and from NumPy implementations of the book's im2col layouts written here.
"""
import zlib

import numpy as np
import pytest
from conftest import assert_close
from test_compat_cs231n import (
    numerical_gradient, ref_affine_backward, ref_affine_forward, ref_conv_backward,
    ref_conv_forward, ref_max_pool, ref_max_pool_backward, rel_error,
)

from fastconv.compat import dlfs as D


def rng_for(*key):
    """A generator seeded from the test's parameters (stable across processes)."""
    return np.random.default_rng(zlib.crc32(repr(("dlfs",) + key).encode()))


def book_im2col(x, fh, fw, stride, pad):
    """The book's column matrix, element by element: row (n, oh, ow), column (c, fh, fw)."""
    n_, c_, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    col = np.empty((n_ * oh * ow, c_ * fh * fw), dtype=x.dtype)
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                win = xp[n, :, i * stride:i * stride + fh, j * stride:j * stride + fw]
                col[(n * oh + i) * ow + j] = win.reshape(-1)
    return col


def book_arg_max(x, ph, pw, stride):
    """The book's Pooling.arg_max: argmax inside each window, ordered (n, oh, ow, c)."""
    n_, c_, h, w = x.shape
    oh = (h - ph) // stride + 1
    ow = (w - pw) // stride + 1
    arg = np.empty((n_, oh, ow, c_), dtype=np.int64)
    for n, i, j, c in np.ndindex(n_, oh, ow, c_):
        arg[n, i, j, c] = np.argmax(x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw])
    return arg.reshape(-1)


def ref_softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


CONV_CASES = [
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
    ((2, 3, 7, 5), (3, 3, 3, 2), 2, 0),
    ((1, 2, 6, 9), (2, 2, 2, 3), 2, 2),
    ((2, 1, 9, 8), (3, 1, 5, 5), 1, 2),
    ((2, 2, 8, 6), (2, 2, 2, 4), 3, 1),
]
POOL_CASES = [
    ((2, 3, 8, 8), 2, 2, 2),
    ((2, 3, 7, 7), 2, 2, 2),
    ((2, 2, 9, 6), 3, 2, 2),
    ((1, 3, 5, 8), 2, 3, 1),
    ((1, 2, 9, 9), 2, 2, 3),
]


@pytest.mark.parametrize("xs,ws,stride,pad", CONV_CASES)
def test_convolution_parity_and_attributes(xs, ws, stride, pad, dtype):
    rng = rng_for("conv", xs, ws, stride, pad)
    x = rng.standard_normal(xs).astype(dtype)
    W = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    layer = D.Convolution(W, b, stride, pad)
    assert (layer.W is W and layer.b is b and layer.stride == stride and layer.pad == pad)
    assert layer.x is None and layer.col is None and layer.col_W is None
    assert layer.dW is None and layer.db is None

    out = layer.forward(x)
    assert_close(out, ref_conv_forward(x, W, b, stride, pad), dtype)
    assert layer.x is x
    np.testing.assert_array_equal(layer.col, book_im2col(x, ws[2], ws[3], stride, pad))
    np.testing.assert_array_equal(layer.col_W, W.reshape(ws[0], -1).T)

    dout = rng.standard_normal(out.shape).astype(dtype)
    dout0 = dout.copy()
    dx = layer.backward(dout)
    rdx, rdw, rdb = ref_conv_backward(dout, x, W, stride, pad)
    assert_close(dx, rdx, dtype)
    assert_close(layer.dW, rdw, dtype)
    assert_close(layer.db, rdb, dtype)
    np.testing.assert_array_equal(dout, dout0)


def test_convolution_reads_shared_parameters_at_every_call():
    # The book's networks keep W in params and update it in place, or replace layer.W.
    rng = rng_for("shared")
    x = rng.standard_normal((2, 2, 5, 5))
    params = {"W": rng.standard_normal((3, 2, 3, 3)), "b": np.zeros(3)}
    layer = D.Convolution(params["W"], params["b"], pad=1)
    first = layer.forward(x)
    params["W"] -= 0.5 * params["W"]  # in-place update, as the book's SGD does
    assert_close(layer.forward(x), 0.5 * first, np.float64)
    layer.W = np.zeros((3, 2, 3, 3))  # load_params assigns new arrays
    assert not layer.forward(x).any()


@pytest.mark.parametrize("xs,ph,pw,stride", POOL_CASES)
def test_pooling_parity_and_attributes(xs, ph, pw, stride, dtype):
    rng = rng_for("pool", xs, ph, pw, stride)
    x = rng.integers(-2, 3, size=xs).astype(dtype)  # many ties
    layer = D.Pooling(ph, pw, stride=stride)
    assert layer.pool_h == ph and layer.pool_w == pw and layer.stride == stride
    assert layer.pad == 0 and layer.x is None and layer.arg_max is None
    out = layer.forward(x)
    ref_out, _ = ref_max_pool(x, ph, pw, stride)
    assert_close(out, ref_out, dtype)
    np.testing.assert_array_equal(layer.arg_max, book_arg_max(x, ph, pw, stride))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = layer.backward(dout)
    assert_close(dx, ref_max_pool_backward(dout, x, ph, pw, stride), dtype)


def test_pooling_defaults_and_padding():
    assert D.Pooling(2, 2).stride == 2 and D.Pooling(2, 2).pad == 0
    # padding counts as -inf (the book pads with zeros and then fails to reshape)
    x = -1.0 - np.arange(2 * 1 * 5 * 5, dtype=np.float64).reshape(2, 1, 5, 5)
    layer = D.Pooling(3, 3, stride=2, pad=1)
    out = layer.forward(x)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    ref_out, _ = ref_max_pool(xp, 3, 3, 2)
    assert_close(out, ref_out, np.float64)
    assert (out < 0).all()
    dout = np.ones_like(out)
    dxp = ref_max_pool_backward(dout, xp, 3, 3, 2)
    assert_close(layer.backward(dout), dxp[:, :, 1:-1, 1:-1], np.float64)
    # arg_max stays relative to the padded window
    arg = layer.arg_max
    assert arg.min() >= 0 and arg.max() < 9
    np.testing.assert_array_equal(arg, book_arg_max(xp, 3, 3, 2))


@pytest.mark.parametrize("xs,ws", [((4, 3, 2, 5), (30, 6)), ((5, 7), (7, 3)), ((0, 2, 3), (6, 2))])
def test_affine_parity_and_attributes(xs, ws, dtype):
    rng = rng_for("affine", xs, ws)
    x = rng.standard_normal(xs).astype(dtype)
    W = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1]).astype(dtype)
    layer = D.Affine(W, b)
    assert layer.W is W and layer.b is b and layer.x is None
    assert layer.original_x_shape is None and layer.dW is None and layer.db is None
    out = layer.forward(x)
    assert_close(out, ref_affine_forward(x, W, b), dtype)
    assert layer.original_x_shape == xs
    assert layer.x.shape == (xs[0], ws[0])
    np.testing.assert_array_equal(layer.x, x.reshape(xs[0], ws[0]))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = layer.backward(dout)
    rdx, rdw, rdb = ref_affine_backward(dout, x, W)
    assert dx.shape == xs
    assert_close(dx, rdx, dtype)
    assert_close(layer.dW, rdw, dtype)
    assert_close(layer.db, rdb, dtype)


def test_relu_parity_mask_and_dout_untouched(dtype):
    rng = rng_for("relu")
    x = rng.standard_normal((3, 2, 4, 5)).astype(dtype)
    x[0, 0, 0, :2] = 0  # x == 0 is masked, as in the book (x <= 0)
    layer = D.Relu()
    assert layer.mask is None
    out = layer.forward(x)
    assert_close(out, np.maximum(x, 0), dtype)
    np.testing.assert_array_equal(layer.mask, x <= 0)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dout0 = dout.copy()
    dx = layer.backward(dout)
    assert_close(dx, np.where(x <= 0, 0, dout), dtype)
    np.testing.assert_array_equal(dout, dout0)  # the book zeroes dout in place; we do not


def test_relu_mask_set_by_hand_is_used():
    layer = D.Relu()
    layer.forward(np.array([[1.0, -1.0, 2.0]]))
    layer.mask = np.array([[True, False, False]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), [[0.0, 1.0, 1.0]])


@pytest.mark.parametrize("n,c", [(6, 10), (1, 4), (3, 2)])
def test_softmax_with_loss_index_and_one_hot_targets(n, c, dtype):
    rng = rng_for("softmax", n, c)
    x = (3 * rng.standard_normal((n, c))).astype(dtype)
    t = rng.integers(0, c, size=n)
    one_hot = np.eye(c, dtype=np.int64)[t]
    p = ref_softmax(x)
    ref_loss = -np.log(p[np.arange(n), t]).mean()
    ref_dx = (p - np.eye(c)[t]) / n
    for target in (t, one_hot):
        layer = D.SoftmaxWithLoss()
        assert layer.loss is None and layer.y is None and layer.t is None
        loss = layer.forward(x, target)
        assert layer.t is target
        assert loss is layer.loss and isinstance(loss, np.generic) and loss.dtype == dtype
        assert_close(loss, ref_loss, dtype)
        assert_close(layer.y, p, dtype)
        assert_close(layer.backward(), ref_dx, dtype)
        assert_close(layer.backward(2.0), 2 * ref_dx, dtype)


def test_softmax_with_loss_soft_targets_follow_the_book():
    # Non one-hot rows: the book's loss uses the argmax of t, its gradient (y - t) / N.
    rng = rng_for("soft")
    x = rng.standard_normal((4, 5))
    t = ref_softmax(rng.standard_normal((4, 5)))
    layer = D.SoftmaxWithLoss()
    loss = layer.forward(x, t)
    p = ref_softmax(x)
    assert_close(loss, -np.log(p[np.arange(4), t.argmax(axis=1)]).mean(), np.float64)
    assert_close(layer.backward(), (p - t) / 4, np.float64)


def test_softmax_with_loss_is_the_books_loss_without_its_epsilon():
    # The book computes -mean(log(y_t + 1e-7)); we compute the exact value.  The two differ
    # by less than 1e-7 / min(y_t), and are equal to double precision once that term vanishes.
    rng = rng_for("eps")
    x = rng.standard_normal((8, 10))
    t = rng.integers(0, 10, size=8)
    layer = D.SoftmaxWithLoss()
    loss = layer.forward(x, t)
    y_t = layer.y[np.arange(8), t]
    book = -np.sum(np.log(y_t + 1e-7)) / 8
    assert 0 < loss - book < 1e-7 / y_t.min()


def test_softmax_with_loss_rejects_bad_labels():
    with pytest.raises(ValueError, match="out of bounds"):
        D.SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0, 3]))


def test_mixed_dtypes_follow_numpy_promotion():
    # The book's MNIST loader gives float32 images, its weights are float64: NumPy (and the
    # book) then computes in float64, and so do we.
    rng = rng_for("mixed")
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    W = rng.standard_normal((3, 1, 3, 3))
    b = np.zeros(3)
    conv = D.Convolution(W, b, pad=1)
    out = conv.forward(x)
    assert out.dtype == np.float64
    assert_close(out, ref_conv_forward(x, W, b, 1, 1), np.float64)
    dx = conv.backward(np.ones_like(out))
    assert dx.dtype == conv.dW.dtype == conv.db.dtype == np.float64
    aff = D.Affine(rng.standard_normal((36, 4)), np.zeros(4))
    assert aff.forward(x[:, 0]).dtype == np.float64


class SimpleConvNet:
    """The book's SimpleConvNet: conv - relu - pool - affine - relu - affine - softmax."""

    def __init__(self, dtype=np.float64, seed=0, scale=0.3):
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": scale * rng.standard_normal((3, 1, 3, 2)), "b1": scale * rng.standard_normal(3),
            "W2": scale * rng.standard_normal((3 * 2 * 4, 6)), "b2": scale * rng.standard_normal(6),
            "W3": scale * rng.standard_normal((6, 4)), "b3": scale * rng.standard_normal(4),
        }
        for k in self.params:
            self.params[k] = self.params[k].astype(dtype)
        p = self.params
        self.layers = [
            D.Convolution(p["W1"], p["b1"], stride=1, pad=1),  # 5x7 -> 5x8
            D.Relu(),
            D.Pooling(pool_h=2, pool_w=2, stride=2),  # 5x8 -> 2x4, does not tile
            D.Affine(p["W2"], p["b2"]),
            D.Relu(),
            D.Affine(p["W3"], p["b3"]),
        ]
        self.last_layer = D.SoftmaxWithLoss()

    def loss(self, x, t):
        for layer in self.layers:
            x = layer.forward(x)
        return self.last_layer.forward(x, t)

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for i, k in ((0, "1"), (3, "2"), (5, "3")):
            grads["W" + k], grads["b" + k] = self.layers[i].dW, self.layers[i].db
        return grads


def test_simple_convnet_gradients_match_central_differences():
    net = SimpleConvNet()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 1, 5, 7))
    t = np.eye(4)[rng.integers(0, 4, size=3)]  # one-hot, as the book's MNIST loader gives
    grads = net.gradient(x, t)
    for name, param in net.params.items():
        num = numerical_gradient(lambda: net.loss(x, t), param, 1e-5)
        assert grads[name].shape == param.shape
        err = rel_error(grads[name], num)
        assert err < 1e-7, f"{name}: relative error {err:.3e}"


def test_layers_follow_the_backend_switch():
    from fastconv import use_backend

    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 1, 5, 7))
    t = rng.integers(0, 4, size=2)
    net = SimpleConvNet(seed=3)
    grads_c = net.gradient(x, t)
    loss_c = net.last_layer.loss
    with use_backend("numpy"):
        grads_np = net.gradient(x, t)
        loss_np = net.last_layer.loss
    assert_close(loss_c, loss_np, np.float64)
    for k in grads_c:
        assert_close(grads_c[k], grads_np[k], np.float64, err_msg=k)
