import math

import torch

from bench_ops import Case
from fastgan.ops import minibatch_std, reference


def _case(shape):
    def make():
        return (torch.randn(*shape, requires_grad=True),)

    return Case(
        name=f"{list(shape)} G=4 F=1 f32",
        make=make,
        ref=lambda x: reference.minibatch_std(x, 4, 1, 1e-8),
        fused=lambda x, impl: minibatch_std(x, 4, 1, impl=impl),
        floor_bytes=math.prod(shape) * 4,
    )


CASES = [_case((32, 512, 4, 4)), _case((64, 256, 8, 8))]
