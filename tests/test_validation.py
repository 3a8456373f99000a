"""fastconv.validation: output-shape arithmetic and every class of bad input, for both
backends (they must raise the same error type and message)."""
import itertools
import re

import numpy as np
import pytest

import fastconv
import fastconv.functional as F
import fastconv.reference as R
from fastconv import conv2d_output_shape, pool2d_output_shape



def _z(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


# ---------------------------------------------------------------------------------------
# Output-shape arithmetic
# ---------------------------------------------------------------------------------------

def test_mnist_network_shapes_by_hand():
    # MnistCNN: conv 1->32 k3 pad1, maxpool 2, conv 32->64 k3 pad1, maxpool 2, 3136 features
    s = conv2d_output_shape((64, 1, 28, 28), (32, 1, 3, 3), padding=1)
    assert s == (64, 32, 28, 28)
    s = pool2d_output_shape(s, 2)
    assert s == (64, 32, 14, 14)
    s = conv2d_output_shape(s, (64, 32, 3, 3), padding=1)
    assert s == (64, 64, 14, 14)
    s = pool2d_output_shape(s, 2)
    assert s == (64, 64, 7, 7)
    assert s[1] * s[2] * s[3] == 3136
    # SimpleCNN: conv 1->32 k3 no padding, maxpool 2 -> 5408 features
    s = pool2d_output_shape(conv2d_output_shape((1, 1, 28, 28), (32, 1, 3, 3)), 2)
    assert s == (1, 32, 13, 13) and 32 * 13 * 13 == 5408
    # Hand-computed odd cases
    assert conv2d_output_shape((1, 1, 7, 7), (1, 1, 3, 3), stride=2) == (1, 1, 3, 3)
    assert conv2d_output_shape((1, 1, 7, 7), (1, 1, 3, 3), stride=2, dilation=2) == (1, 1, 2, 2)
    assert conv2d_output_shape((1, 1, 5, 6), (1, 1, 2, 4), padding="same") == (1, 1, 5, 6)
    assert conv2d_output_shape((1, 1, 5, 6), (1, 1, 2, 4), padding="valid") == (1, 1, 4, 3)
    assert pool2d_output_shape((1, 1, 5, 5), 2, ceil_mode=True) == (1, 1, 3, 3)
    assert pool2d_output_shape((1, 1, 5, 5), 2, ceil_mode=False) == (1, 1, 2, 2)
    # ceil_mode: the last window would start in the right padding -> dropped
    assert pool2d_output_shape((1, 1, 5, 5), 2, stride=2, padding=1, ceil_mode=True) == (1, 1, 3, 3)
    # ... and kept when it starts inside the input
    assert pool2d_output_shape((1, 1, 6, 6), 3, stride=2, padding=1, ceil_mode=True) == (1, 1, 4, 4)
    assert pool2d_output_shape((1, 1, 5, 5), 3, stride=2, padding=1, ceil_mode=True) == (1, 1, 3, 3)


def test_output_shape_accepts_numpy_ints_and_arrays():
    s = conv2d_output_shape(np.array([2, 3, 9, 9]), (np.int64(4), 3, 3, 3), stride=np.int32(2))
    assert s == (2, 4, 4, 4) and all(type(v) is int for v in s)


def _torch_conv_shape(torch, ishape, wshape, **kw):
    x = torch.empty(ishape, device="meta")
    w = torch.empty(wshape, device="meta")
    try:
        return tuple(torch.nn.functional.conv2d(x, w, **kw).shape)
    except RuntimeError:
        return None


def test_conv2d_output_shape_matches_torch_grid():
    torch = pytest.importorskip("torch")
    import warnings
    warnings.filterwarnings("ignore", message=".*padding='same'.*")
    n_checked = 0
    for h, k, s, p, d in itertools.product((1, 2, 5, 8), (1, 2, 3), (1, 2, 3),
                                           (0, 1, 2, "same", "valid"), (1, 2)):
        if p == "same" and s != 1:
            continue
        ishape, wshape = (2, 2, h, h + 1), (3, 2, k, k + 1)
        kw = dict(stride=s, padding=p, dilation=d)
        expected = _torch_conv_shape(torch, ishape, wshape, **kw)
        if expected is None:
            with pytest.raises(ValueError, match="Kernel size can't be greater"):
                conv2d_output_shape(ishape, wshape, **kw)
        else:
            assert conv2d_output_shape(ishape, wshape, **kw) == expected, kw
            n_checked += 1
    assert n_checked > 200


def test_pool2d_output_shape_matches_torch_grid():
    torch = pytest.importorskip("torch")
    n_checked = 0
    for h, k, s, p, d, ceil in itertools.product((1, 2, 5, 6, 8), (1, 2, 3), (1, 2, 3, 4),
                                                 (0, 1), (1, 2), (False, True)):
        x = torch.zeros((1, 1, h, h + 1))
        kw = dict(kernel_size=(k, k + 1), stride=s, padding=p, dilation=d, ceil_mode=ceil)
        try:
            y = torch.nn.functional.max_pool2d(x, return_indices=True, **kw)[0]
        except RuntimeError as exc:
            with pytest.raises(ValueError) as info:
                pool2d_output_shape(tuple(x.shape), **kw)
            assert str(exc).split(",")[0] == str(info.value).split(",")[0]
            continue
        if torch.isinf(y).any():
            # a window of only padding (PyTorch gives -inf there): rejected by fastconv
            with pytest.raises(ValueError, match="only padding"):
                pool2d_output_shape(tuple(x.shape), **kw)
            continue
        assert pool2d_output_shape(tuple(x.shape), **kw) == tuple(y.shape), kw
        n_checked += 1
    assert n_checked > 150


# ---------------------------------------------------------------------------------------
# One test per class of bad input, both backends, error type and message
# ---------------------------------------------------------------------------------------

def _raises_same(call, exc, pattern):
    """call(backend) raises `exc` matching `pattern` with the same message for F and R."""
    messages = []
    for mod in (F, R):
        with pytest.raises(exc, match=pattern) as info:
            call(mod)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    return messages[0]


def test_mixed_float_dtypes_raise_typeerror_naming_dtypes():
    x, w = _z(1, 3, 8, 8), _z(4, 3, 3, 3, dtype=np.float64)
    msg = _raises_same(lambda m: m.conv2d(x, w), TypeError, "float32")
    assert "float64" in msg and "weight" in msg
    _raises_same(lambda m: m.linear(_z(2, 3), _z(4, 3), _z(4, dtype=np.float64)), TypeError,
                 r"input dtype \(float32\) and bias dtype \(float64\)")
    _raises_same(lambda m: m.relu_backward(_z(3), _z(3, dtype=np.float64)), TypeError,
                 "float64")
    _raises_same(lambda m: m.conv2d_backward(_z(1, 4, 6, 6, dtype=np.float64), x,
                                             _z(4, 3, 3, 3)), TypeError, "grad_output")


@pytest.mark.parametrize("bad", [np.int64, np.int32, np.bool_, np.complex128, np.float16,
                                 object])
def test_non_float_dtypes_raise_typeerror(bad):
    x = np.zeros((1, 1, 4, 4), dtype=bad)
    msg = _raises_same(lambda m: m.max_pool2d(x, 2), TypeError, "float32 or float64")
    assert str(np.dtype(bad)) in msg
    _raises_same(lambda m: m.relu(np.zeros(3, dtype=bad)), TypeError, str(np.dtype(bad)))
    _raises_same(lambda m: m.softmax(np.zeros((2, 3), dtype=bad)), TypeError,
                 str(np.dtype(bad)))


def test_non_native_byte_order_is_accepted():
    x = np.arange(-3.0, 3.0).astype(">f4")
    for mod in (F, R):
        y = mod.relu(x)
        assert y.dtype == np.float32 and y.tolist() == [0, 0, 0, 0, 1, 2]


def test_lists_are_accepted_as_arrays():
    y = F.relu([[-1.0, 2.0]])
    assert y.dtype == np.float64 and np.array_equal(y, [[0.0, 2.0]])
    assert np.array_equal(R.relu([[-1.0, 2.0]]), y)
    loss = F.cross_entropy(np.zeros((2, 3)), [0, 2])
    assert np.isclose(loss, np.log(3))


@pytest.mark.parametrize("call, pattern", [
    (lambda m: m.conv2d(_z(3, 8), _z(4, 3, 3, 3)),
     re.escape("Expected 4D (batched) input to conv2d, but got input of size: (3, 8)")),
    (lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3)), "Expected 4D weight"),
    (lambda m: m.max_pool2d(_z(8, 8), 2), "Expected 4D"),
    (lambda m: m.avg_pool2d(_z(1, 8, 8), 2), "Expected 4D"),
    (lambda m: m.global_avg_pool2d(_z(2, 3)), "Expected 4D"),
    (lambda m: m.linear(_z(2, 3, 1), _z(4, 3)), "Expected 2D input"),
    (lambda m: m.linear(_z(2, 3), _z(4, 3, 1)), "Expected 2D weight"),
    (lambda m: m.cross_entropy(_z(2, 3, 1), np.zeros(2, np.int64)), "Expected 2D logits"),
    (lambda m: m.cross_entropy(_z(2, 3), np.zeros((2, 1), np.int64)), "target of shape"),
    (lambda m: m.max_pool2d_backward(_z(1, 1, 2), np.zeros((1, 1, 2), np.int64),
                                     (1, 1, 4, 4)), "Expected 4D"),
])
def test_wrong_ndim(call, pattern):
    _raises_same(call, ValueError, pattern)


