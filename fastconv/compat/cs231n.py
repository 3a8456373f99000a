"""Drop-in replacement for the NumPy layers of the CS231n assignments, on fastconv's kernels.

Change one import and nothing else::

    # from cs231n.layers import *          (and cs231n.fast_layers, cs231n.layer_utils)
    from fastconv.compat.cs231n import *

Every function has the name, signature, parameter dicts, cache layout and return values of its
counterpart in ``cs231n/layers.py``, ``cs231n/fast_layers.py`` and ``cs231n/layer_utils.py``:

- ``affine_forward(x, w, b) -> (out, cache)``: x is (N, d1, ..., dk), w is (D, M), b is (M,);
  ``affine_backward(dout, cache) -> (dx, dw, db)``.
- ``relu_forward(x) -> (out, cache)``; ``relu_backward(dout, cache) -> dx``.
- ``conv_forward_naive / _fast / _im2col / _strides(x, w, b, conv_param) -> (out, cache)``
  with ``conv_param = {'stride': s, 'pad': p}`` and w (F, C, HH, WW); the matching
  ``conv_backward_*(dout, cache) -> (dx, dw, db)``.
- ``max_pool_forward_naive / _fast / _reshape / _im2col(x, pool_param) -> (out, cache)`` with
  ``pool_param = {'pool_height': ph, 'pool_width': pw, 'stride': s}``; the matching
  ``max_pool_backward_*(dout, cache) -> dx``.
- ``softmax_loss(x, y) -> (loss, dx)`` and ``svm_loss(x, y) -> (loss, dx)``, both averaged
  over the batch (svm margin 1), exactly as in the course code.
- The sandwich layers ``affine_relu_*``, ``conv_relu_*`` and ``conv_relu_pool_*``.

All the variants of one layer (naive, fast, im2col, strides, reshape) run the same kernel, so
they return the same numbers, and each backward accepts the cache of any forward variant of the
same layer.

Differences from the course code, all deliberate:

- **Dtype.** Every function keeps the dtype of its inputs: float32 stays float32 (the course's
  naive layers allocate float64 outputs).  Mixed dtypes follow NumPy promotion, as the original
  NumPy expressions do (float32 data with float64 weights gives float64).
- **Any shape that is valid is accepted**, with PyTorch's output size
  ``(H + 2*pad - HH) // stride + 1``.  The course code rejects or mishandles some:
  ``conv_forward_im2col`` asserts ``(H + 2*pad - HH) % stride == 0``; its ``get_im2col_indices``
  function checks the *width* against the kernel *height* (``W + 2*padding - field_height``), so
  with stride > 1 a non-square window is accepted or rejected by the wrong test;
  ``max_pool_forward_fast`` falls back to ``max_pool_forward_im2col``,
  which asserts ``(H - pool_height) % stride == 0`` ("Invalid height"), so pools that do not
  tile the input raise AssertionError; ``max_pool_forward_reshape`` checks ``W % pool_height``
  instead of ``W % pool_width``.
- **Ties in max pooling.** The gradient goes to the first maximum of each window (row-major
  window order), as in PyTorch; ``max_pool_backward_reshape`` of the course code gives it to
  every tied maximum (or splits it among them), which is not a gradient of the forward pass.
- **Caches** hold the same items as the originals, except that the column matrix ``x_cols`` of
  the fast conv caches is ``None`` (fastconv never materialises it for you), and every max-pool
  forward returns the naive layer's ``(x, pool_param)`` cache, which carries the argmax
  positions of the forward pass as ``cache.indices`` so that the backward does not search the
  windows again.  A plain ``(x, pool_param)`` tuple still works (the argmax is recomputed).
- **Bad input** raises ValueError / TypeError with a message instead of an AssertionError or
  an out-of-bounds index; labels ``y`` must lie in ``[0, C)``.
- Inputs are never modified; outputs never alias inputs.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._typing import FloatArray
from ._common import (
    as_array, class_indices, flatten_batch, linear_in_out, linear_in_out_backward, ops, promote,
    scalar,
)

#: ``{'stride': s, 'pad': p}`` and ``{'pool_height': ph, 'pool_width': pw, 'stride': s}``
Params = Mapping[str, Any]
#: the cache a forward returns for its backward (a tuple, or the input array for relu)
Cache = Any
#: ``(out, cache)`` of a forward; ``(dx, dw, db)`` of a backward with weights
Forward = Tuple[FloatArray, Cache]
Grads = Tuple[FloatArray, FloatArray, FloatArray]
#: ``(loss, dx)`` of a loss function; the loss is a NumPy scalar of the scores' dtype
Loss = Tuple[np.floating[Any], FloatArray]

__all__ = [
    "affine_forward", "affine_backward",
    "relu_forward", "relu_backward",
    "conv_forward_naive", "conv_backward_naive",
    "conv_forward_fast", "conv_backward_fast",
    "conv_forward_im2col", "conv_backward_im2col",
    "conv_forward_strides", "conv_backward_strides",
    "max_pool_forward_naive", "max_pool_backward_naive",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "max_pool_forward_reshape", "max_pool_backward_reshape",
    "max_pool_forward_im2col", "max_pool_backward_im2col",
    "softmax_loss", "svm_loss",
    "affine_relu_forward", "affine_relu_backward",
    "conv_relu_forward", "conv_relu_backward",
    "conv_relu_pool_forward", "conv_relu_pool_backward",
]


# ------------------------------------------------------------------------------------------
# Affine
# ------------------------------------------------------------------------------------------

def affine_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> Forward:
    """Forward pass of an affine (fully connected) layer.

    The input x has shape (N, d_1, ..., d_k); each example is reshaped into a vector of
    dimension D = d_1 * ... * d_k.

    Inputs:
    - x: array of shape (N, d_1, ..., d_k)
    - w: weights, of shape (D, M)
    - b: biases, of shape (M,)

    Returns a tuple of:
    - out: output, of shape (N, M)
    - cache: (x, w, b)
    """
    x, w = as_array(x), as_array(w)
    x2, wc, bc = promote(flatten_batch(x), w, b)
    return linear_in_out(x2, wc, bc), (x, w, b)


def affine_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of an affine layer.

    Inputs:
    - dout: upstream derivative, of shape (N, M)
    - cache: (x, w, b) from affine_forward

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, d1, ..., d_k)
    - dw: gradient with respect to w, of shape (D, M)
    - db: gradient with respect to b, of shape (M,)
    """
    x, w, b = cache
    x, w = as_array(x), as_array(w)
    dout, x2, wc = promote(as_array(dout), flatten_batch(x), w)
    dx, dw, db = linear_in_out_backward(dout, x2, wc)
    return dx.reshape(x.shape), dw, db


