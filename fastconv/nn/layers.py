"""Layers with PyTorch's constructor arguments, defaults and default initialisation.

Every layer calls the active backend (:func:`fastconv.backend.get_backend`), so
``fastconv.use_backend("numpy")`` runs the same model on the NumPy reference. Each forward keeps
what the matching backward needs (:meth:`Module.save_for_backward`) when it may be differentiated:
in training mode, outside ``no_grad()``. Backward raises if no such forward has run.
"""
import math

import numpy as np

from ..backend import get_backend
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Linear", "ReLU", "Flatten", "Dropout",
           "Identity"]


def _pair(v):
    if isinstance(v, (tuple, list)):
        return tuple(v)
    return (v, v)


def _positive_int(name, value, cls):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError("%s: %s must be a positive integer, got %r" % (cls, name, value))
    return int(value)


class Conv2d(Module):
    """``torch.nn.Conv2d``: weight ``(out_channels, in_channels // groups, kh, kw)``, bias ``(out_channels,)``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32):
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
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + self.kernel_size, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        F = get_backend()
        self.save_for_backward(x=x)
        b = None if self.bias is None else self.bias.data
        return F.conv2d(x, self.weight.data, b, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, grad_output):
        x = self.saved_for_backward()["x"]
        F = get_backend()
        gx, gw, gb = F.conv2d_backward(grad_output, x, self.weight.data, self.stride, self.padding,
                                       self.dilation, self.groups)
        self.weight.accumulate(gw)
        if self.bias is not None:
            self.bias.accumulate(gb)
        return gx

    def extra_repr(self):
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

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        self.in_features = _positive_int("in_features", in_features, "Linear")
        self.out_features = _positive_int("out_features", out_features, "Linear")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        F = get_backend()
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError("mat1 and mat2 shapes cannot be multiplied (%s and %dx%d)" % (
                "x".join(str(s) for s in x.shape), self.in_features, self.out_features))
        lead = x.shape[:-1]
        x2 = x if x.ndim == 2 else x.reshape(-1, self.in_features)
        self.save_for_backward(x=x2, lead=lead)
        b = None if self.bias is None else self.bias.data
        y = F.linear(x2, self.weight.data, b)
        return y if x.ndim == 2 else y.reshape(lead + (self.out_features,))

    def backward(self, grad_output):
        saved = self.saved_for_backward()
        lead = saved["lead"]
        F = get_backend()
        g = np.asarray(grad_output)
        g2 = g if g.ndim == 2 else g.reshape(-1, self.out_features)
        gx, gw, gb = F.linear_backward(g2, saved["x"], self.weight.data)
        self.weight.accumulate(gw)
        if self.bias is not None:
            self.bias.accumulate(gb)
        return gx if len(lead) == 1 else gx.reshape(lead + (self.in_features,))

    def extra_repr(self):
        return "in_features=%d, out_features=%d, bias=%s" % (self.in_features, self.out_features,
                                                            self.bias is not None)


class MaxPool2d(Module):
    """``torch.nn.MaxPool2d``; stride defaults to kernel_size. Keeps the argmax indices for backward."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, x):
        F = get_backend()
        y, idx = F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                              return_indices=True)
        self.save_for_backward(idx=idx, shape=np.shape(x))
        return (y, idx) if self.return_indices else y

    def backward(self, grad_output):
        saved = self.saved_for_backward()
        return get_backend().max_pool2d_backward(grad_output, saved["idx"], saved["shape"])

    def extra_repr(self):
        return "kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s" % (
            self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class AvgPool2d(Module):
    """``torch.nn.AvgPool2d``; stride defaults to kernel_size. ``divisor_override`` is not supported."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        if divisor_override is not None:
            raise ValueError("AvgPool2d: divisor_override is not supported")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x):
        self.save_for_backward(shape=np.shape(x))
        return get_backend().avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                        self.count_include_pad)

    def backward(self, grad_output):
        shape = self.saved_for_backward()["shape"]
        return get_backend().avg_pool2d_backward(grad_output, shape, self.kernel_size, self.stride,
                                                 self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return "kernel_size=%s, stride=%s, padding=%s" % (self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """``torch.nn.AdaptiveAvgPool2d`` for output size 1 (global average pooling): ``(N, C, H, W)`` ->
    ``(N, C, 1, 1)``. Other output sizes are refused."""

    def __init__(self, output_size):
        super().__init__()
        size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
        if size not in ((1, 1),):
            raise ValueError("AdaptiveAvgPool2d supports only output_size=1 (global average pooling), got %r; "
                             "use AvgPool2d with an explicit kernel_size and stride for other sizes"
                             % (output_size,))
        self.output_size = output_size

    def forward(self, x):
        self.save_for_backward(shape=np.shape(x))
        y = get_backend().global_avg_pool2d(x)
        return y.reshape(y.shape + (1, 1))

    def backward(self, grad_output):
        shape = self.saved_for_backward()["shape"]
        g = np.asarray(grad_output)
        g = g.reshape(g.shape[:2])
        return get_backend().global_avg_pool2d_backward(g, shape)

    def extra_repr(self):
        return "output_size=%r" % (self.output_size,)


class ReLU(Module):
    """``torch.nn.ReLU``. The output is always a new array (``inplace`` is accepted for compatibility;
    inputs are never modified)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        y = get_backend().relu(x)
        self.save_for_backward(y=y)
        return y

    def backward(self, grad_output):
        return get_backend().relu_backward(grad_output, self.saved_for_backward()["y"])


class Flatten(Module):
    """``torch.nn.Flatten(start_dim=1, end_dim=-1)``."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        x = np.asarray(x)
        shape = x.shape
        nd = len(shape)
        s = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        e = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if nd == 0:
            s = e = 0
            shape = (1,)
        elif not (0 <= s < nd and 0 <= e < nd) or s > e:
            raise ValueError("Flatten: start_dim=%d, end_dim=%d out of range for input of shape %s"
                             % (self.start_dim, self.end_dim, tuple(shape)))
        self.save_for_backward(shape=x.shape)
        new = shape[:s] + (int(np.prod(shape[s:e + 1], dtype=np.int64)),) + shape[e + 1:]
        return x.reshape(new)

    def backward(self, grad_output):
        return np.asarray(grad_output).reshape(self.saved_for_backward()["shape"])


class Dropout(Module):
    """``torch.nn.Dropout(p=0.5)``: in training zeroes each element with probability p and scales the
    rest by 1/(1-p); in eval mode it is the identity. Random numbers come from
    ``fastconv.nn.init.get_generator()`` (seed it with ``fastconv.manual_seed``)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0 or p > 1:
            raise ValueError("dropout probability has to be between 0 and 1, but got {}".format(p))
        self.p = float(p)
        self.inplace = inplace

    def forward(self, x):
        x = np.asarray(x)
        if not self.training or self.p == 0.0:
            self.save_for_backward(mask=None)
            return x.copy()
        if self.p == 1.0:
            mask = np.zeros(x.shape, dtype=x.dtype)
        else:
            keep = init.get_generator().random(x.shape) >= self.p
            mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        self.save_for_backward(mask=mask)
        return x * mask

    def backward(self, grad_output):
        mask = self.saved_for_backward()["mask"]
        g = np.asarray(grad_output)
        return g.copy() if mask is None else g * mask

    def extra_repr(self):
        return "p=%s" % self.p


class Identity(Module):
    """Pass-through layer."""

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output
