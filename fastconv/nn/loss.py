"""Softmax cross-entropy loss with PyTorch's arguments."""
from __future__ import annotations

from typing import Optional

from numpy.typing import ArrayLike

from .._typing import FloatArray
from ..backend import get_backend
from .module import Module

__all__ = ["CrossEntropyLoss"]

_REDUCTIONS = ("mean", "sum", "none")


class CrossEntropyLoss(Module):
    """``torch.nn.CrossEntropyLoss(reduction='mean', label_smoothing=0.0)`` for class-index targets.

    ``forward(logits, target)`` takes logits ``(N, C)`` and int class indices ``(N,)`` and returns the
    loss (a 0-d array, or ``(N,)`` for ``reduction='none'``). ``backward(grad_loss=1.0)`` returns
    ``grad_logits`` for the last forward; for ``reduction='none'`` ``grad_loss`` may be an ``(N,)`` array.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError("{} is not a valid value for reduction".format(reduction))
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError("label_smoothing must be between 0.0 and 1.0. Got: {}".format(label_smoothing))
        self.reduction = reduction
        self.label_smoothing = float(label_smoothing)
        self._logits: Optional[ArrayLike] = None
        self._target: Optional[ArrayLike] = None

    def forward(self, logits: ArrayLike, target: ArrayLike) -> FloatArray:
        loss = get_backend().cross_entropy(logits, target, reduction=self.reduction,
                                           label_smoothing=self.label_smoothing)
        self._logits, self._target = logits, target
        return loss

    def backward(self, grad_loss: ArrayLike = 1.0) -> FloatArray:
        if self._logits is None:
            raise RuntimeError("CrossEntropyLoss.backward called before forward")
        return get_backend().cross_entropy_backward(self._logits, self._target, grad_loss,
                                                    reduction=self.reduction,
                                                    label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        s = "reduction=%r" % self.reduction
        if self.label_smoothing:
            s += ", label_smoothing=%s" % self.label_smoothing
        return s
