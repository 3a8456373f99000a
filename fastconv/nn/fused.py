"""Fused blocks of layers: Conv2d -> ReLU [-> MaxPool2d] and Linear -> ReLU as one kernel call.

A block runs the layers it is given, on their own parameters, as one fused op of
:mod:`fastconv.functional` (``conv2d(..., activation='relu')``, ``conv2d_relu_max_pool2d``,
``linear(..., activation='relu')``): the full-resolution activations between the layers never
go to memory, and the backward starts from what the block kept (the input, the block's output
and, with a pool, the byte window positions).  Results, gradients and ``state_dict`` keys are
those of the layers run one at a time.

- :class:`Sequential` and the seed models (:mod:`fastconv.models`) fuse by themselves.
- A Module of your own asks for a block with :func:`fuse` in ``__init__`` and calls it in
  ``forward`` and ``backward``::

      class Net(nn.Module):
          def __init__(self):
              super().__init__()
              self.conv = nn.Conv2d(1, 32, 3, padding=1)
              self.relu = nn.ReLU()
              self.pool = nn.MaxPool2d(2)
              self.fc = nn.Linear(32 * 14 * 14, 10)
              self.block = nn.fuse(self.conv, self.relu, self.pool)   # not a child: no new keys

          def forward(self, x):
              return self.fc(self.block(x).reshape(len(x), -1))

          def backward(self, g):
              g = self.fc.backward(g).reshape(-1, 32, 14, 14)
              return self.block.backward(g)

What can fuse (:func:`fusable`): a Conv2d, then a ReLU, then optionally a MaxPool2d whose window
is k x k with stride k (2 <= k <= 15), no padding, dilation 1, floor mode and no
``return_indices``; or a Linear, then a ReLU.  A block runs its layers one at a time instead
while :func:`fastconv.nn.summary` traces the model (so that it sees every layer).
"""
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..backend import get_backend
from . import module as _module
from .layers import Conv2d, Linear, MaxPool2d, ReLU
from .module import Module

__all__ = ["fuse", "fusable", "ConvBlock", "LinearBlock"]


def _pool_size(pool: Module) -> Optional[int]:
    """k when `pool` is a MaxPool2d the conv block can take (k x k, stride k, no padding,
    dilation 1, floor mode, no indices returned), else None."""
    if not isinstance(pool, MaxPool2d) or pool.ceil_mode or pool.return_indices:
        return None

    def square(v: Any) -> Optional[int]:
        t = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        if len(t) != 2 or t[0] != t[1] or isinstance(t[0], bool):
            return None
        return int(t[0]) if isinstance(t[0], (int, np.integer)) else None

    k, s = square(pool.kernel_size), square(pool.stride)
    if k is None or s != k or not 2 <= k <= 15 or square(pool.padding) != 0:
        return None
    return k if square(pool.dilation) == 1 else None


def fusable(*layers: Module) -> bool:
    """Whether :func:`fuse` takes these layers: (Conv2d, ReLU), (Conv2d, ReLU, MaxPool2d with a
    k x k stride-k window) or (Linear, ReLU)."""
    if len(layers) == 2 and isinstance(layers[1], ReLU):
        return isinstance(layers[0], (Conv2d, Linear))
    if len(layers) == 3 and isinstance(layers[0], Conv2d) and isinstance(layers[1], ReLU):
        return _pool_size(layers[2]) is not None
    return False


def _tracing() -> bool:
    """True while fastconv.nn.summary traces a model: run the layers one by one."""
    return bool(_module._forward_hooks)


class _Block:
    """What the blocks share: the layers, calling them one at a time when tracing."""

    layers: Tuple[Module, ...]

    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        return self.forward(x)

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        raise NotImplementedError

    _last_unfused = False

    def _unfused_forward(self, x: ArrayLike) -> NDArray[Any]:
        out: Any = x
        for m in self.layers:  # each layer keeps its own state; backward runs them in turn
            out = m(out)
        self._last_unfused = True
        return np.asarray(out)

    def _saved(self) -> Optional[dict]:
        """The head layer's state of the block's last forward, or None if that forward ran the
        layers one by one."""
        if self._last_unfused:
            return None
        head = self.layers[0]
        saved = head.saved_for_backward()
        if saved.get("block") is not self:
            raise RuntimeError(
                "%s.backward: the last forward of its %s was not this block's: run the block's "
                "forward first" % (type(self).__name__, type(head).__name__))
        return saved

    def _unfused_backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        g: Any = grad_output
        for m in reversed(self.layers):
            g = m.backward(g)
        return np.asarray(g)

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join(type(m).__name__ for m in self.layers))


