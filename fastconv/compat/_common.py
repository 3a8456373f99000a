"""Utilities shared by the drop-in layer modules.

The drop-in modules never compute a convolution, pooling, affine map, ReLU or softmax
themselves: they translate the call conventions of the original code and hand the work to the
functional ops of the active fastconv backend (``fastconv.functional``, the C kernels, unless
``fastconv.backend.use_backend("numpy")`` selected the NumPy reference).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastconv.backend import get_backend

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def ops():
    """The functional module of the active backend: fastconv.functional (the C kernels) by
    default, fastconv.reference inside ``fastconv.use_backend("numpy")``.  Looked up at every
    call, so switching the backend takes effect for code that is already running."""
    return get_backend()


def promote(*arrays):
    """The arrays (None passes through) cast to their common NumPy result dtype.

    The original code is plain NumPy, so ``float32 @ float64`` silently gives float64 there;
    the drop-in keeps that behaviour instead of raising on mixed float dtypes.  Arrays that
    already have the common dtype are returned unchanged (no copy).  A common dtype other than
    float32/float64 (integers only, float16, complex) is left alone, so that the functional op
    raises its usual TypeError naming the dtype.
    """
    present = [a for a in arrays if a is not None]
    arrs = [a if isinstance(a, np.ndarray) else np.asarray(a) for a in present]
    dts = {a.dtype for a in arrs}
    if len(dts) <= 1:
        it = iter(arrs)
        return tuple(None if a is None else next(it) for a in arrays)
    dt = np.result_type(*arrs)
    if dt not in _FLOAT_DTYPES:
        it = iter(arrs)
        return tuple(None if a is None else next(it) for a in arrays)
    it = iter(arrs)
    return tuple(None if a is None else next(it).astype(dt, copy=False) for a in arrays)


def as_array(x: ArrayLike) -> NDArray[Any]:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def flatten_batch(x):
    """x of shape (N, d1, ..., dk) viewed (or copied, if it must be) as (N, d1 * ... * dk)."""
    if x.ndim < 1:
        raise ValueError("expected an input of shape (N, d1, ..., dk), got a 0-d array")
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def class_indices(y: ArrayLike, n: int, c: int, op: str) -> NDArray[np.int64]:
    """Integer class labels y (N,) as an int64 array, checked against N and C.

    Raises TypeError for non-integer labels and ValueError for a wrong shape or a label
    outside [0, C) (the original code would index out of bounds or wrap around).
    """
    y = as_array(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{op}: y must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{op}: expected y of shape ({n},) for scores of batch size {n}, "
                         f"got y of shape {tuple(y.shape)}")
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}: Target {bad} is out of bounds (scores have {c} classes)")
    return y.astype(np.int64, copy=False)


def scalar(value):
    """A 0-d array (or scalar) as a NumPy scalar of the same dtype."""
    return np.asarray(value)[()]


# ------------------------------------------------------------------------------------------
# Affine maps with weights in the (in_features, out_features) layout
# ------------------------------------------------------------------------------------------
# CS231n and the book store affine weights as w (D, M) and compute x @ w + b, while
# F.linear takes PyTorch's weight (M, D).  Passing w.T to F.linear makes the frontend copy w
# on every call, and the backward must transpose dw back: at x (50, 8192), w (8192, 100) that
# made the backward about 3x (float64) to 9x (float32) slower than the GEMMs below, measured on
# one thread.  On the C backend the GEMM kernel takes transposed operands, so the product is
# computed in place from w's own layout, after the shared validation of F.linear.


def _gemm_operand(m):
    """(a, trans) with op(a) == m and a 2-D with unit inner stride, copying only if needed."""
    if m.flags.c_contiguous:
        return m, False
    if m.flags.f_contiguous:
        return m.T, True
    return np.ascontiguousarray(m), False


def _matmul(a, b, out, beta):
    """out = a @ b + beta * out with fastconv's GEMM kernel."""
    from fastconv import _kernels

    pa, ta = _gemm_operand(a)
    pb, tb = _gemm_operand(b)
    _kernels.gemm(ta, tb, 1.0, pa, pb, beta, out)
    return out


def _on_c_backend(F, *arrays):
    return F.__name__ == "fastconv.functional" and all(a.size for a in arrays)


def linear_in_out(x2, w, b):
    """x2 (N, D) @ w (D, M) + b (M,) -- the affine map with CS231n's weight layout."""
    from fastconv import validation as V

    F = ops()
    if not _on_c_backend(F, x2, w):
        return F.linear(x2, w.T, b)
    x2, wt, b = V.check_linear("linear", x2, w.T, b)
    out = np.empty((x2.shape[0], wt.shape[0]), dtype=x2.dtype)
    if b is None:
        return _matmul(x2, wt.T, out, 0.0)
    out[...] = b
    return _matmul(x2, wt.T, out, 1.0)


def linear_in_out_backward(dout, x2, w):
    """Gradients (dx2, dw, db) of linear_in_out; dw has w's shape (D, M)."""
    from fastconv import validation as V

    F = ops()
    if not _on_c_backend(F, x2, w, dout):
        dx, dwt, db = F.linear_backward(dout, x2, w.T)
        return dx, np.ascontiguousarray(dwt.T), db
    x2, wt, _ = V.check_linear("linear_backward", x2, w.T, None)
    (dout,) = V.float_arrays("linear_backward", ("grad_output", dout))
    V.check_same_dtype("linear_backward", [("input", x2), ("grad_output", dout)])
    V.check_grad_shape("linear_backward", dout, (x2.shape[0], wt.shape[0]))
    w = wt.T
    dx = _matmul(dout, w.T, np.empty(x2.shape, dtype=x2.dtype), 0.0)
    dw = _matmul(x2.T, dout, np.empty(w.shape, dtype=x2.dtype), 0.0)
    return dx, dw, dout.sum(axis=0)
