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
"""
import importlib
import threading

__all__ = ["use_backend", "get_backend", "get_backend_name", "BACKENDS"]

#: backend name -> module that implements it
BACKENDS = {"c": "fastconv.functional", "numpy": "fastconv.reference"}

_lock = threading.Lock()
_current = "c"


def _check_name(name):
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

    def __init__(self, name):
        _check_name(name)
        global _current
        # import first so that a backend that cannot load leaves the setting unchanged
        importlib.import_module(BACKENDS[name])
        with _lock:
            self._previous = _current
            _current = name
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        global _current
        with _lock:
            _current = self._previous
        return False

    def __repr__(self):
        return "use_backend(%r)" % self.name


def get_backend_name():
    """Name of the active backend: ``"c"`` or ``"numpy"``."""
    return _current


def get_backend():
    """The module of the active backend (:mod:`fastconv.functional` or :mod:`fastconv.reference`)."""
    return importlib.import_module(BACKENDS[_current])
