"""The machine's limits of the benchmark (fastconv._limits): the probes' output parsed and
sane, the working sets derived from the cache sizes, the share of a row's limit on known
inputs, the OpenBLAS warnings, and the chart built from a small fake result set.  No timing
is asserted beyond the order of the copy bandwidths (L1 >= L2 >= DRAM)."""
import json

import numpy as np
import pytest

import fastconv
from fastconv import _kernels
from fastconv import _limits as L

KIB, MIB = 1 << 10, 1 << 20


@pytest.fixture(scope="module")
def measured():
    """Limits at one thread, measured once for the module (about a second)."""
    threads = fastconv.get_num_threads()
    fastconv.set_num_threads(1)
    try:
        lim = L.Limits.detect()
        lim.measure(1)
    finally:
        fastconv.set_num_threads(threads)
    return lim


def test_every_supported_path_and_dtype_has_a_positive_peak(measured):
    paths = L.isa_paths()
    assert paths == [n for n in paths if _kernels.isa_supported(n)] and _kernels.get_isa() in paths
    for isa in paths:
        for dtype in L.DTYPES:
            peak = measured.peak(isa, dtype, 1)
            assert peak is not None and peak > 0, (isa, dtype)
            rate, samples = measured.fma[isa, dtype, 1]
            assert len(samples) == measured.samples and rate == max(samples)
    assert measured.peak("no-such-path", "float32", 1) is None
    assert measured.best_peak("float32", 1)[1] == max(
        measured.peak(i, "float32", 1) for i in paths)


def test_fma_probe_refuses_what_it_cannot_run():
    assert _kernels.probe_fma("no-such-path", 4, 1, 10) < 0
    assert _kernels.probe_fma(_kernels.get_isa(), 2, 1, 10) < 0
    with pytest.raises(ValueError, match="does not support"):
        L._fma_runner("no-such-path", "float32", 1)(1)


def test_copy_bandwidth_is_ordered_and_the_working_sets_follow_the_caches(measured):
    caches, source = _kernels.cache_sizes()
    assert measured.caches == tuple(caches) and measured.cache_source == source
    sets = L.working_sets(caches, 1)
    for level in sets:
        ws, rate, samples = measured.copy[level, 1]
        assert ws == sets[level] and rate > 0 and rate == max(samples)
    # a sample can only be slowed down by other processes: on a busy machine measure again
    # (the order itself is never relaxed)
    lim = measured
    for _ in range(3):
        bw = {level: lim.copy[level, 1][1] for level in sets}
        if bw["L1"] >= bw["L2"] >= bw["DRAM"]:
            break
        lim = L.Limits.detect()
        fastconv.set_num_threads(1)
        lim.measure(1, isas=[])
    assert bw["L1"] >= bw["L2"] >= bw["DRAM"], bw
    if "L3" in bw:
        assert bw["L3"] >= bw["DRAM"] * 0.5, bw


def test_copy_probe_moves_the_bytes_it_reports():
    src, dst = L.aligned_pair(64 * KIB)
    src[:] = np.arange(src.size, dtype=np.float32)
    assert src.ctypes.data % 4096 == 0 and dst.ctypes.data % 4096 == L._DST_OFFSET
    assert _kernels.probe_copy(src, dst, 1, 3) == 3 * 2 * 64 * KIB
    np.testing.assert_array_equal(dst, src)


