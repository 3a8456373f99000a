"""fastconv.functional: the C backend (import it as ``F``).

Every function validates its arguments in fastconv.validation, makes its arrays C-contiguous
(no copy when they already are) and calls the C kernels in fastconv._kernels, which release
the GIL.  fastconv.reference has the same functions, signatures and errors, in NumPy.
"""
from . import _frontend, _kernels

globals().update(_frontend.build(_kernels, __name__))

__all__ = list(_frontend.PUBLIC_NAMES)
