"""Fused blocks (conv + bias + relu [+ max-pool], linear + relu) and the Winograd conv path.

- Every block against the same ops run one at a time, on every ISA path and both dtypes,
  forward and every gradient, with ties and NaN; the window positions against max_pool2d's
  int64 indices; errors.
- Central differences (float64) for each new backward.
- The Winograd F(2x2, 3x3) and F(4x4, 3x3) paths against the float64 reference on the conv
  grid of test_functional (the shapes they decline run the other paths), forced on and off,
  with their error on the seed networks' shapes recorded; F(4x4) blocks against the unfused
  ops.
"""
import numpy as np
import pytest

import fastconv.functional as F
import fastconv.reference as R
from fastconv import _kernels
from conftest import R64, assert_close, record_figure, tolerance
from test_functional import CONV_CASES, CONV_IDS
from test_reference import gradcheck

BACKENDS = [pytest.param(F, id="functional"), pytest.param(R, id="reference")]

# (input shape, weight shape, conv options, pool size); the seed networks' blocks, the
# Winograd path (32 -> 64 at 14x14 and 16x16), odd sizes the pool does not tile, pool 3,
# strides and groups (the non-Winograd paths), 'same' padding.
BLOCK_CASES = [
    ((3, 1, 28, 28), (32, 1, 3, 3), dict(padding=1), 2),          # MNIST conv1 (direct fewcin)
    ((2, 32, 14, 14), (64, 32, 3, 3), dict(padding=1), 2),        # MNIST conv2 (Winograd)
    ((2, 32, 16, 16), (64, 32, 3, 3), dict(padding=1), 2),        # CIFAR conv2 (Winograd)
    ((2, 3, 32, 32), (32, 3, 3, 3), dict(padding=1), 2),          # CIFAR conv1 (fewcin; row dots unfused)
    ((2, 1, 28, 28), (32, 1, 3, 3), {}, 2),                       # SimpleCNN: 26 -> 13
    ((2, 16, 13, 11), (16, 16, 3, 3), dict(padding=1), 2),        # odd: last row/col unpooled
    ((2, 4, 11, 10), (6, 4, 3, 3), dict(padding=1), 3),           # pool 3
    ((2, 4, 12, 12), (6, 2, 3, 3), dict(stride=2, padding=1, groups=2), 2),
    ((1, 3, 9, 8), (5, 3, 2, 3), dict(padding="same"), 2),        # asymmetric 'same'
    ((0, 3, 8, 8), (4, 3, 3, 3), dict(padding=1), 2),             # batch 0
]
BLOCK_IDS = [f"{x}-{w}-{o}-pool{k}" for x, w, o, k in BLOCK_CASES]


