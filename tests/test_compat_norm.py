"""The normalisation, dropout and optimiser drop-ins: fastconv.compat.cs231n (batchnorm,
layernorm, groupnorm, dropout, the sandwiches, optim), fastconv.compat.dlfs (Sigmoid, Dropout,
BatchNormalization, functions, util, optimizer; the book's SimpleConvNet and DeepConvNet) and
fastconv.compat.deeplearning_ai.  Every function is compared with an independent NumPy
implementation written here, in the style of the original code."""
from collections import OrderedDict

import numpy as np
import pytest
from conftest import assert_close

import fastconv
from fastconv.compat import cs231n as C
from fastconv.compat import deeplearning_ai as A
from fastconv.compat.cs231n import optim as cs_optim
from fastconv.compat.dlfs import functions as DF
from fastconv.compat.dlfs import optimizer as DO
from fastconv.compat.dlfs import util as DU


def rel_error(a, b):
    """CS231n's relative error."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def eval_numerical_gradient(f, x, h=1e-5):
    """CS231n's eval_numerical_gradient: central differences of the scalar f(x)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        it.iternext()
    return grad


# ------------------------------------------------------------------------------------------
# Independent NumPy implementations (the course's formulas)
# ------------------------------------------------------------------------------------------

def ref_bn_train(x, gamma, beta, eps):
    mu, var = x.mean(axis=0), x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (x, xhat, mu, var, gamma, eps)


def ref_bn_backward(dout, cache):
    """The staged computational graph of the course's batchnorm_backward."""
    x, xhat, mu, var, gamma, eps = cache
    n = x.shape[0]
    istd = 1.0 / np.sqrt(var + eps)
    dxhat = dout * gamma
    dvar = np.sum(dxhat * (x - mu), axis=0) * -0.5 * istd ** 3
    dmu = np.sum(-dxhat * istd, axis=0) + dvar * np.mean(-2.0 * (x - mu), axis=0)
    dx = dxhat * istd + dvar * 2.0 * (x - mu) / n + dmu / n
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