def test_working_sets_and_levels_from_cache_sizes():
    caches = (48 * KIB, 2 * MIB, 32 * MIB)
    assert L.working_sets(caches, 1) == {"L1": 24 * KIB, "L2": MIB, "L3": 16 * MIB,
                                         "DRAM": 256 * MIB}
    assert L.working_sets(caches, 2) == {"L1": 48 * KIB, "L2": 2 * MIB, "L3": 16 * MIB,
                                         "DRAM": 256 * MIB}
    assert L.working_sets((32 * KIB, MIB, 96 * MIB), 1)["DRAM"] == 768 * MIB
    assert L.working_sets((32 * KIB, MIB, 512 * MIB), 1)["DRAM"] == L.DRAM_MAX
    # a server's socket-wide L3: the probe copies at most L3_SET_MAX, and sets above twice that
    # count as DRAM
    big = (48 * KIB, 2 * MIB, 260 * MIB)
    assert L.working_sets(big, 2) == {"L1": 48 * KIB, "L2": 2 * MIB, "L3": L.L3_SET_MAX,
                                      "DRAM": L.DRAM_MAX}
    assert L.working_sets((48 * KIB, 2 * MIB, 8 * MIB), 1)["L3"] == 4 * MIB
    assert L.level_of(2 * L.L3_SET_MAX, big, 1) == "L3"
    assert L.level_of(2 * L.L3_SET_MAX + 1, big, 1) == "DRAM"
    no_l3 = L.working_sets((32 * KIB, MIB, 0), 4)
    assert "L3" not in no_l3 and no_l3["DRAM"] == 256 * MIB
    with pytest.raises(ValueError):
        L.working_sets(caches, 0)
    # per thread in L1 and L2, in all in the L3
    assert L.level_of(48 * KIB, caches, 1) == "L1"
    assert L.level_of(48 * KIB + 1, caches, 1) == "L2"
    assert L.level_of(96 * KIB, caches, 2) == "L1"
    assert L.level_of(4 * MIB, caches, 2) == "L2"
    assert L.level_of(4 * MIB, caches, 1) == "L3"
    assert L.level_of(33 * MIB, caches, 2) == "DRAM"
    assert L.level_of(3 * MIB, (32 * KIB, MIB, 0), 1) == "DRAM"


def _limits():
    lim = L.Limits((32 * KIB, MIB, 32 * MIB), "set", samples=1, sample_time=0.001)
    lim.fma["avx2", "float32", 1] = (100e9, [100e9])
    lim.fma["avx2", "float64", 1] = (50e9, [50e9])
    lim.fma["scalar", "float32", 1] = (20e9, [20e9])
    lim.fma["avx2", "float32", 2] = (200e9, [200e9])
    lim.copy["L1", 1] = (16 * KIB, 200e9, [200e9])
    lim.copy["L2", 1] = (512 * KIB, 100e9, [100e9])
    lim.copy["DRAM", 1] = (256 * MIB, 20e9, [20e9])
    return lim


def _row(threads=1, flops=0, nbytes=0, isa="avx2", dtype="float32", fc=1.0, **others):
    backends = {"fastconv": {"median": fc, "min": fc / 2}}
    backends.update({b: {"median": t, "min": t} for b, t in others.items()})
    return {"name": "r", "kind": "memory-bound" if nbytes else "gemm", "threads": threads,
            "flops": flops, "bytes": nbytes, "isa": isa, "meta": {"dtype": dtype},
            "backends": backends}


def test_shares_on_known_inputs():
    lim = _limits()
    s = L.row_share(_row(flops=50e9, fc=1.0), lim)
    assert s == {"rate": 50e9, "unit": "FLOP/s", "limit": 100e9,
                 "limit_name": "avx2 float32 peak", "share": 0.5}
    assert L.row_share(_row(flops=50e9, fc=1.0), lim, stat="min")["share"] == 1.0
    assert L.row_share(_row(flops=25e9, dtype="float64"), lim)["share"] == 0.5
    assert L.row_share(_row(flops=10e9, isa="scalar"), lim)["share"] == 0.5
    assert L.row_share(_row(threads=2, flops=50e9), lim)["share"] == 0.25
    # another backend is held to the fastest path measured
    other = L.row_share(_row(flops=50e9, isa="scalar", numpy=2.0), lim, "numpy")
    assert other["share"] == 0.25 and other["limit_name"] == "avx2 float32 peak"
    # memory-bound: the level the working set fits in; L3 not measured -> DRAM
    assert L.row_share(_row(nbytes=20e3), lim) == {"rate": 20e3, "unit": "B/s",
                                                   "limit": 200e9, "limit_name": "L1 copy",
                                                   "share": 20e3 / 200e9}
    assert L.row_share(_row(nbytes=50e9, fc=1.0), lim)["limit_name"] == "DRAM copy"
    assert L.row_share(_row(nbytes=500 * KIB, fc=1e-5), lim)["limit_name"] == "L2 copy"
    assert L.row_share(_row(nbytes=4 * MIB, fc=1e-3), lim)["share"] == pytest.approx(
        4 * MIB / 1e-3 / 20e9)
    # nothing to share against
    assert L.row_share(_row(flops=1e9, threads=4), lim) is None
    assert L.row_share(_row(), lim) is None
    assert L.row_share(_row(flops=1e9), lim, "torch") is None
    assert L.fmt_share(L.row_share(_row(flops=50e9), lim)) == "50% avx2 float32 peak"
    assert L.fmt_rate(L.row_share(_row(nbytes=2e9), lim)) == "2.0 GB/s"


