"""Drop-in replacement for the functions of deeplearning.ai's "Convolution model, Step by
Step" assignment (Course 4, Week 1), on fastconv's kernels.

Change one import and nothing else: define nothing yourself and write::

    from fastconv.compat.deeplearning_ai import *

- ``zero_pad(X, pad)``: X (m, n_H, n_W, n_C) zero-padded on the two spatial axes.
- ``conv_single_step(a_slice_prev, W, b)``: sum(a_slice_prev * W) + b for one window.
- ``conv_forward(A_prev, W, b, hparameters) -> (Z, cache)``: A_prev (m, n_H_prev, n_W_prev,
  n_C_prev) NHWC, W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C), ``hparameters = {'stride': s,
  'pad': p}``; n_H = (n_H_prev - f + 2 * pad) // stride + 1; cache = (A_prev, W, b,
  hparameters).
- ``conv_backward(dZ, cache) -> (dA_prev, dW, db)`` in the shapes of A_prev, W and b.
- ``pool_forward(A_prev, hparameters, mode="max") -> (A, cache)`` with ``hparameters = {'f': f,
  'stride': s}`` and mode "max" or "average"; n_H = (n_H_prev - f) // stride + 1; cache =
  (A_prev, hparameters).
- ``pool_backward(dA, cache, mode="max") -> dA_prev``: max pooling sends each window's
  gradient to **every** element equal to the window's maximum (as the assignment's
  ``create_mask_from_window`` does), average pooling spreads it evenly over the window.
- ``create_mask_from_window(x)`` (x == max(x)) and ``distribute_value(dz, shape)``.

The convolutions and poolings run on fastconv's NCHW kernels (the NHWC arrays are transposed
on the way in and out).  Differences from the assignment's loops, all deliberate:

- **Dtype.** Outputs keep the inputs' dtype (float32 stays float32; the assignment allocates
  float64 with ``np.zeros``); mixed dtypes follow NumPy promotion.
- **Bad input** (a window larger than the padded input, a wrong channel count, an unknown
  mode) raises ValueError / TypeError with a message instead of an IndexError or a silently
  wrong shape.
- Inputs are never modified; outputs never alias inputs.
"""
from typing import Any, Mapping, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._typing import FloatArray

from ._common import as_array, ops, promote

__all__ = ["zero_pad", "conv_single_step", "conv_forward", "conv_backward", "pool_forward",
           "pool_backward", "create_mask_from_window", "distribute_value"]


def _nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _check_4d(op, name, a):
    if a.ndim != 4:
        raise ValueError(f"{op}: expected {name} of 4 dimensions, got shape {tuple(a.shape)}")


def zero_pad(X: ArrayLike, pad: int) -> FloatArray:
    """Pad with zeros all images of the dataset X on height and width.

    Argument:
    - X: array of shape (m, n_H, n_W, n_C), a batch of m images
    - pad: integer, the amount of padding around each image on the vertical and horizontal
      dimensions

    Returns:
    - X_pad: padded image of shape (m, n_H + 2 * pad, n_W + 2 * pad, n_C)
    """
    X = as_array(X)
    _check_4d("zero_pad", "X", X)
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant",
                  constant_values=(0, 0))


def conv_single_step(a_slice_prev: ArrayLike, W: ArrayLike, b: ArrayLike) -> Any:
    """Apply one filter W to one slice a_slice_prev (f, f, n_C_prev) of the previous layer's
    output, plus the bias b (a one-element array such as (1, 1, 1)).

    Returns:
    - Z: a scalar, the result of convolving the sliding window (W, b) on a_slice_prev
    """
    a, w, bb = promote(as_array(a_slice_prev), as_array(W), as_array(b))
    if bb.size != 1:
        raise ValueError(f"conv_single_step: expected a one-element bias b, got shape "
                         f"{tuple(bb.shape)}")
    return np.sum(np.multiply(a, w)) + bb.reshape(())[()]


def _conv_args(A_prev, W, b):
    a, w, bb = promote(as_array(A_prev), as_array(W), as_array(b))
    _check_4d("conv_forward", "A_prev", a)
    _check_4d("conv_forward", "W", w)
    n_c = w.shape[3]
    if bb.size != n_c:
        raise ValueError(f"conv_forward: expected b of shape (1, 1, 1, {n_c}), got shape "
                         f"{tuple(bb.shape)}")
    return a, w, bb.reshape(n_c)


def conv_forward(A_prev: ArrayLike, W: ArrayLike, b: ArrayLike,
                 hparameters: Mapping[str, Any]) -> Tuple[FloatArray, Any]:
    """Forward propagation of a convolution function.

    Arguments:
    - A_prev: output activations of the previous layer, (m, n_H_prev, n_W_prev, n_C_prev)
    - W: weights, (f, f, n_C_prev, n_C)
    - b: biases, (1, 1, 1, n_C)
    - hparameters: python dictionary containing "stride" and "pad"

    Returns:
    - Z: conv output, (m, n_H, n_W, n_C)
    - cache: values needed by conv_backward(): (A_prev, W, b, hparameters)
    """
    a, w, bb = _conv_args(A_prev, W, b)
    z = ops().conv2d(_nchw(a), np.ascontiguousarray(w.transpose(3, 2, 0, 1)), bb,
                     stride=hparameters["stride"], padding=hparameters["pad"])
    return _nhwc(z), (A_prev, W, b, hparameters)


