"""Batched matrix product for the Winograd convolutions: fastgan::bmm, torch.bmm's semantics.

The Winograd transforms turn a convolution into 4-36 independent GEMMs (one per transform point) with
128-256 channels on two sides and the tiles on the third. At these shapes MKL's batched GEMM (what
torch.bmm calls) reaches ~70% of the FMA peak of an AVX2 machine in the training loop; float32 here runs
our own (csrc/cpu/gemm.cpp: packed operands, a 6x16 register tile), which takes the operands in any
strides, so the transposed operands of the backward products are not copied first. float64, or a build
without AVX2/FMA, runs torch.bmm. The backward is this op again on transposed views, so gradients of
any order (R1, path length) go through it.

`NATIVE["bmm"] = False` switches the float32 path back to torch.bmm (for comparisons).
"""
from __future__ import annotations

import torch

from . import _common as C
from . import _dispatch as D

NATIVE = {"bmm": True}


def _native():
    from ._backend import native_module

    return native_module()


def native_available() -> bool:
    """Whether this build has the vector GEMM (AVX2 + FMA)."""
    return bool(_native().has_bgemm())


@torch.library.custom_op("fastgan::bmm", mutates_args=())
def _bmm_op(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a [B, M, K] @ b [B, K, N] -> [B, M, N] (contiguous); CPU."""
    out = a.new_empty(a.shape[0], a.shape[1], b.shape[2])
    if a.dtype == torch.float32 and NATIVE["bmm"] and native_available():
        if out.numel():
            _native().bgemm_f32(a.shape[0], a.shape[1], b.shape[2], a.shape[2], C.ptr(a), *a.stride(), C.ptr(b),
                                *b.stride(), C.ptr(out), out.stride(0), out.stride(1), C.num_threads())
    else:
        torch.bmm(a, b, out=out)
    return out


@_bmm_op.register_fake
def _(a, b):
    return a.new_empty(a.shape[0], a.shape[1], b.shape[2])


def _setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, g):
    a, b = ctx.saved_tensors
    ga = _bmm(g, b.transpose(1, 2)) if ctx.needs_input_grad[0] else None
    gb = _bmm(a.transpose(1, 2), g) if ctx.needs_input_grad[1] else None
    return ga, gb


_bmm = D.register_autograd(_bmm_op, _backward, setup_context=_setup)


def bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.bmm(a, b) for CPU float32/float64 a [B, M, K], b [B, K, N] of one dtype (any strides)."""
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"bmm needs a [B, M, K] and b [B, K, N]; got a {tuple(a.shape)}, b {tuple(b.shape)}")
    if a.dtype != b.dtype or a.dtype not in (torch.float32, torch.float64) or a.device.type != "cpu" \
            or b.device.type != "cpu":
        raise ValueError(f"bmm needs CPU float32/float64 tensors of one dtype; got a {a.dtype} on {a.device}, "
                         f"b {b.dtype} on {b.device}")
    return _bmm(a, b)
