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
- ``batchnorm_forward(x, gamma, beta, bn_param) -> (out, cache)`` with ``bn_param = {'mode':
  'train' | 'test', 'eps': 1e-5, 'momentum': 0.9, 'running_mean', 'running_var'}`` (the running
  averages start at zeros and are written back into bn_param);
  ``batchnorm_backward`` / ``batchnorm_backward_alt(dout, cache) -> (dx, dgamma, dbeta)``;
  ``spatial_batchnorm_forward/backward`` for (N, C, H, W) input.
- ``layernorm_forward(x, gamma, beta, ln_param)`` / ``layernorm_backward``;
  ``spatial_groupnorm_forward(x, gamma, beta, G, gn_param)`` / ``spatial_groupnorm_backward``
  (gamma (1, C, 1, 1) or (C,); dgamma and dbeta come back in gamma's and beta's shapes).
- ``dropout_forward(x, dropout_param)`` / ``dropout_backward(dout, cache)`` with
  ``dropout_param = {'p': keep probability, 'mode': 'train' | 'test', 'seed': optional}``;
  with a seed, the mask is exactly ``np.random.seed(seed); np.random.rand(*x.shape) < p``.
- The sandwiches ``conv_bn_relu_*`` (backward returns ``(dx, dw, db, dgamma, dbeta)``),
  ``affine_bn_relu_*`` and ``affine_ln_relu_*(x, w, b, gamma, beta, bn_param / ln_param)``.
