"""Drop-in replacement for the layer classes of "Deep Learning from Scratch", on fastconv.

Change one import and nothing else::

    # from common.layers import *
    from fastconv.compat.dlfs.layers import *      # or: from fastconv.compat.dlfs import *

The classes have the constructor arguments, methods and attributes of ``common/layers.py``:

- ``Convolution(W, b, stride=1, pad=0)``: W (FN, C, FH, FW), b (FN,) or a scalar (the book's
  ``Convolution(W, 0)``); attributes ``W``, ``b``,
  ``stride``, ``pad``, ``x``, ``col``, ``col_W``, ``dW``, ``db``.
- ``Pooling(pool_h, pool_w, stride=2, pad=0)``: max pooling; attributes ``pool_h``, ``pool_w``,
  ``stride``, ``pad``, ``x``, ``arg_max``.
- ``Affine(W, b)``: W (D, M), b (M,); the input may be (N, d1, ..., dk) and is flattened;
  attributes ``W``, ``b``, ``x`` (the flattened input), ``original_x_shape``, ``dW``, ``db``.
- ``Relu()``: attribute ``mask`` (``x <= 0``).
- ``SoftmaxWithLoss()``: ``forward(x, t)`` returns the mean cross-entropy; ``t`` holds class
  indices (N,) or (N, 1), or one-hot rows (N, C); attributes ``loss``, ``y`` (the softmax) and
  ``t``.
- ``Sigmoid()``: attribute ``out``.
- ``Dropout(dropout_ratio=0.5)``: ``forward(x, train_flg=True)``; not inverted, as in the book:
  training keeps each element with probability 1 - ratio (``mask = np.random.rand(*x.shape) >
  ratio``, the book's draw from NumPy's global generator), test mode scales by 1 - ratio;
  attribute ``mask``.
- ``BatchNormalization(gamma, beta, momentum=0.9, running_mean=None, running_var=None)``:
  ``forward(x, train_flg=True)``; eps 1e-6 (the book's 10e-7); a 4-D input is flattened to
  (N, C*H*W) and normalised per activation; the running statistics are allocated (zeros, float64)
  at the first forward and updated with the biased batch variance; attributes ``gamma``,
  ``beta``, ``momentum``, ``input_shape``, ``running_mean``, ``running_var``, ``batch_size``,
  ``xc``, ``std``, ``dgamma``, ``dbeta`` (``xc`` and ``std`` are computed when read).

Each has ``forward(x)`` and ``backward(dout)``; ``Convolution`` and ``Affine`` set ``dW`` and
``db`` in ``backward``.  The layers read ``W`` and ``b`` at every call, so the book's way of
sharing parameter arrays with a network's ``params`` dict (updated in place by the optimiser,
or replaced by ``load_params``) keeps working.

The im2col matrices ``Convolution.col`` / ``col_W`` and ``Pooling.arg_max`` are never needed
by fastconv; they are computed, in the book's layout, only when read.  ``Relu.mask`` likewise.

Differences from the book's code, all deliberate:

- **Dtype.** Outputs keep the dtype of the inputs (the book's im2col turns float32 data into
  float64); mixed dtypes follow NumPy promotion (float32 images with float64 weights give
  float64, as in the book).
- **Inputs are never modified**: the book's ``Relu.backward`` zeroes ``dout`` in place and
  returns it; this one returns a new array.
- **Pooling with pad > 0** pads with -inf and uses PyTorch's output size (the book pads with
  zeros and computes the output size without the padding, so its reshape fails); ``pad`` must
  be at most half the pooling window.  Ties go to the first maximum of each window, as in the
  book (``np.argmax``).
- **SoftmaxWithLoss** computes the loss exactly with log-sum-exp; the book adds 1e-7 inside the
  logarithm (``-log(y + 1e-7)``), which changes the loss by about 1e-7 / y.  ``backward(dout)``
  multiplies the gradient by ``dout`` (the book ignores it; the default ``dout=1`` gives the
  book's result).
- **Labels (N, 1)** are class indices (the book's ``cross_entropy_error`` would broadcast them
  into an (N, N) table).
- **BatchNormalization.backward** after a test-mode forward is the gradient of that forward
  (the running statistics are constants); the book reuses the last training batch's values.
- Bad input raises ValueError / TypeError with a message.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, TypeVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from ..._typing import FloatArray
from .._common import (
    as_array, class_indices, flatten_batch, linear_in_out, linear_in_out_backward, ops, promote,
    scalar,
)

__all__ = ["Relu", "Affine", "SoftmaxWithLoss", "Convolution", "Pooling", "Sigmoid", "Dropout",
           "BatchNormalization"]

_UNSET: Any = object()
_T = TypeVar("_T")


def _kept(layer: object, value: Optional[_T]) -> _T:
    """What forward kept for backward; RuntimeError when forward has not run yet."""
    if value is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward: run forward "
                           "first, it keeps what backward needs")
    return value


def _bias_vector(b, n):
    """The bias as an (n,) array: a scalar (or one-element) bias is broadcast, as NumPy's
    ``+ b`` in the book does; None stays None."""
    if b is None:
        return None
    b = as_array(b)
    return np.broadcast_to(b.reshape(()), (n,)) if b.size == 1 and b.shape != (n,) else b


def _windows(x, fh, fw, stride, pad):
    """(N, C, out_h, out_w, fh, fw) view of the windows of x zero-padded by pad."""
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant") if pad else x
    n, c, h, w = img.shape
    out_h = (h - fh) // stride + 1
    out_w = (w - fw) // stride + 1
    win = sliding_window_view(img, (fh, fw), axis=(2, 3))
    return win[:, :, : (out_h - 1) * stride + 1 : stride, : (out_w - 1) * stride + 1 : stride]


def _im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """The book's im2col: (N * out_h * out_w, C * filter_h * filter_w) column matrix."""
    x = as_array(input_data)
    win = _windows(x, filter_h, filter_w, stride, pad)
    n, _, out_h, out_w = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, -1)


