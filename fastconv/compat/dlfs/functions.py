"""``common/functions.py`` of "Deep Learning from Scratch", with the book's names and results.

sigmoid, relu and softmax run on fastconv's kernels for float32 / float64 arrays (other inputs
are converted to float64, as NumPy's arithmetic in the book would); the rest are the book's
NumPy one-liners.  Differences: ``step_function`` returns an int64 array (the book's
``dtype=np.int`` no longer exists in NumPy); labels ``t`` of shape (N, 1) are class indices in
``cross_entropy_error`` (the book would broadcast them into an (N, N) table).
"""
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._common import as_array, ops

__all__ = ["identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad",
           "softmax", "sum_squared_error", "cross_entropy_error", "softmax_loss"]


def _floats(x):
    x = as_array(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def identity_function(x: NDArray[Any]) -> NDArray[Any]:
    return x


def step_function(x: NDArray[Any]) -> NDArray[Any]:
    return np.array(as_array(x) > 0, dtype=np.int64)


def sigmoid(x: NDArray[Any]) -> NDArray[Any]:
    return ops().sigmoid(_floats(x))


def sigmoid_grad(x: NDArray[Any]) -> NDArray[Any]:
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x: NDArray[Any]) -> NDArray[Any]:
    return ops().relu(_floats(x))


def relu_grad(x: NDArray[Any]) -> NDArray[Any]:
    x = as_array(x)
    grad = np.zeros_like(x)
    grad[x >= 0] = 1
    return grad


def softmax(x: NDArray[Any]) -> NDArray[Any]:
    return ops().softmax(_floats(x), axis=-1)


def sum_squared_error(y: NDArray[Any], t: NDArray[Any]) -> Any:
    return 0.5 * np.sum((as_array(y) - as_array(t)) ** 2)


def cross_entropy_error(y: NDArray[Any], t: NDArray[Any]) -> Any:
    """Mean cross-entropy of probabilities y against labels or one-hot rows t (the book adds
    1e-7 inside the logarithm; so does this)."""
    y, t = as_array(y), as_array(t)
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:  # one-hot labels: take the indices
        t = t.argmax(axis=1)
    t = t.reshape(-1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def softmax_loss(X: NDArray[Any], t: NDArray[Any]) -> Any:
    return cross_entropy_error(softmax(X), t)