def to_rows(x):
    """(N, C, H, W) -> (N*H*W, C), the course's spatial trick."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def from_rows(r, shape):
    n, c, h, w = shape
    return r.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def ref_gn(x, gamma, beta, G, eps):
    n, c, h, w = x.shape
    xg = x.reshape(n, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    var = xg.var(axis=2, keepdims=True)
    xhat = ((xg - mu) / np.sqrt(var + eps)).reshape(x.shape)
    return gamma.reshape(1, c, 1, 1) * xhat + beta.reshape(1, c, 1, 1)


# ------------------------------------------------------------------------------------------
# CS231n
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spatial", [False, True], ids=["batchnorm", "spatial"])
def test_batchnorm_train_and_test_modes(dtype, spatial):
    rng = np.random.default_rng(231)
    shape = (4, 3, 5, 2) if spatial else (20, 3)
    x = (5 * rng.standard_normal(shape) + 12).astype(dtype)
    gamma, beta = np.array([1, 2, 3]), np.array([11, 12, 13])   # integers, as students pass
    dout = rng.standard_normal(shape).astype(dtype)
    bn_param = {"mode": "train", "momentum": 0.8, "unused": object()}
    fwd = C.spatial_batchnorm_forward if spatial else C.batchnorm_forward
    bwd = C.spatial_batchnorm_backward if spatial else C.batchnorm_backward
    rows = to_rows(x.astype(np.float64)) if spatial else x.astype(np.float64)
    rm = rv = 0.0
    for _ in range(2):
        out, cache = fwd(x, gamma, beta, bn_param)
        exp, rcache = ref_bn_train(rows, gamma, beta, 1e-5)
        assert_close(out, from_rows(exp, shape) if spatial else exp, dtype)
        rm = 0.8 * rm + 0.2 * rows.mean(axis=0)
        rv = 0.8 * rv + 0.2 * rows.var(axis=0)
        assert_close(bn_param["running_mean"], rm, dtype)
        assert_close(bn_param["running_var"], rv, dtype)
    dx, dgamma, dbeta = bwd(dout, cache)
    rdx, rdg, rdb = ref_bn_backward(to_rows(dout.astype(np.float64)) if spatial
                                    else dout.astype(np.float64), rcache)
    assert_close(dx, from_rows(rdx, shape) if spatial else rdx, dtype)
    assert_close(dgamma, rdg, dtype)
    assert_close(dbeta, rdb, dtype)
    if not spatial:
        for a, b in zip(C.batchnorm_backward_alt(dout, cache), (dx, dgamma, dbeta)):
            np.testing.assert_array_equal(a, b)
    bn_param["mode"] = "test"
    out, _ = fwd(x, gamma, beta, bn_param)
    exp = gamma * (rows - rm) / np.sqrt(rv + 1e-5) + beta
    assert_close(out, from_rows(exp, shape) if spatial else exp, dtype)
    with pytest.raises(ValueError, match="Invalid forward batchnorm mode"):
        fwd(x, gamma, beta, {"mode": "eval"})


def test_batchnorm_gradients_and_gamma_read_afresh():
    rng = np.random.default_rng(0)
    x = 5 * rng.standard_normal((4, 5)) + 12
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    bn_param = {"mode": "train"}
    fx = lambda _: C.batchnorm_forward(x, gamma, beta, bn_param)[0]
    dx_num = eval_numerical_gradient(lambda v: np.sum(fx(v) * dout), x)
    dg_num = eval_numerical_gradient(lambda v: np.sum(fx(v) * dout), gamma)  # mutates gamma
    db_num = eval_numerical_gradient(lambda v: np.sum(fx(v) * dout), beta)
    _, cache = C.batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = C.batchnorm_backward(dout, cache)
    # the course's expectations: dx 1e-9 or better; dgamma, dbeta 1e-11 or better
    assert rel_error(dx, dx_num) < 1e-7
    assert rel_error(dgamma, dg_num) < 1e-9
    assert rel_error(dbeta, db_num) < 1e-9


def test_layernorm_and_groupnorm(dtype):
    rng = np.random.default_rng(1)
    x = (3 * rng.standard_normal((4, 6)) + 2).astype(dtype)
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    out, cache = C.layernorm_forward(x, gamma, beta, {"eps": 1e-5})
    xt = x.astype(np.float64).T
    exp, rcache = ref_bn_train(xt, gamma[:, None], beta[:, None], 1e-5)
    assert_close(out, exp.T, dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx, dgamma, dbeta = C.layernorm_backward(dout, cache)
    rdx, _, _ = ref_bn_backward(dout.astype(np.float64).T, rcache)
    assert_close(dx, rdx.T, dtype)
    assert_close(dgamma, np.sum(dout * rcache[1].T, axis=0), dtype)
    assert_close(dbeta, dout.astype(np.float64).sum(axis=0), dtype)

    x4 = (2 * rng.standard_normal((2, 6, 3, 4)) + 1).astype(dtype)
    for gshape in ((1, 6, 1, 1), (6,)):
        g, b = rng.standard_normal(gshape), rng.standard_normal(gshape)
        out, cache = C.spatial_groupnorm_forward(x4, g, b, 3, {"eps": 1e-5})
        assert_close(out, ref_gn(x4.astype(np.float64), g, b, 3, 1e-5), dtype)
        d4 = rng.standard_normal(x4.shape).astype(dtype)
        dx, dg, db = C.spatial_groupnorm_backward(d4, cache)
        assert dg.shape == gshape and db.shape == gshape and dx.dtype == dtype
    # the gradient against central differences (float64, gamma of shape (1, C, 1, 1))
    x4 = rng.standard_normal((2, 6, 3, 2))
    g, b = rng.standard_normal((1, 6, 1, 1)), rng.standard_normal((1, 6, 1, 1))
    d4 = rng.standard_normal(x4.shape)
    f = lambda _: np.sum(C.spatial_groupnorm_forward(x4, g, b, 2, {})[0] * d4)
    num = [eval_numerical_gradient(f, v) for v in (x4, g, b)]
    _, cache = C.spatial_groupnorm_forward(x4, g, b, 2, {})
    for got, n in zip(C.spatial_groupnorm_backward(d4, cache), num):
        assert rel_error(got, n) < 1e-7


def test_dropout_mask_is_the_courses(dtype):
    x = (np.random.default_rng(2).standard_normal((50, 40)) + 10).astype(dtype)
    for p in (0.25, 0.4, 0.7):
        out, cache = C.dropout_forward(x, {"mode": "train", "p": p, "seed": 123})
        np.random.seed(123)
        mask = np.random.rand(*x.shape) < p
        assert out.dtype == dtype
        dout = np.ones_like(x)
        exp_out, exp_dx = x * (mask / p), dout * (mask / p)     # float64, as the course
        if dtype == np.float64:                                 # the course's numbers exactly
            np.testing.assert_array_equal(out, exp_out)
            np.testing.assert_array_equal(C.dropout_backward(dout, cache), exp_dx)
        else:                                                   # float32 stays float32
            assert_close(out, exp_out, dtype)
            assert_close(C.dropout_backward(dout, cache), exp_dx, dtype)
        out_test, cache = C.dropout_forward(x, {"mode": "test", "p": p, "seed": 123})
        np.testing.assert_array_equal(out_test, x)
        np.testing.assert_array_equal(C.dropout_backward(dout, cache), dout)
    with pytest.raises(ValueError, match="keep probability"):
        C.dropout_forward(x, {"mode": "train", "p": 0.0})


def test_norm_sandwiches_compose_the_layers(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 6, 6)).astype(dtype)
    w, b = rng.standard_normal((5, 3, 3, 3)).astype(dtype), rng.standard_normal(5).astype(dtype)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = C.conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, {"mode": "train"})
    a, _ = C.conv_forward_fast(x, w, b, conv_param)
    an, _ = C.spatial_batchnorm_forward(a, gamma, beta, {"mode": "train"})
    np.testing.assert_array_equal(out, np.maximum(an, 0))
    grads = C.conv_bn_relu_backward(np.ones_like(out), cache)
    assert [g.shape for g in grads] == [x.shape, w.shape, b.shape, (5,), (5,)]
    x2 = rng.standard_normal((6, 10)).astype(dtype)
    w2, b2 = rng.standard_normal((10, 7)).astype(dtype), np.zeros(7, dtype)
    g2, be2 = np.ones(7), np.zeros(7)
    for fwd, bwd, nf in ((C.affine_bn_relu_forward, C.affine_bn_relu_backward,
                          C.batchnorm_forward),
                         (C.affine_ln_relu_forward, C.affine_ln_relu_backward,
                          C.layernorm_forward)):
        param = {"mode": "train"}
        out, cache = fwd(x2, w2, b2, g2, be2, param)
        an, _ = nf(C.affine_forward(x2, w2, b2)[0], g2, be2, {"mode": "train"})
        np.testing.assert_array_equal(out, np.maximum(an, 0))
        grads = bwd(np.ones_like(out), cache)
        assert [g.shape for g in grads] == [x2.shape, w2.shape, b2.shape, (7,), (7,)]
        assert all(g.dtype == dtype for g in grads)


def test_optim_update_rules():
    rng = np.random.default_rng(4)
    w, dw = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    nw, cfg = cs_optim.sgd(w.copy(), dw)
    np.testing.assert_allclose(nw, w - 1e-2 * dw)
    nw, cfg = cs_optim.sgd_momentum(w, dw, {"learning_rate": 0.1})
    np.testing.assert_allclose(cfg["velocity"], -0.1 * dw)
    nw2, cfg = cs_optim.sgd_momentum(nw, dw, cfg)
    np.testing.assert_allclose(nw2, nw + (0.9 * -0.1 * dw - 0.1 * dw))
    nw, cfg = cs_optim.rmsprop(w, dw)
    cache = 0.01 * dw ** 2
    np.testing.assert_allclose(nw, w - 1e-2 * dw / (np.sqrt(cache) + 1e-8))
    cfg = {"learning_rate": 1e-2}
    m = v = np.zeros_like(w)
    cur = w
    for t in (1, 2, 3):
        cur, cfg = cs_optim.adam(cur, dw, cfg)
        m = 0.9 * m + 0.1 * dw
        v = 0.999 * v + 0.001 * dw * dw
        assert cfg["t"] == t
    exp = w.copy()
    mm = vv = np.zeros_like(w)
    for t in (1, 2, 3):
        mm = 0.9 * mm + 0.1 * dw
        vv = 0.999 * vv + 0.001 * dw * dw
        exp = exp - 1e-2 * (mm / (1 - 0.9 ** t)) / (np.sqrt(vv / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(cur, exp)
    np.testing.assert_allclose(cfg["m"], m)


class FullyConnectedNet:
    """The assignment's {affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine -
    softmax, built only from fastconv.compat.cs231n."""

    def __init__(self, hidden_dims, input_dim, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, seed=None):
        rng = np.random.default_rng(0)
        self.normalization, self.reg = normalization, reg
        self.use_dropout = dropout_keep_ratio != 1
        self.num_layers = 1 + len(hidden_dims)
        self.params = {}
        dims = [input_dim] + list(hidden_dims) + [num_classes]
        for i in range(self.num_layers):
            self.params[f"W{i + 1}"] = weight_scale * rng.standard_normal((dims[i], dims[i + 1]))
            self.params[f"b{i + 1}"] = np.zeros(dims[i + 1])
            if normalization and i < self.num_layers - 1:
                self.params[f"gamma{i + 1}"] = np.ones(dims[i + 1])
                self.params[f"beta{i + 1}"] = np.zeros(dims[i + 1])
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)] \
            if normalization else []

    def loss(self, X, y=None):
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
        p, caches, out = self.params, [], X
        for i in range(1, self.num_layers):
            if self.normalization == "batchnorm":
                out, cache = C.affine_bn_relu_forward(out, p[f"W{i}"], p[f"b{i}"], p[f"gamma{i}"],
                                                      p[f"beta{i}"], self.bn_params[i - 1])
            elif self.normalization == "layernorm":
                out, cache = C.affine_ln_relu_forward(out, p[f"W{i}"], p[f"b{i}"], p[f"gamma{i}"],
                                                      p[f"beta{i}"], self.bn_params[i - 1])
            else:
                out, cache = C.affine_relu_forward(out, p[f"W{i}"], p[f"b{i}"])
            dcache = None
            if self.use_dropout:
                out, dcache = C.dropout_forward(out, self.dropout_param)
            caches.append((cache, dcache))
        L = self.num_layers
        scores, last = C.affine_forward(out, p[f"W{L}"], p[f"b{L}"])
        if mode == "test":
            return scores
        loss, dout = C.softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(np.sum(p[f"W{i}"] ** 2) for i in range(1, L + 1))
        grads = {}
        dout, grads[f"W{L}"], grads[f"b{L}"] = C.affine_backward(dout, last)
        for i in range(L - 1, 0, -1):
            cache, dcache = caches[i - 1]
            if self.use_dropout:
                dout = C.dropout_backward(dout, dcache)
            if self.normalization == "batchnorm":
                dout, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = \
                    C.affine_bn_relu_backward(dout, cache)
            elif self.normalization == "layernorm":
                dout, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = \
                    C.affine_ln_relu_backward(dout, cache)
            else:
                dout, grads[f"W{i}"], grads[f"b{i}"] = C.affine_relu_backward(dout, cache)
        for i in range(1, L + 1):
            grads[f"W{i}"] += self.reg * p[f"W{i}"]
        return loss, grads


@pytest.mark.parametrize("normalization,keep", [("batchnorm", 0.75), ("layernorm", 1),
                                                (None, 0.5)])
def test_fully_connected_net_gradient_check(normalization, keep):
    np.random.seed(231)
    N, D, H1, H2, Cn = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(Cn, size=(N,))
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=Cn, normalization=normalization,
                              dropout_keep_ratio=keep, reg=3.14, weight_scale=5e-2, seed=123)
    loss, grads = model.loss(X, y)
    assert np.isfinite(loss)
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]
        grad_num = eval_numerical_gradient(f, model.params[name], h=1e-5)
        err = rel_error(grad_num, grads[name])
        if normalization == "batchnorm" and name in ("b1", "b2"):
            # a bias that feeds a batchnorm has a true gradient of 0: both must be ~0 (the
            # difference quotient is rounding noise, eps * loss / h ~ 1e-10)
            assert np.abs(grads[name]).max() < 1e-12 and np.abs(grad_num).max() < 1e-8
            continue
        # the notebooks' published expectations: relative errors around 1e-6 or less with
        # dropout; with batchnorm, W between 1e-4 and 1e-10
        bound = 1e-4 if normalization == "batchnorm" and name[0] == "W" else 1e-6
        assert err < bound, f"{name}: relative error {err:.2e}"
    if normalization == "batchnorm":
        assert model.bn_params[0]["running_mean"].shape == (H1,)


def test_convnet_with_spatial_batchnorm_gradient_check():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 2, 6, 6))
    y = np.array([1, 0, 2])
    p = {"W1": 0.5 * rng.standard_normal((3, 2, 3, 3)), "b1": np.zeros(3), "gamma1": np.ones(3),
         "beta1": np.zeros(3), "W2": 0.5 * rng.standard_normal((27, 3)), "b2": np.zeros(3)}
    conv_param, bn_param = {"stride": 1, "pad": 1}, {"mode": "train"}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def loss(with_grads=False):
        a, c1 = C.conv_bn_relu_forward(X, p["W1"], p["b1"], p["gamma1"], p["beta1"], conv_param,
                                       bn_param)
        s, c2 = C.max_pool_forward_fast(a, pool_param)
        scores, c3 = C.affine_forward(s, p["W2"], p["b2"])
        lo, ds = C.softmax_loss(scores, y)
        if not with_grads:
            return lo
        g = {}
        d, g["W2"], g["b2"] = C.affine_backward(ds, c3)
        d = C.max_pool_backward_fast(d, c2)
        _, g["W1"], g["b1"], g["gamma1"], g["beta1"] = C.conv_bn_relu_backward(d, c1)
        return g

    grads = loss(True)
    for name in ("W1", "gamma1", "beta1", "W2", "b2"):
        num = eval_numerical_gradient(lambda _: loss(), p[name])
        assert rel_error(num, grads[name]) < 1e-6, name
    assert np.abs(grads["b1"]).max() < 1e-12           # a bias before batchnorm: gradient 0


# ------------------------------------------------------------------------------------------
# Deep Learning from Scratch
# ------------------------------------------------------------------------------------------

from fastconv.compat.dlfs.gradient import numerical_gradient  # noqa: E402
from fastconv.compat.dlfs.layers import *  # noqa: E402,F401,F403  (the book's habit)


class SimpleConvNet:
    """ch07/simple_convnet.py of the book, unchanged but for the imports above."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01):
        filter_num = conv_param['filter_num']
        filter_size = conv_param['filter_size']
        filter_pad = conv_param['pad']
        filter_stride = conv_param['stride']
        input_size = input_dim[1]
        conv_output_size = (input_size - filter_size + 2 * filter_pad) / filter_stride + 1
        pool_output_size = int(filter_num * (conv_output_size / 2) * (conv_output_size / 2))

        self.params = {}
        self.params['W1'] = weight_init_std * \
            np.random.randn(filter_num, input_dim[0], filter_size, filter_size)
        self.params['b1'] = np.zeros(filter_num)
        self.params['W2'] = weight_init_std * np.random.randn(pool_output_size, hidden_size)
        self.params['b2'] = np.zeros(hidden_size)
        self.params['W3'] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params['b3'] = np.zeros(output_size)

        self.layers = OrderedDict()
        self.layers['Conv1'] = Convolution(self.params['W1'], self.params['b1'],
                                           conv_param['stride'], conv_param['pad'])
        self.layers['Relu1'] = Relu()
        self.layers['Pool1'] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers['Affine1'] = Affine(self.params['W2'], self.params['b2'])
        self.layers['Relu2'] = Relu()
        self.layers['Affine2'] = Affine(self.params['W3'], self.params['b3'])
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        y = self.predict(x)
        return self.last_layer.forward(y, t)

    def numerical_gradient(self, x, t):
        loss_w = lambda w: self.loss(x, t)
        grads = {}
        for idx in (1, 2, 3):
            grads['W' + str(idx)] = numerical_gradient(loss_w, self.params['W' + str(idx)])
            grads['b' + str(idx)] = numerical_gradient(loss_w, self.params['b' + str(idx)])
        return grads

    def gradient(self, x, t):
        self.loss(x, t)
        dout = 1
        dout = self.last_layer.backward(dout)
        layers = list(self.layers.values())
        layers.reverse()
        for layer in layers:
            dout = layer.backward(dout)
        grads = {}
        grads['W1'], grads['b1'] = self.layers['Conv1'].dW, self.layers['Conv1'].db
        grads['W2'], grads['b2'] = self.layers['Affine1'].dW, self.layers['Affine1'].db
        grads['W3'], grads['b3'] = self.layers['Affine2'].dW, self.layers['Affine2'].db
        return grads