def conv_backward(dZ: ArrayLike, cache: Any) -> Tuple[FloatArray, FloatArray, FloatArray]:
    """Backward propagation of a convolution function.

    Arguments:
    - dZ: gradient of the cost with respect to the conv layer's output Z, (m, n_H, n_W, n_C)
    - cache: the cache of conv_forward()

    Returns:
    - dA_prev: gradient with respect to A_prev, (m, n_H_prev, n_W_prev, n_C_prev)
    - dW: gradient with respect to W, (f, f, n_C_prev, n_C)
    - db: gradient with respect to b, (1, 1, 1, n_C)
    """
    A_prev, W, b, hparameters = cache
    a, w, _ = _conv_args(A_prev, W, b)
    dz, a, w = promote(as_array(dZ), a, w)
    _check_4d("conv_backward", "dZ", dz)
    gx, gw, gb = ops().conv2d_backward(_nchw(dz), _nchw(a),
                                       np.ascontiguousarray(w.transpose(3, 2, 0, 1)),
                                       stride=hparameters["stride"], padding=hparameters["pad"])
    return (_nhwc(gx), np.ascontiguousarray(gw.transpose(2, 3, 1, 0)),
            gb.reshape(1, 1, 1, -1))


def _check_mode(op, mode):
    if mode not in ("max", "average"):
        raise ValueError(f'{op}: mode must be "max" or "average", got {mode!r}')


def pool_forward(A_prev: ArrayLike, hparameters: Mapping[str, Any],
                 mode: str = "max") -> Tuple[FloatArray, Any]:
    """Forward pass of the pooling layer.

    Arguments:
    - A_prev: input data, (m, n_H_prev, n_W_prev, n_C)
    - hparameters: python dictionary containing "f" and "stride"
    - mode: the pooling mode, "max" or "average"

    Returns:
    - A: output of the pool layer, (m, n_H, n_W, n_C)
    - cache: cache used in the backward pass of the pooling layer: (A_prev, hparameters)
    """
    _check_mode("pool_forward", mode)
    a = as_array(A_prev)
    _check_4d("pool_forward", "A_prev", a)
    f, stride = hparameters["f"], hparameters["stride"]
    F = ops()
    x = _nchw(a)
    y = F.max_pool2d(x, f, stride) if mode == "max" else F.avg_pool2d(x, f, stride)
    return _nhwc(y), (A_prev, hparameters)


def pool_backward(dA: ArrayLike, cache: Any, mode: str = "max") -> FloatArray:
    """Backward pass of the pooling layer.

    Arguments:
    - dA: gradient of the cost with respect to the output of the pooling layer, same shape
      as A
    - cache: cache output from the forward pass of the pooling layer
    - mode: the pooling mode, "max" or "average"

    Returns:
    - dA_prev: gradient of the cost with respect to the input of the pooling layer, same
      shape as A_prev.  In max mode every element equal to its window's maximum receives the
      window's gradient (ties all get it, as in the assignment).
    """
    _check_mode("pool_backward", mode)
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    a = as_array(A_prev)
    _check_4d("pool_backward", "A_prev", a)
    da, a = promote(as_array(dA), a)
    F = ops()
    if mode == "average":
        return _nhwc(F.avg_pool2d_backward(_nchw(da), a.shape[:1] + a.shape[3:] + a.shape[1:3],
                                           f, stride))
    y = _nhwc(F.max_pool2d(_nchw(a), f, stride))
    if y.shape != da.shape:
        raise ValueError(f"pool_backward: dA of shape {tuple(da.shape)} does not match the "
                         f"pooling output of shape {tuple(y.shape)}")
    m, n_h, n_w, n_c = y.shape
    dx = np.zeros(a.shape, dtype=da.dtype)
    for i in range(f):
        for j in range(f):
            rows = slice(i, i + stride * (n_h - 1) + 1, stride)
            cols = slice(j, j + stride * (n_w - 1) + 1, stride)
            dx[:, rows, cols, :] += np.where(a[:, rows, cols, :] == y, da, da.dtype.type(0))
    return dx


def create_mask_from_window(x: ArrayLike) -> NDArray[np.bool_]:
    """A boolean mask of x's shape, True where x equals its maximum (every tie)."""
    x = as_array(x)
    return x == np.max(x)


def distribute_value(dz: float, shape: Tuple[int, int]) -> FloatArray:
    """Distribute the input value dz evenly over a matrix of dimension shape (n_H, n_W)."""
    n_h, n_w = shape
    return np.ones(shape) * (dz / (n_h * n_w))
