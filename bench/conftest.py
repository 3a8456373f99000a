"""Configuration of the benchmark suite (``pytest bench --benchmark-only``).

- Every benchmark group is one op and shape (or one network's training step) and compares the
  backends side by side: fastconv (C), the NumPy reference and torch when importable.
- ``--bench-threads N`` sets the thread count of fastconv, numpy's BLAS (through threadpoolctl
  when installed) and torch alike (default: fastconv's default, the core count).
- ``--bench-batches 1,64,256`` picks the batch sizes of the per-layer groups and
  ``--bench-step-batches 64`` those of the training steps.
- Unless ``--benchmark-columns`` is given, the table shows min, median and max.
- Under ``--benchmark-disable`` each benchmarked call runs once and its outputs are checked
  against the NumPy reference evaluated in float64, with the tolerances of tests/conftest.py:
  a quick correctness smoke test.
"""
import importlib.util
import os

import pytest

from fastconv import _benchmarks as FB

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_test_config():
    """tests/conftest.py, loaded under its own name: the one place tolerances are set."""
    path = os.path.join(os.path.dirname(_HERE), "tests", "conftest.py")
    spec = importlib.util.spec_from_file_location("fastconv_tests_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TEST_CONFIG = _load_test_config()


def _int_list(text):
    return [int(v) for v in text.replace(",", " ").split()]


def pytest_addoption(parser):
    group = parser.getgroup("fastconv bench")
    group.addoption("--bench-threads", type=int, default=None,
                    help="threads for fastconv, numpy's BLAS and torch (default: core count)")
    group.addoption("--bench-batches", default="1,64,256",
                    help="batch sizes of the per-layer benchmarks (default: 1,64,256)")
    group.addoption("--bench-step-batches", default="64",
                    help="batch sizes of the training-step benchmarks (default: 64)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Medians with min and max unless the user chose the columns.  This runs before
    # pytest-benchmark reads its options.
    args = config.invocation_params.args
    if not any(str(a).startswith("--benchmark-columns") for a in args) and \
            hasattr(config.option, "benchmark_columns"):
        config.option.benchmark_columns = ["min", "median", "max", "rounds", "iterations"]


def pytest_generate_tests(metafunc):
    if "layer_case" in metafunc.fixturenames:
        batches = _int_list(metafunc.config.getoption("--bench-batches"))
        params, ids = [], []
        for case in FB.layer_cases(list(FB.NETWORKS), batches):
            for direction in ("fwd", "bwd"):
                for backend in FB.BACKENDS:
                    params.append((case, direction, backend))
                    ids.append(f"{case.name.replace(' ', '-')}-{direction}-{backend}")
        metafunc.parametrize("layer_case,direction,backend", params, ids=ids)
    if "step_case" in metafunc.fixturenames:
        batches = _int_list(metafunc.config.getoption("--bench-step-batches"))
        params, ids = [], []
        for batch in batches:
            for name in FB.NETWORKS:
                for backend in FB.BACKENDS:
                    params.append(((name, batch), backend))
                    ids.append(f"{name}-b{batch}-{backend}")
        metafunc.parametrize("step_case,backend", params, ids=ids)


@pytest.fixture(scope="session", autouse=True)
def bench_threads(request):
    """Same thread count in every backend, warm thread pools and a primed allocator."""
    import fastconv
    n = request.config.getoption("--bench-threads") or fastconv.get_num_threads()
    FB.warm_thread_pools(n)
    FB.prime_allocator()
    return n


def require_backend(backend):
    if backend == "torch":
        pytest.importorskip("torch")


def assert_outputs_close(actual, expected, dtype, what):
    """Float outputs within the tolerances of tests/conftest.py, integer outputs exact."""
    import numpy as np
    actual, expected = FB.to_numpy(actual), FB.to_numpy(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        if e.dtype.kind in "iu":
            np.testing.assert_array_equal(a, e, err_msg=f"{what}: output {i}")
        else:
            TEST_CONFIG.assert_close(a, e, dtype, err_msg=f"{what}: output {i}")