def test_channel_mismatch_message_is_pytorchs():
    msg = _raises_same(lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 2, 3, 3)), ValueError, "channels")
    assert msg == ("Given groups=1, weight of size (4, 2, 3, 3), expected input (1, 3, 8, 8) to "
                   "have 2 channels, but got 3 channels instead")


def test_group_mismatch():
    _raises_same(lambda m: m.conv2d(_z(1, 4, 8, 8), _z(3, 2, 3, 3), groups=2), ValueError,
                 re.escape("Given groups=2, expected weight to be divisible by 2 at dimension 0, "
                           "but got weight of size (3, 2, 3, 3) instead"))
    _raises_same(lambda m: m.conv2d(_z(1, 5, 8, 8), _z(4, 2, 3, 3), groups=2), ValueError,
                 "to have 4 channels, but got 5 channels instead")


def test_kernel_larger_than_padded_input():
    _raises_same(lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 9, 9)), ValueError,
                 re.escape("Calculated padded input size per channel: (8 x 8). Kernel size: "
                           "(9 x 9). Kernel size can't be greater than actual input size"))
    # the dilated kernel counts
    _raises_same(lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), dilation=4), ValueError,
                 re.escape("Kernel size: (9 x 9)"))
    _raises_same(lambda m: m.max_pool2d(_z(1, 3, 8, 8), 9), ValueError,
                 re.escape("Given input size: (3x8x8). Calculated output size: (3x0x0). "
                           "Output size is too small"))
    _raises_same(lambda m: m.avg_pool2d(_z(1, 3, 2, 8), 3), ValueError, "Output size is too small")


