"""Triton kernels of pixel_norm (GPU; tested on CPU tensors under TRITON_INTERPRET=1).

Memory is [outer][C][inner]. One program owns one outer index and BLOCK_I consecutive inner
positions; it walks C in [BLOCK_C, BLOCK_I] tiles twice: once for the sums over C, once to
write. Rows (inner == 1, e.g. 2-D inputs or channels_last) get BLOCK_I = 1 and wide BLOCK_C.
"""
import torch
import triton
import triton.language as tl
from torch.library import wrap_triton

TILE = 4096  # elements per [BLOCK_C, BLOCK_I] tile


@triton.jit
def _kernel(x_ptr, dy_ptr, out_ptr, C, inner, n_iblk, eps, GRAD: tl.constexpr, F64: tl.constexpr,
            BLOCK_C: tl.constexpr, BLOCK_I: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    o = pid // n_iblk
    i = (pid % n_iblk) * BLOCK_I + tl.arange(0, BLOCK_I)
    imask = i < inner
    base = o * C * inner
    acc_t = tl.float64 if F64 else tl.float32
    ss = tl.zeros([BLOCK_I], dtype=acc_t)
    dot = tl.zeros([BLOCK_I], dtype=acc_t)
    for c0 in range(0, C, BLOCK_C):
        c = c0 + tl.arange(0, BLOCK_C).to(tl.int64)
        offs = base + c[:, None] * inner + i[None, :]
        mask = (c[:, None] < C) & imask[None, :]
        v = tl.load(x_ptr + offs, mask=mask, other=0.0).to(acc_t)
        ss += tl.sum(v * v, axis=0)
        if GRAD:
            g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(acc_t)
            dot += tl.sum(v * g, axis=0)
    r = 1.0 / tl.sqrt(ss / C + eps)
    k = r * r * r * dot / C
    for c0 in range(0, C, BLOCK_C):
        c = c0 + tl.arange(0, BLOCK_C).to(tl.int64)
        offs = base + c[:, None] * inner + i[None, :]
        mask = (c[:, None] < C) & imask[None, :]
        v = tl.load(x_ptr + offs, mask=mask, other=0.0).to(acc_t)
        if GRAD:
            g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(acc_t)
            res = r[None, :] * g - v * k[None, :]
        else:
            res = v * r[None, :]
        tl.store(out_ptr + offs, res.to(out_ptr.dtype.element_ty), mask=mask)


def fwd(x, y, outer, C, inner, eps):
    """y = pixel_norm(x); x, y dense in the same layout."""
    _run(x, None, y, outer, C, inner, eps)


def grad(dy, x, dx, outer, C, inner, eps):
    """dx = the backward of pixel_norm at x for dy; dy, x, dx dense in the same layout."""
    _run(x, dy, dx, outer, C, inner, eps)


def _run(x, dy, out, outer, C, inner, eps):
    block_i = min(triton.next_power_of_2(inner), 128)
    block_c = max(1, min(triton.next_power_of_2(C), TILE // block_i))
    n_iblk = triton.cdiv(inner, block_i)
    wrap_triton(_kernel)[(outer * n_iblk,)](
        x, dy if dy is not None else x, out, C, inner, n_iblk, eps, GRAD=dy is not None, F64=x.dtype == torch.float64,
        BLOCK_C=block_c, BLOCK_I=block_i)
