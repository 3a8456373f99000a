"""Normalisation, dropout and activations: batch_norm, layer_norm, group_norm, dropout,
sigmoid, tanh and leaky_relu with their backwards.

- The C backend against the NumPy reference (evaluated in float64 for float32 results) on
  every ISA path and both dtypes, on short and long planes and several thread counts.
- Central-difference gradient checks of every backward in float64.
- PyTorch parity (optional), the errors both backends share, layouts, batch 0.
- The nn layers against torch: outputs, gradients, running statistics, state_dict keys.
"""
import numpy as np
import pytest
from conftest import GRADCHECK_H, GRADCHECK_RTOL, R64, assert_close

import fastconv
import fastconv.functional as F
import fastconv.reference as R
from fastconv import nn

EPS64 = np.finfo(np.float64).eps

# (shape, planes long enough for the per-plane path or not)
BN_SHAPES = [(7, 5), (6, 3, 20), (4, 3, 5, 6), (3, 2, 1, 3)]


def _rand(rng, shape, dtype, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


def _close_tuple(got, expected, dtype, what):
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        if e is None:
            assert g is None, f"{what}: output {i}"
        else:
            assert_close(g, e, dtype, err_msg=f"{what}: output {i}")


# ------------------------------------------------------------------------------------------
# C backend against the reference, every ISA path
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_matches_reference(isa, dtype, rng, shape):
    c = shape[1]
    x = _rand(rng, shape, dtype, 3.0, 5.0)          # a mean far from 0: the shifted sums
    w, b = _rand(rng, c, dtype), _rand(rng, c, dtype)
    gy = _rand(rng, shape, dtype)
    rm, rv = _rand(rng, c, dtype), np.abs(_rand(rng, c, dtype)) + 0.5
    stats = {}
    for name, mod in (("c", F), ("ref", R64)):
        m, v = rm.copy(), rv.copy()
        if mod is R64:
            m, v = m.astype(np.float64), v.astype(np.float64)
        y, mean, invstd = mod.batch_norm(x, m, v, w, b, training=True, momentum=0.3,
                                         return_stats=True)
        stats[name] = (y, mean, invstd, m, v)
    for got, exp in zip(stats["c"], stats["ref"]):
        assert_close(got, exp, dtype, err_msg=f"batch_norm train {shape}")
    _, mean, invstd = stats["c"][:3]
    for training in (True, False):
        got = F.batch_norm_backward(gy, x, w, rm, rv, mean, invstd, training)
        exp = R64.batch_norm_backward(gy, x, w, rm, rv, mean, invstd, training)
        _close_tuple(got, exp, dtype, f"batch_norm_backward training={training}")
    assert_close(F.batch_norm(x, rm, rv, w, b), R64.batch_norm(x, rm, rv, w, b), dtype)
    assert_close(F.batch_norm(x, rm, rv), R64.batch_norm(x, rm, rv), dtype)


@pytest.mark.parametrize("shape,ns", [((5, 7), (7,)), ((2, 3, 4, 5), (4, 5)), ((3, 40), 40)],
                         ids=str)
def test_layer_norm_matches_reference(isa, dtype, rng, shape, ns):
    x, gy = _rand(rng, shape, dtype, 2.0, -3.0), _rand(rng, shape, dtype)
    nshape = (ns,) if isinstance(ns, int) else ns
    w, b = _rand(rng, nshape, dtype), _rand(rng, nshape, dtype)
    for wb in ((w, b), (None, None)):
        got = F.layer_norm(x, ns, *wb, return_stats=True)
        _close_tuple(got, R64.layer_norm(x, ns, *wb, return_stats=True), dtype, "layer_norm")
        _, mean, rstd = got
        _close_tuple(F.layer_norm_backward(gy, x, ns, mean, rstd, wb[0]),
                     R64.layer_norm_backward(gy, x, ns, mean, rstd, wb[0]), dtype,
                     "layer_norm_backward")


@pytest.mark.parametrize("shape,groups", [((3, 6, 4, 5), 3), ((2, 4, 7), 1), ((2, 6), 3),
                                          ((2, 8, 20, 20), 2)], ids=str)
def test_group_norm_matches_reference(isa, dtype, rng, shape, groups):
    x, gy = _rand(rng, shape, dtype, 2.0, 1.0), _rand(rng, shape, dtype)
    w, b = _rand(rng, shape[1], dtype), _rand(rng, shape[1], dtype)
    for wb in ((w, b), (None, None)):
        got = F.group_norm(x, groups, *wb, return_stats=True)
        _close_tuple(got, R64.group_norm(x, groups, *wb, return_stats=True), dtype,
                     "group_norm")
        _, mean, rstd = got
        _close_tuple(F.group_norm_backward(gy, x, groups, mean, rstd, wb[0]),
                     R64.group_norm_backward(gy, x, groups, mean, rstd, wb[0]), dtype,
                     "group_norm_backward")


def test_activations_match_reference(isa, dtype, rng):
    x = _rand(rng, (3, 5, 70), dtype, 4.0)
    x.flat[:16] = [0.0, -0.0, 50.0, -50.0, 1e-9, -1e-9, 0.624, 0.626, -0.626, 88.5, -88.5,
                   1e4, -1e4, np.inf, -np.inf, np.nan]
    gy = _rand(rng, x.shape, dtype)
    for fwd, bwd in (("sigmoid", "sigmoid_backward"), ("tanh", "tanh_backward")):
        y = getattr(F, fwd)(x)
        assert_close(y, getattr(R64, fwd)(x), dtype, err_msg=fwd)
        assert_close(getattr(F, bwd)(gy, y), getattr(R64, bwd)(gy, y), dtype, err_msg=bwd)
    for slope in (0.01, 0.3, -0.5):
        assert_close(F.leaky_relu(x, slope), R64.leaky_relu(x, slope), dtype)
        assert_close(F.leaky_relu_backward(gy, x, slope), R64.leaky_relu_backward(gy, x, slope),
                     dtype)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_dropout_masks_agree_across_backends_isas_and_threads(isa, dtype, p):
    x = np.linspace(-3, 3, 3 * 70001).astype(dtype).reshape(3, 70001)   # > one thread chunk
    ref_y, ref_mask = R.dropout(x, p, generator=np.random.default_rng(7), return_mask=True)
    before = fastconv.get_num_threads()
    try:
        for nt in (1, 2):
            fastconv.set_num_threads(nt)
            y, mask = F.dropout(x, p, generator=np.random.default_rng(7), return_mask=True)
            np.testing.assert_array_equal(mask, ref_mask)
            np.testing.assert_array_equal(y, ref_y)
    finally:
        fastconv.set_num_threads(before)
    assert mask.dtype == np.bool_ and y.dtype == dtype
    kept = mask.mean()
    assert abs(kept - (1 - p)) < 0.01
    if 0 < p < 1:
        np.testing.assert_array_equal(y[mask], x[mask] * dtype.type(1 / (1 - p)))
    assert not y[~mask].any()
    gy = np.ones_like(x)
    scale = 1 / (1 - p) if p < 1 else 0.0
    np.testing.assert_array_equal(F.dropout_backward(gy, mask, scale),
                                  R.dropout_backward(gy, mask, scale))


def test_dropout_generator_and_eval_mode(rng):
    x = rng.standard_normal((50, 40))
    fastconv.nn.init.manual_seed(3)
    a = F.dropout(x, 0.5)
    fastconv.nn.init.manual_seed(3)
    b = F.dropout(x, 0.5)
    c = F.dropout(x, 0.5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    y, mask = F.dropout(x, 0.5, training=False, return_mask=True)
    np.testing.assert_array_equal(y, x)
    assert mask.all() and not np.shares_memory(y, x)
    # NaN propagates through dropped elements too (0 * NaN), as in PyTorch
    xn = np.full((4, 4), np.nan)
    assert np.isnan(F.dropout(xn, 0.5, generator=np.random.default_rng(0))).all()


def test_threads_give_the_serial_result(dtype, rng):
    x = _rand(rng, (64, 8, 33, 33), dtype, 2.0, 1.0)
    gy = _rand(rng, x.shape, dtype)
    x2 = _rand(rng, (20000, 6), dtype)
    gy2 = _rand(rng, x2.shape, dtype)
    before = fastconv.get_num_threads()
    results = []
    try:
        for nt in (1, 2):
            fastconv.set_num_threads(nt)
            out = []
            for xx, gg in ((x, gy), (x2, gy2)):
                y, m, i = F.batch_norm(xx, None, None, training=True, return_stats=True)
                out += [y, m, i, *F.batch_norm_backward(gg, xx, None, None, None, m, i, True)]
            y, m, r = F.layer_norm(x, x.shape[2:], return_stats=True)
            out += [y, *F.layer_norm_backward(gy, x, x.shape[2:], m, r)]
            y, m, r = F.group_norm(x, 4, return_stats=True)
            out += [y, *F.group_norm_backward(gy, x, 4, m, r)]
            results.append(out)
    finally:
        fastconv.set_num_threads(before)
    for a, b in zip(*results):
        assert_close(a, b, dtype)


# ------------------------------------------------------------------------------------------
# Central-difference gradient checks (float64)
# ------------------------------------------------------------------------------------------

def _gradcheck(fn, args, idx, gy, analytic):
    """analytic against the central difference of sum(fn(*args) * gy) in args[idx]."""
    args = [np.array(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in args]
    x = args[idx]
    terms = np.abs(fn(*args) * gy).sum()
    atol = 16 * EPS64 * max(terms, 1.0) / GRADCHECK_H
    num = np.empty_like(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + GRADCHECK_H
        lp = np.sum(fn(*args) * gy)
        x.flat[i] = old - GRADCHECK_H
        lm = np.sum(fn(*args) * gy)
        x.flat[i] = old
        num.flat[i] = (lp - lm) / (2 * GRADCHECK_H)
    np.testing.assert_allclose(analytic, num, rtol=GRADCHECK_RTOL, atol=atol)


@pytest.mark.parametrize("backend", [F, R], ids=["c", "numpy"])
def test_gradients_match_central_differences(backend, rng):
    B = backend
    # batch norm, training and inference, (N, C) and (N, C, H, W)
    for shape in ((5, 3), (3, 2, 4, 5)):
        x, gy = rng.standard_normal(shape), rng.standard_normal(shape)
        w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
        rm, rv = rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5
        fwd = lambda x_, w_, b_: B.batch_norm(x_, None, None, w_, b_, training=True)
        _, mean, invstd = B.batch_norm(x, None, None, w, b, training=True, return_stats=True)
        gx, gw, gb = B.batch_norm_backward(gy, x, w, None, None, mean, invstd, True)
        for idx, g in ((0, gx), (1, gw), (2, gb)):
            _gradcheck(fwd, (x, w, b), idx, gy, g)
        fwd_eval = lambda x_, w_: B.batch_norm(x_, rm, rv, w_, None)
        gx, gw, _ = B.batch_norm_backward(gy, x, w, rm, rv, None, None, False)
        _gradcheck(fwd_eval, (x, w), 0, gy, gx)
        _gradcheck(fwd_eval, (x, w), 1, gy, gw)
    # layer norm over the last two dims; group norm
    x, gy = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    w, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    _, mean, rstd = B.layer_norm(x, (3, 4), w, b, return_stats=True)
    grads = B.layer_norm_backward(gy, x, (3, 4), mean, rstd, w)
    for idx, g in enumerate(grads):
        _gradcheck(lambda x_, w_, b_: B.layer_norm(x_, (3, 4), w_, b_), (x, w, b), idx, gy, g)
    x, gy = rng.standard_normal((2, 4, 3, 2)), rng.standard_normal((2, 4, 3, 2))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    _, mean, rstd = B.group_norm(x, 2, w, b, return_stats=True)
    grads = B.group_norm_backward(gy, x, 2, mean, rstd, w)
    for idx, g in enumerate(grads):
        _gradcheck(lambda x_, w_, b_: B.group_norm(x_, 2, w_, b_), (x, w, b), idx, gy, g)
    # activations (leaky relu away from its kink)
    x, gy = rng.standard_normal((3, 7)), rng.standard_normal((3, 7))
    x[np.abs(x) < 1e-3] = 0.5
    _gradcheck(B.sigmoid, (x,), 0, gy, B.sigmoid_backward(gy, B.sigmoid(x)))
    _gradcheck(B.tanh, (x,), 0, gy, B.tanh_backward(gy, B.tanh(x)))
    _gradcheck(lambda x_: B.leaky_relu(x_, 0.2), (x,), 0, gy,
               B.leaky_relu_backward(gy, x, 0.2))


# ------------------------------------------------------------------------------------------
# PyTorch parity (optional)
# ------------------------------------------------------------------------------------------

def test_torch_parity(dtype, rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    t = lambda a: torch.tensor(a, requires_grad=True)

    def check(ours, theirs_out, inputs, gy, our_grads):
        assert_close(ours, theirs_out.detach().numpy(), dtype)
        theirs_out.backward(torch.tensor(gy))
        for g, ti in zip(our_grads, inputs):
            assert_close(g, ti.grad.numpy(), dtype)

    x = _rand(rng, (6, 3, 5, 4), dtype, 2.0, 1.0)
    gy = _rand(rng, x.shape, dtype)
    w, b = _rand(rng, 3, dtype), _rand(rng, 3, dtype)
    rm, rv = np.zeros(3, dtype), np.ones(3, dtype)
    trm, trv = torch.zeros(3, dtype=torch.from_numpy(rm).dtype), torch.ones(3, dtype=torch.from_numpy(rm).dtype)
    y, mean, invstd = F.batch_norm(x, rm, rv, w, b, True, 0.2, 1e-3, return_stats=True)
    tx, tw, tb = t(x), t(w), t(b)
    ty = tf.batch_norm(tx, trm, trv, tw, tb, True, 0.2, 1e-3)
    check(y, ty, (tx, tw, tb), gy,
          F.batch_norm_backward(gy, x, w, rm, rv, mean, invstd, True, 1e-3))
    assert_close(rm, trm.numpy(), dtype)
    assert_close(rv, trv.numpy(), dtype)
    tx, tw = t(x), t(w)
    ty = tf.batch_norm(tx, trm, trv, tw, None, False)
    check(F.batch_norm(x, rm, rv, w), ty, (tx, tw), gy,
          F.batch_norm_backward(gy, x, w, rm, rv, None, None, False)[:2])

    lw, lb = _rand(rng, (5, 4), dtype), _rand(rng, (5, 4), dtype)
    y, mean, rstd = F.layer_norm(x, (5, 4), lw, lb, 1e-4, return_stats=True)
    tx, tw, tb = t(x), t(lw), t(lb)
    check(y, tf.layer_norm(tx, (5, 4), tw, tb, 1e-4), (tx, tw, tb), gy,
          F.layer_norm_backward(gy, x, (5, 4), mean, rstd, lw))

    x6 = _rand(rng, (3, 6, 4, 2), dtype, 3.0)
    gy6 = _rand(rng, x6.shape, dtype)
    gw6, gb6 = _rand(rng, 6, dtype), _rand(rng, 6, dtype)
    y, mean, rstd = F.group_norm(x6, 3, gw6, gb6, return_stats=True)
    tx, tw, tb = t(x6), t(gw6), t(gb6)
    check(y, tf.group_norm(tx, 3, tw, tb), (tx, tw, tb), gy6,
          F.group_norm_backward(gy6, x6, 3, mean, rstd, gw6))

    for name, tfn in (("sigmoid", torch.sigmoid), ("tanh", torch.tanh)):
        tx = t(x)
        y = getattr(F, name)(x)
        check(y, tfn(tx), (tx,), gy, (getattr(F, name + "_backward")(gy, y),))
    tx = t(x)
    check(F.leaky_relu(x, 0.1), tf.leaky_relu(tx, 0.1), (tx,), gy,
          (F.leaky_relu_backward(gy, x, 0.1),))


# ------------------------------------------------------------------------------------------
# Errors (the same on both backends), layouts, batch 0
# ------------------------------------------------------------------------------------------

def _raises_same(call, exc, pattern):
    for mod in (F, R):
        with pytest.raises(exc, match=pattern):
            call(mod)


def test_errors_name_the_arguments():
    x = np.zeros((4, 3, 2, 2), np.float32)
    c3, c4 = np.ones(3, np.float32), np.ones(4, np.float32)
    _raises_same(lambda B: B.batch_norm(x, c4, c3, training=True), ValueError,
                 "running_mean should contain 3 elements not 4")
    _raises_same(lambda B: B.batch_norm(x, c3, c3, weight=c4), ValueError,
                 "weight should contain 3 elements not 4")
    _raises_same(lambda B: B.batch_norm(x, None, None), ValueError,
                 "running_mean must be defined in evaluation mode")
    _raises_same(lambda B: B.batch_norm(x[:1, :, :1, :1], None, None, training=True),
                 ValueError, "Expected more than 1 value per channel when training")
    _raises_same(lambda B: B.batch_norm(x, c3.astype(np.float64), c3, training=False),
                 TypeError, "dtype")
    ro = c3.copy()
    ro.setflags(write=False)
    _raises_same(lambda B: B.batch_norm(x, ro, c3.copy(), training=True), ValueError,
                 "read-only")
    _raises_same(lambda B: B.batch_norm(x, c3, c3, eps=-1.0), ValueError, "eps")
    _raises_same(lambda B: B.batch_norm(x[0, 0, 0], c3, c3), ValueError, "at least 2 dimensions")
    _raises_same(lambda B: B.layer_norm(x, (3,)), ValueError,
                 r"Given normalized_shape=\[3\], expected input with shape \[\*, 3\]")
    _raises_same(lambda B: B.layer_norm(x, 2, weight=c3), ValueError,
                 "Expected weight to be of same shape as normalized_shape")
    _raises_same(lambda B: B.group_norm(x, 2), ValueError,
                 "Expected number of channels in input to be divisible by num_groups")
    _raises_same(lambda B: B.group_norm(x, 3, weight=c4), ValueError,
                 "Expected weight to be a vector of size equal to the number of channels")
    _raises_same(lambda B: B.dropout(x, 1.5), ValueError,
                 "dropout probability has to be between 0 and 1, but got 1.5")
    _raises_same(lambda B: B.dropout(x, 0.5, generator=3), TypeError, "generator")
    _raises_same(lambda B: B.dropout_backward(x, np.ones(x.shape, np.uint8), 2.0), TypeError,
                 "mask must be a bool array")
    _raises_same(lambda B: B.dropout_backward(x, np.ones((4, 3), bool), 2.0), ValueError,
                 "mask of shape")
    _raises_same(lambda B: B.sigmoid(np.zeros(3, np.int64)), TypeError, "float32 or float64")
    _raises_same(lambda B: B.tanh_backward(x, x[0]), ValueError, "does not match")
    _raises_same(lambda B: B.leaky_relu(x, "0.1"), TypeError, "negative_slope")
    _raises_same(lambda B: B.layer_norm_backward(x, x, 2, c3, c3), ValueError,
                 "expected mean of shape")
    _raises_same(lambda B: B.group_norm_backward(x, x, 3, np.ones((4, 2), np.float32),
                                                 np.ones((4, 3), np.float32)), ValueError,
                 "expected mean of shape")
    _raises_same(lambda B: B.batch_norm_backward(x, x, None, None, None, None, None, True),
                 ValueError, "save_mean is required")


def test_layouts_readonly_and_unchanged_inputs(dtype, rng):
    base = _rand(rng, (6, 4, 10, 12), dtype, 2.0)
    layouts = [base, np.asfortranarray(base), base[:, :, ::2, ::3], base[::-1]]
    ro = base.copy()
    ro.setflags(write=False)
    layouts.append(ro)
    w = _rand(rng, 4, dtype)
    for x in layouts:
        snap = x.copy()
        c = np.ascontiguousarray(x)
        rm, rv = np.zeros(4, dtype), np.ones(4, dtype)
        for fn in (lambda a: F.batch_norm(a, None, None, w, w, training=True),
                   lambda a: F.batch_norm(a, rm, rv, w),
                   lambda a: F.layer_norm(a, a.shape[-1:], None, None),
                   lambda a: F.group_norm(a, 2, w, w),
                   lambda a: F.sigmoid(a), lambda a: F.tanh(a), lambda a: F.leaky_relu(a),
                   lambda a: F.dropout(a, 0.3, generator=np.random.default_rng(1))):
            got, exp = fn(x), fn(c)
            np.testing.assert_array_equal(got, exp)
            assert not np.shares_memory(got, x)
        np.testing.assert_array_equal(x, snap)


def test_batch_zero(dtype):
    x = np.zeros((0, 3, 4, 4), dtype)
    rm, rv = np.zeros(3, dtype), np.ones(3, dtype)
    for B in (F, R):
        y, mean, invstd = B.batch_norm(x, rm, rv, training=True, return_stats=True)
        assert y.shape == x.shape and y.dtype == dtype
        assert not rm.any() and (rv == 1).all()                # running stats unchanged
        gx, gw, gb = B.batch_norm_backward(x, x, None, None, None, mean, invstd, True)
        assert gx.shape == x.shape and not gw.any() and not gb.any()
        y, mean, rstd = B.layer_norm(x, (4, 4), return_stats=True)
        assert y.shape == x.shape and mean.shape == (0, 3, 1, 1)
        gx, gw, gb = B.layer_norm_backward(x, x, (4, 4), mean, rstd)
        assert gx.shape == x.shape and gw.shape == (4, 4) and not gw.any()
        y, mean, rstd = B.group_norm(x, 3, return_stats=True)
        assert y.shape == x.shape and mean.shape == (0, 3)
        assert B.group_norm_backward(x, x, 3, mean, rstd)[0].shape == x.shape
        for fn in (B.sigmoid, B.tanh, B.leaky_relu, B.dropout):
            assert fn(x).shape == x.shape


# ------------------------------------------------------------------------------------------
# nn layers
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (8, 3, 5, 4)), ("BatchNorm1d", (8, 3)),
                                       ("BatchNorm1d", (8, 3, 6))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_layers_match_torch(cls, shape, momentum):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    ours = getattr(nn, cls)(3, momentum=momentum).double()
    theirs = getattr(torch.nn, cls)(3, momentum=momentum).double()
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    ours.load_state_dict({"weight": w, "bias": b, "running_mean": np.zeros(3),
                          "running_var": np.ones(3), "num_batches_tracked": np.array(0)})
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    for _ in range(3):
        x, gy = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        ty.backward(torch.tensor(gy))
        assert_close(ours(x), ty.detach().numpy(), np.float64)
        assert_close(ours.backward(gy), tx.grad.numpy(), np.float64)
    assert_close(ours.weight.grad, theirs.weight.grad.numpy(), np.float64)
    assert_close(ours.bias.grad, theirs.bias.grad.numpy(), np.float64)
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        if sd[k].dtype.kind == "i":
            np.testing.assert_array_equal(sd[k], tsd[k].numpy(), err_msg=k)
        else:
            assert_close(sd[k], tsd[k].numpy(), np.float64, err_msg=k)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    assert_close(ours(x), theirs(torch.tensor(x)).detach().numpy(), np.float64)
    with pytest.raises(ValueError, match="expected"):
        ours(np.zeros((2, 3, 4, 4, 4)))


def test_batch_norm_without_running_stats_and_affine():
    bn = nn.BatchNorm2d(2, affine=False, track_running_stats=False)
    assert list(bn.state_dict()) == [] and bn.weight is None
    x = np.random.default_rng(1).standard_normal((4, 2, 3, 3)).astype(np.float32)
    bn.eval()                                       # no running stats: batch statistics
    with nn.enable_grad():                          # (an eval forward keeps nothing otherwise)
        y = bn(x)
    assert_close(y, R64.batch_norm(x, None, None, training=True), np.float32)
    assert bn.backward(np.ones_like(y)).shape == x.shape
    assert list(nn.BatchNorm1d(2).state_dict()) == ["weight", "bias", "running_mean",
                                                    "running_var", "num_batches_tracked"]


def test_norm_and_activation_layers_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5, 5))
    gy = rng.standard_normal(x.shape)
    pairs = [(nn.LayerNorm((5, 5)), torch.nn.LayerNorm((5, 5))),
             (nn.LayerNorm(5, elementwise_affine=False), torch.nn.LayerNorm(5, elementwise_affine=False)),
             (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)), (nn.Sigmoid(), torch.nn.Sigmoid()),
             (nn.Tanh(), torch.nn.Tanh()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2))]
    for ours, theirs in pairs:
        ours.double()
        theirs.double()
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        ty.backward(torch.tensor(gy))
        assert_close(ours(x), ty.detach().numpy(), np.float64, type(ours).__name__)
        assert_close(ours.backward(gy), tx.grad.numpy(), np.float64, type(ours).__name__)
        for name, p in ours.named_parameters():
            assert_close(p.grad, getattr(theirs, name).grad.numpy(), np.float64, name)
        assert list(ours.state_dict()) == list(theirs.state_dict())


def test_dropout_layer_uses_the_nn_generator():
    x = np.ones((40, 50), np.float32)
    d = nn.Dropout(0.25)
    nn.init.manual_seed(11)
    y1 = d(x)
    g1 = d.backward(np.ones_like(x))
    nn.init.manual_seed(11)
    y2 = d(x)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, y1)            # the same mask and scale
    assert set(np.unique(y1)) == {0.0, np.float32(1 / 0.75)}
    d.eval()
    np.testing.assert_array_equal(d(x), x)
