"""Threads and fork: set_num_threads takes effect and refuses bad values, 8 Python threads
calling kernels concurrently get the serial results, and a child started with fork after
kernels ran on OpenMP threads can still call kernels (GNU libgomp would deadlock there
without the fork handler in csrc/runtime.c)."""
import ctypes
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastconv
import fastconv.functional as F
from fastconv import _kernels
from conftest import record_figure

FORK_TIMEOUT = 120  # seconds; a deadlocked child never finishes, a working one takes < 5 s


def _lib():
    """The extension itself, opened with ctypes for its internal queries (same handle, same
    state as the loaded module)."""
    lib = ctypes.CDLL(_kernels.__file__)
    for name in ("fc_debug_region_threads", "fc_debug_fork_single"):
        getattr(lib, name).restype = ctypes.c_int
        getattr(lib, name).argtypes = []
    return lib


def _region_threads():
    return _lib().fc_debug_region_threads()


@pytest.fixture
def restore_threads():
    before = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(before)


def _workload(dtype, seed=0, n=8):
    """A forward+backward pass of a small CNN; large enough for the kernels to use threads."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, 28, 28)).astype(dtype)
    w = rng.standard_normal((16, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(16).astype(dtype)
    lw = rng.standard_normal((10, 16 * 14 * 14)).astype(dtype) * 0.05
    t = rng.integers(0, 10, n)

    def run():
        h = F.relu(F.conv2d(x, w, b, padding=1))
        p, idx = F.max_pool2d(h, 2, return_indices=True)
        a = F.avg_pool2d(h, 3, 2, 1)
        g = F.global_avg_pool2d(a)
        logits = F.linear(p.reshape(n, -1), lw)
        loss = F.cross_entropy(logits, t, label_smoothing=0.1)
        gl = F.cross_entropy_backward(logits, t, label_smoothing=0.1)
        gx, gw, gb = F.linear_backward(gl, p.reshape(n, -1), lw)
        gh = F.relu_backward(F.max_pool2d_backward(gx.reshape(p.shape), idx, h.shape), h)
        gh = gh + F.avg_pool2d_backward(F.global_avg_pool2d_backward(g, a.shape), h.shape, 3, 2, 1)
        cx, cw, cb = F.conv2d_backward(gh, x, w, padding=1)
        sm = F.softmax(logits)
        lsm = F.log_softmax(logits, axis=0)
        return (loss, cx, cw, cb, gw, gb, sm, lsm, idx)
    return run


# ---------------------------------------------------------------------------------------
# set_num_threads
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, -8, 1.5, "2", True, None])
def test_set_num_threads_refuses_non_positive_and_non_int(bad, restore_threads):
    before = fastconv.get_num_threads()
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        fastconv.set_num_threads(bad)
    assert fastconv.get_num_threads() == before


def test_set_num_threads_takes_effect(restore_threads):
    seen = {}
    for n in (1, 2, 3, 1):
        fastconv.set_num_threads(n)
        assert fastconv.get_num_threads() == n
        got = _region_threads()
        seen[n] = got
        # Every kernel sizes its parallel regions with this count (fc_threads_for_region).
        assert got == (n if _kernels.has_openmp() else 1)
    record_figure("set_num_threads", "OpenMP region sizes after set_num_threads(1, 2, 3): "
                  + ", ".join(str(seen[n]) for n in (1, 2, 3))
                  + ("" if _kernels.has_openmp() else " (built without OpenMP)")
                  + "; 0, negative and non-int values raise ValueError")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_one_and_two_threads_agree(dtype, restore_threads):
    from conftest import assert_close
    run = _workload(dtype)
    fastconv.set_num_threads(1)
    one = run()
    fastconv.set_num_threads(2)
    two = run()
    for a, b in zip(one, two):
        if a.dtype.kind == "f":
            assert_close(a, b, dtype)
        else:
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------
# 8 Python threads
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_eight_python_threads_give_serial_results(dtype, restore_threads):
    fastconv.set_num_threads(2)
    runs = [_workload(dtype, seed=s) for s in range(8)]
    serial = [run() for run in runs]
    barrier = threading.Barrier(8)
    results = [None] * 8
    errors = []
    reps = 3

    def worker(i):
        try:
            barrier.wait()
            out = []
            for _ in range(reps):
                out.append(runs[i]())
            results[i] = out
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(FORK_TIMEOUT)
    elapsed = time.perf_counter() - t0
    assert not any(t.is_alive() for t in threads), "a thread did not finish (hang?)"
    assert not errors, errors
    for i in range(8):
        for rep in results[i]:
            for a, b in zip(rep, serial[i]):
                np.testing.assert_array_equal(a, b)
    record_figure(f"8 Python threads ({np.dtype(dtype).name})",
                  f"8 threads x {reps} CNN forward+backward passes, 2 OpenMP threads each: "
                  f"all bitwise equal to the serial results ({elapsed:.2f} s)")


# ---------------------------------------------------------------------------------------
# fork
# ---------------------------------------------------------------------------------------

def _fork_child(q, dtype):
    try:
        lib = _lib()
        out = _workload(dtype)()
        q.put(("ok", lib.fc_debug_fork_single(), fastconv.get_num_threads(),
               lib.fc_debug_region_threads(), out))
    except BaseException as exc:
        q.put(("error", repr(exc)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_fork_child_after_threaded_kernels_does_not_hang(dtype, restore_threads):
    fastconv.set_num_threads(2)
    expected = _workload(dtype)()          # kernels ran with 2 OpenMP threads
    assert _region_threads() == (2 if _kernels.has_openmp() else 1)  # the pool now exists
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_fork_child, args=(q, dtype))
    t0 = time.perf_counter()
    p.start()
    try:
        msg = q.get(timeout=FORK_TIMEOUT)
    except Exception:
        msg = None
    p.join(FORK_TIMEOUT)
    elapsed = time.perf_counter() - t0
    if p.is_alive():
        p.kill()
        p.join()
    assert msg is not None, f"fork child produced no result within {FORK_TIMEOUT} s (deadlock)"
    assert msg[0] == "ok", msg
    assert p.exitcode == 0
    _, fork_single, child_threads, child_region, out = msg
    if _kernels.has_openmp():
        assert fork_single == 1 and child_threads == 1 and child_region == 1
    for a, b in zip(out, expected):
        if a.dtype.kind == "f":
            from conftest import assert_close
            assert_close(a, b, dtype)
        else:
            np.testing.assert_array_equal(a, b)
    # The parent keeps its threads.
    assert fastconv.get_num_threads() == 2
    assert _region_threads() == (2 if _kernels.has_openmp() else 1)
    record_figure(f"fork after threaded kernels ({np.dtype(dtype).name})",
                  f"child finished in {elapsed:.2f} s (timeout {FORK_TIMEOUT} s), ran "
                  f"single-threaded (fallback active: {bool(fork_single)}), results match")


def test_fork_child_of_single_threaded_parent_keeps_its_threads(tmp_path):
    """The fallback applies only when the parent's kernels ran threaded: a parent that ran
    single-threaded has no OpenMP pool, so its child keeps the thread count."""
    if not _kernels.has_openmp():
        pytest.skip("built without OpenMP")
    code = textwrap.dedent(f"""
        import multiprocessing, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import fastconv
        from test_threads import _lib, _workload
        fastconv.set_num_threads(1)
        _workload('float32')()
        def child(q):
            fastconv.set_num_threads(2)
            q.put((_lib().fc_debug_fork_single(), _lib().fc_debug_region_threads()))
        ctx = multiprocessing.get_context('fork')
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        print(q.get(timeout={FORK_TIMEOUT}))
        p.join()
    """)
    # run outside the checkout, importing the same (built) fastconv as this process
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(fastconv.__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=2 * FORK_TIMEOUT, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(0, 2)"
