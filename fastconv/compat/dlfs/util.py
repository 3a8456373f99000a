"""``common/util.py`` of "Deep Learning from Scratch": smooth_curve, shuffle_dataset,
conv_output_size, im2col and col2im, with the book's signatures, layouts and results.

fastconv's layers never need im2col; these are here for code that calls them itself.  They
keep the input's dtype (the book's allocate float64).
"""
from typing import Any, Tuple

import numpy as np
from numpy.typing import NDArray

from .._common import as_array
from .layers import _im2col

__all__ = ["smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im"]


def smooth_curve(x: NDArray[Any]) -> NDArray[Any]:
    """Smooth a loss curve (a Kaiser-window moving average), as the book plots it."""
    window_len = 11
    x = as_array(x)
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]


def shuffle_dataset(x: NDArray[Any], t: NDArray[Any]) -> Tuple[NDArray[Any], NDArray[Any]]:
    """Shuffle the examples of x and the labels t with one permutation (np.random)."""
    permutation = np.random.permutation(x.shape[0])
    x = x[permutation, :] if x.ndim == 2 else x[permutation, :, :, :]
    t = t[permutation]
    return x, t


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> float:
    """(input_size + 2 * pad - filter_size) / stride + 1 (a float, as in the book)."""
    return (input_size + 2 * pad - filter_size) / stride + 1


def im2col(input_data: NDArray[Any], filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0) -> NDArray[Any]:
    """(N, C, H, W) images -> the (N * out_h * out_w, C * filter_h * filter_w) column matrix."""
    return np.ascontiguousarray(_im2col(input_data, filter_h, filter_w, stride, pad))


def col2im(col: NDArray[Any], input_shape: Tuple[int, ...], filter_h: int, filter_w: int,
           stride: int = 1, pad: int = 0) -> NDArray[Any]:
    """The adjoint of im2col: sums the columns back into images of input_shape (N, C, H, W)."""
    col = as_array(col)
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    dt = col.dtype if col.dtype in (np.float32, np.float64) else np.float64
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=dt)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]
