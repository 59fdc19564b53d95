"""Shims for rosinality's stylegan2-pytorch (`op.fused_act`, `op.upfirdn2d`).

That code base builds its CUDA extensions at import time: `op/fused_act.py` and `op/upfirdn2d.py`
call torch.utils.cpp_extension.load in their module body. Patched before they are imported (or
with FASTGAN_PATCH at interpreter start), that call gets a stand-in extension object instead, so
nothing is compiled; the shims below never touch it.
"""
from __future__ import annotations

import importlib
from collections import abc

import torch

from ._targets import Target

_fops = importlib.import_module("fastgan.ops")


def _shim(original, impl, fn, name):
    fn.__name__ = name
    fn.__qualname__ = name
    fn._fastgan_original = original
    fn._fastgan_impl = impl
    return fn


def _lrelu_ok(input, bias):
    return (isinstance(input, torch.Tensor) and input.is_floating_point() and input.dim() >= 2
            and (bias is None or (isinstance(bias, torch.Tensor) and bias.dtype == input.dtype)))


def _lrelu(input, bias, negative_slope, scale, impl):
    return _fops.bias_act(input, bias, dim=1, act="lrelu", alpha=float(negative_slope), gain=float(scale), impl=impl)


def make_fused_leaky_relu(original, impl):
    def fused_leaky_relu(input, bias=None, negative_slope=0.2, scale=2 ** 0.5):
        """fastgan.ops.bias_act(input, bias, dim=1, act='lrelu', alpha=negative_slope, gain=scale).

        Follows the original's fused (CUDA) op: negative_slope is honoured. The original's CPU path
        hard-codes a slope of 0.2 whatever negative_slope says; the two agree for the default 0.2,
        which is what the code base uses. A bias of another dtype than input runs the original.
        """
        if not _lrelu_ok(input, bias):
            return original(input, bias, negative_slope, scale)
        return _lrelu(input, bias, negative_slope, scale, _impl)

    _impl = impl
    return _shim(original, impl, fused_leaky_relu, "fused_leaky_relu")


def make_fused_leaky_relu_forward(original, impl):
    def forward(self, input):
        """FusedLeakyReLU.forward through fastgan.ops.bias_act (as the fused_leaky_relu shim)."""
        if not _lrelu_ok(input, self.bias):
            return original(self, input)
        return _lrelu(input, self.bias, self.negative_slope, self.scale, _impl)

    _impl = impl
    return _shim(original, impl, forward, "forward")


def _pair(v):
    return tuple(v) if isinstance(v, abc.Iterable) else (v, v)


def make_upfirdn2d(original, impl):
    def upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0)):
        """fastgan.ops.upfirdn2d in place of op.upfirdn2d.upfirdn2d, with this code base's conventions.

        `kernel` is a 2-D filter applied as a convolution (flipped), gain 1; `up` and `down` are an int
        or (x, y); `pad` is (x0, x1, y0, y1), or (p0, p1) meaning p0 before and p1 after on both axes
        (not NVIDIA's (px, py)). A kernel that is not 2-D, requires grad or lives on another device
        runs the original.
        """
        if (not isinstance(input, torch.Tensor) or input.dim() != 4 or not isinstance(kernel, torch.Tensor)
                or kernel.dim() != 2 or not kernel.is_floating_point() or kernel.requires_grad
                or kernel.device != input.device):
            return original(input, kernel, up=up, down=down, pad=pad)
        p = tuple(pad)
        if len(p) == 2:
            p = (p[0], p[1], p[0], p[1])
        return _fops.upfirdn2d(input, kernel, up=_pair(up), down=_pair(down), padding=p, impl=_impl)

    _impl = impl
    return _shim(original, impl, upfirdn2d, "upfirdn2d")


_NO_OP = "fastgan has no op for it; it runs PyTorch's own convolutions and builds nothing"

ROSINALITY = [
    Target("op.fused_act", "fused_leaky_relu", make_fused_leaky_relu, ("input", "bias", "negative_slope", "scale")),
    Target("op.fused_act", "FusedLeakyReLU.forward", make_fused_leaky_relu_forward, ("self", "input")),
    Target("op.upfirdn2d", "upfirdn2d", make_upfirdn2d, ("input", "kernel", "up", "down", "pad")),
    Target("op.conv2d_gradfix", "conv2d", None, note=_NO_OP),
    Target("op.conv2d_gradfix", "conv_transpose2d", None, note=_NO_OP),
]

# Modules whose body calls cpp_extension.load at import: they get a stand-in extension object.
IMPORT_TIME_BUILDS = ("op.fused_act", "op.upfirdn2d")

ROOTS = ("op",)
