"""Benchmarks of the CS231n drop-in (fastconv.compat.cs231n) at the shapes CS231n users time.

- conv:     x (100, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1 (conv_forward_fast /
            conv_backward_fast);
- max pool: x (100, 3, 32, 32), 2x2 windows, stride 2 (max_pool_forward_fast /
            max_pool_backward_fast).

Each benchmark group holds the same compat call on fastconv's C kernels ("fastconv") and on the
NumPy reference backend ("numpy-reference", selected with fastconv.backend.use_backend), so the
table shows the speed-up of one over the other.  Run:

    python -m pytest bench/test_bench_compat.py --benchmark-only --benchmark-group-by=group \
        --benchmark-columns=min,median,mean,rounds

Under ``--benchmark-disable`` every case runs once as a correctness smoke test: the outputs of
both backends must agree (tolerances of tests/conftest.py).
"""
import importlib.util
import pathlib

import numpy as np
import pytest

from fastconv.backend import use_backend
from fastconv.compat import cs231n as C


def _load_tolerances():
    path = pathlib.Path(__file__).resolve().parents[1] / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_fastconv_tests_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tolerance


tolerance = _load_tolerances()

CONV_X, CONV_W, CONV_PARAM = (100, 3, 31, 31), (25, 3, 3, 3), {"stride": 2, "pad": 1}
POOL_X, POOL_PARAM = (100, 3, 32, 32), {"pool_height": 2, "pool_width": 2, "stride": 2}
CONV_SHAPE = "x(100,3,31,31) w(25,3,3,3) s2 p1"
POOL_SHAPE = "x(100,3,32,32) 2x2 s2"

BACKENDS = [pytest.param("c", id="fastconv"), pytest.param("numpy", id="numpy-reference")]
DTYPES = [pytest.param(np.dtype(np.float64), id="float64"),
          pytest.param(np.dtype(np.float32), id="float32")]


def _other(backend):
    return "numpy" if backend == "c" else "c"


def _bench(benchmark, backend, group, fn, *args):
    """Time fn(*args) on `backend`; return its result and the other backend's result."""
    benchmark.group = group
    benchmark.extra_info["backend"] = backend
    with use_backend(backend):
        fn(*args)  # warm-up: the first call pays the page faults of fresh outputs
        result = benchmark(fn, *args)
    with use_backend(_other(backend)):
        other = fn(*args)
    return result, other


def _assert_same(result, other, dtype):
    result = result if isinstance(result, tuple) else (result,)
    other = other if isinstance(other, tuple) else (other,)
    assert len(result) == len(other)
    for a, b in zip(result, other):
        assert a.dtype == dtype and b.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, **tolerance(dtype))


def _conv_inputs(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(CONV_X).astype(dtype)
    w = rng.standard_normal(CONV_W).astype(dtype)
    b = rng.standard_normal(CONV_W[0]).astype(dtype)
    return x, w, b


def _pool_input(dtype):
    return np.random.default_rng(1).standard_normal(POOL_X).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_forward_fast(benchmark, backend, dtype):
    x, w, b = _conv_inputs(dtype)
    (out, cache), (out2, _) = _bench(benchmark, backend, f"conv forward {dtype} {CONV_SHAPE}",
                                     C.conv_forward_fast, x, w, b, CONV_PARAM)
    assert out.shape == (100, 25, 16, 16)
    _assert_same(out, out2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_backward_fast(benchmark, backend, dtype):
    x, w, b = _conv_inputs(dtype)
    with use_backend(backend):
        out, cache = C.conv_forward_fast(x, w, b, CONV_PARAM)
    dout = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)
    grads, grads2 = _bench(benchmark, backend, f"conv backward {dtype} {CONV_SHAPE}",
                           C.conv_backward_fast, dout, cache)
    assert [g.shape for g in grads] == [x.shape, w.shape, b.shape]
    _assert_same(grads, grads2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_forward_fast(benchmark, backend, dtype):
    x = _pool_input(dtype)
    (out, cache), (out2, cache2) = _bench(benchmark, backend,
                                          f"max pool forward {dtype} {POOL_SHAPE}",
                                          C.max_pool_forward_fast, x, POOL_PARAM)
    assert out.shape == (100, 3, 16, 16)
    _assert_same(out, out2, dtype)
    np.testing.assert_array_equal(cache.indices, cache2.indices)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_backward_fast(benchmark, backend, dtype):
    x = _pool_input(dtype)
    with use_backend(backend):
        out, cache = C.max_pool_forward_fast(x, POOL_PARAM)
    dout = np.random.default_rng(3).standard_normal(out.shape).astype(dtype)
    dx, dx2 = _bench(benchmark, backend, f"max pool backward {dtype} {POOL_SHAPE}",
                     C.max_pool_backward_fast, dout, cache)
    assert dx.shape == x.shape
    _assert_same(dx, dx2, dtype)
