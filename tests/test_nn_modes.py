"""What forwards keep for backward (training, eval, no_grad, enable_grad), pickling a used model,
manual_seed, flat parameter vectors and per-thread kernel thread counts."""
import copy
import pickle
import threading

import numpy as np
import pytest

import fastconv
from fastconv import nn, optim
from fastconv.models import MnistCNN
from fastconv.nn.utils import parameters_to_vector, vector_to_parameters

# Every layer of fastconv.nn with an input it accepts. A new layer must be added here: the tests
# below check that it keeps nothing in eval mode and pickles without what it kept.
LAYERS = {
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), (4, 2, 8, 8)),
    "Linear": (lambda: nn.Linear(6, 5), (4, 3, 6)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (4, 2, 8, 8)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (4, 2, 8, 8)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(1), (4, 2, 8, 8)),
    "ReLU": (lambda: nn.ReLU(), (4, 2, 8, 8)),
    "Flatten": (lambda: nn.Flatten(), (4, 2, 8, 8)),
    "Dropout": (lambda: nn.Dropout(0.5), (4, 2, 8, 8)),
    "Identity": (lambda: nn.Identity(), (4, 2, 8, 8)),
    "Sequential": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(108, 4)),
                   (4, 2, 8, 8)),
    # fused blocks: conv + relu + pool and linear + relu (their state is kept by the head layer)
    "Sequential(fused)": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                                nn.Flatten(), nn.Linear(48, 5), nn.ReLU()), (4, 2, 8, 8)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(6), (4, 6)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (4, 2, 8, 8)),
    "LayerNorm": (lambda: nn.LayerNorm((8, 8)), (4, 2, 8, 8)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (4, 4, 8, 8)),
    "Sigmoid": (lambda: nn.Sigmoid(), (4, 2, 8, 8)),
    "Tanh": (lambda: nn.Tanh(), (4, 2, 8, 8)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), (4, 2, 8, 8)),
}