# ------------------------------------------------------------------------------------------
# ReLU
# ------------------------------------------------------------------------------------------

def relu_forward(x: ArrayLike) -> Forward:
    """Forward pass of a layer of rectified linear units (ReLUs).

    Input:
    - x: inputs, of any shape

    Returns a tuple of:
    - out: output, of the same shape as x
    - cache: x
    """
    return ops().relu(x), x


def relu_backward(dout: ArrayLike, cache: Cache) -> FloatArray:
    """Backward pass of a layer of ReLUs.

    Input:
    - dout: upstream derivatives, of any shape
    - cache: input x, of the same shape as dout

    Returns:
    - dx: gradient with respect to x (dout where x > 0, else 0)
    """
    # relu(x) > 0 exactly where x > 0, so the forward input serves as relu's output here.
    dout, x = promote(as_array(dout), as_array(cache))
    return ops().relu_backward(dout, x)


# ------------------------------------------------------------------------------------------
# Convolution
# ------------------------------------------------------------------------------------------

def _conv_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike, conv_param: Params) -> FloatArray:
    stride, pad = conv_param["stride"], conv_param["pad"]
    xc, wc, bc = promote(as_array(x), as_array(w), b)
    return ops().conv2d(xc, wc, bc, stride=stride, padding=pad)


def _conv_backward(dout: ArrayLike, cache: Cache) -> Grads:
    x, w, b, conv_param = cache[:4]
    stride, pad = conv_param["stride"], conv_param["pad"]
    dout, xc, wc = promote(as_array(dout), as_array(x), as_array(w))
    return ops().conv2d_backward(dout, xc, wc, stride=stride, padding=pad)


def conv_forward_naive(x: ArrayLike, w: ArrayLike, b: ArrayLike, conv_param: Params) -> Forward:
    """Forward pass of a convolutional layer.

    The input consists of N data points, each with C channels, height H and width W.  Each
    input is convolved with F different filters, where each filter spans all C channels and
    has height HH and width WW.

    Input:
    - x: input data of shape (N, C, H, W)
    - w: filter weights of shape (F, C, HH, WW)
    - b: biases, of shape (F,)
    - conv_param: a dictionary with the keys
      - 'stride': the number of pixels between adjacent receptive fields in the horizontal
        and vertical directions
      - 'pad': the number of pixels used to zero-pad the input on every side

    Returns a tuple of:
    - out: output data, of shape (N, F, H', W') where
      H' = 1 + (H + 2 * pad - HH) // stride and W' = 1 + (W + 2 * pad - WW) // stride
    - cache: (x, w, b, conv_param)
    """
    return _conv_forward(x, w, b, conv_param), (x, w, b, conv_param)


