"""fastconv.optim: SGD and Adam against hand-computed steps and against torch.optim."""
import math

import numpy as np
import pytest

from fastconv import nn, optim

from conftest import assert_close


def _param(values, grad, dtype=np.float64):
    p = nn.Parameter(np.array(values, dtype=dtype))
    p.grad = np.array(grad, dtype=dtype)
    return p


def test_sgd_plain_step(dtype):
    p = _param([1.0, 2.0], [0.5, -1.0], dtype)
    optim.SGD([p], lr=0.1).step()
    assert_close(p.data, np.array([0.95, 2.1]), dtype)


def test_sgd_momentum_two_steps():
    p = _param([1.0, -2.0], [1.0, 2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()  # buf = g = [1, 2]           -> p = [0.9, -2.2]
    np.testing.assert_allclose(p.data, [0.9, -2.2], rtol=1e-15)
    opt.step()  # buf = 0.9*buf + g = [1.9, 3.8] -> p = [0.71, -2.58]
    np.testing.assert_allclose(p.data, [0.71, -2.58], rtol=1e-14)


def test_sgd_nesterov_dampening_weight_decay():
    p = _param([1.0], [1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    opt.step()  # buf = 1, update = 1 + 0.9*1 = 1.9 -> 0.81
    np.testing.assert_allclose(p.data, [0.81], rtol=1e-14)
    opt.step()  # buf = 0.9 + 1 = 1.9, update = 1 + 0.9*1.9 = 2.71 -> 0.539
    np.testing.assert_allclose(p.data, [0.539], rtol=1e-13)

    p = _param([1.0], [1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    opt.step()  # first buffer is the gradient itself (no dampening) -> 0.9
    opt.step()  # buf = 0.9*1 + 0.5*1 = 1.4 -> 0.76
    np.testing.assert_allclose(p.data, [0.76], rtol=1e-14)

    p = _param([2.0], [1.0])
    optim.SGD([p], lr=0.1, weight_decay=0.5).step()  # g = 1 + 0.5*2 = 2 -> 1.8
    np.testing.assert_allclose(p.data, [1.8], rtol=1e-15)


def test_adam_two_steps_by_hand(dtype):
    p = _param([1.0, -1.0], [0.2, -3.0], dtype)
    opt = optim.Adam([p], lr=0.01)
    opt.step()
    # step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) = lr * sign(g)
    assert_close(p.data, np.array([1.0 - 0.01 * 0.2 / (0.2 + 1e-8), -1.0 + 0.01 * 3.0 / (3.0 + 1e-8)]), dtype)
    before = p.data.astype(np.float64)
    p.grad = np.array([0.4, 1.0], dtype=dtype)
    opt.step()
    # step 2 by hand for the first coordinate: g1 = 0.2, g2 = 0.4
    m = 0.9 * 0.1 * 0.2 + 0.1 * 0.4            # 0.058
    v = 0.999 * 0.001 * 0.04 + 0.001 * 0.16    # 0.00019996
    upd = 0.01 / (1 - 0.9 ** 2) * m / (math.sqrt(v) / math.sqrt(1 - 0.999 ** 2) + 1e-8)
    assert abs(upd - 0.01 * 0.058 / 0.19 / (math.sqrt(0.00019996 / 0.001999) + 1e-8)) < 1e-15
    assert_close(p.data[:1], before[:1] - upd, dtype)


def test_adam_weight_decay_is_added_to_the_gradient():
    p = _param([2.0], [0.0])
    optim.Adam([p], lr=0.1, weight_decay=0.5).step()  # g = 1 -> update lr * 1/(1+eps)
    np.testing.assert_allclose(p.data, [2.0 - 0.1 / (1 + 1e-8)], rtol=1e-15)


def test_skips_fixed_and_gradless_parameters_and_zero_grad():
    a = _param([1.0], [1.0])
    b = nn.Parameter(np.array([1.0]))  # grad None
    c = _param([1.0], [1.0])
    c.requires_grad = False
    for opt in (optim.SGD([a, b, c], lr=0.1, momentum=0.9), optim.Adam([a, b, c])):
        a.grad = np.array([1.0])
        opt.step()
        assert b.data[0] == 1.0 and c.data[0] == 1.0 and a.data[0] < 1.0
        opt.zero_grad()
        assert a.grad is None and b.grad is None
        a.grad = np.array([3.0])
        opt.zero_grad(set_to_none=False)
        assert a.grad[0] == 0.0


def test_param_groups_and_errors():
    a, b = _param([1.0], [1.0]), _param([1.0], [1.0])
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5])
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.SGD([a], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="Parameter"):
        optim.Adam([np.zeros(3)])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)


@pytest.mark.parametrize("kwargs", [dict(lr=0.05), dict(lr=1), dict(lr=0.05, momentum=0.9, weight_decay=1e-2),
                                    dict(lr=0.05, momentum=0.8, nesterov=True)])
def test_sgd_c_backend_update_is_numpys_bitwise(dtype, kwargs):
    """On the C backend the update runs in the C kernel where it applies (Python-number lr,
    C-contiguous arrays of one dtype): bitwise the NumPy backend's values, step after step;
    where it does not (a strided or other-dtype gradient, a NumPy-scalar lr), NumPy's."""
    from fastconv.backend import use_backend
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((300, 500)).astype(dtype)
    grads = [rng.standard_normal((300, 500)).astype(dtype) for _ in range(3)]
    out = {}
    for backend in ("c", "numpy"):
        with use_backend(backend):
            p = nn.Parameter(w0.copy())
            opt = optim.SGD([p], **kwargs)
            for g in grads:
                p.grad = g
                opt.step()
            out[backend] = p.data
    np.testing.assert_array_equal(out["c"], out["numpy"])
    lr = kwargs["lr"]
    for grad, step_lr in ((np.asfortranarray(grads[0]), lr), (grads[0].astype(np.float16), lr),
                          (grads[0], np.float64(lr))):
        p = nn.Parameter(w0.copy())
        p.grad = grad
        optim.SGD([p], lr=step_lr).step()
        np.testing.assert_array_equal(p.data, w0 - (step_lr * grad).astype(dtype, copy=False))


def test_parameters_are_updated_in_place_and_keep_dtype(dtype):
    lin = nn.Linear(3, 2).astype(dtype)
    w = lin.weight.data
    lin(np.ones((4, 3), dtype))
    lin.backward(np.ones((4, 2), dtype))
    for opt in (optim.SGD(lin.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2),
                optim.Adam(lin.parameters(), weight_decay=1e-2)):
        opt.step()
        assert lin.weight.data is w and w.dtype == dtype and lin.bias.data.dtype == dtype


@pytest.mark.parametrize("kind,kwargs", [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
])
def test_matches_torch_over_several_steps(kind, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    init = rng.standard_normal((4, 3))
    p = nn.Parameter(init)
    tp = torch.nn.Parameter(torch.from_numpy(init.copy()))
    opt = getattr(optim, kind)([p], **kwargs)
    topt = getattr(torch.optim, kind)([tp], **kwargs)
    for _ in range(5):
        g = rng.standard_normal((4, 3))
        p.grad = g.copy()
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
