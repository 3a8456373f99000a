"""The update rules of the CS231n assignments (``cs231n/optim.py``), for ``Solver``.

Each rule takes ``(w, dw, config)`` -- the current weights, their gradient and a dict of
hyperparameters and state (``None`` or missing keys take the course's defaults) -- and returns
``(next_w, config)``.  The state (velocity, cache, m, v, t) lives in ``config``, so the same
dict is passed back on the next call.  Reach it as ``fastconv.compat.cs231n.optim``
(``from fastconv.compat.cs231n import optim`` replaces ``from cs231n import optim``).

The formulas are the course's, in NumPy (they are one or two passes over each weight array):
Adam's ``t`` starts at 0 and is incremented before it is used for bias correction.
"""
from typing import Any, Dict, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

from .._typing import FloatArray

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]


def sgd(w: NDArray[Any], dw: NDArray[Any], config: Optional[Dict[str, Any]] = None) -> Tuple[FloatArray, Dict[str, Any]]:
    """Vanilla stochastic gradient descent.

    config format:
    - learning_rate: scalar learning rate (default 1e-2)
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def sgd_momentum(w: NDArray[Any], dw: NDArray[Any],
                 config: Optional[Dict[str, Any]] = None) -> Tuple[FloatArray, Dict[str, Any]]:
    """Stochastic gradient descent with momentum.

    config format:
    - learning_rate: scalar learning rate (default 1e-2)
    - momentum: scalar between 0 and 1 giving the momentum value (default 0.9); 0 reduces
      to sgd
    - velocity: an array of the shape of w and dw (default zeros), the moving average of
      the gradients
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
    return next_w, config


def rmsprop(w: NDArray[Any], dw: NDArray[Any],
            config: Optional[Dict[str, Any]] = None) -> Tuple[FloatArray, Dict[str, Any]]:
    """RMSProp: a moving average of squared gradient values sets per-parameter step sizes.

    config format:
    - learning_rate: scalar learning rate (default 1e-2)
    - decay_rate: scalar between 0 and 1, the decay rate of the squared-gradient cache
      (default 0.99)
    - epsilon: small scalar that avoids division by zero (default 1e-8)
    - cache: moving average of the second moments of the gradients (default zeros)
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    cache = config["decay_rate"] * config["cache"] + (1 - config["decay_rate"]) * dw ** 2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    return next_w, config


def adam(w: NDArray[Any], dw: NDArray[Any], config: Optional[Dict[str, Any]] = None) -> Tuple[FloatArray, Dict[str, Any]]:
    """Adam: moving averages of the gradient and its square, with bias correction.

    config format:
    - learning_rate: scalar learning rate (default 1e-3)
    - beta1: decay rate of the moving average of the first moment (default 0.9)
    - beta2: decay rate of the moving average of the second moment (default 0.999)
    - epsilon: small scalar that avoids division by zero (default 1e-8)
    - m: moving average of the gradient (default zeros)
    - v: moving average of the squared gradient (default zeros)
    - t: iteration number (default 0; incremented before use)
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    config["m"] = b1 * config["m"] + (1 - b1) * dw
    mt = config["m"] / (1 - b1 ** t)
    config["v"] = b2 * config["v"] + (1 - b2) * (dw * dw)
    vt = config["v"] / (1 - b2 ** t)
    next_w = w - config["learning_rate"] * mt / (np.sqrt(vt) + config["epsilon"])
    return next_w, config
