"""bias_act: y = clamp(act(x + b) * gain, -clamp, clamp) in one pass over memory.

Same argument names and semantics as StyleGAN2-ADA's `bias_act`, so it can be swapped in.
The backward is the registered op `fastgan::bias_act_grad`, whose own backward is again
`bias_act_grad` with the next derivative order: gradient penalties (R1, WGAN-GP, path
length) differentiate through it.
"""
from __future__ import annotations

from typing import Optional

import torch

from . import reference
from ._backend import resolve
from ._common import check_dim, check_number, check_same, check_tensor, dense, like_layout, outer_c_inner
from ._op import Kernel, fused_op

ACTS = tuple(reference.ACTIVATIONS)  # code = index, matching csrc/include/fastgan/activations.h
MAX_ORDER = 3

_FWD = Kernel("bias_act_fwd", "x: Tensor, b: Tensor?, y: Tensor, outer: int, c: int, inner: int, act: int, "
              "alpha: float, gain: float, clamp: float", triton="bias_act.fwd")
# The C++ kernel also reduces db in the same pass; the CUDA and Triton ones leave that to PyTorch.
_GRAD_CPU = Kernel("bias_act_grad", "dy: Tensor, x: Tensor, b: Tensor?, dx: Tensor, db: Tensor?, outer: int, c: int, "
                   "inner: int, act: int, alpha: float, gain: float, clamp: float, order: int", backends=("cpu",))
_GRAD = Kernel("bias_act_grad", "dy: Tensor, x: Tensor, b: Tensor?, dx: Tensor, outer: int, c: int, inner: int, "
               "act: int, alpha: float, gain: float, clamp: float, order: int", backends=("cuda",),
               triton="bias_act.grad")


# ------------------------------------------------------------------ registered ops
def _run_fwd(x: torch.Tensor, b: Optional[torch.Tensor], dim: int, act: str, alpha: float, gain: float,
             clamp: float, backend: str) -> torch.Tensor:
    x = dense(x)
    y = torch.empty_like(x)
    if x.numel():
        _FWD(backend, x, b, y, *outer_c_inner(x, dim), ACTS.index(act), alpha, gain, clamp)
    return y


