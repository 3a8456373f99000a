"""fastconv.nn: every layer's backward against central differences, Module mechanics, state_dict,
torch weight import, the backend switch, initialisers and the summary figures."""
import io
import math

import numpy as np
import pytest

import fastconv
from fastconv import nn
from fastconv.backend import get_backend, get_backend_name, use_backend
from fastconv.models import CifarCNN, EdgePipeline, MnistCNN, SimpleCNN

from conftest import GRADCHECK_H, GRADCHECK_RTOL, assert_close, tolerance


@pytest.fixture(params=["c", "numpy"])
def backend(request):
    with use_backend(request.param):
        yield request.param


# ---------------------------------------------------------------------------------------------
# gradient checks (float64, central differences)
# ---------------------------------------------------------------------------------------------
def _numeric(f, arr, coords, h=GRADCHECK_H):
    """Central differences of scalar f() w.r.t. arr at coords; also returns the rounding atol."""
    out = np.empty(len(coords))
    scale = 0.0
    for i, c in enumerate(coords):
        old = arr[c]
        arr[c] = old + h
        fp, sp = f()
        arr[c] = old - h
        fm, sm = f()
        arr[c] = old
        out[i] = (fp - fm) / (2 * h)
        scale = max(scale, sp, sm)
    # rounding error of the difference quotient: eps * sum(|terms|) / h, with a margin of 10
    return out, 10 * np.finfo(np.float64).eps * scale / h


def _coords(shape, rng, k=12):
    n = int(np.prod(shape))
    flat = rng.choice(n, size=min(k, n), replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def gradcheck(module, x, rng, check_params=True):
    """Check module.backward (grad_input and every parameter's grad) on loss = sum(module(x) * r)."""
    module.double()
    x = np.array(x, dtype=np.float64)
    y = module(x)
    r = rng.standard_normal(np.shape(y))

    def f():
        out = module(x) * r
        return float(np.sum(out)), float(np.sum(np.abs(out)))

    module.zero_grad()
    module(x)
    gx = module.backward(r)
    assert gx.shape == x.shape and gx.dtype == np.float64
    grads = {n: (p, None if p.grad is None else p.grad.copy()) for n, p in module.named_parameters()}
    cx = _coords(x.shape, rng)
    num, atol = _numeric(f, x, cx)
    np.testing.assert_allclose(gx[tuple(np.array(cx).T)], num, rtol=GRADCHECK_RTOL, atol=atol,
                               err_msg="grad_input of %s" % type(module).__name__)
    if check_params:
        for name, (p, g) in grads.items():
            if not p.requires_grad:
                assert g is None
                continue
            assert g is not None and g.shape == p.data.shape, name
            cp = _coords(p.data.shape, rng)
            num, atol = _numeric(f, p.data, cp)
            np.testing.assert_allclose(g[tuple(np.array(cp).T)], num, rtol=GRADCHECK_RTOL, atol=atol,
                                       err_msg="grad of %s" % name)
    return gx


LAYER_CASES = [
    ("conv", lambda: nn.Conv2d(4, 6, 3), (2, 4, 7, 6)),
    ("conv_stride_pad", lambda: nn.Conv2d(3, 4, (3, 2), stride=2, padding=1), (2, 3, 8, 7)),
    ("conv_groups_dil", lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), (1, 4, 6, 6)),
    ("conv_same_nobias", lambda: nn.Conv2d(2, 3, 3, padding="same", bias=False), (2, 2, 5, 5)),
    ("linear", lambda: nn.Linear(7, 5), (4, 7)),
    ("linear_3d", lambda: nn.Linear(6, 3), (2, 3, 6)),
    ("maxpool", lambda: nn.MaxPool2d(2), (2, 3, 6, 6)),
    ("maxpool_overlap", lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 2, 7, 6)),
    ("avgpool", lambda: nn.AvgPool2d(2), (2, 3, 6, 6)),
    ("avgpool_pad", lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
     (2, 2, 7, 6)),
    ("adaptive", lambda: nn.AdaptiveAvgPool2d(1), (3, 4, 5, 3)),
    ("relu", lambda: nn.ReLU(), (3, 4, 5)),
    ("flatten", lambda: nn.Flatten(), (2, 3, 4, 5)),
    ("sequential", lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                         nn.Flatten(), nn.Linear(36, 5)), (3, 2, 6, 6)),
]


