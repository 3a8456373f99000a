"""fastconv.reference: the NumPy backend, with the same functions, signatures and errors as
fastconv.functional.

Written as the best honest NumPy: im2col through ``as_strided`` plus batched ``matmul``,
col2im by strided accumulation over the kernel offsets, max pooling through window views
and ``argmax``.  There are no Python loops over pixels, images or channels (only over the
kh * kw kernel offsets in col2im).  It is the baseline every benchmark compares against and
the oracle the C kernels are tested against.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import functional as _functional
from .backend import bind_kernels as _bind_kernels
# The public functions, for readers and type checkers: the definitions of fastconv.functional.
# At the end of this module they are replaced by copies that call _NumpyKernels.
from .functional import *  # noqa: F401,F403


def _pad(x, ph, pw, extra_h=0, extra_w=0, value=0.0):
    if ph == pw == extra_h == extra_w == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)),
                  constant_values=value)


def _windows(xp, kh, kw, sh, sw, dh, dw, out_h, out_w):
    """View (N, C, out_h, out_w, kh, kw) of the windows of a padded NCHW array."""
    n, c = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (n, c, out_h, out_w, kh, kw),
                      (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw), writeable=False)


def _extra(size, pad, k, s, d, out):
    """Zero rows/columns needed beyond size + 2 * pad for the last window (ceil_mode)."""
    return max(0, (out - 1) * s + d * (k - 1) + 1 - (size + 2 * pad))


class _NumpyKernels:
    """The Python-level kernel API of fastconv._kernels, implemented with NumPy."""

    # --- conv2d ---------------------------------------------------------------------------
    @staticmethod
    def _cols(x, kh, kw, sh, sw, ph, pw, dh, dw, groups, out_h, out_w):
        n, c = x.shape[:2]
        cg = c // groups
        xp = _pad(x, ph, pw)
        win = _windows(xp, kh, kw, sh, sw, dh, dw, out_h, out_w)      # (N, C, oh, ow, kh, kw)
        win = win.reshape(n, groups, cg, out_h, out_w, kh, kw)
        # (G, N, oh, ow, Cg, kh, kw) -> (G, N*oh*ow, Cg*kh*kw): the im2col copy
        return np.ascontiguousarray(win.transpose(1, 0, 3, 4, 2, 5, 6)).reshape(
            groups, n * out_h * out_w, cg * kh * kw)

    @staticmethod
    def conv2d_forward(x, w, b, sh, sw, ph, pw, dh, dw, groups, out_h, out_w):
        n = x.shape[0]
        f, cg, kh, kw = w.shape
        fg = f // groups
        cols = _NumpyKernels._cols(x, kh, kw, sh, sw, ph, pw, dh, dw, groups, out_h, out_w)
        wm = w.reshape(groups, fg, cg * kh * kw).transpose(0, 2, 1)       # (G, K, Fg)
        y = np.matmul(cols, wm)                                            # (G, N*oh*ow, Fg)
        y = y.reshape(groups, n, out_h, out_w, fg).transpose(1, 0, 4, 2, 3)
        y = np.ascontiguousarray(y).reshape(n, f, out_h, out_w)
        if b is not None:
            y += b.reshape(1, f, 1, 1)
        return y

    @staticmethod
    def conv2d_backward(gy, x, w, sh, sw, ph, pw, dh, dw, groups, need_gx, need_gw, need_gb):
        n, c, h, wd = x.shape
        f, cg, kh, kw = w.shape
        fg = f // groups
        out_h, out_w = gy.shape[2], gy.shape[3]
        # (N, F, oh, ow) -> (G, N*oh*ow, Fg)
        gym = np.ascontiguousarray(
            gy.reshape(n, groups, fg, out_h, out_w).transpose(1, 0, 3, 4, 2)).reshape(
            groups, n * out_h * out_w, fg)
        gx = gw = gb = None
        if need_gb:
            gb = gy.sum(axis=(0, 2, 3))
        if need_gw:
            cols = _NumpyKernels._cols(x, kh, kw, sh, sw, ph, pw, dh, dw, groups, out_h, out_w)
            gw = np.matmul(cols.transpose(0, 2, 1), gym)                  # (G, K, Fg)
            gw = np.ascontiguousarray(gw.transpose(0, 2, 1)).reshape(f, cg, kh, kw)
        if need_gx:
            wm = w.reshape(groups, fg, cg * kh * kw)
            dcols = np.matmul(gym, wm)                                     # (G, N*oh*ow, K)
            dcols = dcols.reshape(groups, n, out_h, out_w, cg, kh, kw)
            # -> (kh, kw, N, G, Cg, oh, ow)
            dcols = dcols.transpose(5, 6, 1, 0, 4, 2, 3).reshape(kh, kw, n, c, out_h, out_w)
            gxp = np.zeros((n, c, h + 2 * ph + sh, wd + 2 * pw + sw), dtype=x.dtype)
            he, we = sh * (out_h - 1) + 1, sw * (out_w - 1) + 1
            for i in range(kh):
                for j in range(kw):
                    gxp[:, :, i * dh:i * dh + he:sh, j * dw:j * dw + we:sw] += dcols[i, j]
            gx = np.ascontiguousarray(gxp[:, :, ph:ph + h, pw:pw + wd])
        return gx, gw, gb

    # --- conv2d blocks: conv + bias + relu (+ k x k stride-k max-pool) ---------------------
    @staticmethod
    def conv2d_block_forward(x, w, b, sh, sw, ph, pw, dh, dw, groups, out_h, out_w, relu,
                             pool):
        y = _NumpyKernels.conv2d_forward(x, w, b, sh, sw, ph, pw, dh, dw, groups, out_h, out_w)
        if relu:
            y = _NumpyKernels.relu_forward(y)
        if not pool:
            return y, None
        k = pool
        n, f = y.shape[:2]
        ph_, pw_ = out_h // k, out_w // k
        win = _windows(y, k, k, k, k, 1, 1, ph_, pw_).reshape(n, f, ph_, pw_, k * k)
        am = np.argmax(win, axis=-1)            # the first maximum; NaN counts as the largest
        nan_out = np.isnan(np.take_along_axis(win, am[..., None], axis=-1)[..., 0])
        if nan_out.any():                       # ... and among NaNs the last one wins
            last_nan = k * k - 1 - np.argmax(np.isnan(win[..., ::-1]), axis=-1)
            am = np.where(nan_out, last_nan, am)
        out = np.take_along_axis(win, am[..., None], axis=-1)[..., 0]
        return np.ascontiguousarray(out), am.astype(np.uint8)

    @staticmethod
    def conv2d_block_backward(gy, y, idx, x, w, sh, sw, ph, pw, dh, dw, groups, out_h, out_w,
                              relu, pool, need_gx, need_gw, need_gb):
        g = _NumpyKernels.relu_backward(gy, y) if relu else gy
        if pool:
            k = pool
            n, f, ph_, pw_ = g.shape
            full = np.zeros((n, f, ph_, k, pw_, k), dtype=g.dtype)
            r, s = np.divmod(idx.astype(np.int64), k)
            nn, ff, ii, jj = np.indices(g.shape, sparse=True)
            full[nn, ff, ii, r, jj, s] = g
            g = np.zeros((n, f, out_h, out_w), dtype=g.dtype)
            g[:, :, :ph_ * k, :pw_ * k] = full.reshape(n, f, ph_ * k, pw_ * k)
        return _NumpyKernels.conv2d_backward(g, x, w, sh, sw, ph, pw, dh, dw, groups, need_gx,
                                             need_gw, need_gb)

    # --- pooling --------------------------------------------------------------------------
    @staticmethod
    def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, with_indices):
        n, c, h, w = x.shape
        eh = _extra(h, ph, kh, sh, dh, out_h)
        ew = _extra(w, pw, kw, sw, dw, out_w)
        xp = _pad(x, ph, pw, eh, ew, value=-np.inf)
        win = _windows(xp, kh, kw, sh, sw, dh, dw, out_h, out_w).reshape(
            n, c, out_h, out_w, kh * kw)
        # argmax returns the first maximum and treats NaN as the largest; PyTorch's CPU
        # kernel lets a later NaN replace an earlier one, so windows whose maximum is NaN
        # take the last NaN instead.
        am = np.argmax(win, axis=-1)
        y = np.take_along_axis(win, am[..., None], axis=-1)[..., 0]
        nan_out = np.isnan(y)
        if nan_out.any():
            last_nan = kh * kw - 1 - np.argmax(np.isnan(win[..., ::-1]), axis=-1)
            am = np.where(nan_out, last_nan, am)
        idx = None
        if with_indices:
            i, j = np.divmod(am, kw)
            rows = np.arange(out_h).reshape(out_h, 1) * sh - ph + i * dh
            cols = np.arange(out_w) * sw - pw + j * dw
            idx = (rows * w + cols).astype(np.int64, copy=False)
        return np.ascontiguousarray(y), idx

    @staticmethod
    def max_pool2d_backward(gy, idx, in_h, in_w):
        n, c, out_h, out_w = gy.shape
        plane = in_h * in_w
        flat = idx.reshape(n * c, out_h * out_w)
        n_bad = int(np.count_nonzero((flat < 0) | (flat >= plane)))
        if n_bad:
            return None, n_bad
        pos = (flat + (np.arange(n * c, dtype=np.int64) * plane)[:, None]).ravel()
        gx = np.bincount(pos, weights=gy.ravel(), minlength=n * c * plane)
        return gx.astype(gy.dtype, copy=False).reshape(n, c, in_h, in_w), 0

    @staticmethod
    def _divisor(h, w, kh, kw, sh, sw, ph, pw, out_h, out_w, count_include_pad, dtype):
        def axis(size, k, s, p, out):
            start = np.arange(out) * s - p
            end = np.minimum(start + k, size + p)
            if count_include_pad:
                return end - start
            return np.minimum(end, size) - np.maximum(start, 0)
        return np.outer(axis(h, kh, sh, ph, out_h), axis(w, kw, sw, pw, out_w)).astype(dtype)

    @staticmethod
    def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, out_h, out_w, count_include_pad):
        n, c, h, w = x.shape
        eh = _extra(h, ph, kh, sh, 1, out_h)
        ew = _extra(w, pw, kw, sw, 1, out_w)
        xp = _pad(x, ph, pw, eh, ew)
        win = _windows(xp, kh, kw, sh, sw, 1, 1, out_h, out_w)
        y = win.sum(axis=(4, 5))
        y /= _NumpyKernels._divisor(h, w, kh, kw, sh, sw, ph, pw, out_h, out_w,
                                    count_include_pad, x.dtype)
        return y

    @staticmethod
    def avg_pool2d_backward(gy, in_h, in_w, kh, kw, sh, sw, ph, pw, count_include_pad):
        n, c, out_h, out_w = gy.shape
        g = gy / _NumpyKernels._divisor(in_h, in_w, kh, kw, sh, sw, ph, pw, out_h, out_w,
                                        count_include_pad, gy.dtype)
        he, we = sh * (out_h - 1) + 1, sw * (out_w - 1) + 1
        gxp = np.zeros((n, c, max(in_h + 2 * ph, kh + he), max(in_w + 2 * pw, kw + we)),
                       dtype=gy.dtype)
        for i in range(kh):
            for j in range(kw):
                gxp[:, :, i:i + he:sh, j:j + we:sw] += g
        return np.ascontiguousarray(gxp[:, :, ph:ph + in_h, pw:pw + in_w])

    @staticmethod
    def global_avg_pool2d_forward(x):
        return x.mean(axis=(2, 3))

    @staticmethod
    def global_avg_pool2d_backward(gy, h, w):
        n, c = gy.shape
        return np.ascontiguousarray(
            np.broadcast_to((gy / (h * w))[:, :, None, None], (n, c, h, w)))

    # --- linear, relu ---------------------------------------------------------------------
    @staticmethod
    def linear_forward(x, w, b, relu=False):
        y = x @ w.T
        if b is not None:
            y += b
        return _NumpyKernels.relu_forward(y) if relu else y

    @staticmethod
    def linear_backward(gy, x, w, need_gx, need_gw, need_gb, relu_output=None):
        if relu_output is not None:
            gy = _NumpyKernels.relu_backward(gy, relu_output)
        gx = gy @ w if need_gx else None
        gw = gy.T @ x if need_gw else None
        gb = gy.sum(axis=0) if need_gb else None
        return gx, gw, gb

    @staticmethod
    def relu_forward(x):
        return np.maximum(x, 0)   # propagates NaN

    @staticmethod
    def relu_backward(gy, y):
        return np.where(y <= 0, gy.dtype.type(0), gy)   # a NaN output passes gy, as in PyTorch

    # --- softmax and cross-entropy --------------------------------------------------------
    @staticmethod
    def log_softmax(x):
        z = x - x.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    @staticmethod
    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    @staticmethod
    def cross_entropy_forward(logits, target, label_smoothing, reduction):
        n, c = logits.shape
        lsm = _NumpyKernels.log_softmax(logits) if n else logits
        nll = -np.take_along_axis(lsm, target[:, None], axis=1)[:, 0]
        if label_smoothing:
            loss = (1 - label_smoothing) * nll - (label_smoothing / c) * lsm.sum(axis=1)
        else:
            loss = nll
        loss = loss.astype(logits.dtype, copy=False)
        if reduction == 0:
            return loss
        total = loss.sum(dtype=np.float64)
        if reduction == 1:
            total = total / n if n else np.nan
        return np.asarray(total, dtype=logits.dtype)

    @staticmethod
    def cross_entropy_backward(logits, target, label_smoothing, reduction, grad_loss):
        n, c = logits.shape
        g = _NumpyKernels.softmax(logits) if n else np.zeros_like(logits)
        if label_smoothing:
            g -= logits.dtype.type(label_smoothing / c)
        g[np.arange(n), target] -= logits.dtype.type(1 - label_smoothing)
        if reduction == 0:
            g *= grad_loss.reshape(n, 1)
        else:
            scale = grad_loss.reshape(()) / n if (reduction == 1 and n) else grad_loss.reshape(())
            g *= scale
        return g

    # --- normalisation --------------------------------------------------------------------
    # Statistics in float64 (as the C kernels accumulate), outputs rounded to the input dtype.
    @staticmethod
    def _affine(xhat, w, b, shape, dtype):
        y = xhat if w is None else xhat * w.astype(np.float64).reshape(shape)
        if b is not None:
            y = y + b.astype(np.float64).reshape(shape)
        return y.astype(dtype)

    @staticmethod
    def batch_norm_forward_train(x, w, b, eps):
        xd = x.astype(np.float64)
        mean = xd.mean(axis=(0, 2))
        var = ((xd - mean[:, None]) ** 2).mean(axis=(0, 2))
        invstd = 1.0 / np.sqrt(var + eps)
        xhat = (xd - mean[:, None]) * invstd[:, None]
        y = _NumpyKernels._affine(xhat, w, b, (-1, 1), x.dtype)
        return y, mean.astype(x.dtype), var.astype(x.dtype), invstd.astype(x.dtype)

    @staticmethod
    def batch_norm_forward_eval(x, mean, var, w, b, eps):
        invstd = 1.0 / np.sqrt(var.astype(np.float64) + eps)
        xhat = (x.astype(np.float64) - mean.astype(np.float64)[:, None]) * invstd[:, None]
        return _NumpyKernels._affine(xhat, w, b, (-1, 1), x.dtype)

    # The backward passes below use the C kernels' factoring: with d = x - mean and n values,
    # grad_input = ((g - sum(g) / n) - d * (rstd**2 * sum(g * d) / n)) * rstd, so that the two
    # backends agree on NaN and inf too (which terms meet an infinite rstd).
    @staticmethod
    def _centered_grad(g, d, r, n, axes):
        s1 = g.sum(axis=axes, keepdims=True)
        s2 = (g * d).sum(axis=axes, keepdims=True)
        return (g - s1 / n) - d * (r * r * s2 / n)

    @staticmethod
    def batch_norm_backward(gy, x, w, mean, invstd, training, need_gx, need_gw, need_gb):
        c = x.shape[1]
        m = x.shape[0] * x.shape[2]
        inv = invstd.astype(np.float64)[:, None]
        g = gy.astype(np.float64)
        d = x.astype(np.float64) - mean.astype(np.float64)[:, None]
        gx = None
        if need_gx:
            t = _NumpyKernels._centered_grad(g, d, inv, m, (0, 2)) if training and m else g
            gx = (t * (inv if w is None else w.astype(np.float64)[:, None] * inv)).astype(x.dtype)
        gw = ((g * d).sum(axis=(0, 2)) * inv[:, 0]).astype(x.dtype) if need_gw else None
        gb = g.sum(axis=(0, 2)).reshape(c).astype(x.dtype) if need_gb else None
        return gx, gw, gb

    @staticmethod
    def _row_stats(xd, eps):
        mean = xd.mean(axis=-1, keepdims=True)
        var = ((xd - mean) ** 2).mean(axis=-1, keepdims=True)
        return mean, 1.0 / np.sqrt(var + eps)

    @staticmethod
    def layer_norm_forward(x, w, b, eps):
        xd = x.astype(np.float64)
        mean, rstd = _NumpyKernels._row_stats(xd, eps)
        y = _NumpyKernels._affine((xd - mean) * rstd, w, b, (1, -1), x.dtype)
        return y, mean[:, 0].astype(x.dtype), rstd[:, 0].astype(x.dtype)

    @staticmethod
    def layer_norm_backward(gy, x, w, mean, rstd, need_gx, need_gw, need_gb):
        d = x.shape[1]
        r = rstd.astype(np.float64)[:, None]
        g = gy.astype(np.float64)
        xc = x.astype(np.float64) - mean.astype(np.float64)[:, None]
        gx = None
        if need_gx:
            gg = g if w is None else g * w.astype(np.float64)
            gx = (_NumpyKernels._centered_grad(gg, xc, r, d, 1) * r).astype(x.dtype)
        gw = (g * xc * r).sum(axis=0).astype(x.dtype) if need_gw else None
        gb = g.sum(axis=0).astype(x.dtype) if need_gb else None
        return gx, gw, gb

    @staticmethod
    def group_norm_forward(x, groups, w, b, eps):
        n, c, hw = x.shape
        xd = x.astype(np.float64).reshape(n, groups, -1)
        mean, rstd = _NumpyKernels._row_stats(xd, eps)
        xhat = ((xd - mean) * rstd).reshape(n, c, hw)
        y = _NumpyKernels._affine(xhat, w, b, (-1, 1), x.dtype)
        return y, mean.reshape(-1).astype(x.dtype), rstd.reshape(-1).astype(x.dtype)

    @staticmethod
    def group_norm_backward(gy, x, groups, w, mean, rstd, need_gx, need_gw, need_gb):
        n, c, hw = x.shape
        mg = mean.astype(np.float64).reshape(n, groups, 1, 1)
        rg = rstd.astype(np.float64).reshape(n, groups, 1, 1)
        g = gy.astype(np.float64).reshape(n, groups, c // groups, hw)
        xc = x.astype(np.float64).reshape(g.shape) - mg
        gx = None
        if need_gx:
            # per-channel sums first, then weighted by gamma (as the C kernel)
            wv = np.ones((groups, c // groups, 1)) if w is None else \
                w.astype(np.float64).reshape(groups, -1, 1)
            ln = (c // groups) * hw
            s1 = (g.sum(axis=3, keepdims=True) * wv).sum(axis=2, keepdims=True)
            s2 = ((g * xc).sum(axis=3, keepdims=True) * wv).sum(axis=2, keepdims=True)
            gx = ((g * wv - s1 / ln) - xc * (rg * rg * s2 / ln)) * rg
            gx = gx.reshape(n, c, hw).astype(x.dtype)
        gw = ((g * xc).sum(axis=3) * rg[..., 0]).sum(axis=0).reshape(c).astype(x.dtype) \
            if need_gw else None
        gb = g.sum(axis=(0, 3)).reshape(c).astype(x.dtype) if need_gb else None
        return gx, gw, gb

    # --- dropout and activations ----------------------------------------------------------
    @staticmethod
    def _mix32(v):
        v = v ^ (v >> np.uint32(16))
        v = v * np.uint32(0x7feb352d)
        v = v ^ (v >> np.uint32(15))
        v = v * np.uint32(0x846ca68b)
        return v ^ (v >> np.uint32(16))

    @staticmethod
    def dropout_mask(size, seed, threshold):
        """The C kernels' counter-based mask (fc_dropout_hash in csrc/internal.h)."""
        i = np.arange(size, dtype=np.uint64)
        lo = (i & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        hi = (i >> np.uint64(32)).astype(np.uint32)
        mix = _NumpyKernels._mix32
        key1 = np.uint32(seed & 0xFFFFFFFF) ^ mix(hi ^ np.uint32(0x9E3779B9))
        h = mix(mix(lo ^ key1) + np.uint32(seed >> 32))
        return (h >> np.uint32(8)) >= np.uint32(threshold)

    @staticmethod
    def dropout_forward(x, seed, threshold, scale):
        mask = _NumpyKernels.dropout_mask(x.size, seed, threshold).reshape(x.shape)
        return x * np.where(mask, x.dtype.type(scale), x.dtype.type(0)), mask

    @staticmethod
    def dropout_backward(gy, mask, scale):
        return gy * np.where(mask, gy.dtype.type(scale), gy.dtype.type(0))

    @staticmethod
    def sigmoid_forward(x):
        with np.errstate(over="ignore"):
            return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(x.dtype)

    @staticmethod
    def sigmoid_backward(gy, y):
        y64 = y.astype(np.float64)
        return (gy.astype(np.float64) * y64 * (1.0 - y64)).astype(gy.dtype)

    @staticmethod
    def tanh_forward(x):
        return np.tanh(x.astype(np.float64)).astype(x.dtype)

    @staticmethod
    def tanh_backward(gy, y):
        y64 = y.astype(np.float64)
        return (gy.astype(np.float64) * (1.0 - y64 * y64)).astype(gy.dtype)

    @staticmethod
    def leaky_relu_forward(x, negative_slope):
        return np.where(x > 0, x, x * x.dtype.type(negative_slope))

    @staticmethod
    def leaky_relu_backward(gy, x, negative_slope):
        return np.where(x > 0, gy, gy * gy.dtype.type(negative_slope))


globals().update(_bind_kernels(_functional, _NumpyKernels, __name__))

# The same list as fastconv.functional.__all__ (tests/test_typing.py checks it), written out
# because type checkers read `from fastconv.reference import *` from a literal __all__.
__all__ = [
    "conv2d", "conv2d_backward",
    "conv2d_relu_max_pool2d", "conv2d_relu_max_pool2d_backward",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "linear", "linear_backward",
    "relu", "relu_backward",
    "cross_entropy", "cross_entropy_backward",
    "softmax", "log_softmax",
    "conv2d_output_shape", "pool2d_output_shape",
    "batch_norm", "batch_norm_backward",
    "layer_norm", "layer_norm_backward",
    "group_norm", "group_norm_backward",
    "dropout", "dropout_backward",
    "sigmoid", "sigmoid_backward",
    "tanh", "tanh_backward",
    "leaky_relu", "leaky_relu_backward",
]
