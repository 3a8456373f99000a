"""Flat views of a model's parameters, with PyTorch's names (``torch.nn.utils``)."""
from typing import Iterable

import numpy as np

from .module import Parameter

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _parameter_list(parameters: Iterable[Parameter], fn: str) -> "list[Parameter]":
    if isinstance(parameters, Parameter):
        return [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError("%s: parameters must be an iterable of fastconv.nn.Parameter, got %s"
                        % (fn, type(parameters).__name__)) from None
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError("%s: parameters must be fastconv.nn.Parameter objects, but item %d is %s"
                            % (fn, i, type(p).__name__))
    return params


def parameters_to_vector(parameters: Iterable[Parameter]) -> np.ndarray:
    """Concatenate the parameters' values, each flattened in C order, into one new 1-D array.

    ``parameters`` is an iterable of :class:`~fastconv.nn.Parameter` (for example
    ``model.parameters()``). They must share one dtype, which the vector has.
    """
    params = _parameter_list(parameters, "parameters_to_vector")
    dtypes = sorted({p.data.dtype.name for p in params})
    if len(dtypes) > 1:
        raise TypeError("parameters_to_vector: the parameters have different dtypes (%s); convert the model "
                        "to one dtype first (model.float() or model.double())" % ", ".join(dtypes))
    if not params:
        return np.empty(0, np.float32)
    return np.concatenate([p.data.reshape(-1) for p in params])


def vector_to_parameters(vec: np.ndarray, parameters: Iterable[Parameter]) -> None:
    """Copy consecutive slices of the 1-D array ``vec`` into the parameters, in order, in place.

    The inverse of :func:`parameters_to_vector`: ``vec`` must hold exactly as many values as the
    parameters together. Each parameter keeps its shape and dtype (values are cast to it, as
    ``load_state_dict`` does).
    """
    if not isinstance(vec, np.ndarray):
        raise TypeError("vector_to_parameters: expected vec to be a NumPy array, but got: %s" % type(vec).__name__)
    if vec.ndim != 1 or vec.dtype.kind != "f":
        raise ValueError("vector_to_parameters: vec must be a 1-D floating-point array, got shape %s and dtype %s"
                         % (tuple(vec.shape), vec.dtype))
    params = _parameter_list(parameters, "vector_to_parameters")
    total = sum(p.data.size for p in params)
    if vec.shape[0] != total:
        raise ValueError("vector_to_parameters: vec has %d elements, but the parameters have %d in total"
                         % (vec.shape[0], total))
    offset = 0
    for p in params:
        n = p.data.size
        p.data[...] = vec[offset:offset + n].reshape(p.data.shape)
        offset += n