@pytest.mark.parametrize("name,make,shape", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_backward_matches_central_differences(backend, name, make, shape):
    rng = np.random.default_rng(7)
    nn.init.manual_seed(3)
    x = rng.standard_normal(shape)
    if name == "relu":  # keep inputs away from the kink so that +-h does not cross it
        x = np.where(np.abs(x) < 0.05, 0.5, x)
    gradcheck(make(), x, rng)


def test_model_backward_matches_central_differences(backend):
    rng = np.random.default_rng(11)
    nn.init.manual_seed(5)
    model = SimpleCNN()
    gradcheck(model, rng.standard_normal((2, 1, 28, 28)), rng)


def test_dropout_backward_uses_the_forward_mask(backend):
    nn.init.manual_seed(0)
    d = nn.Dropout(0.3).double()
    x = np.random.default_rng(0).uniform(1, 2, size=(50, 40))
    y = d(x)
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-12)
    g = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(d.backward(g), np.where(kept, g / 0.7, 0.0), rtol=1e-12)
    d.eval()
    np.testing.assert_array_equal(d(x), x)
    with pytest.raises(RuntimeError, match="eval mode"):  # an eval forward keeps nothing
        d.backward(g)
    with nn.enable_grad():  # unless asked to: then eval-mode dropout is the identity both ways
        np.testing.assert_array_equal(d(x), x)
    np.testing.assert_array_equal(d.backward(g), g)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_loss_backward(backend, reduction, smoothing):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4))
    target = rng.integers(0, 4, size=5)
    loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)
    w = rng.standard_normal(5) if reduction == "none" else 1.0

    def f():
        v = np.asarray(loss(logits, target)) * w
        return float(np.sum(v)), float(np.sum(np.abs(v))) + 1.0

    loss(logits, target)
    g = loss.backward(w)
    coords = [np.unravel_index(i, logits.shape) for i in range(logits.size)]
    num, atol = _numeric(f, logits, coords)
    np.testing.assert_allclose(g.ravel(), num, rtol=GRADCHECK_RTOL, atol=atol)


def test_cross_entropy_loss_arguments():
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="before forward"):
        nn.CrossEntropyLoss().backward()


# ---------------------------------------------------------------------------------------------
# Module mechanics
# ---------------------------------------------------------------------------------------------
class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(3, 2)
        self.scale = 2.0  # plain attribute, not registered

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale

    def backward(self, g):
        return self.fc1.backward(self.act.backward(self.fc2.backward(g * self.scale)))


