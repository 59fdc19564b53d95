"""Normalisation layers on fastgan.ops: PixelNorm (ProGAN, StyleGAN mapping) and MinibatchStd
(ProGAN / StyleGAN2 discriminator epilogue)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .. import ops


class PixelNorm(nn.Module):
    """y = x * rsqrt(mean(x^2, dim) + eps): per-pixel feature normalisation (see fastgan.ops.pixel_norm)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8, impl: Optional[str] = None):
        super().__init__()
        self.dim = dim    # the dimension the mean runs over: channels, or features of a 2-D z
        self.eps = eps    # added to the mean of squares
        self.impl = impl  # backend; None follows fastgan.ops.use_backend / FASTGAN_BACKEND

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.pixel_norm(x, dim=self.dim, eps=self.eps, impl=self.impl)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


class MinibatchStd(nn.Module):
    """Appends `num_channels` channels holding the group standard deviation (see fastgan.ops.minibatch_std).

    ProGAN's layer is MinibatchStd(group_size=4, num_channels=1); StyleGAN2 uses the same
    defaults (its config-f discriminators use group_size=4, num_channels=1).
    """

    def __init__(self, group_size: Optional[int] = 4, num_channels: int = 1, eps: float = 1e-8,
                 impl: Optional[str] = None):
        super().__init__()
        self.group_size = group_size      # samples per group, min(group_size, N); None: the whole batch
        self.num_channels = num_channels  # statistics appended (channel parts)
        self.eps = eps                    # added to the variance before the square root
        self.impl = impl

    def out_channels(self, in_channels: int) -> int:
        return in_channels + self.num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.minibatch_std(x, self.group_size, self.num_channels, self.eps, impl=self.impl)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}, eps={self.eps}"
