"""Type aliases of fastconv's public signatures (for annotations only; nothing here runs).

- ``FloatArray``: what every op returns, a float32 or float64 ndarray (the dtype of its inputs).
- ``IndexArray``: max_pool2d's argmax indices, int64.
- ``Size2``: an int, or an ``(h, w)`` pair, as PyTorch's ``_size_2_t``.
- ``Padding``: ``Size2``, or ``'valid'`` / ``'same'``.
- ``Shape``: a shape such as ``x.shape`` or ``(N, C, H, W)``.
- ``Mask3``: ``output_mask``, which of ``(grad_input, grad_weight, grad_bias)`` to compute;
  ``Grads3``: those three gradients.

Array arguments are ``numpy.typing.ArrayLike``: the functions take anything ``numpy.asarray``
takes (and then require float32 or float64 at run time).
"""
from typing import Any, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ArrayLike", "FloatArray", "IndexArray", "Size2", "Padding", "Shape", "Mask3",
           "Grads3"]

FloatArray = NDArray[np.floating[Any]]
IndexArray = NDArray[np.int64]
Size2 = Union[int, Tuple[int, int]]
Padding = Union[int, Tuple[int, int], str]
Shape = Sequence[int]
Mask3 = Sequence[bool]
#: (grad_input, grad_weight, grad_bias) of conv2d_backward and linear_backward.  A gradient
#: that output_mask leaves out is None at run time; like PyTorch's own stubs, the type says
#: array, so that the usual call (every gradient) needs no None checks.
Grads3 = Tuple[FloatArray, FloatArray, FloatArray]
