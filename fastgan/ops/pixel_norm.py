"""pixel_norm: y = x * rsqrt(mean(x^2, dim) + eps) in one pass over memory.

Used by ProGAN's generator after every conv and by StyleGAN's mapping network on z. The
backward is the registered op `fastgan::pixel_norm_grad`,
    dx = r * dy - x * r^3 * mean(dy * x),   r = rsqrt(mean(x^2) + eps),
whose own backward (below) is written with differentiable torch ops and `pixel_norm_grad`
itself, so any derivative order works.
"""
from __future__ import annotations

from typing import Optional

import torch

from . import _common as C
from . import _dispatch as D
from . import reference
from ._backend import resolve


def _run(x, dy, dim, eps, backend):
    """Forward (dy None) or backward of pixel_norm on a fused backend."""
    x = C.dense(x)
    out = torch.empty_like(x)
    if x.numel() == 0:
        return out
    if dy is not None:
        dy = C.like_layout(dy, x)
    outer, c, inner = C.outer_c_inner(x, dim)
    if backend in ("cpu", "cuda"):
        code = C.DTYPE_CODE[x.dtype]
        if dy is None:
            C.call_native(backend, "pixel_norm_fwd", x, code, C.ptr(x), C.ptr(out), outer, c, inner, eps)
        else:
            C.call_native(backend, "pixel_norm_grad", x, code, C.ptr(dy), C.ptr(x), C.ptr(out), outer, c, inner, eps)
    elif backend == "triton":
        from .triton import pixel_norm as tk
        tk.run(x, dy, out, outer, c, inner, eps)
    else:
        raise AssertionError(backend)
    return out


# ------------------------------------------------------------------ registered ops
@torch.library.custom_op("fastgan::pixel_norm", mutates_args=())
def _pixel_norm_op(x: torch.Tensor, dim: int, eps: float, backend: str) -> torch.Tensor:
    return _run(x, None, dim, eps, backend)


@_pixel_norm_op.register_fake
def _(x, dim, eps, backend):
    return torch.empty_like(C.dense(x))


@torch.library.custom_op("fastgan::pixel_norm_grad", mutates_args=())
def _pixel_norm_grad_op(dy: torch.Tensor, x: torch.Tensor, dim: int, eps: float, backend: str) -> torch.Tensor:
    return _run(x, dy, dim, eps, backend)


@_pixel_norm_grad_op.register_fake
def _(dy, x, dim, eps, backend):
    return torch.empty_like(C.dense(x))


def _setup_fwd(ctx, inputs, output):
    x, dim, eps, backend = inputs
    ctx.save_for_backward(x)
    ctx.args = (dim, eps, backend)


def _backward_fwd(ctx, dy):
    (x,) = ctx.saved_tensors
    dim, eps, backend = ctx.args
    return _pixel_norm_grad(dy, x, dim, eps, backend), None, None, None


_pixel_norm = D.register_autograd(_pixel_norm_op, _backward_fwd, setup_context=_setup_fwd)


def _setup_grad(ctx, inputs, output):
    dy, x, dim, eps, backend = inputs
    ctx.save_for_backward(dy, x)
    ctx.args = (dim, eps, backend)


def _backward_grad(ctx, u):
    # dx = J dy with J = r I - r^3 x x^T / C symmetric, so d/d dy = J u = pixel_norm_grad(u, x).
    # d/dx = r^3 (3 r^2 s b x - a x - s u - b dy), a = mean(u dy), b = mean(u x), s = mean(dy x).
    dy, x = ctx.saved_tensors
    dim, eps, backend = ctx.args
    d_dy = _pixel_norm_grad(u, x, dim, eps, backend) if ctx.needs_input_grad[0] else None
    d_x = None
    if ctx.needs_input_grad[1]:
        def mean(t):
            return t.mean(dim=dim, keepdim=True)

        r = (mean(x.square()) + eps).rsqrt()
        a, b, s = mean(u * dy), mean(u * x), mean(dy * x)
        r3 = r * r * r
        d_x = r3 * ((3 * r * r * s * b - a) * x - s * u - b * dy)
    return d_dy, d_x, None, None, None


_pixel_norm_grad = D.register_autograd(_pixel_norm_grad_op, _backward_grad, setup_context=_setup_grad)


# ------------------------------------------------------------------ public API
def pixel_norm(x: torch.Tensor, dim: int = 1, eps: float = 1e-8, impl: Optional[str] = None) -> torch.Tensor:
    """Pixelwise feature normalisation: y = x * rsqrt(mean(x^2, dim) + eps).

    Args:
        x: input tensor with at least one dimension, any layout (float32/64/16, bfloat16).
        dim: the dimension the mean of squares runs over (the channels for ProGAN, the
            features for a mapping network's z).
        eps: added to the mean of squares before the rsqrt; must be > 0.
        impl: backend (ref, cpu, triton, cuda, auto); see fastgan.ops.use_backend.
    Returns a tensor of x's shape, dtype and layout (channels_last stays channels_last).
    """
    C.check_tensor(x, "x", min_ndim=1)
    dim = C.check_dim(dim, x.dim())
    eps = C.check_number(eps, "eps", positive=True)
    backend = resolve("pixel_norm", impl, x.device)
    if backend == "ref":
        return reference.pixel_norm(x, dim, eps)
    return _pixel_norm(x, dim, eps, backend)
