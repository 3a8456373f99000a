"""Bounded memory: conv2d's im2col scratch is tiled within fastconv's workspace limit, the
results do not depend on the tiling, and the peak extra memory of conv forward+backward at
batch 256 on the MNIST network stays below the NumPy reference's."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastconv
import fastconv.functional as F
from conftest import R64, assert_close, record_figure

MIB = 1 << 20

# (input shape, weight shape, options): the first has K = 256*5*5 = 6400, so a 1 MiB limit
# gives tiles of 40 of its 64 output positions while the default takes them all at once;
# the others have large planes (tiles of ~1 MiB at any limit, fewer positions at 1 MiB with
# two threads) and groups/stride/padding/dilation.
TILING_CASES = [
    ((2, 256, 12, 12), (8, 256, 5, 5), {}),
    ((3, 32, 40, 40), (16, 32, 3, 3), dict(padding=1)),
    ((2, 64, 30, 30), (32, 16, 3, 3), dict(padding=2, groups=4, stride=2)),
    ((2, 48, 33, 31), (24, 48, 3, 2), dict(padding=(2, 1), dilation=2)),
    # stride 1, K = 360 in two blocks: the implicit GEMM at 3 MiB and above, the im2col
    # path at 1 MiB with two threads (its 282 KiB padded image and tile no longer fit)
    ((2, 40, 40, 40), (16, 40, 3, 3), dict(padding=1)),
    # K = 27: the row-dot weight gradient, images in chunks
    ((11, 3, 40, 40), (16, 3, 3, 3), dict(padding=1)),
]


@pytest.fixture
def restore_runtime():
    limit, threads = fastconv.get_workspace_limit(), fastconv.get_num_threads()
    yield
    fastconv.set_workspace_limit(limit)
    fastconv.set_num_threads(threads)


def test_workspace_limit_default_and_validation(restore_runtime):
    assert fastconv.get_workspace_limit() == 64 * MIB
    for bad in (0, -1, MIB - 1, 1.5, "64", True, 2 ** 63):
        with pytest.raises(ValueError):
            fastconv.set_workspace_limit(bad)
    assert fastconv.get_workspace_limit() == 64 * MIB
    fastconv.set_workspace_limit(MIB)
    assert fastconv.get_workspace_limit() == MIB


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", range(len(TILING_CASES)))
def test_conv_results_do_not_depend_on_the_workspace_limit(isa, dtype, case, restore_runtime):
    """Forward results are bitwise equal at every limit.  Backward results are sums over the
    output positions, which the engine adds tile by tile: they must agree with the
    untiled result within the tolerances and with the reference, and be bitwise equal
    whenever the tiling is the same (same limit)."""
    xs, ws, opts = TILING_CASES[case]
    rng = np.random.default_rng(case)
    # Positive data: sums of up to 6,400 terms without cancellation, so float32 results
    # meet the relative tolerance everywhere.
    x = rng.random(xs).astype(dtype)
    w = rng.random(ws).astype(dtype)
    b = rng.random(ws[0]).astype(dtype)
    results = {}
    for threads in (1, 2):
        fastconv.set_num_threads(threads)
        for limit in (MIB, 3 * MIB, 1 << 30):
            fastconv.set_workspace_limit(limit)
            y = F.conv2d(x, w, b, **opts)
            gy = (1.5 + np.cos(np.arange(y.size)).reshape(y.shape)).astype(dtype)
            results[threads, limit] = (y,) + F.conv2d_backward(gy, x, w, **opts)
            again = (F.conv2d(x, w, b, **opts),) + F.conv2d_backward(gy, x, w, **opts)
            for r1, r2 in zip(results[threads, limit], again):
                np.testing.assert_array_equal(r1, r2)        # same tiling: bitwise
    base = results[1, 1 << 30]
    for key, res in results.items():
        np.testing.assert_array_equal(res[0], base[0], err_msg=f"forward at {key}")
        for r, e in zip(res[1:], base[1:]):
            assert_close(r, e, dtype, err_msg=f"backward at {key}")
    ref = (R64.conv2d(x, w, b, **opts),) + R64.conv2d_backward(gy, x, w, **opts)
    for r, e in zip(base, ref):
        assert_close(r, e, dtype)


# ---------------------------------------------------------------------------------------
# Peak extra memory at batch 256, MNIST network convs, fastconv vs NumPy reference
# ---------------------------------------------------------------------------------------

_PEAK_SCRIPT = textwrap.dedent("""
    import json, sys, tracemalloc
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import fastconv
    backend = sys.argv[2]
    fastconv.set_workspace_limit(int(sys.argv[3]))
    fastconv.set_num_threads(int(sys.argv[4]))
    mod = __import__("fastconv." + backend, fromlist=["x"])
    rng = np.random.default_rng(0)
    f32 = np.float32
    N = 256
    # MnistCNN: conv 1->32 k3 pad1 (28x28), relu, maxpool 2, conv 32->64 k3 pad1 (14x14), ...
    layers = [
        (rng.standard_normal((N, 1, 28, 28)).astype(f32), rng.standard_normal((32, 1, 3, 3)).astype(f32),
         rng.standard_normal(32).astype(f32), rng.standard_normal((N, 32, 28, 28)).astype(f32)),
        (rng.standard_normal((N, 32, 14, 14)).astype(f32), rng.standard_normal((64, 32, 3, 3)).astype(f32),
         rng.standard_normal(64).astype(f32), rng.standard_normal((N, 64, 14, 14)).astype(f32)),
    ]
    def status(key):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    def reset_peak():
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    out = {}
    for i, (x, w, b, gy) in enumerate(layers):
        if i != int(sys.argv[5]):
            continue
        reset_peak()
        rss0 = status("VmRSS")
        tracemalloc.start()
        y = mod.conv2d(x, w, b, padding=1)
        gx, gw, gb = mod.conv2d_backward(gy, x, w, padding=1)
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        hwm = status("VmHWM")
        outputs = y.nbytes + gx.nbytes + gw.nbytes + gb.nbytes
        del y, gx, gw, gb
        out[f"conv{i + 1}"] = dict(rss_peak_extra=hwm - rss0, traced_peak=traced_peak,
                                   outputs=outputs)
    print(json.dumps(out))