def test_children_and_parameters_register_on_assignment():
    m = TwoLayer()
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in m.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert all(isinstance(p, nn.Parameter) for p in m.parameters())
    assert m.scale == 2.0 and "scale" not in m.state_dict()
    m.fc2 = nn.Linear(3, 2, bias=False)  # reassignment replaces the registration
    assert [n for n, _ in m.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight"]
    m.extra = nn.Parameter(np.ones(3))
    assert "extra" in dict(m.named_parameters())
    m.extra = None  # assigning a plain value unregisters the parameter
    assert "extra" not in dict(m.named_parameters()) and m.extra is None
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing


def test_attributes_follow_the_registries():
    """Parameters and submodules read as plain attributes; assignment, deletion, None
    registration and buffers replaced in place all agree with what the registries hold."""
    m = TwoLayer()
    assert m.fc1 is m._modules["fc1"] and m.fc1.weight is m.fc1._parameters["weight"]
    w = nn.Parameter(np.ones((3, 4), np.float32))
    m.fc1.weight = w
    assert m.fc1.weight is w and m.fc1._parameters["weight"] is w
    del m.fc1.weight
    assert "weight" not in m.fc1._parameters
    with pytest.raises(AttributeError, match="no attribute 'weight'"):
        m.fc1.weight
    m.fc1.register_parameter("bias", None)
    assert m.fc1.bias is None and "fc1.bias" not in m.state_dict()
    m.add_module("act", None)
    assert m.act is None and "act" not in dict(m.named_children())
    del m.fc2
    assert not hasattr(m, "fc2") and "fc2" not in dict(m.named_children())
    m.register_buffer("running", np.zeros(2))
    m._buffers["running"] = np.ones(2)  # as load_state_dict and .to() replace buffers
    np.testing.assert_array_equal(m.running, np.ones(2))


def test_linear_and_edge_model_skip_the_input_gradient():
    """input_grad=False returns None and leaves the parameter gradients as they are with it;
    EdgePipeline (a fixed Laplacian before its dense layer) then needs no gradient below fc."""
    rng = np.random.default_rng(11)
    lin = nn.Linear(6, 3)
    x = rng.standard_normal((4, 2, 6)).astype(np.float32)
    g = rng.standard_normal((4, 2, 3)).astype(np.float32)
    lin(x)
    gx = lin.backward(g)
    assert gx.shape == x.shape
    w1, b1 = lin.weight.grad.copy(), lin.bias.grad.copy()
    lin.zero_grad()
    lin(x)
    assert lin.backward(g, input_grad=False) is None
    np.testing.assert_array_equal(lin.weight.grad, w1)
    np.testing.assert_array_equal(lin.bias.grad, b1)
    m = EdgePipeline(out_features=5)
    img = rng.standard_normal((2, 1, 300, 300)).astype(np.float32)
    go = rng.standard_normal((2, 5)).astype(np.float32)
    m(img)
    assert m.backward(go).shape == img.shape
    fw = m.fc.weight.grad.copy()
    m.zero_grad()
    m(img)
    assert m.backward(go, input_grad=False) is None
    np.testing.assert_array_equal(m.fc.weight.grad, fw)
    assert m.conv.weight.grad is None


def test_module_without_backward_says_how_to_write_it():
    class NoBackward(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(NotImplementedError, match="reverse order"):
        NoBackward().backward(np.ones(2))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(2, 2).backward(np.ones((1, 2), np.float32))


def test_train_eval_propagate_and_zero_grad():
    m = nn.Sequential(TwoLayer(), nn.Dropout())
    assert all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    x = np.ones((2, 4), np.float32)
    inner = m[0]
    inner(x)
    inner.backward(np.ones((2, 2), np.float32))
    g1 = inner.fc1.weight.grad.copy()
    inner(x)
    inner.backward(np.ones((2, 2), np.float32))  # gradients accumulate
    np.testing.assert_allclose(inner.fc1.weight.grad, 2 * g1, rtol=1e-6)
    inner.zero_grad(set_to_none=False)
    assert np.all(inner.fc1.weight.grad == 0)
    inner.zero_grad()
    assert all(p.grad is None for p in inner.parameters())


def test_sequential_indexing_and_keys():
    s = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    assert len(s) == 4 and isinstance(s[0], nn.Conv2d) and s[-1] is s[3]
    assert list(s.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert isinstance(s[1:3], nn.Sequential) and len(s[1:3]) == 2
    with pytest.raises(IndexError):
        s[4]
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    y = s(x)
    assert y.shape == (2, 3)
    gx = s.backward(np.ones_like(y))
    assert gx.shape == x.shape and s[0].weight.grad is not None


def test_adaptive_avg_pool_refuses_other_sizes():
    nn.AdaptiveAvgPool2d((1, 1))
    with pytest.raises(ValueError, match="only output_size=1"):
        nn.AdaptiveAvgPool2d(2)
    y = nn.AdaptiveAvgPool2d(1)(np.ones((2, 3, 4, 5), np.float32))
    assert y.shape == (2, 3, 1, 1)


def test_layer_constructor_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="cannot be multiplied"):
        nn.Linear(4, 2)(np.ones((3, 5), np.float32))


def test_layer_defaults_match_pytorch():
    c = nn.Conv2d(3, 8, 5)
    assert c.stride == (1, 1) and c.padding == (0, 0) and c.dilation == (1, 1) and c.groups == 1
    assert c.weight.shape == (8, 3, 5, 5) and c.bias.shape == (8,) and c.weight.dtype == np.float32
    p = nn.MaxPool2d(3)
    assert p.stride == 3 and p.padding == 0
    assert nn.AvgPool2d(2).stride == 2 and nn.Dropout().p == 0.5
    loss = nn.CrossEntropyLoss()
    assert loss.reduction == "mean" and loss.label_smoothing == 0.0


def test_inputs_are_not_modified(backend):
    rng = np.random.default_rng(0)
    model = SimpleCNN()
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    x.setflags(write=False)
    y = model(x)
    g = np.ones_like(y)
    g.setflags(write=False)
    model.backward(g)
    assert np.all(g == 1)


# ---------------------------------------------------------------------------------------------
# state_dict, save/load
# ---------------------------------------------------------------------------------------------
def test_state_dict_round_trip(dtype, tmp_path):
    nn.init.manual_seed(1)
    a = MnistCNN().astype(dtype)
    nn.init.manual_seed(2)
    b = MnistCNN().astype(dtype)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(dtype)
    assert not np.allclose(a(x), b(x))
    sd = a.state_dict()
    assert list(sd) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert sd["fc1.weight"].shape == (128, 3136) and sd["conv2.weight"].shape == (64, 32, 3, 3)
    sd["conv1.weight"][...] = 0  # a copy: changing it leaves the model alone
    assert np.any(a.conv1.weight.data != 0)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x), b(x))
    assert b.conv1.weight.dtype == dtype

    path = tmp_path / "weights.npz"
    a.save(path)
    nn.init.manual_seed(3)
    c = MnistCNN().astype(dtype)
    c.load(path)
    np.testing.assert_array_equal(a(x), c(x))
    with np.load(path) as f:
        assert sorted(f.files) == sorted(sd)