def test_limits_round_trip_through_json_and_print_a_parseable_block():
    lim = _limits()
    back = L.Limits.from_dict(json.loads(json.dumps(lim.as_dict())))
    assert back.fma == lim.fma and back.copy == lim.copy and back.caches == lim.caches
    block = lim.block()
    lines = block.splitlines()
    assert lines[0].startswith("limits (best of 1 samples")
    assert lines[1] == "  caches: L1d 32 KiB, L2 1 MiB, L3 32 MiB (set by set_cache_sizes)"
    cells = {ln.split()[1] + " " + ln.split()[2]: ln.split()[3:]
             for ln in lines if ln.startswith("  peak ")}
    assert cells["avx2 float32"] == ["100.0", "200.0"]
    assert cells["avx2 float64"] == ["50.0", "-"]
    copy = [ln.split() for ln in lines if ln.startswith("  copy L")]
    assert copy[0][:5] == ["copy", "L1", "200.0", "(16", "KiB)"]
    assert [c[1] for c in copy] == ["L1", "L2"] and any("DRAM" in ln for ln in lines)


def test_openblas_kernel_and_coretype_warning():
    info = [{"user_api": "blas", "internal_api": "openblas", "version": "0.3.31",
             "architecture": "Haswell", "threading_layer": "pthreads"}]
    assert L.blas_line(info) == "openblas 0.3.31 (kernel Haswell, pthreads)"
    assert "threadpoolctl" in L.blas_line([])
    assert L.blas_warnings(info, {}) == []
    warn = L.blas_warnings(info, {"OPENBLAS_CORETYPE": "Haswell"})
    assert "OPENBLAS_CORETYPE=Haswell" in warn[0] and "running: Haswell" in warn[0]
    assert "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE" in warn[-1]
    both = L.blas_warnings(info, {"OPENBLAS_CORETYPE": "Zen", "OPENBLAS_L2_SIZE": "1048576"})
    assert len(both) == 3 and "OPENBLAS_L2_SIZE=1048576" in both[1]
    assert len(L.blas_warnings(info, {"OPENBLAS_L2_SIZE": "1"})) == 2


