"""fastconv: fast C kernels for convolutional neural networks in NumPy.

    import fastconv.functional as F      # C backend
    import fastconv.reference as R       # NumPy backend, same API

Threads and scratch memory are controlled here: set_num_threads / get_num_threads,
local_num_threads, and set_workspace_limit / get_workspace_limit; manual_seed seeds the default
initialisation and Dropout.
"""
import os as _os
import operator as _operator

import numpy as _np
from typing import Any as _Any

from ._version import __version__
from .validation import conv2d_output_shape, pool2d_output_shape
from . import _kernels
from . import functional, reference
from .backend import use_backend

__all__ = ["__version__", "functional", "reference", "conv2d_output_shape",
           "pool2d_output_shape", "set_num_threads", "get_num_threads",
           "set_workspace_limit", "get_workspace_limit", "use_backend", "manual_seed",
           "local_num_threads", "set_winograd", "get_winograd"]

_MIN_WORKSPACE = 1 << 20


def _positive_int(value: _Any, name: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    try:
        value = _operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return value


def set_num_threads(n: int) -> None:
    """Set the number of threads every kernel uses (an int >= 1)."""
    n = _positive_int(n, "n", 1)
    if n > 1 << 16:
        raise ValueError(f"n must be at most {1 << 16}, got {n}")
    _kernels.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the kernels use (default: OMP_NUM_THREADS, else the core count).

    Inside :func:`local_num_threads` it is that block's count, on that thread."""
    return _kernels.get_num_threads()


class local_num_threads:
    """Context manager: kernels called from *this* Python thread use ``n`` threads inside the
    block, whatever :func:`set_num_threads` says; other threads are not affected. On exit the
    thread's previous setting comes back.

    For code that calls kernels from several threads of its own, such as a Dask worker's thread
    pool: one kernel thread per calling thread keeps the cores from being oversubscribed::

        with fastconv.local_num_threads(1):
            logits = model(x)
    """

    def __init__(self, n: int) -> None:
        n = _positive_int(n, "n", 1)
        if n > 1 << 16:
            raise ValueError(f"n must be at most {1 << 16}, got {n}")
        self.n = n
        self._previous: list[int] = []

    def __enter__(self) -> "local_num_threads":
        self._previous.append(_kernels.get_thread_num_threads())
        _kernels.set_thread_num_threads(self.n)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        _kernels.set_thread_num_threads(self._previous.pop())


def manual_seed(seed: int) -> "_np.random.Generator":
    """Seed fastconv's random numbers, as ``torch.manual_seed``: the default initialisation of every
    layer and Dropout's masks draw from one generator, which this reseeds (so that a script builds
    the same weights on every run). ``seed`` is an int >= 0. Returns the new
    ``numpy.random.Generator`` (also ``fastconv.nn.init.get_generator()``)."""
    from .nn import init
    from .validation import check_int
    return init.manual_seed(check_int(seed, "manual_seed: seed", 0))


def set_workspace_limit(nbytes: int) -> None:
    """Upper bound in bytes (an int >= 1 MiB) on the scratch memory of one conv2d call."""
    nbytes = _positive_int(nbytes, "nbytes", _MIN_WORKSPACE)
    if nbytes > (1 << 63) - 1:
        raise ValueError(f"nbytes must fit in int64, got {nbytes}")
    _kernels.set_workspace_limit(nbytes)


def get_workspace_limit() -> int:
    """The workspace limit in bytes (default 64 MiB)."""
    return _kernels.get_workspace_limit()


_WINOGRAD_MODES = {"off": 0, "auto": 1, "always": 2, "fast": 3, "always-f4": 4}


def set_winograd(mode: str) -> str:
    """Which 3x3 stride-1 convs run as Winograd convolution; returns the previous mode.

    "auto" (the default): F(2x2, 3x3) where the cost model says it pays; "off": never;
    "always": F(2x2, 3x3) wherever it applies; "fast": as "auto", with F(4x4, 3x3) where its
    tile grid pays (the seed networks' 32 -> 64 convs run about 1.4x faster, at several
    times the float32 rounding error of F(2x2, 3x3): README has the figures); "always-f4":
    F(4x4, 3x3) wherever it applies.  The environment variable FASTCONV_WINOGRAD=0..4 sets
    the initial mode, in this order.
    """
    if not isinstance(mode, str) or mode not in _WINOGRAD_MODES:
        raise ValueError(f"set_winograd: mode must be one of {sorted(_WINOGRAD_MODES)}, "
                         f"got {mode!r}")
    old = _kernels.set_conv_winograd(_WINOGRAD_MODES[mode])
    return {v: k for k, v in _WINOGRAD_MODES.items()}[old]


def get_winograd() -> str:
    """The Winograd mode (see set_winograd)."""
    return {v: k for k, v in _WINOGRAD_MODES.items()}[_kernels.get_conv_winograd()]


def _default_num_threads() -> int:
    """OMP_NUM_THREADS if it is a valid positive int (its first entry), else the core count."""
    env = _os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(env)
    except ValueError:
        n = 0
    if n < 1:
        try:
            n = len(_os.sched_getaffinity(0))
        except (AttributeError, OSError):
            n = _os.cpu_count() or 1
    return max(1, n)


_kernels.set_num_threads(_default_num_threads())
