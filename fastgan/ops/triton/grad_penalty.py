"""Triton kernels of the gradient-penalty family (GPU; tested on CPU tensors under TRITON_INTERPRET=1).

A sample is K contiguous elements. Reductions run in two launches: a grid of (sample, chunk)
programs writes chunk sums of g^2, then one program per sample adds its chunks and applies the
per-sample finish (modes of csrc/include/fastgan/grad_penalty.h). Elementwise passes use a
(sample, block) grid so the per-sample coefficient is a scalar load.
"""
import numpy as np
import torch
import triton
import triton.language as tl
from torch.library import wrap_triton

BLOCK = 1024
CHUNK = 16 * BLOCK  # elements per program of the reduction


@triton.jit
def _chunk_sums(g_ptr, part_ptr, K, n_chunks, F64: tl.constexpr, BLOCK: tl.constexpr, CHUNK: tl.constexpr):
    n = tl.program_id(0).to(tl.int64)
    ci = tl.program_id(1).to(tl.int64)
    acc_t = tl.float64 if F64 else tl.float32
    acc = tl.zeros([BLOCK], dtype=acc_t)
    for k0 in range(0, CHUNK, BLOCK):
        k = ci * CHUNK + k0 + tl.arange(0, BLOCK)
        v = tl.load(g_ptr + n * K + k, mask=k < K, other=0.0).to(acc_t)
        acc += v * v
    tl.store(part_ptr + n * n_chunks + ci, tl.sum(acc, axis=0))


@triton.jit
def _finish(part_ptr, out_ptr, r_ptr, n_chunks, t_hi, t_lo, num_ws, MODE: tl.constexpr, ONE_SIDED: tl.constexpr,
            F64: tl.constexpr, BLOCK: tl.constexpr):
    n = tl.program_id(0).to(tl.int64)
    acc_t = tl.float64 if F64 else tl.float32
    acc = tl.zeros([BLOCK], dtype=acc_t)
    for c0 in range(0, n_chunks, BLOCK):
        c = c0 + tl.arange(0, BLOCK)
        acc += tl.load(part_ptr + n * n_chunks + c, mask=c < n_chunks, other=0.0)
    s = tl.sum(acc, axis=0)
    r = tl.sqrt(s)
    if MODE == 0:
        out = s
    elif MODE == 2:
        out = tl.sqrt(s / num_ws)
    else:
        d = r - ((s * 0 + t_hi) + t_lo)
        if ONE_SIDED:
            d = tl.maximum(d, 0.0)
        out = d * d
    tl.store(out_ptr + n, out)
    tl.store(r_ptr + n, r)


