"""Optimisers with PyTorch's update rules: SGD (momentum, dampening, weight decay, Nesterov) and Adam.

They update ``Parameter.data`` in place from ``Parameter.grad``; parameters whose ``grad`` is None
or that have ``requires_grad=False`` are skipped.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from . import _kernels
from .backend import get_backend_name
from .nn.module import Parameter

#: what an optimiser takes: parameters (e.g. ``model.parameters()``), or parameter groups,
#: dicts with a ``params`` entry and per-group hyperparameters
_Params = Union[Iterable[Parameter], Iterable[Dict[str, Any]]]

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Base class: holds ``param_groups`` (list of dicts with ``params`` and hyperparameters) and a
    per-parameter ``state``."""

    def __init__(self, params: _Params, defaults: Mapping[str, Any]) -> None:
        self.defaults: Dict[str, Any] = dict(defaults)
        self.state: Dict[int, Dict[str, Any]] = {}
        self.param_groups: List[Dict[str, Any]] = []
        items: List[Any] = list(params)
        if len(items) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(items[0], dict):
            items = [{"params": items}]
        for group in items:
            self.add_param_group(group)

    def add_param_group(self, group: Mapping[str, Any]) -> None:
        group = dict(group)
        ps: Any = group["params"]
        ps = [ps] if isinstance(ps, Parameter) else list(ps)
        for p in ps:
            if not isinstance(p, Parameter):
                raise TypeError("optimizer can only optimize fastconv.nn.Parameter objects, but one of the "
                                "params is %s" % type(p).__name__)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in ps):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check(group)
        self.param_groups.append(group)

    def _check(self, group: Dict[str, Any]) -> None:
        pass

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def _active(self, group: Dict[str, Any]) -> Iterator[Tuple[Parameter, NDArray[Any]]]:
        """(parameter, gradient) of the group's trainable parameters that have a gradient."""
        for p in group["params"]:
            if p.grad is not None and p.requires_grad:
                yield p, p.grad

    def step(self) -> None:
        raise NotImplementedError


def _sgd_update(p: NDArray[Any], g: NDArray[Any], lr: Any) -> None:
    """p -= lr * g in place, the product rounded to p's dtype first.  On the C backend, for a
    Python-number lr and C-contiguous float arrays of one dtype, the C kernel (one pass over
    both, split over the threads; the same values as NumPy's two passes)."""
    if (type(lr) in (float, int) and p.dtype == g.dtype and p.dtype.type in _FLOATS
            and p.shape == g.shape and p.flags.c_contiguous and p.flags.writeable
            and g.flags.c_contiguous and get_backend_name() == "c"
            and not np.may_share_memory(p, g)):
        _kernels.sgd_update_(p, g, float(lr))
    else:
        p -= (lr * g).astype(p.dtype, copy=False)


_FLOATS = (np.float32, np.float64)


def _check_lr(lr: Any) -> None:
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr < 0.0:
        raise ValueError("Invalid learning rate: {}".format(lr))


class SGD(Optimizer):
    """``torch.optim.SGD``::

        g = grad + weight_decay * p
        buf = g (first step) else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf          (when momentum != 0)
        p = p - lr * g
    """

    def __init__(self, params: _Params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _check(self, g: Dict[str, Any]) -> None:
        _check_lr(g["lr"])
        if g["momentum"] < 0.0:
            raise ValueError("Invalid momentum value: {}".format(g["momentum"]))
        if g["weight_decay"] < 0.0:
            raise ValueError("Invalid weight_decay value: {}".format(g["weight_decay"]))
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def step(self) -> None:
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p, g in self._active(group):
                if wd != 0:
                    g = g + wd * p.data
                if mom != 0:
                    st = self.state.setdefault(id(p), {})
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = st["momentum_buffer"] = np.array(g, dtype=p.data.dtype, copy=True)
                    else:
                        buf *= mom
                        buf += (1 - damp) * g
                    g = g + mom * buf if nesterov else buf
                _sgd_update(p.data, g, lr)


class Adam(Optimizer):
    """``torch.optim.Adam`` (L2 weight decay added to the gradient, as in PyTorch)::

        g = grad + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    def __init__(self, params: _Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _check(self, g: Dict[str, Any]) -> None:
        _check_lr(g["lr"])
        if not 0.0 <= g["eps"]:
            raise ValueError("Invalid epsilon value: {}".format(g["eps"]))
        b1, b2 = g["betas"]
        if not 0.0 <= b1 < 1.0:
            raise ValueError("Invalid beta parameter at index 0: {}".format(b1))
        if not 0.0 <= b2 < 1.0:
            raise ValueError("Invalid beta parameter at index 1: {}".format(b2))
        if g["weight_decay"] < 0.0:
            raise ValueError("Invalid weight_decay value: {}".format(g["weight_decay"]))

    def step(self) -> None:
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p, g in self._active(group):
                if wd != 0:
                    g = g + wd * p.data
                st = self.state.setdefault(id(p), {})
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = np.zeros_like(p.data)
                    st["exp_avg_sq"] = np.zeros_like(p.data)
                st["step"] += 1
                t = st["step"]
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * (g * g)
                bc1 = 1 - b1 ** t
                bc2 = 1 - b2 ** t
                step_size = lr / bc1
                denom = np.sqrt(v) / math.sqrt(bc2) + eps
                p.data -= (step_size * (m / denom)).astype(p.data.dtype, copy=False)
