"""Layers with PyTorch's constructor arguments, defaults and default initialisation.

Every layer calls the active backend (:func:`fastconv.backend.get_backend`), so
``fastconv.use_backend("numpy")`` runs the same model on the NumPy reference. Each forward keeps
what the matching backward needs; backward raises if forward has not run.
"""
from __future__ import annotations

import math
from typing import Any, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .._typing import FloatArray, IndexArray, Padding, Shape, Size2
from ..backend import get_backend
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Linear", "ReLU", "Flatten", "Dropout",
           "Identity", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Sigmoid", "Tanh", "LeakyReLU"]


def _pair(v: Any) -> Tuple[Any, ...]:
    if isinstance(v, (tuple, list)):
        return tuple(v)
    return (v, v)


def _no_forward(module: Module) -> RuntimeError:
    # why the last forward kept nothing: none yet, eval mode, no_grad(), or a pickled copy
    return module.backward_error()


def _positive_int(name: str, value: Any, cls: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError("%s: %s must be a positive integer, got %r" % (cls, name, value))
    return int(value)


class Conv2d(Module):
    """``torch.nn.Conv2d``: weight ``(out_channels, in_channels // groups, kh, kw)``, bias ``(out_channels,)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size2, stride: Size2 = 1,
                 padding: Padding = 0, dilation: Size2 = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels, "Conv2d")
        out_channels = _positive_int("out_channels", out_channels, "Conv2d")
        groups = _positive_int("groups", groups, "Conv2d")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise ValueError("padding_mode %r is not supported: only 'zeros'" % (padding_mode,))
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (_positive_int("kernel_size", kh, "Conv2d"), _positive_int("kernel_size", kw, "Conv2d"))
        self.stride = _pair(stride)
        self.padding: Union[str, Tuple[Any, ...]] = padding if isinstance(padding, str) else _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + self.kernel_size, dtype=dtype))
        self.bias: Optional[Parameter] = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()
        self._x: Optional[ArrayLike] = None

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: ArrayLike) -> FloatArray:
        F = get_backend()
        self.save_for_backward(_x=x)
        b = None if self.bias is None else self.bias.data
        return F.conv2d(x, self.weight.data, b, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, grad_output: ArrayLike) -> FloatArray:
        if self._x is None:
            raise _no_forward(self)
        F = get_backend()
        gx, gw, gb = F.conv2d_backward(grad_output, self._x, self.weight.data, self.stride, self.padding,
                                       self.dilation, self.groups)
        self.weight.accumulate(gw)
        if self.bias is not None:
            self.bias.accumulate(gb)
        return gx

    def extra_repr(self) -> str:
        s = "%d, %d, kernel_size=%s, stride=%s" % (self.in_channels, self.out_channels, self.kernel_size, self.stride)
        if self.padding != (0, 0):
            s += ", padding=%s" % (self.padding,)
        if self.dilation != (1, 1):
            s += ", dilation=%s" % (self.dilation,)
        if self.groups != 1:
            s += ", groups=%d" % self.groups
        if self.bias is None:
            s += ", bias=False"
        return s


class Linear(Module):
    """``torch.nn.Linear``: ``y = x @ weight.T + bias``; input ``(*, in_features)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        self.in_features = _positive_int("in_features", in_features, "Linear")
        self.out_features = _positive_int("out_features", out_features, "Linear")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        self.bias: Optional[Parameter] = Parameter(np.empty(self.out_features, dtype=dtype)) if bias else None
        self.reset_parameters()
        self._x: Optional[NDArray[Any]] = None
        self._lead: Tuple[int, ...] = ()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _rows(self, x: ArrayLike) -> Tuple[NDArray[Any], Tuple[int, ...]]:
        """x (*, in_features) as rows (N, in_features), and its leading shape."""
        xa = np.asarray(x)
        if xa.ndim == 0 or xa.shape[-1] != self.in_features:
            raise ValueError("mat1 and mat2 shapes cannot be multiplied (%s and %dx%d)" % (
                "x".join(str(s) for s in xa.shape), self.in_features, self.out_features))
        lead = xa.shape[:-1]
        return (xa if xa.ndim == 2 else xa.reshape(-1, self.in_features)), lead

    def forward(self, x: ArrayLike) -> FloatArray:
        F = get_backend()
        x2, lead = self._rows(x)
        self.save_for_backward(_x=x2, _lead=lead)
        b = None if self.bias is None else self.bias.data
        y = F.linear(x2, self.weight.data, b)
        return y if len(lead) == 1 else y.reshape(lead + (self.out_features,))

    @overload
    def backward(self, grad_output: ArrayLike, input_grad: Literal[True] = ...) -> FloatArray: ...
    @overload
    def backward(self, grad_output: ArrayLike, input_grad: bool) -> Optional[FloatArray]: ...

    def backward(self, grad_output: ArrayLike, input_grad: bool = True) -> Optional[FloatArray]:
        """Adds the weight and bias gradients into their ``.grad`` and returns the input
        gradient (None with ``input_grad=False``, which skips that GEMM: a first layer, or one
        whose input comes from layers with nothing to train, needs none)."""
        if self._x is None:
            raise _no_forward(self)
        F = get_backend()
        g = np.asarray(grad_output)
        g2 = g if g.ndim == 2 else g.reshape(-1, self.out_features)
        mask = (bool(input_grad), self.weight.requires_grad,
                self.bias is not None and self.bias.requires_grad)
        gx, gw, gb = F.linear_backward(g2, self._x, self.weight.data, mask)
        self.weight.accumulate(gw)
        if self.bias is not None:
            self.bias.accumulate(gb)
        if not input_grad:
            return None
        return gx if len(self._lead) == 1 else gx.reshape(self._lead + (self.in_features,))

    def extra_repr(self) -> str:
        return "in_features=%d, out_features=%d, bias=%s" % (self.in_features, self.out_features,
                                                            self.bias is not None)


class MaxPool2d(Module):
    """``torch.nn.MaxPool2d``; stride defaults to kernel_size. Keeps the argmax indices for backward."""

    def __init__(self, kernel_size: Size2, stride: Optional[Size2] = None, padding: Size2 = 0,
                 dilation: Size2 = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        self._idx: Optional[IndexArray] = None
        self._shape: Optional[Shape] = None

    def forward(self, x: ArrayLike) -> Union[FloatArray, Tuple[FloatArray, IndexArray]]:
        F = get_backend()
        y, idx = F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                              return_indices=True)
        self.save_for_backward(_idx=idx, _shape=np.shape(x))
        return (y, idx) if self.return_indices else y

    def backward(self, grad_output: ArrayLike) -> FloatArray:
        if self._idx is None:
            raise _no_forward(self)
        return get_backend().max_pool2d_backward(grad_output, self._idx, self._shape)

    def extra_repr(self) -> str:
        return "kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s" % (
            self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class AvgPool2d(Module):
    """``torch.nn.AvgPool2d``; stride defaults to kernel_size. ``divisor_override`` is not supported."""

    def __init__(self, kernel_size: Size2, stride: Optional[Size2] = None, padding: Size2 = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: Optional[int] = None) -> None:
        super().__init__()
        if divisor_override is not None:
            raise ValueError("AvgPool2d: divisor_override is not supported")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self._shape: Optional[Shape] = None

    def forward(self, x: ArrayLike) -> FloatArray:
        self.save_for_backward(_shape=np.shape(x))
        return get_backend().avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                        self.count_include_pad)

    def backward(self, grad_output: ArrayLike) -> FloatArray:
        if self._shape is None:
            raise _no_forward(self)
        return get_backend().avg_pool2d_backward(grad_output, self._shape, self.kernel_size, self.stride,
                                                 self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return "kernel_size=%s, stride=%s, padding=%s" % (self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """``torch.nn.AdaptiveAvgPool2d`` for output size 1 (global average pooling): ``(N, C, H, W)`` ->
    ``(N, C, 1, 1)``. Other output sizes are refused."""

    def __init__(self, output_size: Size2) -> None:
        super().__init__()
        size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
        if size not in ((1, 1),):
            raise ValueError("AdaptiveAvgPool2d supports only output_size=1 (global average pooling), got %r; "
                             "use AvgPool2d with an explicit kernel_size and stride for other sizes"
                             % (output_size,))
        self.output_size = output_size
        self._shape: Optional[Shape] = None

    def forward(self, x: ArrayLike) -> FloatArray:
        self.save_for_backward(_shape=np.shape(x))
        y = get_backend().global_avg_pool2d(x)
        return y.reshape(y.shape + (1, 1))

    def backward(self, grad_output: ArrayLike) -> FloatArray:
        if self._shape is None:
            raise _no_forward(self)
        g = np.asarray(grad_output)
        g = g.reshape(g.shape[:2])
        return get_backend().global_avg_pool2d_backward(g, self._shape)

    def extra_repr(self) -> str:
        return "output_size=%r" % (self.output_size,)


class ReLU(Module):
    """``torch.nn.ReLU``. The output is always a new array (``inplace`` is accepted for compatibility;
    inputs are never modified)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
        self._y: Optional[FloatArray] = None

    def forward(self, x: ArrayLike) -> FloatArray:
        y = get_backend().relu(x)
        self.save_for_backward(_y=y)
        return y

    def backward(self, grad_output: ArrayLike) -> FloatArray:
        if self._y is None:
            raise _no_forward(self)
        return get_backend().relu_backward(grad_output, self._y)


class Flatten(Module):
    """``torch.nn.Flatten(start_dim=1, end_dim=-1)``."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim
        self._shape: Optional[Tuple[int, ...]] = None

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        xa = np.asarray(x)
        shape = xa.shape
        nd = len(shape)
        s = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        e = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if nd == 0:
            s = e = 0
            shape = (1,)
        elif not (0 <= s < nd and 0 <= e < nd) or s > e:
            raise ValueError("Flatten: start_dim=%d, end_dim=%d out of range for input of shape %s"
                             % (self.start_dim, self.end_dim, tuple(shape)))
        self.save_for_backward(_shape=xa.shape)
        new = shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:]
        return xa.reshape(new)

    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        if self._shape is None:
            raise _no_forward(self)
        return np.asarray(grad_output).reshape(self._shape)


class Dropout(Module):
    """``torch.nn.Dropout(p=0.5)``: in training zeroes each element with probability p and scales the
    rest by 1/(1-p); in eval mode it is the identity. The mask comes from ``fastconv.functional.dropout``
    with ``fastconv.nn.init.get_generator()`` (seed it with ``fastconv.manual_seed``)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0 or p > 1:
            raise ValueError("dropout probability has to be between 0 and 1, but got {}".format(p))
        self.p = float(p)
        self.inplace = inplace
        self._mask: Optional[NDArray[Any]] = None
        self._identity: Optional[bool] = None

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        xa = np.asarray(x)
        if not self.training or self.p == 0.0:
            self.save_for_backward(_identity=True, _mask=None)
            return xa.copy()
        y, mask = get_backend().dropout(x, self.p, True, init.get_generator(), return_mask=True)
        self.save_for_backward(_identity=False, _mask=mask)
        return y

    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        if self._identity is None:
            raise _no_forward(self)
        g = np.asarray(grad_output)
        if self._identity:
            return g.copy()
        return get_backend().dropout_backward(g, self._mask, 1.0 / (1.0 - self.p) if self.p < 1 else 0.0)

    def extra_repr(self) -> str:
        return "p=%s" % self.p


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: torch's parameters (weight, bias), buffers (running_mean,
    running_var, num_batches_tracked) and state_dict keys, momentum=None for a cumulative average."""

    _ndims: Tuple[int, ...] = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        cls = type(self).__name__
        self.num_features = _positive_int("num_features", num_features, cls)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self._cache = None

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, x):
        if x.ndim not in self._ndims:
            raise ValueError("expected %s input (got %dD input)"
                             % (" or ".join("%dD" % d for d in self._ndims), x.ndim))

    def forward(self, x):
        x = np.asarray(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            np.add(self.num_batches_tracked, 1, out=self.num_batches_tracked)   # in place: a buffer
            if self.momentum is None:   # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or not self.track_running_stats
        rm, rv = (self.running_mean, self.running_var) if (self.training or not use_batch) else (None, None)
        w = None if self.weight is None else self.weight.data
        b = None if self.bias is None else self.bias.data
        y, mean, invstd = get_backend().batch_norm(x, rm, rv, w, b, use_batch, factor, self.eps, return_stats=True)
        self.save_for_backward(_cache=(x, mean, invstd, use_batch))
        return y

    def backward(self, grad_output):
        if self._cache is None:
            raise _no_forward(self)
        x, mean, invstd, use_batch = self._cache
        w = None if self.weight is None else self.weight.data
        gx, gw, gb = get_backend().batch_norm_backward(
            grad_output, x, w, self.running_mean, self.running_var, mean, invstd, use_batch, self.eps,
            (True, self.affine, self.affine))
        if self.affine:
            self.weight.accumulate(gw)
            self.bias.accumulate(gb)
        return gx

    def extra_repr(self):
        return "%d, eps=%s, momentum=%s, affine=%s, track_running_stats=%s" % (
            self.num_features, self.eps, self.momentum, self.affine, self.track_running_stats)


class BatchNorm1d(_BatchNorm):
    """``torch.nn.BatchNorm1d``: input (N, C) or (N, C, L), statistics per channel."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """``torch.nn.BatchNorm2d``: input (N, C, H, W), statistics per channel over N, H and W."""

    _ndims = (4,)


class _AffineNorm(Module):
    """LayerNorm and GroupNorm: optional weight and bias, the statistics kept for backward."""

    def forward(self, x):
        w = None if self.weight is None else self.weight.data
        b = None if self.bias is None else self.bias.data
        y, mean, rstd = getattr(get_backend(), self._op)(x, self._arg(), w, b, self.eps, return_stats=True)
        self.save_for_backward(_cache=(x, mean, rstd))
        return y

    def backward(self, grad_output):
        if self._cache is None:
            raise _no_forward(self)
        x, mean, rstd = self._cache
        w = None if self.weight is None else self.weight.data
        gx, gw, gb = getattr(get_backend(), self._op + "_backward")(
            grad_output, x, self._arg(), mean, rstd, w, (True, self.weight is not None, self.bias is not None))
        if self.weight is not None:
            self.weight.accumulate(gw)
        if self.bias is not None:
            self.bias.accumulate(gb)
        return gx


class LayerNorm(_AffineNorm):
    """``torch.nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)``."""

    _op = "layer_norm"

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype)) if elementwise_affine and bias else None
        self._cache = None

    def _arg(self):
        return self.normalized_shape

    def extra_repr(self) -> str:
        return "%s, eps=%s, elementwise_affine=%s" % (self.normalized_shape, self.eps, self.elementwise_affine)


class GroupNorm(_AffineNorm):
    """``torch.nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)``: input (N, C, *)."""

    _op = "group_norm"

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        self.num_groups = _positive_int("num_groups", num_groups, "GroupNorm")
        self.num_channels = _positive_int("num_channels", num_channels, "GroupNorm")
        if self.num_channels % self.num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        self.eps = float(eps)
        self.affine = bool(affine)
        self.weight = Parameter(np.ones(self.num_channels, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(self.num_channels, dtype=dtype)) if affine else None
        self._cache = None

    def _arg(self):
        return self.num_groups

    def extra_repr(self) -> str:
        return "%d, %d, eps=%s, affine=%s" % (self.num_groups, self.num_channels, self.eps, self.affine)


class _FromOutput(Module):
    """An elementwise activation whose backward needs only its output (kept from forward)."""

    _op: str = ""  #: the functional op (and op + "_backward") a subclass runs

    def __init__(self) -> None:
        super().__init__()
        self._y = None

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        y = getattr(get_backend(), self._op)(x)
        self.save_for_backward(_y=y)
        return y

    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        if self._y is None:
            raise _no_forward(self)
        return getattr(get_backend(), self._op + "_backward")(grad_output, self._y)


class Sigmoid(_FromOutput):
    """``torch.nn.Sigmoid``; keeps its output for backward."""

    _op = "sigmoid"


class Tanh(_FromOutput):
    """``torch.nn.Tanh``; keeps its output for backward."""

    _op = "tanh"


class LeakyReLU(Module):
    """``torch.nn.LeakyReLU(negative_slope=0.01)``; keeps its input for backward (``inplace`` is accepted
    for compatibility; inputs are never modified)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = inplace
        self._x = None

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        self.save_for_backward(_x=x)
        return get_backend().leaky_relu(x, self.negative_slope)

    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        if self._x is None:
            raise _no_forward(self)
        return get_backend().leaky_relu_backward(grad_output, self._x, self.negative_slope)

    def extra_repr(self) -> str:
        return "negative_slope=%s" % self.negative_slope


class Identity(Module):
    """Pass-through layer."""

    def forward(self, x: Any) -> Any:
        return x

    def backward(self, grad_output: Any) -> Any:
        return grad_output
