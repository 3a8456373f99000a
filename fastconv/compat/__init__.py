"""Drop-in replacements for the NumPy CNN layers people already have.

- :mod:`fastconv.compat.cs231n` -- the functional layers of the CS231n assignments
  (``cs231n/layers.py``, ``fast_layers.py``, ``layer_utils.py``)::

      from fastconv.compat.cs231n import *     # instead of: from cs231n.layers import *

- :mod:`fastconv.compat.dlfs` -- the ``common/`` package of "Deep Learning from Scratch"
  (``layers``, ``functions``, ``util``, ``optimizer``, ``gradient``)::

      from fastconv.compat.dlfs.layers import *   # instead of: from common.layers import *

- :mod:`fastconv.compat.deeplearning_ai` -- the functions of deeplearning.ai's "Convolution
  model, Step by Step" (NHWC)::

      from fastconv.compat.deeplearning_ai import *

All keep the names, signatures, parameter dicts, caches, attributes and return values of the
originals and run on fastconv's kernels (or on the NumPy reference backend selected with
``fastconv.backend.use_backend("numpy")``).
"""
from . import cs231n, deeplearning_ai, dlfs

__all__ = ["cs231n", "dlfs", "deeplearning_ai"]
