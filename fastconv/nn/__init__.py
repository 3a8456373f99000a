"""Layer API in PyTorch's naming on top of the functional ops (``fastconv.functional``).

Modules compute ``forward`` and an explicit ``backward``; see :class:`Module` for how to write the
backward of a model that composes layers.
"""
from . import init, utils
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GroupNorm,
                     Identity, LayerNorm, LeakyReLU, Linear, MaxPool2d, ReLU, Sigmoid, Tanh)
from .fused import ConvBlock, LinearBlock, fusable, fuse
from .loss import CrossEntropyLoss
from .module import Module, Parameter, Sequential, enable_grad, no_grad
from .summary import SummaryRows, summary

__all__ = [
    "init", "Module", "Parameter", "Sequential", "Conv2d", "Linear", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "ReLU", "Flatten", "Dropout", "Identity", "CrossEntropyLoss", "summary",
    "SummaryRows", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Sigmoid", "Tanh", "LeakyReLU",
    "no_grad", "enable_grad", "utils", "fuse", "fusable", "ConvBlock", "LinearBlock",
]
