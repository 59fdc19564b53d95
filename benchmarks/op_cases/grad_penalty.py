import math

import torch

from bench_ops import Case
from fastgan.ops import grad_norm_penalty, grad_sq_norm, lerp_samples, reference


def _grads(shape):
    return lambda: (torch.randn(*shape, requires_grad=True),)


def _cases(shape):
    nbytes = math.prod(shape) * 4
    return [
        Case(name=f"grad_norm_penalty {list(shape)} f32", make=_grads(shape),
             ref=lambda g: reference.grad_norm_penalty(g, 1.0, False),
             fused=lambda g, impl: grad_norm_penalty(g, impl=impl), floor_bytes=nbytes),
        Case(name=f"grad_sq_norm {list(shape)} f32", make=_grads(shape),
             ref=lambda g: reference.grad_sq_norm(g),
             fused=lambda g, impl: grad_sq_norm(g, impl=impl), floor_bytes=nbytes),
    ]


def _lerp(shape):
    def make():
        return (torch.randn(*shape, requires_grad=True), torch.randn(*shape, requires_grad=True),
                torch.rand(shape[0], requires_grad=True))

    return Case(name=f"lerp_samples {list(shape)} f32", make=make,
                ref=lambda r, f, a: reference.lerp_samples(r, f, a),
                fused=lambda r, f, a, impl: lerp_samples(r, f, a, impl=impl), floor_bytes=2 * math.prod(shape) * 4)


CASES = _cases((64, 3, 64, 64)) + _cases((32, 3, 256, 256)) + [_lerp((64, 3, 64, 64))]