@pytest.mark.parametrize("call, pattern", [
    (lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), stride=0), "non-positive stride"),
    (lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), stride=(1, -1)), "non-positive stride"),
    (lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), dilation=0),
     re.escape("dilation should be greater than zero, but got [0, 0]")),
    (lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), groups=0), "non-positive groups"),
    (lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 0, 3)), "non-positive kernel size"),
    (lambda m: m.max_pool2d(_z(1, 3, 8, 8), 0),
     "kernel size should be greater than zero, but got kH: 0 kW: 0"),
    (lambda m: m.max_pool2d(_z(1, 3, 8, 8), 2, stride=0),
     "stride should be greater than zero, but got dH: 0 dW: 0"),
    (lambda m: m.max_pool2d(_z(1, 3, 8, 8), 2, dilation=(1, 0)),
     "dilation should be greater than zero, but got dilationH: 1 dilationW: 0"),
    (lambda m: m.avg_pool2d(_z(1, 3, 8, 8), (2, -1)), "kernel size should be greater than zero"),
    (lambda m: m.avg_pool2d_backward(_z(1, 3, 4, 4), (1, 3, 8, 8), 2, stride=-2),
     "stride should be greater than zero"),
])
def test_non_positive_hyperparameters(call, pattern):
    _raises_same(call, ValueError, pattern)


def test_negative_padding():
    _raises_same(lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), padding=-1), ValueError,
                 "negative padding is not supported")
    _raises_same(lambda m: m.max_pool2d(_z(1, 3, 8, 8), 2, padding=(0, -1)), ValueError,
                 "pad must be non-negative, but got pad: -1")


