"""Which implementation of the functional ops the layers call.

Two backends share one set of signatures:

* ``"c"``     -- :mod:`fastconv.functional`, the C kernels (the default);
* ``"numpy"`` -- :mod:`fastconv.reference`, the NumPy reference.

:func:`use_backend` works both as a plain setting and as a context manager::

    fastconv.use_backend("numpy")          # from now on every layer runs on NumPy
    with fastconv.use_backend("c"):        # only inside the block; restored on exit
        logits = model(x)

The layers of :mod:`fastconv.nn` look the backend up on every call through :func:`get_backend`,
so switching takes effect for models that already exist.

Both backend modules run the same Python functions: they are defined once, in
:mod:`fastconv.functional`, and :func:`bind_kernels` gives :mod:`fastconv.reference` copies of
them that call its NumPy kernels instead of the C ones.
"""
from __future__ import annotations

import importlib
import threading
import types
from typing import Any, Dict, Optional, Type

__all__ = ["use_backend", "get_backend", "get_backend_name", "BACKENDS"]

#: backend name -> module that implements it
BACKENDS: Dict[str, str] = {"c": "fastconv.functional", "numpy": "fastconv.reference"}

_lock = threading.Lock()
_current = "c"


def bind_kernels(module: types.ModuleType, kernels: Any, name: str) -> Dict[str, Any]:
    """The names of ``module.__all__``, with its functions rebound to another kernel object.

    Every function defined in `module` (its ``__globals__`` is the module's namespace) is
    copied -- same code, defaults, docstring and annotations -- into a namespace that is a
    snapshot of the module's globals in which ``_k`` is `kernels` and every such function is
    replaced by its copy, so that a public function calling another one or a private helper
    stays on `kernels`.  The copies report `name` as their ``__module__``.  Names of
    ``__all__`` defined elsewhere (the shape helpers of :mod:`fastconv.validation`) are
    returned as they are.  Raises RuntimeError for a public function of `module` that cannot
    be rebound (e.g. one wrapped by a decorator defined in another module), which would
    otherwise still run the original kernels.
    """
    source = vars(module)
    if "_k" not in source:
        raise RuntimeError(f"{module.__name__} has no kernel object _k to rebind")
    namespace = dict(source)
    namespace["_k"] = kernels
    namespace["__name__"] = name
    for key, fn in source.items():
        if isinstance(fn, types.FunctionType) and fn.__globals__ is source:
            copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__,
                                      fn.__closure__)
            copy.__kwdefaults__ = None if fn.__kwdefaults__ is None else dict(fn.__kwdefaults__)
            copy.__doc__ = fn.__doc__
            copy.__annotations__ = dict(fn.__annotations__)
            copy.__qualname__ = fn.__qualname__
            copy.__dict__.update(fn.__dict__)
            copy.__module__ = name
            namespace[key] = copy
    public = {}
    for key in module.__all__:
        obj = namespace[key]
        if callable(obj) and getattr(obj, "__module__", None) == module.__name__:
            raise RuntimeError(f"{module.__name__}.{key} cannot be rebound to other kernels: "
                               "define it as a plain module-level def")
        public[key] = obj
    return public


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(
            "backend must be one of %s, got %r" % (", ".join(repr(k) for k in BACKENDS), name))
    return name


class use_backend:
    """Select the backend that :mod:`fastconv.nn` layers call.

    Calling ``use_backend(name)`` switches at once and stays switched. Used as
    ``with use_backend(name):`` it switches for the block only and restores the previous
    backend on exit, even when the block raises.
    """

    def __init__(self, name: str) -> None:
        _check_name(name)
        global _current
        # import first so that a backend that cannot load leaves the setting unchanged
        importlib.import_module(BACKENDS[name])
        with _lock:
            self._previous = _current
            _current = name
        self.name = name

    def __enter__(self) -> use_backend:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[types.TracebackType]) -> None:
        global _current
        with _lock:
            _current = self._previous

    def __repr__(self) -> str:
        return "use_backend(%r)" % self.name


def get_backend_name() -> str:
    """Name of the active backend: ``"c"`` or ``"numpy"``."""
    return _current


_modules: Dict[str, types.ModuleType] = {}


def get_backend() -> types.ModuleType:
    """The module of the active backend (:mod:`fastconv.functional` or :mod:`fastconv.reference`)."""
    # every layer calls this on every forward and backward: the import machinery once per
    # backend, a dict lookup after that
    mod = _modules.get(_current)
    if mod is None:
        mod = _modules[_current] = importlib.import_module(BACKENDS[_current])
    return mod