def test_load_state_dict_errors():
    m = SimpleCNN()
    sd = m.state_dict()
    bad = dict(sd)
    del bad["fc.bias"]
    bad["extra.weight"] = np.zeros(3)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "fc.bias"') as e:
        m.load_state_dict(bad)
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in str(e.value)
    missing, unexpected = m.load_state_dict(bad, strict=False)
    assert missing == ["fc.bias"] and unexpected == ["extra.weight"]
    wrong = dict(sd)
    wrong["fc.weight"] = np.zeros((10, 100), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc.weight: copying a param with shape \(10, 100\)"):
        m.load_state_dict(wrong)


# ---------------------------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------------------------
def test_use_backend_as_setting_and_context_manager():
    assert get_backend_name() == "c"
    assert fastconv.use_backend is use_backend
    with use_backend("numpy") as b:
        assert get_backend_name() == "numpy" and get_backend() is fastconv.reference and b.name == "numpy"
        with use_backend("c"):
            assert get_backend() is fastconv.functional
        assert get_backend_name() == "numpy"
    assert get_backend_name() == "c"
    try:
        use_backend("numpy")
        assert get_backend_name() == "numpy"
    finally:
        use_backend("c")
    with pytest.raises(ValueError, match="backend must be one of 'c', 'numpy'"):
        use_backend("cuda")
    with pytest.raises(RuntimeError):
        with use_backend("numpy"):
            raise RuntimeError("boom")
    assert get_backend_name() == "c"


def test_layers_follow_the_active_backend(monkeypatch):
    calls = []
    real = fastconv.reference.relu
    monkeypatch.setattr(fastconv.reference, "relu", lambda x: calls.append(1) or real(x))
    relu = nn.ReLU()
    relu(np.ones(3, np.float32))
    assert calls == []
    with use_backend("numpy"):
        relu(np.ones(3, np.float32))
    assert calls == [1]


def test_backends_give_the_same_model_results(dtype):
    nn.init.manual_seed(4)
    model = MnistCNN().astype(dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 28, 28)).astype(dtype)
    target = np.array([1, 5, 9])
    loss = nn.CrossEntropyLoss()
    out = {}
    for name in ("c", "numpy"):
        with use_backend(name):
            model.zero_grad()
            logits = model(x)
            value = loss(logits, target)
            model.backward(loss.backward())
            out[name] = [logits, value] + [p.grad for p in model.parameters()]
    # compare in the tolerance of the dtype; float32 sums of thousands of terms get a float64 oracle
    # only through the reference backend, so compare against the float64 model instead there
    if dtype == np.float64:
        for a, b in zip(out["c"], out["numpy"]):
            assert_close(a, b, dtype)
    else:
        model.double()
        with use_backend("numpy"):
            model.zero_grad()
            logits = model(x.astype(np.float64))
            value = loss(logits, target)
            model.backward(loss.backward())
            ref = [logits, value] + [p.grad for p in model.parameters()]
        for name in ("c", "numpy"):
            for a, b in zip(out[name], ref):
                scale = np.max(np.abs(b)) if np.size(b) else 1.0
                np.testing.assert_allclose(a, b, rtol=tolerance(dtype)["rtol"],
                                           atol=tolerance(dtype)["atol"] * max(1.0, scale))


