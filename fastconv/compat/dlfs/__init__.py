"""Drop-in replacement for the ``common/`` package of "Deep Learning from Scratch".

Change the imports and nothing else::

    # from common.layers import *                from common.functions import *
    from fastconv.compat.dlfs.layers import *     from fastconv.compat.dlfs.functions import *
    # from common.util import im2col, col2im     from common.optimizer import *
    from fastconv.compat.dlfs.util import im2col, col2im
    from fastconv.compat.dlfs.optimizer import *
    # from common.gradient import numerical_gradient
    from fastconv.compat.dlfs.gradient import numerical_gradient

- :mod:`.layers` -- the layer classes (Convolution, Pooling, Affine, Relu, Sigmoid, Dropout,
  BatchNormalization, SoftmaxWithLoss) on fastconv's kernels; ``from fastconv.compat.dlfs
  import *`` imports them too.
- :mod:`.functions` -- ``common/functions.py`` (sigmoid, relu, softmax, the losses, ...).
- :mod:`.util` -- ``common/util.py`` (im2col, col2im, conv_output_size, ...).
- :mod:`.optimizer` -- ``common/optimizer.py`` (SGD, Momentum, Nesterov, AdaGrad, RMSprop,
  Adam), updating the params dict in place.
- :mod:`.gradient` -- ``common/gradient.py`` (numerical_gradient).
"""
from . import functions, gradient, layers, optimizer, util
from .layers import *  # noqa: F401,F403

# the layer classes (the same list as .layers.__all__, written out for static tools)
__all__ = ["Relu", "Affine", "SoftmaxWithLoss", "Convolution", "Pooling", "Sigmoid", "Dropout", "BatchNormalization"]
