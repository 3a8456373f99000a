"""``common/gradient.py`` of "Deep Learning from Scratch": the central-difference
``numerical_gradient(f, x)`` (step 1e-4) that the book's networks use for gradient checks.

``f`` is called with ``x`` itself after each one-element change, and ``x`` is restored, as in
the book; this is the one function here that writes to its argument.
"""
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["numerical_gradient"]


def numerical_gradient(f: Callable[..., Any], x: NDArray[Any]) -> NDArray[Any]:
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad
