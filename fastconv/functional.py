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

from typing import Callable, Literal, Optional, Tuple, Union, cast, overload

import numpy as np

from . import _kernels
from . import validation as V
from ._typing import (ArrayLike, FloatArray, Grads3, IndexArray, Mask3, Padding, Shape,
                      Size2)
from .validation import conv2d_output_shape, pool2d_output_shape

#: The kernel object every function below calls: the C kernels here, the NumPy ones in the
#: copies of these functions that fastconv.reference holds.
_k = _kernels


def _c(a: np.ndarray) -> np.ndarray:
    """`a` itself when C-contiguous, else a C-contiguous copy (0-d arrays keep their shape)."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def conv2d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None,
           stride: Size2 = 1, padding: Padding = 0, dilation: Size2 = 1,
           groups: int = 1) -> FloatArray:
    """2-D convolution (cross-correlation, PyTorch semantics), NCHW.

    Inputs:
    - input: (N, C, H, W) float32 or float64
    - weight: (F, C // groups, HH, WW), same dtype
    - bias: (F,) or None
    - stride, dilation: int or (h, w) pair, >= 1
    - padding: int or (h, w) pair >= 0, or 'valid' (no padding) or 'same' (output size
      equals input size; requires stride 1; an odd total padding puts the extra row/column
      at the bottom/right, as PyTorch does)
    - groups: int >= 1 dividing C and F

    Returns:
    - output: (N, F, H', W'), H' = (H + 2*pad - dilation*(HH-1) - 1) // stride + 1
    """
    x, w, b, (s, p, e, d, g, out) = V.check_conv2d("conv2d", input, weight, bias, stride,
                                                   padding, dilation, groups)
    if e[0] or e[1]:
        x = np.pad(x, ((0, 0), (0, 0), (0, e[0]), (0, e[1])))
    return _k.conv2d_forward(_c(x), _c(w), None if b is None else _c(b), s[0], s[1],
                             p[0], p[1], d[0], d[1], g, out[2], out[3])


def conv2d_backward(grad_output: ArrayLike, input: ArrayLike, weight: ArrayLike,
                    stride: Size2 = 1, padding: Padding = 0, dilation: Size2 = 1,
                    groups: int = 1, output_mask: Mask3 = (True, True, True)) -> Grads3:
    """Gradients of conv2d.

    Inputs:
    - grad_output: (N, F, H', W'), the upstream gradient
    - input: (N, C, H, W); weight: (F, C // groups, HH, WW)
    - stride, padding, dilation, groups: as given to conv2d
    - output_mask: three bools, which of (grad_input, grad_weight, grad_bias) to compute
      (as in torch.ops.aten.convolution_backward).  The first layer of a network needs
      no grad_input, and (False, True, True) skips that work.

    Returns a tuple of:
    - grad_input: (N, C, H, W), or None if not asked for
    - grad_weight: (F, C // groups, HH, WW), or None
    - grad_bias: (F,), the sum of grad_output over N, H' and W', or None
    """
    x, w, _, (s, p, e, d, g, out) = V.check_conv2d("conv2d_backward", input, weight, None,
                                                   stride, padding, dilation, groups)
    (gy,) = V.float_arrays("conv2d_backward", ("grad_output", grad_output))
    V.check_same_dtype("conv2d_backward", [("input", x), ("grad_output", gy)])
    V.check_grad_shape("conv2d_backward", gy, out)
    need = V.check_output_mask("conv2d_backward", output_mask)
    h, wd = x.shape[2], x.shape[3]
    if e[0] or e[1]:
        x = np.pad(x, ((0, 0), (0, 0), (0, e[0]), (0, e[1])))
    gx, gw, gb = _k.conv2d_backward(_c(gy), _c(x), _c(w), s[0], s[1], p[0], p[1], d[0],
                                    d[1], g, *need)
    if gx is not None and (e[0] or e[1]):
        gx = _c(gx[:, :, :h, :wd])
    return cast(Grads3, (gx, gw, gb))  # None only where output_mask said so


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


def linear(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None) -> FloatArray:
    """Fully connected layer: input @ weight.T + bias (the bias add is fused).

    Inputs:
    - input: (N, D)
    - weight: (M, D)
    - bias: (M,) or None

    Returns:
    - output: (N, M)
    """
    x, w, b = V.check_linear("linear", input, weight, bias)
    return _k.linear_forward(_c(x), _c(w), None if b is None else _c(b))


def linear_backward(grad_output: ArrayLike, input: ArrayLike, weight: ArrayLike,
                    output_mask: Mask3 = (True, True, True)) -> Grads3:
    """Gradients of linear.

    Inputs:
    - grad_output: (N, M)
    - input: (N, D)
    - weight: (M, D)
    - output_mask: three bools, which of (grad_input, grad_weight, grad_bias) to compute

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
    return cast(Grads3, _k.linear_backward(_c(gy), _c(x), _c(w), *need))


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


__all__ = [
    "conv2d", "conv2d_backward",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "linear", "linear_backward",
    "relu", "relu_backward",
    "cross_entropy", "cross_entropy_backward",
    "softmax", "log_softmax",
    "conv2d_output_shape", "pool2d_output_shape",
]
