"""FIR resampling layers on fastgan.ops.upfirdn2d: Upsample2d, Downsample2d and Blur, with the
StyleGAN2 conventions for padding and gain (see fastgan.ops.upsample2d / downsample2d / filter2d)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .. import ops


class _FIR(nn.Module):
    def __init__(self, filter: Sequence[float], impl: Optional[str]):
        super().__init__()
        self.register_buffer("filter", ops.setup_filter(filter))  # normalised 2-D (or >= 8 taps: 1-D) FIR filter
        self.impl = impl                                           # backend; None follows fastgan.ops.use_backend


class Upsample2d(_FIR):
    """Upsample by `factor` (zero insertion + FIR filter, gain factor^2): [N, C, H, W] -> [N, C, fH, fW]."""

    def __init__(self, factor: int = 2, filter: Sequence[float] = (1, 3, 3, 1), impl: Optional[str] = None):
        super().__init__(filter, impl)
        self.factor = factor  # integer upsampling factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.upsample2d(x, self.filter, up=self.factor, impl=self.impl)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, taps={tuple(self.filter.shape)}"


class Downsample2d(_FIR):
    """FIR filter + keep every `factor`-th sample: [N, C, H, W] -> [N, C, H/f, W/f]."""

    def __init__(self, factor: int = 2, filter: Sequence[float] = (1, 3, 3, 1), impl: Optional[str] = None):
        super().__init__(filter, impl)
        self.factor = factor  # integer downsampling factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.downsample2d(x, self.filter, down=self.factor, impl=self.impl)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, taps={tuple(self.filter.shape)}"


class Blur(_FIR):
    """FIR low-pass filter keeping the size (centred padding, plus `padding`), scaled by `gain`."""

    def __init__(self, filter: Sequence[float] = (1, 3, 3, 1), padding=0, gain: float = 1,
                 impl: Optional[str] = None):
        super().__init__(filter, impl)
        self.padding = padding  # extra padding: int, (px, py) or (x0, x1, y0, y1)
        self.gain = gain        # overall filter gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.filter2d(x, self.filter, padding=self.padding, gain=self.gain, impl=self.impl)

    def extra_repr(self) -> str:
        return f"taps={tuple(self.filter.shape)}, padding={self.padding}, gain={self.gain}"
