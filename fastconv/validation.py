"""Argument validation and output-shape arithmetic shared by every fastconv backend.

Both backends (``fastconv.functional`` and ``fastconv.reference``) call the checks in this
module and nothing else, so they accept the same arguments and raise the same errors.  Messages
follow PyTorch's wording where PyTorch has one.

Public:
    conv2d_output_shape(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1)
    pool2d_output_shape(input_shape, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False)

Everything else is internal: ``check_*`` helpers return normalised arguments (tuples of Python
ints, float arrays of one dtype) and raise ``TypeError`` for wrong types/dtypes and
``ValueError`` for wrong shapes or values.
"""
from __future__ import annotations

import operator
from typing import Optional, Tuple

import numpy as np

from ._typing import Padding, Shape, Size2

__all__ = ["conv2d_output_shape", "pool2d_output_shape"]

INT64_MAX = (1 << 63) - 1
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


# ----------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------

def _fmt_shape(shape):
    return str(tuple(int(s) for s in shape))


def _as_int(value, name):
    """A Python int from an int-like value; bool, float and others raise TypeError."""
    if type(value) is int:
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got a bool ({value!r})")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})") from None


def _pair(value, name):
    """(h, w) ints from an int or a pair of ints."""
    if type(value) is int:
        return value, value
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return _as_int(value[0], name), _as_int(value[1], name)
    if isinstance(value, np.ndarray) and value.shape == (2,):
        return _as_int(value[0], name), _as_int(value[1], name)
    return (_as_int(value, name),) * 2


def _check_fits_int64(name, *values):
    if max(values, default=0) > INT64_MAX:
        v = max(values)
        raise ValueError(f"{name}: size arithmetic overflows int64 (value {v})")


def _check_numel(op, shape):
    a, b, c, d = shape
    if a * b * c * d > INT64_MAX // 8:
        raise ValueError(f"{op}: output of shape {_fmt_shape(shape)} has too many elements "
                         "(its size overflows int64)")


def _shape_tuple(shape, name, ndim=None):
    """Normalise a user-given shape to a tuple of non-negative Python ints."""
    if isinstance(shape, np.ndarray):
        shape = shape.tolist()
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}") from None
    shape = tuple(_as_int(s, name) for s in shape)
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} entries, got {_fmt_shape(shape)}")
    for s in shape:
        if s < 0:
            raise ValueError(f"{name} must not have negative entries, got {_fmt_shape(shape)}")
    _check_fits_int64(name, *shape)
    if ndim == 4:
        _check_numel(name, shape)
    return shape


# ----------------------------------------------------------------------------------------
# Arrays and dtypes
# ----------------------------------------------------------------------------------------

def as_float_array(x, name):
    """x as an ndarray of float32 or float64; anything else raises TypeError."""
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    if x.dtype not in _FLOAT_DTYPES:
        if x.dtype.kind == "f" and x.dtype.newbyteorder("=") in _FLOAT_DTYPES:
            return x.astype(x.dtype.newbyteorder("="))   # non-native byte order
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {x.dtype}")
    return x


def check_same_dtype(op, named):
    """All arrays in `named` ((name, array) pairs) share one float dtype; returns it."""
    dt = named[0][1].dtype
    for nm, a in named[1:]:
        if a.dtype != dt:
            raise TypeError(f"{op}: {named[0][0]} dtype ({dt}) and {nm} dtype ({a.dtype}) "
                            "should be the same (both float32 or both float64)")
    return dt


def float_arrays(op, *pairs):
    """Convert (name, value) pairs to float arrays of one dtype (None stays None)."""
    # fast path: ndarrays (or None) that already share one float dtype
    dt = None
    for _, v in pairs:
        if v is None:
            continue
        if type(v) is not np.ndarray or (dt is not None and v.dtype != dt):
            break
        dt = v.dtype
    else:
        if dt is None or dt in _FLOAT_DTYPES:
            return [v for _, v in pairs]
    out = []
    named = []
    for nm, v in pairs:
        if v is None:
            out.append(None)
            continue
        a = as_float_array(v, nm)
        out.append(a)
        named.append((nm, a))
    if len(named) > 1:
        check_same_dtype(op, named)
    return out