- ``optim``: the update rules ``sgd``, ``sgd_momentum``, ``rmsprop`` and ``adam`` of
  ``cs231n/optim.py`` (``from fastconv.compat.cs231n import optim``).

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
- **Normalisation.** gamma and beta may be integer arrays (they are cast to x's dtype) and
  are read afresh at every call.  A train-mode batch norm of a single example raises
  ValueError (PyTorch's "Expected more than 1 value per channel when training"); the
  course's code returns beta there.  The running variance is the biased sample variance, as
  in the course (PyTorch's running_var uses the unbiased one).  Caches are fastconv's own
  tuples (the course leaves their layout to the student).
- **Dropout** keeps x's dtype (the course's float64 mask makes float32 input float64); its
  cache holds a bool mask instead of the float array ``mask / p``, and test mode returns a
  copy of x instead of x itself.  p must lie in (0, 1].
- Inputs are never modified; outputs never alias inputs.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

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
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward",
    "dropout_forward", "dropout_backward",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
    "conv_bn_relu_forward", "conv_bn_relu_backward",
    "affine_bn_relu_forward", "affine_bn_relu_backward",
    "affine_ln_relu_forward", "affine_ln_relu_backward",
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
    """Convolution followed by a ReLU, as one fused kernel (``conv2d(..., activation='relu')``).

    Returns a tuple of:
    - out: output of the ReLU
    - cache: (conv_cache, out); relu_backward accepts out as its cache, since out > 0
      exactly where the pre-activation is
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    xc, wc, bc = promote(as_array(x), as_array(w), b)
    out = ops().conv2d(xc, wc, bc, stride=stride, padding=pad, activation="relu")
    return out, ((x, w, b, conv_param), out)


def conv_relu_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of the conv-relu layer: (dx, dw, db), the relu mask applied in the same
    kernel call as the conv backward."""
    conv_cache, relu_cache = cache
    x, w, _, conv_param = conv_cache[:4]
    dout, xc, wc, r = promote(as_array(dout), as_array(x), as_array(w), as_array(relu_cache))
    return ops().conv2d_backward(dout, xc, wc, stride=conv_param["stride"],
                                 padding=conv_param["pad"], activation="relu", output=r)


class BlockPoolCache(Tuple[Any, Any, Any]):
    """The pool entry of a fused conv-relu-pool cache: (pool_param, window, out), the block's
    window positions and output (its backward needs nothing at full resolution)."""

    @property
    def window(self) -> NDArray[np.uint8]:
        return self[1]

    @property
    def out(self) -> FloatArray:
        return self[2]


def _block_pool_size(pool_param: Params) -> Optional[int]:
    """k when the pool is a k x k window with stride k (2 <= k <= 15), which the fused block
    runs; None otherwise."""
    (ph, pw), stride = _pool_args(pool_param)
    if ph == pw == stride and isinstance(ph, (int, np.integer)) and 2 <= ph <= 15:
        return int(ph)
    return None


def conv_relu_pool_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike, conv_param: Params,
                           pool_param: Params) -> Forward:
    """Convolution, ReLU, then max pooling, as one fused kernel when the pool is k x k with
    stride k (``conv2d_relu_max_pool2d``: the full-resolution activations are never written
    out); other pools run the three layers one after the other.

    Returns a tuple of:
    - out: output of the pooling layer
    - cache: (conv_cache, relu_cache, pool_cache); for the fused block relu_cache is None and
      pool_cache keeps the window positions and out
    """
    k = _block_pool_size(pool_param)
    if k is None:
        a, conv_cache = conv_forward_fast(x, w, b, conv_param)
        s_, relu_cache = relu_forward(a)
        out, pool_cache = max_pool_forward_fast(s_, pool_param)
        return out, (conv_cache, relu_cache, pool_cache)
    stride, pad = conv_param["stride"], conv_param["pad"]
    xc, wc, bc = promote(as_array(x), as_array(w), b)
    out, window = ops().conv2d_relu_max_pool2d(xc, wc, bc, stride=stride, padding=pad,
                                               pool_size=k)
    return out, ((x, w, b, conv_param), None, BlockPoolCache((pool_param, window, out)))


def conv_relu_pool_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of the conv-relu-pool layer: (dx, dw, db)."""
    conv_cache, relu_cache, pool_cache = cache
    if not isinstance(pool_cache, BlockPoolCache):
        ds = max_pool_backward_fast(dout, pool_cache)
        da = relu_backward(ds, relu_cache)
        return conv_backward_fast(da, conv_cache)
    x, w, _, conv_param = conv_cache[:4]
    dout, xc, wc, out = promote(as_array(dout), as_array(x), as_array(w), pool_cache.out)
    return ops().conv2d_relu_max_pool2d_backward(
        dout, out, pool_cache.window, xc, wc, stride=conv_param["stride"],
        padding=conv_param["pad"], pool_size=_block_pool_size(pool_cache[0]))


# ------------------------------------------------------------------------------------------
# Normalisation and dropout (cs231n/layers.py, assignments 2 of 2018-2025)
# ------------------------------------------------------------------------------------------

def _compute_dtype(x):
    """x's dtype if it is float32 / float64, else float64 (the course's NumPy would promote)."""
    return x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _param(v, dt, shape=None):
    """gamma / beta read afresh (the gradient checker mutates them in place), in dtype dt."""
    a = as_array(v).astype(dt, copy=False)
    return a if shape is None else a.reshape(shape)


def _norm_input(x):
    x = as_array(x)
    return x.astype(_compute_dtype(x), copy=False)


def _bn_forward(x, gamma, beta, bn_param):
    """Batch norm over axis 0 of (N, D) or per channel of (N, C, H, W), in the course's
    train / test modes, with its running averages written back into bn_param."""
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    x = _norm_input(x)
    dt, c = x.dtype, x.shape[1] if x.ndim > 1 else 0
    running_mean = bn_param.get("running_mean", np.zeros(c, dtype=dt))
    running_var = bn_param.get("running_var", np.zeros(c, dtype=dt))
    g, b = _param(gamma, dt, (-1,)), _param(beta, dt, (-1,))
    F = ops()
    if mode == "train":
        out, mean, invstd = F.batch_norm(x, None, None, g, b, training=True, eps=eps,
                                         return_stats=True)
        var = np.maximum(1.0 / np.square(invstd.astype(np.float64)) - eps, 0.0).astype(dt)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        return out, (x, g, mean, invstd, None, None, eps, True)
    if mode == "test":
        rm, rv = _param(running_mean, dt), _param(running_var, dt)
        out = F.batch_norm(x, rm, rv, g, b, training=False, eps=eps)
        return out, (x, g, None, None, rm, rv, eps, False)
    raise ValueError(f'Invalid forward batchnorm mode "{mode}"')


def _bn_backward(dout, cache):
    x, g, mean, invstd, rm, rv, eps, training = cache
    dout = as_array(dout).astype(x.dtype, copy=False)
    return ops().batch_norm_backward(dout, x, g, rm, rv, mean, invstd, training, eps)


def batchnorm_forward(x: ArrayLike, gamma: ArrayLike, beta: ArrayLike,
                      bn_param: Dict[str, Any]) -> Forward:
    """Forward pass of batch normalisation over the N examples of x (N, D).

    In train mode the sample mean and (biased) variance normalise the data and update the
    running averages, running = momentum * running + (1 - momentum) * sample; in test mode
    the running averages normalise it.  Both start at zeros (of x's dtype) and are stored back
    into bn_param.

    Input:
    - x: data of shape (N, D)
    - gamma: scale parameter of shape (D,)
    - beta: shift parameter of shape (D,)
    - bn_param: dictionary with the keys
      - mode: 'train' or 'test'; required
      - eps: constant for numeric stability (default 1e-5)
      - momentum: constant for the running mean / variance (default 0.9)
      - running_mean: array of shape (D,), the running mean of the features
      - running_var: array of shape (D,), the running variance of the features

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: what the backward pass needs
    """
    return _bn_forward(x, gamma, beta, bn_param)


def batchnorm_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of batch normalisation.

    Inputs:
    - dout: upstream derivatives, of shape (N, D)
    - cache: from batchnorm_forward

    Returns a tuple of:
    - dx: gradient with respect to the inputs x, of shape (N, D)
    - dgamma: gradient with respect to the scale parameter gamma, of shape (D,)
    - dbeta: gradient with respect to the shift parameter beta, of shape (D,)
    """
    return _bn_backward(dout, cache)


def batchnorm_backward_alt(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of batch normalisation (the simplified closed form; same results)."""
    return _bn_backward(dout, cache)


def layernorm_forward(x: NDArray[Any], gamma: ArrayLike, beta: ArrayLike,
                      ln_param: Params) -> Forward:
    """Forward pass of layer normalisation: each example of x (N, D) is normalised over its
    D features, in train and test alike.

    Input:
    - x: data of shape (N, D)
    - gamma: scale parameter of shape (D,)
    - beta: shift parameter of shape (D,)
    - ln_param: dictionary with the key
      - eps: constant for numeric stability (default 1e-5)

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: what the backward pass needs
    """
    eps = ln_param.get("eps", 1e-5)
    x = _norm_input(x)
    d = x.shape[-1] if x.ndim else 0
    g, b = _param(gamma, x.dtype, (d,)), _param(beta, x.dtype, (d,))
    out, mean, rstd = ops().layer_norm(x, (d,), g, b, eps, return_stats=True)
    return out, (x, g, mean, rstd)


def layernorm_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of layer normalisation: (dx, dgamma, dbeta), shapes (N, D), (D,), (D,)."""
    x, g, mean, rstd = cache
    dout = as_array(dout).astype(x.dtype, copy=False)
    return ops().layer_norm_backward(dout, x, (x.shape[-1],), mean, rstd, g)


def dropout_forward(x: NDArray[Any], dropout_param: Params) -> Forward:
    """Forward pass of (inverted) dropout.

    Inputs:
    - x: input data, of any shape
    - dropout_param: a dictionary with the keys
      - p: dropout parameter; each neuron output is KEPT with probability p
      - mode: 'test' or 'train'; in test mode the input is returned (as a copy)
      - seed: seed for the random number generator; with it the mask is exactly
        ``np.random.seed(seed); np.random.rand(*x.shape) < p``, as in the course

    Outputs:
    - out: array of the same shape (and dtype) as x
    - cache: (dropout_param, mask); mask is a bool array (True where kept; None in test mode)
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    x = _norm_input(x)
    if mode == "train":
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer,
                                                                 np.floating)):
            raise TypeError(f"dropout_forward: p must be a float, got {p!r}")
        if not 0.0 < p <= 1.0:
            raise ValueError(f"dropout_forward: p is the keep probability and must lie in "
                             f"(0, 1], got {p}")
        if "seed" in dropout_param:
            np.random.seed(dropout_param["seed"])
        mask = np.random.rand(*x.shape) < p
        return ops().dropout_backward(x, mask, 1.0 / p), (dropout_param, mask)
    if mode == "test":
        return x.copy(), (dropout_param, None)
    raise ValueError(f'Invalid forward dropout mode "{mode}"')


def dropout_backward(dout: NDArray[Any], cache: Cache) -> FloatArray:
    """Backward pass of (inverted) dropout: dout * mask / p in train mode, dout in test mode."""
    dropout_param, mask = cache
    dout = _norm_input(dout)
    if dropout_param["mode"] == "train":
        return ops().dropout_backward(dout, mask, 1.0 / dropout_param["p"])
    return dout.copy()


def spatial_batchnorm_forward(x: NDArray[Any], gamma: ArrayLike, beta: ArrayLike,
                              bn_param: Dict[str, Any]) -> Forward:
    """Forward pass of spatial batch normalisation: per channel of x (N, C, H, W), over N, H
    and W, with the modes and running averages of batchnorm_forward (shape (C,)).

    Returns a tuple of:
    - out: output data, of shape (N, C, H, W)
    - cache: what the backward pass needs
    """
    x = _norm_input(x)
    if x.ndim != 4:
        raise ValueError(f"spatial_batchnorm_forward: expected x of shape (N, C, H, W), got "
                         f"shape {tuple(x.shape)}")
    return _bn_forward(x, gamma, beta, bn_param)


def spatial_batchnorm_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of spatial batch normalisation: (dx, dgamma, dbeta), dgamma and dbeta
    of shape (C,)."""
    return _bn_backward(dout, cache)


def spatial_groupnorm_forward(x: NDArray[Any], gamma: ArrayLike, beta: ArrayLike, G: int,
                              gn_param: Params) -> Forward:
    """Forward pass of spatial group normalisation: the C channels of x (N, C, H, W) are
    split into G groups, each normalised over its channels and H and W, per example.

    Inputs:
    - x: input data of shape (N, C, H, W)
    - gamma: scale parameter, of shape (1, C, 1, 1) (or (C,))
    - beta: shift parameter, of the same shape
    - G: integer number of groups to split into; should divide C
    - gn_param: dictionary with the key
      - eps: constant for numeric stability (default 1e-5)

    Returns a tuple of:
    - out: output data, of shape (N, C, H, W)
    - cache: what the backward pass needs
    """
    eps = gn_param.get("eps", 1e-5)
    x = _norm_input(x)
    if x.ndim != 4:
        raise ValueError(f"spatial_groupnorm_forward: expected x of shape (N, C, H, W), got "
                         f"shape {tuple(x.shape)}")
    ga, be = as_array(gamma), as_array(beta)
    g, b = _param(ga, x.dtype, (-1,)), _param(be, x.dtype, (-1,))
    out, mean, rstd = ops().group_norm(x, G, g, b, eps, return_stats=True)
    return out, (x, G, g, mean, rstd, ga.shape, be.shape)


def spatial_groupnorm_backward(dout: ArrayLike, cache: Cache) -> Grads:
    """Backward pass of spatial group normalisation: (dx, dgamma, dbeta), dgamma and dbeta in
    the shapes of gamma and beta."""
    x, G, g, mean, rstd, gshape, bshape = cache
    dout = as_array(dout).astype(x.dtype, copy=False)
    dx, dgamma, dbeta = ops().group_norm_backward(dout, x, G, mean, rstd, g)
    return dx, dgamma.reshape(gshape), dbeta.reshape(bshape)


# ------------------------------------------------------------------------------------------
# Sandwich layers with normalisation (the ones student code adds to cs231n/layer_utils.py)
# ------------------------------------------------------------------------------------------

def conv_bn_relu_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike, gamma: ArrayLike,
                         beta: ArrayLike, conv_param: Params,
                         bn_param: Dict[str, Any]) -> Forward:
    """Convolution, spatial batch normalisation, then a ReLU.

    Returns a tuple of:
    - out: output of the ReLU
    - cache: (conv_cache, bn_cache, relu_cache)
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout: ArrayLike, cache: Cache) -> Tuple[FloatArray, ...]:
    """Backward pass of the conv-bn-relu layer: (dx, dw, db, dgamma, dbeta)."""
    conv_cache, bn_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = spatial_batchnorm_backward(dan, bn_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta


def _affine_norm_relu_forward(norm_forward, x, w, b, gamma, beta, param):
    a, fc_cache = affine_forward(x, w, b)
    an, norm_cache = norm_forward(a, gamma, beta, param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, norm_cache, relu_cache)


def _affine_norm_relu_backward(norm_backward, dout, cache):
    fc_cache, norm_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = norm_backward(dan, norm_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def affine_bn_relu_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike, gamma: ArrayLike,
                           beta: ArrayLike, bn_param: Dict[str, Any]) -> Forward:
    """Affine transform, batch normalisation, then a ReLU.

    Returns a tuple of:
    - out: output of the ReLU
    - cache: (fc_cache, bn_cache, relu_cache)
    """
    return _affine_norm_relu_forward(batchnorm_forward, x, w, b, gamma, beta, bn_param)


def affine_bn_relu_backward(dout: ArrayLike, cache: Cache) -> Tuple[FloatArray, ...]:
    """Backward pass of the affine-bn-relu layer: (dx, dw, db, dgamma, dbeta)."""
    return _affine_norm_relu_backward(batchnorm_backward, dout, cache)


def affine_ln_relu_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike, gamma: ArrayLike,
                           beta: ArrayLike, ln_param: Params) -> Forward:
    """Affine transform, layer normalisation, then a ReLU.

    Returns a tuple of:
    - out: output of the ReLU
    - cache: (fc_cache, ln_cache, relu_cache)
    """
    return _affine_norm_relu_forward(layernorm_forward, x, w, b, gamma, beta, ln_param)


def affine_ln_relu_backward(dout: ArrayLike, cache: Cache) -> Tuple[FloatArray, ...]:
    """Backward pass of the affine-ln-relu layer: (dx, dw, db, dgamma, dbeta)."""
    return _affine_norm_relu_backward(layernorm_backward, dout, cache)


from . import cs231n_optim as optim  # noqa: E402  (the course's update rules: cs231n/optim.py)