class Relu:
    """ReLU layer: forward(x) = max(x, 0); backward passes dout where x > 0."""

    def __init__(self) -> None:
        self._out: Optional[FloatArray] = None
        self._mask: Any = _UNSET

    @property
    def mask(self) -> Optional[NDArray[Any]]:
        """Boolean array, True where the last forward input was <= 0 (None before forward)."""
        if self._mask is not _UNSET:
            return self._mask
        return None if self._out is None else self._out <= 0

    @mask.setter
    def mask(self, value: Optional[NDArray[Any]]) -> None:
        self._mask = value

    def forward(self, x: ArrayLike) -> FloatArray:
        out = ops().relu(x)
        self._out = out
        self._mask = _UNSET
        return out

    def backward(self, dout: ArrayLike) -> FloatArray:
        if self._mask is not _UNSET:  # a mask set by hand wins, as in the book
            dout = as_array(dout)
            return np.where(self._mask, dout.dtype.type(0), dout)
        dout, out = promote(as_array(dout), _kept(self, self._out))
        return ops().relu_backward(dout, out)


class Affine:
    """Fully connected layer: forward(x) = x.reshape(N, -1) @ W + b."""

    def __init__(self, W: NDArray[Any], b: NDArray[Any]) -> None:
        self.W = W
        self.b = b
        self.x: Optional[NDArray[Any]] = None
        self._xc: Optional[NDArray[Any]] = None
        self.original_x_shape: Optional[Tuple[int, ...]] = None
        self.dW: Optional[FloatArray] = None
        self.db: Optional[FloatArray] = None

    def forward(self, x: ArrayLike) -> FloatArray:
        x = as_array(x)
        self.original_x_shape = x.shape
        self.x = flatten_batch(x)
        w = as_array(self.W)
        xc, wc, bc = promote(self.x, w, _bias_vector(self.b, w.shape[-1]))
        self._xc = xc  # the input in the computation dtype, reused by backward
        return linear_in_out(xc, wc, bc)

    def backward(self, dout: ArrayLike) -> FloatArray:
        shape = _kept(self, self.original_x_shape)
        dout, xc, wc = promote(as_array(dout), _kept(self, self._xc), as_array(self.W))
        dx, self.dW, self.db = linear_in_out_backward(dout, xc, wc)
        return dx.reshape(*shape)


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy loss against t (indices or one-hot)."""

    def __init__(self) -> None:
        self.loss: Optional[np.floating[Any]] = None
        self.y: Optional[FloatArray] = None  # softmax output
        self.t: Any = None  # targets, as given to forward
        self._logits: Optional[FloatArray] = None
        self._labels: Optional[NDArray[np.int64]] = None

    def forward(self, x: ArrayLike, t: ArrayLike) -> np.floating[Any]:
        x = as_array(x)
        if x.ndim not in (1, 2):
            raise ValueError(f"SoftmaxWithLoss: expected scores of shape (N, C) or (C,), got "
                             f"shape {tuple(x.shape)}")
        F = ops()
        self.t = t
        self.y = F.softmax(x, axis=-1)
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        tt = as_array(t)
        if tt.size == x2.size and x2.size:  # one-hot rows: the loss uses the argmax, as the book
            labels = tt.reshape(x2.shape).argmax(axis=1)
        else:
            labels = tt.reshape(-1) if tt.ndim <= 1 or tt.shape[1:] == (1,) else tt
        labels = class_indices(labels, x2.shape[0], x2.shape[1], "SoftmaxWithLoss")
        self._logits, self._labels = x2, labels
        self.loss = scalar(F.cross_entropy(x2, labels, reduction="mean"))
        return self.loss

    def backward(self, dout: ArrayLike = 1) -> FloatArray:
        y, logits = _kept(self, self.y), _kept(self, self._logits)
        t = as_array(self.t)
        if t.size == y.size and y.size:
            # one-hot (or soft) targets: (y - t) / batch_size, as the book
            y2 = y.reshape(logits.shape)
            dx = (y2 - t.reshape(y2.shape).astype(y.dtype, copy=False)) / y.dtype.type(len(y2))
        else:
            dx = ops().cross_entropy_backward(logits, self._labels, reduction="mean")
        if not (np.isscalar(dout) and dout == 1):
            dx = dx * as_array(dout).astype(dx.dtype, copy=False)
        return dx.reshape(y.shape)


class Convolution:
    """Convolution layer (cross-correlation, NCHW) with weights W (FN, C, FH, FW), bias b."""

    def __init__(self, W: NDArray[Any], b: NDArray[Any], stride: int = 1, pad: int = 0) -> None:
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x: Optional[NDArray[Any]] = None
        self._xc: Optional[NDArray[Any]] = None
        self._col: Any = _UNSET
        self._col_W: Any = _UNSET
        self.dW: Optional[FloatArray] = None
        self.db: Optional[FloatArray] = None

    @property
    def col(self) -> Optional[NDArray[Any]]:
        """The book's im2col matrix of the last input, computed when read."""
        if self._col is not _UNSET:
            return self._col
        if self.x is None:
            return None
        _, _, fh, fw = self.W.shape
        return _im2col(self.x, fh, fw, self.stride, self.pad)

    @col.setter
    def col(self, value: Optional[NDArray[Any]]) -> None:
        self._col = value

    @property
    def col_W(self) -> Optional[NDArray[Any]]:
        """W.reshape(FN, -1).T, as the book keeps it (a view, computed when read)."""
        if self._col_W is not _UNSET:
            return self._col_W
        if self.x is None:
            return None
        return self.W.reshape(self.W.shape[0], -1).T

    @col_W.setter
    def col_W(self, value: Optional[NDArray[Any]]) -> None:
        self._col_W = value

    def forward(self, x: ArrayLike) -> FloatArray:
        x = as_array(x)
        w = as_array(self.W)
        xc, wc, bc = promote(x, w, _bias_vector(self.b, w.shape[0]))
        out = ops().conv2d(xc, wc, bc, stride=self.stride, padding=self.pad)
        self.x = x
        self._xc = xc  # the input in the computation dtype, reused by backward
        self._col = _UNSET
        self._col_W = _UNSET
        return out

    def backward(self, dout: ArrayLike) -> FloatArray:
        dout, xc, wc = promote(as_array(dout), _kept(self, self._xc), as_array(self.W))
        dx, dW, db = ops().conv2d_backward(dout, xc, wc, stride=self.stride, padding=self.pad)
        self.dW = dW
        self.db = db
        return dx


