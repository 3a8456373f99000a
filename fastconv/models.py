"""The seed CNNs, written with :mod:`fastconv.nn`, each with its explicit backward."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple, Type, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import nn
from ._typing import FloatArray

__all__ = ["SimpleCNN", "MnistCNN", "CifarCNN", "EdgePipeline", "MODELS", "get_model", "LAPLACIAN"]

#: the 3x3 Laplacian kernel of EdgePipeline (4-neighbour form)
LAPLACIAN = np.array([[0.0, 1.0, 0.0],
                      [1.0, -4.0, 1.0],
                      [0.0, 1.0, 0.0]], dtype=np.float32)


class SimpleCNN(nn.Module):
    """conv 1->32 k3 (no padding), relu, maxpool 2, flatten, linear 5408->10. Input (N, 1, 28, 28)."""

    input_shape: Tuple[int, int, int] = (1, 28, 28)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 32, 3)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32 * 13 * 13, num_classes)
        self._block = nn.fuse(self.conv, self.relu, self.pool)  # one fused kernel, no new keys

    def forward(self, x: ArrayLike) -> FloatArray:
        return self.fc(self.flatten(self._block(x)))

    def backward(self, grad_output: ArrayLike, input_grad: bool = True) -> FloatArray:
        """Gradients into every parameter's ``.grad``; returns the input gradient (None with
        ``input_grad=False``, which skips that work: images need none)."""
        g = self.fc.backward(grad_output)
        g = self.flatten.backward(g)
        return cast(FloatArray, self._block.backward(g, input_grad=input_grad))


class MnistCNN(nn.Module):
    """conv 1->32 k3 pad1, relu, maxpool 2, conv 32->64 k3 pad1, relu, maxpool 2, flatten,
    linear 3136->128, relu, linear 128->10. Input (N, 1, 28, 28)."""

    input_shape: Tuple[int, int, int] = (1, 28, 28)

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        side = image_size // 4
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * side * side, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, num_classes)
        # the layers above run as three fused blocks (same results and state_dict keys)
        self._block1 = nn.fuse(self.conv1, self.relu1, self.pool1)
        self._block2 = nn.fuse(self.conv2, self.relu2, self.pool2)
        self._block3 = nn.fuse(self.fc1, self.relu3)

    def forward(self, x: ArrayLike) -> FloatArray:
        x = self._block2(self._block1(x))
        x = self._block3(self.flatten(x))
        return self.fc2(x)

    def backward(self, grad_output: ArrayLike, input_grad: bool = True) -> FloatArray:
        """Gradients into every parameter's ``.grad``; returns the input gradient (None with
        ``input_grad=False``, which skips that work: images need none)."""
        g = self.fc2.backward(grad_output)
        g = self.flatten.backward(cast(FloatArray, self._block3.backward(g)))
        g = cast(FloatArray, self._block2.backward(g))
        return cast(FloatArray, self._block1.backward(g, input_grad=input_grad))


class CifarCNN(MnistCNN):
    """The MNIST network on 3x32x32 inputs: conv 3->32, conv 32->64, linear 4096->128, linear 128->10."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(in_channels=3, image_size=32, num_classes=num_classes)


class EdgePipeline(nn.Module):
    """Fixed 3x3 Laplacian conv (padding 1, no bias), relu, maxpool 2, flatten, linear 22500->64,
    on a (N, 1, 300, 300) grayscale image.

    The Laplacian weight is a Parameter with ``requires_grad=False``: it is in ``state_dict``
    (``conv.weight``), backward leaves its gradient empty, optimisers skip it, and ``summary``
    counts its 9 values as non-trainable. The dense layer is an ordinary trainable Linear.
    """

    input_shape = (1, 300, 300)

    def __init__(self, out_features: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        self.conv.weight.data[...] = LAPLACIAN
        self.conv.weight.requires_grad = False
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(150 * 150, out_features)
        self._block = nn.fuse(self.conv, self.relu, self.pool)

    def stages(self, x: ArrayLike) -> List[Tuple[str, NDArray[Any]]]:
        """Run forward and return every stage's output as a list of ``(name, array)``, input first."""
        y = np.asarray(x)
        out = [("input", y)]
        for name in ("conv", "relu", "pool", "flatten", "fc"):
            y = getattr(self, name)(y)
            out.append((name, y))
        return out

    def forward(self, x: ArrayLike) -> FloatArray:
        """The dense layer's output; conv, relu and pool run as one fused block (stages() runs
        them one by one)."""
        return self.fc(self.flatten(self._block(x)))

    def backward(self, grad_output: ArrayLike, input_grad: bool = True) -> FloatArray:
        """The dense layer's gradients into ``fc``'s ``.grad`` (the Laplacian is fixed); returns
        the input gradient (None with ``input_grad=False``)."""
        conv = self.conv
        if not (input_grad or conv.weight.requires_grad
                or (conv.bias is not None and conv.bias.requires_grad)):
            # nothing before the dense layer to differentiate (the fixed Laplacian): the dense
            # layer's input gradient is not needed either
            self.fc.backward(grad_output, input_grad=False)
            return cast(FloatArray, None)  # as documented: None with input_grad=False
        g = self.flatten.backward(self.fc.backward(grad_output))
        return cast(FloatArray, self._block.backward(g, input_grad=input_grad))


#: command-line name -> model class
MODELS: Dict[str, Type[nn.Module]] = {"mnist": MnistCNN, "simple": SimpleCNN, "cifar": CifarCNN,
                                      "edges": EdgePipeline}


def get_model(name: str) -> nn.Module:
    """Build a model from its command-line name: mnist, simple, cifar or edges."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError("unknown model %r; choose one of %s" % (name, ", ".join(MODELS))) from None