def _data(rng, dtype, xs, ws, ties=False, nan=False):
    if ties:
        # small integers: many equal conv outputs inside a window, and exact sums
        x = rng.integers(-1, 2, xs).astype(dtype)
        w = rng.integers(-1, 2, ws).astype(dtype)
        b = rng.integers(-1, 2, ws[0]).astype(dtype)
    else:
        x = rng.standard_normal(xs).astype(dtype)
        w = (rng.standard_normal(ws) * 0.3).astype(dtype)
        b = rng.standard_normal(ws[0]).astype(dtype)
    if nan and x.size:
        x.reshape(-1)[rng.choice(x.size, max(1, x.size // 50), replace=False)] = np.nan
    return x, w, b


def _window_positions(idx, k, conv_w):
    """max_pool2d's flat indices h * W' + w as the block's window positions r * k + s."""
    h, w = np.divmod(idx, conv_w)
    return ((h % k) * k + (w % k)).astype(np.uint8)


def _unfused(mod, x, w, b, opts, k):
    z = mod.conv2d(x, w, b, **opts)
    a = mod.relu(z)
    y, idx = mod.max_pool2d(a, k, return_indices=True)
    return z, a, y, idx


@pytest.mark.parametrize("case", ["plain", "ties", "nan"])
@pytest.mark.parametrize("xs,ws,opts,k", BLOCK_CASES, ids=BLOCK_IDS)
def test_conv_relu_pool_block_equals_the_unfused_ops(isa, dtype, xs, ws, opts, k, case, rng):
    x, w, b = _data(rng, dtype, xs, ws, ties=case == "ties", nan=case == "nan")
    _check_block_against_the_unfused_ops(x, w, b, opts, k, dtype, rng, case == "plain")


def _check_block_against_the_unfused_ops(x, w, b, opts, k, dtype, rng, against_float64,
                                         gy_scale=1.0):
    z, a, y_ref, idx = _unfused(F, x, w, b, opts, k)
    y, window = F.conv2d_relu_max_pool2d(x, w, b, pool_size=k, **opts)
    assert window.dtype == np.uint8 and window.shape == y.shape == y_ref.shape
    # the same conv path and the same pick rule: bitwise the same values and maxima
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(window, _window_positions(idx, k, z.shape[3]))
    gy = (rng.standard_normal(y.shape) * gy_scale).astype(dtype)
    got = F.conv2d_relu_max_pool2d_backward(gy, y, window, x, w, pool_size=k, **opts)
    ga = F.relu_backward(F.max_pool2d_backward(gy, idx, a.shape), a)
    want = F.conv2d_backward(ga, x, w, **opts)
    for g, e in zip(got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e))
        assert_close(g, e, dtype)
    # and against the float64 reference of the unfused chain
    if against_float64:
        _, a64, y64, idx64 = _unfused(R64, x, w, b, opts, k)
        assert_close(y, y64, dtype)
        g64 = R64.relu_backward(R64.max_pool2d_backward(gy, idx64, a64.shape), a64)
        for g, e in zip(got, R64.conv2d_backward(g64, x, w, **opts)):
            assert_close(g, e, dtype)


# At most 4 input channels, 3x3 stride 1, pool 2: the conv, relu and pool run together in
# registers (the conv output is never stored) and the weight gradient comes straight from
# the pooled gradient where the windows cover the conv output; the plain conv runs the same
# direct kernel (so the block's values are the unfused ones bitwise).  1 to 4 channels; rows
# of fewer, as many as and more windows than a vector has lanes; odd sizes (the backward
# declines them: an unpooled row or column); padding 0 and 2; one window; batch 1 with its
# pooled rows split over two threads, and images over two threads (the weight gradient's
# per-thread partial sums).
FEWCIN_CASES = [
    ((1, 1, 28, 28), (32, 1, 3, 3), dict(padding=1)),  # MNIST conv1 at batch 1
    ((2, 3, 32, 32), (32, 3, 3, 3), dict(padding=1)),  # CIFAR conv1
    ((2, 1, 8, 8), (5, 1, 3, 3), dict(padding=1)),
    ((1, 2, 40, 34), (5, 2, 3, 3), dict(padding=1)),
    ((1, 4, 34, 66), (3, 4, 3, 3), {}),
    ((2, 1, 13, 11), (5, 1, 3, 3), dict(padding=1)),
    ((2, 3, 9, 9), (4, 3, 3, 3), dict(padding=2)),
    ((1, 1, 4, 4), (2, 1, 3, 3), {}),
    ((1, 1, 96, 90), (32, 1, 3, 3), dict(padding=1)),
    ((3, 1, 64, 64), (32, 1, 3, 3), dict(padding=1)),
    ((3, 3, 40, 40), (16, 3, 3, 3), dict(padding=1)),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", ["plain", "ties", "nan"])
@pytest.mark.parametrize("xs,ws,opts", FEWCIN_CASES,
                         ids=[f"{x}-{w}-{o}" for x, w, o in FEWCIN_CASES])
def test_fewcin_pool_block_equals_the_unfused_ops(isa, dtype, xs, ws, opts, case, threads, rng):
    """The output gradient is scaled by 1 / sqrt(its elements per channel), which keeps the
    weight gradient's sums O(1) on the large planes too (thousands of windows per channel),
    the regime the float32 tolerance is set for (test_block_backward_in_chunks_of_images)."""
    import fastconv
    x, w, b = _data(rng, dtype, xs, ws, ties=case == "ties", nan=case == "nan")
    n, _, h, wd = xs
    pad = opts.get("padding", 0)
    per_channel = n * ((h + 2 * pad - 2) // 2) * ((wd + 2 * pad - 2) // 2)
    scale = 1.0 / np.sqrt(per_channel)
    with fastconv.local_num_threads(threads):
        _check_block_against_the_unfused_ops(x, w, b, opts, 2, dtype, rng, case == "plain",
                                             gy_scale=scale)


@pytest.mark.parametrize("xs,ws,opts,k", BLOCK_CASES[:4] + BLOCK_CASES[7:9],
                         ids=BLOCK_IDS[:4] + BLOCK_IDS[7:9])
def test_conv_relu_block_equals_the_unfused_ops(isa, dtype, xs, ws, opts, k, rng):
    x, w, b = _data(rng, dtype, xs, ws, nan=True)
    a = F.relu(F.conv2d(x, w, b, **opts))
    y = F.conv2d(x, w, b, activation="relu", **opts)
    np.testing.assert_array_equal(y, a)
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = F.conv2d_backward(gy, x, w, activation="relu", output=y, **opts)
    want = F.conv2d_backward(F.relu_backward(gy, a), x, w, **opts)
    for g, e in zip(got, want):
        assert_close(g, e, dtype)


@pytest.mark.parametrize("n,d,m", [(64, 3136, 128), (1, 3136, 128), (7, 33, 5), (300, 40, 3),
                                   (0, 8, 4)])
def test_linear_relu_block_equals_the_unfused_ops(isa, dtype, n, d, m, rng):
    x = rng.standard_normal((n, d)).astype(dtype)
    w = (rng.standard_normal((m, d)) * 0.1).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    if x.size:
        x[0, 0] = np.nan
    a = F.relu(F.linear(x, w, b))
    y = F.linear(x, w, b, activation="relu")
    np.testing.assert_array_equal(np.isnan(y), np.isnan(a))
    assert_close(y, a, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = F.linear_backward(gy, x, w, activation="relu", output=y)
    want = F.linear_backward(F.relu_backward(gy, a), x, w)
    for g, e in zip(got, want):
        assert_close(g, e, dtype)
    # output_mask still skips what is not asked for
    gx, gw, gb = F.linear_backward(gy, x, w, (False, True, False), activation="relu", output=y)
    assert gx is None and gb is None and gw.shape == w.shape


@pytest.mark.parametrize("mod", BACKENDS)
def test_block_gradients_central_differences(mod, rng):
    # values apart from each other and from 0, so that no maximum or relu kink lies within h
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) * 0.013 - 1.0
    w = rng.standard_normal((3, 2, 3, 3))
    b = np.array([0.31, -0.17, 0.05])
    opts = dict(padding=1)

    def block(xv, wv, bv):
        return mod.conv2d_relu_max_pool2d(xv, wv, bv, pool_size=2, **opts)[0]

    y, window = mod.conv2d_relu_max_pool2d(x, w, b, pool_size=2, **opts)
    gy = rng.standard_normal(y.shape)
    gx, gw, gb = mod.conv2d_relu_max_pool2d_backward(gy, y, window, x, w, pool_size=2, **opts)
    gradcheck(lambda v: block(v, w, b), x, gy, gx)
    gradcheck(lambda v: block(x, v, b), w, gy, gw)
    gradcheck(lambda v: block(x, w, v), b, gy, gb)
    yr = mod.conv2d(x, w, b, activation="relu", **opts)
    gyr = rng.standard_normal(yr.shape)
    gx, gw, gb = mod.conv2d_backward(gyr, x, w, activation="relu", output=yr, **opts)
    gradcheck(lambda v: mod.conv2d(v, w, b, activation="relu", **opts), x, gyr, gx)
    gradcheck(lambda v: mod.conv2d(x, v, b, activation="relu", **opts), w, gyr, gw)
    xl, wl, bl = rng.standard_normal((5, 7)), rng.standard_normal((4, 7)), rng.standard_normal(4)
    yl = mod.linear(xl, wl, bl, activation="relu")
    gyl = rng.standard_normal(yl.shape)
    gx, gw, gb = mod.linear_backward(gyl, xl, wl, activation="relu", output=yl)
    gradcheck(lambda v: mod.linear(v, wl, bl, activation="relu"), xl, gyl, gx)
    gradcheck(lambda v: mod.linear(xl, v, bl, activation="relu"), wl, gyl, gw)
    gradcheck(lambda v: mod.linear(xl, wl, v, activation="relu"), bl, gyl, gb)


@pytest.mark.parametrize("mod", BACKENDS)
def test_block_errors(mod, rng):
    x, w, b = _data(rng, np.float32, (2, 3, 8, 8), (4, 3, 3, 3))
    with pytest.raises(ValueError, match="pool_size must be an int in \\[2, 15\\], but got 1"):
        mod.conv2d_relu_max_pool2d(x, w, b, pool_size=1)
    with pytest.raises(ValueError, match="Output size is too small"):
        mod.conv2d_relu_max_pool2d(x, w, b, pool_size=7)
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        mod.conv2d(x, w, b, activation="tanh")
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        mod.linear(x.reshape(2, -1), w.reshape(4, -1)[:, :192], activation="sigmoid")
    y, window = mod.conv2d_relu_max_pool2d(x, w, b, padding=1)
    gy = np.ones_like(y)
    with pytest.raises(ValueError, match="needs output"):
        mod.conv2d_backward(np.ones((2, 4, 8, 8), np.float32), x, w, padding=1,
                            activation="relu")
    with pytest.raises(ValueError, match="expected grad_output of shape \\(2, 4, 4, 4\\)"):
        mod.conv2d_relu_max_pool2d_backward(gy[:, :, :3], y, window, x, w, padding=1)
    with pytest.raises(ValueError, match="expected output of shape"):
        mod.conv2d_relu_max_pool2d_backward(gy, y[:1], window, x, w, padding=1)
    with pytest.raises(TypeError, match="output dtype \\(float64\\)"):
        mod.conv2d_relu_max_pool2d_backward(gy, y.astype(np.float64), window, x, w, padding=1)
    with pytest.raises(TypeError, match="window must be the uint8 array"):
        mod.conv2d_relu_max_pool2d_backward(gy, y, window.astype(np.int64), x, w, padding=1)
    with pytest.raises(ValueError, match="outside a 2x2 window"):
        mod.conv2d_relu_max_pool2d_backward(gy, y, window + 4, x, w, padding=1)


def test_block_inputs_unchanged_and_layouts(rng):
    x, w, b = _data(rng, np.float64, (2, 8, 10, 12), (16, 8, 3, 3))
    xf = np.asfortranarray(x)
    xs = np.zeros((2, 8, 20, 12))[:, :, ::2]
    xs[...] = x
    for arr in (x, xf, xs):
        arr.setflags(write=False)
    ref, wref = F.conv2d_relu_max_pool2d(x, w, b, padding=1)
    for arr in (xf, xs):
        y, window = F.conv2d_relu_max_pool2d(arr, w, b, padding=1)
        np.testing.assert_array_equal(y, ref)
        np.testing.assert_array_equal(window, wref)
        g = F.conv2d_relu_max_pool2d_backward(np.ones_like(y), y, window, arr, w, padding=1)
        assert all(v is not None for v in g)
    np.testing.assert_array_equal(xs, x)


# ---------------------------------------------------------------------------------------
# Winograd F(2x2, 3x3)
# ---------------------------------------------------------------------------------------

@pytest.fixture(params=[0, 1, 2, 3, 4], ids=["winograd-off", "winograd-auto", "winograd-forced",
                                             "winograd-fast", "winograd-f4-forced"])
def winograd(request):
    old = _kernels.set_conv_winograd(request.param)
    try:
        yield request.param
    finally:
        _kernels.set_conv_winograd(old)


WINOGRAD_EXTRA = [
    ((2, 32, 14, 14), (64, 32, 3, 3), dict(padding=1)),
    ((2, 64, 14, 14), (32, 64, 3, 3), dict(padding=1)),    # the input gradient of the above
    ((1, 20, 17, 23), (24, 20, 3, 3), dict(padding=2)),    # odd sizes, padding 2
    ((2, 5, 4, 4), (3, 5, 3, 3), {}),                      # one 2x2 output tile
    ((1, 3, 3, 3), (2, 3, 3, 3), {}),                      # a single output
]


@pytest.mark.parametrize("xs,ws,opts", CONV_CASES + WINOGRAD_EXTRA,
                         ids=CONV_IDS + [f"{x}-{w}-{o}" for x, w, o in WINOGRAD_EXTRA])
def test_winograd_on_the_conv_grid(isa, dtype, winograd, xs, ws, opts, rng):
    # weights and gradients scaled by 1 / sqrt(terms per sum): outputs and gradients O(1),
    # the regime the float32 tolerance is set for
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    y = F.conv2d(x, w, b, **opts)
    assert_close(y, R64.conv2d(x, w, b, **opts), dtype)
    gy = (rng.standard_normal(y.shape) / np.sqrt(max(1, y.shape[0] * y.shape[2] * y.shape[3]))
          ).astype(dtype)
    for g, e in zip(F.conv2d_backward(gy, x, w, **opts), R64.conv2d_backward(gy, x, w, **opts)):
        assert_close(g, e, dtype)


SEED_SHAPES = {"MNIST conv2": ((8, 32, 14, 14), (64, 32, 3, 3)),
               "CIFAR conv2": ((8, 32, 16, 16), (64, 32, 3, 3))}


@pytest.mark.parametrize("mode, tile", [(2, "F(2x2,3x3)"), (4, "F(4x4,3x3)")])
def test_winograd_error_on_the_seed_shapes(mode, tile, rng):
    """The float32 Winograd paths' largest error against float64, relative to the largest
    output, forward, input gradient and weight gradient (F(2x2) in every mode), on the seed
    networks' 3x3 convs they run on; it stays within the float32 tolerance."""
    old = _kernels.set_conv_winograd(mode)
    found = []
    try:
        for name, (xs, ws) in SEED_SHAPES.items():
            x = rng.standard_normal(xs).astype(np.float32)
            w = (rng.standard_normal(ws) / np.sqrt(ws[1] * 9)).astype(np.float32)
            y = F.conv2d(x, w, padding=1)
            y64 = R64.conv2d(x, w, padding=1)
            gy = rng.standard_normal(y.shape).astype(np.float32)
            gx, gw, _ = F.conv2d_backward(gy, x, w, padding=1, output_mask=(True, True, False))
            gx64, gw64, _ = R64.conv2d_backward(gy, x, w, padding=1)
            for what, a, e in (("forward", y, y64), ("grad_input", gx, gx64),
                               ("grad_weight", gw, gw64)):
                err = float(np.abs(a - e).max() / np.abs(e).max())
                assert err < tolerance(np.float32)["rtol"]
                found.append(f"{name} {what} {err:.1e}")
    finally:
        _kernels.set_conv_winograd(old)
    record_figure(f"Winograd {tile} float32, max |error| / max |output| against float64",
                  "; ".join(found))


CHUNKED_BACKWARD_CASES = [
    # (input, weight, padding, output_mask): the cin1 3x3 kernels (input gradient too), the
    # row-dot weight gradient (CIFAR conv1) and the im2col one (a 5x5 kernel), first layers
    # (with pool 2 and no input gradient the 3x3 ones take the fewcin pooled kernels instead)
    ((1, 28, 28), (32, 1, 3, 3), 1, (True, True, True)),
    ((1, 28, 28), (32, 1, 3, 3), 1, (False, True, True)),
    ((3, 32, 32), (32, 3, 3, 3), 1, (False, True, True)),
    ((3, 12, 10), (8, 3, 5, 5), 2, (False, True, False)),
    ((3, 12, 10), (8, 3, 5, 5), 2, (False, False, True)),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [1, 2, 5, 9])
@pytest.mark.parametrize("k", [0, 2])
@pytest.mark.parametrize("xs,ws,pad,mask", CHUNKED_BACKWARD_CASES)
def test_block_backward_in_chunks_of_images(isa, dtype, threads, n, k, xs, ws, pad, mask, rng):
    """Where the weight gradient runs image by image, the block backward builds its
    conv-output gradient a chunk of images at a time (an L2-sized scratch per thread: 2 MNIST
    or CIFAR images per chunk) and sums the chunks' weight and bias gradients: every batch,
    with chunks split evenly or not over 1 or 2 threads, gives the unfused chain's gradients
    (float64 reference), and None where the mask says so.  The output gradient is scaled by
    1 / sqrt(its elements per channel), which keeps the weight gradient's sums O(1), the
    regime the float32 tolerance is set for."""
    import fastconv
    with fastconv.local_num_threads(threads):
        x, w, b = _data(rng, dtype, (n,) + xs, ws)
        z = F.conv2d(x, w, b, padding=pad)
        a = F.relu(z)
        if k:
            y, window = F.conv2d_relu_max_pool2d(x, w, b, padding=pad, pool_size=k)
            ya, idx = F.max_pool2d(a, k, return_indices=True)
            np.testing.assert_array_equal(y, ya)
        else:
            y = F.conv2d(x, w, b, padding=pad, activation="relu")
        scale = 1 / np.sqrt(max(1, y.size // y.shape[1]))
        gy = (rng.standard_normal(y.shape) * scale).astype(dtype)
        if k:
            got = F.conv2d_relu_max_pool2d_backward(gy, y, window, x, w, padding=pad,
                                                    pool_size=k, output_mask=mask)
            ga = F.relu_backward(F.max_pool2d_backward(gy, idx, a.shape), a)
        else:
            got = F.conv2d_backward(gy, x, w, padding=pad, activation="relu", output=y,
                                    output_mask=mask)
            ga = F.relu_backward(gy, a)
        want = R64.conv2d_backward(ga.astype(np.float64), x.astype(np.float64),
                                   w.astype(np.float64), padding=pad)
        for g, e, m in zip(got, want, mask):
            if not m:
                assert g is None
                continue
            assert g.dtype == dtype
            assert_close(g, e, dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n,hw", [(8, 14), (3, 16), (0, 14)])
def test_block_bias_gradient_is_the_unfused_one_bitwise(threads, n, hw, rng):
    """The pooling block's backward takes each plane's sum as it unpools it (in the parallel
    pass) and adds them image by image: bitwise the bias gradient conv2d_backward sums from
    the unfused chain's gradient (the MNIST and CIFAR conv2 blocks)."""
    import fastconv
    with fastconv.local_num_threads(threads):
        x = rng.standard_normal((n, 32, hw, hw)).astype(np.float32)
        w = (rng.standard_normal((64, 32, 3, 3)) / 17).astype(np.float32)
        b = rng.standard_normal(64).astype(np.float32)
        y, window = F.conv2d_relu_max_pool2d(x, w, b, padding=1)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        _, a, _, idx = _unfused(F, x, w, b, {"padding": 1}, 2)
        ga = F.relu_backward(F.max_pool2d_backward(gy, idx, a.shape), a)
        want = F.conv2d_backward(ga, x, w, padding=1)[2]
        for mask in ((True, True, True), (False, True, True), (False, False, True)):
            gb = F.conv2d_relu_max_pool2d_backward(gy, y, window, x, w, padding=1,
                                                   output_mask=mask)[2]
            np.testing.assert_array_equal(gb, want)
        assert n > 0 or not want.any()


@pytest.mark.parametrize("mode", [2, 4])
@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_results_do_not_depend_on_the_batch_split(mode, threads, rng):
    """Work items of F(2x2) run over image boundaries (rows of several images in one item);
    each tile is computed the same way whatever the item or thread: a batch gives bitwise
    the results of its images one at a time, forward, input gradient and the fused block
    (one image on 2 threads is split into two items)."""
    import fastconv
    old = _kernels.set_conv_winograd(mode)
    try:
        with fastconv.local_num_threads(threads):
            x = rng.standard_normal((5, 32, 14, 14)).astype(np.float32)
            w = (rng.standard_normal((64, 32, 3, 3)) / np.sqrt(288)).astype(np.float32)
            b = rng.standard_normal(64).astype(np.float32)
            gy = rng.standard_normal((5, 64, 14, 14)).astype(np.float32)
            y = F.conv2d(x, w, b, padding=1)
            gx = F.conv2d_backward(gy, x, w, padding=1, output_mask=(True, False, False))[0]
            yb, wb = F.conv2d_relu_max_pool2d(x, w, b, padding=1)
            for i in range(5):
                np.testing.assert_array_equal(y[i:i + 1], F.conv2d(x[i:i + 1], w, b, padding=1))
                np.testing.assert_array_equal(
                    gx[i:i + 1], F.conv2d_backward(gy[i:i + 1], x[i:i + 1], w, padding=1,
                                                   output_mask=(True, False, False))[0])
                y1, w1 = F.conv2d_relu_max_pool2d(x[i:i + 1], w, b, padding=1)
                np.testing.assert_array_equal(yb[i:i + 1], y1)
                np.testing.assert_array_equal(wb[i:i + 1], w1)
    finally:
        _kernels.set_conv_winograd(old)


@pytest.mark.parametrize("caches", [(4 << 10, 16 << 10, 0), (1 << 20, 64 << 20, 1 << 30)],
                         ids=["small L2", "large L2"])
@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_weight_gradient_chunks_follow_the_cache_sizes(isa, dtype, caches, threads,
                                                                rng):
    """The Winograd weight gradient sums its images in chunks sized by L2 (64 tiles at the
    least, 256 at the most): a small L2 gives one 14x14 image (49 tiles) or a few 4x4 ones
    per chunk, a large one several; both, on the detected sizes' code path, match float64."""
    import fastconv
    old = _kernels.set_conv_winograd(2)
    try:
        _kernels.set_cache_sizes(caches)
        with fastconv.local_num_threads(threads):
            for xs, ws in (((7, 32, 14, 14), (64, 32, 3, 3)), ((37, 16, 6, 6), (24, 16, 3, 3))):
                x = rng.standard_normal(xs).astype(dtype)
                w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
                gy = (rng.standard_normal((xs[0], ws[0], xs[2], xs[3])) /
                      np.sqrt(xs[0] * xs[2] * xs[3])).astype(dtype)
                gw = F.conv2d_backward(gy, x, w, padding=1, output_mask=(False, True, False))[1]
                want = R64.conv2d_backward(gy, x, w, padding=1,
                                           output_mask=(False, True, False))[1]
                assert_close(gw, want, dtype)
    finally:
        _kernels.set_cache_sizes(None)
        _kernels.set_conv_winograd(old)


@pytest.mark.parametrize("mode", [2, 4])
def test_winograd_kept_weight_transform_follows_the_weights(isa, dtype, mode, rng):
    """The transformed weights are kept for the next call with bitwise the same weights and
    shapes: a change of one weight in place (the last one, which the comparison reaches
    last), of one channel count, of the dtype, or a copy of the weights in another array each
    give the results of a fresh transform."""
    old = _kernels.set_conv_winograd(mode)
    try:
        x = rng.standard_normal((2, 32, 14, 14)).astype(dtype)
        w = (rng.standard_normal((64, 32, 3, 3)) / np.sqrt(288)).astype(dtype)
        b = rng.standard_normal(64).astype(dtype)
        y0 = F.conv2d(x, w, b, padding=1)
        assert_close(y0, R64.conv2d(x, w, b, padding=1), dtype)
        np.testing.assert_array_equal(F.conv2d(x, w.copy(), b, padding=1), y0)
        w[-1, -1, -1, -1] += 1
        y1 = F.conv2d(x, w, b, padding=1)
        assert_close(y1, R64.conv2d(x, w, b, padding=1), dtype)
        assert not np.array_equal(y1[:, -1], y0[:, -1])
        np.testing.assert_array_equal(y1[:, :-1], y0[:, :-1])
        # the same weight bytes read as fewer output channels, then as the other dtype
        y2 = F.conv2d(x, w[:48], b[:48], padding=1)
        assert_close(y2, R64.conv2d(x, w[:48], b[:48], padding=1), dtype)
        other = np.float64 if dtype == np.float32 else np.float32
        y3 = F.conv2d(x.astype(other), w.astype(other), b.astype(other), padding=1)
        assert_close(y3, R64.conv2d(x, w, b, padding=1), other)
        np.testing.assert_array_equal(F.conv2d(x, w, b, padding=1), y1)
    finally:
        _kernels.set_conv_winograd(old)


@pytest.mark.parametrize("shape, opts", [
    (((2, 3, 6, 5), (2, 3, 3, 3)), dict(padding=1)),   # odd width: half-dropped tiles
    (((1, 2, 5, 7), (3, 2, 3, 3)), {}),                # no padding, odd output height
    (((1, 2, 4, 4), (2, 2, 3, 3)), dict(padding=2)),
])
def test_winograd_weight_gradient_central_differences(isa, shape, opts, rng):
    """The Winograd weight gradient (dU summed over tiles, then G^T dU G) against central
    differences of the conv, float64, on every SIMD path."""
    old = _kernels.set_conv_winograd(2)
    try:
        xs, ws = shape
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        y = F.conv2d(x, w, **opts)
        gy = rng.standard_normal(y.shape)
        gw = F.conv2d_backward(gy, x, w, output_mask=(False, True, False), **opts)[1]
        gradcheck(lambda v: F.conv2d(x, v, **opts), w, gy, gw)
    finally:
        _kernels.set_conv_winograd(old)


def test_winograd_is_chosen_by_the_cost_model():
    """The path taken, seen through the results: forcing it on or off changes the float32
    rounding of a conv the cost model sends to Winograd, and not of one it declines."""
    rng = np.random.default_rng(3)

    def run(mode, xs, ws):
        old = _kernels.set_conv_winograd(mode)
        try:
            x = np.random.default_rng(4).standard_normal(xs).astype(np.float32)
            w = np.random.default_rng(5).standard_normal(ws).astype(np.float32)
            return F.conv2d(x, w, padding=1)
        finally:
            _kernels.set_conv_winograd(old)
    del rng
    taken = ((2, 32, 16, 16), (64, 32, 3, 3))       # CIFAR conv2: 16x16 tiles exactly
    declined = ((2, 3, 32, 32), (32, 3, 3, 3))      # 3 input channels
    assert not np.array_equal(run(1, *taken), run(0, *taken))
    # the weight gradient too: MNIST conv2 takes it, a 3-channel input does not
    def grad_w(mode, xs, ws):
        old = _kernels.set_conv_winograd(mode)
        try:
            x = np.random.default_rng(4).standard_normal(xs).astype(np.float32)
            w = np.random.default_rng(5).standard_normal(ws).astype(np.float32)
            gy = np.random.default_rng(6).standard_normal(
                (xs[0], ws[0], xs[2], xs[3])).astype(np.float32)
            return F.conv2d_backward(gy, x, w, padding=1, output_mask=(False, True, False))[1]
        finally:
            _kernels.set_conv_winograd(old)
    mnist = ((2, 32, 14, 14), (64, 32, 3, 3))
    assert not np.array_equal(grad_w(1, *mnist), grad_w(0, *mnist))
    np.testing.assert_array_equal(grad_w(1, *mnist), grad_w(2, *mnist))
    np.testing.assert_array_equal(grad_w(1, *declined), grad_w(0, *declined))
    np.testing.assert_array_equal(run(1, *taken), run(2, *taken))
    np.testing.assert_array_equal(run(1, *declined), run(0, *declined))
    # "fast" (3) takes F(4x4) on both seed convs, as forcing it (4) does; F(2x2) differs
    for shape in (taken, mnist):
        np.testing.assert_array_equal(run(3, *shape), run(4, *shape))
        assert not np.array_equal(run(3, *shape), run(2, *shape))
    np.testing.assert_array_equal(run(3, *declined), run(0, *declined))
    # a plane under 8 rows stays on F(2x2) in mode 3
    small = ((2, 32, 6, 6), (64, 32, 3, 3))
    np.testing.assert_array_equal(run(3, *small), run(1, *small))
    # the weight gradient is F(2x2)'s in modes 3 and 4
    np.testing.assert_array_equal(grad_w(3, *mnist), grad_w(1, *mnist))
    np.testing.assert_array_equal(grad_w(4, *mnist), grad_w(2, *mnist))
    assert _kernels.set_conv_winograd(7) == -1
    assert _kernels.set_conv_winograd(5) == -1


F4_BLOCK_CASES = [BLOCK_CASES[1], BLOCK_CASES[2], BLOCK_CASES[5],
                  ((1, 8, 19, 18), (5, 8, 3, 3), dict(padding=1), 2)]   # 5 x 5 tiles, odd rows


@pytest.mark.parametrize("case", ["plain", "ties", "nan"])
@pytest.mark.parametrize("xs,ws,opts,k", F4_BLOCK_CASES,
                         ids=[f"{x}-{w}-{o}-pool{k}" for x, w, o, k in F4_BLOCK_CASES])
def test_winograd_f4_block_equals_the_unfused_ops(isa, dtype, xs, ws, opts, k, case, rng):
    """conv + relu + max-pool on F(4x4, 3x3) (the output transform pools each 4x4 tile's four
    windows): bitwise the unfused ops on the same path, ties and NaN included; gradients
    against the unfused chain and, for weights scaled to O(1) outputs (the regime of the
    float32 tolerance), against the float64 reference."""
    old = _kernels.set_conv_winograd(4)
    try:
        x, w, b = _data(rng, dtype, xs, ws, ties=case == "ties", nan=case == "nan")
        if case == "plain":
            w = (w / 0.3 / np.sqrt(np.prod(ws[1:]))).astype(dtype)
        _check_block_against_the_unfused_ops(x, w, b, opts, k, dtype, rng, case == "plain")
    finally:
        _kernels.set_conv_winograd(old)
