"""fastconv.functional: the public functional API on the C kernels (import it as ``F``).

This module holds the one definition of every public op, for both backends.  Each function
validates its arguments in :mod:`fastconv.validation`, makes its arrays C-contiguous (no copy
when they already are) and calls the kernel object ``_k``: here :mod:`fastconv._kernels`, the C
kernels, which release the GIL.  :mod:`fastconv.reference` re-exports these same functions
rebound to its NumPy kernels (``_k`` = ``fastconv.reference._NumpyKernels``, see
:func:`fastconv.backend.bind_kernels`), so the two backends share one signature, one docstring and
one validation per function and raise the same errors.  The arrays a function hands to ``_k``
are validated, C-contiguous and of one float dtype (float32 or float64).

Adding a public function ``foo``:

1. Kernels.  C: declare it in ``csrc/fastconv.h`` (float32 and float64, with its contract), write
   the plain loop in ``csrc/ref_*.c`` and the optimised one beside it, dispatch it in
   ``csrc/dispatch.inc``, declare it in ``fastconv/_kernels.pxd``, wrap it in
   ``fastconv/_kernels.pyx`` and give the wrapper's Python signature in
   ``fastconv/_kernels.pyi`` (the stub type checkers read).  NumPy: a staticmethod with the
   same name and number of arguments on ``_NumpyKernels`` in ``fastconv/reference.py``.
2. Here: a module-level ``def foo(...)`` with type hints (the aliases of
   :mod:`fastconv._typing`) and a docstring (``Inputs:`` / ``Returns:``), whose checks live in
   :mod:`fastconv.validation` and which reaches kernels only through ``_k.<kernel>(...)``
   (never ``_kernels`` by name, or the reference backend would run C).  Add ``"foo"`` to
   ``__all__`` at the end of this module and to the same list in ``fastconv/reference.py``
   (type checkers read only a literal ``__all__``).  Nothing else: the reference backend
   re-exports these definitions and rebinds them to its kernels when it is imported.
3. Tests: ``tests/test_typing.py`` checks by itself that every name of ``__all__`` is defined
   here, annotated and bound to the right kernels in both backends, that both ``__all__``
   lists agree, and that the kernel stub matches the extension; mypy checks the package.  Add
   the name to the list in ``test_both_backends_share_signatures_and_docs`` and the
   behaviour tests (``tests/test_functional.py`` against the reference,
   ``tests/test_reference.py`` against plain loops or PyTorch, a case in
   ``tests/test_fuzz.py``) and a call in ``tests/typing/user_script.py``, which
   ``mypy --strict`` checks against these annotations.
"""
from __future__ import annotations

from typing import Any, Callable, Literal, Optional, Tuple, Union, cast, overload

import numpy as np
from numpy.typing import NDArray

from . import _kernels
from . import validation as V
from ._typing import (ArrayLike, FloatArray, Grads3, IndexArray, Mask3, Padding, Shape,
                      Size2)
from .validation import conv2d_output_shape, pool2d_output_shape

# subscripted once here: NDArray[np.uint8] in a function body costs microseconds per call
_WindowArray = NDArray[np.uint8]

#: The kernel object every function below calls: the C kernels here, the NumPy ones in the
#: copies of these functions that fastconv.reference holds.
_k = _kernels