""")


def _peak(backend, limit=64 * MIB, threads=2):
    """Figures per layer, each layer measured in a fresh process (memory freed by an
    earlier layer would otherwise be reused without raising the RSS)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    out = {}
    for layer in (0, 1):
        res = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, root, backend, str(limit),
                              str(threads), str(layer)], capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr
        out.update(json.loads(res.stdout))
    return out


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                    reason="peak RSS needs Linux /proc/self/clear_refs")
def test_peak_memory_of_mnist_convs_at_batch_256_below_numpy():
    """Peak extra memory of conv forward+backward (each MNIST conv layer at batch 256,
    float32, 2 threads), measured in a fresh process per backend: resident-set high-water
    mark above the RSS before the call (all allocations, the C kernels' malloc included),
    and tracemalloc's peak (NumPy's allocations).  Outputs (y, gx, gw, gb) are included."""
    numpy_ = _peak("reference")
    c_default = _peak("functional")
    c_small = _peak("functional", limit=MIB)
    lines = []
    for layer in ("conv1", "conv2"):
        n, c, s = numpy_[layer], c_default[layer], c_small[layer]
        outputs = c["outputs"]
        # fastconv: outputs plus a workspace bounded by the limit (per thread), plus slack
        # for the allocator and thread stacks.
        assert c["rss_peak_extra"] <= outputs + 2 * 64 * MIB + 8 * MIB
        assert s["rss_peak_extra"] <= outputs + 2 * MIB + 8 * MIB, s
        assert c["rss_peak_extra"] < n["rss_peak_extra"]
        assert c["traced_peak"] < n["traced_peak"]
        assert c["traced_peak"] <= outputs + MIB   # NumPy-side: only the outputs
        lines.append(f"{layer}: fastconv {c['rss_peak_extra'] / MIB:.1f} MiB RSS / "
                     f"{c['traced_peak'] / MIB:.1f} MiB traced "
                     f"({s['rss_peak_extra'] / MIB:.1f} MiB RSS at a 1 MiB limit), NumPy "
                     f"{n['rss_peak_extra'] / MIB:.1f} MiB RSS / {n['traced_peak'] / MIB:.1f} "
                     f"MiB traced; outputs {outputs / MIB:.1f} MiB")
    record_figure("peak memory, conv fwd+bwd, MNIST net, batch 256, float32",
                  "; ".join(lines))
