"""Equalized-learning-rate and modulated convolution layers (ProGAN / StyleGAN2) on fastgan.ops.

EqualizedLinear / EqualizedConv2d store weights ~ N(0, 1) / lr_multiplier and scale them at run
time by lr_multiplier / sqrt(fan_in) (biases by lr_multiplier), so every parameter learns at the same
rate. ModulatedConv2d is StyleGAN2's synthesis layer and ToRGB its output layer, each one
fastgan.ops.modulated_conv2d call (convolution + fused epilogue).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from .. import ops
from ..ops.modulated_conv2d import conv2d_resample
from ..ops.reference import ACTIVATIONS


def auto_fused_modconv(module: nn.Module, x: torch.Tensor) -> bool:
    """The modulated-convolution strategy for fused_modconv=None: on the CPU the measured fastest
    (activation modulation, see benchmarks/RESULTS.md); elsewhere per-sample weights in eval mode
    and activation modulation in training, as StyleGAN2 does."""
    if x.device.type == "cpu":
        return False
    return not module.training


class EqualizedLinear(nn.Module):
    """y = bias_act(x @ (w * lr_multiplier / sqrt(in_features))^T, b * lr_multiplier, activation)
    (StyleGAN2's FullyConnectedLayer)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0, impl: Optional[str] = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation                              # bias_act activation, default gain applied
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)  # runtime equalisation
        self.bias_gain = lr_multiplier
        self.impl = impl                                           # backend; None follows fastgan.ops.use_backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None
        if self.bias is not None:
            b = self.bias.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None and x.dim() == 2:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, dim=x.dim() - 1, act=self.activation, impl=self.impl)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"activation={self.activation}, lr_multiplier={self.bias_gain}")


class EqualizedConv2d(nn.Module):
    """conv2d_resample with equalized weights, then bias_act (StyleGAN2's Conv2dLayer); up/down
    resample with the FIR filter, output clamped to +-conv_clamp * gain."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 lr_multiplier: float = 1.0, impl: Optional[str] = None):
        super().__init__()
        self.activation, self.up, self.down = activation, up, down  # bias_act activation; resampling factors
        self.conv_clamp = conv_clamp                                # clamp of the output (None: none)
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", ops.setup_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_channels * kernel_size ** 2)
        self.bias_gain = lr_multiplier
        self.impl = impl

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, self.up, self.down, self.padding, flip_weight=self.up == 1,
                            impl=self.impl)
        b = None if self.bias is None else (self.bias * self.bias_gain).to(x.dtype)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return ops.bias_act(x, b, act=self.activation, gain=ACTIVATIONS[self.activation][2] * gain, clamp=clamp,
                            impl=self.impl)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, activation={self.activation}, up={self.up}, down={self.down}"


class ModulatedConv2d(nn.Module):
    """StyleGAN2's synthesis layer: styles = affine(w) (bias initialised to 1), a modulated and
    demodulated convolution (up=2: transposed + FIR), noise with a learned strength, bias and
    activation, all in one fastgan.ops.modulated_conv2d call."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 3, up: int = 1,
                 resolution: Optional[int] = None, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 demodulate: bool = True, impl: Optional[str] = None):
        super().__init__()
        self.up, self.activation, self.conv_clamp = up, activation, conv_clamp
        self.demodulate, self.padding, self.impl = demodulate, kernel_size // 2, impl
        self.resolution = resolution      # output resolution; needed for noise_mode='const'
        self.use_noise = use_noise
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1, impl=impl)
        self.register_buffer("resample_filter", ops.setup_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if use_noise:
            if resolution is not None:
                self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                fused_modconv: Optional[bool] = None, gain: float = 1) -> torch.Tensor:
        """x: [N, C_in, H, W]; w: [N, w_dim]; noise_mode: random, const or none."""
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be random, const or none; got {noise_mode!r}")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            res = x.shape[2] * self.up, x.shape[3] * self.up
            noise = torch.randn(x.shape[0], 1, *res, device=x.device, dtype=x.dtype) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            if self.resolution is None:
                raise ValueError("noise_mode='const' needs the layer built with a resolution")
            noise = self.noise_const * self.noise_strength
        if fused_modconv is None:
            fused_modconv = auto_fused_modconv(self, x)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return ops.modulated_conv2d(x, self.weight, styles, noise, up=self.up, padding=self.padding,
                                    resample_filter=self.resample_filter, demodulate=self.demodulate,
                                    flip_weight=self.up == 1, fused_modconv=fused_modconv, bias=self.bias,
                                    act=self.activation, gain=gain, clamp=clamp, impl=self.impl)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, up={self.up}, activation={self.activation}, noise={self.use_noise}"


class ToRGB(nn.Module):
    """StyleGAN2's output layer: modulated 1x1 convolution without demodulation, bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None, impl: Optional[str] = None):
        super().__init__()
        self.conv_clamp, self.padding, self.impl = conv_clamp, kernel_size // 2, impl
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1, impl=impl)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: Optional[bool] = None) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        if fused_modconv is None:
            fused_modconv = auto_fused_modconv(self, x)
        return ops.modulated_conv2d(x, self.weight, styles, padding=self.padding, demodulate=False,
                                    fused_modconv=fused_modconv, bias=self.bias, clamp=self.conv_clamp,
                                    impl=self.impl)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}"
