"""Fused layers in fastconv.nn: Sequential and the seed models run Conv2d -> ReLU [-> MaxPool2d]
and Linear -> ReLU as blocks, with the results, gradients and state_dict keys of the layers run
one by one; nn.fuse for a Module of one's own."""
import numpy as np
import pytest

import fastconv
from fastconv import models, nn
from conftest import assert_close


def _net():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))


def _grads(model):
    return {name: p.grad.copy() for name, p in model.named_parameters() if p.grad is not None}


def _step(model, x, gy):
    model.zero_grad()
    y = model(x)
    gx = model.backward(gy)
    return y, gx, _grads(model)


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_sequential_fuses_with_the_results_of_the_layers(dtype, backend, rng):
    fastconv.manual_seed(0)
    net = _net()
    for p in net.parameters():
        p.data = p.data.astype(dtype)
    x = rng.standard_normal((6, 1, 28, 28)).astype(dtype)
    gy = rng.standard_normal((6, 10)).astype(dtype)
    with fastconv.use_backend(backend):
        fused = _step(net, x, gy)
        steps = net._steps()
        assert [type(s).__name__ for s in steps] == ["ConvBlock", "ConvBlock", "Flatten",
                                                      "LinearBlock", "Linear"]
        net.fuse = False
        plain = _step(net, x, gy)
        assert all(isinstance(s, nn.Module) for s in net._steps())
    for a, b in zip(fused[:2], plain[:2]):
        assert_close(a, b, dtype)
    assert fused[2].keys() == plain[2].keys() == {k for k in net.state_dict()}
    for k in fused[2]:
        assert_close(fused[2][k], plain[2][k], dtype, err_msg=k)


def test_sequential_fuses_only_what_fuses():
    pool_pad = nn.MaxPool2d(2, padding=1)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), pool_pad,        # padded pool: conv+relu only
                        nn.Conv2d(4, 4, 3), nn.MaxPool2d(2),            # no relu: nothing
                        nn.ReLU(), nn.Conv2d(4, 4, 1), nn.ReLU(), nn.MaxPool2d(3, stride=2))
    kinds = [type(s).__name__ for s in net._steps()]
    assert kinds == ["ConvBlock", "MaxPool2d", "Conv2d", "MaxPool2d", "ReLU", "ConvBlock",
                     "MaxPool2d"]
    assert not nn.fusable(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))
    assert not nn.fusable(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d((2, 3)))
    assert nn.fusable(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(3))
    with pytest.raises(ValueError, match="cannot fuse"):
        nn.fuse(nn.Conv2d(1, 1, 3), nn.ReLU(), pool_pad)
    with pytest.raises(ValueError, match="cannot fuse"):
        nn.fuse(nn.ReLU(), nn.Conv2d(1, 1, 3))
    x = np.random.default_rng(1).standard_normal((2, 1, 16, 16)).astype(np.float32)
    y = net(x)
    net.fuse = False
    np.testing.assert_array_equal(net(x), y)


@pytest.mark.parametrize("name", ["mnist", "simple", "cifar", "edges"])
def test_seed_models_fused_equal_their_layers_one_by_one(name, rng):
    fastconv.manual_seed(0)
    model = models.get_model(name)
    x = rng.standard_normal((3,) + tuple(model.input_shape)).astype(np.float32)
    gy = rng.standard_normal(model(x).shape).astype(np.float32)
    y, gx, grads = _step(model, x, gy)
    # the same layer objects, one at a time, in a Sequential that does not fuse
    seq = nn.Sequential(*model.children())
    seq.fuse = False
    y2, gx2, _ = _step(seq, x, gy)
    assert_close(y, y2, np.float32)
    assert_close(gx, gx2, np.float32)
    for k, p in model.named_parameters():
        assert (k in grads) == (p.grad is not None) == p.requires_grad
        if p.grad is not None:
            assert_close(grads[k], p.grad, np.float32, err_msg=k)
    # skipping the input gradient changes nothing else
    model.zero_grad()
    model(x)
    assert model.backward(gy, input_grad=False) is None
    for k, g in grads.items():
        assert_close(dict(model.named_parameters())[k].grad, g, np.float32, err_msg=k)


def test_user_module_with_fuse(rng):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(4 * 14 * 14, 10)
            self.block = nn.fuse(self.conv, self.relu, self.pool)

        def forward(self, x):
            return self.fc(self.block(x).reshape(len(x), -1))

        def backward(self, g):
            g = self.fc.backward(g).reshape(-1, 4, 14, 14)
            return self.block.backward(g)

    net = Net()
    assert list(net.state_dict()) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    x = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
    y = net(x)
    gx = net.backward(np.ones_like(y))
    z = net.pool(net.relu(net.conv(x)))
    assert_close(y, net.fc(z.reshape(2, -1)), np.float32)
    assert gx.shape == x.shape
    # in eval mode the block keeps nothing, and says so
    net.eval()
    net(x)
    with pytest.raises(RuntimeError, match="eval mode"):
        net.backward(np.ones_like(y))


def test_summary_still_sees_every_layer():
    rows = nn.summary(models.MnistCNN(), (1, 28, 28), print_summary=False)
    text = repr(list(rows))
    for layer in ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2"):
        assert "'%s'" % layer in text, layer
