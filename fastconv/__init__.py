"""fastconv: fast C kernels for convolutional neural networks in NumPy.

    import fastconv.functional as F      # C backend
    import fastconv.reference as R       # NumPy backend, same API

Threads and scratch memory are controlled here: set_num_threads / get_num_threads and
set_workspace_limit / get_workspace_limit.
"""
import os as _os
import operator as _operator
from typing import Any as _Any

from ._version import __version__
from .validation import conv2d_output_shape, pool2d_output_shape
from . import _kernels
from . import functional, reference
from .backend import use_backend

__all__ = ["__version__", "functional", "reference", "conv2d_output_shape",
           "pool2d_output_shape", "set_num_threads", "get_num_threads",
           "set_workspace_limit", "get_workspace_limit", "use_backend"]

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
    """The number of threads the kernels use (default: OMP_NUM_THREADS, else the core count)."""
    return _kernels.get_num_threads()


def set_workspace_limit(nbytes: int) -> None:
    """Upper bound in bytes (an int >= 1 MiB) on the scratch memory of one conv2d call."""
    nbytes = _positive_int(nbytes, "nbytes", _MIN_WORKSPACE)
    if nbytes > (1 << 63) - 1:
        raise ValueError(f"nbytes must fit in int64, got {nbytes}")
    _kernels.set_workspace_limit(nbytes)


def get_workspace_limit() -> int:
    """The workspace limit in bytes (default 64 MiB)."""
    return _kernels.get_workspace_limit()


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