@triton.jit
def _scale(dout_ptr, dr_ptr, r_ptr, g_ptr, dg_ptr, K, t_hi, t_lo, num_ws, MODE: tl.constexpr,
           ONE_SIDED: tl.constexpr, HAS_DR: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr):
    n = tl.program_id(0).to(tl.int64)
    k = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    acc_t = tl.float64 if F64 else tl.float32
    dout = tl.load(dout_ptr + n).to(acc_t)
    r = tl.load(r_ptr + n).to(acc_t)
    dr = tl.load(dr_ptr + n).to(acc_t) if HAS_DR else dout * 0
    if MODE == 0:
        base = 2.0 * dout
        h = dout * 0
    elif MODE == 2:
        base = dout * 0
        h = 1.0 / tl.sqrt(dout * 0 + num_ws)
    else:
        base = dout * 0
        d = r - ((dout * 0 + t_hi) + t_lo)
        if ONE_SIDED:
            d = tl.maximum(d, 0.0)
        h = 2.0 * d
    safe = tl.where(r > 0, r, 1.0)
    coef = base + tl.where(r > 0, (dr + dout * h) / safe, 0.0)
    mask = k < K
    v = tl.load(g_ptr + n * K + k, mask=mask, other=0.0).to(acc_t)
    tl.store(dg_ptr + n * K + k, (v * coef).to(dg_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _lerp(real_ptr, fake_ptr, alpha_ptr, out_ptr, K, F64: tl.constexpr, BLOCK: tl.constexpr):
    n = tl.program_id(0).to(tl.int64)
    k = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    acc_t = tl.float64 if F64 else tl.float32
    mask = k < K
    a = tl.load(alpha_ptr + n).to(acc_t)
    r = tl.load(real_ptr + n * K + k, mask=mask, other=0.0).to(acc_t)
    f = tl.load(fake_ptr + n * K + k, mask=mask, other=0.0).to(acc_t)
    tl.store(out_ptr + n * K + k, (r + a * (f - r)).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _lerp_grad(dout_ptr, real_ptr, fake_ptr, alpha_ptr, dreal_ptr, dfake_ptr, part_ptr, K, n_blocks,
               DR: tl.constexpr, DF: tl.constexpr, DA: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr):
    n = tl.program_id(0).to(tl.int64)
    b = tl.program_id(1).to(tl.int64)
    k = b * BLOCK + tl.arange(0, BLOCK)
    acc_t = tl.float64 if F64 else tl.float32
    mask = k < K
    a = tl.load(alpha_ptr + n).to(acc_t)
    go = tl.load(dout_ptr + n * K + k, mask=mask, other=0.0).to(acc_t)
    if DR:
        tl.store(dreal_ptr + n * K + k, (go * (1.0 - a)).to(dreal_ptr.dtype.element_ty), mask=mask)
    if DF:
        tl.store(dfake_ptr + n * K + k, (go * a).to(dfake_ptr.dtype.element_ty), mask=mask)
    if DA:
        r = tl.load(real_ptr + n * K + k, mask=mask, other=0.0).to(acc_t)
        f = tl.load(fake_ptr + n * K + k, mask=mask, other=0.0).to(acc_t)
        tl.store(part_ptr + n * n_blocks + b, tl.sum(go * (f - r), axis=0))


def _f64(t):
    return t.dtype == torch.float64


def _split(v):
    """v as a float32 pair hi + lo (Triton passes float scalars as float32)."""
    hi = float(np.float32(v))
    return hi, float(np.float32(v - hi))


def reduce_fwd(g, out, r, N, K, mode, target, one_sided, num_ws):
    n_chunks = max(1, triton.cdiv(K, CHUNK))
    part = out.new_empty(N * n_chunks)
    wrap_triton(_chunk_sums)[(N, n_chunks)](g, part, K, n_chunks, F64=_f64(g), BLOCK=BLOCK, CHUNK=CHUNK)
    wrap_triton(_finish)[(N,)](
        part, out, r, n_chunks, *_split(target), num_ws, MODE=mode, ONE_SIDED=one_sided, F64=_f64(g), BLOCK=max(16,
        min(BLOCK, triton.next_power_of_2(n_chunks))))


def reduce_grad(dout, dr, r, g, dg, N, K, mode, target, one_sided, num_ws):
    wrap_triton(_scale)[(N, triton.cdiv(K, BLOCK))](
        dout, dr if dr is not None else dout, r, g, dg, K, *_split(target), num_ws, MODE=mode, ONE_SIDED=one_sided,
        HAS_DR=dr is not None, F64=_f64(g), BLOCK=BLOCK)


def lerp_fwd(real, fake, alpha, out, N, K):
    wrap_triton(_lerp)[(N, triton.cdiv(K, BLOCK))](real, fake, alpha, out, K, F64=_f64(real), BLOCK=BLOCK)


def lerp_grad(dout, real, fake, alpha, d_real, d_fake, d_alpha, N, K):
    n_blocks = triton.cdiv(K, BLOCK)
    acc = torch.promote_types(real.dtype, torch.float32)
    part = real.new_empty(N * n_blocks, dtype=acc) if d_alpha is not None else real.new_empty(1, dtype=acc)
    wrap_triton(_lerp_grad)[(N, n_blocks)](
        dout, real, fake, alpha, d_real if d_real is not None else dout, d_fake if d_fake is not None else dout, part,
        K, n_blocks, DR=d_real is not None, DF=d_fake is not None, DA=d_alpha is not None, F64=_f64(real), BLOCK=BLOCK)
    if d_alpha is not None:
        d_alpha.copy_(part.reshape(N, n_blocks).sum(dim=1))
