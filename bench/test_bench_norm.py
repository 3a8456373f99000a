"""Training-mode batch norm of a (64, 32, 28, 28) float32 activation, forward and backward:
one benchmark group per direction comparing fastconv, the NumPy reference, torch
(``aten.native_batch_norm`` and its backward) and ``numpy.copyto`` of one activation -- the
bandwidth baseline: the forward must move two activations (read x, write y), the backward
three (read grad_output and x, write grad_input), so the share of copy bandwidth is
``arrays / 2 * t_copy / t_fastconv``.

Under --benchmark-disable each call runs once and fastconv's and torch's outputs (y, mean,
invstd; or the three gradients) are checked against the NumPy reference's."""
import numpy as np
import pytest

from .benchutil import assert_outputs_close, require_backend
from fastconv import _benchmarks as FB

DTYPE = np.float32
BATCH = 64
_REFERENCE = {}


@pytest.mark.parametrize("direction", ["fwd", "bwd"])
@pytest.mark.parametrize("backend", ["numpy", "fastconv", "torch", "copy"])
def test_batch_norm(benchmark, direction, backend):
    if backend != "copy":
        require_backend(backend)
    backends = [] if backend == "copy" else [backend]
    fns, arrays = FB.batch_norm_functions(BATCH, direction, backends, DTYPE)
    fn = fns[backend]
    benchmark.group = (f"batch_norm train {direction} {'x'.join(map(str, FB.BATCH_NORM_SHAPE))} "
                       f"b{BATCH}")
    benchmark.name = "numpy.copyto (one activation)" if backend == "copy" else backend
    benchmark.extra_info.update(op="batch_norm", direction=direction, backend=backend,
                                batch=BATCH, arrays=1 if backend == "copy" else arrays)
    if benchmark.enabled:
        fn()
    out = benchmark(fn)
    if backend == "copy":
        return
    if backend == "numpy":
        _REFERENCE[direction] = out
        return
    if direction not in _REFERENCE:
        _REFERENCE[direction] = FB.batch_norm_functions(BATCH, direction, ["numpy"],
                                                        DTYPE)[0]["numpy"]()
    assert_outputs_close(out, _REFERENCE[direction], DTYPE, f"{benchmark.group} [{backend}]")