def conv_backward_naive(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of a convolutional layer.

    Inputs:
    - dout: upstream derivatives, of shape (N, F, H', W')
    - cache: the cache of any conv forward: (x, w, b, conv_param[, x_cols])

    Returns a tuple of:
    - dx: gradient with respect to x
    - dw: gradient with respect to w
    - db: gradient with respect to b
    """
    return _conv_backward(dout, cache)


def conv_forward_im2col(x: ArrayLike, w: ArrayLike, b: ArrayLike, conv_param: Params) -> Forward:
    """Fast forward pass of a convolutional layer (same as conv_forward_naive).

    Returns (out, cache) with cache = (x, w, b, conv_param, x_cols); x_cols is None because no
    column matrix is kept.  Unlike the course version, any stride / pad / kernel combination
    with a positive output size works.
    """
    return _conv_forward(x, w, b, conv_param), (x, w, b, conv_param, None)


def conv_backward_im2col(dout: ArrayLike, cache: Cache) -> Grads:
    """Fast backward pass of a convolutional layer: (dx, dw, db)."""
    return _conv_backward(dout, cache)


def conv_forward_strides(x: ArrayLike, w: ArrayLike, b: ArrayLike, conv_param: Params) -> Forward:
    """Fast forward pass of a convolutional layer (same as conv_forward_naive).

    Returns (out, cache) with cache = (x, w, b, conv_param, x_cols); x_cols is None.
    """
    return _conv_forward(x, w, b, conv_param), (x, w, b, conv_param, None)


def conv_backward_strides(dout: ArrayLike, cache: Cache) -> Grads:
    """Fast backward pass of a convolutional layer: (dx, dw, db)."""
    return _conv_backward(dout, cache)


conv_forward_fast = conv_forward_strides
conv_backward_fast = conv_backward_strides


# ------------------------------------------------------------------------------------------
# Max pooling
# ------------------------------------------------------------------------------------------

class PoolCache(Tuple[Any, Any]):
    """The cache ``(x, pool_param)`` of a max-pool forward pass.

    It is a plain 2-tuple to every reader; it also carries ``indices``, the flat position
    ``h * W + w`` of each window's maximum in its input plane (int64, the shape of the output),
    so that the backward pass need not search the windows again.
    """

    indices: Optional[NDArray[np.int64]]

    def __new__(cls, items: Tuple[Any, Any],
                indices: Optional[NDArray[np.int64]] = None) -> PoolCache:
        self = super().__new__(cls, items)
        self.indices = indices
        return self


def _pool_args(pool_param: Params) -> Tuple[Tuple[int, int], int]:
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    return (ph, pw), pool_param["stride"]


def _max_pool_forward(x: ArrayLike, pool_param: Params) -> Forward:
    kernel, stride = _pool_args(pool_param)
    out, idx = ops().max_pool2d(x, kernel, stride=stride, return_indices=True)
    return out, PoolCache((x, pool_param), idx)


def _max_pool_backward(dout: ArrayLike, cache: Cache) -> FloatArray:
    if len(cache) != 2 or isinstance(cache[0], str):
        raise ValueError("max pool backward: expected the cache (x, pool_param) of a "
                         "fastconv.compat max-pool forward, got "
                         + (f"a cache tagged {cache[0]!r} (from another implementation)"
                            if len(cache) == 2 else f"a {len(cache)}-tuple"))
    x, pool_param = cache
    x = as_array(x)
    idx = getattr(cache, "indices", None)
    F = ops()
    if idx is None:
        kernel, stride = _pool_args(pool_param)
        _, idx = F.max_pool2d(x, kernel, stride=stride, return_indices=True)
    dout, _ = promote(as_array(dout), x[:0])
    return F.max_pool2d_backward(dout, idx, x.shape)


def max_pool_forward_naive(x: ArrayLike, pool_param: Params) -> Forward:
    """Forward pass of a max-pooling layer.

    Inputs:
    - x: input data, of shape (N, C, H, W)
    - pool_param: dictionary with the keys
      - 'pool_height': the height of each pooling region
      - 'pool_width': the width of each pooling region
      - 'stride': the distance between adjacent pooling regions

    Returns a tuple of:
    - out: output data, of shape (N, C, H', W') where
      H' = 1 + (H - pool_height) // stride and W' = 1 + (W - pool_width) // stride
    - cache: (x, pool_param), with the argmax positions in cache.indices
    """
    return _max_pool_forward(x, pool_param)


def max_pool_backward_naive(dout: ArrayLike, cache: Cache) -> FloatArray:
    """Backward pass of a max-pooling layer.

    Inputs:
    - dout: upstream derivatives, of shape (N, C, H', W')
    - cache: (x, pool_param) as in the forward pass

    Returns:
    - dx: gradient with respect to x; each window's gradient goes to its first maximum
    """
    return _max_pool_backward(dout, cache)


def max_pool_forward_fast(x: ArrayLike, pool_param: Params) -> Forward:
    """Fast forward pass of a max-pooling layer (same result and cache as the naive one).

    Works for any pooling region and stride with a positive output size, including regions
    that are not square and pools that do not tile the input.
    """
    return _max_pool_forward(x, pool_param)


def max_pool_backward_fast(dout: ArrayLike, cache: Cache) -> FloatArray:
    """Fast backward pass of a max-pooling layer: dx."""
    return _max_pool_backward(dout, cache)


max_pool_forward_reshape = max_pool_forward_fast
max_pool_backward_reshape = max_pool_backward_fast
max_pool_forward_im2col = max_pool_forward_fast
max_pool_backward_im2col = max_pool_backward_fast


# ------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------

def _check_scores(op: str, x: ArrayLike) -> NDArray[Any]:
    x = as_array(x)
    if x.ndim != 2:
        raise ValueError(f"{op}: expected scores x of shape (N, C), got shape {tuple(x.shape)}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected float32 or float64 scores, got dtype {x.dtype}")
    return x


def softmax_loss(x: ArrayLike, y: ArrayLike) -> Loss:
    """Loss and gradient for softmax classification (mean over the batch).

    Inputs:
    - x: input data, of shape (N, C) where x[i, j] is the score for the jth class of the ith
      input
    - y: vector of labels, of shape (N,) where y[i] is the label for x[i] and 0 <= y[i] < C

    Returns a tuple of:
    - loss: scalar giving the loss (a NumPy scalar of x's dtype)
    - dx: gradient of the loss with respect to x
    """
    x = _check_scores("softmax_loss", x)
    y = class_indices(y, x.shape[0], x.shape[1], "softmax_loss")
    F = ops()
    loss = F.cross_entropy(x, y, reduction="mean")
    dx = F.cross_entropy_backward(x, y, reduction="mean")
    return scalar(loss), dx


def svm_loss(x: ArrayLike, y: ArrayLike) -> Loss:
    """Loss and gradient for multiclass SVM classification (margin 1, mean over the batch).

    Inputs:
    - x: input data, of shape (N, C) where x[i, j] is the score for the jth class of the ith
      input
    - y: vector of labels, of shape (N,) where y[i] is the label for x[i] and 0 <= y[i] < C

    Returns a tuple of:
    - loss: scalar giving the loss (a NumPy scalar of x's dtype)
    - dx: gradient of the loss with respect to x
    """
    # No kernel needed: two elementwise passes over an (N, C) array, written exactly as the
    # course computes them so that float64 results agree to the last bit.
    x = _check_scores("svm_loss", x)
    n, c = x.shape
    y = class_indices(y, n, c, "svm_loss")
    rows = np.arange(n)
    correct = x[rows, y]
    margins = np.maximum(0, x - correct[:, np.newaxis] + x.dtype.type(1.0))
    margins[rows, y] = 0
    loss = np.sum(margins) / x.dtype.type(n)
    positive = margins > 0
    num_pos = np.sum(positive, axis=1)
    dx = np.zeros_like(x)
    dx[positive] = 1
    dx[rows, y] -= num_pos.astype(x.dtype)
    dx /= x.dtype.type(n)
    return scalar(loss), dx


# ------------------------------------------------------------------------------------------
# Sandwich layers (cs231n/layer_utils.py)
# ------------------------------------------------------------------------------------------

def affine_relu_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> Forward:
    """Affine transform followed by a ReLU.

    Returns a tuple of:
    - out: output of the ReLU
    - cache: (fc_cache, relu_cache)
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of the affine-relu layer: (dx, dw, db)."""
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


def conv_relu_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike, conv_param: Params) -> Forward:
    """Convolution followed by a ReLU.

    Returns a tuple of:
    - out: output of the ReLU
    - cache: (conv_cache, relu_cache)
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of the conv-relu layer: (dx, dw, db)."""
    conv_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return conv_backward_fast(da, conv_cache)


def conv_relu_pool_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike, conv_param: Params,
                           pool_param: Params) -> Forward:
    """Convolution, ReLU, then max pooling.

    Returns a tuple of:
    - out: output of the pooling layer
    - cache: (conv_cache, relu_cache, pool_cache)
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of the conv-relu-pool layer: (dx, dw, db)."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    return conv_backward_fast(da, conv_cache)