def _c(a: np.ndarray) -> np.ndarray:
    """`a` itself when C-contiguous, else a C-contiguous copy (0-d arrays keep their shape)."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def conv2d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None,
           stride: Size2 = 1, padding: Padding = 0, dilation: Size2 = 1,
           groups: int = 1, activation: Optional[str] = None) -> FloatArray:
    """2-D convolution (cross-correlation, PyTorch semantics), NCHW.

    With ``activation='relu'`` the result is ``relu(conv2d(...))`` from one fused kernel
    (the relu applied to each chunk of the output while it is in cache); its backward is
    ``conv2d_backward(..., activation='relu', output=y)``.

    Inputs:
    - input: (N, C, H, W) float32 or float64
    - weight: (F, C // groups, HH, WW), same dtype
    - bias: (F,) or None
    - stride, dilation: int or (h, w) pair, >= 1
    - padding: int or (h, w) pair >= 0, or 'valid' (no padding) or 'same' (output size
      equals input size; requires stride 1; an odd total padding puts the extra row/column
      at the bottom/right, as PyTorch does)
    - groups: int >= 1 dividing C and F
    - activation: None, or 'relu' for the fused conv + bias + relu

    Returns:
    - output: (N, F, H', W'), H' = (H + 2*pad - dilation*(HH-1) - 1) // stride + 1
    """
    act = V.check_activation("conv2d", activation)
    x, w, b, (s, p, e, d, g, out) = V.check_conv2d("conv2d", input, weight, bias, stride,
                                                   padding, dilation, groups)
    if e[0] or e[1]:
        x = np.pad(x, ((0, 0), (0, 0), (0, e[0]), (0, e[1])))
    args = (_c(x), _c(w), None if b is None else _c(b), s[0], s[1], p[0], p[1], d[0], d[1], g,
            out[2], out[3])
    if act is None:
        return _k.conv2d_forward(*args)
    return _k.conv2d_block_forward(*args, True, 0)[0]


def _conv_block_backward(op: str, grad_output: ArrayLike, output: Optional[ArrayLike],
                         window: Optional[ArrayLike], input: ArrayLike, weight: ArrayLike,
                         stride: Size2, padding: Padding, dilation: Size2, groups: int,
                         output_mask: Mask3, relu: bool, pool: Optional[int]) -> Grads3:
    """The backward of conv2d (relu False, pool None), conv2d + relu (pool None) and the conv +
    relu + max-pool block (pool = its pool_size): validation, then one kernel call."""
    x, w, _, (s, p, e, d, g, out) = V.check_conv2d(op, input, weight, None, stride, padding,
                                                   dilation, groups)
    (gy,) = V.float_arrays(op, ("grad_output", grad_output))
    V.check_same_dtype(op, [("input", x), ("grad_output", gy)])
    shape, k = out, 0
    if pool is not None:
        k, shape = V.check_block_pool(op, pool, out)
    V.check_grad_shape(op, gy, shape)
    need = V.check_output_mask(op, output_mask)
    y = V.check_block_output(op, output, shape, x.dtype) if relu else None
    idx = V.check_window(op, window, shape, k) if k else None
    h, wd = x.shape[2], x.shape[3]
    if e[0] or e[1]:
        x = np.pad(x, ((0, 0), (0, 0), (0, e[0]), (0, e[1])))
    if y is None:
        gx, gw, gb = _k.conv2d_backward(_c(gy), _c(x), _c(w), s[0], s[1], p[0], p[1], d[0],
                                        d[1], g, *need)
    else:
        gx, gw, gb = _k.conv2d_block_backward(_c(gy), _c(y), None if idx is None else _c(idx),
                                              _c(x), _c(w), s[0], s[1], p[0], p[1], d[0], d[1],
                                              g, out[2], out[3], True, k, *need)
    if gx is not None and (e[0] or e[1]):
        gx = _c(gx[:, :, :h, :wd])
    return cast(Grads3, (gx, gw, gb))  # None only where output_mask said so


def conv2d_backward(grad_output: ArrayLike, input: ArrayLike, weight: ArrayLike,
                    stride: Size2 = 1, padding: Padding = 0, dilation: Size2 = 1,
                    groups: int = 1, output_mask: Mask3 = (True, True, True),
                    activation: Optional[str] = None,
                    output: Optional[ArrayLike] = None) -> Grads3:
    """Gradients of conv2d.

    For ``conv2d(..., activation='relu')`` pass the same activation and its result as
    ``output``: grad_output then passes only where output > 0 (or is NaN), as
    relu_backward's rule, in the same kernel call.

    Inputs:
    - grad_output: (N, F, H', W'), the upstream gradient
    - input: (N, C, H, W); weight: (F, C // groups, HH, WW)
    - stride, padding, dilation, groups: as given to conv2d
    - output_mask: three bools, which of (grad_input, grad_weight, grad_bias) to compute
      (as in torch.ops.aten.convolution_backward).  The first layer of a network needs
      no grad_input, and (False, True, True) skips that work.
    - activation: None or 'relu', as given to conv2d; output: conv2d's result (with relu)

    Returns a tuple of:
    - grad_input: (N, C, H, W), or None if not asked for
    - grad_weight: (F, C // groups, HH, WW), or None
    - grad_bias: (F,), the sum of grad_output over N, H' and W', or None
    """
    act = V.check_activation("conv2d_backward", activation)
    return _conv_block_backward("conv2d_backward", grad_output, output, None, input, weight,
                                stride, padding, dilation, groups, output_mask,
                                act == "relu", None)


def conv2d_relu_max_pool2d(input: ArrayLike, weight: ArrayLike,
                           bias: Optional[ArrayLike] = None, stride: Size2 = 1,
                           padding: Padding = 0, dilation: Size2 = 1, groups: int = 1,
                           pool_size: int = 2) -> Tuple[FloatArray, NDArray[np.uint8]]:
    """The block conv2d -> relu -> max_pool2d(pool_size), as one fused kernel.

    Equal to ``max_pool2d(relu(conv2d(input, weight, bias, ...)), pool_size)`` (a
    pool_size x pool_size window, stride pool_size, no padding, floor mode; the first maximum
    of each window wins and NaN counts as the largest, the last NaN winning), but the
    full-resolution conv output is never written out: each chunk of it is pooled while in
    cache (and on the Winograd path each 2x2 output tile is pooled as it is formed).

    Inputs:
    - input, weight, bias, stride, padding, dilation, groups: as for conv2d
    - pool_size: int in [2, 15]

    Returns a tuple of:
    - output: (N, F, H' // pool_size, W' // pool_size), H', W' conv2d's output size
    - window: uint8 array of output's shape, the position r * pool_size + s of each window's
      maximum, for the backward (PyTorch's flat index of that maximum is
      (ph * pool_size + r) * W' + pw * pool_size + s)
    """
    x, w, b, (s, p, e, d, g, out) = V.check_conv2d("conv2d_relu_max_pool2d", input, weight,
                                                   bias, stride, padding, dilation, groups)
    k, _ = V.check_block_pool("conv2d_relu_max_pool2d", pool_size, out)
    if e[0] or e[1]:
        x = np.pad(x, ((0, 0), (0, 0), (0, e[0]), (0, e[1])))
    y, window = _k.conv2d_block_forward(_c(x), _c(w), None if b is None else _c(b), s[0], s[1],
                                        p[0], p[1], d[0], d[1], g, out[2], out[3], True, k)
    return y, cast(_WindowArray, window)


def conv2d_relu_max_pool2d_backward(grad_output: ArrayLike, output: ArrayLike,
                                    window: ArrayLike, input: ArrayLike, weight: ArrayLike,
                                    stride: Size2 = 1, padding: Padding = 0,
                                    dilation: Size2 = 1, groups: int = 1, pool_size: int = 2,
                                    output_mask: Mask3 = (True, True, True)) -> Grads3:
    """Gradients of conv2d_relu_max_pool2d, from what its forward returned.

    The gradient of the conv's output is grad_output at each window's maximum where output
    > 0 (or is NaN) and 0 elsewhere -- the gradient through max_pool2d and relu -- built in
    one pass from the pooled arrays (no full-resolution relu mask is read), then the conv
    backward runs on it.

    Inputs:
    - grad_output: the gradient of the block's output, output's shape
    - output, window: conv2d_relu_max_pool2d's results
    - input, weight, stride, padding, dilation, groups, pool_size: as given to it
    - output_mask: which of (grad_input, grad_weight, grad_bias) to compute

    Returns (grad_input, grad_weight, grad_bias), as conv2d_backward.
    """
    return _conv_block_backward("conv2d_relu_max_pool2d_backward", grad_output, output, window,
                                input, weight, stride, padding, dilation, groups, output_mask,
                                True, pool_size)

@overload
def max_pool2d(input: ArrayLike, kernel_size: Size2, stride: Optional[Size2] = ...,
               padding: Size2 = ..., dilation: Size2 = ..., ceil_mode: bool = ...,
               return_indices: Literal[False] = ...) -> FloatArray: ...
@overload
def max_pool2d(input: ArrayLike, kernel_size: Size2, stride: Optional[Size2] = ...,
               padding: Size2 = ..., dilation: Size2 = ..., ceil_mode: bool = ..., *,
               return_indices: Literal[True]) -> Tuple[FloatArray, IndexArray]: ...
@overload
def max_pool2d(input: ArrayLike, kernel_size: Size2, stride: Optional[Size2] = ...,
               padding: Size2 = ..., dilation: Size2 = ..., ceil_mode: bool = ...,
               return_indices: bool = ...) -> Union[FloatArray, Tuple[FloatArray, IndexArray]]: ...
def max_pool2d(input: ArrayLike, kernel_size: Size2, stride: Optional[Size2] = None,
               padding: Size2 = 0, dilation: Size2 = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Union[FloatArray, Tuple[FloatArray, IndexArray]]:
    """2-D max pooling (PyTorch semantics), NCHW.  Padding counts as -inf; the first
    maximum in row-major window order wins; NaN wins over any number (first NaN).

    Inputs:
    - input: (N, C, H, W)
    - kernel_size: int or (h, w); stride: int, (h, w) or None (= kernel_size)
    - padding: int or (h, w), at most half the effective kernel size
    - dilation: int or (h, w) >= 1
    - ceil_mode: round the output size up (the last window must start inside the input
      or its top/left padding)
    - return_indices: also return the argmax positions

    Returns:
    - output: (N, C, H', W'), or (output, indices) with return_indices; indices are int64
      flat positions h * W + w in each input plane
    """
    x, (kk, s, p, d, out) = V.check_max_pool2d(input, kernel_size, stride, padding,
                                                dilation, ceil_mode)
    y, idx = _k.max_pool2d_forward(_c(x), kk[0], kk[1], s[0], s[1], p[0], p[1], d[0], d[1],
                                   out[2], out[3], bool(return_indices))
    return (y, cast(IndexArray, idx)) if return_indices else y


def max_pool2d_backward(grad_output: ArrayLike, indices: ArrayLike,
                        input_shape: Shape) -> FloatArray:
    """Gradient of max_pool2d: scatter-add of grad_output to the argmax positions.

    Inputs:
    - grad_output: (N, C, H', W')
    - indices: (N, C, H', W') int64, as returned by max_pool2d(..., return_indices=True);
      every value must lie in [0, H * W)
    - input_shape: (N, C, H, W)

    Returns:
    - grad_input: (N, C, H, W)
    """
    gy, idx, ishape = V.check_max_pool2d_backward(grad_output, indices, input_shape)
    gx, n_bad = _k.max_pool2d_backward(_c(gy), _c(idx), ishape[2], ishape[3])
    V.raise_for_bad_indices(n_bad, ishape)
    return cast(FloatArray, gx)  # None only when n_bad > 0, which raised


def avg_pool2d(input: ArrayLike, kernel_size: Size2, stride: Optional[Size2] = None,
               padding: Size2 = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> FloatArray:
    """2-D average pooling (PyTorch semantics), NCHW.

    Inputs:
    - input: (N, C, H, W)
    - kernel_size: int or (h, w); stride: int, (h, w) or None (= kernel_size)
    - padding: int or (h, w), zero padding of at most half the kernel size
    - ceil_mode: round the output size up
    - count_include_pad: divide by the window size clipped to the padded input (True) or
      by the number of real input elements in the window (False)

    Returns:
    - output: (N, C, H', W')
    """
    (x,) = V.float_arrays("avg_pool2d", ("input", input))
    kk, s, p, _, out = V.check_avg_pool2d_params("avg_pool2d", x.shape, kernel_size,
                                                 stride, padding, ceil_mode)
    return _k.avg_pool2d_forward(_c(x), kk[0], kk[1], s[0], s[1], p[0], p[1], out[2],
                                 out[3], bool(count_include_pad))


def avg_pool2d_backward(grad_output: ArrayLike, input_shape: Shape, kernel_size: Size2,
                        stride: Optional[Size2] = None, padding: Size2 = 0,
                        ceil_mode: bool = False, count_include_pad: bool = True) -> FloatArray:
    """Gradient of avg_pool2d.

    Inputs:
    - grad_output: (N, C, H', W')
    - input_shape: (N, C, H, W)
    - kernel_size, stride, padding, ceil_mode, count_include_pad: as given to avg_pool2d

    Returns:
    - grad_input: (N, C, H, W)
    """
    (gy,) = V.float_arrays("avg_pool2d_backward", ("grad_output", grad_output))
    ishape = V._shape_tuple(input_shape, "input_shape", 4)
    kk, s, p, _, out = V.check_avg_pool2d_params("avg_pool2d_backward", ishape, kernel_size,
                                                 stride, padding, ceil_mode)
    V.check_grad_shape("avg_pool2d_backward", gy, out)
    return _k.avg_pool2d_backward(_c(gy), ishape[2], ishape[3], kk[0], kk[1], s[0], s[1],
                                  p[0], p[1], bool(count_include_pad))


def global_avg_pool2d(input: ArrayLike) -> FloatArray:
    """Global average pooling: the mean of each channel plane.

    Inputs:
    - input: (N, C, H, W) with H * W >= 1

    Returns:
    - output: (N, C)
    """
    (x,) = V.float_arrays("global_avg_pool2d", ("input", input))
    if x.ndim != 4:
        raise ValueError("Expected 4D (batched) input to global_avg_pool2d, but got input "
                         f"of size: {V._fmt_shape(x.shape)}")
    if x.shape[2] * x.shape[3] == 0:
        raise ValueError("global_avg_pool2d: input planes must not be empty, but got input "
                         f"of size: {V._fmt_shape(x.shape)}")
    return _k.global_avg_pool2d_forward(_c(x))


def global_avg_pool2d_backward(grad_output: ArrayLike, input_shape: Shape) -> FloatArray:
    """Gradient of global_avg_pool2d.

    Inputs:
    - grad_output: (N, C)
    - input_shape: (N, C, H, W) with H * W >= 1

    Returns:
    - grad_input: (N, C, H, W), each plane filled with grad_output / (H * W)
    """
    (gy,) = V.float_arrays("global_avg_pool2d_backward", ("grad_output", grad_output))
    ishape = V._shape_tuple(input_shape, "input_shape", 4)
    if ishape[2] * ishape[3] == 0:
        raise ValueError("global_avg_pool2d_backward: input planes must not be empty, but "
                         f"got input_shape {V._fmt_shape(ishape)}")
    V.check_grad_shape("global_avg_pool2d_backward", gy, ishape[:2])
    return _k.global_avg_pool2d_backward(_c(gy), ishape[2], ishape[3])


def linear(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None,
           activation: Optional[str] = None) -> FloatArray:
    """Fully connected layer: input @ weight.T + bias (the bias add is fused).

    With ``activation='relu'`` the result is ``relu(linear(...))``, the relu applied to each
    output tile in the GEMM's epilogue; its backward is
    ``linear_backward(..., activation='relu', output=y)``.

    Inputs:
    - input: (N, D)
    - weight: (M, D)
    - bias: (M,) or None
    - activation: None or 'relu'

    Returns:
    - output: (N, M)
    """
    act = V.check_activation("linear", activation)
    x, w, b = V.check_linear("linear", input, weight, bias)
    return _k.linear_forward(_c(x), _c(w), None if b is None else _c(b), act == "relu")


def linear_backward(grad_output: ArrayLike, input: ArrayLike, weight: ArrayLike,
                    output_mask: Mask3 = (True, True, True), activation: Optional[str] = None,
                    output: Optional[ArrayLike] = None) -> Grads3:
    """Gradients of linear.

    For ``linear(..., activation='relu')`` pass the same activation and its result as
    ``output``: grad_output then passes only where output > 0 (or is NaN).

    Inputs:
    - grad_output: (N, M)
    - input: (N, D)
    - weight: (M, D)
    - output_mask: three bools, which of (grad_input, grad_weight, grad_bias) to compute
    - activation: None or 'relu', as given to linear; output: linear's result (with relu)

    Returns a tuple of (each None if output_mask leaves it out):
    - grad_input: (N, D) = grad_output @ weight
    - grad_weight: (M, D) = grad_output.T @ input
    - grad_bias: (M,) = grad_output summed over N
    """
    x, w, _ = V.check_linear("linear_backward", input, weight, None)
    (gy,) = V.float_arrays("linear_backward", ("grad_output", grad_output))
    V.check_same_dtype("linear_backward", [("input", x), ("grad_output", gy)])
    V.check_grad_shape("linear_backward", gy, (x.shape[0], w.shape[0]))
    need = V.check_output_mask("linear_backward", output_mask)
    act = V.check_activation("linear_backward", activation)
    y = None
    if act == "relu":
        y = _c(V.check_block_output("linear_backward", output, gy.shape, x.dtype))
    return cast(Grads3, _k.linear_backward(_c(gy), _c(x), _c(w), need[0], need[1], need[2],
                                           relu_output=y))


def relu(input: ArrayLike) -> FloatArray:
    """Rectified linear unit, elementwise max(input, 0); NaN stays NaN.

    Inputs:
    - input: array of any shape

    Returns:
    - output: same shape and dtype
    """
    (x,) = V.float_arrays("relu", ("input", input))
    return _k.relu_forward(_c(x))


def relu_backward(grad_output: ArrayLike, output: ArrayLike) -> FloatArray:
    """Gradient of relu, given relu's output.

    Inputs:
    - grad_output: array of any shape
    - output: relu's output, same shape

    Returns:
    - grad_input: grad_output where output > 0, else 0
    """
    gy, y = V.float_arrays("relu_backward", ("grad_output", grad_output), ("output", output))
    V.check_same_shape("relu_backward", "grad_output", gy, "output", y)
    return _k.relu_backward(_c(gy), _c(y))


def _rowwise(op: str, kernel: Callable[[FloatArray], FloatArray], values: ArrayLike,
             axis: int) -> FloatArray:
    (x,) = V.float_arrays(op, ("x", values))
    ax = V.check_axis(axis, x.ndim)
    if x.ndim == 0:
        return kernel(x.reshape(1, 1)).reshape(())
    if x.size == 0:
        return np.empty_like(x, order="C")
    last = ax == x.ndim - 1
    xt = x if last else np.moveaxis(x, ax, -1)
    y = kernel(_c(xt).reshape(-1, xt.shape[-1])).reshape(xt.shape)
    return y if last else _c(np.moveaxis(y, -1, ax))


def softmax(x: ArrayLike, axis: int = -1) -> FloatArray:
    """Softmax along `axis`, numerically stable (the maximum is subtracted).

    Inputs:
    - x: array of any shape
    - axis: the axis to normalise over

    Returns:
    - y: same shape, exp(x) / sum(exp(x), axis)
    """
    return _rowwise("softmax", _k.softmax, x, axis)


def log_softmax(x: ArrayLike, axis: int = -1) -> FloatArray:
    """Log-softmax along `axis`, numerically stable (log-sum-exp).

    Inputs:
    - x: array of any shape
    - axis: the axis to normalise over

    Returns:
    - y: same shape, x - logsumexp(x, axis)
    """
    return _rowwise("log_softmax", _k.log_softmax, x, axis)


def cross_entropy(logits: ArrayLike, target: ArrayLike, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> FloatArray:
    """Softmax cross-entropy loss (PyTorch semantics), computed with log-sum-exp.

    loss_i = (1 - eps) * -log p[i, t_i] + eps / C * sum_j -log p[i, j],  eps = label_smoothing

    Inputs:
    - logits: (N, C)
    - target: (N,) integer class indices in [0, C)
    - reduction: 'mean' (NaN when N == 0), 'sum' or 'none'
    - label_smoothing: float in [0, 1]

    Returns:
    - loss: 0-d array of logits' dtype for 'mean'/'sum', (N,) for 'none'
    """
    x, t, red, ls = V.check_cross_entropy("cross_entropy", logits, target, reduction,
                                          label_smoothing)
    return _k.cross_entropy_forward(_c(x), _c(t), ls, red)


def cross_entropy_backward(logits: ArrayLike, target: ArrayLike, grad_loss: ArrayLike = 1.0,
                           reduction: str = "mean",
                           label_smoothing: float = 0.0) -> FloatArray:
    """Gradient of cross_entropy with respect to the logits.

    Inputs:
    - logits: (N, C); target: (N,) integer class indices
    - grad_loss: upstream gradient of the loss: a scalar, or for reduction='none' also an
      (N,) array
    - reduction, label_smoothing: as given to cross_entropy

    Returns:
    - grad_logits: (N, C)
    """
    x, t, red, ls = V.check_cross_entropy("cross_entropy_backward", logits, target,
                                          reduction, label_smoothing)
    g = V.check_grad_loss("cross_entropy_backward", grad_loss, x.dtype, red, x.shape[0])
    return _k.cross_entropy_backward(_c(x), _c(t), ls, red, g)


# ---- normalisation, dropout and activations -----------------------------------------

def _c_or_none(a):
    return None if a is None else _c(a)


def _nchw3(x):
    """x (N, C, *) as a C-contiguous (N, C, prod(*)) array."""
    x = _c(x)
    hw = 1
    for s in x.shape[2:]:
        hw *= s
    return x.reshape(x.shape[0], x.shape[1], hw) if x.ndim != 3 else x


def _masked(grads, need):
    return tuple(g if n else None for g, n in zip(grads, need))


def _empty_norm_grads(x, n_params, need):
    """(grad_input, grad_weight, grad_bias) of a normalisation over an empty input."""
    z = np.zeros(n_params, dtype=x.dtype)
    return _masked((np.empty(x.shape, dtype=x.dtype), z, z.copy()), need)


def _unary(op, kernel, input, *extra):
    """kernel(input, *extra) for an elementwise op of any shape."""
    (x,) = V.float_arrays(op, ("input", input))
    return kernel(_c(x), *extra)


def _unary_backward(op, kernel, grad_output, z_name, z, *slope):
    """kernel(grad_output, z, *slope) with z the op's output or input (named z_name)."""
    gy, zz = V.float_arrays(op, ("grad_output", grad_output), (z_name, z))
    V.check_same_shape(op, "grad_output", gy, z_name, zz)
    extra = tuple(V.check_float_scalar(op, "negative_slope", v) for v in slope)
    return kernel(_c(gy), _c(zz), *extra)


def _norm_grad_args(op, x, grad_output, mean, rstd):
    """grad_output, mean and rstd of a layer/group norm backward, checked against input x."""
    gy, mean, rstd = V.float_arrays(op, ("grad_output", grad_output), ("mean", mean),
                                    ("rstd", rstd))
    V.check_same_dtype(op, [("input", x), ("grad_output", gy), ("mean", mean), ("rstd", rstd)])
    V.check_same_shape(op, "grad_output", gy, "input", x)
    return gy, mean, rstd


def _dropout_threshold(p):
    """The 24-bit keep threshold of dropout's counter-based mask: ceil(p * 2**24)."""
    return int(np.ceil(p * (1 << 24)))


def _dropout_seed(generator):
    if generator is None:
        from .nn import init
        generator = init.get_generator()
    return int(generator.integers(0, 1 << 64, dtype=np.uint64))


def batch_norm(input: ArrayLike, running_mean: Optional[ArrayLike],
               running_var: Optional[ArrayLike], weight: Optional[ArrayLike] = None,
               bias: Optional[ArrayLike] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5, return_stats: bool = False) -> Any:
    """Batch normalisation (PyTorch's ``F.batch_norm``), per channel of an (N, C, *) input.

    training=True normalises with the batch's mean and biased variance over N and the
    spatial dimensions and, as PyTorch does, updates ``running_mean`` and ``running_var``
    **in place** (the only arguments fastconv ever writes):
    ``running = (1 - momentum) * running + momentum * batch_stat``, with the unbiased
    variance going into running_var.  Either may be None (not tracked).
    training=False normalises with running_mean and running_var (both required).

    Inputs:
    - input: (N, C) or (N, C, *) float32 or float64
    - running_mean, running_var: (C,) arrays of input's dtype, or None in training
    - weight, bias: (C,) or None (1 and 0)
    - training: bool; momentum: float; eps: float >= 0
    - return_stats: also return the batch statistics the backward needs

    Returns:
    - output: input's shape; with return_stats, (output, save_mean, save_invstd) where
      save_invstd = 1 / sqrt(batch var + eps), both (C,) (None, None in inference)
    """
    x, rm, rv, w, b, training, momentum, eps = V.check_batch_norm(
        "batch_norm", input, running_mean, running_var, weight, bias, training, momentum,
        eps)
    c = x.shape[1]
    x3 = _nchw3(x)
    if not training:
        y = _k.batch_norm_forward_eval(x3, _c(rm), _c(rv), _c_or_none(w), _c_or_none(b), eps)
        y = y.reshape(x.shape)
        return (y, None, None) if return_stats else y
    m = x.size // c if c else 0
    if m == 0:
        y = np.empty(x.shape, dtype=x.dtype)
        z = np.zeros(c, dtype=x.dtype)
        return (y, z, z.copy()) if return_stats else y
    y, mean, var, invstd = _k.batch_norm_forward_train(x3, _c_or_none(w), _c_or_none(b), eps)
    one = x.dtype.type(1 - momentum)
    mom = x.dtype.type(momentum)
    if rm is not None:
        rm[...] = one * rm + mom * mean
    if rv is not None:
        rv[...] = one * rv + mom * (var * x.dtype.type(m / (m - 1)))
    y = y.reshape(x.shape)
    return (y, mean, invstd) if return_stats else y


def batch_norm_backward(grad_output: ArrayLike, input: ArrayLike, weight: Optional[ArrayLike],
                        running_mean: Optional[ArrayLike], running_var: Optional[ArrayLike],
                        save_mean: Optional[ArrayLike], save_invstd: Optional[ArrayLike],
                        training: bool, eps: float = 1e-5,
                        output_mask: Mask3 = (True, True, True)) -> Grads3:
    """Gradients of batch_norm (the arguments of ``aten.native_batch_norm_backward``).

    Inputs:
    - grad_output, input: (N, C, *)
    - weight: (C,) or None
    - running_mean, running_var: (C,), used when training=False
    - save_mean, save_invstd: (C,) from ``batch_norm(..., return_stats=True)``, used when
      training=True
    - training, eps: as given to batch_norm
    - output_mask: which of (grad_input, grad_weight, grad_bias) to compute

    Returns (grad_input, grad_weight, grad_bias): with xhat the normalised input,
    grad_weight = sum(grad_output * xhat) and grad_bias = sum(grad_output) over all but C;
    in training grad_input = weight * invstd * (grad_output - mean(grad_output) -
    xhat * mean(grad_output * xhat)), in inference weight * invstd * grad_output.
    """
    gy, x, w, mean, second, training, eps, need = V.check_batch_norm_backward(
        "batch_norm_backward", grad_output, input, weight, running_mean, running_var,
        save_mean, save_invstd, training, eps, output_mask)
    if x.size == 0:
        return _empty_norm_grads(x, x.shape[1], need)
    if training:
        invstd = second
    else:
        invstd = (1.0 / np.sqrt(second.astype(np.float64) + eps)).astype(x.dtype)
    gx, gw, gb = _k.batch_norm_backward(_nchw3(gy), _nchw3(x), _c_or_none(w), _c(mean),
                                       _c(invstd), training, *need)
    return cast(Grads3, ((None if gx is None else gx.reshape(x.shape)), gw, gb))


def layer_norm(input: ArrayLike, normalized_shape: Union[int, Shape],
               weight: Optional[ArrayLike] = None, bias: Optional[ArrayLike] = None,
               eps: float = 1e-5, return_stats: bool = False) -> Any:
    """Layer normalisation (PyTorch's ``F.layer_norm``) over the last dimensions.

    Inputs:
    - input: (*, *normalized_shape)
    - normalized_shape: int or tuple, the trailing shape to normalise over
    - weight, bias: normalized_shape arrays or None (elementwise affine)
    - eps: float >= 0; return_stats: also return mean and rstd

    Returns:
    - output: input's shape; with return_stats (output, mean, rstd), both of shape
      (*, 1, ..., 1) (as aten.native_layer_norm), rstd = 1 / sqrt(biased var + eps)
    """
    x, ns, w, b, eps, rows, d = V.check_layer_norm("layer_norm", input, normalized_shape,
                                                   weight, bias, eps)
    sshape = x.shape[:x.ndim - len(ns)] + (1,) * len(ns)
    if x.size == 0:
        y = np.empty(x.shape, dtype=x.dtype)
        mean = np.full(sshape, np.nan, dtype=x.dtype)
        return (y, mean, mean.copy()) if return_stats else y
    y, mean, rstd = _k.layer_norm_forward(_c(x).reshape(rows, d),
                                         None if w is None else _c(w).reshape(-1),
                                         None if b is None else _c(b).reshape(-1), eps)
    y = y.reshape(x.shape)
    return (y, mean.reshape(sshape), rstd.reshape(sshape)) if return_stats else y


def layer_norm_backward(grad_output: ArrayLike, input: ArrayLike,
                        normalized_shape: Union[int, Shape], mean: ArrayLike, rstd: ArrayLike,
                        weight: Optional[ArrayLike] = None,
                        output_mask: Mask3 = (True, True, True)) -> Grads3:
    """Gradients of layer_norm.

    Inputs:
    - grad_output, input: (*, *normalized_shape)
    - normalized_shape: as given to layer_norm
    - mean, rstd: from ``layer_norm(..., return_stats=True)``, shape (*, 1, ..., 1) or (*)
    - weight: normalized_shape or None
    - output_mask: which of (grad_input, grad_weight, grad_bias) to compute

    Returns (grad_input, grad_weight, grad_bias); the last two have normalized_shape.
    """
    op = "layer_norm_backward"
    x, ns, w, _, _, rows, d = V.check_layer_norm(op, input, normalized_shape, weight, None,
                                                 0.0)
    gy, mean_a, rstd_a = _norm_grad_args(op, x, grad_output, mean, rstd)
    lead = x.shape[:x.ndim - len(ns)]
    V.check_norm_stats(op, (("mean", mean_a), ("rstd", rstd_a)),
                       (lead + (1,) * len(ns), lead))
    need = V.check_output_mask(op, output_mask)
    if x.size == 0:
        gx, gw, gb = _empty_norm_grads(x, d, need)
    else:
        gx, gw, gb = _k.layer_norm_backward(_c(gy).reshape(rows, d), _c(x).reshape(rows, d),
                                           None if w is None else _c(w).reshape(-1),
                                           _c(mean_a).reshape(-1), _c(rstd_a).reshape(-1),
                                           *need)
    return cast(Grads3, ((None if gx is None else gx.reshape(x.shape)),
                         None if gw is None else gw.reshape(ns),
                         None if gb is None else gb.reshape(ns)))


def group_norm(input: ArrayLike, num_groups: int, weight: Optional[ArrayLike] = None,
               bias: Optional[ArrayLike] = None, eps: float = 1e-5,
               return_stats: bool = False) -> Any:
    """Group normalisation (PyTorch's ``F.group_norm``) of an (N, C, *) input.

    Inputs:
    - input: (N, C, *); num_groups: int dividing C
    - weight, bias: (C,) or None (per-channel affine)
    - eps: float >= 0; return_stats: also return mean and rstd

    Returns:
    - output: input's shape; with return_stats (output, mean, rstd), both (N, num_groups)
    """
    x, g, w, b, eps = V.check_group_norm("group_norm", input, num_groups, weight, bias, eps)
    n, c = x.shape[:2]
    if x.size == 0:
        y = np.empty(x.shape, dtype=x.dtype)
        mean = np.full((n, g), np.nan, dtype=x.dtype)
        return (y, mean, mean.copy()) if return_stats else y
    y, mean, rstd = _k.group_norm_forward(_nchw3(x), g, _c_or_none(w), _c_or_none(b), eps)
    y = y.reshape(x.shape)
    return (y, mean.reshape(n, g), rstd.reshape(n, g)) if return_stats else y


def group_norm_backward(grad_output: ArrayLike, input: ArrayLike, num_groups: int,
                        mean: ArrayLike, rstd: ArrayLike, weight: Optional[ArrayLike] = None,
                        output_mask: Mask3 = (True, True, True)) -> Grads3:
    """Gradients of group_norm.

    Inputs:
    - grad_output, input: (N, C, *); num_groups: as given to group_norm
    - mean, rstd: (N, num_groups) from ``group_norm(..., return_stats=True)``
    - weight: (C,) or None
    - output_mask: which of (grad_input, grad_weight, grad_bias) to compute

    Returns (grad_input, grad_weight, grad_bias); the last two are (C,).
    """
    op = "group_norm_backward"
    x, g, w, _, _ = V.check_group_norm(op, input, num_groups, weight, None, 0.0)
    gy, mean_a, rstd_a = _norm_grad_args(op, x, grad_output, mean, rstd)
    V.check_norm_stats(op, (("mean", mean_a), ("rstd", rstd_a)), ((x.shape[0], g),))
    need = V.check_output_mask(op, output_mask)
    if x.size == 0:
        return _empty_norm_grads(x, x.shape[1], need)
    gx, gw, gb = _k.group_norm_backward(_nchw3(gy), _nchw3(x), g, _c_or_none(w),
                                       _c(mean_a).reshape(-1), _c(rstd_a).reshape(-1), *need)
    return cast(Grads3, ((None if gx is None else gx.reshape(x.shape)), gw, gb))



def dropout(input: ArrayLike, p: float = 0.5, training: bool = True,
            generator: Optional[np.random.Generator] = None, return_mask: bool = False) -> Any:
    """Inverted dropout (PyTorch's ``F.dropout``): in training each element is zeroed with
    probability p and the others are scaled by 1 / (1 - p); otherwise the input is
    returned (as a copy).

    The mask comes from a counter-based hash of one 64-bit seed drawn from ``generator``
    (a ``numpy.random.Generator``; default ``fastconv.nn.init.get_generator()``, which
    ``fastconv.nn.init.manual_seed`` reseeds), so both backends draw the same mask for
    the same generator state, whatever the thread count.

    Inputs:
    - input: array of any shape; p: float in [0, 1]; training: bool
    - return_mask: also return the mask

    Returns:
    - output, or (output, mask) with mask a bool array (True = kept; all True when not
      training)
    """
    (x,) = V.float_arrays("dropout", ("input", input))
    p = V.check_dropout_p("dropout", p)
    training = V.check_bool("dropout", "training", training)
    gen = V.check_generator("dropout", generator)
    if not training:
        y = np.array(x, order="C", copy=True)
        return (y, np.ones(x.shape, dtype=bool)) if return_mask else y
    scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    y, mask = _k.dropout_forward(_c(x), _dropout_seed(gen), _dropout_threshold(p), scale)
    return (y, mask) if return_mask else y


def dropout_backward(grad_output: ArrayLike, mask: ArrayLike, scale: float) -> FloatArray:
    """Gradient of dropout (``aten.native_dropout_backward``): grad_output * mask * scale.

    Inputs:
    - grad_output: array of any shape
    - mask: bool array of the same shape, from ``dropout(..., return_mask=True)``
    - scale: float, 1 / (1 - p) for the p given to dropout

    Returns:
    - grad_input: same shape
    """
    (gy,) = V.float_arrays("dropout_backward", ("grad_output", grad_output))
    keep = V.check_mask("dropout_backward", mask, gy.shape)
    scale = V.check_float_scalar("dropout_backward", "scale", scale)
    return _k.dropout_backward(_c(gy), _c(keep), scale)


def sigmoid(input: ArrayLike) -> FloatArray:
    """Logistic sigmoid 1 / (1 + exp(-input)), elementwise.

    Inputs:
    - input: array of any shape

    Returns:
    - output: same shape and dtype
    """
    return _unary("sigmoid", _k.sigmoid_forward, input)


def sigmoid_backward(grad_output: ArrayLike, output: ArrayLike) -> FloatArray:
    """Gradient of sigmoid, given sigmoid's output.

    Inputs:
    - grad_output: array of any shape
    - output: sigmoid's output, same shape

    Returns:
    - grad_input: grad_output * output * (1 - output)
    """
    return _unary_backward("sigmoid_backward", _k.sigmoid_backward, grad_output, "output",
                           output)


def tanh(input: ArrayLike) -> FloatArray:
    """Hyperbolic tangent, elementwise.

    Inputs:
    - input: array of any shape

    Returns:
    - output: same shape and dtype
    """
    return _unary("tanh", _k.tanh_forward, input)


def tanh_backward(grad_output: ArrayLike, output: ArrayLike) -> FloatArray:
    """Gradient of tanh, given tanh's output.

    Inputs:
    - grad_output: array of any shape
    - output: tanh's output, same shape

    Returns:
    - grad_input: grad_output * (1 - output ** 2)
    """
    return _unary_backward("tanh_backward", _k.tanh_backward, grad_output, "output", output)


def leaky_relu(input: ArrayLike, negative_slope: float = 0.01) -> FloatArray:
    """Leaky ReLU (PyTorch's ``F.leaky_relu``), elementwise.

    Inputs:
    - input: array of any shape
    - negative_slope: float, the slope for input <= 0

    Returns:
    - output: input where input > 0, else input * negative_slope
    """
    slope = V.check_float_scalar("leaky_relu", "negative_slope", negative_slope)
    return _unary("leaky_relu", _k.leaky_relu_forward, input, slope)


def leaky_relu_backward(grad_output: ArrayLike, input: ArrayLike,
                        negative_slope: float = 0.01) -> FloatArray:
    """Gradient of leaky_relu, given leaky_relu's input.

    Inputs:
    - grad_output: array of any shape
    - input: leaky_relu's input, same shape
    - negative_slope: as given to leaky_relu

    Returns:
    - grad_input: grad_output where input > 0, else grad_output * negative_slope (a NaN
      input takes the slope, as in PyTorch)
    """
    return _unary_backward("leaky_relu_backward", _k.leaky_relu_backward, grad_output,
                           "input", input, negative_slope)


__all__ = [
    "conv2d", "conv2d_backward",
    "conv2d_relu_max_pool2d", "conv2d_relu_max_pool2d_backward",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "linear", "linear_backward",
    "relu", "relu_backward",
    "cross_entropy", "cross_entropy_backward",
    "softmax", "log_softmax",
    "conv2d_output_shape", "pool2d_output_shape",
    "batch_norm", "batch_norm_backward",
    "layer_norm", "layer_norm_backward",
    "group_norm", "group_norm_backward",
    "dropout", "dropout_backward",
    "sigmoid", "sigmoid_backward",
    "tanh", "tanh_backward",
    "leaky_relu", "leaky_relu_backward",
]
