"""Every layer of the MNIST, SimpleCNN, CIFAR and edge networks, forward and backward, at
each batch size: one benchmark group per op, direction and shape, comparing fastconv, the
NumPy reference and torch.

The outputs of fastconv and torch are checked against the NumPy reference's (under
--benchmark-disable each call runs exactly once, so the suite doubles as a smoke test).  The
conv and linear cases use small-integer data, exact in float32 (see case_inputs)."""
import numpy as np
import pytest

from .benchutil import assert_outputs_close, require_backend
from fastconv import _benchmarks as FB

DTYPE = np.float32

# Inputs and reference outputs of the case being run; the backends of one case run one after
# the other (numpy first), so one case in memory is enough even at batch 256.
_CACHE = {}


def _inputs(case):
    entry = _CACHE.get("inputs")
    if entry is None or entry[0] != case.key:
        _CACHE.clear()
        _CACHE["inputs"] = entry = (case.key, FB.case_inputs(case, DTYPE))
    return entry[1]


def _reference(case, direction, d):
    key = ("reference", direction)
    if key not in _CACHE:
        _CACHE[key] = FB.case_function(case, direction, "numpy", d)()
    return _CACHE[key]


def _bytes(case, direction):
    """The byte model of a memory-bound case (0 for the others)."""
    if case.op in ("relu", "max_pool2d"):
        return FB.bytes_moved(case, direction, np.dtype(DTYPE).itemsize)
    return 0


def test_layer(benchmark, layer_case, direction, backend, request):
    require_backend(backend)
    case = layer_case
    if benchmark.disabled:
        limit = request.config.getoption("--bench-smoke-max-mib")
        mib = np.prod(case.shape) * np.dtype(DTYPE).itemsize / 2 ** 20
        if mib > limit:
            pytest.skip(f"smoke run: input {mib:.0f} MiB > --bench-smoke-max-mib {limit:g}")
    d = _inputs(case)
    fn = FB.case_function(case, direction, backend, d)
    op, rest = case.name.split(" ", 1)
    benchmark.group = f"{op} {direction} {rest}"
    benchmark.name = backend
    benchmark.extra_info.update(op=case.op, direction=direction, backend=backend,
                                shape=list(case.shape), batch=case.shape[0],
                                networks=sorted(set(case.networks)),
                                flops=case.flops() * (2 if direction == "bwd" else 1),
                                bytes=_bytes(case, direction))
    if benchmark.enabled:
        fn()                     # this shape's buffers faulted in, this backend's pool awake
    out = benchmark(fn)
    if backend == "numpy":
        _CACHE[("reference", direction)] = out
        for a in FB.to_numpy(out):
            assert a.dtype.kind == "i" or (a.dtype == DTYPE and np.isfinite(a).all())
    else:
        assert_outputs_close(out, _reference(case, direction, d), DTYPE,
                             f"{benchmark.group} [{backend}]")
