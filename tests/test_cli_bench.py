"""``python -m fastconv bench`` through subprocess, and the timing helpers of
fastconv._benchmarks.  No timing assertions: the machine is shared."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv
import fastconv.functional as F
import fastconv.reference as R
from fastconv import _benchmarks as FB
from fastconv import _kernels
from fastconv import _limits as L

from conftest import R64, assert_close

# the folder holding the fastconv package this test imports (the checkout after an in-place
# build, site-packages after an install), so subprocesses import the same, built package
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


def _run_cli(tmp_path, *extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "fastconv", "bench", "--batch", "2", "--repeat", "1",
           "--networks", "simple", "--gemm-sizes", "32", "--min-sample-time", "0",
           "--threads", "1", "--limit-samples", "2", "--out", str(tmp_path), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(tmp_path),
                          timeout=300)


def test_cli_bench_writes_table_json_and_png(tmp_path):
    pytest.importorskip("matplotlib")
    proc = _run_cli(tmp_path, "--markdown", str(tmp_path / "bench.md"), "--peak-memory",
                    "--peak-memory-batch", "2")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("machine: ")
    machine = out.splitlines()[0]
    assert "cores" in machine and "SIMD path" in machine and "OpenMP" in machine
    assert "numpy " + np.__version__ in machine
    assert "\nnumpy BLAS: " in out
    for name in ("train step simple b2", "inference simple b1", "model step SimpleCNN b2",
                 "model inference SimpleCNN b1", "model inference SimpleCNN b64",
                 "conv2d 1->32 k3 p0 1x28x28 b2 fwd", "conv2d 1->32 k3 p0 1x28x28 b2 bwd",
                 "relu 32x26x26 b2 fwd", "relu 32x26x26 b2 bwd",
                 "max_pool2d k2 32x26x26 b2 fwd", "max_pool2d k2 32x26x26 b2 bwd",
                 "avg_pool2d k2 32x26x26 b2 fwd", "avg_pool2d k2 32x26x26 b2 bwd",
                 "gemm 32x32x32 f32", "dense 32x32x32 f64"):
        assert name in out, name
    assert "fastconv median (min-max)" in out and "x numpy" in out
    assert "share of limit" in out and f"% {_kernels.get_isa()} float32 peak" in out
    # the limits block, printed as measured: one positive peak per supported path and dtype,
    # copy bandwidths at the working sets of the detected caches
    lines = out.splitlines()
    start = lines.index(next(ln for ln in lines if ln.startswith("limits (best of 2 samples")))
    block = lines[start:start + 20]
    peaks = {tuple(ln.split()[1:3]): float(ln.split()[3]) for ln in block
             if ln.startswith("  peak ")}
    assert set(peaks) == {(isa, dt) for isa in L.isa_paths() for dt in L.DTYPES}
    assert all(v > 0 for v in peaks.values())
    sets = L.working_sets(_kernels.cache_sizes()[0], 1)
    copies = {ln.split()[1]: ln for ln in block if ln.startswith("  copy L") or
              ln.startswith("  copy DRAM")}
    assert set(copies) == set(sets)
    for level, ln in copies.items():
        assert f"({L.fmt_bytes(sets[level])})" in ln and float(ln.split()[2]) > 0

    doc = json.loads((tmp_path / "fastconv_bench.json").read_text())
    assert set(doc) >= {"machine", "machine_line", "command", "config", "results", "targets",
                        "elapsed_seconds", "load_average", "limits", "blas", "peak_memory"}
    limits = L.Limits.from_dict(doc["limits"])
    assert limits.threads == [1] and limits.peak(doc["machine"]["isa"], "float32", 1) > 0
    assert {lv for lv, _ in limits.copy} == set(sets)
    (peak,) = doc["peak_memory"]
    assert peak["name"] == "model step simple b2" and set(peak["backends"]) == set(
        doc["config"]["backends"])
    for m in peak["backends"].values():
        assert m["rss_peak_extra"] >= 0 and m["rss_before"] > 0 and np.isfinite(m["loss"])
    assert set(doc["machine"]) >= {"cpu", "cores", "isa", "openmp", "numpy", "torch"}
    assert doc["config"]["threads"] == [1]
    assert doc["config"]["batch"] == 2
    assert doc["config"]["networks"] == ["simple"]
    backends = doc["config"]["backends"]
    assert backends[:2] == ["fastconv", "numpy"]
    names = [r["name"] for r in doc["results"]]
    assert "train step simple b2" in names and len(names) == len(set(names))
    for r in doc["results"]:
        assert set(r) >= {"name", "kind", "threads", "flops", "bytes", "isa", "meta", "backends",
                          "shares"}
        # every row is compute-bound or memory-bound, and has its share of that limit
        assert bool(r["flops"]) != bool(r["bytes"]), r["name"]
        share = r["shares"]["fastconv"]
        assert share["unit"] == ("B/s" if r["bytes"] else "FLOP/s") and share["share"] > 0
        assert share == L.row_share(r, limits)
        assert r["threads"] == 1
        expected = set(backends) if r["kind"] not in ("gemm", "dense") else {"fastconv", "numpy"}
        if r["kind"] == "norm":         # batch norm is timed beside numpy.copyto
            expected |= {"copy"}
        assert set(r["backends"]) == expected
        for m in r["backends"].values():
            assert set(m) >= {"median", "min", "max", "number", "samples"}
            assert len(m["samples"]) == 1
            assert 0 < m["min"] <= m["median"] <= m["max"]
    step = next(r for r in doc["results"] if r["kind"] == "step")
    assert step["flops"] == FB.step_flops(FB.NETWORKS["simple"], 2)

    relu = next(r for r in doc["results"] if r["name"] == "relu 32x26x26 b2 fwd")
    assert relu["bytes"] == 2 * 4 * 2 * 32 * 26 * 26 and relu["kind"] == "memory-bound"

    md = (tmp_path / "bench.md").read_text()
    assert doc["machine_line"] in md and doc["command"] in md
    assert "| 1 | train step simple b2 |" in md and "  peak " in md
    assert "| model step simple b2 |" in md

    png = (tmp_path / "fastconv_bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bench_json_path_and_no_plot(tmp_path):
    target = tmp_path / "sub" / "r.json"
    proc = _run_cli(tmp_path, "--json", str(target), "--no-plot", "--no-torch", "--no-limits",
                    "--gemm-sizes", "--only", "step", "layer")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(target.read_text())
    assert doc["config"]["backends"] == ["fastconv", "numpy"]
    assert doc["config"]["kinds"] == ["step", "layer"]
    assert {r["kind"] for r in doc["results"]} == {"step", "layer"}
    assert not (tmp_path / "fastconv_bench.png").exists()
    assert not (tmp_path / "fastconv_bench.json").exists()
    assert doc["limits"] is None and "limits (best" not in proc.stdout
    assert all("shares" not in r and "GFLOP/s" in proc.stdout for r in doc["results"])


def test_cli_bench_winograd_mode(tmp_path):
    target = tmp_path / "r.json"
    md = tmp_path / "t.md"
    proc = _run_cli(tmp_path, "--json", str(target), "--no-plot", "--no-torch", "--no-limits",
                    "--gemm-sizes", "--only", "layer", "--networks", "cifar",
                    "--winograd", "fast", "--markdown", str(md))
    assert proc.returncode == 0, proc.stderr
    assert "fastconv Winograd mode: fast" in proc.stdout
    doc = json.loads(target.read_text())
    assert doc["config"]["winograd"] == "fast"
    assert "Winograd mode: `fast`" in md.read_text()
    proc = _run_cli(tmp_path, "--no-plot", "--winograd", "f4")
    assert proc.returncode == 2 and "--winograd" in proc.stderr


def test_cli_bench_rejects_bad_repeat(tmp_path):
    proc = _run_cli(tmp_path, "--repeat", "0", "--no-plot")
    assert proc.returncode == 2
    assert "--repeat" in proc.stderr


# --- timing helpers ---------------------------------------------------------------------------
def test_compare_interleaves_and_counts_calls():
    calls = {"a": 0, "b": 0}
    order = []

    def make(name):
        def fn():
            calls[name] += 1
            order.append(name)
        return fn

    res = FB.compare({"a": make("a"), "b": make("b")}, repeat=4, min_sample_time=0, warmup=2)
    assert set(res) == {"a", "b"}
    for name, t in res.items():
        assert t.number == 1 and len(t.samples) == 4
        assert t.min <= t.median <= t.max
        # 2 warm-up calls, 1 calibration call, then per round a switch warm-up and a sample
        assert calls[name] == 2 + 1 + 4 * 2
    timed = order[-16:]
    firsts = [timed[i] for i in range(0, 16, 4)]
    assert firsts == ["a", "b", "a", "b"]           # the order rotates from round to round


def test_compare_uses_the_clock_and_calibrates():
    ticks = iter(range(10 ** 6))

    def clock():
        return next(ticks) * 1e-3                   # every clock read advances 1 ms
    res = FB.compare({"f": lambda: None}, repeat=3, min_sample_time=0.005, warmup=0,
                     clock=clock)
    t = res["f"]
    assert t.number == 5                            # one call "takes" 1 ms: 5 per sample
    assert t.samples == [pytest.approx(1e-3 / 5)] * 3


def test_compare_rewarms_after_the_idle_wait(monkeypatch):
    """After sleeping idle_wait, each sample is preceded by POOL_REWARM seconds of calls."""
    ticks = iter(range(10 ** 6))
    calls = []
    monkeypatch.setattr(FB.time, "sleep", lambda s: calls.append(("sleep", s)))

    def clock():
        return next(ticks) * 1e-3                   # every clock read advances 1 ms
    res = FB.compare({"f": lambda: calls.append("f")}, repeat=2, min_sample_time=0.001,
                     warmup=0, idle_wait=0.5, clock=clock)
    assert res["f"].number == 1
    assert calls.count(("sleep", 0.5)) == 2
    # 1 calibration call; per sample: calls until POOL_REWARM (10 ms) of clock reads, then 1
    per_sample = (len([c for c in calls if c == "f"]) - 1) / 2
    assert per_sample == FB.POOL_REWARM / 1e-3 + 1


def test_compare_rejects_zero_repeat():
    with pytest.raises(ValueError, match="repeat"):
        FB.compare({"f": lambda: None}, repeat=0)


def test_timing_statistics():
    t = FB.Timing([3.0, 1.0, 2.0, 10.0, 4.0], 2)
    assert (t.median, t.min, t.max) == (3.0, 1.0, 10.0)
    assert t.as_dict()["number"] == 2


def test_prime_allocator_runs():
    FB.prime_allocator(max_mib=2)


# --- networks and steps -----------------------------------------------------------------------
def test_mnist_step_flops_match_the_issue():
    # about 1.6 GFLOP per batch-64 training step
    assert FB.step_flops(FB.NETWORKS["mnist"], 64) == pytest.approx(1.6e9, rel=0.02)


@pytest.mark.parametrize("name", ["simple", "mnist"])
def test_train_step_matches_reference(name, dtype):
    net = FB.NETWORKS[name]
    x, t = FB.make_batch(net, 3, dtype)
    p_c = FB.init_params(net, dtype)
    p_r = FB.copy_params(p_c)
    loss_c, grads_c = FB.train_step(F, net, p_c, x, t, lr=0.1)
    loss_r, grads_r = FB.train_step(R64 if dtype == np.float32 else R, net, p_r, x, t, lr=0.1)
    assert len(grads_c) == len(FB.param_names(net))
    assert_close(loss_c, loss_r, dtype)
    for gc, gr in zip(grads_c, grads_r):
        assert_close(gc, gr, dtype)
    # the update was applied in place
    p0 = FB.init_params(net, dtype)
    trained = [p for layer, p in zip(net.layers, p_c) if net.trainable(layer)]
    initial = [p for layer, p in zip(net.layers, p0) if net.trainable(layer)]
    assert_close(trained[0][0], initial[0][0] - dtype.type(0.1) * grads_c[0], dtype)


def test_edge_step_trains_only_the_dense_layer():
    net = FB.NETWORKS["edge"]
    assert FB.param_names(net) == ["4.weight", "4.bias"]
    params = FB.init_params(net)
    np.testing.assert_array_equal(params[0][0][0, 0], FB.LAPLACIAN.astype(np.float32))


def test_torch_step_matches_reference():
    torch = pytest.importorskip("torch")
    net = FB.NETWORKS["simple"]
    x, t = FB.make_batch(net, 3, np.float64)
    params = FB.init_params(net, np.float64)
    model = FB.TorchNet(net, params)
    loss_t, grads_t = model.train_step(torch.from_numpy(x), torch.from_numpy(t))
    loss_r, grads_r = FB.train_step(R, net, FB.copy_params(params), x, t)
    assert_close(loss_t.numpy(), loss_r, np.float64)
    for gt, gr in zip(grads_t, grads_r):
        assert_close(gt.numpy(), gr, np.float64)


def test_layer_cases_cover_every_layer_once():
    cases = FB.layer_cases(["mnist", "cifar"], [64])
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    # mnist: 2 conv, 3 relu, 2 pool, 2 linear, loss; cifar adds its own conv/relu/pool/fc1;
    # relu 128, fc2 and the loss are shared
    assert len(cases) == 10 + 7
    shared = [c for c in cases if c.name == "linear 128->10 b64"]
    assert shared and shared[0].networks == ["mnist", "cifar"]


@pytest.mark.parametrize("direction", ["fwd", "bwd", "fwdbwd"])
def test_case_functions_agree_across_backends(direction):
    case = next(c for c in FB.layer_cases(["simple"], [2]) if c.op == "max_pool2d")
    d = FB.case_inputs(case)
    outs = [FB.to_numpy(FB.case_function(case, direction, b, d)())
            for b in FB.available_backends()]
    for other in outs[1:]:
        assert len(other) == len(outs[0])
        for a, e in zip(other, outs[0]):
            np.testing.assert_array_equal(a, e)


def test_machine_line_names_the_configuration():
    line = FB.machine_line()
    assert f"{FB.machine_info()['cores']} cores" in line
    assert "OpenMP" in line and fastconv.__version__ in line


def test_evaluate_targets_uses_medians_and_mins():
    def row(name, kind, meta, fc, torch, flops=0, threads=1):
        return {"name": name, "kind": kind, "threads": threads, "flops": flops, "bytes": 0,
                "isa": "avx2", "meta": meta,
                "backends": {"fastconv": {"median": fc, "min": fc / 2},
                             "torch": {"median": torch, "min": torch}}}
    rows = [row("model step MnistCNN b64", "model",
                {"network": "mnist", "batch": 64, "mode": "train"}, 10.0, 40.0),
            row("model step SimpleCNN b64", "model",
                {"network": "simple", "batch": 64, "mode": "train"}, 1.0, 2.0),
            row("model inference MnistCNN b1", "model",
                {"network": "mnist", "batch": 1, "mode": "eval"}, 1.0, 5.0),
            row("conv2d 32->64 k3 p1 32x14x14 b64 fwd", "layer",
                {"batch": 64, "direction": "fwd"}, 1.0, 1.0, flops=80e9),
            row("conv2d 32->64 k3 p1 32x14x14 b64 bwd", "layer",
                {"batch": 64, "direction": "bwd"}, 1.0, 2.0, flops=80e9)]
    got = {t["target"]: t for t in FB.evaluate_targets(rows)}
    mnist = got["model step MnistCNN b64: fastconv vs torch"]
    assert mnist["measured"] == 4.0 and mnist["measured_min"] == 8.0 and mnist["met"]
    assert mnist["goal"] == 3.0
    simple = got["model step SimpleCNN b64: fastconv vs torch"]
    assert simple["goal"] == 4.0 and not simple["met"]
    assert got["model inference MnistCNN b1: fastconv vs torch"]["goal"] == 4.0
    conv = got["conv2d 32->64 k3 p1 32x14x14 b64 fwd+bwd: fastconv vs torch"]
    assert conv["measured"] == 1.5 and conv["goal"] == 1.3 and conv["met"]
    # shares need the limits of the run
    assert not any("share" in k for k in got)
    lim = L.Limits((32 << 10, 1 << 20, 32 << 20), "set")
    lim.fma["avx2", "float32", 1] = (100e9, [100e9])
    got = {t["target"]: t for t in FB.evaluate_targets(rows, lim)}
    fwd = got["conv2d 32->64 k3 p1 32x14x14 b64 fwd: share of the FMA peak"]
    assert fwd["measured"] == 0.8 and fwd["measured_min"] == 1.6 and fwd["met"]
    assert fwd["unit"] == "of limit" and fwd["goal"] == 0.8
