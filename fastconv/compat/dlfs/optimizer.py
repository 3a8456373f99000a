"""``common/optimizer.py`` of "Deep Learning from Scratch": SGD, Momentum, Nesterov, AdaGrad,
RMSprop and Adam with the book's constructor defaults and update rules.

``update(params, grads)`` changes the arrays of the ``params`` dict in place (the layers of
:mod:`fastconv.compat.dlfs.layers` read their W and b from the same arrays at every call, as
the book's do).
"""
from typing import Any, Dict

import numpy as np
from numpy.typing import NDArray

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def _zeros_like(params):
    """The book's per-parameter state: zeros shaped like each array of params."""
    return {key: np.zeros_like(val) for key, val in params.items()}


class _Stateful:
    """lr plus per-parameter state dicts, allocated (zeros) at the first update, as the book's."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def _state(self, name, params):
        if getattr(self, name) is None:
            setattr(self, name, _zeros_like(params))
        return getattr(self, name)


class SGD:
    """Stochastic gradient descent: W -= lr * dW."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: Dict[str, NDArray[Any]], grads: Dict[str, NDArray[Any]]) -> None:
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class Momentum(_Stateful):
    """Momentum SGD: v = momentum * v - lr * dW; W += v."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = momentum
        self.v = None

    def update(self, params: Dict[str, NDArray[Any]], grads: Dict[str, NDArray[Any]]) -> None:
        v = self._state("v", params)
        for key in params.keys():
            v[key] = self.momentum * v[key] - self.lr * grads[key]
            params[key] += v[key]


class Nesterov(Momentum):
    """Nesterov's accelerated gradient (http://arxiv.org/abs/1212.0901), the book's form."""

    def update(self, params: Dict[str, NDArray[Any]], grads: Dict[str, NDArray[Any]]) -> None:
        v = self._state("v", params)
        for key in params.keys():
            v[key] *= self.momentum
            v[key] -= self.lr * grads[key]
            params[key] += self.momentum * self.momentum * v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]


class AdaGrad(_Stateful):
    """AdaGrad: h += dW * dW; W -= lr * dW / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)
        self.h = None

    def update(self, params: Dict[str, NDArray[Any]], grads: Dict[str, NDArray[Any]]) -> None:
        h = self._state("h", params)
        for key in params.keys():
            h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(h[key]) + 1e-7)


class RMSprop(AdaGrad):
    """RMSprop: h = decay_rate * h + (1 - decay_rate) * dW^2; W -= lr * dW / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate

    def update(self, params: Dict[str, NDArray[Any]], grads: Dict[str, NDArray[Any]]) -> None:
        h = self._state("h", params)
        for key in params.keys():
            h[key] *= self.decay_rate
            h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(h[key]) + 1e-7)


class Adam(_Stateful):
    """Adam (http://arxiv.org/abs/1412.6980v8) in the book's form (bias correction folded
    into the step size)."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params: Dict[str, NDArray[Any]], grads: Dict[str, NDArray[Any]]) -> None:
        m, v = self._state("m", params), self._state("v", params)
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params.keys():
            m[key] += (1 - self.beta1) * (grads[key] - m[key])
            v[key] += (1 - self.beta2) * (grads[key] ** 2 - v[key])
            params[key] -= lr_t * m[key] / (np.sqrt(v[key]) + 1e-7)
