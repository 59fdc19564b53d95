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

from . import reference
from ._backend import resolve
from ._common import check_dim, check_number, check_tensor, dense, like_layout, outer_c_inner
from ._op import Kernel, fused_op

_FWD = Kernel("pixel_norm_fwd", "x: Tensor, y: Tensor, outer: int, c: int, inner: int, eps: float",
              triton="pixel_norm.fwd")
_GRAD = Kernel("pixel_norm_grad", "dy: Tensor, x: Tensor, dx: Tensor, outer: int, c: int, inner: int, eps: float",
               triton="pixel_norm.grad")


# ------------------------------------------------------------------ registered ops
def _run_fwd(x: torch.Tensor, dim: int, eps: float, backend: str) -> torch.Tensor:
    x = dense(x)
    y = torch.empty_like(x)
    if x.numel():
        _FWD(backend, x, y, *outer_c_inner(x, dim), eps)
    return y


def _run_grad(dy: torch.Tensor, x: torch.Tensor, dim: int, eps: float, backend: str) -> torch.Tensor:
    x = dense(x)
    dx = torch.empty_like(x)
    if x.numel():
        _GRAD(backend, like_layout(dy, x), x, dx, *outer_c_inner(x, dim), eps)
    return dx


def _fake_fwd(x, dim, eps, backend):
    return torch.empty_like(dense(x))


def _fake_grad(dy, x, dim, eps, backend):
    return torch.empty_like(dense(x))


def _setup_fwd(ctx, inputs, output):
    x, dim, eps, backend = inputs
    ctx.save_for_backward(x)
    ctx.args = (dim, eps, backend)


def _backward_fwd(ctx, dy):
    (x,) = ctx.saved_tensors
    dim, eps, backend = ctx.args
    return _pixel_norm_grad[backend](dy, x, dim, eps, backend), None, None, None




def _setup_grad(ctx, inputs, output):
    dy, x, dim, eps, backend = inputs
    ctx.save_for_backward(dy, x)
    ctx.args = (dim, eps, backend)


def _backward_grad(ctx, u):
    # dx = J dy with J = r I - r^3 x x^T / C symmetric, so d/d dy = J u = pixel_norm_grad(u, x).
    # d/dx = r^3 (3 r^2 s b x - a x - s u - b dy), a = mean(u dy), b = mean(u x), s = mean(dy x).
    dy, x = ctx.saved_tensors
    dim, eps, backend = ctx.args
    d_dy = _pixel_norm_grad[backend](u, x, dim, eps, backend) if ctx.needs_input_grad[0] else None
    d_x = None
    if ctx.needs_input_grad[1]:
        def mean(t):
            return t.mean(dim=dim, keepdim=True)

        r = (mean(x.square()) + eps).rsqrt()
        a, b, s = mean(u * dy), mean(u * x), mean(dy * x)
        r3 = r * r * r
        d_x = r3 * ((3 * r * r * s * b - a) * x - s * u - b * dy)
    return d_dy, d_x, None, None, None


_pixel_norm = fused_op("pixel_norm", _run_fwd, fake=_fake_fwd, setup_context=_setup_fwd, backward=_backward_fwd)
_pixel_norm_grad = fused_op("pixel_norm_grad", _run_grad, fake=_fake_grad, setup_context=_setup_grad,
                            backward=_backward_grad)


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
    check_tensor(x, "x", min_ndim=1)
    dim = check_dim(dim, x.dim())
    eps = check_number(eps, "eps", positive=True)
    backend = resolve("pixel_norm", impl, x.device)
    if backend == "ref":
        return reference.pixel_norm(x, dim, eps)
    return _pixel_norm[backend](x, dim, eps, backend)