def _run_grad(dy: torch.Tensor, x: torch.Tensor, b: Optional[torch.Tensor], dim: int, act: str, alpha: float,
              gain: float, clamp: float, order: int, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = dense(x)
    dy = like_layout(dy, x)
    dx = torch.empty_like(x)
    need_db = b is not None
    if x.numel() == 0:
        return dx, (torch.zeros_like(b) if need_db else x.new_empty(0))
    sizes = outer_c_inner(x, dim)
    code = ACTS.index(act)
    if backend == "cpu":
        db = torch.empty_like(b) if need_db else None
        _GRAD_CPU(backend, dy, x, b, dx, db, *sizes, code, alpha, gain, clamp, order)
        return dx, (db if need_db else x.new_empty(0))
    _GRAD(backend, dy, x, b, dx, *sizes, code, alpha, gain, clamp, order)
    if not need_db:
        return dx, x.new_empty(0)
    other = [d for d in range(x.dim()) if d != dim]
    db = dx.sum(dim=other, dtype=torch.float32 if dx.dtype != torch.float64 else torch.float64)
    return dx, db.to(x.dtype)


def _fake_fwd(x, b, dim, act, alpha, gain, clamp, backend):
    return torch.empty_like(dense(x))


def _fake_grad(dy, x, b, dim, act, alpha, gain, clamp, order, backend):
    return torch.empty_like(dense(x)), (torch.empty_like(b) if b is not None else x.new_empty(0))


def _grad_call(dy, x, b, dim, act, alpha, gain, clamp, order, backend):
    if order > MAX_ORDER:
        raise NotImplementedError(f"bias_act: derivatives of order > {MAX_ORDER} are not implemented")
    return _bias_act_grad[backend](dy, x, b, dim, act, alpha, gain, clamp, order, backend)


def _setup_fwd(ctx, inputs, output):
    x, b, dim, act, alpha, gain, clamp, backend = inputs
    ctx.save_for_backward(x, b)
    ctx.args = (dim, act, alpha, gain, clamp, backend)


def _backward_fwd(ctx, dy):
    x, b = ctx.saved_tensors
    dim, act, alpha, gain, clamp, backend = ctx.args
    dx, db = _grad_call(dy, x, b, dim, act, alpha, gain, clamp, 1, backend)
    return dx, (db if b is not None else None), None, None, None, None, None, None


def _setup_grad(ctx, inputs, output):
    dy, x, b, dim, act, alpha, gain, clamp, order, backend = inputs
    ctx.save_for_backward(dy, x, b)
    ctx.args = (dim, act, alpha, gain, clamp, order, backend)


def _backward_grad(ctx, gdx, gdb):
    # dx = dy * g_k(x + b), db = sum(dx over non-dim axes). With G = gdx + gdb broadcast:
    # d/d dy = G * g_k(x + b);  d/dx = G * dy * g_{k+1}(x + b);  d/db = sum(d/dx).
    dy, x, b = ctx.saved_tensors
    dim, act, alpha, gain, clamp, order, backend = ctx.args
    g = gdx
    if b is not None and gdb is not None and gdb.numel():
        shape = [1] * x.dim()
        shape[dim] = -1
        g = g + gdb.reshape(shape)
    d_dy = _grad_call(g, x, b, dim, act, alpha, gain, clamp, order, backend)[0]
    d_x, d_b = _grad_call(g * dy, x, b, dim, act, alpha, gain, clamp, order + 1, backend)
    return d_dy, d_x, (d_b if b is not None else None), None, None, None, None, None, None, None


_bias_act = fused_op("bias_act", _run_fwd, fake=_fake_fwd, setup_context=_setup_fwd, backward=_backward_fwd)
_bias_act_grad = fused_op("bias_act_grad", _run_grad, fake=_fake_grad, setup_context=_setup_grad,
                          backward=_backward_grad)


# ------------------------------------------------------------------ public API
def _check_args(x, b, dim, act, alpha, gain, clamp):
    check_tensor(x, "x")
    dim = check_dim(dim, x.dim())
    if not isinstance(act, str) or act not in reference.ACTIVATIONS:
        raise ValueError(f"act must be one of {', '.join(ACTS)}; got {act!r}")
    if b is not None:
        check_tensor(b, "b", ndim=(1,))
        check_same(b, x, "b", "x")
        if b.shape[0] != x.shape[dim]:
            raise ValueError(f"b has {b.shape[0]} entries but x has {x.shape[dim]} along dim={dim}")
    _, def_alpha, def_gain = reference.ACTIVATIONS[act]
    alpha = def_alpha if alpha is None else check_number(alpha, "alpha")
    gain = def_gain if gain is None else check_number(gain, "gain")
    clamp = check_number(clamp, "clamp", nonneg=True, allow_none=True)
    return dim, alpha, gain, clamp


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, dim: int = 1, act: str = "linear",
             alpha: Optional[float] = None, gain: Optional[float] = None, clamp: Optional[float] = None,
             impl: Optional[str] = None) -> torch.Tensor:
    """Fused bias + activation + gain + clamp.

    Args:
        x: input tensor, any shape and layout (float32/64/16, bfloat16).
        b: bias of shape [x.shape[dim]] or None.
        dim: the dimension of x that b runs along.
        act: linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus or swish.
        alpha: activation parameter (lrelu slope, default 0.2; elu alpha, default 1).
        gain: scale after the activation (default sqrt(2) for relu, lrelu and swish, else 1).
        clamp: clamp the output to [-clamp, clamp] (None: no clamp).
        impl: backend (ref, cpu, triton, cuda, auto); see fastgan.ops.use_backend.
    """
    dim, alpha, gain, clamp = _check_args(x, b, dim, act, alpha, gain, clamp)
    backend = resolve("bias_act", impl, x.device)
    if backend == "ref":
        return reference.bias_act(x, b, dim, act, alpha, gain, clamp)
    return _bias_act[backend](x, b, dim, act, alpha, gain, -1.0 if clamp is None else clamp, backend)