def test_chart_from_a_small_fake_result_set(tmp_path):
    pytest.importorskip("matplotlib")
    from fastconv.cli import _chart
    lim = _limits()

    def row(name, kind, threads, meta, **extra):
        r = _row(threads=threads, fc=0.01, torch=0.02, numpy=0.05, **extra)
        r.update(name=name, kind=kind, meta=dict(meta, dtype="float32"))
        r["shares"] = {b: L.row_share(r, lim, b) for b in r["backends"]}
        return r
    rows = []
    for t in (1, 2):
        rows += [row("gemm 512x512x512 f32", "gemm", t, {"n": 512}, flops=2 * 512 ** 3),
                 row("relu 32x28x28 b64 fwd", "memory-bound", t, {"networks": ["mnist"]},
                     nbytes=12845056),
                 row("model step MnistCNN b64", "model", t, {"network": "mnist"}, flops=1e9),
                 row("train step simple b64", "step", t, {"network": "simple"}, flops=3e8),
                 row("conv2d 1->32 k3 p1 1x28x28 b64 fwd", "layer", t, {"networks": ["mnist"]},
                     flops=1e9)]
    assert [g for g, _ in _chart.layout(rows)] == [
        "MNIST network", "SimpleCNN", _chart.GEMM_GROUP, _chart.MEMORY_GROUP]
    assert _chart.layout(rows)[0][1] == ["model step MnistCNN b64",
                                         "conv2d 1->32 k3 p1 1x28x28 b64 fwd"]
    assert _chart.annotation(rows[0]) == "27% avx2 float32 peak  x5.00 numpy.matmul"
    assert _chart.annotation(rows[2]) == "100% avx2 float32 peak  x2.00 torch  x5.00 NumPy"
    path = tmp_path / "chart.png"
    _chart.plot({"results": rows, "machine_line": "test machine"}, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_prints_the_caches_and_the_gemm_blocking_of_the_running_path(capsys):
    from fastconv.cli import main
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    rows = {ln.split(":", 1)[0]: ln.split(":", 1)[1].strip() for ln in out.splitlines()[1:]}
    (l1, l2, l3), source = _kernels.cache_sizes()
    assert rows["caches"] == L.describe_caches((l1, l2, l3), source)
    assert rows["caches"].startswith(f"L1d {L.fmt_bytes(l1)}, L2 {L.fmt_bytes(l2)}, ")
    for dtype in (np.float32, np.float64):
        b = _kernels.gemm_blocking("", dtype)
        assert b is not None and b["ukernel"]
        assert rows[f"GEMM {np.dtype(dtype).name}"] == (
            f"{b['ukernel']} ({b['mr']}x{b['nr']} tile; blocks kc {b['kc']}, mc {b['mc']}, "
            f"nc {b['nc']})")
    # the earlier lines keep their order
    labels = list(rows)
    assert labels.index("workspace limit") < labels.index("caches") < labels.index("GEMM float32")
    assert labels[0] == "SIMD path"


def test_measuring_again_keeps_the_best_and_every_sample(monkeypatch):
    """A second measurement (the benchmark takes one before and one after each thread count's
    rows) adds its samples and keeps the larger figure, whichever of the two it is."""
    rates = iter([10.0, 30.0, 20.0, 5.0, 7.0, 40.0, 9.0, 3.0])

    def fake_best_rate(run, sample_time, samples, calibrate=None):
        r = next(rates)
        return r, [r / 2, r]
    monkeypatch.setattr(L, "best_rate", fake_best_rate)
    monkeypatch.setattr(L, "aligned_pair", lambda n: (np.zeros(4, np.float32),) * 2)
    monkeypatch.setattr(L, "_copy_runner", lambda src, dst, t: (lambda k: 0.0))
    lim = L.Limits((32 * KIB, MIB, 32 * MIB), "set", samples=2, sample_time=0.001)
    lim.measure(1, isas=["avx2"], dtypes=["float32", "float64"], levels=["L1", "L2"])
    assert lim.fma["avx2", "float32", 1] == (10.0, [5.0, 10.0])
    assert lim.copy["L2", 1] == (L.working_sets(lim.caches, 1)["L2"], 5.0, [2.5, 5.0])
    assert "best of 2 samples" in lim.block()
    lim.measure(1, isas=["avx2"], dtypes=["float32", "float64"], levels=["L1", "L2"])
    assert lim.fma["avx2", "float32", 1] == (10.0, [5.0, 10.0, 3.5, 7.0])   # the first was best
    assert lim.fma["avx2", "float64", 1] == (40.0, [15.0, 30.0, 20.0, 40.0])  # the second
    assert lim.copy["L1", 1][1:] == (20.0, [10.0, 20.0, 4.5, 9.0])
    assert lim.copy["L2", 1][1:] == (5.0, [2.5, 5.0, 1.5, 3.0])
    assert "best of 4 samples" in lim.block()