# ---------------------------------------------------------------------------------------------
# torch weight import
# ---------------------------------------------------------------------------------------------
def _torch_mnist(torch):
    tnn = torch.nn

    class TorchMnist(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = tnn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = tnn.Linear(3136, 128)
            self.fc2 = tnn.Linear(128, 10)

        def forward(self, x):
            f = torch.nn.functional
            x = f.max_pool2d(f.relu(self.conv1(x)), 2)
            x = f.max_pool2d(f.relu(self.conv2(x)), 2)
            return self.fc2(f.relu(self.fc1(x.flatten(1))))

    return TorchMnist()


def test_torch_state_dict_loads_and_gives_the_same_logits_and_grads(dtype, backend):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = _torch_mnist(torch).to(getattr(torch, dtype.name))
    model = MnistCNN().astype(dtype)
    model.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(dtype)
    target = np.array([3, 1, 4, 1])
    tx = torch.from_numpy(x)
    tlogits = tm(tx)
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.from_numpy(target))
    tloss.backward()
    loss = nn.CrossEntropyLoss()
    logits = model(x)
    value = loss(logits, target)
    model.backward(loss.backward())
    tol = tolerance(dtype)
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), **tol)
    np.testing.assert_allclose(value, tloss.item(), **tol)
    for (name, p), (tname, tp) in zip(model.named_parameters(), tm.named_parameters()):
        assert name == tname
        g = tp.grad.numpy()
        np.testing.assert_allclose(p.grad, g, rtol=tol["rtol"], atol=tol["atol"] * max(1.0, np.abs(g).max()),
                                   err_msg=name)


def test_torch_sequential_keys_load():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    ts = tnn.Sequential(tnn.Conv2d(1, 4, 3), tnn.ReLU(), tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(4, 2))
    s = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    s.load_state_dict({k: v.detach().numpy() for k, v in ts.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 1, 6, 6)).astype(np.float32)
    assert_close(s(x), ts(torch.from_numpy(x)).detach().numpy(), np.float32)


# ---------------------------------------------------------------------------------------------
# initialisation
# ---------------------------------------------------------------------------------------------
def test_default_init_matches_pytorch_distribution():
    nn.init.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3)
    fan_in = 64 * 9
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform with a=sqrt(5) gives 1/sqrt(fan_in)
    w = conv.weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert abs(w.mean()) < 0.01 * bound
    b = conv.bias.data
    assert np.abs(b).max() <= bound
    lin = nn.Linear(1000, 300)
    assert np.abs(lin.weight.data).max() <= 1 / math.sqrt(1000)
    assert np.abs(lin.bias.data).max() <= 1 / math.sqrt(1000)
    assert np.abs(lin.bias.data).max() > 0.9 / math.sqrt(1000)