def test_pool_padding_above_half_kernel():
    _raises_same(lambda m: m.max_pool2d(_z(1, 3, 8, 8), 3, padding=2), ValueError,
                 "pad should be at most half of effective kernel size, but got pad=2, "
                 "kernel_size=3 and dilation=1")
    # like PyTorch, the dilated kernel is checked first, then the kernel itself
    _raises_same(lambda m: m.max_pool2d(_z(1, 3, 8, 8), 3, padding=3, dilation=2), ValueError,
                 "pad=3, kernel_size=3 and dilation=2")
    _raises_same(lambda m: m.max_pool2d(_z(1, 3, 8, 8), 3, padding=(0, 2), dilation=2),
                 ValueError, "pad should be smaller than or equal to half of kernel size, but "
                 "got padW = 2, padH = 0, kW = 3, kH = 3")
    assert F.max_pool2d(_z(1, 1, 8, 8), 3, padding=1, dilation=2).shape == (1, 1, 2, 2)
    _raises_same(lambda m: m.avg_pool2d(_z(1, 3, 8, 8), 3, padding=2), ValueError,
                 "pad should be smaller than or equal to half of kernel size, but got padW = 2, "
                 "padH = 2, kW = 3, kH = 3")


def test_max_pool_window_of_only_padding():
    # k=2, dilation=2, padding=1 on H=1: the window holds rows -1 and 1, both padding
    # (PyTorch returns -inf with an index outside the plane there)
    _raises_same(lambda m: m.max_pool2d(_z(1, 1, 1, 4), (2, 1), 1, (1, 0), (2, 1)), ValueError,
                 re.escape("max_pool2d: some pooling windows would hold only padding (input "
                           "size 1 with kernel_size=2, dilation=2, padding=1 and stride=1)"))
    with pytest.raises(ValueError, match="only padding"):
        pool2d_output_shape((1, 1, 2, 2), 2, stride=1, padding=1, dilation=3)  # rows -1, 2
    # with one more row every window holds an input element: rows (-1, 2) and (0, 3)
    assert pool2d_output_shape((1, 1, 3, 3), 2, stride=1, padding=1, dilation=3) == (1, 1, 2, 2)
    assert F.max_pool2d(np.arange(9.0).reshape(1, 1, 3, 3), 2, stride=1, padding=1,
                        dilation=3).ravel().tolist() == [8.0, 6.0, 2.0, 0.0]


def test_padding_strings():
    _raises_same(lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), padding="same", stride=2),
                 ValueError, "padding='same' is not supported for strided convolutions")
    _raises_same(lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), padding="full"),
                 ValueError, "Invalid padding string: 'full'")


def test_bias_and_grad_shape_mismatch():
    _raises_same(lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), _z(5)), ValueError,
                 re.escape("Given weight of size (4, 3, 3, 3), expected bias to be 1-dimensional "
                           "with 4 elements, but got bias of size (5,) instead"))
    _raises_same(lambda m: m.linear(_z(2, 3), _z(4, 3), _z(4, 1)), ValueError,
                 "expected bias to be 1-dimensional with 4 elements")
    _raises_same(lambda m: m.linear(_z(2, 3), _z(5, 4)), ValueError,
                 re.escape("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"))
    _raises_same(lambda m: m.conv2d_backward(_z(1, 4, 5, 6), _z(1, 3, 8, 8), _z(4, 3, 3, 3)),
                 ValueError, re.escape("expected grad_output of shape (1, 4, 6, 6), but got "
                                       "grad_output of shape (1, 4, 5, 6)"))
    _raises_same(lambda m: m.linear_backward(_z(2, 5), _z(2, 3), _z(4, 3)), ValueError,
                 re.escape("expected grad_output of shape (2, 4)"))
    _raises_same(lambda m: m.avg_pool2d_backward(_z(1, 3, 3, 4), (1, 3, 8, 8), 2), ValueError,
                 re.escape("expected grad_output of shape (1, 3, 4, 4)"))
    _raises_same(lambda m: m.global_avg_pool2d_backward(_z(2, 4), (2, 3, 5, 5)), ValueError,
                 re.escape("expected grad_output of shape (2, 3)"))
    _raises_same(lambda m: m.relu_backward(_z(2, 4), _z(4, 2)), ValueError,
                 re.escape("grad_output of shape (2, 4) does not match output of shape (4, 2)"))