def _held_bytes(obj, seen=None):
    """Bytes of the arrays a module holds besides its parameters and buffers (children included)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, nn.Module):
        total = sum(_held_bytes(v, seen) for k, v in obj.__dict__.items()
                    if k not in ("_parameters", "_buffers", "_modules"))
        return total + sum(_held_bytes(m, seen) for m in obj._modules.values())
    if isinstance(obj, dict):
        return sum(_held_bytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_held_bytes(v, seen) for v in obj)
    return 0


def test_the_layer_table_covers_every_layer():
    exported = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
                and issubclass(getattr(nn, name), nn.Module) and name not in ("Module", "CrossEntropyLoss")}
    assert exported <= set(LAYERS), "add these layers to LAYERS: %s" % sorted(exported - set(LAYERS))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_eval_and_no_grad_forwards_keep_nothing(name):
    make, shape = LAYERS[name]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    layer = make()
    y = layer(x)
    layer.backward(np.ones_like(y))  # training mode: works
    for mode in ("eval", "no_grad"):
        layer = make()
        layer(x)  # a training forward first: the one after it must drop what this one kept
        if mode == "eval":
            y2 = layer.eval()(x)
        else:
            with nn.no_grad():
                y2 = layer(x)
        assert _held_bytes(layer) == 0, mode
        assert y2.shape == y.shape
        if name != "Identity":  # Identity keeps nothing ever, so its backward always works
            with pytest.raises(RuntimeError, match="eval mode" if mode == "eval" else "no_grad"):
                layer.backward(np.ones_like(y2))
    with nn.enable_grad():  # eval mode, but asked to keep: backward works
        layer = make().eval()
        layer.backward(np.ones_like(layer(x)))


def test_grad_modes_nest_decorate_and_are_per_thread():
    x = np.ones((2, 6), np.float32)
    fc = nn.Linear(6, 2)

    @nn.no_grad()
    def infer(v):
        return fc(v)

    infer(x)
    with pytest.raises(RuntimeError, match="no_grad"):
        fc.backward(np.ones((2, 2), np.float32))
    with nn.no_grad():
        with nn.enable_grad():
            fc(x)
        fc.backward(np.ones((2, 2), np.float32))  # kept inside enable_grad
        seen = []
        other = nn.Linear(6, 2)
        t = threading.Thread(target=lambda: (other(x), seen.append(_held_bytes(other))))
        t.start()
        t.join()
        assert seen[0] > 0  # no_grad in this thread leaves other threads alone
        fc(x)
        assert _held_bytes(fc) == 0
    fc(x)  # back to the default: training mode keeps
    assert _held_bytes(fc) > 0


def test_a_used_model_pickles_like_a_fresh_one():
    fastconv.manual_seed(0)
    model = MnistCNN().double()
    fresh = len(pickle.dumps(model))
    x = np.random.default_rng(0).standard_normal((64, 1, 28, 28))
    y = np.arange(64) % 10
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters())
    loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    opt.step()
    model(x)  # what this forward keeps (activations of 64 images, more than the weights: the
    # fused blocks keep their inputs and pooled outputs, not the full-resolution activations)...
    assert _held_bytes(model) > 2 * fresh
    used = len(pickle.dumps(model))  # ...and the gradients are not pickled
    assert used <= 1.1 * fresh, (used, fresh)
    assert _held_bytes(model) > 2 * fresh  # pickling leaves the original as it was
    model.backward(np.ones((64, 10)))
    clone = pickle.loads(pickle.dumps(model))
    with pytest.raises(RuntimeError, match="pickled or copied"):
        copy.deepcopy(model).fc2.backward(np.ones((64, 10)))
    model.fc2.backward(np.ones((64, 10)))  # the original still has its last forward
    np.testing.assert_array_equal(clone.eval()(x), model.eval()(x))
    assert all(p.grad is None for p in clone.parameters())
    clone.train()
    clone.backward(np.ones_like(clone(x)))  # a copy trains after a forward of its own
    assert clone.fc1.weight.grad.shape == (128, 3136)


def test_manual_seed_repeats_weights_and_dropout():
    def run():
        gen = fastconv.manual_seed(7)
        assert gen is nn.init.get_generator()
        w = MnistCNN().fc1.weight.data.copy()
        return w, nn.Dropout(0.5)(np.ones((8, 8), np.float32))

    (w1, d1), (w2, d2) = run(), run()
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(d1, d2)
    fastconv.manual_seed(8)
    assert not np.array_equal(MnistCNN().fc1.weight.data, w1)
    for bad, err in ((-1, ValueError), (1.5, TypeError), (True, TypeError), ("3", TypeError)):
        with pytest.raises(err, match="seed"):
            fastconv.manual_seed(bad)


def test_parameters_to_vector_round_trip():
    fastconv.manual_seed(1)
    model = MnistCNN()
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (421642,) and vec.dtype == np.float32
    np.testing.assert_array_equal(vec[:288], model.conv1.weight.data.ravel())
    np.testing.assert_array_equal(vec[-10:], model.fc2.bias.data)
    vec[0] = 123.0  # a copy, not a view
    assert model.conv1.weight.data.flat[0] != 123.0
    other = MnistCNN()
    before = other.conv1.weight.data
    vector_to_parameters(vec.astype(np.float64), other.parameters())
    assert other.conv1.weight.data is before and before.dtype == np.float32  # in place, dtype kept
    np.testing.assert_array_equal(parameters_to_vector(other.parameters()), vec)
    with pytest.raises(ValueError, match="421641 elements, but the parameters have 421642"):
        vector_to_parameters(vec[1:], other.parameters())
    with pytest.raises(ValueError, match="1-D"):
        vector_to_parameters(vec.reshape(2, -1), other.parameters())
    with pytest.raises(TypeError, match="NumPy array"):
        vector_to_parameters(list(vec), other.parameters())
    with pytest.raises(TypeError, match="item 0 is ndarray"):
        parameters_to_vector([vec])
    mixed = [nn.Parameter(np.ones(2, np.float32)), nn.Parameter(np.ones(2))]
    with pytest.raises(TypeError, match="different dtypes"):
        parameters_to_vector(mixed)


def test_local_num_threads_applies_to_this_thread_only():
    fastconv.set_num_threads(2)
    try:
        x = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
        w = np.random.default_rng(1).standard_normal((8, 3, 3, 3)).astype(np.float32)
        expected = fastconv.functional.conv2d(x, w)
        seen = []
        with fastconv.local_num_threads(1):
            assert fastconv.get_num_threads() == 1
            with fastconv.local_num_threads(3):
                assert fastconv.get_num_threads() == 3
            assert fastconv.get_num_threads() == 1
            t = threading.Thread(target=lambda: seen.append(fastconv.get_num_threads()))
            t.start()
            t.join()
            got = fastconv.functional.conv2d(x, w)
        assert seen == [2] and fastconv.get_num_threads() == 2
        np.testing.assert_array_equal(got, expected)
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="n must be"):
                fastconv.local_num_threads(bad)
    finally:
        fastconv.set_num_threads(fastconv._default_num_threads())