def test_init_functions():
    init = nn.init
    g = np.random.default_rng(0)
    a = np.empty((200, 300))
    init.kaiming_uniform_(a, generator=g)  # a=0, leaky_relu -> gain sqrt(2)
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    init.kaiming_normal_(a, mode="fan_out", nonlinearity="relu", generator=g)
    assert abs(a.std() - math.sqrt(2 / 200)) < 0.02 * math.sqrt(2 / 200)
    init.xavier_uniform_(a, gain=2.0, generator=g)
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    init.xavier_normal_(a, generator=g)
    assert abs(a.std() - math.sqrt(2 / 500)) < 0.02 * math.sqrt(2 / 500)
    p = nn.Parameter(np.empty((4, 5, 3, 3)))
    assert init.zeros_(p) is p and np.all(p.data == 0)
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(2 / 6)
    with pytest.raises(ValueError, match="Fan in and fan out"):
        init.xavier_uniform_(np.empty(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    init.manual_seed(42)
    first = nn.Linear(3, 3).weight.data.copy()
    init.manual_seed(42)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.data, first)


# ---------------------------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------------------------
SUMMARY_FIGURES = [
    (MnistCNN, (1, 28, 28), {"conv1": 320, "conv2": 18496, "fc1": 401536, "fc2": 1290}, 421642, 0,
     (None, 10)),
    (CifarCNN, (3, 32, 32), {"conv1": 896, "conv2": 18496, "fc1": 524416, "fc2": 1290}, 545098, 0,
     (None, 10)),
    (SimpleCNN, (1, 28, 28), {"conv": 320, "fc": 54090}, 54410, 0, (None, 10)),
    (EdgePipeline, (1, 300, 300), {"conv": 9, "fc": 1440064}, 1440073, 9, (None, 64)),
]


@pytest.mark.parametrize("cls,shape,params,total,fixed,out", SUMMARY_FIGURES, ids=lambda v: getattr(v, "__name__", ""))
def test_summary_figures(cls, shape, params, total, fixed, out):
    model = cls()
    buf = io.StringIO()
    rows = nn.summary(model, shape, batch_size=64, file=buf)
    text = buf.getvalue()
    assert {r["name"]: r["params"] for r in rows if r["params"]} == params
    assert rows.total_params == total and rows.non_trainable_params == fixed
    assert rows.trainable_params == total - fixed
    assert rows[-1]["output_shape"] == out
    assert "Total params: {:,}".format(total) in text
    assert "Non-trainable params: {:,}".format(fixed) in text
    for name, n in params.items():
        line = next(l for l in text.splitlines() if l.startswith(name + " ("))
        assert line.rstrip().endswith("{:,}".format(n))
    expected_act = sum(int(np.prod(r["output_shape"][1:])) for r in rows) * 64 * 4
    assert rows.activation_bytes == expected_act
    assert "Activation memory (batch 64, float32): %.2f MB" % (expected_act / 2 ** 20) in text
    assert model.training  # the summary restores the mode


def test_summary_rows_of_the_mnist_network():
    rows = nn.summary(MnistCNN(), (1, 28, 28), print_summary=False)
    assert [(r["name"], r["type"], r["output_shape"]) for r in rows] == [
        ("conv1", "Conv2d", (None, 32, 28, 28)), ("relu1", "ReLU", (None, 32, 28, 28)),
        ("pool1", "MaxPool2d", (None, 32, 14, 14)), ("conv2", "Conv2d", (None, 64, 14, 14)),
        ("relu2", "ReLU", (None, 64, 14, 14)), ("pool2", "MaxPool2d", (None, 64, 7, 7)),
        ("flatten", "Flatten", (None, 3136)), ("fc1", "Linear", (None, 128)), ("relu3", "ReLU", (None, 128)),
        ("fc2", "Linear", (None, 10))]
    # activations of one image: 2*25088 + 6272 + 2*12544 + 3136 + 3136 + 2*128 + 10, float32, batch 64
    assert rows.activation_bytes == (2 * 25088 + 6272 + 2 * 12544 + 3136 + 3136 + 256 + 10) * 4 * 64
