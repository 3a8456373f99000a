"""Configuration of the benchmark suite (``pytest bench --benchmark-only``).

- Every benchmark group is one op and shape (or one network's training step) and compares the
  backends side by side: fastconv (C), the NumPy reference and torch when importable.
- ``--bench-threads N`` sets the thread count of fastconv, numpy's BLAS (through threadpoolctl
  when installed) and torch alike (default: fastconv's default, the core count).
- ``--bench-batches 1,64,256`` picks the batch sizes of the per-layer groups and
  ``--bench-step-batches 64`` those of the training steps.
- Unless ``--benchmark-columns`` is given, the table shows min, median and max.
- Unless benchmarks are disabled, the machine's limits (FMA peak per SIMD path, copy bandwidth
  per cache level; fastconv._limits) are measured at the start at the same thread count, and
  the end of the run prints them and every benchmark's rate and share of its limit (a
  benchmark with ``extra_info`` "flops" is compute-bound, with "bytes" memory-bound); with
  ``--benchmark-json`` they are also in the JSON ("fastconv_limits", and "share" in each
  benchmark's extra_info).
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


@pytest.fixture(scope="session", autouse=True)
def bench_limits(request, bench_threads):
    """This machine's limits at the benchmark thread count (not measured when benchmarks are
    disabled or skipped)."""
    opt = request.config.option
    if getattr(opt, "benchmark_disable", False) or getattr(opt, "benchmark_skip", False):
        return None
    from fastconv import _limits as L
    limits = L.Limits.detect()
    limits.measure(bench_threads)
    request.config._fastconv_limits = (limits, bench_threads)
    return limits


def _share_of(bench, limits, threads):
    """fastconv._limits.row_share of one pytest-benchmark result (min and median)."""
    from fastconv import _kernels
    from fastconv import _limits as L
    info = bench.get("extra_info", {})
    stats = bench.get("stats") or {}
    if not (info.get("flops") or info.get("bytes")) or not stats.get("median"):
        return None
    backend = info.get("backend", "fastconv")
    row = {"threads": threads, "flops": info.get("flops", 0), "bytes": info.get("bytes", 0),
           "isa": _kernels.get_isa(), "meta": {"dtype": info.get("dtype", "float32")},
           "backends": {backend: {"median": stats["median"], "min": stats["min"]}}}
    return {stat: L.row_share(row, limits, backend, stat) for stat in ("min", "median")}


def _results(config):
    """The finished benchmarks as pytest-benchmark's JSON dicts (group, name, stats, extra)."""
    session = getattr(config, "_benchmarksession", None)
    out = []
    for b in getattr(session, "benchmarks", None) or []:
        try:
            out.append(b.as_dict(include_data=False))
        except Exception:           # a benchmark that errored has no stats
            continue
    return out


def pytest_benchmark_update_json(config, benchmarks, output_json):
    got = getattr(config, "_fastconv_limits", None)
    if got is None:
        return
    limits, threads = got
    output_json["fastconv_limits"] = limits.as_dict()
    for bench in output_json.get("benchmarks", []):
        share = _share_of(bench, limits, threads)
        if share is not None:
            bench.setdefault("extra_info", {})["share"] = share


def pytest_terminal_summary(terminalreporter, config):
    got = getattr(config, "_fastconv_limits", None)
    if got is None:
        return
    from fastconv import _limits as L
    limits, threads = got
    tr = terminalreporter
    tr.section("fastconv: the machine's limits and each benchmark's share of its limit")
    tr.write_line(limits.block())
    for bench in _results(config):
        share = _share_of(bench, limits, threads)
        if share is None or share["min"] is None:
            continue
        tr.write_line(f"  {bench.get('group')} [{bench.get('name')}]: "
                      f"{L.fmt_rate(share['min'])} from the min time, "
                      f"{L.fmt_share(share['min'])}")