class ConvBlock(_Block):
    """Conv2d -> ReLU [-> MaxPool2d] as one kernel call (see the module docstring)."""

    def __init__(self, conv: Conv2d, relu: ReLU, pool: Optional[MaxPool2d] = None) -> None:
        layers: Tuple[Module, ...] = (conv, relu) if pool is None else (conv, relu, pool)
        if not fusable(*layers):
            raise ValueError(
                "fuse: cannot fuse %s: a Conv2d, a ReLU and optionally a MaxPool2d with a k x k "
                "window, stride k (2 <= k <= 15), no padding, dilation 1, ceil_mode=False and "
                "return_indices=False" % ", ".join(type(m).__name__ for m in layers))
        self.conv, self.relu, self.pool = conv, relu, pool
        self.layers = layers
        self.pool_size = None if pool is None else _pool_size(pool)

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        """The block's output: ``pool(relu(conv(x)))`` (or ``relu(conv(x))``)."""
        if _tracing():
            return self._unfused_forward(x)
        F = get_backend()
        c = self.conv
        b = None if c.bias is None else c.bias.data
        window = None
        if self.pool_size is None:
            y = F.conv2d(x, c.weight.data, b, c.stride, c.padding, c.dilation, c.groups,
                         activation="relu")
        else:
            y, window = F.conv2d_relu_max_pool2d(x, c.weight.data, b, c.stride, c.padding,
                                                 c.dilation, c.groups,
                                                 pool_size=self.pool_size)
        c.save_for_backward(block=self, x=x, y=y, window=window)
        self._last_unfused = False
        return y

    def backward(self, grad_output: ArrayLike, input_grad: bool = True) -> Optional[NDArray[Any]]:
        """Adds the conv's weight and bias gradients into their ``.grad`` and returns the input
        gradient (None with ``input_grad=False``, which skips that work: the first layer of a
        network needs none)."""
        saved = self._saved()
        if saved is None:
            return self._unfused_backward(grad_output)
        F = get_backend()
        c = self.conv
        mask = (bool(input_grad), c.weight.requires_grad,
                c.bias is not None and c.bias.requires_grad)
        if not any(mask):  # a fixed first layer: nothing to compute
            return None
        if self.pool_size is None:
            gx, gw, gb = F.conv2d_backward(grad_output, saved["x"], c.weight.data, c.stride,
                                           c.padding, c.dilation, c.groups, mask,
                                           activation="relu", output=saved["y"])
        else:
            gx, gw, gb = F.conv2d_relu_max_pool2d_backward(
                grad_output, saved["y"], saved["window"], saved["x"], c.weight.data, c.stride,
                c.padding, c.dilation, c.groups, pool_size=self.pool_size, output_mask=mask)
        c.weight.accumulate(gw)
        if c.bias is not None:
            c.bias.accumulate(gb)
        return gx if input_grad else None


class LinearBlock(_Block):
    """Linear -> ReLU as one kernel call, the relu in the GEMM's epilogue."""

    def __init__(self, linear: Linear, relu: ReLU) -> None:
        if not fusable(linear, relu):
            raise ValueError("fuse: cannot fuse %s, %s: a Linear and a ReLU" % (
                type(linear).__name__, type(relu).__name__))
        self.linear, self.relu = linear, relu
        self.layers = (linear, relu)

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        """``relu(linear(x))`` for x of shape (*, in_features)."""
        if _tracing():
            return self._unfused_forward(x)
        lin = self.linear
        x2, lead = lin._rows(x)
        b = None if lin.bias is None else lin.bias.data
        y = get_backend().linear(x2, lin.weight.data, b, activation="relu")
        lin.save_for_backward(block=self, x=x2, y=y, lead=lead)
        self._last_unfused = False
        return y if len(lead) == 1 else y.reshape(lead + (lin.out_features,))

    def backward(self, grad_output: ArrayLike, input_grad: bool = True) -> Optional[NDArray[Any]]:
        """Adds the Linear's gradients into their ``.grad`` and returns the input gradient (None
        with ``input_grad=False``)."""
        saved = self._saved()
        if saved is None:
            return self._unfused_backward(grad_output)
        lin = self.linear
        g = np.asarray(grad_output)
        g2 = g if g.ndim == 2 else g.reshape(-1, lin.out_features)
        mask = (bool(input_grad), lin.weight.requires_grad,
                lin.bias is not None and lin.bias.requires_grad)
        gx, gw, gb = get_backend().linear_backward(g2, saved["x"], lin.weight.data, mask,
                                                   activation="relu", output=saved["y"])
        lin.weight.accumulate(gw)
        if lin.bias is not None:
            lin.bias.accumulate(gb)
        if not input_grad:
            return None
        lead = saved["lead"]
        return gx if len(lead) == 1 else gx.reshape(lead + (lin.in_features,))


def fuse(*layers: Module) -> Union[ConvBlock, LinearBlock]:
    """The block of these layers: ``fuse(conv, relu)``, ``fuse(conv, relu, pool)`` or
    ``fuse(linear, relu)`` (see :func:`fusable`); raises ValueError for anything else.  The
    block is not a Module: assigning it to a Module attribute adds no parameters or
    ``state_dict`` keys."""
    if len(layers) >= 2 and isinstance(layers[0], Linear):
        if len(layers) != 2:
            raise ValueError("fuse: a Linear block is (Linear, ReLU), got %d layers" % len(layers))
        return LinearBlock(layers[0], layers[1])  # type: ignore[arg-type]
    if len(layers) in (2, 3) and isinstance(layers[0], Conv2d):
        return ConvBlock(*layers)  # type: ignore[arg-type]
    raise ValueError("fuse: cannot fuse %s: expected (Conv2d, ReLU[, MaxPool2d]) or (Linear, "
                     "ReLU)" % ", ".join(type(m).__name__ for m in layers))


def plan(modules: Sequence[Module]) -> List[Union[Module, ConvBlock, LinearBlock]]:
    """The steps that run `modules` in order with every fusable run of layers as a block."""
    steps: List[Union[Module, ConvBlock, LinearBlock]] = []
    i, n = 0, len(modules)
    while i < n:
        if i + 2 < n and fusable(*modules[i:i + 3]):
            steps.append(fuse(*modules[i:i + 3]))
            i += 3
        elif i + 1 < n and fusable(*modules[i:i + 2]):
            steps.append(fuse(*modules[i:i + 2]))
            i += 2
        else:
            steps.append(modules[i])
            i += 1
    return steps
