"""A typed program that uses the public API of every fastconv module, as a user would.

tests/test_typing.py checks it with ``mypy --strict`` against the installed package (its
annotations, py.typed and stubs), with no ``type: ignore`` anywhere, and runs it.  When a public
function or module is added, use it here too.
"""
from __future__ import annotations

import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

import numpy as np
from numpy.typing import NDArray

import fastconv
import fastconv.functional as F
import fastconv.reference as R
from fastconv import backend, datasets, models, nn, optim
from fastconv.compat import cs231n, dlfs
from fastconv.nn import init

if TYPE_CHECKING:
    from typing_extensions import assert_type
else:
    def assert_type(value, expected_type):
        return value

Floats = NDArray[np.floating[Any]]


def functional_tour(rng: np.random.Generator) -> Dict[str, Floats]:
    """README's tour of the functional API, forward and backward, on both backends."""
    x = rng.standard_normal((2, 1, 8, 8), dtype=np.float32)
    w = rng.standard_normal((4, 1, 3, 3), dtype=np.float32) * 0.1
    b = np.zeros(4, np.float32)
    y = F.conv2d(x, w, b, padding=1)
    h = F.relu(y)
    p, idx = F.max_pool2d(h, 2, return_indices=True)
    assert_type(idx, NDArray[np.int64])
    pooled = F.max_pool2d(h, (2, 2), stride=2)
    assert_type(pooled, Floats)
    w2 = rng.standard_normal((3, 4 * 4 * 4), dtype=np.float32) * 0.1
    logits = F.linear(p.reshape(2, -1), w2)
    target = np.array([0, 2])
    loss = F.cross_entropy(logits, target, label_smoothing=0.1)
    g_logits = F.cross_entropy_backward(logits, target, label_smoothing=0.1)
    g_p, g_w2, g_b2 = F.linear_backward(g_logits, p.reshape(2, -1), w2)
    g_h = F.max_pool2d_backward(g_p.reshape(p.shape), idx, h.shape)
    g_y = F.relu_backward(g_h, h)
    g_x, g_w, g_b = F.conv2d_backward(g_y, x, w, padding=1, output_mask=(False, True, True))
    assert g_x is None and g_w.shape == w.shape and g_b.shape == b.shape

    a = F.avg_pool2d(x, 2, count_include_pad=False)
    g_a = F.avg_pool2d_backward(np.ones_like(a), x.shape, 2, count_include_pad=False)
    gap = F.global_avg_pool2d(x)
    g_gap = F.global_avg_pool2d_backward(np.ones_like(gap), x.shape)
    probs = F.softmax(logits, axis=1)
    log_probs = F.log_softmax(logits)
    shape: Tuple[int, int, int, int] = F.conv2d_output_shape(x.shape, w.shape, padding="same")
    assert shape == y.shape == fastconv.conv2d_output_shape(x.shape, w.shape, padding=1)
    assert F.pool2d_output_shape(y.shape, 2) == p.shape == fastconv.pool2d_output_shape(y.shape, 2)

    # the NumPy reference: the same functions, signatures and results
    assert np.allclose(R.conv2d(x, w, b, padding=1), y, atol=1e-5)
    r_p, r_idx = R.max_pool2d(R.relu(y), 2, return_indices=True)
    assert np.array_equal(r_idx, idx)
    assert np.allclose(R.cross_entropy(logits, target, label_smoothing=0.1), loss)
    r_gx, r_gw, r_gb = R.conv2d_backward(g_y, x, w, padding=1)
    assert np.allclose(r_gw, g_w, atol=1e-4) and np.allclose(r_gb, g_b, atol=1e-4)
    return {"loss": loss, "grad_input": g_a + g_gap.sum(), "probs": probs + np.exp(log_probs),
            "grad_bias": g_b2}