def _check_ndim(op, x, ndim, name="input"):
    if x.ndim != ndim:
        raise ValueError(f"Expected {ndim}D (batched) {name} to {op}, but got {name} of size: "
                         f"{_fmt_shape(x.shape)}")


# ----------------------------------------------------------------------------------------
# conv2d
# ----------------------------------------------------------------------------------------

def _conv2d_params(input_shape, weight_shape, stride, padding, dilation, groups):
    """Validate conv2d hyperparameters against shapes.

    Returns (stride, pad, extra, dilation, groups, out_shape) where pad = (ph, pw) is the
    symmetric padding passed to the kernel and extra = (eh, ew) the additional zero rows/
    columns PyTorch adds at the bottom/right for padding='same' with an odd total padding.
    """
    if len(input_shape) != 4:
        raise ValueError("Expected 4D (batched) input to conv2d, but got input of size: "
                         f"{_fmt_shape(input_shape)}")
    if len(weight_shape) != 4:
        raise ValueError("Expected 4D weight (out_channels, in_channels/groups, kH, kW) for "
                         f"conv2d, but got weight of size: {_fmt_shape(weight_shape)}")
    n, c, h, w = input_shape
    c_out, c_in_g, kh, kw = weight_shape
    groups = _as_int(groups, "groups")
    if groups <= 0:
        raise ValueError("non-positive groups is not supported")
    sh, sw = _pair(stride, "stride")
    if sh <= 0 or sw <= 0:
        raise ValueError("non-positive stride is not supported")
    dh, dw = _pair(dilation, "dilation")
    if dh <= 0 or dw <= 0:
        raise ValueError(f"dilation should be greater than zero, but got [{dh}, {dw}]")
    if kh <= 0 or kw <= 0:
        raise ValueError("non-positive kernel size is not supported, but got weight of size "
                         f"{_fmt_shape(weight_shape)}")
    if c_out % groups != 0:
        raise ValueError(f"Given groups={groups}, expected weight to be divisible by {groups} at "
                         f"dimension 0, but got weight of size {_fmt_shape(weight_shape)} instead")
    if c != c_in_g * groups:
        raise ValueError(f"Given groups={groups}, weight of size {_fmt_shape(weight_shape)}, "
                         f"expected input {_fmt_shape(input_shape)} to have {c_in_g * groups} "
                         f"channels, but got {c} channels instead")
    if dh * (kh - 1) >= INT64_MAX or dw * (kw - 1) >= INT64_MAX:
        _check_fits_int64("conv2d", dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    eh = ew = 0
    if isinstance(padding, str):
        if padding == "valid":
            ph = pw = 0
        elif padding == "same":
            if sh != 1 or sw != 1:
                raise ValueError("padding='same' is not supported for strided convolutions")
            th, tw = dh * (kh - 1), dw * (kw - 1)
            ph, pw = th // 2, tw // 2
            eh, ew = th - 2 * ph, tw - 2 * pw
        else:
            raise ValueError(f"Invalid padding string: {padding!r}")
    else:
        ph, pw = _pair(padding, "padding")
        if ph < 0 or pw < 0:
            raise ValueError("negative padding is not supported")
    hp, wp = h + 2 * ph + eh, w + 2 * pw + ew
    if hp > INT64_MAX or wp > INT64_MAX:
        _check_fits_int64("conv2d", hp, wp)
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if hp < ekh or wp < ekw:
        raise ValueError(f"Calculated padded input size per channel: ({hp} x {wp}). Kernel size: "
                         f"({ekh} x {ekw}). Kernel size can't be greater than actual input size")
    oh = (hp - ekh) // sh + 1
    ow = (wp - ekw) // sw + 1
    # A stride is unused on an axis with one output, a dilation when the kernel is 1 wide:
    # cap them so that no backend computes with huge unused values (2**62 * itemsize).
    sh, sw = (min(sh, hp) if oh == 1 else sh), (min(sw, wp) if ow == 1 else sw)
    dh, dw = (1 if kh == 1 else dh), (1 if kw == 1 else dw)
    out = (n, c_out, oh, ow)
    _check_numel("conv2d", out)
    return (sh, sw), (ph, pw), (eh, ew), (dh, dw), groups, out


def conv2d_output_shape(input_shape: Shape, weight_shape: Shape, stride: Size2 = 1,
                        padding: Padding = 0, dilation: Size2 = 1,
                        groups: int = 1) -> Tuple[int, int, int, int]:
    """Output shape of ``conv2d`` with PyTorch's arithmetic, validating every argument.

    input_shape (N, C, H, W), weight_shape (C_out, C/groups, kH, kW); stride, padding and
    dilation are ints or (h, w) pairs, padding may also be 'valid' or 'same' (stride 1).
    Returns (N, C_out, H_out, W_out) with H_out = (H + 2*pad - dil*(kH-1) - 1) // stride + 1.
    """
    ishape = _shape_tuple(input_shape, "input_shape")
    wshape = _shape_tuple(weight_shape, "weight_shape")
    return _conv2d_params(ishape, wshape, stride, padding, dilation, groups)[-1]


def check_conv2d(op, x, weight, bias, stride, padding, dilation, groups):
    """Validated conv2d call: returns (x, weight, bias, params) with float arrays of one dtype."""
    x, weight, bias = float_arrays(op, ("input", x), ("weight", weight), ("bias", bias))
    if x.ndim != 4:
        raise ValueError("Expected 4D (batched) input to conv2d, but got input of size: "
                         f"{_fmt_shape(x.shape)}")
    params = _conv2d_params(x.shape, weight.shape, stride, padding, dilation, groups)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"Given weight of size {_fmt_shape(weight.shape)}, expected bias to be "
                         f"1-dimensional with {weight.shape[0]} elements, but got bias of size "
                         f"{_fmt_shape(bias.shape)} instead")
    return x, weight, bias, params