class DeepConvNet:
    """ch08/deep_convnet.py of the book (the accuracy and save/load helpers left out),
    unchanged but for the imports above."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1={'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 conv_param_2={'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 conv_param_3={'filter_num': 32, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 conv_param_4={'filter_num': 32, 'filter_size': 3, 'pad': 2, 'stride': 1},
                 conv_param_5={'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 conv_param_6={'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 hidden_size=50, output_size=10):
        pre_node_nums = np.array([1 * 3 * 3, 16 * 3 * 3, 16 * 3 * 3, 32 * 3 * 3, 32 * 3 * 3,
                                  64 * 3 * 3, 64 * 4 * 4, hidden_size])
        weight_init_scales = np.sqrt(2.0 / pre_node_nums)
        self.params = {}
        pre_channel_num = input_dim[0]
        for idx, conv_param in enumerate([conv_param_1, conv_param_2, conv_param_3,
                                          conv_param_4, conv_param_5, conv_param_6]):
            self.params['W' + str(idx + 1)] = weight_init_scales[idx] * np.random.randn(
                conv_param['filter_num'], pre_channel_num, conv_param['filter_size'],
                conv_param['filter_size'])
            self.params['b' + str(idx + 1)] = np.zeros(conv_param['filter_num'])
            pre_channel_num = conv_param['filter_num']
        self.params['W7'] = weight_init_scales[6] * np.random.randn(64 * 4 * 4, hidden_size)
        self.params['b7'] = np.zeros(hidden_size)
        self.params['W8'] = weight_init_scales[7] * np.random.randn(hidden_size, output_size)
        self.params['b8'] = np.zeros(output_size)

        self.layers = []
        self.layers.append(Convolution(self.params['W1'], self.params['b1'],
                                       conv_param_1['stride'], conv_param_1['pad']))
        self.layers.append(Relu())
        self.layers.append(Convolution(self.params['W2'], self.params['b2'],
                                       conv_param_2['stride'], conv_param_2['pad']))
        self.layers.append(Relu())
        self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(Convolution(self.params['W3'], self.params['b3'],
                                       conv_param_3['stride'], conv_param_3['pad']))
        self.layers.append(Relu())
        self.layers.append(Convolution(self.params['W4'], self.params['b4'],
                                       conv_param_4['stride'], conv_param_4['pad']))
        self.layers.append(Relu())
        self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(Convolution(self.params['W5'], self.params['b5'],
                                       conv_param_5['stride'], conv_param_5['pad']))
        self.layers.append(Relu())
        self.layers.append(Convolution(self.params['W6'], self.params['b6'],
                                       conv_param_6['stride'], conv_param_6['pad']))
        self.layers.append(Relu())
        self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(Affine(self.params['W7'], self.params['b7']))
        self.layers.append(Relu())
        self.layers.append(Dropout(0.5))
        self.layers.append(Affine(self.params['W8'], self.params['b8']))
        self.layers.append(Dropout(0.5))

        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for layer in self.layers:
            if isinstance(layer, Dropout):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t):
        y = self.predict(x, train_flg=True)
        return self.last_layer.forward(y, t)

    def gradient(self, x, t):
        self.loss(x, t)
        dout = 1
        dout = self.last_layer.backward(dout)
        tmp_layers = self.layers.copy()
        tmp_layers.reverse()
        for layer in tmp_layers:
            dout = layer.backward(dout)
        grads = {}
        for i, layer_idx in enumerate((0, 2, 5, 7, 10, 12, 15, 18)):
            grads['W' + str(i + 1)] = self.layers[layer_idx].dW
            grads['b' + str(i + 1)] = self.layers[layer_idx].db
        return grads


def test_simple_convnet_gradient_check_of_ch07():
    # ch07/gradient_check.py: labels of shape (1, 1), the book's habit
    np.random.seed(0)
    network = SimpleConvNet(input_dim=(1, 10, 10),
                            conv_param={'filter_num': 10, 'filter_size': 3, 'pad': 0,
                                        'stride': 1},
                            hidden_size=10, output_size=10, weight_init_std=0.01)
    X = np.random.rand(100).reshape((1, 1, 10, 10))
    T = np.array([1]).reshape((1, 1))
    grad_num = network.numerical_gradient(X, T)
    grad = network.gradient(X, T)
    for key in grad_num:
        assert grad[key].shape == grad_num[key].shape
        diff = np.abs(grad_num[key] - grad[key])
        # The book prints the mean of diff.  With its step h = 1e-4 a few entries step over
        # a ReLU or max-pool kink (the conv outputs are ~1e-2 here); those entries must
        # agree once the step is small enough not to cross it.
        param = network.params[key]
        for ix in zip(*np.nonzero(diff > 1e-9)):
            old = param[ix]
            param[ix] = old + 1e-8
            lp = network.loss(X, T)
            param[ix] = old - 1e-8
            lm = network.loss(X, T)
            param[ix] = old
            assert abs((lp - lm) / 2e-8 - grad[key][ix]) < 1e-7, (key, ix)
        assert np.median(diff) < 1e-9, key      # the truncation error of h = 1e-4
        if key[0] == "W":                    # and not vacuously: the gradients are not zero
            assert np.abs(grad[key]).max() > 1e-6


def test_deep_convnet_trains_with_the_books_optimizer_and_matches_the_reference():
    np.random.seed(1)
    network = DeepConvNet()
    x = np.random.rand(4, 1, 28, 28)
    t = np.array([3, 1, 4, 1])
    grads = {}
    for backend in ("c", "numpy"):
        np.random.seed(7)                  # the same dropout masks on both backends
        with fastconv.use_backend(backend):
            grads[backend] = network.gradient(x, t)
    for key in grads["c"]:
        assert_close(grads["c"][key], grads["numpy"][key], np.float64, key)
    opt = DO.Adam(lr=0.001)
    before = network.params["W1"].copy()
    losses = []
    for _ in range(3):
        g = network.gradient(x, t)
        opt.update(network.params, g)       # in place: the layers see the new weights
        losses.append(network.loss(x, t))
    assert not np.array_equal(before, network.params["W1"])
    assert network.layers[0].W is network.params["W1"]
    assert all(np.isfinite(losses))
    y = network.predict(x, train_flg=False)  # test mode: dropout scales by 1 - ratio
    assert y.shape == (4, 10)


def test_dlfs_sigmoid_dropout_and_batchnormalization(dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 2, 3, 3)).astype(dtype)
    s = Sigmoid()
    out = s.forward(x)
    assert_close(out, 1 / (1 + np.exp(-x.astype(np.float64))), dtype)
    assert_close(s.backward(np.ones_like(x)), out * (1.0 - out), dtype)
    d = Dropout(0.3)
    np.random.seed(9)
    y = d.forward(x)
    np.random.seed(9)
    mask = np.random.rand(*x.shape) > 0.3
    np.testing.assert_array_equal(d.mask, mask)
    np.testing.assert_array_equal(y, x * mask)
    np.testing.assert_array_equal(d.backward(np.ones_like(x)), mask.astype(dtype))
    assert_close(d.forward(x, train_flg=False), x * (1 - 0.3), dtype)
    # BatchNormalization: per activation of the flattened (N, 18) input, eps 1e-6
    gamma, beta = rng.standard_normal(18), rng.standard_normal(18)
    bn = BatchNormalization(gamma, beta)
    assert bn.running_mean is None
    out = bn.forward(x)
    x2 = x.reshape(5, -1).astype(np.float64)
    mu, var = x2.mean(axis=0), x2.var(axis=0)
    std = np.sqrt(var + 10e-7)
    assert_close(out, (gamma * (x2 - mu) / std + beta).reshape(x.shape), dtype)
    assert bn.running_mean.dtype == np.float64                   # as the book's
    assert_close(bn.running_mean.astype(dtype), 0.1 * mu, dtype)
    assert_close(bn.running_var.astype(dtype), 0.1 * var, dtype)
    assert_close(bn.std, std, dtype)
    assert_close(bn.xc, x2 - mu, dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx = bn.backward(dout)
    d2 = dout.reshape(5, -1).astype(np.float64)
    xn = (x2 - mu) / std
    # the book's backward, step by step
    dxn = gamma * d2
    dxc = dxn / std
    dstd = -np.sum((dxn * (x2 - mu)) / (std * std), axis=0)
    dvar = 0.5 * dstd / std
    dxc += (2.0 / 5) * (x2 - mu) * dvar
    dmu = np.sum(dxc, axis=0)
    assert_close(dx, (dxc - dmu / 5).reshape(x.shape), dtype)
    assert_close(bn.dgamma, np.sum(xn * d2, axis=0), dtype)
    assert_close(bn.dbeta, d2.sum(axis=0), dtype)
    out = bn.forward(x, train_flg=False)
    assert_close(out, (gamma * (x2 - bn.running_mean) / np.sqrt(bn.running_var + 10e-7)
                       + beta).reshape(x.shape), dtype)


def test_dlfs_habits_scalar_bias_column_labels_and_float16():
    rng = np.random.default_rng(7)
    W = rng.standard_normal((4, 2, 3, 3))
    x16 = rng.standard_normal((2, 2, 5, 5)).astype(np.float16)
    conv = Convolution(W, 0)                         # scalar bias
    out = conv.forward(x16)                          # float16 data, float64 weights
    assert out.dtype == np.float64
    exp = Convolution(W, np.zeros(4)).forward(x16.astype(np.float64))
    np.testing.assert_array_equal(out, exp)
    dx = conv.backward(np.ones_like(out))
    assert dx.shape == x16.shape and conv.db.shape == (4,)
    loss = SoftmaxWithLoss()
    scores = rng.standard_normal((3, 5))
    a = loss.forward(scores, np.array([[1], [4], [0]]))
    b = SoftmaxWithLoss().forward(scores, np.array([1, 4, 0]))
    assert a == b
    assert DF.cross_entropy_error(DF.softmax(scores), np.array([[1], [4], [0]])) == \
        pytest.approx(DF.cross_entropy_error(DF.softmax(scores), np.array([1, 4, 0])))


def test_dlfs_functions_util_and_optimizers():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(DF.sigmoid(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(DF.sigmoid_grad(x), (1 - 1 / (1 + np.exp(-x))) / (1 + np.exp(-x)))
    np.testing.assert_array_equal(DF.relu(x), np.maximum(0, x))
    np.testing.assert_array_equal(DF.relu_grad(x), (x >= 0).astype(float))
    np.testing.assert_array_equal(DF.step_function(x), (x > 0).astype(int))
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(DF.softmax(x), e / e.sum(axis=-1, keepdims=True))
    t = np.array([0, 3, 1])
    y = DF.softmax(x)
    np.testing.assert_allclose(DF.cross_entropy_error(y, t),
                               -np.sum(np.log(y[np.arange(3), t] + 1e-7)) / 3)
    np.testing.assert_allclose(DF.softmax_loss(x, np.eye(4)[t]), DF.cross_entropy_error(y, t))
    assert DF.sum_squared_error(y, np.eye(4)[t]) == pytest.approx(0.5 * np.sum((y - np.eye(4)[t]) ** 2))
    # im2col / col2im: col2im is the adjoint of im2col
    img = rng.standard_normal((2, 3, 7, 6))
    col = DU.im2col(img, 3, 2, stride=2, pad=1)
    assert col.shape == (2 * 4 * 4, 3 * 3 * 2)
    r = rng.standard_normal(col.shape)
    np.testing.assert_allclose(np.sum(col * r), np.sum(img * DU.col2im(r, img.shape, 3, 2, 2, 1)))
    assert DU.conv_output_size(28, 5, 1, 0) == 24.0
    xs, ts = DU.shuffle_dataset(np.arange(10).reshape(5, 2), np.arange(5))
    np.testing.assert_array_equal(xs[:, 0] // 2, ts)
    assert DU.smooth_curve(np.ones(30)).shape == (30,)
    # every optimizer updates the params dict in place with the book's rule (first step)
    g = {"W": rng.standard_normal((2, 3))}
    first = {
        DO.SGD(lr=0.1): -0.1 * g["W"],
        DO.Momentum(lr=0.1): -0.1 * g["W"],
        DO.Nesterov(lr=0.1): 0.81 * -0.1 * g["W"] - 1.9 * 0.1 * g["W"],
        DO.AdaGrad(lr=0.1): -0.1 * g["W"] / (np.abs(g["W"]) + 1e-7),
        DO.RMSprop(lr=0.1): -0.1 * g["W"] / (np.sqrt(0.01 * g["W"] ** 2) + 1e-7),
        DO.Adam(lr=0.1): -0.1 * np.sqrt(0.001) / 0.1 * 0.1 * g["W"] /
                         (np.sqrt(0.001 * g["W"] ** 2) + 1e-7),
    }
    for opt, step in first.items():
        p = {"W": np.ones((2, 3))}
        arr = p["W"]
        opt.update(p, g)
        assert p["W"] is arr, type(opt).__name__
        np.testing.assert_allclose(arr - 1, step, err_msg=type(opt).__name__)


# ------------------------------------------------------------------------------------------
# deeplearning.ai "Convolution model, Step by Step"
# ------------------------------------------------------------------------------------------

def course_conv_forward(A_prev, W, b, hp):
    """The assignment's loops."""
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    stride, pad = hp["stride"], hp["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    s = A_pad[i, h * stride:h * stride + f, w * stride:w * stride + f, :]
                    Z[i, h, w, c] = np.sum(s * W[:, :, :, c]) + float(b[0, 0, 0, c])
    return Z


def course_conv_backward(dZ, A_prev, W, hp):
    f = W.shape[0]
    stride, pad = hp["stride"], hp["pad"]
    m, n_H, n_W, n_C = dZ.shape
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_pad = np.zeros_like(A_pad)
    dW, db = np.zeros_like(W), np.zeros((1, 1, 1, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    dA_pad[i, vs:vs + f, hs:hs + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += A_pad[i, vs:vs + f, hs:hs + f, :] * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
    dA = dA_pad[:, pad:dA_pad.shape[1] - pad, pad:dA_pad.shape[2] - pad, :]
    return dA, dW, db


def course_pool(A_prev, hp, mode, dA=None):
    f, stride = hp["f"], hp["stride"]
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H, n_W = int(1 + (n_H_prev - f) / stride), int(1 + (n_W_prev - f) / stride)
    A = np.zeros((m, n_H, n_W, n_C))
    dA_prev = np.zeros_like(A_prev, dtype=np.float64)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    win = A_prev[i, h * stride:h * stride + f, w * stride:w * stride + f, c]
                    A[i, h, w, c] = np.max(win) if mode == "max" else np.mean(win)
                    if dA is not None:
                        g = (win == np.max(win)) * dA[i, h, w, c] if mode == "max" else \
                            np.ones((f, f)) * dA[i, h, w, c] / (f * f)
                        dA_prev[i, h * stride:h * stride + f, w * stride:w * stride + f, c] += g
    return A, dA_prev


@pytest.mark.parametrize("hp", [{"pad": 1, "stride": 2}, {"pad": 0, "stride": 1},
                                {"pad": 2, "stride": 3}], ids=str)
def test_deeplearning_ai_conv(dtype, hp):
    rng = np.random.default_rng(9)
    A_prev = rng.standard_normal((2, 5, 7, 3)).astype(dtype)
    W = rng.standard_normal((3, 3, 3, 4)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, 4)).astype(dtype)
    Z, cache = A.conv_forward(A_prev, W, b, hp)
    assert cache[0] is A_prev and cache[3] is hp and Z.dtype == dtype
    assert_close(Z, course_conv_forward(A_prev.astype(np.float64), W.astype(np.float64), b, hp),
                 dtype)
    dZ = rng.standard_normal(Z.shape).astype(dtype)
    for got, exp in zip(A.conv_backward(dZ, cache),
                        course_conv_backward(dZ.astype(np.float64), A_prev.astype(np.float64),
                                             W.astype(np.float64), hp)):
        assert_close(got, exp, dtype)
    a_slice, w1 = A_prev[0, :3, :3, :], W[:, :, :, 0]
    assert A.conv_single_step(a_slice, w1, b[:, :, :, 0]) == pytest.approx(
        float(np.sum(a_slice * w1) + b[0, 0, 0, 0]), rel=1e-5)
    np.testing.assert_array_equal(A.zero_pad(A_prev, 2)[:, 2:-2, 2:-2, :], A_prev)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("hp", [{"f": 2, "stride": 2}, {"f": 3, "stride": 1},
                                {"f": 3, "stride": 2}], ids=str)
def test_deeplearning_ai_pool_and_ties(dtype, mode, hp):
    rng = np.random.default_rng(10)
    A_prev = rng.integers(0, 3, size=(2, 5, 6, 3)).astype(dtype)   # many tied maxima
    out, cache = A.pool_forward(A_prev, hp, mode=mode)
    exp, _ = course_pool(A_prev.astype(np.float64), hp, mode)
    assert_close(out, exp, dtype)
    dA = rng.standard_normal(out.shape).astype(dtype)
    _, exp_dx = course_pool(A_prev.astype(np.float64), hp, mode, dA.astype(np.float64))
    assert_close(A.pool_backward(dA, cache, mode=mode), exp_dx, dtype)
    with pytest.raises(ValueError, match="mode"):
        A.pool_forward(A_prev, hp, mode="min")


def test_deeplearning_ai_helpers():
    x = np.array([[1, 4], [4, 2]])
    np.testing.assert_array_equal(A.create_mask_from_window(x), [[False, True], [True, False]])
    np.testing.assert_array_equal(A.distribute_value(2, (2, 2)), np.full((2, 2), 0.5))