class TinyCNN(nn.Module):
    """A model written against fastconv.nn: conv, relu, pool, flatten, linear; its backward is
    its forward read backwards."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 4 * 4, classes)

    def forward(self, x: Floats) -> Floats:
        h: Floats = self.pool(self.relu(self.conv(x)))
        return self.fc.forward(self.flatten.forward(h))

    def backward(self, grad_output: Floats) -> Floats:
        g = self.flatten.backward(self.fc.backward(grad_output))
        return self.conv.backward(self.relu.backward(self.pool.backward(g)))


def train_tiny(rng: np.random.Generator, folder: str) -> List[float]:
    """A few Adam steps on TinyCNN, then an SGD step on a Sequential, both backends."""
    init.manual_seed(0)
    model = TinyCNN()
    init.kaiming_normal_(model.conv.weight, nonlinearity="relu")
    if model.fc.bias is not None:
        init.zeros_(model.fc.bias)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    losses: List[float] = []
    for _ in range(3):
        loss = loss_fn(model(x), y)
        model.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
        losses.append(float(loss))
    with fastconv.use_backend("numpy"):
        assert backend.get_backend_name() == "numpy" and backend.get_backend() is R
        logits_np: Floats = model.eval()(x)
    assert backend.get_backend_name() == "c"
    assert np.allclose(logits_np, model(x), atol=1e-4)

    path = os.path.join(folder, "tiny.npz")
    model.save(path)
    missing, unexpected = TinyCNN().load(path)
    assert not missing and not unexpected
    state = model.state_dict()
    assert list(state) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]

    seq = nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.ReLU(), nn.Dropout(0.1),
                        nn.Identity())
    sgd = optim.SGD(seq.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    out: Floats = seq(x)
    seq.backward(np.ones_like(out))
    sgd.step()
    sgd.zero_grad()
    rows = nn.summary(model, (1, 8, 8), batch_size=6, print_summary=False)
    assert rows.total_params == sum(p.size for p in model.parameters())
    gap = nn.Sequential(nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1))
    assert gap(x).shape == (6, 1, 1, 1)
    return losses


def seed_models() -> int:
    total = 0
    for name, cls in models.MODELS.items():
        model = models.get_model(name)
        assert isinstance(model, cls)
        total += sum(p.size for p in model.parameters())
    simple = models.SimpleCNN(num_classes=10)
    edges = models.EdgePipeline(out_features=8)
    stages = edges.stages(np.zeros((1,) + edges.input_shape, np.float32))
    assert [name for name, _ in stages] == ["input", "conv", "relu", "pool", "flatten", "fc"]
    assert models.LAPLACIAN.shape == (3, 3) and simple.input_shape == (1, 28, 28)
    return total


def course_layers(rng: np.random.Generator) -> float:
    """The CS231n functions and the "Deep Learning from Scratch" classes."""
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    b = np.zeros(4)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = cs231n.conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    dx, dw, db = cs231n.conv_relu_pool_backward(np.ones_like(out), cache)
    a, a_cache = cs231n.affine_relu_forward(out, rng.standard_normal((64, 5)), np.zeros(5))
    loss, dscores = cs231n.softmax_loss(a, np.array([1, 4]))
    svm, _ = cs231n.svm_loss(a, np.array([1, 4]))
    da, dwa, dba = cs231n.affine_relu_backward(dscores, a_cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert da.shape == out.shape and dwa.shape == (64, 5) and dba.shape == (5,)

    conv = dlfs.Convolution(w, b, stride=1, pad=1)
    relu = dlfs.Relu()
    pool = dlfs.Pooling(2, 2, stride=2)
    fc = dlfs.Affine(rng.standard_normal((64, 5)), np.zeros(5))
    last = dlfs.SoftmaxWithLoss()
    book_loss = last.forward(fc.forward(pool.forward(relu.forward(conv.forward(x)))),
                             np.array([1, 4]))
    grad = conv.backward(relu.backward(pool.backward(fc.backward(last.backward()))))
    assert grad.shape == x.shape and conv.dW is not None and conv.dW.shape == w.shape
    return float(loss) + float(svm) + float(book_loss)


def read_data(folder: str) -> Tuple[int, ...]:
    """An IDX file written by hand and read back; the bundled MNIST digits when present."""
    labels = np.arange(10, dtype=np.uint8)
    path = os.path.join(folder, "labels-idx1-ubyte")
    with open(path, "wb") as fh:
        fh.write(bytes([0, 0, 0x08, 1]) + (10).to_bytes(4, "big") + labels.tobytes())
    assert np.array_equal(datasets.read_idx(path), labels)
    assert 0 < datasets.MNIST_MEAN < datasets.MNIST_STD < 1
    if datasets.mnist_5k_path() is None or "--mnist" not in sys.argv:
        return tuple(labels.shape)
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(test_size=1000)
    return tuple(x_train.shape) + tuple(y_test.shape)


def main() -> int:
    rng = np.random.default_rng(0)
    fastconv.set_num_threads(fastconv.get_num_threads())
    fastconv.set_workspace_limit(max(fastconv.get_workspace_limit(), 1 << 20))
    assert fastconv.__version__
    results = functional_tour(rng)
    with tempfile.TemporaryDirectory() as folder:
        losses = train_tiny(rng, folder)
        shape = read_data(folder)
    total = seed_models() + course_layers(rng)
    print(f"fastconv {fastconv.__version__}: loss {float(results['loss']):.3f}, "
          f"training losses {losses}, {total:.0f}, data {shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
