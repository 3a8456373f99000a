"""Utilities shared by the drop-in layer modules.

The drop-in modules never compute a convolution, pooling, affine map, ReLU or softmax
themselves: they translate the call conventions of the original code and hand the work to the
functional ops of the active fastconv backend (``fastconv.functional``, the C kernels, unless
``fastconv.backend.use_backend("numpy")`` selected the NumPy reference).
"""
import contextlib
import importlib
import math

import numpy as np

try:  # the backend switch of fastconv (shared with fastconv.nn)
    from fastconv.backend import get_backend as _get_backend
except ImportError:  # a build without the switch: the compat layers use their own binding
    _get_backend = None

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_MODULES = {"c": "fastconv.functional", "numpy": "fastconv.reference"}
_bound = None  # module forced by use_backend below, or None


def ops():
    """The functional module the compat layers call right now: the module bound with
    :func:`use_backend`, else the active fastconv backend (fastconv.functional by default)."""
    if _bound is not None:
        return _bound
    if _get_backend is not None:
        return _get_backend()
    return importlib.import_module("fastconv.functional")


@contextlib.contextmanager
def use_backend(name):
    """Bind the compat layers to backend `name` ("c" or "numpy") inside a with-block.

    Used by the benchmarks to time the same compat call on the C kernels and on the NumPy
    reference.  Not thread-safe; fastconv.backend.use_backend is the public switch.
    """
    global _bound
    if name not in _MODULES:
        raise ValueError(f"backend must be one of {sorted(_MODULES)}, got {name!r}")
    previous = _bound
    _bound = importlib.import_module(_MODULES[name])
    try:
        yield _bound
    finally:
        _bound = previous


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


def as_array(x):
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def flatten_batch(x):
    """x of shape (N, d1, ..., dk) viewed (or copied, if it must be) as (N, d1 * ... * dk)."""
    if x.ndim < 1:
        raise ValueError("expected an input of shape (N, d1, ..., dk), got a 0-d array")
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def class_indices(y, n, c, op):
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
# on every call (and the backward must copy dw back), which cost 2-3x the GEMM itself at
# CS231n sizes.  On the C backend the GEMM kernel takes transposed operands, so the product is
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
