"""Big indices: a float32 tensor of more than 2**31 elements (1, 1, 46400, 46400) through conv2d,
max pooling (forward with int64 indices and backward) and average pooling, checked against
the reference on bands of rows at the top, in the middle and at the bottom, where flat
offsets and max-pool indices exceed 2**31.

Marked slow: it needs about 17 GB of free memory and one to two minutes; it skips (saying
so) when the memory is not there.  Run it with `pytest -m slow tests/test_bigindex.py`.
"""
import time

import numpy as np
import pytest

import fastconv.functional as F
from conftest import R64, assert_close, record_figure

H = W = 46400                      # H * W = 2,152,960,000 > 2**31 = 2,147,483,648
NEED = 19 * 10 ** 9                # bytes: x and y (8.6 GB each) plus slack


def _available():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _bands(H, W):
    """Row bands [a, b) to check: top, middle, and the bottom rows past flat index 2**31
    (at least the last 64 rows)."""
    first_big_row = min((2 ** 31) // W, H - 56)     # 46282 for the big tensor
    return [(0, 64), (H // 2 - 32, H // 2 + 32), (first_big_row - 8, H)]


def _conv_band(x, w, b, a, e):
    """Reference conv (padding 1) of rows [a, e) of the output, from x's rows a-1 .. e."""
    H = x.shape[2]
    lo, hi = max(a - 1, 0), min(e + 1, H)
    xs = x[:, :, lo:hi, :]
    xs = np.pad(xs, ((0, 0), (0, 0), (1 if a == 0 else 0, 1 if e == H else 0), (0, 0)))
    return R64.conv2d(xs, w, b, padding=(0, 1))


@pytest.mark.slow
def test_tensor_over_2_31_elements_through_conv_and_pooling():
    if _available() < NEED:
        pytest.skip(f"needs {NEED / 1e9:.0f} GB of available memory, "
                    f"have {_available() / 1e9:.1f} GB")
    assert H * W > 2 ** 31
    record_figure("big indices", _check(H, W))


@pytest.mark.parametrize("size", [(300, 256), (258, 301)])  # even H, as the big one
def test_same_checks_on_a_small_tensor(size):
    """The checks of the big test, on a small tensor (this one runs in CI)."""
    _check(*size)


def _check(H, W):
    t0 = time.perf_counter()
    x = np.empty((1, 1, H, W), np.float32)
    rng = np.random.default_rng(2024)
    for r in range(0, H, 2048):
        rng.random(out=x[0, 0, r:r + 2048], dtype=np.float32)
        x[0, 0, r:r + 2048] -= 0.5
    w = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    b = np.array([0.25], np.float32)
    checked = 0

    # conv2d 1 -> 1, 3x3, padding 1: an output of H * W elements too.
    t = time.perf_counter()
    y = F.conv2d(x, w, b, padding=1)
    t_conv = time.perf_counter() - t
    assert y.shape == (1, 1, H, W)
    for a, e in _bands(H, W):
        assert_close(y[:, :, a:e], _conv_band(x, w, b, a, e), np.float32, err_msg=f"rows {a}:{e}")
        checked += (e - a) * W
    del y

    # average pooling 2x2.
    t = time.perf_counter()
    ya = F.avg_pool2d(x, 2)
    t_avg = time.perf_counter() - t
    for a, e in _bands(H, W):
        a2, e2 = a // 2, e // 2
        assert_close(ya[:, :, a2:e2], R64.avg_pool2d(x[:, :, 2 * a2:2 * e2], 2), np.float32)
    del ya

    # max pooling 3x3 stride 2 padding 1, with indices (flat h * W + w, beyond 2**31 at the
    # bottom).
    t = time.perf_counter()
    ym, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    t_max = time.perf_counter() - t
    oh = ym.shape[2]
    assert idx.dtype == np.int64
    assert int(idx[0, 0, -1].max()) > 2 ** 31 or H * W < 2 ** 31
    bands_out = [(0, 32), (oh // 2 - 16, oh // 2 + 16), (oh - 64, oh)]
    for a, e in bands_out:
        lo = max(2 * a - 1, 0)                   # first input row of output row a
        hi = min(2 * (e - 1) + 2, H)             # last input row of output row e-1, + 1
        xs = x[:, :, lo:hi]
        yr, ir = _ref_max_band(xs, lo, a, e, W)
        assert_close(ym[:, :, a:e], yr, np.float32)
        np.testing.assert_array_equal(idx[:, :, a:e], ir)

    # max pooling backward: x is no longer needed (nor the view xs, which keeps it alive);
    # gx has H * W elements again.
    del x, xs
    t = time.perf_counter()
    gx = F.max_pool2d_backward(ym, idx, (1, 1, H, W))
    t_back = time.perf_counter() - t
    a, e = bands_out[-1]
    rows = slice(2 * a - 1, H)
    band = gx[0, 0, rows]
    expected = np.zeros_like(band)
    loc = idx[0, 0, a:e].reshape(-1) - (2 * a - 1) * W
    np.add.at(expected.reshape(-1), loc[loc >= 0], ym[0, 0, a:e].reshape(-1)[loc >= 0])
    # rows 2a-1 can also receive gradient from output row a-1; exclude that row
    np.testing.assert_array_equal(band[1:], expected[1:])
    total = time.perf_counter() - t0
    return (f"(1, 1, {H}, {W}) float32 = {H * W:,} elements (> 2**31): "
                  f"conv2d {t_conv:.1f} s, avg_pool2d {t_avg:.1f} s, max_pool2d "
                  f"{t_max:.1f} s, max_pool2d_backward {t_back:.1f} s; {checked:,} conv "
                  f"outputs and bands of every op checked against the reference, max index "
            f"{int(idx.max()):,}; {total:.0f} s in all")


def _ref_max_band(xs, lo, a, e, W):
    """Reference max pool (3, stride 2, padding 1) of output rows [a, e) from input rows
    xs = x[lo:...]: pad the top only for the first band, and shift the indices by lo * W."""
    if a == 0:
        yr, ir = R64.max_pool2d(xs, 3, 2, (1, 1), return_indices=True)
        yr, ir = yr[:, :, :e - a], ir[:, :, :e - a]
    else:
        # rows lo = 2a-1 .. : output row a's window starts at input row 2a-1 = lo.
        yr, ir = R64.max_pool2d(xs, 3, 2, (0, 1), return_indices=True)
        yr, ir = yr[:, :, :e - a], ir[:, :, :e - a]
    return yr, ir + lo * W