def test_max_pool2d_backward_indices_checks():
    gy = _z(1, 2, 2, 2)
    _raises_same(lambda m: m.max_pool2d_backward(gy, np.zeros((1, 2, 2, 2), np.int32),
                                                 (1, 2, 4, 4)), TypeError,
                 "indices must be an int64 array, got dtype int32")
    _raises_same(lambda m: m.max_pool2d_backward(gy, np.zeros((1, 2, 2, 3), np.int64),
                                                 (1, 2, 4, 4)), ValueError,
                 re.escape("indices of shape (1, 2, 2, 3) do not match grad_output of shape "
                           "(1, 2, 2, 2)"))
    _raises_same(lambda m: m.max_pool2d_backward(gy, np.zeros((1, 2, 2, 2), np.int64),
                                                 (1, 3, 4, 4)), ValueError, "in \\(N, C\\)")
    for bad in (16, -1, 2 ** 40):
        idx = np.zeros((1, 2, 2, 2), np.int64)
        idx[0, 1, 1, 0] = bad
        idx[0, 0, 0, 1] = 17 if bad >= 16 else -5
        _raises_same(lambda m: m.max_pool2d_backward(gy, idx, (1, 2, 4, 4)), ValueError,
                     re.escape("2 index value(s) lie outside the input plane [0, 16) of "
                               "input_shape (1, 2, 4, 4)"))


def test_class_targets_checks():
    x = _z(2, 3)
    _raises_same(lambda m: m.cross_entropy(x, np.array([0, 3])), ValueError,
                 re.escape("Target 3 is out of bounds"))
    _raises_same(lambda m: m.cross_entropy_backward(x, np.array([-1, 0])), ValueError,
                 re.escape("Target -1 is out of bounds"))
    _raises_same(lambda m: m.cross_entropy(x, np.array([0.0, 1.0])), TypeError,
                 "expected target dtype to be an integer type \\(int64\\), but got float64")
    _raises_same(lambda m: m.cross_entropy(x, np.array([True, False])), TypeError, "bool")
    _raises_same(lambda m: m.cross_entropy(x, np.array([0, 1, 1])), ValueError,
                 re.escape("Expected input batch_size (2) to match target batch_size (3)."))
    # other integer dtypes are fine
    assert np.isfinite(F.cross_entropy(x, np.array([0, 2], np.uint8)))


def test_label_smoothing_and_reduction_checks():
    x, t = _z(2, 3), np.array([0, 1])
    for ls in (-0.1, 1.5, float("nan")):
        _raises_same(lambda m: m.cross_entropy(x, t, label_smoothing=ls), ValueError,
                     "label_smoothing must be between 0.0 and 1.0")
    _raises_same(lambda m: m.cross_entropy(x, t, label_smoothing=True), TypeError,
                 "label_smoothing")
    _raises_same(lambda m: m.cross_entropy(x, t, reduction="avg"), ValueError,
                 "'avg' is not a valid value for reduction")
    _raises_same(lambda m: m.cross_entropy_backward(x, t, reduction=None), ValueError,
                 "None is not a valid value for reduction")


def test_grad_loss_checks():
    x, t = _z(2, 3), np.array([0, 1])
    _raises_same(lambda m: m.cross_entropy_backward(x, t, np.ones(2, np.float32)), ValueError,
                 "grad_loss must be a scalar")
    _raises_same(lambda m: m.cross_entropy_backward(x, t, np.ones(3, np.float32),
                                                    reduction="none"), ValueError,
                 re.escape("must be a scalar or of shape (2,)"))
    _raises_same(lambda m: m.cross_entropy_backward(x, t, np.ones(2), reduction="none"),
                 TypeError, "grad_loss dtype \\(float64\\)")


@pytest.mark.parametrize("call", [
    lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), padding=2 ** 62),
    lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), padding=(0, 2 ** 63)),
    lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), dilation=2 ** 62),
    lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), padding=2 ** 40),
    lambda m: m.max_pool2d(_z(1, 3, 8, 8), 2 ** 63 + 1, stride=1),
    lambda m: m.avg_pool2d_backward(_z(1, 3, 4, 4), (1, 3, 2 ** 62, 8), 2),
    lambda m: m.global_avg_pool2d_backward(_z(1, 3), (1, 3, 2 ** 63, 1)),
    lambda m: m.global_avg_pool2d_backward(_z(1, 3), (1, 3, 2 ** 31, 2 ** 31)),
    lambda m: m.max_pool2d_backward(_z(1, 3, 1, 1), np.zeros((1, 3, 1, 1), np.int64),
                                    (1, 3, 2 ** 31, 2 ** 31)),
])
def test_int64_overflow_is_a_valueerror(call):
    _raises_same(call, ValueError, "overflows int64")


@pytest.mark.parametrize("call", [
    lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), stride=True),
    lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), groups=True),
    lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), padding=(1, False)),
    lambda m: m.max_pool2d(_z(1, 3, 8, 8), True),
    lambda m: m.avg_pool2d(_z(1, 3, 8, 8), 2, stride=np.True_),
    lambda m: m.softmax(_z(2, 3), axis=True),
])
def test_bool_as_int_hyperparameter_is_rejected(call):
    _raises_same(call, TypeError, "got a bool")


