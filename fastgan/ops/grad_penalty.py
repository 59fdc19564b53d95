"""The gradient-penalty family: fused per-sample reductions of gradients and the WGAN-GP lerp.

    grad_sq_norm(g)                      ||g_n||^2                             (R1, R2)
    grad_norm_penalty(g, target, one_sided)  (||g_n|| - target)^2 or max(0, .)^2  (WGAN-GP)
    path_length_norm(g)                  sqrt(mean over ws of sum over w_dim of g^2)  (path length)
    lerp_samples(real, fake, alpha)      real + alpha_n * (fake - real)        (WGAN-GP interpolates)

The norms run over all non-batch dimensions. The three reductions share the registered op
`fastgan::grad_reduce` (one pass: sum of squares and the per-sample finish) returning the value
and the norm r = ||g_n||; its backward `fastgan::grad_reduce_grad` is one elementwise pass
dg = g * k_n. Both are differentiable again (torch ops), so third-order terms work too.
Per-sample values come back in the accumulate dtype (float32 for float16/bfloat16 gradients,
whose squared norms overflow float16 easily).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from . import reference
from ._backend import resolve
from ._common import check_number, check_same, check_tensor, dense, like_layout
from ._op import Kernel, fused_op

MODES = ("sq_norm", "norm_penalty", "path_length")  # codes = index, as in csrc/include/fastgan/grad_penalty.h


_REDUCE = Kernel("grad_reduce_fwd", "g: Tensor, out: Acc, r: Acc, n: int, k: int, mode: int, target: float, "
                 "one_sided: bool, num_ws: int", triton="grad_penalty.reduce_fwd")
_REDUCE_GRAD = Kernel("grad_reduce_grad", "dout: Acc, dr: Acc?, r: Acc, g: Tensor, dg: Tensor, n: int, "
                      "k: int, mode: int, target: float, one_sided: bool, num_ws: int",
                      triton="grad_penalty.reduce_grad")
_LERP = Kernel("lerp_samples_fwd", "real: Tensor, fake: Tensor, alpha: Tensor, out: Tensor, n: int, k: int",
               triton="grad_penalty.lerp_fwd")
_LERP_GRAD = Kernel("lerp_samples_grad", "dout: Tensor, real: Tensor, fake: Tensor, alpha: Tensor, d_real: Tensor?, "
                    "d_fake: Tensor?, d_alpha: Tensor?, n: int, k: int", triton="grad_penalty.lerp_grad")


def _acc_dtype(dtype):
    return torch.promote_types(dtype, torch.float32)


def _samples(g):
    """Dense g and (N, K): sample n is the K contiguous elements from n * K."""
    g = dense(g)
    n = g.shape[0]
    return g, n, (g.numel() // n if n else 0)


# ------------------------------------------------------------------ reductions: forward
def _run_reduce(g: torch.Tensor, mode: str, target: float, one_sided: bool, num_ws: int,
                backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    g, N, K = _samples(g)
    out = g.new_empty(N, dtype=_acc_dtype(g.dtype))
    r = torch.empty_like(out)
    if N:
        _REDUCE(backend, g, out, r, N, K, MODES.index(mode), target, one_sided, num_ws)
    return out, r


def _run_reduce_grad(dout: torch.Tensor, dr: Optional[torch.Tensor], r: torch.Tensor, g: torch.Tensor, mode: str,
                     target: float, one_sided: bool, num_ws: int, backend: str) -> torch.Tensor:
    g, N, K = _samples(g)
    dg = torch.empty_like(g)
    if g.numel():
        _REDUCE_GRAD(backend, dout.contiguous(), dr.contiguous() if dr is not None else None, r.contiguous(), g, dg, N,
                     K, MODES.index(mode), target, one_sided, num_ws)
    return dg


def _fake_reduce(g, mode, target, one_sided, num_ws, backend):
    out = g.new_empty(g.shape[0], dtype=_acc_dtype(g.dtype))
    return out, torch.empty_like(out)


def _fake_reduce_grad(dout, dr, r, g, mode, target, one_sided, num_ws, backend):
    return torch.empty_like(dense(g))


def _setup_reduce(ctx, inputs, output):
    g, mode, target, one_sided, num_ws, backend = inputs
    ctx.save_for_backward(g, output[1])
    ctx.args = (mode, target, one_sided, num_ws, backend)


def _backward_reduce(ctx, dout, dr):
    g, r = ctx.saved_tensors
    if dout is None:
        dout = torch.zeros_like(r)
    return _grad_reduce_grad[ctx.args[-1]](dout, dr, r, g, *ctx.args), None, None, None, None, None


def _coef_partials(dout, dr, r, mode, target, one_sided, num_ws):
    """k (dg = g * k) and its partial derivatives in dout, dr and r, as differentiable torch ops."""
    pos = r > 0
    safe = torch.where(pos, r, torch.ones_like(r))
    zero = torch.zeros_like(r)
    dr = zero if dr is None else dr
    if mode == "norm_penalty":
        d = r - target
        h, dh = 2 * d, torch.full_like(r, 2.0)  # d out / d r and its derivative
        if one_sided:
            h, dh = torch.where(d > 0, h, zero), torch.where(d > 0, dh, zero)
    elif mode == "path_length":
        h, dh = torch.full_like(r, 1.0 / math.sqrt(num_ws)), zero
    else:
        h, dh = zero, zero
    base = 2.0 if mode == "sq_norm" else 0.0
    k = base * dout + torch.where(pos, (dr + dout * h) / safe, zero)
    k_dout = base + torch.where(pos, h / safe, zero)
    k_dr = torch.where(pos, 1 / safe, zero)
    k_r = torch.where(pos, dout * dh / safe - (dr + dout * h) / safe.square(), zero)
    return k, k_dout, k_dr, k_r


def _setup_reduce_grad(ctx, inputs, output):
    dout, dr, r, g, mode, target, one_sided, num_ws, backend = inputs
    ctx.save_for_backward(dout, dr, r, g)
    ctx.args = (mode, target, one_sided, num_ws)


def _backward_reduce_grad(ctx, u):
    dout, dr, r, g = ctx.saved_tensors
    k, k_dout, k_dr, k_r = _coef_partials(dout, dr, r, *ctx.args)
    view = [-1] + [1] * (g.dim() - 1)
    d_g = (u * k.reshape(view).to(u.dtype)) if ctx.needs_input_grad[3] else None
    s = (u.to(r.dtype) * g.to(r.dtype)).reshape(g.shape[0], -1).sum(dim=1)  # per-sample <u, g>
    d_dout = s * k_dout if ctx.needs_input_grad[0] else None
    d_dr = s * k_dr if dr is not None and ctx.needs_input_grad[1] else None
    d_r = s * k_r if ctx.needs_input_grad[2] else None
    return d_dout, d_dr, d_r, d_g, None, None, None, None, None


_grad_reduce = fused_op("grad_reduce", _run_reduce, fake=_fake_reduce, setup_context=_setup_reduce,
                        backward=_backward_reduce)
_grad_reduce_grad = fused_op("grad_reduce_grad", _run_reduce_grad, fake=_fake_reduce_grad,
                             setup_context=_setup_reduce_grad, backward=_backward_reduce_grad)


# ------------------------------------------------------------------ lerp_samples
def _run_lerp(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor, backend: str) -> torch.Tensor:
    real = dense(real)
    out = torch.empty_like(real)
    if out.numel():
        N = real.shape[0]
        _LERP(backend, real, like_layout(fake, real), alpha, out, N, real.numel() // N)
    return out


def _lerp_grad_outputs(real, alpha, need):
    d_real = torch.empty_like(real) if need[0] else real.new_empty(0)
    d_fake = torch.empty_like(real) if need[1] else real.new_empty(0)
    d_alpha = torch.empty_like(alpha) if need[2] else alpha.new_empty(0)
    return d_real, d_fake, d_alpha


def _run_lerp_grad(dout: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor, need: list[bool],
                   backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    real = dense(real)
    outs = _lerp_grad_outputs(real, alpha, need)
    if real.numel() == 0:
        outs[2].zero_()
        return outs
    N = real.shape[0]
    _LERP_GRAD(backend, like_layout(dout, real), real, like_layout(fake, real), alpha,
               *[t if n else None for t, n in zip(outs, need)], N, real.numel() // N)
    return outs


def _fake_lerp(real, fake, alpha, backend):
    return torch.empty_like(dense(real))


def _fake_lerp_grad(dout, real, fake, alpha, need, backend):
    return _lerp_grad_outputs(dense(real), alpha, need)


def _setup_lerp(ctx, inputs, output):
    real, fake, alpha, backend = inputs
    ctx.save_for_backward(real, fake, alpha)
    ctx.backend = backend


def _backward_lerp(ctx, dout):
    real, fake, alpha = ctx.saved_tensors
    need = list(ctx.needs_input_grad[:3])
    d_real, d_fake, d_alpha = _lerp_grad[ctx.backend](dout, real, fake, alpha, need, ctx.backend)
    return (d_real if need[0] else None), (d_fake if need[1] else None), (d_alpha if need[2] else None), None




def _setup_lerp_grad(ctx, inputs, output):
    dout, real, fake, alpha, need, backend = inputs
    ctx.save_for_backward(dout, real, fake, alpha)
    ctx.need = need


def _backward_lerp_grad(ctx, u_real, u_fake, u_alpha):
    # d_real = dout (1 - a), d_fake = dout a, d_alpha = sum(dout (fake - real)) per sample
    dout, real, fake, alpha = ctx.saved_tensors
    need = ctx.need
    a = alpha.reshape([-1] + [1] * (real.dim() - 1))
    use = [n and t is not None and t.numel() > 0 for n, t in zip(need, (u_real, u_fake, u_alpha))]
    d_dout = torch.zeros_like(dout)
    if use[0]:
        d_dout = d_dout + u_real * (1 - a)
    if use[1]:
        d_dout = d_dout + u_fake * a
    d_real = d_fake = d_alpha = None
    if use[2]:
        ua = u_alpha.reshape(a.shape)
        d_dout = d_dout + ua * (fake - real)
        d_real, d_fake = -ua * dout, ua * dout
    if use[0] or use[1]:
        w = (u_fake if use[1] else 0) - (u_real if use[0] else 0)
        d_alpha = (dout * w).reshape(dout.shape[0], -1).sum(dim=1)
    return d_dout, d_real, d_fake, d_alpha, None, None


_lerp = fused_op("lerp_samples", _run_lerp, fake=_fake_lerp, setup_context=_setup_lerp, backward=_backward_lerp)
_lerp_grad = fused_op("lerp_samples_grad", _run_lerp_grad, fake=_fake_lerp_grad, setup_context=_setup_lerp_grad,
                      backward=_backward_lerp_grad)


# ------------------------------------------------------------------ public API
def _check_grad(g, name="g", min_ndim=1):
    check_tensor(g, name, min_ndim=min_ndim)


def _reduce(name, g, mode, target, one_sided, num_ws, impl, ref_fn):
    backend = resolve(name, impl, g.device)
    if backend == "ref":
        return ref_fn()
    return _grad_reduce[backend](g, mode, target, one_sided, num_ws, backend)[0]


def grad_sq_norm(g: torch.Tensor, impl: Optional[str] = None) -> torch.Tensor:
    """Per-sample squared L2 norm ||g_n||^2 over all non-batch dimensions (R1 and R2).

    Args:
        g: gradients [N, ...] (float32/64/16, bfloat16; any layout).
        impl: backend (ref, cpu, triton, cuda, auto).
    Returns [N] in float32 (float64 for float64 g).
    """
    _check_grad(g)
    return _reduce("grad_sq_norm", g, "sq_norm", 0.0, False, 1, impl, lambda: reference.grad_sq_norm(g))


def grad_norm_penalty(g: torch.Tensor, target: float = 1.0, one_sided: bool = False,
                      impl: Optional[str] = None) -> torch.Tensor:
    """Per-sample (||g_n|| - target)^2, or max(0, ||g_n|| - target)^2 when one-sided (WGAN-GP / WGAN-LP).

    Args:
        g: gradients [N, ...]; the norm runs over all non-batch dimensions.
        target: the norm the penalty pulls towards (>= 0).
        one_sided: penalise only norms above target.
        impl: backend (ref, cpu, triton, cuda, auto).
    Returns [N] in float32 (float64 for float64 g).
    """
    _check_grad(g)
    target = check_number(target, "target", nonneg=True)
    if not isinstance(one_sided, bool):
        raise TypeError(f"one_sided must be a bool, got {type(one_sided).__name__}")
    return _reduce("grad_norm_penalty", g, "norm_penalty", target, one_sided, 1, impl,
                   lambda: reference.grad_norm_penalty(g, target, one_sided))


def path_length_norm(g: torch.Tensor, impl: Optional[str] = None) -> torch.Tensor:
    """Per-sample sqrt(mean over the ws of sum over w_dim of g^2): StyleGAN2's path lengths.

    Args:
        g: gradient with respect to ws, [N, num_ws, w_dim] (or [N, w_dim] for a single w).
        impl: backend (ref, cpu, triton, cuda, auto).
    Returns [N] in float32 (float64 for float64 g).
    """
    _check_grad(g, min_ndim=2)
    num_ws = math.prod(g.shape[1:-1])
    return _reduce("path_length_norm", g, "path_length", 0.0, False, max(num_ws, 1), impl,
                   lambda: reference.path_length_norm(g))


def lerp_samples(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor,
                 impl: Optional[str] = None) -> torch.Tensor:
    """real + alpha[n] * (fake - real) with one alpha per sample (torch.lerp semantics).

    Args:
        real, fake: [N, ...] of the same shape, dtype and device.
        alpha: N weights, shape [N] or [N, 1, ..., 1] (cast to real's dtype).
        impl: backend (ref, cpu, triton, cuda, auto).
    """
    check_tensor(real, "real", min_ndim=1)
    check_tensor(fake, "fake", min_ndim=1)
    check_tensor(alpha, "alpha")
    check_same(fake, real, "fake", "real")
    if fake.shape != real.shape:
        raise ValueError(f"fake has shape {tuple(fake.shape)} but real has shape {tuple(real.shape)}")
    if alpha.device != real.device:
        raise ValueError(f"alpha is on {alpha.device} but real is on {real.device}")
    if alpha.numel() != real.shape[0] or (alpha.dim() > 1 and any(s != 1 for s in alpha.shape[1:])):
        raise ValueError(f"alpha must hold one weight per sample (shape [{real.shape[0]}] or "
                         f"[{real.shape[0]}, 1, ...]), got shape {tuple(alpha.shape)}")
    # as alpha.reshape(-1).to(real.dtype).contiguous(), without the ~2 us of no-op calls for an [N] alpha
    if alpha.dim() != 1:
        alpha = alpha.reshape(-1)
    if alpha.dtype != real.dtype:
        alpha = alpha.to(real.dtype)
    alpha = alpha.contiguous()
    backend = resolve("lerp_samples", impl, real.device)
    if backend == "ref":
        return reference.lerp_samples(real, fake, alpha)
    return _lerp[backend](real, fake, alpha, backend)
