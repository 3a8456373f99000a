"""Leaks: every op called 2,000 times -- forward, backward and error paths -- must not grow
memory past a small bound, measured with tracemalloc (Python and NumPy allocations) and the
resident set size (everything, including the C kernels' own malloc), and must leave the
reference counts of its inputs unchanged."""
import gc
import os
import sys
import tracemalloc

import numpy as np
import pytest

import fastconv.functional as F
import fastconv.reference as R
from conftest import _sanitizer_runtime_loaded, record_figure

CALLS = 2000
WARMUP = 200
TRACED_BOUND = 64 * 1024        # bytes of traced growth per op after 2,000 calls (< 33 B/call)
RSS_BOUND = 2 * 1024 * 1024     # bytes of RSS growth per op after 2,000 calls (~1 KiB/call)
_results = {}
ASAN = _sanitizer_runtime_loaded()


def _cases(dtype):
    rng = np.random.default_rng(7)

    def a(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, w, b = a(2, 4, 9, 9), a(6, 2, 3, 3), a(6)
    gy = a(2, 6, 9, 9)
    p = a(2, 3, 8, 8)
    py, idx = R.max_pool2d(p, 2, return_indices=True)
    bad_idx = idx.copy()
    bad_idx[0, 0, 0, 0] = 64                           # outside the 8x8 plane: caught in C
    lx, lw, lb, lgy = a(5, 7), a(3, 7), a(3), a(5, 3)
    logits, target = a(5, 4), np.array([0, 3, 1, 2, 3])
    gl = a(5)
    # (label, function, args, kwargs, expected error type or None)
    return [
        ("conv2d", F.conv2d, (x, w, b), dict(padding=1, groups=2), None),
        ("conv2d_backward", F.conv2d_backward, (gy, x, w), dict(padding=1, groups=2), None),
        ("conv2d error", F.conv2d, (x, w[:, :1]), dict(padding=1), ValueError),
        ("conv2d_backward error", F.conv2d_backward, (gy[:, :, :3], x, w), dict(groups=2),
         ValueError),
        ("max_pool2d", F.max_pool2d, (p, 2), dict(return_indices=True), None),
        ("max_pool2d_backward", F.max_pool2d_backward, (py, idx, p.shape), {}, None),
        ("max_pool2d_backward bad indices (C)", F.max_pool2d_backward, (py, bad_idx, p.shape),
         {}, ValueError),
        ("max_pool2d error", F.max_pool2d, (p, 2), dict(padding=2), ValueError),
        ("avg_pool2d", F.avg_pool2d, (p, 3, 2, 1), dict(ceil_mode=True), None),
        ("avg_pool2d_backward", F.avg_pool2d_backward, (a(2, 3, 5, 5), p.shape, 3, 2, 1),
         dict(ceil_mode=True), None),
        ("avg_pool2d error", F.avg_pool2d, (p.astype(np.int32), 2), {}, TypeError),
        ("global_avg_pool2d", F.global_avg_pool2d, (p,), {}, None),
        ("global_avg_pool2d_backward", F.global_avg_pool2d_backward, (a(2, 3), p.shape), {},
         None),
        ("linear", F.linear, (lx, lw, lb), {}, None),
        ("linear_backward", F.linear_backward, (lgy, lx, lw), {}, None),
        ("linear error", F.linear, (lx, lw.T), {}, ValueError),
        ("relu", F.relu, (x,), {}, None),
        ("relu_backward", F.relu_backward, (gy, np.maximum(gy, 0)), {}, None),
        ("relu error", F.relu_backward, (gy, x), {}, ValueError),
        ("softmax", F.softmax, (x,), dict(axis=1), None),
        ("log_softmax", F.log_softmax, (logits,), {}, None),
        ("softmax error", F.softmax, (logits,), dict(axis=2), ValueError),
        ("cross_entropy", F.cross_entropy, (logits, target), dict(label_smoothing=0.1), None),
        ("cross_entropy_backward", F.cross_entropy_backward, (logits, target),
         dict(grad_loss=gl, reduction="none"), None),
        ("cross_entropy error", F.cross_entropy, (logits, target + 1), {}, ValueError),
        ("cross_entropy_backward error", F.cross_entropy_backward, (logits, target),
         dict(grad_loss=gl[:3], reduction="none"), ValueError),
        ("strided input", F.conv2d, (x[:, :, ::2, ::2], w), dict(groups=2), None),
        ("read-only Fortran input", F.linear, (np.asfortranarray(lx), lw), {}, None),
    ]


def _rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _run(fn, args, kwargs, exc, n):
    if exc is None:
        for _ in range(n):
            fn(*args, **kwargs)
    else:
        for _ in range(n):
            try:
                fn(*args, **kwargs)
            except exc:
                pass
            else:
                raise AssertionError("expected an error")


@pytest.fixture(scope="module", autouse=True)
def _report():
    _results.clear()
    yield
    if _results:
        traced = max(v[0] for v in _results.values())
        rss = max(v[1] for v in _results.values())
        record_figure("leak bound", f"{len(_results)} op/path cases x {CALLS} calls: max growth "
                      f"{traced} B traced (bound {TRACED_BOUND} B), {rss / 1024:.0f} KiB RSS "
                      f"(bound {RSS_BOUND // 1024} KiB"
                      + (", not checked under ASan" if ASAN else "")
                      + "); input refcounts unchanged")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS needs /proc")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_repeated_calls_do_not_leak(dtype):
    cases = _cases(dtype)
    for label, fn, args, kwargs, exc in cases:
        arrays = [v for v in list(args) + list(kwargs.values()) if isinstance(v, np.ndarray)]
        _run(fn, args, kwargs, exc, WARMUP)
        gc.collect()
        refs = [sys.getrefcount(v) for v in arrays]
        rss0 = _rss()
        tracemalloc.start()
        try:
            traced0 = tracemalloc.get_traced_memory()[0]
            _run(fn, args, kwargs, exc, CALLS)
            gc.collect()
            traced = tracemalloc.get_traced_memory()[0] - traced0
        finally:
            tracemalloc.stop()
        rss = _rss() - rss0
        key = f"{label} ({np.dtype(dtype).name})"
        _results[key] = (traced, rss)
        assert traced <= TRACED_BOUND, f"{key}: traced memory grew by {traced} B"
        if not ASAN:   # ASan keeps freed memory in quarantine: RSS says nothing there
            assert rss <= RSS_BOUND, f"{key}: RSS grew by {rss} B"
        assert [sys.getrefcount(v) for v in arrays] == refs, f"{key}: input refcounts changed"


def test_leak_check_detects_a_leak():
    """The measurement itself: a function that keeps 1 KiB per call is caught."""
    kept = []
    x = np.ones(128)

    def leaky(a):
        kept.append(np.array(a))
        return F.relu(a)

    tracemalloc.start()
    try:
        t0 = tracemalloc.get_traced_memory()[0]
        _run(leaky, (x,), {}, None, CALLS)
        grown = tracemalloc.get_traced_memory()[0] - t0
    finally:
        tracemalloc.stop()
    assert grown > TRACED_BOUND
    refs = sys.getrefcount(x)
    hold = [x] * 3  # noqa: F841  (three more references)
    assert sys.getrefcount(x) == refs + 3
