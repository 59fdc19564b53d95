import math

import torch

from bench_ops import Case
from fastgan.ops import bias_act, reference


def _case(shape):
    def make():
        x = torch.randn(*shape, requires_grad=True)
        b = torch.randn(shape[1], requires_grad=True)
        return x, b

    return Case(
        name=f"{list(shape)} lrelu+bias f32",
        make=make,
        ref=lambda x, b: reference.bias_act(x, b, act="lrelu", alpha=0.2, gain=math.sqrt(2)),
        fused=lambda x, b, impl: bias_act(x, b, act="lrelu", impl=impl),
        floor_bytes=math.prod(shape) * 4,
    )


CASES = [_case((32, 256, 32, 32)), _case((16, 512, 64, 64))]
