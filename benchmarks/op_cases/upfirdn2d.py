"""upfirdn2d cases: StyleGAN2's up2 / down2 with the 4-tap [1,3,3,1] filter (as its 4x4 outer
product, which setup_filter returns) on [16,256,64,64], against the reference (pad + depthwise
conv2d, as NVlabs' reference path)."""
import math

import torch

from bench_ops import Case
from fastgan.ops import downsample2d, reference, setup_filter, upsample2d

F = setup_filter([1, 3, 3, 1])
SHAPE = (16, 256, 64, 64)


def _make(cl=False):
    def make():
        x = torch.randn(*SHAPE)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        return (x.requires_grad_(),)
    return make


def _cases(cl):
    tag = " channels_last" if cl else ""
    n = math.prod(SHAPE) * 4
    return [
        Case(name=f"{list(SHAPE)} up2 [1,3,3,1]{tag}", make=_make(cl),
             ref=lambda x: reference.upfirdn2d(x, F, up=2, padding=[2, 1, 2, 1], gain=4),
             fused=lambda x, impl: upsample2d(x, F, impl=impl), floor_bytes=4 * n),
        Case(name=f"{list(SHAPE)} down2 [1,3,3,1]{tag}", make=_make(cl),
             ref=lambda x: reference.upfirdn2d(x, F, down=2, padding=[1, 1, 1, 1]),
             fused=lambda x, impl: downsample2d(x, F, impl=impl), floor_bytes=n),
    ]


CASES = _cases(False) + _cases(True)
