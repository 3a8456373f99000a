"""Weight initialisers with PyTorch's names, formulas and defaults (``torch.nn.init``).

Every function fills its argument in place and returns it. The argument is a NumPy array or a
:class:`~fastconv.nn.Parameter` (its ``.data`` is filled). Random numbers come from one module-wide
generator that :func:`manual_seed` reseeds, or from the ``generator`` argument
(a ``numpy.random.Generator``).
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple, TypeVar, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .module import Parameter

__all__ = [
    "manual_seed", "get_generator", "calculate_gain", "uniform_", "normal_", "constant_", "zeros_",
    "ones_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
]

_generator = np.random.default_rng()

#: what the initialisers fill and return: a float ndarray or a Parameter
_Tensor = TypeVar("_Tensor", bound=Union[NDArray[Any], Parameter])


def manual_seed(seed: Optional[int]) -> np.random.Generator:
    """Reseed the generator used by the initialisers and by Dropout; returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def get_generator() -> np.random.Generator:
    """The module-wide ``numpy.random.Generator``."""
    return _generator


def _array(tensor: Union[NDArray[Any], Parameter]) -> NDArray[Any]:
    arr = tensor if isinstance(tensor, np.ndarray) else getattr(tensor, "data", tensor)
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        raise TypeError("expected a floating-point NumPy array or Parameter, got %r" % (type(tensor).__name__,))
    return arr


def _fill(tensor: _Tensor, values: ArrayLike) -> _Tensor:
    arr = _array(tensor)
    arr[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """Recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``."""
    linear_fns = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d")
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError("negative_slope {} not a valid number".format(param))
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError("Unsupported nonlinearity {}".format(nonlinearity))


def _calculate_fan_in_and_fan_out(tensor: Union[NDArray[Any], Parameter]) -> Tuple[int, int]:
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor: Union[NDArray[Any], Parameter], mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError("Mode {} not supported, please use one of fan_in, fan_out".format(mode))
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _gen(generator: Optional[np.random.Generator]) -> np.random.Generator:
    return _generator if generator is None else generator


def uniform_(tensor: _Tensor, a: float = 0.0, b: float = 1.0,
             generator: Optional[np.random.Generator] = None) -> _Tensor:
    """Fill with U(a, b)."""
    arr = _array(tensor)
    return _fill(tensor, _gen(generator).uniform(a, b, size=arr.shape))


def normal_(tensor: _Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Optional[np.random.Generator] = None) -> _Tensor:
    """Fill with N(mean, std**2)."""
    arr = _array(tensor)
    return _fill(tensor, _gen(generator).normal(mean, std, size=arr.shape))


def constant_(tensor: _Tensor, val: float) -> _Tensor:
    return _fill(tensor, val)


def zeros_(tensor: _Tensor) -> _Tensor:
    return _fill(tensor, 0)


def ones_(tensor: _Tensor) -> _Tensor:
    return _fill(tensor, 1)


def kaiming_uniform_(tensor: _Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: Optional[np.random.Generator] = None) -> _Tensor:
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan). PyTorch's layers use a=sqrt(5)."""
    fan = _calculate_correct_fan(tensor, mode)
    if fan == 0:
        return tensor
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: _Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: Optional[np.random.Generator] = None) -> _Tensor:
    """He normal: N(0, std**2) with std = gain / sqrt(fan)."""
    fan = _calculate_correct_fan(tensor, mode)
    if fan == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def xavier_uniform_(tensor: _Tensor, gain: float = 1.0,
                    generator: Optional[np.random.Generator] = None) -> _Tensor:
    """Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out)) if fan_in + fan_out else 0.0
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: _Tensor, gain: float = 1.0,
                   generator: Optional[np.random.Generator] = None) -> _Tensor:
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out)) if fan_in + fan_out else 0.0
    return normal_(tensor, 0.0, std, generator)