# ----------------------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------------------

def _pool_out_size(size, k, s, p, d, ceil_mode):
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1  # floor division rounds towards -inf, like PyTorch's div_rtn
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_has_empty_window(size, k, s, p, d, out):
    """True if some max-pool window holds only padding (possible only when dilation > size).

    Windows that start inside the input hold their first element; the ceil_mode rule keeps
    every start below `size`.  A window starting at -p < start < 0 holds the element at
    start mod d, which must lie inside the input.
    """
    if p == 0 or size >= d:
        return False
    n = min(out, -(-p // s))
    if n > 1_000_000:
        return True
    return any(start % d >= size for start in range(-p, -p + n * s, s))


def _pool2d_params(op, input_shape, kernel_size, stride, padding, dilation, ceil_mode,
                   is_max=True):
    if len(input_shape) != 4:
        raise ValueError(f"Expected 4D (batched) input to {op}, but got input of size: "
                         f"{_fmt_shape(input_shape)}")
    n, c, h, w = input_shape
    kh, kw = _pair(kernel_size, "kernel_size")
    if kh <= 0 or kw <= 0:
        raise ValueError(f"kernel size should be greater than zero, but got kH: {kh} kW: {kw}")
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        sh, sw = kh, kw
    else:
        sh, sw = _pair(stride, "stride")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"stride should be greater than zero, but got dH: {sh} dW: {sw}")
    dh, dw = _pair(dilation, "dilation")
    if dh <= 0 or dw <= 0:
        raise ValueError(f"dilation should be greater than zero, but got dilationH: {dh} "
                         f"dilationW: {dw}")
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"pad must be non-negative, but got pad: {min(ph, pw)}")
    if dh * (kh - 1) >= INT64_MAX or dw * (kw - 1) >= INT64_MAX:
        _check_fits_int64(op, dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    # PyTorch checks both: first against the effective (dilated) kernel, then against
    # the kernel itself, which is the binding rule when dilation > 1.
    if is_max:
        for p, k, d in ((ph, kh, dh), (pw, kw, dw)):
            if p > ((k - 1) * d + 1) // 2:
                raise ValueError("pad should be at most half of effective kernel size, but got "
                                 f"pad={p}, kernel_size={k} and dilation={d}")
    if ph > kh // 2 or pw > kw // 2:
            raise ValueError("pad should be smaller than or equal to half of kernel size, but "
                         f"got padW = {pw}, padH = {ph}, kW = {kw}, kH = {kh}")
    ceil_mode = bool(ceil_mode)
    oh = _pool_out_size(h, kh, sh, ph, dh, ceil_mode)
    ow = _pool_out_size(w, kw, sw, pw, dw, ceil_mode)
    if oh < 1 or ow < 1:
        raise ValueError(f"Given input size: ({c}x{h}x{w}). Calculated output size: "
                         f"({c}x{oh}x{ow}). Output size is too small")
    if is_max:
        for size, k, st, p, d, o in ((h, kh, sh, ph, dh, oh), (w, kw, sw, pw, dw, ow)):
            if _pool_has_empty_window(size, k, st, p, d, o):
                raise ValueError(f"{op}: some pooling windows would hold only padding (input "
                                 f"size {size} with kernel_size={k}, dilation={d}, padding={p} "
                                 f"and stride={st}); use less padding or dilation")
    # As for conv2d: cap unused strides and dilations (see _conv2d_params).  A kernel longer
    # than the padded input (possible with ceil_mode) is capped too: window positions past
    # the padded input are skipped anyway, so every window keeps its elements and divisor.
    sh, sw = (min(sh, h + 2 * ph) if oh == 1 else sh), (min(sw, w + 2 * pw) if ow == 1 else sw)
    # (never below 2 * pad, the kernels' precondition pad <= kernel / 2)
    kh = min(kh, max((h + 2 * ph - 1) // dh + 1, 2 * ph))
    kw = min(kw, max((w + 2 * pw - 1) // dw + 1, 2 * pw))
    dh, dw = (1 if kh == 1 else dh), (1 if kw == 1 else dw)
    out = (n, c, oh, ow)
    _check_numel(op, out)
    return (kh, kw), (sh, sw), (ph, pw), (dh, dw), out


def pool2d_output_shape(input_shape: Shape, kernel_size: Size2, stride: Optional[Size2] = None,
                        padding: Size2 = 0, dilation: Size2 = 1,
                        ceil_mode: bool = False) -> Tuple[int, int, int, int]:
    """Output shape of ``max_pool2d`` (and ``avg_pool2d`` with dilation=1), PyTorch arithmetic.

    input_shape (N, C, H, W); kernel_size, stride (default: kernel_size), padding, dilation
    are ints or (h, w) pairs.  H_out = floor_or_ceil((H + 2*pad - dil*(k-1) - 1) / stride) + 1;
    with ceil_mode the last window must start inside the input or its top/left padding.
    Padding must be at most half the kernel size.  Returns (N, C, H_out, W_out).
    """
    ishape = _shape_tuple(input_shape, "input_shape")
    return _pool2d_params("pool2d", ishape, kernel_size, stride, padding, dilation,
                          ceil_mode)[-1]


def check_max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    (x,) = float_arrays("max_pool2d", ("input", x))
    return x, _pool2d_params("max_pool2d", x.shape, kernel_size, stride, padding, dilation,
                             ceil_mode)


def check_avg_pool2d_params(op, input_shape, kernel_size, stride, padding, ceil_mode):
    return _pool2d_params(op, input_shape, kernel_size, stride, padding, 1, ceil_mode,
                          is_max=False)


def check_max_pool2d_backward(grad_output, indices, input_shape):
    (gy,) = float_arrays("max_pool2d_backward", ("grad_output", grad_output))
    if type(indices) is not np.ndarray:
        indices = np.asarray(indices)
    if indices.dtype != np.int64:
        raise TypeError(f"max_pool2d_backward: indices must be an int64 array, got dtype "
                        f"{indices.dtype}")
    ishape = _shape_tuple(input_shape, "input_shape", 4)
    if gy.ndim != 4:
        raise ValueError("Expected 4D (batched) grad_output to max_pool2d_backward, but got "
                         f"grad_output of size: {_fmt_shape(gy.shape)}")
    if indices.shape != gy.shape:
        raise ValueError(f"max_pool2d_backward: indices of shape {_fmt_shape(indices.shape)} "
                         f"do not match grad_output of shape {_fmt_shape(gy.shape)}")
    if gy.shape[:2] != ishape[:2]:
        raise ValueError(f"max_pool2d_backward: grad_output of shape {_fmt_shape(gy.shape)} "
                         f"does not match input_shape {_fmt_shape(ishape)} in (N, C)")
    if ishape[2] * ishape[3] == 0 and gy.size:
        raise ValueError(f"max_pool2d_backward: input_shape {_fmt_shape(ishape)} has an empty "
                         "plane")
    return gy, indices, ishape


def raise_for_bad_indices(n_bad, input_shape):
    """The one error for max_pool2d_backward indices outside the input plane (both backends)."""
    if n_bad:
        plane = input_shape[2] * input_shape[3]
        raise ValueError(f"max_pool2d_backward: {n_bad} index value(s) lie outside the input "
                         f"plane [0, {plane}) of input_shape {_fmt_shape(input_shape)}")


def check_grad_shape(op, grad, expected):
    if grad.shape != tuple(expected):
        raise ValueError(f"{op}: expected grad_output of shape {_fmt_shape(expected)}, but got "
                         f"grad_output of shape {_fmt_shape(grad.shape)}")


def check_output_mask(op, output_mask):
    """``output_mask``: which of (grad_input, grad_weight, grad_bias) to compute, as in
    ``torch.ops.aten.convolution_backward``; a sequence of three bools."""
    try:
        mask = tuple(output_mask)
    except TypeError:
        raise TypeError(f"{op}: output_mask must be a sequence of 3 bools, but got "
                        f"{type(output_mask).__name__}") from None
    if len(mask) != 3:
        raise ValueError(f"{op}: output_mask must have 3 entries (grad_input, grad_weight, "
                         f"grad_bias), but got {len(mask)}")
    for m in mask:
        if not isinstance(m, (bool, np.bool_)):
            raise TypeError(f"{op}: output_mask entries must be bool, but got "
                            f"{type(m).__name__}")
    return tuple(bool(m) for m in mask)


# ----------------------------------------------------------------------------------------
# Fused blocks: conv2d / linear with relu, conv2d + relu + max-pool
# ----------------------------------------------------------------------------------------

ACTIVATIONS = (None, "relu")


def check_activation(op, activation):
    """``activation``: None or 'relu'."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None or 'relu', but got {activation!r}")
    return activation


def check_block_output(op, output, shape, dtype, what="output"):
    """The forward's result that a block's backward needs (its relu mask), as an array of
    `shape` and `dtype`."""
    if output is None:
        raise ValueError(f"{op}: the backward of a block with relu needs {what} (the forward's "
                         "result), but got None")
    (y,) = float_arrays(op, (what, output))
    if y.dtype != dtype:
        raise TypeError(f"{op}: {what} dtype ({y.dtype}) should be the same as input dtype "
                        f"({dtype})")
    if y.shape != tuple(shape):
        raise ValueError(f"{op}: expected {what} of shape {_fmt_shape(shape)}, but got {what} "
                         f"of shape {_fmt_shape(y.shape)}")
    return y


#: The largest pool of the fused block: k * k window positions must fit in a byte.
MAX_BLOCK_POOL = 15


def check_block_pool(op, pool_size, conv_shape):
    """pool_size of conv2d_relu_max_pool2d: an int in [2, 15] (k x k windows, stride k, no
    padding, floor mode); returns it and the pooled output shape."""
    k = _as_int(pool_size, "pool_size")
    if k < 2 or k > MAX_BLOCK_POOL:
        raise ValueError(f"{op}: pool_size must be an int in [2, {MAX_BLOCK_POOL}], but got {k}")
    n, c, h, w = conv_shape
    if h // k < 1 or w // k < 1:
        raise ValueError(f"Given input size: ({c}x{h}x{w}). Calculated output size: "
                         f"({c}x{h // k}x{w // k}). Output size is too small")
    return k, (n, c, h // k, w // k)


def check_window(op, window, shape, k):
    """The uint8 window positions of a fused block (r * k + s of each maximum)."""
    idx = np.asarray(window)
    if idx.dtype != np.uint8:
        raise TypeError(f"{op}: window must be the uint8 array the forward returned, but got "
                        f"dtype {idx.dtype}")
    if idx.shape != tuple(shape):
        raise ValueError(f"{op}: expected window of shape {_fmt_shape(shape)}, but got window "
                         f"of shape {_fmt_shape(idx.shape)}")
    if idx.size and int(idx.max()) >= k * k:
        raise ValueError(f"{op}: window holds position {int(idx.max())}, outside a {k}x{k} "
                         "window")
    return idx


# ----------------------------------------------------------------------------------------
# Linear, relu, softmax, cross-entropy
# ----------------------------------------------------------------------------------------

def check_linear(op, x, weight, bias):
    x, weight, bias = float_arrays(op, ("input", x), ("weight", weight), ("bias", bias))
    if x.ndim != 2:
        raise ValueError(f"Expected 2D input (N, in_features) to {op}, but got input of size: "
                         f"{_fmt_shape(x.shape)}")
    if weight.ndim != 2:
        raise ValueError(f"Expected 2D weight (out_features, in_features) to {op}, but got "
                         f"weight of size: {_fmt_shape(weight.shape)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"mat1 and mat2 shapes cannot be multiplied ({x.shape[0]}x{x.shape[1]} "
                         f"and {weight.shape[1]}x{weight.shape[0]})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"Given weight of size {_fmt_shape(weight.shape)}, expected bias to be "
                         f"1-dimensional with {weight.shape[0]} elements, but got bias of size "
                         f"{_fmt_shape(bias.shape)} instead")
    return x, weight, bias


def check_same_shape(op, a_name, a, b_name, b):
    if a.shape != b.shape:
        raise ValueError(f"{op}: {a_name} of shape {_fmt_shape(a.shape)} does not match "
                         f"{b_name} of shape {_fmt_shape(b.shape)}")


def check_axis(axis, ndim):
    axis = _as_int(axis, "axis")
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not lo <= axis <= hi:
        raise ValueError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], "
                         f"but got {axis})")
    return axis % max(ndim, 1)


def check_reduction(reduction):
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"{reduction!r} is not a valid value for reduction "
                         "(use 'mean', 'sum' or 'none')") from None


def check_label_smoothing(label_smoothing):
    if isinstance(label_smoothing, (bool, np.bool_)) or not isinstance(
            label_smoothing, (int, float, np.integer, np.floating)):
        raise TypeError(f"label_smoothing must be a float, got {label_smoothing!r}")
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {ls}")
    return ls


def check_cross_entropy(op, logits, target, reduction, label_smoothing):
    (logits,) = float_arrays(op, ("logits", logits))
    red = check_reduction(reduction)
    ls = check_label_smoothing(label_smoothing)
    if logits.ndim != 2:
        raise ValueError(f"Expected 2D logits (N, C) to {op}, but got logits of size: "
                         f"{_fmt_shape(logits.shape)}")
    if type(target) is not np.ndarray:
        target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected target dtype to be an integer type (int64), but got "
                        f"{target.dtype}")
    if target.ndim != 1:
        raise ValueError(f"{op}: expected target of shape (N,) with class indices, but got "
                         f"target of size: {_fmt_shape(target.shape)}")
    if target.shape[0] != logits.shape[0]:
        raise ValueError(f"Expected input batch_size ({logits.shape[0]}) to match target "
                         f"batch_size ({target.shape[0]}).")
    c = logits.shape[1]
    if c == 0:
        raise ValueError(f"{op}: logits must have at least one class, got logits of size "
                         f"{_fmt_shape(logits.shape)}")
    if target.size:
        if target.size <= 256:  # cheaper than two NumPy reductions for small batches
            vals = target.tolist()
            lo, hi = min(vals), max(vals)
        else:
            lo, hi = target.min(), target.max()
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise ValueError(f"Target {int(bad)} is out of bounds (logits have {c} classes).")
    if target.dtype != np.int64:
        target = target.astype(np.int64)
    return logits, target, red, ls


def check_grad_loss(op, grad_loss, dtype, reduction_code, n):
    """grad_loss as a 1-D array of `dtype`: (n,) for reduction 'none', else (1,)."""
    if type(grad_loss) is float or type(grad_loss) is int:
        if reduction_code != 0:
            return np.array((grad_loss,), dtype=dtype)
        return np.full(n, grad_loss, dtype=dtype)
    if isinstance(grad_loss, (bool, np.bool_)):
        raise TypeError(f"{op}: grad_loss must be a float or a float array, got a bool")
    g = np.asarray(grad_loss)
    if g.dtype.kind not in "fiu" or (g.dtype.kind == "f" and g.dtype not in _FLOAT_DTYPES):
        raise TypeError(f"{op}: grad_loss must be a float32 or float64 value, got dtype {g.dtype}")
    if g.dtype.kind == "f" and g.ndim and g.dtype != dtype:
        raise TypeError(f"{op}: logits dtype ({dtype}) and grad_loss dtype ({g.dtype}) should "
                        "be the same (both float32 or both float64)")
    if g.ndim == 0 or g.shape == (1,) and reduction_code != 0:
        g = g.reshape(1)
        if reduction_code == 0:
            g = np.broadcast_to(g, (n,))
    elif reduction_code == 0:
        if g.shape != (n,):
            raise ValueError(f"{op}: with reduction='none' grad_loss must be a scalar or of shape "
                             f"({n},), but got shape {_fmt_shape(g.shape)}")
    else:
        raise ValueError(f"{op}: with reduction='mean' or 'sum' grad_loss must be a scalar, but "
                         f"got shape {_fmt_shape(g.shape)}")
    return np.ascontiguousarray(g, dtype=dtype)


# ----------------------------------------------------------------------------------------
# Normalisation, dropout and activations
# ----------------------------------------------------------------------------------------

def check_float_scalar(op, name, value, lo=None, hi=None):
    """A finite Python float from a real number (bool refused); optional closed bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a float, got {type(value).__name__} ({value!r})")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{op}: {name} must be finite, got {v}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{op}: {name} must be between {lo} and {hi}, got {v}")
    return v


def check_bool(op, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool, got {type(value).__name__} ({value!r})")
    return bool(value)


def _check_vector(op, name, a, n, what="elements"):
    if a is not None and a.shape != (n,):
        shown = a.shape[0] if a.ndim == 1 else _fmt_shape(a.shape)
        raise ValueError(f"{op}: {name} should contain {n} {what} not {shown}")


def _check_min_ndim(op, x, ndim):
    if x.ndim < ndim:
        raise ValueError(f"{op}: expected input with at least {ndim} dimensions (N, C, ...), "
                         f"but got input of size: {_fmt_shape(x.shape)}")


def check_batch_norm(op, x, running_mean, running_var, weight, bias, training, momentum, eps):
    """Validated batch_norm call: (x, running_mean, running_var, weight, bias, training,
    momentum, eps).  Running statistics must be writable arrays when training updates them."""
    x, weight, bias = float_arrays(op, ("input", x), ("weight", weight), ("bias", bias))
    _check_min_ndim(op, x, 2)
    training = check_bool(op, "training", training)
    momentum = check_float_scalar(op, "momentum", momentum)
    eps = check_float_scalar(op, "eps", eps, lo=0.0)
    c = x.shape[1]
    stats = []
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        if a is not None:
            if training and not isinstance(a, np.ndarray):
                raise TypeError(f"{op}: {name} must be a NumPy array (training updates it in "
                                f"place), got {type(a).__name__}")
            (a,) = float_arrays(op, (name, a))
            if training and not a.flags.writeable:
                raise ValueError(f"{op}: {name} is read-only, but training updates it in place")
            _check_vector(op, name, a, c)
        elif not training:
            raise ValueError(f"{name} must be defined in evaluation mode")
        stats.append(a)
    check_same_dtype(op, [("input", x)] + [(n, a) for n, a in (
        ("weight", weight), ("bias", bias), ("running_mean", stats[0]),
        ("running_var", stats[1])) if a is not None])
    _check_vector(op, "weight", weight, c)
    _check_vector(op, "bias", bias, c)
    if training and x.size and x.size // c == 1:
        raise ValueError("Expected more than 1 value per channel when training, got input size "
                         f"{_fmt_shape(x.shape)}")
    return x, stats[0], stats[1], weight, bias, training, momentum, eps


def check_batch_norm_backward(op, grad_output, x, weight, running_mean, running_var, save_mean,
                              save_invstd, training, eps, output_mask):
    gy, x, weight, rm, rv, sm, si = float_arrays(
        op, ("grad_output", grad_output), ("input", x), ("weight", weight),
        ("running_mean", running_mean), ("running_var", running_var),
        ("save_mean", save_mean), ("save_invstd", save_invstd))
    _check_min_ndim(op, x, 2)
    check_same_shape(op, "grad_output", gy, "input", x)
    training = check_bool(op, "training", training)
    eps = check_float_scalar(op, "eps", eps, lo=0.0)
    need = check_output_mask(op, output_mask)
    c = x.shape[1]
    pairs = (("save_mean", sm), ("save_invstd", si)) if training else (
        ("running_mean", rm), ("running_var", rv))
    for name, a in pairs:
        if a is None:
            raise ValueError(f"{op}: {name} is required when training={training}")
        _check_vector(op, name, a, c)
    _check_vector(op, "weight", weight, c)
    return gy, x, weight, pairs[0][1], pairs[1][1], training, eps, need


def normalized_shape_tuple(op, normalized_shape):
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        return (int(normalized_shape),)
    return _shape_tuple(normalized_shape, "normalized_shape")


def check_layer_norm(op, x, normalized_shape, weight, bias, eps):
    """Validated layer_norm call: (x, normalized_shape, weight, bias, eps, rows, d)."""
    x, weight, bias = float_arrays(op, ("input", x), ("weight", weight), ("bias", bias))
    ns = normalized_shape_tuple(op, normalized_shape)
    eps = check_float_scalar(op, "eps", eps, lo=0.0)
    k = len(ns)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != ns:
        raise ValueError(f"Given normalized_shape={list(ns)}, expected input with shape "
                         f"[*, {', '.join(str(s) for s in ns)}], but got input of size"
                         f"{list(x.shape)}")
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None and a.shape != ns:
            raise ValueError(f"Expected {name} to be of same shape as normalized_shape, but got "
                             f"{name} of shape {list(a.shape)} and normalized_shape = {list(ns)}")
    d = 1
    for s in ns:
        d *= s
    rows = x.size // d if d else 0
    return x, ns, weight, bias, eps, rows, d


def check_norm_stats(op, names_arrays, shapes):
    """mean / rstd arrays of the forward pass: any of the given shapes."""
    for name, a in names_arrays:
        if a is None:
            raise ValueError(f"{op}: {name} is required")
        if a.shape not in shapes:
            raise ValueError(f"{op}: expected {name} of shape {_fmt_shape(shapes[0])}, but got "
                             f"{name} of shape {_fmt_shape(a.shape)}")


def check_group_norm(op, x, num_groups, weight, bias, eps):
    """Validated group_norm call: (x, num_groups, weight, bias, eps)."""
    x, weight, bias = float_arrays(op, ("input", x), ("weight", weight), ("bias", bias))
    _check_min_ndim(op, x, 2)
    g = _as_int(num_groups, "num_groups")
    eps = check_float_scalar(op, "eps", eps, lo=0.0)
    c = x.shape[1]
    if g <= 0 or c % g != 0 or g > c:   # (a group needs at least one channel)
        raise ValueError("Expected number of channels in input to be divisible by num_groups, "
                         f"but got input of shape {list(x.shape)} and num_groups={g}")
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None and a.shape != (c,):
            raise ValueError(f"Expected {name} to be a vector of size equal to the number of "
                             f"channels in input, but got {name} of shape {list(a.shape)} and "
                             f"input of shape {list(x.shape)}")
    return x, g, weight, bias, eps


def check_dropout_p(op, p):
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer,
                                                            np.floating)):
        raise TypeError(f"{op}: p must be a float, got {type(p).__name__} ({p!r})")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return p


def check_generator(op, generator):
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{op}: generator must be a numpy.random.Generator or None, got "
                        f"{type(generator).__name__}")
    return generator


def check_mask(op, mask, shape):
    if type(mask) is not np.ndarray:
        mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{op}: mask must be a bool array, got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"{op}: mask of shape {_fmt_shape(mask.shape)} does not match "
                         f"grad_output of shape {_fmt_shape(shape)}")
    return mask
