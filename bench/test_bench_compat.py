"""Benchmarks of the CS231n drop-in (fastconv.compat.cs231n) at the shapes CS231n users time.

- conv:     x (100, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1 (conv_forward_fast /
            conv_backward_fast);
- max pool: x (100, 3, 32, 32), 2x2 windows, stride 2 (max_pool_forward_fast /
            max_pool_backward_fast).

Each benchmark group holds the same compat call on fastconv's C kernels ("fastconv") and on the
NumPy reference backend ("numpy-reference", selected with fastconv.use_backend), so the
table shows the speed-up of one over the other.  Run:

    python -m pytest bench/test_bench_compat.py --benchmark-only --benchmark-group-by=group \
        --benchmark-columns=min,median,mean,rounds

Under ``--benchmark-disable`` every case runs once as a correctness smoke test: the outputs of
both backends must agree (exactly for pooling; for conv within the tolerances of
tests/conftest.py, float32 results against the other backend evaluated in float64).
"""
import numpy as np
import pytest

from fastconv import use_backend
from fastconv.compat import cs231n as C

from .benchutil import TEST_CONFIG

tolerance = TEST_CONFIG.tolerance

CONV_X, CONV_W, CONV_PARAM = (100, 3, 31, 31), (25, 3, 3, 3), {"stride": 2, "pad": 1}
POOL_X, POOL_PARAM = (100, 3, 32, 32), {"pool_height": 2, "pool_width": 2, "stride": 2}
CONV_OUT, POOL_OUT = (100, 25, 16, 16), (100, 3, 16, 16)
CONV_SHAPE = "x(100,3,31,31) w(25,3,3,3) s2 p1"
POOL_SHAPE = "x(100,3,32,32) 2x2 s2"

BACKENDS = [pytest.param("c", id="fastconv"), pytest.param("numpy", id="numpy-reference")]
DTYPES = [pytest.param(np.dtype(np.float64), id="float64"),
          pytest.param(np.dtype(np.float32), id="float32")]


def _other(backend):
    return "numpy" if backend == "c" else "c"


def _bench(benchmark, backend, group, fn, *args):
    """Time fn(*args) on `backend` and return its result."""
    benchmark.group = group
    benchmark.extra_info["backend"] = backend
    with use_backend(backend):
        fn(*args)  # warm-up: the first call pays the page faults of fresh outputs
        return benchmark(fn, *args)


def _as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


def _assert_close_to(result, expected, dtype):
    """float32 results are compared with the other backend evaluated in float64, as in
    tests/ (two float32 sums of 25,600 terms differ from each other by more than either
    differs from the exact value)."""
    result, expected = _as_tuple(result), _as_tuple(expected)
    assert len(result) == len(expected)
    for a, e in zip(result, expected):
        assert a.dtype == dtype and a.shape == e.shape
        np.testing.assert_allclose(a, e.astype(dtype), **tolerance(dtype))