class Pooling:
    """Max pooling over pool_h x pool_w windows."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x: Optional[NDArray[Any]] = None
        self._indices: Optional[NDArray[np.int64]] = None
        self._arg_max: Any = _UNSET

    @property
    def arg_max(self) -> Optional[NDArray[Any]]:
        """Position of each window's maximum inside its window (row-major), in the book's
        layout: a flat array ordered (n, out_h, out_w, c).  Computed when read."""
        if self._arg_max is not _UNSET:
            return self._arg_max
        if self._indices is None or self.x is None:
            return None
        idx = self._indices
        w_in = self.x.shape[3]
        _, _, out_h, out_w = idx.shape
        top = (np.arange(out_h) * self.stride - self.pad)[:, None]
        left = (np.arange(out_w) * self.stride - self.pad)[None, :]
        arg = (idx // w_in - top) * self.pool_w + (idx % w_in - left)
        return arg.transpose(0, 2, 3, 1).reshape(-1)

    @arg_max.setter
    def arg_max(self, value: Optional[NDArray[Any]]) -> None:
        self._arg_max = value

    def forward(self, x: ArrayLike) -> FloatArray:
        x = as_array(x)
        out, idx = ops().max_pool2d(x, (self.pool_h, self.pool_w), stride=self.stride,
                                    padding=self.pad, return_indices=True)
        self.x = x
        self._indices = idx
        self._arg_max = _UNSET
        return out

    def backward(self, dout: ArrayLike) -> FloatArray:
        x = _kept(self, self.x)
        dout, _ = promote(as_array(dout), x[:0])
        return ops().max_pool2d_backward(dout, self._indices, x.shape)


class Sigmoid:
    """Sigmoid layer: forward(x) = 1 / (1 + exp(-x)); backward dout * out * (1 - out)."""

    def __init__(self) -> None:
        self.out: Any = None

    def forward(self, x: NDArray[Any]) -> NDArray[Any]:
        x = as_array(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        self.out = ops().sigmoid(x)
        return self.out

    def backward(self, dout: NDArray[Any]) -> NDArray[Any]:
        dout, out = promote(as_array(dout), self.out)
        return ops().sigmoid_backward(dout, out)


def _float_input(x):
    x = as_array(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


class Dropout:
    """Dropout as in the book (not inverted): training zeroes each element with probability
    dropout_ratio; test mode multiplies by 1 - dropout_ratio."""

    def __init__(self, dropout_ratio: float = 0.5) -> None:
        self.dropout_ratio = dropout_ratio
        self.mask: Any = None

    def forward(self, x: NDArray[Any], train_flg: bool = True) -> NDArray[Any]:
        x = _float_input(x)
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return ops().dropout_backward(x, self.mask, 1.0)
        return x * x.dtype.type(1.0 - self.dropout_ratio)

    def backward(self, dout: NDArray[Any]) -> NDArray[Any]:
        dout = _float_input(dout)
        return ops().dropout_backward(dout, np.asarray(self.mask, dtype=bool), 1.0)


class BatchNormalization:
    """Batch normalisation per activation (http://arxiv.org/abs/1502.03167), as in the book."""

    _EPS = 10e-7

    def __init__(self, gamma: ArrayLike, beta: ArrayLike, momentum: float = 0.9,
                 running_mean: Optional[NDArray[Any]] = None,
                 running_var: Optional[NDArray[Any]] = None) -> None:
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape: Any = None  # 4-D for a conv layer, 2-D for a fully connected one
        self.running_mean: Any = running_mean
        self.running_var: Any = running_var
        self.batch_size: Any = None
        self.dgamma: Any = None
        self.dbeta: Any = None
        self._cache: Any = None
        self._xc = _UNSET
        self._std = _UNSET

    @property
    def xc(self) -> Any:
        """x - mean of the last training batch (flattened to (N, D)), computed when read."""
        if self._xc is not _UNSET:
            return self._xc
        if self._cache is None or not self._cache[4]:
            return None
        x2, mean = self._cache[0], self._cache[2]
        return x2 - mean

    @xc.setter
    def xc(self, value: Any) -> None:
        self._xc = value

    @property
    def std(self) -> Any:
        """sqrt(var + 1e-6) of the last training batch, computed when read."""
        if self._std is not _UNSET:
            return self._std
        if self._cache is None or not self._cache[4]:
            return None
        return 1.0 / self._cache[3]

    @std.setter
    def std(self, value: Any) -> None:
        self._std = value

    def forward(self, x: NDArray[Any], train_flg: bool = True) -> NDArray[Any]:
        x = as_array(x)
        self.input_shape = x.shape
        x2 = _float_input(flatten_batch(x) if x.ndim != 2 else x)
        n, d = x2.shape
        dt = x2.dtype
        g = as_array(self.gamma).astype(dt, copy=False).reshape(-1)
        b = as_array(self.beta).astype(dt, copy=False).reshape(-1)
        if self.running_mean is None:
            self.running_mean = np.zeros(d)
            self.running_var = np.zeros(d)
        F = ops()
        self._xc = self._std = _UNSET
        if train_flg:
            out, mean, invstd = F.batch_norm(x2, None, None, g, b, training=True, eps=self._EPS,
                                             return_stats=True)
            var = np.maximum(1.0 / np.square(invstd.astype(np.float64)) - self._EPS, 0.0)
            self.batch_size = n
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var.astype(dt)
            self._cache = (x2, g, mean, invstd, True, None, None)
        else:
            rm = as_array(self.running_mean).astype(dt, copy=False)
            rv = as_array(self.running_var).astype(dt, copy=False)
            out = F.batch_norm(x2, rm, rv, g, b, training=False, eps=self._EPS)
            self._cache = (x2, g, None, None, False, rm, rv)
        return out.reshape(*self.input_shape)

    def backward(self, dout: NDArray[Any]) -> NDArray[Any]:
        x2, g, mean, invstd, training, rm, rv = self._cache
        dout = as_array(dout).astype(x2.dtype, copy=False).reshape(x2.shape)
        dx, self.dgamma, self.dbeta = ops().batch_norm_backward(dout, x2, g, rm, rv, mean, invstd,
                                                                training, self._EPS)
        return dx.reshape(*self.input_shape)
