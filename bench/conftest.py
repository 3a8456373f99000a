"""Configuration of the benchmark suite (``pytest bench --benchmark-only``).

- Every benchmark group is one op and shape (or one network's training step) and compares the
  backends side by side: fastconv (C), the NumPy reference and torch when importable.
- ``--bench-threads N`` sets the thread count of fastconv, numpy's BLAS (through threadpoolctl
  when installed) and torch alike (default: fastconv's default, the core count).
- ``--bench-batches 1,64,256`` picks the batch sizes of the per-layer groups and
  ``--bench-step-batches 64`` those of the training steps.
- Unless ``--benchmark-columns`` is given, the table shows min, median and max.
- Under ``--benchmark-disable`` each benchmarked call runs once and fastconv's and torch's
  outputs are checked against the NumPy reference's (training steps: against the reference's
  step evaluated in float64), with the tolerances of tests/conftest.py: a quick correctness
  smoke test.  To keep it short, layer cases with an input larger than
  ``--bench-smoke-max-mib`` (default 32 MiB: the batch-256 edge-pipeline layers) are skipped
  in that mode; ``--bench-smoke-max-mib inf`` runs them too.
"""
import pytest

from fastconv import _benchmarks as FB


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
    group.addoption("--bench-smoke-max-mib", type=float, default=32.0,
                    help="under --benchmark-disable, skip the layer cases whose input is "
                         "larger than this many MiB (default: 32; the batch-256 edge-pipeline "
                         "layers, whose torch conv alone takes ~15 s)")


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
