import math

import torch

from bench_ops import Case
from fastgan.ops import pixel_norm, reference


def _case(shape):
    def make():
        return (torch.randn(*shape, requires_grad=True),)

    return Case(
        name=f"{list(shape)} f32",
        make=make,
        ref=lambda x: reference.pixel_norm(x, 1, 1e-8),
        fused=lambda x, impl: pixel_norm(x, impl=impl),
        floor_bytes=math.prod(shape) * 4,
    )


CASES = [_case((32, 512, 8, 8)), _case((32, 256, 32, 32)), _case((4096, 512))]
