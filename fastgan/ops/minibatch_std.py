"""minibatch_std: StyleGAN2's minibatch standard deviation layer, fused.

For x of shape [N, C, H, W], G = min(group_size, N) (N when group_size is None); sample n is in
group n mod (N/G). The C channels split into F = num_channels parts of c = C/F channels. Per
group and part: the standard deviation over the group of every (channel, pixel), with eps
added to the variance, averaged over the part's channels and pixels. These F numbers are
tiled over the members and pixels and appended as F channels: y is [N, C+F, H, W].
ProGAN's layer is group_size=4, num_channels=1.

The backward is the registered op `fastgan::minibatch_std_grad`; its own backward (written
with differentiable torch ops) makes R1 through a discriminator that uses this layer work.
"""
from __future__ import annotations

from typing import Optional

import torch

from . import reference
from ._backend import resolve
from ._common import check_number, check_tensor, dense
from ._op import Kernel, fused_op

_FWD = Kernel("minibatch_std_fwd", "x: Tensor, y: Tensor, n: int, c: int, hw: int, G: int, F: int, eps: float, "
              "channels_last: bool", triton="minibatch_std.fwd")
_GRAD = Kernel("minibatch_std_grad", "dy: Tensor, x: Tensor, dx: Tensor, n: int, c: int, hw: int, G: int, F: int, "
               "eps: float, channels_last: bool", triton="minibatch_std.grad")


def _layout(x):
    """(dense x, channels_last?) where channels_last means x is dense channels_last, not contiguous."""
    x = dense(x)
    return x, not x.is_contiguous()


def _empty_out(x, F, cl):
    N, Cc, H, W = x.shape
    if not cl:
        return x.new_empty((N, Cc + F, H, W))  # ~0.6 us cheaper than torch.empty(..., memory_format=)
    return torch.empty((N, Cc + F, H, W), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)


def _match(dy, cl):
    return dy.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)


# ------------------------------------------------------------------ registered ops
def _run_fwd(x: torch.Tensor, G: int, F: int, eps: float, backend: str) -> torch.Tensor:
    x, cl = _layout(x)
    y = _empty_out(x, F, cl)
    N, Cc, H, W = x.shape
    _FWD(backend, x, y, N, Cc, H * W, G, F, eps, cl)
    return y


def _run_grad(dy: torch.Tensor, x: torch.Tensor, G: int, F: int, eps: float, backend: str) -> torch.Tensor:
    x, cl = _layout(x)
    dy = _match(dy, cl)
    dx = torch.empty_like(x)
    N, Cc, H, W = x.shape
    _GRAD(backend, dy, x, dx, N, Cc, H * W, G, F, eps, cl)
    return dx


def _fake_fwd(x, G, F, eps, backend):
    x, cl = _layout(x)
    return _empty_out(x, F, cl)


def _fake_grad(dy, x, G, F, eps, backend):
    return torch.empty_like(dense(x))


def _setup_fwd(ctx, inputs, output):
    x, G, F, eps, backend = inputs
    ctx.save_for_backward(x)
    ctx.args = (G, F, eps, backend)


def _backward_fwd(ctx, dy):
    (x,) = ctx.saved_tensors
    return _minibatch_std_grad[ctx.args[-1]](dy, x, *ctx.args), None, None, None, None




def _setup_grad(ctx, inputs, output):
    dy, x, G, F, eps, backend = inputs
    ctx.save_for_backward(dy, x)
    ctx.args = (G, F, eps)


def _backward_grad(ctx, u):
    # dx = dy[:, :C] + coef[m, f] * z with z = (x - mean_g x) / sd, coef = gstat / (c*HW*G) and
    # gstat[m, f] the sum of dy[:, C+f] over the group's members and pixels. So
    #   d/d dy[:, :C] = u,   d/d dy[:, C+f] = sum(u * z over the part) / (c*HW*G) tiled,
    #   d/dx = (w - mean_g w) / sd - d * mean_g(w * d) / sd^3,   w = coef * u, d = x - mean_g x.
    dy, x = ctx.saved_tensors
    G, F, eps = ctx.args
    N, Cc, H, W = x.shape
    M, c = N // G, Cc // F
    xv = x.reshape(G, M, F, c, H, W)
    uv = u.reshape(G, M, F, c, H, W)
    d = xv - xv.mean(dim=0)
    sd = (d.square().mean(dim=0) + eps).sqrt()
    norm = 1.0 / (c * H * W * G)
    d_dy = d_x = None
    if ctx.needs_input_grad[0]:
        h = (uv * d / sd).sum(dim=(0, 3, 4, 5)) * norm  # [M, F]
        tiled = h.reshape(1, M, F, 1, 1).expand(G, M, F, H, W).reshape(N, F, H, W)
        d_dy = torch.cat([u, tiled.to(u.dtype)], dim=1)
    if ctx.needs_input_grad[1]:
        coef = dy[:, Cc:].reshape(G, M, F, H, W).sum(dim=(0, 3, 4)) * norm  # [M, F]
        w = uv * coef.reshape(1, M, F, 1, 1, 1)
        d_x = ((w - w.mean(dim=0)) / sd - d * (w * d).mean(dim=0) / sd.pow(3)).reshape(x.shape)
    return d_dy, d_x, None, None, None, None


_minibatch_std = fused_op("minibatch_std", _run_fwd, fake=_fake_fwd, setup_context=_setup_fwd, backward=_backward_fwd)
_minibatch_std_grad = fused_op("minibatch_std_grad", _run_grad, fake=_fake_grad, setup_context=_setup_grad,
                               backward=_backward_grad)


# ------------------------------------------------------------------ public API
def _check_int(v, name, minimum=1):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def minibatch_std(x: torch.Tensor, group_size: Optional[int] = 4, num_channels: int = 1, eps: float = 1e-8,
                  impl: Optional[str] = None) -> torch.Tensor:
    """Append the minibatch standard deviation as `num_channels` extra channels (StyleGAN2 semantics).

    Args:
        x: [N, C, H, W] feature maps (float32/64/16, bfloat16; contiguous, channels_last or strided).
        group_size: G = min(group_size, N) samples per group, None for the whole batch; G must divide N.
            Sample n is in group n mod (N/G).
        num_channels: F, the number of statistics (channel parts); must divide C.
        eps: added to the variance before the square root; must be > 0.
        impl: backend (ref, cpu, triton, cuda, auto); see fastgan.ops.use_backend.
    Returns [N, C + F, H, W] in x's dtype; channels_last when x is.
    """
    check_tensor(x, "x", ndim=(4,))
    N, Cc = x.shape[0], x.shape[1]
    if N == 0:
        raise ValueError("x must hold at least one sample, got shape " + str(tuple(x.shape)))
    G = N if group_size is None else min(_check_int(group_size, "group_size"), N)
    if N % G:
        raise ValueError(f"group_size={group_size} gives groups of {G} samples, which does not divide the batch N={N}")
    F = _check_int(num_channels, "num_channels")
    if Cc % F:
        raise ValueError(f"num_channels={F} does not divide the {Cc} channels of x")
    eps = check_number(eps, "eps", positive=True)
    backend = resolve("minibatch_std", impl, x.device)
    if backend == "ref":
        return reference.minibatch_std(x, G, F, eps)
    if x.numel() == 0:  # C, H or W is 0: nothing to reduce
        return reference.minibatch_std(x, G, F, eps)
    return _minibatch_std[backend](x, G, F, eps, backend)
