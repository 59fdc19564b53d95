"""Batched matrix product for the Winograd convolutions: fastgan::bmm, torch.bmm's semantics.

The Winograd transforms turn a convolution into 4-36 independent GEMMs (one per transform point) with
128-256 channels on two sides and the tiles on the third. At these shapes MKL's batched GEMM (what
torch.bmm calls) reaches ~70% of the FMA peak of an AVX2 machine in the training loop; float32 here runs
our own (csrc/cpu/gemm.cpp: packed operands, a 6x16 register tile), which takes the operands in any
strides, so the transposed operands of the backward products are not copied first, and skips the zero
pad columns of the transformed tensors (k_valid / n_valid). float64, or a build
without AVX2/FMA, runs torch.bmm. The backward is this op again on transposed views, so gradients of
any order (R1, path length) go through it.

`NATIVE["bmm"] = False` switches the float32 path back to torch.bmm (for comparisons).
"""
from __future__ import annotations

from typing import Optional

import torch

from .. import _dispatch
from .._backend import native_module
from .._op import Kernel

NATIVE = {"bmm": True}


_BGEMM = Kernel("bgemm_f32", "nb: int, m: int, n: int, k: int, a: Tensor, sab: int, sam: int, sak: int, b: Tensor, "
                "sbb: int, sbk: int, sbn: int, out: Tensor, scb: int, scm: int", backends=("cpu",), dtype_code=False)


def native_available() -> bool:
    """Whether this build has the vector GEMM (AVX2 + FMA)."""
    return bool(native_module().has_bgemm())


@torch.library.custom_op("fastgan::bmm", mutates_args=())
def _bmm_op(a: torch.Tensor, b: torch.Tensor, k_valid: int, n_valid: int) -> torch.Tensor:
    """a[:, :, :k] @ b[:, :k, :] -> [B, M, N] (contiguous) with the columns from n on set to zero, where
    k = min(k_valid, K), n = min(n_valid, N); CPU."""
    k, n = min(k_valid, a.shape[2]), min(n_valid, b.shape[2])
    if a.dtype == torch.float32 and NATIVE["bmm"] and native_available():
        out = a.new_empty(a.shape[0], a.shape[1], b.shape[2])
        if out.numel():
            _BGEMM("cpu", a.shape[0], a.shape[1], n, k, a, *a.stride(), b, *b.stride(), out, out.stride(0),
                   out.stride(1))
    else:
        out = torch.bmm(a[:, :, :k], b[:, :k, :])
    if n < out.shape[2]:
        out[:, :, n:] = 0
    return out


@_bmm_op.register_fake
def _(a, b, k_valid, n_valid):
    return a.new_empty(a.shape[0], a.shape[1], b.shape[2])


def _setup(ctx, inputs, output):
    a, b, k_valid, n_valid = inputs
    ctx.save_for_backward(a, b)
    ctx.valid = (min(k_valid, a.shape[2]), min(n_valid, b.shape[2]))


def _backward(ctx, g):
    # b's rows from k and columns from n are structural zeros: constants, so their gradient is not
    # needed (gb is computed in full but need not be exact there), and they make the columns of ga from
    # k zero and the terms of its contraction from n vanish
    a, b = ctx.saved_tensors
    k, n = ctx.valid
    ga = _bmm(g, b.transpose(1, 2), n, k) if ctx.needs_input_grad[0] else None
    gb = _bmm(a.transpose(1, 2), g, a.shape[1], n) if ctx.needs_input_grad[1] else None
    return ga, gb, None, None


_bmm = _dispatch.register_autograd(_bmm_op, _backward, setup_context=_setup)


def bmm(a: torch.Tensor, b: torch.Tensor, k_valid: Optional[int] = None, n_valid: Optional[int] = None) -> torch.Tensor:
    """torch.bmm(a, b) for CPU float32/float64 a [B, M, K], b [B, K, N] of one dtype (any strides).

    k_valid / n_valid declare b's rows from k_valid and columns from n_valid structural zeros (the
    Winograd transforms' pad columns): the product skips them and writes zero columns from n_valid, and
    gradients treat those parts of b as constants.
    """
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"bmm needs a [B, M, K] and b [B, K, N]; got a {tuple(a.shape)}, b {tuple(b.shape)}")
    if a.dtype != b.dtype or a.dtype not in (torch.float32, torch.float64) or a.device.type != "cpu" \
            or b.device.type != "cpu":
        raise ValueError(f"bmm needs CPU float32/float64 tensors of one dtype; got a {a.dtype} on {a.device}, "
                         f"b {b.dtype} on {b.device}")
    for name, v in (("k_valid", k_valid), ("n_valid", n_valid)):
        if v is not None and (not isinstance(v, int) or v < 0):
            raise ValueError(f"{name} must be a non-negative int or None, got {v!r}")
    return _bmm(a, b, a.shape[2] if k_valid is None else k_valid, b.shape[2] if n_valid is None else n_valid)


def conv1x1(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """F.conv2d(x, w) for an unpadded 1x1 w [O, C] or [O, C, 1, 1]: one weight for every sample (a stride-0
    batch, packed once); x [N, C, H, W] reshapes to [N, C, H*W] without a copy for NCHW and NHWC alike."""
    n, c, h, wd = x.shape
    o = w.shape[0]
    return _bmm(w.reshape(1, o, c).expand(n, o, c), x.reshape(n, c, h * wd), c, h * wd).view(n, o, h, wd)