@pytest.mark.parametrize("call", [
    lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), stride=1.0),
    lambda m: m.max_pool2d(_z(1, 3, 8, 8), 2.5),
    lambda m: m.max_pool2d(_z(1, 3, 8, 8), "2"),
])
def test_non_int_hyperparameter_is_rejected(call):
    _raises_same(call, TypeError, "must be an int")


def test_wrong_pair_length():
    _raises_same(lambda m: m.conv2d(_z(1, 3, 8, 8), _z(4, 3, 3, 3), stride=(1, 1, 1)),
                 ValueError, "stride must be an int or a pair of ints")


def test_softmax_axis_out_of_range():
    _raises_same(lambda m: m.softmax(_z(2, 3), axis=2), ValueError,
                 re.escape("Dimension out of range (expected to be in range of [-2, 1], but got 2)"))
    _raises_same(lambda m: m.log_softmax(_z(2, 3), axis=-3), ValueError, "Dimension out of range")


def test_empty_planes():
    _raises_same(lambda m: m.global_avg_pool2d(_z(2, 3, 0, 4)), ValueError, "must not be empty")
    _raises_same(lambda m: m.conv2d(_z(1, 3, 0, 8), _z(4, 3, 1, 1)), ValueError,
                 "Kernel size can't be greater")


def test_cross_entropy_needs_a_class():
    _raises_same(lambda m: m.cross_entropy(_z(2, 0), np.zeros(2, np.int64)), ValueError,
                 "at least one class")


def test_shape_helpers_validate_their_arguments():
    with pytest.raises(ValueError, match="negative entries"):
        conv2d_output_shape((1, 3, -1, 8), (4, 3, 3, 3))
    with pytest.raises(TypeError, match="tuple of ints"):
        pool2d_output_shape(5, 2)
    with pytest.raises(ValueError, match="Expected 4D"):
        pool2d_output_shape((3, 8, 8), 2)
    with pytest.raises(ValueError, match="channels"):
        conv2d_output_shape((1, 3, 8, 8), (4, 2, 3, 3))


def test_thread_and_workspace_settings_validate():
    before = fastconv.get_num_threads()
    try:
        for bad in (0, -1, 1.5, True, "2", None):
            with pytest.raises(ValueError, match="n must be an int >= 1"):
                fastconv.set_num_threads(bad)
        fastconv.set_num_threads(1)
        assert fastconv.get_num_threads() == 1
    finally:
        fastconv.set_num_threads(before)
    limit = fastconv.get_workspace_limit()
    try:
        for bad in (0, (1 << 20) - 1, 2.0 ** 30, True):
            with pytest.raises(ValueError, match="1048576"):
                fastconv.set_workspace_limit(bad)
        fastconv.set_workspace_limit(1 << 20)
        assert fastconv.get_workspace_limit() == 1 << 20
    finally:
        fastconv.set_workspace_limit(limit)
    mode = fastconv.get_winograd()
    assert mode == "auto"
    try:
        for bad in (1, "F4", None, "Auto"):
            with pytest.raises(ValueError, match=r"set_winograd: mode must be one of \['al"):
                fastconv.set_winograd(bad)
        for m in ("off", "always", "fast", "always-f4", "auto"):
            previous = fastconv.get_winograd()
            assert fastconv.set_winograd(m) == previous
            assert fastconv.get_winograd() == m
    finally:
        fastconv.set_winograd(mode)


@pytest.mark.parametrize("mask, exc, pattern", [
    ((True, True), ValueError, r"output_mask must have 3 entries .* but got 2"),
    (True, TypeError, r"output_mask must be a sequence of 3 bools, but got bool"),
    ((1, 1, 1), TypeError, r"output_mask entries must be bool, but got int"),
    (("yes", True, True), TypeError, r"output_mask entries must be bool, but got str"),
])
def test_output_mask_checks(mask, exc, pattern):
    x, w = _z(1, 2, 4, 4), _z(3, 2, 3, 3)
    _raises_same(lambda m: m.conv2d_backward(_z(1, 3, 2, 2), x, w, output_mask=mask), exc,
                 r"conv2d_backward: " + pattern)
    _raises_same(lambda m: m.linear_backward(_z(2, 3), _z(2, 4), _z(3, 4), output_mask=mask),
                 exc, r"linear_backward: " + pattern)