def _conv_inputs(dtype):
    """O(1) data, as the tolerances of tests/conftest.py assume: x, w, b standard normal and
    dout scaled like the gradient of a loss averaged over the batch, so that dw stays O(1)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(CONV_X)
    w = rng.standard_normal(CONV_W)
    b = rng.standard_normal(CONV_W[0])
    dout = rng.standard_normal(CONV_OUT) / np.sqrt(CONV_OUT[0] * CONV_OUT[2] * CONV_OUT[3])
    return [a.astype(dtype) for a in (x, w, b, dout)]


def _pool_inputs(dtype):
    rng = np.random.default_rng(1)
    return rng.standard_normal(POOL_X).astype(dtype), rng.standard_normal(POOL_OUT).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_forward_fast(benchmark, backend, dtype):
    x, w, b, _ = _conv_inputs(dtype)
    out, cache = _bench(benchmark, backend, f"conv forward {dtype} {CONV_SHAPE}",
                        C.conv_forward_fast, x, w, b, CONV_PARAM)
    assert out.shape == CONV_OUT and cache[0] is x and cache[1] is w
    x64, w64, b64, _ = _conv_inputs(np.float64)
    with use_backend(_other(backend)):
        expected, _ = C.conv_forward_fast(x64, w64, b64, CONV_PARAM)
    _assert_close_to(out, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_backward_fast(benchmark, backend, dtype):
    x, w, b, dout = _conv_inputs(dtype)
    with use_backend(backend):
        _, cache = C.conv_forward_fast(x, w, b, CONV_PARAM)
    grads = _bench(benchmark, backend, f"conv backward {dtype} {CONV_SHAPE}",
                   C.conv_backward_fast, dout, cache)
    assert [g.shape for g in grads] == [x.shape, w.shape, b.shape]
    x64, w64, b64, dout64 = _conv_inputs(np.float64)
    with use_backend(_other(backend)):
        _, cache64 = C.conv_forward_fast(x64, w64, b64, CONV_PARAM)
        expected = C.conv_backward_fast(dout64, cache64)
    _assert_close_to(grads, expected, dtype)


# Max pooling does no arithmetic on the values (the backward scatters into disjoint 2x2
# windows), so both backends must agree exactly, indices included.

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_forward_fast(benchmark, backend, dtype):
    x, _ = _pool_inputs(dtype)
    out, cache = _bench(benchmark, backend, f"max pool forward {dtype} {POOL_SHAPE}",
                        C.max_pool_forward_fast, x, POOL_PARAM)
    assert out.shape == POOL_OUT and out.dtype == dtype
    with use_backend(_other(backend)):
        out2, cache2 = C.max_pool_forward_fast(x, POOL_PARAM)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(cache.indices, cache2.indices)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_backward_fast(benchmark, backend, dtype):
    x, dout = _pool_inputs(dtype)
    with use_backend(backend):
        _, cache = C.max_pool_forward_fast(x, POOL_PARAM)
    dx = _bench(benchmark, backend, f"max pool backward {dtype} {POOL_SHAPE}",
                C.max_pool_backward_fast, dout, cache)
    assert dx.shape == x.shape and dx.dtype == dtype
    with use_backend(_other(backend)):
        dx2 = C.max_pool_backward_fast(dout, cache)
    np.testing.assert_array_equal(dx, dx2)
    assert np.count_nonzero(dx) == dout.size  # one element per window gets the gradient


# The assignment's ThreeLayerConvNet at its default sizes: batch 50 of (3, 32, 32) images,
# 32 filters 7x7 (pad 3), 2x2 max pool, 100 hidden units, 10 classes; one loss-and-gradients
# evaluation (forward and backward), exactly the calls of the assignment's model.

def _convnet_inputs(dtype):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 3, 32, 32)).astype(dtype)
    y = rng.integers(0, 10, size=50)
    p = {"W1": 1e-2 * rng.standard_normal((32, 3, 7, 7)), "b1": np.zeros(32),
         "W2": 1e-2 * rng.standard_normal((32 * 16 * 16, 100)), "b2": np.zeros(100),
         "W3": 1e-2 * rng.standard_normal((100, 10)), "b3": np.zeros(10)}
    return X, y, {k: v.astype(dtype) for k, v in p.items()}


def _convnet_loss(X, y, p):
    conv_param = {"stride": 1, "pad": 3}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out1, cache1 = C.conv_relu_pool_forward(X, p["W1"], p["b1"], conv_param, pool_param)
    out2, cache2 = C.affine_relu_forward(out1, p["W2"], p["b2"])
    scores, cache3 = C.affine_forward(out2, p["W3"], p["b3"])
    loss, dscores = C.softmax_loss(scores, y)
    dout2, dW3, db3 = C.affine_backward(dscores, cache3)
    dout1, dW2, db2 = C.affine_relu_backward(dout2, cache2)
    _, dW1, db1 = C.conv_relu_pool_backward(dout1, cache1)
    return np.asarray(loss), dW1, db1, dW2, db2, dW3, db3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_three_layer_convnet_loss_and_grads(benchmark, backend, dtype):
    X, y, p = _convnet_inputs(dtype)
    result = _bench(benchmark, backend,
                    f"ThreeLayerConvNet loss+grads {dtype} N=50 3x32x32 32@7x7 h100",
                    _convnet_loss, X, y, p)
    assert abs(float(result[0]) - np.log(10)) < 0.1
    X64, y64, p64 = _convnet_inputs(np.float64)
    with use_backend(_other(backend)):
        expected = _convnet_loss(X64, y64, p64)
    _assert_close_to(result, expected, dtype)
