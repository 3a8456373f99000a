"""Keras-style model summary: layers, output shapes, parameter counts and activation memory."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

import numpy as np
from numpy.typing import DTypeLike

from . import module as _module

__all__ = ["summary", "SummaryRows"]


class SummaryRows(List[Dict[str, Any]]):
    """The rows of a summary (one dict per leaf layer call, in call order) plus the totals.

    Each row has ``name`` (dotted path, as in ``state_dict``), ``type`` (class name), ``output_shape``
    (tuple, batch dimension ``None``), ``params`` (parameter count of that layer), ``trainable``
    (trainable part of ``params``) and ``activation_bytes`` (its output for the whole batch).
    """

    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    batch_size: int = 1
    dtype: np.dtype[Any] = np.dtype(np.float32)
    input_shape: Tuple[int, ...] = ()
    input_bytes: int = 0
    activation_bytes: int = 0
    param_bytes: int = 0
    text: str = ""

    def __str__(self) -> str:
        return self.text


def _fmt_shape(shape: Sequence[Optional[int]]) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"


def _mb(nbytes: float) -> str:
    return "%.2f MB" % (nbytes / 2 ** 20)


def summary(model: _module.Module, input_shape: Sequence[int], batch_size: int = 64,
            dtype: DTypeLike = np.float32, file: Optional[TextIO] = None,
            print_summary: bool = True) -> SummaryRows:
    """Print a Keras-style table of ``model`` for inputs of shape ``input_shape`` (without the batch
    dimension, e.g. ``(1, 28, 28)``) and return the rows as a :class:`SummaryRows` list.

    The output shapes come from one forward pass on a zero batch of one sample in eval mode (the
    training mode is restored afterwards). ``batch_size`` only scales the memory figures: input
    size, activation memory (every layer's output for the batch, which is also what the layers keep
    for backward) and parameter size, in ``dtype``. Fixed parameters (``requires_grad=False``) count
    as non-trainable. Pass ``print_summary=False`` to only get the data.
    """
    dtype = np.dtype(dtype)
    input_shape = tuple(int(s) for s in input_shape)
    names = {id(m): name for name, m in model.named_modules()}
    rows = SummaryRows()
    calls = []

    def hook(m, out):
        if m is model or next(iter(m._modules.values()), None) is not None:
            return  # only leaf layers get a row
        calls.append((m, out))

    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    _module._forward_hooks.append(hook)
    try:
        model(np.zeros((1,) + input_shape, dtype=dtype))
    finally:
        _module._forward_hooks.remove(hook)
        for m, t in was_training:
            object.__setattr__(m, "training", t)

    seen = set()
    for m, out in calls:
        out0 = out[0] if isinstance(out, tuple) else out
        shape = (None,) + tuple(np.shape(out0))[1:]
        params = trainable = 0
        if id(m) not in seen:  # a layer called twice owns its parameters once
            seen.add(id(m))
            for p in m.parameters():
                params += p.size
                trainable += p.size if p.requires_grad else 0
        numel = int(np.prod(shape[1:], dtype=np.int64))
        rows.append({
            "name": names.get(id(m), type(m).__name__),
            "type": type(m).__name__,
            "output_shape": shape,
            "params": int(params),
            "trainable": int(trainable),
            "activation_bytes": numel * batch_size * dtype.itemsize,
        })

    all_params = list(model.parameters())
    rows.total_params = int(sum(p.size for p in all_params))
    rows.trainable_params = int(sum(p.size for p in all_params if p.requires_grad))
    rows.non_trainable_params = rows.total_params - rows.trainable_params
    rows.batch_size = int(batch_size)
    rows.dtype = dtype
    rows.input_shape = input_shape
    rows.input_bytes = int(np.prod(input_shape, dtype=np.int64)) * batch_size * dtype.itemsize
    rows.activation_bytes = int(sum(r["activation_bytes"] for r in rows))
    rows.param_bytes = rows.total_params * dtype.itemsize

    col_layer = [("%s (%s)" % (r["name"], r["type"])) for r in rows]
    col_shape = [_fmt_shape(r["output_shape"]) for r in rows]
    col_params = ["{:,}".format(r["params"]) for r in rows]
    w1 = max([len("Layer (type)")] + [len(s) for s in col_layer]) + 2
    w2 = max([len("Output Shape")] + [len(s) for s in col_shape]) + 2
    w3 = max([len("Param #")] + [len(s) for s in col_params])
    width = w1 + w2 + w3
    lines = ['Model: "%s"' % type(model).__name__, "_" * width,
             "Layer (type)".ljust(w1) + "Output Shape".ljust(w2) + "Param #".rjust(w3), "=" * width]
    for i, (a, b, c) in enumerate(zip(col_layer, col_shape, col_params)):
        lines.append(a.ljust(w1) + b.ljust(w2) + c.rjust(w3))
        lines.append("_" * width if i + 1 < len(rows) else "=" * width)
    if not rows:
        lines.append("=" * width)
    lines += [
        "Total params: {:,}".format(rows.total_params),
        "Trainable params: {:,}".format(rows.trainable_params),
        "Non-trainable params: {:,}".format(rows.non_trainable_params),
        "_" * width,
        "Input size (batch %d, %s): %s" % (batch_size, dtype.name, _mb(rows.input_bytes)),
        "Activation memory (batch %d, %s): %s" % (batch_size, dtype.name, _mb(rows.activation_bytes)),
        "Params size (%s): %s" % (dtype.name, _mb(rows.param_bytes)),
        "_" * width,
    ]
    rows.text = "\n".join(lines)
    if print_summary:
        print(rows.text, file=file)
    return rows
